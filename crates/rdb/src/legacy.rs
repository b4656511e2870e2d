//! Decoders for the older compact blobs an RDB may hold: ziplist (Redis < 7), zipmap (Redis <
//! 2.6) and intset. Each validates the whole blob the way Redis's deep sanitization does.

use crate::listpack::Elem;

const ZL_HDR: usize = 10;
const ZL_END: u8 = 0xFF;

/// Validates a ziplist and returns its elements.
pub fn ziplist(zl: &[u8]) -> Option<Vec<Elem<'_>>> {
    let size = zl.len();
    if size < ZL_HDR + 1 {
        return None;
    }
    let bytes = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let header_count = usize::from(u16::from_le_bytes([zl[8], zl[9]]));
    if bytes != size || zl[size - 1] != ZL_END || tail > size - 1 {
        return None;
    }
    let last = size - 1; // the terminator's offset; entries must end at or before it
    let mut out = Vec::with_capacity(header_count.min(size / 2));
    let mut p = ZL_HDR;
    let mut prev_raw = 0usize;
    let mut prev: Option<usize> = None;
    while zl[p] != ZL_END {
        // prevlen
        let (prevlen, plen) = if zl[p] < 254 {
            (usize::from(zl[p]), 1)
        } else {
            let b = zl.get(p + 1..p + 5).filter(|_| p + 5 <= last)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
        };
        let q = p + plen;
        if q > last {
            return None;
        }
        let enc = zl[q];
        // (header bytes after prevlen, data bytes)
        let (lsize, dlen): (usize, usize) = match enc >> 6 {
            0 => (1, usize::from(enc & 0x3f)),
            1 => {
                let b1 = *zl.get(q + 1).filter(|_| q < last)?;
                (2, (usize::from(enc & 0x3f) << 8) | usize::from(b1))
            }
            2 => {
                let b = zl.get(q + 1..q + 5).filter(|_| q + 5 <= last)?;
                (5, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            }
            _ => match enc {
                0xC0 => (1, 2),
                0xD0 => (1, 4),
                0xE0 => (1, 8),
                0xF0 => (1, 3),
                0xFE => (1, 1),
                0xF1..=0xFD => (1, 0),
                _ => return None,
            },
        };
        let hdr = plen + lsize;
        let end = p.checked_add(hdr)?.checked_add(dlen)?;
        if end > last {
            return None;
        }
        if prevlen != prev_raw {
            return None;
        }
        let d = &zl[q + lsize..end];
        let e = match enc >> 6 {
            0..=2 => Elem::Str(d),
            _ => match enc {
                0xC0 => Elem::Int(i64::from(i16::from_le_bytes([d[0], d[1]]))),
                0xD0 => Elem::Int(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                0xE0 => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(d);
                    Elem::Int(i64::from_le_bytes(w))
                }
                0xF0 => {
                    // 24-bit signed, little-endian.
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    Elem::Int(i64::from(v))
                }
                0xFE => Elem::Int(i64::from(d[0] as i8)),
                _ => Elem::Int(i64::from(enc & 0x0f) - 1),
            },
        };
        out.push(e);
        prev_raw = end - p;
        prev = Some(p);
        p = end;
    }
    if p != size - 1 {
        return None;
    }
    if let Some(pr) = prev {
        if pr != tail {
            return None;
        }
    }
    if header_count != 65535 && header_count != out.len() {
        return None;
    }
    Some(out)
}

/// Validates a zipmap (Redis 2.4 small hash) and returns its (field, value) pairs.
pub fn zipmap(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let size = zm.len();
    if size < 2 || zm[size - 1] != 0xFF {
        return None;
    }
    let last = size - 1;
    let read_len = |p: usize| -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        if b < 254 {
            Some((usize::from(b), 1))
        } else {
            let w = zm.get(p + 1..p + 5)?;
            Some((u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize, 5))
        }
    };
    let mut out = Vec::new();
    let mut p = 1;
    while zm[p] != 0xFF {
        let (flen, s) = read_len(p)?;
        if p + s > last {
            return None;
        }
        let f_at = p + s;
        let f_end = f_at.checked_add(flen)?;
        if f_end > last {
            return None;
        }
        let (vlen, s) = read_len(f_end)?;
        if f_end + s > last {
            return None;
        }
        let free = usize::from(*zm.get(f_end + s)?);
        let v_at = f_end + s + 1;
        let v_end = v_at.checked_add(vlen)?;
        let next = v_end.checked_add(free)?;
        if next > last {
            return None;
        }
        out.push((&zm[f_at..f_end], &zm[v_at..v_end]));
        p = next;
    }
    if out.is_empty() {
        return None;
    }
    if zm[0] != 254 && usize::from(zm[0]) != out.len() {
        return None;
    }
    Some(out)
}

