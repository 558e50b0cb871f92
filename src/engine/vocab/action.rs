//! What happens to a value once found: the actions of the rule language.
use crate::token::KeyRing;

/// One action, as a role's rules give it for a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the value as it is.
    Clear,
    /// Replace it with fixed text.
    Redact { text: Box<str> },
    /// Replace letters and digits with `ch`, keeping separators, the first `keep_first`
    /// and the last `keep_last` of them (`+55 11 •••••-4321`). For an e-mail address the
    /// first character of the local part and the domain are kept (`m•••••@example.com`).
    Mask {
        keep_first: u8,
        keep_last: u8,
        ch: char,
    },
    /// Keyed hash of the normalized value: stable, irreversible.
    Hash,
    /// Reversible token of the normalized value: agents can search and reply with it.
    Token,
}

impl Action {
    /// The default redaction text for a kind.
    pub fn redact_default(kind: &str) -> Action {
        Action::Redact {
            text: format!("[redacted:{kind}]").into(),
        }
    }

    /// How much of the value the action hides; the most restrictive is `Redact`.
    /// Used to pick an action where a role names none for a kind.
    pub fn restrictiveness(&self) -> u8 {
        match self {
            Action::Clear => 0,
            Action::Mask { .. } => 1,
            Action::Token => 2,
            Action::Hash => 3,
            Action::Redact { .. } => 4,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Action::Clear => "clear",
            Action::Redact { .. } => "redact",
            Action::Mask { .. } => "mask",
            Action::Hash => "hash",
            Action::Token => "token",
        }
    }

    /// Appends the replacement of `raw` (whose canonical form is `normalized`) to `out`.
    pub fn apply(&self, kind: &str, raw: &str, normalized: &str, keys: &KeyRing, out: &mut String) {
        match self {
            Action::Clear => out.push_str(raw),
            Action::Redact { text } => out.push_str(text),
            Action::Hash => keys.hash(kind, normalized, out),
            Action::Token => keys.tokenize(kind, normalized, out),
            Action::Mask {
                keep_first,
                keep_last,
                ch,
            } => mask_chars(raw, *keep_first as usize, *keep_last as usize, *ch, out),
        }
    }
}

fn mask_chars(raw: &str, keep_first: usize, keep_last: usize, ch: char, out: &mut String) {
    if let Some((local, domain)) = raw.rsplit_once('@') {
        let mut chars = local.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        for c in chars {
            out.push(if c.is_alphanumeric() { ch } else { c });
        }
        out.push('@');
        out.push_str(domain);
        return;
    }
    let total = raw.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    for c in raw.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            if seen <= keep_first || seen + keep_last > total {
                out.push(c);
            } else {
                out.push(ch);
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(raw: &str, first: u8, last: u8) -> String {
        let mut out = String::new();
        let keys = KeyRing::ephemeral().unwrap();
        Action::Mask {
            keep_first: first,
            keep_last: last,
            ch: '•',
        }
        .apply("phone", raw, raw, &keys, &mut out);
        out
    }

    #[test]
    fn mask_keeps_separators_and_the_ends() {
        assert_eq!(mask("+55 11 98765-4321", 4, 4), "+55 11 •••••-4321");
        assert_eq!(mask("+5511987654321", 0, 4), "+•••••••••4321");
        assert_eq!(mask("123.456.789-09", 0, 2), "•••.•••.•••-09");
        assert_eq!(
            mask("maria.silva@example.com", 0, 4),
            "m••••.•••••@example.com"
        );
        assert_eq!(mask("12", 0, 4), "12");
    }
}
