//! Logging in Redis's line format: `pid:role day mon year hh:mm:ss.mmm level message`, where
//! level is `.` debug, `-` verbose, `*` notice, `#` warning, and role is `M` (master), `S`
//! (replica), `X` (sentinel) or `C` (before the server role is known). Lines go to `logfile`,
//! or stdout when it is empty.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;

/// Log levels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl Level {
    /// Parses a `loglevel` value.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "verbose" => Some(Level::Verbose),
            "notice" => Some(Level::Notice),
            "warning" => Some(Level::Warning),
            _ => None,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

struct State {
    level: Level,
    file: String,
    role: char,
}

static STATE: Mutex<State> = Mutex::new(State {
    level: Level::Notice,
    file: String::new(),
    role: 'C',
});

/// Sets the level, the file ("" = stdout) and the role character.
pub fn configure(level: Level, file: &str, role: char) {
    if let Ok(mut s) = STATE.lock() {
        s.level = level;
        s.file = file.to_string();
        s.role = role;
    }
}

/// Changes only the level.
pub fn set_level(level: Level) {
    if let Ok(mut s) = STATE.lock() {
        s.level = level;
    }
}

/// The local time formatted as Redis does: `22 Nov 2026 22:43:01.123`.
fn timestamp() -> String {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: gettimeofday writes into the timeval we own; a null timezone is allowed.
    unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) };
    // SAFETY: an all-zero tm is a valid value to be overwritten by localtime_r.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = tv.tv_sec;
    // SAFETY: both pointers are to live locals.
    unsafe { libc::localtime_r(&t, &mut tm) };
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[(tm.tm_mon.clamp(0, 11)) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tv.tv_usec / 1000
    )
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    let Ok(s) = STATE.lock() else {
        return;
    };
    if level < s.level {
        return;
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        s.role,
        timestamp(),
        level.mark(),
        msg
    );
    if s.file.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    } else if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&s.file) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Writes a raw line (no prefix), used for the startup banner.
pub fn raw(msg: &str) {
    let Ok(s) = STATE.lock() else {
        return;
    };
    if s.file.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(msg.as_bytes());
        let _ = out.flush();
    } else if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&s.file) {
        let _ = f.write_all(msg.as_bytes());
    }
}

#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Notice, &format!($($t)*)) } }
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Verbose, &format!($($t)*)) } }
