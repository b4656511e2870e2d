//! Argument helpers shared by the families: integer/float parsing with Redis's error replies.

use cinnabar_resp::ReplyBuf;
use cinnabar_util::num;

/// Redis's reply for a bad integer argument.
pub const NOT_INT: &str = "ERR value is not an integer or out of range";
/// Redis's generic syntax error.
pub const SYNTAX: &str = "ERR syntax error";

/// Parses an integer argument or replies Redis's error.
pub fn int_arg(r: &mut ReplyBuf, a: &[u8]) -> Option<i64> {
    match num::string2ll(a) {
        Some(v) => Some(v),
        None => {
            r.error(NOT_INT);
            None
        }
    }
}

/// ASCII case-insensitive comparison of an argument with an option name.
pub fn eq_ic(a: &[u8], opt: &str) -> bool {
    a.eq_ignore_ascii_case(opt.as_bytes())
}

/// Parses a C `int` argument as Redis's `getIntFromObjectOrReply` with no custom message: a
/// non-integer gets `NOT_INT`, an integer outside the `int` range gets Redis's range error.
pub fn int32_arg(r: &mut ReplyBuf, a: &[u8]) -> Option<i32> {
    let v = int_arg(r, a)?;
    match i32::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            r.error("ERR value is out of range, value must between -2147483648 and 2147483647");
            None
        }
    }
}
