//! Byte-level scanning for the JSON masker: where a string or number ends, whether a
//! number is valid JSON, and a string's decoded text.
use super::{escape, FORMAT};
use crate::error::MaskError;

/// Finds the closing quote of a string whose content starts at `input[from]`. Returns its
/// position (if in `input`), whether an escape was seen, and whether `input` ends inside
/// an escape (a backslash as its last byte).
pub(super) fn string_end(input: &[u8], from: usize) -> (Option<usize>, bool, bool) {
    let mut i = from;
    let mut escaped = false;
    while let Some(p) = quote_or_backslash(&input[i..]) {
        let at = i + p;
        if input[at] == b'"' {
            return (Some(at), escaped, false);
        }
        escaped = true;
        if at + 1 == input.len() {
            return (None, true, true);
        }
        i = at + 2;
    }
    (None, escaped, false)
}

/// The first `"` or `\` in `h`. Most strings are short: the first 32 bytes are read eight
/// at a time in a register (SWAR) before a vector search is worth its start-up cost.
pub(super) fn quote_or_backslash(h: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `x` equal to `b`; the lowest set bit is exact (borrows
    // only run upwards), which is the only one read.
    let eq = |x: u64, b: u8| {
        let y = x ^ (ONES * u64::from(b));
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    let mut i = 0;
    while let Some(word) = h.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let m = eq(x, b'"') | eq(x, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i == 32 {
            return memchr::memchr2(b'"', b'\\', &h[i..]).map(|p| i + p);
        }
    }
    h[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| i + p)
}

/// A string value's content as text: its escapes decoded into `decoded` (with `map` back
/// to the raw offsets), or the raw bytes themselves when it has none. `offset`: where the
/// chunk being read starts in the document, for the error.
pub(super) fn text_of<'a>(
    raw: &'a [u8],
    has_escape: bool,
    offset: u64,
    decoded: &'a mut String,
    map: &mut Vec<u32>,
) -> Result<&'a str, MaskError> {
    let malformed = |reason| MaskError::Malformed {
        format: FORMAT,
        offset,
        reason,
    };
    if has_escape {
        escape::decode(raw, decoded, map).map_err(|_| malformed("invalid escape in a string"))?;
        Ok(decoded)
    } else {
        crate::format::utf8::check(raw).map_err(|_| malformed("invalid UTF-8 in a string"))
    }
}

/// Does a string's raw content hold a control character (which JSON forbids)? Branch-free,
/// so it compiles to vector instructions.
pub(super) fn has_control(raw: &[u8]) -> bool {
    raw.iter().fold(false, |any, &b| any | (b < 0x20))
}

/// The end of a number run starting at `input[from]`, if `input` holds it.
pub(super) fn number_end(input: &[u8], from: usize) -> Option<usize> {
    input[from..]
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .map(|p| from + p)
}
/// 11 to 15 digits, no sign, fraction or exponent: as long as an international phone
/// number without its `+` (millisecond timestamps start with `1` and are not phones).
pub(super) fn phone_length_integer(n: &[u8]) -> bool {
    (11..=15).contains(&n.len()) && n.iter().all(u8::is_ascii_digit)
}

/// JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub(super) fn valid_number(n: &[u8]) -> bool {
    let mut i = 0;
    if n.get(i) == Some(&b'-') {
        i += 1;
    }
    match n.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while n.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if n.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while n.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if matches!(n.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(n.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while n.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == n.len()
}
