//! Small helpers shared by every crate, each reproducing Redis 7.0 exactly: glob matching
//! (`glob`: `stringmatchlen`, with its blow-up protections) and number parsing and printing
//! (`num`: `string2ll`, `string2ull`, SCAN cursors, strict doubles through C's `strtod`,
//! `d2string` and `%.17g`, and C `long double` arithmetic for INCRBYFLOAT / HINCRBYFLOAT through
//! a tiny C shim built by `build.rs`).

pub mod glob;
pub mod num;
pub mod sha1;
