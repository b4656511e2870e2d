//! Busy scripts. A script that runs longer than `busy-reply-threshold` (`lua-time-limit`) does
//! not stop the server from answering: a Lua count hook (every 100,000 instructions) looks at
//! the other clients' sockets itself — the engine thread is inside the script, so their tasks
//! cannot run — and answers each complete command there: `-BUSY` for most, SCRIPT KILL /
//! FUNCTION KILL (which stop the script unless it already wrote), FUNCTION STATS, and
//! SHUTDOWN NOSAVE. Only whole commands are taken from a socket (peeked first, then read), so
//! whatever follows stays for the client's own task once the script ends.

use cinnabar_commands::table::{self, flag};
use cinnabar_resp::{CommandParser, Limits, ReplyBuf};
use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

/// The running script as the hook sees it (part of the run's state).
pub struct Busy<'a> {
    pub started: Instant,
    pub threshold_ms: u64,
    pub eval: bool,
    pub name: &'a str,
    /// The client running the script.
    pub caller: u64,
    pub killed: Cell<bool>,
    pub write_dirty: Cell<bool>,
    pub timed_out: Cell<bool>,
    pub libraries: usize,
    pub functions: usize,
    /// The script runs while the server loads (an AOF replaying EVAL): other clients get
    /// LOADING first, as Redis's processCommand checks loading before busy scripts.
    pub loading: bool,
}

const EVAL_BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const FUNC_BUSY: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

