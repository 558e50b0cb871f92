//! WebSocket relay. The role is resolved once, at the upgrade, and kept.
//!
//! Server → client text messages go through the route's masker (JSON, as ActionCable
//! frames are; a message that is not JSON is scanned as text); in client → server
//! messages, tokens turn back only at the JSON paths the route lists (none for
//! ActionCable, whose client sends no contact identifier), within the role's quota. Fragmented messages are reassembled by tungstenite up to
//! `websocket_max_message`; a bigger one closes the connection. `permessage-deflate` is
//! removed from the handshake so that every frame is readable. Binary messages on a masked
//! route follow the route's `on_unknown`: scanned as text, or the connection is closed.
use super::detokenize::Detokenizer;
use super::error::Refusal;
use super::{full, Downstream, Proxy, ProxyBody};
use crate::engine::format::json::JsonMasker;
use crate::engine::format::text::TextMasker;
use crate::engine::format::Format;
use crate::engine::token::KeyRing;
use crate::engine::{mask_all, Masker};
use crate::roles::Resolution;
use crate::rules::{OnUnknown, RouteId, RuleSet};
use futures_util::{SinkExt, StreamExt};
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::protocol::{
    frame::coding::CloseCode, CloseFrame, Role, WebSocketConfig,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Is this a WebSocket upgrade request?
pub fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

pub async fn proxy(
    proxy: Arc<Proxy>,
    mut req: Request<Incoming>,
    from: Downstream,
    rules: Arc<RuleSet>,
    route_id: RouteId,
    keys: Arc<KeyRing>,
    who: &Resolution,
) -> Response<ProxyBody> {
    let role = who.role;
    let route = rules.route(route_id);
    let masked = !route.passthrough && !rules.role_policy(role).is_all_clear();
    let downstream_upgrade = hyper::upgrade::on(&mut req);
    let (mut parts, _body) = req.into_parts();
    parts.headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    let role_name = rules.role_policy(role).name.clone();
    let per_hour = rules.role_grants(role).detokenize_per_hour;
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut turn = Detokenizer::new(
        &keys,
        &rules.kinds,
        rules.role_grants(role),
        &route.detokenize,
    );
    let pq = turn.path_and_query(pq).into_owned();
    if let Err(refused) = proxy
        .settle(&turn, who, &role_name, &route.name, per_hour)
        .await
    {
        return refused;
    }
    drop(turn);
    if let Err(e) = proxy.retarget(&mut parts, from, &pq) {
        return e.respond(&proxy.metrics);
    }
    let upstream_req = Request::from_parts(parts, full(bytes::Bytes::new()));
    let mut resp = match proxy
        .upstream
        .send(
            upstream_req,
            proxy.settings.response_timeout,
            &proxy.metrics,
        )
        .await
    {
        Ok(r) => r,
        Err(failure) => return Refusal::from(failure).respond(&proxy.metrics),
    };
    proxy
        .upstream_seen
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Refusal::UpgradeRefused(resp.status()).respond(&proxy.metrics);
    }
    if resp
        .headers()
        .contains_key(header::SEC_WEBSOCKET_EXTENSIONS)
    {
        // The upstream negotiated an extension we did not offer: frames would be unreadable.
        return Refusal::WebSocketExtension.respond(&proxy.metrics);
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let max = proxy.settings.websocket_max_message;
    let plan = masked.then(|| rules.plan(route, role, &keys));
    // The handshake's headers (a Set-Cookie, a custom one) are masked like any response's.
    let mut headers = resp.headers().clone();
    if let Some(plan) = &plan {
        let mut values = crate::engine::format::text::ValueMasker::new(plan.clone());
        super::headers::mask_response_headers(&mut headers, &mut values);
    }
    let mut down_resp = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (k, v) in &headers {
        down_resp = down_resp.header(k, v);
    }
    let on_unknown = route.on_unknown;
    let metrics = proxy.metrics.clone();
    let route_name = route.name.clone();
    let who = who.clone();
    // The route's places and the role's grants, looked up once for the connection's life.
    let places = route.detokenize.clone();
    let grants = rules.role_grants(role).clone();
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream_upgrade, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let Some(plan) = plan else {
            // Every kind clear for this role: relay the raw bytes.
            let (mut d, mut u) = (TokioIo::new(down), TokioIo::new(up));
            let _ = tokio::io::copy_bidirectional(&mut d, &mut u).await;
            return;
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(down), Role::Server, Some(config)).await;
        let server =
            WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Client, Some(config)).await;
        let (mut client_tx, mut client_rx) = client.split();
        let (mut server_tx, mut server_rx) = server.split();
        let down_metrics = metrics.clone();
        let to_client = async move {
            while let Some(msg) = server_rx.next().await {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        down_metrics
                            .websocket_messages
                            .with_label_values(&["down", "error"])
                            .inc();
                        tracing::warn!(error = %e, "upstream websocket error");
                        break;
                    }
                };
                let out = match msg {
                    Message::Text(t) => match mask_message(&plan, t.as_bytes()) {
                        Some(bytes) => {
                            Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
                        }
                        None => break,
                    },
                    Message::Binary(b) => match on_unknown {
                        OnUnknown::Block => {
                            down_metrics
                                .blocked
                                .with_label_values(&["websocket_binary"])
                                .inc();
                            break;
                        }
                        OnUnknown::Scan => match mask_all(&mut TextMasker::new(plan.clone()), &b) {
                            Ok(bytes) => Message::Binary(bytes.into()),
                            Err(_) => break,
                        },
                    },
                    Message::Close(c) => {
                        let _ = client_tx.send(Message::Close(c)).await;
                        return;
                    }
                    other => other,
                };
                down_metrics
                    .websocket_messages
                    .with_label_values(&["down", "ok"])
                    .inc();
                if client_tx.send(out).await.is_err() {
                    return;
                }
            }
            let _ = client_tx
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Policy,
                    reason: "veil: message could not be masked".into(),
                })))
                .await;
        };
        let up_metrics = metrics.clone();
        let to_server = async move {
            while let Some(Ok(msg)) = client_rx.next().await {
                let out = match msg {
                    // No JSON place on this route (ActionCable): the frame goes as it is.
                    Message::Text(t) if !places.json.is_empty() => {
                        let mut turn = Detokenizer::new(&keys, &rules.kinds, &grants, &places);
                        // A message that is not JSON has no listed place: it goes as it is.
                        let replaced = turn.json(t.as_bytes()).ok().flatten();
                        let settled = proxy
                            .settle(&turn, &who, &role_name, &route_name, per_hour)
                            .await;
                        match (replaced, settled) {
                            (Some(new), Ok(())) => Message::Text(
                                String::from_utf8(new)
                                    .expect("serde_json writes UTF-8")
                                    .into(),
                            ),
                            // Over quota: the message goes with its tokens as tokens.
                            _ => Message::Text(t),
                        }
                    }
                    other => other,
                };
                up_metrics
                    .websocket_messages
                    .with_label_values(&["up", "ok"])
                    .inc();
                let close = matches!(out, Message::Close(_));
                if server_tx.send(out).await.is_err() || close {
                    return;
                }
            }
        };
        tokio::select! {
            _ = to_client => {},
            _ = to_server => {},
        }
    });
    let _ = Format::Json;
    down_resp
        .body(full(bytes::Bytes::new()))
        .expect("a valid response")
}

/// Masks one server message: as JSON, or, when it is not JSON, as text. `None` when it
/// cannot be masked at all.
fn mask_message(plan: &crate::engine::vocab::plan::MaskPlan, text: &[u8]) -> Option<Vec<u8>> {
    let mut json = JsonMasker::new(plan.clone());
    match mask_all(&mut json, text) {
        Ok(out) => Some(out),
        Err(_) => {
            let mut t = TextMasker::new(plan.clone());
            let mut out = Vec::new();
            t.push(text, &mut out).ok()?;
            t.finish(&mut out).ok()?;
            Some(out)
        }
    }
}
