//! Pub/Sub: SUBSCRIBE/UNSUBSCRIBE, PSUBSCRIBE/PUNSUBSCRIBE, PUBLISH and PUBSUB introspection.
//! The server keeps channel → subscribers and pattern → subscribers; PUBLISH appends the
//! message to each subscriber's `outbox` (on its `ClientHandle`) and wakes its connection
//! task, which writes it out in order with its own replies. A message to the publishing client
//! itself (RESP3 allows publishing while subscribed) goes straight into its reply buffer.

use crate::client::Client;
use crate::server::Server;
use cinnabar_resp::{Args, ReplyBuf};
use cinnabar_util::glob::glob_match;

/// The subscriptions of the whole server.
#[derive(Default)]
pub struct PubSub {
    /// channel → subscribed client ids, in subscription order.
    pub channels: Subscribers,
    /// pattern → subscribed client ids; patterns in first-subscription order.
    pub patterns: Vec<(Vec<u8>, Vec<u64>)>,
    /// shard channel → subscribed client ids (SSUBSCRIBE; one shard here, no cluster).
    pub shard_channels: Subscribers,
}

/// Commands a RESP2 client may run while subscribed.
pub fn allowed_when_subscribed(fullname: &str) -> bool {
    matches!(
        fullname,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

fn count(c: &Client) -> i64 {
    (c.subs.len() + c.psubs.len()) as i64
}

fn ack(r: &mut ReplyBuf, kind: &str, name: Option<&[u8]>, n: i64) {
    r.push(3);
    r.bulk(kind.as_bytes());
    match name {
        Some(x) => r.bulk(x),
        None => r.null(),
    }
    r.int(n);
}

fn refresh(c: &Client) {
    let mut i = c.handle.info.borrow_mut();
    i.sub = c.subs.len();
    i.psub = c.psubs.len();
    i.ssub = c.ssubs.len();
}

type Subscribers = std::collections::HashMap<Vec<u8>, Vec<u64>>;

/// Subscribes client `id` (whose list is `mine`) to channel `ch` of `map`, once.
fn join(map: &mut Subscribers, mine: &mut Vec<Vec<u8>>, ch: &[u8], id: u64) {
    if !mine.iter().any(|x| x == ch) {
        mine.push(ch.to_vec());
        map.entry(ch.to_vec()).or_default().push(id);
    }
}

/// Unsubscribes client `id` from channel `ch` of `map` (a channel left without subscribers
/// goes away).
fn leave(map: &mut Subscribers, mine: &mut Vec<Vec<u8>>, ch: &[u8], id: u64) {
    if let Some(i) = mine.iter().position(|x| x == ch) {
        mine.remove(i);
        if let Some(v) = map.get_mut(ch) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                map.remove(ch);
            }
        }
    }
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(s: &mut Server, c: &mut Client, a: Args) {
    let id = c.handle.id;
    for ch in a.tail(1).iter() {
        join(&mut s.pubsub.channels, &mut c.subs, ch, id);
        let n = count(c);
        ack(&mut c.reply, "subscribe", Some(ch), n);
    }
    refresh(c);
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(s: &mut Server, c: &mut Client, a: Args) {
    for p in a.tail(1).iter() {
        if !c.psubs.iter().any(|x| x == p) {
            c.psubs.push(p.to_vec());
            match s.pubsub.patterns.iter_mut().find(|(x, _)| x == p) {
                Some((_, ids)) => ids.push(c.handle.id),
                None => s.pubsub.patterns.push((p.to_vec(), vec![c.handle.id])),
            }
        }
        let n = count(c);
        ack(&mut c.reply, "psubscribe", Some(p), n);
    }
    refresh(c);
}

fn drop_pattern(s: &mut Server, id: u64, p: &[u8]) {
    if let Some(i) = s.pubsub.patterns.iter().position(|(x, _)| x == p) {
        s.pubsub.patterns[i].1.retain(|x| *x != id);
        if s.pubsub.patterns[i].1.is_empty() {
            s.pubsub.patterns.remove(i);
        }
    }
}

/// UNSUBSCRIBE [channel ...] (no channel: all of them); `notify` false for RESET/disconnect.
pub fn unsubscribe(s: &mut Server, c: &mut Client, a: Args, notify: bool) {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.tail(1).iter().map(|x| x.to_vec()).collect()
    } else {
        c.subs.clone()
    };
    if names.is_empty() && notify {
        let n = count(c);
        ack(&mut c.reply, "unsubscribe", None, n);
    }
    let id = c.handle.id;
    for ch in names {
        leave(&mut s.pubsub.channels, &mut c.subs, &ch, id);
        if notify {
            let n = count(c);
            ack(&mut c.reply, "unsubscribe", Some(&ch), n);
        }
    }
    refresh(c);
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(s: &mut Server, c: &mut Client, a: Args, notify: bool) {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.tail(1).iter().map(|x| x.to_vec()).collect()
    } else {
        c.psubs.clone()
    };
    if names.is_empty() && notify {
        let n = count(c);
        ack(&mut c.reply, "punsubscribe", None, n);
    }
    for p in names {
        if let Some(i) = c.psubs.iter().position(|x| *x == p) {
            c.psubs.remove(i);
            drop_pattern(s, c.handle.id, &p);
        }
        if notify {
            let n = count(c);
            ack(&mut c.reply, "punsubscribe", Some(&p), n);
        }
    }
    refresh(c);
}

/// SSUBSCRIBE shardchannel [shardchannel ...]: the count in each reply is the client's
/// number of shard channels only, as Redis.
pub fn ssubscribe(s: &mut Server, c: &mut Client, a: Args) {
    let id = c.handle.id;
    for ch in a.tail(1).iter() {
        join(&mut s.pubsub.shard_channels, &mut c.ssubs, ch, id);
        let n = c.ssubs.len() as i64;
        ack(&mut c.reply, "ssubscribe", Some(ch), n);
    }
    refresh(c);
}

/// SUNSUBSCRIBE [shardchannel ...] (none: all of them; the most recent first).
pub fn sunsubscribe(s: &mut Server, c: &mut Client, a: Args, notify: bool) {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.tail(1).iter().map(|x| x.to_vec()).collect()
    } else {
        c.ssubs.iter().rev().cloned().collect()
    };
    if names.is_empty() && notify {
        ack(&mut c.reply, "sunsubscribe", None, 0);
    }
    let id = c.handle.id;
    for ch in names {
        leave(&mut s.pubsub.shard_channels, &mut c.ssubs, &ch, id);
        if notify {
            let n = c.ssubs.len() as i64;
            ack(&mut c.reply, "sunsubscribe", Some(&ch), n);
        }
    }
    refresh(c);
}

