//! The connections a conformance run holds and the helpers checks are written with, so
//! that each check reads as the conversation it has with the gateway: craft, send, compare
//! with the contract.

use super::profile::Profile;
use super::Need;
use crate::client::{ClientError, Participant};
use crate::clock::now_ms;
use crate::core::envelope::{envelope_digest, envelope_signing_input, sha256, Draft};
use crate::core::revenue::RevenuePolicy;
use crate::core::risk::seller_indicator;
use crate::core::trust::SignatureError;
use crate::proto::v1::{
    AdvanceDeclaration, Delivery, Disposition, Envelope, MessageType, Outcome, OutcomeCode,
    Receipt, RefundDecision, RiskIndicator, RiskIndicatorRevocation, StatusRequest, StatusResponse,
    Tlp,
};
use crate::render::refusal_line;
use bytes::Bytes;
use prost::Message;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tonic::Code;

/// How long a check waits for an outcome the gateway owes it.
pub const OUTCOME_WAIT: Duration = Duration::from_secs(20);

/// Why the revenue and return checks are skipped: without the target's policy the kit
/// cannot know what it should charge, and a target without one charges nothing (§11).
pub const NO_REVENUE_POLICY: &str = "the profile names no revenue policy (§11)";

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A credential of the profile could not connect to the target.
    #[error("cannot connect to {target} as {role}: {source}")]
    Connect {
        /// Where.
        target: String,
        /// Which credential.
        role: &'static str,
        /// Why.
        source: ClientError,
    },
    /// The partner's deliveries could not be read, so outcomes cannot be awaited.
    #[error("cannot read the partner's deliveries with Fetch: {0}")]
    Fetch(String),
}

/// How a check ends early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The gateway broke the rule: what it did instead.
    Fail(String),
    /// The check could not run (the profile lacks something it needs).
    Skip(String),
}

/// An envelope's message id ("" without a header).
pub fn message_id(envelope: &Envelope) -> String {
    envelope
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default()
}

impl Stop {
    /// The same stop, a failure's reason preceded by what was being done (`what: why`).
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        match self {
            Stop::Fail(why) => Stop::Fail(format!("{what}: {why}")),
            other => other,
        }
    }
}

/// Shorthand for a failed check.
pub fn fail<T>(reason: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(reason.into()))
}

/// The `BadRequest` field paths of a status.
pub fn violation_paths(status: &tonic::Status) -> BTreeSet<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// What the partner has been delivered since the run started, filled by a follower.
#[derive(Debug, Default)]
struct Inbox {
    deliveries: Mutex<Vec<Delivery>>,
    /// Why following stopped, if it did.
    broken: Mutex<Option<String>>,
}

/// The connections of one run.
#[derive(Debug)]
pub struct Kit {
    /// The administration tested.
    pub target: String,
    /// Its country code, the destination of every declaration the kit files (so that
    /// nothing is forwarded to a peer).
    pub country: String,
    /// Prefix of every LRN, seller id and indicator id of this run.
    pub run_id: String,
    /// The partner registered with the target.
    pub partner: Participant,
    /// The target's internal participant.
    pub internal: Option<Participant>,
    /// A second registered partner.
    pub second_partner: Option<Participant>,
    /// A partner not registered with the target.
    pub unregistered_partner: Option<Participant>,
    /// The target's payload limit.
    pub max_payload_bytes: usize,
    /// The target's revenue policy (§11), if the profile names one.
    pub revenue: Option<Arc<RevenuePolicy>>,
    inbox: Arc<Inbox>,
    inbox_changed: watch::Receiver<u64>,
    follower: tokio::task::JoinHandle<()>,
}

