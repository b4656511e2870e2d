//! The AOF directory: the manifest on disk, loading all files, the files of a rewrite.
//!
//! [`AofStore`] follows Redis 7.0's `aof.c` step by step, minus `fork()`:
//!
//! - start: [`AofStore::load_manifest`] (no directory or no manifest = empty), [`AofStore::load`]
//!   (adopts a Redis < 7 single `appendonly.aof` as the base first, then replays base + incr files
//!   through a [`LoadHandler`](crate::LoadHandler), truncating a torn tail of the last file when
//!   `aof-load-truncated yes`), then [`AofStore::open_on_start`] (base file for an empty dataset,
//!   open the last incr file or a new one, write the manifest) which returns the [`AofWriter`].
//! - rewrite: [`AofStore::start_rewrite`] opens the new incr file at rewrite start (Redis 7.0) and
//!   writes the manifest; the snapshot is written into a [`TempBase`]
//!   (`temp-rewriteaof-bg-<id>.aof` in `dir`, as Redis names it) from any thread;
//!   [`AofStore::finish_rewrite`] renames it into place as the new base, turns the old base and
//!   incr files into history, writes the manifest and deletes the history files.
//!   [`AofStore::cleanup_temp_files`] removes leftovers after a failure.
//! - `appendonly yes` at runtime (Redis's `AOF_WAIT_REWRITE`): [`AofStore::open_temp_incr`], then
//!   `finish_rewrite(.., wait_rewrite = true)` renames the temp incr into the manifest.
//!
//! The manifest is always written atomically: temp file, fsync, rename, fsync of the directory.
//!
//! Differences from Redis: a torn file that is not the last one is reported (load fails, as in
//! Redis) but not truncated on disk; history files are unlinked synchronously (Redis hands the
//! unlink to a background thread); `aof-disable-auto-gc` is not supported; manifest file names
//! must be UTF-8.
//! Log lines (Redis's texts) are queued; take them with [`AofStore::take_logs`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::manifest::{manifest_name, temp_incr_name, temp_manifest_name, Manifest, ManifestError};
use crate::writer::{open_append, strerror, AofWriter, FsyncPolicy};
use crate::LogLevel;

/// Where the AOF lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofPaths {
    /// The server's working directory (`dir`): holds `appenddirname`, an old-style single AOF
    /// and the temporary rewrite files.
    pub dir: PathBuf,
    /// `appenddirname` (a plain name inside `dir`).
    pub dirname: String,
    /// `appendfilename`.
    pub filename: String,
}

impl AofPaths {
    /// Paths with Redis's defaults for the names (`appendonlydir`, `appendonly.aof`).
    pub fn with_defaults(dir: impl Into<PathBuf>) -> AofPaths {
        AofPaths {
            dir: dir.into(),
            dirname: "appendonlydir".into(),
            filename: "appendonly.aof".into(),
        }
    }

    /// `dir/appenddirname`.
    pub fn aof_dir(&self) -> PathBuf {
        self.dir.join(&self.dirname)
    }

    /// Path of a file of the AOF directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.aof_dir().join(name)
    }

    /// `dir/appenddirname/appendfilename.manifest`.
    pub fn manifest_path(&self) -> PathBuf {
        self.file(&manifest_name(&self.filename))
    }
}

