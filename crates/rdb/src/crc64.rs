//! Redis's CRC-64 (Jones polynomial 0xad93d23594c935a9, reflected input and output, initial
//! value 0, no final xor). RDB files and DUMP payloads end with it, little-endian.

/// The polynomial in reflected (LSB-first) form.
const POLY_REFLECTED: u64 = 0xad93_d235_94c9_35a9u64.reverse_bits();

/// Slicing-by-8 tables, built at compile time.
static TABLES: [[u64; 256]; 8] = build_tables();

const fn build_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ POLY_REFLECTED
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// An incremental CRC-64 computation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Crc64 {
    crc: u64,
}

impl Crc64 {
    /// A fresh computation (crc 0).
    pub fn new() -> Self {
        Crc64 { crc: 0 }
    }

    /// Feeds `b`.
    pub fn update(&mut self, b: &[u8]) {
        let mut crc = self.crc;
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let x = crc ^ u64::from_le_bytes(w);
            crc = TABLES[7][(x & 0xff) as usize]
                ^ TABLES[6][((x >> 8) & 0xff) as usize]
                ^ TABLES[5][((x >> 16) & 0xff) as usize]
                ^ TABLES[4][((x >> 24) & 0xff) as usize]
                ^ TABLES[3][((x >> 32) & 0xff) as usize]
                ^ TABLES[2][((x >> 40) & 0xff) as usize]
                ^ TABLES[1][((x >> 48) & 0xff) as usize]
                ^ TABLES[0][(x >> 56) as usize];
        }
        for &byte in chunks.remainder() {
            crc = TABLES[0][((crc ^ u64::from(byte)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.crc = crc;
    }

    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.crc
    }
}

/// The CRC-64 of `b` in one call.
pub fn crc64(b: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(b);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_vector() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        let whole = crc64(&data);
        for split in [0, 1, 7, 8, 9, 63, 500, 999, 1000] {
            let mut c = Crc64::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.finish(), whole, "split {split}");
        }
        // Byte at a time.
        let mut c = Crc64::new();
        for b in &data {
            c.update(std::slice::from_ref(b));
        }
        assert_eq!(c.finish(), whole);
    }
}
