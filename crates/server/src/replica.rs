//! The replica side of replication: REPLICAOF/SLAVEOF, the link to the master (a local task
//! that connects, does the handshake, receives the snapshot, loads it and then applies the
//! master's stream), REPLCONF ACK every second, reconnection with back-off, ROLE and the
//! replica's INFO fields.
//!
//! The master's stream is applied by a *master client* (a `Client` with no socket of its own)
//! through the ordinary dispatcher: the commands run like any other, their replies are
//! dropped, writes are allowed on a read-only replica, and nothing is re-propagated — the
//! exact bytes of each applied command are proxied to this server's own replicas instead, so a
//! chain of replicas receives the same stream.

use crate::client::{Client, ClientHandle};
use crate::repl_link::{Features, Link, LinkBytes, SyncBuf};
use crate::server::{now_ms, Server};
use crate::{notice, warning};
use cinnabar_resp::parse::Source;
use cinnabar_resp::{Args, CommandParser, Limits};
use std::cell::RefCell;
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Where the link to the master stands (`ROLE`'s and INFO's words).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    Transfer,
    Connected,
}

impl LinkState {
    /// The state as ROLE names it.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// This server's master, when it is a replica.
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Bumped on every REPLICAOF: a link task of an older generation stops.
    pub generation: u64,
    pub task: Option<tokio::task::JoinHandle<()>>,
    pub last_io: Instant,
    pub down_since: Instant,
    /// Snapshot transfer progress (bytes expected, -1 when unknown; bytes read).
    pub sync_total: i64,
    pub sync_read: i64,
    pub sync_last_io: Instant,
    /// What the master granted (a Cinnabar master): rdb-channel, zstd.
    pub features: Features,
    /// During an rdb-channel full sync: the stream received meanwhile.
    pub sync_buf: Option<Rc<RefCell<SyncBuf>>>,
    /// Plain and wire bytes received from the master (all connections of this link).
    pub bytes: Rc<LinkBytes>,
}

/// REPLICAOF host port | NO ONE (and SLAVEOF).
pub fn replicaof(s: &mut Server, c: &mut Client, a: Args) {
    if s.failover.is_some() {
        return c
            .reply
            .error("ERR REPLICAOF not allowed while failing over.");
    }
    if a.get(1).eq_ignore_ascii_case(b"no") && a.get(2).eq_ignore_ascii_case(b"one") {
        if s.master.is_some() {
            become_master(s);
            notice!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                c.handle.id,
                c.handle.addr
            );
        }
        return c.reply.ok();
    }
    if c.repl.is_replica {
        return c
            .reply
            .error("ERR Command is not valid when client is a replica.");
    }
    let host = String::from_utf8_lossy(a.get(1)).into_owned();
    let port = match cinnabar_util::num::string2ll(a.get(2)) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => return c.reply.error("ERR Invalid master port"),
    };
    if let Some(m) = &s.master {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port {
            notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            return c.reply.simple("OK Already connected to specified master");
        }
    }
    set_master(s, host.clone(), port);
    notice!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        c.handle.id,
        c.handle.addr
    );
    c.reply.ok();
}

/// Points this server at a master and starts the link task.
pub fn set_master(s: &mut Server, host: String, port: u16) {
    let generation = s.master.as_ref().map_or(0, |m| m.generation) + 1;
    stop_link(s);
    if s.master.is_none() {
        // Clients blocked on keys would otherwise be served by the new master's writes and
        // pop on this replica alone: they are unblocked with an error, as Redis does.
        let blocked: Vec<u64> = s.blocked.waiters.keys().copied().collect();
        for id in blocked {
            crate::blocking::unblock(
                s,
                id,
                Some("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"),
            );
        }
        // A master turning replica offers its own history (replid, offset) to the new
        // master, which knows it when it was our replica: a partial resync (PSYNC2), as
        // Redis's replicationCacheMasterUsingMyself.
        s.master_cached = true;
    }
    notice!("Connecting to MASTER {host}:{port}");
    s.ks.set_replica(true);
    s.cfg.set_replicaof(Some((&host, port)));
    let now = Instant::now();
    s.master = Some(MasterLink {
        host,
        port,
        state: LinkState::Connect,
        generation,
        task: None,
        last_io: now,
        down_since: now,
        sync_total: -1,
        sync_read: 0,
        sync_last_io: now,
        features: Features::default(),
        sync_buf: None,
        bytes: Rc::new(LinkBytes::default()),
    });
    if let Some(srv) = crate::server_rc() {
        let task = tokio::task::spawn_local(link_task(srv, generation));
        if let Some(m) = s.master.as_mut() {
            m.task = Some(task);
        }
    }
}

fn stop_link(s: &mut Server) {
    if let Some(m) = s.master.as_mut() {
        if let Some(t) = m.task.take() {
            t.abort();
        }
    }
    if let Some(id) = s.master_client.take() {
        s.clients.remove(&id);
    }
}

/// A new replication history begins: the old id is kept as the second one.
fn shift_replid(s: &mut Server) {
    s.replid2 = std::mem::replace(&mut s.replid, crate::server::random_hex40());
    s.second_repl_offset = s.prop.offset as i64 + 1;
}

/// A FAILOVER under way: writes are paused until it completes or is aborted.
pub struct Failover {
    /// The replica to hand over to (None: the first that catches up).
    pub target: Option<(String, u16)>,
    /// Unix ms after which waiting stops (0: wait forever).
    pub end_ms: i64,
    pub force: bool,
    /// The handover has begun: we are connecting to the target as its replica.
    pub in_progress: bool,
}

/// INFO `master_failover_state`.
pub fn failover_state(s: &Server) -> &'static str {
    match &s.failover {
        None => "no-failover",
        Some(f) if f.in_progress => "failover-in-progress",
        Some(_) => "waiting-for-sync",
    }
}

