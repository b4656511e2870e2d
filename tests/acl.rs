//! ACL across processes, each scenario run against Cinnabar and (when installed) real
//! redis-server with the same assertions: users and rules, NOPERM for commands, keys and
//! channels, ACL LOG, AUTH / HELLO AUTH, requirepass and the default user, clients closed when
//! their user is deleted or loses a channel, CLIENT KILL USER, the aclfile (SAVE/LOAD round
//! trip, all-or-nothing LOAD), `user` lines with CONFIG REWRITE, startup errors, MULTI/EXEC and
//! scripts, the pre-authentication limits.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, have_redis, redis_bin, Conn, Reply, Server, TempDir};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn servers() -> Vec<PathBuf> {
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

fn err(c: &mut Conn, args: &[&str]) -> String {
    let r = c.call(args);
    assert!(r.is_error(), "{args:?}: expected an error, got {r:?}");
    r.as_str().unwrap_or_default()
}

/// A field of a flat key/value reply (GETUSER, ACL LOG entries).
fn field(r: &Reply, name: &str) -> Reply {
    let a = r
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {r:?}"));
    for pair in a.chunks(2) {
        if pair[0].as_str().as_deref() == Some(name) {
            return pair[1].clone();
        }
    }
    panic!("no field {name} in {r:?}");
}

fn closed(c: &mut Conn) -> bool {
    c.set_read_timeout(Duration::from_secs(2));
    match c.try_cmd(&["PING"]) {
        Err(_) => true,
        Ok(b) => b.is_empty(),
    }
}

