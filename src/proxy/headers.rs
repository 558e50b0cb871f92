//! Header rules, both directions.
//!
//! * Requests: hop-by-hop headers removed (and those `Connection` names), `X-Forwarded-For`
//!   / `-Proto` / `-Host` added, `Host` rewritten unless configured to keep it, and for a
//!   masked response: `Range` and conditional headers dropped (a partial or cached body
//!   cannot be masked), `Accept-Encoding` limited to codings veil decodes.
//! * Responses of masked bodies: `Content-Length` removed (the length changes), `ETag`
//!   and `Accept-Ranges` removed, `Cache-Control: private` and `Vary` set, and PII masked
//!   in every header but the structural ones (`Set-Cookie`, `Location`, custom `X-` …).
use crate::engine::format::text::ValueMasker;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use std::net::IpAddr;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those named by `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

/// Adds `X-Forwarded-For`, `-Proto` and `-Host`.
pub fn add_forwarded(
    headers: &mut HeaderMap,
    peer: IpAddr,
    https: bool,
    host: Option<&HeaderValue>,
) {
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    if let Some(h) = host {
        headers.insert("x-forwarded-host", h.clone());
    }
}

/// Request headers that would let the upstream send what cannot be masked.
pub fn prepare_masked_request(headers: &mut HeaderMap) {
    headers.remove(header::RANGE);
    headers.remove(header::IF_RANGE);
    headers.remove(header::IF_NONE_MATCH);
    headers.remove(header::IF_MODIFIED_SINCE);
    let accepted: Vec<&str> = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            ["gzip", "deflate", "br", "zstd"]
                .into_iter()
                .filter(|c| super::codec::Coding::parse(c).is_some_and(|c| c.accepted_by(v)))
                .collect()
        })
        .unwrap_or_default();
    if accepted.is_empty() {
        headers.remove(header::ACCEPT_ENCODING);
    } else if let Ok(v) = HeaderValue::from_str(&accepted.join(", ")) {
        headers.insert(header::ACCEPT_ENCODING, v);
    }
}

/// Response headers of a body veil rewrote.
pub fn rewrite_masked_response(headers: &mut HeaderMap, encoding: Option<&'static str>) {
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ETAG);
    headers.remove(header::ACCEPT_RANGES);
    // A digest of the unmasked body must not survive.
    headers.remove("content-md5");
    headers.remove("digest");
    match encoding {
        Some(e) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        None => {
            headers.remove(header::CONTENT_ENCODING);
        }
    }
    let cc = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut parts: Vec<String> = cc
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p != "public" && !p.starts_with("s-maxage"))
        .collect();
    if !parts.iter().any(|p| p == "private" || p == "no-store") {
        parts.insert(0, "private".into());
    }
    if let Ok(v) = HeaderValue::from_str(&parts.join(", ")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    let mut vary: Vec<String> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    for v in ["Accept-Encoding", "Authorization", "Cookie"] {
        if !vary.iter().any(|x| x.eq_ignore_ascii_case(v) || x == "*") {
            vary.push(v.to_owned());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&vary.join(", ")) {
        headers.insert(header::VARY, v);
    }
}

const PATH_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// Whether `Content-Disposition` names a CSV or TSV attachment (an export).
pub fn csv_attachment(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_DISPOSITION)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .any(|v| {
            let v = v.trim();
            v.starts_with("attachment")
                && [".csv", ".tsv"].iter().any(|ext| {
                    v.ends_with(ext)
                        || v.contains(&*[*ext, "\""].concat())
                        || v.contains(&*[*ext, ";"].concat())
                })
        })
}

/// Headers that carry the response's framing and policy, never a person's data: the only
/// ones not scanned.
pub const STRUCTURAL: [&str; 31] = [
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "date",
    "cache-control",
    "etag",
    "vary",
    "last-modified",
    "expires",
    "age",
    "accept-ranges",
    "connection",
    "keep-alive",
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "x-xss-protection",
    "referrer-policy",
    "content-security-policy",
    "content-security-policy-report-only",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
    "alt-svc",
    "retry-after",
];

/// Headers whose values are URLs or file names, percent-encoded: decoded before the
/// detectors, so that `%2B55…` in a path segment cannot hide a number.
const URL_VALUED: [&str; 5] = [
    "content-disposition",
    "location",
    "content-location",
    "link",
    "refresh",
];

/// Masks PII in every response header but the structural ones (`Set-Cookie`,
/// `WWW-Authenticate`, custom `X-` headers included), every line of each; URL-valued ones
/// are percent-decoded first. A value that masks to something a header cannot hold is
/// dropped. Returns how many header values changed.
pub fn mask_response_headers(headers: &mut HeaderMap, values: &mut ValueMasker) -> usize {
    let mut changed = 0;
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| !STRUCTURAL.contains(&n.as_str()))
        .cloned()
        .collect();
    for name in names {
        let url_valued = URL_VALUED.contains(&name.as_str());
        let mut lines: Vec<HeaderValue> = Vec::new();
        let mut touched = false;
        for v in headers.get_all(&name) {
            let text = String::from_utf8_lossy(v.as_bytes());
            let mut out = String::new();
            let masked = if url_valued {
                let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
                values
                    .mask_text(&decoded, &mut out)
                    .then(|| utf8_percent_encode(&out, PATH_UNSAFE).to_string())
            } else {
                values.mask_text(&text, &mut out).then_some(out)
            };
            match masked {
                None => lines.push(v.clone()),
                Some(m) => {
                    touched = true;
                    changed += 1;
                    // A value a header cannot hold any more is dropped, never sent clear.
                    if let Ok(hv) = HeaderValue::from_str(&m) {
                        lines.push(hv);
                    }
                }
            }
        }
        if touched {
            headers.remove(&name);
            for v in lines {
                headers.append(name.clone(), v);
            }
        }
    }
    changed
}
