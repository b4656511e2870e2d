//! Client-side caching (CLIENT TRACKING): which clients may hold which keys, and the
//! invalidation messages sent when those keys change.
//!
//! - **Default mode**: after a read-only command of a tracking client, its keys are remembered
//!   in `table` (key → client ids; keys are global, not per database, as Redis). A write,
//!   expiry or eviction of a key sends one invalidation to each client listed and forgets the
//!   entry. `tracking-table-max-keys` bounds the table: over it, entries are dropped with an
//!   invalidation as if the key had changed.
//! - **BCAST mode**: no table; every modified key matching one of the prefixes registered in
//!   `prefixes` is collected and sent, per prefix, as one array at the end of the command
//!   (and after the cron's expiry/eviction), without the keys a NOLOOP client changed itself.
//! - **Delivery**: a RESP3 client gets `>2 invalidate <keys|null>` pushes; with `REDIRECT id`
//!   they go to that client instead — as a `message` on `__redis__:invalidate` when it is a
//!   RESP2 subscriber. A redirect client that is gone marks the tracking client "broken" and
//!   sends it a `tracking-redir-broken` push (RESP3). Messages for the client whose command is
//!   running are held in `pending` and written after its reply (Redis's
//!   `trackingHandlePendingKeyInvalidations`); those produced before the command runs (the
//!   table limit, eviction) go before it. Other clients get theirs through their outbox.
//!
//! The per-client state (flags, redirect id, prefixes) lives on the `ClientHandle`, so the
//! sender can see any client's mode. When nobody tracks, each command pays one branch
//! (`Tracking::active`).

use crate::client::{Client, ClientHandle};
use crate::server::Server;
use cinnabar_commands::table::CommandSpec;
use cinnabar_resp::Args;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// `ClientHandle::tracking` bits (Redis's CLIENT_TRACKING_* flags).
pub const ON: u32 = 1;
pub const BCAST: u32 = 2;
pub const OPTIN: u32 = 4;
pub const OPTOUT: u32 = 8;
pub const CACHING: u32 = 16;
pub const NOLOOP: u32 = 32;
pub const BROKEN_REDIR: u32 = 64;

/// Modified keys → the id of the client that modified each last (0: none).
type ChangedKeys = BTreeMap<Vec<u8>, u64>;

/// One BCAST prefix: the keys modified under it since the last broadcast (with the id of the
/// client that modified each last, 0 for none: expiry, eviction) and the clients subscribed.
#[derive(Default)]
struct Bcast {
    keys: ChangedKeys,
    clients: BTreeSet<u64>,
}

/// The server-wide tracking state.
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on (INFO `tracking_clients`).
    pub clients: usize,
    /// Default mode: key → ids of the clients that may cache it.
    table: HashMap<Vec<u8>, Vec<u64>>,
    /// Ids across the whole table (INFO `tracking_total_items`).
    items: u64,
    /// BCAST mode: prefix → its state.
    prefixes: BTreeMap<Vec<u8>, Bcast>,
    /// The client whose command is running (0: none).
    current: u64,
    /// Inside the running command (its invalidations wait for its reply).
    in_call: bool,
    /// Invalidations for the current client, sent after its reply (`None`: a flush).
    pending: Vec<Option<Vec<u8>>>,
    /// Bytes for the current client to be put in its reply buffer at the next drain.
    now_out: Vec<u8>,
    /// A script's caller with tracking on, and the keys the script declared: a read inside
    /// the script remembers those for the caller.
    script_caller: Option<(u64, Vec<Vec<u8>>)>,
    /// Rounds in a row the table stayed over its limit (the effort grows with it).
    over_limit_rounds: u32,
}

