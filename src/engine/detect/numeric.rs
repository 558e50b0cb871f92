//! Classification of "number-ish" runs: phone numbers, Brazilian CPF / CNPJ and payment cards.
//!
//! The caller (the detector) pre-filters text with a cheap regex and hands us maximal runs of
//! characters from `[0-9 space . - ( ) / +]` plus U+00A0. A run may hold zero, one or several
//! values. Because the proxy masks what we report, **false positives destroy useful data**
//! (order numbers, timestamps, prices, dates, ISBNs, tracking ids), so the classifier is built
//! around precision first and recall second.
//!
//! # Pipeline for one candidate span
//! 1. **Shape analysis** without allocation: digits go into a fixed stack buffer, digit groups
//!    and the separator between each pair of groups are recorded. Malformed shapes are rejected:
//!    `+` anywhere but at the start, unbalanced or nested parentheses, more than one punctuation
//!    character between two digit groups (`--`, `.-`), junk after the last digit, fewer than 8
//!    or more than 19 digits.
//! 2. **Global hard negatives** (nothing may match):
//!    * every digit identical (`00000000000`, `11111111111`) – placeholders, never real data;
//!    * IPv4 addresses, dotted version numbers (`9.36.989.6369`), the SSN layout 3-2-4;
//!    * thousands grouping `^\d{1,3}(\.\d{3})+$` (`1.234.567`, `123.456.789`) – amounts/counts;
//!    * a calendar date at the start (`yyyy-mm-dd`, `dd/mm/yyyy`, `dd.mm.yyyy`, `yyyy.mm.d-…`)
//!      with plausible year (1900..=2099), month and day – dates and date-prefixed ids;
//!    * a year-prefixed reference (`2025-000123`, `2024/118`);
//!    * a valid ISBN-13 (`978`/`979` + checksum) and a hyphenated ISBN-10 with valid checksum.
//! 3. **Formatted CNPJ / CPF** (`dd.ddd.ddd/dddd-dd`, `ddd.ddd.ddd-dd`): this layout is
//!    unambiguous, so it decides alone – check digits valid → CNPJ/CPF, otherwise nothing (it is
//!    never re-interpreted as a phone).
//! 4. **Phones** (8..=15 digits), validated by libphonenumber (`phonenumber` crate):
//!    * `+…` or `00…` → international parse, must be *valid* (not merely possible).
//!    * bare digits (no separators) need 10..=15 digits, because short bare digit strings are
//!      overwhelmingly ids. 10/13-digit strings starting with `1` are Unix timestamps (seconds /
//!      milliseconds) and rejected. Order: international parse whose calling code belongs to a
//!      configured region; then a national parse in each configured region, accepted when
//!      libphonenumber types it MOBILE / FIXED_LINE_OR_MOBILE (not in the regions whose
//!      numbers are written with their trunk `0`, `WRITTEN_WITH_TRUNK`, unless it has it), or
//!      a personal type with the trunk prefix `0`.
//!    * the label before the run ([`Label`], `context.rs`) moves that line: after a phone label
//!      (`tel`, `celular`, `Handy`) 8-9 digits, landlines, numbers without their trunk `0` and
//!      any country's international number without `+` are phones; after a reference label
//!      (`Pedido`, `Bestellnummer`) only a configured region's number with its country code, or
//!      a national one in brackets or with its trunk `0`, is.
//!    * formatted national numbers are parsed in every configured region; when several regions
//!      accept the digits, the region whose own national formatting puts group boundaries at
//!      the same places as the input wins (`(415) 555-2671` is US, not the valid-but-wrongly
//!      grouped Brazilian landline `(41) 5555-2671`). Ties go to the earlier region. As a last
//!      resort a formatted number is read as international without `+` when its first group is
//!      exactly the country calling code (`55 11 98765-4321`).
//!    * Brazilian legacy mobiles: `55` + DDD + 8 digits starting 6-9 (12 digits) is the
//!      pre-2016 form of a mobile; a `9` is inserted so both forms normalise to the same E.164.
//! 5. **Bare CPF (11) / CNPJ (14)** when no phone was found: mod-11 check digits must hold.
//! 6. **Cards**: 13..=19 digits, bare or grouped by single spaces or single dashes (one kind
//!    of separator, groups of 3..=8 digits), Luhn valid *and* a real issuer prefix with a length
//!    that issuer actually uses (Visa, Mastercard incl. 2-series, Amex, Discover, JCB, Diners,
//!    Maestro). The issuer/length table removes ~90% of Luhn-valid random ids.
//!
//! Precedence is applied among the kinds the caller enabled only.
//!
//! # Splitting
//! A run laid out as a card that is not one (bad Luhn, unknown issuer), a boleto line or a
//! printed access key is not split. Otherwise, if the whole run is not a value, it is split on
//! whitespace into groups and, left to right,
//! the longest span of at most 8 consecutive groups (`MAX_SPLIT_GROUPS`) that classifies is taken;
//! scanning continues after it. Spans are trimmed of leading/trailing punctuation and of an
//! unbalanced edge parenthesis.

use super::context::Label;
use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};

/// Which numeric kinds the caller wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NumericKinds {
    pub phone: bool,
    pub cpf: bool,
    pub cnpj: bool,
    pub card: bool,
    /// The label before the run: a phone label lets in national numbers typed without
    /// separators or trunk prefix and bare international numbers of any country; after a
    /// reference label (`Pedido`, `Bestellnummer`) only a number with its `+` or a
    /// configured region's country code is a phone.
    pub label: Label,
}

