//! RDB persistence glue: SAVE, BGSAVE, `save` points, DEBUG RELOAD, the shutdown save and
//! loading at startup — all on the fork-less snapshot (`cinnabar_keyspace::snapshot`).
//!
//! A background save is a task on the engine thread: it begins a snapshot, then repeatedly
//! takes a slice of about a millisecond, encodes keys in the RDB format into a chunk, hands
//! full chunks to a thread of the job through a bounded channel, and yields to the
//! connections. The engine writes strings uncompressed and notes where they are; the job's
//! thread LZF-compresses them (the costliest part of encoding, off the engine), computes the
//! CRC64, and either owns the file (writes `temp-<id>.rdb`, fsyncs it, renames it over
//! `dbfilename`, fsyncs the directory; or a pipe's stdin) or relays the finished chunks to the
//! connections that stream them (DUMPSAVE, replicas). When the consumer is slower than the
//! engine, the channel fills and the task waits (without blocking the engine); only the keys
//! written meanwhile cost memory (their old versions are kept for the snapshot).

use crate::server::{now_ms, Server};
use crate::{notice, warning};
use cinnabar_keyspace::value::Value;
use cinnabar_rdb::{AuxValue, EncodeOpts};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Hand chunks of about this size to the writer.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the engine and the writer thread.
const CHANNEL_CHUNKS: usize = 16;
/// Engine time one slice may take.
const SLICE: Duration = Duration::from_micros(1000);
/// Keys inserted together while loading (their cache misses overlap).
const LOAD_BATCH: usize = 128;
/// Retry a failed background save after this many seconds (Redis's CONFIG_BGSAVE_RETRY_DELAY),
/// doubling after each consecutive failure up to `RETRY_MAX_S`.
const RETRY_DELAY_S: i64 = 5;
const RETRY_MAX_S: i64 = 300;

/// Persistence state and the counters INFO persistence reports.
pub struct Persist {
    pub bgsave: Option<Bgsave>,
    pub last_bgsave_ok: bool,
    /// Background snapshot jobs started (BGSAVE, AOF rewrite, full sync): INFO `total_forks`,
    /// the counter tools watch to see a background save start (we do not fork).
    pub jobs_started: u64,
    /// µs the engine spent starting the last job: INFO `latest_fork_usec`.
    pub last_job_start_us: u64,
    pub last_bgsave_time_sec: i64,
    pub rdb_saves: u64,
    pub bgsave_scheduled: bool,
    pub last_bgsave_try: i64,
    /// Background saves failed in a row (the retry back-off).
    pub bgsave_failures: u32,
    pub last_cow_size: usize,
    pub cow_peak: usize,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// PIPESAVE: last result (None: never ran), its duration, how many ran.
    pub pipe_last_ok: Option<bool>,
    pub pipe_last_time_sec: i64,
    pub pipe_saves: u64,
}

impl Default for Persist {
    fn default() -> Self {
        Persist {
            bgsave: None,
            last_bgsave_ok: true,
            jobs_started: 0,
            last_job_start_us: 0,
            last_bgsave_time_sec: -1,
            rdb_saves: 0,
            bgsave_scheduled: false,
            last_bgsave_try: 0,
            bgsave_failures: 0,
            last_cow_size: 0,
            cow_peak: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            pipe_last_ok: None,
            pipe_last_time_sec: -1,
            pipe_saves: 0,
        }
    }
}

/// A background save in progress.
pub struct Bgsave {
    pub kind: JobKind,
    /// The temp file the job writes (BGSAVE, AOF rewrite).
    pub tmp: Option<PathBuf>,
    pub started: Instant,
    pub keys_total: u64,
    pub keys_done: Rc<Cell<u64>>,
    pub cancel: Rc<Cell<bool>>,
    pub dirty_before: u64,
    /// The writer child process (pid, exit status), for jobs written by one.
    pub child: Option<(libc::pid_t, std::sync::Arc<ChildExit>)>,
}

/// What a snapshot is encoded as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An RDB file.
    Rdb,
    /// Commands that rebuild the dataset (an AOF base without the RDB preamble).
    Commands,
}

/// Encodes snapshot output into chunks.
pub struct Encoder {
    pub format: Format,
    /// The RDB is an AOF base (aux `aof-base` 1).
    pub aof_base: bool,
    pub buf: Vec<u8>,
    /// Offsets in `buf` of the strings whose compression is left to the job's thread.
    spans: RefCell<Vec<usize>>,
    /// Compression is deferred (`spans`) rather than done while encoding.
    defer: bool,
    cur_index: Option<usize>,
    limits: cinnabar_keyspace::types::TypeLimits,
    opts: EncodeOpts,
    pub keys: u64,
}

impl Encoder {
    fn new(s: &Server) -> Self {
        Encoder {
            format: Format::Rdb,
            aof_base: false,
            buf: Vec::with_capacity(CHUNK + 64 * 1024),
            spans: RefCell::new(Vec::new()),
            defer: false,
            cur_index: None,
            limits: s.settings.limits,
            opts: EncodeOpts {
                compress: s.settings.rdbcompression,
            },
            keys: 0,
        }
    }

    fn header(&mut self, s: &Server) {
        if self.format == Format::Commands {
            if s.settings.aof_timestamp_enabled {
                let t = format!("#TS:{}\r\n", now_ms() / 1000);
                self.buf.extend_from_slice(t.as_bytes());
            }
            // The function libraries come first, as Redis's rewriteFunctions.
            for code in s.scripting.funcs.codes() {
                encode_cmd(&mut self.buf, &[b"FUNCTION", b"LOAD", &code]);
            }
            return;
        }
        let ctime = now_ms() / 1000;
        let used = crate::cmds::introspect::allocator_stats().0 as i64;
        let mut aux: Vec<(&[u8], AuxValue)> = vec![
            (
                b"redis-ver",
                AuxValue::Str(crate::REDIS_VERSION.as_bytes().to_vec()),
            ),
            (b"redis-bits", AuxValue::Int(64)),
            (b"ctime", AuxValue::Int(ctime)),
            (b"used-mem", AuxValue::Int(used)),
        ];
        if s.repl_buf.active || s.master.is_some() {
            // Where this snapshot stands in the replication history: a master restarted
            // from it (or a replica) can then continue its replicas' (its own) stream with a
            // partial resync (PSYNC2), as Redis's rdbSaveInfo.
            // A replica records the database its master's stream has selected.
            let db = if s.master.is_some() {
                s.master_db
            } else {
                s.prop.cur_db().unwrap_or(0)
            } as i64;
            aux.push((b"repl-stream-db", AuxValue::Int(db)));
            aux.push((b"repl-id", AuxValue::Str(s.replid.as_bytes().to_vec())));
            aux.push((b"repl-offset", AuxValue::Int(s.prop.offset as i64)));
        }
        aux.push((b"aof-base", AuxValue::Int(self.aof_base as i64)));
        cinnabar_rdb::write_header(&mut self.buf, &aux);
        // The function libraries, before the keys (taken at the snapshot's start).
        for code in s.scripting.funcs.codes() {
            cinnabar_rdb::write_function(&mut self.buf, &code);
        }
    }

    fn key(&mut self, index: usize, sizes: (usize, usize), k: &[u8], v: &Value, exp: Option<i64>) {
        if self.format == Format::Commands {
            if self.cur_index != Some(index) {
                let n = index.to_string();
                encode_cmd(&mut self.buf, &[b"SELECT", n.as_bytes()]);
                self.cur_index = Some(index);
            }
            write_key_commands(&mut self.buf, k, v, exp);
            self.keys += 1;
            return;
        }
        if self.cur_index != Some(index) {
            cinnabar_rdb::write_select_db(&mut self.buf, index as u64);
            cinnabar_rdb::write_resize_db(&mut self.buf, sizes.0 as u64, sizes.1 as u64);
            self.cur_index = Some(index);
        }
        if self.defer {
            cinnabar_rdb::write_key_deferred(&mut self.buf, &self.spans, k, v, exp, &self.limits);
        } else {
            cinnabar_rdb::write_key(
                &mut self.buf,
                k,
                v,
                exp,
                None,
                None,
                &self.limits,
                &self.opts,
            );
        }
        self.keys += 1;
    }

    /// The chunk encoded so far, with its deferred-compression offsets.
    fn take_part(&mut self) -> Part {
        let buf = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 64 * 1024));
        Part::Chunk(buf, std::mem::take(&mut *self.spans.borrow_mut()))
    }

    fn footer(&mut self) {
        if self.format == Format::Rdb {
            cinnabar_rdb::write_eof(&mut self.buf);
        }
    }
}

