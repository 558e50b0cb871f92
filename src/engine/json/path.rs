//! JSONPath field rules, compiled to a matcher over the streaming path stack.
//!
//! Expressions are parsed with jsonpath-rust's parser and turned into steps. The streaming
//! JSON masker never evaluates an expression against a document; instead each open
//! container carries a *state*: the set of `(rule, step)` positions that the path so far
//! has reached, as a bit set. Entering a member or an element computes the child's state
//! from the parent's in one pass over the active positions, so a value's rule is known
//! when its first byte arrives, in time independent of the document.
//!
//! Supported: `$`, `.key`, `['key']`, `['a','b']`, `[*]`, `.*`, `[n]`, `[start:end]` (non-
//! negative), `..key`, `..*`, and filters (`[?(@.type=='phone')]`), which need lookahead:
//! the element a filter tests is buffered (bounded) and the filter evaluated on it by
//! jsonpath-rust.
use super::super::plan::FieldTarget;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;

/// One selector of a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Sel {
    Name(Box<str>),
    Wildcard,
    Index(usize),
    /// `[start:end:step]` over non-negative indices (`end` open when `None`).
    Slice(usize, Option<usize>, usize),
    /// A filter: an index into [`JsonFields`]' filter queries, each `$[?…]`, which
    /// jsonpath-rust evaluates on `[element]`.
    Filter(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `..`: the selectors may match at any depth below.
    pub descendant: bool,
    pub sels: Vec<Sel>,
}

/// A path element of the document: a member name or an array index.
#[derive(Clone, Copy, Debug)]
pub enum Elem<'a> {
    /// A member name as it is written in the document (escapes decoded), UTF-8 bytes.
    Key(&'a [u8]),
    Index(usize),
}

/// Why an expression was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("invalid JSONPath {expr:?}: {reason}")]
    Parse { expr: String, reason: String },
    #[error("unsupported JSONPath {expr:?}: {reason}")]
    Unsupported { expr: String, reason: String },
}

#[derive(Debug)]
struct Rule {
    expr: String,
    steps: Vec<Step>,
    target: FieldTarget,
    /// Bit index of position 0 of this rule.
    base: usize,
}

/// The compiled JSON field rules of one route.
#[derive(Default)]
pub struct JsonFields {
    rules: Vec<Rule>,
    words: usize,
    filters: Vec<JpQuery>,
    /// The transitions, indexed so that [`JsonFields::step`] costs one lookup per key
    /// instead of a walk over every rule.
    table: Transitions,
}

/// A `(from bit, to bit)` edge of the path automaton.
type Edge = (u32, u32);

#[derive(Default)]
struct Transitions {
    /// Positions that stay active below (`..` steps).
    self_loops: Vec<u64>,
    /// Edges taken by member names.
    by_name: rustc_hash::FxHashMap<Box<[u8]>, Vec<Edge>>,
    /// For each first byte, the lengths (bit `min(len, 63)`) of the names in `by_name` that
    /// start with it: most keys of a document are no rule's, and are told so without
    /// hashing.
    name_shapes: Vec<u64>,
    /// Edges taken by any child (`*`).
    any: Vec<Edge>,
    /// Edges taken by array indices (`[n]`, `[a:b]`), with their selector.
    by_index: Vec<(Edge, Sel)>,
    /// Edges that need a filter evaluated: (edge, filter index).
    filtered: Vec<(Edge, usize)>,
    /// Positions that have any outgoing edge or self loop (a state without them is dead).
    live: Vec<u64>,
    /// Accepting positions (the end of a rule): most states hold none, and then no rule
    /// needs to be looked at.
    accept: Vec<u64>,
}

impl Transitions {
    /// False when no rule names a member `key` (true does not mean one does).
    fn may_name(&self, key: &[u8]) -> bool {
        match key.first() {
            Some(&first) => self.name_shapes[usize::from(first)] & (1 << key.len().min(63)) != 0,
            None => self.by_name.contains_key(key),
        }
    }

