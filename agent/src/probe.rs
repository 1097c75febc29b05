//! Network probes: ping (surge-ping), traceroute (trippy-core) and TCP
//! connect (tokio), with the privilege detection that decides which the
//! agent can run.

pub mod caps;
pub mod ping;
pub mod tcp;
pub mod trace;

use std::net::IpAddr;
use std::time::Duration;

/// Resolves a target on the agent: an IP as is, or a name through the
/// system resolver. The error says which name failed and why.
pub async fn resolve(target: &str, timeout: Duration) -> Result<IpAddr, String> {
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(ip);
    }
    let lookup = tokio::net::lookup_host((target, 0));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("{target:?} resolves to no address")),
        Ok(Err(e)) => Err(format!("cannot resolve {target:?}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {target:?}: no answer within {timeout:?}"
        )),
    }
}

/// Milliseconds with microsecond precision, as results carry them.
pub fn ms(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_ips_and_local_names_and_explains_failures() {
        let t = Duration::from_secs(2);
        assert_eq!(
            resolve("127.0.0.1", t).await,
            Ok(IpAddr::from([127, 0, 0, 1]))
        );
        assert_eq!(resolve("::1", t).await.map(|ip| ip.is_loopback()), Ok(true));
        assert_eq!(
            resolve("localhost", t).await.map(|ip| ip.is_loopback()),
            Ok(true)
        );
        // `.invalid` is reserved and never resolves (RFC 6761).
        let err = resolve("nothing.invalid", t)
            .await
            .err()
            .unwrap_or_default();
        assert!(err.contains("cannot resolve \"nothing.invalid\""), "{err}");
    }

    #[test]
    fn ms_keeps_microseconds() {
        assert_eq!(ms(Duration::from_micros(1_234)), 1.234);
        assert_eq!(ms(Duration::from_nanos(41_600)), 0.042);
    }
}
