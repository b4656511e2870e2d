//! Commands that need the server's state rather than only the keyspace: connection commands
//! (PING, AUTH, HELLO, SELECT, CLIENT ...) and server commands (INFO, CONFIG, COMMAND, DEBUG,
//! SHUTDOWN ...). The table describes them; `run` picks the function by full name.

pub mod admin;
pub mod connection;
pub mod introspect;

use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::CommandSpec;
use cinnabar_resp::Args;

/// Runs a `Handler::Server` command.
pub fn run(s: &mut Server, c: &mut Client, cmd: &'static CommandSpec, a: Args) {
    match cmd.fullname.as_str() {
        "ping" => connection::ping(c, a),
        "subscribe" => crate::pubsub::subscribe(s, c, a),
        "psubscribe" => crate::pubsub::psubscribe(s, c, a),
        "unsubscribe" => crate::pubsub::unsubscribe(s, c, a, true),
        "punsubscribe" => crate::pubsub::punsubscribe(s, c, a, true),
        "publish" => crate::pubsub::publish(s, c, a),
        "ssubscribe" => crate::pubsub::ssubscribe(s, c, a),
        "sunsubscribe" => crate::pubsub::sunsubscribe(s, c, a, true),
        "spublish" => crate::pubsub::spublish(s, c, a),
        name if name.starts_with("pubsub|") => crate::pubsub::pubsub(s, c, a, name),
        "echo" => c.reply.bulk(a.get(1)),
        // Cluster commands in a server without cluster support (ACL rules may name them).
        "readonly" | "readwrite" => c
            .reply
            .error("ERR This instance has cluster support disabled"),
        "auth" => connection::auth(s, c, a),
        "hello" => connection::hello(s, c, a),
        "select" => connection::select(s, c, a),
        "quit" => {
            c.reply.ok();
            c.close_after_reply = true;
        }
        "reset" => connection::reset(s, c),
        "client|id" => c.reply.int(c.handle.id as i64),
        "client|setname" => connection::client_setname(c, a),
        "client|getname" => {
            if c.name.is_empty() {
                c.reply.null()
            } else {
                let n = c.name.clone();
                c.reply.bulk(&n)
            }
        }
        "client|list" => connection::client_list(s, c, a),
        "client|info" => connection::client_info(c),
        "client|kill" => connection::client_kill(s, c, a),
        "client|unblock" => connection::client_unblock(s, c, a),
        "client|pause" => connection::client_pause(s, c, a),
        "client|unpause" => {
            s.pause = None;
            s.pause_notify.notify_waiters();
            c.reply.ok();
        }
        "client|reply" => connection::client_reply(c, a),
        "client|no-evict" => connection::client_no_evict(c, a),
        "client|help" => connection::client_help(c),
        name if name.starts_with("latency|") => crate::latency::command(s, c, a, name),
        "client|tracking" => crate::tracking::client_tracking(s, c, a),
        "client|caching" => crate::tracking::client_caching(c, a),
        "client|getredir" => crate::tracking::client_getredir(c),
        "client|trackinginfo" => crate::tracking::client_trackinginfo(c),
        name if name.starts_with("acl|") => crate::acl::cmd::run(s, c, &name[4..], a),
        "info" => introspect::info(s, c, a),
        "command" => introspect::command_all(c),
        "command|count" => c.reply.int(cinnabar_commands::table::table().len() as i64),
        "command|info" => introspect::command_info(c, a),
        "command|docs" => introspect::command_docs(c, a),
        "command|getkeys" => introspect::command_getkeys(c, a, false),
        "command|getkeysandflags" => introspect::command_getkeys(c, a, true),
        "command|list" => introspect::command_list(c, a),
        "command|help" => introspect::command_help(c),
        "config|get" => admin::config_get(s, c, a),
        "slowlog|get" => crate::slowlog::command(s, c, "get", a),
        "slowlog|len" => crate::slowlog::command(s, c, "len", a),
        "slowlog|reset" => crate::slowlog::command(s, c, "reset", a),
        "slowlog|help" => crate::slowlog::command(s, c, "help", a),
        "config|set" => admin::config_set(s, c, a),
        "config|resetstat" => admin::config_resetstat(s, c),
        "config|rewrite" => admin::config_rewrite(s, c),
        "config|help" => admin::config_help(c),
        "debug" => admin::debug(s, c, a),
        "monitor" => crate::monitor::monitor(s, c),
        "shutdown" => admin::shutdown(s, c, a),
        "time" => {
            let us = crate::server::now_us();
            c.reply.array(2);
            c.reply.bulk_int(us / 1_000_000);
            c.reply.bulk_int(us % 1_000_000);
        }
        "lastsave" => c.reply.int(s.lastsave),
        "save" => {
            if s.persist.bgsave.is_some() {
                return c.reply.error("ERR Background save already in progress");
            }
            s.persist.rdb_saves += 1;
            match crate::persist::save_sync(s) {
                Ok(()) => c.reply.ok(),
                Err(_) => c.reply.error("ERR"),
            }
        }
        "bgsave" => {
            if a.len() > 1 && !(a.len() == 2 && a.get(1).eq_ignore_ascii_case(b"schedule")) {
                return c.reply.error("ERR syntax error");
            }
            if s.persist.bgsave.is_some() {
                return c.reply.error("ERR Background save already in progress");
            }
            if s.in_exec {
                s.persist.bgsave_scheduled = true;
                return c.reply.simple("Background saving scheduled");
            }
            match crate::persist::start_bgsave(s) {
                Ok(()) => c.reply.simple("Background saving started"),
                Err(e) => c.reply.error(&e),
            }
        }
        "pipesave" => match crate::persist::start_pipesave(s) {
            Ok(()) => c.reply.simple("Background pipe save started"),
            Err(e) => c.reply.error(&e),
        },
        "dumpsave" => match crate::persist::start_client_stream(s) {
            Ok(rx) => {
                c.stream = Some(crate::client::SnapshotStream {
                    rx,
                    framing: crate::client::Framing::EofMark,
                    close_after: false,
                })
            }
            Err(e) => c.reply.error(&e),
        },
        "replconf" => replconf(s, c, a),
        "bgrewriteaof" => crate::aof::bgrewriteaof(s, c),
        "migrate" => crate::migrate::migrate(s, c, a),
        "replicaof" | "slaveof" => crate::replica::replicaof(s, c, a),
        "failover" => crate::replica::failover(s, c, a),
        "role" => role(s, c),
        "wait" => wait(s, c, a),
        "sync" | "psync" => sync(s, c, a),
        other => c
            .reply
            .error(&format!("ERR command '{other}' is not implemented yet")),
    }
}

