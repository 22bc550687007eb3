//! Carries out a [`Plan`]: registers its revisions, then updates its services. Each step
//! reports how far it got, so a failure says exactly what had changed.

use futures_util::StreamExt;

use crate::aws::codedeploy::{CodeDeploy, Group};
use crate::aws::ecs::{Ecs, Lookup};
use crate::config::{AUDIT_TAG_PREFIX, Config};
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::codedeploy_verdict::console_link as codedeploy_link;
use crate::rules::plan::{Plan, ServicePlan, Source};
use crate::rules::rollout::{Service, revision_name};
use crate::rules::task_def;
use crate::steps::blue_green::{self, Target};
use crate::steps::throttle;

/// How many UpdateService calls may be in flight at once: enough to start 50 services in a
/// few seconds, few enough not to drain the account's ECS request bucket that other
/// pipelines share (a throttled update is sent again, see [`crate::steps::throttle`]).
pub const UPDATE_CONCURRENCY: usize = 5;

/// A service this run updated.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The service, as configured.
    pub name: String,
    /// The service as UpdateService returned it.
    pub service: Service,
    /// The revision it now deploys.
    pub target: String,
    /// The revision it ran before.
    pub previous: String,
    /// The deployment UpdateService started (`ecs-svc/…`), or CodeDeploy's (`d-…`).
    pub deployment_id: String,
    /// The deployment group, when CodeDeploy deploys the service.
    pub code_deploy: Option<Group>,
}

/// Registers every revision of the plan, in order; returns their ARNs by plan index.
///
/// A throttled registration (RegisterTaskDefinition allows one a second per account, shared by
/// every pipeline) is sent again for as long as the deploy's time allows ([`crate::steps::throttle`]).
pub async fn register(
    ecs: &Ecs,
    config: &Config,
    plan: &Plan,
    report: &Reporter,
) -> Result<Vec<String>, Error> {
    let several = plan.services.len() > 1;
    let mut registered: Vec<String> = Vec::new();
    for revision in &plan.revisions {
        let td = &revision.task_definition;
        let request = td.register_request();
        if several {
            report.step(&format!(
                "Registering a new revision of {} (for {})",
                td.family(),
                revision.services.join(", ")
            ));
        } else {
            report.step(&format!("Registering a new revision of {}", td.family()));
        }
        let budget = throttle::budget(config.wait.timeout);
        let arn = throttle::retry(budget, report, || ecs.register_task_definition(&request))
            .await
            .map_err(|err| register_failed(td.family(), &registered, several, err))?;
        let changes = match &revision.source {
            Source::File(path) => format!("from {path}"),
            Source::Revision(_) => {
                let paths: Vec<String> = task_def::changed_paths(&revision.before, &request)
                    .into_iter()
                    .filter(|p| !p.starts_with("tags"))
                    .collect();
                if paths.is_empty() {
                    "no field changed".to_string()
                } else {
                    format!("changed: {}", paths.join(", "))
                }
            }
        };
        let mut was: Vec<&str> = Vec::new();
        for service in plan.services.iter().filter(|s| {
            s.revision
                .is_some_and(|i| plan.revisions.get(i) == Some(revision))
        }) {
            let name = revision_name(&service.current);
            if !was.contains(&name) {
                was.push(name);
            }
        }
        report.detail(&format!(
            "registered {} (was {}); {changes}",
            revision_name(&arn),
            was.join(", ")
        ));
        report.detail(&format!(
            "{} tag(s), audit tags under {AUDIT_TAG_PREFIX}",
            td.tags.len()
        ));
        registered.push(arn);
    }
    Ok(registered)
}

/// RegisterTaskDefinition did not succeed. No service was updated either way, but a
/// revision whose answer was lost may exist all the same: say so instead of "nothing was
/// changed". Such a revision is used by no service, so KEEP_REVISIONS may clean it up later.
fn register_failed(family: &str, registered: &[String], several: bool, err: AwsError) -> Error {
    let changed = if err.is_ambiguous() {
        let mut words = format!(
            "a new revision of {family} may have been registered all the same (its answer was lost); no service was updated"
        );
        if !registered.is_empty() {
            words.push_str(&format!(
                "; registered before it: {}",
                registered.join(", ")
            ));
        }
        Changed::Unknown {
            words,
            services: false,
        }
    } else if registered.is_empty() {
        Changed::Nothing
    } else {
        Changed::Registered {
            revisions: registered.to_vec(),
            several_services: several,
        }
    };
    Error::Aws {
        step: format!("registering a new revision of {family}"),
        err: err.into(),
        changed,
    }
}

