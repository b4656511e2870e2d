//! The one replication buffer: the propagated stream, kept once, in blocks, shared by every
//! replica and the backlog. Each replica holds only its read offset; a block is freed when the
//! backlog no longer needs it (more than `repl-backlog-size` of newer history exists) and every
//! replica has sent it. Partial resynchronization (PSYNC replid offset → +CONTINUE) serves
//! from the same blocks.

use std::collections::VecDeque;
use std::rc::Rc;

/// Bytes per block.
const BLOCK: usize = 16 * 1024;

#[derive(Default)]
pub struct ReplBuf {
    blocks: VecDeque<Rc<Vec<u8>>>,
    /// Replication offset of the first byte of `blocks[0]`.
    first: u64,
    /// Bytes held.
    len: u64,
    /// The backlog exists (created when the first replica attaches, as Redis does).
    pub active: bool,
}

impl ReplBuf {
    /// Starts holding history from `offset` (the next byte to be appended).
    pub fn activate(&mut self, offset: u64) {
        if !self.active {
            self.active = true;
            self.blocks.clear();
            self.first = offset;
            self.len = 0;
        }
    }

    /// Frees everything (repl-backlog-ttl, or a new history).
    pub fn deactivate(&mut self) {
        self.active = false;
        self.blocks.clear();
        self.len = 0;
    }

    /// Restarts the history at `offset` (after a full sync from a new master).
    pub fn reset(&mut self, offset: u64) {
        self.blocks.clear();
        self.first = offset;
        self.len = 0;
    }

    pub fn append(&mut self, mut data: &[u8]) {
        if !self.active {
            return;
        }
        self.len += data.len() as u64;
        while !data.is_empty() {
            let room = match self.blocks.back_mut().and_then(Rc::get_mut) {
                Some(b) if b.len() < BLOCK => b,
                _ => {
                    self.blocks.push_back(Rc::new(Vec::with_capacity(BLOCK)));
                    match self.blocks.back_mut().and_then(Rc::get_mut) {
                        Some(b) => b,
                        None => return,
                    }
                }
            };
            let n = (BLOCK - room.len()).min(data.len());
            room.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// Offset of the first byte held.
    pub fn first_offset(&self) -> u64 {
        self.first
    }

    /// Offset just past the last byte held.
    pub fn end_offset(&self) -> u64 {
        self.first + self.len
    }

    pub fn histlen(&self) -> u64 {
        self.len
    }

    /// True when the bytes from `offset` on are all held (PSYNC can continue from there).
    pub fn has_from(&self, offset: u64) -> bool {
        self.active && offset >= self.first && offset <= self.end_offset()
    }

    /// The blocks holding `[offset, end)`, and where `offset` falls in the first of them.
    pub fn read_from(&self, offset: u64) -> (Vec<Rc<Vec<u8>>>, usize) {
        if offset < self.first || offset >= self.end_offset() {
            return (Vec::new(), 0);
        }
        let mut skip = offset - self.first;
        let mut out = Vec::new();
        let mut start = 0usize;
        for b in &self.blocks {
            let l = b.len() as u64;
            if out.is_empty() {
                if skip >= l {
                    skip -= l;
                    continue;
                }
                start = skip as usize;
            }
            out.push(b.clone());
        }
        (out, start)
    }

    /// Frees leading blocks that neither the backlog (`keep` bytes of history) nor any reader
    /// (the lowest replica offset, if any) needs.
    pub fn trim(&mut self, keep: u64, min_reader: Option<u64>) {
        while let Some(b) = self.blocks.front() {
            let l = b.len() as u64;
            let after = self.len - l;
            let reader_done = min_reader.is_none_or(|m| m >= self.first + l);
            if after >= keep && reader_done && self.blocks.len() > 1 {
                self.blocks.pop_front();
                self.first += l;
                self.len -= l;
            } else {
                break;
            }
        }
    }

    /// Memory held by the blocks.
    pub fn mem(&self) -> usize {
        self.blocks.iter().map(|b| b.capacity()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &ReplBuf, off: u64) -> Vec<u8> {
        let (blocks, start) = b.read_from(off);
        let mut v = Vec::new();
        for (i, x) in blocks.iter().enumerate() {
            v.extend_from_slice(if i == 0 { &x[start..] } else { &x[..] });
        }
        v
    }

    #[test]
    fn append_read_trim() {
        let mut b = ReplBuf::default();
        b.append(b"ignored while inactive");
        b.activate(100);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        b.append(&data[..30_000]);
        b.append(&data[30_000..]);
        assert_eq!(b.end_offset(), 100_100);
        assert_eq!(read_all(&b, 100), data);
        assert_eq!(read_all(&b, 100 + 54_321), &data[54_321..]);
        assert!(read_all(&b, 100_100).is_empty());
        // A reader at 150 keeps everything from its block on.
        b.trim(10, Some(150));
        assert_eq!(b.first_offset(), 100);
        // Without readers, only what the backlog needs (rounded to blocks) stays.
        b.trim(20_000, None);
        assert!(b.histlen() >= 20_000 && b.histlen() < 20_000 + 2 * BLOCK as u64);
        let f = b.first_offset();
        assert!(b.has_from(f) && !b.has_from(f - 1) && b.has_from(100_100));
        assert_eq!(read_all(&b, f), &data[(f - 100) as usize..]);
    }
}
