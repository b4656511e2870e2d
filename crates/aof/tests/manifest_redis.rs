//! Manifest parsing against redis-server 7.0: the same manifests are accepted, and rejected
//! ones fail with the same message in Redis's log.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;

use cinnabar_aof::{encode_command, Manifest};
use cinnabar_testkit::{redis_bin, require_redis, Server, TempDir};

/// `dir` with `appendonlydir/` holding `files` (one SET each) and the manifest.
fn setup(manifest: &[u8], files: &[&str]) -> (TempDir, PathBuf) {
    let td = TempDir::new("aof-man-redis").unwrap();
    let aof_dir = td.path().join("appendonlydir");
    fs::create_dir_all(&aof_dir).unwrap();
    for f in files {
        let mut b = Vec::new();
        encode_command(&mut b, &["SET", f, "1"]);
        fs::write(aof_dir.join(f), b).unwrap();
    }
    fs::write(aof_dir.join("appendonly.aof.manifest"), manifest).unwrap();
    (td, aof_dir)
}

#[test]
fn rejected_like_redis() {
    require_redis!();
    let cases: &[&[u8]] = &[
        b"",
        b"\n",
        b"file a seq 1 type b",
        b"file a seq 1\n",
        b"file \"a seq 1 type b\n",
        b"file a seq 0 type b\n",
        b"file x/a seq 1 type b\n",
        b"file a seq 1 type b\nfile b seq 2 type b\n",
        b"file a seq 2 type i\nfile b seq 2 type i\n",
        b"file a seq 1 type q\n",
    ];
    for m in cases {
        let ours = Manifest::parse(m).unwrap_err();
        let (td, _) = setup(m, &[]);
        let dir = td.path().to_string_lossy().into_owned();
        let r = Server::try_start(&redis_bin(), &["--dir", &dir, "--appendonly", "yes"]);
        let err = match r {
            Ok(_) => panic!("redis accepted {:?}", String::from_utf8_lossy(m)),
            Err(e) => e,
        };
        assert!(
            err.contains(ours.message),
            "manifest {:?}: ours {:?}, redis log:\n{err}",
            String::from_utf8_lossy(m),
            ours.message
        );
        if let Some((n, _)) = &ours.line {
            assert!(
                err.contains(&format!("Reading the manifest file, at line {n}")),
                "{err}"
            );
        }
    }
}

#[test]
fn accepted_like_redis() {
    require_redis!();
    // Comments, key order and case, extra keys, a quoted name with a space, CRLF.
    let m = b"# comment\nSEQ 1 Type b FILE base.aof extra 1\r\nfile 'my incr.aof' seq 3 type i\n";
    let parsed = Manifest::parse(m).unwrap();
    let names: Vec<&str> = parsed.files_to_load().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["base.aof", "my incr.aof"]);
    let (td, _) = setup(m, &names);
    let dir = td.path().to_string_lossy().into_owned();
    let srv = Server::redis(&["--dir", &dir, "--appendonly", "yes"]);
    let mut c = srv.conn();
    assert_eq!(c.cmd(&["GET", "base.aof"]), b"$1\r\n1\r\n");
    assert_eq!(c.cmd(&["GET", "my incr.aof"]), b"$1\r\n1\r\n");
    drop(c);
    drop(srv);
    // Our canonical serialization of the same manifest (quoted name) is accepted too.
    let ours = parsed.to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&ours),
        "file base.aof seq 1 type b\nfile \"my incr.aof\" seq 3 type i\n"
    );
    let (td, _) = setup(&ours, &names);
    let dir = td.path().to_string_lossy().into_owned();
    let srv = Server::redis(&["--dir", &dir, "--appendonly", "yes"]);
    let mut c = srv.conn();
    assert_eq!(c.cmd(&["GET", "my incr.aof"]), b"$1\r\n1\r\n");
}
