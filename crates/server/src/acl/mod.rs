//! ACL: users, their selectors (command bits, key and channel patterns), the rules that build
//! them (`ACL SETUSER` / `user` lines), their description back into rules (ACL LIST, GETUSER,
//! SAVE, CONFIG REWRITE) and the server's `Acl` state. `check.rs` holds the permission checks,
//! authentication and the ACL LOG; `cmd.rs` the ACL command and the ACL file; `load.rs` the
//! users loaded at startup.
//!
//! A client holds an `Rc<UserCell>`; ACL SETUSER changes the cell in place, so connected
//! clients see new rules at once, as in Redis. `UserCell::all` caches "every command, key and
//! channel": the dispatcher's whole cost for such a user (the default one) is reading it.

pub mod check;
pub mod cmd;
pub mod load;

pub use check::*;
pub use load::*;

use cinnabar_commands::table::{self, CommandSpec, ACL_CATEGORIES};
use cinnabar_util::glob::glob_match;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// Key pattern permission bits.
pub const KEY_READ: u8 = 1;
pub const KEY_WRITE: u8 = 2;
const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

/// Why a check failed (the numbers order the "most relevant" error across selectors, as
/// Redis's ACL_DENIED_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

/// Where a denied command ran (ACL LOG `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

/// A rule that could not be applied (Redis's errno values of ACLSetUser).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleErr {
    NoEnt,
    Inval,
    Exist,
    IsDir,
    NoDev,
    BadMsg,
    Child,
}

impl RuleErr {
    pub fn message(self) -> &'static str {
        match self {
            RuleErr::NoEnt => "Unknown command or category name in ACL",
            RuleErr::Inval => "Syntax error",
            RuleErr::Exist => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleErr::IsDir => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleErr::NoDev => "The password you are trying to remove from the user does not exist",
            RuleErr::BadMsg => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleErr::Child => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// One set of permissions: the root one of a user, or a `(...)` selector.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub root: bool,
    /// Allowed commands, one bit per `CommandSpec::index`.
    pub bits: Vec<u64>,
    /// Set by +@all: commands added later would be allowed (Redis's reserved bit).
    pub future: bool,
    /// Every command allowed (cleared as soon as one bit is cleared).
    pub allcommands: bool,
    /// command index → allowed first arguments (`+select|0`).
    pub firstargs: BTreeMap<usize, Vec<Vec<u8>>>,
    pub allkeys: bool,
    pub keys: Vec<(Vec<u8>, u8)>,
    pub allchannels: bool,
    pub channels: Vec<Vec<u8>>,
}

fn nbits() -> usize {
    table::spec_count()
}

impl Selector {
    pub fn new(root: bool, pubsub_all: bool) -> Selector {
        Selector {
            root,
            bits: vec![0; nbits().div_ceil(64)],
            future: false,
            allcommands: false,
            firstargs: BTreeMap::new(),
            allkeys: false,
            keys: Vec::new(),
            allchannels: pubsub_all,
            channels: Vec::new(),
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set_bit(&mut self, i: usize, v: bool) {
        if let Some(w) = self.bits.get_mut(i / 64) {
            if v {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
                self.allcommands = false;
            }
        }
    }

    /// Allows or denies a command and, for a container, all its subcommands.
    fn change(&mut self, cmd: &CommandSpec, allow: bool) {
        self.set_bit(cmd.index, allow);
        self.firstargs.remove(&cmd.index);
        for sub in cmd.subcommands.values() {
            self.set_bit(sub.index, allow);
        }
    }

    fn set_category(&mut self, cat: u64, allow: bool) {
        for cmd in table::table().values() {
            if cmd.acl & cat != 0 {
                self.change(cmd, allow);
            }
            for sub in cmd.subcommands.values() {
                if sub.acl & cat != 0 {
                    self.change(sub, allow);
                }
            }
        }
    }

    fn count_category(&self, cat: u64) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for spec in table::all_specs() {
            if spec.acl & cat != 0 {
                if self.bit(spec.index) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// Applies one selector rule (Redis's ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleErr> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.allkeys = true;
                self.keys.clear();
            }
            b"resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
            }
            b"allchannels" | b"&*" => {
                self.allchannels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
            }
            b"allcommands" | b"+@all" => {
                self.bits.iter_mut().for_each(|w| *w = u64::MAX);
                self.future = true;
                self.allcommands = true;
                self.firstargs.clear();
            }
            b"nocommands" | b"-@all" => {
                self.bits.iter_mut().for_each(|w| *w = 0);
                self.future = false;
                self.allcommands = false;
                self.firstargs.clear();
            }
            _ => return self.apply_pattern_or_command(op),
        }
        Ok(())
    }