impl NumericKinds {
    fn any(self) -> bool {
        self.phone || self.cpf || self.cnpj || self.card
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericKind {
    Phone,
    Cpf,
    Cnpj,
    Card,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumericMatch {
    /// Byte range inside the `run` given to `classify` (covers the value including its own
    /// separators/parentheses/leading '+', but not surrounding spaces).
    pub start: usize,
    pub end: usize,
    pub kind: NumericKind,
    /// Canonical form: phones as E.164 "+5511987654321"; CPF/CNPJ/card as bare digits.
    pub normalized: String,
}

/// Maximum number of whitespace-separated groups a single value may span when splitting.
const MAX_SPLIT_GROUPS: usize = 8;
/// Longest value we care about (payment cards go up to 19 digits).
const MAX_DIGITS: usize = 19;
/// Fewer digits than this is never a value, but for an international number with its `+`.
const MIN_DIGITS: usize = 8;
/// The fewest digits of an international number (`+683 7012`).
const MIN_INTERNATIONAL_DIGITS: usize = 7;

/// Regions whose national numbers people write with the trunk prefix `0` (Germany's
/// `0151 23456789`, Indonesia's `0812-3456-7890`, the UK's `07700 900123`…), unlike
/// Brazil's `11 98765-4321` or India's `98765 43210`.
const WRITTEN_WITH_TRUNK: &[&str] = &[
    "DE", "AT", "CH", "GB", "ID", "FR", "NL", "BE", "TR", "ZA", "AU", "NZ", "PH", "MY", "TH", "JP",
    "KR", "CN", "EG", "NG", "PK", "BD", "VN", "UA", "IE", "SE", "FI",
];

const DEFAULT_REGIONS: &[&str] = &["BR", "DE", "PT", "IN", "ID", "CO", "US", "GB", "ES", "MX"];

pub struct NumericClassifier {
    regions: Vec<Id>,
    /// Country calling codes of the configured regions.
    region_codes: Vec<u16>,
    /// Every country calling code known to libphonenumber (sorted).
    known_codes: Vec<u16>,
}

impl std::fmt::Debug for NumericClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumericClassifier")
            .field("regions", &self.regions)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Shape analysis
// ---------------------------------------------------------------------------------------------

/// Separator between two digit groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    Space,
    Dot,
    Dash,
    Slash,
}

/// Allocation-free description of a candidate span.
struct Shape {
    digits: [u8; MAX_DIGITS],
    n: usize,
    plus: bool,
    paren: bool,
    /// Index of the digit group enclosed in parentheses, if any.
    paren_group: Option<usize>,
    group_len: [u8; MAX_DIGITS],
    /// `seps[i]` separates group `i` and `i + 1`.
    seps: [Sep; MAX_DIGITS],
    /// Whether the gap after group `i` is exactly one character.
    single_gap: [bool; MAX_DIGITS],
    ngroups: usize,
}

impl Shape {
    fn digits(&self) -> &[u8] {
        &self.digits[..self.n]
    }

    fn digit_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(self.digits()).unwrap_or("")
    }

    fn groups(&self) -> &[u8] {
        &self.group_len[..self.ngroups]
    }

    fn seps(&self) -> &[Sep] {
        &self.seps[..self.ngroups.saturating_sub(1)]
    }

    fn bare(&self) -> bool {
        self.ngroups == 1
    }

    /// Numeric value of digit group `g`.
    fn group_value(&self, g: usize) -> u32 {
        let start: usize = self.group_len[..g].iter().map(|&l| l as usize).sum();
        let len = self.group_len[g] as usize;
        digits_value(&self.digits[start..start + len])
    }

    fn layout_is(&self, groups: &[u8], seps: &[Sep]) -> bool {
        !self.plus && !self.paren && self.groups() == groups && self.seps() == seps
    }

    /// Group boundaries expressed as "number of digits after the boundary"; measuring from the
    /// end makes them independent of an optional trunk prefix / country code at the front.
    fn suffix_boundaries(&self, out: &mut [u8; MAX_DIGITS]) -> usize {
        let mut k = 0;
        let mut after = self.n;
        for &l in &self.group_len[..self.ngroups.saturating_sub(1)] {
            after -= l as usize;
            out[k] = after as u8;
            k += 1;
        }
        k
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\u{a0}'
}

fn digits_value(d: &[u8]) -> u32 {
    d.iter()
        .take(9)
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

/// Analyse `s`; `None` when the shape is malformed or the digit count is out of range.
fn analyse(s: &str) -> Option<Shape> {
    let mut sh = Shape {
        digits: [0; MAX_DIGITS],
        n: 0,
        plus: false,
        paren: false,
        paren_group: None,
        group_len: [0; MAX_DIGITS],
        seps: [Sep::Space; MAX_DIGITS],
        single_gap: [true; MAX_DIGITS],
        ngroups: 0,
    };
    let mut in_group = false;
    let mut open_paren = false;
    // Gap state (characters between two digit groups).
    let mut gap_punct: Option<Sep> = None;
    let mut gap_chars = 0usize;
    let mut gap_spaces = 0usize;
    let mut seen_any = false;

    for c in s.chars() {
        match c {
            '0'..='9' => {
                if sh.n == MAX_DIGITS {
                    return None;
                }
                if !in_group {
                    if sh.ngroups == MAX_DIGITS {
                        return None;
                    }
                    if sh.ngroups > 0 {
                        let g = sh.ngroups - 1;
                        sh.seps[g] = gap_punct.unwrap_or(Sep::Space);
                        sh.single_gap[g] = gap_chars == 1;
                    }
                    sh.ngroups += 1;
                    in_group = true;
                    gap_punct = None;
                    gap_chars = 0;
                    gap_spaces = 0;
                }
                sh.digits[sh.n] = c as u8;
                sh.n += 1;
                sh.group_len[sh.ngroups - 1] += 1;
            }
            '+' => {
                if seen_any {
                    return None;
                }
                sh.plus = true;
            }
            '(' => {
                // "+55(11)…": a parenthesis may touch the country code directly.
                let touches_cc = in_group && sh.plus && sh.ngroups == 1;
                if sh.paren || (in_group && !touches_cc) || gap_punct.is_some() {
                    return None;
                }
                if touches_cc {
                    in_group = false;
                    gap_chars = 0;
                }
                sh.paren = true;
                open_paren = true;
                sh.paren_group = Some(sh.ngroups);
                if sh.ngroups > 0 {
                    gap_chars += 1;
                }
            }
            ')' => {
                // Must close the group that was opened right after '('.
                if !open_paren || !in_group || sh.paren_group != Some(sh.ngroups - 1) {
                    return None;
                }
                open_paren = false;
                in_group = false;
                gap_chars += 1;
            }
            c if is_space(c) => {
                if sh.ngroups == 0 {
                    // "+ 55" / "( 11" – not a layout we accept.
                    return None;
                }
                in_group = false;
                gap_spaces += 1;
                gap_chars += 1;
                if gap_spaces > 2 {
                    return None;
                }
            }
            '.' | '-' | '/' => {
                if sh.ngroups == 0 || gap_punct.is_some() || open_paren {
                    return None;
                }
                in_group = false;
                gap_punct = Some(match c {
                    '.' => Sep::Dot,
                    '-' => Sep::Dash,
                    _ => Sep::Slash,
                });
                gap_chars += 1;
            }
            _ => return None,
        }
        seen_any = true;
    }
    // Must end with a digit or the closing parenthesis; parentheses must be balanced.
    if open_paren || gap_punct.is_some() || gap_spaces > 0 {
        return None;
    }
    // The smallest numbering plans (Niue, Tokelau, Tristan da Cunha) have 4-digit numbers:
    // written with their `+` and country code, seven digits are a phone number.
    if sh.n < MIN_DIGITS && !(sh.plus && sh.n == MIN_INTERNATIONAL_DIGITS) {
        return None;
    }
    Some(sh)
}

// ---------------------------------------------------------------------------------------------
// Hard negatives
// ---------------------------------------------------------------------------------------------

fn all_same_digit(d: &[u8]) -> bool {
    d.iter().all(|&b| b == d[0])
}

/// `151.191.82.219`: four dotted groups of at most three digits, each at most 255.
fn is_ipv4(sh: &Shape) -> bool {
    !sh.plus
        && !sh.paren
        && sh.ngroups == 4
        && sh.seps().iter().all(|&s| s == Sep::Dot)
        && (0..4).all(|g| sh.group_len[g] <= 3 && sh.group_value(g) <= 255)
}

/// `078-05-1120`, `078 00 1123`: three, two and four digits, the layout of a US Social
/// Security number, which no numbering plan writes its phones in.
fn is_ssn_layout(sh: &Shape) -> bool {
    !sh.plus && !sh.paren && sh.groups() == [3, 2, 4]
}

/// `9.36.989.6369`, `18.14.618.3994`: four or more dotted groups after a one- or two-digit
/// first one, a version or build number.
fn is_dotted_version(sh: &Shape) -> bool {
    !sh.plus
        && !sh.paren
        && sh.ngroups >= 4
        && sh.seps().iter().all(|&s| s == Sep::Dot)
        && sh.group_len[0] <= 2
}

/// A run laid out as a payment card (four groups of four digits, Amex's 4-6-5, 19 digits
/// as 4-4-4-4-3) that is not a card (its Luhn check fails, an unknown issuer): a mistyped
/// card or a card-like reference, and in either case not a phone number in its last groups.
fn is_card_lookalike(sh: &Shape) -> bool {
    let groups = sh.groups();
    let layout = matches!(groups, [4, 4, 4, 4] | [4, 6, 5] | [4, 4, 4, 4, 3]);
    !sh.plus && !sh.paren && layout && card_layout_ok(sh)
}

/// `^\d{1,3}(\.\d{3})+$`
fn is_thousands_grouping(sh: &Shape) -> bool {
    !sh.plus
        && !sh.paren
        && sh.ngroups >= 2
        && sh.seps().iter().all(|&s| s == Sep::Dot)
        && (1..=3).contains(&sh.group_len[0])
        && sh.groups()[1..].iter().all(|&l| l == 3)
}

/// A calendar date at the start of the span: `yyyy-mm-dd`, `dd/mm/yyyy`, `dd.mm.yyyy`, …
fn starts_with_date(sh: &Shape) -> bool {
    if sh.plus || sh.ngroups < 3 {
        return false;
    }
    let (s0, s1) = (sh.seps[0], sh.seps[1]);
    if s0 != s1 || s0 == Sep::Space {
        return false;
    }
    let (l0, l1, l2) = (sh.group_len[0], sh.group_len[1], sh.group_len[2]);
    let year = |v: u32| (1900..=2099).contains(&v);
    let month = |v: u32| (1..=12).contains(&v);
    let day = |v: u32| (1..=31).contains(&v);
    if l0 == 4 && (1..=2).contains(&l1) && (1..=2).contains(&l2) {
        return year(sh.group_value(0)) && month(sh.group_value(1)) && day(sh.group_value(2));
    }
    if (1..=2).contains(&l0) && (1..=2).contains(&l1) && l2 == 4 {
        let (a, b) = (sh.group_value(0), sh.group_value(1));
        return year(sh.group_value(2)) && ((day(a) && month(b)) || (month(a) && day(b)));
    }
    false
}

fn is_isbn13(d: &[u8]) -> bool {
    (d.starts_with(b"978") || d.starts_with(b"979")) && is_ean13(d)
}

/// 13 digits with a valid EAN-13 (GTIN) check digit.
fn is_ean13(d: &[u8]) -> bool {
    if d.len() != 13 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    matches!(sum % 10, 0) // (not `is_multiple_of`: crate MSRV is 1.85)
}

fn is_hyphenated_isbn10(sh: &Shape) -> bool {
    if sh.n != 10 || sh.ngroups != 4 || sh.plus || sh.paren {
        return false;
    }
    if !sh.seps().iter().all(|&s| s == Sep::Dash) {
        return false;
    }
    let sum: u32 = sh
        .digits()
        .iter()
        .enumerate()
        .map(|(i, &b)| u32::from(b - b'0') * (10 - i as u32))
        .sum();
    matches!(sum % 11, 0)
}

/// A year-prefixed reference (`2025-000123`, `2024/118`): a 4-digit year, a dash or slash,
/// then more digits. Phones in the supported regions never start that way (national
/// numbers begin with a trunk `0`, a 2-3 digit area code, or a short group).
fn is_year_prefixed_reference(sh: &Shape) -> bool {
    !sh.plus
        && !sh.paren
        && sh.ngroups >= 2
        && sh.group_len[0] == 4
        && (1900..=2099).contains(&sh.group_value(0))
        && matches!(sh.seps[0], Sep::Dash | Sep::Slash)
}

fn is_hard_negative(sh: &Shape) -> bool {
    all_same_digit(sh.digits())
        || is_ssn_layout(sh)
        || is_ipv4(sh)
        || is_dotted_version(sh)
        || is_thousands_grouping(sh)
        || starts_with_date(sh)
        || is_year_prefixed_reference(sh)
        || (!sh.plus && is_isbn13(sh.digits()))
        || is_hyphenated_isbn10(sh)
}

/// A 44-digit NF-e / CT-e access key (or similar barcode) printed as groups of four digits:
/// its 4-digit chunks would otherwise be re-read as German/Indian landlines when splitting.
fn is_printed_access_key(run: &str) -> bool {
    let mut digits = 0usize;
    for tok in run.split(is_space).filter(|t| !t.is_empty()) {
        if tok.len() != 4 || !tok.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        digits += 4;
    }
    digits >= 40
}

/// A boleto's "linha digitável" (a payment slip, not PII: customers paste them to pay, and
/// a mangled one cannot be paid): 47 digits of a bank slip whose three fields carry their
/// mod-10 check digits (`23793.38128 60000.000003 00000.000400 1 84340000010000`), or 48
/// digits of a collection slip (`8…`) in four blocks of 11 digits and a check digit.
fn is_boleto_line(run: &str) -> bool {
    let mut d = [0u8; 48];
    let mut n = 0;
    for b in run.bytes() {
        if b.is_ascii_digit() {
            if n == d.len() {
                return false;
            }
            d[n] = b;
            n += 1;
        } else if !matches!(b, b' ' | b'.' | b'-' | b'(' | b')') {
            return false;
        }
    }
    let d = &d[..n];
    // Febraban's module 10 is Luhn's: a field and its digit pass `luhn_valid` together.
    match n {
        47 => [(0, 9), (10, 20), (21, 31)]
            .iter()
            .all(|&(from, dv)| luhn_valid(&d[from..=dv])),
        48 if d[0] == b'8' => match d[2] {
            b'6' | b'7' => d.chunks_exact(12).all(luhn_valid),
            b'8' | b'9' => d
                .chunks_exact(12)
                .all(|b| mod11_collection(&b[..11]) == b[11] - b'0'),
            _ => false,
        },
        _ => false,
    }
}

/// Febraban's module 11 of a collection slip's blocks (ASCII digits): weights 2 to 9 from
/// the right.
fn mod11_collection(d: &[u8]) -> u8 {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &v)| u32::from(v - b'0') * (2 + (i as u32 % 8)))
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

// ---------------------------------------------------------------------------------------------
// CPF / CNPJ / card checksums
// ---------------------------------------------------------------------------------------------

fn cpf_valid(d: &[u8]) -> bool {
    if d.len() != 11 || all_same_digit(d) {
        return false;
    }
    let dv = |len: usize| -> u8 {
        let sum: u32 = d[..len]
            .iter()
            .enumerate()
            .map(|(i, &b)| u32::from(b - b'0') * (len as u32 + 1 - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 {
            0
        } else {
            r as u8
        }
    };
    dv(9) == d[9] - b'0' && dv(10) == d[10] - b'0'
}

fn cnpj_valid(d: &[u8]) -> bool {
    const W1: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const W2: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    if d.len() != 14 || all_same_digit(d) {
        return false;
    }
    let dv = |w: &[u32]| -> u8 {
        let sum: u32 = w
            .iter()
            .zip(d)
            .map(|(&w, &b)| w * u32::from(b - b'0'))
            .sum();
        let r = sum % 11;
        if r < 2 {
            0
        } else {
            (11 - r) as u8
        }
    };
    dv(&W1) == d[12] - b'0' && dv(&W2) == d[13] - b'0'
}

fn luhn_valid(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let v = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = v * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                v
            }
        })
        .sum();
    matches!(sum % 10, 0) // (not `is_multiple_of`: crate MSRV is 1.85)
}

/// Real issuer prefix with a length that issuer issues.
fn card_issuer_ok(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| digits_value(&d[..k]);
    let (p2, p3, p4) = (p(2), p(3), p(4));
    let visa = d[0] == b'4' && matches!(n, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16;
    let amex = (p2 == 34 || p2 == 37) && n == 15;
    let discover = (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && (16..=19).contains(&n);
    let jcb = ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        || ((p4 == 1800 || p4 == 2131) && n == 15);
    let diners = ((300..=305).contains(&p3) || p2 == 36 || p2 == 38) && (14..=19).contains(&n);
    let maestro = (p2 == 50 || (56..=69).contains(&p2)) && (12..=19).contains(&n);
    let mir = (2200..=2204).contains(&p4) && (16..=19).contains(&n);
    let uatp = d[0] == b'1' && n == 15;
    // Korean domestic cards (BC Card's 94 range).
    let korean = p2 == 94 && n == 16;
    visa || mastercard || amex || discover || jcb || diners || maestro || mir || uatp || korean
}

fn card_layout_ok(sh: &Shape) -> bool {
    if sh.plus || sh.paren {
        return false;
    }
    if sh.bare() {
        return true;
    }
    let first = sh.seps[0];
    (first == Sep::Space || first == Sep::Dash)
        && sh.seps().iter().all(|&s| s == first)
        && sh.single_gap[..sh.ngroups - 1].iter().all(|&g| g)
        && sh.groups().iter().all(|&l| (3..=8).contains(&l))
}

// ---------------------------------------------------------------------------------------------
// Phone helpers
// ---------------------------------------------------------------------------------------------

/// `55` + DDD + 8-digit subscriber starting 6-9 (pre-2016 mobile) → insert the ninth digit.
fn br_legacy_mobile(d: &[u8]) -> Option<[u8; 13]> {
    if d.len() == 12
        && d.starts_with(b"55")
        && (b'1'..=b'9').contains(&d[2])
        && (b'1'..=b'9').contains(&d[3])
        && (b'6'..=b'9').contains(&d[4])
    {
        let mut out = [0u8; 13];
        out[..4].copy_from_slice(&d[..4]);
        out[4] = b'9';
        out[5..].copy_from_slice(&d[4..]);
        Some(out)
    } else {
        None
    }
}

fn e164(pn: &PhoneNumber) -> String {
    pn.format().mode(Mode::E164).to_string()
}

/// Valid per libphonenumber and within the E.164 maximum of 15 digits (libphonenumber accepts
/// some very long German fixed-line numbers that are usually two values glued together).
fn accept(pn: &PhoneNumber) -> Option<String> {
    if !pn.is_valid() {
        return None;
    }
    let s = e164(pn);
    (s.len() <= 16).then_some(s)
}

/// Ofcom ranges reserved for drama / documentation (07700 900xxx, 020 7946 0xxx). They are not
/// "valid" in libphonenumber's metadata but appear in sample and test data, and must normalise
/// to +44 rather than be mistaken for another region. `nsn` excludes the trunk '0'.
fn gb_fictional(nsn: &[u8]) -> bool {
    nsn.len() == 10 && (nsn.starts_with(b"7700900") || nsn.starts_with(b"2079460"))
}

fn gb_e164(nsn: &[u8]) -> String {
    let mut s = String::with_capacity(13);
    s.push_str("+44");
    s.extend(nsn.iter().map(|&b| b as char));
    s
}

/// A valid international number: its E.164 form and calling code.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Intl {
    e164: String,
    code: u16,
}

thread_local! {
    /// libphonenumber's verdicts on international digit strings, per worker thread (no
    /// lock): inbox traffic repeats the same contacts' numbers across responses, and a
    /// parse costs microseconds. Bounded ([`Memo`](crate::cache::memo::Memo)).
    static INTL_CACHE: std::cell::RefCell<crate::cache::memo::Memo<u64, Option<Intl>>> =
        std::cell::RefCell::new(crate::cache::memo::Memo::new(INTL_CACHE_ENTRIES, crate::cache::stats::Cache::Numbers));
}

const INTL_CACHE_ENTRIES: usize = 16384;

/// Forgets the cached verdicts of this thread (benchmarks measure cold parses with it).
pub(crate) fn clear_thread_cache() {
    INTL_CACHE.with(|c| c.borrow_mut().clear());
}

/// Parse `digits` (country code first, no '+') as an international number; must be valid.
fn parse_international(digits: &[u8]) -> Option<Intl> {
    if !(MIN_DIGITS..=15).contains(&digits.len()) {
        return None;
    }
    // Up to 15 digits fit in a u64 with the length in the top byte (leading zeros differ).
    let key = digits
        .iter()
        .fold(0u64, |k, &b| k * 10 + u64::from(b - b'0'))
        | (digits.len() as u64) << 56;
    if let Some(hit) = INTL_CACHE.with(|c| c.borrow_mut().get_with(&key, |v| Some(v.clone()))) {
        return hit;
    }
    let verdict = parse_international_uncached(digits);
    INTL_CACHE.with(|c| c.borrow_mut().insert(key, verdict.clone()));
    verdict
}

fn parse_international_uncached(digits: &[u8]) -> Option<Intl> {
    let legacy = br_legacy_mobile(digits);
    let d: &[u8] = match &legacy {
        Some(l) => l,
        None => digits,
    };
    let mut buf = String::with_capacity(d.len() + 1);
    buf.push('+');
    buf.push_str(std::str::from_utf8(d).ok()?);
    let pn = phonenumber::parse(None, &buf).ok()?;
    accept(&pn)?;
    Some(Intl {
        e164: e164(&pn),
        code: pn.code().value(),
    })
}

/// In [`possible_lengths`]: the plan's numbers may begin with a 0 (its example numbers do).
const LEADING_ZERO_BIT: u32 = 31;

/// National-number lengths libphonenumber deems possible, per calling code (bit `n` set:
/// `n` digits are possible; [`LEADING_ZERO_BIT`]: numbers may begin with a 0).
fn possible_lengths() -> &'static [u32; 1000] {
    static TABLE: std::sync::OnceLock<[u32; 1000]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 1000];
        for meta in DATABASE.iter() {
            let code = usize::from(meta.country_code());
            let d = meta.descriptors();
            // This crate keeps the lengths per number type (the general descriptor's list
            // is empty): the union of the types a subscriber can have.
            let types = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.standard_rate(),
            ];
            for len in types
                .into_iter()
                .flatten()
                .flat_map(|t| t.possible_length())
            {
                if u32::from(*len) < LEADING_ZERO_BIT {
                    t[code] |= 1 << len;
                }
            }
            let personal = [d.fixed_line(), d.mobile()];
            if personal
                .into_iter()
                .flatten()
                .any(|t| t.example().is_some_and(|e| e.starts_with('0')))
            {
                t[code] |= 1 << LEADING_ZERO_BIT;
            }
        }
        t
    })
}

