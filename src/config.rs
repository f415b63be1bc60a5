//! The TOML files that start a gateway (§10) and a partner client, and the loading of what
//! they point at (keys, certificates, the trust list).
//!
//! Loading is all-or-nothing and every failure is one line naming the file and the reason,
//! because the first thing an operator sees of a misconfigured gateway is that line.

use crate::core::crypto::{Algorithm, KeyError, SigningKey, VerifyingKey};
use crate::core::ids::is_participant_id;
use crate::core::retry::RetryPolicy;
use crate::core::revenue::{PolicyError, RevenuePolicy};
use crate::core::trust::{decode_base64, TrustError, TrustList};
use crate::tls::{Identity, TlsError, TlsSettings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse or lacks a required key.
    #[error("{path}: {reason}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's one-line reason.
        reason: String,
    },
    /// A value is present but unusable.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The signing key could not be loaded.
    #[error("signing key {path}: {source}")]
    SigningKey {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: KeyError,
    },
    /// TLS material could not be loaded.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// The revenue policy (§11) or its IOSS registry was refused.
    #[error("revenue policy {path}: {source}")]
    Revenue {
        /// The policy file.
        path: PathBuf,
        /// The key and what is wrong with it.
        source: PolicyError,
    },
    /// The trust list was refused.
    #[error("trust list {path}: {source}")]
    Trust {
        /// The list file.
        path: PathBuf,
        /// The cause.
        source: TrustError,
    },
}

fn default_handshake_timeout_ms() -> u64 {
    crate::tls::DEFAULT_HANDSHAKE_TIMEOUT.as_millis() as u64
}

fn default_max_payload_bytes() -> usize {
    crate::core::admission::DEFAULT_MAX_PAYLOAD_BYTES
}

/// `[tls]`: this participant's certificate and options.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct TlsSection {
    /// PEM chain, leaf first, with the SPIFFE URI SAN.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Also offer TLS 1.2 (ECDHE + AEAD only). Off by default.
    #[serde(default)]
    pub allow_tls12: bool,
    /// Handshake deadline in milliseconds.
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// Keys this build does not know; warned about, not refused (§10 allows more keys).
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// `[signing]`: the key this participant signs with.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SigningSection {
    /// PEM PKCS#8 (v1 or v2) or SEC1 private key, Ed25519 or ECDSA P-256.
    pub key: PathBuf,
    /// Its id in the trust list.
    pub key_id: String,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// `[trust]`: how to find and verify the federation's trust list.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct TrustSection {
    /// Federation name the list must carry.
    pub federation: String,
    /// `trust-list.json`.
    pub list: PathBuf,
    /// `trust-list.json.sig`.
    pub signature: PathBuf,
    /// Base64 Ed25519 public keys of the federation operator.
    pub operator_keys: Vec<String>,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// `[limits]`: optional protective limits. The per-participant ones keep one partner from
/// starving the others (issue 15); their defaults sit far above what any real partner
/// sends (the EU's whole e-commerce flow is about 140 declarations a second on average),
/// so that only a runaway or hostile client meets them. See docs/security.md.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct LimitsSection {
    /// Largest accepted payload (§3 default 1 MiB).
    #[serde(default = "default_max_payload_bytes")]
    pub max_payload_bytes: usize,
    /// Envelopes one participant may submit per second, sustained, Submit and SubmitStream
    /// together; above it (and the burst) an envelope is refused RESOURCE_EXHAUSTED
    /// `RATE_LIMITED` with the delay after which it would be taken.
    #[serde(default = "default_envelopes_per_second")]
    pub envelopes_per_second: u32,
    /// Envelopes one participant may submit at once above the sustained rate (a partner
    /// catching up after an outage).
    #[serde(default = "default_envelope_burst")]
    pub envelope_burst: u32,
    /// Calls one participant may have open at once across all its connections (each open
    /// stream holds buffers; 20,000 idle ones cost 300 MB).
    #[serde(default = "default_streams_per_participant")]
    pub streams_per_participant: u32,
    /// TLS connections one participant may hold at once; one more is closed after the
    /// handshake.
    #[serde(default = "default_connections_per_participant")]
    pub connections_per_participant: u32,
}

