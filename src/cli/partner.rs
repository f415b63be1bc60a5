//! The commands of an e-commerce partner (marketplace, carrier, postal operator): file a
//! declaration, amend or withdraw it, read what the gateway delivered, answer a referral,
//! ask for a declaration's state.

use super::exit::{CliError, Verdict};
use super::shared::{
    connect, not_of_form, read_declaration, read_text, seal_and_send, send, submit_message,
};
use crate::client::{check_delivery, outcome_of, ClientError, Participant};
use crate::proto::v1::{
    Delivery, Invalidation, MessageType, ReferralResponse, ScreeningResult, StatusRequest,
};
use crate::render::{
    code_name, describe_delivery, describe_refusal, describe_status, plural, type_name,
};
use clap::{ArgGroup, Args, ValueEnum};
use std::path::PathBuf;

/// Sign a declaration (JSON, see docs/declaration-json.md) and submit it as a partner.
///
/// Prints the receipt, whose message id is the declaration id that `status`, `amend` and
/// `invalidate` take.
#[derive(Debug, Args)]
pub(super) struct Submit {
    /// Client configuration (TOML), as written by `aedgate pki init`.
    #[arg(long)]
    config: PathBuf,
    /// The declaration, as JSON.
    declaration: PathBuf,
    /// Also write the signed receipt to this file (JSON, docs/auditing.md), for
    /// `aedgate audit verify-receipt`.
    #[arg(long, value_name = "FILE")]
    receipt_out: Option<PathBuf>,
}

impl Submit {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let decl = read_declaration(&self.declaration)?;
        let (mut participant, trust_version) = connect(&self.config).await?;
        let envelope = participant.seal_declaration(&decl);
        let label = format!("LRN {}", decl.lrn);
        let (verdict, receipt) = send(
            &mut participant,
            envelope,
            &label,
            trust_version,
            self.receipt_out.as_deref(),
        )
        .await?;
        if let (Some(_), Some(path)) = (&receipt, &self.receipt_out) {
            println!("Receipt written to {}", path.display());
        }
        if let Some(receipt) = receipt {
            // The receipt's message id is what every later command about this declaration
            // takes; say so, because an LRN is not accepted there.
            println!(
                "Declaration id {}: use it with `aedgate status`, `amend`, `invalidate` and `return`; later outcomes arrive by `aedgate fetch`.",
                receipt.message_id
            );
            // The first outcome is committed with the declaration: show it, with what the
            // consignment owes, so that the filer need not look for it.
            let answered = print_answer(
                &participant,
                trust_version,
                MessageType::Outcome,
                &receipt.message_id,
            )
            .await?;
            return Ok(verdict.and(answered));
        }
        Ok(verdict)
    }
}

/// Replace a declaration's data (AMENDMENT): it is assessed afresh and gets a new outcome.
#[derive(Debug, Args)]
pub(super) struct Amend {
    /// Client configuration (TOML) of the partner that filed the declaration.
    #[arg(long)]
    config: PathBuf,
    /// The declaration id (its message id, from the receipt of `submit`).
    declaration_id: String,
    /// The full replacement declaration, as JSON; it must keep the LRN.
    declaration: PathBuf,
}

impl Amend {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let decl = read_declaration(&self.declaration)?;
        let label = format!("Amendment of {} (LRN {})", self.declaration_id, decl.lrn);
        let (verdict, receipt) = submit_message(
            &self.config,
            MessageType::Amendment,
            &decl,
            &self.declaration_id,
            &label,
        )
        .await?;
        if receipt.is_some() {
            println!(
                "The amended declaration is assessed afresh; its outcome arrives by `aedgate fetch`."
            );
        }
        Ok(verdict)
    }
}

/// Withdraw a declaration (INVALIDATION), e.g. when the order was cancelled.
#[derive(Debug, Args)]
pub(super) struct Invalidate {
    /// Client configuration (TOML) of the partner that filed the declaration.
    #[arg(long)]
    config: PathBuf,
    /// The declaration id (its message id, from the receipt of `submit`).
    declaration_id: String,
    /// Why (1 to 512 characters); kept with the declaration.
    #[arg(long)]
    reason: String,
}

impl Invalidate {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let label = format!("Invalidation of {}", self.declaration_id);
        let invalidation = Invalidation {
            reason: self.reason,
        };
        let (verdict, _) = submit_message(
            &self.config,
            MessageType::Invalidation,
            &invalidation,
            &self.declaration_id,
            &label,
        )
        .await?;
        Ok(verdict)
    }
}

