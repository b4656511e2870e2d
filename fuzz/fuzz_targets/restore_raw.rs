//! RESTORE's payload check and loader (`cinnabar_rdb::restore_payload`) on raw input: the
//! footer (RDB version, CRC-64) as given. Mostly exercises the footer checks; seeds are real
//! DUMP payloads, so mutations that keep the footer valid reach the value loader too.
//!
//! Checked: no panic; an accepted payload's footer really is valid; an accepted value survives
//! DUMP → RESTORE → DUMP unchanged.
//!
//! Bound: as `rdb_file` (one allocation ≤ 2048 × input + 256 KB; see there why).
#![no_main]

use cinnabar_fuzz::{guarded, values, Bound};
use cinnabar_keyspace::types::TypeLimits;
use cinnabar_rdb::{crc64, restore_payload};
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = cinnabar_fuzz::RDB_BOUND;

fuzz_target!(|data: &[u8]| {
    let limits = TypeLimits::default();
    let r = guarded(data.len(), &BOUND, || restore_payload(data, &limits));
    if let Ok(v) = r {
        let n = data.len();
        assert!(n >= 10);
        assert!(u16::from_le_bytes([data[n - 10], data[n - 9]]) <= 10);
        let mut c = [0u8; 8];
        c.copy_from_slice(&data[n - 8..]);
        assert_eq!(crc64(&data[..n - 8]), u64::from_le_bytes(c));
        guarded(data.len(), &BOUND, || {
            values::round_trip(&v, &limits, n % 2 == 0)
        });
    }
});
