//! Tests of the test support itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::fake::{Fake, ProxyCtx, Req, Resp, RolloutPlayer};
use crate::support::http;
use crate::support::moto::{Client, Moto};
use crate::support::pipe::{Pipe, assert_no_secrets};
use crate::support::snapshot;
use crate::support::token;

#[test]
fn fake_serves_two_requests_on_one_kept_alive_connection() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let fake = Fake::start(Arc::new(move |req: &Req| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        Resp::json(200, json!({"n": n, "op": req.target(), "body": req.json()}))
    }));

    let mut stream = TcpStream::connect(crate::support::http::authority(&fake.endpoint()))
        .expect("connect to the fake");
    let first = "{\"cluster\":\"prod\"}";
    let request1 = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListServices\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{first}",
        first.len()
    );
    // The second request has a chunked body and asks for 100-continue, as some clients do.
    let request2 = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeServices\r\n\
         Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
         5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n";
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    stream
        .write_all(request1.as_bytes())
        .expect("write request 1");
    let mut buf = Vec::new();
    let r1 = read_reply(&mut stream, &mut buf);
    stream
        .write_all(request2.as_bytes())
        .expect("write request 2");
    let r2 = read_reply(&mut stream, &mut buf);

    assert_eq!(r1.status, 200);
    assert_ne!(
        r1.header("connection"),
        Some("close"),
        "HTTP/1.1 keeps it open"
    );
    assert!(r1.interim.is_empty());
    assert_eq!(r2.interim, vec![100], "Expect: 100-continue is answered");
    assert_eq!(r2.status, 200);
    assert_eq!(
        r1.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(r1.header("x-amzn-requestid").is_some());
    let b1: Value = serde_json::from_slice(&r1.body).expect("json 1");
    assert_eq!(
        b1,
        json!({"n": 1, "op": "ListServices", "body": {"cluster": "prod"}})
    );
    let b2: Value = serde_json::from_slice(&r2.body).expect("json 2");
    assert_eq!(
        b2,
        json!({"n": 2, "op": "DescribeServices", "body": {"a": 1}})
    );

    assert_eq!(fake.connections(), 1, "both requests used one connection");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].conn, reqs[1].conn);
    assert_eq!(reqs[0].service().as_deref(), Some("ecs"));
    assert_eq!(
        fake.operations(),
        vec!["ListServices".to_string(), "DescribeServices".to_string()]
    );
}

/// One response as a raw client reads it off the connection: the interim (1xx) statuses, then
/// the final status, headers (names lowercased) and `Content-Length` body.
struct RawReply {
    interim: Vec<u16>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }
}

/// Reads one response; `buf` holds what was read past the previous one.
fn read_reply(stream: &mut TcpStream, buf: &mut Vec<u8>) -> RawReply {
    let mut interim = Vec::new();
    loop {
        let (status, headers, head_len) = read_head(stream, buf);
        buf.drain(..head_len);
        if (100..200).contains(&status) {
            interim.push(status);
            continue;
        }
        let len: usize = http::header(&headers, "content-length")
            .expect("the fake sends Content-Length")
            .parse()
            .expect("Content-Length is a number");
        while buf.len() < len {
            read_more(stream, buf);
        }
        let body = buf.drain(..len).collect();
        return RawReply {
            interim,
            status,
            headers,
            body,
        };
    }
}

fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, Vec<(String, String)>, usize) {
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut slots);
        if let httparse::Status::Complete(len) = head.parse(buf).expect("a valid response head") {
            let headers = head
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            return (head.code.expect("a status code"), headers, len);
        }
        read_more(stream, buf);
    }
}

fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0; 4096];
    let n = stream.read(&mut chunk).expect("read from the fake");
    assert!(n > 0, "the fake closed the connection inside a response");
    buf.extend_from_slice(&chunk[..n]);
}

