//! Mutual TLS over real sockets and real handshakes (PROTOCOL.md §1, §10): who may connect,
//! how a peer is identified (its SPIFFE URI SAN and nothing else), which server a client
//! accepts, handshake deadlines, protocol versions, keys in the encodings other tools write,
//! and the health and reflection services behind the same mutual TLS.

mod common;

use aedgate::client::{ClientError, Participant};
use aedgate::core::crypto::{generate_ed25519_pkcs8, generate_p256_pkcs8, pem_block, SigningKey};
use aedgate::core::envelope::envelope_digest;
use aedgate::core::trust::TrustList;
use aedgate::pki::{spiffe_uri, CertificateAuthority, IssuedCertificate};
use aedgate::proto::v1::gateway_client::GatewayClient;
use aedgate::proto::v1::{Disposition, Envelope, Receipt};
use aedgate::server::RunningGateway;
use aedgate::tls::{spiffe_participant, Identity};
use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ProtocolVersion, RootCertStore};
use rustls_pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

const FEDERATION: &str = "wco-ecom.test";

/// Upper bound on any single network step: a failure bound, never synchronisation.
const FAILURE_BOUND: Duration = Duration::from_secs(10);

/// The HTTP/2 client connection preface followed by an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// PKCS#8 v1 (RFC 5208, no public key) prefix of an Ed25519 private key; the 32-byte seed
/// follows.
const ED25519_PKCS8_V1_PREFIX: &str = "302e020100300506032b657004220420";
/// The PKCS#8 v2 (RFC 5958) prefix ring writes for Ed25519: seed at bytes 16..48, then the
/// `[1]` public key (83 bytes in all).
const ED25519_PKCS8_V2_PREFIX: &str = "3051020101300506032b657004220420";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Runs `future` under [`FAILURE_BOUND`], failing the test if it does not finish.
async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(FAILURE_BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no outcome within {FAILURE_BOUND:?}"))
}

fn identity_from_pem(cert_pem: &str, key_pem: &str) -> Identity {
    Identity {
        chain: CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM"),
        key: PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM"),
    }
}

fn identity_of(issued: &IssuedCertificate) -> Identity {
    identity_from_pem(&issued.cert_pem, &issued.key_pem)
}

fn leaf_of(issued: &IssuedCertificate) -> CertificateDer<'static> {
    identity_of(issued).chain.remove(0)
}

/// The identity `pki init` wrote for `participant`.
fn federation_identity(fed: &Federation, participant: &str) -> Identity {
    let slug = aedgate::core::ids::slug(participant);
    Identity::load(
        &fed.file(&format!("{slug}.tls.crt")),
        &fed.file(&format!("{slug}.tls.key")),
    )
    .expect("federation identity")
}

/// Roots holding only the federation CA, read from the file `pki init` wrote.
fn federation_roots(fed: &Federation) -> Arc<RootCertStore> {
    let pem = std::fs::read(fed.file("federation-ca.crt")).expect("CA file");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("CA PEM")).expect("CA usable as root");
    }
    assert_eq!(roots.len(), 1);
    Arc::new(roots)
}

/// A plain rustls client (ring provider, WebPKI check of the server against the federation
/// CA, no SPIFFE logic of this crate), so that what is observed is the server's decision.
fn raw_client_config(
    fed: &Federation,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<&Identity>,
) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(aedgate::tls::provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(federation_roots(fed));
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .expect("client auth cert"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn tls13_only() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS13]
}

fn tls12_only() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS12]
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").expect("server name")
}

/// The rustls error somewhere in an error's chain (tokio-rustls wraps it in `io::Error`,
/// whose `source()` skips the wrapped error, so `get_ref` is looked at as well).
fn rustls_error_in(error: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r.clone());
        }
        if let Some(r) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r.clone());
        }
        current = e.source();
    }
    None
}

/// What a raw TLS client saw of a gateway.
#[derive(Debug)]
enum Probe {
    /// The client's handshake failed.
    HandshakeFailed(std::io::Error),
    /// The client's handshake completed (TLS 1.3 clients finish before the server has judged
    /// their certificate), then the connection ended with no HTTP/2 byte; `None` is a clean
    /// EOF.
    ClosedAfterHandshake(Option<std::io::Error>),
    /// The server spoke HTTP/2: the bytes received (at least one frame header).
    Http2(Vec<u8>),
}

impl Probe {
    /// The TLS alert the server sent, if the client received one.
    fn alert(&self) -> Option<AlertDescription> {
        let error = match self {
            Probe::HandshakeFailed(e) | Probe::ClosedAfterHandshake(Some(e)) => e,
            _ => return None,
        };
        match rustls_error_in(error) {
            Some(rustls::Error::AlertReceived(alert)) => Some(alert),
            _ => None,
        }
    }

