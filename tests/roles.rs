//! Roles, reveal, audit and key rotation, end to end: the real `veil serve` binary between a
//! client and test upstreams on 127.0.0.1 (the harness of tests/common/mod.rs), with the
//! shipped rules (rules/roles.yaml: agent is the default, supervisor may reveal phones and
//! e-mails, admin sees everything in the clear).
//!
//! Every test ends by grepping what veil wrote (its stderr log and the audit file) for the
//! fixtures' PII, the key file's secrets and the credentials the test sent.
mod common;

use bytes::Bytes;
use common::*;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Fixtures: invented values only.

const PHONE_E164: &str = "+5521981234567";
const EMAIL: &str = "maria.teste@example.com";
const CPF: &str = "529.982.247-25";

/// Every form the fixtures write a PII value in: never in a masked body, never in a log.
const PII: &[&str] = &[
    PHONE_E164,
    "98123-4567",
    "981234567",
    "+5521",
    EMAIL,
    "maria.teste",
    CPF,
    "529.982.247",
    "52998224725",
];

const CONTACTS: &str = "/api/v1/accounts/1/contacts";

const CONTACTS_JSON: &str = r#"{"meta":{"count":1,"current_page":1},"payload":[{"id":301,"name":"Maria Teste","email":"maria.teste@example.com","phone_number":"+5521981234567","custom_attributes":{"cpf":"529.982.247-25","pedido":"PED-2025-0042"},"created_at":"2025-11-20T10:15:00Z","last_message":"Oi, meu pedido PED-2025-0042 atrasou; me liga no +55 21 98123-4567 ou escreve pra maria.teste@example.com","unread":2,"vip":true,"tags":null}]}"#;

/// The secret of the harness's `k1` ([`KEY_LINE`]).
const K1_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A second key, bytes 32..64.
const K2_SECRET: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// A token that looks right and decrypts under no key.
const FORGED: &str = "vt_phone_k1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

const ISSUER: &str = "https://auth.example.test";
const AUDIENCE: &str = "veil";

// ---------------------------------------------------------------------------------------
// Helpers

