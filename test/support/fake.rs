//! A scripted fake AWS endpoint on 127.0.0.1 that speaks the real wire protocols (JSON 1.1 for
//! ECS/ECR, the query protocol for STS), for behaviours moto cannot show. It can also sit in front
//! of moto as a proxy whose hook answers, forwards, or forwards and rewrites each request.
//!
//! ```ignore
//! let fake = Fake::start(Arc::new(|req: &Req| match req.target().as_deref() {
//!     Some("DescribeServices") => Resp::aws_json_error(400, "ThrottlingException", "Rate exceeded"),
//!     _ => Resp::json(200, json!({})),
//! }));
//! ```

use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::http::{self, RawResponse};
use super::token;

// Re-exported so tests can `use support::fake::RolloutPlayer`.
#[allow(unused_imports)]
pub use super::rollout::{Rollout, RolloutPlayer};

/// Answers every request of a [`Fake`].
pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// Decides, per request, what a proxying [`Fake`] does: `Some(resp)` answers directly, `None`
/// forwards the request verbatim to the upstream. The [`ProxyCtx`] lets a hook forward first and
/// then edit the upstream's reply.
pub type ProxyHook = Arc<dyn Fn(&ProxyCtx, &Req) -> Option<Resp> + Send + Sync>;

/// ECS JSON 1.1 target prefix.
pub const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";
/// ECR JSON 1.1 target prefix.
pub const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole fake down with a poisoned lock.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request as received by the fake.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Request target as sent, e.g. `/` or `/moto-api/`.
    pub path: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Which connection (1, 2, ...) of this fake the request arrived on; 0 if built by hand.
    pub conn: u64,
}

impl Req {
    /// A JSON 1.1 request as an SDK would send it, e.g. `Req::aws_json(ECS_TARGET, "ecs", "ListClusters", json!({}))`.
    pub fn aws_json(target_prefix: &str, service: &str, op: &str, body: &Value) -> Req {
        Req {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![
                ("x-amz-target".into(), format!("{target_prefix}.{op}")),
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("authorization".into(), auth_header(service)),
                ("x-amz-date".into(), "20260101T000000Z".into()),
            ],
            body: body.to_string().into_bytes(),
            conn: 0,
        }
    }

    /// A copy of this JSON 1.1 request for another operation of the same service (same headers,
    /// so the same credential scope), e.g. to look something up while handling it.
    pub fn with_json(&self, op: &str, body: &Value) -> Req {
        let prefix = self
            .header("x-amz-target")
            .and_then(|t| t.split_once('.'))
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        let mut req = self.clone();
        req.headers.retain(|(k, _)| k != "x-amz-target");
        req.headers
            .push(("x-amz-target".into(), format!("{prefix}.{op}")));
        req.body = body.to_string().into_bytes();
        req
    }

    /// First value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The operation after the `.` in `X-Amz-Target`, e.g. `UpdateService`.
    pub fn target(&self) -> Option<String> {
        self.header("x-amz-target")
            .and_then(|t| t.rsplit_once('.'))
            .map(|(_, op)| op.to_string())
    }

    /// The part before the `.` in `X-Amz-Target`, e.g. `AmazonEC2ContainerServiceV20141113`.
    pub fn target_prefix(&self) -> Option<String> {
        self.header("x-amz-target")
            .and_then(|t| t.rsplit_once('.'))
            .map(|(p, _)| p.to_string())
    }

