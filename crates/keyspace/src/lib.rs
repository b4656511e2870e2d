//! The keyspace: databases, values, expiry. Synchronous; no sockets, no RESP.

pub mod compact;
pub mod db;
pub mod dict;
pub mod hll;
pub mod lazyfree;
pub mod listpack;
pub mod notify;
pub mod snapshot;
pub mod types;
pub mod value;
