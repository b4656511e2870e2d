//! `Ctx`: what a data command may touch while it runs.

use cinnabar_keyspace::db::{Db, Keyspace};
use cinnabar_resp::ReplyBuf;

/// The execution context of one command.
pub struct Ctx<'a> {
    /// Every database.
    pub ks: &'a mut Keyspace,
    /// The client's selected database index (SELECT changes it).
    pub db: usize,
    /// Where the reply goes.
    pub reply: &'a mut ReplyBuf,
    /// The command's clock in unix ms, fixed for the whole command (as Redis caches mstime).
    pub now: i64,
    /// Number of changes the command made (the server adds it to `dirty`).
    pub dirty: u64,
    /// `proto-max-bulk-len`, the limit for strings built by APPEND/SETRANGE and LCS memory.
    pub proto_max_bulk_len: i64,
    /// `lazyfree-lazy-user-flush`: FLUSHALL/FLUSHDB without SYNC/ASYNC flushes asynchronously.
    pub lazy_user_flush: bool,
    /// The collection encodings' conversion thresholds (`hash-max-listpack-entries`, ...).
    pub limits: cinnabar_keyspace::types::TypeLimits,
    /// False inside MULTI and scripts: blocking commands then answer at once.
    pub may_block: bool,
    /// The command is replayed (AOF loading, a master's stream): an expiry time already in
    /// the past is set, not turned into a deletion, as Redis does.
    pub replaying: bool,
    /// Set by a blocking command that found nothing to serve (see `Ctx::block_on`).
    pub block: Option<crate::blocking::Block>,
    /// What this call propagates to the AOF and replicas instead of its own arguments (Redis's
    /// command rewriting: relative TTLs become absolute, INCRBYFLOAT becomes SET, SPOP becomes
    /// SREM, a served BLPOP becomes LPOP ...). `Some(empty)`: nothing. Only read when the call
    /// changed something (`dirty > 0`) or `force_propagate` is set.
    pub propagate: Option<Vec<Vec<Vec<u8>>>>,
    /// Propagate even without a change (FLUSHALL/FLUSHDB of empty databases, as Redis does).
    pub force_propagate: bool,
    /// Called by a script (redis.call): replies must not depend on hash-table order.
    pub in_script: bool,
    /// Warnings for the server log (the server writes them after the call).
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// Propagate `argv` instead of the call's own arguments.
    pub fn rewrite<A: AsRef<[u8]>>(&mut self, argv: &[A]) {
        self.propagate = Some(vec![argv.iter().map(|a| a.as_ref().to_vec()).collect()]);
    }

    /// Adds `argv` to what this call propagates (the call's own arguments are then not
    /// propagated unless added too).
    pub fn also_propagate(&mut self, argv: Vec<Vec<u8>>) {
        self.propagate.get_or_insert_with(Vec::new).push(argv);
    }

    /// Sets `key` in the selected database at the command's time (see `Db::set`). A key past
    /// its TTL is expired first, as Redis's `setKey` looks the key up for writing (so it is
    /// `expired`, then `new`).
    pub fn set_key(&mut self, key: &[u8], value: cinnabar_keyspace::value::Value, keep_ttl: bool) {
        let (i, now) = (self.db, self.now);
        self.ks.dbs[i].expire_if_needed(key, now);
        self.ks.dbs[i].set(key, value, keep_ttl, now);
    }

    /// Raises keyspace event `event` of `class` (a `cinnabar_keyspace::notify` constant) on
    /// `key` in the selected database. Returns at once when the class is off; the server
    /// publishes what was raised after the command.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        self.ks.notify(db, class, event, key);
    }

    /// Like [`Ctx::notify`], in database `db`.
    #[inline]
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        self.ks.notify(db, class, event, key);
    }

    /// The selected database.
    pub fn db(&mut self) -> &mut Db {
        let i = self.db;
        &mut self.ks.dbs[i]
    }
}
