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
//!   file is opened at once and the fork-less snapshot is written to
//!   `temp-rewriteaof-bg-<pid>-<job>.aof` (RDB preamble or commands); when complete it becomes the new
//!   base, the manifest is switched atomically and the old files deleted. A failure removes the
//!   temp file; the old files stay valid; retries back off after three failures in a row.
//! - **Loading** at startup: the manifest's base (RDB or commands) then incr files, executed
//!   through the ordinary dispatcher by a client that skips the checks; a truncated tail of the
//!   last file is cut when `aof-load-truncated yes`, bad format anywhere stops startup with the
//!   offset.

use crate::client::{Client, ClientHandle};
use crate::server::{now_ms, Server};
use crate::{notice, verbose, warning};
use cinnabar_aof::{AofReader, AofWriter, FsyncPolicy, Item, LogLevel, Manifest, ReadError};
use cinnabar_resp::Args;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The AOF state and the counters INFO persistence reports.
#[derive(Default)]
pub struct Aof {
    /// AOF_ON: commands are appended to the current incr file.
    pub on: bool,
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
    pub next_retry_unix: i64,
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

fn dir(s: &Server) -> PathBuf {
    PathBuf::from(&s.settings.appenddirname)
}

fn fsync_dir(d: &Path) {
    if let Ok(f) = File::open(d) {
        let _ = f.sync_all();
    }
}

/// Writes the manifest atomically: temp file, fsync, rename, fsync of the directory.
fn persist_manifest(s: &mut Server) -> io::Result<()> {
    let d = dir(s);
    let name = cinnabar_aof::manifest::manifest_name(&s.settings.appendfilename);
    let tmp = d.join(cinnabar_aof::manifest::temp_manifest_name(
        &s.settings.appendfilename,
    ));
    let bytes = s.aof.manifest.to_bytes();
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, d.join(&name))?;
        fsync_dir(&d);
        Ok(())
    })();
    match &r {
        Ok(()) => s.aof.manifest.dirty = false,
        Err(e) => {
            warning!("Can't persist the AOF manifest file {name}: {e}");
            let _ = std::fs::remove_file(&tmp);
        }
    }
    r
}

