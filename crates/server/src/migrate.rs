//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
//! [KEYS key ...], as Redis does it: synchronously (the engine waits for the target, at most
//! `timeout` ms per step), over a connection cached per target for 10 seconds, one RESTORE per
//! key with its remaining TTL, the acknowledged keys deleted locally (unless COPY) and
//! propagated as one DEL.

use crate::client::Client;
use crate::server::{now_ms, Server};
use cinnabar_resp::Args;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Idle cached connections are closed after this long (Redis's MIGRATE_SOCKET_CACHE_TTL).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// At most this many cached connections (Redis's MIGRATE_SOCKET_CACHE_ITEMS).
const CACHE_ITEMS: usize = 64;

/// A cached connection to a MIGRATE target.
pub struct Cached {
    stream: TcpStream,
    last_db: Option<i64>,
    last_use: Instant,
}

/// Closes cached connections idle for more than 10 seconds (from the cron).
pub fn cron(s: &mut Server) {
    s.migrate_cache
        .retain(|_, c| c.last_use.elapsed() <= CACHE_TTL);
}

fn read_line(stream: &mut TcpStream, deadline: Instant) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut b) {
            Ok(1) => {
                if b[0] == b'\n' {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                if line.len() >= 1024 {
                    return None;
                }
                line.push(b[0]);
            }
            _ => return None,
        }
    }
}

fn connect(host: &str, port: &str, timeout: Duration) -> Option<TcpStream> {
    let addr = format!("{host}:{port}").to_socket_addrs().ok()?.next()?;
    let st = TcpStream::connect_timeout(&addr, timeout).ok()?;
    let _ = st.set_nodelay(true);
    Some(st)
}

