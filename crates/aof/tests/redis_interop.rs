//! Against real redis-server 7.0: read what Redis writes (manifest, base, incr, after a
//! BGREWRITEAOF) and compare truncation offsets. (Redis loading what the server writes is
//! checked across processes in the workspace's `tests/aof.rs`.)
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use cinnabar_aof::{encode_command, AofReader, Item, Manifest, ReadError};
use cinnabar_testkit::{require_redis, Conn, Server, TempDir};

/// A tiny model of the commands these tests use.
#[derive(Default, Debug, PartialEq)]
struct Model {
    db: usize,
    data: HashMap<(usize, Vec<u8>), Val>,
}

#[derive(Debug, PartialEq, Clone)]
enum Val {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
}

impl Model {
    fn exec(&mut self, a: &[Vec<u8>]) {
        let name = String::from_utf8_lossy(&a[0]).to_ascii_uppercase();
        match name.as_str() {
            "SELECT" => self.db = String::from_utf8_lossy(&a[1]).parse().unwrap(),
            "SET" => {
                self.data
                    .insert((self.db, a[1].clone()), Val::Str(a[2].clone()));
            }
            "DEL" => {
                for k in &a[1..] {
                    self.data.remove(&(self.db, k.clone()));
                }
            }
            "INCR" => {
                let key = (self.db, a[1].clone());
                let n: i64 = match self.data.get(&key) {
                    Some(Val::Str(v)) => String::from_utf8_lossy(v).parse().unwrap(),
                    _ => 0,
                };
                self.data
                    .insert(key, Val::Str((n + 1).to_string().into_bytes()));
            }
            "RPUSH" => {
                let key = (self.db, a[1].clone());
                let e = self.data.entry(key).or_insert(Val::List(Vec::new()));
                if let Val::List(l) = e {
                    l.extend(a[2..].iter().cloned());
                }
            }
            other => panic!("model does not know {other}"),
        }
    }

    fn apply(&mut self, it: &Item) {
        match it {
            Item::Command(a) => self.exec(a),
            Item::Transaction(cmds) => cmds.iter().for_each(|c| self.exec(c)),
            Item::Timestamp(_) => {}
        }
    }
}