fn delete_history(s: &mut Server) {
    let d = dir(s);
    let history = std::mem::take(&mut s.aof.manifest.history);
    if history.is_empty() {
        return;
    }
    for h in &history {
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

/// The client that executes an AOF's commands (registered only while it loads).
fn loader_client(s: &mut Server) -> Client {
    let h = ClientHandle::internal(s, String::new());
    s.clients.remove(&h.id);
    let mut c = Client::new(h, true);
    c.is_master = true;
    c
}

fn exec_argv(s: &mut Server, c: &mut Client, argv: &[Vec<u8>]) -> Result<(), String> {
    let spans: Vec<(usize, usize)> = {
        let mut off = 0;
        argv.iter()
            .map(|a| {
                let sp = (off, off + a.len());
                off += a.len();
                sp
            })
            .collect()
    };
    let flat: Vec<u8> = argv.concat();
    let args = Args::new(&flat, &spans);
    let mut clock = Instant::now();
    for db in s.ks.dbs.iter_mut() {
        db.replaying = true;
    }
    let _ = crate::dispatch::execute(s, c, args, now_ms(), &mut clock);
    for db in s.ks.dbs.iter_mut() {
        db.replaying = false;
    }
    let unknown = c.reply.out.starts_with(b"-ERR unknown command");
    c.reply.out.clear();
    c.reply.errors.clear();
    if unknown {
        let name = String::from_utf8_lossy(argv.first().map_or(&b""[..], |v| v.as_slice()));
        return Err(format!(
            "Unknown command '{name}' reading the append only file {}",
            s.aof_loading_file
        ));
    }
    Ok(())
}

enum LoadEnd {
    Ok,
    Empty,
}

/// Loads one AOF file (`last`: truncation may be repaired there).
fn load_file(s: &mut Server, c: &mut Client, path: &Path, last: bool) -> Result<LoadEnd, String> {
    let name = path.display().to_string();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ))
        }
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    s.aof_loading_file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if size == 0 {
        return Ok(LoadEnd::Empty);
    }
    let max_bulk = s.settings.proto_max_bulk_len.max(0) as u64;
    let mut reader =
        AofReader::new(BufReader::with_capacity(256 * 1024, f)).with_max_bulk_len(max_bulk);
    if reader.has_rdb_preamble().map_err(|e| format!("{e}"))? {
        notice!("Reading RDB base file on AOF loading...");
        // The RDB part is read from its own handle (the RDB loader buffers ahead); the command
        // tail, if any, is read from where the RDB ends.
        let rf = File::open(path).map_err(|e| format!("{e}"))?;
        let limits = s.settings.limits;
        let mut db = 0usize;
        let now = now_ms();
        let mut loader = cinnabar_rdb::Loader::new(rf);
        loop {
            match loader
                .next(&limits)
                .map_err(|e| format!("Bad file format reading the append only file {name}: {e}"))?
            {
                None | Some(cinnabar_rdb::Item::Eof) => break,
                Some(cinnabar_rdb::Item::SelectDb(n)) => {
                    db = (n as usize).min(s.ks.dbs.len().saturating_sub(1));
                }
                Some(cinnabar_rdb::Item::Key {
                    key,
                    value,
                    expire_ms,
                    ..
                }) => {
                    if expire_ms.is_some_and(|w| w < now) {
                        continue;
                    }
                    s.ks.dbs[db].load_insert(&key, value, expire_ms, now, true);
                }
                Some(cinnabar_rdb::Item::EmptyKey(key)) => {
                    warning!(
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&key)
                    );
                }
                Some(_) => {}
            }
        }
        let rdb_len = loader.consumed();
        drop(loader);
        if rdb_len >= size {
            return Ok(LoadEnd::Ok);
        }
        notice!("Reading the remaining AOF tail...");
        let mut tf = File::open(path).map_err(|e| format!("{e}"))?;
        std::io::Seek::seek(&mut tf, std::io::SeekFrom::Start(rdb_len))
            .map_err(|e| format!("{e}"))?;
        reader = AofReader::starting_at(BufReader::with_capacity(256 * 1024, tf), rdb_len)
            .with_max_bulk_len(max_bulk);
    }
    loop {
        match reader.next_item() {
            Ok(None) => break,
            Ok(Some(Item::Command(argv))) => exec_argv(s, c, &argv)?,
            Ok(Some(Item::Transaction(cmds))) => {
                exec_argv(s, c, &[b"MULTI".to_vec()])?;
                for argv in &cmds {
                    exec_argv(s, c, argv)?;
                }
                exec_argv(s, c, &[b"EXEC".to_vec()])?;
            }
            Ok(Some(Item::Timestamp(_))) => {}
            Err(ReadError::Truncated {
                valid_up_to,
                open_multi,
                ..
            }) => {
                warning!("!!! Warning: short read while loading the AOF file {name}!!!");
                if !last {
                    return Err(format!(
                        "Unexpected end of file reading the append only file {name}"
                    ));
                }
                if !s.settings.aof_load_truncated {
                    return Err(format!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."));
                }
                warning!("!!! Warning: short read while loading the AOF file {name}!!!");
                warning!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
                if open_multi {
                    warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                }
                let trunc = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(valid_up_to).and_then(|_| f.sync_all()));
                if let Err(e) = trunc {
                    return Err(format!("Error truncating the AOF file {name}: {e}"));
                }
                warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                s.aof.loaded_truncated = true;
                break;
            }
            Err(ReadError::Format { offset, .. }) => {
                warning!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>");
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {offset}"
                ));
            }
            Err(e) => return Err(format!("{e}")),
        }
    }
    Ok(LoadEnd::Ok)
}

