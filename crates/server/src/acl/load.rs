//! Users at startup: `user` lines of the configuration (checked while it is read), then the
//! aclfile.

use super::*;
use crate::server::Server;

/// Loads `user` lines from the configuration, then the aclfile (Redis's
/// ACLLoadUsersAtStartup). Err: the message to log before exiting.
pub fn load_at_startup(s: &mut Server) -> Result<(), String> {
    s.acl.pubsub_all = s
        .cfg
        .get_value("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels");
    let pass = s.settings.requirepass.clone();
    let default = UserCell::new(b"default", default_user(s.acl.pubsub_all));
    s.acl.default = default.clone();
    s.acl.users.insert(b"default".to_vec(), default);
    if let Some(p) = pass {
        s.acl.set_requirepass(Some(&p));
    }
    let aclfile = s.cfg.get_value("aclfile").unwrap_or_default();
    let lines: Vec<Vec<Vec<u8>>> = s
        .cfg
        .user_directives()
        .iter()
        .map(|l| l.args.clone())
        .collect();
    if !aclfile.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    for args in lines {
        let Some(name) = args.first() else { continue };
        if has_spaces(name) {
            crate::warning!("Spaces not allowed in ACL usernames");
            return Err("Critical error while loading ACLs. Exiting.".into());
        }
        let pubsub_all = s.acl.pubsub_all;
        let cell = match s.acl.users.get(name) {
            Some(u) => {
                let mut base = u.u.borrow().clone();
                let _ = base.apply(b"reset", pubsub_all);
                u.set(base);
                u.clone()
            }
            None => {
                let u = UserCell::new(name, User::new(pubsub_all));
                s.acl.users.insert(name.clone(), u.clone());
                u
            }
        };
        let mut user = cell.u.borrow().clone();
        let ops = merge_selectors(&args[1..]).unwrap_or_default();
        for op in &ops {
            if let Err(e) = user.apply(op, pubsub_all) {
                crate::warning!(
                    "Error loading ACL rule '{}' for the user named '{}': {}",
                    String::from_utf8_lossy(op),
                    String::from_utf8_lossy(name),
                    e.message()
                );
                return Err("Critical error while loading ACLs. Exiting.".into());
            }
        }
        if !user.enabled {
            crate::notice!("The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.", String::from_utf8_lossy(name));
        }
        cell.set(user);
    }
    s.acl.refresh();
    if !aclfile.is_empty() {
        if let Err(e) = cmd::load_file(s, &aclfile, None) {
            return Err(format!("Aborting Redis startup because of ACL errors: {e}"));
        }
    }
    Ok(())
}

/// The `check_user` hook for configuration loading: a `user` line whose rules are wrong is
/// an error at startup (unknown commands are not: modules might add them).
pub fn check_user_line(argv: &[Vec<u8>]) -> Result<(), (usize, String)> {
    if argv.len() < 2 {
        return Err((0, "Syntax error".into()));
    }
    let Some(ops) = merge_selectors(&argv[2..]) else {
        return Err((2, "Unmatched parenthesis in acl selector".into()));
    };
    let mut u = User::new(false);
    for (j, op) in ops.iter().enumerate() {
        if let Err(e) = u.apply(op, false) {
            if e != RuleErr::NoEnt {
                return Err((j, e.message().to_string()));
            }
        }
    }
    Ok(())
}

/// Joins a selector spread over several arguments (`(` ... `)`) into one (Redis's
/// ACLMergeSelectorArguments). None: an unmatched parenthesis (its argument index in Err).
pub fn merge_selectors(args: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    merge_selectors_at(args).ok()
}

/// As `merge_selectors`, Err(index of the argument opening the unmatched selector).
pub fn merge_selectors_at(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if open.is_none() && op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.clone()));
            continue;
        }
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        out.push(op.clone());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}
