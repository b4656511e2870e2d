//! The permission checks (dispatcher, EXEC, scripts), authentication, the ACL LOG and the
//! clients closed when their user goes or loses channels.

use super::*;
use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::table::CommandSpec;
use cinnabar_resp::Args;
use std::rc::Rc;

/// A client needs AUTH before running commands (Redis's authRequired).
#[inline]
pub fn auth_required(s: &Server, c: &Client) -> bool {
    !c.authenticated && !s.acl.default_open
}

/// Checks credentials: the user when they are right and the user is on.
pub fn check_credentials(s: &Server, user: &[u8], pass: &[u8]) -> Option<Rc<UserCell>> {
    let u = s.acl.users.get(user)?;
    let ok = {
        let b = u.u.borrow();
        b.enabled && b.password_ok(pass)
    };
    ok.then(|| u.clone())
}

/// AUTH / HELLO AUTH: on success the client is authenticated as the user; on failure the
/// attempt is logged (reason auth, object the command name) and false returned.
pub fn authenticate(s: &mut Server, c: &mut Client, user: &[u8], pass: &[u8], cmd: &[u8]) -> bool {
    match check_credentials(s, user, pass) {
        Some(u) => {
            c.authenticated = true;
            set_client_user(c, u);
            true
        }
        None => {
            let ctx = if c.multi.is_some() {
                Context::Multi
            } else {
                Context::Toplevel
            };
            log_denied(
                s,
                c,
                Denied::Auth,
                ctx,
                cmd.to_vec(),
                Some(user),
                Some("auth"),
            );
            false
        }
    }
}

/// Makes `u` the client's user (and what CLIENT LIST shows).
pub fn set_client_user(c: &mut Client, u: Rc<UserCell>) {
    *c.handle.user.borrow_mut() = u.clone();
    c.user = u;
}

/// Adds an ACL LOG entry, or bumps a similar recent one.
pub fn log_denied(
    s: &mut Server,
    c: &Client,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Option<&[u8]>,
    cmd_name: Option<&str>,
) {
    match reason {
        Denied::Auth => s.acl.denied_auth += 1,
        Denied::Cmd => s.acl.denied_cmd += 1,
        Denied::Key => s.acl.denied_key += 1,
        Denied::Channel => s.acl.denied_channel += 1,
    }
    let cinfo = {
        let mut i = c.handle.info.borrow_mut();
        i.name.clone_from(&c.name);
        i.db = c.db;
        i.resp = if c.reply.resp3 { 3 } else { 2 };
        drop(i);
        c.handle.list_line(std::time::Instant::now(), cmd_name)
    };
    let username = username
        .map(|u| u.to_vec())
        .unwrap_or_else(|| c.user.name.clone());
    push_entry(s, reason, context, object, username, cinfo);
}

/// The dispatcher's check for a user that is not unrestricted: true when the command may
/// run; otherwise the NOPERM error is replied and logged.
#[cold]
pub fn check_command(
    s: &mut Server,
    c: &mut Client,
    cmd: &'static CommandSpec,
    args: Args,
) -> bool {
    let argv: Vec<&[u8]> = args.iter().collect();
    let res = c.user.u.borrow().check(cmd, &argv);
    let Err((why, pos)) = res else {
        if matches!(cmd.fullname.as_str(), "sort" | "sort_ro") {
            if let Some(e) = sort_patterns_denied(&c.user.u.borrow(), cmd, &argv) {
                c.reply.error(e);
                return false;
            }
        }
        return true;
    };
    let ctx = if c.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let object = match why {
        Denied::Cmd => cmd.fullname.as_bytes().to_vec(),
        _ => argv.get(pos).map(|a| a.to_vec()).unwrap_or_default(),
    };
    log_denied(s, c, why, ctx, object, None, Some(&cmd.fullname));
    match why {
        Denied::Cmd => c.reply.error(&format!(
            "NOPERM this user has no permissions to run the '{}' command",
            cmd.fullname
        )),
        Denied::Key => c.reply.error(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ),
        _ => c.reply.error(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
    }
    false
}

/// SORT's BY and GET patterns read arbitrary keys: they need read access to every key (Redis
/// checks this in sortCommand).
fn sort_patterns_denied(u: &User, cmd: &CommandSpec, argv: &[&[u8]]) -> Option<&'static str> {
    let mut full: Option<bool> = None;
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let a = argv[j];
        if a.eq_ignore_ascii_case(b"limit") && more >= 2 {
            j += 3;
            continue;
        }
        if (a.eq_ignore_ascii_case(b"store")) && more >= 1 {
            j += 2;
            continue;
        }
        let by = a.eq_ignore_ascii_case(b"by");
        if (by || a.eq_ignore_ascii_case(b"get")) && more >= 1 {
            let needs = !by || argv[j + 1].contains(&b'*');
            if needs && !*full.get_or_insert_with(|| u.check_cmd_all_keys(cmd, argv, KEY_READ)) {
                return Some(if by {
                    "ERR BY option of SORT denied due to insufficient ACL permissions."
                } else {
                    "ERR GET option of SORT denied due to insufficient ACL permissions."
                });
            }
            j += 2;
            continue;
        }
        j += 1;
    }
    None
}

