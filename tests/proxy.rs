//! The real `veil serve` binary between a client and a real upstream on 127.0.0.1, bytes in,
//! bytes out, with the shipped rules and a fixed key. Each test lists the PII a restricted
//! client (role `agent`, the default) must not receive and the content that must survive.
//! The harness is in tests/common/mod.rs; every test is bounded by a timeout and kills its
//! veil process on drop.
mod common;

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------
// Fixtures: invented values only.

const PHONE_E164: &str = "+5521981234567";
const EMAIL: &str = "maria.teste@example.com";
const CPF: &str = "529.982.247-25";

/// What must never reach an agent, in every form the fixtures write it.
const PII: &[&str] = &[
    "98123-4567",
    "981234567",
    "+5521",
    "maria.teste",
    "529.982.247",
    "52998224725",
];

/// Non-PII that must survive masking.
const KEEP: &[&str] = &["PED-2025-0042", "2025-11-20T10:15:00Z", "Maria Teste"];

use common::fx::CONTACTS_JSON;

const CONTACT_HTML: &str = r#"<!doctype html>
<html><head><title>Contato Maria Teste</title></head>
<body>
<h1>Pedido PED-2025-0042</h1>
<p class="contact-phone">+55 21 98123-4567</p>
<p class="contact-email">maria.teste@example.com</p>
<a href="tel:+5521981234567">Ligar</a>
<a href="mailto:maria.teste@example.com">Escrever</a>
<p>Telefone alternativo: &#43;55 21 98123-4567</p>
<p>Atualizado em 2025-11-20T10:15:00Z</p>
</body></html>
"#;

const CONTACTS_CSV: &str = "id,name,email,phone_number,custom_attributes,pedido\r\n\
301,Maria Teste,maria.teste@example.com,+5521981234567,\"{\"\"cpf\"\": \"\"529.982.247-25\"\"}\",PED-2025-0042\r\n\
302,Joao Souza,,+55 21 98123-4567,,2025-11-20T10:15:00Z\r\n";

const SSE_EVENT_1: &str = "event: message.created\nid: 1\ndata: {\"id\":9001,\"content\":\"Pedido PED-2025-0042: me liga no +55 21 98123-4567\",\"sender\":{\"name\":\"Maria Teste\",\"phone_number\":\"+5521981234567\",\"email\":\"maria.teste@example.com\"}}\n\n";
const SSE_EVENT_2: &str = "event: message.created\nid: 2\ndata: {\"id\":9002,\"content\":\"meu CPF: 529.982.247-25\",\"created_at\":\"2025-11-20T10:15:00Z\"}\n\n";

fn json_ct() -> (&'static str, &'static str) {
    ("content-type", "application/json; charset=utf-8")
}

