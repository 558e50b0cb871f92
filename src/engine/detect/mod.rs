//! Detectors: find PII values in text.
//!
//! All built-in detectors share one compiled regex (an alternation of candidate shapes:
//! JIDs, `wamid.` ids, e-mail addresses, IBANs, number runs). A regex hit is only a
//! *candidate*; validators decide (libphonenumber rules, CPF/CNPJ check digits, Luhn and
//! issuer prefixes, IBAN mod-97), because an agent whose order numbers get masked stops
//! trusting the tool. Custom detectors add regexes and word lists.
//!
//! Context decides where the digits alone cannot: the label before a number (`context`),
//! a card's or an IBAN's layout around digit groups. Fullwidth digits and invisible
//! characters are folded before classification (`fold_obfuscated`). docs/detection.md says
//! what each detector takes and leaves, with its figures on public test vectors.
//!
//! The fast path: most strings of an inbox hold no PII. [`Detectors::scan`] first asks a
//! prefilter (fewer than seven digits in a run, no `@`, no `wamid.`, no fullwidth digit or
//! invisible character, no alphanumeric CNPJ's `/01DE-35`) and returns at once when it says
//! no, without running the regex.
pub mod checks;
pub mod context;
pub mod national;
pub mod numeric;

use crate::vocab::kind::KindId;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use numeric::{NumericClassifier, NumericKind, NumericKinds, NumericMatch};
use regex::Regex;

/// Index of a detector in its rule set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DetectorId(pub u8);

/// A set of detectors (a route's scan list), as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DetectorSet(u64);

impl DetectorSet {
    pub const MAX: usize = 64;

    pub fn all(count: usize) -> Self {
        if count >= 64 {
            DetectorSet(u64::MAX)
        } else {
            DetectorSet((1u64 << count) - 1)
        }
    }
    pub fn empty() -> Self {
        DetectorSet(0)
    }
    pub fn insert(&mut self, id: DetectorId) {
        self.0 |= 1 << id.0;
    }
    pub fn remove(&mut self, id: DetectorId) {
        self.0 &= !(1 << id.0);
    }
    pub fn contains(self, id: DetectorId) -> bool {
        self.0 & (1 << id.0) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The set as a bit mask (bit `i`: detector `i`).
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// Where a finding came from, for metrics ("matches by rule").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Detector(DetectorId),
    /// A field rule (index into the route's field rules).
    Field(u16),
}

/// One value found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte range in the scanned text.
    pub start: usize,
    pub end: usize,
    pub kind: KindId,
    pub source: Source,
    /// Canonical form used by `hash` and `token` (E.164 for phones, lowercase e-mail);
    /// `None` when the raw text is already canonical.
    pub normalized: Option<String>,
}

/// A built-in detector family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Phone numbers, WhatsApp ids and JIDs, `tel:` and `wa.me/` links, in these regions.
    Phone {
        regions: Vec<String>,
    },
    Email,
    Cpf,
    Cnpj,
    Card,
    Iban,
    /// WhatsApp message ids (`wamid.…`): they base64-encode the customer's number.
    Wamid,
    /// National identity and tax numbers of the shipped regions (see [`national`]).
    NationalId,
}

impl Builtin {
    /// Every built-in's name, as rule files write it (`builtin: phone`).
    pub const NAMES: [&'static str; 8] = [
        "phone",
        "email",
        "cpf",
        "cnpj",
        "card",
        "iban",
        "wamid",
        "nationalid",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Builtin::Phone { .. } => "phone",
            Builtin::Email => "email",
            Builtin::Cpf => "cpf",
            Builtin::Cnpj => "cnpj",
            Builtin::Card => "card",
            Builtin::Iban => "iban",
            Builtin::Wamid => "wamid",
            Builtin::NationalId => "nationalid",
        }
    }

    pub fn from_name(name: &str, regions: Option<Vec<String>>) -> Option<Builtin> {
        Some(match name {
            "phone" => Builtin::Phone {
                regions: regions.unwrap_or_else(|| {
                    NumericClassifier::default_regions()
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                }),
            },
            "email" => Builtin::Email,
            "cpf" => Builtin::Cpf,
            "cnpj" => Builtin::Cnpj,
            "card" => Builtin::Card,
            "iban" => Builtin::Iban,
            "wamid" => Builtin::Wamid,
            "nationalid" => Builtin::NationalId,
            _ => return None,
        })
    }
}

/// What a detector looks for.
#[derive(Clone, Debug)]
pub enum DetectorSpec {
    Builtin(Builtin),
    /// A regex; its maximum match length must be bounded (checked at compile).
    Regex(String),
    /// Whole words, ASCII case-insensitive.
    Words(Vec<String>),
}

/// A detector as the rules define it.
#[derive(Clone, Debug)]
pub struct DetectorDef {
    pub name: String,
    pub kind: KindId,
    pub spec: DetectorSpec,
}

/// Why detectors could not be compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectorError {
    #[error("detector {detector:?}: {reason}")]
    Invalid { detector: String, reason: String },
    #[error("at most {max} detectors per rule set, got {got}")]
    TooMany { max: usize, got: usize },
}

struct BuiltinIds {
    phone: Option<(DetectorId, KindId)>,
    email: Option<(DetectorId, KindId)>,
    cpf: Option<(DetectorId, KindId)>,
    cnpj: Option<(DetectorId, KindId)>,
    card: Option<(DetectorId, KindId)>,
    iban: Option<(DetectorId, KindId)>,
    wamid: Option<(DetectorId, KindId)>,
    nationalid: Option<(DetectorId, KindId)>,
}

struct BuiltinScan {
    re: Regex,
    ids: BuiltinIds,
    numeric: NumericClassifier,
    numeric_kinds: NumericKinds,
    needs_digits: bool,
    needs_at: bool,
    needs_wamid: bool,
    needs_cnpj: bool,
    needs_nationalid: bool,
    /// `wamid.`, searched for by the prefilter (built once: building a finder costs more
    /// than searching a short string).
    wamid: memchr::memmem::Finder<'static>,
}

/// All detectors of a rule set, compiled once.
pub struct Detectors {
    defs: Vec<(String, KindId)>,
    builtin: Option<BuiltinScan>,
    regexes: Vec<(Regex, DetectorId)>,
    words: Option<(AhoCorasick, Vec<DetectorId>)>,
    max_match_len: usize,
    /// See [`next_generation`](crate::next_generation).
    generation: u64,
}

impl std::fmt::Debug for Detectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detectors")
            .field("defs", &self.defs)
            .finish()
    }
}

/// Texts longer than this are prefiltered line by line.
const LINE_SPLIT_MIN: usize = 512;

/// The fewest digits any numeric value has (a short phone number with its area code).
const MIN_DIGITS: usize = 7;

/// Texts up to this length get the prefilter's one-pass test (most JSON string values).
/// Below 256: that pass counts digits in a byte.
const SHORT_TEXT: usize = 64;

