//! Signed trust lists for core's own tests, made with core's own crypto, so that core's
//! tests do not depend on the PKI tooling that is built on top of core.

use super::{AgreementEntry, KeyEntry, ParticipantEntry, Role, TrustList, TrustListDocument};
use crate::core::crypto::SigningKey;
use crate::core::envelope::trust_list_signing_input;
use base64::Engine;
use std::sync::OnceLock;

/// The federation every list made here belongs to.
pub const FEDERATION: &str = "wco-ecom.test";

/// A self-signed Ed25519 CA certificate, made once with openssl and valid until 2126, so
/// that no test starts failing on a date. A list needs one CA; no test dials TLS with it.
pub const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBZzCCARmgAwIBAgIUc9kSPweRbbHFSK15l3BgGItLDxIwBQYDK2VwMCAxHjAc
BgNVBAMMFWFlZGdhdGUgY29yZSB0ZXN0cyBDQTAgFw0yNjEyMDMwNzUzMTVaGA8y
MTI2MTEwOTA3NTMxNVowIDEeMBwGA1UEAwwVYWVkZ2F0ZSBjb3JlIHRlc3RzIENB
MCowBQYDK2VwAyEAIJrSJg26x4d9T3NZZtUb3JOD8PqBcRS+e5pkQqNYeeejYzBh
MB0GA1UdDgQWBBSfCONRHPC87Nsipt49X3bT5LwR1jAfBgNVHSMEGDAWgBSfCONR
HPC87Nsipt49X3bT5LwR1jAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIC
BDAFBgMrZXADQQAZ4ZZmV4KuhBmR7wDg+QEfepb8+vyAG0rjqr+t0BO5okaveHTJ
b0biN7eypfRVotasYIy6/iWHlMimiAE7iw4F
-----END CERTIFICATE-----
";

/// Another CA, for lists that hold more than one.
pub const SECOND_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBdTCCASegAwIBAgIUWgcNDUM6tSfN9Cehv76ugTHbAZcwBQYDK2VwMCcxJTAj
BgNVBAMMHGFlZGdhdGUgY29yZSB0ZXN0cyBzZWNvbmQgQ0EwIBcNMjYxMjAzMDc1
MzE3WhgPMjEyNjExMDkwNzUzMTdaMCcxJTAjBgNVBAMMHGFlZGdhdGUgY29yZSB0
ZXN0cyBzZWNvbmQgQ0EwKjAFBgMrZXADIQC59kGK/Ld3YWPhKMv6VpCl+BtX165M
/4SauaR2mIIq8aNjMGEwHQYDVR0OBBYEFL6bUp3FXS3SakG9V4tZ5CrlgcsoMB8G
A1UdIwQYMBaAFL6bUp3FXS3SakG9V4tZ5CrlgcsoMA8GA1UdEwEB/wQFMAMBAf8w
DgYDVR0PAQH/BAQDAgIEMAUGAytlcANBANhWf1VKrqP0D5s5jTSg4vuDys6nzqDv
jKiArf+02ZkBqyDxecwhK62XUmbjy99I4o/GQGjIKLFEMGcAi75JZwI=
-----END CERTIFICATE-----
";

/// A version-1 document of [`FEDERATION`] with [`CA_PEM`] as its one CA.
pub fn document(
    participants: Vec<ParticipantEntry>,
    agreements: Vec<AgreementEntry>,
) -> TrustListDocument {
    TrustListDocument {
        federation: FEDERATION.into(),
        version: 1,
        issued_at: None,
        ca_certificates_pem: CA_PEM.into(),
        participants,
        agreements,
    }
}

/// An administration with a gateway endpoint and `signing_keys`.
pub fn administration(id: &str, signing_keys: Vec<KeyEntry>) -> ParticipantEntry {
    ParticipantEntry {
        id: id.into(),
        role: Role::Administration,
        name: id.into(),
        endpoint: Some("https://127.0.0.1:7443".into()),
        registered_with: vec![],
        signing_keys,
    }
}

/// The operator that signs every list made by [`verified`]; from a fixed seed, so that a
/// list's bytes and signature are the same on every run.
pub fn operator() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::ed25519_from_seed(&[0x0b; 32]).expect("fixed seed"))
}

/// The file bytes of `document`, laid out as `pki init` writes them (pretty, with a final
/// newline), so that tests exercise the same kind of file gateways read.
pub fn file_bytes(document: &TrustListDocument) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(document).expect("a document serialises");
    bytes.push(b'\n');
    bytes
}

/// The detached signature file of §2 over `bytes`.
pub fn signature_file(bytes: &[u8], operator: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(operator.sign(&trust_list_signing_input(bytes)))
}

/// `document` signed by [`operator`] and verified as a gateway of [`FEDERATION`] would.
///
/// # Panics
///
/// When the document is not a list a gateway accepts: a test's fixture is wrong.
pub fn verified(document: &TrustListDocument) -> TrustList {
    let bytes = file_bytes(document);
    TrustList::verify(
        &bytes,
        signature_file(&bytes, operator()).as_bytes(),
        &[operator().verifying_key()],
        FEDERATION,
        None,
    )
    .unwrap_or_else(|e| panic!("test trust list does not verify: {e}"))
}
