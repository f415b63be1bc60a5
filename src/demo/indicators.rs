//! The first chapter: both risk units publish their indicators, each gateway shares its
//! own with the other as far as the agreement allows, and the indicators in force at adm/NL
//! are read back from its log. Everything after is assessed against them.

use super::data::{be_indicators, indicators};
use super::stage::{delivered, read_log, Stage};
use super::NL;
use crate::client::{fold_indicators, ListedIndicator, Participant};
use crate::proto::v1::{MessageType, RiskIndicator};
use crate::render::indicator_table;
use crate::server::RunningGateway;
use bytes::Bytes;
use prost::Message;
use std::collections::BTreeMap;

/// What was published, for the chapters that tell what the indicators did.
pub(super) struct Published {
    /// adm/NL's own indicators, as its risk unit published them.
    pub(super) nl: Vec<RiskIndicator>,
    /// The indicators in force at adm/NL, its own and those received from adm/BE.
    pub(super) in_force: BTreeMap<String, ListedIndicator>,
}

/// Publishes both risk units' indicators and prints those in force at adm/NL. The
/// indicators are in force, and shared, before the first declaration arrives.
pub(super) async fn publish(stage: &mut Stage) -> Result<Published, String> {
    let nl = indicators(crate::clock::now_ms())?;
    let be = be_indicators(crate::clock::now_ms())?;
    publish_each(&mut stage.risk_unit, &stage.nl, &nl).await?;
    publish_each(&mut stage.be_risk_unit, &stage.be, &be).await?;
    let in_force = fold_indicators(&read_log(&stage.risk_unit).await?, NL);
    println!(
        "Risk indicators: the NL risk unit (adm/NL/risk-unit) published {} indicators and the BE risk unit",
        nl.len()
    );
    println!(
        "(adm/BE/risk-unit) {}, each signed and acknowledged with a signed receipt by its own gateway.",
        be.len()
    );
    println!(
        "Each gateway shares its own with the other as far as the agreement allows (see \"Between"
    );
    println!(
        "administrations\" below). In force at adm/NL, as read back from its log with Fetch:\n"
    );
    println!("{}", indicator_table(&in_force, crate::clock::now_ms()));
    Ok(Published { nl, in_force })
}

/// Publishes a risk unit's indicators, each once the gateway has delivered the copies of the
/// previous ones to its peers, so that the two gateways' logs interleave the same way on
/// every run and the log entries the demo names stay the same.
async fn publish_each(
    risk_unit: &mut Participant,
    gateway: &RunningGateway,
    indicators: &[RiskIndicator],
) -> Result<(), String> {
    for indicator in indicators {
        let envelope = risk_unit.seal(
            MessageType::RiskIndicator,
            Bytes::from(indicator.encode_to_vec()),
            "",
        );
        risk_unit.submit(envelope).await.map_err(|e| {
            format!(
                "risk indicator {} refused by {}: {e}",
                indicator.indicator_id, risk_unit.gateway
            )
        })?;
        delivered(gateway, &risk_unit.gateway).await?;
    }
    Ok(())
}
