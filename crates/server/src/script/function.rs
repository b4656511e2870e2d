//! FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP / RESTORE / STATS and FCALL / FCALL_RO.
//!
//! Libraries live in their own Lua state (as in Redis). A library's code starts with
//! `#!lua name=<lib>`; loading runs it with only `redis.register_function`, `redis.log` and the
//! version in sight, collecting the functions it registers (positional `(name, callback)` or
//! named `{function_name=, callback=, description=, flags=}`). Everything is checked before
//! anything changes, so a failed load leaves the libraries as they were.
//!
//! The libraries' code is what persists: every snapshot writes it (FUNCTION2 opcodes) before
//! the keys, and loading a snapshot loads it back (see `load_from_rdb`).

use super::lua::{self, Engine};
use super::{sflag, RunSpec, FLAG_NAMES};
use crate::client::Client;
use crate::server::Server;
use cinnabar_resp::Args;
use mlua::{Function, MultiValue, RegistryKey, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// One registered function.
pub struct FuncInfo {
    pub name: String,
    pub desc: Option<Vec<u8>>,
    pub flags: u32,
    key: RegistryKey,
}

/// One library.
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: BTreeMap<String, FuncInfo>,
}

/// The functions engine and its libraries.
#[derive(Default)]
pub struct Functions {
    /// The Lua state (None while a function runs, or before first use).
    pub engine: Option<Engine>,
    pub libs: BTreeMap<String, Library>,
    /// Function name → library name.
    pub index: HashMap<String, String>,
}

impl Functions {
    /// Number of functions (INFO number_of_functions).
    pub fn count(&self) -> usize {
        self.index.len()
    }

    /// Memory of the functions' Lua state.
    pub fn vm_memory(&self) -> usize {
        self.engine
            .as_ref()
            .map(|e| e.lua.used_memory())
            .unwrap_or(super::EMPTY_LUA_MEMORY)
    }

    /// Memory of the libraries' code and bookkeeping.
    pub fn overhead(&self) -> usize {
        self.libs
            .values()
            .map(|l| l.code.len() + l.name.len() + 64 + l.functions.len() * 96)
            .sum::<usize>()
            + 200
    }

    /// The code of every library (what a snapshot saves).
    pub fn codes(&self) -> Vec<Vec<u8>> {
        self.libs.values().map(|l| l.code.clone()).collect()
    }

    fn engine(&mut self) -> Result<&mut Engine, String> {
        if self.engine.is_none() {
            self.engine = Some(lua::new_engine(true).map_err(|e| lua::error_text(&e))?);
        }
        self.engine
            .as_mut()
            .ok_or_else(|| "Lua state is busy".to_string())
    }

    /// Removes every library.
    pub fn flush(&mut self) {
        if let Some(e) = self.engine.as_ref() {
            for l in self.libs.values() {
                for f in l.functions.values() {
                    let _ = e.lua.registry_value::<Value>(&f.key);
                }
            }
        }
        self.libs.clear();
        self.index.clear();
        // A fresh state frees the old functions at once.
        self.engine = None;
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for f in lib.functions.keys() {
            self.index.remove(f);
        }
        Some(lib)
    }

