//! What the commands share: loading a client configuration and connecting with it, reading
//! and writing the files they are given, and submitting one envelope with its receipt or
//! refusal printed. Every command that talks to a gateway goes through [`connect`] and
//! [`send`], so that all of them report receipts and refusals alike.

use super::exit::{CliError, Verdict};
use crate::client::{ClientError, Participant};
use crate::config::ClientConfig;
use crate::formats::FormatError;
use crate::proto::v1::{AdvanceDeclaration, Envelope, MessageType, Receipt};
use crate::render::{describe_receipt, describe_refusal};
use bytes::Bytes;
use prost::Message;
use std::path::Path;

/// Loads a client configuration (TOML, as written by `aedgate pki init`).
pub(super) fn load_client(config: &Path) -> Result<ClientConfig, CliError> {
    Ok(ClientConfig::load(config)?)
}

/// Connects as the configured participant; also returns the trust list version, which
/// receipts are reported against.
pub(super) async fn connect(config: &Path) -> Result<(Participant, u64), CliError> {
    let config = load_client(config)?;
    let trust_version = config.trust.version();
    let participant = Participant::connect(config).await?;
    Ok((participant, trust_version))
}

/// A file named on the command line, as text.
pub(super) fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A file named on the command line, as bytes (evidence files may be protobuf).
pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The error for a file that is not of its form, naming the file.
pub(super) fn not_of_form(path: &Path) -> impl FnOnce(FormatError) -> CliError + '_ {
    move |source| CliError::Format {
        path: path.to_owned(),
        source,
    }
}

/// A declaration file in its JSON form (docs/declaration-json.md).
pub(super) fn read_declaration(path: &Path) -> Result<AdvanceDeclaration, CliError> {
    crate::formats::declaration::from_json(&read_text(path)?).map_err(not_of_form(path))
}

/// Writes a file whole: write-then-rename, so that a crash never leaves half a head or
/// receipt behind.
pub(super) fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|source| CliError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Submits one envelope and prints `label: receipt` ([`Verdict::Positive`]) or
/// `label: refusal` ([`Verdict::Negative`]). Returns the receipt, if any, for callers that
/// print more.
pub(super) async fn send(
    participant: &mut Participant,
    envelope: Envelope,
    label: &str,
    trust_version: u64,
    receipt_out: Option<&Path>,
) -> Result<(Verdict, Option<Receipt>), CliError> {
    match participant.submit(envelope).await {
        Ok(receipt) => {
            // The evidence is on disk before anything is printed.
            if let Some(path) = receipt_out {
                write_file(path, &crate::formats::audit::receipt_to_json(&receipt))?;
            }
            println!("{label}: {}", describe_receipt(&receipt, trust_version));
            Ok((Verdict::Positive, Some(receipt)))
        }
        Err(ClientError::Refused(status)) => {
            println!("{label}: {}", describe_refusal(&status));
            Ok((Verdict::Negative, None))
        }
        Err(other) => Err(other.into()),
    }
}

/// Seals `payload` as a `message_type` message about `correlation_id` (empty when it is
/// about nothing earlier) and [`send`]s it.
pub(super) async fn seal_and_send(
    participant: &mut Participant,
    trust_version: u64,
    message_type: MessageType,
    payload: &impl Message,
    correlation_id: &str,
    label: &str,
) -> Result<(Verdict, Option<Receipt>), CliError> {
    let envelope = participant.seal(
        message_type,
        Bytes::from(payload.encode_to_vec()),
        correlation_id,
    );
    send(participant, envelope, label, trust_version, None).await
}

/// Connects as the participant of `config` and [`seal_and_send`]s one message: the whole
/// of the commands that file one message and report its receipt or refusal.
pub(super) async fn submit_message(
    config: &Path,
    message_type: MessageType,
    payload: &impl Message,
    correlation_id: &str,
    label: &str,
) -> Result<(Verdict, Option<Receipt>), CliError> {
    let (mut participant, trust_version) = connect(config).await?;
    seal_and_send(
        &mut participant,
        trust_version,
        message_type,
        payload,
        correlation_id,
        label,
    )
    .await
}
