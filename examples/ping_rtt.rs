//! Loopback RTT as the agent measures it, to compare with iputils `ping`.
//! Sends only to 127.0.0.1 (or the loopback address given).
//!
//! cargo run --release -p swarm-agent --example ping-rtt -- [COUNT] [ADDR]

use std::net::IpAddr;
use std::time::Duration;

use swarm_agent::probe::caps::Caps;
use swarm_agent::probe::ping::{Echo, Pingers};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let count: u16 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let ip: IpAddr = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !ip.is_loopback() {
        return Err(format!(
            "{ip} is not a loopback address; this bench only pings loopback"
        ));
    }
    let caps = Caps::detect();
    let pingers = Pingers::new(caps.icmp);
    let mut rtts = Vec::new();
    for seq in 0..count {
        let echo = pingers.echo(ip, 7, seq, Duration::from_secs(1)).await;
        if let Echo::Reply { rtt_ms } = echo.map_err(|e| e.to_string())? {
            rtts.push(rtt_ms);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rtts.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        rtts.get(((rtts.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "mode {:?}: {} replies of {count}; min {:.3} ms, median {:.3} ms, p95 {:.3} ms",
        caps.icmp,
        rtts.len(),
        pick(0.0),
        pick(0.5),
        pick(0.95)
    );
    Ok(())
}
