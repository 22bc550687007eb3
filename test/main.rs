//! The single integration-test binary (`cargo test --test suite`); run everything with `test/run`.

mod support;

mod support_selftest;

mod codedeploy;
mod codedeploy_decisions;
mod config;
mod decisions;
mod deploy_moto;
mod edges;
mod features;
mod image;
mod layers;
mod logs;
mod lost_answers;
mod native_rollout;
mod operate;
mod operate_decisions;
mod overrides;
mod per_env;
mod permissions;
mod pipelines;
mod plan;
mod pre_deploy;
mod preflight;
mod preflight_rules;
mod release;
mod release_script;
mod rollout;
mod rollout_end;
mod rollout_fake;
mod scheduled;
mod scheduled_moto;
mod services;
mod task_def;
mod template;