/// Same keys, same array lengths, same numbers / booleans / nulls; strings may differ.
#[track_caller]
fn assert_same_shape(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value::*;
    match (a, b) {
        (Object(x), Object(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            assert_eq!(kx, ky);
            for (k, v) in x {
                assert_same_shape(v, &y[k]);
            }
        }
        (Array(x), Array(y)) => {
            assert_eq!(x.len(), y.len());
            for (v, w) in x.iter().zip(y) {
                assert_same_shape(v, w);
            }
        }
        (String(_), String(_)) => {}
        _ => assert_eq!(a, b),
    }
}

/// A `vt_phone_…` token in `text`.
fn phone_token(text: &str) -> String {
    let re = regex::Regex::new(r"vt_phone_[a-z0-9]+_[a-z2-7]{18,}").unwrap();
    re.find(text)
        .unwrap_or_else(|| panic!("no phone token in {text}"))
        .as_str()
        .to_owned()
}

/// Decodes numeric character references (`&#43;`, `&#x2B;`): what a browser would show.
fn decode_numeric_entities(html: &str) -> String {
    let re = regex::Regex::new(r"&#(x[0-9a-fA-F]+|[0-9]+);").unwrap();
    re.replace_all(html, |c: &regex::Captures| {
        let n = &c[1];
        let code = match n.strip_prefix('x') {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => n.parse().ok(),
        };
        code.and_then(char::from_u32)
            .map_or(String::new(), |ch| ch.to_string())
    })
    .into_owned()
}

// ---------------------------------------------------------------------------------------
// 1. JSON

#[tokio::test]
async fn json_is_masked_for_agent_and_byte_identical_for_admin() {
    bounded(async {
        let (up, _) = contacts_upstream().await;
        let veil = Veil::start(up);
        let agent = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        agent.complete();
        assert_eq!(agent.status, 200);
        let text = agent.text();
        assert_absent(&text, PII);
        assert_present(&text, KEEP);
        let v = agent.json();
        let original: serde_json::Value = serde_json::from_str(CONTACTS_JSON).unwrap();
        assert_same_shape(&original, &v);
        let c = &v["payload"][0];
        assert!(
            c["phone_number"].as_str().unwrap().starts_with("vt_phone_"),
            "{c}"
        );
        assert_ne!(c["email"], original["payload"][0]["email"]);
        assert_ne!(c["custom_attributes"]["cpf"], CPF);
        assert_eq!(c["custom_attributes"]["pedido"], "PED-2025-0042");
        assert!(c["last_message"].as_str().unwrap().contains("vt_phone_"));

        // No role header at all: the default role, the most restricted.
        let anon = fetch(request(
            "GET",
            &veil.url("/api/v1/accounts/1/contacts"),
            None,
            &[],
            Bytes::new(),
        ))
        .await;
        assert_eq!(anon.body, agent.body);

        let admin = get(&veil, "/api/v1/accounts/1/contacts", "admin").await;
        admin.complete();
        assert_eq!(admin.status, 200);
        assert_eq!(admin.body, CONTACTS_JSON.as_bytes());
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 2. HTML, CSV, SSE

#[tokio::test]
async fn html_page_is_masked() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[("content-type", "text/html; charset=utf-8")],
                whole(CONTACT_HTML),
            )
        })
        .await;
        let veil = Veil::start(up);
        let got = get(&veil, "/app/accounts/1/contacts/301", "agent").await;
        got.complete();
        assert_eq!(got.status, 200);
        let text = got.text();
        assert_absent(&text, PII);
        assert_absent(&decode_numeric_entities(&text), PII);
        assert_absent(&text, &["tel:+55"]);
        assert_present(
            &text,
            &[
                "<h1>Pedido PED-2025-0042</h1>",
                "2025-11-20T10:15:00Z",
                "<title>Contato Maria Teste</title>",
                "href=\"tel:vt_phone_",
            ],
        );
        let admin = get(&veil, "/app/accounts/1/contacts/301", "admin").await;
        assert_eq!(admin.body, CONTACT_HTML.as_bytes());
    })
    .await
}

#[tokio::test]
async fn csv_export_is_masked() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[
                    ("content-type", "text/csv; charset=utf-8"),
                    (
                        "content-disposition",
                        "attachment; filename=\"contacts.csv\"",
                    ),
                ],
                whole(CONTACTS_CSV),
            )
        })
        .await;
        let veil = Veil::start(up);
        // Agents may not download exports at all; a supervisor gets it masked.
        let refused = get(&veil, "/api/v1/accounts/1/contacts/download", "agent").await;
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert_eq!(refused.json()["error"], "export_refused");
        assert_absent(&refused.text(), PII);
        let got = get(&veil, "/api/v1/accounts/1/contacts/download", "supervisor").await;
        got.complete();
        assert_eq!(got.status, 200);
        let text = got.text();
        assert_absent(&text, PII);
        assert_present(
            &text,
            &[
                "id,name,email,phone_number,custom_attributes,pedido\r\n",
                "301,Maria Teste,",
                "PED-2025-0042",
                "302,Joao Souza,",
                "2025-11-20T10:15:00Z",
            ],
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    })
    .await
}

