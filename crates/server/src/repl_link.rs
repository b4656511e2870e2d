//! What a replication link between two Cinnabar nodes adds to Redis's protocol.
//!
//! - **Negotiation.** The replica sends `REPLCONF cinnabar-features "<wanted…>"`; a Cinnabar
//!   master answers `+OK <granted…>` (a real Redis answers an error, and the link stays plain
//!   Redis protocol). Features: `rdb-channel`, `zstd`.
//! - **Compression** (`zstd`): after `+CONTINUE` or the `+FULLRESYNC` line, every byte the master
//!   sends on that connection is one zstd stream, flushed at each write so the replica can
//!   decode it at once ([`Compressor`], [`Decompressor`]). Offsets count the plain bytes.
//! - **Stream channel during a full sync** (`rdb-channel`): after `+FULLRESYNC <id> <offset>`
//!   on its first connection, the replica opens a second one and asks `PSYNC <id> <offset+1>`
//!   after `REPLCONF rdb-channel-for <first connection's client id>`. The master streams the
//!   live writes there at once and the first connection carries only the snapshot, so the
//!   master holds nothing for a syncing replica; the replica keeps the stream in a
//!   [`SyncBuf`] (memory up to a limit, then a file) until the snapshot is loaded, applies
//!   it, and goes on with that connection.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use zstd::stream::raw::{Decoder, Encoder, InBuffer, Operation as _, OutBuffer};

/// The features this side asks for / grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub rdb_channel: bool,
    pub zstd: bool,
}

impl Features {
    pub fn parse(words: &[u8]) -> Features {
        let mut f = Features::default();
        for w in words.split(|&b| b == b' ' || b == b',') {
            if w.eq_ignore_ascii_case(b"rdb-channel") {
                f.rdb_channel = true;
            } else if w.eq_ignore_ascii_case(b"zstd") {
                f.zstd = true;
            }
        }
        f
    }

    pub fn words(self) -> String {
        let mut v = Vec::new();
        if self.rdb_channel {
            v.push("rdb-channel");
        }
        if self.zstd {
            v.push("zstd");
        }
        v.join(" ")
    }
}

/// Bytes counted on a compressed link: plain (`raw`) and as sent (`wire`).
#[derive(Default, Debug)]
pub struct LinkBytes {
    pub raw: Cell<u64>,
    pub wire: Cell<u64>,
}

/// The master's side of a compressed link.
pub struct Compressor {
    enc: Encoder<'static>,
}

impl Compressor {
    pub fn new(level: i32) -> io::Result<Compressor> {
        Ok(Compressor {
            enc: Encoder::new(level)?,
        })
    }

    /// Compresses `data` and flushes, appending to `out`: the peer can decode all of it as
    /// soon as it arrives.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut input = InBuffer::around(data);
        while input.pos() < data.len() {
            out.reserve(data.len() / 2 + 4096);
            let pos = out.len();
            let mut o = OutBuffer::around_pos(out, pos);
            self.enc.run(&mut input, &mut o)?;
        }
        loop {
            out.reserve(4096);
            let pos = out.len();
            let mut o = OutBuffer::around_pos(out, pos);
            let left = self.enc.flush(&mut o)?;
            if left == 0 {
                return Ok(());
            }
        }
    }
}

impl Compressor {
    /// Ends the frame (the compressor is not used after this).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            out.reserve(4096);
            let pos = out.len();
            let mut o = OutBuffer::around_pos(out, pos);
            if self.enc.finish(&mut o, true)? == 0 {
                return Ok(());
            }
        }
    }
}

/// The replica's side of a compressed link. Input of any shape is safe: a corrupt stream is
/// an error (the link is dropped), and output grows only as the frame's window allows.
pub struct Decompressor {
    dec: Decoder<'static>,
}

impl Decompressor {
    pub fn new() -> io::Result<Decompressor> {
        let mut dec = Decoder::new()?;
        // A peer cannot make us hold a window larger than 128 MB.
        dec.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(27))?;
        Ok(Decompressor { dec })
    }

    /// Decodes `data`, appending the plain bytes to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut input = InBuffer::around(data);
        loop {
            out.reserve(64 * 1024);
            let pos = out.len();
            let cap = out.capacity();
            let mut o = OutBuffer::around_pos(out, pos);
            self.dec.run(&mut input, &mut o)?;
            let filled = o.pos();
            // Done when all input is consumed and the output was not the limit.
            if input.pos() >= data.len() && filled < cap {
                return Ok(());
            }
        }
    }
}

