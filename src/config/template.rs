//! `${NAME}` placeholders in the `TASK_DEFINITION` file, filled from the pipe's variables.
//!
//! Pure. The file is parsed as JSON first, and only string *values* are templated: a value is
//! inserted as string content, so one holding `"` or `\` arrives exactly and the JSON stays
//! valid (what `envsubst < template > file` gets wrong). Object keys are never templated, and
//! numbers and booleans cannot be, since a placeholder only lives inside a string.
//!
//! `${NAME}` (NAME `[A-Za-z_][A-Za-z0-9_]*`) is a placeholder; `$${` is a literal `${`; `$NAME`
//! without braces and every other `$` stay as they are. A placeholder whose variable is unset
//! or empty is an error, and every such placeholder is reported at once with its JSON path,
//! before any AWS call: an empty string in a task definition is how a missing setting hides.
//! Only the file is templated; the live task definition never is. Templating is opt-in
//! (`TASK_DEFINITION_TEMPLATE`): `config` calls [`render`] with every variable the pipe
//! received when it is `true`, and otherwise only [`names`], to say which placeholders a
//! 1.0-style file (used exactly as written) would have had filled.

use serde_json::Value;

use crate::error::Problem;

/// This step's credentials: a task definition may never hold them, because registering it
/// would store them in AWS in plain text for anyone who can describe it.
pub const CREDENTIALS: [&str; 4] = [
    "BITBUCKET_STEP_OIDC_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Variables the pipe's own container sets (Docker, the image, the shell), not the step: a
/// `${HOME}` meant for the task's container would otherwise be filled silently with the pipe
/// container's value.
pub const CONTAINER_VARIABLES: [&str; 10] = [
    "HOME", "PATH", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "USER", "SHELL", "LANG",
];

/// A piece of a templated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text kept as it is (`$${` already turned into `${`).
    Text(String),
    /// A `${NAME}` placeholder: the name.
    Var(String),
}

/// Why a placeholder could not be filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The variable is not set, or set to an empty (or blank) value.
    Unset,
    /// The variable is one of [`CREDENTIALS`].
    Credential,
    /// The variable is one of [`CONTAINER_VARIABLES`].
    Container,
}

/// A placeholder that could not be filled, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    /// The variable's name.
    pub name: String,
    /// The JSON path of the string that uses it, such as `containerDefinitions[0].image`.
    pub path: String,
    /// Why.
    pub reason: Reason,
}

/// Splits a string into text and placeholders.
pub fn pieces(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        literal.push_str(&rest[..i]);
        let at = &rest[i..];
        if let Some(after) = at.strip_prefix("$${") {
            literal.push_str("${");
            rest = after;
        } else if let Some(name) = placeholder(at) {
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Var(name.to_string()));
            rest = &at[name.len() + 3..];
        } else {
            literal.push('$');
            rest = &at[1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    pieces
}

/// The name of the `${NAME}` at the start of `text`, if it is one.
fn placeholder(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?;
    let name = &inner[..inner.find('}')?];
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// The names of the `${NAME}` placeholders in the string values of `value`, each once, in the
/// order of first use, without filling anything: what a file would use if it were templated.
/// The step's credentials and the pipe container's own variables are left out, since they
/// could never be filled.
pub fn names(value: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect(value, &mut names);
    names
}

fn collect(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains("${") => {
            for piece in pieces(text) {
                if let Piece::Var(name) = piece {
                    let fillable = !CREDENTIALS.contains(&name.as_str())
                        && !CONTAINER_VARIABLES.contains(&name.as_str());
                    if fillable && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, names)),
        Value::Object(map) => map.values().for_each(|item| collect(item, names)),
        _ => {}
    }
}

/// Fills every placeholder in the string values of `value`, in place. `lookup` gives a
/// variable's value as the pipe received it. Returns the names used (each once, in the order
/// of first use), or every placeholder that could not be filled, with `value` unchanged.
pub fn render(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, Vec<Unfilled>> {
    let mut filled = value.clone();
    let mut used = Vec::new();
    let mut unfilled = Vec::new();
    walk(&mut filled, String::new(), lookup, &mut used, &mut unfilled);
    if unfilled.is_empty() {
        *value = filled;
        Ok(used)
    } else {
        Err(unfilled)
    }
}

fn walk(
    value: &mut Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut Vec<String>,
    unfilled: &mut Vec<Unfilled>,
) {
    match value {
        Value::String(text) if text.contains('$') => {
            let mut out = String::with_capacity(text.len());
            for piece in pieces(text) {
                match piece {
                    Piece::Text(t) => out.push_str(&t),
                    Piece::Var(name) => match fill(&name, lookup) {
                        Ok(v) => {
                            out.push_str(&v);
                            if !used.contains(&name) {
                                used.push(name);
                            }
                        }
                        Err(reason) => unfilled.push(Unfilled {
                            name,
                            path: path.clone(),
                            reason,
                        }),
                    },
                }
            }
            *text = out;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), lookup, used, unfilled);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(item, sub, lookup, used, unfilled);
            }
        }
        _ => {}
    }
}

fn fill(name: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Reason> {
    if CREDENTIALS.contains(&name) {
        return Err(Reason::Credential);
    }
    if CONTAINER_VARIABLES.contains(&name) {
        return Err(Reason::Container);
    }
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Reason::Unset),
    }
}

/// One problem per variable that could not be filled, naming every path that uses it.
/// `file` is the path as the user wrote it in `TASK_DEFINITION`.
pub fn problems(file: &str, unfilled: &[Unfilled]) -> Vec<Problem> {
    let mut names: Vec<(&str, Reason)> = Vec::new();
    for u in unfilled {
        if !names.iter().any(|(n, _)| *n == u.name) {
            names.push((&u.name, u.reason));
        }
    }
    names
        .into_iter()
        .map(|(name, reason)| {
            let mut paths: Vec<&str> = Vec::new();
            for u in unfilled.iter().filter(|u| u.name == name) {
                if !paths.contains(&u.path.as_str()) {
                    paths.push(&u.path);
                }
            }
            let place = format!(
                "TASK_DEFINITION {file} uses ${{{name}}} at {}",
                paths.join(", ")
            );
            let message = match reason {
                Reason::Unset => format!(
                    "is unset or empty, but {place}; pass it to the pipe under `variables:` (such as {name}: ${name} for a deployment variable), or write $${{ for a literal ${{"
                ),
                Reason::Credential => format!(
                    "is a credential of this step and cannot go into a task definition, but {place}; store the value in AWS Secrets Manager or SSM and use CONTAINER_SECRETS"
                ),
                Reason::Container => format!(
                    "is set by the pipe's own container, not by the step, but {place}; write $${{{name}}} to keep it for the task's container, or pass the value under another name"
                ),
            };
            Problem::new(name, message)
        })
        .collect()
}
