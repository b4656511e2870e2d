//! The directive table: every directive redis-server 7.0.15 (built with TLS, as Debian ships
//! it) accepts through its config table, with alias, value type (bounds, units, enum names),
//! the default CONFIG GET shows, and flags (immutable, protected, debug, hidden, ...). The
//! directives handled outside the table (`include`, `rename-command`, `user`, `loadmodule`,
//! `sentinel`, module `name.option` lines and the deprecated ones Redis ignores) are listed in
//! [`FILE_ONLY`] and [`DEPRECATED`].

/// Not settable with CONFIG SET.
pub const IMM: u32 = 1 << 0;
/// Holds a secret (CONFIG SET redacts its value in logs / MONITOR).
pub const SENS: u32 = 1 << 1;
/// Shown by Redis's `DEBUG CONFIG`-style dumps (useful for debugging).
pub const DBG: u32 = 1 << 2;
/// Takes several arguments (a single argument is split on blanks).
pub const MULTI: u32 = 1 << 3;
/// Left out of CONFIG GET glob matches (an exact name still works).
pub const HID: u32 = 1 << 4;
/// CONFIG SET needs `enable-protected-configs yes` (or `local` from a local client).
pub const PROT: u32 = 1 << 5;
/// CONFIG SET refused with -LOADING while a dataset is loading.
pub const DLOAD: u32 = 1 << 6;
/// CONFIG SET always counts as a change (TLS files are re-read even when the name is the same).
pub const VOL: u32 = 1 << 9;

/// Whether a numeric directive is stored unsigned (bounds compared as unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// Signed (`int`, `long long`, `ssize_t`, `time_t`, `off_t`).
    S,
    /// Unsigned (`unsigned int`, `unsigned long long`, `size_t`).
    U,
}
pub use Sign::{S, U};

/// How a numeric directive is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumFmt {
    /// A plain integer.
    INT,
    /// A memory size with optional unit; CONFIG GET shows bytes.
    MEM,
    /// A memory size or a percentage `N%` (stored negative, as Redis does).
    MEMPCT,
    /// An octal number (unixsocketperm).
    OCT,
}
pub use NumFmt::{INT, MEM, MEMPCT, OCT};

/// Extra validation some directives apply on top of their type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// activedefrag: cannot be enabled (Debian's build has no defrag-capable jemalloc).
    ActiveDefrag,
    /// dbfilename: a base name, no path.
    DbFilename,
    /// appendfilename: a non-empty base name.
    AofFilename,
    /// appenddirname: a non-empty base name.
    AofDirname,
    /// cluster-announce-hostname: letters, digits, `-`, `.`, under 256 bytes.
    Hostname,
    /// proc-title-template: known `{variables}` and a non-empty expansion.
    ProcTitle,
    /// shutdown-on-sig*: not both `save` and `nosave`.
    ShutdownFlags,
    /// replica-output-buffer-throttling: `<low> <high> <rate> <delay-ms>`.
    Throttling,
}

/// The directives with their own parsing and rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sp {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyPercentiles,
}

/// A directive's value type, bounds and default.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes` / `no`.
    Bool { default: bool, check: Option<Check> },
    /// A string; `empty_is_null` ones have no value when empty (and are left out of CONFIG
    /// REWRITE); `sds` ones are binary-safe (passwords).
    Str {
        default: Option<&'static str>,
        empty_is_null: bool,
        sds: bool,
        check: Option<Check>,
    },
    /// One of `names` (several, OR-ed, for MULTI ones).
    Enum {
        names: &'static [(&'static str, i32)],
        default: i32,
        check: Option<Check>,
    },
    /// An integer within `[min, max]` (compared unsigned for `U`).
    Num {
        sign: Sign,
        min: i64,
        max: i64,
        default: i64,
        fmt: NumFmt,
    },
    /// Parsed and rendered by its own rules.
    Special(Sp),
}

/// One directive of the table.
#[derive(Clone, Copy, Debug)]
pub struct Directive {
    /// The canonical name.
    pub name: &'static str,
    /// The other accepted name (old `slave-*`, `*-ziplist-*`, ...).
    pub alias: Option<&'static str>,
    /// `IMM`, `PROT`, `DBG`, `HID`, `SENS`, `MULTI`, `DLOAD`, `VOL`.
    pub flags: u32,
    /// Type, bounds, default.
    pub kind: Kind,
}

