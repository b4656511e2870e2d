//! `Server`: everything the engine thread owns — the keyspace, the configuration, the client
//! registry, the counters. It lives in an `Rc<RefCell<_>>` shared by the tasks of the one
//! engine thread; a task borrows it only between awaits, so commands run to completion against
//! it without locks, one at a time, in one order.

use crate::client::ClientHandle;
use crate::settings::Settings;
use cinnabar_keyspace::db::Keyspace;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Server-wide counters for INFO stats.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub client_qbuf_limit_disconnections: u64,
    /// Clients closed for crossing `client-output-buffer-limit` (normal and pubsub classes).
    pub client_obuf_limit_disconnections: u64,
    /// Clients closed by `maxmemory-clients` (INFO evicted_clients).
    pub evicted_clients: u64,
    /// Full synchronizations served, partial ones accepted and refused (replid not '?').
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// Ring of (ms, commands) samples for instantaneous_ops_per_sec.
    pub ops_samples: Vec<(i64, u64)>,
    pub net_in_samples: Vec<(i64, u64)>,
    pub net_out_samples: Vec<(i64, u64)>,
}

/// An active CLIENT PAUSE.
#[derive(Clone, Copy, Debug)]
pub struct Pause {
    pub until_ms: i64,
    /// Only write commands are paused (PAUSE ... WRITE).
    pub write_only: bool,
}

/// How a SHUTDOWN was asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownRequest {
    pub nosave: bool,
    pub save: bool,
    pub now: bool,
    pub force: bool,
    pub signal: Option<&'static str>,
}

