//! redis.conf for Cinnabar, behaving like redis-server 7.0.15: the tokenizer
//! ([`split_args`], shared with the inline-command parser), the directive table (every Redis
//! 7.0 directive, implemented by Cinnabar or not, see [`table`]), loading a file plus
//! command-line options exactly as redis-server turns them into config text ([`Config::load`],
//! `include`, stdin, Redis's fatal error texts), CONFIG GET ([`Config::get`]: globs, aliases,
//! no duplicates), CONFIG SET ([`Config::set`] / [`Config::set_with`]: several pairs, all or
//! nothing, an apply hook that may veto, Redis's error texts) and CONFIG REWRITE
//! ([`Config::rewrite`]: keeps the file's comments and order, writes atomically).
//!
//! The crate never changes the process: `dir` is tracked as a path ([`Config::dir`]) and the
//! server `chdir`s to it after loading and after a CONFIG SET that changed it (from its apply
//! hook, so a failure rolls the change back).

pub mod glob;
mod load;
pub mod num;
mod rewrite;
mod runtime;
mod sha256;
mod special;
pub mod split;
pub mod table;
mod value;

pub use load::{options_text, CheckUser, IsCommand, LoadOptions};
pub use rewrite::RewriteExtras;
pub use runtime::SetOptions;
pub use sha256::sha256_hex;
pub use split::{repr, split_args};
pub use value::{
    keyspace_events_flags, keyspace_events_string, ClientClass, ObufLimit, NOTIFY_ALL,
    NOTIFY_KEYEVENT, NOTIFY_KEYSPACE, NOTIFY_KEY_MISS, OBUF_DEFAULTS,
};

use std::fmt;
use table::DIRECTIVES;
use value::Value;

/// The Redis version the configuration texts name.
pub const REDIS_VERSION: &str = "7.0.15";

/// The directives Cinnabar implements by default (the others are accepted, stored and shown;
/// [`Config::unimplemented_set`] lists those a user set explicitly). The server can add more
/// with [`Config::mark_implemented`].
pub const IMPLEMENTED: &[&str] = &[
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "lfu-log-factor",
    "lfu-decay-time",
    "replica-serve-stale-data",
    "replica-ignore-maxmemory",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "list-max-listpack-size",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "hll-sparse-max-bytes",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "port",
    "bind",
    "unixsocket",
    "unixsocketperm",
    "tcp-backlog",
    "timeout",
    "tcp-keepalive",
    "maxclients",
    "requirepass",
    "protected-mode",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "databases",
    "hz",
    "loglevel",
    "logfile",
    "pidfile",
    "daemonize",
    "enable-debug-command",
    "lazyfree-lazy-user-flush",
    "lazyfree-lazy-eviction",
    "proc-title-template",
    "active-expire-effort",
    "always-show-logo",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "tracking-table-max-keys",
    "latency-monitor-threshold",
    "dir",
    "enable-protected-configs",
    "save",
    "dbfilename",
    "pipesave-command",
    "repl-rdb-channel",
    "replica-full-sync-buffer-limit",
    "repl-compression",
    "repl-compression-level",
    "replica-output-buffer-throttling",
    "activerehashing",
    "rdbcompression",
    "rdbchecksum",
    "rdb-key-save-delay",
    "key-load-delay",
    "stop-writes-on-bgsave-error",
    "appendonly",
    "appendfsync",
    "appendfilename",
    "appenddirname",
    "aof-use-rdb-preamble",
    "aof-load-truncated",
    "aof-timestamp-enabled",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "no-appendfsync-on-rewrite",
    "replicaof",
    "masterauth",
    "masteruser",
    "repl-timeout",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-ping-replica-period",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "replica-read-only",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "shutdown-timeout",
];

/// How a [`ConfigError`] is reported by redis-server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The "*** FATAL CONFIG FILE ERROR ***" block, printed as is to stderr.
    Fatal,
    /// "Fatal error, can't open config file ...", which Redis writes as a warning log line.
    CantOpen,
}

/// A fatal configuration error. `Display` gives redis-server's exact text (without the final
/// newline); the server prints it and exits with status 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    pub message: String,
}

impl ConfigError {
    /// An error about line `line_no` (1-based) whose trimmed text is `line`.
    pub fn at_line(line_no: usize, line: &[u8], msg: &str) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Fatal,
            message: format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration file, at line {line_no}\n>>> '{}'\n{msg}",
                String::from_utf8_lossy(split::cstr(line))
            ),
        }
    }

    /// An error found after all lines were read (no line shown).
    pub fn fatal(msg: &str) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Fatal,
            message: format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n{msg}"),
        }
    }

    /// "Fatal error, can't open config file '<path>': <strerror>".
    pub fn cant_open(path: &str, err: &std::io::Error) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::CantOpen,
            message: format!(
                "Fatal error, can't open config file '{path}': {}",
                num::strerror(err)
            ),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A directive of the file that another part of the server handles, with where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLine {
    /// The arguments after the directive name.
    pub args: Vec<Vec<u8>>,
    /// 1-based line number in the text it came from.
    pub line_no: usize,
    /// The trimmed line (for error messages, see [`ConfigError::at_line`]).
    pub line: Vec<u8>,
}

