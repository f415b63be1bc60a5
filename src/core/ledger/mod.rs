//! The ledger's decisions (§3's last row, §4, §5, §8): what one admitted envelope does to
//! the gateway's books, as a pure function of the stored state it reads.
//!
//! The store's writer used to decide inside SQL, one long function over a transaction that
//! also read the clock and made ids. Here the decision is separated from the I/O, the way
//! quinn-proto separates its protocol state machine from sockets: the writer fetches the
//! [`Facts`] an envelope's kind needs, calls [`decide`] with the time and a source of fresh
//! message ids, and writes the [`Effect`]s it returns, in order, in the group's transaction.
//! So every rule (duplicate or conflict, LRN reuse, which declarations are still open, how a
//! referral is answered, who may replace or revoke an indicator, which outcome to issue and
//! to whom, what goes to peers) is tested here without a database, and a second storage
//! backend writes the same effects instead of re-deciding.
//!
//! A refusal is always decided before any effect: a refused envelope leaves no trace.
//! Effects that change in-memory state the next decision reads (the risk index, the count of
//! declarations filed) are applied by the writer before it decides the next envelope.

use crate::core::admission::{Admitted, AdmittedPayload};
use crate::core::ids::parent_administration;
use crate::core::lifecycle::{self, ReferralKind, ReferralVerdict};
use crate::core::rejection::{FieldViolation, Rejection};
use crate::core::revenue::{self, Charges, Refund, Refunded, RevenuePolicy, RETURN_PERIOD_MS};
use crate::core::risk::{severity, IndexError, IndicatorRecord, RiskIndex};
use crate::proto::v1::{
    AdvanceDeclaration, DeclarationState, Header, MessageType, Outcome, OutcomeCode,
    RefundDecision, ReturnNotice, RiskIndicator, RiskIndicatorRevocation,
};
use bytes::Bytes;
use prost::Message;
use std::collections::{BTreeSet, HashSet};

/// What the decision of one envelope may read besides the stored state: the moment, who
/// this gateway is, and the indicators in force.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The receiver's clock (§3, §4): received and decided times, assessment validity.
    pub now_ms: i64,
    /// This gateway's administration, e.g. `adm/NL`: what it issues is signed as this.
    pub administration: &'a str,
    /// Its country code, the MRN's country part.
    pub country: &'a str,
    /// Declarations filed here so far (the next MRN's sequence is one more).
    pub declarations_filed: u64,
    /// The indicators in force, as earlier envelopes of the group left them.
    pub risk: &'a RiskIndex,
    /// The administration's revenue policy (§11), if it charges.
    pub revenue: Option<&'a RevenuePolicy>,
}

/// An envelope already in the log, by message id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownEnvelope {
    /// SHA-256 of its signing input: equal for a resend, different for a conflict.
    pub digest: Vec<u8>,
    /// When it was first committed.
    pub received_at_ms: i64,
    /// Its leaf position.
    pub log_index: u64,
}

/// What a declaration's releases and returns have come to, kept with it because §12
/// refunds from the charges of the last releasing outcome, not from the policy in force
/// when the goods come back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// `decided_at_ms` of the first releasing outcome: the 90 days of §12 run from it.
    pub first_released_at_ms: Option<i64>,
    /// The charges of the last releasing outcome, if the declaration was charged.
    pub charges: Option<Charges>,
    /// Units of each item returned so far.
    pub returned: Vec<u32>,
    /// What the refund decisions so far refunded, per type.
    pub refunded: Refunded,
}

/// A declaration's entry in R5's splitting index: what it is worth and for which buyer and
/// seller, so that the next declaration for them is checked without a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parcel {
    /// The declaration.
    pub declaration_id: String,
    /// `core::revenue::splitting_key` of its current data.
    pub key: i64,
    /// Its intrinsic value `V`.
    pub value: i64,
    /// Whether it counts for R5: low-value and not invalidated.
    pub counts: bool,
}

/// A declaration on file, as the ledger works on it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclarationRecord {
    /// The message id it was filed under (the partner's, for a forwarded one).
    pub id: String,
    /// The partner that filed it.
    pub sender: String,
    /// Local reference number.
    pub lrn: String,
    /// Movement reference number.
    pub mrn: String,
    /// Lifecycle state.
    pub state: DeclarationState,
    /// Latest outcome.
    pub outcome: OutcomeCode,
    /// The referral waiting for an answer, or "".
    pub open_referral_id: String,
    /// Referrals issued so far (the next referral id's number is one more).
    pub referral_count: u32,
    /// Indicators whose referrals the partner answered: not asked again for the same data.
    pub satisfied: BTreeSet<String>,
    /// The declaration's current data.
    pub data: AdvanceDeclaration,
    /// Its releases, charges and returns (§11, §12).
    pub account: Account,
    /// When the state last changed.
    pub updated_at_ms: i64,
}

/// Where a referral stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralStatus {
    /// Waiting for the partner's REFERRAL_RESPONSE.
    Open,
    /// Answered.
    Answered,
    /// Closed by an amendment or invalidation before it was answered.
    Superseded,
}

impl ReferralStatus {
    /// Stored form, also the word in REFERRAL_NOT_OPEN's detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answered => "answered",
            Self::Superseded => "superseded",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "answered" => Some(Self::Answered),
            "superseded" => Some(Self::Superseded),
            _ => None,
        }
    }
}

/// A referral an outcome opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRecord {
    /// `MRN-Rn`.
    pub referral_id: String,
    /// The declaration it is about.
    pub declaration_id: String,
    /// The OUTCOME that asked: a response must name it as `correlation_id`.
    pub outcome_message_id: String,
    /// What it asks for.
    pub kind: ReferralKind,
    /// The indicator that caused it: answered, it is not asked again.
    pub indicator_id: String,
    /// Where it stands.
    pub status: ReferralStatus,
}

