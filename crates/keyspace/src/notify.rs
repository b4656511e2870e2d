//! Keyspace notification classes (the `notify-keyspace-events` bits, as Redis numbers them)
//! and the event record. The keyspace only records events; the server publishes them on
//! `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` after each command.
//!
//! Recording costs one branch when a class is off: `Keyspace::notify` and the databases'
//! own hooks (`new`, `expired`, `keymiss`) test the class bit before touching anything.

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: DEL, EXPIRE, RENAME, ... (type-independent commands).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key deleted by expiry.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key evicted by maxmemory.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read found no key.
pub const KEY_MISS: u32 = 1 << 11;
/// `n`: a key was created.
pub const NEW: u32 = 1 << 14;

/// The flags the server acts on: nothing is published without `K` or `E`.
pub fn effective(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

/// One event waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub db: usize,
    pub event: &'static str,
    pub key: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{DbStats, Keyspace};
    use crate::value::Value;

    fn names(ks: &mut Keyspace) -> Vec<(usize, &'static str, Vec<u8>)> {
        ks.take_events()
            .into_iter()
            .map(|e| (e.db, e.event, e.key))
            .collect()
    }

    #[test]
    fn nothing_is_recorded_when_off() {
        let mut ks = Keyspace::new(2);
        ks.dbs[0].set(b"a", Value::from_bytes(b"1"), false, 1000);
        let mut st = DbStats::default();
        assert!(ks.dbs[0].get(b"nope", 1000, &mut st).is_none());
        ks.notify(0, GENERIC, "del", b"a");
        assert!(ks.dbs[0].events.is_empty());
        assert!(ks.take_events().is_empty());
    }

    #[test]
    fn db_events_and_command_events_keep_their_order() {
        let mut ks = Keyspace::new(4);
        ks.sync_notify(effective(
            KEYEVENT | NEW | EXPIRED | KEY_MISS | GENERIC | STRING,
        ));
        // new (db 2), then a command event in db 0, then new in db 1: raised in that order.
        ks.dbs[2].set(b"k", Value::from_bytes(b"v"), false, 1000);
        ks.notify(0, GENERIC, "move_from", b"k");
        ks.dbs[1].add(b"k", Value::from_bytes(b"v"), 1000);
        ks.notify(1, GENERIC, "move_to", b"k");
        // Overwriting an existing key is not `new`.
        ks.dbs[1].set(b"k", Value::from_bytes(b"w"), false, 1000);
        // Expiry and a read miss.
        ks.dbs[3].set(b"t", Value::from_bytes(b"v"), false, 1000);
        ks.dbs[3].set_expire(b"t", 1500);
        let mut st = DbStats::default();
        assert!(ks.dbs[3].get(b"t", 2000, &mut st).is_none());
        assert_eq!(
            names(&mut ks),
            vec![
                (2, "new", b"k".to_vec()),
                (0, "move_from", b"k".to_vec()),
                (1, "new", b"k".to_vec()),
                (1, "move_to", b"k".to_vec()),
                (3, "new", b"t".to_vec()),
                (3, "expired", b"t".to_vec()),
                (3, "keymiss", b"t".to_vec()),
            ]
        );
    }

    #[test]
    fn classes_filter_and_k_or_e_is_required() {
        assert_eq!(effective(GENERIC | NEW), 0);
        let mut ks = Keyspace::new(1);
        ks.sync_notify(effective(KEYSPACE | LIST));
        ks.notify(0, GENERIC, "del", b"a");
        ks.notify(0, LIST, "lpush", b"l");
        ks.dbs[0].set(b"x", Value::from_bytes(b"1"), false, 0);
        assert_eq!(names(&mut ks), vec![(0, "lpush", b"l".to_vec())]);
        // Turning notifications off drops what was pending.
        ks.notify(0, LIST, "lpop", b"l");
        ks.sync_notify(0);
        ks.sync_notify(effective(KEYSPACE | LIST));
        assert!(ks.take_events().is_empty());
    }
}
