//! MessagePack with field names on the bus, and the JSON/MessagePack rule of
//! API requests: a request is answered in the encoding it was sent in.

pub mod sample;

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::{ApiError, ErrorCode, ErrorReply};
use crate::text;

pub const CONTENT_TYPE: &str = "Content-Type";
pub const MSGPACK: &str = "application/msgpack";
pub const JSON: &str = "application/json";
pub const SERVICE_ERROR: &str = "Nats-Service-Error";
pub const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode MessagePack: {0}")]
    EncodeMsgpack(#[from] rmp_serde::encode::Error),
    #[error("cannot decode MessagePack: {0}")]
    DecodeMsgpack(#[from] rmp_serde::decode::Error),
    #[error("cannot encode JSON: {0}")]
    EncodeJson(serde_json::Error),
    #[error("cannot decode JSON: {0}")]
    DecodeJson(serde_json::Error),
}

/// Encodes a payload as a MessagePack map with field names.
pub fn to_msgpack<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(rmp_serde::to_vec_named(value)?))
}

pub fn from_msgpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(rmp_serde::from_slice(bytes)?)
}

/// Headers of every message the project publishes in MessagePack.
pub fn msgpack_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, MSGPACK);
    headers
}

/// The two encodings an API request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    MsgPack,
    Json,
}

impl Encoding {
    /// The contract's rule: the `Content-Type` header says MessagePack, or the
    /// first byte is a MessagePack map marker; anything else is JSON.
    pub fn of_request(headers: Option<&HeaderMap>, body: &[u8]) -> Self {
        // The body first: JSON never starts with these bytes, and a header
        // lookup (which builds and hashes a name) was a fourteenth of the
        // time the hub takes to handle a sample.
        if matches!(body.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
            return Self::MsgPack;
        }
        let declared = headers
            .and_then(|h| h.get(CONTENT_TYPE))
            .is_some_and(|v| v.as_str().eq_ignore_ascii_case(MSGPACK));
        if declared { Self::MsgPack } else { Self::Json }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::MsgPack => MSGPACK,
            Self::Json => JSON,
        }
    }

    /// Decodes a request body; an empty body means `{}`.
    pub fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, CodecError> {
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            match self {
                Self::MsgPack => &[0x80],
                Self::Json => b"{}",
            }
        } else {
            body
        };
        match self {
            Self::MsgPack => from_msgpack(body),
            Self::Json => serde_json::from_slice(body).map_err(CodecError::DecodeJson),
        }
    }

    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Bytes, CodecError> {
        match self {
            Self::MsgPack => to_msgpack(value),
            Self::Json => serde_json::to_vec(value)
                .map(Bytes::from)
                .map_err(CodecError::EncodeJson),
        }
    }

    /// Body and headers of a reply: the value on success, or the contract's
    /// error form with the NATS service error headers.
    pub fn reply<T: Serialize>(self, result: &Result<T, ApiError>) -> (Bytes, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, self.content_type());
        let encoded = match result {
            Ok(value) => self.encode(value),
            Err(err) => {
                headers.insert(SERVICE_ERROR, text::header_value(&err.message).as_str());
                headers.insert(SERVICE_ERROR_CODE, err.code.status().to_string().as_str());
                self.encode(&ErrorReply { error: err.clone() })
            }
        };
        match encoded {
            Ok(body) => (body, headers),
            Err(e) => {
                let err = ApiError::new(ErrorCode::Internal, format!("cannot encode reply: {e}"));
                headers.insert(SERVICE_ERROR, text::header_value(&err.message).as_str());
                headers.insert(SERVICE_ERROR_CODE, "500");
                let body = self.encode(&ErrorReply { error: err }).unwrap_or_default();
                (body, headers)
            }
        }
    }
}

/// Decodes an API reply in either encoding: the value, or the error the
/// service answered with.
pub fn decode_reply<T: DeserializeOwned>(
    headers: Option<&HeaderMap>,
    body: &[u8],
) -> Result<Result<T, ApiError>, CodecError> {
    let enc = Encoding::of_request(headers, body);
    let is_error = headers.is_some_and(|h| h.get(SERVICE_ERROR_CODE).is_some());
    if is_error {
        let reply: ErrorReply = enc.decode(body)?;
        return Ok(Err(reply.error));
    }
    Ok(Ok(enc.decode(body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::HostsRequest;

    #[test]
    fn request_encoding_rule() {
        let msgpack = to_msgpack(&HostsRequest::default()).expect("encodes");
        assert_eq!(Encoding::of_request(None, &msgpack), Encoding::MsgPack);
        assert_eq!(Encoding::of_request(None, b"{}"), Encoding::Json);
        assert_eq!(Encoding::of_request(None, b""), Encoding::Json);
        let headers = msgpack_headers();
        assert_eq!(
            Encoding::of_request(Some(&headers), b""),
            Encoding::MsgPack,
            "the header wins"
        );
        let empty: HostsRequest = Encoding::Json.decode(b"").expect("empty is {}");
        assert_eq!(empty, HostsRequest::default());
        let empty: HostsRequest = Encoding::MsgPack.decode(b"").expect("empty is {}");
        assert_eq!(empty, HostsRequest::default());
    }

    #[test]
    fn msgpack_uses_field_names() {
        let bytes = to_msgpack(&HostsRequest {
            tag: Some("x".into()),
            ..HostsRequest::default()
        })
        .expect("encodes");
        // fixmap of 4 (every field, absent ones nil), fixstr "tag"
        assert_eq!(&bytes[..5], &[0x84, 0xa3, b't', b'a', b'g']);
    }

    #[test]
    fn error_replies_carry_body_and_headers() {
        let result: Result<(), ApiError> = Err(ApiError::new(ErrorCode::NotFound, "no agent x"));
        let (body, headers) = Encoding::Json.reply(&result);
        assert_eq!(
            std::str::from_utf8(&body).ok(),
            Some(r#"{"error":{"code":"not_found","message":"no agent x"}}"#)
        );
        assert_eq!(
            headers.get(SERVICE_ERROR_CODE).map(|v| v.as_str()),
            Some("404")
        );
        let decoded: Result<(), ApiError> = decode_reply(Some(&headers), &body).expect("decodes");
        assert_eq!(decoded, result);
    }
}
