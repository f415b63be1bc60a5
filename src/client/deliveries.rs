//! What a participant does with what its gateway delivered by Fetch: check each envelope
//! as evidence before acting on it, and read outcomes and risk indicators out of the
//! stream.
//!
//! The gateway checks what partners send it, but nobody checks for the partner what the
//! gateway delivers: an outcome is an instruction (do not load, control on arrival), and a
//! partner acting on it needs to know that the administration issued it, unchanged. The
//! command line, the demo and the tests all read deliveries, so the checks live here, next
//! to the receipt checks, rather than in any one of them.

use super::Participant;
use crate::core::envelope::{envelope_signing_input, sha256};
use crate::core::trust::{format_ms, SignatureError, TrustList};
use crate::proto::v1::{
    Delivery, Envelope, FetchRequest, MessageType, Outcome, RiskIndicator, RiskIndicatorRevocation,
};
use futures_util::TryStreamExt;
use prost::Message;
use std::collections::BTreeMap;

impl Participant {
    /// The deliveries after `after_seq`, as a stream, for readers that act on each as it
    /// comes (print it, wait for one); with `follow`, new deliveries are added as they are
    /// committed and the stream does not end.
    ///
    /// # Errors
    ///
    /// The gateway's status when it refuses the call.
    pub async fn fetch(
        &self,
        after_seq: u64,
        follow: bool,
    ) -> Result<tonic::Streaming<Delivery>, tonic::Status> {
        Ok(self
            .grpc()
            .fetch(FetchRequest { after_seq, follow })
            .await?
            .into_inner())
    }

    /// Every delivery after `after_seq` that the gateway holds now (`follow = false`), for
    /// readers that need the whole log at once (to fold it, to find an outcome in it).
    ///
    /// # Errors
    ///
    /// The gateway's status when the call or the stream fails.
    pub async fn fetch_all(&self, after_seq: u64) -> Result<Vec<Delivery>, tonic::Status> {
        self.fetch(after_seq, false).await?.try_collect().await
    }
}

/// Checks a delivered envelope as evidence: its payload matches the digest it signs, and its
/// signature verifies with a key the trust list gives its sender at its creation time.
/// Returns the key id on success, or why it is not evidence.
pub fn check_signature(trust: &TrustList, envelope: &Envelope) -> Result<String, String> {
    let header = envelope
        .header
        .as_ref()
        .ok_or("the envelope has no header")?;
    let signature = envelope
        .signature
        .as_ref()
        .ok_or("the envelope is not signed")?;
    if header.payload_sha256.len() != 32
        || sha256(&envelope.payload)[..] != header.payload_sha256[..]
    {
        return Err("the payload does not match the digest its signature covers".into());
    }
    trust
        .verify_signature(
            &header.sender,
            &signature.key_id,
            header.created_at_ms,
            &envelope_signing_input(header),
            &signature.value,
        )
        .map_err(|problem| match problem {
            SignatureError::UnknownKey => format!(
                "key {:?} is not a key of {} in trust list v{}",
                signature.key_id,
                header.sender,
                trust.version()
            ),
            SignatureError::KeyNotValid => format!(
                "key {} of {} was not valid at {}",
                signature.key_id,
                header.sender,
                format_ms(header.created_at_ms)
            ),
            SignatureError::SignatureInvalid => {
                format!("the signature does not verify with {}", signature.key_id)
            }
        })?;
    Ok(signature.key_id.clone())
}

/// [`check_signature`] for an envelope delivered by `gateway`'s Fetch. An OUTCOME must also
/// come from that administration: another participant's key would verify, but only the
/// administration decides outcomes, and a partner must not stop or release goods on anyone
/// else's word.
pub fn check_delivery(
    trust: &TrustList,
    gateway: &str,
    envelope: &Envelope,
) -> Result<String, String> {
    let key_id = check_signature(trust, envelope)?;
    match envelope.header.as_ref() {
        Some(h) if h.r#type == MessageType::Outcome as i32 && h.sender != gateway => Err(format!(
            "an outcome must be issued by {gateway}, not by {}",
            h.sender
        )),
        _ => Ok(key_id),
    }
}

/// The outcome an envelope carries, if it is an OUTCOME with a readable payload: what a
/// partner looks for in its deliveries, and skips everything else.
pub fn outcome_of(envelope: &Envelope) -> Option<Outcome> {
    let header = envelope.header.as_ref()?;
    if header.r#type != MessageType::Outcome as i32 {
        return None;
    }
    Outcome::decode(envelope.payload.clone()).ok()
}

/// An indicator as read back from the log, with the administration that issued it: the
/// contract has no listing call, so this is what an administration's list is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedIndicator {
    /// The indicator, latest version.
    pub indicator: RiskIndicator,
    /// The issuing administration (`adm/NL`), from the envelope's sender.
    pub issuer: String,
}

/// Folds an administration's log, in order, into the indicators it holds, by id: a higher
/// version replaces the lower, a revocation removes. Only what `administration` received
/// counts (from its internal participants or its peers); what it issued to peers is in the
/// log too but changes nothing it holds. The gateway admitted only what it accepted, so
/// this replays its own decisions; the version check only guards against a log that
/// repeats an older version. Expired indicators are kept: the caller says so.
pub fn fold_indicators(
    deliveries: &[Delivery],
    administration: &str,
) -> BTreeMap<String, ListedIndicator> {
    let mut held: BTreeMap<String, ListedIndicator> = BTreeMap::new();
    for envelope in deliveries.iter().filter_map(|d| d.envelope.as_ref()) {
        let Some(header) = envelope.header.as_ref() else {
            continue;
        };
        if header.recipient != administration {
            continue;
        }
        if header.r#type == MessageType::RiskIndicator as i32 {
            let Ok(indicator) = RiskIndicator::decode(envelope.payload.clone()) else {
                continue;
            };
            if held
                .get(&indicator.indicator_id)
                .is_some_and(|old| old.indicator.version >= indicator.version)
            {
                continue;
            }
            let issuer = crate::core::ids::parent_administration(&header.sender)
                .unwrap_or(&header.sender)
                .to_owned();
            held.insert(
                indicator.indicator_id.clone(),
                ListedIndicator { indicator, issuer },
            );
        } else if header.r#type == MessageType::RiskIndicatorRevocation as i32 {
            if let Ok(revocation) = RiskIndicatorRevocation::decode(envelope.payload.clone()) {
                held.remove(&revocation.indicator_id);
            }
        }
    }
    held
}
