//! Client-side caching (CLIENT TRACKING), differential: each scenario drives several named
//! connections against the reference redis-server and against Cinnabar, recording every reply
//! and every push/message a connection reads, as raw bytes; the two transcripts must be
//! identical. Client ids differ between the servers, so in the replies that show them
//! (GETREDIR, TRACKINGINFO, `tracking-redir-broken`) they are written as `<id:x>`.
//!
//! Script lines: `x> CMD args` sends on connection `x` and records its reply; `x<` records one
//! more frame (a push or a redirected message); `@sleep ms`. `$x` in a command is connection
//! `x`'s client id. Every connection ends with a PING, so a stray frame shows up too.

use cinnabar_testkit::{cinnabar_bin, escape, redis_bin, require_redis, split_args, Conn, Server};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn run(bin: &Path, script: &str) -> Vec<String> {
    let srv = Server::start(bin, &["--enable-debug-command", "yes"]);
    let mut conns: BTreeMap<String, (Conn, i64)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut ids: Vec<(String, String)> = Vec::new();
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("@sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(100)));
            continue;
        }
        let (name, rest, send) = match (line.find('>'), line.find('<')) {
            (Some(i), _) => (&line[..i], line[i + 1..].trim(), true),
            (None, Some(i)) => (&line[..i], "", false),
            _ => panic!("bad line {line}"),
        };
        if !conns.contains_key(name) {
            let mut c = srv.conn();
            c.set_read_timeout(Duration::from_secs(5));
            let id = c.call(&["CLIENT", "ID"]).as_int().unwrap_or(-1);
            ids.push((id.to_string(), format!("<id:{name}>")));
            conns.insert(name.to_string(), (c, id));
        }
        let raw = if send {
            let mut args = split_args(rest).unwrap_or_else(|e| panic!("{line}: {e}"));
            for a in args.iter_mut() {
                if let Some(other) = a.strip_prefix(b"$") {
                    let other = String::from_utf8_lossy(other).to_string();
                    if let Some((_, id)) = conns.get(&other) {
                        *a = id.to_string().into_bytes();
                    }
                }
            }
            let Some((c, _)) = conns.get_mut(name) else {
                continue;
            };
            c.try_cmd(&args)
        } else {
            let Some((c, _)) = conns.get_mut(name) else {
                continue;
            };
            c.read_reply_raw()
        };
        let text = match raw {
            Ok(r) => escape(&r),
            Err(e) => format!("<{:?}>", e.kind()),
        };
        out.push(format!("{line} => {text}"));
    }
    for (name, (c, _)) in conns.iter_mut() {
        if c.is_closed() {
            continue;
        }
        let text = match c.try_cmd(&["PING"]) {
            Ok(r) => escape(&r),
            Err(e) => format!("<{:?}>", e.kind()),
        };
        out.push(format!("{name} final PING => {text}"));
    }
    // Ids as placeholders (longest first, so 12 is not rewritten inside 123).
    ids.sort_by_key(|(id, _)| std::cmp::Reverse(id.len()));
    for entry in out.iter_mut() {
        // HELLO's map shows the connection's own id.
        if let Some(i) = entry.find("$2\\r\\nid\\r\\n:") {
            let start = i + "$2\\r\\nid\\r\\n:".len();
            let end = start + entry[start..].find('\\').unwrap_or(0);
            entry.replace_range(start..end, "<id>");
        }
        let has_id = ["GETREDIR", "TRACKINGINFO", "tracking-redir-broken"]
            .iter()
            .any(|w| entry.contains(w));
        if !has_id {
            continue;
        }
        for (id, ph) in &ids {
            for pat in [
                format!(":{id}\\r\\n"),
                format!("${}\\r\\n{id}\\r\\n", id.len()),
            ] {
                let rep = pat.replace(id.as_str(), ph);
                *entry = entry.replace(&pat, &rep);
            }
        }
    }
    out
}

