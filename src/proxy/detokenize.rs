//! Tokens sent back by clients, turned back into values only where a rule says so.
//!
//! A route lists the request places where the inbox needs the clear value (a contact
//! search's `q`, a filter's values); a role lists the kinds it may turn back. A token
//! elsewhere (a reply, a note, a custom attribute, an unlisted parameter) reaches the
//! upstream as the token text: written into a message, it is delivered as the token, so
//! an agent cannot have the inbox send a contact's number to themself.
//!
//! A token is a whole word: `x` + token or token + `9` is not a token, so a value glued
//! to text never turns back. Every token found at a place is reported as a [`Turned`]
//! (kind, key id, place, result; never the value) for the audit log, the metrics and the
//! quota, which the proxy checks before anything goes upstream.
use crate::engine::fields::json::{Elem, JsonFields};
use crate::engine::token::{KeyRing, TOKEN_PATTERN};
use crate::engine::vocab::kind::Kinds;
use crate::rules::request::{RequestPlaces, RoleGrants};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use regex::Regex;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Tokens as whole words: no letter, digit or `_` on either side.
fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(&format!(r"\b{TOKEN_PATTERN}\b")).expect("the token pattern compiles")
    })
}

/// Characters written as they are in a query value or form field (the rest is
/// percent-encoded, as `application/x-www-form-urlencoded` reads it).
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What became of one token found at a listed place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnResult {
    /// Turned back into its value.
    Ok,
    /// A valid token of a kind this role may not turn back: left as the token.
    Refused,
    /// Not a token of any key veil holds (forged, altered, an old key): left as it is.
    Invalid,
    /// What the role was shown instead of a value (`•••`, `[redacted:email]`), sent back
    /// in a JSON member: the member is dropped, so the inbox keeps the value it has
    /// rather than store the mask.
    Dropped,
}

impl TurnResult {
    pub fn label(self) -> &'static str {
        match self {
            TurnResult::Ok => "ok",
            TurnResult::Refused => "refused",
            TurnResult::Invalid => "invalid",
            TurnResult::Dropped => "dropped",
        }
    }
}

/// One token found at a listed place. Holds no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turned {
    /// `query:q`, `json:$.payload[*].values[*]`, `form:name`, `segment:6`.
    pub place: String,
    /// The kind the token says (authenticated when `result` is `Ok` or `Refused`).
    pub kind: String,
    pub key_id: String,
    pub result: TurnResult,
}

/// Why a request body could not be read for its places.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the JSON body does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the form body is not UTF-8")]
    FormEncoding,
}

/// Turns tokens back at the places of one route, for one role.
pub struct Detokenizer<'a> {
    keys: &'a KeyRing,
    kinds: &'a Kinds,
    grants: &'a RoleGrants,
    places: &'a RequestPlaces,
    /// Every token met at a place, in order.
    pub turned: Vec<Turned>,
}