/// Updates every service of the plan to its new revision (or restarts it), at most
/// [`UPDATE_CONCURRENCY`] at a time. One UpdateService call per service carries every
/// change, so ECS starts exactly one deployment each. An update whose answer was lost is
/// settled by reading the service back ([`settle_lost_update`]). Stops starting updates at
/// the first failure; the error names the services that were already updated.
pub async fn update(
    ecs: &Ecs,
    config: &Config,
    plan: &Plan,
    registered: &[String],
    report: &Reporter,
) -> Result<Vec<Updated>, Error> {
    let ecs_services: Vec<&ServicePlan> = plan.services.iter().filter(|s| !s.code_deploy).collect();
    if ecs_services.is_empty() {
        return Ok(Vec::new());
    }
    announce_update(config, &ecs_services, registered, report);
    let mut calls = futures_util::stream::iter(ecs_services.into_iter().map(|s| {
        let target = target_of(s, registered);
        let new_revision = (s.revision.is_some() || s.promoted.is_some()).then(|| target.clone());
        async move {
            let sent_at = epoch_now();
            let result = send_update(ecs, config, s, new_revision.as_deref(), report).await;
            (s, target, sent_at, result)
        }
    }))
    .buffered(UPDATE_CONCURRENCY);
    let mut updated: Vec<Updated> = Vec::new();
    while let Some((s, target, sent_at, result)) = calls.next().await {
        let settled = match result {
            Ok(service) => Ok((our_deployment(&service, &target), service)),
            Err(err) if err.is_ambiguous() => {
                settle(ecs, config, s, &target, sent_at, err, report).await
            }
            Err(err) => Err(Settled::Definite(err)),
        };
        match settled {
            Ok((deployment_id, service)) => {
                updated.push(started(
                    config,
                    plan,
                    s,
                    target,
                    deployment_id,
                    service,
                    report,
                ));
            }
            Err(settled) => {
                drop(calls);
                return Err(update_failed(plan, registered, &updated, s, settled));
            }
        }
    }
    Ok(updated)
}

/// The revision a service moves to: its new one, the registered one promoted, or the one it
/// runs (a restart).
fn target_of(s: &ServicePlan, registered: &[String]) -> String {
    s.revision
        .and_then(|i| registered.get(i).cloned())
        .or_else(|| s.promoted.clone())
        .unwrap_or_else(|| s.current.clone())
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The step line, and what besides the revision changes.
fn announce_update(
    config: &Config,
    services: &[&ServicePlan],
    registered: &[String],
    report: &Reporter,
) {
    let several = services.len() > 1;
    if let [only] = services {
        report.step(&format!(
            "Updating service {} to {}",
            only.name,
            revision_name(&target_of(only, registered))
        ));
    } else {
        report.step(&format!("Updating {} services", services.len()));
    }
    if config.change.force_new_deployment {
        report.detail("forcing a new deployment (FORCE_NEW_DEPLOYMENT)");
    }
    if let Some(n) = config.change.desired_count {
        for s in services {
            if several {
                report.detail(&format!(
                    "{}: desired count {} → {n}",
                    s.name, s.desired_count
                ));
            } else {
                report.detail(&format!("desired count {} → {n}", s.desired_count));
            }
        }
    }
}

/// Reports a started deployment and records it.
fn started(
    config: &Config,
    plan: &Plan,
    s: &ServicePlan,
    target: String,
    deployment_id: String,
    service: Service,
    report: &Reporter,
) -> Updated {
    if plan.services.len() > 1 {
        report.detail(&format!(
            "{} → {}: deployment {deployment_id} started",
            s.name,
            revision_name(&target)
        ));
    } else {
        report.detail(&format!("deployment {deployment_id} started"));
        report.detail(&console_link(
            &config.target.region,
            &config.target.cluster,
            &s.name,
        ));
    }
    Updated {
        name: s.name.clone(),
        service,
        target,
        previous: s.current.clone(),
        deployment_id,
        code_deploy: None,
    }
}

/// What one UpdateService was asked to do, to recognise it in a service read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted<'a> {
    /// The revision the service should run.
    pub target: &'a str,
    /// True when `target` is a new revision (not a restart of the current one).
    pub new_revision: bool,
    /// `FORCE_NEW_DEPLOYMENT`.
    pub force: bool,
    /// `DESIRED_COUNT`.
    pub desired_count: Option<i64>,
    /// When the call was sent, in epoch seconds (this machine's clock).
    pub sent_at: f64,
}