/// What an invalidation carries.
enum Payload<'a> {
    /// One key: `*1 $key`.
    Key(&'a [u8]),
    /// Already encoded (a BCAST array, or a flush's null).
    Raw(&'a [u8]),
}

impl Tracking {
    /// Something to do on a write: a client tracks, or the table still holds keys.
    #[inline]
    pub fn active(&self) -> bool {
        self.clients > 0 || !self.table.is_empty()
    }

    /// `begin` ran for client `id` (its command is being executed).
    #[inline]
    pub fn current_is(&self, id: u64) -> bool {
        self.current == id && id != 0
    }

    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    pub fn total_items(&self) -> u64 {
        self.items
    }

    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }
}

fn null_for(resp3: bool) -> &'static [u8] {
    if resp3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    }
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Hands `bytes` to client `to`: the current client's go with its replies, others' through
/// their outbox.
fn deliver(s: &mut Server, to: &ClientHandle, bytes: &[u8]) {
    if to.id == s.tracking.current {
        s.tracking.now_out.extend_from_slice(bytes);
    } else if !to.killed.get() {
        to.outbox.borrow_mut().extend_from_slice(bytes);
        to.outbox_notify.notify_one();
        crate::client_evict::update_and_check(s, to);
    }
}

/// Sends one invalidation on behalf of tracking client `id` (to it, or to its redirect).
fn send(s: &mut Server, id: u64, payload: Payload) {
    let Some(h) = s.clients.get(&id).cloned() else {
        return;
    };
    let redir = h.tracking_redir.get();
    let mut using_redirect = false;
    let to = if redir != 0 {
        match s.clients.get(&redir).filter(|r| !r.killed.get()).cloned() {
            Some(r) => {
                using_redirect = true;
                r
            }
            None => {
                h.tracking.set(h.tracking.get() | BROKEN_REDIR);
                if h.resp3.get() {
                    let mut m = b">2\r\n$21\r\ntracking-redir-broken\r\n:".to_vec();
                    m.extend_from_slice(redir.to_string().as_bytes());
                    m.extend_from_slice(b"\r\n");
                    deliver(s, &h, &m);
                }
                return;
            }
        }
    } else {
        h
    };
    let mut m = Vec::with_capacity(64);
    if to.resp3.get() {
        m.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if using_redirect && {
        let i = to.info.borrow();
        i.sub + i.psub + i.ssub > 0
    } {
        m.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        // A RESP2 client with no subscribed redirect: nothing can carry the message.
        return;
    }
    match payload {
        Payload::Key(k) => {
            m.extend_from_slice(b"*1\r\n");
            bulk(&mut m, k);
        }
        Payload::Raw(r) => m.extend_from_slice(r),
    }
    deliver(s, &to, &m);
}

/// Turns tracking off for `h` (CLIENT TRACKING off, RESET, disconnect). Its ids in the table
/// are left to be dropped lazily, as Redis does.
pub fn disable(s: &mut Server, h: &ClientHandle) {
    let flags = h.tracking.get();
    if flags & BCAST != 0 {
        for p in h.tracking_prefixes.borrow_mut().drain(..) {
            if let Some(b) = s.tracking.prefixes.get_mut(&p) {
                b.clients.remove(&h.id);
                if b.clients.is_empty() {
                    s.tracking.prefixes.remove(&p);
                }
            }
        }
    }
    if flags & ON != 0 {
        s.tracking.clients = s.tracking.clients.saturating_sub(1);
        h.tracking.set(0);
    }
}

fn prefix_overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(s: &mut Server, c: &mut Client, a: Args) {
    let mut redir: i64 = 0;
    let mut opts = 0u32;
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        let o = a.get(j);
        if o.eq_ignore_ascii_case(b"redirect") && more {
            j += 1;
            if redir != 0 {
                return c
                    .reply
                    .error("ERR A client can only redirect to a single other client");
            }
            let Some(v) = cinnabar_util::num::string2ll(a.get(j)) else {
                return c.reply.error("ERR value is not an integer or out of range");
            };
            redir = v;
            if v <= 0 || !s.clients.contains_key(&(v as u64)) {
                return c
                    .reply
                    .error("ERR The client ID you want redirect to does not exist");
            }
        } else if o.eq_ignore_ascii_case(b"bcast") {
            opts |= BCAST;
        } else if o.eq_ignore_ascii_case(b"optin") {
            opts |= OPTIN;
        } else if o.eq_ignore_ascii_case(b"optout") {
            opts |= OPTOUT;
        } else if o.eq_ignore_ascii_case(b"noloop") {
            opts |= NOLOOP;
        } else if o.eq_ignore_ascii_case(b"prefix") && more {
            j += 1;
            prefixes.push(a.get(j));
        } else {
            return c.reply.error("ERR syntax error");
        }
        j += 1;
    }
    let h = c.handle.clone();
    let mode = a.get(2);
    if mode.eq_ignore_ascii_case(b"on") {
        let cur = h.tracking.get();
        if opts & BCAST == 0 && !prefixes.is_empty() {
            return c
                .reply
                .error("ERR PREFIX option requires BCAST mode to be enabled");
        }
        if cur & ON != 0 && (cur & BCAST != 0) != (opts & BCAST != 0) {
            return c.reply.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if opts & BCAST != 0 && opts & (OPTIN | OPTOUT) != 0 {
            return c
                .reply
                .error("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if opts & OPTIN != 0 && opts & OPTOUT != 0 {
            return c
                .reply
                .error("ERR You can't specify both OPTIN mode and OPTOUT mode");
        }
        if (opts & OPTIN != 0 && cur & OPTOUT != 0) || (opts & OPTOUT != 0 && cur & OPTIN != 0) {
            return c.reply.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if opts & BCAST != 0 {
            let mine = h.tracking_prefixes.borrow();
            for (i, p) in prefixes.iter().enumerate() {
                if let Some(old) = mine.iter().find(|old| prefix_overlap(old, p)) {
                    let mut m = b"ERR Prefix '".to_vec();
                    m.extend_from_slice(cstr(p));
                    m.extend_from_slice(b"' overlaps with an existing prefix '");
                    m.extend_from_slice(cstr(old));
                    m.extend_from_slice(b"'. Prefixes for a single client must not overlap.");
                    drop(mine);
                    return c.reply.error_bytes(&m);
                }
                if let Some(q) = prefixes[i + 1..].iter().find(|q| prefix_overlap(p, q)) {
                    let mut m = b"ERR Prefix '".to_vec();
                    m.extend_from_slice(cstr(p));
                    m.extend_from_slice(b"' overlaps with another provided prefix '");
                    m.extend_from_slice(cstr(q));
                    m.extend_from_slice(b"'. Prefixes for a single client must not overlap.");
                    drop(mine);
                    return c.reply.error_bytes(&m);
                }
            }
        }
        if cur & ON == 0 {
            s.tracking.clients += 1;
        }
        let keep = cur & CACHING;
        h.tracking
            .set(ON | keep | (opts & (BCAST | OPTIN | OPTOUT | NOLOOP)));
        h.tracking_redir.set(redir as u64);
        if opts & BCAST != 0 {
            let empty: [&[u8]; 1] = [b""];
            let list: &[&[u8]] = if prefixes.is_empty() {
                &empty
            } else {
                &prefixes
            };
            let mut mine = h.tracking_prefixes.borrow_mut();
            for p in list {
                let b = s.tracking.prefixes.entry(p.to_vec()).or_default();
                if b.clients.insert(h.id) && !mine.iter().any(|x| x == p) {
                    mine.push(p.to_vec());
                }
            }
            mine.sort();
        }
    } else if mode.eq_ignore_ascii_case(b"off") {
        disable(s, &h);
    } else {
        return c.reply.error("ERR syntax error");
    }
    c.reply.ok();
}

/// A prefix as C's `%s` prints it (up to a NUL).
fn cstr(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    &b[..end]
}

/// CLIENT CACHING YES|NO
pub fn client_caching(c: &mut Client, a: Args) {
    let h = &c.handle;
    let f = h.tracking.get();
    if f & ON == 0 {
        return c.reply.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    }
    let o = a.get(2);
    if o.eq_ignore_ascii_case(b"yes") {
        if f & OPTIN == 0 {
            return c.reply.error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if o.eq_ignore_ascii_case(b"no") {
        if f & OPTOUT == 0 {
            return c.reply.error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return c.reply.error("ERR syntax error");
    }
    h.tracking.set(f | CACHING);
    c.reply.ok();
}

/// CLIENT GETREDIR
pub fn client_getredir(c: &mut Client) {
    let h = &c.handle;
    let v = if h.tracking.get() & ON != 0 {
        h.tracking_redir.get() as i64
    } else {
        -1
    };
    c.reply.int(v);
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(c: &mut Client) {
    let h = c.handle.clone();
    let f = h.tracking.get();
    let mut flags: Vec<&[u8]> = vec![if f & ON != 0 { b"on" } else { b"off" }];
    if f & BCAST != 0 {
        flags.push(b"bcast");
    }
    if f & OPTIN != 0 {
        flags.push(b"optin");
        if f & CACHING != 0 {
            flags.push(b"caching-yes");
        }
    }
    if f & OPTOUT != 0 {
        flags.push(b"optout");
        if f & CACHING != 0 {
            flags.push(b"caching-no");
        }
    }
    if f & NOLOOP != 0 {
        flags.push(b"noloop");
    }
    if f & BROKEN_REDIR != 0 {
        flags.push(b"broken_redirect");
    }
    let r = &mut c.reply;
    r.map(3);
    r.bulk(b"flags");
    r.set(flags.len());
    for x in flags {
        r.bulk(x);
    }
    r.bulk(b"redirect");
    r.int(if f & ON != 0 {
        h.tracking_redir.get() as i64
    } else {
        -1
    });
    r.bulk(b"prefixes");
    let p = h.tracking_prefixes.borrow();
    r.array(p.len());
    for x in p.iter() {
        r.bulk(x);
    }
}

/// CLIENT LIST's tracking flags (`t`, `R`, `B`) and `redir=` value.
pub fn list_flags(h: &ClientHandle, flags: &mut String) {
    let f = h.tracking.get();
    if f & ON != 0 {
        flags.push('t');
    }
    if f & BROKEN_REDIR != 0 {
        flags.push('R');
    }
    if f & BCAST != 0 {
        flags.push('B');
    }
}

pub fn list_redir(h: &ClientHandle) -> i64 {
    if h.tracking.get() & ON != 0 {
        h.tracking_redir.get() as i64
    } else {
        -1
    }
}

/// Before a client's command (only while `active`): it becomes the current client, and the
/// table is brought back under `tracking-table-max-keys` (those invalidations precede the
/// reply, as Redis).
pub fn begin(s: &mut Server, c: &mut Client) {
    s.tracking.current = c.handle.id;
    s.tracking.in_call = false;
    c.handle.resp3.set(c.reply.resp3);
    if s.tracking.clients > 0 {
        limit_used_slots(s);
    }
    drain_now(s, c);
}

/// Puts what waits for the current client into its reply buffer.
#[inline]
pub fn drain_now(s: &mut Server, c: &mut Client) {
    if !s.tracking.now_out.is_empty() {
        c.reply.out.extend_from_slice(&s.tracking.now_out);
        s.tracking.now_out.clear();
    }
}

/// The command is about to run / has run (its own invalidations wait for the reply).
pub fn set_in_call(s: &mut Server, on: bool) {
    s.tracking.in_call = on;
}

/// Sends the current client's pending invalidations; the bytes meant for it are returned.
fn flush_pending(s: &mut Server) -> Vec<u8> {
    s.tracking.in_call = false;
    let cur = s.tracking.current;
    let pending = std::mem::take(&mut s.tracking.pending);
    for k in pending {
        match k {
            Some(key) => send(s, cur, Payload::Key(&key)),
            None => {
                let resp3 = s.clients.get(&cur).is_some_and(|h| h.resp3.get());
                send(s, cur, Payload::Raw(null_for(resp3)));
            }
        }
    }
    std::mem::take(&mut s.tracking.now_out)
}

/// After a client's command (`begin` ran): its pending invalidations after its reply, then
/// the BCAST broadcast; the CACHING flag lasts one command (or one transaction).
pub fn end(s: &mut Server, c: &mut Client, was_client_cmd: bool) {
    let out = flush_pending(s);
    c.reply.out.extend_from_slice(&out);
    broadcast(s);
    drain_now(s, c);
    s.tracking.current = 0;
    let f = c.handle.tracking.get();
    if f & CACHING != 0 && c.multi.is_none() && !was_client_cmd {
        c.handle.tracking.set(f & !CACHING);
    }
}

/// A command was not run (paused): no current client any more.
pub fn abandon(s: &mut Server) {
    s.tracking.current = 0;
    s.tracking.in_call = false;
}

/// Serving a blocked client `id` (its command re-runs outside its connection task): its
/// invalidations are appended to its reply. Returns the previous current client.
pub fn serve_begin(s: &mut Server, id: u64) -> (u64, bool) {
    let prev = (s.tracking.current, s.tracking.in_call);
    s.tracking.current = id;
    s.tracking.in_call = true;
    prev
}

/// The end of a served blocked client's command: the bytes to append to its reply.
pub fn serve_end(s: &mut Server, prev: (u64, bool)) -> Vec<u8> {
    let out = flush_pending(s);
    s.tracking.current = prev.0;
    s.tracking.in_call = prev.1;
    out
}

/// Key `key` changed (or is dropped from the table when `bcast` is false): every client that
/// may cache it is told once and forgotten; BCAST prefixes collect it. `by` is the client that
/// changed it (0: expiry, eviction).
pub fn invalidate_key(s: &mut Server, by: u64, key: &[u8], bcast: bool) {
    if bcast && !s.tracking.prefixes.is_empty() {
        for (p, b) in s.tracking.prefixes.iter_mut() {
            if key.starts_with(p) {
                b.keys.insert(key.to_vec(), by);
            }
        }
    }
    let Some(ids) = s.tracking.table.remove(key) else {
        return;
    };
    s.tracking.items = s.tracking.items.saturating_sub(ids.len() as u64);
    let cur = s.tracking.current;
    for id in ids {
        let Some(f) = s.clients.get(&id).map(|h| h.tracking.get()) else {
            continue;
        };
        if f & ON == 0 || f & BCAST != 0 {
            continue;
        }
        if f & NOLOOP != 0 && id == cur {
            continue;
        }
        if id == cur && s.tracking.in_call {
            s.tracking.pending.push(Some(key.to_vec()));
        } else {
            send(s, id, Payload::Key(key));
        }
    }
}

/// FLUSHDB, FLUSHALL: every tracking client is told "everything" (a null) and the
/// table is emptied.
pub fn invalidate_all(s: &mut Server) {
    if s.tracking.clients > 0 {
        let ids: Vec<(u64, bool)> = s
            .clients
            .values()
            .filter(|h| h.tracking.get() & ON != 0)
            .map(|h| (h.id, h.resp3.get()))
            .collect();
        for (id, resp3) in ids {
            if id == s.tracking.current {
                s.tracking.pending.push(None);
            } else {
                send(s, id, Payload::Raw(null_for(resp3)));
            }
        }
    }
    s.tracking.table = HashMap::new();
    s.tracking.items = 0;
}

/// After a command that changed something: invalidates the keys it wrote (FLUSHDB and
/// FLUSHALL invalidate everything, even when nothing was there).
pub fn after_write(s: &mut Server, by: u64, cmd: &CommandSpec, args: Args, dirty: u64) {
    match cmd.fullname.as_str() {
        "flushdb" | "flushall" => return invalidate_all(s),
        // Redis 7.0 does not invalidate on SWAPDB (keys are not per database here).
        "swapdb" => return,
        _ => {}
    }
    if dirty == 0 {
        return;
    }
    let all: Vec<&[u8]> = args.iter().collect();
    if let Ok(keys) = cmd.keys_with_flags(&all) {
        for (pos, kf) in keys {
            // Keys the command only reads did not change.
            if kf.starts_with("RO") {
                continue;
            }
            if let Some(k) = all.get(pos) {
                invalidate_key(s, by, k, true);
            }
        }
    }
}

/// Before a script runs for a tracking client: a read inside it remembers the script's
/// declared keys for that client. Returns what to restore afterwards.
pub fn script_begin(
    s: &mut Server,
    c: &Client,
    cmd: &CommandSpec,
    args: Args,
) -> Option<(u64, Vec<Vec<u8>>)> {
    let f = c.handle.tracking.get();
    let next = if f & ON != 0 && f & BCAST == 0 {
        let all: Vec<&[u8]> = args.iter().collect();
        let keys = cmd
            .keys_with_flags(&all)
            .map(|v| {
                v.into_iter()
                    .filter_map(|(p, _)| all.get(p).map(|k| k.to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Some((c.handle.id, keys))
    } else {
        None
    };
    std::mem::replace(&mut s.tracking.script_caller, next)
}

pub fn script_end(s: &mut Server, prev: Option<(u64, Vec<Vec<u8>>)>) {
    s.tracking.script_caller = prev;
}

/// After a read-only command (only while some client tracks): its keys are remembered for
/// the client (or, inside a script, the script's declared keys for the script's caller).
pub fn after_read(s: &mut Server, c: &Client, cmd: &CommandSpec, args: Args) {
    if matches!(cmd.fullname.as_str(), "eval_ro" | "evalsha_ro" | "fcall_ro")
        || cmd.has(cinnabar_commands::table::flag::PUBSUB)
    {
        return;
    }
    if let Some((caller, keys)) = s.tracking.script_caller.as_ref() {
        if *caller != c.handle.id {
            let caller = *caller;
            let Some(h) = s.clients.get(&caller) else {
                return;
            };
            if !wants_keys(h.tracking.get()) {
                return;
            }
            let keys = keys.clone();
            for k in &keys {
                remember(s, caller, k);
            }
            return;
        }
    }
    if !wants_keys(c.handle.tracking.get()) {
        return;
    }
    let all: Vec<&[u8]> = args.iter().collect();
    let Ok(keys) = cmd.keys_with_flags(&all) else {
        return;
    };
    for (pos, _) in keys {
        if let Some(k) = all.get(pos) {
            remember(s, c.handle.id, k);
        }
    }
}

/// Default mode, and OPTIN with CACHING yes / OPTOUT without CACHING no.
fn wants_keys(f: u32) -> bool {
    if f & ON == 0 || f & BCAST != 0 {
        return false;
    }
    let caching = f & CACHING != 0;
    !((f & OPTIN != 0 && !caching) || (f & OPTOUT != 0 && caching))
}

fn remember(s: &mut Server, id: u64, key: &[u8]) {
    let t = &mut s.tracking;
    match t.table.get_mut(key) {
        Some(ids) => {
            if !ids.contains(&id) {
                ids.push(id);
                t.items += 1;
            }
        }
        None => {
            t.table.insert(key.to_vec(), vec![id]);
            t.items += 1;
        }
    }
}

/// `tracking-table-max-keys`: over the limit, keys are dropped (with an invalidation, as if
/// they had changed) — 100 per round, more each round the table stays over.
pub fn limit_used_slots(s: &mut Server) {
    let max = s.cfg.get_i64("tracking-table-max-keys").unwrap_or(0);
    if max <= 0 || s.tracking.table.is_empty() {
        return;
    }
    let max = max as usize;
    if s.tracking.table.len() <= max {
        s.tracking.over_limit_rounds = 0;
        return;
    }
    let mut effort = 100 * (s.tracking.over_limit_rounds as usize + 1);
    while effort > 0 {
        effort -= 1;
        let Some(k) = s.tracking.table.keys().next().cloned() else {
            break;
        };
        invalidate_key(s, 0, &k, false);
        if s.tracking.table.len() <= max {
            s.tracking.over_limit_rounds = 0;
            return;
        }
    }
    s.tracking.over_limit_rounds += 1;
}

/// Sends each BCAST prefix's collected keys to its clients (a NOLOOP client without the keys
/// it changed itself), then forgets them.
pub fn broadcast(s: &mut Server) {
    if s.tracking.prefixes.is_empty() || s.tracking.clients == 0 {
        return;
    }
    let mut work: Vec<(ChangedKeys, Vec<u64>)> = Vec::new();
    for b in s.tracking.prefixes.values_mut() {
        if !b.keys.is_empty() {
            work.push((
                std::mem::take(&mut b.keys),
                b.clients.iter().copied().collect(),
            ));
        }
    }
    for (keys, clients) in work {
        let all = encode_keys(&keys, None);
        for id in clients {
            let noloop = s
                .clients
                .get(&id)
                .is_some_and(|h| h.tracking.get() & NOLOOP != 0);
            if noloop {
                if let Some(m) = encode_keys(&keys, Some(id)) {
                    send(s, id, Payload::Raw(&m));
                }
            } else if let Some(m) = all.as_ref() {
                send(s, id, Payload::Raw(m));
            }
        }
    }
}

/// The array of `keys`, without those last changed by `skip` (None when that leaves none).
fn encode_keys(keys: &ChangedKeys, skip: Option<u64>) -> Option<Vec<u8>> {
    let n = keys.values().filter(|by| Some(**by) != skip).count();
    if n == 0 {
        return None;
    }
    let mut m = format!("*{n}\r\n").into_bytes();
    for (k, by) in keys {
        if Some(*by) != skip {
            bulk(&mut m, k);
        }
    }
    Some(m)
}

/// The cron's part: the table limit (also enforced while idle) and the broadcast of keys
/// expired or evicted by the cron.
pub fn cron(s: &mut Server) {
    if s.tracking.clients > 0 {
        limit_used_slots(s);
        broadcast(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_when_one_starts_the_other() {
        assert!(prefix_overlap(b"FOO", b"FOOBAR"));
        assert!(prefix_overlap(b"FOOBAR", b"FOO"));
        assert!(prefix_overlap(b"", b"X"));
        assert!(!prefix_overlap(b"FOO", b"BAR"));
    }

    #[test]
    fn keys_array_skips_the_noloop_clients_own_keys() {
        let mut k = BTreeMap::new();
        k.insert(b"a".to_vec(), 7);
        k.insert(b"b".to_vec(), 0);
        assert_eq!(
            encode_keys(&k, None).unwrap(),
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n".to_vec()
        );
        assert_eq!(
            encode_keys(&k, Some(7)).unwrap(),
            b"*1\r\n$1\r\nb\r\n".to_vec()
        );
        k.remove(b"b".as_slice());
        assert!(encode_keys(&k, Some(7)).is_none());
    }

    #[test]
    fn caching_rules() {
        assert!(wants_keys(ON));
        assert!(!wants_keys(ON | BCAST));
        assert!(!wants_keys(ON | OPTIN));
        assert!(wants_keys(ON | OPTIN | CACHING));
        assert!(wants_keys(ON | OPTOUT));
        assert!(!wants_keys(ON | OPTOUT | CACHING));
        assert!(!wants_keys(0));
    }
}
