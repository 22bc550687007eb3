//! Release consistency: the crate version (Cargo.toml) is the one source of truth, and every
//! other place that names a version must agree with it; README's YAML definition and Variables
//! table, pipe.yml and `--help` agree with the variable definitions (`src/vars.rs`).
//! `test/release-check X.Y.Z` runs these before a release.

use std::path::Path;

use ecs_oidc_deploy::vars::{self, Kind, Need, Shown};

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

/// The rows of the table under `## Variables`: (name, the rest of the row).
fn readme_table_rows(readme: &str) -> Vec<(String, String)> {
    readme
        .lines()
        .skip_while(|l| l.trim() != "## Variables")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| {
            rest.split_once('`')
                .map(|(name, rest)| (name.to_string(), rest.to_string()))
        })
        .collect()
}

/// The variable names in the first column of the table under `## Variables`.
fn readme_table_variables(readme: &str) -> Vec<String> {
    readme_table_rows(readme)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The `variables:` lines of the YAML block under `## YAML Definition`: (name, value, commented).
fn readme_yaml_variables(readme: &str) -> Vec<(String, String, bool)> {
    readme
        .lines()
        .skip_while(|l| l.trim() != "## YAML Definition")
        .skip_while(|l| l.trim() != "variables:")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .filter_map(|l| {
            let line = l.trim();
            let (line, commented) = match line.strip_prefix("# ") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            let (name, value) = line.split_once(": ")?;
            Some((name.to_string(), value.to_string(), commented))
        })
        .collect()
}

/// The names pipe.yml declares as context defaults.
fn pipe_yml_variables(pipe_yml: &str) -> Vec<String> {
    pipe_yml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name:"))
        .map(|name| name.trim().to_string())
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
fn the_readme_variables_table_lists_exactly_the_defined_variables_in_order() {
    let rows = readme_table_rows(&read("README.md"));
    let documented: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    let defined: Vec<&str> = vars::listed().map(|v| v.name).collect();
    assert_eq!(
        documented, defined,
        "README's Variables table must list the variables of src/vars.rs (Shown::Listed), in the same order"
    );
    for (var, (_, row)) in vars::listed().zip(&rows) {
        let marker = match var.need {
            Need::Required => " (*) |",
            Need::FromContext => " (**) |",
            Need::Optional => " |",
        };
        assert!(
            row.starts_with(marker),
            "README row of {} must start with `{marker}` ({:?}), got {row:?}",
            var.name,
            var.need
        );
        // A default that is a value (not a description) is stated as the definition says.
        if matches!(var.kind, Kind::Bool | Kind::Seconds | Kind::Number)
            || var.default.parse::<u32>().is_ok()
        {
            let want = format!("Default: `{}`", var.default);
            assert!(
                row.contains(&want),
                "README row of {} must say {want}",
                var.name
            );
        }
    }
}

#[test]
fn the_readme_yaml_definition_shows_every_listed_variable_once_with_its_placeholder() {
    let lines = readme_yaml_variables(&read("README.md"));
    let names: Vec<&str> = lines.iter().map(|(name, _, _)| name.as_str()).collect();
    for var in vars::listed() {
        let found: Vec<&(String, String, bool)> = lines
            .iter()
            .filter(|(name, _, _)| name == var.name)
            .collect();
        let [(_, value, commented)] = found.as_slice() else {
            panic!(
                "README YAML definition must show {} exactly once, shows: {names:?}",
                var.name
            );
        };
        assert!(
            value.starts_with(var.kind.placeholder()),
            "README YAML definition: {} must be {}, got {value:?}",
            var.name,
            var.kind.placeholder()
        );
        if *commented {
            assert!(
                value.contains("# Optional"),
                "README YAML definition: commented {} must say `# Optional`",
                var.name
            );
        } else {
            assert_ne!(
                var.need,
                Need::Optional,
                "README YAML definition: optional {} must be commented out",
                var.name
            );
        }
    }
    let unknown: Vec<&&str> = names
        .iter()
        .filter(|n| !vars::listed().any(|v| v.name == **n))
        .collect();
    assert!(
        unknown.is_empty(),
        "README YAML definition names unknown variables: {unknown:?}"
    );
}

#[test]
fn the_readme_names_every_advanced_variable_and_alias() {
    let readme = read("README.md");
    for var in vars::ALL {
        if var.shown == Shown::Advanced {
            assert!(
                readme.contains(&format!("`{}`", var.name)),
                "README must mention the advanced variable {}",
                var.name
            );
        }
        if let Some(alias) = var.alias {
            assert!(
                readme.contains(&format!("`{}`", alias.old)) && readme.contains(alias.removed_in),
                "README must say that {} is read as {} until {}",
                alias.old,
                var.name,
                alias.removed_in
            );
        }
    }
}

#[test]
fn pipe_yml_declares_exactly_the_variables_that_may_come_from_context() {
    let declared = pipe_yml_variables(&read("pipe.yml"));
    let defined: Vec<&str> = vars::ALL
        .iter()
        .filter(|v| v.need == Need::FromContext)
        .map(|v| v.name)
        .collect();
    assert_eq!(
        declared, defined,
        "pipe.yml context defaults must be the variables of src/vars.rs with Need::FromContext, in order"
    );
}

#[test]
fn help_renders_every_definition() {
    let help = ecs_oidc_deploy::help::text();
    for var in vars::ALL {
        assert!(help.contains(var.name), "--help lacks {}", var.name);
        if var.shown == Shown::Listed {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", var.name)))
                .unwrap_or_else(|| panic!("--help has no line for {}", var.name));
            assert!(
                line.contains(var.about) && line.ends_with(&format!("[default: {}]", var.default)),
                "--help line of {} must show its meaning and default: {line:?}",
                var.name
            );
        }
    }
}

#[test]
fn definitions_are_unique_and_their_defaults_parse() {
    let mut names: Vec<&str> = vars::ALL.iter().map(|v| v.name).collect();
    names.extend(vars::ALL.iter().filter_map(|v| v.alias.map(|a| a.old)));
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "a name is defined twice: {names:?}"
    );
    for var in vars::ALL {
        let ok = match var.kind {
            Kind::Bool => ["true", "false"].contains(&var.default),
            Kind::Seconds => var.default.parse::<u64>().is_ok(),
            Kind::Number => var.default.parse::<f64>().is_ok(),
            Kind::Choice(choices) => choices.contains(&var.default),
            _ => true,
        };
        assert!(
            ok,
            "{}: default {:?} is not a {:?}",
            var.name, var.default, var.kind
        );
        assert!(
            var.about.len() < 200 && !var.about.ends_with('.'),
            "{}: the one-line meaning is too long or ends with a full stop",
            var.name
        );
    }
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
    let yaml = "## YAML Definition\n\n```yaml\n- step:\n    script:\n      - pipe: x\n        variables:\n          IMAGE: '<string>'\n          # WAIT: '<boolean>' # Optional\n```\n          NOT: 'this'\n";
    assert_eq!(
        readme_yaml_variables(yaml),
        vec![
            ("IMAGE".to_string(), "'<string>'".to_string(), false),
            (
                "WAIT".to_string(),
                "'<boolean>' # Optional".to_string(),
                true
            )
        ]
    );
    assert_eq!(
        pipe_yml_variables("variables:\n  - name: A\n    default: \"$A\"\n  - name: B\n"),
        vec!["A", "B"]
    );
}
