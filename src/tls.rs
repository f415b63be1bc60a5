//! Mutual TLS: who is on the other end of a connection, proven by a certificate that chains
//! to a CA in the trust list and names the participant in its SPIFFE URI SAN (§1).
//!
//! The participant id comes from that SAN and nothing else (not the CN, not a header), and a
//! certificate without exactly one matching SAN fails the handshake itself, so no request
//! from an unidentified peer ever reaches a service. Handshakes run in their own tasks under
//! a deadline, so a slow or broken client cannot hold up anyone else's connection. The
//! server configuration sits in a `watch` channel: a new trust list or certificate is
//! picked up by the next handshake while established connections carry on.
//! Every rustls configuration is built with the ring provider passed in explicitly.

use crate::core::ids::is_participant_id;
use crate::core::trust::TrustList;
use crate::telemetry::{Counter, Telemetry};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Default deadline for a TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS material could not be loaded or a configuration built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trust list's CAs could not be used as roots.
    #[error("trust list CAs unusable: {0}")]
    Roots(String),
    /// A certificate does not carry exactly one SPIFFE URI SAN of this federation.
    #[error("certificate identity: {0}")]
    Identity(String),
}

/// Settings an operator may change.
#[derive(Clone, Copy, Debug)]
pub struct TlsSettings {
    /// Also offer TLS 1.2 (ECDHE with AEAD suites only, which is all the ring provider has).
    pub allow_tls12: bool,
    /// Deadline for a handshake.
    pub handshake_timeout: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            allow_tls12: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// The crypto provider used everywhere: ring, and only ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// PKCS#8, SEC1 or PKCS#1.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    /// Loads a PEM chain (leaf first) and a PEM private key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                path: cert_path.display().to_string(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                path: cert_path.display().to_string(),
                reason: "no CERTIFICATE block".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            path: key_path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self { chain, key })
    }
}

/// The participant id named by a certificate's SPIFFE URI SAN (`spiffe://<federation>/<id>`).
/// Exactly one URI SAN is allowed, so that a certificate can never speak for two parties.
pub fn spiffe_participant(cert: &CertificateDer<'_>, federation: &str) -> Result<String, TlsError> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::Identity(format!("unparseable certificate: {e}")))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| TlsError::Identity(format!("bad subjectAltName: {e}")))?
        .ok_or_else(|| TlsError::Identity("certificate has no subjectAltName".into()))?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    let [uri] = uris.as_slice() else {
        return Err(TlsError::Identity(format!(
            "certificate has {} URI SANs, exactly one is required",
            uris.len()
        )));
    };
    let prefix = format!("spiffe://{federation}/");
    let id = uri.strip_prefix(&prefix).ok_or_else(|| {
        TlsError::Identity(format!(
            "URI SAN {uri:?} is not a SPIFFE id of federation {federation}"
        ))
    })?;
    if !is_participant_id(id) {
        return Err(TlsError::Identity(format!(
            "URI SAN {uri:?} does not name a valid participant id"
        )));
    }
    Ok(id.to_owned())
}

fn roots(trust: &TrustList) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for ca in trust.ca_certificates() {
        store
            .add(ca.clone())
            .map_err(|e| TlsError::Roots(e.to_string()))?;
    }
    Ok(Arc::new(store))
}

fn versions(settings: &TlsSettings) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    static TLS13_AND_12: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    if settings.allow_tls12 {
        TLS13_AND_12
    } else {
        TLS13_ONLY
    }
}

fn identity_error(cause: TlsError) -> rustls::Error {
    tracing::info!(%cause, "refused peer certificate");
    rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
}

