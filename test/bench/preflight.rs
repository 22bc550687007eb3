//! What `PREFLIGHT` adds to a deploy: the same instant deploy as scenario 1, run alternately with
//! `PREFLIGHT` off and on, on the same world (its execution role and secret exist in moto, and
//! the proxy answers IAM's SimulatePrincipalPolicy, which moto lacks, with `allowed`).

use super::{
    Bench, REGISTRY, Sample, Target, Tool, cell, fmt_ms, fmt_secs, median_of, values, wall,
};

/// The samples without and with `PREFLIGHT`.
pub struct Measured {
    pub off: Vec<Sample>,
    pub on: Vec<Sample>,
}

pub fn scenario(bench: &Bench) -> Result<Measured, String> {
    let world = super::moto_world();
    let endpoint = world.recorder.endpoint();
    let mut measured = Measured {
        off: Vec::new(),
        on: Vec::new(),
    };
    let warmups = usize::from(!bench.smoke);
    for round in 0..warmups + bench.runs {
        for k in 0..2 {
            let on = (k + round) % 2 == 1;
            let image = format!("{REGISTRY}/web:v{}", 1 + (2 * round + k) % 2);
            let target = Target {
                endpoint: &endpoint,
                cluster: "prod",
                service: "web",
                container: "web",
                image: &image,
            };
            let mut cmd = bench.command(Tool::Ours, &target);
            cmd.env("PREFLIGHT", if on { "true" } else { "false" })
                .env("WAIT_INTERVAL", "1");
            let sample = bench.measure("preflight", &cmd, &world.log, false);
            if sample.code != 0 {
                return Err(format!(
                    "the deploy with PREFLIGHT {on} failed (exit {}):\n{}",
                    sample.code,
                    sample.log()
                ));
            }
            eprintln!("  PREFLIGHT {on:<5} {:>8}", super::fmt_dur(sample.wall));
            if round >= warmups {
                if on {
                    measured.on.push(sample);
                } else {
                    measured.off.push(sample);
                }
            }
        }
    }
    Ok(measured)
}

/// The report's paragraph.
pub fn report(m: &Measured) -> String {
    let added = match (median_of(&m.off, wall), median_of(&m.on, wall)) {
        (Some(off), Some(on)) => fmt_ms(on - off),
        _ => "n/a".into(),
    };
    let count = |s: &[Sample]| {
        cell(&values(s, |x| Some(x.ops.len() as f64)), |c| {
            format!("{c:.0}")
        })
    };
    let extra: Vec<String> =
        m.on.first()
            .map(|s| {
                let mut ops: Vec<String> = Vec::new();
                for op in &s.ops {
                    let before = m.off.first().is_some_and(|o| o.ops.contains(op));
                    if !before && !ops.contains(op) {
                        ops.push(op.clone());
                    }
                }
                ops
            })
            .unwrap_or_default();
    format!(
        "**What PREFLIGHT adds** (the instant deploy with `WAIT_INTERVAL=1`, alternately with \
         `PREFLIGHT` off and on, {} timed run(s) each, median (min–max)):\n\n\
         | PREFLIGHT | Wall time | AWS requests |\n|---|---|---|\n\
         | false | {} | {} |\n| true | {} | {} |\n\n\
         Added wall time (median): {added}. Requests it adds: {}.\n\n",
        m.on.len(),
        cell(&values(&m.off, wall), fmt_secs),
        count(&m.off),
        cell(&values(&m.on, wall), fmt_secs),
        count(&m.on),
        if extra.is_empty() {
            "none".into()
        } else {
            extra.join(", ")
        }
    )
}
