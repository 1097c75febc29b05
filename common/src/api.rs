//! Calling the hub's API: one typed request in MessagePack, the reply or the
//! service's error decoded.

use std::time::Duration;

use async_nats::Client;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, CodecError};
use crate::protocol::{ApiError, HostSummary, HostsReply, HostsRequest};
use crate::subject;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer from the hub on {subject} within {timeout:?} (is swarm-hub running?)")]
    Timeout { subject: String, timeout: Duration },
    #[error("no hub is serving {subject} (no responders)")]
    NoResponders { subject: String },
    #[error("request on {subject} failed: {reason}")]
    Request { subject: String, reason: String },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the hub answered: {0}")]
    Api(#[from] ApiError),
}

/// Sends `req` on `subject` and decodes the reply.
pub async fn call<Req: Serialize, Rep: DeserializeOwned>(
    client: &Client,
    subject: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Rep, CallError> {
    let body = codec::to_msgpack(req)?;
    let request = async_nats::Request::new()
        .payload(body)
        .headers(codec::msgpack_headers())
        .timeout(Some(timeout));
    let reply = client
        .send_request(subject.to_owned(), request)
        .await
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::TimedOut => CallError::Timeout {
                subject: subject.to_owned(),
                timeout,
            },
            async_nats::RequestErrorKind::NoResponders => CallError::NoResponders {
                subject: subject.to_owned(),
            },
            _ => CallError::Request {
                subject: subject.to_owned(),
                reason: e.to_string(),
            },
        })?;
    Ok(codec::decode_reply::<Rep>(
        reply.headers.as_ref(),
        &reply.payload,
    )??)
}

/// Every host matching `req`, page by page (`swarm.api.hosts` with
/// `after`), in agent-id order.
pub async fn all_hosts(
    client: &Client,
    mut req: HostsRequest,
    timeout: Duration,
) -> Result<Vec<HostSummary>, CallError> {
    let mut hosts = Vec::new();
    loop {
        let page: HostsReply = call(client, subject::api::HOSTS, &req, timeout).await?;
        hosts.extend(page.hosts);
        // A next that does not move forward would loop for ever.
        match page.next {
            Some(next) if req.after.as_ref().is_none_or(|after| next > *after) => {
                req.after = Some(next);
            }
            _ => return Ok(hosts),
        }
    }
}
