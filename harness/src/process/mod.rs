//! Processes tbgw starts, and the signals tbgw itself receives.
//!
//! - [`group`]: a command run through `sh -c` in its own process group, its output kept,
//!   stopped as a whole group (SIGINT, SIGTERM, SIGKILL) and waited for until the group is
//!   empty;
//! - [`interrupt`]: Ctrl-C and SIGTERM to tbgw: the first one asks every command to stop
//!   and report what it has, a second one ends tbgw at once.

pub mod group;
pub mod interrupt;
