//! Ways around the masker, tried as an attacker would, through the real binary against a
//! small upstream on 127.0.0.1: every spelling of a path reaches the route its normal form
//! names (and goes upstream in that form), and what has no single reading is refused.
mod common;

use common::fx::*;
use common::*;

const CONTACTS: &str = "/api/v1/accounts/1/contacts";

#[tokio::test]
async fn every_spelling_of_a_path_is_routed_and_forwarded_as_its_normal_form() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let veil = Veil::start(up);
        let canonical = get(&veil, CONTACTS, "agent").await;
        canonical.complete();
        assert_absent(&canonical.text(), PII);
        assert_present(&canonical.text(), KEEP);
        assert_eq!(log.last().target, CONTACTS);
        for spelling in [
            "//api/v1/accounts/1/contacts",
            "/api//v1/accounts/1/contacts",
            "/%61pi/v1/accounts/1/contacts",
            "/%61%70%69/v1/accounts/1/contacts",
            "/api/v1/./accounts/1/contacts",
            "/assets/../api/v1/accounts/1/contacts",
            "/assets/%2e%2e/api/v1/accounts/1/contacts",
            "/packs/.%2E/api/v1/accounts/1/contacts",
            "/api/v1/profile/../accounts/1/contacts",
            "/app/../api/v1/accounts/1/contacts",
        ] {
            let got = get(&veil, spelling, "agent").await;
            got.complete();
            assert_eq!(got.status, 200, "{spelling}");
            assert_eq!(
                got.body, canonical.body,
                "{spelling}: masked as the canonical path"
            );
            assert_eq!(
                log.last().target,
                CONTACTS,
                "{spelling}: forwarded normalized"
            );
        }
        // The query goes as it was sent.
        get(
            &veil,
            "//api/v1/accounts/1/contacts?page=2&q=%2B55",
            "agent",
        )
        .await
        .complete();
        assert_eq!(log.last().target, format!("{CONTACTS}?page=2&q=%2B55"));
        let seen = log.all().len();
        for refused in [
            "/packs/..%2fapi/v1/accounts/1/contacts",
            "/packs/..%2Fapi/v1/accounts/1/contacts",
            "/assets/..%5capi/v1/accounts/1/contacts",
            "/api%00/v1/accounts/1/contacts",
            "/api/v1/accounts/1/contacts%",
        ] {
            let got = get(&veil, refused, "agent").await;
            assert_eq!(got.status, 400, "{refused}: {}", got.text());
            assert_eq!(got.json()["error"], "bad_path");
            assert_absent(&got.text(), PII);
        }
        assert_eq!(log.all().len(), seen, "a refused path never goes upstream");
        let m = veil.metrics().await;
        assert_eq!(
            m.value("veil_blocked_total", &[("reason", "bad_path")]),
            5.0
        );
    })
    .await
}

/// `X_Veil_Role` is the role header to Rack and to nginx with `underscores_in_headers`:
/// no spelling of it reaches the upstream, from anyone, and none picks a role.
#[tokio::test]
async fn no_spelling_of_the_role_header_picks_a_role_or_reaches_the_upstream() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let veil = Veil::start(up);
        for headers in [
            vec![("x_veil_role", "admin")],
            vec![("X_Veil_Role", "admin"), ("x-veil-role", "agent")],
            vec![("x-veil_role", "admin")],
        ] {
            let got = fetch(request(
                "GET",
                &veil.url(CONTACTS),
                None,
                &headers,
                bytes::Bytes::new(),
            ))
            .await;
            got.complete();
            assert_absent(&got.text(), PII);
            let seen = log.last();
            for name in seen.headers.keys() {
                assert!(
                    name.as_str().replace('_', "-") != "x-veil-role",
                    "{name} reached the upstream"
                );
            }
        }
    })
    .await
}