#[tokio::test]
async fn sse_is_masked_event_by_event_while_the_stream_is_open() {
    bounded(async {
        let release = Arc::new(tokio::sync::Notify::new());
        let r = release.clone();
        let (up, _) = upstream(move |_| {
            let r = r.clone();
            async move {
                let (tx, body) = channel_body();
                tokio::spawn(async move {
                    let _ = tx.send(Bytes::from_static(SSE_EVENT_1.as_bytes())).await;
                    // Hold the stream open until the client has the first event.
                    r.notified().await;
                    let _ = tx.send(Bytes::from_static(SSE_EVENT_2.as_bytes())).await;
                });
                response(
                    200,
                    &[
                        ("content-type", "text/event-stream"),
                        ("cache-control", "no-cache"),
                    ],
                    body,
                )
            }
        })
        .await;
        let veil = Veil::start(up);
        let resp = client()
            .request(request(
                "GET",
                &veil.url("/api/v1/accounts/1/events"),
                Some("agent"),
                &[("accept", "text/event-stream")],
                Bytes::new(),
            ))
            .await
            .expect("veil answered");
        assert_eq!(resp.status(), 200);
        let (_, mut body) = resp.into_parts();
        let mut first = Vec::new();
        while !first.windows(2).any(|w| w == b"\n\n") {
            use http_body_util::BodyExt;
            let frame = body
                .frame()
                .await
                .expect("the first event arrives before the stream ends")
                .expect("no error");
            if let Ok(d) = frame.into_data() {
                first.extend_from_slice(&d);
            }
        }
        let first = String::from_utf8(first).unwrap();
        assert_absent(&first, PII);
        assert_present(
            &first,
            &[
                "event: message.created",
                "id: 1",
                "PED-2025-0042",
                "vt_phone_",
            ],
        );
        release.notify_one();
        let rest = read(http::Response::new(body)).await;
        rest.complete();
        let all = format!("{first}{}", rest.text());
        assert_absent(&all, PII);
        assert_present(&all, &["id: 2", "2025-11-20T10:15:00Z", "\"id\":9002"]);
        assert_eq!(all.matches("event: message.created").count(), 2, "{all}");
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 3. Content codings

#[tokio::test]
async fn compressed_bodies_are_masked_and_re_encoded_as_the_client_accepts() {
    bounded(async {
        let (up, _) = upstream(|seen: Seen| async move {
            let coding = seen
                .target
                .split("enc=")
                .nth(1)
                .unwrap_or("gzip")
                .to_owned();
            let body = encode(&coding, CONTACTS_JSON.as_bytes());
            response(
                200,
                &[json_ct(), ("content-encoding", coding.as_str())],
                whole(body),
            )
        })
        .await;
        let veil = Veil::start(up);
        let plain = {
            let p = "/api/v1/accounts/1/contacts?enc=gzip";
            let got = get(&veil, p, "agent").await;
            got.complete();
            assert_eq!(got.header("content-encoding"), None);
            got.body
        };
        assert_absent(&String::from_utf8_lossy(&plain), PII);
        for coding in ["gzip", "br", "zstd"] {
            let path = format!("/api/v1/accounts/1/contacts?enc={coding}");
            // A client that takes the coding gets it back.
            let got = fetch(request(
                "GET",
                &veil.url(&path),
                Some("agent"),
                &[("accept-encoding", coding)],
                Bytes::new(),
            ))
            .await;
            got.complete();
            assert_eq!(got.status, 200, "{coding}");
            assert_eq!(got.header("content-encoding"), Some(coding));
            let decoded = decode(coding, &got.body);
            let text = String::from_utf8_lossy(&decoded);
            assert_absent(&text, PII);
            assert_present(&text, KEEP);
            assert_eq!(decoded, plain, "{coding}");
            // A client that does not gets identity.
            let got = get(&veil, &path, "agent").await;
            got.complete();
            assert_eq!(got.header("content-encoding"), None, "{coding}");
            assert_eq!(got.body, plain, "{coding}");
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 4. Awkward chunk boundaries

#[tokio::test]
async fn chunk_boundaries_do_not_change_the_output() {
    bounded(async {
        let (up, _) = upstream(|seen: Seen| async move {
            let (tx, body) = channel_body();
            let doc = CONTACTS_JSON.as_bytes();
            if seen.target.ends_with("split=phone") {
                // The phone number cut in two, with a pause between the halves.
                let cut = CONTACTS_JSON.find("+55219812").unwrap() + "+55219812".len();
                tokio::spawn(async move {
                    let _ = tx.send(Bytes::copy_from_slice(&doc[..cut])).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = tx.send(Bytes::copy_from_slice(&doc[cut..])).await;
                });
            } else if seen.target.ends_with("split=bytes") {
                tokio::spawn(async move {
                    for b in doc.chunks(1) {
                        if tx.send(Bytes::copy_from_slice(b)).await.is_err() {
                            return;
                        }
                    }
                });
            } else {
                return response(200, &[json_ct()], whole(CONTACTS_JSON));
            }
            response(200, &[json_ct()], body)
        })
        .await;
        let veil = Veil::start(up);
        let whole_out = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        whole_out.complete();
        assert_absent(&whole_out.text(), PII);
        for split in ["phone", "bytes"] {
            let path = format!("/api/v1/accounts/1/contacts?split={split}");
            let got = get(&veil, &path, "agent").await;
            got.complete();
            assert_absent(&got.text(), PII);
            assert_eq!(got.text(), whole_out.text(), "split={split}");
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 5, 6. Broken upstream bodies

#[tokio::test]
async fn upstream_dying_mid_body_cuts_the_response_without_leaking() {
    bounded(async {
        let up = raw_upstream(|mut s| async move {
            let safe = "PED-2025-0042 ".repeat(200);
            let part = format!(
                "{{\"payload\":[{{\"id\":301,\"notes\":\"{safe}\",\"last_message\":\"me liga no +55 21 98123-4567 ou maria.teste@example.com, CPF 529.982.247-25 ... "
            );
            let more = "\"phone_number\":\"+55219812";
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n";
            let mut out = head.as_bytes().to_vec();
            out.extend(format!("{:x}\r\n{part}\r\n", part.len()).bytes());
            out.extend(format!("{:x}\r\n{more}\r\n", more.len()).bytes());
            send_raw(&mut s, &out).await;
            // Then the upstream goes away: no terminating chunk.
        })
        .await;
        let veil = Veil::start(up);
        // The cut reaches the client mid-body, or before the head if veil had not
        // flushed it yet: either way, never a whole body.
        let got = get_or_cut(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        if got.head {
            assert_eq!(got.status, 200);
        }
        assert!(
            got.error.is_some(),
            "a cut upstream body must cut the client's body; got a whole one: {}",
            got.text()
        );
        assert_absent(&got.text(), PII);
        assert_absent(&got.text(), &["219812"]);
    })
    .await
}

#[tokio::test]
async fn malformed_json_aborts_the_stream_without_leaking() {
    bounded(async {
        let bad = r#"{"payload":[{"id":301,"pedido":"PED-2025-0042",,"phone_number":"+5521981234567","email":"maria.teste@example.com","note":"ligar +55 21 98123-4567"}]}"#;
        let (up, _) = upstream(move |_| async move {
            // Not JSON at the double comma; the PII comes after it.
            response(200, &[json_ct()], whole(bad))
        })
        .await;
        let veil = Veil::start(up);
        // The masker fails before it emits a byte: the connection closes, before the
        // response head (nothing received at all) or after it (a cut body).
        let got = get_or_cut(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        if !got.head {
            let e = got.error.as_deref().unwrap_or_default();
            assert!(e.contains("IncompleteMessage"), "{e}");
        }
        assert_not_whole(&got);
        assert_absent(&got.text(), PII);
        assert!(veil.log().contains("malformed_body"), "{}", veil.log());
    })
    .await
}

#[tokio::test]
async fn unknown_content_coding_is_refused_with_502() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[json_ct(), ("content-encoding", "compress")],
                whole(CONTACTS_JSON),
            )
        })
        .await;
        let veil = Veil::start(up);
        let got = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        got.complete();
        assert_eq!(got.status, 502);
        assert!(got.header("content-type").unwrap().contains("json"));
        let v = got.json();
        assert!(v["error"].is_string(), "{v}");
        assert_absent(&got.text(), PII);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 7. Upstream failures

#[tokio::test]
async fn unreachable_upstream_is_502() {
    bounded(async {
        let dead = dead_addr().await;
        let veil = Veil::start(dead);
        let got = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        got.complete();
        assert_eq!(got.status, 502);
        assert!(got.json()["error"].is_string());
    })
    .await
}

#[tokio::test]
async fn slow_upstream_is_504() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            response(200, &[json_ct()], whole(CONTACTS_JSON))
        })
        .await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.upstream_extra = "  response_timeout: 1s\n".into();
        let veil = Veil::with(setup);
        let got = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        got.complete();
        assert_eq!(got.status, 504);
        assert!(got.json()["error"].is_string());
        assert_absent(&got.text(), PII);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 8. Headers

#[tokio::test]
async fn masked_response_headers_are_rewritten() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[
                    json_ct(),
                    ("etag", "\"v1-abc123\""),
                    ("cache-control", "public, max-age=60"),
                    ("vary", "Origin"),
                    ("accept-ranges", "bytes"),
                    (
                        "content-disposition",
                        "attachment; filename=\"contato (+55 21 98123-4567).json\"; filename*=UTF-8''contato%20%2B5521981234567.json",
                    ),
                ],
                whole(CONTACTS_JSON),
            )
        })
        .await;
        let veil = Veil::start(up);
        let got = get(&veil, "/api/v1/accounts/1/contacts/301", "agent").await;
        got.complete();
        assert_eq!(got.status, 200);
        assert_absent(&got.text(), PII);
        if let Some(len) = got.header("content-length") {
            assert_eq!(len.parse::<usize>().unwrap(), got.body.len());
        }
        assert_eq!(got.header("etag"), None);
        assert_eq!(got.header("accept-ranges"), None);
        let cc = got.header("cache-control").unwrap().to_ascii_lowercase();
        assert!(cc.contains("private"), "{cc}");
        assert!(!cc.contains("public"), "{cc}");
        let vary = got.header("vary").unwrap().to_ascii_lowercase();
        for v in ["origin", "accept-encoding", "authorization", "cookie"] {
            assert!(vary.contains(v), "{vary}");
        }
        let cd = got
            .header("content-disposition")
            .expect("content-disposition kept")
            .to_owned();
        assert_absent(&cd, PII);
        assert!(cd.starts_with("attachment"), "{cd}");
        // All headers together, decoded, as a last net.
        let all: String = got
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let decoded = percent_encoding::percent_decode_str(&all)
            .decode_utf8_lossy()
            .into_owned();
        assert_absent(&decoded, PII);
    })
    .await
}

/// A phone glued to a word (`contato-+55…`, `contato_55…`), as export file names often
/// are, is still found and masked in the header.
#[tokio::test]
async fn content_disposition_with_a_glued_phone_is_masked() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[
                    json_ct(),
                    (
                        "content-disposition",
                        "attachment; filename=\"contato-+5521981234567.json\"",
                    ),
                ],
                whole(CONTACTS_JSON),
            )
        })
        .await;
        let veil = Veil::start(up);
        let got = get(&veil, "/api/v1/accounts/1/contacts/301", "agent").await;
        assert_absent(got.header("content-disposition").unwrap_or(""), PII);
    })
    .await
}

