//! redis.conf for Cinnabar: the tokenizer (redis.conf / redis-cli quoting), loading a file plus
//! command-line options exactly as redis-server turns them into config lines (`include`, units,
//! `yes/no`), the directive table (every Redis 7.0 directive, implemented or not), CONFIG
//! GET (globs, aliases), CONFIG SET (several pairs, all or nothing, Redis's error texts) and
//! CONFIG REWRITE (keeps the file's comments and order).

pub mod table;
pub mod values;

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use table::{Directive, DIRECTIVES, HID, IMM, MULTI, PROT};

/// The directives Cinnabar implements (the others are accepted, stored, shown, and named once
/// in the startup log when set).
pub const IMPLEMENTED: &[&str] = &[
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
    "active-expire-effort",
    "always-show-logo",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "dir",
    "enable-protected-configs",
    "save",
    "appendonly",
    "dbfilename",
    "notify-keyspace-events",
    "latency-monitor-threshold",
    "repl-diskless-sync-delay",
    "activerehashing",
    "appendfsync",
    "rdbcompression",
    "no-appendfsync-on-rewrite",
    "enable-module-command",
    "propagation-error-behavior",
    "replica-serve-stale-data",
];

/// A fatal error while loading the configuration, printed like redis-server prints it.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn index() -> &'static HashMap<&'static str, usize> {
    static I: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    I.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            m.insert(d.name, i);
            if let Some(a) = d.alias {
                m.insert(a, i);
            }
        }
        m
    })
}

fn lookup(name: &str) -> Option<(usize, &'static Directive)> {
    let lower = name.to_ascii_lowercase();
    index().get(lower.as_str()).map(|&i| (i, &DIRECTIVES[i]))
}

/// Splits a config line into arguments (redis.conf quoting). None on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    if !cinnabar_resp::parse::split_args_into(line, &mut buf, &mut spans) {
        return None;
    }
    Some(spans.iter().map(|&(s, e)| buf[s..e].to_vec()).collect())
}

/// The loaded configuration.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<String>,
    explicit: Vec<bool>,
    /// Lines of the main config file (for CONFIG REWRITE).
    file_lines: Vec<String>,
    /// rename-command / user / loadmodule lines, kept as given.
    pub extra: Vec<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: DIRECTIVES.iter().map(|d| d.default.to_string()).collect(),
            explicit: vec![false; DIRECTIVES.len()],
            file_lines: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// Turns command-line options into config text the way redis-server does: `--name` starts a