impl Detectors {
    pub fn compile(defs: &[DetectorDef]) -> Result<Detectors, DetectorError> {
        if defs.len() > DetectorSet::MAX {
            return Err(DetectorError::TooMany {
                max: DetectorSet::MAX,
                got: defs.len(),
            });
        }
        let invalid = |d: &DetectorDef, reason: String| DetectorError::Invalid {
            detector: d.name.clone(),
            reason,
        };
        let mut ids = BuiltinIds {
            phone: None,
            email: None,
            cpf: None,
            cnpj: None,
            card: None,
            iban: None,
            wamid: None,
            nationalid: None,
        };
        let mut regions: Vec<String> = Vec::new();
        let mut regexes = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut word_ids = Vec::new();
        let mut max_match_len = 0usize;
        for (i, d) in defs.iter().enumerate() {
            let id = DetectorId(i as u8);
            match &d.spec {
                DetectorSpec::Builtin(b) => {
                    let slot = match b {
                        Builtin::Phone { regions: r } => {
                            regions = r.clone();
                            &mut ids.phone
                        }
                        Builtin::Email => &mut ids.email,
                        Builtin::Cpf => &mut ids.cpf,
                        Builtin::Cnpj => &mut ids.cnpj,
                        Builtin::Card => &mut ids.card,
                        Builtin::Iban => &mut ids.iban,
                        Builtin::Wamid => &mut ids.wamid,
                        Builtin::NationalId => &mut ids.nationalid,
                    };
                    if slot.is_some() {
                        return Err(invalid(
                            d,
                            format!("builtin {:?} is defined by two detectors", b.name()),
                        ));
                    }
                    *slot = Some((id, d.kind));
                }
                DetectorSpec::Regex(pattern) => {
                    let hir = regex_syntax::Parser::new()
                        .parse(pattern)
                        .map_err(|e| invalid(d, format!("invalid regex: {e}")))?;
                    let Some(max) = hir.properties().maximum_len() else {
                        return Err(invalid(
                            d,
                            "the regex has no maximum match length; bound every repetition ({m,n})"
                                .into(),
                        ));
                    };
                    if hir.properties().minimum_len() == Some(0) {
                        return Err(invalid(d, "the regex matches the empty string".into()));
                    }
                    max_match_len = max_match_len.max(max);
                    let re = Regex::new(pattern)
                        .map_err(|e| invalid(d, format!("invalid regex: {e}")))?;
                    regexes.push((re, id));
                }
                DetectorSpec::Words(list) => {
                    for w in list {
                        let w = w.trim();
                        if w.is_empty() {
                            continue;
                        }
                        max_match_len = max_match_len.max(w.len());
                        words.push(w.to_owned());
                        word_ids.push(id);
                    }
                }
            }
        }
        let builtin = if [
            ids.phone,
            ids.email,
            ids.cpf,
            ids.cnpj,
            ids.card,
            ids.iban,
            ids.wamid,
            ids.nationalid,
        ]
        .iter()
        .any(Option::is_some)
        {
            let region_refs: Vec<&str> = regions.iter().map(String::as_str).collect();
            let numeric = if region_refs.is_empty() {
                NumericClassifier::new(NumericClassifier::default_regions())
            } else {
                NumericClassifier::new(&region_refs)
            }
            .map_err(|reason| DetectorError::Invalid {
                detector: "phone".into(),
                reason,
            })?;
            let numeric_kinds = NumericKinds {
                phone: ids.phone.is_some(),
                cpf: ids.cpf.is_some(),
                cnpj: ids.cnpj.is_some(),
                card: ids.card.is_some(),
                label: context::Label::None,
            };
            let pattern = builtin_pattern();
            let hir = regex_syntax::Parser::new()
                .parse(&pattern)
                .expect("the built-in pattern parses");
            max_match_len = max_match_len.max(hir.properties().maximum_len().unwrap_or(1024));
            Some(BuiltinScan {
                re: Regex::new(&pattern).expect("the built-in pattern compiles"),
                needs_digits: numeric_kinds != NumericKinds::default()
                    || ids.iban.is_some()
                    || ids.nationalid.is_some(),
                needs_at: ids.email.is_some() || ids.phone.is_some(),
                needs_wamid: ids.wamid.is_some(),
                needs_cnpj: ids.cnpj.is_some(),
                needs_nationalid: ids.nationalid.is_some(),
                wamid: memchr::memmem::Finder::new(b"wamid."),
                ids,
                numeric,
                numeric_kinds,
            })
        } else {
            None
        };
        let words = if words.is_empty() {
            None
        } else {
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&words)
                .map_err(|e| DetectorError::Invalid {
                    detector: "words".into(),
                    reason: e.to_string(),
                })?;
            Some((ac, word_ids))
        };
        Ok(Detectors {
            defs: defs.iter().map(|d| (d.name.clone(), d.kind)).collect(),
            builtin,
            regexes,
            words,
            max_match_len: max_match_len.max(1),
            generation: crate::next_generation(),
        })
    }

    /// Checks one detector as [`Self::compile`] would, without building the built-in
    /// candidate pattern (a rule set checks each of its detectors alone first, to report
    /// every broken one; a built-in can only be broken by its phone regions).
    pub fn check(def: &DetectorDef) -> Result<(), DetectorError> {
        match &def.spec {
            DetectorSpec::Builtin(Builtin::Phone { regions }) => {
                let regions: Vec<&str> = regions.iter().map(String::as_str).collect();
                NumericClassifier::new(&regions)
                    .map(|_| ())
                    .map_err(|reason| DetectorError::Invalid {
                        detector: "phone".into(),
                        reason,
                    })
            }
            DetectorSpec::Builtin(_) => Ok(()),
            _ => Detectors::compile(std::slice::from_ref(def)).map(|_| ()),
        }
    }

    /// Which detectors these are, among those this process compiled.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn name(&self, id: DetectorId) -> &str {
        &self.defs[id.0 as usize].0
    }

    pub fn id(&self, name: &str) -> Option<DetectorId> {
        self.defs
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| DetectorId(i as u8))
    }

    pub fn kind(&self, id: DetectorId) -> KindId {
        self.defs[id.0 as usize].1
    }

    /// The longest value any detector can match: the carry-over window of streaming text.
    pub fn max_match_len(&self) -> usize {
        self.max_match_len
    }

    /// Appends every value of `text` found by a detector in `enabled` to `out`, sorted by
    /// position and without overlaps. `scan_from` lets a streaming caller keep already
    /// emitted bytes before it as look-behind context.
    pub fn scan(&self, text: &str, scan_from: usize, enabled: DetectorSet, out: &mut Vec<Finding>) {
        self.scan_with(text, scan_from, enabled, out, &mut ScanCache::default());
    }

    /// The byte-level prefilter: can `bytes` hold a value of a detector in `enabled`?
    /// `false` means [`Self::scan`] would find nothing, so callers can skip decoding too.
    pub fn may_match(&self, bytes: &[u8], enabled: DetectorSet) -> bool {
        if enabled.is_empty() {
            return false;
        }
        let custom = self.regexes.iter().any(|(_, id)| enabled.contains(*id))
            || self
                .words
                .as_ref()
                .is_some_and(|(_, ids)| ids.iter().any(|id| enabled.contains(*id)));
        custom
            || self
                .builtin
                .as_ref()
                .is_some_and(|b| b.worth_scanning(bytes))
    }

    /// [`Self::scan`] with a cache of number classifications that the caller keeps across
    /// values (one response repeats the same phone in many fields).
    pub fn scan_with(
        &self,
        text: &str,
        scan_from: usize,
        enabled: DetectorSet,
        out: &mut Vec<Finding>,
        cache: &mut ScanCache,
    ) {
        if enabled.is_empty() {
            return;
        }
        let first = out.len();
        if let Some(b) = &self.builtin {
            let bytes = text.as_bytes();
            if bytes.len() - scan_from <= LINE_SPLIT_MIN
                || memchr::memchr(b'\n', &bytes[scan_from..]).is_none()
            {
                if b.worth_scanning(&bytes[scan_from..]) {
                    b.scan(text, scan_from, enabled, out, cache);
                }
            } else {
                // No built-in value spans a line break, so a long text is prefiltered line
                // by line: the regex runs only over the lines that can hold a value.
                let mut start = scan_from;
                while start < bytes.len() {
                    let end =
                        memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |p| start + p);
                    if b.worth_scanning(&bytes[start..end]) {
                        b.scan(&text[..end], start, enabled, out, cache);
                    }
                    start = end + 1;
                }
            }
        }
        for (re, id) in &self.regexes {
            if !enabled.contains(*id) {
                continue;
            }
            let kind = self.kind(*id);
            let mut at = scan_from;
            while let Some(m) = re.find_at(text, at) {
                out.push(Finding {
                    start: m.start(),
                    end: m.end(),
                    kind,
                    source: Source::Detector(*id),
                    normalized: None,
                });
                at = if m.end() > m.start() {
                    m.end()
                } else {
                    m.end() + 1
                };
                if at > text.len() {
                    break;
                }
            }
        }
        if let Some((ac, ids)) = &self.words {
            let bytes = text.as_bytes();
            for m in ac.find_iter(&bytes[scan_from..]) {
                let id = ids[m.pattern().as_usize()];
                let (start, end) = (m.start() + scan_from, m.end() + scan_from);
                if !enabled.contains(id) || glued_before(text, start) || glued_after(text, end) {
                    continue;
                }
                out.push(Finding {
                    start,
                    end,
                    kind: self.kind(id),
                    source: Source::Detector(id),
                    normalized: None,
                });
            }
        }
        if out.len() - first > 1 {
            resolve_overlaps(out, first);
        }
    }

    /// Canonical form of a whole value known to be of `kind` (a field rule's value), so
    /// that a phone found by a field rule gets the same token as the same phone found by
    /// a detector. `None` when the value is already canonical or has no known form.
    pub fn normalize(&self, kind: KindId, value: &str) -> Option<String> {
        let b = self.builtin.as_ref()?;
        let v = value.trim();
        if b.ids.phone.map(|(_, k)| k) == Some(kind) {
            if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
                return b.numeric.whatsapp_digits(v);
            }
            // Already E.164 (`+5511987654321`, as inboxes store them): no libphonenumber
            // parse, only the legacy Brazilian form to fix.
            if let Some(digits) = v.strip_prefix('+') {
                if (8..=15).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit()) {
                    return b.numeric.whatsapp_digits(digits).filter(|n| n != v);
                }
            }
            let mut found = Vec::new();
            b.numeric.classify(
                v,
                NumericKinds {
                    phone: true,
                    // The field says what it holds.
                    label: context::Label::Phone,
                    ..NumericKinds::default()
                },
                &mut found,
            );
            if let [m] = found.as_slice() {
                if m.start == 0 && m.end == v.len() {
                    return Some(m.normalized.clone());
                }
            }
            return None;
        }
        if b.ids.email.map(|(_, k)| k) == Some(kind) && v.contains('@') {
            let lower: String = v
                .chars()
                .filter(|&c| !is_invisible(c))
                .flat_map(char::to_lowercase)
                .collect();
            return (lower != value).then_some(lower);
        }
        None
    }
}

/// Can `bytes` hold a number value: [`MIN_DIGITS`] digits in one run of digits and number
/// punctuation (the candidate pattern's separators, the no-break space's two bytes
/// included)? A vectorized digit count rejects most text first; timestamps, UUIDs and
/// prices then fail the run test without reaching the regex. The run test takes the
/// digits 64 bytes at a time as a bit mask and steps from one group of adjacent digits to
/// the next (a block without digits costs a few vector instructions), looking only at the
/// gap between two groups, so long prose with prices and order numbers costs little more
/// than the count. IBANs, whose letters break a run, are let through (past the count) when
/// two upper-case letters precede a digit.
#[inline]
fn has_digit_run(bytes: &[u8]) -> bool {
    if count_digits(bytes) < MIN_DIGITS {
        return false;
    }
    let mut runs = DigitRuns::default();
    let found = blocks(bytes, |base, block| {
        runs.block(bytes, base, digits_of(wide::u8x64::from(block)))
    });
    found || runs.iban()
}