/// The highest envelope rate and burst `[limits]` takes: a million a second is beyond any
/// gateway, and the rate limiter's arithmetic needs a period of at least a nanosecond.
pub const MAX_ENVELOPES_PER_SECOND: u32 = 1_000_000;

fn default_envelopes_per_second() -> u32 {
    1_000
}

fn default_envelope_burst() -> u32 {
    20_000
}

fn default_streams_per_participant() -> u32 {
    512
}

fn default_connections_per_participant() -> u32 {
    32
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            max_payload_bytes: default_max_payload_bytes(),
            envelopes_per_second: default_envelopes_per_second(),
            envelope_burst: default_envelope_burst(),
            streams_per_participant: default_streams_per_participant(),
            connections_per_participant: default_connections_per_participant(),
        }
    }
}

/// A gateway's configuration file (§10).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct GatewayFile {
    /// The administration this gateway speaks for.
    pub participant: String,
    /// `host:port` to listen on; port 0 picks a free port (reported in the ready line).
    pub listen: String,
    /// Folder of the embedded store; created if missing.
    pub data_dir: PathBuf,
    /// Server certificate.
    pub tls: TlsSection,
    /// Administration signing key.
    pub signing: SigningSection,
    /// Trust list.
    pub trust: TrustSection,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Delivery to peer administrations.
    #[serde(default)]
    pub outbox: OutboxSection,
    /// Endpoints of peer administrations that differ from the trust list's (a private
    /// network path, a test port): `"adm/BE" = "https://10.0.0.7:7444"`.
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Revenue collection (§11); without it the gateway charges nothing and runs no
    /// revenue check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<RevenueSection>,
    /// Where the store's database is; without it, SQLite in `data_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSection>,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// `[store]`: a database shared by the administration's replicas (PROTOCOL.md §13).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct StoreSection {
    /// `postgres://user@host:port/database`. Every replica of the administration names the
    /// same database and keeps its own `data_dir` (its lock and the heads it signed).
    pub url: String,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// `[revenue]`: where the administration's revenue policy is.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct RevenueSection {
    /// The policy's TOML, relative to the gateway configuration's folder.
    pub policy: PathBuf,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// Reads a revenue policy and the IOSS registry it names (relative to the policy's own
/// folder), all or nothing: at start a bad policy stops the gateway, on SIGHUP it is
/// refused and the policy in force stays.
pub fn load_revenue_policy(path: &Path) -> Result<RevenuePolicy, ConfigError> {
    let refused = |source: PolicyError| ConfigError::Revenue {
        path: path.to_path_buf(),
        source,
    };
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        refused(PolicyError {
            key: "policy".into(),
            reason: "not UTF-8".into(),
        })
    })?;
    let policy = RevenuePolicy::parse(&text).map_err(refused)?;
    let Some(registry) = policy.ioss_registry_file.clone() else {
        return Ok(policy);
    };
    let registry_path = resolve(
        path.parent().unwrap_or(Path::new(".")),
        Path::new(&registry),
    );
    let registry_text = std::fs::read(&registry_path)
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_owned()))
        .map_err(|reason| {
            refused(PolicyError {
                key: "ioss_registry".into(),
                reason: format!("cannot read {}: {reason}", registry_path.display()),
            })
        })?;
    policy.with_registry(&registry_text).map_err(refused)
}

/// `[outbox]`: how messages for peer administrations are retried (§6). Defaults: one
/// second doubling up to five minutes, half of each delay random, dead-lettered after a day.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct OutboxSection {
    /// Delay after the first failed attempt, in milliseconds.
    #[serde(default = "default_first_delay_ms")]
    pub first_delay_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// Random share of each delay, per mille (0 to 1000).
    #[serde(default = "default_jitter_per_mille")]
    pub jitter_per_mille: u32,
    /// Seconds after which an undelivered message is dead-lettered.
    #[serde(default = "default_horizon_s")]
    pub horizon_s: u64,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

