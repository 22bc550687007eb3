//! `${NAME}` in the TASK_DEFINITION file, without a network: what is a placeholder, what stays
//! as it is, how values are inserted, and how unset variables are reported.

use ecs_oidc_deploy::config::template::{self, Piece, Reason, Unfilled};
use serde_json::{Value, json};

fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
    }
}

fn render(mut value: Value, vars: &'static [(&'static str, &'static str)]) -> Value {
    template::render(&mut value, &lookup(vars)).expect("every placeholder filled");
    value
}

#[test]
fn placeholders_escapes_and_other_dollars() {
    let text = |s: &str| Piece::Text(s.into());
    let var = |s: &str| Piece::Var(s.into());
    assert_eq!(template::pieces("${A}"), vec![var("A")]);
    assert_eq!(
        template::pieces("x${A_1}y${_b}"),
        vec![text("x"), var("A_1"), text("y"), var("_b")]
    );
    assert_eq!(template::pieces("$${A}"), vec![text("${A}")]);
    assert_eq!(template::pieces("$$${A}"), vec![text("$${A}")]);
    for kept in [
        "$HOME",
        "$$HOME",
        "$",
        "a$",
        "${1A}",
        "${A-B}",
        "${A:-default}",
        "${}",
        "${A",
        "price: 5$",
        "${ A }",
    ] {
        assert_eq!(template::pieces(kept), vec![text(kept)], "{kept:?}");
    }
    assert_eq!(template::pieces(""), Vec::<Piece>::new());
    assert_eq!(
        template::pieces("é${Ü}"),
        vec![text("é${Ü}")],
        "names are ASCII only"
    );
}

#[test]
fn values_are_inserted_as_string_content() {
    static VARS: &[(&str, &str)] = &[
        ("QUOTED", r#"say "hi" \ C:\path\n"#),
        ("HOST", "db.internal"),
        ("DOLLAR", "${NOT_AGAIN}"),
    ];
    let out = render(
        json!({"a": "${QUOTED}", "b": ["postgres://${HOST}:5432/${HOST}"], "c": "${DOLLAR}"}),
        VARS,
    );
    assert_eq!(out["a"], json!(r#"say "hi" \ C:\path\n"#));
    assert_eq!(
        out["b"][0],
        json!("postgres://db.internal:5432/db.internal")
    );
    assert_eq!(
        out["c"],
        json!("${NOT_AGAIN}"),
        "a value is not templated again"
    );
    let text = serde_json::to_string(&out).expect("serialises");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("still valid JSON"),
        out
    );
}

#[test]
fn keys_numbers_and_booleans_are_never_templated() {
    static VARS: &[(&str, &str)] = &[("K", "key"), ("N", "1")];
    let input = json!({"${K}": "x", "n": 5, "b": true, "nul": null, "$${K}": "$${K}"});
    let out = render(input, VARS);
    assert_eq!(
        out,
        json!({"${K}": "x", "n": 5, "b": true, "nul": null, "$${K}": "${K}"})
    );
}

#[test]
fn every_unset_or_empty_variable_is_reported_with_its_path_and_nothing_changes() {
    static VARS: &[(&str, &str)] = &[("EMPTY", ""), ("BLANK", "  "), ("SET", "ok")];
    let original = json!({
        "family": "${SET}",
        "containerDefinitions": [{
            "environment": [
                {"name": "A", "value": "${EMPTY}"},
                {"name": "B", "value": "${MISSING}"},
                {"name": "C", "value": "${MISSING}-${BLANK}"}
            ]
        }]
    });
    let mut value = original.clone();
    let err = template::render(&mut value, &lookup(VARS)).expect_err("unset variables");
    assert_eq!(
        value, original,
        "nothing is filled when anything is missing"
    );
    let at = |name: &str, path: &str| Unfilled {
        name: name.into(),
        path: path.into(),
        reason: Reason::Unset,
    };
    assert_eq!(
        err,
        vec![
            at("EMPTY", "containerDefinitions[0].environment[0].value"),
            at("MISSING", "containerDefinitions[0].environment[1].value"),
            at("MISSING", "containerDefinitions[0].environment[2].value"),
            at("BLANK", "containerDefinitions[0].environment[2].value"),
        ]
    );
    let problems: Vec<String> = template::problems("ecs/web.json", &err)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 3, "one per variable: {problems:#?}");
    assert!(
        problems[1].starts_with("MISSING is unset or empty, but TASK_DEFINITION ecs/web.json uses ${MISSING} at containerDefinitions[0].environment[1].value, containerDefinitions[0].environment[2].value; pass it to the pipe under `variables:` (such as MISSING: $MISSING"),
        "{problems:#?}"
    );
}

#[test]
fn the_steps_credentials_cannot_go_into_a_task_definition() {
    static VARS: &[(&str, &str)] = &[("BITBUCKET_STEP_OIDC_TOKEN", "eyJ.token.sig")];
    let mut value =
        json!({"containerDefinitions": [{"command": ["${BITBUCKET_STEP_OIDC_TOKEN}"]}]});
    let err = template::render(&mut value, &lookup(VARS)).expect_err("refused");
    assert_eq!(err[0].reason, Reason::Credential);
    let problem = template::problems("td.json", &err)[0].to_string();
    assert!(
        problem.contains("is a credential of this step"),
        "{problem}"
    );
    assert!(
        !problem.contains("eyJ"),
        "the value is never shown: {problem}"
    );
}

#[test]
fn the_pipe_containers_own_variables_are_not_placeholders() {
    static VARS: &[(&str, &str)] = &[("HOME", "/root"), ("PATH", "/bin")];
    let mut value = json!({"command": ["sh", "-c", "cd ${HOME} && $${PATH}"]});
    let err = template::render(&mut value, &lookup(VARS)).expect_err("refused");
    assert_eq!(err.len(), 1, "$${{PATH}} is an escape: {err:?}");
    assert_eq!(err[0].reason, Reason::Container);
    let problem = template::problems("td.json", &err)[0].to_string();
    assert!(
        problem.starts_with("HOME is set by the pipe's own container, not by the step, but TASK_DEFINITION td.json uses ${HOME} at command[2]; write $${HOME} to keep it"),
        "{problem}"
    );
}

#[test]
fn the_names_used_are_returned_once_each() {
    static VARS: &[(&str, &str)] = &[("A", "1"), ("B", "2")];
    let mut value = json!(["${B}", "${A}${B}", "$${A}"]);
    let used = template::render(&mut value, &lookup(VARS)).expect("filled");
    assert_eq!(used, vec!["B", "A"]);
    assert_eq!(value, json!(["2", "12", "${A}"]));
}
