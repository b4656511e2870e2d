//! Test harness for Cinnabar's cross-process tests.
//!
//! - [`Server`] starts a server binary (Cinnabar's or the reference redis-server; the code is the
//!   same) on a free port in a fresh temp dir, waits for PING, captures its output and stops and
//!   cleans up on drop, failing the test if the server panicked.
//! - [`Conn`] is a raw RESP client: it sends arbitrary bytes and reads back exactly one complete
//!   reply's raw bytes (RESP2 and RESP3), or a decoded [`Reply`].
//! - [`cinnabar_bin`], [`redis_bin`], [`have_redis`] and [`require_redis!`] locate the binaries.
//!
//! No dependency on other workspace crates: the tests it serves check the binary from outside.

pub mod conn;
pub mod resp;
pub mod server;

pub use conn::Conn;
pub use resp::{
    encode_command, escape, frame_len, normalized_reply, parse_reply, split_args, FrameError, Reply,
};
pub use server::{
    cinnabar_bin, free_port, have_redis, loud_note, raise_nofile_limit, redis_bin, workspace_root,
    Server, TempDir,
};
