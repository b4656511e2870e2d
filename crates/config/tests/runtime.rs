//! CONFIG SET hooks and options, typed accessors, rewrite edge cases, and a randomized check
//! that no input makes the crate panic.

use cinnabar_config::{ClientClass, Config, ObufLimit, RewriteExtras, SetOptions};

fn p(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

fn get(c: &Config, name: &str) -> String {
    c.get_value(name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn apply_hook_vetoes_and_rolls_back() {
    let mut c = Config::default();
    let mut calls: Vec<(String, String)> = Vec::new();
    let r = c.set_with(
        &[p("hz", "20"), p("port", "7000"), p("maxmemory", "1mb")],
        SetOptions::default(),
        &mut |name, cfg| {
            calls.push((name.to_string(), cfg.get_value(name).unwrap_or_default()));
            if name == "port" && cfg.get_i64("port") == Some(7000) {
                Err("Unable to listen on this port. Check server logs.".into())
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(
        r,
        Err("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.".into())
    );
    assert_eq!(
        (get(&c, "hz").as_str(), get(&c, "port").as_str()),
        ("10", "6379")
    );
    assert_eq!(get(&c, "maxmemory"), "0");
    // hz and port applied, then everything re-applied with the old values.
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hz", "port", "hz", "port", "maxmemory"]);
    assert_eq!(calls[2].1, "10");

    // Unchanged values are not applied; special ones always are.
    let mut applied = Vec::new();
    let r = c.set_with(
        &[p("hz", "10"), p("bind", "* -::*")],
        SetOptions::default(),
        &mut |n, _| {
            applied.push(n.to_string());
            Ok(())
        },
    );
    assert_eq!(r, Ok(vec!["bind".to_string()]));
    assert_eq!(applied, ["bind"]);
    let r = c.set_with(&[p("hz", "5")], SetOptions::default(), &mut |_, _| {
        Err(String::new())
    });
    assert_eq!(
        r,
        Err("ERR CONFIG SET failed (possibly related to argument 'hz')".into())
    );
}

#[test]
fn protected_and_loading() {
    let mut c =
        Config::load(None, &["--enable-protected-configs".into(), "local".into()]).expect("loads");
    let dir = std::env::temp_dir();
    let d = dir.display().to_string();
    assert_eq!(
        c.set(&[p("dir", &d)]),
        Err("ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config".into())
    );
    let local = SetOptions {
        local_client: true,
        loading: false,
    };
    assert_eq!(
        c.set_with(&[p("dir", &d)], local, &mut |_, _| Ok(())),
        Ok(vec!["dir".into()])
    );
    assert_eq!(c.dir(), std::fs::canonicalize(&dir).expect("canonical"));
    assert_eq!(
        c.set_with(&[p("dir", "/nonexistent-dir")], local, &mut |_, _| Ok(())),
        Err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory".into())
    );
    assert_eq!(
        c.set_with(&[p("dbfilename", "a/b")], local, &mut |_, _| Ok(())),
        Err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename".into())
    );
    let loading = SetOptions {
        local_client: true,
        loading: true,
    };
    assert_eq!(
        c.set_with(
            &[p("hz", "5"), p("appendonly", "yes")],
            loading,
            &mut |_, _| Ok(())
        ),
        Err("LOADING Redis is loading the dataset in memory".into())
    );
    assert_eq!(
        c.set_with(&[p("hz", "5")], loading, &mut |_, _| Ok(())),
        Ok(vec!["hz".into()])
    );
}

#[test]
fn typed_accessors() {
    let mut c = Config::default();
    assert_eq!(c.get_bool("appendonly"), Some(false));
    assert_eq!(c.get_bool("port"), None);
    assert_eq!(c.get_i64("port"), Some(6379));
    assert_eq!(
        c.get_enum("maxmemory-policy").as_deref(),
        Some("noeviction")
    );
    assert_eq!(c.get_enum_value("loglevel"), Some(2));
    assert_eq!(
        c.get_str("proc-title-template").as_deref(),
        Some("{title} {listen-addr} {server-mode}")
    );
    assert_eq!(c.save_params(), vec![(3600, 1), (300, 100), (60, 10000)]);
    assert_eq!(c.bind_addrs(), vec!["*".to_string(), "-::*".to_string()]);
    assert_eq!(
        c.client_output_buffer_limit(ClientClass::Replica),
        ObufLimit {
            hard: 256 << 20,
            soft: 64 << 20,
            soft_seconds: 60
        }
    );
    assert_eq!(c.oom_score_adj_values(), [0, 200, 800]);
    assert_eq!(c.latency_percentiles(), vec![50.0, 99.0, 99.9]);
    assert_eq!(c.replicaof(), None);
    c.set(&[
        p("maxmemory", "18446744073709551615"),
        p("maxmemory-clients", "10%"),
        p("notify-keyspace-events", "KEA"),
        p("shutdown-on-sigterm", "save now"),
        p("requirepass", "a\0b"),
    ])
    .expect("set");
    assert_eq!(c.get_u64("maxmemory"), Some(u64::MAX));
    assert_eq!(c.get_i64("maxmemory-clients"), Some(-10));
    assert_eq!(c.notify_keyspace_events(), cinnabar_config::NOTIFY_ALL | 3);
    assert_eq!(c.get_enum_value("shutdown-on-sigterm"), Some(1 | 4));
    assert_eq!(c.get_bytes("requirepass"), Some(b"a\0b".to_vec()));
    let c = Config::load(
        None,
        &["--replicaof".into(), "10.0.0.1".into(), "6380".into()],
    )
    .expect("loads");
    assert_eq!(c.replicaof(), Some(("10.0.0.1".to_string(), 6380)));
    assert_eq!(
        c.get(&["SLAVEOF"]),
        vec![("SLAVEOF".to_string(), "10.0.0.1 6380".to_string())]
    );
}

#[test]
fn rewrite_edge_cases() {
    let d = std::env::temp_dir().join(format!("cinnabar-config-rt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    let d = std::fs::canonicalize(&d).expect("canonical");
    let f = d.join("new.conf");
    let mut c = Config::default();
    c.set_dir(&d);
    c.set(&[p("maxmemory", "100mb"), p("unixsocketperm", "1")])
        .expect_err("immutable");
    c.set(&[p("maxmemory", "100mb")]).expect("set");
    c.rewrite(&f).expect("rewrite a missing file");
    let text = std::fs::read_to_string(&f).expect("written");
    assert_eq!(
        text,
        format!(
            "# Generated by CONFIG REWRITE\nmaxmemory 100mb\ndir {}\nsave 3600 1\nsave 300 100\nsave 60 10000\nlatency-tracking-info-percentiles 50 99 99.9\nuser default on nopass ~* &* +@all\n",
            cinnabar_config::repr(d.display().to_string().as_bytes())
        )
    );
    // Only the file itself is left in the directory (the temporary file was renamed).
    let entries: Vec<_> = std::fs::read_dir(&d).expect("list").collect();
    assert_eq!(entries.len(), 1);
    // Users and modules supplied by the server; an aclfile drops user lines.
    let extras = RewriteExtras {
        users: Some(vec![b"user bob on nopass ~* +@all".to_vec()]),
        modules: Some(vec![b"loadmodule /m.so x".to_vec()]),
    };
    let out = String::from_utf8(c.rewrite_text(b"user alice on\nloadmodule /old.so\n", &extras))
        .expect("utf8");
    assert!(
        out.starts_with("user bob on nopass ~* +@all\nloadmodule /m.so x\n"),
        "{out}"
    );
    c.set(&[p("bind", "")]).expect("bind");
    let out =
        String::from_utf8(c.rewrite_text(b"bind 1.2.3.4\nsave 1 1\n", &RewriteExtras::default()))
            .expect("utf8");
    assert!(
        out.starts_with("bind \"\"\nsave 3600 1\n\n# Generated by CONFIG REWRITE\n"),
        "{out}"
    );
    assert!(out.contains("\nsave 300 100\nsave 60 10000\n"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A tiny deterministic generator for the no-panic check.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, alphabet: &[u8], max: u64) -> Vec<u8> {
        let n = self.next() % (max + 1);
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn no_input_panics() {
    let names: Vec<&str> = cinnabar_config::table::DIRECTIVES
        .iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.alias))
        .chain([
            "include",
            "rename-command",
            "user",
            "loadmodule",
            "sentinel",
            "a.b",
            "nope",
        ])
        .collect();
    let alphabet = b" \t\"'\\x0123456789abcdefkmgbKMGB%-+*?[]^yesno\n\r\0\x0b\xff.{}";
    let mut rng = Lcg(42);
    let mut cfg = Config::default();
    for _ in 0..20000 {
        let name = names[(rng.next() % names.len() as u64) as usize];
        let value = rng.bytes(alphabet, 12);
        let _ = cinnabar_config::split_args(&value);
        let _ = cfg.set(&[(name.as_bytes().to_vec(), value.clone())]);
        let mut line = name.as_bytes().to_vec();
        line.push(b' ');
        line.extend_from_slice(&value);
        if name != "include" && name != "dir" && name != "logfile" {
            let _ = cfg.clone().load_str(&line);
        }
        let pattern = rng.bytes(b"*?[]^\\a-zA-Z", 8);
        let _ = cfg.get_raw(&[pattern]);
        let _ = cinnabar_config::glob::stringmatch(
            &value,
            name.as_bytes(),
            rng.next().is_multiple_of(2),
        );
    }
    let _ = cfg.rewrite_text(
        b"\"x\n\0\nsave\nuser\n# Generated by CONFIG REWRITE\n",
        &RewriteExtras::default(),
    );
}