/// The upstream says its coding over several lines, or compresses with raw deflate: veil
/// reads every line, decodes the one layer it can or refuses, and never passes a body the
/// client could decode further in the clear.
#[tokio::test]
async fn content_encoding_over_several_lines_is_decoded_whole_or_refused() {
    bounded(async {
        let once = encode("gzip", CONTACTS_JSON.as_bytes());
        let twice = encode("gzip", &once);
        let raw_deflate = {
            use std::io::Write;
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(CONTACTS_JSON.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let (up, _) = upstream(move |seen: Seen| {
            let (once, twice, raw) = (once.clone(), twice.clone(), raw_deflate.clone());
            async move {
                let (lines, body): (Vec<(&str, &str)>, Vec<u8>) = match seen.target.as_str() {
                    "/api/v1/accounts/1/twice" => (
                        vec![("content-encoding", "gzip"), ("content-encoding", "gzip")],
                        twice,
                    ),
                    "/api/v1/accounts/1/identity-then-gzip" => (
                        vec![
                            ("content-encoding", "identity"),
                            ("content-encoding", "gzip"),
                        ],
                        once,
                    ),
                    "/api/v1/accounts/1/empty-then-gzip" => (
                        vec![("content-encoding", ""), ("content-encoding", "gzip")],
                        once,
                    ),
                    _ => (vec![("content-encoding", "deflate")], raw),
                };
                let mut headers = vec![("content-type", "text/plain")];
                headers.extend(lines);
                response(200, &headers, whole(body))
            }
        })
        .await;
        let veil = Veil::start(up);
        let refused = get_or_cut(&veil, "/api/v1/accounts/1/twice", "agent").await;
        assert_eq!(refused.status, 502, "{}", refused.text());
        assert_absent(&String::from_utf8_lossy(&refused.body), PII);
        for path in [
            "/api/v1/accounts/1/identity-then-gzip",
            "/api/v1/accounts/1/empty-then-gzip",
            "/api/v1/accounts/1/raw-deflate",
        ] {
            let got = get(&veil, path, "agent").await;
            got.complete();
            assert_eq!(got.status, 200, "{path}");
            let body = match got.header("content-encoding") {
                Some(c) if c != "identity" => decode(c, &got.body),
                _ => got.body.clone(),
            };
            let text = String::from_utf8(body).expect("the client gets text");
            assert_absent(&text, PII);
            assert_present(&text, &["PED-2025-0042"]);
        }
    })
    .await
}

/// PII in any response header but the structural ones is masked, on every line, for GET
/// and HEAD alike.
#[tokio::test]
async fn every_response_header_is_masked() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[
                    json_ct(),
                    (
                        "set-cookie",
                        "last_contact=maria.teste%40example.com; Path=/; HttpOnly",
                    ),
                    ("set-cookie", "wa=+5521981234567; Path=/"),
                    ("x-contact-phone", "+55 21 98123-4567"),
                    (
                        "www-authenticate",
                        "Bearer realm=\"maria.teste@example.com\"",
                    ),
                    ("link", "</contacts?q=%2B5521981234567>; rel=\"next\""),
                    ("x-request-id", "PED-2025-0042"),
                ],
                whole(CONTACTS_JSON),
            )
        })
        .await;
        let veil = Veil::start(up);
        for method in ["GET", "HEAD"] {
            let got = fetch(request(
                method,
                &veil.url(CONTACTS),
                Some("agent"),
                &[],
                bytes::Bytes::new(),
            ))
            .await;
            got.complete();
            let all: Vec<String> = got
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
                .collect();
            let all = all.join("\n");
            assert_absent(&all, PII);
            assert_absent(&all, &["5521981234567", "maria.teste", "98123-4567"]);
            assert_present(
                &all,
                &["x-request-id: PED-2025-0042", "Path=/; HttpOnly", "rel="],
            );
            assert_eq!(got.headers.get_all("set-cookie").iter().count(), 2, "{all}");
        }
    })
    .await
}

