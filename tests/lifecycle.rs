//! The gateway as a process: ready line, one-line configuration errors, graceful SIGTERM,
//! kill -9 without losing an acknowledged message, trust-list reloads and rollback refusal.

mod common;

use aedgate::client::Participant;
use aedgate::proto::v1::{Disposition, Envelope, Receipt};
use aedgate::store::Store;
use common::*;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct GatewayProcess {
    child: Child,
    addr: String,
    stderr: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
}

async fn spawn_gateway(fed: &Federation) -> GatewayProcess {
    let mut child = serve_process(fed, NL);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = stdout.next_line().await.unwrap().expect("ready line");
    let addr = ready_address(&line);
    assert!(line.starts_with("aedgate ready: adm/NL"), "{line}");
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    GatewayProcess {
        child,
        addr,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_declaration_and_the_log_continues_without_gap() {
    let fed = Federation::standard();
    let mut gateway = spawn_gateway(&fed).await;
    let shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;

    let acknowledged: Arc<Mutex<Vec<(Envelope, Receipt)>>> = Arc::default();
    let (enough_tx, mut enough_rx) = tokio::sync::watch::channel(0usize);
    let enough_tx = Arc::new(enough_tx);
    let mut workers = Vec::new();
    for worker in 0..8 {
        let mut client = shopco.clone();
        let acknowledged = acknowledged.clone();
        let enough_tx = enough_tx.clone();
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let env = client.seal_declaration(&declaration(&format!("K9-{worker}-{i}")));
                match client.submit(env.clone()).await {
                    Ok(receipt) => {
                        let n = {
                            let mut list = acknowledged.lock().unwrap();
                            list.push((env, receipt));
                            list.len()
                        };
                        enough_tx.send_replace(n);
                    }
                    Err(_) => return, // the gateway is gone
                }
            }
        }));
    }
    // Kill while submissions are in flight, once a few hundred are acknowledged.
    enough_rx.wait_for(|n| *n >= 300).await.unwrap();
    gateway.child.start_kill().unwrap();
    gateway.child.wait().await.unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300);

    // Restart: every acknowledged envelope is there with its original receipt data.
    let gateway = spawn_gateway(&fed).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    for (env, receipt) in acknowledged.iter().step_by(7) {
        let again = shopco.submit(env.clone()).await.expect("resubmit");
        assert_eq!(again.disposition, Disposition::Duplicate as i32);
        assert_eq!(again.log_index, receipt.log_index);
        assert_eq!(again.received_at_ms, receipt.received_at_ms);
    }
    let next = shopco
        .submit(shopco.seal_declaration(&declaration("K9-AFTER")))
        .await
        .unwrap();
    let mut gateway = gateway;
    signal(&gateway.child, "TERM");
    assert!(gateway.child.wait().await.unwrap().success());

    let store = Store::open_read_only(&fed.path().join("data/adm-NL"))
        .await
        .unwrap();
    let size = store.log_size().await.unwrap();
    assert_eq!(
        size,
        next.log_index + 2,
        "indices 0..={} (the last its outcome) with no gap",
        next.log_index + 1
    );
    for (env, receipt) in &acknowledged {
        let id = &env.header.as_ref().unwrap().message_id;
        let stored = store
            .envelope(id)
            .await
            .unwrap()
            .expect("acknowledged envelope stored");
        assert_eq!(stored.log_index, receipt.log_index);
        assert_eq!(stored.envelope_digest, receipt.envelope_digest.to_vec());
        assert_eq!(&stored.envelope, env);
    }
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_keeps_what_was_acknowledged() {
    let fed = Federation::standard();
    let mut gateway = spawn_gateway(&fed).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    let env = shopco.seal_declaration(&declaration(&lrn("TERM")));
    let receipt = shopco.submit(env.clone()).await.unwrap();
    signal(&gateway.child, "TERM");
    let status = gateway.child.wait().await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let mut saw_stopped = false;
    while let Some(line) = gateway.stderr.next_line().await.unwrap() {
        saw_stopped |= line.contains("stopped");
    }
    assert!(saw_stopped, "a graceful stop is logged");

    let gateway = spawn_gateway(&fed).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    let again = shopco.submit(env).await.unwrap();
    assert_eq!(again.disposition, Disposition::Duplicate as i32);
    assert_eq!(again.log_index, receipt.log_index);
}