impl Kit {
    /// Connects every credential of the profile to `address` (`host:port`) and starts
    /// following the partner's deliveries from their current end.
    pub async fn connect(profile: Profile, address: &str) -> Result<Arc<Self>, KitError> {
        let endpoint = format!("https://{address}");
        let connect = |role: &'static str, mut config: crate::config::ClientConfig| {
            config.endpoint = endpoint.clone();
            async move {
                Participant::connect(config)
                    .await
                    .map_err(|source| KitError::Connect {
                        target: address.to_owned(),
                        role,
                        source,
                    })
            }
        };
        let target = profile.target.clone();
        let max_payload_bytes = profile.max_payload_bytes;
        let revenue = profile.revenue.map(Arc::new);
        let partner = connect("partner", profile.partner).await?;
        let internal = match profile.internal {
            Some(c) => Some(connect("internal", c).await?),
            None => None,
        };
        let second_partner = match profile.second_partner {
            Some(c) => Some(connect("second_partner", c).await?),
            None => None,
        };
        let unregistered_partner = match profile.unregistered_partner {
            Some(c) => Some(connect("unregistered_partner", c).await?),
            None => None,
        };
        let high_water = last_seq(&partner).await?;
        let inbox = Arc::new(Inbox::default());
        let (changed_tx, inbox_changed) = watch::channel(0u64);
        let follower = tokio::spawn(follow(
            partner.clone(),
            high_water,
            inbox.clone(),
            changed_tx,
        ));
        let run = uuid::Uuid::now_v7().simple().to_string();
        Ok(Arc::new(Self {
            country: target.strip_prefix("adm/").unwrap_or_default().to_owned(),
            target,
            run_id: run[run.len() - 8..].to_owned(),
            partner,
            internal,
            second_partner,
            unregistered_partner,
            max_payload_bytes,
            revenue,
            inbox,
            inbox_changed,
            follower,
        }))
    }

    /// Stops following deliveries.
    pub fn close(&self) {
        self.follower.abort();
    }

    /// What of `needs` the profile lacks, as a reason to skip.
    pub fn missing(&self, needs: &[Need]) -> Option<String> {
        needs.iter().find_map(|need| match need {
            Need::Internal if self.internal.is_none() => {
                Some("the profile names no internal participant".to_owned())
            }
            Need::SecondPartner if self.second_partner.is_none() => {
                Some("the profile names no second partner".to_owned())
            }
            Need::UnregisteredPartner if self.unregistered_partner.is_none() => {
                Some("the profile names no unregistered partner".to_owned())
            }
            Need::Revenue if self.revenue.is_none() => Some(NO_REVENUE_POLICY.to_owned()),
            _ => None,
        })
    }

    /// A fresh context for one check.
    pub fn case(self: &Arc<Self>, check_id: &str) -> Case {
        Case {
            kit: self.clone(),
            tag: check_id.replace('-', ""),
            counter: Arc::new(AtomicU32::new(0)),
            indicators: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Revokes the indicators a check published, whatever became of the check.
    pub async fn clean_up(&self, published: &Arc<Mutex<Vec<String>>>) {
        let ids = published
            .lock()
            .map(|mut ids| std::mem::take(&mut *ids))
            .unwrap_or_default();
        let Some(internal) = &self.internal else {
            return;
        };
        for indicator_id in ids {
            let envelope = revocation(internal, &indicator_id, "conformance check finished");
            if let Err(error) = internal.grpc().submit(envelope).await {
                tracing::warn!(%indicator_id, "conformance indicator not revoked: {}", refusal_line(&error));
            }
        }
    }
}

/// A revocation of one of the kit's indicators, sealed by the internal participant.
fn revocation(internal: &Participant, indicator_id: &str, reason: &str) -> Envelope {
    let payload = RiskIndicatorRevocation {
        indicator_id: indicator_id.to_owned(),
        reason: reason.to_owned(),
    };
    internal.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(payload.encode_to_vec()),
        "",
    )
}

/// The highest seq delivered to `partner` so far.
async fn last_seq(partner: &Participant) -> Result<u64, KitError> {
    let fetch_error = |s: tonic::Status| KitError::Fetch(refusal_line(&s));
    let deliveries = partner.fetch_all(0).await.map_err(fetch_error)?;
    Ok(deliveries.iter().map(|d| d.seq).max().unwrap_or(0))
}

async fn follow(
    partner: Participant,
    after_seq: u64,
    inbox: Arc<Inbox>,
    changed: watch::Sender<u64>,
) {
    let broken = |why: String| {
        if let Ok(mut slot) = inbox.broken.lock() {
            *slot = Some(why);
        }
        changed.send_modify(|n| *n += 1);
    };
    let mut stream = match partner.fetch(after_seq, true).await {
        Ok(stream) => stream,
        Err(status) => return broken(refusal_line(&status)),
    };
    loop {
        match stream.message().await {
            Ok(Some(delivery)) => {
                if let Ok(mut deliveries) = inbox.deliveries.lock() {
                    deliveries.push(delivery);
                }
                changed.send_modify(|n| *n += 1);
            }
            Ok(None) => return broken("the Fetch stream (follow = true) ended".into()),
            Err(status) => return broken(refusal_line(&status)),
        }
    }
}