/// Appends one command in RESP (`*N` of bulks), as the AOF stores it.
pub fn encode_cmd(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Elements per command when a collection is rewritten as commands (Redis's
/// AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// The commands that rebuild one key, as Redis's AOF rewrite writes them: SET, RPUSH, SADD,
/// ZADD, HMSET (collections in batches of 64 elements), then PEXPIREAT.
fn write_key_commands(out: &mut Vec<u8>, key: &[u8], v: &Value, exp: Option<i64>) {
    fn batches(out: &mut Vec<u8>, cmd: &[u8], key: &[u8], items: Vec<Vec<u8>>, per: usize) {
        for chunk in items.chunks(ITEMS_PER_CMD * per) {
            let mut args: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 2);
            args.push(cmd);
            args.push(key);
            args.extend(chunk.iter().map(|x| x.as_slice()));
            encode_cmd(out, &args);
        }
    }
    match v {
        Value::Str(x) => encode_cmd(out, &[b"SET", key, x]),
        Value::List(l) => batches(
            out,
            b"RPUSH",
            key,
            l.iter().map(|e| e.to_vec()).collect(),
            1,
        ),
        Value::Set(st) => batches(
            out,
            b"SADD",
            key,
            st.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect(),
            1,
        ),
        Value::ZSet(z) => {
            let mut items = Vec::with_capacity(z.len() * 2);
            z.for_each(|m, score| {
                items.push(cinnabar_util::num::fmt_g17(score).into_bytes());
                items.push(m.to_vec());
            });
            batches(out, b"ZADD", key, items, 2);
        }
        Value::Hash(h) => {
            let mut items = Vec::with_capacity(h.len() * 2);
            for (f, val) in h.iter() {
                items.push(f.to_vec());
                items.push(val.to_vec());
            }
            batches(out, b"HMSET", key, items, 2);
        }
        Value::Stream(st) => write_stream_commands(out, key, st),
    }
    if let Some(ms) = exp {
        let t = ms.to_string();
        encode_cmd(out, &[b"PEXPIREAT", key, t.as_bytes()]);
    }
}

/// A stream as Redis's AOF rewrite writes it: one XADD per entry (or XADD MAXLEN 0 of a
/// dummy entry for an empty stream), XSETID with ENTRIESADDED/MAXDELETEDID, then per group
/// XGROUP CREATE ... ENTRIESREAD, and per consumer its PEL as XCLAIM ... JUSTID FORCE (or
/// XGROUP CREATECONSUMER when it has none).
fn write_stream_commands(
    out: &mut Vec<u8>,
    key: &[u8],
    st: &cinnabar_keyspace::types::stream::StreamValue,
) {
    use cinnabar_keyspace::types::stream::StreamId;
    if st.length > 0 {
        st.range(StreamId::MIN, StreamId::MAX, false, &mut |e| {
            let id = e.id.to_text();
            let mut vals: Vec<Vec<u8>> = Vec::with_capacity(e.fields.len() * 2);
            for (f, v) in &e.fields {
                vals.push(f.to_vec());
                vals.push(v.to_vec());
            }
            let mut args: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
            args.extend(vals.iter().map(|x| x.as_slice()));
            encode_cmd(out, &args);
            true
        });
    } else {
        encode_cmd(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    }
    let last = st.last_id.to_text();
    let added = st.entries_added.to_string();
    let maxdel = st.max_deleted_entry_id.to_text();
    encode_cmd(
        out,
        &[
            b"XSETID",
            key,
            last.as_bytes(),
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            maxdel.as_bytes(),
        ],
    );
    for (name, g) in &st.groups {
        let gl = g.last_id.to_text();
        let er = g.entries_read.to_string();
        encode_cmd(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                gl.as_bytes(),
                b"ENTRIESREAD",
                er.as_bytes(),
            ],
        );
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                encode_cmd(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
                continue;
            }
            for id in &c.pel {
                let Some(n) = g.pel.get(id) else {
                    continue;
                };
                let ids = id.to_text();
                let t = n.delivery_time.to_string();
                let rc = n.delivery_count.to_string();
                encode_cmd(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        ids.as_bytes(),
                        b"TIME",
                        t.as_bytes(),
                        b"RETRYCOUNT",
                        rc.as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// Runs snapshot slices until `deadline` (None: to the end) or a full chunk; true when the
/// snapshot is complete.
fn run_slice(
    s: &mut Server,
    enc: &mut Encoder,
    deadline: Option<Instant>,
    per_step: usize,
) -> bool {
    loop {
        let next =
            s.ks.dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.snap.active)
                .min_by_key(|(_, d)| d.snap.index)
                .map(|(i, _)| i);
        let Some(i) = next else {
            return true;
        };
        let db = &mut s.ks.dbs[i];
        let index = db.snap.index;
        let sizes = (db.len(), db.expires.len());
        db.snap_step(per_step, &mut |k, v, e, _lru| {
            enc.key(index, sizes, k, v, e)
        });
        if enc.buf.len() >= CHUNK {
            return false;
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                return false;
            }
        }
    }
}

/// Where a background snapshot's bytes go, on a writer thread of its own: the CRC64 is
/// computed as they pass and appended by `finish`.
trait Out: Send {
    fn write(&mut self, b: &[u8]) -> io::Result<()>;
    /// Writes the 8-byte checksum and completes (fsync + rename, or the command's exit).
    fn finish(self: Box<Self>, crc: u64) -> io::Result<()>;
    /// Abandons the output (temp file removed, command killed).
    fn discard(self: Box<Self>);
}

/// The RDB file being written: then fsync, rename, fsync of the directory.
struct RdbFile {
    out: BufWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl RdbFile {
    fn create(tmp: PathBuf, dest: PathBuf) -> io::Result<RdbFile> {
        let f = File::create(&tmp)?;
        Ok(RdbFile {
            out: BufWriter::with_capacity(64 * 1024, f),
            tmp,
            dest,
        })
    }
}

impl Out for RdbFile {
    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)
    }

    fn finish(mut self: Box<Self>, crc: u64) -> io::Result<()> {
        let r = (|| {
            self.out.write_all(&crc.to_le_bytes())?;
            self.out.flush()?;
            self.out.get_ref().sync_all()?;
            std::fs::rename(&self.tmp, &self.dest)?;
            fsync_dir(&self.dest);
            Ok(())
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        r
    }

    fn discard(self: Box<Self>) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}

/// A foreground snapshot of the whole dataset into `path` (fsynced), as an RDB (an AOF base
/// with the preamble) or as commands.
pub fn write_snapshot_file(s: &mut Server, path: &Path, rdb: bool) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut enc = Encoder::new(s);
    enc.format = if rdb { Format::Rdb } else { Format::Commands };
    enc.aof_base = true;
    let crc = run_foreground(s, &mut enc, &mut |b| out.write_all(b))?;
    if rdb {
        let sum = if s.settings.rdbchecksum { crc } else { 0 };
        out.write_all(&sum.to_le_bytes())?;
    }
    out.flush()?;
    out.get_ref().sync_all()
}

/// A whole snapshot in the foreground (the engine does nothing else meanwhile, as Redis's
/// SAVE): header, every key, footer, each chunk handed to `sink`. Returns the CRC-64 of what
/// was written. `rdb-key-save-delay` (microseconds per key) slows it too, as in Redis.
fn run_foreground(
    s: &mut Server,
    enc: &mut Encoder,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    s.ks.snapshot_begin();
    enc.header(s);
    let mut crc = cinnabar_rdb::Crc64::new();
    let delay = s.settings.rdb_key_save_delay.max(0) as u64;
    let res = loop {
        let done = if delay > 0 {
            let before = enc.keys;
            let d = run_slice(s, enc, Some(Instant::now()), 1);
            std::thread::sleep(Duration::from_micros(delay * (enc.keys - before)));
            d
        } else {
            run_slice(s, enc, None, 1024)
        };
        if done {
            enc.footer();
        }
        crc.update(&enc.buf);
        if let Err(e) = sink(&enc.buf) {
            break Err(e);
        }
        enc.buf.clear();
        if done {
            break Ok(crc.finish());
        }
    };
    s.ks.snapshot_abort();
    res
}

/// Starts the snapshot of an AOF rewrite into `tmp` (RDB preamble or commands).
pub fn start_aof_rewrite(s: &mut Server, tmp: &Path, preamble: bool) -> io::Result<()> {
    // Opened here first (errors at once), then written by the writer child.
    drop(File::create(tmp)?);
    let out = ChildFile::spawn(Some(tmp.to_path_buf()), Path::new("."), None, preamble)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(tmp);
        })?;
    let child = (out.pid, out.exit.clone());
    let (dtx, drx) = tokio::sync::oneshot::channel();
    let tx = spawn_writer(Box::new(out), s.settings.rdbchecksum, dtx);
    let format = if preamble {
        Format::Rdb
    } else {
        Format::Commands
    };
    start_job_as(s, JobKind::AofRewrite, tx, drx, format);
    if let Some(b) = s.persist.bgsave.as_mut() {
        b.tmp = Some(tmp.to_path_buf());
        b.child = Some(child.clone());
    }
    Ok(())
}

/// The first argument that makes `cinnabar-server` a snapshot file writer (see `ChildFile`).
pub const WRITER_ARG: &str = "--cinnabar-snapshot-writer";

/// The writer child's whole life: copies its stdin into the file named by its argument,
/// fsyncs it and exits 0; any error exits 1 (the parent then fails the job and removes the
/// file). It dies with the server.
pub fn writer_child_main(args: &[String]) -> i32 {
    // SAFETY: prctl with an integer signal; no memory is involved.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    // `--pid-named <dir>`: the file is `<dir>/temp-<own pid>.rdb`, as Redis's fork child
    // names its temp file.
    let path = match (args.first().map(String::as_str), args.get(1)) {
        (Some("--pid-named"), Some(dir)) => Path::new(dir)
            .join(format!("temp-{}.rdb", std::process::id()))
            .display()
            .to_string(),
        (Some(p), _) => p.to_string(),
        _ => return 1,
    };
    let r = (|| -> io::Result<()> {
        let mut f = File::create(&path)?;
        io::copy(&mut io::stdin().lock(), &mut f)?;
        f.sync_all()
    })();
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("snapshot writer: {path}: {e}");
            1
        }
    }
}

