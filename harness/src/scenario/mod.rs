//! Scenarios: the YAML model with source spans, patterns and captures, and the runner.

pub mod case;
pub mod load;
pub mod matcher;
pub mod model;
pub mod outcome;
pub mod runner;
mod steps_mqtt;
mod steps_rest;
pub mod vars;
