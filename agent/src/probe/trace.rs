//! Traceroute with trippy-core: one round per call, run on a blocking
//! thread (trippy's tracer is synchronous).

use std::net::IpAddr;
use std::time::Duration;

use swarm_common::protocol::Hop;
use trippy_core::{Builder, PrivilegeMode};

use super::ProbeError;

pub const MAX_TTL: u8 = 30;

/// One round's hops and whether the target answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub hops: Vec<Hop>,
    pub reached: bool,
}

/// Runs one traceroute round to `ip`; `round_time` bounds how long it
/// waits for the last replies.
pub async fn round(ip: IpAddr, round_time: Duration) -> Result<Trace, ProbeError> {
    let ident: u16 = rand::random_range(1..u16::MAX);
    tokio::task::spawn_blocking(move || run_round(ip, ident, round_time))
        .await
        .map_err(|e| ProbeError::Failed(format!("traceroute task failed: {e}")))?
}

fn run_round(ip: IpAddr, ident: u16, round_time: Duration) -> Result<Trace, ProbeError> {
    let round_time = round_time.clamp(Duration::from_millis(500), Duration::from_secs(10));
    let tracer = Builder::new(ip)
        .privilege_mode(PrivilegeMode::Privileged)
        .trace_identifier(ident)
        .max_ttl(MAX_TTL)
        .max_rounds(Some(1))
        .min_round_duration(round_time)
        .max_round_duration(round_time)
        .grace_duration(Duration::from_millis(100))
        .build()
        .map_err(|e| ProbeError::Failed(format!("cannot start traceroute: {e}")))?;
    tracer
        .run()
        .map_err(|e| ProbeError::Failed(format!("traceroute failed: {e}")))?;
    let state = tracer.snapshot();
    if let Some(err) = state.error() {
        return Err(ProbeError::Failed(format!("traceroute failed: {err}")));
    }
    let hops: Vec<Hop> = state
        .hops()
        .iter()
        .map(|h| Hop {
            ttl: h.ttl(),
            addr: h.addrs().next().map(ToString::to_string),
            host: None,
            rtt_ms: h
                .samples()
                .iter()
                .map(|d| super::ms(*d))
                .filter(|v| *v > 0.0)
                .collect(),
            loss_pct: h.loss_pct(),
        })
        .collect();
    let reached = state.hops().iter().any(|h| h.addrs().any(|a| *a == ip));
    Ok(Trace { hops, reached })
}
