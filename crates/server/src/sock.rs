//! `ClientSocket`: a client connection's socket, registered with the event loop for
//! readability only. Redis does the same: a socket is watched for writability only while a
//! reply could not be written in full, so the kernel does not wake the loop each time the
//! peer acknowledges data. When a write would block, the socket is re-registered for both
//! directions until the pending reply is out, then back to read-only.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::task::{Poll, Waker};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A wake-up for a connection task waiting to read: the cron uses it to have the task resize
/// its query buffer (which only the task owns). Cheap when unused: the waiting read keeps
/// the task's waker here, cloned only when it changes.
#[derive(Default)]
pub struct Wake {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Wake {
    /// Wakes the task (its read returns `Ok(None)`).
    pub fn wake(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    fn register(&self, w: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|old| old.will_wake(w)) {
            *slot = Some(w.clone());
        }
    }
}

/// How much room a read makes in a query buffer that is (nearly) full: Redis's
/// PROTO_IOBUF_LEN.
pub const READ_CHUNK: usize = 16 * 1024;

/// What [`ClientSocket::write_all_reading`] did.
pub struct Written {
    /// Bytes of the data written (all of it unless it returned early).
    pub written: usize,
    /// Bytes read into the query buffer meanwhile.
    pub read: usize,
}

/// A non-blocking client socket (TCP or Unix).
pub struct ClientSocket {
    fd: Option<AsyncFd<OwnedFd>>,
    writable: bool,
}

fn register(fd: OwnedFd, writable: bool) -> io::Result<AsyncFd<OwnedFd>> {
    let interest = if writable {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    // SAFETY: an OwnedFd is a valid open descriptor that stays open (and the same file) for as
    // long as the AsyncFd owns it, and its as_raw_fd always returns that descriptor.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}

impl ClientSocket {
    /// Takes over a connected socket (it must already be non-blocking).
    pub fn new(fd: OwnedFd) -> io::Result<ClientSocket> {
        Ok(ClientSocket {
            fd: Some(register(fd, false)?),
            writable: false,
        })
    }

    fn afd(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        self.fd
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// The raw descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.get_ref().as_raw_fd())
    }

    fn reregister(&mut self, writable: bool) -> io::Result<()> {
        if self.writable == writable {
            return Ok(());
        }
        let Some(afd) = self.fd.take() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        self.fd = Some(register(afd.into_inner(), writable)?);
        self.writable = writable;
        Ok(())
    }

    /// Appends what is available to `buf` (waits for at least one byte); 0 = closed. A short
    /// read means the socket is drained, so readiness is cleared at once instead of paying a
    /// `read()` that fails with EAGAIN on every request.
    pub async fn read_some(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let never = Wake::default();
        Ok(self
            .read_or_wake(buf, &never, READ_CHUNK / 4)
            .await?
            .unwrap_or(0))
    }

    /// [`ClientSocket::read_some`] that also returns, with `Ok(None)`, when `wake` is
    /// signalled before anything could be read. Room in `buf` is made only once the socket
    /// is readable, so a task that waits holds no more buffer than it had.
    /// Room is made (READ_CHUNK more) when less than `min_spare` is left.
    pub async fn read_or_wake(
        &mut self,
        buf: &mut Vec<u8>,
        wake: &Wake,
        min_spare: usize,
    ) -> io::Result<Option<usize>> {
        loop {
            let afd = self.afd()?;
            let ready = poll_fn(|cx| {
                if wake.flag.replace(false) {
                    return Poll::Ready(Ok(None));
                }
                match afd.poll_read_ready(cx) {
                    Poll::Ready(r) => Poll::Ready(r.map(Some)),
                    Poll::Pending => {
                        wake.register(cx.waker());
                        Poll::Pending
                    }
                }
            })
            .await?;
            let Some(mut guard) = ready else {
                return Ok(None);
            };
            if buf.capacity() - buf.len() < min_spare {
                buf.reserve(READ_CHUNK);
            }
            let fd = afd.get_ref().as_raw_fd();
            let spare = buf.spare_capacity_mut();
            let room = spare.len();
            // SAFETY: reading into the vector's spare capacity, at most `room` bytes.
            let n = unsafe { libc::read(fd, spare.as_mut_ptr() as *mut libc::c_void, room) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        continue;
                    }
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            let got = n as usize;
            // SAFETY: read() initialised exactly `got` bytes past the length.
            unsafe { buf.set_len(buf.len() + got) };
            if got > 0 && got < room {
                guard.clear_ready();
            }
            return Ok(Some(got));
        }
    }

    /// One non-blocking write of (a prefix of) `data`: Some(bytes written), or None when the
    /// socket is full.
    fn send_some(&self, data: &[u8]) -> io::Result<Option<usize>> {
        let fd = self.raw_fd();
        loop {
            // SAFETY: writing from a live slice to our own socket; MSG_NOSIGNAL avoids SIGPIPE.
            let n = unsafe {
                libc::send(
                    fd,
                    data.as_ptr() as *const libc::c_void,
                    data.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => return Ok(None),
                // A Unix socket refuses MSG_NOSIGNAL semantics on some kernels: plain write.
                _ if e.raw_os_error() == Some(libc::ENOTSOCK) => {
                    // SAFETY: as above.
                    let n = unsafe {
                        libc::write(fd, data.as_ptr() as *const libc::c_void, data.len())
                    };
                    if n < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    return Ok(Some(n as usize));
                }
                _ => return Err(e),
            }
        }
    }

    /// Writes all of `data`, waiting for writability only when the socket is full.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.send_some(data)? {
                Some(n) => data = &data[n..],
                None => {
                    self.reregister(true)?;
                    let mut guard = self.afd()?.writable().await?;
                    guard.clear_ready();
                }
            }
        }
        if self.writable {
            self.reregister(false)?;
        }
        Ok(())
    }

    /// Writes all of `data` like [`ClientSocket::write_all`], but while the socket is full it
    /// keeps reading what the peer sends into `qbuf` (while `qbuf` holds less than `max_q`
    /// bytes): a client that writes a long pipeline before reading any reply must not find
    /// both sides blocked on a full socket, as Redis keeps reading into the query buffer.
    /// With `early`, it returns as soon as something was read, the rest unwritten (the caller
    /// runs the new commands and queues their replies behind it, as Redis keeps serving a
    /// client whose output waits).
    pub async fn write_all_reading(
        &mut self,
        mut data: &[u8],
        qbuf: &mut Vec<u8>,
        max_q: usize,
        early: bool,
    ) -> io::Result<Written> {
        let total = data.len();
        let mut read = 0usize;
        let mut eof = false;
        while !data.is_empty() {
            if early && read > 0 {
                return Ok(Written {
                    written: total - data.len(),
                    read,
                });
            }
            if let Some(n) = self.send_some(data)? {
                data = &data[n..];
                continue;
            }
            self.reregister(true)?;
            let afd = self.afd()?;
            if eof || qbuf.len() >= max_q {
                afd.writable().await?.clear_ready();
                continue;
            }
            tokio::select! {
                g = afd.writable() => g?.clear_ready(),
                g = afd.readable() => {
                    let mut guard = g?;
                    if qbuf.capacity() - qbuf.len() < 16 * 1024 {
                        qbuf.reserve(16 * 1024);
                    }
                    let spare = qbuf.spare_capacity_mut();
                    let room = spare.len();
                    let fd = afd.get_ref().as_raw_fd();
                    // SAFETY: reading into the vector's spare capacity, at most `room` bytes.
                    let n = unsafe { libc::read(fd, spare.as_mut_ptr() as *mut libc::c_void, room) };
                    if n < 0 {
                        let e = io::Error::last_os_error();
                        match e.kind() {
                            io::ErrorKind::WouldBlock => guard.clear_ready(),
                            io::ErrorKind::Interrupted => {}
                            _ => return Err(e),
                        }
                    } else if n == 0 {
                        eof = true;
                    } else {
                        // SAFETY: read() initialised exactly `n` bytes past the length.
                        unsafe { qbuf.set_len(qbuf.len() + n as usize) };
                        read += n as usize;
                    }
                }
            }
        }
        if self.writable {
            self.reregister(false)?;
        }
        Ok(Written {
            written: total,
            read,
        })
    }

    /// Half-closes the socket for writing (the peer sees EOF after the last reply).
    pub fn shutdown(&mut self) {
        let fd = self.raw_fd();
        if fd >= 0 {
            // SAFETY: shutdown on our own socket; errors (already closed) are harmless.
            unsafe {
                libc::shutdown(fd, libc::SHUT_WR);
            }
        }
    }
}
