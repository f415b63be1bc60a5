//! Submit and SubmitStream over real sockets, real mutual TLS, real signatures and the real
//! store: the happy path, every row of PROTOCOL.md §3's table, idempotency and ordering.

mod common;

use aedgate::core::envelope::{envelope_digest, Draft};
use aedgate::proto::v1::{Disposition, Envelope, MessageType};
use bytes::Bytes;
use common::*;
use prost::Message;
use tonic::Code;

#[tokio::test]
async fn accepted_declaration_gets_verified_receipt_only_after_it_is_stored() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let envelope = shopco.seal_declaration(&declaration(&lrn("HAPPY")));
    let receipt = shopco.submit(envelope.clone()).await.expect("accepted");
    assert_eq!(receipt.disposition, Disposition::Accepted as i32);
    assert_eq!(receipt.receiver, NL);
    assert_eq!(receipt.log_index, 0);
    let header = envelope.header.clone().unwrap();
    assert_eq!(receipt.envelope_digest[..], envelope_digest(&header)[..]);

    let stored = gateway
        .state()
        .store
        .envelope(&header.message_id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.log_index, receipt.log_index);
    assert_eq!(stored.received_at_ms, receipt.received_at_ms);
    assert_eq!(
        stored.envelope, envelope,
        "the stored envelope is the one sent"
    );
    assert_eq!(stored.envelope.encode_to_vec(), envelope.encode_to_vec());
}

#[tokio::test]
async fn ecdsa_partner_is_accepted_and_log_index_is_gap_free() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut flyfast = fed.connect(FLYFAST, &gateway).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut indices = Vec::new();
    for i in 0..6 {
        let client = if i % 2 == 0 {
            &mut flyfast
        } else {
            &mut shopco
        };
        let env = client.seal_declaration(&declaration(&lrn("GAPFREE")));
        indices.push(client.submit(env).await.expect("accepted").log_index);
    }
    // Each declaration is followed in the log by the OUTCOME issued for it.
    assert_eq!(indices, vec![0, 2, 4, 6, 8, 10]);
    assert_eq!(gateway.state().store.log_size().await.unwrap(), 12);
}

#[tokio::test]
async fn resending_the_same_envelope_is_a_duplicate_with_the_original_receipt_data() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let first_env = shopco.seal_declaration(&declaration(&lrn("DUP0")));
    shopco.submit(first_env).await.unwrap();
    let envelope = shopco.seal_declaration(&declaration(&lrn("DUP")));
    let first = shopco.submit(envelope.clone()).await.unwrap();
    let again = shopco.submit(envelope.clone()).await.unwrap();
    assert_eq!(again.disposition, Disposition::Duplicate as i32);
    assert_eq!(again.log_index, first.log_index);
    assert_eq!(
        again.log_index, 2,
        "after the first declaration and its outcome"
    );
    assert_eq!(again.received_at_ms, first.received_at_ms);
    assert_eq!(again.envelope_digest, first.envelope_digest);
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        4,
        "a duplicate adds no entry"
    );
}

/// Submits `envelope` as `connection` and returns the refusal.
async fn refusal(client: &mut aedgate::client::Participant, envelope: Envelope) -> tonic::Status {
    refused(client.submit(envelope).await)
}