/// What a service read back after an UpdateService without an answer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBack {
    /// The update happened; this deployment is the one it started.
    Updated {
        /// The PRIMARY deployment.
        deployment_id: String,
    },
    /// The update did not happen; the words say what the service runs instead.
    NotUpdated(String),
    /// The service cannot tell (no PRIMARY deployment, or no time to compare).
    Unknown(String),
}

/// How far apart this machine's clock and ECS's may be when telling a restart this run
/// started from an older deployment.
pub const CLOCK_SKEW_SECONDS: f64 = 30.0;

/// Whether the service read back after a lost UpdateService answer shows that update.
/// A new revision shows as the PRIMARY deployment running it: that deployment is ours (a
/// concurrent deploy of the very same revision is indistinguishable, and as good). A restart
/// shows as a PRIMARY deployment created after the call was sent; a desired-count change
/// alone as the desired count.
pub fn read_back(service: &Service, wanted: &Wanted<'_>) -> ReadBack {
    let Some(primary) = service.deployments.iter().find(|d| d.status == "PRIMARY") else {
        return ReadBack::Unknown("the service shows no PRIMARY deployment".into());
    };
    let runs = revision_name(&primary.task_definition);
    let updated = ReadBack::Updated {
        deployment_id: primary.id.clone(),
    };
    if primary.task_definition != wanted.target {
        return ReadBack::NotUpdated(format!(
            "its PRIMARY deployment {} runs {runs}, not {}",
            primary.id,
            revision_name(wanted.target)
        ));
    }
    if wanted.new_revision {
        return updated;
    }
    if wanted.force {
        if primary.created_at <= 0.0 {
            return ReadBack::Unknown(format!(
                "ECS does not say when deployment {} was created",
                primary.id
            ));
        }
        return if primary.created_at >= wanted.sent_at - CLOCK_SKEW_SECONDS {
            updated
        } else {
            ReadBack::NotUpdated(format!(
                "no new deployment started: its PRIMARY deployment {} of {runs} is older than the update",
                primary.id
            ))
        };
    }
    match wanted.desired_count {
        Some(n) if service.desired_count != n => ReadBack::NotUpdated(format!(
            "its desired count is {}, not {n}",
            service.desired_count
        )),
        _ => updated,
    }
}

/// How many times a forced UpdateService is sent at most: again only after a read showed that
/// the one before was not applied.
pub const FORCED_SENDS: u32 = 3;

/// One service's UpdateService. A forced one (`FORCE_NEW_DEPLOYMENT`) is sent once by the SDK,
/// since each one that arrives starts a deployment. A throttled one was not applied and is sent
/// again for as long as the deploy's time allows ([`crate::steps::throttle`]).
async fn send_update(
    ecs: &Ecs,
    config: &Config,
    s: &ServicePlan,
    new_revision: Option<&str>,
    report: &Reporter,
) -> Result<Service, AwsError> {
    let send = || {
        ecs.update_service(
            &config.target.cluster,
            &s.name,
            new_revision,
            config.change.force_new_deployment,
            config.change.desired_count,
        )
    };
    throttle::retry(throttle::budget(config.wait.timeout), report, send).await
}

/// After an UpdateService without a definite answer: read the service back and follow what it
/// shows ([`settle_lost_update`]). A forced update that the read shows was not applied is sent
/// again, up to [`FORCED_SENDS`] in all; one the read shows was applied is followed, so the
/// tasks are replaced once.
#[allow(clippy::too_many_arguments)]
async fn settle(
    ecs: &Ecs,
    config: &Config,
    s: &ServicePlan,
    target: &str,
    mut sent_at: f64,
    mut err: AwsError,
    report: &Reporter,
) -> Result<(String, Service), Settled> {
    let force = config.change.force_new_deployment;
    let new_revision = (s.revision.is_some() || s.promoted.is_some()).then_some(target);
    let mut sends = 1;
    loop {
        let wanted = Wanted {
            target,
            new_revision: new_revision.is_some(),
            force,
            desired_count: config.change.desired_count.map(i64::from),
            sent_at,
        };
        match settle_lost_update(ecs, &config.target.cluster, s, &wanted, err, report).await {
            Err(Settled::Read {
                err: _,
                found,
                applied: Some(false),
            }) if force && sends < FORCED_SENDS => {
                report.detail(&format!(
                    "{found}: no deployment was started, so sending the forced update again"
                ));
                sends += 1;
                sent_at = epoch_now();
                match send_update(ecs, config, s, new_revision, report).await {
                    Ok(service) => return Ok((our_deployment(&service, target), service)),
                    Err(again) if again.is_ambiguous() => err = again,
                    Err(again) => return Err(Settled::Definite(again)),
                }
            }
            other => return other,
        }
    }
}

