//! Replication across processes: a Cinnabar replica of a Cinnabar master (full sync of an
//! existing dataset, the live stream, READONLY, WAIT, ROLE, INFO, a chained replica,
//! REPLICAOF NO ONE), and interop both ways with real redis-server 7.0.15.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, have_redis, loud_note, redis_bin, Conn, Reply, Server};
use std::path::Path;
use std::time::{Duration, Instant};

fn start(bin: &Path) -> Server {
    Server::start(
        bin,
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    )
}

fn s(r: &Reply) -> String {
    r.as_str().unwrap_or_default()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn populate(c: &mut Conn) {
    c.call(&["SET", "str", "hello"]);
    c.call(&["SET", "ttl", "x", "EX", "1000"]);
    c.call(&["RPUSH", "list", "a", "b", "c"]);
    c.call(&["SADD", "set", "1", "2", "x"]);
    c.call(&["ZADD", "zset", "1.5", "a", "2", "b"]);
    c.call(&["HSET", "hash", "f", "v", "g", "1"]);
    c.call(&["SELECT", "4"]);
    c.call(&["SET", "in4", "yes"]);
    c.call(&["SELECT", "0"]);
}

fn digest(c: &mut Conn) -> String {
    s(&c.call(&["DEBUG", "DIGEST"]))
}

/// Attaches `replica` to `master` and waits for the link to come up.
fn attach(replica: &Server, master: &Server) -> Conn {
    let mut r = replica.conn();
    assert_eq!(
        s(&r.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()])),
        "OK"
    );
    wait_until("the link to come up", || {
        r.info_field("master_link_status").as_deref() == Some("up")
    });
    r
}

fn check_pair(master_bin: &Path, replica_bin: &Path) {
    let master = start(master_bin);
    let mut m = master.conn();
    populate(&mut m);
    let replica = start(replica_bin);
    let mut r = attach(&replica, &master);
    // The full sync brought the dataset.
    wait_until("the snapshot", || digest(&mut r) == digest(&mut m));
    // The live stream follows.
    m.call(&["INCR", "counter"]);
    m.call(&["SET", "k", "v", "EX", "100"]);
    m.call(&["SELECT", "4"]);
    m.call(&["RPUSH", "list4", "x"]);
    m.call(&["SELECT", "0"]);
    m.call(&["DEL", "set"]);
    wait_until("the stream", || digest(&mut r) == digest(&mut m));
    // Writes to the replica are refused.
    let e = r.call(&["SET", "x", "1"]);
    assert!(s(&e).starts_with("READONLY"), "{e:?}");
    // ROLE on both ends.
    let role = r.call(&["ROLE"]);
    let items = role.as_array().unwrap();
    assert_eq!(s(&items[0]), "slave");
    assert_eq!(s(&items[3]), "connected");
    let role = m.call(&["ROLE"]);
    assert_eq!(s(&role.as_array().unwrap()[0]), "master");
    // WAIT counts the replica once it acknowledged the write.
    m.call(&["SET", "acked", "1"]);
    assert_eq!(m.call(&["WAIT", "1", "5000"]).as_int(), Some(1));
    assert_eq!(m.info_field("connected_slaves").as_deref(), Some("1"));
    // Promotion.
    assert_eq!(s(&r.call(&["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(r.info_field("role").as_deref(), Some("master"));
    assert_eq!(s(&r.call(&["SET", "x", "1"])), "OK");
}

#[test]
fn cinnabar_replica_of_cinnabar_master() {
    check_pair(&cinnabar_bin(), &cinnabar_bin());
}

#[test]
fn chained_replicas_receive_the_same_stream() {
    let master = start(&cinnabar_bin());
    let mut m = master.conn();
    populate(&mut m);
    let mid = start(&cinnabar_bin());
    let _r1 = attach(&mid, &master);
    let leaf = start(&cinnabar_bin());
    let mut r2 = attach(&leaf, &mid);
    for i in 0..100 {
        m.call(&["RPUSH", "chain", &i.to_string()]);
    }
    wait_until("the chain", || digest(&mut r2) == digest(&mut m));
    assert_eq!(r2.call(&["LLEN", "chain"]).as_int(), Some(100));
}

#[test]
fn interop_with_real_redis_both_ways() {
    if !have_redis() {
        loud_note("redis-server not installed: replication interop not checked");
        return;
    }
    check_pair(&cinnabar_bin(), &redis_bin());
    check_pair(&redis_bin(), &cinnabar_bin());
}

#[test]
fn a_dropped_link_resumes_with_a_partial_resync() {
    let master = start(&cinnabar_bin());
    let mut m = master.conn();
    populate(&mut m);
    let replica = start(&cinnabar_bin());
    let mut r = attach(&replica, &master);
    m.call(&["SELECT", "3"]);
    m.call(&["SET", "before", "1"]);
    wait_until("the stream", || digest(&mut r) == digest(&mut m));
    // Cut the replica's connection on the master's side; write meanwhile.
    let list = s(&m.call(&["CLIENT", "LIST"]));
    let line = list
        .lines()
        .find(|l| l.contains("flags=S"))
        .unwrap()
        .to_string();
    let addr = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();
    assert_eq!(s(&m.call(&["CLIENT", "KILL", &addr])), "OK");
    m.call(&["SET", "after", "2"]);
    wait_until("the stream after the cut", || {
        digest(&mut r) == digest(&mut m)
    });
    assert!(
        master.wait_for_log("Partial resynchronization request", Duration::from_secs(5)),
        "{}",
        master.log_tail(20)
    );
    r.call(&["SELECT", "3"]);
    assert_eq!(s(&r.call(&["GET", "after"])), "2");
}

#[test]
fn a_snapshot_followed_at_once_by_the_stream_is_split_right() {
    // Writes keep coming while the replica syncs, so the stream's first bytes arrive in the same
    // reads as the end of the diskless snapshot.
    let master = start(&cinnabar_bin());
    let mut m = master.conn();
    populate(&mut m);
    let port = master.port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = Conn::connect_port(port).unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                w.call(&["SET", &format!("w:{}", i % 500), &i.to_string()]);
                i += 1;
            }
        })
    };
    let replica = start(&cinnabar_bin());
    let mut r = attach(&replica, &master);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    wait_until("the replica to catch up", || {
        digest(&mut r) == digest(&mut m)
    });
}

