//! The dispatcher: finds the command in the table and applies the checks every command shares —
//! unknown command or subcommand, arity, authentication, CLIENT PAUSE — then runs it, times it,
//! and keeps INFO's commandstats and errorstats. Handlers never repeat these checks.

use crate::client::{Client, ReplyMode};
use crate::cmds;
use crate::server::Server;
use cinnabar_commands::table::{self, flag, CmdStats, CommandSpec, Handler};
use cinnabar_commands::Ctx;
use cinnabar_resp::Args;
use std::time::Instant;

/// What happened to a command.
pub enum Exec {
    /// Ran (or was rejected with an error reply).
    Done,
    /// Not run: the server is paused for this command; run it again later.
    Paused,
    /// Ran and blocked (BLPOP on empty keys): wait on the slot until served or the deadline
    /// (unix ms, 0 = never).
    Blocked(std::rc::Rc<crate::blocking::Slot>, i64),
}

/// A client's argument as C's `%.Ns` prints it: up to the first NUL, at most `max` bytes.
fn c_str(a: &[u8], max: usize) -> &[u8] {
    let end = a.iter().position(|&b| b == 0).unwrap_or(a.len());
    &a[..end.min(max)]
}

fn unknown_command(c: &mut Client, args: Args) {
    let mut list: Vec<u8> = Vec::new();
    for a in args.tail(1).iter() {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(c_str(a, room));
        list.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_str(args.get(0), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&list);
    c.reply.error_bytes(&msg);
}

/// A POST or `Host:` line: someone is sending HTTP to the server (cross protocol scripting).
/// The connection is closed without a reply, and this is logged at most once a minute.
#[cold]
fn security_warning(c: &mut Client) {
    thread_local! {
        static LOGGED: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    }
    let now = crate::server::now_ms() / 1000;
    if (now - LOGGED.with(|l| l.get())).abs() > 60 {
        crate::warning!("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.");
        LOGGED.with(|l| l.set(now));
    }
    c.close_after_reply = true;
}

/// Looks up a command and its subcommand. Replies the error and returns None if unknown.
pub fn resolve(c: &mut Client, args: Args) -> Option<&'static CommandSpec> {
    let Some(cmd) = table::lookup(args.get(0)) else {
        let name = args.get(0);
        if name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:") {
            security_warning(c);
            return None;
        }
        unknown_command(c, args);
        if let Some(m) = c.multi.as_mut() {
            m.aborted = true;
        }
        return None;
    };
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        match table::lookup_sub(cmd, args.get(1)) {
            Some(sub) => return Some(sub),
            None => {
                let mut msg = b"ERR unknown subcommand '".to_vec();
                msg.extend_from_slice(c_str(args.get(1), 128));
                msg.extend_from_slice(
                    format!("'. Try {} HELP.", cmd.def.name.to_ascii_uppercase()).as_bytes(),
                );
                c.reply.error_bytes(&msg);
                return None;
            }
        }
    }
    Some(cmd)
}

/// Runs one command for client `c`. `now` is the batch's unix time in ms (commands of one
/// batch share it, like Redis's cached clock); `clock` is the instant the previous command of
/// the batch ended, so each command costs one clock read for its duration.
/// Evicts as `maxmemory` requires before a command; true when the server stays over the limit
/// with nothing left to evict (remembered for scripts as `Server::pre_command_oom`).
fn out_of_memory(s: &mut Server, c: &mut Client, now: i64) -> bool {
    s.pre_command_oom = s.settings.maxmemory > 0
        && !c.is_master
        && crate::evict::perform(s, now) == crate::evict::Outcome::Fail;
    // Invalidations of evicted keys go before the reply.
    crate::tracking::drain_now(s, c);
    s.pre_command_oom
}

/// A refused EXEC discards its transaction and answers `EXECABORT ... because of: <error>`
/// in place of the error it got.
fn exec_abort(s: &mut Server, c: &mut Client, cmd: &CommandSpec, args: Args, out_before: usize) {
    crate::multi::discard(s, c);
    crate::monitor::feed(s, c, cmd, args);
    let err = c.reply.out.get(out_before + 1..).unwrap_or_default();
    let err = err.strip_suffix(b"\r\n").unwrap_or(err).to_vec();
    c.reply.out.truncate(out_before);
    c.reply.errors.pop();
    let mut m = b"EXECABORT Transaction discarded because of: ".to_vec();
    m.extend_from_slice(&err);
    c.reply.error_bytes(&m);
}

