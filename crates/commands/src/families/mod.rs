//! The data command families, one module per Redis command group. Each family module exports
//! `DEFS` (its command definitions) and `EXTRAS` (tips and key specs), listed once in
//! `table::FAMILIES`.

pub mod bitmap;
pub mod bitops;
pub mod dump;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
pub mod scripting;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;
