//! RDB persistence across processes: SAVE / BGSAVE / shutdown saves and loading at start,
//! the point-in-time property of the fork-less BGSAVE under concurrent writes, DEBUG RELOAD,
//! MISCONF after a failed save, and RDB files exchanged both ways with real redis-server.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, have_redis, loud_note, redis_bin, Conn, Reply, Server};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn start_in(bin: &Path, dir: &Path, extra: &[&str]) -> Server {
    Server::start_in_dir(bin, dir, extra)
}

fn s(r: &Reply) -> String {
    r.as_str().unwrap_or_default()
}

/// Everything in every database, rendered type by type (order-independent where the type is).
fn picture(c: &mut Conn) -> BTreeMap<(usize, String), String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        c.call(&["SELECT", &db.to_string()]);
        let keys = c.call(&["KEYS", "*"]);
        for k in keys.as_array().unwrap_or(&[]) {
            let k = s(k);
            let t = s(&c.call(&["TYPE", &k]));
            let mut v = match t.as_str() {
                "string" => format!("{:?}", c.call(&["GET", &k])),
                "list" => format!("{:?}", c.call(&["LRANGE", &k, "0", "-1"])),
                "hash" | "set" => {
                    let cmd = if t == "hash" { "HGETALL" } else { "SMEMBERS" };
                    let r = c.call(&[cmd, &k]);
                    let mut items: Vec<String> =
                        r.as_array().unwrap_or(&[]).iter().map(s).collect();
                    if t == "hash" {
                        let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("=")).collect();
                        pairs.sort();
                        items = pairs;
                    } else {
                        items.sort();
                    }
                    items.join(",")
                }
                "zset" => format!("{:?}", c.call(&["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                other => other.to_string(),
            };
            let ttl = c.call(&["PTTL", &k]).as_int().unwrap_or(-2);
            v.push_str(if ttl > 0 { " ttl" } else { " no-ttl" });
            out.insert((db, k), format!("{t}:{v}"));
        }
    }
    c.call(&["SELECT", "0"]);
    out
}

/// Values of every type and encoding, in three databases, some with a TTL.
fn populate(c: &mut Conn) {
    for db in [0, 3, 15] {
        c.call(&["SELECT", &db.to_string()]);
        c.call(&["SET", "int", "12345"]);
        c.call(&["SET", "neg", "-9223372036854775808"]);
        c.call(&["SET", "str", "hello world"]);
        c.call(&["SET", "long", &"abcdefgh".repeat(200)]);
        c.call(&["SET", "ttl", "x", "EX", "1000"]);
        c.call(&["RPUSH", "list", "a", "1", "b", "-77", "c"]);
        let big: Vec<String> = (0..3000).map(|i| format!("element-{i}")).collect();
        let mut cmd = vec!["RPUSH".to_string(), "biglist".to_string()];
        cmd.extend(big.iter().cloned());
        c.call(&cmd);
        c.call(&["HSET", "hash", "f1", "v1", "f2", "2"]);
        let mut cmd = vec!["HSET".to_string(), "bighash".to_string()];
        for i in 0..500 {
            cmd.push(format!("field{i}"));
            cmd.push(format!("value{i}"));
        }
        c.call(&cmd);
        c.call(&["SADD", "intset", "1", "2", "3", "-5", "100000000000"]);
        c.call(&["SADD", "set", "a", "b", "c"]);
        c.call(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]);
        let mut cmd = vec!["ZADD".to_string(), "bigzset".to_string()];
        for i in 0..300 {
            cmd.push(format!("{}.25", i));
            cmd.push(format!("member{i}"));
        }
        c.call(&cmd);
        c.call(&["PEXPIRE", "bigzset", "5000000"]);
        c.call(&["PFADD", "hll", "a", "b", "c"]);
        c.call(&["SETBIT", "bits", "1000", "1"]);
    }
    c.call(&["SELECT", "0"]);
}

