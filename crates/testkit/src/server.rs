//! Starting a server binary (cinnabar-server or redis-server) for a test.
//!
//! [`Server::start`] gives each server a free port and a fresh temporary directory (its working
//! directory and `--dir`), captures stdout and stderr to files there, and waits until it answers
//! PING. Dropping the `Server` stops it (SIGTERM, then SIGKILL), removes the directory, and fails
//! the test if the log shows a Rust panic or the process died of a crash signal, unless the test
//! called [`Server::allow_panics`].

use crate::conn::Conn;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server has to answer its first PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server has to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 5;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .unwrap_or(here)
        .to_path_buf()
}

/// The Cinnabar server binary: `$CINNABAR_SERVER_BIN`, else `target/release/cinnabar-server`,
/// else `target/debug/cinnabar-server` under the workspace root. The returned path may not
/// exist (the error then comes from `Server::start`, naming it).
pub fn cinnabar_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CINNABAR_SERVER_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let release = root.join("target/release/cinnabar-server");
    if release.is_file() {
        return release;
    }
    root.join("target/debug/cinnabar-server")
}

/// The reference redis-server: `$REDIS_SERVER_BIN`, else `/usr/bin/redis-server`.
pub fn redis_bin() -> PathBuf {
    std::env::var_os("REDIS_SERVER_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"))
}

/// True if the reference redis-server is installed.
pub fn have_redis() -> bool {
    redis_bin().is_file()
}

/// Prints a note that cannot be missed, even when cargo test captures output (it writes to the
/// process's stderr directly, bypassing the test harness's capture).
pub fn loud_note(msg: &str) {
    let bar = "!".repeat(78);
    let _ = writeln!(io::stderr(), "\n{bar}\n!! {msg}\n{bar}");
}

/// Returns early from a test, loudly, when redis-server is not installed.
#[macro_export]
macro_rules! require_redis {
    () => {
        if !$crate::have_redis() {
            $crate::loud_note(&format!(
                "SKIPPED {}: no redis-server at {} (apt-get install redis-server, or set REDIS_SERVER_BIN)",
                module_path!(),
                $crate::redis_bin().display()
            ));
            return;
        }
    };
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

/// A directory removed on drop (unless `TESTKIT_KEEP_DIRS` is set).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("could not create a unique temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("TESTKIT_KEEP_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit (tests that open many
/// connections); returns the soft limit in force afterwards.
pub fn raise_nofile_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    rl.rlim_cur
}

