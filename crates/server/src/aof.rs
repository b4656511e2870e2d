//! The append-only file, wired to the engine (the file formats and the writer are the
//! `cinnabar-aof` crate).
//!
//! - **Feeding**: the propagation point hands every unit's encoded stream to
//!   [`Aof::append`] (`#TS:` annotations added when enabled). Commands meant only for replicas
//!   (PING, REPLCONF GETACK) never reach it.
//! - **Writing**: before a connection's replies go out, the buffer is written (so an
//!   acknowledged write survives a crash of the process) and, under `appendfsync always`,
//!   fsynced (several connections' commands buffered meanwhile go out in one write: group
//!   commit); `everysec` fsyncs in the background at most once a second (scheduled from the
//!   cron), which also retries a failed write every second. A failed write leaves nothing half-written, keeps the data buffered and turns
//!   writes into `-MISCONF` until it succeeds again.
//! - **Rewrite** (BGREWRITEAOF, automatic on growth, `CONFIG SET appendonly yes`): a new incr
//!   file is opened at once (listed in the manifest; while the AOF is turning on, the
//!   temporary `temp-<appendfilename>.incr` instead) and the fork-less snapshot is written to
//!   `temp-rewriteaof-bg-<pid>-<job>.aof` (RDB preamble or commands); when complete it becomes the
//!   new base (the temporary incr file the next incr file), the manifest is switched atomically
//!   and the history files deleted (unless `aof-disable-auto-gc`). A failure removes the temp
//!   files; the old files stay valid; after three failures in a row the automatic rewrites back
//!   off (1 minute, doubling up to an hour). With the AOF off, a rewrite writes only a new base.
//! - **Loading** at startup (`aof/load.rs`): the manifest is read whatever `appendonly` says (history files it
//!   lists are deleted); with the AOF on, an old single-file `appendonly.aof` is upgraded into
//!   the directory (continued if a previous upgrade was interrupted), every listed file must
//!   exist, and the base (RDB or commands) then the incr files are executed through the
//!   ordinary dispatcher by a client that skips the checks; a truncated tail of the last file
//!   is cut when `aof-load-truncated yes`, bad format anywhere stops startup with the offset.
//!   DEBUG LOADAOF does the same from the manifest on disk, also with the AOF off.

mod load;

use crate::client::Client;
use crate::server::{now_ms, Server};
use crate::{notice, verbose, warning};
use cinnabar_aof::{AofWriter, FsyncPolicy, LogLevel, Manifest};
use load::{load_append_only_files, load_manifest_from_disk, Loaded};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The AOF state and the counters INFO persistence reports.
#[derive(Default)]
pub struct Aof {
    /// AOF_ON: commands are appended to the current incr file.
    pub on: bool,
    /// The AOF is being replayed (startup, DEBUG LOADAOF): a busy script answers LOADING.
    pub replaying: bool,
    /// AOF_WAIT_REWRITE: turned on at runtime, waiting for the first rewrite to complete.
    pub wait_rewrite: bool,
    pub manifest: Manifest,
    pub writer: Option<AofWriter>,
    pub rewrite_scheduled: bool,
    pub rewrite_started: Option<Instant>,
    pub last_rewrite_ok: bool,
    pub last_rewrite_time_sec: i64,
    pub last_rewrite_success_unix: i64,
    pub rewrites: u64,
    pub consecutive_failures: u32,
    /// The failure limit: when the next automatic rewrite may start, and the current delay.
    pub next_retry_unix: i64,
    pub limit_delay_min: i64,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds slept before each write of the buffer.
    pub flush_sleep_us: u64,
    pub loaded_truncated: bool,
    /// Size of the files when the last rewrite completed (auto-rewrite growth base).
    pub rewrite_base_size: u64,
}

fn lvl_log(logs: Vec<(LogLevel, String)>) {
    for (l, m) in logs {
        match l {
            LogLevel::Warning => warning!("{m}"),
            LogLevel::Notice => notice!("{m}"),
            _ => verbose!("{m}"),
        }
    }
}

