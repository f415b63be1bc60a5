//! Errors that stay small and say what happened (issue 15, items 8 and 9): an attacker's
//! megabyte identifier is refused as malformed and never quoted whole, and a declaration with
//! hundreds of faults gets a bounded list that any gRPC client's default header limit takes.
//! Real sockets, real mutual TLS, real signatures, real store.

mod common;

use aedgate::proto::v1::{Disposition, Item, StatusRequest};
use common::*;
use tonic::Code;
use tonic_types::StatusExt;

/// What a default gRPC client accepts in response headers and trailers (grpc-go, grpcio and
/// tonic all default to 8 KiB, or 16 KiB, for the whole header block); an error must stay
/// well inside.
const COMFORTABLE_DETAILS_BYTES: usize = 4096;
const COMFORTABLE_MESSAGE_BYTES: usize = 1024;

#[tokio::test]
async fn a_megabyte_key_id_is_malformed_and_not_echoed() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut envelope = shopco.seal_declaration(&declaration(&lrn("KEY")));
    if let Some(signature) = envelope.signature.as_mut() {
        signature.key_id = "k".repeat(1 << 20);
    }
    let status = refused(shopco.submit(envelope).await);
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{}",
        &status.message()[..200.min(status.message().len())]
    );
    assert_eq!(reason(&status), "MALFORMED");
    assert!(
        status.message().len() < COMFORTABLE_MESSAGE_BYTES,
        "{} bytes of message",
        status.message().len()
    );
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn status_of_a_megabyte_id_does_not_quote_it_whole() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let status = shopco
        .grpc()
        .status(StatusRequest {
            declaration_id: "d".repeat(1 << 20),
        })
        .await
        .expect_err("no such declaration");
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::NotFound, "UNKNOWN_DECLARATION"),
        "{}",
        &status.message()[..200.min(status.message().len())]
    );
    assert!(
        status.message().len() < COMFORTABLE_MESSAGE_BYTES,
        "{} bytes of message",
        status.message().len()
    );
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn hundreds_of_violations_are_listed_in_a_bounded_error_that_says_how_many_more() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut d = declaration(&lrn("MANY"));
    let bad = Item {
        description: "gift".into(),
        hs_code: "77".into(),
        quantity: 0,
        ..d.items[0].clone()
    };
    d.items = vec![bad; 300];
    let status = refused(shopco.submit(shopco.seal_declaration(&d)).await);
    assert_eq!(reason(&status), "VALIDATION_FAILED");
    let violations = status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.clone())
        .unwrap_or_default();
    assert_eq!(
        violations.len(),
        51,
        "the first 50 and one entry counting the rest"
    );
    let last = violations.last().expect("a last entry");
    assert_eq!(last.field, "");
    assert!(
        last.description.contains("more violation"),
        "{}",
        last.description
    );
    assert!(
        status.details().len() < COMFORTABLE_DETAILS_BYTES,
        "{} bytes of details",
        status.details().len()
    );
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_stream_with_an_oversized_envelope_ends_in_an_error_not_in_silence() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let first = shopco.seal_declaration(&declaration(&lrn("S1")));
    let mut huge = shopco.seal_declaration(&declaration(&lrn("S2")));
    huge.payload = bytes::Bytes::from(vec![0u8; 8 << 20]);
    let third = shopco.seal_declaration(&declaration(&lrn("S3")));
    let mut results = shopco
        .grpc()
        .submit_stream(tokio_stream::iter(vec![first, huge, third]))
        .await
        .expect("stream opened")
        .into_inner();
    let mut answered = 0;
    let ending = loop {
        match results.message().await {
            Ok(Some(_)) => answered += 1,
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    let status = ending.unwrap_or_else(|| {
        panic!("the stream ended with OK after {answered} result(s): an envelope went unanswered")
    });
    assert_ne!(status.code(), Code::Ok);
    assert!(answered >= 1, "the valid envelope before it was answered");
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_second_gateway_on_the_same_data_dir_is_refused_naming_the_holder() {
    let fed = Federation::standard();
    let first = fed.start(NL).await;
    let error = match aedgate::server::start(fed.gateway_config(NL)).await {
        Ok(_) => panic!("a second gateway started on the same data_dir"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(&format!("pid {}", std::process::id())),
        "{error}"
    );
    // The first is untouched and still accepts.
    let mut shopco = fed.connect(SHOPCO, &first).await;
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("LOCK"))))
        .await
        .expect("the first gateway still accepts");
    first.shutdown().await.expect("shutdown");
    // Shut down, it lets the folder go.
    let again = fed.start(NL).await;
    again.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_second_serve_process_on_the_same_data_dir_exits_with_one_line_naming_the_pid() {
    use tokio::io::AsyncBufReadExt;
    let fed = Federation::standard();
    let config = fed.gateway_config_path(NL);
    let mut first = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the first gateway");
    let stdout = first.stdout.take().expect("stdout");
    let ready = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("ready line");
    assert!(ready.starts_with("aedgate ready"), "{ready}");
    let pid = first.id().expect("pid");
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .kill_on_drop(true)
        .output();
    // A second gateway that starts would serve until killed: give it time to refuse.
    let second = tokio::time::timeout(std::time::Duration::from_secs(30), second)
        .await
        .expect("the second gateway started and kept running instead of refusing")
        .expect("run the second gateway");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("aedgate: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(&format!("pid {pid}")), "{}", lines[0]);
    first.start_kill().expect("kill");
}

/// Clears the immutable attribute of what a test made immutable, whatever the test's fate,
/// so that its temporary folder can be removed.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    /// `chattr +i`: unlike permission bits, it binds root too, which is what the tests run
    /// as in CI; a read-only store for an unprivileged gateway is the same to SQLite.
    fn make(paths: &[std::path::PathBuf]) -> Self {
        for path in paths {
            let status = std::process::Command::new("chattr")
                .arg("+i")
                .arg(path)
                .status()
                .expect("run chattr");
            assert!(status.success(), "chattr +i {}", path.display());
        }
        Self(paths.to_vec())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(path)
                .status();
        }
    }
}