    fn build(rules: &[Rule], words: usize) -> Transitions {
        let mut t = Transitions {
            self_loops: vec![0; words],
            live: vec![0; words],
            accept: vec![0; words],
            name_shapes: vec![0; 256],
            ..Transitions::default()
        };
        let mut names: std::collections::BTreeMap<&str, Vec<Edge>> = Default::default();
        for r in rules {
            set(&mut t.accept, r.base + r.steps.len());
            for (p, step) in r.steps.iter().enumerate() {
                let from = r.base + p;
                let edge = (from as u32, (from + 1) as u32);
                set(&mut t.live, from);
                if step.descendant {
                    set(&mut t.self_loops, from);
                }
                for sel in &step.sels {
                    match sel {
                        Sel::Name(n) => names.entry(n).or_default().push(edge),
                        Sel::Wildcard => t.any.push(edge),
                        Sel::Index(_) | Sel::Slice(..) => t.by_index.push((edge, sel.clone())),
                        Sel::Filter(f) => t.filtered.push((edge, *f)),
                    }
                }
            }
        }
        for name in names.keys() {
            if let Some(&first) = name.as_bytes().first() {
                t.name_shapes[usize::from(first)] |= 1 << name.len().min(63);
            }
        }
        t.by_name = names
            .into_iter()
            .map(|(n, e)| (n.as_bytes().into(), e))
            .collect();
        t
    }
}

impl std::fmt::Debug for JsonFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| &r.expr))
            .finish()
    }
}

/// A filter that must be evaluated before an element's state is known.
#[derive(Debug, Clone, Copy)]
pub struct PendingFilter {
    /// Bit index of the position the filter leads to when it passes.
    pub next_bit: usize,
    /// The filter, for [`JsonFields::eval_filter`].
    pub filter: usize,
}