/// SPUBLISH shardchannel message: to the shard channel's subscribers (`smessage`).
pub fn spublish(s: &mut Server, c: &mut Client, a: Args) {
    let (channel, msg) = (a.get(1), a.get(2));
    let mut n = 0;
    if let Some(ids) = s.pubsub.shard_channels.get(channel).cloned() {
        let parts: [&[u8]; 3] = [b"smessage", channel, msg];
        let mut m = Outgoing::new(s, &parts);
        for id in ids {
            deliver(s, c, id, &mut m);
            n += 1;
        }
    }
    propagate(s, c, a);
    c.reply.int(n);
}

/// PUBLISH and SPUBLISH reach the replicas (which deliver to their own subscribers), as in
/// Redis. Our one stream also takes them into the AOF, where replaying them is harmless. A
/// replica's own clients' messages are not propagated (its stream and offset are its master's
/// alone: Sentinels publish their hellos to replicas too).
fn propagate(s: &mut Server, c: &Client, a: Args) {
    if s.prop.enabled && !s.applying_master && s.master.is_none() {
        s.prop.add_args(c.db, a.iter());
    }
}

/// Drops every subscription of `c` (RESET, disconnect).
pub fn drop_all(s: &mut Server, c: &mut Client) {
    if !c.subscribed() {
        return;
    }
    let empty: [(usize, usize); 1] = [(0, 0)];
    let none = Args::new(b"", &empty[..1]);
    unsubscribe(s, c, none, false);
    punsubscribe(s, c, none, false);
    sunsubscribe(s, c, none, false);
}

/// One message to deliver, encoded at most once per protocol.
struct Outgoing<'m> {
    parts: &'m [&'m [u8]],
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
    /// `client-output-buffer-limit pubsub` and the time, read once per publish.
    limit: cinnabar_config::ObufLimit,
    now_s: i64,
}

impl<'m> Outgoing<'m> {
    fn new(s: &Server, parts: &'m [&'m [u8]]) -> Self {
        Outgoing {
            parts,
            resp2: None,
            resp3: None,
            limit: s.settings.obuf_limits[cinnabar_config::ClientClass::Pubsub as usize],
            now_s: crate::server::now_ms() / 1000,
        }
    }

    fn encode_into(&self, r: &mut ReplyBuf) {
        r.push(self.parts.len());
        for p in self.parts {
            r.bulk(p);
        }
    }

    fn bytes(&mut self, resp3: bool) -> &[u8] {
        let parts = self.parts;
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| {
            let mut r = ReplyBuf::new();
            r.resp3 = resp3;
            r.push(parts.len());
            for p in parts {
                r.bulk(p);
            }
            r.out
        })
    }
}

