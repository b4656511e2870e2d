//! The Lua state scripts run in, built as Redis 7.0 builds it: Lua 5.1 with the base, table,
//! string and math libraries plus `bit` and `cjson` (written here in Rust), the `redis` table,
//! and the sandbox — every global and library table is read-only ("Attempt to modify a
//! readonly table"), reading an unknown global fails ("Script attempted to access nonexistent
//! global variable"), `print`, `dofile`, `loadfile`, `os`, `io` and the like are gone, and only
//! source text is loaded (never bytecode).
//!
//! The functions that need the running script (`redis.call`, `redis.pcall`, `redis.setresp`,
//! `redis.set_repl`) are small Lua wrappers that look up the current run's Rust callbacks in a
//! private `ctx` table the runner fills for the duration of a run; outside a run they fail as
//! Redis does. Conversions between Lua values and RESP replies follow Redis's rules both ways.

use cinnabar_resp::ReplyBuf;
use mlua::{ChunkMode, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

/// The Lua text that builds the `redis` table and locks the environment. It receives the
/// globals table, the private run context table and a table of Rust helpers.
const PRELUDE: &str = r#"
local G, ctx, rs, with_fn_api = ...
local error, type, tostring, select, setmetatable, getmetatable, rawset, rawget, pairs, next =
      error, type, tostring, select, setmetatable, getmetatable, rawset, rawget, pairs, next
local function push_error(s)
  local code, msg
  if s:sub(1, 1) == '-' then
    local sp = s:find(' ', 1, true)
    if sp then code = s:sub(2, sp - 1); msg = s:sub(sp + 1) else code = 'ERR'; msg = s:sub(2) end
  else
    code = 'ERR'; msg = s
  end
  msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return {err = code .. ' ' .. msg}
end
local redis = {}
local function need(name, what)
  local f = ctx[name]
  if f == nil then error(push_error(what .. ' can only be called inside a script invocation'), 0) end
  return f
end
redis.call = function(...)
  local r, raise = need('call', 'redis.call/pcall')(...)
  if raise then error(r, 0) end
  return r
end
redis.pcall = function(...)
  local r = need('call', 'redis.call/pcall')(...)
  return r
end
redis.setresp = function(...)
  local r, raise = need('setresp', 'redis.setresp')(...)
  if raise then error(r, 0) end
  return r
end
redis.set_repl = function(...)
  local r, raise = need('set_repl', 'redis.set_repl')(...)
  if raise then error(r, 0) end
  return r
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error(push_error('wrong number of arguments'), 0) end
  return rs.sha1hex(...)
end
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then return push_error('wrong number or type of arguments') end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return push_error(e)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return push_error('wrong number or type of arguments') end
  return {ok = s}
end
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error(push_error('redis.log() requires two arguments or more.'), 0) end
  local level = ...
  if type(level) ~= 'number' then error(push_error('First argument must be a number (log level).'), 0) end
  if level < 0 or level > 3 then error(push_error('Invalid debug level.'), 0) end
  rs.log(...)
end
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.REDIS_VERSION = rs.version
redis.REDIS_VERSION_NUM = rs.version_num
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = function(...)
  local f = need('acl_check_cmd', 'redis.acl_check_cmd')
  return f(...)
end
G.redis = redis

-- pcall hands back the message of an error table (Redis 7's errors are tables).
local rawpcall = pcall
local unwrap = rs.unwrap_err
local function fix(ok, ...)
  -- A killed script stops even if it catches errors.
  if ctx.killed then error(ctx.raised, 0) end
  if not ok then
    local e = unwrap((...))
    if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then return false, rawget(e, 'err') end
  end
  return ok, ...
end
G.pcall = function(...) return fix(rawpcall(...)) end

-- Source text only: a binary chunk does not load.
local raw_loadstring, raw_load = loadstring, load
G.loadstring = function(s, ...)
  if type(s) == 'string' and s:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return raw_loadstring(s, ...)
end
G.load = function(f, ...)
  if type(f) == 'string' and f:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return raw_load(f, ...)
end

-- Only what Redis keeps.
local keep = {
  string = 1, cjson = 1, bit = 1, cmsgpack = 1, math = 1, table = 1, struct = 1, redis = 1,
  xpcall = 1, tostring = 1, getfenv = 1, setmetatable = 1, next = 1, assert = 1, tonumber = 1,
  rawequal = 1, collectgarbage = 1, getmetatable = 1, rawset = 1, pcall = 1, coroutine = 1,
  type = 1, _G = 1, select = 1, unpack = 1, gcinfo = 1, pairs = 1, rawget = 1, loadstring = 1,
  ipairs = 1, _VERSION = 1, setfenv = 1, load = 1, error = 1, newproxy = 1,
}
local drop = {}
for k in pairs(G) do if not keep[k] then drop[#drop + 1] = k end end
for _, k in ipairs(drop) do G[k] = nil end

-- Read-only tables: the contents move to a hidden table behind __index; writes fail.
local protected = setmetatable({}, {__mode = 'k'})
local function ro() error('Attempt to modify a readonly table', 2) end
local function lock(t, index)
  local hidden = {}
  for k, v in pairs(t) do hidden[k] = v end
  for k in pairs(hidden) do rawset(t, k, nil) end
  local mt = {__index = index and index(hidden) or hidden, __newindex = ro}
  protected[mt] = true
  setmetatable(t, mt)
  protected[t] = true
  return hidden, mt
end
-- A table whose missing keys are reads of nonexistent globals (an error, as in Redis).
local function missing_is_error(t)
  return setmetatable(t, {__index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end})
end
local raw_setmetatable, raw_rawset, raw_getmetatable = setmetatable, rawset, getmetatable
local hidden_g
local g_mt
local redis_hidden
local function lock_all()
  for _, name in ipairs({'string', 'math', 'table', 'cjson', 'bit', 'coroutine', 'cmsgpack', 'struct'}) do
    local t = rawget(G, name)
    if type(t) == 'table' then lock(t) end
  end
  redis_hidden = lock(redis)
  rawset(G, 'setmetatable', function(t, m)
    if protected[t] then error('Attempt to modify a readonly table', 0) end
    return raw_setmetatable(t, m)
  end)
  rawset(G, 'rawset', function(t, k, v)
    if protected[t] then error('Attempt to modify a readonly table', 0) end
    return raw_rawset(t, k, v)
  end)
  rawset(G, 'getmetatable', function(t)
    local m = raw_getmetatable(t)
    if m ~= nil and protected[m] then
      local p = raw_setmetatable({}, {__index = m, __newindex = ro})
      protected[p] = true
      return p
    end
    return m
  end)
  -- Globals are found in the hidden table by Lua itself (an __index table, not a function),
  -- so reading one costs two table lookups; only a miss calls a function.
  hidden_g, g_mt = lock(G)
  missing_is_error(hidden_g)
  hidden_g._G = G
end
local load_api
if with_fn_api then
  -- What FUNCTION LOAD's code sees: only `redis` with register_function, log and the
  -- version; anything else is a nonexistent global.
  local lr = {}
  lr.register_function = function(...)
    local f = ctx.register_function
    if f == nil then error(push_error('redis.register_function can only be called on FUNCTION LOAD command'), 0) end
    local r, raise = f(...)
    if raise then error(r, 0) end
    return r
  end
  lr.log = redis.log
  for _, k in ipairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING', 'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
    lr[k] = redis[k]
  end
  lock(lr, function(h)
    return function(_, k)
      local v = h[k]
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end
  end)
  load_api = missing_is_error({redis = lr})
end
lock_all()
local function set_mode(load)
  if load then rawset(g_mt, '__index', load_api) else rawset(g_mt, '__index', hidden_g) end
end
return hidden_g, set_mode, redis_hidden
"#;

/// One Lua state with Redis's environment.
pub struct Engine {
    pub lua: Lua,
    /// Where the current run's callbacks go (`call`, `setresp`, `set_repl`, ...).
    pub ctx: Table,
    /// The real globals (behind the locked globals table), for KEYS and ARGV.
    pub hidden_globals: Table,
    /// Runs a function under the error handler: `runner(f, keys, args, eval_mode)`.
    pub runner: Function,
    /// `set_mode(true)`: globals are FUNCTION LOAD's API; `set_mode(false)`: the normal ones.
    pub set_mode: Function,
    /// The contents of the `redis` table (the run installs its callbacks here).
    pub redis_api: Table,
    /// The run-dependent callbacks (`call`, `pcall`, `setresp`, `set_repl`) are installed.
    pub callbacks: bool,
    /// The busy-script count hook is installed (FUNCTION LOAD replaces it while it loads).
    pub hook: bool,
}

const RUNNER: &str = r#"
local handler = ...
local xpcall = xpcall
return function(f, keys, args, eval_mode)
  if eval_mode then
    return xpcall(f, handler)
  end
  return xpcall(function() return f(keys, args) end, handler)
end
"#;

/// Builds a new Lua state. `functions` adds `redis.register_function` (the functions engine).
pub fn new_engine(functions: bool) -> mlua::Result<Engine> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::new(),
    )?;
    let g = lua.globals();
    g.set("bit", super::libs::bit_lib(&lua)?)?;
    g.set("cjson", super::libs::cjson_lib(&lua)?)?;
    g.set("cmsgpack", super::libs::cmsgpack_lib(&lua)?)?;
    let rs = lua.create_table()?;
    rs.set(
        "sha1hex",
        lua.create_function(|lua, v: Value| {
            let bytes: Vec<u8> = match &v {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => lua_number_str(*n).into_bytes(),
                Value::Integer(i) => i.to_string().into_bytes(),
                _ => Vec::new(),
            };
            lua.create_string(cinnabar_util::sha1::hex(&cinnabar_util::sha1::sha1(&bytes)))
        })?,
    )?;
    rs.set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            let mut it = args.into_iter();
            let level = match it.next() {
                Some(Value::Number(n)) => n as i64,
                Some(Value::Integer(n)) => n,
                _ => 0,
            };
            let mut msg = Vec::new();
            for (i, a) in it.enumerate() {
                if i > 0 {
                    msg.push(b' ');
                }
                match a {
                    Value::String(s) => msg.extend_from_slice(&s.as_bytes()),
                    Value::Number(n) => msg.extend_from_slice(lua_number_str(n).as_bytes()),
                    Value::Integer(n) => msg.extend_from_slice(n.to_string().as_bytes()),
                    _ => {}
                }
            }
            let msg = String::from_utf8_lossy(&msg);
            let level = match level {
                0 => crate::log::Level::Debug,
                1 => crate::log::Level::Verbose,
                2 => crate::log::Level::Notice,
                _ => crate::log::Level::Warning,
            };
            crate::log::log(level, &msg);
            Ok(())
        })?,
    )?;
    let ctx = lua.create_table()?;
    let ctx2 = ctx.clone();
    rs.set(
        "unwrap_err",
        lua.create_function(move |_, v: Value| {
            if let Value::Error(e) = &v {
                if error_text(e) == RAISED {
                    if let Ok(t @ Value::Table(_)) = ctx2.raw_get::<Value>("raised") {
                        return Ok(t);
                    }
                }
            }
            Ok(v)
        })?,
    )?;
    rs.set("version", crate::REDIS_VERSION)?;
    rs.set("version_num", version_num() as f64)?;
    let prelude = lua
        .load(PRELUDE)
        .set_name("=internal")
        .set_mode(ChunkMode::Text)
        .into_function()?;
    let (hidden_globals, set_mode, redis_api): (Table, Function, Table) =
        prelude.call((g, ctx.clone(), rs, functions))?;
    let hctx = ctx.clone();
    let handler = lua.create_function(move |lua, e: Value| error_handler(lua, &hctx, e))?;
    let runner: Function = lua
        .load(RUNNER)
        .set_name("=internal")
        .set_mode(ChunkMode::Text)
        .call(handler)?;
    Ok(Engine {
        lua,
        ctx,
        hidden_globals,
        runner,
        set_mode,
        redis_api,
        callbacks: false,
        hook: false,
    })
}

