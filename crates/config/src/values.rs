//! Parsing and rendering of directive values: booleans, integers and memory sizes with Redis's
//! units and error texts, enums, and the special directives (save, bind, dir,
//! client-output-buffer-limit, notify-keyspace-events, oom-score-adj-values, replicaof,
//! latency-tracking-info-percentiles). Values are kept in the canonical form CONFIG GET shows.

use crate::table::{Directive, K, MULTI};
use cinnabar_util::num::string2ll;

/// Parses a memory size: digits with an optional unit (b, k=1000, kb=1024, m, mb, g, gb).
pub fn memtoull(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.len() > 20 {
        return None;
    }
    let v: u64 = if num.is_empty() { 0 } else { num.parse().ok()? };
    Some(v.wrapping_mul(mul))
}

/// Formats bytes for CONFIG REWRITE: the largest exact unit (gb, mb, kb) or plain bytes.
pub fn format_memory(v: i128) -> String {
    const GB: i128 = 1024 * 1024 * 1024;
    const MB: i128 = 1024 * 1024;
    const KB: i128 = 1024;
    if v != 0 && v % GB == 0 {
        format!("{}gb", v / GB)
    } else if v != 0 && v % MB == 0 {
        format!("{}mb", v / MB)
    } else if v != 0 && v % KB == 0 {
        format!("{}kb", v / KB)
    } else {
        v.to_string()
    }
}

fn range_err(min: i128, max: i128, octal: bool) -> String {
    if octal {
        format!("argument must be between {min:o} and {max:o} inclusive")
    } else {
        format!("argument must be between {min} and {max} inclusive")
    }
}