/// Failure to load the manifest.
#[derive(Debug)]
pub enum StoreError {
    /// The manifest is invalid (Redis exits with these log lines).
    Manifest(ManifestError),
    /// "Fatal error: can't open the AOF manifest file %s for reading: %s".
    Io(io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Manifest(e) => write!(f, "{e}"),
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A base file being written by a rewrite: `temp-rewriteaof-bg-<id>.aof` in `dir`.
pub struct TempBase {
    out: BufWriter<File>,
    path: PathBuf,
    name: String,
}

impl TempBase {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Flushes, fsyncs and closes it; after this [`AofStore::finish_rewrite`] can install it.
    pub fn finish(self) -> io::Result<FinishedBase> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        Ok(FinishedBase {
            path: self.path,
            name: self.name,
        })
    }

    /// Deletes it (a failed rewrite).
    pub fn abort(self) {
        let path = self.path.clone();
        drop(self);
        let _ = fs::remove_file(path);
    }
}

impl Write for TempBase {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A fully written and fsynced temporary base file.
#[derive(Debug)]
pub struct FinishedBase {
    path: PathBuf,
    name: String,
}

impl FinishedBase {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The AOF directory and its manifest. See the module documentation.
pub struct AofStore {
    pub(crate) paths: AofPaths,
    /// The manifest in effect.
    pub manifest: Manifest,
    pub(crate) loaded_total_size: u64,
    pub(crate) loaded_base_size: u64,
    /// Bytes of the files fully loaded before the current one (for progress).
    pub(crate) progress_base: u64,
    logs: Vec<(LogLevel, String)>,
}

fn is_regular_file(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

pub(crate) fn errstr(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => e.to_string(),
    }
}

/// fsync of the directory holding `path` (Redis's `fsyncFileDir`).
pub fn fsync_dir_of(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl AofStore {
    /// A store with an empty manifest (nothing read from disk).
    pub fn new(paths: AofPaths) -> AofStore {
        AofStore {
            paths,
            manifest: Manifest::new(),
            loaded_total_size: 0,
            loaded_base_size: 0,
            progress_base: 0,
            logs: Vec::new(),
        }
    }

    /// Reads the manifest (Redis's `aofLoadManifestFromDisk`): a missing directory or manifest
    /// gives an empty manifest; an unreadable or invalid one is an error (Redis exits; the
    /// error's lines are queued in the logs of the returned error's context, see
    /// [`StoreError`]).
    pub fn load_manifest(paths: AofPaths) -> Result<AofStore, StoreError> {
        let mut st = AofStore::new(paths);
        let dir = st.paths.aof_dir();
        if !is_dir(&dir) {
            st.log(
                LogLevel::Debug,
                format!("The AOF directory {} doesn't exist", dir.display()),
            );
            return Ok(st);
        }
        let mpath = st.paths.manifest_path();
        if !is_regular_file(&mpath) {
            st.log(
                LogLevel::Debug,
                format!(
                    "The AOF manifest file {} doesn't exist",
                    manifest_name(&st.paths.filename)
                ),
            );
            return Ok(st);
        }
        let bytes = fs::read(&mpath).map_err(StoreError::Io)?;
        st.manifest = Manifest::parse(&bytes).map_err(StoreError::Manifest)?;
        Ok(st)
    }

    /// The paths.
    pub fn paths(&self) -> &AofPaths {
        &self.paths
    }

    /// Takes the queued log lines.
    pub fn take_logs(&mut self) -> Vec<(LogLevel, String)> {
        std::mem::take(&mut self.logs)
    }

    pub(crate) fn log(&mut self, level: LogLevel, msg: String) {
        self.logs.push((level, msg));
    }

    /// Creates `dir/appenddirname` if missing (Redis's `dirCreateIfMissing`).
    pub fn create_dir_if_missing(&mut self) -> io::Result<()> {
        let d = self.paths.aof_dir();
        match fs::create_dir(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_dir(&d) => Ok(()),
            Err(e) => {
                let e = if e.kind() == io::ErrorKind::AlreadyExists {
                    io::Error::from_raw_os_error(20) // ENOTDIR
                } else {
                    e
                };
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Can't open or create append-only dir {}: {}",
                        self.paths.dirname,
                        errstr(&e)
                    ),
                );
                Err(e)
            }
        }
    }

    /// Writes `m` as the manifest: temp file, fsync, rename, fsync of the directory.
    fn write_manifest(&mut self, m: &Manifest) -> io::Result<()> {
        let tmp_name = temp_manifest_name(&self.paths.filename);
        let tmp = self.paths.file(&tmp_name);
        let dst = self.paths.manifest_path();
        let r = (|| -> Result<(), (String, io::Error)> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(|e| (format!("Can't open the AOF manifest file {tmp_name}"), e))?;
            f.write_all(&m.to_bytes()).map_err(|e| {
                (
                    format!("Error trying to write the temporary AOF manifest file {tmp_name}"),
                    e,
                )
            })?;
            f.sync_all()
                .map_err(|e| (format!("Fail to fsync the temp AOF file {tmp_name}"), e))?;
            fs::rename(&tmp, &dst).map_err(|e| {
                (
                    format!(
                        "Error trying to rename the temporary AOF manifest file {tmp_name} into {}",
                        manifest_name(&self.paths.filename)
                    ),
                    e,
                )
            })?;
            fsync_dir_of(&dst)
                .map_err(|e| (format!("Fail to fsync AOF directory {}", dst.display()), e))?;
            Ok(())
        })();
        match r {
            Ok(()) => Ok(()),
            Err((what, e)) => {
                self.log(LogLevel::Warning, format!("{what}: {}", errstr(&e)));
                Err(e)
            }
        }
    }

