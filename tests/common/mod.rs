//! Shared test harness: a real development federation in a temporary folder, real gateways
//! on port 0 behind real mutual TLS, real partners with real keys, and the real store.
#![allow(dead_code)]

pub mod outage;

use aedgate::client::Participant;
use aedgate::clock::now_ms;
use aedgate::config::{ClientConfig, GatewayConfig};
use aedgate::core::admission::{admit, AdmissionContext, Admitted};
use aedgate::core::crypto::SigningKey;
use aedgate::core::envelope::{seal, Draft};
use aedgate::core::trust::TrustList;
use aedgate::pki::{GeneratedPki, PkiSpec};
use aedgate::proto::v1::{AdvanceDeclaration, Envelope, MessageType};
use aedgate::server::RunningGateway;
use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};

/// The development federation's administrations and partners that the tests speak as,
/// named once so that every test file means the same participant by the same name.
pub const NL: &str = "adm/NL";
pub const BE: &str = "adm/BE";
pub const SHOPCO: &str = "ptr/NL/shopco";
pub const FLYFAST: &str = "ptr/NL/flyfast";

/// A federation written to a temporary folder.
pub struct Federation {
    pub dir: tempfile::TempDir,
    pub pki: GeneratedPki,
    /// With `AEDGATE_TEST_STORE=postgres`: each administration's database, made when its
    /// configuration is first loaded and dropped with the federation.
    databases: std::sync::Mutex<std::collections::HashMap<String, TestDatabase>>,
}

/// The variable that runs a suite's gateways on PostgreSQL: `AEDGATE_TEST_STORE=postgres`
/// gives every administration's gateway a fresh database of the test server instead of
/// SQLite in its data folder, so that the same tests check both stores (`.ci/test`).
pub const STORE_VARIABLE: &str = "AEDGATE_TEST_STORE";

/// Whether this run's gateways use PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(STORE_VARIABLE).as_deref() == Ok("postgres")
}

impl Federation {
    /// The standard NL/BE federation, without revenue policies: the tests of everything
    /// else assert outcomes that charges and revenue checks would add to.
    pub fn standard() -> Self {
        Self::with_spec(PkiSpec {
            revenue: false,
            ..PkiSpec::standard()
        })
    }

    /// The standard federation with `aedgate pki init`'s revenue policies (§11) and IOSS
    /// registry.
    pub fn with_revenue() -> Self {
        Self::with_spec(PkiSpec::standard())
    }

    /// A federation whose adm/NL runs as three replicas on the database at `url`.
    pub fn replicated(url: &str) -> Self {
        Self::with_spec(PkiSpec {
            revenue: false,
            replicas: 3,
            store_url: url.to_owned(),
            ..PkiSpec::standard()
        })
    }

    /// Replicas 1 to `count` of a [`Self::replicated`] federation, started in this process
    /// from the configurations `pki init --replicas` wrote.
    pub async fn start_replicas(&self, count: u32) -> Vec<RunningGateway> {
        let mut replicas = Vec::new();
        for replica in 1..=count {
            let config =
                GatewayConfig::load(&self.file(&format!("adm-NL.replica-{replica}.gateway.toml")))
                    .expect("replica configuration loads");
            replicas.push(
                aedgate::server::start(config)
                    .await
                    .expect("replica starts"),
            );
        }
        replicas
    }

