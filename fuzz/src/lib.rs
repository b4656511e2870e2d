//! Shared by every fuzz target: a global allocator that turns "an allocation beyond what the
//! input justifies" into a crash libFuzzer records, and the checks several targets share.
//!
//! The bound is per target ([`Bound`]): one allocation may not exceed
//! `per_byte × input length + slack`, and the bytes live at any moment of the run (counted
//! from the start of the run) may not exceed `total_per_byte × input length + total_slack`.
//! Each target's `BOUND` says why its factors are what they are. The check is armed only while
//! the code under test runs ([`guarded`]), not while the harness keeps its own notes.
//!
//! `CINNABAR_FUZZ_PEAKS=1` in the environment prints every new record of the largest single
//! allocation and of the live bytes relative to the input length (to tune or justify a bound).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// How much memory an input of `n` bytes may make the code under test allocate.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Bytes per input byte for one allocation.
    pub per_byte: usize,
    /// Constant part for one allocation (fixed-size buffers, capped pre-allocations).
    pub slack: usize,
    /// Bytes per input byte for everything live at once.
    pub total_per_byte: usize,
    /// Constant part for everything live at once.
    pub total_slack: usize,
}

impl Bound {
    fn single(&self, n: usize) -> usize {
        self.per_byte.saturating_mul(n).saturating_add(self.slack)
    }

    fn total(&self, n: usize) -> usize {
        self.total_per_byte
            .saturating_mul(n)
            .saturating_add(self.total_slack)
    }
}

/// One mebibyte.
pub const MB: usize = 1 << 20;

/// The bound of the RDB and RESTORE targets (see `rdb_file` for why these figures).
pub const RDB_BOUND: Bound = Bound {
    per_byte: 2048,
    slack: MB / 4,
    total_per_byte: 8192,
    total_slack: 16 * MB,
};

static ARMED: AtomicBool = AtomicBool::new(false);
static SINGLE_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static TOTAL_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated minus bytes freed, since the process started.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// `LIVE` when the current run was armed.
static BASELINE: AtomicIsize = AtomicIsize::new(0);
static PEAK_SINGLE: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE: AtomicUsize = AtomicUsize::new(0);

/// The fuzzers' global allocator: the system allocator plus the bound checks.
pub struct BoundedAlloc;

#[global_allocator]
static GLOBAL: BoundedAlloc = BoundedAlloc;

