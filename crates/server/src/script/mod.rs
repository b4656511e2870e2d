//! Lua scripting: EVAL / EVALSHA / EVAL_RO / EVALSHA_RO and SCRIPT (this file), FUNCTION and
//! FCALL (`function.rs`), the Lua state and the `redis` API (`lua.rs`), the `bit` and `cjson`
//! libraries (`libs.rs`).
//!
//! A script runs on the engine thread, to completion, like any command. Its `redis.call`s go
//! through `dispatch::call` with a client of its own (its database, its protocol), after the
//! checks Redis applies to commands from scripts (arity, unknown command, `noscript`, writes
//! from read-only scripts, read-only replica, MISCONF). The effects are what gets propagated:
//! each write command the script runs is queued in the caller's execution unit, which the
//! dispatcher wraps in MULTI/EXEC when it holds more than one; the EVAL itself never is.
//!
//! While a script runs, its Lua state and its client are taken out of `Scripting` (so the
//! callbacks can borrow the whole `Server`); they are put back at the end.

pub mod busy;
pub mod function;
pub mod libs;
pub mod lua;

use crate::client::{Client, ClientHandle};
use crate::server::Server;
use cinnabar_commands::table::{self, flag, CmdStats, CommandSpec};
use cinnabar_resp::{Args, OwnedArgs};
use mlua::{ffi, Function, MultiValue, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

/// The id of the client scripts run their commands with.
pub const SCRIPT_CLIENT_ID: u64 = u64::MAX;

/// Runs between explicit garbage-collection steps (and their size in KB).
const GC_PERIOD: u32 = 50;

/// Script flags (shebang `flags=` / `register_function` flags).
pub mod sflag {
    pub const NO_WRITES: u32 = 1;
    pub const ALLOW_OOM: u32 = 2;
    pub const ALLOW_STALE: u32 = 4;
    pub const NO_CLUSTER: u32 = 8;
    /// An EVAL script without a shebang (Redis's compatibility mode).
    pub const EVAL_COMPAT: u32 = 16;
    pub const ALLOW_CROSS_SLOT: u32 = 32;
}

/// Flag names as scripts write them.
pub const FLAG_NAMES: &[(&str, u32)] = &[
    ("no-writes", sflag::NO_WRITES),
    ("allow-oom", sflag::ALLOW_OOM),
    ("allow-stale", sflag::ALLOW_STALE),
    ("no-cluster", sflag::NO_CLUSTER),
    ("allow-cross-slot-keys", sflag::ALLOW_CROSS_SLOT),
];

/// A cached EVAL script.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
    /// The compiled function in the EVAL Lua state's registry.
    func: mlua::RegistryKey,
}

/// What is running now (FUNCTION STATS, SCRIPT KILL).
pub struct Running {
    pub name: String,
    pub started: Instant,
    pub eval: bool,
}

