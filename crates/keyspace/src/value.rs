//! `Value`: what a key holds. Only strings exist so far; every other type arrives as a variant
//! with its own module under `types/`.

use crate::compact::CompactBytes;

/// A key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (also integers, bitmaps and HyperLogLogs, which Redis stores as strings).
    Str(CompactBytes),
}

/// Redis's `WRONGTYPE` error text.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Value {
    /// The name TYPE answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
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
        }
    }

    /// The string bytes, or None for another type.
    pub fn as_str(&self) -> Option<&CompactBytes> {
        match self {
            Value::Str(s) => Some(s),
        }
    }

    /// Builds a string value.
    pub fn from_bytes(b: &[u8]) -> Value {
        Value::Str(CompactBytes::from(b))
    }
}