fn default_first_delay_ms() -> u64 {
    1_000
}
fn default_max_delay_ms() -> u64 {
    300_000
}
fn default_jitter_per_mille() -> u32 {
    500
}
fn default_horizon_s() -> u64 {
    86_400
}

impl Default for OutboxSection {
    fn default() -> Self {
        Self {
            first_delay_ms: default_first_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            jitter_per_mille: default_jitter_per_mille(),
            horizon_s: default_horizon_s(),
            extra: BTreeMap::new(),
        }
    }
}

impl OutboxSection {
    /// The retry policy this section describes.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(self.first_delay_ms.max(1)),
            max_delay: Duration::from_millis(self.max_delay_ms.max(self.first_delay_ms).max(1)),
            jitter_per_mille: self.jitter_per_mille.min(1000),
            horizon: Duration::from_secs(self.horizon_s),
        }
    }
}

/// A partner's (or internal system's) client configuration.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct ClientFile {
    /// Who this client is.
    pub participant: String,
    /// The administration it talks to.
    pub gateway: String,
    /// `https://host:port`; defaults to the gateway's `endpoint` in the trust list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Client certificate.
    pub tls: TlsSection,
    /// Signing key.
    pub signing: SigningSection,
    /// Trust list.
    pub trust: TrustSection,
    /// Keys this build does not know.
    #[serde(flatten, skip_serializing)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// Paths in a configuration are relative to the file's folder unless absolute.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Toml {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Toml {
        path: path.to_path_buf(),
        reason: e
            .to_string()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    })
}

fn warn_unknown(path: &Path, section: &str, extra: &BTreeMap<String, toml::Value>) {
    for key in extra.keys() {
        tracing::warn!(file = %path.display(), "unknown key {section}{key} ignored");
    }
}

/// Everything a trust list needs to be verified, resolved against the config's folder.
#[derive(Clone, Debug)]
pub struct TrustSource {
    /// Federation name.
    pub federation: String,
    /// List file.
    pub list: PathBuf,
    /// Signature file.
    pub signature: PathBuf,
    /// Operator keys.
    pub operator_keys: Vec<VerifyingKey>,
}

impl TrustSource {
    fn from_section(section: &TrustSection, base: &Path, file: &Path) -> Result<Self, ConfigError> {
        let mut operator_keys = Vec::new();
        for text in &section.operator_keys {
            let key = VerifyingKey {
                algorithm: Algorithm::Ed25519,
                public_key: decode_base64(text).unwrap_or_default(),
            };
            if !key.is_well_formed() {
                return Err(ConfigError::Invalid {
                    path: file.to_path_buf(),
                    key: "trust.operator_keys",
                    reason: format!("{text:?} is not a base64 Ed25519 public key"),
                });
            }
            operator_keys.push(key);
        }
        if operator_keys.is_empty() {
            return Err(ConfigError::Invalid {
                path: file.to_path_buf(),
                key: "trust.operator_keys",
                reason: "at least one operator key is required".into(),
            });
        }
        Ok(Self {
            federation: section.federation.clone(),
            list: resolve(base, &section.list),
            signature: resolve(base, &section.signature),
            operator_keys,
        })
    }

    /// Reads and verifies the list; `held_version` refuses rollbacks.
    pub fn load(&self, held_version: Option<u64>) -> Result<TrustList, ConfigError> {
        let list = read(&self.list)?;
        let signature = read(&self.signature)?;
        TrustList::verify(
            &list,
            &signature,
            &self.operator_keys,
            &self.federation,
            held_version,
        )
        .map_err(|source| ConfigError::Trust {
            path: self.list.clone(),
            source,
        })
    }
}

/// Where a participant's own TLS identity lives, kept so that it can be reloaded.
#[derive(Clone, Debug)]
pub struct IdentitySource {
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file.
    pub key: PathBuf,
}

impl IdentitySource {
    /// Loads the chain and key.
    pub fn load(&self) -> Result<Identity, ConfigError> {
        Ok(Identity::load(&self.cert, &self.key)?)
    }
}

pub use crate::core::crypto::Signer;

