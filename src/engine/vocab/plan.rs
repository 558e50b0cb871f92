//! A [`MaskPlan`]: everything one masker needs for one document, taken from the compiled
//! rule set for a route and a role. Cloning a plan clones a few `Arc`s, so the proxy makes
//! one per response without copying rules.
use crate::detect::{DetectorSet, Detectors};
use crate::fields::FieldRules;
use crate::token::KeyRing;
use crate::vocab::kind::Kinds;
use crate::vocab::policy::RolePolicy;
use std::sync::Arc;

/// Buffer caps. Every buffer a masker keeps is bounded by one of these; going over fails
/// closed ([`MaskError::CapExceeded`](crate::MaskError::CapExceeded)).
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
