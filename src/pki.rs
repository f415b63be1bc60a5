//! `aedgate pki init`: a complete development federation in one folder — CA, TLS
//! certificates with SPIFFE SANs, signing keys, operator key, signed trust list and ready
//! configuration files — so that a demo, a test or a new integrator needs no OpenSSL steps.
//!
//! Nothing here is special to aedgate's own keys: the files are ordinary PEM (PKCS#8 keys,
//! X.509 certificates), and keys and certificates made by any other tool work the same way.

use crate::config::{
    ClientFile, GatewayFile, LimitsSection, OutboxSection, RevenueSection, SigningSection,
    StoreSection, TlsSection, TrustSection,
};
use crate::core::crypto::{
    generate_ed25519_pkcs8, generate_p256_pkcs8, pkcs8_to_pem, Algorithm, KeyError, SigningKey,
};
use crate::core::envelope::trust_list_signing_input;
use crate::core::ids::{is_participant_id, slug};
use crate::core::trust::{
    AgreementEntry, Exchange, KeyEntry, ParticipantEntry, Role, TlpLevel, TrustListDocument,
};
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Why a PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The participants or agreements asked for are not a valid federation.
    #[error("{0}")]
    Spec(String),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing the files failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder already holds a federation.
    #[error("{0} already holds a trust list; pass --force to overwrite it")]
    Exists(PathBuf),
}

/// One participant to create.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct ParticipantSpec {
    /// Participant id.
    pub id: String,
    /// Role.
    pub role: Role,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// For partners: administrations they are registered with.
    #[serde(default)]
    pub registered_with: Vec<String>,
    /// Signing algorithm (Ed25519 unless asked otherwise).
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// For administrations: the port its gateway listens on.
    #[serde(default)]
    pub port: Option<u16>,
}

fn default_algorithm() -> Algorithm {
    Algorithm::Ed25519
}

fn default_federation() -> String {
    "wco-ecom.test".into()
}

fn default_host() -> String {
    "127.0.0.1".into()
}

/// What federation to create (the `--spec` file's format, TOML).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct PkiSpec {
    /// Federation name, in SPIFFE ids and the trust list.
    #[serde(default = "default_federation")]
    pub federation: String,
    /// Host (IP or DNS name) gateways listen on and clients dial.
    #[serde(default = "default_host")]
    pub host: String,
    /// Participants.
    #[serde(default, rename = "participant")]
    pub participants: Vec<ParticipantSpec>,
    /// Agreements.
    #[serde(default, rename = "agreement")]
    pub agreements: Vec<AgreementEntry>,
    /// Whether each administration's gateway gets a revenue policy (§11) and the IOSS
    /// registry. On unless a spec says `revenue = false`: since July 2026 an EU gateway
    /// that charges nothing is not a realistic one.
    #[serde(default = "default_revenue")]
    pub revenue: bool,
    /// Replicas per administration (PROTOCOL.md §13): with 2 or more, each administration
    /// gets that many gateway configurations on one shared PostgreSQL database
    /// (`store_url`), each with a signing key of its own, all in the trust list.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// The database replicas share (`[store] url`); used only with `replicas` of 2 or more.
    #[serde(default = "default_store_url")]
    pub store_url: String,
}

fn default_revenue() -> bool {
    true
}

fn default_replicas() -> u32 {
    1
}

/// The development machines' PostgreSQL, one database for the federation's replicas.
pub const DEFAULT_STORE_URL: &str = "postgres://postgres@127.0.0.1:5432/aedgate";

fn default_store_url() -> String {
    DEFAULT_STORE_URL.to_owned()
}

/// How far apart the listen ports of one administration's replicas are: replica i of an
/// administration listening on port P listens on P + (i - 1) × this.
pub const REPLICA_PORT_STEP: u16 = 100;

/// Most replicas `pki init` writes per administration.
pub const MAX_REPLICAS: u32 = 16;

/// The IOSS registry of the development federation: the demo's and the tests' numbers.
const IOSS_REGISTRY: &str = "\
# IOSS numbers registered in the (development) IOSS registry, one per line (§11).
# A number not listed here is refused IOSS: its VAT is charged at the border (check R1).
IM5280001234  # ShopCo B.V. (NL), platform
IM0560004321  # Demo marketplace (BE)
IM3720000077  # Emerald Goods Ltd (IE), vendor
";

