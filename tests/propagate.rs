//! The propagation point, seen from outside: a connection attaches with SYNC (as Redis's own
//! test suite does), the same script of commands runs against real redis-server and against
//! Cinnabar, and the two replication streams must be the same commands — relative TTLs turned
//! absolute, blocking and random commands turned into their effects, MULTI/EXEC around units
//! of several changes, SELECT when the database changes. Absolute times are compared as
//! "<ms>" (the two servers run at different moments).
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{
    cinnabar_bin, have_redis, loud_note, parse_reply, redis_bin, Reply, Server,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A connection attached to a server's replication stream.
struct Stream {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Stream {
    fn attach(port: u16) -> Stream {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock.write_all(b"SYNC\r\n").unwrap();
        // `$<len>\r\n` (newlines before it are keep-alives), then the RDB without a CRLF.
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            sock.read_exact(&mut b).unwrap();
            if b[0] == b'\n' {
                if line.is_empty() {
                    continue;
                }
                break;
            }
            if b[0] != b'\r' {
                line.push(b[0]);
            }
        }
        let line = String::from_utf8(line).unwrap();
        assert!(line.starts_with('$'), "{line:?}");
        let mut left: usize = line[1..].parse().unwrap();
        let mut chunk = vec![0u8; 64 * 1024];
        while left > 0 {
            let n = sock.read(&mut chunk[..left.min(64 * 1024)]).unwrap();
            assert!(n > 0, "closed during the RDB payload");
            left -= n;
        }
        Stream {
            sock,
            buf: Vec::new(),
        }
    }

    /// The next propagated command, rendered as text arguments.
    fn next(&mut self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Keep-alive newlines between commands.
            while self.buf.first() == Some(&b'\n') {
                self.buf.remove(0);
            }
            if let Some((r, n)) = parse_reply(&self.buf).unwrap() {
                self.buf.drain(..n);
                return match r {
                    Reply::Array(items) => items
                        .iter()
                        .map(|i| String::from_utf8_lossy(i.as_bytes().unwrap_or(b"?")).into_owned())
                        .collect(),
                    other => panic!("not a command: {other:?}"),
                };
            }
            assert!(Instant::now() < deadline, "stream stalled");
            let mut chunk = [0u8; 16 * 1024];
            let n = self.sock.read(&mut chunk).unwrap();
            assert!(n > 0, "stream closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Absolute unix-ms times differ between runs.
fn normalize(cmd: Vec<String>) -> String {
    cmd.into_iter()
        .map(|a| match a.parse::<i64>() {
            Ok(v) if v > 1_000_000_000_000 => "<ms>".to_string(),
            _ => a,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const SCRIPT: &[&[&str]] = &[
    &["set", "s1", "v"],
    &["set", "s2", "v", "ex", "100"],
    &["set", "s3", "v", "px", "100000", "get"],
    &["set", "s4", "v", "get"],
    &["set", "s4", "w", "nx"],
    &["setex", "s5", "100", "v"],
    &["psetex", "s6", "100000", "v"],
    &["getset", "s1", "x"],
    &["incrbyfloat", "f", "1.5"],
    &["incrbyfloat", "f", "0.25"],
    &["getex", "s1", "ex", "100"],
    &["getex", "s1", "persist"],
    &["getex", "s1"],
    &["getdel", "s4"],
    &["expire", "s1", "100"],
    &["pexpire", "s1", "200000", "gt"],
    &["pexpire", "s1", "1000", "gt"],
    &["expireat", "s1", "99999999999"],
    &["pexpireat", "s1", "99999999999000"],
    &["expire", "nokey", "100"],
    &["expire", "s1", "-1"],
    &["persist", "s2"],
    &["select", "3"],
    &["rpush", "l", "a", "b", "c", "d"],
    &["lmpop", "1", "l", "left", "count", "2"],
    &["blpop", "l", "0"],
    &["rpush", "l2", "x"],
    &["blmove", "l", "l2", "right", "left", "0"],
    &["brpoplpush", "l2", "l3", "0"],
    &["hset", "h", "f", "1"],
    &["hincrbyfloat", "h", "f", "2.5"],
    &["sadd", "st", "m"],
    &["spop", "st"],
    &["sadd", "st2", "a", "b", "c"],
    &["spop", "st2", "10"],
    &["zadd", "z", "1", "a", "2", "b", "3", "c"],
    &["zmpop", "1", "z", "min", "count", "5"],
    &["zadd", "z", "1", "a", "2", "b"],
    &["bzpopmax", "z", "0"],
    &["zpopmin", "z"],
    // GEOADD goes out as the ZADD it amounts to; the STORE searches as themselves.
    &["geoadd", "g", "ch", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
    &["geoadd", "g", "nx", "13.361389", "38.115556", "Palermo"],
    &["geoadd", "g", "xx", "15", "37", "Catania", "1", "1", "x"],
    &["georadius", "g", "15", "37", "200", "km", "store", "gd"],
    &["geosearchstore", "gd2", "g", "frommember", "Palermo", "byradius", "300", "km", "storedist"],
    &["multi"],
    &["set", "m1", "1"],
    &["incr", "m1"],
    &["get", "m1"],
    &["exec"],
    &["multi"],
    &["set", "m2", "1"],
    &["exec"],
    &["set", "e", "v", "px", "1"],
    &["@sleep"],
    &["get", "e"],
    &["set", "e2", "v", "px", "1"],
    &["@sleep"],
    &["set", "e2", "again"],
    &["flushdb"],
    &["select", "0"],
    &["flushall"],
    // Scripts are replicated as their effects (one MULTI/EXEC unit when several); functions
    // as the FUNCTION commands themselves; SCRIPT LOAD not at all.
    &["eval", "redis.call('set','s1','a') redis.call('incr','s2') return 1", "0"],
    &["eval", "return redis.call('get','s1')", "0"],
    &["eval", "redis.call('set','s3','b')", "0"],
    &["eval", "redis.call('select','5') redis.call('set','s5','x') redis.call('del','s5')", "0"],
    &["script", "load", "return 1"],
    &[
        "function",
        "load",
        "#!lua name=plib\nredis.register_function('pf', function(k) return redis.call('set', k[1], 'v') end)",
    ],
    &["fcall", "pf", "1", "fk"],
    &["function", "delete", "plib"],
    &["set", "__end__", "1"],
];

fn run(bin: &std::path::Path) -> Vec<String> {
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    c.call(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]);
    let mut st = Stream::attach(srv.port());
    for cmd in SCRIPT {
        if cmd[0] == "@sleep" {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        c.call(cmd);
    }
    let mut out = Vec::new();
    loop {
        let cmd = normalize(st.next());
        let end = cmd.ends_with("__end__ 1");
        out.push(cmd);
        if end {
            break;
        }
    }
    out
}

#[test]
fn replication_stream_matches_real_redis() {
    if !have_redis() {
        loud_note("redis-server not installed: propagation not compared with real Redis");
        return;
    }
    let theirs = run(&redis_bin());
    let ours = run(&cinnabar_bin());
    for (i, (a, b)) in theirs.iter().zip(ours.iter()).enumerate() {
        assert_eq!(
            a, b,
            "command {i} of the stream differs\nredis:    {theirs:#?}\ncinnabar: {ours:#?}"
        );
    }
    assert_eq!(
        theirs.len(),
        ours.len(),
        "redis: {theirs:#?}\ncinnabar: {ours:#?}"
    );
}
