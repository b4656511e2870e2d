//! What a blocking command (BLPOP, BLMOVE, BZPOPMIN, BLMPOP, ...) tells the server when it finds
//! nothing to serve: the keys to wait on, the deadline, and what to reply on timeout. The
//! server keeps the blocked client and runs the command again, first come first served, when a
//! write touches one of its keys (see `server::blocking`).

use crate::Ctx;
use cinnabar_resp::ReplyBuf;
use cinnabar_util::num;

/// The reply a blocked command gives when its timeout expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// A null array (`*-1` / RESP3 `_`): BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, BLMPOP, BZMPOP.
    NullArray,
    /// A null bulk (`$-1` / RESP3 `_`): BLMOVE, BRPOPLPUSH.
    Null,
}

impl TimeoutReply {
    /// Writes the timeout reply.
    pub fn write(self, r: &mut ReplyBuf) {
        match self {
            TimeoutReply::NullArray => r.null_array(),
            TimeoutReply::Null => r.null(),
        }
    }
}

/// The type of value a blocked command waits for (a key of another type does not wake it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    List,
    ZSet,
    /// XREAD: a missing key or another type keeps it waiting.
    Stream,
    /// XREADGROUP: the key vanishing (or changing type) unblocks it with an error.
    StreamGroup,
}

/// A request to block, set by a blocking command on `Ctx::block`.
#[derive(Clone, Debug)]
pub struct Block {
    pub keys: Vec<Vec<u8>>,
    /// Unix time in ms; 0 blocks forever.
    pub deadline_ms: i64,
    pub on_timeout: TimeoutReply,
    pub kind: BlockType,
    /// The arguments to run again when a key is ready, if not the call's own (XREAD's `$`
    /// resolved to the ID it stood for when blocking).
    pub args: Option<Vec<Vec<u8>>>,
}

/// Parses a blocking command's timeout in seconds (a float) as Redis does, replying its error
/// on failure. Returns the absolute deadline in unix ms, or 0 for "forever".
pub fn parse_timeout(ctx: &mut Ctx, arg: &[u8]) -> Option<i64> {
    let Some(v) = num::parse_long_double(arg).map(|v| v.to_f64()) else {
        ctx.reply
            .error("ERR timeout is not a float or out of range");
        return None;
    };
    let ms = (v * 1000.0).ceil();
    if ms < 0.0 {
        ctx.reply.error("ERR timeout is negative");
        return None;
    }
    if !ms.is_finite() || ms >= i64::MAX as f64 / 2.0 {
        ctx.reply.error("ERR timeout is out of range");
        return None;
    }
    let ms = ms as i64;
    Some(if ms > 0 { ms + ctx.now } else { 0 })
}

impl Ctx<'_> {
    /// Nothing to serve: block on `keys` when the caller may block, else (inside MULTI or a
    /// script) reply the timeout reply right away, as Redis does.
    pub fn block_on(
        &mut self,
        keys: Vec<Vec<u8>>,
        deadline_ms: i64,
        on_timeout: TimeoutReply,
        kind: BlockType,
    ) {
        if self.may_block {
            self.block = Some(Block {
                keys,
                deadline_ms,
                on_timeout,
                kind,
                args: None,
            });
        } else {
            on_timeout.write(self.reply);
        }
    }
}
