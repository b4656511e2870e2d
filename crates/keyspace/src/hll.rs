//! HyperLogLog in Redis's exact byte format, stored as a string value: a 16-byte header
//! (`HYLL`, encoding 0 = dense / 1 = sparse, 3 unused bytes, 8-byte little-endian cached
//! cardinality whose top bit marks it stale) followed by 16384 6-bit registers, either densely
//! packed (12288 bytes) or run-length coded (sparse opcodes ZERO, XZERO and VAL). Elements are
//! hashed with MurmurHash64A (seed 0xadc83b19) as Redis does, sparse updates split and merge
//! opcodes the same way, and a sparse value promotes to dense at the same points, so the bytes
//! match Redis's for the same operations. Cardinality uses Redis 7's improved estimator.

/// Registers: 2^14.
pub const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
pub const HDR: usize = 16;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;

/// A corrupted sparse representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash64A, as Redis uses it for HyperLogLog.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h = seed ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the run length of its hash (1..=51).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmur64a(ele, 0xadc83b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    hash >>= P;
    hash |= 1u64 << Q;
    (index, hash.trailing_zeros() as u8 + 1)
}

/// A new, empty HLL (sparse: one XZERO opcode covering every register).
pub fn new_sparse() -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    let l = REGISTERS - 1;
    v.push(((l >> 8) as u8) | 0x40);
    v.push((l & 0xff) as u8);
    v
}

/// True if `v` is an HLL value Redis would accept (magic, encoding, dense length).
pub fn is_valid(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

pub fn is_sparse(v: &[u8]) -> bool {
    v[4] == SPARSE
}

/// Marks the cached cardinality stale.
pub fn invalidate(v: &mut [u8]) {
    v[15] |= 1 << 7;
}

/// The cached cardinality, if valid.
pub fn cached(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0)
        .then(|| u64::from_le_bytes([v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]]))
}

pub fn set_cache(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let fb8 = 8 - fb;
    let v = val as u32;
    regs[byte] &= !((63u32 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 &= !((63u32 >> fb8) as u8);
        *b1 |= (v >> fb8) as u8;
    }
}

/// Calls `f(first_register, run_length, value)` for each sparse opcode; Err if the runs do
/// not cover exactly the 16384 registers.
fn sparse_runs(ops: &[u8], mut f: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < ops.len() {
        let b = ops[p];
        let (len, val, oplen) = if b & 0xc0 == 0 {
            ((b & 0x3f) as usize + 1, 0, 1)
        } else if b & 0xc0 == 0x40 {
            let n = *ops.get(p + 1).ok_or(Corrupt)? as usize;
            ((((b & 0x3f) as usize) << 8 | n) + 1, 0, 2)
        } else {
            (((b & 3) as usize) + 1, ((b >> 2) & 0x1f) + 1, 1)
        };
        if idx + len > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, len, val);
        idx += len;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// All 16384 register values.
pub fn registers(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut out = vec![0u8; REGISTERS];
    if is_sparse(v) {
        sparse_runs(&v[HDR..], |first, len, val| {
            if val != 0 {
                out[first..first + len].fill(val);
            }
        })?;
    } else {
        for (i, r) in out.iter_mut().enumerate() {
            *r = dense_get(&v[HDR..], i);
        }
    }
    Ok(out)
}

/// Converts a sparse HLL to dense in place (the header, cache included, is kept).
pub fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if !is_sparse(v) {
        return Ok(());
    }
    let regs = registers(v)?;
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&v[..HDR]);
    d[4] = DENSE;
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(&mut d[HDR..], i, r);
        }
    }
    *v = d;
    Ok(())
}

fn val_op(val: u8, len: usize) -> u8 {
    (((val - 1) << 2) | (len as u8 - 1)) | 0x80
}

