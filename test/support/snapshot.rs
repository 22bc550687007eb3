//! Output snapshots with insta: the user-visible lines of a run, compared with
//! `test/snapshots/<name>.snap` after [`FILTERS`] blank what changes from run to run.
//!
//! A missing or different snapshot fails the test (`test/run` makes sure of it, whatever
//! `INSTA_UPDATE` the shell has); the new output is left beside it as `<name>.snap.new`, and
//! `cargo insta review` shows the difference and accepts or rejects it (test/README.md, Development).

/// Regex and replacement, applied in this order. Durations come before epoch seconds so that
/// `1767225600s` is a duration.
pub const FILTERS: [(&str, &str); 3] = [
    // Request ids: everything after the label.
    (r"request id: [^\n]*", "request id: <id>"),
    // Durations as the pipe prints them: `1.2s`, `4m05s`, `59m`.
    (r"\b\d[\d.]*(?:m\d+s|m|s)\b", "<t>"),
    // Epoch seconds (the token's expiry) change with the clock.
    (r"\b\d{10}\b", "<epoch>"),
];

/// Compares `actual`, filtered, with the snapshot `test/snapshots/<name>.snap`.
pub fn assert_snapshot(name: &str, actual: &str) {
    settings().bind(|| insta::assert_snapshot!(name, actual));
}

/// insta's settings for output snapshots: [`FILTERS`], and `test/snapshots/<name>.snap`.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(super::manifest_dir().join("test").join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (regex, replacement) in FILTERS {
        settings.add_filter(regex, replacement);
    }
    settings
}