impl<'a> Detokenizer<'a> {
    pub fn new(
        keys: &'a KeyRing,
        kinds: &'a Kinds,
        grants: &'a RoleGrants,
        places: &'a RequestPlaces,
    ) -> Detokenizer<'a> {
        Detokenizer {
            keys,
            kinds,
            grants,
            places,
            turned: Vec::new(),
        }
    }

    /// False when nothing this role sends on this route can turn back (the request is
    /// forwarded as it came, its body streamed).
    pub fn is_idle(&self) -> bool {
        self.places.is_empty() || self.grants.detokenizes_nothing()
    }

    /// Whether the body must be read whole to find its places.
    pub fn reads_body(&self) -> bool {
        !self.is_idle() && self.places.reads_body()
    }

    /// Tokens turned back so far.
    pub fn ok_count(&self) -> u32 {
        self.turned
            .iter()
            .filter(|t| t.result == TurnResult::Ok)
            .count() as u32
    }

    /// Replaces the whole-word tokens of `text` that this role may turn back.
    fn text(&mut self, text: &str, place: &dyn Fn() -> String) -> Option<String> {
        if !text.contains("vt_") {
            return None;
        }
        let mut out = String::new();
        let mut last = 0;
        for m in token_re().find_iter(text) {
            let token = m.as_str();
            let mut parts = token[3..].splitn(3, '_');
            let (kind, key_id) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let (result, value) = match self.keys.detokenize(token) {
                None => (TurnResult::Invalid, None),
                Some((kind, value)) => match self.kinds.get(&kind) {
                    Some(id) if self.grants.may_detokenize(id) => (TurnResult::Ok, Some(value)),
                    _ => (TurnResult::Refused, None),
                },
            };
            self.turned.push(Turned {
                place: place(),
                kind: kind.to_owned(),
                key_id: key_id.to_owned(),
                result,
            });
            if let Some(value) = value {
                out.push_str(&text[last..m.start()]);
                out.push_str(&value);
                last = m.end();
            }
        }
        if last == 0 {
            return None;
        }
        out.push_str(&text[last..]);
        Some(out)
    }

    /// The request target with tokens turned back in its listed segments and query
    /// parameters.
    pub fn path_and_query<'t>(&mut self, pq: &'t str) -> Cow<'t, str> {
        if self.is_idle() || !pq.contains("vt") {
            return Cow::Borrowed(pq);
        }
        let (path, query) = match pq.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (pq, None),
        };
        let mut changed = false;
        let mut new_path = String::with_capacity(path.len());
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                new_path.push('/');
            }
            // Segment 1 is the one after the leading `/` (split's index 1).
            if i > 0 && self.places.segments.contains(&i) {
                let decoded = percent_decode_str(seg).decode_utf8_lossy();
                if let Some(v) = self.text(&decoded, &|| format!("segment:{i}")) {
                    new_path.extend(utf8_percent_encode(&v, URL_VALUE));
                    changed = true;
                    continue;
                }
            }
            new_path.push_str(seg);
        }
        let new_query = query.map(|q| {
            let places = self.places;
            match self.pairs(q, &places.query, "query") {
                Some(q) => {
                    changed = true;
                    Cow::Owned(q)
                }
                None => Cow::Borrowed(q),
            }
        });
        if !changed {
            return Cow::Borrowed(pq);
        }
        match new_query {
            Some(q) => Cow::Owned(format!("{new_path}?{q}")),
            None => Cow::Owned(new_path),
        }
    }

    /// `name=value&…` with the listed names' values turned back; `None` when unchanged.
    /// Unlisted pairs keep their bytes.
    fn pairs(&mut self, text: &str, names: &[String], label: &str) -> Option<String> {
        if names.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        for (i, pair) in text.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name);
            if names.contains(&name) {
                let decoded = form_decode(value);
                if let Some(v) = self.text(&decoded, &|| format!("{label}:{name}")) {
                    out.push_str(&pair[..pair.len() - value.len()]);
                    out.extend(utf8_percent_encode(&v, URL_VALUE));
                    changed = true;
                    continue;
                }
            }
            out.push_str(pair);
        }
        changed.then_some(out)
    }

    /// A form body with tokens turned back in its listed fields; `None` when unchanged.
    pub fn form(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, BodyError> {
        if self.is_idle() || self.places.form.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(body).map_err(|_| BodyError::FormEncoding)?;
        let places = self.places;
        Ok(self
            .pairs(text, &places.form, "form")
            .map(String::into_bytes))
    }

    /// A JSON body (or WebSocket message) with tokens turned back at its listed paths;
    /// `None` when unchanged (the bytes then go as they came). Member order is kept.
    pub fn json(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, BodyError> {
        let fields = &self.places.json;
        if self.is_idle() || fields.is_empty() || !contains(body, b"vt") {
            return Ok(None);
        }
        let mut doc: Value = serde_json::from_slice(body)?;
        let mut root = vec![0; fields.words()];
        fields.root(&mut root);
        let mut changed = false;
        self.walk(fields, &mut doc, &root, &mut changed);
        Ok(changed.then(|| serde_json::to_vec(&doc).expect("a JSON value serializes")))
    }

    fn walk(&mut self, fields: &JsonFields, v: &mut Value, state: &[u64], changed: &mut bool) {
        match v {
            Value::String(s) => {
                if let Some(expr) = fields.accepting_expr(state) {
                    if let Some(new) = self.text(s, &|| format!("json:{expr}")) {
                        *s = new;
                        *changed = true;
                    }
                }
            }
            Value::Object(map) => {
                let mut dropped = Vec::new();
                for (k, child) in map.iter_mut() {
                    let next = child_state(fields, state, Elem::Key(k.as_bytes()), child);
                    if JsonFields::is_dead(&next) {
                        continue;
                    }
                    match (&*child, fields.accepting_expr(&next)) {
                        (Value::String(v), Some(expr)) if self.grants.is_placeholder(v) => {
                            self.turned.push(Turned {
                                place: format!("json:{expr}"),
                                kind: "-".into(),
                                key_id: "-".into(),
                                result: TurnResult::Dropped,
                            });
                            dropped.push(k.clone());
                        }
                        _ => self.walk(fields, child, &next, changed),
                    }
                }
                for k in dropped {
                    map.shift_remove(&k);
                    *changed = true;
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    let next = child_state(fields, state, Elem::Index(i), child);
                    if !JsonFields::is_dead(&next) {
                        self.walk(fields, child, &next, changed);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The path state of `child`, filters evaluated on the child itself (moved into the
/// one-element array a filter is evaluated on, and back: no copy).
fn child_state(fields: &JsonFields, parent: &[u64], elem: Elem<'_>, child: &mut Value) -> Vec<u64> {
    let mut out = vec![0; fields.words()];
    let mut pending = Vec::new();
    fields.step(parent, elem, &mut out, Some(&mut pending));
    if !pending.is_empty() {
        let wrapped = Value::Array(vec![std::mem::take(child)]);
        for p in pending {
            if fields.eval_filter(p.filter, &wrapped) {
                fields.pass_filter(&mut out, p.next_bit);
            }
        }
        if let Value::Array(mut one) = wrapped {
            *child = one.pop().unwrap_or_default();
        }
    }
    out
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent-decoding.
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::compile_sources;
    use crate::rules::RuleSet;

    const KEYS: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn rules() -> RuleSet {
        let yaml = r#"
routes:
  - name: search
    match: { path: "/api/v1/accounts/*/contacts/search" }
    detokenize: { query: [q] }
  - name: filter
    match: { path: "/api/v1/accounts/*/contacts/filter" }
    detokenize: { json: ["$.payload[*].values[*]", "$.items[?(@.key=='phone')].value"] }
  - name: form
    match: { path: "/form" }
    detokenize: { form: [phone] }
  - name: by-id
    match: { path: "/contacts/*/x" }
    detokenize: { segments: [2] }
  - name: rest
    match: { path: "/**" }
roles:
  agent:
    actions: { "*": token, email: redact }
    detokenize: { kinds: [phone] }
  auditor:
    actions: { "*": token }
default_role: agent
"#;
        let src = crate::rules::diagnostic::Source {
            path: "rules.yaml".into(),
            text: yaml.into(),
        };
        let (set, diags) = compile_sources(&[src], Vec::new()).unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        set
    }

    fn token(keys: &KeyRing, kind: &str, value: &str) -> String {
        let mut t = String::new();
        keys.tokenize(kind, value, &mut t);
        t
    }

    fn run<R>(role: &str, route: &str, f: impl FnOnce(&mut Detokenizer) -> R) -> (R, Vec<Turned>) {
        let set = rules();
        let keys = KeyRing::parse(KEYS).unwrap();
        let role = set.role(role).unwrap();
        let places = &set.route_by_name(route).unwrap().detokenize;
        let mut d = Detokenizer::new(&keys, &set.kinds, set.role_grants(role), places);
        let r = f(&mut d);
        (r, d.turned)
    }

    #[test]
    fn only_listed_query_parameters_turn_back() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        let pq = format!("/api/v1/accounts/1/contacts/search?page=1&q={t}&other={t}");
        let (out, turned) = run("agent", "search", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(
            out,
            format!("/api/v1/accounts/1/contacts/search?page=1&q=%2B5511987654321&other={t}")
        );
        assert_eq!(turned.len(), 1);
        assert_eq!(turned[0].place, "query:q");
        assert_eq!(turned[0].result, TurnResult::Ok);
        // Percent-encoded token text is read as the inbox reads it.
        let enc = format!("/api/v1/accounts/1/contacts/search?q=vt%5F{}", &t[3..]);
        let (out, _) = run("agent", "search", |d| d.path_and_query(&enc).into_owned());
        assert_eq!(out, "/api/v1/accounts/1/contacts/search?q=%2B5511987654321");
        let (out, turned) = run("agent", "rest", |d| d.path_and_query(&enc).into_owned());
        assert_eq!(out, enc, "route `rest` lists no place");
        assert!(turned.is_empty());
    }

    #[test]
    fn a_role_without_the_kind_keeps_the_token() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        let e = token(&keys, "email", "maria@example.com");
        let pq = format!("/api/v1/accounts/1/contacts/search?q={t}");
        let (out, turned) = run("auditor", "search", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(out, pq);
        assert!(turned.is_empty(), "idle: nothing looked at");
        let pq = format!("/api/v1/accounts/1/contacts/search?q={e}");
        let (out, turned) = run("agent", "search", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(out, pq);
        assert_eq!(turned[0].result, TurnResult::Refused);
        assert_eq!(turned[0].kind, "email");
    }

    #[test]
    fn glued_and_forged_tokens_stay_as_they_are() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        for q in [
            format!("x{t}"),
            format!("{t}9"),
            format!("{t}_"),
            format!("é{t}"),
        ] {
            let pq = format!(
                "/api/v1/accounts/1/contacts/search?q={}",
                utf8_percent_encode(&q, URL_VALUE)
            );
            let (out, turned) = run("agent", "search", |d| d.path_and_query(&pq).into_owned());
            assert_eq!(out, pq, "{q}");
            assert!(turned.is_empty(), "{q}");
        }
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'a' { b'b' } else { b'a' };
        let forged = String::from_utf8(forged).unwrap();
        let pq = format!("/api/v1/accounts/1/contacts/search?q={forged}");
        let (out, turned) = run("agent", "search", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(out, pq);
        assert_eq!(turned[0].result, TurnResult::Invalid);
        // A token among words at a listed place is turned back.
        let pq = format!("/api/v1/accounts/1/contacts/search?q=maria+{t}");
        let (out, _) = run("agent", "search", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(
            out,
            "/api/v1/accounts/1/contacts/search?q=maria%20%2B5511987654321"
        );
    }

    #[test]
    fn json_paths_and_filters_pick_the_values() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        let body = format!(
            r#"{{"payload":[{{"attribute_key":"phone_number","values":["{t}"],"note":"{t}"}}],"items":[{{"key":"phone","value":"{t}"}},{{"key":"memo","value":"{t}"}}],"content":"{t}"}}"#
        );
        let (out, turned) = run("agent", "filter", |d| d.json(body.as_bytes()).unwrap());
        let out = String::from_utf8(out.expect("changed")).unwrap();
        assert_eq!(
            out,
            format!(
                r#"{{"payload":[{{"attribute_key":"phone_number","values":["+5511987654321"],"note":"{t}"}}],"items":[{{"key":"phone","value":"+5511987654321"}},{{"key":"memo","value":"{t}"}}],"content":"{t}"}}"#
            )
        );
        let places: Vec<&str> = turned.iter().map(|t| t.place.as_str()).collect();
        assert_eq!(
            places,
            [
                "json:$.payload[*].values[*]",
                "json:$.items[?(@.key=='phone')].value"
            ]
        );
        // Unchanged bodies are not rewritten; bad JSON is an error.
        let (out, _) = run("agent", "filter", |d| {
            d.json(br#"{"payload": []}"#).unwrap()
        });
        assert!(out.is_none());
        let (out, _) = run("agent", "filter", |d| d.json(b"{\"vt\": ").map(|_| ()));
        assert!(out.is_err());
    }

    #[test]
    fn a_masked_value_sent_back_is_dropped_so_the_inbox_keeps_its_own() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        let yaml_role = |d: &mut Detokenizer| {
            d.json(
                format!(r#"{{"payload":[{{"values":["{t}"]}}],"items":[{{"key":"phone","value":"[redacted:email]"}}],"content":"•••"}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        let (out, turned) = run("agent", "filter", yaml_role);
        let out = String::from_utf8(out.unwrap()).unwrap();
        // The redaction at a listed place is dropped; the same text elsewhere is not.
        assert_eq!(
            out,
            r#"{"payload":[{"values":["+5511987654321"]}],"items":[{"key":"phone"}],"content":"•••"}"#
        );
        assert_eq!(
            turned
                .iter()
                .filter(|t| t.result == TurnResult::Dropped)
                .count(),
            1
        );
    }

    #[test]
    fn forms_and_segments() {
        let keys = KeyRing::parse(KEYS).unwrap();
        let t = token(&keys, "phone", "+5511987654321");
        let body = format!("name=Maria&phone={t}&content={t}");
        let (out, _) = run("agent", "form", |d| d.form(body.as_bytes()).unwrap());
        assert_eq!(
            String::from_utf8(out.unwrap()).unwrap(),
            format!("name=Maria&phone=%2B5511987654321&content={t}")
        );
        let pq = format!("/contacts/{t}/x?q={t}");
        let (out, turned) = run("agent", "by-id", |d| d.path_and_query(&pq).into_owned());
        assert_eq!(out, format!("/contacts/%2B5511987654321/x?q={t}"));
        assert_eq!(turned[0].place, "segment:2");
    }
}
