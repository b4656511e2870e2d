//! Bitmap commands over string values: SETBIT and GETBIT (BITCOUNT, BITPOS, BITOP and
//! BITFIELD arrive with the data-types work).

use crate::util::eq_ic;
use crate::Ctx;
use cinnabar_keyspace::notify::STRING;
use cinnabar_keyspace::value::{Value, WRONGTYPE};
use cinnabar_resp::Args;
use cinnabar_util::num;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// A bit offset argument, limited by `proto-max-bulk-len` like Redis.
fn bit_offset(ctx: &mut Ctx, a: &[u8]) -> Option<u64> {
    match num::string2ll(a) {
        Some(v) if v >= 0 && (v >> 3) < ctx.proto_max_bulk_len => Some(v as u64),
        _ => {
            ctx.reply.error(BAD_OFFSET);
            None
        }
    }
}

/// SETBIT key offset value
pub fn setbit(ctx: &mut Ctx, a: Args) {
    let Some(off) = bit_offset(ctx, a.get(2)) else {
        return;
    };
    let on = match num::string2ll(a.get(3)) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return ctx.reply.error(BAD_BIT),
    };
    let key = a.get(1);
    let byte = (off >> 3) as usize;
    let shift = 7 - (off & 7) as u8;
    let now = ctx.now;
    let i = ctx.db;
    let db = &mut ctx.ks.dbs[i];
    let mut changed = false;
    let old = match db.get_mut(key, now) {
        Some(Value::Str(s)) => {
            let grow = s.len() <= byte;
            let cur = s.get(byte).copied().unwrap_or(0);
            let bit = (cur >> shift) & 1;
            if grow || bit != on {
                let nv = (cur & !(1 << shift)) | (on << shift);
                s.write_at(byte, &[nv]);
                ctx.dirty += 1;
                changed = true;
            }
            bit
        }
        #[allow(unreachable_patterns)]
        Some(_) => return ctx.reply.error(WRONGTYPE),
        None => {
            let mut v = vec![0u8; byte + 1];
            v[byte] = on << shift;
            db.set(key, Value::Str(v.into()), false, now);
            ctx.dirty += 1;
            changed = true;
            0
        }
    };
    // Redis unshares the string for SETBIT, which leaves it `raw`.
    ctx.db().mark_raw(key);
    if changed {
        ctx.notify(STRING, "setbit", key);
    }
    ctx.reply.int(old as i64);
}

/// GETBIT key offset
pub fn getbit(ctx: &mut Ctx, a: Args) {
    let Some(off) = bit_offset(ctx, a.get(2)) else {
        return;
    };
    let now = ctx.now;
    let i = ctx.db;
    let ks = &mut *ctx.ks;
    let bit = match ks.dbs[i].get(a.get(1), now, &mut ks.stats) {
        Some(Value::Str(s)) => s
            .get((off >> 3) as usize)
            .map(|b| (b >> (7 - (off & 7))) & 1)
            .unwrap_or(0),
        #[allow(unreachable_patterns)]
        Some(_) => return ctx.reply.error(WRONGTYPE),
        None => 0,
    };
    ctx.reply.int(bit as i64);
}

/// MEMORY USAGE key [SAMPLES count]: the bytes this key costs here — its dictionary node and
/// bucket slot, the key's and value's heap parts, and its expires entry if any.
pub fn memory_usage(ctx: &mut Ctx, a: Args) {
    if a.len() == 5 {
        if !eq_ic(a.get(3), "samples") || num::string2ll(a.get(4)).is_none_or(|v| v < 0) {
            return ctx.reply.error(crate::util::SYNTAX);
        }
    } else if a.len() != 3 {
        return ctx.reply.error(crate::util::SYNTAX);
    }
    let key = a.get(2);
    let now = ctx.now;
    let db = ctx.db();
    let Some(v) = db.peek(key, now) else {
        return ctx.reply.null();
    };
    let node = std::mem::size_of::<cinnabar_keyspace::compact::CompactBytes>()
        + std::mem::size_of::<cinnabar_keyspace::db::Obj>()
        + 8;
    let key_heap = cinnabar_keyspace::compact::CompactBytes::from(key).heap_size();
    let val_heap = match v {
        Value::Str(s) => s.heap_size(),
        Value::Hash(h) => h.heap_size(),
        Value::Set(x) => x.heap_size(),
        Value::List(l) => l.heap_size(),
        Value::ZSet(z) => z.heap_size(),
        Value::Stream(x) => x.heap_size(),
    };
    let expire = if db.expire_of(key).is_some() {
        node + key_heap
    } else {
        0
    };
    // A node, its bucket pointer, and what hangs off it.
    let total = node + 8 + key_heap + val_heap + expire;
    ctx.reply.int(total as i64);
}
