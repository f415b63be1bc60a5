//! Signing and verification keys for the two algorithms of §2, behind one type each, so
//! that the envelope, receipt, tree-head and trust-list code never branches on algorithm.
//!
//! Keys arrive from many PKIs: this tool's own, OpenSSL, national ones. PKCS#8 v1 and v2
//! and SEC1 EC keys are all accepted; ring does the cryptography, p256 only normalises EC
//! key encodings that ring does not parse (SEC1, PKCS#8 without the public key).

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A signature algorithm of the trust list (`algorithm` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// Ed25519 over the signing input; 32-byte public keys, 64-byte signatures.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA P-256 with SHA-256; 65-byte uncompressed SEC1 public keys, fixed 64-byte r‖s.
    #[serde(rename = "ecdsa_p256_sha256")]
    EcdsaP256Sha256,
}

impl Algorithm {
    /// The trust list's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa_p256_sha256",
        }
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text holds no PEM private key block that could be read.
    #[error("no PEM private key found ({0})")]
    NoPem(String),
    /// The key is of an algorithm the contract does not use (RSA, P-384, ...).
    #[error("unsupported private key: only Ed25519 and ECDSA P-256 keys can sign")]
    Unsupported,
    /// The key bytes are damaged.
    #[error("private key rejected: {0}")]
    Rejected(String),
}

/// A private key that signs envelopes, receipts and tree heads.
pub struct SigningKey {
    inner: SigningKeyInner,
    rng: SystemRandom,
}

enum SigningKeyInner {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.algorithm().as_str())
    }
}

impl SigningKey {
    /// Reads the first private key of a PEM text: `PRIVATE KEY` (PKCS#8 v1 or v2) or
    /// `EC PRIVATE KEY` (SEC1).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| KeyError::NoPem(e.to_string()))?;
        match der {
            PrivateKeyDer::Pkcs8(pkcs8) => Self::from_pkcs8_der(pkcs8.secret_pkcs8_der()),
            PrivateKeyDer::Sec1(sec1) => {
                let secret = p256::SecretKey::from_sec1_der(sec1.secret_sec1_der())
                    .map_err(|_| KeyError::Unsupported)?;
                Self::from_p256_secret(&secret)
            }
            _ => Err(KeyError::Unsupported),
        }
    }

    /// Reads a PKCS#8 (v1 or v2) DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(Self::wrap(SigningKeyInner::Ed25519(pair)));
        }
        use p256::pkcs8::DecodePrivateKey;
        match p256::SecretKey::from_pkcs8_der(der) {
            Ok(secret) => Self::from_p256_secret(&secret),
            Err(_) => Err(KeyError::Unsupported),
        }
    }

    /// An Ed25519 key from its 32-byte seed (test vectors, deterministic fixtures).
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|pair| Self::wrap(SigningKeyInner::Ed25519(pair)))
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    fn from_p256_secret(secret: &p256::SecretKey) -> Result<Self, KeyError> {
        let public = secret.public_key();
        let public_sec1 = p256::EncodedPoint::from(public).to_bytes().to_vec();
        let private = secret.to_bytes();
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &private[..],
            &public_sec1,
            &rng,
        )
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self::wrap(SigningKeyInner::EcdsaP256(pair)))
    }

    fn wrap(inner: SigningKeyInner) -> Self {
        Self {
            inner,
            rng: SystemRandom::new(),
        }
    }

    /// The algorithm, as the trust list names it.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            SigningKeyInner::Ed25519(_) => Algorithm::Ed25519,
            SigningKeyInner::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
        }
    }

    /// The public key in the trust list's encoding (32 raw bytes or 65-byte SEC1 point).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.inner {
            SigningKeyInner::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            SigningKeyInner::EcdsaP256(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The matching verification key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            algorithm: self.algorithm(),
            public_key: self.public_key(),
        }
    }

    /// Signs `message` (a signing input, never a pre-hashed digest): Ed25519 directly,
    /// ECDSA with SHA-256 giving a fixed-width 64-byte r‖s.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            SigningKeyInner::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            // ring fails here only when the system random source fails, which leaves no
            // safe way to sign at all; an empty signature is then refused by every verifier.
            SigningKeyInner::EcdsaP256(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }
}

/// A participant's own signing key with the id the trust list knows it by: what every
/// signature this participant makes needs.
pub struct Signer {
    /// The key.
    pub key: SigningKey,
    /// Its id in the trust list.
    pub key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.key_id)
    }
}

/// A public key from the trust list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    /// Which verification to run.
    pub algorithm: Algorithm,
    /// 32 raw bytes (Ed25519) or a 65-byte uncompressed SEC1 point (P-256).
    pub public_key: Vec<u8>,
}

impl VerifyingKey {
    /// Whether the key has the length its algorithm requires, so that a malformed trust
    /// list is refused when loaded rather than failing every verification later.
    pub fn is_well_formed(&self) -> bool {
        match self.algorithm {
            Algorithm::Ed25519 => self.public_key.len() == 32,
            Algorithm::EcdsaP256Sha256 => {
                self.public_key.len() == 65
                    && self.public_key[0] == 4
                    && p256::PublicKey::from_sec1_bytes(&self.public_key).is_ok()
            }
        }
    }

    /// Whether `signature` is this key's signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::Ed25519 => &signature::ED25519,
            Algorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_FIXED,
        };
        UnparsedPublicKey::new(alg, &self.public_key)
            .verify(message, signature)
            .is_ok()
    }
}

/// A fresh Ed25519 key as PKCS#8 v2 DER, for the development PKI.
pub fn generate_ed25519_pkcs8() -> Result<Vec<u8>, KeyError> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|e| KeyError::Rejected(e.to_string()))
}

/// A fresh ECDSA P-256 key as PKCS#8 DER, for the development PKI.
pub fn generate_p256_pkcs8() -> Result<Vec<u8>, KeyError> {
    EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .map(|doc| doc.as_ref().to_vec())
    .map_err(|e| KeyError::Rejected(e.to_string()))
}

/// Wraps PKCS#8 DER in a PEM `PRIVATE KEY` block.
pub fn pkcs8_to_pem(der: &[u8]) -> String {
    pem_block("PRIVATE KEY", der)
}

/// Writes one PEM block with 64-character lines.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem() {
        for der in [
            generate_ed25519_pkcs8().unwrap(),
            generate_p256_pkcs8().unwrap(),
        ] {
            let key = SigningKey::from_pem(pkcs8_to_pem(&der).as_bytes()).unwrap();
            let sig = key.sign(b"hello");
            assert!(key.verifying_key().verify(b"hello", &sig));
            assert!(!key.verifying_key().verify(b"hellO", &sig));
            assert!(key.verifying_key().is_well_formed());
        }
    }

    #[test]
    fn non_keys_are_refused_with_a_reason() {
        assert!(matches!(
            SigningKey::from_pem(b"nothing here"),
            Err(KeyError::NoPem(_))
        ));
        let junk = pem_block("PRIVATE KEY", b"\x30\x03\x02\x01\x00");
        assert!(SigningKey::from_pem(junk.as_bytes()).is_err());
    }
}
