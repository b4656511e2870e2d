//! The AOF directory end to end, without a server: open on start, write, rewrite, reload,
//! upgrade from a single file, truncated and corrupt files, temp-file cleanup.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{self, BufRead, Write};

use cinnabar_aof::{
    encode_command, AofPaths, AofStore, FsyncPolicy, Item, LoadHandler, LoadOptions, LoadStatus,
    LogLevel, Manifest,
};
use cinnabar_testkit::TempDir;

/// A toy "RDB": `REDIS` + u32 LE count + that many RESP commands (so the test can check what was
/// in the base). The loader consumes exactly its bytes through BufRead.
fn fake_rdb(cmds: &[&[&str]]) -> Vec<u8> {
    let mut body = Vec::new();
    for c in cmds {
        encode_command(&mut body, c);
    }
    let mut v = b"REDIS".to_vec();
    v.extend((body.len() as u32).to_le_bytes());
    v.extend(body);
    v
}

#[derive(Default)]
struct Collect {
    items: Vec<(String, Item)>,
    rdb: Vec<(String, Vec<u8>)>,
    logs: Vec<(LogLevel, String)>,
}

impl LoadHandler for Collect {
    fn load_rdb(&mut self, file: &str, r: &mut dyn BufRead) -> Result<(), String> {
        let mut head = [0u8; 9];
        r.read_exact(&mut head).map_err(|e| e.to_string())?;
        let n = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
        let mut body = vec![0u8; n];
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
        self.rdb.push((file.to_string(), body));
        Ok(())
    }
    fn apply(&mut self, file: &str, item: Item) -> Result<(), String> {
        if let Item::Command(a) = &item {
            if a[0] == b"NOSUCH" {
                return Err(format!(
                    "Unknown command 'NOSUCH' reading the append only file {file}"
                ));
            }
        }
        self.items.push((file.to_string(), item));
        Ok(())
    }
    fn log(&mut self, level: LogLevel, msg: &str) {
        self.logs.push((level, msg.to_string()));
    }
}