    /// Asserts the server refused the connection with `alert`.
    fn assert_refused_with(&self, alert: AlertDescription, what: &str) {
        assert!(
            !matches!(self, Probe::Http2(_)),
            "{what}: the server answered HTTP/2: {self:?}"
        );
        assert_eq!(
            self.alert(),
            Some(alert),
            "{what}: expected the server's {alert:?} alert, got {self:?}"
        );
    }
}

/// Handshakes with the gateway at `addr`, writes the HTTP/2 preface and reads until the
/// connection ends or the first HTTP/2 frame header has arrived.
async fn probe(config: Arc<rustls::ClientConfig>, addr: SocketAddr) -> Probe {
    bounded("TLS probe", async move {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        let connector = tokio_rustls::TlsConnector::from(config);
        let mut tls = match connector.connect(server_name(), tcp).await {
            Ok(tls) => tls,
            Err(e) => return Probe::HandshakeFailed(e),
        };
        // A refused connection may already be gone; the read below tells how it ended.
        let _ = tls.write_all(H2_PREFACE).await;
        let _ = tls.flush().await;
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) if received.is_empty() => return Probe::ClosedAfterHandshake(None),
                Ok(0) => return Probe::Http2(received),
                Ok(n) => {
                    received.extend_from_slice(&buf[..n]);
                    if received.len() >= 9 {
                        return Probe::Http2(received);
                    }
                }
                Err(e) if received.is_empty() => return Probe::ClosedAfterHandshake(Some(e)),
                Err(_) => return Probe::Http2(received),
            }
        }
    })
    .await
}

/// Asserts a probe reached HTTP/2: the server's first frame is SETTINGS (type 0x4).
fn assert_http2_settings(probe: &Probe, what: &str) {
    match probe {
        Probe::Http2(bytes) => assert_eq!(bytes[3], 0x4, "{what}: first frame {bytes:?}"),
        other => panic!("{what}: expected an HTTP/2 answer, got {other:?}"),
    }
}

/// Connects with `config` and submits one declaration sealed with its signer.
async fn connect_and_submit(config: aedgate::config::ClientConfig) -> Result<Receipt, ClientError> {
    bounded("connect and submit", async move {
        let mut client = Participant::connect(config).await?;
        let envelope = client.seal_declaration(&declaration(&lrn("TLS")));
        client.submit(envelope).await
    })
    .await
}

/// Asserts that a call never reached a service: the connection failed or the call failed
/// at the transport, with no `ErrorInfo` reason (every answer of the Gateway service has
/// one).
fn assert_transport_failure(result: Result<Receipt, ClientError>, what: &str) {
    match result {
        Err(ClientError::Connect { .. }) => {}
        Err(ClientError::Refused(status)) => {
            assert_eq!(
                aedgate::client::reason_of(&status),
                None,
                "{what}: a service answered: {status:?}"
            );
            assert!(
                matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
                ),
                "{what}: not a transport failure: {status:?}"
            );
        }
        other => panic!("{what}: expected a transport failure, got {other:?}"),
    }
}

/// Asserts that the gateway stored nothing and counted no rejection.
async fn assert_untouched(gateway: &RunningGateway, what: &str) {
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        0,
        "{what}: something was stored"
    );
    assert!(
        gateway
            .state()
            .telemetry
            .counters(aedgate::telemetry::Counter::Rejected)
            .is_empty(),
        "{what}: a service saw a call: {:?}",
        gateway
            .state()
            .telemetry
            .counters(aedgate::telemetry::Counter::Rejected)
    );
}

