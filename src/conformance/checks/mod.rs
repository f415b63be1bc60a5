//! The registry of checks, in the order they run and are reported. Ids are stable: a
//! federation's records and `--only`/`--skip` lists refer to them.

mod admission;
mod audit;
mod lifecycle;
mod reading;
mod receipts;
mod revenue;
mod stream;
mod validation;

use super::{Basis, Check, Need};

macro_rules! check {
    ($id:literal, $section:literal, $basis:ident, [$($need:ident),*], $name:literal, $f:path) => {
        Check {
            id: $id,
            name: $name,
            section: $section,
            basis: Basis::$basis,
            needs: &[$(Need::$need),*],
            run: |case| Box::pin($f(case)),
        }
    };
}

/// Every check of the kit.
pub fn all() -> Vec<Check> {
    vec![
        check!(
            "ADM-01",
            "§3",
            Contract,
            [],
            "Envelope without header is MALFORMED",
            admission::header_missing
        ),
        check!(
            "ADM-02",
            "§3",
            Contract,
            [],
            "Non-canonical message_id is MALFORMED",
            admission::message_id_not_canonical
        ),
        check!(
            "ADM-03",
            "§3",
            Contract,
            [],
            "payload_sha256 of 31 bytes is MALFORMED",
            admission::digest_length
        ),
        check!(
            "ADM-04",
            "§3",
            Contract,
            [],
            "Payload over the limit is MALFORMED",
            admission::payload_over_limit
        ),
        check!(
            "ADM-05",
            "§3",
            Advisory,
            [],
            "Envelope without signature is MALFORMED",
            admission::signature_missing
        ),
        check!(
            "ADM-06",
            "§3",
            Advisory,
            [],
            "MESSAGE_TYPE_UNSPECIFIED is MALFORMED",
            admission::type_unspecified
        ),
        check!(
            "ADM-07",
            "§3",
            Advisory,
            [],
            "Bytes that are not an Envelope are MALFORMED",
            admission::not_protobuf
        ),
        check!(
            "ADM-08",
            "§3",
            Contract,
            [],
            "Sender other than the TLS peer is SENDER_MISMATCH",
            admission::spoofed_sender
        ),
        check!(
            "ADM-09",
            "§3",
            Contract,
            [],
            "Sender is checked before recipient, digest, key",
            admission::sender_checked_first
        ),
        check!(
            "ADM-10",
            "§3",
            Contract,
            [],
            "Envelope for another administration is UNKNOWN_RECIPIENT",
            admission::unknown_recipient
        ),
        check!(
            "ADM-11",
            "§3",
            Contract,
            [],
            "Recipient is checked before the payload digest",
            admission::recipient_before_digest
        ),
        check!(
            "ADM-12",
            "§3",
            Contract,
            [],
            "Payload changed after sealing is PAYLOAD_DIGEST_MISMATCH",
            admission::digest_mismatch
        ),
        check!(
            "ADM-13",
            "§3",
            Contract,
            [],
            "Payload digest is checked before the key",
            admission::digest_before_key
        ),
        check!(
            "ADM-14",
            "§3",
            Contract,
            [],
            "Key id not in the trust list is UNKNOWN_KEY",
            admission::unknown_key
        ),
        check!(
            "ADM-15",
            "§3",
            Contract,
            [],
            "Another participant's key id is UNKNOWN_KEY",
            admission::foreign_key
        ),
        check!(
            "ADM-16",
            "§2 §3",
            Contract,
            [],
            "Created before the key's window is KEY_NOT_VALID",
            admission::before_key_window
        ),
        check!(
            "ADM-17",
            "§2 §3",
            Contract,
            [],
            "Created after the key's window is KEY_NOT_VALID",
            admission::after_key_window
        ),
        check!(
            "ADM-18",
            "§3",
            Contract,
            [],
            "Signature by another key is SIGNATURE_INVALID",
            admission::wrong_key
        ),
        check!(
            "ADM-19",
            "§3",
            Contract,
            [],
            "Header changed after signing is SIGNATURE_INVALID",
            admission::header_altered
        ),
        check!(
            "ADM-20",
            "§3",
            Contract,
            [],
            "Created an hour ahead is CLOCK_SKEW",
            admission::clock_skew
        ),
        check!(
            "ADM-21",
            "§3",
            Contract,
            [],
            "An hour-old envelope is accepted",
            admission::old_message_accepted
        ),
        check!(
            "ADM-22",
            "§5",
            Contract,
            [],
            "Partner may not send RISK_INDICATOR",
            admission::partner_sends_indicator
        ),
        check!(
            "ADM-23",
            "§5",
            Contract,
            [],
            "Partner may not send OUTCOME or FORWARDED_DECLARATION",
            admission::partner_sends_administration_types
        ),
        check!(
            "ADM-24",
            "§5",
            Contract,
            [Internal],
            "Internal participant may not send DECLARATION",
            admission::internal_sends_declaration
        ),
        check!(
            "ADM-25",
            "§5",
            Contract,
            [UnregisteredPartner],
            "Partner not registered with the target is NOT_AUTHORIZED",
            admission::unregistered_partner
        ),
        check!(
            "ADM-26",
            "§3",
            Contract,
            [],
            "Authorization is checked before the payload",
            admission::authorization_before_validation
        ),
        check!(
            "ADM-27",
            "§3 §7",
            Contract,
            [],
            "Payload that is not a declaration is VALIDATION_FAILED",
            admission::undecodable_payload
        ),
        check!(
            "ADM-28",
            "§3",
            Contract,
            [],
            "Message id reused with other content is MESSAGE_ID_CONFLICT",
            admission::conflicting_replay
        ),
        check!(
            "ADM-29",
            "§3",
            Contract,
            [],
            "A refused envelope leaves nothing stored",
            admission::rejection_stores_nothing
        ),
        check!(
            "RCPT-01",
            "§4",
            Contract,
            [],
            "Receipt names the message, receiver and ACCEPTED",
            receipts::fields
        ),
        check!(
            "RCPT-02",
            "§4",
            Contract,
            [],
            "Receipt digest is SHA-256 of the signing input",
            receipts::digest
        ),
        check!(
            "RCPT-03",
            "§4",
            Contract,
            [],
            "Receipt is signed by the administration's key",
            receipts::signature
        ),
        check!(
            "RCPT-04",
            "§4",
            Contract,
            [],
            "Resend is DUPLICATE with the original time and index",
            receipts::duplicate
        ),
        check!(
            "VAL-01",
            "§7",
            Contract,
            [],
            "LRN over 22 characters is refused on lrn",
            validation::lrn_length
        ),
        check!(
            "VAL-02",
            "§7",
            Advisory,
            [],
            "LRN reused by the same sender is refused on lrn",
            validation::lrn_reused
        ),
        check!(
            "VAL-03",
            "§7",
            Contract,
            [],
            "Party field limits and country",
            validation::party_limits
        ),
        check!(
            "VAL-04",
            "§7",
            Contract,
            [],
            "Transport: house_ref, mode and master_ref",
            validation::required_and_transport
        ),
        check!(
            "VAL-05",
            "§7",
            Contract,
            [],
            "Unknown and lower-case country codes",
            validation::country_codes
        ),
        check!(
            "VAL-06",
            "§7",
            Contract,
            [],
            "Non-positive masses and quantities",
            validation::positive_numbers
        ),
        check!(
            "VAL-07",
            "§7",
            Contract,
            [],
            "IOSS number format and at least one item",
            validation::revenue_and_items
        ),
        check!(
            "VAL-08",
            "§7",
            Contract,
            [],
            "Vague or short goods descriptions",
            validation::descriptions
        ),
        check!(
            "VAL-09",
            "§7",
            Contract,
            [],
            "Malformed and non-existent HS codes",
            validation::hs_codes
        ),
        check!(
            "VAL-10",
            "§7",
            Advisory,
            [],
            "Zero values, mixed and unknown currencies",
            validation::money
        ),
        check!(
            "STRM-01",
            "§6",
            Contract,
            [],
            "SubmitStream answers in order after rejections",
            stream::order_after_rejection
        ),
        check!(
            "STRM-02",
            "§6",
            Advisory,
            [],
            "SubmitStream goes on after an undecodable frame",
            stream::continues_after_garbage
        ),
        check!(
            "LIFE-01",
            "§8",
            Contract,
            [],
            "Declaration without a match gets ASSESSMENT_COMPLETE",
            lifecycle::no_match
        ),
        check!(
            "LIFE-02",
            "§8",
            Contract,
            [Internal],
            "RFI outcome names a referral and pointer, not the indicator",
            lifecycle::request_for_information
        ),
        check!(
            "LIFE-03",
            "§8",
            Contract,
            [Internal],
            "Screening indicator gives REQUEST_FOR_SCREENING",
            lifecycle::request_for_screening
        ),
        check!(
            "LIFE-04",
            "§8",
            Contract,
            [Internal],
            "Control indicator gives CONTROL_ON_ARRIVAL",
            lifecycle::control_on_arrival
        ),
        check!(
            "LIFE-05",
            "§8",
            Contract,
            [Internal],
            "The most severe match wins: DO_NOT_LOAD",
            lifecycle::severity
        ),
        check!(
            "LIFE-06",
            "§8",
            Contract,
            [Internal],
            "Answered RFI is re-assessed under the same MRN",
            lifecycle::rfi_answered
        ),
        check!(
            "LIFE-07",
            "§8",
            Contract,
            [Internal],
            "Screening CLEAR issues the next most severe match",
            lifecycle::screening_clear
        ),
        check!(
            "LIFE-08",
            "§8",
            Advisory,
            [Internal],
            "Screening NOT_CLEAR issues DO_NOT_LOAD",
            lifecycle::screening_not_clear
        ),
        check!(
            "LIFE-09",
            "§8",
            Advisory,
            [Internal],
            "A referral answered twice is REFERRAL_NOT_OPEN",
            lifecycle::referral_answered_twice
        ),
        check!(
            "LIFE-10",
            "§8",
            Advisory,
            [Internal],
            "An answer naming no open referral is UNKNOWN_REFERRAL",
            lifecycle::unknown_referral
        ),
        check!(
            "LIFE-11",
            "§5 §8",
            Contract,
            [],
            "Amendment is re-assessed under the same MRN",
            lifecycle::amendment_reassessed
        ),
        check!(
            "LIFE-12",
            "§5 §6",
            Contract,
            [],
            "Invalidation sets the state INVALIDATED",
            lifecycle::invalidation_state
        ),
        check!(
            "LIFE-13",
            "§5",
            Contract,
            [],
            "Invalidated declaration is DECLARATION_CLOSED",
            lifecycle::closed_after_invalidation
        ),
        check!(
            "LIFE-14",
            "§5 §8",
            Contract,
            [Internal],
            "DO_NOT_LOAD declaration is DECLARATION_CLOSED",
            lifecycle::closed_after_do_not_load
        ),
        check!(
            "LIFE-15",
            "§5",
            Advisory,
            [],
            "Amendment of an unknown declaration is UNKNOWN_DECLARATION",
            lifecycle::unknown_declaration
        ),
        check!(
            "LIFE-16",
            "§8",
            Contract,
            [Internal],
            "A higher indicator version replaces the lower",
            lifecycle::version_replaces
        ),
        check!(
            "LIFE-17",
            "§8",
            Contract,
            [Internal],
            "A revoked indicator stops matching",
            lifecycle::revocation
        ),
        check!(
            "REV-01",
            "§11",
            Contract,
            [Revenue],
            "Low-value release carries the policy's charges",
            revenue::low_value_charges
        ),
        check!(
            "REV-02",
            "§11",
            Contract,
            [Revenue],
            "Release above the threshold: ad valorem duty, no fee",
            revenue::above_threshold_charges
        ),
        check!(
            "REV-03",
            "§11",
            Contract,
            [Revenue],
            "IOSS VAT is collected at sale, not in total_due",
            revenue::ioss_collected_at_sale
        ),
        check!(
            "REV-04",
            "§11",
            Contract,
            [Revenue],
            "A referral carries no charges; its release does",
            revenue::referral_uncharged
        ),
        check!(
            "REV-05",
            "§11",
            Contract,
            [Revenue, Internal],
            "CONTROL_ON_ARRIVAL is charged, DO_NOT_LOAD is not",
            revenue::control_charged
        ),
        check!(
            "REV-06",
            "§11",
            Contract,
            [Revenue],
            "A currency without a rate is refused on its field",
            revenue::unrated_currency
        ),
        check!(
            "REV-07",
            "§11",
            Contract,
            [Revenue],
            "R1: unregistered IOSS number asks on revenue.ioss_number",
            revenue::r1_unregistered_ioss
        ),
        check!(
            "REV-08",
            "§11",
            Contract,
            [Revenue],
            "R2: IOSS above the threshold asks on revenue.ioss_number",
            revenue::r2_ioss_above_threshold
        ),
        check!(
            "REV-09",
            "§11",
            Contract,
            [Revenue],
            "R3: tax collected off the VAT asks on revenue.tax_collected",
            revenue::r3_tax_collected_differs
        ),
        check!(
            "REV-10",
            "§11",
            Contract,
            [Revenue],
            "R4: undervalued item asks on items[i].value",
            revenue::r4_undervalued
        ),
        check!(
            "REV-11",
            "§11",
            Contract,
            [Revenue],
            "R5: split parcels of one buyer ask on buyer.name",
            revenue::r5_splitting
        ),
        check!(
            "RET-01",
            "§12",
            Contract,
            [Revenue],
            "RETURN_NOTICE gets a signed REFUND_DECISION",
            revenue::refund_decision_issued
        ),
        check!(
            "RET-02",
            "§12",
            Contract,
            [Revenue],
            "Partial returns refund cumulatively as §12 computes",
            revenue::refunds_cumulative
        ),
        check!(
            "RET-03",
            "§12",
            Contract,
            [Revenue],
            "Status says PARTLY_RETURNED, then RETURNED",
            revenue::returned_states
        ),
        check!(
            "RET-04",
            "§12",
            Contract,
            [Revenue],
            "IOSS refund of VAT is the seller's, not in total_refund",
            revenue::ioss_refund
        ),
        check!(
            "RET-05",
            "§12",
            Contract,
            [Revenue],
            "Notice for an unknown declaration is UNKNOWN_DECLARATION",
            revenue::unknown_declaration
        ),
        check!(
            "RET-06",
            "§12",
            Contract,
            [Revenue, SecondPartner],
            "Another partner's declaration is UNKNOWN_DECLARATION",
            revenue::another_partners_declaration
        ),
        check!(
            "RET-07",
            "§12",
            Contract,
            [Revenue],
            "Notice for a referred or returned declaration is NOT_RELEASED",
            revenue::not_released
        ),
        check!(
            "RET-08",
            "§12",
            Contract,
            [Revenue],
            "Goods that left before the release are RETURN_PERIOD_EXPIRED",
            revenue::return_period
        ),
        check!(
            "RET-09",
            "§12",
            Contract,
            [Revenue],
            "Bad return lines are VALIDATION_FAILED on their paths",
            revenue::notice_violations
        ),
        check!(
            "RET-10",
            "§12",
            Contract,
            [Revenue],
            "Amendment or invalidation after a return is DECLARATION_CLOSED",
            revenue::closed_after_return
        ),
        check!(
            "RET-11",
            "§12",
            Advisory,
            [Revenue],
            "A repeated return line is refused on the repeat's item",
            revenue::repeated_line
        ),
        check!(
            "FETCH-01",
            "§6",
            Contract,
            [],
            "Fetch is gap-free and addressed to the caller",
            reading::gap_free
        ),
        check!(
            "FETCH-02",
            "§6",
            Contract,
            [],
            "Fetch resumes after any seq with identical bytes",
            reading::resumption
        ),
        check!(
            "FETCH-03",
            "§6",
            Contract,
            [],
            "Fetch with follow delivers new outcomes live",
            reading::follow
        ),
        check!(
            "FETCH-04",
            "§6 §8",
            Contract,
            [SecondPartner],
            "A partner never sees another's outcomes or indicators",
            reading::isolation
        ),
        check!(
            "FETCH-05",
            "§6",
            Contract,
            [Internal],
            "Internal Fetch sees what the administration received and issued",
            reading::internal_sees_all
        ),
        check!(
            "STAT-01",
            "§6",
            Contract,
            [],
            "Sender and internal participant may ask Status",
            reading::status_allowed
        ),
        check!(
            "STAT-02",
            "§6",
            Contract,
            [SecondPartner],
            "Another partner is refused Status",
            reading::status_forbidden
        ),
        check!(
            "STAT-03",
            "§6",
            Advisory,
            [],
            "Status of an unknown id is NOT_FOUND",
            reading::status_unknown
        ),
        check!(
            "AUD-01",
            "§9",
            Contract,
            [],
            "Tree head is signed by the administration",
            audit::tree_head
        ),
        check!(
            "AUD-02",
            "§9",
            Contract,
            [],
            "A receipt's leaf is proved in the log",
            audit::inclusion
        ),
        check!(
            "AUD-03",
            "§9",
            Contract,
            [],
            "A later head is proved consistent with an earlier",
            audit::consistency
        ),
        check!(
            "AUD-04",
            "§9",
            Advisory,
            [],
            "Inclusion proofs beyond the log are refused",
            audit::inclusion_out_of_range
        ),
        check!(
            "AUD-05",
            "§9",
            Advisory,
            [],
            "Consistency proofs beyond the log are refused",
            audit::consistency_out_of_range
        ),
        check!(
            "OPS-01",
            "§6",
            Contract,
            [],
            "Health reports the server SERVING",
            audit::health
        ),
        check!(
            "OPS-02",
            "§6",
            Contract,
            [],
            "Reflection lists Gateway, Audit and Health",
            audit::reflection
        ),
        check!(
            "OPS-03",
            "§6",
            Advisory,
            [],
            "Health reports Gateway and Audit SERVING",
            audit::health_per_service
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_there_are_at_least_fifty() {
        let checks = all();
        let ids: std::collections::BTreeSet<_> = checks.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), checks.len(), "duplicate check id");
        assert!(checks.len() >= 50, "{} checks", checks.len());
    }

    #[test]
    fn every_revenue_and_return_check_needs_the_policy_and_no_other_does() {
        for check in all() {
            let about_revenue = check.id.starts_with("REV-") || check.id.starts_with("RET-");
            assert_eq!(
                check.needs.contains(&Need::Revenue),
                about_revenue,
                "{}",
                check.id
            );
        }
        assert!(
            all()
                .iter()
                .filter(|c| c.needs.contains(&Need::Revenue))
                .count()
                >= 20
        );
    }
}
