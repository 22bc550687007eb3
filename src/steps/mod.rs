//! The steps: the runbook ([`deploy`]) and each step it takes, in the order it takes them.
//! The only code that calls the AWS adapters ([`crate::aws`]); every decision it acts on comes
//! from the rules ([`crate::rules`]).

pub mod after;
pub mod apply;
pub mod blue_green;
pub mod change;
pub mod deploy;
pub mod diagnose;
pub mod dry_run;
pub mod follow;
pub mod images;
pub mod operate;
pub mod outputs;
pub mod pre_deploy;
pub mod preflight;
pub mod read;
pub mod record;
pub mod retarget;
pub mod rollback;
pub mod rollback_read_back;
pub mod throttle;
pub mod verdict;
