//! Small helpers shared by every crate: Redis's glob matching and Redis's exact number parsing
//! and formatting rules (including long-double INCRBYFLOAT through a tiny C shim).

pub mod glob;
pub mod num;