/// Client certificates must chain to the trust list and carry one SPIFFE SAN of the
/// federation.
#[derive(Debug)]
struct SpiffeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    federation: String,
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        spiffe_participant(end_entity, &self.federation).map_err(identity_error)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Server certificates must chain to the trust list, match the dialled host name (standard
/// WebPKI check) and name the expected participant in their SPIFFE SAN.
#[derive(Debug)]
struct SpiffeServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    federation: String,
    expected: String,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let id = spiffe_participant(end_entity, &self.federation).map_err(identity_error)?;
        if id != self.expected {
            return Err(identity_error(TlsError::Identity(format!(
                "server is {id}, expected {}",
                self.expected
            ))));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The gateway's server configuration: client certificates required, chained to the trust
/// list's CAs, with a SPIFFE SAN of `federation`.
pub fn server_config(
    identity: &Identity,
    trust: &TrustList,
    federation: &str,
    settings: &TlsSettings,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let inner = WebPkiClientVerifier::builder_with_provider(roots(trust)?, provider.clone())
        .build()
        .map_err(|e| TlsError::Roots(e.to_string()))?;
    let verifier = Arc::new(SpiffeClientVerifier {
        inner,
        federation: federation.to_owned(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(settings))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that presents `identity` and accepts only a server whose
/// certificate names `expected_server` (an administration's participant id).
pub fn client_config(
    identity: &Identity,
    trust: &TrustList,
    federation: &str,
    expected_server: &str,
    settings: &TlsSettings,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(roots(trust)?, provider.clone())
        .build()
        .map_err(|e| TlsError::Roots(e.to_string()))?;
    let verifier = Arc::new(SpiffeServerVerifier {
        inner,
        federation: federation.to_owned(),
        expected: expected_server.to_owned(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(settings))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The participant a connection was authenticated as; tonic places it in every request's
/// extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Participant id from the client certificate's SPIFFE SAN.
    pub participant: String,
}

/// A server-side TLS connection whose peer has been identified.
#[derive(Debug)]
pub struct AuthenticatedStream {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    peer: PeerIdentity,
    /// Until the peer's first byte after the handshake (its HTTP/2 preface): when it
    /// passes first, reads fail and the connection is closed. HTTP/2 servers wait for the
    /// preface for ever, so an authenticated peer could otherwise hold connections (and
    /// their buffers) open without sending anything.
    first_byte_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Counts this connection against its participant's limit until it closes.
    _connection: crate::limits::Permit,
}

impl tonic::transport::server::Connected for AuthenticatedStream {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for AuthenticatedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        match (&read, self.first_byte_deadline.as_mut()) {
            (_, None) => read,
            (Poll::Ready(_), Some(_)) => {
                if buf.filled().len() > before {
                    self.first_byte_deadline = None;
                }
                read
            }
            (Poll::Pending, Some(deadline)) => {
                match std::future::Future::poll(deadline.as_mut(), cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer sent nothing after the handshake within the deadline",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for AuthenticatedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections and runs each handshake in its own task under a deadline,
/// yielding only connections whose peer is identified. Ends when `listener` errors fatally
/// or the receiver is dropped.
pub fn accept_loop(
    listener: TcpListener,
    config: watch::Receiver<Arc<ServerConfig>>,
    federation: String,
    handshake_timeout: Duration,
    limits: Arc<crate::limits::ParticipantLimits>,
    telemetry: Arc<Telemetry>,
) -> mpsc::Receiver<Result<AuthenticatedStream, io::Error>> {
    let (tx, rx) = mpsc::channel(128);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // EMFILE and friends: back off briefly rather than spin or die.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = tx.closed() => return,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(config.borrow().clone());
            let tx = tx.clone();
            let federation = federation.clone();
            let telemetry = telemetry.clone();
            let limits = limits.clone();
            tokio::spawn(async move {
                let refused = |why: &str| telemetry.count(Counter::HandshakeFailures, why);
                let stream =
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::info!(%remote, %error, "TLS handshake failed");
                            refused("failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%remote, "TLS handshake timed out");
                            refused("timed_out");
                            return;
                        }
                    };
                let participant = match stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                {
                    Some(leaf) => match spiffe_participant(leaf, &federation) {
                        Ok(id) => id,
                        Err(error) => {
                            tracing::info!(%remote, %error, "peer not identified");
                            refused("unidentified");
                            return;
                        }
                    },
                    None => {
                        refused("unidentified");
                        return;
                    }
                };
                let connection = match limits.open_connection(&participant) {
                    Ok(permit) => permit,
                    Err(limited) => {
                        // Closed before HTTP/2 starts: it holds nothing.
                        tracing::info!(%remote, "connection closed: {limited}");
                        refused("too_many_connections");
                        return;
                    }
                };
                telemetry.count(Counter::Handshakes, "");
                tracing::debug!(%remote, %participant, "connection authenticated");
                let _ = tx
                    .send(Ok(AuthenticatedStream {
                        inner: stream,
                        peer: PeerIdentity { participant },
                        first_byte_deadline: Some(Box::pin(tokio::time::sleep(handshake_timeout))),
                        _connection: connection,
                    }))
                    .await;
            });
        }
    });
    rx
}

/// Dials `host:port`, handshakes with `config` and returns the stream ready for HTTP/2.
pub async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let server_name = ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad server name {host:?}: {e}"),
        )
    })?;
    let attempt = async {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        tokio_rustls::TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS connect timed out"))?
}
