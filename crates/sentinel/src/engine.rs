//! The Sentinel engine: one task owning all state. It receives link events (replies from
//! instances), client commands (see `commands.rs`) and a timer tick (10-19 times a second, as
//! Redis desynchronises Sentinels), and runs Redis's algorithm: reconnecting links, periodic
//! PING / INFO / hello, INFO parsing (replica discovery, role changes), hello processing
//! (Sentinel discovery, epochs, config updates from peers), SDOWN, ODOWN through
//! IS-MASTER-DOWN-BY-ADDR, leader election with one vote per epoch, and the failover state
//! machine. Events go to the log, to subscribed clients and to the notification script.

use crate::config;
use crate::link::{self, LinkEvent, LinkEventKind, Reply, Tag};
use crate::log::{self, Level};
use crate::scripts::Scripts;
use crate::state::*;
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Bytes for a client task to write, or an order to close.
pub enum Out {
    Data(Vec<u8>),
    Close,
}

/// A client connected to this Sentinel.
pub struct Client {
    pub id: u64,
    pub out: mpsc::UnboundedSender<Out>,
    pub addr: String,
    pub laddr: String,
    pub name: String,
    pub authed: bool,
    /// The user it is authenticated as.
    pub user: String,
    pub resp: u8,
    pub channels: Vec<Vec<u8>>,
    pub patterns: Vec<Vec<u8>>,
    pub created: i64,
    /// Bytes sent to the client task and not yet written (shared with it).
    pub queued: std::rc::Rc<std::cell::Cell<usize>>,
    pub last_cmd: String,
    pub last_interaction: i64,
}

/// Bytes a client may have queued and not yet written before it is dropped (Redis's hard
/// limit for pub/sub clients).
pub const MAX_QUEUED_OUTPUT: usize = 32 << 20;

impl Client {
    /// Queues bytes for the client; closes it instead when it lags too far behind.
    pub fn deliver(&self, b: Vec<u8>) {
        let q = self.queued.get();
        if q + b.len() > MAX_QUEUED_OUTPUT {
            let _ = self.out.send(Out::Close);
            return;
        }
        self.queued.set(q + b.len());
        let _ = self.out.send(Out::Data(b));
    }

