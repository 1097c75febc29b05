//! Calling the hub's API: one typed request in MessagePack, the reply or the
//! service's error decoded.

use std::time::Duration;

use async_nats::Client;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, CodecError};
use crate::protocol::{
    AgentSummary, ApiError, HostSummary, HostsReply, HostsRequest, SummaryReply, SummaryRequest,
    Test, TestsListReply, TestsListRequest,
};
use crate::subject;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer on {subject} within {timeout:?}")]
    Timeout { subject: String, timeout: Duration },
    #[error("nothing is listening on {subject} (no responders)")]
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

/// A request for one page of a list, after a cursor.
pub trait PageRequest: Serialize {
    fn after(&self) -> Option<&str>;
    fn set_after(&mut self, after: String);
}

/// A reply holding one page: its items, and the cursor of the next page.
pub trait Page: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

/// Every item of a paged list (`swarm.api.hosts`, `tests.list`,
/// `tests.summary`), page by page, in the list's order.
pub async fn all_pages<Req: PageRequest, Rep: Page>(
    client: &Client,
    subject: &str,
    mut req: Req,
    timeout: Duration,
) -> Result<Vec<Rep::Item>, CallError> {
    let mut items = Vec::new();
    loop {
        let page: Rep = call(client, subject, &req, timeout).await?;
        let (got, next) = page.into_parts();
        items.extend(got);
        // A next that does not move forward would loop for ever.
        match next {
            Some(next) if req.after().is_none_or(|after| next.as_str() > after) => {
                req.set_after(next);
            }
            _ => return Ok(items),
        }
    }
}

/// Every host matching `req`, in agent-id order.
pub async fn all_hosts(
    client: &Client,
    req: HostsRequest,
    timeout: Duration,
) -> Result<Vec<HostSummary>, CallError> {
    all_pages::<_, HostsReply>(client, subject::api::HOSTS, req, timeout).await
}

macro_rules! paged {
    ($req:ty, $rep:ty, $field:ident, $item:ty) => {
        impl PageRequest for $req {
            fn after(&self) -> Option<&str> {
                self.after.as_deref()
            }
            fn set_after(&mut self, after: String) {
                self.after = Some(after);
            }
        }
        impl Page for $rep {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.$field, self.next)
            }
        }
    };
}

paged!(HostsRequest, HostsReply, hosts, HostSummary);
paged!(TestsListRequest, TestsListReply, tests, Test);
paged!(
    crate::protocol::fleet::ConfigStatusRequest,
    crate::protocol::fleet::ConfigStatusReply,
    agents,
    crate::protocol::fleet::ConfigStatus
);
paged!(SummaryRequest, SummaryReply, summary, AgentSummary);
paged!(
    crate::protocol::alerts::AlertsListRequest,
    crate::protocol::alerts::AlertsListReply,
    alerts,
    crate::protocol::alerts::Alert
);