#[tokio::test]
async fn a_store_that_cannot_be_written_stops_the_gateway_at_start() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("RO"))))
        .await
        .expect("accepted");
    gateway.shutdown().await.expect("shutdown");
    // The store and its folder, as an operator's read-only mount or permissions leave them
    // (the lock file aside: it is not the store).
    let data_dir = fed.path().join("data/adm-NL");
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&data_dir)
        .expect("data_dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| !path.ends_with(aedgate::store::LOCK_FILE))
        // SQLite maps the WAL index into memory and grows it: an immutable one is a SIGBUS,
        // not a read-only store (a read-only mount leaves SQLite its heap-memory fallback).
        .filter(|path| !path.to_string_lossy().ends_with("-shm"))
        .collect();
    paths.push(data_dir);
    let _immutable = Immutable::make(&paths);
    match aedgate::server::start(fed.gateway_config(NL)).await {
        Ok(gateway) => {
            let _ = gateway.shutdown().await;
            panic!("the gateway started on a store it cannot write");
        }
        Err(error) => {
            let text = error.to_string();
            assert!(text.contains("cannot write"), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }
}

/// A small filesystem of its own for a test's store, unmounted whatever the test's fate.
struct TightDisk(std::path::PathBuf);

impl TightDisk {
    /// A tmpfs of `bytes`: a disk that really fills, for the store alone. Mounting needs
    /// root, which is what the tests run as in CI; elsewhere the test fails saying so.
    fn mount(path: std::path::PathBuf, bytes: u64) -> Self {
        std::fs::create_dir_all(&path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs at {} failed: this test needs root (CI runs the tests as root)",
            path.display()
        );
        Self(path)
    }

    /// Takes every byte left, as another program filling the disk would.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.flush();
        filler
    }
}

impl Drop for TightDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The health service's stream of the Gateway service's statuses, as a load balancer
/// follows it.
async fn gateway_health_watch(
    partner: &aedgate::client::Participant,
) -> tonic::Streaming<tonic_health::pb::HealthCheckResponse> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    HealthClient::new(partner.channel())
        .watch(HealthCheckRequest {
            service: "aedgate.v1.Gateway".into(),
        })
        .await
        .expect("health watch")
        .into_inner()
}