#[tokio::test]
async fn range_requests_on_masked_routes_get_the_whole_masked_body() {
    bounded(async {
        let (up, log) = upstream(|seen: Seen| async move {
            if seen.headers.contains_key("range") {
                let part = &CONTACTS_JSON.as_bytes()[..40];
                return response(
                    206,
                    &[
                        json_ct(),
                        (
                            "content-range",
                            &format!("bytes 0-39/{}", CONTACTS_JSON.len()),
                        ),
                    ],
                    whole(part),
                );
            }
            response(200, &[json_ct()], whole(CONTACTS_JSON))
        })
        .await;
        let veil = Veil::start(up);
        let got = fetch(request(
            "GET",
            &veil.url("/api/v1/accounts/1/contacts"),
            Some("agent"),
            &[("range", "bytes=0-39"), ("if-range", "\"v1-abc123\"")],
            Bytes::new(),
        ))
        .await;
        got.complete();
        assert!(!log.last().headers.contains_key("range"));
        assert!(!log.last().headers.contains_key("if-range"));
        assert_eq!(got.status, 200);
        assert_eq!(got.header("content-range"), None);
        assert_absent(&got.text(), PII);
        assert_same_shape(&serde_json::from_str(CONTACTS_JSON).unwrap(), &got.json());
    })
    .await
}

