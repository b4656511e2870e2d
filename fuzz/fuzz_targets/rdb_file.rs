//! The RDB file loader (`cinnabar_rdb::Loader`), item by item as the server loads a file, with
//! Redis's default type limits.
//!
//! Checked: no panic; the loader never claims to have consumed more than the file; after an
//! error or `Eof` it yields nothing more; every key's value survives DUMP → RESTORE → DUMP
//! unchanged (what the loader accepts, the rest of the server can handle).
//!
//! Bound: one allocation ≤ 2048 × input + 256 KB. An LZF string may legitimately expand 90×
//! (a 3-byte back reference yields 264 bytes) and a decompressed listpack or ziplist entry of
//! 2 bytes becomes a 24-byte element while it is checked (≈1080×), doubled by `Vec` growth;
//! the slack covers the first 64 KB read chunk of a long string (then chunks double, up to
//! 1 MB, only as its bytes arrive), the 64 KB read buffer, and pre-allocations capped at
//! 4096 elements. Live memory ≤ 8192 × input + 16 MB (a loaded value's own
//! structures on top of that).
#![no_main]

use cinnabar_fuzz::{guarded, values, Bound};
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_rdb::{Item, Loader};
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = cinnabar_fuzz::RDB_BOUND;

fuzz_target!(|data: &[u8]| {
    let limits = TypeLimits::default();
    let mut loader = Loader::new(data);
    let mut done = false;
    for _ in 0..100_000 {
        let r = guarded(data.len(), &BOUND, || loader.next(&limits));
        assert!(loader.consumed() <= data.len() as u64);
        match r {
            Ok(Some(Item::Key { value, .. })) => {
                assert!(!done);
                guarded(data.len(), &BOUND, || {
                    values::round_trip(&value, &limits, data.len() % 2 == 0)
                });
            }
            Ok(Some(Item::Eof)) => {
                assert!(!done);
                done = true;
            }
            Ok(Some(_)) => assert!(!done),
            Ok(None) => break,
            Err(e) => {
                if std::env::var_os("CINNABAR_FUZZ_VERBOSE").is_some() {
                    eprintln!("refused: {e}");
                }
                break;
            }
        }
    }
    assert!(matches!(
        guarded(data.len(), &BOUND, || loader.next(&limits)),
        Ok(None)
    ));
});
