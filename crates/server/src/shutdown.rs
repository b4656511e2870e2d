//! Shutting down as Redis 7.0 does: SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], SIGTERM and
//! SIGINT. Unless NOW, a master first lets its replicas catch up: writes are paused, the
//! replicas are asked for an acknowledgement, and the shutdown completes as soon as every
//! replica acknowledged the master's offset or `shutdown-timeout` seconds passed (INFO shows
//! `shutdown_in_milliseconds` meanwhile). Then the lagging replicas are logged, the final save
//! is made (an error aborts the shutdown unless FORCE) and the server exits.
//!
//! Signals only set a flag (their handler does nothing else, except that a second SIGINT
//! while a shutdown is under way removes the temp RDB file and exits at once); the cron picks
//! the flag up, so `DEBUG PAUSE-CRON 1` + SHUTDOWN ABORT can cancel a signalled shutdown.

use crate::blocking::Slot;
use crate::server::{now_ms, Server, ShutdownRequest};
use crate::{notice, warning};
use std::ffi::CString;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

/// A shutdown was requested by a signal and not yet handled (or is under way).
static SHUTDOWN_ASAP: AtomicBool = AtomicBool::new(false);
/// The last shutdown signal received.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The signal has been noticed by the cron (the request is in progress or done).
static SIGNAL_TAKEN: AtomicBool = AtomicBool::new(false);
/// Paths the signal handler may need: the log file (None = stdout) and the temp RDB file.
static PATHS: OnceLock<(Option<CString>, CString, Vec<u8>)> = OnceLock::new();

/// A shutdown waiting for replicas.
pub struct Pending {
    pub req: ShutdownRequest,
    /// Unix ms when we stop waiting.
    pub deadline_ms: i64,
    /// SHUTDOWN callers waiting for the outcome (they get an error if it is aborted).
    pub waiters: Vec<Rc<Slot>>,
}

/// What a shutdown request came to.
pub enum Outcome {
    /// Everything is done: the server exits.
    Exit,
    /// Waiting for replicas (the caller waits on its slot).
    Waiting,
    /// The final save failed: the server goes on.
    Failed,
}

/// Writes a line from the signal handler (async-signal-safe calls only).
fn handler_log(msg: &[u8]) {
    let Some((log, _, prefix)) = PATHS.get() else {
        return;
    };
    let mut line = [0u8; 256];
    let mut n = 0;
    for &b in prefix.iter().chain(msg.iter()).chain(b"\n".iter()) {
        if n < line.len() {
            line[n] = b;
            n += 1;
        }
    }
    // SAFETY: open/write/close are async-signal-safe; the buffers outlive the calls.
    unsafe {
        match log {
            Some(path) => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
                    0o644,
                );
                if fd >= 0 {
                    libc::write(fd, line.as_ptr() as *const libc::c_void, n);
                    libc::close(fd);
                }
            }
            None => {
                libc::write(1, line.as_ptr() as *const libc::c_void, n);
            }
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if SHUTDOWN_ASAP.load(Ordering::SeqCst) && sig == libc::SIGINT {
        handler_log(b"You insist... exiting now.");
        if let Some((_, tmp, _)) = PATHS.get() {
            // SAFETY: unlink is async-signal-safe; the path is a valid C string.
            unsafe { libc::unlink(tmp.as_ptr()) };
        }
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(1) };
    }
    let msg: &[u8] = if sig == libc::SIGINT {
        b"Received SIGINT scheduling shutdown..."
    } else {
        b"Received SIGTERM scheduling shutdown..."
    };
    handler_log(msg);
    LAST_SIGNAL.store(sig, Ordering::SeqCst);
    SIGNAL_TAKEN.store(false, Ordering::SeqCst);
    SHUTDOWN_ASAP.store(true, Ordering::SeqCst);
}

/// Installs the SIGTERM/SIGINT handlers. `logfile` "" = stdout; `temp_rdb` is the file a
/// shutdown save writes (removed by an insisting SIGINT).
pub fn install(logfile: &str, temp_rdb: &str) {
    let log = if logfile.is_empty() {
        None
    } else {
        CString::new(logfile).ok()
    };
    let tmp = CString::new(temp_rdb).unwrap_or_default();
    let prefix = format!("{}:signal-handler ", std::process::id()).into_bytes();
    let _ = PATHS.set((log, tmp, prefix));
    // SAFETY: installing a handler that only touches atomics and async-signal-safe calls.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as *const () as usize;
        libc::sigemptyset(&mut act.sa_mask);
        act.sa_flags = 0;
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &act, std::ptr::null_mut());
    }
}

/// True when every online replica acknowledged the master's offset (one still in its full
/// sync is not waited for: its snapshot is stopped by the shutdown, as Redis kills the child).
fn replicas_in_sync(s: &Server) -> bool {
    let off = s.prop.offset as i64;
    online_replicas(s).all(|h| h.repl_ack_off.get() == off)
}

fn online_replicas(s: &Server) -> impl Iterator<Item = &Rc<crate::client::ClientHandle>> {
    s.replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .filter(|h| h.sync_phase.get() == 0)
}

