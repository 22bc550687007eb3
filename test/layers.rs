//! The folders show the layers, and this keeps them true: a `use` across a forbidden direction
//! fails here, naming the file and line.
//!
//! - `src/aws/`: the adapters, one file per AWS service, the only code that names SDK types;
//! - `src/rules/`: pure decisions, with no I/O, no SDK type and nothing async;
//! - `src/steps/`: the runbook and its steps, the only code that calls the adapters;
//! - below all three: `src/config/`, `src/model/` (what is read, as plain data) and the
//!   single files `vars`, `context`, `error`, `report`, `secret` and `help`.
//!
//! Allowed: steps → rules and adapters; rules → base; adapters → base. Nothing else.

use std::path::{Path, PathBuf};

/// The layer a source file belongs to, by its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// `lib.rs` and `main.rs`: wire everything together.
    Root,
    Base,
    Rules,
    Adapters,
    Steps,
}

const BASE_FILES: &[&str] = &[
    "vars.rs",
    "context.rs",
    "error.rs",
    "report.rs",
    "secret.rs",
    "help.rs",
];

fn layer_of(relative: &str) -> Option<Layer> {
    match relative.split_once('/') {
        Some(("aws", _)) => Some(Layer::Adapters),
        Some(("rules", _)) => Some(Layer::Rules),
        Some(("steps", _)) => Some(Layer::Steps),
        Some(("config" | "model", _)) => Some(Layer::Base),
        Some(_) => None,
        None if relative == "lib.rs" || relative == "main.rs" => Some(Layer::Root),
        None if BASE_FILES.contains(&relative) => Some(Layer::Base),
        None => None,
    }
}

/// The SDK crates, which only the adapters may name.
const SDK: &[&str] = &[
    "aws_sdk_",
    "aws_smithy_",
    "aws_credential_types",
    "aws_types",
    "aws_config",
];

/// What a pure rule must not do.
const IMPURE: &[&str] = &[
    "async ",
    ".await",
    "tokio",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
];

/// Every forbidden thing `code` (one line, comments already removed) does in `layer`.
fn violations(layer: Layer, code: &str) -> Vec<String> {
    let imports = |module: &str| {
        let direct = ["::", ";", "}", ",", ")", " "]
            .iter()
            .any(|end| code.contains(&format!("crate::{module}{end}")));
        // `use crate::{aws, error::Error};`: each item of the group.
        let grouped = code.split("crate::{").skip(1).any(|group| {
            group
                .split(['}', ','])
                .map(|item| item.trim().split("::").next().unwrap_or(""))
                .any(|first| first == module)
        });
        direct || grouped
    };
    let forbidden_modules: &[&str] = match layer {
        Layer::Root | Layer::Steps => &[],
        Layer::Base => &["rules", "aws", "steps"],
        Layer::Rules | Layer::Adapters => &["steps"],
    };
    let mut found: Vec<String> = forbidden_modules
        .iter()
        .filter(|m| imports(m))
        .map(|m| format!("uses crate::{m}"))
        .collect();
    if layer == Layer::Rules && imports("aws") {
        found.push("uses crate::aws".into());
    }
    if layer == Layer::Adapters && imports("rules") {
        found.push("uses crate::rules".into());
    }
    if layer != Layer::Adapters && layer != Layer::Root {
        found.extend(
            SDK.iter()
                .filter(|s| code.contains(*s))
                .map(|s| format!("names the SDK ({s}…)")),
        );
    }
    if layer == Layer::Rules {
        found.extend(
            IMPURE
                .iter()
                .filter(|s| code.contains(*s))
                .map(|s| format!("is not pure ({})", s.trim())),
        );
    }
    found
}

/// The line without its `//` comment (doc comments included). A `//` inside a string literal
/// (a URL) also ends the code here, which can only hide a violation after it on that line.
fn code_of(line: &str) -> &str {
    line.split_once("//").map_or(line, |(code, _)| code)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_stays_in_its_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 30,
        "found only {} files under src/",
        files.len()
    );
    let mut problems = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let Some(layer) = layer_of(&relative) else {
            problems.push(format!(
                "src/{relative}: in no layer; put it under aws/, rules/, steps/, config/ or model/"
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            for v in violations(layer, code_of(line)) {
                found.push(format!("src/{relative}:{}: {layer:?} {v}", n + 1));
            }
        }
        // A `use crate::{…}` group that rustfmt spread over several lines.
        let joined: Vec<&str> = text.lines().map(code_of).collect();
        if found.is_empty() {
            for v in violations(layer, &joined.join(" ")) {
                found.push(format!(
                    "src/{relative}: {layer:?} {v} (in a grouped import)"
                ));
            }
        }
        problems.extend(found);
    }
    assert!(
        problems.is_empty(),
        "{} forbidden dependencies:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The check itself can fail: each forbidden direction is caught, each allowed one is not.
#[test]
fn the_layer_check_catches_each_forbidden_direction() {
    let caught = |layer, code| !violations(layer, code).is_empty();
    assert!(caught(Layer::Rules, "use crate::aws::ecs::Ecs;"));
    assert!(caught(Layer::Rules, "use crate::steps::apply;"));
    assert!(caught(Layer::Rules, "use aws_sdk_ecs::types::Service;"));
    assert!(caught(Layer::Rules, "pub async fn decide() {"));
    assert!(caught(
        Layer::Rules,
        "let text = std::fs::read_to_string(p);"
    ));
    assert!(caught(
        Layer::Adapters,
        "use crate::rules::rollout::assess;"
    ));
    assert!(caught(Layer::Adapters, "use crate::steps::follow;"));
    assert!(caught(Layer::Base, "use crate::rules::task_def;"));
    assert!(caught(Layer::Base, "use crate::aws::WriteAttempts;"));
    assert!(caught(Layer::Base, "use crate::{aws, error};"));
    assert!(caught(
        Layer::Base,
        "use crate::{ error::Error, rules::plan, };"
    ));
    assert!(caught(
        Layer::Steps,
        "use aws_credential_types::Credentials;"
    ));
    assert!(!caught(Layer::Steps, "use crate::aws::ecs::Ecs;"));
    assert!(!caught(Layer::Steps, "use crate::rules::rollout;"));
    assert!(!caught(Layer::Rules, "use crate::config::Config;"));
    assert!(!caught(Layer::Rules, "use crate::model::service::Service;"));
    assert!(!caught(
        Layer::Adapters,
        "use crate::model::service::Service;"
    ));
    assert!(!caught(Layer::Adapters, "use aws_sdk_ecs::Client;"));
    assert_eq!(code_of("/// see crate::aws::ecs"), "");
    assert_eq!(layer_of("steps/deploy.rs"), Some(Layer::Steps));
    assert_eq!(layer_of("deploy.rs"), None);
}