/// The command (EVAL/FCALL and its arguments) of the script running now, as FUNCTION STATS
/// shows it; empty outside a run.
pub fn running_command() -> Vec<Vec<u8>> {
    with_run(|st| {
        st.try_borrow()
            .map(|g| g.command.to_vecs())
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// The scripting state of the server.
#[derive(Default)]
pub struct Scripting {
    /// The EVAL Lua state (None while a script runs, or before first use).
    eval: Option<lua::Engine>,
    /// SHA1 (lowercase hex) → script.
    pub scripts: HashMap<String, Script>,
    pub scripts_mem: usize,
    /// The functions engine and libraries.
    pub funcs: function::Functions,
    /// The client scripts run their commands with (None while a script runs).
    sc: Option<Client>,
    pub running: Option<Running>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: `noscript` commands are allowed from scripts.
    pub disable_deny_script: bool,
    /// Script runs since the last explicit garbage-collection step.
    gc_runs: u32,
}

impl Scripting {
    /// Memory of the EVAL Lua state (INFO used_memory_lua / used_memory_vm_eval).
    pub fn eval_memory(&self) -> usize {
        self.eval
            .as_ref()
            .map(|e| e.lua.used_memory())
            .unwrap_or(EMPTY_LUA_MEMORY)
    }

    /// Memory of the cached scripts' bodies (INFO used_memory_scripts_eval).
    pub fn scripts_memory(&self) -> usize {
        self.scripts_mem + self.scripts.len() * 64
    }
}

/// INFO memory's scripting fields (Redis 7.0's names), from the Lua states' own counts.
pub fn info_memory(s: &Server) -> String {
    use crate::cmds::introspect::human;
    let sc = &s.scripting;
    let vm_eval = sc.eval_memory() as u64;
    let vm_func = sc.funcs.vm_memory() as u64;
    let scripts_eval = sc.scripts_memory() as u64;
    let funcs = sc.funcs.overhead() as u64;
    format!(
        "used_memory_lua:{vm_eval}\r\nused_memory_vm_eval:{vm_eval}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{scripts_eval}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{vm_func}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{funcs}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\n",
        human(vm_eval),
        sc.scripts.len(),
        sc.funcs.count(),
        sc.funcs.libs.len(),
        vm_eval + vm_func,
        human(vm_eval + vm_func),
        scripts_eval + funcs,
        human(scripts_eval + funcs),
    )
}

/// A fresh Lua state's size, reported before the state is first created.
const EMPTY_LUA_MEMORY: usize = 31 * 1024;

/// Commands run by this module.
pub fn handles(cmd: &CommandSpec) -> bool {
    let n = cmd.fullname.as_str();
    matches!(
        n,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    ) || n.starts_with("script|")
        || n.starts_with("function|")
}

/// Runs a scripting command.
pub fn run(
    s: &mut Server,
    c: &mut Client,
    cmd: &'static CommandSpec,
    a: Args,
    now: i64,
    clock: &mut Instant,
) {
    match cmd.fullname.as_str() {
        "eval" => eval(s, c, a, now, clock, false, false),
        "evalsha" => eval(s, c, a, now, clock, true, false),
        "eval_ro" => eval(s, c, a, now, clock, false, true),
        "evalsha_ro" => eval(s, c, a, now, clock, true, true),
        "fcall" => function::fcall(s, c, a, now, clock, false),
        "fcall_ro" => function::fcall(s, c, a, now, clock, true),
        "script|load" => {
            if let Some(sha) = create_script(s, c, a.get(2)) {
                c.reply.bulk(sha.as_bytes());
            }
        }
        "script|exists" => {
            c.reply.array(a.len() - 2);
            for sha in a.tail(2).iter() {
                let k = String::from_utf8_lossy(sha).to_ascii_lowercase();
                c.reply.int(s.scripting.scripts.contains_key(&k) as i64);
            }
        }
        "script|flush" => {
            if a.len() == 3
                && !a.get(2).eq_ignore_ascii_case(b"sync")
                && !a.get(2).eq_ignore_ascii_case(b"async")
                || a.len() > 3
            {
                return c
                    .reply
                    .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            s.scripting.scripts.clear();
            s.scripting.scripts_mem = 0;
            s.scripting.eval = None;
            c.reply.ok();
        }
        "script|kill" | "function|kill" => {
            c.reply.error("NOTBUSY No scripts in execution right now.")
        }
        "script|debug" => {
            let m = a.get(2);
            if m.eq_ignore_ascii_case(b"no") {
                c.reply.ok()
            } else if m.eq_ignore_ascii_case(b"yes") || m.eq_ignore_ascii_case(b"sync") {
                // The Lua debugger is not built: scripts keep running normally.
                c.reply.ok()
            } else {
                c.reply.error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
            }
        }
        "script|help" => help(c, SCRIPT_HELP, "SCRIPT"),
        name => function::run(s, c, name, a),
    }
}

const SCRIPT_HELP: &[&str] = &[
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

/// A HELP reply in Redis's layout.
pub fn help(c: &mut Client, lines: &[&str], name: &str) {
    crate::cmds::help_reply(c, name, lines);
}

/// Splits a line as Redis's `sdssplitargs` does for the simple cases a shebang holds
/// (whitespace-separated words, double or single quotes).
fn split_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut w = Vec::new();
        if line[i] == b'"' || line[i] == b'\'' {
            let q = line[i];
            i += 1;
            while i < line.len() && line[i] != q {
                w.push(line[i]);
                i += 1;
            }
            if i >= line.len() {
                return None;
            }
            i += 1;
        } else {
            while i < line.len() && !line[i].is_ascii_whitespace() {
                w.push(line[i]);
                i += 1;
            }
        }
        out.push(w);
    }
    Some(out)
}

/// Parses a script's shebang: (flags, shebang length). Err is Redis's message.
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((sflag::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts = match split_words(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        if let Some(list) = p.strip_prefix(b"flags=") {
            // `flags=` alone declares no flags (an empty item in a list is an error).
            if list.is_empty() {
                continue;
            }
            for f in list.split(|&b| b == b',') {
                match FLAG_NAMES.iter().find(|(n, _)| n.as_bytes() == f) {
                    Some((_, bit)) => flags |= bit,
                    None => {
                        return Err(format!(
                            "Unexpected flag in script shebang: {}",
                            String::from_utf8_lossy(f)
                        ))
                    }
                }
            }
        } else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(p)
            ));
        }
    }
    Ok((flags, end))
}

fn eval_engine(s: &mut Server) -> Option<&mut lua::Engine> {
    if s.scripting.eval.is_none() {
        match lua::new_engine(false) {
            Ok(e) => s.scripting.eval = Some(e),
            Err(e) => {
                crate::warning!("Failed creating the Lua state: {}", lua::error_text(&e));
                return None;
            }
        }
    }
    s.scripting.eval.as_mut()
}

/// Compiles and caches an EVAL script (Redis's `luaCreateFunction`); replies the error and
/// returns None on failure.
fn create_script(s: &mut Server, c: &mut Client, body: &[u8]) -> Option<String> {
    let sha = cinnabar_util::sha1::hex(&cinnabar_util::sha1::sha1(body));
    if s.scripting.scripts.contains_key(&sha) {
        return Some(sha);
    }
    let (flags, skip) = match shebang_flags(body) {
        Ok(x) => x,
        Err(e) => {
            c.reply.error(&format!("ERR {e}"));
            return None;
        }
    };
    let Some(eng) = eval_engine(s) else {
        c.reply.error("ERR Failed creating the Lua state");
        return None;
    };
    let f = eng
        .lua
        .load(&body[skip..])
        .set_name("@user_script")
        .set_mode(mlua::ChunkMode::Text)
        .into_function();
    let f = match f {
        Ok(f) => f,
        Err(e) => {
            c.reply.error_bytes(
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua::error_text(&e)
                )
                .as_bytes(),
            );
            return None;
        }
    };
    let Ok(func) = eng.lua.create_registry_value(f) else {
        c.reply.error("ERR Failed storing the script");
        return None;
    };
    s.scripting.scripts_mem += sha.len() + body.len();
    s.scripting.scripts.insert(
        sha.clone(),
        Script {
            body: body.to_vec(),
            flags,
            func,
        },
    );
    Some(sha)
}