#[tokio::test]
async fn every_row_of_the_admission_table_gives_its_status_and_reason_and_stores_nothing() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let good = || draft(SHOPCO, NL, &declaration(&lrn("ROW")));
    let mut cases: Vec<(&str, Envelope, Code, &str)> = Vec::new();

    // MALFORMED: header missing, bad ids, digest length, no signature.
    let mut e = seal_as(&fed, SHOPCO, good());
    e.header = None;
    cases.push(("no header", e, Code::InvalidArgument, "MALFORMED"));
    let mut d = good();
    d.message_id = d.message_id.to_uppercase();
    cases.push((
        "upper-case message id",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "MALFORMED",
    ));
    let mut d = good();
    d.correlation_id = "not-a-uuid".into();
    cases.push((
        "bad correlation id",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "MALFORMED",
    ));
    let mut d = good();
    d.message_type = 99;
    cases.push((
        "unknown type",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "MALFORMED",
    ));
    let mut e = seal_as(&fed, SHOPCO, good());
    e.header.as_mut().unwrap().payload_sha256 = Bytes::from_static(&[0u8; 31]);
    cases.push(("31-byte digest", e, Code::InvalidArgument, "MALFORMED"));
    let mut e = seal_as(&fed, SHOPCO, good());
    e.signature = None;
    cases.push(("no signature", e, Code::InvalidArgument, "MALFORMED"));
    let mut d = good();
    d.payload = Bytes::from(vec![0u8; 1024 * 1024 + 1]);
    cases.push((
        "payload over 1 MiB",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "MALFORMED",
    ));

    // SENDER_MISMATCH: shopco's connection, flyfast's name and valid flyfast signature.
    let d = draft(FLYFAST, NL, &declaration(&lrn("SPOOF")));
    cases.push((
        "spoofed sender",
        seal_as(&fed, FLYFAST, d),
        Code::PermissionDenied,
        "SENDER_MISMATCH",
    ));
    // Order: spoofed AND badly signed is still SENDER_MISMATCH.
    let mut e = seal_as(
        &fed,
        SHOPCO,
        draft(FLYFAST, NL, &declaration(&lrn("SPOOF2"))),
    );
    e.signature.as_mut().unwrap().value = Bytes::from_static(&[1u8; 64]);
    cases.push((
        "spoofed and unsigned",
        e,
        Code::PermissionDenied,
        "SENDER_MISMATCH",
    ));

    // UNKNOWN_RECIPIENT (and it precedes the digest check).
    let d = draft(SHOPCO, "adm/BE", &declaration(&lrn("RCPT")));
    cases.push((
        "other administration",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "UNKNOWN_RECIPIENT",
    ));
    let mut e = seal_as(
        &fed,
        SHOPCO,
        draft(SHOPCO, "adm/XX", &declaration(&lrn("RCPT2"))),
    );
    e.payload = Bytes::from_static(b"tampered");
    cases.push((
        "unknown recipient, tampered",
        e,
        Code::InvalidArgument,
        "UNKNOWN_RECIPIENT",
    ));

    // PAYLOAD_DIGEST_MISMATCH.
    let mut e = seal_as(&fed, SHOPCO, good());
    e.payload = Bytes::from(declaration(&lrn("OTHER")).encode_to_vec());
    cases.push((
        "tampered payload",
        e,
        Code::InvalidArgument,
        "PAYLOAD_DIGEST_MISMATCH",
    ));

    // UNKNOWN_KEY: a key id nobody has, and another participant's key id.
    let mut e = seal_as(&fed, SHOPCO, good());
    e.signature.as_mut().unwrap().key_id = "ptr/NL/shopco#1999-9".into();
    cases.push(("unknown key id", e, Code::Unauthenticated, "UNKNOWN_KEY"));
    let mut e = seal_as(&fed, FLYFAST, good());
    e.signature.as_mut().unwrap().key_id = fed.key_id(FLYFAST);
    cases.push((
        "another participant's key",
        e,
        Code::Unauthenticated,
        "UNKNOWN_KEY",
    ));

    // KEY_NOT_VALID: created before the key's window.
    let mut d = good();
    d.created_at_ms = 1_577_836_800_000; // 2020-01-01
    cases.push((
        "before key window",
        seal_as(&fed, SHOPCO, d),
        Code::Unauthenticated,
        "KEY_NOT_VALID",
    ));

    // SIGNATURE_INVALID: right key id, signature by another key, and a flipped bit.
    let e = aedgate::core::envelope::seal(good(), &fed.signing_key(FLYFAST), &fed.key_id(SHOPCO));
    cases.push((
        "signed by another key",
        e,
        Code::Unauthenticated,
        "SIGNATURE_INVALID",
    ));
    let mut e = seal_as(&fed, SHOPCO, good());
    let mut sig = e.signature.as_ref().unwrap().value.to_vec();
    sig[10] ^= 0x01;
    e.signature.as_mut().unwrap().value = Bytes::from(sig);
    cases.push((
        "flipped signature bit",
        e,
        Code::Unauthenticated,
        "SIGNATURE_INVALID",
    ));

    // CLOCK_SKEW: ten minutes ahead.
    let mut d = good();
    d.created_at_ms += 600_000;
    cases.push((
        "ten minutes ahead",
        seal_as(&fed, SHOPCO, d),
        Code::FailedPrecondition,
        "CLOCK_SKEW",
    ));

    // NOT_AUTHORIZED: a partner sending risk intelligence or an outcome.
    let mut d = good();
    d.message_type = MessageType::RiskIndicator as i32;
    cases.push((
        "partner sends indicator",
        seal_as(&fed, SHOPCO, d),
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    ));
    let mut d = good();
    d.message_type = MessageType::Outcome as i32;
    cases.push((
        "partner sends outcome",
        seal_as(&fed, SHOPCO, d),
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    ));

    // VALIDATION_FAILED: undecodable payload.
    let mut d = good();
    d.payload = Bytes::from_static(&[0xff, 0xff, 0xff]);
    cases.push((
        "payload not a declaration",
        seal_as(&fed, SHOPCO, d),
        Code::InvalidArgument,
        "VALIDATION_FAILED",
    ));

    let case_count = cases.len() as u64;
    for (name, envelope, code, reason_expected) in cases {
        let status = refusal(&mut shopco, envelope).await;
        assert_eq!(status.code(), code, "{name}: {status:?}");
        assert_eq!(reason(&status), reason_expected, "{name}: {status:?}");
    }
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        0,
        "no rejection changes stored state"
    );
    let counted: u64 = gateway
        .state()
        .telemetry
        .counters(aedgate::telemetry::Counter::Rejected)
        .values()
        .sum();
    assert_eq!(counted, case_count, "every rejection is counted");
}