fn unix() -> i64 {
    now_ms() / 1000
}

fn policy(s: &Server) -> FsyncPolicy {
    match s.settings.appendfsync {
        crate::settings::Fsync::Always => FsyncPolicy::Always,
        crate::settings::Fsync::EverySec => FsyncPolicy::EverySec,
        crate::settings::Fsync::No => FsyncPolicy::No,
    }
}

/// The AOF directory, created if missing; None (logged as Redis does) when it cannot be.
fn ensure_dir(s: &Server) -> Option<PathBuf> {
    let d = dir(s);
    match std::fs::create_dir_all(&d) {
        Ok(()) => Some(d),
        Err(e) => {
            warning!(
                "Can't open or create append-only dir {}: {}",
                d.display(),
                errstr(&e)
            );
            None
        }
    }
}

fn dir(s: &Server) -> PathBuf {
    PathBuf::from(&s.settings.appenddirname)
}

fn fsync_dir(d: &Path) {
    if let Ok(f) = File::open(d) {
        let _ = f.sync_all();
    }
}

/// Writes `m` as the manifest atomically: temp file, fsync, rename, fsync of the directory
/// (failures logged with Redis's lines).
fn write_manifest(s: &Server, m: &Manifest) -> Result<(), ()> {
    let d = dir(s);
    let name = cinnabar_aof::manifest::manifest_name(&s.settings.appendfilename);
    let tmp_name = cinnabar_aof::manifest::temp_manifest_name(&s.settings.appendfilename);
    let tmp = d.join(&tmp_name);
    let mut f = match File::create(&tmp) {
        Ok(f) => f,
        Err(e) => {
            warning!(
                "Can't open the AOF manifest file {tmp_name}: {}",
                errstr(&e)
            );
            return Err(());
        }
    };
    if let Err(e) = f.write_all(&m.to_bytes()) {
        warning!(
            "Error trying to write the temporary AOF manifest file {tmp_name}: {}",
            errstr(&e)
        );
        return Err(());
    }
    if let Err(e) = f.sync_all() {
        warning!(
            "Fail to fsync the temp AOF file {tmp_name}: {}.",
            errstr(&e)
        );
        return Err(());
    }
    if let Err(e) = std::fs::rename(&tmp, d.join(&name)) {
        warning!(
            "Error trying to rename the temporary AOF manifest file {tmp_name} into {name}: {}",
            errstr(&e)
        );
        return Err(());
    }
    fsync_dir(&d);
    Ok(())
}

/// Writes the manifest when it changed.
fn persist_manifest(s: &mut Server) -> Result<(), ()> {
    if !s.aof.manifest.dirty {
        return Ok(());
    }
    write_manifest(s, &s.aof.manifest)?;
    s.aof.manifest.dirty = false;
    Ok(())
}

/// Deletes the history files and drops them from the manifest (unless `aof-disable-auto-gc`).
pub fn del_history_files(s: &mut Server) {
    if s.settings.aof_disable_auto_gc || s.aof.manifest.history.is_empty() {
        return;
    }
    let d = dir(s);
    for h in std::mem::take(&mut s.aof.manifest.history) {
        notice!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(d.join(&h.name));
    }
    s.aof.manifest.dirty = true;
    let _ = persist_manifest(s);
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn refresh_sizes(s: &mut Server) {
    let d = dir(s);
    let base = s
        .aof
        .manifest
        .base
        .as_ref()
        .map_or(0, |b| file_size(&d.join(&b.name)));
    let incr: u64 = s
        .aof
        .manifest
        .incr
        .iter()
        .map(|i| file_size(&d.join(&i.name)))
        .sum();
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_sizes(base + incr, base);
    }
}

impl Aof {
    /// Appends one unit's encoded stream.
    pub fn append(&mut self, bytes: &[u8]) {
        if !(self.on || self.wait_rewrite) {
            return;
        }
        if let Some(w) = self.writer.as_mut() {
            w.append_timestamp_if_needed(unix());
            w.append(bytes);
        }
    }

