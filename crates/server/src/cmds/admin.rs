//! Administrative commands: CONFIG GET/SET/RESETSTAT/REWRITE, DEBUG, SHUTDOWN.

use crate::client::Client;
use crate::server::{Server, ShutdownRequest};
use crate::settings::Enable;
use crate::{notice, warning};
use cinnabar_commands::table;
use cinnabar_commands::util::{eq_ic, SYNTAX};
use cinnabar_keyspace::value::Value;
use cinnabar_resp::Args;
use cinnabar_util::num;
use std::rc::Rc;

/// CONFIG GET parameter [parameter ...]
pub fn config_get(s: &mut Server, c: &mut Client, a: Args) {
    let pats: Vec<String> = a
        .tail(2)
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let pairs = s.cfg.get_matching(&pats);
    c.reply.map(pairs.len());
    for (k, v) in pairs {
        c.reply.bulk(k.as_bytes());
        c.reply.bulk(v.as_bytes());
    }
}

const LISTEN_KEYS: &[&str] = &[
    "bind",
    "port",
    "unixsocket",
    "unixsocketperm",
    "tcp-backlog",
];

/// CONFIG SET parameter value [parameter value ...]
pub fn config_set(s: &mut Server, c: &mut Client, a: Args) {
    if !a.len().is_multiple_of(2) {
        return c
            .reply
            .error("ERR wrong number of arguments for 'config|set' command");
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (2..a.len())
        .step_by(2)
        .map(|i| (a.get(i).to_vec(), a.get(i + 1).to_vec()))
        .collect();
    let before = s.cfg.clone();
    // While loading (or async loading), directives marked so get -LOADING, as Redis.
    let opts = cinnabar_config::SetOptions {
        loading: s.loading.is_some() || s.async_side.is_some(),
        ..Default::default()
    };
    let changed = match s.cfg.set_with(&pairs, opts, &mut |name, cfg| {
        if name == "dir" {
            cfg.apply_dir()
                .map_err(|e| cinnabar_config::num::strerror(&e))
        } else {
            Ok(())
        }
    }) {
        Ok(ch) => ch,
        Err(e) => return c.reply.error(&e),
    };
    let new_settings = crate::settings::Settings::from_config(&s.cfg);
    if changed.iter().any(|n| LISTEN_KEYS.contains(&n.as_str())) {
        if let Err((name, msg)) = crate::rebind(s, &new_settings) {
            s.cfg = before;
            return c.reply.error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {msg}"
            ));
        }
    }
    s.refresh_settings();
    crate::client_evict::evict_if_needed(s);
    if changed.iter().any(|n| n == "requirepass") {
        let p = s.settings.requirepass.clone();
        s.acl.set_requirepass(p.as_deref());
    }
    if changed.iter().any(|n| n == "acl-pubsub-default") {
        s.acl.pubsub_all = s
            .cfg
            .get_value("acl-pubsub-default")
            .is_some_and(|v| v == "allchannels");
    }
    if changed
        .iter()
        .any(|n| matches!(n.as_str(), "proc-title-template" | "port" | "bind"))
    {
        crate::proctitle::apply(s);
    }
    if changed.iter().any(|n| {
        matches!(
            n.as_str(),
            "appendonly"
                | "appendfsync"
                | "aof-timestamp-enabled"
                | "no-appendfsync-on-rewrite"
                | "aof-disable-auto-gc"
        )
    }) {
        crate::aof::config_changed(s);
    }
    c.reply.ok();
}

/// CONFIG RESETSTAT
pub fn config_resetstat(s: &mut Server, c: &mut Client) {
    let samples = std::mem::take(&mut s.stats.ops_samples);
    s.stats = Default::default();
    s.stats.ops_samples = samples;
    s.ks.stats = Default::default();
    cinnabar_keyspace::lazyfree::reset_stats();
    s.acl.reset_stats();
    for db in s.ks.dbs.iter_mut() {
        db.expired_total = 0;
    }
    for spec in table::all_specs() {
        spec.stats.reset();
    }
    s.latency.clear();
    c.reply.ok();
}

/// CONFIG REWRITE
pub fn config_rewrite(s: &mut Server, c: &mut Client) {
    let Some(path) = s.config_file.clone() else {
        return c
            .reply
            .error("ERR The server is running without a config file");
    };
    // Without an aclfile the users are written as `user` lines (Redis's rewriteConfigUserOption).
    let extras = cinnabar_config::RewriteExtras {
        users: Some(s.acl.lines()),
        modules: None,
    };
    match s.cfg.rewrite_with(&path, &extras) {
        Ok(()) => {
            notice!("CONFIG REWRITE executed with success.");
            c.reply.ok()
        }
        Err(e) => {
            warning!("CONFIG REWRITE failed: {e}");
            c.reply.error(&format!("ERR Rewriting config file: {e}"))
        }
    }
}

