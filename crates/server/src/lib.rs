//! The server: listeners, connections, client state, the dispatcher, server-level commands
//! (CLIENT, CONFIG, INFO, DEBUG, SHUTDOWN ...), the cron, startup and shutdown. Everything runs
//! on one engine thread (a tokio current-thread runtime with a `LocalSet`); see
//! ARCHITECTURE.md.

pub mod acl;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod client_evict;
pub mod cmds;
pub mod conn;
pub mod cron;
pub mod dispatch;
pub mod evict;
pub mod latency;
pub mod listen;
pub mod log;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod multi;
pub mod notify;
pub mod persist;
pub mod proctitle;
pub mod propagate;
pub mod pubsub;
pub mod repl_link;
pub mod replbuf;
pub mod replica;
pub mod script;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod slowlog;
pub mod sock;
pub mod throttle;
pub mod tracking;

use server::Server;
use settings::Settings;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

/// The Redis version Cinnabar speaks (INFO, HELLO, -v).
pub const REDIS_VERSION: &str = "7.0.15";

thread_local! {
    static LISTENERS: RefCell<Vec<listen::Active>> = const { RefCell::new(Vec::new()) };
    static SERVER: RefCell<Option<std::rc::Weak<RefCell<Server>>>> = const { RefCell::new(None) };
}

/// Closes every listening socket (shutdown: before any client connection is closed, so a
/// client that sees its connection end cannot connect again meanwhile, as Redis closes its
/// listeners first).
pub fn close_listeners() {
    let all: Vec<listen::Active> = LISTENERS.with(|l| l.borrow_mut().drain(..).collect());
    for a in all {
        a.close();
    }
}

/// The listening sockets: (fd, the path of a unix socket).
pub fn listener_fds() -> Vec<(i32, Option<String>)> {
    LISTENERS.with(|l| {
        l.borrow()
            .iter()
            .map(|a| (a.fd, a.ep.key.strip_prefix("unix:").map(str::to_string)))
            .collect()
    })
}

/// The engine's shared server handle (None before start or after exit).
pub fn server_rc() -> Option<Rc<RefCell<Server>>> {
    SERVER.with(|w| w.borrow().as_ref().and_then(|w| w.upgrade()))
}

/// Makes the listeners match `new`: endpoints present in both keep their socket (and their
/// accept loop), missing ones are bound, removed ones are closed at once. Connected clients are
/// untouched. If any new endpoint fails to bind, nothing changes and the error names the
/// directive to blame, with Redis's text.
pub fn rebind(s: &mut Server, new: &Settings) -> Result<(), (String, String)> {
    let srv = SERVER.with(|w| w.borrow().as_ref().and_then(|w| w.upgrade()));
    let Some(srv) = srv else {
        return Err(("port".into(), "server not running".into()));
    };
    let wanted = listen::endpoints(&new.bind, new.port, &new.unixsocket);
    let current: Vec<listen::Endpoint> =
        LISTENERS.with(|l| l.borrow().iter().map(|a| a.ep.clone()).collect());
    let mut fresh = Vec::new();
    for ep in &wanted {
        if current.iter().any(|c| c.key == ep.key) {
            continue;
        }
        match listen::bind_endpoint(ep, new.tcp_backlog, new.unixsocketperm) {
            Ok(b) => fresh.push((ep.clone(), b)),
            Err(e) if ep.optional => verbose!("Skipping optional {}: {e}", ep.key),
            Err(e) => {
                warning!("{e}");
                drop(fresh);
                let prev = &s.settings;
                let (name, msg) = if new.port != prev.port {
                    ("port", "Unable to listen on this port")
                } else if new.unixsocket != prev.unixsocket {
                    ("unixsocket", "Unable to listen on this unix socket")
                } else {
                    ("bind", "Failed to bind to specified addresses.")
                };
                return Err((name.into(), msg.into()));
            }
        }
    }
    let started = listen::start(&srv, fresh);
    LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        let old = std::mem::take(&mut *l);
        for a in old {
            if wanted.iter().any(|w| w.key == a.ep.key) {
                l.push(a);
            } else {
                a.close();
            }
        }
        l.extend(started);
    });
    s.bound_port = new.port;
    notice!(
        "Listening on: {}",
        wanted
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

fn raise_nofile(maxclients: usize) {
    let want = (maxclients + 32) as u64;
    // SAFETY: getrlimit/setrlimit with a pointer to a live local.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return;
        }
        if rl.rlim_cur >= want {
            return;
        }
        let mut target = want;
        while target > rl.rlim_cur {
            let nl = libc::rlimit {
                rlim_cur: target,
                rlim_max: target.max(rl.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &nl) == 0 {
                break;
            }
            target = target.saturating_sub(16);
        }
        if target < want {
            warning!(
                "You requested maxclients of {} requiring at least {} max file descriptors.",
                maxclients,
                want
            );
            warning!(
                "Server can't set maximum open files to {} because of OS error: {}.",
                want,
                std::io::Error::last_os_error()
            );
            warning!(
                "Current maximum open files is {}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
                target.max(rl.rlim_cur),
                target.max(rl.rlim_cur).saturating_sub(32)
            );
        } else {
            notice!(
                "Increased maximum number of open files to {} (it was originally set to {}).",
                want,
                rl.rlim_cur
            );
        }
    }
}

