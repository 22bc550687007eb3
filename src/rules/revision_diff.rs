//! What a new revision changes, for a reviewer: the dry-run diff and the "changed:" line.
//!
//! Pure. Entries of the lists that have names are matched and shown by name, not by position,
//! so a reader can tell what changes: a container by its `name` (`app: image: … → …`), an
//! `environment` or `secrets` entry by its `name` with its value or `valueFrom`
//! (`app: environment LOG_LEVEL: "info" → "debug"`), a `portMappings` entry by its `name` when
//! every entry has one. A list whose entries lack a name, or repeat one, is compared position by
//! position with its JSON path (`containerDefinitions[0].image`), as is everything else.

use serde_json::Value;

/// One changed place: where, and the value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Where, such as `app: environment LOG_LEVEL` or `cpu`.
    pub label: String,
    /// The value before.
    pub old: Option<Value>,
    /// The value after.
    pub new: Option<Value>,
}

/// The lists whose entries are named, by the key that holds the list: the key of the value an
/// entry carries besides its name, when it is one of the name/value pairs.
const NAMED_IN_CONTAINER: [(&str, Option<&str>); 3] = [
    ("environment", Some("value")),
    ("secrets", Some("valueFrom")),
    ("portMappings", None),
];

/// Every difference between `old` and `new` (two task definitions in register-input shape),
/// in the order of `old`'s keys, then `new`'s added ones.
pub fn differences(old: &Value, new: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(old, new, &Place::default(), &mut out);
    out
}

/// Where the walk is: the container's name once inside a named container, and the path below.
#[derive(Debug, Clone, Default)]
struct Place {
    container: Option<String>,
    path: String,
    /// Inside the container: the list, if the walk is in a named entry of one.
    list: Option<&'static str>,
}

impl Place {
    fn label(&self) -> String {
        match &self.container {
            Some(name) if self.path.is_empty() => format!("containerDefinitions {name}"),
            Some(name) => format!("{name}: {}", self.path),
            None => self.path.clone(),
        }
    }

    fn key(&self, key: &str) -> Place {
        let value_key = self.list.and_then(|list| {
            NAMED_IN_CONTAINER
                .iter()
                .find(|(l, _)| *l == list)
                .and_then(|(_, v)| *v)
        });
        let path = if value_key == Some(key) {
            self.path.clone()
        } else if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Place {
            container: self.container.clone(),
            path,
            list: None,
        }
    }

    fn index(&self, i: usize) -> Place {
        Place {
            container: self.container.clone(),
            path: format!("{}[{i}]", self.path),
            list: None,
        }
    }
}

fn walk(old: &Value, new: &Value, at: &Place, out: &mut Vec<Difference>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                let sub = at.key(key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(x, y, &sub, out),
                    (x, y) => push(&sub, x, y, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if !at.path.is_empty() => list(a, b, at, out),
        _ if old != new => push(at, Some(old), Some(new), out),
        _ => {}
    }
}

fn push(at: &Place, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Difference>) {
    out.push(Difference {
        label: at.label(),
        old: old.cloned(),
        new: new.cloned(),
    });
}

/// A list: by name when its entries are named (see the module docs), else by position.
fn list(a: &[Value], b: &[Value], at: &Place, out: &mut Vec<Difference>) {
    let named = if at.container.is_none() && at.path == "containerDefinitions" {
        Some(None)
    } else if at.container.is_some() && !at.path.contains(['.', '[', ' ']) {
        NAMED_IN_CONTAINER
            .iter()
            .find(|(l, _)| *l == at.path)
            .map(|(l, _)| Some(*l))
    } else {
        None
    };
    let (Some(list_key), Some(a_names), Some(b_names)) = (named, names(a), names(b)) else {
        for i in 0..a.len().max(b.len()) {
            match (a.get(i), b.get(i)) {
                (Some(x), Some(y)) => walk(x, y, &at.index(i), out),
                (x, y) => push(&at.index(i), x, y, out),
            }
        }
        return;
    };
    let mut pairs: Vec<(&str, Option<&Value>, Option<&Value>)> = Vec::new();
    for (name, x) in a_names.iter().zip(a) {
        let y = b_names
            .iter()
            .position(|n| n == name)
            .and_then(|i| b.get(i));
        pairs.push((name, Some(x), y));
    }
    for (name, y) in b_names.iter().zip(b) {
        if !a_names.contains(name) {
            pairs.push((name, None, Some(y)));
        }
    }
    for (name, x, y) in pairs {
        let entry = match list_key {
            // A container: its fields are labelled `name: field`.
            None => Place {
                container: Some(name.to_string()),
                path: String::new(),
                list: None,
            },
            Some(list) => Place {
                container: at.container.clone(),
                path: format!("{} {name}", at.path),
                list: Some(list),
            },
        };
        match (x, y) {
            (Some(x), Some(y)) => walk(x, y, &entry, out),
            (x, y) => push(
                &entry,
                x.map(|v| entry_value(v, list_key)),
                y.map(|v| entry_value(v, list_key)),
                out,
            ),
        }
    }
}

/// An added or removed entry as shown: the value of a plain name/value pair, else the entry.
fn entry_value<'a>(entry: &'a Value, list: Option<&str>) -> &'a Value {
    let value_key = list.and_then(|list| {
        NAMED_IN_CONTAINER
            .iter()
            .find(|(l, _)| *l == list)
            .and_then(|(_, v)| *v)
    });
    match (entry, value_key) {
        (Value::Object(map), Some(key)) if map.len() == 2 && map.contains_key("name") => {
            map.get(key).unwrap_or(entry)
        }
        _ => entry,
    }
}

/// The entries' names, when every entry has a string `name` and no two share one.
fn names(entries: &[Value]) -> Option<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.get("name").and_then(Value::as_str)?;
        if names.iter().any(|n| n == name) {
            return None;
        }
        names.push(name.to_string());
    }
    Some(names)
}