/// What the health service says of the Gateway service now.
async fn gateway_health(partner: &aedgate::client::Participant) -> i32 {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    HealthClient::new(partner.channel())
        .check(HealthCheckRequest {
            service: "aedgate.v1.Gateway".into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

#[tokio::test]
async fn a_full_disk_refuses_without_loss_says_not_serving_and_recovers_when_space_returns() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let fed = Federation::standard();
    let disk = TightDisk::mount(fed.path().join("tight"), 4 << 20);
    let mut config = fed.gateway_config(NL);
    config.data_dir = disk.0.join("adm-NL");
    let gateway = aedgate::server::start(config).await.expect("start");
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut acknowledged = Vec::new();
    let first = shopco.seal_declaration(&declaration(&lrn("FULL-0")));
    let receipt = shopco.submit(first.clone()).await.expect("accepted");
    acknowledged.push((first, receipt));
    assert_eq!(gateway_health(&shopco).await, ServingStatus::Serving as i32);

    let filler = disk.fill();
    let mut refusal = None;
    for n in 1..=200 {
        let envelope = shopco.seal_declaration(&declaration(&lrn(&format!("FULL-{n}"))));
        match shopco.grpc().submit(envelope.clone()).await {
            Ok(receipt) => acknowledged.push((envelope, receipt.into_inner())),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let refusal = refusal.expect("a full disk refused a Submit");
    assert_eq!(refusal.code(), Code::Unavailable, "{refusal:?}");
    assert_eq!(reason(&refusal), "STORE_UNAVAILABLE");
    assert_eq!(
        gateway_health(&shopco).await,
        ServingStatus::NotServing as i32,
        "health says SERVING while the store refuses writes"
    );

    // Space returns; the gateway must notice on its own, without a restart or a Submit.
    let mut watch = gateway_health_watch(&shopco).await;
    std::fs::remove_file(filler).expect("free the space");
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(answer) = watch.message().await.expect("watch") {
            if answer.status == ServingStatus::Serving as i32 {
                return;
            }
        }
        panic!("the health watch ended");
    })
    .await
    .expect("health returned to SERVING once space returned");
    let after = shopco.seal_declaration(&declaration(&lrn("FULL-AFTER")));
    shopco
        .submit(after)
        .await
        .expect("accepted once space returned");

    // Nothing acknowledged was lost: each one's resend is a DUPLICATE of its own receipt.
    for (envelope, receipt) in &acknowledged {
        let again = shopco
            .grpc()
            .submit(envelope.clone())
            .await
            .expect("resend answered")
            .into_inner();
        assert_eq!(again.disposition, Disposition::Duplicate as i32);
        assert_eq!(again.log_index, receipt.log_index);
    }
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_health_watch_does_not_hold_shutdown_open() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    // A load balancer watches health for as long as the gateway runs.
    let mut watch = gateway_health_watch(&shopco).await;
    watch
        .message()
        .await
        .expect("first status")
        .expect("a status");
    tokio::time::timeout(std::time::Duration::from_secs(20), gateway.shutdown())
        .await
        .expect("shutdown hung while a health watch was open")
        .expect("shutdown");
    // The watcher was told, then its stream ended.
    let mut last = None;
    while let Ok(Some(answer)) = watch.message().await {
        last = Some(answer.status);
    }
    assert_eq!(
        last,
        Some(tonic_health::pb::health_check_response::ServingStatus::NotServing as i32)
    );
}
