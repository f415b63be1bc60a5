//! What a partner (or an administration's internal system) runs to talk to a gateway:
//! a mutual-TLS gRPC channel that only accepts the addressed administration's certificate,
//! envelope sealing with the participant's key, and receipt verification against the
//! trust list, so that every receipt the client reports is checked evidence; and, in
//! `deliveries`, what it fetches checked the same way before anyone acts on it.

mod deliveries;

pub use deliveries::{
    check_delivery, check_signature, fold_indicators, outcome_of, ListedIndicator,
};

use crate::clock::now_ms;
use crate::config::{ClientConfig, Signer};
use crate::core::audit::{
    verify_head_consistency, verify_receipt_in_log, verify_tree_head, AuditProblem,
};
use crate::core::envelope::{envelope_digest, seal, Draft};
use crate::core::merkle::Hash;
use crate::core::receipt::{verify_receipt, ReceiptProblem};
use crate::core::trust::TrustList;
use crate::proto::v1::audit_client::AuditClient;
use crate::proto::v1::gateway_client::GatewayClient;
use crate::proto::v1::{
    AdvanceDeclaration, ConsistencyProofRequest, Envelope, InclusionProofRequest, MessageType,
    Receipt, SignedTreeHead, SubmitResult, TreeHeadRequest,
};
use crate::tls::{Identity, TlsError, TlsSettings};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not `https://host:port`.
    #[error("bad endpoint {0:?}: expected https://host:port")]
    Endpoint(String),
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection could not be made. The message names the innermost cause (a refused
    /// connection, a certificate the trust list does not vouch for, ...): tonic's own is
    /// only "transport error".
    #[error("cannot connect to {endpoint}: {}", causes(source))]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The gateway refused the call.
    #[error("{} ({}): {}", .0.code(), crate::client::reason_of(.0).unwrap_or_default(), .0.message())]
    Refused(tonic::Status),
    /// The gateway answered with a receipt that is not valid evidence.
    #[error("receipt is not valid evidence: {0}")]
    BadReceipt(#[from] ReceiptProblem),
    /// A tree head or proof from the gateway does not prove what it should: the log is not
    /// what the gateway claims (or the receipt is not in it).
    #[error("audit check failed: {0}")]
    Audit(#[from] AuditProblem),
}

/// An error and its sources, joined, without repeating a source's text that its parent
/// already includes.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// The `ErrorInfo` reason of a status, if it carries one.
pub fn reason_of(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

/// Splits `https://host:port` into host and port.
pub fn parse_endpoint(endpoint: &str) -> Result<(String, u16), ClientError> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| ClientError::Endpoint(endpoint.into()))?;
    if uri.scheme_str() != Some("https") {
        return Err(ClientError::Endpoint(endpoint.into()));
    }
    let host = uri
        .host()
        .ok_or_else(|| ClientError::Endpoint(endpoint.into()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, uri.port_u16().unwrap_or(443)))
}

/// Opens a mutual-TLS HTTP/2 channel to `endpoint`, accepting only a server certificate that
/// names `expected_server`.
pub async fn channel(
    endpoint: &str,
    expected_server: &str,
    identity: &Identity,
    trust: &TrustList,
    federation: &str,
    settings: &TlsSettings,
) -> Result<Channel, ClientError> {
    let (host, port) = parse_endpoint(endpoint)?;
    let tls = crate::tls::client_config(identity, trust, federation, expected_server, settings)?;
    let timeout = settings.handshake_timeout;
    let connector = tower::service_fn(move |_uri: http::Uri| {
        let tls = Arc::clone(&tls);
        let host = host.clone();
        async move {
            crate::tls::connect(tls, &host, port, timeout)
                .await
                .map(TokioIo::new)
        }
    });
    Endpoint::from_shared(endpoint.to_owned())
        .map_err(|_| ClientError::Endpoint(endpoint.into()))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_with_connector(connector)
        .await
        .map_err(|source| ClientError::Connect {
            endpoint: endpoint.into(),
            source,
        })
}

/// A connected participant.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Who this client is.
    pub id: String,
    /// The administration it talks to.
    pub gateway: String,
    signer: Arc<Signer>,
    trust: Arc<TrustList>,
    channel: Channel,
    client: GatewayClient<Channel>,
}

