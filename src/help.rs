//! `--help` text, rendered from the variable definitions in [`crate::vars`]: every listed
//! variable with its meaning and default, the deprecated names, and the advanced ones.

use crate::vars::{self, Shown};

/// The text printed by `--help`.
pub fn text() -> String {
    let mut out = format!(
        "ecs-oidc-deploy {}\nDeploy a new image to an Amazon ECS service from Bitbucket Pipelines with OIDC.\n\n\
         Configured only through environment variables (the pipe's `variables:`):\n\n",
        env!("CARGO_PKG_VERSION")
    );
    let width = vars::listed().map(|v| v.name.len()).max().unwrap_or(0);
    for var in vars::listed() {
        out.push_str(&format!(
            "  {:<width$}  {} [default: {}]\n",
            var.name, var.about, var.default
        ));
    }
    for var in vars::ALL {
        if let Some(alias) = var.alias {
            out.push_str(&format!(
                "\nDeprecated: {} still works as {} until {}.",
                alias.old, var.name, alias.removed_in
            ));
        }
    }
    out.push_str("\n\nAdvanced (endpoints for a VPC endpoint or an emulator; colour):\n");
    let advanced = || vars::ALL.iter().filter(|v| v.shown == Shown::Advanced);
    let width = advanced().map(|v| v.name.len()).max().unwrap_or(0);
    for var in advanced() {
        out.push_str(&format!("  {:<width$}  {}\n", var.name, var.about));
    }
    out.push_str(
        "\nExit codes:\n  0  deployed and verified (or started, with WAIT=false)\n  \
         1  the service was updated and the deployment then failed, rolled back or timed out\n  \
         2  refused before the service was changed (bad variables, credentials, not found, access denied)\n  \
         3  PRE_DEPLOY_COMMAND ran and did not succeed; no service was updated\n\
         \nOptions: --help, --version, --print-iam-policy (same as PRINT_IAM_POLICY=true). The pipe takes no other arguments.\n",
    );
    out
}
