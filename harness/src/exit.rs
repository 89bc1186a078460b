//! The exit codes of every `tbgw` command (design.md, "CLI contract").

use std::process::ExitCode;

/// All required cases pass; for `decode`, the payload decodes.
pub const OK: u8 = 0;
/// Conformance failures.
pub const FAILURES: u8 = 1;
/// A bad scenario, configuration or usage; for `decode`, a payload that does not decode.
pub const BAD_INPUT: u8 = 2;
/// The target or the harness failed (unreachable, crashed).
pub const TARGET_FAILED: u8 = 3;
/// Baseline drift or a stale deviation entry.
pub const DRIFT: u8 = 4;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
