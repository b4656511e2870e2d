//! Blocked clients (BLPOP, BLMOVE, BZPOPMIN, ...). A blocking command that finds nothing to
//! serve sets `Ctx::block`; the dispatcher then registers the client here, keyed by
//! (database, key), first come first served, and the connection task waits on its `Slot`
//! (or its deadline). After every command, keys that a write touched and that have waiters are
//! "ready": `serve_ready` runs each waiter's command again, in arrival order, right away —
//! before any other client's next command, as Redis does — and hands the reply to the waiting
//! task. A waiter whose key is missing or of another type stays blocked.

use crate::server::Server;
use cinnabar_commands::blocking::{BlockType, TimeoutReply};
use cinnabar_commands::table::CommandSpec;
use cinnabar_commands::{Ctx, Handler};
use cinnabar_keyspace::value::Value;
use cinnabar_resp::{OwnedArgs, ReplyBuf};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use tokio::sync::Notify;

/// Where a blocked client's reply lands; the connection task waits on `notify`.
#[derive(Default)]
pub struct Slot {
    pub reply: RefCell<Option<Vec<u8>>>,
    pub notify: Notify,
}

/// One blocked client.
pub struct Waiter {
    pub spec: &'static CommandSpec,
    pub args: OwnedArgs,
    pub db: usize,
    pub resp3: bool,
    pub keys: Vec<Vec<u8>>,
    pub deadline_ms: i64,
    pub on_timeout: TimeoutReply,
    pub kind: BlockType,
    pub slot: Rc<Slot>,
}

/// Every blocked client and the keys they wait on.
#[derive(Default)]
pub struct Blocked {
    pub waiters: HashMap<u64, Waiter>,
    /// (db, key) → client ids in arrival order.
    pub by_key: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    /// Keys touched by a write since the last `serve_ready`, with waiters.
    pub ready: Vec<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
}

impl Blocked {
    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when nobody is blocked.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Number of keys with at least one waiter (INFO `total_blocking_keys`).
    pub fn keys(&self) -> usize {
        self.by_key.len()
    }

    /// Registers client `id`.
    pub fn add(&mut self, id: u64, w: Waiter) {
        for k in &w.keys {
            let q = self.by_key.entry((w.db, k.clone())).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        self.waiters.insert(id, w);
    }

    /// Unregisters client `id` (served, timed out, unblocked or gone).
    pub fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            let key = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&key) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        Some(w)
    }

    /// Marks `key` of `db` ready if someone waits on it.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        let k = (db, key.to_vec());
        if self.by_key.contains_key(&k) && self.ready_set.insert(k.clone()) {
            self.ready.push(k);
        }
    }
}

/// After a command: marks the keys it wrote as ready for their waiters.
pub fn signal_written_keys(s: &mut Server, spec: &'static CommandSpec, db: usize, args: &[&[u8]]) {
    if let Ok(keys) = spec.keys_with_flags(args) {
        for (pos, _) in keys {
            if let Some(k) = args.get(pos) {
                s.blocked.signal(db, k);
            }
        }
    }
}

fn type_matches(kind: BlockType, v: &Value) -> bool {
    matches!(
        (kind, v),
        (BlockType::List, Value::List(_))
            | (BlockType::ZSet, Value::ZSet(_))
            | (BlockType::Stream | BlockType::StreamGroup, Value::Stream(_))
    )
}

/// Serves the waiters of every ready key, first come first served, until no key is ready
/// (serving one can make another ready, e.g. BLMOVE's destination).
pub fn serve_ready(s: &mut Server, now: i64) {
    let mut rounds = 0usize;
    while !s.blocked.ready.is_empty() {
        rounds += 1;
        if rounds > 1_000_000 {
            break;
        }
        let ready = std::mem::take(&mut s.blocked.ready);
        s.blocked.ready_set.clear();
        for (db, key) in ready {
            serve_key(s, db, &key, now);
        }
    }
}

