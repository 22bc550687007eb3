//! The rules: every decision the deploy makes, as pure functions. Nothing here does I/O,
//! names an SDK type, or is async; each rule takes what was read ([`crate::model`]) and the
//! configuration ([`crate::config`]) and returns what to do, so it is tested without a network.
//! Only the steps ([`crate::steps`]) call them.

pub mod appspec;
pub mod cleanup;
pub mod codedeploy_verdict;
pub mod operate;
pub mod overrides;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod preflight_policy;
pub mod revision_diff;
pub mod rollout;
pub mod rollout_end;
pub mod scheduled;
pub mod task_def;
