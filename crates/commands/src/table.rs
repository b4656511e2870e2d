//! The command table: every command's metadata, written once. The dispatcher checks arity,
//! flags, auth and the like from here; COMMAND INFO/COUNT/LIST/GETKEYS answer from here.
//!
//! Flags and ACL categories are written as space-separated names (Redis's own names) and turned
//! into bit masks once at startup. The implicit categories Redis derives from flags (`@write`,
//! `@read`, `@fast`/`@slow`, `@admin @dangerous`, ...) are derived the same way here.

use crate::families::{
    bitmap, bitops, dump, geo, hash, hll, keys, list, scripting, set, sort, stream, string, zset,
};
use crate::Ctx;
use cinnabar_resp::Args;
use std::collections::HashMap;

/// The table's map type (fast hashing: the lookup is on every command's path).
pub type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Who runs a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A data command run against the keyspace with a `Ctx`.
    Data(fn(&mut Ctx, Args)),
    /// A command that needs the server's state; the server matches on the name.
    Server,
}

/// One command's static description (as written in the table).
pub struct Def {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static str,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Explicit ACL categories, e.g. "string" or "keyspace dangerous".
    pub acl: &'static str,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub subcommands: &'static [Def],
    pub handler: Handler,
}

/// Command flag bits.
pub mod flag {
    pub const WRITE: u64 = 1 << 0;
    pub const READONLY: u64 = 1 << 1;
    pub const DENYOOM: u64 = 1 << 2;
    pub const MODULE: u64 = 1 << 3;
    pub const ADMIN: u64 = 1 << 4;
    pub const PUBSUB: u64 = 1 << 5;
    pub const NOSCRIPT: u64 = 1 << 6;
    pub const BLOCKING: u64 = 1 << 7;
    pub const LOADING: u64 = 1 << 8;
    pub const STALE: u64 = 1 << 9;
    pub const SKIP_MONITOR: u64 = 1 << 10;
    pub const SKIP_SLOWLOG: u64 = 1 << 11;
    pub const ASKING: u64 = 1 << 12;
    pub const FAST: u64 = 1 << 13;
    pub const NO_AUTH: u64 = 1 << 14;
    pub const MAY_REPLICATE: u64 = 1 << 15;
    pub const NO_MANDATORY_KEYS: u64 = 1 << 16;
    pub const NO_ASYNC_LOADING: u64 = 1 << 17;
    pub const NO_MULTI: u64 = 1 << 18;
    pub const MOVABLE_KEYS: u64 = 1 << 19;
    pub const ALLOW_BUSY: u64 = 1 << 20;
}

/// Flag names in the order COMMAND INFO lists them.
pub const FLAG_NAMES: &[(u64, &str)] = &[
    (flag::WRITE, "write"),
    (flag::READONLY, "readonly"),
    (flag::DENYOOM, "denyoom"),
    (flag::MODULE, "module"),
    (flag::ADMIN, "admin"),
    (flag::PUBSUB, "pubsub"),
    (flag::NOSCRIPT, "noscript"),
    (flag::BLOCKING, "blocking"),
    (flag::LOADING, "loading"),
    (flag::STALE, "stale"),
    (flag::SKIP_MONITOR, "skip_monitor"),
    (flag::SKIP_SLOWLOG, "skip_slowlog"),
    (flag::ASKING, "asking"),
    (flag::FAST, "fast"),
    (flag::NO_AUTH, "no_auth"),
    (flag::MAY_REPLICATE, "may_replicate"),
    (flag::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (flag::NO_ASYNC_LOADING, "no_async_loading"),
    (flag::NO_MULTI, "no_multi"),
    (flag::MOVABLE_KEYS, "movablekeys"),
    (flag::ALLOW_BUSY, "allow_busy"),
];

/// ACL category names in Redis's order (bit i = entry i).
pub const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

fn cat_bit(name: &str) -> u64 {
    ACL_CATEGORIES
        .iter()
        .position(|c| *c == name)
        .map(|i| 1u64 << i)
        .unwrap_or(0)
}

/// A command as the dispatcher sees it.
pub struct CommandSpec {
    pub def: &'static Def,
    /// Full name, "config|get" for a subcommand.
    pub fullname: String,
    pub flags: u64,
    pub acl: u64,
    pub subcommands: Map<CommandSpec>,
    /// INFO commandstats counters (relaxed atomics: only the engine thread touches them).
    pub stats: CmdStats,
    /// A dense index over every command and subcommand (for per-command server-side tables
    /// such as latency histograms).
    pub index: usize,
}

/// Per-command counters for INFO commandstats.
#[derive(Default)]
pub struct CmdStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

impl CmdStats {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64, by: u64) {
        c.fetch_add(by, Ordering::Relaxed);
    }

    /// Zeroes every counter (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

impl CommandSpec {
    fn build(def: &'static Def, parent: Option<&str>, next: &mut usize) -> CommandSpec {
        let index = *next;
        *next += 1;
        let mut flags = 0;
        for f in def.flags.split_whitespace() {
            if let Some((bit, _)) = FLAG_NAMES.iter().find(|(_, n)| *n == f) {
                flags |= bit;
            }
        }
        let mut acl = 0;
        for c in def.acl.split_whitespace() {
            acl |= cat_bit(c);
        }
        if flags & flag::WRITE != 0 {
            acl |= cat_bit("write");
        }
        if flags & flag::READONLY != 0 && acl & cat_bit("scripting") == 0 {
            acl |= cat_bit("read");
        }
        if flags & flag::ADMIN != 0 {
            acl |= cat_bit("admin") | cat_bit("dangerous");
        }
        if flags & flag::PUBSUB != 0 {
            acl |= cat_bit("pubsub");
        }
        if flags & flag::FAST != 0 {
            acl |= cat_bit("fast");
        }
        if flags & flag::BLOCKING != 0 {
            acl |= cat_bit("blocking");
        }
        if acl & cat_bit("fast") == 0 {
            acl |= cat_bit("slow");
        }
        let fullname = match parent {
            Some(p) => format!("{p}|{}", def.name),
            None => def.name.to_string(),
        };
        let subcommands = def
            .subcommands
            .iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    CommandSpec::build(s, Some(def.name), next),
                )
            })
            .collect();
        CommandSpec {
            def,
            fullname,
            flags,
            acl,
            subcommands,
            stats: CmdStats::default(),
            index,
        }
    }

    /// True if the command has flag `f`.
    pub fn has(&self, f: u64) -> bool {
        self.flags & f != 0
    }

    /// Arity check as Redis does: exact when positive, at least |arity| when negative.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.def.arity;
        (a > 0 && argc as i32 == a) || (a < 0 && argc as i32 >= -a)
    }

    /// Flag names, in COMMAND INFO order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        FLAG_NAMES
            .iter()
            .filter(|(b, n)| self.flags & b != 0 && *n != "may_replicate")
            .map(|(_, n)| *n)
            .collect()
    }

    /// ACL categories as "@name", in Redis's order.
    pub fn acl_names(&self) -> Vec<String> {
        ACL_CATEGORIES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.acl & (1 << i) != 0)
            .map(|(_, n)| format!("@{n}"))
            .collect()
    }

    /// Positions of the keys in `args` (for COMMAND GETKEYS and future ACL/cluster checks).
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        let d = self.def;
        if d.first_key <= 0 {
            return Vec::new();
        }
        let last = if d.last_key < 0 {
            argc as i32 + d.last_key
        } else {
            d.last_key
        };
        let step = d.step.max(1);
        let mut out = Vec::new();
        let mut i = d.first_key;
        while i <= last && (i as usize) < argc {
            out.push(i as usize);
            i += step;
        }
        out
    }
}