impl Participant {
    /// Connects as described by a client configuration.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let channel = channel(
            &config.endpoint,
            &config.gateway,
            &config.identity,
            &config.trust,
            &config.trust_source.federation,
            &config.tls,
        )
        .await?;
        Ok(Self {
            id: config.participant,
            gateway: config.gateway,
            signer: Arc::new(config.signer),
            trust: Arc::new(config.trust),
            client: GatewayClient::new(channel.clone()).max_decoding_message_size(16 * 1024 * 1024),
            channel,
        })
    }

    /// The raw generated client, for calls this type does not wrap.
    pub fn grpc(&self) -> GatewayClient<Channel> {
        self.client.clone()
    }

    /// The underlying HTTP/2 channel, for other services (Audit, health) on the same gateway.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The key id this client signs with, for envelopes crafted by hand (the conformance
    /// kit signs with other keys under this id to see that the gateway notices).
    pub fn key_id(&self) -> &str {
        &self.signer.key_id
    }

    /// The trust list this client verifies against.
    pub fn trust(&self) -> &TrustList {
        &self.trust
    }

    /// Seals a payload into a signed envelope addressed to the gateway, with a fresh UUIDv7
    /// message id and the current time.
    pub fn seal(
        &self,
        message_type: MessageType,
        payload: Bytes,
        correlation_id: &str,
    ) -> Envelope {
        self.sign(Draft {
            message_id: uuid::Uuid::now_v7().hyphenated().to_string(),
            sender: self.id.clone(),
            recipient: self.gateway.clone(),
            message_type: message_type as i32,
            created_at_ms: now_ms(),
            correlation_id: correlation_id.to_owned(),
            payload,
        })
    }

    /// Signs any draft with this participant's key, whatever its header says (tests, the
    /// demo and the conformance kit use this to show what the gateway does with envelopes
    /// a well-behaved client would never send).
    pub fn sign(&self, draft: Draft) -> Envelope {
        seal(draft, &self.signer.key, &self.signer.key_id)
    }

    /// Seals a declaration.
    pub fn seal_declaration(&self, declaration: &AdvanceDeclaration) -> Envelope {
        self.seal(
            MessageType::Declaration,
            Bytes::from(declaration.encode_to_vec()),
            "",
        )
    }

    /// Submits an envelope and verifies the receipt.
    pub async fn submit(&mut self, envelope: Envelope) -> Result<Receipt, ClientError> {
        let receipt = self
            .client
            .submit(envelope.clone())
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        self.check_receipt(&envelope, &receipt)?;
        Ok(receipt)
    }

    /// Submits envelopes over one SubmitStream and returns the results in order, each
    /// receipt verified.
    pub async fn submit_stream(
        &mut self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Result<Receipt, ClientError>>, ClientError> {
        let outbound = tokio_stream::iter(envelopes.clone());
        let mut inbound = self
            .client
            .submit_stream(outbound)
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        let mut results = Vec::with_capacity(envelopes.len());
        for envelope in &envelopes {
            let next: Option<SubmitResult> =
                inbound.message().await.map_err(ClientError::Refused)?;
            let result = match next.and_then(|r| r.result) {
                Some(crate::proto::v1::submit_result::Result::Receipt(receipt)) => self
                    .check_receipt(envelope, &receipt)
                    .map(|()| receipt)
                    .map_err(ClientError::from),
                Some(crate::proto::v1::submit_result::Result::Error(status)) => {
                    Err(ClientError::Refused(status_from_rpc(status)))
                }
                None => Err(ClientError::Refused(tonic::Status::internal(
                    "stream ended before every result",
                ))),
            };
            results.push(result);
        }
        Ok(results)
    }

    /// Verifies that `receipt` is valid evidence for `envelope`.
    pub fn check_receipt(
        &self,
        envelope: &Envelope,
        receipt: &Receipt,
    ) -> Result<(), ReceiptProblem> {
        let header = envelope.header.clone().unwrap_or_default();
        verify_receipt(
            receipt,
            &header.message_id,
            &envelope_digest(&header),
            &self.gateway,
            &self.trust,
        )
    }
}