#[tokio::test]
async fn request_headers_hop_by_hop_removed_and_forwarded_added() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let veil = Veil::start(up);
        let got = fetch(request(
            "GET",
            &veil.url("/api/v1/accounts/1/contacts"),
            Some("agent"),
            &[
                ("connection", "keep-alive, x-hop-secret"),
                ("x-hop-secret", "only-for-the-next-hop"),
                ("keep-alive", "timeout=5"),
                ("te", "trailers"),
                ("x-end-to-end", "kept"),
            ],
            Bytes::new(),
        ))
        .await;
        got.complete();
        assert_eq!(got.status, 200);
        let seen = log.last();
        for h in ["x-hop-secret", "keep-alive", "te"] {
            assert!(
                !seen.headers.contains_key(h),
                "{h} reached the upstream: {:?}",
                seen.headers
            );
        }
        if let Some(c) = seen.headers.get("connection") {
            assert!(!c.to_str().unwrap().contains("x-hop-secret"), "{c:?}");
        }
        assert_eq!(seen.headers["x-end-to-end"], "kept");
        assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(seen.headers["x-forwarded-proto"], "http");
        assert_eq!(
            seen.headers["x-forwarded-host"].to_str().unwrap(),
            veil.addr.to_string()
        );
        assert_eq!(seen.headers["host"].to_str().unwrap(), up.to_string());
        assert_eq!(seen.target, "/api/v1/accounts/1/contacts");
    })
    .await
}