    /// `-MISCONF ...` while the AOF cannot be written.
    pub fn misconf(&self) -> Option<String> {
        if !self.on {
            return None;
        }
        self.writer.as_ref().and_then(|w| w.misconf_error())
    }
}

/// Flushes the buffer (and fsyncs per policy). Called before replies go out and by the cron.
pub fn flush(s: &mut Server, force: bool) {
    let Some(w) = s.aof.writer.as_mut() else {
        return;
    };
    if s.aof.flush_sleep_us > 0 && w.buffer_len() > 0 {
        std::thread::sleep(std::time::Duration::from_micros(s.aof.flush_sleep_us));
    }
    let r = w.flush(unix(), force);
    let logs = w.take_logs();
    lvl_log(logs);
    if let Err(e) = r {
        // Under `always` Redis exits here; Cinnabar keeps serving reads, refuses writes with
        // -MISCONF and retries every second (the data stays buffered, nothing half-written).
        if e.fatal {
            warning!("Can't write to the AOF with appendfsync always: {e}. Writes are refused until it succeeds.");
        }
    }
}

/// Before a connection's replies go out, what they acknowledge is written to the file (so a
/// crash of the process after the reply loses nothing); under `always` it is also fsynced.
/// Commands several connections buffered meanwhile go out in one write.
pub fn before_reply(s: &mut Server) {
    if !(s.aof.on || s.aof.wait_rewrite) {
        return;
    }
    if s.aof.writer.as_ref().is_some_and(|w| w.buffer_len() > 0) {
        flush(s, false);
    }
}

/// The C `strerror` text of an I/O error (what Redis's log lines carry).
fn errstr(e: &io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), cinnabar_aof::strerror)
}

/// With `appendonly yes` at startup: an empty dataset gets a base file, the last incr file (or
/// a new one) is opened, the manifest written. Err = exit.
fn open_on_server_start(s: &mut Server) -> Result<(), String> {
    let d = ensure_dir(s).ok_or_else(String::new)?;
    let fname = s.settings.appendfilename.clone();
    if s.aof.manifest.is_empty() {
        let preamble = s.settings.aof_use_rdb_preamble;
        let base = s.aof.manifest.new_base(&fname, preamble);
        crate::persist::write_snapshot_file(s, &d.join(&base), preamble)
            .map_err(|e| format!("Can't create the AOF base file {base}: {e}"))?;
        notice!("Creating AOF base file {base} on server start");
    }
    let had_incr = !s.aof.manifest.incr.is_empty();
    let incr = s.aof.manifest.last_incr_or_new(&fname);
    let w = AofWriter::open(&d.join(&incr), policy(s), unix()).map_err(|e| {
        warning!("Can't open the append-only file {incr}: {}", errstr(&e));
        String::new()
    })?;
    s.aof.writer = Some(w);
    configure_writer(s);
    persist_manifest(s).map_err(|()| String::new())?;
    if had_incr {
        notice!("Opening AOF incr file {incr} on server start");
    } else {
        notice!("Creating AOF incr file {incr} on server start");
    }
    s.aof.on = true;
    refresh_sizes(s);
    s.prop.reset_db();
    crate::propagate::refresh_enabled(s);
    Ok(())
}

/// At startup: the manifest is read; with `appendonly yes` the AOF is loaded (it is the
/// dataset) and opened; history files left by a crash are deleted. Err = exit.
pub fn load_at_startup(s: &mut Server) -> Result<(), String> {
    s.aof.last_rewrite_ok = true;
    s.aof.last_rewrite_time_sec = -1;
    load_manifest_from_disk(s)?;
    if s.settings.appendonly {
        let started = Instant::now();
        if load_append_only_files(s)? != Loaded::NotExist {
            notice!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
        }
        open_on_server_start(s)?;
    }
    del_history_files(s);
    Ok(())
}

