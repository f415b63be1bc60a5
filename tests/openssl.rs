//! Keys and certificates made by OpenSSL — the tool national PKIs and integrators actually
//! use — work exactly as well as `aedgate pki init`'s own: a national CA added to the trust
//! list, a SEC1 EC TLS key, an RSA (PKCS#1) TLS key, an Ed25519 signing key in PKCS#8 v1
//! (`openssl genpkey`) and an ECDSA P-256 signing key in SEC1 form (`openssl ecparam`).
//! `.ci/run` installs OpenSSL where it is missing.

mod common;

use aedgate::core::crypto::{Algorithm, SigningKey};
use aedgate::core::trust::{KeyEntry, ParticipantEntry, Role};
use aedgate::proto::v1::Disposition;
use base64::Engine;
use common::*;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Issues a client certificate from the national CA for `id` with the key in `key_file`.
fn issue(dir: &Path, id: &str, key_file: &str, cert_file: &str) {
    let slug = aedgate::core::ids::slug(id);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            key_file,
            "-subj",
            &format!("/CN={}", id.replace('/', "\\/")),
            "-out",
            &format!("{slug}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{slug}.ext")),
        format!(
            "subjectAltName=URI:spiffe://wco-ecom.test/{id}\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{slug}.csr"),
            "-CA",
            "nat-ca.crt",
            "-CAkey",
            "nat-ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            cert_file,
            "-extfile",
            &format!("{slug}.ext"),
        ],
    );
}

fn entry(fed: &Federation, id: &str, algorithm: Algorithm, public_key: &[u8]) -> ParticipantEntry {
    let template = fed
        .pki
        .trust_list
        .participants
        .iter()
        .find(|p| p.id == "ptr/NL/shopco")
        .unwrap();
    ParticipantEntry {
        id: id.into(),
        role: Role::PostalOperator,
        name: format!("{id} (keys from OpenSSL)"),
        endpoint: None,
        registered_with: vec!["adm/NL".into()],
        signing_keys: vec![KeyEntry {
            key_id: format!("{id}#openssl"),
            algorithm,
            public_key: base64::engine::general_purpose::STANDARD.encode(public_key),
            ..template.signing_keys[0].clone()
        }],
    }
}

#[tokio::test]
async fn openssl_made_ca_certificates_and_keys_work_end_to_end() {
    let fed = Federation::standard();
    let dir = fed.path();
    // A national CA, made by OpenSSL, with a SEC1 key.
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "nat-ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "nat-ca.key",
            "-subj",
            "/CN=National Customs PKI",
            "-days",
            "30",
            "-out",
            "nat-ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    // Partner 1: SEC1 EC TLS key, Ed25519 signing key in PKCS#8 v1.
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "p1.tls.key",
        ],
    );
    assert!(read(dir, "p1.tls.key").contains("BEGIN EC PRIVATE KEY"));
    issue(dir, "ptr/NL/natpost", "p1.tls.key", "p1.tls.crt");
    openssl(
        dir,
        &["genpkey", "-algorithm", "ed25519", "-out", "p1.sign.key"],
    );
    let p1_public = openssl(
        dir,
        &["pkey", "-in", "p1.sign.key", "-pubout", "-outform", "DER"],
    );
    // Partner 2: RSA TLS key in PKCS#1, ECDSA P-256 signing key in SEC1.
    openssl(
        dir,
        &["genrsa", "-traditional", "-out", "p2.tls.key", "2048"],
    );
    assert!(read(dir, "p2.tls.key").contains("BEGIN RSA PRIVATE KEY"));
    issue(dir, "ptr/NL/natcourier", "p2.tls.key", "p2.tls.crt");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "p2.sign.key",
        ],
    );
    assert!(read(dir, "p2.sign.key").contains("BEGIN EC PRIVATE KEY"));
    let p2_public = openssl(
        dir,
        &["ec", "-in", "p2.sign.key", "-pubout", "-outform", "DER"],
    );

    // Trust list v2: the national CA and both partners, with the public keys OpenSSL printed.
    let mut doc = fed.pki.trust_list.clone();
    doc.version = 2;
    doc.ca_certificates_pem.push_str(&read(dir, "nat-ca.crt"));
    doc.participants.push(entry(
        &fed,
        "ptr/NL/natpost",
        Algorithm::Ed25519,
        &p1_public[p1_public.len() - 32..],
    ));
    doc.participants.push(entry(
        &fed,
        "ptr/NL/natcourier",
        Algorithm::EcdsaP256Sha256,
        &p2_public[p2_public.len() - 65..],
    ));
    let (bytes, sig) = fed.pki.resign(&doc).unwrap();
    std::fs::write(fed.file("trust-list.json"), bytes).unwrap();
    std::fs::write(fed.file("trust-list.json.sig"), sig).unwrap();

    let gateway = fed.start("adm/NL").await;
    for (id, prefix) in [("ptr/NL/natpost", "p1"), ("ptr/NL/natcourier", "p2")] {
        let mut config = fed.client_config("ptr/NL/shopco", &gateway);
        config.participant = id.into();
        config.identity = aedgate::tls::Identity::load(
            &dir.join(format!("{prefix}.tls.crt")),
            &dir.join(format!("{prefix}.tls.key")),
        )
        .expect("OpenSSL TLS material loads");
        config.signer.key =
            SigningKey::from_pem(read(dir, &format!("{prefix}.sign.key")).as_bytes())
                .expect("OpenSSL signing key loads");
        config.signer.key_id = format!("{id}#openssl");
        let mut client = aedgate::client::Participant::connect(config)
            .await
            .expect("handshake with OpenSSL material");
        let receipt = client
            .submit(client.seal_declaration(&declaration(&lrn("OSSL"))))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(receipt.disposition, Disposition::Accepted as i32, "{id}");
    }
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        4,
        "two declarations, two outcomes"
    );
}
