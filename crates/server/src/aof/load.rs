//! Loading the AOF: reading the manifest, Redis 7's upgrade of an old single-file AOF, and
//! executing the base (RDB preamble or commands) and incr files through the dispatcher.

use super::{dir, ensure_dir, errstr, file_size, persist_manifest};
use crate::client::{Client, ClientHandle};
use crate::server::{now_ms, Server};
use crate::{notice, warning};
use cinnabar_aof::{AofReader, Item, Manifest, ReadError};
use cinnabar_resp::Args;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

/// The client that executes an AOF's commands (registered only while it loads).
fn loader_client(s: &mut Server) -> Client {
    let h = ClientHandle::internal(s, String::new());
    s.clients.remove(&h.id);
    let mut c = Client::new(h, true);
    c.is_master = true;
    c
}

fn exec_argv(s: &mut Server, c: &mut Client, argv: &[Vec<u8>]) -> Result<(), String> {
    let spans: Vec<(usize, usize)> = {
        let mut off = 0;
        argv.iter()
            .map(|a| {
                let sp = (off, off + a.len());
                off += a.len();
                sp
            })
            .collect()
    };
    let flat: Vec<u8> = argv.concat();
    let args = Args::new(&flat, &spans);
    let mut clock = Instant::now();
    for db in s.ks.dbs.iter_mut() {
        db.replaying = true;
    }
    let _ = crate::dispatch::execute(s, c, args, now_ms(), &mut clock);
    for db in s.ks.dbs.iter_mut() {
        db.replaying = false;
    }
    let unknown = c.reply.out.starts_with(b"-ERR unknown command");
    c.reply.out.clear();
    c.reply.errors.clear();
    if unknown {
        let name = String::from_utf8_lossy(argv.first().map_or(&b""[..], |v| v.as_slice()));
        return Err(format!(
            "Unknown command '{name}' reading the append only file {}",
            s.aof_loading_file
        ));
    }
    Ok(())
}

enum LoadEnd {
    Ok,
    Empty,
}

/// Loads one AOF file (`last`: truncation may be repaired there).
fn load_file(s: &mut Server, c: &mut Client, path: &Path, last: bool) -> Result<LoadEnd, String> {
    let name = path.display().to_string();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ))
        }
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    s.aof_loading_file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if size == 0 {
        return Ok(LoadEnd::Empty);
    }
    let max_bulk = s.settings.proto_max_bulk_len.max(0) as u64;
    let mut reader =
        AofReader::new(BufReader::with_capacity(256 * 1024, f)).with_max_bulk_len(max_bulk);
    if reader.has_rdb_preamble().map_err(|e| format!("{e}"))? {
        notice!("Reading RDB base file on AOF loading...");
        // The RDB part is read from its own handle (the RDB loader buffers ahead); the command
        // tail, if any, is read from where the RDB ends.
        let rf = File::open(path).map_err(|e| format!("{e}"))?;
        let limits = s.settings.limits;
        let mut db = 0usize;
        let now = now_ms();
        let mut loader = cinnabar_rdb::Loader::new(rf);
        loop {
            match loader
                .next(&limits)
                .map_err(|e| format!("Bad file format reading the append only file {name}: {e}"))?
            {
                None | Some(cinnabar_rdb::Item::Eof) => break,
                Some(cinnabar_rdb::Item::SelectDb(n)) => {
                    db = (n as usize).min(s.ks.dbs.len().saturating_sub(1));
                }
                Some(cinnabar_rdb::Item::Key {
                    key,
                    value,
                    expire_ms,
                    ..
                }) => {
                    if expire_ms.is_some_and(|w| w < now) {
                        continue;
                    }
                    s.ks.dbs[db].load_insert(&key, value, expire_ms, now, true);
                }
                Some(cinnabar_rdb::Item::EmptyKey(key)) => {
                    warning!(
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&key)
                    );
                }
                Some(cinnabar_rdb::Item::Function(code)) => {
                    s.scripting
                        .funcs
                        .create(&code, true)
                        .map_err(|e| format!("Failed loading library, {e}"))?;
                }
                Some(_) => {}
            }
        }
        let rdb_len = loader.consumed();
        drop(loader);
        if rdb_len >= size {
            return Ok(LoadEnd::Ok);
        }
        notice!("Reading the remaining AOF tail...");
        let mut tf = File::open(path).map_err(|e| format!("{e}"))?;
        std::io::Seek::seek(&mut tf, std::io::SeekFrom::Start(rdb_len))
            .map_err(|e| format!("{e}"))?;
        reader = AofReader::starting_at(BufReader::with_capacity(256 * 1024, tf), rdb_len)
            .with_max_bulk_len(max_bulk);
    }
    loop {
        match reader.next_item() {
            Ok(None) => break,
            Ok(Some(Item::Command(argv))) => exec_argv(s, c, &argv)?,
            Ok(Some(Item::Transaction(cmds))) => {
                exec_argv(s, c, &[b"MULTI".to_vec()])?;
                for argv in &cmds {
                    exec_argv(s, c, argv)?;
                }
                exec_argv(s, c, &[b"EXEC".to_vec()])?;
            }
            Ok(Some(Item::Timestamp(_))) => {}
            Err(ReadError::Truncated {
                valid_up_to,
                open_multi,
                ..
            }) => {
                warning!("!!! Warning: short read while loading the AOF file {name}!!!");
                if !last {
                    return Err(format!(
                        "Unexpected end of file reading the append only file {name}"
                    ));
                }
                if !s.settings.aof_load_truncated {
                    return Err(format!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."));
                }
                warning!("!!! Warning: short read while loading the AOF file {name}!!!");
                warning!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
                if open_multi {
                    warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
                }
                let trunc = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(valid_up_to).and_then(|_| f.sync_all()));
                if let Err(e) = trunc {
                    return Err(format!("Error truncating the AOF file {name}: {e}"));
                }
                warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                s.aof.loaded_truncated = true;
                break;
            }
            Err(ReadError::Format { offset, .. }) => {
                warning!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>");
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {offset}"
                ));
            }
            Err(e) => return Err(format!("{e}")),
        }
    }
    Ok(LoadEnd::Ok)
}

