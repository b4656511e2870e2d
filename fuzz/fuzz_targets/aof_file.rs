//! One AOF file as the server loads it (`server/src/aof/load.rs::load_file`): a file starting
//! with `REDIS` is an RDB preamble, read by `cinnabar_rdb::Loader` up to its end, then the
//! command tail from that offset; otherwise commands from offset 0, through
//! `cinnabar_aof::AofReader` (commands, MULTI/EXEC transactions, `#` annotations, truncated
//! tail and bad format by offset).
//!
//! Checked: no panic; offsets stay within the file and never before the end of the RDB part;
//! a truncated file cut at the `valid_up_to` offset the reader reports (what
//! `aof-load-truncated yes` does) loads cleanly and gives the same commands.
//!
//! Bound: one allocation ≤ 2048 × input + 2 MB: as `rdb_file` for the RDB preamble. The
//! command part alone needs far less: an argument costs a 24-byte `Vec` and takes at least
//! 6 input bytes (`$0\r\n\r\n`); a bulk's buffer is pre-allocated up to 1 MB and then grows
//! only as its bytes arrive; the read buffer grows by 64 KB.
#![no_main]

use cinnabar_aof::{AofReader, Item, ReadError};
use cinnabar_fuzz::{guarded, Bound, MB};
use cinnabar_keyspace::types::TypeLimits;
use libfuzzer_sys::fuzz_target;

const BOUND: Bound = Bound {
    per_byte: 2048,
    slack: 2 * MB,
    total_per_byte: 8192,
    total_slack: 16 * MB,
};

/// How loading a file ended.
#[derive(Debug)]
enum End {
    Clean,
    /// The RDB part failed (fatal).
    Rdb,
    Truncated(u64),
    Format,
}

/// Loads `data` as `load_file` does; returns the commands/transactions and how it ended.
fn load(data: &[u8], total: usize) -> (Vec<Item>, End) {
    let limits = TypeLimits::default();
    let mut reader = AofReader::new(data);
    let mut start = 0u64;
    let preamble = guarded(total, &BOUND, || reader.has_rdb_preamble());
    if preamble.expect("reading a slice cannot fail") {
        let mut loader = cinnabar_rdb::Loader::new(data);
        loop {
            match guarded(total, &BOUND, || loader.next(&limits)) {
                Err(_) => return (Vec::new(), End::Rdb),
                Ok(None | Some(cinnabar_rdb::Item::Eof)) => break,
                Ok(Some(_)) => {}
            }
        }
        let rdb_len = loader.consumed();
        assert!(rdb_len <= data.len() as u64);
        if rdb_len >= data.len() as u64 {
            return (Vec::new(), End::Clean);
        }
        start = rdb_len;
        reader = AofReader::starting_at(&data[rdb_len as usize..], rdb_len);
    }
    let mut items = Vec::new();
    loop {
        let r = guarded(total, &BOUND, || reader.next_item());
        assert!(reader.position() <= data.len() as u64);
        assert!(reader.valid_up_to() >= start && reader.valid_up_to() <= reader.position());
        match r {
            Ok(None) => return (items, End::Clean),
            Ok(Some(Item::Timestamp(_))) => {}
            Ok(Some(it)) => items.push(it),
            Err(ReadError::Truncated { valid_up_to, .. }) => {
                assert!(valid_up_to >= start && valid_up_to <= data.len() as u64);
                return (items, End::Truncated(valid_up_to));
            }
            Err(ReadError::Format {
                offset,
                valid_up_to,
                ..
            }) => {
                assert!(valid_up_to >= start && valid_up_to <= offset);
                assert!(offset <= data.len() as u64);
                return (items, End::Format);
            }
            Err(ReadError::Io(e)) => panic!("I/O error reading a slice: {e}"),
        }
        // Stays cheap on inputs of millions of empty commands.
        if items.len() > 1_000_000 {
            return (items, End::Clean);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (items, end) = load(data, data.len());
    if let End::Truncated(at) = end {
        let (again, end2) = load(&data[..at as usize], data.len());
        assert!(
            matches!(end2, End::Clean),
            "the truncated file ends {end2:?}"
        );
        assert_eq!(items, again, "the truncated file gives other commands");
    }
});
