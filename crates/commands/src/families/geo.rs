//! Geospatial commands (GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE,
//! GEORADIUS, GEORADIUSBYMEMBER and their _RO forms).
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit interleaved geohashes
//! (26 bits of longitude, 26 of latitude, latitude on the even bits). A search computes, as
//! Redis does, the geohash cell around the centre at a precision fitted to the radius plus
//! its eight neighbours, walks the score range of each cell, and keeps the points inside the
//! shape; so the unsorted order of results matches Redis's.

use crate::table::{def, ks, ks_with, Begin, Def, Extra, Find, Handler::Data};
use crate::util::{eq_ic, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::notify::{GENERIC, ZSET};
use cinnabar_keyspace::types::zset::ZSetValue;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::{Args, OwnedArgs, ReplyBuf};
use cinnabar_util::num::{self, LdMode, LongDouble};

const NOT_FLOAT: &str = "ERR value is not a valid float";

const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
const STEP_MAX: u8 = 26;
const EARTH_RADIUS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

// ---------------------------------------------------------------------------------------------
// Geohash arithmetic
// ---------------------------------------------------------------------------------------------

/// A geohash of `step` bits per coordinate (`bits` holds 2*step bits).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Hash {
    bits: u64,
    step: u8,
}

impl Hash {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// Spreads the low 32 bits of `v` onto the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bit positions of `v` into 32 bits.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encodes a point within the given ranges; `None` when out of range.
fn encode_in(lon_r: (f64, f64), lat_r: (f64, f64), lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.0 || lat > lat_r.1 || lon < lon_r.0 || lon > lon_r.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.0) / (lat_r.1 - lat_r.0) * scale;
    let lon_off = (lon - lon_r.0) / (lon_r.1 - lon_r.0) * scale;
    Some(Hash {
        bits: spread(lat_off as u32) | (spread(lon_off as u32) << 1),
        step,
    })
}

fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), lon, lat, step)
}

/// The cell of a hash: ((lon_min, lon_max), (lat_min, lat_max)).
struct Area {
    lon: (f64, f64),
    lat: (f64, f64),
}

fn decode_area(h: Hash) -> Area {
    let ilat = squash(h.bits) as f64;
    let ilon = squash(h.bits >> 1) as f64;
    let scale = (1u64 << h.step) as f64;
    let (lat_s, lon_s) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Area {
        lat: (
            LAT_MIN + (ilat / scale) * lat_s,
            LAT_MIN + ((ilat + 1.0) / scale) * lat_s,
        ),
        lon: (
            LONG_MIN + (ilon / scale) * lon_s,
            LONG_MIN + ((ilon + 1.0) / scale) * lon_s,
        ),
    }
}

/// The centre of a 52-bit score's cell, clamped to the valid ranges: (longitude, latitude).
fn decode_score(score: f64) -> (f64, f64) {
    let a = decode_area(Hash {
        bits: score as u64,
        step: STEP_MAX,
    });
    let lon = ((a.lon.0 + a.lon.1) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.0 + a.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    h.bits = x | y;
}

fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    h.bits = x | y;
}

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * ((lat2 * D_R) - (lat1 * D_R)).abs()
}

/// Haversine distance in meters.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((lon2 * D_R - lon1 * D_R) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (lat1 * D_R, lat2 * D_R);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

#[derive(Clone, Copy, PartialEq)]
enum ShapeKind {
    Circle(f64),
    Box(f64, f64),
}

struct Shape {
    lon: f64,
    lat: f64,
    conversion: f64,
    kind: ShapeKind,
}

