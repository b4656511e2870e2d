//! The one propagation point (DESIGN.md): every change to the dataset leaves the engine here,
//! as the commands that reproduce it, in execution order, for the AOF and the replicas.
//!
//! A top-level command (or an EXEC, or a blocked client being served) is one *execution unit*.
//! While it runs, the operations it propagates are collected: the deletions of keys it found
//! expired, then the command itself (or what it was rewritten to, see `Ctx::propagate`). When
//! the unit ends they are appended to the stream, wrapped in MULTI/EXEC when there is more than
//! one (so a replica applies them atomically), with a SELECT whenever the database differs from
//! the stream's current one — exactly as Redis 7.0 does. Active expiry propagates each deletion
//! as a unit of its own.
//!
//! Nothing is encoded while no consumer (AOF, replica) is attached.

/// One propagated operation.
struct Op {
    db: usize,
    argv: Vec<Vec<u8>>,
}

/// The propagation state of the engine.
#[derive(Default)]
pub struct Propagation {
    /// Something consumes the stream (AOF on, or a replica attached).
    pub enabled: bool,
    pending: Vec<Op>,
    /// Database the stream last SELECTed (None: nothing yet; a new consumer resets it).
    cur_db: Option<usize>,
    /// Encoded stream not yet taken by the consumers.
    pub stream: Vec<u8>,
    /// Bytes ever appended to the stream (the replication offset).
    pub offset: u64,
}

fn encode(out: &mut Vec<u8>, argv: &[&[u8]]) {
    crate::persist::encode_cmd(out, argv);
}

impl Propagation {
    /// Queues an operation of the current unit.
    pub fn add(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        if self.enabled {
            self.pending.push(Op { db, argv });
        }
    }

    /// Queues an operation given as borrowed arguments.
    pub fn add_args<'a>(&mut self, db: usize, argv: impl Iterator<Item = &'a [u8]>) {
        if self.enabled {
            self.pending.push(Op {
                db,
                argv: argv.map(|a| a.to_vec()).collect(),
            });
        }
    }

    /// True when the current unit has queued something.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn emit(&mut self, db: usize, argv: &[&[u8]]) {
        let before = self.stream.len();
        if self.cur_db != Some(db) {
            let n = db.to_string();
            encode(&mut self.stream, &[b"SELECT", n.as_bytes()]);
            self.cur_db = Some(db);
        }
        encode(&mut self.stream, argv);
        self.offset += (self.stream.len() - before) as u64;
    }

    /// Ends the current unit: appends its operations to the stream (in a MULTI/EXEC when more
    /// than one, unless `no_multi`: SCAN and RANDOMKEY, whose expired-key deletions are
    /// independent).
    pub fn end_unit(&mut self, no_multi: bool) {
        if self.pending.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pending);
        let wrap = ops.len() > 1 && !no_multi;
        if wrap {
            self.emit(ops[0].db, &[b"MULTI"]);
        }
        let last_db = ops[ops.len() - 1].db;
        for op in &ops {
            let argv: Vec<&[u8]> = op.argv.iter().map(|a| a.as_slice()).collect();
            self.emit(op.db, &argv);
        }
        if wrap {
            self.emit(last_db, &[b"EXEC"]);
        }
    }

    /// The database the stream last SELECTed.
    pub fn cur_db(&self) -> Option<usize> {
        self.cur_db
    }

    /// A new consumer starts from here: the next operation will SELECT its database.
    pub fn reset_db(&mut self) {
        self.cur_db = None;
    }

    /// Takes the encoded stream.
    pub fn take_stream(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.stream)
    }
}

/// Ends the current execution unit (see `Propagation::end_unit`) and hands what it produced
/// to the consumers.
pub fn end_unit(s: &mut crate::server::Server, no_multi: bool) {
    s.prop.end_unit(no_multi);
    feed(s);
}

