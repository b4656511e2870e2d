//! MONITOR: every command the server runs, shown to the monitoring clients as a status line
//! `+<sec>.<usec> [<db> <peer>] "arg" ...` (sdscatrepr quoting), as Redis does:
//! - a command is shown after it ran (`dispatch::call`), with its arguments as the client sent
//!   them; EVAL/EVALSHA/FCALL (flag `skip_monitor`) are shown before they run, so the commands
//!   of the script (peer `lua`) follow them;
//! - admin commands and `skip_monitor` ones are never shown, nor commands refused before they
//!   ran, nor anything while loading; secrets are `"(redacted)"` (AUTH, HELLO ... AUTH,
//!   MIGRATE ... AUTH/AUTH2);
//! - a command queued in MULTI is shown when EXEC runs it; an aborted EXEC is still shown.
//!
//! A monitor is like a replica for its own commands (no keyspace access); RESET ends it. Lines
//! go through the monitor's outbox, like Pub/Sub messages.

use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::table::{flag, CommandSpec};
use cinnabar_resp::Args;

/// MONITOR
pub fn monitor(s: &mut Server, c: &mut Client) {
    // Inside MULTI (and while EXEC runs the queue) a client expects one reply per command.
    if c.multi.is_some() || c.handle.multi_len.get() >= 0 {
        return c
            .reply
            .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    // Already a monitor (or a replica): nothing happens, not even a reply, as Redis.
    if c.handle.monitor.get() || c.repl.is_replica {
        return;
    }
    c.handle.monitor.set(true);
    s.monitors.push(c.handle.id);
    c.reply.ok();
}

/// Ends monitoring for `c` (RESET, disconnect).
pub fn stop(s: &mut Server, c: &Client) {
    if c.handle.monitor.replace(false) {
        s.monitors.retain(|id| *id != c.handle.id);
    }
}

/// Which arguments of `args` are secrets shown as "(redacted)" (MONITOR, SLOWLOG): AUTH's
/// credentials, HELLO's AUTH pair, MIGRATE's AUTH/AUTH2, everything ACL SETUSER is given, the
/// values CONFIG SET gives masterauth, masteruser and requirepass.
pub fn redacted(cmd: &CommandSpec, args: Args, i: usize) -> bool {
    match cmd.fullname.as_str() {
        "auth" => i >= 1 && args.len() <= 3,
        "acl|setuser" => i >= 2,
        "config|set" => {
            i >= 3
                && i % 2 == 1
                && ["masterauth", "masteruser", "requirepass"]
                    .iter()
                    .any(|n| args.get(i - 1).eq_ignore_ascii_case(n.as_bytes()))
        }
        "hello" => (2..args.len())
            .find(|&j| args.get(j).eq_ignore_ascii_case(b"auth"))
            .is_some_and(|j| i == j + 1 || i == j + 2),
        "migrate" => (6..args.len()).any(|j| {
            let a = args.get(j);
            (a.eq_ignore_ascii_case(b"auth") && i == j + 1)
                || (a.eq_ignore_ascii_case(b"auth2") && (i == j + 1 || i == j + 2))
        }),
        _ => false,
    }
}

/// Shows a command to the monitors when `cmd` is one that is shown after it ran.
#[inline]
pub fn after_call(s: &mut Server, c: &mut Client, cmd: &CommandSpec, args: Args) {
    if !s.monitors.is_empty() && !cmd.has(flag::SKIP_MONITOR) && !cmd.has(flag::ADMIN) {
        feed(s, c, cmd, args);
    }
}

/// Shows a command to the monitors now (scripts before they run, an aborted EXEC).
pub fn feed(s: &mut Server, c: &mut Client, cmd: &CommandSpec, args: Args) {
    if s.monitors.is_empty() || s.loading.is_some() {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let peer = if c.handle.id == u64::MAX {
        "lua".to_string()
    } else if c.handle.unix {
        format!("unix:{}", s.settings.unixsocket)
    } else {
        c.handle.addr.clone()
    };
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        c.db,
        peer
    );
    for i in 0..args.len() {
        line.push(' ');
        if redacted(cmd, args, i) {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&cinnabar_config::split::repr(args.get(i)));
        }
    }
    line.push_str("\r\n");
    let mut gone = Vec::new();
    for &id in &s.monitors {
        if id == c.handle.id {
            continue;
        }
        match s.clients.get(&id) {
            Some(h) if !h.killed.get() => {
                h.outbox.borrow_mut().extend_from_slice(line.as_bytes());
                h.outbox_notify.notify_one();
            }
            _ => gone.push(id),
        }
    }
    // A monitor that runs a command sees it too, right after its own reply.
    if c.handle.monitor.get() {
        c.reply.out.extend_from_slice(line.as_bytes());
    }
    if !gone.is_empty() {
        s.monitors.retain(|id| !gone.contains(id));
    }
}
