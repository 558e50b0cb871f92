//! `POST /_veil/reveal` (path configurable): a token in, its clear value out, for roles
//! whose rules allow `reveal` for the token's kind. Rate-limited per principal (not per
//! credential header: random cookies make no new caller); every attempt is audited
//! (principal, kind and result, never the value).
use super::error::Refusal;
use super::quota::{Rate, Verdict};
use super::{full, Downstream, Proxy, ProxyBody};
use crate::audit::Event;
use crate::roles::Resolution;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

const MAX_BODY: usize = 4096;

pub async fn handle(
    proxy: &Proxy,
    req: Request<Incoming>,
    from: Downstream,
    who: &Resolution,
) -> Response<ProxyBody> {
    let rules = proxy.rules.load();
    let keys = proxy.keys.load();
    let policy = rules.role_policy(who.role).clone();
    let peer = from.peer.ip().to_string();
    let principal = who.principal.as_str();
    let audit = |kind: &str, result: &str| {
        proxy.audit.log(&Event::Reveal {
            principal,
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
    // One budget per principal, whatever role it asks as.
    let rate = Rate::per_minute(proxy.settings.reveal_per_minute);
    let verdict = proxy
        .quotas
        .take("reveal", "*", &who.principal, 1, rate)
        .await;
    if verdict != Verdict::Allow {
        audit("-", "rate_limited");
        return proxy.refuse_quota("reveal", who, &policy.name, "-", verdict);
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Refusal::BadRevealRequest { too_large: true }.respond(&proxy.metrics),
    };
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned));
    let Some(token) = token else {
        audit("-", "invalid");
        return Refusal::BadRevealRequest { too_large: false }.respond(&proxy.metrics);
    };
    let Some((kind, value)) = keys.detokenize(&token) else {
        audit("-", "invalid");
        return Refusal::InvalidToken.respond(&proxy.metrics);
    };
    let allowed = rules.kinds.get(&kind).is_some_and(|k| policy.may_reveal(k));
    if !allowed {
        audit(&kind, "refused");
        return Refusal::RevealNotAllowed.respond(&proxy.metrics);
    }
    audit(&kind, "allowed");
    let body = serde_json::json!({ "kind": kind, "value": value }).to_string();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(body))
        .expect("a valid response")
}
