//! The commands of the people who run an administration's gateway: run it, and see and
//! retry what it owes its peer administrations (the outbox).

use super::exit::{CliError, Verdict};
use super::shared::connect;
use crate::client::{ClientError, Participant};
use crate::config::GatewayConfig;
use crate::proto::aedgate::ops::v1::outbox_client::OutboxClient;
use crate::proto::aedgate::ops::v1::{OutboxListRequest, OutboxRetryRequest, OutboxState};
use crate::render::{describe_refusal, outbox_table};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Run a gateway for one administration (PROTOCOL.md §10).
#[derive(Debug, Args)]
pub(super) struct Serve {
    /// Gateway configuration (TOML).
    #[arg(long)]
    config: PathBuf,
}

impl Serve {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let config = GatewayConfig::load(&self.config)?;
        crate::server::serve(config).await?;
        Ok(Verdict::Positive)
    }
}

command_group! {
    /// Messages for peer administrations (PROTOCOL.md §6), for the administration's
    /// internal participants: what is pending, delivered or dead-lettered.
    Outbox: OutboxCommand {
        List(OutboxList),
        Retry(OutboxRetry),
    }
}

command_group! {
    /// The store's database, for operators: moving a pilot's embedded store to the
    /// PostgreSQL database that replicas share (PROTOCOL.md §13, docs/replicas.md).
    Store: StoreCommand {
        Copy(StoreCopy),
    }
}

/// Copy a gateway's embedded (SQLite) store into an empty PostgreSQL database, then check
/// that the copy's log has the same size and root. Stop the gateway first: the data
/// folder's lock is taken for the copy. Afterwards set `[store] url` in the gateway's
/// configuration, keep its `data_dir` (it holds the heads it signed), and run
/// `aedgate audit verify-store DATA_DIR --store URL`.
#[derive(Debug, Args)]
pub(super) struct StoreCopy {
    /// The gateway's `data_dir`.
    #[arg(long, value_name = "DATA_DIR")]
    from: PathBuf,
    /// The PostgreSQL database, `postgres://user@host:port/database`; must be empty.
    #[arg(long, value_name = "URL")]
    to: String,
}

impl StoreCopy {
    async fn run(self) -> Result<Verdict, CliError> {
        if !crate::store::is_postgres_url(&self.to) {
            return Err(CliError::Usage(format!(
                "--to {}: must be a postgres:// URL",
                self.to
            )));
        }
        let copied = crate::store::copy_to_postgres(&self.from, &self.to).await?;
        println!(
            "COPIED: {} log entries and {} declarations from {}; the copy's root at size {} is {}, as the source's",
            copied.log_size,
            copied.declarations,
            self.from.display(),
            copied.log_size,
            hex::encode(copied.root)
        );
        Ok(Verdict::Positive)
    }
}

fn outbox_client(participant: &Participant) -> OutboxClient<tonic::transport::Channel> {
    OutboxClient::new(participant.channel())
}

/// List the outbox, oldest first: peer, message, state, attempts, last error, and for
/// delivered messages the peer's verified receipt.
#[derive(Debug, Args)]
pub(super) struct OutboxList {
    /// Client configuration (TOML) of an internal participant of the administration.
    #[arg(long)]
    config: PathBuf,
    /// Only entries in this state.
    #[arg(long, value_enum)]
    state: Option<OutboxStateArg>,
}

impl OutboxList {
    async fn run(self) -> Result<Verdict, CliError> {
        let (participant, _) = connect(&self.config).await?;
        let state = match self.state {
            None => OutboxState::Unspecified,
            Some(OutboxStateArg::Pending) => OutboxState::Pending,
            Some(OutboxStateArg::Delivered) => OutboxState::Delivered,
            Some(OutboxStateArg::Dead) => OutboxState::DeadLettered,
        };
        let entries = outbox_client(&participant)
            .list(OutboxListRequest {
                state: state as i32,
            })
            .await
            .map_err(ClientError::Refused)?
            .into_inner()
            .entries;
        print!("{}", outbox_table(&entries));
        // Dead letters need a person: say so in the exit status, for monitoring.
        Ok(Verdict::negative_if(
            entries
                .iter()
                .any(|e| e.state == OutboxState::DeadLettered as i32),
        ))
    }
}

/// An outbox state as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum OutboxStateArg {
    /// Not yet delivered.
    Pending,
    /// Delivered; the peer's receipt is stored.
    Delivered,
    /// Given up on; waits for `outbox retry`.
    Dead,
}

/// Put a dead-lettered (or waiting) message back in its peer's queue, due now, with a
/// fresh horizon.
#[derive(Debug, Args)]
pub(super) struct OutboxRetry {
    /// Client configuration (TOML) of an internal participant of the administration.
    #[arg(long)]
    config: PathBuf,
    /// The entry's id, from `outbox list`.
    id: u64,
}

impl OutboxRetry {
    async fn run(self) -> Result<Verdict, CliError> {
        let id = self.id;
        let (participant, _) = connect(&self.config).await?;
        match outbox_client(&participant)
            .retry(OutboxRetryRequest { id })
            .await
        {
            Ok(_) => {
                println!("Outbox entry {id} is due now; `aedgate outbox list` shows how it goes.");
                Ok(Verdict::Positive)
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                println!("{}", describe_refusal(&status));
                Ok(Verdict::Negative)
            }
            Err(status) => Err(ClientError::Refused(status).into()),
        }
    }
}
