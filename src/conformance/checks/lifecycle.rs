//! §5 and §8: from a declaration to its outcomes, through referrals, amendments,
//! invalidation and the closing rules. Indicators are published by the profile's internal
//! participant, TLP RED, matching only this check's seller id.

use crate::conformance::kit::{fail, message_id as id_of, Case, Stop};
use crate::proto::v1::{
    AdvanceDeclaration, DeclarationState, Envelope, Invalidation, MessageType, Outcome,
    OutcomeCode, Receipt, ReferralResponse, ScreeningResult, StatusResponse,
};
use crate::render::refusal_line;
use crate::render::wire_name_or_number;
use bytes::Bytes;
use prost::Message;
use tonic::Code;

pub(super) fn seller_of(declaration: &AdvanceDeclaration) -> String {
    declaration
        .seller
        .as_ref()
        .map(|s| s.identifier.clone())
        .unwrap_or_default()
}

/// Files `declaration` and returns its id with its first outcome.
pub(super) async fn file(
    case: &Case,
    declaration: &AdvanceDeclaration,
) -> Result<(String, Envelope, Outcome), Stop> {
    let (envelope, _) = case.file(declaration).await?;
    let id = id_of(&envelope);
    let (outcome_envelope, outcome) = nth_outcome(case, &id, 1).await?;
    Ok((id, outcome_envelope, outcome))
}

/// The `n`-th outcome (from 1) of a declaration.
pub(super) async fn nth_outcome(
    case: &Case,
    declaration_id: &str,
    n: usize,
) -> Result<(Envelope, Outcome), Stop> {
    case.outcomes(declaration_id, n).await?;
    // Exactly n: nothing more may follow once a later declaration has been answered.
    case.settle().await?;
    let mut outcomes = case.outcomes(declaration_id, n).await?;
    if outcomes.len() > n {
        return fail(format!(
            "{} OUTCOMEs for declaration {declaration_id} where {n} were due",
            outcomes.len()
        ));
    }
    outcomes.pop().map_or_else(|| fail("no outcome"), Ok)
}

pub(super) fn expect_code(outcome: &Outcome, code: OutcomeCode, what: &str) -> Result<(), Stop> {
    if outcome.code == code as i32 {
        return Ok(());
    }
    fail(format!(
        "{what}: outcome {}, where {} was due",
        wire_name_or_number::<OutcomeCode>(outcome.code),
        code.as_str_name()
    ))
}

pub(super) async fn status(case: &Case, declaration_id: &str) -> Result<StatusResponse, Stop> {
    case.status_as(case.partner(), declaration_id)
        .await
        .or_else(|s| {
            fail(format!(
                "Status refused to the declaration's sender: {}",
                refusal_line(&s)
            ))
        })
}

pub(super) async fn expect_state(
    case: &Case,
    declaration_id: &str,
    state: DeclarationState,
) -> Result<StatusResponse, Stop> {
    let found = status(case, declaration_id).await?;
    if found.state != state as i32 {
        return fail(format!(
            "Status state {}, where {} was due",
            wire_name_or_number::<DeclarationState>(found.state),
            state.as_str_name()
        ));
    }
    Ok(found)
}

pub(super) fn about(
    case: &Case,
    message_type: MessageType,
    payload: Vec<u8>,
    correlation_id: &str,
) -> Envelope {
    case.partner().sign(case.draft_from(
        case.partner(),
        message_type,
        Bytes::from(payload),
        correlation_id,
    ))
}

pub(super) async fn send(case: &Case, envelope: &Envelope) -> Result<Receipt, tonic::Status> {
    case.submit(envelope.clone()).await
}

pub(super) async fn accepted(
    case: &Case,
    envelope: &Envelope,
    what: &str,
) -> Result<Receipt, Stop> {
    case.expect_accepted(case.partner(), envelope, send(case, envelope).await)
        .map_err(|stop| stop.context(what))
}

pub(super) fn response(
    case: &Case,
    asking: &Envelope,
    referral_id: &str,
    information: &str,
    screening: ScreeningResult,
) -> Envelope {
    let payload = ReferralResponse {
        referral_id: referral_id.to_owned(),
        information: information.to_owned(),
        screening: screening as i32,
    };
    about(
        case,
        MessageType::ReferralResponse,
        payload.encode_to_vec(),
        &id_of(asking),
    )
}

