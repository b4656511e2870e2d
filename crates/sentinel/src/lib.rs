//! Sentinel mode: `cinnabar-server --sentinel`, `cinnabar-server sentinel.conf --sentinel`, or
//! the binary started under a name containing `redis-sentinel`. A Sentinel watches masters
//! and their replicas, agrees with the other Sentinels that a master is down, elects a leader
//! and fails over to the best replica, speaking Redis 7.0's Sentinel protocol.
//!
//! Layout: `state` (instances, settings), `config` (the `sentinel` directives, the config
//! rewrite), `link` (connections to instances), `engine` (monitoring, failure detection,
//! election, failover), `commands` (what clients can ask), `scripts`, `log`. Everything runs
//! on one current-thread tokio runtime: client and link tasks only move bytes; the engine
//! task owns the state and is the only one to change it.

mod acl;
mod commands;
pub mod config;
mod engine;
pub mod link;
mod log;
mod scripts;
pub mod state;

use engine::{Client, ClientMsg, Engine, Out, ServerInfo};
use log::Level;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub const REDIS_VERSION: &str = "7.0.15";

/// Whether this command line asks for Sentinel mode (as Redis decides: the program name
/// contains "redis-sentinel", or an argument is `--sentinel`).
pub fn is_sentinel_invocation(argv: &[String]) -> bool {
    argv.first().is_some_and(|a| {
        std::path::Path::new(a)
            .file_name()
            .is_some_and(|f| f.to_string_lossy().contains("redis-sentinel"))
    }) || argv.iter().skip(1).any(|a| a == "--sentinel")
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        let mut x = state::mstime() as u64 ^ ((std::process::id() as u64) << 32);
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    bytes.iter().map(|b| format!("{:x}", b & 0xf)).collect()
}

fn fatal_line(line_no: usize, line: &str, msg: &str) {
    eprintln!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***",
        REDIS_VERSION
    );
    eprintln!("Reading the configuration file, at line {}", line_no);
    eprintln!(">>> '{}'", line);
    eprintln!("{}", msg);
}

