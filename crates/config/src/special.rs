//! Parsing of the directives with their own rules: `dir` (checked and made absolute against the
//! configuration's working directory, never `chdir`), `save` (with Redis's quirk that `save`
//! lines of one file add up while CONFIG SET replaces), `client-output-buffer-limit`,
//! `oom-score-adj-values`, `notify-keyspace-events`, `bind`, `replicaof` and
//! `latency-tracking-info-percentiles`. Error texts are Redis's.

use crate::num::{memtoull, strerror, string2d, strtoll, strtoll_all};
use crate::split::cstr;
use crate::table::Sp;
use crate::value::{keyspace_events_flags, ObufLimit, Value};
use crate::Config;
use std::path::{Path, PathBuf};

const WRONG_ARGS: &str = "wrong number of arguments";

impl Config {
    pub(crate) fn set_special(&mut self, i: usize, sp: Sp, args: &[&[u8]]) -> Result<bool, String> {
        let new = match sp {
            Sp::Dir => {
                if args.len() != 1 {
                    return Err(WRONG_ARGS.into());
                }
                Value::Dir(self.resolve_dir(cstr(args[0]))?)
            }
            Sp::Save => return self.set_save(i, args),
            Sp::ClientOutputBufferLimit => {
                let mut cur = match &self.values[i] {
                    Value::Cob(c) => *c,
                    _ => crate::value::OBUF_DEFAULTS,
                };
                parse_cob(args, &mut cur)?;
                Value::Cob(cur)
            }
            Sp::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err(WRONG_ARGS.into());
                }
                let mut v = [0i32; 3];
                for (slot, a) in v.iter_mut().zip(args) {
                    match strtoll_all(cstr(a)) {
                        Some(x) if (-2000..=2000).contains(&x) => *slot = x as i32,
                        _ => {
                            return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into())
                        }
                    }
                }
                if v[1] < v[0] || v[2] < v[1] {
                    self.warnings.push("The oom-score-adj-values configuration may not work for non-privileged processes! Please consult the documentation.".into());
                }
                let changed = self.values[i] != Value::Oom(v);
                self.values[i] = Value::Oom(v);
                return Ok(changed);
            }
            Sp::NotifyKeyspaceEvents => {
                if args.len() != 1 {
                    return Err(WRONG_ARGS.into());
                }
                match keyspace_events_flags(args[0]) {
                    Some(f) => Value::Notify(f),
                    None => {
                        return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
                    }
                }
            }
            Sp::Bind => {
                if args.len() > 16 {
                    return Err("Too many bind addresses specified.".into());
                }
                if args.len() == 1 && args[0].is_empty() {
                    Value::Bind(Vec::new())
                } else {
                    Value::Bind(args.iter().map(|a| cstr(a).to_vec()).collect())
                }
            }
            Sp::ReplicaOf => {
                if args.len() != 2 {
                    return Err(WRONG_ARGS.into());
                }
                // Redis forgets the old master before validating the new one.
                self.values[i] = Value::ReplicaOf(None);
                let (host, port) = (cstr(args[0]), cstr(args[1]));
                if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
                    return Ok(true);
                }
                let (p, all, _) = strtoll(port, 10);
                let p = p as i32;
                if !all || !(0..=65535).contains(&p) {
                    return Err("Invalid master port".into());
                }
                Value::ReplicaOf(Some((host.to_vec(), p)))
            }
            Sp::LatencyPercentiles => {
                let mut v = Vec::new();
                if !(args.len() == 1 && args[0].is_empty()) {
                    for a in args {
                        let Some(p) = string2d(a) else {
                            self.values[i] = Value::Percentiles(Vec::new());
                            return Err(
                                "Invalid latency-tracking-info-percentiles parameters".into()
                            );
                        };
                        if !(0.0..=100.0).contains(&p) {
                            self.values[i] = Value::Percentiles(Vec::new());
                            return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                        }
                        v.push(p);
                    }
                }
                Value::Percentiles(v)
            }
        };
        self.values[i] = new;
        Ok(true)
    }

    /// What `chdir(arg)` then `getcwd()` would give, relative to the configuration's working
    /// directory, or the `strerror` text of the failure.
    pub(crate) fn resolve_dir(&self, arg: &[u8]) -> Result<PathBuf, String> {
        use std::os::unix::ffi::OsStrExt;
        if arg.is_empty() {
            return Err("No such file or directory".into());
        }
        let p = Path::new(std::ffi::OsStr::from_bytes(arg));
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        };
        let canon = std::fs::canonicalize(&full).map_err(|e| strerror(&e))?;
        let meta = std::fs::metadata(&canon).map_err(|e| strerror(&e))?;
        if !meta.is_dir() {
            return Err("Not a directory".into());
        }
        Ok(canon)
    }

    fn set_save(&mut self, i: usize, args: &[&[u8]]) -> Result<bool, String> {
        let mut args = args;
        if args.len() == 1 && cstr(args[0]).is_empty() {
            self.values[i] = Value::Save(Vec::new());
            args = &[];
        }
        let bad = || "Invalid save parameters".to_string();
        if !args.len().is_multiple_of(2) {
            return Err(bad());
        }
        let mut parsed = Vec::with_capacity(args.len());
        for (j, a) in args.iter().enumerate() {
            let v = strtoll_all(cstr(a)).ok_or_else(bad)?;
            if (j % 2 == 0 && v < 1) || (j % 2 == 1 && v < 0) {
                return Err(bad());
            }
            parsed.push(v);
        }
        if !self.reading_file {
            self.values[i] = Value::Save(Vec::new());
        } else if !self.save_loaded {
            self.save_loaded = true;
            self.values[i] = Value::Save(Vec::new());
        }
        if let Value::Save(points) = &mut self.values[i] {
            for pair in parsed.chunks(2) {
                if let [secs, changes] = pair {
                    points.push((*secs, *changes as i32));
                }
            }
        }
        Ok(true)
    }
}

/// Parses `class hard soft seconds` groups into `limits` (all or nothing).
fn parse_cob(args: &[&[u8]], limits: &mut [ObufLimit; 3]) -> Result<(), String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut new = *limits;
    for group in args.chunks(4) {
        let [class, hard, soft, secs] = group else {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        };
        let class = match cstr(class).to_ascii_lowercase().as_slice() {
            b"normal" => 0,
            b"slave" | b"replica" => 1,
            b"pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let (s, all, _) = strtoll(cstr(secs), 10);
        let s = s as i32;
        match (memtoull(hard), memtoull(soft)) {
            (Some(h), Some(sf)) if s >= 0 && all => {
                new[class] = ObufLimit {
                    hard: h,
                    soft: sf,
                    soft_seconds: i64::from(s),
                };
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    *limits = new;
    Ok(())
}
