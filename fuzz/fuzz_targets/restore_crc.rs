//! RESTORE's payload check and loader (`cinnabar_rdb::restore_payload`) with a valid footer:
//! the input is the payload body (type byte + value); the harness appends RDB version 10 and
//! the right CRC-64, so every input gets past `verifyDumpPayload` to the deep value checks.
//!
//! Checked: no panic; the footer is never the reason for a refusal; an accepted value
//! survives DUMP → RESTORE → DUMP unchanged.
//!
//! Bound: as `rdb_file` (one allocation ≤ 2048 × input + 256 KB; see there why).
#![no_main]

use cinnabar_fuzz::{guarded, values, Bound};
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_rdb::{crc64, restore_payload, RdbError};
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = cinnabar_fuzz::RDB_BOUND;

fuzz_target!(|data: &[u8]| {
    let limits = TypeLimits::default();
    let mut payload = Vec::with_capacity(data.len() + 10);
    payload.extend_from_slice(data);
    payload.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let r = guarded(data.len(), &BOUND, || restore_payload(&payload, &limits));
    match r {
        Ok(v) => guarded(data.len(), &BOUND, || {
            values::round_trip(&v, &limits, data.len() % 2 == 0)
        }),
        Err(RdbError::Footer) => panic!("a payload with a valid footer refused as such"),
        Err(e) => {
            if std::env::var_os("CINNABAR_FUZZ_VERBOSE").is_some() {
                eprintln!("refused: {e}");
            }
        }
    }
});