/// Rewrites `key = value` in the `[tls]` section of a gateway's TOML file, which `pki init`
/// writes with every key of that section present.
fn set_gateway_tls_option(fed: &Federation, admin: &str, key: &str, value: &str) {
    let path = fed.gateway_config_path(admin);
    let text = std::fs::read_to_string(&path).expect("gateway toml");
    let prefix = format!("{key} = ");
    let mut section = String::new();
    let mut replaced = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                section = line.trim().to_owned();
            }
            if section == "[tls]" && line.starts_with(&prefix) {
                replaced += 1;
                format!("{key} = {value}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "{key} in [tls] of {}:\n{text}", path.display());
    std::fs::write(&path, lines.join("\n") + "\n").expect("write gateway toml");
}

/// Issues a certificate signed by the federation CA with exactly the given SANs, using the
/// CA key and certificate files `pki init` wrote (the in-memory CA's key is private).
fn issue_from_federation_ca(
    fed: &Federation,
    common_name: &str,
    sans: Vec<rcgen::SanType>,
) -> IssuedCertificate {
    use x509_parser::prelude::*;
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(fed.file("federation-ca.key")).unwrap())
            .expect("CA key");
    // The issuer name must be the CA's subject byte for byte: rebuild it from the CA
    // certificate in the same order and string type rcgen wrote it.
    let ca_der = CertificateDer::from_pem_file(fed.file("federation-ca.crt")).expect("CA cert");
    let (_, ca_cert) = parse_x509_certificate(ca_der.as_ref()).expect("CA parses");
    let mut ca_dn = rcgen::DistinguishedName::new();
    for attribute in ca_cert.subject().iter_attributes() {
        let value = attribute.as_str().expect("CA name is a string").to_owned();
        let oid = attribute.attr_type();
        if *oid == x509_parser::oid_registry::OID_X509_COMMON_NAME {
            ca_dn.push(rcgen::DnType::CommonName, value);
        } else if *oid == x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME {
            ca_dn.push(rcgen::DnType::OrganizationName, value);
        } else {
            panic!("unexpected attribute {oid} in the CA name");
        }
    }
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = ca_dn;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer).expect("sign");
    IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn uri_san(uri: &str) -> rcgen::SanType {
    rcgen::SanType::URI(uri.try_into().expect("URI SAN"))
}

/// Opens a gRPC channel over a TLS stream made with `config`, recording each connection's
/// negotiated protocol version in `versions`.
async fn channel_with(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    versions: Arc<Mutex<Vec<ProtocolVersion>>>,
) -> Result<Channel, tonic::transport::Error> {
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let config = Arc::clone(&config);
        let versions = Arc::clone(&versions);
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(server_name(), tcp)
                .await?;
            if let Some(version) = tls.get_ref().1.protocol_version() {
                versions.lock().unwrap().push(version);
            }
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .connect_with_connector(connector)
        .await
}

/// Verifies a receipt as a partner would.
fn check_receipt(receipt: &Receipt, envelope: &Envelope, trust: &TrustList) {
    let header = envelope.header.as_ref().expect("header");
    aedgate::core::receipt::verify_receipt(
        receipt,
        &header.message_id,
        &envelope_digest(header),
        NL,
        trust,
    )
    .expect("receipt is valid evidence");
    assert_eq!(receipt.disposition, Disposition::Accepted as i32);
}

// ---------------------------------------------------------------------------------------
// 1. No client certificate
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_without_certificate_gets_no_http2_answer() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let addr = gateway.local_addr();

    let anonymous = probe(raw_client_config(&fed, &tls13_only(), None), addr).await;
    anonymous.assert_refused_with(AlertDescription::CertificateRequired, "no certificate");

    // Control: the same probe with a federation certificate is answered, so the probe
    // would have seen an answer to the anonymous client too.
    let shopco = federation_identity(&fed, SHOPCO);
    let identified = probe(raw_client_config(&fed, &tls13_only(), Some(&shopco)), addr).await;
    assert_http2_settings(&identified, "shopco's certificate");
    assert_untouched(&gateway, "anonymous client").await;
}

// ---------------------------------------------------------------------------------------
// 2. Certificate from another CA
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let rogue = CertificateAuthority::new("rogue").unwrap();
    let issued = rogue
        .issue(SHOPCO, Some(&spiffe_uri(FEDERATION, SHOPCO)), &[], &[])
        .unwrap();
    // It names shopco exactly as the genuine one does: only the chain is wrong.
    assert_eq!(
        spiffe_participant(&leaf_of(&issued), FEDERATION).unwrap(),
        SHOPCO
    );

    let raw = probe(
        raw_client_config(&fed, &tls13_only(), Some(&identity_of(&issued))),
        gateway.local_addr(),
    )
    .await;
    raw.assert_refused_with(AlertDescription::UnknownCA, "rogue CA, raw client");

    let mut config = fed.client_config(SHOPCO, &gateway);
    config.identity = identity_of(&issued);
    assert_transport_failure(connect_and_submit(config).await, "rogue CA");
    assert_untouched(&gateway, "rogue CA").await;

    // Control: the genuine certificate gets a receipt from the same gateway.
    connect_and_submit(fed.client_config(SHOPCO, &gateway))
        .await
        .expect("genuine certificate is accepted");
}