pub(super) fn amendment(
    case: &Case,
    declaration_id: &str,
    declaration: &AdvanceDeclaration,
) -> Envelope {
    about(
        case,
        MessageType::Amendment,
        declaration.encode_to_vec(),
        declaration_id,
    )
}

pub(super) fn invalidation(case: &Case, declaration_id: &str) -> Envelope {
    let payload = Invalidation {
        reason: "Order cancelled by the buyer (conformance check)".into(),
    };
    about(
        case,
        MessageType::Invalidation,
        payload.encode_to_vec(),
        declaration_id,
    )
}

/// Sends the answer to a referral and requires the declaration's second outcome to be
/// `code`, under the first outcome's MRN.
async fn reassessed(
    case: &Case,
    declaration_id: &str,
    first: &Outcome,
    answer: &Envelope,
    code: OutcomeCode,
    after: &str,
) -> Result<(), Stop> {
    accepted(case, answer, &format!("the answer ({after})")).await?;
    let (_, second) = nth_outcome(case, declaration_id, 2).await?;
    expect_code(&second, code, &format!("after {after}"))?;
    if second.mrn != first.mrn {
        return fail(format!(
            "second outcome MRN {:?}, first {:?}",
            second.mrn, first.mrn
        ));
    }
    Ok(())
}

/// Files a declaration matched by one indicator with `action` (a referral) and requires
/// that first outcome; returns the declaration id, the OUTCOME envelope and its payload.
async fn referred(case: &Case, action: OutcomeCode) -> Result<(String, Envelope, Outcome), Stop> {
    let declaration = matched(case, &[action]).await?;
    let (id, asking, first) = file(case, &declaration).await?;
    expect_code(
        &first,
        action,
        &format!("a {} indicator matches", action.as_str_name()),
    )?;
    Ok((id, asking, first))
}

/// A declaration whose seller matches indicators with `actions`, published first.
async fn matched(case: &Case, actions: &[OutcomeCode]) -> Result<AdvanceDeclaration, Stop> {
    let declaration = case.declaration();
    for action in actions {
        case.publish(*action, &seller_of(&declaration)).await?;
    }
    Ok(declaration)
}

pub(super) async fn no_match(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let (id, _, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::AssessmentComplete,
        "no indicator matches",
    )?;
    if outcome.declaration_id != id || outcome.lrn != declaration.lrn {
        return fail(format!(
            "outcome names declaration {:?} / LRN {:?}, not {id:?} / {:?}",
            outcome.declaration_id, outcome.lrn, declaration.lrn
        ));
    }
    if outcome.mrn.chars().count() != 18 {
        return fail(format!("MRN {:?} is not 18 characters", outcome.mrn));
    }
    let (_, _, other) = file(&case, &case.declaration()).await?;
    if other.mrn == outcome.mrn {
        return fail(format!(
            "two declarations got the same MRN {:?}",
            outcome.mrn
        ));
    }
    let found = expect_state(&case, &id, DeclarationState::Cleared).await?;
    if found.mrn != outcome.mrn || found.lrn != declaration.lrn {
        return fail(format!(
            "Status says MRN {:?} / LRN {:?}, the outcome {:?} / {:?}",
            found.mrn, found.lrn, outcome.mrn, declaration.lrn
        ));
    }
    Ok(())
}

pub(super) async fn request_for_information(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let indicator_id = case
        .publish(OutcomeCode::RequestForInformation, &seller_of(&declaration))
        .await?;
    let (id, envelope, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::RequestForInformation,
        "an RFI indicator matches",
    )?;
    if outcome.referral_id.is_empty()
        || outcome.pointer.is_empty()
        || outcome.request_text.is_empty()
    {
        return fail(format!(
            "RFI outcome lacks a referral id, pointer or request text: {outcome:?}"
        ));
    }
    let visible = format!("{outcome:?}{:?}", envelope.header);
    let issuer = case.internal()?.id.clone();
    for (what, secret) in [
        ("id", indicator_id.as_str()),
        ("title", "Conformance kit indicator"),
        ("rationale", "matches only the kit's test sellers"),
        ("issuer", issuer.as_str()),
    ] {
        if visible.contains(secret) {
            return fail(format!(
                "the outcome names the matching indicator's {what} ({secret:?})"
            ));
        }
    }
    let found = expect_state(&case, &id, DeclarationState::Referred).await?;
    if found.open_referral_id != outcome.referral_id {
        return fail(format!(
            "Status names open referral {:?}, the outcome {:?}",
            found.open_referral_id, outcome.referral_id
        ));
    }
    Ok(())
}

