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