// ---------------------------------------------------------------------------------------
// 3. Right CA, wrong SANs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn certificates_without_exactly_one_spiffe_san_of_the_federation_are_refused() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let addr = gateway.local_addr();
    let ca = &fed.pki.ca;

    let no_san = ca.issue(SHOPCO, None, &[], &[]).unwrap();
    let other_federation = ca
        .issue(SHOPCO, Some("spiffe://other.test/ptr/NL/shopco"), &[], &[])
        .unwrap();
    let two_uris = issue_from_federation_ca(
        &fed,
        SHOPCO,
        vec![
            uri_san(&spiffe_uri(FEDERATION, SHOPCO)),
            uri_san(&spiffe_uri(FEDERATION, FLYFAST)),
        ],
    );
    // Same issuance path with one URI SAN: the control for `two_uris`.
    let one_uri =
        issue_from_federation_ca(&fed, SHOPCO, vec![uri_san(&spiffe_uri(FEDERATION, SHOPCO))]);
    let genuine = ca
        .issue(SHOPCO, Some(&spiffe_uri(FEDERATION, SHOPCO)), &[], &[])
        .unwrap();

    assert!(spiffe_participant(&leaf_of(&no_san), FEDERATION).is_err());
    assert!(spiffe_participant(&leaf_of(&other_federation), FEDERATION).is_err());
    assert!(spiffe_participant(&leaf_of(&two_uris), FEDERATION).is_err());
    assert_eq!(
        spiffe_participant(&leaf_of(&other_federation), "other.test").unwrap(),
        SHOPCO,
        "the other federation's SAN is well formed; only the federation differs"
    );
    assert_eq!(
        spiffe_participant(&leaf_of(&one_uri), FEDERATION).unwrap(),
        SHOPCO
    );
    assert_eq!(
        spiffe_participant(&leaf_of(&genuine), FEDERATION).unwrap(),
        SHOPCO
    );

    for (what, issued) in [
        ("no SAN", &no_san),
        ("SAN of another federation", &other_federation),
        ("two URI SANs", &two_uris),
    ] {
        // The chain is good, so a refusal with access_denied is the SPIFFE check failing
        // the handshake itself.
        let raw = probe(
            raw_client_config(&fed, &tls13_only(), Some(&identity_of(issued))),
            addr,
        )
        .await;
        raw.assert_refused_with(AlertDescription::AccessDenied, what);

        let mut config = fed.client_config(SHOPCO, &gateway);
        config.identity = identity_of(issued);
        assert_transport_failure(connect_and_submit(config).await, what);
    }
    assert_untouched(&gateway, "bad SANs").await;

    for (what, issued) in [("one URI SAN", &one_uri), ("genuine", &genuine)] {
        let raw = probe(
            raw_client_config(&fed, &tls13_only(), Some(&identity_of(issued))),
            addr,
        )
        .await;
        assert_http2_settings(&raw, what);
        let mut config = fed.client_config(SHOPCO, &gateway);
        config.identity = identity_of(issued);
        connect_and_submit(config)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// 4. The client checks the server's identity
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_refuses_a_server_that_names_another_administration() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    // The adm/NL gateway's certificate is valid for 127.0.0.1, so only the SPIFFE check
    // can refuse it.
    let mut config = fed.client_config(SHOPCO, &gateway);
    config.gateway = "adm/BE".into();
    let result = bounded("connect expecting adm/BE", Participant::connect(config)).await;
    match result {
        Err(ClientError::Connect { source, .. }) => assert_eq!(
            rustls_error_in(&source),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure
            )),
            "{source:?}"
        ),
        other => panic!("expected the connection to fail, got {other:?}"),
    }

    // Same with the crate's client configuration on a bare handshake.
    let shopco = federation_identity(&fed, SHOPCO);
    let trust = fed.client_config(SHOPCO, &gateway).trust;
    let settings = aedgate::tls::TlsSettings::default();
    let port = gateway.local_addr().port();
    let expecting_be =
        aedgate::tls::client_config(&shopco, &trust, FEDERATION, "adm/BE", &settings).unwrap();
    let error = aedgate::tls::connect(expecting_be, "127.0.0.1", port, FAILURE_BOUND)
        .await
        .expect_err("adm/NL's certificate is not adm/BE's");
    assert_eq!(
        rustls_error_in(&error),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure
        ))
    );
    let expecting_nl =
        aedgate::tls::client_config(&shopco, &trust, FEDERATION, NL, &settings).unwrap();
    aedgate::tls::connect(expecting_nl, "127.0.0.1", port, FAILURE_BOUND)
        .await
        .expect("control: the expected server is accepted");
    assert_untouched(&gateway, "client refused the server").await;
}