/// Replies a HELP text as Redis does: a status line per line.
pub fn help_reply(c: &mut Client, cmd: &str, lines: &[&str]) {
    c.reply.array(lines.len() + 3);
    c.reply.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        c.reply.simple(l);
    }
    c.reply.simple("HELP");
    c.reply.simple("    Prints this help.");
}

/// REPLCONF option value ...: what a replica (or `redis-cli --rdb`) tells about itself.
fn replconf(s: &mut Server, c: &mut Client, a: Args) {
    if a.len().is_multiple_of(2) {
        return c.reply.error("ERR syntax error");
    }
    let mut j = 1;
    while j + 1 < a.len() {
        let (opt, val) = (a.get(j), a.get(j + 1));
        if opt.eq_ignore_ascii_case(b"listening-port") {
            match cinnabar_util::num::string2ll(val) {
                Some(p) if (0..=65535).contains(&p) => {
                    c.repl.listening_port = p as u16;
                    c.handle.repl_port.set(p as u16);
                }
                _ => return c.reply.error("ERR value is not an integer or out of range"),
            }
        } else if opt.eq_ignore_ascii_case(b"ip-address") {
            c.repl.announced_ip = Some(val.to_vec());
        } else if opt.eq_ignore_ascii_case(b"capa") {
            if val.eq_ignore_ascii_case(b"eof") {
                c.repl.capa_eof = true;
            } else if val.eq_ignore_ascii_case(b"psync2") {
                c.repl.capa_psync2 = true;
            }
        } else if opt.eq_ignore_ascii_case(b"rdb-only") {
            match cinnabar_util::num::string2ll(val) {
                Some(0) => c.repl.rdb_only = false,
                Some(1) => c.repl.rdb_only = true,
                _ => return c.reply.error("ERR value is not an integer or out of range"),
            }
        } else if opt.eq_ignore_ascii_case(b"cinnabar-features") {
            // A Cinnabar replica: grant what it asks for and this server allows.
            let wanted = crate::repl_link::Features::parse(val);
            let granted = crate::repl_link::Features {
                rdb_channel: wanted.rdb_channel
                    && s.cfg
                        .get_value("repl-rdb-channel")
                        .is_none_or(|v| v == "yes"),
                zstd: wanted.zstd
                    && s.cfg
                        .get_value("repl-compression")
                        .is_none_or(|v| v == "zstd"),
            };
            if granted.zstd && c.repl.comp.is_none() {
                let level = s
                    .cfg
                    .get_value("repl-compression-level")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(6);
                match crate::repl_link::Compressor::new(level) {
                    Ok(z) => c.repl.comp = Some(z),
                    Err(_) => return c.reply.error("ERR compression unavailable"),
                }
                c.handle.repl_zstd.set(true);
            }
            c.repl.features = granted;
            let words = granted.words();
            return c.reply.simple(&if words.is_empty() {
                "OK".to_string()
            } else {
                format!("OK {words}")
            });
        } else if opt.eq_ignore_ascii_case(b"rdb-channel-for") {
            match cinnabar_util::num::string2ll(val) {
                Some(id) if id > 0 => c.repl.rdbchan_for = Some(id as u64),
                _ => return c.reply.error("ERR value is not an integer or out of range"),
            }
        } else if opt.eq_ignore_ascii_case(b"ack") {
            // From an attached replica: how far it has applied the stream (no reply).
            if c.repl.is_replica {
                c.handle.sync_phase.set(0);
                if let Some(off) = cinnabar_util::num::string2ll(val) {
                    c.handle.repl_ack_off.set(off);
                    c.handle.repl_ack_time.set(std::time::Instant::now());
                    s.repl_ack_notify.notify_waiters();
                }
            }
            return;
        } else if opt.eq_ignore_ascii_case(b"getack") {
            // Only meaningful from a master (handled by the replica link): no reply.
            return;
        } else {
            return c.reply.error(&format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            ));
        }
        j += 2;
    }
    c.reply.ok();
}

