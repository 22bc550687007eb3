//! `.ci/release` (and the `test/release-check` it runs) in a scratch repository with a local bare
//! `origin`: the dry run prints every command and runs none, a real release runs exactly those
//! commands, pushes the git tags and moves `X.Y` and `X`, and every refusal changes nothing.
//!
//! Real git and a real (tiny) crate for `cargo pkgid`; `docker` and the version test
//! (`cargo test`, test/release.rs, run against this repository by test/run anyway) are stand-ins
//! on PATH that record their arguments.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;

const REPO: &str = "org/ecs-oidc-deploy";

/// A scratch clone of a pipe repository, its bare `origin`, and the stand-ins' log.
struct Scratch {
    dir: PathBuf,
    work: PathBuf,
    origin: PathBuf,
}

/// What a stand-in does: whether the version test passes, and which platforms the pushed
/// image lists.
struct Fakes {
    version_test_passes: bool,
    platforms: &'static str,
}

const REAL: Fakes = Fakes {
    version_test_passes: true,
    platforms: "linux/amd64 linux/arm64",
};

fn write(path: &Path, contents: &str) {
    fs::create_dir_all(path.parent().expect("has a parent")).expect("create dirs");
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn executable(path: &Path, contents: &str) {
    write(path, contents);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(git_env())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// git without the machine's configuration, with an identity for commits and tags.
fn git_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "Release Test"),
        ("GIT_AUTHOR_EMAIL", "release@example.invalid"),
        ("GIT_COMMITTER_NAME", "Release Test"),
        ("GIT_COMMITTER_EMAIL", "release@example.invalid"),
    ]
}

fn changelog(version: &str) -> String {
    format!(
        "# Changelog\n\n## [Unreleased]\n\n## [{version}] - 2027-01-15\n\n### Added\n- Something.\n"
    )
}

impl Scratch {
    /// A repository whose only commit is ready to release `version`.
    fn new(version: &str) -> Scratch {
        let dir = support::fresh_dir("release-script");
        let origin = dir.join("origin.git");
        let work = dir.join("work");
        fs::create_dir_all(&work).expect("create work dir");
        git(&dir, &["init", "--quiet", "--bare", "origin.git"]);
        git(&work, &["init", "--quiet", "--initial-branch", "main"]);
        git(
            &work,
            &["remote", "add", "origin", origin.to_str().expect("utf-8")],
        );
        write(&work.join("src/lib.rs"), "");
        write(&work.join(".gitignore"), "/target\n");
        let repo_root = support::manifest_dir();
        for script in [".ci/release", "test/release-check"] {
            let text = fs::read_to_string(repo_root.join(script)).expect("read script");
            executable(&work.join(script), &text);
        }
        let scratch = Scratch { dir, work, origin };
        scratch.bump(version);
        git(&scratch.work, &["push", "--quiet", "origin", "main"]);
        scratch.install_fakes();
        scratch
    }