// ---------------------------------------------------------------------------------------
// 5. Identity from the SAN only
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn participant_id_comes_from_the_san_not_the_common_name() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    // Common name says shopco, SAN says flyfast.
    let issued = fed
        .pki
        .ca
        .issue(SHOPCO, Some(&spiffe_uri(FEDERATION, FLYFAST)), &[], &[])
        .unwrap();
    assert_eq!(
        spiffe_participant(&leaf_of(&issued), FEDERATION).unwrap(),
        FLYFAST
    );
    let mut config = fed.client_config(SHOPCO, &gateway);
    config.identity = identity_of(&issued);
    let mut client = bounded("connect", Participant::connect(config))
        .await
        .expect("a valid flyfast certificate connects");

    // shopco's name and shopco's valid signature over flyfast's connection.
    let as_shopco = client.seal_declaration(&declaration(&lrn("CN")));
    assert_eq!(as_shopco.header.as_ref().unwrap().sender, SHOPCO);
    let status = refused(bounded("submit as shopco", client.submit(as_shopco)).await);
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason(&status), "SENDER_MISMATCH");

    // The connection is flyfast's: flyfast's own envelope is accepted over it.
    let as_flyfast = seal_as(&fed, FLYFAST, draft(FLYFAST, NL, &declaration(&lrn("SAN"))));
    let receipt = bounded("submit as flyfast", client.submit(as_flyfast))
        .await
        .expect("flyfast's envelope over flyfast's connection");
    assert_eq!(receipt.disposition, Disposition::Accepted as i32);
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        2,
        "one declaration and its outcome"
    );
    assert_eq!(
        gateway
            .state()
            .telemetry
            .counters(aedgate::telemetry::Counter::Rejected)
            .get("SENDER_MISMATCH"),
        Some(&1)
    );
}

// ---------------------------------------------------------------------------------------
// 6. Handshake deadline and isolation
// ---------------------------------------------------------------------------------------

/// A TCP connection that sends nothing at all.
async fn silent_socket(addr: SocketAddr) -> TcpStream {
    bounded("TCP connect", TcpStream::connect(addr))
        .await
        .expect("TCP connect")
}

/// A TCP connection that sends the first bytes of a ClientHello record announcing 512
/// bytes, then nothing: the server's handshake is waiting for the rest.
async fn half_hello_socket(addr: SocketAddr) -> TcpStream {
    let mut tcp = silent_socket(addr).await;
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
        .await
        .expect("write");
    tcp
}

/// Asserts the server has neither closed nor answered a stalled connection.
fn assert_still_pending(tcp: &TcpStream, what: &str) {
    let mut buf = [0u8; 16];
    match tcp.try_read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("{what}: expected a still-open, silent connection, got {other:?}"),
    }
}

