//! Stream commands (Redis 7.0): XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XREADGROUP,
//! XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO, XSETID. Replies, error texts and the
//! order of checks follow Redis; what is propagated follows Redis's rewriting (XADD with the
//! concrete ID and exact trimming, XREADGROUP/XCLAIM/XAUTOCLAIM as XCLAIM ... FORCE JUSTID
//! LASTID and XGROUP SETID/CREATECONSUMER).

use crate::blocking::{Block, BlockType, TimeoutReply};
use crate::table::{ks, ks_with, Begin, Def, Extra, Find, Handler::Data, K1};
use crate::util::{eq_ic, NOT_INT, SYNTAX};
use crate::Ctx;
use cinnabar_keyspace::db::Keyspace;
use cinnabar_keyspace::listpack::Elem;
use cinnabar_keyspace::notify::{KEY_MISS, STREAM};
use cinnabar_keyspace::types::stream::{
    Consumer, Entry, Group, Nack, StreamId, StreamValue, Trim, LISTPACK_MAX_SIZE,
};
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::{Args, ReplyBuf};
use cinnabar_util::num::string2ll;

use crate::table::def;

const NOKEYS: (i32, i32, i32) = (0, 0, 0);
const K2: (i32, i32, i32) = (2, 2, 1);

static XGROUP_SUBS: &[Def] = &[
    def!(
        "create",
        -5,
        "write denyoom",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "Create a consumer group.",
        Data(xgroup)
    ),
    def!(
        "createconsumer",
        5,
        "write denyoom",
        K2,
        "stream",
        "stream",
        "6.2.0",
        "Create a consumer in a consumer group.",
        Data(xgroup)
    ),
    def!(
        "delconsumer",
        5,
        "write",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "Delete a consumer from a consumer group.",
        Data(xgroup)
    ),
    def!(
        "destroy",
        4,
        "write",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "Destroy a consumer group.",
        Data(xgroup)
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEYS,
        "stream",
        "stream",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Data(xgroup)
    ),
    def!(
        "setid",
        -5,
        "write",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "Set a consumer group to an arbitrary last delivered ID value.",
        Data(xgroup)
    ),
];

static XINFO_SUBS: &[Def] = &[
    def!(
        "consumers",
        4,
        "readonly",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "List the consumers in a consumer group",
        Data(xinfo)
    ),
    def!(
        "groups",
        3,
        "readonly",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "List the consumer groups of a stream",
        Data(xinfo)
    ),
    def!(
        "help",
        2,
        "loading stale",
        NOKEYS,
        "stream",
        "stream",
        "5.0.0",
        "Show helpful text about the different subcommands",
        Data(xinfo)
    ),
    def!(
        "stream",
        -3,
        "readonly",
        K2,
        "stream",
        "stream",
        "5.0.0",
        "Get information about a stream",
        Data(xinfo)
    ),
];

#[rustfmt::skip]
pub static DEFS: &[Def] = &[
    def!("xack", -4, "write fast", K1, "stream", "stream", "5.0.0", "Marks a pending message as correctly processed", Data(xack)),
    def!("xadd", -5, "write denyoom fast", K1, "stream", "stream", "5.0.0", "Appends a new entry to a stream", Data(xadd)),
    def!("xautoclaim", -6, "write fast", K1, "stream", "stream", "6.2.0", "Changes (or acquires) ownership of messages in a consumer group", Data(xautoclaim)),
    def!("xclaim", -6, "write fast", K1, "stream", "stream", "5.0.0", "Changes (or acquires) ownership of a message in a consumer group", Data(xclaim)),
    def!("xdel", -3, "write fast", K1, "stream", "stream", "5.0.0", "Removes the specified entries from the stream", Data(xdel)),
    def!("xgroup", -2, "", NOKEYS, "", "stream", "5.0.0", "A container for consumer groups commands", Data(xgroup), subs XGROUP_SUBS),
    def!("xinfo", -2, "", NOKEYS, "", "stream", "5.0.0", "A container for stream introspection commands", Data(xinfo), subs XINFO_SUBS),
    def!("xlen", 2, "readonly fast", K1, "stream", "stream", "5.0.0", "Return the number of entries in a stream", Data(xlen)),
    def!("xpending", -3, "readonly", K1, "stream", "stream", "5.0.0", "Return information and entries from a stream consumer group pending entries list", Data(xpending)),
    def!("xrange", -4, "readonly", K1, "stream", "stream", "5.0.0", "Return a range of elements in a stream", Data(xrange)),
    def!("xread", -4, "blocking readonly", (1, 1, 1), "stream", "stream", "5.0.0", "Return never seen elements in multiple streams", Data(xread)),
    def!("xreadgroup", -7, "blocking write", (1, 1, 1), "stream", "stream", "5.0.0", "Return new entries from a stream using a consumer group", Data(xread)),
    def!("xrevrange", -4, "readonly", K1, "stream", "stream", "5.0.0", "Return a range of elements in a stream, in reverse order", Data(xrevrange)),
    def!("xsetid", -3, "write denyoom fast", K1, "stream", "stream", "5.0.0", "An internal command for replicating stream values", Data(xsetid)),
    def!("xtrim", -4, "write", K1, "stream", "stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", Data(xtrim)),
];

const READ_SPEC: Find = Find::Range {
    lastkey: -1,
    keystep: 1,
    limit: 2,
};

pub static EXTRAS: &[Extra] = &[
    ("xack", "", &[ks("RW update", 1, 0, 1)]),
    (
        "xadd",
        "nondeterministic_output",
        &[ks("RW update", 1, 0, 1)
            .notes("UPDATE instead of INSERT because of the optional trimming feature")],
    ),
    (
        "xautoclaim",
        "nondeterministic_output",
        &[ks("RW delete", 1, 0, 1)],
    ),
    (
        "xclaim",
        "nondeterministic_output",
        &[ks("RW update", 1, 0, 1)],
    ),
    ("xdel", "", &[ks("RW delete", 1, 0, 1)]),
    ("xgroup|create", "", &[ks("RW insert", 2, 0, 1)]),
    ("xgroup|createconsumer", "", &[ks("RW insert", 2, 0, 1)]),
    ("xgroup|delconsumer", "", &[ks("RW delete", 2, 0, 1)]),
    ("xgroup|destroy", "", &[ks("RW delete", 2, 0, 1)]),
    ("xgroup|setid", "", &[ks("RW update", 2, 0, 1)]),
    (
        "xinfo|consumers",
        "nondeterministic_output",
        &[ks("RO access", 2, 0, 1)],
    ),
    ("xinfo|groups", "", &[ks("RO access", 2, 0, 1)]),
    ("xinfo|stream", "", &[ks("RO access", 2, 0, 1)]),
    ("xlen", "", &[ks("RO", 1, 0, 1)]),
    (
        "xpending",
        "nondeterministic_output",
        &[ks("RO access", 1, 0, 1)],
    ),
    ("xrange", "", &[ks("RO access", 1, 0, 1)]),
    (
        "xread",
        "",
        &[ks_with(
            "RO access",
            Begin::Keyword("STREAMS", 1),
            READ_SPEC,
        )],
    ),
    (
        "xreadgroup",
        "",
        &[ks_with(
            "RW access",
            Begin::Keyword("STREAMS", 4),
            READ_SPEC,
        )],
    ),
    ("xrevrange", "", &[ks("RO access", 1, 0, 1)]),
    ("xsetid", "", &[ks("RW update", 1, 0, 1)]),
    (
        "xtrim",
        "nondeterministic_output",
        &[ks("RW delete", 1, 0, 1)],
    ),
];

const BAD_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const NO_SUCH_KEY: &str = "ERR no such key";

