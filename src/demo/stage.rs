//! The stage: a development federation in a temporary folder, the gateways of adm/NL and
//! adm/BE on it, and the participants who act in the chapters, connected. Also the few
//! things more than one chapter does: wait for an outbox to be delivered, file a
//! declaration, read its outcomes and print one as its partner fetched it, answer a
//! referral, tell a declaration's state.

use super::audit::verify_offline;
use super::{BE, FLYFAST, NL, RISK_UNIT, SHOPCO};
use crate::client::{check_delivery, outcome_of, ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::revenue::RevenuePolicy;
use crate::core::trust::{AgreementEntry, Exchange};
use crate::pki::PkiSpec;
use crate::proto::v1::{
    AdvanceDeclaration, Delivery, Envelope, MessageType, Outcome, Receipt, ReferralResponse,
    ScreeningResult, SignedTreeHead, StatusRequest, StatusResponse,
};
use crate::render::{
    code_name, describe_agreement, describe_charges, indent, outcome_facts, short_name,
    state_in_brief, state_name, wrap,
};
use crate::server::RunningGateway;
use crate::store::{OutboxEntry, OutboxState};
use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

/// The postal operator, registered with Belgium only, which tries adm/NL.
const BPOST: &str = "ptr/BE/bpost-demo";
/// adm/BE's risk unit.
const BE_RISK_UNIT: &str = "adm/BE/risk-unit";

/// Everything the chapters act on. The folder is deleted when the stage is dropped, after
/// the gateways have stopped.
pub(super) struct Stage {
    dir: TempDir,
    /// The gateway of adm/NL, where the partners file.
    pub(super) nl: RunningGateway,
    /// The gateway of adm/BE, adm/NL's peer under the agreement.
    pub(super) be: RunningGateway,
    /// adm/NL's store, verified offline at the end.
    data_dir: PathBuf,
    be_data_dir: PathBuf,
    /// The key adm/NL signs receipts with.
    pub(super) key_id: String,
    /// The trust list version every signature is checked against.
    pub(super) trust_version: u64,
    /// The marketplace, registered with both administrations, at adm/NL.
    pub(super) shopco: Participant,
    /// The carrier, at adm/NL.
    pub(super) flyfast: Participant,
    /// The postal operator registered with Belgium only, trying adm/NL.
    pub(super) bpost: Participant,
    /// adm/NL's risk unit, also the witness of its log.
    pub(super) risk_unit: Participant,
    /// adm/BE's risk unit.
    pub(super) be_risk_unit: Participant,
    /// ShopCo at adm/BE, where its forwarded declaration is assessed.
    pub(super) shopco_at_be: Participant,
    /// The agreement between adm/NL and adm/BE.
    pub(super) agreement: AgreementEntry,
    /// adm/NL's revenue policy (§11) as its gateway loaded it, so that the revenue chapter
    /// states the rules the charges come from and checks the refunds against them.
    pub(super) nl_revenue: Option<Arc<RevenuePolicy>>,
}

impl Stage {
    /// Writes the federation, starts both gateways and connects every participant.
    pub(super) async fn start() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("aedgate-demo-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let pki = crate::pki::generate(PkiSpec::standard()).map_err(|e| e.to_string())?;
        pki.write(dir.path(), false).map_err(|e| e.to_string())?;
        let config = gateway_config(dir.path(), NL)?;
        let be_config = gateway_config(dir.path(), BE)?;
        let data_dir = config.data_dir.clone();
        let be_data_dir = be_config.data_dir.clone();
        let key_id = config.signer.key_id.clone();
        let trust_version = config.trust.version();
        let nl_revenue = config.revenue.clone();
        // Both gateways run, and know where the other listens, before anything is
        // published: every message for the peer is delivered at the first attempt.
        let nl = crate::server::start(config)
            .await
            .map_err(|e| e.to_string())?;
        let be = crate::server::start(be_config)
            .await
            .map_err(|e| e.to_string())?;
        let endpoint = format!("https://{}", nl.local_addr());
        let be_endpoint = format!("https://{}", be.local_addr());
        nl.set_peer_endpoint(BE, &be_endpoint);
        be.set_peer_endpoint(NL, &endpoint);

        let shopco = client(dir.path(), SHOPCO, &endpoint, NL).await?;
        let flyfast = client(dir.path(), FLYFAST, &endpoint, NL).await?;
        let bpost = client(dir.path(), BPOST, &endpoint, NL).await?;
        let risk_unit = client(dir.path(), RISK_UNIT, &endpoint, NL).await?;
        let be_risk_unit = client(dir.path(), BE_RISK_UNIT, &be_endpoint, BE).await?;
        // ShopCo is registered with both administrations; its one client configuration is
        // for adm/NL, pointed here at adm/BE.
        let shopco_at_be = client(dir.path(), SHOPCO, &be_endpoint, BE).await?;
        let agreement = shopco
            .trust()
            .agreement(NL, BE, Exchange::RiskIndicator)
            .cloned()
            .ok_or("the federation has no agreement between adm/NL and adm/BE")?;
        Ok(Self {
            dir,
            nl,
            be,
            data_dir,
            be_data_dir,
            key_id,
            trust_version,
            shopco,
            flyfast,
            bpost,
            risk_unit,
            be_risk_unit,
            shopco_at_be,
            agreement,
            nl_revenue,
        })
    }

    /// The opening of the report: the federation, its gateways, agreement and partners.
    pub(super) fn introduce(&self) {
        let name = |id: &str| {
            self.shopco
                .trust()
                .participant(id)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| id.to_owned())
        };
        let (nl_name, be_name) = (name(NL), name(BE));
        println!("aedgate demo");
        println!("============");
        println!(
            "Federation wco-ecom.test, development PKI in {} (deleted at exit)",
            self.dir.path().display()
        );
        println!(
            "Gateway of {nl_name} (adm/NL) on {}: mutual TLS 1.3, store {}",
            self.nl.local_addr(),
            self.data_dir.display()
        );
        println!(
            "Gateway of {be_name} (adm/BE) on {}: mutual TLS 1.3, store {}",
            self.be.local_addr(),
            self.be_data_dir.display()
        );
        println!(
            "{}",
            wrap(
                &format!("Agreement {}", describe_agreement(&self.agreement)),
                0,
                100
            )
        );
        println!("Partners: ShopCo B.V. (marketplace registered with NL and BE, Ed25519 key),");
        println!("          FlyFast Express (carrier, ECDSA P-256 key),");
        println!("          Demo Post BE (postal operator registered with Belgium only)\n");
    }

    /// Stops both gateways, then recomputes adm/NL's log from its store as an operator
    /// would, against the head the witness kept. The participants stay connected until the
    /// gateways have stopped, as they would in the field.
    pub(super) async fn finish(self, witnessed: &SignedTreeHead) -> Result<(), String> {
        let Self {
            nl, be, data_dir, ..
        } = self;
        be.shutdown().await.map_err(|e| e.to_string())?;
        nl.shutdown().await.map_err(|e| e.to_string())?;
        verify_offline(&data_dir, witnessed).await
    }
}

