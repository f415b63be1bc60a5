//! The federation trust list of §2: who the participants are, which keys speak for them,
//! which CAs issue their TLS certificates, and which agreements bind administrations.
//!
//! A list is only ever used after `TrustList::verify` has checked the operator signature
//! over the exact file bytes, the federation name, the version (no rollback) and the
//! internal consistency of the document; every later lookup can then trust its shape.

use crate::core::crypto::{Algorithm, VerifyingKey};
use crate::core::envelope::trust_list_signing_input;
use crate::core::ids::{is_participant_id, parent_administration};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why a trust list was refused. A refused list never replaces the one in force.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The detached signature file is not base64 of 64 bytes.
    #[error("trust list signature is not base64 of an Ed25519 signature")]
    SignatureEncoding,
    /// No configured operator key verifies the signature.
    #[error("trust list signature does not verify against any operator key")]
    SignatureInvalid,
    /// The document is not valid JSON of the expected shape.
    #[error("trust list is not a valid document: {0}")]
    Json(String),
    /// The list belongs to another federation.
    #[error("trust list is for federation {found:?}, this gateway belongs to {expected:?}")]
    WrongFederation {
        /// This gateway's federation.
        expected: String,
        /// The list's `federation`.
        found: String,
    },
    /// The list is older than the one already held.
    #[error("trust list version {found} is lower than version {held} already in force (rollback refused)")]
    Rollback {
        /// Version in force.
        held: u64,
        /// Version of the refused list.
        found: u64,
    },
    /// The document contradicts itself or the contract.
    #[error("trust list is inconsistent: {0}")]
    Inconsistent(String),
}

/// A participant's role (§1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A customs administration running a gateway.
    Administration,
    /// A marketplace.
    Platform,
    /// An express carrier.
    Carrier,
    /// A postal operator.
    PostalOperator,
    /// An administration's own back-office system or risk unit.
    Internal,
}

impl Role {
    /// Marketplaces, carriers and postal operators: the senders of advance data.
    pub fn is_partner(self) -> bool {
        matches!(self, Role::Platform | Role::Carrier | Role::PostalOperator)
    }

    /// The trust list's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administration => "administration",
            Role::Platform => "platform",
            Role::Carrier => "carrier",
            Role::PostalOperator => "postal_operator",
            Role::Internal => "internal",
        }
    }
}

/// What an agreement lets two administrations exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exchange {
    /// RISK_INDICATOR and RISK_INDICATOR_REVOCATION.
    RiskIndicator,
    /// FORWARDED_DECLARATION.
    ForwardedDeclaration,
}

/// TLP 2.0 levels, ordered CLEAR < GREEN < AMBER < AMBER+STRICT < RED.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TlpLevel {
    /// Public.
    Clear,
    /// Community.
    Green,
    /// Organisation and its clients.
    Amber,
    /// Organisation only.
    #[serde(alias = "amber+strict")]
    AmberStrict,
    /// Named recipients only: never leaves its issuer.
    Red,
}

/// One signing key entry as written in the list.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KeyEntry {
    /// `participant#label`, unique in the list.
    pub key_id: String,
    /// Signature algorithm.
    pub algorithm: Algorithm,
    /// Standard padded base64 of the raw public key.
    pub public_key: String,
    /// Start of the validity window (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of the validity window (RFC 3339), inclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// One participant as written in the list.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ParticipantEntry {
    /// Participant id (§1).
    pub id: String,
    /// Role (§1).
    pub role: Role,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `https://host:port` of an administration's gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Administrations a partner is registered with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_with: Vec<String>,
    /// Keys that sign for this participant.
    #[serde(default)]
    pub signing_keys: Vec<KeyEntry>,
}

/// One agreement between administrations.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AgreementEntry {
    /// Agreement id.
    pub id: String,
    /// The administrations bound by it.
    pub parties: Vec<String>,
    /// What may be exchanged.
    pub exchange: Vec<Exchange>,
    /// Highest TLP level that may cross.
    pub max_tlp: TlpLevel,
    /// Whether indicators carrying personal data may cross.
    #[serde(default)]
    pub personal_data: bool,
}

/// The trust-list document as written in `trust-list.json`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrustListDocument {
    /// Federation name.
    pub federation: String,
    /// Monotonic version; a gateway never goes back to a lower one.
    pub version: u64,
    /// When the operator issued it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// Concatenated PEM certificates of the CAs that issue TLS certificates.
    #[serde(default)]
    pub ca_certificates_pem: String,
    /// All participants.
    #[serde(default)]
    pub participants: Vec<ParticipantEntry>,
    /// Agreements between administrations.
    #[serde(default)]
    pub agreements: Vec<AgreementEntry>,
}

/// A signing key with its window in Unix milliseconds, ready for lookups.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// The owner.
    pub participant: String,
    /// The key.
    pub key: VerifyingKey,
    /// Window start, inclusive.
    pub not_before_ms: i64,
    /// Window end, inclusive.
    pub not_after_ms: i64,
}

impl TrustedKey {
    /// Whether a message created at `created_at_ms` may be verified with this key.
    pub fn valid_at(&self, created_at_ms: i64) -> bool {
        (self.not_before_ms..=self.not_after_ms).contains(&created_at_ms)
    }
}

/// The result of looking a key up for a sender.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The key belongs to the sender and is valid at the given time.
    Valid(&'a TrustedKey),
    /// The key belongs to the sender but its window excludes the given time.
    OutsideWindow(&'a TrustedKey),
    /// No such key for this sender.
    Unknown,
}

/// Why a signed message is not its signer's word. The variants follow the order of §3's
/// rows (the key, then the signature) because each caller answers them with a reason of
/// its own: an envelope's `UNKNOWN_KEY` / `KEY_NOT_VALID` / `SIGNATURE_INVALID`, a
/// receipt's or tree head's problem, a person's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key id is none of the signer's keys: not in the list, or another participant's,
    /// since a key never speaks for someone else. An unknown signer has no keys at all.
    #[error("the key is not one of the signer's keys")]
    UnknownKey,
    /// The key is the signer's, but its window excludes the time the message claims.
    #[error("the key is not valid at the message's time")]
    KeyNotValid,
    /// The key is the signer's and valid then, but the signature does not verify with it.
    #[error("the signature does not verify with the key")]
    SignatureInvalid,
}

