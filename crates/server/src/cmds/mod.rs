//! Commands that need the server's state rather than only the keyspace: connection commands
//! (PING, AUTH, HELLO, SELECT, CLIENT ...) and server commands (INFO, CONFIG, COMMAND, DEBUG,
//! SHUTDOWN ...). The table describes them; `run` picks the function by full name.

pub mod admin;
pub mod connection;
pub mod introspect;

use crate::client::Client;
use crate::server::Server;
use cinnabar_commands::CommandSpec;
use cinnabar_resp::Args;

/// Runs a `Handler::Server` command.
pub fn run(s: &mut Server, c: &mut Client, cmd: &'static CommandSpec, a: Args) {
    match cmd.fullname.as_str() {
        "ping" => connection::ping(c, a),
        "subscribe" => crate::pubsub::subscribe(s, c, a),
        "psubscribe" => crate::pubsub::psubscribe(s, c, a),
        "unsubscribe" => crate::pubsub::unsubscribe(s, c, a, true),
        "punsubscribe" => crate::pubsub::punsubscribe(s, c, a, true),
        "publish" => crate::pubsub::publish(s, c, a),
        name if name.starts_with("pubsub|") => crate::pubsub::pubsub(s, c, a, name),
        "echo" => c.reply.bulk(a.get(1)),
        "auth" => connection::auth(s, c, a),
        "hello" => connection::hello(s, c, a),
        "select" => connection::select(s, c, a),
        "quit" => {
            c.reply.ok();
            c.close_after_reply = true;
        }
        "reset" => connection::reset(s, c),
        "client|id" => c.reply.int(c.handle.id as i64),
        "client|setname" => connection::client_setname(c, a),
        "client|getname" => {
            if c.name.is_empty() {
                c.reply.null()
            } else {
                let n = c.name.clone();
                c.reply.bulk(&n)
            }
        }
        "client|list" => connection::client_list(s, c, a),
        "client|info" => connection::client_info(c),
        "client|kill" => connection::client_kill(s, c, a),
        "client|unblock" => connection::client_unblock(s, c, a),
        "client|pause" => connection::client_pause(s, c, a),
        "client|unpause" => {
            s.pause = None;
            s.pause_notify.notify_waiters();
            c.reply.ok();
        }
        "client|reply" => connection::client_reply(c, a),
        "client|no-evict" => connection::client_no_evict(c, a),
        "client|help" => connection::client_help(c),
        "info" => introspect::info(s, c, a),
        "command" => introspect::command_all(c),
        "command|count" => c.reply.int(cinnabar_commands::table::table().len() as i64),
        "command|info" => introspect::command_info(c, a),
        "command|docs" => introspect::command_docs(c, a),
        "command|getkeys" => introspect::command_getkeys(c, a, false),
        "command|getkeysandflags" => introspect::command_getkeys(c, a, true),
        "command|list" => introspect::command_list(c, a),
        "command|help" => introspect::command_help(c),
        "config|get" => admin::config_get(s, c, a),
        "config|set" => admin::config_set(s, c, a),
        "config|resetstat" => admin::config_resetstat(s, c),
        "config|rewrite" => admin::config_rewrite(s, c),
        "config|help" => admin::config_help(c),
        "debug" => admin::debug(s, c, a),
        "shutdown" => admin::shutdown(s, c, a),
        "time" => {
            let us = crate::server::now_us();
            c.reply.array(2);
            c.reply.bulk_int(us / 1_000_000);
            c.reply.bulk_int(us % 1_000_000);
        }
        "lastsave" => c.reply.int(s.lastsave),
        other => c
            .reply
            .error(&format!("ERR command '{other}' is not implemented yet")),
    }
}

/// Replies a HELP text as Redis does: a status line per line.
pub fn help_reply(c: &mut Client, cmd: &str, lines: &[&str]) {
    c.reply.array(lines.len() + 3);
    c.reply.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        c.reply.simple(l);
    }
    c.reply.simple("HELP");
    c.reply.simple("    Prints this help.");
}