/// Calls `f` on each 64-byte block of `bytes` (the last one padded with zeros) with its
/// offset, until it returns true; returns whether it did.
#[inline]
fn blocks(bytes: &[u8], mut f: impl FnMut(usize, [u8; 64]) -> bool) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    let mut base = 0;
    for block in chunks.by_ref() {
        if f(base, block.try_into().expect("64 bytes")) {
            return true;
        }
        base += 64;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return false;
    }
    let mut block = [0u8; 64];
    block[..rest.len()].copy_from_slice(rest);
    f(base, block)
}

/// Bit `i` set where byte `i` of `v` is an ASCII digit.
#[inline]
fn digits_of(v: wide::u8x64) -> u64 {
    let t = v - wide::u8x64::splat(b'0');
    t.min(wide::u8x64::splat(9)).simd_eq(t).to_bitmask()
}

/// The run test of [`has_digit_run`], fed 64 bytes at a time: steps from one group of
/// adjacent digits to the next, looking only at the gap between two groups.
#[derive(Default)]
struct DigitRuns {
    /// Digits in the run so far.
    run: usize,
    /// Where the last digit seen ends.
    after_last: usize,
    /// Digits seen.
    total: usize,
    /// Two upper-case letters precede a digit (an IBAN's start).
    iban: bool,
}

impl DigitRuns {
    /// The digits `digits` of the block at `bytes[base..]`; true once a run has
    /// [`MIN_DIGITS`] digits.
    #[inline]
    fn block(&mut self, bytes: &[u8], base: usize, digits: u64) -> bool {
        self.total += digits.count_ones() as usize;
        let mut left = digits;
        while left != 0 {
            let i = left.trailing_zeros();
            let len = (!(digits >> i)).trailing_zeros();
            let at = base + i as usize;
            if !bytes[self.after_last..at]
                .iter()
                .all(|&b| is_number_separator(b))
            {
                self.run = 0;
            }
            // Only a group's first digit can follow a letter.
            self.iban |=
                at >= 2 && bytes[at - 1].is_ascii_uppercase() && bytes[at - 2].is_ascii_uppercase();
            self.run += len as usize;
            if self.run >= MIN_DIGITS {
                return true;
            }
            self.after_last = at + len as usize;
            left &= u64::MAX.checked_shl(i + len).unwrap_or(0);
        }
        false
    }

    /// After the last block: IBANs, whose letters break a run, pass when the text holds
    /// [`MIN_DIGITS`] digits in all.
    fn iban(&self) -> bool {
        self.iban && self.total >= MIN_DIGITS
    }
}

/// ASCII digits in `bytes`, counted in byte-wide lanes (255 bytes at a time).
fn count_digits(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|c| {
            let n = c.iter().fold(0u8, |n, &b| {
                n.wrapping_add(u8::from(b.wrapping_sub(b'0') < 10))
            });
            usize::from(n)
        })
        .sum()
}

/// Punctuation that may sit between the digits of one number.
fn is_number_separator(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'+' | 0xC2 | 0xA0
    )
}

/// Which alternative of the candidate pattern matched, read off the matched text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Jid,
    Wamid,
    Email,
    Iban,
    Number,
}

fn candidate_shape(m: &str) -> Shape {
    if m.starts_with("wamid.") {
        return Shape::Wamid;
    }
    if let Some((user, server)) = m.split_once('@') {
        let jid_server = matches!(
            server,
            "s.whatsapp.net" | "c.us" | "g.us" | "lid" | "broadcast" | "newsletter"
        );
        let jid_user = user.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && user
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'_' | b':'));
        return if jid_server && jid_user {
            Shape::Jid
        } else {
            Shape::Email
        };
    }
    if m.contains("%40") {
        return Shape::Email;
    }
    if m.as_bytes()[0].is_ascii_alphabetic() {
        Shape::Iban
    } else {
        Shape::Number
    }
}

/// Number classifications memoized per caller (a response repeats its contacts' numbers
/// in many fields; libphonenumber is the costliest step of a scan). Bounded: cleared when
/// full.
#[derive(Default)]
pub struct ScanCache {
    numeric: rustc_hash::FxHashMap<Box<str>, (u8, Vec<NumericMatch>)>,
}

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScanCache({} entries)", self.numeric.len())
    }
}

const SCAN_CACHE_ENTRIES: usize = 1024;

impl ScanCache {
    fn classify(
        &mut self,
        numeric: &NumericClassifier,
        run: &str,
        kinds: NumericKinds,
        out: &mut Vec<NumericMatch>,
    ) {
        let k = u8::from(kinds.phone)
            | u8::from(kinds.cpf) << 1
            | u8::from(kinds.cnpj) << 2
            | u8::from(kinds.card) << 3
            | kinds.label.code() << 4;
        if let Some((hk, hit)) = self.numeric.get(run) {
            if *hk == k {
                out.extend(hit.iter().cloned());
                return;
            }
        }
        let first = out.len();
        numeric.classify(run, kinds, out);
        if self.numeric.len() >= SCAN_CACHE_ENTRIES {
            self.numeric.clear();
        }
        self.numeric.insert(run.into(), (k, out[first..].to_vec()));
    }
}

/// The candidate shapes, in priority order (leftmost-first alternation).
fn builtin_pattern() -> String {
    let jid = r"(?P<jid>[0-9]{5,20}(?:-[0-9]{1,20})?(?:[_:][0-9]{1,4}){0,2}@(?:s\.whatsapp\.net|c\.us|g\.us|lid|broadcast|newsletter))";
    let wamid = r"(?P<wamid>wamid\.[A-Za-z0-9+/=_\-]{8,256})";
    // `%40`: an address percent-encoded in a URL or a form (`maria.silva%40example.com`).
    // RFC 5322 addresses: the special characters of a local part (`!#$&'*/=?^`{|}~`), a
    // quoted local part (`"john doe"@example.com`), a domain literal (`me@[127.0.0.1]`),
    // internationalized addresses (`jörg@bücher.de`, `joão@empresa.com.br`) and invisible
    // characters inside an address (it reads, and copies, as the address). Any non-ASCII
    // character is let in here (a small automaton); `email_bounds` trims what is not part
    // of the address (`“ana@example.com”`, `/contacts/ana@example.com`, `?q=ana@…`).
    let email = r#"(?P<email>(?:[A-Za-z0-9._%+\-!#$&'*/=?^`{|}~\x{80}-\x{10ffff}]{1,128}|"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x{80}-\x{10ffff}]|\\[\x20-\x7e\x{80}-\x{10ffff}]){1,64}")(?:@|%40)(?:[A-Za-z0-9\-\x{80}-\x{10ffff}]{1,63}(?:\.[A-Za-z0-9\-\x{80}-\x{10ffff}]{1,63}){1,4}|\[(?:[0-9.]{7,15}|IPv6:[0-9A-Fa-f:.]{2,45})\]))"#;
    // `ES 91 2100 …`, `de89…`, `DE89-3704-…`: as people write them.
    let iban = r"(?P<iban>[A-Za-z]{2}\x20?[0-9]{2}(?:[\x20\-.]?[A-Za-z0-9]){11,30})";
    // `(+57) 300 1234567`: a country code in brackets opens a number too. Fullwidth digits
    // and invisible characters between digits (`＋５５…`, `98765\u{200b}4321`) are the same
    // number to a reader: see `fold_obfuscated`.
    let num = r"(?P<num>(?:\(\+|[+(\x{ff0b}])?[0-9\x{ff10}-\x{ff19}][0-9\x{ff10}-\x{ff19}\x20\-.()/\x{a0}\x{200b}-\x{200d}\x{2060}\x{feff}]{5,200}[0-9\x{ff10}-\x{ff19}])";
    // The alphanumeric CNPJ (`12.ABC.345/01DE-35`), where no other shape starts: see
    // `checks::alnum_cnpj_at`, which the IBAN and number paths ask first.
    let cnpj = r"(?P<cnpj>[0-9A-Z]{2}\.?\x20?[0-9A-Z]{3}\.?\x20?[0-9A-Z]{3}\x20?/?\x20?[0-9A-Z]{4}\x20?[\-\x{2013}]?\x20?[0-9]{2})";
    // National ids that begin with letters: India's PAN, Mexico's CURP, Spain's NIE (see
    // `national::alnum_at`; Spain's DNI begins with its digits, a number candidate).
    let nid = r"(?P<nid>[A-Z]{5}[0-9]{4}[A-Z]|[A-Z]{4}[0-9]{6}[HMX][A-Z]{5}[0-9A-Z][0-9]|[XYZxyz]-?[0-9]{7}-?[A-Za-z])";
    format!("{jid}|{wamid}|{email}|{iban}|{num}|{cnpj}|{nid}")
}

