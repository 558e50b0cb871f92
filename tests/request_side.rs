//! The request side through the real binary against a recording upstream: tokens turn
//! back into values only at the places a route lists and for the kinds a role lists,
//! within the role's quota per principal; everything else reaches the upstream as the
//! token text. Every detokenization is audited without its value.
mod common;

use bytes::Bytes;
use common::fx::*;
use common::*;
use std::path::{Path, PathBuf};
use veil::engine::token::KeyRing;

const SEARCH: &str = "/api/v1/accounts/1/contacts/search";

fn token(kind: &str, value: &str) -> String {
    let keys = KeyRing::parse(KEY_LINE).unwrap();
    let mut t = String::new();
    keys.tokenize(kind, value, &mut t);
    t
}

fn start(mut setup: Setup) -> (Veil, PathBuf) {
    let dir = TempDir::new();
    let audit = dir.path().join("audit.jsonl");
    setup.extra = format!("audit:\n  path: {}\n{}", audit.display(), setup.extra);
    (Veil::with_dir(setup, dir), audit)
}

fn audit_events(path: &Path, event: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an audit line is JSON"))
        .filter(|e| e["event"] == event)
        .collect()
}

/// No contact value in the audit log or veil's own log.
fn assert_logs_clean(veil: &Veil, audit: &Path) {
    let audit_text = std::fs::read_to_string(audit).unwrap_or_default();
    for (name, text) in [("veil log", veil.log()), ("audit log", audit_text)] {
        assert_absent(&text, PII);
        assert!(!text.contains("5521981234567"), "{name}: {text}");
    }
}

async fn send(veil: &Veil, method: &str, path: &str, ct: &str, body: String) -> Got {
    let headers: Vec<(&str, &str)> = if ct.is_empty() {
        vec![]
    } else {
        vec![("content-type", ct)]
    };
    let got = fetch(request(
        method,
        &veil.url(path),
        Some("agent"),
        &headers,
        body,
    ))
    .await;
    got.complete();
    got
}

