//! Directive values: the typed value each directive holds, its default, how CONFIG GET renders
//! it, and how a directive's arguments are parsed into it (`Config::set_value`, shared by the
//! file loader and CONFIG SET) with Redis's exact error texts. The special directives (save,
//! bind, dir, client-output-buffer-limit, ...) are parsed in `special.rs`.

use crate::num::{memtoull, string2ll, strtoll};
use crate::split::cstr;
use crate::table::{Check, Directive, Kind, NumFmt, Sign, Sp, DIRECTIVES, VOL};
use crate::Config;
use std::path::PathBuf;

/// Output buffer limits of one client class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ObufLimit {
    /// Disconnect at once above this many bytes (0 = no limit).
    pub hard: u64,
    /// Disconnect when above this many bytes for `soft_seconds`.
    pub soft: u64,
    /// Seconds the soft limit may be exceeded.
    pub soft_seconds: i64,
}

/// The client classes of `client-output-buffer-limit`, in CONFIG GET order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

/// Redis's built-in output buffer limits (normal, replica, pubsub).
pub const OBUF_DEFAULTS: [ObufLimit; 3] = [
    ObufLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    },
    ObufLimit {
        hard: 256 << 20,
        soft: 64 << 20,
        soft_seconds: 60,
    },
    ObufLimit {
        hard: 32 << 20,
        soft: 8 << 20,
        soft_seconds: 60,
    },
];

/// Redis's default `save` points.
pub const SAVE_DEFAULTS: [(i64, i32); 3] = [(3600, 1), (300, 100), (60, 10000)];
/// Redis's default `bind`.
pub const BIND_DEFAULTS: [&str; 2] = ["*", "-::*"];
/// Redis's default `oom-score-adj-values`.
pub const OOM_DEFAULTS: [i32; 3] = [0, 200, 800];
/// Redis's default `latency-tracking-info-percentiles`.
pub const PERCENTILE_DEFAULTS: [f64; 3] = [50.0, 99.0, 99.9];

/// The value a directive holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    /// Any numeric directive (unsigned 64-bit ones as their bit pattern; a percentage of
    /// maxmemory-clients as a negative number, as Redis stores it).
    Num(i64),
    /// None when unset (the "empty string is NULL" directives).
    Str(Option<Vec<u8>>),
    Enum(i32),
    Save(Vec<(i64, i32)>),
    Bind(Vec<Vec<u8>>),
    Cob([ObufLimit; 3]),
    Oom([i32; 3]),
    Notify(u32),
    ReplicaOf(Option<(Vec<u8>, i32)>),
    Percentiles(Vec<f64>),
    Dir(PathBuf),
}

/// The default value of directive `d`.
pub(crate) fn default_value(d: &Directive) -> Value {
    match d.kind {
        Kind::Bool { default, .. } => Value::Bool(default),
        Kind::Str { default, .. } => Value::Str(default.map(|s| s.as_bytes().to_vec())),
        Kind::Enum { default, .. } => Value::Enum(default),
        Kind::Num { default, .. } => Value::Num(default),
        Kind::Special(sp) => match sp {
            Sp::Dir => Value::Dir(std::env::current_dir().unwrap_or_default()),
            Sp::Save => Value::Save(SAVE_DEFAULTS.to_vec()),
            Sp::ClientOutputBufferLimit => Value::Cob(OBUF_DEFAULTS),
            Sp::OomScoreAdjValues => Value::Oom(OOM_DEFAULTS),
            Sp::NotifyKeyspaceEvents => Value::Notify(0),
            Sp::Bind => Value::Bind(
                BIND_DEFAULTS
                    .iter()
                    .map(|s| s.as_bytes().to_vec())
                    .collect(),
            ),
            Sp::ReplicaOf => Value::ReplicaOf(None),
            Sp::LatencyPercentiles => Value::Percentiles(PERCENTILE_DEFAULTS.to_vec()),
        },
    }
}