    fn apply_pattern_or_command(&mut self, op: &[u8]) -> Result<(), RuleErr> {
        let first = op.first().copied().unwrap_or(0);
        let second = op.get(1).copied().unwrap_or(0);
        if first == b'~' || first == b'%' {
            if self.allkeys {
                return Err(RuleErr::Exist);
            }
            let mut flags = 0u8;
            let mut off = 1;
            if first == b'%' {
                let mut closed = false;
                while off < op.len() {
                    let ch = op[off].to_ascii_uppercase();
                    if ch == b'R' && flags & KEY_READ == 0 {
                        flags |= KEY_READ;
                    } else if ch == b'W' && flags & KEY_WRITE == 0 {
                        flags |= KEY_WRITE;
                    } else if op[off] == b'~' {
                        off += 1;
                        closed = true;
                        break;
                    } else {
                        return Err(RuleErr::Inval);
                    }
                    off += 1;
                }
                if !closed || flags == 0 {
                    return Err(RuleErr::Inval);
                }
            } else {
                flags = KEY_ALL;
            }
            let pat = &op[off..];
            if has_spaces(pat) {
                return Err(RuleErr::Inval);
            }
            match self.keys.iter_mut().find(|(p, _)| p == pat) {
                Some(k) => k.1 |= flags,
                None => self.keys.push((pat.to_vec(), flags)),
            }
            self.allkeys = false;
        } else if first == b'&' {
            if self.allchannels {
                return Err(RuleErr::IsDir);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleErr::Inval);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if first == b'+' && second != b'@' {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let cmd = lookup_rule(name).ok_or(RuleErr::NoEnt)?;
                    self.change(cmd, true);
                }
                Some(p) => {
                    let (head, sub) = (&name[..p], &name[p + 1..]);
                    let cmd = lookup_rule(head).ok_or(RuleErr::NoEnt)?;
                    if cmd.fullname.contains('|') {
                        return Err(RuleErr::Child);
                    }
                    if sub.is_empty() {
                        return Err(RuleErr::Inval);
                    }
                    if !cmd.subcommands.is_empty() {
                        let cmd = lookup_rule(name).ok_or(RuleErr::NoEnt)?;
                        self.change(cmd, true);
                    } else {
                        crate::warning!("Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})", String::from_utf8_lossy(name));
                        let list = self.firstargs.entry(cmd.index).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            list.push(sub.to_vec());
                        }
                    }
                }
            }
        } else if first == b'-' && second != b'@' {
            let cmd = lookup_rule(&op[1..]).ok_or(RuleErr::NoEnt)?;
            self.change(cmd, false);
        } else if (first == b'+' || first == b'-') && second == b'@' {
            let cat = category_bit(&op[2..]).ok_or(RuleErr::NoEnt)?;
            self.set_category(cat, first == b'+');
        } else {
            return Err(RuleErr::Inval);
        }
        Ok(())
    }

    /// Every command, key and channel.
    fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    /// The command rules as ACL SETUSER would take them (Redis's
    /// ACLDescribeSelectorCommandRules: a category best fit, then single commands).
    pub fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let additive = !self.future;
        let mut fake = Selector::new(false, false);
        if additive {
            rules.push_str("-@all ");
        } else {
            rules.push_str("+@all ");
            let _ = fake.apply(b"+@all");
        }
        let mut temp = self.clone();
        let mut applied = [false; 64];
        loop {
            let mut best: Option<usize> = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, _) in ACL_CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(b) = best else { break };
            fake.set_category(1 << b, additive);
            temp.set_category(1 << b, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(ACL_CATEGORIES[b]);
            rules.push(' ');
            applied[b] = true;
        }
        let mut top: Vec<&CommandSpec> = table::table().values().collect();
        top.sort_by(|a, b| a.fullname.cmp(&b.fullname));
        for cmd in top {
            self.describe_single(&mut fake, &mut rules, cmd);
            let mut subs: Vec<&CommandSpec> = cmd.subcommands.values().collect();
            subs.sort_by(|a, b| a.fullname.cmp(&b.fullname));
            for sub in subs {
                self.describe_single(&mut fake, &mut rules, sub);
            }
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, fake: &mut Selector, rules: &mut String, cmd: &CommandSpec) {
        let userbit = self.bit(cmd.index);
        if userbit != fake.bit(cmd.index) {
            rules.push(if userbit { '+' } else { '-' });
            rules.push_str(&cmd.fullname);
            rules.push(' ');
            fake.change(cmd, userbit);
        }
        if !userbit {
            if let Some(args) = self.firstargs.get(&cmd.index) {
                for a in args {
                    rules.push('+');
                    rules.push_str(&cmd.fullname);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }

    /// Keys as GETUSER shows them.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        self.keys
            .iter()
            .map(|(p, f)| pattern_string(p, *f))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Channels as GETUSER shows them.
    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole selector as rules (Redis's ACLDescribeSelector).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.allkeys {
            s.push_str("~* ");
        } else {
            for (p, f) in &self.keys {
                s.push_str(&pattern_string(p, *f));
                s.push(' ');
            }
        }
        if self.allchannels {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands());
        s
    }

    fn check_key(&self, key: &[u8], flags: u8) -> bool {
        if self.allkeys {
            return true;
        }
        self.keys
            .iter()
            .any(|(p, f)| f & flags == flags && glob_match(p, key, false))
    }

    fn check_channel(&self, ch: &[u8], is_pattern: bool) -> bool {
        if self.allchannels {
            return true;
        }
        channel_in(&self.channels, ch, is_pattern)
    }

    /// Redis's ACLSelectorCheckCmd: Ok or the failure and the argument index it concerns.
    fn check_cmd(
        &self,
        cmd: &CommandSpec,
        args: &[&[u8]],
        keys: &mut Option<Vec<(usize, u8)>>,
    ) -> Result<(), (Denied, usize)> {
        if !self.allcommands && !cmd.has(table::flag::NO_AUTH) && !self.bit(cmd.index) {
            let idx = if cmd.fullname.contains('|') { 2 } else { 1 };
            let ok = args.len() >= 2
                && args.get(idx).is_some_and(|a| {
                    self.firstargs
                        .get(&cmd.index)
                        .is_some_and(|l| l.iter().any(|x| x.eq_ignore_ascii_case(a)))
                });
            if !ok {
                return Err((Denied::Cmd, 0));
            }
        }
        if !self.allkeys {
            let ks = keys.get_or_insert_with(|| command_keys(cmd, args));
            for &(pos, flags) in ks.iter() {
                if !self.check_key(args[pos], flags) {
                    return Err((Denied::Key, pos));
                }
            }
        }
        if !self.allchannels {
            if let Some((start, count, pattern)) = channel_spec(cmd) {
                let end = if count < 0 {
                    args.len()
                } else {
                    (start + count as usize).min(args.len())
                };
                for (pos, ch) in args.iter().enumerate().take(end).skip(start) {
                    if !self.check_channel(ch, pattern) {
                        return Err((Denied::Channel, pos));
                    }
                }
            }
        }
        Ok(())
    }

    /// Has full access of `flags` kind to every key (`~*`, `%R~*`, allkeys).
    fn unrestricted_keys(&self, flags: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|(p, f)| f & flags == flags && p.as_slice() == b"*")
    }
}

