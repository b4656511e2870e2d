//! The Sentinel's users, enough for AUTH, HELLO AUTH and the ACL commands Sentinel setups use:
//! users are on/off, have passwords or `nopass`; permission rules (`+@all`, `~*`, `&*`, ...)
//! are accepted but not enforced (every enabled user may run every Sentinel command). The
//! `default` user starts `on nopass`, or with `requirepass` as its password.

use crate::engine::{Engine, Out};
use cinnabar_resp::ReplyBuf;

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    pub passwords: Vec<String>,
}

impl User {
    fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
        }
    }

    pub fn default_user(requirepass: Option<&str>) -> User {
        User {
            name: "default".into(),
            enabled: true,
            nopass: requirepass.is_none(),
            passwords: requirepass.map(|p| vec![p.to_string()]).unwrap_or_default(),
        }
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "user {} {}",
            self.name,
            if self.enabled { "on" } else { "off" }
        );
        if self.nopass {
            s.push_str(" nopass");
        }
        for p in &self.passwords {
            s.push_str(&format!(" #{}", crate::acl::hex_digest(p)));
        }
        s.push_str(" ~* &* +@all");
        s
    }
}

/// A stand-in digest for ACL LIST (never the password itself).
fn hex_digest(p: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in p.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{:016x}", h)
}

fn is_permission_rule(r: &str) -> bool {
    let l = r.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "allkeys" | "allcommands" | "allchannels" | "resetkeys" | "resetchannels" | "nocommands"
    ) || r.starts_with(['+', '-', '~', '%', '&'])
}

impl Engine {
    pub fn user_can_login(&self, name: &str, pass: &str) -> bool {
        self.users
            .iter()
            .find(|u| u.name == name)
            .is_some_and(|u| u.enabled && (u.nopass || u.passwords.iter().any(|p| p == pass)))
    }

    /// Whether a new connection starts authenticated (the default user is on and nopass).
    pub fn default_auto_auth(&self) -> bool {
        self.users
            .iter()
            .find(|u| u.name == "default")
            .is_some_and(|u| u.enabled && u.nopass)
    }

    /// AUTH [user] pass.
    pub fn auth(&mut self, cid: u64, user: Option<&str>, pass: &str, r: &mut ReplyBuf) {
        let name = user.unwrap_or("default");
        if user.is_none() && self.default_auto_auth() {
            r.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }
        if self.user_can_login(name, pass) {
            if let Some(c) = self.clients.get_mut(&cid) {
                c.authed = true;
                c.user = name.to_string();
            }
            r.ok();
        } else {
            r.error("WRONGPASS invalid username-password pair or user is disabled.");
        }
    }

    pub fn acl_command(&mut self, cid: u64, argv: &[Vec<u8>], r: &mut ReplyBuf) {
        let st = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match st(&argv[1]).to_ascii_lowercase().as_str() {
            "whoami" => {
                let u = self
                    .clients
                    .get(&cid)
                    .map(|c| c.user.clone())
                    .unwrap_or_default();
                r.bulk(u.as_bytes());
            }
            "users" => {
                let mut names: Vec<String> = self.users.iter().map(|u| u.name.clone()).collect();
                names.sort();
                r.array(names.len());
                for n in names {
                    r.bulk(n.as_bytes());
                }
            }
            "list" => {
                let mut us = self.users.clone();
                us.sort_by(|a, b| a.name.cmp(&b.name));
                r.array(us.len());
                for u in us {
                    r.bulk(u.describe().as_bytes());
                }
            }
            "setuser" => {
                let name = st(&argv[2]);
                let mut u = self
                    .users
                    .iter()
                    .find(|u| u.name == name)
                    .cloned()
                    .unwrap_or_else(|| User::new(&name));
                for rule in &argv[3..] {
                    let rule = st(rule);
                    let lo = rule.to_ascii_lowercase();
                    if lo == "on" {
                        u.enabled = true;
                    } else if lo == "off" {
                        u.enabled = false;
                    } else if let Some(p) = rule.strip_prefix('>') {
                        if !u.passwords.iter().any(|x| x == p) {
                            u.passwords.push(p.to_string());
                        }
                        u.nopass = false;
                    } else if let Some(p) = rule.strip_prefix('<') {
                        let before = u.passwords.len();
                        u.passwords.retain(|x| x != p);
                        if before == u.passwords.len() {
                            r.error(&format!(
                                "ERR Error in ACL SETUSER modifier '{rule}': no such password"
                            ));
                            return;
                        }
                    } else if lo == "nopass" {
                        u.nopass = true;
                        u.passwords.clear();
                    } else if lo == "resetpass" {
                        u.nopass = false;
                        u.passwords.clear();
                    } else if lo == "reset" {
                        u = User::new(&name);
                    } else if !is_permission_rule(&rule) {
                        r.error(&format!(
                            "ERR Error in ACL SETUSER modifier '{rule}': Syntax error"
                        ));
                        return;
                    }
                }
                match self.users.iter_mut().find(|x| x.name == name) {
                    Some(slot) => *slot = u,
                    None => self.users.push(u),
                }
                r.ok();
            }
            "deluser" => {
                let mut n = 0;
                for a in &argv[2..] {
                    let name = st(a);
                    if name == "default" {
                        r.error("ERR The 'default' user cannot be removed");
                        return;
                    }
                    let before = self.users.len();
                    self.users.retain(|u| u.name != name);
                    if self.users.len() != before {
                        n += 1;
                        for c in self.clients.values() {
                            if c.user == name && c.authed {
                                if c.id == cid {
                                    // The caller gets its reply first.
                                    self.close_after_reply = true;
                                } else {
                                    let _ = c.out.send(Out::Close);
                                }
                            }
                        }
                    }
                }
                r.int(n);
            }
            "help" => {
                r.array(1);
                r.simple("ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are: WHOAMI USERS LIST SETUSER DELUSER");
            }
            _ => r.error(&format!(
                "ERR ACL {} is not supported by this Sentinel",
                st(&argv[1]).to_ascii_uppercase()
            )),
        }
    }
}
