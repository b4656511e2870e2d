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

/// The `cjson` table.
pub fn cjson_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, a: MultiValue| {
            if a.len() != 1 {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #1 to 'encode' (expected 1 argument)".into(),
                ));
            }
            let mut out = Vec::new();
            encode(a.get(0).unwrap_or(&Value::Nil), &mut out, 0)
                .map_err(|m| super::lua::where_error(lua, &m))?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes().to_vec();
            let mut p = Parser { b: &b, i: 0, lua };
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
    for name in [
        "encode_keep_buffer",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_sparse_array",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
    ] {
        t.set(name, lua.create_function(|_, a: MultiValue| Ok(a))?)?;
    }
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn number(n: f64, out: &mut Vec<u8>) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
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

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(*n, out)?,
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= 1000 {
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
                    encode(&v, out, depth + 1)?;
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
                            number(*n, out)?;
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
                    encode(&v, out, depth + 1)?;
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
}

impl Parser<'_> {
    fn err(&self, expected: &str, found: &str) -> mlua::Error {
        let found = if self.i >= self.b.len() { "T_END" } else { found };
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
        if depth > 1000 {
            return Err(mlua::Error::RuntimeError(format!(
                "Found too many nested data structures ({}) at character {}",
                depth,
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
                    && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
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