#[test]
fn fake_decodes_sts_forms_and_builds_real_error_documents() {
    let fake = Fake::from_fn(|req: &Req| match req.action().as_deref() {
        Some("AssumeRoleWithWebIdentity") => Resp::sts_error(
            400,
            "InvalidIdentityToken",
            "No OpenIDConnect provider found",
        ),
        _ => Resp::aws_json_error(400, "ThrottlingException", "Rate exceeded"),
    });
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=bb-42&WebIdentityToken=a.b.c",
        crate::support::fake::url_encode("arn:aws:iam::123456789012:role/deploy")
    );
    let r = http::send(
        &fake.endpoint(),
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .expect("send STS");
    assert_eq!(r.status, 400);
    let text = r.text();
    assert!(
        text.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
    );
    assert_eq!(
        crate::support::xml_tag(&text, "Code").as_deref(),
        Some("InvalidIdentityToken")
    );
    assert_eq!(
        crate::support::xml_tag(&text, "Type").as_deref(),
        Some("Sender")
    );
    let req = &fake.requests()[0];
    assert_eq!(req.service().as_deref(), Some("sts"));
    assert_eq!(
        req.form_value("RoleArn").as_deref(),
        Some("arn:aws:iam::123456789012:role/deploy")
    );

    let ok = Resp::assume_role_ok(
        "ASIAEXAMPLE",
        "secret/key+x",
        "token<&>",
        "2026-01-01T01:00:00Z",
        "arn:aws:iam::123456789012:role/deploy",
        "bb-42",
    );
    let xml = ok.body_text();
    assert_eq!(
        crate::support::xml_tag(&xml, "Arn").as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/deploy/bb-42")
    );
    assert_eq!(
        crate::support::xml_tag(&xml, "SessionToken").as_deref(),
        Some("token&lt;&amp;&gt;")
    );
    assert_eq!(
        crate::support::xml_tag(&xml, "Audience").as_deref(),
        Some(token::AUDIENCE)
    );
}

#[test]
fn token_is_jwt_shaped_with_bitbucket_claims() {
    assert_eq!(token::base64url(b"f"), "Zg");
    assert_eq!(token::base64url(b"fo"), "Zm8");
    assert_eq!(token::base64url(b"foo"), "Zm9v");
    assert_eq!(token::base64url(b"foob"), "Zm9vYg");
    assert_eq!(token::base64url(&[0xfb, 0xff]), "-_8");
    let t = token::bitbucket_token(json!({"branchName": "release", "iat": null}));
    assert_eq!(t.split('.').count(), 3);
    let header: Value = serde_json::from_slice(
        &token::base64url_decode(t.split('.').next().expect("header")).expect("b64"),
    )
    .expect("header json");
    assert_eq!(header["alg"], "RS256");
    let claims = token::decode_claims(&t);
    assert_eq!(claims["iss"], token::ISSUER);
    assert_eq!(claims["aud"], token::AUDIENCE);
    assert_eq!(
        claims["sub"],
        format!(
            "{}:{}:{}",
            token::REPO_UUID,
            token::ENV_UUID,
            token::STEP_UUID
        )
    );
    assert_eq!(
        token::AUDIENCE,
        format!(
            "ari:cloud:bitbucket::workspace/{}",
            token::WORKSPACE_UUID.trim_matches(['{', '}'])
        )
    );
    assert_eq!(claims["branchName"], "release");
    assert!(claims.get("iat").is_none());
    assert!(claims["exp"].as_u64().expect("exp") > crate::support::now_epoch() + 3000);
}