impl BuiltinScan {
    /// The prefilter: can this text hold a value of an enabled built-in kind at all?
    #[inline]
    fn worth_scanning(&self, bytes: &[u8]) -> bool {
        if bytes.len() <= SHORT_TEXT {
            // One branch-free pass tells which tests can pass at all.
            // A byte-wide counter (at most SHORT_TEXT digits) keeps the loop in byte lanes.
            let (mut digits, mut at, mut w, mut pct, mut wide, mut slash) =
                (0u8, false, false, false, false, false);
            for &b in bytes {
                digits = digits.wrapping_add(u8::from(b.wrapping_sub(b'0') < 10));
                at |= b == b'@';
                w |= b == b'w';
                pct |= b == b'%';
                wide |= b >= 0xE2;
                slash |= b == b'/';
            }
            // `%40`: an address percent-encoded.
            let at = at || (pct && memchr::memmem::find(bytes, b"%40").is_some());
            return (self.needs_at && at)
                || (self.needs_digits
                    && usize::from(digits) >= MIN_DIGITS
                    && has_digit_run(bytes))
                || (self.needs_wamid && w && self.wamid.find(bytes).is_some())
                || (wide && self.needs_digits && has_obfuscated_digits(bytes))
                || (slash && self.needs_cnpj && has_alnum_cnpj_tail(bytes))
                || (self.needs_nationalid && digits >= 4 && has_pan_shape(bytes));
        }
        self.long_text_may_match(bytes)
    }

    /// [`Self::worth_scanning`] for a long text (a message body): the digit-run, `@` and
    /// `wamid.` tests in one pass, 64 bytes at a time, instead of one pass each.
    fn long_text_may_match(&self, bytes: &[u8]) -> bool {
        let mut runs = DigitRuns::default();
        let found = blocks(bytes, |base, block| {
            let v = wide::u8x64::from(block);
            if self.needs_at && v.simd_eq(wide::u8x64::splat(b'@')).to_bitmask() != 0 {
                return true;
            }
            if self.needs_at {
                // `%40`: an address percent-encoded.
                let mut p = v.simd_eq(wide::u8x64::splat(b'%')).to_bitmask();
                while p != 0 {
                    if bytes[base + p.trailing_zeros() as usize..].starts_with(b"%40") {
                        return true;
                    }
                    p &= p - 1;
                }
            }
            if self.needs_wamid {
                let mut w = v.simd_eq(wide::u8x64::splat(b'w')).to_bitmask();
                while w != 0 {
                    if bytes[base + w.trailing_zeros() as usize..].starts_with(b"wamid.") {
                        return true;
                    }
                    w &= w - 1;
                }
            }
            self.needs_digits && runs.block(bytes, base, digits_of(v))
        });
        found
            || (self.needs_digits && (runs.iban() || has_obfuscated_digits(bytes)))
            || (self.needs_cnpj && has_alnum_cnpj_tail(bytes))
            // (A PAN's digits follow two capitals: the run test's IBAN flag.)
            || (self.needs_nationalid && runs.iban && has_pan_shape(bytes))
    }

    fn scan(
        &self,
        text: &str,
        scan_from: usize,
        enabled: DetectorSet,
        out: &mut Vec<Finding>,
        cache: &mut ScanCache,
    ) {
        let on = |slot: Option<(DetectorId, KindId)>| slot.filter(|(id, _)| enabled.contains(*id));
        let mut at = scan_from;
        let mut numeric = Vec::new();
        while at < text.len() {
            // `find_at` runs the lazy DFA only; which alternative matched is read off the
            // text (cheaper than asking the regex for capture groups).
            let Some(m) = self.re.find_at(text, at) else {
                break;
            };
            let (start, end) = (m.start(), m.end());
            at = end.max(start + 1);
            let group = candidate_shape(m.as_str());
            match group {
                Shape::Jid => {
                    if let Some(p) = on(self.ids.phone) {
                        self.jid(text, start, end, p, out);
                    }
                }
                Shape::Wamid => {
                    if let Some((id, kind)) = on(self.ids.wamid) {
                        out.push(finding(start, end, kind, id, None));
                    }
                }
                Shape::Email => {
                    let Some((start, end)) = email_bounds(text, start, end) else {
                        // Not an address (`“@”`): the next candidate may start inside it.
                        at = start + 1;
                        continue;
                    };
                    at = end;
                    // `…/messages/9102@host`, the Message-ID an inbox writes for its e-mail
                    // channel, is not an address. Anything else after a `/` is one: an
                    // address in a URL path (`/contacts/maria@example.com`, a Location
                    // header) is still the contact's.
                    let message_id = text[..start].ends_with("/messages/")
                        && text[start..end]
                            .split(['@', '%'])
                            .next()
                            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
                    if let Some((id, kind)) = on(self.ids.email).filter(|_| !message_id) {
                        let raw = &text[start..end];
                        // One address, one token: case folded, invisible characters out.
                        let mut lower: String = raw
                            .chars()
                            .filter(|&c| !is_invisible(c))
                            .flat_map(char::to_lowercase)
                            .collect();
                        if !raw.contains('@') {
                            // Percent-encoded: the same address, the same token.
                            lower = lower.replacen("%40", "@", 1);
                        }
                        let norm = (lower != raw).then_some(lower);
                        out.push(finding(start, end, kind, id, norm));
                    }
                }
                Shape::Iban | Shape::Number
                    if self.lettered(
                        self.ids.cnpj,
                        checks::alnum_cnpj_at,
                        (text, start),
                        enabled,
                        out,
                    ) || self.lettered(
                        self.ids.nationalid,
                        national::alnum_at,
                        (text, start),
                        enabled,
                        out,
                    ) =>
                {
                    at = out.last().map_or(end, |f| f.end);
                }
                Shape::Iban => {
                    // Most candidates are words before a number (`tel 11 …`): the prefix
                    // check ends those of a country without IBANs at once.
                    if let Some((id, kind)) = on(self.ids.iban) {
                        if !glued_before(text, start) {
                            // The longest valid prefix that is not glued to a word: the
                            // next word may extend a valid IBAN into a longer one that is
                            // valid by chance (`DE58 … 19 Guten`: `…19 G` passes mod 97).
                            let unglued = |len: usize| !glued_after(text, start + len);
                            if let Some(len) = checks::iban_prefix_len(&text[start..end], unglued) {
                                let e = start + len;
                                let compact = checks::iban_compact(&text[start..e]);
                                out.push(finding(start, e, kind, id, Some(compact)));
                                at = e.max(start + 1);
                                continue;
                            }
                        }
                    }
                    // Written as an IBAN but not one (a wrong check digit, a digit short):
                    // its digit groups are not phone numbers.
                    if on(self.ids.iban).is_some() && !glued_before(text, start) {
                        if let Some(len) = checks::iban_shaped_len(&text[start..end]) {
                            at = start + len;
                            continue;
                        }
                    }
                    // Not an IBAN (or IBANs not looked for): the digits inside may still be
                    // a number (`CPF 123.456.789-09` starts an IBAN candidate at `PF 12`).
                    // (An alphanumeric CNPJ candidate, `B5511987654321`, has one letter.)
                    let letters = text[start..end]
                        .bytes()
                        .take(2)
                        .take_while(u8::is_ascii_alphabetic)
                        .count();
                    at = start + letters.max(1);
                }
                Shape::Number if m.as_str().bytes().any(|b| b.is_ascii_uppercase()) => {
                    // The alphanumeric CNPJ shape, not one: the next candidate may start
                    // inside it.
                    at = start + 1;
                }
                Shape::Number if text[end..].starts_with('@') || text[end..].starts_with("%40") => {
                    // `(5511987654321@example.com)`: the digits after the bracket (or a `+`)
                    // are an address's local part, which the address pattern takes from
                    // the next position on.
                    at = start + 1;
                }
                Shape::Number => {
                    // `%2B5511987654321`: an international number percent-encoded in a URL
                    // or a form (a search echoed back, a `wa.me/` link).
                    if let Some(kinds) = percent_plus(text, start).then(|| NumericKinds {
                        phone: on(self.ids.phone).is_some() && self.numeric_kinds.phone,
                        ..NumericKinds::default()
                    }) {
                        let digits = &text[start..end];
                        if kinds.phone && digits.bytes().all(|b| b.is_ascii_digit()) {
                            let plus = format!("+{digits}");
                            numeric.clear();
                            cache.classify(&self.numeric, &plus, kinds, &mut numeric);
                            let whole =
                                numeric.iter().find(|m| m.start == 0 && m.end == plus.len());
                            if let (Some(m), Some((id, k))) = (whole, on(self.ids.phone)) {
                                let norm = Some(m.normalized.clone());
                                out.push(finding(start - 3, end, k, id, norm));
                                continue;
                            }
                        }
                    }
                    // `x+5511987654321`, `+5511987654321x`: an international number glued
                    // to a word is still one (a value echoed beside what a client wrote);
                    // libphonenumber decides, as for any other.
                    let plus_glued = plain_international(&text[start..end]);
                    // A candidate glued to a word at either end is not dropped whole: only
                    // the glued word is. `A38 123.456.789-09` still holds a CPF, and
                    // `(11) 98765-4321 3h` a phone.
                    if glued_before(text, start)
                        && !separated_number(text, start, end)
                        && !plus_glued
                    {
                        at = skip_word(text, start);
                        continue;
                    }
                    let end = if glued_after(text, end) && !plus_glued {
                        match unglued_end(text, start, end) {
                            Some(e) => e,
                            None => continue,
                        }
                    } else {
                        end
                    };
                    let kinds = NumericKinds {
                        phone: on(self.ids.phone).is_some() && self.numeric_kinds.phone,
                        cpf: on(self.ids.cpf).is_some(),
                        cnpj: on(self.ids.cnpj).is_some(),
                        card: on(self.ids.card).is_some(),
                        // (No label changes what a number with its `+` is.)
                        label: if text.as_bytes()[start] == b'+' {
                            context::Label::None
                        } else {
                            context::label_before(text, start)
                        },
                    };
                    let candidate = &text[start..end];
                    let folded = fold_obfuscated(candidate);
                    let run = folded.as_ref().map_or(candidate, |(f, _)| f.as_str());
                    let national = on(self.ids.nationalid);
                    if let Some((id, k)) = national {
                        // A label names it (`NIF 501 964 843`), or its layout is its own
                        // (`536-90-4399`, `2341 2341 2346`).
                        let named = match kinds.label {
                            context::Label::Id(scheme) => national::labelled(scheme, run),
                            _ => None,
                        };
                        if let Some(norm) = named.or_else(|| national::unlabelled(run)) {
                            out.push(finding(start, end, k, id, Some(norm)));
                            continue;
                        }
                    }
                    let found = out.len();
                    numeric.clear();
                    cache.classify(&self.numeric, run, kinds, &mut numeric);
                    for NumericMatch {
                        start: s,
                        end: e,
                        kind,
                        normalized,
                    } in numeric.drain(..)
                    {
                        let (s, e) = match &folded {
                            Some((_, at)) => (at[s], at[e]),
                            None => (s, e),
                        };
                        let slot = match kind {
                            NumericKind::Phone => self.ids.phone,
                            NumericKind::Cpf => self.ids.cpf,
                            NumericKind::Cnpj => self.ids.cnpj,
                            NumericKind::Card => self.ids.card,
                        };
                        if let Some((id, k)) = on(slot) {
                            let raw = &text[start + s..start + e];
                            let norm = (normalized != raw).then_some(normalized);
                            out.push(finding(start + s, start + e, k, id, norm));
                        }
                    }
                    // A bare run nothing else took, and no label says otherwise: an
                    // Aadhaar.
                    let unnamed = !kinds.label.names_another_kind();
                    if let Some((id, k)) = national.filter(|_| out.len() == found && unnamed) {
                        if let Some(norm) = national::bare(run) {
                            out.push(finding(start, end, k, id, Some(norm)));
                        }
                    }
                }
            }
        }
    }