/// The attached replica listening on `host:port`.
fn find_replica<'a>(
    s: &'a Server,
    host: &str,
    port: u16,
) -> Option<&'a crate::client::ClientHandle> {
    s.replicas
        .iter()
        .filter_map(|id| s.clients.get(id))
        .find(|h| {
            let ip = h
                .addr
                .rsplit_once(':')
                .map_or(h.addr.as_str(), |(ip, _)| ip);
            ip.eq_ignore_ascii_case(host) && h.repl_port.get() == port
        })
        .map(|h| &**h)
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT: a coordinated handover to
/// a replica. Writes are paused; once the replica has acknowledged the whole stream (its
/// REPLCONF ACK, every second), or the timeout passed with FORCE, this server becomes its replica and asks it, with
/// `PSYNC <replid> <offset> FAILOVER`, to become the master.
pub fn failover(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() == 2 && a.get(1).eq_ignore_ascii_case(b"abort") {
        if s.failover.is_none() {
            return c.reply.error("ERR No failover in progress.");
        }
        abort_failover(s, "Failover manually aborted");
        return c.reply.ok();
    }
    let (mut timeout, mut force, mut target) = (0i64, false, None);
    let mut j = 1;
    while j < a.len() {
        let opt = a.get(j);
        if opt.eq_ignore_ascii_case(b"timeout") && j + 1 < a.len() && timeout == 0 {
            let Some(t) = cinnabar_util::num::string2ll(a.get(j + 1)) else {
                return c.reply.error("ERR value is not an integer or out of range");
            };
            if t <= 0 {
                return c.reply.error("ERR FAILOVER timeout must be greater than 0");
            }
            timeout = t;
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"to") && j + 2 < a.len() && target.is_none() {
            let Some(p) = cinnabar_util::num::string2ll(a.get(j + 2)) else {
                return c.reply.error("ERR value is not an integer or out of range");
            };
            target = Some((String::from_utf8_lossy(a.get(j + 1)).into_owned(), p));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            return c.reply.error("ERR syntax error");
        }
    }
    if s.failover.is_some() {
        return c.reply.error("ERR FAILOVER already in progress.");
    }
    if s.master.is_some() {
        return c
            .reply
            .error("ERR FAILOVER is not valid when server is a replica.");
    }
    if s.replicas.is_empty() {
        return c.reply.error("ERR FAILOVER requires connected replicas.");
    }
    if force && (timeout == 0 || target.is_none()) {
        return c.reply.error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
    }
    let target = match target {
        Some((host, port)) => {
            let found = u16::try_from(port)
                .ok()
                .and_then(|p| find_replica(s, &host, p).map(|h| (p, h.repl_ack_off.get())));
            let Some((port, ack)) = found else {
                return c
                    .reply
                    .error("ERR FAILOVER target HOST and PORT is not a replica.");
            };
            if ack < 0 {
                return c.reply.error("ERR FAILOVER target replica is not online.");
            }
            notice!("FAILOVER requested to {host}:{port}.");
            Some((host, port))
        }
        None => {
            notice!("FAILOVER requested to any replica.");
            None
        }
    };
    s.failover = Some(Failover {
        target,
        end_ms: if timeout > 0 {
            crate::server::now_ms() + timeout
        } else {
            0
        },
        force,
        in_progress: false,
    });
    // Nothing more enters the stream now (not even GETACK, which would move the offset the
    // replicas must reach): their once-a-second REPLCONF ACK tells when one has caught up.
    c.reply.ok();
}

/// Ends a failover that did not complete: writes resume (and a begun handover is undone).
fn abort_failover(s: &mut Server, why: &str) {
    let Some(f) = s.failover.take() else {
        return;
    };
    match &f.target {
        Some((h, p)) => notice!("FAILOVER to {h}:{p} aborted: {why}"),
        None => notice!("FAILOVER to any replica aborted: {why}"),
    }
    if f.in_progress {
        stop_link(s);
        s.master = None;
        s.ks.set_replica(false);
        s.cfg.set_replicaof(None);
        s.master_cached = false;
    }
    s.pause_notify.notify_waiters();
}

/// The failover's part of the cron: times out, or starts the handover once the target (or
/// any replica) has acknowledged the whole stream.
pub fn failover_cron(s: &mut Server) {
    let Some(f) = &s.failover else {
        return;
    };
    if f.in_progress {
        return;
    }
    let now = crate::server::now_ms();
    if f.end_ms > 0 && f.end_ms <= now {
        if f.force {
            if let Some((host, port)) = f.target.clone() {
                notice!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                start_handover(s, host, port);
            }
        } else {
            abort_failover(s, "Replica never caught up before timeout");
        }
        return;
    }
    let off = s.prop.offset as i64;
    let caught_up = match &f.target {
        Some((host, port)) => find_replica(s, host, *port)
            .filter(|h| h.repl_ack_off.get() == off)
            .map(|_| (host.clone(), *port)),
        None => s
            .replicas
            .iter()
            .filter_map(|id| s.clients.get(id))
            .find(|h| h.repl_ack_off.get() == off)
            .map(|h| {
                let ip = h
                    .addr
                    .rsplit_once(':')
                    .map_or(h.addr.as_str(), |(ip, _)| ip);
                (ip.to_string(), h.repl_port.get())
            }),
    };
    if let Some((host, port)) = caught_up {
        notice!("Failover target {host}:{port} is synced, failing over.");
        start_handover(s, host, port);
    }
}

fn start_handover(s: &mut Server, host: String, port: u16) {
    if let Some(f) = s.failover.as_mut() {
        f.in_progress = true;
        f.target = Some((host.clone(), port));
    }
    set_master(s, host, port);
}

/// The new master answered our `PSYNC ... FAILOVER`: the failover is complete (Ok) or
/// refused.
fn failover_answered(s: &mut Server, accepted: bool) {
    if s.failover.as_ref().is_some_and(|f| f.in_progress) {
        if accepted {
            s.failover = None;
            s.pause_notify.notify_waiters();
        } else {
            abort_failover(s, "Failover target rejected psync request");
        }
    }
}

/// CLIENT KILL of the master link: the link starts over (its task is replaced), keeping
/// our history so that the master can continue it with a partial resync.
pub fn reconnect(s: &mut Server) {
    if let Some(m) = &s.master {
        let (host, port) = (m.host.clone(), m.port);
        notice!("Connection with master lost.");
        set_master(s, host, port);
    }
}

/// REPLICAOF NO ONE.
pub fn become_master(s: &mut Server) {
    stop_link(s);
    s.master = None;
    s.ks.set_replica(false);
    s.cfg.set_replicaof(None);
    shift_replid(s);
    s.prop.reset_db();
}