fn configure_writer(s: &mut Server) {
    let ts = s.settings.aof_timestamp_enabled;
    let nf = s.settings.no_appendfsync_on_rewrite;
    let p = policy(s);
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_policy(p);
        w.set_timestamp_enabled(ts);
        w.set_no_fsync_on_rewrite(nf);
    }
}

/// After CONFIG SET: follow appendonly / appendfsync / timestamps.
pub fn config_changed(s: &mut Server) {
    configure_writer(s);
    let want = s.settings.appendonly;
    let have = s.aof.on || s.aof.wait_rewrite;
    if want && !have {
        if let Err(e) = start_appendonly(s) {
            warning!("{e}");
        }
    } else if !want && have {
        stop_appendonly(s);
    }
    // `aof-disable-auto-gc no` deletes the history kept meanwhile.
    del_history_files(s);
}

fn aof_rewrite_running(s: &Server) -> bool {
    s.persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == crate::persist::JobKind::AofRewrite)
}

/// CONFIG SET appendonly yes: a rewrite writes the base while new commands go to a temporary
/// incr file (`temp-<appendfilename>.incr`); when the rewrite completes, that file becomes the
/// next incr file and the AOF is on.
fn start_appendonly(s: &mut Server) -> Result<(), String> {
    s.aof.wait_rewrite = true;
    if s.persist.bgsave.is_some() && !aof_rewrite_running(s) {
        s.aof.rewrite_scheduled = true;
        warning!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        return Ok(());
    }
    if s.in_exec {
        s.aof.rewrite_scheduled = true;
        warning!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        return Ok(());
    }
    if aof_rewrite_running(s) {
        // It does not feed the temporary incr file: start again.
        warning!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
        kill_rewrite(s);
    }
    start_rewrite(s).map_err(|_| {
        s.aof.wait_rewrite = false;
        "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.".to_string()
    })
}

/// Stops a running rewrite (its temp file is removed).
fn kill_rewrite(s: &mut Server) {
    if aof_rewrite_running(s) {
        notice!("Killing running AOF rewrite child: {}", std::process::id());
        crate::persist::kill_bgsave(s);
    }
}

/// CONFIG SET appendonly no.
fn stop_appendonly(s: &mut Server) {
    if let Some(mut w) = s.aof.writer.take() {
        let _ = w.flush_and_sync(unix());
        lvl_log(w.take_logs());
    }
    s.aof.on = false;
    s.aof.wait_rewrite = false;
    s.aof.rewrite_scheduled = false;
    kill_rewrite(s);
    s.prop.reset_db();
    crate::propagate::refresh_enabled(s);
}

/// A new incr file for the commands written while a rewrite runs (Redis's
/// `openNewIncrAofForAppend`): the next incr file, listed in the manifest at once, or, while
/// the AOF is turning on, the temporary incr file. Nothing to do with the AOF off.
fn open_new_incr_for_append(s: &mut Server) -> Result<(), ()> {
    if !(s.aof.on || s.aof.wait_rewrite) {
        return Ok(());
    }
    let fname = s.settings.appendfilename.clone();
    let mut next = None;
    let name = if s.aof.wait_rewrite {
        cinnabar_aof::manifest::temp_incr_name(&fname)
    } else {
        let mut m = s.aof.manifest.clone();
        let n = m.new_incr(&fname);
        next = Some(m);
        n
    };
    let file = match cinnabar_aof::open_append(&dir(s).join(&name), true) {
        Ok(f) => f,
        Err(e) => {
            warning!("Can't open the append-only file {name}: {}", errstr(&e));
            return Err(());
        }
    };
    if let Some(m) = next.as_ref() {
        write_manifest(s, m)?;
    }
    notice!("Creating AOF incr file {name} on background rewrite");
    let now = unix();
    match s.aof.writer.as_mut() {
        Some(w) => {
            let switched = w.switch_file(file, &name, now);
            lvl_log(w.take_logs());
            if let Err(e) = switched {
                warning!("Can't open the append-only file {name}: {}", errstr(&e));
                return Err(());
            }
        }
        None => match AofWriter::new(file, &name, policy(s), now) {
            Ok(w) => {
                s.aof.writer = Some(w);
                configure_writer(s);
            }
            Err(e) => {
                warning!("Can't open the append-only file {name}: {}", errstr(&e));
                return Err(());
            }
        },
    }
    if let Some(mut m) = next {
        m.dirty = false;
        s.aof.manifest = m;
    }
    Ok(())
}