    pub fn with_spec(spec: PkiSpec) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = aedgate::pki::generate(spec).expect("generate pki");
        pki.write(dir.path(), false).expect("write pki");
        // Every gateway listens on a free port.
        for entry in std::fs::read_dir(dir.path()).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.to_string_lossy().ends_with(".gateway.toml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let text = text
                    .lines()
                    .map(|l| {
                        if l.starts_with("listen = ") {
                            "listen = \"127.0.0.1:0\"".to_string()
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                std::fs::write(&path, text + "\n").expect("write");
            }
        }
        Self {
            dir,
            pki,
            databases: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn gateway_config_path(&self, admin: &str) -> PathBuf {
        self.file(&format!("{}.gateway.toml", aedgate::core::ids::slug(admin)))
    }

    pub fn client_config_path(&self, participant: &str) -> PathBuf {
        self.file(&format!(
            "{}.client.toml",
            aedgate::core::ids::slug(participant)
        ))
    }

    pub fn gateway_config(&self, admin: &str) -> GatewayConfig {
        let mut config =
            GatewayConfig::load(&self.gateway_config_path(admin)).expect("gateway config");
        if on_postgres() && config.store_url.is_none() {
            let mut databases = self.databases.lock().expect("databases");
            let database = databases
                .entry(admin.to_owned())
                .or_insert_with(TestDatabase::create_blocking);
            config.store_url = Some(database.url.clone());
        }
        config
    }

    pub async fn start(&self, admin: &str) -> RunningGateway {
        aedgate::server::start(self.gateway_config(admin))
            .await
            .expect("start gateway")
    }

    pub fn client_config(&self, participant: &str, gateway: &RunningGateway) -> ClientConfig {
        let mut config =
            ClientConfig::load(&self.client_config_path(participant)).expect("client config");
        config.endpoint = format!("https://{}", gateway.local_addr());
        config
    }

    pub async fn connect(&self, participant: &str, gateway: &RunningGateway) -> Participant {
        Participant::connect(self.client_config(participant, gateway))
            .await
            .expect("connect")
    }

    /// Connects `participant` to the gateway of `admin` (a partner registered with several
    /// administrations has one client configuration, for the first).
    pub async fn connect_at(
        &self,
        participant: &str,
        admin: &str,
        gateway: &RunningGateway,
    ) -> Participant {
        let mut config = self.client_config(participant, gateway);
        config.gateway = admin.to_owned();
        Participant::connect(config).await.expect("connect")
    }

    /// Connects as `participant` to a gateway process listening at `addr` (one the test
    /// spawned, so there is no [`RunningGateway`] to ask).
    pub async fn connect_to_addr(&self, participant: &str, addr: &str) -> Participant {
        let mut config = ClientConfig::load(&self.client_config_path(participant)).unwrap();
        config.endpoint = format!("https://{addr}");
        Participant::connect(config).await.expect("connect")
    }

    /// The participant's signing key as written by `pki init`.
    pub fn signing_key(&self, participant: &str) -> SigningKey {
        let pem = std::fs::read(self.file(&format!(
            "{}.sign.key",
            aedgate::core::ids::slug(participant)
        )))
        .expect("key");
        SigningKey::from_pem(&pem).expect("signing key")
    }

    pub fn key_id(&self, participant: &str) -> String {
        self.pki
            .trust_list
            .participants
            .iter()
            .find(|p| p.id == participant)
            .and_then(|p| p.signing_keys.first())
            .map(|k| k.key_id.clone())
            .expect("key id")
    }
}

/// A valid, realistic declaration with this LRN.
pub fn declaration(lrn: &str) -> AdvanceDeclaration {
    aedgate::core::validation::sample_declaration(lrn)
}

/// A draft of a declaration from `sender` to `recipient`, created now.
pub fn draft(sender: &str, recipient: &str, declaration: &AdvanceDeclaration) -> Draft {
    Draft {
        message_id: uuid::Uuid::now_v7().hyphenated().to_string(),
        sender: sender.into(),
        recipient: recipient.into(),
        message_type: MessageType::Declaration as i32,
        created_at_ms: now_ms(),
        correlation_id: String::new(),
        payload: Bytes::from(declaration.encode_to_vec()),
    }
}

/// Seals a draft with a participant's own key from the federation.
pub fn seal_as(fed: &Federation, signer: &str, draft: Draft) -> Envelope {
    seal(draft, &fed.signing_key(signer), &fed.key_id(signer))
}

/// Unique LRN for a test.
pub fn lrn(tag: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{}-{}", tag, &id[id.len() - 10..])
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    aedgate::client::reason_of(status).unwrap_or_default()
}

/// Unwraps a refusal from a client error.
pub fn refused(
    result: Result<aedgate::proto::v1::Receipt, aedgate::client::ClientError>,
) -> tonic::Status {
    match result {
        Err(aedgate::client::ClientError::Refused(status)) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Everything delivered to `participant` after `after_seq`, without following.
pub async fn fetch_all(
    participant: &Participant,
    after_seq: u64,
) -> Vec<aedgate::proto::v1::Delivery> {
    let mut stream = fetch_stream(participant, after_seq, false).await;
    let mut out = Vec::new();
    while let Some(delivery) = stream.message().await.expect("delivery") {
        out.push(delivery);
    }
    out
}

/// The OUTCOME payloads among deliveries that answer `declaration_id`, in order.
pub fn outcomes_for(
    deliveries: &[aedgate::proto::v1::Delivery],
    declaration_id: &str,
) -> Vec<(aedgate::proto::v1::Envelope, aedgate::proto::v1::Outcome)> {
    deliveries
        .iter()
        .filter_map(|d| d.envelope.clone())
        .filter(|e| {
            let h = e.header.as_ref().expect("header");
            h.r#type == MessageType::Outcome as i32 && h.correlation_id == declaration_id
        })
        .map(|e| {
            let outcome = aedgate::proto::v1::Outcome::decode(e.payload.clone()).expect("outcome");
            (e, outcome)
        })
        .collect()
}

/// Starts the gateways of `admins` and tells each where the others listen (their ports are
/// free ports, not the trust list's).
pub async fn start_network(fed: &Federation, admins: &[&str]) -> Vec<RunningGateway> {
    let mut gateways = Vec::new();
    for admin in admins {
        gateways.push(fed.start(admin).await);
    }
    link(admins, &gateways);
    gateways
}

/// Points every gateway at every other's current address.
pub fn link(admins: &[&str], gateways: &[RunningGateway]) {
    for (i, gateway) in gateways.iter().enumerate() {
        for (j, peer) in gateways.iter().enumerate() {
            if i != j {
                gateway.set_peer_endpoint(admins[j], &format!("https://{}", peer.local_addr()));
            }
        }
    }
}

/// Follows `participant`'s Fetch until `pred` holds for a delivered envelope; returns it.
/// Fails the test if nothing matching arrives within a minute.
pub async fn await_delivery(
    participant: &Participant,
    after_seq: u64,
    mut pred: impl FnMut(&Envelope) -> bool,
) -> (u64, Envelope) {
    let mut stream = fetch_stream(participant, after_seq, true).await;
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(delivery) = stream.message().await.expect("delivery") {
            let envelope = delivery.envelope.expect("envelope");
            if pred(&envelope) {
                return (delivery.seq, envelope);
            }
        }
        panic!("fetch stream ended");
    })
    .await;
    found.expect("the awaited delivery arrived within a minute")
}

/// Waits until the gateway's outbox satisfies `pred` (the forwarder's results are
/// announced on the store's outbox signal); fails the test after a minute.
pub async fn await_outbox(
    gateway: &RunningGateway,
    mut pred: impl FnMut(&[aedgate::store::OutboxEntry]) -> bool,
) -> Vec<aedgate::store::OutboxEntry> {
    let store = &gateway.state().store;
    let mut signal = store.outbox_signal();
    let wait = async {
        loop {
            signal.borrow_and_update();
            let entries = store.outbox(None).await.expect("outbox");
            if pred(&entries) {
                return entries;
            }
            signal.changed().await.expect("store open");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .expect("the outbox reached the awaited state within a minute")
}

/// An administration for a federation spec (with its gateway's nominal port).
pub fn administration(id: &str, port: u16) -> aedgate::pki::ParticipantSpec {
    aedgate::pki::ParticipantSpec {
        id: id.into(),
        role: aedgate::core::trust::Role::Administration,
        name: id.into(),
        registered_with: vec![],
        algorithm: aedgate::core::crypto::Algorithm::Ed25519,
        port: Some(port),
    }
}

/// An administration's internal participant (risk unit, back office) for a federation spec.
pub fn internal(id: &str) -> aedgate::pki::ParticipantSpec {
    aedgate::pki::ParticipantSpec {
        id: id.into(),
        role: aedgate::core::trust::Role::Internal,
        name: id.into(),
        registered_with: vec![],
        algorithm: aedgate::core::crypto::Algorithm::Ed25519,
        port: None,
    }
}

/// An agreement between two administrations for a federation spec.
pub fn agreement(
    id: &str,
    a: &str,
    b: &str,
    exchange: &[aedgate::core::trust::Exchange],
    max_tlp: aedgate::core::trust::TlpLevel,
    personal_data: bool,
) -> aedgate::core::trust::AgreementEntry {
    aedgate::core::trust::AgreementEntry {
        id: id.into(),
        parties: vec![a.into(), b.into()],
        exchange: exchange.to_vec(),
        max_tlp,
        personal_data,
    }
}

/// Starts the gateway of `admin` after `adjust` changed its loaded configuration (a fast
/// retry policy, a short horizon).
pub async fn start_adjusted(
    fed: &Federation,
    admin: &str,
    adjust: impl FnOnce(&mut GatewayConfig),
) -> RunningGateway {
    let mut config = fed.gateway_config(admin);
    adjust(&mut config);
    aedgate::server::start(config).await.expect("start gateway")
}

/// A client that presents `admin`'s own gateway identity (its TLS certificate and its
/// administration signing key) to the gateway of `peer` at `gateway`'s address: what the
/// forwarder of `admin` looks like to `peer`, driven by hand.
pub async fn connect_as_gateway(
    fed: &Federation,
    admin: &str,
    peer: &str,
    gateway: &RunningGateway,
) -> Participant {
    let slug = aedgate::core::ids::slug(admin);
    // Any client file of the federation gives the trust section; everything else is replaced.
    let mut config = ClientConfig::load(&fed.client_config_path("ptr/NL/shopco")).expect("client");
    config.participant = admin.to_owned();
    config.gateway = peer.to_owned();
    config.endpoint = format!("https://{}", gateway.local_addr());
    config.identity = aedgate::tls::Identity::load(
        &fed.file(&format!("{slug}.tls.crt")),
        &fed.file(&format!("{slug}.tls.key")),
    )
    .expect("gateway identity");
    config.signer = aedgate::config::Signer {
        key: fed.signing_key(admin),
        key_id: fed.key_id(admin),
    };
    Participant::connect(config).await.expect("connect")
}

/// Follows `participant`'s Fetch until `pred` holds for a delivered envelope; returns every
/// envelope delivered up to and including that one, in order.
pub async fn collect_until(
    participant: &Participant,
    after_seq: u64,
    mut pred: impl FnMut(&Envelope) -> bool,
) -> Vec<Envelope> {
    let mut seen = Vec::new();
    await_delivery(participant, after_seq, |envelope| {
        seen.push(envelope.clone());
        pred(envelope)
    })
    .await;
    seen
}

/// Opens the store of `admin`'s gateway in `data_dir` directly (no server), signing as that
/// administration, for tests of the store itself.
pub async fn open_store(
    fed: &Federation,
    admin: &str,
    data_dir: &std::path::Path,
) -> Result<aedgate::store::Store, aedgate::store::StoreError> {
    let config = fed.gateway_config(admin);
    aedgate::store::Store::open_with(
        data_dir,
        config.store_url.as_deref(),
        aedgate::store::Issuer {
            participant: admin.into(),
            signer: std::sync::Arc::new(config.signer),
        },
        Default::default(),
    )
    .await
}

/// Admits `envelope` from `sender` at `gateway` as the service would (now, a 1 MiB payload
/// limit), for tests that hand envelopes to the store directly, bypassing the server.
pub fn admit_at(trust: &TrustList, gateway: &str, sender: &str, envelope: Envelope) -> Admitted {
    let raw = Bytes::from(envelope.encode_to_vec());
    admit(
        envelope,
        raw,
        sender,
        &AdmissionContext {
            gateway,
            trust,
            now_ms: now_ms(),
            max_payload_bytes: 1 << 20,
        },
    )
    .expect("admitted")
}

/// The trust list and data folder of `admin`'s gateway, for tests that open its store
/// directly ([`open_store`]) and hand it admitted envelopes ([`admit_at`]).
pub fn store_setup(fed: &Federation, admin: &str) -> (std::sync::Arc<TrustList>, PathBuf) {
    let config = fed.gateway_config(admin);
    (std::sync::Arc::new(config.trust), config.data_dir)
}

/// The standard output of a command that must have succeeded; a failure shows both its
/// outputs, so that a broken CLI test says why.
pub fn success_stdout(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `participant`'s Fetch stream after `after_seq`, following new deliveries or not.
pub async fn fetch_stream(
    participant: &Participant,
    after_seq: u64,
    follow: bool,
) -> tonic::Streaming<aedgate::proto::v1::Delivery> {
    participant
        .grpc()
        .fetch(aedgate::proto::v1::FetchRequest { after_seq, follow })
        .await
        .expect("fetch")
        .into_inner()
}

/// Sends signal `name` (`TERM`, `KILL`...) through kill(1) to a process the test started,
/// as an operator or a crash would stop a gateway.
pub fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(&pid)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The address in a spawned `aedgate serve`'s ready line (`aedgate ready: adm/NL serving on
/// 127.0.0.1:4711 ...`).
pub fn ready_address(line: &str) -> String {
    line.split(" serving on ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .expect("address")
        .to_owned()
}

/// Copies a folder's files (a store's data folder, flat) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the folder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// `aedgate serve` for `admin`'s gateway of the federation, stdout and stderr piped, killed
/// when dropped.
pub fn serve_process(fed: &Federation, admin: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("serve")
        .arg("--config")
        .arg(fed.gateway_config_path(admin))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn aedgate serve")
}

/// The variable that names the PostgreSQL server the store's tests use.
pub const POSTGRES_VARIABLE: &str = "AEDGATE_TEST_POSTGRES";

/// A fresh, empty PostgreSQL database for one test, dropped when the test ends.
///
/// The server is `$AEDGATE_TEST_POSTGRES` (a URL of a database the tests may create
/// databases from), by default `postgres://postgres@127.0.0.1:5432/postgres`, the
/// development and CI machines' server. Where none answers, the test fails naming the
/// variable: a test of the PostgreSQL store never passes without one.
pub struct TestDatabase {
    /// The fresh database's URL, for `[store] url`.
    pub url: String,
    admin_url: String,
    name: String,
}

/// The PostgreSQL server the tests use: `$AEDGATE_TEST_POSTGRES`, by default the development
/// and CI machines' `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn postgres_server() -> String {
    std::env::var(POSTGRES_VARIABLE)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin_url = postgres_server();
        let (url, name) = aedgate::store::create_scratch_database(&admin_url, "aedgate_test")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create a database at {admin_url} ({e}): start PostgreSQL there, or \
                     set {POSTGRES_VARIABLE} to the URL of a server where the tests may create \
                     databases"
                )
            });
        Self {
            url,
            admin_url,
            name,
        }
    }
}

impl TestDatabase {
    /// [`TestDatabase::create`] from synchronous code (a configuration being loaded), on a
    /// thread and runtime of its own.
    pub fn create_blocking() -> Self {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(Self::create())
        })
        .join()
        .expect("create the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort, on a thread of its own: Drop cannot await, and the test's runtime
        // may be shutting down.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = runtime.block_on(aedgate::store::drop_scratch_database(&admin_url, &name));
        })
        .join();
    }
}

/// The stores a test of the store itself runs on: the same test, once on each.
pub enum Backend {
    /// SQLite in the gateway's data folder (the embedded default).
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres(TestDatabase),
    /// A PostgreSQL database another part of the test owns (replicas sharing it).
    Url(String),
}

impl Backend {
    pub async fn postgres() -> Self {
        Self::Postgres(TestDatabase::create().await)
    }

    /// The `[store] url` of this backend (none for SQLite).
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(db) => Some(&db.url),
            Self::Url(url) => Some(url),
        }
    }
}

/// [`open_store`] on `backend`.
pub async fn open_store_on(
    fed: &Federation,
    admin: &str,
    data_dir: &std::path::Path,
    backend: &Backend,
) -> Result<aedgate::store::Store, aedgate::store::StoreError> {
    let config = fed.gateway_config(admin);
    aedgate::store::Store::open_with(
        data_dir,
        backend.url(),
        aedgate::store::Issuer {
            participant: admin.into(),
            signer: std::sync::Arc::new(config.signer),
        },
        Default::default(),
    )
    .await
}