/// Reads until the server closes; fails if it does not within `bound`.
async fn assert_closed_within(tcp: &mut TcpStream, bound: Duration, what: &str) {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(bound, tcp.read(&mut buf)).await {
            Err(_) => panic!("{what}: still open after {bound:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            // A TLS alert may precede the close; keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn stalled_handshakes_block_no_other_client() {
    let fed = Federation::standard();
    // A deadline far beyond the test, so the stalled connections are certainly still
    // stalled while the partner is served.
    set_gateway_tls_option(&fed, NL, "handshake_timeout_ms", "60000");
    let gateway = fed.start(NL).await;
    let addr = gateway.local_addr();
    let silent = silent_socket(addr).await;
    let half = half_hello_socket(addr).await;

    // The client gives up after its own 10 s connect timeout, so a gateway that handshakes
    // one connection at a time fails here.
    connect_and_submit(fed.client_config(SHOPCO, &gateway))
        .await
        .expect("a partner is served while two handshakes are stalled");
    assert_still_pending(&silent, "silent connection");
    assert_still_pending(&half, "half ClientHello");
}

#[tokio::test]
async fn stalled_handshake_is_closed_at_the_configured_deadline() {
    let fed = Federation::standard();
    set_gateway_tls_option(&fed, NL, "handshake_timeout_ms", "300");
    assert_eq!(
        fed.gateway_config(NL).tls.handshake_timeout,
        Duration::from_millis(300)
    );
    let gateway = fed.start(NL).await;
    let addr = gateway.local_addr();
    let started = Instant::now();
    let mut silent = silent_socket(addr).await;
    let mut half = half_hello_socket(addr).await;

    connect_and_submit(fed.client_config(SHOPCO, &gateway))
        .await
        .expect("a partner is served while handshakes are stalled");

    // 5 s is generous against 300 ms yet well below the 10 s default, so a gateway that
    // ignored the setting fails here.
    let bound = Duration::from_secs(5);
    assert_closed_within(&mut silent, bound, "silent connection").await;
    assert_closed_within(&mut half, bound, "half ClientHello").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before the deadline: {:?}",
        started.elapsed()
    );
    // The gateway still serves after dropping them.
    connect_and_submit(fed.client_config(SHOPCO, &gateway))
        .await
        .expect("served after the stalled connections were dropped");
}

// ---------------------------------------------------------------------------------------
// 7. TLS 1.2
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tls12_only_client_is_refused_by_default() {
    let fed = Federation::standard();
    assert!(!fed.gateway_config(NL).tls.allow_tls12);
    let gateway = fed.start(NL).await;
    let shopco = federation_identity(&fed, SHOPCO);

    let tls12 = probe(
        raw_client_config(&fed, &tls12_only(), Some(&shopco)),
        gateway.local_addr(),
    )
    .await;
    assert!(
        matches!(tls12, Probe::HandshakeFailed(_)),
        "TLS 1.2 handshake must fail: {tls12:?}"
    );
    tls12.assert_refused_with(AlertDescription::ProtocolVersion, "TLS 1.2 only");

    // Control: the same client offering TLS 1.3 is answered.
    let tls13 = probe(
        raw_client_config(&fed, &tls13_only(), Some(&shopco)),
        gateway.local_addr(),
    )
    .await;
    assert_http2_settings(&tls13, "TLS 1.3");
}

#[tokio::test]
async fn tls12_only_client_submits_when_the_gateway_allows_tls12() {
    let fed = Federation::standard();
    set_gateway_tls_option(&fed, NL, "allow_tls12", "true");
    assert!(fed.gateway_config(NL).tls.allow_tls12);
    let gateway = fed.start(NL).await;
    let addr = gateway.local_addr();
    let shopco = federation_identity(&fed, SHOPCO);
    let tls12_config = raw_client_config(&fed, &tls12_only(), Some(&shopco));

    // A bare handshake negotiates TLS 1.2 with h2.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = bounded(
        "TLS 1.2 handshake",
        tokio_rustls::TlsConnector::from(Arc::clone(&tls12_config)).connect(server_name(), tcp),
    )
    .await
    .expect("TLS 1.2 handshake completes");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    // A Submit over a TLS-1.2-only channel gets a verified receipt.
    let versions = Arc::new(Mutex::new(Vec::new()));
    let channel = bounded(
        "TLS 1.2 channel",
        channel_with(tls12_config, addr, Arc::clone(&versions)),
    )
    .await
    .expect("TLS 1.2 channel");
    let envelope = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("TLS12"))));
    let receipt = bounded(
        "submit over TLS 1.2",
        GatewayClient::new(channel).submit(envelope.clone()),
    )
    .await
    .expect("accepted over TLS 1.2")
    .into_inner();
    check_receipt(
        &receipt,
        &envelope,
        &fed.client_config(SHOPCO, &gateway).trust,
    );
    let seen = versions.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no connection was made");
    assert!(
        seen.iter().all(|v| *v == ProtocolVersion::TLSv1_2),
        "{seen:?}"
    );

    // A client offering both still gets TLS 1.3.
    let both = raw_client_config(
        &fed,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some(&shopco),
    );
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = bounded(
        "TLS 1.3 handshake",
        tokio_rustls::TlsConnector::from(both).connect(server_name(), tcp),
    )
    .await
    .expect("handshake");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
}

// ---------------------------------------------------------------------------------------
// 8. Keys made by other tools
// ---------------------------------------------------------------------------------------

/// RFC 8032 §7.1, TEST 1.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

fn ed25519_pkcs8_v1(seed: &[u8]) -> Vec<u8> {
    assert_eq!(seed.len(), 32);
    [hex::decode(ED25519_PKCS8_V1_PREFIX).unwrap(), seed.to_vec()].concat()
}

/// The seed of a ring-written PKCS#8 v2 Ed25519 key, checked against the public key the
/// document carries.
fn seed_of_ed25519_pkcs8_v2(der: &[u8]) -> Vec<u8> {
    assert_eq!(hex::encode(&der[..16]), ED25519_PKCS8_V2_PREFIX);
    assert_eq!(der.len(), 83, "v2 document with public key");
    let seed = der[16..48].to_vec();
    let from_seed = SigningKey::ed25519_from_seed(&seed).unwrap().public_key();
    assert_eq!(
        from_seed,
        SigningKey::from_pkcs8_der(der).unwrap().public_key()
    );
    assert_eq!(from_seed, der[der.len() - 32..].to_vec());
    seed
}