/// line; following arguments are its values; `--save` alone means `save ""`.
pub fn options_to_lines(args: &[String]) -> Vec<Vec<String>> {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut handled_last = true;
    let n = args.len();
    for (j, a) in args.iter().enumerate() {
        if handled_last && a.starts_with("--") {
            let toks: Vec<String> = split_args(&a.as_bytes()[2..])
                .unwrap_or_default()
                .into_iter()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect();
            let single = toks.len() <= 1;
            lines.push(toks);
            if single {
                handled_last = false;
                let next_is_opt = j + 1 < n && args[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_opt || j + 1 == n) {
                    if let Some(l) = lines.last_mut() {
                        l.push(String::new());
                    }
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            match lines.last_mut() {
                Some(l) => l.push(a.clone()),
                None => lines.push(vec![a.clone()]),
            }
            handled_last = true;
        }
    }
    lines
}

struct Loader {
    save_seen: bool,
}

fn fatal(lineno: usize, line: &str, err: &str) -> ConfigError {
    ConfigError(format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {lineno}\n>>> '{line}'\n{err}"
    ))
}

impl Config {
    /// Loads `path` (if any; "-" reads stdin) followed by the command-line `options`.
    pub fn load(path: Option<&Path>, options: &[String]) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut ld = Loader { save_seen: false };
        let mut lineno = 0;
        let mut opts = options.to_vec();
        let stdin_too = opts.last().is_some_and(|o| o == "-");
        if stdin_too {
            opts.pop();
        }
        if let Some(p) = path {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError(format!(
                    "Fatal error, can't open config file '{}': {}",
                    p.display(),
                    e.to_string().split(" (os error").next().unwrap_or("")
                ))
            })?;
            cfg.file_lines = text.lines().map(|l| l.to_string()).collect();
            for line in text.lines() {
                lineno += 1;
                cfg.load_line(&mut ld, lineno, line, true)?;
            }
        }
        if stdin_too {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
            for line in text.lines() {
                lineno += 1;
                cfg.load_line(&mut ld, lineno, line, true)?;
            }
        }
        for toks in options_to_lines(&opts) {
            lineno += 1;
            let shown: Vec<String> = toks
                .iter()
                .map(|t| {
                    if t.is_empty() || t.contains(' ') {
                        format!("\"{t}\"")
                    } else {
                        t.clone()
                    }
                })
                .collect();
            cfg.apply_tokens(&mut ld, lineno, &shown.join(" "), toks, true)?;
        }
        Ok(cfg)
    }

    fn load_line(
        &mut self,
        ld: &mut Loader,
        lineno: usize,
        raw: &str,
        _file: bool,
    ) -> Result<(), ConfigError> {
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let Some(toks) = split_args(line.as_bytes()) else {
            return Err(fatal(
                lineno,
                line,
                "Unbalanced quotes in configuration line",
            ));
        };
        let toks: Vec<String> = toks
            .into_iter()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .collect();
        self.apply_tokens(ld, lineno, line, toks, true)
    }

    fn apply_tokens(
        &mut self,
        ld: &mut Loader,
        lineno: usize,
        line: &str,
        toks: Vec<String>,
        _file: bool,
    ) -> Result<(), ConfigError> {
        if toks.is_empty() {
            return Ok(());
        }
        let name = toks[0].to_ascii_lowercase();
        let args = &toks[1..];
        match name.as_str() {
            "include" => {
                if args.len() != 1 {
                    return Err(fatal(lineno, line, "wrong number of arguments"));
                }
                let text = std::fs::read_to_string(&args[0]).map_err(|e| {
                    ConfigError(format!(
                        "Fatal error, can't open config file '{}': {}",
                        args[0],
                        e.to_string().split(" (os error").next().unwrap_or("")
                    ))
                })?;
                for (i, l) in text.lines().enumerate() {
                    self.load_line(ld, i + 1, l, true)?;
                }
                return Ok(());
            }
            "rename-command" | "user" | "loadmodule" => {
                if name == "rename-command" && args.len() != 2 {
                    return Err(fatal(lineno, line, "wrong number of arguments"));
                }
                self.extra.push(toks.clone());
                return Ok(());
            }
            "sentinel" => {
                return Err(fatal(
                    lineno,
                    line,
                    "sentinel directive while not in sentinel mode",
                ));
            }
            _ => {}
        }
        let Some((i, d)) = lookup(&name) else {
            return Err(fatal(
                lineno,
                line,
                "Bad directive or wrong number of arguments",
            ));
        };
        if d.flags & MULTI == 0 && args.len() != 1 {
            return Err(fatal(lineno, line, "wrong number of arguments"));
        }
        let save_append = d.name == "save" && ld.save_seen;
        let v = values::parse(d, args, &self.values[i], save_append)
            .map_err(|e| fatal(lineno, line, &e))?;
        if d.name == "save" {
            ld.save_seen = true;
        }
        self.values[i] = v;
        self.explicit[i] = true;
        Ok(())
    }

    /// The canonical value of a directive (by name or alias), as CONFIG GET shows it.
    pub fn get_value(&self, name: &str) -> Option<String> {
        let (i, d) = lookup(name)?;
        if d.name == "dir" {
            return Some(
                std::env::current_dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        Some(self.values[i].clone())
    }

    /// CONFIG GET: every directive (and alias) matching any of the glob patterns, once.
    pub fn get_matching(&self, patterns: &[String]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in patterns {
            let pl = p.to_ascii_lowercase();
            let is_glob = pl.contains(['*', '?', '[']);
            if !is_glob {
                if let Some(v) = self.get_value(&pl) {
                    if seen.insert(pl.clone()) {
                        out.push((pl.clone(), v));
                    }
                }
                continue;
            }
            for d in DIRECTIVES {
                if d.flags & HID != 0 {
                    continue;
                }
                for n in std::iter::once(d.name).chain(d.alias) {
                    if cinnabar_util::glob::glob_match(pl.as_bytes(), n.as_bytes(), true)
                        && seen.insert(n.to_string())
                    {
                        out.push((n.to_string(), self.get_value(n).unwrap_or_default()));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with one or more pairs: all succeed or nothing changes. Returns the canonical
    /// names that changed; the error is Redis's reply text.
    pub fn set_many(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        let mut found: Vec<(usize, &'static Directive, String)> = Vec::new();
        for (k, v) in pairs {
            let name = String::from_utf8_lossy(k).to_ascii_lowercase();
            let Some((i, d)) = lookup(&name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            let fail = |m: &str| {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {m}")
            };
            if d.flags & IMM != 0 {
                return Err(fail("can't set immutable config"));
            }
            if d.flags & PROT != 0 && self.values[self.idx("enable-protected-configs")] == "no" {
                return Err(fail("can't set protected config"));
            }
            if found.iter().any(|(j, _, _)| *j == i) {
                return Err(fail("duplicate parameter"));
            }
            found.push((i, d, String::from_utf8_lossy(v).into_owned()));
        }
        let old_dir = std::env::current_dir().ok();
        let mut newvals = self.values.clone();
        let mut changed = Vec::new();
        for (i, d, v) in &found {
            let args: Vec<String> = if d.flags & MULTI != 0 {
                if v.is_empty() {
                    vec![String::new()]
                } else {
                    v.split(' ')
                        .filter(|t| !t.is_empty())
                        .map(|t| t.to_string())
                        .collect()
                }
            } else {
                vec![v.clone()]
            };
            match values::parse(d, &args, &newvals[*i], false) {
                Ok(nv) => {
                    if nv != newvals[*i] || d.name == "dir" {
                        changed.push(d.name.to_string());
                    }
                    newvals[*i] = nv;
                }
                Err(e) => {
                    if let Some(dir) = &old_dir {
                        let _ = std::env::set_current_dir(dir);
                    }
                    let name = String::from_utf8_lossy(
                        &pairs
                            .iter()
                            .find(|(k, _)| {
                                lookup(&String::from_utf8_lossy(k)).map(|x| x.0) == Some(*i)
                            })
                            .map(|(k, _)| k.clone())
                            .unwrap_or_default(),
                    )
                    .to_ascii_lowercase();
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ));
                }
            }
        }
        self.values = newvals;
        Ok(changed)
    }

    fn idx(&self, name: &str) -> usize {
        lookup(name).map(|x| x.0).unwrap_or(0)
    }

    /// Directives set in the file or on the command line that Cinnabar does not implement.
    pub fn unimplemented_set(&self) -> Vec<String> {
        DIRECTIVES
            .iter()
            .enumerate()
            .filter(|(i, d)| self.explicit[*i] && !IMPLEMENTED.contains(&d.name))
            .map(|(_, d)| d.name.to_string())
            .collect()
    }

    /// Lines CONFIG REWRITE writes for directive `d` with value `v`.
    fn rewrite_lines(d: &Directive, v: &str) -> Vec<String> {
        let q = |s: &str| quote(s);
        match (d.name, d.kind) {
            ("save", _) => {
                if v.is_empty() {
                    return vec!["save \"\"".into()];
                }
                let t: Vec<&str> = v.split(' ').collect();
                t.chunks(2)
                    .map(|c| format!("save {}", c.join(" ")))
                    .collect()
            }
            ("client-output-buffer-limit", _) => {
                let t: Vec<&str> = v.split(' ').collect();
                t.chunks(4)
                    .filter(|c| c.len() == 4)
                    .map(|c| {
                        let h = values::format_memory(c[1].parse().unwrap_or(0));
                        let s = values::format_memory(c[2].parse().unwrap_or(0));
                        format!("client-output-buffer-limit {} {h} {s} {}", c[0], c[3])
                    })
                    .collect()
            }
            ("bind", _)
            | ("oom-score-adj-values", _)
            | ("latency-tracking-info-percentiles", _)
            | ("replicaof", _) => {
                if v.is_empty() && d.name == "replicaof" {
                    return vec![];
                }
                vec![format!(
                    "{} {}",
                    d.name,
                    if v.is_empty() {
                        "\"\"".to_string()
                    } else {
                        v.to_string()
                    }
                )]
            }
            (_, table::K::Mem(..)) => vec![format!(
                "{} {}",
                d.name,
                values::format_memory(v.parse().unwrap_or(0))
            )],
            (_, table::K::Str) | (_, table::K::Special) => vec![format!("{} {}", d.name, q(v))],
            _ => vec![format!("{} {}", d.name, v)],
        }
    }

    /// CONFIG REWRITE: rewrites `path` keeping its comments, order and unknown lines; changed
    /// directives replace their first line, extra old lines of them are dropped, new ones are
    /// appended after a "# Generated by CONFIG REWRITE" line. Written atomically.
    pub fn rewrite(&self, path: &Path) -> std::io::Result<()> {
        const SIG: &str = "# Generated by CONFIG REWRITE";
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let mut lines: Vec<Option<String>> = Vec::new();
        let mut positions: HashMap<usize, Vec<usize>> = HashMap::new();
        for l in old.lines() {
            if l == SIG {
                continue;
            }
            let t = l.trim();
            if !t.is_empty() && !t.starts_with('#') {
                if let Some(toks) = split_args(t.as_bytes()) {
                    if let Some(first) = toks.first() {
                        if let Some((i, _)) = lookup(&String::from_utf8_lossy(first)) {
                            positions.entry(i).or_default().push(lines.len());
                        }
                    }
                }
            }
            lines.push(Some(l.to_string()));
        }
        let mut appended: Vec<String> = Vec::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            if d.flags & HID != 0 && !positions.contains_key(&i) {
                continue;
            }
            let v = if d.name == "dir" {
                self.get_value("dir").unwrap_or_default()
            } else {
                self.values[i].clone()
            };
            let at = positions.get(&i).cloned().unwrap_or_default();
            let is_default = d.name != "dir" && v == d.default;
            if at.is_empty() && (is_default || d.name == "dir" && !self.explicit[i]) {
                continue;
            }
            let new = Self::rewrite_lines(d, &v);
            let mut it = new.into_iter();
            for pos in &at {
                lines[*pos] = it.next();
            }
            appended.extend(it);
        }
        let mut out = String::new();
        for l in lines.into_iter().flatten() {
            out.push_str(&l);
            out.push('\n');
        }
        if !appended.is_empty() {
            out.push_str(SIG);
            out.push('\n');
            for l in appended {
                out.push_str(&l);
                out.push('\n');
            }
        }
        let tmp: PathBuf = path.with_extension(format!("tmp-{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(out.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

/// Quotes a string the way CONFIG REWRITE writes string values (always in double quotes, with
/// escapes for quotes, backslashes and non-printable bytes).
pub fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => o.push_str("\\\\"),
            b'"' => o.push_str("\\\""),
            b'\n' => o.push_str("\\n"),
            b'\r' => o.push_str("\\r"),
            b'\t' => o.push_str("\\t"),
            7 => o.push_str("\\a"),
            8 => o.push_str("\\b"),
            0x20..=0x7e => o.push(b as char),
            _ => o.push_str(&format!("\\x{b:02x}")),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_like_redis() {
        assert_eq!(
            options_to_lines(&s(&["--port", "7000", "--save", "--bind", "a", "b"])),
            vec![
                s(&["port", "7000"]),
                s(&["save", ""]),
                s(&["bind", "a", "b"])
            ]
        );
        assert_eq!(options_to_lines(&s(&["--save"])), vec![s(&["save", ""])]);
        assert_eq!(
            options_to_lines(&s(&["--port 7000"])),
            vec![s(&["port", "7000"])]
        );
    }

    #[test]
    fn load_errors_and_values() {
        let dir = std::env::temp_dir().join(format!("cfgtest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or(());
        let f = dir.join("a.conf");
        std::fs::write(
            &f,
            "# c\nport 7000\nmaxmemory 1gb\nsave 10 1\nsave 20 2\nappendonly YES\n",
        )
        .unwrap_or(());
        let c = Config::load(Some(&f), &s(&["--loglevel", "verbose"])).expect("loads");
        assert_eq!(c.get_value("port").as_deref(), Some("7000"));
        assert_eq!(c.get_value("maxmemory").as_deref(), Some("1073741824"));
        assert_eq!(c.get_value("save").as_deref(), Some("10 1 20 2"));
        assert_eq!(c.get_value("appendonly").as_deref(), Some("yes"));
        assert_eq!(c.get_value("loglevel").as_deref(), Some("verbose"));
        std::fs::write(&f, "port 7000\nmaxmemroy 1\n").unwrap_or(());
        let e = Config::load(Some(&f), &[])
            .expect_err("bad directive")
            .to_string();
        assert!(
            e.contains("at line 2")
                && e.contains(">>> 'maxmemroy 1'")
                && e.contains("Bad directive"),
            "{e}"
        );
        std::fs::write(&f, "appendonly maybe\n").unwrap_or(());
        let e = Config::load(Some(&f), &[])
            .expect_err("bad bool")
            .to_string();
        assert!(e.contains("argument must be 'yes' or 'no'"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_set_rules() {
        let mut c = Config::default();
        let p = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
        assert_eq!(
            c.set_many(&[p("maxmemory", "10mb"), p("hz", "20")]),
            Ok(vec!["maxmemory".into(), "hz".into()])
        );
        assert_eq!(c.get_value("maxmemory").as_deref(), Some("10485760"));
        assert_eq!(
            c.set_many(&[p("foo", "1")]),
            Err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'".into())
        );
        assert_eq!(
            c.set_many(&[p("daemonize", "yes")]),
            Err("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config".into())
        );
        assert_eq!(
            c.set_many(&[p("hz", "5"), p("maxmemory-policy", "bogus")])
                .map_err(|e| e.contains("must be one of the following: volatile-lru")),
            Err(true)
        );
        assert_eq!(c.get_value("hz").as_deref(), Some("20"), "all or nothing");
        assert!(c
            .set_many(&[p("port", "1"), p("port", "2")])
            .unwrap_err()
            .contains("duplicate parameter"));
        assert!(c
            .set_many(&[p("active-expire-effort", "11")])
            .unwrap_err()
            .contains("argument must be between 1 and 10 inclusive"));
        let got = c.get_matching(&s(&["slave-read*"]));
        assert_eq!(
            got,
            vec![("slave-read-only".to_string(), "yes".to_string())]
        );
    }
}
