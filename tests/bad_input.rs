//! Malformed and hostile protocol input: the server answers with Redis's exact protocol error,
//! closes that connection, keeps serving everyone else, and does not allocate memory for sizes a
//! client merely announced.
//!
//! Runs against `cinnabar_bin()`; set `CINNABAR_SERVER_BIN=/usr/bin/redis-server` to check the
//! expectations themselves against real Redis. The error texts below were taken from
//! redis-server 7.0.15.

use cinnabar_testkit::{cinnabar_bin, escape, Conn, Server};
use std::time::{Duration, Instant};

fn start(args: &[&str]) -> Server {
    Server::start(&cinnabar_bin(), args)
}

/// The server still accepts and serves a new connection.
fn still_serves(s: &Server) {
    s.assert_alive();
    let mut c = s.conn();
    c.set_read_timeout(Duration::from_secs(5));
    let r = c.try_cmd(&["PING"]).unwrap_or_else(|e| panic!("PING: {e}"));
    assert!(
        r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH"),
        "PING on a new connection: {}",
        escape(&r)
    );
}

/// Sends `input`, expects exactly `reply` and then the server closing the connection.
fn error_and_close(s: &Server, input: &[u8], reply: &[u8]) {
    let mut c = s.conn();
    // The server may close before it has read everything: a failed write is fine.
    let _ = c.try_send_raw(input);
    let got = c.read_until_close(Duration::from_secs(5));
    assert_eq!(
        escape(&got),
        escape(reply),
        "reply to {}",
        escape(&input[..input.len().min(60)])
    );
    assert!(
        c.is_closed(),
        "connection must be closed after {}",
        escape(reply)
    );
    still_serves(s);
}

/// Sends `input`, expects exactly `reply` (may be empty) and the connection to stay open.
fn reply_and_stay_open(s: &Server, input: &[u8], reply: &[u8]) {
    let mut c = s.conn();
    c.send_raw(input);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    c.set_read_timeout(Duration::from_millis(300));
    while got.len() < reply.len() && Instant::now() < deadline {
        match c.read_reply_raw() {
            Ok(r) => got.extend_from_slice(&r),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("after {}: {e}", escape(input)),
        }
    }
    assert_eq!(escape(&got), escape(reply), "reply to {}", escape(input));
    assert!(
        !c.wait_closed(Duration::from_millis(200)),
        "connection must stay open after {}",
        escape(input)
    );
    assert!(
        c.pending().is_empty(),
        "unexpected extra bytes: {}",
        escape(c.pending())
    );
    still_serves(s);
}