fn wait_bgsave(c: &mut Conn) {
    let t = Instant::now();
    while c.info_field("rdb_bgsave_in_progress").as_deref() != Some("0") {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "BGSAVE did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn save_and_restart_keeps_every_type() {
    let data = cinnabar_testkit::TempDir::new("persist-save").unwrap();
    let before;
    {
        let srv = start_in(&cinnabar_bin(), data.path(), &[]);
        let mut c = srv.conn();
        populate(&mut c);
        before = picture(&mut c);
        assert_eq!(s(&c.call(&["SAVE"])), "OK");
        assert_eq!(
            c.info_field("rdb_changes_since_last_save").as_deref(),
            Some("0")
        );
        assert_eq!(
            c.info_field("rdb_last_bgsave_status").as_deref(),
            Some("ok")
        );
    }
    assert!(data.path().join("dump.rdb").is_file());
    let srv = start_in(&cinnabar_bin(), data.path(), &[]);
    let mut c = srv.conn();
    assert_eq!(picture(&mut c), before);
    assert!(srv.log().contains("Done loading RDB"), "{}", srv.log());
    // DEBUG RELOAD gives the same picture again.
    assert_eq!(s(&c.call(&["DEBUG", "RELOAD"])), "OK");
    assert_eq!(picture(&mut c), before);
}

#[test]
fn bgsave_is_a_point_in_time_under_writes() {
    let data = cinnabar_testkit::TempDir::new("persist-bg").unwrap();
    let n = 20_000;
    let mut expected = BTreeMap::new();
    {
        // 100 µs per key keeps the save running for about 2 s while we write.
        let srv = start_in(
            &cinnabar_bin(),
            data.path(),
            &["--rdb-key-save-delay", "100"],
        );
        let mut c = srv.conn();
        c.call(&["DEBUG", "POPULATE", &n.to_string(), "key"]);
        c.call(&["HSET", "h", "a", "1"]);
        c.call(&["RPUSH", "l", "x"]);
        assert_eq!(s(&c.call(&["BGSAVE"])), "Background saving started");
        let second = c.call(&["BGSAVE"]);
        assert!(
            second.is_error(),
            "a second BGSAVE must be refused: {second:?}"
        );
        assert_eq!(s(&second), "ERR Background save already in progress");
        assert_eq!(c.info_field("rdb_bgsave_in_progress").as_deref(), Some("1"));
        // Writes while it runs: overwrite, delete, create, modify in place, flush a db.
        for i in (0..n).step_by(7) {
            c.call(&["SET", &format!("key:{i}"), "changed"]);
        }
        for i in (3..n).step_by(11) {
            c.call(&["DEL", &format!("key:{i}")]);
        }
        for i in 0..500 {
            c.call(&["SET", &format!("new:{i}"), "fresh"]);
        }
        c.call(&["HSET", "h", "b", "2"]);
        c.call(&["RPUSH", "l", "y"]);
        c.call(&["SELECT", "9"]);
        c.call(&["SET", "gone", "soon"]);
        c.call(&["FLUSHDB"]);
        c.call(&["SELECT", "0"]);
        let peak: u64 = c
            .info_field("current_cow_size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        wait_bgsave(&mut c);
        assert_eq!(
            c.info_field("rdb_last_bgsave_status").as_deref(),
            Some("ok")
        );
        assert!(
            peak > 0,
            "the keys written during the save were kept for it"
        );
        for i in 0..n {
            expected.insert(format!("key:{i}"), format!("value:{i}"));
        }
        c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
        assert!(c.wait_closed(Duration::from_secs(10)));
    }
    let srv = start_in(&cinnabar_bin(), data.path(), &[]);
    let mut c = srv.conn();
    assert_eq!(c.call(&["DBSIZE"]).as_int(), Some(n as i64 + 2));
    for (k, v) in expected.iter().step_by(13) {
        assert_eq!(s(&c.call(&["GET", k])), *v, "{k}");
    }
    assert_eq!(c.call(&["EXISTS", "new:1"]).as_int(), Some(0));
    assert_eq!(c.call(&["HLEN", "h"]).as_int(), Some(1));
    assert_eq!(c.call(&["LLEN", "l"]).as_int(), Some(1));
}

#[test]
fn shutdown_saves_with_save_points_and_nosave_does_not() {
    let data = cinnabar_testkit::TempDir::new("persist-shut").unwrap();
    {
        let mut srv = start_in(&cinnabar_bin(), data.path(), &["--save", "3600 1"]);
        let mut c = srv.conn();
        c.call(&["SET", "k", "v"]);
        c.send_cmd(&["SHUTDOWN"]);
        let _ = c.read_reply();
        srv.stop();
    }
    {
        let mut srv = start_in(&cinnabar_bin(), data.path(), &["--save", "3600 1"]);
        let mut c = srv.conn();
        assert_eq!(s(&c.call(&["GET", "k"])), "v");
        c.call(&["SET", "k", "w"]);
        c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
        let _ = c.read_reply();
        srv.stop();
    }
    let srv = start_in(&cinnabar_bin(), data.path(), &[]);
    let mut c = srv.conn();
    assert_eq!(s(&c.call(&["GET", "k"])), "v");
}

#[test]
fn failed_bgsave_gives_misconf_until_a_save_succeeds() {
    let data = cinnabar_testkit::TempDir::new("persist-misconf").unwrap();
    let sub = data.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let srv = start_in(&cinnabar_bin(), &sub, &["--save", "3600 1"]);
    let mut c = srv.conn();
    c.call(&["SET", "k", "v"]);
    // A directory where the file should go makes the final rename fail.
    std::fs::create_dir(sub.join("dump.rdb")).unwrap();
    let r = c.call(&["BGSAVE"]);
    assert!(r.is_error() || s(&r).starts_with("Background"), "{r:?}");
    wait_bgsave(&mut c);
    assert_eq!(
        c.info_field("rdb_last_bgsave_status").as_deref(),
        Some("err")
    );
    let r = c.call(&["SET", "k", "w"]);
    assert!(s(&r).starts_with("MISCONF"), "{r:?}");
    assert_eq!(s(&c.call(&["GET", "k"])), "v", "reads go on");
    // The failed save left no temp file behind.
    let leftovers: Vec<_> = std::fs::read_dir(&sub)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir(sub.join("dump.rdb")).unwrap();
    assert_eq!(s(&c.call(&["BGSAVE"])), "Background saving started");
    wait_bgsave(&mut c);
    assert_eq!(s(&c.call(&["SET", "k", "w"])), "OK");
}

#[test]
fn rdb_files_exchange_with_real_redis() {
    if !have_redis() {
        loud_note("redis-server not installed: RDB interop with real Redis not checked");
        return;
    }
    // Ours → real Redis.
    let ours = cinnabar_testkit::TempDir::new("persist-ours").unwrap();
    let before;
    let digest;
    {
        let srv = start_in(&cinnabar_bin(), ours.path(), &[]);
        let mut c = srv.conn();
        populate(&mut c);
        before = picture(&mut c);
        digest = s(&c.call(&["DEBUG", "DIGEST"]));
        assert_eq!(digest.len(), 40);
        assert_ne!(digest, "0".repeat(40));
        assert_eq!(s(&c.call(&["SAVE"])), "OK");
    }
    let check = std::process::Command::new("redis-check-rdb")
        .arg(ours.path().join("dump.rdb"))
        .output();
    if let Ok(out) = check {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "redis-check-rdb: {text}");
        assert!(text.contains("RDB looks OK"), "{text}");
    }
    {
        let srv = start_in(&redis_bin(), ours.path(), &[]);
        let mut c = srv.conn();
        assert_eq!(picture(&mut c), before, "real Redis loaded our file");
        // Redis's own digest of what it loaded equals ours of what we saved.
        assert_eq!(s(&c.call(&["DEBUG", "DIGEST"])), digest);
        // Real Redis → ours.
        c.call(&["SELECT", "7"]);
        c.call(&["SET", "from-redis", "yes"]);
        assert_eq!(s(&c.call(&["SAVE"])), "OK");
    }
    let srv = start_in(&cinnabar_bin(), ours.path(), &[]);
    let mut c = srv.conn();
    c.call(&["SELECT", "7"]);
    assert_eq!(s(&c.call(&["GET", "from-redis"])), "yes");
    c.call(&["DEL", "from-redis"]);
    assert_eq!(s(&c.call(&["DEBUG", "DIGEST"])), digest);
    c.call(&["SET", "from-redis", "yes"]);
    c.call(&["SELECT", "0"]);
    let mut after = picture(&mut c);
    assert!(after.remove(&(7, "from-redis".to_string())).is_some());
    assert_eq!(after, before, "we loaded real Redis's file");
}

/// Reads one diskless-framed RDB (`$EOF:<40 chars>\r\n ... <40 chars>`) from `r`.
fn read_eof_framed(r: &mut impl std::io::Read) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        r.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("$EOF:"), "{head:?}");
    let mark = head.as_bytes()[5..head.len() - 2].to_vec();
    assert_eq!(mark.len(), 40);
    let mut body = Vec::new();
    while !body.ends_with(&mark) {
        r.read_exact(&mut b).unwrap();
        body.push(b[0]);
    }
    body.truncate(body.len() - 40);
    body
}