/// One check's view of the run: fresh identifiers, crafting and sending helpers, and the
/// indicators it published (revoked when it ends).
#[derive(Debug, Clone)]
pub struct Case {
    kit: Arc<Kit>,
    tag: String,
    counter: Arc<AtomicU32>,
    indicators: Arc<Mutex<Vec<String>>>,
}

impl Case {
    /// The run's connections.
    pub fn kit(&self) -> &Kit {
        &self.kit
    }

    /// The partner.
    pub fn partner(&self) -> &Participant {
        &self.kit.partner
    }

    /// The internal participant (checks that need one declare it, so it is there).
    pub fn internal(&self) -> Result<&Participant, Stop> {
        self.kit
            .internal
            .as_ref()
            .ok_or_else(|| Stop::Skip("the profile names no internal participant".into()))
    }

    /// The second partner.
    pub fn second_partner(&self) -> Result<&Participant, Stop> {
        self.kit
            .second_partner
            .as_ref()
            .ok_or_else(|| Stop::Skip("the profile names no second partner".into()))
    }

    /// The unregistered partner.
    pub fn unregistered_partner(&self) -> Result<&Participant, Stop> {
        self.kit
            .unregistered_partner
            .as_ref()
            .ok_or_else(|| Stop::Skip("the profile names no unregistered partner".into()))
    }

    /// The target's revenue policy (checks that need one declare it, so it is there).
    pub fn revenue(&self) -> Result<&RevenuePolicy, Stop> {
        self.kit
            .revenue
            .as_deref()
            .ok_or_else(|| Stop::Skip(NO_REVENUE_POLICY.into()))
    }

