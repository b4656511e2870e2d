//! The ACL command (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, GENPASS, DRYRUN,
//! SAVE, LOAD, HELP) and the ACL file: LOAD is all-or-nothing, SAVE writes through a temp file
//! and a rename.

use super::{
    category_bit, has_spaces, kill_clients_of, kill_pubsub_if_needed, merge_selectors_at, Context,
    Denied, RuleErr, Selector, User, UserCell,
};
use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::table::{self, ACL_CATEGORIES};
use cinnabar_resp::Args;
use std::collections::BTreeMap;
use std::rc::Rc;

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Runs `acl|<sub>`.
pub fn run(s: &mut Server, c: &mut Client, sub: &str, a: Args) {
    match sub {
        "setuser" => setuser(s, c, a),
        "deluser" => deluser(s, c, a),
        "getuser" => getuser(s, c, a),
        "list" | "users" => {
            c.reply.array(s.acl.users.len());
            if sub == "users" {
                for n in s.acl.users.keys() {
                    c.reply.bulk(n);
                }
            } else {
                for l in s.acl.lines() {
                    c.reply.bulk(&l);
                }
            }
        }
        "whoami" => {
            let n = c.user.name.clone();
            c.reply.bulk(&n);
        }
        "cat" => cat(c, a),
        "genpass" => genpass(c, a),
        "log" => log(s, c, a),
        "dryrun" => dryrun(s, c, a),
        "load" | "save" => {
            let file = s.cfg.get_value("aclfile").unwrap_or_default();
            if file.is_empty() {
                return c.reply.error(NO_ACLFILE);
            }
            if sub == "load" {
                match load_file(s, &file, Some(c)) {
                    Ok(()) => c.reply.ok(),
                    Err(e) => c.reply.error(&format!("ERR {e}")),
                }
            } else {
                match save_file(s, &file) {
                    Ok(()) => c.reply.ok(),
                    Err(e) => {
                        crate::warning!("{e}");
                        c.reply.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                    }
                }
            }
        }
        "help" => super::super::cmds::help_reply(
            c,
            "ACL",
            &[
                "CAT [<category>]",
                "    List all commands that belong to <category>, or all command categories",
                "    when no category is specified.",
                "DELUSER <username> [<username> ...]",
                "    Delete a list of users.",
                "DRYRUN <username> <command> [<arg> ...]",
                "    Returns whether the user can execute the given command without executing the command.",
                "GETUSER <username>",
                "    Get the user's details.",
                "GENPASS [<bits>]",
                "    Generate a secure 256-bit user password. The optional `bits` argument can",
                "    be used to specify a different size.",
                "LIST",
                "    Show users details in config file format.",
                "LOAD",
                "    Reload users from the ACL file.",
                "LOG [<count> | RESET]",
                "    Show the ACL log entries.",
                "SAVE",
                "    Save the current config to the ACL file.",
                "SETUSER <username> <attribute> [<attribute> ...]",
                "    Create or modify a user with the specified attributes.",
                "USERS",
                "    List all the registered usernames.",
                "WHOAMI",
                "    Return the current connection username.",
            ],
        ),
        _ => c.reply.error("ERR unknown subcommand"),
    }
}

fn subcommand_syntax(c: &mut Client, a: Args) {
    c.reply.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        String::from_utf8_lossy(a.get(1))
    ));
}

/// Applies `ops` to a copy of `base`: the new rules, or the error reply text.
fn staged(base: &User, ops: &[Vec<u8>], pubsub_all: bool) -> Result<User, String> {
    let merged = merge_selectors_at(ops).map_err(|j| {
        format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(&ops[j])
        )
    })?;
    let mut u = base.clone();
    for op in &merged {
        if let Err(e) = u.apply(op, pubsub_all) {
            return Err(format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.message()
            ));
        }
    }
    Ok(u)
}

fn setuser(s: &mut Server, c: &mut Client, a: Args) {
    let name = a.get(2);
    if has_spaces(name) {
        return c
            .reply
            .error("ERR Usernames can't contain spaces or null characters");
    }
    let ops: Vec<Vec<u8>> = a.tail(3).iter().map(|x| x.to_vec()).collect();
    let pubsub_all = s.acl.pubsub_all;
    let existing = s.acl.users.get(name).cloned();
    let base = match &existing {
        Some(u) => u.u.borrow().clone(),
        None => User::new(pubsub_all),
    };
    let new = match staged(&base, &ops, pubsub_all) {
        Ok(u) => u,
        Err(e) => return c.reply.error(&format!("ERR {e}")),
    };
    match existing {
        Some(cell) => {
            kill_pubsub_if_needed(s, c, &cell, &base, &new);
            cell.set(new);
        }
        None => {
            s.acl.users.insert(name.to_vec(), UserCell::new(name, new));
        }
    }
    s.acl.refresh();
    c.reply.ok();
}

