//! One RDB value (type byte + value, the body of a DUMP payload) through the object loader,
//! with the type limits picked by the first two input bytes (Redis's defaults, or small ones
//! so that loading converts encodings) and the checksum check off (DEBUG
//! SET-SKIP-CHECKSUM-VALIDATION 1): every input reaches the value checks.
//!
//! Checked: no panic; an accepted value survives DUMP → RESTORE → DUMP unchanged.
//!
//! Bound: as `rdb_file` (one allocation ≤ 2048 × input + 256 KB; see there why).
#![no_main]

use cinnabar_fuzz::{guarded, values, Bound};
use cinnabar_rdb::restore_payload_checked;
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = cinnabar_fuzz::RDB_BOUND;

fuzz_target!(|data: &[u8]| {
    let [a, b, body @ ..] = data else {
        return;
    };
    let limits = values::limits_from(*a, *b);
    let mut payload = Vec::with_capacity(body.len() + 10);
    payload.extend_from_slice(body);
    payload.extend_from_slice(&10u16.to_le_bytes());
    payload.extend_from_slice(&[0u8; 8]);
    let r = guarded(data.len(), &BOUND, || {
        restore_payload_checked(&payload, &limits, false)
    });
    if let Ok(v) = r {
        guarded(data.len(), &BOUND, || {
            values::round_trip(&v, &limits, a & 2 == 0)
        });
    }
});
