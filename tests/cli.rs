//! The command line as an operator and an integrator use it: `pki init`, `serve`, `submit`,
//! `demo`, and the risk and lifecycle commands (`indicator publish|list|revoke`, `fetch`,
//! `respond`, `status`, `amend`, `invalidate`), run as the real binary.

mod common;

use common::success_stdout;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn aedgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aedgate"));
    cmd.kill_on_drop(true);
    cmd
}

/// Starts `aedgate serve` with the gateway config at `config` moved to a free port, and
/// returns the process with the address from its ready line.
async fn serve_on_free_port(config: &std::path::Path) -> (tokio::process::Child, String) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("127.0.0.1:7443", "127.0.0.1:0");
    std::fs::write(config, text).unwrap();
    let mut server = aedgate()
        .args(["serve", "--config"])
        .arg(config)
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
    (server, addr)
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
    let (mut server, addr) = serve_on_free_port(&dir.path().join("adm-FR.gateway.toml")).await;
    let client = dir.path().join("ptr-FR-colis.client.toml");
    let text = std::fs::read_to_string(&client).unwrap();
    std::fs::write(&client, format!("endpoint = \"https://{addr}\"\n{text}")).unwrap();

    let mut decl = aedgate::core::validation::sample_declaration("COLIS-0001");
    decl.country_of_destination = "FR".into();
    decl.platform_id = String::new();
    let decl_path = dir.path().join("decl.json");
    std::fs::write(&decl_path, aedgate::formats::declaration::to_json(&decl)).unwrap();
    let out = aedgate()
        .args(["submit", "--config"])
        .arg(&client)
        .arg(&decl_path)
        .output()
        .await
        .unwrap();
    let stdout = success_stdout(&out);
    assert!(stdout.contains("ACCEPTED by adm/FR"), "{stdout}");
    assert!(stdout.contains("log index        0"), "{stdout}");
    assert!(stdout.contains("signature verified"), "{stdout}");

    // An invalid declaration is refused with its field paths and exit status 1.
    decl.lrn = "COLIS-0002".into();
    decl.items[0].hs_code = "12".into();
    std::fs::write(&decl_path, aedgate::formats::declaration::to_json(&decl)).unwrap();
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
    // The default log filter, whatever the caller's environment says: a delivery that
    // failed, or anything else that went wrong, would be logged on stderr.
    let out = aedgate()
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("ERROR"),
        "the demo logged a problem:\n{stderr}"
    );
    for expected in [
        // Admission: the NL log starts with the 5 indicators of the NL risk unit, 3 of them
        // followed by their copy sent to adm/BE, and BE's indicator (entries 0 to 8); each
        // accepted declaration is followed by its outcome.
        "ACCEPTED — stored as log entry 9",
        "ACCEPTED — stored as log entry 11",
        "DUPLICATE — already on file as log entry 9",
        "REFUSED — VALIDATION_FAILED",
        "REFUSED — MESSAGE_ID_CONFLICT",
        "REFUSED — PAYLOAD_DIGEST_MISMATCH",
        "REFUSED — SENDER_MISMATCH",
        "REFUSED — NOT_AUTHORIZED",
        "items[0].description",
        "4 declarations accepted",
        // The indicators in force at adm/NL, read back from its log: its own, RED included,
        // and the one received from adm/BE.
        "NL-2026-RFI-0107  1  REQUEST_FOR_INFORMATION",
        "NL-2026-COA-0042  1  CONTROL_ON_ARRIVAL",
        "NL-2026-SCR-0009  1  REQUEST_FOR_SCREENING",
        "NL-2026-DNL-0003  1  DO_NOT_LOAD",
        "NL-2026-COA-0077  1  CONTROL_ON_ARRIVAL       RED",
        "BE-2026-RFI-0218  1  REQUEST_FOR_INFORMATION  AMBER",
        // The batch matches none of them.
        "The 4 declarations accepted above matched no indicator: each was released (ASSESSMENT_COMPLETE).",
        // Every outcome code, fetched by the partner and signature-checked.
        "← OUTCOME ASSESSMENT_COMPLETE, fetched by ptr/NL/shopco as seq 1, signature verified (adm/NL#",
        "← OUTCOME REQUEST_FOR_INFORMATION, fetched by ptr/NL/shopco",
        "about items[0].hs_code",
        "→ ShopCo answers referral 26NL",
        "← OUTCOME REQUEST_FOR_SCREENING, fetched by ptr/NL/flyfast",
        "screened (X-ray and explosives trace detection): CLEAR",
        "screened (X-ray and explosives trace detection): NOT_CLEAR",
        "← OUTCOME DO_NOT_LOAD, fetched by ptr/NL/flyfast",
        "FlyFast tries to amend it: REFUSED: FailedPrecondition DECLARATION_CLOSED",
        "← OUTCOME CONTROL_ON_ARRIVAL, fetched by ptr/NL/shopco",
        "Status: CLEARED — released",
        "Status: DO_NOT_LOAD — must not be loaded; final",
        "Status: CONTROL_ON_ARRIVAL — may be loaded",
        "Store check: 60 entries in the log of adm/NL, and the risk unit's Fetch reads 60: \
         9 risk indicators (5 published by the NL risk unit, 3 sent to adm/BE, 1 received from adm/BE), \
         18 declarations, 1 forwarded to adm/BE, 5 referral responses, 23 signed outcomes \
         (one for every accepted declaration and every answered referral), \
         2 return notices and 2 signed refund decisions",
        // The audit log: a receipt proven, the log proven to have only grown, the store
        // recomputed offline.
        "is entry 9 of adm/NL's log",
        "tree head of 60 entries signed by adm/NL, and the inclusion proof all verified",
        "kept the head of 17 entries signed after the admission batch",
        "current head of 60 entries extends it",
        "recomputed all 60 entries from the store",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Wrapped sentences are compared with their white space collapsed.
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = flat(&stdout);
    for expected in [
        "Agreement mou-nl-be-2026 between adm/NL and adm/BE: risk indicators up to TLP AMBER, \
         without personal data, and declarations bound for the other's country",
        "assessed against the 6 indicators in force at adm/NL (5 of its own and 1 received from adm/BE)",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{stdout}");
    }

    // Between administrations (§8).
    let section = stdout
        .split("Between administrations (PROTOCOL.md §8)")
        .nth(1)
        .and_then(|rest| rest.split("Store check:").next())
        .unwrap_or_else(|| panic!("no section between administrations in:\n{stdout}"));
    // The indicators in force at adm/BE, as its risk unit reads them: NL's GREEN and AMBER
    // ones, issued by adm/NL, and BE's own; not NL's AMBER_STRICT one, nor the RED one.
    let in_force_be = section
        .split("In force at adm/BE")
        .nth(1)
        .and_then(|rest| rest.split("Kept in NL").next())
        .unwrap_or_else(|| panic!("no indicator list of adm/BE in:\n{section}"));
    let rows: Vec<(&str, &str)> = in_force_be
        .lines()
        .filter(|l| l.starts_with("NL-") || l.starts_with("BE-"))
        .map(|l| {
            let issuer = l
                .split_whitespace()
                .find(|w| w.starts_with("adm/"))
                .unwrap_or_default();
            (l.split_whitespace().next().unwrap_or_default(), issuer)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("BE-2026-RFI-0218", "adm/BE"),
            ("NL-2026-COA-0042", "adm/NL"),
            ("NL-2026-DNL-0003", "adm/NL"),
            ("NL-2026-RFI-0107", "adm/NL"),
        ],
        "{section}"
    );
    let section_flat = flat(section);
    for expected in [
        // What stayed in NL, and why.
        "Kept in NL: adm/NL never sent these to adm/BE, so they are not applied there: \
         NL-2026-SCR-0009 AMBER_STRICT AMBER_STRICT is above AMBER, the highest level the agreement allows \
         NL-2026-COA-0077 RED RED never leaves the administration that issued it",
        // Each outbox entry delivered, with the peer's receipt verified.
        "adm/NL adm/BE RISK_INDICATOR NL-2026-RFI-0107 delivered signed receipt of adm/BE (entry 0 of its log), \
         verified with key adm/BE#2026-1",
        "adm/NL adm/BE RISK_INDICATOR NL-2026-COA-0042 delivered signed receipt of adm/BE (entry 1 of its log), \
         verified with key adm/BE#2026-1",
        "adm/NL adm/BE RISK_INDICATOR NL-2026-DNL-0003 delivered signed receipt of adm/BE (entry 2 of its log), \
         verified with key adm/BE#2026-1",
        "adm/BE adm/NL RISK_INDICATOR BE-2026-RFI-0218 delivered signed receipt of adm/NL (entry 8 of its log), \
         verified with key adm/NL#2026-1",
        // The declaration filed in NL for delivery in Belgium: accepted in NL, forwarded,
        // delivered, and assessed in BE.
        "ShopCo, LRN SC-2026-000301: Disposable e-cigarettes",
        "country of destination BE",
        "ACCEPTED by adm/NL as log entry 57",
        "→ adm/NL forwarded it to adm/BE as FORWARDED_DECLARATION (entry 59 of its log), delivered: \
         signed receipt of adm/BE (entry 5 of its log), verified with key adm/BE#2026-1",
        "byte for byte as ShopCo sent it, inside one signed by adm/NL",
        "← OUTCOME REQUEST_FOR_INFORMATION, fetched by ptr/NL/shopco from adm/BE as seq 1, \
         signature verified (adm/BE#2026-1)",
        "Status at adm/BE: REFERRED — waiting for the partner's answer",
        "← OUTCOME REQUEST_FOR_INFORMATION, fetched by ptr/NL/shopco from adm/NL as seq 17, \
         signature verified (adm/NL#2026-1)",
    ] {
        assert!(
            section_flat.contains(expected),
            "missing {expected:?} in:\n{section}"
        );
    }
    // Nothing RED or above the agreement's TLP was sent, and nothing failed.
    for absent in [
        "RISK_INDICATOR NL-2026-COA-0077",
        "RISK_INDICATOR NL-2026-SCR-0009",
        "pending",
        "dead",
        "NOT VERIFIED",
        "DIFFERENT",
    ] {
        assert!(!section.contains(absent), "{absent:?} in:\n{section}");
    }
    assert_eq!(section.matches(" delivered").count(), 5, "{section}");

    assert_eq!(
        stdout.matches("signature verified (adm/NL#").count(),
        22,
        "every outcome and refund decision of adm/NL shown is checked:\n{stdout}"
    );
    assert!(!stdout.contains("NOT VERIFIED"), "{stdout}");
    // MRNs are 18 characters; referral ids are `<MRN>-R<n>`. Each administration numbers
    // its own: BE's outcome carries a BE MRN. A refund decision names the MRN of the
    // declaration it refunds, in a field list.
    let mrns: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("MRN "))
        .map(|rest| rest.trim_start().split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(mrns.len(), 23, "{stdout}");
    assert!(mrns.iter().all(|m| m.len() == 18), "{mrns:?}");
    assert!(
        stdout.contains(&format!("referral {}-R1", mrns[1])),
        "{stdout}"
    );
    let country = |mrn: &str| mrn[2..4].to_owned();
    assert_eq!(
        mrns.iter().map(|m| country(m)).collect::<Vec<_>>(),
        [vec!["NL"; 9 + 12], vec!["BE", "NL"]].concat(),
        "{mrns:?}"
    );
    assert!(mrns.iter().all(|m| m[..2] == mrns[0][..2]), "{mrns:?}");
    assert!(
        section.contains(&format!("referral {}-R1", mrns[21])),
        "{section}"
    );
    // Both refund decisions refund the parcel released first in the revenue chapter.
    assert_eq!((mrns[19], mrns[20]), (mrns[9], mrns[9]), "{mrns:?}");

    revenue_chapter_tells_charges_checks_and_refunds(&stdout);
}

