//! The record of the deploy (`deployment.json`, `deployment.env`): begun before anything is
//! read, so even an early failure names the cluster and services, and filled step by step.

use crate::config::Config;
use crate::model::service::Service;
use crate::steps::apply::Updated;
use crate::steps::follow::{Outcome, Watch};
use crate::steps::outputs::{Record, ServiceRecord};

/// The record starts with the cluster and services asked for, so a deploy that fails before
/// reading them still names them.
pub fn begin(config: &Config, record: &mut Record) {
    record.cluster.clone_from(&config.target.cluster);
    record.services = config
        .target
        .services
        .iter()
        .map(|s| ServiceRecord::new(s))
        .collect();
}

pub fn started(updated: &[Updated], record: &mut Record) {
    for u in updated {
        if let Some(service) = record.service_mut(&u.name) {
            service.deployment_id = Some(u.deployment_id.clone());
            service.code_deploy = u
                .code_deploy
                .as_ref()
                .map(|g| (g.application_name.clone(), g.deployment_group_name.clone()));
            service.verdict = "started".into();
        }
    }
}

pub fn outcomes(watches: &[Watch], record: &mut Record) {
    for watch in watches {
        let Some(service) = record.service_mut(&watch.name) else {
            continue;
        };
        match &watch.outcome {
            Some(Outcome::Succeeded { deployment_id }) => {
                service.verdict = "succeeded".into();
                service.deployment_id = Some(deployment_id.clone());
            }
            Some(Outcome::Failed(r)) => {
                service.verdict = "failed".into();
                service.message.clone_from(&r.verdict);
            }
            Some(Outcome::TimedOut(r)) => {
                service.verdict = "timed-out".into();
                service.message.clone_from(&r.verdict);
            }
            Some(Outcome::Paused(_)) | None => {}
        }
    }
}

/// The revision each service ran before this deploy, as read.
pub fn previous_revisions(services: &[Service], record: &mut Record) {
    for (service, live) in record.services.iter_mut().zip(services) {
        service.previous_task_definition_arn = Some(live.primary_revision().to_string());
    }
}