impl Directive {
    /// Whether CONFIG SET refuses it outright.
    pub fn immutable(&self) -> bool {
        self.flags & IMM != 0
    }
    /// Whether CONFIG SET needs `enable-protected-configs`.
    pub fn protected(&self) -> bool {
        self.flags & PROT != 0
    }
    /// Whether CONFIG GET globs skip it.
    pub fn hidden(&self) -> bool {
        self.flags & HID != 0
    }
    /// Whether it is a debugging-relevant directive.
    pub fn debug(&self) -> bool {
        self.flags & DBG != 0
    }
    /// Whether its value is a secret (to redact from logs, MONITOR, SLOWLOG).
    pub fn sensitive(&self) -> bool {
        self.flags & SENS != 0
    }
    /// Whether it takes several arguments.
    pub fn multi_arg(&self) -> bool {
        self.flags & MULTI != 0
    }
}

/// Directives only meaningful in a file (or on the command line), not in the table.
pub const FILE_ONLY: &[&str] = &[
    "include",
    "rename-command",
    "user",
    "loadmodule",
    "sentinel",
];

/// Directives Redis 7.0 still accepts and ignores, with the argument counts (including the
/// name) it accepts them with.
pub const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 2, 2),
    ("list-max-ziplist-value", 2, 2),
    ("lua-replicate-commands", 2, 2),
];

const I32MAX: i64 = i32::MAX as i64;
const I32MIN: i64 = i32::MIN as i64;
const U32MAX: i64 = u32::MAX as i64;
const I64MAX: i64 = i64::MAX;
/// `ULLONG_MAX` stored in a signed slot (compared unsigned).
const U64MAX: i64 = -1;

