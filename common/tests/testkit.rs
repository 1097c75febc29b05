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