    pub fn subs(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Requests from client tasks.
pub enum ClientMsg {
    Connect(Client),
    Command(u64, Vec<Vec<u8>>),
    Gone(u64),
}

/// Process-wide settings the engine needs (from the non-sentinel part of the config).
pub struct ServerInfo {
    pub port: u16,
    pub config_file: PathBuf,
    pub requirepass: Option<String>,
    pub run_id: String,
    pub start_time: i64,
    pub executable: String,
    pub maxclients: i64,
    pub hz: i64,
}

pub struct Engine {
    pub s: Sentinel,
    pub srv: ServerInfo,
    pub clients: HashMap<u64, Client>,
    pub ev_tx: mpsc::UnboundedSender<LinkEvent>,
    pub rng: u64,
    pub gen: u64,
    pub scripts: Scripts,
    pub stats_conns: u64,
    pub stats_cmds: u64,
    pub shutdown: bool,
    pub users: Vec<crate::acl::User>,
    /// Close the current client once its reply is queued (CLIENT KILL of itself).
    pub close_after_reply: bool,
}

impl Engine {
    pub fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Rewrites the config file; logs on failure.
    pub fn flush_config(&mut self) -> bool {
        match config::flush(&self.srv.config_file, &self.s) {
            Ok(()) => {
                log::log(Level::Notice, "Sentinel new configuration saved on disk");
                true
            }
            Err(e) => {
                log::log(
                    Level::Warning,
                    &format!(
                        "WARNING: Sentinel was not able to save the new configuration on disk!!!: {}",
                        e
                    ),
                );
                false
            }
        }
    }

    /// "<type> <name> <ip> <port>[ @ <master> <ip> <port>]" for events.
    pub fn at(&self, l: Loc) -> String {
        let ri = self.s.inst(l);
        let mut msg = format!(
            "{} {} {} {}",
            ri.type_str(),
            ri.name,
            self.s.announce(&ri.addr),
            ri.addr.port
        );
        if l.kind != Kind::Master {
            let m = &self.s.masters[l.m].inst;
            msg.push_str(&format!(
                " @ {} {} {}",
                m.name,
                self.s.announce(&m.addr),
                m.addr.port
            ));
        }
        msg
    }

    /// An event about an instance: "%@" followed by `rest`.
    pub fn event_at(&mut self, level: Level, typ: &str, l: Loc, rest: &str) {
        let msg = format!("{}{}", self.at(l), rest);
        self.event(level, typ, Some(l.m), &msg);
    }

    /// An event: logged, published on channel `typ`, and given to the master's notification
    /// script when it is a warning about an instance.
    pub fn event(&mut self, level: Level, typ: &str, master: Option<usize>, msg: &str) {
        log::log(level, &format!("{} {}", typ, msg));
        if level != Level::Debug {
            self.publish(typ.as_bytes(), msg.as_bytes());
        }
        if level == Level::Warning {
            if let Some(m) = master {
                if let Some(script) = self
                    .s
                    .masters
                    .get(m)
                    .and_then(|m| m.notification_script.clone())
                {
                    self.scripts
                        .schedule(script, vec![typ.to_string(), msg.to_string()]);
                }
            }
        }
    }

    /// Publishes to subscribed clients; returns the number of receivers.
    pub fn publish(&mut self, channel: &[u8], msg: &[u8]) -> i64 {
        let mut n = 0;
        for c in self.clients.values() {
            if c.channels.iter().any(|ch| ch == channel) {
                let mut b = Vec::new();
                push_header(&mut b, c.resp, 3);
                bulk(&mut b, b"message");
                bulk(&mut b, channel);
                bulk(&mut b, msg);
                c.deliver(b);
                n += 1;
            }
            for p in &c.patterns {
                if cinnabar_config::glob::stringmatch(p, channel, false) {
                    let mut b = Vec::new();
                    push_header(&mut b, c.resp, 4);
                    bulk(&mut b, b"pmessage");
                    bulk(&mut b, p);
                    bulk(&mut b, channel);
                    bulk(&mut b, msg);
                    c.deliver(b);
                    n += 1;
                }
            }
        }
        n
    }

    // ------------------------------------------------------------------ links

    fn spawn_half(&mut self, l: Loc, pubsub: bool) -> Half {
        self.gen += 1;
        let gen = self.gen;
        let (tx, rx) = mpsc::unbounded_channel();
        let ri = self.s.inst(l);
        let host = if ri.addr.ip.is_empty() {
            ri.addr.hostname.clone()
        } else {
            ri.addr.ip.clone()
        };
        tokio::task::spawn_local(link::run_link(
            host,
            ri.addr.port,
            ri.id,
            gen,
            pubsub,
            rx,
            self.ev_tx.clone(),
        ));
        Half {
            tx,
            gen,
            conn_time: mstime(),
            local_ip: None,
        }
    }

    /// Queues a command on the command link; false when there is none.
    pub fn send(&mut self, l: Loc, args: &[&str], tag: Tag) -> bool {
        let name = self.s.masters[l.m].map_command(args[0]).to_string();
        let mut v: Vec<&[u8]> = vec![name.as_bytes()];
        v.extend(args[1..].iter().map(|a| a.as_bytes()));
        let bytes = link::encode(&v);
        let ri = self.s.inst_mut(l);
        match &ri.link.cc {
            Some(h) if h.tx.send((bytes, tag)).is_ok() => {
                ri.link.pending += 1;
                true
            }
            _ => false,
        }
    }

    fn send_pc(&mut self, l: Loc, args: &[&str], tag: Tag) -> bool {
        let name = self.s.masters[l.m].map_command(args[0]).to_string();
        let mut v: Vec<&[u8]> = vec![name.as_bytes()];
        v.extend(args[1..].iter().map(|a| a.as_bytes()));
        let bytes = link::encode(&v);
        let ri = self.s.inst_mut(l);
        match &ri.link.pc {
            Some(h) => h.tx.send((bytes, tag)).is_ok(),
            None => false,
        }
    }

    fn auth_args(&self, l: Loc) -> Option<(Option<String>, String)> {
        let m = &self.s.masters[l.m];
        let (user, pass) = match l.kind {
            Kind::Master | Kind::Slave => (m.auth_user.clone(), m.auth_pass.clone()),
            Kind::Sentinel => {
                if self.s.sentinel_auth_pass.is_some() {
                    (
                        self.s.sentinel_auth_user.clone(),
                        self.s.sentinel_auth_pass.clone(),
                    )
                } else {
                    (None, self.srv.requirepass.clone())
                }
            }
        };
        pass.map(|p| (user, p))
    }

    fn auth_and_name(&mut self, l: Loc, pubsub: bool) {
        let auth = self.auth_args(l);
        let name = format!(
            "sentinel-{}-{}",
            self.s.myid.get(..8).unwrap_or(&self.s.myid),
            if pubsub { "pubsub" } else { "cmd" }
        );
        let send = |e: &mut Engine, args: &[&str]| {
            if pubsub {
                e.send_pc(l, args, Tag::Discard);
            } else {
                e.send(l, args, Tag::Discard);
            }
        };
        match auth {
            Some((None, p)) => send(self, &["AUTH", &p]),
            Some((Some(u), p)) => send(self, &["AUTH", &u, &p]),
            None => {}
        }
        send(self, &["CLIENT", "SETNAME", &name]);
    }

    fn reconnect(&mut self, l: Loc) {
        let ping_period = self.s.timing.ping_period;
        let resolve = self.s.resolve_hostnames;
        {
            let ri = self.s.inst_mut(l);
            if !ri.link.disconnected || ri.addr.port == 0 {
                return;
            }
            let now = mstime();
            if now - ri.link.last_reconn_time < ping_period {
                return;
            }
            ri.link.last_reconn_time = now;
        }
        if self.s.inst(l).link.cc.is_none() {
            if resolve {
                let a = self.s.inst(l).addr.clone();
                if let Some(n) = Addr::new(&a.hostname, a.port as i64, true, false) {
                    self.s.inst_mut(l).addr = n;
                }
            }
            let h = self.spawn_half(l, false);
            let ri = self.s.inst_mut(l);
            ri.link.pending = 0;
            ri.link.cc = Some(h);
            self.auth_and_name(l, false);
            self.send_ping(l);
        }
        if l.kind != Kind::Sentinel && self.s.inst(l).link.pc.is_none() {
            let h = self.spawn_half(l, true);
            self.s.inst_mut(l).link.pc = Some(h);
            self.auth_and_name(l, true);
            self.send_pc(l, &["SUBSCRIBE", HELLO_CHANNEL], Tag::Hello);
        }
        let ri = self.s.inst_mut(l);
        if ri.link.cc.is_some() && (l.kind == Kind::Sentinel || ri.link.pc.is_some()) {
            ri.link.disconnected = false;
        }
    }

    fn send_ping(&mut self, l: Loc) -> bool {
        if self.send(l, &["PING"], Tag::Ping) {
            let ri = self.s.inst_mut(l);
            ri.link.last_ping_time = mstime();
            if ri.link.act_ping_time == 0 {
                ri.link.act_ping_time = ri.link.last_ping_time;
            }
            true
        } else {
            false
        }
    }

    fn send_hello(&mut self, l: Loc) -> bool {
        let ri = self.s.inst(l);
        if ri.link.disconnected {
            return false;
        }
        let ip = match &self.s.announce_ip {
            Some(ip) => ip.clone(),
            None => match ri.link.cc.as_ref().and_then(|h| h.local_ip.clone()) {
                Some(ip) => ip,
                None => return false,
            },
        };
        let port = if self.s.announce_port != 0 {
            self.s.announce_port
        } else {
            self.srv.port
        };
        let m = &self.s.masters[l.m];
        let maddr = m.current_addr();
        let payload = format!(
            "{},{},{},{},{},{},{},{}",
            ip,
            port,
            self.s.myid,
            self.s.current_epoch,
            m.inst.name,
            self.s.announce(maddr),
            maddr.port,
            m.config_epoch
        );
        self.send(l, &["PUBLISH", HELLO_CHANNEL, &payload], Tag::Publish)
    }

    fn send_periodic(&mut self, l: Loc) {
        let now = mstime();
        let t = self.s.timing.clone();
        let mflags = self.s.masters[l.m].inst.flags;
        let ri = self.s.inst(l);
        if ri.link.disconnected {
            return;
        }
        if ri.link.pending >= MAX_PENDING_COMMANDS {
            return;
        }
        let info_period = if l.kind == Kind::Slave
            && ((mflags & (SRI_O_DOWN | SRI_FAILOVER_IN_PROGRESS)) != 0
                || ri.master_link_down_time != 0)
        {
            1000
        } else {
            t.info_period
        };
        let ping_period = ri.down_after_period.min(t.ping_period);
        let want_info = l.kind != Kind::Sentinel
            && (ri.info_refresh == 0 || now - ri.info_refresh > info_period);
        let want_ping = now - ri.link.last_pong_time > ping_period
            && now - ri.link.last_ping_time > ping_period / 2;
        let want_hello = now - ri.last_pub_time > t.publish_period;
        if want_info {
            self.send(l, &["INFO"], Tag::Info);
        }
        if want_ping {
            self.send_ping(l);
        }
        if want_hello {
            self.send_hello(l);
        }
    }

    /// A link task reported something.
    pub fn on_link_event(&mut self, ev: LinkEvent) {
        let Some(l) = self.s.locate(ev.inst) else {
            return;
        };
        {
            let ri = self.s.inst_mut(l);
            let half = if ev.pubsub {
                ri.link.pc.as_mut()
            } else {
                ri.link.cc.as_mut()
            };
            match half {
                Some(h) if h.gen == ev.gen => {
                    if let LinkEventKind::Connected(ip) = &ev.kind {
                        h.local_ip = Some(ip.clone());
                    }
                }
                _ => return,
            }
        }
        match ev.kind {
            LinkEventKind::Connected(_) => {}
            LinkEventKind::Closed => {
                let ri = self.s.inst_mut(l);
                if ev.pubsub {
                    ri.link.close_pc();
                } else {
                    ri.link.close_cc();
                }
            }
            LinkEventKind::Reply(tag, r) => {
                if tag != Tag::Hello {
                    let ri = self.s.inst_mut(l);
                    ri.link.pending = (ri.link.pending - 1).max(0);
                }
                match tag {
                    Tag::Discard => {}
                    Tag::Info => {
                        if let Reply::Bulk(Some(b)) = r {
                            self.refresh_info(l, &b);
                        }
                    }
                    Tag::Ping => self.on_ping_reply(l, &r),
                    Tag::Publish => {
                        if !matches!(r, Reply::Error(_)) {
                            self.s.inst_mut(l).last_pub_time = mstime();
                        }
                    }
                    Tag::IsMasterDown => self.on_is_master_down_reply(l, &r),
                    Tag::Hello => self.on_hello_reply(l, r),
                }
            }
        }
    }

    fn on_ping_reply(&mut self, l: Loc, r: &Reply) {
        let now = mstime();
        let mut kill = false;
        if let Some(text) = r.line() {
            if text.starts_with("PONG")
                || text.starts_with("LOADING")
                || text.starts_with("MASTERDOWN")
            {
                let pong = text.starts_with("PONG");
                let ri = self.s.inst_mut(l);
                ri.link.last_avail_time = now;
                ri.link.act_ping_time = 0;
                if l.kind == Kind::Master && pong {
                    ri.flags &= !SRI_MASTER_REBOOT;
                }
            } else {
                let ri = self.s.inst(l);
                if text.starts_with("BUSY")
                    && ri.flags & SRI_S_DOWN != 0
                    && ri.flags & SRI_SCRIPT_KILL_SENT == 0
                {
                    kill = true;
                }
            }
        }
        if kill {
            self.send(l, &["SCRIPT", "KILL"], Tag::Discard);
            self.s.inst_mut(l).flags |= SRI_SCRIPT_KILL_SENT;
        }
        self.s.inst_mut(l).link.last_pong_time = now;
    }

    fn on_hello_reply(&mut self, l: Loc, r: Reply) {
        self.s.inst_mut(l).link.pc_last_activity = mstime();
        let items = match r {
            Reply::Array(Some(items)) => items,
            Reply::Error(_) => {
                // The subscription was refused (authentication): the link is useless.
                self.s.inst_mut(l).link.close_pc();
                return;
            }
            _ => return,
        };
        if items.len() != 3 {
            return;
        }
        let (Reply::Bulk(Some(kind)), Reply::Bulk(Some(_)), Reply::Bulk(Some(msg))) =
            (&items[0], &items[1], &items[2])
        else {
            return;
        };
        if kind != b"message" {
            return;
        }
        let msg = String::from_utf8_lossy(msg).into_owned();
        if msg.contains(&self.s.myid) {
            return;
        }
        self.process_hello(&msg);
    }

    fn on_is_master_down_reply(&mut self, l: Loc, r: &Reply) {
        let Reply::Array(Some(items)) = r else { return };
        if items.len() != 3 {
            return;
        }
        let (Reply::Int(down), Reply::Bulk(Some(leader)), Reply::Int(epoch)) =
            (&items[0], &items[1], &items[2])
        else {
            return;
        };
        let leader = String::from_utf8_lossy(leader).into_owned();
        let ri = self.s.inst_mut(l);
        ri.last_master_down_reply_time = mstime();
        if *down == 1 {
            ri.flags |= SRI_MASTER_DOWN;
        } else {
            ri.flags &= !SRI_MASTER_DOWN;
        }
        if leader != "*" {
            if ri.leader_epoch as i64 != *epoch {
                log::log(
                    Level::Warning,
                    &format!("{} voted for {} {}", ri.name, leader, epoch),
                );
            }
            ri.leader = Some(leader);
            ri.leader_epoch = (*epoch).max(0) as u64;
        }
    }

    // ------------------------------------------------------------------ INFO

    fn refresh_info(&mut self, l: Loc, info: &[u8]) {
        let text = String::from_utf8_lossy(info).into_owned();
        let now = mstime();
        let mut role = 0u32;
        let mut new_slaves: Vec<(String, i64)> = Vec::new();
        let mut reboot = false;
        {
            let is_master = l.kind == Kind::Master;
            let ri = self.s.inst_mut(l);
            ri.info = Some(info.to_vec());
            ri.master_link_down_time = 0;
            for line in text.split("\r\n") {
                if let Some(id) = line.strip_prefix("run_id:").and_then(|r| r.get(..40)) {
                    match &ri.runid {
                        None => ri.runid = Some(id.to_string()),
                        Some(old) if old != id => {
                            reboot = true;
                            ri.runid = Some(id.to_string());
                        }
                        _ => {}
                    }
                }
                if is_master
                    && line.len() >= 7
                    && line.starts_with("slave")
                    && line.as_bytes()[5].is_ascii_digit()
                {
                    if let Some((ip, port)) = parse_slave_line(line) {
                        new_slaves.push((ip, port));
                    }
                }
                if line.len() >= 32 && line.starts_with("master_link_down_since_seconds") {
                    ri.master_link_down_time =
                        config::atoi(line.get(31..).unwrap_or("")).saturating_mul(1000);
                }
                if line.starts_with("role:master") {
                    role = SRI_MASTER;
                } else if line.starts_with("role:slave") {
                    role = SRI_SLAVE;
                }
                if role == SRI_SLAVE {
                    if let Some(h) = line.strip_prefix("master_host:") {
                        if ri
                            .slave_master_host
                            .as_deref()
                            .is_none_or(|o| !o.eq_ignore_ascii_case(h))
                        {
                            ri.slave_master_host = Some(h.to_string());
                            ri.slave_conf_change_time = now;
                        }
                    }
                    if let Some(p) = line.strip_prefix("master_port:") {
                        let p = config::atoi(p);
                        if ri.slave_master_port != p {
                            ri.slave_master_port = p;
                            ri.slave_conf_change_time = now;
                        }
                    }
                    if let Some(s) = line.strip_prefix("master_link_status:") {
                        ri.slave_master_link_up = s.eq_ignore_ascii_case("up");
                    }
                    if let Some(p) = line.strip_prefix("slave_priority:") {
                        ri.slave_priority = config::atoi(p);
                    }
                    if let Some(p) = line.strip_prefix("slave_repl_offset:") {
                        ri.slave_repl_offset = config::atou(p);
                    }
                    if let Some(p) = line.strip_prefix("replica_announced:") {
                        ri.replica_announced = config::atoi(p);
                    }
                }
            }
            ri.info_refresh = now;
        }
        if reboot {
            self.event_at(Level::Notice, "+reboot", l, "");
            let m = &mut self.s.masters[l.m];
            if l.kind == Kind::Master && m.master_reboot_down_after_period != 0 {
                m.inst.flags |= SRI_MASTER_REBOOT;
                m.master_reboot_since_time = now;
            }
        }
        for (ip, port) in new_slaves {
            let exists = {
                let m = &self.s.masters[l.m];
                let probe = Addr::new(&ip, port, self.s.resolve_hostnames, true);
                match probe {
                    Some(a) => {
                        let name = self.s.announce_addr_port(&a);
                        m.slaves.iter().any(|s| s.name == name)
                    }
                    None => true,
                }
            };
            if !exists {
                if let Ok(i) = self.s.create_slave(l.m, &ip, port) {
                    self.event_at(
                        Level::Notice,
                        "+slave",
                        Loc {
                            m: l.m,
                            kind: Kind::Slave,
                            i,
                        },
                        "",
                    );
                    self.flush_config();
                }
            }
        }
        // Acting half.
        let (role_reported, flags) = {
            let ri = self.s.inst(l);
            (ri.role_reported, ri.flags)
        };
        if role != role_reported {
            {
                let ri = self.s.inst_mut(l);
                ri.role_reported_time = now;
                ri.role_reported = role;
                if role == SRI_SLAVE {
                    ri.slave_conf_change_time = now;
                }
            }
            let coherent = (flags & (SRI_MASTER | SRI_SLAVE)) == role;
            self.event_at(
                Level::Verbose,
                if coherent {
                    "+role-change"
                } else {
                    "-role-change"
                },
                l,
                &format!(
                    " new reported role is {}",
                    if role == SRI_MASTER {
                        "master"
                    } else {
                        "slave"
                    }
                ),
            );
        }
        if self.s.tilt {
            return;
        }
        if l.kind == Kind::Slave && role == SRI_MASTER {
            let m = &self.s.masters[l.m];
            let ri = self.s.inst(l);
            if ri.flags & SRI_PROMOTED != 0
                && m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
                && m.failover_state == FO_WAIT_PROMOTION
            {
                let m = &mut self.s.masters[l.m];
                m.config_epoch = m.failover_epoch;
                m.failover_state = FO_RECONF_SLAVES;
                m.failover_state_change_time = now;
                self.flush_config();
                self.event_at(Level::Warning, "+promoted-slave", l, "");
                if self.s.simfailure_flags & 2 != 0 {
                    sim_failure_crash();
                }
                self.event_at(
                    Level::Warning,
                    "+failover-state-reconf-slaves",
                    Loc::master(l.m),
                    "",
                );
                let from = self.s.masters[l.m].inst.addr.clone();
                let to = self.s.inst(l).addr.clone();
                self.call_reconf_script(l.m, "leader", "start", &from, &to);
                self.force_hello_update(l.m);
            } else {
                let wait = self.s.timing.publish_period * 4;
                let ri = self.s.inst(l);
                if ri.flags & SRI_PROMOTED == 0
                    && self.master_looks_sane(l.m)
                    && ri.no_down_for(wait)
                    && now - ri.role_reported_time > wait
                {
                    let maddr = self.s.masters[l.m].inst.addr.clone();
                    if self.send_slaveof(l, Some(&maddr)) {
                        self.event_at(Level::Notice, "+convert-to-slave", l, "");
                    }
                }
            }
        }
        if l.kind == Kind::Slave && role == SRI_SLAVE {
            let maddr = self.s.masters[l.m].inst.addr.clone();
            let ri = self.s.inst(l);
            let wrong = ri.slave_master_port != maddr.port as i64
                || !ri
                    .slave_master_host
                    .as_deref()
                    .is_some_and(|h| maddr.is_host(h));
            if wrong {
                let wait = self.s.masters[l.m].failover_timeout;
                if self.master_looks_sane(l.m)
                    && ri.no_down_for(wait)
                    && now - ri.slave_conf_change_time > wait
                    && self.send_slaveof(l, Some(&maddr))
                {
                    self.event_at(Level::Notice, "+fix-slave-config", l, "");
                }
            }
        }
        if l.kind == Kind::Slave
            && role == SRI_SLAVE
            && self.s.inst(l).flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0
        {
            let paddr = self.s.masters[l.m].promoted_slave().map(|p| p.addr.clone());
            let ri = self.s.inst(l);
            if ri.flags & SRI_RECONF_SENT != 0 {
                if let (Some(pa), Some(h)) = (&paddr, &ri.slave_master_host) {
                    if pa.is_host(h) && ri.slave_master_port == pa.port as i64 {
                        let ri = self.s.inst_mut(l);
                        ri.flags &= !SRI_RECONF_SENT;
                        ri.flags |= SRI_RECONF_INPROG;
                        self.event_at(Level::Notice, "+slave-reconf-inprog", l, "");
                    }
                }
            }
            let ri = self.s.inst(l);
            if ri.flags & SRI_RECONF_INPROG != 0 && ri.slave_master_link_up {
                let ri = self.s.inst_mut(l);
                ri.flags &= !SRI_RECONF_INPROG;
                ri.flags |= SRI_RECONF_DONE;
                self.event_at(Level::Notice, "+slave-reconf-done", l, "");
            }
        }
    }

    fn master_looks_sane(&self, m: usize) -> bool {
        let mi = &self.s.masters[m].inst;
        mi.flags & SRI_MASTER != 0
            && mi.role_reported == SRI_MASTER
            && mi.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0
            && mstime() - mi.info_refresh < self.s.timing.info_period * 2
    }

    /// MULTI / REPLICAOF / CONFIG REWRITE / CLIENT KILL normal+pubsub / EXEC.
    pub fn send_slaveof(&mut self, l: Loc, addr: Option<&Addr>) -> bool {
        let (host, port) = match addr {
            None => ("NO".to_string(), "ONE".to_string()),
            Some(a) => (self.s.announce(a).to_string(), a.port.to_string()),
        };
        if !self.send(l, &["MULTI"], Tag::Discard) {
            return false;
        }
        self.send(l, &["SLAVEOF", &host, &port], Tag::Discard);
        self.send(l, &["CONFIG", "REWRITE"], Tag::Discard);
        self.send(l, &["CLIENT", "KILL", "TYPE", "normal"], Tag::Discard);
        self.send(l, &["CLIENT", "KILL", "TYPE", "pubsub"], Tag::Discard);
        self.send(l, &["EXEC"], Tag::Discard)
    }

    // ------------------------------------------------------------------ hello

    /// Processes a hello message (from a pub/sub link or a Sentinel's PUBLISH).
    pub fn process_hello(&mut self, hello: &str) {
        let t: Vec<&str> = hello.split(',').collect();
        if t.len() != 8 {
            return;
        }
        let Some(m) = self.s.master_index(t[4]) else {
            return;
        };
        let port = config::atoi(t[1]);
        let master_port = config::atoi(t[6]);
        let current_epoch = config::atou(t[3]);
        let master_config_epoch = config::atou(t[7]);
        let resolve = self.s.resolve_hostnames;
        let probe = Addr::new(t[0], port, resolve, true);
        let find = |s: &Sentinel, runid: Option<&str>| -> Option<usize> {
            let probe = probe.as_ref()?;
            s.masters[m].sentinels.iter().position(|si| {
                (runid.is_none() || si.runid.as_deref() == runid) && si.addr.same(probe)
            })
        };
        let mut si = find(&self.s, Some(t[2]));
        if si.is_none() {
            let before = self.s.masters[m].sentinels.len();
            self.s.masters[m]
                .sentinels
                .retain(|x| x.runid.as_deref() != Some(t[2]));
            let removed = before != self.s.masters[m].sentinels.len();
            if removed {
                self.event_at(
                    Level::Notice,
                    "+sentinel-address-switch",
                    Loc::master(m),
                    &format!(" ip {} port {} for {}", t[0], port, t[2]),
                );
            } else if let Some(o) = find(&self.s, None) {
                let oloc = Loc {
                    m,
                    kind: Kind::Sentinel,
                    i: o,
                };
                self.event_at(Level::Notice, "+sentinel-invalid-addr", oloc, "");
                let obsolete = self.s.masters[m].sentinels[o].runid.clone();
                for ma in self.s.masters.iter_mut() {
                    ma.sentinels
                        .retain(|x| obsolete.is_none() || x.runid != obsolete);
                }
            }
            if let Ok(i) = self.s.create_sentinel(m, t[2], t[0], port) {
                let loc = Loc {
                    m,
                    kind: Kind::Sentinel,
                    i,
                };
                if !removed {
                    self.event_at(Level::Notice, "+sentinel", loc, "");
                }
                if removed {
                    // Same Sentinel, new address: update it under every master.
                    let addr = self.s.masters[m].sentinels[i].addr.clone();
                    for ma in self.s.masters.iter_mut() {
                        for x in ma.sentinels.iter_mut() {
                            if x.runid.as_deref() == Some(t[2]) && !x.addr.same(&addr) {
                                x.addr = addr.clone();
                                x.link.close_cc();
                                x.link.close_pc();
                            }
                        }
                    }
                }
                self.flush_config();
                si = Some(i);
            }
        }
        if current_epoch > self.s.current_epoch {
            self.s.current_epoch = current_epoch;
            self.flush_config();
            let e = self.s.current_epoch;
            self.event(Level::Warning, "+new-epoch", Some(m), &format!("{}", e));
        }
        if let Some(i) = si {
            if self.s.masters[m].config_epoch < master_config_epoch {
                self.s.masters[m].config_epoch = master_config_epoch;
                let maddr = self.s.masters[m].inst.addr.clone();
                if master_port != maddr.port as i64 || !maddr.is_host(t[5]) {
                    let sloc = Loc {
                        m,
                        kind: Kind::Sentinel,
                        i,
                    };
                    self.event_at(Level::Warning, "+config-update-from", sloc, "");
                    let msg = format!(
                        "{} {} {} {} {}",
                        self.s.masters[m].inst.name,
                        self.s.announce(&maddr),
                        maddr.port,
                        t[5],
                        master_port
                    );
                    self.event(Level::Warning, "+switch-master", Some(m), &msg);
                    if self.reset_master_and_change_address(m, t[5], master_port) {
                        let newaddr = self.s.masters[m].inst.addr.clone();
                        self.call_reconf_script(m, "observer", "start", &maddr, &newaddr);
                    }
                }
            }
            if let Some(x) = self.s.masters[m].sentinels.get_mut(i) {
                if x.runid.as_deref() == Some(t[2]) {
                    x.last_hello_time = mstime();
                }
            }
        }
    }

    fn force_hello_update(&mut self, m: usize) {
        let p = self.s.timing.publish_period + 1;
        let ma = &mut self.s.masters[m];
        for ri in std::iter::once(&mut ma.inst)
            .chain(ma.sentinels.iter_mut())
            .chain(ma.slaves.iter_mut())
        {
            if ri.last_pub_time >= p {
                ri.last_pub_time -= p;
            }
        }
    }

    // ------------------------------------------------------------------ reset

    /// SENTINEL RESET and the reset before an address switch.
    pub fn reset_master(&mut self, m: usize, keep_sentinels: bool, event: bool) {
        let now = mstime();
        {
            let ma = &mut self.s.masters[m];
            ma.slaves.clear();
            if !keep_sentinels {
                ma.sentinels.clear();
            }
            ma.inst.link.close_cc();
            ma.inst.link.close_pc();
            ma.inst.flags &= SRI_MASTER;
            ma.inst.leader = None;
            ma.failover_state = FO_NONE;
            ma.failover_state_change_time = 0;
            ma.failover_start_time = 0;
            ma.promoted = None;
            ma.inst.runid = None;
            ma.inst.slave_master_host = None;
            ma.inst.link.act_ping_time = now;
            ma.inst.link.last_ping_time = 0;
            ma.inst.link.last_avail_time = now;
            ma.inst.link.last_pong_time = now;
            ma.inst.role_reported_time = now;
            ma.inst.role_reported = SRI_MASTER;
        }
        if event {
            self.event_at(Level::Warning, "+reset-master", Loc::master(m), "");
        }
    }

    pub fn reset_master_and_change_address(&mut self, m: usize, host: &str, port: i64) -> bool {
        let Some(newaddr) = Addr::new(host, port, self.s.resolve_hostnames, false) else {
            return false;
        };
        let mut slaves: Vec<Addr> = Vec::new();
        let ma = &self.s.masters[m];
        for s in &ma.slaves {
            if s.addr.same(&newaddr) {
                continue;
            }
            slaves.push(s.addr.clone());
        }
        if !newaddr.same(&ma.inst.addr) {
            slaves.push(ma.inst.addr.clone());
        }
        self.reset_master(m, true, false);
        {
            let ma = &mut self.s.masters[m];
            ma.inst.addr = newaddr;
            ma.inst.o_down_since_time = 0;
            ma.inst.s_down_since_time = 0;
        }
        for a in slaves {
            if let Ok(i) = self.s.create_slave(m, &a.hostname, a.port as i64) {
                self.event_at(
                    Level::Notice,
                    "+slave",
                    Loc {
                        m,
                        kind: Kind::Slave,
                        i,
                    },
                    "",
                );
            }
        }
        self.flush_config();
        true
    }

    // ------------------------------------------------------------------ down checks

    fn check_sdown(&mut self, l: Loc) {
        let now = mstime();
        let t = self.s.timing.clone();
        let (reboot_period, reboot_since) = {
            let m = &self.s.masters[l.m];
            (
                m.master_reboot_down_after_period,
                m.master_reboot_since_time,
            )
        };
        let ri = self.s.inst_mut(l);
        let elapsed = if ri.link.act_ping_time != 0 {
            now - ri.link.act_ping_time
        } else if ri.link.disconnected {
            now - ri.link.last_avail_time
        } else {
            0
        };
        if let Some(h) = &ri.link.cc {
            if now - h.conn_time > t.min_link_reconnect_period
                && ri.link.act_ping_time != 0
                && now - ri.link.act_ping_time > ri.down_after_period / 2
                && now - ri.link.last_pong_time > ri.down_after_period / 2
            {
                ri.link.close_cc();
            }
        }
        if let Some(h) = &ri.link.pc {
            if now - h.conn_time > t.min_link_reconnect_period
                && now - ri.link.pc_last_activity > t.publish_period * 3
            {
                ri.link.close_pc();
            }
        }
        let down = elapsed > ri.down_after_period
            || (l.kind == Kind::Master
                && ri.role_reported == SRI_SLAVE
                && now - ri.role_reported_time > ri.down_after_period + t.info_period * 2)
            || (l.kind == Kind::Master
                && ri.flags & SRI_MASTER_REBOOT != 0
                && now - reboot_since > reboot_period);
        if down {
            if ri.flags & SRI_S_DOWN == 0 {
                ri.s_down_since_time = now;
                ri.flags |= SRI_S_DOWN;
                self.event_at(Level::Warning, "+sdown", l, "");
            }
        } else if ri.flags & SRI_S_DOWN != 0 {
            ri.flags &= !(SRI_S_DOWN | SRI_SCRIPT_KILL_SENT);
            self.event_at(Level::Warning, "-sdown", l, "");
        }
    }

    fn check_odown(&mut self, m: usize) {
        let ma = &self.s.masters[m];
        let mut quorum = 0i64;
        let mut odown = false;
        if ma.inst.flags & SRI_S_DOWN != 0 {
            quorum = 1 + ma
                .sentinels
                .iter()
                .filter(|s| s.flags & SRI_MASTER_DOWN != 0)
                .count() as i64;
            odown = quorum >= ma.quorum;
        }
        let q = ma.quorum;
        if odown {
            if ma.inst.flags & SRI_O_DOWN == 0 {
                let ma = &mut self.s.masters[m];
                ma.inst.flags |= SRI_O_DOWN;
                ma.inst.o_down_since_time = mstime();
                self.event_at(
                    Level::Warning,
                    "+odown",
                    Loc::master(m),
                    &format!(" #quorum {}/{}", quorum, q),
                );
            }
        } else if ma.inst.flags & SRI_O_DOWN != 0 {
            self.s.masters[m].inst.flags &= !SRI_O_DOWN;
            self.event_at(Level::Warning, "-odown", Loc::master(m), "");
        }
    }

    fn ask_master_state(&mut self, m: usize, forced: bool) {
        let ask = self.s.timing.ask_period;
        let now = mstime();
        let n = self.s.masters[m].sentinels.len();
        for i in 0..n {
            let l = Loc {
                m,
                kind: Kind::Sentinel,
                i,
            };
            {
                let ri = self.s.inst_mut(l);
                if now - ri.last_master_down_reply_time > ask * 5 {
                    ri.flags &= !SRI_MASTER_DOWN;
                    ri.leader = None;
                }
            }
            let ma = &self.s.masters[m];
            if ma.inst.flags & SRI_S_DOWN == 0 {
                continue;
            }
            let ri = &ma.sentinels[i];
            if ri.link.disconnected {
                continue;
            }
            if !forced && now - ri.last_master_down_reply_time < ask {
                continue;
            }
            let ip = self.s.announce(&ma.inst.addr).to_string();
            let port = ma.inst.addr.port.to_string();
            let epoch = self.s.current_epoch.to_string();
            let runid = if ma.failover_state > FO_NONE {
                self.s.myid.clone()
            } else {
                "*".to_string()
            };
            self.send(
                l,
                &[
                    "SENTINEL",
                    "is-master-down-by-addr",
                    &ip,
                    &port,
                    &epoch,
                    &runid,
                ],
                Tag::IsMasterDown,
            );
        }
    }

    // ------------------------------------------------------------------ election

    /// Votes for `req_runid` in `req_epoch` unless already voted in that epoch; returns the
    /// vote and its epoch.
    pub fn vote_leader(
        &mut self,
        m: usize,
        req_epoch: u64,
        req_runid: &str,
    ) -> (Option<String>, u64) {
        if req_epoch > self.s.current_epoch {
            self.s.current_epoch = req_epoch;
            self.flush_config();
            self.event(
                Level::Warning,
                "+new-epoch",
                Some(m),
                &format!("{}", req_epoch),
            );
        }
        let ma = &self.s.masters[m];
        if ma.inst.leader_epoch < req_epoch && self.s.current_epoch <= req_epoch {
            let ce = self.s.current_epoch;
            {
                let ma = &mut self.s.masters[m];
                ma.inst.leader = Some(req_runid.to_string());
                ma.inst.leader_epoch = ce;
            }
            self.flush_config();
            self.event(
                Level::Warning,
                "+vote-for-leader",
                Some(m),
                &format!("{} {}", req_runid, ce),
            );
            if !req_runid.eq_ignore_ascii_case(&self.s.myid) {
                let r = (self.rand() % MAX_DESYNC as u64) as i64;
                self.s.masters[m].failover_start_time = mstime() + r;
            }
        }
        let ma = &self.s.masters[m];
        (ma.inst.leader.clone(), ma.inst.leader_epoch)
    }

    fn get_leader(&mut self, m: usize, epoch: u64) -> Option<String> {
        let ma = &self.s.masters[m];
        let voters = ma.sentinels.len() as u64 + 1;
        let mut counters: Vec<(String, u64)> = Vec::new();
        let incr = |c: &mut Vec<(String, u64)>, id: &str| -> u64 {
            if let Some(e) = c.iter_mut().find(|(k, _)| k == id) {
                e.1 += 1;
                e.1
            } else {
                c.push((id.to_string(), 1));
                1
            }
        };
        for s in &ma.sentinels {
            if let Some(l) = &s.leader {
                if s.leader_epoch == self.s.current_epoch {
                    incr(&mut counters, l);
                }
            }
        }
        let mut winner: Option<String> = None;
        let mut max_votes = 0;
        for (k, v) in &counters {
            if *v > max_votes {
                max_votes = *v;
                winner = Some(k.clone());
            }
        }
        let quorum = ma.quorum as u64;
        let myid = self.s.myid.clone();
        let (myvote, leader_epoch) = match &winner {
            Some(w) => {
                let w = w.clone();
                self.vote_leader(m, epoch, &w)
            }
            None => self.vote_leader(m, epoch, &myid),
        };
        if let Some(v) = myvote {
            if leader_epoch == epoch {
                let votes = incr(&mut counters, &v);
                if votes > max_votes {
                    max_votes = votes;
                    winner = Some(v);
                }
            }
        }
        let voters_quorum = voters / 2 + 1;
        if winner.is_some() && (max_votes < voters_quorum || max_votes < quorum) {
            winner = None;
        }
        winner
    }

    // ------------------------------------------------------------------ failover

    pub fn start_failover(&mut self, m: usize) {
        self.s.current_epoch += 1;
        let e = self.s.current_epoch;
        let r = (self.rand() % MAX_DESYNC as u64) as i64;
        {
            let ma = &mut self.s.masters[m];
            ma.failover_state = FO_WAIT_START;
            ma.inst.flags |= SRI_FAILOVER_IN_PROGRESS;
            ma.failover_epoch = e;
            ma.failover_start_time = mstime() + r;
            ma.failover_state_change_time = mstime();
        }
        self.event(Level::Warning, "+new-epoch", Some(m), &format!("{}", e));
        self.event_at(Level::Warning, "+try-failover", Loc::master(m), "");
    }

    fn start_failover_if_needed(&mut self, m: usize) -> bool {
        let ma = &self.s.masters[m];
        if ma.inst.flags & SRI_O_DOWN == 0 || ma.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
            return false;
        }
        if mstime() - ma.failover_start_time < ma.failover_timeout * 2 {
            if ma.failover_delay_logged != ma.failover_start_time {
                let at = (ma.failover_start_time + ma.failover_timeout * 2) / 1000;
                self.s.masters[m].failover_delay_logged = self.s.masters[m].failover_start_time;
                log::log(
                    Level::Warning,
                    &format!(
                        "Next failover delay: I will not start a failover before {}",
                        log::ctime(at)
                    ),
                );
            }
            return false;
        }
        self.start_failover(m);
        true
    }

    /// The best replica to promote, as Redis's sentinelSelectSlave.
    pub fn select_slave(&self, m: usize) -> Option<usize> {
        let ma = &self.s.masters[m];
        let t = &self.s.timing;
        let now = mstime();
        let mut max_down = 0;
        if ma.inst.flags & SRI_S_DOWN != 0 {
            max_down += now - ma.inst.s_down_since_time;
        }
        max_down += ma.inst.down_after_period * 10;
        let mut cands: Vec<usize> = Vec::new();
        for (i, s) in ma.slaves.iter().enumerate() {
            if s.flags & (SRI_S_DOWN | SRI_O_DOWN) != 0 || s.link.disconnected {
                continue;
            }
            if now - s.link.last_avail_time > t.ping_period * 5 {
                continue;
            }
            if s.slave_priority == 0 {
                continue;
            }
            let validity = if ma.inst.flags & SRI_S_DOWN != 0 {
                t.ping_period * 5
            } else {
                t.info_period * 3
            };
            if now - s.info_refresh > validity {
                continue;
            }
            if s.master_link_down_time > max_down {
                continue;
            }
            cands.push(i);
        }
        cands.sort_by(|&a, &b| {
            let (a, b) = (&ma.slaves[a], &ma.slaves[b]);
            a.slave_priority
                .cmp(&b.slave_priority)
                .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
                .then_with(|| match (&a.runid, &b.runid) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
                })
        });
        cands.first().copied()
    }

