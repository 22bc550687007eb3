//! Shared test support: a moto launcher with a raw client, a scripted fake AWS endpoint (and proxy),
//! Bitbucket OIDC tokens, and a runner for the real `ecs-oidc-deploy` binary.
//!
//! Not every test uses every helper, and everything compiles into the single `suite` binary,
//! so unused items are expected here.
#![allow(dead_code)]

pub mod codedeploy_fake;
pub mod ecs_fake;
pub mod fake;
pub mod http;
pub mod iam_sim;
pub mod moto;
pub mod pipe;
pub mod rollout;
pub mod snapshot;
pub mod token;
pub mod world;

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Region every test world lives in.
pub const REGION: &str = "eu-west-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// `<CARGO_MANIFEST_DIR>`.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `<CARGO_MANIFEST_DIR>/test/.work` (gitignored), created on demand.
pub fn work_dir() -> PathBuf {
    let dir = manifest_dir().join("test").join(".work");
    std::fs::create_dir_all(&dir).expect("create test/.work");
    dir
}

/// A new, empty directory under `test/.work/` whose name starts with `prefix`.
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = work_dir().join(format!("{prefix}-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("create a fresh dir under test/.work");
    dir
}

/// A process-wide increasing counter (starts at 1).
pub fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A random-looking u64 (std only: a randomly keyed SipHash of a counter and the clock).
pub fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(unique());
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// `n` random-looking bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&random_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `n` random-looking lowercase hex characters.
pub fn random_hex(n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(&format!("{:016x}", random_u64()));
    }
    s.truncate(n);
    s
}

/// A random-looking UUID (lowercase, no braces).
pub fn random_uuid() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Seconds since the Unix epoch.
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Seconds since the Unix epoch with millisecond precision, as real ECS JSON timestamps are.
pub fn now_epoch_f64() -> f64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    // Milliseconds since 1970 fit in an f64 exactly for a few hundred thousand years.
    ms as f64 / 1000.0
}

/// Formats epoch seconds as RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
pub fn rfc3339(epoch_secs: u64) -> String {
    let days = epoch_secs / 86_400;
    let rem = epoch_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm, for dates after 1970.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The text between the first `<tag>` and the following `</tag>`, if any.
pub fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_string())
}

/// Every text between `<tag>` and `</tag>`, in order.
pub fn xml_tags(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// Escapes text for an XML element body or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}
