//! What a stored row becomes, the same for both databases: the columns the store reads, by
//! name and kind ([`Columns`], implemented for any sqlx row whose database decodes those
//! kinds), and one decoder per kind of record. The backends differ in their SQL, never in
//! how a declaration, an outbox entry or an envelope is read back.

use super::backend::ParcelWindow;
use super::encoding::account_from_bytes;
use super::outbox::{OutboxEntry, OutboxState};
use super::verify::{StoredEntry, StoredPeerReceipt, StoredSubtree};
use super::{to_u64, StoreError, StoredEnvelope};
use crate::core::ledger::{DeclarationRecord, ReferralRecord, ReferralStatus};
use crate::core::lifecycle::ReferralKind;
use crate::core::risk::IndicatorRecord;
use crate::proto::v1::{
    AdvanceDeclaration, DeclarationState, Envelope, OutcomeCode, Receipt, RiskIndicator,
};
use prost::Message;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};
use std::collections::HashMap;

/// The kinds of column the store reads: every integer is 64 bits on both databases.
pub(super) trait Columns {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn int_or_null(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    fn bytes_or_null(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl<R, DB> Columns for R
where
    R: Row<Database = DB>,
    DB: Database,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<R>,
{
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int_or_null(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn bytes_or_null(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.try_get(name)?)
    }
}

/// R5's windows for `keys`, each empty since `since_ms`, for [`file_parcel`] to fill: every
/// key asked is in the answer, whether or not a row names it.
pub(super) fn parcel_windows(keys: &[i64], since_ms: i64) -> HashMap<i64, ParcelWindow> {
    keys.iter()
        .map(|key| {
            (
                *key,
                ParcelWindow {
                    since_ms,
                    values: Vec::new(),
                },
            )
        })
        .collect()
}

/// Files a `party_key, received_at_ms, parcel_value` row into its key's window.
pub(super) fn file_parcel(
    windows: &mut HashMap<i64, ParcelWindow>,
    row: &impl Columns,
) -> Result<(), StoreError> {
    if let Some(window) = windows.get_mut(&row.int("party_key")?) {
        window
            .values
            .push((row.int("received_at_ms")?, row.int("parcel_value")?));
    }
    Ok(())
}

/// The columns [`declaration`] reads: the one parser of a declaration row, for the
/// ledger's decisions and for Status alike.
pub(super) const DECLARATION_COLUMNS: &str = "message_id, sender, lrn, mrn, state, outcome, \
     open_referral_id, referral_count, satisfied, data, updated_at_ms, account";

/// A declaration as stored; a state the schema does not know is corruption.
pub(super) fn declaration(row: &impl Columns) -> Result<DeclarationRecord, StoreError> {
    let data = row.bytes("data")?;
    Ok(DeclarationRecord {
        id: row.text("message_id")?,
        sender: row.text("sender")?,
        lrn: row.text("lrn")?,
        mrn: row.text("mrn")?,
        state: i32::try_from(row.int("state")?)
            .ok()
            .and_then(|s| DeclarationState::try_from(s).ok())
            .ok_or_else(|| StoreError::Corrupt("declaration state".into()))?,
        outcome: i32::try_from(row.int("outcome")?)
            .ok()
            .and_then(|o| OutcomeCode::try_from(o).ok())
            .unwrap_or(OutcomeCode::Unspecified),
        open_referral_id: row.text("open_referral_id")?,
        referral_count: u32::try_from(row.int("referral_count")?).unwrap_or(0),
        satisfied: row
            .text("satisfied")?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        data: AdvanceDeclaration::decode(data.as_slice())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        updated_at_ms: row.int("updated_at_ms")?,
        account: account_from_bytes(&row.bytes("account")?)?,
    })
}

/// The columns [`referral`] reads.
pub(super) const REFERRAL_COLUMNS: &str =
    "referral_id, declaration_id, outcome_message_id, kind, indicator_id, status";

/// A referral as stored.
pub(super) fn referral(row: &impl Columns) -> Result<ReferralRecord, StoreError> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(ReferralRecord {
        referral_id: row.text("referral_id")?,
        declaration_id: row.text("declaration_id")?,
        outcome_message_id: row.text("outcome_message_id")?,
        kind: ReferralKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("referral kind {kind}")))?,
        indicator_id: row.text("indicator_id")?,
        status: ReferralStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("referral status {status}")))?,
    })
}