/// The engine's state.
pub struct Server {
    pub ks: Keyspace,
    /// ACL users and the ACL LOG (acl/).
    pub acl: crate::acl::Acl,
    pub cfg: cinnabar_config::Config,
    pub settings: Settings,
    pub config_file: Option<PathBuf>,
    pub executable: String,
    pub clients: BTreeMap<u64, Rc<ClientHandle>>,
    /// Clients waiting for CLIENT PAUSE to end (counted in INFO blocked_clients).
    pub paused_clients: usize,
    /// The memory of all normal and pubsub clients (see client_evict.rs).
    pub clients_mem: usize,
    /// The next client id the cron's query buffer pass looks at.
    pub clients_cron_cursor: u64,
    /// Connections the busy-script hook accepted, whose tasks start when the script ends.
    pub accepted_while_busy: Vec<(std::os::fd::OwnedFd, Rc<ClientHandle>)>,
    pub next_client_id: u64,
    pub stats: Stats,
    pub started: Instant,
    pub start_unix: i64,
    pub run_id: String,
    pub dirty: u64,
    pub lastsave: i64,
    pub pause: Option<Pause>,
    pub pause_notify: Rc<Notify>,
    pub shutdown: Option<ShutdownRequest>,
    pub shutdown_notify: Rc<Notify>,
    /// Tells the listener supervisor to rebind after CONFIG SET bind/port/unixsocket.
    pub rebind_notify: Rc<Notify>,
    /// Ports actually bound (tcp_port may be 0 in the config → ephemeral).
    pub bound_port: u16,
    pub hz: u32,
    pub active_expire_enabled: bool,
    pub cron_loops: u64,
    /// Latency histograms indexed by `CommandSpec::index`.
    pub latency: Vec<Option<Box<crate::latency::Histogram>>>,
    /// The latency monitor's events (LATENCY LATEST/HISTORY).
    pub latency_events: crate::latency::Monitor,
    /// Clients blocked in BLPOP and friends.
    pub blocked: crate::blocking::Blocked,
    /// WATCHed keys: (db, key) → the clients watching it.
    pub watched: std::collections::HashMap<(usize, Vec<u8>), Vec<crate::multi::WatchEntry>>,
    /// Client-side caching (CLIENT TRACKING).
    pub tracking: crate::tracking::Tracking,
    /// Pub/Sub subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// RDB saving and loading state.
    pub persist: crate::persist::Persist,
    /// Set while the dataset is being loaded at startup (commands get `-LOADING`).
    pub loading: Option<crate::persist::Loading>,
    /// Client ids of the attached replicas (they receive the propagated stream).
    pub replicas: Vec<u64>,
    /// The replication id of this server's history, the previous one and where it ended.
    pub replid: String,
    pub replid2: String,
    pub second_repl_offset: i64,
    /// This server's master, when it is a replica.
    pub master: Option<crate::replica::MasterLink>,
    /// The client id applying the master's stream.
    pub master_client: Option<u64>,
    /// Set while a command from the master's stream runs (it is proxied, not re-propagated).
    pub applying_master: bool,
    /// The replication buffer shared by the replicas and the backlog.
    pub repl_buf: crate::replbuf::ReplBuf,
    /// The last command found the server over `maxmemory` with nothing left to evict (Redis's
    /// pre_command_oom_state, which scripts check).
    pub pre_command_oom: bool,
    /// Clients in MONITOR mode, by id.
    pub monitors: Vec<u64>,
    /// `maxmemory` eviction state.
    pub evict: crate::evict::Evictor,
    /// Since when no replica is attached (repl-backlog-ttl).
    pub repl_no_replicas_since: Option<std::time::Instant>,
    /// MIGRATE's cached connections, by "host:port".
    pub migrate_cache: std::collections::HashMap<String, crate::migrate::Cached>,
    /// The append-only file.
    pub aof: crate::aof::Aof,
    /// The AOF file being loaded (for error messages).
    pub aof_loading_file: String,
    /// Replicas waiting for the next shared snapshot.
    pub pending_syncs: Vec<crate::persist::PendingSync>,
    /// A shutdown waiting for replicas to catch up.
    pub shutdown_pending: Option<crate::shutdown::Pending>,
    /// DEBUG PAUSE-CRON.
    pub cron_paused: bool,
    /// The replica holds a master's history it can continue with PSYNC.
    pub master_cached: bool,
    /// A FAILOVER under way (writes are paused meanwhile).
    pub failover: Option<crate::replica::Failover>,
    /// A replica's async load (repl-diskless-load swapdb, same history): the databases being
    /// loaded, while clients keep being served the old ones (INFO `async_loading:1`).
    pub async_side: Option<Vec<cinnabar_keyspace::db::Db>>,
    /// SLOWLOG: the newest entries first, and the next entry's id.
    pub slowlog: std::collections::VecDeque<crate::slowlog::Entry>,
    pub slowlog_next_id: u64,
    /// replica-output-buffer-throttling's current state.
    pub throttle: crate::throttle::Throttle,
    /// The database the master's stream last selected (kept for a partial resync).
    pub master_db: usize,
    /// The replication cron's last run and count of runs (one a second).
    pub repl_cron_last: std::time::Instant,
    pub repl_cron_ticks: u64,
    /// Woken when a replica acknowledges an offset (WAIT).
    pub repl_ack_notify: Rc<Notify>,
    /// EXEC is running its queued commands.
    pub in_exec: bool,
    /// The propagation point (AOF and replicas).
    pub prop: crate::propagate::Propagation,
    /// Lua scripting: EVAL scripts, function libraries.
    pub scripting: crate::script::Scripting,
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// 40 random hex characters (the run id).
pub fn random_hex40() -> String {
    let mut bytes = [0u8; 20];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        let mut x = now_us() as u64 ^ ((std::process::id() as u64) << 32);
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Server {
    /// A server from a loaded configuration.
    pub fn new(cfg: cinnabar_config::Config, config_file: Option<PathBuf>) -> Self {
        let settings = Settings::from_config(&cfg);
        settings.access.install();
        let dbs = settings.databases.max(1);
        let hz = settings.hz;
        Server {
            ks: Keyspace::new(dbs),
            acl: Default::default(),
            cfg,
            settings,
            config_file,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            clients: BTreeMap::new(),
            clients_cron_cursor: 0,
            clients_mem: 0,
            paused_clients: 0,
            accepted_while_busy: Vec::new(),
            next_client_id: 1,
            stats: Stats::default(),
            started: Instant::now(),
            start_unix: now_ms() / 1000,
            run_id: random_hex40(),
            dirty: 0,
            lastsave: now_ms() / 1000,
            pause: None,
            pause_notify: Rc::new(Notify::new()),
            shutdown: None,
            shutdown_notify: Rc::new(Notify::new()),
            rebind_notify: Rc::new(Notify::new()),
            bound_port: 0,
            hz,
            active_expire_enabled: true,
            cron_loops: 0,
            latency: Vec::new(),
            latency_events: Default::default(),
            blocked: Default::default(),
            watched: Default::default(),
            tracking: Default::default(),
            pubsub: Default::default(),
            persist: Default::default(),
            loading: None,
            replicas: Vec::new(),
            replid: random_hex40(),
            replid2: "0".repeat(40),
            second_repl_offset: -1,
            master: None,
            master_client: None,
            applying_master: false,
            repl_ack_notify: Rc::new(Notify::new()),
            repl_buf: Default::default(),
            monitors: Vec::new(),
            pre_command_oom: false,
            evict: Default::default(),
            repl_no_replicas_since: None,
            migrate_cache: Default::default(),
            aof: Default::default(),
            aof_loading_file: String::new(),
            pending_syncs: Vec::new(),
            shutdown_pending: None,
            cron_paused: false,
            master_cached: false,
            failover: None,
            throttle: Default::default(),
            async_side: None,
            slowlog: Default::default(),
            slowlog_next_id: 0,
            master_db: 0,
            repl_cron_last: std::time::Instant::now(),
            repl_cron_ticks: 0,
            in_exec: false,
            prop: Default::default(),
            scripting: Default::default(),
        }
    }

    /// Re-reads the typed settings after a configuration change.
    pub fn refresh_settings(&mut self) {
        self.settings = Settings::from_config(&self.cfg);
        self.hz = self.settings.hz;
        self.settings.access.install();
        crate::log::set_level(self.settings.loglevel);
    }

    /// Adds a latency monitor sample when `ms` reaches `latency-monitor-threshold`.
    #[inline]
    pub fn latency_sample(&mut self, event: &str, ms: u64) {
        let th = self.settings.latency_monitor_threshold;
        if th > 0 && ms >= th as u64 {
            self.latency_events.add(event, ms);
        }
    }

    /// Records a command's duration in its latency histogram.
    pub fn record_latency(&mut self, index: usize, ns: u64) {
        if self.latency.len() <= index {
            self.latency.resize_with(index + 1, || None);
        }
        self.latency[index]
            .get_or_insert_with(Default::default)
            .record(ns);
    }

    /// Whether commands of this kind must wait for a CLIENT PAUSE to end.
    /// Writes are paused (CLIENT PAUSE, or a FAILOVER): nothing may add to the replication
    /// stream meanwhile, not even the master's PING or GETACK, as in Redis.
    pub fn writes_paused(&self, now: i64) -> bool {
        self.failover.is_some() || self.pause.is_some_and(|p| p.until_ms > now)
    }

    pub fn paused_for(&mut self, is_write: bool, now: i64) -> bool {
        match self.pause {
            Some(p) if p.until_ms <= now => {
                self.pause = None;
                self.pause_notify.notify_waiters();
                false
            }
            Some(p) => !p.write_only || is_write,
            None => false,
        }
    }
}
