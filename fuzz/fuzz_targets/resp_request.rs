//! The request parser (`cinnabar_resp::CommandParser`: multibulk and inline), as a connection
//! drives it: parse every command of the buffer in turn; on `Ok(None)` wait for more bytes and
//! call again with the same buffer grown. The first input byte picks the limits
//! (authenticated or not, `proto-max-bulk-len`) and how the stream is cut into reads.
//!
//! Checked: no panic; every call that yields a command consumes at least one byte and no more
//! than it was given; argument spans lie inside their buffer; the limits hold; the commands
//! and the outcome are the same whether the stream arrives at once or read by read (the
//! resumable state is equivalent to a fresh parse).
//!
//! Bound: one allocation ≤ 16 × input + 1 MB: the span list costs 16 bytes per argument and an
//! argument takes at least 2 input bytes (`a ` inline), doubled by `Vec` growth; the slack
//! covers the span pre-allocation (at most 1024 spans) and the inline buffer.
#![no_main]

use cinnabar_fuzz::{guarded, Bound, MB};
use cinnabar_resp::parse::Source;
use cinnabar_resp::{CommandParser, Limits, ProtoError};
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = Bound {
    per_byte: 16,
    slack: MB,
    total_per_byte: 64,
    total_slack: 4 * MB,
};

type Cmd = Vec<Vec<u8>>;

/// Parses `stream` made available `step` bytes at a time (0: all at once). Returns the
/// commands and how it ended (`None`: waiting for more bytes).
fn run(stream: &[u8], limits: Limits, step: usize) -> (Vec<Cmd>, Option<ProtoError>) {
    let mut p = CommandParser::new();
    let mut cmds = Vec::new();
    let mut rpos = 0usize;
    let mut avail = if step == 0 {
        stream.len()
    } else {
        step.min(stream.len())
    };
    loop {
        let buf = &stream[rpos..avail];
        let r = guarded(stream.len(), &BOUND, || p.parse(buf, limits));
        match r {
            Ok(Some((n, src))) => {
                assert!(n >= 1, "a command consumed no bytes");
                assert!(n <= buf.len(), "consumed {n} of {} bytes", buf.len());
                assert!(!p.in_progress());
                let base: &[u8] = match src {
                    Source::Buffer => &buf[..n],
                    Source::Inline => &p.inline_buf,
                };
                let mut cmd = Vec::with_capacity(p.spans.len());
                for &(s, e) in &p.spans {
                    assert!(s <= e && e <= base.len(), "span {s}..{e} of {}", base.len());
                    cmd.push(base[s..e].to_vec());
                }
                if src == Source::Buffer {
                    for a in &cmd {
                        assert!(a.len() as i64 <= limits.max_bulk);
                    }
                }
                if !limits.authenticated && src == Source::Buffer {
                    assert!(cmd.len() as i64 <= cinnabar_resp::parse::UNAUTH_MAX_ARGS);
                }
                if !cmd.is_empty() {
                    cmds.push(cmd);
                }
                rpos += n;
            }
            Ok(None) => {
                if avail == stream.len() {
                    return (cmds, None);
                }
                avail = (avail + step).min(stream.len());
            }
            Err(e) => return (cmds, Some(e)),
        }
    }
}

fn too_big(e: &Option<ProtoError>) -> bool {
    matches!(
        e,
        Some(ProtoError::TooBigInline | ProtoError::TooBigMbulkCount | ProtoError::TooBigBulkCount)
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, stream)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        authenticated: ctl & 1 == 0,
        max_bulk: match (ctl >> 1) & 3 {
            0 => 512 * 1024 * 1024,
            1 => 16,
            2 => 0,
            _ => 1000,
        },
    };
    // 0 = the whole buffer at once; else 1..=31 bytes per read, or more for long inputs (at
    // most about 64 reads: re-parsing the buffer at every read is quadratic).
    let step = match usize::from(ctl >> 3) {
        0 => 0,
        s => s.max(stream.len() / 64),
    };
    let (whole, whole_end) = run(stream, limits, 0);
    if step != 0 {
        let (split, split_end) = run(stream, limits, step);
        if too_big(&whole_end) || too_big(&split_end) {
            // Over-long lines are refused on the bytes seen so far, as Redis does: where the
            // reads fall decides which command sees the error.
            let n = whole.len().min(split.len());
            assert_eq!(whole[..n], split[..n]);
        } else {
            assert_eq!(
                whole, split,
                "commands differ when read {step} bytes at a time"
            );
            assert_eq!(whole_end, split_end);
        }
    }
});
