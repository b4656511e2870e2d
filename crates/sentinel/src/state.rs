//! The Sentinel's state: the monitored masters, each with its replicas and the other
//! Sentinels watching it, the timing parameters (`SENTINEL DEBUG`), the global settings
//! (`SENTINEL CONFIG`), epochs and this Sentinel's id. Instances are plain structs inside
//! their master; a `Loc` (master index, kind, index) names one for the current call only,
//! and a stable `id` names it across events (link replies carry the id).

use crate::link::Outgoing;
use tokio::sync::mpsc;

pub const SRI_MASTER: u32 = 1;
pub const SRI_SLAVE: u32 = 1 << 1;
pub const SRI_SENTINEL: u32 = 1 << 2;
pub const SRI_S_DOWN: u32 = 1 << 3;
pub const SRI_O_DOWN: u32 = 1 << 4;
pub const SRI_MASTER_DOWN: u32 = 1 << 5;
pub const SRI_FAILOVER_IN_PROGRESS: u32 = 1 << 6;
pub const SRI_PROMOTED: u32 = 1 << 7;
pub const SRI_RECONF_SENT: u32 = 1 << 8;
pub const SRI_RECONF_INPROG: u32 = 1 << 9;
pub const SRI_RECONF_DONE: u32 = 1 << 10;
pub const SRI_FORCE_FAILOVER: u32 = 1 << 11;
pub const SRI_SCRIPT_KILL_SENT: u32 = 1 << 12;
pub const SRI_MASTER_REBOOT: u32 = 1 << 13;

pub const FO_NONE: u8 = 0;
pub const FO_WAIT_START: u8 = 1;
pub const FO_SELECT_SLAVE: u8 = 2;
pub const FO_SEND_SLAVEOF_NOONE: u8 = 3;
pub const FO_WAIT_PROMOTION: u8 = 4;
pub const FO_RECONF_SLAVES: u8 = 5;
pub const FO_UPDATE_CONFIG: u8 = 6;

pub const DEFAULT_SLAVE_PRIORITY: i64 = 100;
pub const DEFAULT_PARALLEL_SYNCS: i64 = 1;
pub const MAX_PENDING_COMMANDS: i64 = 100;
pub const MAX_DESYNC: i64 = 1000;
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// Milliseconds since the epoch (Redis's mstime).
pub fn mstime() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The tunable periods of `SENTINEL DEBUG`, in milliseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    pub info_period: i64,
    pub ping_period: i64,
    pub ask_period: i64,
    pub publish_period: i64,
    pub default_down_after: i64,
    pub default_failover_timeout: i64,
    pub tilt_trigger: i64,
    pub tilt_period: i64,
    pub slave_reconf_timeout: i64,
    pub min_link_reconnect_period: i64,
    pub election_timeout: i64,
    pub script_max_runtime: i64,
    pub script_retry_delay: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            info_period: 10000,
            ping_period: 1000,
            ask_period: 1000,
            publish_period: 2000,
            default_down_after: 30000,
            default_failover_timeout: 180000,
            tilt_trigger: 2000,
            tilt_period: 30000,
            slave_reconf_timeout: 10000,
            min_link_reconnect_period: 15000,
            election_timeout: 10000,
            script_max_runtime: 60000,
            script_retry_delay: 30000,
        }
    }
}

/// An instance address: the name it was given and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub hostname: String,
    pub ip: String,
    pub port: u16,
}

impl Addr {
    /// Resolves `host` (an IP, or a name when `resolve` is on). Returns `None` when it cannot
    /// be resolved and `accept_unresolved` is false, or the port is invalid.
    pub fn new(host: &str, port: i64, resolve: bool, accept_unresolved: bool) -> Option<Addr> {
        if !(0..=65535).contains(&port) {
            return None;
        }
        let ip = match resolve_ip(host, resolve) {
            Some(ip) => ip,
            None if resolve && accept_unresolved => String::new(),
            None => return None,
        };
        Some(Addr {
            hostname: host.to_string(),
            ip,
            port: port as u16,
        })
    }

    /// Same address: same IP, or same hostname.
    pub fn same(&self, other: &Addr) -> bool {
        self.port == other.port
            && (self.ip.eq_ignore_ascii_case(&other.ip)
                || self.hostname.eq_ignore_ascii_case(&other.hostname))
    }

