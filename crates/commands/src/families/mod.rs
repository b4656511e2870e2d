//! The data command families, one module per Redis command group.

pub mod bitmap;
pub mod keys;
pub mod string;
