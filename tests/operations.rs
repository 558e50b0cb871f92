//! Operating veil: the metrics it exports after real traffic, hot reload of the rules
//! (a broken change keeps the running rules, a good one applies to the next request, a
//! response in flight keeps the rules it started with), the admin endpoints, the worker
//! threads, the connection limit and graceful shutdown.
//! Real `veil serve` binary, real upstreams on 127.0.0.1; every test is bounded.
mod common;

use bytes::Bytes;
use common::fx::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const CONTACTS: &str = "/api/v1/accounts/1/contacts";

/// The upstream of the metrics test: every kind of response the workload needs, HTTP and
/// WebSocket on one port.
async fn mixed_upstream() -> (std::net::SocketAddr, Log) {
    mux_upstream(
        |seen: Seen| async move {
            let close = ("connection", "close");
            let path = seen.target.split('?').next().unwrap_or("").to_owned();
            match path.as_str() {
                "/api/v1/accounts/1/compressed" => response(
                    200,
                    &[json_ct(), ("content-encoding", "compress"), close],
                    whole(CONTACTS_JSON),
                ),
                "/api/v1/accounts/1/broken" => response(
                    200,
                    &[json_ct(), close],
                    whole(r#"{"payload":[{"id":301,,"phone_number":"+5521981234567"}]}"#),
                ),
                "/api/v1/accounts/1/failing" => response(
                    502,
                    &[json_ct(), close],
                    whole(r#"{"error":"bad gateway upstream","phone_number":"+5521981234567"}"#),
                ),
                _ => response(200, &[json_ct(), close], whole(CONTACTS_JSON)),
            }
        },
        |_target, mut ws| async move {
            if ws.send(Message::Text(cable_frame().into())).await.is_err() {
                return;
            }
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        },
    )
    .await
}

async fn ws_connect(
    veil: &Veil,
    role: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{}/cable", veil.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-veil-role", role.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket through veil");
    assert_eq!(resp.status(), 101);
    ws
}

async fn admin_get(veil: &Veil, path: &str) -> Got {
    fetch(request(
        "GET",
        &format!("http://{}{path}", veil.admin),
        None,
        &[],
        Bytes::new(),
    ))
    .await
}

/// The active rule version, as `/readyz` reports it.
async fn ready_version(veil: &Veil) -> String {
    let got = admin_get(veil, "/readyz").await;
    assert_eq!(got.status, 200, "{}", got.text());
    got.text()
        .trim()
        .strip_prefix("ready: rules ")
        .expect("ready: rules VERSION")
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// 1. Metrics

#[tokio::test]
async fn metrics_count_a_mixed_workload_with_the_right_labels() {
    bounded(async {
        let (up, log) = mixed_upstream().await;
        let veil = Veil::start(up);
        let before = veil.metrics().await;
        let version = ready_version(&veil).await;

        // Masked JSON as agent; the token it carries comes back in a search.
        let agent = get(&veil, CONTACTS, "agent").await;
        agent.complete();
        assert_eq!(agent.status, 200);
        assert_absent(&agent.text(), PII);
        let token = phone_token(&agent.text());
        // Clear as admin.
        let admin = get(&veil, CONTACTS, "admin").await;
        assert_eq!(admin.body, CONTACTS_JSON.as_bytes());
        // An unknown content coding: refused.
        let compressed = get(&veil, "/api/v1/accounts/1/compressed", "agent").await;
        assert_eq!(compressed.status, 502);
        assert_absent(&compressed.text(), PII);
        // The upstream answers 502 itself: passed on, masked.
        let failing = get(&veil, "/api/v1/accounts/1/failing", "agent").await;
        failing.complete();
        assert_eq!(failing.status, 502);
        assert_absent(&failing.text(), PII);
        // The upstream closes without answering: veil's own 502.
        let dropped = get(&veil, "/api/v1/accounts/1/__drop", "agent").await;
        assert_eq!(dropped.status, 502);
        assert_eq!(dropped.json()["error"], "upstream_unavailable");
        // Malformed JSON: aborted.
        let broken = get_or_cut(&veil, "/api/v1/accounts/1/broken", "agent").await;
        assert_not_whole(&broken);
        assert_absent(&broken.text(), PII);
        // A token sent back (and a forged one).
        let found = get(
            &veil,
            &format!("/api/v1/accounts/1/contacts/search?q={token}"),
            "agent",
        )
        .await;
        found.complete();
        let forged = get(
            &veil,
            "/api/v1/accounts/1/contacts/search?q=vt_phone_k1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "agent",
        )
        .await;
        forged.complete();
        let searched: Vec<String> = log
            .all()
            .into_iter()
            .map(|s| s.target)
            .filter(|t| t.contains("/search"))
            .collect();
        assert!(
            searched[0].contains("5521981234567"),
            "the token is detokenized: {searched:?}"
        );
        // A WebSocket message down, one up.
        let mut ws = ws_connect(&veil, "agent").await;
        let first = loop {
            match ws.next().await.expect("a frame").expect("no error") {
                Message::Text(t) => break t.to_string(),
                _ => continue,
            }
        };
        assert_absent(&first, PII);
        ws.send(Message::Text(r#"{"command":"message"}"#.into()))
            .await
            .unwrap();
        // A reload (same rules): counted as ok.
        veil.sighup();
        let m = veil
            .wait_metrics(Duration::from_secs(10), |m| {
                m.value("veil_rule_reloads_total", &[("result", "ok")]) >= 1.0
                    && m.value("veil_websocket_messages_total", &[("direction", "up")]) >= 1.0
            })
            .await;
        let _ = ws.close(None).await;
        println!("{}", m.0);

        let on = |route: &str, role: &str, status: &str| {
            m.value(
                "veil_requests_total",
                &[("route", route), ("role", role), ("status", status)],
            )
        };
        let req = |role: &str, status: &str| on("chatwoot-api", role, status);
        // The contact list has its own route (a collection budget counts it), and so have
        // the searches (they turn the search's token back).
        assert_eq!(on("chatwoot-contact-lists", "agent", "200"), 1.0, "{}", m.0);
        assert_eq!(on("chatwoot-contact-lists", "admin", "200"), 1.0, "{}", m.0);
        assert_eq!(
            m.value(
                "veil_requests_total",
                &[
                    ("route", "chatwoot-contact-search"),
                    ("role", "agent"),
                    ("status", "200")
                ]
            ),
            2.0,
            "{}",
            m.0
        );
        // unknown encoding, the upstream's 502, the dropped connection.
        assert_eq!(req("agent", "502"), 3.0);
        assert_eq!(
            m.value(
                "veil_requests_total",
                &[
                    ("route", "chatwoot-cable"),
                    ("role", "agent"),
                    ("status", "101")
                ]
            ),
            1.0
        );
        // contacts twice on its own route; broken, failing and more on chatwoot-api.
        assert_eq!(
            m.value(
                "veil_request_duration_seconds_count",
                &[("route", "chatwoot-contact-lists")]
            ),
            2.0
        );
        assert!(
            m.value(
                "veil_request_duration_seconds_count",
                &[("route", "chatwoot-api")]
            ) >= 2.0
        );
        assert!(
            m.value("veil_masking_duration_seconds_count", &[("format", "json")]) >= 3.0,
            "{}",
            m.0
        );
        assert!(
            m.value(
                "veil_body_bytes_total",
                &[("direction", "in"), ("format", "json")]
            ) >= CONTACTS_JSON.len() as f64
        );
        assert!(
            m.value(
                "veil_body_bytes_total",
                &[("direction", "out"), ("format", "json")]
            ) > 0.0
        );
        assert!(
            m.value(
                "veil_matches_total",
                &[("kind", "phone"), ("action", "token")]
            ) >= 2.0
        );
        assert!(
            m.value(
                "veil_matches_total",
                &[("kind", "email"), ("action", "mask")]
            ) >= 1.0
        );
        assert!(
            m.value(
                "veil_matches_total",
                &[("kind", "cpf"), ("action", "redact")]
            ) >= 1.0
        );
        assert_eq!(
            m.value("veil_blocked_total", &[("reason", "unknown_encoding")]),
            1.0
        );
        assert_eq!(
            m.value("veil_blocked_total", &[("reason", "malformed_body")]),
            1.0
        );
        assert_eq!(
            m.value("veil_upstream_errors_total", &[("kind", "request")]),
            1.0
        );
        let turned = |result| {
            m.value(
                "veil_detokenized_total",
                &[
                    ("route", "chatwoot-contact-search"),
                    ("place", "query:q"),
                    ("result", result),
                ],
            )
        };
        assert_eq!(turned("ok"), 1.0, "{}", m.0);
        assert_eq!(turned("invalid"), 1.0, "{}", m.0);
        // Every proxied request carried the role header from a trusted peer.
        assert_eq!(
            m.value(
                "veil_role_resolutions_total",
                &[("resolver", "trusted_header"), ("result", "ok")]
            ),
            9.0,
            "{}",
            m.0
        );
        assert_eq!(
            m.value("veil_rule_reloads_total", &[("result", "error")]),
            0.0
        );
        assert_eq!(m.value("veil_rules_info", &[("version", &version)]), 1.0);
        assert_eq!(m.samples("veil_rules_info", &[]).len(), 1);
        assert!(
            m.value(
                "veil_websocket_messages_total",
                &[("direction", "down"), ("result", "ok")]
            ) >= 1.0
        );
        assert_eq!(
            m.value(
                "veil_websocket_messages_total",
                &[("direction", "up"), ("result", "ok")]
            ),
            1.0
        );
        // Before any traffic none of the counters had a sample.
        assert_eq!(before.samples("veil_requests_total", &[]).len(), 0);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 2. Hot reload

/// The agent's e-mail action, as the shipped roles.yaml writes it.
const AGENT_EMAIL_MASK: &str =
    "      email: { mask: { keep_first: 0, keep_last: 0 } }\n      name: clear\n      cpf: redact";
const AGENT_EMAIL_REDACT: &str = "      email: redact\n      name: clear\n      cpf: redact";

/// Changes the agent's e-mail action to `redact` in the veil's rules copy.
fn redact_agent_email(veil: &Veil) {
    let path = veil.rules_dir().join("roles.yaml");
    let roles = std::fs::read_to_string(&path).unwrap();
    assert!(roles.contains(AGENT_EMAIL_MASK), "roles.yaml changed shape");
    let changed = roles.replacen(AGENT_EMAIL_MASK, AGENT_EMAIL_REDACT, 1);
    // Written whole and renamed into place: the watcher never reads half a file.
    let tmp = veil.rules_dir().join("roles.yaml.tmp");
    std::fs::write(&tmp, changed).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn email_of(got: &Got) -> String {
    got.json()["payload"][0]["email"]
        .as_str()
        .expect("an email field")
        .to_owned()
}

#[tokio::test]
async fn a_broken_rule_change_keeps_the_running_rules_and_a_good_one_applies() {
    bounded(async {
        let (up, _) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.copy_rules = true;
        let veil = Veil::with(setup);
        let v0 = ready_version(&veil).await;
        let masked = get(&veil, CONTACTS, "agent").await;
        let masked_email = email_of(&masked);
        assert!(masked_email.contains('•'), "{masked_email}");

        // (a) A broken file: an invalid JSONPath on line 6.
        let broken = "# a rule file with a mistake\n\
                      routes:\n\
                      \x20 - name: broken-route\n\
                      \x20   match: { path: \"/broken/**\" }\n\
                      \x20   json:\n\
                      \x20     \"$..[[phone\": phone\n";
        let tmp = veil.rules_dir().join("broken.yaml.tmp");
        std::fs::write(&tmp, broken).unwrap();
        std::fs::rename(&tmp, veil.rules_dir().join("zz-broken.yaml")).unwrap();
        veil.sighup();
        let m = veil
            .wait_metrics(Duration::from_secs(10), |m| {
                m.value("veil_rule_reloads_total", &[("result", "error")]) >= 1.0
            })
            .await;
        assert_eq!(m.value("veil_rule_reloads_total", &[("result", "ok")]), 0.0);
        assert_eq!(m.value("veil_rules_info", &[("version", &v0)]), 1.0);
        let still = get(&veil, CONTACTS, "agent").await;
        still.complete();
        assert_absent(&still.text(), PII);
        assert_eq!(email_of(&still), masked_email, "the old rules still mask");
        let log = veil.log();
        let line = log
            .lines()
            .find(|l| l.contains("zz-broken.yaml"))
            .unwrap_or_else(|| panic!("the log names the broken file:\n{log}"));
        assert!(line.contains("zz-broken.yaml:6:"), "file:line in {line}");
        assert_eq!(ready_version(&veil).await, v0);

        // (b) Remove it, make a good change: the next request follows it.
        std::fs::remove_file(veil.rules_dir().join("zz-broken.yaml")).unwrap();
        redact_agent_email(&veil);
        veil.sighup();
        let m = veil
            .wait_metrics(Duration::from_secs(10), |m| {
                m.value("veil_rules_info", &[("version", &v0)]) == 0.0
                    && m.value("veil_rule_reloads_total", &[("result", "ok")]) >= 1.0
            })
            .await;
        let v1 = ready_version(&veil).await;
        assert_ne!(v1, v0);
        assert_eq!(m.value("veil_rules_info", &[("version", &v1)]), 1.0);
        assert_eq!(m.samples("veil_rules_info", &[]).len(), 1);
        let after = get(&veil, CONTACTS, "agent").await;
        after.complete();
        assert_absent(&after.text(), PII);
        assert_eq!(email_of(&after), "[redacted:email]");
        // The phone is still a token: only the e-mail action changed.
        phone_token(&after.text());
    })
    .await
}

#[tokio::test]
async fn a_streamed_response_keeps_the_rules_it_started_with() {
    bounded(async {
        // The first request gets a held-open chunked body; later ones the whole fixture.
        let (part_tx, part_rx) = tokio::sync::mpsc::channel::<tokio::sync::mpsc::Sender<Bytes>>(1);
        let part_rx = Arc::new(tokio::sync::Mutex::new(Some(part_rx)));
        let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let feeders = Arc::new(tokio::sync::Mutex::new(Some(part_tx)));
        let (up, _) = upstream(move |_| {
            let first = first.clone();
            let feeders = feeders.clone();
            async move {
                if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    let (tx, body) = channel_body();
                    let feeder = feeders.lock().await.take().unwrap();
                    feeder.send(tx).await.unwrap();
                    response(200, &[json_ct()], body)
                } else {
                    response(200, &[json_ct()], whole(CONTACTS_JSON))
                }
            }
        })
        .await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.copy_rules = true;
        let veil = Veil::with(setup);
        let v0 = ready_version(&veil).await;

        let resp = client()
            .request(request(
                "GET",
                &veil.url(CONTACTS),
                Some("agent"),
                &[],
                Bytes::new(),
            ))
            .await
            .expect("veil answered");
        assert_eq!(resp.status(), 200);
        let tx = part_rx.lock().await.take().unwrap().recv().await.unwrap();
        let (_, mut body) = resp.into_parts();
        // The first part: one element with an e-mail, masked under the running rules.
        tx.send(Bytes::from_static(
            br#"{"payload":[{"id":1,"email":"maria.teste@example.com","pedido":"PED-2025-0042"},"#,
        ))
        .await
        .unwrap();
        let mut first_part = Vec::new();
        while !String::from_utf8_lossy(&first_part).contains("PED-2025-0042") {
            let f = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await
                .expect("the first part arrives while the body is open")
                .expect("a frame")
                .expect("no error");
            if let Ok(d) = f.into_data() {
                first_part.extend_from_slice(&d);
            }
        }
        let first_part = String::from_utf8(first_part).unwrap();
        assert_absent(&first_part, PII);
        assert!(first_part.contains('•'), "{first_part}");

        // Reload rules that redact e-mails, and wait until they are active.
        redact_agent_email(&veil);
        veil.sighup();
        veil.wait_metrics(Duration::from_secs(10), |m| {
            m.value("veil_rules_info", &[("version", &v0)]) == 0.0
        })
        .await;
        // A new request uses the new rules.
        let fresh = get(&veil, CONTACTS, "agent").await;
        assert_eq!(email_of(&fresh), "[redacted:email]");

        // The rest of the held response: still the old rules.
        tx.send(Bytes::from_static(
            br#"{"id":2,"email":"joao.souza@example.org","phone_number":"+5521981234567"}]}"#,
        ))
        .await
        .unwrap();
        drop(tx);
        let rest = read(http::Response::new(body)).await;
        rest.complete();
        let all = format!("{first_part}{}", rest.text());
        assert_absent(&all, PII);
        assert_absent(&all, &["joao.souza", "[redacted:email]"]);
        let v: serde_json::Value = serde_json::from_str(&all).expect("whole JSON");
        let second = v["payload"][1]["email"].as_str().unwrap();
        assert!(
            second.contains('•'),
            "old rules (mask) for the rest: {second}"
        );
        phone_token(&all);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 3. Admin endpoints

#[tokio::test]
async fn readyz_follows_the_upstream_and_admin_paths_stay_off_the_proxy_port() {
    bounded(async {
        // Nothing listens on the upstream address yet.
        let addr = dead_addr().await;
        let veil = Veil::start(addr);
        let health = admin_get(&veil, "/healthz").await;
        assert_eq!(health.status, 200);
        let ready = admin_get(&veil, "/readyz").await;
        assert_eq!(ready.status, 503, "{}", ready.text());

        // The upstream comes up on that address.
        let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        let (_, log) = upstream_on(listener, |_| async {
            response(
                404,
                &[json_ct()],
                whole(r#"{"error":"not found upstream"}"#),
            )
        });
        let ready = admin_get(&veil, "/readyz").await;
        assert_eq!(ready.status, 200, "{}", ready.text());
        assert!(ready.text().starts_with("ready: rules "));

        // On the proxy port the admin paths are the upstream's.
        for path in ["/metrics", "/healthz", "/readyz"] {
            let got = get(&veil, path, "agent").await;
            got.complete();
            assert_eq!(got.status, 404, "{path}");
            assert!(!got.text().contains("veil_"), "{path}: {}", got.text());
        }
        let targets: Vec<String> = log.all().into_iter().map(|s| s.target).collect();
        assert_eq!(targets, ["/metrics", "/healthz", "/readyz"]);
        // Anything else on the admin port is 404.
        assert_eq!(
            admin_get(&veil, "/api/v1/accounts/1/contacts").await.status,
            404
        );
    })
    .await
}

/// A masked JSON response read raw off a connection: its head, and the end of its body
/// (the masked body is chunked).
async fn raw_masked_get(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    let req = format!("GET {CONTACTS} HTTP/1.1\r\nhost: inbox\r\nx-veil-role: agent\r\n\r\n");
    send_raw(stream, req.as_bytes()).await;
    let got = read_until(stream, b"\r\n0\r\n\r\n", within).await?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn workers_serve_in_parallel_and_sigterm_drains_what_is_in_flight() {
    bounded(async {
        let (senders, mut slow_bodies) = tokio::sync::mpsc::unbounded_channel();
        let (up, _) = upstream(move |seen: Seen| {
            let senders = senders.clone();
            async move {
                if seen.target.ends_with("/slow") {
                    let (tx, body) = channel_body();
                    let _ = senders.send(tx);
                    response(200, &[json_ct()], body)
                } else {
                    response(200, &[json_ct()], whole(CONTACTS_JSON))
                }
            }
        })
        .await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "workers: 3\nlimits:\n  shutdown_grace: 20s\n".into();
        let mut veil = Veil::with(setup);
        // (A thread names itself once it runs: give the workers a moment.)
        let mut workers = Vec::new();
        for _ in 0..100 {
            workers = veil.thread_names();
            workers.retain(|n| n.starts_with("veil-worker"));
            if workers.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(workers, ["veil-worker-0", "veil-worker-1", "veil-worker-2"]);

        // Many connections at once, spread over the workers: every one masked.
        let all = futures_util::future::join_all((0..24).map(|_| get(&veil, CONTACTS, "agent")));
        for got in all.await {
            assert_eq!(got.status, 200);
            got.complete();
            assert_absent(&got.text(), PII);
            assert_present(&got.text(), KEEP);
        }

        // Each connection was counted by the worker that accepted it, and is closed again.
        let m = veil
            .wait_metrics(Duration::from_secs(10), |m| {
                m.value("veil_connections_open", &[]) == 0.0
            })
            .await;
        assert_eq!(m.value("veil_connections_total", &[]), 24.0, "{}", m.0);
        let per_worker = m.samples("veil_connections_total", &[]);
        assert!(
            !per_worker.is_empty()
                && per_worker.iter().all(|(labels, _)| {
                    ["worker=\"0\"", "worker=\"1\"", "worker=\"2\""].contains(&labels.as_str())
                }),
            "{per_worker:?}"
        );

        // A response in flight when SIGTERM arrives...
        let slow = tokio::spawn(try_fetch(request(
            "GET",
            &veil.url("/api/v1/accounts/1/slow"),
            Some("agent"),
            &[],
            Bytes::new(),
        )));
        let body = slow_bodies
            .recv()
            .await
            .expect("the upstream got the request");
        let (first, rest) = CONTACTS_JSON.split_at(CONTACTS_JSON.len() / 2);
        body.send(Bytes::from_static(first.as_bytes()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        veil.signal("TERM");
        // ...stops veil accepting new connections...
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(veil.addr).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "veil still accepts connections after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            veil.wait_exit(Duration::ZERO).await.is_none(),
            "veil exited with a response in flight"
        );
        // ...and still ends, masked, before veil exits.
        body.send(Bytes::from_static(rest.as_bytes()))
            .await
            .unwrap();
        drop(body);
        let got = slow.await.unwrap().expect("the in-flight response");
        assert_eq!(got.status, 200);
        got.complete();
        assert_absent(&got.text(), PII);
        assert_present(&got.text(), KEEP);
        let status = veil
            .wait_exit(Duration::from_secs(10))
            .await
            .expect("veil exits once drained");
        assert!(status.success(), "{status:?}");
    })
    .await
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_one_closes() {
    bounded(async {
        let (up, _) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "workers: 2\nlimits:\n  max_connections: 2\n".into();
        let veil = Veil::with(setup);
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(veil.addr).await.unwrap();
            let text = raw_masked_get(&mut s, Duration::from_secs(10))
                .await
                .expect("a connection under the limit is served");
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert_absent(&text, PII);
            held.push(s);
        }
        let m = veil.metrics().await;
        assert_eq!(m.value("veil_connections_open", &[]), 2.0, "{}", m.0);
        // The kernel queues the third connection; veil does not serve it...
        let mut third = tokio::net::TcpStream::connect(veil.addr).await.unwrap();
        assert!(
            raw_masked_get(&mut third, Duration::from_millis(700))
                .await
                .is_none(),
            "a connection over the limit was served"
        );
        // ...until one of the first two closes.
        drop(held.remove(0));
        let text = read_until(&mut third, b"\r\n0\r\n\r\n", Duration::from_secs(10))
            .await
            .expect("the queued connection is served once a slot frees");
        assert!(text.starts_with(b"HTTP/1.1 200"));
        assert_absent(&String::from_utf8_lossy(&text), PII);
        // The one still held is still served.
        let text = raw_masked_get(&mut held[0], Duration::from_secs(10))
            .await
            .expect("kept alive");
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    })
    .await
}
