//! The `aedgate` command line: `serve`, `pki init`, `demo`; for partners `submit`, `amend`,
//! `invalidate`, `fetch`, `respond` and `status`; for an administration's risk unit
//! `indicator publish|revoke|list`; for its operators `outbox list|retry`; for auditors and
//! witnesses `audit verify-receipt|watch|verify-store`.
//!
//! The commands are grouped by who runs them (`partner`, `risk_unit`, `operator`,
//! `auditor`, `tooling`), one argument struct and one `run` each, so that a command is
//! read in one place. How a command ends becomes an exit status in one place too
//! (`exit`): every failure ends in one line on stderr and a non-zero exit status,
//! because the command is run by operators and scripts that read exactly that.

/// Declares a group of subcommands (`aedgate indicator publish|revoke|list`): the `Args`
/// struct that the parent lists, holding the clap enum of its commands, and the `run`
/// that hands each command to its own. Written once, so that a group is its list of
/// commands and nothing else.
macro_rules! command_group {
    (
        $(#[$doc:meta])*
        $group:ident: $commands:ident {
            $($variant:ident($command:ty)),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, clap::Args)]
        pub(super) struct $group {
            #[command(subcommand)]
            command: $commands,
        }

        impl $group {
            pub(super) async fn run(
                self,
            ) -> Result<crate::cli::exit::Verdict, crate::cli::exit::CliError> {
                self.command.run().await
            }
        }

        #[derive(Debug, clap::Subcommand)]
        pub(super) enum $commands {
            $($variant($command)),+
        }

        impl $commands {
            async fn run(self) -> Result<crate::cli::exit::Verdict, crate::cli::exit::CliError> {
                match self {
                    $(Self::$variant(command) => command.run().await),+
                }
            }
        }
    };
}

mod auditor;
mod exit;
mod operator;
mod partner;
mod risk_unit;
mod shared;
mod tooling;

use clap::{Parser, Subcommand};
use exit::{exit_code, CliError, Verdict};
use std::process::ExitCode;

/// aedgate: signed advance electronic data and risk intelligence between customs
/// administrations and e-commerce partners, over mutual-TLS gRPC.
#[derive(Debug, Parser)]
#[command(name = "aedgate", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands, in the order `--help` lists them.
#[derive(Debug, Subcommand)]
enum Command {
    Serve(operator::Serve),
    Submit(partner::Submit),
    Amend(partner::Amend),
    Invalidate(partner::Invalidate),
    Fetch(partner::Fetch),
    Respond(partner::Respond),
    Status(partner::Status),
    Return(partner::Return),
    Indicator(risk_unit::Indicator),
    Outbox(operator::Outbox),
    Store(operator::Store),
    Audit(auditor::Audit),
    Bench(tooling::Bench),
    Demo(tooling::Demo),
    Conformance(tooling::Conformance),
    Pki(tooling::Pki),
}

impl Command {
    async fn run(self) -> Result<Verdict, CliError> {
        match self {
            Self::Serve(command) => command.run().await,
            Self::Submit(command) => command.run().await,
            Self::Amend(command) => command.run().await,
            Self::Invalidate(command) => command.run().await,
            Self::Fetch(command) => command.run().await,
            Self::Respond(command) => command.run().await,
            Self::Status(command) => command.run().await,
            Self::Return(command) => command.run().await,
            Self::Indicator(command) => command.run().await,
            Self::Outbox(command) => command.run().await,
            Self::Store(command) => command.run().await,
            Self::Audit(command) => command.run().await,
            Self::Bench(command) => command.run().await,
            Self::Demo(command) => command.run().await,
            Self::Conformance(command) => command.run().await,
            Self::Pki(command) => command.run().await,
        }
    }
}

/// Runs the command line and turns the outcome into an exit status. The binary is only
/// this call, so that the library's tests reach everything the command does.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|runtime| runtime.block_on(cli.command.run()));
    exit_code(result)
}
