//! §6's reading side: Fetch (gap-free, resumable, live, isolated) and Status (who may ask).

use crate::client::Participant;
use crate::conformance::kit::{fail, message_id as id_of, Case, Stop};
use crate::proto::v1::{Delivery, FetchRequest, MessageType};
use crate::render::refusal_line;
use prost::Message;
use std::time::Duration;
use tonic::Code;

async fn last_seq(case: &Case, who: &Participant) -> Result<u64, Stop> {
    Ok(case
        .fetch_all(who, 0)
        .await?
        .iter()
        .map(|d| d.seq)
        .max()
        .unwrap_or(0))
}

/// Files two declarations, waits for their outcomes, and returns what the partner reads
/// after `after`.
async fn two_outcomes_after(case: &Case, after: u64) -> Result<(Vec<String>, Vec<Delivery>), Stop> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (envelope, _) = case.file(&case.declaration()).await?;
        let id = id_of(&envelope);
        case.outcomes(&id, 1).await?;
        ids.push(id);
    }
    Ok((ids, case.fetch_all(case.partner(), after).await?))
}

fn correlations(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .filter_map(|d| d.envelope.as_ref()?.header.as_ref())
        .map(|h| h.correlation_id.clone())
        .collect()
}

pub(super) async fn gap_free(case: Case) -> Result<(), Stop> {
    let after = last_seq(&case, case.partner()).await?;
    let (ids, deliveries) = two_outcomes_after(&case, after).await?;
    for (offset, delivery) in deliveries.iter().enumerate() {
        let due = after.saturating_add(1).saturating_add(offset as u64);
        if delivery.seq != due {
            return fail(format!(
                "delivery {offset} after seq {after} has seq {}, not {due}",
                delivery.seq
            ));
        }
        let header = delivery.envelope.as_ref().and_then(|e| e.header.as_ref());
        let recipient = header.map(|h| h.recipient.as_str()).unwrap_or("");
        if recipient != case.partner().id {
            return fail(format!(
                "seq {} is addressed to {recipient:?}, not the caller",
                delivery.seq
            ));
        }
    }
    let seen = correlations(&deliveries);
    for id in ids {
        if !seen.contains(&id) {
            return fail(format!(
                "the outcome of {id} is not among the deliveries after seq {after}"
            ));
        }
    }
    Ok(())
}

pub(super) async fn resumption(case: Case) -> Result<(), Stop> {
    let after = last_seq(&case, case.partner()).await?;
    let (_, first_read) = two_outcomes_after(&case, after).await?;
    let Some(middle) = first_read.first().map(|d| d.seq) else {
        return fail("no deliveries after the two declarations' outcomes");
    };
    let resumed = case.fetch_all(case.partner(), middle).await?;
    let expected: Vec<_> = first_read.iter().filter(|d| d.seq > middle).collect();
    let found: Vec<_> = resumed
        .iter()
        .filter(|d| d.seq <= first_read.last().map_or(0, |d| d.seq))
        .collect();
    if let Some(early) = resumed.iter().find(|d| d.seq <= middle) {
        return fail(format!(
            "Fetch after seq {middle} returned seq {}",
            early.seq
        ));
    }
    if found.len() != expected.len() {
        return fail(format!(
            "Fetch after seq {middle} returned {} of the {} deliveries read before",
            found.len(),
            expected.len()
        ));
    }
    for (a, b) in expected.iter().zip(found) {
        if a.seq != b.seq
            || a.envelope.as_ref().map(|e| e.encode_to_vec())
                != b.envelope.as_ref().map(|e| e.encode_to_vec())
        {
            return fail(format!(
                "seq {} read again differs from the first read",
                a.seq
            ));
        }
    }
    Ok(())
}

