//! Shared test support.

pub mod emulator;