/// How an UpdateService that did not succeed ended.
#[derive(Debug)]
enum Settled {
    /// AWS answered with a definite refusal.
    Definite(AwsError),
    /// No definite answer, and the read back says what happened (or could not).
    Read {
        err: AwsError,
        found: String,
        /// `Some(true)`: the update happened; `Some(false)`: it did not; `None`: unknown.
        applied: Option<bool>,
    },
}

/// After an UpdateService without a definite answer: DescribeServices, and follow what it
/// shows. `Ok` when the update happened (the deployment to follow and the service as read).
/// DescribeServices after a write without a definite answer: the service, or what the read
/// found instead, in words.
pub async fn reread(ecs: &Ecs, cluster: &str, name: &str) -> Result<Service, String> {
    match ecs.describe_service(cluster, name).await {
        Ok(Lookup::Found(service)) => Ok(*service),
        Ok(Lookup::Missing | Lookup::NoCluster) => {
            Err("DescribeServices no longer finds the service".into())
        }
        Err(read) => Err(format!("reading the service back failed too ({read})")),
    }
}

async fn settle_lost_update(
    ecs: &Ecs,
    cluster: &str,
    s: &ServicePlan,
    wanted: &Wanted<'_>,
    err: AwsError,
    report: &Reporter,
) -> Result<(String, Service), Settled> {
    report.warn(&format!(
        "{}: {err}; the update may have happened all the same, so reading the service back",
        s.name
    ));
    let service = match reread(ecs, cluster, &s.name).await {
        Ok(service) => service,
        Err(found) => {
            return Err(Settled::Read {
                err,
                found,
                applied: None,
            });
        }
    };
    match read_back(&service, wanted) {
        ReadBack::Updated { deployment_id } => {
            report.detail(&format!(
                "DescribeServices shows the update happened: following deployment {deployment_id}"
            ));
            Ok((deployment_id, service))
        }
        ReadBack::NotUpdated(why) => Err(Settled::Read {
            err,
            found: format!("DescribeServices shows the service was not updated ({why})"),
            applied: Some(false),
        }),
        ReadBack::Unknown(why) => Err(Settled::Read {
            err,
            found: format!("DescribeServices cannot tell whether it was updated ({why})"),
            applied: None,
        }),
    }
}

/// (repository, commit, build number): what a CodeDeploy deployment's description names.
pub fn build_of(config: &Config) -> (Option<&str>, Option<&str>, Option<&str>) {
    let ctx = &config.context;
    (
        ctx.repo_full_name.as_deref(),
        ctx.commit.as_deref(),
        ctx.build_number.as_deref(),
    )
}

