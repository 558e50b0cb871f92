//! A [`MaskPlan`]: everything one masker needs for one document, taken from the compiled
//! rule set for a route and a role. Cloning a plan clones a few `Arc`s, so the proxy makes
//! one per response without copying rules.
use super::detect::{DetectorSet, Detectors};
use super::json::path::JsonFields;
use super::kind::{KindId, Kinds};
use super::policy::RolePolicy;
use super::token::KeyRing;
use std::sync::{Arc, OnceLock};

/// What a field rule says about the value at its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldTarget {
    /// The value is PII of this kind, whatever it looks like.
    Kind(KindId),
    /// The value is known not to be PII (a message id that looks like an e-mail address):
    /// detectors skip it.
    Ignore,
    /// The value is free text for these detectors only (`ignore email`: a message
    /// `source_id` is a `wamid.` id or an e-mail Message-ID, never an address).
    Scan(DetectorSet),
}

/// The field rules of one route, per format.
#[derive(Debug)]
pub struct FieldRules {
    pub json: JsonFields,
    /// CSV columns by header name (exact, case-insensitive).
    pub csv_columns: Vec<(String, FieldTarget)>,
    /// HTML: CSS selector, optional attribute (`None`: the element's text), target.
    pub html: Vec<(String, Option<String>, FieldTarget)>,
    /// The selectors of [`Self::html`], parsed on first use and shared by every response of
    /// the route (`None`: does not parse). See [`Self::html_selectors`].
    pub(crate) html_selectors: OnceLock<Vec<Option<lol_html::Selector>>>,
    /// Unique to each `FieldRules` of this process (see
    /// [`next_generation`](super::next_generation)): caches that outlive a response key
    /// their entries by it.
    pub generation: u64,
}

impl Default for FieldRules {
    fn default() -> Self {
        FieldRules {
            json: JsonFields::default(),
            csv_columns: Vec::new(),
            html: Vec::new(),
            html_selectors: OnceLock::new(),
            generation: super::next_generation(),
        }
    }
}

impl FieldRules {
    /// The parsed selectors of [`Self::html`], in the same order (`None` where one does not
    /// parse; the rule compiler rejects those, so it only happens for hand-built rules).
    /// Parsed once per route, not per response.
    pub fn html_selectors(&self) -> &[Option<lol_html::Selector>] {
        self.html_selectors.get_or_init(|| {
            self.html
                .iter()
                .map(|(css, _, _)| css.parse().ok())
                .collect()
        })
    }
}

/// Buffer caps. Every buffer a masker keeps is bounded by one of these; going over fails
/// closed ([`MaskError::CapExceeded`](super::MaskError::CapExceeded)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest JSON string value, HTML text node, CSV record or SSE event held whole.
    /// Default 1 MiB.
    pub max_value: usize,
    /// Deepest JSON nesting. Default 256.
    pub max_depth: usize,
    /// Largest JSON subtree buffered to evaluate a filter expression. Default 1 MiB.
    pub max_subtree: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value: 1 << 20,
            max_depth: 256,
            max_subtree: 1 << 20,
        }
    }
}

/// Everything a masker needs: detectors, the route's scan list and field rules, the
/// role's actions, the keys, and the caps.
#[derive(Clone, Debug)]
pub struct MaskPlan {
    pub kinds: Arc<Kinds>,
    pub detectors: Arc<Detectors>,
    pub keys: Arc<KeyRing>,
    pub role: Arc<RolePolicy>,
    pub scan: DetectorSet,
    pub fields: Arc<FieldRules>,
    pub limits: Limits,
    /// Run the detectors even for a role that sees everything in the clear, to count what
    /// it was served (the audit log). The bytes still pass unchanged.
    pub audit_clear: bool,
}

impl MaskPlan {
    /// True when the role sees everything in the clear and nothing needs counting:
    /// maskers copy bytes through.
    pub fn is_passthrough(&self) -> bool {
        self.role.is_all_clear() && !self.audit_clear
    }
}