    /// A fresh tag of this run and check, for names the kit makes unique (a buyer's name,
    /// a return's house reference), so that reruns against one gateway never meet.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}{}{}{}", self.kit.run_id, self.tag, self.next())
    }

    /// Who ends up revoking this check's indicators.
    pub fn cleanup_handle(&self) -> Arc<Mutex<Vec<String>>> {
        self.indicators.clone()
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A fresh LRN, unique to this run and check.
    pub fn lrn(&self) -> String {
        format!("{}{}{}", self.kit.run_id, self.tag, self.next())
    }

    /// A fresh seller identifier (≤ 17 characters), the only criterion of the kit's
    /// indicators, so that they match the kit's own declarations and nothing else.
    pub fn seller_id(&self) -> String {
        format!("K{}{}{}", self.kit.run_id, self.tag, self.next())
    }

    /// A valid declaration with a fresh LRN and seller id, destined for the target's
    /// country.
    pub fn declaration(&self) -> AdvanceDeclaration {
        let mut declaration = crate::core::validation::sample_declaration(&self.lrn());
        declaration.country_of_destination = self.kit.country.clone();
        if let Some(buyer) = declaration.buyer.as_mut() {
            buyer.country = self.kit.country.clone();
        }
        if let Some(seller) = declaration.seller.as_mut() {
            seller.identifier = self.seller_id();
        }
        declaration.platform_id = self.kit.partner.id.clone();
        declaration
    }

    /// A draft from `sender` to the target, created now, with a fresh message id.
    pub fn draft_from(
        &self,
        sender: &Participant,
        message_type: MessageType,
        payload: Bytes,
        correlation_id: &str,
    ) -> Draft {
        Draft {
            message_id: uuid::Uuid::now_v7().hyphenated().to_string(),
            sender: sender.id.clone(),
            recipient: self.kit.target.clone(),
            message_type: message_type as i32,
            created_at_ms: now_ms(),
            correlation_id: correlation_id.to_owned(),
            payload,
        }
    }

    /// A draft of `declaration` from the partner.
    pub fn declaration_draft(&self, declaration: &AdvanceDeclaration) -> Draft {
        self.draft_from(
            &self.kit.partner,
            MessageType::Declaration,
            Bytes::from(declaration.encode_to_vec()),
            "",
        )
    }

    /// A sealed declaration from the partner.
    pub fn seal_declaration(&self, declaration: &AdvanceDeclaration) -> Envelope {
        self.kit.partner.sign(self.declaration_draft(declaration))
    }

    /// Sends an envelope with `Submit` as `who`, returning the raw answer.
    pub async fn submit_as(
        &self,
        who: &Participant,
        envelope: Envelope,
    ) -> Result<Receipt, tonic::Status> {
        who.grpc().submit(envelope).await.map(|r| r.into_inner())
    }

    /// Sends an envelope with `Submit` as the partner.
    pub async fn submit(&self, envelope: Envelope) -> Result<Receipt, tonic::Status> {
        self.submit_as(&self.kit.partner, envelope).await
    }

    /// Seals and files a valid declaration as the partner; fails the check unless it is
    /// accepted with a receipt that is valid evidence.
    pub async fn file(
        &self,
        declaration: &AdvanceDeclaration,
    ) -> Result<(Envelope, Receipt), Stop> {
        let envelope = self.seal_declaration(declaration);
        let receipt = self
            .expect_accepted(
                &self.kit.partner,
                &envelope,
                self.submit(envelope.clone()).await,
            )
            .map_err(|stop| stop.context("a valid declaration was not accepted"))?;
        Ok((envelope, receipt))
    }

    /// Requires a receipt with ACCEPTED that verifies for `envelope` against the trust list.
    pub fn expect_accepted(
        &self,
        sender: &Participant,
        envelope: &Envelope,
        answer: Result<Receipt, tonic::Status>,
    ) -> Result<Receipt, Stop> {
        let receipt =
            answer.or_else(|status| fail(format!("refused with {}", refusal_line(&status))))?;
        if let Err(problem) = sender.check_receipt(envelope, &receipt) {
            return fail(format!("the receipt is not valid evidence: {problem}"));
        }
        if receipt.disposition != Disposition::Accepted as i32 {
            return fail(format!(
                "receipt disposition {} where ACCEPTED (1) was due",
                receipt.disposition
            ));
        }
        Ok(receipt)
    }

    /// Requires a refusal with `code` and ErrorInfo `reason` (domain `aedgate`).
    pub fn expect_refused(
        &self,
        answer: Result<Receipt, tonic::Status>,
        code: Code,
        reason: &str,
    ) -> Result<tonic::Status, Stop> {
        match answer {
            Ok(receipt) => fail(format!(
                "accepted (receipt disposition {}, log index {}) where {code:?}/{reason} was due",
                receipt.disposition, receipt.log_index
            )),
            Err(status) => check_status(status, code, reason),
        }
    }

    /// Requires `VALIDATION_FAILED` naming exactly the field paths `expected`.
    pub fn expect_violations(
        &self,
        answer: Result<Receipt, tonic::Status>,
        expected: &[&str],
    ) -> Result<(), Stop> {
        let status = self.expect_refused(answer, Code::InvalidArgument, "VALIDATION_FAILED")?;
        let found = violation_paths(&status);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        let missing: Vec<_> = expected.difference(&found).cloned().collect();
        let extra: Vec<_> = found.difference(&expected).cloned().collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(());
        }
        fail(format!(
            "BadRequest field paths differ: missing {missing:?}, unexpected {extra:?}"
        ))
    }

    /// Publishes a TLP RED indicator matching only declarations of `seller_id`, as the
    /// internal participant, and returns its id. It is revoked when the check ends.
    pub async fn publish(&self, action: OutcomeCode, seller_id: &str) -> Result<String, Stop> {
        let indicator_id = format!(
            "conformance-{}-{}-{}",
            self.kit.run_id,
            self.tag,
            self.next()
        );
        self.publish_version(&indicator_id, 1, action, seller_id)
            .await?;
        Ok(indicator_id)
    }

    /// Publishes `version` of indicator `indicator_id`; fails the check unless accepted.
    pub async fn publish_version(
        &self,
        indicator_id: &str,
        version: u32,
        action: OutcomeCode,
        seller_id: &str,
    ) -> Result<(), Stop> {
        let internal = self.internal()?;
        let indicator = RiskIndicator {
            version,
            title: format!("Conformance kit indicator {indicator_id}"),
            rationale: "Published by aedgate conformance; matches only the kit's test sellers"
                .into(),
            tlp: Tlp::Red as i32,
            valid_until_ms: now_ms() + 3_600_000,
            ..seller_indicator(indicator_id, seller_id, action)
        };
        let envelope = internal.sign(self.draft_from(
            internal,
            MessageType::RiskIndicator,
            Bytes::from(indicator.encode_to_vec()),
            "",
        ));
        if let Ok(mut ids) = self.indicators.lock() {
            if !ids.iter().any(|i| i == indicator_id) {
                ids.push(indicator_id.to_owned());
            }
        }
        self.expect_accepted(
            internal,
            &envelope,
            self.submit_as(internal, envelope.clone()).await,
        )
        .map_err(|stop| {
            stop.context("the internal participant's risk indicator was not accepted")
        })?;
        Ok(())
    }

    /// Revokes an indicator now (rather than when the check ends).
    pub async fn revoke(&self, indicator_id: &str) -> Result<(), Stop> {
        let internal = self.internal()?;
        let envelope = revocation(internal, indicator_id, "conformance check: revocation");
        self.expect_accepted(
            internal,
            &envelope,
            self.submit_as(internal, envelope.clone()).await,
        )
        .map_err(|stop| stop.context("the revocation was not accepted"))?;
        if let Ok(mut ids) = self.indicators.lock() {
            ids.retain(|i| i != indicator_id);
        }
        Ok(())
    }

    /// Waits until the partner has been delivered at least `count` OUTCOMEs answering
    /// `declaration_id`, and returns them in delivery order, each verified as issued and
    /// signed by the target.
    pub async fn outcomes(
        &self,
        declaration_id: &str,
        count: usize,
    ) -> Result<Vec<(Envelope, Outcome)>, Stop> {
        self.issued(Issued::OUTCOME, declaration_id, count).await
    }

    /// Waits until the partner has been delivered at least `count` REFUND_DECISIONs
    /// answering the RETURN_NOTICE `notice_id` (§12), verified like [`Case::outcomes`].
    pub async fn refund_decisions(
        &self,
        notice_id: &str,
        count: usize,
    ) -> Result<Vec<(Envelope, RefundDecision)>, Stop> {
        self.issued(Issued::REFUND_DECISION, notice_id, count).await
    }

    async fn issued<M: Message + Default>(
        &self,
        kind: Issued,
        correlation_id: &str,
        count: usize,
    ) -> Result<Vec<(Envelope, M)>, Stop> {
        let mut changed = self.kit.inbox_changed.clone();
        let wait = async {
            loop {
                changed.borrow_and_update();
                let found = self.delivered(kind, correlation_id)?;
                if found.len() >= count {
                    return Ok(found);
                }
                if let Some(why) = self.kit.inbox.broken.lock().ok().and_then(|b| b.clone()) {
                    return fail(format!("cannot await {}s: {why}", kind.name));
                }
                if changed.changed().await.is_err() {
                    return fail(format!("cannot await {}s: the follower stopped", kind.name));
                }
            }
        };
        match tokio::time::timeout(OUTCOME_WAIT, wait).await {
            Ok(result) => result,
            Err(_) => {
                let found: Vec<(Envelope, M)> = self.delivered(kind, correlation_id)?;
                fail(format!(
                    "{} {}(s) for {} {correlation_id} delivered within {} s where {count} were due",
                    found.len(),
                    kind.name,
                    kind.answers,
                    OUTCOME_WAIT.as_secs()
                ))
            }
        }
    }

    /// Files a declaration that matches nothing and waits for its outcome. Deliveries to
    /// the partner are in seq order, so whatever the gateway issued to it before that
    /// declaration was answered has been delivered once this returns: the point after
    /// which a check may say an outcome was the only one.
    pub async fn settle(&self) -> Result<(), Stop> {
        let (marker, _) = self.file(&self.declaration()).await?;
        self.outcomes(&message_id(&marker), 1).await?;
        Ok(())
    }

    fn delivered<M: Message + Default>(
        &self,
        kind: Issued,
        correlation_id: &str,
    ) -> Result<Vec<(Envelope, M)>, Stop> {
        let envelopes: Vec<Envelope> = self
            .kit
            .inbox
            .deliveries
            .lock()
            .map(|d| d.iter().filter_map(|d| d.envelope.clone()).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for envelope in envelopes {
            let Some(header) = envelope.header.as_ref() else {
                continue;
            };
            if header.r#type != kind.message_type as i32 || header.correlation_id != correlation_id
            {
                continue;
            }
            if let Err(problem) = self.verify_issued(&envelope) {
                return fail(format!("{} {}: {problem}", kind.name, header.message_id));
            }
            let payload = M::decode(envelope.payload.clone()).or_else(|e| {
                fail(format!(
                    "{} {} payload is not {}: {e}",
                    kind.name, header.message_id, kind.payload
                ))
            })?;
            out.push((envelope, payload));
        }
        Ok(out)
    }

    /// Checks that an envelope was issued by the target to the partner: header, digest and
    /// the administration's signature, with a key valid at its creation time.
    pub fn verify_issued(&self, envelope: &Envelope) -> Result<(), String> {
        let header = envelope.header.as_ref().ok_or("no header")?;
        if header.sender != self.kit.target {
            return Err(format!(
                "sender {:?}, not {}",
                header.sender, self.kit.target
            ));
        }
        if header.recipient != self.kit.partner.id {
            return Err(format!(
                "recipient {:?}, not {}",
                header.recipient, self.kit.partner.id
            ));
        }
        if sha256(&envelope.payload)[..] != header.payload_sha256[..] {
            return Err("payload_sha256 does not match the payload".into());
        }
        let signature = envelope.signature.as_ref().ok_or("unsigned")?;
        self.kit
            .partner
            .trust()
            .verify_signature(
                &self.kit.target,
                &signature.key_id,
                header.created_at_ms,
                &envelope_signing_input(header),
                &signature.value,
            )
            .map_err(|problem| match problem {
                SignatureError::UnknownKey | SignatureError::KeyNotValid => format!(
                    "signed with {:?}, not a key of {} valid at created_at_ms",
                    signature.key_id, self.kit.target
                ),
                SignatureError::SignatureInvalid => format!(
                    "signature does not verify with {} (envelope digest {})",
                    signature.key_id,
                    hex::encode(envelope_digest(header))
                ),
            })
    }

    /// Asks `who` for the status of a declaration.
    pub async fn status_as(
        &self,
        who: &Participant,
        declaration_id: &str,
    ) -> Result<StatusResponse, tonic::Status> {
        who.grpc()
            .status(StatusRequest {
                declaration_id: declaration_id.to_owned(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Every delivery to `who` after `after_seq`, without following.
    pub async fn fetch_all(
        &self,
        who: &Participant,
        after_seq: u64,
    ) -> Result<Vec<Delivery>, Stop> {
        who.fetch_all(after_seq)
            .await
            .map_err(|s| Stop::Fail(format!("Fetch refused: {}", refusal_line(&s))))
    }
}

/// A kind of envelope the target issues to the partner, as failures name it.
#[derive(Debug, Clone, Copy)]
struct Issued {
    message_type: MessageType,
    /// Its name in the contract.
    name: &'static str,
    /// Its payload message, with its article.
    payload: &'static str,
    /// What its correlation_id names.
    answers: &'static str,
}

impl Issued {
    const OUTCOME: Issued = Issued {
        message_type: MessageType::Outcome,
        name: "OUTCOME",
        payload: "an Outcome",
        answers: "declaration",
    };
    const REFUND_DECISION: Issued = Issued {
        message_type: MessageType::RefundDecision,
        name: "REFUND_DECISION",
        payload: "a RefundDecision",
        answers: "notice",
    };
}

/// Requires `code` and ErrorInfo `reason` (domain `aedgate`) on a status.
pub fn check_status(
    status: tonic::Status,
    code: Code,
    reason: &str,
) -> Result<tonic::Status, Stop> {
    use tonic_types::StatusExt;
    let info = status.get_error_details().error_info().cloned();
    let found_reason = info.as_ref().map(|i| i.reason.as_str()).unwrap_or("");
    let domain_ok = info.as_ref().is_some_and(|i| i.domain == "aedgate");
    if status.code() == code && found_reason == reason && domain_ok {
        return Ok(status);
    }
    fail(format!(
        "answered {} where {code:?}/{reason} (domain aedgate) was due",
        refusal_line(&status)
    ))
}