impl Shape {
    /// The distance in meters to (lon, lat) when the point is inside the shape.
    fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Circle(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            ShapeKind::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(self.lat, lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The nine cells to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW); zero
/// hashes are cells that need no scanning.
fn search_cells(s: &Shape) -> [Hash; 9] {
    let (hh, hw) = match s.kind {
        ShapeKind::Circle(r) => (r, r),
        ShapeKind::Box(w, h) => (h / 2.0, w / 2.0),
    };
    let (height, width) = (s.conversion * hh, s.conversion * hw);
    let lat_delta = (height / EARTH_RADIUS) / D_R;
    let lon_top = (width / EARTH_RADIUS / ((s.lat + lat_delta) * D_R).cos()) / D_R;
    let lon_bottom = (width / EARTH_RADIUS / ((s.lat - lat_delta) * D_R).cos()) / D_R;
    let south = s.lat < 0.0;
    let min_lon = if south {
        s.lon - lon_bottom
    } else {
        s.lon - lon_top
    };
    let max_lon = if south {
        s.lon + lon_bottom
    } else {
        s.lon + lon_top
    };
    let (min_lat, max_lat) = (s.lat - lat_delta, s.lat + lat_delta);
    let radius = match s.kind {
        ShapeKind::Circle(r) => r,
        ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    } * s.conversion;
    let mut steps = estimate_steps(radius, s.lat);
    let enc = |steps: u8| {
        encode_wgs84(s.lon, s.lat, steps).unwrap_or(Hash {
            bits: 0,
            step: steps,
        })
    };
    let neighbours = |h: Hash| {
        [
            h,
            moved(h, 0, 1),
            moved(h, 0, -1),
            moved(h, 1, 0),
            moved(h, -1, 0),
            moved(h, 1, 1),
            moved(h, -1, 1),
            moved(h, 1, -1),
            moved(h, -1, -1),
        ]
    };
    let mut hash = enc(steps);
    let mut n = neighbours(hash);
    let decrease = decode_area(n[1]).lat.1 < max_lat
        || decode_area(n[2]).lat.0 > min_lat
        || decode_area(n[3]).lon.1 < max_lon
        || decode_area(n[4]).lon.0 > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = enc(steps);
        n = neighbours(hash);
    }
    if steps >= 2 {
        let area = decode_area(hash);
        let z = Hash::default();
        if area.lat.0 < min_lat {
            n[2] = z;
            n[8] = z;
            n[7] = z;
        }
        if area.lat.1 > max_lat {
            n[1] = z;
            n[5] = z;
            n[6] = z;
        }
        if area.lon.0 < min_lon {
            n[4] = z;
            n[8] = z;
            n[6] = z;
        }
        if area.lon.1 > max_lon {
            n[3] = z;
            n[7] = z;
            n[5] = z;
        }
    }
    n
}

/// One search hit.
struct Point {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

/// The members of `z` inside the shape, in Redis's scan order; stops at `limit` when > 0.
fn search(z: &ZSetValue, s: &Shape, limit: usize) -> Vec<Point> {
    let cells = search_cells(s);
    let mut out: Vec<Point> = Vec::new();
    let mut last = 0usize;
    for (i, c) in cells.iter().enumerate() {
        if c.is_zero() {
            continue;
        }
        if last != 0 && *c == cells[last] {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let shift = 52 - c.step as u32 * 2;
        let min = (c.bits << shift) as f64;
        let max = ((c.bits + 1) << shift) as f64;
        let lo = z.count_prefix(|sc, _| sc < min);
        let hi = z.count_prefix(|sc, _| sc < max).max(lo);
        z.range(lo, hi, false, |m, sc| {
            if limit > 0 && out.len() >= limit {
                return;
            }
            let (lon, lat) = decode_score(sc);
            if let Some(dist) = s.contains(lon, lat) {
                out.push(Point {
                    member: m.to_vec(),
                    score: sc,
                    lon,
                    lat,
                    dist,
                });
            }
        });
        last = i;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Argument parsing and replies
// ---------------------------------------------------------------------------------------------

/// Reads a longitude,latitude pair; the error to reply otherwise.
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), String> {
    let lon = num::parse_f64_strict(lon).ok_or_else(|| NOT_FLOAT.to_string())?;
    let lat = num::parse_f64_strict(lat).ok_or_else(|| NOT_FLOAT.to_string())?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(format!(
            "ERR invalid longitude,latitude pair {:.6},{:.6}",
            lon, lat
        ));
    }
    Ok((lon, lat))
}

fn parse_unit(u: &[u8]) -> Result<f64, String> {
    if eq_ic(u, "m") {
        Ok(1.0)
    } else if eq_ic(u, "km") {
        Ok(1000.0)
    } else if eq_ic(u, "ft") {
        Ok(0.3048)
    } else if eq_ic(u, "mi") {
        Ok(1609.34)
    } else {
        Err("ERR unsupported unit provided. please use M, KM, FT, MI".to_string())
    }
}

/// RADIUS UNIT: (radius, conversion).
fn parse_radius(r: &[u8], unit: &[u8]) -> Result<(f64, f64), String> {
    let r = num::parse_f64_strict(r).ok_or_else(|| "ERR need numeric radius".to_string())?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".to_string());
    }
    Ok((r, parse_unit(unit)?))
}

/// WIDTH HEIGHT UNIT: (width, height, conversion).
fn parse_box(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), String> {
    let w = num::parse_f64_strict(w).ok_or_else(|| "ERR need numeric width".to_string())?;
    let h = num::parse_f64_strict(h).ok_or_else(|| "ERR need numeric height".to_string())?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".to_string());
    }
    Ok((w, h, parse_unit(unit)?))
}

/// A distance as Redis writes it: a bulk string with four decimals.
fn reply_distance(r: &mut ReplyBuf, d: f64) {
    r.bulk(format!("{:.4}", d).as_bytes());
}

/// A coordinate as Redis's `addReplyHumanLongDouble` writes it.
fn reply_coord(r: &mut ReplyBuf, v: f64) {
    let s = LongDouble::from_f64(v).format(LdMode::Human);
    r.double_str(&s);
}

use super::zset::zread;

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]
pub fn geoadd(ctx: &mut Ctx, a: Args) {
    let (mut nx, mut xx) = (false, false);
    let mut idx = 2;
    while idx < a.len() {
        let o = a.get(idx);
        if eq_ic(o, "nx") {
            nx = true;
        } else if eq_ic(o, "xx") {
            xx = true;
        } else if !eq_ic(o, "ch") {
            break;
        }
        idx += 1;
    }
    let rest = a.len() - idx;
    if !rest.is_multiple_of(3) || (xx && nx) {
        return ctx.reply.error(SYNTAX);
    }
    let n = rest / 3;
    if n == 0 {
        return ctx.reply.error(SYNTAX);
    }
    // GEOADD is the ZADD it amounts to (as Redis rewrites it): the options, then each point's
    // 52-bit geohash as the score. It runs as that ZADD and propagates as it.
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(idx + 2 * n);
    argv.push(b"zadd".to_vec());
    for j in 1..idx {
        argv.push(a.get(j).to_vec());
    }
    for j in 0..n {
        let base = idx + 3 * j;
        let (lon, lat) = match parse_lonlat(a.get(base), a.get(base + 1)) {
            Ok(p) => p,
            Err(e) => return ctx.reply.error(&e),
        };
        let bits = encode_wgs84(lon, lat, STEP_MAX).map_or(0, |h| h.bits);
        let mut b = Vec::with_capacity(20);
        num::ll2string(bits as i64, &mut b);
        argv.push(b);
        argv.push(a.get(base + 2).to_vec());
    }
    let zadd = OwnedArgs::from_slices(&argv);
    let dirty = ctx.dirty;
    super::zset::zadd_generic(ctx, zadd.args(), 0);
    if ctx.dirty > dirty {
        ctx.rewrite(&argv);
    }
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(ctx: &mut Ctx, a: Args) {
    let mut to_meter = 1.0;
    if a.len() == 5 {
        match parse_unit(a.get(4)) {
            Ok(u) => to_meter = u,
            Err(e) => return ctx.reply.error(&e),
        }
    } else if a.len() > 5 {
        return ctx.reply.error(SYNTAX);
    }
    let z = match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(None) => return ctx.reply.null(),
        Ok(Some(z)) => z,
    };
    match (z.score(a.get(2)), z.score(a.get(3))) {
        (Some(s1), Some(s2)) => {
            let (x1, y1) = decode_score(s1);
            let (x2, y2) = decode_score(s2);
            reply_distance(ctx.reply, distance(x1, y1, x2, y2) / to_meter);
        }
        _ => ctx.reply.null(),
    }
}