fn is_current(srv: &Rc<RefCell<Server>>, generation: u64) -> bool {
    srv.borrow()
        .master
        .as_ref()
        .is_some_and(|m| m.generation == generation)
}

fn set_state(srv: &Rc<RefCell<Server>>, generation: u64, st: LinkState) {
    let mut s = srv.borrow_mut();
    if let Some(m) = s.master.as_mut().filter(|m| m.generation == generation) {
        if st != LinkState::Connected && m.state == LinkState::Connected {
            m.down_since = Instant::now();
        }
        m.state = st;
    }
}

/// Connects, synchronizes and applies the stream; reconnects after a second whenever the link
/// breaks, for as long as this generation is current.
async fn link_task(srv: Rc<RefCell<Server>>, generation: u64) {
    loop {
        if !is_current(&srv, generation) {
            return;
        }
        if let Err(e) = sync_once(&srv, generation).await {
            warning!("{e}");
        }
        {
            let mut s = srv.borrow_mut();
            if let Some(id) = s.master_client.take() {
                s.clients.remove(&id);
            }
        }
        set_state(&srv, generation, LinkState::Connect);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads one `\n`-terminated line (without CR/LF). Empty lines are keep-alives from a master
/// preparing the snapshot.
async fn read_line(
    link: &mut Link,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<String, String> {
    loop {
        if let Some(p) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=p).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if buf.len() > 64 * 1024 {
            return Err("Master sent an over-long line".into());
        }
        let n = tokio::time::timeout(timeout, link.read(buf))
            .await
            .map_err(|_| "Timeout connecting to the MASTER...".to_string())?
            .map_err(|e| format!("Error reading from MASTER: {e}"))?;
        if n == 0 {
            return Err("Master closed the connection".into());
        }
    }
}

async fn command(
    link: &mut Link,
    buf: &mut Vec<u8>,
    args: &[&[u8]],
    timeout: Duration,
) -> Result<String, String> {
    let mut out = Vec::new();
    crate::persist::encode_cmd(&mut out, args);
    link.sock
        .write_all(&out)
        .await
        .map_err(|e| format!("Error writing to MASTER: {e}"))?;
    read_line(link, buf, timeout).await
}

/// What a link's connections need to know to reach and talk to the master.
struct LinkParams {
    host: String,
    port: u16,
    timeout: Duration,
    auth: Option<String>,
    user: Option<String>,
    my_port: u16,
    /// Features to ask a Cinnabar master for.
    want: Features,
    bytes: Rc<LinkBytes>,
}

/// Connects and does the handshake up to (not including) PSYNC: PING, AUTH, REPLCONF
/// listening-port, capa, and the Cinnabar features. Returns the link, what was read past
/// the last reply, and what the master granted.
async fn handshake(p: &LinkParams) -> Result<(Link, Vec<u8>, Features), String> {
    let sock = tokio::time::timeout(p.timeout, TcpStream::connect((p.host.as_str(), p.port)))
        .await
        .map_err(|_| "Timeout connecting to the MASTER...".to_string())?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = sock.set_nodelay(true);
    let mut link = Link::new(sock, p.bytes.clone());
    let mut buf = Vec::new();
    let timeout = p.timeout;
    let pong = command(&mut link, &mut buf, &[b"PING"], timeout).await?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    if let Some(pass) = &p.auth {
        let r = match &p.user {
            Some(u) => {
                command(
                    &mut link,
                    &mut buf,
                    &[b"AUTH", u.as_bytes(), pass.as_bytes()],
                    timeout,
                )
                .await?
            }
            None => command(&mut link, &mut buf, &[b"AUTH", pass.as_bytes()], timeout).await?,
        };
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let port = p.my_port.to_string();
    let r = command(
        &mut link,
        &mut buf,
        &[b"REPLCONF", b"listening-port", port.as_bytes()],
        timeout,
    )
    .await?;
    if r.starts_with('-') {
        notice!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    let r = command(
        &mut link,
        &mut buf,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
        timeout,
    )
    .await?;
    if r.starts_with('-') {
        notice!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    let mut granted = Features::default();
    let want = p.want.words();
    if !want.is_empty() {
        // A real Redis answers with an error: the link stays Redis's protocol.
        let r = command(
            &mut link,
            &mut buf,
            &[b"REPLCONF", b"cinnabar-features", want.as_bytes()],
            timeout,
        )
        .await?;
        if let Some(rest) = r.strip_prefix("+OK") {
            granted = Features::parse(rest.trim().as_bytes());
        }
    }
    Ok((link, buf, granted))
}

/// Opens the stream connection of an rdb-channel full sync: PSYNC at the snapshot's offset on
/// a second connection, on behalf of client `first_id` (our snapshot connection). `None` when
/// the master would not (the stream then follows the snapshot on the first connection).
async fn open_stream_channel(
    p: &LinkParams,
    first_id: &str,
    replid: &str,
    offset: u64,
) -> Option<(Link, Vec<u8>)> {
    let attempt = async {
        let (mut link, mut buf, granted) = handshake(p).await?;
        let r = command(
            &mut link,
            &mut buf,
            &[b"REPLCONF", b"rdb-channel-for", first_id.as_bytes()],
            p.timeout,
        )
        .await?;
        if r.starts_with('-') {
            return Err(r);
        }
        let o = (offset + 1).to_string();
        let r = command(
            &mut link,
            &mut buf,
            &[b"PSYNC", replid.as_bytes(), o.as_bytes()],
            p.timeout,
        )
        .await?;
        if !r.starts_with("+CONTINUE") {
            return Err(r);
        }
        if granted.zstd {
            link.start_decompress(&mut buf)
                .map_err(|e| format!("zstd: {e}"))?;
        }
        Ok::<_, String>((link, buf))
    };
    match attempt.await {
        Ok(x) => Some(x),
        Err(e) => {
            notice!("MASTER <-> REPLICA sync: no stream channel ({e}); the stream will follow the snapshot");
            None
        }
    }
}

/// The stream connection's reader during a full sync: everything the master sends is kept in
/// `buf` until `stop` is signalled; then the link is handed back. An error ends it (and the
/// sync, which finds it in `buf.done`).
async fn buffer_stream(
    mut link: Link,
    first: Vec<u8>,
    buf: Rc<RefCell<SyncBuf>>,
    stop: Rc<tokio::sync::Notify>,
) -> Link {
    if let Err(e) = buf.borrow_mut().push(&first) {
        buf.borrow_mut().done = Some(Err(format!("Can't buffer the master's stream: {e}")));
        return link;
    }
    let mut data = Vec::with_capacity(64 * 1024);
    loop {
        data.clear();
        let r = tokio::select! {
            biased;
            _ = stop.notified() => {
                buf.borrow_mut().done = Some(Ok(()));
                return link;
            }
            r = link.read(&mut data) => r,
        };
        // No timeout here: the channel is silent until the master moves the stream to it, and
        // the snapshot connection's own timeouts tell a dead master.
        let err = match r {
            Err(e) => Some(format!("Error reading the stream channel: {e}")),
            Ok(0) => Some("The master closed the stream channel".to_string()),
            Ok(_) => buf
                .borrow_mut()
                .push(&data)
                .err()
                .map(|e| format!("Can't buffer the master's stream: {e}")),
        };
        if let Some(e) = err {
            buf.borrow_mut().done = Some(Err(e));
            return link;
        }
    }
}

async fn sync_once(srv: &Rc<RefCell<Server>>, generation: u64) -> Result<(), String> {
    let (params, dir_rdb, buf_limit) = {
        let s = srv.borrow();
        let Some(m) = s.master.as_ref() else {
            return Ok(());
        };
        let on = |k: &str, yes: &str| s.cfg.get_value(k).is_none_or(|v| v == yes);
        let hard = s
            .cfg
            .client_output_buffer_limit(cinnabar_config::ClientClass::Replica)
            .hard;
        let limit = s
            .cfg
            .get_value("replica-full-sync-buffer-limit")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&l| l > 0)
            .unwrap_or(if hard > 0 { hard } else { 256 << 20 });
        (
            LinkParams {
                host: m.host.clone(),
                port: m.port,
                timeout: Duration::from_secs(
                    s.cfg
                        .get_value("repl-timeout")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(60u64)
                        .max(1),
                ),
                auth: s.cfg.get_value("masterauth").filter(|v| !v.is_empty()),
                user: s.cfg.get_value("masteruser").filter(|v| !v.is_empty()),
                my_port: s.settings.port,
                want: Features {
                    rdb_channel: on("repl-rdb-channel", "yes"),
                    zstd: on("repl-compression", "zstd"),
                },
                bytes: m.bytes.clone(),
            },
            crate::persist::rdb_file_path(&s),
            limit.min(usize::MAX as u64) as usize,
        )
    };
    let (host, port, timeout) = (params.host.clone(), params.port, params.timeout);
    set_state(srv, generation, LinkState::Connecting);
    notice!("MASTER <-> REPLICA sync started");
    set_state(srv, generation, LinkState::Handshake);
    let (mut link, mut buf, granted) = handshake(&params).await?;
    notice!("Master replied to PING, replication can continue...");
    // The snapshot connection's client id, for the stream connection to name it.
    let mut first_id: Option<String> = None;
    if granted.rdb_channel {
        let r = command(&mut link, &mut buf, &[b"CLIENT", b"ID"], timeout).await?;
        first_id = r.strip_prefix(':').map(str::to_string);
    }
    {
        let mut s = srv.borrow_mut();
        if let Some(m) = s.master.as_mut().filter(|m| m.generation == generation) {
            m.features = granted;
        }
    }
    let cached = {
        let s = srv.borrow();
        s.master_cached
            .then(|| (s.replid.clone(), s.prop.offset + 1))
    };
    let failing_over = srv
        .borrow()
        .failover
        .as_ref()
        .is_some_and(|f| f.in_progress);
    let r = match &cached {
        Some((id, off)) => {
            notice!("Trying a partial resynchronization (request {id}:{off}).");
            let o = off.to_string();
            let mut argv: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), o.as_bytes()];
            if failing_over {
                argv.push(b"FAILOVER");
            }
            command(&mut link, &mut buf, &argv, timeout).await?
        }
        None => {
            notice!("Partial resynchronization not possible (no cached master)");
            command(&mut link, &mut buf, &[b"PSYNC", b"?", b"-1"], timeout).await?
        }
    };
    if failing_over {
        failover_answered(
            &mut srv.borrow_mut(),
            r.starts_with("+CONTINUE") || r.starts_with("+FULLRESYNC"),
        );
    }
    if granted.zstd && (r.starts_with("+CONTINUE") || r.starts_with("+FULLRESYNC")) {
        link.start_decompress(&mut buf)
            .map_err(|e| format!("Bad compressed data from MASTER: {e}"))?;
    }
    if let Some(rest) = r.strip_prefix("+CONTINUE") {
        // Same history: keep the data and go on with the stream.
        let new_id = rest.trim().to_string();
        let handle = {
            let mut s = srv.borrow_mut();
            if !new_id.is_empty() && new_id != s.replid {
                // The master was promoted: its new id, our old one as the second.
                s.replid2 = std::mem::replace(&mut s.replid, new_id);
                s.second_repl_offset = s.prop.offset as i64 + 1;
                // Our replicas must learn the new id too.
                for id in std::mem::take(&mut s.replicas) {
                    if let Some(h) = s.clients.get(&id) {
                        h.kill();
                    }
                }
            }
            let h = master_handle(&mut s, &host, port);
            s.master_client = Some(h.id);
            if let Some(m) = s.master.as_mut() {
                m.state = LinkState::Connected;
                m.last_io = Instant::now();
            }
            h
        };
        notice!("Successful partial resynchronization with master.");
        notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        let left = std::mem::take(&mut buf);
        let db = srv.borrow().master_db;
        let mut c = master_client(handle, db);
        return apply_loop(srv, generation, &mut link, left, &mut c, timeout).await;
    }
    let Some(rest) = r.strip_prefix("+FULLRESYNC ") else {
        return Err(format!("Unexpected reply to PSYNC from master: {r}"));
    };
    let mut parts = rest.split_whitespace();
    let master_replid = parts.next().unwrap_or_default().to_string();
    let master_offset: u64 = parts.next().and_then(|o| o.parse().ok()).unwrap_or(0);
    notice!("Full resync from master: {master_replid}:{master_offset}");
    set_state(srv, generation, LinkState::Transfer);
    // The stream channel: the master's writes from the snapshot's offset on, kept here
    // while the snapshot arrives and loads.
    let mut channel = None;
    if let Some(id) = &first_id {
        if let Some((blink, first)) =
            open_stream_channel(&params, id, &master_replid, master_offset).await
        {
            let tmp = dir_rdb.with_file_name(format!(
                "temp-stream-{}.{}.buf",
                now_ms() / 1000,
                std::process::id()
            ));
            let sbuf = Rc::new(RefCell::new(SyncBuf::new(buf_limit, tmp)));
            let stop = Rc::new(tokio::sync::Notify::new());
            let task =
                tokio::task::spawn_local(buffer_stream(blink, first, sbuf.clone(), stop.clone()));
            if let Some(m) = srv.borrow_mut().master.as_mut() {
                m.sync_buf = Some(sbuf.clone());
            }
            notice!("MASTER <-> REPLICA sync: a second connection stands by for the stream (rdb-channel)");
            channel = Some(StreamChannel {
                buf: sbuf,
                stop,
                task: Some(task),
            });
        }
    }
    let result = full_sync(
        srv,
        generation,
        &mut link,
        buf,
        timeout,
        &dir_rdb,
        (&host, port),
        (master_replid, master_offset),
        channel,
    )
    .await;
    if let Some(m) = srv.borrow_mut().master.as_mut() {
        m.sync_buf = None;
    }
    result
}

/// Ends the `loading` state a diskless load set when its transfer stops early.
struct LoadingGuard(Rc<RefCell<Server>>);

impl Drop for LoadingGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.try_borrow_mut() {
            s.loading = None;
        }
    }
}

