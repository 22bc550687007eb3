//! The single integration-test binary (`cargo test --test suite`); run everything with `test/run`.

mod support;

mod support_selftest;

mod config;
mod decisions;
mod deploy_moto;
mod features;
mod image;
mod permissions;
mod pipelines;
mod release;
mod release_script;
mod rollout;
mod rollout_fake;
mod task_def;