/// The replica's buffer for the stream received during a full sync: up to `mem_limit` bytes
/// in memory, the rest appended to a file in `dir` (removed when the buffer goes).
pub struct SyncBuf {
    mem: Vec<u8>,
    mem_pos: usize,
    mem_limit: usize,
    spill_path: PathBuf,
    spill: Option<File>,
    spill_written: u64,
    spill_read: u64,
    /// Bytes received in all.
    pub total: u64,
    /// Most bytes held at once.
    pub peak: u64,
    /// The reader stopped: why (an error), or `Ok` when asked to stop.
    pub done: Option<Result<(), String>>,
}

impl SyncBuf {
    pub fn new(mem_limit: usize, spill_path: PathBuf) -> SyncBuf {
        SyncBuf {
            mem: Vec::new(),
            mem_pos: 0,
            mem_limit,
            spill_path,
            spill: None,
            spill_written: 0,
            spill_read: 0,
            total: 0,
            peak: 0,
            done: None,
        }
    }

    /// Bytes held and not yet taken.
    pub fn len(&self) -> u64 {
        (self.mem.len() - self.mem_pos) as u64 + (self.spill_written - self.spill_read)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in the file.
    pub fn spilled(&self) -> u64 {
        self.spill_written - self.spill_read
    }

    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.total += data.len() as u64;
        let in_mem = self.mem.len() - self.mem_pos;
        if self.spill.is_none() && in_mem + data.len() <= self.mem_limit {
            if self.mem_pos > 0 && self.mem_pos >= self.mem.len() / 2 {
                self.mem.drain(..self.mem_pos);
                self.mem_pos = 0;
            }
            self.mem.extend_from_slice(data);
        } else {
            if self.spill.is_none() {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(&self.spill_path)?;
                self.spill = Some(f);
                self.spill_written = 0;
                self.spill_read = 0;
            }
            if let Some(f) = self.spill.as_mut() {
                f.write_all(data)?;
                self.spill_written += data.len() as u64;
            }
        }
        self.peak = self.peak.max(self.len());
        Ok(())
    }

    /// Takes up to `max` of the oldest bytes (memory first, then the file, which always holds
    /// the newer ones). Empty when nothing is held.
    pub fn take(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let in_mem = self.mem.len() - self.mem_pos;
        if in_mem > 0 {
            let n = in_mem.min(max);
            let out = self.mem[self.mem_pos..self.mem_pos + n].to_vec();
            self.mem_pos += n;
            if self.mem_pos == self.mem.len() {
                self.mem.clear();
                self.mem_pos = 0;
                if self.mem.capacity() > 1 << 20 {
                    self.mem = Vec::new();
                }
            }
            return Ok(out);
        }
        let Some(f) = self.spill.as_ref() else {
            return Ok(Vec::new());
        };
        let n = (self.spill_written - self.spill_read).min(max as u64) as usize;
        let mut out = vec![0u8; n];
        f.read_exact_at(&mut out, self.spill_read)?;
        self.spill_read += n as u64;
        if self.spill_read == self.spill_written {
            // All read back: newer bytes may live in memory again.
            self.spill = None;
            let _ = std::fs::remove_file(&self.spill_path);
        }
        Ok(out)
    }
}

impl Drop for SyncBuf {
    fn drop(&mut self) {
        if self.spill.take().is_some() {
            let _ = std::fs::remove_file(&self.spill_path);
        }
    }
}

/// The replica's end of a connection to its master: reads come out plain whether the
/// master compresses or not (after [`Link::start_decompress`]); writes (ACKs) are plain.
pub struct Link {
    pub sock: tokio::net::TcpStream,
    dec: Option<Decompressor>,
    pub bytes: std::rc::Rc<LinkBytes>,
}

impl Link {
    pub fn new(sock: tokio::net::TcpStream, bytes: std::rc::Rc<LinkBytes>) -> Link {
        Link {
            sock,
            dec: None,
            bytes,
        }
    }