/// Opens the AOF at startup (appendonly yes): loads the manifest's files, or adopts an old
/// single-file AOF, then opens the writer on the last incr file. Err = exit.
pub fn load_at_startup(s: &mut Server) -> Result<(), String> {
    let d = dir(s);
    let fname = s.settings.appendfilename.clone();
    let mpath = d.join(cinnabar_aof::manifest::manifest_name(&fname));
    let mut manifest = match std::fs::read(&mpath) {
        Ok(b) => Manifest::parse(&b).map_err(|e| {
            for l in e.log_lines() {
                warning!("{l}");
            }
            // Already logged.
            String::new()
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::new(),
        Err(e) => {
            return Err(format!(
                "Can't read the AOF manifest {}: {e}",
                mpath.display()
            ))
        }
    };
    if let Err(e) = std::fs::create_dir_all(&d) {
        return Err(format!(
            "Can't open or create append-only dir {}: {e}",
            d.display()
        ));
    }
    if manifest.is_empty() && Path::new(&fname).is_file() {
        // A Redis < 7 single-file AOF: it becomes the base, as Redis 7 upgrades it.
        manifest.base = Some(cinnabar_aof::AofInfo {
            name: fname.clone(),
            seq: 1,
            kind: cinnabar_aof::FileType::Base,
        });
        manifest.curr_base_seq = 1;
        manifest.dirty = true;
        if let Err(e) = std::fs::rename(&fname, d.join(&fname)) {
            return Err(format!(
                "Error trying to rename the old AOF file {fname} into {}: {e}",
                d.display()
            ));
        }
        notice!("Successfully migrated an old-style AOF into the AOF directory");
    }
    s.aof.manifest = manifest;
    let mut c = loader_client(s);
    let started = Instant::now();
    let files: Vec<_> = s.aof.manifest.files_to_load().cloned().collect();
    let n = files.len();
    let mut loaded_any = false;
    let saved_enabled = s.prop.enabled;
    s.prop.enabled = false;
    for (i, f) in files.iter().enumerate() {
        let p = d.join(&f.name);
        if !p.exists() {
            if i == n - 1 && f.kind == cinnabar_aof::FileType::Incr {
                // An incr file created just before a crash may be missing: Redis tolerates it.
                continue;
            }
            s.prop.enabled = saved_enabled;
            return Err(format!("Fatal error: can't open the append log file {} for reading: No such file or directory", f.name));
        }
        match load_file(s, &mut c, &p, i == n - 1) {
            Ok(LoadEnd::Ok) => {
                loaded_any = true;
                notice!(
                    "DB loaded from {} file {}: {:.3} seconds",
                    if f.kind == cinnabar_aof::FileType::Base {
                        "base"
                    } else {
                        "incr"
                    },
                    f.name,
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(LoadEnd::Empty) => {}
            Err(e) => {
                s.prop.enabled = saved_enabled;
                return Err(e);
            }
        }
    }
    s.prop.enabled = saved_enabled;
    if loaded_any {
        notice!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    if s.aof.manifest.is_empty() {
        // Starting without any AOF: the (empty) dataset becomes the first base file.
        let base = s
            .aof
            .manifest
            .new_base(&fname, s.settings.aof_use_rdb_preamble);
        let preamble = s.settings.aof_use_rdb_preamble;
        crate::persist::write_snapshot_file(s, &d.join(&base), preamble)
            .map_err(|e| format!("Can't create the AOF base file {base}: {e}"))?;
        notice!("Creating AOF base file {base} on server start");
    }
    // Open the current incr file.
    let incr = s.aof.manifest.last_incr_or_new(&fname);
    let w = AofWriter::open(&d.join(&incr), policy(s), unix())
        .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
    s.aof.writer = Some(w);
    configure_writer(s);
    if s.aof.manifest.dirty {
        persist_manifest(s).map_err(|e| format!("{e}"))?;
    }
    s.aof.on = true;
    s.aof.last_rewrite_ok = true;
    s.aof.last_rewrite_time_sec = -1;
    refresh_sizes(s);
    s.aof.rewrite_base_size = s.aof.writer.as_ref().map_or(0, |w| w.current_size());
    s.prop.reset_db();
    crate::propagate::refresh_enabled(s);
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
}

/// CONFIG SET appendonly yes: a rewrite writes the base while new commands go to a new incr
/// file; the AOF is on when the rewrite completes.
fn start_appendonly(s: &mut Server) -> Result<(), String> {
    let d = dir(s);
    std::fs::create_dir_all(&d)
        .map_err(|e| format!("Can't open or create append-only dir {}: {e}", d.display()))?;
    let fname = s.settings.appendfilename.clone();
    if let Ok(b) = std::fs::read(d.join(cinnabar_aof::manifest::manifest_name(&fname))) {
        if let Ok(m) = Manifest::parse(&b) {
            s.aof.manifest = m;
        }
    }
    s.aof.wait_rewrite = true;
    if s.persist.bgsave.is_some() {
        s.aof.rewrite_scheduled = true;
        notice!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        return Ok(());
    }
    start_rewrite(s).map_err(|e| {
        s.aof.wait_rewrite = false;
        format!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error: {e}")
    })
}

/// CONFIG SET appendonly no.
fn stop_appendonly(s: &mut Server) {
    if s.persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == crate::persist::JobKind::AofRewrite)
    {
        warning!("Killing running AOF rewrite child");
        crate::persist::kill_bgsave(s);
    }
    if let Some(mut w) = s.aof.writer.take() {
        let _ = w.flush_and_sync(unix());
        lvl_log(w.take_logs());
    }
    s.aof.on = false;
    s.aof.wait_rewrite = false;
    s.aof.rewrite_scheduled = false;
    crate::propagate::refresh_enabled(s);
    notice!("Background append only file rewriting stopped? AOF disabled.");
}

/// BGREWRITEAOF (and the automatic and scheduled rewrites).
pub fn start_rewrite(s: &mut Server) -> Result<(), String> {
    if s.persist.bgsave.is_some() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    let d = dir(s);
    std::fs::create_dir_all(&d).map_err(|e| format!("ERR {e}"))?;
    let fname = s.settings.appendfilename.clone();
    let now = unix();
    if !(s.aof.on || s.aof.wait_rewrite) {
        // The AOF is off: only a new base is written (no incr file is opened).
        let tmp = d.join(format!(
            "temp-rewriteaof-bg-{}-{}.aof",
            std::process::id(),
            crate::persist::next_job_seq()
        ));
        let preamble = s.settings.aof_use_rdb_preamble;
        crate::persist::start_aof_rewrite(s, &tmp, preamble).map_err(|e| format!("ERR {e}"))?;
        s.aof.rewrite_scheduled = false;
        s.aof.rewrite_started = Some(Instant::now());
        notice!("Background append only file rewriting started");
        return Ok(());
    }
    // New commands go to a new incr file from now on.
    let incr = s.aof.manifest.new_incr(&fname);
    let file = cinnabar_aof::open_append(&d.join(&incr), true).map_err(|e| {
        s.aof.manifest.incr.pop();
        s.aof.manifest.curr_incr_seq -= 1;
        format!("ERR Can't open the append-only file {incr}: {e}")
    })?;
    match s.aof.writer.as_mut() {
        Some(w) => {
            let _ = w.flush(now, true);
            w.switch_file(file, &incr, now)
                .map_err(|e| format!("ERR {e}"))?;
            lvl_log(w.take_logs());
        }
        None => {
            let w = AofWriter::new(file, &incr, policy(s), now).map_err(|e| format!("ERR {e}"))?;
            s.aof.writer = Some(w);
            configure_writer(s);
        }
    }
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_rewrite_in_progress(true);
    }
    s.prop.reset_db();
    if s.aof.on {
        // The new incr file is part of the AOF right away.
        let _ = persist_manifest(s);
        notice!("Creating AOF incr file {incr} on background rewrite");
    }
    crate::propagate::refresh_enabled(s);
    let tmp = d.join(format!(
        "temp-rewriteaof-bg-{}-{}.aof",
        std::process::id(),
        crate::persist::next_job_seq()
    ));
    let preamble = s.settings.aof_use_rdb_preamble;
    crate::persist::start_aof_rewrite(s, &tmp, preamble).map_err(|e| format!("ERR {e}"))?;
    s.aof.rewrite_scheduled = false;
    s.aof.rewrite_started = Some(Instant::now());
    notice!("Background append only file rewriting started");
    Ok(())
}

/// The snapshot of a rewrite ended (`tmp` holds it when `ok`).
pub fn rewrite_done(s: &mut Server, tmp: &Path, res: io::Result<()>) {
    let secs = s
        .aof
        .rewrite_started
        .take()
        .map_or(-1, |t| t.elapsed().as_secs() as i64);
    s.aof.last_rewrite_time_sec = secs;
    if let Some(w) = s.aof.writer.as_mut() {
        w.set_rewrite_in_progress(false);
    }
    let fname = s.settings.appendfilename.clone();
    let d = dir(s);
    let finished = res.and_then(|()| {
        let base = s
            .aof
            .manifest
            .new_base(&fname, s.settings.aof_use_rdb_preamble);
        std::fs::rename(tmp, d.join(&base))?;
        notice!(
            "Successfully renamed the temporary AOF base file {} into {base}",
            tmp.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let keep_last = s.aof.on || s.aof.wait_rewrite;
        s.aof.manifest.mark_rewritten_incr_as_history(keep_last);
        persist_manifest(s)
    });
    match finished {
        Ok(()) => {
            fsync_dir(&d);
            notice!("Background AOF rewrite terminated with success");
            delete_history(s);
            s.aof.rewrites += 1;
            s.aof.last_rewrite_ok = true;
            s.aof.consecutive_failures = 0;
            s.aof.last_rewrite_success_unix = unix();
            if s.aof.wait_rewrite {
                s.aof.wait_rewrite = false;
                s.aof.on = true;
                notice!("Background AOF rewrite finished successfully");
            }
            refresh_sizes(s);
            s.aof.rewrite_base_size = s.aof.writer.as_ref().map_or(0, |w| w.current_size());
            notice!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            warning!("Background AOF rewrite terminated with error: {e}");
            s.aof.last_rewrite_ok = false;
            s.aof.consecutive_failures += 1;
            // Back off after three failures in a row: 1 minute, doubling up to an hour.
            if s.aof.consecutive_failures >= 3 {
                let f = (s.aof.consecutive_failures - 3).min(6);
                s.aof.next_retry_unix = unix() + (60i64 << f).min(3600);
                warning!("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} seconds", s.aof.next_retry_unix - unix());
            }
            if s.aof.wait_rewrite {
                // Still turning on: try again from the cron.
                s.aof.rewrite_scheduled = true;
            }
        }
    }
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
    let limited = s.aof.consecutive_failures >= 3 && unix() < s.aof.next_retry_unix;
    if s.aof.rewrite_scheduled && !limited {
        if let Err(e) = start_rewrite(s) {
            warning!("{e}");
        }
        return;
    }
    if s.aof.on && !limited && s.settings.auto_aof_rewrite_percentage > 0 {
        let cur = s.aof.writer.as_ref().map_or(0, |w| w.current_size());
        let min = s.settings.auto_aof_rewrite_min_size.max(0) as u64;
        let base = s.aof.rewrite_base_size.max(1);
        if cur > min {
            let growth = (cur as f64 / base as f64 - 1.0) * 100.0;
            if growth >= s.settings.auto_aof_rewrite_percentage as f64 {
                notice!(
                    "Starting automatic rewriting of AOF on {}% growth",
                    growth as i64
                );
                if let Err(e) = start_rewrite(s) {
                    warning!("{e}");
                }
            }
        }
    }
}

/// BGREWRITEAOF.
pub fn bgrewriteaof(s: &mut Server, c: &mut Client) {
    if s.persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == crate::persist::JobKind::AofRewrite)
    {
        return c
            .reply
            .error("ERR Background append only file rewriting already in progress");
    }
    if s.persist.bgsave.is_some() || s.in_exec {
        s.aof.rewrite_scheduled = true;
        return c
            .reply
            .simple("Background append only file rewriting scheduled");
    }
    match start_rewrite(s) {
        Ok(()) => c
            .reply
            .simple("Background append only file rewriting started"),
        Err(e) => c.reply.error(&e),
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

/// DEBUG LOADAOF: write out the AOF, empty the dataset and load it back.
pub fn debug_loadaof(s: &mut Server) -> Result<(), String> {
    if !s.aof.on {
        return Ok(());
    }
    flush(s, true);
    if let Some(w) = s.aof.writer.as_mut() {
        let _ = w.flush_and_sync(unix());
    }
    for db in s.ks.dbs.iter_mut() {
        db.clear();
    }
    s.aof.writer = None;
    s.aof.on = false;
    load_at_startup(s)?;
    notice!("Append Only File loaded by DEBUG LOADAOF");
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
        if a.last_rewrite_ok || a.rewrites == 0 && a.consecutive_failures == 0 { "ok" } else { "err" },
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