/// Redis 7's upgrade of an old single-file AOF: the manifest (written first) lists it as the
/// base, then it moves into the AOF directory. Interrupted anywhere, it is continued at the next
/// start. Err = exit (already logged).
fn upgrade_prepare(s: &mut Server) -> Result<(), String> {
    let d = ensure_dir(s).ok_or_else(String::new)?;
    let fname = s.settings.appendfilename.clone();
    let m = &mut s.aof.manifest;
    m.base = Some(cinnabar_aof::AofInfo {
        name: fname.clone(),
        seq: 1,
        kind: cinnabar_aof::FileType::Base,
    });
    m.curr_base_seq = 1;
    m.dirty = true;
    persist_manifest(s).map_err(|()| String::new())?;
    if let Err(e) = std::fs::rename(&fname, d.join(&fname)) {
        warning!(
            "Error trying to move the old AOF file {fname} into dir {}: {}",
            d.display(),
            errstr(&e)
        );
        return Err(String::new());
    }
    notice!(
        "Successfully migrated an old-style AOF file ({fname}) into the AOF directory ({}).",
        d.display()
    );
    Ok(())
}

/// Reads the manifest from the AOF directory (none there: an empty one), whatever
/// `appendonly` says. Err = exit (already logged).
pub(super) fn load_manifest_from_disk(s: &mut Server) -> Result<(), String> {
    s.aof.manifest = Manifest::new();
    let d = dir(s);
    let mpath = d.join(cinnabar_aof::manifest::manifest_name(
        &s.settings.appendfilename,
    ));
    if !d.is_dir() || !mpath.is_file() {
        return Ok(());
    }
    let bytes = std::fs::read(&mpath).map_err(|e| {
        warning!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            mpath.display(),
            errstr(&e)
        );
        String::new()
    })?;
    s.aof.manifest = Manifest::parse(&bytes).map_err(|e| {
        for l in e.log_lines() {
            warning!("{l}");
        }
        String::new()
    })?;
    Ok(())
}

/// What [`load_append_only_files`] found.
#[derive(PartialEq, Eq)]
pub(super) enum Loaded {
    /// No AOF at all.
    NotExist,
    /// Only empty files.
    Empty,
    Ok,
}

/// Loads the manifest's base and incr files (after adopting an old single-file AOF). Err = exit.
pub(super) fn load_append_only_files(s: &mut Server) -> Result<Loaded, String> {
    let d = dir(s);
    let fname = s.settings.appendfilename.clone();
    // An old single-file AOF in `dir` is adopted when there is no AOF directory, no file in the
    // manifest, or only a base named like it that the directory lacks (an upgrade interrupted
    // between writing the manifest and moving the file).
    if Path::new(&fname).is_file() {
        let m = &s.aof.manifest;
        let only_old_base = m.incr.is_empty()
            && m.base.as_ref().is_some_and(|b| b.name == fname)
            && !d.join(&fname).is_file();
        if !d.is_dir() || m.is_empty() || only_old_base {
            upgrade_prepare(s)?;
        }
    }
    if s.aof.manifest.is_empty() {
        return Ok(Loaded::NotExist);
    }
    let files: Vec<_> = s.aof.manifest.files_to_load().cloned().collect();
    // Every file the manifest lists must be there.
    let mut total = 0u64;
    for f in &files {
        match std::fs::metadata(d.join(&f.name)) {
            Ok(m) => total += m.len(),
            Err(e) => {
                warning!(
                    "Unable to obtain the AOF file {} length. stat: {}",
                    f.name,
                    errstr(&e)
                );
                return Err(String::new());
            }
        }
    }
    if total == 0 {
        return Ok(Loaded::Empty);
    }
    let mut c = loader_client(s);
    let n = files.len();
    let saved_enabled = s.prop.enabled;
    s.prop.enabled = false;
    let mut r = Ok(Loaded::Ok);
    for (i, f) in files.iter().enumerate() {
        let t0 = Instant::now();
        match load_file(s, &mut c, &d.join(&f.name), i + 1 == n) {
            Ok(LoadEnd::Ok) => notice!(
                "DB loaded from {} file {}: {:.3} seconds",
                if f.kind == cinnabar_aof::FileType::Base {
                    "base"
                } else {
                    "incr"
                },
                f.name,
                t0.elapsed().as_secs_f64()
            ),
            Ok(LoadEnd::Empty) => {}
            Err(e) => {
                r = Err(e);
                break;
            }
        }
    }
    s.prop.enabled = saved_enabled;
    // The growth of the next automatic rewrite is measured from the base (the size at the
    // last rewrite is not kept across restarts).
    s.aof.rewrite_base_size = files
        .first()
        .filter(|f| f.kind == cinnabar_aof::FileType::Base)
        .map_or(0, |f| file_size(&d.join(&f.name)));
    r
}