/// How the writer child ended, shared by the job's thread and the cron (whichever reaps it
/// first records the status): None while it runs.
#[derive(Default)]
pub struct ChildExit {
    status: std::sync::Mutex<Option<libc::c_int>>,
}

impl ChildExit {
    /// Reaps `pid` if it has ended (never blocks) and returns its wait status.
    pub fn poll(&self, pid: libc::pid_t) -> Option<libc::c_int> {
        let mut g = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let mut st: libc::c_int = 0;
            // SAFETY: waitpid on our own child with a status out-parameter we own.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                *g = Some(st);
            } else if r < 0 {
                // Already reaped elsewhere or gone: treat as a failure.
                *g = Some(libc::SIGKILL);
            }
        }
        *g
    }
}

/// A wait status as Redis's logs word it.
pub fn describe_exit(st: libc::c_int) -> Option<String> {
    if libc::WIFSIGNALED(st) {
        Some(format!("terminated by signal {}", libc::WTERMSIG(st)))
    } else if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 {
        Some(format!("exited with code {}", libc::WEXITSTATUS(st)))
    } else {
        None
    }
}

/// A background snapshot's file, written by a child process (`cinnabar-server
/// --cinnabar-snapshot-writer <tmp>`) fed through a pipe, as Redis's fork child writes it: the
/// job shows as a child process (`pgrep -P`), and killing it fails the job (the cron notices,
/// see `watch_child`). Then the rename into place (RDB) and the directory fsync.
struct ChildFile {
    pid: libc::pid_t,
    exit: std::sync::Arc<ChildExit>,
    stdin: Option<BufWriter<std::process::ChildStdin>>,
    tmp: PathBuf,
    dest: Option<PathBuf>,
    write_crc: bool,
}

impl ChildFile {
    /// A child writing `tmp`, or, with `tmp` None, `temp-<child pid>.rdb` in `dir` (as Redis's
    /// BGSAVE child names it).
    fn spawn(
        tmp: Option<PathBuf>,
        dir: &Path,
        dest: Option<PathBuf>,
        write_crc: bool,
    ) -> io::Result<ChildFile> {
        let exe = std::env::current_exe()?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg(WRITER_ARG);
        match &tmp {
            Some(t) => cmd.arg(t),
            None => cmd.arg("--pid-named").arg(dir),
        };
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(64 * 1024, s));
        let pid = child.id() as libc::pid_t;
        // Reaped with waitpid through `ChildExit`, never through `child`.
        drop(child);
        let f = ChildFile {
            pid,
            exit: Default::default(),
            stdin,
            tmp: tmp.unwrap_or_else(|| dir.join(format!("temp-{pid}.rdb"))),
            dest,
            write_crc,
        };
        // Opened here too (never truncated), so a bad directory fails at once.
        if let Err(e) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&f.tmp)
        {
            Box::new(f).discard();
            return Err(e);
        }
        Ok(f)
    }

    /// Waits for the child to end and returns its status.
    fn wait(&self) -> libc::c_int {
        loop {
            if let Some(st) = self.exit.poll(self.pid) {
                return st;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Out for ChildFile {
    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(w) => w.write_all(b),
            None => Err(io::Error::other("no writer")),
        }
    }

    fn finish(mut self: Box<Self>, crc: u64) -> io::Result<()> {
        let r = (|| {
            let mut w = self
                .stdin
                .take()
                .ok_or_else(|| io::Error::other("no writer"))?;
            if self.write_crc {
                w.write_all(&crc.to_le_bytes())?;
            }
            w.flush()?;
            drop(w);
            if let Some(e) = describe_exit(self.wait()) {
                return Err(io::Error::other(format!("snapshot writer {e}")));
            }
            if let Some(dest) = &self.dest {
                std::fs::rename(&self.tmp, dest)?;
                fsync_dir(dest);
            }
            Ok(())
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        r
    }

    fn discard(mut self: Box<Self>) {
        self.stdin = None;
        if self.exit.poll(self.pid).is_none() {
            // SAFETY: our own child, not yet reaped (so the pid is still ours).
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            }
            self.wait();
        }
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// The cron's watch on a job's writer child: when it died before finishing (killed, a write
/// error), the job fails at once, as Redis's `checkChildrenDone` notices a dead fork child.
fn watch_child(s: &mut Server) {
    let Some((pid, exit)) = s.persist.bgsave.as_ref().and_then(|b| b.child.clone()) else {
        return;
    };
    let Some(st) = exit.poll(pid) else {
        return;
    };
    // A clean exit is the job finishing: its task completes it.
    let Some(why) = describe_exit(st) else {
        return;
    };
    if let Some(bg) = s.persist.bgsave.as_ref() {
        bg.cancel.set(true);
    }
    let what = if s
        .persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == JobKind::AofRewrite)
    {
        "Background AOF rewrite"
    } else {
        "Background saving"
    };
    warning!("{what} {why}");
    // The dead child's temp file goes now (as Redis removes it when it reaps the child).
    if let Some(tmp) = s.persist.bgsave.as_ref().and_then(|b| b.tmp.clone()) {
        if s.persist
            .bgsave
            .as_ref()
            .is_some_and(|b| b.kind == JobKind::Disk)
        {
            let _ = std::fs::remove_file(tmp);
        }
    }
    finish_bgsave(s, Err(io::Error::other(format!("writer child {why}"))));
}

/// PIPESAVE's output: the stdin of `pipesave-command` run by `/bin/sh -c`.
struct PipeOut {
    child: std::process::Child,
    stdin: Option<BufWriter<std::process::ChildStdin>>,
}

impl PipeOut {
    fn spawn(cmd: &str) -> io::Result<PipeOut> {
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::piped())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(64 * 1024, s));
        Ok(PipeOut { child, stdin })
    }
}

impl Out for PipeOut {
    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(w) => w.write_all(b),
            None => Err(io::Error::other("no stdin")),
        }
    }

    fn finish(mut self: Box<Self>, crc: u64) -> io::Result<()> {
        let r = match self.stdin.take() {
            Some(mut w) => w.write_all(&crc.to_le_bytes()).and_then(|_| w.flush()),
            None => Err(io::Error::other("no stdin")),
        };
        // Closing stdin tells the command the stream is complete.
        let status = self.child.wait()?;
        r?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "pipesave-command exited with {status}"
            )))
        }
    }

    fn discard(mut self: Box<Self>) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fsync_dir(file: &Path) {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn rdb_path(s: &Server) -> PathBuf {
    PathBuf::from(
        s.cfg
            .get_value("dbfilename")
            .unwrap_or_else(|| "dump.rdb".into()),
    )
}

/// The temp file of a foreground save (SAVE, the shutdown save).
pub fn shutdown_temp_path(s: &Server) -> PathBuf {
    temp_path(s, false)
}

/// A number for each background job's temp file, unique in this process.
pub fn next_job_seq() -> u64 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

fn temp_path(s: &Server, bg: bool) -> PathBuf {
    let dest = rdb_path(s);
    let name = if bg {
        // One name per job: a stopped job's thread may still be removing its file when the
        // next job starts.
        format!("temp-bg-{}-{}.rdb", std::process::id(), next_job_seq())
    } else {
        format!("temp-{}.rdb", std::process::id())
    };
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(name),
        _ => PathBuf::from(name),
    }
}

