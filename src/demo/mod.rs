//! `aedgate demo`: the whole core path on one screen, for a customs officer or an
//! integrator seeing aedgate for the first time. It builds a development federation in a
//! temporary folder and starts the gateways of two administrations, NL and BE, on their
//! embedded stores, linked under the federation's agreement `mou-nl-be-2026`. Both risk
//! units publish risk indicators, which each gateway shares with the other as far as the
//! agreement allows. Then it files a realistic batch with adm/NL as two partners — clean
//! declarations, a network resend, vague or inconsistent data, a tampered message, a spoofed
//! sender — and says what happened to each, in words, with the evidence the partner holds.
//! A second part follows consignments that the indicators select through their outcomes —
//! release, request for information, screening, control on arrival, Do Not Load — as the
//! partners fetch them, signature-checked, and answer them. A third is revenue (§11, §12):
//! a low-value parcel released with its charges, the same goods under IOSS with the VAT
//! collected at sale, the revenue checks asking about an IOSS number not in the registry,
//! IOSS claimed above EUR 150, an item declared at a tenth of its listed price and a third
//! parcel for one buyer from one seller in a day, and a consumer return in two steps whose
//! signed refunds add up to one full refund. A fourth part is between the administrations
//! (§8): the indicators in force at adm/BE, those that stayed in NL (RED, and above the
//! agreement's TLP), what each gateway delivered with the peer's receipt, and a declaration
//! filed in NL for delivery in Belgium, forwarded to adm/BE and assessed there.
//!
//! The indicators are chosen so that the batch of the first part matches none of them: that
//! part is about admission, and each of its accepted declarations is simply released (with
//! the charges it owes, since every consignment for the Netherlands is charged).
//!
//! Each chapter is its own module, in the order the report prints them: [`stage`] sets up
//! the federation and introduces it, then [`indicators`], [`admission`], [`assessment`],
//! [`revenue`], [`exchange`] and [`audit`]; [`data`] holds what they file.

mod admission;
mod assessment;
mod audit;
mod data;
mod exchange;
mod indicators;
mod revenue;
mod stage;

/// The administrations, and the participants more than one chapter names.
const NL: &str = "adm/NL";
const BE: &str = "adm/BE";
const SHOPCO: &str = "ptr/NL/shopco";
const FLYFAST: &str = "ptr/NL/flyfast";
const RISK_UNIT: &str = "adm/NL/risk-unit";

/// Runs the demo and prints its report on stdout, chapter by chapter. Each chapter leaves
/// the gateways' logs as the next one expects, so the log entries the report names are the
/// same on every run.
pub(crate) async fn run() -> Result<(), String> {
    let mut stage = stage::Stage::start().await?;
    stage.introduce();
    let published = indicators::publish(&mut stage).await?;
    let accepted = admission::file_batch(&mut stage).await?;
    // A witness (here the risk unit) keeps the head it saw after the admission batch.
    let (batch_head, _) = stage
        .risk_unit
        .tree_head()
        .await
        .map_err(|e| format!("tree head: {e}"))?;
    assessment::follow_cases(&mut stage, &accepted, &published).await?;
    revenue::charge_and_refund(&mut stage).await?;
    exchange::between_administrations(&mut stage, &published.nl).await?;
    audit::store_check(&stage).await?;
    audit::prove(&stage, &accepted.receipts, &batch_head).await?;
    stage.finish(&batch_head).await
}