#[test]
fn ed25519_pkcs8_v1_key_loads_and_matches_its_seed() {
    let seed = hex::decode(RFC8032_SEED).unwrap();
    let pem = pem_block("PRIVATE KEY", &ed25519_pkcs8_v1(&seed));
    let key = SigningKey::from_pem(pem.as_bytes()).expect("PKCS#8 v1 Ed25519");
    assert_eq!(key.algorithm(), aedgate::core::crypto::Algorithm::Ed25519);
    assert_eq!(hex::encode(key.public_key()), RFC8032_PUBLIC);
    assert_eq!(hex::encode(key.sign(b"")), RFC8032_SIGNATURE);
    assert_eq!(
        key.public_key(),
        SigningKey::ed25519_from_seed(&seed).unwrap().public_key()
    );

    // A fresh key: v1 made from the v2 document's seed is the same key.
    let v2 = generate_ed25519_pkcs8().unwrap();
    let seed = seed_of_ed25519_pkcs8_v2(&v2);
    let v1 = SigningKey::from_pem(pem_block("PRIVATE KEY", &ed25519_pkcs8_v1(&seed)).as_bytes())
        .unwrap();
    let original = SigningKey::from_pkcs8_der(&v2).unwrap();
    assert_eq!(v1.public_key(), original.public_key());
    let message = b"aedgate/v1/envelope\0interop";
    assert!(original.verifying_key().verify(message, &v1.sign(message)));
}