#[tokio::test]
async fn tokens_turn_back_only_where_a_route_and_the_role_say() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let (veil, audit) = start(Setup::new(format!("http://{up}")));
        let phone = token("phone", PHONE_E164);
        let email = token("email", EMAIL);
        let digits = &PHONE_E164[1..];

        // The contact search needs the value: `q` turns back, other parameters do not.
        let got = get(&veil, &format!("{SEARCH}?q={phone}&sort={phone}"), "agent").await;
        got.complete();
        assert_eq!(
            log.last().target,
            format!("{SEARCH}?q=%2B5521981234567&sort={phone}")
        );
        assert_absent(&got.text(), PII);

        // Glued to a letter or a digit, percent-encoded around, or in an unlisted route:
        // the token text goes as it came.
        for q in [format!("x{phone}"), format!("{phone}9"), format!("{phone}_x")] {
            let path = format!("{SEARCH}?q={q}");
            get(&veil, &path, "agent").await.complete();
            assert_eq!(log.last().target, path);
        }
        let unlisted = format!("/api/v1/accounts/1/contacts?q={phone}");
        get(&veil, &unlisted, "agent").await.complete();
        assert_eq!(log.last().target, unlisted);
        let in_path = format!("/api/v1/accounts/1/contacts/{phone}");
        get(&veil, &in_path, "agent").await.complete();
        assert_eq!(log.last().target, in_path);

        // A kind this role may not turn back (agents see e-mails masked, never tokens).
        let path = format!("{SEARCH}?q={email}");
        get(&veil, &path, "agent").await.complete();
        assert_eq!(log.last().target, path);

        // A reply's text: the token reaches the inbox, whatever the encoding.
        let reply = format!(
            r#"{{"content":"me liga: {phone} / x{phone}","private":false,"to_emails":"{phone}"}}"#
        );
        send(
            &veil,
            "POST",
            "/api/v1/accounts/1/conversations/42/messages",
            "application/json",
            reply.clone(),
        )
        .await;
        let seen = log.last();
        let seen_body = String::from_utf8_lossy(&seen.body).into_owned();
        assert!(
            seen_body.contains(&format!("me liga: {phone} / x{phone}")),
            "{seen_body}"
        );
        // `to_emails` is a place, and the token turned back there.
        assert!(seen_body.contains(r#""to_emails":"+5521981234567""#), "{seen_body}");
        assert_eq!(seen_body.matches(digits).count(), 1, "{seen_body}");
        for ct in ["text/plain", "multipart/form-data; boundary=x", ""] {
            send(
                &veil,
                "POST",
                "/api/v1/accounts/1/conversations/42/messages",
                ct,
                reply.clone(),
            )
            .await;
            assert_eq!(log.last().body, reply.as_bytes(), "{ct}");
        }

        // A form: `source_id` turns back, the message's content does not.
        let form = format!("inbox_id=3&source_id={phone}&message%5Bcontent%5D=oi+{phone}");
        send(
            &veil,
            "POST",
            "/api/v1/accounts/1/conversations",
            "application/x-www-form-urlencoded",
            form,
        )
        .await;
        assert_eq!(
            String::from_utf8_lossy(&log.last().body),
            format!("inbox_id=3&source_id=%2B5521981234567&message%5Bcontent%5D=oi+{phone}")
        );

        // The contact filter: values of phone conditions only; member order kept.
        let filter = format!(
            r#"{{"payload":[{{"attribute_key":"phone_number","filter_operator":"equal_to","values":["{phone}"],"query_operator":"or"}},{{"attribute_key":"name","filter_operator":"contains","values":["{phone}"],"query_operator":null}}]}}"#
        );
        send(
            &veil,
            "POST",
            "/api/v1/accounts/1/contacts/filter?page=1",
            "application/json",
            filter,
        )
        .await;
        assert_eq!(
            String::from_utf8_lossy(&log.last().body),
            format!(
                r#"{{"payload":[{{"attribute_key":"phone_number","filter_operator":"equal_to","values":["+5521981234567"],"query_operator":"or"}},{{"attribute_key":"name","filter_operator":"contains","values":["{phone}"],"query_operator":null}}]}}"#
            )
        );

        // Audit: one event per token met at a place, with no value.
        let events = audit_events(&audit, "detokenize");
        let got: Vec<(&str, &str, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["route"].as_str().unwrap(),
                    e["place"].as_str().unwrap(),
                    e["kind"].as_str().unwrap(),
                    e["result"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("chatwoot-contact-search", "query:q", "phone", "ok"),
                ("chatwoot-contact-search", "query:q", "email", "refused"),
                ("chatwoot-reply-recipients", "json:$.to_emails", "phone", "ok"),
                ("chatwoot-conversation-create", "form:source_id", "phone", "ok"),
                (
                    "chatwoot-contact-filter",
                    "json:$.payload[?(@.attribute_key == 'phone_number' || @.attribute_key == 'email' || @.attribute_key == 'identifier')].values[*]",
                    "phone",
                    "ok"
                ),
            ]
        );
        for e in &events {
            assert_eq!(e["principal"], "peer:127.0.0.1");
            assert_eq!(e["role"], "agent");
            assert_eq!(e["key_id"], "k1");
        }
        let m = veil.metrics().await;
        assert_eq!(
            m.value(
                "veil_detokenized_total",
                &[("route", "chatwoot-contact-search"), ("place", "query:q"), ("result", "ok")]
            ),
            1.0,
            "{m}"
        );
        assert_eq!(
            m.value("veil_detokenized_total", &[("result", "refused")]),
            1.0
        );
        assert_logs_clean(&veil, &audit);
    })
    .await
}