fn version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let a = parts.next().unwrap_or(0);
    let b = parts.next().unwrap_or(0);
    let c = parts.next().unwrap_or(0);
    (a << 16) | (b << 8) | c
}

/// Lua's own `tostring` of a number (`%.14g`).
pub fn lua_number_str(n: f64) -> String {
    c_fmt(n, b"%.14g\0")
}

/// `%.17g`, as Redis turns a Lua number into a command argument.
pub fn number_arg(n: f64) -> Vec<u8> {
    c_fmt(n, b"%.17g\0").into_bytes()
}

fn c_fmt(n: f64, fmt: &[u8]) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: buf is 64 bytes, the format is NUL-terminated and takes one double.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr() as *const libc::c_char,
            n,
        )
    };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The message of the error a Rust callback raises when the real error value is a table it
/// left in the run context's `raised` field (mlua raises Rust errors as userdata).
pub const RAISED: &str = "__redis_raised_error_table__";

thread_local! {
    /// The run context's `raised`/`killed` fields were set since the last `take_ctx_used`:
    /// a run clears them only then.
    static CTX_USED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `raise` (or the busy hook) wrote the run context since the last call.
pub fn take_ctx_used() -> bool {
    CTX_USED.with(|u| u.replace(false))
}

/// Raises `t` as the error of a Rust callback (see `RAISED`).
pub fn raise<T>(ctx: &Table, t: Table) -> mlua::Result<T> {
    CTX_USED.with(|u| u.set(true));
    ctx.raw_set("raised", t)?;
    Err(mlua::Error::RuntimeError(RAISED.to_string()))
}

/// The error handler of a run: turns any error into a table `{err=..., source=..., line=...}`
/// naming where in the user's code it happened (skipping C functions and the wrappers).
fn error_handler(lua: &Lua, ctx: &Table, err: Value) -> mlua::Result<Table> {
    let err = match err {
        Value::Error(e) if error_text(&e) == RAISED => ctx.raw_get::<Value>("raised")?,
        other => other,
    };
    let t = match err {
        Value::Table(t) => t,
        other => {
            let msg = match &other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                Value::Number(n) => lua_number_str(*n),
                Value::Integer(n) => n.to_string(),
                Value::Nil => "nil".to_string(),
                Value::Boolean(b) => b.to_string(),
                Value::Error(e) => error_text(e),
                _ => "execution failure".to_string(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {msg}"))?;
            t
        }
    };
    // Level 0 is this handler; find the first Lua frame that is the user's code.
    for level in 1..40 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        if src.what == "C" {
            continue;
        }
        let name = src.source.as_deref().unwrap_or("").to_string();
        if name == "=internal" {
            continue;
        }
        let line = d.curr_line();
        t.raw_set("source", name)?;
        t.raw_set("line", line as f64)?;
        break;
    }
    Ok(t)
}

/// The message of an error raised from Rust (no traceback).
pub fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// An error table as Redis's `luaPushErrorBuff` makes it from "-CODE msg" or "msg".
pub fn error_table(lua: &Lua, s: &[u8]) -> mlua::Result<Table> {
    let (code, msg) = error_parts(s);
    let mut full = code.to_vec();
    full.push(b' ');
    full.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&full)?)?;
    Ok(t)
}