/// SYNC / PSYNC replid offset. PSYNC continues from the replication buffer when it holds the
/// history asked for (`+CONTINUE <replid>`, the replica then gets the stream from its offset);
/// otherwise a full synchronization: the snapshot goes first (diskless, with the EOF framing,
/// to a client that said `REPLCONF capa eof`; otherwise as a `$<length>` bulk, assembled in
/// memory first), then the stream from the moment the snapshot began. `REPLCONF rdb-only 1`
/// (redis-cli --rdb) gets the snapshot only.
fn sync(s: &mut Server, c: &mut Client, a: Args) {
    if c.repl.is_replica {
        return;
    }
    if c.multi.is_some() {
        return c
            .reply
            .error("ERR Command not allowed inside a transaction");
    }
    if s.master.is_some() && s.master_client.is_none() {
        return c
            .reply
            .error("NOMASTERLINK Can't SYNC while not connected with my master");
    }
    let psync = a.get(0).eq_ignore_ascii_case(b"psync");
    if psync && a.len() > 3 && a.get(3).eq_ignore_ascii_case(b"failover") {
        // Our master hands over to us (FAILOVER): become a master, then continue its
        // stream as our replica.
        if a.get(1) != s.replid.as_bytes() {
            return c
                .reply
                .error("ERR PSYNC FAILOVER replid must match my replid.");
        }
        crate::replica::become_master(s);
        crate::notice!(
            "MASTER MODE enabled (failover request from 'id={} addr={}')",
            c.handle.id,
            c.handle.addr
        );
    }
    if s.failover.is_some() {
        return c.reply.error("NOMASTERLINK Can't SYNC while failing over");
    }
    if psync && cinnabar_util::num::string2ll(a.get(2)).is_none() {
        crate::notice!(
            "Replica {} asks for synchronization but with a wrong offset",
            c.handle.addr
        );
        return c.reply.error("ERR value is not an integer or out of range");
    }
    if psync && !c.repl.rdb_only {
        let replid = a.get(1);
        let wanted = cinnabar_util::num::string2ll(a.get(2)).unwrap_or(-1);
        if let Some(first) = c.repl.rdbchan_for {
            return attach_stream_channel(s, c, first, replid, wanted);
        }
        let known = replid == s.replid.as_bytes()
            || (replid == s.replid2.as_bytes() && wanted <= s.second_repl_offset);
        if known && wanted >= 1 && s.repl_buf.has_from(wanted as u64 - 1) {
            s.stats.sync_partial_ok += 1;
            c.reply.simple(&format!("CONTINUE {}", s.replid));
            attach(s, c, wanted as u64 - 1);
            c.handle.outbox_notify.notify_one();
            crate::notice!(
                "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                c.handle.addr,
                s.repl_buf.end_offset() + 1 - wanted as u64,
                wanted
            );
            return;
        }
        if replid != b"?" {
            s.stats.sync_partial_err += 1;
            crate::notice!(
                "Partial resynchronization not accepted: Replication ID mismatch or offset out of range (Replica asked for '{}' / {}, my replication IDs are '{}' and '{}')",
                String::from_utf8_lossy(replid),
                wanted,
                s.replid,
                s.replid2
            );
        }
    }
    s.stats.sync_full += 1;
    // Wait for the next snapshot, shared with the other replicas that arrive meanwhile
    // (see persist::start_pending_syncs); the stream starts where that snapshot is taken.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let framing = if c.repl.capa_eof {
        crate::client::Framing::EofMark
    } else {
        crate::client::Framing::Length
    };
    c.handle.sync_phase.set(1);
    c.handle.sync_sent.set(0);
    c.handle.sync_start.set(std::time::Instant::now());
    c.handle
        .sync_est
        .set(crate::cmds::introspect::allocator_stats().0);
    s.pending_syncs.push(crate::persist::PendingSync {
        client: c.handle.id,
        tx,
        psync,
        rdb_only: c.repl.rdb_only,
        eof: c.repl.capa_eof,
        zstd: c.repl.comp.is_some(),
        since: std::time::Instant::now(),
    });
    c.stream = Some(crate::client::SnapshotStream {
        rx,
        framing,
        close_after: c.repl.rdb_only,
    });
    if !c.repl.rdb_only {
        c.repl.is_replica = true;
        c.handle.replica.set(true);
        crate::notice!("Replica {} asks for synchronization", c.handle.addr);
    }
    // Start at once when nothing needs to wait.
    crate::persist::start_pending_syncs(s);
}