/// `%f` with trailing zeros (and a trailing dot) trimmed, as Redis prints percentiles.
pub fn trim_double(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

const KS_ALL: &str = "g$lshzxetd";

/// notify-keyspace-events: input flags to canonical form (None = invalid character).
pub fn keyspace_events(s: &str) -> Option<String> {
    let mut set = std::collections::BTreeSet::new();
    for c in s.chars() {
        match c {
            'A' => set.extend(KS_ALL.chars()),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 'K' | 'E' | 't' | 'm' | 'd' | 'n' => {
                set.insert(c);
            }
            _ => return None,
        }
    }
    let mut out = String::new();
    if KS_ALL.chars().all(|c| set.contains(&c)) {
        out.push('A');
    } else {
        for c in "g$lshzxetdn".chars() {
            if set.contains(&c) {
                out.push(c);
            }
        }
    }
    for c in ['K', 'E', 'm'] {
        if set.contains(&c) {
            out.push(c);
        }
    }
    Some(out)
}

/// Client classes of client-output-buffer-limit, in rendering order.
const COB_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

fn cob_parse(cur: &str, args: &[String]) -> Result<String, String> {
    let mut vals: Vec<[String; 3]> = Vec::new();
    let toks: Vec<&str> = cur.split_whitespace().collect();
    for c in toks.chunks(4) {
        if c.len() == 4 {
            vals.push([c[1].to_string(), c[2].to_string(), c[3].to_string()]);
        }
    }
    while vals.len() < 3 {
        vals.push(["0".into(), "0".into(), "0".into()]);
    }
    if args.is_empty() || !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    for c in args.chunks(4) {
        let class = match c[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = memtoull(&c[1]);
        let soft = memtoull(&c[2]);
        let secs = c[3].parse::<i64>().ok().filter(|s| *s >= 0);
        match (hard, soft, secs) {
            (Some(h), Some(s), Some(t)) => {
                vals[class] = [h.to_string(), s.to_string(), t.to_string()]
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    Ok(COB_CLASSES
        .iter()
        .zip(vals.iter())
        .map(|(c, v)| format!("{c} {} {} {}", v[0], v[1], v[2]))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Parses `args` for directive `d` into its canonical value. `current` is the value before
/// (some directives update only part of it); `from_file_save_seen` tells `save` whether an
/// earlier `save` line of the same file already reset the defaults.
pub fn parse(
    d: &Directive,
    args: &[String],
    current: &str,
    save_append: bool,
) -> Result<String, String> {
    let multi = d.flags & MULTI != 0;
    if !multi && args.len() != 1 {
        return Err("wrong number of arguments".into());
    }
    let a0 = args.first().map(|s| s.as_str()).unwrap_or("");
    match d.kind {
        K::Bool => match a0.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        K::Str => Ok(a0.to_string()),
        K::Int(min, max) => {
            let v = string2ll(a0.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?
                as i128;
            if v < min || v > max {
                return Err(range_err(min, max, false));
            }
            Ok(v.to_string())
        }
        K::Mem(min, max) => {
            let v =
                memtoull(a0).ok_or_else(|| "argument must be a memory value".to_string())? as i128;
            if v < min || v > max {
                return Err(range_err(min, max, false));
            }
            Ok(v.to_string())
        }
        K::Percent(min, max) => {
            if let Some(p) = a0.strip_suffix('%') {
                if let Some(v) = string2ll(p.as_bytes()).filter(|v| *v >= 0) {
                    if -(v as i128) < min {
                        return Err(range_err(min, max, false));
                    }
                    return Ok(format!("{v}%"));
                }
            }
            let v = memtoull(a0)
                .ok_or_else(|| "argument must be a memory or percent value".to_string())?
                as i128;
            if v < min || v > max {
                return Err(range_err(min, max, false));
            }
            Ok(v.to_string())
        }
        K::Octal(min, max) => {
            let v = i128::from_str_radix(a0, 8)
                .map_err(|_| "argument couldn't be parsed as an octal number".to_string())?;
            if v < min || v > max {
                return Err(range_err(min, max, true));
            }
            Ok(format!("{v:o}"))
        }
        K::Enum(names) => {
            let bad = || {
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            };
            let mut picked = Vec::new();
            for a in args {
                match names.iter().find(|n| n.eq_ignore_ascii_case(a)) {
                    Some(n) => picked.push(*n),
                    None => return Err(bad()),
                }
            }
            if picked.is_empty() || (!multi && picked.len() != 1) {
                return Err(bad());
            }
            if d.name.starts_with("shutdown-on-sig") {
                if picked.contains(&"save") && picked.contains(&"nosave") {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".into(),
                    );
                }
                if picked.len() > 1 && picked.contains(&"default") {
                    return Err(bad());
                }
            }
            Ok(picked.join(" "))
        }
        K::Special => special(d.name, args, current, save_append),
    }
}

fn special(
    name: &str,
    args: &[String],
    current: &str,
    save_append: bool,
) -> Result<String, String> {
    let single_empty = args.len() == 1 && args[0].is_empty();
    match name {
        "save" => {
            if single_empty {
                return Ok(String::new());
            }
            if !args.len().is_multiple_of(2) {
                return Err("Invalid save parameters".into());
            }
            for (j, a) in args.iter().enumerate() {
                let v: i64 = a
                    .parse()
                    .map_err(|_| "Invalid save parameters".to_string())?;
                if (j % 2 == 0 && v < 1) || (j % 2 == 1 && v < 0) {
                    return Err("Invalid save parameters".into());
                }
            }
            let new = args.join(" ");
            if save_append && !current.is_empty() {
                Ok(format!("{current} {new}"))
            } else {
                Ok(new)
            }
        }
        "bind" => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if single_empty {
                return Ok(String::new());
            }
            Ok(args.join(" "))
        }
        "dir" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            std::env::set_current_dir(&args[0]).map_err(|e| {
                let s = e.to_string();
                s.split(" (os error").next().unwrap_or(&s).to_string()
            })?;
            Ok(std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| args[0].clone()))
        }
        "client-output-buffer-limit" => cob_parse(current, args),
        "oom-score-adj-values" => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut v = Vec::new();
            for a in args {
                match a.parse::<i64>() {
                    Ok(x) if (-2000..=2000).contains(&x) => v.push(x.to_string()),
                    _ => return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    ),
                }
            }
            Ok(v.join(" "))
        }
        "notify-keyspace-events" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            keyspace_events(&args[0])
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        }
        "replicaof" => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            let port: i64 = args[1]
                .parse()
                .map_err(|_| "Invalid master port".to_string())?;
            if !(0..=65535).contains(&port) {
                return Err("Invalid master port".into());
            }
            Ok(format!("{} {}", args[0], port))
        }
        "latency-tracking-info-percentiles" => {
            if single_empty {
                return Ok(String::new());
            }
            let mut v = Vec::new();
            for a in args {
                let p = cinnabar_util::num::string2d(a.as_bytes()).ok_or_else(|| {
                    "Invalid latency-tracking-info-percentiles parameters".to_string()
                })?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                v.push(trim_double(p));
            }
            Ok(v.join(" "))
        }
        _ => Ok(args.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(memtoull("1k"), Some(1000));
        assert_eq!(memtoull("1kb"), Some(1024));
        assert_eq!(memtoull("1GB"), Some(1 << 30));
        assert_eq!(memtoull("12"), Some(12));
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("1x"), None);
        assert_eq!(format_memory(268435456), "256mb");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn keyspace_event_flags() {
        assert_eq!(keyspace_events("KEA").as_deref(), Some("AKE"));
        assert_eq!(keyspace_events("Ex").as_deref(), Some("xE"));
        assert_eq!(keyspace_events("").as_deref(), Some(""));
        assert_eq!(keyspace_events("Q"), None);
    }
}
