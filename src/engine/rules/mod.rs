//! The rule language: a folder of YAML files, merged, validated and compiled once into an
//! immutable [`RuleSet`].
//!
//! Two stages, as in ripgrep's low/high args: [`raw`] is what the files say (serde types
//! that reject unknown fields), [`compile`] is what they mean (interned kinds, compiled
//! detectors, JSONPath matchers, per-role action tables). Every problem is reported with
//! file, line, column and reason; nothing is checked at request time.
pub mod compile;
pub mod diagnostic;
pub mod embedded;
pub mod raw;
pub mod request;
pub mod ruleset;

pub use compile::load_dir;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use ruleset::{OnUnknown, RoleId, Route, RouteId, RuleSet};