/// Applies what the busy-script hook did to `c`'s transaction while the engine ran a long
/// script: a transaction it ended is discarded (and its WATCHes dropped), one it opened
/// exists, one where it refused a command answers EXECABORT at EXEC.
fn apply_busy_multi(s: &mut Server, c: &mut Client) {
    let bits = c.handle.busy_multi.replace(0);
    if bits & crate::client::BUSY_MULTI_DISCARD != 0 && c.multi.is_some() {
        crate::multi::discard(s, c);
    }
    if c.handle.multi_len.get() >= 0 && c.multi.is_none() {
        c.multi = Some(crate::multi::Multi::default());
    }
    if bits & crate::client::BUSY_MULTI_FLAG != 0 {
        if let Some(m) = c.multi.as_mut() {
            m.aborted = true;
        }
    }
}

pub fn execute(s: &mut Server, c: &mut Client, args: Args, now: i64, clock: &mut Instant) -> Exec {
    if c.handle.busy_multi.get() != 0 || (c.handle.multi_len.get() >= 0) != c.multi.is_some() {
        apply_busy_multi(s, c);
    }
    if s.tracking.active() {
        crate::tracking::begin(s, c);
    }
    let errors_before = c.reply.errors.len();
    let out_before = c.reply.out.len();
    let mut ran: Option<&'static CommandSpec> = None;
    let mut rejected: Option<&'static CommandSpec> = None;
    let mut blocked: Option<Exec> = None;
    if let Some(cmd) = resolve(c, args) {
        // EXEC is checked with the flags of the commands it would run, as Redis does: a
        // transaction with a write is refused where a write would be, and then discarded.
        let queued = c
            .multi
            .as_ref()
            .filter(|_| cmd.fullname == "exec")
            .map(|m| &m.queued[..])
            .unwrap_or(&[]);
        let any_q = |f| queued.iter().any(|(q, _)| q.has(f));
        let is_write = cmd.has(flag::WRITE) || any_q(flag::WRITE);
        let deny_loading =
            !cmd.has(flag::LOADING) || queued.iter().any(|(q, _)| !q.has(flag::LOADING));
        let deny_stale = !cmd.has(flag::STALE) || queued.iter().any(|(q, _)| !q.has(flag::STALE));
        let may_replicate = cmd.has(flag::MAY_REPLICATE) || any_q(flag::MAY_REPLICATE);
        // Inside MULTI every queued command counts as using memory (only EXEC, DISCARD, QUIT
        // and RESET pass), as Redis.
        let deny_oom = cmd.has(flag::DENYOOM)
            || any_q(flag::DENYOOM)
            || (c.multi.is_some()
                && !matches!(cmd.fullname.as_str(), "exec" | "discard" | "quit" | "reset"));
        if !cmd.arity_ok(args.len()) {
            c.reply.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                cmd.fullname
            ));
            rejected = Some(cmd);
        } else if !c.authenticated && !s.acl.default_open && !cmd.has(flag::NO_AUTH) {
            c.reply.error("NOAUTH Authentication required.");
            rejected = Some(cmd);
        } else if !c.user.all.get() && !crate::acl::check_command(s, c, cmd, args) {
            rejected = Some(cmd);
        } else if !c.reply.resp3
            && c.subscribed()
            && !crate::pubsub::allowed_when_subscribed(&cmd.fullname)
        {
            c.reply.error(&format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", cmd.fullname));
            rejected = Some(cmd);
        } else if out_of_memory(s, c, now) && deny_oom {
            c.reply
                .error("OOM command not allowed when used memory > 'maxmemory'.");
            rejected = Some(cmd);
        } else if (s.loading.is_some() && deny_loading)
            || (s.async_side.is_some() && cmd.has(flag::NO_ASYNC_LOADING))
        {
            c.reply
                .error("LOADING Redis is loading the dataset in memory");
            rejected = Some(cmd);
        } else if (c.repl.is_replica || c.handle.monitor.get())
            && (is_write || cmd.has(flag::READONLY) || may_replicate)
        {
            c.reply
                .error("ERR Replica can't interact with the keyspace");
            rejected = Some(cmd);
        } else if s.master.is_some() && !c.is_master && s.settings.replica_read_only && is_write {
            c.reply
                .error("READONLY You can't write against a read only replica.");
            rejected = Some(cmd);
        } else if s.settings.min_replicas_to_write > 0
            && s.master.is_none()
            && is_write
            && crate::cmds::good_replicas(s) < s.settings.min_replicas_to_write
        {
            c.reply
                .error("NOREPLICAS Not enough good replicas to write.");
            rejected = Some(cmd);
        } else if !c.is_master && (is_write || cmd.fullname == "ping") && s.aof.misconf().is_some()
        {
            let e = s.aof.misconf().unwrap_or_default();
            c.reply.error(&e);
            rejected = Some(cmd);
        } else if !c.is_master
            && s.settings.stop_writes_on_bgsave_error
            && !s.persist.last_bgsave_ok
            && !s.settings.save_params.is_empty()
            && (is_write || cmd.fullname == "ping")
        {
            c.reply.error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.");
            rejected = Some(cmd);
        } else if !c.is_master
            && deny_stale
            && !s.settings.replica_serve_stale_data
            && s.master
                .as_ref()
                .is_some_and(|m| m.state != crate::replica::LinkState::Connected)
        {
            c.reply.error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
            rejected = Some(cmd);
        } else {
            // CLIENT PAUSE WRITE also holds commands that may replicate (PUBLISH, PFCOUNT);
            // scripts decide by their own flags (not yet: they run).
            let script = cmd.has(flag::NOSCRIPT) && may_replicate && !is_write;
            let pause_write = is_write || (may_replicate && !script);
            if (s.pause.is_some() && s.paused_for(pause_write, now))
                || ((crate::shutdown::pauses_writes(s) || s.failover.is_some())
                    && is_write
                    && !c.is_master)
            {
                crate::tracking::abandon(s);
                return Exec::Paused;
            }
            if c.reply_mode == ReplyMode::SkipNext {
                c.reply_mode = ReplyMode::Skip;
            }
            if let Some(m) = c
                .multi
                .as_mut()
                .filter(|_| !crate::multi::runs_in_multi(cmd))
            {
                if cmd.has(flag::NO_MULTI) {
                    m.aborted = true;
                    c.reply
                        .error("ERR Command not allowed inside a transaction");
                    rejected = Some(cmd);
                } else {
                    let owned = args.to_owned_args();
                    m.mem += owned.mem();
                    m.queued.push((cmd, owned));
                    c.reply.simple("QUEUED");
                }
            } else {
                crate::tracking::set_in_call(s, true);
                blocked = call(s, c, cmd, args, now, clock, true);
                crate::tracking::set_in_call(s, false);
                ran = Some(cmd);
            }
        }
    }
    if ran.is_none() && rejected.is_some_and(|r| !crate::multi::runs_in_multi(r)) {
        if let Some(m) = c.multi.as_mut() {
            m.aborted = true;
        }
    } else if rejected.is_some_and(|r| r.fullname == "exec") && c.multi.is_some() {
        if let Some(cmd) = rejected {
            exec_abort(s, c, cmd, args, out_before);
        }
    }
    let new_errors = c.reply.errors.len() - errors_before;
    if new_errors > 0 {
        for code in c.reply.errors.drain(errors_before..) {
            *s.stats.error_codes.entry(code).or_insert(0) += 1;
            s.stats.total_error_replies += 1;
        }
        if let Some(cmd) = rejected {
            CmdStats::bump(&cmd.stats.rejected, 1);
        }
    }
    c.reply.errors.clear();
    // Pub/Sub notifications are pushed even when replies are off, as Redis does.
    let pushed = ran.is_some_and(|cmd| {
        matches!(
            cmd.fullname.as_str(),
            "subscribe"
                | "psubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "ssubscribe"
                | "sunsubscribe"
        )
    });
    match c.reply_mode {
        ReplyMode::Off if !pushed => c.reply.out.truncate(out_before),
        ReplyMode::Skip => {
            if !pushed {
                c.reply.out.truncate(out_before);
            }
            c.reply_mode = ReplyMode::On;
        }
        _ => {}
    }
    if let Some(cmd) = ran.or(rejected) {
        let mut info = c.handle.info.borrow_mut();
        if info.last_cmd != cmd.fullname {
            info.last_cmd.clear();
            info.last_cmd.push_str(&cmd.fullname);
        }
        info.db = c.db;
    }
    if !s.ks.dbs[c.db].expired_keys.is_empty() {
        crate::multi::drain_expired(s, c.db);
    }
    if s.prop.has_pending() {
        let no_multi = ran.is_some_and(|cmd| matches!(cmd.fullname.as_str(), "scan" | "randomkey"));
        crate::propagate::end_unit(s, no_multi);
    }
    c.handle
        .multi_len
        .set(c.multi.as_ref().map_or(-1, |m| m.queued.len() as i64));
    if s.tracking.current_is(c.handle.id) {
        let client_cmd = ran
            .or(rejected)
            .is_some_and(|x| x.fullname == "client" || x.fullname.starts_with("client|"));
        crate::tracking::end(s, c, client_cmd);
    }
    if let Some(b) = blocked {
        return b;
    }
    if !s.blocked.ready.is_empty() {
        crate::blocking::serve_ready(s, now);
    }
    Exec::Done
}