fn daemonize() {
    // SAFETY: fork at startup before any thread exists; the parent exits at once.
    unsafe {
        match libc::fork() {
            -1 => {}
            0 => {
                libc::setsid();
                let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if devnull >= 0 {
                    libc::dup2(devnull, 0);
                    libc::dup2(devnull, 1);
                    libc::dup2(devnull, 2);
                    if devnull > 2 {
                        libc::close(devnull);
                    }
                }
            }
            _ => libc::_exit(0),
        }
    }
}

fn banner(port: u16) {
    log::raw(&format!(
        "\n    Cinnabar {} -- Redis {} compatible, 64 bit\n    Running in standalone mode\n    Port: {}\n    PID: {}\n\n",
        env!("CARGO_PKG_VERSION"),
        REDIS_VERSION,
        port,
        std::process::id()
    ));
}

fn usage() {
    eprintln!("Usage: ./cinnabar-server [/path/to/redis.conf] [options] [-]");
    eprintln!("       ./cinnabar-server - (read config from stdin)");
    eprintln!("       ./cinnabar-server -v or --version");
    eprintln!("       ./cinnabar-server -h or --help");
    eprintln!();
    eprintln!("Examples:");
    eprintln!("       ./cinnabar-server (run the server with default config)");
    eprintln!("       ./cinnabar-server /etc/redis/6379.conf");
    eprintln!("       ./cinnabar-server --port 7777");
    eprintln!("       ./cinnabar-server /etc/myredis.conf --loglevel verbose -");
}

