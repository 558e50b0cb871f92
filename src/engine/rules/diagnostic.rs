//! Problems found in rule files, with where they are.
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem: `file:line:column: severity: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// The errors (and warnings) of a rule set that did not compile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A rule file's text, to place a diagnostic on the line that caused it.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    /// The position of the first occurrence of `needle` (as a YAML key or value) at or
    /// after the line of `after`, or line 1.
    pub fn locate(&self, needle: &str, after: Option<&str>) -> (usize, usize) {
        let start = after.and_then(|a| self.text.find(a)).unwrap_or(0);
        let at = self.text[start..]
            .find(needle)
            .map(|p| p + start)
            .or_else(|| self.text.find(needle));
        match at {
            Some(p) => {
                let line = self.text[..p].matches('\n').count() + 1;
                let col = p - self.text[..p].rfind('\n').map_or(0, |n| n + 1) + 1;
                (line, col)
            }
            None => (1, 1),
        }
    }

    /// The position of the last of `anchors`, each searched after the previous one.
    pub fn locate_seq(&self, anchors: &[&str]) -> (usize, usize) {
        let mut at = 0;
        for a in anchors {
            match self.text[at..].find(a) {
                Some(p) => at += p,
                None => break,
            }
        }
        let line = self.text[..at].matches('\n').count() + 1;
        let col = at - self.text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
        (line, col)
    }

    pub fn diag(
        &self,
        severity: Severity,
        needle: &str,
        after: Option<&str>,
        message: String,
    ) -> Diagnostic {
        let (line, column) = self.locate(needle, after);
        Diagnostic {
            severity,
            file: self.path.clone(),
            line,
            column,
            message,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
