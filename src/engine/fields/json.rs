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
use super::FieldTarget;
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

/// The transitions. Every edge of the automaton goes from a rule's position `p` to `p + 1`
/// (the bit after it), so the edges a child takes are a mask of source positions, and the
/// child's state is `(parent & self_loops) | ((parent & taken) << 1)`: a few word
/// operations per key, whatever the number of rules.
#[derive(Default)]
struct Transitions {
    /// Positions that stay active below (`..` steps).
    self_loops: Vec<u64>,
    /// Source positions of the edges taken by each member name. A name's mask includes
    /// the edges any child takes (`*`).
    by_name: rustc_hash::FxHashMap<Box<[u8]>, Vec<u64>>,
    /// For each first byte, the lengths (bit `min(len, 63)`) of the names in `by_name` that
    /// start with it: most keys of a document are no rule's, and are told so without
    /// hashing.
    name_shapes: Vec<u64>,
    /// Source positions of the edges any child takes (`*`).
    any: Vec<u64>,
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
            any: vec![0; words],
            name_shapes: vec![0; 256],
            ..Transitions::default()
        };
        let mut names: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
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
                        Sel::Name(n) => set(names.entry(n).or_insert_with(|| vec![0; words]), from),
                        Sel::Wildcard => set(&mut t.any, from),
                        Sel::Index(_) | Sel::Slice(..) => t.by_index.push((edge, sel.clone())),
                        Sel::Filter(f) => t.filtered.push((edge, *f)),
                    }
                }
            }
        }
        for (name, mask) in &mut names {
            if let Some(&first) = name.as_bytes().first() {
                t.name_shapes[usize::from(first)] |= 1 << name.len().min(63);
            }
            for (m, a) in mask.iter_mut().zip(&t.any) {
                *m |= a;
            }
        }
        t.by_name = names
            .into_iter()
            .map(|(n, m)| (n.as_bytes().into(), m))
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
        if parent.iter().zip(&t.live).all(|(p, l)| p & l == 0) {
            // No position leads anywhere (`..` positions are live too): nothing below can
            // match.
            for ((o, p), s) in out.iter_mut().zip(parent).zip(&t.self_loops) {
                *o = p & s;
            }
            return;
        }
        let taken: &[u64] = match elem {
            Elem::Key(k) if t.may_name(k) => t.by_name.get(k).unwrap_or(&t.any),
            _ => &t.any,
        };
        // out = (parent & self_loops) | ((parent & taken) << 1), the shift carried across
        // words.
        let mut carry = 0;
        for (((o, p), s), m) in out.iter_mut().zip(parent).zip(&t.self_loops).zip(taken) {
            let moved = p & m;
            *o = (p & s) | (moved << 1) | carry;
            carry = moved >> 63;
        }
        if let Elem::Index(_) = elem {
            for ((from, to), sel) in &t.by_index {
                if get(parent, *from as usize) && sel_matches(sel, elem) {
                    set(out, *to as usize);
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

    /// The expression of the first rule that matches exactly here, if any.
    pub fn accepting_expr(&self, state: &[u64]) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| get(state, r.base + r.steps.len()))
            .map(|r| r.expr.as_str())
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
    use crate::vocab::kind::KindId;

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

    /// Does `steps` match `path` exactly? A direct reading of the rule, for checking the
    /// bit-set automaton against.
    fn matches(steps: &[Step], path: &[Elem]) -> bool {
        let Some((step, rest)) = steps.split_first() else {
            return path.is_empty();
        };
        let skips = if step.descendant { path.len() } else { 1 };
        (0..skips.min(path.len())).any(|k| {
            step.sels.iter().any(|sel| sel_matches(sel, path[k])) && matches(rest, &path[k + 1..])
        })
    }

    /// The automaton (shifted bit masks over several words) agrees with the rules read
    /// directly, on every path of up to four elements, with the rules laid out at 40
    /// different offsets so that edges cross the word boundaries at different places.
    #[test]
    fn automaton_agrees_with_the_rules() {
        const ALPHABET: [Elem; 8] = [
            Elem::Key(b"a"),
            Elem::Key(b"b"),
            Elem::Key(b"c"),
            Elem::Key(b"email"),
            Elem::Key(b"data"),
            Elem::Key(b"phone_number"),
            Elem::Index(1),
            Elem::Index(3),
        ];
        let exprs = [
            "$.a.b.email",
            "$..email",
            "$.data[*].phone_number",
            "$..data..a",
            "$.*.b",
            "$['c','a'][1]",
            "$.a[0:2].c",
            "$..b[*]",
            "$.data.data.data.email",
            "$..a..b..c",
            "$.c.*.*.email",
            "$..phone_number",
            "$.b[2].a.b.c",
            "$..c[1:4:2]",
            "$.a.a.a.a",
            "$..data.email",
            "$.b.*",
            "$..a.c.a",
            "$.data[3].b",
            "$.c.c..email",
            "$..*.phone_number",
            "$.a..data[0]",
        ];
        let mut paths: Vec<Vec<Elem>> = vec![vec![]];
        let mut last = paths.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|p| {
                    ALPHABET.iter().map(move |e| {
                        let mut p = p.clone();
                        p.push(*e);
                        p
                    })
                })
                .collect();
            paths.extend(last.iter().cloned());
        }
        for pad in 0..40 {
            // `pad` one-step rules (two bits each) first move every other rule's positions.
            let rules: Vec<(String, FieldTarget)> = std::iter::repeat_n("$.zz", pad)
                .chain(exprs)
                .enumerate()
                .map(|(i, e)| (e.to_string(), target(i as u16)))
                .collect();
            let f = JsonFields::compile(&rules).unwrap();
            assert!(f.words() > 1);
            for path in &paths {
                let want = f
                    .rules
                    .iter()
                    .find(|r| matches(&r.steps, path))
                    .map(|r| r.target);
                assert_eq!(eval(&f, path), want, "pad {pad}, path {path:?}");
            }
        }
    }

    #[test]
    fn rejects_what_a_stream_cannot_know() {
        assert!(JsonFields::compile(&[("$.a[-1]".into(), target(0))]).is_err());
        assert!(JsonFields::compile(&[("$.a[".into(), target(0))]).is_err());
        let f = JsonFields::compile(&[("$.a[?@.type=='phone'].value".into(), target(0))]).unwrap();
        assert!(f.has_filters());
    }
}