/// Drops the side databases of an async load that did not complete (the old stay).
struct AsyncGuard(Rc<RefCell<Server>>);

impl Drop for AsyncGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.try_borrow_mut() {
            s.async_side = None;
        }
    }
}

/// An empty database for a replica's side load.
fn side_db() -> cinnabar_keyspace::db::Db {
    let mut d = cinnabar_keyspace::db::Db::new();
    d.replica = true;
    d
}

/// The second connection of an rdb-channel full sync, while its reader buffers.
struct StreamChannel {
    buf: Rc<RefCell<SyncBuf>>,
    stop: Rc<tokio::sync::Notify>,
    task: Option<tokio::task::JoinHandle<Link>>,
}

impl Drop for StreamChannel {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Receives the snapshot (into a temp file), loads it, then applies the stream: what
/// followed the snapshot on this connection, or with a stream channel, what it buffered and
/// then that connection.
#[allow(clippy::too_many_arguments)]
async fn full_sync(
    srv: &Rc<RefCell<Server>>,
    generation: u64,
    link: &mut Link,
    mut buf: Vec<u8>,
    timeout: Duration,
    dir_rdb: &std::path::Path,
    (host, port): (&str, u16),
    (master_replid, master_offset): (String, u64),
    channel: Option<StreamChannel>,
) -> Result<(), String> {
    // The snapshot: `$EOF:<mark>` (diskless) or `$<length>`.
    let head = read_line(link, &mut buf, timeout).await?;
    if head.starts_with('-') {
        return Err(format!("MASTER aborted replication with an error: {head}"));
    }
    let Some(spec) = head.strip_prefix('$') else {
        return Err(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?"));
    };
    let tmp = dir_rdb.with_file_name(format!(
        "temp-{}.{}.rdb",
        now_ms() / 1000,
        std::process::id()
    ));
    let mut file = std::fs::File::create(&tmp).map_err(|e| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    })?;
    let mark: Option<Vec<u8>> = spec.strip_prefix("EOF:").map(|m| m.as_bytes().to_vec());
    let total: Option<u64> = if mark.is_none() {
        Some(
            spec.parse()
                .map_err(|_| format!("Bad snapshot length from MASTER: '{spec}'"))?,
        )
    } else {
        None
    };
    {
        let mut s = srv.borrow_mut();
        if let Some(m) = s.master.as_mut() {
            m.sync_total = total.map_or(-1, |t| t as i64);
            m.sync_read = 0;
        }
    }
    // repl-diskless-load swapdb (or on-empty-db with nothing to lose): the replica is
    // loading from the first byte, as Redis's diskless load (the bytes are staged in the temp
    // file), and swapdb keeps the old data until the new has loaded.
    // swapdb with the same history as our data (the master's id is ours): async loading,
    // the old data stays served during the transfer and the load (INFO async_loading).
    let (swapdb, load_now, async_load) = {
        let s = srv.borrow();
        let mode = s.cfg.get_value("repl-diskless-load").unwrap_or_default();
        let empty = s.ks.dbs.iter().all(|d| d.main.is_empty());
        let swapdb = mode == "swapdb" && s.persist.bgsave.is_none();
        let async_load = swapdb && s.replid == master_replid;
        (
            swapdb && !async_load,
            !async_load && (mode == "swapdb" || (mode == "on-empty-db" && empty)),
            async_load,
        )
    };
    let loading_guard = load_now.then(|| {
        srv.borrow_mut().loading = Some(crate::persist::Loading::receiving(total.unwrap_or(0)));
        LoadingGuard(srv.clone())
    });
    let async_guard = async_load.then(|| {
        let mut s = srv.borrow_mut();
        let n = s.ks.dbs.len();
        s.async_side = Some((0..n).map(|_| side_db()).collect());
        AsyncGuard(srv.clone())
    });
    notice!(
        "MASTER <-> REPLICA sync: receiving {} bytes from master to disk",
        total.map_or("streamed".to_string(), |t| t.to_string())
    );
    if load_now || async_load {
        // A diskless-load replica is loading from the first byte (as Redis's).
        notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    }
    let mut read: u64 = 0;
    let mut tail: Vec<u8> = Vec::new();
    let mut leftover: Vec<u8> = Vec::new();
    let mut pending = buf;
    loop {
        if pending.is_empty() {
            let n = tokio::time::timeout(timeout, link.read(&mut pending))
                .await
                .map_err(|_| "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".to_string())?
                .map_err(|e| format!("I/O error trying to sync with MASTER: {e}"))?;
            if n == 0 {
                let _ = std::fs::remove_file(&tmp);
                return Err("I/O error trying to sync with MASTER: connection lost".into());
            }
        }
        let data = std::mem::take(&mut pending);
        match (&mark, total) {
            (None, Some(t)) => {
                let want = (t - read).min(data.len() as u64) as usize;
                file.write_all(&data[..want])
                    .map_err(|e| format!("Write error writing the RDB: {e}"))?;
                read += want as u64;
                if want < data.len() {
                    leftover = data[want..].to_vec();
                }
                if read == t {
                    break;
                }
            }
            (Some(m), _) => {
                let (body, rest) = split_at_mark(&mut tail, &data, m);
                file.write_all(&body)
                    .map_err(|e| format!("Write error writing the RDB: {e}"))?;
                read += body.len() as u64;
                if let Some(rest) = rest {
                    leftover = rest;
                    let mut s = srv.borrow_mut();
                    if let Some(m) = s.master.as_mut() {
                        m.sync_read = read as i64;
                    }
                    break;
                }
            }
            _ => unreachable_state()?,
        }
        let mut s = srv.borrow_mut();
        if let Some(m) = s.master.as_mut() {
            m.sync_read = read as i64;
            m.sync_last_io = Instant::now();
        }
        if let Some(l) = s.loading.as_ref() {
            l.set_read(read);
        }
        drop(s);
        if let Some(ch) = &channel {
            // A stream channel that failed after the stream moved there ends the sync (one
            // closed while still armed just means the stream stays here).
            let b = ch.buf.borrow();
            if let (Some(Err(e)), true) = (&b.done, b.total > 0) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.clone());
            }
        }
    }
    file.sync_all().map_err(|e| {
        format!(
            "Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}"
        )
    })?;
    drop(file);
    if !is_current(srv, generation) {
        let _ = std::fs::remove_file(&tmp);
        return Ok(());
    }
    let mut backup = None;
    {
        let mut s = srv.borrow_mut();
        if async_load {
            notice!("MASTER <-> REPLICA sync: Loading the new data aside, the old data stays served (async loading)");
        } else if swapdb {
            notice!("MASTER <-> REPLICA sync: Backing up the old databases (swapdb)");
            let n = s.ks.dbs.len();
            let fresh: Vec<cinnabar_keyspace::db::Db> = (0..n).map(|_| side_db()).collect();
            backup = Some(std::mem::replace(&mut s.ks.dbs, fresh));
            s.ks.set_replica(true);
        } else {
            notice!("MASTER <-> REPLICA sync: Flushing old data");
            for db in s.ks.dbs.iter_mut() {
                db.clear();
            }
        }
        // Our own replicas hold the old history: they must resynchronize.
        for id in std::mem::take(&mut s.replicas) {
            if let Some(h) = s.clients.get(&id) {
                h.kill();
            }
        }
        s.master_cached = false;
        crate::propagate::refresh_enabled(&mut s);
    }
    if !(load_now || async_load) {
        notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    }
    // The loader takes over the `loading` state (no await in between).
    drop(loading_guard);
    if let Err(e) = crate::persist::load_file_async(srv, &tmp, false).await {
        let _ = std::fs::remove_file(&tmp);
        if let Some(old) = backup {
            notice!("MASTER <-> REPLICA sync: Restoring the old databases after a failed load");
            let mut s = srv.borrow_mut();
            s.ks.dbs = old;
            s.ks.set_replica(true);
        }
        return Err(format!(
            "Failed trying to load the MASTER synchronization DB from disk: {e}"
        ));
    }
    if backup.take().is_some() {
        notice!("MASTER <-> REPLICA sync: Discarding the old databases");
    }
    if let Some(g) = async_guard {
        // The new data replaces the old at once.
        let mut s = srv.borrow_mut();
        if let Some(side) = s.async_side.take() {
            s.ks.dbs = side;
            s.ks.set_replica(true);
        }
        notice!("MASTER <-> REPLICA sync: Swapped in the loaded databases (async loading)");
        drop(s);
        drop(g);
    }
    {
        let s = srv.borrow();
        let dest = crate::persist::rdb_file_path(&s);
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    // The link is up: the master's stream from the snapshot's offset on.
    let handle = {
        let mut s = srv.borrow_mut();
        s.replid = master_replid;
        s.replid2 = "0".repeat(40);
        s.second_repl_offset = -1;
        s.prop.offset = master_offset;
        s.prop.reset_db();
        // Our backlog holds the master's history from here (for our replicas' PSYNC and
        // for our own partial resync after a promotion).
        s.repl_buf.deactivate();
        s.repl_buf.activate(master_offset);
        s.master_cached = true;
        crate::propagate::refresh_enabled(&mut s);
        let h = master_handle(&mut s, host, port);
        s.master_client = Some(h.id);
        if let Some(m) = s.master.as_mut() {
            m.state = LinkState::Connected;
            m.last_io = Instant::now();
        }
        h
    };
    notice!("MASTER <-> REPLICA sync: Finished with success");
    let mut c = master_client(handle, 0);
    // With a stream channel, the master decided when the snapshot ended: the stream moved
    // there (it has sent something), or it stays here (the channel is closed, empty).
    let moved = match &channel {
        None => false,
        Some(ch) => {
            let since = Instant::now();
            loop {
                {
                    let b = ch.buf.borrow();
                    if b.total > 0 {
                        break true;
                    }
                    if b.done.is_some() {
                        break false;
                    }
                }
                if since.elapsed() > timeout {
                    return Err(
                        "MASTER timeout: the stream channel neither started nor closed".into(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let Some(mut ch) = channel.filter(|_| moved) else {
        return apply_loop(srv, generation, link, leftover, &mut c, timeout).await;
    };
    // Apply what the stream channel buffered (it keeps reading meanwhile), then hand over to
    // that connection. The snapshot connection has done its part.
    let _ = link.sock.shutdown().await;
    let mut qbuf = Vec::new();
    let mut parser = CommandParser::new();
    let mut stopped = None;
    loop {
        let chunk = ch
            .buf
            .borrow_mut()
            .take(4 << 20)
            .map_err(|e| format!("Can't read back the buffered stream: {e}"))?;
        if chunk.is_empty() {
            if stopped.is_some() {
                break;
            }
            ch.stop.notify_one();
            let Some(task) = ch.task.take() else {
                return unreachable_state();
            };
            stopped = Some(
                task.await
                    .map_err(|_| "stream channel reader lost".to_string())?,
            );
            continue;
        }
        qbuf.extend_from_slice(&chunk);
        if !is_current(srv, generation) {
            return Ok(());
        }
        let used = {
            let mut s = srv.borrow_mut();
            let (used, _) = apply_buffered(&mut s, &mut parser, &qbuf, &mut c)?;
            crate::propagate::feed(&mut s);
            if let Some(m) = s.master.as_mut() {
                m.last_io = Instant::now();
            }
            used
        };
        qbuf.drain(..used);
        tokio::task::yield_now().await;
    }
    if let Some(Err(e)) = ch.buf.borrow_mut().done.take() {
        return Err(e);
    }
    let Some(mut blink) = stopped else {
        return unreachable_state();
    };
    notice!(
        "MASTER <-> REPLICA sync: buffered stream applied, continuing on the stream connection"
    );
    apply_loop(srv, generation, &mut blink, qbuf, &mut c, timeout).await
}

/// Diskless snapshot framing: appends `data` to the bytes held back in `tail` and returns what
/// is certainly snapshot (to write) and, once the end `mark` is found, what follows it (the
/// start of the stream, which may come in the same read). The last `mark.len() - 1` bytes are
/// held back until it is known they do not begin the mark.
fn split_at_mark(tail: &mut Vec<u8>, data: &[u8], mark: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    tail.extend_from_slice(data);
    if let Some(p) = tail.windows(mark.len()).position(|w| w == mark) {
        let body = tail[..p].to_vec();
        let rest = tail[p + mark.len()..].to_vec();
        tail.clear();
        return (body, Some(rest));
    }
    let keep = mark.len() - 1;
    if tail.len() > keep {
        let cut = tail.len() - keep;
        let body: Vec<u8> = tail.drain(..cut).collect();
        return (body, None);
    }
    (Vec::new(), None)
}

fn unreachable_state() -> Result<(), String> {
    Err("snapshot framing lost".into())
}

/// The client that applies the master's stream (no socket of its own).
fn master_handle(s: &mut Server, host: &str, port: u16) -> Rc<ClientHandle> {
    let h = ClientHandle::internal(s, format!("{host}:{port}"));
    h.is_master_link.set(true);
    h
}

/// The client that applies the master's stream, in database `db`.
fn master_client(handle: Rc<ClientHandle>, db: usize) -> Client {
    let mut c = Client::new(handle, true);
    c.is_master = true;
    c.db = db;
    c
}

/// Applies every complete command at the start of `qbuf` through the master client; returns
/// the bytes used and whether a REPLCONF GETACK was among them.
fn apply_buffered(
    s: &mut Server,
    parser: &mut CommandParser,
    qbuf: &[u8],
    c: &mut Client,
) -> Result<(usize, bool), String> {
    let now = now_ms();
    let mut clock = Instant::now();
    let mut rpos = 0usize;
    let mut getack = false;
    while rpos < qbuf.len() {
        let limits = Limits {
            max_bulk: s.settings.proto_max_bulk_len,
            authenticated: true,
        };
        match parser.parse(&qbuf[rpos..], limits) {
            Ok(Some((n, src))) => {
                let args = match src {
                    Source::Buffer => Args::new(&qbuf[rpos..], &parser.spans),
                    Source::Inline => Args::new(&parser.inline_buf, &parser.spans),
                };
                if !args.is_empty() {
                    if args.get(0).eq_ignore_ascii_case(b"replconf")
                        && args.len() >= 2
                        && args.get(1).eq_ignore_ascii_case(b"getack")
                    {
                        getack = true;
                    } else {
                        s.applying_master = true;
                        for db in s.ks.dbs.iter_mut() {
                            db.replaying = true;
                        }
                        let _ = crate::dispatch::execute(s, c, args, now, &mut clock);
                        if c.reply.out.first() == Some(&b'-')
                            || c.reply.out.windows(3).any(|w| w == b"\r\n-")
                        {
                            report_error_to_master(c, args.get(0));
                        }
                        // Kept as we go: the link task may be aborted at any await
                        // (REPLICAOF elsewhere), and a later partial resync continues
                        // in the database the stream had selected.
                        s.master_db = c.db;
                        for db in s.ks.dbs.iter_mut() {
                            db.replaying = false;
                        }
                        s.applying_master = false;
                        c.reply.out.clear();
                        c.reply.errors.clear();
                    }
                }
                // Proxy the exact bytes to our backlog and our own replicas.
                if s.repl_buf.active {
                    s.prop.stream.extend_from_slice(&qbuf[rpos..rpos + n]);
                }
                s.prop.offset += n as u64;
                rpos += n;
            }
            Ok(None) => break,
            Err(e) => return Err(format!("Protocol error from MASTER: {e}")),
        }
    }
    Ok((rpos, getack))
}

/// A command of the master's stream failed here: the data may now differ from the master's,
/// which Redis reports loudly (the reply itself is never sent to the master).
fn report_error_to_master(c: &Client, name: &[u8]) {
    let out = &c.reply.out;
    let msg = out
        .split(|&b| b == b'\n')
        .find(|l| l.first() == Some(&b'-'))
        .map(|l| String::from_utf8_lossy(&l[1..]).trim_end().to_string())
        .unwrap_or_default();
    let cmd = if msg.starts_with("ERR unknown command") {
        "<unknown>".to_string()
    } else {
        String::from_utf8_lossy(name).to_ascii_lowercase()
    };
    warning!("== CRITICAL == This replica is sending an error to its master: '{msg}' after processing the command '{cmd}'");
}

async fn apply_loop(
    srv: &Rc<RefCell<Server>>,
    generation: u64,
    link: &mut Link,
    mut qbuf: Vec<u8>,
    c: &mut Client,
    timeout: Duration,
) -> Result<(), String> {
    let mut parser = CommandParser::new();
    let mut last_ack = Instant::now() - Duration::from_secs(2);
    loop {
        if !is_current(srv, generation) {
            return Ok(());
        }
        // Apply every complete command in the buffer.
        let (rpos, getack) = {
            let mut s = srv.borrow_mut();
            let r = apply_buffered(&mut s, &mut parser, &qbuf, c)?;
            crate::propagate::feed(&mut s);
            if let Some(m) = s.master.as_mut() {
                if r.0 > 0 {
                    m.last_io = Instant::now();
                }
            }
            r
        };
        qbuf.drain(..rpos);
        // A big command leaves a big buffer behind: give back what the rest does not need
        // (Redis trims the master client's pending query buffer the same way).
        if qbuf.capacity() > 64 * 1024 && qbuf.capacity() / 2 > qbuf.len() {
            qbuf.shrink_to((qbuf.len() * 2).max(16 * 1024));
        }
        if getack || last_ack.elapsed() >= Duration::from_secs(1) {
            let off = srv.borrow().prop.offset.to_string();
            let mut out = Vec::new();
            crate::persist::encode_cmd(&mut out, &[b"REPLCONF", b"ACK", off.as_bytes()]);
            link.sock
                .write_all(&out)
                .await
                .map_err(|e| format!("Error writing to MASTER: {e}"))?;
            last_ack = Instant::now();
        }
        if qbuf.len() > 1 << 30 {
            return Err("MASTER sent an over-long command".into());
        }
        let idle = {
            let s = srv.borrow();
            s.master
                .as_ref()
                .map_or(Duration::ZERO, |m| m.last_io.elapsed())
        };
        if idle > timeout {
            return Err("MASTER timeout: no data nor PING received...".into());
        }
        match tokio::time::timeout(Duration::from_millis(1000), link.read(&mut qbuf)).await {
            Err(_) => continue,
            Ok(Ok(0)) => {
                notice!("Connection with master lost.");
                return Ok(());
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Other => {
                return Err(format!("Bad compressed data from MASTER: {e}"));
            }
            Ok(Err(_)) => {
                notice!("Connection with master lost.");
                return Ok(());
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// INFO replication for a replica: the lines that differ from a master's.
pub fn info_lines(s: &Server, m: &MasterLink) -> String {
    let up = m.state == LinkState::Connected;
    let mut out = format!(
        "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
        m.host,
        m.port,
        if up { "up" } else { "down" },
        if up { m.last_io.elapsed().as_secs() as i64 } else { -1 },
        (m.state == LinkState::Transfer) as u8,
        s.prop.offset,
        s.prop.offset,
    );
    if m.state == LinkState::Transfer {
        let left = if m.sync_total >= 0 {
            m.sync_total - m.sync_read
        } else {
            0
        };
        let perc = if m.sync_total > 0 {
            m.sync_read as f64 * 100.0 / m.sync_total as f64
        } else {
            0.0
        };
        out.push_str(&format!(
            "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
            m.sync_total,
            m.sync_read,
            left,
            m.sync_last_io.elapsed().as_secs()
        ));
    }
    if m.state == LinkState::Transfer {
        if let Some(b) = &m.sync_buf {
            let b = b.borrow();
            out.push_str(&format!(
                "master_sync_stream_channel:1\r\nmaster_sync_buffered_bytes:{}\r\nmaster_sync_buffer_peak:{}\r\nmaster_sync_buffer_spilled_bytes:{}\r\nmaster_sync_buffer_received:{}\r\n",
                b.len(),
                b.peak,
                b.spilled(),
                b.total
            ));
        }
    }
    out.push_str(&format!(
        "master_link_compression:{}\r\nmaster_link_raw_bytes:{}\r\nmaster_link_wire_bytes:{}\r\n",
        if m.features.zstd { "zstd" } else { "none" },
        m.bytes.raw.get(),
        m.bytes.wire.get()
    ));
    if !up {
        out.push_str(&format!(
            "master_link_down_since_seconds:{}\r\n",
            m.down_since.elapsed().as_secs()
        ));
    }
    let prio = s
        .cfg
        .get_value("replica-priority")
        .unwrap_or_else(|| "100".into());
    let ro = s
        .cfg
        .get_value("replica-read-only")
        .is_none_or(|v| v == "yes");
    let announced = s
        .cfg
        .get_value("replica-announced")
        .is_none_or(|v| v == "yes");
    out.push_str(&format!(
        "slave_priority:{prio}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
        ro as u8, announced as u8
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::split_at_mark;

    #[test]
    fn the_end_mark_is_found_across_reads_and_before_the_stream() {
        let mark = b"0123456789012345678901234567890123456789";
        let rdb: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        let stream = b"*1\r\n$4\r\nPING\r\n";
        let mut all = rdb.clone();
        all.extend_from_slice(mark);
        all.extend_from_slice(stream);
        // Every way of cutting the bytes into two reads, and reads of every small size.
        for cut in (0..all.len())
            .step_by(37)
            .chain(rdb.len() - 5..rdb.len() + 45)
        {
            let mut tail = Vec::new();
            let (mut body, rest) = split_at_mark(&mut tail, &all[..cut], mark);
            let rest = match rest {
                Some(r) => [r, all[cut..].to_vec()].concat(),
                None => {
                    let (b2, r2) = split_at_mark(&mut tail, &all[cut..], mark);
                    body.extend_from_slice(&b2);
                    r2.unwrap_or_default()
                }
            };
            assert_eq!(body, rdb, "cut at {cut}");
            assert_eq!(rest, stream, "cut at {cut}");
        }
        for size in 1..60 {
            let mut tail = Vec::new();
            let mut body = Vec::new();
            let mut rest = None;
            for chunk in all.chunks(size) {
                if let Some(r) = rest.as_mut() {
                    let r: &mut Vec<u8> = r;
                    r.extend_from_slice(chunk);
                    continue;
                }
                let (b, r) = split_at_mark(&mut tail, chunk, mark);
                body.extend_from_slice(&b);
                rest = r;
            }
            assert_eq!(body, rdb, "reads of {size}");
            assert_eq!(rest.unwrap_or_default(), stream, "reads of {size}");
        }
    }
}