    /// Writes the manifest if it changed (Redis's `persistAofManifest`).
    pub fn persist_manifest(&mut self) -> io::Result<()> {
        if !self.manifest.dirty {
            return Ok(());
        }
        let m = self.manifest.clone();
        self.write_manifest(&m)?;
        self.manifest.dirty = false;
        Ok(())
    }

    fn persist_other(&mut self, m: &mut Manifest) -> io::Result<()> {
        if !m.dirty {
            return Ok(());
        }
        self.write_manifest(m)?;
        m.dirty = false;
        Ok(())
    }

    /// Redis 7 adopting a Redis < 7 single-file AOF: when `dir/appendfilename` exists and the
    /// AOF directory is missing, or its manifest lists nothing, or lists only that file as the
    /// base without it being in the directory, the directory is created, a manifest naming the
    /// file as base (seq 1) is written, and the file is moved into the directory. Returns true
    /// when it did so.
    pub fn upgrade_if_needed(&mut self) -> io::Result<bool> {
        let old = self.paths.dir.join(&self.paths.filename);
        if !is_regular_file(&old) {
            return Ok(false);
        }
        let m = &self.manifest;
        let only_old_base = m.incr.is_empty()
            && m.base
                .as_ref()
                .is_some_and(|b| b.name == self.paths.filename)
            && !is_regular_file(&self.paths.file(&self.paths.filename));
        if is_dir(&self.paths.aof_dir()) && !m.is_empty() && !only_old_base {
            return Ok(false);
        }
        self.create_dir_if_missing()?;
        self.manifest.base = Some(crate::manifest::AofInfo {
            name: self.paths.filename.clone(),
            seq: 1,
            kind: crate::manifest::FileType::Base,
        });
        self.manifest.curr_base_seq = 1;
        self.manifest.dirty = true;
        self.persist_manifest()?;
        let dst = self.paths.file(&self.paths.filename);
        if let Err(e) = fs::rename(&old, &dst) {
            self.log(
                LogLevel::Warning,
                format!(
                    "Error trying to move the old AOF file {} into dir {}: {}",
                    self.paths.filename,
                    self.paths.dirname,
                    errstr(&e)
                ),
            );
            return Err(e);
        }
        self.log(
            LogLevel::Notice,
            format!(
                "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
                self.paths.filename, self.paths.dirname
            ),
        );
        Ok(true)
    }

    /// Writes a base file through `write_base` the way Redis's `rewriteAppendOnlyFile` does:
    /// into `temp-rewriteaof-<id>.aof` in `dir`, fsync, rename to `dir/appenddirname/name`.
    fn write_base_file(
        &mut self,
        name: &str,
        id: u64,
        write_base: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.paths.dir.join(format!("temp-rewriteaof-{id}.aof"));
        let r = (|| {
            let f = File::create(&tmp)?;
            let mut w = BufWriter::new(f);
            write_base(&mut w)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            Ok(())
        })();
        if let Err(e) = r {
            self.log(
                LogLevel::Warning,
                format!(
                    "Write error writing append only file on disk: {}",
                    errstr(&e)
                ),
            );
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&tmp, self.paths.file(name)) {
            self.log(
                LogLevel::Warning,
                format!(
                    "Error moving temp append only file on the final destination: {}",
                    errstr(&e)
                ),
            );
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(())
    }

    /// After loading, with `appendonly yes` (Redis's `aofOpenIfNeededOnServerStart`): creates
    /// the directory; for an empty manifest writes a base file through `write_base` (the
    /// snapshot of the, empty, dataset: an RDB when `rdb_preamble`, else AOF commands); opens
    /// the last incr file (or a new one) for appending; writes the manifest. The writer's sizes
    /// are those of the last [`load`](Self::load).
    pub fn open_on_start(
        &mut self,
        policy: FsyncPolicy,
        rdb_preamble: bool,
        now: i64,
        write_base: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<AofWriter> {
        self.create_dir_if_missing()?;
        let had_incr = !self.manifest.incr.is_empty();
        if self.manifest.is_empty() {
            let mut m = self.manifest.clone();
            let base = m.new_base(&self.paths.filename, rdb_preamble);
            self.write_base_file(&base, u64::from(std::process::id()), write_base)?;
            self.manifest = m;
            self.log(
                LogLevel::Notice,
                format!("Creating AOF base file {base} on server start"),
            );
        }
        let name = self.manifest.last_incr_or_new(&self.paths.filename);
        let file = match open_append(&self.paths.file(&name), false) {
            Ok(f) => f,
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!("Can't open the append-only file {name}: {}", errstr(&e)),
                );
                return Err(e);
            }
        };
        self.persist_manifest()?;
        let mut w = AofWriter::new(file, &name, policy, now)?;
        w.set_sizes(self.loaded_total_size, self.loaded_base_size);
        self.log(
            LogLevel::Notice,
            if had_incr {
                format!("Opening AOF incr file {name} on server start")
            } else {
                format!("Creating AOF incr file {name} on server start")
            },
        );
        Ok(w)
    }