/// The inbox: `/api/v1/profile` answers by `api_access_token` (Chatwoot's shape); every
/// other path answers the contact list.
async fn inbox() -> (std::net::SocketAddr, Log) {
    upstream(|seen: Seen| async move {
        let json = ("content-type", "application/json; charset=utf-8");
        if seen.target.starts_with("/api/v1/profile") {
            let token = seen
                .headers
                .get("api_access_token")
                .and_then(|v| v.to_str().ok());
            return match token {
                Some("admin-token") => response(
                    200,
                    &[json],
                    whole(r#"{"id":1,"name":"Ana Admin","role":"administrator"}"#),
                ),
                // Two sessions of one user.
                Some("agent-token" | "agent-token-2") => response(
                    200,
                    &[json],
                    whole(r#"{"id":2,"name":"Beto Agent","role":"agent"}"#),
                ),
                // A login page instead of JSON (a misrouted or expired session).
                Some("html-token") => response(
                    200,
                    &[("content-type", "text/html")],
                    whole("<html><body>Sign in</body></html>"),
                ),
                _ => response(401, &[json], whole(r#"{"error":"Invalid Access Token"}"#)),
            };
        }
        response(200, &[json], whole(CONTACTS_JSON))
    })
    .await
}

/// How many requests the upstream received on paths starting with `prefix`.
fn hits(log: &Log, prefix: &str) -> usize {
    log.all()
        .iter()
        .filter(|s| s.target.starts_with(prefix))
        .count()
}

/// Starts veil with an audit file in its folder; `files` are written there first.
fn start(mut setup: Setup, files: &[(&str, &[u8])]) -> (Veil, PathBuf) {
    let dir = TempDir::new();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("fixture file");
    }
    let audit = dir.path().join("audit.jsonl");
    setup.extra = format!("audit:\n  path: {}\n{}", audit.display(), setup.extra);
    (Veil::with_dir(setup, dir), audit)
}

/// The audit file's events.
fn audit_events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect()
}

/// Audit events of type `event` whose fields include every `(key, value)` of `fields`.
fn audited(path: &Path, event: &str, fields: &[(&str, &str)]) -> Vec<serde_json::Value> {
    audit_events(path)
        .into_iter()
        .filter(|e| e["event"] == event && fields.iter().all(|(k, v)| e[*k] == *v))
        .collect()
}

/// GET the contact list through veil with these request headers (no role header).
async fn contacts_with(veil: &Veil, headers: &[(&str, &str)]) -> Got {
    fetch(request(
        "GET",
        &veil.url(CONTACTS),
        None,
        headers,
        Bytes::new(),
    ))
    .await
}

/// GET the contact list with a bearer token.
async fn contacts_bearer(veil: &Veil, token: &str) -> Got {
    let auth = format!("Bearer {token}");
    contacts_with(veil, &[("authorization", &auth)]).await
}

/// The upstream's bytes, untouched: a role that sees everything in the clear.
#[track_caller]
fn assert_clear(got: &Got) {
    got.complete();
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.text(), CONTACTS_JSON);
}

/// The default role's view: the phone is a token, no PII byte is left.
#[track_caller]
fn assert_masked(got: &Got) {
    got.complete();
    assert_eq!(got.status, 200, "{}", got.text());
    let text = got.text();
    assert_absent(&text, PII);
    assert_present(
        &text,
        &[
            "PED-2025-0042",
            "Maria Teste",
            "\"phone_number\":\"vt_phone_",
        ],
    );
}

/// The contact's phone token in a masked contact list.
fn phone_token(got: &Got) -> String {
    let t = got.json()["payload"][0]["phone_number"]
        .as_str()
        .expect("a phone_number string")
        .to_owned();
    assert!(t.starts_with("vt_phone_"), "{t}");
    t
}

/// Nothing veil wrote (stderr log, audit file) holds a PII value of the fixtures, a key
/// secret or one of `credentials`.
#[track_caller]
fn assert_logs_clean(veil: &Veil, audit: &Path, credentials: &[&str]) {
    let log = veil.log();
    assert!(
        log.contains("veil is serving"),
        "the log was captured: {log}"
    );
    let audit_text = std::fs::read_to_string(audit).unwrap_or_default();
    let mut secrets: Vec<&str> = vec![K1_SECRET, K2_SECRET, &K1_SECRET[..16], &K2_SECRET[..16]];
    secrets.extend_from_slice(credentials);
    for (name, text) in [("veil log", &log), ("audit log", &audit_text)] {
        for s in PII.iter().chain(&secrets) {
            assert!(!text.contains(s), "{s:?} written to the {name}:\n{text}");
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(role: &str, iss: &str, aud: &str, exp: u64) -> serde_json::Value {
    serde_json::json!({ "sub": "user-7", "role": role, "iss": iss, "aud": aud, "iat": now(), "exp": exp })
}

fn good_claims(role: &str) -> serde_json::Value {
    claims(role, ISSUER, AUDIENCE, now() + 600)
}

fn es256(key: &rcgen::KeyPair, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("EC key");
    encode(&header, claims, &key).expect("sign")
}

fn b64url(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// 1. A spoofed role header

#[tokio::test]
async fn spoofed_role_header_is_ignored_audited_and_counted() {
    bounded(async {
        let (up, log) = inbox().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.trusted_peers = "10.0.0.0/8".into();
        let (veil, audit) = start(setup, &[]);

        let got = get(&veil, CONTACTS, "admin").await;
        assert_masked(&got);
        assert!(!log.last().headers.contains_key("x-veil-role"));
        let spoofed = audited(&audit, "spoofed_role_header", &[("peer", "127.0.0.1")]);
        assert_eq!(spoofed.len(), 1, "{:?}", audit_events(&audit));

        // A request without the header is not counted as spoofed.
        assert_masked(&contacts_with(&veil, &[]).await);
        let m = veil.metrics().await;
        let labels = [("resolver", "trusted_header"), ("result", "spoofed")];
        assert_eq!(
            metric_value(&m, "veil_role_resolutions_total", &labels),
            1.0,
            "{m}"
        );
        assert_eq!(audited(&audit, "spoofed_role_header", &[]).len(), 1);
        assert_logs_clean(&veil, &audit, &[]);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 2. JWT

fn jwt_roles(key_line: &str) -> String {
    format!(
        "roles:\n  resolvers:\n    - type: jwt\n      {key_line}\n      issuer: {ISSUER}\n      audience: {AUDIENCE}\n      algorithms: [ES256]\n      claim: /role\n"
    )
}

#[tokio::test]
async fn jwt_with_a_static_key_accepts_only_valid_tokens() {
    bounded(async {
        let (up, _) = inbox().await;
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let public_pem = key.public_key_pem();
        let mut setup = Setup::new(format!("http://{up}"));
        setup.roles = Some(jwt_roles("key: jwt-public.pem"));
        let (veil, audit) = start(setup, &[("jwt-public.pem", public_pem.as_bytes())]);

        let valid = es256(&key, None, &good_claims("admin"));
        assert_clear(&contacts_bearer(&veil, &valid).await);
        // No token at all: the default role, and no failure is audited.
        assert_masked(&contacts_with(&veil, &[]).await);
        assert!(audited(&audit, "role_resolution", &[]).is_empty());

        let claims_b64 = b64url(good_claims("admin").to_string().as_bytes());
        let alg_none = format!("{}.{claims_b64}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
        let other_key = rcgen::KeyPair::generate().expect("P-256 key");
        let by_other_key = es256(&other_key, None, &good_claims("admin"));
        // HS/RS confusion: HMAC keyed with the public key's PEM bytes.
        let hs256_with_public_pem = encode(
            &Header::new(Algorithm::HS256),
            &good_claims("admin"),
            &EncodingKey::from_secret(public_pem.as_bytes()),
        )
        .unwrap();
        let expired = es256(&key, None, &claims("admin", ISSUER, AUDIENCE, now() - 120));
        let wrong_issuer = es256(
            &key,
            None,
            &claims("admin", "https://evil.example.test", AUDIENCE, now() + 600),
        );
        let wrong_audience = es256(
            &key,
            None,
            &claims("admin", ISSUER, "another-app", now() + 600),
        );
        let bad = [
            ("alg none", &alg_none),
            ("signed by another key", &by_other_key),
            ("HS256 keyed with the public PEM", &hs256_with_public_pem),
            ("expired", &expired),
            ("wrong issuer", &wrong_issuer),
            ("wrong audience", &wrong_audience),
        ];
        for (n, (what, token)) in bad.iter().enumerate() {
            let got = contacts_bearer(&veil, token).await;
            assert_masked(&got);
            let invalid = audited(
                &audit,
                "role_resolution",
                &[
                    ("resolver", "jwt"),
                    ("result", "invalid"),
                    ("peer", "127.0.0.1"),
                ],
            );
            assert_eq!(invalid.len(), n + 1, "{what}: {:?}", audit_events(&audit));
        }
        // The valid token still works after the failures.
        assert_clear(&contacts_bearer(&veil, &valid).await);

        let m = veil.metrics().await;
        let invalid = [("resolver", "jwt"), ("result", "invalid")];
        assert_eq!(
            metric_value(&m, "veil_role_resolutions_total", &invalid),
            6.0,
            "{m}"
        );
        let ok = [("resolver", "jwt"), ("result", "ok")];
        assert_eq!(
            metric_value(&m, "veil_role_resolutions_total", &ok),
            2.0,
            "{m}"
        );
        let mut credentials: Vec<&str> = bad.iter().map(|(_, t)| t.as_str()).collect();
        credentials.push(&valid);
        assert_logs_clean(&veil, &audit, &credentials);
    })
    .await
}

/// A JWKS document with the P-256 public key of `key` under `kid`.
fn jwks(key: &rcgen::KeyPair, kid: &str) -> String {
    // The uncompressed SEC1 point: 0x04 ‖ x ‖ y.
    let point = key.public_key_raw();
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64url(&point[1..33]), "y": b64url(&point[33..]),
    }]})
    .to_string()
}

#[tokio::test]
async fn jwt_with_a_jwks_url_accepts_known_kids_only() {
    bounded(async {
        let (up, _) = inbox().await;
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let doc = jwks(&key, "key-2025");
        let (idp, idp_log) = upstream(move |_| {
            let doc = doc.clone();
            async move { response(200, &[("content-type", "application/json")], whole(doc)) }
        })
        .await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.roles = Some(jwt_roles(&format!(
            "jwks_url: http://{idp}/.well-known/jwks.json"
        )));
        let (veil, audit) = start(setup, &[]);

        let known = es256(&key, Some("key-2025"), &good_claims("admin"));
        assert_clear(&contacts_bearer(&veil, &known).await);
        let unknown = es256(&key, Some("key-1999"), &good_claims("admin"));
        assert_masked(&contacts_bearer(&veil, &unknown).await);
        let no_kid = es256(&key, None, &good_claims("admin"));
        assert_masked(&contacts_bearer(&veil, &no_kid).await);
        // The known kid again: served from the cache.
        assert_clear(&contacts_bearer(&veil, &known).await);

        let invalid = audited(
            &audit,
            "role_resolution",
            &[("resolver", "jwt"), ("result", "invalid")],
        );
        assert_eq!(invalid.len(), 2, "{:?}", audit_events(&audit));
        // One fetch: the unknown kid came within the refresh interval and fetched nothing.
        let fetched: Vec<String> = idp_log.all().into_iter().map(|s| s.target).collect();
        assert_eq!(fetched, ["/.well-known/jwks.json"]);
        assert_logs_clean(&veil, &audit, &[&known, &unknown, &no_kid]);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 3. upstream_probe

#[tokio::test]
async fn upstream_probe_maps_the_inbox_role_and_caches_it() {
    bounded(async {
        let (up, log) = inbox().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.roles = Some(
            "roles:\n  resolvers:\n    - type: upstream_probe\n      path: /api/v1/profile\n      role: $.role\n      map: {administrator: admin, agent: agent}\n      ttl: 60s\n"
                .into(),
        );
        let (veil, audit) = start(setup, &[]);
        const PROFILE: &str = "/api/v1/profile";

        let admin = [("api_access_token", "admin-token"), ("x-client-note", "n1")];
        assert_clear(&contacts_with(&veil, &admin).await);
        assert_eq!(hits(&log, PROFILE), 1);
        let probe = log
            .all()
            .into_iter()
            .find(|s| s.target.starts_with(PROFILE))
            .unwrap();
        assert_eq!(probe.method, "GET");
        assert_eq!(
            probe.headers.get("api_access_token").unwrap(),
            "admin-token",
            "the probe carries the caller's credential"
        );
        assert!(
            !probe.headers.contains_key("x-client-note"),
            "the probe carries credentials only"
        );
        // Cached: the same credential does not probe again.
        assert_clear(&contacts_with(&veil, &admin).await);
        assert_eq!(hits(&log, PROFILE), 1);

        let agent = [("api_access_token", "agent-token")];
        assert_masked(&contacts_with(&veil, &agent).await);
        assert_masked(&contacts_with(&veil, &agent).await);
        assert_eq!(hits(&log, PROFILE), 2);

        // A probe that fails gives the default role and is not cached.
        let unknown = [("api_access_token", "stolen-token")];
        assert_masked(&contacts_with(&veil, &unknown).await);
        assert_masked(&contacts_with(&veil, &unknown).await);
        assert_eq!(hits(&log, PROFILE), 4);
        let html = [("api_access_token", "html-token")];
        assert_masked(&contacts_with(&veil, &html).await);
        assert_eq!(hits(&log, PROFILE), 5);
        // No credentials: no probe at all.
        assert_masked(&contacts_with(&veil, &[]).await);
        assert_eq!(hits(&log, PROFILE), 5);

        let failed = audited(
            &audit,
            "role_resolution",
            &[("resolver", "upstream_probe"), ("result", "failed")],
        );
        assert_eq!(failed.len(), 3, "{:?}", audit_events(&audit));
        let m = veil.metrics().await;
        for (result, n) in [("probed", 2.0), ("cached", 2.0), ("failed", 3.0)] {
            let labels = [("resolver", "upstream_probe"), ("result", result)];
            assert_eq!(metric_value(&m, "veil_role_resolutions_total", &labels), n, "{result}: {m}");
        }
        assert_logs_clean(
            &veil,
            &audit,
            &["admin-token", "agent-token", "stolen-token", "html-token"],
        );
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 4. Key rotation

/// Replaces the key file in one step (a reader never sees it half written).
fn write_keys(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn sighup(veil: &Veil) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &veil.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Polls `check` every 100 ms for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_until_their_key_is_dropped() {
    bounded(async {
        let (up, log) = inbox().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.keys = Some(format!("k1 {K1_SECRET}\n"));
        let (veil, audit) = start(setup, &[]);
        let keys = veil.keys_path();

        let first = contacts_with(&veil, &[]).await;
        assert_masked(&first);
        let old = phone_token(&first);
        assert!(old.starts_with("vt_phone_k1_"), "{old}");

        // Rotate: k2 makes new tokens, k1 still decrypts.
        write_keys(&keys, &format!("k2 {K2_SECRET}\nk1 {K1_SECRET}\n"));
        sighup(&veil);
        let v = &veil;
        eventually("tokens made with k2", || async move {
            let got = contacts_with(v, &[]).await;
            assert_masked(&got);
            phone_token(&got).starts_with("vt_phone_k2_")
        })
        .await;
        // The file watcher may have reloaded first; the SIGHUP reloads too.
        eventually("the SIGHUP reload", || async move {
            v.log().matches("sighup").count() == 1
        })
        .await;
        let new = phone_token(&contacts_with(&veil, &[]).await);

        let search = |token: String| {
            let veil = &veil;
            async move {
                let got = contacts_with_path(veil, &format!("{CONTACTS}/search?q={token}")).await;
                assert_masked(&got);
            }
        };
        for token in [&old, &new] {
            search(token.clone()).await;
            let target = log.last().target;
            assert_eq!(
                target,
                format!("{CONTACTS}/search?q=%2B5521981234567"),
                "the upstream gets the real phone for {token}"
            );
        }

        // Drop k1: its tokens no longer decrypt and reach the upstream as sent. (The file
        // watcher may reload too; the log shows the SIGHUP's reload, the same code path.)
        write_keys(&keys, &format!("k2 {K2_SECRET}\n"));
        sighup(&veil);
        eventually("the second SIGHUP reload", || async move {
            v.log().matches("sighup").count() == 2
        })
        .await;
        let unchanged = format!("{CONTACTS}/search?q={old}");
        let (s, o, l, u) = (&search, &old, &log, &unchanged);
        eventually("k1 dropped", || async move {
            s(o.clone()).await;
            l.last().target == *u
        })
        .await;
        let m = veil.metrics().await;
        assert!(
            metric_value(&m, "veil_detokenized_total", &[("result", "invalid")]) >= 1.0,
            "{m}"
        );
        // A k2 token still does.
        search(new.clone()).await;
        assert_eq!(
            log.last().target,
            format!("{CONTACTS}/search?q=%2B5521981234567")
        );
        let ok = metric_value(
            &veil.metrics().await,
            "veil_detokenized_total",
            &[("result", "ok")],
        );
        assert!(ok >= 3.0, "{ok}");
        assert_logs_clean(&veil, &audit, &[]);
    })
    .await
}

/// The file watcher reloads a key file that is replaced (written aside, renamed over it,
/// as editors, `veil keygen` scripts and config managers do) every time, not only once.
#[tokio::test]
async fn a_key_file_replaced_twice_is_reloaded_twice_without_sighup() {
    bounded(async {
        let (up, _) = inbox().await;
        let (veil, audit) = start(Setup::new(format!("http://{up}")), &[]);
        let v = &veil;
        // Let the watcher start (nothing tells when it has).
        tokio::time::sleep(Duration::from_secs(1)).await;
        for id in ["k2", "k3"] {
            write_keys(
                &veil.keys_path(),
                &format!("{id} {K2_SECRET}\nk1 {K1_SECRET}\n"),
            );
            let prefix = format!("vt_phone_{id}_");
            let p = &prefix;
            eventually(&format!("tokens made with {id}"), || async move {
                phone_token(&contacts_with(v, &[]).await).starts_with(p.as_str())
            })
            .await;
        }
        assert!(!veil.log().contains("sighup"));
        assert_logs_clean(&veil, &audit, &[]);
    })
    .await
}

async fn contacts_with_path(veil: &Veil, path: &str) -> Got {
    fetch(request("GET", &veil.url(path), None, &[], Bytes::new())).await
}

// ---------------------------------------------------------------------------------------
// 5. Reveal

async fn reveal(veil: &Veil, role: &str, token: &str, headers: &[(&str, &str)]) -> Got {
    let body = serde_json::json!({ "token": token }).to_string();
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let got = fetch(request(
        "POST",
        &veil.url("/_veil/reveal"),
        Some(role),
        &h,
        body,
    ))
    .await;
    got.complete();
    got
}

#[tokio::test]
async fn reveal_is_allowed_by_role_rate_limited_and_audited_without_values() {
    bounded(async {
        let (up, log) = inbox().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.extra = "reveal:\n  per_minute: 3\n".into();
        // The auth proxy in front names the user: that is the caller a quota counts.
        setup.roles = Some(
            "roles:\n  resolvers:\n    - type: trusted_header\n      header: x-veil-role\n      user_header: x-veil-user\n      trusted_peers: [127.0.0.1]\n".into(),
        );
        let (veil, audit) = start(setup, &[]);
        let list = get(&veil, CONTACTS, "agent").await;
        assert_masked(&list);
        let token = phone_token(&list);
        let upstream_before = log.all().len();

        let ok = reveal(&veil, "supervisor", &token, &[]).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(
            ok.json(),
            serde_json::json!({"kind": "phone", "value": PHONE_E164})
        );
        assert_eq!(ok.header("cache-control"), Some("no-store"));

        let refused = reveal(&veil, "agent", &token, &[]).await;
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert_absent(&refused.text(), PII);

        let forged = reveal(&veil, "supervisor", FORGED, &[]).await;
        assert_eq!(forged.status, 400, "{}", forged.text());

        let limited = reveal(&veil, "supervisor", &token, &[]).await;
        assert_eq!(limited.status, 429, "{}", limited.text());
        assert!(limited.header("retry-after").is_some());
        assert_absent(&limited.text(), PII);
        // Credentials nobody verified make no new caller: random cookies and bearer
        // tokens share the peer's budget.
        for i in 0..5 {
            let cookie = format!("_chatwoot_session=random{i}");
            let again = reveal(
                &veil,
                "supervisor",
                &token,
                &[("cookie", &cookie), ("authorization", "Bearer other-caller")],
            )
            .await;
            assert_eq!(again.status, 429, "{}", again.text());
        }
        // Another user the auth proxy names has a budget of its own.
        let other = reveal(&veil, "supervisor", &token, &[("x-veil-user", "bruno")]).await;
        assert_eq!(other.status, 200, "{}", other.text());
        assert_eq!(
            log.all().len(),
            upstream_before,
            "reveals never reach the upstream"
        );

        let events = audited(&audit, "reveal", &[]);
        let got: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["role"].as_str().unwrap(),
                    e["kind"].as_str().unwrap(),
                    e["result"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("supervisor", "phone", "allowed"),
                ("agent", "phone", "refused"),
                ("supervisor", "-", "invalid"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "-", "rate_limited"),
                ("supervisor", "phone", "allowed"),
            ]
        );
        for e in &events {
            assert!(e.get("value").is_none(), "{e}");
            assert_eq!(e["peer"], "127.0.0.1");
        }
        let principals: Vec<&str> = events.iter().map(|e| e["principal"].as_str().unwrap()).collect();
        assert_eq!(principals[0], "peer:127.0.0.1");
        assert_eq!(principals[principals.len() - 1], "user:bruno");
        let m = veil.metrics().await;
        let allowed = [("kind", "phone"), ("result", "allowed")];
        assert_eq!(metric_value(&m, "veil_reveals_total", &allowed), 2.0, "{m}");
        assert_logs_clean(&veil, &audit, &["other-caller"]);
    })
    .await
}

/// With `user: $.id`, the inbox's user is the principal: two sessions of one user share
/// one budget, and the audit names the user, never a credential.
#[tokio::test]
async fn the_probe_names_the_inbox_user_as_the_principal() {
    bounded(async {
        let (up, _) = inbox().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.roles = Some(
            "roles:\n  resolvers:\n    - type: upstream_probe\n      path: /api/v1/profile\n      role: $.role\n      user: $.id\n      map: {administrator: admin, agent: agent}\n".into(),
        );
        setup.extra = "reveal:\n  per_minute: 2\n".into();
        let (veil, audit) = start(setup, &[]);
        let list = contacts_with(&veil, &[("api_access_token", "agent-token")]).await;
        assert_masked(&list);
        let token = phone_token(&list);
        let reveal_as = |session: &'static str| {
            let body = serde_json::json!({ "token": token }).to_string();
            let url = veil.url("/_veil/reveal");
            async move {
                fetch(request(
                    "POST",
                    &url,
                    None,
                    &[("content-type", "application/json"), ("api_access_token", session)],
                    body,
                ))
                .await
            }
        };
        // Agents may not reveal: refused, but each try is counted against the user.
        assert_eq!(reveal_as("agent-token").await.status, 403);
        assert_eq!(reveal_as("agent-token-2").await.status, 403);
        // A third try from either session: over the user's rate.
        assert_eq!(reveal_as("agent-token-2").await.status, 429);
        let principals: Vec<String> = audited(&audit, "reveal", &[])
            .iter()
            .map(|e| e["principal"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(principals, ["inbox:2", "inbox:2", "inbox:2"]);
        assert_logs_clean(&veil, &audit, &["agent-token"]);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// 6. clear_served

#[tokio::test]
async fn clear_responses_are_audited_with_counts_by_kind() {
    bounded(async {
        let (up, _) = inbox().await;
        let (veil, audit) = start(Setup::new(format!("http://{up}")), &[]);
        assert_clear(&get(&veil, CONTACTS, "admin").await);
        let served = audited(&audit, "clear_served", &[("role", "admin")]);
        assert_eq!(served.len(), 1, "{:?}", audit_events(&audit));
        let kinds = served[0]["kinds"].as_object().expect("kinds by name");
        // The fixture: the phone twice (E.164 and formatted), the e-mail twice, one CPF.
        assert_eq!(kinds.get("phone"), Some(&serde_json::json!(2)), "{kinds:?}");
        assert_eq!(kinds.get("email"), Some(&serde_json::json!(2)), "{kinds:?}");
        assert_eq!(kinds.get("cpf"), Some(&serde_json::json!(1)), "{kinds:?}");
        assert!(kinds.values().all(|v| v.is_u64()), "{kinds:?}");
        assert!(served[0]["route"].is_string());
        assert_logs_clean(&veil, &audit, &[]);
    })
    .await
}
