//! `bitbucket-pipelines.yml`, and the YAML and JSON the README shows for upgrading many
//! repositories, are what Bitbucket and Renovate accept: the pipelines files validate against
//! Atlassian's schema of them (test/fixtures/bitbucket-pipelines-schema.json, see
//! test/fixtures/README.md), and the Renovate configuration is real JSON that finds every
//! `- pipe: org/ecs-oidc-deploy:…` line the README shows.

use std::path::Path;

use regex::Regex;
use serde_json::{Map, Value, json};
use yaml_rust2::{Yaml, YamlLoader};

/// The pipe as users reference it (pipe.yml's `repository`, without the host).
const PIPE: &str = "org/ecs-oidc-deploy";
const UPGRADE_SECTION: &str = "## Upgrading many repositories";

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// YAML (aliases resolved) as JSON, the data model the schema speaks.
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Yaml::Integer(n) => json!(n),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => {
            let mut object = Map::new();
            for (key, value) in map {
                let key = match to_json(key) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, to_json(value));
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [doc] => Ok(to_json(doc)),
        _ => Err(format!("expected one YAML document, found {}", docs.len())),
    }
}

/// Every way `doc` breaks Atlassian's schema of `bitbucket-pipelines.yml`.
fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&read("test/fixtures/bitbucket-pipelines-schema.json"))
            .expect("the schema fixture is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid_pipelines(what: &str, text: &str) -> Value {
    let doc = parse_yaml(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"));
    let errors = schema_errors(&doc);
    assert!(
        errors.is_empty(),
        "{what} is not valid for Bitbucket:\n  {}",
        errors.join("\n  ")
    );
    doc
}

/// The scripts of every step of a pipeline (a list of steps, parallel groups and stages).
fn step_scripts(pipeline: &Value) -> Vec<String> {
    let mut scripts = Vec::new();
    for item in pipeline.as_array().into_iter().flatten() {
        if let Some(step) = item.get("step") {
            for line in step["script"].as_array().into_iter().flatten() {
                scripts.push(line.as_str().unwrap_or_default().to_string());
            }
        }
    }
    scripts
}

#[test]
fn bitbucket_pipelines_yml_is_valid_for_bitbucket() {
    assert_valid_pipelines("bitbucket-pipelines.yml", &read("bitbucket-pipelines.yml"));
}

#[test]
fn every_push_and_pull_request_runs_ci_run_and_the_release_runs_ci_release() {
    let doc = parse_yaml(&read("bitbucket-pipelines.yml")).expect("YAML");
    let pipelines = &doc["pipelines"];
    for (what, pipeline) in [
        ("default", &pipelines["default"]),
        ("pull-requests **", &pipelines["pull-requests"]["**"]),
    ] {
        let scripts = step_scripts(pipeline).join("\n");
        assert!(
            scripts.contains(".ci/run"),
            "the {what} pipeline must run .ci/run; its scripts:\n{scripts}"
        );
    }
    let release = &pipelines["custom"]["release"];
    let variables: Vec<&str> = release[0]["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["VERSION"], "the release asks for VERSION");
    let scripts = step_scripts(release);
    assert!(
        scripts.iter().any(|s| s == ".ci/release \"$VERSION\""),
        "the release pipeline must run .ci/release \"$VERSION\": {scripts:#?}"
    );
    // Credentials only ever come from (secured) variables.
    let login = scripts
        .iter()
        .find(|s| s.contains("docker login"))
        .expect("the release logs in to the registry");
    assert!(
        login.contains("\"$DOCKERHUB_TOKEN\"") && login.contains("--password-stdin"),
        "the registry token must come from $DOCKERHUB_TOKEN on standard input: {login}"
    );
}

#[test]
fn the_schema_check_catches_what_bitbucket_refuses() {
    let valid = "pipelines:\n  default:\n    - step:\n        script:\n          - echo ok\n";
    assert_valid_pipelines("a minimal pipeline", valid);
    for (broken, why) in [
        (
            "pipelines:\n  default:\n    - step:\n        size: 3x\n        script:\n          - echo\n",
            "an unknown step size",
        ),
        (
            "pipelines:\n  default:\n    - stepp:\n        script:\n          - echo\n",
            "a misspelt step",
        ),
        (
            "pipelines:\n  default:\n    - step:\n        script: echo not a list\n",
            "a script that is not a list",
        ),
        (
            "pipelines:\n  custom:\n    deploy:\n      import: shared-pipelines:deploy\n",
            "an import without a branch or tag",
        ),
        (
            "pipelines:\n  default:\n    - step:\n        script:\n          - pipe: org/x:1.0.0\n            variables:\n              WAIT: true\n",
            "a pipe variable that is not a string",
        ),
    ] {
        let doc = parse_yaml(broken).expect("YAML");
        assert!(
            !schema_errors(&doc).is_empty(),
            "the schema check accepted {why}:\n{broken}"
        );
    }
}

/// A fenced code block of a Markdown file.
struct Block {
    lang: String,
    /// The line number of its first line of code.
    line: usize,
    text: String,
}

/// The fenced code blocks of one `## ` section of a Markdown file, or of the whole file when
/// `section` is None.
fn fenced_blocks(markdown: &str, section: Option<&str>) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut in_section = section.is_none();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (Some(block), Some(_)) => {
                if in_section {
                    blocks.push(block);
                }
            }
            (Some(mut block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_string(),
                    line: i + 2,
                    text: String::new(),
                });
            }
            (None, None) => {
                if let Some(wanted) = section
                    && line.starts_with("## ")
                {
                    in_section = line.trim() == wanted;
                }
            }
        }
    }
    blocks
}

