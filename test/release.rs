//! Release consistency: the crate version (Cargo.toml) is the one source of truth, and every
//! other place that names a version must agree with it; the README documents every variable.
//! `test/release-check X.Y.Z` runs these before a release.

use std::path::Path;

use ecs_oidc_deploy::help::VARIABLES;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `X.Y.Z` with three numeric parts, as Bitbucket's toolkit expects of a pipe version.
fn is_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The tag of the `image:` line of pipe.yml.
fn pipe_yml_image_tag(pipe_yml: &str) -> Option<String> {
    let image = pipe_yml
        .lines()
        .find_map(|l| l.strip_prefix("image:"))?
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let (_, tag) = image.rsplit_once(':')?;
    Some(tag.to_string())
}

/// The first `## [X]` heading of a Keep-a-Changelog file that is not `[Unreleased]`.
fn newest_changelog_version(changelog: &str) -> Option<String> {
    changelog
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter_map(|rest| rest.split_once(']').map(|(v, _)| v.trim()))
        .find(|v| !v.eq_ignore_ascii_case("unreleased"))
        .map(str::to_string)
}

/// `(line number, tag)` of every `pipe: …ecs-oidc-deploy:TAG` inside a ```yaml block.
fn readme_pipe_tags(readme: &str) -> Vec<(usize, String)> {
    let mut in_yaml = false;
    let mut tags = Vec::new();
    for (i, line) in readme.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_yaml = !in_yaml && trimmed.trim_start_matches('`').trim() == "yaml";
            continue;
        }
        if !in_yaml {
            continue;
        }
        let Some(reference) = trimmed
            .trim_start_matches("- ")
            .strip_prefix("pipe:")
            .map(str::trim)
        else {
            continue;
        };
        if let Some((_, tag)) = reference.split_once("ecs-oidc-deploy:") {
            tags.push((i + 1, tag.trim().to_string()));
        }
    }
    tags
}

/// The variable names in the first column of the table under `## Variables`.
fn readme_table_variables(readme: &str) -> Vec<String> {
    readme
        .lines()
        .skip_while(|l| l.trim() != "## Variables")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn the_crate_version_is_semver_with_three_numbers() {
    assert!(
        is_semver(VERSION),
        "Cargo.toml version {VERSION:?} must be X.Y.Z"
    );
}

#[test]
fn pipe_yml_image_tag_is_the_crate_version() {
    let tag =
        pipe_yml_image_tag(&read("pipe.yml")).expect("pipe.yml has an `image: name:tag` line");
    assert_eq!(
        tag, VERSION,
        "pipe.yml `image:` tag must be the crate version (Cargo.toml); bump it on every release"
    );
}

#[test]
fn newest_changelog_version_is_the_crate_version() {
    let newest = newest_changelog_version(&read("CHANGELOG.md"))
        .expect("CHANGELOG.md has a `## [X.Y.Z] - YYYY-MM-DD` heading");
    assert_eq!(
        newest, VERSION,
        "the newest versioned CHANGELOG.md heading (after any [Unreleased]) must be the crate version"
    );
}

/// `X.Y` of the crate version: the moving tag README's examples recommend.
fn minor_tag(version: &str) -> String {
    version
        .rsplit_once('.')
        .map_or(version, |(minor, _)| minor)
        .to_string()
}

#[test]
fn readme_yaml_examples_use_the_moving_tag_of_the_crate_version() {
    let tags = readme_pipe_tags(&read("README.md"));
    assert!(
        !tags.is_empty(),
        "README.md has no `pipe: org/ecs-oidc-deploy:X.Y` in a ```yaml block"
    );
    let want = minor_tag(VERSION);
    let wrong: Vec<String> = tags
        .iter()
        .filter(|(_, tag)| *tag != want)
        .map(|(line, tag)| format!("README.md:{line}: {tag}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "README YAML examples must use {want} (the moving tag of the crate version {VERSION}, which picks up its patch releases), found:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn cargo_lock_has_the_crate_version() {
    let lock = read("Cargo.lock");
    let ours = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"ecs-oidc-deploy\"\n"))
        .expect("Cargo.lock lists ecs-oidc-deploy");
    assert!(
        ours.contains(&format!("\nversion = \"{VERSION}\"\n")),
        "Cargo.lock is stale for version {VERSION}: run `cargo build` and commit Cargo.lock"
    );
}

#[test]
fn every_variable_is_in_the_readme_table() {
    let documented = readme_table_variables(&read("README.md"));
    assert!(
        documented.len() >= 5,
        "README.md `## Variables` table not found or nearly empty: {documented:?}"
    );
    let missing: Vec<&str> = VARIABLES
        .iter()
        .map(|(name, _, _)| *name)
        .filter(|name| !documented.iter().any(|d| d == name))
        .collect();
    assert!(
        missing.is_empty(),
        "variables of help::VARIABLES missing from README's Variables table: {missing:?}"
    );
}

#[test]
fn pipe_yml_context_defaults_are_pipe_variables() {
    let pipe_yml = read("pipe.yml");
    let declared: Vec<&str> = pipe_yml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name:"))
        .map(str::trim)
        .collect();
    let unknown: Vec<&&str> = declared
        .iter()
        .filter(|name| !VARIABLES.iter().any(|(v, _, _)| v == *name))
        .collect();
    assert!(
        unknown.is_empty(),
        "pipe.yml declares variables the pipe does not read: {unknown:?}"
    );
}

// The parsers themselves, on small inputs, so a format drift cannot make the checks vacuous.

#[test]
fn parsers_find_what_they_should() {
    assert!(is_semver("1.0.3") && !is_semver("1.0") && !is_semver("1.0.x"));
    assert_eq!(minor_tag("1.0.3"), "1.0");
    assert_eq!(minor_tag("12.34.5"), "12.34");
    assert_eq!(
        pipe_yml_image_tag("name: x\nimage: org/ecs-oidc-deploy:1.2.3\n").as_deref(),
        Some("1.2.3")
    );
    assert_eq!(
        newest_changelog_version(
            "# Changelog\n\n## [Unreleased]\n\n### Added\n- x\n\n## [1.2.0] - 2026-01-02\n\n## [1.1.0] - 2025-12-01\n"
        )
        .as_deref(),
        Some("1.2.0")
    );
    let readme = "```yaml\n      - pipe: org/ecs-oidc-deploy:1.2.3\n```\n\
                  `pipe: org/ecs-oidc-deploy:1.2` in prose\n\
                  ```yaml\n- pipe: atlassian/aws-ecs-deploy:1.15.0\n- pipe: docker://org/ecs-oidc-deploy:9.9.9\n```\n";
    assert_eq!(
        readme_pipe_tags(readme),
        vec![(2, "1.2.3".to_string()), (7, "9.9.9".to_string())]
    );
    let table = "## Variables\n\n| Variable | Usage |\n|---|---|\n| `WAIT` | x |\n| `IMAGE` (*) | y |\n\n## Details\n| `OTHER` | z |\n";
    assert_eq!(readme_table_variables(table), vec!["WAIT", "IMAGE"]);
}
