//! Cross-process tests of server behaviour: startup errors, auth, maxclients, live rebind,
//! CLIENT KILL/PAUSE, idle timeout, active expiry, SHUTDOWN.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn misspelled_directive_stops_startup() {
    let dir = std::env::temp_dir().join(format!("cinnabar-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port 7777\nmaxmemroy 10mb\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .arg(&conf)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at line 2"), "{err}");
    assert!(err.contains("maxmemroy"), "{err}");
}

#[test]
fn version_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
        .arg("-v")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("v=7.0.15"));
}

#[test]
fn ping_pipeline_inline() {
    let s = Srv::start(&[]);
    let mut c = s.conn();
    c.send(b"PING\r\nset a 1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
    assert_eq!(c.read(), "+PONG");
    assert_eq!(c.read(), "+OK");
    assert_eq!(c.read(), "$1");
}

#[test]
fn requirepass_and_auth() {
    let s = Srv::start(&["--requirepass", "sekret"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["GET", "x"]), "-NOAUTH Authentication required.");
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(c.cmd(&["AUTH", "sekret"]), "+OK");
    assert_eq!(c.cmd(&["GET", "x"]), "(nil)");
    // Unauthenticated clients get tight protocol limits.
    let mut d = s.conn();
    d.send(b"*20\r\n");
    assert_eq!(
        d.read(),
        "-ERR Protocol error: unauthenticated multibulk length"
    );
}

#[test]
fn maxclients_is_enforced() {
    let s = Srv::start(&["--maxclients", "2"]);
    // Let the server notice that the start-up probe connection closed.
    std::thread::sleep(Duration::from_millis(300));
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["PING"]), "+PONG");
    assert_eq!(b.cmd(&["PING"]), "+PONG");
    let mut c = s.conn();
    assert_eq!(c.read(), "-ERR max number of clients reached");
    drop(c);
    assert!(a.cmd(&["INFO", "stats"]).contains("rejected_connections:1"));
}

#[test]
fn config_set_port_rebinds_live() {
    let s = Srv::start(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), "+OK");
    let newport = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", &newport.to_string()]),
        "+OK"
    );
    // The old connection keeps working.
    assert_eq!(c.cmd(&["GET", "k"]), "$v");
    // New connections go to the new port; the old port is closed.
    let mut d = Conn::new(newport);
    assert_eq!(d.cmd(&["GET", "k"]), "$v");
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        format!("[$port,${newport}]")
    );
}

#[test]
fn config_set_port_in_use_fails_and_keeps_listening() {
    let s = Srv::start(&[]);
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = blocker.local_addr().unwrap().port();
    let mut c = s.conn();
    let r = c.cmd(&["CONFIG", "SET", "port", &busy.to_string()]);
    assert!(r.starts_with("-ERR CONFIG SET failed"), "{r}");
    let mut d = s.conn();
    assert_eq!(d.cmd(&["PING"]), "+PONG");
    // Rebinding to a set that keeps the current address works too.
    assert_eq!(c.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]), "+OK");
    let mut e = s.conn();
    assert_eq!(e.cmd(&["PING"]), "+PONG");
}

#[test]
fn client_kill_by_id() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    let id = b.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':');
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", id]), ":1");
    assert_eq!(b.cmd(&["PING"]), "<closed>");
    assert_eq!(a.cmd(&["PING"]), "+PONG");
}

#[test]
fn client_pause_write_delays_writes_only() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]), "+OK");
    let t = Instant::now();
    assert_eq!(b.cmd(&["GET", "x"]), "(nil)");
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(b.cmd(&["SET", "x", "1"]), "+OK");
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn idle_timeout_closes_clients() {
    let s = Srv::start(&["--timeout", "1"]);
    let mut a = s.conn();
    assert_eq!(a.cmd(&["PING"]), "+PONG");
    std::thread::sleep(Duration::from_millis(2600));
    assert_eq!(a.cmd(&["PING"]), "<closed>");
}

