//! What a masker found, by kind: for metrics and the audit log.
use crate::vocab::kind::KindId;

/// Counts of what was masked, for metrics and the audit log: per kind, values replaced and
/// values served in the clear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchCounts {
    pub masked: Vec<u32>,
    pub clear: Vec<u32>,
}

impl MatchCounts {
    pub(crate) fn bump(&mut self, kind: KindId, clear: bool) {
        self.bump_by(kind, clear, 1);
    }

    pub(crate) fn bump_by(&mut self, kind: KindId, clear: bool, n: u32) {
        let v = if clear {
            &mut self.clear
        } else {
            &mut self.masked
        };
        let i = kind.0 as usize;
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] += n;
    }

    /// Appends these counts to `snap`: masked, then clear, `kinds` of each.
    pub(crate) fn snapshot(&self, kinds: usize, snap: &mut Vec<u32>) {
        for v in [&self.masked, &self.clear] {
            snap.extend_from_slice(v);
            snap.resize(snap.len() + kinds - v.len(), 0);
        }
    }

    /// What was counted since `snap` (a [`Self::snapshot`]), as (kind, served clear, how
    /// many), appended to `out`.
    pub(crate) fn since(&self, snap: &[u32], out: &mut Vec<(KindId, bool, u32)>) {
        let kinds = snap.len() / 2;
        for (clear, now, before) in [
            (false, &self.masked, &snap[..kinds]),
            (true, &self.clear, &snap[kinds..]),
        ] {
            for (k, (&n, &b)) in now.iter().zip(before).enumerate() {
                if n > b {
                    out.push((KindId(k as u16), clear, n - b));
                }
            }
        }
    }

    /// Adds the counts of `other` (a sub-masker's) to these.
    pub fn add(&mut self, other: &MatchCounts) {
        for (mine, theirs) in [
            (&mut self.masked, &other.masked),
            (&mut self.clear, &other.clear),
        ] {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
    }

    pub fn total_masked(&self) -> u64 {
        self.masked.iter().map(|&c| c as u64).sum()
    }
}
