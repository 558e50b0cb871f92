//! The rule files as written: plain serde types, `deny_unknown_fields`, no meaning yet.
//! [`super::compile`] gives them meaning and reports what is wrong.
use serde::Deserialize;
use std::collections::BTreeMap;

/// One rule file. Every part is optional: a pack may bring only detectors, or only roles.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub detectors: BTreeMap<String, DetectorRaw>,
    #[serde(default)]
    pub routes: Vec<RouteRaw>,
    #[serde(default)]
    pub roles: BTreeMap<String, RoleRaw>,
    #[serde(default)]
    pub default_role: Option<String>,
    #[serde(default)]
    pub limits: Option<LimitsRaw>,
}

/// A detector: exactly one of `builtin`, `regex`, `words`, `words_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorRaw {
    pub builtin: Option<String>,
    pub regex: Option<String>,
    pub words: Option<Vec<String>>,
    /// A word list file, one word per line, relative to the rule file.
    pub words_file: Option<String>,
    /// The kind of what it finds; defaults to the builtin's name, or the detector's name.
    pub kind: Option<String>,
    /// Phone regions (ISO 3166 alpha-2), for `builtin: phone`.
    pub regions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRaw {
    pub name: String,
    #[serde(rename = "match", default)]
    pub matcher: MatchRaw,
    /// Detectors to run over values no field rule names; default: all of them.
    pub scan: Option<Vec<String>>,
    /// JSONPath → kind (or `ignore`). Order matters: the first rule that matches wins.
    #[serde(default)]
    pub json: OrderedMap,
    /// CSV column header → kind (or `ignore`).
    #[serde(default)]
    pub csv: OrderedMap,
    /// CSS selector, optionally `selector @attr`, → kind (or `ignore`).
    #[serde(default)]
    pub html: OrderedMap,
    /// What to do with a content type that has no masker: `scan` (as text) or `block`.
    pub on_unknown: Option<String>,
    /// Skip masking entirely (static assets). Must be spelled out.
    #[serde(default)]
    pub passthrough: bool,
    /// The request places where a token turns back into its value (for roles that may).
    /// Everywhere else in a request a token stays the token text.
    pub detokenize: Option<DetokenizeRaw>,
    /// Responses list contacts: they count against each caller's collection budget, and a
    /// caller over it is refused here.
    #[serde(default)]
    pub contacts: bool,
    /// Only these roles may use the route; any other gets 403.
    pub roles: Option<Vec<String>>,
}

/// Request places of a route where tokens turn back into values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRaw {
    /// Query parameters by name (as decoded: `payload[][values][]`).
    #[serde(default)]
    pub query: Vec<String>,
    /// JSON body values by JSONPath.
    #[serde(default)]
    pub json: Vec<String>,
    /// `application/x-www-form-urlencoded` body fields by name.
    #[serde(default)]
    pub form: Vec<String>,
    /// Path segments by position, 1 for the first (`/api` in `/api/v1/...`).
    #[serde(default)]
    pub segments: Vec<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRaw {
    /// Path glob: `*` one segment, `**` any number of segments. Default `/**`.
    pub path: Option<String>,
    /// HTTP methods; default any.
    pub methods: Option<Vec<String>>,
    /// Only WebSocket upgrades (`true`) or only plain requests (`false`); default either.
    pub websocket: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRaw {
    /// Kind → action; `"*"` for every kind not named.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionRaw>,
    /// Kinds whose tokens this role may reveal (`POST /_veil/reveal`).
    #[serde(default)]
    pub reveal: Vec<String>,
    /// Kinds whose tokens this role's requests may turn back into values, at the places
    /// its routes list, and how many per principal.
    pub detokenize: Option<RoleDetokenizeRaw>,
    /// How many distinct contacts one caller may see per hour on `contacts: true` routes.
    pub collection: Option<CollectionRaw>,
    /// May this role download CSV exports? Default yes.
    pub exports: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionRaw {
    pub per_hour: u32,
    /// The kinds whose tokens tell contacts apart; default `[phone, email]`.
    pub kinds: Option<Vec<String>>,
    /// Over the budget: `block` (429, the default) or `mask_all` (served with every kind
    /// redacted).
    pub over: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDetokenizeRaw {
    pub kinds: Vec<String>,
    /// Tokens turned back per principal per hour; over it a request gets 429.
    pub per_hour: Option<u32>,
}

/// `clear | redact | mask | hash | token`, or a map with options:
/// `{ mask: { keep_last: 4, keep_first: 0, char: "•", keep_domain: false } }`,
/// `{ redact: "[hidden]" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ActionRaw {
    Name(String),
    Mask { mask: MaskRaw },
    Redact { redact: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskRaw {
    pub keep_first: Option<u8>,
    pub keep_last: Option<u8>,
    #[serde(rename = "char")]
    pub ch: Option<char>,
    /// An e-mail address keeps its domain (the counts apply to the local part).
    pub keep_domain: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsRaw {
    pub max_value: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_subtree: Option<usize>,
    pub max_memory: Option<usize>,
}

/// A YAML mapping of strings that keeps the order it was written in (field rules: the
/// first that matches wins, so order is meaning). Duplicate keys are kept and reported by
/// the compiler.
#[derive(Debug, Default)]
pub struct OrderedMap(pub Vec<(String, String)>);

impl OrderedMap {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of strings to kind names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedMap, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = map.next_entry::<String, String>()? {
                    v.push((k, val));
                }
                Ok(OrderedMap(v))
            }
        }
        d.deserialize_map(Visitor)
    }
}