    /// Whether `host` names this address (IP or hostname).
    pub fn is_host(&self, host: &str) -> bool {
        self.ip.eq_ignore_ascii_case(host) || self.hostname.eq_ignore_ascii_case(host)
    }
}

/// `host` as an IP: itself when it already is one, a DNS lookup when allowed.
pub fn resolve_ip(host: &str, resolve: bool) -> Option<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(ip.to_string());
    }
    if !resolve {
        return None;
    }
    use std::net::ToSocketAddrs;
    let mut addrs: Vec<std::net::SocketAddr> = (host, 0u16).to_socket_addrs().ok()?.collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs.first().map(|a| a.ip().to_string())
}

/// One half of a link: the sender to its task and when it was opened.
#[derive(Debug)]
pub struct Half {
    pub tx: mpsc::UnboundedSender<Outgoing>,
    pub gen: u64,
    pub conn_time: i64,
    /// Our address on this connection, once connected.
    pub local_ip: Option<String>,
}

/// The connection state of an instance, as Redis's instanceLink.
#[derive(Debug)]
pub struct Link {
    pub cc: Option<Half>,
    pub pc: Option<Half>,
    pub disconnected: bool,
    pub pending: i64,
    pub last_reconn_time: i64,
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_pong_time: i64,
    pub last_avail_time: i64,
    pub pc_last_activity: i64,
}

impl Default for Link {
    fn default() -> Link {
        let now = mstime();
        Link {
            cc: None,
            pc: None,
            disconnected: true,
            pending: 0,
            last_reconn_time: 0,
            act_ping_time: now,
            last_ping_time: 0,
            last_pong_time: now,
            last_avail_time: now,
            pc_last_activity: 0,
        }
    }
}

impl Link {
    pub fn close_cc(&mut self) {
        if self.cc.take().is_some() {
            self.pending = 0;
            self.disconnected = true;
        }
    }

    pub fn close_pc(&mut self) {
        if self.pc.take().is_some() {
            self.disconnected = true;
        }
    }
}

/// A master, replica or Sentinel as this Sentinel sees it.
#[derive(Debug)]
pub struct Inst {
    pub id: u64,
    pub flags: u32,
    pub name: String,
    pub runid: Option<String>,
    pub addr: Addr,
    pub link: Link,
    pub last_pub_time: i64,
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    pub s_down_since_time: i64,
    pub o_down_since_time: i64,
    pub down_after_period: i64,
    pub master_link_down_time: i64,
    pub slave_priority: i64,
    pub replica_announced: i64,
    pub slave_reconf_sent_time: i64,
    pub slave_master_host: Option<String>,
    pub slave_master_port: i64,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    pub info_refresh: i64,
    pub role_reported: u32,
    pub role_reported_time: i64,
    pub slave_conf_change_time: i64,
    pub info: Option<Vec<u8>>,
    /// A Sentinel's vote as it told us (or, for a master, our own vote).
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

impl Inst {
    pub fn new(id: u64, flags: u32, name: String, addr: Addr, down_after: i64) -> Inst {
        let now = mstime();
        Inst {
            id,
            flags,
            name,
            runid: None,
            addr,
            link: Link::default(),
            last_pub_time: now,
            last_hello_time: now,
            last_master_down_reply_time: now,
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: down_after,
            master_link_down_time: 0,
            slave_priority: DEFAULT_SLAVE_PRIORITY,
            replica_announced: 1,
            slave_reconf_sent_time: 0,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            info_refresh: 0,
            role_reported: flags & (SRI_MASTER | SRI_SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            info: None,
            leader: None,
            leader_epoch: 0,
        }
    }

    pub fn type_str(&self) -> &'static str {
        if self.flags & SRI_MASTER != 0 {
            "master"
        } else if self.flags & SRI_SLAVE != 0 {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// Whether there was no SDOWN/ODOWN in the last `ms` milliseconds.
    pub fn no_down_for(&self, ms: i64) -> bool {
        let most_recent = self.s_down_since_time.max(self.o_down_since_time);
        most_recent == 0 || mstime() - most_recent > ms
    }
}

/// A monitored master with everything attached to it.
#[derive(Debug)]
pub struct Master {
    pub inst: Inst,
    pub quorum: i64,
    pub parallel_syncs: i64,
    pub failover_timeout: i64,
    pub master_reboot_down_after_period: i64,
    pub master_reboot_since_time: i64,
    pub config_epoch: u64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    pub renamed: Vec<(String, String)>,
    pub failover_epoch: u64,
    pub failover_state: u8,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    pub failover_delay_logged: i64,
    /// The id of the replica chosen for promotion.
    pub promoted: Option<u64>,
    pub slaves: Vec<Inst>,
    pub sentinels: Vec<Inst>,
}

impl Master {
    pub fn new(inst: Inst, quorum: i64, failover_timeout: i64) -> Master {
        Master {
            inst,
            quorum,
            parallel_syncs: DEFAULT_PARALLEL_SYNCS,
            failover_timeout,
            master_reboot_down_after_period: 0,
            master_reboot_since_time: 0,
            config_epoch: 0,
            auth_pass: None,
            auth_user: None,
            notification_script: None,
            client_reconfig_script: None,
            renamed: Vec::new(),
            failover_epoch: 0,
            failover_state: FO_NONE,
            failover_state_change_time: 0,
            failover_start_time: 0,
            failover_delay_logged: 0,
            promoted: None,
            slaves: Vec::new(),
            sentinels: Vec::new(),
        }
    }

    /// The command name to send for `cmd`, after `rename-command`.
    pub fn map_command<'a>(&'a self, cmd: &'a str) -> &'a str {
        self.renamed
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(cmd))
            .map(|(_, n)| n.as_str())
            .unwrap_or(cmd)
    }

    pub fn promoted_slave(&self) -> Option<&Inst> {
        let id = self.promoted?;
        self.slaves.iter().find(|s| s.id == id)
    }

    /// The address clients should use: the promoted replica's once it acknowledged the switch.
    pub fn current_addr(&self) -> &Addr {
        if self.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
            && self.failover_state >= FO_RECONF_SLAVES
        {
            if let Some(p) = self.promoted_slave() {
                return &p.addr;
            }
        }
        &self.inst.addr
    }
}

/// Which list of a master an instance is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Master,
    Slave,
    Sentinel,
}

/// Where an instance is, valid until the masters or their lists change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub m: usize,
    pub kind: Kind,
    pub i: usize,
}