/// Parses numkeys (argument 2) as EVAL and FCALL do; replies the error on failure.
pub fn numkeys(c: &mut Client, a: Args) -> Option<usize> {
    let Some(n) = cinnabar_util::num::string2ll(a.get(2)) else {
        c.reply.error("ERR value is not an integer or out of range");
        return None;
    };
    if n > a.len() as i64 - 3 {
        c.reply
            .error("ERR Number of keys can't be greater than number of args");
        return None;
    }
    if n < 0 {
        c.reply.error("ERR Number of keys can't be negative");
        return None;
    }
    Some(n as usize)
}

fn eval(
    s: &mut Server,
    c: &mut Client,
    a: Args,
    now: i64,
    clock: &mut Instant,
    evalsha: bool,
    ro: bool,
) {
    if evalsha && a.get(1).len() != 40 {
        return c
            .reply
            .error("NOSCRIPT No matching script. Please use EVAL.");
    }
    let Some(nk) = numkeys(c, a) else {
        return;
    };
    // The SHA1 in lowercase hex: from the argument (no allocation) or computed.
    let mut buf = [0u8; 40];
    if evalsha {
        buf.copy_from_slice(a.get(1));
        buf.make_ascii_lowercase();
    } else {
        let hex = cinnabar_util::sha1::hex(&cinnabar_util::sha1::sha1(a.get(1)));
        buf.copy_from_slice(hex.as_bytes());
    }
    let sha = std::str::from_utf8(&buf).unwrap_or("");
    if !s.scripting.scripts.contains_key(sha) {
        if evalsha {
            return c
                .reply
                .error("NOSCRIPT No matching script. Please use EVAL.");
        }
        if create_script(s, c, a.get(1)).is_none() {
            return;
        }
    }
    let Some((flags, func)) = s.scripting.scripts.get(sha).map(|x| (x.flags, x.func.id())) else {
        return c
            .reply
            .error("NOSCRIPT No matching script. Please use EVAL.");
    };
    let run = RunSpec {
        name: sha,
        flags,
        ro,
        eval_mode: true,
        keys: a.slice(3, 3 + nk),
        args: a.slice(3 + nk, a.len()),
        command: a,
    };
    run_script(s, c, &run, now, clock, RunTarget::Registry(func));
}

/// The Lua function a run calls.
pub enum RunTarget {
    /// A function kept in the Lua registry under this reference (EVAL's scripts).
    Registry(std::ffi::c_int),
    Func(Function),
}

/// One invocation of a script or function.
pub struct RunSpec<'a> {
    /// The SHA1 (EVAL) or function name, as errors name it.
    pub name: &'a str,
    pub flags: u32,
    /// EVAL_RO / EVALSHA_RO / FCALL_RO.
    pub ro: bool,
    /// EVAL (KEYS and ARGV globals) rather than FCALL (two arguments).
    pub eval_mode: bool,
    pub keys: Args<'a>,
    pub args: Args<'a>,
    /// The whole command (EVAL/FCALL and its arguments).
    pub command: Args<'a>,
}