/// GEOHASH key [member ...]
pub fn geohash(ctx: &mut Ctx, a: Args) {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let z = match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(z) => z,
    };
    ctx.reply.array(a.len() - 2);
    for m in a.tail(2).iter() {
        match z.and_then(|z| z.score(m)) {
            None => ctx.reply.null(),
            Some(s) => {
                let (lon, lat) = decode_score(s);
                let bits =
                    encode_in((-180.0, 180.0), (-90.0, 90.0), lon, lat, 26).map_or(0, |h| h.bits);
                let mut buf = [0u8; 11];
                for (i, c) in buf.iter_mut().enumerate() {
                    let idx = if i == 10 {
                        0
                    } else {
                        (bits >> (52 - (i + 1) * 5)) & 0x1f
                    };
                    *c = ALPHABET[idx as usize];
                }
                ctx.reply.bulk(&buf);
            }
        }
    }
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx, a: Args) {
    let z = match zread(ctx.ks, ctx.db, a.get(1), ctx.now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(z) => z,
    };
    ctx.reply.array(a.len() - 2);
    for m in a.tail(2).iter() {
        match z.and_then(|z| z.score(m)) {
            None => ctx.reply.null_array(),
            Some(s) => {
                let (lon, lat) = decode_score(s);
                ctx.reply.array(2);
                reply_coord(ctx.reply, lon);
                reply_coord(ctx.reply, lat);
            }
        }
    }
}

