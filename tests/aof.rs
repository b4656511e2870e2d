//! The append-only file across processes: `appendfsync always` keeps every acknowledged write
//! through `kill -9` (20 trials); a full disk under `appendfsync everysec` turns writes into
//! -MISCONF while reads go on, and the server resumes by itself when space returns with nothing
//! acknowledged lost; AOF files exchanged both ways with real redis-server 7.0.15.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, have_redis, loud_note, redis_bin, Conn, Reply, Server};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn start_in(bin: &Path, dir: &Path, extra: &[&str]) -> Server {
    Server::start_in_dir(bin, dir, extra)
}

fn s(r: &Reply) -> String {
    r.as_str().unwrap_or_default()
}

fn kill9(srv: &Server) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &srv.pid().to_string()])
        .status();
    let t0 = Instant::now();
    while srv.is_alive() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_9_under_appendfsync_always_loses_no_acknowledged_write() {
    let dir = cinnabar_testkit::TempDir::new("aof-kill9").unwrap();
    let opts = ["--appendonly", "yes", "--appendfsync", "always"];
    // Acknowledged pushes per writer, over all trials.
    let writers = 3;
    let mut acked = vec![0u64; writers];
    for trial in 0..20 {
        let srv = start_in(&cinnabar_bin(), dir.path(), &opts);
        {
            // Everything acknowledged before is there, in order.
            let mut c = srv.conn();
            for (w, slot) in acked.iter_mut().enumerate() {
                let n = *slot;
                let len = c.call(&["LLEN", &format!("list{w}")]).as_int().unwrap();
                assert!(
                    len as u64 >= n,
                    "trial {trial}: list{w} has {len} elements, {n} were acknowledged\n{}",
                    srv.log_tail(30)
                );
                if n > 0 {
                    let last = c.call(&["LINDEX", &format!("list{w}"), &(n - 1).to_string()]);
                    assert_eq!(s(&last), (n - 1).to_string(), "trial {trial}");
                }
                // Continue from what the file holds (a write may have landed unacknowledged).
                *slot = len as u64;
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for (w, start) in acked.iter().copied().enumerate() {
            let mut c = srv.conn();
            let stop = stop.clone();
            handles.push(std::thread::spawn(move || {
                let mut next = start;
                while !stop.load(Ordering::Relaxed) {
                    c.send_cmd(&["RPUSH", &format!("list{w}"), &next.to_string()]);
                    match c.read_reply() {
                        Ok(Reply::Int(_)) => next += 1,
                        _ => break,
                    }
                }
                next
            }));
        }
        std::thread::sleep(Duration::from_millis(50 + (trial as u64 * 37) % 200));
        kill9(&srv);
        stop.store(true, Ordering::Relaxed);
        for (w, h) in handles.into_iter().enumerate() {
            acked[w] = h.join().unwrap();
        }
        drop(srv);
    }
    assert!(acked.iter().sum::<u64>() > 100, "too few writes: {acked:?}");
}

/// Mounts a tmpfs of `size` at `path` (we run as root); None when mounting is not possible.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn full_disk_gives_misconf_and_recovers_by_itself() {
    let dir = cinnabar_testkit::TempDir::new("aof-enospc").unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let Some(fs) = Tmpfs::mount(&mnt, "4m") else {
        loud_note("cannot mount a tmpfs here: the full-disk test did not run");
        return;
    };
    let srv = start_in(
        &cinnabar_bin(),
        &mnt,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
        ],
    );
    let mut c = srv.conn();
    // A filler file the test can delete to give the space back.
    let filler = mnt.join("filler");
    let t0 = Instant::now();
    let mut n = 0u64;
    let value = "v".repeat(1000);
    // Fill the disk: write until the server refuses with -MISCONF.
    let misconf = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never refused a write"
        );
        let r = c.call(&["SET", &format!("key:{n}"), &value]);
        match r {
            Reply::Status(_) => n += 1,
            Reply::Error(e) => break e,
            other => panic!("{other:?}"),
        }
        if n == 1000 {
            // Take most of what is left with a filler file.
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "dd if=/dev/zero of={} bs=64k 2>/dev/null",
                    filler.display()
                ))
                .status();
        }
    };
    assert!(misconf.starts_with("MISCONF"), "{misconf}");
    let acked = n;
    // Reads go on.
    assert_eq!(s(&c.call(&["GET", "key:0"])), value);
    assert_eq!(c.call(&["DBSIZE"]).as_int(), Some(acked as i64));
    assert_eq!(
        c.info_field("aof_last_write_status").as_deref(),
        Some("err")
    );
    // Space comes back: the server resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let t0 = Instant::now();
    loop {
        let r = c.call(&["SET", "after", "1"]);
        if !r.is_error() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "did not recover: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.info_field("aof_last_write_status").as_deref(), Some("ok"));
    // Nothing acknowledged was lost, and the file loads whole.
    c.send_cmd(&["SHUTDOWN"]);
    assert!(c.wait_closed(Duration::from_secs(10)));
    drop(c);
    drop(srv);
    let srv = start_in(
        &cinnabar_bin(),
        &mnt,
        &["--appendonly", "yes", "--save", ""],
    );
    let mut c = srv.conn();
    assert_eq!(c.call(&["DBSIZE"]).as_int(), Some(acked as i64 + 1));
    for i in (0..acked).step_by(97) {
        assert_eq!(s(&c.call(&["GET", &format!("key:{i}")])), value);
    }
    drop(c);
    drop(srv);
    drop(fs);
}

