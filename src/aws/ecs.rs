//! The ECS adapter: the only code that names ECS operations.
//!
//! Task definitions and services are read as raw JSON (see [`crate::aws::RawBody`]) and the
//! new task definition is sent as raw JSON, so no field is lost in the SDK's typed structs.
//! The SDK still does the signing, retries, endpoint resolution and error parsing.

use std::collections::HashSet;

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentLifecycleHookAction, DesiredStatus, ServiceDeploymentStatus,
    StopServiceDeploymentStopType, TaskDefinitionField,
};
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

use crate::aws::{RawBody, WriteAttempts};
use crate::error::AwsError;
use crate::model::service::{Service, ServiceDeployment, ServiceRevision};

/// A stopped task, reduced to what explains the stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedTask {
    /// `taskArn`; its last segment is the task id that names the task's log streams.
    pub task_arn: String,
    /// `taskDefinitionArn`: where to find each container's `logConfiguration`.
    pub task_definition_arn: String,
    /// `startedBy`: the deployment id for service tasks.
    pub started_by: String,
    /// `stopCode`, such as `EssentialContainerExited`.
    pub stop_code: String,
    /// `stoppedReason`.
    pub stopped_reason: String,
    /// (container name, exit code, reason) for each container.
    pub containers: Vec<(String, Option<i32>, String)>,
}

/// The most services one DescribeServices call may name (an ECS limit).
pub const DESCRIBE_SERVICES_MAX: usize = 10;

/// Result of DescribeServices for one service.
#[derive(Debug)]
pub enum Lookup {
    /// The service as ECS returned it.
    Found(Box<Service>),
    /// ECS said MISSING.
    Missing,
    /// The cluster does not exist.
    NoCluster,
}

/// Thin wrapper over the ECS client.
#[derive(Debug, Clone)]
pub struct Ecs {
    client: aws_sdk_ecs::Client,
}