/// The `lang` blocks of the README's upgrade section.
fn upgrade_blocks(lang: &str) -> Vec<Block> {
    fenced_blocks(&read("README.md"), Some(UPGRADE_SECTION))
        .into_iter()
        .filter(|b| b.lang == lang)
        .collect()
}

#[test]
fn readme_upgrade_pipelines_examples_are_valid_for_bitbucket() {
    let yaml = upgrade_blocks("yaml");
    assert!(
        yaml.len() >= 2,
        "README {UPGRADE_SECTION:?} should show the exporting and the importing bitbucket-pipelines.yml"
    );
    let docs: Vec<Value> = yaml
        .iter()
        .map(|b| assert_valid_pipelines(&format!("README.md:{}", b.line), &b.text))
        .collect();
    let exported = docs
        .iter()
        .find(|d| d["export"] == json!(true))
        .expect("one example exports its pipelines (`export: true`)");
    let names: Vec<&String> = exported["definitions"]["pipelines"]
        .as_object()
        .expect("the exported pipelines are under definitions: pipelines")
        .keys()
        .collect();
    let imports: Vec<&str> = yaml
        .iter()
        .flat_map(|b| b.text.lines())
        .filter_map(|l| l.trim().strip_prefix("import:"))
        .map(str::trim)
        .collect();
    assert!(
        !imports.is_empty(),
        "one example imports the shared pipeline"
    );
    for import in imports {
        let name = import.rsplit(':').next().unwrap_or_default();
        assert!(
            names.iter().any(|n| *n == name),
            "`import: {import}` names no pipeline the example exports ({names:?})"
        );
    }
}

/// Renovate's `bitbucket-pipelines` manager reads `- pipe:` lines with this pattern
/// (renovatebot/renovate lib/modules/manager/bitbucket-pipelines/util.ts, `pipeRegex`): one
/// `- pipe: name:tag` per line, no trailing comment.
fn renovate_pipe_regex() -> Regex {
    Regex::new(r#"^\s*-\s?pipe:\s*'?"?([^\s'"]+)'?"?\s*$"#).expect("regex")
}

#[test]
fn readme_renovate_configuration_finds_and_groups_every_pipe_reference() {
    let json_blocks = upgrade_blocks("json");
    let [block] = json_blocks.as_slice() else {
        panic!("README {UPGRADE_SECTION:?} should show one renovate.json");
    };
    let config: Value = serde_json::from_str(&block.text)
        .unwrap_or_else(|e| panic!("README.md:{}: renovate.json is not JSON: {e}", block.line));
    let rules: Vec<&Value> = config["packageRules"]
        .as_array()
        .expect("packageRules")
        .iter()
        .filter(|r| {
            r["matchDatasources"] == json!(["bitbucket-tags"])
                && r["matchPackageNames"] == json!([PIPE])
        })
        .collect();
    let setting = |key: &str| rules.iter().find_map(|r| r.get(key));
    assert_eq!(
        setting("versioning"),
        Some(&json!("docker")),
        "1, 1.0 and 1.0.3 must be compared as Docker tags"
    );
    assert!(
        setting("groupName").is_some_and(Value::is_string),
        "the upgrades are grouped"
    );
    assert_eq!(setting("separateMinorPatch"), Some(&json!(true)));
    let patch_automerge = rules
        .iter()
        .any(|r| r["matchUpdateTypes"] == json!(["patch"]) && r["automerge"] == json!(true));
    assert!(patch_automerge, "patch upgrades are merged automatically");

    // Every `pipe:` line of this pipe in any of the README's YAML is one Renovate reads.
    let pattern = renovate_pipe_regex();
    let mut found = 0;
    for block in fenced_blocks(&read("README.md"), None)
        .into_iter()
        .filter(|b| b.lang == "yaml")
    {
        for (offset, line) in block.text.lines().enumerate() {
            if !line.contains("pipe:") || !line.contains("/ecs-oidc-deploy:") {
                continue;
            }
            let at = block.line + offset;
            let reference = pattern
                .captures(line)
                .and_then(|c| c.get(1))
                .unwrap_or_else(|| panic!("README.md:{at}: Renovate does not read {line:?}"))
                .as_str();
            let dep_name = reference.split(':').next().unwrap_or_default();
            assert_eq!(dep_name, PIPE, "README.md:{at}");
            found += 1;
        }
    }
    assert!(found >= 3, "README's YAML has only {found} pipe lines");
}

#[test]
fn the_renovate_pattern_is_as_strict_as_renovate() {
    let pattern = renovate_pipe_regex();
    for line in [
        "      - pipe: org/ecs-oidc-deploy:1.0.3",
        "- pipe: 'org/ecs-oidc-deploy:1.0'",
        "  -pipe: org/ecs-oidc-deploy:1",
    ] {
        assert!(pattern.is_match(line), "{line}");
    }
    for line in [
        "      - pipe: org/ecs-oidc-deploy:1.0.3 # pinned",
        "        pipe: org/ecs-oidc-deploy:1.0.3",
    ] {
        assert!(!pattern.is_match(line), "{line}");
    }
}