/// PSYNC on the second connection of a Cinnabar replica's full sync (rdb-channel). It is
/// armed, not attached: the stream stays on the first connection (client `first`) as Redis
/// does, unless what that one holds during the snapshot grows past the threshold (see
/// `propagate::feed`); then the stream moves here, the first connection carries only the
/// snapshot, and the master's memory for this replica stays bounded. If the snapshot ends
/// first, this connection is closed and the replica goes on with the first one.
fn attach_stream_channel(s: &mut Server, c: &mut Client, first: u64, replid: &[u8], wanted: i64) {
    let ok = replid == s.replid.as_bytes()
        && wanted >= 1
        && s.replicas.contains(&first)
        && s.clients.get(&first).is_some_and(|h| {
            h.rdbchan_peer.get() == 0
                && matches!(h.sync_phase.get(), 1 | 2)
                && h.repl_off.get() + 1 == wanted as u64
        });
    if !ok {
        return c
            .reply
            .error("ERR no full synchronization of that client to attach a stream to");
    }
    c.reply.simple(&format!("CONTINUE {}", s.replid));
    c.repl.is_replica = true;
    c.handle.replica.set(true);
    c.handle.stream_armed.set(true);
    c.handle.rdbchan_peer.set(first);
    if let Some(h) = s.clients.get(&first) {
        h.rdbchan_peer.set(c.handle.id);
        // The stream connection stands for the same replica.
        c.handle.repl_port.set(h.repl_port.get());
    }
}

/// Moves the stream of full sync `first` to its armed stream connection (see
/// `attach_stream_channel`). False when there is none any more.
pub fn activate_stream_channel(s: &mut Server, first: u64) -> bool {
    let Some(a) = s.clients.get(&first).cloned() else {
        return false;
    };
    let b_id = a.rdbchan_peer.get();
    let Some(b) = s
        .clients
        .get(&b_id)
        .cloned()
        .filter(|b| b.stream_armed.get())
    else {
        a.rdbchan_peer.set(0);
        return false;
    };
    let off = a.repl_off.get();
    b.stream_armed.set(false);
    attach_replica(s, b_id, off);
    a.snapshot_only.set(true);
    s.replicas.retain(|&r| r != first);
    b.outbox_notify.notify_one();
    crate::notice!(
        "Replica {}: {} bytes held during its full sync; the stream goes on its second connection (id={}) from offset {}",
        a.addr,
        s.repl_buf.end_offset().saturating_sub(off),
        b_id,
        off + 1
    );
    crate::propagate::trim(s);
    true
}