async fn serve_error(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("aedgate: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_with_one_line() {
    let fed = Federation::standard();
    let line = serve_error(&fed.file("missing.toml")).await;
    assert!(line.contains("missing.toml"), "{line}");

    let config = fed.gateway_config_path(NL);
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        original.replace(
            "participant = \"adm/NL\"",
            "participant = \"ptr/NL/shopco\"",
        ),
    )
    .unwrap();
    assert!(serve_error(&config).await.contains("not an administration"));

    std::fs::write(&config, original.replace("[signing]", "[signing]\nbogus =")).unwrap();
    assert!(serve_error(&config).await.contains(".toml"));

    std::fs::write(
        &config,
        original.replace("adm-NL.sign.key", "adm-BE.sign.key"),
    )
    .unwrap();
    assert!(serve_error(&config).await.contains("does not match"));

    std::fs::write(&config, original.clone()).unwrap();
    let list = fed.file("trust-list.json");
    let bytes = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, bytes.replace("ShopCo B.V.", "ShopCo B.V. (forged)")).unwrap();
    assert!(serve_error(&config).await.contains("does not verify"));
}

/// Adds a participant to the trust list under a new version, re-signed by the operator.
fn publish_list(fed: &Federation, version: u64, extra_partner: Option<&str>) {
    let mut doc = fed.pki.trust_list.clone();
    doc.version = version;
    if let Some(id) = extra_partner {
        let mut entry = doc
            .participants
            .iter()
            .find(|p| p.id == SHOPCO)
            .unwrap()
            .clone();
        entry.id = id.to_owned();
        entry.name = "Newly registered shop".into();
        entry.signing_keys[0].key_id = format!("{id}#1");
        doc.participants.push(entry);
    }
    let (bytes, sig) = fed.pki.resign(&doc).unwrap();
    std::fs::write(fed.file("trust-list.json"), bytes).unwrap();
    std::fs::write(fed.file("trust-list.json.sig"), sig).unwrap();
}

/// A client for a participant added by `publish_list` (shopco's signing key, own cert).
async fn newcomer(
    fed: &Federation,
    id: &str,
    gateway: &aedgate::server::RunningGateway,
) -> Result<Receipt, String> {
    let issued = fed
        .pki
        .ca
        .issue(
            id,
            Some(&aedgate::pki::spiffe_uri("wco-ecom.test", id)),
            &[],
            &[],
        )
        .unwrap();
    std::fs::write(fed.file("new.tls.crt"), &issued.cert_pem).unwrap();
    std::fs::write(fed.file("new.tls.key"), &issued.key_pem).unwrap();
    let mut config = fed.client_config(SHOPCO, gateway);
    config.participant = id.to_owned();
    config.identity =
        aedgate::tls::Identity::load(&fed.file("new.tls.crt"), &fed.file("new.tls.key")).unwrap();
    config.signer.key_id = format!("{id}#1");
    let mut client = Participant::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let env = client.seal_declaration(&declaration(&lrn("NEW")));
    client.submit(env).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn reload_applies_a_newer_list_keeps_connections_and_refuses_bad_or_older_lists() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("PRE"))))
        .await
        .unwrap();
    assert!(
        newcomer(&fed, "ptr/NL/newshop", &gateway).await.is_err(),
        "unknown before the new list"
    );

    publish_list(&fed, 2, Some("ptr/NL/newshop"));
    assert_eq!(gateway.reload().await.unwrap(), 2);
    newcomer(&fed, "ptr/NL/newshop", &gateway)
        .await
        .expect("known after reload");
    // The connection made before the reload still works.
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("POST"))))
        .await
        .unwrap();

    // A rollback to version 1 is refused and version 2 stays in force.
    publish_list(&fed, 1, None);
    let err = gateway.reload().await.unwrap_err().to_string();
    assert!(err.contains("rollback"), "{err}");
    assert_eq!(gateway.state().trust.borrow().version(), 2);
    // A list whose signature does not verify is refused too.
    publish_list(&fed, 3, None);
    let list = fed.file("trust-list.json");
    let text = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, text.replace("\"version\": 3", "\"version\": 4")).unwrap();
    assert!(gateway
        .reload()
        .await
        .unwrap_err()
        .to_string()
        .contains("does not verify"));
    assert_eq!(gateway.state().trust.borrow().version(), 2);
    // (The client reads the list from the same folder, so give it a valid one again; the
    // gateway is not reloaded.)
    publish_list(&fed, 2, Some("ptr/NL/newshop"));
    newcomer(&fed, "ptr/NL/newshop", &gateway)
        .await
        .expect("old list still in force");

    // Restarting with an older list than one ever used is refused as well.
    gateway.shutdown().await.unwrap();
    publish_list(&fed, 1, None);
    let err = aedgate::server::start(fed.gateway_config(NL))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("rollback"), "{err}");
}

