//! High availability and scale-out interop (issue 6), with real third-party processes:
//!
//! - three real `redis-sentinel`s fail over Cinnabar servers (master + 2 replicas), and the old
//!   master, restarted, rejoins as a replica;
//! - redis-py's Sentinel client (`master_for`) follows a failover of Cinnabar sentinels;
//! - HAProxy with a `tcp-check` expecting `role:master` sends writes to the new master;
//! - twemproxy (nutcracker, ketama) spreads keys over three Cinnabar servers exactly as over three
//!   redis-servers, passes pipelines, and ejects a killed server as it does with Redis;
//! - partition safety in network namespaces (tests/ha/partition.sh, root only).
//!
//! Each test skips with a loud note when its tool is not installed.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{
    cinnabar_bin, free_port, loud_note, redis_bin, Conn, Reply, Server, TempDir,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn s(r: &Reply) -> String {
    r.as_str().unwrap_or_default()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A field of a flat map reply (SENTINEL MASTER).
fn field(r: &Reply, name: &str) -> Option<String> {
    let a = r.as_array()?;
    a.chunks(2).find(|kv| s(&kv[0]) == name).map(|kv| s(&kv[1]))
}

fn master_addr_port(c: &mut Conn) -> Option<u16> {
    let r = c.call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    r.as_array()?.get(1).and_then(|p| s(p).parse().ok())
}

/// A field of INFO replication, asked on a fresh connection (Sentinels kill the clients of the
/// instances they reconfigure).
fn repl_field(port: u16, f: &str) -> Option<String> {
    Conn::connect_port(port)
        .ok()
        .and_then(|mut c| c.try_cmd(&["INFO", "replication"]).ok())
        .and_then(|raw| {
            let t = String::from_utf8_lossy(&raw).into_owned();
            t.lines().find_map(|l| {
                l.strip_prefix(&format!("{f}:"))
                    .map(|v| v.trim().to_string())
            })
        })
}

/// A child process killed and reaped on drop.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill9(srv: &mut Server) {
    Command::new("kill")
        .args(["-9", &srv.pid().to_string()])
        .status()
        .unwrap();
    srv.allow_panics();
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
}

fn write_sentinel_conf(dir: &Path, i: usize, master_port: u16) -> PathBuf {
    let p = dir.join(format!("sentinel-{i}.conf"));
    std::fs::write(
        &p,
        format!(
            "sentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds mymaster 2000\n\
             sentinel failover-timeout mymaster 6000\n"
        ),
    )
    .unwrap();
    p
}

/// A Cinnabar master with two replicas, `k` = `v` written and replicated.
fn cinnabar_group() -> (Server, Server, Server) {
    let extra = ["--repl-diskless-sync-delay", "0"];
    let master = Server::cinnabar(&extra);
    let r1 = Server::cinnabar(&extra);
    let r2 = Server::cinnabar(&extra);
    let mport = master.port().to_string();
    for r in [&r1, &r2] {
        r.conn().call(&["REPLICAOF", "127.0.0.1", &mport]);
    }
    master.conn().call(&["SET", "k", "v"]);
    for r in [&r1, &r2] {
        wait_until("the replica syncs", 30, || {
            r.conn().cmd(&["GET", "k"]) == b"$1\r\nv\r\n"
        });
    }
    (master, r1, r2)
}

/// Three Sentinels (`bin`) watching the master at `mport`, once they all see 2 replicas and 2
/// other Sentinels.
fn sentinels(bin: &Path, dir: &Path, mport: u16) -> Vec<Server> {
    let all: Vec<Server> = (0..3)
        .map(|i| {
            let conf = write_sentinel_conf(dir, i, mport);
            Server::start(bin, &[conf.to_str().unwrap(), "--sentinel"])
        })
        .collect();
    for x in &all {
        let mut c = x.conn();
        wait_until("discovery", 30, || {
            let m = c.call(&["SENTINEL", "MASTER", "mymaster"]);
            field(&m, "num-slaves").as_deref() == Some("2")
                && field(&m, "num-other-sentinels").as_deref() == Some("2")
        });
    }
    all
}

/// Waits until every Sentinel names a new master, one of `candidates`, and returns its port.
fn wait_failover(sents: &[Server], old: u16, candidates: &[u16]) -> u16 {
    let mut port = 0;
    for x in sents {
        let mut c = x.conn();
        wait_until("the failover", 60, || match master_addr_port(&mut c) {
            Some(p) if p != old => {
                assert!(candidates.contains(&p), "unexpected master {p}");
                port = p;
                true
            }
            _ => false,
        });
    }
    port
}

