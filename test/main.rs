//! The single integration-test binary (`cargo test --test suite`); run everything with `test/run`.

mod support;

mod support_selftest;

mod config;
mod decisions;
mod deploy_moto;
mod features;
mod image;
mod logs;
mod permissions;
mod release;
mod rollout;
mod rollout_fake;
mod task_def;