#[tokio::test]
async fn sighup_reloads_the_running_process() {
    let fed = Federation::standard();
    let mut gateway = spawn_gateway(&fed).await;
    publish_list(&fed, 5, None);
    signal(&gateway.child, "HUP");
    loop {
        let line = gateway.stderr.next_line().await.unwrap().expect("log line");
        if line.contains("reloaded trust list") {
            assert!(line.contains('5'), "{line}");
            break;
        }
    }
    publish_list(&fed, 4, None);
    signal(&gateway.child, "HUP");
    loop {
        let line = gateway.stderr.next_line().await.unwrap().expect("log line");
        if line.contains("reload refused") {
            break;
        }
        assert!(
            !line.contains("reloaded trust list"),
            "rollback applied: {line}"
        );
    }
    // Still serving after both.
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("HUP"))))
        .await
        .unwrap();
}

#[tokio::test]
async fn fetch_resumes_after_kill_9_with_no_gap_and_no_duplicate() {
    let fed = Federation::standard();
    let mut gateway = spawn_gateway(&fed).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    let mut declared = Vec::new();
    for i in 0..10 {
        let env = shopco.seal_declaration(&declaration(&format!("FR-{i}")));
        declared.push(env.header.as_ref().unwrap().message_id.clone());
        shopco.submit(env).await.unwrap();
    }
    // Read four deliveries from a following stream, then the gateway dies.
    let mut stream = fetch_stream(&shopco, 0, true).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let d = stream.message().await.unwrap().unwrap();
        seen.push((d.seq, d.envelope.unwrap().header.unwrap().correlation_id));
    }
    gateway.child.start_kill().unwrap();
    gateway.child.wait().await.unwrap();
    drop(stream);

    let gateway = spawn_gateway(&fed).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    for i in 10..12 {
        let env = shopco.seal_declaration(&declaration(&format!("FR-{i}")));
        declared.push(env.header.as_ref().unwrap().message_id.clone());
        shopco.submit(env).await.unwrap();
    }
    let last = seen.last().unwrap().0;
    for d in common::fetch_all(&shopco, last).await {
        seen.push((d.seq, d.envelope.unwrap().header.unwrap().correlation_id));
    }
    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<u64>>(), "no gap, no duplicate");
    let answered: Vec<String> = seen.into_iter().map(|(_, c)| c).collect();
    assert_eq!(answered, declared, "one outcome per declaration, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_tree_head_counts_exactly_the_acknowledged_entries_and_extends_every_earlier_head(
) {
    let fed = Federation::standard();
    let mut gateway = spawn_gateway(&fed).await;
    let shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;

    // Load from four submitters while a witness collects signed heads; kill -9 mid-flight.
    let acknowledged: Arc<Mutex<Vec<Receipt>>> = Arc::default();
    let heads: Arc<Mutex<Vec<aedgate::proto::v1::SignedTreeHead>>> = Arc::default();
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let count_tx = Arc::new(count_tx);
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let mut client = shopco.clone();
        let acknowledged = acknowledged.clone();
        let count_tx = count_tx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let env = client.seal_declaration(&declaration(&format!("AK9-{worker}-{i}")));
                let Ok(receipt) = client.submit(env).await else {
                    return;
                };
                let n = {
                    let mut list = acknowledged.lock().unwrap();
                    list.push(receipt);
                    list.len()
                };
                count_tx.send_replace(n);
            }
        }));
    }
    let witness = {
        let client = shopco.clone();
        let heads = heads.clone();
        tokio::spawn(async move {
            while let Ok((head, _)) = client.tree_head().await {
                heads.lock().unwrap().push(head);
            }
        })
    };
    count_rx.wait_for(|n| *n >= 200).await.unwrap();
    gateway.child.start_kill().unwrap();
    gateway.child.wait().await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    witness.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let heads = heads.lock().unwrap().clone();
    assert!(heads.len() >= 2, "the witness saw heads while the load ran");

    // Restart: the new head extends every head signed before the crash, and every
    // acknowledged receipt is proven in it.
    let mut gateway = spawn_gateway(&fed).await;
    let shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    let (after_crash, _) = shopco.tree_head().await.unwrap();
    let highest = acknowledged.iter().map(|r| r.log_index).max().unwrap();
    assert!(
        after_crash.tree_size >= highest + 2,
        "every acknowledged declaration and its outcome survive"
    );
    for earlier in &heads {
        shopco
            .extend_head(earlier)
            .await
            .unwrap_or_else(|e| panic!("head of size {} extended: {e}", earlier.tree_size));
    }
    for receipt in acknowledged.iter().step_by(5) {
        shopco
            .prove_receipt(receipt)
            .await
            .unwrap_or_else(|e| panic!("receipt {} proven: {e}", receipt.log_index));
    }

    // With nothing in flight, the head after kill -9 and restart has exactly the entries
    // acknowledged before it: each declaration and its outcome.
    let mut client = shopco.clone();
    let mut last = None;
    for i in 0..5 {
        let env = client.seal_declaration(&declaration(&format!("AK9-QUIET-{i}")));
        last = Some(client.submit(env).await.unwrap());
    }
    let last = last.unwrap();
    let (before_kill, _) = shopco.tree_head().await.unwrap();
    assert_eq!(before_kill.tree_size, last.log_index + 2);
    gateway.child.start_kill().unwrap();
    gateway.child.wait().await.unwrap();
    let mut gateway = spawn_gateway(&fed).await;
    let shopco = fed.connect_to_addr(SHOPCO, &gateway.addr).await;
    let (restarted, _) = shopco.tree_head().await.unwrap();
    assert_eq!(restarted.tree_size, last.log_index + 2);
    assert_eq!(restarted.root_hash, before_kill.root_hash);
    shopco.extend_head(&after_crash).await.unwrap();
    signal(&gateway.child, "TERM");
    assert!(gateway.child.wait().await.unwrap().success());

    // Offline, the whole log recomputes and matches every head signed along the way.
    let data_dir = fed.path().join("data/adm-NL");
    let expected: Vec<_> = heads
        .iter()
        .chain([&after_crash, &restarted])
        .map(|h| aedgate::store::ExpectedHead {
            size: h.tree_size,
            root: h.root_hash[..].try_into().unwrap(),
        })
        .collect();
    match aedgate::store::verify_store(&data_dir, &expected)
        .await
        .unwrap()
    {
        aedgate::store::LogVerdict::Intact {
            size,
            heads_confirmed,
            ..
        } => {
            assert_eq!(size, restarted.tree_size);
            assert_eq!(heads_confirmed.len(), expected.len());
        }
        other => panic!("{other:?}"),
    }
}