#[tokio::test]
async fn admin_endpoints_are_not_served_on_the_proxy_port() {
    bounded(async {
        let (up, log) = upstream(|_| async {
            response(
                404,
                &[json_ct()],
                whole(r#"{"error":"not found upstream"}"#),
            )
        })
        .await;
        let veil = Veil::start(up);
        for path in ["/metrics", "/healthz", "/readyz"] {
            let got = get(&veil, path, "agent").await;
            got.complete();
            assert_eq!(got.status, 404, "{path}");
            assert!(!got.text().contains("veil_"), "{path}: {}", got.text());
        }
        let targets: Vec<String> = log.all().into_iter().map(|s| s.target).collect();
        assert_eq!(targets, ["/metrics", "/healthz", "/readyz"]);
        // They are on the admin port.
        let m = fetch(request(
            "GET",
            &format!("http://{}/metrics", veil.admin),
            None,
            &[],
            Bytes::new(),
        ))
        .await;
        assert_eq!(m.status, 200);
        assert!(m.text().contains("veil_"), "{}", m.text());
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 9. Roles

#[tokio::test]
async fn spoofed_role_header_from_an_untrusted_peer_is_ignored() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.trusted_peers = "10.0.0.0/8".into();
        let veil = Veil::with(setup);
        let got = get(&veil, "/api/v1/accounts/1/contacts", "admin").await;
        got.complete();
        assert_eq!(got.status, 200);
        assert_absent(&got.text(), PII);
        assert_present(&got.text(), KEEP);
        assert!(
            !log.last().headers.contains_key("x-veil-role"),
            "the spoofed role header must not reach the upstream"
        );
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 10. WebSocket

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

/// The next `n` text frames that are `message.created` events.
async fn cable_messages<S>(ws: &mut S, n: usize) -> Vec<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut out = Vec::new();
    while out.len() < n {
        match ws
            .next()
            .await
            .expect("the socket stays open")
            .expect("a frame")
        {
            Message::Text(t) if t.contains("message.created") => out.push(t.to_string()),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn websocket_frames_are_masked_for_agent_and_clear_for_admin() {
    bounded(async {
        let (inbox, _) = veil::demo::inbox::start("127.0.0.1:0", Duration::from_millis(50))
            .await
            .unwrap();
        let veil = Veil::start(inbox);
        let contacts = veil::demo::data::CONTACTS;
        let n = contacts.len();

        let mut ws = ws_connect(&veil, "agent").await;
        let frames = cable_messages(&mut ws, n).await;
        let all = frames.join("\n");
        for c in contacts {
            let local = &c.2[c.2.len() - 8..];
            assert_absent(&all, &[c.2, c.3, local]);
            if !c.4.is_empty() {
                assert_absent(&all, &[c.4]);
            }
        }
        assert!(all.contains("vt_phone_"), "{all}");
        for f in &frames {
            let v: serde_json::Value = serde_json::from_str(f).expect("frames stay JSON");
            assert_eq!(v["message"]["event"], "message.created");
        }
        let _ = ws.close(None).await;

        let mut ws = ws_connect(&veil, "admin").await;
        let frames = cable_messages(&mut ws, n).await.join("\n");
        assert!(
            contacts.iter().any(|c| frames.contains(c.2)),
            "admin sees clear phones: {frames}"
        );
        let _ = ws.close(None).await;
    })
    .await
}

#[tokio::test]
async fn websocket_client_frames_keep_their_tokens_on_the_way_up() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap();
        let (got_tx, mut got_rx) = tokio::sync::mpsc::channel::<String>(16);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let got_tx = got_tx.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    let frame = serde_json::json!({
                        "identifier": "{\"channel\":\"RoomChannel\"}",
                        "message": {"event": "message.created", "data": {
                            "id": 77, "content": "me liga no +55 21 98123-4567, pedido PED-2025-0042",
                            "sender": {"name": "Maria Teste", "phone_number": PHONE_E164, "email": EMAIL}
                        }}
                    });
                    if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                        return;
                    }
                    while let Some(Ok(m)) = ws.next().await {
                        if let Message::Text(t) = m {
                            let _ = got_tx.send(t.to_string()).await;
                        }
                    }
                });
            }
        });
        let veil = Veil::start(up);
        let mut ws = ws_connect(&veil, "agent").await;
        let first = cable_messages(&mut ws, 1).await.remove(0);
        assert_absent(&first, PII);
        assert_present(&first, &["PED-2025-0042", "Maria Teste"]);
        let token = phone_token(&first);
        let reply = serde_json::json!({
            "command": "message",
            "identifier": "{\"channel\":\"RoomChannel\"}",
            "data": serde_json::json!({"action": "reply", "content": format!("ligando para {token} agora")}).to_string(),
        })
        .to_string();
        ws.send(Message::Text(reply.into())).await.unwrap();
        let received = got_rx.recv().await.expect("the upstream got the frame");
        // ActionCable lists no place: a token written in a frame reaches the inbox as
        // the token.
        assert!(received.contains(&token), "{received}");
        assert_absent(&received, &[PHONE_E164, &PHONE_E164[1..]]);
        let v: serde_json::Value = serde_json::from_str(&received).expect("still JSON");
        assert_eq!(v["command"], "message");
        let _ = ws.close(None).await;
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 11. TLS on both legs, HTTP/2 downstream

