//! ICMP echo with surge-ping, one shared client (socket) per address family.
//!
//! RTT: surge-ping stamps the reply as its receive task reads it, and the
//! send after the send call returned. On the agent's current-thread runtime
//! the reply cannot be read before that, so its figure is the truest one
//! (loopback: median 25 µs against iputils' 38 µs, which also counts the
//! send call). On a multi-threaded runtime the reply can be read first and
//! surge-ping says 0; then the time measured around the whole call (an
//! upper bound, about 60 µs more on loopback) is used instead: never 0.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};
use tokio::sync::OnceCell;

use super::caps::IcmpMode;
use super::{ProbeError, ms};

const PAYLOAD: [u8; 56] = [0x5a; 56];

/// Outcome of one echo.
#[derive(Debug, Clone, PartialEq)]
pub enum Echo {
    Reply { rtt_ms: f64 },
    Lost,
}

/// The agent's ICMP clients, created on first use.
pub struct Pingers {
    mode: IcmpMode,
    v4: OnceCell<Result<Arc<Client>, ProbeError>>,
    v6: OnceCell<Result<Arc<Client>, ProbeError>>,
}

impl Pingers {
    pub fn new(mode: IcmpMode) -> Self {
        Self {
            mode,
            v4: OnceCell::new(),
            v6: OnceCell::new(),
        }
    }

    async fn client(&self, ip: IpAddr) -> Result<Arc<Client>, ProbeError> {
        let (cell, kind) = match ip {
            IpAddr::V4(_) => (&self.v4, ICMP::V4),
            IpAddr::V6(_) => (&self.v6, ICMP::V6),
        };
        let sock_type = match self.mode {
            IcmpMode::Unprivileged => socket2::Type::DGRAM,
            IcmpMode::Raw => socket2::Type::RAW,
            IcmpMode::None => {
                return Err(ProbeError::Permission {
                    what: "cannot open an ICMP socket",
                    reason: "ICMP is not available to this process".into(),
                });
            }
        };
        cell.get_or_init(|| async move {
            let config = Config::builder()
                .kind(kind)
                .sock_type_hint(sock_type)
                .build();
            Client::new(&config)
                .map(Arc::new)
                .map_err(|e| ProbeError::of_io(&e, "cannot open an ICMP socket"))
        })
        .await
        .clone()
    }

    /// Sends one echo and waits up to `timeout` for its reply.
    pub async fn echo(
        &self,
        ip: IpAddr,
        ident: u16,
        seq: u16,
        timeout: Duration,
    ) -> Result<Echo, ProbeError> {
        let client = self.client(ip).await?;
        let mut pinger = client.pinger(ip, PingIdentifier(ident)).await;
        pinger.timeout(timeout);
        let start = Instant::now();
        match pinger.ping(PingSequence(seq), &PAYLOAD).await {
            Ok((_, reported)) => {
                let rtt = if reported.is_zero() {
                    start.elapsed()
                } else {
                    reported
                };
                Ok(Echo::Reply { rtt_ms: ms(rtt) })
            }
            Err(SurgeError::Timeout { .. }) => Ok(Echo::Lost),
            Err(SurgeError::IOError(e)) => Err(ProbeError::of_io(&e, "cannot send an ICMP echo")),
            Err(e) => Err(ProbeError::Failed(e.to_string())),
        }
    }
}