macro_rules! def {
    ($name:expr, $arity:expr, $flags:expr, $keys:expr, $acl:expr, $group:expr, $since:expr, $summary:expr, $h:expr) => {
        Def {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            acl: $acl,
            group: $group,
            since: $since,
            summary: $summary,
            subcommands: &[],
            handler: $h,
        }
    };
    ($name:expr, $arity:expr, $flags:expr, $keys:expr, $acl:expr, $group:expr, $since:expr, $summary:expr, $h:expr, subs $subs:expr) => {
        Def {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            acl: $acl,
            group: $group,
            since: $since,
            summary: $summary,
            subcommands: $subs,
            handler: $h,
        }
    };
}

/// `def!` for the family modules: `use crate::table::def;`.
#[allow(unused_imports)]
pub(crate) use def;

use Handler::{Data, Server};

/// Key positions (first, last, step) of a command without keys.
pub const NOKEY: (i32, i32, i32) = (0, 0, 0);
/// Key positions of a command whose only key is argument 1.
pub const K1: (i32, i32, i32) = (1, 1, 1);

/// In Redis's COMMAND INFO order.
static LATENCY_SUBS: &[Def] = &[
    def!(
        "doctor",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Return a human readable latency analysis report.",
        Server
    ),
    def!(
        "graph",
        3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Return a latency graph for the event.",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Show helpful text about the different subcommands.",
        Server
    ),
    def!(
        "histogram",
        -2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "7.0.0",
        "Return the cumulative distribution of latencies of a subset of commands or all.",
        Server
    ),
    def!(
        "history",
        3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Return timestamp-latency samples for the event.",
        Server
    ),
    def!(
        "latest",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Return the latest latency samples for all events.",
        Server
    ),
    def!(
        "reset",
        -2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.13",
        "Reset latency data for one or more events.",
        Server
    ),
];

static SLOWLOG_SUBS: &[Def] = &[
    def!(
        "len",
        2,
        "admin loading stale",
        NOKEY,
        "",
        "server",
        "2.2.12",
        "Return the number of entries in the slow log",
        Server
    ),
    def!(
        "reset",
        2,
        "admin loading stale",
        NOKEY,
        "",
        "server",
        "2.2.12",
        "Empty the slow log",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "",
        "server",
        "6.2.0",
        "Show the SLOWLOG subcommands",
        Server
    ),
    def!(
        "get",
        -2,
        "admin loading stale",
        NOKEY,
        "",
        "server",
        "2.2.12",
        "Return the entries of the slow log",
        Server
    ),
];