pub(super) async fn request_for_screening(case: Case) -> Result<(), Stop> {
    let (id, _, outcome) = referred(&case, OutcomeCode::RequestForScreening).await?;
    if outcome.referral_id.is_empty() {
        return fail("screening outcome names no referral");
    }
    expect_state(&case, &id, DeclarationState::Referred).await?;
    Ok(())
}

pub(super) async fn control_on_arrival(case: Case) -> Result<(), Stop> {
    let declaration = matched(&case, &[OutcomeCode::ControlOnArrival]).await?;
    let (id, _, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::ControlOnArrival,
        "a control indicator matches",
    )?;
    expect_state(&case, &id, DeclarationState::ControlOnArrival).await?;
    Ok(())
}

pub(super) async fn severity(case: Case) -> Result<(), Stop> {
    let declaration = matched(
        &case,
        &[
            OutcomeCode::RequestForInformation,
            OutcomeCode::ControlOnArrival,
            OutcomeCode::DoNotLoad,
            OutcomeCode::RequestForScreening,
        ],
    )
    .await?;
    let (id, _, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::DoNotLoad,
        "RFI, control, DO_NOT_LOAD and screening indicators match",
    )?;
    expect_state(&case, &id, DeclarationState::DoNotLoad).await?;
    Ok(())
}

pub(super) async fn rfi_answered(case: Case) -> Result<(), Stop> {
    let (id, asking, first) = referred(&case, OutcomeCode::RequestForInformation).await?;
    let answer = response(
        &case,
        &asking,
        &first.referral_id,
        "Invoice and product sheet attached; goods are genuine.",
        ScreeningResult::Unspecified,
    );
    reassessed(
        &case,
        &id,
        &first,
        &answer,
        OutcomeCode::AssessmentComplete,
        "the RFI was answered",
    )
    .await?;
    expect_state(&case, &id, DeclarationState::Cleared).await?;
    Ok(())
}

pub(super) async fn screening_clear(case: Case) -> Result<(), Stop> {
    let declaration = matched(
        &case,
        &[
            OutcomeCode::RequestForScreening,
            OutcomeCode::ControlOnArrival,
        ],
    )
    .await?;
    let (id, asking, first) = file(&case, &declaration).await?;
    expect_code(
        &first,
        OutcomeCode::RequestForScreening,
        "screening and control indicators match",
    )?;
    let answer = response(
        &case,
        &asking,
        &first.referral_id,
        "",
        ScreeningResult::Clear,
    );
    reassessed(
        &case,
        &id,
        &first,
        &answer,
        OutcomeCode::ControlOnArrival,
        "screening CLEAR; the control indicator still matches",
    )
    .await
}

pub(super) async fn screening_not_clear(case: Case) -> Result<(), Stop> {
    let (id, asking, first) = referred(&case, OutcomeCode::RequestForScreening).await?;
    let answer = response(
        &case,
        &asking,
        &first.referral_id,
        "",
        ScreeningResult::NotClear,
    );
    reassessed(
        &case,
        &id,
        &first,
        &answer,
        OutcomeCode::DoNotLoad,
        "screening NOT_CLEAR",
    )
    .await
}

pub(super) async fn referral_answered_twice(case: Case) -> Result<(), Stop> {
    let (id, asking, first) = referred(&case, OutcomeCode::RequestForInformation).await?;
    let answer = response(
        &case,
        &asking,
        &first.referral_id,
        "Commercial invoice attached.",
        ScreeningResult::Unspecified,
    );
    accepted(&case, &answer, "the first answer").await?;
    nth_outcome(&case, &id, 2).await?;
    let again = response(
        &case,
        &asking,
        &first.referral_id,
        "Once more.",
        ScreeningResult::Unspecified,
    );
    case.expect_refused(
        send(&case, &again).await,
        Code::FailedPrecondition,
        "REFERRAL_NOT_OPEN",
    )?;
    Ok(())
}

pub(super) async fn unknown_referral(case: Case) -> Result<(), Stop> {
    let (_, asking, first) = referred(&case, OutcomeCode::RequestForInformation).await?;
    let wrong = response(
        &case,
        &asking,
        &format!("{}-X", first.referral_id),
        "Invoice attached.",
        ScreeningResult::Unspecified,
    );
    case.expect_refused(
        send(&case, &wrong).await,
        Code::FailedPrecondition,
        "UNKNOWN_REFERRAL",
    )?;
    Ok(())
}