impl Ecs {
    /// Wraps a client.
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        Self { client }
    }

    /// DescribeServices for one service.
    pub async fn describe_service(&self, cluster: &str, service: &str) -> Result<Lookup, AwsError> {
        let mut found = self
            .describe_services(cluster, std::slice::from_ref(&service.to_string()))
            .await?;
        Ok(found.pop().unwrap_or(Lookup::Missing))
    }

    /// DescribeServices for up to [`DESCRIBE_SERVICES_MAX`] services in one call; one
    /// [`Lookup`] per name, in the order asked.
    pub async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<Lookup>, AwsError> {
        let raw = RawBody::default();
        let result = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .customize()
            .interceptor(raw.clone())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_cluster_not_found_exception()) =>
            {
                return Ok(services.iter().map(|_| Lookup::NoCluster).collect());
            }
            Err(e) => return Err(AwsError::from_sdk("ecs:DescribeServices", &e)),
        }
        let body = raw.json().unwrap_or(Value::Null);
        let listed = body
            .get("services")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let missing_cluster = body
            .get("failures")
            .and_then(Value::as_array)
            .is_some_and(|f| {
                f.iter().any(|f| {
                    f.get("arn")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.contains(":cluster/"))
                })
            });
        let mut lookups = Vec::with_capacity(services.len());
        for wanted in services {
            let field = if wanted.starts_with("arn:") {
                "serviceArn"
            } else {
                "serviceName"
            };
            let found = listed
                .iter()
                .find(|s| s.get(field).and_then(Value::as_str) == Some(wanted.as_str()));
            lookups.push(match found {
                Some(found) => Lookup::Found(Box::new(
                    serde_json::from_value(found.clone())
                        .map_err(|e| malformed("ecs:DescribeServices", &e))?,
                )),
                None if missing_cluster => Lookup::NoCluster,
                None => Lookup::Missing,
            });
        }
        Ok(lookups)
    }

    /// DescribeServiceDeployments for one service deployment (blue/green, linear, canary).
    pub async fn describe_service_deployment(
        &self,
        arn: &str,
    ) -> Result<Option<ServiceDeployment>, AwsError> {
        let raw = RawBody::default();
        self.client
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:DescribeServiceDeployments", &e))?;
        let first = raw.json().and_then(|b| {
            b.get("serviceDeployments")
                .and_then(Value::as_array)
                .and_then(|a| a.first().cloned())
        });
        match first {
            Some(sd) => serde_json::from_value(sd)
                .map(Some)
                .map_err(|e| malformed("ecs:DescribeServiceDeployments", &e)),
            None => Ok(None),
        }
    }

    /// ListServiceDeployments of a service, newest first as ECS lists them: the ARNs of those
    /// in one of `statuses` (all when empty).
    pub async fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        statuses: &[&str],
    ) -> Result<Vec<String>, AwsError> {
        let raw = RawBody::default();
        self.client
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .set_status((!statuses.is_empty()).then(|| {
                statuses
                    .iter()
                    .map(|s| ServiceDeploymentStatus::from(*s))
                    .collect()
            }))
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:ListServiceDeployments", &e))?;
        let body = raw.json().unwrap_or(Value::Null);
        Ok(body
            .get("serviceDeployments")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|d| d.get("serviceDeploymentArn").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    /// DescribeServiceRevisions for one service revision: its task definition and the image
    /// digests ECS resolved; `None` when ECS does not know it.
    pub async fn describe_service_revision(
        &self,
        arn: &str,
    ) -> Result<Option<ServiceRevision>, AwsError> {
        let raw = RawBody::default();
        self.client
            .describe_service_revisions()
            .service_revision_arns(arn)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:DescribeServiceRevisions", &e))?;
        let first = raw.json().and_then(|b| {
            b.get("serviceRevisions")
                .and_then(Value::as_array)
                .and_then(|a| a.first().cloned())
        });
        match first {
            Some(rev) => serde_json::from_value(rev)
                .map(Some)
                .map_err(|e| malformed("ecs:DescribeServiceRevisions", &e)),
            None => Ok(None),
        }
    }

    /// ContinueServiceDeployment: resumes the PAUSE hook `hook_id` with `action` (`CONTINUE`
    /// or `ROLLBACK`).
    pub async fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        action: &str,
    ) -> Result<(), AwsError> {
        let attempts = WriteAttempts::default();
        self.client
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook_id)
            .action(DeploymentLifecycleHookAction::from(action))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_write("ecs:ContinueServiceDeployment", &e, &attempts))
    }

    /// StopServiceDeployment with `stop_type` (`ROLLBACK` or `ABORT`).
    pub async fn stop_service_deployment(
        &self,
        arn: &str,
        stop_type: &str,
    ) -> Result<(), AwsError> {
        let attempts = WriteAttempts::default();
        self.client
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(StopServiceDeploymentStopType::from(stop_type))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_write("ecs:StopServiceDeployment", &e, &attempts))
    }

    /// DescribeTaskDefinition with its tags, as raw JSON: `{"taskDefinition": {…}, "tags": […]}`.
    pub async fn describe_task_definition(&self, arn: &str) -> Result<Value, AwsError> {
        let raw = RawBody::default();
        self.client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:DescribeTaskDefinition", &e))?;
        raw.json()
            .ok_or_else(|| malformed("ecs:DescribeTaskDefinition", &"empty body"))
    }

    /// RegisterTaskDefinition with `request` sent byte for byte; returns the new ARN.
    pub async fn register_task_definition(&self, request: &Value) -> Result<String, AwsError> {
        let body =
            serde_json::to_vec(request).map_err(|e| malformed("ecs:RegisterTaskDefinition", &e))?;
        let family = request
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The typed input only satisfies the builder; its body is replaced before signing.
        let placeholder = ContainerDefinition::builder().name("placeholder").build();
        let attempts = WriteAttempts::default();
        let out = self
            .client
            .register_task_definition()
            .family(family)
            .container_definitions(placeholder)
            .customize()
            .mutate_request(move |req| {
                let len = body.len();
                *req.body_mut() = SdkBody::from(body.clone());
                req.headers_mut().insert("content-length", len.to_string());
            })
            .interceptor(attempts.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_write("ecs:RegisterTaskDefinition", &e, &attempts))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                malformed(
                    "ecs:RegisterTaskDefinition",
                    &"no taskDefinitionArn in the response",
                )
            })
    }

    /// One UpdateService call carrying every change, so ECS starts exactly one deployment.
    /// A retry of the same call (same task definition, no `forceNewDeployment`) starts none;
    /// a forced one is sent once, without the SDK's retries (see the body).
    pub async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        force_new_deployment: bool,
        desired_count: Option<i32>,
    ) -> Result<Service, AwsError> {
        let raw = RawBody::default();
        let attempts = WriteAttempts::default();
        let mut call = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .set_task_definition(task_definition.map(str::to_string))
            .force_new_deployment(force_new_deployment)
            .set_desired_count(desired_count)
            .customize()
            .interceptor(raw.clone())
            .interceptor(attempts.clone());
        if force_new_deployment {
            // Every forced UpdateService that arrives starts a deployment, so the SDK must not
            // send it again after a lost answer: the caller reads the service back instead, and
            // retries a throttled one itself (crate::steps::throttle).
            call = call.config_override(
                aws_sdk_ecs::config::Builder::default()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            );
        }
        call.send()
            .await
            .map_err(|e| AwsError::from_write("ecs:UpdateService", &e, &attempts))?;
        let service = raw
            .json()
            .and_then(|b| b.get("service").cloned())
            .unwrap_or(Value::Null);
        serde_json::from_value(service).map_err(|e| malformed("ecs:UpdateService", &e))
    }

    /// RunTask with `request` sent byte for byte; returns the raw answer (`tasks`, `failures`).
    ///
    /// The SDK would fill in `clientToken` itself, but the body it fills it into is replaced
    /// here, so `request` must carry its own: the same bytes go out on every retry, and ECS
    /// answers a repeated token with the task it already started instead of a second one.
    pub async fn run_task(&self, request: &Value) -> Result<Value, AwsError> {
        let body = serde_json::to_vec(request).map_err(|e| malformed("ecs:RunTask", &e))?;
        let text = |key: &str| {
            request
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let raw = RawBody::default();
        let attempts = WriteAttempts::default();
        // The typed input only satisfies the builder; its body is replaced before signing.
        self.client
            .run_task()
            .task_definition(text("taskDefinition"))
            .set_client_token(
                request
                    .get("clientToken")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
            .customize()
            .mutate_request(move |req| {
                let len = body.len();
                *req.body_mut() = SdkBody::from(body.clone());
                req.headers_mut().insert("content-length", len.to_string());
            })
            .interceptor(raw.clone())
            .interceptor(attempts.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_write("ecs:RunTask", &e, &attempts))?;
        raw.json()
            .ok_or_else(|| malformed("ecs:RunTask", &"empty body"))
    }

    /// DescribeTasks for one task, as raw JSON; `None` when ECS does not know it (yet).
    pub async fn describe_task(
        &self,
        cluster: &str,
        task: &str,
    ) -> Result<Option<Value>, AwsError> {
        let raw = RawBody::default();
        self.client
            .describe_tasks()
            .cluster(cluster)
            .tasks(task)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:DescribeTasks", &e))?;
        Ok(raw.json().and_then(|b| {
            b.get("tasks")
                .and_then(Value::as_array)
                .and_then(|t| t.first().cloned())
        }))
    }

    /// StopTask, with a reason ECS keeps on the task for a person to read.
    pub async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> Result<(), AwsError> {
        let attempts = WriteAttempts::default();
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task)
            .reason(reason)
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_write("ecs:StopTask", &e, &attempts))
    }

    /// The tasks of `family` that were started with `started_by`, as raw JSON (DescribeTasks
    /// entries): the running ones (ListTasks by `startedBy`, which allows no other filter) and
    /// the stopped ones (ListTasks by family, matched on `startedBy` here).
    pub async fn tasks_started_by(
        &self,
        cluster: &str,
        family: &str,
        started_by: &str,
    ) -> Result<Vec<Value>, AwsError> {
        let running = self
            .client
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:ListTasks", &e))?;
        let stopped = self
            .client
            .list_tasks()
            .cluster(cluster)
            .family(family)
            .desired_status(DesiredStatus::Stopped)
            .max_results(100)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:ListTasks", &e))?;
        let mut arns: Vec<String> = running.task_arns().to_vec();
        arns.extend(stopped.task_arns().iter().cloned());
        arns.sort_unstable();
        arns.dedup();
        let mut found = Vec::new();
        // DescribeTasks takes at most 100 tasks a call.
        for chunk in arns.chunks(100) {
            let raw = RawBody::default();
            self.client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .customize()
                .interceptor(raw.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs:DescribeTasks", &e))?;
            let body = raw.json().unwrap_or(Value::Null);
            found.extend(
                body.get("tasks")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter(|t| t.get("startedBy").and_then(Value::as_str) == Some(started_by))
                    .cloned(),
            );
        }
        Ok(found)
    }

    /// The stopped tasks that `deployment_id` started (at most 100, newest listed first by ECS).
    pub async fn stopped_tasks(
        &self,
        cluster: &str,
        service: &str,
        deployment_id: &str,
    ) -> Result<Vec<StoppedTask>, AwsError> {
        // ListTasks accepts startedBy only as its sole filter, so list the service's stopped
        // tasks and match startedBy here.
        let listed = self
            .client
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(DesiredStatus::Stopped)
            .max_results(100)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:ListTasks", &e))?;
        let arns = listed.task_arns().to_vec();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ecs:DescribeTasks", &e))?;
        Ok(described
            .tasks()
            .iter()
            .filter(|t| t.started_by() == Some(deployment_id))
            .map(|t| StoppedTask {
                task_arn: t.task_arn().unwrap_or_default().to_string(),
                task_definition_arn: t.task_definition_arn().unwrap_or_default().to_string(),
                started_by: t.started_by().unwrap_or_default().to_string(),
                stop_code: t
                    .stop_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                stopped_reason: t.stopped_reason().unwrap_or_default().to_string(),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| {
                        (
                            c.name().unwrap_or_default().to_string(),
                            c.exit_code(),
                            c.reason().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            })
            .collect())
    }
}

impl Ecs {
    /// ACTIVE revisions of a family (ARNs, any order).
    pub async fn active_revisions(&self, family: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs:ListTaskDefinitions", &e))?;
            // familyPrefix matches web-worker too; keep only this family.
            arns.extend(
                out.task_definition_arns()
                    .iter()
                    .filter(|a| {
                        a.rsplit_once('/')
                            .and_then(|(_, n)| n.rsplit_once(':'))
                            .is_some_and(|(f, _)| f == family)
                    })
                    .cloned(),
            );
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(arns),
            }
        }
    }

    /// Every revision that a service of the cluster runs or is deploying.
    pub async fn revisions_in_use(&self, cluster: &str) -> Result<HashSet<String>, AwsError> {
        let mut services = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_services()
                .cluster(cluster)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs:ListServices", &e))?;
            services.extend(out.service_arns().iter().cloned());
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        let mut in_use = HashSet::new();
        for chunk in services.chunks(10) {
            let out = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ecs:DescribeServices", &e))?;
            for service in out.services() {
                in_use.extend(service.task_definition().map(str::to_string));
                in_use.extend(
                    service
                        .deployments()
                        .iter()
                        .filter_map(|d| d.task_definition().map(str::to_string)),
                );
                in_use.extend(
                    service
                        .task_sets()
                        .iter()
                        .filter_map(|t| t.task_definition().map(str::to_string)),
                );
            }
        }
        Ok(in_use)
    }

    /// DeregisterTaskDefinition.
    pub async fn deregister(&self, arn: &str) -> Result<(), AwsError> {
        self.client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ecs:DeregisterTaskDefinition", &e))
    }

    /// TagResource.
    pub async fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<(), AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
            .collect::<Vec<_>>();
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ecs:TagResource", &e))
    }
}

fn malformed(operation: &'static str, e: &dyn std::fmt::Display) -> AwsError {
    AwsError::plain(operation, format!("unexpected response: {e}"))
}