#[test]
fn snapshot_filters_blank_what_changes_run_to_run_and_nothing_else() {
    let output = "\
▶ Waiting for ecs-svc/7700000000000000042 (timeout 30m, polling every 5s)
  still waiting (4m05s): 2/3 running, web:42 on port 8080
  token expires in 59m, at 1767225600; took 1.2s
  request id: 3f1c2a9e-0b4d-4c6e 12s
";
    snapshot::settings().bind(|| {
        insta::assert_snapshot!(output, @r"
        ▶ Waiting for ecs-svc/7700000000000000042 (timeout <t>, polling every <t>)
          still waiting (<t>): 2/3 running, web:42 on port 8080
          token expires in <t>, at <epoch>; took <t>
          request id: <id>
        ");
    });
}

#[test]
fn moto_creates_and_describes_a_cluster() {
    let moto = Moto::start();
    let arn = moto.create_cluster("prod");
    assert_eq!(arn, "arn:aws:ecs:eu-west-1:123456789012:cluster/prod");
    let r = moto.ecs("DescribeClusters", json!({"clusters": ["prod"]}));
    assert_eq!(r["clusters"][0]["clusterName"], "prod");
    assert_eq!(r["clusters"][0]["status"], "ACTIVE");

    let err = moto
        .ecs_result(
            "UpdateService",
            json!({"cluster": "nope", "service": "web"}),
        )
        .expect_err("unknown cluster");
    assert_eq!(err.0, 400);
    assert!(err.1.contains("ClusterNotFoundException"), "{}", err.1);

    moto.create_ecr_repo("web");
    let d1 = moto.put_image("web", "v1");
    let d2 = moto.put_image("web", "v2");
    assert!(d1.starts_with("sha256:") && d1 != d2);
    let images = moto.ecr(
        "DescribeImages",
        json!({"repositoryName": "web", "imageIds": [{"imageTag": "v1"}]}),
    );
    assert_eq!(images["imageDetails"][0]["imageDigest"], d1.as_str());
}

fn web_task_definition(image: &str) -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "web", "image": image, "essential": true}],
        "tags": [{"key": "team", "value": "platform"}],
    })
}

