//! The listpack codec lives in the keyspace crate (streams store listpacks); re-exported here.

pub use cinnabar_keyspace::listpack::*;