/// Redis's `scriptPrepareForRun` checks; replies the error and returns false when the script
/// may not run.
fn prepare_checks(s: &Server, c: &mut Client, flags: u32, ro: bool) -> bool {
    let stale = running_stale(s) && !c.is_master;
    if flags & sflag::EVAL_COMPAT != 0 {
        if stale {
            c.reply.error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            );
            return false;
        }
        return true;
    }
    if stale && flags & sflag::ALLOW_STALE == 0 {
        // The dispatcher's answer: without allow-stale the script's command is not `stale`.
        c.reply.error(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        );
        return false;
    }
    // A script with flags that may write and does not allow OOM is a denyoom command (Redis
    // derives EVAL/FCALL's flags from the script's): the dispatcher's OOM answer.
    if s.pre_command_oom && !c.is_master && flags & (sflag::NO_WRITES | sflag::ALLOW_OOM) == 0 {
        c.reply
            .error("OOM command not allowed when used memory > 'maxmemory'.");
        return false;
    }
    if flags & sflag::NO_WRITES == 0 {
        // A script that declares it may write counts as a write command for the checks
        // every command gets (Redis computes EVAL/FCALL's flags from the script's), so
        // these are the dispatcher's messages.
        if s.master.is_some() && s.settings.replica_read_only && !c.is_master {
            c.reply
                .error("READONLY You can't write against a read only replica.");
            return false;
        }
        if !c.is_master {
            if let Some(e) = disk_error(s) {
                c.reply.error(&e);
                return false;
            }
        }
        if ro {
            c.reply
                .error("ERR Can not execute a script with write flag using *_ro command.");
            return false;
        }
        if s.settings.min_replicas_to_write > 0
            && s.master.is_none()
            && crate::cmds::good_replicas(s) < s.settings.min_replicas_to_write
        {
            c.reply
                .error("NOREPLICAS Not enough good replicas to write.");
            return false;
        }
    }
    true
}

/// A replica whose link is down with `replica-serve-stale-data no`.
fn running_stale(s: &Server) -> bool {
    s.master
        .as_ref()
        .is_some_and(|m| m.state != crate::replica::LinkState::Connected)
        && s.cfg
            .get_value("replica-serve-stale-data")
            .is_some_and(|v| v == "no")
}

/// The error writes get because the server cannot persist (RDB or AOF), if any.
fn disk_error(s: &Server) -> Option<String> {
    if s.settings.stop_writes_on_bgsave_error
        && !s.persist.last_bgsave_ok
        && !s.settings.save_params.is_empty()
    {
        return Some("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.".to_string());
    }
    s.aof.misconf()
}

/// The state the `redis.*` callbacks share during a run.
struct RunState<'a> {
    s: &'a mut Server,
    sc: &'a mut Client,
    now: i64,
    clock: &'a mut Instant,
    read_only: bool,
    allow_oom: bool,
    write_dirty: bool,
    caller_is_master: bool,
    /// REPL_* flags (redis.set_repl).
    repl: u8,
    busy: Option<busy::Busy<'a>>,
    /// The EVAL/FCALL command running the script.
    command: Args<'a>,
    /// The client running the script (its CLIENT LIST line goes into ACL LOG entries).
    caller: std::rc::Rc<ClientHandle>,
}

/// Runs one command from a script (Redis's `scriptCall`): Ok(reply bytes) or Err(message for
/// an error raised without running the command).
fn script_call(st: &mut RunState, args_owned: &OwnedArgs) -> Result<Vec<u8>, String> {
    if st.busy.as_ref().is_some_and(|b| b.timed_out.get()) {
        reap_closed_replicas(st.s);
    }
    let args = args_owned.args();
    let mut cmd = table::lookup(args.get(0));
    if let Some(c) = cmd {
        if !c.subcommands.is_empty() && args.len() >= 2 {
            cmd = table::lookup_sub(c, args.get(1));
        }
    }
    let Some(cmd) = cmd else {
        return Err("Unknown Redis command called from script".into());
    };
    let reject = |st: &mut RunState, m: &str| -> Result<Vec<u8>, String> {
        CmdStats::bump(&cmd.stats.rejected, 1);
        let code = if let Some(r) = m.strip_prefix('-') {
            r.split(' ').next().unwrap_or("ERR").to_string()
        } else {
            "ERR".to_string()
        };
        *st.s.stats.error_codes.entry(code).or_insert(0) += 1;
        st.s.stats.total_error_replies += 1;
        Err(m.to_string())
    };
    if !cmd.arity_ok(args.len()) {
        return reject(st, "Wrong number of args calling Redis command from script");
    }
    if cmd.has(flag::NOSCRIPT) && !st.s.scripting.disable_deny_script {
        return reject(st, "This Redis command is not allowed from script");
    }
    if !cmd.has(flag::STALE) && running_stale(st.s) {
        return reject(st, "Can not execute the command on a stale replica");
    }
    if !st.sc.user.all.get() {
        // The caller's CLIENT LIST line, showing the command that runs the script.
        let name = Some(String::from_utf8_lossy(st.command.get(0)).to_ascii_lowercase());
        let info = st.caller.list_line(Instant::now(), name.as_deref());
        if let Some(e) = crate::acl::check_script(st.s, st.sc, &info, cmd, args) {
            return reject(st, &e);
        }
    }
    let write = cmd.has(flag::WRITE);
    if st.read_only && (write || cmd.has(flag::MAY_REPLICATE)) {
        return reject(st, "Write commands are not allowed from read-only scripts.");
    }
    if write && !st.write_dirty {
        if st.s.master.is_some() && st.s.settings.replica_read_only && !st.caller_is_master {
            return reject(st, "-READONLY You can't write against a read only replica.");
        }
        if let Some(e) = disk_error(st.s) {
            return reject(st, &format!("-{e}"));
        }
        if st.s.settings.min_replicas_to_write > 0
            && st.s.master.is_none()
            && crate::cmds::good_replicas(st.s) < st.s.settings.min_replicas_to_write
        {
            return reject(st, "-NOREPLICAS Not enough good replicas to write.");
        }
    }
    // Over maxmemory when the script started, and nothing written yet: a command that may
    // use memory is refused (after a write the script cannot be stopped halfway).
    if !st.allow_oom
        && !st.caller_is_master
        && !st.write_dirty
        && st.s.pre_command_oom
        && cmd.has(flag::DENYOOM)
    {
        return reject(
            st,
            "-OOM command not allowed when used memory > 'maxmemory'.",
        );
    }
    if write {
        st.write_dirty = true;
        if let Some(b) = &st.busy {
            b.write_dirty.set(true);
        }
    }
    let saved = st.s.prop.enabled;
    if st.repl == 0 {
        st.s.prop.enabled = false;
    }
    st.sc.reply.out.clear();
    if matches!(cmd.fullname.as_str(), "xread" | "xreadgroup")
        && args
            .iter()
            .skip(1)
            .any(|a| a.eq_ignore_ascii_case(b"block"))
    {
        // As Redis: BLOCK makes no sense in a script (checked by the command itself).
        CmdStats::bump(&cmd.stats.calls, 1);
        CmdStats::bump(&cmd.stats.failed, 1);
        *st.s.stats.error_codes.entry("ERR".into()).or_insert(0) += 1;
        st.s.stats.total_error_replies += 1;
        return Ok(format!(
            "-ERR {} command is not allowed with BLOCK option from scripts\r\n",
            cmd.fullname
        )
        .into_bytes());
    }
    crate::dispatch::call(st.s, st.sc, cmd, args, st.now, st.clock, false);
    st.s.prop.enabled = saved;
    st.sc.reply.errors.clear();
    Ok(std::mem::take(&mut st.sc.reply.out))
}

