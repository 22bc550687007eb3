//! Container image references: validation, and recognising the ones that live in ECR.
//!
//! Pure code. `IMAGE` is checked here before any AWS call, and an ECR reference is split
//! into the account, region, repository and tag or digest that `DescribeImages` needs.

use std::fmt;

/// A validated image reference such as `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// The whole reference exactly as the user gave it; this is what goes into the task definition.
    pub full: String,
    /// Registry host and repository path, without tag or digest.
    pub repository: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if one was given.
    pub digest: Option<String>,
}

/// Where an image lives when it is in a private ECR registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcrImage {
    /// The registry's account id (12 digits).
    pub account: String,
    /// The registry's region, which may differ from the service's.
    pub region: String,
    /// Repository name inside the registry, e.g. `team/web`.
    pub repository: String,
    /// The tag to look up; `latest` when neither tag nor digest was given, as Docker does.
    pub tag: Option<String>,
    /// The digest to look up.
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl ImageRef {
    /// Parses and validates a reference; the error says what is wrong in words a user can act on.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.chars().any(char::is_whitespace) {
            return Err("must not contain spaces".into());
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => {
                let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
                    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
                });
                if !valid {
                    return Err(format!(
                        "has an invalid digest {digest:?}; a digest looks like sha256:<64 hex characters>"
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (value, None),
        };
        // A colon after the last slash starts the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if repository.is_empty() {
            return Err("has no repository name".into());
        }
        let path = repository
            .split_once('/')
            .map_or(repository, |(first, path)| {
                // The first component is a registry host only if it looks like one.
                if first.contains('.') || first.contains(':') || first == "localhost" {
                    path
                } else {
                    repository
                }
            });
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "has upper-case letters in the repository name {path:?}; repository names are lower case"
            ));
        }
        let path_ok = path.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
        if !path_ok {
            return Err(format!(
                "has an invalid repository name {path:?}; use lower-case letters, digits, '.', '_', '-' and '/'"
            ));
        }
        if let Some(tag) = &tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !tag.starts_with(['.', '-']);
            if !ok {
                return Err(format!(
                    "has an invalid tag {tag:?}; a tag is up to 128 letters, digits, '_', '.' and '-'"
                ));
            }
        }
        Ok(Self {
            full: value.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The ECR location of this image, or `None` for Docker Hub, GHCR, public ECR and others.
    pub fn ecr(&self) -> Option<EcrImage> {
        let (host, repository) = self.repository.split_once('/')?;
        let labels: Vec<&str> = host.split('.').collect();
        // <account>.dkr.ecr.<region>.amazonaws.com[.cn], plus the FIPS variant dkr.ecr-fips.
        let is_ecr = labels.len() >= 6
            && labels[0].len() == 12
            && labels[0].bytes().all(|b| b.is_ascii_digit())
            && labels[1] == "dkr"
            && (labels[2] == "ecr" || labels[2] == "ecr-fips")
            && labels[4] == "amazonaws"
            && (labels[5..] == ["com"] || labels[5..] == ["com", "cn"]);
        if !is_ecr {
            return None;
        }
        let tag = match (&self.tag, &self.digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag.clone(),
        };
        Some(EcrImage {
            account: labels[0].to_string(),
            region: labels[3].to_string(),
            repository: repository.to_string(),
            tag,
            digest: self.digest.clone(),
        })
    }
}
