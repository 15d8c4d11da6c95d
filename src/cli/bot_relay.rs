//! `livestage bot --relay`: a host relays its tracks into other channels once joined, and the
//! report lists each destination's states as the server told them.

use std::collections::BTreeMap;

use livestage_proto::relay::{State, Target};
use serde::Serialize;

pub use livestage_net::relay::parse;

/// One destination in the report.
#[derive(Serialize, Default, Clone, Debug)]
pub struct RelayReport {
    /// Its last state (`connecting`, `running`, `paused`, `recovering`, `failed`, `stopped`).
    pub state: String,
    /// Every state in the order told (repeats folded).
    pub states: Vec<String>,
    /// The error code of a failure (e.g. `token_invalid`, `too_many_hosts`).
    pub error: Option<String>,
    /// What the server said about the failure or the last recovery.
    pub message: Option<String>,
}

/// Notes a state of `to` in `report` (keyed by the destination as `CHANNEL` or
/// `CHANNEL@ADDR`).
pub fn record(report: &mut BTreeMap<String, RelayReport>, to: &Target, state: &State) {
    let entry = report.entry(to.to_string()).or_default();
    let name = state.as_str().to_owned();
    if entry.states.last() != Some(&name) {
        entry.states.push(name.clone());
    }
    entry.state = name;
    match state {
        State::Failed(e) => {
            entry.error = Some(e.code.as_str().to_owned());
            entry.message = Some(e.message.clone());
        }
        State::Recovering { reason, .. } => entry.message = Some(reason.clone()),
        _ => {}
    }
}
