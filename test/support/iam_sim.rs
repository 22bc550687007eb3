//! IAM's `SimulatePrincipalPolicy`, which moto 5.2.5 does not serve (it answers 500), played by
//! a proxy hook in IAM's query protocol with an XML answer: each test sets the decisions. With
//! [`Simulator::deny_own_checks`], the hook also refuses the pipe's own read-only checks with
//! AccessDenied, in each service's protocol.

use std::sync::{Arc, Mutex};

use super::fake::{ProxyCtx, ProxyHook, Req, Resp, request_id};
use super::xml_escape;

/// The decisions the simulator gives: the first rule whose action matches and whose resource
/// contains the given text wins; everything else is `allowed`.
#[derive(Clone, Default)]
pub struct Simulator {
    rules: Arc<Mutex<Vec<(String, String, String)>>>,
    deny_own: Arc<Mutex<Vec<String>>>,
}

impl Simulator {
    pub fn new() -> Simulator {
        Simulator::default()
    }

    /// `action` on a resource containing `resource` gets `decision` (`explicitDeny`,
    /// `implicitDeny` or `allowed`).
    pub fn decide(self, action: &str, resource: &str, decision: &str) -> Simulator {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((action.into(), resource.into(), decision.into()));
        self
    }

    /// The pipe's own call `operation` (such as `GetRole` or `DescribeSecret`) is refused.
    pub fn deny_own_checks(self, operations: &[&str]) -> Simulator {
        self.deny_own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(operations.iter().map(|o| (*o).to_string()));
        self
    }

    fn decision(&self, action: &str, resource: &str) -> String {
        let rules = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rules
            .iter()
            .find(|(a, r, _)| a == action && resource.contains(r.as_str()))
            .map_or_else(|| "allowed".to_string(), |(_, _, d)| d.clone())
    }

    /// The hook: answers SimulatePrincipalPolicy and the denied operations, forwards the rest.
    pub fn hook(&self) -> ProxyHook {
        let me = self.clone();
        Arc::new(move |_: &ProxyCtx, req: &Req| me.answer(req))
    }

    /// The answer for `req`, or `None` to forward it.
    pub fn answer(&self, req: &Req) -> Option<Resp> {
        let op = req.operation()?;
        let denied = self
            .deny_own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&op);
        if denied {
            return Some(access_denied(req, &op));
        }
        (op == "SimulatePrincipalPolicy").then(|| self.simulate(req))
    }

    fn simulate(&self, req: &Req) -> Resp {
        let form = req.form();
        let list = |prefix: &str| -> Vec<String> {
            form.iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let actions = list("ActionNames.member.");
        let mut resources = list("ResourceArns.member.");
        if resources.is_empty() {
            resources.push("*".into());
        }
        let mut results = String::new();
        for action in &actions {
            let decisions: Vec<(String, String)> = resources
                .iter()
                .map(|r| (r.clone(), self.decision(action, r)))
                .collect();
            let top = ["explicitDeny", "implicitDeny"]
                .into_iter()
                .find(|d| decisions.iter().any(|(_, x)| x == d))
                .unwrap_or("allowed");
            let specific: String = decisions
                .iter()
                .map(|(r, d)| {
                    format!(
                        "<member><EvalResourceName>{}</EvalResourceName><EvalResourceDecision>{d}</EvalResourceDecision><MatchedStatements/><MissingContextValues/></member>",
                        xml_escape(r)
                    )
                })
                .collect();
            results.push_str(&format!(
                "<member><EvalActionName>{}</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>{top}</EvalDecision><MatchedStatements/><MissingContextValues/><ResourceSpecificResults>{specific}</ResourceSpecificResults></member>",
                xml_escape(action)
            ));
        }
        Resp::xml(
            200,
            format!(
                "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>",
                request_id()
            ),
        )
    }
}

/// AccessDenied for `op`, in the protocol of the service `req` is for.
fn access_denied(req: &Req, op: &str) -> Resp {
    let service = req.service().unwrap_or_default();
    let message = format!(
        "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket is not authorized to perform: {service}:{op}"
    );
    if req.target().is_none() {
        return Resp::xml(
            403,
            format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                xml_escape(&message),
                request_id()
            ),
        );
    }
    Resp::aws_json_error(400, "AccessDeniedException", &message)
}