    /// The body as JSON (`Null` when empty). Panics on a body that is not JSON.
    pub fn json(&self) -> Value {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("fake: request body is not JSON ({e}): {}", self.body_text())
        })
    }

    /// The url-decoded form body (query protocol, e.g. STS). Empty for a JSON body.
    pub fn form(&self) -> Vec<(String, String)> {
        let text = self.body_text();
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('{') {
            return Vec::new();
        }
        form_urlencoded::parse(trimmed.as_bytes())
            .into_owned()
            .collect()
    }

    /// One form field, e.g. `req.form_value("RoleArn")`.
    pub fn form_value(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The form's `Action` (the STS operation name, e.g. `AssumeRoleWithWebIdentity`).
    pub fn action(&self) -> Option<String> {
        self.form_value("Action")
    }

    /// [`Req::target`] or else [`Req::action`].
    pub fn operation(&self) -> Option<String> {
        self.target().or_else(|| self.action())
    }

    /// The AWS service: from the SigV4 credential scope if signed, else `sts` for a form with
    /// `Action` (AssumeRoleWithWebIdentity is sent unsigned), else from the target prefix.
    pub fn service(&self) -> Option<String> {
        if let Some(scope) = self
            .header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
        {
            let scope = scope.split([',', ' ']).next().unwrap_or_default();
            let parts: Vec<&str> = scope.split('/').collect();
            if parts.len() >= 5 {
                return Some(parts[parts.len() - 2].to_string());
            }
        }
        if self.action().is_some() {
            return Some("sts".into());
        }
        match self.target_prefix()?.as_str() {
            ECS_TARGET => Some("ecs".into()),
            ECR_TARGET => Some("ecr".into()),
            other => Some(other.to_ascii_lowercase()),
        }
    }

    /// The region from the SigV4 credential scope, if signed.
    pub fn region(&self) -> Option<String> {
        let scope = self
            .header("authorization")?
            .split("Credential=")
            .nth(1)?
            .split([',', ' '])
            .next()?
            .to_string();
        let parts: Vec<&str> = scope.split('/').collect();
        (parts.len() >= 5).then(|| parts[parts.len() - 3].to_string())
    }
}

/// A SigV4-shaped `Authorization` value with credential scope `.../eu-west-1/<service>/aws4_request`
/// (moto routes by it and checks no signature).
pub fn auth_header(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/{}/{service}/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
        super::REGION,
        "0".repeat(64)
    )
}

/// Encodes text for a form body or query string (`application/x-www-form-urlencoded`).
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A response the fake sends. `Content-Length` and `Connection` are added when it is written.
/// [`Resp::close`] sends none: the connection is closed instead.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A fresh request id, e.g. `c0ffee12-...`.
pub fn request_id() -> String {
    super::random_uuid()
}

/// The `status` of [`Resp::close`]: no HTTP status has it.
pub const CLOSE: u16 = 0;