/// International digits (after '+' / '00') → E.164.
///
/// An explicit `+` (or `00`) says "this is a phone number", so these get libphonenumber's
/// *possible number* test (a known calling code, a national number of a length the
/// country uses: its `isPossibleNumber`), not the full per-type pattern validation that
/// bare digit runs need; the full parse costs microseconds per number.
fn international_e164(digits: &[u8]) -> Option<String> {
    if digits.starts_with(b"44") && gb_fictional(&digits[2..]) {
        return Some(gb_e164(&digits[2..]));
    }
    if !(MIN_INTERNATIONAL_DIGITS..=15).contains(&digits.len()) || digits[0] == b'0' {
        return None;
    }
    let digits: std::borrow::Cow<'_, [u8]> = match br_legacy_mobile(digits) {
        Some(l) => std::borrow::Cow::Owned(l.to_vec()),
        None => std::borrow::Cow::Borrowed(digits),
    };
    let table = possible_lengths();
    // Calling codes are prefix-free: the first known prefix is the code.
    let (cc_len, mask) = (1..=3)
        .map(|k| (k, table[digits_value(&digits[..k]) as usize]))
        .find(|(_, mask)| *mask != 0)?;
    let nsn = digits.len() - cc_len;
    if nsn >= LEADING_ZERO_BIT as usize || mask & (1 << nsn) == 0 {
        return None;
    }
    // After the calling code a national number does not start with its trunk `0`, but in
    // the plans whose numbers begin with a 0 (Italy, Côte d'Ivoire, Benin, Gabon, Congo,
    // San Marino).
    if digits[cc_len] == b'0' && mask & (1 << LEADING_ZERO_BIT) == 0 {
        return None;
    }
    let mut out = String::with_capacity(digits.len() + 1);
    out.push('+');
    out.push_str(std::str::from_utf8(&digits).ok()?);
    Some(out)
}

