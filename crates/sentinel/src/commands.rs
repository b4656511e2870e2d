//! The commands a Sentinel answers (Redis keeps only these 15 in sentinel mode): PING,
//! SENTINEL and its subcommands, SUBSCRIBE family, PUBLISH (hello messages only), INFO, ROLE,
//! CLIENT, SHUTDOWN, AUTH, HELLO, ACL (WHOAMI only: ACLs are not built), COMMAND. Arity is
//! checked from the table below before a handler runs, with Redis's error texts.

use crate::config;
use crate::engine::{Engine, Out};
use crate::log::{self, Level};
use crate::state::*;
use cinnabar_resp::ReplyBuf;

/// (name, arity) of every command and subcommand, as Redis 7.0.15's sentinel table.
const TABLE: &[(&str, i32)] = &[
    ("ping", -1),
    ("sentinel", -2),
    ("sentinel|replicas", 3),
    ("sentinel|failover", 3),
    ("sentinel|debug", -2),
    ("sentinel|config", -3),
    ("sentinel|pending-scripts", 2),
    ("sentinel|masters", 2),
    ("sentinel|help", 2),
    ("sentinel|get-master-addr-by-name", 3),
    ("sentinel|master", 3),
    ("sentinel|myid", 2),
    ("sentinel|is-master-down-by-addr", 6),
    ("sentinel|info-cache", -3),
    ("sentinel|flushconfig", 2),
    ("sentinel|ckquorum", 3),
    ("sentinel|monitor", 6),
    ("sentinel|remove", 3),
    ("sentinel|reset", 3),
    ("sentinel|sentinels", 3),
    ("sentinel|simulate-failure", -3),
    ("sentinel|set", -5),
    ("sentinel|slaves", 3),
    ("subscribe", -2),
    ("unsubscribe", -1),
    ("psubscribe", -2),
    ("punsubscribe", -1),
    ("publish", 3),
    ("info", -1),
    ("role", 1),
    ("client", -2),
    ("client|unblock", -3),
    ("client|reply", 3),
    ("client|caching", 3),
    ("client|info", 2),
    ("client|getredir", 2),
    ("client|list", -2),
    ("client|tracking", -3),
    ("client|pause", -3),
    ("client|trackinginfo", 2),
    ("client|id", 2),
    ("client|kill", -3),
    ("client|help", 2),
    ("client|getname", 2),
    ("client|no-evict", 3),
    ("client|setname", 3),
    ("client|unpause", 2),
    ("shutdown", -1),
    ("auth", -2),
    ("hello", -1),
    ("acl", -2),
    ("acl|genpass", -2),
    ("acl|cat", -2),
    ("acl|log", -2),
    ("acl|dryrun", -4),
    ("acl|deluser", -3),
    ("acl|list", 2),
    ("acl|users", 2),
    ("acl|save", 2),
    ("acl|getuser", 3),
    ("acl|load", 2),
    ("acl|help", 2),
    ("acl|setuser", -3),
    ("acl|whoami", 2),
    ("command", -1),
    ("command|docs", -2),
    ("command|getkeys", -4),
    ("command|info", -2),
    ("command|help", 2),
    ("command|list", -2),
    ("command|getkeysandflags", -4),
    ("command|count", 2),
];

const WITH_SUBCOMMANDS: &[&str] = &["sentinel", "client", "acl", "command"];