#[tokio::test]
async fn a_quota_runs_out_per_principal_and_random_cookies_do_not_reset_it() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let mut setup = Setup::new(format!("http://{up}"));
        setup.rules_patch = vec![(
            "roles.yaml",
            "detokenize: { kinds: [phone, wamid], per_hour: 300 }",
            "detokenize: { kinds: [phone, wamid], per_hour: 2 }".into(),
        )];
        setup.roles = Some(
            "roles:\n  resolvers:\n    - type: trusted_header\n      header: x-veil-role\n      user_header: x-veil-user\n      trusted_peers: [127.0.0.1]\n".into(),
        );
        let (veil, audit) = start(setup);
        let phone = token("phone", PHONE_E164);
        let search = |who: &'static str, cookie: String| {
            let url = veil.url(&format!("{SEARCH}?q={phone}"));
            async move {
                let mut headers = vec![("cookie", cookie.as_str())];
                if !who.is_empty() {
                    headers.push(("x-veil-user", who));
                }
                let got = fetch(request("GET", &url, Some("agent"), &headers, Bytes::new())).await;
                got.complete();
                got
            }
        };
        for i in 0..2 {
            let ok = search("", format!("s={i}")).await;
            assert_eq!(ok.status, 200, "{}", ok.text());
        }
        let before = log.all().len();
        for i in 2..6 {
            let refused = search("", format!("s={i}")).await;
            assert_eq!(refused.status, 429, "{}", refused.text());
            assert_eq!(refused.json()["error"], "quota_exceeded");
            let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=3600).contains(&retry), "{retry}");
            assert_absent(&refused.text(), PII);
        }
        assert_eq!(log.all().len(), before, "a refused request never goes upstream");
        // A user the auth proxy names has a budget of its own; a search without a token
        // takes nothing from it.
        assert_eq!(search("ana", "s=x".into()).await.status, 200);
        get(&veil, &format!("{SEARCH}?q=maria"), "agent").await.complete();
        let refusals = audit_events(&audit, "quota_exceeded");
        assert_eq!(refusals.len(), 4, "{refusals:?}");
        assert_eq!(refusals[0]["scope"], "detokenize");
        assert_eq!(refusals[0]["principal"], "peer:127.0.0.1");
        assert_eq!(refusals[0]["route"], "chatwoot-contact-search");
        let m = veil.metrics().await;
        assert_eq!(
            m.value(
                "veil_quota_refusals_total",
                &[("scope", "detokenize"), ("reason", "over")]
            ),
            4.0
        );
        let oks = audit_events(&audit, "detokenize");
        assert_eq!(
            oks.iter().filter(|e| e["principal"] == "user:ana").count(),
            1
        );
        assert_logs_clean(&veil, &audit);
    })
    .await
}

#[tokio::test]
async fn check_refuses_a_place_on_an_unmasked_route_and_warns_on_free_text() {
    let dir = TempDir::new();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "routes:\n  - name: assets\n    match: { path: \"/assets/**\" }\n    passthrough: true\n    detokenize: { query: [q] }\n\
         roles:\n  agent:\n    actions: { \"*\": token }\ndefault_role: agent\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["check", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("rules.yaml:5:"), "{text}");
    assert!(text.contains("responses are not masked"), "{text}");

    std::fs::write(
        &rules,
        "routes:\n  - name: replies\n    match: { path: \"/messages\" }\n    detokenize: { json: [\"$.content\"] }\n\
         roles:\n  agent:\n    actions: { \"*\": token }\n    detokenize: { kinds: [phone] }\ndefault_role: agent\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["check", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is free text"), "{text}");
}

/// Three contacts with distinct phones.
const THREE_CONTACTS: &str = r#"{"meta":{"count":3},"payload":[{"id":1,"name":"Maria Teste","phone_number":"+5521981234567","custom_attributes":{"cpf":"529.982.247-25"}},{"id":2,"name":"Joao Souza","phone_number":"+5511987654321"},{"id":3,"name":"Ana Lima","phone_number":"+5531991234567"}]}"#;

async fn collection_veil(over: &str) -> (Veil, PathBuf, Log) {
    let (up, log) =
        upstream(|_| async { response(200, &[json_ct()], whole(THREE_CONTACTS)) }).await;
    let mut setup = Setup::new(format!("http://{up}"));
    setup.rules_patch = vec![(
        "roles.yaml",
        "collection: { per_hour: 500, kinds: [phone], over: block }",
        format!("collection: {{ per_hour: 2, kinds: [phone], over: {over} }}"),
    )];
    setup.roles = Some(
        "roles:\n  resolvers:\n    - type: trusted_header\n      header: x-veil-role\n      user_header: x-veil-user\n      trusted_peers: [127.0.0.1]\n".into(),
    );
    let (veil, audit) = start(setup);
    (veil, audit, log)
}

async fn list_as(veil: &Veil, user: &str, cookie: &str) -> Got {
    let mut headers = vec![("cookie", cookie)];
    if !user.is_empty() {
        headers.push(("x-veil-user", user));
    }
    let got = fetch(request(
        "GET",
        &veil.url("/api/v1/accounts/1/contacts?page=1"),
        Some("agent"),
        &headers,
        Bytes::new(),
    ))
    .await;
    got.complete();
    got
}