#[test]
fn rollout_player_turns_an_update_into_a_deployment_that_completes() {
    let moto = Moto::builder().service_running(1).start();
    moto.create_cluster("prod");
    let td1 = moto.register_task_definition(web_task_definition("nginx:1"));
    let service = moto.create_service("prod", "web", &td1, 2, true);
    assert_eq!(service["launchType"], "FARGATE");
    assert_eq!(service["deployments"][0]["runningCount"], 1);
    let td2 = moto.register_task_definition(web_task_definition("nginx:2"));
    assert_eq!(
        moto.list_task_definitions("web"),
        vec![td1.clone(), td2.clone()]
    );
    assert_eq!(
        moto.describe_task_definition(&td1)["tags"][0]["key"],
        "team"
    );

    let player = RolloutPlayer::with_polls(moto.endpoint(), 2);
    let via = Client::new(&player.endpoint());
    // `family:rev`, as users often pass it: the player resolves it to the ARN.
    let updated = via.ecs(
        "UpdateService",
        json!({"cluster": "prod", "service": "web", "taskDefinition": "web:2"}),
    )["service"]
        .clone();
    let deployments = updated["deployments"].as_array().expect("deployments");
    assert_eq!(deployments.len(), 2);
    let new = &deployments[0];
    let id = new["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("ecs-svc/") && id.len() > 12, "{id}");
    assert_eq!(new["status"], "PRIMARY");
    assert_eq!(new["taskDefinition"], td2.as_str());
    assert_eq!(new["rolloutState"], "IN_PROGRESS");
    assert_eq!(deployments[1]["status"], "ACTIVE");
    assert_eq!(deployments[1]["taskDefinition"], td1.as_str());
    assert_eq!(updated["taskDefinition"], td2.as_str());

    for poll in 1..=2 {
        let s = via.describe_service("prod", "web");
        let d = s["deployments"].as_array().expect("deployments");
        assert_eq!(d.len(), 2, "poll {poll}: {s}");
        assert_eq!(d[0]["id"], id.as_str());
        assert_eq!(d[0]["rolloutState"], "IN_PROGRESS");
        assert_eq!(
            (d[0]["runningCount"].as_i64(), d[0]["pendingCount"].as_i64()),
            (Some(0), Some(2))
        );
        assert_eq!(d[1]["status"], "ACTIVE");
        assert_eq!(s["runningCount"], 1, "the old deployment's task");
        assert_eq!(s["pendingCount"], 3);
    }

    let s = via.describe_service("prod", "web");
    let d = s["deployments"].as_array().expect("deployments");
    assert_eq!(d.len(), 1, "{s}");
    assert_eq!(d[0]["id"], id.as_str());
    assert_eq!(d[0]["status"], "PRIMARY");
    assert_eq!(d[0]["rolloutState"], "COMPLETED");
    assert_eq!(d[0]["taskDefinition"], td2.as_str());
    assert_eq!(
        d[0]["rolloutStateReason"],
        format!("ECS deployment {id} completed.")
    );
    assert_eq!(
        (s["runningCount"].as_i64(), s["pendingCount"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        s["events"][0]["message"],
        "(service web) has reached a steady state."
    );
    assert!(s["events"][0]["createdAt"].is_number());
    let rollout = player.rollout("web").expect("rollout recorded");
    assert!(rollout.completed);
    assert_eq!(rollout.polls, 3);

    // moto itself is untouched, and other calls pass straight through.
    assert_eq!(
        moto.describe_service("prod", "web")["deployments"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let missing = via.ecs(
        "DescribeServices",
        json!({"cluster": "prod", "services": ["nope"]}),
    );
    assert_eq!(missing["failures"][0]["reason"], "MISSING");
}

#[test]
fn proxy_hook_can_answer_forward_or_rewrite() {
    let moto = Moto::start();
    moto.create_cluster("prod");
    let hook = Arc::new(|ctx: &ProxyCtx, req: &Req| match req.target().as_deref() {
        Some("ListClusters") => Some(Resp::aws_json_error(
            400,
            "ThrottlingException",
            "Rate exceeded",
        )),
        Some("DescribeClusters") => {
            let (status, body) = ctx.forward(req);
            let mut v: Value = serde_json::from_slice(&body).expect("moto json");
            v["clusters"][0]["status"] = json!("INACTIVE");
            Some(Resp::json(status, v))
        }
        _ => None,
    });
    let proxy = Fake::proxy(moto.endpoint(), hook);
    let via = Client::new(&proxy.endpoint());
    let err = via
        .ecs_result("ListClusters", json!({}))
        .expect_err("throttled");
    assert_eq!(err.0, 400);
    assert!(
        err.1.contains("\"__type\":\"ThrottlingException\""),
        "{}",
        err.1
    );
    assert_eq!(
        via.ecs("DescribeClusters", json!({"clusters": ["prod"]}))["clusters"][0]["status"],
        "INACTIVE"
    );
    assert_eq!(
        via.ecs("CreateCluster", json!({"clusterName": "stage"}))["cluster"]["clusterName"],
        "stage"
    );
    assert_eq!(
        moto.ecs("ListClusters", json!({}))["clusterArns"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn pipe_runs_the_real_binary_in_a_clean_bitbucket_environment() {
    // Every AWS call fails fast, so whatever the binary does it cannot leave 127.0.0.1.
    let fake = Fake::from_fn(|_req: &Req| {
        Resp::sts_error(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    });
    let pipe = Pipe::new().endpoint(&fake.endpoint()).env("DEBUG", "false");
    let written = pipe.write_file("deploy/task-def.json", "{}");
    assert!(written.starts_with(pipe.clone_dir()));
    assert!(
        pipe.get_env("BITBUCKET_STEP_OIDC_TOKEN")
            .is_some_and(|t| t.split('.').count() == 3)
    );
    let out = pipe.run_with_timeout(std::time::Duration::from_secs(60));
    assert!(!out.timed_out);
    assert_eq!(out.output, format!("{}{}", out.stdout, out.stderr));
    assert_no_secrets(&out, &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]);
}