/// The audit calls a partner or witness makes (§9): each returns only what it verified.
impl Participant {
    fn audit(&self) -> AuditClient<Channel> {
        AuditClient::new(self.channel.clone())
    }

    /// The gateway's current tree head, its signature verified against the trust list.
    pub async fn tree_head(&self) -> Result<(SignedTreeHead, Hash), ClientError> {
        let head = self
            .audit()
            .tree_head(TreeHeadRequest {})
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        let root = verify_tree_head(&head, &self.gateway, &self.trust)?;
        Ok((head, root))
    }

    /// Proves that `receipt` (from this gateway) is in its log: the receipt's signature, a
    /// fresh signed head, and the inclusion proof of its leaf under that head. Returns the
    /// head, which a witness keeps to check later heads against.
    pub async fn prove_receipt(&self, receipt: &Receipt) -> Result<SignedTreeHead, ClientError> {
        if receipt.receiver != self.gateway {
            return Err(AuditProblem::WrongLog {
                expected: self.gateway.clone(),
                found: receipt.receiver.clone(),
            }
            .into());
        }
        // The receipt's own signature first: a forged receipt is named as such, whatever
        // the gateway answers about its log index.
        verify_receipt(
            receipt,
            &receipt.message_id,
            &receipt.envelope_digest,
            &receipt.receiver,
            &self.trust,
        )?;
        let (head, _) = self.tree_head().await?;
        let proof = self
            .audit()
            .inclusion_proof(InclusionProofRequest {
                leaf_index: receipt.log_index,
                tree_size: head.tree_size,
            })
            .await
            .map_err(ClientError::Refused)?
            .into_inner();
        verify_receipt_in_log(receipt, &proof, &head, &self.trust)?;
        Ok(head)
    }

    /// Fetches a fresh signed head and proves it extends `earlier` (a head of the same
    /// gateway seen before). Returns the new head once it is verified.
    pub async fn extend_head(
        &self,
        earlier: &SignedTreeHead,
    ) -> Result<SignedTreeHead, ClientError> {
        let (head, _) = self.tree_head().await?;
        self.check_extends(earlier, &head).await?;
        Ok(head)
    }

    /// Proves that `later` (a verified head of this gateway) extends `earlier`: what a
    /// witness checks at each step. Kept apart from fetching the head so that a witness can
    /// keep a head that fails, signed, as evidence.
    pub async fn check_extends(
        &self,
        earlier: &SignedTreeHead,
        later: &SignedTreeHead,
    ) -> Result<(), ClientError> {
        verify_tree_head(earlier, &self.gateway, &self.trust)?;
        let proof = if earlier.tree_size == 0 || later.tree_size <= earlier.tree_size {
            // Nothing to ask for: equal sizes compare roots, a smaller head is a rollback.
            Default::default()
        } else {
            self.audit()
                .consistency_proof(ConsistencyProofRequest {
                    first: earlier.tree_size,
                    second: later.tree_size,
                })
                .await
                .map_err(ClientError::Refused)?
                .into_inner()
        };
        verify_head_consistency(earlier, later, &proof)?;
        Ok(())
    }
}

/// Rebuilds a `tonic::Status` (with its details) from a per-envelope `google.rpc.Status`.
pub fn status_from_rpc(status: crate::proto::google::rpc::Status) -> tonic::Status {
    let code = tonic::Code::from_i32(status.code);
    let message = status.message.clone();
    tonic::Status::with_details(code, message, Bytes::from(status.encode_to_vec()))
}