/// The configuration: a value for every directive of [`table::DIRECTIVES`], plus the
/// directives kept for other parts of the server (users, renamed commands, modules, sentinel).
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) values: Vec<Value>,
    /// Set from the file or the command line (for the "not implemented" warning).
    pub(crate) explicit: Vec<bool>,
    implemented: Vec<bool>,
    /// A file is being read (`save` lines then add up).
    pub(crate) reading_file: bool,
    /// A `save` line was read from a file once (the defaults are gone).
    pub(crate) save_loaded: bool,
    pub(crate) sentinel_mode: bool,
    pub(crate) warnings: Vec<String>,
    pub(crate) renames: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) users: Vec<FileLine>,
    pub(crate) modules: Vec<FileLine>,
    pub(crate) module_configs: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) sentinel: Vec<FileLine>,
}

impl Default for Config {
    /// Redis's defaults, `dir` being the current directory.
    fn default() -> Self {
        Config {
            values: DIRECTIVES.iter().map(value::default_value).collect(),
            explicit: vec![false; DIRECTIVES.len()],
            implemented: DIRECTIVES
                .iter()
                .map(|d| IMPLEMENTED.contains(&d.name))
                .collect(),
            reading_file: false,
            save_loaded: false,
            sentinel_mode: false,
            warnings: Vec::new(),
            renames: Vec::new(),
            users: Vec::new(),
            modules: Vec::new(),
            module_configs: Vec::new(),
            sentinel: Vec::new(),
        }
    }
}

impl Config {
    /// Marks directives (canonical names or aliases) as implemented by Cinnabar.
    pub fn mark_implemented(&mut self, names: &[&str]) {
        for n in names {
            if let Some((i, _)) = table::lookup(n.as_bytes()) {
                self.implemented[i] = true;
            }
        }
    }

    /// Whether Cinnabar implements a directive (false for unknown names).
    pub fn is_implemented(&self, name: &str) -> bool {
        table::lookup(name.as_bytes()).is_some_and(|(i, _)| self.implemented[i])
    }

    /// Canonical names of directives set in the file or on the command line that Cinnabar
    /// does not implement (the server logs them once at startup).
    pub fn unimplemented_set(&self) -> Vec<String> {
        DIRECTIVES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.explicit[*i] && !self.implemented[*i])
            .map(|(_, d)| d.name.to_string())
            .collect()
    }

    /// Whether a directive (name or alias) was set in the file or on the command line.
    pub fn is_explicit(&self, name: &str) -> bool {
        table::lookup(name.as_bytes()).is_some_and(|(i, _)| self.explicit[i])
    }

    /// Messages redis-server would log while loading ("Reading config from stdin", the
    /// oom-score-adj-values warning, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `rename-command old new` pairs in file order (`new` empty = command removed).
    pub fn rename_commands(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.renames
    }

    /// `user ...` directives (arguments after `user`), in file order.
    pub fn user_directives(&self) -> &[FileLine] {
        &self.users
    }

    /// `loadmodule path args...` directives, in file order.
    pub fn loadmodule_directives(&self) -> &[FileLine] {
        &self.modules
    }

    /// Module configs (`module.name value`); Redis aborts at startup if any is left without
    /// its module ("Module Configuration detected without loadmodule directive or no
    /// ApplyConfig call: aborting").
    pub fn module_configs(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.module_configs
    }

    /// `sentinel ...` directives (sentinel mode only).
    pub fn sentinel_directives(&self) -> &[FileLine] {
        &self.sentinel
    }
}

/// `replica-output-buffer-throttling <low> <high> <rate> <delay-ms>`: buffer sizes and the
/// expected transfer rate (bytes per second) with memory units, the largest delay in ms.
pub fn parse_throttling(v: &[u8]) -> Option<(u64, u64, u64, u64)> {
    let parts: Vec<&[u8]> = v
        .split(|c| c.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 4 {
        return None;
    }
    let low = num::memtoull(parts[0])?;
    let high = num::memtoull(parts[1])?;
    let rate = num::memtoull(parts[2])?;
    let delay = std::str::from_utf8(parts[3]).ok()?.parse::<u64>().ok()?;
    (low <= high && delay <= 60_000).then_some((low, high, rate, delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implemented_marks() {
        let mut c = Config::default();
        assert!(c.is_implemented("port"));
        assert!(!c.is_implemented("cluster-enabled"));
        c.mark_implemented(&["cluster-enabled", "slave-read-only"]);
        assert!(c.is_implemented("cluster-enabled"));
        assert!(c.is_implemented("replica-read-only"));
        assert!(c.unimplemented_set().is_empty());
    }

    #[test]
    fn error_texts() {
        let e = ConfigError::at_line(2, b"foobar 1", "Bad directive or wrong number of arguments");
        assert_eq!(
            e.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'foobar 1'\nBad directive or wrong number of arguments"
        );
    }
}