/// The names of enum value `v` (several, space-separated, for flag enums), or "unknown".
pub(crate) fn enum_name(names: &[(&str, i32)], v: i32, bitflags: bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut unmatched = v;
    for &(name, val) in names {
        if v == val {
            return name.to_string();
        }
        if bitflags && val != 0 && val == (unmatched & val) {
            out.push(name);
            unmatched &= !val;
        }
    }
    if out.is_empty() || unmatched != 0 {
        return "unknown".to_string();
    }
    out.join(" ")
}

/// Keyspace event class letters, in the order Redis prints them, with their bits.
const NOTIFY_BITS: &[(u8, u32)] = &[
    (b'g', 1 << 2),
    (b'$', 1 << 3),
    (b'l', 1 << 4),
    (b's', 1 << 5),
    (b'h', 1 << 6),
    (b'z', 1 << 7),
    (b'x', 1 << 8),
    (b'e', 1 << 9),
    (b't', 1 << 10),
    (b'd', 1 << 13),
    (b'n', 1 << 14),
];
/// K, E and m.
pub const NOTIFY_KEYSPACE: u32 = 1;
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
/// The classes `A` stands for (not `m`, not `n`).
pub const NOTIFY_ALL: u32 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 13);

/// Parses notify-keyspace-events classes into flag bits (None on an unknown letter).
pub fn keyspace_events_flags(s: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in cstr(s) {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b'm' => NOTIFY_KEY_MISS,
            _ => NOTIFY_BITS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(flags)
}

/// Renders notify-keyspace-events flag bits as Redis does (`A` when all of it is set).
pub fn keyspace_events_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for &(l, bit) in NOTIFY_BITS {
            if flags & bit != 0 {
                s.push(l as char);
            }
        }
    }
    for (bit, l) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            s.push(l);
        }
    }
    s
}

/// Renders a value as CONFIG GET shows it.
pub(crate) fn render(d: &Directive, v: &Value) -> Vec<u8> {
    match v {
        Value::Bool(b) => {
            if *b {
                b"yes".to_vec()
            } else {
                b"no".to_vec()
            }
        }
        Value::Num(n) => {
            let fmt = match d.kind {
                Kind::Num { fmt, .. } => fmt,
                _ => NumFmt::INT,
            };
            match fmt {
                NumFmt::MEMPCT if *n < 0 => format!("{}%", n.unsigned_abs()),
                NumFmt::MEM | NumFmt::MEMPCT => (*n as u64).to_string(),
                NumFmt::OCT => format!("{:o}", *n as u64),
                NumFmt::INT => n.to_string(),
            }
            .into_bytes()
        }
        Value::Str(s) => s.clone().unwrap_or_default(),
        Value::Enum(e) => match d.kind {
            Kind::Enum { names, .. } => enum_name(names, *e, d.multi_arg()).into_bytes(),
            _ => Vec::new(),
        },
        Value::Save(p) => p
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Value::Bind(a) => a.join(&b' '),
        Value::Cob(c) => ["normal", "slave", "pubsub"]
            .iter()
            .zip(c.iter())
            .map(|(n, l)| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Value::Oom(o) => format!("{} {} {}", o[0], o[1], o[2]).into_bytes(),
        Value::Notify(f) => keyspace_events_string(*f).into_bytes(),
        Value::ReplicaOf(r) => match r {
            Some((h, p)) => {
                let mut v = h.clone();
                v.extend_from_slice(format!(" {p}").as_bytes());
                v
            }
            None => Vec::new(),
        },
        Value::Percentiles(p) => p
            .iter()
            .map(|x| crate::num::format_percentile(*x))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Value::Dir(p) => {
            use std::os::unix::ffi::OsStrExt;
            p.as_os_str().as_bytes().to_vec()
        }
    }
}

fn parse_number(fmt: NumFmt, arg: &[u8]) -> Result<i64, &'static str> {
    if matches!(fmt, NumFmt::MEM | NumFmt::MEMPCT) {
        if let Some(v) = memtoull(arg) {
            return Ok(v as i64);
        }
    }
    if fmt == NumFmt::MEMPCT && arg.len() > 1 && arg.last() == Some(&b'%') {
        if let Some(v) = string2ll(&arg[..arg.len() - 1]).filter(|v| *v >= 0) {
            return Ok(-v);
        }
    }
    if fmt == NumFmt::OCT {
        let (v, all, overflow) = strtoll(cstr(arg), 8);
        if all && !overflow {
            return Ok(v);
        }
    }
    if fmt == NumFmt::INT {
        if let Some(v) = string2ll(arg) {
            return Ok(v);
        }
    }
    Err(match fmt {
        NumFmt::MEMPCT => "argument must be a memory or percent value",
        NumFmt::MEM => "argument must be a memory value",
        NumFmt::OCT => "argument couldn't be parsed as an octal number",
        NumFmt::INT => "argument couldn't be parsed into an integer",
    })
}