/// While a script is busy the replicas' connection tasks cannot run: a replica whose socket
/// was closed is detached here, so the script sees it gone (INFO connected_slaves).
fn reap_closed_replicas(s: &mut Server) {
    let mut gone = Vec::new();
    for id in &s.replicas {
        let Some(h) = s.clients.get(id) else {
            continue;
        };
        let mut b = [0u8; 1];
        // SAFETY: a one-byte peek on a live client's socket.
        let n = unsafe {
            libc::recv(
                h.fd,
                b.as_mut_ptr() as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 0 {
            gone.push(*id);
        }
    }
    for id in gone {
        crate::propagate::detach_replica(s, id);
    }
}

fn script_client(s: &mut Server) -> Client {
    s.scripting.sc.take().unwrap_or_else(|| {
        let h = std::rc::Rc::new(ClientHandle::new(
            SCRIPT_CLIENT_ID,
            -1,
            String::new(),
            String::new(),
            // Internal, hence local (DEBUG's enable-debug-command local).
            true,
        ));
        Client::new(h, true)
    })
}

thread_local! {
    /// The state of the script run in progress (a `RefCell<RunState>` on `run_script`'s stack),
    /// null outside a run. The `redis.*` callbacks are created once per Lua state and find
    /// their run here, so a run creates no closures.
    static CURRENT_RUN: std::cell::Cell<*const ()> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Makes a run's state current for its duration (restoring the previous one on drop).
struct RunGuard(*const ());

impl RunGuard {
    fn enter(st: &RefCell<RunState<'_>>) -> RunGuard {
        let p = st as *const RefCell<RunState<'_>> as *const ();
        RunGuard(CURRENT_RUN.with(|c| c.replace(p)))
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        CURRENT_RUN.with(|c| c.set(self.0));
    }
}

/// Runs `f` with the current run's state; None outside a run.
fn with_run<R>(f: impl for<'x, 'y> FnOnce(&'x RefCell<RunState<'y>>) -> R) -> Option<R> {
    let p = CURRENT_RUN.with(|c| c.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: `RunGuard::enter` stored a pointer to a `RefCell<RunState>` that lives on
    // `run_script`'s stack until the guard is dropped, which resets the pointer; callbacks run
    // only on this thread, inside that window. Only a shared reference is made (the RefCell
    // arbitrates mutation), and `f` cannot keep it (higher-ranked lifetimes).
    let st: &RefCell<RunState<'_>> = unsafe { &*(p as *const RefCell<RunState<'_>>) };
    Some(f(st))
}

/// `redis.call`'s scratch space: the arguments and the reply, reused from call to call.
#[derive(Default)]
struct CallScratch {
    args: OwnedArgs,
    reply: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::UnsafeCell<CallScratch> =
        std::cell::UnsafeCell::new(CallScratch::default());
}

/// How a `redis.call` went, for the half that pushes its result.
#[derive(Clone, Copy)]
enum CallOutcome {
    /// The scratch reply holds the command's RESP reply.
    Reply,
    /// The scratch reply holds an error raised without a reply (`ignore_stats`: the error
    /// was already counted).
    Failed { ignore_stats: bool },
}

/// The Rust half of `redis.call`/`redis.pcall`: reads the arguments off the Lua stack and runs
/// the command. Everything it creates is dropped before it returns (the push that follows may
/// leave by longjmp).
///
/// # Safety
/// `l` is the Lua state calling; `sc` is not aliased during the call.
unsafe fn call_prepare(l: *mut ffi::lua_State, sc: &mut CallScratch) -> CallOutcome {
    unsafe {
        fn fail(sc: &mut CallScratch, m: &str, ignore_stats: bool) -> CallOutcome {
            sc.reply.clear();
            sc.reply.extend_from_slice(m.as_bytes());
            CallOutcome::Failed { ignore_stats }
        }
        sc.args.clear();
        let n = ffi::lua_gettop(l);
        if n == 0 {
            return fail(
                sc,
                "Please specify at least one argument for this redis lib call",
                false,
            );
        }
        for i in 1..=n {
            match ffi::lua_type(l, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(l, i, &mut len);
                    sc.args
                        .push(std::slice::from_raw_parts(p as *const u8, len));
                }
                // As Redis: "%.17g" (Lua's own conversion loses precision).
                ffi::LUA_TNUMBER => sc.args.push(&lua::number_arg(ffi::lua_tonumber(l, i))),
                _ => {
                    return fail(
                        sc,
                        "Lua redis lib command arguments must be strings or integers",
                        false,
                    )
                }
            }
        }
        let res = with_run(|st| {
            let mut g = st.borrow_mut();
            let mut bytes = script_call(&mut g, &sc.args)?;
            // The reply moves to the scratch; the scratch's old buffer goes back to the script
            // client for its next command.
            std::mem::swap(&mut sc.reply, &mut bytes);
            bytes.clear();
            if g.sc.reply.out.capacity() < bytes.capacity() {
                g.sc.reply.out = bytes;
            }
            Ok::<(), String>(())
        });
        match res {
            Some(Ok(())) => CallOutcome::Reply,
            Some(Err(m)) => fail(sc, &m, true),
            None => fail(
                sc,
                "redis.call/pcall can only be called inside a script invocation",
                true,
            ),
        }
    }
}

/// `redis.call` and `redis.pcall` as C functions (Redis's `luaRedisGenericCommand`): the
/// arguments are read off the stack and the reply pushed onto it with the C API, with no
/// intermediate values. Only plain data lives in this frame while Lua may raise.
///
/// # Safety
/// Called by Lua as a C function.
unsafe fn redis_call(l: *mut ffi::lua_State, raise: bool) -> std::ffi::c_int {
    unsafe {
        let sc: *mut CallScratch = SCRATCH.with(|s| s.get());
        let outcome = call_prepare(l, &mut *sc);
        ffi::lua_settop(l, 0);
        let bytes: &[u8] = &(*sc).reply;
        let is_err = match outcome {
            CallOutcome::Failed { ignore_stats } => {
                lua::push_error_table(l, bytes, ignore_stats);
                true
            }
            CallOutcome::Reply => {
                if lua::push_resp(l, bytes).is_none() {
                    lua::push_error_table(l, b"bad reply", true);
                }
                matches!(bytes.first(), Some(b'-') | Some(b'!'))
            }
        };
        if is_err && raise {
            ffi::lua_error(l);
        }
        1
    }
}

unsafe extern "C-unwind" fn lua_redis_call(l: *mut ffi::lua_State) -> std::ffi::c_int {
    unsafe { redis_call(l, true) }
}

unsafe extern "C-unwind" fn lua_redis_pcall(l: *mut ffi::lua_State) -> std::ffi::c_int {
    unsafe { redis_call(l, false) }
}

/// Installs a Lua state's count hook (once): every 100,000 instructions it lets a run past
/// `busy-reply-threshold` serve the other clients (see `busy`), and stops a killed one.
fn install_hook(engine: &lua::Engine) {
    let ctx = engine.ctx.clone();
    engine.lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(100_000),
        move |lua, _| {
            let killed = with_run(|st| {
                let killed = {
                    let g = st.try_borrow().ok()?;
                    let b = g.busy.as_ref()?;
                    b.tick(g.s.clients.values())
                };
                // New connections are accepted too, and served from the next round.
                if let Ok(mut g) = st.try_borrow_mut() {
                    if g.busy.as_ref().is_some_and(|b| b.timed_out.get()) {
                        crate::listen::accept_while_busy(g.s);
                    }
                }
                Some(killed)
            })
            .flatten()
            .unwrap_or(false);
            if killed {
                let t = lua::error_table(lua, b"Script killed by user with SCRIPT KILL...")?;
                ctx.raw_set("killed", true)?;
                return lua::raise(&ctx, t);
            }
            Ok(mlua::VmState::Continue)
        },
    );
}