fn serve_key(s: &mut Server, db: usize, key: &[u8], now: i64) {
    let ids: Vec<u64> = match s.blocked.by_key.get(&(db, key.to_vec())) {
        Some(q) => q.iter().copied().collect(),
        None => return,
    };
    for id in ids {
        let Some(w) = s.blocked.waiters.get(&id) else {
            continue;
        };
        let Some(dbref) = s.ks.dbs.get_mut(db) else {
            return;
        };
        match dbref.peek(key, now) {
            Some(v) if type_matches(w.kind, v) => {}
            _ if w.kind == BlockType::StreamGroup => {
                unblock(s, id, Some("UNBLOCKED the stream key no longer exists"));
                continue;
            }
            _ => continue,
        }
        let Handler::Data(f) = w.spec.def.handler else {
            continue;
        };
        let spec = w.spec;
        let args = w.args.clone();
        let started = std::time::Instant::now();
        let mut reply = ReplyBuf::new();
        reply.resp3 = w.resp3;
        let track = s
            .tracking
            .active()
            .then(|| crate::tracking::serve_begin(s, id));
        let mut ctx = Ctx {
            ks: &mut s.ks,
            db,
            reply: &mut reply,
            now,
            dirty: 0,
            proto_max_bulk_len: s.settings.proto_max_bulk_len,
            lazy_user_flush: s.settings.lazyfree_lazy_user_flush,
            limits: s.settings.limits,
            may_block: true,
            replaying: false,
            block: None,
            propagate: None,
            force_propagate: false,
            in_script: false,
            warnings: Vec::new(),
        };
        f(&mut ctx, args.args());
        let (dirty, still_blocked) = (ctx.dirty, ctx.block.is_some());
        let rewritten = ctx.propagate.take();
        s.dirty += dirty;
        crate::notify::publish_served(s);
        // Invalidations for the served client follow its reply.
        let track_out = track.map(|prev| {
            if !still_blocked {
                crate::tracking::after_write(s, id, spec, args.args(), dirty);
            }
            crate::tracking::serve_end(s, prev)
        });
        if still_blocked {
            continue;
        }
        if !s.ks.dbs[db].expired_keys.is_empty() {
            crate::multi::drain_expired(s, db);
        }
        if s.prop.enabled && dirty > 0 {
            match rewritten {
                Some(ops) => {
                    for argv in ops {
                        s.prop.add(db, argv);
                    }
                }
                None => s.prop.add_args(db, args.args().iter()),
            }
        }
        crate::propagate::end_unit(s, false);
        let all: Vec<&[u8]> = args.args().iter().collect();
        signal_written_keys(s, spec, db, &all);
        if dirty > 0 {
            crate::multi::touch_written_keys(s, spec, db, &all);
        }
        if let Some(out) = track_out {
            reply.out.extend_from_slice(&out);
        }
        if !reply.errors.is_empty() {
            cinnabar_commands::table::CmdStats::bump(&spec.stats.failed, 1);
        }
        for code in reply.errors.drain(..) {
            *s.stats.error_codes.entry(code).or_insert(0) += 1;
            s.stats.total_error_replies += 1;
        }
        // The served command goes to the SLOWLOG as the client sent it (Redis logs a blocked
        // command when it is unblocked).
        let us = started.elapsed().as_micros() as u64;
        let th = s.settings.slowlog_slower_than;
        if th >= 0 && us >= th as u64 && !spec.has(cinnabar_commands::table::flag::SKIP_SLOWLOG) {
            if let Some(h) = s.clients.get(&id).cloned() {
                let name = h.info.borrow().name.clone();
                crate::slowlog::push_for(s, spec, args.args(), us, h.addr.clone(), name);
            }
        }
        if let Some(w) = s.blocked.remove(id) {
            *w.slot.reply.borrow_mut() = Some(std::mem::take(&mut reply.out));
            w.slot.notify.notify_one();
        }
    }
}

/// Unblocks client `id` with its timeout reply (deadline reached, or CLIENT UNBLOCK ...
/// TIMEOUT) or with `error`. False if it was not blocked.
pub fn unblock(s: &mut Server, id: u64, error: Option<&str>) -> bool {
    let Some(w) = s.blocked.remove(id) else {
        return false;
    };
    let mut r = ReplyBuf::new();
    r.resp3 = w.resp3;
    match error {
        Some(e) => {
            r.error(e);
            // The blocked command failed (commandstats failed_calls), as in Redis.
            cinnabar_commands::table::CmdStats::bump(&w.spec.stats.failed, 1);
            for code in r.errors.drain(..) {
                *s.stats.error_codes.entry(code).or_insert(0) += 1;
                s.stats.total_error_replies += 1;
            }
        }
        None => w.on_timeout.write(&mut r),
    }
    *w.slot.reply.borrow_mut() = Some(r.out);
    w.slot.notify.notify_one();
    true
}

/// After FLUSHALL/FLUSHDB: every key waited on may be gone.
pub fn signal_all(s: &mut Server) {
    let keys: Vec<(usize, Vec<u8>)> = s.blocked.by_key.keys().cloned().collect();
    for (d, k) in keys {
        s.blocked.signal(d, &k);
    }
}

/// After SWAPDB: every key waited on in either database may now hold data.
pub fn signal_swapped(s: &mut Server, x: usize, y: usize) {
    let keys: Vec<(usize, Vec<u8>)> = s
        .blocked
        .by_key
        .keys()
        .filter(|(d, _)| *d == x || *d == y)
        .cloned()
        .collect();
    for (d, k) in keys {
        s.blocked.signal(d, &k);
    }
}
