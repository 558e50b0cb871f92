//! Every cache keeps scopes apart: two masked roles and two key rings alternate on one
//! thread, and each document comes out as a cold masker writes it. The references are
//! checked to differ between roles and between keys, so a cache that dropped the role or
//! the keys from its key would replay the wrong bytes here and fail.
use super::scope::{self, MAX_SCOPES};
use super::stats::{seen, Cache};
use crate::format::csv::CsvMasker;
use crate::format::html::HtmlMasker;
use crate::format::json::JsonMasker;
use crate::format::sse::SseMasker;
use crate::format::text::TextMasker;
use crate::testutil::{OTHER_KEY, TEST_KEY};
use crate::vocab::plan::MaskPlan;
use crate::{mask_all, Masker};

const ROUTES: &str = r#"
routes:
  - name: contacts
    match: { path: "/contacts" }
    json:
      "$..phone_number": phone
      "$..email": email
    csv:
      Phone: phone
      Email: email
    html:
      ".phone": phone
  - name: codes
    match: { path: "/codes" }
    json:
      "$..code": phone
  - name: plain_codes
    match: { path: "/plain-codes" }
    json:
      "$..code": ignore
"#;

const JSON: &str = r#"{"payload":[
 {"id":1,"name":"Maria Souza","phone_number":"+55 11 98765-4321","email":"maria.souza@example.com","note":"ligue +55 21 99876-5432 ou maria.souza@example.com"},
 {"id":2,"name":"João Lima","phone_number":"+55 31 97654-3210","email":"joao.lima@example.org","note":"ligue para a Maria no +55 11 98765-4321 amanhã"}
],"short":[{"phone_number":"+55 11 98765-4321"},{"n":"tel +55 21 99876-5432"},{"n":"tel +55 21 99876-5432"}],"meta":{"count":2,"current_page":1}}"#;

const HTML: &str = r#"<ul><li class="phone">+55 11 98765-4321</li><li title="+55 21 99876-5432">maria.souza@example.com escreveu</li><li>ligue +55 11 98765-4321</li></ul>"#;

const CSV: &str = "Name,Phone,Email,Note\nMaria Souza,+55 11 98765-4321,maria.souza@example.com,ligue +55 21 99876-5432 depois das 18h\nJoão Lima,+55 31 97654-3210,joao.lima@example.org,ou a Maria no +55 11 98765-4321 hoje\nAna,,,tel +55 21 99876-5432\n";

const SSE: &str = "event: message\ndata: {\"content\":\"ligue +55 21 99876-5432\",\"sender\":{\"email\":\"maria.souza@example.com\"}}\n\ndata: {\"content\":\"ou +55 21 99876-5432 amanhã\"}\n\n";

const TEXT: &str = "Olá, meu número é +55 11 98765-4321 e o e-mail maria.souza@example.com; de novo: +55 11 98765-4321.";

/// The four scopes of one rule set: two masked roles, two key rings.
fn plans() -> Vec<MaskPlan> {
    let scopes = [
        ("contacts", "agent", TEST_KEY),
        ("contacts", "supervisor", TEST_KEY),
        ("contacts", "agent", OTHER_KEY),
        ("contacts", "supervisor", OTHER_KEY),
    ];
    crate::testutil::plans(ROUTES, &scopes)
}

fn run(make: &dyn Fn(MaskPlan) -> Box<dyn Masker>, plan: &MaskPlan, input: &str) -> String {
    let out = mask_all(make(plan.clone()).as_mut(), input.as_bytes()).expect("masks");
    String::from_utf8(out).expect("UTF-8")
}

/// Cold references per scope, pairwise different; then five rounds of the four scopes in
/// turn on one thread, warm, each equal to its reference; and the listed caches hit (the
/// inputs repeat values within a document, so that caches a warm document skips, behind a
/// replayed span, are hit within the cold ones).
fn assert_scopes_apart(make: &dyn Fn(MaskPlan) -> Box<dyn Masker>, input: &str, caches: &[Cache]) {
    let plans = plans();
    let before: Vec<_> = caches.iter().map(|&c| seen(c).hits).collect();
    let cold: Vec<String> = plans
        .iter()
        .map(|p| {
            crate::clear_thread_caches();
            run(make, p, input)
        })
        .collect();
    for (i, a) in cold.iter().enumerate() {
        assert_ne!(a, input, "scope {i} masks something");
        for (j, b) in cold.iter().enumerate().skip(i + 1) {
            assert_ne!(
                a, b,
                "scopes {i} and {j} write different bytes (else this test could not fail)"
            );
        }
    }
    crate::clear_thread_caches();
    for round in 0..5 {
        for (i, p) in plans.iter().enumerate() {
            assert_eq!(run(make, p, input), cold[i], "round {round}, scope {i}");
        }
    }
    for (c, b) in caches.iter().zip(before) {
        assert!(seen(*c).hits > b, "the {} cache was used", c.name());
    }
}

