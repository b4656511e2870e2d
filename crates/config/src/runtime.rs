//! The configuration at run time: CONFIG GET (patterns, aliases answered under the name asked
//! for, no duplicates, hidden directives only by exact name), CONFIG SET (several pairs, all
//! or nothing, Redis's checks and texts, an apply hook that may veto and triggers a rollback)
//! and typed accessors for the server.
//!
//! CONFIG SET hook contract ([`Config::set_with`]): after every value parsed, `apply(name,
//! &config)` is called once per directive whose value changed (canonical name; Redis's
//! "changed" rules: special directives such as `bind` or `save` always count as changed) in
//! the order given. If one returns `Err(msg)`, every value is restored, `apply` is called again
//! for each of those names so the server can re-apply the old values (errors then ignored),
//! and CONFIG SET fails with "ERR CONFIG SET failed (possibly related to argument '<name>') -
//! <msg>". The server chdirs from this hook when `dir` changed, rebinds on `port`/`bind`, ...

use crate::glob::stringmatch;
use crate::split::cstr;
use crate::table::{lookup, Kind, DIRECTIVES};
use crate::value::{render, ObufLimit, Value};
use crate::Config;
use std::path::{Path, PathBuf};

/// What CONFIG SET needs to know about the calling client and the server state.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetOptions {
    /// The client connected over loopback or a unix socket (`enable-protected-configs local`).
    pub local_client: bool,
    /// A dataset is being loaded (some directives are then refused with -LOADING).
    pub loading: bool,
}