/// JSON is masked as JSON, with the route's field rules, whatever its label; a body of no
/// readable type on a route with JSON field rules, and UTF-16, are refused.
#[tokio::test]
async fn mislabelled_bodies_are_masked_by_what_they_are() {
    bounded(async {
        // `rg` is named by a field rule only: the detectors would not see it.
        const DOC: &str = r#"{"payload":[{"name":"Maria Teste","phone_number":"+5521981234567","custom_attributes":{"rg":"12.345.678-9","pedido":"PED-2025-0042"}}]}"#;
        let (up, _) = upstream(|seen: Seen| async move {
            let label = seen.target.rsplit('/').next().unwrap_or("").to_owned();
            let (ct, body): (Option<&str>, Vec<u8>) = match label.as_str() {
                "plain" => (Some("text/plain"), DOC.into()),
                "js" => (Some("text/javascript"), DOC.into()),
                "octet" => (Some("application/octet-stream"), DOC.into()),
                "html" => (Some("text/html"), DOC.into()),
                "none" => (None, DOC.into()),
                "bom" => (Some("application/json"), [&[0xEF, 0xBB, 0xBF][..], DOC.as_bytes()].concat()),
                "jsonp" => (Some("application/javascript"), format!("cb({DOC})").into()),
                "utf16" => (
                    Some("text/plain"),
                    DOC.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
                ),
                _ => (Some("text/csv"), "a,b\r\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect()),
            };
            let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
            response(200, &headers, whole(body))
        })
        .await;
        let veil = Veil::start(up);
        for label in ["plain", "js", "octet", "html", "none", "bom"] {
            let got = get_or_cut(&veil, &format!("/api/v1/accounts/1/contacts/x/{label}"), "agent").await;
            got.complete();
            assert_eq!(got.status, 200, "{label}");
            let text = got.text();
            assert_absent(&text, &["12.345.678-9", "5521981234567"]);
            assert_present(&text, &["PED-2025-0042", "Maria Teste", "[redacted:nationalid]"]);
        }
        for label in ["jsonp", "utf16", "utf16csv"] {
            let got = get_or_cut(&veil, &format!("/api/v1/accounts/1/contacts/x/{label}"), "agent").await;
            assert_not_whole(&got);
            let text = String::from_utf8_lossy(&got.body).into_owned();
            assert_absent(&text, &["12.345.678-9", "5521981234567"]);
        }
        // The admin sees every body as it is.
        let clear = get(&veil, "/api/v1/accounts/1/contacts/x/jsonp", "admin").await;
        clear.complete();
        assert!(clear.text().contains("12.345.678-9"));
    })
    .await
}

/// A compressed body that claims no coding (the client can still inflate it by hand) is
/// refused for a masked role, whatever compression it is.
#[tokio::test]
async fn a_compressed_body_that_claims_no_coding_is_refused() {
    bounded(async {
        let (up, _) = upstream(|seen: Seen| async move {
            let coding = seen.target.rsplit('/').next().unwrap_or("gzip").to_owned();
            let body = encode(&coding, CONTACTS_JSON.replace('{', "(").as_bytes());
            response(200, &[("content-type", "text/plain")], whole(body))
        })
        .await;
        let veil = Veil::start(up);
        for coding in ["gzip", "br", "zstd"] {
            let got = get_or_cut(&veil, &format!("/api/v1/accounts/1/x/{coding}"), "agent").await;
            assert_not_whole(&got);
            assert_absent(
                &String::from_utf8_lossy(&decode_lossy(coding, &got.body)),
                PII,
            );
        }
    })
    .await
}

/// What a client could inflate from the bytes it got (nothing, when they were cut).
fn decode_lossy(coding: &str, data: &[u8]) -> Vec<u8> {
    std::panic::catch_unwind(|| decode(coding, data)).unwrap_or_default()
}

/// An upstream that sends its head and a few bytes and then nothing: the client gets a
/// cut body within the idle limit, masked role or not, never a hang.
#[tokio::test]
async fn an_upstream_stalling_mid_body_gets_the_client_a_clean_abort() {
    bounded(async {
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = held.clone();
        let (up, _) = upstream(move |_| {
            let keep = keep.clone();
            async move {
                let (tx, body) = channel_body();
                tx.send(bytes::Bytes::from_static(b"{\"payload\":["))
                    .await
                    .unwrap();
                keep.lock().unwrap().push(tx);
                response(200, &[json_ct()], body)
            }
        })
        .await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "limits:\n  upstream_body_idle_timeout: 1s\n".into();
        let veil = Veil::with(setup);
        for role in ["agent", "admin"] {
            let started = std::time::Instant::now();
            let got = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                get_or_cut(&veil, CONTACTS, role),
            )
            .await
            .expect("veil ends the response");
            assert!(
                got.error.is_some(),
                "{role}: the body must be cut: {}",
                got.text()
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{role}"
            );
        }
        let m = veil.metrics().await;
        assert!(
            m.value("veil_blocked_total", &[("reason", "upstream_stalled")]) >= 1.0,
            "{m}"
        );
        drop(held);
    })
    .await
}

