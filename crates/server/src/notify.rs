//! Keyspace notifications: publishes the events the keyspace recorded (see
//! `cinnabar_keyspace::notify`) as Redis does — `__keyspace@<db>__:<key>` with the event name
//! (class K) and `__keyevent@<db>__:<event>` with the key (class E) — to channel and pattern
//! subscribers, in the order the events were raised. Called after every command (and every
//! command of EXEC or a script), after a blocked client is served, and after active expiry.

use crate::client::{Client, ClientHandle};
use crate::server::Server;
use cinnabar_keyspace::notify::{KEYEVENT, KEYSPACE};

/// Brings the keyspace's notification flags in line with the configuration (databases can
/// be replaced wholesale by an async load, so this is checked, not only set on CONFIG SET).
#[inline]
pub fn sync(s: &mut Server) {
    let f = s.settings.notify_flags;
    s.ks.sync_notify(f);
}

/// Publishes the pending events of a blocked client's re-run, without the `keymiss` events
/// its read lookups raised: Redis serves a waiter without looking its keys up again.
pub fn publish_served(s: &mut Server) {
    if s.ks.notify == 0 {
        return;
    }
    s.ks.collect_events();
    s.ks.events.retain(|e| e.event != "keymiss");
    publish_slow(s, None);
}

/// Publishes every pending event. `c` is the client running the command, if any (a
/// subscriber among the recipients gets its message in its own reply buffer).
#[inline]
pub fn publish_pending(s: &mut Server, c: Option<&mut Client>) {
    if s.ks.notify == 0 {
        return;
    }
    publish_slow(s, c);
}

#[cold]
fn publish_slow(s: &mut Server, c: Option<&mut Client>) {
    let events = s.ks.take_events();
    if events.is_empty() {
        return;
    }
    let mut own;
    let c = match c {
        Some(c) => c,
        None => {
            // No client runs (cron, a served blocked client): deliver through the outboxes.
            let h = std::rc::Rc::new(ClientHandle::new(
                u64::MAX,
                -1,
                String::new(),
                String::new(),
                false,
            ));
            own = Client::new(h, true);
            &mut own
        }
    };
    let flags = s.ks.notify;
    let mut chan = Vec::new();
    for e in events {
        let db = e.db.to_string();
        if flags & KEYSPACE != 0 {
            chan.clear();
            chan.extend_from_slice(b"__keyspace@");
            chan.extend_from_slice(db.as_bytes());
            chan.extend_from_slice(b"__:");
            chan.extend_from_slice(&e.key);
            crate::pubsub::publish_message(s, c, &chan, e.event.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            chan.clear();
            chan.extend_from_slice(b"__keyevent@");
            chan.extend_from_slice(db.as_bytes());
            chan.extend_from_slice(b"__:");
            chan.extend_from_slice(e.event.as_bytes());
            crate::pubsub::publish_message(s, c, &chan, &e.key);
        }
    }
}
