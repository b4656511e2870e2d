//! RESP2/RESP3 for Cinnabar: the incremental request parser (multibulk and inline, with Redis's
//! protocol errors and limits) and the reply encoder that writes straight into a client's output
//! buffer. It knows nothing about keys or commands.

pub mod args;
pub mod parse;
pub mod reply;

pub use args::{Args, OwnedArgs};
pub use parse::{CommandParser, Limits, ProtoError};
pub use reply::ReplyBuf;