impl JsonFields {
    pub fn compile(exprs: &[(String, FieldTarget)]) -> Result<JsonFields, PathError> {
        let mut rules = Vec::new();
        let mut bits = 0;
        let mut filters = Vec::new();
        for (expr, target) in exprs {
            let steps = parse(expr, &mut filters)?;
            let len = steps.len();
            rules.push(Rule {
                expr: expr.clone(),
                steps,
                target: *target,
                base: bits,
            });
            bits += len + 1;
        }
        let words = bits.div_ceil(64).max(1);
        Ok(JsonFields {
            table: Transitions::build(&rules, words),
            rules,
            words,
            filters,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn has_filters(&self) -> bool {
        !self.filters.is_empty()
    }

    /// Whether filter `filter` selects the element of `wrapped`, a one-element array
    /// `[element]` (evaluated by jsonpath-rust).
    pub fn eval_filter(&self, filter: usize, wrapped: &serde_json::Value) -> bool {
        js_path_process(&self.filters[filter], wrapped).is_ok_and(|v| !v.is_empty())
    }

    pub fn exprs(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.expr.as_str())
    }

    /// Words (u64) in one state.
    pub fn words(&self) -> usize {
        self.words
    }

    /// The state of the document root.
    pub fn root(&self, out: &mut [u64]) {
        out.fill(0);
        for r in &self.rules {
            set(out, r.base);
        }
    }

    /// The state of child `elem` of a container whose state is `parent`. Filters are not
    /// decided here: they are reported through `pending` for the caller to evaluate.
    pub fn step(
        &self,
        parent: &[u64],
        elem: Elem<'_>,
        out: &mut [u64],
        pending: Option<&mut Vec<PendingFilter>>,
    ) {
        let t = &self.table;
        let mut live = false;
        for ((o, p), (l, s)) in out
            .iter_mut()
            .zip(parent)
            .zip(t.live.iter().zip(&t.self_loops))
        {
            *o = p & s;
            live |= p & l != 0;
        }
        if !live {
            return;
        }
        let take = |edges: &[Edge], out: &mut [u64]| {
            for &(from, to) in edges {
                if get(parent, from as usize) {
                    set(out, to as usize);
                }
            }
        };
        take(&t.any, out);
        match elem {
            Elem::Key(k) => {
                if t.may_name(k) {
                    if let Some(edges) = t.by_name.get(k) {
                        take(edges, out);
                    }
                }
            }
            Elem::Index(_) => {
                for ((from, to), sel) in &t.by_index {
                    if get(parent, *from as usize) && sel_matches(sel, elem) {
                        set(out, *to as usize);
                    }
                }
            }
        }
        if let Some(pending) = pending {
            for ((from, to), f) in &t.filtered {
                if get(parent, *from as usize) {
                    pending.push(PendingFilter {
                        next_bit: *to as usize,
                        filter: *f,
                    });
                }
            }
        }
    }

    /// Marks a passed filter in a child state.
    pub fn pass_filter(&self, state: &mut [u64], next_bit: usize) {
        set(state, next_bit);
    }

    /// The target of the first rule that matches exactly here, if any.
    pub fn accepting(&self, state: &[u64]) -> Option<FieldTarget> {
        if state
            .iter()
            .zip(&self.table.accept)
            .all(|(s, a)| s & a == 0)
        {
            return None;
        }
        self.rules
            .iter()
            .find(|r| get(state, r.base + r.steps.len()))
            .map(|r| r.target)
    }

    /// True when no rule can match here or below.
    pub fn is_dead(state: &[u64]) -> bool {
        state.iter().all(|w| *w == 0)
    }
}

fn set(state: &mut [u64], bit: usize) {
    state[bit / 64] |= 1 << (bit % 64);
}

fn get(state: &[u64], bit: usize) -> bool {
    state[bit / 64] & (1 << (bit % 64)) != 0
}

fn sel_matches(sel: &Sel, elem: Elem<'_>) -> bool {
    match (sel, elem) {
        (Sel::Wildcard, _) => true,
        (Sel::Name(n), Elem::Key(k)) => n.as_bytes() == k,
        (Sel::Index(i), Elem::Index(j)) => *i == j,
        (Sel::Slice(start, end, step), Elem::Index(j)) => {
            j >= *start && end.is_none_or(|e| j < e) && (j - start) % step == 0
        }
        _ => false,
    }
}

fn parse(expr: &str, filters: &mut Vec<JpQuery>) -> Result<Vec<Step>, PathError> {
    let q = parse_json_path(expr).map_err(|e| PathError::Parse {
        expr: expr.to_owned(),
        reason: e.to_string(),
    })?;
    let unsupported = |reason: &str| PathError::Unsupported {
        expr: expr.to_owned(),
        reason: reason.to_owned(),
    };
    let mut steps = Vec::new();
    for seg in &q.segments {
        let (descendant, inner) = match seg {
            Segment::Descendant(inner) => (true, inner.as_ref()),
            other => (false, other),
        };
        let selectors: Vec<&Selector> = match inner {
            Segment::Selector(s) => vec![s],
            Segment::Selectors(v) => v.iter().collect(),
            Segment::Descendant(_) => return Err(unsupported("nested descendant segment")),
        };
        let mut sels = Vec::new();
        for s in selectors {
            sels.push(match s {
                Selector::Name(n) => Sel::Name(unquote(n).into()),
                Selector::Wildcard => Sel::Wildcard,
                Selector::Index(i) if *i >= 0 => Sel::Index(*i as usize),
                Selector::Index(_) => {
                    return Err(unsupported(
                        "negative indices need the array length, which a stream does not know yet",
                    ))
                }
                Selector::Slice(start, end, step) => {
                    let start = start.unwrap_or(0);
                    let step = step.unwrap_or(1);
                    if start < 0 || end.is_some_and(|e| e < 0) || step <= 0 {
                        return Err(unsupported(
                            "slices with negative bounds or steps need the array length",
                        ));
                    }
                    Sel::Slice(start as usize, end.map(|e| e as usize), step as usize)
                }
                Selector::Filter(_) => {
                    filters.push(JpQuery::new(vec![Segment::Selector(s.clone())]));
                    Sel::Filter(filters.len() - 1)
                }
            });
        }
        steps.push(Step { descendant, sels });
    }
    Ok(steps)
}

/// jsonpath-rust keeps the quotes of bracketed names (`['a b']`); strip them.
fn unquote(name: &str) -> String {
    let b = name.as_bytes();
    if b.len() >= 2 && (b[0] == b'\'' || b[0] == b'"') && b[b.len() - 1] == b[0] {
        name[1..name.len() - 1].to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kind::KindId;

    fn target(i: u16) -> FieldTarget {
        FieldTarget::Kind(KindId(i))
    }

    /// Walks `path` from the root and returns the accepting target at its end.
    fn eval(fields: &JsonFields, path: &[Elem]) -> Option<FieldTarget> {
        let w = fields.words();
        let mut state = vec![0u64; w];
        fields.root(&mut state);
        for e in path {
            let mut next = vec![0u64; w];
            fields.step(&state, *e, &mut next, None);
            state = next;
        }
        fields.accepting(&state)
    }

    #[test]
    fn child_wildcard_index_descendant() {
        let f = JsonFields::compile(&[
            ("$.payload[*].phone_number".into(), target(0)),
            ("$..email".into(), target(1)),
            ("$['a b'][2]".into(), target(2)),
            ("$.x.*".into(), target(3)),
            ("$.s[1:3]".into(), target(4)),
        ])
        .unwrap();
        use Elem::*;
        assert_eq!(
            eval(&f, &[Key(b"payload"), Index(3), Key(b"phone_number")]),
            Some(target(0))
        );
        assert_eq!(eval(&f, &[Key(b"payload"), Key(b"phone_number")]), None);
        assert_eq!(eval(&f, &[Key(b"email")]), Some(target(1)));
        assert_eq!(
            eval(&f, &[Key(b"a"), Index(0), Key(b"b"), Key(b"email")]),
            Some(target(1))
        );
        assert_eq!(eval(&f, &[Key(b"a b"), Index(2)]), Some(target(2)));
        assert_eq!(eval(&f, &[Key(b"a b"), Index(1)]), None);
        assert_eq!(eval(&f, &[Key(b"x"), Key(b"anything")]), Some(target(3)));
        assert_eq!(eval(&f, &[Key(b"s"), Index(2)]), Some(target(4)));
        assert_eq!(eval(&f, &[Key(b"s"), Index(3)]), None);
    }

    #[test]
    fn first_rule_wins_and_root_matches() {
        let f = JsonFields::compile(&[
            ("$..source_id".into(), FieldTarget::Ignore),
            ("$.contact_inboxes[*].source_id".into(), target(1)),
        ])
        .unwrap();
        assert_eq!(
            eval(
                &f,
                &[
                    Elem::Key(b"contact_inboxes"),
                    Elem::Index(0),
                    Elem::Key(b"source_id")
                ]
            ),
            Some(FieldTarget::Ignore)
        );
        let root = JsonFields::compile(&[("$".into(), target(7))]).unwrap();
        assert_eq!(eval(&root, &[]), Some(target(7)));
    }

    #[test]
    fn rejects_what_a_stream_cannot_know() {
        assert!(JsonFields::compile(&[("$.a[-1]".into(), target(0))]).is_err());
        assert!(JsonFields::compile(&[("$.a[".into(), target(0))]).is_err());
        let f = JsonFields::compile(&[("$.a[?@.type=='phone'].value".into(), target(0))]).unwrap();
        assert!(f.has_filters());
    }
}