#[tokio::test]
async fn a_caller_over_its_collection_budget_is_refused_until_the_window_ends() {
    bounded(async {
        let (veil, audit, log) = collection_veil("block").await;
        let first = list_as(&veil, "", "s=1").await;
        assert_eq!(first.status, 200, "{}", first.text());
        assert_absent(&first.text(), PII);
        assert_present(&first.text(), &["Maria Teste", "Joao Souza", "Ana Lima"]);
        // The three contacts are counted when the response ends.
        veil.wait_metrics(std::time::Duration::from_secs(5), |m| {
            m.value("veil_contacts_seen_total", &[("role", "agent")]) >= 3.0
        })
        .await;
        let served = log.all().len();
        for i in 0..4 {
            let refused = list_as(&veil, "", &format!("s=random{i}")).await;
            assert_eq!(refused.status, 429, "{}", refused.text());
            assert_eq!(refused.json()["error"], "collection_limit");
            assert!(refused.header("retry-after").is_some());
            assert_absent(&refused.text(), &["Maria Teste", "5521981234567"]);
        }
        assert_eq!(log.all().len(), served, "refused before going upstream");
        // Routes that list no contacts still work; another user has a budget of its own.
        let msgs = get(
            &veil,
            "/api/v1/accounts/1/conversations/42/messages",
            "agent",
        )
        .await;
        assert_eq!(msgs.status, 200);
        assert_eq!(list_as(&veil, "bruno", "s=1").await.status, 200);
        // Once per caller and window (bruno's three contacts put him over too).
        let exceeded: Vec<_> = audit_events(&audit, "collection_exceeded")
            .into_iter()
            .filter(|e| e["principal"] == "peer:127.0.0.1")
            .collect();
        assert_eq!(exceeded.len(), 1, "{exceeded:?}");
        assert_eq!(exceeded[0]["budget"], 2);
        assert_eq!(exceeded[0]["seen"], 3);
        assert_eq!(audit_events(&audit, "collection_over").len(), 4);
        let m = veil.metrics().await;
        assert_eq!(
            m.value(
                "veil_collection_over_total",
                &[("role", "agent"), ("action", "block")]
            ),
            4.0
        );
        assert_logs_clean(&veil, &audit);
    })
    .await
}

#[tokio::test]
async fn over_budget_with_mask_all_serves_everything_redacted() {
    bounded(async {
        let (veil, audit, _) = collection_veil("mask_all").await;
        let first = list_as(&veil, "", "").await;
        assert!(first.text().contains("vt_phone_"), "{}", first.text());
        veil.wait_metrics(std::time::Duration::from_secs(5), |m| {
            m.value("veil_contacts_seen_total", &[("role", "agent")]) >= 3.0
        })
        .await;
        let masked = list_as(&veil, "", "").await;
        assert_eq!(masked.status, 200);
        let text = masked.text();
        assert_absent(&text, PII);
        assert!(!text.contains("vt_phone_"), "no token to collect: {text}");
        assert!(text.contains("[redacted:phone]"), "{text}");
        // Non-PII content is intact, and the document is still JSON.
        assert_eq!(masked.json()["meta"]["count"], 3);
        assert_present(&text, &["Maria Teste"]);
        assert_eq!(
            audit_events(&audit, "collection_over")[0]["action"],
            "mask_all"
        );
    })
    .await
}

#[tokio::test]
async fn agents_may_not_export_contacts() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let (veil, audit) = start(Setup::new(format!("http://{up}")));
        let export = fetch(request(
            "POST",
            &veil.url("/api/v1/accounts/1/contacts/export"),
            Some("agent"),
            &[("content-type", "application/json")],
            r#"{"column_names":["name","email","phone_number"]}"#,
        ))
        .await;
        assert_eq!(export.status, 403, "{}", export.text());
        assert_eq!(export.json()["error"], "role_not_allowed");
        assert!(log.all().is_empty(), "the export never reached the inbox");
        let admin = fetch(request(
            "POST",
            &veil.url("/api/v1/accounts/1/contacts/export"),
            Some("admin"),
            &[("content-type", "application/json")],
            "{}",
        ))
        .await;
        assert_eq!(admin.status, 200);
        let refused = audit_events(&audit, "refused");
        assert_eq!(refused[0]["reason"], "role_not_allowed");
        assert_eq!(refused[0]["route"], "chatwoot-contact-export");
    })
    .await
}