/// Print what the gateway delivered to this participant, each signature checked.
///
/// A partner receives its outcomes; an internal participant everything its administration
/// received or issued. Every envelope's signature is checked against the trust list, and
/// the exit status is 1 when one fails.
#[derive(Debug, Args)]
pub(super) struct Fetch {
    /// Client configuration (TOML), as written by `aedgate pki init`.
    #[arg(long)]
    config: PathBuf,
    /// Only deliveries after this seq (the last one already processed).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    after: u64,
    /// Keep the stream open and print new deliveries as they are committed.
    #[arg(long)]
    follow: bool,
}

impl Fetch {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let Self {
            config,
            after,
            follow,
        } = self;
        let (participant, trust_version) = connect(&config).await?;
        let mut stream = participant
            .fetch(after, follow)
            .await
            .map_err(|status| CliError::FetchRefused(ClientError::Refused(status)))?;
        let (mut last, mut count, mut unverified) = (after, 0u64, 0u64);
        if follow {
            println!(
                "Following deliveries to {} after seq {after} (Ctrl-C to stop)",
                participant.id
            );
        }
        loop {
            let delivery = match stream.message().await {
                Ok(Some(delivery)) => delivery,
                Ok(None) => break,
                Err(status) => {
                    return Err(CliError::FetchEnded {
                        last,
                        error: ClientError::Refused(status),
                    })
                }
            };
            if !print_delivery(&participant, &delivery, trust_version) {
                unverified += 1;
            }
            last = delivery.seq;
            count += 1;
        }
        if count == 0 {
            println!("No deliveries to {} after seq {after}.", participant.id);
        } else {
            println!(
                "{} to {}; last seq {last} (next time: --after {last}).",
                plural(count, "delivery", "deliveries"),
                participant.id
            );
        }
        if unverified > 0 {
            println!(
                "{} failed the signature check: do not act on {}.",
                plural(unverified, "delivery", "deliveries"),
                if unverified == 1 { "it" } else { "them" }
            );
        }
        Ok(Verdict::negative_if(unverified > 0))
    }
}

/// Report goods of a released declaration that left again (RETURN_NOTICE, §12), from a JSON
/// file (docs/return-json.md), and print the signed refund decision that answers it.
#[derive(Debug, Args)]
pub(super) struct Return {
    /// Client configuration (TOML) of the partner that filed the declaration.
    #[arg(long)]
    config: PathBuf,
    /// The declaration id (its message id, from the receipt of `submit`).
    declaration_id: String,
    /// The return notice, as JSON: which items and how many units, why, how they left.
    notice: PathBuf,
}

impl Return {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let notice = crate::formats::return_notice::from_json(&read_text(&self.notice)?)
            .map_err(not_of_form(&self.notice))?;
        let (mut participant, trust_version) = connect(&self.config).await?;
        let label = format!("Return notice for {}", self.declaration_id);
        let (verdict, receipt) = seal_and_send(
            &mut participant,
            trust_version,
            MessageType::ReturnNotice,
            &notice,
            &self.declaration_id,
            &label,
        )
        .await?;
        let Some(receipt) = receipt else {
            return Ok(verdict);
        };
        // The refund decision is committed with the notice.
        let answered = print_answer(
            &participant,
            trust_version,
            MessageType::RefundDecision,
            &receipt.message_id,
        )
        .await?;
        Ok(verdict.and(answered))
    }
}