/// Appends the encoded stream to the replication buffer (when a backlog exists) and wakes
/// the replicas; a replica further behind than the hard `replica` limit of
/// `client-output-buffer-limit` is disconnected. Then frees what nobody needs any more.
pub fn feed(s: &mut crate::server::Server) {
    if s.prop.stream.is_empty() {
        return;
    }
    let bytes = s.prop.take_stream();
    if !s.applying_master {
        s.aof.append(&bytes);
    }
    s.repl_buf.append(&bytes);
    if s.replicas.is_empty() {
        trim(s);
        return;
    }
    let limit = s.settings.obuf_limits[cinnabar_config::ClientClass::Replica as usize];
    // A hard limit below the backlog size counts as the backlog size (as Redis: the replica
    // shares the backlog's memory, and a partial resync would otherwise be cut off at once).
    let backlog = s.settings.repl_backlog_size;
    let hard = if limit.hard > 0 {
        limit.hard.max(backlog)
    } else {
        0
    };
    let now_s = crate::server::now_ms() / 1000;
    let end = s.repl_buf.end_offset();
    // A full sync holding more than a quarter of the limit moves its stream to its armed
    // second connection (rdb-channel), well before the limit would cut it off (that
    // connection then catches up with what was held, on the same link as the snapshot). No
    // limit: Redis's way.
    let limit_of_syncs = match (hard, limit.soft) {
        (0, soft) => soft,
        (hard, 0) => hard,
        (hard, soft) => hard.min(soft),
    };
    if limit_of_syncs > 0 {
        let moving: Vec<u64> = s
            .replicas
            .iter()
            .filter_map(|id| s.clients.get(id))
            .filter(|h| {
                h.rdbchan_peer.get() != 0
                    && matches!(h.sync_phase.get(), 1 | 2)
                    && end.saturating_sub(h.repl_off.get()) >= limit_of_syncs / 4
            })
            .map(|h| h.id)
            .collect();
        for id in moving {
            crate::cmds::activate_stream_channel(s, id);
        }
    }
    let mut dropped = Vec::new();
    for &id in &s.replicas {
        let Some(h) = s.clients.get(&id) else {
            dropped.push(id);
            continue;
        };
        let lag = end.saturating_sub(h.repl_off.get());
        if h.obuf_limit_reached(cinnabar_config::ObufLimit { hard, ..limit }, lag, now_s) {
            h.log_obuf_close();
            h.kill();
            dropped.push(id);
            continue;
        }
        h.outbox_notify.notify_one();
    }
    for id in dropped {
        detach_replica(s, id);
    }
    trim(s);
}

/// Frees replication-buffer blocks that the backlog and every replica are done with.
pub fn trim(s: &mut crate::server::Server) {
    let keep = s.settings.repl_backlog_size;
    let min_reader = s
        .replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .map(|h| h.repl_off.get())
        .min();
    s.repl_buf.trim(keep, min_reader);
}

/// A replica connection is gone (or was cut off).
pub fn detach_replica(s: &mut crate::server::Server, id: u64) {
    s.replicas.retain(|&r| r != id);
    if s.replicas.is_empty() {
        s.repl_no_replicas_since = Some(std::time::Instant::now());
    }
    refresh_enabled(s);
    // What only this replica still needed is freed now, not at the next write.
    trim(s);
}

/// Propagation runs while something consumes it: the AOF, a backlog or a replica.
pub fn refresh_enabled(s: &mut crate::server::Server) {
    s.prop.enabled = s.aof.on || s.aof.wait_rewrite || s.repl_buf.active || !s.replicas.is_empty();
}

/// Sends a command to the replicas only (the master's PING, REPLCONF GETACK): not to the AOF.
pub fn feed_replicas_only(s: &mut crate::server::Server, argv: &[&[u8]]) {
    feed(s);
    if s.replicas.is_empty() && !s.repl_buf.active {
        return;
    }
    let mut bytes = Vec::new();
    encode(&mut bytes, argv);
    s.prop.offset += bytes.len() as u64;
    s.prop.stream = bytes;
    let saved = s.applying_master;
    // Mark the bytes as not for the AOF.
    s.applying_master = true;
    feed(s);
    s.applying_master = saved;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn units_select_and_wrap() {
        let mut p = Propagation {
            enabled: true,
            ..Default::default()
        };
        p.add(0, v(&["SET", "a", "1"]));
        p.end_unit(false);
        p.add(0, v(&["DEL", "x"]));
        p.add(2, v(&["SET", "b", "2"]));
        p.end_unit(false);
        p.add(2, v(&["DEL", "y"]));
        p.add(2, v(&["DEL", "z"]));
        p.end_unit(true);
        let s = String::from_utf8(p.take_stream()).unwrap_or_default();
        assert_eq!(
            s,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\ny\r\n*2\r\n$3\r\nDEL\r\n$1\r\nz\r\n"
        );
        assert_eq!(p.offset as usize, s.len());
    }

    #[test]
    fn disabled_encodes_nothing() {
        let mut p = Propagation::default();
        p.add(0, v(&["SET", "a", "1"]));
        p.end_unit(false);
        assert!(p.stream.is_empty());
    }
}
