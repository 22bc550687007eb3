//! Output snapshots: the user-visible lines of a run, with timings blanked, compared to
//! `test/snapshots/<name>.txt`. `UPDATE_SNAPSHOTS=1 test/run` rewrites them; a missing
//! snapshot fails, so a new test cannot pass by writing its own expectation in CI.

use std::path::PathBuf;

/// Blanks what changes from run to run: durations (`1.2s`, `4m05s`, `59m`) and request ids.
pub fn normalize(text: &str) -> String {
    text.lines()
        .map(normalize_line)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn normalize_line(line: &str) -> String {
    if let Some(at) = line.find("request id: ") {
        return format!("{}request id: <id>", &line[..at]);
    }
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number =
            chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric());
        if starts_number {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            // 4m05s
            if j < chars.len() && chars[j] == 'm' {
                let mut k = j + 1;
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                let ends = |p: usize| p >= chars.len() || !chars[p].is_ascii_alphanumeric();
                if k < chars.len() && chars[k] == 's' && ends(k + 1) {
                    out.push_str("<t>");
                    i = k + 1;
                    continue;
                }
                if k == j + 1 && ends(k) {
                    out.push_str("<t>");
                    i = k;
                    continue;
                }
            }
            if j < chars.len()
                && chars[j] == 's'
                && (j + 1 >= chars.len() || !chars[j + 1].is_ascii_alphanumeric())
            {
                out.push_str("<t>");
                i = j + 1;
                continue;
            }
            // Epoch seconds (token expiry) change with the clock.
            if j - i == 10
                && chars[i..j].iter().all(char::is_ascii_digit)
                && (j >= chars.len() || !chars[j].is_ascii_alphanumeric())
            {
                out.push_str("<epoch>");
                i = j;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Compares `actual` (normalized) with the stored snapshot `name`.
pub fn assert_snapshot(name: &str, actual: &str) {
    let path: PathBuf = super::manifest_dir()
        .join("test/snapshots")
        .join(format!("{name}.txt"));
    let actual = normalize(actual);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create test/snapshots");
        std::fs::write(&path, &actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("no snapshot {}; run `UPDATE_SNAPSHOTS=1 test/run {name}` and review it.\nactual:\n{actual}", path.display())
    });
    assert!(
        expected == actual,
        "output differs from {}\n--- expected ---\n{expected}--- actual ---\n{actual}",
        path.display()
    );
}