pub(super) async fn amendment_reassessed(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let (id, _, first) = file(&case, &declaration).await?;
    let mut amended = declaration.clone();
    amended.gross_mass_g += 250;
    accepted(&case, &amendment(&case, &id, &amended), "the amendment").await?;
    // Outcomes are found by correlation_id, so this one answers the declaration.
    let (_, second) = nth_outcome(&case, &id, 2).await?;
    if second.mrn != first.mrn {
        return fail(format!(
            "amendment outcome MRN {:?}, first {:?}",
            second.mrn, first.mrn
        ));
    }
    expect_code(
        &second,
        OutcomeCode::AssessmentComplete,
        "the amended declaration matches nothing",
    )
}

pub(super) async fn invalidation_state(case: Case) -> Result<(), Stop> {
    let (id, _, _) = file(&case, &case.declaration()).await?;
    accepted(&case, &invalidation(&case, &id), "the invalidation").await?;
    expect_state(&case, &id, DeclarationState::Invalidated).await?;
    Ok(())
}

pub(super) async fn closed_after_invalidation(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let (id, _, _) = file(&case, &declaration).await?;
    accepted(&case, &invalidation(&case, &id), "the invalidation").await?;
    expect_closed(&case, &id, &declaration, "after invalidation").await
}

/// An amendment and an invalidation of a closed declaration are both refused
/// DECLARATION_CLOSED; `after` says what closed it, for the report.
pub(super) async fn expect_closed(
    case: &Case,
    id: &str,
    declaration: &AdvanceDeclaration,
    after: &str,
) -> Result<(), Stop> {
    let mut amended = declaration.clone();
    amended.gross_mass_g += 1;
    case.expect_refused(
        send(case, &amendment(case, id, &amended)).await,
        Code::FailedPrecondition,
        "DECLARATION_CLOSED",
    )
    .map_err(|s| s.context(format!("an amendment {after}")))?;
    case.expect_refused(
        send(case, &invalidation(case, id)).await,
        Code::FailedPrecondition,
        "DECLARATION_CLOSED",
    )
    .map_err(|s| s.context(format!("an invalidation {after}")))?;
    Ok(())
}

pub(super) async fn closed_after_do_not_load(case: Case) -> Result<(), Stop> {
    let declaration = matched(&case, &[OutcomeCode::DoNotLoad]).await?;
    let (id, _, first) = file(&case, &declaration).await?;
    expect_code(
        &first,
        OutcomeCode::DoNotLoad,
        "a DO_NOT_LOAD indicator matches",
    )?;
    let mut amended = declaration.clone();
    amended.gross_mass_g += 1;
    case.expect_refused(
        send(&case, &amendment(&case, &id, &amended)).await,
        Code::FailedPrecondition,
        "DECLARATION_CLOSED",
    )
    .map_err(|s| s.context("an amendment after DO_NOT_LOAD"))?;
    Ok(())
}

pub(super) async fn unknown_declaration(case: Case) -> Result<(), Stop> {
    let unknown = uuid::Uuid::now_v7().hyphenated().to_string();
    let envelope = amendment(&case, &unknown, &case.declaration());
    case.expect_refused(
        send(&case, &envelope).await,
        Code::FailedPrecondition,
        "UNKNOWN_DECLARATION",
    )?;
    Ok(())
}

pub(super) async fn version_replaces(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let seller = seller_of(&declaration);
    let indicator_id = case.publish(OutcomeCode::DoNotLoad, &seller).await?;
    case.publish_version(&indicator_id, 2, OutcomeCode::ControlOnArrival, &seller)
        .await?;
    let (_, _, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::ControlOnArrival,
        "version 2 (CONTROL_ON_ARRIVAL) replaced version 1 (DO_NOT_LOAD)",
    )
}

pub(super) async fn revocation(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let indicator_id = case
        .publish(OutcomeCode::DoNotLoad, &seller_of(&declaration))
        .await?;
    case.revoke(&indicator_id).await?;
    let (_, _, outcome) = file(&case, &declaration).await?;
    expect_code(
        &outcome,
        OutcomeCode::AssessmentComplete,
        "the only matching indicator was revoked",
    )
}