impl Resp {
    /// No reply at all: the fake closes the connection once the request has been read, as a
    /// flaky network or a dying load balancer does. The SDK sees the connection closed before
    /// an answer (at once, not after a timeout) and retries. Whether the request was applied
    /// first is up to the handler: that is the difference between a lost answer and a reset.
    pub fn close() -> Resp {
        Resp {
            status: CLOSE,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// True for [`Resp::close`].
    pub fn is_close(&self) -> bool {
        self.status == CLOSE
    }

    /// An empty response with an `x-amzn-RequestId`.
    pub fn new(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![("x-amzn-RequestId".into(), request_id())],
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Resp {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Resp {
        self.body = body.into();
        self
    }

    /// A JSON 1.1 reply (`Content-Type: application/x-amz-json-1.1`).
    pub fn json(status: u16, body: Value) -> Resp {
        Resp::new(status)
            .with_header("Content-Type", "application/x-amz-json-1.1")
            .with_body(body.to_string())
    }

    /// A JSON 1.1 error as ECS/ECR send it: `{"__type": "...", "message": "..."}`.
    pub fn aws_json_error(status: u16, error_type: &str, message: &str) -> Resp {
        Resp::json(status, json!({"__type": error_type, "message": message}))
    }

    /// `text/xml` reply.
    pub fn xml(status: u16, body: String) -> Resp {
        Resp::new(status)
            .with_header("Content-Type", "text/xml")
            .with_body(body)
    }

    /// `text/plain` reply.
    pub fn text(status: u16, body: &str) -> Resp {
        Resp::new(status)
            .with_header("Content-Type", "text/plain")
            .with_body(body.to_string())
    }

    /// The STS query-protocol error document (`Type` is `Receiver` for 5xx, else `Sender`).
    pub fn sts_error(status: u16, code: &str, message: &str) -> Resp {
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        let id = request_id();
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    \
             <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{id}</RequestId>\n</ErrorResponse>\n",
            super::xml_escape(code),
            super::xml_escape(message)
        );
        let mut resp = Resp::xml(status, body);
        resp.headers[0].1 = id;
        resp
    }

    /// A successful `AssumeRoleWithWebIdentity` reply, shaped like real STS, with the subject,
    /// audience and provider of the test token ([`token`]).
    pub fn assume_role_ok(
        access_key_id: &str,
        secret: &str,
        session_token: &str,
        expiration_rfc3339: &str,
        role_arn: &str,
        session_name: &str,
    ) -> Resp {
        let account = role_arn.split(':').nth(4).unwrap_or(super::ACCOUNT);
        let role_name = role_arn.rsplit('/').next().unwrap_or("role");
        let e = super::xml_escape;
        let id = request_id();
        let body = format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  \
             <AssumeRoleWithWebIdentityResult>\n    \
             <SubjectFromWebIdentityToken>{sub}</SubjectFromWebIdentityToken>\n    \
             <Audience>{aud}</Audience>\n    \
             <AssumedRoleUser>\n      \
             <Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn>\n      \
             <AssumedRoleId>AROA3XFRBF535PLBIFPI4:{session}</AssumedRoleId>\n    \
             </AssumedRoleUser>\n    \
             <Credentials>\n      \
             <SessionToken>{token}</SessionToken>\n      \
             <SecretAccessKey>{secret}</SecretAccessKey>\n      \
             <Expiration>{exp}</Expiration>\n      \
             <AccessKeyId>{akid}</AccessKeyId>\n    \
             </Credentials>\n    \
             <Provider>arn:aws:iam::{account}:oidc-provider/{provider}</Provider>\n  \
             </AssumeRoleWithWebIdentityResult>\n  \
             <ResponseMetadata>\n    <RequestId>{id}</RequestId>\n  </ResponseMetadata>\n\
             </AssumeRoleWithWebIdentityResponse>\n",
            sub = e(token::SUBJECT),
            aud = e(token::AUDIENCE),
            account = e(account),
            role = e(role_name),
            session = e(session_name),
            token = e(session_token),
            secret = e(secret),
            exp = e(expiration_rfc3339),
            akid = e(access_key_id),
            provider = e(token::ISSUER.trim_start_matches("https://")),
        );
        let mut resp = Resp::xml(200, body);
        resp.headers[0].1 = id;
        resp
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON. Panics if it is not JSON.
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("fake: reply is not JSON ({e}): {}", self.body_text()))
    }

    /// A response carrying an upstream reply (hop-by-hop headers dropped).
    pub fn from_raw(raw: RawResponse) -> Resp {
        let headers = raw
            .headers
            .into_iter()
            .filter(|(k, _)| !is_hop_by_hop(k) && k != "content-length")
            .collect();
        Resp {
            status: raw.status,
            headers,
            body: raw.body,
        }
    }

    /// The hyper response: the headers but `Content-Length` and hop-by-hop ones, which hyper
    /// writes itself. A status or header hyper refuses becomes a 500 that says so.
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::new()));
        let Ok(status) = StatusCode::from_u16(self.status) else {
            return Resp::text(500, &format!("fake: invalid status {}", self.status))
                .into_response();
        };
        *response.status_mut() = status;
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("content-length") || is_hop_by_hop(name) {
                continue;
            }
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    response.headers_mut().append(name, value);
                }
                _ => {
                    return Resp::text(500, &format!("fake: invalid header {name}: {value:?}"))
                        .into_response();
                }
            }
        }
        *response.body_mut() = Full::new(Bytes::from(self.body));
        response
    }
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "expect"
    )
}

/// Handed to a [`ProxyHook`]: forwards requests to the upstream.
#[derive(Debug, Clone)]
pub struct ProxyCtx {
    upstream: String,
}