fn zero_ops(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push(((l >> 8) as u8) | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Sets register `index` to `count` if larger, in Redis's way (sparse split + local merge, or
/// promotion to dense past `sparse_max` bytes or a value above 32). Ok(true) if it changed.
pub fn set(v: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if !is_sparse(v) {
        let regs = &mut v[HDR..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode covering `index`.
    let end = v.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let b = v[p];
        let oplen;
        if b & 0xc0 == 0 {
            span = (b & 0x3f) as usize + 1;
            oplen = 1;
        } else if b & 0x80 != 0 {
            span = (b & 3) as usize + 1;
            oplen = 1;
        } else {
            let n = *v.get(p + 1).ok_or(Corrupt)? as usize;
            span = (((b & 0x3f) as usize) << 8 | n) + 1;
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let b = v[p];
    let (is_zero, is_xzero, is_val) = (b & 0xc0 == 0, b & 0xc0 == 0x40, b & 0x80 != 0);
    let runlen = span;
    let mut merged_in_place = false;
    if is_val {
        let old = ((b >> 2) & 0x1f) + 1;
        if old >= count {
            return Ok(false);
        }
        if runlen == 1 {
            v[p] = val_op(count, 1);
            merged_in_place = true;
        }
    }
    if !merged_in_place && is_zero && runlen == 1 {
        v[p] = val_op(count, 1);
        merged_in_place = true;
    }
    if !merged_in_place {
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        if is_zero || is_xzero {
            if index != first {
                zero_ops(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                zero_ops(&mut seq, last - index);
            }
        } else {
            let cur = ((b >> 2) & 0x1f) + 1;
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
        let oldlen = if is_xzero { 2 } else { 1 };
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && (v.len() as isize + delta) as usize > sparse_max {
            return promote(v, index, count);
        }
        v.splice(p..p + oldlen, seq);
    }
    // Merge adjacent VAL opcodes of equal value around the change (up to 5 opcodes).
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        } else if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < v.len() && v[p + 1] & 0x80 != 0 {
            let v1 = ((b >> 2) & 0x1f) + 1;
            let n = v[p + 1];
            let v2 = ((n >> 2) & 0x1f) + 1;
            if v1 == v2 {
                let len = (b & 3) as usize + 1 + (n & 3) as usize + 1;
                if len <= VAL_MAX_LEN {
                    v[p + 1] = val_op(v1, len);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    let regs = &mut v[HDR..];
    if dense_get(regs, index) < count {
        dense_set(regs, index, count);
    }
    Ok(true)
}

/// Adds `ele`; Ok(true) if a register changed.
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set(v, index, count, sparse_max)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// The estimated cardinality of a set of register values.
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[r as usize & 63] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (0.721_347_520_444_481_7 * m * m / z).round() as u64
}

/// The human-readable opcodes of a sparse HLL (PFDEBUG DECODE).
pub fn decode(v: &[u8]) -> Result<String, Corrupt> {
    let mut parts = Vec::new();
    let ops = &v[HDR..];
    let mut p = 0;
    while p < ops.len() {
        let b = ops[p];
        if b & 0xc0 == 0 {
            parts.push(format!("z:{}", (b & 0x3f) as usize + 1));
            p += 1;
        } else if b & 0xc0 == 0x40 {
            let n = *ops.get(p + 1).ok_or(Corrupt)? as usize;
            parts.push(format!("Z:{}", (((b & 0x3f) as usize) << 8 | n) + 1));
            p += 2;
        } else {
            parts.push(format!("v:{},{}", ((b >> 2) & 0x1f) + 1, (b & 3) + 1));
            p += 1;
        }
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_roundtrip_and_estimates() {
        let mut d = vec![0u8; REGISTERS * 6 / 8];
        for i in 0..REGISTERS {
            dense_set(&mut d, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&d, i), (i % 64) as u8);
        }
        let mut h = new_sparse();
        for i in 0..20_000u32 {
            add(&mut h, format!("e{i}").as_bytes(), 3000).unwrap();
        }
        let c = count_registers(&registers(&h).unwrap()) as f64;
        assert!((c - 20_000.0).abs() / 20_000.0 < 0.05, "{c}");
        assert!(!is_sparse(&h));
    }
}