fn users_and_rules(bin: &Path) {
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    assert_eq!(s(&mut c, &["ACL", "WHOAMI"]), "default");
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "u1"]), "OK");
    let list = c.call(&["ACL", "LIST"]);
    let lines: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            "user default on nopass ~* &* +@all",
            "user u1 off resetchannels -@all"
        ]
    );
    assert_eq!(
        s(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "u2",
                "on",
                ">p1",
                "~a*",
                "%R~b*",
                "&ch",
                "+get",
                "(+set ~x)"
            ]
        ),
        "OK"
    );
    let line = c.call(&["ACL", "LIST"]).as_array().unwrap()[2]
        .as_str()
        .unwrap();
    assert_eq!(line, "user u2 on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~a* %R~b* resetchannels &ch -@all +get (~x resetchannels -@all +set)");
    let gu = c.call(&["ACL", "GETUSER", "u2"]);
    assert_eq!(field(&gu, "commands").as_str().unwrap(), "-@all +get");
    assert_eq!(field(&gu, "keys").as_str().unwrap(), "~a* %R~b*");
    assert_eq!(field(&gu, "channels").as_str().unwrap(), "&ch");
    assert_eq!(field(&gu, "selectors").as_array().unwrap().len(), 1);
    assert!(c.call(&["ACL", "GETUSER", "nobody"]) == Reply::Nil);
    // Rule errors.
    assert_eq!(
        err(&mut c, &["ACL", "SETUSER", "u1", ">x", "<y"]),
        "ERR Error in ACL SETUSER modifier '<y': The password you are trying to remove from the user does not exist"
    );
    assert_eq!(
        err(&mut c, &["ACL", "SETUSER", "u1", "(+get"]),
        "ERR Unmatched parenthesis in acl selector starting at '(+get'."
    );
    assert_eq!(
        err(&mut c, &["ACL", "SETUSER", "u1", "+config|get|x"]),
        "ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported"
    );
    assert_eq!(
        err(&mut c, &["ACL", "SETUSER", "a b"]),
        "ERR Usernames can't contain spaces or null characters"
    );
    assert_eq!(
        err(&mut c, &["ACL", "DELUSER", "default"]),
        "ERR The 'default' user cannot be removed"
    );
    // A failed SETUSER changes nothing.
    let before = c.call(&["ACL", "GETUSER", "u1"]);
    err(&mut c, &["ACL", "SETUSER", "u1", "on", "+nosuchcmd"]);
    assert_eq!(c.call(&["ACL", "GETUSER", "u1"]), before);
    // DRYRUN.
    assert_eq!(s(&mut c, &["ACL", "DRYRUN", "u2", "get", "a"]), "OK");
    assert_eq!(s(&mut c, &["ACL", "DRYRUN", "u2", "get", "b"]), "OK");
    assert_eq!(
        s(&mut c, &["ACL", "DRYRUN", "u2", "set", "b", "1"]),
        "This user has no permissions to access the 'b' key"
    );
    assert_eq!(s(&mut c, &["ACL", "DRYRUN", "u2", "set", "x", "1"]), "OK");
    assert_eq!(
        s(&mut c, &["ACL", "DRYRUN", "u2", "publish", "ch", "m"]),
        "This user has no permissions to run the 'publish' command"
    );
    // NOPERM at the top level, and the log.
    let mut u = srv.conn();
    assert_eq!(s(&mut u, &["AUTH", "u2", "p1"]), "OK");
    assert_eq!(
        err(&mut u, &["ACL", "WHOAMI"]),
        "NOPERM this user has no permissions to run the 'acl|whoami' command"
    );
    assert_eq!(
        err(&mut u, &["GET", "zzz"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        err(&mut u, &["SET", "b1", "v"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(s(&mut u, &["SET", "x", "v"]), "OK");
    assert!(u.call(&["GET", "b1"]) == Reply::Nil);
    err(&mut u, &["INCR", "x"]);
    err(&mut u, &["INCR", "x"]);
    let log = c.call(&["ACL", "LOG"]);
    let first = &log.as_array().unwrap()[0];
    assert_eq!(field(first, "count").as_int(), Some(2));
    assert_eq!(field(first, "reason").as_str().unwrap(), "command");
    assert_eq!(field(first, "context").as_str().unwrap(), "toplevel");
    assert_eq!(field(first, "object").as_str().unwrap(), "incr");
    assert_eq!(field(first, "username").as_str().unwrap(), "u2");
    assert!(field(first, "client-info")
        .as_str()
        .unwrap()
        .contains("user=u2"));
    let second = &log.as_array().unwrap()[1];
    assert_eq!(field(second, "reason").as_str().unwrap(), "key");
    assert_eq!(field(second, "object").as_str().unwrap(), "b1");
    // Channels.
    assert_eq!(
        s(&mut c, &["ACL", "SETUSER", "u2", "+publish", "+subscribe"]),
        "OK"
    );
    assert_eq!(u.call(&["PUBLISH", "ch", "m"]).as_int(), Some(0));
    assert_eq!(
        err(&mut u, &["PUBLISH", "other", "m"]),
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    );
    // Failed AUTH is logged too.
    err(&mut u, &["AUTH", "u2", "wrong"]);
    let log = c.call(&["ACL", "LOG", "1"]);
    let e = &log.as_array().unwrap()[0];
    assert_eq!(field(e, "reason").as_str().unwrap(), "auth");
    assert_eq!(field(e, "object").as_str().unwrap(), "AUTH");
    assert_eq!(s(&mut c, &["ACL", "LOG", "RESET"]), "OK");
    assert_eq!(c.call(&["ACL", "LOG"]).as_array().unwrap().len(), 0);
    // MULTI: refused at queue time; EXEC re-checks rules changed meanwhile.
    assert_eq!(
        s(
            &mut c,
            &["ACL", "SETUSER", "u2", "+multi", "+exec", "+incr"]
        ),
        "OK"
    );
    assert_eq!(s(&mut u, &["MULTI"]), "OK");
    assert_eq!(s(&mut u, &["INCR", "a1"]), "QUEUED");
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "u2", "-incr"]), "OK");
    let r = u.call(&["EXEC"]);
    let inner = r.as_array().unwrap()[0].as_str().unwrap();
    assert!(
        inner.starts_with("NOPERM ACLs rules changed between the moment"),
        "{inner}"
    );
    let log = c.call(&["ACL", "LOG", "1"]);
    assert_eq!(
        field(&log.as_array().unwrap()[0], "context")
            .as_str()
            .unwrap(),
        "multi"
    );
    // Scripts check the caller's user.
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "u2", "+eval"]), "OK");
    let e = err(&mut u, &["EVAL", "return redis.call('incr','a1')", "0"]);
    assert!(
        e.contains("The user executing the script can't run this command or subcommand"),
        "{e}"
    );
    let log = c.call(&["ACL", "LOG", "1"]);
    assert_eq!(
        field(&log.as_array().unwrap()[0], "context")
            .as_str()
            .unwrap(),
        "lua"
    );
    // CLIENT LIST shows the user; CLIENT KILL USER closes its clients.
    let list = s(&mut c, &["CLIENT", "LIST"]);
    assert!(list.contains("user=u2"), "{list}");
    assert_eq!(
        err(&mut c, &["CLIENT", "KILL", "USER", "nobody"]),
        "ERR No such user 'nobody'"
    );
    assert_eq!(c.call(&["CLIENT", "KILL", "USER", "u2"]).as_int(), Some(1));
    assert!(closed(&mut u));
}