    pub fn compressed(&self) -> bool {
        self.dec.is_some()
    }

    /// From here on the master's bytes are a zstd stream; `buf` holds what was already read
    /// past the last plain line, and is replaced by its decoding.
    pub fn start_decompress(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut d = Decompressor::new()?;
        let mut out = Vec::new();
        d.feed(buf, &mut out)?;
        self.bytes.raw.set(self.bytes.raw.get() + out.len() as u64);
        *buf = out;
        self.dec = Some(d);
        Ok(())
    }

    /// Reads what the master sent next, appending the plain bytes to `out`; 0 at the end of
    /// the connection. Cancel-safe: the only await is the socket read.
    pub async fn read(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        use tokio::io::AsyncReadExt as _;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = self.sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(0);
            }
            self.bytes.wire.set(self.bytes.wire.get() + n as u64);
            let before = out.len();
            match self.dec.as_mut() {
                None => out.extend_from_slice(&chunk[..n]),
                Some(d) => d.feed(&chunk[..n], out)?,
            }
            let got = out.len() - before;
            self.bytes.raw.set(self.bytes.raw.get() + got as u64);
            if got > 0 {
                return Ok(got);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_stream_decodes_write_by_write() {
        let mut c = Compressor::new(3).expect("encoder");
        let mut d = Decompressor::new().expect("decoder");
        let mut plain = Vec::new();
        let mut decoded = Vec::new();
        for i in 0..2000u32 {
            let cmd = format!(
                "*3\r\n$3\r\nSET\r\n$12\r\nuser:{i:07}\r\n$10\r\nvalue{:05}\r\n",
                i % 977
            );
            plain.extend_from_slice(cmd.as_bytes());
            let mut wire = Vec::new();
            c.compress(cmd.as_bytes(), &mut wire).expect("compress");
            // Each flushed write decodes completely, even split in two reads.
            let cut = wire.len() / 2;
            d.feed(&wire[..cut], &mut decoded).expect("feed");
            d.feed(&wire[cut..], &mut decoded).expect("feed");
            assert_eq!(decoded, plain);
        }
        // A finished frame followed by another one decodes as one stream.
        let mut f = Compressor::new(1).expect("encoder");
        let mut wire = Vec::new();
        f.compress(b"first frame;", &mut wire).expect("compress");
        f.finish(&mut wire).expect("finish");
        let mut c2 = Compressor::new(6).expect("encoder");
        c2.compress(b"second frame", &mut wire).expect("compress");
        let mut d2 = Decompressor::new().expect("decoder");
        let mut out2 = Vec::new();
        d2.feed(&wire, &mut out2).expect("feed");
        assert_eq!(out2, b"first frame;second frame");
        let mut big = vec![7u8; 3 << 20];
        big[1000] = 1;
        let mut wire = Vec::new();
        c.compress(&big, &mut wire).expect("compress");
        assert!(wire.len() < big.len() / 100);
        let mut out = Vec::new();
        d.feed(&wire, &mut out).expect("feed");
        assert_eq!(out, big);
    }

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        let mut d = Decompressor::new().expect("decoder");
        let mut out = Vec::new();
        assert!(d.feed(b"this is not zstd at all", &mut out).is_err());
    }

    #[test]
    fn sync_buffer_spills_to_a_file_and_keeps_order() {
        let dir = std::env::temp_dir().join(format!("cnb-syncbuf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("spill");
        let mut b = SyncBuf::new(100, path.clone());
        let mut all = Vec::new();
        let mut got = Vec::new();
        for i in 0..200u32 {
            let piece = format!("piece-{i};");
            all.extend_from_slice(piece.as_bytes());
            b.push(piece.as_bytes()).expect("push");
            if i % 7 == 0 {
                got.extend(b.take(33).expect("take"));
            }
        }
        assert!(path.exists(), "over the memory limit it spills");
        assert!(b.peak >= 100);
        loop {
            let t = b.take(50).expect("take");
            if t.is_empty() {
                break;
            }
            got.extend(t);
        }
        assert_eq!(got, all);
        assert!(b.is_empty() && !path.exists());
        b.push(b"again").expect("push");
        assert_eq!(b.take(100).expect("take"), b"again");
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
