//! The extra Lua libraries Redis gives scripts, written in Rust: `bit` (LuaBitOp's semantics:
//! 32-bit operations on numbers) and `cjson` (JSON in lua-cjson's formats: `%.14g` numbers,
//! `\/` escapes, `cjson.null`, sparse-array and nesting errors).

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

/// LuaBitOp's number → 32-bit conversion (round to nearest, modulo 2^32).
fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Number(n) => *n,
        Value::Integer(i) => *i as f64,
        Value::String(s) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|x| x.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::RuntimeError("bad argument (number expected)".into()))?,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "bad argument (number expected)".into(),
            ))
        }
    };
    let t = n + 6755399441055744.0;
    Ok(t.to_bits() as u32 as i32)
}

fn arg(args: &MultiValue, i: usize) -> mlua::Result<i32> {
    tobit(args.get(i).unwrap_or(&Value::Nil))
}

/// The `bit` table.
pub fn bit_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "tobit",
        lua.create_function(|_, a: MultiValue| Ok(arg(&a, 0)? as f64))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, a: MultiValue| Ok(!arg(&a, 0)? as f64))?,
    )?;
    type Fold = fn(i32, i32) -> i32;
    let folds: [(&str, Fold); 3] = [
        ("band", |x, y| x & y),
        ("bor", |x, y| x | y),
        ("bxor", |x, y| x ^ y),
    ];
    for (name, f) in folds {
        t.set(
            name,
            lua.create_function(move |_, a: MultiValue| {
                let mut acc = arg(&a, 0)?;
                for i in 1..a.len() {
                    acc = f(acc, arg(&a, i)?);
                }
                Ok(acc as f64)
            })?,
        )?;
    }
    type Shift = fn(i32, u32) -> i32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for (name, f) in shifts {
        t.set(
            name,
            lua.create_function(move |_, a: MultiValue| {
                let x = arg(&a, 0)?;
                let n = (arg(&a, 1)? & 31) as u32;
                Ok(f(x, n) as f64)
            })?,
        )?;
    }
    t.set(
        "bswap",
        lua.create_function(|_, a: MultiValue| Ok(arg(&a, 0)?.swap_bytes() as f64))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, a: MultiValue| {
            let x = arg(&a, 0)? as u32;
            let mut n = if a.len() > 1 && a.get(1) != Some(&Value::Nil) {
                arg(&a, 1)?
            } else {
                8
            };
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(0, 8) as usize;
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}

/// `cjson.null`.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// cjson's settings (per Lua state).
#[derive(Clone, Copy)]
struct CjsonCfg {
    encode_max_depth: usize,
    decode_max_depth: usize,
    invalid_numbers: bool,
}

/// The `cjson` table.
pub fn cjson_lib(lua: &Lua) -> mlua::Result<Table> {
    let cfg = std::rc::Rc::new(std::cell::Cell::new(CjsonCfg {
        encode_max_depth: 1000,
        decode_max_depth: 1000,
        invalid_numbers: false,
    }));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, a: MultiValue| {
            if a.len() != 1 {
                return Err(super::lua::where_error(
                    lua,
                    "bad argument #1 to 'encode' (expected 1 argument)",
                ));
            }
            let mut out = Vec::new();
            encode(a.front().unwrap_or(&Value::Nil), &mut out, 0, &c.get())
                .map_err(|m| super::lua::where_error(lua, &m))?;
            lua.create_string(&out)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, s: mlua::String| {
            let b = s.as_bytes().to_vec();
            let mut p = Parser {
                b: &b,
                i: 0,
                lua,
                max_depth: c.get().decode_max_depth,
            };
            let r = (|| {
                p.ws();
                let v = p.value(0)?;
                p.ws();
                if p.i < b.len() {
                    return Err(p.err("the end", "invalid token"));
                }
                Ok(v)
            })();
            r.map_err(|e| super::lua::where_error(lua, &super::lua::error_text(&e)))
        })?,
    )?;
    t.set("null", null())?;
    let c = cfg.clone();
    t.set(
        "encode_max_depth",
        lua.create_function(move |_, n: Option<f64>| {
            let mut v = c.get();
            if let Some(n) = n {
                v.encode_max_depth = n.max(1.0) as usize;
                c.set(v);
            }
            Ok(v.encode_max_depth as f64)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode_max_depth",
        lua.create_function(move |_, n: Option<f64>| {
            let mut v = c.get();
            if let Some(n) = n {
                v.decode_max_depth = n.max(1.0) as usize;
                c.set(v);
            }
            Ok(v.decode_max_depth as f64)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |_, b: Option<Value>| {
            let mut v = c.get();
            if let Some(b) = b {
                v.invalid_numbers = matches!(b, Value::Boolean(true) | Value::String(_));
                c.set(v);
            }
            Ok(v.invalid_numbers)
        })?,
    )?;
    for name in [
        "encode_keep_buffer",
        "encode_number_precision",
        "encode_sparse_array",
        "decode_invalid_numbers",
    ] {
        t.set(name, lua.create_function(|_, a: MultiValue| Ok(a))?)?;
    }
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn number(n: f64, out: &mut Vec<u8>, cfg: &CjsonCfg) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        if !cfg.invalid_numbers {
            return Err("Cannot serialise number: must not be NaN or Inf".into());
        }
        out.extend_from_slice(if n.is_nan() {
            b"nan"
        } else if n > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return Ok(());
    }
    out.extend_from_slice(super::lua::lua_number_str(n).as_bytes());
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize, cfg: &CjsonCfg) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(*n, out, cfg)?,
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= cfg.encode_max_depth {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            // An array when every key is a positive integer.
            let mut max = 0usize;
            let mut items = 0usize;
            let mut array = true;
            for (k, _) in t.pairs::<Value, Value>().flatten() {
                items += 1;
                match k {
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => {
                        max = max.max(n as usize);
                    }
                    Value::Integer(n) if n >= 1 => max = max.max(n as usize),
                    _ => {
                        array = false;
                    }
                }
            }
            if array && items > 0 {
                if max > 10 && max > items * 2 {
                    return Err("Cannot serialise table: excessively sparse array".into());
                }
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    encode(&v, out, depth + 1, cfg)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for (k, v) in t.pairs::<Value, Value>().flatten() {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => string(&s.as_bytes(), out),
                        Value::Number(n) => {
                            out.push(b'"');
                            number(*n, out, cfg)?;
                            out.push(b'"');
                        }
                        Value::Integer(n) => {
                            out.extend_from_slice(format!("\"{n}\"").as_bytes());
                        }
                        _ => {
                            return Err(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            )
                        }
                    }
                    out.push(b':');
                    encode(&v, out, depth + 1, cfg)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    lua: &'a Lua,
    max_depth: usize,
}

impl Parser<'_> {
    fn err(&self, expected: &str, found: &str) -> mlua::Error {
        let found = if self.i >= self.b.len() {
            "T_END"
        } else {
            found
        };
        mlua::Error::RuntimeError(format!(
            "Expected {expected} but found {found} at character {}",
            self.i + 1
        ))
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        if matches!(self.b.get(self.i), Some(b'{') | Some(b'[')) && depth >= self.max_depth {
            return Err(mlua::Error::RuntimeError(format!(
                "Found too many nested data structures ({}) at character {}",
                depth + 1,
                self.i + 1
            )));
        }
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.err("value", "T_END"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("object key string", "invalid token"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.err("colon", "invalid token"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(self.lua.create_string(&k)?, v)?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or object end", "invalid token")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                let mut n = 1;
                loop {
                    self.ws();
                    let v = self.value(depth + 1)?;
                    t.raw_set(n, v)?;
                    n += 1;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Table(t));
                        }
                        _ => return Err(self.err("comma or array end", "invalid token")),
                    }
                }
            }
            b'"' => {
                let s = self.string()?;
                Ok(Value::String(self.lua.create_string(&s)?))
            }
            b't' if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Boolean(true))
            }
            b'f' if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Boolean(false))
            }
            b'n' if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(null())
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let s = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
                match s.parse::<f64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.i = start;
                        Err(self.err("value", "invalid number"))
                    }
                }
            }
            _ => Err(self.err("value", "invalid token")),
        }
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("value", "unexpected end of string"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.err("value", "invalid escape code"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = |p: &Self, at: usize| -> Option<u32> {
                                let h = p.b.get(at..at + 4)?;
                                u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
                            };
                            let Some(mut cp) = hex(self, self.i) else {
                                return Err(self.err("value", "invalid unicode escape code"));
                            };
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                if let Some(lo) = hex(self, self.i + 2) {
                                    if (0xDC00..0xE000).contains(&lo) {
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                        self.i += 6;
                                    }
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.err("value", "invalid escape code")),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

/// The `cmsgpack` table (lua-cmsgpack's encodings: smallest integer form, float32 when exact,
/// arrays for tables keyed 1..n, nesting beyond 16 levels packed as nil).
pub fn cmsgpack_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, a: MultiValue| {
            if a.is_empty() {
                return Err(super::lua::where_error(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in a.iter() {
                mp_encode(v, &mut out, 0);
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| mp_unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (s, off): (mlua::String, Option<f64>)| {
            mp_unpack(lua, &s.as_bytes(), 1, off.unwrap_or(0.0) as i64)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, (s, lim, off): (mlua::String, f64, Option<f64>)| {
            mp_unpack(lua, &s.as_bytes(), lim as i64, off.unwrap_or(0.0) as i64)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

fn mp_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, w16: u8, w32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(w16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(w32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn mp_encode(v: &Value, out: &mut Vec<u8>, level: usize) {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let n = b.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => mp_int(*i, out),
        Value::Number(n) => {
            let n = *n;
            if n.is_finite() && (n as i64) as f64 == n {
                mp_int(n as i64, out);
            } else {
                let f = n as f32;
                if f as f64 == n || (n.is_nan() && f.is_nan()) {
                    out.push(0xca);
                    out.extend_from_slice(&f.to_be_bytes());
                } else {
                    out.push(0xcb);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        Value::Table(t) if level < 16 => {
            let mut count = 0usize;
            let mut max = 0usize;
            let mut array = true;
            for (k, _) in t.pairs::<Value, Value>().flatten() {
                match k {
                    Value::Number(n) if n > 0.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    Value::Integer(n) if n > 0 => max = max.max(n as usize),
                    _ => array = false,
                }
                count += 1;
            }
            if array && max == count {
                let len = t.raw_len();
                mp_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for j in 1..=len {
                    let v: Value = t.get(j).unwrap_or(Value::Nil);
                    mp_encode(&v, out, level + 1);
                }
            } else {
                mp_len(out, count, 0x80, 15, 0xde, 0xdf);
                for (k, v) in t.pairs::<Value, Value>().flatten() {
                    mp_encode(&k, out, level + 1);
                    mp_encode(&v, out, level + 1);
                }
            }
        }
        _ => out.push(0xc0),
    }
}

enum MpErr {
    Eof,
    Bad,
}

fn mp_decode(lua: &Lua, b: &[u8], p: &mut usize) -> Result<Value, MpErr> {
    let need = |p: usize, n: usize| {
        if p + n <= b.len() {
            Ok(())
        } else {
            Err(MpErr::Eof)
        }
    };
    need(*p, 1)?;
    let t = b[*p];
    let be =
        |p: usize, n: usize| -> u64 { b[p..p + n].iter().fold(0u64, |a, &x| (a << 8) | x as u64) };
    let str_at = |p: &mut usize, hdr: usize, len: usize| -> Result<Value, MpErr> {
        need(*p, hdr + len)?;
        let s = lua
            .create_string(&b[*p + hdr..*p + hdr + len])
            .map_err(|_| MpErr::Bad)?;
        *p += hdr + len;
        Ok(Value::String(s))
    };
    let v = match t {
        0xcc..=0xcf => {
            let n = 1 << (t - 0xcc);
            need(*p, 1 + n)?;
            let v = be(*p + 1, n);
            *p += 1 + n;
            Value::Number(v as f64)
        }
        0xd0..=0xd3 => {
            let n = 1 << (t - 0xd0);
            need(*p, 1 + n)?;
            let raw = be(*p + 1, n);
            let shift = 64 - 8 * n as u32;
            let v = ((raw << shift) as i64) >> shift;
            *p += 1 + n;
            Value::Number(v as f64)
        }
        0xc0 => {
            *p += 1;
            Value::Nil
        }
        0xc3 | 0xc2 => {
            *p += 1;
            Value::Boolean(t == 0xc3)
        }
        0xca => {
            need(*p, 5)?;
            let f = f32::from_bits(be(*p + 1, 4) as u32);
            *p += 5;
            Value::Number(f as f64)
        }
        0xcb => {
            need(*p, 9)?;
            let f = f64::from_bits(be(*p + 1, 8));
            *p += 9;
            Value::Number(f)
        }
        0xd9 => {
            need(*p, 2)?;
            let l = b[*p + 1] as usize;
            str_at(p, 2, l)?
        }
        0xda => {
            need(*p, 3)?;
            let l = be(*p + 1, 2) as usize;
            str_at(p, 3, l)?
        }
        0xdb => {
            need(*p, 5)?;
            let l = be(*p + 1, 4) as usize;
            str_at(p, 5, l)?
        }
        0xdc..=0xdf => {
            let w = if t == 0xdc || t == 0xde { 2 } else { 4 };
            need(*p, 1 + w)?;
            let l = be(*p + 1, w) as usize;
            *p += 1 + w;
            if t <= 0xdd {
                mp_array(lua, b, p, l)?
            } else {
                mp_map(lua, b, p, l)?
            }
        }
        x if x & 0x80 == 0 => {
            *p += 1;
            Value::Number(x as f64)
        }
        x if x & 0xe0 == 0xe0 => {
            *p += 1;
            Value::Number(x as i8 as f64)
        }
        x if x & 0xe0 == 0xa0 => str_at(p, 1, (x & 0x1f) as usize)?,
        x if x & 0xf0 == 0x90 => {
            *p += 1;
            mp_array(lua, b, p, (x & 0xf) as usize)?
        }
        x if x & 0xf0 == 0x80 => {
            *p += 1;
            mp_map(lua, b, p, (x & 0xf) as usize)?
        }
        _ => return Err(MpErr::Bad),
    };
    Ok(v)
}

fn mp_array(lua: &Lua, b: &[u8], p: &mut usize, n: usize) -> Result<Value, MpErr> {
    let t = lua.create_table().map_err(|_| MpErr::Bad)?;
    for j in 0..n {
        let v = mp_decode(lua, b, p)?;
        t.raw_set(j + 1, v).map_err(|_| MpErr::Bad)?;
    }
    Ok(Value::Table(t))
}

fn mp_map(lua: &Lua, b: &[u8], p: &mut usize, n: usize) -> Result<Value, MpErr> {
    let t = lua.create_table().map_err(|_| MpErr::Bad)?;
    for _ in 0..n {
        let k = mp_decode(lua, b, p)?;
        let v = mp_decode(lua, b, p)?;
        if k != Value::Nil {
            t.raw_set(k, v).map_err(|_| MpErr::Bad)?;
        }
    }
    Ok(Value::Table(t))
}

fn mp_unpack(lua: &Lua, b: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(super::lua::where_error(
            lua,
            &format!(
                "Invalid request to unpack with offset of {offset} and limit of {}.",
                b.len()
            ),
        ));
    }
    if offset as usize > b.len() {
        return Err(super::lua::where_error(
            lua,
            &format!(
                "Start offset {offset} greater than input length {}.",
                b.len()
            ),
        ));
    }
    let all = limit == 0 && offset == 0;
    let limit = if all { i64::MAX } else { limit };
    let mut p = offset as usize;
    let mut out = Vec::new();
    let mut cnt = 0;
    while p < b.len() && cnt < limit {
        match mp_decode(lua, b, &mut p) {
            Ok(v) => out.push(v),
            Err(MpErr::Eof) => return Err(super::lua::where_error(lua, "Missing bytes in input.")),
            Err(MpErr::Bad) => {
                return Err(super::lua::where_error(lua, "Bad data format in input."))
            }
        }
        cnt += 1;
    }
    if !all {
        let next = if p >= b.len() { -1.0 } else { p as f64 };
        out.insert(0, Value::Number(next));
    }
    Ok(MultiValue::from_vec(out))
}
