//! Loading the AOF at startup (Redis's `loadAppendOnlyFiles` / `loadSingleAppendOnlyFile`):
//! base then incr files through a [`LoadHandler`], the RDB part handed to the handler, a torn tail
//! of the last file truncated when `aof-load-truncated yes`, Redis's log lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead};
use std::time::Instant;

use crate::reader::{AofReader, Item, ReadError, DEFAULT_MAX_BULK_LEN};
use crate::store::{errstr, AofStore};
use crate::LogLevel;

/// Options for [`AofStore::load`].
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// `aof-load-truncated`.
    pub load_truncated: bool,
    /// `proto-max-bulk-len`.
    pub max_bulk_len: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            load_truncated: true,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
        }
    }
}

/// Result of loading, Redis's `AOF_*` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStatus {
    /// Everything loaded.
    Ok,
    /// No AOF at all.
    NotExist,
    /// The AOF files are all empty.
    Empty,
    /// A file could not be opened.
    OpenErr,
    /// Loading failed (bad format, truncated without `aof-load-truncated`, RDB error, ...).
    Failed,
    /// Loaded; the last file had a torn tail and was truncated.
    Truncated,
}

/// What the server does with the contents while loading.
pub trait LoadHandler {
    /// The file starts with `REDIS`: load the RDB payload from `r`, consuming exactly its bytes
    /// (use `fill_buf`/`consume` or exact reads, never a read-ahead buffer of your own).
    /// `Err` aborts loading (after Redis's log line about the RDB part).
    fn load_rdb(&mut self, file_name: &str, r: &mut dyn BufRead) -> Result<(), String>;
    /// Executes one item. `Err(message)`: loading fails and `message` is logged as a warning
    /// (e.g. "Unknown command '%s' reading the append only file %s").
    fn apply(&mut self, file_name: &str, item: Item) -> Result<(), String>;
    /// A log line from loading.
    fn log(&mut self, level: LogLevel, msg: &str);
    /// Loading starts: the total size of the files to load (Redis's `startLoading`, for INFO
    /// `loading_total_bytes`).
    fn loading_started(&mut self, _total_bytes: u64) {}
    /// Called every 1024 items with the bytes loaded so far across files (Redis serves clients
    /// with `-LOADING` and updates INFO at this point).
    fn progress(&mut self, _loaded_bytes: u64) {}
}

