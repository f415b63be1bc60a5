//! Fuzzes aedgate's decoders of untrusted bytes on stable Rust (docs/fuzzing.md).
//!
//! ```text
//! cargo run --release --example fuzz -- --target all --execs 10000000
//! cargo run --release --example fuzz -- --list
//! cargo run --release --example fuzz -- --target envelope --replay target/fuzz-crashes/envelope-….bin
//! ```
//!
//! Exits 0 when no input panicked, 1 when one did (each distinct panic's first input is
//! saved under `--crash-dir`), 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aedgate::fuzz::{fuzz, run_once, targets, Fixture, Options, Target};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "fuzz", about = "Fuzzes aedgate's decoders of untrusted bytes")]
struct Args {
    /// Targets to run, comma-separated, or `all`.
    #[arg(long, default_value = "all")]
    target: String,
    /// Executions in total, shared evenly by the targets.
    #[arg(long, default_value_t = 100_000)]
    execs: u64,
    /// Executions of each target (instead of sharing --execs).
    #[arg(long)]
    execs_per_target: Option<u64>,
    /// Seed of the mutations (the same seed gives the same inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where inputs that panic are saved.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crash_dir: PathBuf,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 10)]
    progress_secs: u64,
    /// List the targets and what each feeds, then exit.
    #[arg(long)]
    list: bool,
    /// Run the (single) --target once on each of these files instead of fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn select<'a>(all: &'a [Target], names: &str) -> Result<Vec<&'a Target>, String> {
    if names == "all" {
        return Ok(all.iter().collect());
    }
    names
        .split(',')
        .map(|name| {
            all.iter()
                .find(|t| t.name == name.trim())
                .ok_or_else(|| format!("no target {name:?} (see --list)"))
        })
        .collect()
}

fn replay(target: &Target, files: &[PathBuf]) -> ExitCode {
    let mut panicked = false;
    for file in files {
        let input = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        match run_once(target, &input) {
            Ok(outcome) => println!(
                "{}: no panic ({}): {}",
                file.display(),
                if outcome.deep { "deep" } else { "shallow" },
                outcome.label
            ),
            Err(message) => {
                panicked = true;
                println!("{}: PANIC {message}", file.display());
            }
        }
    }
    if panicked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let fixture = match Fixture::new() {
        Ok(f) => Arc::new(f),
        Err(e) => {
            eprintln!("cannot set up the federation: {e}");
            return ExitCode::from(2);
        }
    };
    let all = targets(&fixture);
    if args.list {
        for t in &all {
            println!("{:<22} {} seeds  {}", t.name, t.seeds().len(), t.about);
        }
        return ExitCode::SUCCESS;
    }
    let selected = match select(&all, &args.target) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("no target selected");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if !args.replay.is_empty() {
        return match selected.as_slice() {
            [target] => replay(target, &args.replay),
            _ => {
                eprintln!("--replay needs exactly one --target");
                ExitCode::from(2)
            }
        };
    }
    let per_target = args
        .execs_per_target
        .unwrap_or_else(|| args.execs.div_ceil(selected.len() as u64));
    let started = Instant::now();
    let mut reports = Vec::new();
    for target in selected {
        let options = Options {
            execs: per_target,
            seed: args.seed,
            crash_dir: args.crash_dir.clone(),
            progress: (args.progress_secs > 0).then(|| Duration::from_secs(args.progress_secs)),
            ..Options::default()
        };
        eprintln!(
            "[{}] {} executions from {} seeds",
            target.name,
            per_target,
            target.seeds().len()
        );
        let report = fuzz(target, &options);
        eprintln!(
            "[{}] done: {} execs in {:.1} s ({:.0}/s), {} crashes",
            report.target,
            report.execs,
            report.elapsed.as_secs_f64(),
            report.rate(),
            report.crash_count()
        );
        reports.push(report);
    }
    println!(
        "| target | execs | execs/s | past first parse | outcomes | corpus | slowest | crashes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &reports {
        println!(
            "| {} | {} | {:.0} | {:.1}% | {} | {} | {:.1} ms | {} |",
            r.target,
            r.execs,
            r.rate(),
            100.0 * r.deep as f64 / r.execs.max(1) as f64,
            r.outcomes,
            r.corpus,
            r.slowest.as_secs_f64() * 1000.0,
            r.crash_count()
        );
    }
    let total: u64 = reports.iter().map(|r| r.execs).sum();
    let crashes: u64 = reports.iter().map(|r| r.crash_count()).sum();
    println!(
        "| **total** | {total} | {:.0} | | | | | {crashes} |",
        total as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );
    println!(
        "wall time: {:.1} s, seed {}",
        started.elapsed().as_secs_f64(),
        args.seed
    );
    for r in &reports {
        for c in &r.crashes {
            println!("CRASH in {} ({} inputs): {}", r.target, c.count, c.message);
            match &c.saved {
                Ok(path) => println!(
                    "  replay: cargo run --release --example fuzz -- --target {} --replay {}",
                    r.target,
                    path.display()
                ),
                Err(why) => println!("  not saved: {why}"),
            }
        }
    }
    if crashes > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