/// The process entry point: parses the command line like redis-server, loads the
/// configuration, binds, serves until SHUTDOWN or a signal. Returns the exit code.
pub fn main_entry(argv: Vec<String>) -> i32 {
    let args: Vec<String> = argv.into_iter().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Cinnabar server v={} sha=00000000:0 malloc=jemalloc bits=64 build=cinnabar-{}",
                    REDIS_VERSION,
                    env!("CARGO_PKG_VERSION")
                );
                return 0;
            }
            "-h" | "--help" => {
                usage();
                return 0;
            }
            _ => {}
        }
    }
    let (file, rest): (Option<PathBuf>, &[String]) = match args.first() {
        Some(f) if !f.starts_with('-') => (Some(PathBuf::from(f)), &args[1..]),
        _ => (None, &args[..]),
    };
    // `user` lines are checked as they are read (a duplicate or a bad rule stops the start).
    let seen_users = RefCell::new(std::collections::HashSet::<Vec<u8>>::new());
    let check_user = |argv: &[Vec<u8>]| -> Result<(), (usize, String)> {
        if let Some(name) = argv.get(1) {
            if !seen_users.borrow_mut().insert(name.clone()) {
                return Err((
                    1,
                    "Duplicate user found. A user can only be defined once in config files".into(),
                ));
            }
        }
        acl::check_user_line(argv)
    };
    let opts = cinnabar_config::LoadOptions {
        check_user: Some(&check_user),
        ..Default::default()
    };
    let cfg = match cinnabar_config::Config::load_with(file.as_deref(), rest, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let config_file = file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
    if let Err(e) = cfg.apply_dir() {
        eprintln!("Can't chdir to '{}': {e}", cfg.dir().display());
        return 1;
    }
    let settings = Settings::from_config(&cfg);
    if settings.daemonize {
        daemonize();
    }
    log::configure(settings.loglevel, &settings.logfile, 'C');
    notice!("oO0OoO0OoO0Oo Cinnabar is starting oO0OoO0OoO0Oo");
    notice!(
        "Cinnabar version={} (Redis {}), bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        REDIS_VERSION,
        std::process::id()
    );
    if config_file.is_none() {
        warning!("Warning: no config file specified, using the default config. In order to specify a config file use cinnabar-server /path/to/redis.conf");
    } else {
        notice!("Configuration loaded");
    }
    for name in cfg.unimplemented_set() {
        warning!(
            "Directive '{name}' is accepted but not implemented yet by Cinnabar; it has no effect."
        );
    }
    log::configure(settings.loglevel, &settings.logfile, 'M');
    raise_nofile(settings.maxclients);
    if !settings.pidfile.is_empty()
        && (settings.daemonize || config_file.is_some() || !settings.pidfile.is_empty())
    {
        let _ = std::fs::write(&settings.pidfile, format!("{}\n", std::process::id()));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warning!("Failed creating the event loop: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    // The server's main future runs as a task of its own: the LocalSet polls the future given
    // to block_on on every wake-up of any task, so that one is just a cheap join handle.
    let code = local.block_on(&rt, async move {
        tokio::task::spawn_local(run(cfg, config_file))
            .await
            .unwrap_or(1)
    });
    if !settings.pidfile.is_empty() {
        let _ = std::fs::remove_file(&settings.pidfile);
    }
    code
}

async fn run(cfg: cinnabar_config::Config, config_file: Option<PathBuf>) -> i32 {
    let srv = Rc::new(RefCell::new(Server::new(cfg, config_file)));
    if let Err(e) = acl::load_at_startup(&mut srv.borrow_mut()) {
        warning!("{e}");
        return 1;
    }
    SERVER.with(|w| *w.borrow_mut() = Some(Rc::downgrade(&srv)));
    let st = srv.borrow().settings.clone();
    if st.always_show_logo || std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        banner(st.port);
    } else {
        notice!("Running mode=standalone, port={}.", st.port);
    }
    // Signals are handled before the first socket listens (as Redis's initServer): a client
    // may connect, and a supervisor may send SIGTERM, as soon as the port accepts.
    {
        let s = srv.borrow();
        shutdown::install(
            &s.settings.logfile,
            &persist::shutdown_temp_path(&s).display().to_string(),
        );
    }
    let bound = match listen::bind_all(
        &st.bind,
        st.port,
        st.tcp_backlog,
        &st.unixsocket,
        st.unixsocketperm,
    ) {
        Ok(b) => b,
        Err(e) => {
            warning!("{e}");
            warning!("Failed listening on port {} (tcp), aborting.", st.port);
            return 1;
        }
    };
    srv.borrow_mut().bound_port = st.port;
    let tasks = listen::start(&srv, bound);
    LISTENERS.with(|l| *l.borrow_mut() = tasks);
    proctitle::init();
    proctitle::apply(&srv.borrow());
    notice!("Server initialized");
    let cron = tokio::task::spawn_local(cron::run(srv.clone()));
    if persist::load_at_startup(&srv).await.is_err() {
        cron.abort();
        return 1;
    }
    notice!("Ready to accept connections");
    {
        // `replicaof host port` in the configuration.
        let mut s = srv.borrow_mut();
        let conf = s.cfg.get_value("replicaof").unwrap_or_default();
        let mut it = conf.split_whitespace();
        if let (Some(h), Some(p)) = (it.next(), it.next().and_then(|p| p.parse::<u16>().ok())) {
            replica::set_master(&mut s, h.to_string(), p);
        }
    }
    let shutdown = srv.borrow().shutdown_notify.clone();
    // SIGTERM/SIGINT only set a flag; the cron starts the shutdown (see shutdown.rs).
    shutdown.notified().await;
    cron.abort();
    // Let the SHUTDOWN caller's connection close before we go.
    tokio::task::yield_now().await;
    let s = srv.borrow();
    if !s.settings.unixsocket.is_empty() {
        let _ = std::fs::remove_file(&s.settings.unixsocket);
    }
    warning!("Cinnabar is now ready to exit, bye bye...");
    0
}
