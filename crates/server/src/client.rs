//! Client state. `ClientHandle` is the part other clients and the cron can see (CLIENT LIST,
//! CLIENT KILL, timeouts); `Client` is the connection task's own state (reply buffer, selected
//! database, protocol, auth).

use cinnabar_resp::ReplyBuf;
use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::time::Instant;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skip,
}

/// What CLIENT LIST shows, updated by the connection task after each command.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub name: Vec<u8>,
    pub db: usize,
    pub last_cmd: String,
    pub resp: u8,
    pub qbuf: usize,
    pub qbuf_free: usize,
    pub argv_mem: usize,
    pub omem: usize,
    /// Memory of the commands queued in MULTI, and of watched keys, subscriptions and
    /// tracking prefixes (counted per entry, as Redis counts their bookkeeping).
    pub multi_mem: usize,
    pub other_mem: usize,
    pub no_evict: bool,
    pub lib_name: String,
    pub lib_ver: String,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
}

/// What one watched key, one subscription and one tracking prefix cost a client: the entry
/// in the client's own list and in the server's table (with its key copy, small keys).
pub const WATCH_MEM: usize = 96;
/// Redis's fixed per-client reply buffer (PROTO_REPLY_CHUNK_BYTES): CLIENT LIST obl.
pub const REPLY_CHUNK: usize = 16 * 1024;
pub const SUB_MEM: usize = 96;
pub const PREFIX_MEM: usize = 64;

/// `ClientHandle::busy_multi`: the transaction open before the busy period was ended (EXEC
/// answered EXECABORT, or DISCARD).
pub const BUSY_MULTI_DISCARD: u8 = 1;
/// `ClientHandle::busy_multi`: a command was refused with BUSY inside the (new) transaction,
/// so its EXEC answers EXECABORT.
pub const BUSY_MULTI_FLAG: u8 = 2;

/// The shared, inspectable part of a client.
pub struct ClientHandle {
    pub id: u64,
    pub fd: RawFd,
    pub addr: String,
    pub laddr: String,
    pub unix: bool,
    pub created: Instant,
    pub last_interaction: Cell<Instant>,
    pub info: RefCell<ClientInfo>,
    /// Set when the client must be closed (CLIENT KILL, timeout, QUIT).
    pub killed: Cell<bool>,
    /// Blocked in BLPOP and friends (CLIENT LIST flag `b`).
    pub blocked: Cell<bool>,
    /// A watched key was modified: the next EXEC fails.
    pub dirty_cas: Cell<bool>,
    /// Commands queued in an open MULTI (-1: none), for CLIENT LIST.
    pub multi_len: Cell<i64>,
    /// What the busy-script hook did to this client's transaction while the engine was busy
    /// (`BUSY_MULTI_*` bits); the engine applies it before the client's next command.
    pub busy_multi: Cell<u8>,
    /// In MONITOR mode (CLIENT LIST flag `O`).
    pub monitor: Cell<bool>,
    /// The cron's wake-up for the task (query buffer resizing), the largest unread query
    /// buffer content since the cron last looked, and the size the cron asked for.
    pub wake: crate::sock::Wake,
    pub qbuf_peak: Cell<usize>,
    pub qbuf_target: Cell<usize>,
    /// This client's memory as last counted in `Server::clients_mem`.
    pub mem_counted: Cell<usize>,
    /// Pub/Sub messages for this client from other clients, written out by its task.
    pub outbox: RefCell<Vec<u8>>,
    pub outbox_notify: tokio::sync::Notify,
    /// The client speaks RESP3 (how messages are framed for it).
    pub resp3: Cell<bool>,
    /// An attached replica (CLIENT LIST flag `S`).
    pub replica: Cell<bool>,
    /// The port a replica said it listens on (REPLCONF listening-port).
    pub repl_port: Cell<u16>,
    /// A replica's read position in the replication buffer (next byte to send).
    pub repl_off: Cell<u64>,
    /// The offset a replica last acknowledged (REPLCONF ACK), and when.
    pub repl_ack_off: Cell<i64>,
    pub repl_ack_time: Cell<Instant>,
    /// When a replica's pending output first went over the soft `replica` limit (unix s;
    /// 0: it is under it).
    pub obuf_soft_since: Cell<i64>,
    /// Where a replica's full sync stands: 0 none (online once it acks), 1 waiting for the
    /// snapshot to start, 2 receiving it, 3 snapshot sent (the replica is loading).
    pub sync_phase: Cell<u8>,
    /// Snapshot bytes sent so far (plain).
    pub sync_sent: Cell<u64>,
    /// The last time a snapshot write to this replica completed (a stalled one is dropped
    /// after `repl-timeout`).
    pub sync_progress: Cell<Instant>,
    /// When the full sync began, and the dataset's size then (throttling's estimate).
    pub sync_start: Cell<Instant>,
    pub sync_est: Cell<u64>,
    /// A full sync's first connection whose stream went to a second one (rdb-channel): it
    /// carries the snapshot only.
    pub snapshot_only: Cell<bool>,
    /// A full sync's stream connection (rdb-channel) that waits: it gets the stream only if
    /// its snapshot connection holds too much before the snapshot is sent.
    pub stream_armed: Cell<bool>,
    /// The other connection of an rdb-channel full sync (0: none): the stream connection
    /// for the snapshot connection and the other way round.
    pub rdbchan_peer: Cell<u64>,
    /// Replication bytes sent: plain and on the wire (they differ when compressed).
    pub repl_bytes: crate::repl_link::LinkBytes,
    /// The link to this replica is zstd-compressed.
    pub repl_zstd: Cell<bool>,
    /// This server's master, applying its stream (CLIENT LIST flag `M`).
    pub is_master_link: Cell<bool>,
    /// CLIENT TRACKING state (`crate::tracking` bits), its REDIRECT id and BCAST prefixes
    /// (sorted).
    pub tracking: Cell<u32>,
    pub tracking_redir: Cell<u64>,
    pub tracking_prefixes: RefCell<Vec<Vec<u8>>>,
    /// The ACL user (CLIENT LIST `user=`, CLIENT KILL USER); the task's `Client::user` too.
    pub user: RefCell<std::rc::Rc<crate::acl::UserCell>>,
}