fn pattern_string(p: &[u8], f: u8) -> String {
    let prefix = match f {
        KEY_READ => "%R~",
        KEY_WRITE => "%W~",
        _ => "~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(p))
}

/// Channel patterns vs a channel: a plain channel is glob-matched, a pattern (PSUBSCRIBE)
/// compared literally.
fn channel_in(list: &[Vec<u8>], ch: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p.as_slice() == ch
        } else {
            glob_match(p, ch, false)
        }
    })
}

/// (first channel argument, count or -1 for all the rest, pattern) of the commands whose
/// channels ACL checks (publish and subscribe; unsubscribing is never refused).
fn channel_spec(cmd: &CommandSpec) -> Option<(usize, i32, bool)> {
    match cmd.fullname.as_str() {
        "subscribe" | "ssubscribe" => Some((1, -1, false)),
        "psubscribe" => Some((1, -1, true)),
        "publish" | "spublish" => Some((1, 1, false)),
        _ => None,
    }
}

/// The keys of a call with their read/write needs.
fn command_keys(cmd: &CommandSpec, args: &[&[u8]]) -> Vec<(usize, u8)> {
    let Ok(keys) = cmd.keys_with_flags(args) else {
        return Vec::new();
    };
    keys.into_iter()
        // Shard channels are described as keys marked not_key: not keys for ACL.
        .filter(|(p, f)| *p < args.len() && !f.to_ascii_lowercase().contains("not_key"))
        .map(|(p, f)| {
            let mut need = 0;
            for w in f.split_whitespace() {
                match w.to_ascii_lowercase().as_str() {
                    "access" => need |= KEY_READ,
                    "insert" | "delete" | "update" => need |= KEY_WRITE,
                    _ => {}
                }
            }
            (p, need)
        })
        .collect()
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b == b' ' || (b'\t'..=b'\r').contains(&b))
}