/// Is this number type something a person answers (as opposed to toll-free, premium, shared
/// cost, UAN, …)? Used to rank competing regions.
fn personal_type(t: Type) -> bool {
    matches!(
        t,
        Type::Mobile | Type::FixedLine | Type::FixedLineOrMobile | Type::PersonalNumber
    )
}

/// Suffix boundaries (digits after each group boundary) of a formatted string.
fn format_suffix_boundaries(formatted: &str, out: &mut [u8; MAX_DIGITS]) -> usize {
    let total = formatted.bytes().filter(u8::is_ascii_digit).count();
    let mut k = 0;
    let mut seen = 0usize;
    let mut prev_digit = false;
    for b in formatted.bytes() {
        if b.is_ascii_digit() {
            if !prev_digit && seen > 0 && k < MAX_DIGITS {
                out[k] = (total - seen) as u8;
                k += 1;
            }
            seen += 1;
            prev_digit = true;
        } else {
            prev_digit = false;
        }
    }
    k
}

impl NumericClassifier {
    /// `regions`: ISO 3166 alpha-2 codes, e.g. ["BR","DE","PT","IN","ID","CO","US","GB","ES","MX"].
    /// Unknown code -> Err(message naming the code).
    pub fn new(regions: &[&str]) -> Result<Self, String> {
        let mut ids = Vec::with_capacity(regions.len());
        let mut region_codes = Vec::with_capacity(regions.len());
        for &r in regions {
            let upper = r.trim().to_ascii_uppercase();
            let id: Id = upper
                .parse()
                .map_err(|_| format!("unknown phone region code {r:?}"))?;
            let meta = DATABASE
                .by_id(id.as_ref())
                .ok_or_else(|| format!("no phone metadata for region code {r:?}"))?;
            if !ids.contains(&id) {
                ids.push(id);
                region_codes.push(meta.country_code());
            }
        }
        let mut known_codes: Vec<u16> = DATABASE.iter().map(|m| m.country_code()).collect();
        known_codes.sort_unstable();
        known_codes.dedup();
        Ok(Self {
            regions: ids,
            region_codes,
            known_codes,
        })
    }

