//! Which old revisions `KEEP_REVISIONS` may deregister. Pure: the caller lists the family's
//! ACTIVE revisions and every revision any service of the cluster still uses.

use std::collections::HashSet;

/// The revision number at the end of a task-definition ARN (`…/web:42` → 42).
pub fn revision_number(arn: &str) -> Option<u64> {
    arn.rsplit_once(':').and_then(|(_, n)| n.parse().ok())
}

/// The revisions to deregister: all but the newest `keep`, never one in `in_use`, never the
/// one the service ran before this deploy (`previous`) nor the one it runs now (`current`).
pub fn to_deregister(
    active: &[String],
    keep: u32,
    in_use: &HashSet<String>,
    previous: &str,
    current: &str,
) -> Vec<String> {
    let mut sorted: Vec<&String> = active
        .iter()
        .filter(|a| revision_number(a).is_some())
        .collect();
    sorted.sort_by_key(|a| std::cmp::Reverse(revision_number(a)));
    sorted
        .into_iter()
        .skip(keep as usize)
        .filter(|arn| !in_use.contains(*arn) && *arn != previous && *arn != current)
        .cloned()
        .collect()
}
