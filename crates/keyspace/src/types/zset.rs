//! A sorted set value. (Skeleton: the type work replaces the inside, keeping the name, `len`,
//! `encoding_name`, `Clone` and `Debug`.)

/// A sorted set.
#[derive(Clone, Debug, Default)]
pub struct ZSetValue {
    len: usize,
}

impl ZSetValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (an empty collection never stays in the keyspace).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name OBJECT ENCODING answers.
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }
}