#[tokio::test]
async fn partner_not_registered_with_this_administration_is_not_authorized() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    // The postal operator is registered with adm/BE only; its certificate is valid.
    let mut config = fed.client_config("ptr/BE/bpost-demo", &gateway);
    config.gateway = NL.into();
    let mut bpost = aedgate::client::Participant::connect(config).await.unwrap();
    let status = refused(
        bpost
            .submit(bpost.seal_declaration(&declaration(&lrn("UNREG"))))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "NOT_AUTHORIZED");
}

#[tokio::test]
async fn validation_reports_every_violation_with_its_field_path_at_once() {
    use tonic_types::StatusExt;
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut decl = declaration(&lrn("BAD"));
    decl.items[0].description = "gift".into();
    decl.items[1].hs_code = "771234".into();
    decl.country_of_destination = "ZZ".into();
    let status = refused(shopco.submit(shopco.seal_declaration(&decl)).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "VALIDATION_FAILED");
    let details = status.get_error_details();
    let fields: Vec<&str> = details
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    for expected in [
        "items[0].description",
        "items[1].hs_code",
        "country_of_destination",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn reused_message_id_with_other_content_conflicts_and_reused_lrn_is_invalid() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let first = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("ORIG"))));
    shopco.submit(first.clone()).await.unwrap();

    let mut d: Draft = draft(SHOPCO, NL, &declaration(&lrn("CHANGED")));
    d.message_id = first.header.as_ref().unwrap().message_id.clone();
    let status = refused(shopco.submit(seal_as(&fed, SHOPCO, d)).await);
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "MESSAGE_ID_CONFLICT");

    let original_lrn = aedgate::proto::v1::AdvanceDeclaration::decode(first.payload.clone())
        .unwrap()
        .lrn;
    let status = refused(
        shopco
            .submit(shopco.seal_declaration(&declaration(&original_lrn)))
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "VALIDATION_FAILED");
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        2,
        "one declaration and its outcome"
    );
}

#[tokio::test]
async fn undecodable_protobuf_is_malformed_not_internal() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let status = raw::unary(
        shopco.channel(),
        "/aedgate.v1.Gateway/Submit",
        vec![0x0a, 0xff, 0xff],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "MALFORMED");
}

