//! The reply parser of the Sentinel's links to instances (`cinnabar_sentinel::link::
//! parse_reply`, RESP2): every reply of the buffer in turn, as the link task does.
//!
//! Checked: no panic; a parsed reply consumes at least one byte and no more than given;
//! parsing exactly the bytes a reply took gives the same reply; a strict prefix of a reply is
//! "need more bytes" (or an error), never a different reply.
//!
//! Bound: one allocation ≤ 32 × input + 1 MB: a reply in an array is 32 bytes and takes at
//! least 3 input bytes (`+\r\n`), doubled by `Vec` growth; a bulk is a copy of input bytes;
//! the slack covers the capped array pre-allocation (64 replies per array).
#![no_main]

use cinnabar_fuzz::{guarded, Bound, MB};
use cinnabar_sentinel::link::parse_reply;
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = Bound {
    per_byte: 32,
    slack: MB,
    total_per_byte: 128,
    total_slack: 4 * MB,
};

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while pos < data.len() {
        let buf = &data[pos..];
        let r = guarded(data.len(), &BOUND, || parse_reply(buf));
        let Ok(Some((reply, n))) = r else {
            return;
        };
        assert!(n >= 1 && n <= buf.len(), "consumed {n} of {}", buf.len());
        let again = guarded(data.len(), &BOUND, || parse_reply(&buf[..n]));
        assert_eq!(again, Ok(Some((reply.clone(), n))));
        for cut in [n - 1, n / 2, (pos * 31 + data.len()) % n] {
            let part = guarded(data.len(), &BOUND, || parse_reply(&buf[..cut]));
            assert!(
                matches!(part, Ok(None) | Err(_)),
                "a prefix of {cut} bytes parsed as {part:?}"
            );
        }
        pos += n;
    }
});