    /// A value written with letters that `parse` reads at `start` (not glued to a word:
    /// an alphanumeric CNPJ, a PAN, a CURP, a DNI), pushed to `out` as `slot`'s kind.
    fn lettered(
        &self,
        slot: Option<(DetectorId, KindId)>,
        parse: fn(&str) -> Option<(usize, String)>,
        (text, start): (&str, usize),
        enabled: DetectorSet,
        out: &mut Vec<Finding>,
    ) -> bool {
        let Some((id, kind)) = slot.filter(|(id, _)| enabled.contains(*id)) else {
            return false;
        };
        if glued_before(text, start) {
            return false;
        }
        match parse(&text[start..]) {
            Some((len, compact)) if !glued_after(text, start + len) => {
                out.push(finding(start, start + len, kind, id, Some(compact)));
                true
            }
            _ => false,
        }
    }

    /// A JID: `<user>[_agent][:device]@<server>`. For phone servers the user part is the
    /// number; an old-style group id `<creator>-<time>@g.us` embeds the creator's number;
    /// LIDs, new group ids, broadcast and newsletter ids are opaque and stay as they are.
    fn jid(
        &self,
        text: &str,
        start: usize,
        end: usize,
        (id, kind): (DetectorId, KindId),
        out: &mut Vec<Finding>,
    ) {
        let jid = &text[start..end];
        let (user, server) = jid.split_once('@').expect("the jid pattern has an @");
        let digits_end = user
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(user.len());
        let phone_part = match server {
            "s.whatsapp.net" | "c.us" => true,
            "g.us" => user.as_bytes().get(digits_end) == Some(&b'-'),
            _ => false,
        };
        if !phone_part || glued_before(text, start) {
            return;
        }
        let digits = &user[..digits_end];
        let norm = self
            .numeric
            .whatsapp_digits(digits)
            .unwrap_or_else(|| format!("+{digits}"));
        out.push(finding(start, start + digits_end, kind, id, Some(norm)));
    }
}

fn finding(
    start: usize,
    end: usize,
    kind: KindId,
    id: DetectorId,
    normalized: Option<String>,
) -> Finding {
    Finding {
        start,
        end,
        kind,
        source: Source::Detector(id),
        normalized,
    }
}

/// The address inside an e-mail candidate `text[start..end]`. The candidate pattern lets
/// any non-ASCII character in (a small automaton) and the local part's special characters;
/// an address is trimmed here of what surrounds it in text:
/// - quotes, dashes, emoji around it (non-ASCII characters that are not letters, digits,
///   marks or invisible characters): `“ana@example.com”`, `—jörg@bücher.de…`;
/// - a URL's path or query before it: `/contacts/ana@example.com` (after the last `/` when
///   the local part starts with one), `?q=ana@…`, `&to=ana@…` (after the last `?` or `&`,
///   then after the first `=`);
/// - punctuation wrapped around it: `**ana@example.com**`, `'ana@example.com'` (leading
///   special characters, when a letter or digit follows);
/// - a domain's trailing dot or dash (the end of a sentence).
///
/// A quoted local part (`"john doe"@example.com`) and a domain literal
/// (`me@[127.0.0.1]`) are kept whole. `None` when no address is left.
fn email_bounds(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let raw = &text[start..end];
    let (at, sep) = match raw.find('@') {
        Some(i) if !raw.starts_with('"') => (i, 1),
        _ => match raw.find("\"@").map(|i| (i + 1, 1)) {
            Some(q) if raw.starts_with('"') => q,
            _ => (raw.find("%40")?, 3),
        },
    };
    let local_start = if raw.starts_with('"') && raw[..at].ends_with('"') && at >= 2 {
        0
    } else if sep == 3 {
        // Percent-encoded, the address is a query or form value: its `=`, `&`, `?` and
        // `/` would be encoded too, so the last of them ends the key before it.
        let from = raw[..at].rfind(['=', '&', '?', '/']).map_or(0, |i| i + 1);
        from + local_part_start(&raw[from..at])?
    } else {
        local_part_start(&raw[..at])?
    };
    let domain = &raw[at + sep..];
    let domain_len = if domain.starts_with('[') {
        domain.find(']')? + 1
    } else {
        let domain_ok = |c: char| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
            } else {
                address_char(c)
            }
        };
        let len = domain
            .char_indices()
            .find(|&(_, c)| !domain_ok(c))
            .map_or(domain.len(), |(i, _)| i);
        let domain = domain[..len].trim_end_matches(['.', '-']);
        let (host, tld) = domain.rsplit_once('.')?;
        if host.is_empty() || tld.is_empty() || host.starts_with(['.', '-']) {
            return None;
        }
        domain.len()
    };
    Some((start + local_start, start + at + sep + domain_len))
}

/// Where the unquoted local part `local` (what precedes the `@`) starts; see
/// [`email_bounds`].
fn local_part_start(local: &str) -> Option<usize> {
    let local_ok = |c: char| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c)
        } else {
            // The fullwidth forms of the local part's characters (`＠@fullwidth.at`), not
            // of the brackets, quotes and punctuation around an address.
            address_char(c)
                || (('\u{ff01}'..='\u{ff5e}').contains(&c)
                    && !"（）［］｛｝＂＇，．：；＜＞".contains(c))
        }
    };
    let mut from = local
        .char_indices()
        .rev()
        .take_while(|&(_, c)| local_ok(c))
        .last()
        .map(|(i, _)| i)?;
    let part = |from: usize| &local[from..];
    // A path (`/contacts/ana@…`, `conversation/5/messages/ana@…`); one `/` inside a
    // local part is RFC 5322's (`user+mailbox/department=shipping@…`).
    if part(from).starts_with('/') || part(from).matches('/').nth(1).is_some() {
        from += part(from).rfind('/')? + 1;
    }
    // A query parameter's value (`?q=ana@…`, `&to=ana@…`).
    if let Some(q) = part(from).rfind(['?', '&']) {
        if let Some(eq) = part(from)[q..].find('=') {
            from += q + eq + 1;
        }
    }
    // Wrapping punctuation (`**ana@…`, `'ana@…`), when a letter or digit follows.
    let wrapped = part(from)
        .find(|c: char| !"!#$&'*/=?^`{|}~.".contains(c))
        .unwrap_or(0);
    if part(from)[wrapped..].starts_with(|c: char| c.is_alphanumeric()) {
        from += wrapped;
    }
    (from < local.len()).then_some(from)
}

/// A non-ASCII character of an address: a letter, a digit, a combining mark, or an
/// invisible character.
fn address_char(c: char) -> bool {
    c.is_alphanumeric() || is_invisible(c) || is_combining_mark(c)
}

/// Combining marks of the scripts people write addresses in (an Indic virama, a Thai vowel
/// sign, a combining accent): part of the word they follow.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{300}'..='\u{36f}'
            | '\u{483}'..='\u{489}'
            | '\u{591}'..='\u{5c7}'
            | '\u{610}'..='\u{61a}'
            | '\u{64b}'..='\u{65f}'
            | '\u{900}'..='\u{dff}'
            | '\u{e31}'..='\u{e4e}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{3099}'..='\u{309a}'
            | '\u{fe20}'..='\u{fe2f}')
}

/// Zero-width characters: invisible between two digits, so a number written with them
/// reads (and copies into a dialer) as the number.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
}

