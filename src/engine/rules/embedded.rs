//! The shipped rule packs, compiled into the binary, so that `veil demo` (and `veil serve`
//! without a rules folder) work from anywhere. `rules/` in the repository is the source;
//! a test checks that this list names every file there.
use super::diagnostic::Source;

/// The path that selects the embedded packs (`--rules embedded`).
pub const EMBEDDED: &str = "embedded";

macro_rules! packs {
    ($($path:literal),* $(,)?) => {
        /// `(path, text)` of every shipped rule file.
        pub const FILES: &[(&str, &str)] = &[$(($path, include_str!(concat!("../../../rules/", $path)))),*];
    };
}

packs!(
    "chatwoot/routes.yaml",
    "generic/detectors.yaml",
    "roles.yaml",
    "whatsapp/routes.yaml",
);

/// The embedded packs as sources for [`super::compile::compile_sources`].
pub fn sources() -> Vec<Source> {
    FILES
        .iter()
        .map(|(p, t)| Source {
            path: format!("{EMBEDDED}:{p}").into(),
            text: (*t).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_rule_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        let files = super::super::compile::rule_files(&dir).unwrap();
        let mut on_disk: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = super::FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "update the packs! list in src/engine/rules/embedded.rs"
        );
    }
}