    /// A new commit that is ready to release `version`.
    fn bump(&self, version: &str) {
        write(
            &self.work.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"ecs-oidc-deploy\"\nversion = \"{version}\"\nedition = \"2024\"\n"
            ),
        );
        write(
            &self.work.join("Cargo.lock"),
            &format!(
                "version = 4\n\n[[package]]\nname = \"ecs-oidc-deploy\"\nversion = \"{version}\"\n"
            ),
        );
        write(
            &self.work.join("pipe.yml"),
            &format!("name: ECS OIDC deploy\nimage: {REPO}:{version}\n"),
        );
        write(&self.work.join("CHANGELOG.md"), &changelog(version));
        git(&self.work, &["add", "--all"]);
        git(&self.work, &["commit", "--quiet", "--message", version]);
    }

    fn install_fakes(&self) {
        let bin = self.dir.join("bin");
        executable(
            &bin.join("docker"),
            "#!/bin/sh\n\
             echo \"docker $*\" >>\"$FAKE_LOG\"\n\
             if [ \"$2\" = imagetools ]; then\n\
               echo \"Name: $4\"\n\
               for p in $FAKE_PLATFORMS; do echo \"  Platform:  $p\"; done\n\
             fi\n",
        );
        executable(
            &bin.join("cargo"),
            "#!/bin/sh\n\
             if [ \"$1\" = test ]; then echo \"cargo $*\" >>\"$FAKE_LOG\"; exit \"$FAKE_VERSION_TEST_EXIT\"; fi\n\
             exec \"$REAL_CARGO\" \"$@\"\n",
        );
    }

    fn release(&self, args: &[&str], fakes: &Fakes) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(self.work.join(".ci/release"))
            .args(args)
            .current_dir(&self.work)
            .envs(git_env())
            .env("PATH", path)
            .env("REAL_CARGO", env!("CARGO"))
            .env("FAKE_LOG", self.dir.join("calls.log"))
            .env("FAKE_PLATFORMS", fakes.platforms)
            .env(
                "FAKE_VERSION_TEST_EXIT",
                if fakes.version_test_passes { "0" } else { "1" },
            )
            .output()
            .expect("run .ci/release")
    }

    /// Lines the stand-ins recorded, `docker …` and `cargo test …`.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn clear_calls(&self) {
        let _ = fs::remove_file(self.dir.join("calls.log"));
    }

    /// `tag -> commit` of every tag in origin.
    fn origin_tags(&self) -> Vec<(String, String)> {
        let listing = git(
            &self.origin,
            &[
                "for-each-ref",
                "--format=%(refname:short) %(objectname) %(*objectname)",
                "refs/tags",
            ],
        );
        listing
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                // Annotated tags point at a tag object; %(*objectname) is the commit behind it.
                (parts[0].to_string(), parts[parts.len() - 1].to_string())
            })
            .collect()
    }

    fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The commands a run printed, one per `+ ` line, without the `+ `.
fn printed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .map(str::to_string)
        .collect()
}

#[test]
fn dry_run_prints_every_command_and_runs_none() {
    let scratch = Scratch::new("1.0.0");
    let out = scratch.release(&["1.0.0", "--dry-run"], &REAL);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "dry run failed:\n{stdout}{stderr}");
    let head = scratch.head();
    let expected = vec![
        "git fetch --quiet --force --tags origin".to_string(),
        "docker buildx create --name ecs-oidc-deploy-release --driver docker-container --bootstrap"
            .to_string(),
        format!(
            "docker buildx build --builder ecs-oidc-deploy-release --platform linux/amd64,linux/arm64 \
             --build-arg VERSION=1.0.0 --tag {REPO}:1.0.0 --tag {REPO}:1.0 --tag {REPO}:1 --push ."
        ),
        format!("docker buildx imagetools inspect {REPO}:1.0.0"),
        "docker buildx rm ecs-oidc-deploy-release".to_string(),
        format!("git tag --annotate --message 'ecs-oidc-deploy 1.0.0' 1.0.0 {head}"),
        format!("git tag --force 1.0 {head}"),
        format!("git tag --force 1 {head}"),
        "git push origin refs/tags/1.0.0".to_string(),
        "git push --force origin refs/tags/1.0 refs/tags/1".to_string(),
    ];
    assert_eq!(printed(&stdout), expected, "stderr:\n{stderr}");
    // The checks ran (the version test among them); nothing else did.
    assert_eq!(
        scratch.calls(),
        vec!["cargo test --locked --quiet --test suite release::"]
    );
    assert!(scratch.origin_tags().is_empty());
    assert!(
        git(&scratch.work, &["tag"]).is_empty(),
        "no local tag either"
    );
}