const COORDS: u8 = 1;
const MEMBER: u8 = 2;
const NOSTORE: u8 = 4;
const SEARCH: u8 = 8;
const SEARCHSTORE: u8 = 16;

#[derive(PartialEq, Clone, Copy)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn radius_generic(ctx: &mut Ctx, a: Args, src: usize, flags: u8) {
    let argc = a.len();
    let (now, db) = (ctx.now, ctx.db);
    // Validate the source key's type first, as Redis does.
    let exists = match zread(ctx.ks, db, a.get(src), now) {
        Err(()) => return ctx.reply.error(WRONGTYPE),
        Ok(z) => z.is_some(),
    };
    let member_xy = |ctx: &mut Ctx, m: &[u8]| -> Option<(f64, f64)> {
        match ctx.ks.dbs[db].peek(a.get(src), now) {
            Some(Value::ZSet(z)) => z.score(m).map(decode_score),
            _ => None,
        }
    };
    let mut storekey: Option<&[u8]> = None;
    let mut storedist = false;
    let mut center = (0.0, 0.0);
    let mut kind = ShapeKind::Circle(0.0);
    let mut conversion = 1.0;
    let base;
    if flags & COORDS != 0 {
        base = 6;
        match parse_lonlat(a.get(2), a.get(3)) {
            Ok(p) => center = p,
            Err(e) => return ctx.reply.error(&e),
        }
        match parse_radius(a.get(4), a.get(5)) {
            Ok((r, c)) => {
                kind = ShapeKind::Circle(r);
                conversion = c;
            }
            Err(e) => return ctx.reply.error(&e),
        }
    } else if flags & MEMBER != 0 {
        base = 5;
        if exists {
            match member_xy(ctx, a.get(2)) {
                Some(p) => center = p,
                None => {
                    return ctx
                        .reply
                        .error("ERR could not decode requested zset member")
                }
            }
            match parse_radius(a.get(3), a.get(4)) {
                Ok((r, c)) => {
                    kind = ShapeKind::Circle(r);
                    conversion = c;
                }
                Err(e) => return ctx.reply.error(&e),
            }
        }
    } else {
        base = if flags & SEARCHSTORE != 0 { 3 } else { 2 };
        if flags & SEARCHSTORE != 0 {
            storekey = Some(a.get(1));
        }
    }
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let remaining = argc.saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = a.get(base + i);
        let next = |k: usize| a.get(base + i + k);
        if eq_ic(arg, "withdist") {
            withdist = true;
        } else if eq_ic(arg, "withhash") {
            withhash = true;
        } else if eq_ic(arg, "withcoord") {
            withcoord = true;
        } else if eq_ic(arg, "any") {
            any = true;
        } else if eq_ic(arg, "asc") {
            sort = Sort::Asc;
        } else if eq_ic(arg, "desc") {
            sort = Sort::Desc;
        } else if eq_ic(arg, "count") && i + 1 < remaining {
            match num::string2ll(next(1)) {
                Some(c) => count = c,
                None => return ctx.reply.error(NOT_INT),
            }
            if count <= 0 {
                return ctx.reply.error("ERR COUNT must be > 0");
            }
            i += 1;
        } else if (eq_ic(arg, "store") || eq_ic(arg, "storedist"))
            && i + 1 < remaining
            && flags & (NOSTORE | SEARCH) == 0
        {
            storekey = Some(next(1));
            storedist = eq_ic(arg, "storedist");
            i += 1;
        } else if eq_ic(arg, "storedist") && flags & SEARCHSTORE != 0 {
            storedist = true;
        } else if eq_ic(arg, "frommember") && i + 1 < remaining && flags & SEARCH != 0 && !fromloc {
            if exists {
                match member_xy(ctx, next(1)) {
                    Some(p) => center = p,
                    None => {
                        return ctx
                            .reply
                            .error("ERR could not decode requested zset member")
                    }
                }
            }
            frommember = true;
            i += 1;
        } else if eq_ic(arg, "fromlonlat")
            && i + 2 < remaining
            && flags & SEARCH != 0
            && !frommember
        {
            match parse_lonlat(next(1), next(2)) {
                Ok(p) => center = p,
                Err(e) => return ctx.reply.error(&e),
            }
            fromloc = true;
            i += 2;
        } else if eq_ic(arg, "byradius") && i + 2 < remaining && flags & SEARCH != 0 && !bybox {
            match parse_radius(next(1), next(2)) {
                Ok((r, c)) => {
                    kind = ShapeKind::Circle(r);
                    conversion = c;
                }
                Err(e) => return ctx.reply.error(&e),
            }
            byradius = true;
            i += 2;
        } else if eq_ic(arg, "bybox") && i + 3 < remaining && flags & SEARCH != 0 && !byradius {
            match parse_box(next(1), next(2), next(3)) {
                Ok((w, h, c)) => {
                    kind = ShapeKind::Box(w, h);
                    conversion = c;
                }
                Err(e) => return ctx.reply.error(&e),
            }
            bybox = true;
            i += 3;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoord) {
        let what = if flags & SEARCHSTORE != 0 {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return ctx.reply.error(&format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            what
        ));
    }
    let name = String::from_utf8_lossy(a.get(0)).into_owned();
    if flags & SEARCH != 0 && !(frommember || fromloc) {
        return ctx.reply.error(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name
        ));
    }
    if flags & SEARCH != 0 && !(byradius || bybox) {
        return ctx.reply.error(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name
        ));
    }
    if any && count == 0 {
        return ctx
            .reply
            .error("ERR the ANY argument requires COUNT argument");
    }
    if !exists {
        if let Some(dst) = storekey {
            if ctx.db().take(dst).is_some() {
                ctx.notify(GENERIC, "del", dst);
                ctx.dirty += 1;
            }
            return ctx.reply.int(0);
        }
        return ctx.reply.array(0);
    }
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        lon: center.0,
        lat: center.1,
        conversion,
        kind,
    };
    let limit = if any { count as usize } else { 0 };
    let mut pts = match ctx.ks.dbs[db].peek(a.get(src), now) {
        Some(Value::ZSet(z)) => search(z, &shape, limit),
        _ => Vec::new(),
    };
    if pts.is_empty() && storekey.is_none() {
        return ctx.reply.array(0);
    }
    match sort {
        Sort::Asc => pts.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Sort::Desc => pts.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Sort::None => {}
    }
    let returned = if count == 0 || (pts.len() as i64) < count {
        pts.len()
    } else {
        count as usize
    };
    pts.truncate(returned);
    for p in pts.iter_mut() {
        p.dist /= conversion;
    }
    match storekey {
        None => {
            let opts = withdist as usize + withhash as usize + withcoord as usize;
            let r = &mut *ctx.reply;
            r.array(returned);
            for p in &pts {
                if opts > 0 {
                    r.array(opts + 1);
                }
                r.bulk(&p.member);
                if withdist {
                    reply_distance(r, p.dist);
                }
                if withhash {
                    r.int(p.score as i64);
                }
                if withcoord {
                    r.array(2);
                    reply_coord(r, p.lon);
                    reply_coord(r, p.lat);
                }
            }
        }
        Some(dst) => {
            if returned == 0 {
                if ctx.db().take(dst).is_some() {
                    ctx.notify(GENERIC, "del", dst);
                    ctx.dirty += 1;
                }
                return ctx.reply.int(0);
            }
            let mut items: Vec<(Vec<u8>, f64)> = pts
                .into_iter()
                .map(|p| (p.member, if storedist { p.dist } else { p.score }))
                .collect();
            items.sort_by(|x, y| x.1.total_cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
            let z = ZSetValue::from_sorted(&items, &ctx.limits);
            ctx.set_key(dst, Value::ZSet(Box::new(z)), false);
            let event = if flags & SEARCH != 0 {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            ctx.notify(ZSET, event, dst);
            ctx.dirty += returned as u64;
            ctx.reply.int(returned as i64);
        }
    }
}

/// GEORADIUS key longitude latitude radius unit [options] [STORE key] [STOREDIST key]
pub fn georadius(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 1, COORDS);
}