impl Loc {
    pub fn master(m: usize) -> Loc {
        Loc {
            m,
            kind: Kind::Master,
            i: 0,
        }
    }
}

/// Global settings, epochs and every master.
pub struct Sentinel {
    pub myid: String,
    pub current_epoch: u64,
    pub masters: Vec<Master>,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    pub announce_ip: Option<String>,
    pub announce_port: u16,
    pub deny_scripts_reconfig: bool,
    pub resolve_hostnames: bool,
    pub announce_hostnames: bool,
    pub sentinel_auth_user: Option<String>,
    pub sentinel_auth_pass: Option<String>,
    pub simfailure_flags: u64,
    pub timing: Timing,
    next_id: u64,
}

impl Default for Sentinel {
    fn default() -> Self {
        Sentinel {
            myid: String::new(),
            current_epoch: 0,
            masters: Vec::new(),
            tilt: false,
            tilt_start_time: 0,
            previous_time: mstime(),
            announce_ip: None,
            announce_port: 0,
            deny_scripts_reconfig: true,
            resolve_hostnames: false,
            announce_hostnames: false,
            sentinel_auth_user: None,
            sentinel_auth_pass: None,
            simfailure_flags: 0,
            timing: Timing::default(),
            next_id: 1,
        }
    }
}

/// Why an instance could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    Duplicate,
    BadAddr,
    BadPort,
}