/// An indicator's stored protobuf.
pub(super) fn indicator(row: &impl Columns) -> Result<RiskIndicator, StoreError> {
    RiskIndicator::decode(row.bytes("indicator")?.as_slice())
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The indicators in force, for the writer's risk index: the same SQL on both databases,
/// rows for [`indicator_record`].
pub(super) const INDICATORS_IN_FORCE: &str =
    "SELECT indicator, issuer FROM indicators WHERE revoked = 0";

/// An indicator in force and who issued it.
pub(super) fn indicator_record(row: &impl Columns) -> Result<IndicatorRecord, StoreError> {
    Ok(IndicatorRecord {
        indicator: indicator(row)?,
        issuer: row.text("issuer")?,
    })
}

/// The columns [`stored_envelope`] reads.
pub(super) const ENVELOPE_COLUMNS: &str =
    "message_id, log_index, received_at_ms, envelope_digest, envelope";

/// A stored envelope, as auditors and tests read it back.
pub(super) fn stored_envelope(row: &impl Columns) -> Result<StoredEnvelope, StoreError> {
    let envelope = Envelope::decode(row.bytes("envelope")?.as_slice())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredEnvelope {
        message_id: row.text("message_id")?,
        log_index: to_u64(row.int("log_index")?, "log_index")?,
        received_at_ms: row.int("received_at_ms")?,
        envelope_digest: row.bytes("envelope_digest")?,
        envelope,
    })
}

/// The columns [`outbox_entry`] reads, of `outbox o`.
pub(super) const OUTBOX_COLUMNS: &str =
    "o.id, o.peer, o.log_index, o.message_id, o.msg_type, o.queued_at_ms, o.state,
     o.attempts, o.next_attempt_ms, o.last_error, o.receipt, o.done_at_ms";

/// An outbox entry as stored.
pub(super) fn outbox_entry(row: &impl Columns) -> Result<OutboxEntry, StoreError> {
    let receipt = row
        .bytes_or_null("receipt")?
        .map(|bytes| Receipt::decode(bytes.as_slice()))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("stored receipt: {e}")))?;
    Ok(OutboxEntry {
        id: to_u64(row.int("id")?, "outbox id")?,
        peer: row.text("peer")?,
        log_index: to_u64(row.int("log_index")?, "log_index")?,
        message_id: row.text("message_id")?,
        message_type: i32::try_from(row.int("msg_type")?).unwrap_or_default(),
        queued_at_ms: row.int("queued_at_ms")?,
        state: OutboxState::parse(&row.text("state")?)?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_ms: row.int("next_attempt_ms")?,
        last_error: row.text("last_error")?,
        receipt,
        done_at_ms: row.int_or_null("done_at_ms")?,
    })
}

/// An `envelopes` row as the audit checks it.
pub(super) fn audit_entry(row: &impl Columns) -> Result<StoredEntry, StoreError> {
    Ok(StoredEntry {
        log_index: row.int("log_index")?,
        message_id: row.text("message_id")?,
        direction: row.int("direction")?,
        sender: row.text("sender")?,
        recipient: row.text("recipient")?,
        msg_type: row.int("msg_type")?,
        correlation_id: row.text("correlation_id")?,
        created_at_ms: row.int("created_at_ms")?,
        received_at_ms: row.int("received_at_ms")?,
        envelope_digest: row.bytes("envelope_digest")?,
        envelope: row.bytes("envelope")?,
    })
}

/// A `merkle` row: level, index, hash.
pub(super) fn audit_subtree(row: &impl Columns) -> Result<StoredSubtree, StoreError> {
    Ok((
        row.int("level")?,
        to_u64(row.int("idx")?, "merkle index")?,
        row.bytes("hash")?,
    ))
}

/// A peer's receipt for an outbox entry, with its envelope's digest.
pub(super) fn audit_receipt(row: &impl Columns) -> Result<StoredPeerReceipt, StoreError> {
    Ok(StoredPeerReceipt {
        log_index: to_u64(row.int("log_index")?, "log_index")?,
        peer: row.text("peer")?,
        message_id: row.text("message_id")?,
        receipt: row.bytes("receipt")?,
        envelope_digest: row.bytes("envelope_digest")?,
    })
}
