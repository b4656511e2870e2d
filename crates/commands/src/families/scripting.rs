//! The scripting commands' metadata: EVAL and friends, SCRIPT, FUNCTION, FCALL. They are run
//! by the server (`server/src/script/`), which owns the Lua state; only their table entries
//! live here, as Redis 7.0 describes them (COMMAND INFO).

use crate::table::{def, ks_keynum, Def, Extra, Handler::Server, NOKEY};

const EVAL_FLAGS: &str = "noscript stale skip_monitor may_replicate no_mandatory_keys movablekeys";
const EVAL_RO_FLAGS: &str = "readonly noscript stale skip_monitor no_mandatory_keys movablekeys";

static SCRIPT_SUBS: &[Def] = &[
    def!(
        "debug",
        3,
        "noscript",
        NOKEY,
        "scripting",
        "scripting",
        "3.2.0",
        "Set the debug mode for executed scripts.",
        Server
    ),
    def!(
        "exists",
        -3,
        "noscript",
        NOKEY,
        "scripting",
        "scripting",
        "2.6.0",
        "Check existence of scripts in the script cache.",
        Server
    ),
    def!(
        "flush",
        -2,
        "noscript may_replicate",
        NOKEY,
        "scripting",
        "scripting",
        "2.6.0",
        "Remove all the scripts from the script cache.",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "scripting",
        "scripting",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
    def!(
        "kill",
        2,
        "noscript allow_busy",
        NOKEY,
        "scripting",
        "scripting",
        "2.6.0",
        "Kill the script currently in execution.",
        Server
    ),
    def!(
        "load",
        3,
        "noscript stale may_replicate",
        NOKEY,
        "scripting",
        "scripting",
        "2.6.0",
        "Load the specified Lua script into the script cache.",
        Server
    ),
];

static FUNCTION_SUBS: &[Def] = &[
    def!(
        "delete",
        3,
        "write noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Delete a function by name",
        Server
    ),
    def!(
        "dump",
        2,
        "noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Dump all functions into a serialized binary payload",
        Server
    ),
    def!(
        "flush",
        -2,
        "write noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Deleting all functions",
        Server
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Show helpful text about the different subcommands",
        Server
    ),
    def!(
        "kill",
        2,
        "noscript allow_busy",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Kill the function currently in execution.",
        Server
    ),
    def!(
        "list",
        -2,
        "noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "List information about all the functions",
        Server
    ),
    def!(
        "load",
        -3,
        "write denyoom noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Create a function with the given arguments (name, code, description)",
        Server
    ),
    def!(
        "restore",
        -3,
        "write denyoom noscript",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Restore all the functions on the given payload",
        Server
    ),
    def!(
        "stats",
        2,
        "noscript allow_busy",
        NOKEY,
        "scripting",
        "scripting",
        "7.0.0",
        "Return information about the function currently running (name, description, duration)",
        Server
    ),
];

#[rustfmt::skip]
pub static DEFS: &[Def] = &[
    def!("eval", -3, EVAL_FLAGS, NOKEY, "scripting", "scripting", "2.6.0", "Execute a Lua script server side", Server),
    def!("evalsha", -3, EVAL_FLAGS, NOKEY, "scripting", "scripting", "2.6.0", "Execute a Lua script server side", Server),
    def!("eval_ro", -3, EVAL_RO_FLAGS, NOKEY, "scripting", "scripting", "7.0.0", "Execute a read-only Lua script server side", Server),
    def!("evalsha_ro", -3, EVAL_RO_FLAGS, NOKEY, "scripting", "scripting", "7.0.0", "Execute a read-only Lua script server side", Server),
    def!("fcall", -3, EVAL_FLAGS, NOKEY, "scripting", "scripting", "7.0.0", "Invoke a function", Server),
    def!("fcall_ro", -3, EVAL_RO_FLAGS, NOKEY, "scripting", "scripting", "7.0.0", "Invoke a read-only function", Server),
    def!("script", -2, "", NOKEY, "", "scripting", "2.6.0", "A container for Lua scripts management commands", Server, subs SCRIPT_SUBS),
    def!("function", -2, "", NOKEY, "", "scripting", "7.0.0", "A container for function commands", Server, subs FUNCTION_SUBS),
];

const RW_NOTE: &str =
    "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE";
const RO_NOTE: &str =
    "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS";

pub static EXTRAS: &[Extra] = &[
    (
        "eval",
        "",
        &[ks_keynum("RW access update", 2, 0, 1, 1).notes(RW_NOTE)],
    ),
    ("evalsha", "", &[ks_keynum("RW access update", 2, 0, 1, 1)]),
    (
        "eval_ro",
        "",
        &[ks_keynum("RO access", 2, 0, 1, 1).notes(RO_NOTE)],
    ),
    ("evalsha_ro", "", &[ks_keynum("RO access", 2, 0, 1, 1)]),
    (
        "fcall",
        "",
        &[ks_keynum("RW access update", 2, 0, 1, 1).notes(RW_NOTE)],
    ),
    (
        "fcall_ro",
        "",
        &[ks_keynum("RO access", 2, 0, 1, 1).notes(RO_NOTE)],
    ),
    (
        "script|flush",
        "request_policy:all_nodes response_policy:all_succeeded",
        &[],
    ),
    (
        "script|exists",
        "request_policy:all_shards response_policy:agg_logical_and",
        &[],
    ),
    (
        "script|kill",
        "request_policy:all_shards response_policy:one_succeeded",
        &[],
    ),
    (
        "script|load",
        "request_policy:all_nodes response_policy:all_succeeded",
        &[],
    ),
    (
        "function|kill",
        "request_policy:all_shards response_policy:one_succeeded",
        &[],
    ),
    (
        "function|restore",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "function|load",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "function|delete",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    (
        "function|flush",
        "request_policy:all_shards response_policy:all_succeeded",
        &[],
    ),
    ("function|list", "nondeterministic_output_order", &[]),
    (
        "function|stats",
        "nondeterministic_output request_policy:all_shards response_policy:special",
        &[],
    ),
];