fn compare(script: &str) {
    let want = run(&redis_bin(), script);
    let got = run(&cinnabar_bin(), script);
    if want != got {
        let n = want.iter().zip(&got).take_while(|(a, b)| a == b).count();
        panic!(
            "transcripts differ at line {n}\nredis:    {:#?}\ncinnabar: {:#?}",
            &want[n..want.len().min(n + 4)],
            &got[n..got.len().min(n + 4)]
        );
    }
}

#[test]
fn resp3_default_mode() {
    require_redis!();
    compare(
        r#"
        t> HELLO 3
        t> CLIENT TRACKING on
        w> SET k 1
        t> GET k
        w> SET k 2
        t<
        # Forgotten after one invalidation.
        w> SET k 3
        t> MGET a b k
        w> MSET a 1 b 2
        t<
        t<
        # A write that changes nothing invalidates nothing.
        w> SET k 3 NX
        w> DEL k
        t<
        # Own writes: the push follows the reply.
        t> GET x
        t> SET x 1
        t<
        t> HSET h f 1
        t> HGET h f
        t> HDEL h f
        t<
        # Inside MULTI: after EXEC's reply.
        t> GET a
        t> MULTI
        t> INCR a
        t> GET b
        t> EXEC
        t<
        t> CLIENT TRACKINGINFO
        t> CLIENT GETREDIR
        w> CLIENT TRACKINGINFO
        w> CLIENT GETREDIR
        "#,
    );
}

#[test]
fn resp2_redirect_and_broken_redirect() {
    require_redis!();
    compare(
        r#"
        r> SUBSCRIBE __redis__:invalidate
        t> CLIENT TRACKING on REDIRECT $r
        w> SET k 1
        t> GET k
        w> INCR k
        r<
        t> CLIENT GETREDIR
        t> CLIENT TRACKINGINFO
        # FLUSHALL: "everything" is a null.
        t> GET k
        w> FLUSHALL
        r<
        t> CLIENT TRACKING off
        g> HELLO 3
        u> HELLO 3
        u> CLIENT TRACKING on REDIRECT $g
        u> GET z
        g> QUIT
        w> SET z 1
        u<
        u> CLIENT TRACKINGINFO
        "#,
    );
}

#[test]
fn bcast_prefixes_noloop_and_errors() {
    require_redis!();
    compare(
        r#"
        t> HELLO 3
        t> CLIENT TRACKING on BCAST PREFIX a: PREFIX b: NOLOOP
        w> MULTI
        w> INCR a:1
        w> INCR b:1
        w> INCR c:1
        w> EXEC
        t<
        t<
        t> SET a:2 x
        w> SET a:3 x
        t<
        t> CLIENT TRACKINGINFO
        t> CLIENT TRACKING on BCAST PREFIX a
        t> CLIENT TRACKING on BCAST PREFIX c: PREFIX c:x
        t> CLIENT TRACKING on BCAST PREFIX c:
        t> CLIENT TRACKING on
        t> CLIENT TRACKING on BCAST OPTIN
        t> CLIENT TRACKINGINFO
        e> CLIENT TRACKING on PREFIX x
        e> CLIENT TRACKING on OPTIN OPTOUT
        e> CLIENT TRACKING on REDIRECT 999999
        e> CLIENT TRACKING on REDIRECT abc
        e> CLIENT TRACKING on REDIRECT $w REDIRECT $w
        e> CLIENT TRACKING maybe
        e> CLIENT TRACKING on FOO
        e> CLIENT CACHING yes
        e> CLIENT TRACKING on OPTIN
        e> CLIENT CACHING no
        e> CLIENT CACHING maybe
        e> CLIENT TRACKING on OPTOUT
        e> CLIENT TRACKING off
        e> CLIENT TRACKINGINFO
        "#,
    );
}

#[test]
fn optin_optout_and_expiry() {
    require_redis!();
    compare(
        r#"
        t> HELLO 3
        t> CLIENT TRACKING on OPTIN
        t> GET k1
        w> SET k1 1
        t> CLIENT CACHING yes
        t> GET k2
        t> GET k3
        w> SET k3 1
        w> SET k2 1
        t<
        t> CLIENT TRACKING off
        t> CLIENT TRACKING on OPTOUT
        t> CLIENT CACHING no
        t> GET k4
        t> GET k5
        w> MSET k4 1 k5 1
        t<
        # Active expiry.
        w> SET e v PX 50
        t> GET e
        @sleep 400
        t<
        t> CLIENT TRACKING off
        t> RESET
        t> CLIENT TRACKINGINFO
        "#,
    );
}