/// Issue 6, case 1: real redis-sentinel processes fail over Cinnabar servers.
#[test]
fn redis_sentinels_fail_over_cinnabar_servers() {
    cinnabar_testkit::require_redis!();
    let (mut master, r1, r2) = cinnabar_group();
    let mport = master.port();
    let mdir = master.dir().to_path_buf();
    let confs = TempDir::new("cinnabar-ha-rs").unwrap();
    let sents = sentinels(&redis_bin(), confs.path(), mport);
    // Sentinels publish their hellos to the replicas too: those messages must not move a
    // replica's offset away from its master's (its stream is the master's alone).
    for r in [&r1, &r2] {
        wait_until("the replica's offset matches the master's", 20, || {
            let m = repl_field(mport, "master_repl_offset");
            m.is_some() && m == repl_field(r.port(), "slave_repl_offset")
        });
    }

    kill9(&mut master);
    let newp = wait_failover(&sents, mport, &[r1.port(), r2.port()]);
    let other = if newp == r1.port() {
        r2.port()
    } else {
        r1.port()
    };
    wait_until("the new master is a master", 30, || {
        repl_field(newp, "role").as_deref() == Some("master")
    });
    wait_until("the other replica follows the new master", 30, || {
        repl_field(other, "master_port") == Some(newp.to_string())
            && repl_field(other, "master_link_status").as_deref() == Some("up")
    });
    let mut c = Conn::connect_port(newp).unwrap();
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(c.cmd(&["SET", "k2", "v2"]), b"+OK\r\n");
    wait_until("the write reaches the other replica", 30, || {
        Conn::connect_port(other).is_ok_and(|mut c| c.cmd(&["GET", "k2"]) == b"$2\r\nv2\r\n")
    });

    // The old master comes back: the Sentinels turn it into a replica of the new one.
    let _old = Kill(
        Command::new(cinnabar_bin())
            .args(["--port", &mport.to_string(), "--dir"])
            .arg(&mdir)
            .args(["--save", "", "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the old master rejoins as a replica", 60, || {
        repl_field(mport, "master_port") == Some(newp.to_string())
            && repl_field(mport, "master_link_status").as_deref() == Some("up")
    });
    wait_until("the old master has the new data", 30, || {
        Conn::connect_port(mport).is_ok_and(|mut c| c.cmd(&["GET", "k2"]) == b"$2\r\nv2\r\n")
    });
    for x in &sents {
        let m = x.conn().call(&["SENTINEL", "MASTER", "mymaster"]);
        assert_eq!(field(&m, "port"), Some(newp.to_string()));
        assert_eq!(field(&m, "num-slaves").as_deref(), Some("2"), "{m:?}");
    }
}

fn python_with_redis() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| have(p, &["-c", "import redis.sentinel"]))
}

/// Issue 6, case 2: redis-py's Sentinel client follows a failover.
#[test]
fn redis_py_master_for_follows_a_failover() {
    let Some(py) = python_with_redis() else {
        loud_note("SKIPPED redis_py_master_for_follows_a_failover: no python3-redis (apt-get install python3-redis)");
        return;
    };
    let (mut master, r1, r2) = cinnabar_group();
    let mport = master.port();
    let confs = TempDir::new("cinnabar-ha-py").unwrap();
    let sents = sentinels(&cinnabar_bin(), confs.path(), mport);
    let ports: Vec<String> = sents.iter().map(|x| x.port().to_string()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ha/follow.py");
    let mut child = Kill(
        Command::new(py)
            .arg(&script)
            .arg(ports.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("READY {mport}"));
    assert_eq!(master.conn().cmd(&["GET", "before"]), b"$1\r\n1\r\n");

    kill9(&mut master);
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
    let newp = wait_failover(&sents, mport, &[r1.port(), r2.port()]);
    line.clear();
    out.read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"DONE"), "{line}");
    assert_eq!(words.get(1), Some(&newp.to_string().as_str()), "{line}");
    assert_eq!(words.get(2), Some(&"1"), "{line}");
    let mut c = Conn::connect_port(newp).unwrap();
    assert_eq!(c.cmd(&["GET", "after"]), b"$1\r\n2\r\n");
}

/// A fresh connection through a proxy at `port`; `None` when it cannot connect.
fn via(port: u16) -> Option<Conn> {
    let mut c = Conn::connect_port(port).ok()?;
    c.set_read_timeout(Duration::from_secs(2));
    Some(c)
}