/// `candidate` as a reader sees it: fullwidth digits and plus (`＋５５…`) as ASCII,
/// invisible characters dropped; with, for each byte of it and its end, the offset in
/// `candidate` of the character it came from. `None` when there is nothing to fold (the
/// common case: no allocation).
fn fold_obfuscated(candidate: &str) -> Option<(String, Vec<usize>)> {
    if candidate.bytes().all(|b| b < 0xE0) {
        return None;
    }
    let mut folded = String::with_capacity(candidate.len());
    let mut at = Vec::with_capacity(candidate.len() + 1);
    for (i, c) in candidate.char_indices() {
        let c = match c {
            '\u{ff10}'..='\u{ff19}' => char::from(b'0' + (c as u32 - 0xff10) as u8),
            '\u{ff0b}' => '+',
            c if is_invisible(c) => continue,
            c => c,
        };
        folded.push(c);
        at.resize(folded.len(), i);
    }
    at.push(candidate.len());
    Some((folded, at))
}

/// Is there a fullwidth digit or plus, or an invisible character, in `bytes`? (Their
/// UTF-8 forms: `EF BC 90..99`, `EF BC 8B`; `E2 80 8B..8D`, `E2 81 A0`, `EF BB BF`.)
/// Numbers written with them have fewer ASCII digits in a run than the prefilter wants.
fn has_obfuscated_digits(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(0xE2, 0xEF, bytes).any(|i| {
        matches!(
            bytes.get(i..i + 3),
            Some(
                [0xEF, 0xBC, 0x90..=0x99 | 0x8B]
                    | [0xE2, 0x80, 0x8B..=0x8D]
                    | [0xE2, 0x81, 0xA0]
                    | [0xEF, 0xBB, 0xBF]
            )
        )
    })
}

/// `/01DE-35`, `/ABCD–35`: the branch and check digits of a formatted alphanumeric CNPJ,
/// whose letters break the digit runs the prefilter looks for.
fn has_alnum_cnpj_tail(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'/', bytes).any(|i| {
        let mut t = &bytes[i + 1..];
        if t.first() == Some(&b' ') {
            t = &t[1..];
        }
        if t.len() < 6
            || !t[..4]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return false;
        }
        let mut t = &t[4..];
        for sep in [&b" "[..], &b"-"[..], "–".as_bytes(), &b" "[..]] {
            if t.starts_with(sep) {
                t = &t[sep.len()..];
            }
        }
        t.len() >= 2 && t[..2].iter().all(u8::is_ascii_digit)
    })
}

/// `ABCPD1234E`: India's PAN, whose four digits are fewer than the digit-run test wants.
fn has_pan_shape(bytes: &[u8]) -> bool {
    // Where a capital is followed by a digit (few places in most texts), the ten bytes
    // around it.
    let upper_digit = |w: &[u8]| w[0].is_ascii_uppercase() && w[1].is_ascii_digit();
    if !bytes.windows(2).any(upper_digit) {
        return false;
    }
    bytes.windows(10).any(|w| {
        w[..5].iter().all(u8::is_ascii_uppercase)
            && w[5..9].iter().all(u8::is_ascii_digit)
            && w[9].is_ascii_uppercase()
    })
}

/// `%2B` (a percent-encoded `+`) right before `start`.
fn percent_plus(text: &str, start: usize) -> bool {
    start >= 3 && text.as_bytes()[start - 3..start].eq_ignore_ascii_case(b"%2B")
}