/// Loads `rdb` into a fresh Cinnabar and returns what it holds.
fn picture_of_rdb(rdb: &[u8]) -> BTreeMap<(usize, String), String> {
    let dir = cinnabar_testkit::TempDir::new("persist-load").unwrap();
    std::fs::write(dir.path().join("dump.rdb"), rdb).unwrap();
    let srv = start_in(&cinnabar_bin(), dir.path(), &[]);
    let mut c = srv.conn();
    picture(&mut c)
}

#[test]
fn pipesave_streams_a_snapshot_into_the_command() {
    let dir = cinnabar_testkit::TempDir::new("persist-pipe").unwrap();
    let out = dir.path().join("piped.rdb");
    let cmd = format!("cat > {}", out.display());
    let srv = start_in(&cinnabar_bin(), dir.path(), &["--pipesave-command", &cmd]);
    let mut c = srv.conn();
    assert_eq!(
        c.info_field("pipesave_last_status").as_deref(),
        Some("none")
    );
    populate(&mut c);
    let before = picture(&mut c);
    assert_eq!(s(&c.call(&["PIPESAVE"])), "Background pipe save started");
    let t0 = Instant::now();
    while c.info_field("pipesave_in_progress").as_deref() != Some("0") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "PIPESAVE did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.info_field("pipesave_last_status").as_deref(), Some("ok"));
    assert_eq!(c.info_field("pipesave_saves").as_deref(), Some("1"));
    // Nothing was staged in the server's directory.
    assert!(!dir.path().join("dump.rdb").exists());
    let rdb = std::fs::read(&out).unwrap();
    assert_eq!(picture_of_rdb(&rdb), before);
    // Not a runtime knob.
    let r = c.call(&["CONFIG", "SET", "pipesave-command", "true"]);
    assert!(r.is_error(), "{r:?}");
    // A failing command is reported.
    drop(c);
    drop(srv);
    let srv = start_in(
        &cinnabar_bin(),
        dir.path(),
        &["--pipesave-command", "exit 3"],
    );
    let mut c = srv.conn();
    c.call(&["SET", "a", "b"]);
    c.call(&["PIPESAVE"]);
    let t0 = Instant::now();
    while c.info_field("pipesave_last_status").as_deref() == Some("none")
        || c.info_field("pipesave_in_progress").as_deref() != Some("0")
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.info_field("pipesave_last_status").as_deref(), Some("err"));
    assert_eq!(s(&c.call(&["PING"])), "PONG");
}