/// Makes `c` a replica reading the replication buffer from `offset`.
fn attach(s: &mut Server, c: &mut Client, offset: u64) {
    c.repl.is_replica = true;
    c.handle.replica.set(true);
    attach_replica(s, c.handle.id, offset);
}

/// Registers client `id` as a replica reading the replication buffer from `offset`.
pub fn attach_replica(s: &mut Server, id: u64, offset: u64) {
    if let Some(h) = s.clients.get(&id) {
        h.replica.set(true);
        h.repl_off.set(offset);
    }
    s.repl_buf.activate(s.prop.offset);
    if !s.replicas.contains(&id) {
        s.replicas.push(id);
    }
    s.repl_no_replicas_since = None;
    crate::propagate::refresh_enabled(s);
}

/// ROLE
fn role(s: &Server, c: &mut Client) {
    match &s.master {
        Some(m) => {
            c.reply.array(5);
            c.reply.bulk(b"slave");
            c.reply.bulk(m.host.as_bytes());
            c.reply.int(m.port as i64);
            c.reply.bulk(m.state.role_name().as_bytes());
            c.reply
                .int(if m.state == crate::replica::LinkState::Connected {
                    s.prop.offset as i64
                } else {
                    -1
                });
        }
        None => {
            c.reply.array(3);
            c.reply.bulk(b"master");
            c.reply.int(s.prop.offset as i64);
            let reps: Vec<_> = s
                .replicas
                .iter()
                .filter_map(|id| s.clients.get(id))
                .collect();
            c.reply.array(reps.len());
            for h in reps {
                let ip = h
                    .addr
                    .rsplit_once(':')
                    .map_or(h.addr.as_str(), |(ip, _)| ip);
                c.reply.array(3);
                c.reply.bulk(ip.as_bytes());
                c.reply.bulk(h.repl_port.get().to_string().as_bytes());
                c.reply
                    .bulk(h.repl_ack_off.get().max(0).to_string().as_bytes());
            }
        }
    }
}

/// WAIT numreplicas timeout: how many replicas acknowledged this client's writes. Answers at
/// once when enough already have; otherwise the connection waits (see conn.rs) until they do
/// or the timeout passes.
fn wait(s: &mut Server, c: &mut Client, a: Args) {
    if s.master.is_some() {
        return c.reply.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let Some(n) = cinnabar_util::num::string2ll(a.get(1)) else {
        return c.reply.error("ERR value is not an integer or out of range");
    };
    let timeout = match cinnabar_util::num::string2ll(a.get(2)) {
        Some(t) if t >= 0 => t,
        Some(_) => return c.reply.error("ERR timeout is negative"),
        None => {
            return c
                .reply
                .error("ERR timeout is not an integer or out of range")
        }
    };
    let target = s.prop.offset as i64;
    let acked = count_acked(s, target);
    if acked >= n || c.multi.is_some() {
        return c.reply.int(acked);
    }
    // Ask the replicas for an acknowledgement now rather than at their next second (not
    // while writes are paused: the request would itself move the offset).
    if !s.writes_paused(crate::server::now_ms()) {
        crate::propagate::feed_replicas_only(s, &[b"REPLCONF", b"GETACK", b"*"]);
    }
    c.wait = Some(crate::client::WaitAcks {
        target,
        numreplicas: n,
        deadline_ms: if timeout > 0 {
            crate::server::now_ms() + timeout
        } else {
            0
        },
    });
}

/// Replicas that acknowledged at least `offset`.
pub fn count_acked(s: &Server, offset: i64) -> i64 {
    s.replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .filter(|h| h.repl_ack_off.get() >= offset)
        .count() as i64
}

/// Replicas that acknowledged within `min-replicas-max-lag` seconds.
pub fn good_replicas(s: &Server) -> i64 {
    let lag = std::time::Duration::from_secs(s.settings.min_replicas_max_lag.max(0) as u64);
    s.replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .filter(|h| h.repl_ack_off.get() >= 0 && h.repl_ack_time.get().elapsed() <= lag)
        .count() as i64
}
