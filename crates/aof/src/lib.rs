//! Cinnabar's append-only file, in Redis 7.0's multi-part format.
//!
//! - [`manifest`]: the manifest (`<appendfilename>.manifest`): parse/serialize exactly as Redis,
//!   file naming, the base/incr/history transitions of a rewrite.
//! - [`reader`]: iterate the commands of one AOF file ([`AofReader`]), with truncated-tail and
//!   bad-format detection by offset and RDB-preamble hand-off.
//! - [`writer`]: the current incr file's writer ([`AofWriter`]): buffer, flush, fsync policies
//!   with a background fsync thread, ENOSPC/EIO handling (truncate back, keep, retry), INFO
//!   figures.
//! - [`encode`]: `*N\r\n$len\r\narg\r\n...`, `SELECT`, `#TS:` annotations.
//!
//! Everything is synchronous and knows nothing about the server: the engine thread calls it
//! (`server/src/aof.rs` owns the AOF directory: upgrade, loading, opening, the rewrite's file
//! switches and the manifest writes). Input files are untrusted: no panics, lengths checked
//! before allocating. Log lines carry Redis's exact texts and are queued (`take_logs`).

pub mod encode;
pub mod manifest;
pub mod reader;
pub mod writer;

/// Level of a log line this crate asks the server to print (Redis's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `LL_DEBUG`
    Debug,
    /// `LL_VERBOSE`
    Verbose,
    /// `LL_NOTICE`
    Notice,
    /// `LL_WARNING`
    Warning,
}

pub use encode::{encode_command, encode_select, encode_timestamp};
pub use manifest::{AofInfo, FileType, Manifest, ManifestError};
pub use reader::{read_all, AofReader, Item, ReadError, DEFAULT_MAX_BULK_LEN};
pub use writer::{open_append, strerror, AofIoError, AofWriter, Flushed, FsyncPolicy, IoOp};
