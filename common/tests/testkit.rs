//! The test kit starts a real server that answers, and restarts it on the same port.

use futures::StreamExt;
use swarm_common::testkit::NatsServer;

#[tokio::test]
async fn server_starts_answers_and_restarts() {
    let mut server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut sub = client.subscribe("t.>").await.expect("subscribe");
    client.publish("t.a", "x".into()).await.expect("publish");
    let msg = sub.next().await.expect("message");
    assert_eq!(&msg.payload[..], b"x");
    let port = server.port();
    server.restart();
    assert_eq!(server.port(), port);
    let again = async_nats::connect(server.url()).await.expect("reconnect");
    again.flush().await.expect("flush");
}

/// `--require-tls` refuses a server that offers no TLS instead of talking
/// to it in the clear.
#[tokio::test]
async fn require_tls_refuses_a_plaintext_server() {
    use swarm_common::nats::{NatsArgs, NatsHealth, connect_once};
    let server = NatsServer::start();
    let mut args = NatsArgs::for_url(&server.url());
    assert!(connect_once(&args, "t", NatsHealth::new()).await.is_ok());
    args.require_tls = true;
    let refused = connect_once(&args, "t", NatsHealth::new()).await;
    assert!(refused.is_err(), "connected in the clear");
}