static CONFIG_SUBS: &[Def] = &[
    def!(
        "get",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.0.0",
        "Get the values of configuration parameters",
        Server
    ),
    def!(
        "set",
        -4,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.0.0",
        "Set configuration parameters to the given values",
        Server
    ),
    def!(
        "resetstat",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.0.0",
        "Reset the stats returned by INFO",
        Server
    ),
    def!(
        "rewrite",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "2.8.0",
        "Overwrite the configuration file with the in-memory configuration",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "",
        "server",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
];

static CLIENT_SUBS: &[Def] = &[
    def!(
        "id",
        2,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "5.0.0",
        "Returns the client ID for the current connection",
        Server
    ),
    def!(
        "setname",
        3,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "2.6.9",
        "Set the current connection name",
        Server
    ),
    def!(
        "getname",
        2,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "2.6.9",
        "Get the current connection name",
        Server
    ),
    def!(
        "list",
        -2,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "2.4.0",
        "Get the list of client connections",
        Server
    ),
    def!(
        "info",
        2,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.2.0",
        "Returns information about the current client connection.",
        Server
    ),
    def!(
        "kill",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "2.4.0",
        "Kill the connection of a client",
        Server
    ),
    def!(
        "pause",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "2.9.50",
        "Stop processing commands from clients for some time",
        Server
    ),
    def!(
        "unblock",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "5.0.0",
        "Unblock a client blocked in a blocking command from a different connection",
        Server
    ),
    def!(
        "unpause",
        2,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.2.0",
        "Resume processing of clients that were paused",
        Server
    ),
    def!(
        "reply",
        3,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "3.2.0",
        "Instruct the server whether to reply to commands",
        Server
    ),
    def!(
        "no-evict",
        3,
        "admin noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "7.0.0",
        "Set client eviction mode for the current connection",
        Server
    ),
    def!(
        "caching",
        3,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.0.0",
        "Instruct the server about tracking or not keys in the next request",
        Server
    ),
    def!(
        "getredir",
        2,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.0.0",
        "Get tracking notifications redirection client ID if any",
        Server
    ),
    def!(
        "tracking",
        -3,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.0.0",
        "Enable or disable server assisted client side caching support",
        Server
    ),
    def!(
        "trackinginfo",
        2,
        "noscript loading stale",
        NOKEY,
        "connection",
        "connection",
        "6.2.0",
        "Return information about server assisted client side caching for the current connection",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "connection",
        "connection",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
];

static COMMAND_SUBS: &[Def] = &[
    def!(
        "count",
        2,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "2.8.13",
        "Get total number of Redis commands",
        Server
    ),
    def!(
        "info",
        -2,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "2.8.13",
        "Get array of specific Redis command details, or all when no argument is given.",
        Server
    ),
    def!(
        "docs",
        -2,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "7.0.0",
        "Get array of specific Redis command documentation",
        Server
    ),
    def!(
        "getkeys",
        -4,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "2.8.13",
        "Extract keys given a full Redis command",
        Server
    ),
    def!(
        "getkeysandflags",
        -4,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "7.0.0",
        "Extract keys and access flags given a full Redis command",
        Server
    ),
    def!(
        "list",
        -2,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "7.0.0",
        "Get an array of Redis command names",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "connection",
        "server",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
];

static OBJECT_SUBS: &[Def] = &[
    def!(
        "encoding",
        3,
        "readonly",
        (2, 2, 1),
        "keyspace",
        "generic",
        "2.2.3",
        "Inspect the internal encoding of a Redis object",
        Data(keys::object_encoding)
    ),
    def!(
        "idletime",
        3,
        "readonly",
        (2, 2, 1),
        "keyspace",
        "generic",
        "2.2.3",
        "Get the time since a Redis object was last accessed",
        Data(keys::object_idletime)
    ),
    def!(
        "freq",
        3,
        "readonly",
        (2, 2, 1),
        "keyspace",
        "generic",
        "4.0.0",
        "Get the logarithmic access frequency counter of a Redis object",
        Data(keys::object_freq)
    ),
    def!(
        "refcount",
        3,
        "readonly",
        (2, 2, 1),
        "keyspace",
        "generic",
        "2.2.3",
        "Get the number of references to the value of the key",
        Data(keys::object_refcount)
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "keyspace",
        "generic",
        "6.2.0",
        "Show helpful text about the different subcommands",
        Data(keys::object_help)
    ),
];

static PUBSUB_SUBS: &[Def] = &[
    def!(
        "channels",
        -2,
        "pubsub loading stale",
        NOKEY,
        "",
        "pubsub",
        "2.8.0",
        "List the active channels",
        Server
    ),
    def!(
        "numsub",
        -2,
        "pubsub loading stale",
        NOKEY,
        "",
        "pubsub",
        "2.8.0",
        "Count the subscribers of channels",
        Server
    ),
    def!(
        "numpat",
        2,
        "pubsub loading stale",
        NOKEY,
        "",
        "pubsub",
        "2.8.0",
        "Count the pattern subscriptions",
        Server
    ),
    def!(
        "shardchannels",
        -2,
        "pubsub loading stale",
        NOKEY,
        "",
        "pubsub",
        "7.0.0",
        "List the active shard channels",
        Server
    ),
    def!(
        "shardnumsub",
        -2,
        "pubsub loading stale",
        NOKEY,
        "",
        "pubsub",
        "7.0.0",
        "Count the subscribers of shard channels",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "",
        "pubsub",
        "6.2.0",
        "Show helpful text about the different subcommands",
        Server
    ),
];

/// ACL subcommands (Redis 7.0's acl-*.json: arity and flags).
static ACL_SUBS: &[Def] = &[
    def!(
        "cat",
        -2,
        "noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "List the ACL categories or the commands inside a category",
        Server
    ),
    def!(
        "deluser",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Remove the specified ACL users and the associated rules",
        Server
    ),
    def!(
        "dryrun",
        -4,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "7.0.0",
        "Returns whether the user can execute the given command without executing the command.",
        Server
    ),
    def!(
        "genpass",
        -2,
        "noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Generate a pseudorandom secure password to use for ACL users",
        Server
    ),
    def!(
        "getuser",
        3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Get the rules for a specific ACL user",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
    def!(
        "list",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "List the current ACL rules in ACL config file format",
        Server
    ),
    def!(
        "load",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Reload the ACLs from the configured ACL file",
        Server
    ),
    def!(
        "log",
        -2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "List latest events denied because of ACLs in place",
        Server
    ),
    def!(
        "save",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Save the current ACL rules in the configured ACL file",
        Server
    ),
    def!(
        "setuser",
        -3,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Modify or create the rules for a specific ACL user",
        Server
    ),
    def!(
        "users",
        2,
        "admin noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "List the username of all the configured ACL rules",
        Server
    ),
    def!(
        "whoami",
        2,
        "noscript loading stale",
        NOKEY,
        "",
        "server",
        "6.0.0",
        "Return the name of the user associated to the current connection",
        Server
    ),
];

static MEMORY_SUBS: &[Def] = &[def!(
    "usage",
    -3,
    "readonly",
    (2, 2, 1),
    "",
    "server",
    "4.0.0",
    "Estimate the memory usage of a key",
    Data(bitmap::memory_usage)
)];

/// Every command.
pub static COMMANDS: &[Def] = &[
    // bitmap
    def!("setbit", 4, "write denyoom", K1, "bitmap", "bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", Data(bitmap::setbit)),
    def!("getbit", 3, "readonly fast", K1, "bitmap", "bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", Data(bitmap::getbit)),
    // string
    def!("append", 3, "write denyoom fast", K1, "string", "string", "2.0.0", "Append a value to a key", Data(string::append)),
    def!("decr", 2, "write denyoom fast", K1, "string", "string", "1.0.0", "Decrement the integer value of a key by one", Data(string::decr)),
    def!("decrby", 3, "write denyoom fast", K1, "string", "string", "1.0.0", "Decrement the integer value of a key by the given number", Data(string::decrby)),
    def!("get", 2, "readonly fast", K1, "string", "string", "1.0.0", "Get the value of a key", Data(string::get)),
    def!("getdel", 2, "write fast", K1, "string", "string", "6.2.0", "Get the value of a key and delete the key", Data(string::getdel)),
    def!("getex", -2, "write fast", K1, "string", "string", "6.2.0", "Get the value of a key and optionally set its expiration", Data(string::getex)),
    def!("getrange", 4, "readonly", K1, "string", "string", "2.4.0", "Get a substring of the string stored at a key", Data(string::getrange)),
    def!("getset", 3, "write denyoom fast", K1, "string", "string", "1.0.0", "Set the string value of a key and return its old value", Data(string::getset)),
    def!("incr", 2, "write denyoom fast", K1, "string", "string", "1.0.0", "Increment the integer value of a key by one", Data(string::incr)),
    def!("incrby", 3, "write denyoom fast", K1, "string", "string", "1.0.0", "Increment the integer value of a key by the given amount", Data(string::incrby)),
    def!("incrbyfloat", 3, "write denyoom fast", K1, "string", "string", "2.6.0", "Increment the float value of a key by the given amount", Data(string::incrbyfloat)),
    def!("lcs", -3, "readonly", (1, 2, 1), "string", "string", "7.0.0", "Find longest common substring", Data(string::lcs)),
    def!("mget", -2, "readonly fast", (1, -1, 1), "string", "string", "1.0.0", "Get the values of all the given keys", Data(string::mget)),
    def!("mset", -3, "write denyoom", (1, -1, 2), "string", "string", "1.0.1", "Set multiple keys to multiple values", Data(string::mset)),
    def!("msetnx", -3, "write denyoom", (1, -1, 2), "string", "string", "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", Data(string::msetnx)),
    def!("psetex", 4, "write denyoom", K1, "string", "string", "2.6.0", "Set the value and expiration in milliseconds of a key", Data(string::psetex)),
    def!("set", -3, "write denyoom", K1, "string", "string", "1.0.0", "Set the string value of a key", Data(string::set)),
    def!("setex", 4, "write denyoom", K1, "string", "string", "2.0.0", "Set the value and expiration of a key", Data(string::setex)),
    def!("setnx", 3, "write denyoom fast", K1, "string", "string", "1.0.0", "Set the value of a key, only if the key does not exist", Data(string::setnx)),
    def!("setrange", 4, "write denyoom", K1, "string", "string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", Data(string::setrange)),
    def!("strlen", 2, "readonly fast", K1, "string", "string", "2.2.0", "Get the length of the value stored in a key", Data(string::strlen)),
    def!("substr", 4, "readonly", K1, "string", "string", "1.0.0", "Get a substring of the string stored at a key", Data(string::getrange)),
    // generic
    def!("copy", -3, "write denyoom", (1, 2, 1), "keyspace", "generic", "6.2.0", "Copy a key", Data(keys::copy)),
    def!("del", -2, "write", (1, -1, 1), "keyspace", "generic", "1.0.0", "Delete a key", Data(keys::del)),
    def!("exists", -2, "readonly fast", (1, -1, 1), "keyspace", "generic", "1.0.0", "Determine if a key exists", Data(keys::exists)),
    def!("expire", -3, "write fast", K1, "keyspace", "generic", "1.0.0", "Set a key's time to live in seconds", Data(keys::expire)),
    def!("expireat", -3, "write fast", K1, "keyspace", "generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", Data(keys::expireat)),
    def!("expiretime", 2, "readonly fast", K1, "keyspace", "generic", "7.0.0", "Get the expiration Unix timestamp for a key", Data(keys::expiretime)),
    def!("keys", 2, "readonly", NOKEY, "keyspace dangerous", "generic", "1.0.0", "Find all keys matching the given pattern", Data(keys::keys)),
    def!("move", 3, "write fast", K1, "keyspace", "generic", "1.0.0", "Move a key to another database", Data(keys::move_)),
    def!("object", -2, "", NOKEY, "", "generic", "2.2.3", "A container for object introspection commands", Server, subs OBJECT_SUBS),
    def!("persist", 2, "write fast", K1, "keyspace", "generic", "2.2.0", "Remove the expiration from a key", Data(keys::persist)),
    def!("pexpire", -3, "write fast", K1, "keyspace", "generic", "2.6.0", "Set a key's time to live in milliseconds", Data(keys::pexpire)),
    def!("pexpireat", -3, "write fast", K1, "keyspace", "generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", Data(keys::pexpireat)),
    def!("pexpiretime", 2, "readonly fast", K1, "keyspace", "generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", Data(keys::pexpiretime)),
    def!("pttl", 2, "readonly fast", K1, "keyspace", "generic", "2.6.0", "Get the time to live for a key in milliseconds", Data(keys::pttl)),
    def!("randomkey", 1, "readonly", NOKEY, "keyspace", "generic", "1.0.0", "Return a random key from the keyspace", Data(keys::randomkey)),
    def!("rename", 3, "write", (1, 2, 1), "keyspace", "generic", "1.0.0", "Rename a key", Data(keys::rename)),
    def!("renamenx", 3, "write fast", (1, 2, 1), "keyspace", "generic", "1.0.0", "Rename a key, only if the new key does not exist", Data(keys::renamenx)),
    def!("scan", -2, "readonly", NOKEY, "keyspace", "generic", "2.8.0", "Incrementally iterate the keys space", Data(keys::scan)),
    def!("touch", -2, "readonly fast", (1, -1, 1), "keyspace", "generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", Data(keys::touch)),
    def!("ttl", 2, "readonly fast", K1, "keyspace", "generic", "1.0.0", "Get the time to live for a key in seconds", Data(keys::ttl)),
    def!("type", 2, "readonly fast", K1, "keyspace", "generic", "1.0.0", "Determine the type stored at key", Data(keys::type_)),
    def!("unlink", -2, "write fast", (1, -1, 1), "keyspace", "generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", Data(keys::unlink)),
    // server
    def!("dbsize", 1, "readonly fast", NOKEY, "keyspace", "server", "1.0.0", "Return the number of keys in the selected database", Data(keys::dbsize)),
    def!("flushall", -1, "write", NOKEY, "keyspace dangerous", "server", "1.0.0", "Remove all keys from all databases", Data(keys::flushall)),
    def!("flushdb", -1, "write", NOKEY, "keyspace dangerous", "server", "1.0.0", "Remove all keys from the current database", Data(keys::flushdb)),
    def!("swapdb", 3, "write fast", NOKEY, "keyspace dangerous", "server", "4.0.0", "Swaps two Redis databases", Data(keys::swapdb)),
    def!("info", -1, "loading stale", NOKEY, "dangerous", "server", "1.0.0", "Get information and statistics about the server", Server),
    def!("config", -2, "", NOKEY, "", "server", "2.0.0", "A container for server configuration commands", Server, subs CONFIG_SUBS),
    def!("slowlog", -2, "", NOKEY, "", "server", "2.2.12", "A container for slow log commands", Server, subs SLOWLOG_SUBS),
    def!("latency", -2, "", NOKEY, "", "server", "2.8.13", "A container for latency diagnostics commands", Server, subs LATENCY_SUBS),
    def!("command", -1, "loading stale", NOKEY, "connection", "server", "2.8.13", "Get array of Redis command details", Server, subs COMMAND_SUBS),
    def!("debug", -2, "admin noscript loading stale", NOKEY, "", "server", "1.0.0", "A container for debugging commands", Server),
    def!("shutdown", -1, "admin noscript loading stale no_multi allow_busy", NOKEY, "", "server", "1.0.0", "Synchronously save the dataset to disk and then shut down the server", Server),
    def!("save", 1, "admin noscript no_async_loading no_multi", NOKEY, "", "server", "1.0.0", "Write the dataset to disk in the foreground", Server),
    def!("bgsave", -1, "admin noscript no_async_loading", NOKEY, "", "server", "1.0.0", "Write the dataset to disk in the background", Server),
    def!("failover", -1, "admin noscript stale", NOKEY, "", "server", "6.2.0", "Start a coordinated failover between this server and one of its replicas.", Server),
    def!("replicaof", 3, "admin noscript stale no_async_loading", NOKEY, "", "server", "5.0.0", "Make the server a replica of another instance, or promote it as master.", Server),
    def!("slaveof", 3, "admin noscript stale no_async_loading", NOKEY, "", "server", "1.0.0", "Make the server a replica of another instance, or promote it as master.", Server),
    def!("role", 1, "noscript loading stale fast", NOKEY, "admin dangerous", "server", "2.8.12", "Return the role of the instance in the context of replication", Server),
    def!("wait", 3, "noscript", NOKEY, "connection", "generic", "3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", Server),
    def!("migrate", -6, "write", (3, 3, 1), "keyspace dangerous", "generic", "2.6.0", "Atomically transfer a key from a Redis instance to another one.", Server),
    def!("bgrewriteaof", 1, "admin noscript no_async_loading", NOKEY, "", "server", "1.0.0", "Asynchronously rewrite the append-only file", Server),
    def!("sync", 1, "admin noscript no_async_loading no_multi", NOKEY, "", "server", "1.0.0", "Internal command used for replication", Server),
    def!("psync", -3, "admin noscript no_async_loading no_multi", NOKEY, "", "server", "2.8.0", "Internal command used for replication", Server),
    def!("replconf", -1, "admin noscript loading stale allow_busy", NOKEY, "", "server", "3.0.0", "An internal command for configuring the replication stream", Server),
    def!("dumpsave", 1, "admin noscript no_async_loading no_multi", NOKEY, "", "server", "7.0.15", "Stream a point-in-time RDB snapshot of the dataset to this connection (Cinnabar)", Server),
    def!("pipesave", 1, "admin noscript no_async_loading no_multi", NOKEY, "", "server", "7.0.15", "Stream a point-in-time RDB snapshot into the stdin of pipesave-command (Cinnabar)", Server),
    def!("time", 1, "loading stale fast", NOKEY, "", "server", "2.6.0", "Return the current server time", Server),
    def!("acl", -2, "", NOKEY, "", "server", "6.0.0", "A container for Access List Control commands ", Server, subs ACL_SUBS),
    def!("memory", -2, "", NOKEY, "", "server", "4.0.0", "A container for memory diagnostics commands", Server, subs MEMORY_SUBS),
    def!("lastsave", 1, "loading stale fast", NOKEY, "admin dangerous", "server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk", Server),
    // connection
    def!("auth", -2, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "connection", "1.0.0", "Authenticate to the server", Server),
    def!("client", -2, "", NOKEY, "", "connection", "2.4.0", "A container for client connection commands", Server, subs CLIENT_SUBS),
    def!("echo", 2, "loading stale fast", NOKEY, "connection", "connection", "1.0.0", "Echo the given string", Server),
    def!("hello", -1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "connection", "6.0.0", "Handshake with Redis", Server),
    def!("ping", -1, "fast", NOKEY, "connection", "connection", "1.0.0", "Ping the server", Server),
    def!("quit", -1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "connection", "1.0.0", "Close the connection", Server),
    def!("reset", 1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "connection", "6.2.0", "Reset the connection", Server),
    def!("select", 2, "loading stale fast", NOKEY, "connection", "connection", "1.0.0", "Change the selected database for the current connection", Server),
    def!("readonly", 1, "loading stale fast", NOKEY, "connection", "cluster", "3.0.0", "Enables read queries for a connection to a Redis Cluster replica node", Server),
    def!("readwrite", 1, "loading stale fast", NOKEY, "connection", "cluster", "3.0.0", "Disables read queries for a connection to a Redis Cluster replica node", Server),
    // pub/sub
    def!("subscribe", -2, "pubsub noscript loading stale", NOKEY, "", "pubsub", "2.0.0", "Listen for messages published to channels", Server),
    def!("unsubscribe", -1, "pubsub noscript loading stale", NOKEY, "", "pubsub", "2.0.0", "Stop listening for messages posted to channels", Server),
    def!("psubscribe", -2, "pubsub noscript loading stale", NOKEY, "", "pubsub", "2.0.0", "Listen for messages published to channels matching patterns", Server),
    def!("punsubscribe", -1, "pubsub noscript loading stale", NOKEY, "", "pubsub", "2.0.0", "Stop listening for messages posted to channels matching patterns", Server),
    def!("publish", 3, "pubsub loading stale fast may_replicate", NOKEY, "", "pubsub", "2.0.0", "Post a message to a channel", Server),
    def!("pubsub", -2, "", NOKEY, "", "pubsub", "2.8.0", "A container for Pub/Sub commands", Server, subs PUBSUB_SUBS),
    def!("monitor", 1, "admin noscript loading stale", NOKEY, "", "server", "1.0.0", "Show every command the server runs, as it runs it", Server),
    def!("ssubscribe", -2, "pubsub noscript loading stale", (1, -1, 1), "", "pubsub", "7.0.0", "Listen for messages published to shard channels", Server),
    def!("sunsubscribe", -1, "pubsub noscript loading stale", (1, -1, 1), "", "pubsub", "7.0.0", "Stop listening for messages posted to shard channels", Server),
    def!("spublish", 3, "pubsub loading stale fast may_replicate", K1, "", "pubsub", "7.0.0", "Post a message to a shard channel", Server),
    // transactions
    def!("multi", 1, "noscript loading stale fast allow_busy", NOKEY, "transaction", "transactions", "1.2.0", "Start a transaction block", Server),
    def!("exec", 1, "noscript loading stale skip_slowlog", NOKEY, "transaction", "transactions", "1.2.0", "Run every command queued since MULTI", Server),
    def!("discard", 1, "noscript loading stale fast allow_busy", NOKEY, "transaction", "transactions", "2.0.0", "Drop every command queued since MULTI", Server),
    def!("watch", -2, "noscript loading stale fast allow_busy", (1, -1, 1), "transaction", "transactions", "2.2.0", "Make the next EXEC conditional on keys staying unmodified", Server),
    def!("unwatch", 1, "noscript loading stale fast allow_busy", NOKEY, "transaction", "transactions", "2.2.0", "Forget every watched key", Server),
];

/// Where a key spec starts looking for keys (`begin_search`).
#[derive(Clone, Copy, Debug)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After the first match of `keyword`, searching from `startfrom` (negative: from the end,
    /// backwards).
    Keyword(&'static str, i32),
    /// Not describable (COMMAND GETKEYS uses the command's own key finder).
    Unknown,
}

/// How a key spec finds the keys from where it begins (`find_keys`).
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// Keys up to `lastkey` (relative; negative counts from the end), every `keystep`
    /// arguments; `limit` > 1 stops at a 1/limit share of the remaining arguments.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// The argument at `keynumidx` (relative) holds the number of keys, which start at
    /// `firstkey` (relative), every `keystep` arguments.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    /// Not describable.
    Unknown,
}

/// A key spec as COMMAND INFO shows it (Redis 7.0's key-specs).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// Free text shown as `notes` (empty: no notes field).
    pub notes: &'static str,
    /// Space-separated flag names (RO, RW, OW, RM, access, update, insert, delete, ...).
    pub flags: &'static str,
    pub begin: Begin,
    pub find: Find,
}

impl KeySpec {
    /// The same spec with `notes`.
    pub const fn notes(mut self, notes: &'static str) -> KeySpec {
        self.notes = notes;
        self
    }
}

/// Key spec: keys from argument `index`, a range to `lastkey` every `keystep`.
pub const fn ks(flags: &'static str, index: i32, lastkey: i32, keystep: i32) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin: Begin::Index(index),
        find: Find::Range {
            lastkey,
            keystep,
            limit: 0,
        },
    }
}

/// Key spec: keys from argument `index`, their count at `keynumidx` (relative), the first at
/// `firstkey` (relative), every `keystep` (ZUNIONSTORE, LMPOP, SINTERCARD, ...).
pub const fn ks_keynum(
    flags: &'static str,
    index: i32,
    keynumidx: i32,
    firstkey: i32,
    keystep: i32,
) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin: Begin::Index(index),
        find: Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        },
    }
}

