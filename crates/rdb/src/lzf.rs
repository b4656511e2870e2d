//! LZF, the compression Redis applies to RDB strings. The format (liblzf's):
//!
//! - `000LLLLL` then L+1 literal bytes (1..=32);
//! - `LLLooooo oooooooo`: copy L+2 bytes (L = 1..=6) from `offset + 1` bytes back;
//! - `111ooooo LLLLLLLL oooooooo`: copy L+9 bytes from `offset + 1` bytes back.
//!
//! The compressor follows liblzf's greedy parse as Redis builds it (16-bit hash of the next
//! three bytes, "very fast" re-hashing after a match, no match against position 0), so its
//! output is the bytes Redis writes. The decompressor checks every reference.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn first(b: &[u8], p: usize) -> u32 {
    (u32::from(b[p]) << 8) | u32::from(b[p + 1])
}

#[inline]
fn next(v: u32, b: &[u8], p: usize) -> u32 {
    (v << 8) | u32::from(b[p + 2])
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `out_len` bytes; None when it does not fit (or the input is
/// shorter than 3 bytes).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len < 3 || out_len == 0 || in_len >= u32::MAX as usize {
        return None;
    }
    HTAB.with(|t| {
        let mut t = t.borrow_mut();
        t.generation = t.generation.wrapping_add(1);
        if t.generation == 0 || t.slots.len() != HSIZE {
            // First use, or the generation counter wrapped: really clear the table.
            t.slots.clear();
            t.slots.resize(HSIZE, 0);
            t.generation = 1;
        }
        let generation = t.generation;
        compress_with(
            input,
            out_len,
            &mut HashTable {
                slots: &mut t.slots,
                generation,
            },
        )
    })
}

/// The reusable hash table: each slot holds `generation << 32 | (position + 1)`; a slot of
/// another generation is empty, so a call need not clear 64K slots.
struct Table {
    slots: Vec<u64>,
    generation: u32,
}

thread_local! {
    static HTAB: std::cell::RefCell<Table> = const {
        std::cell::RefCell::new(Table { slots: Vec::new(), generation: 0 })
    };
}

struct HashTable<'a> {
    slots: &'a mut [u64],
    generation: u32,
}

impl HashTable<'_> {
    /// The position + 1 stored in `slot` by this call, 0 if none.
    #[inline]
    fn get(&self, slot: usize) -> usize {
        let v = self.slots[slot];
        if (v >> 32) as u32 == self.generation {
            (v & 0xffff_ffff) as usize
        } else {
            0
        }
    }

    #[inline]
    fn set(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = (u64::from(self.generation) << 32) | (pos as u64 + 1);
    }
}

fn compress_with(input: &[u8], out_len: usize, htab: &mut HashTable) -> Option<Vec<u8>> {
    let in_len = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(out_len + 1);
    // `out` holds the bytes written so far; `op` is the write cursor (the byte at out[op - lit
    // - 1] is the pending literal-run header).
    let mut lit: usize = 0;
    out.push(0); // start run
    let mut ip: usize = 0;
    let mut hval = first(input, ip);
    while ip + 2 < in_len {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip);
        let matched = if r == 0 {
            None
        } else {
            let rf = r - 1;
            let off = ip - rf - 1;
            (off < MAX_OFF
                && rf > 0
                && input[rf + 2] == input[ip + 2]
                && input[rf] == input[ip]
                && input[rf + 1] == input[ip + 1])
                .then_some((rf, off))
        };
        if let Some((rf, off)) = matched {
            let mut len: usize = 2;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            let op = out.len();
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            // Close the literal run (or drop its empty header).
            let hdr = op - lit - 1;
            if lit == 0 {
                out.truncate(op - 1);
            } else {
                out[hdr] = (lit - 1) as u8;
            }
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[rf + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[rf + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out.push(((off >> 8) + (len << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            lit = 0;
            out.push(0); // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = first(input, ip);
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip);
            ip += 1;
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip);
            ip += 1;
        } else {
            if out.len() >= out_len {
                return None;
            }
            lit += 1;
            out.push(input[ip]);
            ip += 1;
            if lit == MAX_LIT {
                let hdr = out.len() - lit - 1;
                out[hdr] = (lit - 1) as u8;
                lit = 0;
                out.push(0);
            }
        }
    }
    if out.len() + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out.push(input[ip]);
        ip += 1;
        if lit == MAX_LIT {
            let hdr = out.len() - lit - 1;
            out[hdr] = (lit - 1) as u8;
            lit = 0;
            out.push(0);
        }
    }
    let hdr = out.len() - lit - 1;
    if lit == 0 {
        out.truncate(out.len() - 1);
    } else {
        out[hdr] = (lit - 1) as u8;
    }
    if out.len() > out_len {
        return None;
    }
    Some(out)
}

/// Decompresses `input`, which must expand to exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if out.len() + n > out_len {
                return None;
            }
            let lits = input.get(ip..ip + n)?;
            out.extend_from_slice(lits);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            let mut back = (ctrl & 0x1f) << 8;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            back += usize::from(*input.get(ip)?);
            ip += 1;
            let len = len + 2;
            if out.len() + len > out_len {
                return None;
            }
            let start = out.len().checked_sub(back + 1)?;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len().saturating_sub(4).max(1)) {
            assert!(c.len() <= data.len().saturating_sub(4).max(1));
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
        // With a generous output bound it always compresses (maybe expanding).
        let c = compress(data, data.len() + data.len() / 16 + 64);
        if data.len() >= 3 {
            let c = c.unwrap_or_default();
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
    }

    #[test]
    fn round_trips() {
        round_trip(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        round_trip(b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc!");
        let mut x: u32 = 1;
        let mut rnd = Vec::new();
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            rnd.push((x % 7) as u8 + b'a');
        }
        round_trip(&rnd);
        for n in [3, 4, 5, 20, 21, 33, 34, 100, 1000, 4999] {
            round_trip(&rnd[..n]);
        }
        let long: Vec<u8> = std::iter::repeat_n(b"0123456789".iter().copied(), 2000)
            .flatten()
            .collect();
        round_trip(&long);
    }

    #[test]
    fn incompressible_gives_none() {
        let data: Vec<u8> = (0..=255u8).collect();
        assert!(compress(&data, data.len() - 4).is_none());
    }

    #[test]
    fn decompress_rejects_bad_input() {
        // Back reference before the start.
        assert!(decompress(&[0x20, 0x05], 3).is_none());
        // Truncated literal.
        assert!(decompress(&[0x05, b'a'], 6).is_none());
        // Wrong declared length.
        assert!(decompress(&[0x00, b'a'], 2).is_none());
        assert_eq!(
            decompress(&[0x00, b'a', 0x20, 0x00], 4).as_deref(),
            Some(&b"aaaa"[..])
        );
    }
}