#[test]
fn release_runs_the_printed_commands_and_moves_the_tags() {
    let scratch = Scratch::new("1.0.0");
    let dry = text(&scratch.release(&["1.0.0", "--dry-run"], &REAL)).0;
    let dry_docker: Vec<String> = printed(&dry)
        .into_iter()
        .filter(|c| c.starts_with("docker "))
        .collect();
    scratch.clear_calls();

    let out = scratch.release(&["1.0.0"], &REAL);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "release failed:\n{stdout}{stderr}");
    assert_eq!(
        printed(&stdout),
        printed(&dry),
        "a release prints what the dry run printed"
    );
    let docker: Vec<String> = scratch
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("docker "))
        .collect();
    assert_eq!(
        docker, dry_docker,
        "a release runs the docker commands the dry run printed"
    );
    let first = scratch.head();
    let tags = |v: &[&str], commit: &str| -> Vec<(String, String)> {
        v.iter()
            .map(|t| (t.to_string(), commit.to_string()))
            .collect()
    };
    let mut want = tags(&["1", "1.0", "1.0.0"], &first);
    want.sort();
    assert_eq!(scratch.origin_tags(), want);
    let kind = git(&scratch.origin, &["cat-file", "-t", "refs/tags/1.0.0"]);
    assert_eq!(kind, "tag", "X.Y.Z is an annotated tag");

    // A patch release moves 1.0 and 1; 1.0.0 stays where it is.
    scratch.bump("1.0.1");
    let out = scratch.release(&["1.0.1"], &REAL);
    assert!(
        out.status.success(),
        "second release failed:\n{:?}",
        text(&out)
    );
    let second = scratch.head();
    let mut want = tags(&["1", "1.0", "1.0.1"], &second);
    want.extend(tags(&["1.0.0"], &first));
    want.sort();
    assert_eq!(scratch.origin_tags(), want);
}

/// Runs a release that must be refused, and checks it changed nothing.
fn refused(scratch: &Scratch, args: &[&str], fakes: &Fakes, why: &str) {
    scratch.clear_calls();
    let tags_before = scratch.origin_tags();
    let out = scratch.release(args, fakes);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "{args:?} should be refused:\n{stdout}{stderr}"
    );
    assert!(
        stderr.contains(why),
        "{args:?}: expected {why:?} in:\n{stderr}"
    );
    let built = scratch.calls().iter().any(|c| c.contains("buildx build"));
    assert!(!built, "{args:?}: an image was built");
    assert_eq!(
        scratch.origin_tags(),
        tags_before,
        "{args:?}: origin's tags changed"
    );
}

#[test]
fn refusals_change_nothing() {
    let scratch = Scratch::new("1.0.0");
    refused(&scratch, &["1.0"], &REAL, "is not a release version X.Y.Z");
    refused(&scratch, &["1.0.1"], &REAL, "Cargo.toml has version 1.0.0");
    refused(
        &scratch,
        &["1.0.0", "--allow-dirty"],
        &REAL,
        "only goes with --dry-run",
    );
    refused(&scratch, &["1.0.0", "--push"], &REAL, "usage:");
    let failing_version_test = Fakes {
        version_test_passes: false,
        ..REAL
    };
    refused(
        &scratch,
        &["1.0.0"],
        &failing_version_test,
        "the version test failed",
    );

    write(
        &scratch.work.join("pipe.yml"),
        "image: org/ecs-oidc-deploy:0.9.0\n",
    );
    refused(&scratch, &["1.0.0"], &REAL, "uncommitted changes");
    git(&scratch.work, &["checkout", "--quiet", "--", "pipe.yml"]);

    write(
        &scratch.work.join("CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n### Fixed\n- Not released yet.\n\n## [1.0.0] - 2027-01-15\n",
    );
    refused(
        &scratch,
        &["1.0.0", "--dry-run", "--allow-dirty"],
        &REAL,
        "entries under [Unreleased]",
    );
    git(
        &scratch.work,
        &["checkout", "--quiet", "--", "CHANGELOG.md"],
    );

    // Released once, 1.0.0 can never be released again, nor can anything older.
    let out = scratch.release(&["1.0.0"], &REAL);
    assert!(out.status.success(), "release failed:\n{:?}", text(&out));
    refused(
        &scratch,
        &["1.0.0"],
        &REAL,
        "the git tag 1.0.0 already exists",
    );
    scratch.bump("0.9.0");
    refused(
        &scratch,
        &["0.9.0"],
        &REAL,
        "is not newer than the latest release 1.0.0",
    );
}

#[test]
fn a_pushed_image_without_arm64_stops_before_any_git_tag() {
    let scratch = Scratch::new("1.0.0");
    let amd64_only = Fakes {
        platforms: "linux/amd64",
        ..REAL
    };
    let out = scratch.release(&["1.0.0"], &amd64_only);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "should fail:\n{stdout}{stderr}");
    assert!(
        stderr.contains("has no linux/arm64 image, so no git tag was made"),
        "{stderr}"
    );
    assert!(scratch.origin_tags().is_empty());
    assert!(git(&scratch.work, &["tag"]).is_empty());
}