/// BGREWRITEAOF (and the automatic and scheduled rewrites): new commands go to a new incr file
/// from now on, and the snapshot job writes `temp-rewriteaof-bg-<pid>-<job>.aof`.
fn start_rewrite(s: &mut Server) -> Result<(), ()> {
    if s.persist.bgsave.is_some() {
        return Err(());
    }
    let Some(d) = ensure_dir(s) else {
        s.aof.last_rewrite_ok = false;
        return Err(());
    };
    s.prop.reset_db();
    flush(s, true);
    if open_new_incr_for_append(s).is_err() {
        s.aof.last_rewrite_ok = false;
        return Err(());
    }
    s.aof.rewrites += 1;
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_rewrite_in_progress(true);
    }
    crate::propagate::refresh_enabled(s);
    let tmp = d.join(format!(
        "temp-rewriteaof-bg-{}-{}.aof",
        std::process::id(),
        crate::persist::next_job_seq()
    ));
    let preamble = s.settings.aof_use_rdb_preamble;
    if let Err(e) = crate::persist::start_aof_rewrite(s, &tmp, preamble) {
        warning!("Can't rewrite append only file in background: {e}");
        s.aof.last_rewrite_ok = false;
        return Err(());
    }
    s.aof.rewrite_scheduled = false;
    s.aof.rewrite_started = Some(Instant::now());
    notice!(
        "Background append only file rewriting started by pid {}",
        s.persist
            .bgsave
            .as_ref()
            .and_then(|b| b.child.as_ref())
            .map_or(0, |c| c.0)
    );
    Ok(())
}

/// Installs a finished rewrite: the temp file becomes the next base (and, while turning the
/// AOF on, the temporary incr file the next incr file), the incr files it covers become history,
/// the manifest is switched. Err: nothing changed (already logged).
fn install_rewrite(s: &mut Server, tmp: &Path) -> Result<(), ()> {
    let d = dir(s);
    let fname = s.settings.appendfilename.clone();
    let tmp_name = tmp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut m = s.aof.manifest.clone();
    let base = m.new_base(&fname, s.settings.aof_use_rdb_preamble);
    let base_path = d.join(&base);
    if let Err(e) = std::fs::rename(tmp, &base_path) {
        warning!(
            "Error trying to rename the temporary AOF base file {tmp_name} into {}: {}",
            base_path.display(),
            errstr(&e)
        );
        return Err(());
    }
    notice!("Successfully renamed the temporary AOF base file {tmp_name} into {base}");
    let mut new_incr = None;
    if s.aof.wait_rewrite {
        let temp_incr = cinnabar_aof::manifest::temp_incr_name(&fname);
        let incr = m.new_incr(&fname);
        let (from, to) = (d.join(&temp_incr), d.join(&incr));
        if let Err(e) = std::fs::rename(&from, &to) {
            warning!(
                "Error trying to rename the temporary AOF incr file {} into {}: {}",
                from.display(),
                to.display(),
                errstr(&e)
            );
            let _ = std::fs::remove_file(&base_path);
            return Err(());
        }
        notice!("Successfully renamed the temporary AOF incr file {temp_incr} into {incr}");
        if let Some(w) = s.aof.writer.as_mut() {
            w.set_file_name(&incr);
        }
        new_incr = Some(to);
    }
    // The file being written (AOF on) stays an incr file.
    m.mark_rewritten_incr_as_history(s.aof.writer.is_some());
    if write_manifest(s, &m).is_err() {
        let _ = std::fs::remove_file(&base_path);
        if let Some(p) = new_incr {
            let _ = std::fs::remove_file(p);
        }
        return Err(());
    }
    m.dirty = false;
    s.aof.manifest = m;
    Ok(())
}

