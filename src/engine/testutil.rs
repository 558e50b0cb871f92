//! Test support shared by the format maskers: a small rule set compiled from YAML, plans
//! per role, and the chunk-invariance harness (`mask(whole) == concat(mask(split))`).
use crate::rules::compile::compile_sources;
use crate::rules::diagnostic::Source;
use crate::token::KeyRing;
use crate::vocab::plan::MaskPlan;
use crate::{mask_all, MaskError, Masker};
use std::sync::Arc;

/// A key ring with a fixed test key.
pub const TEST_KEY: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Detectors and roles used by the format tests. `agent` masks everything (phones as
/// tokens, e-mails as `[email]`), `admin` sees everything in the clear.
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
  admin:
    actions:
      "*": clear
default_role: agent
"#;

/// Compiles `BASE_RULES` plus `routes` (a YAML `routes:` document) and returns the plan of
/// route `route` for `role`.
pub fn plan(routes: &str, route: &str, role: &str) -> MaskPlan {
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
    let keys = Arc::new(KeyRing::parse(TEST_KEY).expect("test key"));
    let role = set.role(role).expect("role exists");
    let route = set.route_by_name(route).unwrap_or(&set.fallback);
    set.plan(route, role, &keys)
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

/// Masks `input` whole, then byte by byte and with random splits (seed from
/// `VEIL_TEST_SEED`, printed on failure), and asserts that every run gives the same
/// output. Returns the one-shot output.
pub fn assert_chunk_invariant(make: &dyn Fn() -> Box<dyn Masker + Send>, input: &[u8]) -> Vec<u8> {
    let whole = mask_all(make().as_mut(), input).expect("one-shot masking succeeds");
    let bytewise = mask_split(make, input, &mut || 1).expect("1-byte chunks succeed");
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
        let split = mask_split(make, input, &mut || 1 + rng.below(max)).expect("split masking");
        assert_eq!(
            String::from_utf8_lossy(&split),
            String::from_utf8_lossy(&whole),
            "random split (VEIL_TEST_SEED={s}) differs from one shot"
        );
    }
    whole
}