/// Key spec with any begin/find (keyword searches, range limits, unknown forms).
pub const fn ks_with(flags: &'static str, begin: Begin, find: Find) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin,
        find,
    }
}

/// One family's extra metadata for a command: (full name, tips, key specs).
pub type Extra = (&'static str, &'static str, &'static [KeySpec]);

/// Key specs and command tips, by full name (what COMMAND INFO reports beside the flags).
static EXTRAS: &[Extra] = &[
    ("ssubscribe", "", &[ks("not_key", 1, -1, 1)]),
    ("sunsubscribe", "", &[ks("not_key", 1, -1, 1)]),
    ("spublish", "", &[ks("not_key", 1, 0, 1)]),
    (
        "slowlog|get",
        "request_policy:all_nodes nondeterministic_output",
        &[],
    ),
    (
        "slowlog|len",
        "request_policy:all_nodes response_policy:agg_sum nondeterministic_output",
        &[],
    ),
    (
        "slowlog|reset",
        "request_policy:all_nodes response_policy:all_succeeded",
        &[],
    ),
    ("append", "", &[ks("RW insert", 1, 0, 1)]),
    ("watch", "", &[ks("RO", 1, -1, 1)]),
    ("setbit", "", &[ks("RW access update", 1, 0, 1)]),
    ("getbit", "", &[ks("RO access", 1, 0, 1)]),
    ("memory|usage", "", &[ks("RO", 2, 0, 1)]),
    ("decr", "", &[ks("RW access update", 1, 0, 1)]),
    ("decrby", "", &[ks("RW access update", 1, 0, 1)]),
    ("get", "", &[ks("RO access", 1, 0, 1)]),
    ("getdel", "", &[ks("RW access delete", 1, 0, 1)]),
    ("getex", "", &[ks("RW access update", 1, 0, 1)]),
    ("getrange", "", &[ks("RO access", 1, 0, 1)]),
    ("getset", "", &[ks("RW access update", 1, 0, 1)]),
    ("incr", "", &[ks("RW access update", 1, 0, 1)]),
    ("incrby", "", &[ks("RW access update", 1, 0, 1)]),
    ("incrbyfloat", "", &[ks("RW access update", 1, 0, 1)]),
    ("lcs", "", &[ks("RO access", 1, 1, 1)]),
    (
        "mget",
        "request_policy:multi_shard",
        &[ks("RO access", 1, -1, 1)],
    ),
    (
        "mset",
        "request_policy:multi_shard response_policy:all_succeeded",
        &[ks("OW update", 1, -1, 2)],
    ),
    (
        "msetnx",
        "request_policy:multi_shard response_policy:agg_min",
        &[ks("OW insert", 1, -1, 2)],
    ),
    ("psetex", "", &[ks("OW update", 1, 0, 1)]),
    (
        "set",
        "",
        &[ks("RW access update variable_flags", 1, 0, 1)
            .notes("RW and ACCESS due to the optional `GET` argument")],
    ),
    ("setex", "", &[ks("OW update", 1, 0, 1)]),
    ("setnx", "", &[ks("OW insert", 1, 0, 1)]),
    ("setrange", "", &[ks("RW update", 1, 0, 1)]),
    ("strlen", "", &[ks("RO", 1, 0, 1)]),
    ("substr", "", &[ks("RO access", 1, 0, 1)]),
    (
        "copy",
        "",
        &[ks("RO access", 1, 0, 1), ks("OW update", 2, 0, 1)],
    ),
    (
        "del",
        "request_policy:multi_shard response_policy:agg_sum",
        &[ks("RM delete", 1, -1, 1)],
    ),
    (
        "exists",
        "request_policy:multi_shard response_policy:agg_sum",
        &[ks("RO", 1, -1, 1)],
    ),
    ("expire", "", &[ks("RW update", 1, 0, 1)]),
    ("expireat", "", &[ks("RW update", 1, 0, 1)]),
    ("expiretime", "", &[ks("RO access", 1, 0, 1)]),
    (
        "keys",
        "request_policy:all_shards nondeterministic_output_order",
        &[],
    ),
    ("move", "", &[ks("RW access update", 1, 0, 1)]),
    ("persist", "", &[ks("RW update", 1, 0, 1)]),
    ("pexpire", "", &[ks("RW update", 1, 0, 1)]),
    ("pexpireat", "", &[ks("RW update", 1, 0, 1)]),
    ("pexpiretime", "", &[ks("RO access", 1, 0, 1)]),
    (
        "pttl",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    (
        "randomkey",
        "request_policy:all_shards nondeterministic_output",
        &[],
    ),
    (
        "rename",
        "",
        &[ks("RW access delete", 1, 0, 1), ks("OW update", 2, 0, 1)],
    ),
    (
        "renamenx",
        "",
        &[ks("RW access delete", 1, 0, 1), ks("OW insert", 2, 0, 1)],
    ),
    (
        "scan",
        "nondeterministic_output request_policy:special",
        &[],
    ),
    (
        "touch",
        "request_policy:multi_shard response_policy:agg_sum",
        &[ks("RO", 1, -1, 1)],
    ),
    (
        "ttl",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("type", "", &[ks("RO", 1, 0, 1)]),
    (
        "unlink",
        "request_policy:multi_shard response_policy:agg_sum",
        &[ks("RM delete", 1, -1, 1)],
    ),
    (
        "dbsize",
        "request_policy:all_shards response_policy:agg_sum",
        &[],
    ),
    (
        "flushall",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "flushdb",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "info",
        "nondeterministic_output request_policy:all_shards response_policy:special",
        &[],
    ),
    ("time", "nondeterministic_output", &[]),
    ("lastsave", "nondeterministic_output", &[]),
    (
        "ping",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "object|encoding",
        "nondeterministic_output",
        &[ks("RO", 2, 0, 1)],
    ),
    (
        "object|refcount",
        "nondeterministic_output",
        &[ks("RO", 2, 0, 1)],
    ),
    (
        "object|idletime",
        "nondeterministic_output",
        &[ks("RO", 2, 0, 1)],
    ),
    (
        "object|freq",
        "nondeterministic_output",
        &[ks("RO", 2, 0, 1)],
    ),
    (
        "config|set",
        "request_policy:all_nodes response_policy:all_succeeded",
        &[],
    ),
    ("client|list", "nondeterministic_output", &[]),
    ("client|info", "nondeterministic_output", &[]),
    ("command|info", "nondeterministic_output_order", &[]),
    ("command|docs", "nondeterministic_output_order", &[]),
    ("command|list", "nondeterministic_output_order", &[]),
    ("command", "nondeterministic_output_order", &[]),
];

/// Every family's commands and extras. A family module exports `DEFS` and `EXTRAS` and is
/// listed here once.
static FAMILIES: &[(&[Def], &[Extra])] = &[
    (COMMANDS, EXTRAS),
    (hash::DEFS, hash::EXTRAS),
    (list::DEFS, list::EXTRAS),
    (set::DEFS, set::EXTRAS),
    (zset::DEFS, zset::EXTRAS),
    (geo::DEFS, geo::EXTRAS),
    (bitops::DEFS, bitops::EXTRAS),
    (hll::DEFS, hll::EXTRAS),
    (sort::DEFS, sort::EXTRAS),
    (dump::DEFS, dump::EXTRAS),
    (stream::DEFS, stream::EXTRAS),
    (scripting::DEFS, scripting::EXTRAS),
];

/// The key flags of a call whose spec says `variable_flags`: what this very call does to its
/// key (SET without GET only overwrites; BITFIELD with only GET only reads).
fn variable_flags(fullname: &str, args: &[&[u8]], flags: &'static str) -> &'static str {
    if !flags.contains("variable_flags") {
        return flags;
    }
    let has = |w: &[u8]| args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(w));
    // SET's options start after the value (Redis's setGetKeys).
    let set_get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    match fullname {
        "set" if !set_get => "OW update",
        "set" => "RW access update",
        "bitfield" if !has(b"set") && !has(b"incrby") => "RO access",
        "bitfield" => "RW access update",
        _ => flags,
    }
}

/// A call whose arguments contradict its key specs (a bad key count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKeyArgs;

/// Every command definition, all families.
pub fn all_defs() -> impl Iterator<Item = &'static Def> {
    FAMILIES.iter().flat_map(|(d, _)| d.iter())
}

fn extra(fullname: &str) -> Option<&'static Extra> {
    FAMILIES
        .iter()
        .flat_map(|(_, e)| e.iter())
        .find(|(n, _, _)| *n == fullname)
}

impl CommandSpec {
    /// Command tips (COMMAND INFO element 8).
    pub fn tips(&self) -> Vec<&'static str> {
        extra(&self.fullname)
            .map(|(_, t, _)| t.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// Key specs (COMMAND INFO element 9).
    pub fn key_specs(&self) -> &'static [KeySpec] {
        extra(&self.fullname).map(|(_, _, k)| *k).unwrap_or(&[])
    }

    /// The keys of a call (`args[0]` is the command name; for a subcommand `args[1]` is its
    /// name), found through the key specs as COMMAND GETKEYS does, each with its spec's flags.
    /// `Err(())` when the arguments contradict a spec (a bad key count): Redis's
    /// "Invalid arguments specified for command".
    pub fn keys_with_flags(
        &self,
        args: &[&[u8]],
    ) -> Result<Vec<(usize, &'static str)>, BadKeyArgs> {
        let specs = self.key_specs();
        if specs.is_empty() {
            return Ok(self
                .key_positions(args.len())
                .into_iter()
                .map(|p| (p, ""))
                .collect());
        }
        let argc = args.len() as i64;
        let mut out = Vec::new();
        if self.fullname == "sort" || self.fullname == "sort_ro" {
            // Key specs cannot describe SORT's STORE (it may come anywhere): find it as
            // Redis's sortGetKeys does.
            out.push((1, "RO access"));
            if self.fullname == "sort" {
                if let Some(p) = crate::families::sort::store_key_position(args) {
                    out.push((p, "OW update"));
                }
            }
            return Ok(out);
        }
        for spec in specs {
            let first = match spec.begin {
                Begin::Index(i) => i as i64,
                Begin::Keyword(kw, from) => {
                    let (start, end, step): (i64, i64, i64) = if from >= 0 {
                        (from as i64, argc - 1, 1)
                    } else {
                        (argc + from as i64, 0, -1)
                    };
                    let mut found = None;
                    let mut i = start;
                    while (step > 0 && i <= end) || (step < 0 && i >= end) {
                        if i >= 0
                            && i < argc
                            && args[i as usize].eq_ignore_ascii_case(kw.as_bytes())
                        {
                            found = Some(i + 1);
                            break;
                        }
                        i += step;
                    }
                    match found {
                        Some(f) => f,
                        None => continue,
                    }
                }
                Begin::Unknown => continue,
            };
            if first >= argc {
                continue;
            }
            let (last, step) = match spec.find {
                Find::Range {
                    lastkey,
                    keystep,
                    limit,
                } => {
                    let last = if lastkey >= 0 {
                        first + lastkey as i64
                    } else if limit <= 1 {
                        argc + lastkey as i64
                    } else {
                        first + (argc - first) / limit as i64 + lastkey as i64
                    };
                    (last, keystep.max(1) as i64)
                }
                Find::Keynum {
                    keynumidx,
                    firstkey,
                    keystep,
                } => {
                    let idx = first + keynumidx as i64;
                    if idx >= argc {
                        return Err(BadKeyArgs);
                    }
                    let Some(n) = cinnabar_util::num::string2ll(args[idx as usize]) else {
                        return Err(BadKeyArgs);
                    };
                    let start = first + firstkey as i64;
                    let step = keystep.max(1) as i64;
                    if n < 0 {
                        return Err(BadKeyArgs);
                    }
                    if n == 0 {
                        continue;
                    }
                    let l = start.saturating_add((n - 1).saturating_mul(step));
                    if l >= argc {
                        return Err(BadKeyArgs);
                    }
                    for k in (start..=l).step_by(step as usize) {
                        out.push((k as usize, spec.flags));
                    }
                    continue;
                }
                Find::Unknown => continue,
            };
            let flags = variable_flags(&self.fullname, args, spec.flags);
            let mut i = first;
            while i <= last && i < argc {
                out.push((i as usize, flags));
                i += step;
            }
        }
        Ok(out)
    }
}

/// The table indexed by lowercase name.
pub fn table() -> &'static Map<CommandSpec> {
    static T: OnceLock<Map<CommandSpec>> = OnceLock::new();
    T.get_or_init(|| {
        let mut next = 0;
        all_defs()
            .map(|d| (d.name.to_string(), CommandSpec::build(d, None, &mut next)))
            .collect()
    })
}