/// Hundreds of silent and half-sent connections from one host, kept coming for ten
/// seconds: veil closes them after the head timeout, refuses what is over the per-host
/// limit, and serves another client normally all along.
#[tokio::test]
async fn silent_and_half_sent_connections_do_not_lock_others_out() {
    bounded(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (up, _) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "limits:\n  header_read_timeout: 1s\n  max_connections: 200\n  max_connections_per_peer: 40\n".into();
        let veil = Veil::with(setup);
        let addr = veil.addr;
        let flood = tokio::spawn(async move {
            let mut held = Vec::new();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut i = 0usize;
            while std::time::Instant::now() < until {
                if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                    let _ = match i % 3 {
                        0 => Ok(()),
                        1 => s.write_all(b"PRI * HTTP/2.0\r\n").await,
                        _ => s.write_all(b"GET /api/v1/accounts/1/contacts HTTP/1.1\r\nHo").await,
                    };
                    held.push(s);
                }
                i += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            held
        });
        // Another host (127.0.0.2 is this machine too) is served all along.
        for round in 0..8 {
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            let started = std::time::Instant::now();
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let mut other = sock.connect(addr).await.unwrap();
            other
                .write_all(b"GET /api/v1/accounts/1/contacts HTTP/1.1\r\nHost: inbox\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(std::time::Duration::from_secs(3), other.read_to_end(&mut answer))
                .await
                .unwrap_or_else(|_| panic!("round {round}: not served while the others hang"))
                .unwrap();
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 200"), "round {round}: {answer}");
            assert_absent(&answer, PII);
            assert!(started.elapsed() < std::time::Duration::from_secs(3));
        }
        let mut idle = flood.await.unwrap();
        assert!(idle.len() >= 300, "{} connections", idle.len());
        // Every silent or half-sent connection is closed within the head timeout (and
        // the ones over the per-host limit at once).
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        for (i, s) in idle.iter_mut().enumerate() {
            let mut buf = [0u8; 256];
            let n = tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("connection {i} is still open"));
            // Closed (0), reset, or a 408 from hyper on a half-sent HTTP/1 head, then closed.
            if let Ok(n) = n {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{i}: {text}");
            }
        }
        let m = veil.metrics().await;
        assert!(
            m.value("veil_blocked_total", &[("reason", "peer_connection_limit")]) >= 1.0,
            "{m}"
        );
    })
    .await
}

/// A Baileys store keyed by WhatsApp id, and a phone as a JSON number: both masked.
#[tokio::test]
async fn json_keys_and_numbers_are_masked() {
    bounded(async {
        let (up, _) = upstream(|_| async {
            response(
                200,
                &[json_ct()],
                whole(r#"{"contacts":{"5521981234567@s.whatsapp.net":{"id":"5521981234567@s.whatsapp.net","notify":"Maria Teste"}},"wa":5521981234567,"count":3,"ts":1763640000123}"#),
            )
        })
        .await;
        let veil = Veil::start(up);
        let got = get(&veil, "/webhooks/baileys/store", "agent").await;
        got.complete();
        let text = got.text();
        assert_absent(&text, &["5521981234567"]);
        assert_present(&text, &["Maria Teste", "\"count\":3", "\"ts\":1763640000123", "@s.whatsapp.net\":{"]);
        assert!(got.json().is_object(), "{text}");
    })
    .await
}

/// The upstream closes a kept-alive connection just as veil reuses it: an idempotent
/// request is sent again on a fresh connection, not answered with a 502.
#[tokio::test]
async fn a_request_on_a_connection_the_upstream_closed_is_retried_once() {
    bounded(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    // The first request is answered, keep-alive.
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        let Ok(n) = s.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    let body = CONTACTS_JSON;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body.as_bytes()).await;
                    // The next one is read, and the connection closed without an answer.
                    let _ = s.read(&mut buf).await;
                });
            }
        });
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "workers: 1\n".into();
        let veil = Veil::with(setup);
        let client = client();
        for i in 0..6 {
            let resp = client
                .request(request("GET", &veil.url(CONTACTS), Some("agent"), &[], bytes::Bytes::new()))
                .await
                .unwrap();
            let got = read(resp).await;
            got.complete();
            assert_eq!(got.status, 200, "request {i}: {}", got.text());
            assert_absent(&got.text(), PII);
        }
        assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 6);
        let m = veil.metrics().await;
        assert!(m.value("veil_upstream_errors_total", &[("kind", "retried")]) >= 1.0, "{m}");
        assert_eq!(m.value("veil_upstream_errors_total", &[("kind", "request")]), 0.0, "{m}");
    })
    .await
}

