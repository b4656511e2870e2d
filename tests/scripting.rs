//! Scripting across processes: function libraries survive a restart (RDB), DEBUG RELOAD, an
//! AOF rewrite with and without the RDB preamble, and a replica's full sync; a script's writes
//! reach a replica as their effects.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, Conn, Reply, Server};
use std::time::{Duration, Instant};

const LIB: &str = "#!lua name=keep\nredis.register_function('kf', function(keys, args) return redis.call('set', keys[1], args[1]) end)\nredis.register_function{function_name='kr', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";

fn s(c: &mut Conn, args: &[&str]) -> String {
    let r = c.call(args);
    r.as_str().unwrap_or_else(|| format!("{r:?}"))
}

fn check_lib(c: &mut Conn) {
    assert_eq!(s(c, &["FCALL", "kf", "1", "k", "v1"]), "OK");
    assert_eq!(s(c, &["FCALL_RO", "kr", "1", "k"]), "v1");
    assert_eq!(c.info_field("number_of_libraries").as_deref(), Some("1"));
    assert_eq!(c.info_field("number_of_functions").as_deref(), Some("2"));
}

#[test]
fn functions_survive_restart_and_reload() {
    let data = cinnabar_testkit::TempDir::new("scripting-rdb").unwrap();
    {
        let srv = Server::start_in_dir(&cinnabar_bin(), data.path(), &[]);
        let mut c = srv.conn();
        assert_eq!(s(&mut c, &["FUNCTION", "LOAD", LIB]), "keep");
        check_lib(&mut c);
        assert_eq!(s(&mut c, &["SAVE"]), "OK");
    }
    let srv = Server::start_in_dir(&cinnabar_bin(), data.path(), &[]);
    let mut c = srv.conn();
    check_lib(&mut c);
    // DEBUG RELOAD replaces the libraries with the saved ones.
    assert_eq!(s(&mut c, &["DEBUG", "RELOAD"]), "OK");
    check_lib(&mut c);
    assert_eq!(s(&mut c, &["FUNCTION", "FLUSH"]), "OK");
    assert_eq!(s(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]), "OK");
    check_lib(&mut c);
}

#[test]
fn functions_survive_aof_rewrite() {
    for preamble in ["yes", "no"] {
        let data = cinnabar_testkit::TempDir::new("scripting-aof").unwrap();
        let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", preamble];
        {
            let srv = Server::start_in_dir(&cinnabar_bin(), data.path(), &args);
            let mut c = srv.conn();
            assert_eq!(s(&mut c, &["FUNCTION", "LOAD", LIB]), "keep");
            assert_eq!(
                c.call(&[
                    "EVAL",
                    "redis.call('set','e1','x') redis.call('incr','e2')",
                    "0"
                ]),
                Reply::Nil
            );
            let _ = c.call(&["BGREWRITEAOF"]);
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.info_field("aof_rewrite_in_progress").as_deref() != Some("0")
                || c.info_field("aof_rewrite_scheduled").as_deref() != Some("0")
            {
                assert!(Instant::now() < deadline, "rewrite did not finish");
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(s(&mut c, &["SET", "after", "1"]), "OK");
        }
        let srv = Server::start_in_dir(&cinnabar_bin(), data.path(), &args);
        let mut c = srv.conn();
        check_lib(&mut c);
        assert_eq!(s(&mut c, &["GET", "e1"]), "x");
        assert_eq!(s(&mut c, &["GET", "e2"]), "1");
        assert_eq!(s(&mut c, &["GET", "after"]), "1");
    }
}

#[test]
fn replica_gets_functions_and_script_effects() {
    let master = Server::cinnabar(&[]);
    let replica = Server::cinnabar(&[]);
    let mut m = master.conn();
    let mut r = replica.conn();
    assert_eq!(s(&mut m, &["FUNCTION", "LOAD", LIB]), "keep");
    let port = master.port().to_string();
    assert_eq!(s(&mut r, &["REPLICAOF", "127.0.0.1", &port]), "OK");
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.info_field("master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The library came with the full sync; scripts replicate as effects.
    let _ = m.call(&[
        "EVAL",
        "redis.call('set','a','1') redis.call('rpush','l','x','y')",
        "0",
    ]);
    assert_eq!(s(&mut m, &["FCALL", "kf", "1", "b", "2"]), "OK");
    assert_eq!(s(&mut m, &["SET", "__end__", "1"]), "OK");
    while r.call(&["GET", "__end__"]).as_str().as_deref() != Some("1") {
        assert!(Instant::now() < deadline, "stream did not arrive");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s(&mut r, &["GET", "a"]), "1");
    assert_eq!(r.call(&["LLEN", "l"]), Reply::Int(2));
    assert_eq!(s(&mut r, &["GET", "b"]), "2");
    assert_eq!(s(&mut r, &["FCALL_RO", "kr", "1", "b"]), "2");
}
