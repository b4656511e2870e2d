//! Limits across processes, each run against Cinnabar and (when installed) real redis-server
//! side by side:
//! - a subscriber that stops reading is cut off by `client-output-buffer-limit pubsub` while
//!   the publisher goes on without stalling;
//! - an infinite-loop script is stopped by SCRIPT KILL and the server serves again; a client
//!   that connects while it runs is answered -BUSY, then served normally;
//!   a script that wrote cannot be killed (UNKILLABLE) and SHUTDOWN NOSAVE ends it;
//! - `maxmemory`: noeviction refuses writes with -OOM (reads and DEL go on), allkeys-lru
//!   evicts the idle keys and keeps the recently used ones, evictions reach a replica as DELs.
//! - 1,000 connections that each announce `*1048576` arguments and then send nothing keep the
//!   server's memory bounded, and another client is served meanwhile.
//! - `client-output-buffer-limit normal`: a reply over the hard limit is never sent and the
//!   rest of the pipeline not run; KEYS stops early;
//! - `maxmemory-clients`: the largest client is evicted first, NO-EVICT clients never.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, have_redis, raise_nofile_limit, redis_bin, Conn, Server};
use std::path::Path;
use std::time::{Duration, Instant};

fn servers() -> Vec<std::path::PathBuf> {
    let mut v = vec![cinnabar_bin()];
    if have_redis() {
        v.push(redis_bin());
    }
    v
}

fn s(c: &mut Conn, args: &[&str]) -> String {
    let r = c.call(args);
    r.as_str().unwrap_or_else(|| format!("{r:?}"))
}

fn int(c: &mut Conn, args: &[&str]) -> i64 {
    let r = c.call(args);
    r.as_int()
        .unwrap_or_else(|| panic!("{args:?}: expected an integer, got {r:?}"))
}

fn slow_subscriber(bin: &Path) {
    let srv = Server::start(bin, &["--client-output-buffer-limit", "pubsub 1mb 256kb 1"]);
    let mut publisher = srv.conn();
    let mut fast = srv.conn();
    let mut slow = srv.conn();
    fast.send_cmd(&["SUBSCRIBE", "ch"]);
    fast.read_reply().unwrap();
    // The slow subscriber subscribes and then never reads again.
    slow.send_cmd(&["SUBSCRIBE", "ch"]);
    slow.read_reply().unwrap();
    let payload = "x".repeat(16 * 1024);
    let mut worst = Duration::ZERO;
    let mut receivers = Vec::new();
    let mut fast_got = 0;
    for i in 0..2000 {
        let t = Instant::now();
        let n = int(&mut publisher, &["PUBLISH", "ch", &payload]);
        worst = worst.max(t.elapsed());
        receivers.push(n);
        // The fast subscriber keeps up.
        let m = fast.read_reply().unwrap();
        assert_eq!(m.as_array().map(|a| a.len()), Some(3), "message {i}: {m:?}");
        fast_got += 1;
        if n == 1 && i > 10 {
            break;
        }
    }
    // The slow one was cut off (PUBLISH reaches only the fast one now) ...
    assert_eq!(
        receivers.last(),
        Some(&1),
        "{}: receivers {:?}",
        bin.display(),
        &receivers[receivers.len().saturating_sub(5)..]
    );
    assert!(
        slow.wait_closed(Duration::from_secs(5)),
        "{}: slow subscriber still connected",
        bin.display()
    );
    // ... and the publisher never waited for it (a stall would be a blocked write: seconds).
    assert!(
        worst < Duration::from_secs(1),
        "{}: a PUBLISH took {worst:?}",
        bin.display()
    );
    if bin == cinnabar_bin() {
        assert_eq!(
            publisher
                .info_field("client_output_buffer_limit_disconnections")
                .as_deref(),
            Some("1")
        );
    }
    let clients = s(&mut publisher, &["CLIENT", "LIST"]);
    assert_eq!(clients.lines().count(), 2, "{clients}");
    eprintln!(
        "{}: slow subscriber cut after {} messages of 16 KB; worst PUBLISH {:?}",
        bin.display(),
        fast_got,
        worst
    );
}

#[test]
fn slow_subscriber_is_cut_off_and_publisher_never_stalls() {
    for bin in servers() {
        slow_subscriber(&bin);
    }
}

