//! Appending to the current incr file, with Redis's fsync policies and write-error handling.
//!
//! The engine appends the RESP of every propagated write to an in-memory buffer
//! ([`AofWriter::feed_command`] or the raw [`AofWriter::append`]) and calls
//! [`AofWriter::flush`] once per event-loop iteration, before replies go out (group commit):
//!
//! - `appendfsync always`: write then `fdatasync` in that call;
//! - `appendfsync everysec`: write, and at most once per second hand an fsync to the background
//!   thread this module owns. While an fsync is still running the write is postponed (up to two
//!   seconds, then done anyway and counted in `aof_delayed_fsync`), as Redis does;
//! - `appendfsync no`: write only.
//!
//! A failed or short write (ENOSPC, EIO) truncates the file back to its size before the write, so
//! nothing half-written remains, keeps the data in the buffer, marks the status `err` (INFO
//! `aof_last_write_status`, `-MISCONF` for writes) and is retried at the next flush (call
//! [`AofWriter::flush`] from the cron at least once a second while
//! [`AofWriter::needs_cron_flush`] says so). The first successful write after that logs
//! "AOF write error looks solved, Redis can write again.".
//!
//! Log lines are queued and taken with [`AofWriter::take_logs`], so this crate needs no logger.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

use crate::encode::{encode_command, encode_select, encode_timestamp};
use crate::LogLevel;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync after every flush (before replies).
    Always,
    /// fsync in the background, at most once per second.
    EverySec,
    /// Let the OS decide.
    No,
}

impl FsyncPolicy {
    /// Parses the `appendfsync` config value.
    pub fn from_config(s: &str) -> Option<FsyncPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// The buffer was empty (an fsync may still have been done or scheduled).
    Nothing,
    /// This many bytes were written.
    Written(usize),
    /// everysec with a background fsync in flight: the write waits (at most 2 s).
    Postponed,
}

/// Which operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// write(2) failed or was short.
    Write,
    /// fdatasync under `appendfsync always` failed.
    Fsync,
}

/// A failed flush. The data is still in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofIoError {
    /// What failed.
    pub op: IoOp,
    /// The errno (ENOSPC for a short write without one).
    pub errno: i32,
    /// True under `appendfsync always`, where Redis exits: the caller decides (Redis logs
    /// "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...").
    pub fatal: bool,
}

impl std::fmt::Display for AofIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            IoOp::Write => "write",
            IoOp::Fsync => "fsync",
        };
        write!(f, "AOF {op} error: {}", strerror(self.errno))
    }
}

impl std::error::Error for AofIoError {}

/// The C `strerror` text of an errno ("No space left on device").
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

const ENOSPC: i32 = 28;
const EBADF: i32 = 9;
const EINVAL: i32 = 22;
/// Seconds between two logs of the same write error (Redis's AOF_WRITE_LOG_ERROR_RATE).
const WRITE_ERROR_LOG_RATE: i64 = 30;

enum Job {
    Fsync(Arc<File>),
    FsyncAndClose(Arc<File>),
}

