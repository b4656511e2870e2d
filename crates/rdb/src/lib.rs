//! Redis 7.0's RDB format (version 10): writing files and DUMP payloads exactly as Redis
//! 7.0.15 does, and a strict loader for everything Redis 7.0 can read (version 1 to 10, all
//! the older compact encodings), built for untrusted input: every length is checked before
//! anything is allocated, every compact blob is validated entry by entry, and no input makes
//! it panic.
//!
//! Writers append to a `Vec<u8>`; the caller owns the buffering, the file and the trailing
//! CRC-64 of a file ([`Crc64`]). The [`Loader`] reads any `io::Read` and checks the trailing
//! CRC itself. [`dump_payload`] / [`restore_payload`] are DUMP and RESTORE's formats.

mod crc64;
mod decode;
mod encode;
mod legacy;
mod listpack;
mod lzf;

pub use crc64::{crc64, Crc64};
pub use decode::{load_all, restore_payload, restore_payload_checked, Item, Loader};
pub use encode::{
    compress_deferred, dump_payload, write_eof, write_function, write_header, write_key,
    write_key_deferred, write_resize_db, write_select_db, AuxValue, EncodeOpts,
};

use std::fmt;

/// The RDB version written (Redis 7.0).
pub const RDB_VERSION: u16 = 10;

/// RDB value types (the byte before a key).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// RDB opcodes.
pub mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Why a file or payload could not be loaded.
#[derive(Debug)]
pub enum RdbError {
    /// A DUMP payload's footer is wrong: too short, RDB version above 10, or bad CRC.
    Footer,
    /// The input ended in the middle of something.
    UnexpectedEof,
    /// Reading failed.
    Io(std::io::Error),
    /// The file does not start with "REDIS".
    Signature,
    /// The header's version is not one this loader handles (1..=10).
    WrongVersion(u32),
    /// An unknown value type or opcode byte.
    BadType(u8),
    /// A length field used an unknown encoding.
    BadLength(u8),
    /// A string used an unknown special encoding.
    BadStringEncoding(u8),
    /// An LZF-compressed string is damaged.
    Lzf,
    /// A stored value is damaged (integrity check failed, duplicates, NaN score...).
    Corrupt(&'static str),
    /// An empty collection (Redis skips such keys in a file; RESTORE refuses them).
    EmptyKey,
    /// A valid value of a type this server does not have (streams, modules).
    Unsupported(&'static str),
    /// The file's trailing CRC-64 does not match its contents.
    Checksum { expected: u64, found: u64 },
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Footer => write!(f, "DUMP payload version or checksum are wrong"),
            RdbError::UnexpectedEof => write!(f, "Unexpected EOF reading RDB file"),
            RdbError::Io(e) => write!(f, "Error reading RDB: {e}"),
            RdbError::Signature => write!(f, "Wrong signature trying to load DB from file"),
            RdbError::WrongVersion(v) => write!(f, "Can't handle RDB format version {v}"),
            RdbError::BadType(t) => write!(f, "Bad RDB type {t}"),
            RdbError::BadLength(b) => write!(f, "Unknown length encoding {b} in rdbLoadLen()"),
            RdbError::BadStringEncoding(b) => write!(f, "Unknown RDB string encoding type {b}"),
            RdbError::Lzf => write!(f, "Invalid LZF compressed string"),
            RdbError::Corrupt(what) => write!(f, "{what}"),
            RdbError::EmptyKey => write!(f, "Empty keys are not allowed"),
            RdbError::Unsupported(what) => write!(f, "{what}"),
            RdbError::Checksum { expected, found } => write!(
                f,
                "CRC mismatch: wrong RDB checksum expected: ({expected:x}) but got ({found:x})"
            ),
        }
    }
}

impl std::error::Error for RdbError {}

impl From<std::io::Error> for RdbError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            RdbError::UnexpectedEof
        } else {
            RdbError::Io(e)
        }
    }
}

#[cfg(test)]
mod tests;