fn script_kill(bin: &Path) {
    let srv = Server::start(bin, &["--busy-reply-threshold", "50"]);
    let mut a = srv.conn();
    let mut b = srv.conn();
    a.send_cmd(&["EVAL", "while true do end", "0"]);
    // Busy: other clients get -BUSY.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = b.call(&["PING"]);
        if r.is_error() {
            assert!(format!("{r:?}").contains("BUSY"), "{r:?}");
            break;
        }
        assert!(Instant::now() < deadline, "never busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A connection opened while the script is busy is accepted and answered too (as Redis),
    // not left waiting for the script to end.
    let mut late = srv.conn();
    let r = late.call(&["PING"]);
    assert!(
        format!("{r:?}").contains("BUSY"),
        "{}: {r:?}",
        bin.display()
    );
    assert_eq!(s(&mut b, &["SCRIPT", "KILL"]), "OK");
    let r = a.read_reply().unwrap();
    assert!(
        format!("{r:?}").contains("Script killed by user with SCRIPT KILL"),
        "{}: {r:?}",
        bin.display()
    );
    assert_eq!(s(&mut b, &["PING"]), "PONG");
    assert_eq!(s(&mut late, &["PING"]), "PONG");
    assert_eq!(s(&mut a, &["SET", "k", "v"]), "OK");
    // A script that wrote cannot be killed: only SHUTDOWN NOSAVE ends it.
    a.send_cmd(&["EVAL", "redis.call('set','w','1') while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    let r = b.call(&["SCRIPT", "KILL"]);
    assert!(format!("{r:?}").contains("UNKILLABLE"), "{r:?}");
    b.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(b.wait_closed(Duration::from_secs(10)));
}

#[test]
fn infinite_script_is_killed_and_server_serves_again() {
    for bin in servers() {
        script_kill(&bin);
    }
}

fn fill(c: &mut Conn, prefix: &str, n: usize) {
    let v = "v".repeat(1000);
    for i in 0..n {
        let k = format!("{prefix}{i}");
        let r = c.call(&["SET", &k, &v]);
        if r.is_error() {
            panic!("SET {k}: {r:?}");
        }
    }
}

fn used(c: &mut Conn) -> i64 {
    c.info_field("used_memory").unwrap().parse().unwrap()
}

fn maxmemory(bin: &Path) {
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    let base = used(&mut c);
    // noeviction: writes that need memory get -OOM; reads and DEL go on.
    fill(&mut c, "a", 100);
    let limit = used(&mut c) + 50_000;
    s(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    let v = "v".repeat(1000);
    let mut oom = None;
    for i in 0..1000 {
        let r = c.call(&["SET", &format!("b{i}"), &v]);
        if r.is_error() {
            oom = Some(format!("{r:?}"));
            break;
        }
    }
    let oom = oom.expect("never OOM");
    assert!(
        oom.contains("OOM command not allowed when used memory > 'maxmemory'."),
        "{oom}"
    );
    assert_eq!(s(&mut c, &["GET", "a1"]), v);
    assert_eq!(int(&mut c, &["DEL", "a1"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "a2"]), 1);
    // allkeys-lru: the keys in use stay, the idle ones go. The LRU clock counts seconds (as
    // Redis's), so the cold keys are made 2 s older than the hot ones.
    s(&mut c, &["FLUSHALL"]);
    s(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    let base2 = used(&mut c).max(base);
    fill(&mut c, "cold", 400);
    std::thread::sleep(Duration::from_millis(2100));
    fill(&mut c, "hot", 50);
    let limit = used(&mut c) + 20_000;
    s(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    s(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    for round in 0..10 {
        fill(&mut c, &format!("new{round}-"), 20);
        for i in 0..50 {
            let r = c.call(&["GET", &format!("hot{i}")]);
            assert!(
                r.as_bytes().is_some(),
                "{}: hot{i} evicted in round {round}",
                bin.display()
            );
        }
    }
    let evicted: i64 = c.info_field("evicted_keys").unwrap().parse().unwrap();
    assert!(evicted >= 150, "{}: evicted {evicted}", bin.display());
    assert!(
        used(&mut c) <= limit + 20_000,
        "used {} limit {limit}",
        used(&mut c)
    );
    assert!(base2 > 0);
}

#[test]
fn maxmemory_noeviction_and_lru() {
    for bin in servers() {
        maxmemory(&bin);
    }
}

#[test]
fn evictions_reach_the_replica() {
    let master = Server::cinnabar(&[]);
    let replica = Server::cinnabar(&[]);
    let mut m = master.conn();
    let mut r = replica.conn();
    s(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port().to_string()],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.info_field("master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "replica never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    fill(&mut m, "k", 200);
    let limit = used(&mut m) - 100_000;
    s(
        &mut m,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    s(&mut m, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    assert_eq!(s(&mut m, &["SET", "x", "y"]), "OK");
    let n = int(&mut m, &["DBSIZE"]);
    assert!(n < 201, "nothing evicted: {n}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rn = int(&mut r, &["DBSIZE"]);
        let mn = int(&mut m, &["DBSIZE"]);
        if rn == mn {
            break;
        }
        assert!(Instant::now() < deadline, "replica {rn} keys, master {mn}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let x = s(&mut m, &["GET", "x"]);
    assert_eq!(s(&mut r, &["GET", "x"]), x);
}

fn pipeline_before_reading(bin: &Path) {
    use std::io::{Read, Write};
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    let v = "x".repeat(100);
    assert_eq!(s(&mut c, &["SET", "k", &v]), "OK");
    // 500,000 GETs (11 MB of commands, more than the sockets' buffers hold; 55 MB of replies)
    // written before a single reply is read: the server must keep reading while its replies
    // wait for the socket, as Redis does.
    let n = 500_000;
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let cmd = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(n);
    sock.write_all(&cmd)
        .unwrap_or_else(|e| panic!("{}: the server stopped reading: {e}", bin.display()));
    let want = n * (v.len() + 8);
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 20];
    while got < want {
        let r = sock.read(&mut buf).unwrap();
        assert!(
            r > 0,
            "{}: closed after {got} of {want} bytes",
            bin.display()
        );
        got += r;
    }
    assert_eq!(got, want);
    assert_eq!(s(&mut c, &["PING"]), "PONG");
}

#[test]
fn a_pipeline_written_before_reading_does_not_deadlock() {
    for bin in servers() {
        pipeline_before_reading(&bin);
    }
}

/// 1,000 connections each send `*1048576\r\n` (a million arguments announced) and then
/// nothing: the server must not allocate for what was only announced (Redis caps the first
/// argument array at 1024 entries), so its memory stays bounded and other clients are served.
fn announced_multibulks(bin: &Path) {
    let limit = raise_nofile_limit();
    assert!(
        limit >= 1100,
        "this test needs 1,100 open files, the limit is {limit}"
    );
    let srv = Server::start(bin, &["--maxclients", "2000"]);
    let mut other = srv.conn();
    assert_eq!(s(&mut other, &["SET", "k", "v"]), "OK");
    let used = |c: &mut Conn| -> u64 {
        c.info_field("used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let before = srv.rss_bytes().unwrap();
    let used_before = used(&mut other);
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let mut c = srv.conn();
        c.send_raw(b"*1048576\r\n");
        conns.push(c);
    }
    // Served while the 1,000 wait for their arguments.
    let t = Instant::now();
    assert_eq!(s(&mut other, &["GET", "k"]), "v");
    assert_eq!(int(&mut other, &["INCR", "n"]), 1);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let clients: i64 = other
        .info_field("connected_clients")
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(clients >= 1001, "connected_clients {clients}");
    let after = srv.rss_bytes().unwrap();
    let grown = after.saturating_sub(before);
    // What the allocator handed out (untouched pages would not show in RSS).
    let used_grown = used(&mut other).saturating_sub(used_before);
    assert!(
        used_grown < 64 * 1024 * 1000,
        "used_memory grew by {used_grown} bytes"
    );
    eprintln!(
        "{}: RSS {} KB -> {} KB for 1,000 announced multibulks",
        bin.display(),
        before / 1024,
        after / 1024
    );
    // A million pointers per connection would be 8 GB; allow 64 KB per connection.
    assert!(grown < 64 * 1024 * 1000, "RSS grew by {grown} bytes");
    drop(conns);
    assert_eq!(s(&mut other, &["PING"]), "PONG");
    srv.assert_alive();
}

#[test]
fn announced_multibulks_keep_memory_bounded() {
    for bin in servers() {
        announced_multibulks(&bin);
    }
}

/// `client-output-buffer-limit normal`: a reply that crosses the hard limit is never sent, the
/// rest of the client's pipeline is not run, the client is closed and counted in INFO; KEYS
/// stops instead of building the whole reply. A client whose replies stay under the limit
/// is served.
fn normal_obuf_limit(bin: &Path) {
    let srv = Server::start(bin, &["--client-output-buffer-limit", "normal 100000 0 0"]);
    let mut c = srv.conn();
    let item = "x".repeat(1000);
    for _ in 0..150 {
        int(&mut c, &["RPUSH", "big", &item]);
    }
    assert_eq!(int(&mut c, &["LLEN", "big"]), 150);
    let mut victim = srv.conn();
    // LRANGE's reply is 150 KB; the SET after it in the same pipeline must not run.
    let mut pipe = cinnabar_testkit::encode_command(&["LRANGE", "big", "0", "-1"]);
    pipe.extend(cinnabar_testkit::encode_command(&["SET", "after", "1"]));
    victim.send_raw(&pipe);
    let got = victim.read_until_close(Duration::from_secs(5));
    assert!(got.is_empty(), "{}: got {} bytes", bin.display(), got.len());
    assert_eq!(c.call(&["EXISTS", "after"]).as_int(), Some(0));
    // (A field Redis 7.2 added; 7.0 has no such count.)
    if bin == cinnabar_bin() {
        assert_eq!(
            c.info_field("client_output_buffer_limit_disconnections")
                .as_deref(),
            Some("1")
        );
    }
    // A reply under the limit goes out.
    assert_eq!(
        c.call(&["LRANGE", "big", "0", "49"])
            .as_array()
            .map(|a| a.len()),
        Some(50)
    );
    for i in 0..2000 {
        assert_eq!(
            s(&mut c, &["SET", &format!("a-long-key-name-{i:0>80}"), "v"]),
            "OK"
        );
    }
    let mut k = srv.conn();
    k.send_cmd(&["KEYS", "*"]);
    assert!(k.read_until_close(Duration::from_secs(5)).is_empty());
    assert_eq!(s(&mut c, &["PING"]), "PONG");
}

#[test]
fn normal_client_output_buffer_limit_closes_without_reply() {
    for bin in servers() {
        normal_obuf_limit(&bin);
    }
}

/// `maxmemory-clients`: clients holding large query buffers are evicted largest first until
/// the total is within the limit; CLIENT NO-EVICT clients stay; INFO counts the evictions.
fn client_eviction(bin: &Path) {
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    assert_eq!(s(&mut c, &["CLIENT", "NO-EVICT", "on"]), "OK");
    let mut holders = Vec::new();
    for (i, size) in [100_000usize, 400_000, 1_600_000].iter().enumerate() {
        let mut h = srv.conn();
        assert_eq!(s(&mut h, &["CLIENT", "SETNAME", &format!("h{i}")]), "OK");
        // An argument announced and mostly sent: it sits in the query buffer.
        let mut raw = format!("*2\r\n${size}\r\n").into_bytes();
        raw.extend(std::iter::repeat_n(b'v', *size));
        h.send_raw(&raw);
        holders.push(h);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let tot = |c: &mut Conn, name: &str| -> Option<u64> {
        let list = c.call(&["CLIENT", "LIST"]).as_str().unwrap_or_default();
        list.lines()
            .find(|l| l.contains(&format!(" name={name} ")))
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("tot-mem=")))
            .and_then(|v| v.parse().ok())
    };
    while tot(&mut c, "h2").unwrap_or(0) < 1_600_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let big = tot(&mut c, "h2").unwrap();
    assert!(big >= 1_600_000, "{}: h2 tot-mem {big}", bin.display());
    // Room for everything but the largest client.
    let all: u64 = c
        .call(&["CLIENT", "LIST"])
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("tot-mem=")))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    let limit = all - big + 50_000;
    assert_eq!(
        s(
            &mut c,
            &["CONFIG", "SET", "maxmemory-clients", &limit.to_string()]
        ),
        "OK"
    );
    assert!(
        holders[2].wait_closed(Duration::from_secs(5)),
        "{}: h2 not evicted",
        bin.display()
    );
    assert!(tot(&mut c, "h0").is_some() && tot(&mut c, "h1").is_some());
    assert_eq!(c.info_field("evicted_clients").as_deref(), Some("1"));
    // The exempt client is never evicted, even alone over the limit.
    assert_eq!(
        s(&mut c, &["CONFIG", "SET", "maxmemory-clients", "1"]),
        "OK"
    );
    assert!(holders[0].wait_closed(Duration::from_secs(5)));
    assert!(holders[1].wait_closed(Duration::from_secs(5)));
    assert_eq!(s(&mut c, &["PING"]), "PONG");
}

#[test]
fn maxmemory_clients_evicts_largest_first() {
    for bin in servers() {
        client_eviction(&bin);
    }
}