/// MIGRATE.
pub fn migrate(s: &mut Server, c: &mut Client, a: Args) {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<Vec<u8>>, Vec<u8>)> = None;
    let mut first_key = 3usize;
    let mut num_keys = 1usize;
    let mut j = 6;
    while j < a.len() {
        let opt = a.get(j);
        let more = a.len() - j - 1;
        if opt.eq_ignore_ascii_case(b"copy") {
            copy = true;
        } else if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"auth") {
            if more < 1 {
                return c.reply.error("ERR syntax error");
            }
            j += 1;
            auth = Some((None, a.get(j).to_vec()));
        } else if opt.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return c.reply.error("ERR syntax error");
            }
            auth = Some((Some(a.get(j + 1).to_vec()), a.get(j + 2).to_vec()));
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"keys") {
            if !a.get(3).is_empty() {
                return c.reply.error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
            }
            first_key = j + 1;
            num_keys = a.len() - j - 1;
            break;
        } else {
            return c.reply.error("ERR syntax error");
        }
        j += 1;
    }
    let (Some(timeout), Some(dbid)) = (
        cinnabar_util::num::string2ll(a.get(5)),
        cinnabar_util::num::string2ll(a.get(4)),
    ) else {
        return c.reply.error("ERR value is not an integer or out of range");
    };
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // The keys that exist, with their payload and remaining TTL.
    let now = now_ms();
    let opts = cinnabar_rdb::EncodeOpts {
        compress: s.settings.rdbcompression,
    };
    let limits = s.settings.limits;
    let mut keys: Vec<(Vec<u8>, Vec<u8>, i64)> = Vec::new();
    for i in first_key..first_key + num_keys {
        let k = a.get(i);
        let db = &mut s.ks.dbs[c.db];
        let Some(v) = db.peek(k, now) else {
            continue;
        };
        let payload = cinnabar_rdb::dump_payload(v, &limits, &opts);
        let ttl = db.expire_of(k).map_or(0, |w| (w - now).max(1));
        keys.push((k.to_vec(), payload, ttl));
    }
    if keys.is_empty() {
        return c.reply.simple("NOKEY");
    }
    let host = String::from_utf8_lossy(a.get(1)).into_owned();
    let port = String::from_utf8_lossy(a.get(2)).into_owned();
    let name = format!("{host}:{port}");
    let mut cached = match s.migrate_cache.remove(&name) {
        Some(cc) => cc,
        None => {
            if s.migrate_cache.len() >= CACHE_ITEMS {
                // Make room: drop one at random (the first), as Redis.
                if let Some(k) = s.migrate_cache.keys().next().cloned() {
                    s.migrate_cache.remove(&k);
                }
            }
            match connect(&host, &port, timeout) {
                Some(st) => Cached {
                    stream: st,
                    last_db: None,
                    last_use: Instant::now(),
                },
                None => {
                    return c
                        .reply
                        .error("IOERR error or timeout connecting to the client")
                }
            }
        }
    };
    // Build the whole exchange and send it at once.
    let mut out = Vec::new();
    if let Some((user, pass)) = &auth {
        match user {
            Some(u) => crate::persist::encode_cmd(&mut out, &[b"AUTH", u, pass]),
            None => crate::persist::encode_cmd(&mut out, &[b"AUTH", pass]),
        }
    }
    let select = cached.last_db != Some(dbid);
    if select {
        let d = dbid.to_string();
        crate::persist::encode_cmd(&mut out, &[b"SELECT", d.as_bytes()]);
    }
    for (k, payload, ttl) in &keys {
        let t = ttl.to_string();
        if replace {
            crate::persist::encode_cmd(
                &mut out,
                &[b"RESTORE", k, t.as_bytes(), payload, b"REPLACE"],
            );
        } else {
            crate::persist::encode_cmd(&mut out, &[b"RESTORE", k, t.as_bytes(), payload]);
        }
    }
    let deadline = Instant::now() + timeout;
    let _ = cached.stream.set_write_timeout(Some(timeout));
    if cached.stream.write_all(&out).is_err() {
        return c
            .reply
            .error("IOERR error or timeout writing to target instance");
    }
    // The replies to AUTH and SELECT, when they were sent: Err when one cannot be read.
    let mut reply_to = |sent: bool| -> Result<Option<String>, ()> {
        if sent {
            read_line(&mut cached.stream, deadline).map(Some).ok_or(())
        } else {
            Ok(None)
        }
    };
    let replies = reply_to(auth.is_some()).and_then(|a| Ok((a, reply_to(select)?)));
    let Ok((auth_reply, select_reply)) = replies else {
        return c
            .reply
            .error("IOERR error or timeout reading to target instance");
    };
    let mut error: Option<String> = None;
    let mut deleted: Vec<Vec<u8>> = Vec::new();
    let mut socket_error = false;
    for (k, _, _) in &keys {
        let Some(line) = read_line(&mut cached.stream, deadline) else {
            socket_error = true;
            break;
        };
        let failed = [
            auth_reply.as_deref(),
            select_reply.as_deref(),
            Some(line.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|l| l.starts_with('-'));
        if let Some(e) = failed {
            if error.is_none() {
                error = Some(e[1..].to_string());
            }
        } else if !copy {
            s.ks.dbs[c.db].take(k);
            s.ks.notify(c.db, cinnabar_keyspace::notify::GENERIC, "del", k);
            s.dirty += 1;
            deleted.push(k.clone());
        }
    }
    if !deleted.is_empty() && s.prop.enabled {
        let mut argv = vec![b"DEL".to_vec()];
        argv.extend(deleted.iter().cloned());
        s.prop.add(c.db, argv);
    }
    if socket_error {
        // The connection is in an unknown state: not cached again.
        return c
            .reply
            .error("IOERR error or timeout reading to target instance");
    }
    cached.last_db = if error.is_some() { None } else { Some(dbid) };
    cached.last_use = Instant::now();
    s.migrate_cache.insert(name, cached);
    match error {
        Some(e) => c
            .reply
            .error(&format!("ERR Target instance replied with error: {e}")),
        None => c.reply.ok(),
    }
}