impl Collect {
    fn has_log(&self, needle: &str) -> bool {
        self.logs.iter().any(|(_, m)| m.contains(needle))
    }
    fn commands(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for (_, it) in &self.items {
            let mut push = |a: &Vec<Vec<u8>>| {
                out.push(
                    a.iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect(),
                )
            };
            match it {
                Item::Command(a) => push(a),
                Item::Transaction(cmds) => cmds.iter().for_each(&mut push),
                Item::Timestamp(_) => {}
            }
        }
        out
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn lifecycle_start_write_rewrite_reload() {
    let td = TempDir::new("aof-store").unwrap();
    let paths = AofPaths::with_defaults(td.path());

    // Fresh start: nothing to load.
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(
        st.load(&LoadOptions::default(), &mut h),
        LoadStatus::NotExist
    );
    let mut w = st
        .open_on_start(
            FsyncPolicy::EverySec,
            true,
            100,
            &mut |out: &mut dyn Write| out.write_all(&fake_rdb(&[])),
        )
        .unwrap();
    let logs = st.take_logs();
    assert!(logs
        .iter()
        .any(|(_, m)| m == "Creating AOF base file appendonly.aof.1.base.rdb on server start"));
    assert!(logs
        .iter()
        .any(|(_, m)| m == "Creating AOF incr file appendonly.aof.1.incr.aof on server start"));
    assert_eq!(
        fs::read_to_string(paths.manifest_path()).unwrap(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    w.feed_command(0, &["SET", "a", "1"], 100);
    w.feed_command(0, &["SET", "b", "2"], 100);
    w.flush(100, false).unwrap();

    // Rewrite: new incr at start, writes go there, base written in a temp file, installed.
    st.start_rewrite(&mut w, 101).unwrap();
    assert_eq!(w.file_name(), "appendonly.aof.2.incr.aof");
    w.feed_command(0, &["SET", "c", "3"], 101);
    w.flush(101, false).unwrap();
    let mut tb = st.create_temp_base(4242).unwrap();
    assert!(td.path().join("temp-rewriteaof-bg-4242.aof").exists());
    tb.write_all(&fake_rdb(&[&["SET", "a", "1"], &["SET", "b", "2"]]))
        .unwrap();
    let fin = tb.finish().unwrap();
    st.finish_rewrite(fin, true, false, Some(&mut w)).unwrap();
    assert_eq!(
        fs::read_to_string(paths.manifest_path()).unwrap(),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let aofdir = paths.aof_dir();
    let mut names: Vec<String> = fs::read_dir(&aofdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    let base_len = fs::metadata(aofdir.join("appendonly.aof.2.base.rdb"))
        .unwrap()
        .len();
    assert_eq!(w.current_size(), base_len + w.incr_size());
    assert_eq!(w.base_size(), w.current_size());
    w.feed_command(1, &["SET", "d", "4"], 102);
    w.flush_and_sync(102).unwrap();
    drop(w);

    // Reload.
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Ok);
    assert_eq!(h.rdb.len(), 1);
    assert_eq!(
        h.commands(),
        vec![
            s(&["SELECT", "0"]),
            s(&["SET", "c", "3"]),
            s(&["SELECT", "1"]),
            s(&["SET", "d", "4"])
        ]
    );
    assert!(h.has_log("Reading RDB base file on AOF loading..."));
    assert!(h.has_log("DB loaded from base file appendonly.aof.2.base.rdb"));
    assert!(h.has_log("DB loaded from incr file appendonly.aof.2.incr.aof"));
    let total: u64 = ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof"]
        .iter()
        .map(|n| fs::metadata(aofdir.join(n)).unwrap().len())
        .sum();
    assert_eq!(st.loaded_sizes(), (total, base_len));
    let w = st
        .open_on_start(FsyncPolicy::Always, true, 200, &mut |_: &mut dyn Write| {
            panic!("no base needed")
        })
        .unwrap();
    assert_eq!(w.file_name(), "appendonly.aof.2.incr.aof");
    assert_eq!(w.current_size(), total);
    assert!(st
        .take_logs()
        .iter()
        .any(|(_, m)| m == "Opening AOF incr file appendonly.aof.2.incr.aof on server start"));
}

#[test]
fn upgrade_from_single_file() {
    let td = TempDir::new("aof-upgrade").unwrap();
    let paths = AofPaths::with_defaults(td.path());
    let mut old = Vec::new();
    encode_command(&mut old, &["SELECT", "0"]);
    encode_command(&mut old, &["SET", "k", "v"]);
    fs::write(td.path().join("appendonly.aof"), &old).unwrap();
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Ok);
    assert!(h.has_log(
        "Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."
    ));
    assert_eq!(
        h.commands(),
        vec![s(&["SELECT", "0"]), s(&["SET", "k", "v"])]
    );
    assert!(!td.path().join("appendonly.aof").exists());
    assert_eq!(fs::read(paths.file("appendonly.aof")).unwrap(), old);
    assert_eq!(
        fs::read_to_string(paths.manifest_path()).unwrap(),
        "file appendonly.aof seq 1 type b\n"
    );
    // Old-style RDB-preamble file: the preamble messages.
    let td = TempDir::new("aof-upgrade2").unwrap();
    let paths = AofPaths::with_defaults(td.path());
    let mut f = fake_rdb(&[&["SET", "x", "1"]]);
    encode_command(&mut f, &["INCR", "n"]);
    fs::write(td.path().join("appendonly.aof"), &f).unwrap();
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Ok);
    assert!(h.has_log("Reading RDB preamble from AOF file..."));
    assert!(h.has_log("Reading the remaining AOF tail..."));
    assert_eq!(h.commands(), vec![s(&["INCR", "n"])]);
    // The next start opens a new incr after the adopted base.
    let w = st
        .open_on_start(FsyncPolicy::No, true, 1, &mut |_: &mut dyn Write| Ok(()))
        .unwrap();
    assert_eq!(w.file_name(), "appendonly.aof.1.incr.aof");
    assert_eq!(
        fs::read_to_string(paths.manifest_path()).unwrap(),
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
}

fn setup_two_files(td: &TempDir, incr1: &[u8], incr2: &[u8]) -> AofPaths {
    let paths = AofPaths::with_defaults(td.path());
    fs::create_dir_all(paths.aof_dir()).unwrap();
    fs::write(paths.file("appendonly.aof.1.base.rdb"), fake_rdb(&[])).unwrap();
    fs::write(paths.file("appendonly.aof.1.incr.aof"), incr1).unwrap();
    fs::write(paths.file("appendonly.aof.2.incr.aof"), incr2).unwrap();
    fs::write(
        paths.manifest_path(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
    )
    .unwrap();
    paths
}

#[test]
fn truncated_last_file() {
    let mut good = Vec::new();
    encode_command(&mut good, &["SET", "a", "1"]);
    let mut torn = good.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb");
    for load_truncated in [true, false] {
        let td = TempDir::new("aof-trunc").unwrap();
        let paths = setup_two_files(&td, &good, &torn);
        let mut st = AofStore::load_manifest(paths.clone()).unwrap();
        let mut h = Collect::default();
        let opts = LoadOptions {
            load_truncated,
            ..LoadOptions::default()
        };
        let r = st.load(&opts, &mut h);
        let f2 = paths.file("appendonly.aof.2.incr.aof");
        if load_truncated {
            assert_eq!(r, LoadStatus::Truncated);
            assert!(h.has_log(
                "!!! Warning: short read while loading the AOF file appendonly.aof.2.incr.aof!!!"
            ));
            assert!(h.has_log(&format!(
                "!!! Truncating the AOF appendonly.aof.2.incr.aof at offset {} !!!",
                good.len()
            )));
            assert!(h.has_log(
                "AOF appendonly.aof.2.incr.aof loaded anyway because aof-load-truncated is enabled"
            ));
            assert_eq!(fs::read(&f2).unwrap(), good);
            assert_eq!(h.commands().len(), 2);
        } else {
            assert_eq!(r, LoadStatus::Failed);
            assert!(h.has_log(
                "Unexpected end of file reading the append only file appendonly.aof.2.incr.aof"
            ));
            assert_eq!(fs::read(&f2).unwrap(), torn);
        }
    }
    // Torn file that is not the last one: fatal, file untouched.
    let td = TempDir::new("aof-trunc-mid").unwrap();
    let paths = setup_two_files(&td, &torn, &good);
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Failed);
    assert!(h.has_log("Fatal error: the truncated file is not the last file"));
    assert_eq!(
        fs::read(paths.file("appendonly.aof.1.incr.aof")).unwrap(),
        torn
    );
    // Open MULTI at the end: reverted and cut before the MULTI.
    let td = TempDir::new("aof-multi").unwrap();
    let mut m = good.clone();
    encode_command(&mut m, &["MULTI"]);
    encode_command(&mut m, &["SET", "z", "1"]);
    let paths = setup_two_files(&td, &good, &m);
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(
        st.load(&LoadOptions::default(), &mut h),
        LoadStatus::Truncated
    );
    assert!(
        h.has_log("Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.2.incr.aof")
    );
    assert_eq!(
        fs::read(paths.file("appendonly.aof.2.incr.aof")).unwrap(),
        good
    );
}

#[test]
fn bad_format_and_unknown_command_fail() {
    let mut good = Vec::new();
    encode_command(&mut good, &["SET", "a", "1"]);
    let mut bad = good.clone();
    bad.extend_from_slice(b"garbage\r\n");
    bad.extend_from_slice(&good);
    let td = TempDir::new("aof-bad").unwrap();
    let paths = setup_two_files(&td, &bad, &good);
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Failed);
    assert!(h.has_log("Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"));
    assert_eq!(
        fs::read(paths.file("appendonly.aof.1.incr.aof")).unwrap(),
        bad
    );

    let mut unk = Vec::new();
    encode_command(&mut unk, &["NOSUCH"]);
    let td = TempDir::new("aof-unk").unwrap();
    let paths = setup_two_files(&td, &good, &unk);
    let mut st = AofStore::load_manifest(paths).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Failed);
    assert!(h.has_log(
        "Unknown command 'NOSUCH' reading the append only file appendonly.aof.2.incr.aof"
    ));

    // A file listed in the manifest but missing on disk is fatal.
    let td = TempDir::new("aof-missing").unwrap();
    let paths = setup_two_files(&td, &good, &good);
    fs::remove_file(paths.file("appendonly.aof.1.incr.aof")).unwrap();
    let mut st = AofStore::load_manifest(paths).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Failed);
    assert!(h.has_log("Unable to obtain the AOF file appendonly.aof.1.incr.aof length. stat: No such file or directory"));

    // An invalid manifest is an error with Redis's lines.
    let td = TempDir::new("aof-badman").unwrap();
    let paths = AofPaths::with_defaults(td.path());
    fs::create_dir_all(paths.aof_dir()).unwrap();
    fs::write(paths.manifest_path(), "file x seq 1 type z\n").unwrap();
    match AofStore::load_manifest(paths) {
        Err(cinnabar_aof::StoreError::Manifest(e)) => {
            assert_eq!(e.message, "Unknown AOF file type")
        }
        _ => panic!("expected a manifest error"),
    }
}

#[test]
fn empty_files_and_cleanup() {
    let td = TempDir::new("aof-empty").unwrap();
    let paths = setup_two_files(&td, b"", b"");
    fs::write(paths.file("appendonly.aof.1.base.rdb"), b"").unwrap();
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Empty);