/// The stored state one envelope's decision reads, fetched by the writer before deciding.
/// Each kind reads only its own fields; the rest stay empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The envelope stored under the header's message id, by any earlier group or earlier in
    /// this one.
    pub same_id: Option<KnownEnvelope>,
    /// DECLARATION: the declaration already holding the sender's LRN.
    pub lrn_owner: Option<String>,
    /// DECLARATION: whether a declaration forwarded here is on file under this message id.
    pub declaration_id_taken: bool,
    /// DECLARATION: the peer administration of its country of destination, if it is to be
    /// forwarded (`core::sharing::forwarding_target`).
    pub forward_to: Option<String>,
    /// FORWARDED_DECLARATION: the declaration on file under the original's message id or
    /// its sender's LRN.
    pub forwarded_on_file: Option<String>,
    /// AMENDMENT, INVALIDATION: the declaration named by `correlation_id`, if the sender
    /// filed it. REFERRAL_RESPONSE: the declaration of the referral, if the sender filed it.
    pub declaration: Option<DeclarationRecord>,
    /// REFERRAL_RESPONSE: the referral named.
    pub referral: Option<ReferralRecord>,
    /// RISK_INDICATOR: the peers this administration's indicator may now go to
    /// (`core::sharing::indicator_routes`).
    pub share_with: Vec<String>,
    /// RISK_INDICATOR, revocation: the peers that hold this administration's indicator.
    pub routes: Vec<String>,
    /// DECLARATION, AMENDMENT, REFERRAL_RESPONSE of a charged declaration: R5's sum, the
    /// value of the other low-value declarations for the same buyer and seller accepted here
    /// before it within the policy's window (from the writer's splitting index).
    pub others_value: i64,
    /// DECLARATION, FORWARDED_DECLARATION, AMENDMENT of a charged declaration:
    /// `core::revenue::splitting_key` of the data it files, as the writer computed it for
    /// its lookups (the ledger computes it when absent).
    pub parcel_key: Option<i64>,
}

/// How an issued envelope reaches its recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A partner reads it with Fetch, under its next `seq`.
    Fetch,
    /// The forwarder delivers it to a peer administration through the outbox.
    Outbox,
}

/// An envelope the gateway issues: the writer seals it with the administration's key,
/// dated `now_ms`, and logs it as issued.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// Its fresh message id (decided here, because a referral records the OUTCOME's id).
    pub message_id: String,
    /// Who it is for.
    pub recipient: String,
    /// Its type.
    pub message_type: MessageType,
    /// Its payload bytes.
    pub payload: Bytes,
    /// The message it answers or carries.
    pub correlation_id: String,
    /// How it travels.
    pub route: Route,
}

/// One change to the books, written by the writer in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// The admitted envelope joins the log as accepted: always the first effect of an
    /// accepted envelope, so it takes the lowest log index of what it causes.
    LogAccepted,
    /// A new declaration goes on file.
    FileDeclaration(DeclarationRecord),
    /// A declaration on file changes.
    UpdateDeclaration(DeclarationRecord),
    /// An outcome opened a referral.
    OpenReferral(ReferralRecord),
    /// A referral is answered or superseded.
    CloseReferral {
        /// The referral.
        referral_id: String,
        /// Its new status.
        status: ReferralStatus,
    },
    /// The gateway issues an envelope.
    Issue(Issue),
    /// An indicator comes into force, or replaces the version in force.
    PutIndicator {
        /// The indicator and its issuer.
        record: IndicatorRecord,
        /// The envelope that carried it.
        message_id: String,
    },
    /// An indicator is revoked.
    RevokeIndicator {
        /// Its id.
        indicator_id: String,
    },
    /// A peer now holds this administration's indicator.
    AddRoute {
        /// The indicator.
        indicator_id: String,
        /// The peer.
        peer: String,
    },
    /// A peer no longer holds it.
    RemoveRoute {
        /// The indicator.
        indicator_id: String,
        /// The peer.
        peer: String,
    },
    /// No peer holds it any more (revoked).
    ClearRoutes {
        /// The indicator.
        indicator_id: String,
    },
    /// A newly filed, charged declaration joins R5's splitting index (received now).
    TrackParcel(Parcel),
    /// A charged declaration's entry changes (amended or invalidated).
    UpdateParcel(Parcel),
}

/// What one envelope comes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// A byte-identical resend: the first arrival's receipt, nothing written.
    Duplicate(KnownEnvelope),
    /// Accepted: the effects to write, `Effect::LogAccepted` first.
    Accept(Vec<Effect>),
    /// Refused: nothing written.
    Refuse(Rejection),
}

/// Decides one admitted envelope. `fresh_id` hands out a new message id for each envelope
/// the gateway issues.
pub fn decide(
    ctx: &Context<'_>,
    facts: Facts,
    admitted: &Admitted,
    fresh_id: &mut dyn FnMut() -> String,
) -> Verdict {
    let header = &admitted.header;
    // §7: an LRN is unique per sender (a validation rule, so it is checked before reuse of
    // the message id, following §3's order).
    if let AdmittedPayload::Declaration(declaration) = &admitted.payload {
        if let Some(owner) = facts
            .lrn_owner
            .as_ref()
            .filter(|o| **o != header.message_id)
        {
            return Verdict::Refuse(field_error(
                "lrn",
                format!(
                    "LRN {:?} is already used by declaration {owner}",
                    declaration.lrn
                ),
            ));
        }
    }
    // §3's last row and §4: a known message id is a duplicate or a conflict.
    if let Some(known) = facts.same_id.clone() {
        if known.digest != admitted.digest {
            return Verdict::Refuse(Rejection::MessageIdConflict {
                message_id: header.message_id.clone(),
            });
        }
        return Verdict::Duplicate(known);
    }
    // A declaration forwarded here by a peer is on file under the partner's original
    // message id, which is no envelope of this log: that id is taken all the same.
    if matches!(admitted.payload, AdmittedPayload::Declaration(_)) && facts.declaration_id_taken {
        return Verdict::Refuse(Rejection::MessageIdConflict {
            message_id: header.message_id.clone(),
        });
    }
    let mut books = Books {
        ctx,
        fresh_id,
        others_value: facts.others_value,
        parcel_key: facts.parcel_key,
        effects: vec![Effect::LogAccepted],
    };
    let decided = match &admitted.payload {
        AdmittedPayload::Declaration(declaration) => {
            books.declaration(header, declaration, admitted.raw.clone(), facts.forward_to)
        }
        AdmittedPayload::ForwardedDeclaration(forwarded) => books.forwarded_declaration(
            &forwarded.header,
            &forwarded.declaration,
            facts.forwarded_on_file,
        ),
        AdmittedPayload::Amendment(declaration) => {
            books.amendment(header, declaration, facts.declaration)
        }
        AdmittedPayload::Invalidation(_) => books.invalidation(header, facts.declaration),
        AdmittedPayload::ReturnNotice(notice) => {
            books.return_notice(header, notice, facts.declaration)
        }
        AdmittedPayload::ReferralResponse(response) => {
            books.referral_response(header, response, facts.referral, facts.declaration)
        }
        AdmittedPayload::RiskIndicator(indicator) => {
            books.indicator(admitted, indicator, facts.share_with, facts.routes)
        }
        AdmittedPayload::RiskIndicatorRevocation(revocation) => {
            books.revocation(admitted, revocation, facts.routes)
        }
    };
    match decided {
        Ok(()) => Verdict::Accept(books.effects),
        Err(rejection) => Verdict::Refuse(rejection),
    }
}