impl ProxyCtx {
    pub fn new(upstream: String) -> ProxyCtx {
        ProxyCtx { upstream }
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Forwards `req` verbatim (method, path, headers, body) and returns the upstream's full reply.
    /// A connection failure becomes a 502 with the error as text.
    pub fn forward_raw(&self, req: &Req) -> RawResponse {
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .filter(|(k, _)| !is_hop_by_hop(k) && k != "host" && k != "content-length")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http::send(&self.upstream, &req.method, &req.path, &headers, &req.body).unwrap_or_else(
            |e| RawResponse {
                status: 502,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("fake proxy: upstream {} failed: {e}", self.upstream).into_bytes(),
            },
        )
    }

    /// Forwards `req` and returns the upstream's status and body.
    pub fn forward(&self, req: &Req) -> (u16, Vec<u8>) {
        let raw = self.forward_raw(req);
        (raw.status, raw.body)
    }

    /// Forwards `req` and returns the upstream's reply as a [`Resp`] (headers kept).
    pub fn forward_resp(&self, req: &Req) -> Resp {
        Resp::from_raw(self.forward_raw(req))
    }
}

struct Shared {
    handler: Handler,
    requests: Mutex<Vec<Req>>,
    next_conn: AtomicU64,
}

/// A scripted HTTP/1.1 endpoint on `127.0.0.1:<free port>`; stops when dropped.
///
/// hyper serves it on a runtime of its own thread; each handler call runs on tokio's blocking
/// pool, so a handler may block (a proxy forwarding to moto does) without holding up the others.
pub struct Fake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Fake {
    /// Starts a fake answering every request with `handler`. A panic in the handler becomes a
    /// 500 reply whose body names the panic.
    pub fn start(handler: Handler) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake on 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake listener address");
        listener
            .set_nonblocking(true)
            .expect("fake listener in non-blocking mode");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the fake");
        let shared = Arc::new(Shared {
            handler,
            requests: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
        });
        let (stop, stopped) = oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let server = std::thread::Builder::new()
            .name(format!("fake-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("fake listener on the runtime");
                    tokio::select! {
                        () = accept_loop(&listener, &server_shared) => {}
                        _ = stopped => {}
                    }
                });
                // Closes every connection at once; a handler still running ends on its own.
                runtime.shutdown_background();
            })
            .expect("spawn the fake's server thread");
        Fake {
            addr,
            shared,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// [`Fake::start`] with a plain closure.
    pub fn from_fn(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Fake {
        Fake::start(Arc::new(handler))
    }

    /// A proxy in front of `upstream` (e.g. `moto.endpoint()`): `hook` answers a request by
    /// returning `Some`, or returns `None` to have it forwarded verbatim.
    pub fn proxy(upstream: String, hook: ProxyHook) -> Fake {
        let ctx = ProxyCtx::new(upstream);
        Fake::start(Arc::new(move |req: &Req| {
            hook(&ctx, req).unwrap_or_else(|| ctx.forward_resp(req))
        }))
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything received so far, in order.
    pub fn requests(&self) -> Vec<Req> {
        lock(&self.shared.requests).clone()
    }

    /// The operations received so far ([`Req::operation`], or `METHOD path`), in order.
    pub fn operations(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                r.operation()
                    .unwrap_or_else(|| format!("{} {}", r.method, r.path))
            })
            .collect()
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.next_conn.load(Ordering::SeqCst) - 1
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

async fn accept_loop(listener: &tokio::net::TcpListener, shared: &Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                serve_request(Arc::clone(&shared), id, request)
            });
            // Keep-alive, chunked bodies, `Expect: 100-continue` and HTTP/1.0 are hyper's.
            // A client that half-closes after sending its request still gets the answer.
            let _ = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Records the request, then runs the handler where it may block.
/// The error a handler's [`Resp::close`] turns into: hyper then closes the connection
/// without writing a reply.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake: connection closed without a reply (Resp::close)")
    }
}

impl std::error::Error for Closed {}

async fn serve_request(
    shared: Arc<Shared>,
    conn: u64,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    let req = Req {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        conn,
    };
    lock(&shared.requests).push(req.clone());
    let resp = tokio::task::spawn_blocking(move || call_handler(&shared.handler, &req))
        .await
        .unwrap_or_else(|e| Resp::text(500, &format!("fake handler did not finish: {e}")));
    if resp.is_close() {
        return Err(Box::new(Closed));
    }
    Ok(resp.into_response())
}

fn call_handler(handler: &Handler, req: &Req) -> Resp {
    catch_unwind(AssertUnwindSafe(|| handler(req))).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "non-string panic".into());
        Resp::text(500, &format!("fake handler panicked: {msg}"))
    })
}