// ---------------------------------------------------------------------------------------
// Helpers

/// Redis's `string2ull`: a non-negative integer (the 64-bit unsigned range).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = string2ll(s) {
        return u64::try_from(v).ok();
    }
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse::<u64>().ok()
}

/// Parses an ID as Redis's `streamGenericParseIDOrReply` (without the reply): `-`/`+` unless
/// `strict`, `<ms>` (sequence = `missing_seq`), `<ms>-<seq>`, and `<ms>-*` when `seq_given`
/// is wanted (it then tells whether the sequence was given).
fn parse_id_raw(
    s: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_given: Option<&mut bool>,
) -> Option<StreamId> {
    if s.len() > 127 {
        return None;
    }
    // The C code works on a NUL-terminated copy.
    let s = match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    };
    if strict && (s == b"-" || s == b"+") {
        return None;
    }
    let mut sg = true;
    let id = if s == b"-" {
        StreamId::MIN
    } else if s == b"+" {
        StreamId::MAX
    } else {
        match s.iter().position(|&b| b == b'-') {
            Some(d) => {
                let ms = parse_u64(&s[..d])?;
                let rest = &s[d + 1..];
                if seq_given.is_some() && rest == b"*" {
                    sg = false;
                    StreamId::new(ms, 0)
                } else {
                    StreamId::new(ms, parse_u64(rest)?)
                }
            }
            None => StreamId::new(parse_u64(s)?, missing_seq),
        }
    };
    if let Some(g) = seq_given {
        *g = sg;
    }
    Some(id)
}

fn parse_id(r: &mut ReplyBuf, s: &[u8], missing_seq: u64) -> Option<StreamId> {
    let id = parse_id_raw(s, missing_seq, false, None);
    if id.is_none() {
        r.error(BAD_ID);
    }
    id
}

fn parse_strict_id(r: &mut ReplyBuf, s: &[u8], missing_seq: u64) -> Option<StreamId> {
    let id = parse_id_raw(s, missing_seq, true, None);
    if id.is_none() {
        r.error(BAD_ID);
    }
    id
}

/// An interval bound: `(` makes it exclusive (then `-`/`+` are refused).
fn parse_interval(r: &mut ReplyBuf, s: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if s.len() > 1 && s[0] == b'(' {
        parse_strict_id(r, &s[1..], missing_seq).map(|id| (id, true))
    } else {
        parse_id(r, s, missing_seq).map(|id| (id, false))
    }
}

fn ll_arg(r: &mut ReplyBuf, a: &[u8], msg: Option<&str>) -> Option<i64> {
    match string2ll(a) {
        Some(v) => Some(v),
        None => {
            r.error(msg.unwrap_or(NOT_INT));
            None
        }
    }
}

fn reply_id(r: &mut ReplyBuf, id: StreamId) {
    r.bulk(id.to_text().as_bytes());
}

fn reply_elem(r: &mut ReplyBuf, e: Elem) {
    match e {
        Elem::Str(s) => r.bulk(s),
        Elem::Int(v) => r.bulk_int(v),
    }
}

/// `[id, [field, value, ...]]`
fn reply_entry(r: &mut ReplyBuf, e: &Entry) {
    r.array(2);
    reply_id(r, e.id);
    r.array(e.fields.len() * 2);
    for (f, v) in &e.fields {
        reply_elem(r, *f);
        reply_elem(r, *v);
    }
}

/// Replies the one live entry `id`; false if it does not exist.
fn reply_single(r: &mut ReplyBuf, s: &StreamValue, id: StreamId) -> bool {
    let mut n = 0;
    s.range(id, id, false, &mut |e| {
        reply_entry(r, e);
        n += 1;
        false
    });
    n > 0
}

/// Looks `key` up for reading: Ok(None) missing, Err(()) after replying WRONGTYPE.
fn read_stream_in<'a>(
    ks: &'a mut Keyspace,
    i: usize,
    now: i64,
    r: &mut ReplyBuf,
    key: &[u8],
) -> Result<Option<&'a StreamValue>, ()> {
    match ks.dbs[i].get(key, now, &mut ks.stats) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(())
        }
    }
}

macro_rules! read_stream {
    ($ctx:expr, $key:expr) => {
        read_stream_in($ctx.ks, $ctx.db, $ctx.now, $ctx.reply, $key)
    };
}

/// Same, for writing.
fn write_stream_in<'a>(
    ks: &'a mut Keyspace,
    i: usize,
    now: i64,
    r: &mut ReplyBuf,
    key: &[u8],
) -> Result<Option<&'a mut StreamValue>, ()> {
    match ks.dbs[i].get_mut(key, now) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => {
            r.error(WRONGTYPE);
            Err(())
        }
    }
}

macro_rules! write_stream {
    ($ctx:expr, $key:expr) => {
        write_stream_in($ctx.ks, $ctx.db, $ctx.now, $ctx.reply, $key)
    };
}

/// Peeks at the key's kind: 0 missing, 1 stream, 2 other.
fn kind(ctx: &mut Ctx, key: &[u8]) -> u8 {
    let now = ctx.now;
    match ctx.db().peek(key, now) {
        None => 0,
        Some(Value::Stream(_)) => 1,
        Some(_) => 2,
    }
}

fn subcommand_syntax(r: &mut ReplyBuf, a: &Args) {
    let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    let sub = a.get(1);
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(b"'. Try ");
    msg.extend_from_slice(&a.get(0).to_ascii_uppercase());
    msg.extend_from_slice(b" HELP.");
    r.error_bytes(&msg);
}

fn help(ctx: &mut Ctx, cmd: &str, lines: &[&str]) {
    ctx.reply.array(lines.len() + 3);
    ctx.reply.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.reply.simple(l);
    }
    ctx.reply.simple("HELP");
    ctx.reply.simple("    Prints this help.");
}

fn owned(args: &Args) -> Vec<Vec<u8>> {
    args.iter().map(|x| x.to_vec()).collect()
}

/// XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> FORCE JUSTID LASTID <id>
fn xclaim_op(key: &[u8], group: &[u8], id_arg: &[u8], nack: &Nack, last: StreamId) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        nack.consumer.clone(),
        b"0".to_vec(),
        id_arg.to_vec(),
        b"TIME".to_vec(),
        nack.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        nack.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        last.to_text().into_bytes(),
    ]
}

/// XGROUP SETID <key> <group> <id> ENTRIESREAD <n>
fn setid_op(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        g.last_id.to_text().into_bytes(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read.to_string().into_bytes(),
    ]
}

// ---------------------------------------------------------------------------------------
// XADD / XTRIM