/// A revenue policy for an administration's country: the EU's flat duty and threshold,
/// the country's own VAT rates (NL 21 % with 9 % for books and medicines, BE 21 % with
/// 6 %), a national handling fee, and rates for the currencies the demo's goods are priced
/// in. Rates are illustrative, not official: an administration writes its own.
fn revenue_policy_toml(country: &str) -> String {
    let (name, vat, reduced, fee) = match country {
        "NL" => ("the Netherlands", 210, 90, 200),
        "BE" => ("Belgium", 210, 60, 200),
        _ => ("this administration", 200, 50, 200),
    };
    format!(
        "\
# Revenue policy of {name} (PROTOCOL.md §11). Amounts in euro cents, rates per mille.
# Re-read with the trust list on SIGHUP; a bad file is refused and the old policy stays.
currency = \"EUR\"
low_value_threshold = 15000          # EUR 150: at or below, flat duty per item category
flat_duty_per_category = 300         # EUR 3 per item category (Council Regulation (EU) 2026/382)
duty_rate = 40                       # above the threshold: 4.0 % standing in for the tariff
handling_fee = {fee}                       # national handling fee per low-value consignment
vat_rate = {vat}                         # standard import VAT
# Reduced VAT: printed books and newspapers (4901, 4902), medicines (3004).
reduced_vat = [ {{ hs_prefixes = [\"4901\", \"4902\", \"3004\"], rate = {reduced} }} ]
# Euro cents per minor unit (cent, fen, yen...) of each currency the goods are priced in.
exchange_rates = {{ USD = \"0.92\", GBP = \"1.17\", CNY = \"0.13\", HKD = \"0.118\", JPY = \"0.61\", CHF = \"1.04\", TRY = \"0.027\" }}
ioss_registry = \"ioss-registry.txt\"
tax_tolerance = 50                   # EUR 0.50 between VAT collected at sale and VAT due
undervaluation = 300                 # an item 30 % below its listed price is asked about
splitting_window_h = 24              # one buyer and seller's parcels within a day count together
"
    )
}

impl PkiSpec {
    /// The federation the demo and the tests use: two administrations under an agreement,
    /// their risk units, a marketplace registered with both, and a carrier and a postal
    /// operator registered with one each (the carrier signing with ECDSA P-256).
    pub fn standard() -> Self {
        let admin = |id: &str, name: &str, port: u16| ParticipantSpec {
            id: id.into(),
            role: Role::Administration,
            name: name.into(),
            registered_with: vec![],
            algorithm: Algorithm::Ed25519,
            port: Some(port),
        };
        let other =
            |id: &str, role: Role, name: &str, registered: &[&str], algorithm: Algorithm| {
                ParticipantSpec {
                    id: id.into(),
                    role,
                    name: name.into(),
                    registered_with: registered.iter().map(|s| s.to_string()).collect(),
                    algorithm,
                    port: None,
                }
            };
        Self {
            federation: default_federation(),
            host: default_host(),
            participants: vec![
                admin("adm/NL", "Douane Nederland", 7443),
                admin("adm/BE", "Douane belge / Belgische Douane", 7444),
                other(
                    "adm/NL/risk-unit",
                    Role::Internal,
                    "Douane NL Landelijk Risicocentrum",
                    &[],
                    Algorithm::Ed25519,
                ),
                other(
                    "adm/BE/risk-unit",
                    Role::Internal,
                    "Douane BE Risk Unit",
                    &[],
                    Algorithm::Ed25519,
                ),
                other(
                    "ptr/NL/shopco",
                    Role::Platform,
                    "ShopCo B.V.",
                    &["adm/NL", "adm/BE"],
                    Algorithm::Ed25519,
                ),
                other(
                    "ptr/NL/flyfast",
                    Role::Carrier,
                    "FlyFast Express B.V.",
                    &["adm/NL"],
                    Algorithm::EcdsaP256Sha256,
                ),
                other(
                    "ptr/BE/bpost-demo",
                    Role::PostalOperator,
                    "Demo Post BE",
                    &["adm/BE"],
                    Algorithm::Ed25519,
                ),
            ],
            agreements: vec![AgreementEntry {
                id: "mou-nl-be-2026".into(),
                parties: vec!["adm/NL".into(), "adm/BE".into()],
                exchange: vec![Exchange::RiskIndicator, Exchange::ForwardedDeclaration],
                max_tlp: TlpLevel::Amber,
                personal_data: false,
            }],
            revenue: true,
            replicas: 1,
            store_url: default_store_url(),
        }
    }

    fn check(&self) -> Result<(), PkiError> {
        let spec_err = |m: String| Err(PkiError::Spec(m));
        let mut seen = std::collections::HashSet::new();
        for p in &self.participants {
            if !is_participant_id(&p.id) {
                return spec_err(format!(
                    "{:?} is not a participant id (segments of [A-Za-z0-9._-] joined by /)",
                    p.id
                ));
            }
            if !seen.insert(p.id.as_str()) {
                return spec_err(format!("{} is listed twice", p.id));
            }
        }
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return spec_err(format!(
                "replicas must be 1 to {MAX_REPLICAS}, not {}",
                self.replicas
            ));
        }
        if self.replicas > 1 && !crate::store::is_postgres_url(&self.store_url) {
            return spec_err(format!(
                "replicas share a PostgreSQL database: store_url {:?} is not a postgres:// URL",
                self.store_url
            ));
        }
        if !self
            .participants
            .iter()
            .any(|p| p.role == Role::Administration)
        {
            return spec_err("a federation needs at least one administration".into());
        }
        Ok(())
    }
}

/// A certificate authority that can issue more certificates (tests use this to make
/// certificates from foreign CAs or without SANs).
pub struct CertificateAuthority {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// Leaf certificate.
    pub cert_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(days);
}

impl CertificateAuthority {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "aedgate development PKI");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, 3650);
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Self {
            params,
            key,
            cert_pem,
        })
    }

    /// Issues a certificate for TLS client and server use. `spiffe` is the full URI SAN
    /// (or `None` for a certificate without one); `dns` and `ips` are added for servers.
    pub fn issue(
        &self,
        common_name: &str,
        spiffe: Option<&str>,
        dns: &[String],
        ips: &[IpAddr],
    ) -> Result<IssuedCertificate, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        let mut sans = Vec::new();
        if let Some(uri) = spiffe {
            sans.push(SanType::URI(uri.try_into()?));
        }
        for name in dns {
            sans.push(SanType::DnsName(name.as_str().try_into()?));
        }
        for ip in ips {
            sans.push(SanType::IpAddress(*ip));
        }
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 397);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The SPIFFE URI of a participant.
pub fn spiffe_uri(federation: &str, participant: &str) -> String {
    format!("spiffe://{federation}/{participant}")
}

/// Signs trust-list bytes with the operator key: the `.sig` file's content.
pub fn sign_trust_list(file_bytes: &[u8], operator: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(operator.sign(&trust_list_signing_input(file_bytes)))
}

/// Serialises a trust-list document the way `pki init` writes it.
pub fn trust_list_bytes(document: &TrustListDocument) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(document).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A federation made in memory; [`GeneratedPki::write`] puts it in a folder.
pub struct GeneratedPki {
    /// The request it was made from.
    pub spec: PkiSpec,
    /// The federation CA.
    pub ca: CertificateAuthority,
    /// Operator key, PKCS#8 PEM.
    pub operator_key_pem: String,
    /// Operator public key, base64.
    pub operator_public_base64: String,
    /// The trust list.
    pub trust_list: TrustListDocument,
    /// Files to write, by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for GeneratedPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedPki")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn toml_text<T: serde::Serialize>(header: &str, value: &T) -> Vec<u8> {
    let body = toml::to_string_pretty(value).unwrap_or_default();
    format!("{header}\n{body}").into_bytes()
}

/// The configurations of an administration's replicas 1..=N, from its single gateway's
/// `file`: each with its own data folder, listen port and signing key, all on the shared
/// database.
fn replica_files(
    file: &GatewayFile,
    entry: &ParticipantEntry,
    spec: &PkiSpec,
) -> Result<Vec<(u32, GatewayFile)>, PkiError> {
    let s = slug(&entry.id);
    let (host, port) = match file.listen.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().unwrap_or(7443)),
        None => (file.listen.as_str(), 7443),
    };
    let mut replicas = Vec::new();
    for replica in 1..=spec.replicas {
        let offset = u16::try_from(replica - 1)
            .ok()
            .and_then(|i| i.checked_mul(REPLICA_PORT_STEP))
            .and_then(|step| port.checked_add(step))
            .ok_or_else(|| {
                PkiError::Spec(format!(
                    "{}: port {port} leaves no room for {} replicas {REPLICA_PORT_STEP} ports apart",
                    entry.id, spec.replicas
                ))
            })?;
        let key = entry
            .signing_keys
            .get(replica as usize - 1)
            .map(|k| k.key_id.clone())
            .unwrap_or_default();
        let mut config = file.clone();
        config.listen = format!("{host}:{offset}");
        config.data_dir = format!("data/{s}-replica-{replica}").into();
        config.store = Some(StoreSection {
            url: spec.store_url.clone(),
            extra: BTreeMap::new(),
        });
        if replica > 1 {
            config.signing = SigningSection {
                key: format!("{s}.replica-{replica}.sign.key").into(),
                key_id: key,
                extra: BTreeMap::new(),
            };
        }
        replicas.push((replica, config));
    }
    Ok(replicas)
}

