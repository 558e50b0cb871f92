//! JSON string escapes: decode with a map back to the raw bytes, encode replacements.
//!
//! A value cannot hide behind an escape (`\u002b55 11 9…`): detectors run on the decoded
//! text, and the replacement of a finding is spliced into the *raw* bytes at the place the
//! map gives, so every byte outside a finding, escapes included, stays as it was.

/// Why a string's escapes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeError {
    BadEscape,
    BadUnicode,
}

/// Decodes the raw content of a JSON string (without its quotes) into `out`, and fills
/// `map` so that `map[i]` is the raw offset of decoded byte `i` (`map.len() == out.len() + 1`).
/// Lone surrogates decode to U+FFFD.
pub fn decode(raw: &[u8], out: &mut String, map: &mut Vec<u32>) -> Result<(), EscapeError> {
    out.clear();
    map.clear();
    let mut i = 0;
    let mut utf8 = [0u8; 4];
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            // Copy a run of plain bytes (already checked to be UTF-8 by the caller).
            let end = memchr::memchr(b'\\', &raw[i..]).map_or(raw.len(), |p| i + p);
            let s = std::str::from_utf8(&raw[i..end]).map_err(|_| EscapeError::BadUnicode)?;
            for k in 0..s.len() {
                map.push((i + k) as u32);
            }
            out.push_str(s);
            i = end;
            continue;
        }
        let start = i;
        let esc = *raw.get(i + 1).ok_or(EscapeError::BadEscape)?;
        let c = match esc {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw.get(i + 2..i + 6))?;
                i += 6;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate: a low one should follow.
                    if raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u') {
                        let lo = hex4(raw.get(i + 2..i + 6))?;
                        if (0xDC00..0xE000).contains(&lo) {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                .unwrap_or('\u{FFFD}')
                        } else {
                            '\u{FFFD}'
                        }
                    } else {
                        '\u{FFFD}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                };
                let s = c.encode_utf8(&mut utf8);
                for _ in 0..s.len() {
                    map.push(start as u32);
                }
                out.push_str(s);
                continue;
            }
            _ => return Err(EscapeError::BadEscape),
        };
        map.push(start as u32);
        out.push(c);
        i += 2;
    }
    map.push(raw.len() as u32);
    Ok(())
}

fn hex4(digits: Option<&[u8]>) -> Result<u32, EscapeError> {
    let d = digits.ok_or(EscapeError::BadEscape)?;
    let s = std::str::from_utf8(d).map_err(|_| EscapeError::BadEscape)?;
    u32::from_str_radix(s, 16).map_err(|_| EscapeError::BadEscape)
}

/// Appends `s` escaped as the content of a JSON string.
pub fn encode(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    // Replacements are tokens and masks: nearly always nothing to escape.
    if !b
        .iter()
        .fold(false, |any, &c| any | (c < 0x20 || c == b'"' || c == b'\\'))
    {
        out.extend_from_slice(b);
        return;
    }
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&b[from..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                from = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        out.extend_from_slice(esc);
        from = i + 1;
    }
    out.extend_from_slice(&b[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_maps_back_to_raw() {
        let raw = br#"a\u002b55\/x\u00fc\ud83c\udf38"#;
        let (mut out, mut map) = (String::new(), Vec::new());
        decode(raw, &mut out, &mut map).unwrap();
        assert_eq!(out, "a+55/x\u{fc}\u{1F338}");
        assert_eq!(map.len(), out.len() + 1);
        // '+' is decoded byte 1, written raw at offset 1 (the backslash).
        assert_eq!(map[1], 1);
        assert_eq!(map[2], 7);
        assert_eq!(*map.last().unwrap() as usize, raw.len());
        assert!(decode(br"\x", &mut out, &mut map).is_err());
        assert!(decode(br"\u12", &mut out, &mut map).is_err());
    }

    #[test]
    fn encode_escapes_what_json_requires() {
        let mut out = Vec::new();
        encode("a\"b\\c\nd\u{1}", &mut out);
        assert_eq!(out, br#"a\"b\\c\nd\u0001"#);
    }
}
