//! Per-participant limits (issue 15, items 5 and 6): one partner's envelopes per second,
//! calls open at once and connections are bounded, the refusal says RESOURCE_EXHAUSTED,
//! `RATE_LIMITED` and when to retry, and another partner is not touched. Real sockets, real
//! mutual TLS, real signatures, real store.

mod common;

use aedgate::client::Participant;
use aedgate::config::GatewayConfig;
use aedgate::proto::v1::{submit_result, FetchRequest};
use common::*;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

/// NL's gateway with limits small enough for a test to meet.
async fn start_limited(
    fed: &Federation,
    adjust: impl FnOnce(&mut GatewayConfig),
) -> aedgate::server::RunningGateway {
    let mut config = fed.gateway_config(NL);
    adjust(&mut config);
    aedgate::server::start(config).await.expect("start")
}

/// The `RetryInfo` delay of a refusal.
fn retry_delay(status: &tonic::Status) -> Duration {
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a RetryInfo delay")
}

fn assert_rate_limited(status: &tonic::Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status), "RATE_LIMITED");
}

#[tokio::test]
async fn envelopes_over_the_rate_and_burst_are_refused_with_a_retry_delay_and_others_go_on() {
    let fed = Federation::standard();
    let gateway = start_limited(&fed, |config| {
        // One a minute in effect: the burst is all a test of a second or two can take.
        config.limits.envelopes_per_second = 1;
        config.limits.envelope_burst = 3;
    })
    .await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    for n in 0..3 {
        shopco
            .submit(shopco.seal_declaration(&declaration(&lrn(&format!("RATE-{n}")))))
            .await
            .expect("within the burst");
    }
    let over = shopco.seal_declaration(&declaration(&lrn("RATE-OVER")));
    let status = refused(shopco.submit(over.clone()).await);
    assert_rate_limited(&status);
    let delay = retry_delay(&status);
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    // The refused envelope left nothing behind: after the delay it is accepted, not a
    // duplicate.
    tokio::time::sleep(delay).await;
    let receipt = shopco.submit(over).await.expect("taken after the delay");
    assert_eq!(
        receipt.disposition,
        aedgate::proto::v1::Disposition::Accepted as i32
    );

    // Another partner has its own allowance.
    let mut flyfast = fed.connect(FLYFAST, &gateway).await;
    flyfast
        .submit(flyfast.seal_declaration(&declaration(&lrn("RATE-OTHER"))))
        .await
        .expect("another partner is not limited by shopco's flood");

    // In a SubmitStream, each envelope over the limit gets its own refusal and the stream
    // goes on to answer every envelope.
    let envelopes: Vec<_> = (0..4)
        .map(|n| flyfast.seal_declaration(&declaration(&lrn(&format!("RATE-S{n}")))))
        .collect();
    let mut results = flyfast
        .grpc()
        .submit_stream(tokio_stream::iter(envelopes))
        .await
        .expect("stream")
        .into_inner();
    let mut receipts = 0;
    let mut limited = 0;
    while let Some(result) = results.message().await.expect("the stream ends OK") {
        match result.result.expect("a result") {
            submit_result::Result::Receipt(_) => receipts += 1,
            submit_result::Result::Error(error) => {
                assert_eq!(error.code, Code::ResourceExhausted as i32, "{error:?}");
                limited += 1;
            }
        }
    }
    // FLYFAST had used one of its three: two more are taken, two refused.
    assert_eq!((receipts, limited), (2, 2));
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn calls_open_at_once_are_capped_per_participant_across_connections() {
    let fed = Federation::standard();
    let gateway = start_limited(&fed, |config| config.limits.streams_per_participant = 2).await;
    let first = fed.connect(SHOPCO, &gateway).await;
    let second = fed.connect(SHOPCO, &gateway).await;
    let follow = |partner: &Participant| {
        let mut grpc = partner.grpc();
        async move {
            grpc.fetch(FetchRequest {
                after_seq: 0,
                follow: true,
            })
            .await
            .expect("fetch opened")
            .into_inner()
        }
    };
    let held = follow(&first).await;
    let _also_held = follow(&second).await;
    let mut third = fed.connect(SHOPCO, &gateway).await;
    let status = refused(
        third
            .submit(third.seal_declaration(&declaration(&lrn("CALLS"))))
            .await,
    );
    assert_rate_limited(&status);
    assert!(retry_delay(&status) > Duration::ZERO);
    // Another partner is not counted with shopco.
    let mut flyfast = fed.connect(FLYFAST, &gateway).await;
    flyfast
        .submit(flyfast.seal_declaration(&declaration(&lrn("CALLS-OTHER"))))
        .await
        .expect("flyfast has its own calls");

    // A held stream that ends frees its place; a client retrying after the delay gets in.
    drop(held);
    let retried = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let envelope = third.seal_declaration(&declaration(&lrn("CALLS-AGAIN")));
            match third.submit(envelope).await {
                Ok(receipt) => return receipt,
                Err(aedgate::client::ClientError::Refused(status)) => {
                    assert_rate_limited(&status);
                    tokio::time::sleep(retry_delay(&status)).await;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a place freed once a stream ended");
    assert_eq!(
        retried.disposition,
        aedgate::proto::v1::Disposition::Accepted as i32
    );
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn connections_beyond_the_participants_limit_are_closed_and_the_others_go_on() {
    let fed = Federation::standard();
    let gateway = start_limited(&fed, |config| config.limits.connections_per_participant = 2).await;
    let mut held = Vec::new();
    for n in 0..2 {
        let mut partner = fed.connect(SHOPCO, &gateway).await;
        partner
            .submit(partner.seal_declaration(&declaration(&lrn(&format!("CONN-{n}")))))
            .await
            .expect("within the limit");
        held.push(partner);
    }
    let refused_outright = tokio::time::timeout(Duration::from_secs(20), async {
        match Participant::connect(fed.client_config(SHOPCO, &gateway)).await {
            Err(_) => true,
            Ok(mut third) => third
                .submit(third.seal_declaration(&declaration(&lrn("CONN-OVER"))))
                .await
                .is_err(),
        }
    })
    .await
    .expect("a third connection was neither served nor closed");
    assert!(refused_outright, "a third connection was served");
    // The two held connections still work, and another partner connects freely.
    for partner in &mut held {
        partner
            .submit(partner.seal_declaration(&declaration(&lrn("CONN-HELD"))))
            .await
            .expect("a held connection still works");
    }
    let mut flyfast = fed.connect(FLYFAST, &gateway).await;
    flyfast
        .submit(flyfast.seal_declaration(&declaration(&lrn("CONN-OTHER"))))
        .await
        .expect("another partner connects");
    // A closed connection frees its place.
    drop(held.pop());
    let reconnected = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(mut again) = Participant::connect(fed.client_config(SHOPCO, &gateway)).await {
                let envelope = again.seal_declaration(&declaration(&lrn("CONN-AGAIN")));
                if again.submit(envelope).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        reconnected.is_ok(),
        "a place freed once a connection closed"
    );
    gateway.shutdown().await.expect("shutdown");
}