/// Makes every file of a federation in memory.
pub fn generate(spec: PkiSpec) -> Result<GeneratedPki, PkiError> {
    spec.check()?;
    let ca = CertificateAuthority::new(&format!("{} federation CA", spec.federation))?;
    let operator_pkcs8 = generate_ed25519_pkcs8()?;
    let operator = SigningKey::from_pkcs8_der(&operator_pkcs8)?;
    let operator_public_base64 =
        base64::engine::general_purpose::STANDARD.encode(operator.public_key());
    let mut files = BTreeMap::new();
    let now = OffsetDateTime::now_utc();
    let not_before = now.replace_time(time::Time::MIDNIGHT) - Duration::days(1);
    let not_after = not_before + Duration::days(366);
    let key_label = now.year();
    let host_ips: Vec<IpAddr> = spec.host.parse::<IpAddr>().into_iter().collect();
    let mut dns = vec!["localhost".to_string()];
    if host_ips.is_empty() {
        dns.push(spec.host.clone());
    }

    let mut participants = Vec::new();
    let mut next_port = 7443u16;
    for p in &spec.participants {
        let s = slug(&p.id);
        let signing_pkcs8 = match p.algorithm {
            Algorithm::Ed25519 => generate_ed25519_pkcs8()?,
            Algorithm::EcdsaP256Sha256 => generate_p256_pkcs8()?,
        };
        let signing = SigningKey::from_pkcs8_der(&signing_pkcs8)?;
        files.insert(
            format!("{s}.sign.key"),
            pkcs8_to_pem(&signing_pkcs8).into_bytes(),
        );
        let key_id = format!("{}#{key_label}-1", p.id);
        let is_admin = p.role == Role::Administration;
        let (server_dns, server_ips) = if is_admin {
            (dns.clone(), host_ips.clone())
        } else {
            (vec![], vec![])
        };
        let issued = ca.issue(
            &p.id,
            Some(&spiffe_uri(&spec.federation, &p.id)),
            &server_dns,
            &server_ips,
        )?;
        files.insert(format!("{s}.tls.crt"), issued.cert_pem.into_bytes());
        files.insert(format!("{s}.tls.key"), issued.key_pem.into_bytes());
        let endpoint = if is_admin {
            let port = p.port.unwrap_or(next_port);
            next_port = port.saturating_add(1);
            Some(format!(
                "https://{}:{port}",
                if spec.host.contains(':') {
                    format!("[{}]", spec.host)
                } else {
                    spec.host.clone()
                }
            ))
        } else {
            None
        };
        let mut signing_keys = vec![KeyEntry {
            key_id,
            algorithm: p.algorithm,
            public_key: base64::engine::general_purpose::STANDARD.encode(signing.public_key()),
            not_before,
            not_after,
        }];
        // Replicas 2.. of an administration sign with keys of their own (replica 1 with
        // the administration's first), so that a key lost with one machine is revoked
        // alone.
        if is_admin {
            for replica in 2..=spec.replicas {
                let pkcs8 = match p.algorithm {
                    Algorithm::Ed25519 => generate_ed25519_pkcs8()?,
                    Algorithm::EcdsaP256Sha256 => generate_p256_pkcs8()?,
                };
                let key = SigningKey::from_pkcs8_der(&pkcs8)?;
                files.insert(
                    format!("{s}.replica-{replica}.sign.key"),
                    pkcs8_to_pem(&pkcs8).into_bytes(),
                );
                signing_keys.push(KeyEntry {
                    key_id: format!("{}#{key_label}-{replica}", p.id),
                    algorithm: p.algorithm,
                    public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key()),
                    not_before,
                    not_after,
                });
            }
        }
        participants.push(ParticipantEntry {
            id: p.id.clone(),
            role: p.role,
            name: if p.name.is_empty() {
                p.id.clone()
            } else {
                p.name.clone()
            },
            endpoint,
            registered_with: p.registered_with.clone(),
            signing_keys,
        });
    }
    let trust_list = TrustListDocument {
        federation: spec.federation.clone(),
        version: 1,
        issued_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .ok(),
        ca_certificates_pem: ca.cert_pem.clone(),
        participants,
        agreements: spec.agreements.clone(),
    };
    let list_bytes = trust_list_bytes(&trust_list);
    files.insert(
        "trust-list.json.sig".into(),
        sign_trust_list(&list_bytes, &operator).into_bytes(),
    );
    files.insert("trust-list.json".into(), list_bytes);
    files.insert("federation-ca.crt".into(), ca.cert_pem.clone().into_bytes());
    files.insert(
        "federation-ca.key".into(),
        ca.key.serialize_pem().into_bytes(),
    );
    files.insert(
        "operator.key".into(),
        pkcs8_to_pem(&operator_pkcs8).into_bytes(),
    );
    files.insert(
        "operator.pub".into(),
        format!("{operator_public_base64}\n").into_bytes(),
    );

    let trust_section = TrustSection {
        federation: spec.federation.clone(),
        list: "trust-list.json".into(),
        signature: "trust-list.json.sig".into(),
        operator_keys: vec![operator_public_base64.clone()],
        extra: BTreeMap::new(),
    };
    for entry in &trust_list.participants {
        let s = slug(&entry.id);
        let tls = TlsSection {
            cert: format!("{s}.tls.crt").into(),
            key: format!("{s}.tls.key").into(),
            allow_tls12: false,
            handshake_timeout_ms: crate::tls::DEFAULT_HANDSHAKE_TIMEOUT.as_millis() as u64,
            extra: BTreeMap::new(),
        };
        let signing = SigningSection {
            key: format!("{s}.sign.key").into(),
            key_id: entry
                .signing_keys
                .first()
                .map(|k| k.key_id.clone())
                .unwrap_or_default(),
            extra: BTreeMap::new(),
        };
        if entry.role == Role::Administration {
            let listen = entry
                .endpoint
                .as_deref()
                .and_then(|e| e.strip_prefix("https://"))
                .unwrap_or("127.0.0.1:7443")
                .to_owned();
            let file = GatewayFile {
                participant: entry.id.clone(),
                listen,
                data_dir: format!("data/{s}").into(),
                tls,
                signing,
                trust: trust_section.clone(),
                limits: LimitsSection::default(),
                outbox: OutboxSection::default(),
                peers: BTreeMap::new(),
                revenue: spec.revenue.then(|| RevenueSection {
                    policy: format!("{s}.revenue.toml").into(),
                    extra: BTreeMap::new(),
                }),
                store: None,
                extra: BTreeMap::new(),
            };
            if spec.revenue {
                let country = entry.id.split('/').nth(1).unwrap_or("");
                files.insert(
                    format!("{s}.revenue.toml"),
                    revenue_policy_toml(country).into_bytes(),
                );
                files.insert(
                    "ioss-registry.txt".into(),
                    IOSS_REGISTRY.as_bytes().to_vec(),
                );
            }
            if spec.replicas > 1 {
                for (replica, config) in replica_files(&file, entry, &spec)? {
                    let name = format!("{s}.replica-{replica}.gateway.toml");
                    let header = format!(
                        "# Replica {replica} of {}'s gateway, on the database the replicas share — \
                         start with: aedgate serve --config {name}",
                        entry.id
                    );
                    files.insert(name, toml_text(&header, &config));
                }
            }
            files.insert(
                format!("{s}.gateway.toml"),
                toml_text(
                    &format!(
                        "# Gateway of {} — start with: aedgate serve --config {s}.gateway.toml",
                        entry.id
                    ),
                    &file,
                ),
            );
        } else {
            let gateway = match entry.role {
                Role::Internal => crate::core::ids::parent_administration(&entry.id)
                    .unwrap_or_default()
                    .to_owned(),
                _ => entry.registered_with.first().cloned().unwrap_or_default(),
            };
            if gateway.is_empty() {
                continue;
            }
            let file = ClientFile {
                participant: entry.id.clone(),
                gateway,
                endpoint: None,
                tls,
                signing,
                trust: trust_section.clone(),
                extra: BTreeMap::new(),
            };
            files.insert(
                format!("{s}.client.toml"),
                toml_text(
                    &format!(
                        "# Client of {} — e.g. aedgate submit --config {s}.client.toml DECL.json",
                        entry.id
                    ),
                    &file,
                ),
            );
        }
    }
    if let Some(profile) = conformance_profile(&trust_list, spec.revenue) {
        files.insert(
            crate::conformance::profile::PROFILE_FILE.into(),
            toml_text(
                &format!(
                    "# Conformance profile for the gateway of {} — run with:\n# aedgate conformance --target HOST:PORT --profile .",
                    profile.target
                ),
                &profile,
            ),
        );
    }
    Ok(GeneratedPki {
        spec,
        ca,
        operator_key_pem: pkcs8_to_pem(&operator_pkcs8),
        operator_public_base64,
        trust_list,
        files,
    })
}