/// What an inbox echoes of a request (a search box, a link it builds, a reply glued to a
/// word) reaches a masked role masked, whatever encoding the echo uses.
#[tokio::test]
async fn echoed_values_glued_or_percent_encoded_are_masked() {
    bounded(async {
        let (up, _) = upstream(|seen: Seen| async move {
            if seen.target.starts_with("/app/") {
                return response(
                    200,
                    &[("content-type", "text/html; charset=utf-8")],
                    whole(
                        r#"<p>Resultados para x+5521981234567 e maria.teste%40example.com</p><a href="https://wa.me/%2B5521981234567">WhatsApp</a> <a href="/contacts?q=%2b5521981234567">PED-2025-0042</a>"#,
                    ),
                );
            }
            response(
                200,
                &[
                    json_ct(),
                    ("location", "/api/v1/accounts/1/contacts/search?q=%2B5521981234567"),
                ],
                whole(
                    r#"{"query":"%2B5521981234567","link":"https://wa.me/%2B5521981234567","echo":"x+5521981234567","glued":"+5521981234567agora","email":"maria.teste%40example.com","order":"PED-2025-0042"}"#,
                ),
            )
        })
        .await;
        let veil = Veil::start(up);
        let digits = &PHONE_E164[1..];
        let json = get(&veil, "/api/v1/accounts/1/conversations/1/messages", "agent").await;
        json.complete();
        let text = json.text();
        assert_absent(&text, &[digits, "maria.teste%40example.com", "maria.teste"]);
        assert_present(&text, &["PED-2025-0042", "https://wa.me/vt_phone_", "\"echo\":\"xvt_phone_"]);
        assert!(json.json().is_object(), "still JSON: {text}");
        let location = json.header("location").unwrap_or_default();
        assert!(!location.contains(digits), "{location}");
        let html = get(&veil, "/app/accounts/1/contacts", "agent").await;
        html.complete();
        let page = html.text();
        assert_absent(&page, &[digits, "maria.teste"]);
        assert_present(&page, &["PED-2025-0042", "wa.me/vt_phone_"]);
    })
    .await
}

/// Saving a contact from the dashboard sends back what the agent was shown: the phone's
/// token turns back into the number, and the masked e-mail is dropped, so the inbox keeps
/// the address it has instead of storing the mask (or refusing the whole save).
#[tokio::test]
async fn a_contact_saved_with_what_the_agent_saw_keeps_its_values() {
    bounded(async {
        let (up, log) = contacts_upstream().await;
        let (veil, audit) = start(Setup::new(format!("http://{up}")));
        let shown = get(&veil, "/api/v1/accounts/1/contacts/301", "agent").await;
        shown.complete();
        let contact = &shown.json()["payload"][0];
        let (phone, email) = (
            contact["phone_number"].as_str().unwrap().to_owned(),
            contact["email"].as_str().unwrap().to_owned(),
        );
        assert!(phone.starts_with("vt_phone_"), "{phone}");
        assert!(email.contains('•'), "{email}");
        let save = serde_json::json!({
            "name": "Maria Teste", "email": email, "phone_number": phone,
            "additional_attributes": {"city": "Rio", "note": phone},
        })
        .to_string();
        let saved = fetch(request(
            "PATCH",
            &veil.url("/api/v1/accounts/1/contacts/301?include_contact_inboxes=false"),
            Some("agent"),
            &[("content-type", "application/json")],
            save,
        ))
        .await;
        assert_eq!(saved.status, 200);
        let body: serde_json::Value = serde_json::from_slice(&log.last().body).unwrap();
        assert_eq!(body["phone_number"], PHONE_E164);
        assert!(body.get("email").is_none(), "{body}");
        assert_eq!(body["name"], "Maria Teste");
        // Free text keeps the token.
        assert_eq!(body["additional_attributes"]["note"], phone.as_str());
        let dropped: Vec<_> = audit_events(&audit, "detokenize")
            .into_iter()
            .filter(|e| e["result"] == "dropped")
            .collect();
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0]["place"], "json:$.email");
    })
    .await
}