    fn link(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            self.index.insert(f.clone(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    /// Loads a library (FUNCTION LOAD, RDB, RESTORE). Ok(library name) or Err(message).
    pub fn create(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let (name, engine_name, body_at) = metadata(code)?;
        if !valid_name(&name) {
            return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if !engine_name.eq_ignore_ascii_case(b"lua") {
            return Err(format!(
                "Engine '{}' not found",
                String::from_utf8_lossy(&engine_name)
            ));
        }
        if self.libs.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let registered = self.compile(&code[body_at..])?;
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        for (fname, _) in &registered {
            if let Some(owner) = self.index.get(&fname.to_ascii_lowercase()) {
                if *owner != name {
                    return Err(format!("Function {fname} already exists"));
                }
            }
        }
        self.unlink(&name);
        let mut functions = BTreeMap::new();
        // Function names are case-insensitive (keys are lowercase; FuncInfo keeps the name).
        for (fname, f) in registered {
            functions.insert(fname.to_ascii_lowercase(), f);
        }
        self.link(Library {
            name: name.clone(),
            code: code.to_vec(),
            functions,
        });
        Ok(name)
    }

    /// Compiles and runs a library's code in load mode; returns what it registered.
    fn compile(&mut self, body: &[u8]) -> Result<Vec<(String, FuncInfo)>, String> {
        let eng = self.engine()?;
        let f = eng
            .lua
            .load(body)
            .set_name("@user_function")
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", lua::error_text(&e)))?;
        let collected: RefCell<Vec<(String, FuncInfo)>> = RefCell::new(Vec::new());
        let lua = &eng.lua;
        let r = lua.scope(|scope| {
            let reg = scope.create_function(|lua, args: MultiValue| {
                let res = read_register_args(lua, &args, &collected.borrow());
                match res {
                    Ok(fi) => {
                        collected.borrow_mut().push((fi.name.clone(), fi));
                        Ok((Value::Nil, false))
                    }
                    Err(m) => Ok((Value::Table(lua::error_table(lua, m.as_bytes())?), true)),
                }
            })?;
            eng.ctx.raw_set("register_function", reg)?;
            // Loading may not run for more than 500 ms (Redis's FUNCTION LOAD timeout).
            let started = Instant::now();
            let hctx = eng.ctx.clone();
            lua.set_hook(
                mlua::HookTriggers::new().every_nth_instruction(100_000),
                move |lua, _| {
                    if started.elapsed().as_millis() > 500 {
                        let t = lua::error_table(lua, b"FUNCTION LOAD timeout")?;
                        return lua::raise(&hctx, t);
                    }
                    Ok(mlua::VmState::Continue)
                },
            );
            eng.set_mode.call::<()>(true)?;
            let res = eng
                .runner
                .call::<(bool, Value)>((f, Value::Nil, Value::Nil, true));
            lua.remove_hook();
            eng.hook = false;
            eng.set_mode.call::<()>(false)?;
            eng.ctx.raw_set("register_function", Value::Nil)?;
            eng.ctx.raw_set("raised", Value::Nil)?;
            res
        });
        match r {
            Ok((true, _)) => Ok(collected.into_inner()),
            Ok((false, v)) => {
                let msg = match v {
                    Value::Table(t) => String::from_utf8_lossy(&lua::err_info(&t).msg).into_owned(),
                    _ => "ERR execution failure".into(),
                };
                Err(format!("Error registering functions: {msg}"))
            }
            Err(e) => Err(format!(
                "Error registering functions: ERR {}",
                lua::error_text(&e)
            )),
        }
    }
}

/// `[a-zA-Z0-9_]+`.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses `#!<engine> name=<lib>`: (name, engine, offset of the code after the shebang).
fn metadata(code: &[u8]) -> Result<(String, Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match super::split_words(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0][2..].to_vec();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((name, engine, end))
}

fn lua_string(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(lua::lua_number_str(*n).into_bytes()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// Reads `redis.register_function`'s arguments (Redis's checks and messages).
fn read_register_args(
    lua: &mlua::Lua,
    args: &MultiValue,
    so_far: &[(String, FuncInfo)],
) -> Result<FuncInfo, String> {
    if args.is_empty() || args.len() > 2 {
        return Err("wrong number of arguments to redis.register_function".into());
    }
    let mut name: Option<Vec<u8>> = None;
    let mut desc: Option<Vec<u8>> = None;
    let mut callback: Option<Function> = None;
    let mut flags = 0u32;
    if args.len() == 1 {
        let Some(Value::Table(t)) = args.front() else {
            return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
        };
        for (k, v) in t.pairs::<Value, Value>().flatten() {
            let Some(k) = lua_string(&k) else {
                return Err(
                    "named argument key given to redis.register_function is not a string".into(),
                );
            };
            let k = String::from_utf8_lossy(&k).to_ascii_lowercase();
            match k.as_str() {
                "function_name" => match lua_string(&v) {
                    Some(n) => name = Some(n),
                    None => return Err(
                        "function_name argument given to redis.register_function must be a string"
                            .into(),
                    ),
                },
                "description" => match lua_string(&v) {
                    Some(d) => desc = Some(d),
                    None => return Err(
                        "description argument given to redis.register_function must be a string"
                            .into(),
                    ),
                },
                "callback" => {
                    match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err(
                            "callback argument given to redis.register_function must be a function"
                                .into(),
                        ),
                    }
                }
                "flags" => {
                    let Value::Table(ft) = v else {
                        return Err("flags argument to redis.register_function must be a table representing function flags".into());
                    };
                    for fv in ft.sequence_values::<Value>() {
                        let Some(s) = fv.ok().as_ref().and_then(lua_string) else {
                            return Err("unknown flag given".into());
                        };
                        match FLAG_NAMES
                            .iter()
                            .find(|(n, _)| n.as_bytes() == s.as_slice())
                        {
                            Some((_, b)) => flags |= b,
                            None => return Err("unknown flag given".into()),
                        }
                    }
                }
                _ => return Err("unknown argument given to redis.register_function".into()),
            }
        }
        if name.is_none() {
            return Err("redis.register_function must get a function name argument".into());
        }
        if callback.is_none() {
            return Err("redis.register_function must get a callback argument".into());
        }
    } else {
        let Some(n) = args.front().and_then(lua_string) else {
            return Err("first argument to redis.register_function must be a string".into());
        };
        let Some(Value::Function(f)) = args.get(1) else {
            return Err("second argument to redis.register_function must be a function".into());
        };
        name = Some(n);
        callback = Some(f.clone());
    }
    let name = String::from_utf8_lossy(&name.unwrap_or_default()).into_owned();
    if !valid_name(&name) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if so_far.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
        return Err("Function already exists in the library".into());
    }
    let Some(cb) = callback else {
        return Err("redis.register_function must get a callback argument".into());
    };
    let key = lua
        .create_registry_value(cb)
        .map_err(|e| lua::error_text(&e))?;
    Ok(FuncInfo {
        name,
        desc,
        flags,
        key,
    })
}

/// FCALL / FCALL_RO.
pub fn fcall(s: &mut Server, c: &mut Client, a: Args, now: i64, clock: &mut Instant, ro: bool) {
    let fname = String::from_utf8_lossy(a.get(1)).into_owned();
    let key = fname.to_ascii_lowercase();
    let Some(lib) = s.scripting.funcs.index.get(&key).cloned() else {
        return c.reply.error("ERR Function not found");
    };
    let Some(nk) = cinnabar_util::num::string2ll(a.get(2)) else {
        return c.reply.error("ERR Bad number of keys provided");
    };
    if nk > a.len() as i64 - 3 {
        return c
            .reply
            .error("ERR Number of keys can't be greater than number of args");
    }
    if nk < 0 {
        return c.reply.error("ERR Number of keys can't be negative");
    }
    let nk = nk as usize;
    let Some((flags, fname)) = s
        .scripting
        .funcs
        .libs
        .get(&lib)
        .and_then(|l| l.functions.get(&key))
        .map(|f| (f.flags, f.name.clone()))
    else {
        return c.reply.error("ERR Function not found");
    };
    if s.scripting.funcs.engine().is_err() {
        return c.reply.error("ERR Failed creating the Lua state");
    }
    // The function is looked up again by key inside the run (the engine is taken out).
    let func = s
        .scripting
        .funcs
        .libs
        .get(&lib)
        .and_then(|l| l.functions.get(&key))
        .map(|f| f.key.id());
    let Some(func) = func.filter(|_| s.scripting.funcs.engine.is_some()) else {
        return c.reply.error("ERR Function not found");
    };
    let spec = RunSpec {
        name: &fname,
        flags,
        ro,
        eval_mode: false,
        keys: a.slice(3, 3 + nk),
        args: a.slice(3 + nk, a.len()),
        command: a,
    };
    super::run_script(s, c, &spec, now, clock, super::RunTarget::Registry(func));
}

const FUNCTION_HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
];

/// A change to the libraries: counts as a write and is propagated as the command itself.
fn changed(s: &mut Server, c: &Client, a: Args) {
    s.dirty += 1;
    if s.prop.enabled && !s.applying_master {
        s.prop.add_args(c.db, a.iter());
    }
}

/// The FUNCTION subcommands.
pub fn run(s: &mut Server, c: &mut Client, name: &str, a: Args) {
    match name {
        "function|load" => {
            let mut replace = false;
            let mut i = 2;
            while i < a.len() - 1 {
                let x = a.get(i);
                i += 1;
                if x.eq_ignore_ascii_case(b"replace") {
                    replace = true;
                    continue;
                }
                return c.reply.error(&format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(x)
                ));
            }
            if i >= a.len() {
                return c.reply.error("ERR Function code is missing");
            }
            match s.scripting.funcs.create(a.get(i), replace) {
                Ok(lib) => {
                    changed(s, c, a);
                    c.reply.bulk(lib.as_bytes());
                }
                Err(e) => c.reply.error_bytes(format!("ERR {e}").as_bytes()),
            }
        }
        "function|delete" => {
            let n = String::from_utf8_lossy(a.get(2)).into_owned();
            if s.scripting.funcs.unlink(&n).is_none() {
                return c.reply.error("ERR Library not found");
            }
            changed(s, c, a);
            c.reply.ok();
        }
        "function|flush" => {
            if a.len() > 3 {
                return syntax_error(c, "FUNCTION");
            }
            if a.len() == 3
                && !a.get(2).eq_ignore_ascii_case(b"sync")
                && !a.get(2).eq_ignore_ascii_case(b"async")
            {
                return c
                    .reply
                    .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            s.scripting.funcs.flush();
            changed(s, c, a);
            c.reply.ok();
        }
        "function|list" => list(s, c, a),
        "function|dump" => {
            let p = dump_payload(&s.scripting.funcs);
            c.reply.bulk(&p);
        }
        "function|restore" => restore(s, c, a),
        "function|stats" => stats(s, c),
        "function|help" => super::help(c, FUNCTION_HELP, "FUNCTION"),
        _ => c.reply.error("ERR unknown subcommand"),
    }
}

fn syntax_error(c: &mut Client, cmd: &str) {
    c.reply.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        "flush"
    ));
}

fn list(s: &mut Server, c: &mut Client, a: Args) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < a.len() {
        let x = a.get(i);
        if !with_code && x.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if pattern.is_none() && x.eq_ignore_ascii_case(b"libraryname") {
            if i >= a.len() - 1 {
                return c.reply.error("ERR library name argument was not given");
            }
            pattern = Some(a.get(i + 1));
            i += 2;
            continue;
        }
        return c.reply.error_bytes(
            format!("ERR Unknown argument {}", String::from_utf8_lossy(x)).as_bytes(),
        );
    }
    let libs: Vec<&Library> = s
        .scripting
        .funcs
        .libs
        .values()
        .filter(|l| {
            pattern.is_none_or(|p| cinnabar_util::glob::glob_match(p, l.name.as_bytes(), true))
        })
        .collect();
    let r = &mut c.reply;
    r.array(libs.len());
    for l in libs {
        r.map(if with_code { 4 } else { 3 });
        r.bulk(b"library_name");
        r.bulk(l.name.as_bytes());
        r.bulk(b"engine");
        r.bulk(b"LUA");
        r.bulk(b"functions");
        r.array(l.functions.len());
        for f in l.functions.values() {
            r.map(3);
            r.bulk(b"name");
            r.bulk(f.name.as_bytes());
            r.bulk(b"description");
            match &f.desc {
                Some(d) => r.bulk(d),
                None => r.null(),
            }
            r.bulk(b"flags");
            let names: Vec<&str> = FLAG_NAMES
                .iter()
                .filter(|(_, b)| f.flags & b != 0)
                .map(|(n, _)| *n)
                .collect();
            r.set(names.len());
            for n in names {
                r.simple(n);
            }
        }
        if with_code {
            r.bulk(b"library_code");
            r.bulk(&l.code);
        }
    }
}