/// GEORADIUSBYMEMBER key member radius unit [options] [STORE key] [STOREDIST key]
pub fn georadiusbymember(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 1, MEMBER);
}

/// GEORADIUS_RO key longitude latitude radius unit [options]
pub fn georadius_ro(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 1, COORDS | NOSTORE);
}

/// GEORADIUSBYMEMBER_RO key member radius unit [options]
pub fn georadiusbymember_ro(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 1, MEMBER | NOSTORE);
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
pub fn geosearch(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 1, SEARCH);
}

/// GEOSEARCHSTORE dst src ... [STOREDIST]
pub fn geosearchstore(ctx: &mut Ctx, a: Args) {
    radius_generic(ctx, a, 2, SEARCH | SEARCHSTORE);
}

// ---------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------

const G: &str = "geo";
const A: &str = "geo";
const K1: (i32, i32, i32) = (1, 1, 1);

/// This family's command definitions (listed in `table::FAMILIES`).
#[rustfmt::skip]
pub static DEFS: &[Def] = &[
    def!("geoadd", -5, "write denyoom", K1, A, G, "3.2.0", "Add members with coordinates to a geospatial index", Data(geoadd)),
    def!("geodist", -4, "readonly", K1, A, G, "3.2.0", "Distance between two members of a geospatial index", Data(geodist)),
    def!("geohash", -2, "readonly", K1, A, G, "3.2.0", "Geohash strings of members of a geospatial index", Data(geohash)),
    def!("geopos", -2, "readonly", K1, A, G, "3.2.0", "Longitude and latitude of members of a geospatial index", Data(geopos)),
    def!("georadius", -6, "write denyoom movablekeys", K1, A, G, "3.2.0", "Members of a geospatial index within a radius of a point, optionally stored", Data(georadius)),
    def!("georadius_ro", -6, "readonly", K1, A, G, "3.2.10", "Members of a geospatial index within a radius of a point", Data(georadius_ro)),
    def!("georadiusbymember", -5, "write denyoom movablekeys", K1, A, G, "3.2.0", "Members of a geospatial index within a radius of a member, optionally stored", Data(georadiusbymember)),
    def!("georadiusbymember_ro", -5, "readonly", K1, A, G, "3.2.10", "Members of a geospatial index within a radius of a member", Data(georadiusbymember_ro)),
    def!("geosearch", -7, "readonly", K1, A, G, "6.2.0", "Members of a geospatial index within a circle or box", Data(geosearch)),
    def!("geosearchstore", -8, "write denyoom", (1, 2, 1), A, G, "6.2.0", "Store the members of a geospatial index within a circle or box", Data(geosearchstore)),
];

