//! `Settings`: the typed values the hot paths read, derived from the configuration after it is
//! loaded and after each CONFIG SET (so a command never parses configuration text).

use crate::log::Level;
use cinnabar_config::Config;
use cinnabar_keyspace::types::TypeLimits;

/// `enable-debug-command` and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enable {
    No,
    Yes,
    Local,
}

/// Typed configuration values.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub unixsocket: String,
    pub unixsocketperm: u32,
    pub tcp_backlog: i32,
    pub timeout: i64,
    pub tcp_keepalive: i64,
    pub maxclients: usize,
    pub requirepass: Option<Vec<u8>>,
    pub protected_mode: bool,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: usize,
    /// `client-output-buffer-limit` per class (normal, replica, pubsub).
    pub obuf_limits: [cinnabar_config::ObufLimit; 3],
    /// `maxmemory-clients`: bytes, or a percentage of maxmemory as a negative number.
    pub maxmemory_clients: i64,
    pub databases: usize,
    pub hz: u32,
    pub loglevel: Level,
    pub logfile: String,
    pub pidfile: String,
    pub daemonize: bool,
    pub enable_debug_command: Enable,
    pub lazyfree_lazy_user_flush: bool,
    /// `lazyfree-lazy-eviction`: evictions propagate as UNLINK.
    pub lazyfree_lazy_eviction: bool,
    pub active_expire_effort: u32,
    pub always_show_logo: bool,
    pub latency_tracking: bool,
    /// slowlog-log-slower-than (µs; negative: off) and slowlog-max-len.
    pub slowlog_slower_than: i64,
    /// `latency-monitor-threshold` in ms (0: the latency monitor is off).
    pub latency_monitor_threshold: i64,
    pub slowlog_max_len: usize,
    pub latency_percentiles: Vec<f64>,
    pub limits: TypeLimits,
    /// `save` points: (seconds, changes).
    pub save_params: Vec<(i64, i64)>,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub rdb_key_save_delay: i64,
    pub stop_writes_on_bgsave_error: bool,
    pub appendonly: bool,
    pub appendfsync: Fsync,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_use_rdb_preamble: bool,
    pub aof_load_truncated: bool,
    pub aof_timestamp_enabled: bool,
    /// `aof-disable-auto-gc`: history files stay listed (and on disk) after a rewrite.
    pub aof_disable_auto_gc: bool,
    pub auto_aof_rewrite_percentage: i64,
    pub auto_aof_rewrite_min_size: i64,
    pub no_appendfsync_on_rewrite: bool,
    pub replica_read_only: bool,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: crate::evict::Policy,
    /// `maxmemory-samples`.
    pub maxmemory_samples: usize,
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub maxmemory_eviction_tenacity: u64,
    /// `replica-ignore-maxmemory`.
    pub replica_ignore_maxmemory: bool,
    /// The key access clocks (LRU or LFU with `lfu-log-factor` / `lfu-decay-time`).
    pub access: cinnabar_keyspace::db::Access,
    /// `repl-backlog-size` in bytes.
    pub repl_backlog_size: u64,
    /// `busy-reply-threshold` (`lua-time-limit`) in ms: a script running longer gets the
    /// other clients served with -BUSY.
    pub busy_reply_threshold: u64,
    /// `replica-serve-stale-data`: a replica without its master still answers.
    pub replica_serve_stale_data: bool,
    pub min_replicas_to_write: i64,
    pub min_replicas_max_lag: i64,
    /// `notify-keyspace-events` as class bits; 0 when neither K nor E is set (nothing to
    /// publish), so the hot path tests one word.
    pub notify_flags: u32,
}

/// `appendfsync`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

fn val(cfg: &Config, name: &str) -> String {
    cfg.get_value(name).unwrap_or_default()
}

fn num(cfg: &Config, name: &str, default: i64) -> i64 {
    val(cfg, name).trim().parse().unwrap_or(default)
}

fn yes(cfg: &Config, name: &str) -> bool {
    val(cfg, name).eq_ignore_ascii_case("yes")
}