/// Issue 6, case 3: HAProxy checking `role:master` sends writes to the new master.
#[test]
fn haproxy_role_check_follows_the_failover() {
    if !have("haproxy", &["-v"]) {
        loud_note(
            "SKIPPED haproxy_role_check_follows_the_failover: no haproxy (apt-get install haproxy)",
        );
        return;
    }
    let (mut master, r1, r2) = cinnabar_group();
    let mport = master.port();
    let dir = TempDir::new("cinnabar-ha-haproxy").unwrap();
    let sents = sentinels(&cinnabar_bin(), dir.path(), mport);
    let front = free_port().unwrap();
    let mut cfg = format!(
        "global\n  maxconn 200\n\
         defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 20s\n  timeout server 20s\n\
         frontend redis\n  bind 127.0.0.1:{front}\n  default_backend masters\n\
         backend masters\n  option tcp-check\n  tcp-check connect\n\
         \x20 tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n\
         \x20 tcp-check send info\\ replication\\r\\n\n  tcp-check expect string role:master\n\
         \x20 tcp-check send QUIT\\r\\n\n  tcp-check expect string +OK\n"
    );
    for (i, p) in [mport, r1.port(), r2.port()].iter().enumerate() {
        cfg.push_str(&format!(
            "  server s{i} 127.0.0.1:{p} check inter 200ms fall 1 rise 1\n"
        ));
    }
    let cfg_path = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    let _haproxy = Kill(
        Command::new("haproxy")
            .arg("-f")
            .arg(&cfg_path)
            .arg("-db")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // Writes through HAProxy reach the master.
    wait_until("a write through haproxy", 30, || {
        via(front).is_some_and(|mut c| c.try_cmd(&["SET", "w", "1"]).is_ok_and(|r| r == b"+OK\r\n"))
    });
    assert_eq!(master.conn().cmd(&["GET", "w"]), b"$1\r\n1\r\n");

    kill9(&mut master);
    let newp = wait_failover(&sents, mport, &[r1.port(), r2.port()]);
    wait_until("a write through haproxy after the failover", 30, || {
        via(front).is_some_and(|mut c| c.try_cmd(&["SET", "w", "2"]).is_ok_and(|r| r == b"+OK\r\n"))
    });
    let mut c = via(front).unwrap();
    let info = String::from_utf8_lossy(&c.cmd(&["INFO", "replication"])).into_owned();
    assert!(info.contains("role:master"), "{info}");
    assert_eq!(
        Conn::connect_port(newp).unwrap().cmd(&["GET", "w"]),
        b"$1\r\n2\r\n"
    );
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
}

/// One twemproxy in front of three servers of `bin`.
struct Twem {
    servers: Vec<Server>,
    port: u16,
    _proc: Kill,
    _dir: TempDir,
}

fn twemproxy(bin: &Path) -> Twem {
    let servers: Vec<Server> = (0..3).map(|_| Server::start(bin, &[])).collect();
    let dir = TempDir::new("cinnabar-ha-twem").unwrap();
    let port = free_port().unwrap();
    let mut conf = format!(
        "alpha:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  distribution: ketama\n  \
         redis: true\n  auto_eject_hosts: true\n  server_failure_limit: 1\n  \
         server_retry_timeout: 30000\n  timeout: 1000\n  preconnect: false\n  servers:\n"
    );
    for (i, x) in servers.iter().enumerate() {
        conf.push_str(&format!("   - 127.0.0.1:{}:1 server{}\n", x.port(), i + 1));
    }
    let conf_path = dir.path().join("nutcracker.yml");
    std::fs::write(&conf_path, conf).unwrap();
    let stats = free_port().unwrap().to_string();
    let proc = Kill(
        Command::new("nutcracker")
            .arg("-c")
            .arg(&conf_path)
            .args(["-s", &stats, "-a", "127.0.0.1", "-o"])
            .arg(dir.path().join("nutcracker.log"))
            .arg("-p")
            .arg(dir.path().join("nutcracker.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("nutcracker listens", 10, || {
        via(port).is_some_and(|mut c| c.try_cmd(&["GET", "x"]).is_ok_and(|r| r == b"$-1\r\n"))
    });
    Twem {
        servers,
        port,
        _proc: proc,
        _dir: dir,
    }
}

/// Sorted KEYS of each backend.
fn layout(t: &Twem) -> Vec<Vec<String>> {
    t.servers
        .iter()
        .map(|x| {
            let r = x.conn().call(&["KEYS", "*"]);
            let mut v: Vec<String> = r.as_array().unwrap().iter().map(s).collect();
            v.sort();
            v
        })
        .collect()
}

/// What the proxy answers, in order, to a pipeline of SETs then GETs of `keys`.
fn pipeline(port: u16, keys: &[String]) -> Vec<Vec<u8>> {
    let mut c = via(port).unwrap();
    let mut buf = Vec::new();
    for k in keys {
        buf.extend(cinnabar_testkit::encode_command(&[
            "SET",
            k.as_str(),
            &format!("val-{k}"),
        ]));
    }
    for k in keys {
        buf.extend(cinnabar_testkit::encode_command(&["GET", k.as_str()]));
    }
    c.send_raw(&buf);
    (0..keys.len() * 2)
        .map(|_| c.read_reply_raw().unwrap())
        .collect()
}

/// GET of `key` through the proxy, `n` times, each on a fresh connection.
fn gets(port: u16, key: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            via(port)
                .and_then(|mut c| c.try_cmd(&["GET", key]).ok())
                .unwrap_or_default()
        })
        .collect()
}