const R0: Find = Find::Range {
    lastkey: 0,
    keystep: 1,
    limit: 0,
};

/// Tips and key specs of this family's commands.
#[rustfmt::skip]
pub static EXTRAS: &[Extra] = &[
    ("geoadd", "", &[ks("RW update", 1, 0, 1)]),
    ("geodist", "", &[ks("RO access", 1, 0, 1)]),
    ("geohash", "", &[ks("RO access", 1, 0, 1)]),
    ("geopos", "", &[ks("RO access", 1, 0, 1)]),
    ("georadius", "", &[ks("RO access", 1, 0, 1), ks_with("OW update", Begin::Keyword("STORE", 6), R0), ks_with("OW update", Begin::Keyword("STOREDIST", 6), R0)]),
    ("georadius_ro", "", &[ks("RO access", 1, 0, 1)]),
    ("georadiusbymember", "", &[ks("RO access", 1, 0, 1), ks_with("OW update", Begin::Keyword("STORE", 5), R0), ks_with("OW update", Begin::Keyword("STOREDIST", 5), R0)]),
    ("georadiusbymember_ro", "", &[ks("RO access", 1, 0, 1)]),
    ("geosearch", "", &[ks("RO access", 1, 0, 1)]),
    ("geosearchstore", "", &[ks("OW update", 1, 0, 1), ks("RO access", 2, 0, 1)]),
];
