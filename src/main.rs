//! Entry point: arguments, logging and the runtime; everything else is in the library.

use std::process::ExitCode;

use ecs_oidc_deploy::{Reporter, error, help};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut print_policy = false;
    match args.next().as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{}", help::text());
            return ExitCode::SUCCESS;
        }
        Some("--print-iam-policy") => print_policy = true,
        Some("--version" | "-V") => {
            println!("ecs-oidc-deploy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!(
                "✖ unknown argument {other:?}: the pipe is configured through environment variables; see --help"
            );
            return ExitCode::from(2);
        }
    }

    // Variables that are not valid UTF-8 cannot be ours; skipping them beats failing on them.
    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    if print_policy {
        vars.retain(|(k, _)| k != "PRINT_IAM_POLICY");
        vars.push(("PRINT_IAM_POLICY".into(), "true".into()));
    }
    let debug = vars
        .iter()
        .any(|(k, v)| k == "DEBUG" && v.trim().eq_ignore_ascii_case("true"));
    let no_color = vars.iter().any(|(k, v)| k == "NO_COLOR" && !v.is_empty());
    if debug {
        // Only this crate's debug lines: the SDK's own debug and trace output can include
        // request details, and credentials must never reach the log.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(!no_color)
            .with_target(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "warn,ecs_oidc_deploy=debug",
            ))
            .init();
    }

    let mut report = Reporter::stderr(!no_color);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("✖ could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout();
    let code = runtime.block_on(ecs_oidc_deploy::run(vars, &mut report, &mut stdout));
    ExitCode::from(u8::try_from(code).unwrap_or(error::EXIT_DEPLOY_FAILED as u8))
}