impl ClientHandle {
    /// A new handle in its initial state (RESP2, db 0, not blocked, no replica).
    pub fn new(id: u64, fd: RawFd, addr: String, laddr: String, unix: bool) -> ClientHandle {
        let now = Instant::now();
        ClientHandle {
            id,
            fd,
            addr,
            laddr,
            unix,
            created: now,
            last_interaction: Cell::new(now),
            info: RefCell::new(ClientInfo {
                resp: 2,
                ..ClientInfo::default()
            }),
            killed: Cell::new(false),
            blocked: Cell::new(false),
            dirty_cas: Cell::new(false),
            multi_len: Cell::new(-1),
            busy_multi: Cell::new(0),
            monitor: Cell::new(false),
            wake: Default::default(),
            qbuf_peak: Cell::new(0),
            qbuf_target: Cell::new(0),
            mem_counted: Cell::new(0),
            outbox: RefCell::new(Vec::new()),
            outbox_notify: tokio::sync::Notify::new(),
            resp3: Cell::new(false),
            replica: Cell::new(false),
            repl_port: Cell::new(0),
            repl_off: Cell::new(0),
            repl_ack_off: Cell::new(-1),
            obuf_soft_since: Cell::new(0),
            repl_ack_time: Cell::new(now),
            sync_phase: Cell::new(0),
            sync_sent: Cell::new(0),
            sync_start: Cell::new(now),
            sync_progress: Cell::new(now),
            sync_est: Cell::new(0),
            snapshot_only: Cell::new(false),
            stream_armed: Cell::new(false),
            rdbchan_peer: Cell::new(0),
            repl_bytes: Default::default(),
            repl_zstd: Cell::new(false),
            is_master_link: Cell::new(false),
            tracking: Cell::new(0),
            tracking_redir: Cell::new(0),
            tracking_prefixes: RefCell::new(Vec::new()),
            user: RefCell::new(crate::acl::superuser()),
        }
    }

    /// A registered client with no socket of its own (the master's stream, AOF loading).
    pub fn internal(s: &mut crate::server::Server, addr: String) -> std::rc::Rc<ClientHandle> {
        let id = s.next_client_id;
        s.next_client_id += 1;
        let h = std::rc::Rc::new(ClientHandle::new(id, -1, addr, String::new(), false));
        s.clients.insert(id, h.clone());
        h
    }

