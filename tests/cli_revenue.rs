//! The revenue and return commands as a partner uses them: `aedgate submit` prints the
//! charges of the outcome it gets, `aedgate return` files a notice from JSON and prints the
//! signed refund, and `aedgate status` says what a returned declaration's state means. Run
//! as the real binary against `aedgate serve` on a federation from `aedgate pki init`, which
//! writes the revenue policies.

use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn aedgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aedgate"));
    cmd.kill_on_drop(true);
    cmd
}

struct Served {
    dir: tempfile::TempDir,
    _server: tokio::process::Child,
}

impl Served {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = aedgate()
            .args(["pki", "init", "--out"])
            .arg(dir.path())
            .output()
            .await
            .expect("pki init");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("adm-NL.gateway.toml");
        let text = std::fs::read_to_string(&config)
            .expect("gateway config")
            .replace("127.0.0.1:7443", "127.0.0.1:0");
        assert!(
            text.contains("[revenue]"),
            "pki init configures revenue:\n{text}"
        );
        std::fs::write(&config, text).expect("write config");
        let mut server = aedgate()
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve");
        let ready = BufReader::new(server.stdout.take().expect("stdout"))
            .lines()
            .next_line()
            .await
            .expect("read")
            .expect("ready line");
        let addr = ready
            .split(" serving on ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("address")
            .to_owned();
        let client = dir.path().join("ptr-NL-shopco.client.toml");
        let text = std::fs::read_to_string(&client).expect("client config");
        std::fs::write(&client, format!("endpoint = \"https://{addr}\"\n{text}"))
            .expect("write client config");
        Served {
            dir,
            _server: server,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    async fn shopco(&self, args: &[&str]) -> (i32, String) {
        let out = aedgate()
            .args(args)
            .arg("--config")
            .arg(self.path("ptr-NL-shopco.client.toml"))
            .output()
            .await
            .expect("run aedgate");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

/// §11's worked example in the declaration JSON form.
fn worked_example_json(lrn: &str) -> String {
    let mut d = aedgate::core::validation::sample_declaration(lrn);
    d.items.truncate(2);
    d.items[0].hs_code = "640411".into();
    d.items[0].value = Some(aedgate::proto::v1::Money {
        currency: "EUR".into(),
        amount_minor: 4500,
    });
    d.items[0].listed_price = None;
    d.items[1].description = "Men's T-shirts of knitted cotton, printed".into();
    d.items[1].hs_code = "610910".into();
    d.items[1].value = Some(aedgate::proto::v1::Money {
        currency: "EUR".into(),
        amount_minor: 2000,
    });
    d.items[1].listed_price = None;
    aedgate::formats::declaration::to_json(&d)
}

#[tokio::test]
async fn submit_prints_the_charges_and_return_prints_the_signed_refund() {
    let served = Served::start().await;
    let declaration = served.path("worked.json");
    std::fs::write(&declaration, worked_example_json("CLI-REV-1")).expect("write");
    let (code, stdout) = served
        .shopco(&["submit", declaration.to_str().unwrap_or_default()])
        .await;
    assert_eq!(code, 0, "{stdout}");
    for line in [
        "ASSESSMENT_COMPLETE",
        "charges        Customs duty EUR 6.00 (2 item categories x EUR 3.00)",
        "Import VAT EUR 15.33 (VAT on goods EUR 13.65 + 21.0% of duty and fee EUR 8.00)",
        "Handling fee EUR 2.00 (per low-value consignment)",
        "Total due at the border EUR 23.33",
        "signature      verified: signed by",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Declaration id "))
        .and_then(|rest| rest.split(':').next())
        .expect("declaration id")
        .to_owned();

    // The documented example returns the two T-shirts (items[1]).
    let notice = served.path("return.json");
    let example = include_str!("../docs/return-json.md");
    let json = example
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("example")
        .replace(
            "1796371200000",
            &format!(
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default()
            ),
        );
    std::fs::write(&notice, json).expect("write");
    let path = notice.to_str().unwrap_or_default();
    let (code, stdout) = served.shopco(&["return", &id, path]).await;
    assert_eq!(code, 0, "{stdout}");
    for line in [
        "Return notice for",
        "ACCEPTED by adm/NL",
        "REFUND_DECISION",
        "refunds        Customs duty EUR 3.00",
        "Import VAT EUR 4.83",
        "Total refunded at the border EUR 7.83",
        "signature      verified: signed by",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    let (code, stdout) = served.shopco(&["status", &id]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("PARTLY_RETURNED"), "{stdout}");

    // The same lines again: more than is left, refused with the line's field, exit 1.
    let (code, stdout) = served.shopco(&["return", &id, path]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("VALIDATION_FAILED"), "{stdout}");
    assert!(stdout.contains("lines[0].quantity"), "{stdout}");

    // A notice with a misspelt key is refused before anything is sent: exit 2, one line.
    let typo = served.path("typo.json");
    std::fs::write(&typo, "{\"lines\": [{\"item\": 0, \"qty\": 1}]}").expect("write");
    let (code, output) = served
        .shopco(&["return", &id, typo.to_str().unwrap_or_default()])
        .await;
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("qty") && output.contains("return-json.md"),
        "{output}"
    );
}
