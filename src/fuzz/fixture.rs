//! The world the targets run in: a development federation as `aedgate pki init` writes it
//! (standard NL/BE participants, keys, certificates, configurations, revenue policy and
//! IOSS registry) in a temporary folder, with every signing key's window widened to
//! 2000–2100 and the clock fixed, so that an input behaves the same in every run: a saved
//! crash replays against a freshly generated federation, whose keys differ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use time::macros::datetime;

use crate::core::admission::{admit, AdmissionContext, Admitted, DEFAULT_MAX_PAYLOAD_BYTES};
use crate::core::crypto::{SigningKey, VerifyingKey};
use crate::core::envelope::{envelope_signing_input, seal, sha256, Draft};
use crate::core::ids::slug;
use crate::core::rejection::Rejection;
use crate::core::revenue::RevenuePolicy;
use crate::core::trust::TrustList;
use crate::pki::{GeneratedPki, PkiSpec};
use crate::proto::v1::{Envelope, MessageType, Signature};

/// The receivers' clock during fuzzing: 2026-05-28T20:26:40Z.
pub const NOW_MS: i64 = 1_780_000_000_000;
/// The message id of every envelope a payload target seals.
pub const MESSAGE_ID: &str = "0192f3a4-5b6c-7d8e-9f01-00000000f001";
/// The correlation id of every payload target that needs one.
pub const CORRELATION_ID: &str = "0192f3a4-5b6c-7d8e-9f01-00000000f000";

/// A generated federation, on disk and in memory.
pub struct Fixture {
    dir: tempfile::TempDir,
    /// What `pki init` generated (files as first written, before the windows were widened).
    pub pki: GeneratedPki,
    /// The trust list as written to disk, with widened key windows, and its signature.
    pub trust_bytes: Vec<u8>,
    /// The verified trust list.
    pub trust: TrustList,
    /// The federation operator's key, to sign mutated trust lists.
    pub operator: SigningKey,
    /// Every participant's signing key and key id.
    keys: HashMap<String, (SigningKey, String)>,
    /// adm/NL's revenue policy with its IOSS registry.
    pub policy: RevenuePolicy,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// Generates the federation and writes it to a temporary folder.
    ///
    /// # Errors
    ///
    /// A message when generating, writing or reading back a file fails.
    pub fn new() -> Result<Self, String> {
        let pki = crate::pki::generate(PkiSpec::standard()).map_err(|e| e.to_string())?;
        let mut document = pki.trust_list.clone();
        for participant in &mut document.participants {
            for key in &mut participant.signing_keys {
                key.not_before = datetime!(2000-01-01 00:00 UTC);
                key.not_after = datetime!(2100-01-01 00:00 UTC);
            }
        }
        let (trust_bytes, signature) = pki.resign(&document).map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        pki.write(dir.path(), false).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("trust-list.json"), &trust_bytes)
            .and_then(|()| std::fs::write(dir.path().join("trust-list.json.sig"), &signature))
            .map_err(|e| e.to_string())?;
        let operator =
            SigningKey::from_pem(pki.operator_key_pem.as_bytes()).map_err(|e| e.to_string())?;
        let trust = TrustList::verify(
            &trust_bytes,
            signature.as_bytes(),
            &[operator.verifying_key()],
            &pki.spec.federation,
            None,
        )
        .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for participant in &document.participants {
            let name = format!("{}.sign.key", slug(&participant.id));
            let pem = pki
                .files
                .get(&name)
                .ok_or_else(|| format!("pki init wrote no {name}"))?;
            let key = SigningKey::from_pem(pem).map_err(|e| format!("{name}: {e}"))?;
            let key_id = participant
                .signing_keys
                .first()
                .map(|k| k.key_id.clone())
                .ok_or_else(|| format!("{} has no signing key", participant.id))?;
            keys.insert(participant.id.clone(), (key, key_id));
        }
        let policy_text = String::from_utf8_lossy(pki.files.get("adm-NL.revenue.toml").ok_or(
            "pki init wrote no adm-NL.revenue.toml (the standard federation charges revenue)",
        )?)
        .into_owned();
        let registry_text = String::from_utf8_lossy(
            pki.files
                .get("ioss-registry.txt")
                .ok_or("pki init wrote no ioss-registry.txt")?,
        )
        .into_owned();
        let policy = RevenuePolicy::parse(&policy_text)
            .and_then(|p| p.with_registry(&registry_text))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            dir,
            pki,
            trust_bytes,
            trust,
            operator,
            keys,
            policy,
        })
    }

    /// The folder the federation's files are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file of the federation, by name.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file as `pki init` generated it (empty when there is no such file).
    pub fn file(&self, name: &str) -> Vec<u8> {
        self.pki.files.get(name).cloned().unwrap_or_default()
    }

    /// The operator's public key.
    pub fn operator_key(&self) -> VerifyingKey {
        self.operator.verifying_key()
    }

    /// Seals a payload as `sender` (whose key is used), created at [`NOW_MS`]. `None` for a
    /// sender without a key in the federation.
    pub fn seal(
        &self,
        sender: &str,
        recipient: &str,
        message_type: MessageType,
        correlation_id: &str,
        payload: &[u8],
    ) -> Option<Envelope> {
        let (key, key_id) = self.keys.get(sender)?;
        let draft = Draft {
            message_id: MESSAGE_ID.to_owned(),
            sender: sender.to_owned(),
            recipient: recipient.to_owned(),
            message_type: message_type as i32,
            created_at_ms: NOW_MS,
            correlation_id: correlation_id.to_owned(),
            payload: Bytes::copy_from_slice(payload),
        };
        Some(seal(draft, key, key_id))
    }

    /// Makes a (mutated) envelope's digest and signature right again, whatever else is
    /// wrong with it: the payload digest is recomputed and, when the header names a sender
    /// of the federation, the header is signed with that sender's key under its own key id.
    pub fn reseal(&self, envelope: &mut Envelope) {
        let Some(header) = envelope.header.as_mut() else {
            return;
        };
        header.payload_sha256 = Bytes::copy_from_slice(&sha256(&envelope.payload));
        if let Some((key, key_id)) = self.keys.get(&header.sender) {
            let value = key.sign(&envelope_signing_input(header));
            envelope.signature = Some(Signature {
                key_id: key_id.clone(),
                value: Bytes::from(value),
            });
        }
    }

    /// Runs §3's store-free checks as `gateway`'s service would for a client `peer`.
    pub fn admit(
        &self,
        envelope: Envelope,
        raw: Bytes,
        peer: &str,
        gateway: &str,
        max_payload_bytes: Option<usize>,
    ) -> Result<Admitted, Rejection> {
        admit(
            envelope,
            raw,
            peer,
            &AdmissionContext {
                gateway,
                trust: &self.trust,
                now_ms: NOW_MS,
                max_payload_bytes: max_payload_bytes.unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES),
            },
        )
    }
}