/// Parses one RESP reply (as the server encoded it for the script's client) into a Lua value,
/// with Redis's conversion rules. Returns the value and the bytes consumed.
pub fn resp_to_lua(lua: &Lua, b: &[u8]) -> mlua::Result<(Value, usize)> {
    let bad = || mlua::Error::RuntimeError("bad reply".into());
    let line_end = b.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
    let line = &b[1..line_end];
    let after = line_end + 2;
    let num = |l: &[u8]| cinnabar_util::num::string2ll(l).ok_or_else(bad);
    let t = *b.first().ok_or_else(bad)?;
    Ok(match t {
        b'+' => {
            let tb = lua.create_table()?;
            tb.raw_set("ok", lua.create_string(line)?)?;
            (Value::Table(tb), after)
        }
        b'-' => {
            let mut s = b"-".to_vec();
            s.extend_from_slice(line);
            let tb = error_table(lua, &s)?;
            tb.raw_set("ignore_error_stats_update", true)?;
            (Value::Table(tb), after)
        }
        b':' => (Value::Number(num(line)? as f64), after),
        b'$' | b'=' | b'!' => {
            let n = num(line)?;
            if n < 0 {
                return Ok((Value::Boolean(false), after));
            }
            let n = n as usize;
            let body = b.get(after..after + n).ok_or_else(bad)?;
            let used = after + n + 2;
            if t == b'=' && body.len() >= 4 {
                let tb = lua.create_table()?;
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(&body[4..])?)?;
                inner.raw_set("format", lua.create_string(&body[..3])?)?;
                tb.raw_set("verbatim_string", inner)?;
                (Value::Table(tb), used)
            } else if t == b'!' {
                let mut s = b"-".to_vec();
                s.extend_from_slice(body);
                let tb = error_table(lua, &s)?;
                tb.raw_set("ignore_error_stats_update", true)?;
                (Value::Table(tb), used)
            } else {
                (Value::String(lua.create_string(body)?), used)
            }
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let n = num(line)?;
            if n < 0 {
                return Ok((Value::Boolean(false), after));
            }
            let mut pos = after;
            let tb = lua.create_table()?;
            match t {
                b'%' | b'|' => {
                    let inner = lua.create_table()?;
                    for _ in 0..n {
                        let (k, u) = resp_to_lua(lua, &b[pos..])?;
                        pos += u;
                        let (v, u) = resp_to_lua(lua, &b[pos..])?;
                        pos += u;
                        if k != Value::Nil {
                            inner.raw_set(k, v)?;
                        }
                    }
                    if t == b'|' {
                        // Attributes are skipped: the reply that follows is the value.
                        let (v, u) = resp_to_lua(lua, &b[pos..])?;
                        return Ok((v, pos + u));
                    }
                    tb.raw_set("map", inner)?;
                }
                b'~' => {
                    let inner = lua.create_table()?;
                    for _ in 0..n {
                        let (k, u) = resp_to_lua(lua, &b[pos..])?;
                        pos += u;
                        if k != Value::Nil {
                            inner.raw_set(k, true)?;
                        }
                    }
                    tb.raw_set("set", inner)?;
                }
                _ => {
                    for i in 0..n {
                        let (v, u) = resp_to_lua(lua, &b[pos..])?;
                        pos += u;
                        tb.raw_set(i + 1, v)?;
                    }
                }
            }
            (Value::Table(tb), pos)
        }
        b'_' => (Value::Nil, after),
        b'#' => (Value::Boolean(line == b"t"), after),
        b',' => {
            let d = cinnabar_util::num::strtod(line)
                .map(|(v, _, _)| v)
                .unwrap_or(0.0);
            let tb = lua.create_table()?;
            tb.raw_set("double", d)?;
            (Value::Table(tb), after)
        }
        b'(' => {
            let tb = lua.create_table()?;
            tb.raw_set("big_number", lua.create_string(line)?)?;
            (Value::Table(tb), after)
        }
        _ => return Err(bad()),
    })
}