fn field_error(field: &str, why: String) -> Rejection {
    Rejection::ValidationFailed(vec![FieldViolation::new(field, why)])
}

/// The policy a declaration is charged under by the gateway of `country`: its policy, when
/// the goods are destined for that country (§11 "Which gateway charges"). The one rule the
/// ledger's decisions and the writer's lookups for them share.
pub fn charging_policy<'p>(
    policy: Option<&'p RevenuePolicy>,
    country: &str,
    declaration: &AdvanceDeclaration,
) -> Option<&'p RevenuePolicy> {
    policy.filter(|_| declaration.country_of_destination == country)
}

/// The administration an indicator belongs to: the sender itself, or the administration of
/// the internal participant that published it.
pub fn issuing_administration(sender: &str) -> String {
    parent_administration(sender).unwrap_or(sender).to_owned()
}

/// The effects of one accepted envelope, as they are decided.
struct Books<'c, 'f> {
    ctx: &'c Context<'c>,
    fresh_id: &'f mut dyn FnMut() -> String,
    /// R5's sum for the declaration this envelope assesses ([`Facts::others_value`]).
    others_value: i64,
    /// Its splitting key, if the writer computed it ([`Facts::parcel_key`]).
    parcel_key: Option<i64>,
    effects: Vec<Effect>,
}

impl<'c> Books<'c, '_> {
    fn issue(
        &mut self,
        recipient: &str,
        message_type: MessageType,
        payload: Bytes,
        correlation_id: &str,
        route: Route,
    ) -> String {
        let message_id = (self.fresh_id)();
        self.effects.push(Effect::Issue(Issue {
            message_id: message_id.clone(),
            recipient: recipient.to_owned(),
            message_type,
            payload,
            correlation_id: correlation_id.to_owned(),
            route,
        }));
        message_id
    }

    /// Relays an admitted message to a peer through the outbox: the analyst's payload bytes,
    /// unchanged, under this administration's signature (§8), so that indicators and their
    /// revocations reach peers exactly as published.
    fn relay(&mut self, admitted: &Admitted, message_type: MessageType, peer: &str) {
        self.issue(
            peer,
            message_type,
            admitted.envelope.payload.clone(),
            &admitted.header.message_id,
            Route::Outbox,
        );
    }
}