/// CONFIG HELP
pub fn config_help(c: &mut Client) {
    super::help_reply(
        c,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

fn debug_allowed(s: &Server, c: &Client) -> bool {
    match s.settings.enable_debug_command {
        Enable::Yes => true,
        Enable::Local => {
            c.handle.unix || c.handle.addr.starts_with("127.") || c.handle.addr.starts_with("::1")
        }
        Enable::No => false,
    }
}

/// DEBUG subcommand ...
pub fn debug(s: &mut Server, c: &mut Client, a: Args) {
    if !debug_allowed(s, c) {
        return c.reply.error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
    }
    let sub = String::from_utf8_lossy(a.get(1)).to_ascii_lowercase();
    let argc = a.len();
    match (sub.as_str(), argc) {
        ("sleep", 3) => {
            let secs: f64 = String::from_utf8_lossy(a.get(2)).parse().unwrap_or(0.0);
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            }
            c.reply.ok();
        }
        ("replicate", 3..) => {
            // Sends a command to the replicas only (a test aid, as Redis's).
            let argv: Vec<&[u8]> = (2..a.len()).map(|i| a.get(i)).collect();
            crate::propagate::feed_replicas_only(s, &argv);
            c.reply.ok();
        }
        ("set-disable-deny-scripts", 3) => {
            s.scripting.disable_deny_script = num::string2ll(a.get(2)).unwrap_or(0) != 0;
            c.reply.ok();
        }
        ("set-active-expire", 3) => {
            s.active_expire_enabled = num::string2ll(a.get(2)).unwrap_or(1) != 0;
            c.reply.ok();
        }
        ("object", 3) => {
            let now = crate::server::now_ms();
            // The key as stored, even past its TTL (as Redis's dictFind).
            let db = &s.ks.dbs[c.db];
            match db.main.get(a.get(2)) {
                Some(o) => {
                    let v = &o.value;
                    let idle = cinnabar_keyspace::db::idle_seconds(o.lru, now);
                    // The value's RDB encoding length (a DUMP payload less its type byte,
                    // version and checksum), as Redis's rdbSavedObjectLen.
                    let opts = cinnabar_rdb::EncodeOpts {
                        compress: s.settings.rdbcompression,
                    };
                    let len = cinnabar_rdb::dump_payload(v, &s.settings.limits, &opts)
                        .len()
                        .saturating_sub(11);
                    let line = format!(
                        "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                        o.encoding_name(),
                        len,
                        o.lru,
                        idle
                    );
                    c.reply.simple(&line);
                }
                None => c.reply.error("ERR no such key"),
            }
        }
        ("populate", 3..=5) => {
            let Some(n) = num::string2ll(a.get(2)).filter(|n| *n >= 0) else {
                return c.reply.error("ERR value is out of range, must be positive");
            };
            let prefix = if argc >= 4 {
                a.get(3).to_vec()
            } else {
                b"key".to_vec()
            };
            let size = if argc == 5 {
                match num::string2ll(a.get(4)).filter(|n| *n >= 0) {
                    Some(v) => Some(v as usize),
                    None => return c.reply.error("ERR value is out of range, must be positive"),
                }
            } else {
                None
            };
            let now = crate::server::now_ms();
            let db = &mut s.ks.dbs[c.db];
            let mut key = Vec::with_capacity(prefix.len() + 21);
            for j in 0..n {
                key.clear();
                key.extend_from_slice(&prefix);
                key.push(b':');
                key.extend_from_slice(j.to_string().as_bytes());
                key.truncate(127);
                if db.exists(&key, now) {
                    continue;
                }
                let base = format!("value:{j}");
                let val = match size {
                    None => base.into_bytes(),
                    Some(sz) => {
                        let mut v = vec![0u8; sz];
                        let k = sz.min(base.len());
                        v[..k].copy_from_slice(&base.as_bytes()[..k]);
                        v
                    }
                };
                db.add(&key, Value::Str(val.into()), now);
            }
            c.reply.ok();
        }
        ("reload", _) => {
            let (mut merge, mut flush, mut save) = (false, true, true);
            for opt in a.tail(2).iter() {
                if opt.eq_ignore_ascii_case(b"merge") {
                    merge = true;
                } else if opt.eq_ignore_ascii_case(b"noflush") {
                    flush = false;
                } else if opt.eq_ignore_ascii_case(b"nosave") {
                    save = false;
                } else {
                    return c.reply.error(
                        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                    );
                }
            }
            match crate::persist::debug_reload(s, merge, flush, save) {
                Ok(()) => c.reply.ok(),
                Err(e) => c.reply.error(&e),
            }
        }
        ("digest", 2) => {
            let mut fin = [0u8; 20];
            for (j, db) in s.ks.dbs.iter().enumerate() {
                if db.main.is_empty() {
                    continue;
                }
                mix_digest(&mut fin, &(j as u32).to_be_bytes());
                for (k, o) in db.main.iter() {
                    let mut d = [0u8; 20];
                    mix_digest(&mut d, k);
                    object_digest(&mut d, &o.value, db.expire_of(k).is_some());
                    xor_digest(&mut fin, &d);
                }
            }
            c.reply.simple(&cinnabar_util::sha1::hex(&fin));
        }
        ("digest-value", _) => {
            c.reply.array(argc - 2);
            for k in a.tail(2).iter() {
                let mut d = [0u8; 20];
                let db = &s.ks.dbs[c.db];
                if let Some(o) = db.main.get(k) {
                    object_digest(&mut d, &o.value, db.expire_of(k).is_some());
                }
                c.reply.simple(&cinnabar_util::sha1::hex(&d));
            }
        }
        ("log", 3) => {
            warning!("DEBUG LOG: {}", String::from_utf8_lossy(a.get(2)));
            c.reply.ok();
        }
        ("error", 3) => {
            let m = String::from_utf8_lossy(a.get(2)).into_owned();
            c.reply.error(&m);
        }
        ("aof-flush-sleep", 3) => {
            s.aof.flush_sleep_us = num::string2ll(a.get(2)).unwrap_or(0).max(0) as u64;
            c.reply.ok();
        }
        ("loadaof", 2) => match crate::aof::debug_loadaof(s) {
            Ok(()) => c.reply.ok(),
            Err(e) => {
                warning!("{e}");
                c.reply.error("ERR Error loading the AOF")
            }
        },
        ("pause-cron", 3) => {
            s.cron_paused = num::string2ll(a.get(2)).unwrap_or(0) != 0;
            c.reply.ok();
        }
        ("jmap", 2)
        | ("quicklist-packed-threshold", 3)
        | ("replybuffer", 4)
        | ("dict-resizing", 3) => c.reply.ok(),
        ("set-skip-checksum-validation", 3) => {
            s.ks.skip_checksum_validation = num::string2ll(a.get(2)).unwrap_or(0) != 0;
            c.reply.ok();
        }
        ("change-repl-id", 2) => {
            s.run_id = crate::server::random_hex40();
            c.reply.ok();
        }
        ("stringmatch-len", _) => {
            let m = cinnabar_util::glob::glob_match(a.get(2), a.get(3), false);
            c.reply.int(m as i64);
        }
        ("protocol", 3) => debug_protocol(c, a.get(2)),
        ("htstats", 3) => {
            let Some(i) =
                num::string2ll(a.get(2)).filter(|i| *i >= 0 && (*i as usize) < s.ks.dbs.len())
            else {
                return c.reply.error("ERR Out of range database");
            };
            let db = &s.ks.dbs[i as usize];
            let txt = format!(
                "[Dictionary HT]\nHash table 0 stats (main hash table):\n table size: {}\n number of elements: {}\n[Expires HT]\nHash table 0 stats (main hash table):\n table size: {}\n number of elements: {}\n",
                db.main.len(), db.main.len(), db.expires.len(), db.expires.len()
            );
            c.reply.verbatim(txt.as_bytes(), "txt");
        }
        ("help", _) => {
            super::help_reply(
                c,
                "DEBUG",
                &[
                    "CHANGE-REPL-ID",
                    "    Change the replication IDs of the instance.",
                    "ERROR <string>",
                    "    Return a Redis protocol error with <string> as message.",
                    "HTSTATS <dbid>",
                    "    Return hash table statistics of the specified Redis database.",
                    "LOG <message>",
                    "    Write <message> to the server log.",
                    "OBJECT <key>",
                    "    Show low level info about the <key> and associated value.",
                    "POPULATE <count> [<prefix>] [<size>]",
                    "    Create <count> string keys named key:<num>.",
                    "PROTOCOL <type>",
                    "    Reply with a test value of the specified type.",
                    "SET-ACTIVE-EXPIRE <0|1>",
                    "    Setting it to 0 disables expiring keys in background.",
                    "SLEEP <seconds>",
                    "    Stop the server for <seconds>. Decimals allowed.",
                ],
            );
        }
        _ => c.reply.error(&format!(
            "ERR unknown subcommand '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(a.get(1))
        )),
    }
}

fn debug_protocol(c: &mut Client, name: &[u8]) {
    let r = &mut c.reply;
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    match n.as_str() {
        "string" => r.bulk(b"Hello World"),
        "integer" => r.int(12345),
        "double" => r.double_str(b"3.141"),
        "bignum" => {
            let v = b"1234567999999999999999999999999999999";
            if r.resp3 {
                r.raw(b"(");
                r.raw(v);
                r.raw(b"\r\n");
            } else {
                r.bulk(v);
            }
        }
        "null" => r.null(),
        "array" => {
            r.array(3);
            (0..3).for_each(|j| r.int(j));
        }
        "set" => {
            r.set(3);
            (0..3).for_each(|j| r.int(j));
        }
        "map" => {
            r.map(3);
            for j in 0..3 {
                r.int(j);
                r.boolean(j == 1);
            }
        }
        "attrib" => {
            if r.resp3 {
                r.raw(b"|1\r\n");
                r.bulk(b"key-popularity");
                r.array(2);
                r.bulk(b"key:123");
                r.int(90);
            }
            r.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !r.resp3 {
                return r.error("ERR RESP2 is not supported by this command");
            }
            r.push(2);
            r.bulk(b"server-cpu-usage");
            r.int(42);
            r.bulk(b"Some real reply following the push reply");
        }
        "true" => r.boolean(true),
        "false" => r.boolean(false),
        "verbatim" => r.verbatim(b"This is a verbatim\nstring", "txt"),
        _ => r.error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
pub fn shutdown(s: &mut Server, c: &mut Client, a: Args) {
    let mut req = ShutdownRequest::default();
    let mut abort = false;
    for opt in a.tail(1).iter() {
        if eq_ic(opt, "nosave") {
            req.nosave = true;
        } else if eq_ic(opt, "save") {
            req.save = true;
        } else if eq_ic(opt, "now") {
            req.now = true;
        } else if eq_ic(opt, "force") {
            req.force = true;
        } else if eq_ic(opt, "abort") {
            abort = true;
        } else {
            return c.reply.error(SYNTAX);
        }
    }
    if (abort && a.len() != 2) || (req.nosave && req.save) {
        return c.reply.error(SYNTAX);
    }
    if abort {
        return if crate::shutdown::abort(s) {
            c.reply.ok()
        } else {
            c.reply.error("ERR No shutdown in progress.")
        };
    }
    let slot = Rc::new(crate::blocking::Slot::default());
    match crate::shutdown::request(s, req, Some(slot.clone())) {
        // Redis does not reply on success: the connection just closes.
        crate::shutdown::Outcome::Exit => c.close_after_reply = true,
        crate::shutdown::Outcome::Waiting => c.block_slot = Some(slot),
        crate::shutdown::Outcome::Failed => {
            c.reply.error("ERR Errors trying to SHUTDOWN. Check logs.")
        }
    }
}

/// Redis's digest primitives (DEBUG DIGEST): xor in the SHA-1 of `b` ...
fn xor_digest(d: &mut [u8; 20], b: &[u8]) {
    let h = cinnabar_util::sha1::sha1(b);
    for (x, y) in d.iter_mut().zip(h) {
        *x ^= y;
    }
}

/// ... or xor it in and hash the result (order matters).
fn mix_digest(d: &mut [u8; 20], b: &[u8]) {
    xor_digest(d, b);
    *d = cinnabar_util::sha1::sha1(&d[..]);
}

/// A value's digest as Redis computes it: its type, then its content (lists in order; set,
/// zset and hash elements xored so their order does not matter), then whether it expires.
fn object_digest(d: &mut [u8; 20], v: &Value, expires: bool) {
    let ty: u32 = match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    };
    mix_digest(d, &ty.to_be_bytes());
    match v {
        Value::Str(x) => mix_digest(d, x),
        Value::List(l) => {
            for e in l.iter() {
                mix_digest(d, e);
            }
        }
        Value::Set(st) => {
            for m in st.iter() {
                m.with_bytes(|b| xor_digest(d, b));
            }
        }
        Value::ZSet(z) => z.for_each(|m, score| {
            let mut e = [0u8; 20];
            mix_digest(&mut e, m);
            mix_digest(&mut e, num::fmt_g17(score).as_bytes());
            xor_digest(d, &e);
        }),
        Value::Hash(h) => {
            for (f, val) in h.iter() {
                let mut e = [0u8; 20];
                mix_digest(&mut e, f);
                mix_digest(&mut e, val);
                xor_digest(d, &e);
            }
        }
        Value::Stream(st) => {
            use cinnabar_keyspace::types::stream::StreamId;
            st.range(StreamId::MIN, StreamId::MAX, false, &mut |e| {
                mix_digest(d, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                for (f, v) in &e.fields {
                    mix_digest(d, &f.to_vec());
                    mix_digest(d, &v.to_vec());
                }
                true
            });
        }
    }
    if expires {
        xor_digest(d, b"!!expire!!");
    }
}
