//! The compiled, immutable rule set: what the proxy and the CLI consult per request.
use super::request::{RequestPlaces, RoleGrants};
use crate::detect::{DetectorSet, Detectors};
use crate::fields::FieldRules;
use crate::token::KeyRing;
use crate::vocab::kind::Kinds;
use crate::vocab::plan::{Limits, MaskPlan};
use crate::vocab::policy::RolePolicy;
use std::sync::Arc;

/// What a masked route does with a content type that has no masker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnUnknown {
    /// Scan the body as text (the default): detectors still run.
    Scan,
    /// Refuse the response (502) for a masked role.
    Block,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleId(pub usize);

/// One route: which requests it takes, and how their responses are masked.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub path_glob: String,
    pub(crate) path_glob_matcher: globset::GlobMatcher,
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
    pub websocket: Option<bool>,
    pub scan: DetectorSet,
    pub fields: Arc<FieldRules>,
    pub on_unknown: OnUnknown,
    /// Named loudly: responses of this route are not masked at all.
    pub passthrough: bool,
    /// Where tokens in this route's requests turn back into values (empty: nowhere).
    pub detokenize: Arc<RequestPlaces>,
    /// Responses list contacts (they count against collection budgets).
    pub contacts: bool,
    /// Only these roles may use the route (`None`: any).
    pub roles: Option<Vec<RoleId>>,
}

impl Route {
    pub fn matches(&self, method: &str, path: &str, websocket: bool) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && self.websocket.is_none_or(|w| w == websocket)
            && self.path_glob_matcher.is_match(path)
    }
}

/// A compiled rule set. Immutable: a reload builds a new one and swaps it in.
#[derive(Debug)]
pub struct RuleSet {
    pub kinds: Arc<Kinds>,
    pub detectors: Arc<Detectors>,
    pub roles: Vec<Arc<RolePolicy>>,
    /// The request side of each role, by [`RoleId`].
    pub grants: Vec<RoleGrants>,
    pub default_role: RoleId,
    pub routes: Vec<Route>,
    /// Used when no route matches: every detector, no field rules, scan unknown types.
    pub fallback: Route,
    pub limits: Limits,
    /// A short hash of the rule files' contents, for the info metric and logs.
    pub version: String,
    pub files: Vec<std::path::PathBuf>,
}

impl RuleSet {
    pub fn role(&self, name: &str) -> Option<RoleId> {
        self.roles.iter().position(|r| r.name == name).map(RoleId)
    }

    pub fn role_policy(&self, id: RoleId) -> &Arc<RolePolicy> {
        &self.roles[id.0]
    }

    pub fn role_grants(&self, id: RoleId) -> &RoleGrants {
        &self.grants[id.0]
    }

    /// The first route that takes this request, or the fallback.
    pub fn route_for(&self, method: &str, path: &str, websocket: bool) -> &Route {
        self.route(self.route_id_for(method, path, websocket))
    }

    /// [`Self::route_for`], as an id to look the route up again ([`Self::route`]) without
    /// matching again.
    ///
    /// A trailing slash is not part of what a route matches (`/contacts/` is `/contacts`,
    /// as Rails and most servers read it); the path the upstream gets is left as it is.
    pub fn route_id_for(&self, method: &str, path: &str, websocket: bool) -> RouteId {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        RouteId(
            self.routes
                .iter()
                .position(|r| r.matches(method, path, websocket))
                .unwrap_or(self.routes.len()),
        )
    }

    /// The route of an id from [`Self::route_id_for`] (the fallback past the last one).
    pub fn route(&self, id: RouteId) -> &Route {
        self.routes.get(id.0).unwrap_or(&self.fallback)
    }

    pub fn route_by_name(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// The plan for masking one document of `route` for `role`.
    pub fn plan(&self, route: &Route, role: RoleId, keys: &Arc<KeyRing>) -> MaskPlan {
        MaskPlan::new(
            self.kinds.clone(),
            self.detectors.clone(),
            keys.clone(),
            self.roles[role.0].clone(),
            route.scan,
            route.fields.clone(),
            self.limits,
            false,
        )
    }
}