/// The snapshot of a rewrite ended (`tmp` holds it when `res` is Ok).
pub fn rewrite_done(s: &mut Server, tmp: &Path, res: io::Result<()>) {
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_rewrite_in_progress(false);
    }
    let installed = match res {
        Ok(()) => {
            notice!("Background AOF rewrite terminated with success");
            install_rewrite(s, tmp)
        }
        Err(e) => {
            warning!("Background AOF rewrite terminated with error: {e}");
            Err(())
        }
    };
    match installed {
        Ok(()) => {
            if s.aof.writer.is_some() {
                refresh_sizes(s);
                s.aof.rewrite_base_size = s.aof.writer.as_ref().map_or(0, |w| w.current_size());
            }
            del_history_files(s);
            s.aof.last_rewrite_ok = true;
            s.aof.consecutive_failures = 0;
            s.aof.last_rewrite_success_unix = unix();
            notice!("Background AOF rewrite finished successfully");
            if s.aof.wait_rewrite {
                s.aof.wait_rewrite = false;
                s.aof.on = true;
            }
        }
        Err(()) => {
            s.aof.last_rewrite_ok = false;
            s.aof.consecutive_failures += 1;
        }
    }
    let _ = std::fs::remove_file(tmp);
    if s.aof.wait_rewrite {
        // Still turning on: what the temporary incr file got is dropped and the cron starts
        // another rewrite.
        s.aof.writer = None;
        let temp_incr = cinnabar_aof::manifest::temp_incr_name(&s.settings.appendfilename);
        notice!("Removing the temp incr aof file {temp_incr} in the background");
        let _ = std::fs::remove_file(dir(s).join(&temp_incr));
        s.aof.rewrite_scheduled = true;
    }
    s.aof.last_rewrite_time_sec = s
        .aof
        .rewrite_started
        .take()
        .map_or(-1, |t| t.elapsed().as_secs() as i64);
}

/// The cron's part: retry failed writes, everysec fsync, scheduled and automatic rewrites.
pub fn cron(s: &mut Server) {
    if let Some(w) = s.aof.writer.as_ref() {
        let due =
            w.needs_cron_flush() || s.settings.appendfsync == crate::settings::Fsync::EverySec;
        if due {
            flush(s, false);
        }
    }
    if s.persist.bgsave.is_some() || s.loading.is_some() {
        return;
    }
    if s.aof.rewrite_scheduled && !rewrite_limited(s) {
        let _ = start_rewrite(s);
        return;
    }
    if s.aof.on && s.settings.auto_aof_rewrite_percentage > 0 {
        let cur = s.aof.writer.as_ref().map_or(0, |w| w.current_size());
        let min = s.settings.auto_aof_rewrite_min_size.max(0) as u64;
        let base = s.aof.rewrite_base_size.max(1);
        if cur > min {
            let growth = (cur as u128 * 100 / base as u128) as i64 - 100;
            if growth >= s.settings.auto_aof_rewrite_percentage && !rewrite_limited(s) {
                notice!("Starting automatic rewriting of AOF on {growth}% growth");
                let _ = start_rewrite(s);
            }
        }
    }
}

/// After three failed rewrites in a row, the automatic and scheduled ones wait 1 minute, then
/// 2, 4 ... up to an hour (BGREWRITEAOF still runs at once).
fn rewrite_limited(s: &mut Server) -> bool {
    let a = &mut s.aof;
    if a.consecutive_failures < 3 {
        a.limit_delay_min = 0;
        a.next_retry_unix = 0;
        return false;
    }
    if a.next_retry_unix != 0 {
        if unix() < a.next_retry_unix {
            return true;
        }
        a.next_retry_unix = 0;
        return false;
    }
    a.limit_delay_min = if a.limit_delay_min == 0 {
        1
    } else {
        (a.limit_delay_min * 2).min(60)
    };
    a.next_retry_unix = unix() + a.limit_delay_min * 60;
    warning!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        a.limit_delay_min
    );
    true
}