fn enable(cfg: &Config, name: &str) -> Enable {
    match val(cfg, name).to_ascii_lowercase().as_str() {
        "yes" => Enable::Yes,
        "local" => Enable::Local,
        _ => Enable::No,
    }
}

impl Settings {
    /// Reads every typed value from `cfg`.
    pub fn from_config(cfg: &Config) -> Settings {
        let pass = val(cfg, "requirepass");
        Settings {
            port: num(cfg, "port", 6379).clamp(0, 65535) as u16,
            bind: val(cfg, "bind")
                .split_whitespace()
                .map(|s| s.to_string())
                .collect(),
            unixsocket: val(cfg, "unixsocket"),
            unixsocketperm: u32::from_str_radix(val(cfg, "unixsocketperm").trim(), 8).unwrap_or(0),
            tcp_backlog: num(cfg, "tcp-backlog", 511) as i32,
            timeout: num(cfg, "timeout", 0),
            tcp_keepalive: num(cfg, "tcp-keepalive", 300),
            maxclients: num(cfg, "maxclients", 10000).max(1) as usize,
            requirepass: if pass.is_empty() {
                None
            } else {
                // The raw bytes: a password need not be UTF-8.
                Some(
                    cfg.get_bytes("requirepass")
                        .unwrap_or_else(|| pass.into_bytes()),
                )
            },
            protected_mode: yes(cfg, "protected-mode"),
            proto_max_bulk_len: num(cfg, "proto-max-bulk-len", 512 * 1024 * 1024),
            client_query_buffer_limit: num(cfg, "client-query-buffer-limit", 1 << 30) as usize,
            obuf_limits: [
                cfg.client_output_buffer_limit(cinnabar_config::ClientClass::Normal),
                cfg.client_output_buffer_limit(cinnabar_config::ClientClass::Replica),
                cfg.client_output_buffer_limit(cinnabar_config::ClientClass::Pubsub),
            ],
            maxmemory_clients: cfg.get_i64("maxmemory-clients").unwrap_or(0),
            databases: num(cfg, "databases", 16).max(1) as usize,
            hz: num(cfg, "hz", 10).clamp(1, 500) as u32,
            loglevel: Level::parse(&val(cfg, "loglevel")).unwrap_or(Level::Notice),
            logfile: val(cfg, "logfile"),
            pidfile: val(cfg, "pidfile"),
            daemonize: yes(cfg, "daemonize"),
            enable_debug_command: enable(cfg, "enable-debug-command"),
            lazyfree_lazy_user_flush: yes(cfg, "lazyfree-lazy-user-flush"),
            lazyfree_lazy_eviction: yes(cfg, "lazyfree-lazy-eviction"),
            active_expire_effort: num(cfg, "active-expire-effort", 1).clamp(1, 10) as u32,
            always_show_logo: yes(cfg, "always-show-logo"),
            latency_tracking: cfg.get_value("latency-tracking").is_none_or(|v| v == "yes"),
            latency_monitor_threshold: cfg.get_i64("latency-monitor-threshold").unwrap_or(0),
            slowlog_slower_than: cfg
                .get_value("slowlog-log-slower-than")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10000),
            slowlog_max_len: cfg
                .get_value("slowlog-max-len")
                .and_then(|v| v.parse().ok())
                .unwrap_or(128),
            latency_percentiles: cfg
                .get_value("latency-tracking-info-percentiles")
                .unwrap_or_else(|| "50 99 99.9".into())
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect(),
            save_params: {
                let v: Vec<i64> = val(cfg, "save")
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                v.chunks_exact(2).map(|c| (c[0], c[1])).collect()
            },
            rdbcompression: yes(cfg, "rdbcompression"),
            rdbchecksum: yes(cfg, "rdbchecksum"),
            rdb_key_save_delay: num(cfg, "rdb-key-save-delay", 0),
            stop_writes_on_bgsave_error: yes(cfg, "stop-writes-on-bgsave-error"),
            appendonly: yes(cfg, "appendonly"),
            appendfsync: match val(cfg, "appendfsync").to_ascii_lowercase().as_str() {
                "always" => Fsync::Always,
                "no" => Fsync::No,
                _ => Fsync::EverySec,
            },
            appendfilename: cfg
                .get_value("appendfilename")
                .unwrap_or_else(|| "appendonly.aof".into()),
            appenddirname: cfg
                .get_value("appenddirname")
                .unwrap_or_else(|| "appendonlydir".into()),
            aof_use_rdb_preamble: yes(cfg, "aof-use-rdb-preamble"),
            aof_load_truncated: yes(cfg, "aof-load-truncated"),
            aof_timestamp_enabled: yes(cfg, "aof-timestamp-enabled"),
            aof_disable_auto_gc: yes(cfg, "aof-disable-auto-gc"),
            auto_aof_rewrite_percentage: num(cfg, "auto-aof-rewrite-percentage", 100),
            auto_aof_rewrite_min_size: num(cfg, "auto-aof-rewrite-min-size", 64 * 1024 * 1024),
            no_appendfsync_on_rewrite: yes(cfg, "no-appendfsync-on-rewrite"),
            replica_read_only: yes(cfg, "replica-read-only"),
            replica_serve_stale_data: yes(cfg, "replica-serve-stale-data"),
            busy_reply_threshold: num(cfg, "busy-reply-threshold", 5000).max(0) as u64,
            repl_backlog_size: num(cfg, "repl-backlog-size", 1 << 20).max(0) as u64,
            maxmemory: num(cfg, "maxmemory", 0).max(0) as u64,
            maxmemory_policy: crate::evict::Policy::parse(&val(cfg, "maxmemory-policy")),
            maxmemory_samples: num(cfg, "maxmemory-samples", 5).clamp(1, 64) as usize,
            maxmemory_eviction_tenacity: num(cfg, "maxmemory-eviction-tenacity", 10).clamp(0, 100)
                as u64,
            replica_ignore_maxmemory: yes(cfg, "replica-ignore-maxmemory"),
            access: cinnabar_keyspace::db::Access {
                lfu: crate::evict::Policy::parse(&val(cfg, "maxmemory-policy")).is_lfu(),
                log_factor: num(cfg, "lfu-log-factor", 10).max(0) as u32,
                decay_time: num(cfg, "lfu-decay-time", 1).max(0) as u32,
                unshared_ints: num(cfg, "maxmemory", 0) > 0
                    && matches!(
                        crate::evict::Policy::parse(&val(cfg, "maxmemory-policy")),
                        crate::evict::Policy::AllkeysLru
                            | crate::evict::Policy::VolatileLru
                            | crate::evict::Policy::AllkeysLfu
                            | crate::evict::Policy::VolatileLfu
                    ),
            },
            min_replicas_to_write: num(cfg, "min-replicas-to-write", 0),
            min_replicas_max_lag: num(cfg, "min-replicas-max-lag", 10),
            notify_flags: cinnabar_keyspace::notify::effective(cfg.notify_keyspace_events()),
            limits: TypeLimits {
                hash_max_listpack_entries: num(cfg, "hash-max-listpack-entries", 512).max(0)
                    as usize,
                hash_max_listpack_value: num(cfg, "hash-max-listpack-value", 64).max(0) as usize,
                list_max_listpack_size: num(cfg, "list-max-listpack-size", -2),
                set_max_intset_entries: num(cfg, "set-max-intset-entries", 512).max(0) as usize,
                zset_max_listpack_entries: num(cfg, "zset-max-listpack-entries", 128).max(0)
                    as usize,
                zset_max_listpack_value: num(cfg, "zset-max-listpack-value", 64).max(0) as usize,
                hll_sparse_max_bytes: num(cfg, "hll-sparse-max-bytes", 3000).max(0) as usize,
                stream_node_max_bytes: num(cfg, "stream-node-max-bytes", 4096).max(0) as usize,
                stream_node_max_entries: num(cfg, "stream-node-max-entries", 100).max(0),
            },
        }
    }
}