/// The Sentinel's entry point; returns the exit code.
pub fn main_entry(argv: Vec<String>) -> i32 {
    let args: Vec<String> = argv.iter().skip(1).cloned().collect();
    let (file, rest): (Option<PathBuf>, &[String]) = match args.first() {
        Some(f) if !f.starts_with('-') => (Some(PathBuf::from(f)), &args[1..]),
        _ => (None, &args[..]),
    };
    let opts = cinnabar_config::LoadOptions {
        sentinel_mode: true,
        ..Default::default()
    };
    let cfg = match cinnabar_config::Config::load_with(file.as_deref(), rest, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let get = |n: &str| cfg.get_value(n).unwrap_or_default();
    let logfile = get("logfile");
    log::configure(&logfile, log::level_from_name(&get("loglevel")));
    let Some(file) = file else {
        log::log(
            Level::Warning,
            "Sentinel needs config file on disk to save state. Exiting...",
        );
        return 1;
    };
    let config_file = std::fs::canonicalize(&file).unwrap_or(file.clone());
    if !config_writable(&config_file) {
        log::log(
            Level::Warning,
            &format!(
                "Sentinel config file {} is not writable: {}. Exiting...",
                config_file.display(),
                std::io::Error::last_os_error()
            ),
        );
        return 1;
    }
    if let Err(e) = cfg.apply_dir() {
        eprintln!("Can't chdir to '{}': {e}", cfg.dir().display());
        return 1;
    }
    let mut s = state::Sentinel::default();
    let dirs: Vec<config::Directive> = cfg
        .sentinel_directives()
        .iter()
        .filter(|d| !d.args.is_empty())
        .map(|d| config::Directive {
            argv: d
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            line_no: d.line_no,
            line: String::from_utf8_lossy(&d.line).into_owned(),
        })
        .collect();
    if let Err((n, line, msg)) = config::load(&mut s, &dirs) {
        fatal_line(n, &line, msg);
        return 1;
    }
    let port: u16 = if cfg.is_explicit("port") {
        get("port").parse().unwrap_or(26379)
    } else {
        26379
    };
    let bind: Vec<String> = if cfg.is_explicit("bind") {
        get("bind")
            .split_whitespace()
            .map(|b| b.trim_start_matches('-').to_string())
            .collect()
    } else {
        vec!["0.0.0.0".into(), "::".into()]
    };
    let requirepass = Some(get("requirepass")).filter(|p| !p.is_empty());
    let daemonize = get("daemonize") == "yes";
    let pidfile = get("pidfile");
    if daemonize {
        // SAFETY: fork before any thread or runtime exists; the parent exits at once.
        unsafe {
            match libc::fork() {
                -1 => return 1,
                0 => {
                    libc::setsid();
                }
                _ => libc::_exit(0),
            }
        }
    }
    if !pidfile.is_empty() && (daemonize || cfg.is_explicit("pidfile")) {
        let _ = std::fs::write(&pidfile, format!("{}\n", std::process::id()));
    }
    let info = ServerInfo {
        port,
        config_file,
        requirepass,
        run_id: random_hex(40),
        start_time: state::mstime(),
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        maxclients: get("maxclients").parse().unwrap_or(10000),
        hz: 10,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::log(
                Level::Warning,
                &format!("Failed creating the event loop: {e}"),
            );
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, run(s, info, bind));
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    code
}

fn config_writable(p: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

async fn bind_all(addrs: &[String], port: u16) -> Vec<TcpListener> {
    let mut out = Vec::new();
    for a in addrs {
        let sa = if a.contains(':') {
            format!("[{}]:{}", a, port)
        } else {
            format!("{}:{}", a, port)
        };
        let Ok(sa) = sa.parse::<std::net::SocketAddr>() else {
            continue;
        };
        let sock = if sa.is_ipv6() {
            tokio::net::TcpSocket::new_v6()
        } else {
            tokio::net::TcpSocket::new_v4()
        };
        let Ok(sock) = sock else { continue };
        let _ = sock.set_reuseaddr(true);
        if sa.is_ipv6() {
            // Keep the IPv6 socket from also taking the IPv4 port.
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: valid socket fd and a c_int option value.
            unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        if sock.bind(sa).is_err() {
            continue;
        }
        if let Ok(l) = sock.listen(511) {
            out.push(l);
        }
    }
    out
}

async fn run(mut s: state::Sentinel, info: ServerInfo, bind: Vec<String>) -> i32 {
    let port = info.port;
    let listeners = bind_all(&bind, port).await;
    if listeners.is_empty() {
        log::log(
            Level::Warning,
            &format!("Failed listening on port {} (tcp), aborting.", port),
        );
        return 1;
    }
    log::log(
        Level::Notice,
        &format!(
            "Cinnabar {} (Redis {}) running in sentinel mode, port={}, pid={}",
            env!("CARGO_PKG_VERSION"),
            REDIS_VERSION,
            port,
            std::process::id()
        ),
    );
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (cl_tx, mut cl_rx) = mpsc::unbounded_channel::<ClientMsg>();
    let fresh_id = s.myid.is_empty();
    if fresh_id {
        s.myid = random_hex(40);
    }
    let seed = u64::from_str_radix(&random_hex(16), 16).unwrap_or(0x9E37_79B9_7F4A_7C15) | 1;
    let mut e = Engine {
        s,
        srv: info,
        clients: Default::default(),
        ev_tx,
        rng: seed,
        gen: 0,
        scripts: Default::default(),
        stats_conns: 0,
        stats_cmds: 0,
        shutdown: false,
        users: Vec::new(),
        close_after_reply: false,
    };
    e.users
        .push(acl::User::default_user(e.srv.requirepass.as_deref()));
    if fresh_id {
        e.flush_config();
    }
    log::log(Level::Warning, &format!("Sentinel ID is {}", e.s.myid));
    for m in 0..e.s.masters.len() {
        let q = e.s.masters[m].quorum;
        e.event_at(
            Level::Warning,
            "+monitor",
            state::Loc::master(m),
            &format!(" quorum {}", q),
        );
    }
    let next_id = std::rc::Rc::new(std::cell::Cell::new(2u64));
    for l in listeners {
        let tx = cl_tx.clone();
        let next_id = next_id.clone();
        tokio::task::spawn_local(async move {
            loop {
                let Ok((sock, peer)) = l.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let id = next_id.get();
                next_id.set(id + 1);
                tokio::task::spawn_local(client_task(sock, peer.to_string(), id, tx.clone()));
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let mut next_tick = tokio::time::Instant::now();
    loop {
        tokio::select! {
            Some(ev) = ev_rx.recv() => e.on_link_event(ev),
            Some(msg) = cl_rx.recv() => match msg {
                ClientMsg::Connect(c) => {
                    e.stats_conns += 1;
                    let authed = e.default_auto_auth();
                    let mut c = c;
                    c.authed = authed;
                    c.user = "default".into();
                    e.clients.insert(c.id, c);
                }
                ClientMsg::Command(id, argv) => e.command(id, argv),
                ClientMsg::Gone(id) => {
                    e.clients.remove(&id);
                }
            },
            _ = tokio::time::sleep_until(next_tick) => {
                e.timer();
                let hz = 10 + e.rand() % 10;
                e.srv.hz = hz as i64;
                next_tick = tokio::time::Instant::now() + Duration::from_millis(1000 / hz);
            }
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {
                log::log(Level::Warning, "Received SIGTERM scheduling shutdown...");
                e.shutdown = true;
            }
            _ = async { match int.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {
                log::log(Level::Warning, "Received SIGINT scheduling shutdown...");
                e.shutdown = true;
            }
        }
        if e.shutdown {
            e.flush_config();
            log::log(Level::Warning, "Sentinel is now ready to exit, bye bye...");
            return 0;
        }
    }
}

/// Largest query buffer a client may accumulate (Redis's client-query-buffer-limit default).
const MAX_QUERY: usize = 1 << 30;

async fn client_task(sock: TcpStream, peer: String, id: u64, tx: mpsc::UnboundedSender<ClientMsg>) {
    let _ = sock.set_nodelay(true);
    let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let queued = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let now = state::mstime();
    let _ = tx.send(ClientMsg::Connect(Client {
        id,
        out: out_tx,
        addr: peer,
        laddr,
        name: String::new(),
        authed: false,
        user: "default".into(),
        resp: 2,
        channels: Vec::new(),
        patterns: Vec::new(),
        created: now,
        queued: queued.clone(),
        last_cmd: "NULL".into(),
        last_interaction: now,
    }));
    let (mut rd, mut wr) = sock.into_split();
    let mut parser = cinnabar_resp::CommandParser::new();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let limits = cinnabar_resp::Limits {
        max_bulk: 512 << 20,
        authenticated: true,
    };
    'outer: loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Data(b)) => {
                    let n = b.len();
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                    queued.set(queued.get().saturating_sub(n));
                }
                Some(Out::Close) | None => break,
            },
            n = rd.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_QUERY {
                    break;
                }
                let mut off = 0;
                loop {
                    match parser.parse(&buf[off..], limits) {
                        Ok(Some((used, src))) => {
                            let base: &[u8] = match src {
                                cinnabar_resp::parse::Source::Buffer => &buf[off..],
                                cinnabar_resp::parse::Source::Inline => &parser.inline_buf,
                            };
                            let argv: Vec<Vec<u8>> = parser
                                .spans
                                .iter()
                                .map(|&(a, b)| base.get(a..b).unwrap_or(b"").to_vec())
                                .collect();
                            off += used;
                            if !argv.is_empty() {
                                if argv[0].eq_ignore_ascii_case(b"quit") {
                                    let _ = wr.write_all(b"+OK\r\n").await;
                                    break 'outer;
                                }
                                let _ = tx.send(ClientMsg::Command(id, argv));
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = wr
                                .write_all(format!("-ERR {}\r\n", e).as_bytes())
                                .await;
                            break 'outer;
                        }
                    }
                }
                buf.drain(..off);
            }
        }
    }
    let _ = tx.send(ClientMsg::Gone(id));
}