/// A running server process owned by a test.
pub struct Server {
    child: Mutex<Child>,
    port: u16,
    pid: u32,
    bin: PathBuf,
    args: Vec<String>,
    allow_panics: bool,
    stopped: bool,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl Server {
    /// Starts `bin` with the test defaults, then `args` (a leading argument that does not start
    /// with `-` is taken as a config file and passed first, as redis-server requires). Panics
    /// with the server's log if it does not answer PING within 10 s.
    pub fn start(bin: &Path, args: &[&str]) -> Server {
        match Server::try_start(bin, args) {
            Ok(s) => s,
            Err(e) => panic!("could not start {} {:?}: {e}", bin.display(), args),
        }
    }

    /// [`Server::start`], then waits (up to 60 s) until the data set is loaded: INFO answers
    /// `loading:0` (a server answers PING with `-LOADING` while it loads).
    pub fn start_loaded(bin: &Path, args: &[&str]) -> Server {
        let srv = Server::start(bin, args);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut c = srv.conn();
        while c.info_field("loading").as_deref() != Some("0") {
            if Instant::now() >= deadline {
                panic!("still loading after 60 s; log:\n{}", srv.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        srv
    }

    /// [`Server::start_loaded`] with its data in `dir` (which outlives the server, for
    /// restart tests) and DEBUG enabled, then `extra`.
    pub fn start_in_dir(bin: &Path, dir: &Path, extra: &[&str]) -> Server {
        let d = dir.display().to_string();
        let mut args = vec!["--dir", d.as_str(), "--enable-debug-command", "yes"];
        args.extend_from_slice(extra);
        Server::start_loaded(bin, &args)
    }

    /// `Server::start(&cinnabar_bin(), args)`.
    pub fn cinnabar(args: &[&str]) -> Server {
        Server::start(&cinnabar_bin(), args)
    }

    /// `Server::start(&redis_bin(), args)`.
    pub fn redis(args: &[&str]) -> Server {
        Server::start(&redis_bin(), args)
    }

    pub fn try_start(bin: &Path, args: &[&str]) -> Result<Server, String> {
        if !bin.is_file() {
            return Err(format!(
                "no such binary: {} (build it with `cargo build --release`, or set CINNABAR_SERVER_BIN)",
                bin.display()
            ));
        }
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Server::spawn_once(bin, args) {
                Ok(s) => return Ok(s),
                Err((retry, msg)) => {
                    last = msg;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// One start attempt. Err((true, _)) means the port was taken: try another.
    fn spawn_once(bin: &Path, args: &[&str]) -> Result<Server, (bool, String)> {
        let fatal = |e: io::Error| (false, e.to_string());
        let port = free_port().map_err(fatal)?;
        let dir = TempDir::new("cinnabar-testkit").map_err(fatal)?;
        let mut argv: Vec<String> = Vec::new();
        let mut rest = args;
        if let Some(first) = args.first().filter(|a| !a.starts_with('-')) {
            argv.push((*first).to_string());
            rest = &args[1..];
        }
        let dir_str = dir.path().to_string_lossy().into_owned();
        for a in [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir_str,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ] {
            argv.push(a.to_string());
        }
        argv.extend(rest.iter().map(|s| s.to_string()));

        let out = fs::File::create(dir.path().join("stdout.log")).map_err(fatal)?;
        let err = fs::File::create(dir.path().join("stderr.log")).map_err(fatal)?;
        let child = Command::new(bin)
            .args(&argv)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| (false, format!("spawn {}: {e}", bin.display())))?;
        let pid = child.id();
        let mut server = Server {
            child: Mutex::new(child),
            port,
            pid,
            bin: bin.to_path_buf(),
            args: argv,
            allow_panics: false,
            stopped: false,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.exit_status() {
                let log = server.log();
                server.stopped = true;
                // The log goes into the error; the drop must not panic about it again.
                server.allow_panics = true;
                // Someone took the port between our probe and the server's bind: try another.
                let port_taken = [
                    "Address already in use",
                    "AddrInUse",
                    "Failed listening",
                    "listening socket",
                ]
                .iter()
                .any(|m| log.contains(m));
                return Err((
                    port_taken,
                    format!("exited during startup ({status}); log:\n{log}"),
                ));
            }
            if server.answers_ping() {
                // The port could have been taken by someone else between our probe and the
                // server's bind: only accept the answer if our process is still alive.
                std::thread::sleep(Duration::from_millis(5));
                if server.exit_status().is_none() {
                    return Ok(server);
                }
                continue;
            }
            if Instant::now() >= deadline {
                let log = server.log();
                server.kill_now();
                server.allow_panics = true;
                return Err((
                    false,
                    format!("no PING answer within {START_TIMEOUT:?}; log:\n{log}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Any complete reply to PING counts (`+PONG`, or `-NOAUTH` with requirepass, `-LOADING`).
    fn answers_ping(&self) -> bool {
        let Ok(mut c) = Conn::connect_port(self.port) else {
            return false;
        };
        c.set_read_timeout(Duration::from_millis(500));
        matches!(c.try_cmd(&["PING"]), Ok(r) if !r.is_empty())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temp dir: the server's cwd and `--dir`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The full argument list the server was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// A new connection; panics if connecting fails.
    pub fn conn(&self) -> Conn {
        match Conn::connect_port(self.port) {
            Ok(c) => c,
            Err(e) => panic!(
                "connect to {} on port {}: {e}",
                self.bin.display(),
                self.port
            ),
        }
    }

    /// Captured stdout followed by stderr.
    pub fn log(&self) -> String {
        let read = |name: &str| fs::read(self.dir.path().join(name)).unwrap_or_default();
        let mut all = read("stdout.log");
        all.extend_from_slice(&read("stderr.log"));
        String::from_utf8_lossy(&all).into_owned()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten()
    }

    /// True while the process runs.
    pub fn is_alive(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_alive(&self) {
        if let Some(status) = self.exit_status() {
            panic!(
                "{} (pid {}, port {}) died: {status}; log tail:\n{}",
                self.bin.display(),
                self.pid,
                self.port,
                self.log_tail(60)
            );
        }
    }

    /// Do not fail the test on "panicked at" in the log or a crash signal (for tests that
    /// provoke one on purpose).
    pub fn allow_panics(&mut self) {
        self.allow_panics = true;
    }

    /// Resident set size from /proc/PID/status, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    fn signal(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.pid) {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child, which
            // we have not reaped yet (so the pid cannot have been reused).
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exit_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill_now(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        self.stopped = true;
    }

    /// Stops the server: SIGTERM, then SIGKILL after 10 s. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.exit_status().is_none() {
            self.signal(libc::SIGTERM);
        }
        let status = match self.wait_exit(STOP_TIMEOUT) {
            Some(s) => Some(s),
            None => {
                let _ = writeln!(
                    io::stderr(),
                    "testkit: {} (pid {}) ignored SIGTERM for {STOP_TIMEOUT:?}; sending SIGKILL",
                    self.bin.display(),
                    self.pid
                );
                self.kill_now();
                self.exit_status()
            }
        };
        self.stopped = true;
        status
    }

    /// What went wrong, if the log or the exit shows a crash.
    fn crash_report(&self, died_before_stop: Option<ExitStatus>) -> Option<String> {
        let log = self.log();
        if log.contains("panicked at") {
            return Some("the server panicked".to_string());
        }
        use std::os::unix::process::ExitStatusExt;
        let sig = died_before_stop.and_then(|s| s.signal())?;
        matches!(
            sig,
            libc::SIGSEGV | libc::SIGABRT | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
        )
        .then(|| format!("the server died of signal {sig}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let died_before_stop = self.exit_status();
        if !self.stopped {
            self.stop();
        }
        let report = self.crash_report(died_before_stop);
        if std::thread::panicking() {
            let _ = writeln!(
                io::stderr(),
                "--- log tail of {} (port {}, dir {}) ---\n{}\n---",
                self.bin.display(),
                self.port,
                self.dir().display(),
                self.log_tail(40)
            );
            return;
        }
        if let Some(what) = report.filter(|_| !self.allow_panics) {
            let log = self.log_tail(80);
            panic!(
                "{what} ({} on port {}); log tail:\n{log}",
                self.bin.display(),
                self.port
            );
        }
    }
}