impl AofStore {
    /// Size of a file of the AOF directory (Redis's `getAppendOnlyFileSize`).
    fn file_size(&mut self, name: &str) -> Result<u64, LoadStatus> {
        match fs::metadata(self.paths.file(name)) {
            Ok(m) => Ok(m.len()),
            Err(e) => {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Unable to obtain the AOF file {name} length. stat: {}",
                        errstr(&e)
                    ),
                );
                Err(if e.kind() == io::ErrorKind::NotFound {
                    LoadStatus::NotExist
                } else {
                    LoadStatus::OpenErr
                })
            }
        }
    }

    /// Total size of the base and incr files, as computed by the last [`load`](Self::load)
    /// (`aof_current_size` after loading) and the base size (`aof_base_size`).
    pub fn loaded_sizes(&self) -> (u64, u64) {
        (self.loaded_total_size, self.loaded_base_size)
    }

    /// Loads every file of the manifest (Redis's `loadAppendOnlyFiles`), upgrading an old-style
    /// single file first. The handler's log receives the store's queued lines as they happen.
    pub fn load(&mut self, opts: &LoadOptions, h: &mut dyn LoadHandler) -> LoadStatus {
        let r = self.load_inner(opts, h);
        for (l, m) in self.take_logs() {
            h.log(l, &m);
        }
        r
    }

    fn load_inner(&mut self, opts: &LoadOptions, h: &mut dyn LoadHandler) -> LoadStatus {
        if self.upgrade_if_needed().is_err() {
            return LoadStatus::Failed;
        }
        for (l, m) in self.take_logs() {
            h.log(l, &m);
        }
        if self.manifest.is_empty() {
            return LoadStatus::NotExist;
        }
        self.progress_base = 0;
        let files: Vec<(String, bool)> = self
            .manifest
            .base
            .iter()
            .map(|b| (b.name.clone(), true))
            .chain(self.manifest.incr.iter().map(|i| (i.name.clone(), false)))
            .collect();
        let mut total = 0u64;
        for (name, _) in &files {
            match self.file_size(name) {
                Ok(n) => total += n,
                Err(LoadStatus::NotExist) => return LoadStatus::Failed,
                Err(s) => return s,
            }
        }
        for (l, m) in self.take_logs() {
            h.log(l, &m);
        }
        if total == 0 {
            return LoadStatus::Empty;
        }
        h.loading_started(total);
        let mut base_size = 0;
        let mut ret = LoadStatus::Ok;
        let n = files.len();
        for (i, (name, is_base)) in files.iter().enumerate() {
            let last = i + 1 == n;
            if *is_base {
                base_size = fs::metadata(self.paths.file(name))
                    .map(|m| m.len())
                    .unwrap_or(0);
            }
            let start = Instant::now();
            ret = self.load_file(name, last, opts, h);
            self.progress_base += fs::metadata(self.paths.file(name))
                .map(|m| m.len())
                .unwrap_or(0);
            if ret == LoadStatus::Ok || (ret == LoadStatus::Truncated && last) {
                h.log(
                    LogLevel::Notice,
                    &format!(
                        "DB loaded from {} file {name}: {:.3} seconds",
                        if *is_base { "base" } else { "incr" },
                        start.elapsed().as_secs_f64()
                    ),
                );
            }
            if ret == LoadStatus::Empty && !is_base {
                ret = LoadStatus::Ok;
            }
            if ret == LoadStatus::Truncated && !last {
                h.log(
                    LogLevel::Warning,
                    "Fatal error: the truncated file is not the last file",
                );
                ret = LoadStatus::Failed;
            }
            if matches!(ret, LoadStatus::OpenErr | LoadStatus::Failed) {
                return ret;
            }
        }
        // Truncation may have shortened the last file.
        let mut total = 0;
        for (name, _) in &files {
            total += fs::metadata(self.paths.file(name))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        self.loaded_total_size = total;
        self.loaded_base_size = base_size;
        ret
    }

    /// Loads one file of the AOF directory (Redis's `loadSingleAppendOnlyFile`). A torn tail is
    /// truncated on disk only when `aof-load-truncated` is on and `last` is true.
    pub fn load_file(
        &mut self,
        name: &str,
        last: bool,
        opts: &LoadOptions,
        h: &mut dyn LoadHandler,
    ) -> LoadStatus {
        let path = self.paths.file(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                if e.kind() == io::ErrorKind::NotFound {
                    h.log(
                        LogLevel::Warning,
                        &format!("The append log file {name} doesn't exist: {}", errstr(&e)),
                    );
                    return LoadStatus::NotExist;
                }
                h.log(
                    LogLevel::Warning,
                    &format!(
                        "Fatal error: can't open the append log file {name} for reading: {}",
                        errstr(&e)
                    ),
                );
                return LoadStatus::OpenErr;
            }
        };
        if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
            return LoadStatus::Empty;
        }
        let mut reader = AofReader::new(file).with_max_bulk_len(opts.max_bulk_len);
        let unrecoverable = |h: &mut dyn LoadHandler, e: &io::Error| {
            h.log(
                LogLevel::Warning,
                &format!(
                    "Unrecoverable error reading the append only file {name}: {}",
                    errstr(e)
                ),
            );
            LoadStatus::Failed
        };
        match reader.has_rdb_preamble() {
            Err(e) => return unrecoverable(h, &e),
            Ok(false) => {}
            Ok(true) => {
                let old_style = name == self.paths.filename;
                h.log(
                    LogLevel::Notice,
                    if old_style {
                        "Reading RDB preamble from AOF file..."
                    } else {
                        "Reading RDB base file on AOF loading..."
                    },
                );
                if let Err(msg) = h.load_rdb(name, &mut reader) {
                    if !msg.is_empty() {
                        h.log(LogLevel::Warning, &msg);
                    }
                    h.log(
                        LogLevel::Warning,
                        &if old_style {
                            format!("Error reading the RDB preamble of the AOF file {name}, AOF loading aborted")
                        } else {
                            format!("Error reading the RDB base file {name}, AOF loading aborted")
                        },
                    );
                    return LoadStatus::Failed;
                }
                reader.reset_valid_offset();
                if old_style {
                    h.log(LogLevel::Notice, "Reading the remaining AOF tail...");
                }
            }
        }
        let mut loops: u64 = 0;
        let valid_up_to = loop {
            loops += 1;
            if loops.is_multiple_of(1024) {
                h.progress(self.progress_base + reader.position());
            }
            match reader.next_item() {
                Ok(Some(item)) => {
                    if let Err(msg) = h.apply(name, item) {
                        if !msg.is_empty() {
                            h.log(LogLevel::Warning, &msg);
                        }
                        return LoadStatus::Failed;
                    }
                }
                Ok(None) => return LoadStatus::Ok,
                Err(ReadError::Io(e)) => return unrecoverable(h, &e),
                Err(ReadError::Format { .. }) => {
                    h.log(LogLevel::Warning, &format!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"));
                    return LoadStatus::Failed;
                }
                Err(ReadError::Truncated {
                    valid_up_to,
                    open_multi,
                    partial_command,
                }) => {
                    if open_multi && !partial_command {
                        h.log(
                            LogLevel::Warning,
                            &format!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"),
                        );
                    }
                    break valid_up_to;
                }
            }
        };
        if opts.load_truncated {
            h.log(
                LogLevel::Warning,
                &format!("!!! Warning: short read while loading the AOF file {name}!!!"),
            );
            h.log(
                LogLevel::Warning,
                &format!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!"),
            );
            if !last {
                // Redis would truncate then fail; leave a non-last file untouched.
                return LoadStatus::Truncated;
            }
            let r = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(valid_up_to));
            match r {
                Ok(()) => {
                    h.log(
                        LogLevel::Warning,
                        &format!("AOF {name} loaded anyway because aof-load-truncated is enabled"),
                    );
                    return LoadStatus::Truncated;
                }
                Err(e) => h.log(
                    LogLevel::Warning,
                    &format!("Error truncating the AOF file {name}: {}", errstr(&e)),
                ),
            }
        }
        h.log(LogLevel::Warning, &format!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."));
        LoadStatus::Failed
    }
}