struct TrimArgs {
    id: StreamId,
    id_given: bool,
    seq_given: bool,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Index of the MAXLEN/MINID value (for the propagation rewrite).
    trim_arg: usize,
    approx: bool,
    limit: i64,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`: the options, and for XADD the ID position.
fn parse_add_trim(
    ctx: &mut Ctx,
    a: &Args,
    xadd: bool,
    limits_entries: i64,
) -> Option<(TrimArgs, usize)> {
    let mut t = TrimArgs {
        id: StreamId::MIN,
        id_given: false,
        seq_given: true,
        no_mkstream: false,
        trim: None,
        trim_arg: 0,
        approx: false,
        limit: 0,
    };
    let argc = a.len();
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = a.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (eq_ic(opt, "maxlen") || eq_ic(opt, "minid")) && more > 0 {
            let is_max = eq_ic(opt, "maxlen");
            if t.trim.is_some() {
                ctx.reply.error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
                return None;
            }
            t.approx = false;
            let next = a.get(i + 1);
            if more >= 2 && next == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let v = a.get(i + 1);
            if is_max {
                let n = ll_arg(ctx.reply, v, None)?;
                if n < 0 {
                    ctx.reply.error("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                t.trim = Some(Trim::MaxLen(n as u64));
            } else {
                let id = parse_strict_id(ctx.reply, v, 0)?;
                t.trim = Some(Trim::MinId(id));
            }
            i += 1;
            t.trim_arg = i;
        } else if eq_ic(opt, "limit") && more > 0 {
            let n = ll_arg(ctx.reply, a.get(i + 1), None)?;
            if n < 0 {
                ctx.reply.error("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            t.limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            t.no_mkstream = true;
        } else if xadd {
            let mut sg = true;
            let Some(id) = parse_id_raw(opt, 0, true, Some(&mut sg)) else {
                ctx.reply.error(BAD_ID);
                return None;
            };
            t.id = id;
            t.seq_given = sg;
            t.id_given = true;
            break;
        } else {
            ctx.reply.error(SYNTAX);
            return None;
        }
        i += 1;
    }
    if t.limit != 0 && t.trim.is_none() {
        ctx.reply
            .error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && t.trim.is_none() {
        ctx.reply
            .error("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if ctx.replaying {
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            ctx.reply
                .error("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if t.approx {
        let mut l = 100i64.saturating_mul(limits_entries);
        if l <= 0 {
            l = 10000;
        }
        if l > 1_000_000 {
            l = 1_000_000;
        }
        t.limit = l;
    } else {
        t.limit = 0;
    }
    Some((t, i))
}

/// The propagated form of an approximate trim: `= <resulting length or first ID>`.
fn rewrite_trim(argv: &mut [Vec<u8>], s: &StreamValue, t: &TrimArgs) {
    if !t.approx || t.trim_arg == 0 || t.trim_arg >= argv.len() {
        return;
    }
    argv[t.trim_arg - 1] = b"=".to_vec();
    argv[t.trim_arg] = match t.trim {
        Some(Trim::MaxLen(_)) => s.length.to_string().into_bytes(),
        _ => s
            .edge_id(true, false)
            .unwrap_or(StreamId::MAX)
            .to_text()
            .into_bytes(),
    };
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
pub fn xadd(ctx: &mut Ctx, a: Args) {
    let Some((t, idpos)) = parse_add_trim(ctx, &a, true, ctx.limits.stream_node_max_entries) else {
        return;
    };
    let field_pos = idpos + 1;
    let argc = a.len();
    if argc < field_pos + 2 || !(argc - field_pos).is_multiple_of(2) {
        return ctx
            .reply
            .error("ERR wrong number of arguments for 'xadd' command");
    }
    if t.id_given && t.seq_given && t.id.is_zero() {
        return ctx
            .reply
            .error("ERR The ID specified in XADD must be greater than 0-0");
    }
    let key = a.get(1);
    match kind(ctx, key) {
        2 => return ctx.reply.error(WRONGTYPE),
        0 => {
            if t.no_mkstream {
                return ctx.reply.null();
            }
            ctx.set_key(key, Value::Stream(Box::default()), false);
        }
        _ => {}
    }
    let now = ctx.now;
    let limits = ctx.limits;
    let Ok(Some(s)) = write_stream!(ctx, key) else {
        return;
    };
    if s.last_id == StreamId::MAX {
        return ctx
            .reply
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = if t.id_given {
        if t.seq_given {
            Some(t.id)
        } else if s.last_id.ms == t.id.ms {
            if s.last_id.seq == u64::MAX {
                // Redis fails this one without setting its errno: the generic message.
                return ctx.reply.error("ERR Elements are too large to be stored");
            } else {
                Some(StreamId::new(t.id.ms, s.last_id.seq + 1))
            }
        } else {
            Some(t.id)
        }
    } else {
        let ms = now.max(0) as u64;
        if ms > s.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else {
            s.last_id.incr()
        }
    };
    let id =
        match id {
            Some(id) if id > s.last_id => id,
            _ => return ctx.reply.error(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
        };
    let fv: Vec<&[u8]> = (field_pos..argc).map(|j| a.get(j)).collect();
    let total: usize = fv.iter().map(|x| x.len()).sum();
    if total > LISTPACK_MAX_SIZE {
        return ctx.reply.error("ERR Elements are too large to be stored");
    }
    s.append(id, &fv, &limits);
    let text = id.to_text();
    let mut argv = owned(&a);
    let mut trimmed = 0;
    if let Some(how) = t.trim {
        trimmed = s.trim(how, t.approx, t.limit);
        rewrite_trim(&mut argv, s, &t);
    }
    ctx.reply.bulk(text.as_bytes());
    ctx.dirty += 1;
    ctx.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(STREAM, "xtrim", key);
    }
    if !t.id_given || !t.seq_given {
        argv[idpos] = text.into_bytes();
    }
    ctx.rewrite(&argv);
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx, a: Args) {
    let Some((t, _)) = parse_add_trim(ctx, &a, false, ctx.limits.stream_node_max_entries) else {
        return;
    };
    let key = a.get(1);
    let Ok(s) = write_stream!(ctx, key) else {
        return;
    };
    let Some(s) = s else {
        return ctx.reply.int(0);
    };
    let Some(how) = t.trim else {
        return ctx.reply.int(0);
    };
    let deleted = s.trim(how, t.approx, t.limit);
    if deleted > 0 {
        let mut argv = owned(&a);
        rewrite_trim(&mut argv, s, &t);
        ctx.rewrite(&argv);
        ctx.dirty += deleted as u64;
        ctx.notify(STREAM, "xtrim", key);
    }
    ctx.reply.int(deleted);
}

// ---------------------------------------------------------------------------------------
// XLEN / XRANGE / XREVRANGE / XDEL / XSETID

/// XLEN key
pub fn xlen(ctx: &mut Ctx, a: Args) {
    match read_stream!(ctx, a.get(1)) {
        Ok(Some(s)) => {
            let n = s.length as i64;
            ctx.reply.int(n)
        }
        Ok(None) => ctx.reply.int(0),
        Err(()) => {}
    }
}

fn range_generic(ctx: &mut Ctx, a: Args, rev: bool) {
    let (sa, ea) = if rev {
        (a.get(3), a.get(2))
    } else {
        (a.get(2), a.get(3))
    };
    let Some((mut start, sx)) = parse_interval(ctx.reply, sa, 0) else {
        return;
    };
    if sx {
        match start.incr() {
            Some(v) => start = v,
            None => return ctx.reply.error("ERR invalid start ID for the interval"),
        }
    }
    let Some((mut end, ex)) = parse_interval(ctx.reply, ea, u64::MAX) else {
        return;
    };
    if ex {
        match end.decr() {
            Some(v) => end = v,
            None => return ctx.reply.error("ERR invalid end ID for the interval"),
        }
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if eq_ic(a.get(j), "count") && j + 1 < a.len() {
            let Some(c) = ll_arg(ctx.reply, a.get(j + 1), None) else {
                return;
            };
            count = c.max(0);
            j += 2;
        } else {
            return ctx.reply.error(SYNTAX);
        }
    }
    let key = a.get(1);
    let s = match read_stream!(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return ctx.reply.array(0),
        Err(()) => return,
    };
    if count == 0 {
        return ctx.reply.null_array();
    }
    let limit = if count < 0 { 0 } else { count as usize };
    let r = &mut *ctx.reply;
    let at = r.defer();
    let mut n = 0usize;
    s.range(start, end, rev, &mut |e| {
        reply_entry(r, e);
        n += 1;
        limit == 0 || n < limit
    });
    r.fill_deferred(at, b'*', n);
}

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx, a: Args) {
    range_generic(ctx, a, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx, a: Args) {
    range_generic(ctx, a, true)
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    match kind(ctx, key) {
        0 => return ctx.reply.int(0),
        2 => return ctx.reply.error(WRONGTYPE),
        _ => {}
    }
    let mut ids = Vec::with_capacity(a.len().min(4096));
    for j in 2..a.len() {
        let Some(id) = parse_strict_id(ctx.reply, a.get(j), 0) else {
            return;
        };
        ids.push(id);
    }
    let Ok(Some(s)) = write_stream!(ctx, key) else {
        return;
    };
    let mut deleted = 0u64;
    let mut first_entry = false;
    for id in ids {
        if s.delete(id) {
            if id == s.first_id {
                first_entry = true;
            }
            if id > s.max_deleted_entry_id {
                s.max_deleted_entry_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.length == 0 {
            s.first_id = StreamId::MIN;
        } else if first_entry {
            s.first_id = s.edge_id(true, true).unwrap_or(StreamId::MAX);
        }
    }
    ctx.dirty += deleted;
    if deleted > 0 {
        ctx.notify(STREAM, "xdel", key);
    }
    ctx.reply.int(deleted as i64);
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx, a: Args) {
    let Some(id) = parse_strict_id(ctx.reply, a.get(2), 0) else {
        return;
    };
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a.get(i);
        if eq_ic(opt, "entriesadded") && more > 0 {
            let Some(v) = ll_arg(ctx.reply, a.get(i + 1), None) else {
                return;
            };
            if v < 0 {
                return ctx.reply.error("ERR entries_added must be positive");
            }
            entries_added = v;
            i += 2;
        } else if eq_ic(opt, "maxdeletedid") && more > 0 {
            let Some(v) = parse_strict_id(ctx.reply, a.get(i + 1), 0) else {
                return;
            };
            if id < v {
                return ctx.reply.error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_xdel = v;
            i += 2;
        } else {
            return ctx.reply.error(SYNTAX);
        }
    }
    let Ok(s) = write_stream!(ctx, a.get(1)) else {
        return;
    };
    let Some(s) = s else {
        return ctx.reply.error(NO_SUCH_KEY);
    };
    if s.length > 0 {
        let maxid = s.last_valid_id().unwrap_or(StreamId::MIN);
        if id < maxid {
            return ctx.reply.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return ctx.reply.error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    ctx.dirty += 1;
    ctx.notify(STREAM, "xsetid", a.get(1));
    ctx.reply.ok();
}

// ---------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// Serves `[start, ...)` of `s` to a group consumer (or plainly when `group` is None), as
/// Redis's `streamReplyWithRange` with a group: advances the group, creates/reassigns PEL
/// entries, queues the propagation. Returns the number of entries emitted.
#[allow(clippy::too_many_arguments)]
fn serve_range(
    r: &mut ReplyBuf,
    s: &mut StreamValue,
    start: StreamId,
    count: usize,
    group: Option<(&[u8], &[u8])>,
    noack: bool,
    now: i64,
    key: &[u8],
    props: &mut Vec<Vec<Vec<u8>>>,
) -> usize {
    let at = r.defer();
    let mut ids: Vec<StreamId> = Vec::new();
    s.range(start, StreamId::MAX, false, &mut |e| {
        reply_entry(r, e);
        ids.push(e.id);
        count == 0 || ids.len() < count
    });
    r.fill_deferred(at, b'*', ids.len());
    let Some((gname, cname)) = group else {
        return ids.len();
    };
    let mut propagate_last = false;
    for id in &ids {
        let tomb = s.range_has_tombstones(Some(*id), None);
        let added = s.entries_added;
        let est = s.estimate_distance(*id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if *id > g.last_id {
            if g.entries_read != -1 && !tomb {
                g.entries_read += 1;
            } else if added > 0 {
                g.entries_read = est;
            }
            g.last_id = *id;
            if noack {
                propagate_last = true;
            }
        }
        if !noack {
            let old = g.pel.insert(
                *id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: cname.to_vec(),
                },
            );
            if let Some(old) = old {
                if let Some(oc) = g.consumers.get_mut(&old.consumer) {
                    oc.pel.remove(id);
                }
            }
            if let Some(c) = g.consumers.get_mut(cname) {
                c.pel.insert(*id);
            }
            if let Some(n) = g.pel.get(id) {
                props.push(xclaim_op(key, gname, id.to_text().as_bytes(), n, g.last_id));
            }
        }
    }
    if propagate_last {
        if let Some(g) = s.groups.get(gname) {
            props.push(setid_op(key, gname, g));
        }
    }
    ids.len()
}

/// History of a consumer: its PEL entries from `start`, each with its message (or a null
/// when the message is gone); delivery time and count are updated.
fn serve_history(
    r: &mut ReplyBuf,
    s: &mut StreamValue,
    start: StreamId,
    count: usize,
    gname: &[u8],
    cname: &[u8],
    now: i64,
) {
    let ids: Vec<StreamId> = match s.groups.get(gname).and_then(|g| g.consumers.get(cname)) {
        Some(c) => c
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        None => Vec::new(),
    };
    r.array(ids.len());
    let mut found = Vec::with_capacity(ids.len());
    for id in &ids {
        if reply_single(r, s, *id) {
            found.push(*id);
        } else {
            r.array(2);
            reply_id(r, *id);
            r.null_array();
        }
    }
    if let Some(g) = s.groups.get_mut(gname) {
        for id in found {
            if let Some(n) = g.pel.get_mut(&id) {
                n.delivery_time = now;
                n.delivery_count += 1;
            }
        }
    }
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key ... id ...
/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key ... id ...
pub fn xread(ctx: &mut Ctx, a: Args) {
    let xreadgroup = a.get(0).len() == 10;
    let argc = a.len();
    let mut timeout: i64 = -1;
    let mut count: i64 = 0;
    let mut streams_arg = 0usize;
    let mut nstreams = 0usize;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = a.get(i);
        if eq_ic(o, "block") && more > 0 {
            i += 1;
            let Some(t) = ll_arg(
                ctx.reply,
                a.get(i),
                Some("ERR timeout is not an integer or out of range"),
            ) else {
                return;
            };
            if t < 0 {
                return ctx.reply.error("ERR timeout is negative");
            }
            if t > 0 && t > i64::MAX - ctx.now {
                return ctx.reply.error("ERR timeout is out of range");
            }
            timeout = if t > 0 { t + ctx.now } else { 0 };
        } else if eq_ic(o, "count") && more > 0 {
            i += 1;
            let Some(c) = ll_arg(ctx.reply, a.get(i), None) else {
                return;
            };
            count = c.max(0);
        } else if eq_ic(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = argc - streams_arg;
            if !n.is_multiple_of(2) {
                return ctx.reply.error("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.".replace("'xread'", if xreadgroup { "'xreadgroup'" } else { "'xread'" }).as_str());
            }
            nstreams = n / 2;
            break;
        } else if eq_ic(o, "group") && more >= 2 {
            if !xreadgroup {
                return ctx.reply.error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            group = Some((a.get(i + 1), a.get(i + 2)));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !xreadgroup {
                return ctx.reply.error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            noack = true;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return ctx.reply.error(SYNTAX);
    }
    if xreadgroup && group.is_none() {
        return ctx.reply.error("ERR Missing GROUP option for XREADGROUP");
    }
    // Resolve the IDs ($ and > included) and check the groups.
    let mut ids: Vec<StreamId> = Vec::with_capacity(nstreams);
    for k in 0..nstreams {
        let key = a.get(streams_arg + k);
        let arg = a.get(streams_arg + nstreams + k);
        let s = match read_stream!(ctx, key) {
            Ok(s) => s,
            Err(()) => return,
        };
        let last = s.map(|s| s.last_id);
        if let Some((g, _)) = group {
            if !s.is_some_and(|s| s.groups.contains_key(g)) {
                let mut msg = b"NOGROUP No such key '".to_vec();
                msg.extend_from_slice(key);
                msg.extend_from_slice(b"' or consumer group '");
                msg.extend_from_slice(g);
                msg.extend_from_slice(b"' in XREADGROUP with GROUP option");
                return ctx.reply.error_bytes(&msg);
            }
        }
        if arg == b"$" {
            if xreadgroup {
                return ctx.reply.error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            ids.push(last.unwrap_or(StreamId::MIN));
            continue;
        } else if arg == b">" {
            if !xreadgroup {
                return ctx.reply.error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            ids.push(StreamId::MAX);
            continue;
        }
        let Some(id) = parse_strict_id(ctx.reply, arg, 0) else {
            return;
        };
        ids.push(id);
    }
    // Serve synchronously what can be served.
    let now = ctx.now;
    let resp3 = ctx.reply.resp3;
    let mut props: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut served = 0usize;
    let mut outer: Option<usize> = None;
    let mut dirty = 0u64;
    let mut created: Vec<usize> = Vec::new();
    let i_db = ctx.db;
    for (k, &gt0) in ids.iter().enumerate() {
        let key = a.get(streams_arg + k);
        let Some(Value::Stream(s)) = ctx.ks.dbs[i_db].get_mut(key, now) else {
            // Redis looks every key up again to serve it: a second `keymiss`.
            ctx.notify(KEY_MISS, "keymiss", key);
            continue;
        };
        let mut gt = gt0;
        let mut serve = false;
        let mut history = false;
        if let Some((g, _)) = group {
            if gt != StreamId::MAX {
                serve = true;
                history = true;
            } else if s.length > 0 {
                let maxid = s.last_valid_id().unwrap_or(StreamId::MIN);
                if let Some(gr) = s.groups.get(g) {
                    if maxid > gr.last_id {
                        serve = true;
                        gt = gr.last_id;
                    }
                }
            }
        } else if s.length > 0 {
            let maxid = s.last_valid_id().unwrap_or(StreamId::MIN);
            if maxid > gt {
                serve = true;
            }
        }
        if !serve {
            continue;
        }
        served += 1;
        let r = &mut *ctx.reply;
        if outer.is_none() {
            outer = Some(r.defer());
        }
        let start = gt.incr().unwrap_or(StreamId::MAX);
        if !resp3 {
            r.array(2);
        }
        r.bulk(key);
        if let Some((g, c)) = group {
            if let Some(gr) = s.groups.get_mut(g) {
                match gr.consumers.get_mut(c) {
                    Some(cons) => cons.seen_time = now,
                    None => {
                        gr.consumers.insert(
                            c.to_vec(),
                            Consumer {
                                seen_time: now,
                                pel: Default::default(),
                            },
                        );
                        dirty += 1;
                        created.push(k);
                        if noack {
                            props.push(vec![
                                b"XGROUP".to_vec(),
                                b"CREATECONSUMER".to_vec(),
                                key.to_vec(),
                                g.to_vec(),
                                c.to_vec(),
                            ]);
                        }
                    }
                }
            }
            if history {
                serve_history(r, s, start, count as usize, g, c, now);
            } else {
                serve_range(
                    r,
                    s,
                    start,
                    count as usize,
                    Some((g, c)),
                    noack,
                    now,
                    key,
                    &mut props,
                );
            }
            dirty += 1;
        } else {
            serve_range(
                r,
                s,
                start,
                count as usize,
                None,
                false,
                now,
                key,
                &mut props,
            );
        }
    }
    ctx.dirty += dirty;
    for k in created {
        ctx.notify(STREAM, "xgroup-createconsumer", a.get(streams_arg + k));
    }
    ctx.propagate = Some(props);
    if let Some(at) = outer {
        let kind = if resp3 { b'%' } else { b'*' };
        ctx.reply.fill_deferred(at, kind, served);
        return;
    }
    if timeout != -1 {
        if !ctx.may_block {
            return ctx.reply.null_array();
        }
        // Blocked: remember the resolved IDs ($ becomes the last ID now) and a default COUNT.
        let mut argv: Vec<Vec<u8>> = vec![a.get(0).to_vec()];
        if let Some((g, c)) = group {
            argv.extend([b"GROUP".to_vec(), g.to_vec(), c.to_vec()]);
        }
        let c = if count > 0 { count } else { 1000 };
        argv.extend([b"COUNT".to_vec(), c.to_string().into_bytes()]);
        argv.extend([b"BLOCK".to_vec(), b"0".to_vec()]);
        if noack {
            argv.push(b"NOACK".to_vec());
        }
        argv.push(b"STREAMS".to_vec());
        let mut keys = Vec::with_capacity(nstreams);
        for k in 0..nstreams {
            let key = a.get(streams_arg + k).to_vec();
            keys.push(key.clone());
            argv.push(key);
        }
        for id in &ids {
            argv.push(if *id == StreamId::MAX && group.is_some() {
                b">".to_vec()
            } else {
                id.to_text().into_bytes()
            });
        }
        ctx.block = Some(Block {
            keys,
            deadline_ms: timeout,
            on_timeout: TimeoutReply::NullArray,
            kind: if group.is_some() {
                BlockType::StreamGroup
            } else {
                BlockType::Stream
            },
            args: Some(argv),
        });
        return;
    }
    ctx.reply.null_array();
}

// ---------------------------------------------------------------------------------------
// XGROUP

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...
pub fn xgroup(ctx: &mut Ctx, a: Args) {
    let opt = a.get(1);
    let argc = a.len();
    let mut mkstream = false;
    let mut entries_read: i64 = -1;
    let key = a.get(2);
    let gname = a.get(3);
    let mut exists = false;
    let mut has_group = false;
    if argc >= 4 {
        let create = eq_ic(opt, "create");
        let setid = eq_ic(opt, "setid");
        let mut i = 5;
        while i < argc {
            if create && eq_ic(a.get(i), "mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid) && eq_ic(a.get(i), "entriesread") && i + 1 < argc {
                let Some(v) = ll_arg(ctx.reply, a.get(i + 1), None) else {
                    return;
                };
                if v < 0 && v != -1 {
                    return ctx
                        .reply
                        .error("ERR value for ENTRIESREAD must be positive or -1");
                }
                entries_read = v;
                i += 2;
            } else {
                return subcommand_syntax(ctx.reply, &a);
            }
        }
        match write_stream!(ctx, key) {
            Err(()) => return,
            Ok(None) => {}
            Ok(Some(s)) => {
                exists = true;
                has_group = s.groups.contains_key(gname);
            }
        }
    }
    if argc >= 4 && !mkstream {
        if !exists {
            return ctx.reply.error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        }
        if !has_group
            && (eq_ic(opt, "setid") || eq_ic(opt, "createconsumer") || eq_ic(opt, "delconsumer"))
        {
            let mut msg = b"NOGROUP No such consumer group '".to_vec();
            msg.extend_from_slice(gname);
            msg.extend_from_slice(b"' for key name '");
            msg.extend_from_slice(key);
            msg.push(b'\'');
            return ctx.reply.error_bytes(&msg);
        }
    }
    let now = ctx.now;
    if argc == 2 && eq_ic(opt, "help") {
        help(ctx, "XGROUP", XGROUP_HELP);
    } else if eq_ic(opt, "create") && (5..=8).contains(&argc) {
        let idarg = a.get(4);
        let id = if idarg == b"$" {
            match write_stream!(ctx, key) {
                Ok(Some(s)) => s.last_id,
                _ => StreamId::MIN,
            }
        } else {
            match parse_strict_id(ctx.reply, idarg, 0) {
                Some(id) => id,
                None => return,
            }
        };
        if !exists {
            ctx.set_key(key, Value::Stream(Box::default()), false);
        }
        let Ok(Some(s)) = write_stream!(ctx, key) else {
            return;
        };
        if s.groups.contains_key(gname) {
            return ctx
                .reply
                .error("BUSYGROUP Consumer Group name already exists");
        }
        s.groups
            .insert(gname.to_vec(), Group::new(id, entries_read));
        ctx.dirty += 1;
        ctx.notify(STREAM, "xgroup-create", key);
        ctx.reply.ok();
    } else if eq_ic(opt, "setid") && (argc == 5 || argc == 7) {
        let idarg = a.get(4);
        let last = match write_stream!(ctx, key) {
            Ok(Some(s)) => s.last_id,
            _ => StreamId::MIN,
        };
        let id = if idarg == b"$" {
            last
        } else {
            match parse_id(ctx.reply, idarg, 0) {
                Some(id) => id,
                None => return,
            }
        };
        let Ok(Some(s)) = write_stream!(ctx, key) else {
            return;
        };
        if let Some(g) = s.groups.get_mut(gname) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.dirty += 1;
        ctx.notify(STREAM, "xgroup-setid", key);
        ctx.reply.ok();
    } else if eq_ic(opt, "destroy") && argc == 4 {
        let Ok(Some(s)) = write_stream!(ctx, key) else {
            return;
        };
        if s.groups.remove(gname).is_some() {
            ctx.dirty += 1;
            ctx.notify(STREAM, "xgroup-destroy", key);
            ctx.reply.int(1);
        } else {
            ctx.reply.int(0);
        }
    } else if eq_ic(opt, "createconsumer") && argc == 5 {
        let Ok(Some(s)) = write_stream!(ctx, key) else {
            return;
        };
        let cname = a.get(4);
        let Some(g) = s.groups.get_mut(gname) else {
            return ctx.reply.int(0);
        };
        if g.consumers.contains_key(cname) {
            ctx.reply.int(0);
        } else {
            g.consumers.insert(
                cname.to_vec(),
                Consumer {
                    seen_time: now,
                    pel: Default::default(),
                },
            );
            ctx.dirty += 1;
            ctx.notify(STREAM, "xgroup-createconsumer", key);
            ctx.reply.int(1);
        }
    } else if eq_ic(opt, "delconsumer") && argc == 5 {
        let Ok(Some(s)) = write_stream!(ctx, key) else {
            return;
        };
        let cname = a.get(4);
        let mut pending = 0;
        if let Some(g) = s.groups.get_mut(gname) {
            if let Some(c) = g.consumers.remove(cname) {
                pending = c.pel.len() as i64;
                for id in &c.pel {
                    g.pel.remove(id);
                }
                ctx.dirty += 1;
                ctx.notify(STREAM, "xgroup-delconsumer", key);
            }
        }
        ctx.reply.int(pending);
    } else {
        subcommand_syntax(ctx.reply, &a);
    }
}

// ---------------------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let gname = a.get(2);
    let has = match read_stream!(ctx, key) {
        Err(()) => return,
        Ok(None) => false,
        Ok(Some(s)) => s.groups.contains_key(gname),
    };
    if !has {
        return ctx.reply.int(0);
    }
    let mut ids = Vec::with_capacity(a.len().min(4096));
    for j in 3..a.len() {
        let Some(id) = parse_strict_id(ctx.reply, a.get(j), 0) else {
            return;
        };
        ids.push(id);
    }
    let Ok(Some(s)) = write_stream!(ctx, key) else {
        return;
    };
    let mut acked = 0;
    if let Some(g) = s.groups.get_mut(gname) {
        for id in ids {
            if g.remove_nack(id).is_some() {
                acked += 1;
            }
        }
    }
    ctx.dirty += acked as u64;
    ctx.reply.int(acked);
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, a: Args) {
    let argc = a.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return ctx.reply.error(SYNTAX);
    }
    let key = a.get(1);
    let gname = a.get(2);
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut count: i64 = 0;
    let mut minidle: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut si = 3;
        if eq_ic(a.get(3), "idle") {
            let Some(v) = ll_arg(ctx.reply, a.get(4), None) else {
                return;
            };
            minidle = v;
            if argc < 8 {
                return ctx.reply.error(SYNTAX);
            }
            si += 2;
        }
        let Some(c) = ll_arg(ctx.reply, a.get(si + 2), None) else {
            return;
        };
        count = c.max(0);
        let Some((s, sx)) = parse_interval(ctx.reply, a.get(si), 0) else {
            return;
        };
        start = s;
        if sx {
            match start.incr() {
                Some(v) => start = v,
                None => return ctx.reply.error("ERR invalid start ID for the interval"),
            }
        }
        let Some((e, ex)) = parse_interval(ctx.reply, a.get(si + 1), u64::MAX) else {
            return;
        };
        end = e;
        if ex {
            match end.decr() {
                Some(v) => end = v,
                None => return ctx.reply.error("ERR invalid end ID for the interval"),
            }
        }
        if si + 3 < argc {
            consumer = Some(a.get(si + 3));
        }
    }
    let now = ctx.now;
    let s = match read_stream!(ctx, key) {
        Err(()) => return,
        Ok(s) => s,
    };
    let Some(g) = s.and_then(|s| s.groups.get(gname)) else {
        let mut msg = b"NOGROUP No such key '".to_vec();
        msg.extend_from_slice(key);
        msg.extend_from_slice(b"' or consumer group '");
        msg.extend_from_slice(gname);
        msg.push(b'\'');
        return ctx.reply.error_bytes(&msg);
    };
    let r = &mut *ctx.reply;
    if justinfo {
        r.array(4);
        r.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(f), Some(l)) => {
                reply_id(r, *f);
                reply_id(r, *l);
                let with: Vec<(&Vec<u8>, &Consumer)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                r.array(with.len());
                for (n, c) in with {
                    r.array(2);
                    r.bulk(n);
                    r.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                r.null();
                r.null();
                r.null_array();
            }
        }
        return;
    }
    let ids: Vec<StreamId> = match consumer {
        Some(cn) => match g.consumers.get(cn) {
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
            None => return r.array(0),
        },
        None if start <= end => g.pel.range(start..=end).map(|(k, _)| *k).collect(),
        None => Vec::new(),
    };
    let at = r.defer();
    let mut n = 0usize;
    for id in ids {
        if count <= 0 {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        n += 1;
        count -= 1;
        r.array(4);
        reply_id(r, id);
        r.bulk(&nack.consumer);
        r.int((now - nack.delivery_time).max(0));
        r.int(nack.delivery_count as i64);
    }
    r.fill_deferred(at, b'*', n);
}

fn nogroup_claim(ctx: &mut Ctx, key: &[u8], g: &[u8]) {
    let mut msg = b"NOGROUP No such key '".to_vec();
    msg.extend_from_slice(key);
    msg.extend_from_slice(b"' or consumer group '");
    msg.extend_from_slice(g);
    msg.push(b'\'');
    ctx.reply.error_bytes(&msg);
}

/// Makes sure consumer `name` exists (refreshing its seen time); true if it was created.
fn touch_consumer(g: &mut Group, name: &[u8], now: i64) -> bool {
    match g.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => {
            g.consumers.insert(
                name.to_vec(),
                Consumer {
                    seen_time: now,
                    pel: Default::default(),
                },
            );
            true
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let gname = a.get(2);
    let has = match read_stream!(ctx, key) {
        Err(()) => return,
        Ok(None) => false,
        Ok(Some(s)) => s.groups.contains_key(gname),
    };
    if !has {
        return nogroup_claim(ctx, key, gname);
    }
    let Some(minidle) = ll_arg(
        ctx.reply,
        a.get(4),
        Some("ERR Invalid min-idle-time argument for XCLAIM"),
    ) else {
        return;
    };
    let minidle = minidle.max(0);
    let argc = a.len();
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argc {
        match parse_id_raw(a.get(j), 0, true, None) {
            Some(id) => ids.push((id, j)),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut force = false;
    let mut justid = false;
    let mut last_id = StreamId::MIN;
    while j < argc {
        let more = argc - 1 - j;
        let opt = a.get(j);
        if eq_ic(opt, "force") {
            force = true;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else if eq_ic(opt, "idle") && more > 0 {
            j += 1;
            let Some(v) = ll_arg(
                ctx.reply,
                a.get(j),
                Some("ERR Invalid IDLE option argument for XCLAIM"),
            ) else {
                return;
            };
            deliverytime = now.wrapping_sub(v);
        } else if eq_ic(opt, "time") && more > 0 {
            j += 1;
            let Some(v) = ll_arg(
                ctx.reply,
                a.get(j),
                Some("ERR Invalid TIME option argument for XCLAIM"),
            ) else {
                return;
            };
            deliverytime = v;
        } else if eq_ic(opt, "retrycount") && more > 0 {
            j += 1;
            let Some(v) = ll_arg(
                ctx.reply,
                a.get(j),
                Some("ERR Invalid RETRYCOUNT option argument for XCLAIM"),
            ) else {
                return;
            };
            retrycount = v;
        } else if eq_ic(opt, "lastid") && more > 0 {
            j += 1;
            let Some(v) = parse_strict_id(ctx.reply, a.get(j), 0) else {
                return;
            };
            last_id = v;
        } else {
            let mut msg = b"ERR Unrecognized XCLAIM option '".to_vec();
            msg.extend_from_slice(opt);
            msg.push(b'\'');
            return ctx.reply.error_bytes(&msg);
        }
        j += 1;
    }
    if deliverytime != -1 {
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let cname = a.get(3);
    let Ok(Some(s)) = write_stream!(ctx, key) else {
        return;
    };
    let mut props: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut dirty = 0u64;
    let mut propagate_last = false;
    {
        let Some(g) = s.groups.get_mut(gname) else {
            return;
        };
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last = true;
        }
    }
    let r = &mut *ctx.reply;
    let at = r.defer();
    let mut n = 0usize;
    let mut have_consumer = false;
    let mut created = false;
    for (id, argj) in ids {
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            if let Some(nack) = g.pel.get(&id) {
                props.push(xclaim_op(key, gname, a.get(argj), nack, g.last_id));
                propagate_last = false;
                dirty += 1;
                g.remove_nack(id);
            }
            continue;
        }
        let fresh = force && !g.pel.contains_key(&id);
        if fresh {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if !fresh && minidle != 0 && now - nack.delivery_time < minidle {
            continue;
        }
        let old = nack.consumer.clone();
        if !have_consumer {
            if touch_consumer(g, cname, now) {
                dirty += 1;
                created = true;
            }
            have_consumer = true;
        }
        if !fresh && old != cname {
            if let Some(oc) = g.consumers.get_mut(&old) {
                oc.pel.remove(&id);
            }
        }
        let last = g.last_id;
        let Some(nack) = g.pel.get_mut(&id) else {
            continue;
        };
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        nack.consumer = cname.to_vec();
        let op = xclaim_op(key, gname, a.get(argj), nack, last);
        if let Some(c) = g.consumers.get_mut(cname) {
            c.pel.insert(id);
        }
        if justid {
            reply_id(r, id);
        } else {
            reply_single(r, s, id);
        }
        n += 1;
        props.push(op);
        propagate_last = false;
        dirty += 1;
    }
    if propagate_last {
        if let Some(g) = s.groups.get(gname) {
            props.push(setid_op(key, gname, g));
        }
        dirty += 1;
    }
    r.fill_deferred(at, b'*', n);
    ctx.dirty += dirty;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    ctx.propagate = Some(props);
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, a: Args) {
    let key = a.get(1);
    let gname = a.get(2);
    let Some(minidle) = ll_arg(
        ctx.reply,
        a.get(4),
        Some("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    ) else {
        return;
    };
    let minidle = minidle.max(0);
    let Some((mut start, sx)) = parse_interval(ctx.reply, a.get(5), 0) else {
        return;
    };
    if sx {
        match start.incr() {
            Some(v) => start = v,
            None => return ctx.reply.error("ERR invalid start ID for the interval"),
        }
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    let argc = a.len();
    while j < argc {
        let more = argc - 1 - j;
        let opt = a.get(j);
        if eq_ic(opt, "count") && more > 0 {
            let max = i64::MAX / 16;
            match string2ll(a.get(j + 1)) {
                Some(v) if (1..=max).contains(&v) => count = v,
                _ => return ctx.reply.error("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else {
            return ctx.reply.error(SYNTAX);
        }
        j += 1;
    }
    let has = match read_stream!(ctx, key) {
        Err(()) => return,
        Ok(None) => false,
        Ok(Some(s)) => s.groups.contains_key(gname),
    };
    if !has {
        return nogroup_claim(ctx, key, gname);
    }
    let now = ctx.now;
    let cname = a.get(3);
    let Ok(Some(s)) = write_stream!(ctx, key) else {
        return;
    };
    let mut props: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut dirty = 0u64;
    let mut attempts = count.saturating_mul(10);
    let mut deleted: Vec<StreamId> = Vec::new();
    let r = &mut *ctx.reply;
    r.array(3);
    let mut body = ReplyBuf::new();
    body.resp3 = r.resp3;
    let mut n = 0usize;
    let mut have_consumer = false;
    let mut created = false;
    let mut cursor = Some(start);
    let next: Option<StreamId>;
    loop {
        let Some(cur) = cursor else {
            next = None;
            break;
        };
        let Some(id) = s
            .groups
            .get(gname)
            .and_then(|g| g.pel.range(cur..).next().map(|(k, _)| *k))
        else {
            next = None;
            break;
        };
        if attempts == 0 || count == 0 {
            next = Some(id);
            break;
        }
        attempts -= 1;
        cursor = id.incr();
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            next = None;
            break;
        };
        if !exists {
            if let Some(nack) = g.pel.get(&id) {
                props.push(xclaim_op(
                    key,
                    gname,
                    id.to_text().as_bytes(),
                    nack,
                    g.last_id,
                ));
            }
            dirty += 1;
            g.remove_nack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        let idle_ok = g
            .pel
            .get(&id)
            .is_some_and(|n| minidle == 0 || now - n.delivery_time >= minidle);
        if !idle_ok {
            continue;
        }
        if !have_consumer {
            if touch_consumer(g, cname, now) {
                dirty += 1;
                created = true;
            }
            have_consumer = true;
        }
        let old = g
            .pel
            .get(&id)
            .map(|x| x.consumer.clone())
            .unwrap_or_default();
        if old != cname {
            if let Some(oc) = g.consumers.get_mut(&old) {
                oc.pel.remove(&id);
            }
        }
        let last = g.last_id;
        let Some(nack) = g.pel.get_mut(&id) else {
            continue;
        };
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        nack.consumer = cname.to_vec();
        let op = xclaim_op(key, gname, id.to_text().as_bytes(), nack, last);
        if let Some(c) = g.consumers.get_mut(cname) {
            c.pel.insert(id);
        }
        if justid {
            reply_id(&mut body, id);
        } else {
            reply_single(&mut body, s, id);
        }
        n += 1;
        count -= 1;
        props.push(op);
        dirty += 1;
    }
    reply_id(r, next.unwrap_or(StreamId::MIN));
    r.array(n);
    r.raw(&body.out);
    r.array(deleted.len());
    for id in deleted {
        reply_id(r, id);
    }
    ctx.dirty += dirty;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    ctx.propagate = Some(props);
}

// ---------------------------------------------------------------------------------------
// XINFO

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// Nodes of a radix tree holding `keys` (16-byte keys), as Redis's rax counts them.
fn rax_nodes(keys: &[[u8; 16]]) -> usize {
    fn count(keys: &[[u8; 16]], depth: usize) -> usize {
        if depth >= 16 {
            return 1;
        }
        if keys.len() == 1 {
            return 2;
        }
        let first = &keys[0];
        let last = &keys[keys.len() - 1];
        let mut l = 0;
        while depth + l < 16 && first[depth + l] == last[depth + l] {
            l += 1;
        }
        if l > 0 {
            return 1 + count(keys, depth + l);
        }
        let mut total = 1;
        let mut i = 0;
        while i < keys.len() {
            let b = keys[i][depth];
            let mut e = i;
            while e < keys.len() && keys[e][depth] == b {
                e += 1;
            }
            total += count(&keys[i..e], depth + 1);
            i = e;
        }
        total
    }
    if keys.is_empty() {
        return 1;
    }
    count(keys, 0)
}

fn reply_lag(r: &mut ReplyBuf, s: &StreamValue, g: &Group) {
    match s.group_lag(g) {
        Some(v) => r.int(v),
        None => r.null(),
    }
}

fn reply_entries_read(r: &mut ReplyBuf, g: &Group) {
    if g.entries_read != -1 {
        r.int(g.entries_read);
    } else {
        r.null();
    }
}

/// XINFO STREAM|GROUPS|CONSUMERS|HELP ...
pub fn xinfo(ctx: &mut Ctx, a: Args) {
    let opt = a.get(1);
    if eq_ic(opt, "help") {
        if a.len() != 2 {
            return subcommand_syntax(ctx.reply, &a);
        }
        return help(ctx, "XINFO", XINFO_HELP);
    } else if a.len() < 3 {
        return subcommand_syntax(ctx.reply, &a);
    }
    let key = a.get(2);
    let now = ctx.now;
    let full_opts: Option<(bool, i64)> = if eq_ic(opt, "stream") {
        let optc = a.len() - 3;
        if optc == 0 {
            Some((false, 10))
        } else if (optc != 1 && optc != 3) || !eq_ic(a.get(3), "full") {
            None
        } else if optc == 3 {
            if !eq_ic(a.get(4), "count") {
                None
            } else {
                Some((true, 0))
            }
        } else {
            Some((true, 10))
        }
    } else {
        Some((false, 0))
    };
    let s = match read_stream!(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply.error(NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let r = &mut *ctx.reply;
    if eq_ic(opt, "consumers") && a.len() == 4 {
        let Some(g) = s.groups.get(a.get(3)) else {
            let mut msg = b"NOGROUP No such consumer group '".to_vec();
            msg.extend_from_slice(a.get(3));
            msg.extend_from_slice(b"' for key name '");
            msg.extend_from_slice(key);
            msg.push(b'\'');
            return r.error_bytes(&msg);
        };
        r.array(g.consumers.len());
        for (name, c) in &g.consumers {
            r.map(3);
            r.bulk(b"name");
            r.bulk(name);
            r.bulk(b"pending");
            r.int(c.pel.len() as i64);
            r.bulk(b"idle");
            r.int((now - c.seen_time).max(0));
        }
    } else if eq_ic(opt, "groups") && a.len() == 3 {
        r.array(s.groups.len());
        for (name, g) in &s.groups {
            r.map(6);
            r.bulk(b"name");
            r.bulk(name);
            r.bulk(b"consumers");
            r.int(g.consumers.len() as i64);
            r.bulk(b"pending");
            r.int(g.pel.len() as i64);
            r.bulk(b"last-delivered-id");
            reply_id(r, g.last_id);
            r.bulk(b"entries-read");
            reply_entries_read(r, g);
            r.bulk(b"lag");
            reply_lag(r, s, g);
        }
    } else if eq_ic(opt, "stream") {
        let Some((full, mut count)) = full_opts else {
            return subcommand_syntax(r, &a);
        };
        if full && a.len() == 6 {
            match string2ll(a.get(5)) {
                Some(v) => count = if v < 0 { 10 } else { v },
                None => return r.error(NOT_INT),
            }
        }
        let keys: Vec<[u8; 16]> = s.nodes.keys().map(|k| k.to_be_bytes()).collect();
        r.map(if full { 9 } else { 10 });
        r.bulk(b"length");
        r.int(s.length as i64);
        r.bulk(b"radix-tree-keys");
        r.int(s.nodes.len() as i64);
        r.bulk(b"radix-tree-nodes");
        r.int(rax_nodes(&keys) as i64);
        r.bulk(b"last-generated-id");
        reply_id(r, s.last_id);
        r.bulk(b"max-deleted-entry-id");
        reply_id(r, s.max_deleted_entry_id);
        r.bulk(b"entries-added");
        r.int(s.entries_added as i64);
        r.bulk(b"recorded-first-entry-id");
        reply_id(r, s.first_id);
        if !full {
            r.bulk(b"groups");
            r.int(s.groups.len() as i64);
            for (label, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
                r.bulk(label);
                let mut got = false;
                s.range(StreamId::MIN, StreamId::MAX, rev, &mut |e| {
                    reply_entry(r, e);
                    got = true;
                    false
                });
                if !got {
                    r.null();
                }
            }
        } else {
            let limit = count.max(0) as usize;
            r.bulk(b"entries");
            let at = r.defer();
            let mut n = 0usize;
            s.range(StreamId::MIN, StreamId::MAX, false, &mut |e| {
                reply_entry(r, e);
                n += 1;
                limit == 0 || n < limit
            });
            r.fill_deferred(at, b'*', n);
            r.bulk(b"groups");
            r.array(s.groups.len());
            for (name, g) in &s.groups {
                r.map(7);
                r.bulk(b"name");
                r.bulk(name);
                r.bulk(b"last-delivered-id");
                reply_id(r, g.last_id);
                r.bulk(b"entries-read");
                reply_entries_read(r, g);
                r.bulk(b"lag");
                reply_lag(r, s, g);
                r.bulk(b"pel-count");
                r.int(g.pel.len() as i64);
                r.bulk(b"pending");
                let take = if limit == 0 { usize::MAX } else { limit };
                let pel: Vec<(&StreamId, &Nack)> = g.pel.iter().take(take).collect();
                r.array(pel.len());
                for (id, nack) in pel {
                    r.array(4);
                    reply_id(r, *id);
                    r.bulk(&nack.consumer);
                    r.int(nack.delivery_time);
                    r.int(nack.delivery_count as i64);
                }
                r.bulk(b"consumers");
                r.array(g.consumers.len());
                for (cname, c) in &g.consumers {
                    r.map(4);
                    r.bulk(b"name");
                    r.bulk(cname);
                    r.bulk(b"seen-time");
                    r.int(c.seen_time);
                    r.bulk(b"pel-count");
                    r.int(c.pel.len() as i64);
                    r.bulk(b"pending");
                    let ids: Vec<&StreamId> = c.pel.iter().take(take).collect();
                    r.array(ids.len());
                    for id in ids {
                        r.array(3);
                        reply_id(r, *id);
                        let (t, dc) = g
                            .pel
                            .get(id)
                            .map(|n| (n.delivery_time, n.delivery_count))
                            .unwrap_or((0, 0));
                        r.int(t);
                        r.int(dc as i64);
                    }
                }
            }
        }
    } else {
        subcommand_syntax(r, &a);
    }
}
