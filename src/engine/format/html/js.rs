//! JavaScript string escapes inside inline scripts: decode with a map back to the raw
//! text, escape replacements.
//!
//! Inline state (`window.__STATE__ = {"name":"J\u00fcrgen","phone":"\u002b49…"}`) is scanned
//! decoded, so `\uXXXX`, `\u{…}`, `\xHH`, `\/` and the one-letter escapes cannot hide a value.
//! The decoder is lexical, not a JavaScript parser: it decodes every backslash escape in the
//! script, inside strings or not (outside strings a backslash is rare: regular expression
//! literals, where decoding `\d` as `d` only costs a missed or extra candidate, never an
//! unscanned byte).

/// Decodes the escapes of `raw` into `out`; `map[i]` is the raw offset of decoded byte `i`
/// (`map.len() == out.len() + 1`). Returns `false` (and leaves both empty) when `raw` has no
/// backslash.
pub fn decode(raw: &str, out: &mut String, map: &mut Vec<u32>) -> bool {
    out.clear();
    map.clear();
    let bytes = raw.as_bytes();
    if memchr::memchr(b'\\', bytes).is_none() {
        return false;
    }
    let mut i = 0;
    let mut utf8 = [0u8; 4];
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            let end = memchr::memchr(b'\\', &bytes[i..]).map_or(bytes.len(), |p| i + p);
            out.push_str(&raw[i..end]);
            map.extend((i..end).map(|k| k as u32));
            i = end;
            continue;
        }
        let start = i;
        let (c, len) = escape_at(raw, i);
        i += len;
        if let Some(c) = c {
            let s = c.encode_utf8(&mut utf8);
            map.extend(std::iter::repeat_n(start as u32, s.len()));
            out.push_str(s);
        }
    }
    map.push(bytes.len() as u32);
    true
}

fn hex(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The escape at `raw[i]` (a backslash): the character it stands for (`None` for a line
/// continuation) and its raw length.
fn escape_at(raw: &str, i: usize) -> (Option<char>, usize) {
    let b = raw.as_bytes();
    let Some(&e) = b.get(i + 1) else {
        return (Some('\\'), 1);
    };
    let simple = |c: char| (Some(c), 2);
    match e {
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{c}'),
        b'v' => simple('\u{b}'),
        b'0' if !b.get(i + 2).is_some_and(u8::is_ascii_digit) => simple('\0'),
        b'\n' => (None, 2),
        b'\r' => (None, if b.get(i + 2) == Some(&b'\n') { 3 } else { 2 }),
        b'x' => match b.get(i + 2..i + 4).and_then(hex) {
            Some(v) => (char::from_u32(v), 4),
            None => simple('x'),
        },
        b'u' if b.get(i + 2) == Some(&b'{') => {
            let close = b[i + 3..].iter().take(8).position(|&c| c == b'}');
            match close.and_then(|p| hex(&b[i + 3..i + 3 + p]).map(|v| (v, p))) {
                Some((v, p)) => (Some(char::from_u32(v).unwrap_or('\u{FFFD}')), 4 + p),
                None => simple('u'),
            }
        }
        b'u' => match b.get(i + 2..i + 6).and_then(hex) {
            Some(hi @ 0xD800..=0xDBFF) => {
                let lo = (b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u'))
                    .then(|| b.get(i + 8..i + 12).and_then(hex))
                    .flatten();
                match lo {
                    Some(lo @ 0xDC00..=0xDFFF) => (
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)),
                        12,
                    ),
                    _ => (Some('\u{FFFD}'), 6),
                }
            }
            Some(v) => (Some(char::from_u32(v).unwrap_or('\u{FFFD}')), 6),
            None => simple('u'),
        },
        _ => {
            // `\/`, `\"`, `\'`, `\\` and any other escaped character stand for themselves.
            let c = raw[i + 1..].chars().next().unwrap_or('\\');
            (Some(c), 1 + c.len_utf8())
        }
    }
}

/// Appends `s` escaped so that it is safe inside a JavaScript string literal (single or
/// double quoted) in an HTML `<script>`: quotes, backslashes, `<`, `>`, `&`, controls and the
/// JavaScript line terminators are written as escapes.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_js_escapes_with_a_map() {
        let raw =
            r#"{"n":"J\u00fcrgen","p":"\u002b49 151","u":"a\/b","x":"\x41\u{1F338}\ud83c\udf38"}"#;
        let (mut out, mut map) = (String::new(), Vec::new());
        assert!(decode(raw, &mut out, &mut map));
        assert_eq!(
            out,
            "{\"n\":\"Jürgen\",\"p\":\"+49 151\",\"u\":\"a/b\",\"x\":\"A\u{1F338}\u{1F338}\"}"
        );
        assert_eq!(map.len(), out.len() + 1);
        let plus = out.find('+').unwrap();
        assert_eq!(&raw[map[plus] as usize..map[plus + 1] as usize], r"\u002b");
        assert!(!decode("plain", &mut out, &mut map));
    }

    #[test]
    fn escapes_for_a_script_string() {
        let mut out = String::new();
        escape("a\"b'c\\</script>\n", &mut out);
        assert_eq!(out, r#"a\"b\'c\\\u003c/script\u003e\u000a"#);
    }
}