/// Writes `v` in decimal into `buf`, returns the digits.
fn fmt_num(v: usize, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Reports an over-allocation and aborts (libFuzzer saves the input as a crash). Allocates
/// nothing: an allocator must not unwind, and must not re-enter itself.
#[cold]
fn over(what: &[u8], size: usize, limit: usize) -> ! {
    let mut a = [0u8; 24];
    let mut b = [0u8; 24];
    let mut c = [0u8; 24];
    let n = INPUT_LEN.load(Relaxed);
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(b"\n==cinnabar-fuzz== ");
    let _ = e.write_all(what);
    let _ = e.write_all(b" of ");
    let _ = e.write_all(fmt_num(size, &mut a));
    let _ = e.write_all(b" bytes exceeds the bound of ");
    let _ = e.write_all(fmt_num(limit, &mut b));
    let _ = e.write_all(b" bytes for an input of ");
    let _ = e.write_all(fmt_num(n, &mut c));
    let _ = e.write_all(b" bytes\n");
    std::process::abort();
}

#[inline]
fn account(grow: usize, shrink: usize) {
    let live =
        LIVE.fetch_add(grow as isize - shrink as isize, Relaxed) + grow as isize - shrink as isize;
    if !ARMED.load(Relaxed) {
        return;
    }
    if grow > 0 {
        let single = SINGLE_LIMIT.load(Relaxed);
        if grow > single {
            over(b"one allocation", grow, single);
        }
        if grow > PEAK_SINGLE.load(Relaxed) {
            PEAK_SINGLE.store(grow, Relaxed);
        }
    }
    let used = (live - BASELINE.load(Relaxed)).max(0) as usize;
    if used > PEAK_LIVE.load(Relaxed) {
        PEAK_LIVE.store(used, Relaxed);
        let total = TOTAL_LIMIT.load(Relaxed);
        if used > total {
            over(b"live memory", used, total);
        }
    }
}

unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size(), 0);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(layout.size(), 0);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(0, layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size, layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

static RECORD_SINGLE: AtomicUsize = AtomicUsize::new(0);
static RECORD_LIVE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` (the code under test, for an input of `input_len` bytes) with the bound armed.
pub fn guarded<T>(input_len: usize, bound: &Bound, f: impl FnOnce() -> T) -> T {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // The LZF compressor's hash table (512 KB, allocated once per thread) is the encoder's,
        // used by the round-trip checks, not something an input makes the loader allocate.
        values::warm_up();
        // A panic's report (backtrace symbolization) allocates freely: not the code under test.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            ARMED.store(false, Relaxed);
            prev(info);
        }));
    });
    INPUT_LEN.store(input_len, Relaxed);
    SINGLE_LIMIT.store(bound.single(input_len), Relaxed);
    TOTAL_LIMIT.store(bound.total(input_len), Relaxed);
    PEAK_SINGLE.store(0, Relaxed);
    PEAK_LIVE.store(0, Relaxed);
    BASELINE.store(LIVE.load(Relaxed), Relaxed);
    ARMED.store(true, Relaxed);
    let r = f();
    ARMED.store(false, Relaxed);
    static PEAKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *PEAKS.get_or_init(|| std::env::var_os("CINNABAR_FUZZ_PEAKS").is_some()) {
        report_peaks(input_len);
    }
    r
}

/// Prints new records of allocation per input byte (beyond 64 KB, where the slack does not
/// explain them).
fn report_peaks(n: usize) {
    let n1 = n.max(1);
    let single = PEAK_SINGLE.load(Relaxed);
    let live = PEAK_LIVE.load(Relaxed);
    if single > 64 * 1024 && single / n1 > RECORD_SINGLE.load(Relaxed) {
        RECORD_SINGLE.store(single / n1, Relaxed);
        eprintln!(
            "==cinnabar-fuzz== peak single allocation {single} bytes for {n} input bytes ({}x)",
            single / n1
        );
    }
    if live > 64 * 1024 && live / n1 > RECORD_LIVE.load(Relaxed) {
        RECORD_LIVE.store(live / n1, Relaxed);
        eprintln!(
            "==cinnabar-fuzz== peak live memory {live} bytes for {n} input bytes ({}x)",
            live / n1
        );
    }
}

/// Checks for values the RDB loader accepted: the value's DUMP loads again, and dumping that
/// gives the same bytes (what the loader accepts, the rest of the server can handle).
pub mod values {
    use cinnabar_keyspace::types::TypeLimits;
    use cinnabar_keyspace::value::Value;
    use cinnabar_rdb::{dump_payload, restore_payload, EncodeOpts};

    /// DUMP → RESTORE → DUMP gives the same value in the same encoding.
    pub fn round_trip(v: &Value, limits: &TypeLimits, compress: bool) {
        let opts = EncodeOpts { compress };
        let p = dump_payload(v, limits, &opts);
        let v2 = match restore_payload(&p, limits) {
            Ok(v2) => v2,
            Err(e) => panic!("a loaded value's DUMP does not RESTORE: {e}"),
        };
        assert!(
            canonical(v, limits) == canonical(&v2, limits),
            "the restored value differs"
        );
    }

    /// A value's DUMP, except for hash tables (sets, hashes), whose order depends on the order
    /// of insertion: their encoding and sorted contents.
    fn canonical(v: &Value, limits: &TypeLimits) -> Vec<u8> {
        let mut items: Vec<Vec<u8>> = match v {
            Value::Set(s) if !s.is_intset() => {
                s.iter().map(|m| m.with_bytes(|b| b.to_vec())).collect()
            }
            Value::Hash(h) if !h.is_packed() => h
                .iter()
                .map(|(f, x)| {
                    let mut e = (f.len() as u64).to_le_bytes().to_vec();
                    e.extend_from_slice(f);
                    e.extend_from_slice(x);
                    e
                })
                .collect(),
            _ => return dump_payload(v, limits, &EncodeOpts { compress: false }),
        };
        items.sort();
        let mut out = b"table".to_vec();
        for it in items {
            out.extend_from_slice(&(it.len() as u64).to_le_bytes());
            out.extend_from_slice(&it);
        }
        out
    }

    /// Allocates what the encoder allocates once per thread.
    pub fn warm_up() {
        let v = Value::from_bytes(&[b'x'; 100]);
        let _ = dump_payload(&v, &TypeLimits::default(), &EncodeOpts { compress: true });
    }

    /// Type limits chosen by two input bytes: Redis's defaults or small ones (so that loading
    /// converts encodings).
    pub fn limits_from(a: u8, b: u8) -> TypeLimits {
        let d = TypeLimits::default();
        if a & 1 == 0 {
            return d;
        }
        let small = |x: u8| usize::from(x % 8);
        TypeLimits {
            hash_max_listpack_entries: small(a >> 1),
            hash_max_listpack_value: small(b),
            list_max_listpack_size: match a >> 4 {
                0..=4 => -(i64::from(a >> 4) + 1),
                x => i64::from(x) - 4,
            },
            set_max_intset_entries: small(b >> 3),
            zset_max_listpack_entries: small(a >> 2),
            zset_max_listpack_value: small(b >> 5),
            ..d
        }
    }
}