#[test]
fn ecdsa_p256_sec1_key_loads_and_signs_verifiably() {
    use p256::ecdsa::signature::Verifier;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::DecodePrivateKey;

    let pkcs8 = generate_p256_pkcs8().unwrap();
    let secret = p256::SecretKey::from_pkcs8_der(&pkcs8).unwrap();
    let sec1_pem = secret
        .to_sec1_pem(p256::pkcs8::LineEnding::LF)
        .expect("SEC1 PEM");
    assert!(sec1_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let key = SigningKey::from_pem(sec1_pem.as_bytes()).expect("SEC1 P-256");
    assert_eq!(
        key.algorithm(),
        aedgate::core::crypto::Algorithm::EcdsaP256Sha256
    );
    let public = secret.public_key().to_encoded_point(false);
    assert_eq!(key.public_key(), public.as_bytes());
    assert_eq!(
        key.public_key(),
        SigningKey::from_pkcs8_der(&pkcs8).unwrap().public_key()
    );

    let message = b"aedgate/v1/receipt\0interop";
    let signature = key.sign(message);
    assert_eq!(signature.len(), 64);
    assert!(key.verifying_key().verify(message, &signature));
    // An independent verifier agrees, and a flipped bit is caught by both.
    let verifier = p256::ecdsa::VerifyingKey::from(secret.public_key());
    let parsed = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    verifier.verify(message, &parsed).expect("p256 verifies");
    let mut bad = signature.clone();
    bad[40] ^= 0x01;
    assert!(!key.verifying_key().verify(message, &bad));
    if let Ok(parsed) = p256::ecdsa::Signature::from_slice(&bad) {
        assert!(verifier.verify(message, &parsed).is_err());
    }
}

fn key_file(fed: &Federation, participant: &str, kind: &str) -> std::path::PathBuf {
    fed.file(&format!(
        "{}.{kind}.key",
        aedgate::core::ids::slug(participant)
    ))
}

fn pkcs8_der_of(path: &Path) -> Vec<u8> {
    match PrivateKeyDer::from_pem_file(path).expect("key PEM") {
        PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
        other => panic!("{}: expected PKCS#8, got {other:?}", path.display()),
    }
}

/// Rewrites a P-256 PKCS#8 key file (TLS or signing) as a SEC1 `EC PRIVATE KEY`.
fn rewrite_p256_as_sec1(path: &Path) {
    use p256::pkcs8::DecodePrivateKey;
    let secret = p256::SecretKey::from_pkcs8_der(&pkcs8_der_of(path)).expect("P-256 key");
    let pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
    std::fs::write(path, pem.as_bytes()).unwrap();
    assert!(matches!(
        PrivateKeyDer::from_pem_file(path).unwrap(),
        PrivateKeyDer::Sec1(_)
    ));
}

/// Rewrites a ring PKCS#8 v2 Ed25519 signing key file as PKCS#8 v1, returning the public
/// key it had.
fn rewrite_ed25519_as_pkcs8_v1(path: &Path) -> Vec<u8> {
    let v2 = pkcs8_der_of(path);
    let public = SigningKey::from_pkcs8_der(&v2).unwrap().public_key();
    let v1 = ed25519_pkcs8_v1(&seed_of_ed25519_pkcs8_v2(&v2));
    std::fs::write(path, pem_block("PRIVATE KEY", &v1)).unwrap();
    assert_eq!(pkcs8_der_of(path).len(), 48, "now a v1 document");
    public
}

#[tokio::test]
async fn keys_rewritten_in_other_encodings_work_end_to_end() {
    let fed = Federation::standard();
    // Gateway: SEC1 TLS key, PKCS#8 v1 signing key (receipts are signed with it).
    rewrite_p256_as_sec1(&key_file(&fed, NL, "tls"));
    let nl_public = rewrite_ed25519_as_pkcs8_v1(&key_file(&fed, NL, "sign"));
    // shopco: SEC1 TLS key, PKCS#8 v1 Ed25519 signing key.
    rewrite_p256_as_sec1(&key_file(&fed, SHOPCO, "tls"));
    let shopco_public = rewrite_ed25519_as_pkcs8_v1(&key_file(&fed, SHOPCO, "sign"));
    // flyfast: SEC1 TLS key and SEC1 ECDSA signing key.
    rewrite_p256_as_sec1(&key_file(&fed, FLYFAST, "tls"));
    let flyfast_public = fed.signing_key(FLYFAST).public_key();
    rewrite_p256_as_sec1(&key_file(&fed, FLYFAST, "sign"));

    let nl_config = fed.gateway_config(NL);
    assert!(matches!(nl_config.identity.key, PrivateKeyDer::Sec1(_)));
    assert_eq!(nl_config.signer.key.public_key(), nl_public);
    drop(nl_config);
    let gateway = fed.start(NL).await;

    for (participant, public) in [(SHOPCO, shopco_public), (FLYFAST, flyfast_public)] {
        let config = fed.client_config(participant, &gateway);
        assert!(
            matches!(config.identity.key, PrivateKeyDer::Sec1(_)),
            "{participant} uses the rewritten TLS key"
        );
        assert_eq!(config.signer.key.public_key(), public);
        // Participant::submit verifies the receipt against adm/NL's trust-list key.
        let receipt = connect_and_submit(config)
            .await
            .unwrap_or_else(|e| panic!("{participant}: {e}"));
        assert_eq!(receipt.disposition, Disposition::Accepted as i32);
    }
    assert_eq!(
        gateway.state().store.log_size().await.unwrap(),
        4,
        "two declarations and their outcomes"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Health and reflection
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn health_and_reflection_answer_over_mutual_tls() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = bounded("connect", fed.connect(SHOPCO, &gateway)).await;

    let mut health = HealthClient::new(shopco.channel());
    for service in ["", "aedgate.v1.Gateway"] {
        let response = bounded(
            "health check",
            health.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .unwrap_or_else(|s| panic!("health of {service:?}: {s:?}"))
        .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    // The health service distinguishes services: one it does not know is NOT_FOUND.
    let unknown = bounded(
        "health check",
        health.check(HealthCheckRequest {
            service: "aedgate.v1.NoSuchService".into(),
        }),
    )
    .await
    .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(shopco.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = bounded(
        "reflection",
        reflection.server_reflection_info(tokio_stream::iter(vec![request])),
    )
    .await
    .expect("reflection call")
    .into_inner();
    let response = bounded("reflection response", responses.message())
        .await
        .expect("reflection response")
        .expect("one response");
    let services: Vec<String> = match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected a service list, got {other:?}"),
    };
    for expected in [
        "aedgate.v1.Gateway",
        "aedgate.v1.Audit",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} missing from {services:?}"
        );
    }
}

#[tokio::test]
async fn an_authenticated_connection_that_never_speaks_http2_is_closed_at_the_deadline() {
    let fed = Federation::standard();
    set_gateway_tls_option(&fed, NL, "handshake_timeout_ms", "300");
    let gateway = fed.start(NL).await;
    let config = raw_client_config(
        &fed,
        &tls13_only(),
        Some(&federation_identity(&fed, SHOPCO)),
    );
    let tcp = bounded("TCP connect", TcpStream::connect(gateway.local_addr()))
        .await
        .expect("TCP connect");
    let mut tls = bounded(
        "TLS handshake",
        tokio_rustls::TlsConnector::from(config).connect(server_name(), tcp),
    )
    .await
    .expect("a partner's handshake completes");
    // Authenticated, then silent: no HTTP/2 preface. The gateway must not hold the
    // connection (and its memory) for ever; 5 s is generous against the 300 ms deadline.
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
            Err(_) => {
                panic!("an authenticated connection that sent nothing is still open after 5 s")
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => continue,
        }
    }
    // A partner that speaks is served as before.
    connect_and_submit(fed.client_config(SHOPCO, &gateway))
        .await
        .expect("a partner is served");
}