/// SAVE: a foreground save. Err carries the log line.
pub fn save_sync(s: &mut Server) -> Result<(), String> {
    if s.persist.bgsave.is_some() {
        return Err("Background save already in progress".into());
    }
    let tmp = temp_path(s, false);
    let dest = rdb_path(s);
    let mut file = match RdbFile::create(tmp.clone(), dest) {
        Ok(f) => f,
        Err(e) => {
            let dir = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let msg = format!(
                "Failed opening the temp RDB file {} (in server root dir {dir}) for saving: {e}",
                tmp.display()
            );
            warning!("{msg}");
            // As Redis's rdbSave: a failed foreground save is reported to its caller only
            // (it does not turn writes into -MISCONF).
            return Err(msg);
        }
    };
    let mut enc = Encoder::new(s);
    let res = run_foreground(s, &mut enc, &mut |b| file.write(b));
    let file = Box::new(file);
    let res = match res {
        Ok(crc) => file.finish(if s.settings.rdbchecksum { crc } else { 0 }),
        Err(e) => {
            file.discard();
            Err(e)
        }
    };
    match res {
        Ok(()) => {
            notice!("DB saved on disk");
            s.dirty = 0;
            s.lastsave = now_ms() / 1000;
            s.persist.last_bgsave_ok = true;
            Ok(())
        }
        Err(e) => {
            let msg = format!("Write error saving DB on disk: {e}");
            warning!("{msg}");
            Err(msg)
        }
    }
}

/// What a connection streaming a snapshot receives.
pub enum Msg {
    /// Bytes that go before the snapshot (a replica's `+FULLRESYNC <replid> <offset>`).
    Preamble(Vec<u8>),
    /// A chunk, and (for zstd links) the same chunk as the next piece of the relay's zstd
    /// frame, compressed once for every replica that wants it, off the engine thread.
    Data(std::sync::Arc<Vec<u8>>, Option<std::sync::Arc<Vec<u8>>>),
    /// The end, with the CRC-64 of all the data (and the end of the relay's zstd frame).
    Finish(u64, Option<std::sync::Arc<Vec<u8>>>),
}

/// What the engine hands to a job's thread: a chunk as encoded (strings at the offsets still
/// to be compressed), then the end.
pub enum Part {
    Chunk(Vec<u8>, Vec<usize>),
    Finish,
}

/// A chunk in its final form: the deferred strings LZF-compressed where that pays.
fn finish_chunk(buf: Vec<u8>, spans: &[usize]) -> Vec<u8> {
    if spans.is_empty() {
        return buf;
    }
    let mut out = Vec::with_capacity(buf.len());
    cinnabar_rdb::compress_deferred(&buf, spans, &mut out);
    out
}