fn wait_rewrite_done(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = c.info_field("aof_rewrite_in_progress");
        let b = c.info_field("aof_rewrite_scheduled");
        if a.as_deref() == Some("0") && b.as_deref() == Some("0") {
            return;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn writes_before(c: &mut Conn) {
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["RPUSH", "l", "x", "y", ""]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "t", "v"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["SET", "z", "in db 2"]);
    c.cmd(&["SELECT", "0"]);
}

fn writes_after(c: &mut Conn) {
    c.cmd(&["SET", "after", "1"]);
    c.cmd(&["DEL", "a"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["RPUSH", "l", "z"]);
    c.cmd(&["EXEC"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["SET", "big", &"x".repeat(100_000)]);
}

fn expected_model() -> Model {
    let mut m = Model::default();
    let s = |v: &str| v.as_bytes().to_vec();
    m.data
        .insert((0, s("l")), Val::List(vec![s("x"), s("y"), s(""), s("z")]));
    m.data.insert((0, s("t")), Val::Str(s("v")));
    m.data.insert((0, s("n")), Val::Str(s("2")));
    m.data.insert((0, s("after")), Val::Str(s("1")));
    m.data.insert((2, s("z")), Val::Str(s("in db 2")));
    m.data
        .insert((2, s("big")), Val::Str("x".repeat(100_000).into_bytes()));
    m
}

fn read_file_into(model: &mut Model, path: &Path) -> Vec<Item> {
    let f = fs::File::open(path).unwrap();
    let mut r = AofReader::new(f);
    assert!(!r.has_rdb_preamble().unwrap());
    let mut items = Vec::new();
    while let Some(it) = r.next_item().unwrap() {
        model.apply(&it);
        items.push(it);
    }
    items
}

#[test]
fn read_what_redis_writes() {
    require_redis!();
    let srv = Server::redis(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--aof-timestamp-enabled",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut c = srv.conn();
    writes_before(&mut c);
    c.cmd(&["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    writes_after(&mut c);

    let aofdir = srv.dir().join("appendonlydir");
    let mbytes = fs::read(aofdir.join("appendonly.aof.manifest")).unwrap();
    let m = Manifest::parse(&mbytes).unwrap();
    // Our serialization is byte-identical to what Redis wrote.
    assert_eq!(m.to_bytes(), mbytes);
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.aof");
    assert_eq!(m.incr.len(), 1);
    assert_eq!(m.incr[0].name, "appendonly.aof.2.incr.aof");
    assert!(m.history.is_empty());

    let mut model = Model::default();
    let mut n_ts = 0;
    let mut n_tx = 0;
    for f in m.files_to_load() {
        model.db = 0;
        for it in read_file_into(&mut model, &aofdir.join(&f.name)) {
            match it {
                Item::Timestamp(_) => n_ts += 1,
                Item::Transaction(_) => n_tx += 1,
                _ => {}
            }
        }
    }
    assert!(n_ts >= 1, "the rewritten base starts with a timestamp");
    assert_eq!(n_tx, 1, "the MULTI after the rewrite");
    assert_eq!(model.data, expected_model().data);
}

#[test]
fn rdb_preamble_base_detected() {
    require_redis!();
    let srv = Server::redis(&["--appendonly", "yes"]);
    let mut c = srv.conn();
    writes_before(&mut c);
    c.cmd(&["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    c.cmd(&["SET", "after", "1"]);
    let aofdir = srv.dir().join("appendonlydir");
    let mbytes = fs::read(aofdir.join("appendonly.aof.manifest")).unwrap();
    let m = Manifest::parse(&mbytes).unwrap();
    assert_eq!(m.to_bytes(), mbytes);
    let base = m.base.as_ref().unwrap();
    assert!(base.name.ends_with(".base.rdb"));
    let mut r = AofReader::new(fs::File::open(aofdir.join(&base.name)).unwrap());
    assert!(r.has_rdb_preamble().unwrap());
    let mut model = Model::default();
    read_file_into(&mut model, &aofdir.join(&m.incr[0].name));
    assert_eq!(
        model.data.get(&(0, b"after".to_vec())),
        Some(&Val::Str(b"1".to_vec()))
    );
}

/// The cut offset for a torn tail is the one Redis truncates to with aof-load-truncated yes.
#[test]
fn truncation_offset_matches_redis() {
    require_redis!();
    let mut full = Vec::new();
    encode_command(&mut full, &["SELECT", "0"]);
    encode_command(&mut full, &["SET", "k1", "v1"]);
    full.extend_from_slice(b"#TS:1700000000\r\n");
    encode_command(&mut full, &["SET", "k2", "v2"]);
    encode_command(&mut full, &["RPUSH", "list", "a", "b"]);
    let len = full.len();
    for cut in [len - 1, len - 5, len - 20, 30, 40, 42] {
        let td = TempDir::new("aof-cut").unwrap();
        let aof_dir = td.path().join("appendonlydir");
        fs::create_dir_all(&aof_dir).unwrap();
        let torn = &full[..cut];
        fs::write(aof_dir.join("appendonly.aof.1.incr.aof"), torn).unwrap();
        fs::write(
            aof_dir.join("appendonly.aof.manifest"),
            "file appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        let ours = {
            let mut r = AofReader::new(torn);
            loop {
                match r.next_item() {
                    Ok(Some(_)) => continue,
                    Ok(None) => break cut as u64,
                    Err(ReadError::Truncated { valid_up_to, .. }) => break valid_up_to,
                    Err(e) => panic!("{e}"),
                }
            }
        };
        let dir = td.path().to_string_lossy().into_owned();
        let mut srv = Server::redis(&[
            "--dir",
            &dir,
            "--appendonly",
            "yes",
            "--aof-load-truncated",
            "yes",
        ]);
        srv.stop();
        let theirs = fs::metadata(aof_dir.join("appendonly.aof.1.incr.aof"))
            .unwrap()
            .len();
        assert_eq!(ours, theirs, "cut at {cut}");
    }
}