    /// Redis's checkClientOutputBufferLimits: whether `used` bytes of pending output cross
    /// `limit`: the hard limit at once, the soft one once it has been crossed without a break
    /// for more than its seconds (the first crossing starts the clock).
    pub fn obuf_limit_reached(
        &self,
        limit: cinnabar_config::ObufLimit,
        used: u64,
        now_s: i64,
    ) -> bool {
        let soft = if limit.soft == 0 || used < limit.soft {
            self.obuf_soft_since.set(0);
            false
        } else if self.obuf_soft_since.get() == 0 {
            self.obuf_soft_since.set(now_s);
            false
        } else {
            now_s - self.obuf_soft_since.get() > limit.soft_seconds
        };
        soft || (limit.hard > 0 && used >= limit.hard)
    }

    /// Logs, as Redis does, that the client is closed for crossing its output buffer limit.
    pub fn log_obuf_close(&self) {
        crate::warning!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.list_line(Instant::now(), None)
        );
    }

    /// CLIENT LIST tot-mem: everything this client holds. Pending output counts past its
    /// first [`REPLY_CHUNK`] bytes, as Redis counts its reply list past the fixed buffer every
    /// client has (so a short reply waiting does not move a client's size). (its state, query and output
    /// buffers, queued MULTI commands, watches, subscriptions, tracking prefixes).
    pub fn tot_mem(&self) -> usize {
        let i = self.info.borrow();
        std::mem::size_of::<ClientHandle>()
            + std::mem::size_of::<Client>()
            + i.qbuf
            + i.qbuf_free
            + i.argv_mem
            + (i.omem + self.outbox.borrow().len()).saturating_sub(REPLY_CHUNK)
            + i.multi_mem
            + i.other_mem
    }

    /// Output waiting for this client: the reply its task is writing plus the messages
    /// other clients queued for it (CLIENT LIST omem).
    pub fn pending_output(&self) -> usize {
        self.info.borrow().omem + self.outbox.borrow().len()
    }

    /// Closes the client's socket from outside its task: the task's next read fails and it
    /// cleans up. Used by CLIENT KILL and the idle timeout.
    pub fn kill(&self) {
        self.killed.set(true);
        // SAFETY: shutdown on a socket fd we accepted; at worst it fails with EBADF/ENOTCONN.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }

    /// One CLIENT LIST line (without the trailing newline).
    pub fn list_line(&self, now: Instant, cmd_override: Option<&str>) -> String {
        let i = self.info.borrow();
        let age = now.duration_since(self.created).as_secs();
        let idle = now.duration_since(self.last_interaction.get()).as_secs();
        let mut flags = String::new();
        if self.replica.get() {
            flags.push('S');
        }
        if self.is_master_link.get() {
            flags.push('M');
        }
        if self.monitor.get() {
            flags.push('O');
        }
        if i.sub + i.psub + i.ssub > 0 {
            flags.push('P');
        }
        if self.multi_len.get() >= 0 {
            flags.push('x');
        }
        if self.blocked.get() {
            flags.push('b');
        }
        if self.tracking.get() != 0 {
            crate::tracking::list_flags(self, &mut flags);
        }
        if i.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let cmd = cmd_override.unwrap_or(&i.last_cmd);
        // obl: what Redis's fixed 16 KB reply buffer would hold; omem: the rest.
        let pending = i.omem + self.outbox.borrow().len();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs=1024 rbp=0 obl={} oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&i.name),
            age,
            idle,
            flags,
            i.db,
            i.sub,
            i.psub,
            i.ssub,
            self.multi_len.get(),
            i.qbuf,
            i.qbuf_free,
            i.argv_mem,
            i.multi_mem,
            pending.min(REPLY_CHUNK),
            pending.saturating_sub(REPLY_CHUNK),
            self.tot_mem(),
            if cmd.is_empty() { "NULL" } else { cmd },
            String::from_utf8_lossy(&self.user.borrow().name),
            crate::tracking::list_redir(self),
            i.resp
        )
    }
}

