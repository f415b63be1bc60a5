//! Memory per request (issue 15, item 7): a payload of hundreds of thousands of empty
//! repeated entries is refused by their count before they are decoded into structures or
//! turned into a violation each, so that what a request costs stays a small multiple of its
//! size. Measured by this test binary's own allocator, which the in-process gateway shares:
//! real sockets, real mutual TLS, real signatures, real store.
//!
//! One test in this file: a second running beside it would allocate into the same figure.

mod common;

use aedgate::proto::v1::MessageType;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::Code;

/// The system allocator, keeping the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes held at once during `work`, above what was held when it started.
async fn peak_during<F: std::future::Future>(work: F) -> (F::Output, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let output = work.await;
    (output, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// `count` empty entries of protobuf field `field` (length-delimited, length 0).
fn empty_entries(field: u32, count: usize) -> Vec<u8> {
    let key = u8::try_from((field << 3) | 2).expect("a one-byte key");
    [key, 0].repeat(count)
}

/// What a request may cost, as a multiple of its payload: the message is held by the
/// transport, the envelope and the admission once each, and a few buffers around them.
const ALLOWED_MULTIPLE: usize = 8;

#[tokio::test]
async fn half_a_million_empty_entries_are_refused_by_count_within_a_small_multiple_of_the_payload()
{
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let risk_unit = fed.connect("adm/NL/risk-unit", &gateway).await;
    // Warm the connections and the gateway's lazy state with a valid Submit first.
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("MEM"))))
        .await
        .expect("accepted");

    // AdvanceDeclaration.items = 12; ReturnNotice.lines = 3; RiskIndicator.criteria = 7,
    // whose Criteria.hs_prefixes = 1.
    let entries = 500_000;
    let criteria = empty_entries(1, entries);
    let mut indicator = vec![(7 << 3) | 2];
    prost::encoding::encode_varint(criteria.len() as u64, &mut indicator);
    indicator.extend_from_slice(&criteria);
    let cases = [
        (
            &shopco,
            MessageType::Declaration,
            empty_entries(12, entries),
            "",
        ),
        (
            &shopco,
            MessageType::ReturnNotice,
            empty_entries(3, entries),
            "0190f0b4-0000-7000-8000-000000000000",
        ),
        (&risk_unit, MessageType::RiskIndicator, indicator, ""),
    ];
    for (partner, kind, payload, correlation) in cases {
        let size = payload.len();
        let envelope = partner.seal(kind, bytes::Bytes::from(payload), correlation);
        let mut grpc = partner.grpc();
        let (answer, peak) = peak_during(grpc.submit(envelope)).await;
        eprintln!("{kind:?}: {size}-byte payload, peak {peak} bytes");
        let status = answer.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{kind:?}: {status:?}");
        assert_eq!(reason(&status), "VALIDATION_FAILED", "{kind:?}");
        assert!(
            peak <= ALLOWED_MULTIPLE * size,
            "{kind:?}: a {size}-byte payload cost {peak} bytes at its peak (allowed {}x)",
            ALLOWED_MULTIPLE
        );
    }
    gateway.shutdown().await.expect("shutdown");
}