#[test]
fn multibulk_and_bulk_headers() {
    let s = start(&[]);
    let invalid_mbulk = b"-ERR Protocol error: invalid multibulk length\r\n";
    let invalid_bulk = b"-ERR Protocol error: invalid bulk length\r\n";
    error_and_close(&s, b"*3000000000\r\n", invalid_mbulk);
    error_and_close(&s, b"*2147483648\r\n", invalid_mbulk);
    error_and_close(&s, b"*abc\r\n", invalid_mbulk);
    error_and_close(&s, b"*+1\r\n", invalid_mbulk);
    error_and_close(&s, b"* 1\r\n", invalid_mbulk);
    error_and_close(&s, b"*1\r\n$-10\r\n", invalid_bulk);
    error_and_close(&s, b"*1\r\n$-1\r\n", invalid_bulk);
    error_and_close(&s, b"*1\r\n$abc\r\n", invalid_bulk);
    error_and_close(&s, b"*1\r\n$+5\r\nhello\r\n", invalid_bulk);
    error_and_close(&s, b"*1\r\n$ 4\r\nPING\r\n", invalid_bulk);
    error_and_close(&s, b"*1\r\n$600000000\r\n", invalid_bulk);
    // One past the default proto-max-bulk-len (512mb).
    error_and_close(&s, b"*1\r\n$536870913\r\n", invalid_bulk);
    error_and_close(
        &s,
        b"*1\r\nx3\r\n",
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
    );
    error_and_close(
        &s,
        b"*2\r\n$4\r\nPING\r\n:1\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    );
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', 70_000));
    error_and_close(
        &s,
        &long_count,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
    let mut long_len = b"*1\r\n$".to_vec();
    long_len.extend(std::iter::repeat_n(b'1', 70_000));
    error_and_close(
        &s,
        &long_len,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
    // Commands before the bad one are answered first.
    error_and_close(
        &s,
        b"PING\r\n*1\r\n$4\r\nPING\r\n*-5\r\n*x\r\n",
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
    );
}

#[test]
fn announced_but_unsent_sizes_are_accepted_and_wait() {
    let s = start(&[]);
    // Legal headers whose payload never comes: no reply, connection stays open.
    reply_and_stay_open(&s, b"*1048576\r\n", b"");
    reply_and_stay_open(&s, b"*2147483647\r\n", b"");
    reply_and_stay_open(&s, b"*-2\r\nPING\r\n", b"+PONG\r\n");
    reply_and_stay_open(&s, b"*1\r\n$536870912\r\n", b"");
    reply_and_stay_open(&s, b"*1\r\n$4\r\nPI", b"");
    // Empty and null multibulks are skipped; blank inline lines too.
    reply_and_stay_open(&s, b"*-1\r\n*0\r\n\r\n\r\nPING\r\n", b"+PONG\r\n");
    // An empty command name is an unknown command, not a protocol error.
    reply_and_stay_open(
        &s,
        b"*1\r\n$0\r\n\r\n",
        b"-ERR unknown command '', with args beginning with: \r\n",
    );
}

#[test]
fn proto_max_bulk_len_is_honoured() {
    let s = start(&["--proto-max-bulk-len", "1mb"]);
    error_and_close(
        &s,
        b"*1\r\n$1048577\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    reply_and_stay_open(&s, b"*1\r\n$1048576\r\n", b"");
    // A full 1 MiB argument goes through.
    let mut c = s.conn();
    let big = vec![b'x'; 1 << 20];
    assert_eq!(c.cmd(&[&b"SET"[..], b"big", &big]), b"+OK\r\n");
    assert_eq!(c.cmd(&["STRLEN", "big"]), b":1048576\r\n");
}

#[test]
fn inline_protocol_errors() {
    let s = start(&[]);
    let too_big = b"-ERR Protocol error: too big inline request\r\n";
    error_and_close(&s, &vec![b'a'; 70 * 1024], too_big);
    let unbalanced = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    error_and_close(&s, b"set \"foo bar\r\n", unbalanced);
    error_and_close(&s, b"set 'a\r\n", unbalanced);
    error_and_close(&s, b"set \"a\"b\r\n", unbalanced);
    error_and_close(
        &s,
        b"PING\r\nset 'a'b\r\n",
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn binary_garbage() {
    let s = start(&[]);
    reply_and_stay_open(
        &s,
        b"\x01\x02\r\n",
        b"-ERR unknown command '\x01\x02', with args beginning with: \r\n",
    );
    reply_and_stay_open(
        &s,
        b"\xff\xfe garbage\r\n",
        b"-ERR unknown command '\xff\xfe', with args beginning with: 'garbage' \r\n",
    );
    // Pseudo-random bytes (fixed seed) on several connections at once: whatever the server
    // replies, it must survive and keep serving others.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut conns: Vec<Conn> = (0..8).map(|_| s.conn()).collect();
    for round in 0..64 {
        for c in conns.iter_mut() {
            let chunk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Bias towards protocol characters so the parser goes deep.
                    match x % 16 {
                        0 => b'*',
                        1 => b'$',
                        2 => b'\r',
                        3 => b'\n',
                        4 => b'"',
                        5..=7 => b'0' + (x >> 8) as u8 % 10,
                        _ => (x >> 16) as u8,
                    }
                })
                .collect();
            let _ = c.try_send_raw(&chunk);
        }
        if round % 16 == 0 {
            still_serves(&s);
        }
    }
    drop(conns);
    still_serves(&s);
}

#[test]
fn unauthenticated_limits() {
    let s = start(&["--requirepass", "secret"]);
    let mbulk = b"-ERR Protocol error: unauthenticated multibulk length\r\n";
    let bulk = b"-ERR Protocol error: unauthenticated bulk length\r\n";
    error_and_close(&s, b"*20\r\n", mbulk);
    error_and_close(&s, b"*11\r\n", mbulk);
    error_and_close(&s, b"*1\r\n$100000\r\n", bulk);
    error_and_close(&s, b"*1\r\n$16385\r\n", bulk);
    error_and_close(&s, b"*2\r\n$3\r\nGET\r\n$100000\r\n", bulk);
    // At the limits: accepted, waiting for the rest.
    reply_and_stay_open(&s, b"*10\r\n", b"");
    reply_and_stay_open(&s, b"*1\r\n$16384\r\n", b"");
    reply_and_stay_open(&s, b"PING\r\n", b"-NOAUTH Authentication required.\r\n");
    // Authenticated clients have the normal limits.
    let mut c = s.conn();
    assert_eq!(c.cmd(&["AUTH", "secret"]), b"+OK\r\n");
    let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..20 {
        mset.push(format!("k{i}").into_bytes());
        mset.push(vec![b'v'; 100_000]);
    }
    assert_eq!(c.cmd(&mset), b"+OK\r\n");
    assert_eq!(c.cmd(&["STRLEN", "k19"]), b":100000\r\n");
}

#[test]
fn split_delivery_byte_by_byte() {
    let s = start(&[]);
    let mut c = s.conn();
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET k\r\n";
    for b in input.iter() {
        c.send_raw(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.read_reply_raw().expect("SET"), b"+OK\r\n");
    assert_eq!(c.read_reply_raw().expect("GET"), b"$5\r\nhello\r\n");
}

fn used_memory(c: &mut Conn) -> Option<i64> {
    c.info_field("used_memory")?.parse().ok()
}

/// Waits until INFO reports at least `n` connected clients.
fn wait_clients(c: &mut Conn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: usize = c
            .info_field("connected_clients")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if now >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {now} of {n} clients connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn announced_sizes_are_not_preallocated() {
    const CLIENTS: usize = 100;
    const LIMIT: i64 = 64 << 20;
    let s = start(&["--maxclients", "1000"]);
    let mut probe = s.conn();
    // Warm up so the baseline includes the allocator's first arenas.
    assert_eq!(probe.cmd(&["SET", "warm", "up"]), b"+OK\r\n");
    let rss0 = s.rss_bytes().expect("VmRSS") as i64;
    let used0 = used_memory(&mut probe);

    let mut idle: Vec<Conn> = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut c = s.conn();
        c.send_raw(b"*1048576\r\n");
        idle.push(c);
    }
    wait_clients(&mut probe, CLIENTS + 1);
    // Let the server read every header (a PING on each connection would be read after it).
    std::thread::sleep(Duration::from_millis(300));
    let rss1 = s.rss_bytes().expect("VmRSS") as i64;
    let used1 = used_memory(&mut probe);
    still_serves(&s);
    println!(
        "{CLIENTS} x *1048576: RSS +{} KiB, used_memory +{:?} KiB",
        (rss1 - rss0) / 1024,
        used0.zip(used1).map(|(a, b)| (b - a) / 1024)
    );
    assert!(
        rss1 - rss0 < LIMIT,
        "{CLIENTS} clients announcing *1048576 grew RSS by {} bytes",
        rss1 - rss0
    );
    if let (Some(a), Some(b)) = (used0, used1) {
        assert!(
            b - a < LIMIT,
            "{CLIENTS} clients announcing *1048576 grew used_memory by {} bytes",
            b - a
        );
    }

    // Same with a full-size multibulk whose arguments announce big bulks and never send them.
    let mut more: Vec<Conn> = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut c = s.conn();
        c.send_raw(b"*2\r\n$3\r\nSET\r\n$536870912\r\nabc");
        more.push(c);
    }
    wait_clients(&mut probe, 2 * CLIENTS + 1);
    std::thread::sleep(Duration::from_millis(300));
    let rss2 = s.rss_bytes().expect("VmRSS") as i64;
    still_serves(&s);
    println!("+{CLIENTS} x $536870912: RSS +{} KiB", (rss2 - rss0) / 1024);
    assert!(
        rss2 - rss0 < LIMIT,
        "{CLIENTS} clients announcing $536870912 grew RSS by {} bytes",
        rss2 - rss0
    );
    drop(idle);
    drop(more);
    still_serves(&s);
}