const SUPERVISED: &[(&str, i32)] = &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)];
const SYSLOG_FACILITY: &[(&str, i32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
const REPL_DISKLESS_LOAD: &[(&str, i32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
/// loglevel: debug = 0, verbose = 1, notice = 2, warning = 3.
pub const LOGLEVEL: &[(&str, i32)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
/// maxmemory-policy names in Redis's order (values are the positions).
pub const MAXMEMORY_POLICY: &[(&str, i32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const APPENDFSYNC: &[(&str, i32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
/// `yes` and `relative` are the same value (CONFIG GET shows `yes`).
const OOM_SCORE_ADJ: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, i32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
/// enable-*-command / enable-protected-configs: no = 0, yes = 1, local = 2.
pub const PROTECTED_ACTION: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPE: &[(&str, i32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR: &[(&str, i32)] = &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];
/// shutdown-on-sig* flags: save = 1, nosave = 2, now = 4, force = 8 (`default` = 0).
pub const SHUTDOWN_ON_SIG: &[(&str, i32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const TLS_AUTH_CLIENTS: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
/// Cinnabar's `repl-compression`: what a Cinnabar master uses on the link to a Cinnabar replica.
pub const REPL_COMPRESSION: &[(&str, i32)] = &[("none", 0), ("zstd", 1)];

const fn b(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    default: bool,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Bool {
            default,
            check: None,
        },
    }
}

const fn bc(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    default: bool,
    check: Check,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Bool {
            default,
            check: Some(check),
        },
    }
}

const fn st(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    empty_is_null: bool,
    default: Option<&'static str>,
    check: Option<Check>,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Str {
            default,
            empty_is_null,
            sds: false,
            check,
        },
    }
}

const fn sds(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    empty_is_null: bool,
    default: Option<&'static str>,
    check: Option<Check>,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Str {
            default,
            empty_is_null,
            sds: true,
            check,
        },
    }
}

const fn e(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    names: &'static [(&'static str, i32)],
    default: i32,
    check: Option<Check>,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Enum {
            names,
            default,
            check,
        },
    }
}

#[allow(clippy::too_many_arguments)]
const fn n(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u32,
    sign: Sign,
    min: i64,
    max: i64,
    default: i64,
    fmt: NumFmt,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Num {
            sign,
            min,
            max,
            default,
            fmt,
        },
    }
}

const fn sp(name: &'static str, alias: Option<&'static str>, flags: u32, s: Sp) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Special(s),
    }
}

/// Every directive, in Redis's table order.
#[rustfmt::skip]
pub static DIRECTIVES: &[Directive] = &[
    b("rdbchecksum", None, IMM, true),
    b("daemonize", None, IMM, false),
    b("io-threads-do-reads", None, IMM | DBG, false),
    b("always-show-logo", None, IMM, false),
    b("protected-mode", None, 0, true),
    b("rdbcompression", None, 0, true),
    b("rdb-del-sync-files", None, 0, false),
    b("activerehashing", None, 0, true),
    b("stop-writes-on-bgsave-error", None, 0, true),
    b("set-proc-title", None, IMM, true),
    b("dynamic-hz", None, 0, true),
    b("lazyfree-lazy-eviction", None, DBG, false),
    b("lazyfree-lazy-expire", None, DBG, false),
    b("lazyfree-lazy-server-del", None, DBG, false),
    b("lazyfree-lazy-user-del", None, DBG, false),
    b("lazyfree-lazy-user-flush", None, DBG, false),
    b("repl-disable-tcp-nodelay", None, 0, false),
    b("repl-diskless-sync", None, DBG, true),
    b("aof-rewrite-incremental-fsync", None, 0, true),
    b("no-appendfsync-on-rewrite", None, 0, false),
    b("cluster-require-full-coverage", None, 0, true),
    b("rdb-save-incremental-fsync", None, 0, true),
    b("aof-load-truncated", None, 0, true),
    b("aof-use-rdb-preamble", None, 0, true),
    b("aof-timestamp-enabled", None, 0, false),
    b("cluster-replica-no-failover", Some("cluster-slave-no-failover"), 0, false),
    b("replica-lazy-flush", Some("slave-lazy-flush"), 0, false),
    b("replica-serve-stale-data", Some("slave-serve-stale-data"), 0, true),
    b("replica-read-only", Some("slave-read-only"), DBG, true),
    b("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), 0, true),
    b("jemalloc-bg-thread", None, 0, true),
    bc("activedefrag", None, DBG, false, Check::ActiveDefrag),
    b("syslog-enabled", None, IMM, false),
    b("cluster-enabled", None, IMM, false),
    b("appendonly", None, DLOAD, false),
    b("cluster-allow-reads-when-down", None, 0, false),
    b("cluster-allow-pubsubshard-when-down", None, 0, true),
    b("crash-log-enabled", None, 0, true),
    b("crash-memcheck-enabled", None, 0, true),
    b("use-exit-on-panic", None, HID, false),
    b("disable-thp", None, IMM, true),
    b("cluster-allow-replica-migration", None, 0, true),
    b("replica-announced", None, 0, true),
    b("latency-tracking", None, 0, true),
    b("aof-disable-auto-gc", None, 0, false),
    b("replica-ignore-disk-write-errors", None, 0, false),
    st("aclfile", None, IMM, false, Some(""), None),
    st("unixsocket", None, IMM, true, None, None),
    st("pidfile", None, IMM, true, None, None),
    st("replica-announce-ip", Some("slave-announce-ip"), 0, true, None, None),
    st("masteruser", None, SENS, true, None, None),
    st("cluster-announce-ip", None, 0, true, None, None),
    st("cluster-config-file", None, IMM, false, Some("nodes.conf"), None),
    st("cluster-announce-hostname", None, 0, true, None, Some(Check::Hostname)),
    st("syslog-ident", None, IMM, false, Some("redis"), None),
    st("dbfilename", None, PROT, false, Some("dump.rdb"), Some(Check::DbFilename)),
    // Cinnabar: PIPESAVE streams a snapshot into this shell command's stdin. Only the
    // configuration file sets it (a command line run by the server is not a runtime knob).
    st("pipesave-command", None, IMM | HID, false, Some(""), None),
    // Cinnabar: between Cinnabar nodes a full sync takes a second connection for the stream,
    // which the replica buffers (up to `replica-full-sync-buffer-limit` in memory, the rest
    // in a file), and the link is compressed (`repl-compression`).
    b("repl-rdb-channel", None, HID, true),
    n("replica-full-sync-buffer-limit", None, HID, S, 0, I64MAX, 0, MEM),
    e("repl-compression", None, HID, REPL_COMPRESSION, 1, None),
    n("repl-compression-level", None, HID, S, 1, 19, 6, INT),
    // Cinnabar: delay write replies while a replica's buffer outgrows its sync's progress.
    st("replica-output-buffer-throttling", Some("slave-output-buffer-throttling"), HID, false, Some("0 0 0 0"), Some(Check::Throttling)),
    st("appendfilename", None, IMM, false, Some("appendonly.aof"), Some(Check::AofFilename)),
    st("appenddirname", None, IMM, false, Some("appendonlydir"), Some(Check::AofDirname)),
    st("server_cpulist", None, IMM, true, None, None),
    st("bio_cpulist", None, IMM, true, None, None),
    st("aof_rewrite_cpulist", None, IMM, true, None, None),
    st("bgsave_cpulist", None, IMM, true, None, None),
    st("ignore-warnings", None, 0, false, Some(""), None),
    st("proc-title-template", None, 0, false, Some("{title} {listen-addr} {server-mode}"), Some(Check::ProcTitle)),
    st("bind-source-addr", None, 0, true, None, None),
    st("logfile", None, IMM, false, Some(""), None),
    sds("masterauth", None, SENS, true, None, None),
    sds("requirepass", None, SENS, true, None, None),
    e("supervised", None, IMM, SUPERVISED, 3, None),
    e("syslog-facility", None, IMM, SYSLOG_FACILITY, 1, None),
    e("repl-diskless-load", None, DBG | DLOAD, REPL_DISKLESS_LOAD, 0, None),
    e("loglevel", None, 0, LOGLEVEL, 2, None),
    e("maxmemory-policy", None, 0, MAXMEMORY_POLICY, 7, None),
    e("appendfsync", None, 0, APPENDFSYNC, 0, None),
    e("oom-score-adj", None, 0, OOM_SCORE_ADJ, 0, None),
    e("acl-pubsub-default", None, 0, ACL_PUBSUB_DEFAULT, 0, None),
    e("sanitize-dump-payload", None, DBG, SANITIZE_DUMP_PAYLOAD, 0, None),
    e("enable-protected-configs", None, IMM, PROTECTED_ACTION, 0, None),
    e("enable-debug-command", None, IMM, PROTECTED_ACTION, 0, None),
    e("enable-module-command", None, IMM, PROTECTED_ACTION, 0, None),
    e("cluster-preferred-endpoint-type", None, 0, ENDPOINT_TYPE, 0, None),
    e("propagation-error-behavior", None, 0, PROPAGATION_ERROR, 0, None),
    e("shutdown-on-sigint", None, MULTI, SHUTDOWN_ON_SIG, 0, Some(Check::ShutdownFlags)),
    e("shutdown-on-sigterm", None, MULTI, SHUTDOWN_ON_SIG, 0, Some(Check::ShutdownFlags)),
    n("databases", None, IMM, S, 1, I32MAX, 16, INT),
    n("port", None, 0, S, 0, 65535, 6379, INT),
    n("io-threads", None, IMM | DBG, S, 1, 128, 1, INT),
    n("auto-aof-rewrite-percentage", None, 0, S, 0, I32MAX, 100, INT),
    n("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), 0, S, 0, I32MAX, 10, INT),
    n("list-max-listpack-size", Some("list-max-ziplist-size"), 0, S, I32MIN, I32MAX, -2, INT),
    n("tcp-keepalive", None, 0, S, 0, I32MAX, 300, INT),
    n("cluster-migration-barrier", None, 0, S, 0, I32MAX, 1, INT),
    n("active-defrag-cycle-min", None, 0, S, 1, 99, 1, INT),
    n("active-defrag-cycle-max", None, 0, S, 1, 99, 25, INT),
    n("active-defrag-threshold-lower", None, 0, S, 0, 1000, 10, INT),
    n("active-defrag-threshold-upper", None, 0, S, 0, 1000, 100, INT),
    n("lfu-log-factor", None, 0, S, 0, I32MAX, 10, INT),
    n("lfu-decay-time", None, 0, S, 0, I32MAX, 1, INT),
    n("replica-priority", Some("slave-priority"), 0, S, 0, I32MAX, 100, INT),
    n("repl-diskless-sync-delay", None, 0, S, 0, I32MAX, 5, INT),
    n("maxmemory-samples", None, 0, S, 1, I32MAX, 5, INT),
    n("maxmemory-eviction-tenacity", None, 0, S, 0, 100, 10, INT),
    n("timeout", None, 0, S, 0, I32MAX, 0, INT),
    n("replica-announce-port", Some("slave-announce-port"), 0, S, 0, 65535, 0, INT),
    n("tcp-backlog", None, IMM, S, 0, I32MAX, 511, INT),
    n("cluster-port", None, IMM, S, 0, 65535, 0, INT),
    n("cluster-announce-bus-port", None, 0, S, 0, 65535, 0, INT),
    n("cluster-announce-port", None, 0, S, 0, 65535, 0, INT),
    n("cluster-announce-tls-port", None, 0, S, 0, 65535, 0, INT),
    n("repl-timeout", None, 0, S, 1, I32MAX, 60, INT),
    n("repl-ping-replica-period", Some("repl-ping-slave-period"), 0, S, 1, I32MAX, 10, INT),
    n("list-compress-depth", None, DBG, S, 0, I32MAX, 0, INT),
    n("rdb-key-save-delay", None, HID, S, I32MIN, I32MAX, 0, INT),
    n("key-load-delay", None, HID, S, I32MIN, I32MAX, 0, INT),
    n("active-expire-effort", None, 0, S, 1, 10, 1, INT),
    n("hz", None, 0, S, 0, I32MAX, 10, INT),
    n("min-replicas-to-write", Some("min-slaves-to-write"), 0, S, 0, I32MAX, 0, INT),
    n("min-replicas-max-lag", Some("min-slaves-max-lag"), 0, S, 0, I32MAX, 10, INT),
    n("watchdog-period", None, HID, S, 0, I32MAX, 0, INT),
    n("shutdown-timeout", None, 0, S, 0, I32MAX, 10, INT),
    n("repl-diskless-sync-max-replicas", None, 0, S, 0, I32MAX, 0, INT),
    n("maxclients", None, 0, U, 1, U32MAX, 10000, INT),
    n("unixsocketperm", None, IMM, U, 0, 0o777, 0, OCT),
    n("socket-mark-id", None, IMM, U, 0, U32MAX, 0, INT),
    n("active-defrag-max-scan-fields", None, 0, U, 1, I64MAX, 1000, INT),
    n("slowlog-max-len", None, 0, U, 0, I64MAX, 128, INT),
    n("acllog-max-len", None, 0, U, 0, I64MAX, 128, INT),
    n("busy-reply-threshold", Some("lua-time-limit"), 0, S, 0, I64MAX, 5000, INT),
    n("cluster-node-timeout", None, 0, S, 0, I64MAX, 15000, INT),
    n("slowlog-log-slower-than", None, 0, S, -1, I64MAX, 10000, INT),
    n("latency-monitor-threshold", None, 0, S, 0, I64MAX, 0, INT),
    n("proto-max-bulk-len", None, DBG, S, 1048576, I64MAX, 536870912, MEM),
    n("stream-node-max-entries", None, 0, S, 0, I64MAX, 100, INT),
    n("repl-backlog-size", None, 0, S, 1, I64MAX, 1048576, MEM),
    n("maxmemory", None, 0, U, 0, U64MAX, 0, MEM),
    n("cluster-link-sendbuf-limit", None, 0, U, 0, U64MAX, 0, MEM),
    n("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), 0, U, 0, I64MAX, 512, INT),
    n("set-max-intset-entries", None, 0, U, 0, I64MAX, 512, INT),
    n("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), 0, U, 0, I64MAX, 128, INT),
    n("active-defrag-ignore-bytes", None, 0, U, 1, I64MAX, 104857600, MEM),
    n("hash-max-listpack-value", Some("hash-max-ziplist-value"), 0, U, 0, I64MAX, 64, MEM),
    n("stream-node-max-bytes", None, 0, U, 0, I64MAX, 4096, MEM),
    n("zset-max-listpack-value", Some("zset-max-ziplist-value"), 0, U, 0, I64MAX, 64, MEM),
    n("hll-sparse-max-bytes", None, 0, U, 0, I64MAX, 3000, MEM),
    n("tracking-table-max-keys", None, 0, U, 0, I64MAX, 1000000, INT),
    n("client-query-buffer-limit", None, DBG, U, 1048576, I64MAX, 1073741824, MEM),
    n("maxmemory-clients", None, 0, S, -100, I64MAX, 0, MEMPCT),
    n("repl-backlog-ttl", None, 0, S, 0, I64MAX, 3600, INT),
    n("auto-aof-rewrite-min-size", None, 0, S, 0, I64MAX, 67108864, MEM),
    n("loading-process-events-interval-bytes", None, HID, S, 1024, I32MAX, 2097152, INT),
    n("tls-port", None, 0, S, 0, 65535, 0, INT),
    n("tls-session-cache-size", None, 0, S, 0, I32MAX, 20480, INT),
    n("tls-session-cache-timeout", None, 0, S, 0, I32MAX, 300, INT),
    b("tls-cluster", None, 0, false),
    b("tls-replication", None, 0, false),
    e("tls-auth-clients", None, 0, TLS_AUTH_CLIENTS, 1, None),
    b("tls-prefer-server-ciphers", None, 0, false),
    b("tls-session-caching", None, 0, true),
    st("tls-cert-file", None, VOL, true, None, None),
    st("tls-key-file", None, VOL, true, None, None),
    st("tls-key-file-pass", None, 0, true, None, None),
    st("tls-client-cert-file", None, VOL, true, None, None),
    st("tls-client-key-file", None, VOL, true, None, None),
    st("tls-client-key-file-pass", None, 0, true, None, None),
    st("tls-dh-params-file", None, VOL, true, None, None),
    st("tls-ca-cert-file", None, VOL, true, None, None),
    st("tls-ca-cert-dir", None, VOL, true, None, None),
    st("tls-protocols", None, 0, true, None, None),
    st("tls-ciphers", None, 0, true, None, None),
    st("tls-ciphersuites", None, 0, true, None, None),
    sp("dir", None, PROT | DLOAD, Sp::Dir),
    sp("save", None, MULTI, Sp::Save),
    sp("client-output-buffer-limit", None, MULTI, Sp::ClientOutputBufferLimit),
    sp("oom-score-adj-values", None, MULTI, Sp::OomScoreAdjValues),
    sp("notify-keyspace-events", None, 0, Sp::NotifyKeyspaceEvents),
    sp("bind", None, MULTI, Sp::Bind),
    sp("replicaof", Some("slaveof"), IMM | MULTI, Sp::ReplicaOf),
    sp("latency-tracking-info-percentiles", None, MULTI, Sp::LatencyPercentiles),
];

/// The position in [`DIRECTIVES`] of a directive by name or alias, any case, with a flag
/// telling whether `name` was the alias.
pub fn lookup(name: &[u8]) -> Option<(usize, bool)> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static INDEX: OnceLock<HashMap<&'static str, (usize, bool)>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            m.insert(d.name, (i, false));
            if let Some(a) = d.alias {
                m.insert(a, (i, true));
            }
        }
        m
    });
    if name.len() > 64 {
        return None;
    }
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    index.get(lower.as_str()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for d in DIRECTIVES {
            for n in std::iter::once(d.name).chain(d.alias) {
                assert!(seen.insert(n), "duplicate {n}");
                assert_eq!(n, n.to_ascii_lowercase());
            }
        }
        // Redis 7.0's 178 directives plus Cinnabar's own: pipesave-command,
        // repl-rdb-channel, replica-full-sync-buffer-limit, repl-compression(-level),
        // replica-output-buffer-throttling.
        assert_eq!(DIRECTIVES.len(), 184);
        let (i, alias) = lookup(b"SLAVEOF").expect("slaveof");
        assert!(alias);
        assert_eq!(DIRECTIVES[i].name, "replicaof");
        assert_eq!(lookup(b"nope"), None);
    }
}
