//! Transactions: MULTI queues commands, EXEC runs them back to back (nothing else runs in
//! between: the engine is single-threaded), DISCARD drops them. WATCH makes EXEC fail (null
//! reply) when a watched key was modified — by any client, FLUSHDB/FLUSHALL/SWAPDB included —
//! or has expired since. An error while queueing (unknown command, wrong arity, a command not
//! allowed in a transaction) makes EXEC answer EXECABORT. Inside EXEC, blocking commands answer
//! at once as on timeout.

use crate::client::Client;
use crate::dispatch::{self, Exec};
use crate::server::Server;
use cinnabar_commands::table::CommandSpec;
use cinnabar_resp::{Args, OwnedArgs};
use std::time::Instant;

/// A client's open transaction.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<(&'static CommandSpec, OwnedArgs)>,
    /// Memory the queued commands hold (CLIENT LIST multi-mem).
    pub mem: usize,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
}

/// One client's watch on a key.
#[derive(Clone, Copy, Debug)]
pub struct WatchEntry {
    pub client: u64,
    /// The key was already logically expired when WATCH ran.
    pub expired: bool,
}

/// The commands that run right away inside MULTI instead of being queued.
pub fn runs_in_multi(cmd: &CommandSpec) -> bool {
    matches!(
        cmd.fullname.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    ) || is_transaction_command(cmd)
}

/// MULTI, EXEC, DISCARD, WATCH, UNWATCH (run by this module).
pub fn is_transaction_command(cmd: &CommandSpec) -> bool {
    matches!(
        cmd.fullname.as_str(),
        "multi" | "exec" | "discard" | "watch" | "unwatch"
    )
}

/// Runs a transaction command.
pub fn run(
    s: &mut Server,
    c: &mut Client,
    cmd: &'static CommandSpec,
    a: Args,
    now: i64,
    clock: &mut Instant,
) {
    match cmd.fullname.as_str() {
        "multi" => {
            if c.multi.is_some() {
                return c.reply.error("ERR MULTI calls can not be nested");
            }
            c.multi = Some(Multi::default());
            c.reply.ok();
        }
        "discard" => {
            if c.multi.is_none() {
                return c.reply.error("ERR DISCARD without MULTI");
            }
            discard(s, c);
            c.reply.ok();
        }
        "watch" => {
            if c.multi.is_some() {
                return c.reply.error("ERR WATCH inside MULTI is not allowed");
            }
            if !c.handle.dirty_cas.get() {
                for k in a.tail(1).iter() {
                    watch(s, c, k, now);
                }
            }
            c.reply.ok();
        }
        "unwatch" => {
            unwatch_all(s, c);
            c.handle.dirty_cas.set(false);
            c.reply.ok();
        }
        "exec" => exec(s, c, now, clock),
        _ => {}
    }
}

fn watch(s: &mut Server, c: &mut Client, key: &[u8], now: i64) {
    let db = c.db;
    if c.watched.iter().any(|(d, k)| *d == db && k == key) {
        return;
    }
    let expired =
        s.ks.dbs
            .get(db)
            .and_then(|d| d.expire_of(key))
            .is_some_and(|w| w <= now && s.ks.dbs[db].main.contains_key(key));
    c.watched.push((db, key.to_vec()));
    s.watched
        .entry((db, key.to_vec()))
        .or_default()
        .push(WatchEntry {
            client: c.handle.id,
            expired,
        });
}

/// Forgets every key `c` watches.
pub fn unwatch_all(s: &mut Server, c: &mut Client) {
    let id = c.handle.id;
    for k in c.watched.drain(..) {
        if let Some(v) = s.watched.get_mut(&k) {
            v.retain(|w| w.client != id);
            if v.is_empty() {
                s.watched.remove(&k);
            }
        }
    }
}

/// Drops the transaction and the watches (DISCARD, RESET, after EXEC, on disconnect).
pub fn discard(s: &mut Server, c: &mut Client) {
    c.multi = None;
    unwatch_all(s, c);
    c.handle.dirty_cas.set(false);
}

fn mark_dirty(s: &Server, id: u64) {
    if let Some(h) = s.clients.get(&id) {
        h.dirty_cas.set(true);
    }
}

/// A write modified `key` of `db`: every client watching it will fail its EXEC.
pub fn touch(s: &mut Server, db: usize, key: &[u8]) {
    let k = (db, key.to_vec());
    let Some(entries) = s.watched.get_mut(&k) else {
        return;
    };
    let exists = s.ks.dbs.get(db).is_some_and(|d| d.main.contains_key(key));
    let mut dirty = Vec::new();
    for w in entries.iter_mut() {
        if w.expired && !exists {
            // It was already expired at WATCH and is now gone: no logical change.
            w.expired = false;
            continue;
        }
        dirty.push(w.client);
    }
    for id in dirty {
        mark_dirty(s, id);
    }
}