fn check_bounds(sign: Sign, fmt: NumFmt, min: i64, max: i64, v: i64) -> Result<(), String> {
    if sign == Sign::U {
        let (u, lo, hi) = (v as u64, min as u64, max as u64);
        if u > hi || u < lo {
            return Err(if fmt == NumFmt::OCT {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if fmt == NumFmt::MEMPCT && v < 0 {
        if v < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                min.unsigned_abs()
            ));
        }
    } else if v > max || v < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

fn is_base_name(s: &[u8]) -> bool {
    !s.contains(&b'/') && !s.contains(&b'\\')
}

impl Config {
    /// Validates a string value against its directive's extra check.
    fn check_str(&self, check: Check, v: &[u8]) -> Result<(), String> {
        let err = |m: &str| Err(m.to_string());
        match check {
            Check::DbFilename if !is_base_name(v) => {
                err("dbfilename can't be a path, just a filename")
            }
            Check::AofFilename if v.is_empty() => err("appendfilename can't be empty"),
            Check::AofFilename if !is_base_name(v) => {
                err("appendfilename can't be a path, just a filename")
            }
            Check::AofDirname if v.is_empty() => err("appenddirname can't be empty"),
            Check::AofDirname if !is_base_name(v) => {
                err("appenddirname can't be a path, just a dirname")
            }
            Check::Hostname if v.len() >= 256 => err("Hostnames must be less than 256 characters"),
            Check::Hostname
                if !v
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.') =>
            {
                err("Hostnames may only contain alphanumeric characters, hyphens or dots")
            }
            Check::ProcTitle if !self.proc_title_valid(v) => {
                err("template format is invalid or contains unknown variables")
            }
            Check::Throttling if crate::parse_throttling(v).is_none() => {
                err("Invalid throttling arguments: <low> <high> <rate> <delay-ms>, low <= high")
            }
            _ => Ok(()),
        }
    }

    /// Expands a proc-title-template with an empty title, as Redis validates it.
    fn proc_title_valid(&self, t: &[u8]) -> bool {
        let mut out: Vec<u8> = Vec::new();
        let mut p = 0;
        while p < t.len() {
            let Some(open) = t[p..].iter().position(|&c| c == b'{').map(|o| o + p) else {
                out.extend_from_slice(&t[p..]);
                break;
            };
            out.extend_from_slice(&t[p..open]);
            let sv = open + 1;
            if sv >= t.len() {
                return false;
            }
            if t[sv] == b'{' {
                out.push(b'{');
                p = sv + 1;
                continue;
            }
            let Some(close) = t[sv..].iter().position(|&c| c == b'}').map(|c| c + sv) else {
                return false;
            };
            let port = self.num("port");
            let tls_port = self.num("tls-port");
            let value: Vec<u8> = match &t[sv..close] {
                b"title" => Vec::new(),
                b"listen-addr" if port != 0 || tls_port != 0 => {
                    let first = self
                        .bind_addrs()
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "*".into());
                    format!("{first}:{}", if port != 0 { port } else { tls_port }).into_bytes()
                }
                b"listen-addr" => {
                    let mut v = b"unixsocket:".to_vec();
                    v.extend_from_slice(&self.bytes("unixsocket"));
                    v
                }
                b"server-mode" if self.flag("cluster-enabled") => b"[cluster]".to_vec(),
                b"server-mode" if self.sentinel_mode => b"[sentinel]".to_vec(),
                b"server-mode" => Vec::new(),
                b"config-file" => b"-".to_vec(),
                b"port" => port.to_string().into_bytes(),
                b"tls-port" => tls_port.to_string().into_bytes(),
                b"unixsocket" => self.bytes("unixsocket"),
                _ => return false,
            };
            out.extend_from_slice(&value);
            p = close + 1;
        }
        !crate::split::trim(&out, b" ").is_empty()
    }

    /// Sets directive `i` from its arguments (already split for multi-argument directives).
    /// Returns whether the value counts as changed (Redis applies a change only then), or
    /// Redis's error text.
    pub(crate) fn set_value(&mut self, i: usize, args: &[&[u8]]) -> Result<bool, String> {
        let Some(d) = DIRECTIVES.get(i) else {
            return Err("unknown directive".into());
        };
        let volatile = d.flags & VOL != 0;
        let a0: &[u8] = args.first().copied().unwrap_or(b"");
        let new = match d.kind {
            Kind::Special(sp) => return self.set_special(i, sp, args),
            Kind::Bool { check, .. } => {
                let b = match cstr(a0).to_ascii_lowercase().as_slice() {
                    b"yes" => true,
                    b"no" => false,
                    _ => return Err("argument must be 'yes' or 'no'".into()),
                };
                if b && check == Some(Check::ActiveDefrag) {
                    return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into());
                }
                Value::Bool(b)
            }
            Kind::Str {
                empty_is_null,
                sds,
                check,
                ..
            } => {
                let v = if sds { a0 } else { cstr(a0) };
                if let Some(c) = check {
                    self.check_str(c, v)?;
                }
                Value::Str(if empty_is_null && v.is_empty() {
                    None
                } else {
                    Some(v.to_vec())
                })
            }
            Kind::Enum { names, check, .. } => {
                let bitflags = d.multi_arg();
                let bad = || {
                    let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                    format!(
                        "argument(s) must be one of the following: {}",
                        list.join(", ")
                    )
                };
                if args.is_empty() || (!bitflags && args.len() != 1) {
                    return Err(bad());
                }
                let mut v = 0;
                for a in args {
                    let a = cstr(a);
                    let mut matched = false;
                    for (n, val) in names {
                        if n.as_bytes().eq_ignore_ascii_case(a) {
                            v |= val;
                            matched = true;
                        }
                    }
                    if !matched {
                        return Err(bad());
                    }
                }
                if check == Some(Check::ShutdownFlags) && v & 1 != 0 && v & 2 != 0 {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".into(),
                    );
                }
                Value::Enum(v)
            }
            Kind::Num {
                sign,
                min,
                max,
                fmt,
                ..
            } => {
                let v = parse_number(fmt, a0)?;
                check_bounds(sign, fmt, min, max, v)?;
                Value::Num(v)
            }
        };
        let changed = self.values[i] != new || volatile;
        self.values[i] = new;
        if d.name == "hz" {
            if let Value::Num(h) = &mut self.values[i] {
                *h = (*h).clamp(1, 500);
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_events() {
        let f = |s: &str| keyspace_events_flags(s.as_bytes()).map(keyspace_events_string);
        assert_eq!(f("KEA").as_deref(), Some("AKE"));
        assert_eq!(f("Ex").as_deref(), Some("xE"));
        assert_eq!(f("An").as_deref(), Some("A"));
        assert_eq!(f("mK$").as_deref(), Some("$Km"));
        assert_eq!(f("").as_deref(), Some(""));
        assert_eq!(f("Q"), None);
    }

    #[test]
    fn enum_names() {
        use crate::table::SHUTDOWN_ON_SIG;
        assert_eq!(enum_name(SHUTDOWN_ON_SIG, 0, true), "default");
        assert_eq!(
            enum_name(SHUTDOWN_ON_SIG, 1 | 4 | 8, true),
            "save now force"
        );
        assert_eq!(enum_name(SHUTDOWN_ON_SIG, 16, true), "unknown");
    }
}