/// A real hop behind veil: Debian's nginx, which decodes and resolves dot segments before
/// it proxies (`proxy_pass` with a URI), between veil and the inbox. Whatever spelling a
/// client sends, the path the inbox serves and the route veil masked with agree.
#[tokio::test]
async fn with_nginx_behind_veil_the_inbox_serves_the_route_veil_masked() {
    bounded(async {
        let (inbox, log) = contacts_upstream().await;
        let nginx = Nginx::start(inbox);
        let veil = Veil::with(Setup::new(format!("http://127.0.0.1:{}", nginx.port)));
        let canonical = get(&veil, CONTACTS, "agent").await;
        canonical.complete();
        assert_eq!(canonical.status, 200, "{}", canonical.text());
        assert_absent(&canonical.text(), PII);
        for spelling in [
            "//api/v1/accounts/1/contacts",
            "/%61pi/v1/accounts/1/contacts",
            "/assets/../api/v1/accounts/1/contacts",
            "/assets/%2e%2e/api/v1/accounts/1/contacts",
            "/api/v1/profile/../accounts/1/contacts",
        ] {
            let got = get(&veil, spelling, "agent").await;
            got.complete();
            assert_eq!(got.body, canonical.body, "{spelling}");
            assert_eq!(
                log.last().target,
                CONTACTS,
                "{spelling}: what the inbox served"
            );
        }
        let refused = get(&veil, "/packs/..%2fapi/v1/accounts/1/contacts", "agent").await;
        assert_eq!(refused.status, 400);
    })
    .await
}

/// Debian's nginx on a free port of 127.0.0.1, proxying to `upstream` the way a front or
/// internal hop does (normalized URI); stopped on drop.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Nginx {
    fn start(upstream: std::net::SocketAddr) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = TempDir::new();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://{upstream}/; proxy_http_version 1.1; }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run nginx ({e}): install Debian's nginx (.ci/run does)")
            });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that stops sending its request body, or stays connected doing nothing after
/// a response, does not hold veil: both are let go within the head timeout.
#[tokio::test]
async fn a_stalled_request_body_and_an_idle_keep_alive_are_let_go() {
    bounded(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (up, _) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "limits:\n  header_read_timeout: 1s\n".into();
        let veil = Veil::with(setup);
        let limit = std::time::Duration::from_secs(6);
        for path in [
            "/api/v1/accounts/1/conversations/1/messages",
            "/api/v1/accounts/1/contacts/filter",
        ] {
            let mut s = tokio::net::TcpStream::connect(veil.addr).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: inbox\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"content\":"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(limit, s.read_to_end(&mut answer))
                .await
                .unwrap_or_else(|_| panic!("{path}: a stalled body held the connection"))
                .ok();
            let answer = String::from_utf8_lossy(&answer);
            assert!(!answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        }
        // Idle after a whole exchange.
        let mut s = tokio::net::TcpStream::connect(veil.addr).await.unwrap();
        s.write_all(b"GET /api/v1/accounts/1/contacts HTTP/1.1\r\nHost: inbox\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let closed = tokio::time::timeout(limit, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    })
    .await
}

/// A CSV export served as `text/plain` or `octet-stream` is still an export: refused to
/// agents, masked by its column rules for a role that may download it.
#[tokio::test]
async fn a_mislabelled_csv_export_is_still_an_export() {
    bounded(async {
        let (up, _) = upstream(|seen: Seen| async move {
            let ct = if seen.target.ends_with("octet") {
                "application/octet-stream"
            } else {
                "text/plain"
            };
            response(
                200,
                &[
                    ("content-type", ct),
                    ("content-disposition", "attachment; filename=\"contacts.csv\""),
                ],
                whole("name,email,custom_attributes\r\nMaria Teste,maria.teste@example.com,RG 12.345.678-9\r\n"),
            )
        })
        .await;
        let veil = Veil::start(up);
        for path in [
            "/api/v1/accounts/1/contacts/download?as=plain",
            "/api/v1/accounts/1/contacts/download?as=octet",
        ] {
            let agent = get(&veil, path, "agent").await;
            assert_eq!(agent.status, 403, "{path}: {}", agent.text());
            assert_eq!(agent.json()["error"], "export_refused");
            let supervisor = get(&veil, path, "supervisor").await;
            supervisor.complete();
            assert_eq!(supervisor.status, 200);
            let text = supervisor.text();
            // `custom_attributes` is a column rule (nationalid): only the CSV masker applies it.
            assert_absent(&text, &["maria.teste@example.com", "12.345.678-9"]);
            assert_present(&text, &["Maria Teste", "name,email,custom_attributes\r\n"]);
        }
    })
    .await
}