#[test]
fn dumpsave_sends_the_rdb_in_band() {
    let dir = cinnabar_testkit::TempDir::new("persist-dumpsave").unwrap();
    let srv = start_in(&cinnabar_bin(), dir.path(), &[]);
    let mut c = srv.conn();
    populate(&mut c);
    let before = picture(&mut c);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    std::io::Write::write_all(&mut raw, b"DUMPSAVE\r\nPING\r\n").unwrap();
    let rdb = read_eof_framed(&mut raw);
    assert!(rdb.starts_with(b"REDIS0010"));
    // The connection goes on: the pipelined PING is answered after the snapshot.
    let mut pong = [0u8; 7];
    std::io::Read::read_exact(&mut raw, &mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    assert!(!dir.path().join("dump.rdb").exists());
    assert_eq!(picture_of_rdb(&rdb), before);
    if have_redis() {
        // real Redis loads it, and redis-cli --rdb pulls the same data.
        let rdir = cinnabar_testkit::TempDir::new("persist-dumpsave-redis").unwrap();
        std::fs::write(rdir.path().join("dump.rdb"), &rdb).unwrap();
        let r = start_in(&redis_bin(), rdir.path(), &[]);
        assert_eq!(
            picture(&mut r.conn()),
            before,
            "real Redis loaded the DUMPSAVE file"
        );
        let pulled = rdir.path().join("pulled.rdb");
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &srv.port().to_string(), "--rdb"])
            .arg(&pulled)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rdb2 = std::fs::read(&pulled).unwrap();
        assert_eq!(picture_of_rdb(&rdb2), before);
        assert_eq!(s(&c.call(&["PING"])), "PONG");
    }
}

