//! A simple concurrent load against a real gateway on this machine: N mutual-TLS connections
//! with M unary Submits in flight each, every declaration signed by the partner, verified,
//! validated and durably group-committed by the gateway, and every receipt verified by the
//! partner. Run with:
//!
//! ```text
//! cargo bench --bench load -- [--connections 8] [--in-flight 32] [--total 20000]
//! ```
//!
//! Alongside it, in the same run, it measures a baseline — the signature work one
//! declaration needs (partner sign, gateway verify, receipt sign, outcome sign, partner
//! verify of the receipt) in a
//! tight loop on every core — and prints the gateway's throughput as a ratio to it, since
//! absolute figures on a shared machine mean little. The full benchmark is `aedgate bench`
//! (a later issue); this is the first measurement.

use aedgate::client::Participant;
use aedgate::config::{ClientConfig, GatewayConfig};
use aedgate::core::envelope::{
    envelope_signing_input, receipt_signing_input, sign_receipt, ReceiptFields,
};
use aedgate::pki::PkiSpec;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Signature operations per declaration, on all cores, for `duration`.
fn crypto_bound(pki_dir: &std::path::Path, duration: Duration) -> f64 {
    let load = |name: &str| {
        let pem = std::fs::read(pki_dir.join(name)).expect("key");
        aedgate::core::crypto::SigningKey::from_pem(&pem).expect("key")
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let partner = load("ptr-NL-shopco.sign.key");
            let gateway = load("adm-NL.sign.key");
            std::thread::spawn(move || {
                let partner_pub = partner.verifying_key();
                let gateway_pub = gateway.verifying_key();
                let decl = aedgate::core::validation::sample_declaration("BOUND");
                let payload = prost::Message::encode_to_vec(&decl);
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < duration {
                    let header = aedgate::proto::v1::Header {
                        message_id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd".into(),
                        sender: "ptr/NL/shopco".into(),
                        recipient: "adm/NL".into(),
                        r#type: 1,
                        created_at_ms: n as i64,
                        correlation_id: String::new(),
                        payload_sha256: aedgate::core::envelope::sha256(&payload).to_vec().into(),
                    };
                    let input = envelope_signing_input(&header);
                    let sig = partner.sign(&input);
                    assert!(partner_pub.verify(&input, &sig));
                    let digest = aedgate::core::envelope::sha256(&input);
                    let fields = ReceiptFields {
                        message_id: &header.message_id,
                        receiver: "adm/NL",
                        received_at_ms: 1,
                        envelope_digest: &digest,
                        disposition: 1,
                        log_index: n,
                    };
                    let receipt = sign_receipt(&fields, &gateway, "k");
                    // The outcome the gateway signs for each declaration.
                    let outcome = gateway.sign(&input);
                    std::hint::black_box(&outcome);
                    assert!(gateway_pub.verify(
                        &receipt_signing_input(&fields),
                        &receipt.signature.unwrap().value
                    ));
                    n += 1;
                }
                n as f64 / start.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

fn main() {
    let connections = arg("--connections", 8);
    let in_flight = arg("--in-flight", 32);
    let total = arg("--total", 20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = aedgate::pki::generate(PkiSpec::standard()).expect("pki");
        pki.write(dir.path(), false).expect("write");
        let path = dir.path().join("adm-NL.gateway.toml");
        let text = std::fs::read_to_string(&path).expect("read").replace("127.0.0.1:7443", "127.0.0.1:0");
        std::fs::write(&path, text).expect("write");
        let gateway = aedgate::server::start(GatewayConfig::load(&path).expect("config")).await.expect("start");
        let mut clients = Vec::new();
        for _ in 0..connections {
            let mut config = ClientConfig::load(&dir.path().join("ptr-NL-shopco.client.toml")).expect("client");
            config.endpoint = format!("https://{}", gateway.local_addr());
            clients.push(Participant::connect(config).await.expect("connect"));
        }
        // Sealing is the partner's work, done before the clock starts so that the figure is
        // the gateway's (partner verification of each receipt stays inside the timed part).
        let envelopes: Arc<Vec<_>> = Arc::new(
            (0..total)
                .map(|i| {
                    clients[0].seal_declaration(&aedgate::core::validation::sample_declaration(&format!("LOAD-{i}")))
                })
                .collect(),
        );
        println!("load: {connections} connections x {in_flight} in flight, {total} declarations via unary Submit");
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in &clients {
            for _ in 0..in_flight {
                let mut client = client.clone();
                let next = next.clone();
                let envelopes = envelopes.clone();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(env) = envelopes.get(i) else { return latencies };
                        let t = Instant::now();
                        client.submit(env.clone()).await.expect("accepted");
                        latencies.push(t.elapsed());
                    }
                }));
            }
        }
        let mut latencies = Vec::with_capacity(total);
        for t in tasks {
            latencies.extend(t.await.expect("task"));
        }
        let elapsed = start.elapsed();
        latencies.sort();
        let rate = total as f64 / elapsed.as_secs_f64();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        let stored = gateway.state().store.log_size().await.expect("size");
        assert_eq!(stored as usize, 2 * total, "every declaration stored with its outcome");
        println!(
            "accepted {total} (stored {stored}) in {:.2} s = {rate:.0} declarations/s; receipt latency p50 {:.1} ms, p99 {:.1} ms",
            elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3
        );
        gateway.shutdown().await.expect("shutdown");
        let bound = crypto_bound(dir.path(), Duration::from_secs(2));
        println!("baseline: signature work per declaration on all cores = {bound:.0} declarations/s");
        println!("ratio: gateway throughput / crypto bound = {:.2}", rate / bound);
    });
}