/// Finds the latest delivery of `message_type` answering `correlation_id` and prints it,
/// checked as evidence. Returns whether it was found and verified. Reads the partner's
/// deliveries from the start, as `respond` does: meant for a person at a terminal, not for
/// an integration, which follows `fetch` instead.
async fn print_answer(
    participant: &Participant,
    trust_version: u64,
    message_type: MessageType,
    correlation_id: &str,
) -> Result<bool, CliError> {
    let deliveries = participant
        .fetch_all(0)
        .await
        .map_err(|status| CliError::FetchRefused(ClientError::Refused(status)))?;
    let answer = deliveries.iter().rev().find(|d| {
        d.envelope
            .as_ref()
            .and_then(|e| e.header.as_ref())
            .is_some_and(|h| h.r#type == message_type as i32 && h.correlation_id == correlation_id)
    });
    match answer {
        Some(delivery) => Ok(print_delivery(participant, delivery, trust_version)),
        None => {
            println!(
                "No {} for {correlation_id} has been delivered yet; it arrives by `aedgate fetch`.",
                type_name(message_type as i32)
            );
            Ok(true)
        }
    }
}

/// Checks and prints one delivery; returns whether it verified.
fn print_delivery(participant: &Participant, delivery: &Delivery, trust_version: u64) -> bool {
    let envelope = delivery.envelope.clone().unwrap_or_default();
    let check = check_delivery(participant.trust(), &participant.gateway, &envelope);
    // A blank line after each, so that deliveries read as separate records.
    println!("{}\n", describe_delivery(delivery, &check, trust_version));
    check.is_ok()
}

/// Answer a referral (REQUEST_FOR_INFORMATION or REQUEST_FOR_SCREENING) of an outcome
/// delivered to this partner.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("answer").required(true).args(["information", "screening"])))]
pub(super) struct Respond {
    /// Client configuration (TOML) of the partner the outcome was delivered to.
    #[arg(long)]
    config: PathBuf,
    /// The referral id of the outcome, e.g. 26NL00000000000017-R1.
    referral_id: String,
    /// The information asked for by a request for information.
    #[arg(long)]
    information: Option<String>,
    /// The result of the screening asked for by a request for screening.
    #[arg(long, value_enum)]
    screening: Option<ScreeningArg>,
}

impl Respond {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let referral_id = self.referral_id.as_str();
        let (mut participant, trust_version) = connect(&self.config).await?;
        let deliveries = participant
            .fetch_all(0)
            .await
            .map_err(|status| CliError::FetchRefused(ClientError::Refused(status)))?;
        // The response names the OUTCOME that asked in its correlation id; the latest
        // outcome carrying the referral is that one (a referral id is issued once).
        let asked = deliveries
            .iter()
            .rev()
            .filter_map(|d| d.envelope.as_ref())
            .find_map(|envelope| {
                outcome_of(envelope)
                    .filter(|o| o.referral_id == referral_id)
                    .map(|o| (envelope, o))
            });
        let Some((envelope, outcome)) = asked else {
            return Err(CliError::NoSuchReferral {
                participant: participant.id.clone(),
                referral_id: referral_id.to_owned(),
            });
        };
        let outcome_id = envelope
            .header
            .as_ref()
            .map(|h| h.message_id.clone())
            .unwrap_or_default();
        let response = ReferralResponse {
            referral_id: referral_id.to_owned(),
            information: self.information.unwrap_or_default(),
            screening: self
                .screening
                .map_or(ScreeningResult::Unspecified, ScreeningResult::from)
                as i32,
        };
        let label = format!(
            "Response to referral {referral_id} ({} of LRN {}, MRN {})",
            code_name(outcome.code),
            outcome.lrn,
            outcome.mrn
        );
        let (verdict, receipt) = seal_and_send(
            &mut participant,
            trust_version,
            MessageType::ReferralResponse,
            &response,
            &outcome_id,
            &label,
        )
        .await?;
        if receipt.is_some() {
            println!(
                "The declaration is re-assessed; the next outcome arrives by `aedgate fetch`, its state by `aedgate status {}`.",
                outcome.declaration_id
            );
        }
        Ok(verdict)
    }
}

/// A screening result as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ScreeningArg {
    /// Screened and nothing found: the consignment may be loaded.
    Clear,
    /// Screening found a threat: the gateway answers with DO_NOT_LOAD.
    NotClear,
}

impl From<ScreeningArg> for ScreeningResult {
    fn from(arg: ScreeningArg) -> Self {
        match arg {
            ScreeningArg::Clear => ScreeningResult::Clear,
            ScreeningArg::NotClear => ScreeningResult::NotClear,
        }
    }
}

/// Ask the gateway for a declaration's state (its sender or an internal participant).
#[derive(Debug, Args)]
pub(super) struct Status {
    /// Client configuration (TOML), as written by `aedgate pki init`.
    #[arg(long)]
    config: PathBuf,
    /// The declaration id (its message id, from the receipt of `submit`).
    declaration_id: String,
}

impl Status {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let (participant, _) = connect(&self.config).await?;
        match participant
            .grpc()
            .status(StatusRequest {
                declaration_id: self.declaration_id.clone(),
            })
            .await
        {
            Ok(response) => {
                println!("{}", describe_status(response.get_ref()));
                Ok(Verdict::Positive)
            }
            Err(status) => {
                println!(
                    "Declaration {}: {}",
                    self.declaration_id,
                    describe_refusal(&status)
                );
                Ok(Verdict::Negative)
            }
        }
    }
}