/// Runs a resolved, checked command: the handler, then the bookkeeping every call shares
/// (commandstats, latency, WATCH invalidation, waking blocked clients). Used for top-level
/// commands and for each command of an EXEC (`may_block` false). Returns `Exec::Blocked` when a
/// blocking command found nothing to serve.
pub fn call(
    s: &mut Server,
    c: &mut Client,
    cmd: &'static CommandSpec,
    args: Args,
    now: i64,
    clock: &mut Instant,
    may_block: bool,
) -> Option<Exec> {
    let mut blocked = None;
    let errors_before = c.reply.errors.len();
    if !s.watched.is_empty() {
        crate::multi::touch_before_flush(s, cmd, c.db, args, now);
    }
    let start = *clock;
    if cmd.has(flag::SKIP_MONITOR) && !s.monitors.is_empty() && crate::script::handles(cmd) {
        crate::monitor::feed(s, c, cmd, args);
    }
    crate::notify::sync(s);
    match cmd.def.handler {
        Handler::Data(f) => {
            let mut ctx = Ctx {
                ks: &mut s.ks,
                db: c.db,
                reply: &mut c.reply,
                now,
                dirty: 0,
                proto_max_bulk_len: s.settings.proto_max_bulk_len,
                lazy_user_flush: s.settings.lazyfree_lazy_user_flush,
                limits: s.settings.limits,
                may_block,
                replaying: c.is_master,
                block: None,
                propagate: None,
                force_propagate: false,
                in_script: c.handle.id == crate::script::SCRIPT_CLIENT_ID,
                warnings: Vec::new(),
            };
            f(&mut ctx, args);
            for w in ctx.warnings.drain(..) {
                crate::warning!("{w}");
            }
            let dirty = ctx.dirty;
            let block = ctx.block.take();
            let rewritten = ctx.propagate.take();
            let force = ctx.force_propagate;
            s.dirty += dirty;
            if s.tracking.active() && block.is_none() {
                crate::tracking::after_write(s, c.handle.id, cmd, args, dirty);
            }
            if cmd.fullname == "flushall" {
                // As Redis: a running BGSAVE or replication snapshot is stopped (its picture
                // is obsolete; replicas start over with the new one) and, with save points,
                // the empty dataset is saved at once.
                if s.persist.bgsave.as_ref().is_some_and(|b| {
                    matches!(
                        b.kind,
                        crate::persist::JobKind::Disk | crate::persist::JobKind::Client
                    )
                }) {
                    crate::persist::kill_bgsave(s);
                }
                // The save resets the change counter: rdb_changes_since_last_save is 0 after
                // it, as in Redis 7.0.
                if !s.settings.save_params.is_empty() && s.persist.bgsave.is_none() {
                    let _ = crate::persist::save_sync(s);
                }
            }
            for d in 0..s.ks.dbs.len() {
                if !s.ks.dbs[d].expired_keys.is_empty() {
                    crate::multi::drain_expired(s, d);
                }
            }
            if s.prop.enabled && !s.applying_master && (dirty > 0 || force) {
                match rewritten {
                    Some(ops) => {
                        for argv in ops {
                            s.prop.add(c.db, argv);
                        }
                    }
                    None => s.prop.add_args(c.db, args.iter()),
                }
            }
            if let Some(b) = block {
                let slot = std::rc::Rc::new(crate::blocking::Slot::default());
                let deadline = b.deadline_ms;
                s.blocked.add(
                    c.handle.id,
                    crate::blocking::Waiter {
                        spec: cmd,
                        args: match &b.args {
                            Some(v) => cinnabar_resp::OwnedArgs::from_slices(v.iter()),
                            None => cinnabar_resp::OwnedArgs::from_slices(args.iter()),
                        },
                        db: c.db,
                        resp3: c.reply.resp3,
                        keys: b.keys,
                        deadline_ms: deadline,
                        on_timeout: b.on_timeout,
                        kind: b.kind,
                        slot: slot.clone(),
                    },
                );
                blocked = Some(Exec::Blocked(slot, deadline));
            } else if !s.blocked.is_empty()
                && (cmd.fullname == "flushall" || cmd.fullname == "flushdb")
            {
                // XREADGROUP waiters learn that their key is gone.
                crate::blocking::signal_all(s);
            } else if dirty > 0 && !s.blocked.is_empty() && cmd.fullname == "swapdb" {
                let p = |x: &[u8]| cinnabar_util::num::string2ll(x).map(|v| v as usize);
                if let (Some(x), Some(y)) = (p(args.get(1)), p(args.get(2))) {
                    crate::blocking::signal_swapped(s, x, y);
                }
            } else if dirty > 0 && (!s.blocked.is_empty() || !s.watched.is_empty()) {
                let all: Vec<&[u8]> = args.iter().collect();
                crate::blocking::signal_written_keys(s, cmd, c.db, &all);
                crate::multi::touch_written_keys(s, cmd, c.db, &all);
            }
        }
        Handler::Server if crate::multi::is_transaction_command(cmd) => {
            crate::multi::run(s, c, cmd, args, now, clock)
        }
        Handler::Server if crate::script::handles(cmd) => {
            if s.tracking.clients > 0 {
                let prev = crate::tracking::script_begin(s, c, cmd, args);
                crate::script::run(s, c, cmd, args, now, clock);
                crate::tracking::script_end(s, prev);
            } else {
                crate::script::run(s, c, cmd, args, now, clock)
            }
        }
        Handler::Server => cmds::run(s, c, cmd, args),
    }
    if s.tracking.clients > 0 && cmd.has(flag::READONLY) {
        crate::tracking::after_read(s, c, cmd, args);
    }
    crate::notify::publish_pending(s, Some(c));
    crate::monitor::after_call(s, c, cmd, args);
    *clock = Instant::now();
    let ns = clock.duration_since(start).as_nanos() as u64;
    let us = ns / 1000;
    if s.settings.latency_tracking {
        s.record_latency(cmd.index, ns);
    }
    if s.settings.latency_monitor_threshold > 0 {
        let ev = if cmd.has(flag::FAST) {
            "fast-command"
        } else {
            "command"
        };
        s.latency_sample(ev, us / 1000);
    }
    CmdStats::bump(&cmd.stats.calls, 1);
    CmdStats::bump(&cmd.stats.usec, us);
    s.stats.total_commands_processed += 1;
    let th = s.settings.slowlog_slower_than;
    if th >= 0 && us >= th as u64 && !cmd.has(flag::SKIP_SLOWLOG) {
        crate::slowlog::push(s, c, cmd, args, us);
    }
    // Errors this call replied itself (a nested call inside EXEC has already taken its own).
    if c.reply.errors.len() > errors_before {
        CmdStats::bump(&cmd.stats.failed, 1);
        for code in c.reply.errors.drain(errors_before..) {
            *s.stats.error_codes.entry(code).or_insert(0) += 1;
            s.stats.total_error_replies += 1;
        }
    }
    blocked
}