    fn abort_failover(&mut self, m: usize) {
        let ma = &mut self.s.masters[m];
        ma.inst.flags &= !(SRI_FAILOVER_IN_PROGRESS | SRI_FORCE_FAILOVER);
        ma.failover_state = FO_NONE;
        ma.failover_state_change_time = mstime();
        if let Some(id) = ma.promoted.take() {
            if let Some(s) = ma.slaves.iter_mut().find(|s| s.id == id) {
                s.flags &= !SRI_PROMOTED;
            }
        }
    }

    fn promoted_loc(&self, m: usize) -> Option<Loc> {
        let id = self.s.masters[m].promoted?;
        let i = self.s.masters[m].slaves.iter().position(|s| s.id == id)?;
        Some(Loc {
            m,
            kind: Kind::Slave,
            i,
        })
    }

    fn failover_state_machine(&mut self, m: usize) {
        let now = mstime();
        if self.s.masters[m].inst.flags & SRI_FAILOVER_IN_PROGRESS == 0 {
            return;
        }
        match self.s.masters[m].failover_state {
            FO_WAIT_START => {
                let epoch = self.s.masters[m].failover_epoch;
                let leader = self.get_leader(m, epoch);
                let isleader = leader
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&self.s.myid));
                let ma = &self.s.masters[m];
                if !isleader && ma.inst.flags & SRI_FORCE_FAILOVER == 0 {
                    let timeout = self.s.timing.election_timeout.min(ma.failover_timeout);
                    if now - ma.failover_start_time > timeout {
                        self.event_at(
                            Level::Warning,
                            "-failover-abort-not-elected",
                            Loc::master(m),
                            "",
                        );
                        self.abort_failover(m);
                    }
                    return;
                }
                self.event_at(Level::Warning, "+elected-leader", Loc::master(m), "");
                if self.s.simfailure_flags & 1 != 0 {
                    sim_failure_crash();
                }
                let ma = &mut self.s.masters[m];
                ma.failover_state = FO_SELECT_SLAVE;
                ma.failover_state_change_time = now;
                self.event_at(
                    Level::Warning,
                    "+failover-state-select-slave",
                    Loc::master(m),
                    "",
                );
            }
            FO_SELECT_SLAVE => match self.select_slave(m) {
                None => {
                    self.event_at(
                        Level::Warning,
                        "-failover-abort-no-good-slave",
                        Loc::master(m),
                        "",
                    );
                    self.abort_failover(m);
                }
                Some(i) => {
                    let l = Loc {
                        m,
                        kind: Kind::Slave,
                        i,
                    };
                    self.event_at(Level::Warning, "+selected-slave", l, "");
                    let id = {
                        let s = self.s.inst_mut(l);
                        s.flags |= SRI_PROMOTED;
                        s.id
                    };
                    let ma = &mut self.s.masters[m];
                    ma.promoted = Some(id);
                    ma.failover_state = FO_SEND_SLAVEOF_NOONE;
                    ma.failover_state_change_time = now;
                    self.event_at(Level::Notice, "+failover-state-send-slaveof-noone", l, "");
                }
            },
            FO_SEND_SLAVEOF_NOONE => {
                let Some(p) = self.promoted_loc(m) else {
                    self.abort_failover(m);
                    return;
                };
                if self.s.inst(p).link.disconnected {
                    let ma = &self.s.masters[m];
                    if now - ma.failover_state_change_time > ma.failover_timeout {
                        self.event_at(
                            Level::Warning,
                            "-failover-abort-slave-timeout",
                            Loc::master(m),
                            "",
                        );
                        self.abort_failover(m);
                    }
                    return;
                }
                if !self.send_slaveof(p, None) {
                    return;
                }
                self.event_at(Level::Notice, "+failover-state-wait-promotion", p, "");
                let ma = &mut self.s.masters[m];
                ma.failover_state = FO_WAIT_PROMOTION;
                ma.failover_state_change_time = now;
            }
            FO_WAIT_PROMOTION => {
                let ma = &self.s.masters[m];
                if now - ma.failover_state_change_time > ma.failover_timeout {
                    self.event_at(
                        Level::Warning,
                        "-failover-abort-slave-timeout",
                        Loc::master(m),
                        "",
                    );
                    self.abort_failover(m);
                }
            }
            FO_RECONF_SLAVES => self.reconf_next_slave(m),
            _ => {}
        }
    }

    fn reconf_next_slave(&mut self, m: usize) {
        let now = mstime();
        let Some(paddr) = self.s.masters[m].promoted_slave().map(|p| p.addr.clone()) else {
            return;
        };
        let mut in_progress = self.s.masters[m]
            .slaves
            .iter()
            .filter(|s| s.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0)
            .count() as i64;
        let n = self.s.masters[m].slaves.len();
        let reconf_timeout = self.s.timing.slave_reconf_timeout;
        for i in 0..n {
            if in_progress >= self.s.masters[m].parallel_syncs {
                break;
            }
            let l = Loc {
                m,
                kind: Kind::Slave,
                i,
            };
            let s = self.s.inst(l);
            if s.flags & (SRI_PROMOTED | SRI_RECONF_DONE) != 0 {
                continue;
            }
            if s.flags & SRI_RECONF_SENT != 0 && now - s.slave_reconf_sent_time > reconf_timeout {
                self.event_at(Level::Notice, "-slave-reconf-sent-timeout", l, "");
                let s = self.s.inst_mut(l);
                s.flags &= !SRI_RECONF_SENT;
                s.flags |= SRI_RECONF_DONE;
            }
            let s = self.s.inst(l);
            if s.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0 || s.link.disconnected {
                continue;
            }
            if self.send_slaveof(l, Some(&paddr)) {
                let s = self.s.inst_mut(l);
                s.flags |= SRI_RECONF_SENT;
                s.slave_reconf_sent_time = now;
                self.event_at(Level::Notice, "+slave-reconf-sent", l, "");
                in_progress += 1;
            }
        }
        self.detect_failover_end(m);
    }

    fn detect_failover_end(&mut self, m: usize) {
        let now = mstime();
        let Some(p) = self.promoted_loc(m) else {
            return;
        };
        if self.s.inst(p).flags & SRI_S_DOWN != 0 {
            return;
        }
        let ma = &self.s.masters[m];
        let elapsed = now - ma.failover_state_change_time;
        let mut not_reconfigured = ma
            .slaves
            .iter()
            .filter(|s| {
                s.flags & (SRI_PROMOTED | SRI_RECONF_DONE) == 0 && s.flags & SRI_S_DOWN == 0
            })
            .count();
        let mut timeout = false;
        if elapsed > ma.failover_timeout {
            not_reconfigured = 0;
            timeout = true;
            self.event_at(
                Level::Warning,
                "+failover-end-for-timeout",
                Loc::master(m),
                "",
            );
        }
        if not_reconfigured == 0 {
            self.event_at(Level::Warning, "+failover-end", Loc::master(m), "");
            let ma = &mut self.s.masters[m];
            ma.failover_state = FO_UPDATE_CONFIG;
            ma.failover_state_change_time = now;
        }
        if timeout {
            let paddr = self.s.inst(p).addr.clone();
            let n = self.s.masters[m].slaves.len();
            for i in 0..n {
                let l = Loc {
                    m,
                    kind: Kind::Slave,
                    i,
                };
                let s = self.s.inst(l);
                if s.flags & (SRI_PROMOTED | SRI_RECONF_DONE | SRI_RECONF_SENT) != 0
                    || s.link.disconnected
                {
                    continue;
                }
                if self.send_slaveof(l, Some(&paddr)) {
                    self.event_at(Level::Notice, "+slave-reconf-sent-be", l, "");
                    self.s.inst_mut(l).flags |= SRI_RECONF_SENT;
                }
            }
        }
    }

    fn switch_to_promoted(&mut self, m: usize) {
        let ma = &self.s.masters[m];
        let to = ma
            .promoted_slave()
            .map(|p| p.addr.clone())
            .unwrap_or_else(|| ma.inst.addr.clone());
        let from = ma.inst.addr.clone();
        let msg = format!(
            "{} {} {} {} {}",
            ma.inst.name,
            self.s.announce(&from),
            from.port,
            self.s.announce(&to),
            to.port
        );
        self.event(Level::Warning, "+switch-master", Some(m), &msg);
        self.reset_master_and_change_address(m, &to.hostname.clone(), to.port as i64);
    }

    fn call_reconf_script(&mut self, m: usize, role: &str, state: &str, from: &Addr, to: &Addr) {
        let Some(script) = self.s.masters[m].client_reconfig_script.clone() else {
            return;
        };
        let args = vec![
            self.s.masters[m].inst.name.clone(),
            role.to_string(),
            state.to_string(),
            self.s.announce(from).to_string(),
            from.port.to_string(),
            self.s.announce(to).to_string(),
            to.port.to_string(),
        ];
        self.scripts.schedule(script, args);
    }

    // ------------------------------------------------------------------ timer

    fn handle_instance(&mut self, l: Loc) {
        self.reconnect(l);
        self.send_periodic(l);
        if self.s.tilt {
            if mstime() - self.s.tilt_start_time < self.s.timing.tilt_period {
                return;
            }
            self.s.tilt = false;
            self.event(Level::Warning, "-tilt", None, "#tilt mode exited");
        }
        self.check_sdown(l);
        if l.kind == Kind::Master {
            self.check_odown(l.m);
            if self.start_failover_if_needed(l.m) {
                self.ask_master_state(l.m, true);
            }
            self.failover_state_machine(l.m);
            self.ask_master_state(l.m, false);
        }
    }

    /// One run of sentinelTimer.
    pub fn timer(&mut self) {
        let now = mstime();
        let delta = now - self.s.previous_time;
        if delta < 0 || delta > self.s.timing.tilt_trigger {
            self.s.tilt = true;
            self.s.tilt_start_time = mstime();
            self.event(Level::Warning, "+tilt", None, "#tilt mode entered");
        }
        self.s.previous_time = mstime();
        let mut switch = None;
        let mut m = 0;
        while m < self.s.masters.len() {
            self.handle_instance(Loc::master(m));
            let mut i = 0;
            while i < self.s.masters[m].slaves.len() {
                self.handle_instance(Loc {
                    m,
                    kind: Kind::Slave,
                    i,
                });
                i += 1;
            }
            let mut i = 0;
            while i < self.s.masters[m].sentinels.len() {
                self.handle_instance(Loc {
                    m,
                    kind: Kind::Sentinel,
                    i,
                });
                i += 1;
            }
            if self.s.masters[m].failover_state == FO_UPDATE_CONFIG {
                switch = Some(m);
            }
            m += 1;
        }
        if let Some(m) = switch {
            self.switch_to_promoted(m);
        }
        self.scripts.run(&self.s.timing);
    }
}