/// Starts a shutdown (SHUTDOWN, or a signal seen by the cron).
pub fn request(s: &mut Server, req: ShutdownRequest, waiter: Option<Rc<Slot>>) -> Outcome {
    if let Some(p) = s.shutdown_pending.as_mut() {
        if let Some(w) = waiter {
            p.waiters.push(w);
        }
        return Outcome::Waiting;
    }
    let mut req = req;
    if s.loading.is_some() {
        req.nosave = true;
        req.save = false;
    }
    warning!("User requested shutdown...");
    let timeout = s
        .cfg
        .get_value("shutdown-timeout")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(10);
    if !req.now && timeout != 0 && s.master.is_none() && !replicas_in_sync(s) {
        send_getack(s);
        s.shutdown_pending = Some(Pending {
            req,
            deadline_ms: now_ms() + timeout * 1000,
            waiters: waiter.into_iter().collect(),
        });
        notice!("Waiting for replicas before shutting down.");
        return Outcome::Waiting;
    }
    finish(s, req)
}

fn send_getack(s: &mut Server) {
    if s.replicas.is_empty() {
        return;
    }
    crate::propagate::feed_replicas_only(s, &[b"REPLCONF", b"GETACK", b"*"]);
}

/// The last step: log the replicas, save, and tell the engine to exit.
fn finish(s: &mut Server, req: ShutdownRequest) -> Outcome {
    let off = s.prop.offset as i64;
    let mut total = 0;
    let mut lagging = 0;
    for h in online_replicas(s) {
        total += 1;
        if h.repl_ack_off.get() != off {
            lagging += 1;
            warning!(
                "Lagging replica {}:{} reported offset {} behind master, lag={}, state=online.",
                h.addr
                    .rsplit_once(':')
                    .map_or(h.addr.as_str(), |(ip, _)| ip),
                h.repl_port.get(),
                off - h.repl_ack_off.get(),
                h.repl_ack_time.get().elapsed().as_secs()
            );
        }
    }
    if total > 0 {
        notice!(
            "{} of {total} replicas are in sync when shutting down.",
            total - lagging
        );
    }
    if crate::persist::prepare_shutdown(s, &req).is_err() && !req.force {
        warning!("Errors trying to shut down the server. Check the logs for more information.");
        if let Some(sig) = signal_name() {
            warning!("{sig} received but errors trying to shut down the server, check the logs for more information");
        }
        cancel(s, "ERR Errors trying to SHUTDOWN. Check logs.");
        return Outcome::Failed;
    }
    s.shutdown = Some(req);
    crate::close_listeners();
    s.shutdown_notify.notify_one();
    Outcome::Exit
}

fn signal_name() -> Option<&'static str> {
    if !SHUTDOWN_ASAP.load(Ordering::SeqCst) {
        return None;
    }
    match LAST_SIGNAL.load(Ordering::SeqCst) {
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        _ => None,
    }
}

/// Ends a shutdown attempt without exiting: the waiting SHUTDOWN callers get `err`.
fn cancel(s: &mut Server, err: &str) {
    SHUTDOWN_ASAP.store(false, Ordering::SeqCst);
    if let Some(p) = s.shutdown_pending.take() {
        for w in p.waiters {
            let mut r = cinnabar_resp::ReplyBuf::new();
            r.error(err);
            *w.reply.borrow_mut() = Some(r.out);
            w.notify.notify_one();
        }
        s.pause_notify.notify_waiters();
    }
}

/// SHUTDOWN ABORT. False when no shutdown was under way or requested.
pub fn abort(s: &mut Server) -> bool {
    if s.shutdown_pending.is_some() {
        cancel(s, "ERR Errors trying to SHUTDOWN. Check logs.");
    } else if SHUTDOWN_ASAP.load(Ordering::SeqCst) {
        SHUTDOWN_ASAP.store(false, Ordering::SeqCst);
    } else {
        return false;
    }
    notice!("Shutdown manually aborted.");
    true
}

/// The cron's part: a signalled shutdown starts here; a waiting one completes when the
/// replicas caught up or the time is up.
pub fn cron(s: &mut Server) {
    if SHUTDOWN_ASAP.load(Ordering::SeqCst) && !SIGNAL_TAKEN.swap(true, Ordering::SeqCst) {
        if let Outcome::Failed = request(s, ShutdownRequest::default(), None) {
            return;
        }
    }
    let due = match &s.shutdown_pending {
        Some(p) => replicas_in_sync(s) || now_ms() >= p.deadline_ms,
        None => false,
    };
    if due {
        if let Some(p) = s.shutdown_pending.as_ref() {
            let req = p.req;
            // On success the engine exits; on failure `finish` has cancelled the wait.
            let _ = finish(s, req);
        }
    }
}

/// INFO server's `shutdown_in_milliseconds` line, while waiting for replicas.
pub fn info_line(s: &Server) -> String {
    match &s.shutdown_pending {
        Some(p) => format!(
            "shutdown_in_milliseconds:{}\r\n",
            (p.deadline_ms - now_ms()).max(0)
        ),
        None => String::new(),
    }
}

/// Writes are paused while a shutdown waits for replicas.
pub fn pauses_writes(s: &Server) -> bool {
    s.shutdown_pending.is_some()
}
