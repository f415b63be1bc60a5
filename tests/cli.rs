//! The command line as an operator and an integrator use it: `pki init`, `serve`, `submit`
//! and `demo`, run as the real binary.

mod common;

use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn aedgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aedgate"));
    cmd.kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn pki_init_from_flags_writes_a_federation_that_serves_and_accepts_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let out = aedgate()
        .args(["pki", "init", "--out"])
        .arg(dir.path())
        .args([
            "--federation",
            "customs.example",
            "--participant",
            "adm/FR:administration",
            "--participant",
            "ptr/FR/colis:postal_operator:adm/FR",
            "--participant",
            "adm/FR/ciblage:internal",
            "--ecdsa",
            "ptr/FR/colis",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "adm-FR.gateway.toml",
        "ptr-FR-colis.client.toml",
        "adm-FR-ciblage.client.toml",
        "trust-list.json.sig",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("trust-list.json")).unwrap())
            .unwrap();
    assert_eq!(list["federation"], "customs.example");
    assert_eq!(
        list["participants"][1]["signing_keys"][0]["algorithm"],
        "ecdsa_p256_sha256"
    );
    // Refuses to overwrite without --force.
    let again = aedgate()
        .args(["pki", "init", "--out"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());

    // Serve it on a free port and submit the example declaration with the CLI.
    let config = dir.path().join("adm-FR.gateway.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:7443", "127.0.0.1:0");
    std::fs::write(&config, text).unwrap();
    let mut server = aedgate()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .next_line()
        .await
        .unwrap()
        .unwrap();
    let addr = ready
        .split(" serving on ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let client = dir.path().join("ptr-FR-colis.client.toml");
    let text = std::fs::read_to_string(&client).unwrap();
    std::fs::write(&client, format!("endpoint = \"https://{addr}\"\n{text}")).unwrap();

    let mut decl = aedgate::core::validation::sample_declaration("COLIS-0001");
    decl.country_of_destination = "FR".into();
    decl.platform_id = String::new();
    let decl_path = dir.path().join("decl.json");
    std::fs::write(&decl_path, aedgate::declaration_json::to_json(&decl)).unwrap();
    let out = aedgate()
        .args(["submit", "--config"])
        .arg(&client)
        .arg(&decl_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ACCEPTED by adm/FR"), "{stdout}");
    assert!(stdout.contains("log index        0"), "{stdout}");
    assert!(stdout.contains("signature verified"), "{stdout}");

    // An invalid declaration is refused with its field paths and exit status 1.
    decl.lrn = "COLIS-0002".into();
    decl.items[0].hs_code = "12".into();
    std::fs::write(&decl_path, aedgate::declaration_json::to_json(&decl)).unwrap();
    let out = aedgate()
        .args(["submit", "--config"])
        .arg(&client)
        .arg(&decl_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("VALIDATION_FAILED"), "{stdout}");
    assert!(stdout.contains("items[0].hs_code"), "{stdout}");

    // A JSON file with a typo is reported with its position, before anything is sent.
    std::fs::write(&decl_path, "{\"lrn\": \"X\", \"contry\": \"NL\"}").unwrap();
    let out = aedgate()
        .args(["submit", "--config"])
        .arg(&client)
        .arg(&decl_path)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("contry"));
    server.start_kill().unwrap();
}

#[tokio::test]
async fn pki_init_reads_a_spec_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        r#"
federation = "spec.test"
host = "localhost"
[[participant]]
id = "adm/DE"
role = "administration"
name = "Zoll"
port = 9443
[[participant]]
id = "ptr/DE/markt"
role = "platform"
registered_with = ["adm/DE"]
algorithm = "ecdsa_p256_sha256"
"#,
    )
    .unwrap();
    let out = aedgate()
        .args(["pki", "init", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(dir.path().join("pki"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config =
        aedgate::config::GatewayConfig::load(&dir.path().join("pki/adm-DE.gateway.toml")).unwrap();
    assert_eq!(config.listen, "localhost:9443");
    assert_eq!(
        config
            .trust
            .participant("ptr/DE/markt")
            .unwrap()
            .registered_with,
        vec!["adm/DE".to_string()]
    );
}

#[tokio::test]
async fn demo_runs_from_nothing_and_tells_what_happened() {
    let out = aedgate().arg("demo").output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "ACCEPTED — stored as log entry 0",
        "DUPLICATE — already on file as log entry 0",
        "REFUSED — VALIDATION_FAILED",
        "REFUSED — MESSAGE_ID_CONFLICT",
        "REFUSED — PAYLOAD_DIGEST_MISMATCH",
        "REFUSED — SENDER_MISMATCH",
        "REFUSED — NOT_AUTHORIZED",
        "items[0].description",
        "4 declarations accepted",
        "Store check: 8 entries",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
