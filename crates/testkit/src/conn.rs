//! A raw RESP client over a blocking `TcpStream`.
//!
//! `Conn` writes whatever bytes a test gives it and reads back exactly one complete reply at a
//! time (framed by [`crate::resp::frame_len`]), keeping any bytes that belong to the next reply
//! in its buffer. Methods named `try_*` and `read_*` return `io::Result` so protocol tests can
//! see a closed connection; `cmd`/`call` panic with a readable message instead.

use crate::resp::{encode_command, escape, frame_len, parse_reply, split_args, Reply};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Default time to wait for one reply.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
    eof: bool,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for a reply")
}

impl Conn {
    /// Connects (with a 5 s connect timeout) to the first address that accepts.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    return Ok(Conn {
                        stream,
                        buf: Vec::new(),
                        timeout: DEFAULT_READ_TIMEOUT,
                        eof: false,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn connect_port(port: u16) -> io::Result<Conn> {
        Conn::connect(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The underlying socket, e.g. to shut down one direction.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// How long `read_reply_raw` waits for a complete reply.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn read_timeout(&self) -> Duration {
        self.timeout
    }

    /// Writes bytes as they are; panics if the write fails.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send_raw(bytes) {
            panic!("write of {} bytes failed: {e}", bytes.len());
        }
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends a command as a multibulk without reading the reply (for pipelining).
    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.send_raw(&encode_command(args));
    }

    /// Reads more bytes into the buffer, waiting at most until `deadline`. Ok(false) on EOF.
    fn fill(&mut self, deadline: Instant) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out());
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(timed_out())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => {
                // A reset counts as the peer having closed the connection.
                self.eof = true;
                Err(e)
            }
        }
    }

    /// Reads the raw bytes of exactly one complete reply. Errors: `UnexpectedEof` if the server
    /// closed the connection first (bytes read so far stay available via [`Conn::pending`]),
    /// `TimedOut`, `InvalidData` if the bytes are not RESP.
    pub fn read_reply_raw(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match frame_len(&self.buf) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e} in {}", escape(&self.buf)),
                    ))
                }
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection closed by the server (unparsed: \"{}\")",
                            escape(&self.buf)
                        ),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no complete reply within {:?} (have: \"{}\")",
                            self.timeout,
                            escape(&self.buf)
                        ),
                    ))
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "connection error: {e} (unparsed: \"{}\")",
                            escape(&self.buf)
                        ),
                    ))
                }
            }
        }
    }

    /// Reads and decodes one reply.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let raw = self.read_reply_raw()?;
        match parse_reply(&raw) {
            Ok(Some((r, _))) => Ok(r),
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "incomplete reply",
            )),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }

    /// Sends a command and returns the raw bytes of its reply.
    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.try_send_raw(&encode_command(args))?;
        self.read_reply_raw()
    }

    /// Sends a command and returns the raw bytes of its reply; panics on I/O errors.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        match self.try_cmd(args) {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}", describe(args)),
        }
    }

    /// Sends a command and decodes its reply; panics on I/O errors.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.send_cmd(args);
        match self.read_reply() {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}", describe(args)),
        }
    }

    /// `call` with the arguments written as one redis-cli style line: `c.line("SET k \"a b\"")`.
    pub fn line(&mut self, line: &str) -> Reply {
        let args = split_args(line).unwrap_or_else(|e| panic!("{e}"));
        self.call(&args)
    }

    /// Switches the connection to RESP3 (HELLO 3) and returns HELLO's reply.
    pub fn hello3(&mut self) -> Reply {
        self.call(&["HELLO", "3"])
    }

    /// The value of one `field:value` line of INFO: the default sections first, then
    /// `INFO everything`.
    pub fn info_field(&mut self, field: &str) -> Option<String> {
        let find = |info: String| {
            info.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k == field).then(|| v.trim_end().to_string())
            })
        };
        if let Some(v) = self.call(&["INFO"]).as_str().and_then(find) {
            return Some(v);
        }
        self.call(&["INFO", "everything"]).as_str().and_then(find)
    }

    /// Bytes received but not yet returned as part of a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// True if the server has closed the connection (or reset it). Does not wait: data that
    /// arrived meanwhile is kept for the next read.
    pub fn is_closed(&mut self) -> bool {
        self.poll_closed(Duration::ZERO)
    }

    /// Waits up to `timeout` for the server to close the connection; true if it did.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.poll_closed(timeout)
    }

    fn poll_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eof {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // A zero read timeout means "block forever" to the OS: use 1 ms for a poll.
            let wait = left.max(Duration::from_millis(1));
            match self.fill(Instant::now() + wait) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
                Err(_) => return true,
            }
        }
    }

    /// Reads everything the server sends until it closes the connection or `timeout` passes.
    pub fn read_until_close(&mut self, timeout: Duration) -> Vec<u8> {
        self.poll_closed(timeout);
        std::mem::take(&mut self.buf)
    }
}

fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    let parts: Vec<String> = args.iter().map(|a| escape(a.as_ref())).collect();
    let mut s = parts.join(" ");
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}
