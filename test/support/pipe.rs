//! Runs the real `ecs-oidc-deploy` binary the way Bitbucket runs a pipe: a cleared environment
//! holding only Bitbucket's variables, the step's OIDC token and what the test adds.
//!
//! ```ignore
//! let out = Pipe::new()
//!     .endpoint(&moto.endpoint())
//!     .env("CLUSTER", "prod")
//!     .run();
//! out.assert_success();
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::token;

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    // Integration tests get the path from Cargo; the local-deploy example gets it from its
    // script, or finds the debug build.
    option_env!("CARGO_BIN_EXE_ecs-oidc-deploy")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("ECS_OIDC_DEPLOY_BIN").map(PathBuf::from))
        .unwrap_or_else(|| super::manifest_dir().join("target/debug/ecs-oidc-deploy"))
}
/// `BITBUCKET_COMMIT`
pub const COMMIT: &str = "3f7c2a91d04b8e65a1c9f0e2d7b4a8c6e5f1d203";
/// `BITBUCKET_BUILD_NUMBER`
pub const BUILD_NUMBER: &str = "42";
/// `BITBUCKET_PROJECT_KEY`
pub const PROJECT_KEY: &str = "WEB";
/// How long [`Pipe::run`] lets the binary run before killing it and failing the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A configured run of the binary. Each `Pipe` has its own fresh clone dir under `test/.work/`.
#[derive(Debug, Clone)]
#[must_use]
pub struct Pipe {
    env: BTreeMap<String, String>,
    clone_dir: PathBuf,
    timeout: Duration,
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}

