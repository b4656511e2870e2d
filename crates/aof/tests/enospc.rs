//! A full disk: a 64 KB tmpfs (needs root; skipped when mount fails). A write that does not fit
//! is truncated back (nothing half-written stays), the data stays buffered, the status says
//! `err` / MISCONF, and once space is freed the next flush writes everything and reports the
//! recovery.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cinnabar_aof::{encode_command, read_all, AofIoError, AofWriter, FsyncPolicy, IoOp, Item};
use cinnabar_testkit::{loud_note, TempDir};

struct Mount {
    path: PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Mount {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // A concurrent fork (another test spawning a process) can briefly hold a descriptor:
        // retry, then detach lazily so no mount is ever left behind.
        for _ in 0..20 {
            let ok = Command::new("umount")
                .arg(&self.path)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The tests of this file run one at a time (mount/umount and forks do not mix well).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn big_cmd(key: &str, n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    encode_command(&mut v, &[b"SET".as_slice(), key.as_bytes(), &vec![b'v'; n]]);
    v
}

#[test]
fn enospc_truncates_back_and_recovers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let td = TempDir::new("aof-enospc").unwrap();
    let mnt = td.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(_m) = Mount::tmpfs(&mnt, "64k") else {
        loud_note("SKIPPED enospc_truncates_back_and_recovers: cannot mount a tmpfs (not root?)");
        return;
    };
    let filler = mnt.join("filler");
    fs::write(&filler, vec![0u8; 40 * 1024]).unwrap();

    let aof = mnt.join("appendonly.aof.1.incr.aof");
    let mut w = AofWriter::open(&aof, FsyncPolicy::EverySec, 1000).unwrap();
    let first = big_cmd("a", 8 * 1024);
    w.append(&first);
    assert!(w.flush(1000, false).is_ok());
    let good_len = first.len() as u64;
    assert_eq!(fs::metadata(&aof).unwrap().len(), good_len);

    // 30 KB more does not fit: partial write, then ENOSPC, truncated back.
    let second = big_cmd("b", 30 * 1024);
    w.append(&second);
    let err = w.flush(1001, false).unwrap_err();
    assert_eq!(
        err,
        AofIoError {
            op: IoOp::Write,
            errno: 28,
            fatal: false
        }
    );
    assert_eq!(
        fs::metadata(&aof).unwrap().len(),
        good_len,
        "truncated back"
    );
    assert_eq!(w.buffer_len(), second.len(), "data kept for retry");
    assert_eq!(w.incr_size(), good_len);
    assert!(!w.last_write_ok());
    assert_eq!(w.last_write_status(), "err");
    assert!(w.needs_cron_flush());
    assert_eq!(
        w.misconf_error().unwrap(),
        "-MISCONF Errors writing to the AOF file: No space left on device"
    );
    let logs = w.take_logs();
    assert!(
        logs.iter()
            .any(|(_, m)| m.starts_with("Short write while writing to the AOF file: (nwritten=")),
        "{logs:?}"
    );

    // More commands arrive meanwhile; a retry still fails and still leaves no partial data.
    let third = big_cmd("c", 100);
    w.append(&third);
    assert!(w.flush(1002, false).is_err());
    assert_eq!(fs::metadata(&aof).unwrap().len(), good_len);

    // Free the space: the retry writes everything in order and reports the recovery.
    fs::remove_file(&filler).unwrap();
    assert!(w.flush(1003, false).is_ok());
    assert!(w.last_write_ok());
    assert_eq!(w.last_write_status(), "ok");
    assert!(w.misconf_error().is_none());
    assert!(!w.needs_cron_flush());
    assert!(w
        .take_logs()
        .iter()
        .any(|(_, m)| m == "AOF write error looks solved, Redis can write again."));
    let bytes = fs::read(&aof).unwrap();
    let mut want = first.clone();
    want.extend(&second);
    want.extend(&third);
    assert_eq!(bytes, want);
    let (items, end) = read_all(&bytes);
    assert!(end.is_ok());
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[1], Item::Command(a) if a[1] == b"b"));
    assert_eq!(w.current_size(), want.len() as u64);
    w.wait_background_fsync();
    drop(w);
}

#[test]
fn enospc_nothing_written_and_always_is_fatal() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let td = TempDir::new("aof-enospc2").unwrap();
    let mnt = td.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(_m) = Mount::tmpfs(&mnt, "64k") else {
        loud_note("SKIPPED enospc_nothing_written_and_always_is_fatal: cannot mount a tmpfs");
        return;
    };
    let aof = mnt.join("a.aof");
    let mut w = AofWriter::open(&aof, FsyncPolicy::Always, 1).unwrap();
    // Fill the filesystem completely with another file.
    let filler = mnt.join("filler");
    let _ = fs::write(&filler, vec![0u8; 128 * 1024]);
    w.append(&big_cmd("k", 10));
    let err = w.flush(1, false).unwrap_err();
    assert_eq!(err.errno, 28);
    assert!(err.fatal, "appendfsync always: Redis exits");
    assert_eq!(fs::metadata(&aof).unwrap().len(), 0);
    let logs = w.take_logs();
    assert!(logs
        .iter()
        .any(|(_, m)| m == "Error writing to the AOF file: No space left on device"));
    assert!(logs.iter().any(|(_, m)| m
        == "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."));
    fs::remove_file(&filler).unwrap();
    assert_eq!(
        w.flush(2, false).unwrap(),
        cinnabar_aof::Flushed::Written(w.incr_size() as usize)
    );
    assert!(w.last_write_ok());
}
