//! TCP connect time to host:port.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{ProbeError, ms};

/// Connect time in ms, or the OS's reason (refused, unreachable) or a
/// timeout.
pub async fn connect(ip: IpAddr, port: u16, timeout: Duration) -> Result<f64, ProbeError> {
    let addr = SocketAddr::new(ip, port);
    let start = Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let elapsed = start.elapsed();
            drop(stream);
            Ok(ms(elapsed))
        }
        Ok(Err(e)) => Err(ProbeError::of_io(&e, "cannot connect")),
        Err(_) => Err(ProbeError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_and_closed_loopback_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = listener.local_addr().expect("addr").port();
        let took = connect(IpAddr::from([127, 0, 0, 1]), open, Duration::from_secs(2)).await;
        assert!(took.as_ref().is_ok_and(|ms| *ms > 0.0), "{took:?}");
        // A port nobody listens on: bind, note it, close.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let err = connect(IpAddr::from([127, 0, 0, 1]), closed, Duration::from_secs(2))
            .await
            .err();
        assert!(
            matches!(&err, Some(ProbeError::Unreachable(why)) if why.contains("refused")),
            "{err:?}"
        );
    }
}