/// `+` and 10 to 15 digits, nothing else: the E.164 form a number is stored and echoed in
/// (shorter runs glued to words are too often pieces of identifiers and base64).
fn plain_international(candidate: &str) -> bool {
    candidate
        .strip_prefix('+')
        .is_some_and(|d| (10..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Is the value at `start` the tail of a longer word or identifier (`K-2024-118`, `ab12…`)?
/// A clock time's seconds and fraction (`13:52:02.712704`) are glued to it too.
fn glued_before(text: &str, start: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut before = text[..start].chars().rev();
    match before.next() {
        Some(c) if word(c) => true,
        Some('-' | '.') => before.next().is_some_and(word),
        Some(':') => before.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// A number joined to a word by `-`, `_` or `.` that is still a value of its own: an
/// international number (`contato-+5521981234567.json`) or ten digits or more
/// after `_` (`contato_5521981234567.csv`). Other runs after such a joint stay part of an
/// identifier (`K-2024-118`, `crm-DE-00042`, a UUID's `…-a69e-551190000000`, `v2.5551234567`).
fn separated_number(text: &str, start: usize, end: usize) -> bool {
    let joint = text[..start].chars().next_back();
    if !matches!(joint, Some('-' | '_' | '.')) {
        return false;
    }
    let candidate = &text.as_bytes()[start..end];
    candidate.first() == Some(&b'+')
        || (joint == Some('_') && candidate.iter().filter(|b| b.is_ascii_digit()).count() >= 10)
}

/// Where to look for the next number candidate after one glued to the word before it:
/// past its optional `+`/`(` and the rest of that word.
fn skip_word(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    if matches!(bytes.get(i), Some(b'+' | b'(')) {
        i += 1;
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        i += 1;
    }
    i.max(start + 1)
}

/// A number candidate `text[start..end]` whose last digits are glued to a word
/// (`… 4321 3h`): the end of what precedes that word, if it is still long enough to be a
/// candidate (seven characters ending in a digit, after an optional `+`/`(`).
fn unglued_end(text: &str, start: usize, end: usize) -> Option<usize> {
    let cand = &text[start..end];
    let head = cand.trim_end_matches(|c: char| c.is_ascii_digit());
    let head = head.trim_end_matches(|c: char| !c.is_ascii_digit());
    let body = head.strip_prefix(['+', '(']).unwrap_or(head);
    (body.len() >= 7).then_some(start + head.len())
}

/// Does a word or identifier go on after `end`?
fn glued_after(text: &str, end: usize) -> bool {
    text[end..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '@')
}

/// Sorts `out[first..]` by position and drops overlaps: the earlier value wins, and at
/// the same start the longer one.
fn resolve_overlaps(out: &mut Vec<Finding>, first: usize) {
    out[first..].sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut keep = first;
    for i in first..out.len() {
        if keep > first && out[i].start < out[keep - 1].end {
            continue;
        }
        out.swap(keep, i);
        keep += 1;
    }
    out.truncate(keep);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::kind::Kinds;

    /// The digit-run prefilter, written the plain way: one pass, byte by byte.
    fn digit_run_reference(bytes: &[u8]) -> bool {
        if bytes.iter().filter(|b| b.is_ascii_digit()).count() < MIN_DIGITS {
            return false;
        }
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii_digit() {
                if i >= 2 && bytes[i - 1].is_ascii_uppercase() && bytes[i - 2].is_ascii_uppercase()
                {
                    return true;
                }
                run += 1;
                if run >= MIN_DIGITS {
                    return true;
                }
            } else if !is_number_separator(b) {
                run = 0;
            }
        }
        false
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_prefilter_of_long_texts_agrees_with_its_three_tests(
            picks in proptest::collection::vec(0usize..20, 30..300)
        ) {
            const ALPHABET: [&str; 20] = [
                "1", "98", "-", " ", "a", "Z", "DE", "\u{a0}", "w", "wamid.", "@", "ü",
                "lorem ipsum dolor sit amet ", "(+", "%", "4", "0", "\u{200b}", "５", "“",
            ];
            let text: String = picks.iter().map(|&p| ALPHABET[p]).collect();
            let (d, _) = detectors();
            let all = DetectorSet::all(d.len());
            let bytes = text.as_bytes();
            let want = digit_run_reference(bytes)
                || bytes.contains(&b'@')
                || memchr::memmem::find(bytes, b"%40").is_some()
                || memchr::memmem::find(bytes, b"wamid.").is_some()
                || has_obfuscated_digits(bytes)
                || has_alnum_cnpj_tail(bytes)
                || has_pan_shape(bytes);
            proptest::prop_assert_eq!(d.may_match(bytes, all), want, "{:?}", text);
        }
    }

    proptest::proptest! {
        #[test]
        fn digit_run_prefilter_agrees_with_the_plain_pass(
            picks in proptest::collection::vec(0usize..12, 0..400)
        ) {
            // Digits, separators, letters and the no-break space, in long and short texts.
            const ALPHABET: [&str; 12] =
                ["1", "98", "-", " ", ".", "a", "Z", "DE", "\u{a0}", "x", "ü", "(+"];
            let text: String = picks.iter().map(|&p| ALPHABET[p]).collect();
            proptest::prop_assert_eq!(
                has_digit_run(text.as_bytes()),
                digit_run_reference(text.as_bytes()),
                "{:?}", text
            );
        }
    }

    fn detectors() -> (Detectors, Kinds) {
        let mut kinds = Kinds::default();
        let defs: Vec<DetectorDef> = Builtin::NAMES
            .iter()
            .map(|n| DetectorDef {
                name: n.to_string(),
                kind: kinds.intern(n),
                spec: DetectorSpec::Builtin(Builtin::from_name(n, None).unwrap()),
            })
            .collect();
        (Detectors::compile(&defs).unwrap(), kinds)
    }

    /// (kind, matched text, normalized) of every finding.
    fn scan(text: &str) -> Vec<(String, String, String)> {
        let (d, kinds) = detectors();
        let mut out = Vec::new();
        d.scan(text, 0, DetectorSet::all(d.len()), &mut out);
        out.iter()
            .map(|f| {
                let raw = text[f.start..f.end].to_string();
                (
                    kinds.name(f.kind).to_string(),
                    raw.clone(),
                    f.normalized.clone().unwrap_or(raw),
                )
            })
            .collect()
    }

    fn one(text: &str, kind: &str, raw: &str, norm: &str) {
        assert_eq!(
            scan(text),
            vec![(kind.into(), raw.into(), norm.into())],
            "{text}"
        );
    }

    #[test]
    fn jids_and_whatsapp_forms() {
        one(
            "5521998765432@s.whatsapp.net",
            "phone",
            "5521998765432",
            "+5521998765432",
        );
        one(
            "from 5521998765432@c.us",
            "phone",
            "5521998765432",
            "+5521998765432",
        );
        one(
            "5521998765432:12@s.whatsapp.net",
            "phone",
            "5521998765432",
            "+5521998765432",
        );
        one(
            "grupo 5511987654321-1612345678@g.us",
            "phone",
            "5511987654321",
            "+5511987654321",
        );
        one(
            "https://wa.me/5511987654321?text=oi",
            "phone",
            "5511987654321",
            "+5511987654321",
        );
        one(
            "<a href=\"tel:+5511987654321\">",
            "phone",
            "+5511987654321",
            "+5511987654321",
        );
        one(
            "waid=351912345678:x",
            "phone",
            "351912345678",
            "+351912345678",
        );
        // Legacy 12-digit Brazilian wa_id normalizes to the 13-digit number.
        one("551187654321", "phone", "551187654321", "+5511987654321");
        // Opaque ids stay.
        assert_eq!(
            scan("203984756120387@lid 120363025246125486@g.us 1234@broadcast"),
            vec![]
        );
    }

    #[test]
    fn emails_wamids_ibans() {
        one(
            "Mail: Ana.Souza@Example.com.",
            "email",
            "Ana.Souza@Example.com",
            "ana.souza@example.com",
        );
        // An inbox's Message-ID (`…/messages/<n>@host`) is not an address.
        assert_eq!(
            scan("conversation/52299223/messages/9102@loja.example.com"),
            vec![]
        );
        // An address in a URL path is one.
        for path in [
            "/app/contacts/maria.silva@example.com",
            "/app/contacts/maria.silva%40example.com",
            "https://inbox.example/u/ana@example.org/edit",
            "conversation/5/messages/ana@loja.example.com",
        ] {
            assert!(
                scan(path).iter().any(|(k, _, _)| k == "email"),
                "{path}: {:?}",
                scan(path)
            );
        }
        let w = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjU1NDdGRjA3QjE5RUE4RkEA";
        one(&format!("id {w} ok"), "wamid", w, w);
        one(
            "IBAN DE89 3704 0044 0532 0130 00 ok",
            "iban",
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
        );
        // As people write them: a space after the country code, dashes, lower case.
        one(
            "IBAN: ES 91 2100 0418 4502 0005 1332, obrigado",
            "iban",
            "ES 91 2100 0418 4502 0005 1332",
            "ES9121000418450200051332",
        );
        one(
            "conta de89-3704-0044-0532-0130-00.",
            "iban",
            "de89-3704-0044-0532-0130-00",
            "DE89370400440532013000",
        );
        // Bad check digits: not an IBAN (its digit groups may still read as a number).
        assert!(scan("DE89 3704 0044 0532 0130 01")
            .iter()
            .all(|(k, _, _)| k != "iban"));
    }

    /// Fullwidth digits and invisible characters read (and copy into a dialer or a mail
    /// client) as the value: they are that value, with its token.
    #[test]
    fn obfuscated_values_are_the_values() {
        for (text, raw, kind, norm) in [
            (
                "ligue (１１) ９８７６５-４３２１ hoje",
                "(１１) ９８７６５-４３２１",
                "phone",
                "+5511987654321",
            ),
            (
                "＋５５ １１ ９８７６５ ４３２１",
                "＋５５ １１ ９８７６５ ４３２１",
                "phone",
                "+5511987654321",
            ),
            (
                "+55 11 98765\u{200b}4321 ok",
                "+55 11 98765\u{200b}4321",
                "phone",
                "+5511987654321",
            ),
            (
                "5511\u{2060}98765\u{feff}4321",
                "5511\u{2060}98765\u{feff}4321",
                "phone",
                "+5511987654321",
            ),
            (
                "cpf 529\u{200b}.982.247-25",
                "529\u{200b}.982.247-25",
                "cpf",
                "52998224725",
            ),
            (
                "mail ana\u{200b}.souza@exam\u{200c}ple.com!",
                "ana\u{200b}.souza@exam\u{200c}ple.com",
                "email",
                "ana.souza@example.com",
            ),
        ] {
            let found = scan(text);
            assert_eq!(
                found,
                vec![(kind.to_string(), raw.to_string(), norm.to_string())],
                "{text}"
            );
        }
    }

    /// What a person reads before a number says what it is.
    #[test]
    fn labels_decide_what_a_bare_or_ambiguous_number_is() {
        // References keep their digits, whatever a numbering plan says of them.
        for text in [
            "Bestellnummer 2398-5999-42",
            "Pedido 95727226053",
            "Order #80011445873",
            "Commande n° 3292676710",
            "Protocolo nº 20261203123456",
        ] {
            assert_eq!(scan(text), vec![], "{text}");
        }
        // A phone label lets in what a bare run is not without one: a national number
        // without separators or trunk prefix, a landline, another country's number.
        for (text, raw, norm) in [
            ("Telemóvel 912345678", "912345678", "+351912345678"),
            ("tel 1133334444", "1133334444", "+551133334444"),
            (
                "meu whatsapp é 2348031234567",
                "2348031234567",
                "+2348031234567",
            ),
            ("Handy: 1701234567", "1701234567", "+491701234567"),
        ] {
            one(text, "phone", raw, norm);
        }
        for text in ["912345678", "2348031234567"] {
            assert_eq!(scan(text), vec![], "{text}");
        }
        // The same digits after a label that says reference: a `+` still makes a phone.
        one(
            "pedido +5511987654321",
            "phone",
            "+5511987654321",
            "+5511987654321",
        );
    }

    #[test]
    fn shapes_that_are_never_values() {
        for text in [
            "from 151.191.82.219",
            "v9.36.989.6369 and 18.14.618.3994",
            "2011-02-14T13:52:02.712704+00:00",
            "2020-06-06 07:42:31.315915-05:00",
            "ssn 078-05-1120",
            // A card's layout that is not a card: no phone in its last groups.
            "cartão 5142 8466 4660 7304",
            "(6011 0276 4136 4755)",
            // A mistyped IBAN's digit groups are not phones either.
            "IBAN DE90 3704 0044 0532 0130 00",
            "NL92 ABNA 0417 1643 00",
            // A bare EAN-13 with a trunk zero, a mistyped CNPJ's branch.
            "0626978388461",
            "07187504000102",
        ] {
            assert_eq!(scan(text), vec![], "{text}");
        }
    }

    #[test]
    fn national_ids_by_layout_check_or_label() {
        for (text, raw, norm) in [
            ("PAN ABCPD1234E ok", "ABCPD1234E", "ABCPD1234E"),
            ("DNI 54362315-K.", "54362315-K", "54362315K"),
            ("nie x-2482300w", "x-2482300w", "X2482300W"),
            (
                "CURP: BOXW310820HNERXN09",
                "BOXW310820HNERXN09",
                "BOXW310820HNERXN09",
            ),
            ("meu NIF é 501 964 843", "501 964 843", "501964843"),
            ("NIF PT 501964843", "501964843", "501964843"),
            ("SSN 536904399", "536904399", "536904399"),
            ("ssn: 536-90-4399", "536-90-4399", "536904399"),
            ("536-90-4399", "536-90-4399", "536904399"),
            ("2341 2341 2346", "2341 2341 2346", "234123412346"),
            ("Aadhaar 234123412346", "234123412346", "234123412346"),
            ("Steuer-ID: 36 574 261 809", "36 574 261 809", "36574261809"),
            (
                "NIK 3171011708450001",
                "3171011708450001",
                "3171011708450001",
            ),
            ("cédula 1.020.304.050", "1.020.304.050", "1020304050"),
        ] {
            one(text, "nationalid", raw, norm);
        }
        // Without their label, digits that could be anything are not taken for them; the
        // famous invalid SSN and a wrong check letter are none.
        for text in [
            "36 574 261 809",
            "3171011708450001",
            "078-05-1120",
            "DNI 54362315-Z",
            "XABCPD1234E",
        ] {
            assert!(
                scan(text).iter().all(|(k, _, _)| k != "nationalid"),
                "{text}: {:?}",
                scan(text)
            );
        }
    }

    #[test]
    fn alphanumeric_cnpj_in_text() {
        for (text, raw) in [
            ("CNPJ 12.ABC.345/01DE-35, ok", "12.ABC.345/01DE-35"),
            ("cnpj:12ABC34501DE35.", "12ABC34501DE35"),
            ("(12. ABC.345 /01DE–35)", "12. ABC.345 /01DE–35"),
        ] {
            one(text, "cnpj", raw, "12ABC34501DE35");
        }
        for text in ["12.ABC.345/01DE-36", "X12ABC34501DE35", "12ABC34501DE35X"] {
            assert_eq!(scan(text), vec![], "{text}");
        }
    }

    #[test]
    fn addresses_as_rfc_5322_writes_them() {
        for (text, raw) in [
            (
                "para user+mailbox/department=shipping@example.tld ok",
                "user+mailbox/department=shipping@example.tld",
            ),
            (
                "!#$%&'*+-/=?^_`.{|}~@example.tld",
                "!#$%&'*+-/=?^_`.{|}~@example.tld",
            ),
            (
                "mail \"quoted local part\"@example.org, thanks",
                "\"quoted local part\"@example.org",
            ),
            ("me@[127.0.0.1] ok", "me@[127.0.0.1]"),
            ("me@[IPv6:::1].", "me@[IPv6:::1]"),
            // Wrapped in punctuation, in a query, after a bracket: the address only.
            ("**ana@example.com**", "ana@example.com"),
            ("“ana@example.com”", "ana@example.com"),
            ("/search?email=ana@example.com&x=1", "ana@example.com"),
            ("(11111111112222@example.com)", "11111111112222@example.com"),
            // (`+` is a local part's character.)
            ("(+5511987654321@example.com)", "+5511987654321@example.com"),
        ] {
            let found = scan(text);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!(
                (found[0].0.as_str(), found[0].1.as_str()),
                ("email", raw),
                "{text}"
            );
        }
    }

    #[test]
    fn internationalized_addresses() {
        for (text, raw, norm) in [
            ("Mail: Jörg@Bücher.de.", "Jörg@Bücher.de", "jörg@bücher.de"),
            (
                "escreve para joão@empresa.com.br, obrigado",
                "joão@empresa.com.br",
                "joão@empresa.com.br",
            ),
            ("用户@例子.广告", "用户@例子.广告", "用户@例子.广告"),
            (
                "δοκιμή@παράδειγμα.δοκιμή",
                "δοκιμή@παράδειγμα.δοκιμή",
                "δοκιμή@παράδειγμα.δοκιμή",
            ),
        ] {
            one(text, "email", raw, norm);
        }
    }

    #[test]
    fn numbers_in_context() {
        one(
            "CPF 123.456.789-09.",
            "cpf",
            "123.456.789-09",
            "12345678909",
        );
        one(
            "cartão 4111 1111 1111 1111",
            "card",
            "4111 1111 1111 1111",
            "4111111111111111",
        );
        one(
            "CNPJ 11.222.333/0001-81",
            "cnpj",
            "11.222.333/0001-81",
            "11222333000181",
        );
        one(
            "ligue (11) 97654-3210!",
            "phone",
            "(11) 97654-3210",
            "+5511976543210",
        );
        // Glued to an identifier, a date, a price, an order number: not PII.
        for neg in [
            "K-2024-118",
            "crm-DE-00042",
            "ab12345678901",
            "R$ 1.234,56",
            "20/11/2025 14:01",
            "pedido 58213",
            "v2.5551234567",
        ] {
            assert_eq!(scan(neg), vec![], "{neg}");
        }
        // Two numbers in one run are split.
        let two = scan("4915123456789 4917698765432");
        assert_eq!(two.len(), 2, "{two:?}");
    }

    #[test]
    fn long_texts_are_scanned_line_by_line_with_the_same_findings() {
        let mut text = String::new();
        for i in 0..60 {
            match i {
                3 => text.push_str("ligue (11) 97654-3210 hoje\n"),
                40 => text.push_str("mail Ana.Souza@Example.com e +49 1512 3456789\r\n"),
                _ => text.push_str("Bom dia, pedido 58213 entregue em 20/11/2025 às 14:01\n"),
            }
        }
        assert!(text.len() > LINE_SPLIT_MIN);
        let whole: Vec<_> = scan(&text);
        let by_line: Vec<_> = text.split('\n').flat_map(scan).collect();
        assert_eq!(whole, by_line);
        assert_eq!(whole.len(), 3, "{whole:?}");
    }

    #[test]
    fn the_prefilter_skips_text_without_candidates() {
        let (d, _) = detectors();
        let b = d.builtin.as_ref().unwrap();
        assert!(!b.worth_scanning(b"Bom dia! Tudo bem? Pedido 58213 chegou."));
        assert!(b.worth_scanning(b"x@y.z"));
        assert!(b.worth_scanning(b"+55 11 98765"));
        assert!(!b.worth_scanning(b"+55 11 9"));
        assert!(b.worth_scanning(b"wamid.abc"));
    }

    #[test]
    fn custom_regex_and_words() {
        let mut kinds = Kinds::default();
        let defs = vec![
            DetectorDef {
                name: "ticket".into(),
                kind: kinds.intern("ticket"),
                spec: DetectorSpec::Regex("TCK-[0-9]{8}".into()),
            },
            DetectorDef {
                name: "vip".into(),
                kind: kinds.intern("name"),
                spec: DetectorSpec::Words(vec!["Maria Silva".into()]),
            },
        ];
        let d = Detectors::compile(&defs).unwrap();
        let mut out = Vec::new();
        let text = "maria silva abriu TCK-00001234; Mariana Silva não";
        d.scan(text, 0, DetectorSet::all(2), &mut out);
        let got: Vec<&str> = out.iter().map(|f| &text[f.start..f.end]).collect();
        assert_eq!(got, vec!["maria silva", "TCK-00001234"]);
        assert!(Detectors::compile(&[DetectorDef {
            name: "bad".into(),
            kind: KindId(0),
            spec: DetectorSpec::Regex("a+".into()),
        }])
        .is_err());
    }

    fn numeric_detectors() -> Detectors {
        let defs: Vec<DetectorDef> = ["phone", "cpf", "card"]
            .iter()
            .enumerate()
            .map(|(i, name)| DetectorDef {
                name: (*name).into(),
                kind: KindId(i as u16),
                spec: DetectorSpec::Builtin(Builtin::from_name(name, None).unwrap()),
            })
            .collect();
        Detectors::compile(&defs).unwrap()
    }

    fn found(d: &Detectors, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        d.scan(text, 0, DetectorSet::all(d.len()), &mut out);
        out.iter()
            .map(|f| text[f.start..f.end].to_owned())
            .collect()
    }

    /// Regression: a number candidate glued to a word at one end (`… 4321 3h`, `A38 …`)
    /// was dropped whole, and the value inside it was served in the clear.
    #[test]
    fn a_value_beside_a_word_with_digits_is_still_found() {
        let d = numeric_detectors();
        assert_eq!(
            found(&d, "me liga no (11) 98765-4321 3h da tarde"),
            ["(11) 98765-4321"]
        );
        assert_eq!(found(&d, "call +49 1512 3456789 2pm"), ["+49 1512 3456789"]);
        assert_eq!(found(&d, "ref A38 123.456.789-09"), ["123.456.789-09"]);
        assert_eq!(found(&d, "CPF 123.456.789-09 2x"), ["123.456.789-09"]);
        assert_eq!(found(&d, "no 5511987654321 24h"), ["5511987654321"]);
    }

    /// Regression: when the word after an IBAN extended it into a longer candidate that
    /// passed mod 97 by chance, the longer one was glued to the word and the IBAN was
    /// served in the clear.
    #[test]
    fn an_iban_extended_by_the_next_word_is_still_found() {
        let defs = [DetectorDef {
            name: "iban".into(),
            kind: KindId(0),
            spec: DetectorSpec::Builtin(Builtin::Iban),
        }];
        let d = Detectors::compile(&defs).unwrap();
        // `…19 G` passes mod 97 by chance; a German IBAN has 22 characters, so it is not one.
        assert!(!checks::iban_valid("DE58 1066 4082 0320 6989 19 G"));
        assert_eq!(
            found(&d, "DE58 1066 4082 0320 6989 19 Guten Tag"),
            ["DE58 1066 4082 0320 6989 19"]
        );
    }

    /// Identifiers that merely contain digits stay as they are.
    #[test]
    fn values_glued_to_words_or_percent_encoded_are_found() {
        // What an inbox echoes when a client glued text to a value, or put it in a URL.
        for (text, raw, norm) in [
            ("x+5511987654321", "+5511987654321", "+5511987654321"),
            ("Oi+5511987654321!", "+5511987654321", "+5511987654321"),
            ("9+5511987654321", "+5511987654321", "+5511987654321"),
            ("+5511987654321x", "+5511987654321", "+5511987654321"),
            (
                "ligue+4915123456789agora",
                "+4915123456789",
                "+4915123456789",
            ),
            (
                "/search?q=%2B5511987654321&page=1",
                "%2B5511987654321",
                "+5511987654321",
            ),
            (
                "https://wa.me/%2b5511987654321",
                "%2b5511987654321",
                "+5511987654321",
            ),
            (
                "q=maria.silva%40example.com&x=1",
                "maria.silva%40example.com",
                "maria.silva@example.com",
            ),
            (
                "mailto:Joao.Souza%40Empresa.com.br",
                "Joao.Souza%40Empresa.com.br",
                "joao.souza@empresa.com.br",
            ),
        ] {
            let found = scan(text);
            assert!(
                found.iter().any(|(_, r, n)| r == raw && n == norm),
                "{text}: {found:?}"
            );
        }
        // Still not values: identifiers, a `%2B` before what is no phone, base64-ish runs.
        for text in [
            "K-2024-118",
            "ref%2B12",
            "abc+12345678xyz9",
            "crm-BR-00077",
            "%2B123",
        ] {
            let found = scan(text);
            assert!(
                found.iter().all(|(k, _, _)| k != "phone"),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn identifiers_stay_unmatched() {
        let d = numeric_detectors();
        // (`abc+5511987654321` is a value: see values_glued_to_words_or_percent_encoded_are_found.)
        for text in [
            "K-2024-1187654",
            "5511987654321abc",
            "ab12345678901",
            "x(11) 98765-4321y",
        ] {
            assert!(found(&d, text).is_empty(), "{text}: {:?}", found(&d, text));
        }
    }
}
