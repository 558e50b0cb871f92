//! `POST /_veil/reveal` (path configurable): a token in, its clear value out, for roles
//! whose rules allow `reveal` for the token's kind. Rate-limited per caller; every
//! attempt is audited (kind and result, never the value).
use super::{error_response, full, Downstream, Proxy, ProxyBody};
use crate::audit::Event;
use crate::rules::RoleId;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_BODY: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);

/// A fixed-window counter per caller (peer address and credentials, hashed).
#[derive(Debug, Default)]
pub struct RateLimiter {
    seen: Mutex<HashMap<[u8; 32], (u32, Instant)>>,
}

impl RateLimiter {
    /// Counts one attempt; false when the caller is over `per_minute`.
    pub fn allow(&self, caller: [u8; 32], per_minute: u32) -> bool {
        let mut seen = self.seen.lock().expect("not poisoned");
        if seen.len() > 100_000 {
            seen.retain(|_, (_, at)| at.elapsed() < WINDOW);
        }
        let e = seen.entry(caller).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        e.0 <= per_minute
    }
}

fn caller_key(req: &Request<Incoming>, from: Downstream) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(from.peer.ip().to_string().as_bytes());
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for v in req.headers().get_all(name) {
            h.update(v.as_bytes());
        }
    }
    h.finalize().into()
}

pub async fn handle(
    proxy: &Proxy,
    req: Request<Incoming>,
    from: Downstream,
    role: RoleId,
) -> Response<ProxyBody> {
    let rules = proxy.rules.load();
    let keys = proxy.keys.load();
    let policy = rules.role_policy(role).clone();
    let peer = from.peer.ip().to_string();
    let audit = |kind: &str, result: &str| {
        proxy.audit.log(&Event::Reveal {
            role: &policy.name,
            kind,
            result,
            peer: peer.clone(),
        });
        proxy
            .metrics
            .reveals
            .with_label_values(&[kind, result])
            .inc();
    };
    if !proxy
        .reveal_limiter
        .allow(caller_key(&req, from), proxy.settings.reveal_per_minute)
    {
        audit("-", "rate_limited");
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "veil: too many reveals; try again later",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bad_request",
                "veil: send {\"token\": \"vt_…\"}",
            )
        }
    };
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned));
    let Some(token) = token else {
        audit("-", "invalid");
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "veil: send {\"token\": \"vt_…\"}",
        );
    };
    let Some((kind, value)) = keys.detokenize(&token) else {
        audit("-", "invalid");
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "veil: not a valid token",
        );
    };
    let allowed = rules.kinds.get(&kind).is_some_and(|k| policy.may_reveal(k));
    if !allowed {
        audit(&kind, "refused");
        return error_response(
            StatusCode::FORBIDDEN,
            "not_allowed",
            "veil: this role may not reveal this kind",
        );
    }
    audit(&kind, "allowed");
    let body = serde_json::json!({ "kind": kind, "value": value }).to_string();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(body))
        .expect("a valid response")
}