fn auth_and_requirepass(bin: &Path) {
    let srv = Server::start(bin, &["--requirepass", "sekret"]);
    let mut c = srv.conn();
    assert_eq!(
        err(&mut c, &["GET", "x"]),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err(&mut c, &["AUTH", "bad"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(
        err(&mut c, &["HELLO", "3"]),
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
    );
    assert_eq!(s(&mut c, &["AUTH", "sekret"]), "OK");
    let line = c.call(&["ACL", "LIST"]).as_array().unwrap()[0]
        .as_str()
        .unwrap();
    assert!(line.starts_with("user default on #"), "{line}");
    assert_eq!(
        s(
            &mut c,
            &["ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*"]
        ),
        "OK"
    );
    let mut b = srv.conn();
    let r = b.call(&["HELLO", "2", "AUTH", "bob", "pw"]);
    assert!(!r.is_error(), "{r:?}");
    assert_eq!(s(&mut b, &["ACL", "WHOAMI"]), "bob");
    // requirepass "" makes the default user nopass: new connections need no AUTH.
    assert_eq!(s(&mut c, &["CONFIG", "SET", "requirepass", ""]), "OK");
    let mut n = srv.conn();
    assert_eq!(s(&mut n, &["PING"]), "PONG");
    assert_eq!(
        err(&mut n, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    // The default user off: new connections are not authenticated.
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "default", "off"]), "OK");
    let mut m = srv.conn();
    assert_eq!(err(&mut m, &["PING"]), "NOAUTH Authentication required.");
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "default", "on"]), "OK");
    // DELUSER closes the user's connections.
    assert_eq!(
        c.call(&["ACL", "DELUSER", "bob", "nobody"]).as_int(),
        Some(1)
    );
    assert!(closed(&mut b));
}

fn subscriber_killed(bin: &Path) {
    let srv = Server::start(bin, &[]);
    let mut c = srv.conn();
    assert_eq!(
        s(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "psuser",
                "on",
                "nopass",
                "+@all",
                "resetchannels",
                "&foo:*",
                "&bar"
            ]
        ),
        "OK"
    );
    let mut sub = srv.conn();
    assert_eq!(s(&mut sub, &["AUTH", "psuser", "x"]), "OK");
    sub.send_cmd(&["SUBSCRIBE", "foo:1"]);
    sub.read_reply().unwrap();
    // Keeping the pattern and adding more keeps it.
    assert_eq!(s(&mut c, &["ACL", "SETUSER", "psuser", "&baz"]), "OK");
    sub.send_cmd(&["PING"]);
    assert!(sub.read_reply().is_ok());
    assert_eq!(
        s(
            &mut c,
            &["ACL", "SETUSER", "psuser", "resetchannels", "&bar"]
        ),
        "OK"
    );
    assert!(closed(&mut sub));
}

