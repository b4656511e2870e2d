//! SLOWLOG: commands that took at least `slowlog-log-slower-than` µs (0: all, negative: none),
//! the newest `slowlog-max-len` kept. Each entry keeps at most 32 arguments of at most 128 bytes
//! each, as Redis (the rest summarized), so an entry's size is bounded.

use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::table::CommandSpec;
use cinnabar_resp::Args;

/// Arguments kept per entry, and bytes kept per argument.
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

pub struct Entry {
    pub id: u64,
    pub time: i64,
    pub usec: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

/// Records a command that was slow enough.
pub fn push(s: &mut Server, c: &Client, cmd: &CommandSpec, args: Args, usec: u64) {
    push_for(s, cmd, args, usec, c.handle.addr.clone(), c.name.clone());
}

/// Records a command of client `addr`/`name` (a blocked command when it is served), its
/// secrets shown as "(redacted)" as Redis does.
pub fn push_for(
    s: &mut Server,
    cmd: &CommandSpec,
    args: Args,
    usec: u64,
    addr: String,
    name: Vec<u8>,
) {
    let max = s.settings.slowlog_max_len;
    if max == 0 {
        return;
    }
    let n = args.len();
    let kept = n.min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for i in 0..kept {
        if kept < n && i == kept - 1 {
            out.push(format!("... ({} more arguments)", n - kept + 1).into_bytes());
            break;
        }
        let a = args.get(i);
        if crate::monitor::redacted(cmd, args, i) {
            out.push(b"(redacted)".to_vec());
        } else if a.len() > MAX_ARG_LEN {
            let mut v = a[..MAX_ARG_LEN].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            out.push(v);
        } else {
            out.push(a.to_vec());
        }
    }
    let entry = Entry {
        id: s.slowlog_next_id,
        time: crate::server::now_ms() / 1000,
        usec,
        args: out,
        addr,
        name,
    };
    s.slowlog_next_id += 1;
    s.slowlog.push_front(entry);
    s.slowlog.truncate(max);
}

/// SLOWLOG GET [count] | LEN | RESET | HELP.
pub fn command(s: &mut Server, c: &mut Client, sub: &str, a: Args) {
    match sub {
        "get" => {
            if a.len() > 3 {
                return c.reply.error(&format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                    String::from_utf8_lossy(a.get(1))
                ));
            }
            let count = if a.len() == 3 {
                match cinnabar_util::num::string2ll(a.get(2)) {
                    Some(n) if n >= -1 => {
                        if n == -1 {
                            usize::MAX
                        } else {
                            n as usize
                        }
                    }
                    _ => {
                        return c
                            .reply
                            .error("ERR count should be greater than or equal to -1")
                    }
                }
            } else {
                10
            };
            let n = count.min(s.slowlog.len());
            c.reply.array(n);
            for e in s.slowlog.iter().take(n) {
                c.reply.array(6);
                c.reply.int(e.id as i64);
                c.reply.int(e.time);
                c.reply.int(e.usec as i64);
                c.reply.array(e.args.len());
                for arg in &e.args {
                    c.reply.bulk(arg);
                }
                c.reply.bulk(e.addr.as_bytes());
                c.reply.bulk(&e.name);
            }
        }
        "len" => c.reply.int(s.slowlog.len() as i64),
        "reset" => {
            s.slowlog.clear();
            c.reply.ok();
        }
        _ => crate::cmds::help_reply(
            c,
            "SLOWLOG",
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        ),
    }
}