#[test]
fn migrate_moves_and_copies_keys_to_another_server() {
    let a = cinnabar_testkit::TempDir::new("persist-migrate-a").unwrap();
    let b = cinnabar_testkit::TempDir::new("persist-migrate-b").unwrap();
    let src = start_in(&cinnabar_bin(), a.path(), &[]);
    let bin = if have_redis() {
        redis_bin()
    } else {
        cinnabar_bin()
    };
    let dst = start_in(&bin, b.path(), &[]);
    let (mut c, mut d) = (src.conn(), dst.conn());
    let port = dst.port().to_string();
    c.call(&["RPUSH", "list", "a", "b", "c"]);
    c.call(&["SET", "key", "v", "EX", "100"]);
    assert_eq!(
        s(&c.call(&["MIGRATE", "127.0.0.1", &port, "key", "9", "5000"])),
        "OK"
    );
    assert_eq!(c.call(&["EXISTS", "key"]).as_int(), Some(0));
    assert_eq!(c.info_field("migrate_cached_sockets").as_deref(), Some("1"));
    d.call(&["SELECT", "9"]);
    assert_eq!(s(&d.call(&["GET", "key"])), "v");
    assert!(d.call(&["PTTL", "key"]).as_int().unwrap() > 90_000);
    assert_eq!(
        s(&c.call(&["MIGRATE", "127.0.0.1", &port, "list", "9", "5000", "COPY"])),
        "OK"
    );
    let e = c.call(&["MIGRATE", "127.0.0.1", &port, "list", "9", "5000", "COPY"]);
    assert!(
        s(&e).starts_with("ERR Target instance replied with error: BUSYKEY"),
        "{e:?}"
    );
    let r = c.call(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "9",
        "5000",
        "REPLACE",
        "KEYS",
        "nokey",
        "list",
    ]);
    assert_eq!(s(&r), "OK");
    assert_eq!(c.call(&["EXISTS", "list"]).as_int(), Some(0));
    assert_eq!(s(&d.call(&["LINDEX", "list", "2"])), "c");
    assert_eq!(
        s(&c.call(&["MIGRATE", "127.0.0.1", &port, "nokey", "9", "5000"])),
        "NOKEY"
    );
    let e = c.call(&["MIGRATE", "127.0.0.1", "1", "nokey2", "9", "100"]);
    assert_eq!(s(&e), "NOKEY");
}

#[test]
fn a_bgsave_right_after_one_stopped_by_flushall_completes() {
    let data = cinnabar_testkit::TempDir::new("persist-flushall-bg").unwrap();
    let srv = start_in(
        &cinnabar_bin(),
        data.path(),
        &["--save", "", "--rdb-key-save-delay", "1000"],
    );
    let mut c = srv.conn();
    c.call(&["DEBUG", "POPULATE", "3000", "key"]);
    assert_eq!(s(&c.call(&["BGSAVE"])), "Background saving started");
    c.call(&["FLUSHALL"]);
    assert_eq!(c.info_field("rdb_bgsave_in_progress").as_deref(), Some("0"));
    // The stopped job is still winding down when the next one starts: it must not end it.
    c.call(&["SET", "x", "xx"]);
    c.call(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    assert_eq!(s(&c.call(&["BGSAVE"])), "Background saving started");
    wait_bgsave(&mut c);
    assert_eq!(
        c.info_field("rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    assert_eq!(
        c.info_field("rdb_changes_since_last_save").as_deref(),
        Some("0")
    );
}

#[test]
fn key_load_delay_slows_loading_while_clients_get_loading() {
    let data = cinnabar_testkit::TempDir::new("persist-key-load-delay").unwrap();
    {
        let srv = start_in(&cinnabar_bin(), data.path(), &[]);
        let mut c = srv.conn();
        c.call(&["DEBUG", "POPULATE", "500", "key"]);
        assert_eq!(s(&c.call(&["SAVE"])), "OK");
        c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
        assert!(c.wait_closed(Duration::from_secs(10)));
    }
    // 2 ms per key: about a second of loading.
    let d = data.path().display().to_string();
    let srv = Server::start(
        &cinnabar_bin(),
        &["--dir", d.as_str(), "--key-load-delay", "2000"],
    );
    let mut c = srv.conn();
    assert_eq!(c.info_field("loading").as_deref(), Some("1"));
    let r = c.call(&["GET", "key:1"]);
    assert!(s(&r).starts_with("LOADING"), "{r:?}");
    let t = Instant::now();
    while c.info_field("loading").as_deref() != Some("0") {
        assert!(t.elapsed() < Duration::from_secs(30), "still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.call(&["DBSIZE"]).as_int(), Some(500));
}