/// Creates the run-dependent `redis.*` callbacks of a Lua state (once).
fn install_callbacks(engine: &lua::Engine) -> mlua::Result<()> {
    let lua = &engine.lua;
    let api = &engine.redis_api;
    // SAFETY: both follow the C function protocol (see `redis_call`).
    api.raw_set("call", unsafe { lua.create_c_function(lua_redis_call)? })?;
    api.raw_set("pcall", unsafe { lua.create_c_function(lua_redis_pcall)? })?;
    let ctx = engine.ctx.clone();
    api.raw_set(
        "setresp",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                let t = lua::error_table(lua, b"redis.setresp() requires one argument.")?;
                return lua::raise(&ctx, t);
            }
            let v = match args.front() {
                Some(Value::Number(n)) => *n as i64,
                Some(Value::Integer(n)) => *n,
                Some(Value::String(s)) => cinnabar_util::num::string2ll(&s.as_bytes()).unwrap_or(0),
                _ => 0,
            };
            if v != 2 && v != 3 {
                let t = lua::error_table(lua, b"RESP version must be 2 or 3.")?;
                return lua::raise(&ctx, t);
            }
            with_run(|st| st.borrow_mut().sc.reply.resp3 = v == 3);
            Ok(())
        })?,
    )?;
    let ctx = engine.ctx.clone();
    api.raw_set(
        "set_repl",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                let t = lua::error_table(lua, b"redis.set_repl() requires two arguments.")?;
                return lua::raise(&ctx, t);
            }
            let v = match args.front() {
                Some(Value::Number(n)) => *n as i64,
                Some(Value::Integer(n)) => *n,
                _ => -1,
            };
            if !(0..=3).contains(&v) {
                let t = lua::error_table(
                    lua,
                    b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                )?;
                return lua::raise(&ctx, t);
            }
            with_run(|st| st.borrow_mut().repl = v as u8);
            Ok(())
        })?,
    )?;
    let ctx = engine.ctx.clone();
    api.raw_set(
        "acl_check_cmd",
        lua.create_function(move |lua, args: MultiValue| {
            let argv = match lua::call_args(&args) {
                Ok(a) => a,
                Err(m) => return lua::raise(&ctx, lua::error_table(lua, m.as_bytes())?),
            };
            // Whether the caller's user may run the command (no log entry, as Redis).
            let allowed = with_run(|st| {
                let g = st.borrow();
                let a = argv.args();
                let mut cmd = table::lookup(a.get(0));
                if let Some(c) = cmd {
                    if !c.subcommands.is_empty() && a.len() >= 2 {
                        cmd = table::lookup_sub(c, a.get(1));
                    }
                }
                cmd.map(|cmd| {
                    let v: Vec<&[u8]> = a.iter().collect();
                    let ok = g.sc.user.u.borrow().check(cmd, &v).is_ok();
                    ok
                })
            });
            match allowed {
                Some(Some(ok)) => Ok(Value::Boolean(ok)),
                Some(None) => {
                    let t =
                        lua::error_table(lua, b"Invalid command passed to redis.acl_check_cmd()")?;
                    lua::raise(&ctx, t)
                }
                None => {
                    let t = lua::error_table(
                        lua,
                        b"redis.acl_check_cmd can only be called inside a script invocation",
                    )?;
                    lua::raise(&ctx, t)
                }
            }
        })?,
    )?;
    Ok(())
}