/// Starts a CodeDeploy deployment of every CODE_DEPLOY service of the plan (after
/// `DESIRED_COUNT` through an UpdateService without a task definition, which ECS allows).
/// `already` are the services updated before, for the error's account of what changed.
#[allow(clippy::too_many_arguments)]
pub async fn start_code_deploys(
    ecs: &Ecs,
    cd: Option<&CodeDeploy>,
    config: &Config,
    plan: &Plan,
    registered: &[String],
    targets: &[Target],
    already: &[Updated],
    report: &Reporter,
) -> Result<Vec<Updated>, Error> {
    let several = plan.services.len() > 1;
    let mut started: Vec<Updated> = Vec::new();
    for s in plan.services.iter().filter(|s| s.code_deploy) {
        let (Some(cd), Some(target)) = (cd, targets.iter().find(|t| t.service == s.name)) else {
            continue;
        };
        let revision = target_of(s, registered);
        report.step(&format!(
            "Deploying {} to service {} through CodeDeploy ({})",
            revision_name(&revision),
            s.name,
            target.group.label()
        ));
        let fail = |started: &[Updated], err: crate::error::AwsError| {
            let mut done: Vec<Updated> = already.to_vec();
            done.extend(started.iter().cloned());
            update_failed(plan, registered, &done, s, Settled::Definite(err))
        };
        let mut live = target.live.clone();
        if let Some(n) = config.change.desired_count {
            report.detail(&format!("desired count {} → {n}", s.desired_count));
            live = ecs
                .update_service(&config.target.cluster, &s.name, None, false, Some(n))
                .await
                .map_err(|err| fail(&started, err))?;
        }
        let (_, body) =
            blue_green::request(target, &revision, &config.code_deploy, build_of(config))?;
        let id = blue_green::create(cd, &body, report).await.map_err(|err| {
            create_failed(fail(&started, err), &s.name, config.change.desired_count)
        })?;
        if several {
            report.detail(&format!(
                "{} → {}: CodeDeploy deployment {id} started",
                s.name,
                revision_name(&revision)
            ));
        } else {
            report.detail(&format!("CodeDeploy deployment {id} started"));
        }
        report.detail(&codedeploy_link(&config.target.region, &id));
        started.push(Updated {
            name: s.name.clone(),
            service: live,
            target: revision,
            previous: s.current.clone(),
            deployment_id: id,
            code_deploy: Some(target.group.clone()),
        });
    }
    Ok(started)
}

/// The error of a CreateDeployment that failed: it names its step, and a service whose
/// desired count was already changed counts as updated.
fn create_failed(error: Error, service: &str, desired_count: Option<i32>) -> Error {
    let step = format!("starting the CodeDeploy deployment of {service}");
    match (error, desired_count) {
        (Error::Aws { err, changed, .. }, Some(n)) => {
            let mut services = match changed {
                Changed::Services(services) => services,
                _ => Vec::new(),
            };
            services.push(format!(
                "{service} (desired count {n}, no CodeDeploy deployment)"
            ));
            Error::Aws {
                step,
                err,
                changed: Changed::Services(services),
            }
        }
        (Error::Aws { err, changed, .. }, None) => Error::Aws { step, err, changed },
        (other, _) => other,
    }
}

fn update_failed(
    plan: &Plan,
    registered: &[String],
    updated: &[Updated],
    failed: &ServicePlan,
    settled: Settled,
) -> Error {
    let before = if updated.is_empty() {
        if registered.is_empty() {
            Changed::Nothing
        } else {
            Changed::Registered {
                revisions: registered.to_vec(),
                several_services: plan.services.len() > 1,
            }
        }
    } else {
        Changed::Services(
            updated
                .iter()
                .map(|u| {
                    format!(
                        "{} (now deploying {}, {})",
                        u.name,
                        revision_name(&u.target),
                        u.deployment_id
                    )
                })
                .collect(),
        )
    };
    let step = format!("updating service {}", failed.name);
    match settled {
        Settled::Definite(err) => Error::Aws {
            step,
            err: err.into(),
            changed: before,
        },
        Settled::Read {
            err,
            found,
            applied: Some(false),
        } => Error::ReadBack {
            step,
            err: err.into(),
            found,
            changed: before,
        },
        Settled::Read { err, found, .. } => Error::ReadBack {
            step,
            err: err.into(),
            found,
            changed: Changed::Unknown {
                words: unknown_words(failed, updated),
                services: true,
            },
        },
    }
}

/// What may have changed when a lost update could not be settled.
fn unknown_words(failed: &ServicePlan, updated: &[Updated]) -> String {
    let mut words = format!(
        "service {} may or may not have been updated; look at its Deployments tab before re-running",
        failed.name
    );
    if !updated.is_empty() {
        words.push_str(&format!(
            "; {} already updated",
            updated
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    words
}

/// The deployment UpdateService started: the PRIMARY one running `target`.
pub fn our_deployment(service: &Service, target: &str) -> String {
    service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY" && d.task_definition == target)
        .or_else(|| service.deployments.iter().find(|d| d.status == "PRIMARY"))
        .map(|d| d.id.clone())
        .unwrap_or_default()
}

fn last_segment(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// The ECS console page of the service's deployments.
pub fn console_link(region: &str, cluster: &str, service: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/deployments?region={region}",
        last_segment(cluster),
        last_segment(service)
    )
}