impl Config {
    /// CONFIG GET with the given patterns: `(name, value)` pairs, binary values as bytes.
    pub fn get_raw<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut found: Vec<(Vec<u8>, usize)> = Vec::new();
        let seen = |found: &Vec<(Vec<u8>, usize)>, n: &[u8]| {
            found.iter().any(|(f, _)| f.eq_ignore_ascii_case(n))
        };
        for p in patterns {
            let p = cstr(p.as_ref());
            if !p.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                if seen(&found, p) {
                    continue;
                }
                if let Some((i, _)) = lookup(p) {
                    found.push((p.to_vec(), i));
                }
                continue;
            }
            for (i, d) in DIRECTIVES.iter().enumerate() {
                if d.hidden() {
                    continue;
                }
                for n in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&found, n.as_bytes()) && stringmatch(p, n.as_bytes(), true) {
                        found.push((n.as_bytes().to_vec(), i));
                    }
                }
            }
        }
        found
            .into_iter()
            .map(|(n, i)| (n, render(&DIRECTIVES[i], &self.values[i])))
            .collect()
    }

    /// CONFIG GET: `(name, value)` pairs (lossy UTF-8), names as asked for exact names.
    pub fn get<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Vec<(String, String)> {
        self.get_raw(patterns)
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    /// Compatibility name for [`Config::get`].
    pub fn get_matching(&self, patterns: &[String]) -> Vec<(String, String)> {
        self.get(patterns)
    }

    /// CONFIG SET from a non-local client, not loading, without an apply hook.
    pub fn set(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        self.set_with(pairs, SetOptions::default(), &mut |_, _| Ok(()))
    }

    /// Legacy entry point kept for the current server: [`Config::set`], plus a `chdir` when
    /// `dir` changed (a failing chdir fails the whole CONFIG SET, rolled back). New code should
    /// use [`Config::set_with`] and do the chdir in its apply hook.
    pub fn set_many(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        self.set_with(pairs, SetOptions::default(), &mut |name, cfg| {
            if name == "dir" {
                cfg.apply_dir().map_err(|e| crate::num::strerror(&e))
            } else {
                Ok(())
            }
        })
    }

    /// `chdir` to [`Config::dir`], as redis-server does when it reads `dir` (call it after
    /// loading, and from the CONFIG SET apply hook when `dir` changed).
    pub fn apply_dir(&self) -> std::io::Result<()> {
        std::env::set_current_dir(self.dir())
    }

    /// CONFIG SET with several `(name, value)` pairs, all or nothing. Returns the canonical
    /// names that changed, or Redis's error reply text (without the leading `-`). See the
    /// module documentation for the `apply` contract.
    pub fn set_with(
        &mut self,
        pairs: &[(Vec<u8>, Vec<u8>)],
        opts: SetOptions,
        apply: &mut dyn FnMut(&str, &Config) -> Result<(), String>,
    ) -> Result<Vec<String>, String> {
        let lossy = |b: &[u8]| String::from_utf8_lossy(cstr(b)).into_owned();
        let failed = |name: &str, msg: &str| {
            if msg.is_empty() {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}')")
            } else {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {msg}")
            }
        };
        // Phase 1: find every directive; the first problem wins.
        let mut chosen: Vec<(usize, bool, &[u8])> = Vec::new();
        let mut error: Option<String> = None;
        for (k, v) in pairs {
            let Some((i, alias)) = lookup(k) else {
                if error.is_none() {
                    error = Some(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        lossy(k)
                    ));
                }
                continue;
            };
            if error.is_some() {
                continue;
            }
            let d = &DIRECTIVES[i];
            if d.immutable() || (d.protected() && !self.protected_allowed(opts.local_client)) {
                let why = if d.immutable() {
                    "can't set immutable config"
                } else {
                    "can't set protected config"
                };
                error = Some(failed(&lossy(k), why));
                continue;
            }
            if opts.loading && d.flags & crate::table::DLOAD != 0 {
                error = Some("LOADING Redis is loading the dataset in memory".into());
                continue;
            }
            if chosen.iter().any(|(j, a, _)| *j == i && *a == alias) {
                error = Some(failed(&lossy(k), "duplicate parameter"));
                continue;
            }
            chosen.push((i, alias, v.as_slice()));
        }
        if let Some(e) = error {
            return Err(e);
        }
        let entry_name = |i: usize, alias: bool| {
            let d = &DIRECTIVES[i];
            if alias {
                d.alias.unwrap_or(d.name)
            } else {
                d.name
            }
        };
        // Phase 2: set every value.
        let backup = self.values.clone();
        let backup_warnings = self.warnings.len();
        let mut changed: Vec<(usize, bool)> = Vec::new();
        for &(i, alias, v) in &chosen {
            let args: Vec<&[u8]> = if DIRECTIVES[i].multi_arg() {
                if v.is_empty() {
                    Vec::new()
                } else {
                    v.split(|&c| c == b' ').collect()
                }
            } else {
                vec![v]
            };
            match self.set_value(i, &args) {
                Ok(true) => changed.push((i, alias)),
                Ok(false) => {}
                Err(msg) => {
                    self.values = backup;
                    self.warnings.truncate(backup_warnings);
                    return Err(failed(entry_name(i, alias), &msg));
                }
            }
        }
        // Phase 3: let the server apply them.
        for &(i, alias) in &changed {
            if let Err(msg) = apply(DIRECTIVES[i].name, self) {
                self.values = backup;
                for &(j, _) in &changed {
                    let _ = apply(DIRECTIVES[j].name, self);
                }
                return Err(failed(entry_name(i, alias), &msg));
            }
        }
        let mut names: Vec<String> = Vec::new();
        for (i, _) in changed {
            if !names.iter().any(|n| n == DIRECTIVES[i].name) {
                names.push(DIRECTIVES[i].name.to_string());
            }
        }
        Ok(names)
    }

    /// Restores a snapshot taken with `clone()` (for servers that roll back by themselves).
    pub fn rollback(&mut self, saved: &Config) {
        self.values = saved.values.clone();
    }

    fn protected_allowed(&self, local: bool) -> bool {
        match self.get_enum_value("enable-protected-configs") {
            Some(1) => true,
            Some(2) => local,
            _ => false,
        }
    }

    fn value(&self, name: &str) -> Option<&Value> {
        lookup(name.as_bytes()).map(|(i, _)| &self.values[i])
    }

    /// The value of a directive (name or alias) as CONFIG GET shows it (lossy UTF-8).
    pub fn get_value(&self, name: &str) -> Option<String> {
        self.get_bytes(name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// The value of a directive as CONFIG GET shows it, as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<Vec<u8>> {
        lookup(name.as_bytes()).map(|(i, _)| render(&DIRECTIVES[i], &self.values[i]))
    }

    /// Alias of [`Config::get_value`] for string directives (any directive works).
    pub fn get_str(&self, name: &str) -> Option<String> {
        self.get_value(name)
    }

    /// A yes/no directive.
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        match self.value(name)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A numeric directive as stored: unsigned 64-bit ones (maxmemory,
    /// cluster-link-sendbuf-limit) as their bit pattern, a percentage of maxmemory-clients as
    /// a negative number.
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// A numeric directive read as unsigned (maxmemory and the other memory sizes).
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        self.get_i64(name).map(|n| n as u64)
    }

    /// An enum directive's name(s) as CONFIG GET shows them ("noeviction", "save now", ...).
    pub fn get_enum(&self, name: &str) -> Option<String> {
        let (i, _) = lookup(name.as_bytes())?;
        match (&self.values[i], DIRECTIVES[i].kind) {
            (Value::Enum(_), Kind::Enum { .. }) => self.get_value(name),
            _ => None,
        }
    }

    /// An enum directive's value: its position in the table's name list (see the `*` lists in
    /// [`crate::table`]), or OR-ed flag bits for shutdown-on-sigint/sigterm.
    pub fn get_enum_value(&self, name: &str) -> Option<i32> {
        match self.value(name)? {
            Value::Enum(e) => Some(*e),
            _ => None,
        }
    }

    pub(crate) fn num(&self, name: &str) -> i64 {
        self.get_i64(name).unwrap_or(0)
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.get_bool(name).unwrap_or(false)
    }

    pub(crate) fn bytes(&self, name: &str) -> Vec<u8> {
        match self.value(name) {
            Some(Value::Str(s)) => s.clone().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The working directory `dir` designates (absolute); the server chdirs to it.
    pub fn dir(&self) -> PathBuf {
        match self.value("dir") {
            Some(Value::Dir(p)) => p.clone(),
            _ => PathBuf::new(),
        }
    }

    /// Sets `dir` to an existing directory without the CONFIG SET checks (for a server that
    /// changed directory by itself).
    pub fn set_dir(&mut self, p: &Path) {
        if let Some((i, _)) = lookup(b"dir") {
            self.values[i] = Value::Dir(p.to_path_buf());
        }
    }

    /// `save` points as (seconds, changes); empty when saving is disabled.
    pub fn save_params(&self) -> Vec<(i64, i32)> {
        match self.value("save") {
            Some(Value::Save(s)) => s.clone(),
            _ => Vec::new(),
        }
    }

    /// `bind` addresses (a leading `-` means "optional", as in Redis); empty = no TCP.
    pub fn bind_addrs(&self) -> Vec<String> {
        match self.value("bind") {
            Some(Value::Bind(b)) => b
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `client-output-buffer-limit` of one class.
    pub fn client_output_buffer_limit(&self, class: crate::ClientClass) -> ObufLimit {
        match self.value("client-output-buffer-limit") {
            Some(Value::Cob(c)) => c[class as usize],
            _ => crate::OBUF_DEFAULTS[class as usize],
        }
    }

    /// `oom-score-adj-values` (master, replica, background child).
    pub fn oom_score_adj_values(&self) -> [i32; 3] {
        match self.value("oom-score-adj-values") {
            Some(Value::Oom(o)) => *o,
            _ => crate::value::OOM_DEFAULTS,
        }
    }

    /// `notify-keyspace-events` as flag bits (see [`crate::keyspace_events_flags`]).
    pub fn notify_keyspace_events(&self) -> u32 {
        match self.value("notify-keyspace-events") {
            Some(Value::Notify(f)) => *f,
            _ => 0,
        }
    }

    /// Records the server's master (REPLICAOF at runtime, FAILOVER), so that CONFIG GET and
    /// CONFIG REWRITE show it as Redis does; None for a master.
    pub fn set_replicaof(&mut self, master: Option<(&str, u16)>) {
        if let Some((i, _)) = lookup(b"replicaof") {
            self.values[i] =
                Value::ReplicaOf(master.map(|(h, p)| (h.as_bytes().to_vec(), i32::from(p))));
        }
    }

    /// `replicaof` host and port, if set.
    pub fn replicaof(&self) -> Option<(String, u16)> {
        match self.value("replicaof") {
            Some(Value::ReplicaOf(Some((h, p)))) => Some((
                String::from_utf8_lossy(h).into_owned(),
                u16::try_from(*p).unwrap_or(0),
            )),
            _ => None,
        }
    }

    /// `latency-tracking-info-percentiles`.
    pub fn latency_percentiles(&self) -> Vec<f64> {
        match self.value("latency-tracking-info-percentiles") {
            Some(Value::Percentiles(p)) => p.clone(),
            _ => Vec::new(),
        }
    }
}
