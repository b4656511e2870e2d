//! The AOF manifest parser (`cinnabar_aof::Manifest::parse`, Redis's
//! `aofLoadManifestFromFile` rules: `fgets` lines, quoting, NUL ends a line).
//!
//! Checked: no panic; an accepted manifest that lists files, written back (`to_bytes`) parses to the same
//! manifest, and writing that gives the same bytes.
//!
//! Bound: one allocation ≤ 16 × input + 1 MB: a listed file costs a 40-byte entry plus its
//! name and takes at least 20 input bytes; a line is split into at most its length of
//! arguments.
#![no_main]

use cinnabar_aof::Manifest;
use cinnabar_fuzz::{guarded, Bound, MB};
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = Bound {
    per_byte: 16,
    slack: MB,
    total_per_byte: 64,
    total_slack: 4 * MB,
};

fuzz_target!(|data: &[u8]| {
    let r = guarded(data.len(), &BOUND, || Manifest::parse(data));
    if let Ok(m) = r {
        let bytes = guarded(data.len(), &BOUND, || m.to_bytes());
        if bytes.is_empty() {
            // Only comments: an empty manifest, written as nothing.
            assert!(m.is_empty());
            return;
        }
        let Some(m2) = (match guarded(data.len(), &BOUND, || Manifest::parse(&bytes)) {
            Ok(m2) => Some(m2),
            // Escaped (`\xHH`), a long name with control bytes can make a line longer than
            // the reader's 1024 bytes: Redis has the same limit on the same bytes.
            Err(e)
                if e.message == "The AOF manifest file contains too long line"
                    && bytes.split(|&b| b == b'\n').any(|l| l.len() >= 1023) =>
            {
                None
            }
            Err(e) => panic!("a written manifest does not parse: {:?}", e.log_lines()),
        }) else {
            return;
        };
        let mut a = m.clone();
        let mut b = m2.clone();
        a.dirty = false;
        b.dirty = false;
        assert_eq!(a, b, "the written manifest parses differently");
        assert_eq!(bytes, m2.to_bytes());
    }
});
