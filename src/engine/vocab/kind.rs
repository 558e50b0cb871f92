//! Kinds of PII (`phone`, `email`, `cpf`, …) as small integer ids.
//!
//! Kind names come from the rules (built-in detectors bring theirs, custom detectors and
//! field rules may add more); the compiled rule set interns them so that the hot path
//! indexes arrays instead of hashing strings.

/// An interned kind: an index into [`Kinds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindId(pub u16);

/// The kind names of one rule set, in id order.
#[derive(Clone, Debug, Default)]
pub struct Kinds {
    names: Vec<String>,
}

impl Kinds {
    /// Returns the id of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> KindId {
        if let Some(id) = self.get(name) {
            return id;
        }
        self.names.push(name.to_owned());
        KindId((self.names.len() - 1) as u16)
    }

    pub fn get(&self, name: &str) -> Option<KindId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| KindId(i as u16))
    }

    pub fn name(&self, id: KindId) -> &str {
        &self.names[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (KindId, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (KindId(i as u16), n.as_str()))
    }

    /// Whether `name` is a valid kind name: it is embedded in tokens, so it is kept to
    /// `[a-z][a-z0-9]{0,15}`.
    pub fn valid_name(name: &str) -> bool {
        let b = name.as_bytes();
        !b.is_empty()
            && b.len() <= 16
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }
}