impl Pipe {
    /// The environment of a `deployment: production` step with `oidc: true` on branch `main`.
    pub fn new() -> Pipe {
        let clone_dir = super::fresh_dir("pipe");
        let pipes = clone_dir.join(".bitbucket/pipelines/generated/pipeline/pipes");
        let storage = pipes.join("acme/ecs-oidc-deploy");
        std::fs::create_dir_all(&storage).expect("create the pipe storage dir");
        let path = |p: &Path| p.to_string_lossy().into_owned();
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: &str| {
            env.insert(k.to_string(), v.to_string());
        };
        set("CI", "true");
        set(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        set("HOME", &path(&clone_dir));
        set("BITBUCKET_BUILD_NUMBER", BUILD_NUMBER);
        set("BITBUCKET_CLONE_DIR", &path(&clone_dir));
        set("BITBUCKET_COMMIT", COMMIT);
        set("BITBUCKET_BRANCH", "main");
        set("BITBUCKET_WORKSPACE", token::WORKSPACE);
        set("BITBUCKET_WORKSPACE_UUID", token::WORKSPACE_UUID);
        set("BITBUCKET_REPO_SLUG", "web-app");
        set("BITBUCKET_REPO_FULL_NAME", "acme/web-app");
        set("BITBUCKET_REPO_UUID", token::REPO_UUID);
        set("BITBUCKET_PROJECT_KEY", PROJECT_KEY);
        set("BITBUCKET_PIPELINE_UUID", token::PIPELINE_UUID);
        set("BITBUCKET_STEP_UUID", token::STEP_UUID);
        set("BITBUCKET_DEPLOYMENT_ENVIRONMENT", "production");
        set("BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID", token::ENV_UUID);
        set(
            "BITBUCKET_STEP_OIDC_TOKEN",
            &token::bitbucket_token(serde_json::Value::Null),
        );
        set("BITBUCKET_PIPE_STORAGE_DIR", &path(&storage));
        set("BITBUCKET_PIPE_SHARED_STORAGE_DIR", &path(&pipes));
        set("AWS_DEFAULT_REGION", super::REGION);
        set("AWS_EC2_METADATA_DISABLED", "true");
        set("NO_COLOR", "1");
        // PREFLIGHT looks up every secret, role and log group of a revision; the tests of other
        // behaviours run on fixtures without them (and on fakes that serve ECS only), so they
        // turn it off, and test/preflight.rs turns it on.
        set("PREFLIGHT", "false");
        Pipe {
            env,
            clone_dir,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets `AWS_ENDPOINT_URL` (moto, a fake, or a proxy).
    pub fn endpoint(self, url: &str) -> Pipe {
        self.env("AWS_ENDPOINT_URL", url)
    }

    /// Sets (or replaces) a variable.
    pub fn env(mut self, key: &str, value: &str) -> Pipe {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Replaces the step's OIDC token with one whose claims are changed by `overrides`
    /// (see [`token::bitbucket_token`]), e.g. `json!({"exp": 1})`.
    pub fn oidc_token(self, overrides: serde_json::Value) -> Pipe {
        let t = token::bitbucket_token(overrides);
        self.env("BITBUCKET_STEP_OIDC_TOKEN", &t)
    }

    /// Removes a variable (e.g. `BITBUCKET_STEP_OIDC_TOKEN` to simulate a step without `oidc: true`).
    pub fn remove(mut self, key: &str) -> Pipe {
        self.env.remove(key);
        self
    }

    /// Replaces the kill-after time of [`Pipe::run`] (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Pipe {
        self.timeout = timeout;
        self
    }

    /// Every variable, as the binary would get them (for running the library in-process).
    pub fn vars(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Where the pipe writes `deployment.json` and `deployment.env` for later steps.
    pub fn outputs_dir(&self) -> PathBuf {
        PathBuf::from(
            self.get_env("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
                .expect("BITBUCKET_PIPE_SHARED_STORAGE_DIR is set"),
        )
        .join("ecs-oidc-deploy")
    }

    /// The `deployment.json` the last run wrote.
    pub fn deployment_json(&self) -> serde_json::Value {
        let path = self.outputs_dir().join("deployment.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// The value a variable will have.
    pub fn get_env(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The step's clone dir (`BITBUCKET_CLONE_DIR`, also the working directory and `HOME`).
    pub fn clone_dir(&self) -> PathBuf {
        self.clone_dir.clone()
    }

    /// Writes a file relative to the clone dir (parents created); returns its absolute path.
    pub fn write_file(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.clone_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs in the clone dir");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Runs the binary to completion. Panics (with the output so far) if it is still running
    /// after the timeout (default 120 s), after killing it.
    pub fn run(&self) -> Outcome {
        let out = self.spawn().wait(self.timeout);
        assert!(
            !out.timed_out,
            "ecs-oidc-deploy did not finish within {:?} and was killed.\n{}",
            self.timeout,
            out.describe()
        );
        out
    }

    /// Like [`Pipe::run`] with another timeout.
    pub fn run_with_timeout(&self, timeout: Duration) -> Outcome {
        self.clone().timeout(timeout).run()
    }

    /// The command that runs the binary with exactly this environment, nothing captured.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .envs(&self.env)
            .current_dir(&self.clone_dir)
            .stdin(Stdio::null());
        cmd
    }

    /// Starts the binary and returns at once (e.g. to send it SIGTERM).
    pub fn spawn(&self) -> Running {
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin().display()));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Running {
            child,
            started,
            stdout,
            stderr,
        }
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// A started binary; killed if dropped before [`Running::wait`].
#[derive(Debug)]
pub struct Running {
    child: Child,
    started: Instant,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `INT`, ...) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }

    /// Waits up to `timeout`; on timeout kills the binary and returns with `timed_out` set.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = self.started + timeout;
        let mut timed_out = false;
        let status: ExitStatus = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait for the killed binary");
                }
            }
        };
        let elapsed = self.started.elapsed();
        let join = |h: Option<JoinHandle<Vec<u8>>>| -> String {
            h.and_then(|h| h.join().ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let stdout = join(self.stdout.take());
        let stderr = join(self.stderr.take());
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Outcome {
            code,
            output: format!("{stdout}{stderr}"),
            stdout,
            stderr,
            elapsed,
            timed_out,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code; 128 + signal number if killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// `stdout` followed by `stderr` (the two streams are captured separately, so their
    /// interleaving is lost).
    pub output: String,
    pub elapsed: Duration,
    /// The binary was killed by the timeout guard.
    pub timed_out: bool,
}

impl Outcome {
    /// Code, time and both streams, for panic messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {} after {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics with the whole output unless the exit code is 0.
    pub fn assert_success(&self) -> &Outcome {
        assert!(self.code == 0, "expected success.\n{}", self.describe());
        self
    }

    /// Panics with the whole output if the exit code is 0.
    pub fn assert_failure(&self) -> &Outcome {
        assert!(self.code != 0, "expected a failure.\n{}", self.describe());
        self
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Outcome {
        assert!(
            self.code == code,
            "expected exit code {code}.\n{}",
            self.describe()
        );
        self
    }

    /// Panics with the whole output unless stdout or stderr contains `needle`.
    pub fn assert_contains(&self, needle: &str) -> &Outcome {
        assert!(
            self.output.contains(needle),
            "expected the output to contain {needle:?}.\n{}",
            self.describe()
        );
        self
    }

    /// Panics with the whole output if stdout or stderr contains `needle`.
    pub fn assert_not_contains(&self, needle: &str) -> &Outcome {
        assert!(
            !self.output.contains(needle),
            "expected the output not to contain {needle:?}.\n{}",
            self.describe()
        );
        self
    }
}

/// Panics, naming each one, if any of `secrets` appears in stdout or stderr.
pub fn assert_no_secrets(outcome: &Outcome, secrets: &[&str]) {
    assert!(
        secrets.iter().all(|s| !s.is_empty()),
        "assert_no_secrets: an empty secret was given"
    );
    let leaked: Vec<String> = secrets
        .iter()
        .filter(|s| outcome.output.contains(**s))
        .map(|s| {
            let stream = match (outcome.stdout.contains(*s), outcome.stderr.contains(*s)) {
                (true, true) => "stdout and stderr",
                (true, false) => "stdout",
                _ => "stderr",
            };
            format!("{s:?} (in {stream})")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets leaked into the output: {}\n{}",
        leaked.join(", "),
        outcome.describe()
    );
}