/// The demo's revenue chapter (§11, §12): each case's outcome in order, with its charges or
/// the field a revenue check asks about, and the return's two refunds adding up to one full
/// refund.
fn revenue_chapter_tells_charges_checks_and_refunds(stdout: &str) {
    let section = stdout
        .split("Revenue and returns (PROTOCOL.md §11 and §12)")
        .nth(1)
        .and_then(|rest| {
            rest.split("Between administrations (PROTOCOL.md §8)")
                .next()
        })
        .unwrap_or_else(|| panic!("no revenue chapter in:\n{stdout}"));
    // What each case's outcomes were, in order, and what the checks asked about: 1 released,
    // 2 released under IOSS, 3 (R1) and 4 (R2) asked about then released, 5 (R4) asked
    // about, 6 two parcels released and the third (R5) asked about.
    let outcomes: Vec<&str> = section
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("← OUTCOME "))
        .map(|rest| rest.split(',').next().unwrap_or_default())
        .collect();
    let (released, asked) = ("ASSESSMENT_COMPLETE", "REQUEST_FOR_INFORMATION");
    assert_eq!(
        outcomes,
        [released, released, asked, released, asked, released, asked, released, released, asked],
        "{section}"
    );
    let pointers: Vec<&str> = section
        .split(" · about ")
        .skip(1)
        .map(|rest| rest.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        pointers,
        [
            "revenue.ioss_number",
            "revenue.ioss_number",
            "items[1].value",
            "buyer.name"
        ],
        "{section}"
    );
    assert_eq!(
        section
            .matches("← REFUND_DECISION, fetched by ptr/NL/shopco")
            .count(),
        2,
        "{section}"
    );
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = flat(section);
    for expected in [
        // 1: §11's worked example, the VAT due at the border.
        "charges Customs duty EUR 6.00 (2 item categories x EUR 3.00) \
         Import VAT EUR 15.33 (VAT on goods EUR 13.65 + 21.0% of duty and fee EUR 8.00) \
         Handling fee EUR 2.00 (per low-value consignment) Total due at the border EUR 23.33",
        // 2: the same goods under IOSS.
        "Import VAT EUR 13.65, collected at sale (IOSS), not due at the border",
        "Total due at the border EUR 8.00",
        // 3 (R1): the question, then books in pounds charged at the reduced rate.
        "The IOSS number IM3720005391 is not in the IOSS registry.",
        "Import VAT EUR 3.58 (VAT on goods EUR 2.53 + 21.0% of duty and fee EUR 5.00)",
        "Total due at the border EUR 8.58",
        // 4 (R2): IOSS above EUR 150, then duty ad valorem and the VAT at the border.
        "IOSS covers consignments of at most EUR 150.00; this one is worth EUR 189.00",
        "Customs duty EUR 7.56 (4.0% of EUR 189.00)",
        "Total due at the border EUR 48.84",
        // 5 (R4) and 6 (R5).
        "items[1] is declared well below the price it was listed at.",
        "This buyer's consignments from this seller within 24 hours are worth EUR 161.00 together",
        "Status: REFERRED — waiting for the partner's answer",
        // 7: the T-shirts, then the shoes, each refunded by a signed decision.
        "refunds Customs duty EUR 3.00 (duty on the returned goods; EUR 3.00 refunded in all) \
         Import VAT EUR 4.83 (VAT on the returned goods and on the refunded duty) \
         Total refunded at the border EUR 7.83",
        "Status: PARTLY_RETURNED — released, partly returned",
        "refunds Customs duty EUR 3.00 (duty on the returned goods; EUR 6.00 refunded in all) \
         Import VAT EUR 10.08 (VAT on the returned goods and on the refunded duty) \
         Total refunded at the border EUR 13.08",
        "Status: RETURNED — returned",
        "Together: EUR 7.83 + EUR 13.08 = EUR 20.91 refunded (customs duty EUR 6.00, import VAT \
         EUR 14.91): exactly one full refund",
        "Of the EUR 23.33 paid at the border, the EUR 2.42 kept is the handling fee",
    ] {
        assert!(
            all.contains(expected),
            "missing {expected:?} in:\n{section}"
        );
    }
}

