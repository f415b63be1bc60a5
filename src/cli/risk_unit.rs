//! The commands of an administration's risk unit: publish and revoke risk indicators, and
//! list those in force as the administration's log holds them.

use super::exit::{CliError, Verdict};
use super::shared::{load_client, not_of_form, read_text, submit_message};
use crate::client::{fold_indicators, ClientError, Participant};
use crate::core::trust::Role;
use crate::proto::v1::{MessageType, RiskIndicatorRevocation};
use crate::render::{indicator_table, plural};
use clap::Args;
use std::path::PathBuf;

command_group! {
    /// Risk indicators (PROTOCOL.md §8), for an administration's internal participants such
    /// as its risk unit.
    Indicator: IndicatorCommand {
        Publish(Publish),
        Revoke(Revoke),
        List(List),
    }
}

/// Sign and publish an indicator (JSON, see docs/indicator-json.md).
///
/// Publishing the same id with a higher version replaces it.
#[derive(Debug, Args)]
pub(super) struct Publish {
    /// Client configuration (TOML) of an internal participant, e.g.
    /// adm-NL-risk-unit.client.toml.
    #[arg(long)]
    config: PathBuf,
    /// The indicator, as JSON.
    indicator: PathBuf,
}

impl Publish {
    async fn run(self) -> Result<Verdict, CliError> {
        let path = &self.indicator;
        let indicator =
            crate::formats::indicator::from_json(&read_text(path)?).map_err(not_of_form(path))?;
        let label = format!(
            "Indicator {} v{}",
            indicator.indicator_id, indicator.version
        );
        let (verdict, _) = submit_message(
            &self.config,
            MessageType::RiskIndicator,
            &indicator,
            "",
            &label,
        )
        .await?;
        Ok(verdict)
    }
}

/// Revoke an indicator: it stops matching at once.
#[derive(Debug, Args)]
pub(super) struct Revoke {
    /// Client configuration (TOML) of an internal participant of the issuing
    /// administration.
    #[arg(long)]
    config: PathBuf,
    /// The indicator id.
    indicator_id: String,
    /// Why, for the analysts who receive the revocation (at most 500 characters).
    #[arg(long, default_value = "")]
    reason: String,
}

impl Revoke {
    async fn run(self) -> Result<Verdict, CliError> {
        let label = format!("Revocation of indicator {}", self.indicator_id);
        let revocation = RiskIndicatorRevocation {
            indicator_id: self.indicator_id,
            reason: self.reason,
        };
        let (verdict, _) = submit_message(
            &self.config,
            MessageType::RiskIndicatorRevocation,
            &revocation,
            "",
            &label,
        )
        .await?;
        Ok(verdict)
    }
}

/// List the indicators in force, read back from the administration's log.
///
/// The contract has no listing call: this reads the log with Fetch and folds every
/// indicator and revocation it holds, in order. Expired indicators are marked.
#[derive(Debug, Args)]
pub(super) struct List {
    /// Client configuration (TOML) of an internal participant.
    #[arg(long)]
    config: PathBuf,
}

impl List {
    async fn run(self) -> Result<Verdict, CliError> {
        let config = load_client(&self.config)?;
        // Only internal participants read the administration's log; a partner's Fetch holds
        // its own outcomes only, and an empty list would wrongly suggest no indicators exist.
        let role = config
            .trust
            .participant(&config.participant)
            .map(|p| p.role);
        if role != Some(Role::Internal) {
            return Err(CliError::NotInternal(config.participant));
        }
        let participant = Participant::connect(config).await?;
        let deliveries = participant
            .fetch_all(0)
            .await
            .map_err(|status| CliError::FetchRefused(ClientError::Refused(status)))?;
        let held = fold_indicators(&deliveries, &participant.gateway);
        let now = crate::clock::now_ms();
        let expired = held
            .values()
            .filter(|l| !crate::core::risk::in_force(&l.indicator, now))
            .count();
        print!("{}", indicator_table(&held, now));
        let in_force = held.len() - expired;
        println!(
            "In force at {}: {}{}; read from {}.",
            participant.gateway,
            plural(in_force as u64, "indicator", "indicators"),
            if expired > 0 {
                format!(" ({expired} more expired)")
            } else {
                String::new()
            },
            plural(deliveries.len() as u64, "log entry", "log entries")
        );
        Ok(Verdict::Positive)
    }
}
