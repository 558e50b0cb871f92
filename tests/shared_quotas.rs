//! Two veil processes sharing one real Redis (Debian's `redis-server`, started here on a
//! free port of 127.0.0.1 and stopped after) enforce one detokenize quota and one
//! collection budget; with Redis stopped mid-test, what needs the store is refused (503),
//! counted and logged, and everything else keeps working.
mod common;

use bytes::Bytes;
use common::fx::*;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use veil::engine::token::KeyRing;

/// A `redis-server` of its own, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): install Debian's redis-server (.ci/run does)"
                )
            });
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.ping() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const THREE_CONTACTS: &str = r#"{"meta":{"count":3},"payload":[{"id":1,"name":"Maria Teste","phone_number":"+5521981234567"},{"id":2,"name":"Joao Souza","phone_number":"+5511987654321"},{"id":3,"name":"Ana Lima","phone_number":"+5531991234567"}]}"#;

fn replica(up: std::net::SocketAddr, redis: &Redis) -> Veil {
    let mut setup = Setup::new(format!("http://{up}"));
    setup.rules_patch = vec![
        (
            "roles.yaml",
            "detokenize: { kinds: [phone, wamid], per_hour: 300 }",
            "detokenize: { kinds: [phone, wamid], per_hour: 2 }".into(),
        ),
        (
            "roles.yaml",
            "collection: { per_hour: 500, kinds: [phone], over: block }",
            "collection: { per_hour: 2, kinds: [phone], over: block }".into(),
        ),
    ];
    setup.extra = format!(
        "quotas:\n  redis: redis://127.0.0.1:{}/0\n  timeout: 200ms\n  prefix: veil-test-{}\n",
        redis.port,
        std::process::id()
    );
    Veil::with(setup)
}

async fn as_agent(veil: &Veil, path: &str) -> Got {
    let got = fetch(request(
        "GET",
        &veil.url(path),
        Some("agent"),
        &[("cookie", "_chatwoot_session=whatever")],
        Bytes::new(),
    ))
    .await;
    got.complete();
    got
}

#[tokio::test]
async fn replicas_share_one_budget_and_deny_when_redis_is_gone() {
    bounded(async {
        let mut redis = Redis::start();
        let (up, _) = upstream(|seen: Seen| async move {
            let body = if seen.target.contains("/contacts") {
                THREE_CONTACTS
            } else {
                r#"{"payload":[]}"#
            };
            response(200, &[json_ct()], whole(body))
        })
        .await;
        let (a, b) = (replica(up, &redis), replica(up, &redis));
        let keys = KeyRing::parse(KEY_LINE).unwrap();
        let mut token = String::new();
        keys.tokenize("phone", PHONE_E164, &mut token);
        let search = format!("/api/v1/accounts/1/search?q={token}");

        // One detokenize budget of 2 across both replicas.
        assert_eq!(as_agent(&a, &search).await.status, 200);
        assert_eq!(as_agent(&b, &search).await.status, 200);
        let third = as_agent(&a, &search).await;
        assert_eq!(third.status, 429, "{}", third.text());
        assert_eq!(as_agent(&b, &search).await.status, 429);

        // One collection budget: three contacts seen through A put the caller over on B.
        let list = "/api/v1/accounts/1/contacts";
        let first = as_agent(&a, list).await;
        assert_eq!(first.status, 200);
        assert_absent(&first.text(), PII);
        a.wait_metrics(Duration::from_secs(5), |m| {
            m.value("veil_contacts_seen_total", &[("role", "agent")]) >= 3.0
        })
        .await;
        let over = as_agent(&b, list).await;
        assert_eq!(over.status, 429, "{}", over.text());
        assert_eq!(over.json()["error"], "collection_limit");

        // Redis gone: what needs it is refused, the rest works.
        redis.stop();
        let denied = as_agent(&b, &format!("/api/v1/accounts/1/contacts/search?q={token}")).await;
        assert_eq!(denied.status, 503, "{}", denied.text());
        assert_eq!(denied.json()["error"], "quota_unavailable");
        let denied = as_agent(&a, list).await;
        assert_eq!(denied.status, 503, "{}", denied.text());
        let reveal = fetch(request(
            "POST",
            &a.url("/_veil/reveal"),
            Some("supervisor"),
            &[("content-type", "application/json")],
            serde_json::json!({ "token": token }).to_string(),
        ))
        .await;
        assert_eq!(reveal.status, 503, "{}", reveal.text());
        assert_absent(&reveal.text(), PII);
        let messages = as_agent(&a, "/api/v1/accounts/1/conversations/1/messages").await;
        assert_eq!(messages.status, 200, "no store needed: {}", messages.text());
        let m = a.metrics().await;
        assert!(m.value("veil_quota_store_errors_total", &[]) >= 1.0, "{m}");
        assert!(
            m.value("veil_quota_refusals_total", &[("reason", "unavailable")]) >= 2.0,
            "{m}"
        );
        assert!(a.log().contains("cannot be reached"), "{}", a.log());
        for log in [a.log(), b.log()] {
            assert_absent(&log, PII);
            assert!(!log.contains(&PHONE_E164[1..]), "{log}");
        }
    })
    .await
}