/// `slaveN:ip=..,port=..,...` (or the old `slaveN:<ip>,<port>,<state>`): ip and port.
fn parse_slave_line(l: &str) -> Option<(String, i64)> {
    if !l.contains("ip=") {
        let rest = &l[l.find(':')? + 1..];
        let mut it = rest.split(',');
        let ip = it.next()?.to_string();
        let port = it.next()?;
        it.next()?;
        return Some((ip, config::atoi(port)));
    }
    let ip_at = l.find("ip=")? + 3;
    let port_at = l.find("port=")? + 5;
    let ip = l[ip_at..].split(',').next()?.to_string();
    let port = l[port_at..].split(',').next()?;
    Some((ip, config::atoi(port)))
}

fn sim_failure_crash() -> ! {
    log::log(
        Level::Warning,
        "Sentinel CRASH because of SENTINEL simulate-failure",
    );
    std::process::exit(99);
}

/// Header of a pushed pub/sub message: `*n` in RESP2, `>n` in RESP3.
pub fn push_header(b: &mut Vec<u8>, resp: u8, n: usize) {
    b.extend_from_slice(format!("{}{}\r\n", if resp >= 3 { '>' } else { '*' }, n).as_bytes());
}

pub fn bulk(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(format!("${}\r\n", s.len()).as_bytes());
    b.extend_from_slice(s);
    b.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slave_lines() {
        assert_eq!(
            parse_slave_line("slave0:ip=127.0.0.1,port=30001,state=online,offset=1,lag=0"),
            Some(("127.0.0.1".into(), 30001))
        );
        assert_eq!(
            parse_slave_line("slave1:10.0.0.1,6380,online"),
            Some(("10.0.0.1".into(), 6380))
        );
    }
}
