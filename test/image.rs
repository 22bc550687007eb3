//! Image references: validation and ECR recognition.

use ecs_oidc_deploy::model::image::ImageRef;

#[test]
fn ecr_references_are_split_into_account_region_repository_and_tag() {
    let image = ImageRef::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:8f3a2c1")
        .expect("valid");
    let ecr = image.ecr().expect("ecr");
    assert_eq!(
        (
            ecr.account.as_str(),
            ecr.region.as_str(),
            ecr.repository.as_str()
        ),
        ("123456789012", "eu-west-1", "team/web")
    );
    assert_eq!(ecr.tag.as_deref(), Some("8f3a2c1"));
    assert_eq!(ecr.digest, None);
}

#[test]
fn digests_and_missing_tags() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let image = ImageRef::parse(&format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{digest}"
    ))
    .expect("valid");
    let ecr = image.ecr().expect("ecr");
    assert_eq!(ecr.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(ecr.tag, None);
    let untagged =
        ImageRef::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web").expect("valid");
    assert_eq!(
        untagged.ecr().expect("ecr").tag.as_deref(),
        Some("latest"),
        "Docker's implicit tag"
    );
}

#[test]
fn other_registries_are_valid_but_not_ecr() {
    for image in [
        "nginx:1.27",
        "ghcr.io/acme/web:v1",
        "public.ecr.aws/nginx/nginx:latest",
        "localhost:5000/web",
        "registry.example.com:5000/team/web:1.0",
    ] {
        let parsed = ImageRef::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(parsed.ecr(), None, "{image}");
    }
    let port = ImageRef::parse("localhost:5000/web").expect("valid");
    assert_eq!(port.tag, None, "a registry port is not a tag");
}

#[test]
fn invalid_references_say_what_is_wrong() {
    let cases = [
        ("web app:1", "spaces"),
        ("Web:1", "upper-case"),
        ("web:bad tag", "spaces"),
        ("web:", "invalid tag"),
        ("web@sha256:abc", "invalid digest"),
        ("web:-x", "invalid tag"),
        ("repo//web:1", "invalid repository"),
    ];
    for (image, why) in cases {
        let err = ImageRef::parse(image).expect_err(image);
        assert!(err.contains(why), "{image}: {err}");
    }
}
