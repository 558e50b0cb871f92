//! The request body sent upstream: tokens turned back at the places a route lists, and
//! nothing else touched.
use super::body::IdleLimit;
use super::detokenize::Detokenizer;
use super::error::Refusal;
use crate::bodies::{BoxError, ProxyBody};
use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::time::Duration;

/// The body to send upstream. When the route lists body places for tokens and the role
/// may turn some back, a JSON or form body is read (up to `max` bytes) and its tokens at
/// those places turned back; every other body streams through untouched, its tokens
/// tokens still. A body that does not parse goes as it came (its tokens stay tokens).
///
/// A client that sends nothing of its body for `idle` has it cut (streamed) or refused
/// (read whole): a slow body never holds veil or the upstream.
pub async fn request_body(
    body: Incoming,
    headers: &mut HeaderMap,
    turn: &mut Detokenizer<'_>,
    max: usize,
    idle: Duration,
) -> Result<ProxyBody, Refusal> {
    let body = IdleLimit::new(body, idle);
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = ct.contains("json");
    let form = ct.starts_with("application/x-www-form-urlencoded");
    if !turn.reads_body() || !(json || form) {
        return Ok(body.map_err(|e| Box::new(e) as BoxError).boxed_unsync());
    }
    let bytes = match Limited::new(body, max).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return Err(if too_large {
                Refusal::RequestTooLarge
            } else {
                Refusal::BadRequestBody
            });
        }
    };
    let rewritten = if json {
        turn.json(&bytes)
    } else {
        turn.form(&bytes)
    };
    let out = match rewritten {
        Ok(Some(new)) => Bytes::from(new),
        Ok(None) | Err(_) => bytes,
    };
    headers.insert(header::CONTENT_LENGTH, out.len().into());
    Ok(Full::new(out)
        .map_err(|never| match never {})
        .boxed_unsync())
}