/// INFO's tracking fields and CLIENT LIST's flags.
#[test]
fn info_and_client_list() {
    let srv = Server::cinnabar(&[]);
    let mut t = srv.conn();
    let mut b = srv.conn();
    let mut w = srv.conn();
    t.call(&["CLIENT", "TRACKING", "on"]);
    t.call(&["MGET", "a", "b"]);
    b.call(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x"]);
    assert_eq!(w.info_field("tracking_clients").as_deref(), Some("2"));
    assert_eq!(w.info_field("tracking_total_keys").as_deref(), Some("2"));
    assert_eq!(w.info_field("tracking_total_items").as_deref(), Some("2"));
    assert_eq!(
        w.info_field("tracking_total_prefixes").as_deref(),
        Some("1")
    );
    let list = w.call(&["CLIENT", "LIST"]).as_str().unwrap_or_default();
    assert!(list.contains("flags=t "), "{list}");
    assert!(list.contains("flags=tB "), "{list}");
    // The table limit drops entries.
    w.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]);
    w.call(&["PING"]);
    assert_eq!(w.info_field("tracking_total_keys").as_deref(), Some("1"));
    t.call(&["CLIENT", "TRACKING", "off"]);
    b.call(&["RESET"]);
    assert_eq!(w.info_field("tracking_clients").as_deref(), Some("0"));
    assert_eq!(
        w.info_field("tracking_total_prefixes").as_deref(),
        Some("0")
    );
}