fn stats(s: &mut Server, c: &mut Client) {
    let r = &mut c.reply;
    r.map(2);
    r.bulk(b"running_script");
    match &s.scripting.running {
        Some(run) if !run.eval => {
            r.map(3);
            r.bulk(b"name");
            r.bulk(run.name.as_bytes());
            r.bulk(b"command");
            let command = super::running_command();
            r.array(command.len());
            for x in command.iter() {
                r.bulk(x);
            }
            r.bulk(b"duration_ms");
            r.int(run.started.elapsed().as_millis() as i64);
        }
        _ => r.null(),
    }
    r.bulk(b"engines");
    r.map(1);
    r.bulk(b"LUA");
    r.map(2);
    r.bulk(b"libraries_count");
    r.int(s.scripting.funcs.libs.len() as i64);
    r.bulk(b"functions_count");
    r.int(s.scripting.funcs.count() as i64);
}

/// FUNCTION DUMP's payload: FUNCTION2 entries, RDB version, CRC-64.
pub fn dump_payload(f: &Functions) -> Vec<u8> {
    let mut out = Vec::new();
    for l in f.libs.values() {
        cinnabar_rdb::write_function(&mut out, &l.code);
    }
    out.extend_from_slice(&cinnabar_rdb::RDB_VERSION.to_le_bytes());
    let crc = cinnabar_rdb::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn restore(s: &mut Server, c: &mut Client, a: Args) {
    if a.len() > 4 {
        return c.reply.error(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        );
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let mut policy = Policy::Append;
    if a.len() == 4 {
        let p = a.get(3);
        policy = if p.eq_ignore_ascii_case(b"append") {
            Policy::Append
        } else if p.eq_ignore_ascii_case(b"replace") {
            Policy::Replace
        } else if p.eq_ignore_ascii_case(b"flush") {
            Policy::Flush
        } else {
            return c.reply.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        };
    }
    let data = a.get(2);
    let ok = data.len() >= 10 && {
        let n = data.len();
        let ver = u16::from_le_bytes([data[n - 10], data[n - 9]]);
        let crc = u64::from_le_bytes(data[n - 8..].try_into().unwrap_or([0; 8]));
        ver <= cinnabar_rdb::RDB_VERSION && cinnabar_rdb::crc64(&data[..n - 8]) == crc
    };
    if !ok {
        return c
            .reply
            .error("ERR DUMP payload version or checksum are wrong");
    }
    let body = &data[..data.len() - 10];
    // Parse the entries through the RDB loader: a header, the body, EOF without checksum.
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(body);
    file.push(0xff);
    file.extend_from_slice(&[0u8; 8]);
    let items = match cinnabar_rdb::load_all(&file, &s.settings.limits) {
        Ok(items) => items,
        Err(_) => return c.reply.error("ERR can not read data type"),
    };
    let mut codes = Vec::new();
    for it in items {
        match it {
            cinnabar_rdb::Item::Function(code) => codes.push(code),
            cinnabar_rdb::Item::Eof => {}
            _ => return c.reply.error("ERR given type is not a function"),
        }
    }
    // Build the new set in a scratch engine state first, so a failure changes nothing.
    let mut scratch = Functions::default();
    for code in &codes {
        if let Err(e) = scratch.create(code, false) {
            return c.reply.error_bytes(format!("ERR {e}").as_bytes());
        }
    }
    let merged: Result<(), String> = match policy {
        Policy::Flush => Ok(()),
        Policy::Append | Policy::Replace => {
            let replace = policy == Policy::Replace;
            let mut err = None;
            for l in scratch.libs.values() {
                if s.scripting.funcs.libs.contains_key(&l.name) && !replace {
                    err = Some(format!("Library {} already exists", l.name));
                    break;
                }
                for f in l.functions.keys() {
                    if let Some(owner) = s.scripting.funcs.index.get(f) {
                        if *owner != l.name {
                            err = Some(format!("Function {f} already exists"));
                            break;
                        }
                    }
                }
                if err.is_some() {
                    break;
                }
            }
            match err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    };
    if let Err(e) = merged {
        return c.reply.error_bytes(format!("ERR {e}").as_bytes());
    }
    if policy == Policy::Flush {
        s.scripting.funcs.flush();
    }
    // Load into the live engine (already validated).
    for code in &codes {
        if let Err(e) = s.scripting.funcs.create(code, true) {
            return c.reply.error_bytes(format!("ERR {e}").as_bytes());
        }
    }
    changed(s, c, a);
    c.reply.ok();
}

/// Loads the libraries found in a snapshot (replacing what is there).
pub fn load_from_rdb(s: &mut Server, codes: &[Vec<u8>]) -> Result<(), String> {
    for code in codes {
        s.scripting.funcs.create(code, true)?;
    }
    Ok(())
}

/// Flag bits as names (for messages and INFO).
pub fn flags_compat(flags: u32) -> bool {
    flags & sflag::EVAL_COMPAT != 0
}