/// Every command and subcommand spec (for COMMAND, INFO commandstats, RESETSTAT).
pub fn all_specs() -> Vec<&'static CommandSpec> {
    let mut v = Vec::new();
    for c in table().values() {
        v.push(c);
        for s in c.subcommands.values() {
            v.push(s);
        }
    }
    v
}

/// Number of commands and subcommands (the range of `CommandSpec::index`).
pub fn spec_count() -> usize {
    all_specs().len()
}

/// Finds a command by name, case-insensitively, without allocating for short names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    table().get(lower)
}

/// Finds a subcommand of `parent`, case-insensitively.
pub fn lookup_sub(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    parent.subcommands.get(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_categories() {
        let get = lookup(b"GeT").expect("get exists");
        assert_eq!(get.flag_names(), vec!["readonly", "fast"]);
        assert_eq!(get.acl_names(), vec!["@read", "@string", "@fast"]);
        let set = lookup(b"set").expect("set exists");
        assert_eq!(set.acl_names(), vec!["@write", "@string", "@slow"]);
        assert_eq!(
            lookup(b"mset").map(|c| c.key_positions(5)),
            Some(vec![1, 3])
        );
        assert!(lookup(b"nosuchcommand").is_none());
        let names: std::collections::HashSet<_> = all_defs().map(|d| d.name).collect();
        assert_eq!(
            names.len(),
            all_defs().count(),
            "duplicate command in the table"
        );
    }
}
