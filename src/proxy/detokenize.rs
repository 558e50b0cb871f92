//! Tokens sent back by agents (a search for `vt_phone_…`, a reply to it) turned back into
//! the real values before the request goes upstream, so that the inbox keeps working.
//! A token that does not decrypt is left as it is and counted.
use crate::engine::token::{KeyRing, TOKEN_PATTERN};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use regex::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;

fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(TOKEN_PATTERN).expect("the token pattern compiles"))
}

/// How a value is written where the token stood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// As it is (plain text).
    None,
    /// Percent-encoded (URL path, query, form body).
    Url,
    /// Escaped for the inside of a JSON string.
    Json,
}

/// Counts of one replacement pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detokenized {
    pub ok: u32,
    pub failed: u32,
}

const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Replaces every token in `text` that decrypts with its value.
pub fn detokenize<'a>(
    text: &'a str,
    keys: &KeyRing,
    escape: Escape,
    counts: &mut Detokenized,
) -> Cow<'a, str> {
    if !text.contains("vt_") {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut last = 0;
    for m in token_re().find_iter(text) {
        match keys.detokenize(m.as_str()) {
            Some((_, value)) => {
                counts.ok += 1;
                out.push_str(&text[last..m.start()]);
                match escape {
                    Escape::None => out.push_str(&value),
                    Escape::Url => out.extend(utf8_percent_encode(&value, URL_VALUE)),
                    Escape::Json => {
                        let mut v = Vec::new();
                        crate::engine::json::escape::encode(&value, &mut v);
                        out.push_str(std::str::from_utf8(&v).expect("escaped UTF-8 stays UTF-8"));
                    }
                }
                last = m.end();
            }
            None => counts.failed += 1,
        }
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_urls_and_json() {
        let keys = KeyRing::parse("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let mut t = String::new();
        keys.tokenize("phone", "+5511987654321", &mut t);
        let mut c = Detokenized::default();
        let q = format!("/api/v1/accounts/1/contacts/search?q={t}&page=1");
        assert_eq!(
            detokenize(&q, &keys, Escape::Url, &mut c),
            "/api/v1/accounts/1/contacts/search?q=%2B5511987654321&page=1"
        );
        let j = format!("{{\"content\":\"call {t}\"}}");
        assert_eq!(
            detokenize(&j, &keys, Escape::Json, &mut c),
            "{\"content\":\"call +5511987654321\"}"
        );
        assert_eq!(c.ok, 2);
        let forged = "vt_phone_k1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(detokenize(forged, &keys, Escape::None, &mut c), forged);
        assert_eq!(c.failed, 1);
    }
}
