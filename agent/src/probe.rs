//! Network probes: ping (surge-ping), traceroute (trippy-core) and TCP
//! connect (tokio), with the privilege detection that decides which the
//! agent can run.

pub mod caps;
pub mod ping;
pub mod tcp;
pub mod trace;

use std::net::IpAddr;
use std::time::Duration;

/// Why a probe could not measure. Its text is what a result's `error`
/// says; the kind lets a caller tell a name that does not resolve from a
/// probe this process may not send, a timeout or a network in the way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot resolve {target:?}: {reason}")]
    Resolve { target: String, reason: String },
    /// `what` says what was tried ("cannot open an ICMP socket").
    #[error("{what}: {reason}")]
    Permission { what: &'static str, reason: String },
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The network or host is unreachable, or the port refused.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

impl ProbeError {
    /// An OS error of a probe, by its kind; `what` says what was tried
    /// ("cannot open an ICMP socket").
    fn of_io(e: &std::io::Error, what: &'static str) -> Self {
        use std::io::ErrorKind::*;
        match e.kind() {
            PermissionDenied => Self::Permission {
                what,
                reason: e.to_string(),
            },
            ConnectionRefused | HostUnreachable | NetworkUnreachable | ConnectionReset => {
                Self::Unreachable(e.to_string())
            }
            _ => Self::Failed(format!("{what}: {e}")),
        }
    }
}

/// Resolves a target on the agent: an IP as is, or a name through the
/// system resolver. The error says which name failed and why.
pub async fn resolve(target: &str, timeout: Duration) -> Result<IpAddr, ProbeError> {
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(ip);
    }
    let failed = |reason: String| ProbeError::Resolve {
        target: target.to_owned(),
        reason,
    };
    let lookup = tokio::net::lookup_host((target, 0));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| failed("it has no address".into())),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!("no answer within {timeout:?}"))),
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
        let err = resolve("nothing.invalid", t).await.err();
        assert!(
            matches!(&err, Some(ProbeError::Resolve { target, .. }) if target == "nothing.invalid"),
            "{err:?}"
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("cannot resolve \"nothing.invalid\""),
            "{text}"
        );
    }

    #[test]
    fn ms_keeps_microseconds() {
        assert_eq!(ms(Duration::from_micros(1_234)), 1.234);
        assert_eq!(ms(Duration::from_nanos(41_600)), 0.042);
    }
}