/// Issue 6, case 4: twemproxy shards over Cinnabar exactly as over Redis.
#[test]
fn twemproxy_distributes_and_ejects_as_with_redis() {
    cinnabar_testkit::require_redis!();
    if !have("nutcracker", &["-V"]) {
        loud_note("SKIPPED twemproxy_distributes_and_ejects_as_with_redis: no nutcracker (apt-get install nutcracker)");
        return;
    }
    let mut cin = twemproxy(&cinnabar_bin());
    let mut red = twemproxy(&redis_bin());
    let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();

    // Pipelined SETs then GETs: the same answers, all of them successful.
    let a = pipeline(cin.port, &keys);
    let b = pipeline(red.port, &keys);
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "reply {i} differs");
    }
    assert!(a[..keys.len()].iter().all(|r| r == b"+OK\r\n"));
    assert_eq!(a[keys.len()], b"$9\r\nval-key:0\r\n");

    // The same keys on the same named servers, every server used.
    let la = layout(&cin);
    assert_eq!(la, layout(&red));
    assert!(la.iter().all(|v| v.len() > 40), "unbalanced: {la:?}");
    assert_eq!(la.iter().map(Vec::len).sum::<usize>(), keys.len());

    // A multi-key command is split over the servers and put back together.
    let mut args = vec!["MGET".to_string()];
    args.extend(keys[..20].iter().cloned());
    assert_eq!(
        via(cin.port).unwrap().cmd(&args),
        via(red.port).unwrap().cmd(&args)
    );

    // server2 is killed: it is ejected (its open connection breaks, or the first request to it
    // fails) and its keys go elsewhere, the same answers as with Redis behind.
    let victim = la[1][0].clone();
    kill9(&mut cin.servers[1]);
    kill9(&mut red.servers[1]);
    let ga = gets(cin.port, &victim, 4);
    let gb = gets(red.port, &victim, 4);
    // Whether the first request meets the broken connection (an -ERR from the proxy) or the
    // proxy saw the close first is a race of the proxy's, with either server behind it.
    for g in [&ga, &gb] {
        assert!(
            g.iter().all(|r| r == b"$-1\r\n" || r.starts_with(b"-ERR ")),
            "{g:?}"
        );
        assert_eq!(g[2..], [b"$-1\r\n".to_vec(), b"$-1\r\n".to_vec()]);
    }
    for t in [&cin, &red] {
        let mut c = via(t.port).unwrap();
        assert_eq!(c.cmd(&["SET", &victim, "moved"]), b"+OK\r\n");
    }
    let alive = |t: &Twem| -> Vec<Vec<u8>> {
        [0, 2]
            .iter()
            .map(|&i| t.servers[i].conn().cmd(&["GET", &victim]))
            .collect()
    };
    assert_eq!(alive(&cin), alive(&red));
    assert!(alive(&cin).contains(&b"$5\r\nmoved\r\n".to_vec()));
    // Keys of the other servers are untouched.
    let other = la[0][0].clone();
    assert_eq!(
        via(cin.port).unwrap().cmd(&["GET", &other]),
        format!("${}\r\nval-{other}\r\n", other.len() + 4).into_bytes()
    );
}

/// Issue 6, case 5: partition safety in network namespaces (tests/ha/partition.sh).
#[test]
fn partition_safety_in_network_namespaces() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || !have("ip", &["netns", "list"]) || !have("redis-cli", &["-v"]) {
        loud_note("SKIPPED partition_safety_in_network_namespaces: needs root, iproute2 (ip netns) and redis-cli");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ha/partition.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("CINNABAR_BIN", cinnabar_bin())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(77) {
        loud_note(&format!(
            "SKIPPED partition_safety_in_network_namespaces: {text}"
        ));
        return;
    }
    assert!(out.status.success(), "partition.sh failed:\n{text}");
}