/// A connection task's own client state.
pub struct Client {
    pub handle: std::rc::Rc<ClientHandle>,
    pub db: usize,
    pub reply: ReplyBuf,
    pub authenticated: bool,
    /// The ACL user whose rules apply (internal clients: the unrestricted superuser).
    pub user: std::rc::Rc<crate::acl::UserCell>,
    pub reply_mode: ReplyMode,
    /// Close the connection once pending replies are written.
    pub close_after_reply: bool,
    pub name: Vec<u8>,
    /// An open MULTI.
    pub multi: Option<crate::multi::Multi>,
    /// Keys this client WATCHes: (db, key).
    pub watched: Vec<(usize, Vec<u8>)>,
    /// Subscribed channels and patterns, in subscription order.
    pub subs: Vec<Vec<u8>>,
    pub psubs: Vec<Vec<u8>>,
    /// Subscribed shard channels (SSUBSCRIBE), in subscription order.
    pub ssubs: Vec<Vec<u8>>,
    /// What this connection said with REPLCONF.
    pub repl: ReplConf,
    /// A snapshot to stream to this connection (DUMPSAVE, SYNC).
    pub stream: Option<SnapshotStream>,
    /// The client applying our master's stream (see replica.rs).
    pub is_master: bool,
    /// A WAIT in progress.
    pub wait: Option<WaitAcks>,
    /// A slot this client waits on after its command (SHUTDOWN waiting for replicas).
    pub block_slot: Option<std::rc::Rc<crate::blocking::Slot>>,
    /// Bytes at the start of `reply.out` already written (the rest waits for the socket).
    pub out_sent: usize,
    /// The client crossed its `client-output-buffer-limit`: no more commands are run for it
    /// and its pending output is dropped with the connection (Redis's CLIENT_CLOSE_ASAP).
    pub close_asap: bool,
}

/// WAIT numreplicas timeout, waiting for acknowledgements.
pub struct WaitAcks {
    pub target: i64,
    pub numreplicas: i64,
    /// Unix ms, 0 = forever.
    pub deadline_ms: i64,
}

/// How a snapshot is framed on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `$EOF:<40 chars>\r\n` ... `<40 chars>` (diskless replication, DUMPSAVE).
    EofMark,
    /// `$<length>\r\n` then the bytes (a replica without `capa eof`): assembled in memory.
    Length,
}

/// A snapshot on its way to this connection.
pub struct SnapshotStream {
    pub rx: tokio::sync::mpsc::Receiver<crate::persist::Msg>,
    pub framing: Framing,
    /// Close the connection once it is sent (`redis-cli --rdb`).
    pub close_after: bool,
}

/// REPLCONF options a connection has sent.
#[derive(Default)]
pub struct ReplConf {
    pub listening_port: u16,
    pub announced_ip: Option<Vec<u8>>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    pub rdb_only: bool,
    /// This connection is an attached replica (it receives the propagated stream).
    pub is_replica: bool,
    /// What `REPLCONF cinnabar-features` granted (a Cinnabar replica).
    pub features: crate::repl_link::Features,
    /// `REPLCONF rdb-channel-for <id>`: this is the stream connection of client `id`'s full sync.
    pub rdbchan_for: Option<u64>,
    /// The compressor of this link (created when zstd is granted; used from the first byte
    /// after `+CONTINUE` or the `+FULLRESYNC` line).
    pub comp: Option<crate::repl_link::Compressor>,
}

impl Client {
    /// In subscribed mode: some channel, pattern or shard channel subscription.
    pub fn subscribed(&self) -> bool {
        !self.subs.is_empty() || !self.psubs.is_empty() || !self.ssubs.is_empty()
    }

    /// A new client in database 0, RESP2.
    pub fn new(handle: std::rc::Rc<ClientHandle>, authenticated: bool) -> Self {
        Client {
            handle,
            db: 0,
            reply: ReplyBuf::new(),
            authenticated,
            user: crate::acl::superuser(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            name: Vec::new(),
            multi: None,
            watched: Vec::new(),
            subs: Vec::new(),
            psubs: Vec::new(),
            ssubs: Vec::new(),
            repl: ReplConf::default(),
            stream: None,
            is_master: false,
            wait: None,
            block_slot: None,
            close_asap: false,
            out_sent: 0,
        }
    }
}