fn deliver(s: &mut Server, c: &mut Client, id: u64, m: &mut Outgoing) {
    if id == c.handle.id {
        m.encode_into(&mut c.reply);
        return;
    }
    let Some(h) = s.clients.get(&id) else {
        return;
    };
    if h.killed.get() {
        return;
    }
    let bytes = m.bytes(h.resp3.get());
    // What waits for this subscriber: the messages queued plus what its task is writing.
    let pending = {
        let mut ob = h.outbox.borrow_mut();
        ob.extend_from_slice(bytes);
        (ob.len() + h.info.borrow().omem) as u64
    };
    // `client-output-buffer-limit pubsub` (Redis's default 32mb 8mb 60): a subscriber that
    // does not read is disconnected rather than growing without bound or slowing the
    // publisher (which only ever appends here).
    if h.obuf_limit_reached(m.limit, pending, m.now_s) {
        h.log_obuf_close();
        h.outbox.borrow_mut().clear();
        h.kill();
        s.stats.client_obuf_limit_disconnections += 1;
        return;
    }
    h.outbox_notify.notify_one();
    let h = h.clone();
    crate::client_evict::update_and_check(s, &h);
}

/// Sends `msg` on `channel` to its subscribers and matching pattern subscribers; returns how
/// many received it.
pub fn publish_message(s: &mut Server, c: &mut Client, channel: &[u8], msg: &[u8]) -> i64 {
    let mut n = 0;
    if let Some(ids) = s.pubsub.channels.get(channel).cloned() {
        let parts: [&[u8]; 3] = [b"message", channel, msg];
        let mut m = Outgoing::new(s, &parts);
        for id in ids {
            deliver(s, c, id, &mut m);
            n += 1;
        }
    }
    if s.pubsub.patterns.is_empty() {
        return n;
    }
    let pats: Vec<(Vec<u8>, Vec<u64>)> = s
        .pubsub
        .patterns
        .iter()
        .filter(|(p, _)| glob_match(p, channel, false))
        .cloned()
        .collect();
    for (p, ids) in pats {
        let parts: [&[u8]; 4] = [b"pmessage", &p, channel, msg];
        let mut m = Outgoing::new(s, &parts);
        for id in ids {
            deliver(s, c, id, &mut m);
            n += 1;
        }
    }
    n
}

/// PUBLISH channel message
pub fn publish(s: &mut Server, c: &mut Client, a: Args) {
    let n = publish_message(s, c, a.get(1), a.get(2));
    propagate(s, c, a);
    c.reply.int(n);
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP
pub fn pubsub(s: &mut Server, c: &mut Client, a: Args, sub: &str) {
    match sub {
        "pubsub|channels" => {
            if a.len() > 3 {
                let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                m.extend_from_slice(a.get(1));
                m.extend_from_slice(b"'. Try PUBSUB HELP.");
                return c.reply.error_bytes(&m);
            }
            let pat = (a.len() == 3).then(|| a.get(2));
            let names: Vec<&Vec<u8>> = s
                .pubsub
                .channels
                .keys()
                .filter(|ch| pat.is_none_or(|p| glob_match(p, ch, false)))
                .collect();
            c.reply.array(names.len());
            for n in names {
                c.reply.bulk(n);
            }
        }
        "pubsub|numsub" => {
            c.reply.array(2 * (a.len() - 2));
            for ch in a.tail(2).iter() {
                c.reply.bulk(ch);
                let n = s.pubsub.channels.get(ch).map_or(0, |v| v.len());
                c.reply.int(n as i64);
            }
        }
        "pubsub|numpat" => c.reply.int(s.pubsub.patterns.len() as i64),
        "pubsub|shardchannels" => {
            if a.len() > 3 {
                let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                m.extend_from_slice(a.get(1));
                m.extend_from_slice(b"'. Try PUBSUB HELP.");
                return c.reply.error_bytes(&m);
            }
            let pat = (a.len() >= 3).then(|| a.get(2));
            let names: Vec<&Vec<u8>> = s
                .pubsub
                .shard_channels
                .keys()
                .filter(|ch| pat.is_none_or(|p| glob_match(p, ch, false)))
                .collect();
            c.reply.array(names.len());
            for n in names {
                c.reply.bulk(n);
            }
        }
        "pubsub|shardnumsub" => {
            c.reply.array(2 * (a.len() - 2));
            for ch in a.tail(2).iter() {
                c.reply.bulk(ch);
                let n = s.pubsub.shard_channels.get(ch).map_or(0, |v| v.len());
                c.reply.int(n as i64);
            }
        }
        _ => crate::cmds::help_reply(
            c,
            "PUBSUB",
            &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ],
        ),
    }
}