#[test]
fn json_scopes_apart_in_every_cache() {
    let make = |p| Box::new(JsonMasker::new(p)) as Box<dyn Masker>;
    assert_scopes_apart(
        &make,
        JSON,
        &[Cache::Tokens, Cache::Fields, Cache::Values, Cache::Spans],
    );
}

#[test]
fn html_scopes_apart_in_every_cache() {
    let make = |p| Box::new(HtmlMasker::new(p)) as Box<dyn Masker>;
    assert_scopes_apart(&make, HTML, &[Cache::Tokens, Cache::Fields, Cache::Values]);
}

#[test]
fn csv_scopes_apart_in_every_cache() {
    let make = |p| Box::new(CsvMasker::new(p)) as Box<dyn Masker>;
    assert_scopes_apart(&make, CSV, &[Cache::Tokens, Cache::Findings, Cache::Spans]);
}

#[test]
fn sse_and_text_scopes_apart() {
    let make = |p| Box::new(SseMasker::new(p)) as Box<dyn Masker>;
    assert_scopes_apart(&make, SSE, &[Cache::Tokens, Cache::Values]);
    let make = |p| Box::new(TextMasker::new(p)) as Box<dyn Masker>;
    assert_scopes_apart(&make, TEXT, &[Cache::Tokens]);
}

#[test]
fn a_third_scope_evicts_the_least_recently_used_not_everything() {
    crate::clear_thread_caches();
    let plans = plans();
    let make = |p| Box::new(JsonMasker::new(p)) as Box<dyn Masker>;
    let agent = &plans[0];
    let reference = run(&make, agent, JSON);
    // More scopes than a thread keeps, the agent's used between them: it stays warm.
    let limits = agent.limits();
    for i in 0..MAX_SCOPES * 2 {
        let other = plans[1].clone().with_limits(crate::vocab::plan::Limits {
            max_value: limits.max_value - 1 - i,
            ..limits
        });
        run(&make, &other, JSON);
        let hits = seen(Cache::Spans).hits;
        assert_eq!(run(&make, agent, JSON), reference);
        assert!(
            seen(Cache::Spans).hits > hits,
            "the agent's entries survived {i} other scopes"
        );
    }
    assert!(scope::known() <= MAX_SCOPES);
    assert!(seen(Cache::Scopes).evictions >= MAX_SCOPES as u64);
}

#[test]
fn retiring_drops_every_entry_at_the_next_document() {
    crate::clear_thread_caches();
    let plans = plans();
    let make = |p| Box::new(JsonMasker::new(p)) as Box<dyn Masker>;
    let reference = run(&make, &plans[0], JSON);
    let hits = seen(Cache::Spans).hits;
    scope::retire();
    assert_eq!(run(&make, &plans[0], JSON), reference);
    assert_eq!(
        seen(Cache::Spans).hits,
        hits,
        "nothing was replayed after retire"
    );
    assert_eq!(scope::known(), 1);
}

#[test]
fn routes_with_other_field_rules_are_scopes_apart() {
    let input =
        r#"{"items":[{"code":"A-1234","label":"a plain label, long enough to be recorded"}]}"#;
    // The same paths, other targets: the field rules' identity is all that tells them apart.
    let scopes = [
        ("plain_codes", "agent", TEST_KEY),
        ("codes", "agent", TEST_KEY),
    ];
    let [contacts, codes] =
        <[MaskPlan; 2]>::try_from(crate::testutil::plans(ROUTES, &scopes)).expect("two plans");
    let make = |p| Box::new(JsonMasker::new(p)) as Box<dyn Masker>;
    crate::clear_thread_caches();
    let plain = run(&make, &contacts, input);
    crate::clear_thread_caches();
    let masked = run(&make, &codes, input);
    assert_eq!(plain, input);
    assert!(!masked.contains("A-1234"), "{masked}");
    for _ in 0..3 {
        assert_eq!(run(&make, &contacts, input), plain);
        assert_eq!(run(&make, &codes, input), masked);
    }
}
