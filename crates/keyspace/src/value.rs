//! `Value`: what a key holds. Strings live inline (24 bytes); every collection type is boxed,
//! with its own module under `types/`, so a `Value` stays 24 bytes.

use crate::compact::CompactBytes;
use crate::types::{
    hash::HashValue, list::ListValue, set::SetValue, stream::StreamValue, zset::ZSetValue,
};

/// A key's value.
#[derive(Clone, Debug)]
pub enum Value {
    /// A string (also integers, bitmaps and HyperLogLogs, which Redis stores as strings).
    Str(CompactBytes),
    Hash(Box<HashValue>),
    List(Box<ListValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<StreamValue>),
}

/// Redis's `WRONGTYPE` error text.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Value {
    /// The name TYPE answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING answers, following Redis's rules for strings: `int` for a
    /// canonical integer of at most 20 characters, `embstr` up to 44 bytes, else `raw`.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && cinnabar_util::num::string2ll(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::Hash(h) => h.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(x) => x.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
        }
    }

    /// The string bytes, or None for another type.
    pub fn as_str(&self) -> Option<&CompactBytes> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Builds a string value.
    pub fn from_bytes(b: &[u8]) -> Value {
        Value::Str(CompactBytes::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_24_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
}
