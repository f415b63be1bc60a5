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

/// A verified, indexed trust list.
#[derive(Debug)]
pub struct TrustList {
    document: TrustListDocument,
    participants: HashMap<String, usize>,
    keys: HashMap<String, TrustedKey>,
    ca_certificates: Vec<CertificateDer<'static>>,
    file_digest: [u8; 32],
}

/// Parses a key written as base64 in a configuration or the list.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// Unix milliseconds of a timestamp.
pub fn unix_ms(at: OffsetDateTime) -> i64 {
    let ms = at.unix_timestamp_nanos() / 1_000_000;
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
                    not_before_ms: unix_ms(k.not_before),
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

    /// The agreement between two administrations that allows `exchange`, if any.
    pub fn agreement(&self, a: &str, b: &str, exchange: Exchange) -> Option<&AgreementEntry> {
        self.document.agreements.iter().find(|ag| {
            ag.exchange.contains(&exchange)
                && ag.parties.iter().any(|p| p == a)
                && ag.parties.iter().any(|p| p == b)
        })
    }
}
