//! The variables as they arrived, read only through their definitions in [`crate::vars`].
//!
//! Nothing here stops at the first bad value: each reader records a [`Problem`] and returns a
//! fallback, so that the sections can report every problem at once. Blank values count as
//! unset everywhere.

use std::collections::HashMap;

use crate::error::Problem;
use crate::secret::Secret;
use crate::vars::{self, Var};

/// The environment, with deprecated names already read as their replacements.
#[derive(Default)]
pub struct Raw {
    values: HashMap<String, String>,
}

/// Only the names: values may be secrets.
impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.values.keys().collect();
        names.sort();
        f.debug_struct("Raw").field("names", &names).finish()
    }
}

impl Raw {
    /// Takes (name, value) pairs and applies the aliases of [`vars::ALL`]: an old name fills in
    /// its replacement, with a warning; both set to different values is a problem.
    pub fn new(
        vars: impl IntoIterator<Item = (String, String)>,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut raw = Self {
            values: vars.into_iter().collect(),
        };
        for var in vars::ALL {
            if let Some(alias) = var.alias {
                raw.apply_alias(var.name, alias, problems, warnings);
            }
        }
        raw
    }

    fn apply_alias(
        &mut self,
        new: &str,
        alias: vars::Alias,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<String>,
    ) {
        let (old, removed_in) = (alias.old, alias.removed_in);
        let Some(old_value) = self.cleaned(old) else {
            return;
        };
        match self.cleaned(new) {
            None => {
                warnings.push(format!(
                    "{old} is deprecated and will stop working in {removed_in}; rename it to {new} in bitbucket-pipelines.yml"
                ));
                self.values.insert(new.to_string(), old_value);
            }
            Some(new_value) if new_value != old_value => problems.push(Problem::new(
                old,
                format!("is deprecated and differs from {new}; remove {old} and keep {new}"),
            )),
            Some(_) => warnings.push(format!(
                "{old} is deprecated and will stop working in {removed_in}; remove it, {new} is set"
            )),
        }
    }

    fn cleaned(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value of `var`, trimmed; `None` when unset or blank.
    pub fn text(&self, var: &Var) -> Option<String> {
        self.cleaned(var.name)
    }

    /// The value of `var` as a [`Secret`], trimmed; `None` when unset or blank.
    pub fn secret(&self, var: &Var) -> Option<Secret> {
        self.cleaned(var.name).map(Secret::new)
    }

    /// The value exactly as it arrived, blank included (`NO_COLOR` counts any non-empty value).
    pub fn untrimmed(&self, var: &Var) -> Option<&str> {
        self.values.get(var.name).map(String::as_str)
    }

    /// A variable Bitbucket sets (`BITBUCKET_*`) that the configuration itself needs (the
    /// clone, the storage folder, the token): not a pipe variable, so it has no [`Var`].
    pub fn bitbucket(&self, name: &str) -> Option<String> {
        self.cleaned(name)
    }

    /// Every (name, value) pair as it arrived, for readers of variables that are not the
    /// pipe's (the Bitbucket context).
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.values.iter().map(|(k, v)| (k.clone(), v.clone()))
    }

    /// Every variable as it arrived, for the `${NAME}` placeholders of a task definition file.
    pub fn get_any(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean: `true` or `false` in any case; the definition's default when unset.
    pub fn boolean(&self, var: &Var, problems: &mut Vec<Problem>) -> bool {
        let default = var.default == "true";
        match self.text(var) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                problems.push(Problem::new(
                    var.name,
                    format!("must be true or false, got {v:?}"),
                ));
                default
            }
        }
    }

    /// Whole seconds within `min..=max`; the definition's default when unset or bad.
    pub fn seconds(&self, var: &Var, min: u64, max: u64, problems: &mut Vec<Problem>) -> u64 {
        let default = var.default.parse::<u64>().unwrap_or(min);
        let Some(v) = self.text(var) else {
            return default;
        };
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(n) => {
                problems.push(Problem::new(
                    var.name,
                    format!("must be between {min} and {max} seconds, got {n}"),
                ));
                default
            }
            Err(_) => {
                problems.push(Problem::new(
                    var.name,
                    format!("must be whole seconds such as {default}, got {v:?}"),
                ));
                default
            }
        }
    }

    /// A Bitbucket list variable: `NAME_COUNT` and `NAME_0` … `NAME_{n-1}`, or a plain `NAME`
    /// holding one item.
    pub fn list(&self, var: &Var, problems: &mut Vec<Problem>) -> Vec<String> {
        read_list(&self.values, var.name, problems)
    }
}

/// See [`Raw::list`]; public for the tests of the list rules.
pub fn read_list(
    vars: &HashMap<String, String>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let count_name = format!("{name}_COUNT");
    let Some(count) = vars.get(&count_name) else {
        return vars
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .into_iter()
            .collect();
    };
    let Ok(count) = count.trim().parse::<usize>() else {
        problems.push(Problem::new(
            &count_name,
            format!("must be a number, got {count:?}; write {name} as a YAML list"),
        ));
        return Vec::new();
    };
    let mut items = Vec::new();
    for i in 0..count {
        match vars.get(&format!("{name}_{i}")) {
            Some(v) if !v.trim().is_empty() => items.push(v.trim().to_string()),
            _ => problems.push(Problem::new(
                &format!("{name}_{i}"),
                format!("is missing or empty, but {count_name} is {count}"),
            )),
        }
    }
    items
}

/// `key=value` items split at the first `=`; a key given twice is a problem. `what` names a
/// key in messages ("container", "tag"), `example` shows a good item.
pub fn parse_pairs(
    var: &Var,
    items: &[String],
    what: &str,
    example: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                let key = k.trim().to_string();
                if pairs.iter().any(|(existing, _)| *existing == key) {
                    problems.push(Problem::new(
                        var.name,
                        format!("names {what} {key:?} twice"),
                    ));
                } else {
                    pairs.push((key, v.trim().to_string()));
                }
            }
            _ => problems.push(Problem::new(
                var.name,
                format!("items must look like {example}, got {item:?}"),
            )),
        }
    }
    pairs
}
