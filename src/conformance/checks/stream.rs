//! §6's SubmitStream: one result per envelope, in order, whatever some of them are.

use super::admission::RawBytes;
use crate::client::status_from_rpc;
use crate::conformance::kit::{check_status, fail, Case, Stop};
use crate::proto::v1::{submit_result, Envelope, MessageType, SubmitResult};
use crate::render::refusal_line;
use bytes::Bytes;
use prost::Message;
use tonic::Code;

/// What one envelope of a stream is expected to get.
enum Expect {
    Receipt(Box<Envelope>),
    Refusal(Code, &'static str),
}

/// Sends `frames` (each the bytes of one gRPC message) on one SubmitStream and compares
/// the results, in order, with `expected`.
async fn exchange(case: &Case, frames: Vec<Bytes>, expected: Vec<Expect>) -> Result<(), Stop> {
    let mut grpc = tonic::client::Grpc::new(case.partner().channel());
    grpc.ready()
        .await
        .or_else(|e| fail(format!("channel not ready: {e}")))?;
    let outbound = tokio_stream::iter(frames.into_iter().map(RawBytes));
    let mut inbound = grpc
        .streaming(
            tonic::Request::new(outbound),
            http::uri::PathAndQuery::from_static("/aedgate.v1.Gateway/SubmitStream"),
            crate::wire::WireCodec::<RawBytes, SubmitResult>::default(),
        )
        .await
        .or_else(|s| fail(format!("SubmitStream refused: {}", refusal_line(&s))))?
        .into_inner();
    for (index, expect) in expected.into_iter().enumerate() {
        let result = inbound
            .message()
            .await
            .or_else(|s| {
                fail(format!(
                    "stream failed before result {index}: {}",
                    refusal_line(&s)
                ))
            })?
            .and_then(|r| r.result);
        match (expect, result) {
            (Expect::Receipt(envelope), Some(submit_result::Result::Receipt(receipt))) => {
                case.expect_accepted(case.partner(), &envelope, Ok(receipt))
                    .map_err(|stop| stop.context(format_args!("result {index}")))?;
            }
            (Expect::Refusal(code, reason), Some(submit_result::Result::Error(status))) => {
                check_status(status_from_rpc(status), code, reason)
                    .map_err(|stop| stop.context(format_args!("result {index}")))?;
            }
            (Expect::Receipt(_), Some(submit_result::Result::Error(status))) => {
                return fail(format!(
                    "result {index}: {} where a receipt for envelope {index} was due",
                    refusal_line(&status_from_rpc(status))
                ))
            }
            (Expect::Refusal(code, reason), Some(submit_result::Result::Receipt(receipt))) => {
                return fail(format!(
                    "result {index}: a receipt for {} where {code:?}/{reason} was due",
                    receipt.message_id
                ))
            }
            (_, None) => return fail(format!("stream ended after {index} results")),
        }
    }
    match inbound.message().await {
        Ok(None) => Ok(()),
        Ok(Some(extra)) => fail(format!("a result beyond one per envelope: {extra:?}")),
        Err(status) => fail(format!(
            "stream failed after the last result: {}",
            refusal_line(&status)
        )),
    }
}

fn frame(envelope: &Envelope) -> Bytes {
    Bytes::from(envelope.encode_to_vec())
}

pub(super) async fn order_after_rejection(case: Case) -> Result<(), Stop> {
    let first = case.seal_declaration(&case.declaration());
    let mut tampered = case.seal_declaration(&case.declaration());
    tampered.payload = Bytes::from([&tampered.payload[..], b"\x52\x00"].concat());
    let third = case.seal_declaration(&case.declaration());
    let mut invalid = case.declaration();
    invalid.lrn = "X".repeat(23);
    let invalid = case.seal_declaration(&invalid);
    let fifth = case.seal_declaration(&case.declaration());
    let frames = [&first, &tampered, &third, &invalid, &fifth]
        .into_iter()
        .map(frame)
        .collect();
    exchange(
        &case,
        frames,
        vec![
            Expect::Receipt(Box::new(first.clone())),
            Expect::Refusal(Code::InvalidArgument, "PAYLOAD_DIGEST_MISMATCH"),
            Expect::Receipt(Box::new(third.clone())),
            Expect::Refusal(Code::InvalidArgument, "VALIDATION_FAILED"),
            Expect::Receipt(Box::new(fifth.clone())),
        ],
    )
    .await
}

pub(super) async fn continues_after_garbage(case: Case) -> Result<(), Stop> {
    let declaration = case.declaration();
    let filed = case.seal_declaration(&declaration);
    let declaration_id = filed
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default();
    let mut amended = declaration.clone();
    amended.gross_mass_g += 100;
    let amendment = case.partner().sign(case.draft_from(
        case.partner(),
        MessageType::Amendment,
        Bytes::from(amended.encode_to_vec()),
        &declaration_id,
    ));
    exchange(
        &case,
        vec![
            Bytes::from_static(b"\xff\xff\xff"),
            frame(&filed),
            frame(&amendment),
        ],
        vec![
            Expect::Refusal(Code::InvalidArgument, "MALFORMED"),
            Expect::Receipt(Box::new(filed.clone())),
            Expect::Receipt(Box::new(amendment.clone())),
        ],
    )
    .await
}
