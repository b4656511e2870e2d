//! The command table (name, arity, flags, key positions, ACL categories: written once) and the
//! data command families, one file per Redis command group under `families/`. Handlers get a
//! `Ctx` (the keyspace, the selected database, the reply buffer, the command's clock) and the
//! arguments; the server's dispatcher has already checked arity, auth and the like. Commands
//! that need the server's state (CLIENT, CONFIG, INFO, ...) are `Handler::Server` entries: the
//! table still describes them, the server runs them.

pub mod blocking;
pub mod ctx;
pub mod families;
pub mod table;
pub mod util;

pub use ctx::Ctx;
pub use table::{lookup, CommandSpec, Handler, COMMANDS};