/// After a write command that changed something: touches the keys it names.
pub fn touch_written_keys(s: &mut Server, cmd: &CommandSpec, db: usize, args: &[&[u8]]) {
    if s.watched.is_empty() {
        return;
    }
    if let Ok(keys) = cmd.keys_with_flags(args) {
        for (pos, _) in keys {
            if let Some(k) = args.get(pos) {
                touch(s, db, k);
            }
        }
    }
}

/// Before FLUSHDB, FLUSHALL and SWAPDB: the watched keys of an emptied (or swapped) database
/// are touched as Redis's `touchAllWatchedKeysInDb` does: a key that exists in it, or in the
/// database replacing it, is touched, except that keys already expired at WATCH time that stay
/// gone or expired are no logical change.
pub fn touch_before_flush(s: &mut Server, cmd: &CommandSpec, db: usize, a: Args, now: i64) {
    let pairs: Vec<(usize, Option<usize>)> = match cmd.fullname.as_str() {
        "flushdb" => vec![(db, None)],
        "flushall" => (0..s.ks.dbs.len()).map(|d| (d, None)).collect(),
        "swapdb" => {
            let p = |x: &[u8]| cinnabar_util::num::string2ll(x).map(|v| v as usize);
            match (p(a.get(1)), p(a.get(2))) {
                (Some(x), Some(y)) if x < s.ks.dbs.len() && y < s.ks.dbs.len() => {
                    vec![(x, Some(y)), (y, Some(x))]
                }
                _ => return,
            }
        }
        _ => return,
    };
    let mut dirty = Vec::new();
    let ks = &s.ks;
    let expired_in = |d: usize, key: &[u8]| ks.dbs[d].expire_of(key).is_some_and(|w| w <= now);
    for ((d, key), entries) in s.watched.iter_mut() {
        for &(emptied, replaced) in &pairs {
            if *d != emptied {
                continue;
            }
            let here = ks.dbs[emptied].main.contains_key(key.as_slice());
            let there = replaced.is_some_and(|r| ks.dbs[r].main.contains_key(key.as_slice()));
            if !here && !there {
                continue;
            }
            for w in entries.iter_mut() {
                if w.expired {
                    if !there {
                        w.expired = false;
                        continue;
                    }
                    if replaced.is_some_and(|r| expired_in(r, key)) {
                        continue;
                    }
                } else if !here && replaced.is_some_and(|r| expired_in(r, key)) {
                    w.expired = true;
                    continue;
                }
                dirty.push(w.client);
            }
        }
    }
    for id in dirty {
        mark_dirty(s, id);
    }
}

fn watched_key_expired(s: &Server, c: &Client, now: i64) -> bool {
    c.watched.iter().any(|(db, key)| {
        let was_expired = s
            .watched
            .get(&(*db, key.clone()))
            .and_then(|v| v.iter().find(|w| w.client == c.handle.id))
            .is_some_and(|w| w.expired);
        !was_expired
            && s.ks.dbs[*db].main.contains_key(key.as_slice())
            && s.ks.dbs[*db].expire_of(key).is_some_and(|w| w <= now)
    })
}

fn exec(s: &mut Server, c: &mut Client, now: i64, clock: &mut Instant) {
    let Some(m) = c.multi.take() else {
        return c.reply.error("ERR EXEC without MULTI");
    };
    if watched_key_expired(s, c, now) {
        c.handle.dirty_cas.set(true);
    }
    if m.aborted {
        discard(s, c);
        return c
            .reply
            .error("EXECABORT Transaction discarded because of previous errors.");
    }
    if c.handle.dirty_cas.get() {
        discard(s, c);
        return c.reply.null_array();
    }
    unwatch_all(s, c);
    c.reply.array(m.queued.len());
    s.in_exec = true;
    for (cmd, args) in &m.queued {
        // The ACL rules may have changed since the command was queued.
        if let Some(e) = crate::acl::check_at_exec(s, c, cmd, args.args()) {
            c.reply.error(&e);
            continue;
        }
        // Blocking commands answer at once inside a transaction.
        if let Some(Exec::Blocked(..)) = dispatch::call(s, c, cmd, args.args(), now, clock, false) {
            c.reply.null_array();
        }
    }
    s.in_exec = false;
    c.handle.dirty_cas.set(false);
}

/// Takes the keys expiry deleted in `db` and touches the watched ones.
pub fn drain_expired(s: &mut Server, db: usize) {
    let Some(d) = s.ks.dbs.get_mut(db) else {
        return;
    };
    if d.expired_keys.is_empty() {
        return;
    }
    let keys = std::mem::take(&mut d.expired_keys);
    // A replica does not propagate its expiries: its master sends the DELs.
    if s.prop.enabled && s.master.is_none() {
        for k in &keys {
            s.prop.add(db, vec![b"DEL".to_vec(), k.to_vec()]);
        }
    }
    if !s.watched.is_empty() {
        for k in &keys {
            touch(s, db, k);
        }
    }
    if s.tracking.active() {
        for k in &keys {
            crate::tracking::invalidate_key(s, 0, k, true);
        }
    }
}
