//! Connection commands: PING, AUTH, HELLO, SELECT, RESET and the CLIENT subcommands.

use crate::client::{Client, ReplyMode};
use crate::server::{now_ms, Pause, Server};
use cinnabar_commands::util::{eq_ic, SYNTAX};
use cinnabar_resp::Args;
use cinnabar_util::num;
use std::time::Instant;

/// PING [message]
pub fn ping(c: &mut Client, a: Args) {
    if a.len() > 2 {
        return c
            .reply
            .error("ERR wrong number of arguments for 'ping' command");
    }
    if !c.reply.resp3 && c.subscribed() {
        // In RESP2 subscribed mode PING answers in the push format.
        c.reply.array(2);
        c.reply.bulk(b"pong");
        c.reply.bulk(if a.len() == 2 { a.get(1) } else { b"" });
        return;
    }
    if a.len() == 2 {
        c.reply.bulk(a.get(1));
    } else {
        c.reply.simple("PONG");
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// AUTH [username] password
pub fn auth(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() > 3 {
        return c.reply.error(SYNTAX);
    }
    let (user, pass) = if a.len() == 2 {
        (&b"default"[..], a.get(1))
    } else {
        (a.get(1), a.get(2))
    };
    if a.len() == 2 && s.acl.default.u.borrow().nopass {
        return c.reply.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    if crate::acl::authenticate(s, c, user, pass, a.get(0)) {
        c.reply.ok();
    } else {
        c.reply.error(WRONGPASS);
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(s: &mut Server, c: &mut Client, a: Args) {
    let mut ver = None;
    let mut j = 1;
    if a.len() >= 2 {
        match num::string2ll(a.get(1)) {
            Some(v) => ver = Some(v),
            None => {
                return c
                    .reply
                    .error("ERR Protocol version is not an integer or out of range")
            }
        }
        j = 2;
        if let Some(v) = ver {
            if !(2..=3).contains(&v) {
                return c.reply.error("NOPROTO unsupported protocol version");
            }
        }
    }
    let mut creds: Option<(&[u8], &[u8])> = None;
    let mut setname: Option<&[u8]> = None;
    while j < a.len() {
        let more = a.len() - j - 1;
        let opt = a.get(j);
        if eq_ic(opt, "auth") && more >= 2 {
            creds = Some((a.get(j + 1), a.get(j + 2)));
            j += 3;
        } else if eq_ic(opt, "setname") && more >= 1 {
            setname = Some(a.get(j + 1));
            j += 2;
        } else {
            return c.reply.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if let Some((u, p)) = creds {
        if !crate::acl::authenticate(s, c, u, p, a.get(0)) {
            return c.reply.error(WRONGPASS);
        }
    }
    if !c.authenticated {
        return c.reply.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = setname {
        if !valid_name(n) {
            return c.reply.error(BAD_NAME);
        }
        c.name = n.to_vec();
    }
    if let Some(v) = ver {
        c.reply.resp3 = v == 3;
    }
    hello_reply(&mut c.reply, c.handle.id);
}

/// HELLO's map (server, version, proto, id, mode, role, modules), in the reply's protocol.
pub fn hello_reply(r: &mut cinnabar_resp::ReplyBuf, id: u64) {
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(crate::REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(if r.resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(id as i64);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
}

/// SELECT index
pub fn select(s: &mut Server, c: &mut Client, a: Args) {
    let Some(i) = cinnabar_commands::util::int32_arg(&mut c.reply, a.get(1)) else {
        return;
    };
    if i < 0 || i as usize >= s.ks.dbs.len() {
        return c.reply.error("ERR DB index is out of range");
    }
    c.db = i as usize;
    c.reply.ok();
}

/// RESET
pub fn reset(s: &mut Server, c: &mut Client) {
    crate::multi::discard(s, c);
    crate::pubsub::drop_all(s, c);
    crate::monitor::stop(s, c);
    crate::tracking::disable(s, &c.handle.clone());
    c.db = 0;
    c.reply.resp3 = false;
    c.reply_mode = ReplyMode::On;
    c.name.clear();
    // As Redis's clearClientConnectionState: back to the default user, authenticated only if
    // it needs no password.
    c.authenticated = s.acl.default_open;
    let d = s.acl.default.clone();
    crate::acl::set_client_user(c, d);
    c.handle.info.borrow_mut().no_evict = false;
    c.reply.simple("RESET");
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// CLIENT SETNAME name
pub fn client_setname(c: &mut Client, a: Args) {
    let n = a.get(2);
    if !valid_name(n) {
        return c.reply.error(BAD_NAME);
    }
    c.name = n.to_vec();
    c.handle.info.borrow_mut().name = c.name.clone();
    c.reply.ok();
}

fn sync_info(c: &Client) {
    let mut i = c.handle.info.borrow_mut();
    i.name.clone_from(&c.name);
    i.db = c.db;
    i.resp = if c.reply.resp3 { 3 } else { 2 };
}

/// CLIENT LIST [TYPE type] [ID id ...]
pub fn client_list(s: &mut Server, c: &mut Client, a: Args) {
    sync_info(c);
    let mut ids: Option<Vec<u64>> = None;
    let mut only_type: Option<ClientType> = None;
    if a.len() > 2 {
        let opt = a.get(2);
        if eq_ic(opt, "type") && a.len() == 4 {
            let t = a.get(3);
            match ClientType::parse(t) {
                Some(ct) => only_type = Some(ct),
                None => {
                    return c.reply.error(&format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(t)
                    ))
                }
            }
        } else if eq_ic(opt, "id") && a.len() >= 4 {
            let mut v = Vec::new();
            for x in a.tail(3).iter() {
                match num::string2ll(x) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return c.reply.error("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
        } else {
            return c.reply.error(SYNTAX);
        }
    }
    let now = Instant::now();
    let mut out = String::new();
    for (id, h) in &s.clients {
        if let Some(ids) = &ids {
            if !ids.contains(id) {
                continue;
            }
        }
        if only_type.is_some_and(|t| t != ClientType::of(s, h)) || h.killed.get() {
            continue;
        }
        let over = if *id == c.handle.id {
            Some("client|list")
        } else {
            None
        };
        out.push_str(&h.list_line(now, over));
        out.push('\n');
    }
    c.reply.verbatim(out.as_bytes(), "txt");
}

/// CLIENT INFO
pub fn client_info(c: &mut Client) {
    sync_info(c);
    let mut line = c.handle.list_line(Instant::now(), Some("client|info"));
    line.push('\n');
    c.reply.verbatim(line.as_bytes(), "txt");
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [TYPE t] [USER u] [SKIPME y/n] [MAXAGE s]
pub fn client_kill(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() == 3 {
        let addr = a.get(2);
        let target = s
            .clients
            .values()
            .find(|h| h.addr.as_bytes() == addr)
            .cloned();
        return match target {
            Some(h) => {
                if h.id == c.handle.id {
                    c.close_after_reply = true;
                } else if Some(h.id) == s.master_client {
                    crate::replica::reconnect(s);
                } else {
                    h.kill();
                }
                c.reply.ok()
            }
            None => c.reply.error("ERR No such client"),
        };
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<Vec<u8>> = None;
    let mut laddr: Option<Vec<u8>> = None;
    let mut ctype: Option<ClientType> = None;
    let mut skipme = true;
    let mut maxage: Option<u64> = None;
    let mut user_cell = None;
    let mut j = 2;
    while j < a.len() {
        if j + 1 >= a.len() {
            return c.reply.error(SYNTAX);
        }
        let (opt, v) = (a.get(j), a.get(j + 1));
        if eq_ic(opt, "id") {
            match num::string2ll(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return c.reply.error("ERR client-id should be greater than 0"),
            }
        } else if eq_ic(opt, "addr") {
            addr = Some(v.to_vec());
        } else if eq_ic(opt, "laddr") {
            laddr = Some(v.to_vec());
        } else if eq_ic(opt, "type") {
            match ClientType::parse(v) {
                Some(ct) => ctype = Some(ct),
                None => {
                    return c.reply.error(&format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(v)
                    ))
                }
            }
        } else if eq_ic(opt, "user") {
            match s.acl.users.get(v) {
                Some(u) => user_cell = Some(u.clone()),
                None => {
                    return c.reply.error(&format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(v)
                    ))
                }
            }
        } else if eq_ic(opt, "skipme") {
            if eq_ic(v, "yes") {
                skipme = true;
            } else if eq_ic(v, "no") {
                skipme = false;
            } else {
                return c.reply.error(SYNTAX);
            }
        } else if eq_ic(opt, "maxage") {
            match num::string2ll(v) {
                Some(n) if n >= 0 => maxage = Some(n as u64),
                _ => return c.reply.error(SYNTAX),
            }
        } else {
            return c.reply.error(SYNTAX);
        }
        j += 2;
    }
    let now = Instant::now();
    let mut killed = 0;
    let mut kill_master = false;
    let victims: Vec<_> = s.clients.values().cloned().collect();
    for h in victims {
        if id.is_some_and(|i| i != h.id)
            || addr
                .as_ref()
                .is_some_and(|x| x.as_slice() != h.addr.as_bytes())
            || laddr
                .as_ref()
                .is_some_and(|x| x.as_slice() != h.laddr.as_bytes())
            || ctype.is_some_and(|t| t != ClientType::of(s, &h))
            || user_cell
                .as_ref()
                .is_some_and(|u| !std::rc::Rc::ptr_eq(u, &h.user.borrow()))
            || maxage.is_some_and(|m| now.duration_since(h.created).as_secs() < m)
        {
            continue;
        }
        if h.id == c.handle.id {
            if skipme {
                continue;
            }
            c.close_after_reply = true;
        } else if Some(h.id) == s.master_client {
            // The link to our master: dropped, and re-established at once (with a partial
            // resync when the master still has our offset), as Redis's freeClient(master).
            kill_master = true;
        } else {
            h.kill();
        }
        killed += 1;
    }
    if kill_master {
        crate::replica::reconnect(s);
    }
    c.reply.int(killed);
}

/// The classes CLIENT LIST / CLIENT KILL TYPE select (Redis's getClientType).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClientType {
    Normal,
    Master,
    Replica,
    PubSub,
}

impl ClientType {
    fn parse(v: &[u8]) -> Option<ClientType> {
        if eq_ic(v, "normal") {
            Some(ClientType::Normal)
        } else if eq_ic(v, "master") {
            Some(ClientType::Master)
        } else if eq_ic(v, "replica") || eq_ic(v, "slave") {
            Some(ClientType::Replica)
        } else if eq_ic(v, "pubsub") {
            Some(ClientType::PubSub)
        } else {
            None
        }
    }

    fn of(s: &Server, h: &crate::client::ClientHandle) -> ClientType {
        if Some(h.id) == s.master_client {
            ClientType::Master
        } else if h.replica.get() {
            ClientType::Replica
        } else {
            let i = h.info.borrow();
            if i.sub + i.psub > 0 {
                ClientType::PubSub
            } else {
                ClientType::Normal
            }
        }
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(s: &mut Server, c: &mut Client, a: Args) {
    let Some(ms) = num::string2ll(a.get(2)) else {
        return c
            .reply
            .error("ERR timeout is not an integer or out of range");
    };
    if ms < 0 {
        return c.reply.error("ERR timeout is negative");
    }
    let mut write_only = false;
    if a.len() == 4 {
        if eq_ic(a.get(3), "write") {
            write_only = true;
        } else if !eq_ic(a.get(3), "all") {
            return c.reply.error(SYNTAX);
        }
    } else if a.len() > 4 {
        return c.reply.error(SYNTAX);
    }
    let until = now_ms().saturating_add(ms);
    // A stricter or longer pause wins over an existing one, as in Redis.
    let p = match s.pause {
        Some(old) => Pause {
            until_ms: old.until_ms.max(until),
            write_only: old.write_only && write_only,
        },
        None => Pause {
            until_ms: until,
            write_only,
        },
    };
    s.pause = Some(p);
    c.reply.ok();
}

/// CLIENT REPLY ON|OFF|SKIP
pub fn client_reply(c: &mut Client, a: Args) {
    let m = a.get(2);
    if eq_ic(m, "on") {
        c.reply_mode = ReplyMode::On;
        c.reply.ok();
    } else if eq_ic(m, "off") {
        c.reply_mode = ReplyMode::Off;
    } else if eq_ic(m, "skip") {
        if c.reply_mode == ReplyMode::On {
            c.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        c.reply.error(SYNTAX);
    }
}

/// CLIENT NO-EVICT ON|OFF
pub fn client_no_evict(c: &mut Client, a: Args) {
    let m = a.get(2);
    if eq_ic(m, "on") {
        c.handle.info.borrow_mut().no_evict = true;
        c.reply.ok();
    } else if eq_ic(m, "off") {
        c.handle.info.borrow_mut().no_evict = false;
        c.reply.ok();
    } else {
        c.reply.error(SYNTAX);
    }
}

/// CLIENT HELP
pub fn client_help(c: &mut Client) {
    super::help_reply(
        c,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]
pub fn client_unblock(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() > 4 {
        return c
            .reply
            .error("ERR unknown subcommand 'unblock'. Try CLIENT HELP.");
    }
    let Some(id) = num::string2ll(a.get(2)) else {
        return c.reply.error("ERR value is not an integer or out of range");
    };
    let as_error = if a.len() == 4 {
        let r = a.get(3);
        if r.eq_ignore_ascii_case(b"timeout") {
            false
        } else if r.eq_ignore_ascii_case(b"error") {
            true
        } else {
            return c
                .reply
                .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    } else {
        false
    };
    let err = as_error.then_some("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    let done = id >= 0 && crate::blocking::unblock(s, id as u64, err);
    c.reply.int(i64::from(done));
}