/// A standard development federation served by `aedgate serve` on a free port, with the
/// endpoint written into the client configurations the tests use.
struct Served {
    dir: tempfile::TempDir,
    _server: tokio::process::Child,
}

impl Served {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = aedgate()
            .args(["pki", "init", "--out"])
            .arg(dir.path())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (server, addr) = serve_on_free_port(&dir.path().join("adm-NL.gateway.toml")).await;
        for client in ["adm-NL-risk-unit", "ptr-NL-shopco"] {
            let path = dir.path().join(format!("{client}.client.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, format!("endpoint = \"https://{addr}\"\n{text}")).unwrap();
        }
        Served {
            dir,
            _server: server,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn risk_unit(&self) -> std::path::PathBuf {
        self.path("adm-NL-risk-unit.client.toml")
    }

    fn shopco(&self) -> std::path::PathBuf {
        self.path("ptr-NL-shopco.client.toml")
    }

    /// Runs `aedgate ARGS --config CONFIG` and returns exit code, stdout and stderr.
    async fn run(&self, config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        let out = aedgate()
            .args(args)
            .arg("--config")
            .arg(config)
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The value printed after `label` on an indented `label   value` line.
fn field(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"))
}

/// The declaration id `submit` prints after the receipt.
fn declaration_id(stdout: &str) -> String {
    field(stdout, "Declaration id ")
        .split(':')
        .next()
        .unwrap()
        .to_owned()
}

fn fleetfoot_trainers(lrn: &str) -> aedgate::proto::v1::AdvanceDeclaration {
    let mut d = aedgate::core::validation::sample_declaration(lrn);
    d.seller.as_mut().unwrap().name = "Putian Fleetfoot Trading Co., Ltd.".into();
    d
}

#[tokio::test]
async fn risk_unit_and_partner_work_an_indicator_and_its_referral_from_the_command_line() {
    let fed = Served::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let until = aedgate::formats::indicator::format_valid_until(now + 86_400_000);
    let indicator = fed.path("footwear.json");
    std::fs::write(
        &indicator,
        format!(
            r#"{{
  "indicator_id": "NL-TEST-RFI-1",
  "version": 1,
  "title": "Counterfeit sports footwear sold by Putian Fleetfoot Trading",
  "tlp": "AMBER",
  "criteria": {{
    "hs_prefixes": ["6402", "6403", "6404"],
    "seller_name_terms": ["Fleetfoot Trading"]
  }},
  "action": "REQUEST_FOR_INFORMATION",
  "valid_until": "{until}"
}}
"#
        ),
    )
    .unwrap();
    let publish = ["indicator", "publish", indicator.to_str().unwrap()];
    let (code, stdout, stderr) = fed.run(&fed.risk_unit(), &publish).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("Indicator NL-TEST-RFI-1 v1: ACCEPTED by adm/NL"),
        "{stdout}"
    );
    assert!(stdout.contains("signature verified"), "{stdout}");
    // The same version again is refused by the gateway: exit 1, with the field.
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &publish).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("VALIDATION_FAILED"), "{stdout}");
    assert!(stdout.contains("version"), "{stdout}");
    // A typo is caught before anything is sent: exit 2, one line naming the key.
    let typo = fed.path("typo.json");
    std::fs::write(&typo, "{\"indicator_id\": \"X\", \"criterias\": {}}").unwrap();
    let (code, _, stderr) = fed
        .run(
            &fed.risk_unit(),
            &["indicator", "publish", typo.to_str().unwrap()],
        )
        .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("criterias"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let (code, stdout, stderr) = fed.run(&fed.risk_unit(), &["indicator", "list"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("NL-TEST-RFI-1"))
        .unwrap_or_else(|| panic!("indicator not listed:\n{stdout}"));
    for column in [
        " 1 ",
        "REQUEST_FOR_INFORMATION",
        "AMBER",
        &until,
        "adm/NL",
        "Counterfeit sports footwear sold by Putian Fleetfoot Trading",
    ] {
        assert!(row.contains(column), "{column:?} not in {row:?}");
    }
    assert!(
        stdout.contains("In force at adm/NL: 1 indicator;"),
        "{stdout}"
    );
    // A partner holds only its outcomes: listing needs an internal participant.
    let (code, _, stderr) = fed.run(&fed.shopco(), &["indicator", "list"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not an internal participant"), "{stderr}");

    // ShopCo files trainers from the seller; the outcome asks for information.
    let decl = fed.path("trainers.json");
    std::fs::write(
        &decl,
        aedgate::formats::declaration::to_json(&fleetfoot_trainers("SC-CLI-0001")),
    )
    .unwrap();
    let (code, stdout, stderr) = fed
        .run(&fed.shopco(), &["submit", decl.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let id = declaration_id(&stdout);
    assert_eq!(field(&stdout, "message id"), id);

    let (code, stdout, stderr) = fed.run(&fed.shopco(), &["fetch"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("seq 1  OUTCOME  from adm/NL to ptr/NL/shopco"),
        "{stdout}"
    );
    assert_eq!(field(&stdout, "declaration id"), id);
    assert_eq!(field(&stdout, "LRN"), "SC-CLI-0001");
    assert_eq!(field(&stdout, "code"), "REQUEST_FOR_INFORMATION");
    assert_eq!(field(&stdout, "pointer"), "items[0].hs_code");
    assert!(
        field(&stdout, "request").starts_with("Customs needs more information"),
        "{stdout}"
    );
    assert!(field(&stdout, "decided at").starts_with("20"), "{stdout}");
    let mrn = field(&stdout, "MRN");
    assert_eq!(mrn.len(), 18, "{stdout}");
    let referral = field(&stdout, "referral id");
    assert_eq!(referral, format!("{mrn}-R1"));
    assert!(
        field(&stdout, "signature").starts_with("verified: signed by adm/NL#"),
        "{stdout}"
    );
    assert!(
        stdout.contains("last seq 1 (next time: --after 1)"),
        "{stdout}"
    );
    let (_, later, _) = fed.run(&fed.shopco(), &["fetch", "--after", "1"]).await;
    assert!(
        later.contains("No deliveries to ptr/NL/shopco after seq 1."),
        "{later}"
    );

    let (code, stdout, stderr) = fed.run(&fed.shopco(), &["status", &id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(field(&stdout, "state").starts_with("REFERRED"), "{stdout}");
    assert_eq!(field(&stdout, "open referral"), referral);

    // The answer goes to the outcome that asked; the declaration is then released.
    let answer = [
        "respond",
        &referral,
        "--information",
        "Unbranded running shoes from the seller's own factory; invoice FT-2026-11873",
    ];
    let (code, stdout, stderr) = fed.run(&fed.shopco(), &answer).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "Response to referral {referral} (REQUEST_FOR_INFORMATION of LRN SC-CLI-0001, MRN {mrn}): ACCEPTED by adm/NL"
        )),
        "{stdout}"
    );
    let (code, stdout, _) = fed.run(&fed.shopco(), &answer).await;
    assert_eq!(code, 1, "answered twice: {stdout}");
    assert!(stdout.contains("REFERRAL_NOT_OPEN"), "{stdout}");
    let (code, _, stderr) = fed
        .run(
            &fed.shopco(),
            &["respond", "26NL-NOPE-R1", "--screening", "clear"],
        )
        .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no outcome delivered"), "{stderr}");
    let (code, _, stderr) = fed.run(&fed.shopco(), &["respond", &referral]).await;
    assert_eq!(code, 2, "an answer is required: {stderr}");

    let (code, stdout, stderr) = fed.run(&fed.shopco(), &["status", &id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(field(&stdout, "MRN"), mrn);
    assert!(field(&stdout, "state").starts_with("CLEARED"), "{stdout}");
    assert_eq!(field(&stdout, "last outcome"), "ASSESSMENT_COMPLETE");
    assert_eq!(field(&stdout, "open referral"), "-");
    // Another partner's or an unknown declaration: refused, exit 1.
    let (code, stdout, _) = fed
        .run(
            &fed.shopco(),
            &["status", "01a21efb-0000-7000-8000-000000000000"],
        )
        .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("UNKNOWN_DECLARATION"), "{stdout}");

    // Revoked: gone from the list.
    let (code, stdout, stderr) = fed
        .run(
            &fed.risk_unit(),
            &[
                "indicator",
                "revoke",
                "NL-TEST-RFI-1",
                "--reason",
                "seller delisted by the marketplaces",
            ],
        )
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("Revocation of indicator NL-TEST-RFI-1: ACCEPTED by adm/NL"),
        "{stdout}"
    );
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &["indicator", "list"]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(!stdout.contains("NL-TEST-RFI-1"), "{stdout}");
    assert!(
        stdout.contains("In force at adm/NL: 0 indicators;"),
        "{stdout}"
    );
    // The risk unit's fetch shows the whole log, the revocation last, every envelope checked.
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &["fetch"]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("RISK_INDICATOR_REVOCATION"), "{stdout}");
    assert!(stdout.contains("REFERRAL_RESPONSE"), "{stdout}");
    assert!(!stdout.contains("NOT VERIFIED"), "{stdout}");
}

/// Reads stdout lines until one satisfies `until`, with a deadline so that a missing line
/// fails the test instead of hanging it. Returns everything read.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    until: impl Fn(&str) -> bool,
) -> String {
    let mut seen = String::new();
    let deadline = std::time::Duration::from_secs(60);
    loop {
        let line = tokio::time::timeout(deadline, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("timed out; read so far:\n{seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("stdout closed; read so far:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if until(&line) {
            return seen;
        }
    }
}

#[tokio::test]
async fn fetch_follow_prints_outcomes_live_and_amend_and_invalidate_work() {
    let fed = Served::start().await;
    let mut follow = aedgate()
        .args(["fetch", "--follow", "--config"])
        .arg(fed.shopco())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    // The stream is open once this is printed: what follows arrives live.
    read_until(&mut lines, |l| {
        l.starts_with("Following deliveries to ptr/NL/shopco")
    })
    .await;

    let decl = fed.path("decl.json");
    let mut d = aedgate::core::validation::sample_declaration("SC-LIVE-0001");
    std::fs::write(&decl, aedgate::formats::declaration::to_json(&d)).unwrap();
    let (code, stdout, stderr) = fed
        .run(&fed.shopco(), &["submit", decl.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let id = declaration_id(&stdout);
    let first = read_until(&mut lines, |l| l.trim_start().starts_with("signature")).await;
    assert!(first.contains("seq 1  OUTCOME"), "{first}");
    assert_eq!(field(&first, "declaration id"), id);
    assert_eq!(field(&first, "code"), "ASSESSMENT_COMPLETE");
    assert!(first.contains("verified: signed by adm/NL#"), "{first}");

    // An amendment gets its own outcome, streamed to the same follower.
    d.items.truncate(1);
    d.gross_mass_g = 1_050;
    std::fs::write(&decl, aedgate::formats::declaration::to_json(&d)).unwrap();
    let (code, stdout, stderr) = fed
        .run(&fed.shopco(), &["amend", &id, decl.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "Amendment of {id} (LRN SC-LIVE-0001): ACCEPTED by adm/NL"
        )),
        "{stdout}"
    );
    let second = read_until(&mut lines, |l| l.trim_start().starts_with("signature")).await;
    assert!(second.contains("seq 2  OUTCOME"), "{second}");
    assert_eq!(field(&second, "declaration id"), id);
    follow.start_kill().unwrap();

    let (code, stdout, stderr) = fed
        .run(
            &fed.shopco(),
            &[
                "invalidate",
                &id,
                "--reason",
                "order cancelled by the buyer",
            ],
        )
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("Invalidation of {id}: ACCEPTED by adm/NL")),
        "{stdout}"
    );
    let (_, stdout, _) = fed.run(&fed.shopco(), &["status", &id]).await;
    assert!(
        field(&stdout, "state").starts_with("INVALIDATED"),
        "{stdout}"
    );
    // Closed: a further amendment is refused, exit 1.
    let (code, stdout, _) = fed
        .run(&fed.shopco(), &["amend", &id, decl.to_str().unwrap()])
        .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("DECLARATION_CLOSED"), "{stdout}");
    // An invalidation without --reason is a usage error.
    let (code, _, _) = fed.run(&fed.shopco(), &["invalidate", &id]).await;
    assert_eq!(code, 2);
}

fn outcome_draft(
    sender: &str,
    outcome: &aedgate::proto::v1::Outcome,
) -> aedgate::core::envelope::Draft {
    use prost::Message;
    aedgate::core::envelope::Draft {
        message_id: uuid::Uuid::now_v7().hyphenated().to_string(),
        sender: sender.into(),
        recipient: "ptr/NL/shopco".into(),
        message_type: aedgate::proto::v1::MessageType::Outcome as i32,
        created_at_ms: aedgate::clock::now_ms(),
        correlation_id: outcome.declaration_id.clone(),
        payload: bytes::Bytes::from(outcome.encode_to_vec()),
    }
}

#[test]
fn delivered_envelopes_are_checked_as_evidence_before_anyone_acts_on_them() {
    use aedgate::client::{check_delivery, check_signature};
    use aedgate::core::envelope::seal;
    use aedgate::proto::v1::{Delivery, Outcome, OutcomeCode};
    use aedgate::render::describe_delivery;
    use prost::Message;

    let fed = common::Federation::standard();
    let trust = aedgate::config::ClientConfig::load(&fed.client_config_path("ptr/NL/shopco"))
        .unwrap()
        .trust;
    let outcome = Outcome {
        declaration_id: uuid::Uuid::now_v7().to_string(),
        lrn: "SC-2026-000201".into(),
        mrn: "26NL00000000000052".into(),
        code: OutcomeCode::DoNotLoad as i32,
        request_text: "Do not load".into(),
        decided_at_ms: aedgate::clock::now_ms(),
        ..Default::default()
    };
    let by = |signer: &str, sender: &str| {
        seal(
            outcome_draft(sender, &outcome),
            &fed.signing_key(signer),
            &fed.key_id(signer),
        )
    };
    let good = by("adm/NL", "adm/NL");
    assert_eq!(
        check_delivery(&trust, "adm/NL", &good),
        Ok(fed.key_id("adm/NL"))
    );

    // The payload swapped after signing (a release instead of a Do Not Load).
    let mut tampered = good.clone();
    tampered.payload = bytes::Bytes::from(
        Outcome {
            code: OutcomeCode::AssessmentComplete as i32,
            ..outcome.clone()
        }
        .encode_to_vec(),
    );
    let why = check_delivery(&trust, "adm/NL", &tampered).unwrap_err();
    assert!(why.contains("payload"), "{why}");
    // A signature bit flipped.
    let mut forged = good.clone();
    let signature = forged.signature.as_mut().unwrap();
    let mut value = signature.value.to_vec();
    value[0] ^= 1;
    signature.value = value.into();
    let why = check_delivery(&trust, "adm/NL", &forged).unwrap_err();
    assert!(why.contains("does not verify"), "{why}");
    // Someone else's key speaking for adm/NL.
    let spoofed = by("ptr/NL/flyfast", "adm/NL");
    let why = check_delivery(&trust, "adm/NL", &spoofed).unwrap_err();
    assert!(why.contains("is not a key of adm/NL"), "{why}");
    // Validly signed by another administration: genuine, but not this gateway's decision.
    let belgian = by("adm/BE", "adm/BE");
    assert!(check_signature(&trust, &belgian).is_ok());
    let why = check_delivery(&trust, "adm/NL", &belgian).unwrap_err();
    assert!(
        why.contains("must be issued by adm/NL, not by adm/BE"),
        "{why}"
    );
    let unsigned = aedgate::proto::v1::Envelope {
        signature: None,
        ..good.clone()
    };
    assert!(check_delivery(&trust, "adm/NL", &unsigned).is_err());

    let delivery = Delivery {
        seq: 7,
        envelope: Some(tampered),
    };
    let text = describe_delivery(&delivery, &Err(why), trust.version());
    assert!(
        text.starts_with("seq 7  OUTCOME  from adm/NL to ptr/NL/shopco"),
        "{text}"
    );
    assert!(
        text.contains("code           ASSESSMENT_COMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("signature      NOT VERIFIED:"),
        "flagged, next to the fields it makes untrustworthy: {text}"
    );
}

#[test]
fn the_indicator_list_is_the_log_folded_by_version_and_revocation() {
    use aedgate::client::fold_indicators;
    use aedgate::proto::v1::{
        Criteria, Delivery, Envelope, Header, MessageType, OutcomeCode, RiskIndicator,
        RiskIndicatorRevocation, Tlp,
    };
    use aedgate::render::indicator_table;
    use prost::Message;

    let sent =
        |seq: u64, sender: &str, recipient: &str, t: MessageType, payload: Vec<u8>| Delivery {
            seq,
            envelope: Some(Envelope {
                header: Some(Header {
                    sender: sender.into(),
                    recipient: recipient.into(),
                    r#type: t as i32,
                    ..Default::default()
                }),
                payload: payload.into(),
                signature: None,
            }),
        };
    let indicator = |id: &str, version: u32, valid_until_ms: i64| {
        RiskIndicator {
            indicator_id: id.into(),
            version,
            title: format!("{id} v{version}"),
            tlp: Tlp::Amber as i32,
            criteria: Some(Criteria {
                origin_countries: vec!["CN".into()],
                ..Default::default()
            }),
            action: OutcomeCode::ControlOnArrival as i32,
            valid_until_ms,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let entry = |seq: u64, sender: &str, t: MessageType, payload: Vec<u8>| {
        sent(seq, sender, "adm/NL", t, payload)
    };
    let revoke = |id: &str| {
        RiskIndicatorRevocation {
            indicator_id: id.into(),
            reason: String::new(),
        }
        .encode_to_vec()
    };
    let unit = "adm/NL/risk-unit";
    let log = vec![
        entry(1, unit, MessageType::RiskIndicator, indicator("NL-A", 1, 0)),
        entry(2, unit, MessageType::RiskIndicator, indicator("NL-B", 1, 0)),
        entry(3, "ptr/NL/shopco", MessageType::Declaration, vec![]),
        entry(4, unit, MessageType::RiskIndicator, indicator("NL-A", 3, 0)),
        entry(5, unit, MessageType::RiskIndicator, indicator("NL-A", 2, 0)),
        entry(
            6,
            unit,
            MessageType::RiskIndicatorRevocation,
            revoke("NL-B"),
        ),
        entry(
            7,
            "adm/BE",
            MessageType::RiskIndicator,
            indicator("BE-C", 1, 5_000),
        ),
        entry(8, unit, MessageType::RiskIndicator, vec![0xff, 0xff]),
        // What NL issued for a peer is in NL's log too, but says nothing about what NL
        // holds: a revocation sent to BE because NL-A v3 may no longer go there.
        sent(
            9,
            "adm/NL",
            "adm/BE",
            MessageType::RiskIndicatorRevocation,
            revoke("NL-A"),
        ),
    ];
    let held = fold_indicators(&log, "adm/NL");
    assert_eq!(held.keys().collect::<Vec<_>>(), ["BE-C", "NL-A"]);
    assert_eq!(
        held["NL-A"].indicator.version, 3,
        "the highest version stays"
    );
    assert_eq!(held["NL-A"].issuer, "adm/NL");
    assert_eq!(held["BE-C"].issuer, "adm/BE");

    let table = indicator_table(&held, 10_000);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID    V  ACTION"), "{table}");
    assert!(lines[1].contains("EXPIRED 1970-01-01T00:00:05Z"), "{table}");
    assert!(lines[2].contains("no end date"), "{table}");
    assert!(lines[2].ends_with("NL-A v3"), "{table}");
    // Columns line up.
    let column = |line: &str| line.find("CONTROL_ON_ARRIVAL").or(line.find("ACTION"));
    assert_eq!(column(lines[0]), column(lines[1]));
    assert_eq!(column(lines[1]), column(lines[2]));
}

#[tokio::test]
async fn a_partner_proves_its_receipt_a_witness_checks_heads_and_the_operator_verifies_the_store() {
    let fed = Served::start().await;
    let submit = |tag: &str| {
        let path = fed.path(&format!("{tag}.json"));
        let decl = common::declaration(&common::lrn(tag));
        std::fs::write(&path, aedgate::formats::declaration::to_json(&decl)).unwrap();
        path
    };
    let receipt = fed.path("receipt.json");
    let first = submit("AUDIT-CLI-1");
    let (code, stdout, stderr) = fed
        .run(
            &fed.shopco(),
            &[
                "submit",
                first.to_str().unwrap(),
                "--receipt-out",
                receipt.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let saved = aedgate::formats::audit::read_receipt(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(saved.log_index, 0);

    // The partner proves its receipt; any participant of the federation may check it.
    let head = fed.path("head.json");
    let verify = [
        "audit",
        "verify-receipt",
        receipt.to_str().unwrap(),
        "--save-head",
        head.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = fed.run(&fed.shopco(), &verify).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "VERIFIED: message {} is entry 0 of adm/NL's log",
            saved.message_id
        )),
        "{stdout}"
    );
    assert!(stdout.contains("inclusion proof  verified"), "{stdout}");
    let saved_head =
        aedgate::formats::audit::read_tree_head(&std::fs::read(&head).unwrap()).unwrap();
    assert_eq!(saved_head.tree_size, 2, "the declaration and its outcome");
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &verify[..3]).await;
    assert_eq!(code, 0, "{stdout}");

    // A receipt changed after the fact proves nothing: exit 1 with the reason.
    let text = std::fs::read_to_string(&receipt).unwrap();
    let forged = fed.path("forged.json");
    let at = format!("\"received_at_ms\": {}", saved.received_at_ms);
    assert!(text.contains(&at), "{text}");
    std::fs::write(
        &forged,
        text.replace(
            &at,
            &format!("\"received_at_ms\": {}", saved.received_at_ms - 60_000),
        ),
    )
    .unwrap();
    let (code, stdout, _) = fed
        .run(
            &fed.shopco(),
            &["audit", "verify-receipt", forged.to_str().unwrap()],
        )
        .await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("NOT VERIFIED: receipt"), "{stdout}");

    // A witness: the first run remembers the head, the next proves the log only grew.
    let state = fed.path("witness.json");
    let watch = [
        "audit",
        "watch",
        "--once",
        "--state",
        state.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = fed.run(&fed.risk_unit(), &watch).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2 entries"), "{stdout}");
    assert!(stdout.contains("first head seen"), "{stdout}");
    let second = submit("AUDIT-CLI-2");
    let (code, _, _) = fed
        .run(&fed.shopco(), &["submit", second.to_str().unwrap()])
        .await;
    assert_eq!(code, 0);
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &watch).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("4 entries")
            && stdout.contains("consistent with the last head (+2 entries)"),
        "{stdout}"
    );
    // A state file whose head the gateway never signed (here: another root) is an alert,
    // and the state is kept as it was for the investigation.
    let kept = std::fs::read_to_string(&state).unwrap();
    let recorded = aedgate::formats::audit::read_tree_head(kept.as_bytes()).unwrap();
    let root = hex::encode(&recorded.root_hash);
    let altered = kept.replace(&root, &"0".repeat(64));
    std::fs::write(&state, &altered).unwrap();
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &watch).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("ALERT") && stdout.contains("NOT VERIFIED"),
        "{stdout}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), altered);
    // A head the administration did sign, of the same size but another root (what a
    // gateway showing different logs to different parties produces): a fork. Both signed
    // heads are kept as evidence.
    let gateway = aedgate::config::GatewayConfig::load(&fed.path("adm-NL.gateway.toml")).unwrap();
    let other_log = aedgate::core::audit::sign_tree_head(
        "adm/NL",
        recorded.tree_size,
        recorded.timestamp_ms,
        &[7u8; 32],
        &gateway.signer.key,
        &gateway.signer.key_id,
    );
    let forked = aedgate::formats::audit::tree_head_to_json(&other_log);
    std::fs::write(&state, &forked).unwrap();
    let (code, stdout, _) = fed.run(&fed.risk_unit(), &watch).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("log forked"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), forked);
    let conflict = aedgate::formats::audit::read_tree_head(
        &std::fs::read(fed.path("witness.conflict.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(conflict.root_hash, recorded.root_hash);
    std::fs::write(&state, &kept).unwrap();

    // The operator recomputes the log from the data folder, while the gateway runs, and
    // compares it with the heads partners hold.
    let data_dir = fed.path("data/adm-NL");
    let out = aedgate()
        .args(["audit", "verify-store"])
        .arg(&data_dir)
        .arg("--head")
        .arg(&head)
        .arg("--head")
        .arg(&state)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("VERIFIED: 4 entries recomputed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("matches the signed head of size 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("matches the signed head of size 4"),
        "{stdout}"
    );
    // One changed row in a copy is named, with exit 1. (The gateway is idle, so the
    // database and its write-ahead log copy consistently.)
    let copy = fed.path("copy-of-data");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}", copy.join("aedgate.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE envelopes SET received_at_ms = received_at_ms - 1 WHERE log_index = 2")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let out = aedgate()
        .args(["audit", "verify-store"])
        .arg(&copy)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("MISMATCH at entry 2 (message id"),
        "{stdout}"
    );
    // A folder that is not a store is a usage error, not a verdict.
    let out = aedgate()
        .args(["audit", "verify-store"])
        .arg(fed.path("nowhere"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