    /// The default region list above.
    pub fn default_regions() -> &'static [&'static str] {
        DEFAULT_REGIONS
    }

    /// Classify one run. `run` is a maximal run of characters from the set
    /// [0-9 space . - ( ) / +] plus U+00A0 (no-break space), starting with '+', '(' or a digit and
    /// ending with a digit or ')'. It may contain zero, one or several values.
    /// Pushes every value found into `out` (not cleared), in order, non-overlapping.
    pub fn classify(&self, run: &str, kinds: NumericKinds, out: &mut Vec<NumericMatch>) {
        if !kinds.any() {
            return;
        }
        if let Some(m) = self.classify_span(run, 0, run.len(), kinds) {
            out.push(m);
            return;
        }
        if !run.chars().any(is_space)
            || is_printed_access_key(run)
            || is_boleto_line(run)
            || analyse(run.trim_start_matches('(').trim_end_matches(')'))
                .is_some_and(|sh| is_card_lookalike(&sh))
        {
            return;
        }
        // Whitespace-separated groups (byte ranges); a bracket glued to the digits before it
        // opens a group too (`+55 11 98765-4321(11) 98765-4321`: two numbers).
        let mut toks: Vec<(usize, usize)> = Vec::new();
        let mut start: Option<usize> = None;
        let mut prev = ' ';
        for (i, c) in run.char_indices() {
            if is_space(c) {
                if let Some(s) = start.take() {
                    toks.push((s, i));
                }
            } else if c == '(' && prev.is_ascii_digit() {
                if let Some(s) = start.replace(i) {
                    toks.push((s, i));
                }
            } else if start.is_none() {
                start = Some(i);
            }
            prev = c;
        }
        if let Some(s) = start {
            toks.push((s, run.len()));
        }
        let mut i = 0;
        while i < toks.len() {
            let jmax = (i + MAX_SPLIT_GROUPS).min(toks.len());
            let mut next = i + 1;
            let mut found = false;
            for j in (i + 1..=jmax).rev() {
                if i == 0 && j == toks.len() {
                    continue; // the whole run was already tried
                }
                if let Some(m) = self.classify_span(run, toks[i].0, toks[j - 1].1, kinds) {
                    out.push(m);
                    next = j;
                    found = true;
                    break;
                }
            }
            if !found && run[toks[i].0..].starts_with('+') {
                // A '+' number that failed validation: its tail must not be re-read as a
                // national number ("+44 1234 567890" is not the German "1234 567890").
                while next < toks.len() && !run[toks[next].0..].starts_with('+') {
                    next += 1;
                }
            }
            i = next;
        }
    }

    /// A JID user part or wa_id: digits of an international number without '+'.
    /// Returns E.164 if it is plausibly a phone (7..=15 digits, a known country calling code).
    /// Lenient (no full validity check) but applies the Brazilian legacy normalisation.
    pub fn whatsapp_digits(&self, digits: &str) -> Option<String> {
        let d = digits.as_bytes();
        if !(7..=15).contains(&d.len()) || !d.iter().all(u8::is_ascii_digit) || d[0] == b'0' {
            return None;
        }
        let known = (1..=3).any(|k| {
            d.len() > k + 3
                && self
                    .known_codes
                    .binary_search(&(digits_value(&d[..k]) as u16))
                    .is_ok()
        });
        if !known {
            return None;
        }
        let mut out = String::with_capacity(17);
        out.push('+');
        match br_legacy_mobile(d) {
            Some(l) => out.push_str(std::str::from_utf8(&l).ok()?),
            None => out.push_str(digits),
        }
        Some(out)
    }

    /// Trim a span to a plausible value and classify it.
    fn classify_span(
        &self,
        run: &str,
        mut start: usize,
        mut end: usize,
        kinds: NumericKinds,
    ) -> Option<NumericMatch> {
        let bytes = run.as_bytes();
        // Leading junk: anything that cannot start a value (all such chars are ASCII, except
        // NBSP which is never at a token edge after splitting; trim it too).
        while start < end {
            let c = run[start..end].chars().next()?;
            if c == '+' || c == '(' || c.is_ascii_digit() {
                break;
            }
            start += c.len_utf8();
        }
        while end > start {
            let c = run[start..end].chars().next_back()?;
            if c == ')' || c.is_ascii_digit() {
                break;
            }
            end -= c.len_utf8();
        }
        if start >= end {
            return None;
        }
        let span = &run[start..end];
        let has_open = span.contains('(');
        let has_close = span.contains(')');
        if bytes[start] == b'(' && !has_close {
            start += 1;
        }
        if bytes[end - 1] == b')' && !has_open {
            end -= 1;
        }
        if start >= end {
            return None;
        }
        if run[start..end].starts_with("(+") {
            // `(+44 (20) 7123 4567)`: a bracket around a number whose own brackets come
            // later, unless it closes round the country code (`(+57) 300 1234567`).
            let code_closed = run[start + 2..end].find(')').is_some_and(|c| {
                (1..=3).contains(&c)
                    && run[start + 2..start + 2 + c]
                        .bytes()
                        .all(|b| b.is_ascii_digit())
            });
            if !code_closed {
                start += 1;
            }
        }
        let mut result = self.classify_value(&run[start..end], kinds);
        if result.is_none() && end - start > 2 && bytes[start] == b'(' && bytes[end - 1] == b')' {
            // "(11 98765-4321)": parentheses around the whole value.
            start += 1;
            end -= 1;
            result = self.classify_value(&run[start..end], kinds);
        }
        let (kind, normalized) = result?;
        Some(NumericMatch {
            start,
            end,
            kind,
            normalized,
        })
    }

    /// Decide what a single candidate value is.
    fn classify_value(&self, s: &str, kinds: NumericKinds) -> Option<(NumericKind, String)> {
        // `(+57) 300 1234567`: the country code in brackets is the `+57` of the number.
        if let Some(rest) = s.strip_prefix("(+") {
            let close = rest.find(')')?;
            let cc = &rest[..close];
            if !(1..=3).contains(&cc.len()) || !cc.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let number = format!("+{cc} {}", rest[close + 1..].trim_start());
            return self
                .classify_value(&number, kinds)
                .filter(|(k, _)| *k == NumericKind::Phone);
        }
        let sh = analyse(s)?;
        if is_hard_negative(&sh) {
            return None;
        }
        let d = sh.digits();

        // Unambiguous Brazilian document layouts decide alone.
        const CNPJ_G: [u8; 5] = [2, 3, 3, 4, 2];
        const CNPJ_S: [Sep; 4] = [Sep::Dot, Sep::Dot, Sep::Slash, Sep::Dash];
        if sh.layout_is(&CNPJ_G, &CNPJ_S) {
            return (kinds.cnpj && cnpj_valid(d))
                .then(|| (NumericKind::Cnpj, sh.digit_str().to_owned()));
        }
        const CPF_G: [u8; 4] = [3, 3, 3, 2];
        const CPF_S: [Sep; 3] = [Sep::Dot, Sep::Dot, Sep::Dash];
        if sh.layout_is(&CPF_G, &CPF_S) {
            return (kinds.cpf && cpf_valid(d))
                .then(|| (NumericKind::Cpf, sh.digit_str().to_owned()));
        }

        // `529982247-25`, `16.727.230.0001-97`: other ways people write them.
        const CPF_DASH_G: [u8; 2] = [9, 2];
        if sh.layout_is(&CPF_DASH_G, &[Sep::Dash]) {
            return (kinds.cpf && cpf_valid(d))
                .then(|| (NumericKind::Cpf, sh.digit_str().to_owned()));
        }
        const CNPJ_DOTS_S: [Sep; 4] = [Sep::Dot, Sep::Dot, Sep::Dot, Sep::Dash];
        if sh.layout_is(&CNPJ_G, &CNPJ_DOTS_S) {
            return (kinds.cnpj && cnpj_valid(d))
                .then(|| (NumericKind::Cnpj, sh.digit_str().to_owned()));
        }
        // A bare run whose check digits hold is that document, before it is read as a
        // phone: an 11-digit run passes the CPF check by chance once in a hundred, a CPF
        // read as a phone gets the phone's policy (reversible, partly shown) every time.
        let plain = sh.bare() && !sh.plus && !sh.paren;
        if kinds.cpf && plain && sh.n == 11 && cpf_valid(d) {
            return Some((NumericKind::Cpf, sh.digit_str().to_owned()));
        }
        if kinds.cnpj && plain && sh.n == 14 && cnpj_valid(d) {
            return Some((NumericKind::Cnpj, sh.digit_str().to_owned()));
        }
        if kinds.phone && sh.n <= 15 {
            if let Some(p) = self.phone(&sh, kinds.label) {
                return Some((NumericKind::Phone, p));
            }
        }
        if kinds.card
            && (12..=19).contains(&sh.n)
            && card_layout_ok(&sh)
            && luhn_valid(d)
            && card_issuer_ok(d)
        {
            return Some((NumericKind::Card, sh.digit_str().to_owned()));
        }
        None
    }

    fn phone(&self, sh: &Shape, label: Label) -> Option<String> {
        let d = sh.digits();
        if sh.plus {
            // "+44 (0) 7700 900123": the parenthesised trunk zero is not dialled internationally.
            if sh.paren_group == Some(1)
                && sh.group_len[1] == 1
                && d[sh.group_len[0] as usize] == b'0'
            {
                let cut = sh.group_len[0] as usize;
                let mut buf = [0u8; MAX_DIGITS];
                buf[..cut].copy_from_slice(&d[..cut]);
                buf[cut..sh.n - 1].copy_from_slice(&d[cut + 1..]);
                if let Some(p) = international_e164(&buf[..sh.n - 1]) {
                    return Some(p);
                }
            }
            return international_e164(d);
        }
        if d.starts_with(b"00") && !sh.paren {
            // International call prefix "00".
            return international_e164(&d[2..]);
        }
        if d[0] == b'0' && gb_fictional(&d[1..]) && self.regions.contains(&Id::GB) {
            return Some(gb_e164(&d[1..]));
        }
        if sh.bare() {
            return self.bare_phone(sh, label);
        }
        // After a reference label (`Bestellnummer 2398-5999-42`) a national number is none,
        // but one written as only a phone is: an area code in brackets or a trunk `0`
        // (`order (11) 96000-0000`, `Pedido 0151 23456789`).
        if label.names_another_kind() && !sh.paren && d[0] != b'0' {
            return None;
        }
        self.formatted_phone(sh)
    }

    /// Bare digit string (wa_id style or national without separators). Without a phone
    /// label: 10 to 15 digits, an international number of a configured region or a national
    /// mobile (or trunk-prefixed) number of one. After a phone label (`tel 912345678`): from
    /// 8 digits, any personal national number of a configured region, and an international
    /// number of any country.
    fn bare_phone(&self, sh: &Shape, label: Label) -> Option<String> {
        let d = sh.digits();
        let labelled = label == Label::Phone;
        let shortest = if labelled { MIN_DIGITS } else { 10 };
        if !(shortest..=15).contains(&sh.n) {
            return None;
        }
        // Unix timestamps in seconds (10 digits) or milliseconds (13 digits).
        if (sh.n == 10 || sh.n == 13) && d[0] == b'1' && !labelled {
            return None;
        }
        // An EAN-13 barcode read as a trunk-prefixed national number.
        if sh.n == 13 && d[0] == b'0' && !labelled && is_ean13(d) {
            return None;
        }
        let intl = if d[0] != b'0' {
            parse_international(d)
        } else {
            None
        };
        if let Some(i) = &intl {
            if self.region_codes.contains(&i.code) {
                return Some(i.e164.clone());
            }
        }
        // After a reference label, only a configured region's number with its country code
        // (`order 5511987654321`: a wa_id) is a phone; a national one is the reference.
        if label.names_another_kind() {
            return None;
        }
        // A mistyped CNPJ (`07187504000102`: a branch number `000x`) is no phone either.
        if sh.n == 14 && &d[8..11] == b"000" && !labelled {
            return None;
        }
        let s = sh.digit_str();
        // A mobile number of any region first (`912345678` is Portugal's mobile before it
        // is a German landline), then the other personal numbers.
        let mut other = None;
        for &id in &self.regions {
            // Where numbers are written with their trunk `0` (`0151 …`, `0812 …`), the
            // digits without it are a number of that region only after a label.
            if d[0] != b'0' && !labelled && WRITTEN_WITH_TRUNK.contains(&id.as_ref()) {
                continue;
            }
            let Ok(pn) = phonenumber::parse(Some(id), s) else {
                continue;
            };
            let Some(out) = accept(&pn) else {
                continue;
            };
            let ty = pn.number_type(&DATABASE);
            if matches!(ty, Type::Mobile | Type::FixedLineOrMobile) {
                return Some(out);
            }
            if (d[0] == b'0' || labelled) && (personal_type(ty) || ty == Type::Voip) {
                if d[0] == b'0' {
                    // A trunk-prefixed number: the first region that has it (no parse of
                    // the others).
                    return Some(out);
                }
                other.get_or_insert(out);
            }
        }
        // Another country's number without its `+` (a wa_id): only where a label says it
        // is a phone, as most bare runs of 10 to 15 digits are valid somewhere.
        intl.filter(|_| labelled).map(|i| i.e164).or(other)
    }

    /// National number with separators. Every configured region is tried; ranking: personal
    /// number type (mobile/fixed) first, then agreement between the input's digit grouping and
    /// the region's own national format, then region order.
    fn formatted_phone(&self, sh: &Shape) -> Option<String> {
        let s = sh.digit_str();
        let mut input_b = [0u8; MAX_DIGITS];
        let ni = sh.suffix_boundaries(&mut input_b);
        let input_b = &input_b[..ni];

        let mut best: Option<(u8, String)> = None;
        for &id in &self.regions {
            let Ok(pn) = phonenumber::parse(Some(id), s) else {
                continue;
            };
            let Some(out) = accept(&pn) else {
                continue;
            };
            let formatted = pn.format().mode(Mode::National).to_string();
            let ty = pn.number_type(&DATABASE);
            if !personal_type(ty) && ty != Type::Voip {
                // Shared-cost, toll-free, premium and service numbers are a business's, not
                // a contact's; written without a '+' they are far more often an order or
                // protocol number (`4000-2931-77` reads as a Brazilian shared-cost number).
                // VoIP numbers are people's too.
                continue;
            }
            if sh.digits[0] != b'0'
                && (formatted.starts_with('0') || formatted.starts_with("(0"))
                && !matches!(ty, Type::Mobile | Type::FixedLineOrMobile)
            {
                // The region writes this kind of number with its trunk '0' ("030 1234567");
                // without it, digits like "3456 7890" are far more likely an id than a phone.
                continue;
            }
            let mut fb = [0u8; MAX_DIGITS];
            let nf = format_suffix_boundaries(&formatted, &mut fb);
            let fb = &fb[..nf];
            let grouping = if fb == input_b {
                2
            } else if input_b.iter().any(|b| fb.contains(b)) {
                1
            } else {
                0
            };
            let score = grouping + if personal_type(ty) { 3 } else { 0 };
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, out));
                if score == 5 {
                    break;
                }
            }
        }
        if let Some((_, out)) = best {
            return Some(out);
        }
        // International without '+': the first group must be exactly the calling code.
        let first = sh.group_len[0] as usize;
        if (1..=3).contains(&first) && sh.digits[0] != b'0' {
            if let Some(i) = parse_international(sh.digits()) {
                if u32::from(i.code) == sh.group_value(0) {
                    return Some(i.e164);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: NumericKinds = NumericKinds {
        phone: true,
        cpf: true,
        cnpj: true,
        card: true,
        label: Label::None,
    };

    fn clf() -> NumericClassifier {
        NumericClassifier::new(NumericClassifier::default_regions()).unwrap()
    }

    fn run_with(c: &NumericClassifier, s: &str, kinds: NumericKinds) -> Vec<NumericMatch> {
        let mut out = Vec::new();
        c.classify(s, kinds, &mut out);
        out
    }

    /// Asserts that `s` as a whole is exactly one value of `kind` normalised to `norm`.
    fn assert_whole(c: &NumericClassifier, s: &str, kind: NumericKind, norm: &str) {
        let got = run_with(c, s, ALL);
        let want = vec![NumericMatch {
            start: 0,
            end: s.len(),
            kind,
            normalized: norm.to_string(),
        }];
        assert_eq!(got, want, "input {s:?}");
    }

    fn assert_none(c: &NumericClassifier, s: &str) {
        let got = run_with(c, s, ALL);
        assert!(got.is_empty(), "input {s:?} unexpectedly matched: {got:?}");
    }

    #[test]
    fn international_phones() {
        let c = clf();
        for (s, e) in [
            ("+5511987654321", "+5511987654321"),
            ("+55 11 98765-4321", "+5511987654321"),
            ("+55 (11) 98765-4321", "+5511987654321"),
            ("+55(11)98765-4321", "+5511987654321"),
            ("+49 1512 3456789", "+4915123456789"),
            ("+351 912 345 678", "+351912345678"),
            ("+91 98765 43210", "+919876543210"),
            ("+57 300 123 4567", "+573001234567"),
            ("+62 812-3456-7890", "+6281234567890"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("+44 7700 900123", "+447700900123"),
            ("+44 (0) 7700 900123", "+447700900123"),
            ("+34 612 34 56 78", "+34612345678"),
            ("+52 55 1234 5678", "+525512345678"),
            ("0049 151 23456789", "+4915123456789"),
            ("+55\u{a0}11\u{a0}98765-4321", "+5511987654321"),
        ] {
            assert_whole(&c, s, NumericKind::Phone, e);
        }
    }

    #[test]
    fn bare_wa_id_style_phones() {
        let c = clf();
        for (s, e) in [
            ("5511987654321", "+5511987654321"),
            ("4915123456789", "+4915123456789"),
            ("351912345678", "+351912345678"),
            ("919876543210", "+919876543210"),
            ("6281234567890", "+6281234567890"),
            ("573001234567", "+573001234567"),
            ("11987654321", "+5511987654321"),
            ("4155552671", "+14155552671"),
        ] {
            assert_whole(&c, s, NumericKind::Phone, e);
        }
    }

    #[test]
    fn national_formatted_phones_per_region() {
        let c = clf();
        for (s, e) in [
            // BR
            ("(11) 97654-3210", "+5511976543210"),
            ("11 98765-4321", "+5511987654321"),
            ("(21) 3456-7890", "+552134567890"),
            ("(011) 98765-4321", "+5511987654321"),
            // DE
            ("0151 23456789", "+4915123456789"),
            ("030 1234567", "+49301234567"),
            // PT
            ("912 345 678", "+351912345678"),
            // IN
            ("98765 43210", "+919876543210"),
            ("080 2345 6789", "+918023456789"),
            // ID
            ("0812-9876-5432", "+6281298765432"),
            ("0812 9876 5432", "+6281298765432"),
            // CO
            ("300 123 4567", "+573001234567"),
            // US
            ("(415) 555-2671", "+14155552671"),
            ("415-555-2671", "+14155552671"),
            ("415.555.2671", "+14155552671"),
            // GB
            ("07700 900123", "+447700900123"),
            ("020 7946 0958", "+442079460958"),
            // ES
            ("612 34 56 78", "+34612345678"),
            // MX
            ("55 1234 5678", "+525512345678"),
            // international without '+', first group = calling code
            ("55 11 98765-4321", "+5511987654321"),
        ] {
            assert_whole(&c, s, NumericKind::Phone, e);
        }
    }

    #[test]
    fn brazilian_legacy_mobile_normalisation() {
        let c = clf();
        assert_whole(&c, "551187654321", NumericKind::Phone, "+5511987654321");
        assert_whole(&c, "5511987654321", NumericKind::Phone, "+5511987654321");
        assert_whole(&c, "+55 11 8765-4321", NumericKind::Phone, "+5511987654321");
        assert_eq!(
            c.whatsapp_digits("551187654321").as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            c.whatsapp_digits("5511987654321").as_deref(),
            Some("+5511987654321")
        );
        // A legacy-shaped number whose 5th digit is a landline digit (2-5) is left alone.
        assert_eq!(
            c.whatsapp_digits("552134567890").as_deref(),
            Some("+552134567890")
        );
    }

    #[test]
    fn whatsapp_digits_cases() {
        let c = clf();
        for (d, e) in [
            ("5521998765432", Some("+5521998765432")),
            ("4915123456789", Some("+4915123456789")),
            ("14155552671", Some("+14155552671")),
            ("919876543210", Some("+919876543210")),
            // lenient: plausible but not libphonenumber-valid
            ("4912345678", Some("+4912345678")),
            ("123456", None),           // too short
            ("1234567890123456", None), // too long
            ("0055119876543", None),    // leading zero is not a calling code
            ("999123456789", None),     // 999 is not an assigned calling code
            ("55119876abc", None),      // not digits
            ("+5511987654321", None),   // '+' is not part of a wa_id
        ] {
            assert_eq!(c.whatsapp_digits(d).as_deref(), e, "input {d:?}");
        }
    }

    /// Regression (fuzz `headers`): a number glued to the bracket of the next one was not
    /// split, and the `+` number's failure skipped the rest of the run: both served clear.
    #[test]
    fn a_bracket_glued_to_a_number_opens_the_next() {
        let c = clf();
        let got = run_with(&c, "+55 11 98765-4321(11) 98765-4321", ALL);
        let norms: Vec<&str> = got.iter().map(|m| m.normalized.as_str()).collect();
        assert_eq!(norms, ["+5511987654321", "+5511987654321"], "{got:?}");
    }

    #[test]
    fn hard_negatives() {
        let c = clf();
        for s in [
            "58213",
            "1763640000",
            "1763640000123",
            "2025112014010042",
            "1234567890123456",
            "987654321098765",
            "118273645509182",
            "230918274655012",
            "1029384756102938",
            "1.234.567",
            "12.345.678",
            "1.000.000.000",
            "2024-118",
            "2025-000123",
            "2024/0042",
            "2025.11.3-1763640000",
            "1987-03-14",
            "978-3-16-148410-0",
            "9783161484100",
            "0-306-40615-2",
            "20/11/2025",
            "14.03.1987",
            "12345678",
            "00000000000",
            "11111111111",
            "123.456.789",
            "2024 1187 5532",
            "3456 7890",
            "10 20 30 40 50",
            "01310-100",
            "2025 0012 3456",
            "3524 0612 3456 7800 0190 5500 1000 0123 4510 0001 2345",
        ] {
            assert_none(&c, s);
        }
    }

    #[test]
    fn cpf() {
        let c = clf();
        assert_whole(&c, "123.456.789-09", NumericKind::Cpf, "12345678909");
        assert_whole(&c, "529.982.247-25", NumericKind::Cpf, "52998224725");
        // bare: not a phone anywhere, check digits valid
        assert_whole(&c, "52998224725", NumericKind::Cpf, "52998224725");
        assert_none(&c, "123.456.789-00");
        assert_none(&c, "111.111.111-11");
        assert_none(&c, "000.000.000-00");
        assert_none(&c, "52998224726");
        // bare 11 digits whose check digits hold: a CPF, even where a phone reads too...
        assert_whole(&c, "12345678909", NumericKind::Cpf, "12345678909");
        // ...and a phone where CPFs are not looked for.
        let only_phone = NumericKinds {
            phone: true,
            ..Default::default()
        };
        let got = run_with(&c, "12345678909", only_phone);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, NumericKind::Phone);
        // Other ways of writing them.
        assert_whole(&c, "529982247-25", NumericKind::Cpf, "52998224725");
        assert_none(&c, "529982247-26");
        // formatted CPF is never a phone, even with only phones enabled
        assert!(run_with(&c, "123.456.789-09", only_phone).is_empty());
    }

    /// The whole class: every CPF (and CNPJ) whose check digits hold, written bare, is that
    /// document and never a phone, whatever its digits say as a phone number.
    #[test]
    fn every_valid_bare_cpf_and_cnpj_is_that_document() {
        let c = clf();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        fn dv(d: &[u8], w: impl Iterator<Item = u32>) -> u8 {
            let sum: u32 = w.zip(d).map(|(w, &b)| w * u32::from(b - b'0')).sum();
            let r = sum % 11;
            if r < 2 {
                b'0'
            } else {
                b'0' + (11 - r) as u8
            }
        }
        for _ in 0..2000 {
            let mut d: Vec<u8> = (0..9).map(|_| b'0' + next(10) as u8).collect();
            d.push(dv(&d, (2..=10).rev()));
            d.push(dv(&d, (2..=11).rev()));
            let s = String::from_utf8(d).unwrap();
            if all_same_digit(s.as_bytes()) {
                continue;
            }
            assert_whole(&c, &s, NumericKind::Cpf, &s);
            let dashed = format!("{}-{}", &s[..9], &s[9..]);
            assert_whole(&c, &dashed, NumericKind::Cpf, &s);
            let mut d: Vec<u8> = (0..12).map(|_| b'0' + next(10) as u8).collect();
            d.push(dv(&d, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2].into_iter()));
            d.push(dv(&d, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2].into_iter()));
            let s = String::from_utf8(d).unwrap();
            if all_same_digit(s.as_bytes()) {
                continue;
            }
            assert_whole(&c, &s, NumericKind::Cnpj, &s);
            let dotted = format!(
                "{}.{}.{}.{}-{}",
                &s[..2],
                &s[2..5],
                &s[5..8],
                &s[8..12],
                &s[12..]
            );
            assert_whole(&c, &dotted, NumericKind::Cnpj, &s);
        }
    }

    /// The Luhn check digit of ASCII digits, written here apart from `luhn_valid` (an
    /// oracle the code under test does not share).
    fn luhn_digit(body: &[u8]) -> u8 {
        let sum: u32 = body
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &b)| {
                let v = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
                v / 10 + v % 10
            })
            .sum();
        b'0' + ((10 - sum % 10) % 10) as u8
    }

    /// Boletos (bank slips of 47 digits, collection slips of 48) are payment data, not PII:
    /// every valid one, however it is spaced, is left whole; nothing inside is taken.
    #[test]
    fn boleto_lines_are_left_whole() {
        let c = clf();
        let mut seed = 99u64;
        let mut digit = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b'0' + (seed >> 60) as u8 % 10
        };
        for _ in 0..300 {
            // Bank slip: fields of 9 + DV, 10 + DV, 10 + DV, the general DV, 14 digits.
            let mut d: Vec<u8> = Vec::new();
            for len in [9, 10, 10] {
                let f: Vec<u8> = (0..len).map(|_| digit()).collect();
                d.extend_from_slice(&f);
                d.push(luhn_digit(&f));
            }
            d.push(b'1' + (digit() - b'0') % 9);
            d.extend((0..14).map(|_| digit()));
            let s = String::from_utf8(d).unwrap();
            let line = format!(
                "{}.{} {}.{} {}.{} {} {}",
                &s[..5],
                &s[5..10],
                &s[10..15],
                &s[15..21],
                &s[21..26],
                &s[26..32],
                &s[32..33],
                &s[33..]
            );
            assert_none(&c, &line);
            // Collection slip: four blocks of 11 digits and a check digit.
            let mut d: Vec<u8> = vec![b'8', digit(), b'6' + (digit() - b'0') % 4];
            let check: fn(&[u8]) -> u8 = if d[2] < b'8' {
                luhn_digit
            } else {
                |b| b'0' + mod11_collection(b)
            };
            let mut blocks = Vec::new();
            while d.len() < 11 {
                d.push(digit());
            }
            for b in 0..4 {
                let mut block: Vec<u8> = if b == 0 {
                    d.clone()
                } else {
                    (0..11).map(|_| digit()).collect()
                };
                block.push(check(&block));
                blocks.push(String::from_utf8(block).unwrap());
            }
            let line = blocks
                .iter()
                .map(|b| format!("{}-{}", &b[..11], &b[11..]))
                .collect::<Vec<_>>()
                .join(" ");
            assert_none(&c, &line);
        }
    }

    /// Written without a '+', a number is a contact's phone only as a mobile, fixed or
    /// personal number of a region: order and protocol numbers that read as a region's
    /// shared-cost or toll-free numbers stay as they are.
    #[test]
    fn national_numbers_are_personal_ones() {
        let c = clf();
        for s in ["4000-2931-77", "4000 2931 77", "4004-0001"] {
            assert_none(&c, s);
        }
        // The same digits as an international number are still read (the writer says
        // it is a phone).
        assert_whole(&c, "+55 4000-2931", NumericKind::Phone, "+5540002931");
        assert_whole(&c, "(11) 98765-4321", NumericKind::Phone, "+5511987654321");
    }

    #[test]
    fn a_country_code_in_brackets_opens_a_number() {
        let c = clf();
        assert_whole(&c, "(+57) 300 1234567", NumericKind::Phone, "+573001234567");
        assert_whole(
            &c,
            "(+55) 11 98765-4321",
            NumericKind::Phone,
            "+5511987654321",
        );
        assert_whole(
            &c,
            "(+49) 1512 3456789",
            NumericKind::Phone,
            "+4915123456789",
        );
        assert_none(&c, "(+57) 12");
    }

    #[test]
    fn cnpj() {
        let c = clf();
        assert_whole(
            &c,
            "11.222.333/0001-81",
            NumericKind::Cnpj,
            "11222333000181",
        );
        assert_whole(&c, "11222333000181", NumericKind::Cnpj, "11222333000181");
        assert_none(&c, "11.222.333/0001-82");
        assert_none(&c, "11222333000182");
        assert_none(&c, "00.000.000/0000-00");
    }

    #[test]
    fn cards() {
        let c = clf();
        for (s, e) in [
            ("4111 1111 1111 1111", "4111111111111111"),
            ("4111-1111-1111-1111", "4111111111111111"),
            ("4111111111111111", "4111111111111111"),
            ("5500005555555559", "5500005555555559"),
            ("5500 0055 5555 5559", "5500005555555559"),
            ("2223003122003222", "2223003122003222"),
            ("378282246310005", "378282246310005"),
            ("3782 822463 10005", "378282246310005"),
            ("6011111111111117", "6011111111111117"),
            ("3530111333300000", "3530111333300000"),
            ("30569309025904", "30569309025904"),
        ] {
            assert_whole(&c, s, NumericKind::Card, e);
        }
        for s in [
            "1234567890123456",     // no issuer starts with 1
            "4111111111111112",     // Luhn fails
            "4111  1111 1111 1111", // double space
            "4111 1111-1111 1111",  // mixed separators
            "4111.1111.1111.1111",  // dots are not a card layout
            "5500 0055 5555 555",   // 15-digit Mastercard does not exist
        ] {
            assert_none(&c, s);
        }
    }

    /// Every issuer range, at every length it issues, with its Luhn digit: a card.
    #[test]
    fn every_issuer_range_and_length_is_a_card() {
        let c = clf();
        // (prefix, lengths): Visa, Mastercard (51-55, 2221-2720), Amex, Discover, JCB
        // (3528-3589; 15-digit 1800 and 2131), Diners, Maestro (12-19), Mir (2200-2204),
        // UATP (15 digits from 1), Elo and Hipercard BINs (inside the ranges above).
        let ranges: &[(&str, &[usize])] = &[
            ("4", &[13, 16, 19]),
            ("51", &[16]),
            ("55", &[16]),
            ("2221", &[16]),
            ("2720", &[16]),
            ("34", &[15]),
            ("37", &[15]),
            ("6011", &[16, 19]),
            ("65", &[16]),
            ("3528", &[16, 19]),
            ("1800", &[15]),
            ("2131", &[15]),
            ("36", &[14]),
            ("50", &[12, 13, 19]),
            ("6304", &[12, 16]),
            ("2200", &[16]),
            ("2204", &[19]),
            ("1", &[15]),
            ("636368", &[16]),
            ("606282", &[16]),
        ];
        let mut seed = 7u64;
        for (prefix, lengths) in ranges {
            for &n in *lengths {
                for _ in 0..20 {
                    let mut d: Vec<u8> = prefix.bytes().collect();
                    while d.len() < n - 1 {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        d.push(b'0' + (seed >> 60) as u8 % 10);
                    }
                    d.push(luhn_digit(&d));
                    let s = String::from_utf8(d).unwrap();
                    let got = run_with(
                        &c,
                        &s,
                        NumericKinds {
                            card: true,
                            ..Default::default()
                        },
                    );
                    assert!(
                        got.len() == 1 && got[0].kind == NumericKind::Card,
                        "{prefix}/{n}: {s} -> {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn splitting() {
        let c = clf();
        let got = run_with(&c, "4915123456789 4917698765432", ALL);
        assert_eq!(
            got,
            vec![
                NumericMatch {
                    start: 0,
                    end: 13,
                    kind: NumericKind::Phone,
                    normalized: "+4915123456789".into()
                },
                NumericMatch {
                    start: 14,
                    end: 27,
                    kind: NumericKind::Phone,
                    normalized: "+4917698765432".into()
                },
            ]
        );

        let spans = |s: &str| -> Vec<(usize, usize, NumericKind, String)> {
            run_with(&c, s, ALL)
                .into_iter()
                .map(|m| (m.start, m.end, m.kind, m.normalized))
                .collect()
        };
        use NumericKind::*;
        assert_eq!(
            spans("+55 11 98765-4321 +49 1512 3456789"),
            vec![
                (0, 17, Phone, "+5511987654321".into()),
                (18, 34, Phone, "+4915123456789".into())
            ]
        );
        assert_eq!(
            spans("11 98765-4321 11 91234-5678"),
            vec![
                (0, 13, Phone, "+5511987654321".into()),
                (14, 27, Phone, "+5511912345678".into())
            ]
        );
        assert_eq!(
            spans("4111 1111 1111 1111 5500005555555559"),
            vec![
                (0, 19, Card, "4111111111111111".into()),
                (20, 36, Card, "5500005555555559".into())
            ]
        );
        assert_eq!(
            spans("14/03/1987 11987654321"),
            vec![(11, 22, Phone, "+5511987654321".into())]
        );
        assert_eq!(
            spans("2025 11987654321"),
            vec![(5, 16, Phone, "+5511987654321".into())]
        );
        assert_eq!(
            spans("123.456.789-09 11 98765-4321"),
            vec![
                (0, 14, Cpf, "12345678909".into()),
                (15, 28, Phone, "+5511987654321".into())
            ]
        );
        // parentheses around the whole value are not part of it
        assert_eq!(
            spans("(11 98765-4321)"),
            vec![(1, 14, Phone, "+5511987654321".into())]
        );
        // the tail of a failed '+' number is not re-read as a national number
        assert_eq!(spans("+49 0000 1234567"), vec![]);
        // NBSP separators: byte offsets account for the 2-byte character
        assert_eq!(
            spans("4915123456789\u{a0}4917698765432"),
            vec![
                (0, 13, Phone, "+4915123456789".into()),
                (15, 28, Phone, "+4917698765432".into())
            ]
        );
    }

    #[test]
    fn kinds_filter_and_out_not_cleared() {
        let c = clf();
        let mut out = vec![NumericMatch {
            start: 0,
            end: 1,
            kind: NumericKind::Card,
            normalized: "sentinel".into(),
        }];
        c.classify("+5511987654321", NumericKinds::default(), &mut out);
        assert_eq!(out.len(), 1);
        let no_phone = NumericKinds {
            phone: false,
            ..ALL
        };
        c.classify("+5511987654321", no_phone, &mut out);
        assert_eq!(out.len(), 1);
        c.classify("+5511987654321", ALL, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].normalized, "sentinel");
        assert_eq!(out[1].normalized, "+5511987654321");
        let only_card = NumericKinds {
            card: true,
            ..Default::default()
        };
        assert!(run_with(&c, "11.222.333/0001-81", only_card).is_empty());
        assert_eq!(run_with(&c, "4111 1111 1111 1111", only_card).len(), 1);
    }

    #[test]
    fn constructor() {
        assert_eq!(
            NumericClassifier::default_regions(),
            &["BR", "DE", "PT", "IN", "ID", "CO", "US", "GB", "ES", "MX"]
        );
        let err = NumericClassifier::new(&["BR", "XX"]).unwrap_err();
        assert!(err.contains("XX"), "{err}");
        assert!(NumericClassifier::new(&["br", "de"]).is_ok());
        // region order matters only for ambiguous national numbers
        let us_only = NumericClassifier::new(&["US"]).unwrap();
        assert_whole(
            &us_only,
            "(415) 555-2671",
            NumericKind::Phone,
            "+14155552671",
        );
        assert_none(&us_only, "(11) 97654-3210");
        // '+' numbers do not depend on the configured regions
        assert_whole(
            &us_only,
            "+55 11 98765-4321",
            NumericKind::Phone,
            "+5511987654321",
        );
    }

    #[test]
    fn malformed_shapes() {
        for s in [
            "11--98765-4321",
            "11 98765+4321",
            "((11)) 98765-4321",
            "(11 98765-4321",
            "11) 98765-4321",
            "11 98765-4321(",
            "11 98765-4321-",
            "+ 55 11 98765-4321",
            "11   98765-4321",
            "12345678901234567890",
        ] {
            assert!(analyse(s).is_none(), "input {s:?}");
        }
        let c = clf();
        // Unbalanced edge parentheses are trimmed from the reported span.
        let got = run_with(&c, "(11 98765-4321", ALL);
        assert_eq!((got[0].start, got[0].end), (1, 14));
        let got = run_with(&c, "11 98765-4321)", ALL);
        assert_eq!((got[0].start, got[0].end), (0, 13));
        // '+' in the middle of a group never yields a value covering it.
        assert!(run_with(&c, "11 98765+4321", ALL).is_empty());
    }
}