#[test]
fn active_expiry_reclaims_unread_keys() {
    let s = Srv::start(&[]);
    let mut c = s.conn();
    for i in 0..200 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v", "PX", "50"]), "+OK");
    }
    assert_eq!(c.cmd(&["SET", "keep", "v"]), "+OK");
    let t = Instant::now();
    loop {
        // DBSIZE does not touch keys, so only active expiry can shrink it.
        if c.cmd(&["DBSIZE"]) == ":1" {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "keys not reclaimed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.cmd(&["INFO", "stats"]).contains("expired_keys:200"));
}

#[test]
fn shutdown_exits_cleanly() {
    let mut s = Srv::start(&[]);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SHUTDOWN", "NOSAVE"]), "<closed>");
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            assert!(st.success());
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.log().contains("ready to exit"));
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = Srv::start(&[]);
    unsafe { libc_kill(s.child.id() as i32, 15) };
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            assert!(st.success());
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn unixsocket_serves_alongside_tcp_and_survives_a_port_rebind() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let sock = std::env::temp_dir().join(format!("cinnabar-unix-{}.sock", std::process::id()));
    let path = sock.display().to_string();
    let s = Srv::start(&["--unixsocket", &path, "--unixsocketperm", "700"]);
    let ping = |p: &std::path::Path| -> String {
        let mut u = UnixStream::connect(p).expect("connect unix socket");
        u.set_read_timeout(Some(Duration::from_secs(5))).ok();
        u.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 16];
        let n = u.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(ping(&sock), "+PONG\r\n");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    let mut c = s.conn();
    // Redis 7.0 treats unixsocket as immutable at runtime.
    assert!(c
        .cmd(&["CONFIG", "SET", "unixsocket", "/tmp/x.sock"])
        .contains("can't set immutable config"));
    let port = free_port().to_string();
    assert_eq!(c.cmd(&["CONFIG", "SET", "port", &port]), "+OK");
    assert_eq!(ping(&sock), "+PONG\r\n");
    drop(s);
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn config_rewrite_keeps_comments_and_survives_restart() {
    let dir = std::env::temp_dir().join(format!("cinnabar-rewrite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("redis.conf");
    let port = free_port();
    std::fs::write(
        &conf,
        format!(
            "# my settings\nport {port}\nbind 127.0.0.1\n\n# clients\nmaxclients 100\nsave \"\"\ndir {}\n",
            dir.display()
        ),
    )
    .unwrap();
    let start = || {
        let child = Command::new(env!("CARGO_BIN_EXE_cinnabar-server"))
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let mut child = start();
    let mut c = Conn::new(port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "50", "hz", "20"]),
        "+OK"
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), "+OK");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# my settings\n"), "{text}");
    assert!(text.contains("# clients\nmaxclients 50\n"), "{text}");
    assert!(text.contains("\nhz 20\n"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
    let mut child = start();
    let mut c = Conn::new(port);
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxclients"]), "[$maxclients,$50]");
    assert_eq!(c.cmd(&["CONFIG", "GET", "hz"]), "[$hz,$20]");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_fails_exec_when_another_client_writes_or_the_key_expires() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["SET", "k", "1"]), "+OK");
    assert_eq!(a.cmd(&["WATCH", "k"]), "+OK");
    assert_eq!(b.cmd(&["INCR", "k"]), ":2");
    assert_eq!(a.cmd(&["MULTI"]), "+OK");
    assert_eq!(a.cmd(&["SET", "k", "x"]), "+QUEUED");
    assert!(b.cmd(&["CLIENT", "LIST"]).contains("flags=x"));
    assert_eq!(a.cmd(&["EXEC"]), "(nil)");
    assert_eq!(a.cmd(&["GET", "k"]), "$2");
    // Another client's write to an unwatched key, or a no-op write, does not matter.
    assert_eq!(a.cmd(&["WATCH", "k"]), "+OK");
    assert_eq!(b.cmd(&["SET", "other", "1"]), "+OK");
    assert_eq!(b.cmd(&["SET", "k", "9", "NX"]), "(nil)");
    assert_eq!(a.cmd(&["MULTI"]), "+OK");
    assert_eq!(a.cmd(&["GET", "k"]), "+QUEUED");
    assert_eq!(a.cmd(&["EXEC"]), "[$2]");
    // A watched key that expires before EXEC fails it.
    assert_eq!(a.cmd(&["SET", "t", "1", "PX", "50"]), "+OK");
    assert_eq!(a.cmd(&["WATCH", "t"]), "+OK");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(a.cmd(&["MULTI"]), "+OK");
    assert_eq!(a.cmd(&["PING"]), "+QUEUED");
    assert_eq!(a.cmd(&["EXEC"]), "(nil)");
    // SWAPDB touches a key that exists in either database.
    assert_eq!(a.cmd(&["WATCH", "only9"]), "+OK");
    assert_eq!(b.cmd(&["SELECT", "9"]), "+OK");
    assert_eq!(b.cmd(&["SET", "only9", "v"]), "+OK");
    assert_eq!(b.cmd(&["SWAPDB", "0", "9"]), "+OK");
    assert_eq!(a.cmd(&["MULTI"]), "+OK");
    assert_eq!(a.cmd(&["PING"]), "+QUEUED");
    assert_eq!(a.cmd(&["EXEC"]), "(nil)");
}

#[test]
fn big_reply_to_a_slow_reader_is_delivered_while_others_are_served() {
    use std::io::Read;
    let s = Srv::start(&[]);
    let mut a = s.conn();
    assert_eq!(a.cmd(&["SETRANGE", "big", "33554431", "x"]), ":33554432");
    a.send(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    std::thread::sleep(Duration::from_millis(200));
    // The server is not stuck on the full socket.
    let mut b = s.conn();
    assert_eq!(b.cmd(&["PING"]), "+PONG");
    let mut header = String::new();
    std::io::BufRead::read_line(&mut a.r, &mut header).unwrap();
    assert_eq!(header, "$33554432\r\n");
    let mut body = vec![0u8; 33554432 + 2];
    a.r.read_exact(&mut body).unwrap();
    assert_eq!(body[33554431], b'x');
    assert_eq!(a.cmd(&["STRLEN", "big"]), ":33554432");
}

#[test]
fn pubsub_delivers_across_clients_and_drops_a_subscriber_that_never_reads() {
    let s = Srv::start(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["SUBSCRIBE", "news"]), "[$subscribe,$news,:1]");
    assert_eq!(a.cmd(&["PSUBSCRIBE", "n*"]), "[$psubscribe,$n*,:2]");
    assert_eq!(b.cmd(&["PUBLISH", "news", "hi"]), ":2");
    assert_eq!(a.read(), "[$message,$news,$hi]");
    assert_eq!(a.read(), "[$pmessage,$n*,$news,$hi]");
    assert!(b.cmd(&["CLIENT", "LIST"]).contains("flags=P"));
    assert_eq!(b.cmd(&["PUBSUB", "NUMSUB", "news"]), "[$news,:1]");
    // A subscriber that stops reading is disconnected at the pubsub hard limit.
    assert_eq!(
        b.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 256kb 0 0"
        ]),
        "+OK"
    );
    let big = "x".repeat(100_000);
    let mut n = 0;
    for _ in 0..400 {
        let r = b.cmd(&["PUBLISH", "news", &big]);
        if r == ":0" {
            break;
        }
        n += 1;
    }
    assert!(n < 400, "the stuck subscriber was never disconnected");
    assert_eq!(b.cmd(&["PUBSUB", "NUMSUB", "news"]), "[$news,:0]");
}