/// A verified, indexed trust list.
#[derive(Debug)]
pub struct TrustList {
    document: TrustListDocument,
    participants: HashMap<String, usize>,
    keys: HashMap<String, TrustedKey>,
    ca_certificates: Vec<CertificateDer<'static>>,
    file_digest: [u8; 32],
    signed_file: SignedFile,
}

/// The exact bytes a list was verified from: kept so that the store can keep a copy of
/// every list envelopes were admitted under, and an offline audit can check their
/// signatures long after the list was replaced.
#[derive(Clone, Default)]
pub struct SignedFile {
    /// The list file.
    pub list: bytes::Bytes,
    /// Its detached signature file, as read (base64 text).
    pub signature: bytes::Bytes,
}

impl std::fmt::Debug for SignedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignedFile({} + {} bytes)",
            self.list.len(),
            self.signature.len()
        )
    }
}

/// Parses a key written as base64 in a configuration or the list.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// Unix milliseconds of a timestamp.
pub fn unix_ms(at: OffsetDateTime) -> i64 {
    clamp_ms(at.unix_timestamp_nanos().div_euclid(1_000_000))
}

/// Unix milliseconds of a timestamp, rounded up: a window that opens part-way through a
/// millisecond does not cover that millisecond's start.
pub fn unix_ms_ceil(at: OffsetDateTime) -> i64 {
    let nanos = at.unix_timestamp_nanos();
    clamp_ms(nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) != 0))
}

