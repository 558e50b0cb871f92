//! A small inbox server for the demo and the tests: a dashboard page whose script loads
//! contacts and conversations over JSON and receives new messages over a WebSocket
//! (`/cable`, ActionCable-shaped frames), a contact search, and a reply endpoint that
//! echoes what it received. It holds clear PII on purpose: veil stands in front of it.
use super::data;
use crate::proxy::{full, ProxyBody};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;

const DASHBOARD: &str = include_str!("dashboard.html");

/// What the inbox received (request targets and bodies), for tests to check what reached
/// the upstream.
#[derive(Debug, Default, Clone)]
pub struct Received(pub Arc<Mutex<Vec<String>>>);

/// Binds and serves the demo inbox; returns its address.
pub async fn start(listen: &str, push_every: Duration) -> anyhow::Result<(SocketAddr, Received)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let received = Received::default();
    let rec = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let rec = rec.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let rec = rec.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(req, rec, push_every).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, received))
}

fn json(v: serde_json::Value) -> Response<ProxyBody> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(full(v.to_string()))
        .expect("a valid response")
}

async fn handle(
    mut req: Request<Incoming>,
    rec: Received,
    push_every: Duration,
) -> Response<ProxyBody> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/".into(), |p| p.to_string());
    rec.0
        .lock()
        .expect("not poisoned")
        .push(format!("{} {}", req.method(), target));
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/") => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "/app/")
            .body(full(Bytes::new()))
            .expect("a valid response"),
        (Method::GET, p) if p.starts_with("/app") => Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(full(DASHBOARD))
            .expect("a valid response"),
        (Method::GET, "/api/v1/accounts/1/contacts") => json(data::contacts(None)),
        (Method::GET, "/api/v1/accounts/1/contacts/search") => {
            let q = req.uri().query().and_then(|q| {
                q.split('&').find_map(|kv| kv.strip_prefix("q=")).map(|v| {
                    percent_encoding::percent_decode_str(&v.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned()
                })
            });
            json(data::contacts(q.as_deref()))
        }
        (Method::GET, "/api/v1/accounts/1/conversations") => {
            // The replies this inbox stored, as it stored them (an agent's token stays a
            // token: the admin's view shows what the contact would have received).
            let replies: Vec<String> = rec
                .0
                .lock()
                .expect("not poisoned")
                .iter()
                .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
                .filter_map(|v| v["content"].as_str().map(str::to_owned))
                .collect();
            json(data::conversations(&replies))
        }
        (Method::POST, "/api/v1/accounts/1/conversations/1/messages") => {
            let body = req
                .body_mut()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).into_owned();
            rec.0.lock().expect("not poisoned").push(text.clone());
            let content = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["content"].as_str().map(str::to_owned))
                .unwrap_or_default();
            json(data::message(999, &data::CONTACTS[0], &content, false))
        }
        (Method::GET, "/cable") => cable(req, push_every),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "application/json")
            .body(full(r#"{"error":"not found"}"#))
            .expect("a valid response"),
    }
}

/// The ActionCable-like socket: a welcome frame, then a new message every `push_every`.
fn cable(mut req: Request<Incoming>, push_every: Duration) -> Response<ProxyBody> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(full("websocket only"))
            .expect("valid");
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(io) = upgrade.await else { return };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(io),
            Role::Server,
            None,
        )
        .await;
        let (mut tx, mut rx) = ws.split();
        if tx
            .send(Message::Text(r#"{"type":"welcome"}"#.into()))
            .await
            .is_err()
        {
            return;
        }
        let mut n = 0u32;
        let mut tick = tokio::time::interval(push_every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if tx.send(Message::Text(data::cable_frame(n).into())).await.is_err() { return; }
                    n += 1;
                }
                m = rx.next() => match m {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(Message::Text(t))) => {
                        // Echo what a client sent, as a server "ack" frame.
                        let ack = serde_json::json!({"type": "ack", "message": t.as_str()}).to_string();
                        if tx.send(Message::Text(ack.into())).await.is_err() { return; }
                    }
                    _ => {}
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(full(Bytes::new()))
        .expect("a valid response")
}