impl Busy<'_> {
    fn busy_error(&self) -> &'static str {
        if self.eval {
            EVAL_BUSY
        } else {
            FUNC_BUSY
        }
    }

    /// Called by the hook: once past the threshold, serve the other clients. Returns true
    /// when the script must stop (killed).
    pub fn tick<'c>(
        &self,
        clients: impl Iterator<Item = &'c Rc<crate::client::ClientHandle>>,
    ) -> bool {
        if self.killed.get() {
            return true;
        }
        if (self.started.elapsed().as_millis() as u64) < self.threshold_ms {
            return false;
        }
        if !self.timed_out.get() {
            self.timed_out.set(true);
            crate::warning!(
                "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                self.started.elapsed().as_millis(),
                if self.eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
                self.name
            );
        }
        for h in clients {
            if h.id != self.caller && h.fd >= 0 && !h.replica.get() && !h.killed.get() {
                self.serve(h);
            }
        }
        self.killed.get()
    }

    fn serve(&self, h: &crate::client::ClientHandle) {
        let fd: RawFd = h.fd;
        let resp3 = h.resp3.get();
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: peeking into our own buffer from a socket fd of a live client.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return;
        }
        buf.truncate(n as usize);
        let mut parser = CommandParser::new();
        let mut used = 0;
        let mut reply = ReplyBuf {
            resp3,
            ..Default::default()
        };
        let limits = Limits {
            max_bulk: 512 * 1024 * 1024,
            authenticated: true,
        };
        while used < buf.len() {
            match parser.parse(&buf[used..], limits) {
                Ok(Some((consumed, src))) => {
                    let base: &[u8] = match src {
                        cinnabar_resp::parse::Source::Buffer => &buf[used..],
                        cinnabar_resp::parse::Source::Inline => &parser.inline_buf,
                    };
                    let args: Vec<&[u8]> = parser
                        .spans
                        .iter()
                        .map(|&(a, b)| base.get(a..b).unwrap_or(&[]))
                        .collect();
                    used += consumed;
                    if !args.is_empty() {
                        self.answer(h, &args, &mut reply);
                    }
                }
                _ => break,
            }
        }
        if used == 0 {
            return;
        }
        // SAFETY: reading (consuming) exactly the bytes we parsed; sending our reply.
        unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr() as *mut libc::c_void,
                used,
                libc::MSG_DONTWAIT,
            );
            if !reply.out.is_empty() {
                libc::send(
                    fd,
                    reply.out.as_ptr() as *const libc::c_void,
                    reply.out.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                );
            }
        }
    }

    fn answer(&self, h: &crate::client::ClientHandle, args: &[&[u8]], r: &mut ReplyBuf) {
        let mut cmd = table::lookup(args[0]);
        if let Some(c) = cmd {
            if !c.subcommands.is_empty() && args.len() >= 2 {
                cmd = table::lookup_sub(c, args[1]);
            }
        }
        let name = cmd.map(|c| c.fullname.as_str()).unwrap_or("");
        if self.loading && cmd.is_some_and(|c| !c.has(flag::LOADING)) {
            return r.error("LOADING Redis is loading the dataset in memory");
        }
        match name {
            "script|kill" | "function|kill" => {
                let is_eval_kill = name == "script|kill";
                if self.write_dirty.get() {
                    r.error(UNKILLABLE);
                } else if is_eval_kill != self.eval {
                    r.error(if self.eval { EVAL_BUSY } else { FUNC_BUSY });
                } else {
                    self.killed.set(true);
                    r.ok();
                }
            }
            "function|stats" if !self.eval => {
                r.map(2);
                r.bulk(b"running_script");
                r.map(3);
                r.bulk(b"name");
                r.bulk(self.name.as_bytes());
                r.bulk(b"command");
                let command = super::running_command();
                r.array(command.len());
                for x in command.iter() {
                    r.bulk(x);
                }
                r.bulk(b"duration_ms");
                r.int(self.started.elapsed().as_millis() as i64);
                r.bulk(b"engines");
                r.map(1);
                r.bulk(b"LUA");
                r.map(2);
                r.bulk(b"libraries_count");
                r.int(self.libraries as i64);
                r.bulk(b"functions_count");
                r.int(self.functions as i64);
            }
            "hello" => {
                // HELLO is allowed while busy: the protocol stays, SETNAME names the client.
                let mut i = 2;
                while i < args.len() {
                    if args[i].eq_ignore_ascii_case(b"setname") && i + 1 < args.len() {
                        h.info.borrow_mut().name = args[i + 1].to_vec();
                        i += 2;
                    } else if args[i].eq_ignore_ascii_case(b"auth") {
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                crate::cmds::connection::hello_reply(r, h.id);
            }
            "shutdown"
                if args
                    .iter()
                    .skip(1)
                    .any(|a| a.eq_ignore_ascii_case(b"nosave")) =>
            {
                crate::warning!("User requested shutdown...");
                // Listeners first: whoever sees this connection end finds the port closed.
                crate::close_listeners();
                crate::warning!("Redis is now ready to exit, bye bye...");
                // SAFETY: ends the process at once, as a SHUTDOWN NOSAVE would.
                unsafe { libc::_exit(0) };
            }
            // The transaction commands act on the client's MULTI state as Redis does while
            // busy; the engine applies the outcome before the client's next command
            // (`dispatch::apply_busy_multi`).
            "multi" => {
                if h.multi_len.get() >= 0 {
                    r.error("ERR MULTI calls can not be nested");
                } else {
                    h.multi_len.set(0);
                    r.ok();
                }
            }
            "discard" => {
                if h.multi_len.get() < 0 {
                    r.error("ERR DISCARD without MULTI");
                } else {
                    end_multi(h);
                    r.ok();
                }
            }
            "exec" if h.multi_len.get() >= 0 => {
                end_multi(h);
                r.error(&format!(
                    "EXECABORT Transaction discarded because of: {}",
                    self.busy_error()
                ));
            }
            _ => {
                if cmd.is_some_and(|c| c.has(flag::ALLOW_BUSY)) && name == "ping" {
                    r.simple("PONG");
                } else {
                    if h.multi_len.get() >= 0 {
                        h.busy_multi
                            .set(h.busy_multi.get() | crate::client::BUSY_MULTI_FLAG);
                    }
                    r.error(self.busy_error());
                }
            }
        }
    }
}

/// Ends a client's transaction from the busy hook (EXEC answered EXECABORT, or DISCARD).
fn end_multi(h: &crate::client::ClientHandle) {
    h.multi_len.set(-1);
    h.busy_multi.set(crate::client::BUSY_MULTI_DISCARD);
}