/// Follows `who`'s Fetch from `after` until the OUTCOME of `declaration_id` arrives.
async fn await_outcome_on(
    who: &Participant,
    mut stream: tonic::Streaming<Delivery>,
    declaration_id: &str,
) -> Result<(), Stop> {
    let wait = async {
        loop {
            match stream.message().await {
                Ok(Some(delivery)) => {
                    let header = delivery.envelope.as_ref().and_then(|e| e.header.as_ref());
                    if header.is_some_and(|h| {
                        h.correlation_id == declaration_id
                            && h.r#type == MessageType::Outcome as i32
                    }) {
                        return Ok(());
                    }
                }
                Ok(None) => {
                    return fail(format!(
                        "{}'s following Fetch stream ended before the outcome",
                        who.id
                    ))
                }
                Err(status) => {
                    return fail(format!(
                        "{}'s following Fetch stream failed: {}",
                        who.id,
                        refusal_line(&status)
                    ))
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| {
            fail(format!(
                "the outcome of {declaration_id} was not streamed to {} within 20 s",
                who.id
            ))
        })
}

async fn following(who: &Participant, after_seq: u64) -> Result<tonic::Streaming<Delivery>, Stop> {
    who.grpc()
        .fetch(FetchRequest {
            after_seq,
            follow: true,
        })
        .await
        .map(|r| r.into_inner())
        .or_else(|s| fail(format!("Fetch refused to {}: {}", who.id, refusal_line(&s))))
}

pub(super) async fn follow(case: Case) -> Result<(), Stop> {
    let after = last_seq(&case, case.partner()).await?;
    let stream = following(case.partner(), after).await?;
    let (envelope, _) = case.file(&case.declaration()).await?;
    await_outcome_on(case.partner(), stream, &id_of(&envelope)).await
}

pub(super) async fn isolation(case: Case) -> Result<(), Stop> {
    let second = case.second_partner()?;
    let after = last_seq(&case, case.partner()).await?;
    let second_after = last_seq(&case, second).await?;
    let their_stream = following(second, second_after).await?;
    let mut declaration = case.declaration();
    declaration.platform_id = second.id.clone();
    let theirs = second.sign(case.draft_from(
        second,
        MessageType::Declaration,
        bytes::Bytes::from(declaration.encode_to_vec()),
        "",
    ));
    case.expect_accepted(
        second,
        &theirs,
        case.submit_as(second, theirs.clone()).await,
    )
    .map_err(|stop| stop.context("the second partner's declaration"))?;
    let their_id = id_of(&theirs);
    // Their outcome exists before the partner looks: wait for it on their own Fetch.
    await_outcome_on(second, their_stream, &their_id).await?;
    if case.internal().is_ok() {
        let indicator_id = case
            .publish(
                crate::proto::v1::OutcomeCode::RequestForInformation,
                &case.seller_id(),
            )
            .await?;
        case.revoke(&indicator_id).await?;
    }
    // A declaration of the partner's own, as a marker that everything before it is readable.
    let (mine, _) = case.file(&case.declaration()).await?;
    case.outcomes(&id_of(&mine), 1).await?;
    for delivery in case.fetch_all(case.partner(), after).await? {
        let Some(header) = delivery.envelope.as_ref().and_then(|e| e.header.as_ref()) else {
            continue;
        };
        if header.recipient != case.partner().id || header.correlation_id == their_id {
            return fail(format!(
                "seq {} ({} for {}) is not the caller's",
                delivery.seq, header.r#type, header.recipient
            ));
        }
        if header.r#type == MessageType::RiskIndicator as i32
            || header.r#type == MessageType::RiskIndicatorRevocation as i32
        {
            return fail(format!(
                "seq {} delivers risk intelligence to a partner",
                delivery.seq
            ));
        }
    }
    Ok(())
}

pub(super) async fn internal_sees_all(case: Case) -> Result<(), Stop> {
    let internal = case.internal()?;
    let after = last_seq(&case, internal).await?;
    let (envelope, _) = case.file(&case.declaration()).await?;
    let id = id_of(&envelope);
    case.outcomes(&id, 1).await?;
    let read = case.fetch_all(internal, after).await?;
    let has_declaration = read
        .iter()
        .any(|d| d.envelope.as_ref().map(id_of).as_deref() == Some(id.as_str()));
    let has_outcome = correlations(&read).contains(&id);
    if !has_declaration || !has_outcome {
        return fail(format!(
            "the internal participant's Fetch after seq {after} shows the declaration: {has_declaration}, its outcome: {has_outcome}"
        ));
    }
    Ok(())
}

pub(super) async fn status_allowed(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let (envelope, _) = case.file(&declaration).await?;
    let id = id_of(&envelope);
    let (_, outcome) = case
        .outcomes(&id, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Stop::Fail("no outcome".into()))?;
    let mut askers = vec![case.partner()];
    if let Ok(internal) = case.internal() {
        askers.push(internal);
    }
    for asker in askers {
        let found = case.status_as(asker, &id).await.or_else(|s| {
            fail(format!(
                "Status refused to {}: {}",
                asker.id,
                refusal_line(&s)
            ))
        })?;
        if found.declaration_id != id || found.lrn != declaration.lrn || found.mrn != outcome.mrn {
            return fail(format!(
                "Status to {} names {:?} / LRN {:?} / MRN {:?}, not {id:?} / {:?} / {:?}",
                asker.id, found.declaration_id, found.lrn, found.mrn, declaration.lrn, outcome.mrn
            ));
        }
    }
    Ok(())
}

pub(super) async fn status_forbidden(case: Case) -> Result<(), Stop> {
    let second = case.second_partner()?;
    let (envelope, _) = case.file(&case.declaration()).await?;
    // §6 says who may ask, not with which code another is refused.
    match case.status_as(second, &id_of(&envelope)).await {
        Ok(found) => fail(format!(
            "another partner was told the declaration's state: {found:?}"
        )),
        Err(_) => Ok(()),
    }
}

pub(super) async fn status_unknown(case: Case) -> Result<(), Stop> {
    let unknown = uuid::Uuid::now_v7().hyphenated().to_string();
    match case.status_as(case.partner(), &unknown).await {
        Ok(found) => fail(format!("a state for an id never filed: {found:?}")),
        Err(status) => {
            crate::conformance::kit::check_status(status, Code::NotFound, "UNKNOWN_DECLARATION")
                .map(|_| ())
        }
    }
}
