//! Field rules: what a route's rules say about the value at a place (a JSONPath, a CSV
//! column, an HTML selector), compiled once per route. The format maskers look a value's
//! place up here; the detectors are not consulted for a place a rule names.
pub mod json;

use crate::detect::DetectorSet;
use crate::vocab::kind::KindId;
use json::JsonFields;
use std::sync::OnceLock;

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
    /// [`next_generation`](crate::next_generation)): caches that outlive a response key
    /// their entries by it.
    generation: u64,
}

impl Default for FieldRules {
    fn default() -> Self {
        FieldRules {
            json: JsonFields::default(),
            csv_columns: Vec::new(),
            html: Vec::new(),
            html_selectors: OnceLock::new(),
            generation: crate::next_generation(),
        }
    }
}

impl FieldRules {
    /// The field rules of one route, with an identity of their own.
    pub fn new(
        json: JsonFields,
        csv_columns: Vec<(String, FieldTarget)>,
        html: Vec<(String, Option<String>, FieldTarget)>,
    ) -> FieldRules {
        FieldRules {
            json,
            csv_columns,
            html,
            ..FieldRules::default()
        }
    }

    /// This object's identity (see [`Scope`](crate::vocab::plan::Scope)).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

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