/// A command by "name" or "container|sub" (Redis's ACLLookupCommand).
fn lookup_rule(name: &[u8]) -> Option<&'static CommandSpec> {
    let parts: Vec<&[u8]> = name.split(|&b| b == b'|').collect();
    match parts.as_slice() {
        [one] => table::lookup(one),
        [parent, sub] => {
            let p = table::lookup(parent)?;
            if p.subcommands.is_empty() {
                return None;
            }
            table::lookup_sub(p, sub)
        }
        _ => None,
    }
}

/// The category bit of a name ("all" is not a category here: +@all is handled before).
pub fn category_bit(name: &[u8]) -> Option<u64> {
    let lower = name.to_ascii_lowercase();
    ACL_CATEGORIES
        .iter()
        .position(|c| c.as_bytes() == lower.as_slice())
        .map(|i| 1u64 << i)
}

/// A user.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    /// None: neither flag set; Some(true): skip-sanitize-payload; Some(false): sanitize-payload.
    pub sanitize_skip: Option<bool>,
    /// SHA-256 hashes, lowercase hex.
    pub passwords: Vec<String>,
    /// The root selector first.
    pub selectors: Vec<Selector>,
}

impl User {
    pub fn new(pubsub_all: bool) -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize_skip: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, pubsub_all)],
        }
    }

    /// Applies one rule (Redis's ACLSetUser).
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleErr> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize_skip = Some(true),
            b"sanitize-payload" => self.sanitize_skip = Some(false),
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"clearselectors" => self.selectors.truncate(1),
            b"reset" => {
                self.nopass = false;
                self.passwords.clear();
                let root = &mut self.selectors[0];
                root.allkeys = false;
                root.keys.clear();
                root.allchannels = pubsub_all;
                root.channels.clear();
                self.enabled = false;
                self.sanitize_skip = Some(false);
                self.selectors.truncate(1);
                let _ = self.selectors[0].apply(b"-@all");
            }
            _ => {
                let first = op[0];
                if first == b'>' || first == b'#' {
                    let h = if first == b'>' {
                        hash_password(&op[1..])
                    } else {
                        check_hash(&op[1..])?
                    };
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                } else if first == b'<' || first == b'!' {
                    let h = if first == b'<' {
                        hash_password(&op[1..])
                    } else {
                        check_hash(&op[1..])?
                    };
                    match self.passwords.iter().position(|p| *p == h) {
                        Some(i) => {
                            self.passwords.remove(i);
                        }
                        None => return Err(RuleErr::NoDev),
                    }
                } else if first == b'(' && op.last() == Some(&b')') {
                    let inner = &op[1..op.len() - 1];
                    let mut sel = Selector::new(false, pubsub_all);
                    for a in cinnabar_config::split_args(inner).unwrap_or_default() {
                        sel.apply(&a)?;
                    }
                    self.selectors.push(sel);
                } else {
                    self.selectors[0].apply(op)?;
                }
            }
        }
        Ok(())
    }

    fn unrestricted(&self) -> bool {
        self.selectors.iter().any(|s| s.unrestricted())
    }

    /// The rules after the name in ACL LIST (Redis's ACLDescribeUser).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            s.push_str("nopass ");
        }
        match self.sanitize_skip {
            Some(true) => s.push_str("skip-sanitize-payload "),
            Some(false) => s.push_str("sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        for (i, sel) in self.selectors.iter().enumerate() {
            if i == 0 {
                s.push_str(&sel.describe());
            } else {
                s.push_str(&format!(" ({})", sel.describe()));
            }
        }
        s
    }

    /// The flags GETUSER lists.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize_skip {
            Some(true) => v.push("skip-sanitize-payload"),
            Some(false) => v.push("sanitize-payload"),
            None => {}
        }
        v
    }

    /// Redis's ACLCheckAllUserCommandPerm: Ok, or the most relevant failure and its argument
    /// index.
    pub fn check(&self, cmd: &CommandSpec, args: &[&[u8]]) -> Result<(), (Denied, usize)> {
        let mut relevant = (Denied::Cmd, 0usize);
        let mut keys = None;
        for sel in &self.selectors {
            match sel.check_cmd(cmd, args, &mut keys) {
                Ok(()) => return Ok(()),
                Err((d, idx)) => {
                    if d > relevant.0 || (d == relevant.0 && idx > relevant.1) {
                        relevant = (d, idx);
                    }
                }
            }
        }
        Err(relevant)
    }

    /// The command is allowed and some selector that allows it reaches every key with
    /// `flags` (Redis's ACLUserCheckCmdWithUnrestrictedKeyAccess).
    pub fn check_cmd_all_keys(&self, cmd: &CommandSpec, args: &[&[u8]], flags: u8) -> bool {
        let mut keys = None;
        self.selectors
            .iter()
            .any(|s| s.check_cmd(cmd, args, &mut keys).is_ok() && s.unrestricted_keys(flags))
    }

    /// May read or write `key` with `flags` (Redis's ACLUserCheckKeyPerm).
    pub fn check_key(&self, key: &[u8], flags: u8) -> bool {
        self.selectors.iter().any(|s| s.check_key(key, flags))
    }

    pub fn check_channel(&self, ch: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.check_channel(ch, is_pattern))
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        let mut ok = false;
        for p in &self.passwords {
            // Compare every byte of every hash: no early exit on the first difference.
            let diff = p
                .bytes()
                .zip(h.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            ok |= diff == 0 && p.len() == h.len();
        }
        ok
    }
}

