//! One spelling of every request path, before routing and before forwarding, so that veil
//! and the upstream always agree on which route a request is.
//!
//! The inbox (Rails) squeezes `//`, and a hop behind veil (nginx) decodes percent-encoded
//! unreserved characters and resolves dot segments: `//api/v1/…`, `/%61pi/v1/…`,
//! `/assets/../api/v1/…`, `/assets/%2e%2e/api/…` all reach the same controller as
//! `/api/v1/…`. Matched raw, they fell to a pass-through or generic route. So the path is
//! normalized once ([RFC 3986] §6.2.2: unreserved characters decoded, percent-encoding
//! upper-cased, dot segments removed; and repeated slashes squeezed), routed, and forwarded
//! in that form. What has no single reading is refused: an encoded slash or backslash
//! (`..%2f`), a raw backslash, an encoded NUL, a malformed escape.
//!
//! [RFC 3986]: https://www.rfc-editor.org/rfc/rfc3986
use std::borrow::Cow;

/// Why a path cannot be normalized (the request is refused with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("an encoded slash or backslash has no single reading")]
    EncodedSeparator,
    #[error("a backslash in the path")]
    Backslash,
    #[error("an encoded NUL or control character")]
    Control,
    #[error("a malformed percent-escape")]
    BadEscape,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The normalized form of `path` (a request target's path, without its query), borrowed
/// when it is already normal.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    let plain = bytes.first() == Some(&b'/')
        && !bytes.contains(&b'%')
        && !bytes.contains(&b'\\')
        && !path.contains("//")
        && !path.split('/').any(|s| s == "." || s == "..");
    if plain {
        return Ok(Cow::Borrowed(path));
    }
    // 1. Percent-encoding: unreserved characters decoded, the rest kept, upper-cased.
    let mut decoded = String::with_capacity(path.len() + 1);
    if bytes.first() != Some(&b'/') {
        decoded.push('/');
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let b = h << 4 | l;
                match b {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0..=0x1f | 0x7f => return Err(PathError::Control),
                    b if unreserved(b) => decoded.push(char::from(b)),
                    b => {
                        decoded.push('%');
                        decoded.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                        decoded.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            _ => {
                // Copy up to the next byte that needs a look (keeps UTF-8 whole).
                let next = bytes[i..]
                    .iter()
                    .position(|&b| b == b'%' || b == b'\\')
                    .map_or(bytes.len(), |p| i + p);
                decoded.push_str(&path[i..next]);
                i = next;
            }
        }
    }
    // 2. Dot segments removed, repeated slashes squeezed.
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if normal.is_empty() || (trailing && !normal.ends_with('/')) {
        normal.push('/');
    }
    Ok(Cow::Owned(normal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_route_comes_out_the_same() {
        let want = "/api/v1/accounts/1/contacts";
        for p in [
            "/api/v1/accounts/1/contacts",
            "//api/v1/accounts/1/contacts",
            "/api//v1/accounts/1/contacts",
            "/api/v1/accounts/1//contacts",
            "/%61pi/v1/accounts/1/contacts",
            "/%61%70%69/v1/accounts/1/contacts",
            "/api/v1/./accounts/1/contacts",
            "/assets/../api/v1/accounts/1/contacts",
            "/assets/%2e%2e/api/v1/accounts/1/contacts",
            "/assets/%2E%2E/api/v1/accounts/1/contacts",
            "/assets/.%2e/api/v1/accounts/1/contacts",
            "/api/v1/profile/../accounts/1/contacts",
            "/../../api/v1/accounts/1/contacts",
            "/api/v1/accounts/1/contacts/.",
        ] {
            let n = normalize(p).unwrap();
            assert_eq!(n.trim_end_matches('/'), want, "{p}");
            // Idempotent.
            assert_eq!(normalize(&n).unwrap(), n, "{p}");
        }
        assert_eq!(normalize("/app/").unwrap(), "/app/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert!(matches!(normalize("/api/v1/x"), Ok(Cow::Borrowed(_))));
        // Reserved characters stay encoded (upper-cased), UTF-8 passes.
        assert_eq!(normalize("/search/a%2bb%3f").unwrap(), "/search/a%2Bb%3F");
        assert_eq!(
            normalize("/contatos/joão/%c3%a9").unwrap(),
            "/contatos/joão/%C3%A9"
        );
    }

    #[test]
    fn what_has_no_single_reading_is_refused() {
        for (p, e) in [
            (
                "/packs/..%2fapi/v1/accounts/1/contacts",
                PathError::EncodedSeparator,
            ),
            ("/packs/..%2Fapi", PathError::EncodedSeparator),
            ("/packs/..%5capi", PathError::EncodedSeparator),
            ("/packs/..\\api", PathError::Backslash),
            ("/api%00/x", PathError::Control),
            ("/api/%0a", PathError::Control),
            ("/api/%zz", PathError::BadEscape),
            ("/api/%4", PathError::BadEscape),
        ] {
            assert_eq!(normalize(p), Err(e), "{p}");
        }
    }
}