fn load_signer(section: &SigningSection, base: &Path) -> Result<Signer, ConfigError> {
    let path = resolve(base, &section.key);
    let key = SigningKey::from_pem(&read(&path)?)
        .map_err(|source| ConfigError::SigningKey { path, source })?;
    Ok(Signer {
        key,
        key_id: section.key_id.clone(),
    })
}

fn tls_settings(section: &TlsSection) -> TlsSettings {
    TlsSettings {
        allow_tls12: section.allow_tls12,
        handshake_timeout: Duration::from_millis(section.handshake_timeout_ms.max(1)),
    }
}

/// A loaded gateway configuration: every file read and verified.
#[derive(Debug)]
pub struct GatewayConfig {
    /// The administration.
    pub participant: String,
    /// Listen address as written.
    pub listen: String,
    /// Store folder, resolved.
    pub data_dir: PathBuf,
    /// TLS identity files (reloaded on SIGHUP).
    pub identity_source: IdentitySource,
    /// The TLS identity as loaded.
    pub identity: Identity,
    /// TLS options.
    pub tls: TlsSettings,
    /// Administration signing key.
    pub signer: Signer,
    /// Trust list files (reloaded on SIGHUP).
    pub trust_source: TrustSource,
    /// The trust list as loaded.
    pub trust: TrustList,
    /// Limits.
    pub limits: LimitsSection,
    /// Retries of deliveries to peer administrations.
    pub outbox: RetryPolicy,
    /// Peer endpoints that override the trust list's.
    pub peer_endpoints: BTreeMap<String, String>,
    /// The shared PostgreSQL database (`[store] url`), or `None` for SQLite in `data_dir`.
    pub store_url: Option<String>,
    /// The revenue policy file (re-read on SIGHUP), if the gateway charges.
    pub revenue_source: Option<PathBuf>,
    /// The revenue policy as loaded.
    pub revenue: Option<Arc<RevenuePolicy>>,
}

