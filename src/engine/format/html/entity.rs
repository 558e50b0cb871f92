//! HTML character references: decode with a map back to the raw text, escape replacements.
//!
//! A value cannot hide behind a reference (`&#43;55 11 9…`, `joao&#64;example.net`,
//! `J&uuml;rgen`): detectors run on the decoded text, and each replacement is spliced into
//! the *raw* text at the place the map gives, so every byte outside a finding stays as it
//! came, references included.
//!
//! Decoded: numeric references (`&#43;`, `&#x2B;`, with or without the `;`), and the named
//! references of [`NAMED`] (the Latin-1 set and the ASCII punctuation ones), which need their
//! `;`. Any other `&…` is left as literal text, as a browser does with an unknown name; a
//! name missing from the table is therefore not decoded, which can hide a letter of a name
//! but not a digit, `+` or `@` (all of which are in the table).

/// Named references outside Latin-1 (U+00A0..=U+00FF, see [`LATIN1`]).
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("commat", '@'),
    ("plus", '+'),
    ("num", '#'),
    ("period", '.'),
    ("comma", ','),
    ("colon", ':'),
    ("semi", ';'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrack", '['),
    ("rbrack", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("lbrace", '{'),
    ("rbrace", '}'),
    ("lowbar", '_'),
    ("hyphen", '\u{2010}'),
    ("dash", '\u{2010}'),
    ("ndash", '\u{2013}'),
    ("mdash", '\u{2014}'),
    ("minus", '\u{2212}'),
    ("excl", '!'),
    ("quest", '?'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("percnt", '%'),
    ("dollar", '$'),
    ("equals", '='),
    ("ast", '*'),
    ("midast", '*'),
    ("Hat", '^'),
    ("grave", '`'),
    ("verbar", '|'),
    ("vert", '|'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("lsquo", '\u{2018}'),
    ("rsquo", '\u{2019}'),
    ("ldquo", '\u{201C}'),
    ("rdquo", '\u{201D}'),
    ("bull", '\u{2022}'),
    ("hellip", '\u{2026}'),
    ("euro", '\u{20AC}'),
    ("OElig", '\u{152}'),
    ("oelig", '\u{153}'),
    ("Scaron", '\u{160}'),
    ("scaron", '\u{161}'),
    ("Yuml", '\u{178}'),
];

/// Names of U+00A0..=U+00FF, in code point order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

fn named(name: &str) -> Option<char> {
    if let Some(i) = LATIN1.iter().position(|n| *n == name) {
        return char::from_u32(0xA0 + i as u32);
    }
    NAMED.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The reference starting at `raw[i]` (an `&`): the character and the raw length.
fn reference(raw: &[u8], i: usize) -> Option<(char, usize)> {
    let rest = &raw[i + 1..];
    if rest.first() == Some(&b'#') {
        let (hex, digits_at) = match rest.get(1) {
            Some(b'x' | b'X') => (true, 2),
            _ => (false, 1),
        };
        let digits = rest[digits_at..]
            .iter()
            .take_while(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let mut v: u32 = 0;
        for &b in &rest[digits_at..digits_at + digits] {
            let d = (b as char).to_digit(if hex { 16 } else { 10 }).unwrap_or(0);
            v = v
                .saturating_mul(if hex { 16 } else { 10 })
                .saturating_add(d);
        }
        let mut len = 1 + digits_at + digits;
        if rest.get(digits_at + digits) == Some(&b';') {
            len += 1;
        }
        let c = match v {
            0 => '\u{FFFD}',
            v => char::from_u32(v).unwrap_or('\u{FFFD}'),
        };
        return Some((c, len));
    }
    let n = rest
        .iter()
        .take(32)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if n == 0 || rest.get(n) != Some(&b';') {
        return None;
    }
    let name = std::str::from_utf8(&rest[..n]).ok()?;
    named(name).map(|c| (c, n + 2))
}

/// Decodes the character references of `raw` into `out` and fills `map` so that `map[i]`
/// is the raw offset of decoded byte `i` (`map.len() == out.len() + 1`). Returns `false`
/// (and leaves `out` and `map` empty) when `raw` holds no reference, so the caller scans
/// `raw` itself.
pub fn decode(raw: &str, out: &mut String, map: &mut Vec<u32>) -> bool {
    out.clear();
    map.clear();
    let bytes = raw.as_bytes();
    let Some(first) = memchr::memchr(b'&', bytes) else {
        return false;
    };
    let mut i = 0;
    let mut next_amp = Some(first);
    let mut any = false;
    let mut utf8 = [0u8; 4];
    while i < bytes.len() {
        let end = next_amp.unwrap_or(bytes.len());
        if end > i {
            out.push_str(&raw[i..end]);
            map.extend((i..end).map(|k| k as u32));
            i = end;
            continue;
        }
        // bytes[i] == b'&'
        match reference(bytes, i) {
            Some((c, len)) => {
                any = true;
                let s = c.encode_utf8(&mut utf8);
                map.extend(std::iter::repeat_n(i as u32, s.len()));
                out.push_str(s);
                i += len;
            }
            None => {
                out.push('&');
                map.push(i as u32);
                i += 1;
            }
        }
        next_amp = memchr::memchr(b'&', &bytes[i..]).map(|p| i + p);
    }
    map.push(bytes.len() as u32);
    if !any {
        out.clear();
        map.clear();
    }
    any
}

/// Appends `s` escaped for HTML text or a quoted attribute value.
pub fn escape(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    // Replacements rarely hold any of these: find the first with SIMD, copy the rest whole.
    let first = match (
        memchr::memchr3(b'&', b'<', b'>', bytes),
        memchr::memchr2(b'"', b'\'', bytes),
    ) {
        (None, None) => {
            out.push_str(s);
            return;
        }
        (a, b) => a.unwrap_or(usize::MAX).min(b.unwrap_or(usize::MAX)),
    };
    out.push_str(&s[..first]);
    let mut from = first;
    for (i, b) in bytes.iter().enumerate().skip(first) {
        let esc = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(esc);
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_numeric_and_named_references_with_a_map() {
        let raw = "J&uuml;rgen &#43;55 &#x2B;57 joao&#64;example.net &commat; &bogus; & &#43x";
        let (mut out, mut map) = (String::new(), Vec::new());
        assert!(decode(raw, &mut out, &mut map));
        assert_eq!(out, "Jürgen +55 +57 joao@example.net @ &bogus; & +x");
        assert_eq!(map.len(), out.len() + 1);
        let plus = out.find('+').unwrap();
        assert_eq!(&raw[map[plus] as usize..map[plus + 1] as usize], "&#43;");
        assert_eq!(*map.last().unwrap() as usize, raw.len());
        assert!(!decode("no references", &mut out, &mut map));
        assert!(!decode("a & b &unknown;", &mut out, &mut map));
        assert!(out.is_empty() && map.is_empty());
    }

    #[test]
    fn escapes_what_html_requires() {
        let mut out = String::new();
        escape(r#"a&b<c>"d'"#, &mut out);
        assert_eq!(out, "a&amp;b&lt;c&gt;&quot;d&#39;");
        for (s, want) in [
            ("", ""),
            ("vt_phone_k1_abc", "vt_phone_k1_abc"),
            ("x'y", "x&#39;y"),
            ("\"", "&quot;"),
            ("ü<", "ü&lt;"),
        ] {
            out.clear();
            escape(s, &mut out);
            assert_eq!(out, want);
        }
    }
}