/// The writer thread of a background save: finishes each chunk, computes the CRC64 as the
/// bytes pass, then `finish`.
fn spawn_writer(
    mut out: Box<dyn Out>,
    checksum: bool,
    done: tokio::sync::oneshot::Sender<io::Result<()>>,
) -> SyncSender<Part> {
    let (tx, rx): (SyncSender<Part>, Receiver<Part>) = sync_channel(CHANNEL_CHUNKS);
    let spawned = std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || {
            let mut crc = cinnabar_rdb::Crc64::new();
            loop {
                match rx.recv() {
                    Ok(Part::Chunk(b, spans)) => {
                        let b = finish_chunk(b, &spans);
                        crc.update(&b);
                        if let Err(e) = out.write(&b) {
                            out.discard();
                            let _ = done.send(Err(e));
                            return;
                        }
                    }
                    Ok(Part::Finish) => {
                        let sum = if checksum { crc.finish() } else { 0 };
                        let _ = done.send(out.finish(sum));
                        return;
                    }
                    Err(_) => {
                        // Cancelled: the engine dropped its end.
                        out.discard();
                        let _ = done.send(Err(io::Error::other("cancelled")));
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        warning!("Can't start the RDB writer thread: {e}");
    }
    tx
}

/// The relay thread of a snapshot streamed to connections (DUMPSAVE, `redis-cli --rdb`, one
/// or several replicas): finishes each chunk, computes the CRC64, and hands the chunk to every
/// connection still there. One that went away is dropped and the others go on; when none is
/// left the job ends ("the client went away").
/// With disk-based replication (`repl-diskless-sync no`) the relay also writes the RDB file
/// (the snapshot is then a BGSAVE too); `keep` lets it finish when no replica waits any more
/// (save points make the file useful on its own, as Redis keeps its child then).
struct Tee {
    out: Box<dyn Out>,
    checksum: bool,
    keep: bool,
}

fn spawn_relay(
    mut conns: Vec<tokio::sync::mpsc::Sender<Msg>>,
    done: tokio::sync::oneshot::Sender<io::Result<()>>,
    replicas: bool,
    zstd: bool,
    mut tee: Option<Tee>,
) -> SyncSender<Part> {
    let (tx, rx): (SyncSender<Part>, Receiver<Part>) = sync_channel(4);
    let spawned = std::thread::Builder::new()
        .name("rdb-relay".into())
        .spawn(move || {
            let mut crc = cinnabar_rdb::Crc64::new();
            let gone = || {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the client went away",
                ))
            };
            // One zstd frame of the whole snapshot, at the fastest level, for the replicas
            // on compressed links (its strings are LZF-compressed already).
            let mut z = if zstd {
                crate::repl_link::Compressor::new(1).ok()
            } else {
                None
            };
            loop {
                let msg = match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(Part::Chunk(b, spans)) => {
                        let b = finish_chunk(b, &spans);
                        crc.update(&b);
                        if let Some(t) = tee.as_mut() {
                            if let Err(e) = t.out.write(&b) {
                                if let Some(t) = tee.take() {
                                    t.out.discard();
                                }
                                let _ = done.send(Err(e));
                                return;
                            }
                        }
                        let packed = z.as_mut().and_then(|z| {
                            let mut out = Vec::new();
                            z.compress(&b, &mut out)
                                .ok()
                                .map(|()| std::sync::Arc::new(out))
                        });
                        Msg::Data(std::sync::Arc::new(b), packed)
                    }
                    Ok(Part::Finish) => {
                        let end = z.as_mut().and_then(|z| {
                            let mut out = Vec::new();
                            z.finish(&mut out).ok().map(|()| std::sync::Arc::new(out))
                        });
                        Msg::Finish(crc.finish(), end)
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // A slow snapshot: stop it as soon as nobody waits for it any more.
                        conns.retain(|c| !c.is_closed());
                        if conns.is_empty() && !tee.as_ref().is_some_and(|t| t.keep) {
                            if let Some(t) = tee.take() {
                                t.out.discard();
                            }
                            let _ = done.send(gone());
                            return;
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        if let Some(t) = tee.take() {
                            t.out.discard();
                        }
                        let _ = done.send(Err(io::Error::other("cancelled")));
                        return;
                    }
                };
                let last = matches!(msg, Msg::Finish(..));
                conns.retain(|c| {
                    let m = match &msg {
                        Msg::Data(b, z) => Msg::Data(b.clone(), z.clone()),
                        Msg::Finish(c, z) => Msg::Finish(*c, z.clone()),
                        Msg::Preamble(p) => Msg::Preamble(p.clone()),
                    };
                    c.blocking_send(m).is_ok()
                });
                if conns.is_empty() && !tee.as_ref().is_some_and(|t| t.keep) {
                    if let Some(t) = tee.take() {
                        t.out.discard();
                    }
                    let _ = done.send(gone());
                    return;
                }
                if let (true, Msg::Finish(sum, _)) = (last, &msg) {
                    if replicas && tee.is_none() {
                        notice!(
                            "Diskless rdb transfer, done reading from pipe, {} replicas still up.",
                            conns.len()
                        );
                    }
                    let r = match tee.take() {
                        Some(t) => t.out.finish(if t.checksum { *sum } else { 0 }),
                        None => Ok(()),
                    };
                    let _ = done.send(r);
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        warning!("Can't start the RDB relay thread: {e}");
    }
    tx
}

/// What a background snapshot is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobKind {
    /// BGSAVE, a `save` point: the RDB file.
    Disk,
    /// PIPESAVE: the stdin of `pipesave-command`.
    Pipe,
    /// DUMPSAVE or `SYNC` from `redis-cli --rdb`: a client's connection.
    Client,
    /// BGREWRITEAOF: the AOF's next base file.
    AofRewrite,
}

/// BGSAVE: starts a background save. Err carries the reply error.
pub fn start_bgsave(s: &mut Server) -> Result<(), String> {
    if s.persist.bgsave.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    s.persist.last_bgsave_try = now_ms() / 1000;
    let dest = rdb_path(s);
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file = match ChildFile::spawn(None, &dir, Some(dest), true) {
        Ok(f) => f,
        Err(e) => {
            let tmp = dir.join("temp-<child>.rdb");
            warning!(
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
                tmp.display(),
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
            s.persist.last_bgsave_ok = false;
            s.persist.bgsave_failures += 1;
            return Err("ERR".into());
        }
    };
    let (dtx, drx) = tokio::sync::oneshot::channel();
    let child = (file.pid, file.exit.clone());
    let tmp_path = file.tmp.clone();
    let tx = spawn_writer(Box::new(file), s.settings.rdbchecksum, dtx);
    s.persist.rdb_saves += 1;
    start_job(s, JobKind::Disk, tx, drx);
    if let Some(b) = s.persist.bgsave.as_mut() {
        b.child = Some(child.clone());
        b.tmp = Some(tmp_path);
    }
    notice!("Background saving started by pid {}", child.0);
    Ok(())
}

/// PIPESAVE: streams a snapshot into the stdin of `pipesave-command`.
pub fn start_pipesave(s: &mut Server) -> Result<(), String> {
    if s.persist.bgsave.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    let cmd = s.cfg.get_value("pipesave-command").unwrap_or_default();
    if cmd.is_empty() {
        return Err("ERR pipesave-command is not set in the configuration file".into());
    }
    let out = match PipeOut::spawn(&cmd) {
        Ok(o) => o,
        Err(e) => {
            warning!("Can't start pipesave-command: {e}");
            s.persist.pipe_last_ok = Some(false);
            return Err(format!("ERR Can't start pipesave-command: {e}"));
        }
    };
    let (dtx, drx) = tokio::sync::oneshot::channel();
    let tx = spawn_writer(Box::new(out), s.settings.rdbchecksum, dtx);
    start_job(s, JobKind::Pipe, tx, drx);
    notice!("Background pipe save started");
    Ok(())
}

/// DUMPSAVE / SYNC: a snapshot streamed to the calling client; the returned receiver yields
/// its chunks (the client adds the checksum).
pub fn start_client_stream(s: &mut Server) -> Result<tokio::sync::mpsc::Receiver<Msg>, String> {
    if s.persist.bgsave.is_some() {
        return Err("ERR Background save already in progress".into());
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (dtx, drx) = tokio::sync::oneshot::channel();
    let relay = spawn_relay(vec![tx], dtx, false, false, None);
    start_job(s, JobKind::Client, relay, drx);
    notice!("Starting snapshot streamed to a client");
    Ok(rx)
}

/// A replica (or `redis-cli --rdb`) waiting for the next shared snapshot.
pub struct PendingSync {
    pub client: u64,
    pub tx: tokio::sync::mpsc::Sender<Msg>,
    /// PSYNC (gets `+FULLRESYNC <replid> <offset>` first) rather than SYNC.
    pub psync: bool,
    /// Only the snapshot (rdb-only): not attached to the stream.
    pub rdb_only: bool,
    /// It reads the diskless framing (`capa eof`); others get a snapshot at once, as Redis
    /// starts a disk-based one for them without the diskless delay.
    pub eof: bool,
    /// Its link is zstd-compressed (the relay then compresses the snapshot once for all).
    pub zstd: bool,
    pub since: Instant,
}

/// The cron's part for replicas waiting for a snapshot: once no snapshot runs and the first
/// has waited `repl-diskless-sync-delay` seconds (or `repl-diskless-sync-max-replicas` are
/// waiting), one snapshot starts for all of them; each one's stream starts at its offset.
pub fn start_pending_syncs(s: &mut Server) {
    if s.pending_syncs.is_empty() || s.persist.bgsave.is_some() {
        return;
    }
    s.pending_syncs.retain(|p| !p.tx.is_closed());
    let Some(oldest) = s.pending_syncs.iter().map(|p| p.since).min() else {
        return;
    };
    let num = |k: &str, d: u64| {
        s.cfg
            .get_value(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(d)
    };
    let delay = num("repl-diskless-sync-delay", 5);
    let max = num("repl-diskless-sync-max-replicas", 0) as usize;
    let diskless = s
        .cfg
        .get_value("repl-diskless-sync")
        .is_none_or(|v| v == "yes");
    let all_diskless = diskless && s.pending_syncs.iter().all(|p| p.eof);
    if all_diskless
        && oldest.elapsed() < Duration::from_secs(delay)
        && !(max > 0 && s.pending_syncs.len() >= max)
    {
        return;
    }
    let pending = std::mem::take(&mut s.pending_syncs);
    let zstd = pending.iter().any(|p| p.zstd && p.eof);
    let offset = s.prop.offset;
    let mut txs = Vec::with_capacity(pending.len());
    let mut attached = 0;
    for p in pending {
        if p.psync {
            let pre = format!("+FULLRESYNC {} {}\r\n", s.replid, offset).into_bytes();
            if p.tx.try_send(Msg::Preamble(pre)).is_err() {
                continue;
            }
        }
        if !p.rdb_only {
            crate::cmds::attach_replica(s, p.client, offset);
            attached += 1;
        }
        txs.push(p.tx);
    }
    if txs.is_empty() {
        return;
    }
    if attached > 0 {
        // The stream the new replicas get starts with a SELECT.
        s.prop.reset_db();
    }
    if diskless {
        notice!(
            "Starting BGSAVE for SYNC with target: replicas sockets ({} replica{})",
            txs.len(),
            if txs.len() == 1 { "" } else { "s" }
        );
    } else {
        notice!("Starting BGSAVE for SYNC with target: disk");
    }
    let (dtx, drx) = tokio::sync::oneshot::channel();
    if !diskless {
        // Disk-based: the snapshot is a BGSAVE of the RDB file, relayed to the replicas as
        // it is written.
        let tmp = temp_path(s, true);
        if let Ok(file) = RdbFile::create(tmp, rdb_path(s)) {
            let tee = Tee {
                out: Box::new(file),
                checksum: s.settings.rdbchecksum,
                keep: !s.settings.save_params.is_empty(),
            };
            s.persist.last_bgsave_try = now_ms() / 1000;
            s.persist.rdb_saves += 1;
            let relay = spawn_relay(txs, dtx, true, zstd, Some(tee));
            start_job(s, JobKind::Disk, relay, drx);
            notice!("Background saving started by pid {}", std::process::id());
            return;
        }
    }
    let relay = spawn_relay(txs, dtx, true, zstd, None);
    start_job(s, JobKind::Client, relay, drx);
    notice!(
        "Background RDB transfer started by pid {}",
        std::process::id()
    );
}

fn start_job(
    s: &mut Server,
    kind: JobKind,
    sink: SyncSender<Part>,
    done: tokio::sync::oneshot::Receiver<io::Result<()>>,
) {
    start_job_as(s, kind, sink, done, Format::Rdb);
}

fn start_job_as(
    s: &mut Server,
    kind: JobKind,
    sink: SyncSender<Part>,
    done: tokio::sync::oneshot::Receiver<io::Result<()>>,
    format: Format,
) {
    let t0 = Instant::now();
    s.ks.snapshot_begin();
    s.persist.jobs_started += 1;
    let mut enc = Encoder::new(s);
    enc.format = format;
    enc.defer = format == Format::Rdb && enc.opts.compress;
    enc.aof_base = kind == JobKind::AofRewrite;
    enc.header(s);
    let cancel = Rc::new(Cell::new(false));
    let keys_done = Rc::new(Cell::new(0));
    s.persist.bgsave = Some(Bgsave {
        kind,
        tmp: None,
        started: Instant::now(),
        keys_total: s.ks.total_keys() as u64,
        keys_done: keys_done.clone(),
        cancel: cancel.clone(),
        dirty_before: s.dirty,
        child: None,
    });
    s.persist.last_job_start_us = t0.elapsed().as_micros() as u64;
    s.persist.cow_peak = 0;
    tokio::task::spawn_local(bgsave_task(enc, sink, done, cancel, keys_done));
}

/// Hands a part to the job's thread, waiting (without blocking the engine) while its channel
/// is full; false when the job is cancelled or its thread is gone.
async fn send_part(tx: &SyncSender<Part>, mut p: Part, cancel: &Cell<bool>) -> bool {
    loop {
        match tx.try_send(p) {
            Ok(()) => return !cancel.get(),
            Err(TrySendError::Full(back)) => {
                if cancel.get() {
                    return false;
                }
                p = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}

async fn bgsave_task(
    mut enc: Encoder,
    tx: SyncSender<Part>,
    mut done_rx: tokio::sync::oneshot::Receiver<io::Result<()>>,
    cancel: Rc<Cell<bool>>,
    keys_done: Rc<Cell<u64>>,
) {
    let Some(srv) = crate::server_rc() else {
        return;
    };
    let mut owed_delay_us: u64 = 0;
    let ok;
    // The consumer's verdict when it ends before the snapshot (every client went away).
    let mut early = None;
    loop {
        if cancel.get() {
            ok = false;
            break;
        }
        if let Ok(r) = done_rx.try_recv() {
            early = Some(r);
            ok = false;
            break;
        }
        let (done, delay_us) = {
            let mut s = srv.borrow_mut();
            let delay = s.settings.rdb_key_save_delay.max(0) as u64;
            let per_step = if delay > 0 { 1 } else { 64 };
            let deadline = if delay > 0 {
                Some(Instant::now())
            } else {
                Some(Instant::now() + SLICE)
            };
            let before = enc.keys;
            let done = run_slice(&mut s, &mut enc, deadline, per_step);
            let kept = s.ks.snapshot_kept_bytes();
            s.persist.cow_peak = s.persist.cow_peak.max(kept);
            (done, delay * (enc.keys - before))
        };
        keys_done.set(enc.keys);
        if done {
            enc.footer();
        }
        if enc.buf.len() >= CHUNK || done {
            let part = enc.take_part();
            if !send_part(&tx, part, &cancel).await {
                ok = false;
                break;
            }
        }
        if done {
            ok = send_part(&tx, Part::Finish, &cancel).await;
            break;
        }
        owed_delay_us += delay_us;
        if owed_delay_us >= 1000 {
            tokio::time::sleep(Duration::from_micros(owed_delay_us)).await;
            owed_delay_us = 0;
        } else {
            tokio::task::yield_now().await;
        }
    }
    drop(tx);
    let verdict = match early {
        Some(r) => Ok(r),
        None => done_rx.await,
    };
    let res = match verdict {
        Ok(r) if ok => r,
        Ok(Err(e)) => Err(e),
        _ => Err(io::Error::other("cancelled")),
    };
    if cancel.get() {
        // Stopped by kill_bgsave, which already cleaned up; a newer job may be running now.
        return;
    }
    let mut s = srv.borrow_mut();
    finish_bgsave(&mut s, res);
}

fn finish_bgsave(s: &mut Server, res: io::Result<()>) {
    s.ks.snapshot_abort();
    let Some(bg) = s.persist.bgsave.take() else {
        return;
    };
    let secs = bg.started.elapsed().as_secs() as i64;
    s.persist.last_cow_size = s.persist.cow_peak;
    match bg.kind {
        JobKind::Disk => {
            s.persist.last_bgsave_time_sec = secs;
            match res {
                Ok(()) => {
                    notice!("Background saving terminated with success");
                    s.dirty = s.dirty.saturating_sub(bg.dirty_before);
                    s.lastsave = now_ms() / 1000;
                    s.persist.last_bgsave_ok = true;
                    s.persist.bgsave_failures = 0;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                    // A disk-based replication snapshot no replica waits for any more, without
                    // save points: stopped on purpose, not a failure (as Redis's SIGUSR1).
                    notice!("Background saving stopped: no replica waits for it any more");
                }
                Err(e) => {
                    warning!("Write error saving DB on disk: {e}");
                    warning!("Background saving error");
                    s.persist.last_bgsave_ok = false;
                    s.persist.bgsave_failures += 1;
                }
            }
        }
        JobKind::Pipe => {
            s.persist.pipe_last_time_sec = secs;
            s.persist.pipe_saves += 1;
            match res {
                Ok(()) => {
                    notice!("Background pipe save terminated with success");
                    s.persist.pipe_last_ok = Some(true);
                }
                Err(e) => {
                    warning!("Background pipe save error: {e}");
                    s.persist.pipe_last_ok = Some(false);
                }
            }
        }
        JobKind::Client => match res {
            Ok(()) => notice!("Snapshot streamed to the client"),
            Err(e) => warning!("Snapshot stream to the client failed: {e}"),
        },
        JobKind::AofRewrite => {
            let tmp = bg.tmp.clone().unwrap_or_default();
            crate::aof::rewrite_done(s, &tmp, res);
        }
    }
}

/// Stops a running background save (its temp file is removed). The task notices at its next
/// slice; the bookkeeping is done here at once.
pub fn kill_bgsave(s: &mut Server) {
    if let Some(bg) = s.persist.bgsave.take() {
        bg.cancel.set(true);
        s.ks.snapshot_abort();
        if bg.kind == JobKind::AofRewrite {
            // The writer thread removes the temp file when it sees the cancellation.
            s.aof.rewrite_started = None;
            if let Some(w) = s.aof.writer.as_mut() {
                w.set_rewrite_in_progress(false);
            }
        } else {
            // Stopped on purpose (FLUSHALL, shutdown): not an error, as Redis's SIGUSR1.
            warning!("Background saving terminated by signal 10");
        }
    }
}

/// Seconds before retrying after `failures` failed background saves in a row.
fn retry_delay(failures: u32) -> i64 {
    let f = failures.saturating_sub(1).min(10);
    (RETRY_DELAY_S << f).min(RETRY_MAX_S)
}

/// The cron's part: `save` points and retries of failed background saves.
pub fn cron(srv: &Rc<RefCell<Server>>) {
    watch_child(&mut srv.borrow_mut());
    let start = {
        let mut s = srv.borrow_mut();
        if s.persist.bgsave.is_some() || s.loading.is_some() {
            return;
        }
        let now = now_ms() / 1000;
        if s.persist.bgsave_scheduled {
            s.persist.bgsave_scheduled = false;
            true
        } else {
            let mut hit = None;
            for &(secs, changes) in s.settings.save_params.iter() {
                if s.dirty >= changes as u64
                    && now - s.lastsave > secs
                    && (now - s.persist.last_bgsave_try > retry_delay(s.persist.bgsave_failures)
                        || s.persist.last_bgsave_ok)
                {
                    hit = Some((secs, changes));
                    break;
                }
            }
            match hit {
                Some((secs, changes)) => {
                    notice!("{changes} changes in {secs} seconds. Saving...");
                    true
                }
                None => false,
            }
        }
    };
    if start {
        let _ = start_bgsave(&mut srv.borrow_mut());
    }
}

/// Result of loading an RDB file.
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
}

/// Counts the bytes read through it (loading progress).
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: io::Read> io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Loading progress, for INFO (`loading:1`, `loading_loaded_perc`, ...) and `-LOADING`.
pub struct Loading {
    pub started: Instant,
    pub start_unix: i64,
    pub total_bytes: u64,
    pub read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Loading {
    /// A load whose bytes arrive from elsewhere (a master's snapshot): `read` is advanced by
    /// the receiver.
    pub fn receiving(total_bytes: u64) -> Loading {
        Loading {
            started: Instant::now(),
            start_unix: now_ms() / 1000,
            total_bytes,
            read: Default::default(),
        }
    }

    pub fn set_read(&self, n: u64) {
        self.read.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn loaded(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// An RDB file being loaded, item by item.
pub struct RdbLoad {
    loader: cinnabar_rdb::Loader<io::BufReader<Counting<File>>>,
    merge: bool,
    db: usize,
    keys: u64,
    expired: u64,
    now: i64,
    started: Instant,
    done: bool,
    /// The file's size (bounds the RESIZEDB hints).
    total_bytes: u64,
    /// Keys read and not inserted yet (inserted as a batch: `Db::load_batch`).
    batch: Vec<cinnabar_keyspace::db::LoadedKey>,
    /// Startup load: the replication id and offset saved in the file are restored.
    restore_repl: bool,
    repl_id: Option<String>,
    repl_stream_db: usize,
    /// The server loads as a replica (it has a master, or `replicaof` is configured):
    /// expired keys are kept, its master's DELs remove them.
    as_replica: bool,
    /// `key-load-delay` (µs per key; negative n: 1 µs with probability 1/|n|, as Redis's
    /// debugDelay), and the delay owed so far: the async loader sleeps it between slices.
    key_load_delay: i64,
    owed_delay_us: u64,
    /// The replication history was restored as a master's: keys found expired are
    /// propagated as DELs, so the replicas that continue the stream drop them too.
    feed_repl: bool,
}

impl RdbLoad {
    /// Opens `path`; Ok(None) when there is no file.
    pub fn open(path: &Path, merge: bool) -> Result<Option<(RdbLoad, Loading)>, String> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{e}")),
        };
        let total = f.metadata().map(|m| m.len()).unwrap_or(0);
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting = Counting {
            inner: f,
            read: read.clone(),
        };
        let load = RdbLoad {
            loader: cinnabar_rdb::Loader::new(io::BufReader::with_capacity(256 * 1024, counting)),
            merge,
            db: 0,
            keys: 0,
            expired: 0,
            now: now_ms(),
            started: Instant::now(),
            done: false,
            total_bytes: total,
            batch: Vec::with_capacity(LOAD_BATCH),
            restore_repl: false,
            repl_id: None,
            repl_stream_db: 0,
            as_replica: false,
            key_load_delay: 0,
            owed_delay_us: 0,
            feed_repl: false,
        };
        let info = Loading {
            started: Instant::now(),
            start_unix: now_ms() / 1000,
            total_bytes: total,
            read,
        };
        Ok(Some((load, info)))
    }

    /// Inserts the keys read so far.
    fn flush(&mut self, s: &mut Server) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = self.batch.len() as u64;
        match s.ks.dbs[self.db].load_batch(&mut self.batch, self.merge) {
            Ok(()) => {
                self.keys += n;
                Ok(())
            }
            Err(key) => Err(self.corrupt(&format!(
                "RDB has duplicated key '{}' in DB {}",
                String::from_utf8_lossy(&key),
                self.db
            ))),
        }
    }

    /// Loads up to `max` items; Ok(true) when the file is complete.
    pub fn step(&mut self, s: &mut Server, max: usize) -> Result<bool, String> {
        let r = self.read_items(s, max);
        if r.is_err() {
            self.batch.clear();
            return r;
        }
        self.flush(s)?;
        r
    }

    fn read_items(&mut self, s: &mut Server, max: usize) -> Result<bool, String> {
        let limits = s.settings.limits;
        for _ in 0..max {
            if self.done {
                return Ok(true);
            }
            if self.batch.len() >= LOAD_BATCH {
                self.flush(s)?;
            }
            let item = match self.loader.next(&limits) {
                Ok(item) => item,
                Err(e) => {
                    let msg = match e {
                        cinnabar_rdb::RdbError::Checksum { expected, found } => {
                            warning!("Wrong RDB checksum expected: ({expected:x}) got ({found:x}). Aborting now.");
                            "RDB CRC error".to_string()
                        }
                        other => other.to_string(),
                    };
                    return Err(self.corrupt(&msg));
                }
            };
            if !matches!(item, Some(cinnabar_rdb::Item::Key { .. })) {
                self.flush(s)?;
            }
            match item {
                None | Some(cinnabar_rdb::Item::Eof) => {
                    self.done = true;
                    return Ok(true);
                }
                Some(cinnabar_rdb::Item::SelectDb(n)) => {
                    if n as usize >= s.ks.dbs.len() {
                        return Err(format!("FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting", s.ks.dbs.len()));
                    }
                    self.db = n as usize;
                }
                Some(cinnabar_rdb::Item::ResizeDb {
                    db_size,
                    expires_size,
                }) => {
                    // Size the tables at once, as Redis's dictExpand on RESIZEDB (no rehash
                    // while loading), but never beyond what the rest of the file can hold
                    // (a key takes at least 3 bytes), whatever the hint says.
                    let room = self.total_bytes.saturating_sub(self.loader.consumed()) / 3;
                    let db = &mut s.ks.dbs[self.db];
                    db.main.reserve(db_size.min(room) as usize);
                    db.expires.reserve(expires_size.min(room) as usize);
                }
                Some(cinnabar_rdb::Item::EmptyKey(key)) => {
                    warning!(
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&key)
                    );
                }
                Some(cinnabar_rdb::Item::Aux { key, value }) => {
                    if key == b"redis-ver" {
                        notice!(
                            "Loading RDB produced by version {}",
                            String::from_utf8_lossy(&value)
                        );
                    } else if key == b"ctime" {
                        if let Some(t) = cinnabar_util::num::string2ll(&value) {
                            notice!("RDB age {} seconds", (self.now / 1000 - t).max(0));
                        }
                    } else if key == b"repl-stream-db" && self.restore_repl {
                        self.repl_stream_db = cinnabar_util::num::string2ll(&value)
                            .filter(|d| *d >= 0 && (*d as usize) < s.ks.dbs.len())
                            .unwrap_or(0) as usize;
                    } else if key == b"repl-id" && self.restore_repl {
                        if value.len() == 40 {
                            self.repl_id = Some(String::from_utf8_lossy(&value).into_owned());
                        }
                    } else if key == b"repl-offset" && self.restore_repl {
                        let off = cinnabar_util::num::string2ll(&value).filter(|o| *o >= 0);
                        if let (Some(id), Some(off)) = (self.repl_id.take(), off) {
                            self.feed_repl =
                                restore_repl_info(s, id, off as u64, self.repl_stream_db);
                        }
                    } else if key == b"used-mem" {
                        if let Some(m) = cinnabar_util::num::string2ll(&value) {
                            notice!(
                                "RDB memory usage when created {:.2} Mb",
                                m as f64 / (1024.0 * 1024.0)
                            );
                        }
                    }
                }
                Some(cinnabar_rdb::Item::Key {
                    key,
                    value,
                    expire_ms,
                    idle,
                    ..
                }) => {
                    if let Some(when) = expire_ms {
                        // A replica keeps them: its master's DELs will remove them.
                        if when < self.now && !self.as_replica {
                            self.expired += 1;
                            if self.feed_repl {
                                s.prop.add(self.db, vec![b"DEL".to_vec(), key]);
                                crate::propagate::end_unit(s, true);
                            }
                            continue;
                        }
                    }
                    let lru_ms = self.now - idle.unwrap_or(0).min(1 << 30) as i64 * 1000;
                    if self.key_load_delay > 0 {
                        self.owed_delay_us += self.key_load_delay as u64;
                    } else if self.key_load_delay < 0
                        && cinnabar_keyspace::dict::next_rand(&mut s.ks.rng)
                            .is_multiple_of(self.key_load_delay.unsigned_abs())
                    {
                        self.owed_delay_us += 1;
                    }
                    self.batch.push(cinnabar_keyspace::db::LoadedKey {
                        key,
                        value,
                        expire: expire_ms,
                        lru_ms,
                    });
                }
                Some(cinnabar_rdb::Item::Function(code)) => {
                    if let Err(e) = s.scripting.funcs.create(&code, self.merge) {
                        warning!("Failed loading library, {e}");
                        return Err(self.corrupt("Failed loading library"));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(false)
    }

    /// A damaged file: logged as Redis reports it (the error, then the check report with the
    /// offset reached); the returned line is the last the server logs before it exits.
    fn corrupt(&self, msg: &str) -> String {
        let line = format!(
            "Internal error in RDB reading offset {}, function at rdb.c:0 -> {msg}",
            self.loader.consumed()
        );
        warning!("{line}");
        warning!("--- RDB ERROR DETECTED ---");
        warning!("[offset {}] {line}", self.loader.consumed());
        "Terminating server after rdb file reading failure.".to_string()
    }

    /// Logs the result and records it for INFO.
    pub fn finish(self, s: &mut Server) -> Loaded {
        let empty = self.loader.empty_keys_skipped();
        notice!(
            "Done loading RDB, keys loaded: {}, keys expired: {}{}.",
            self.keys,
            self.expired,
            if empty > 0 {
                format!(", empty keys skipped: {empty}")
            } else {
                String::new()
            }
        );
        notice!(
            "DB loaded from disk: {:.3} seconds",
            self.started.elapsed().as_secs_f64()
        );
        s.persist.last_load_keys_loaded = self.keys;
        s.persist.last_load_keys_expired = self.expired;
        Loaded {
            keys: self.keys,
            expired: self.expired,
        }
    }
}

/// A server restarting from a file that carries its replication id and offset keeps its
/// place in the replication history (PSYNC2), as Redis does. A master takes them as its
/// second id and offset, with an empty backlog from there, so its replicas continue with a
/// partial resync (returns true: keys found expired are then propagated). A replica (one
/// configured with `replicaof`) takes them as its own id and offset, to continue its
/// master's stream in that database with a partial resync.
fn restore_repl_info(s: &mut Server, id: String, off: u64, stream_db: usize) -> bool {
    let replica = s
        .cfg
        .get_value("replicaof")
        .is_some_and(|v| !v.trim().is_empty());
    if s.master.is_some() || replica {
        s.replid = id;
        s.prop.offset = off;
        s.prop.reset_db();
        s.master_db = stream_db;
        s.repl_buf.deactivate();
        s.repl_buf.activate(off);
        s.master_cached = true;
        crate::propagate::refresh_enabled(s);
        notice!(
            "Restored the replication id {} and offset {off} from the RDB file (as a replica)",
            s.replid
        );
        return false;
    }
    s.replid2 = id;
    s.second_repl_offset = off as i64 + 1;
    s.prop.offset = off;
    s.prop.reset_db();
    s.repl_buf.deactivate();
    s.repl_buf.activate(off);
    crate::propagate::refresh_enabled(s);
    notice!(
        "Restored the replication id {} and offset {off} from the RDB file",
        s.replid2
    );
    true
}

/// Loads the RDB file at `path` into the keyspace in one go (duplicates are an error unless
/// `merge`). Ok(None) when there is no file.
pub fn load_rdb(s: &mut Server, path: &Path, merge: bool) -> Result<Option<Loaded>, String> {
    let Some((mut load, _)) = RdbLoad::open(path, merge)? else {
        return Ok(None);
    };
    load.as_replica = s.master.is_some();
    while !load.step(s, 4096)? {}
    Ok(Some(load.finish(s)))
}

/// The RDB file's path (`dir` is the working directory, `dbfilename` inside it).
pub fn rdb_file_path(s: &Server) -> PathBuf {
    rdb_path(s)
}

/// Loads `dbfilename` at startup while the connections are served (they get `-LOADING`
/// until it is done). Err means the server must exit.
pub async fn load_at_startup(srv: &Rc<RefCell<Server>>) -> Result<(), String> {
    {
        // The AOF manifest is read in any case; with the AOF on, the AOF is the dataset
        // (dump.rdb is not read), as in Redis.
        let mut s = srv.borrow_mut();
        crate::aof::load_at_startup(&mut s).map_err(|e| {
            if !e.is_empty() {
                warning!("{e}");
            }
            e
        })?;
        if s.settings.appendonly {
            return Ok(());
        }
    }
    let path = rdb_path(&srv.borrow());
    match load_file_async(srv, &path, true).await {
        Ok(_) => Ok(()),
        Err(e) => {
            warning!("{e}");
            Err(e)
        }
    }
}

/// Loads an RDB file into the keyspace in slices of about 2 ms, yielding to the connections
/// in between; `loading:1` meanwhile. Ok(false) when there is no file.
pub async fn load_file_async(
    srv: &Rc<RefCell<Server>>,
    path: &Path,
    restore_repl: bool,
) -> Result<bool, String> {
    let opened = RdbLoad::open(path, false);
    if matches!(opened, Ok(Some(_))) {
        // A full load replaces the function libraries too (startup: there are none yet).
        srv.borrow_mut().scripting.funcs.flush();
    }
    let mut load = match opened {
        Ok(None) => return Ok(false),
        Ok(Some((mut load, info))) => {
            load.restore_repl = restore_repl;
            {
                let s = srv.borrow();
                load.key_load_delay = s
                    .cfg
                    .get_value("key-load-delay")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                load.as_replica = s.master.is_some()
                    || s.cfg
                        .get_value("replicaof")
                        .is_some_and(|v| !v.trim().is_empty());
            }
            {
                let mut s = srv.borrow_mut();
                // Async loading: clients keep the old data meanwhile (no `loading`).
                if s.async_side.is_none() {
                    s.loading = Some(info);
                }
            }
            load
        }
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let res = loop {
        let r = {
            let mut s = srv.borrow_mut();
            // Async loading (a replica's swapdb with the same history): each slice loads into
            // the side databases, swapped in for the slice only (an O(1) swap), so clients
            // see the old data in between.
            swap_side(&mut s);
            let deadline = Instant::now() + Duration::from_millis(2);
            let mut r = Ok(false);
            // With key-load-delay, a slice is a few keys, then the owed delay is slept.
            let per_step = if load.key_load_delay != 0 { 1 } else { 256 };
            while Instant::now() < deadline && load.owed_delay_us < 1000 {
                r = load.step(&mut s, per_step);
                if !matches!(r, Ok(false)) {
                    break;
                }
            }
            swap_side(&mut s);
            r
        };
        match r {
            Ok(true) => break Ok(()),
            Ok(false) if load.owed_delay_us > 0 => {
                let us = std::mem::take(&mut load.owed_delay_us);
                tokio::time::sleep(Duration::from_micros(us)).await;
            }
            Ok(false) => tokio::task::yield_now().await,
            Err(e) => break Err(e),
        }
    };
    let mut s = srv.borrow_mut();
    s.loading = None;
    res.map(|()| {
        swap_side(&mut s);
        load.finish(&mut s);
        swap_side(&mut s);
        true
    })
}

/// Exchanges the served databases with the side ones of an async load (nothing otherwise).
fn swap_side(s: &mut Server) {
    if let Some(side) = s.async_side.as_mut() {
        std::mem::swap(&mut s.ks.dbs, side);
    }
}

/// INFO persistence's loading fields.
fn loading_info(s: &Server) -> String {
    match &s.loading {
        None => format!(
            "loading:0\r\nasync_loading:{}\r\n",
            s.async_side.is_some() as u8
        ),
        Some(l) => {
            let loaded = l.loaded();
            let elapsed = l.started.elapsed().as_secs_f64();
            let perc = if l.total_bytes > 0 {
                loaded as f64 * 100.0 / l.total_bytes as f64
            } else {
                0.0
            };
            let eta = if loaded > 0 && elapsed > 0.0 {
                let rate = loaded as f64 / elapsed;
                (l.total_bytes.saturating_sub(loaded) as f64 / rate) as i64
            } else {
                1
            };
            format!(
                "loading:1\r\nasync_loading:0\r\nloading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
                l.start_unix, l.total_bytes
            )
        }
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE].
pub fn debug_reload(s: &mut Server, merge: bool, flush: bool, save: bool) -> Result<(), String> {
    if save {
        save_sync(s).map_err(|_| "ERR".to_string())?;
    }
    if flush {
        for db in s.ks.dbs.iter_mut() {
            db.clear();
        }
        s.scripting.funcs.flush();
    }
    let path = rdb_path(s);
    match load_rdb(s, &path, merge) {
        Ok(_) => {
            warning!("DB reloaded by DEBUG RELOAD");
            Ok(())
        }
        Err(e) => {
            warning!("{e}");
            Err("ERR Error trying to load the RDB dump".into())
        }
    }
}

/// INFO persistence.
pub fn info(s: &Server) -> String {
    let (inprog, cur_time, processed, total) = match &s.persist.bgsave {
        Some(b) => (
            1,
            b.started.elapsed().as_secs() as i64,
            b.keys_done.get(),
            b.keys_total,
        ),
        None => (0, -1, 0, 0),
    };
    // How far the running snapshot is (Redis's current_fork_perc).
    let perc = if total > 0 {
        processed as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let mut out = format!(
        "{}current_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{processed}\r\ncurrent_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{inprog}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{cur_time}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        loading_info(s),
        if inprog == 1 { s.persist.cow_peak } else { 0 },
        s.ks.snapshot_kept_bytes(),
        s.dirty,
        s.lastsave,
        if s.persist.last_bgsave_ok { "ok" } else { "err" },
        s.persist.last_bgsave_time_sec,
        s.persist.rdb_saves,
        s.persist.last_cow_size,
        s.persist.last_load_keys_expired,
        s.persist.last_load_keys_loaded,
    );
    out.push_str(&crate::aof::info(s));
    let pipe_inprog = s
        .persist
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == JobKind::Pipe);
    out.push_str(&format!(
        "pipesave_in_progress:{}\r\npipesave_last_status:{}\r\npipesave_last_time_sec:{}\r\npipesave_saves:{}\r\n",
        pipe_inprog as u8,
        match s.persist.pipe_last_ok {
            None => "none",
            Some(true) => "ok",
            Some(false) => "err",
        },
        s.persist.pipe_last_time_sec,
        s.persist.pipe_saves
    ));
    out
}

/// The save a shutdown does: with `save` points configured (unless NOSAVE) or with SAVE, a
/// running background save is stopped and a foreground save is made. Err if it failed.
pub fn prepare_shutdown(
    s: &mut Server,
    req: &crate::server::ShutdownRequest,
) -> Result<(), ShutdownBlocked> {
    if s.persist.bgsave.is_some() {
        warning!("There is a child saving an .rdb. Killing it!");
        let job = s
            .persist
            .bgsave
            .as_ref()
            .map(|b| (b.tmp.clone(), b.child.clone()));
        kill_bgsave(s);
        if let Some((tmp, child)) = job {
            if let Some((pid, exit)) = child {
                if exit.poll(pid).is_none() {
                    // SAFETY: our own child, not reaped yet (`ChildExit` says so).
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            if let Some(tmp) = tmp {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
    crate::aof::prepare_shutdown(s, req.force)?;
    if req.nosave || (s.settings.save_params.is_empty() && !req.save) {
        return Ok(());
    }
    notice!("Saving the final RDB snapshot before exiting.");
    match save_sync(s) {
        Ok(()) => Ok(()),
        Err(_) => {
            warning!("Error trying to save the DB, can't exit.");
            Err(ShutdownBlocked)
        }
    }
}

/// The final save (or the AOF's last write) failed: the server must not exit.
#[derive(Debug)]
pub struct ShutdownBlocked;