/// Runs a script or function: the checks, the Lua call with the run's callbacks installed,
/// the reply.
pub fn run_script(
    s: &mut Server,
    c: &mut Client,
    spec: &RunSpec,
    now: i64,
    clock: &mut Instant,
    target: RunTarget,
) {
    if !prepare_checks(s, c, spec.flags, spec.ro) {
        return;
    }
    let engine = if spec.eval_mode {
        if eval_engine(s).is_none() {
            return c.reply.error("ERR Failed creating the Lua state");
        }
        s.scripting.eval.take()
    } else {
        s.scripting.funcs.engine.take()
    };
    let Some(mut engine) = engine else {
        return c.reply.error("ERR Lua state is busy");
    };
    let mut sc = script_client(s);
    // Commands of the script run with the caller's ACL user.
    sc.user = c.user.clone();
    sc.db = c.db;
    sc.reply.resp3 = false;
    sc.reply.out.clear();
    let compat = spec.flags & sflag::EVAL_COMPAT != 0;
    let read_only = spec.ro || (!compat && spec.flags & sflag::NO_WRITES != 0);
    let allow_oom = !compat && spec.flags & sflag::ALLOW_OOM != 0;
    s.scripting.running = Some(Running {
        name: spec.name.to_string(),
        started: Instant::now(),
        eval: spec.eval_mode,
    });
    let caller_is_master = c.is_master;
    let threshold = s.settings.busy_reply_threshold;
    let busy = (threshold > 0).then(|| busy::Busy {
        started: Instant::now(),
        threshold_ms: threshold,
        eval: spec.eval_mode,
        name: spec.name,
        caller: c.handle.id,
        killed: std::cell::Cell::new(false),
        write_dirty: std::cell::Cell::new(false),
        timed_out: std::cell::Cell::new(false),
        libraries: s.scripting.funcs.libs.len(),
        functions: s.scripting.funcs.count(),
        loading: s.loading.is_some() || s.aof.replaying,
    });
    if !engine.hook {
        install_hook(&engine);
        engine.hook = true;
    }
    {
        let st = RefCell::new(RunState {
            s,
            sc: &mut sc,
            now,
            clock,
            read_only,
            allow_oom,
            write_dirty: false,
            caller_is_master,
            repl: 3,
            busy,
            command: spec.command,
            caller: c.handle.clone(),
        });
        let lua = &engine.lua;
        if !engine.callbacks {
            if let Err(e) = install_callbacks(&engine) {
                crate::warning!("Lua: installing the redis.* callbacks failed: {e}");
            }
            engine.callbacks = true;
        }
        let r = (|| -> mlua::Result<bool> {
            let ctx = &engine.ctx;
            let (func, reg) = match target {
                RunTarget::Registry(id) => (None, Some(id)),
                RunTarget::Func(f) => (Some(f), None),
            };
            let eval_mode = spec.eval_mode;
            let (keys, args) = (spec.keys, spec.args);
            // The callbacks reach this run's state through CURRENT_RUN while the script runs,
            // and only then: a metamethod run by the reply conversion cannot call Redis.
            let guard = RunGuard::enter(&st);
            // KEYS and ARGV are built and the runner called with the C API: the stack holds
            // runner, function (or nil: taken from the registry), hidden globals.
            // SAFETY: only plain values live in the closure while Lua may raise; the stack
            // discipline is checked by the counts below.
            let res: mlua::Result<(bool, Value)> = unsafe {
                lua.exec_raw((&engine.runner, func, &engine.hidden_globals), |l| {
                    if let Some(reg) = reg {
                        ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, reg);
                        ffi::lua_replace(l, 2);
                    }
                    for list in [keys, args] {
                        ffi::lua_createtable(l, list.len().min(1 << 20) as i32, 0);
                        for (i, k) in list.iter().enumerate() {
                            lua::push_bytes(l, k);
                            ffi::lua_rawseti_(l, -2, (i + 1) as std::ffi::c_int);
                        }
                    }
                    if eval_mode {
                        ffi::lua_pushvalue(l, 4);
                        ffi::lua_setfield(l, 3, c"KEYS".as_ptr());
                        ffi::lua_pushvalue(l, 5);
                        ffi::lua_setfield(l, 3, c"ARGV".as_ptr());
                    }
                    ffi::lua_remove(l, 3);
                    ffi::lua_pushboolean(l, eval_mode as i32);
                    ffi::lua_call(l, 4, 2);
                })
            };
            drop(guard);
            if lua::take_ctx_used() {
                ctx.raw_set("raised", Value::Nil)?;
                ctx.raw_set("killed", Value::Nil)?;
            }
            let (ok, v) = res?;
            let resp3 = st.borrow().sc.reply.resp3;
            if ok {
                let ignore = lua::lua_to_reply(&mut c.reply, &v, resp3, 0);
                return Ok(ignore);
            }
            match v {
                Value::Table(t) => {
                    let e = lua::err_info(&t);
                    let mut msg = b"-".to_vec();
                    msg.extend_from_slice(&e.msg);
                    if let (Some(src), Some(line)) = (e.source, e.line) {
                        msg.extend_from_slice(
                            format!(
                                " script: {}, on {}:{}.",
                                spec.name,
                                String::from_utf8_lossy(&src),
                                String::from_utf8_lossy(&line)
                            )
                            .as_bytes(),
                        );
                    }
                    c.reply.error_bytes(&msg);
                    Ok(e.ignore_stats)
                }
                other => {
                    let m = match other {
                        Value::String(x) => String::from_utf8_lossy(&x.as_bytes()).into_owned(),
                        _ => "execution failure".into(),
                    };
                    let m: String = m.chars().take(100).collect();
                    c.reply
                        .error(&format!("ERR Error running script {}, {m}", spec.name));
                    Ok(false)
                }
            }
        })();
        match r {
            Ok(true) => {
                // The error was counted when the command replied it.
                c.reply.errors.pop();
            }
            Ok(false) => {}
            Err(e) => c.reply.error(&format!(
                "ERR Error running script {}, {}",
                spec.name,
                lua::error_text(&e)
            )),
        }
    };
    let s_ref = s;
    // Besides Lua's own incremental collector, a collection step of 50 KB every 50 runs (as
    // Redis does) keeps a state that allocates little from growing between cycles.
    s_ref.scripting.gc_runs += 1;
    if s_ref.scripting.gc_runs >= GC_PERIOD {
        s_ref.scripting.gc_runs = 0;
        let _ = engine.lua.gc_step_kbytes(GC_PERIOD as i32);
    }
    s_ref.scripting.running = None;
    crate::listen::start_accepted_while_busy(s_ref);
    sc.reply.out.clear();
    s_ref.scripting.sc = Some(sc);
    if spec.eval_mode {
        s_ref.scripting.eval = Some(engine);
    } else {
        s_ref.scripting.funcs.engine = Some(engine);
    }
}