/// What an error reply taken from a Lua error table looks like.
pub struct ErrInfo {
    pub msg: Vec<u8>,
    pub source: Option<Vec<u8>>,
    pub line: Option<Vec<u8>>,
    pub ignore_stats: bool,
}

fn value_str(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(lua_number_str(*n).into_bytes()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// Reads `{err=, source=, line=, ignore_error_stats_update=}` (Redis's error information).
pub fn err_info(t: &Table) -> ErrInfo {
    let get = |k: &str| t.raw_get::<Value>(k).ok().and_then(|v| value_str(&v));
    ErrInfo {
        msg: get("err").unwrap_or_default(),
        source: get("source"),
        line: get("line"),
        ignore_stats: matches!(
            t.raw_get::<Value>("ignore_error_stats_update"),
            Ok(Value::Boolean(true))
        ),
    }
}

/// Writes a Lua value as the script's reply (Redis's `luaReplyToRedisReply`). `script_resp3`
/// is the protocol the script selected with `redis.setresp` (booleans depend on it). Returns
/// true when an error reply whose statistics were already counted was written.
pub fn lua_to_reply(r: &mut ReplyBuf, v: &Value, script_resp3: bool, depth: usize) -> bool {
    if depth > 1000 {
        r.error("ERR reached lua stack limit");
        return false;
    }
    match v {
        Value::String(s) => r.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if !script_resp3 {
                if *b {
                    r.int(1)
                } else {
                    r.null()
                }
            } else {
                r.boolean(*b)
            }
        }
        Value::Number(n) => r.int(c_cast(*n)),
        Value::Integer(n) => r.int(*n),
        Value::Table(t) => return table_to_reply(r, t, script_resp3, depth),
        _ => r.null(),
    }
    false
}

fn table_to_reply(r: &mut ReplyBuf, t: &Table, resp3: bool, depth: usize) -> bool {
    if let Ok(Value::String(_)) = t.raw_get::<Value>("err") {
        let e = err_info(t);
        let mut msg = b"-".to_vec();
        msg.extend_from_slice(&e.msg);
        r.error_bytes(&msg);
        return e.ignore_stats;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        let s: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        r.out.push(b'+');
        r.out.extend_from_slice(&s);
        r.out.extend_from_slice(b"\r\n");
        return false;
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        let mut s = Vec::new();
        fmt_double(d, &mut s);
        r.double_str(&s);
        return false;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let s: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        if r.resp3 {
            r.out.push(b'(');
            r.out.extend_from_slice(&s);
            r.out.extend_from_slice(b"\r\n");
        } else {
            r.bulk(&s);
        }
        return false;
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            let f = f.as_bytes().to_vec();
            let ext = String::from_utf8_lossy(&f[..f.len().min(3)]).into_owned();
            r.verbatim(&s.as_bytes(), &format!("{ext:<3}"));
            return false;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let at = r.defer();
        let mut n = 0;
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            lua_to_reply(r, &k, resp3, depth + 1);
            lua_to_reply(r, &v, resp3, depth + 1);
            n += 1;
        }
        r.fill_deferred(at, b'%', n);
        return false;
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("set") {
        let at = r.defer();
        let mut n = 0;
        for (k, _) in m.pairs::<Value, Value>().flatten() {
            lua_to_reply(r, &k, resp3, depth + 1);
            n += 1;
        }
        r.fill_deferred(at, b'~', n);
        return false;
    }
    let at = r.defer();
    let mut n = 0;
    loop {
        let v: Value = t.raw_get(n + 1).unwrap_or(Value::Nil);
        if v == Value::Nil {
            break;
        }
        lua_to_reply(r, &v, resp3, depth + 1);
        n += 1;
    }
    r.fill_deferred(at, b'*', n);
    false
}

/// C's `(long long)` cast of a double as x86-64 does it: out of range and NaN give i64::MIN.
pub fn c_cast(n: f64) -> i64 {
    if n.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Prefixes `msg` with the position of the Lua code that called the running Rust function
/// (as `luaL_error` does: "user_script:1: msg").
pub fn where_error(lua: &Lua, msg: &str) -> mlua::Error {
    let pos = lua.inspect_stack(1).and_then(|d| {
        let line = d.curr_line();
        let src = d.source().short_src.map(|s| s.to_string());
        match src {
            Some(s) if line > 0 => Some(format!("{s}:{line}: ")),
            _ => None,
        }
    });
    mlua::Error::RuntimeError(format!("{}{msg}", pos.unwrap_or_default()))
}

/// Redis's `addReplyDouble` text: "inf", "-inf", else `%.17g`.
fn fmt_double(d: f64, out: &mut Vec<u8>) {
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        cinnabar_util::num::fmt_g17_into(d, out);
    }
}

/// Turns the arguments of `redis.call` into a command's arguments; Err is Redis's message.
pub fn call_args(args: &MultiValue) -> Result<cinnabar_resp::OwnedArgs, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut out = cinnabar_resp::OwnedArgs::default();
    for a in args.iter() {
        match a {
            Value::String(s) => out.push(&s.as_bytes()),
            Value::Number(n) => out.push(&number_arg(*n)),
            Value::Integer(n) => out.push(n.to_string().as_bytes()),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Raw stack conversions for `redis.call` (a C function: no mlua values, no allocation but Lua's).
//
// These push onto the Lua stack with the C API. They may be left by a Lua error (only "out of
// memory" can happen here), which unwinds with longjmp: callers keep no value with a destructor
// alive while they run.

use mlua::ffi;

/// Pushes `s` as a Lua string.
///
/// # Safety
/// `l` is a live Lua state with a free stack slot.
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: &[u8]) {
    unsafe {
        ffi::lua_pushlstring_(l, s.as_ptr() as *const std::ffi::c_char, s.len());
    }
}

/// Splits an error as Redis's `luaPushErrorBuff` does: "-CODE msg" → (CODE, msg), anything else
/// → (ERR, text); the message loses its leading and trailing CR/LF.
fn error_parts(s: &[u8]) -> (&[u8], &[u8]) {
    let (code, msg): (&[u8], &[u8]) = if let Some(rest) = s.strip_prefix(b"-") {
        match rest.iter().position(|&b| b == b' ') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (b"ERR", rest),
        }
    } else {
        (b"ERR", s)
    };
    let start = msg
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(start, |p| p + 1);
    (code, &msg[start..end.max(start)])
}

/// Pushes Redis's error table `{err = "CODE msg"}` for `s` ("-CODE msg" or "msg"), with
/// `ignore_error_stats_update = true` when the error was already counted.
///
/// # Safety
/// `l` is a live Lua state with three free stack slots.
pub unsafe fn push_error_table(l: *mut ffi::lua_State, s: &[u8], ignore_stats: bool) {
    let (code, msg) = error_parts(s);
    unsafe { push_error_fields(l, code, msg, ignore_stats) }
}

/// Pushes `{err = "<code> <msg>", ignore_error_stats_update = true?}`.
unsafe fn push_error_fields(l: *mut ffi::lua_State, code: &[u8], msg: &[u8], ignore_stats: bool) {
    unsafe {
        ffi::lua_createtable(l, 0, 2);
        push_bytes(l, code);
        push_bytes(l, b" ");
        push_bytes(l, msg);
        ffi::lua_concat(l, 3);
        ffi::lua_setfield(l, -2, c"err".as_ptr());
        if ignore_stats {
            ffi::lua_pushboolean(l, 1);
            ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
        }
    }
}

/// Pushes the error table of an error reply whose text (after `-` or in a `!` blob) is `text`
/// (already counted, so `ignore_error_stats_update` is set).
unsafe fn push_reply_error(l: *mut ffi::lua_State, text: &[u8]) {
    // "-" + text, without building it: the code is the first word, else ERR.
    let (code, msg): (&[u8], &[u8]) = match text.iter().position(|&b| b == b' ') {
        Some(p) => (&text[..p], &text[p + 1..]),
        None => (b"ERR", text),
    };
    unsafe { push_error_fields(l, code, error_parts(msg).1, true) }
}

/// Pushes a one-field table `{name = <string s>}`.
unsafe fn push_field_table(l: *mut ffi::lua_State, name: &std::ffi::CStr, s: &[u8]) {
    unsafe {
        ffi::lua_createtable(l, 0, 1);
        push_bytes(l, s);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

/// Parses one RESP reply (as the server encoded it for the script's client) and pushes it as a
/// Lua value with Redis's conversion rules (the raw-stack twin of `resp_to_lua`). Returns the
/// bytes consumed, or None (nothing pushed) when the reply is malformed or too deep.
///
/// # Safety
/// `l` is a live Lua state.
pub unsafe fn push_resp(l: *mut ffi::lua_State, b: &[u8]) -> Option<usize> {
    unsafe {
        if ffi::lua_checkstack(l, 6) == 0 {
            return None;
        }
        let top = ffi::lua_gettop(l);
        let r = push_resp_inner(l, b);
        if r.is_none() {
            ffi::lua_settop(l, top);
        }
        r
    }
}

unsafe fn push_resp_inner(l: *mut ffi::lua_State, b: &[u8]) -> Option<usize> {
    unsafe {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let t = *b.first()?;
        let line = b.get(1..line_end)?;
        let after = line_end + 2;
        let num = |l: &[u8]| cinnabar_util::num::string2ll(l);
        match t {
            b'+' => push_field_table(l, c"ok", line),
            b'-' => push_reply_error(l, line),
            b':' => ffi::lua_pushnumber(l, num(line)? as f64),
            b'$' | b'=' | b'!' => {
                let n = num(line)?;
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return Some(after);
                }
                let n = usize::try_from(n).ok()?;
                let body = b.get(after..after.checked_add(n)?)?;
                if t == b'=' && body.len() >= 4 {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, 2);
                    push_bytes(l, &body[4..]);
                    ffi::lua_setfield(l, -2, c"string".as_ptr());
                    push_bytes(l, &body[..3]);
                    ffi::lua_setfield(l, -2, c"format".as_ptr());
                    ffi::lua_setfield(l, -2, c"verbatim_string".as_ptr());
                } else if t == b'!' {
                    push_reply_error(l, body);
                } else {
                    push_bytes(l, body);
                }
                return Some(after + n + 2);
            }
            b'*' | b'~' | b'%' | b'>' | b'|' => {
                let n = num(line)?;
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return Some(after);
                }
                // Every element takes at least 3 bytes: a count beyond that is a bad reply.
                if n as u64 > (b.len() as u64) / 3 + 1 {
                    return None;
                }
                let n = n as usize;
                let mut pos = after;
                match t {
                    b'%' | b'|' => {
                        ffi::lua_createtable(l, 0, 1);
                        ffi::lua_createtable(l, 0, n.min(1 << 16) as i32);
                        for _ in 0..n {
                            pos += push_resp(l, b.get(pos..)?)?;
                            pos += push_resp(l, b.get(pos..)?)?;
                            if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                                ffi::lua_settop(l, -3);
                            } else {
                                ffi::lua_rawset(l, -3);
                            }
                        }
                        if t == b'|' {
                            // Attributes are skipped: the reply that follows is the value.
                            ffi::lua_settop(l, -3);
                            return Some(pos + push_resp(l, b.get(pos..)?)?);
                        }
                        ffi::lua_setfield(l, -2, c"map".as_ptr());
                    }
                    b'~' => {
                        ffi::lua_createtable(l, 0, 1);
                        ffi::lua_createtable(l, 0, n.min(1 << 16) as i32);
                        for _ in 0..n {
                            pos += push_resp(l, b.get(pos..)?)?;
                            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                                ffi::lua_settop(l, -2);
                            } else {
                                ffi::lua_pushboolean(l, 1);
                                ffi::lua_rawset(l, -3);
                            }
                        }
                        ffi::lua_setfield(l, -2, c"set".as_ptr());
                    }
                    _ => {
                        ffi::lua_createtable(l, n.min(1 << 16) as i32, 0);
                        for i in 0..n {
                            pos += push_resp(l, b.get(pos..)?)?;
                            ffi::lua_rawseti_(l, -2, (i + 1) as std::ffi::c_int);
                        }
                    }
                }
                return Some(pos);
            }
            b'_' => ffi::lua_pushnil(l),
            b'#' => ffi::lua_pushboolean(l, (line == b"t") as i32),
            b',' => {
                let d = cinnabar_util::num::strtod(line)
                    .map(|(v, _, _)| v)
                    .unwrap_or(0.0);
                ffi::lua_createtable(l, 0, 1);
                ffi::lua_pushnumber(l, d);
                ffi::lua_setfield(l, -2, c"double".as_ptr());
            }
            b'(' => push_field_table(l, c"big_number", line),
            _ => return None,
        }
        Some(after)
    }
}
