//! Set commands (SADD, SINTER, SPOP, SSCAN, ...).
//! (Skeleton: the type work fills `DEFS`, `EXTRAS` and the handlers.)

use crate::table::{Def, Extra};

/// This family's command definitions (listed in `table::FAMILIES`).
pub static DEFS: &[Def] = &[];

/// Tips and key specs of this family's commands.
pub static EXTRAS: &[Extra] = &[];
