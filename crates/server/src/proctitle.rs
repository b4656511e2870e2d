//! The process title (`proc-title-template`), as Redis sets it: the memory of the original
//! argument strings (and of the environment strings that follow them, once the environment
//! has been copied elsewhere) is overwritten with the expanded template, so `ps` and
//! `/proc/PID/cmdline` show e.g. `cinnabar-server 127.0.0.1:6379`.
//!
//! Variables: `{title}` (the executable as run), `{listen-addr}` (first bind address and
//! port), `{server-mode}` (empty in standalone mode), `{port}`, `{tls-port}`, `{unixsocket}`,
//! `{config-file}`.

use crate::server::Server;
use std::sync::Mutex;

/// The writable area [start, end) and the executable name as run.
struct Area {
    start: usize,
    end: usize,
    title: String,
}

static AREA: Mutex<Option<Area>> = Mutex::new(None);

/// Fields 48..=51 of /proc/self/stat: arg_start, arg_end, env_start, env_end.
fn stat_areas() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // `rest` starts at field 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| f.get(n - 3).and_then(|v| v.parse::<usize>().ok());
    Some([get(48)?, get(49)?, get(50)?, get(51)?])
}

/// Prepares the area once at startup: copies the environment strings out of it (so they stay
/// readable) and remembers argv[0]. Does nothing when /proc is unreadable.
pub fn init() {
    let Ok(mut g) = AREA.lock() else {
        return;
    };
    if g.is_some() {
        return;
    }
    let Some([arg_start, arg_end, env_start, env_end]) = stat_areas() else {
        return;
    };
    if arg_end <= arg_start {
        return;
    }
    let title = std::fs::read("/proc/self/cmdline")
        .ok()
        .and_then(|c| {
            c.split(|b| *b == 0)
                .next()
                .map(|s| String::from_utf8_lossy(s).into_owned())
        })
        .unwrap_or_default();
    let mut end = arg_end;
    // The environment strings follow the arguments: move them to the heap so the title may use
    // their space too.
    if env_start == arg_end && env_end > env_start {
        // SAFETY: `environ` is the process's NULL-terminated environment array; each entry we
        // replace points into [env_start, env_end) and is swapped for a leaked heap copy that
        // lives for the rest of the process. Done once, on the engine's startup path, before
        // any other thread reads the environment.
        unsafe {
            extern "C" {
                static mut environ: *mut *mut libc::c_char;
            }
            let mut p = environ;
            let mut all_moved = !p.is_null();
            while !p.is_null() && !(*p).is_null() {
                let s = *p as usize;
                if s >= env_start && s < env_end {
                    let copy = libc::strdup(*p);
                    if copy.is_null() {
                        all_moved = false;
                        break;
                    }
                    *p = copy;
                }
                p = p.add(1);
            }
            if all_moved {
                end = env_end;
            }
        }
    }
    *g = Some(Area {
        start: arg_start,
        end,
        title,
    });
}

/// Expands `template` for this server; None when it names an unknown variable.
pub fn expand(s: &Server, template: &str, title: &str) -> Option<String> {
    let port = s.bound_port;
    let bind = s
        .cfg
        .bind_addrs()
        .first()
        .cloned()
        .unwrap_or_else(|| "*".into());
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}')? + i;
        let v = match &rest[i + 1..j] {
            "title" => title.to_string(),
            "listen-addr" => format!("{bind}:{port}"),
            "server-mode" => String::new(),
            "port" => port.to_string(),
            "tls-port" => "0".into(),
            "unixsocket" => s.settings.unixsocket.clone(),
            "config-file" => s
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            _ => return None,
        };
        out.push_str(&v);
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Sets the title from `proc-title-template` (startup and CONFIG SET).
pub fn apply(s: &Server) {
    let Ok(g) = AREA.lock() else {
        return;
    };
    let Some(area) = g.as_ref() else {
        return;
    };
    let template = s.cfg.get_value("proc-title-template").unwrap_or_default();
    let Some(text) = expand(s, &template, &area.title) else {
        return;
    };
    let len = area.end - area.start;
    if len < 2 {
        return;
    }
    let bytes = text.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, end) is the process's own argument (and moved-out environment) memory,
    // writable and no longer read by anyone (`init` copied what was needed); we write at most
    // `len` bytes inside it.
    unsafe {
        let dst = area.start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, len - n);
    }
}