/// EXEC's re-check of a queued command (the rules may have changed since it was queued):
/// None when allowed, else the error to reply.
pub fn check_at_exec(
    s: &mut Server,
    c: &mut Client,
    cmd: &'static CommandSpec,
    args: Args,
) -> Option<String> {
    if c.user.all.get() {
        return None;
    }
    let argv: Vec<&[u8]> = args.iter().collect();
    let res = c.user.u.borrow().check(cmd, &argv);
    let Err((why, pos)) = res else {
        return None;
    };
    let object = match why {
        Denied::Cmd => cmd.fullname.as_bytes().to_vec(),
        _ => argv.get(pos).map(|a| a.to_vec()).unwrap_or_default(),
    };
    log_denied(s, c, why, Context::Multi, object, None, Some(&cmd.fullname));
    let reason = match why {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        _ => "no permission to access one of the channels used as arguments",
    };
    Some(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"))
}

/// A script's `redis.call` check (the script client carries the caller's user): None when
/// allowed, else the error message for the script.
pub fn check_script(
    s: &mut Server,
    sc: &Client,
    caller_info: &str,
    cmd: &'static CommandSpec,
    args: Args,
) -> Option<String> {
    if sc.user.all.get() {
        return None;
    }
    let argv: Vec<&[u8]> = args.iter().collect();
    let res = sc.user.u.borrow().check(cmd, &argv);
    let Err((why, pos)) = res else {
        return None;
    };
    let object = match why {
        Denied::Cmd => cmd.fullname.as_bytes().to_vec(),
        _ => argv.get(pos).map(|a| a.to_vec()).unwrap_or_default(),
    };
    match why {
        Denied::Auth => s.acl.denied_auth += 1,
        Denied::Cmd => s.acl.denied_cmd += 1,
        Denied::Key => s.acl.denied_key += 1,
        Denied::Channel => s.acl.denied_channel += 1,
    }
    push_entry(
        s,
        why,
        Context::Lua,
        object,
        sc.user.name.clone(),
        caller_info.to_string(),
    );
    let msg = match why {
        Denied::Cmd => "can't run this command or subcommand",
        Denied::Key => "can't access at least one of the keys mentioned in the command arguments",
        _ => "can't publish to the channel mentioned in the command",
    };
    Some(format!("The user executing the script {msg}"))
}

fn push_entry(
    s: &mut Server,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Vec<u8>,
    cinfo: String,
) {
    let now = crate::server::now_ms();
    let max = s
        .cfg
        .get_value("acllog-max-len")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(128);
    if let Some(i) = s.acl.log.iter().take(10).position(|e| {
        e.reason == reason
            && e.context == context
            && (e.ctime_ms - now).abs() <= 60_000
            && e.object == object
            && e.username == username
    }) {
        if let Some(mut e) = s.acl.log.remove(i) {
            e.cinfo = cinfo;
            e.ctime_ms = now;
            e.count += 1;
            s.acl.log.push_front(e);
        }
        return;
    }
    s.acl.log.push_front(LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        ctime_ms: now,
        cinfo,
    });
    while s.acl.log.len() > max {
        s.acl.log.pop_back();
    }
}

/// Closes every client authenticated as `u` (DELUSER, ACL LOAD); the calling client after its
/// reply.
pub fn kill_clients_of(s: &mut Server, c: &mut Client, u: &Rc<UserCell>) {
    for h in s.clients.values() {
        if Rc::ptr_eq(&h.user.borrow(), u) {
            if h.id == c.handle.id {
                c.close_after_reply = true;
            } else {
                h.kill();
            }
        }
    }
}

/// After a user's channel rules changed: its pub/sub clients whose subscriptions the new
/// rules no longer allow are closed (Redis's ACLKillPubsubClientsIfNeeded).
pub fn kill_pubsub_if_needed(
    s: &mut Server,
    c: &mut Client,
    cell: &Rc<UserCell>,
    old: &User,
    new: &User,
) {
    if new.selectors.iter().any(|x| x.allchannels) {
        return;
    }
    let upcoming: Vec<Vec<u8>> = new
        .selectors
        .iter()
        .flat_map(|x| x.channels.iter().cloned())
        .collect();
    let superset = old
        .selectors
        .iter()
        .all(|x| !x.allchannels && x.channels.iter().all(|ch| upcoming.contains(ch)));
    if superset {
        return;
    }
    let mut victims: Vec<u64> = Vec::new();
    let ps = &s.pubsub;
    for (pat, ids) in &ps.patterns {
        if !channel_in(&upcoming, pat, true) {
            victims.extend(ids);
        }
    }
    for (ch, ids) in ps.channels.iter().chain(ps.shard_channels.iter()) {
        if !channel_in(&upcoming, ch, false) {
            victims.extend(ids);
        }
    }
    victims.sort_unstable();
    victims.dedup();
    for id in victims {
        let Some(h) = s.clients.get(&id) else {
            continue;
        };
        if !Rc::ptr_eq(&h.user.borrow(), cell) {
            continue;
        }
        if id == c.handle.id {
            c.close_after_reply = true;
        } else {
            h.kill();
        }
    }
}