fn deluser(s: &mut Server, c: &mut Client, a: Args) {
    if a.tail(2).iter().any(|n| n == b"default") {
        return c.reply.error("ERR The 'default' user cannot be removed");
    }
    let mut deleted = 0;
    for n in a.tail(2).iter() {
        if let Some(u) = s.acl.users.remove(n) {
            // Anything still holding the user can do nothing more.
            let mut dead = User::new(false);
            let _ = dead.apply(b"reset", false);
            u.set(dead);
            kill_clients_of(s, c, &u);
            deleted += 1;
        }
    }
    c.reply.int(deleted);
}

fn selector_fields(c: &mut Client, sel: &Selector) {
    c.reply.bulk(b"commands");
    c.reply.bulk(sel.describe_commands().as_bytes());
    c.reply.bulk(b"keys");
    c.reply.bulk(sel.describe_keys().as_bytes());
    c.reply.bulk(b"channels");
    c.reply.bulk(sel.describe_channels().as_bytes());
}

fn getuser(s: &mut Server, c: &mut Client, a: Args) {
    let Some(cell) = s.acl.users.get(a.get(2)).cloned() else {
        return c.reply.null();
    };
    let u = cell.u.borrow();
    c.reply.map(6);
    c.reply.bulk(b"flags");
    let flags = u.flag_names();
    c.reply.set(flags.len());
    for f in flags {
        c.reply.bulk(f.as_bytes());
    }
    c.reply.bulk(b"passwords");
    c.reply.array(u.passwords.len());
    for p in &u.passwords {
        c.reply.bulk(p.as_bytes());
    }
    selector_fields(c, &u.selectors[0]);
    c.reply.bulk(b"selectors");
    c.reply.array(u.selectors.len() - 1);
    for sel in &u.selectors[1..] {
        c.reply.map(3);
        selector_fields(c, sel);
    }
}

fn cat(c: &mut Client, a: Args) {
    if a.len() > 3 {
        return subcommand_syntax(c, a);
    }
    if a.len() == 2 {
        c.reply.array(ACL_CATEGORIES.len());
        for n in ACL_CATEGORIES {
            c.reply.bulk(n.as_bytes());
        }
        return;
    }
    let Some(bit) = category_bit(a.get(2)) else {
        let name = a.get(2);
        let name = &name[..name.len().min(128)];
        return c.reply.error(&format!(
            "ERR Unknown category '{}'",
            String::from_utf8_lossy(name)
        ));
    };
    let mut names = Vec::new();
    for cmd in table::table().values() {
        if cmd.acl & bit != 0 {
            names.push(cmd.fullname.clone());
        }
        for sub in cmd.subcommands.values() {
            if sub.acl & bit != 0 {
                names.push(sub.fullname.clone());
            }
        }
    }
    c.reply.array(names.len());
    for n in names {
        c.reply.bulk(n.as_bytes());
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend_from_slice(crate::server::random_hex40().as_bytes());
    }
    out.truncate(n);
    out
}

fn genpass(c: &mut Client, a: Args) {
    if a.len() > 3 {
        return subcommand_syntax(c, a);
    }
    let mut bits = 256i64;
    if a.len() == 3 {
        match cinnabar_util::num::string2ll(a.get(2)) {
            Some(v) => bits = v,
            None => return c.reply.error("ERR value is not an integer or out of range"),
        }
    }
    if bits <= 0 || bits > 4096 {
        return c.reply.error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
    }
    let chars = ((bits + 3) / 4) as usize;
    c.reply.bulk(&random_bytes(chars));
}

fn log(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() > 3 {
        return subcommand_syntax(c, a);
    }
    let mut count = 10i64;
    if a.len() == 3 {
        if a.get(2).eq_ignore_ascii_case(b"reset") {
            s.acl.log.clear();
            return c.reply.ok();
        }
        match cinnabar_util::num::string2ll(a.get(2)) {
            Some(v) => count = v.max(0),
            None => return c.reply.error("ERR value is not an integer or out of range"),
        }
    }
    let n = (count as usize).min(s.acl.log.len());
    let now = crate::server::now_ms();
    c.reply.array(n);
    for e in s.acl.log.iter().take(n) {
        c.reply.map(7);
        c.reply.bulk(b"count");
        c.reply.int(e.count as i64);
        c.reply.bulk(b"reason");
        c.reply.bulk(match e.reason {
            Denied::Cmd => b"command",
            Denied::Key => b"key",
            Denied::Channel => b"channel",
            Denied::Auth => b"auth",
        });
        c.reply.bulk(b"context");
        c.reply.bulk(match e.context {
            Context::Toplevel => b"toplevel".as_slice(),
            Context::Multi => b"multi",
            Context::Lua => b"lua",
        });
        c.reply.bulk(b"object");
        c.reply.bulk(&e.object);
        c.reply.bulk(b"username");
        c.reply.bulk(&e.username);
        c.reply.bulk(b"age-seconds");
        let age = (now - e.ctime_ms) as f64 / 1000.0;
        c.reply
            .double_str(cinnabar_util::num::fmt_g17(age).as_bytes());
        c.reply.bulk(b"client-info");
        c.reply.bulk(e.cinfo.as_bytes());
    }
}

