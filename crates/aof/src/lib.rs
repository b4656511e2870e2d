//! Cinnabar's append-only file, in Redis 7.0's multi-part format.
//!
//! - [`manifest`]: the manifest (`<appendfilename>.manifest`): parse/serialize exactly as Redis,
//!   file naming, the base/incr/history transitions of a rewrite.
//! - [`reader`]: iterate the commands of one AOF file ([`AofReader`]), with truncated-tail and
//!   bad-format detection by offset and RDB-preamble hand-off.
//! - [`writer`]: the current incr file's writer ([`AofWriter`]): buffer, flush, fsync policies
//!   with a background fsync thread, ENOSPC/EIO handling (truncate back, keep, retry), INFO
//!   figures.
//! - [`store`]: the AOF directory ([`AofStore`]): manifest on disk (atomic writes), loading all
//!   files through a [`LoadHandler`] with Redis's log lines, the old single-file upgrade, opening
//!   on start, the rewrite's files (new incr, temp base, install, history, cleanup).
//! - [`encode`]: `*N\r\n$len\r\narg\r\n...`, `SELECT`, `#TS:` annotations.
//!
//! Everything is synchronous and knows nothing about the server: the engine thread calls it.
//! Input files are untrusted: no panics, lengths checked before allocating.

pub mod encode;
pub mod manifest;
pub mod reader;
pub mod store;
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
pub use store::{
    fsync_dir_of, AofPaths, AofStore, FinishedBase, LoadHandler, LoadOptions, LoadStatus,
    StoreError, TempBase,
};
pub use writer::{open_append, strerror, AofIoError, AofWriter, Flushed, FsyncPolicy, IoOp};