fn populate(c: &mut Conn) {
    c.call(&["SET", "str", "hello"]);
    c.call(&["SET", "ttl", "x", "EX", "1000"]);
    c.call(&["RPUSH", "list", "a", "b", "c"]);
    c.call(&["SADD", "set", "1", "2", "x"]);
    c.call(&["ZADD", "zset", "1.5", "a", "2", "b"]);
    c.call(&["HSET", "hash", "f", "v", "g", "1"]);
    c.call(&["INCRBYFLOAT", "float", "1.25"]);
    c.call(&["SELECT", "5"]);
    c.call(&["SET", "in5", "yes"]);
    c.call(&["SELECT", "0"]);
}

#[test]
fn aof_files_exchange_with_real_redis() {
    if !have_redis() {
        loud_note("redis-server not installed: AOF interop with real Redis not checked");
        return;
    }
    for preamble in ["yes", "no"] {
        let dir = cinnabar_testkit::TempDir::new("aof-interop").unwrap();
        let opts = ["--appendonly", "yes", "--aof-use-rdb-preamble", preamble];
        let digest;
        {
            let srv = start_in(&cinnabar_bin(), dir.path(), &opts);
            let mut c = srv.conn();
            populate(&mut c);
            // A rewrite, then more writes into the new incr file.
            assert!(s(&c.call(&["BGREWRITEAOF"])).contains("rewriting"));
            wait_rewrite_done(&mut c);
            c.call(&["RPUSH", "list", "d"]);
            c.call(&["EXPIRE", "str", "5000"]);
            digest = s(&c.call(&["DEBUG", "DIGEST"]));
        }
        let check = std::process::Command::new("redis-check-aof")
            .arg(dir.path().join("appendonlydir/appendonly.aof.manifest"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "redis-check-aof: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        {
            let srv = start_in(&redis_bin(), dir.path(), &opts);
            let mut c = srv.conn();
            assert_eq!(
                s(&c.call(&["DEBUG", "DIGEST"])),
                digest,
                "real Redis loaded our AOF"
            );
            c.call(&["SET", "from-redis", "1"]);
            assert!(s(&c.call(&["BGREWRITEAOF"])).contains("rewriting"));
            wait_rewrite_done(&mut c);
            c.call(&["DEL", "from-redis"]);
        }
        let srv = start_in(&cinnabar_bin(), dir.path(), &opts);
        let mut c = srv.conn();
        assert_eq!(
            s(&c.call(&["DEBUG", "DIGEST"])),
            digest,
            "we loaded real Redis's AOF"
        );
    }
}

fn wait_rewrite_done(c: &mut Conn) {
    let t0 = Instant::now();
    while c.info_field("aof_rewrite_in_progress").as_deref() != Some("0")
        || c.info_field("aof_rewrite_scheduled").as_deref() != Some("0")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "rewrite still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap_or_default()
}

fn resp(args: &[&str]) -> Vec<u8> {
    cinnabar_testkit::encode_command(args)
}

/// Runs the server on a directory it must refuse at startup; returns its output.
fn start_must_fail(dir: &Path) -> String {
    let port = cinnabar_testkit::free_port().unwrap().to_string();
    let mut child = std::process::Command::new(cinnabar_bin())
        .args(["--port", &port, "--appendonly", "yes", "--dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the server started on a bad AOF");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Redis 7 upgrades a single `appendonly.aof` of Redis < 7 into the AOF directory: the manifest
/// is written first, then the file moves; an upgrade interrupted in between is continued.
#[test]
fn old_single_file_aof_is_upgraded_and_an_interrupted_upgrade_continued() {
    for interrupted in [false, true] {
        let dir = cinnabar_testkit::TempDir::new("aof-upgrade").unwrap();
        let mut old = resp(&["SET", "k1", "v1"]);
        old.extend(resp(&["SET", "k2", "v2"]));
        std::fs::write(dir.path().join("appendonly.aof"), old).unwrap();
        if interrupted {
            std::fs::create_dir_all(dir.path().join("appendonlydir")).unwrap();
            std::fs::write(
                dir.path().join("appendonlydir/appendonly.aof.manifest"),
                "file appendonly.aof seq 1 type b\n",
            )
            .unwrap();
        }
        let srv = start_in(&cinnabar_bin(), dir.path(), &["--appendonly", "yes"]);
        let mut c = srv.conn();
        assert_eq!(s(&c.call(&["GET", "k2"])), "v2", "{}", srv.log_tail(20));
        assert!(!dir.path().join("appendonly.aof").exists());
        assert!(dir.path().join("appendonlydir/appendonly.aof").exists());
        assert_eq!(
            manifest(dir.path()),
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert!(srv.log().contains(
            "Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."
        ));
        c.call(&["SET", "k3", "v3"]);
        assert!(s(&c.call(&["BGREWRITEAOF"])).contains("started"));
        wait_rewrite_done(&mut c);
        assert_eq!(
            manifest(dir.path()),
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        assert!(!dir.path().join("appendonlydir/appendonly.aof").exists());
        let d1 = s(&c.call(&["DEBUG", "DIGEST"]));
        assert_eq!(s(&c.call(&["DEBUG", "LOADAOF"])), "OK");
        assert_eq!(s(&c.call(&["DEBUG", "DIGEST"])), d1);
    }
}

/// A file the manifest lists must exist: startup stops with Redis's one line about it.
#[test]
fn a_missing_aof_file_stops_startup() {
    let dir = cinnabar_testkit::TempDir::new("aof-missing").unwrap();
    std::fs::create_dir_all(dir.path().join("appendonlydir")).unwrap();
    std::fs::write(
        dir.path().join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof seq 1 type b\n",
    )
    .unwrap();
    let log = start_must_fail(dir.path());
    let hits: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("appendonly.aof") && l.contains("No such file or directory"))
        .collect();
    assert_eq!(hits.len(), 1, "{log}");
    assert!(
        hits[0].ends_with(
            "Unable to obtain the AOF file appendonly.aof length. stat: No such file or directory"
        ),
        "{log}"
    );
}

/// With the AOF off, BGREWRITEAOF writes only a new base (the incr files become history) and
/// DEBUG LOADAOF loads what the manifest on disk says; turning the AOF on again writes the
/// commands of the first rewrite into a temporary incr file that becomes the next incr file.
#[test]
fn rewrite_with_the_aof_off_then_on_again() {
    let dir = cinnabar_testkit::TempDir::new("aof-off-on").unwrap();
    let srv = start_in(&cinnabar_bin(), dir.path(), &["--appendonly", "yes"]);
    let mut c = srv.conn();
    c.call(&["SET", "a", "1"]);
    assert_eq!(s(&c.call(&["CONFIG", "SET", "appendonly", "no"])), "OK");
    assert!(s(&c.call(&["BGREWRITEAOF"])).contains("started"));
    wait_rewrite_done(&mut c);
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.2.base.rdb seq 2 type b\n"
    );
    assert!(!dir
        .path()
        .join("appendonlydir/appendonly.aof.1.incr.aof")
        .exists());
    // Not in the AOF: lost by DEBUG LOADAOF.
    c.call(&["SET", "b", "2"]);
    assert_eq!(s(&c.call(&["DEBUG", "LOADAOF"])), "OK");
    assert_eq!(c.call(&["DBSIZE"]).as_int(), Some(1));
    assert_eq!(s(&c.call(&["CONFIG", "SET", "appendonly", "yes"])), "OK");
    wait_rewrite_done(&mut c);
    assert_eq!(c.info_field("aof_enabled").as_deref(), Some("1"));
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert!(!dir
        .path()
        .join("appendonlydir/temp-appendonly.aof.incr")
        .exists());
    assert!(srv.log().contains(
        "Successfully renamed the temporary AOF incr file temp-appendonly.aof.incr into appendonly.aof.1.incr.aof"
    ));
    c.call(&["SET", "c", "3"]);
    let d1 = s(&c.call(&["DEBUG", "DIGEST"]));
    drop(c);
    drop(srv);
    let srv = start_in(&cinnabar_bin(), dir.path(), &["--appendonly", "yes"]);
    let mut c = srv.conn();
    assert_eq!(s(&c.call(&["DEBUG", "DIGEST"])), d1);
}

/// `aof-disable-auto-gc yes` keeps the history files listed (most recent first) and on disk;
/// `no` deletes them at once.
#[test]
fn aof_disable_auto_gc_keeps_history_until_turned_off() {
    let dir = cinnabar_testkit::TempDir::new("aof-gc").unwrap();
    let srv = start_in(&cinnabar_bin(), dir.path(), &["--appendonly", "yes"]);
    let mut c = srv.conn();
    c.call(&["CONFIG", "SET", "aof-disable-auto-gc", "yes"]);
    for _ in 0..2 {
        c.call(&["INCR", "n"]);
        assert!(s(&c.call(&["BGREWRITEAOF"])).contains("started"));
        wait_rewrite_done(&mut c);
    }
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.3.base.rdb seq 3 type b\n\
         file appendonly.aof.2.incr.aof seq 2 type h\n\
         file appendonly.aof.2.base.rdb seq 2 type h\n\
         file appendonly.aof.1.incr.aof seq 1 type h\n\
         file appendonly.aof.1.base.rdb seq 1 type h\n\
         file appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    assert!(dir
        .path()
        .join("appendonlydir/appendonly.aof.1.base.rdb")
        .exists());
    c.call(&["CONFIG", "SET", "aof-disable-auto-gc", "no"]);
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    for f in ["1.base.rdb", "2.base.rdb", "1.incr.aof", "2.incr.aof"] {
        assert!(!dir
            .path()
            .join(format!("appendonlydir/appendonly.aof.{f}"))
            .exists());
    }
}

/// Real redis-server loads (and redis-check-aof accepts) what the server writes with
/// timestamps, a MULTI/EXEC, other databases and a command-format base (no RDB preamble).
#[test]
fn redis_loads_timestamped_aof_with_a_command_base() {
    if !have_redis() {
        loud_note("redis-server not installed: AOF interop with real Redis not checked");
        return;
    }
    let dir = cinnabar_testkit::TempDir::new("aof-ts-interop").unwrap();
    let opts = [
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--aof-timestamp-enabled",
        "yes",
    ];
    {
        let srv = start_in(&cinnabar_bin(), dir.path(), &opts);
        let mut c = srv.conn();
        c.call(&["SET", "a", "1"]);
        c.call(&["MULTI"]);
        c.call(&["INCR", "n"]);
        c.call(&["INCR", "n"]);
        c.call(&["EXEC"]);
        assert!(s(&c.call(&["BGREWRITEAOF"])).contains("started"));
        wait_rewrite_done(&mut c);
        c.call(&["SELECT", "3"]);
        c.call(&["SET", "db3", "x"]);
        c.call(&["SELECT", "0"]);
        c.call(&["RPUSH", "l", "p", "q"]);
    }
    let base = std::fs::read(dir.path().join("appendonlydir/appendonly.aof.2.base.aof")).unwrap();
    assert!(
        base.starts_with(b"#TS:"),
        "the base starts with a timestamp"
    );
    let check = std::process::Command::new("redis-check-aof")
        .arg(dir.path().join("appendonlydir/appendonly.aof.manifest"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check.status.success() && text.contains("is valid"),
        "{text}"
    );
    let srv = start_in(&redis_bin(), dir.path(), &opts);
    let mut c = srv.conn();
    assert_eq!(s(&c.call(&["GET", "a"])), "1");
    assert_eq!(s(&c.call(&["GET", "n"])), "2");
    assert_eq!(c.call(&["LLEN", "l"]).as_int(), Some(2));
    c.call(&["SELECT", "3"]);
    assert_eq!(s(&c.call(&["GET", "db3"])), "x");
    assert!(
        srv.log()
            .contains("DB loaded from base file appendonly.aof.2.base.aof"),
        "{}",
        srv.log()
    );
}