/// BGREWRITEAOF.
pub fn bgrewriteaof(s: &mut Server, c: &mut Client) {
    if aof_rewrite_running(s) {
        return c
            .reply
            .error("ERR Background append only file rewriting already in progress");
    }
    if s.persist.bgsave.is_some() || s.in_exec {
        s.aof.rewrite_scheduled = true;
        // Asked for by hand: not held back by the failure limit.
        s.aof.consecutive_failures = 0;
        return c
            .reply
            .simple("Background append only file rewriting scheduled");
    }
    match start_rewrite(s) {
        Ok(()) => c
            .reply
            .simple("Background append only file rewriting started"),
        Err(()) => c.reply.error(
            "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
        ),
    }
}

/// The shutdown's part: write and fsync everything. Err when the initial rewrite of a runtime
/// `appendonly yes` has not completed (the AOF would lack the data) and not FORCE.
pub fn prepare_shutdown(
    s: &mut Server,
    force: bool,
) -> Result<(), crate::persist::ShutdownBlocked> {
    if s.aof.wait_rewrite {
        if force {
            warning!("Writing initial AOF. Exit anyway.");
        } else {
            warning!("Writing initial AOF, can't exit.");
            return Err(crate::persist::ShutdownBlocked);
        }
    }
    if s.persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == crate::persist::JobKind::AofRewrite)
    {
        warning!("There is a child rewriting the AOF. Killing it!");
        crate::persist::kill_bgsave(s);
    }
    if let Some(w) = s.aof.writer.as_mut() {
        notice!("Calling fsync() on the AOF file.");
        let r = w.flush_and_sync(unix());
        lvl_log(w.take_logs());
        if r.is_err() && !force {
            warning!("Error writing the AOF on shutdown, can't exit.");
            return Err(crate::persist::ShutdownBlocked);
        }
    }
    Ok(())
}

/// DEBUG LOADAOF: write out the AOF (when on), empty the dataset and load the AOF the manifest
/// on disk describes (also with the AOF off, as Redis).
pub fn debug_loadaof(s: &mut Server) -> Result<(), String> {
    if s.aof.on || s.aof.wait_rewrite {
        flush(s, true);
        if let Some(w) = s.aof.writer.as_mut() {
            let _ = w.flush_and_sync(unix());
            lvl_log(w.take_logs());
        }
    }
    for db in s.ks.dbs.iter_mut() {
        db.clear();
    }
    load_manifest_from_disk(s)?;
    del_history_files(s);
    s.aof.replaying = true;
    let loaded = load_append_only_files(s);
    s.aof.replaying = false;
    loaded?;
    // What was replayed is not a change to save (as Redis's DEBUG LOADAOF).
    s.dirty = 0;
    warning!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// INFO persistence's AOF lines.
pub fn info(s: &Server) -> String {
    let a = &s.aof;
    let inprog = s
        .persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == crate::persist::JobKind::AofRewrite);
    let mut out = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:{}\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\naof_last_successful_rewrite_time:{}\r\naof_last_successful_rewrite_status:{}\r\n",
        (a.on || a.wait_rewrite) as u8,
        inprog as u8,
        a.rewrite_scheduled as u8,
        a.last_rewrite_time_sec,
        a.rewrite_started.map_or(-1, |t| t.elapsed().as_secs() as i64),
        if a.last_rewrite_ok { "ok" } else { "err" },
        a.rewrites,
        a.consecutive_failures,
        a.writer.as_ref().map_or("ok", |w| w.last_write_status()),
        if inprog { 0 } else { s.persist.last_cow_size },
        a.last_rewrite_success_unix,
        if a.rewrites > 0 { "ok" } else { "none" },
    );
    if a.on {
        if let Some(w) = a.writer.as_ref() {
            out.push_str(&format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
                w.current_size(),
                w.base_size(),
                a.rewrite_scheduled as u8,
                w.buffer_len(),
                w.pending_bio_fsync(),
                w.delayed_fsync()
            ));
        }
    }
    out
}
