//! Test support shared by the format maskers: a small rule set compiled from YAML, plans
//! per role, and the chunk-invariance harness (`mask(whole) == concat(mask(split))`).
use crate::rules::compile::compile_sources;
use crate::rules::diagnostic::Source;
use crate::token::KeyRing;
use crate::vocab::action::Action;
use crate::vocab::plan::MaskPlan;
use crate::vocab::policy::RolePolicy;
use crate::{mask_all, MaskError, Masker};
use std::sync::Arc;

/// A key ring with a fixed test key.
pub const TEST_KEY: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Another key ring: a key rotation.
pub const OTHER_KEY: &str = "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Detectors and roles used by the format tests. `agent` masks everything (phones as
/// tokens, e-mails as `[email]`), `supervisor` masks too, otherwise (phones hashed, the
/// rest masked but for the last characters), `admin` sees everything in the clear.
pub const BASE_RULES: &str = r#"
detectors:
  phone:
    builtin: phone
    regions: [BR, DE, PT, IN, ID, CO]
  email: { builtin: email }
  cpf: { builtin: cpf }
roles:
  agent:
    actions:
      phone: token
      email: { redact: "[email]" }
      "*": redact
  supervisor:
    actions:
      phone: hash
      email: { mask: { keep_first: 0, keep_last: 4 } }
      "*": { mask: { keep_first: 0, keep_last: 2 } }
  admin:
    actions:
      "*": clear
default_role: agent
"#;

/// Compiles `BASE_RULES` plus `routes` (a YAML `routes:` document) and returns the plan of
/// route `route` for `role`.
pub fn plan(routes: &str, route: &str, role: &str) -> MaskPlan {
    plan_with_key(routes, route, role, TEST_KEY)
}

/// [`plan`] with another key ring (`TEST_KEY` or `OTHER_KEY`).
pub fn plan_with_key(routes: &str, route: &str, role: &str, key: &str) -> MaskPlan {
    plans(routes, &[(route, role, key)]).remove(0)
}

/// Plans of one compiled rule set for each (route, role, key ring).
pub fn plans(routes: &str, scopes: &[(&str, &str, &str)]) -> Vec<MaskPlan> {
    let sources = vec![
        Source {
            path: "base.yaml".into(),
            text: BASE_RULES.into(),
        },
        Source {
            path: "routes.yaml".into(),
            text: routes.into(),
        },
    ];
    let (set, _warnings) = compile_sources(&sources, Vec::new()).expect("test rules compile");
    let mut rings: Vec<(&str, Arc<KeyRing>)> = Vec::new();
    scopes
        .iter()
        .map(|&(route, role, key)| {
            let route = set.route_by_name(route).unwrap_or(&set.fallback);
            let keys = match rings.iter().find(|(k, _)| *k == key) {
                Some((_, ring)) => ring.clone(),
                None => {
                    let ring = Arc::new(KeyRing::parse(key).expect("test key"));
                    rings.push((key, ring.clone()));
                    ring
                }
            };
            let role = set.role(role).expect("role exists");
            set.plan(route, role, &keys)
        })
        .collect()
}

/// The plan of the fallback route (every detector, no field rules) for `role`.
pub fn fallback_plan(role: &str) -> MaskPlan {
    plan("routes: []\n", "(none)", role)
}

/// A tiny deterministic PRNG (xorshift) so split points are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Runs `input` through a fresh masker fed with the chunk sizes `sizes` (cycled).
pub fn mask_split(
    make: &dyn Fn() -> Box<dyn Masker + Send>,
    input: &[u8],
    sizes: &mut dyn FnMut() -> usize,
) -> Result<Vec<u8>, MaskError> {
    let mut m = make();
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let n = sizes().clamp(1, input.len() - at);
        m.push(&input[at..at + n], &mut out)?;
        at += n;
    }
    m.finish(&mut out)?;
    Ok(out)
}

/// The same plan for a role that masks every kind its own way (the last 2 characters kept,
/// `#` for the rest): another masked role's scope, on the same route.
pub fn other_role(plan: &MaskPlan) -> MaskPlan {
    let n = plan.kinds().len();
    let mask = Action::Mask {
        keep_first: 0,
        keep_last: 2,
        ch: '#',
        keep_domain: false,
    };
    let policy = RolePolicy::new("other".into(), vec![mask; n], vec![false; n]);
    plan.clone().with_role(Arc::new(policy))
}

/// Masks `input` with `plan` whole, then byte by byte and with random splits (seed from
/// `VEIL_TEST_SEED`, printed on failure), after another role's document and after the
/// thread's caches are cleared, and asserts that every run gives the same output: what a
/// cache replays is what a cold masker writes, whatever came before on the thread.
/// Returns the one-shot output.
pub fn assert_chunk_invariant(
    make: &dyn Fn(MaskPlan) -> Box<dyn Masker + Send>,
    plan: &MaskPlan,
    input: &[u8],
) -> Vec<u8> {
    let run = |p: &MaskPlan| mask_all(make(p.clone()).as_mut(), input);
    let whole = run(plan).expect("one-shot masking succeeds");
    let other = run(&other_role(plan)).expect("another role's masking succeeds");
    if !plan.role().is_all_clear() && whole != input {
        assert_ne!(other, whole, "another role got this role's output");
    }
    let after_other = run(plan).expect("masking after another role succeeds");
    assert_eq!(
        String::from_utf8_lossy(&after_other),
        String::from_utf8_lossy(&whole),
        "the output after another role's document differs"
    );
    crate::clear_thread_caches();
    let cold = run(plan).expect("cold masking succeeds");
    assert_eq!(
        String::from_utf8_lossy(&cold),
        String::from_utf8_lossy(&whole),
        "the output with cold caches differs"
    );
    let make = || make(plan.clone());
    let bytewise = mask_split(&make, input, &mut || 1).expect("1-byte chunks succeed");
    assert_eq!(
        String::from_utf8_lossy(&bytewise),
        String::from_utf8_lossy(&whole),
        "1-byte chunks differ from one shot"
    );
    let seed = std::env::var("VEIL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    for round in 0..8u64 {
        let s = seed.wrapping_add(round);
        let mut rng = Rng::new(s);
        let max = 1 + rng.below(64);
        let split = mask_split(&make, input, &mut || 1 + rng.below(max)).expect("split masking");
        assert_eq!(
            String::from_utf8_lossy(&split),
            String::from_utf8_lossy(&whole),
            "random split (VEIL_TEST_SEED={s}) differs from one shot"
        );
    }
    whole
}
