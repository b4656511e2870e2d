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
//! - [`load`]: [`AofStore::load`], replaying base + incr files through a [`LoadHandler`].
//! - [`policy`]: the automatic rewrite growth check and the back-off after failed rewrites.
//! - [`encode`]: `*N\r\n$len\r\narg\r\n...`, `SELECT`, `#TS:` annotations.
//!
//! Everything is synchronous and knows nothing about the server: the engine thread calls it.
//! Input files are untrusted: no panics, lengths checked before allocating. Log lines carry
//! Redis's exact texts; they are queued (`take_logs`) or passed to [`LoadHandler::log`].
//!
//! # Wiring (what the engine does, in Redis's order)
//!
//! ```no_run
//! use std::io::{BufRead, Write};
//! use cinnabar_aof::*;
//!
//! struct Loader; // the engine's replay: an RDB loader and a fake client
//! impl LoadHandler for Loader {
//!     fn load_rdb(&mut self, _file: &str, _r: &mut dyn BufRead) -> Result<(), String> { Ok(()) }
//!     fn apply(&mut self, _file: &str, _item: Item) -> Result<(), String> { Ok(()) }
//!     fn log(&mut self, _level: LogLevel, _msg: &str) {}
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = 1_700_000_000; // the engine's cached unix time
//! // Startup (appendonly yes): manifest, load, open.
//! let mut store = AofStore::load_manifest(AofPaths::with_defaults("/var/lib/redis"))?;
//! match store.load(&LoadOptions { load_truncated: true, max_bulk_len: DEFAULT_MAX_BULK_LEN },
//!                  &mut Loader) {
//!     LoadStatus::Ok | LoadStatus::Truncated | LoadStatus::NotExist | LoadStatus::Empty => {}
//!     LoadStatus::OpenErr | LoadStatus::Failed => std::process::exit(1),
//! }
//! let mut aof = store.open_on_start(FsyncPolicy::EverySec, true, now,
//!     &mut |out: &mut dyn Write| out.write_all(b"REDIS0010...")/* RDB of the dataset */)?;
//!
//! // Each propagated write, at the end of its command / EXEC:
//! aof.feed_command(0, &["SET", "k", "v"], now);
//! // Once per event-loop iteration, before replies are written (group commit):
//! if let Err(e) = aof.flush(now, false) {
//!     if e.fatal { std::process::exit(1) } // appendfsync always, like Redis
//! }
//! // Write commands are refused while this is Some (-MISCONF ...):
//! let _refuse = aof.misconf_error();
//! // Cron, at least once a second: retry a failed or postponed write.
//! if aof.needs_cron_flush() { let _ = aof.flush(now, false); }
//!
//! // BGREWRITEAOF: new incr file now, snapshot written (on a helper thread) into a temp base.
//! store.start_rewrite(&mut aof, now)?;
//! let mut base = store.create_temp_base(std::process::id().into())?;
//! base.write_all(b"REDIS0010...")?; // the point-in-time snapshot, in slices
//! store.finish_rewrite(base.finish()?, true, false, Some(&mut aof))?;
//! // (on failure: base.abort() / store.cleanup_temp_files(false))
//! # Ok(()) }
//! ```

pub mod encode;
pub mod load;
pub mod manifest;
pub mod policy;
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
pub use load::{LoadHandler, LoadOptions, LoadStatus};
pub use manifest::{AofInfo, FileType, Manifest, ManifestError};
pub use policy::{auto_rewrite_growth, RewriteLimiter};
pub use reader::{read_all, AofReader, Item, ReadError, DEFAULT_MAX_BULK_LEN};
pub use store::{fsync_dir_of, AofPaths, AofStore, FinishedBase, StoreError, TempBase};
pub use writer::{open_append, strerror, AofIoError, AofWriter, Flushed, FsyncPolicy, IoOp};