pub fn hash_password(p: &[u8]) -> String {
    cinnabar_config::sha256_hex(p)
}

fn check_hash(h: &[u8]) -> Result<String, RuleErr> {
    if h.len() != 64
        || !h
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(RuleErr::BadMsg);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// A user as clients hold it: its rules change in place.
#[derive(Debug)]
pub struct UserCell {
    pub name: Vec<u8>,
    /// Every command, key and channel allowed: the dispatcher checks nothing more.
    pub all: Cell<bool>,
    pub u: RefCell<User>,
}

impl UserCell {
    pub fn new(name: &[u8], u: User) -> Rc<UserCell> {
        let all = u.unrestricted();
        Rc::new(UserCell {
            name: name.to_vec(),
            all: Cell::new(all),
            u: RefCell::new(u),
        })
    }

    /// Replaces the rules.
    pub fn set(&self, u: User) {
        self.all.set(u.unrestricted());
        *self.u.borrow_mut() = u;
    }

    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

thread_local! {
    static SUPERUSER: Rc<UserCell> = {
        let mut u = User::new(true);
        for r in ["on", "nopass", "+@all", "~*", "&*"] {
            let _ = u.apply(r.as_bytes(), true);
        }
        UserCell::new(b"(superuser)", u)
    };
}

/// The user of internal clients (the master link, AOF loading): anything goes, as Redis's
/// NULL user.
pub fn superuser() -> Rc<UserCell> {
    SUPERUSER.with(|s| s.clone())
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: Denied,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub ctime_ms: i64,
    pub cinfo: String,
}

/// The server's ACL state.
pub struct Acl {
    pub users: BTreeMap<Vec<u8>, Rc<UserCell>>,
    pub default: Rc<UserCell>,
    pub log: VecDeque<LogEntry>,
    /// New selectors get `&*` (acl-pubsub-default allchannels).
    pub pubsub_all: bool,
    /// Cached: the default user needs no AUTH (nopass and on).
    pub default_open: bool,
    pub denied_auth: u64,
    pub denied_cmd: u64,
    pub denied_key: u64,
    pub denied_channel: u64,
}

/// The default user's initial rules.
pub fn default_user(pubsub_all: bool) -> User {
    let mut u = User::new(pubsub_all);
    for r in ["+@all", "~*", "&*", "on", "nopass"] {
        let _ = u.apply(r.as_bytes(), pubsub_all);
    }
    u
}

impl Default for Acl {
    fn default() -> Self {
        let default = UserCell::new(b"default", default_user(false));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users,
            default,
            log: VecDeque::new(),
            pubsub_all: false,
            default_open: true,
            denied_auth: 0,
            denied_cmd: 0,
            denied_key: 0,
            denied_channel: 0,
        }
    }
}

impl Acl {
    /// CONFIG RESETSTAT.
    pub fn reset_stats(&mut self) {
        self.denied_auth = 0;
        self.denied_cmd = 0;
        self.denied_key = 0;
        self.denied_channel = 0;
    }

    /// Recomputes what depends on the default user.
    pub fn refresh(&mut self) {
        let d = self.default.u.borrow();
        self.default_open = d.nopass && d.enabled;
    }

    /// requirepass: resets the default user's passwords (Redis's
    /// ACLUpdateDefaultUserPassword).
    pub fn set_requirepass(&mut self, pass: Option<&[u8]>) {
        let mut u = self.default.u.borrow().clone();
        let _ = u.apply(b"resetpass", self.pubsub_all);
        match pass {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p);
                let _ = u.apply(&op, self.pubsub_all);
            }
            None => {
                let _ = u.apply(b"nopass", self.pubsub_all);
            }
        }
        self.default.set(u);
        self.refresh();
    }

    /// Every user as a `user <name> <rules>` line, by name.
    pub fn lines(&self) -> Vec<Vec<u8>> {
        self.users
            .iter()
            .map(|(n, u)| {
                let mut l = b"user ".to_vec();
                l.extend_from_slice(n);
                l.push(b' ');
                l.extend_from_slice(u.u.borrow().describe().as_bytes());
                l
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(false);
        for r in rules {
            u.apply(r.as_bytes(), false).expect("rule");
        }
        u
    }

    #[test]
    fn describe_round_trips() {
        assert_eq!(default_user(false).describe(), "on nopass ~* &* +@all");
        assert_eq!(User::new(false).describe(), "off resetchannels -@all");
        let u = user(&["+@all", "-client|kill"]);
        assert_eq!(u.selectors[0].describe_commands(), "+@all -client|kill");
        let u = user(&["+client|kill", "+client"]);
        assert_eq!(u.selectors[0].describe_commands(), "-@all +client");
        let u = user(&["-@all", "+select|0", "+select|1"]);
        assert_eq!(
            u.selectors[0].describe_commands(),
            "-@all +select|0 +select|1"
        );
        // (A category with no command here, such as geo, cannot round trip.)
        for (i, cat) in ACL_CATEGORIES.iter().enumerate() {
            if Selector::new(false, false).count_category(1 << i) == (0, 0) {
                continue;
            }
            let u = user(&["reset", "+@all", &format!("-@{cat}")]);
            assert_eq!(u.selectors[0].describe_commands(), format!("+@all -@{cat}"));
            let u = user(&["reset", "-@all", &format!("+@{cat}")]);
            assert_eq!(u.selectors[0].describe_commands(), format!("-@all +@{cat}"));
        }
    }

    #[test]
    fn errors() {
        let mut u = User::new(false);
        assert_eq!(u.apply(b"%~a", false), Err(RuleErr::Inval));
        assert_eq!(u.apply(b"+config|get|x", false), Err(RuleErr::Child));
        assert_eq!(u.apply(b"+get|a|b", false), Err(RuleErr::NoEnt));
        assert_eq!(u.apply(b"<nope", false), Err(RuleErr::NoDev));
        assert_eq!(u.apply(b"#abc", false), Err(RuleErr::BadMsg));
        assert!(merge_selectors(&[b"(+get".to_vec()]).is_none());
    }

    #[test]
    fn key_permissions() {
        let u = user(&["on", "+@all", "%R~r*", "%W~w*"]);
        let get = table::lookup(b"get").expect("get");
        let set = table::lookup(b"set").expect("set");
        assert!(u.check(get, &[b"get", b"r1"]).is_ok());
        assert_eq!(u.check(get, &[b"get", b"w1"]), Err((Denied::Key, 1)));
        assert!(u.check(set, &[b"set", b"w1", b"v"]).is_ok());
        assert_eq!(u.check(set, &[b"set", b"r1", b"v"]), Err((Denied::Key, 1)));
    }
}