impl GatewayConfig {
    /// Reads the file and everything it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file: GatewayFile = parse_toml(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        warn_unknown(path, "", &file.extra);
        warn_unknown(path, "tls.", &file.tls.extra);
        warn_unknown(path, "signing.", &file.signing.extra);
        warn_unknown(path, "trust.", &file.trust.extra);
        warn_unknown(path, "outbox.", &file.outbox.extra);
        if let Some(revenue) = &file.revenue {
            warn_unknown(path, "revenue.", &revenue.extra);
        }
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        };
        if !is_participant_id(&file.participant) {
            return Err(invalid(
                "participant",
                format!("{:?} is not a participant id", file.participant),
            ));
        }
        let limits = &file.limits;
        for (key, value) in [
            ("limits.max_payload_bytes", limits.max_payload_bytes as u64),
            (
                "limits.envelopes_per_second",
                u64::from(limits.envelopes_per_second),
            ),
            ("limits.envelope_burst", u64::from(limits.envelope_burst)),
            (
                "limits.streams_per_participant",
                u64::from(limits.streams_per_participant),
            ),
            (
                "limits.connections_per_participant",
                u64::from(limits.connections_per_participant),
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive".into()));
            }
        }
        for (key, value) in [
            ("limits.envelopes_per_second", limits.envelopes_per_second),
            ("limits.envelope_burst", limits.envelope_burst),
        ] {
            if value > MAX_ENVELOPES_PER_SECOND {
                return Err(invalid(key, format!("at most {MAX_ENVELOPES_PER_SECOND}")));
            }
        }
        let trust_source = TrustSource::from_section(&file.trust, base, path)?;
        let trust = trust_source.load(None)?;
        match trust.participant(&file.participant) {
            Some(p) if p.role == crate::core::trust::Role::Administration => {}
            Some(p) => {
                return Err(invalid(
                    "participant",
                    format!(
                        "{} is a {} in the trust list, not an administration",
                        p.id,
                        p.role.as_str()
                    ),
                ))
            }
            None => {
                return Err(invalid(
                    "participant",
                    format!("{} is not in the trust list", file.participant),
                ))
            }
        }
        let signer = load_signer(&file.signing, base)?;
        match trust.key_for(&file.participant, &signer.key_id, crate::clock::now_ms()) {
            crate::core::trust::KeyLookup::Valid(k) if k.key == signer.key.verifying_key() => {}
            crate::core::trust::KeyLookup::Valid(_) => {
                return Err(invalid(
                    "signing.key",
                    format!(
                        "does not match the public key of {} in the trust list",
                        signer.key_id
                    ),
                ))
            }
            crate::core::trust::KeyLookup::OutsideWindow(_) => {
                return Err(invalid(
                    "signing.key_id",
                    format!("{} is not valid now", signer.key_id),
                ))
            }
            crate::core::trust::KeyLookup::Unknown => {
                return Err(invalid(
                    "signing.key_id",
                    format!(
                        "{} is not a key of {} in the trust list",
                        signer.key_id, file.participant
                    ),
                ))
            }
        }
        let identity_source = IdentitySource {
            cert: resolve(base, &file.tls.cert),
            key: resolve(base, &file.tls.key),
        };
        let identity = identity_source.load()?;
        let tls = tls_settings(&file.tls);
        let store_url = match &file.store {
            Some(store) => {
                warn_unknown(path, "store.", &store.extra);
                if !crate::store::is_postgres_url(&store.url) {
                    return Err(invalid(
                        "store.url",
                        "must be a postgres:// URL (without [store], the store is SQLite in \
                         data_dir)"
                            .to_owned(),
                    ));
                }
                Some(store.url.clone())
            }
            None => None,
        };
        let revenue_source = file.revenue.as_ref().map(|r| resolve(base, &r.policy));
        let revenue = match &revenue_source {
            Some(policy) => Some(Arc::new(load_revenue_policy(policy)?)),
            None => None,
        };
        // Refuse a server certificate that would identify the gateway as someone else.
        let id = crate::tls::spiffe_participant(&identity.chain[0], &trust_source.federation)?;
        if id != file.participant {
            return Err(invalid(
                "tls.cert",
                format!("certificate names {id}, not {}", file.participant),
            ));
        }
        Ok(Self {
            participant: file.participant,
            listen: file.listen,
            data_dir: resolve(base, &file.data_dir),
            identity_source,
            identity,
            tls,
            signer,
            trust_source,
            trust,
            limits: file.limits,
            outbox: file.outbox.policy(),
            peer_endpoints: file.peers,
            store_url,
            revenue_source,
            revenue,
        })
    }
}

/// A loaded client configuration.
#[derive(Debug)]
pub struct ClientConfig {
    /// Who this client is.
    pub participant: String,
    /// The administration it talks to.
    pub gateway: String,
    /// `https://host:port` of that administration.
    pub endpoint: String,
    /// TLS identity.
    pub identity: Identity,
    /// TLS options.
    pub tls: TlsSettings,
    /// Signing key.
    pub signer: Signer,
    /// Trust list source.
    pub trust_source: TrustSource,
    /// The trust list as loaded.
    pub trust: TrustList,
}

impl ClientConfig {
    /// Reads the file and everything it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file: ClientFile = parse_toml(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        warn_unknown(path, "", &file.extra);
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        };
        let trust_source = TrustSource::from_section(&file.trust, base, path)?;
        let trust = trust_source.load(None)?;
        let endpoint = match file.endpoint.clone() {
            Some(e) => e,
            None => trust
                .participant(&file.gateway)
                .and_then(|p| p.endpoint.clone())
                .ok_or_else(|| {
                    invalid(
                        "gateway",
                        format!("{} has no endpoint in the trust list", file.gateway),
                    )
                })?,
        };
        let identity = IdentitySource {
            cert: resolve(base, &file.tls.cert),
            key: resolve(base, &file.tls.key),
        }
        .load()?;
        Ok(Self {
            participant: file.participant,
            gateway: file.gateway,
            endpoint,
            identity,
            tls: tls_settings(&file.tls),
            signer: load_signer(&file.signing, base)?,
            trust_source,
            trust,
        })
    }
}