fn clamp_ms(ms: i128) -> i64 {
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// Formats Unix milliseconds as RFC 3339, for people and for the list.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

impl TrustList {
    /// Verifies and indexes a list. `held_version` is the version already in force, if any.
    pub fn verify(
        file_bytes: &[u8],
        signature_file: &[u8],
        operator_keys: &[VerifyingKey],
        federation: &str,
        held_version: Option<u64>,
    ) -> Result<Self, TrustError> {
        let sig_text =
            std::str::from_utf8(signature_file).map_err(|_| TrustError::SignatureEncoding)?;
        let signature = decode_base64(sig_text).ok_or(TrustError::SignatureEncoding)?;
        if signature.len() != 64 {
            return Err(TrustError::SignatureEncoding);
        }
        let input = trust_list_signing_input(file_bytes);
        if !operator_keys
            .iter()
            .any(|k| k.algorithm == Algorithm::Ed25519 && k.verify(&input, &signature))
        {
            return Err(TrustError::SignatureInvalid);
        }
        let document: TrustListDocument =
            serde_json::from_slice(file_bytes).map_err(|e| TrustError::Json(e.to_string()))?;
        if document.federation != federation {
            return Err(TrustError::WrongFederation {
                expected: federation.to_owned(),
                found: document.federation,
            });
        }
        if let Some(held) = held_version {
            if document.version < held {
                return Err(TrustError::Rollback {
                    held,
                    found: document.version,
                });
            }
        }
        let mut list = Self::index(document)?;
        list.file_digest = crate::core::envelope::sha256(file_bytes);
        list.signed_file = SignedFile {
            list: bytes::Bytes::copy_from_slice(file_bytes),
            signature: bytes::Bytes::copy_from_slice(signature_file),
        };
        Ok(list)
    }

    /// Reads a list that a gateway verified when it put it in force and kept in its data
    /// folder, for an offline audit of the signatures it admitted envelopes under. The
    /// operator signature is not checked again here (the audit may not hold the operator
    /// keys; [`TrustList::verify`] checks it when they are at hand); the document is
    /// checked for consistency as any list is.
    ///
    /// # Errors
    ///
    /// [`TrustError::Json`] and [`TrustError::Inconsistent`], as for a list in force.
    pub fn read_kept(file_bytes: &[u8]) -> Result<Self, TrustError> {
        let document: TrustListDocument =
            serde_json::from_slice(file_bytes).map_err(|e| TrustError::Json(e.to_string()))?;
        let mut list = Self::index(document)?;
        list.file_digest = crate::core::envelope::sha256(file_bytes);
        list.signed_file.list = bytes::Bytes::copy_from_slice(file_bytes);
        Ok(list)
    }

    fn index(document: TrustListDocument) -> Result<Self, TrustError> {
        let bad = |msg: String| TrustError::Inconsistent(msg);
        let mut participants = HashMap::new();
        let mut keys = HashMap::new();
        for (pos, p) in document.participants.iter().enumerate() {
            if !is_participant_id(&p.id) {
                return Err(bad(format!("participant id {:?} is malformed", p.id)));
            }
            if participants.insert(p.id.clone(), pos).is_some() {
                return Err(bad(format!("participant {} is listed twice", p.id)));
            }
            for k in &p.signing_keys {
                let public_key = decode_base64(&k.public_key)
                    .ok_or_else(|| bad(format!("key {} is not base64", k.key_id)))?;
                let key = VerifyingKey {
                    algorithm: k.algorithm,
                    public_key,
                };
                if !key.is_well_formed() {
                    return Err(bad(format!(
                        "key {} is not a valid {} public key",
                        k.key_id,
                        k.algorithm.as_str()
                    )));
                }
                if k.not_after < k.not_before {
                    return Err(bad(format!("key {} ends before it begins", k.key_id)));
                }
                let trusted = TrustedKey {
                    participant: p.id.clone(),
                    key,
                    not_before_ms: unix_ms_ceil(k.not_before),
                    not_after_ms: unix_ms(k.not_after),
                };
                if keys.insert(k.key_id.clone(), trusted).is_some() {
                    return Err(bad(format!("key id {} is listed twice", k.key_id)));
                }
            }
        }
        let role_of = |id: &str| participants.get(id).map(|&i| document.participants[i].role);
        for p in &document.participants {
            match p.role {
                Role::Internal => {
                    let parent = parent_administration(&p.id).ok_or_else(|| {
                        bad(format!(
                            "internal participant {} is not below an administration id",
                            p.id
                        ))
                    })?;
                    if role_of(parent) != Some(Role::Administration) {
                        return Err(bad(format!(
                            "internal participant {} has no administration {parent}",
                            p.id
                        )));
                    }
                }
                role if role.is_partner() => {
                    for adm in &p.registered_with {
                        if role_of(adm) != Some(Role::Administration) {
                            return Err(bad(format!(
                                "{} is registered with {adm}, which is not an administration",
                                p.id
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        for a in &document.agreements {
            if a.parties.len() < 2 {
                return Err(bad(format!(
                    "agreement {} has fewer than two parties",
                    a.id
                )));
            }
            for party in &a.parties {
                if role_of(party) != Some(Role::Administration) {
                    return Err(bad(format!(
                        "agreement {} names {party}, which is not an administration",
                        a.id
                    )));
                }
            }
        }
        let ca_certificates =
            CertificateDer::pem_slice_iter(document.ca_certificates_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("ca_certificates_pem: {e}")))?;
        if ca_certificates.is_empty() {
            return Err(bad("ca_certificates_pem holds no certificate".into()));
        }
        Ok(Self {
            document,
            participants,
            keys,
            ca_certificates,
            file_digest: [0; 32],
            signed_file: SignedFile::default(),
        })
    }

    /// The list as written.
    pub fn document(&self) -> &TrustListDocument {
        &self.document
    }

    /// The list's version.
    pub fn version(&self) -> u64 {
        self.document.version
    }

    /// SHA-256 of the file the list was read from, to tell two lists of one version apart.
    pub fn file_digest(&self) -> [u8; 32] {
        self.file_digest
    }

    /// The file and signature the list was verified from (empty for a list built in
    /// memory, as tests do).
    pub fn signed_file(&self) -> &SignedFile {
        &self.signed_file
    }

    /// The CAs whose certificates identify participants over TLS.
    pub fn ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.ca_certificates
    }

    /// A participant by id.
    pub fn participant(&self, id: &str) -> Option<&ParticipantEntry> {
        self.participants
            .get(id)
            .map(|&i| &self.document.participants[i])
    }

    /// Looks up `key_id` for `sender` at `created_at_ms`. A key of another participant is
    /// `Unknown` for this sender: a key never speaks for someone else.
    pub fn key_for(&self, sender: &str, key_id: &str, created_at_ms: i64) -> KeyLookup<'_> {
        match self.keys.get(key_id) {
            Some(k) if k.participant == sender => {
                if k.valid_at(created_at_ms) {
                    KeyLookup::Valid(k)
                } else {
                    KeyLookup::OutsideWindow(k)
                }
            }
            _ => KeyLookup::Unknown,
        }
    }

    /// Verifies that `signature` over `signing_input` is `signer`'s, made with its key
    /// `key_id` while that key was valid (§2: `at_ms` within `[not_before, not_after]`).
    /// The window is checked before the signature, as in §3, so that a signature made
    /// outside it is `KeyNotValid` whether or not it would verify.
    pub fn verify_signature(
        &self,
        signer: &str,
        key_id: &str,
        at_ms: i64,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        match self.key_for(signer, key_id, at_ms) {
            KeyLookup::Unknown => Err(SignatureError::UnknownKey),
            KeyLookup::OutsideWindow(_) => Err(SignatureError::KeyNotValid),
            KeyLookup::Valid(key) if key.key.verify(signing_input, signature) => Ok(()),
            KeyLookup::Valid(_) => Err(SignatureError::SignatureInvalid),
        }
    }

    /// The agreement between two administrations that allows `exchange`, if any.
    pub fn agreement(&self, a: &str, b: &str, exchange: Exchange) -> Option<&AgreementEntry> {
        // An agreement binds two different administrations; nobody has one with itself.
        if a == b {
            return None;
        }
        self.document.agreements.iter().find(|ag| {
            ag.exchange.contains(&exchange)
                && ag.parties.iter().any(|p| p == a)
                && ag.parties.iter().any(|p| p == b)
        })
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{file_bytes, signature_file, CA_PEM, FEDERATION, SECOND_CA_PEM};
    use super::*;
    use crate::core::crypto::{generate_ed25519_pkcs8, generate_p256_pkcs8, SigningKey};
    use std::sync::OnceLock;
    use time::macros::datetime;

    const NOT_BEFORE: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);
    const NOT_AFTER: OffsetDateTime = datetime!(2027-01-01 00:00:00 UTC);
    const NOT_BEFORE_MS: i64 = 1_767_225_600_000;
    const NOT_AFTER_MS: i64 = 1_798_761_600_000;
    const NL_KEY: &str = "adm/NL#2026-1";

    /// Keys made once for every test: generating them is the slow part.
    struct Fixture {
        operator: SigningKey,
        other_operator: SigningKey,
        /// The private halves of `ed25519_public`, to sign messages with.
        ed25519: Vec<SigningKey>,
        ed25519_public: Vec<String>,
        p256: SigningKey,
        p256_public: String,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let ed25519 = || {
                SigningKey::from_pkcs8_der(&generate_ed25519_pkcs8().expect("ed25519 key"))
                    .expect("ed25519 key loads")
            };
            let b64 =
                |k: &SigningKey| base64::engine::general_purpose::STANDARD.encode(k.public_key());
            let p256 = SigningKey::from_pkcs8_der(&generate_p256_pkcs8().expect("p256 key"))
                .expect("p256 key loads");
            let keys: Vec<SigningKey> = (0..5).map(|_| ed25519()).collect();
            Fixture {
                operator: ed25519(),
                other_operator: ed25519(),
                ed25519_public: keys.iter().map(b64).collect(),
                ed25519: keys,
                p256_public: b64(&p256),
                p256,
            }
        })
    }

    fn key(key_id: &str, algorithm: Algorithm, public_key: &str) -> KeyEntry {
        KeyEntry {
            key_id: key_id.into(),
            algorithm,
            public_key: public_key.into(),
            not_before: NOT_BEFORE,
            not_after: NOT_AFTER,
        }
    }

    fn participant(
        id: &str,
        role: Role,
        registered_with: &[&str],
        keys: Vec<KeyEntry>,
    ) -> ParticipantEntry {
        ParticipantEntry {
            id: id.into(),
            role,
            name: id.into(),
            endpoint: (role == Role::Administration).then(|| "https://127.0.0.1:7443".into()),
            registered_with: registered_with.iter().map(|s| s.to_string()).collect(),
            signing_keys: keys,
        }
    }

    /// A consistent federation: three administrations (NL and BE under an agreement for
    /// risk indicators only, DE under none), NL's risk unit, and partners of every role.
    fn good_document() -> TrustListDocument {
        let f = fixture();
        let ed = |i: usize| f.ed25519_public[i].as_str();
        TrustListDocument {
            federation: FEDERATION.into(),
            version: 3,
            issued_at: Some("2026-11-27T00:00:00Z".into()),
            ca_certificates_pem: CA_PEM.into(),
            participants: vec![
                participant(
                    "adm/NL",
                    Role::Administration,
                    &[],
                    vec![key(NL_KEY, Algorithm::Ed25519, ed(0))],
                ),
                participant(
                    "adm/BE",
                    Role::Administration,
                    &[],
                    vec![key("adm/BE#2026-1", Algorithm::Ed25519, ed(1))],
                ),
                participant("adm/DE", Role::Administration, &[], vec![]),
                participant(
                    "adm/NL/risk-unit",
                    Role::Internal,
                    &[],
                    vec![key("adm/NL/risk-unit#2026-1", Algorithm::Ed25519, ed(2))],
                ),
                participant(
                    "ptr/NL/shopco",
                    Role::Platform,
                    &["adm/NL", "adm/BE"],
                    vec![key("ptr/NL/shopco#2026-1", Algorithm::Ed25519, ed(3))],
                ),
                participant(
                    "ptr/NL/flyfast",
                    Role::Carrier,
                    &["adm/NL"],
                    vec![key(
                        "ptr/NL/flyfast#2026-1",
                        Algorithm::EcdsaP256Sha256,
                        &f.p256_public,
                    )],
                ),
                participant(
                    "ptr/BE/post",
                    Role::PostalOperator,
                    &["adm/BE"],
                    vec![key("ptr/BE/post#2026-1", Algorithm::Ed25519, ed(4))],
                ),
            ],
            agreements: vec![AgreementEntry {
                id: "mou-nl-be-2026".into(),
                parties: vec!["adm/NL".into(), "adm/BE".into()],
                exchange: vec![Exchange::RiskIndicator],
                max_tlp: TlpLevel::Amber,
                personal_data: false,
            }],
        }
    }

    fn operator_keys() -> Vec<VerifyingKey> {
        vec![fixture().operator.verifying_key()]
    }

    fn sign(bytes: &[u8]) -> String {
        signature_file(bytes, &fixture().operator)
    }

    fn verify_doc(
        document: &TrustListDocument,
        held: Option<u64>,
    ) -> Result<TrustList, TrustError> {
        let bytes = file_bytes(document);
        TrustList::verify(
            &bytes,
            sign(&bytes).as_bytes(),
            &operator_keys(),
            FEDERATION,
            held,
        )
    }

    #[track_caller]
    fn assert_inconsistent(document: &TrustListDocument, what: &str, cause: &str) {
        match verify_doc(document, None) {
            Err(TrustError::Inconsistent(msg)) => {
                assert!(
                    msg.contains(cause),
                    "{what}: {msg:?} does not say {cause:?}"
                )
            }
            other => panic!("{what}: expected Inconsistent, got {other:?}"),
        }
    }

    fn participant_mut<'a>(doc: &'a mut TrustListDocument, id: &str) -> &'a mut ParticipantEntry {
        doc.participants
            .iter_mut()
            .find(|p| p.id == id)
            .expect("participant in the good document")
    }

    #[test]
    fn good_list_verifies_and_is_indexed() {
        let document = good_document();
        let bytes = file_bytes(&document);
        let list = TrustList::verify(
            &bytes,
            sign(&bytes).as_bytes(),
            &operator_keys(),
            FEDERATION,
            None,
        )
        .expect("good list verifies");
        assert_eq!(list.version(), 3);
        assert_eq!(list.file_digest(), crate::core::envelope::sha256(&bytes));
        assert_eq!(list.ca_certificates().len(), 1);
        assert_eq!(
            list.document().participants.len(),
            document.participants.len()
        );
        for p in &document.participants {
            assert_eq!(
                list.participant(&p.id).map(|e| e.role),
                Some(p.role),
                "{}",
                p.id
            );
        }
        assert!(list.participant("adm/FR").is_none());
    }

    #[test]
    fn a_verified_list_keeps_its_exact_files_and_reads_back_as_kept() {
        let bytes = file_bytes(&good_document());
        let signature = sign(&bytes);
        let list = TrustList::verify(
            &bytes,
            signature.as_bytes(),
            &operator_keys(),
            FEDERATION,
            None,
        )
        .expect("good list verifies");
        assert_eq!(&list.signed_file().list[..], &bytes[..]);
        assert_eq!(&list.signed_file().signature[..], signature.as_bytes());
        let kept = TrustList::read_kept(&list.signed_file().list).expect("reads back");
        assert_eq!(kept.version(), list.version());
        assert_eq!(kept.file_digest(), list.file_digest());
        assert_eq!(kept.keys.len(), list.keys.len());
        assert!(matches!(
            TrustList::read_kept(b"{\"federation\": "),
            Err(TrustError::Json(_))
        ));
    }

    #[test]
    fn signature_covers_the_exact_file_bytes_not_a_reserialisation() {
        // Compact JSON with fields in another order, as another tool might write it.
        let f = fixture();
        let text = format!(
            concat!(
                r#"{{"participants":[{{"role":"administration","id":"adm/NL","signing_keys":"#,
                r#"[{{"not_after":"2027-01-01T00:00:00Z","not_before":"2026-01-01T00:00:00Z","#,
                r#""public_key":"{}","algorithm":"ed25519","key_id":"adm/NL#2026-1"}}]}}],"#,
                r#""version":7,"ca_certificates_pem":{},"federation":"wco-ecom.test"}}"#
            ),
            f.ed25519_public[0],
            serde_json::to_string(CA_PEM).expect("json string"),
        );
        let bytes = text.into_bytes();
        let list = TrustList::verify(
            &bytes,
            sign(&bytes).as_bytes(),
            &operator_keys(),
            FEDERATION,
            None,
        )
        .expect("hand-written list verifies");
        assert_eq!(list.version(), 7);
        assert_eq!(list.file_digest(), crate::core::envelope::sha256(&bytes));
        // The same document re-serialised is other bytes: the signature no longer applies.
        let reserialised = file_bytes(list.document());
        assert_ne!(reserialised, bytes);
        assert!(matches!(
            TrustList::verify(
                &reserialised,
                sign(&bytes).as_bytes(),
                &operator_keys(),
                FEDERATION,
                None
            ),
            Err(TrustError::SignatureInvalid)
        ));
    }

    #[test]
    fn wrong_operator_key_is_signature_invalid() {
        let bytes = file_bytes(&good_document());
        let signature = sign(&bytes);
        let f = fixture();
        let verify = |keys: &[VerifyingKey]| {
            TrustList::verify(&bytes, signature.as_bytes(), keys, FEDERATION, None)
        };
        assert!(matches!(
            verify(&[f.other_operator.verifying_key()]),
            Err(TrustError::SignatureInvalid)
        ));
        assert!(matches!(verify(&[]), Err(TrustError::SignatureInvalid)));
        // Operator keys are Ed25519 only: the right bytes under another algorithm do not count.
        let mislabelled = VerifyingKey {
            algorithm: Algorithm::EcdsaP256Sha256,
            public_key: f.operator.public_key(),
        };
        assert!(matches!(
            verify(&[mislabelled]),
            Err(TrustError::SignatureInvalid)
        ));
        // Any one of several configured operator keys will do (operator key rollover).
        verify(&[f.other_operator.verifying_key(), f.operator.verifying_key()])
            .expect("second operator key verifies");
        // Signed by the other operator, with only ours configured.
        let foreign = signature_file(&bytes, &f.other_operator);
        assert!(matches!(
            TrustList::verify(
                &bytes,
                foreign.as_bytes(),
                &operator_keys(),
                FEDERATION,
                None
            ),
            Err(TrustError::SignatureInvalid)
        ));
        // One changed byte of the file.
        let mut changed = bytes.clone();
        let last = changed.len() - 2;
        changed[last] ^= 0x01;
        assert!(matches!(
            TrustList::verify(
                &changed,
                signature.as_bytes(),
                &operator_keys(),
                FEDERATION,
                None
            ),
            Err(TrustError::SignatureInvalid)
        ));
    }

    #[test]
    fn malformed_signature_file_is_signature_encoding() {
        let bytes = file_bytes(&good_document());
        let verify = |signature: &[u8]| {
            TrustList::verify(&bytes, signature, &operator_keys(), FEDERATION, None)
        };
        let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
        let sixty_three = b64(&[7u8; 63]);
        let sixty_five = b64(&[7u8; 65]);
        for (what, signature) in [
            ("not base64", b"this is not base64!".as_slice()),
            ("empty", b"".as_slice()),
            ("not UTF-8", b"\xff\xfe\xfd".as_slice()),
            ("63 bytes", sixty_three.as_bytes()),
            ("65 bytes", sixty_five.as_bytes()),
        ] {
            assert!(
                matches!(verify(signature), Err(TrustError::SignatureEncoding)),
                "{what}"
            );
        }
        // A wrong but well-encoded signature is invalid, not badly encoded.
        assert!(matches!(
            verify(b64(&[7u8; 64]).as_bytes()),
            Err(TrustError::SignatureInvalid)
        ));
        // The file's trailing newline or surrounding whitespace is not part of the base64.
        let good = sign(&bytes);
        verify(format!("{good}\n").as_bytes()).expect("trailing newline");
        verify(format!("  {good}\r\n").as_bytes()).expect("surrounding whitespace");
    }

    #[test]
    fn signed_non_document_is_a_json_error() {
        for bytes in [
            &b"not json"[..],
            b"{\"federation\":\"wco-ecom.test\"}",
            b"[]",
        ] {
            assert!(
                matches!(
                    TrustList::verify(
                        bytes,
                        sign(bytes).as_bytes(),
                        &operator_keys(),
                        FEDERATION,
                        None
                    ),
                    Err(TrustError::Json(_))
                ),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn other_federation_is_refused() {
        let mut document = good_document();
        document.federation = "other.test".into();
        match verify_doc(&document, None) {
            Err(TrustError::WrongFederation { expected, found }) => {
                assert_eq!(expected, FEDERATION);
                assert_eq!(found, "other.test");
            }
            other => panic!("expected WrongFederation, got {other:?}"),
        }
        // The signature is checked before anything the document says.
        let bytes = file_bytes(&document);
        assert!(matches!(
            TrustList::verify(
                &bytes,
                sign(b"other").as_bytes(),
                &operator_keys(),
                FEDERATION,
                None
            ),
            Err(TrustError::SignatureInvalid)
        ));
    }

    #[test]
    fn lower_version_is_rollback_equal_or_higher_is_accepted() {
        let document = good_document();
        assert_eq!(document.version, 3);
        match verify_doc(&document, Some(4)) {
            Err(TrustError::Rollback { held, found }) => {
                assert_eq!((held, found), (4, 3));
            }
            other => panic!("expected Rollback, got {other:?}"),
        }
        assert!(matches!(
            verify_doc(&document, Some(u64::MAX)),
            Err(TrustError::Rollback { .. })
        ));
        for held in [None, Some(0), Some(2), Some(3)] {
            let list = verify_doc(&document, held).unwrap_or_else(|e| panic!("held {held:?}: {e}"));
            assert_eq!(list.version(), 3);
        }
    }

    #[test]
    fn inconsistent_participants_are_refused() {
        let mut doc = good_document();
        let twice = doc.participants[1].clone();
        doc.participants.push(twice);
        assert_inconsistent(&doc, "duplicate participant", "is listed twice");

        for bad_id in ["adm//NL", "adm/N L", "", "/adm/NL", "adm/NL/"] {
            let mut doc = good_document();
            participant_mut(&mut doc, "ptr/BE/post").id = bad_id.into();
            assert_inconsistent(&doc, &format!("malformed id {bad_id:?}"), "is malformed");
        }

        let mut doc = good_document();
        doc.participants
            .push(participant("adm/FR/risk-unit", Role::Internal, &[], vec![]));
        assert_inconsistent(
            &doc,
            "internal participant without its administration",
            "has no administration adm/FR",
        );

        let mut doc = good_document();
        doc.participants.push(participant(
            "ptr/NL/back-office",
            Role::Internal,
            &[],
            vec![],
        ));
        assert_inconsistent(
            &doc,
            "internal participant not below an administration id",
            "is not below an administration id",
        );

        let mut doc = good_document();
        doc.participants
            .push(participant("adm/XX", Role::Platform, &[], vec![]));
        doc.participants
            .push(participant("adm/XX/unit", Role::Internal, &[], vec![]));
        assert_inconsistent(
            &doc,
            "internal participant below a non-administration",
            "has no administration adm/XX",
        );

        for (partner, registered_with, case) in [
            (
                "ptr/NL/shopco",
                "ptr/NL/flyfast",
                "partner registered with a partner",
            ),
            (
                "ptr/NL/flyfast",
                "adm/NL/risk-unit",
                "partner registered with an internal participant",
            ),
            (
                "ptr/BE/post",
                "adm/FR",
                "partner registered with an unknown administration",
            ),
        ] {
            let mut doc = good_document();
            participant_mut(&mut doc, partner).registered_with = vec![registered_with.into()];
            assert_inconsistent(&doc, case, "which is not an administration");
        }
    }

    #[test]
    fn inconsistent_agreements_are_refused() {
        let mut doc = good_document();
        doc.agreements[0].parties.push("ptr/NL/shopco".into());
        assert_inconsistent(
            &doc,
            "agreement naming a partner",
            "names ptr/NL/shopco, which is not an administration",
        );

        for (parties, case, expected) in [
            (
                &["adm/NL", "adm/NL/risk-unit"][..],
                "agreement naming an internal participant",
                "which is not an administration",
            ),
            (
                &["adm/NL", "adm/FR"][..],
                "agreement naming an unknown administration",
                "names adm/FR, which is not an administration",
            ),
            (
                &["adm/NL"][..],
                "agreement with one party",
                "fewer than two parties",
            ),
        ] {
            let mut doc = good_document();
            doc.agreements[0].parties = parties.iter().map(|&p| p.to_owned()).collect();
            assert_inconsistent(&doc, case, expected);
        }
    }

    #[test]
    fn inconsistent_keys_are_refused() {
        let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
        fn nl_key(doc: &mut TrustListDocument) -> &mut KeyEntry {
            &mut participant_mut(doc, "adm/NL").signing_keys[0]
        }

        for (what, public_key) in [
            ("31-byte Ed25519 key", b64(&[1u8; 31])),
            ("33-byte Ed25519 key", b64(&[1u8; 33])),
            ("empty Ed25519 key", String::new()),
        ] {
            let mut doc = good_document();
            nl_key(&mut doc).public_key = public_key;
            assert_inconsistent(&doc, what, "is not a valid");
        }

        let p256 = decode_base64(&fixture().p256_public).expect("p256 key");
        let mut compressed = vec![2 + (p256[64] & 1)];
        compressed.extend_from_slice(&p256[1..33]);
        let mut off_curve = p256.clone();
        off_curve[64] ^= 0x01;
        for (what, public_key) in [
            ("compressed P-256 point", b64(&compressed)),
            ("64-byte P-256 key without the 0x04 prefix", b64(&p256[1..])),
            ("P-256 point off the curve", b64(&off_curve)),
            (
                "Ed25519 key labelled P-256",
                fixture().ed25519_public[0].clone(),
            ),
        ] {
            let mut doc = good_document();
            participant_mut(&mut doc, "ptr/NL/flyfast").signing_keys[0].public_key = public_key;
            assert_inconsistent(&doc, what, "is not a valid");
        }

        let mut doc = good_document();
        nl_key(&mut doc).algorithm = Algorithm::EcdsaP256Sha256;
        assert_inconsistent(
            &doc,
            "Ed25519 key bytes under the P-256 algorithm",
            "is not a valid ecdsa_p256_sha256 public key",
        );

        for not_base64 in ["not base64!", "AAAA====", "@@@@"] {
            let mut doc = good_document();
            nl_key(&mut doc).public_key = not_base64.into();
            assert_inconsistent(
                &doc,
                &format!("key {not_base64:?} not base64"),
                "is not base64",
            );
        }

        let mut doc = good_document();
        nl_key(&mut doc).not_after = NOT_BEFORE - time::Duration::milliseconds(1);
        assert_inconsistent(&doc, "not_after before not_before", "ends before it begins");

        // A one-instant window is allowed.
        let mut doc = good_document();
        nl_key(&mut doc).not_after = NOT_BEFORE;
        let list = verify_doc(&doc, None).expect("not_after == not_before");
        assert!(matches!(
            list.key_for("adm/NL", NL_KEY, NOT_BEFORE_MS),
            KeyLookup::Valid(_)
        ));

        let mut doc = good_document();
        let duplicate = key(NL_KEY, Algorithm::Ed25519, &fixture().ed25519_public[1]);
        participant_mut(&mut doc, "adm/BE")
            .signing_keys
            .push(duplicate);
        assert_inconsistent(
            &doc,
            "key id listed twice",
            "key id adm/NL#2026-1 is listed twice",
        );
    }

    #[test]
    fn list_without_ca_certificate_is_refused() {
        for pem in [
            "",
            "no PEM here",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let mut doc = good_document();
            doc.ca_certificates_pem = pem.into();
            assert_inconsistent(
                &doc,
                &format!("ca_certificates_pem {pem:?}"),
                "ca_certificates_pem",
            );
        }
        // Two CAs are fine.
        let mut doc = good_document();
        doc.ca_certificates_pem.push_str(SECOND_CA_PEM);
        assert_eq!(
            verify_doc(&doc, None)
                .expect("two CAs")
                .ca_certificates()
                .len(),
            2
        );
    }

    #[test]
    fn window_bounds_are_unix_milliseconds() {
        assert_eq!(unix_ms(NOT_BEFORE), NOT_BEFORE_MS);
        assert_eq!(unix_ms(NOT_AFTER), NOT_AFTER_MS);
        assert_eq!(format_ms(NOT_BEFORE_MS), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn key_for_gives_valid_outside_window_or_unknown() {
        let list = verify_doc(&good_document(), None).expect("good list");
        match list.key_for("adm/NL", NL_KEY, NOT_BEFORE_MS + 1000) {
            KeyLookup::Valid(k) => {
                assert_eq!(k.participant, "adm/NL");
                assert_eq!(k.key.algorithm, Algorithm::Ed25519);
                assert_eq!(
                    Some(k.key.public_key.clone()),
                    decode_base64(&fixture().ed25519_public[0])
                );
                assert_eq!(
                    (k.not_before_ms, k.not_after_ms),
                    (NOT_BEFORE_MS, NOT_AFTER_MS)
                );
            }
            other => panic!("expected Valid, got {other:?}"),
        }
        // Both edges are inclusive.
        for at in [NOT_BEFORE_MS, NOT_AFTER_MS] {
            assert!(
                matches!(list.key_for("adm/NL", NL_KEY, at), KeyLookup::Valid(_)),
                "{at}"
            );
        }
        for at in [
            NOT_BEFORE_MS - 1,
            NOT_AFTER_MS + 1,
            i64::MIN,
            i64::MAX,
            0,
            -1,
        ] {
            match list.key_for("adm/NL", NL_KEY, at) {
                KeyLookup::OutsideWindow(k) => assert_eq!(k.participant, "adm/NL"),
                other => panic!("{at}: expected OutsideWindow, got {other:?}"),
            }
        }
        // The P-256 key of a carrier.
        match list.key_for("ptr/NL/flyfast", "ptr/NL/flyfast#2026-1", NOT_AFTER_MS) {
            KeyLookup::Valid(k) => assert_eq!(k.key.algorithm, Algorithm::EcdsaP256Sha256),
            other => panic!("expected Valid, got {other:?}"),
        }
        // Unknown: no such key, no such participant, or another participant's key.
        for (sender, key_id) in [
            ("adm/NL", "adm/NL#2026-2"),
            ("adm/NL", ""),
            ("adm/FR", "adm/FR#2026-1"),
            ("adm/BE", NL_KEY),
            ("adm/NL/risk-unit", NL_KEY),
            ("adm/NL", "adm/NL/risk-unit#2026-1"),
            ("ptr/NL/shopco", "ptr/NL/flyfast#2026-1"),
        ] {
            assert!(
                matches!(
                    list.key_for(sender, key_id, NOT_BEFORE_MS + 1000),
                    KeyLookup::Unknown
                ),
                "{sender} / {key_id}"
            );
            // Another participant's key stays Unknown outside its window too.
            assert!(
                matches!(
                    list.key_for(sender, key_id, NOT_AFTER_MS + 1),
                    KeyLookup::Unknown
                ),
                "{sender} / {key_id} outside the window"
            );
        }
    }

    /// What the signature tests sign: any bytes will do, the list does not read them.
    const SIGNED: &[u8] = b"aedgate/v1/envelope\0a signing input";

    #[test]
    fn verify_signature_accepts_the_signers_key_anywhere_in_its_window_edges_included() {
        let list = verify_doc(&good_document(), None).expect("good list");
        let f = fixture();
        let nl = f.ed25519[0].sign(SIGNED);
        for at in [
            NOT_BEFORE_MS,
            NOT_BEFORE_MS + 1,
            NOT_BEFORE_MS + 1000,
            NOT_AFTER_MS - 1,
            NOT_AFTER_MS,
        ] {
            assert_eq!(
                list.verify_signature("adm/NL", NL_KEY, at, SIGNED, &nl),
                Ok(()),
                "{at}"
            );
        }
        // An ECDSA P-256 key of a carrier, at the last millisecond of its window.
        let flyfast = f.p256.sign(SIGNED);
        assert_eq!(
            list.verify_signature(
                "ptr/NL/flyfast",
                "ptr/NL/flyfast#2026-1",
                NOT_AFTER_MS,
                SIGNED,
                &flyfast
            ),
            Ok(())
        );
    }

    #[test]
    fn verify_signature_refuses_a_key_outside_its_window_whatever_the_signature() {
        let list = verify_doc(&good_document(), None).expect("good list");
        let nl = fixture().ed25519[0].sign(SIGNED);
        for at in [
            NOT_BEFORE_MS - 1,
            NOT_AFTER_MS + 1,
            0,
            -1,
            i64::MIN,
            i64::MAX,
        ] {
            // A good signature, a wrong one and none: the window decides first (§3's order).
            for signature in [&nl[..], &[0u8; 64][..], &[][..]] {
                assert_eq!(
                    list.verify_signature("adm/NL", NL_KEY, at, SIGNED, signature),
                    Err(SignatureError::KeyNotValid),
                    "{at}, {} signature bytes",
                    signature.len()
                );
            }
        }
    }

    #[test]
    fn verify_signature_never_widens_a_window_that_starts_or_ends_inside_a_millisecond() {
        let mut doc = good_document();
        let nl = &mut participant_mut(&mut doc, "adm/NL").signing_keys[0];
        nl.not_before = datetime!(2026-01-01 00:00:00.000_5 UTC);
        nl.not_after = datetime!(2026-12-31 23:59:59.999_5 UTC);
        let list = verify_doc(&doc, None).expect("sub-millisecond window");
        let signature = fixture().ed25519[0].sign(SIGNED);
        let at = |ms: i64| list.verify_signature("adm/NL", NL_KEY, ms, SIGNED, &signature);
        // The first and last whole milliseconds inside the window are covered...
        assert_eq!(at(NOT_BEFORE_MS + 1), Ok(()));
        assert_eq!(at(NOT_AFTER_MS - 1), Ok(()));
        // ...the ones the window only partly covers are not.
        assert_eq!(at(NOT_BEFORE_MS), Err(SignatureError::KeyNotValid));
        assert_eq!(at(NOT_AFTER_MS), Err(SignatureError::KeyNotValid));
    }

    #[test]
    fn verify_signature_knows_only_the_signers_own_keys() {
        let list = verify_doc(&good_document(), None).expect("good list");
        let f = fixture();
        let (nl, risk_unit) = (&f.ed25519[0], &f.ed25519[2]);
        for (signer, key_id, key) in [
            ("adm/NL", "adm/NL#2026-2", nl),
            ("adm/NL", "", nl),
            // Key ids are compared exactly.
            ("adm/NL", "ADM/NL#2026-1", nl),
            ("adm/NL", "adm/NL#2026-1 ", nl),
            // A signer the list does not know, with a key id of its own or one of the list's.
            ("adm/FR", "adm/FR#2026-1", nl),
            ("adm/FR", NL_KEY, nl),
            ("", NL_KEY, nl),
            // Another participant's key, with a signature its owner did make.
            ("adm/BE", NL_KEY, nl),
            ("adm/NL/risk-unit", NL_KEY, nl),
            ("adm/NL", "adm/NL/risk-unit#2026-1", risk_unit),
            ("ptr/NL/shopco", "ptr/NL/flyfast#2026-1", &f.p256),
        ] {
            let signature = key.sign(SIGNED);
            // Inside the window and outside it: the key is unknown before it is expired.
            for at in [NOT_BEFORE_MS + 1000, NOT_AFTER_MS + 1] {
                assert_eq!(
                    list.verify_signature(signer, key_id, at, SIGNED, &signature),
                    Err(SignatureError::UnknownKey),
                    "{signer:?} / {key_id:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn verify_signature_refuses_a_signature_that_does_not_verify() {
        let list = verify_doc(&good_document(), None).expect("good list");
        let f = fixture();
        let at = NOT_BEFORE_MS + 1000;
        let nl = f.ed25519[0].sign(SIGNED);
        let flyfast = f.p256.sign(SIGNED);
        let flipped = |signature: &[u8], i: usize| {
            let mut changed = signature.to_vec();
            changed[i] ^= 0x01;
            changed
        };
        let mut longer = nl.clone();
        longer.push(0);
        let mut other_input = SIGNED.to_vec();
        other_input[0] ^= 0x01;

        let nl_cases: [(&str, &[u8], Vec<u8>); 8] = [
            ("another signing input", &other_input, nl.clone()),
            ("first bit of the signature", SIGNED, flipped(&nl, 0)),
            ("last bit of the signature", SIGNED, flipped(&nl, 63)),
            ("another Ed25519 key", SIGNED, f.ed25519[1].sign(SIGNED)),
            ("a P-256 signature", SIGNED, flyfast.clone()),
            ("an empty signature", SIGNED, Vec::new()),
            ("63 bytes", SIGNED, nl[..63].to_vec()),
            ("65 bytes", SIGNED, longer),
        ];
        for (what, input, signature) in nl_cases {
            assert_eq!(
                list.verify_signature("adm/NL", NL_KEY, at, input, &signature),
                Err(SignatureError::SignatureInvalid),
                "Ed25519: {what}"
            );
        }
        let flyfast_cases: [(&str, &[u8], Vec<u8>); 4] = [
            ("another signing input", &other_input, flyfast.clone()),
            ("a bit of the signature", SIGNED, flipped(&flyfast, 40)),
            ("an Ed25519 signature", SIGNED, nl.clone()),
            ("an empty signature", SIGNED, Vec::new()),
        ];
        for (what, input, signature) in flyfast_cases {
            assert_eq!(
                list.verify_signature(
                    "ptr/NL/flyfast",
                    "ptr/NL/flyfast#2026-1",
                    at,
                    input,
                    &signature
                ),
                Err(SignatureError::SignatureInvalid),
                "P-256: {what}"
            );
        }
    }

    #[test]
    fn agreement_needs_the_exchange_and_both_parties() {
        let list = verify_doc(&good_document(), None).expect("good list");
        for (a, b) in [("adm/NL", "adm/BE"), ("adm/BE", "adm/NL")] {
            let found = list
                .agreement(a, b, Exchange::RiskIndicator)
                .unwrap_or_else(|| panic!("{a} → {b}"));
            assert_eq!(found.id, "mou-nl-be-2026");
            assert_eq!(found.max_tlp, TlpLevel::Amber);
            assert!(
                list.agreement(a, b, Exchange::ForwardedDeclaration)
                    .is_none(),
                "{a} → {b}"
            );
        }
        for (a, b) in [
            ("adm/NL", "adm/DE"),
            ("adm/DE", "adm/BE"),
            ("adm/NL", "adm/FR"),
            ("adm/NL", "ptr/NL/shopco"),
            ("adm/NL/risk-unit", "adm/BE"),
            // A party to an agreement has none with itself.
            ("adm/NL", "adm/NL"),
            ("adm/BE", "adm/BE"),
        ] {
            assert!(
                list.agreement(a, b, Exchange::RiskIndicator).is_none(),
                "{a} → {b}"
            );
        }

        // With a second agreement listing forwarded declarations, that exchange is found there.
        let mut doc = good_document();
        doc.agreements.push(AgreementEntry {
            id: "mou-nl-de".into(),
            parties: vec!["adm/DE".into(), "adm/NL".into()],
            exchange: vec![Exchange::ForwardedDeclaration, Exchange::RiskIndicator],
            max_tlp: TlpLevel::Green,
            personal_data: true,
        });
        let list = verify_doc(&doc, None).expect("two agreements");
        assert_eq!(
            list.agreement("adm/NL", "adm/DE", Exchange::ForwardedDeclaration)
                .map(|a| a.id.as_str()),
            Some("mou-nl-de")
        );
        assert_eq!(
            list.agreement("adm/BE", "adm/NL", Exchange::RiskIndicator)
                .map(|a| a.id.as_str()),
            Some("mou-nl-be-2026")
        );
        assert!(list
            .agreement("adm/BE", "adm/DE", Exchange::RiskIndicator)
            .is_none());
        assert!(list
            .agreement("adm/BE", "adm/NL", Exchange::ForwardedDeclaration)
            .is_none());
    }
}

#[cfg(test)]
mod rounding_and_self_agreement {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn key_windows_never_widen_by_rounding() {
        let t = datetime!(2026-01-01 00:00:00.000_5 UTC);
        assert_eq!(unix_ms_ceil(t), unix_ms(t) + 1);
        assert_eq!(
            unix_ms_ceil(datetime!(2026-01-01 00:00:00 UTC)),
            unix_ms(datetime!(2026-01-01 00:00:00 UTC))
        );
        // Before 1970, flooring still goes down, not towards zero.
        assert_eq!(unix_ms(datetime!(1969-12-31 23:59:59.999_5 UTC)), -1);
    }
}
