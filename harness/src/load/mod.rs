//! `tbgw load`: conformance under load. Gateways provisioned through REST publish QoS 1
//! telemetry for their devices at a fixed rate (open loop) or with a window in flight
//! (closed loop); PUBACK latencies go into an HDR histogram; at the end every acknowledged
//! point is read back through REST (stored once, with its value) and what the run created
//! is deleted. Sharded runs (`--shard I/N`) each write their result, and `tbgw load merge`
//! adds them exactly.
//!
//! - [`plan`]: pure: which gateways, devices, messages and bytes;
//! - [`connection`]: one gateway's lean MQTT connection;
//! - [`runner`]: the phases, over the target's MQTT and REST doors;
//! - [`result`]: the JSON result and its merge.

pub mod connection;
pub mod plan;
pub mod result;
pub mod runner;