/// The background fsync thread (Redis's `bio_aof_fsync` + the close-file job).
struct Bio {
    tx: Option<Sender<Job>>,
    /// Fsync jobs queued or running (`aof_pending_bio_fsync`).
    pending: Arc<AtomicUsize>,
    ok: Arc<AtomicBool>,
    errno: Arc<AtomicI32>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Bio {
    fn start() -> Bio {
        let (tx, rx) = mpsc::channel::<Job>();
        let pending = Arc::new(AtomicUsize::new(0));
        let ok = Arc::new(AtomicBool::new(true));
        let errno = Arc::new(AtomicI32::new(0));
        let (p, o, e) = (pending.clone(), ok.clone(), errno.clone());
        let handle = thread::Builder::new()
            .name("bio_aof_fsync".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Fsync(f) => {
                            match f.sync_data() {
                                Err(err) if !matches!(err.raw_os_error(), Some(EBADF | EINVAL)) => {
                                    e.store(err.raw_os_error().unwrap_or(0), Ordering::SeqCst);
                                    o.store(false, Ordering::SeqCst);
                                }
                                _ => o.store(true, Ordering::SeqCst),
                            }
                            p.fetch_sub(1, Ordering::SeqCst);
                        }
                        Job::FsyncAndClose(f) => {
                            let _ = f.sync_data();
                            drop(f);
                        }
                    }
                }
            })
            .ok();
        Bio {
            tx: Some(tx),
            pending,
            ok,
            errno,
            handle,
        }
    }

    fn submit(&self, job: Job) {
        let is_fsync = matches!(job, Job::Fsync(_));
        if is_fsync {
            self.pending.fetch_add(1, Ordering::SeqCst);
        }
        let sent = match &self.tx {
            Some(tx) if self.handle.is_some() => tx.send(job).map_err(|e| e.0),
            _ => Err(job),
        };
        if let Err(job) = sent {
            // No thread: do it inline.
            match job {
                Job::Fsync(f) => {
                    if let Err(err) = f.sync_data() {
                        self.errno
                            .store(err.raw_os_error().unwrap_or(0), Ordering::SeqCst);
                        self.ok.store(false, Ordering::SeqCst);
                    } else {
                        self.ok.store(true, Ordering::SeqCst);
                    }
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                }
                Job::FsyncAndClose(f) => {
                    let _ = f.sync_data();
                }
            }
        }
    }

    fn in_progress(&self) -> bool {
        self.pending.load(Ordering::SeqCst) != 0
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        // Close the queue; the thread finishes what is queued and exits.
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Opens an AOF file for appending (`O_WRONLY|O_APPEND|O_CREAT`, mode 0644), truncating it first
/// when `truncate` is true.
pub fn open_append(path: &Path, truncate: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    if truncate {
        // std refuses append + truncate together: truncate through the same descriptor.
        file.set_len(0)?;
    }
    Ok(file)
}

/// The writer of the current incr file. See the module documentation.
pub struct AofWriter {
    file: Arc<File>,
    name: String,
    buf: Vec<u8>,
    policy: FsyncPolicy,
    /// `aof_last_incr_size`: bytes in the current incr file.
    incr_size: u64,
    /// `aof_last_incr_fsync_offset`.
    fsynced_offset: u64,
    /// `aof_current_size`.
    current_size: u64,
    /// `aof_base_size` (`aof_rewrite_base_size`).
    base_size: u64,
    last_fsync: i64,
    flush_postponed_start: i64,
    delayed_fsync: u64,
    write_ok: bool,
    last_write_errno: i32,
    last_write_error_log: Option<i64>,
    bio_error_logged: bool,
    selected_db: Option<usize>,
    timestamp_enabled: bool,
    cur_timestamp: i64,
    no_fsync_on_rewrite: bool,
    rewrite_in_progress: bool,
    bio: Bio,
    logs: Vec<(LogLevel, String)>,
}

impl AofWriter {
    /// A writer appending to `file` (opened with [`open_append`]) whose current length is taken
    /// as the incr size. `name` is the file name used in logs. `now` is the current unix time.
    pub fn new(file: File, name: &str, policy: FsyncPolicy, now: i64) -> io::Result<AofWriter> {
        let len = file.metadata()?.len();
        Ok(AofWriter {
            file: Arc::new(file),
            name: name.to_string(),
            buf: Vec::new(),
            policy,
            incr_size: len,
            fsynced_offset: len,
            current_size: len,
            base_size: 0,
            last_fsync: now,
            flush_postponed_start: 0,
            delayed_fsync: 0,
            write_ok: true,
            last_write_errno: 0,
            last_write_error_log: None,
            bio_error_logged: false,
            selected_db: None,
            timestamp_enabled: false,
            cur_timestamp: 0,
            no_fsync_on_rewrite: false,
            rewrite_in_progress: false,
            bio: Bio::start(),
            logs: Vec::new(),
        })
    }

    /// Opens (creating) `path` for appending and makes a writer for it.
    pub fn open(path: &Path, policy: FsyncPolicy, now: i64) -> io::Result<AofWriter> {
        let file = open_append(path, false)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        AofWriter::new(file, &name, policy, now)
    }

    /// Name of the file being written.
    pub fn file_name(&self) -> &str {
        &self.name
    }

    /// Renames the file being written (after the file itself was renamed).
    pub fn set_file_name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// Changes `appendfsync`.
    pub fn set_policy(&mut self, policy: FsyncPolicy) {
        self.policy = policy;
    }

    /// The fsync policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// `aof-timestamp-enabled`.
    pub fn set_timestamp_enabled(&mut self, on: bool) {
        self.timestamp_enabled = on;
    }

    /// `no-appendfsync-on-rewrite`: skip fsyncs while [`set_rewrite_in_progress`] is true.
    ///
    /// [`set_rewrite_in_progress`]: Self::set_rewrite_in_progress
    pub fn set_no_fsync_on_rewrite(&mut self, on: bool) {
        self.no_fsync_on_rewrite = on;
    }

    /// Tells the writer a rewrite (or other background save) is running.
    pub fn set_rewrite_in_progress(&mut self, on: bool) {
        self.rewrite_in_progress = on;
    }

    /// Sets `aof_current_size` and `aof_base_size` (after loading or a rewrite).
    pub fn set_sizes(&mut self, current_size: u64, base_size: u64) {
        self.current_size = current_size;
        self.base_size = base_size;
    }

    /// Forces the next [`feed_command`](Self::feed_command) to emit a `SELECT`.
    pub fn reset_selected_db(&mut self) {
        self.selected_db = None;
    }

    /// Appends raw bytes (already-encoded RESP) to the buffer.
    pub fn append(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends a `#TS:<now>` annotation when timestamps are enabled and the second changed
    /// since the last one (Redis's `genAofTimestampAnnotationIfNeeded(0)`).
    pub fn append_timestamp_if_needed(&mut self, now: i64) {
        if self.timestamp_enabled && self.cur_timestamp < now {
            self.cur_timestamp = now;
            encode_timestamp(&mut self.buf, now);
        }
    }

    /// Redis's `feedAppendOnlyFile`: timestamp if needed, `SELECT db` when the database differs
    /// from the last command's, then the command.
    pub fn feed_command<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A], now: i64) {
        self.append_timestamp_if_needed(now);
        if self.selected_db != Some(db) {
            encode_select(&mut self.buf, db);
            self.selected_db = Some(db);
        }
        encode_command(&mut self.buf, args);
    }

    /// Writes the buffer and fsyncs according to the policy (Redis's `flushAppendOnlyFile`).
    /// `force` writes even while a background fsync is in flight. `now`: unix seconds.
    pub fn flush(&mut self, now: i64, force: bool) -> Result<Flushed, AofIoError> {
        self.observe_bio();
        let mut sync_in_progress = false;
        if self.buf.is_empty() {
            let unsynced = self.fsynced_offset != self.incr_size;
            let go = match self.policy {
                FsyncPolicy::EverySec => {
                    unsynced && now > self.last_fsync && {
                        sync_in_progress = self.bio.in_progress();
                        !sync_in_progress
                    }
                }
                FsyncPolicy::Always => unsynced,
                FsyncPolicy::No => false,
            };
            if go {
                self.try_fsync(now, sync_in_progress)?;
            }
            return Ok(Flushed::Nothing);
        }
        if self.policy == FsyncPolicy::EverySec {
            sync_in_progress = self.bio.in_progress();
        }
        if self.policy == FsyncPolicy::EverySec && !force && sync_in_progress {
            if self.flush_postponed_start == 0 {
                self.flush_postponed_start = now;
                return Ok(Flushed::Postponed);
            } else if now - self.flush_postponed_start < 2 {
                return Ok(Flushed::Postponed);
            }
            self.delayed_fsync += 1;
            self.log(
                LogLevel::Notice,
                "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.".into(),
            );
        }
        let len = self.buf.len();
        let (mut written, err) = write_all(&self.file, &self.buf);
        self.flush_postponed_start = 0;
        if written != len {
            let can_log = self
                .last_write_error_log
                .is_none_or(|t| now - t > WRITE_ERROR_LOG_RATE);
            if can_log {
                self.last_write_error_log = Some(now);
            }
            let errno = err.as_ref().and_then(|e| e.raw_os_error());
            if written == 0 {
                let e = errno.unwrap_or(ENOSPC);
                if can_log {
                    self.log(
                        LogLevel::Warning,
                        format!("Error writing to the AOF file: {}", strerror(e)),
                    );
                }
                self.last_write_errno = e;
            } else {
                if can_log {
                    self.log(
                        LogLevel::Warning,
                        format!(
                            "Short write while writing to the AOF file: (nwritten={written}, expected={len})"
                        ),
                    );
                }
                match self.file.set_len(self.incr_size) {
                    Ok(()) => written = 0,
                    Err(e) => {
                        if can_log {
                            self.log(LogLevel::Warning, format!("Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {}", strerror(e.raw_os_error().unwrap_or(0))));
                        }
                    }
                }
                self.last_write_errno = errno.unwrap_or(ENOSPC);
            }
            let fatal = self.policy == FsyncPolicy::Always;
            if fatal {
                self.log(
                    LogLevel::Warning,
                    "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...".into(),
                );
            }
            self.write_ok = false;
            if written > 0 {
                self.current_size += written as u64;
                self.incr_size += written as u64;
                self.buf.drain(..written);
            }
            return Err(AofIoError {
                op: IoOp::Write,
                errno: self.last_write_errno,
                fatal,
            });
        }
        if !self.write_ok {
            self.log(
                LogLevel::Warning,
                "AOF write error looks solved, Redis can write again.".into(),
            );
            self.write_ok = true;
        }
        self.current_size += written as u64;
        self.incr_size += written as u64;
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.try_fsync(now, sync_in_progress)?;
        Ok(Flushed::Written(written))
    }

    fn try_fsync(&mut self, now: i64, sync_in_progress: bool) -> Result<(), AofIoError> {
        if self.no_fsync_on_rewrite && self.rewrite_in_progress {
            return Ok(());
        }
        match self.policy {
            FsyncPolicy::Always => {
                if let Err(e) = self.file.sync_data() {
                    let errno = e.raw_os_error().unwrap_or(0);
                    self.log(LogLevel::Warning, format!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...", strerror(errno)));
                    return Err(AofIoError {
                        op: IoOp::Fsync,
                        errno,
                        fatal: true,
                    });
                }
                self.fsynced_offset = self.incr_size;
                self.last_fsync = now;
            }
            FsyncPolicy::EverySec if now > self.last_fsync => {
                if !sync_in_progress {
                    self.bio.submit(Job::Fsync(self.file.clone()));
                    self.fsynced_offset = self.incr_size;
                }
                self.last_fsync = now;
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes and fsyncs everything now, whatever the policy (shutdown, `appendonly no`, before
    /// switching files). Waits for background fsyncs first.
    pub fn flush_and_sync(&mut self, now: i64) -> Result<(), AofIoError> {
        self.wait_background_fsync();
        let policy = self.policy;
        self.policy = FsyncPolicy::No;
        let r = self.flush(now, true);
        self.policy = policy;
        r?;
        match self.file.sync_data() {
            Ok(()) => {
                self.fsynced_offset = self.incr_size;
                self.last_fsync = now;
                Ok(())
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(0);
                self.log(
                    LogLevel::Warning,
                    format!("Fail to fsync the AOF file: {}", strerror(errno)),
                );
                Err(AofIoError {
                    op: IoOp::Fsync,
                    errno,
                    fatal: false,
                })
            }
        }
    }

    /// Starts writing to another file (a new incr file at rewrite start). The old file is
    /// fsynced and closed in the background; the buffer is kept (flush it before with
    /// `flush(now, true)` to put it in the old file); the next command gets a `SELECT`.
    pub fn switch_file(&mut self, file: File, name: &str, now: i64) -> io::Result<()> {
        let len = file.metadata()?.len();
        let old = std::mem::replace(&mut self.file, Arc::new(file));
        self.bio.submit(Job::FsyncAndClose(old));
        self.name = name.to_string();
        self.incr_size = len;
        self.fsynced_offset = len;
        self.last_fsync = now;
        self.selected_db = None;
        Ok(())
    }

    /// Blocks until queued background fsyncs are done.
    pub fn wait_background_fsync(&self) {
        while self.bio.in_progress() {
            thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn observe_bio(&mut self) {
        let ok = self.bio.ok.load(Ordering::SeqCst);
        if !ok && !self.bio_error_logged {
            self.bio_error_logged = true;
            let e = self.bio.errno.load(Ordering::SeqCst);
            self.log(
                LogLevel::Warning,
                format!("Fail to fsync the AOF file: {}", strerror(e)),
            );
        } else if ok {
            self.bio_error_logged = false;
        }
    }

    fn log(&mut self, level: LogLevel, msg: String) {
        self.logs.push((level, msg));
    }

    /// Takes the queued log lines (level, message) for the server's log.
    pub fn take_logs(&mut self) -> Vec<(LogLevel, String)> {
        self.observe_bio();
        std::mem::take(&mut self.logs)
    }

    /// True when the cron should call [`flush`](Self::flush): a postponed write, or a failed
    /// one to retry (Redis retries once per second).
    pub fn needs_cron_flush(&self) -> bool {
        self.flush_postponed_start != 0 || !self.write_ok
    }

    /// The write is postponed because a background fsync is in flight.
    pub fn flush_postponed(&self) -> bool {
        self.flush_postponed_start != 0
    }

    /// `aof_buffer_length`.
    pub fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    /// The buffered bytes not written yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the buffered bytes (Redis does it when a rewrite in WAIT_REWRITE state fails).
    pub fn clear_buffer(&mut self) {
        self.buf.clear();
    }

    /// `aof_current_size`.
    pub fn current_size(&self) -> u64 {
        self.current_size
    }

    /// `aof_base_size`.
    pub fn base_size(&self) -> u64 {
        self.base_size
    }

    /// Bytes in the current incr file (`aof_last_incr_size`).
    pub fn incr_size(&self) -> u64 {
        self.incr_size
    }

    /// `aof_pending_bio_fsync`.
    pub fn pending_bio_fsync(&self) -> u64 {
        self.bio.pending.load(Ordering::SeqCst) as u64
    }

    /// `aof_delayed_fsync`.
    pub fn delayed_fsync(&self) -> u64 {
        self.delayed_fsync
    }

    /// True when the last write succeeded (Redis's `aof_last_write_status == C_OK`).
    pub fn last_write_ok(&self) -> bool {
        self.write_ok
    }

    /// errno of the last failed write (0 if none yet).
    pub fn last_write_errno(&self) -> i32 {
        self.last_write_errno
    }

    /// True when the last background fsync succeeded (`aof_bio_fsync_status`).
    pub fn bio_fsync_ok(&self) -> bool {
        self.bio.ok.load(Ordering::SeqCst)
    }

    /// INFO `aof_last_write_status`: `ok` or `err` (write or background fsync failed).
    pub fn last_write_status(&self) -> &'static str {
        if self.write_ok && self.bio_fsync_ok() {
            "ok"
        } else {
            "err"
        }
    }

    /// The errno that stops writes, if any (Redis's `writeCommandsDeniedByDiskError` for AOF).
    pub fn disk_error(&self) -> Option<i32> {
        if !self.write_ok {
            Some(self.last_write_errno)
        } else if !self.bio_fsync_ok() {
            Some(self.bio.errno.load(Ordering::SeqCst))
        } else {
            None
        }
    }

    /// The `-MISCONF` error line for write commands while [`disk_error`](Self::disk_error) is set
    /// (without the trailing CRLF).
    pub fn misconf_error(&self) -> Option<String> {
        self.disk_error()
            .map(|e| format!("-MISCONF Errors writing to the AOF file: {}", strerror(e)))
    }

    /// Clears the error state when the AOF is turned back on (Redis's `startAppendOnly`),
    /// logging what Redis logs.
    pub fn reset_errors(&mut self) {
        if !self.bio_fsync_ok() {
            self.log(
                LogLevel::Warning,
                "AOF reopen, just ignore the AOF fsync error in bio job".into(),
            );
            self.bio.ok.store(true, Ordering::SeqCst);
        }
        if !self.write_ok {
            self.log(
                LogLevel::Warning,
                "AOF reopen, just ignore the last error.".into(),
            );
            self.write_ok = true;
        }
    }
}

/// write(2) until everything is written or an error: (bytes written, error if short).
fn write_all(mut f: &File, mut buf: &[u8]) -> (usize, Option<io::Error>) {
    let mut total = 0;
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => return (total, None),
            Ok(n) => {
                total += n;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (total, Some(e)),
        }
    }
    (total, None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "cinnabar-aof-writer-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn feed_select_and_timestamps() {
        let d = tmpdir("feed");
        let p = d.join("a.aof");
        let mut w = AofWriter::open(&p, FsyncPolicy::Always, 100).unwrap();
        w.set_timestamp_enabled(true);
        w.feed_command(0, &["SET", "a", "1"], 100);
        w.feed_command(0, &["SET", "b", "2"], 100);
        w.feed_command(3, &["DEL", "a"], 101);
        assert_eq!(
            w.flush(101, false).unwrap(),
            Flushed::Written(w.incr_size() as usize)
        );
        let got = std::fs::read(&p).unwrap();
        let mut want = Vec::new();
        encode_timestamp(&mut want, 100);
        encode_select(&mut want, 0);
        encode_command(&mut want, &["SET", "a", "1"]);
        encode_command(&mut want, &["SET", "b", "2"]);
        encode_timestamp(&mut want, 101);
        encode_select(&mut want, 3);
        encode_command(&mut want, &["DEL", "a"]);
        assert_eq!(got, want);
        assert_eq!(w.current_size(), want.len() as u64);
        assert_eq!(w.buffer_len(), 0);
        assert_eq!(w.last_write_status(), "ok");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn everysec_background_fsync() {
        let d = tmpdir("everysec");
        let p = d.join("a.aof");
        let mut w = AofWriter::open(&p, FsyncPolicy::EverySec, 10).unwrap();
        w.append(b"*1\r\n$4\r\nPING\r\n");
        // Same second as the last fsync: written, no fsync scheduled.
        assert_eq!(w.flush(10, false).unwrap(), Flushed::Written(14));
        assert_eq!(w.pending_bio_fsync(), 0);
        // Next second: the empty-buffer path schedules the fsync of the unsynced bytes.
        assert_eq!(w.flush(11, false).unwrap(), Flushed::Nothing);
        w.wait_background_fsync();
        assert_eq!(w.pending_bio_fsync(), 0);
        assert!(w.bio_fsync_ok());
        // A file switch keeps counting sizes and forces a SELECT.
        let p2 = d.join("b.aof");
        w.switch_file(open_append(&p2, true).unwrap(), "b.aof", 11)
            .unwrap();
        w.feed_command(0, &["PING"], 11);
        w.flush(11, true).unwrap();
        assert!(std::fs::read(&p2)
            .unwrap()
            .starts_with(b"*2\r\n$6\r\nSELECT"));
        assert_eq!(w.current_size(), 14 + w.incr_size());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A background fsync in flight postpones everysec writes for up to two seconds, then the
    /// write goes ahead and counts as a delayed fsync.
    #[test]
    fn everysec_postpones_while_fsync_in_flight() {
        let d = tmpdir("postpone");
        let p = d.join("a.aof");
        let mut w = AofWriter::open(&p, FsyncPolicy::EverySec, 50).unwrap();
        w.bio.pending.fetch_add(1, Ordering::SeqCst); // pretend an fsync is running
        assert_eq!(w.pending_bio_fsync(), 1);
        w.append(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(w.flush(100, false).unwrap(), Flushed::Postponed);
        assert!(w.flush_postponed() && w.needs_cron_flush());
        assert_eq!(w.flush(101, false).unwrap(), Flushed::Postponed);
        assert_eq!(w.flush(102, false).unwrap(), Flushed::Written(14));
        assert_eq!(w.delayed_fsync(), 1);
        assert!(!w.flush_postponed());
        assert!(w
            .take_logs()
            .iter()
            .any(|(_, m)| m.starts_with("Asynchronous AOF fsync is taking too long")));
        // force writes regardless.
        w.append(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(w.flush(103, true).unwrap(), Flushed::Written(14));
        w.bio.pending.fetch_sub(1, Ordering::SeqCst);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn strerror_text() {
        assert_eq!(strerror(28), "No space left on device");
    }
}
