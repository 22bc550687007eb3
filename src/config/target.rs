//! The target section: which region, cluster and services the deploy changes.

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// The target section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct Target {
    /// The region of the cluster.
    pub region: String,
    /// `CLUSTER_NAME`: name or ARN.
    pub cluster: String,
    /// `SERVICE_NAME`, or every service of `SERVICE_NAMES`: names or ARNs, in the order given.
    pub services: Vec<String>,
}

/// Reads the region (its problems come first, as the region is the first variable a step
/// names).
pub fn region(raw: &Raw, problems: &mut Vec<Problem>) -> String {
    let name = vars::AWS_DEFAULT_REGION.name;
    let region = match (
        raw.text(&vars::AWS_DEFAULT_REGION),
        raw.text(&vars::AWS_REGION),
    ) {
        (Some(a), Some(b)) if a != b => {
            problems.push(Problem::new(
                name,
                format!("is {a:?} but AWS_REGION is {b:?}; set only one of them"),
            ));
            a
        }
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => {
            problems.push(Problem::new(
                name,
                "is required: the region of the cluster, such as eu-west-1 (AWS_REGION also works)",
            ));
            String::new()
        }
    };
    if !region.is_empty() && !is_valid_region(&region) {
        problems.push(Problem::new(
            name,
            format!("must be a region code such as eu-west-1, got {region:?}"),
        ));
    }
    region
}

/// Reads the cluster and the services; `region` comes from [`region`].
pub fn read(raw: &Raw, region: String, problems: &mut Vec<Problem>) -> Target {
    let cluster = raw.text(&vars::CLUSTER_NAME).unwrap_or_default();
    if cluster.is_empty() {
        problems.push(Problem::new(
            vars::CLUSTER_NAME.name,
            "is required: the ECS cluster name or ARN, such as prod",
        ));
    } else {
        check_ecs_name(vars::CLUSTER_NAME.name, &cluster, "cluster", problems);
    }
    let list = raw.list(&vars::SERVICE_NAMES, problems);
    let services = services(raw.text(&vars::SERVICE_NAME), list, problems);
    Target {
        region,
        cluster,
        services,
    }
}

/// `SERVICE_NAME` for one service or `SERVICE_NAMES` for several; never both, never a name twice.
fn services(single: Option<String>, list: Vec<String>, problems: &mut Vec<Problem>) -> Vec<String> {
    match (single, list.is_empty()) {
        (Some(_), false) => {
            problems.push(Problem::new(
                vars::SERVICE_NAMES.name,
                "cannot be combined with SERVICE_NAME; list every service in SERVICE_NAMES, or set SERVICE_NAME for one service",
            ));
            Vec::new()
        }
        (Some(service), true) => {
            check_ecs_name(vars::SERVICE_NAME.name, &service, "service", problems);
            vec![service]
        }
        (None, false) => {
            check_service_list(&list, problems);
            list
        }
        (None, true) => {
            problems.push(Problem::new(
                vars::SERVICE_NAME.name,
                "is required: the ECS service name or ARN, such as web (or SERVICE_NAMES: ['web', 'worker'] for several services)",
            ));
            Vec::new()
        }
    }
}

fn check_service_list(list: &[String], problems: &mut Vec<Problem>) {
    let name = vars::SERVICE_NAMES.name;
    let mut seen: Vec<&str> = Vec::new();
    for service in list {
        let short = service.rsplit('/').next().unwrap_or(service);
        if seen.contains(&short) {
            problems.push(Problem::new(name, format!("names service {short:?} twice")));
        }
        seen.push(short);
        if service.contains([',', ' ']) {
            problems.push(Problem::new(
                name,
                format!("must be a YAML list such as ['web', 'worker'], one service per item, got {service:?}"),
            ));
        } else {
            check_ecs_name(name, service, "service", problems);
        }
    }
}

/// True for `eu-west-1`, `us-gov-west-1`, `cn-northwest-1` and the like.
pub fn is_valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

fn check_ecs_name(name: &str, value: &str, kind: &str, problems: &mut Vec<Problem>) {
    if value.starts_with("arn:") {
        if !value.contains(":ecs:") || !value.contains(&format!(":{kind}/")) {
            problems.push(Problem::new(
                name,
                format!("looks like an ARN but not an ECS {kind} ARN (arn:aws:ecs:<region>:<account>:{kind}/...), got {value:?}"),
            ));
        }
    } else if value.len() > 255
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        problems.push(Problem::new(
            name,
            format!(
                "must be the {kind} name (letters, digits, '-' and '_') or its ARN, got {value:?}"
            ),
        ));
    }
}