    // Leftovers of a failed rewrite.
    fs::write(td.path().join("temp-rewriteaof-bg-77.aof"), b"x").unwrap();
    fs::write(td.path().join("temp-rewriteaof-78.aof"), b"x").unwrap();
    fs::write(td.path().join("temp-123.rdb"), b"x").unwrap(); // not ours
    fs::write(paths.file("temp-appendonly.aof.manifest"), b"x").unwrap();
    fs::write(paths.file("temp-appendonly.aof.incr"), b"x").unwrap();
    assert_eq!(st.cleanup_temp_files(true), 4);
    assert!(td.path().join("temp-123.rdb").exists());
    assert!(!paths.file("temp-appendonly.aof.incr").exists());

    // An aborted temp base disappears.
    let tb = st.create_temp_base(9).unwrap();
    let p = tb.path().to_path_buf();
    assert!(p.exists());
    tb.abort();
    assert!(!p.exists());
}

#[test]
fn enable_at_runtime_wait_rewrite() {
    // appendonly turned on at runtime: temp incr collects writes, then becomes incr 1.
    let td = TempDir::new("aof-wait").unwrap();
    let paths = AofPaths::with_defaults(td.path());
    let mut st = AofStore::load_manifest(paths.clone()).unwrap();
    let mut w = st.open_temp_incr(FsyncPolicy::EverySec, 5).unwrap();
    w.feed_command(0, &["SET", "during", "rewrite"], 5);
    w.flush(5, true).unwrap();
    let mut tb = st.create_temp_base(1).unwrap();
    tb.write_all(&fake_rdb(&[&["SET", "snap", "1"]])).unwrap();
    st.finish_rewrite(tb.finish().unwrap(), true, true, Some(&mut w))
        .unwrap();
    assert_eq!(w.file_name(), "appendonly.aof.1.incr.aof");
    assert_eq!(
        fs::read_to_string(paths.manifest_path()).unwrap(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    w.feed_command(0, &["SET", "after", "1"], 6);
    w.flush_and_sync(6).unwrap();
    drop(w);
    let mut st = AofStore::load_manifest(paths).unwrap();
    let mut h = Collect::default();
    assert_eq!(st.load(&LoadOptions::default(), &mut h), LoadStatus::Ok);
    assert_eq!(
        h.commands(),
        vec![
            s(&["SELECT", "0"]),
            s(&["SET", "during", "rewrite"]),
            s(&["SET", "after", "1"])
        ]
    );
}

#[test]
fn manifest_written_matches_parse() {
    let td = TempDir::new("aof-man").unwrap();
    let paths = AofPaths::with_defaults(td.path());
    let mut st = AofStore::new(paths.clone());
    st.create_dir_if_missing().unwrap();
    st.manifest.new_base("appendonly.aof", false);
    st.manifest.new_incr("appendonly.aof");
    st.manifest.new_incr("appendonly.aof");
    st.persist_manifest().unwrap();
    let bytes = fs::read(paths.manifest_path()).unwrap();
    let m = Manifest::parse(&bytes).unwrap();
    assert_eq!(m.incr.len(), 2);
    assert_eq!(m.curr_incr_seq, 2);
    assert!(!paths.file("temp-appendonly.aof.manifest").exists());
    let _ = io::sink();
}

#[test]
fn loading_progress_reported() {
    struct P {
        total: u64,
        seen: Vec<u64>,
        n: usize,
    }
    impl LoadHandler for P {
        fn load_rdb(&mut self, _: &str, _: &mut dyn BufRead) -> Result<(), String> {
            Err("no rdb here".into())
        }
        fn apply(&mut self, _: &str, _: Item) -> Result<(), String> {
            self.n += 1;
            Ok(())
        }
        fn log(&mut self, _: LogLevel, _: &str) {}
        fn loading_started(&mut self, total: u64) {
            self.total = total;
        }
        fn progress(&mut self, loaded: u64) {
            self.seen.push(loaded);
        }
    }
    let mut f = Vec::new();
    for i in 0..3000 {
        encode_command(&mut f, &["SET", &format!("k{i}"), "v"]);
    }
    let td = TempDir::new("aof-progress").unwrap();
    let paths = setup_two_files(&td, &f, &f);
    fs::write(paths.file("appendonly.aof.1.base.rdb"), b"").unwrap();
    let mut st = AofStore::load_manifest(paths).unwrap();
    let mut p = P {
        total: 0,
        seen: Vec::new(),
        n: 0,
    };
    assert_eq!(st.load(&LoadOptions::default(), &mut p), LoadStatus::Ok);
    assert_eq!(p.n, 6000);
    assert_eq!(p.total, 2 * f.len() as u64);
    assert!(p.seen.len() >= 4, "{:?}", p.seen);
    assert!(p.seen.windows(2).all(|w| w[0] < w[1]));
    assert!(*p.seen.last().unwrap() > f.len() as u64);
}