struct Pki {
    ca_der: rustls_pki_types::CertificateDer<'static>,
    cert_der: rustls_pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// A CA and a server certificate for localhost / 127.0.0.1, written as PEM into `dir`.
fn pki(dir: &std::path::Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "veil test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

#[tokio::test]
async fn tls_both_legs_and_http2_downstream() {
    bounded(async {
        let dir = TempDir::new();
        let pki = pki(dir.path());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![pki.cert_der.clone()],
                rustls_pki_types::PrivateKeyDer::try_from(pki.key_der.clone()).unwrap(),
            )
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let (up, log) = tls_upstream(
            |_| async { response(200, &[json_ct()], whole(CONTACTS_JSON)) },
            Arc::new(server),
        )
        .await;
        let mut setup = Setup::new(format!("https://localhost:{}", up.port()));
        setup.upstream_extra = "  ca: ca.pem\n".into();
        setup.extra = "tls:\n  cert: cert.pem\n  key: key.pem\n".into();
        let veil = Veil::with_dir(setup, dir);

        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http2()
            .build();
        let h2: hyper_util::client::legacy::Client<_, http_body_util::Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build(connector);
        let url = format!(
            "https://127.0.0.1:{}/api/v1/accounts/1/contacts",
            veil.addr.port()
        );
        let resp = h2
            .request(request("GET", &url, Some("agent"), &[], Bytes::new()))
            .await
            .expect("h2 over TLS through veil");
        let got = read(resp).await;
        got.complete();
        assert_eq!(got.version, http::Version::HTTP_2);
        assert_eq!(got.status, 200);
        assert_absent(&got.text(), PII);
        assert_present(&got.text(), KEEP);
        assert!(got.json()["payload"][0]["phone_number"]
            .as_str()
            .unwrap()
            .starts_with("vt_phone_"));
        assert_eq!(log.last().headers["x-forwarded-proto"], "https");
        assert_eq!(
            log.last().headers["host"],
            format!("localhost:{}", up.port())
        );

        // Request bodies over HTTP/2 reach the HTTP/1.1 upstream as they came: a token in a
        // message stays a token (no route place lists it), other types untouched.
        let token = got.json()["payload"][0]["phone_number"]
            .as_str()
            .unwrap()
            .to_owned();
        let post = |ct: &'static str, body: String| {
            h2.request(request(
                "POST",
                &url,
                Some("agent"),
                &[("content-type", ct)],
                body,
            ))
        };
        let resp = post(
            "application/json",
            format!("{{\"content\":\"ligar {token}\"}}"),
        )
        .await
        .unwrap();
        read(resp).await.complete();
        let seen = log.last();
        assert_eq!(seen.method, "POST");
        assert_eq!(
            String::from_utf8_lossy(&seen.body),
            format!("{{\"content\":\"ligar {token}\"}}")
        );
        let blob = "binary-ish payload PED-2025-0042 ".repeat(100);
        let resp = post("application/octet-stream", blob.clone())
            .await
            .unwrap();
        read(resp).await.complete();
        assert_eq!(log.last().body, blob.as_bytes());

        let resp = h2
            .request(request("GET", &url, Some("admin"), &[], Bytes::new()))
            .await
            .unwrap();
        let got = read(resp).await;
        got.complete();
        assert_eq!(got.body, CONTACTS_JSON.as_bytes());
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 12. Tokens back to values

#[tokio::test]
async fn a_search_turns_the_token_back_and_a_reply_keeps_it() {
    bounded(async {
        let (inbox, received) =
            veil::demo::inbox::start("127.0.0.1:0", Duration::from_secs(3600))
                .await
                .unwrap();
        let veil = Veil::start(inbox);
        let phone = veil::demo::data::CONTACTS[0].2;
        let digits = &phone[3..];
        let list = get(&veil, "/api/v1/accounts/1/contacts", "agent").await;
        list.complete();
        assert_absent(&list.text(), &[phone, digits]);
        let token = list.json()["payload"][0]["phone_number"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(token.starts_with("vt_phone_"), "{token}");

        let found = get(
            &veil,
            &format!("/api/v1/accounts/1/contacts/search?q={token}"),
            "agent",
        )
        .await;
        found.complete();
        let targets = received.0.lock().unwrap().clone();
        let search = targets
            .iter()
            .find(|t| t.contains("/contacts/search"))
            .expect("the search reached the upstream");
        assert!(
            search.contains("%2B5521981234567") || search.contains("+5521981234567"),
            "the upstream must get the real phone: {search}"
        );
        assert!(!search.contains("vt_"), "{search}");
        let v = found.json();
        assert_eq!(v["meta"]["count"], 1, "the search found the contact: {v}");
        assert_absent(&found.text(), &[phone, digits]);
        assert_eq!(v["payload"][0]["phone_number"], token.as_str());

        let body = serde_json::json!({"content": format!("Vou ligar no {token} ainda hoje"), "private": false}).to_string();
        let posted = fetch(request(
            "POST",
            &veil.url("/api/v1/accounts/1/conversations/1/messages"),
            Some("agent"),
            &[("content-type", "application/json")],
            body,
        ))
        .await;
        posted.complete();
        assert_eq!(posted.status, 200);
        let targets = received.0.lock().unwrap().clone();
        let up_body = targets
            .iter()
            .find(|t| t.starts_with('{') && t.contains("Vou ligar"))
            .expect("the POST body reached the upstream");
        // A reply's text is never turned back: the inbox would deliver the clear number
        // wherever the agent sends it.
        assert!(
            up_body.contains(&format!("Vou ligar no {token} ainda hoje")),
            "{up_body}"
        );
        assert_absent(up_body, &[phone, digits]);
        assert_absent(&posted.text(), &[phone, digits]);
        assert!(posted.text().contains("Vou ligar no vt_phone_"), "{}", posted.text());
    })
    .await
}