    /// Rewrite start with the AOF on (Redis's `openNewIncrAofForAppend`): flushes the writer's
    /// buffer into the old file, opens a new incr file, writes the manifest, and switches the
    /// writer to it (the old file is fsynced and closed in the background; the next command
    /// gets a `SELECT`). On error nothing changes.
    pub fn start_rewrite(&mut self, writer: &mut AofWriter, now: i64) -> io::Result<()> {
        self.create_dir_if_missing()?;
        writer.reset_selected_db();
        let _ = writer.flush(now, true);
        let mut m = self.manifest.clone();
        let name = m.new_incr(&self.paths.filename);
        let file = match open_append(&self.paths.file(&name), true) {
            Ok(f) => f,
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!("Can't open the append-only file {name}: {}", errstr(&e)),
                );
                return Err(e);
            }
        };
        self.persist_other(&mut m)?;
        self.log(
            LogLevel::Notice,
            format!("Creating AOF incr file {name} on background rewrite"),
        );
        writer.switch_file(file, &name, now)?;
        self.manifest = m;
        Ok(())
    }

    /// Rewrite start while turning the AOF on at runtime (Redis's `AOF_WAIT_REWRITE`): a writer
    /// on `temp-<appendfilename>.incr` that collects writes until the rewrite finishes.
    pub fn open_temp_incr(&mut self, policy: FsyncPolicy, now: i64) -> io::Result<AofWriter> {
        self.create_dir_if_missing()?;
        let name = temp_incr_name(&self.paths.filename);
        let file = match open_append(&self.paths.file(&name), true) {
            Ok(f) => f,
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!("Can't open the append-only file {name}: {}", errstr(&e)),
                );
                return Err(e);
            }
        };
        self.log(
            LogLevel::Notice,
            format!("Creating AOF incr file {name} on background rewrite"),
        );
        AofWriter::new(file, &name, policy, now)
    }

    /// Opens the temporary base file a rewrite writes into: `temp-rewriteaof-bg-<id>.aof` in
    /// `dir` (Redis uses the child's pid as `id`).
    pub fn create_temp_base(&mut self, id: u64) -> io::Result<TempBase> {
        let name = format!("temp-rewriteaof-bg-{id}.aof");
        let path = self.paths.dir.join(&name);
        match File::create(&path) {
            Ok(f) => Ok(TempBase {
                out: BufWriter::with_capacity(1 << 16, f),
                path,
                name,
            }),
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
                        errstr(&e)
                    ),
                );
                Err(e)
            }
        }
    }

    /// A successful rewrite (Redis's `backgroundRewriteDoneHandler`): the temp base becomes
    /// `<appendfilename>.<seq>.base.rdb|aof`, the old base and all incr files but the one being
    /// written become history, the manifest is written, the writer's sizes are updated and the
    /// history files are deleted. With `wait_rewrite` (the AOF was being turned on), the writer
    /// is the [`open_temp_incr`](Self::open_temp_incr) one and its file becomes the new incr.
    /// `writer` is `None` when the AOF was turned off meanwhile. On error the new files are
    /// removed and the manifest is unchanged.
    pub fn finish_rewrite(
        &mut self,
        base: FinishedBase,
        rdb_preamble: bool,
        wait_rewrite: bool,
        writer: Option<&mut AofWriter>,
    ) -> io::Result<()> {
        self.log(
            LogLevel::Notice,
            "Background AOF rewrite terminated with success".into(),
        );
        let mut m = self.manifest.clone();
        let base_name = m.new_base(&self.paths.filename, rdb_preamble);
        let base_path = self.paths.file(&base_name);
        if let Err(e) = fs::rename(&base.path, &base_path) {
            self.log(
                LogLevel::Warning,
                format!(
                    "Error trying to rename the temporary AOF base file {} into {}: {}",
                    base.name,
                    base_path.display(),
                    errstr(&e)
                ),
            );
            let _ = fs::remove_file(&base.path);
            return Err(e);
        }
        self.log(
            LogLevel::Notice,
            format!(
                "Successfully renamed the temporary AOF base file {} into {base_name}",
                base.name
            ),
        );
        let mut new_incr: Option<(PathBuf, String)> = None;
        if wait_rewrite {
            let tmp_name = temp_incr_name(&self.paths.filename);
            let tmp_path = self.paths.file(&tmp_name);
            let incr = m.new_incr(&self.paths.filename);
            let incr_path = self.paths.file(&incr);
            if let Err(e) = fs::rename(&tmp_path, &incr_path) {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Error trying to rename the temporary AOF incr file {} into {}: {}",
                        tmp_path.display(),
                        incr_path.display(),
                        errstr(&e)
                    ),
                );
                let _ = fs::remove_file(&base_path);
                return Err(e);
            }
            self.log(
                LogLevel::Notice,
                format!("Successfully renamed the temporary AOF incr file {tmp_name} into {incr}"),
            );
            new_incr = Some((incr_path, incr));
        }
        m.mark_rewritten_incr_as_history(writer.is_some());
        if let Err(e) = self.persist_other(&mut m) {
            let _ = fs::remove_file(&base_path);
            if let Some((p, _)) = &new_incr {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        self.manifest = m;
        if let Some(w) = writer {
            if let Some((_, incr)) = &new_incr {
                w.set_file_name(incr);
            }
            let base_size = fs::metadata(&base_path).map(|m| m.len()).unwrap_or(0);
            let cur = base_size + w.incr_size();
            w.set_sizes(cur, cur);
        }
        let _ = self.delete_history();
        self.log(
            LogLevel::Notice,
            "Background AOF rewrite finished successfully".into(),
        );
        Ok(())
    }

    /// Deletes the history files and rewrites the manifest without them (Redis's
    /// `aofDelHistoryFiles`).
    pub fn delete_history(&mut self) -> io::Result<()> {
        if self.manifest.history.is_empty() {
            return Ok(());
        }
        for h in std::mem::take(&mut self.manifest.history) {
            self.log(
                LogLevel::Notice,
                format!("Removing the history file {} in the background", h.name),
            );
            let _ = fs::remove_file(self.paths.file(&h.name));
        }
        self.manifest.dirty = true;
        self.persist_manifest()
    }

    /// Removes what a failed or aborted rewrite leaves: `temp-rewriteaof-*.aof` in `dir`, the
    /// temporary manifest, and (with `temp_incr`, when the AOF was waiting for its first rewrite)
    /// the temporary incr file. Returns how many files were removed.
    pub fn cleanup_temp_files(&mut self, temp_incr: bool) -> usize {
        let mut removed = 0;
        if let Ok(rd) = fs::read_dir(&self.paths.dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with("temp-rewriteaof-")
                    && n.ends_with(".aof")
                    && fs::remove_file(e.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        let mut names = vec![temp_manifest_name(&self.paths.filename)];
        if temp_incr {
            let n = temp_incr_name(&self.paths.filename);
            self.log(
                LogLevel::Notice,
                format!("Removing the temp incr aof file {n} in the background"),
            );
            names.push(n);
        }
        for n in names {
            if fs::remove_file(self.paths.file(&n)).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}
