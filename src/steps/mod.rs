//! The steps: the runbook ([`deploy`]) and each step it takes, in the order it takes them.
//! The only code that calls the AWS adapters ([`crate::aws`]); every decision it acts on comes
//! from the rules ([`crate::rules`]).

pub mod apply;
pub mod blue_green;
pub mod deploy;
pub mod diagnose;
pub mod follow;
pub mod outputs;
pub mod pre_deploy;
pub mod read;
pub mod retarget;
pub mod rollback;