/// The conformance kit's profile for the federation's first administration: its first
/// registered partner, its first internal participant, a second registered partner and a
/// partner registered elsewhere, whichever of them the federation has; and, when the
/// federation's gateways charge (`revenue`), the administration's revenue policy, so that
/// the kit checks §11 and §12 against the amounts that policy gives.
fn conformance_profile(
    trust_list: &TrustListDocument,
    revenue: bool,
) -> Option<crate::conformance::profile::ProfileFile> {
    let target = trust_list
        .participants
        .iter()
        .find(|p| p.role == Role::Administration)?;
    let client = |p: &ParticipantEntry| PathBuf::from(format!("{}.client.toml", slug(&p.id)));
    let mut registered = trust_list
        .participants
        .iter()
        .filter(|p| p.role.is_partner() && p.registered_with.contains(&target.id));
    let partner = registered.next()?;
    let second_partner = registered.next().map(client);
    let internal = trust_list
        .participants
        .iter()
        .find(|p| {
            p.role == Role::Internal
                && crate::core::ids::parent_administration(&p.id) == Some(target.id.as_str())
        })
        .map(client);
    let unregistered_partner = trust_list
        .participants
        .iter()
        .find(|p| {
            p.role.is_partner()
                && !p.registered_with.contains(&target.id)
                && !p.registered_with.is_empty()
        })
        .map(client);
    Some(crate::conformance::profile::ProfileFile {
        target: target.id.clone(),
        partner: client(partner),
        internal,
        second_partner,
        unregistered_partner,
        max_payload_bytes: LimitsSection::default().max_payload_bytes,
        revenue_policy: revenue.then(|| format!("{}.revenue.toml", slug(&target.id)).into()),
    })
}

impl GeneratedPki {
    /// Writes every file into `dir` (created if missing). Private keys are written with
    /// mode 0600 on Unix.
    pub fn write(&self, dir: &Path, force: bool) -> Result<(), PkiError> {
        let write_err = |path: &Path, source| PkiError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
        let list = dir.join("trust-list.json");
        if list.exists() && !force {
            return Err(PkiError::Exists(dir.to_path_buf()));
        }
        for (name, bytes) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| write_err(&path, e))?;
            #[cfg(unix)]
            if name.ends_with(".key") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| write_err(&path, e))?;
            }
        }
        Ok(())
    }

    /// Re-signs a changed trust list with this federation's operator key, returning the
    /// file bytes and the signature file content.
    pub fn resign(&self, document: &TrustListDocument) -> Result<(Vec<u8>, String), PkiError> {
        let operator = SigningKey::from_pem(self.operator_key_pem.as_bytes())?;
        let bytes = trust_list_bytes(document);
        let sig = sign_trust_list(&bytes, &operator);
        Ok((bytes, sig))
    }
}