#[test]
fn a_replica_hides_expired_keys_and_expires_its_own() {
    let master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    // Keys that expired on the master before it deleted them (and one already expired
    // when the replica loads the snapshot): the replica keeps them until the master's DEL,
    // but its readers do not see them.
    m.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    m.call(&["SET", "early", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    let mut r = attach(&replica, &master);
    m.call(&["SET", "k1", "5", "PX", "10"]);
    m.call(&["SET", "k2", "5", "PX", "10"]);
    wait_until("the keys to reach the replica", || {
        r.call(&["DBSIZE"]).as_int() == Some(3)
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r.call(&["EXISTS", "k1", "k2", "early"]).as_int(), Some(0));
    assert_eq!(r.call(&["GET", "k2"]), Reply::Nil);
    assert_eq!(r.call(&["DBSIZE"]).as_int(), Some(3), "reads do not delete");
    // A write on a writable replica does delete (INCR recreates k1 without a TTL).
    r.call(&["CONFIG", "SET", "replica-read-only", "no"]);
    assert_eq!(r.call(&["INCR", "k1"]).as_int(), Some(1));
    assert_eq!(r.call(&["TTL", "k1"]).as_int(), Some(-1));
    // Keys the replica's own clients gave a TTL are expired by the replica itself.
    r.call(&["SELECT", "6"]);
    r.call(&["SET", "mine", "1", "PX", "100"]);
    wait_until("the replica to expire its own key", || {
        r.call(&["DBSIZE"]).as_int() == Some(0)
    });
    // The master's DELs remove the rest (k1 too: the master's k1 expired).
    m.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    r.call(&["SELECT", "0"]);
    wait_until("the master's DELs", || {
        r.call(&["DBSIZE"]).as_int() == Some(0)
    });
}

/// Kills a hand-started server when the test ends, however it ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server again on `port` with its directory (the testkit picks new ports), and
/// waits until INFO `field` says `value`.
fn restart_at(port: u16, dir: &Path, extra: &[&str], field: &str, value: &str) -> (Kill, Conn) {
    let child = std::process::Command::new(cinnabar_bin())
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--enable-debug-command", "yes", "--save", ""])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = Kill(child);
    let mut conn = None;
    wait_until("the server to come back", || {
        conn = Conn::connect_port(port).ok();
        conn.as_mut()
            .is_some_and(|c| c.info_field(field).as_deref() == Some(value))
    });
    (guard, conn.unwrap())
}

#[test]
fn a_restarted_master_continues_its_replicas_with_a_partial_resync() {
    let mut master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let mut r = attach(&replica, &master);
    populate(&mut m);
    m.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    m.call(&["SELECT", "3"]);
    m.call(&["SET", "dies", "soon", "PX", "50"]);
    let offset = m.info_field("master_repl_offset").unwrap();
    wait_until("the replica to catch up", || {
        r.info_field("master_repl_offset").as_deref() == Some(offset.as_str())
    });
    std::thread::sleep(Duration::from_millis(60));
    let replid = m.info_field("master_replid").unwrap();
    let (port, dir) = (master.port(), master.dir().to_path_buf());
    // The shutdown save records the offset after whatever the shutdown itself sent.
    m.send_cmd(&["SHUTDOWN", "SAVE"]);
    assert!(m.wait_closed(Duration::from_secs(10)));
    master.stop();
    std::thread::sleep(Duration::from_millis(60));
    // The same port and directory: the replica reconnects by itself.
    let (_guard, mut m2) = restart_at(port, &dir, &[], "loading", "0");
    assert_eq!(
        m2.info_field("master_replid2").as_deref(),
        Some(replid.as_str())
    );
    let off: u64 = r.info_field("master_repl_offset").unwrap().parse().unwrap();
    assert_eq!(
        m2.info_field("second_repl_offset"),
        Some((off + 1).to_string())
    );
    // The key that expired meanwhile went out as a DEL in the continued stream.
    assert_eq!(
        m2.info_field("rdb_last_load_keys_expired").as_deref(),
        Some("1")
    );
    wait_until("the partial resync", || {
        m2.info_field("sync_partial_ok").as_deref() == Some("1")
            && m2.info_field("connected_slaves").as_deref() == Some("1")
    });
    assert_eq!(m2.info_field("sync_full").as_deref(), Some("0"));
    let end = m2.info_field("master_repl_offset").unwrap();
    wait_until("the replica to catch up again", || {
        r.info_field("master_repl_offset").as_deref() == Some(end.as_str())
    });
    assert_eq!(digest(&mut m2), digest(&mut r));
}

#[test]
fn failover_hands_the_master_role_to_a_caught_up_replica() {
    let master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let mut r = attach(&replica, &master);
    assert_eq!(
        s(&r.call(&["FAILOVER"])),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        s(&m.call(&["FAILOVER", "TO", "127.0.0.1", "1", "FORCE"])),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
    assert_eq!(
        s(&m.call(&["FAILOVER", "TO", "127.0.0.1", "1"])),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    assert_eq!(
        s(&m.call(&["FAILOVER", "ABORT"])),
        "ERR No failover in progress."
    );
    populate(&mut m);
    let port = replica.port().to_string();
    assert_eq!(s(&m.call(&["FAILOVER", "TO", "127.0.0.1", &port])), "OK");
    wait_until("the roles to swap", || {
        m.info_field("role").as_deref() == Some("slave")
            && r.info_field("role").as_deref() == Some("master")
    });
    assert_eq!(
        m.info_field("master_failover_state").as_deref(),
        Some("no-failover")
    );
    // CONFIG GET (and CONFIG REWRITE) follow the roles.
    let get = |c: &mut Conn| match c.call(&["CONFIG", "GET", "replicaof"]) {
        Reply::Array(v) => v.get(1).map(s).unwrap_or_default(),
        other => panic!("{other:?}"),
    };
    assert_eq!(get(&mut m), format!("127.0.0.1 {port}"));
    assert_eq!(get(&mut r), "");
    // The old master continued the new master's stream: a partial resync, same data.
    assert_eq!(r.info_field("sync_partial_ok").as_deref(), Some("1"));
    r.call(&["SET", "after", "failover"]);
    wait_until("the write to reach the old master", || {
        s(&m.call(&["GET", "after"])) == "failover"
    });
    assert_eq!(digest(&mut m), digest(&mut r));
}

#[test]
fn a_replica_that_goes_away_during_its_full_sync_is_released_at_once() {
    let master = start(&cinnabar_bin());
    let mut replica = start(&cinnabar_bin());
    let mut m = master.conn();
    m.call(&["DEBUG", "POPULATE", "200", "key"]);
    // A snapshot that would take 200 s.
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    let mut r = replica.conn();
    r.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    wait_until("the replica to attach", || {
        m.info_field("connected_slaves").as_deref() == Some("1")
            && m.info_field("rdb_bgsave_in_progress").as_deref() == Some("1")
    });
    replica.stop();
    wait_until("the master to drop the replica", || {
        m.info_field("connected_slaves").as_deref() == Some("0")
    });
    // Nobody waits for the snapshot any more: it stops too.
    wait_until("the snapshot to stop", || {
        m.info_field("rdb_bgsave_in_progress").as_deref() == Some("0")
    });
}

#[test]
fn failover_pauses_writes_and_gives_up_after_its_timeout() {
    let master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let _r = attach(&replica, &master);
    m.call(&["SET", "k", "1"]);
    // A replica that cannot acknowledge: the failover waits, then times out.
    let sig = |s: &str| {
        let _ = std::process::Command::new("kill")
            .args([s, &replica.pid().to_string()])
            .status();
    };
    sig("-STOP");
    let port = replica.port().to_string();
    let t0 = Instant::now();
    assert_eq!(
        s(&m.call(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "700"])),
        "OK"
    );
    assert_eq!(
        m.info_field("master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    // A write waits for the failover to end; a read does not.
    let mut w = master.conn();
    assert_eq!(s(&w.call(&["GET", "k"])), "1");
    assert_eq!(s(&w.call(&["SET", "k", "2"])), "OK");
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "the write was not paused"
    );
    sig("-CONT");
    assert_eq!(
        m.info_field("master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(m.info_field("role").as_deref(), Some("master"));
    assert!(master
        .log()
        .contains("Replica never caught up before timeout"));
}

#[test]
fn a_partial_resync_after_pointing_elsewhere_continues_in_the_selected_database() {
    let master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let mut r = attach(&replica, &master);
    m.call(&["SELECT", "9"]);
    m.call(&["SET", "a", "1"]);
    let off = m.info_field("master_repl_offset").unwrap();
    wait_until("the replica to catch up", || {
        r.info_field("master_repl_offset").as_deref() == Some(off.as_str())
    });
    // The link is dropped by a REPLICAOF elsewhere, then comes back.
    r.call(&["REPLICAOF", "127.0.0.1", "1"]);
    m.call(&["SET", "b", "2"]);
    r.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    let off = m.info_field("master_repl_offset").unwrap();
    wait_until("the partial resync", || {
        r.info_field("master_repl_offset").as_deref() == Some(off.as_str())
    });
    assert_eq!(m.info_field("sync_partial_ok").as_deref(), Some("1"));
    r.call(&["SELECT", "9"]);
    assert_eq!(s(&r.call(&["GET", "b"])), "2");
    assert_eq!(digest(&mut m), digest(&mut r));
}

#[test]
fn client_kill_type_replica_and_master_end_in_partial_resyncs() {
    let master = start(&cinnabar_bin());
    let replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let mut r = attach(&replica, &master);
    m.call(&["INCR", "x"]);
    assert_eq!(
        m.call(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
            .as_int(),
        Some(0)
    );
    assert_eq!(
        m.call(&["CLIENT", "KILL", "TYPE", "replica"]).as_int(),
        Some(1)
    );
    wait_until("the replica to come back", || {
        m.info_field("sync_partial_ok").as_deref() == Some("1")
            && m.info_field("connected_slaves").as_deref() == Some("1")
    });
    let listed = s(&r.call(&["CLIENT", "LIST", "TYPE", "master"]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert_eq!(
        r.call(&["CLIENT", "KILL", "TYPE", "master"]).as_int(),
        Some(1)
    );
    wait_until("the second partial resync", || {
        m.info_field("sync_partial_ok").as_deref() == Some("2")
            && r.info_field("master_link_status").as_deref() == Some("up")
    });
    assert_eq!(m.info_field("sync_full").as_deref(), Some("1"));
    m.call(&["INCR", "x"]);
    wait_until("the stream to flow again", || {
        s(&r.call(&["GET", "x"])) == "2"
    });
    // The old form, by address, also reaches the master link.
    let addr = format!("127.0.0.1:{}", master.port());
    assert_eq!(s(&r.call(&["CLIENT", "KILL", &addr])), "OK");
    wait_until("the third partial resync", || {
        m.info_field("sync_partial_ok").as_deref() == Some("3")
    });
}

#[test]
fn a_restarted_replica_continues_with_a_partial_resync() {
    let master = start(&cinnabar_bin());
    let mut replica = start(&cinnabar_bin());
    let mut m = master.conn();
    let mut r = attach(&replica, &master);
    m.call(&["SELECT", "5"]);
    m.call(&["SET", "a", "1"]);
    let off = m.info_field("master_repl_offset").unwrap();
    wait_until("the replica to catch up", || {
        r.info_field("master_repl_offset").as_deref() == Some(off.as_str())
    });
    let (port, dir) = (replica.port(), replica.dir().to_path_buf());
    r.send_cmd(&["SHUTDOWN", "SAVE"]);
    assert!(r.wait_closed(Duration::from_secs(10)));
    replica.stop();
    // Written while the replica is down: it continues in the database the stream selected.
    m.call(&["SET", "b", "2"]);
    let mport = master.port().to_string();
    let extra = ["--replicaof", "127.0.0.1", mport.as_str()];
    let (_guard, mut r2) = restart_at(port, &dir, &extra, "master_link_status", "up");
    assert_eq!(m.info_field("sync_partial_ok").as_deref(), Some("1"));
    assert_eq!(m.info_field("sync_full").as_deref(), Some("1"));
    let off = m.info_field("master_repl_offset").unwrap();
    wait_until("the replica to catch up again", || {
        r2.info_field("master_repl_offset").as_deref() == Some(off.as_str())
    });
    r2.call(&["SELECT", "5"]);
    assert_eq!(s(&r2.call(&["GET", "b"])), "2");
    assert_eq!(digest(&mut m), digest(&mut r2));
}

#[test]
fn a_master_turning_replica_unblocks_its_blocked_clients() {
    let a = start(&cinnabar_bin());
    let b = start(&cinnabar_bin());
    let mut blocked = b.conn();
    blocked.send_cmd(&["BLPOP", "foo", "0"]);
    std::thread::sleep(Duration::from_millis(50));
    let _ = attach(&b, &a);
    let reply = blocked.read_reply().unwrap();
    assert!(
        s(&reply).starts_with("UNBLOCKED force unblock from blocking operation"),
        "{reply:?}"
    );
    let mut ma = a.conn();
    ma.call(&["RPUSH", "foo", "a", "b", "c"]);
    let mut mb = b.conn();
    wait_until("the push to replicate", || {
        mb.call(&["LLEN", "foo"]).as_int() == Some(3)
    });
    assert_eq!(digest(&mut ma), digest(&mut mb));
}

#[test]
fn the_buffer_a_lagging_replica_held_is_freed_when_it_goes() {
    let master = start(&cinnabar_bin());
    let mut replica = start(&cinnabar_bin());
    let mut m = master.conn();
    // Plain link: compressed, these values would all fit in the kernel's socket buffers.
    m.call(&["CONFIG", "SET", "repl-compression", "none"]);
    let _r = attach(&replica, &master);
    m.call(&["CONFIG", "SET", "repl-backlog-size", "16384"]);
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &replica.pid().to_string()])
        .status();
    let big = "x".repeat(100_000);
    // More than the kernel's socket buffers can take: the rest waits in ours.
    for i in 0..200 {
        m.call(&["SET", &format!("k{i}"), &big]);
    }
    let held = |m: &mut Conn| -> u64 {
        m.info_field("mem_total_replication_buffers")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(held(&mut m) > 1_000_000, "{}", held(&mut m));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &replica.pid().to_string()])
        .status();
    replica.stop();
    wait_until("the buffer to shrink to the backlog", || {
        m.info_field("connected_slaves").as_deref() == Some("0") && held(&mut m) < 200_000
    });
}

/// The INFO replication line of the first replica.
fn slave0(m: &mut Conn) -> String {
    s(&m.call(&["INFO", "replication"]))
        .lines()
        .find(|l| l.starts_with("slave0:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_full_sync_that_holds_too_much_moves_its_stream_to_a_second_connection() {
    let master = start(&cinnabar_bin());
    let mut m = master.conn();
    m.call(&["DEBUG", "POPULATE", "20000", "key", "100"]);
    // A slow snapshot and a small replica limit: Redis would cut the replica off and start
    // over; here the stream moves to the replica's second connection at a quarter of the limit.
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "200"]);
    m.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "replica 2mb 1mb 60",
    ]);
    let replica = start(&cinnabar_bin());
    let mut r = replica.conn();
    r.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    wait_until("the snapshot to start", || {
        slave0(&mut m).contains("sync_phase=snapshot")
    });
    let big = "v".repeat(2000);
    let mut i = 0;
    while !master
        .log()
        .contains("the stream goes on its second connection")
    {
        m.call(&["SET", &format!("w{}", i % 5000), &format!("{big}{i}")]);
        i += 1;
        assert!(i < 200_000, "the stream never moved");
    }
    // Meanwhile the master holds little for it, and the replica buffers the stream.
    let line = slave0(&mut m);
    assert!(line.contains("channels=2"), "{line}");
    assert!(line.contains("compression=zstd"), "{line}");
    for j in 0..500 {
        m.call(&["INCR", &format!("c{}", j % 7)]);
    }
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_until("the replica to come up", || {
        r.info_field("master_link_status").as_deref() == Some("up")
    });
    wait_until("the replica to catch up", || {
        r.info_field("master_repl_offset") == m.info_field("master_repl_offset")
    });
    assert_eq!(digest(&mut m), digest(&mut r));
    assert_eq!(m.info_field("sync_full").as_deref(), Some("1"));
    assert!(replica
        .log()
        .contains("buffered stream applied, continuing on the stream connection"));
    // The link is compressed: fewer bytes on the wire than in the stream.
    let raw: u64 = r
        .info_field("master_link_raw_bytes")
        .unwrap()
        .parse()
        .unwrap();
    let wire: u64 = r
        .info_field("master_link_wire_bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(wire * 2 < raw, "raw {raw} wire {wire}");
}

#[test]
fn writes_are_throttled_while_a_replica_holds_more_than_allowed() {
    let master = start(&cinnabar_bin());
    let mut replica = start(&cinnabar_bin());
    let mut m = master.conn();
    assert!(
        s(&m.call(&["CONFIG", "SET", "slave-output-buffer-throttling", "1 2"])).starts_with("ERR")
    );
    m.call(&["CONFIG", "SET", "repl-compression", "none"]);
    let _r = attach(&replica, &master);
    m.call(&[
        "CONFIG",
        "SET",
        "replica-output-buffer-throttling",
        "0 64kb 1mb 20",
    ]);
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &replica.pid().to_string()])
        .status();
    let big = "x".repeat(100_000);
    for i in 0..100 {
        m.call(&["SET", &format!("k{i}"), &big]);
    }
    wait_until("the throttle to engage", || {
        m.info_field("repl_throttle_delay_ms")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|d| d > 0)
    });
    let delayed = |m: &mut Conn| -> u64 {
        m.info_field("repl_throttle_delayed_replies")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = delayed(&mut m);
    // A new connection's first command goes through at once; its next write waits.
    let mut fresh = master.conn();
    fresh.call(&["SET", "first", "1"]);
    assert_eq!(delayed(&mut m), before);
    fresh.call(&["SET", "second", "2"]);
    assert_eq!(delayed(&mut m), before + 1);
    // Reads are never delayed.
    fresh.call(&["GET", "first"]);
    assert_eq!(delayed(&mut m), before + 1);
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &replica.pid().to_string()])
        .status();
    wait_until("the throttle to let go", || {
        m.info_field("repl_throttle_delay_ms").as_deref() == Some("0")
    });
    replica.stop();
}

#[test]
fn swapdb_keeps_the_old_data_when_the_sync_fails_and_async_loading_serves_it_meanwhile() {
    let master = start(&cinnabar_bin());
    let replica = Server::start(
        &cinnabar_bin(),
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-load",
            "swapdb",
            "--replica-read-only",
            "no",
        ],
    );
    let mut m = master.conn();
    let mut r = replica.conn();
    r.call(&["DEBUG", "POPULATE", "200", "slave", "10"]);
    r.call(&["SET", "mykey", "myvalue"]);
    m.call(&["DEBUG", "POPULATE", "1000", "master", "1000"]);
    // Different history: the replica is loading from the first byte; a failed transfer
    // leaves the old data.
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    r.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    wait_until("the replica to be loading", || {
        r.info_field("loading").as_deref() == Some("1")
    });
    assert!(s(&r.call(&["GET", "mykey"])).starts_with("LOADING"));
    m.call(&["CONFIG", "SET", "repl-diskless-sync-delay", "5"]);
    m.call(&["CLIENT", "KILL", "TYPE", "replica"]);
    wait_until("the load to stop", || {
        r.info_field("loading").as_deref() == Some("0")
    });
    assert_eq!(s(&r.call(&["GET", "mykey"])), "myvalue");
    assert_eq!(r.call(&["DBSIZE"]).as_int(), Some(201));
    // It syncs in the end.
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    m.call(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
    wait_until("the link to come up", || {
        r.info_field("master_link_status").as_deref() == Some("up")
    });
    assert_eq!(r.call(&["DBSIZE"]).as_int(), Some(1000));
    // Same history now: the next full sync loads aside while the old data is served.
    r.call(&["SET", "mykey", "again"]);
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "3000"]);
    m.call(&["CONFIG", "SET", "repl-backlog-size", "16384"]);
    let filler = "A".repeat(16384);
    m.call(&["MULTI"]);
    m.call(&["CLIENT", "KILL", "TYPE", "replica"]);
    for i in 0..10 {
        m.call(&["SET", &format!("fill{i}"), &filler]);
    }
    m.call(&["EXEC"]);
    wait_until("async loading", || {
        r.info_field("async_loading").as_deref() == Some("1")
    });
    assert_eq!(r.info_field("loading").as_deref(), Some("0"));
    assert_eq!(s(&r.call(&["GET", "mykey"])), "again");
    assert!(s(&r.call(&["REPLICAOF", "NO", "ONE"])).starts_with("LOADING"));
    assert!(s(&r.call(&["CONFIG", "SET", "appendonly", "no"])).starts_with("LOADING"));
    m.call(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_until("the swap", || {
        r.info_field("async_loading").as_deref() == Some("0")
            && r.info_field("master_link_status").as_deref() == Some("up")
    });
    wait_until("the replica to catch up", || {
        r.info_field("master_repl_offset") == m.info_field("master_repl_offset")
    });
    assert_eq!(s(&r.call(&["GET", "mykey"])), "");
    assert_eq!(digest(&mut m), digest(&mut r));
}

#[test]
fn a_replica_connection_that_makes_a_reply_is_dropped() {
    let master = start(&cinnabar_bin());
    let mut fake = master.conn();
    fake.send_cmd(&["PSYNC", "replicationid", "-1"]);
    let first = fake.read_reply().unwrap();
    assert!(s(&first).starts_with("FULLRESYNC"), "{first:?}");
    fake.send_cmd(&["GET", "foo"]);
    assert!(master.wait_for_log(
        "Replica generated a reply to command 'get', disconnecting it",
        Duration::from_secs(10)
    ));
    assert!(master
        .log()
        .contains("Replica can't interact with the keyspace"));
    let mut m = master.conn();
    assert!(s(&m.call(&["PSYNC", "replicationid", "offset_str"]))
        .starts_with("ERR value is not an integer"));
    assert_eq!(s(&m.call(&["PING"])), "PONG");
}

#[test]
fn disk_based_sync_writes_the_rdb_file_as_it_serves_the_replica() {
    let master = start(&cinnabar_bin());
    let mut m = master.conn();
    populate(&mut m);
    m.call(&["CONFIG", "SET", "repl-diskless-sync", "no"]);
    let dump = master.dir().join("dump.rdb");
    let _ = std::fs::remove_file(&dump);
    let replica = start(&cinnabar_bin());
    let mut r = attach(&replica, &master);
    wait_until("the snapshot", || digest(&mut r) == digest(&mut m));
    assert!(dump.exists(), "the sync's snapshot is also the RDB file");
    assert_eq!(
        m.info_field("rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    assert!(master
        .log()
        .contains("Starting BGSAVE for SYNC with target: disk"));
    // Replicas waiting for a snapshot are listed (wait_bgsave) before it starts.
    m.call(&["CONFIG", "SET", "repl-diskless-sync", "yes"]);
    m.call(&["CONFIG", "SET", "repl-diskless-sync-delay", "5"]);
    let second = start(&cinnabar_bin());
    let mut r2 = second.conn();
    r2.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    wait_until("the second replica to be listed", || {
        m.info_field("connected_slaves").as_deref() == Some("2")
    });
    assert!(s(&m.call(&["INFO", "replication"])).contains("state=wait_bgsave"));
}