fn aclfile_round_trip(bin: &Path) {
    let dir = TempDir::new("acl").unwrap();
    let file = dir.path().join("users.acl");
    std::fs::write(
        &file,
        "user alice on allcommands allkeys &* >alice\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let f = file.display().to_string();
    let srv = Server::start(bin, &["--aclfile", &f]);
    let mut c = srv.conn();
    let users: Vec<String> = c
        .call(&["ACL", "USERS"])
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(users, vec!["alice", "default"]);
    assert_eq!(
        s(
            &mut c,
            &["ACL", "SETUSER", "eve", "on", ">eve", "+get", "~*"]
        ),
        "OK"
    );
    assert_eq!(s(&mut c, &["ACL", "SAVE"]), "OK");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user eve on #"), "{saved}");
    let mut a = srv.conn();
    assert_eq!(s(&mut a, &["AUTH", "alice", "alice"]), "OK");
    // A broken file changes nothing.
    std::fs::write(
        &file,
        format!("{saved}user alice on nopass\nuser zed on +nosuch\n"),
    )
    .unwrap();
    let e = err(&mut c, &["ACL", "LOAD"]);
    assert!(e.contains("Duplicate user 'alice' found"), "{e}");
    assert!(e.contains("Error in applying operation '+nosuch'"), "{e}");
    assert!(e.ends_with("WARNING: ACL errors detected, no change to the previously active ACL rules was performed"), "{e}");
    assert_eq!(s(&mut a, &["PING"]), "PONG");
    // A good file replaces the users; clients of the old ones are closed.
    std::fs::write(&file, &saved).unwrap();
    assert_eq!(s(&mut c, &["ACL", "LOAD"]), "OK");
    assert!(closed(&mut a));
    assert_eq!(s(&mut c, &["PING"]), "PONG");
    let mut e2 = srv.conn();
    assert_eq!(s(&mut e2, &["AUTH", "eve", "eve"]), "OK");
    assert_eq!(
        err(&mut e2, &["SET", "k", "v"]),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    drop(srv);
    // user lines and an aclfile together: no start.
    let conf = dir.path().join("both.conf");
    std::fs::write(&conf, format!("aclfile {f}\nuser bob on nopass\n")).unwrap();
    let out = std::process::Command::new(bin)
        .arg(&conf)
        .arg("--port")
        .arg(cinnabar_testkit::free_port().unwrap().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("ACL file path is invalid") || text.contains("but not both"),
        "{text}"
    );
    // Duplicate users on the command line.
    let out = std::process::Command::new(bin)
        .args(["--user", "foo", "--user", "foo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Duplicate user"), "{text}");
}

fn user_lines_and_rewrite(bin: &Path) {
    let dir = TempDir::new("aclconf").unwrap();
    let conf = dir.path().join("redis.conf");
    std::fs::write(&conf, "user default on nopass ~* &* +@all -flushdb\n").unwrap();
    let c_path = conf.display().to_string();
    let srv = Server::start(bin, &[&c_path]);
    let mut c = srv.conn();
    assert!(err(&mut c, &["FLUSHDB"]).starts_with("NOPERM"));
    assert_eq!(
        s(
            &mut c,
            &["ACL", "SETUSER", "bob", "on", ">pw", "+get", "~*"]
        ),
        "OK"
    );
    assert_eq!(s(&mut c, &["CONFIG", "REWRITE"]), "OK");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("user default on nopass sanitize-payload ~* &* +@all -flushdb"),
        "{text}"
    );
    assert!(text.contains("user bob on #"), "{text}");
}

fn pre_auth_limits(bin: &Path) {
    let srv = Server::start(bin, &["--requirepass", "pw"]);
    let mut c = srv.conn();
    c.send_raw(b"*20\r\n");
    let r = c.read_reply().unwrap();
    assert_eq!(
        r.as_str().unwrap(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    assert!(closed(&mut c));
    let mut c = srv.conn();
    c.send_raw(b"*1\r\n$100000\r\n");
    let r = c.read_reply().unwrap();
    assert_eq!(
        r.as_str().unwrap(),
        "ERR Protocol error: unauthenticated bulk length"
    );
    assert!(closed(&mut c));
    // After AUTH the normal limits apply.
    let mut c = srv.conn();
    assert_eq!(s(&mut c, &["AUTH", "pw"]), "OK");
    let args: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    let mut cmd = vec!["ECHO".to_string()];
    cmd.push("x".repeat(20000));
    assert_eq!(c.call(&cmd).as_str().unwrap().len(), 20000);
    let mut del = vec!["DEL".to_string()];
    del.extend(args);
    assert_eq!(c.call(&del).as_int(), Some(0));
    // HTTP: closed without a reply.
    let mut h = srv.conn();
    h.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    h.set_read_timeout(Duration::from_secs(2));
    assert!(h.read_reply_raw().map(|b| b.is_empty()).unwrap_or(true));
}

#[test]
fn acl_users_and_rules() {
    for bin in servers() {
        users_and_rules(&bin);
    }
}

#[test]
fn acl_auth_and_requirepass() {
    for bin in servers() {
        auth_and_requirepass(&bin);
    }
}

#[test]
fn acl_subscriber_killed_on_revoke() {
    for bin in servers() {
        subscriber_killed(&bin);
    }
}

#[test]
fn acl_file_round_trip() {
    for bin in servers() {
        aclfile_round_trip(&bin);
    }
}

#[test]
fn acl_user_lines_and_config_rewrite() {
    for bin in servers() {
        user_lines_and_rewrite(&bin);
    }
}

#[test]
fn acl_pre_auth_limits() {
    for bin in servers() {
        pre_auth_limits(&bin);
    }
}