#[tokio::test]
async fn submit_stream_answers_in_order_and_continues_after_rejections() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let ok1 = shopco.seal_declaration(&declaration(&lrn("S1")));
    let mut tampered = shopco.seal_declaration(&declaration(&lrn("S2")));
    tampered.payload = Bytes::from_static(b"x");
    let mut vague = declaration(&lrn("S3"));
    vague.items[0].description = "goods".into();
    let vague = shopco.seal_declaration(&vague);
    let ok2 = shopco.seal_declaration(&declaration(&lrn("S4")));
    let mut envelopes = vec![ok1.clone(), tampered, vague, ok2, ok1];
    for i in 0..40 {
        envelopes.push(shopco.seal_declaration(&declaration(&format!("BULK-{i}-{}", lrn("B")))));
    }
    let results = shopco.submit_stream(envelopes.clone()).await.unwrap();
    assert_eq!(results.len(), envelopes.len());
    let r0 = results[0].as_ref().unwrap();
    assert_eq!(r0.disposition, Disposition::Accepted as i32);
    match &results[1] {
        Err(aedgate::client::ClientError::Refused(s)) => {
            assert_eq!(reason(s), "PAYLOAD_DIGEST_MISMATCH")
        }
        other => panic!("{other:?}"),
    }
    match &results[2] {
        Err(aedgate::client::ClientError::Refused(s)) => assert_eq!(reason(s), "VALIDATION_FAILED"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        results[3].as_ref().unwrap().disposition,
        Disposition::Accepted as i32
    );
    let dup = results[4].as_ref().unwrap();
    assert_eq!(dup.disposition, Disposition::Duplicate as i32);
    assert_eq!(dup.log_index, r0.log_index);
    for (i, r) in results.iter().enumerate().skip(5) {
        let receipt = r.as_ref().unwrap();
        assert_eq!(
            receipt.message_id,
            envelopes[i].header.as_ref().unwrap().message_id,
            "result {i} in order"
        );
    }
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        84,
        "42 declarations, 42 outcomes"
    );
}

#[tokio::test]
async fn submit_stream_survives_an_undecodable_envelope() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let good = shopco.seal_declaration(&declaration(&lrn("AFTER")));
    let frames = vec![vec![0x0a, 0xff, 0xff], good.encode_to_vec()];
    let results = raw::stream(shopco.channel(), "/aedgate.v1.Gateway/SubmitStream", frames)
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    let first = aedgate::proto::v1::SubmitResult::decode(results[0].as_slice()).unwrap();
    let second = aedgate::proto::v1::SubmitResult::decode(results[1].as_slice()).unwrap();
    match first.result {
        Some(aedgate::proto::v1::submit_result::Result::Error(status)) => {
            assert_eq!(status.code, Code::InvalidArgument as i32);
            assert_eq!(
                reason(&aedgate::client::status_from_rpc(status)),
                "MALFORMED"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        second.result,
        Some(aedgate::proto::v1::submit_result::Result::Receipt(_))
    ));
}

#[tokio::test]
async fn concurrent_submissions_share_commits_and_all_get_distinct_indices() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut client = shopco.clone();
        tasks.push(tokio::spawn(async move {
            let env = client.seal_declaration(&declaration(&format!("CONC-{i}")));
            client.submit(env).await.map(|r| r.log_index)
        }));
    }
    let mut indices = Vec::new();
    for t in tasks {
        indices.push(t.await.unwrap().unwrap());
    }
    indices.sort();
    assert_eq!(
        indices,
        (0..64).map(|i| 2 * i).collect::<Vec<u64>>(),
        "each followed by its outcome"
    );
    let commits = gateway.state().store.commits();
    assert!(
        commits < 64,
        "64 concurrent submissions took {commits} commits: no group commit"
    );
}

/// Sending arbitrary bytes as gRPC messages, to test what a well-behaved client cannot send.
mod raw {
    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::transport::Channel;

    #[derive(Default)]
    pub struct BytesCodec;
    pub struct BytesEncoder;
    pub struct BytesDecoder;

    impl Codec for BytesCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = BytesEncoder;
        type Decoder = BytesDecoder;
        fn encoder(&mut self) -> BytesEncoder {
            BytesEncoder
        }
        fn decoder(&mut self) -> BytesDecoder {
            BytesDecoder
        }
    }
    impl Encoder for BytesEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            buf.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for BytesDecoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
        }
    }

    pub async fn unary(
        channel: Channel,
        path: &'static str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(path);
        grpc.unary(tonic::Request::new(body), path, BytesCodec)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn stream(
        channel: Channel,
        path: &'static str,
        frames: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = http::uri::PathAndQuery::from_static(path);
        let mut inbound = grpc
            .streaming(
                tonic::Request::new(tokio_stream::iter(frames)),
                path,
                BytesCodec,
            )
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(message) = inbound.message().await? {
            out.push(message);
        }
        Ok(out)
    }
}