impl Sentinel {
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The address as announced: hostname or IP per `announce-hostnames`.
    pub fn announce<'a>(&self, a: &'a Addr) -> &'a str {
        if self.announce_hostnames {
            &a.hostname
        } else {
            &a.ip
        }
    }

    pub fn announce_addr_port(&self, a: &Addr) -> String {
        let h = self.announce(a);
        if h.contains(':') {
            format!("[{}]:{}", h, a.port)
        } else {
            format!("{}:{}", h, a.port)
        }
    }

    pub fn master_index(&self, name: &str) -> Option<usize> {
        self.masters.iter().position(|m| m.inst.name == name)
    }

    pub fn inst(&self, l: Loc) -> &Inst {
        let m = &self.masters[l.m];
        match l.kind {
            Kind::Master => &m.inst,
            Kind::Slave => &m.slaves[l.i],
            Kind::Sentinel => &m.sentinels[l.i],
        }
    }

    pub fn inst_mut(&mut self, l: Loc) -> &mut Inst {
        let m = &mut self.masters[l.m];
        match l.kind {
            Kind::Master => &mut m.inst,
            Kind::Slave => &mut m.slaves[l.i],
            Kind::Sentinel => &mut m.sentinels[l.i],
        }
    }

    /// Finds an instance by its stable id.
    pub fn locate(&self, id: u64) -> Option<Loc> {
        for (m, ma) in self.masters.iter().enumerate() {
            if ma.inst.id == id {
                return Some(Loc::master(m));
            }
            if let Some(i) = ma.slaves.iter().position(|s| s.id == id) {
                return Some(Loc {
                    m,
                    kind: Kind::Slave,
                    i,
                });
            }
            if let Some(i) = ma.sentinels.iter().position(|s| s.id == id) {
                return Some(Loc {
                    m,
                    kind: Kind::Sentinel,
                    i,
                });
            }
        }
        None
    }

    /// Adds a master (`SENTINEL MONITOR` / `sentinel monitor`).
    pub fn create_master(
        &mut self,
        name: &str,
        host: &str,
        port: i64,
        quorum: i64,
    ) -> Result<usize, CreateError> {
        if !(0..=65535).contains(&port) {
            return Err(CreateError::BadPort);
        }
        let addr =
            Addr::new(host, port, self.resolve_hostnames, true).ok_or(CreateError::BadAddr)?;
        if self.master_index(name).is_some() {
            return Err(CreateError::Duplicate);
        }
        let id = self.new_id();
        let inst = Inst::new(
            id,
            SRI_MASTER,
            name.to_string(),
            addr,
            self.timing.default_down_after,
        );
        self.masters.push(Master::new(
            inst,
            quorum,
            self.timing.default_failover_timeout,
        ));
        Ok(self.masters.len() - 1)
    }

    /// Adds a replica to master `m`, named `ip:port` as Redis does.
    pub fn create_slave(&mut self, m: usize, host: &str, port: i64) -> Result<usize, CreateError> {
        if !(0..=65535).contains(&port) {
            return Err(CreateError::BadPort);
        }
        let addr =
            Addr::new(host, port, self.resolve_hostnames, true).ok_or(CreateError::BadAddr)?;
        let name = self.announce_addr_port(&addr);
        if self.masters[m].slaves.iter().any(|s| s.name == name) {
            return Err(CreateError::Duplicate);
        }
        let id = self.new_id();
        let down_after = self.masters[m].inst.down_after_period;
        self.masters[m]
            .slaves
            .push(Inst::new(id, SRI_SLAVE, name, addr, down_after));
        Ok(self.masters[m].slaves.len() - 1)
    }

    /// Adds a Sentinel to master `m`, named by its run id.
    pub fn create_sentinel(
        &mut self,
        m: usize,
        runid: &str,
        host: &str,
        port: i64,
    ) -> Result<usize, CreateError> {
        if !(0..=65535).contains(&port) {
            return Err(CreateError::BadPort);
        }
        let addr =
            Addr::new(host, port, self.resolve_hostnames, true).ok_or(CreateError::BadAddr)?;
        if self.masters[m].sentinels.iter().any(|s| s.name == runid) {
            return Err(CreateError::Duplicate);
        }
        let id = self.new_id();
        let down_after = self.masters[m].inst.down_after_period;
        let mut si = Inst::new(id, SRI_SENTINEL, runid.to_string(), addr, down_after);
        si.runid = Some(runid.to_string());
        self.masters[m].sentinels.push(si);
        Ok(self.masters[m].sentinels.len() - 1)
    }

    /// Sets down-after-milliseconds of a master's replicas and Sentinels to the master's.
    pub fn propagate_down_after(&mut self, m: usize) {
        let ma = &mut self.masters[m];
        let d = ma.inst.down_after_period;
        for s in ma.slaves.iter_mut().chain(ma.sentinels.iter_mut()) {
            s.down_after_period = d;
        }
    }
}

/// The message of a create error, as Redis words it.
pub fn create_error_text(e: &CreateError, kind: Kind) -> &'static str {
    match (e, kind) {
        (CreateError::Duplicate, Kind::Master) => "Duplicate master name.",
        (CreateError::Duplicate, Kind::Slave) => "Duplicate hostname and port for replica.",
        (CreateError::Duplicate, Kind::Sentinel) => "Duplicate runid for sentinel.",
        (CreateError::BadAddr, _) => "Can't resolve instance hostname.",
        (CreateError::BadPort, _) => "Invalid port number.",
    }
}