/// Connects as `id` to `gateway` at `endpoint`, with the client configuration the
/// federation in `dir` has for `id`.
async fn client(
    dir: &Path,
    id: &str,
    endpoint: &str,
    gateway: &str,
) -> Result<Participant, String> {
    let path = dir.join(format!("{}.client.toml", crate::core::ids::slug(id)));
    let mut config = ClientConfig::load(&path).map_err(|e| e.to_string())?;
    config.endpoint = endpoint.to_owned();
    config.gateway = gateway.to_owned();
    Participant::connect(config)
        .await
        .map_err(|e| e.to_string())
}

/// A gateway configuration of the federation in `dir`, moved to a free port.
fn gateway_config(dir: &Path, admin: &str) -> Result<GatewayConfig, String> {
    let path = dir.join(format!("{}.gateway.toml", crate::core::ids::slug(admin)));
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let text: Vec<&str> = text
        .lines()
        .map(|line| {
            if line.starts_with("listen = ") {
                "listen = \"127.0.0.1:0\""
            } else {
                line
            }
        })
        .collect();
    std::fs::write(&path, text.join("\n") + "\n").map_err(|e| e.to_string())?;
    GatewayConfig::load(&path).map_err(|e| e.to_string())
}

/// Waits until every message in the gateway's outbox is delivered (the forwarder announces
/// each result on the store's outbox signal); a dead letter or a minute without delivery
/// is an error.
pub(super) async fn delivered(
    gateway: &RunningGateway,
    admin: &str,
) -> Result<Vec<OutboxEntry>, String> {
    let store = &gateway.state().store;
    let mut signal = store.outbox_signal();
    let wait = async {
        loop {
            signal.borrow_and_update();
            let entries = store.outbox(None).await.map_err(|e| e.to_string())?;
            if let Some(dead) = entries
                .iter()
                .find(|e| e.state == OutboxState::DeadLettered)
            {
                return Err(format!(
                    "{admin} could not deliver {} to {}: {}",
                    dead.message_id, dead.peer, dead.last_error
                ));
            }
            if entries.iter().all(|e| e.state == OutboxState::Delivered) {
                return Ok(entries);
            }
            if signal.changed().await.is_err() {
                return Err(format!("the store of {admin} closed"));
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .map_err(|_| format!("the outbox of {admin} was not delivered within a minute"))?
}

/// A refused call in the demo's words: the status, its reason and message.
pub(super) fn refused(status: tonic::Status) -> String {
    ClientError::Refused(status).to_string()
}

/// Everything delivered to `p` so far: for an internal participant, its administration's
/// whole log.
pub(super) async fn read_log(p: &Participant) -> Result<Vec<Delivery>, String> {
    p.fetch_all(0).await.map_err(refused)
}

/// The state of a declaration, as its filer (or an internal participant) asks for it.
pub(super) async fn status_of(p: &Participant, id: &str) -> Result<StatusResponse, String> {
    let request = StatusRequest {
        declaration_id: id.to_owned(),
    };
    Ok(p.grpc()
        .status(request)
        .await
        .map_err(refused)?
        .into_inner())
}

/// Submits `envelope` as `p`; a refusal ends the demo, naming `what` was refused.
pub(super) async fn submit(
    p: &mut Participant,
    envelope: Envelope,
    what: impl std::fmt::Display,
) -> Result<Receipt, String> {
    p.submit(envelope)
        .await
        .map_err(|e| format!("{what} refused: {e}"))
}

/// The outcomes delivered to `p` for a declaration, in order, with their seq.
pub(super) async fn outcomes_for(
    p: &Participant,
    declaration_id: &str,
) -> Result<Vec<(u64, Envelope, Outcome)>, String> {
    Ok(read_log(p)
        .await?
        .into_iter()
        .filter_map(|d| {
            let envelope = d.envelope?;
            let outcome = outcome_of(&envelope)?;
            (outcome.declaration_id == declaration_id).then_some((d.seq, envelope, outcome))
        })
        .collect())
}

/// Prints an outcome as its partner fetched it from `p.gateway` (named after "fetched by"
/// when `from` is not empty), signature-checked, with its request text if `text`.
pub(super) fn print_outcome(
    p: &Participant,
    from: &str,
    seq: u64,
    envelope: &Envelope,
    outcome: &Outcome,
    text: bool,
) {
    let check = match check_delivery(p.trust(), &p.gateway, envelope) {
        Ok(key_id) => format!("signature verified ({key_id})"),
        Err(why) => format!("SIGNATURE NOT VERIFIED: {why}"),
    };
    println!(
        "   ← OUTCOME {}, fetched by {}{from} as seq {seq}, {check}",
        code_name(outcome.code),
        p.id
    );
    println!("     {}", outcome_facts(outcome));
    if text && !outcome.request_text.is_empty() {
        println!("{}", wrap(&format!("“{}”", outcome.request_text), 5, 100));
    }
    if let Some(total) = &outcome.total_due {
        let charges = describe_charges(
            "charges",
            &outcome.charges,
            total,
            "Total due at the border",
        );
        println!("{}", indent(&charges, 3));
    }
}

/// Files a declaration as `p` and says where it was stored; returns its id.
pub(super) async fn file(p: &mut Participant, d: &AdvanceDeclaration) -> Result<String, String> {
    let envelope = p.seal_declaration(d);
    let receipt = submit(p, envelope, format_args!("LRN {}", d.lrn)).await?;
    println!(
        "   ACCEPTED as log entry {}, declaration id {}",
        receipt.log_index, receipt.message_id
    );
    Ok(receipt.message_id)
}

/// Prints the outcome number `n` (from 0) of a declaration as its partner fetched it, and
/// returns it.
pub(super) async fn follow(p: &Participant, id: &str, n: usize) -> Result<Outcome, String> {
    let outcomes = outcomes_for(p, id).await?;
    let Some((seq, envelope, outcome)) = outcomes.get(n) else {
        return Err(format!("no outcome {} for declaration {id}", n + 1));
    };
    print_outcome(p, "", *seq, envelope, outcome, true);
    Ok(outcome.clone())
}

/// What the partner does with an outcome that asks something of it.
pub(super) enum Answer<'a> {
    Information(&'a str),
    Screening(ScreeningResult),
}

/// Answers the open referral of a declaration, naming the outcome that asked, and prints
/// the answer.
pub(super) async fn answer(
    p: &mut Participant,
    id: &str,
    filer: &str,
    answer: Answer<'_>,
) -> Result<(), String> {
    let outcomes = outcomes_for(p, id).await?;
    let Some((_, envelope, outcome)) = outcomes.last() else {
        return Err(format!("no outcome for declaration {id}"));
    };
    let asked_by = envelope
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default();
    let (response, said) = match answer {
        Answer::Information(text) => (
            ReferralResponse {
                referral_id: outcome.referral_id.clone(),
                information: text.into(),
                ..Default::default()
            },
            format!("“{text}”"),
        ),
        Answer::Screening(result) => (
            ReferralResponse {
                referral_id: outcome.referral_id.clone(),
                screening: result as i32,
                ..Default::default()
            },
            format!(
                "screened (X-ray and explosives trace detection): {}",
                short_name::<ScreeningResult>(result as i32)
            ),
        ),
    };
    let envelope = p.seal(
        MessageType::ReferralResponse,
        Bytes::from(response.encode_to_vec()),
        &asked_by,
    );
    let what = format!("answer to {}", outcome.referral_id);
    let receipt = submit(p, envelope, what).await?;
    println!(
        "   → {filer} answers referral {} (log entry {}):",
        outcome.referral_id, receipt.log_index
    );
    println!("{}", wrap(&said, 5, 100));
    Ok(())
}

/// Asks for a declaration's state as its filer and prints it in an officer's words.
pub(super) async fn print_status(p: &Participant, id: &str) -> Result<StatusResponse, String> {
    let status = status_of(p, id).await?;
    println!(
        "   Status: {} — {}",
        state_name(status.state),
        state_in_brief(status.state)
    );
    Ok(status)
}