/// LATENCY: the monitor records slow commands past the threshold.
#[test]
fn latency_monitor_records_slow_commands() {
    let srv = Server::cinnabar(&["--enable-debug-command", "yes"]);
    let mut c = srv.conn();
    c.set_read_timeout(Duration::from_secs(5));
    assert_eq!(
        c.call(&["LATENCY", "LATEST"]).as_array().map(|a| a.len()),
        Some(0)
    );
    c.call(&["CONFIG", "SET", "latency-monitor-threshold", "50"]);
    c.call(&["DEBUG", "SLEEP", "0.1"]);
    let latest = c.call(&["LATENCY", "LATEST"]);
    let ev = latest.as_array().and_then(|a| a.first()).cloned();
    let ev = ev.and_then(|e| e.as_array().map(|x| x.to_vec()));
    let ev = ev.unwrap_or_default();
    assert_eq!(
        ev.first().and_then(|x| x.as_str()).as_deref(),
        Some("command")
    );
    assert!(ev.get(2).and_then(|x| x.as_int()).unwrap_or(0) >= 100);
    assert_eq!(
        c.call(&["LATENCY", "HISTORY", "command"])
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    assert!(!c.call(&["LATENCY", "GRAPH", "command"]).is_error());
    assert!(c.call(&["LATENCY", "GRAPH", "nope"]).is_error());
    assert!(!c.call(&["LATENCY", "DOCTOR"]).is_error());
    assert_eq!(c.call(&["LATENCY", "RESET"]).as_int(), Some(1));
}

#[test]
fn scripts_blocked_clients_flushes_and_caching_lifetime() {
    require_redis!();
    compare(
        r#"
        t> HELLO 3
        t> CLIENT TRACKING on
        # A script that reads tracks its declared keys, one that only writes does not.
        t> EVAL "redis.call('set', KEYS[1], 'x')" 2 s1 s2
        w> MSET s1 1 s2 1
        t> EVAL "return redis.call('get', 'zz')" 2 s1 s2
        w> MSET s2 2 s1 2
        t<
        t<
        # A served blocked client gets its invalidation after its reply.
        w> RPUSH dst a
        b> HELLO 3
        b> CLIENT TRACKING on
        b> LRANGE dst 0 -1
        b> CLIENT REPLY ON
        w> DEBUG SLEEP 0
        # FLUSHDB inside MULTI: a null after EXEC's reply.
        t> GET q
        t> MULTI
        t> FLUSHDB
        t> EXEC
        t<
        # SWAPDB invalidates nothing in Redis 7.0.
        t> GET q
        w> SWAPDB 0 1
        t> PING
        # Lazy expiry seen by a BCAST NOLOOP client's own transaction.
        n> HELLO 3
        n> CLIENT TRACKING on BCAST NOLOOP
        n> MULTI
        n> SET mykey v PX 1
        n> SET other v
        n> DEBUG SLEEP 0.05
        n> GET mykey
        n> EXEC
        n<
        # CACHING yes lasts for a whole transaction.
        o> HELLO 3
        o> CLIENT TRACKING on OPTIN
        o> CLIENT CACHING yes
        o> MULTI
        o> GET c1
        o> GET c2
        o> EXEC
        o> GET c3
        w> MSET c3 1 c2 1 c1 1
        o<
        o<
        # A RESP2 client without redirect gets nothing; a RESP3 redirect target does.
        p> CLIENT TRACKING on
        p> GET r1
        x> HELLO 3
        y> CLIENT TRACKING on REDIRECT $x
        y> GET r1
        w> SET r1 1
        x<
        "#,
    );
}

#[test]
fn blmove_served_then_invalidated() {
    require_redis!();
    // The blocked command is sent without waiting for its reply.
    for bin in [redis_bin(), cinnabar_bin()] {
        let srv = Server::start(&bin, &[]);
        let mut w = srv.conn();
        let mut b = srv.conn();
        b.set_read_timeout(Duration::from_secs(5));
        w.call(&["RPUSH", "list2", "a"]);
        b.call(&["HELLO", "3"]);
        b.call(&["CLIENT", "TRACKING", "on"]);
        b.call(&["LRANGE", "list2", "0", "-1"]);
        b.send_cmd(&["BLMOVE", "list1", "list2", "left", "left", "0"]);
        std::thread::sleep(Duration::from_millis(100));
        w.call(&["RPUSH", "list1", "foo"]);
        let first = b.read_reply_raw().map(|r| escape(&r));
        let second = b.read_reply_raw().map(|r| escape(&r));
        assert_eq!(first.ok().as_deref(), Some("$3\\r\\nfoo\\r\\n"), "{bin:?}");
        assert_eq!(
            second.ok().as_deref(),
            Some(">2\\r\\n$10\\r\\ninvalidate\\r\\n*1\\r\\n$5\\r\\nlist2\\r\\n"),
            "{bin:?}"
        );
    }
}

#[test]
fn eviction_invalidation_precedes_the_reply() {
    require_redis!();
    for bin in [redis_bin(), cinnabar_bin()] {
        let srv = Server::start(&bin, &[]);
        let mut t = srv.conn();
        t.set_read_timeout(Duration::from_secs(5));
        t.call(&["HELLO", "3"]);
        t.call(&["CLIENT", "TRACKING", "on"]);
        let used: u64 = t
            .info_field("used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        t.call(&[
            "CONFIG",
            "SET",
            "maxmemory",
            &(used + 100 * 1024).to_string(),
        ]);
        t.call(&["CONFIG", "SET", "maxmemory-policy", "volatile-random"]);
        t.call(&["SETEX", "volatile-key", "10000", "x"]);
        t.call(&["GET", "volatile-key"]);
        t.call(&["SETBIT", "big-key", "1600000", "0"]);
        let first = t.cmd(&["GETBIT", "big-key", "0"]);
        let second = t.read_reply_raw().map(|r| escape(&r));
        assert_eq!(
            escape(&first),
            ">2\\r\\n$10\\r\\ninvalidate\\r\\n*1\\r\\n$12\\r\\nvolatile-key\\r\\n",
            "{bin:?}"
        );
        assert_eq!(second.ok().as_deref(), Some(":0\\r\\n"), "{bin:?}");
    }
}
