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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Longest JSON string value, HTML text node, CSV record or SSE event held whole.
    /// Default 1 MiB.
    pub max_value: usize,
    /// Deepest JSON nesting. Default 256.
    pub max_depth: usize,
    /// Largest JSON subtree buffered to evaluate a filter expression. Default 1 MiB.
    pub max_subtree: usize,
    /// What all the buffers of one response's masker may hold together (see
    /// `format/budget.rs`). Default 8 MiB.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_value: 1 << 20,
            max_depth: 256,
            max_subtree: 1 << 20,
            max_memory: 8 << 20,
        }
    }
}

/// Everything a cached result may depend on besides its own bytes: the identities of the
/// compiled objects a plan pairs (rule set, role, key ring, the route's field rules) and the
/// plan's settings (scan list, caps, audit). Computed once, when the plan is made; its fields
/// are private, so no cache can key by a part of it and forget the rest. Every cache that
/// outlives a response ([`crate::cache`]) is keyed by it, as rustls keys its session
/// cache by one server name and config identity.
///
/// A field added to [`MaskPlan`] that changes what a masker writes must be added here too;
/// `MaskPlan::new` is the one place both are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    rules: u64,
    role: u64,
    keys: u64,
    fields: u64,
    scan: DetectorSet,
    limits: Limits,
    audit_clear: bool,
}

/// Everything a masker needs: detectors, the route's scan list and field rules, the
/// role's actions, the keys, and the caps. Made by [`RuleSet::plan`](crate::rules::RuleSet::plan)
/// only (the kinds, detectors, role and field rules of one compiled rule set), then
/// adjusted by the methods below, each of which recomputes the [`Scope`].
#[derive(Clone, Debug)]
pub struct MaskPlan {
    kinds: Arc<Kinds>,
    detectors: Arc<Detectors>,
    keys: Arc<KeyRing>,
    role: Arc<RolePolicy>,
    scan: DetectorSet,
    fields: Arc<FieldRules>,
    limits: Limits,
    audit_clear: bool,
    scope: Scope,
}

impl MaskPlan {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        kinds: Arc<Kinds>,
        detectors: Arc<Detectors>,
        keys: Arc<KeyRing>,
        role: Arc<RolePolicy>,
        scan: DetectorSet,
        fields: Arc<FieldRules>,
        limits: Limits,
        audit_clear: bool,
    ) -> MaskPlan {
        MaskPlan {
            kinds,
            detectors,
            keys,
            role,
            scan,
            fields,
            limits,
            audit_clear,
            scope: Scope::default(),
        }
        .rescoped()
    }

    /// The one place a plan's [`Scope`] is written: from every field that changes what a
    /// masker writes.
    fn rescoped(mut self) -> MaskPlan {
        self.scope = Scope {
            // The kinds are compiled with the detectors (one rule set): one identity.
            rules: self.detectors.generation(),
            role: self.role.generation(),
            keys: self.keys.generation(),
            fields: self.fields.generation(),
            scan: self.scan,
            limits: self.limits,
            audit_clear: self.audit_clear,
        };
        self
    }

    /// The same plan with another role policy of the same rule set (a collection budget's
    /// every-kind-redacted policy).
    pub fn with_role(mut self, role: Arc<RolePolicy>) -> MaskPlan {
        self.role = role;
        self.rescoped()
    }

    /// The same plan, scanning even for a role that sees everything in the clear, to count
    /// what it was served (the audit log). The bytes still pass unchanged.
    pub fn with_audit_clear(mut self, audit_clear: bool) -> MaskPlan {
        self.audit_clear = audit_clear;
        self.rescoped()
    }

    /// The same plan with other caps.
    pub fn with_limits(mut self, limits: Limits) -> MaskPlan {
        self.limits = limits;
        self.rescoped()
    }

    /// Runs free text through `scan` only (a field rule that narrows the detectors for one
    /// value). Returns the previous scan list.
    pub(crate) fn set_scan(&mut self, scan: DetectorSet) -> DetectorSet {
        let old = std::mem::replace(&mut self.scan, scan);
        self.scope.scan = scan;
        old
    }

    /// True when the role sees everything in the clear and nothing needs counting:
    /// maskers copy bytes through.
    pub fn is_passthrough(&self) -> bool {
        self.role.is_all_clear() && !self.audit_clear
    }

    /// What every cache entry made with this plan is keyed by.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn kinds(&self) -> &Arc<Kinds> {
        &self.kinds
    }

    pub fn detectors(&self) -> &Arc<Detectors> {
        &self.detectors
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    pub fn role(&self) -> &Arc<RolePolicy> {
        &self.role
    }

    pub fn scan(&self) -> DetectorSet {
        self.scan
    }

    pub fn fields(&self) -> &Arc<FieldRules> {
        &self.fields
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn audit_clear(&self) -> bool {
        self.audit_clear
    }
}
