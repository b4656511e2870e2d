//! The Sentinel's log, in Redis's line format (`pid:X dd Mon yyyy hh:mm:ss.mmm <c> message`,
//! `<c>` being `.`, `-`, `*` or `#` for debug, verbose, notice, warning), to the `logfile` or
//! standard output.

use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

struct Sink {
    file: String,
    min: Level,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Sets the log file ("" = stdout) and the lowest level written.
pub fn configure(file: &str, min: Level) {
    if let Ok(mut g) = SINK.lock() {
        *g = Some(Sink {
            file: file.to_string(),
            min,
        });
    }
}

pub fn level_from_name(s: &str) -> Level {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Level::Debug,
        "verbose" => Level::Verbose,
        "warning" => Level::Warning,
        _ => Level::Notice,
    }
}

fn tm(secs: i64) -> libc::tm {
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut out: libc::tm = unsafe { std::mem::zeroed() };
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: both pointers are valid for the duration of the call.
    unsafe {
        libc::localtime_r(&t, &mut out);
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// ctime()'s format without the newline: "Mon Nov 23 17:02:03 2026".
pub fn ctime(secs: i64) -> String {
    let t = tm(secs);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(t.tm_wday.clamp(0, 6)) as usize],
        MONTHS[(t.tm_mon.clamp(0, 11)) as usize],
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        t.tm_year + 1900
    )
}

/// Writes one line if `level` is at least the configured level.
pub fn log(level: Level, msg: &str) {
    let Ok(g) = SINK.lock() else { return };
    let (file, min) = match &*g {
        Some(s) => (s.file.clone(), s.min),
        None => (String::new(), Level::Notice),
    };
    drop(g);
    if level < min {
        return;
    }
    let now = crate::state::mstime();
    let t = tm(now / 1000);
    let c = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!(
        "{}:X {:02} {} {} {:02}:{:02}:{:02}.{:03} {} {}\n",
        std::process::id(),
        t.tm_mday,
        MONTHS[(t.tm_mon.clamp(0, 11)) as usize],
        t.tm_year + 1900,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        now % 1000,
        c,
        msg
    );
    if file.is_empty() {
        let _ = std::io::stdout().write_all(line.as_bytes());
    } else if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
