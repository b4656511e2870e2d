//! Sentinel mode across processes: three Cinnabar Sentinels watching a Cinnabar master with two
//! Cinnabar replicas (one with replica-priority 0). They discover the replicas and each other,
//! the master is killed, they agree it is down, elect a leader, promote the eligible replica,
//! repoint the other one, and the old master, restarted, is turned into a replica.
#![allow(clippy::unwrap_used)]

use cinnabar_testkit::{cinnabar_bin, Conn, Reply, Server, TempDir};
use std::path::{Path, PathBuf};
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

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_conf(dir: &Path, i: usize, master_port: u16) -> PathBuf {
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

#[test]
fn three_sentinels_fail_over_to_the_eligible_replica() {
    let extra = ["--repl-diskless-sync-delay", "0"];
    let mut master = Server::cinnabar(&extra);
    let r1 = Server::cinnabar(&extra);
    let r2 = Server::cinnabar(&extra);
    let mport = master.port();
    let mdir = master.dir().to_path_buf();
    for r in [&r1, &r2] {
        let mut c = r.conn();
        c.call(&["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    }
    r2.conn().call(&["CONFIG", "SET", "replica-priority", "0"]);
    master.conn().call(&["SET", "k", "v"]);

    let confs = TempDir::new("cinnabar-sentinel-test").unwrap();
    let sentinels: Vec<Server> = (0..3)
        .map(|i| {
            let conf = write_conf(confs.path(), i, mport);
            Server::cinnabar(&[conf.to_str().unwrap(), "--sentinel"])
        })
        .collect();
    let mut sc: Vec<Conn> = sentinels.iter().map(|x| x.conn()).collect();

    // Server side: the basic commands.
    assert_eq!(sc[0].cmd(&["PING"]), b"+PONG\r\n");
    let role = sc[0].call(&["ROLE"]);
    assert_eq!(s(&role.as_array().unwrap()[0]), "sentinel");
    let info = s(&sc[0].call(&["INFO", "sentinel"]));
    assert!(info.contains("sentinel_masters:1"), "{info}");
    assert!(
        info.contains(&format!(
            "master0:name=mymaster,status=ok,address=127.0.0.1:{mport}"
        )),
        "{info}"
    );
    let myid = s(&sc[0].call(&["SENTINEL", "MYID"]));
    assert_eq!(myid.len(), 40);
    assert!(sc[0].call(&["SENTINEL", "MASTER", "nope"]).is_error());

    // Errors are Redis's, and bad input closes the connection without harm.
    let e = s(&sc[0].call(&["SENTINEL", "SET", "mymaster", "quorum", "-1"]));
    assert_eq!(e, "ERR Invalid argument '-1' for SENTINEL SET 'quorum'");
    let e = s(&sc[0].call(&["SENTINEL", "SET", "mymaster", "quorum"]));
    assert_eq!(
        e,
        "ERR wrong number of arguments for 'sentinel|set' command"
    );
    {
        let mut bad = sentinels[2].conn();
        bad.send_raw(b"*2\r\n$-7\r\n");
        assert!(bad.wait_closed(Duration::from_secs(5)));
        let mut c = sentinels[2].conn();
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    }

    // Discovery of the replicas and of the other Sentinels.
    for c in sc.iter_mut() {
        wait_until("discovery", 30, || {
            let m = c.call(&["SENTINEL", "MASTER", "mymaster"]);
            field(&m, "num-slaves").as_deref() == Some("2")
                && field(&m, "num-other-sentinels").as_deref() == Some("2")
        });
    }
    assert!(s(&sc[0].call(&["SENTINEL", "CKQUORUM", "mymaster"])).starts_with("OK 3 usable"));
    // The state is in the config file.
    let text = std::fs::read_to_string(confs.path().join("sentinel-0.conf")).unwrap();
    assert!(text.contains(&format!("sentinel myid {myid}")), "{text}");
    assert!(
        text.contains("sentinel known-replica mymaster 127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("sentinel known-sentinel mymaster 127.0.0.1"),
        "{text}"
    );
    // Replicas' INFO reached the Sentinels (priority 0 included).
    wait_until("replica priorities", 30, || {
        let r = sc[0].call(&["SENTINEL", "REPLICAS", "mymaster"]);
        r.as_array().is_some_and(|a| {
            a.iter()
                .any(|x| field(x, "slave-priority").as_deref() == Some("0"))
        })
    });

    // Kill the master: the Sentinels promote r1 (r2 has priority 0).
    std::process::Command::new("kill")
        .args(["-9", &master.pid().to_string()])
        .status()
        .unwrap();
    master.allow_panics();
    for c in sc.iter_mut() {
        wait_until("the failover", 60, || {
            master_addr_port(c) == Some(r1.port())
        });
    }
    // Sentinels kill clients of the instances they reconfigure: poll on fresh connections.
    let field_of = |port: u16, f: &str| {
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
    };
    wait_until("r1 becomes master", 30, || {
        field_of(r1.port(), "role").as_deref() == Some("master")
    });
    wait_until("r2 follows r1", 30, || {
        field_of(r2.port(), "master_port") == Some(r1.port().to_string())
    });
    assert_eq!(r1.conn().cmd(&["GET", "k"]), b"$1\r\nv\r\n");

    // The old master comes back and is turned into a replica of r1.
    let child = std::process::Command::new(cinnabar_bin())
        .args(["--port", &mport.to_string(), "--dir"])
        .arg(&mdir)
        .args(["--save", "", "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    wait_until("the old master rejoins as a replica", 60, || {
        field_of(mport, "master_port") == Some(r1.port().to_string())
    });
    let m = sc[1].call(&["SENTINEL", "MASTER", "mymaster"]);
    assert_eq!(field(&m, "port"), Some(r1.port().to_string()));
    assert!(field(&m, "config-epoch").is_some_and(|e| e != "0"));
}

#[test]
fn cinnabar_and_redis_sentinels_agree_on_a_failover() {
    if !cinnabar_testkit::have_redis() {
        cinnabar_testkit::loud_note("redis-server not installed: interop test skipped");
        return;
    }
    let bin = cinnabar_testkit::redis_bin();
    let extra = ["--repl-diskless-sync-delay", "0"];
    let mut master = Server::start(&bin, &extra);
    let r1 = Server::start(&bin, &extra);
    let mport = master.port();
    r1.conn()
        .call(&["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    let confs = TempDir::new("cinnabar-sentinel-interop").unwrap();
    let sentinels: Vec<Server> = (0..3)
        .map(|i| {
            let conf = write_conf(confs.path(), i, mport);
            let b = if i == 0 { cinnabar_bin() } else { bin.clone() };
            Server::start(&b, &[conf.to_str().unwrap(), "--sentinel"])
        })
        .collect();
    let mut sc: Vec<Conn> = sentinels.iter().map(|x| x.conn()).collect();
    for c in sc.iter_mut() {
        wait_until("discovery", 30, || {
            let m = c.call(&["SENTINEL", "MASTER", "mymaster"]);
            field(&m, "num-slaves").as_deref() == Some("1")
                && field(&m, "num-other-sentinels").as_deref() == Some("2")
        });
    }
    std::process::Command::new("kill")
        .args(["-9", &master.pid().to_string()])
        .status()
        .unwrap();
    master.allow_panics();
    for c in sc.iter_mut() {
        wait_until("the failover", 60, || {
            master_addr_port(c) == Some(r1.port())
        });
    }
    // Every Sentinel reports the same configuration epoch.
    let epochs: Vec<Option<String>> = sc
        .iter_mut()
        .map(|c| field(&c.call(&["SENTINEL", "MASTER", "mymaster"]), "config-epoch"))
        .collect();
    assert!(epochs.iter().all(|e| e == &epochs[0]), "{epochs:?}");
}
