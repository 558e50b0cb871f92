//! The request side of the rules: where a route's requests may carry tokens that turn
//! back into clear values, and which kinds each role may turn back, how often.
//!
//! A token is turned back only where both say so: a place the route lists (a query
//! parameter, a JSON body path, a form field, a path segment) and a kind the role lists.
//! Everywhere else a token reaches the upstream as the token text, so an agent cannot
//! have the inbox send a contact's number anywhere by writing its token in a reply.
use crate::fields::json::JsonFields;
use crate::vocab::kind::KindId;

/// Where tokens turn back into values in the requests of one route.
#[derive(Debug, Default)]
pub struct RequestPlaces {
    /// Query parameter names, as decoded (`q`, `payload[][values][]`).
    pub query: Vec<String>,
    /// Form field names (`application/x-www-form-urlencoded` bodies), as decoded.
    pub form: Vec<String>,
    /// JSON body paths; a match's target is unused ([`FieldTarget::Ignore`]).
    ///
    /// [`FieldTarget::Ignore`]: crate::vocab::plan::FieldTarget::Ignore
    pub json: JsonFields,
    /// Path segments by position, 1 for the first.
    pub segments: Vec<usize>,
}

impl RequestPlaces {
    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
            && self.form.is_empty()
            && self.json.is_empty()
            && self.segments.is_empty()
    }

    /// Whether a body of this kind may hold a place (so is worth reading whole).
    pub fn reads_body(&self) -> bool {
        !self.form.is_empty() || !self.json.is_empty()
    }
}

/// What a caller over its collection budget gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// 429 on every contact route until the window ends.
    Block,
    /// Served, with every kind redacted (the mask-all policy).
    MaskAll,
}

/// A role's collection budget: distinct contacts per caller per hour on contact routes,
/// told apart by their tokens (never a clear value).
#[derive(Debug, Clone)]
pub struct Collection {
    pub per_hour: u32,
    /// Token prefixes that name a contact (`vt_phone_`, `vt_email_`).
    pub prefixes: Vec<String>,
    pub over: OverBudget,
    /// Every kind redacted: what `mask_all` serves.
    pub mask_all: std::sync::Arc<crate::vocab::policy::RolePolicy>,
}

/// What one role may do on the request side.
#[derive(Debug, Clone, Default)]
pub struct RoleGrants {
    /// By [`KindId`]: tokens of this kind may turn back into values.
    detokenize: Vec<bool>,
    /// Tokens turned back per principal per hour (`None`: no quota).
    pub detokenize_per_hour: Option<u32>,
    pub collection: Option<Collection>,
    /// May download CSV exports.
    pub exports: bool,
    /// What this role is shown instead of a value (its mask characters, its redaction
    /// texts, `vh_` hashes): sent back at a listed place, such a value is dropped from
    /// the request, so the inbox keeps the one it has.
    mask_chars: Vec<char>,
    redactions: Vec<Box<str>>,
}

impl RoleGrants {
    pub fn new(detokenize: Vec<bool>, detokenize_per_hour: Option<u32>) -> RoleGrants {
        RoleGrants {
            detokenize,
            detokenize_per_hour,
            collection: None,
            exports: true,
            mask_chars: Vec::new(),
            redactions: Vec::new(),
        }
    }

    /// Learns what `policy` shows instead of values (see [`Self::is_placeholder`]).
    pub fn learn_placeholders(&mut self, policy: &crate::vocab::policy::RolePolicy, kinds: usize) {
        use crate::vocab::action::Action;
        for i in 0..kinds {
            match policy.action(KindId(i as u16)) {
                Action::Mask { ch, .. } if !self.mask_chars.contains(ch) => {
                    self.mask_chars.push(*ch)
                }
                Action::Redact { text } if !self.redactions.contains(text) => {
                    self.redactions.push(text.clone())
                }
                _ => {}
            }
        }
    }

    /// Is `value` what this role was shown instead of a value: masked, redacted, hashed?
    pub fn is_placeholder(&self, value: &str) -> bool {
        value.chars().any(|c| self.mask_chars.contains(&c))
            || self.redactions.iter().any(|r| value.contains(&**r))
            || value.starts_with("vh_")
    }

    pub fn may_detokenize(&self, kind: KindId) -> bool {
        self.detokenize
            .get(kind.0 as usize)
            .copied()
            .unwrap_or(false)
    }

    /// True when this role turns no token back, wherever it is.
    pub fn detokenizes_nothing(&self) -> bool {
        !self.detokenize.iter().any(|d| *d)
    }
}

/// Field names that hold free text somebody typed (messages, notes, attributes): a token
/// turned back there is a contact's value sent wherever the text goes. `veil check` warns
/// when a place names one.
pub const FREE_TEXT_NAMES: &[&str] = &[
    "content",
    "message",
    "messages",
    "body",
    "text",
    "note",
    "notes",
    "description",
    "caption",
    "subject",
    "title",
    "comment",
    "reply",
    "template_params",
    "processed_params",
    "params",
    "custom_attributes",
    "additional_attributes",
    "content_attributes",
    "echo_id",
];

/// Whether a query/form name or the last name of a JSONPath is free text.
pub fn names_free_text(place: &str) -> bool {
    place
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .any(|w| FREE_TEXT_NAMES.iter().any(|f| f.eq_ignore_ascii_case(w)))
        || place.ends_with("..*")
        || place.ends_with("[*]") && place.starts_with("$..")
}