mod declarations;
mod indicators;
mod returns;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::seller_indicator;
    use crate::core::validation::sample_declaration;
    use crate::proto::v1::{Envelope, Invalidation, ReferralResponse, ScreeningResult};

    /// 2026-12-03T08:00:00Z.
    const NOW: i64 = 1_796_284_800_000;
    const OWN: &str = "adm/NL";
    const PARTNER: &str = "ptr/NL/shopco";
    const SELLER: &str = "SHOPCO-S-004417";

    fn admitted(sender: &str, correlation_id: &str, payload: AdmittedPayload) -> Admitted {
        let header = Header {
            message_id: "0192f0c1-0000-7000-8000-000000000001".into(),
            sender: sender.into(),
            recipient: OWN.into(),
            correlation_id: correlation_id.into(),
            ..Header::default()
        };
        Admitted {
            envelope: Envelope {
                header: Some(header.clone()),
                payload: Bytes::from_static(b"payload bytes"),
                ..Envelope::default()
            },
            raw: Bytes::from_static(b"raw envelope bytes"),
            header,
            digest: [7; 32],
            payload,
        }
    }

    fn filed() -> Admitted {
        admitted(
            PARTNER,
            "",
            AdmittedPayload::Declaration(sample_declaration("LRN-1")),
        )
    }

    /// An indicator on the sample declaration's seller, asking `action`.
    fn on_seller(id: &str, action: OutcomeCode, issuer: &str) -> IndicatorRecord {
        IndicatorRecord {
            indicator: RiskIndicator {
                title: "Seller under investigation".into(),
                rationale: "test".into(),
                ..seller_indicator(id, SELLER, action)
            },
            issuer: issuer.into(),
        }
    }

    fn index(records: &[IndicatorRecord]) -> RiskIndex {
        let mut index = RiskIndex::new();
        for record in records {
            assert_eq!(index.upsert(record.clone()), Ok(None));
        }
        index
    }

    fn run(risk: &RiskIndex, facts: Facts, admitted: &Admitted) -> Verdict {
        run_charging(risk, None, facts, admitted)
    }

    fn run_charging(
        risk: &RiskIndex,
        revenue: Option<&RevenuePolicy>,
        facts: Facts,
        admitted: &Admitted,
    ) -> Verdict {
        let context = Context {
            now_ms: NOW,
            administration: OWN,
            country: "NL",
            declarations_filed: 41,
            risk,
            revenue,
        };
        let mut n = 0;
        let mut fresh_id = || {
            n += 1;
            format!("issued-{n}")
        };
        decide(&context, facts, admitted, &mut fresh_id)
    }

    fn effects(verdict: Verdict) -> Vec<Effect> {
        match verdict {
            Verdict::Accept(effects) => effects,
            other => panic!("expected acceptance, got {other:?}"),
        }
    }

    fn refusal(verdict: Verdict) -> Rejection {
        match verdict {
            Verdict::Refuse(rejection) => rejection,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn violation(rejection: &Rejection) -> (String, String) {
        match rejection {
            Rejection::ValidationFailed(v) if v.len() == 1 => {
                (v[0].field.clone(), v[0].description.clone())
            }
            other => panic!("expected one field violation, got {other:?}"),
        }
    }

    fn issued(effects: &[Effect]) -> Vec<&Issue> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Issue(issue) => Some(issue),
                _ => None,
            })
            .collect()
    }

    fn outcome_of(issue: &Issue) -> Outcome {
        assert_eq!(issue.message_type, MessageType::Outcome);
        Outcome::decode(issue.payload.as_ref()).expect("an encoded Outcome")
    }

    fn declaration_in(effects: &[Effect]) -> &DeclarationRecord {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::FileDeclaration(r) | Effect::UpdateDeclaration(r) => Some(r),
                _ => None,
            })
            .expect("a declaration effect")
    }

    /// A declaration on file as `filed()` left it, in `state`, with `open_referral_id`.
    fn on_file(state: DeclarationState, open_referral_id: &str) -> DeclarationRecord {
        DeclarationRecord {
            id: "decl-1".into(),
            sender: PARTNER.into(),
            lrn: "LRN-1".into(),
            mrn: "26NL0000000000042X".into(),
            state,
            outcome: OutcomeCode::RequestForInformation,
            open_referral_id: open_referral_id.into(),
            referral_count: 1,
            satisfied: BTreeSet::new(),
            data: sample_declaration("LRN-1"),
            account: Account::default(),
            updated_at_ms: NOW - 60_000,
        }
    }

    #[test]
    fn a_clean_declaration_is_logged_filed_and_released_to_its_sender() {
        let effects = effects(run(&RiskIndex::new(), Facts::default(), &filed()));
        assert_eq!(effects[0], Effect::LogAccepted);
        let issues = issued(&effects);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].route, Route::Fetch);
        assert_eq!(issues[0].recipient, PARTNER);
        assert_eq!(issues[0].message_id, "issued-1");
        let outcome = outcome_of(issues[0]);
        assert_eq!(outcome.code, OutcomeCode::AssessmentComplete as i32);
        assert_eq!(outcome.decided_at_ms, NOW);
        let record = declaration_in(&effects);
        assert_eq!(record.mrn, lifecycle::mrn(2026, "NL", 42), "the 42nd MRN");
        assert_eq!(outcome.mrn, record.mrn);
        assert_eq!(record.state, DeclarationState::Cleared);
        assert!(matches!(effects.last(), Some(Effect::FileDeclaration(_))));
    }

    #[test]
    fn a_declaration_for_a_peer_is_forwarded_after_its_outcome_byte_for_byte() {
        let facts = Facts {
            forward_to: Some("adm/BE".into()),
            ..Facts::default()
        };
        let admitted = filed();
        let effects = effects(run(&RiskIndex::new(), facts, &admitted));
        let issues = issued(&effects);
        assert_eq!(issues.len(), 2);
        let forward = issues[1];
        assert_eq!(forward.route, Route::Outbox);
        assert_eq!(forward.recipient, "adm/BE");
        assert_eq!(forward.message_type, MessageType::ForwardedDeclaration);
        assert_eq!(forward.payload, admitted.raw);
        assert_eq!(forward.correlation_id, admitted.header.message_id);
    }

    #[test]
    fn a_matching_indicator_refers_the_declaration_and_opens_its_referral() {
        let risk = index(&[on_seller("NL:1", OutcomeCode::RequestForInformation, OWN)]);
        let effects = effects(run(&risk, Facts::default(), &filed()));
        let record = declaration_in(&effects);
        assert_eq!(record.state, DeclarationState::Referred);
        assert_eq!(record.referral_count, 1);
        let referral_id = lifecycle::referral_id(&record.mrn, 1);
        assert_eq!(record.open_referral_id, referral_id);
        let outcome = outcome_of(issued(&effects)[0]);
        assert_eq!(outcome.referral_id, referral_id);
        assert_eq!(outcome.pointer, "seller.identifier");
        let opened = effects.iter().find_map(|e| match e {
            Effect::OpenReferral(r) => Some(r),
            _ => None,
        });
        assert_eq!(
            opened,
            Some(&ReferralRecord {
                referral_id,
                declaration_id: record.id.clone(),
                outcome_message_id: "issued-1".into(),
                kind: ReferralKind::Information,
                indicator_id: "NL:1".into(),
                status: ReferralStatus::Open,
            })
        );
    }

    #[test]
    fn an_lrn_of_another_declaration_is_refused_before_the_message_id_is_looked_at() {
        let facts = Facts {
            lrn_owner: Some("decl-0".into()),
            same_id: Some(KnownEnvelope {
                digest: vec![1; 32],
                received_at_ms: NOW - 1,
                log_index: 3,
            }),
            ..Facts::default()
        };
        let (field, why) = violation(&refusal(run(&RiskIndex::new(), facts, &filed())));
        assert_eq!(field, "lrn");
        assert_eq!(why, "LRN \"LRN-1\" is already used by declaration decl-0");
    }

    #[test]
    fn a_resend_is_a_duplicate_and_another_envelope_under_its_id_a_conflict() {
        let admitted = filed();
        let known = KnownEnvelope {
            digest: admitted.digest.to_vec(),
            received_at_ms: NOW - 5_000,
            log_index: 9,
        };
        // The LRN is owned by the very declaration being resent: still a duplicate.
        let facts = Facts {
            same_id: Some(known.clone()),
            lrn_owner: Some(admitted.header.message_id.clone()),
            ..Facts::default()
        };
        let verdict = run(&RiskIndex::new(), facts, &admitted);
        assert_eq!(verdict, Verdict::Duplicate(known.clone()));

        let facts = Facts {
            same_id: Some(KnownEnvelope {
                digest: vec![8; 32],
                ..known
            }),
            ..Facts::default()
        };
        let rejection = refusal(run(&RiskIndex::new(), facts, &admitted));
        assert_eq!(rejection.reason(), "MESSAGE_ID_CONFLICT");
    }

    #[test]
    fn the_id_of_a_declaration_forwarded_here_is_taken() {
        let facts = Facts {
            declaration_id_taken: true,
            ..Facts::default()
        };
        let rejection = refusal(run(&RiskIndex::new(), facts, &filed()));
        assert_eq!(rejection.reason(), "MESSAGE_ID_CONFLICT");
    }

    fn forwarded() -> Admitted {
        let original = Header {
            message_id: "partner-original-id".into(),
            sender: "ptr/BE/shop".into(),
            recipient: "adm/BE".into(),
            ..Header::default()
        };
        admitted(
            "adm/BE",
            "",
            AdmittedPayload::ForwardedDeclaration(Box::new(
                crate::core::admission::ForwardedDeclaration {
                    header: original,
                    digest: [1; 32],
                    declaration: sample_declaration("BE-LRN"),
                },
            )),
        )
    }

    #[test]
    fn a_forwarded_declaration_is_filed_under_the_partners_id_and_answered_to_the_partner() {
        let effects = effects(run(&RiskIndex::new(), Facts::default(), &forwarded()));
        let record = declaration_in(&effects);
        assert_eq!(record.id, "partner-original-id");
        assert_eq!(record.sender, "ptr/BE/shop");
        assert_eq!(issued(&effects)[0].recipient, "ptr/BE/shop");

        let facts = Facts {
            forwarded_on_file: Some("earlier".into()),
            ..Facts::default()
        };
        let (field, why) = violation(&refusal(run(&RiskIndex::new(), facts, &forwarded())));
        assert_eq!(field, "payload");
        assert_eq!(
            why,
            "declaration partner-original-id (LRN \"BE-LRN\") of ptr/BE/shop is already on file here as earlier"
        );
    }

    fn amendment(lrn: &str) -> Admitted {
        admitted(
            PARTNER,
            "decl-1",
            AdmittedPayload::Amendment(sample_declaration(lrn)),
        )
    }

    #[test]
    fn an_amendment_needs_its_senders_open_declaration_and_the_same_lrn() {
        let risk = RiskIndex::new();
        let unknown = refusal(run(&risk, Facts::default(), &amendment("LRN-1")));
        assert_eq!(unknown.reason(), "UNKNOWN_DECLARATION");
        for closed in [DeclarationState::DoNotLoad, DeclarationState::Invalidated] {
            let facts = Facts {
                declaration: Some(on_file(closed, "")),
                ..Facts::default()
            };
            let rejection = refusal(run(&risk, facts, &amendment("LRN-1")));
            assert_eq!(rejection.reason(), "DECLARATION_CLOSED");
        }
        let facts = Facts {
            declaration: Some(on_file(DeclarationState::Referred, "R-1")),
            ..Facts::default()
        };
        let (field, _) = violation(&refusal(run(&risk, facts, &amendment("LRN-2"))));
        assert_eq!(field, "lrn");
    }

    #[test]
    fn an_amendment_supersedes_the_open_referral_forgets_answers_and_is_assessed_again() {
        let mut record = on_file(DeclarationState::Referred, "R-1");
        record.satisfied.insert("NL:1".into());
        let facts = Facts {
            declaration: Some(record),
            ..Facts::default()
        };
        // The answered indicator applies again to new data.
        let risk = index(&[on_seller("NL:1", OutcomeCode::ControlOnArrival, OWN)]);
        let effects = effects(run(&risk, facts, &amendment("LRN-1")));
        assert_eq!(effects[0], Effect::LogAccepted);
        assert_eq!(
            effects[1],
            Effect::CloseReferral {
                referral_id: "R-1".into(),
                status: ReferralStatus::Superseded
            }
        );
        let updated = declaration_in(&effects);
        assert!(updated.satisfied.is_empty());
        assert_eq!(updated.state, DeclarationState::ControlOnArrival);
        assert_eq!(updated.mrn, "26NL0000000000042X", "same MRN");
        assert_eq!(updated.open_referral_id, "");
    }

    #[test]
    fn an_invalidation_closes_the_declaration_and_its_referral() {
        let facts = Facts {
            declaration: Some(on_file(DeclarationState::Referred, "R-1")),
            ..Facts::default()
        };
        let invalidation = admitted(
            PARTNER,
            "decl-1",
            AdmittedPayload::Invalidation(Invalidation {
                reason: "order cancelled".into(),
            }),
        );
        let effects = effects(run(&RiskIndex::new(), facts, &invalidation));
        assert!(
            issued(&effects).is_empty(),
            "no outcome for an invalidation"
        );
        assert!(effects.contains(&Effect::CloseReferral {
            referral_id: "R-1".into(),
            status: ReferralStatus::Superseded
        }));
        let updated = declaration_in(&effects);
        assert_eq!(updated.state, DeclarationState::Invalidated);
        assert_eq!(updated.updated_at_ms, NOW);
    }

    fn response(information: &str, screening: ScreeningResult) -> Admitted {
        admitted(
            PARTNER,
            "outcome-1",
            AdmittedPayload::ReferralResponse(ReferralResponse {
                referral_id: "R-1".into(),
                information: information.into(),
                screening: screening as i32,
            }),
        )
    }

    fn open_referral(kind: ReferralKind, status: ReferralStatus) -> ReferralRecord {
        ReferralRecord {
            referral_id: "R-1".into(),
            declaration_id: "decl-1".into(),
            outcome_message_id: "outcome-1".into(),
            kind,
            indicator_id: "NL:1".into(),
            status,
        }
    }

    #[test]
    fn a_referral_response_is_refused_unless_it_answers_an_open_referral_of_its_sender() {
        let risk = RiskIndex::new();
        let answer = response("leather running shoes", ScreeningResult::Unspecified);
        let detail = |verdict| match refusal(verdict) {
            Rejection::UnknownReferral { detail, .. } => detail,
            other => panic!("expected UNKNOWN_REFERRAL, got {other:?}"),
        };
        assert_eq!(
            detail(run(&risk, Facts::default(), &answer)),
            "no such referral was issued"
        );
        let referral = open_referral(ReferralKind::Information, ReferralStatus::Open);
        let facts = Facts {
            referral: Some(referral.clone()),
            ..Facts::default()
        };
        assert_eq!(
            detail(run(&risk, facts, &answer)),
            "no such referral was issued to this sender"
        );
        let facts = |referral: ReferralRecord, state| Facts {
            referral: Some(referral),
            declaration: Some(on_file(state, "R-1")),
            ..Facts::default()
        };
        let mut elsewhere = referral.clone();
        elsewhere.outcome_message_id = "outcome-2".into();
        assert_eq!(
            detail(run(
                &risk,
                facts(elsewhere, DeclarationState::Referred),
                &answer
            )),
            "correlation_id must be the OUTCOME that asked (outcome-2)"
        );
        let closed = run(
            &risk,
            facts(referral.clone(), DeclarationState::Invalidated),
            &answer,
        );
        assert_eq!(refusal(closed).reason(), "DECLARATION_CLOSED");
        let answered = open_referral(ReferralKind::Information, ReferralStatus::Answered);
        match refusal(run(
            &risk,
            facts(answered, DeclarationState::Referred),
            &answer,
        )) {
            Rejection::ReferralNotOpen { detail, .. } => assert_eq!(detail, "it was answered"),
            other => panic!("expected REFERRAL_NOT_OPEN, got {other:?}"),
        }
        let empty = response("", ScreeningResult::Unspecified);
        let rejection = refusal(run(
            &risk,
            facts(referral, DeclarationState::Referred),
            &empty,
        ));
        assert_eq!(rejection.reason(), "VALIDATION_FAILED");
    }

    #[test]
    fn an_answer_clears_its_indicator_and_the_declaration_is_assessed_without_it() {
        let risk = index(&[on_seller("NL:1", OutcomeCode::RequestForInformation, OWN)]);
        let facts = Facts {
            referral: Some(open_referral(
                ReferralKind::Information,
                ReferralStatus::Open,
            )),
            declaration: Some(on_file(DeclarationState::Referred, "R-1")),
            ..Facts::default()
        };
        let answer = response("leather running shoes", ScreeningResult::Unspecified);
        let effects = effects(run(&risk, facts, &answer));
        assert_eq!(
            effects[1],
            Effect::CloseReferral {
                referral_id: "R-1".into(),
                status: ReferralStatus::Answered
            }
        );
        let outcome = outcome_of(issued(&effects)[0]);
        assert_eq!(outcome.code, OutcomeCode::AssessmentComplete as i32);
        let updated = declaration_in(&effects);
        assert!(updated.satisfied.contains("NL:1"));
        assert_eq!(updated.state, DeclarationState::Cleared);
        assert_eq!(updated.open_referral_id, "");
    }

    #[test]
    fn a_screening_not_clear_ends_in_do_not_load() {
        let facts = Facts {
            referral: Some(open_referral(ReferralKind::Screening, ReferralStatus::Open)),
            declaration: Some(on_file(DeclarationState::Referred, "R-1")),
            ..Facts::default()
        };
        let answer = response("", ScreeningResult::NotClear);
        let effects = effects(run(&RiskIndex::new(), facts, &answer));
        let outcome = outcome_of(issued(&effects)[0]);
        assert_eq!(outcome.code, OutcomeCode::DoNotLoad as i32);
        assert_eq!(declaration_in(&effects).state, DeclarationState::DoNotLoad);
    }

    fn publish(sender: &str, record: &IndicatorRecord) -> Admitted {
        admitted(
            sender,
            "",
            AdmittedPayload::RiskIndicator(record.indicator.clone()),
        )
    }

    #[test]
    fn an_own_indicator_goes_to_its_new_routes_and_is_revoked_where_it_may_no_longer_be() {
        let v1 = on_seller("NL:1", OutcomeCode::RequestForInformation, OWN);
        let mut v2 = v1.clone();
        v2.indicator.version = 2;
        let facts = Facts {
            share_with: vec!["adm/BE".into(), "adm/DE".into()],
            routes: vec!["adm/BE".into(), "adm/FR".into()],
            ..Facts::default()
        };
        let published = publish("adm/NL/risk-unit", &v2);
        let effects = effects(run(&index(&[v1]), facts, &published));
        assert_eq!(
            effects[1],
            Effect::PutIndicator {
                record: v2.clone(),
                message_id: published.header.message_id.clone()
            }
        );
        let issues = issued(&effects);
        let sent: Vec<(&str, MessageType)> = issues
            .iter()
            .map(|i| (i.recipient.as_str(), i.message_type))
            .collect();
        assert_eq!(
            sent,
            [
                ("adm/FR", MessageType::RiskIndicatorRevocation),
                ("adm/BE", MessageType::RiskIndicator),
                ("adm/DE", MessageType::RiskIndicator),
            ]
        );
        assert!(issues.iter().all(|i| i.route == Route::Outbox));
        assert_eq!(issues[1].payload, published.envelope.payload);
        let revocation =
            RiskIndicatorRevocation::decode(issues[0].payload.as_ref()).expect("a revocation");
        assert_eq!(revocation.indicator_id, "NL:1");
        assert!(effects.contains(&Effect::RemoveRoute {
            indicator_id: "NL:1".into(),
            peer: "adm/FR".into()
        }));
        assert!(effects.contains(&Effect::AddRoute {
            indicator_id: "NL:1".into(),
            peer: "adm/DE".into()
        }));
    }

    #[test]
    fn a_received_indicator_is_put_in_force_and_never_reshared() {
        let received = on_seller("BE:1", OutcomeCode::ControlOnArrival, "adm/BE");
        let facts = Facts {
            share_with: vec!["adm/DE".into()],
            routes: vec!["adm/DE".into()],
            ..Facts::default()
        };
        let effects = effects(run(&RiskIndex::new(), facts, &publish("adm/BE", &received)));
        assert_eq!(effects.len(), 2, "{effects:?}");
        assert!(matches!(effects[1], Effect::PutIndicator { .. }));
    }

    #[test]
    fn only_the_issuer_replaces_an_indicator_and_only_with_a_higher_version() {
        let ours = on_seller("NL:1", OutcomeCode::RequestForInformation, OWN);
        let risk = index(std::slice::from_ref(&ours));
        let mut theirs = ours.clone();
        theirs.indicator.version = 5;
        let (field, why) = violation(&refusal(run(
            &risk,
            Facts::default(),
            &publish("adm/BE", &theirs),
        )));
        assert_eq!(field, "indicator_id");
        assert_eq!(
            why,
            "NL:1 was issued by adm/NL; only its issuer replaces it"
        );
        let (field, why) = violation(&refusal(run(
            &risk,
            Facts::default(),
            &publish("adm/NL/risk-unit", &ours),
        )));
        assert_eq!(field, "version");
        assert_eq!(why, "must be higher than version 1 in force");
    }

    fn revoke(sender: &str, id: &str) -> Admitted {
        admitted(
            sender,
            "",
            AdmittedPayload::RiskIndicatorRevocation(RiskIndicatorRevocation {
                indicator_id: id.into(),
                reason: "closed".into(),
            }),
        )
    }

    #[test]
    fn a_revocation_follows_the_indicators_routes_and_only_its_issuer_revokes() {
        let risk = index(&[on_seller("NL:1", OutcomeCode::RequestForInformation, OWN)]);
        let (_, why) = violation(&refusal(run(
            &risk,
            Facts::default(),
            &revoke("adm/NL/risk-unit", "NL:9"),
        )));
        assert_eq!(why, "no indicator NL:9 is in force");
        let (_, why) = violation(&refusal(run(
            &risk,
            Facts::default(),
            &revoke("adm/BE", "NL:1"),
        )));
        assert_eq!(why, "NL:1 was issued by adm/NL; only its issuer revokes it");

        let facts = Facts {
            routes: vec!["adm/BE".into()],
            ..Facts::default()
        };
        let revocation = revoke("adm/NL/risk-unit", "NL:1");
        let effects = effects(run(&risk, facts, &revocation));
        assert_eq!(
            effects[1],
            Effect::RevokeIndicator {
                indicator_id: "NL:1".into()
            }
        );
        let issues = issued(&effects);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].recipient, "adm/BE");
        assert_eq!(issues[0].payload, revocation.envelope.payload);
        assert_eq!(
            effects.last(),
            Some(&Effect::ClearRoutes {
                indicator_id: "NL:1".into()
            })
        );
    }

    #[test]
    fn referral_statuses_round_trip_their_stored_form() {
        for status in [
            ReferralStatus::Open,
            ReferralStatus::Answered,
            ReferralStatus::Superseded,
        ] {
            assert_eq!(ReferralStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ReferralStatus::parse("closed"), None);
    }

    fn policy() -> RevenuePolicy {
        revenue::testing::example_policy()
    }

    /// §11's worked example, filed by the partner, for this administration's country.
    fn worked(ioss_number: &str) -> AdvanceDeclaration {
        let mut d = sample_declaration("LRN-1");
        let item = |hs: &str, quantity: u32, amount_minor: i64| crate::proto::v1::Item {
            description: format!("goods {hs}"),
            hs_code: hs.into(),
            quantity,
            value: Some(crate::proto::v1::Money {
                currency: "EUR".into(),
                amount_minor,
            }),
            origin_country: "CN".into(),
            ..crate::proto::v1::Item::default()
        };
        d.items = vec![item("640411", 1, 4500), item("610910", 2, 2000)];
        d.revenue = Some(crate::proto::v1::Revenue {
            model: crate::proto::v1::CollectionModel::Platform as i32,
            ioss_number: ioss_number.into(),
            tax_collected: None,
        });
        d
    }

    fn filed_with(declaration: AdvanceDeclaration) -> Admitted {
        admitted(PARTNER, "", AdmittedPayload::Declaration(declaration))
    }

    #[test]
    fn a_charged_release_carries_its_charges_and_joins_the_splitting_index() {
        let policy = policy();
        let charged = effects(run_charging(
            &RiskIndex::new(),
            Some(&policy),
            Facts::default(),
            &filed_with(worked("")),
        ));
        let outcome = outcome_of(issued(&charged)[0]);
        assert_eq!(outcome.code, OutcomeCode::AssessmentComplete as i32);
        assert_eq!(outcome.total_due.map(|m| m.amount_minor), Some(2333));
        let record = declaration_in(&charged);
        assert_eq!(record.account.first_released_at_ms, Some(NOW));
        assert_eq!(record.account.charges.as_ref().map(|c| c.duty), Some(600));
        assert_eq!(
            charged.last(),
            Some(&Effect::TrackParcel(Parcel {
                declaration_id: record.id.clone(),
                key: revenue::splitting_key(&record.data),
                value: 6500,
                counts: true,
            }))
        );
        // Without a policy, or for another country, nothing is charged or tracked.
        let mut abroad = worked("");
        abroad.country_of_destination = "BE".into();
        for (revenue, declaration) in [(None, worked("")), (Some(&policy), abroad)] {
            let uncharged = effects(run_charging(
                &RiskIndex::new(),
                revenue,
                Facts::default(),
                &filed_with(declaration),
            ));
            let outcome = outcome_of(issued(&uncharged)[0]);
            assert!(outcome.charges.is_empty() && outcome.total_due.is_none());
            assert!(!uncharged
                .iter()
                .any(|e| matches!(e, Effect::TrackParcel(_))));
        }
    }

    #[test]
    fn a_more_severe_indicator_beats_a_revenue_check_and_a_revenue_check_beats_an_indicator_rfi() {
        let policy = policy();
        let unregistered = worked("IM9999999999");
        for (action, expected, raised_by) in [
            (
                OutcomeCode::ControlOnArrival,
                OutcomeCode::ControlOnArrival,
                "",
            ),
            (
                OutcomeCode::RequestForInformation,
                OutcomeCode::RequestForInformation,
                "revenue/R1",
            ),
        ] {
            let risk = index(&[on_seller("NL:1", action, OWN)]);
            let effects = effects(run_charging(
                &risk,
                Some(&policy),
                Facts::default(),
                &filed_with(unregistered.clone()),
            ));
            let outcome = outcome_of(issued(&effects)[0]);
            assert_eq!(outcome.code, expected as i32);
            if expected == OutcomeCode::ControlOnArrival {
                // Control on arrival releases: the charges come with it.
                assert_eq!(outcome.total_due.map(|m| m.amount_minor), Some(2333));
            } else {
                assert_eq!(outcome.pointer, "revenue.ioss_number");
                assert!(outcome.request_text.contains("IM9999999999"));
                let referral = effects.iter().find_map(|e| match e {
                    Effect::OpenReferral(r) => Some(r.indicator_id.clone()),
                    _ => None,
                });
                assert_eq!(referral.as_deref(), Some(raised_by));
            }
        }
    }

    #[test]
    fn r5_uses_the_sum_the_writer_looked_up() {
        let policy = policy();
        let facts = |others_value| Facts {
            others_value,
            ..Facts::default()
        };
        for (others, expected) in [
            (8500, OutcomeCode::AssessmentComplete),
            (8501, OutcomeCode::RequestForInformation),
        ] {
            let effects = effects(run_charging(
                &RiskIndex::new(),
                Some(&policy),
                facts(others),
                &filed_with(worked("")),
            ));
            assert_eq!(outcome_of(issued(&effects)[0]).code, expected as i32);
        }
    }

    #[test]
    fn a_currency_without_a_rate_refuses_a_charged_declaration_only() {
        let policy = policy();
        let mut d = worked("");
        if let Some(value) = d.items[1].value.as_mut() {
            value.currency = "CHF".into();
        }
        let rejection = refusal(run_charging(
            &RiskIndex::new(),
            Some(&policy),
            Facts::default(),
            &filed_with(d.clone()),
        ));
        assert_eq!(
            violation(&rejection),
            (
                "items[1].value.currency".to_owned(),
                "no exchange rate for CHF".to_owned()
            )
        );
        d.country_of_destination = "BE".into();
        effects(run_charging(
            &RiskIndex::new(),
            Some(&policy),
            Facts::default(),
            &filed_with(d),
        ));
    }

    fn returning(lines: &[(u32, u32)], created_at_ms: i64) -> Admitted {
        let notice = revenue::consumer_return_by_post("RET-1", lines, NOW - 1);
        let mut admitted = admitted(PARTNER, "decl-1", AdmittedPayload::ReturnNotice(notice));
        admitted.header.created_at_ms = created_at_ms;
        admitted
    }

    fn released(days_ago: i64, charged: bool) -> Facts {
        let mut record = on_file(DeclarationState::Cleared, "");
        record.data = worked("");
        record.account.first_released_at_ms = Some(NOW - days_ago * 86_400_000);
        record.account.charges = charged.then(|| revenue::charges(&policy(), &record.data));
        Facts {
            declaration: Some(record),
            ..Facts::default()
        }
    }

    #[test]
    fn a_return_is_accepted_up_to_90_days_after_the_first_release() {
        let effects = effects(run(
            &RiskIndex::new(),
            released(90, true),
            &returning(&[(1, 2)], NOW),
        ));
        let decision = RefundDecision::decode(issued(&effects)[0].payload.as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decision.total_refund.map(|m| m.amount_minor), Some(783));
        assert_eq!(
            issued(&effects)[0].message_type,
            MessageType::RefundDecision
        );
        assert_eq!(issued(&effects)[0].route, Route::Fetch);
        assert_eq!(issued(&effects)[0].recipient, PARTNER);
        let record = declaration_in(&effects);
        assert_eq!(record.state, DeclarationState::PartlyReturned);
        assert_eq!(record.account.returned, vec![0, 2]);
        assert_eq!(record.account.refunded.duty, 300);

        let rejection = refusal(run(
            &RiskIndex::new(),
            released(90, true),
            &returning(&[(1, 2)], NOW + 1),
        ));
        assert_eq!(rejection.reason(), "RETURN_PERIOD_EXPIRED");
    }

    #[test]
    fn a_return_of_an_uncharged_declaration_refunds_nothing_but_is_recorded() {
        let effects = effects(run(
            &RiskIndex::new(),
            released(1, false),
            &returning(&[(0, 1), (1, 2)], NOW),
        ));
        let decision = RefundDecision::decode(issued(&effects)[0].payload.as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(decision.refunds.is_empty());
        assert_eq!(decision.total_refund.map(|m| m.amount_minor), Some(0));
        assert_eq!(declaration_in(&effects).state, DeclarationState::Returned);
    }

    #[test]
    fn a_declaration_released_before_accounts_existed_counts_from_its_last_change() {
        let mut facts = released(0, false);
        if let Some(record) = facts.declaration.as_mut() {
            record.account = Account::default();
            record.updated_at_ms = NOW - 91 * 86_400_000;
        }
        let rejection = refusal(run(&RiskIndex::new(), facts, &returning(&[(0, 1)], NOW)));
        assert_eq!(rejection.reason(), "RETURN_PERIOD_EXPIRED");
    }

    #[test]
    fn a_returned_declaration_is_closed_to_amendments_and_further_returns() {
        for state in [DeclarationState::PartlyReturned, DeclarationState::Returned] {
            let facts = Facts {
                declaration: Some(on_file(state, "")),
                ..Facts::default()
            };
            let amendment = admitted(
                PARTNER,
                "decl-1",
                AdmittedPayload::Amendment(sample_declaration("LRN-1")),
            );
            assert_eq!(
                refusal(run(&RiskIndex::new(), facts, &amendment)).reason(),
                "DECLARATION_CLOSED"
            );
        }
        let mut facts = released(1, true);
        if let Some(record) = facts.declaration.as_mut() {
            record.state = DeclarationState::Returned;
        }
        assert_eq!(
            refusal(run(&RiskIndex::new(), facts, &returning(&[(0, 1)], NOW))).reason(),
            "NOT_RELEASED"
        );
    }
}