fn arity_of(name: &str) -> Option<i32> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i32;
    (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lower(b: &[u8]) -> String {
    s(b).to_ascii_lowercase()
}

/// Parses a whole-string signed integer as Redis's getLongLongFromObject.
fn ll(b: &[u8]) -> Option<i64> {
    cinnabar_config::num::string2ll(b)
}

impl Engine {
    fn reply_to(&mut self, cid: u64, r: ReplyBuf) {
        if let Some(c) = self.clients.get(&cid) {
            c.deliver(r.out);
            if std::mem::take(&mut self.close_after_reply) {
                let _ = c.out.send(Out::Close);
            }
        }
    }

    /// Runs one command of client `cid`.
    pub fn command(&mut self, cid: u64, argv: Vec<Vec<u8>>) {
        if argv.is_empty() {
            return;
        }
        self.stats_cmds += 1;
        let resp3 = self.clients.get(&cid).is_some_and(|c| c.resp >= 3);
        let mut r = ReplyBuf::new();
        r.resp3 = resp3;
        let name = lower(&argv[0]);
        let authed = self.clients.get(&cid).is_some_and(|c| c.authed);
        if let Some(c) = self.clients.get_mut(&cid) {
            c.last_cmd = name.clone();
            c.last_interaction = mstime();
        }
        let Some(arity) = arity_of(&name) else {
            let mut args = String::new();
            for a in argv.iter().skip(1) {
                if args.len() >= 128 {
                    break;
                }
                args.push_str(&format!("'{}' ", s(&a[..a.len().min(128)])));
            }
            r.error(&format!(
                "ERR unknown command '{}', with args beginning with: {}",
                s(&argv[0][..argv[0].len().min(128)]),
                args
            ));
            return self.reply_to(cid, r);
        };
        let mut full = name.clone();
        if WITH_SUBCOMMANDS.contains(&name.as_str()) && argv.len() >= 2 {
            let sub = lower(&argv[1]);
            let f = format!("{name}|{sub}");
            match arity_of(&f) {
                Some(a) => {
                    if !arity_ok(a, argv.len()) {
                        r.error(&format!("ERR wrong number of arguments for '{f}' command"));
                        return self.reply_to(cid, r);
                    }
                    full = f;
                }
                None => {
                    r.error(&format!(
                        "ERR unknown subcommand '{}'. Try {} HELP.",
                        s(&argv[1][..argv[1].len().min(128)]),
                        name.to_ascii_uppercase()
                    ));
                    return self.reply_to(cid, r);
                }
            }
        } else if !arity_ok(arity, argv.len()) {
            r.error(&format!(
                "ERR wrong number of arguments for '{name}' command"
            ));
            return self.reply_to(cid, r);
        }
        if !authed && name != "auth" && name != "hello" {
            r.error("NOAUTH Authentication required.");
            return self.reply_to(cid, r);
        }
        let in_sub = self
            .clients
            .get(&cid)
            .is_some_and(|c| c.subs() > 0 && c.resp < 3);
        if in_sub
            && !matches!(
                name.as_str(),
                "ping" | "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "reset"
            )
        {
            r.error(&format!("ERR Can't execute '{full}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"));
            return self.reply_to(cid, r);
        }
        match name.as_str() {
            "ping" => {
                if in_sub {
                    r.array(2);
                    r.bulk(b"pong");
                    r.bulk(argv.get(1).map(|v| v.as_slice()).unwrap_or(b""));
                } else if argv.len() > 2 {
                    r.error("ERR wrong number of arguments for 'ping' command");
                } else if let Some(m) = argv.get(1) {
                    r.bulk(m);
                } else {
                    r.simple("PONG");
                }
            }
            "sentinel" => self.sentinel_command(cid, &argv, &mut r),
            "subscribe" | "psubscribe" => {
                let pat = name == "psubscribe";
                for ch in &argv[1..] {
                    let n = if let Some(c) = self.clients.get_mut(&cid) {
                        let list = if pat {
                            &mut c.patterns
                        } else {
                            &mut c.channels
                        };
                        if !list.contains(ch) {
                            list.push(ch.clone());
                        }
                        c.subs()
                    } else {
                        0
                    };
                    r.push(3);
                    r.bulk(name.as_bytes());
                    r.bulk(ch);
                    r.int(n as i64);
                }
            }
            "unsubscribe" | "punsubscribe" => {
                let pat = name == "punsubscribe";
                let Some(c) = self.clients.get_mut(&cid) else {
                    return;
                };
                let targets: Vec<Vec<u8>> = if argv.len() > 1 {
                    argv[1..].to_vec()
                } else if pat {
                    c.patterns.clone()
                } else {
                    c.channels.clone()
                };
                if targets.is_empty() {
                    r.push(3);
                    r.bulk(name.as_bytes());
                    r.null();
                    r.int(c.subs() as i64);
                }
                for ch in targets {
                    let list = if pat {
                        &mut c.patterns
                    } else {
                        &mut c.channels
                    };
                    list.retain(|x| *x != ch);
                    r.push(3);
                    r.bulk(name.as_bytes());
                    r.bulk(&ch);
                    r.int(c.subs() as i64);
                }
            }
            "publish" => {
                if argv[1] != HELLO_CHANNEL.as_bytes() {
                    r.error("ERR Only HELLO messages are accepted by Sentinel instances.");
                } else {
                    let msg = s(&argv[2]);
                    self.process_hello(&msg);
                    r.int(1);
                }
            }
            "info" => {
                let text = self.info_text(&argv[1..]);
                r.bulk(text.as_bytes());
            }
            "role" => {
                r.array(2);
                r.bulk(b"sentinel");
                r.array(self.s.masters.len());
                for m in &self.s.masters {
                    r.bulk(m.inst.name.as_bytes());
                }
            }
            "client" => self.client_command(cid, &argv, &mut r),
            "shutdown" => {
                self.flush_config();
                log::log(Level::Warning, "User requested shutdown...");
                log::log(Level::Warning, "Sentinel is now ready to exit, bye bye...");
                self.shutdown = true;
                return;
            }
            "auth" => {
                if argv.len() > 3 {
                    r.error("ERR syntax error");
                } else if argv.len() == 2 {
                    self.auth(cid, None, &s(&argv[1]), &mut r);
                } else {
                    self.auth(cid, Some(&s(&argv[1])), &s(&argv[2]), &mut r);
                }
            }
            "hello" => self.hello_command(cid, &argv, &mut r),
            "acl" => self.acl_command(cid, &argv, &mut r),
            "command" => self.command_command(&argv, &mut r),
            _ => r.error("ERR unknown command"),
        }
        self.reply_to(cid, r);
    }

    fn hello_command(&mut self, cid: u64, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let mut i = 1;
        let mut ver = self.clients.get(&cid).map(|c| c.resp).unwrap_or(2);
        if let Some(v) = argv.get(1) {
            match ll(v) {
                Some(2) => ver = 2,
                Some(3) => ver = 3,
                Some(_) => {
                    r.error("NOPROTO unsupported protocol version");
                    return;
                }
                None => {
                    r.error("ERR Protocol version is not an integer or out of range");
                    return;
                }
            }
            i = 2;
        }
        let mut setname: Option<Vec<u8>> = None;
        while i < argv.len() {
            let opt = lower(&argv[i]);
            if opt == "auth" && i + 2 < argv.len() {
                let user = s(&argv[i + 1]);
                if !self.user_can_login(&user, &s(&argv[i + 2])) {
                    r.error("WRONGPASS invalid username-password pair or user is disabled.");
                    return;
                }
                if let Some(c) = self.clients.get_mut(&cid) {
                    c.authed = true;
                    c.user = user;
                }
                i += 3;
            } else if opt == "setname" && i + 1 < argv.len() {
                setname = Some(argv[i + 1].clone());
                i += 2;
            } else {
                r.error(&format!(
                    "ERR Syntax error in HELLO option '{}'",
                    s(&argv[i])
                ));
                return;
            }
        }
        let authed = self.clients.get(&cid).is_some_and(|c| c.authed);
        if !authed {
            r.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }
        if let Some(c) = self.clients.get_mut(&cid) {
            c.resp = ver;
            if let Some(n) = setname {
                c.name = s(&n);
            }
        }
        r.resp3 = ver >= 3;
        r.map(6);
        r.bulk(b"server");
        r.bulk(b"redis");
        r.bulk(b"version");
        r.bulk(crate::REDIS_VERSION.as_bytes());
        r.bulk(b"proto");
        r.int(ver as i64);
        r.bulk(b"id");
        r.int(cid as i64);
        r.bulk(b"mode");
        r.bulk(b"sentinel");
        r.bulk(b"modules");
        r.array(0);
    }

    fn client_command(&mut self, cid: u64, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        match lower(&argv[1]).as_str() {
            "id" => r.int(cid as i64),
            "getname" => match self.clients.get(&cid) {
                Some(c) if !c.name.is_empty() => r.bulk(c.name.as_bytes()),
                _ => r.null(),
            },
            "setname" => {
                let n = &argv[2];
                if n.iter().any(|&b| b <= b' ' || b > b'~') {
                    r.error(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                    return;
                }
                if let Some(c) = self.clients.get_mut(&cid) {
                    c.name = s(n);
                }
                r.ok();
            }
            "list" | "info" => {
                let now = mstime();
                let mut text = String::new();
                let mut ids: Vec<u64> = self.clients.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    if lower(&argv[1]) == "info" && id != cid {
                        continue;
                    }
                    let Some(c) = self.clients.get(&id) else {
                        continue;
                    };
                    text.push_str(&format!(
                        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db=0 sub={} psub={} ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=20000 events=r cmd={} user={} redir=-1 resp={}\n",
                        c.id, c.addr, c.laddr, c.name, (now - c.created) / 1000,
                        (now - c.last_interaction) / 1000,
                        if c.subs() > 0 { "P" } else { "N" },
                        c.channels.len(), c.patterns.len(), c.last_cmd, c.user, c.resp
                    ));
                }
                r.verbatim(text.as_bytes(), "txt");
            }
            "kill" => {
                // CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [TYPE t] [SKIPME yes/no]
                let mut victims: Vec<u64> = Vec::new();
                if argv.len() == 3 {
                    let a = s(&argv[2]);
                    victims = self
                        .clients
                        .values()
                        .filter(|c| c.addr == a)
                        .map(|c| c.id)
                        .collect();
                    if victims.is_empty() {
                        r.error("ERR No such client");
                        return;
                    }
                    for v in &victims {
                        if let Some(c) = self.clients.get(v) {
                            let _ = c.out.send(Out::Close);
                        }
                    }
                    r.ok();
                    return;
                }
                let mut i = 2;
                let mut skipme = true;
                let mut filter_id = None;
                let mut filter_addr = None;
                let mut filter_type = None;
                let mut filter_user = None;
                while i + 1 < argv.len() {
                    let k = lower(&argv[i]);
                    let v = &argv[i + 1];
                    match k.as_str() {
                        "id" => match ll(v) {
                            Some(x) if x > 0 => filter_id = Some(x as u64),
                            _ => {
                                r.error("ERR client-id should be greater than 0");
                                return;
                            }
                        },
                        "addr" => filter_addr = Some(s(v)),
                        "type" => filter_type = Some(lower(v)),
                        "user" => filter_user = Some(s(v)),
                        "skipme" => skipme = !v.eq_ignore_ascii_case(b"no"),
                        _ => {
                            r.error("ERR syntax error");
                            return;
                        }
                    }
                    i += 2;
                }
                if i != argv.len() {
                    r.error("ERR syntax error");
                    return;
                }
                for c in self.clients.values() {
                    if skipme && c.id == cid {
                        continue;
                    }
                    if filter_id.is_some_and(|x| x != c.id) {
                        continue;
                    }
                    if filter_addr.as_ref().is_some_and(|a| *a != c.addr) {
                        continue;
                    }
                    if filter_user.as_ref().is_some_and(|u| *u != c.user) {
                        continue;
                    }
                    if let Some(t) = &filter_type {
                        let is_pubsub = c.subs() > 0;
                        if (t == "pubsub") != is_pubsub {
                            continue;
                        }
                    }
                    victims.push(c.id);
                }
                for v in &victims {
                    if *v == cid {
                        // The caller gets its reply first.
                        self.close_after_reply = true;
                    } else if let Some(c) = self.clients.get(v) {
                        let _ = c.out.send(Out::Close);
                    }
                }
                r.int(victims.len() as i64);
            }
            "help" => {
                r.array(1);
                r.simple("CLIENT <subcommand> [<arg> [value] [opt] ...]");
            }
            _ => r.ok(),
        }
    }

    fn command_command(&mut self, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let sub = argv.get(1).map(|a| lower(a)).unwrap_or_default();
        match sub.as_str() {
            "count" => r.int(TABLE.iter().filter(|(n, _)| !n.contains('|')).count() as i64),
            "list" => {
                r.array(TABLE.len());
                for (n, _) in TABLE {
                    r.bulk(n.as_bytes());
                }
            }
            "info" | "" => {
                let names: Vec<String> = if sub.is_empty() {
                    TABLE
                        .iter()
                        .filter(|(n, _)| !n.contains('|'))
                        .map(|(n, _)| n.to_string())
                        .collect()
                } else {
                    argv[2..].iter().map(|a| lower(a)).collect()
                };
                r.array(names.len());
                for n in names {
                    match arity_of(&n) {
                        Some(a) => {
                            r.array(10);
                            r.bulk(n.as_bytes());
                            r.int(a as i64);
                            r.set(0);
                            r.int(0);
                            r.int(0);
                            r.int(0);
                            r.set(0);
                            r.set(0);
                            r.set(0);
                            let subs: Vec<&(&str, i32)> = TABLE
                                .iter()
                                .filter(|(x, _)| x.starts_with(&format!("{n}|")))
                                .collect();
                            r.array(subs.len());
                            for (x, a) in subs {
                                r.array(10);
                                r.bulk(x.as_bytes());
                                r.int(*a as i64);
                                r.set(0);
                                r.int(0);
                                r.int(0);
                                r.int(0);
                                r.set(0);
                                r.set(0);
                                r.set(0);
                                r.array(0);
                            }
                        }
                        None => r.null_array(),
                    }
                }
            }
            "docs" => r.map(0),
            "help" => {
                r.array(1);
                r.simple("COMMAND <subcommand> [<arg> [value] [opt] ...]");
            }
            _ => r.error("ERR Invalid subcommand"),
        }
    }

    /// The INFO text for the requested sections (server, clients, cpu, stats, sentinel).
    pub fn info_text(&self, args: &[Vec<u8>]) -> String {
        const ALL: [&str; 5] = ["server", "clients", "cpu", "stats", "sentinel"];
        let mut want: Vec<&str> = Vec::new();
        if args.is_empty() {
            want = ALL.to_vec();
        }
        for a in args {
            let a = lower(a);
            if a == "all" || a == "default" || a == "everything" {
                want = ALL.to_vec();
                break;
            }
            if let Some(x) = ALL.iter().find(|x| **x == a) {
                if !want.contains(x) {
                    want.push(x);
                }
            }
        }
        let mut out = String::new();
        let now = mstime();
        for sec in ALL {
            if !want.contains(&sec) {
                continue;
            }
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            match sec {
                "server" => {
                    let up = (now - self.srv.start_time) / 1000;
                    out.push_str(&format!(
                        "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:sentinel\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:0\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                        crate::REDIS_VERSION,
                        std::env::consts::OS,
                        std::process::id(),
                        self.srv.run_id,
                        self.srv.port,
                        now * 1000,
                        up,
                        up / 86400,
                        self.srv.hz,
                        self.srv.hz,
                        self.srv.executable,
                        self.srv.config_file.display()
                    ));
                }
                "clients" => {
                    out.push_str(&format!(
                        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                        self.clients.len(),
                        self.srv.maxclients
                    ));
                }
                "cpu" => {
                    let (u, sy) = cpu_times();
                    out.push_str(&format!(
                        "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{:.6}\r\nused_cpu_user_main_thread:{:.6}\r\n",
                        sy, u, sy, u
                    ));
                }
                "stats" => {
                    let (ch, pa) = self.clients.values().fold((0, 0), |(a, b), c| {
                        (a + c.channels.len(), b + c.patterns.len())
                    });
                    out.push_str(&format!(
                        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\nrejected_connections:0\r\nexpired_keys:0\r\nevicted_keys:0\r\nkeyspace_hits:0\r\nkeyspace_misses:0\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_error_replies:0\r\n",
                        self.stats_conns, self.stats_cmds, ch, pa
                    ));
                }
                _ => {
                    out.push_str(&format!(
                        "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
                        self.s.masters.len(),
                        self.s.tilt as i32,
                        if self.s.tilt { (now - self.s.tilt_start_time) / 1000 } else { -1 },
                        self.scripts.running(),
                        self.scripts.queued(),
                        self.s.simfailure_flags
                    ));
                    for (i, m) in self.s.masters.iter().enumerate() {
                        let status = if m.inst.flags & SRI_O_DOWN != 0 {
                            "odown"
                        } else if m.inst.flags & SRI_S_DOWN != 0 {
                            "sdown"
                        } else {
                            "ok"
                        };
                        out.push_str(&format!(
                            "master{}:name={},status={},address={}:{},slaves={},sentinels={}\r\n",
                            i,
                            m.inst.name,
                            status,
                            self.s.announce(&m.inst.addr),
                            m.inst.addr.port,
                            m.slaves.len(),
                            m.sentinels.len() + 1
                        ));
                    }
                }
            }
        }
        out
    }

    /// The flat map SENTINEL MASTER / REPLICAS / SENTINELS show for one instance.
    fn reply_instance(&self, l: Loc, r: &mut ReplyBuf) {
        let now = mstime();
        let ri = self.s.inst(l);
        let m = &self.s.masters[l.m];
        let mut f: Vec<(&str, Vec<u8>)> = Vec::new();
        let n = |v: i64| v.to_string().into_bytes();
        f.push(("name", ri.name.clone().into_bytes()));
        f.push(("ip", self.s.announce(&ri.addr).as_bytes().to_vec()));
        f.push(("port", n(ri.addr.port as i64)));
        f.push(("runid", ri.runid.clone().unwrap_or_default().into_bytes()));
        let fl = ri.flags;
        // In Redis's order; `disconnected` is the link's state, not a flag bit.
        let named = [
            (fl & SRI_S_DOWN != 0, "s_down"),
            (fl & SRI_O_DOWN != 0, "o_down"),
            (fl & SRI_MASTER != 0, "master"),
            (fl & SRI_SLAVE != 0, "slave"),
            (fl & SRI_SENTINEL != 0, "sentinel"),
            (ri.link.disconnected, "disconnected"),
            (fl & SRI_MASTER_DOWN != 0, "master_down"),
            (fl & SRI_FAILOVER_IN_PROGRESS != 0, "failover_in_progress"),
            (fl & SRI_PROMOTED != 0, "promoted"),
            (fl & SRI_RECONF_SENT != 0, "reconf_sent"),
            (fl & SRI_RECONF_INPROG != 0, "reconf_inprog"),
            (fl & SRI_RECONF_DONE != 0, "reconf_done"),
            (fl & SRI_FORCE_FAILOVER != 0, "force_failover"),
            (fl & SRI_SCRIPT_KILL_SENT != 0, "script_kill_sent"),
        ];
        let flags: Vec<&str> = named
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.push(("flags", flags.join(",").into_bytes()));
        f.push(("link-pending-commands", n(ri.link.pending)));
        f.push(("link-refcount", n(1)));
        if fl & SRI_FAILOVER_IN_PROGRESS != 0 {
            let st = match m.failover_state {
                FO_NONE => "none",
                FO_WAIT_START => "wait_start",
                FO_SELECT_SLAVE => "select_slave",
                FO_SEND_SLAVEOF_NOONE => "send_slaveof_noone",
                FO_WAIT_PROMOTION => "wait_promotion",
                FO_RECONF_SLAVES => "reconf_slaves",
                FO_UPDATE_CONFIG => "update_config",
                _ => "unknown",
            };
            f.push(("failover-state", st.as_bytes().to_vec()));
        }
        f.push((
            "last-ping-sent",
            n(if ri.link.act_ping_time != 0 {
                now - ri.link.act_ping_time
            } else {
                0
            }),
        ));
        f.push(("last-ok-ping-reply", n(now - ri.link.last_avail_time)));
        f.push(("last-ping-reply", n(now - ri.link.last_pong_time)));
        if fl & SRI_S_DOWN != 0 {
            f.push(("s-down-time", n(now - ri.s_down_since_time)));
        }
        if fl & SRI_O_DOWN != 0 {
            f.push(("o-down-time", n(now - ri.o_down_since_time)));
        }
        f.push(("down-after-milliseconds", n(ri.down_after_period)));
        if fl & (SRI_MASTER | SRI_SLAVE) != 0 {
            f.push((
                "info-refresh",
                n(if ri.info_refresh != 0 {
                    now - ri.info_refresh
                } else {
                    0
                }),
            ));
            f.push((
                "role-reported",
                if ri.role_reported == SRI_MASTER {
                    b"master".to_vec()
                } else {
                    b"slave".to_vec()
                },
            ));
            f.push(("role-reported-time", n(now - ri.role_reported_time)));
        }
        if fl & SRI_MASTER != 0 {
            f.push(("config-epoch", n(m.config_epoch as i64)));
            f.push(("num-slaves", n(m.slaves.len() as i64)));
            f.push(("num-other-sentinels", n(m.sentinels.len() as i64)));
            f.push(("quorum", n(m.quorum)));
            f.push(("failover-timeout", n(m.failover_timeout)));
            f.push(("parallel-syncs", n(m.parallel_syncs)));
            if let Some(p) = &m.notification_script {
                f.push(("notification-script", p.clone().into_bytes()));
            }
            if let Some(p) = &m.client_reconfig_script {
                f.push(("client-reconfig-script", p.clone().into_bytes()));
            }
        }
        if fl & SRI_SLAVE != 0 {
            f.push(("master-link-down-time", n(ri.master_link_down_time)));
            f.push((
                "master-link-status",
                if ri.slave_master_link_up {
                    b"ok".to_vec()
                } else {
                    b"err".to_vec()
                },
            ));
            f.push((
                "master-host",
                ri.slave_master_host
                    .clone()
                    .unwrap_or_else(|| "?".into())
                    .into_bytes(),
            ));
            f.push(("master-port", n(ri.slave_master_port)));
            f.push(("slave-priority", n(ri.slave_priority)));
            f.push(("slave-repl-offset", n(ri.slave_repl_offset as i64)));
            f.push(("replica-announced", n(ri.replica_announced)));
        }
        if fl & SRI_SENTINEL != 0 {
            f.push(("last-hello-message", n(now - ri.last_hello_time)));
            f.push((
                "voted-leader",
                ri.leader.clone().unwrap_or_else(|| "?".into()).into_bytes(),
            ));
            f.push(("voted-leader-epoch", n(ri.leader_epoch as i64)));
        }
        r.map(f.len());
        for (k, v) in f {
            r.bulk(k.as_bytes());
            r.bulk(&v);
        }
    }

    fn reply_list(&self, m: usize, kind: Kind, r: &mut ReplyBuf) {
        let ma = &self.s.masters[m];
        let items: Vec<usize> = match kind {
            Kind::Slave => ma
                .slaves
                .iter()
                .enumerate()
                .filter(|(_, s)| s.replica_announced != 0)
                .map(|(i, _)| i)
                .collect(),
            _ => (0..ma.sentinels.len()).collect(),
        };
        r.array(items.len());
        for i in items {
            self.reply_instance(Loc { m, kind, i }, r);
        }
    }

    fn flush_and_reply(&mut self, r: &mut ReplyBuf) {
        if self.flush_config() {
            r.ok();
        } else {
            r.error("ERR Failed to save config file. Check server logs.");
        }
    }

    fn master_or_err(&self, name: &[u8], r: &mut ReplyBuf) -> Option<usize> {
        let i = self.s.master_index(&s(name));
        if i.is_none() {
            r.error("ERR No such master with that name");
        }
        i
    }

    fn sentinel_command(&mut self, _cid: u64, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let sub = lower(&argv[1]);
        match sub.as_str() {
            "help" => {
                let lines = [
                    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CKQUORUM <master-name>",
                    "CONFIG SET <param> <value>",
                    "CONFIG GET <param>",
                    "DEBUG [<param> <value> ...]",
                    "GET-MASTER-ADDR-BY-NAME <master-name>",
                    "FAILOVER <master-name>",
                    "FLUSHCONFIG",
                    "INFO-CACHE <master-name>",
                    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
                    "MASTER <master-name>",
                    "MASTERS",
                    "MONITOR <name> <ip> <port> <quorum>",
                    "MYID",
                    "PENDING-SCRIPTS",
                    "REMOVE <master-name>",
                    "REPLICAS <master-name>",
                    "RESET <pattern>",
                    "SENTINELS <master-name>",
                    "SET <master-name> <option> <value> [<option> <value> ...]",
                    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
                    "HELP",
                ];
                r.array(lines.len());
                for l in lines {
                    r.simple(l);
                }
            }
            "masters" => {
                r.array(self.s.masters.len());
                for m in 0..self.s.masters.len() {
                    self.reply_instance(Loc::master(m), r);
                }
            }
            "master" => {
                if let Some(m) = self.master_or_err(&argv[2], r) {
                    self.reply_instance(Loc::master(m), r);
                }
            }
            "slaves" | "replicas" => {
                if let Some(m) = self.master_or_err(&argv[2], r) {
                    self.reply_list(m, Kind::Slave, r);
                }
            }
            "sentinels" => {
                if let Some(m) = self.master_or_err(&argv[2], r) {
                    self.reply_list(m, Kind::Sentinel, r);
                }
            }
            "myid" => r.bulk(self.s.myid.as_bytes()),
            "is-master-down-by-addr" => {
                let Some(port) = ll(&argv[3]) else {
                    r.error("ERR value is not an integer or out of range");
                    return;
                };
                let Some(req_epoch) = ll(&argv[4]) else {
                    r.error("ERR value is not an integer or out of range");
                    return;
                };
                let host = s(&argv[2]);
                let probe = Addr::new(&host, port, self.s.resolve_hostnames, true);
                let m =
                    probe.and_then(|p| self.s.masters.iter().position(|m| m.inst.addr.same(&p)));
                let mut isdown = false;
                let mut leader: Option<String> = None;
                let mut leader_epoch = 0u64;
                if let Some(m) = m {
                    if !self.s.tilt && self.s.masters[m].inst.flags & SRI_S_DOWN != 0 {
                        isdown = true;
                    }
                    if argv[5] != b"*" {
                        let (l, e) = self.vote_leader(m, req_epoch.max(0) as u64, &s(&argv[5]));
                        leader = l;
                        leader_epoch = e;
                    }
                }
                r.array(3);
                r.int(isdown as i64);
                r.bulk(leader.as_deref().unwrap_or("*").as_bytes());
                r.int(leader_epoch as i64);
            }
            "reset" => {
                let pat = argv[2].clone();
                let mut n = 0;
                for m in 0..self.s.masters.len() {
                    if cinnabar_config::glob::stringmatch(
                        &pat,
                        self.s.masters[m].inst.name.as_bytes(),
                        false,
                    ) {
                        self.reset_master(m, false, true);
                        n += 1;
                    }
                }
                r.int(n);
            }
            "get-master-addr-by-name" => match self.s.master_index(&s(&argv[2])) {
                None => r.null_array(),
                Some(m) => {
                    let a = self.s.masters[m].current_addr();
                    r.array(2);
                    r.bulk(self.s.announce(a).as_bytes());
                    r.bulk_int(a.port as i64);
                }
            },
            "failover" => {
                let Some(m) = self.master_or_err(&argv[2], r) else {
                    return;
                };
                if self.s.masters[m].inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
                    r.error("INPROG Failover already in progress");
                    return;
                }
                if self.select_slave(m).is_none() {
                    r.error("NOGOODSLAVE No suitable replica to promote");
                    return;
                }
                log::log(
                    Level::Warning,
                    &format!(
                        "Executing user requested FAILOVER of '{}'",
                        self.s.masters[m].inst.name
                    ),
                );
                self.start_failover(m);
                self.s.masters[m].inst.flags |= SRI_FORCE_FAILOVER;
                r.ok();
            }
            "pending-scripts" => self.scripts.describe(r),
            "monitor" => {
                let Some(quorum) = ll(&argv[5]) else {
                    r.error("ERR Invalid quorum");
                    return;
                };
                let Some(port) = ll(&argv[4]) else {
                    r.error("ERR Invalid port");
                    return;
                };
                if quorum <= 0 {
                    r.error("ERR Quorum must be 1 or greater.");
                    return;
                }
                let host = s(&argv[3]);
                if resolve_ip(&host, self.s.resolve_hostnames).is_none() {
                    r.error("ERR Invalid IP address or hostname specified");
                    return;
                }
                match self.s.create_master(&s(&argv[2]), &host, port, quorum) {
                    Err(e) => r.error(&format!("ERR {}", create_error_text(&e, Kind::Master))),
                    Ok(m) => {
                        self.flush_and_reply(r);
                        let q = self.s.masters[m].quorum;
                        self.event_at(
                            Level::Warning,
                            "+monitor",
                            Loc::master(m),
                            &format!(" quorum {}", q),
                        );
                    }
                }
            }
            "flushconfig" => self.flush_and_reply(r),
            "remove" => {
                let Some(m) = self.master_or_err(&argv[2], r) else {
                    return;
                };
                self.event_at(Level::Warning, "-monitor", Loc::master(m), "");
                self.s.masters.remove(m);
                self.flush_and_reply(r);
            }
            "ckquorum" => {
                let Some(m) = self.master_or_err(&argv[2], r) else {
                    return;
                };
                let ma = &self.s.masters[m];
                let voters = ma.sentinels.len() as i64 + 1;
                let usable = 1 + ma
                    .sentinels
                    .iter()
                    .filter(|s| s.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0)
                    .count() as i64;
                let noquorum = usable < ma.quorum;
                let noauth = usable < voters / 2 + 1;
                if !noquorum && !noauth {
                    r.simple(&format!(
                        "OK {} usable Sentinels. Quorum and failover authorization can be reached",
                        usable
                    ));
                } else {
                    let mut e = format!("NOQUORUM {} usable Sentinels. ", usable);
                    if noquorum {
                        e.push_str("Not enough available Sentinels to reach the specified quorum for this master");
                    }
                    if noauth {
                        if noquorum {
                            e.push_str(". ");
                        }
                        e.push_str("Not enough available Sentinels to reach the majority and authorize a failover");
                    }
                    r.error(&e);
                }
            }
            "set" => self.sentinel_set(argv, r),
            "config" => {
                let op = lower(&argv[2]);
                if op == "set" && argv.len() == 5 {
                    self.sentinel_config_set(argv, r);
                } else if op == "get" && argv.len() == 4 {
                    self.sentinel_config_get(&argv[3], r);
                } else {
                    r.error("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.");
                }
            }
            "info-cache" => {
                let now = mstime();
                let ms: Vec<usize> = if argv.len() > 2 {
                    let mut v = Vec::new();
                    for a in &argv[2..] {
                        if let Some(m) = self.s.master_index(&s(a)) {
                            if !v.contains(&m) {
                                v.push(m);
                            }
                        }
                    }
                    v
                } else {
                    (0..self.s.masters.len()).collect()
                };
                r.array(ms.len() * 2);
                for m in ms {
                    let ma = &self.s.masters[m];
                    r.bulk(ma.inst.name.as_bytes());
                    r.array(ma.slaves.len() + 1);
                    for ri in std::iter::once(&ma.inst).chain(ma.slaves.iter()) {
                        r.array(2);
                        r.int(if ma.inst.info_refresh != 0 {
                            now - ri.info_refresh
                        } else {
                            0
                        });
                        match &ri.info {
                            Some(i) => r.bulk(i),
                            None => r.null(),
                        }
                    }
                }
            }
            "simulate-failure" => {
                self.s.simfailure_flags = 0;
                for a in &argv[2..] {
                    match lower(a).as_str() {
                        "crash-after-election" => {
                            self.s.simfailure_flags |= 1;
                            log::log(Level::Warning, "Failure simulation: this Sentinel will crash after being successfully elected as failover leader");
                        }
                        "crash-after-promotion" => {
                            self.s.simfailure_flags |= 2;
                            log::log(Level::Warning, "Failure simulation: this Sentinel will crash after promoting the selected replica to master");
                        }
                        "help" => {
                            r.array(2);
                            r.bulk(b"crash-after-election");
                            r.bulk(b"crash-after-promotion");
                            return;
                        }
                        _ => {
                            r.error("ERR Unknown failure simulation specified");
                            return;
                        }
                    }
                }
                r.ok();
            }
            "debug" => {
                if argv.len() == 2 {
                    let t = &self.s.timing;
                    let v = [
                        ("INFO-PERIOD", t.info_period),
                        ("PING-PERIOD", t.ping_period),
                        ("ASK-PERIOD", t.ask_period),
                        ("PUBLISH-PERIOD", t.publish_period),
                        ("DEFAULT-DOWN-AFTER", t.default_down_after),
                        ("DEFAULT-FAILOVER-TIMEOUT", t.default_failover_timeout),
                        ("TILT-TRIGGER", t.tilt_trigger),
                        ("TILT-PERIOD", t.tilt_period),
                        ("SLAVE-RECONF-TIMEOUT", t.slave_reconf_timeout),
                        ("MIN-LINK-RECONNECT-PERIOD", t.min_link_reconnect_period),
                        ("ELECTION-TIMEOUT", t.election_timeout),
                        ("SCRIPT-MAX-RUNTIME", t.script_max_runtime),
                        ("SCRIPT-RETRY-DELAY", t.script_retry_delay),
                    ];
                    r.map(v.len());
                    for (k, x) in v {
                        r.bulk(k.as_bytes());
                        r.bulk_int(x);
                    }
                } else {
                    self.sentinel_debug_set(argv, r);
                }
            }
            _ => r.error(&format!(
                "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
                s(&argv[1])
            )),
        }
    }

    fn sentinel_debug_set(&mut self, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let mut j = 2;
        while j < argv.len() {
            let opt = s(&argv[j]);
            let more = argv.len() - 1 - j;
            let lo = opt.to_ascii_lowercase();
            let t = &mut self.s.timing;
            let slot: Option<&mut i64> = match lo.as_str() {
                "info-period" => Some(&mut t.info_period),
                "ping-period" => Some(&mut t.ping_period),
                "ask-period" => Some(&mut t.ask_period),
                "publish-period" => Some(&mut t.publish_period),
                "default-down-after" => Some(&mut t.default_down_after),
                "tilt-trigger" => Some(&mut t.tilt_trigger),
                "tilt-period" => Some(&mut t.tilt_period),
                "slave-reconf-timeout" => Some(&mut t.slave_reconf_timeout),
                "min-link-reconnect-period" => Some(&mut t.min_link_reconnect_period),
                "default-failover-timeout" => Some(&mut t.default_failover_timeout),
                "election-timeout" => Some(&mut t.election_timeout),
                "script-max-runtime" => Some(&mut t.script_max_runtime),
                "script-retry-delay" => Some(&mut t.script_retry_delay),
                _ => None,
            };
            let Some(slot) = slot.filter(|_| more > 0) else {
                r.error(&format!(
                    "ERR Unknown option or number of arguments for SENTINEL DEBUG '{}'",
                    opt
                ));
                return;
            };
            j += 1;
            match ll(&argv[j]) {
                Some(v) if v > 0 => *slot = v,
                _ => {
                    r.error(&format!(
                        "ERR Invalid argument '{}' for SENTINEL DEBUG '{}'",
                        s(&argv[j]),
                        opt
                    ));
                    return;
                }
            }
            j += 1;
        }
        r.ok();
    }

    fn sentinel_config_set(&mut self, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let opt = lower(&argv[3]);
        let val = s(&argv[4]);
        let yn = |v: &str| -> Option<bool> {
            if v.eq_ignore_ascii_case("yes") {
                Some(true)
            } else if v.eq_ignore_ascii_case("no") {
                Some(false)
            } else {
                None
            }
        };
        let bad = |r: &mut ReplyBuf| {
            r.error(&format!(
                "ERR Invalid value '{}' to SENTINEL CONFIG SET '{}'",
                val,
                s(&argv[3])
            ))
        };
        let mut drop = false;
        match opt.as_str() {
            "resolve-hostnames" => match yn(&val) {
                Some(v) => self.s.resolve_hostnames = v,
                None => return bad(r),
            },
            "announce-hostnames" => match yn(&val) {
                Some(v) => self.s.announce_hostnames = v,
                None => return bad(r),
            },
            "announce-ip" => self.s.announce_ip = Some(val.clone()),
            "announce-port" => match ll(&argv[4]) {
                Some(v) if (0..=65535).contains(&v) => self.s.announce_port = v as u16,
                _ => return bad(r),
            },
            "sentinel-user" => {
                self.s.sentinel_auth_user = (!val.is_empty()).then(|| val.clone());
                drop = true;
            }
            "sentinel-pass" => {
                self.s.sentinel_auth_pass = (!val.is_empty()).then(|| val.clone());
                drop = true;
            }
            _ => {
                r.error(&format!(
                    "ERR Invalid argument '{}' to SENTINEL CONFIG SET",
                    s(&argv[3])
                ));
                return;
            }
        }
        self.flush_and_reply(r);
        if drop {
            for m in self.s.masters.iter_mut() {
                for si in m.sentinels.iter_mut() {
                    si.link.close_cc();
                    si.link.close_pc();
                }
            }
        }
    }

    fn sentinel_config_get(&self, pat: &[u8], r: &mut ReplyBuf) {
        let mut out: Vec<(&str, Vec<u8>)> = Vec::new();
        let m = |n: &str| cinnabar_config::glob::stringmatch(pat, n.as_bytes(), true);
        let yn = |b: bool| if b { b"yes".to_vec() } else { b"no".to_vec() };
        if m("resolve-hostnames") {
            out.push(("resolve-hostnames", yn(self.s.resolve_hostnames)));
        }
        if m("announce-hostnames") {
            out.push(("announce-hostnames", yn(self.s.announce_hostnames)));
        }
        if m("announce-ip") {
            out.push((
                "announce-ip",
                self.s.announce_ip.clone().unwrap_or_default().into_bytes(),
            ));
        }
        if m("announce-port") {
            out.push((
                "announce-port",
                self.s.announce_port.to_string().into_bytes(),
            ));
        }
        if m("sentinel-user") {
            out.push((
                "sentinel-user",
                self.s
                    .sentinel_auth_user
                    .clone()
                    .unwrap_or_default()
                    .into_bytes(),
            ));
        }
        if m("sentinel-pass") {
            out.push((
                "sentinel-pass",
                self.s
                    .sentinel_auth_pass
                    .clone()
                    .unwrap_or_default()
                    .into_bytes(),
            ));
        }
        r.map(out.len());
        for (k, v) in out {
            r.bulk(k.as_bytes());
            r.bulk(&v);
        }
    }

    fn sentinel_set(&mut self, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let Some(m) = self.master_or_err(&argv[2], r) else {
            return;
        };
        let mut changes = 0;
        let mut j = 3;
        let mut failed = false;
        while j < argv.len() {
            let opt = s(&argv[j]);
            let lo = opt.to_ascii_lowercase();
            let more = argv.len() - 1 - j;
            let old_j = j;
            let mut redacted = false;
            let badfmt = |r: &mut ReplyBuf, at: usize| {
                r.error(&format!(
                    "ERR Invalid argument '{}' for SENTINEL SET '{}'",
                    s(&argv[at]),
                    opt
                ));
            };
            let positive = |j: usize| ll(&argv[j]).filter(|v| *v > 0);
            match lo.as_str() {
                "down-after-milliseconds" if more > 0 => {
                    j += 1;
                    let Some(v) = positive(j) else {
                        badfmt(r, j);
                        failed = true;
                        break;
                    };
                    self.s.masters[m].inst.down_after_period = v;
                    self.s.propagate_down_after(m);
                }
                "failover-timeout" if more > 0 => {
                    j += 1;
                    let Some(v) = positive(j) else {
                        badfmt(r, j);
                        failed = true;
                        break;
                    };
                    self.s.masters[m].failover_timeout = v;
                }
                "parallel-syncs" if more > 0 => {
                    j += 1;
                    let Some(v) = positive(j) else {
                        badfmt(r, j);
                        failed = true;
                        break;
                    };
                    self.s.masters[m].parallel_syncs = v;
                }
                "notification-script" | "client-reconfig-script" if more > 0 => {
                    j += 1;
                    let v = s(&argv[j]);
                    if self.s.deny_scripts_reconfig {
                        r.error("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration");
                        failed = true;
                        break;
                    }
                    let notif = lo == "notification-script";
                    if !v.is_empty() && !config::script_ok(&v) {
                        r.error(if notif {
                            "ERR Notification script seems non existing or non executable"
                        } else {
                            "ERR Client reconfiguration script seems non existing or non executable"
                        });
                        failed = true;
                        break;
                    }
                    let val = (!v.is_empty()).then_some(v);
                    if notif {
                        self.s.masters[m].notification_script = val;
                    } else {
                        self.s.masters[m].client_reconfig_script = val;
                    }
                }
                "auth-pass" | "auth-user" if more > 0 => {
                    j += 1;
                    let v = s(&argv[j]);
                    let val = (!v.is_empty()).then_some(v);
                    let ma = &mut self.s.masters[m];
                    if lo == "auth-pass" {
                        ma.auth_pass = val;
                        redacted = true;
                    } else {
                        ma.auth_user = val;
                    }
                    for ri in std::iter::once(&mut ma.inst).chain(ma.slaves.iter_mut()) {
                        ri.link.close_cc();
                        ri.link.close_pc();
                    }
                }
                "quorum" if more > 0 => {
                    j += 1;
                    let Some(v) = positive(j) else {
                        badfmt(r, j);
                        failed = true;
                        break;
                    };
                    self.s.masters[m].quorum = v;
                }
                "rename-command" if more > 1 => {
                    let old = s(&argv[j + 1]);
                    let new = s(&argv[j + 2]);
                    j += 2;
                    if old.is_empty() || new.is_empty() {
                        badfmt(r, if new.is_empty() { j } else { j - 1 });
                        failed = true;
                        break;
                    }
                    let ma = &mut self.s.masters[m];
                    ma.renamed.retain(|(o, _)| !o.eq_ignore_ascii_case(&old));
                    if !old.eq_ignore_ascii_case(&new) {
                        ma.renamed.push((old, new));
                    }
                }
                "master-reboot-down-after-period" if more > 0 => {
                    j += 1;
                    let Some(v) = ll(&argv[j]).filter(|v| *v >= 0) else {
                        badfmt(r, j);
                        failed = true;
                        break;
                    };
                    self.s.masters[m].master_reboot_down_after_period = v;
                }
                _ => {
                    r.error(&format!(
                        "ERR Unknown option or number of arguments for SENTINEL SET '{}'",
                        opt
                    ));
                    failed = true;
                    break;
                }
            }
            changes += 1;
            let n = j - old_j + 1;
            let msg = match n {
                2 => format!(
                    " {} {}",
                    s(&argv[old_j]),
                    if redacted {
                        "******".to_string()
                    } else {
                        s(&argv[old_j + 1])
                    }
                ),
                3 => format!(
                    " {} {} {}",
                    s(&argv[old_j]),
                    s(&argv[old_j + 1]),
                    s(&argv[old_j + 2])
                ),
                _ => format!(" {}", s(&argv[old_j])),
            };
            self.event_at(Level::Warning, "+set", Loc::master(m), &msg);
            j += 1;
        }
        if failed {
            if changes > 0 {
                self.flush_config();
            }
            return;
        }
        if changes > 0 {
            self.flush_and_reply(r);
        }
    }
}

/// User and system CPU seconds of this process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: an all-zero rusage is valid for getrusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}