fn dryrun(s: &mut Server, c: &mut Client, a: Args) {
    let Some(cell) = s.acl.users.get(a.get(2)).cloned() else {
        return c.reply.error(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(a.get(2))
        ));
    };
    let rest = a.tail(3);
    let Some(mut cmd) = table::lookup(rest.get(0)) else {
        return c.reply.error(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(rest.get(0))
        ));
    };
    if !cmd.subcommands.is_empty() && rest.len() >= 2 {
        match table::lookup_sub(cmd, rest.get(1)) {
            Some(sub) => cmd = sub,
            None => {
                return c.reply.error(&format!(
                    "ERR Command '{}' not found",
                    String::from_utf8_lossy(rest.get(0))
                ))
            }
        }
    }
    if !cmd.arity_ok(rest.len()) {
        return c.reply.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        ));
    }
    let argv: Vec<&[u8]> = rest.iter().collect();
    let res = cell.u.borrow().check(cmd, &argv);
    match res {
        Ok(()) => c.reply.ok(),
        Err((why, pos)) => {
            let arg = String::from_utf8_lossy(argv.get(pos).copied().unwrap_or_default());
            let msg = match why {
                Denied::Cmd => format!(
                    "This user has no permissions to run the '{}' command",
                    cmd.fullname
                ),
                Denied::Key => format!("This user has no permissions to access the '{arg}' key"),
                _ => format!("This user has no permissions to access the '{arg}' channel"),
            };
            c.reply.bulk(msg.as_bytes());
        }
    }
}

/// Splits an ACL file line on single spaces, as Redis's sdssplitlen (empty tokens kept).
fn split_spaces(line: &[u8]) -> Vec<Vec<u8>> {
    line.split(|&b| b == b' ').map(|t| t.to_vec()).collect()
}

/// ACL LOAD (and the aclfile at startup): every line is checked first; with any error nothing
/// changes and the errors are returned in one line. On success the users are replaced (the
/// default user keeps its identity) and clients of users that were replaced are closed.
pub fn load_file(
    s: &mut Server,
    path: &str,
    mut caller: Option<&mut Client>,
) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            cinnabar_config::num::strerror(&e)
        )
    })?;
    let pubsub_all = s.acl.pubsub_all;
    let mut errors = String::new();
    let mut users: BTreeMap<Vec<u8>, User> = BTreeMap::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv = split_spaces(line);
        if argv.first().map(|a| a.as_slice()) != Some(b"user") || argv.len() < 2 {
            errors.push_str(&format!(
                "{path}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1].clone();
        if has_spaces(&name) {
            errors.push_str(&format!(
                "'{path}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(&name)
            ));
            continue;
        }
        if users.contains_key(&name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(&name)
            ));
            continue;
        }
        let mut u = User::new(pubsub_all);
        let ops = match merge_selectors_at(&argv[2..]) {
            Ok(o) => o,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for op in &ops {
            let op = trim(op, b"\t\r\n");
            if let Err(e) = u.apply(op, pubsub_all) {
                if e == RuleErr::NoEnt {
                    errors.push_str(&format!(
                        "{path}:{linenum}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.message()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{path}:{linenum}: {}. ", e.message()));
                    syntax_error = true;
                }
            }
        }
        users.insert(name, u);
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    let new_default = users
        .remove(b"default".as_slice())
        .unwrap_or_else(|| super::default_user(pubsub_all));
    let old = std::mem::take(&mut s.acl.users);
    let default = s.acl.default.clone();
    default.set(new_default);
    s.acl.users.insert(b"default".to_vec(), default);
    for (n, u) in users {
        s.acl.users.insert(n.clone(), UserCell::new(&n, u));
    }
    // Every old user but the default one is gone: its clients are closed.
    let mut scratch = None;
    for (n, u) in old {
        if n == b"default" {
            continue;
        }
        let mut dead = User::new(false);
        let _ = dead.apply(b"reset", false);
        u.set(dead);
        match caller.as_deref_mut() {
            Some(c) => kill_clients_of(s, c, &u),
            None => {
                let c = scratch.get_or_insert_with(|| {
                    Client::new(
                        Rc::new(crate::client::ClientHandle::new(
                            0,
                            -1,
                            String::new(),
                            String::new(),
                            false,
                        )),
                        true,
                    )
                });
                kill_clients_of(s, c, &u);
            }
        }
    }
    s.acl.refresh();
    Ok(())
}

fn trim<'a>(mut b: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let Some((f, rest)) = b.split_first() {
        if set.contains(f) {
            b = rest;
        } else {
            break;
        }
    }
    while let Some((l, rest)) = b.split_last() {
        if set.contains(l) {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// ACL SAVE: every user, by name, through a temp file and a rename.
pub fn save_file(s: &Server, path: &str) -> Result<(), String> {
    let mut out = Vec::new();
    for l in s.acl.lines() {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::server::now_ms()
    );
    let res = (|| -> std::io::Result<()> {
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("Writing ACL file for ACL SAVE: {e}"));
    }
    Ok(())
}