/// Validates an intset (width, then strictly ascending members) and returns the width and
/// the members.
pub fn intset(b: &[u8]) -> Option<(usize, Vec<i64>)> {
    if b.len() < 8 {
        return None;
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return None;
    }
    let count = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if count.checked_mul(width)?.checked_add(8)? != b.len() || count == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for c in b[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                i64::from_le_bytes(w)
            }
        };
        if let Some(&prev) = out.last() {
            if v <= prev {
                return None;
            }
        }
        out.push(v);
    }
    Some((width, out))
}

/// Builds a ziplist (tests only: Redis 7 never writes one).
#[cfg(test)]
pub fn build_ziplist(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev_len = 0usize;
    let mut tail = ZL_HDR;
    for it in items {
        let start = body.len();
        tail = ZL_HDR + start;
        if prev_len < 254 {
            body.push(prev_len as u8);
        } else {
            body.push(254);
            body.extend_from_slice(&(prev_len as u32).to_le_bytes());
        }
        match cinnabar_util::num::string2ll(it) {
            Some(v) if (0..=12).contains(&v) => body.push(0xF1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                body.push(0xFE);
                body.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xC0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-8388608..=8388607).contains(&v) => {
                body.push(0xF0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                body.push(0xD0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                body.push(0xE0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None => {
                let n = it.len();
                if n < 64 {
                    body.push(n as u8);
                } else if n < 16384 {
                    body.push(0x40 | (n >> 8) as u8);
                    body.push(n as u8);
                } else {
                    body.push(0x80);
                    body.extend_from_slice(&(n as u32).to_be_bytes());
                }
                body.extend_from_slice(it);
            }
        }
        prev_len = body.len() - start;
    }
    let total = ZL_HDR + body.len() + 1;
    let mut zl = Vec::with_capacity(total);
    zl.extend_from_slice(&(total as u32).to_le_bytes());
    zl.extend_from_slice(&(tail as u32).to_le_bytes());
    zl.extend_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(ZL_END);
    zl
}

/// Builds a zipmap (tests only).
#[cfg(test)]
pub fn build_zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut zm = vec![pairs.len().min(254) as u8];
    let put = |zm: &mut Vec<u8>, n: usize| {
        if n < 254 {
            zm.push(n as u8);
        } else {
            zm.push(254);
            zm.extend_from_slice(&(n as u32).to_le_bytes());
        }
    };
    for (f, v) in pairs {
        put(&mut zm, f.len());
        zm.extend_from_slice(f);
        put(&mut zm, v.len());
        zm.push(1); // one free byte
        zm.extend_from_slice(v);
        zm.push(0);
    }
    zm.push(0xFF);
    zm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_round_trip_and_fuzz() {
        let big = vec![b'q'; 300];
        let items: Vec<&[u8]> = vec![
            b"a",
            b"0",
            b"12",
            b"13",
            b"-1",
            b"200",
            b"-30000",
            b"8000000",
            b"-2000000000",
            b"9000000000",
            b"",
            &big,
            b"tail",
        ];
        let zl = build_ziplist(&items);
        let got = ziplist(&zl).unwrap_or_default();
        assert_eq!(got.iter().map(|e| e.to_vec()).collect::<Vec<_>>(), items);
        for n in 0..zl.len() {
            assert!(ziplist(&zl[..n]).is_none());
        }
        for i in 0..zl.len() {
            for x in [1u8, 0x40, 0x80, 0xff] {
                let mut c = zl.clone();
                c[i] ^= x;
                let _ = ziplist(&c);
            }
        }
    }

    #[test]
    fn zipmap_round_trip_and_fuzz() {
        let big = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"f1", b"v1"), (b"f2", &big), (b"", b"x")];
        let zm = build_zipmap(&pairs);
        assert_eq!(zipmap(&zm).unwrap_or_default(), pairs);
        for n in 0..zm.len() {
            assert!(zipmap(&zm[..n]).is_none());
        }
        for i in 0..zm.len() {
            let mut c = zm.clone();
            c[i] ^= 0xff;
            let _ = zipmap(&c);
        }
    }

    #[test]
    fn intset_checks() {
        let mut b = vec![2, 0, 0, 0, 3, 0, 0, 0];
        for v in [-5i16, 1, 300] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(intset(&b), Some((2, vec![-5, 1, 300])));
        let mut dup = b.clone();
        dup[10] = 0xfb;
        dup[11] = 0xff; // -5 twice
        assert!(intset(&dup).is_none());
        assert!(intset(&b[..b.len() - 1]).is_none());
        assert!(intset(&[2, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(intset(&[3, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }
}
