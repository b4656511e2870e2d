//! The harness itself, driven against the reference redis-server.

use cinnabar_testkit::{redis_bin, require_redis, Conn, Reply, Server, TempDir};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn start_ping_log_and_cleanup() {
    require_redis!();
    let dir;
    let pid;
    {
        let s = Server::redis(&[]);
        dir = s.dir().to_path_buf();
        pid = s.pid();
        assert!(dir.is_dir());
        let mut c = s.conn();
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
        assert_eq!(
            c.call(&["CONFIG", "GET", "dir"])
                .as_array()
                .map(|a| a.len()),
            Some(2)
        );
        assert_eq!(
            c.call(&["CONFIG", "GET", "save"]),
            Reply::Array(vec![Reply::Bulk(b"save".to_vec()), Reply::Bulk(Vec::new())])
        );
        assert!(s.wait_for_log("Ready to accept connections", Duration::from_secs(5)));
        assert!(s.rss_bytes().unwrap_or(0) > 0);
        s.assert_alive();
    }
    assert!(!dir.exists(), "temp dir left behind");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process left behind"
    );
}

#[test]
fn config_file_goes_first_and_caller_args_win() {
    require_redis!();
    let tmp = TempDir::new("testkit-conf").expect("tempdir");
    let conf = tmp.path().join("r.conf");
    std::fs::write(&conf, "requirepass secret\n").expect("write conf");
    let conf = conf.to_string_lossy().into_owned();
    let s = Server::redis(&[&conf, "--maxclients", "77"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(c.cmd(&["AUTH", "secret"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$2\r\n77\r\n"
    );
}

#[test]
fn raw_client_framing_against_redis() {
    require_redis!();
    let s = Server::redis(&[]);
    let mut c = s.conn();
    // Pipelined: three replies arrive in one read and come back one at a time.
    c.send_raw(b"PING\r\nECHO \"a\\r\\nb\"\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    assert_eq!(c.read_reply_raw().expect("r1"), b"+PONG\r\n");
    assert_eq!(c.read_reply_raw().expect("r2"), b"$4\r\na\r\nb\r\n");
    assert_eq!(c.read_reply_raw().expect("r3"), b"$0\r\n\r\n");
    assert_eq!(c.line("SET k \"x y\""), Reply::Status("OK".into()));
    assert_eq!(
        c.call(&["MGET", "k", "nope"]).to_string(),
        "[\"x y\", (nil)]"
    );
    // RESP3: maps, doubles, nulls.
    assert!(matches!(c.hello3(), Reply::Map(_)));
    assert_eq!(c.cmd(&["GET", "nope"]), b"_\r\n");
    assert_eq!(
        c.call(&["INCRBYFLOAT", "f", "1.5"]),
        Reply::Bulk(b"1.5".to_vec())
    );
    assert!(matches!(c.call(&["CONFIG", "GET", "port"]), Reply::Map(_)));
    assert_eq!(c.info_field("tcp_port"), Some(s.port().to_string()));
    // Timeouts and closes are errors, not hangs.
    c.set_read_timeout(Duration::from_millis(100));
    let e = c.read_reply_raw().expect_err("nothing to read");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(!c.is_closed());
    c.send_raw(b"QUIT\r\n");
    c.set_read_timeout(Duration::from_secs(5));
    assert_eq!(c.read_reply_raw().expect("quit"), b"+OK\r\n");
    assert!(c.wait_closed(Duration::from_secs(5)));
    assert!(c.is_closed());
    let e = c.read_reply_raw().expect_err("closed");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    let mut c2 = Conn::connect_port(s.port()).expect("reconnect");
    assert_eq!(c2.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn panic_in_log_fails_the_test_unless_allowed() {
    require_redis!();
    let tmp = TempDir::new("testkit-fake").expect("tempdir");
    let script = tmp.path().join("panicky-server");
    let mut f = std::fs::File::create(&script).expect("create");
    writeln!(
        f,
        "#!/bin/sh\necho \"thread 'main' panicked at src/x.rs:1:1:\" >&2\nexec {} \"$@\"",
        redis_bin().display()
    )
    .expect("write");
    drop(f);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let s = Server::start(&script, &[]);
    assert!(s.log().contains("panicked at"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(s)));
    assert!(
        r.is_err(),
        "dropping a server whose log has a panic must fail the test"
    );

    let mut s = Server::start(&script, &[]);
    s.allow_panics();
    drop(s);
}

#[test]
fn died_process_is_reported() {
    require_redis!();
    let s = Server::redis(&[]);
    let mut c = s.conn();
    c.send_raw(b"SHUTDOWN NOSAVE\r\n");
    assert!(c.wait_closed(Duration::from_secs(5)));
    for _ in 0..200 {
        if !s.is_alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!s.is_alive());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.assert_alive()));
    assert!(r.is_err());
}

#[test]
fn missing_binary_is_a_clear_error() {
    let e = Server::try_start(std::path::Path::new("/nonexistent/cinnabar-server"), &[])
        .err()
        .expect("must fail");
    assert!(e.contains("no such binary"), "{e}");
}
