//! Why an envelope was refused: the rows of §3's table as one typed enum.
//!
//! Every rejection carries the gRPC status and `ErrorInfo` reason the contract assigns it,
//! so that the unary path, the stream path and the conformance kit all derive them from the
//! same place and cannot disagree.

/// The gRPC status codes of §3's table. Core names them itself so that the rules do not
/// depend on a gRPC library; the service layer maps them to its library's codes, in one
/// place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCode {
    /// `INVALID_ARGUMENT`.
    InvalidArgument,
    /// `PERMISSION_DENIED`.
    PermissionDenied,
    /// `UNAUTHENTICATED`.
    Unauthenticated,
    /// `FAILED_PRECONDITION`.
    FailedPrecondition,
    /// `ALREADY_EXISTS`.
    AlreadyExists,
    /// `UNIMPLEMENTED`.
    Unimplemented,
}

/// Domain of every `google.rpc.ErrorInfo` this gateway emits.
pub const ERROR_DOMAIN: &str = "aedgate";

/// One field that failed §7 validation, with the path a partner's system can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Proto field path, e.g. `items[2].hs_code`.
    pub field: String,
    /// What is wrong, for a person.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Most violations one rejection lists: enough to fix a file in one go, bounded so that a
/// declaration of 999 bad items cannot turn into a megabyte of error details. The list
/// travels in a trailer, and default gRPC clients (grpc-go, grpcio, tonic) refuse header
/// blocks above 8 KiB: 100 violations came to about 7.5 KB and some clients saw
/// RESOURCE_EXHAUSTED instead of the error; 50 stay under 4 KiB.
pub const MAX_VIOLATIONS: usize = 50;

/// Longest text of anyone else's quoted in an error or a log line, in characters.
pub const MAX_QUOTED_CHARS: usize = 120;

/// At most `max` characters of `text`, with an ellipsis when cut: what an error or a log
/// line may quote of text it did not write (a partner's identifier, a description), so
/// that a megabyte of it never becomes a megabyte of error or log.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Violations collected by a validator, capped at [`MAX_VIOLATIONS`] plus one entry
/// (field "") that counts the ones left out. Shared by every validator so that all
/// rejections are bounded the same way.
#[derive(Debug, Default)]
pub struct Violations {
    list: Vec<FieldViolation>,
    omitted: usize,
}

impl Violations {
    /// Records a violation; the path and description are only formatted when it is listed.
    pub fn add(&mut self, field: impl std::fmt::Display, description: impl std::fmt::Display) {
        if self.list.len() < MAX_VIOLATIONS {
            self.list.push(FieldViolation::new(
                field.to_string(),
                description.to_string(),
            ));
        } else {
            self.omitted += 1;
        }
    }

    /// The list, with the count of omitted violations at the end if any were.
    pub fn finish(mut self) -> Vec<FieldViolation> {
        if self.omitted > 0 {
            self.list.push(FieldViolation::new(
                "",
                format!(
                    "{} more violation(s) omitted; only the first {MAX_VIOLATIONS} are listed",
                    self.omitted
                ),
            ));
        }
        self.list
    }
}

/// A refused envelope, in §3's order of checks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Header missing, ids malformed, digest not 32 bytes, payload too large, no signature.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// `sender` is not the participant the TLS certificate identifies.
    #[error("sender {sender:?} does not match the TLS identity {peer:?}")]
    SenderMismatch {
        /// Claimed sender.
        sender: String,
        /// Participant id from the client certificate.
        peer: String,
    },
    /// The envelope is addressed to someone other than this gateway.
    #[error("recipient {recipient:?} is not this gateway's administration {gateway:?}")]
    UnknownRecipient {
        /// Addressed recipient.
        recipient: String,
        /// This gateway.
        gateway: String,
    },
    /// The payload is not the one the header commits to.
    #[error("SHA-256 of the payload does not equal payload_sha256")]
    PayloadDigestMismatch,
    /// The key id is not one of the sender's keys.
    #[error("key {key_id:?} is not a key of {sender:?} in the trust list")]
    UnknownKey {
        /// Claimed key.
        key_id: String,
        /// Sender.
        sender: String,
    },
    /// The key exists but its window excludes `created_at_ms`.
    #[error("key {key_id:?} is not valid at created_at_ms {created_at_ms}")]
    KeyNotValid {
        /// Claimed key.
        key_id: String,
        /// The envelope's creation time.
        created_at_ms: i64,
    },
    /// The signature does not verify.
    #[error("signature does not verify with key {key_id:?}")]
    SignatureInvalid {
        /// Key used.
        key_id: String,
    },
    /// The envelope claims to be created too far in the future.
    #[error("created_at_ms is {ahead_ms} ms ahead of the receiver's clock (limit {limit_ms} ms)")]
    ClockSkew {
        /// How far ahead.
        ahead_ms: i64,
        /// The allowed skew.
        limit_ms: i64,
    },
    /// The sender's role may not send this type to this recipient (§5).
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// The payload does not decode or validate (§7).
    #[error("payload failed validation ({} violation(s))", .0.len())]
    ValidationFailed(Vec<FieldViolation>),
    /// The message id was used before for a different envelope.
    #[error("message_id {message_id} was already used for a different envelope")]
    MessageIdConflict {
        /// The reused id.
        message_id: String,
    },
    /// An amendment, invalidation or referral response for a declaration that had a Do Not
    /// Load or was invalidated (§5).
    #[error("declaration {declaration_id} is closed ({state}); it takes no further messages")]
    DeclarationClosed {
        /// The declaration.
        declaration_id: String,
        /// Its final state.
        state: String,
    },
    /// `correlation_id` names no declaration of this sender at this gateway.
    #[error("no declaration {declaration_id} from this sender is known here")]
    UnknownDeclaration {
        /// The claimed declaration id.
        declaration_id: String,
    },
    /// A referral response names a referral this gateway never issued to the sender, or not
    /// through the OUTCOME named in `correlation_id`.
    #[error("referral {referral_id:?} is unknown: {detail}")]
    UnknownReferral {
        /// The referral id answered.
        referral_id: String,
        /// Which part did not match.
        detail: String,
    },
    /// The referral was already answered, or superseded by an amendment or invalidation.
    #[error("referral {referral_id} is not open: {detail}")]
    ReferralNotOpen {
        /// The referral id answered.
        referral_id: String,
        /// Why it is closed.
        detail: String,
    },
    /// A return notice for a declaration whose goods were never released, or were all
    /// returned already (§12).
    #[error("declaration {declaration_id} is {state}: only released goods can be returned")]
    NotReleased {
        /// The declaration.
        declaration_id: String,
        /// Its state.
        state: String,
    },
    /// A return notice created more than 90 days after the release, or for goods that left
    /// before they were released (§12).
    #[error("declaration {declaration_id}: {detail}")]
    ReturnPeriodExpired {
        /// The declaration.
        declaration_id: String,
        /// Which bound the notice is outside.
        detail: String,
    },
    /// The gateway does not process this message type yet.
    #[error("message type {0} is not processed by this gateway")]
    TypeNotSupported(String),
}

impl Rejection {
    /// The gRPC status code of §3's table.
    pub fn code(&self) -> StatusCode {
        match self {
            Rejection::Malformed(_)
            | Rejection::UnknownRecipient { .. }
            | Rejection::PayloadDigestMismatch
            | Rejection::ValidationFailed(_) => StatusCode::InvalidArgument,
            Rejection::SenderMismatch { .. } | Rejection::NotAuthorized(_) => {
                StatusCode::PermissionDenied
            }
            Rejection::UnknownKey { .. }
            | Rejection::KeyNotValid { .. }
            | Rejection::SignatureInvalid { .. } => StatusCode::Unauthenticated,
            Rejection::ClockSkew { .. }
            | Rejection::DeclarationClosed { .. }
            | Rejection::UnknownDeclaration { .. }
            | Rejection::UnknownReferral { .. }
            | Rejection::ReferralNotOpen { .. }
            | Rejection::NotReleased { .. }
            | Rejection::ReturnPeriodExpired { .. } => StatusCode::FailedPrecondition,
            Rejection::MessageIdConflict { .. } => StatusCode::AlreadyExists,
            Rejection::TypeNotSupported(_) => StatusCode::Unimplemented,
        }
    }

    /// The `google.rpc.ErrorInfo` reason of §3's table.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "MALFORMED",
            Rejection::SenderMismatch { .. } => "SENDER_MISMATCH",
            Rejection::UnknownRecipient { .. } => "UNKNOWN_RECIPIENT",
            Rejection::PayloadDigestMismatch => "PAYLOAD_DIGEST_MISMATCH",
            Rejection::UnknownKey { .. } => "UNKNOWN_KEY",
            Rejection::KeyNotValid { .. } => "KEY_NOT_VALID",
            Rejection::SignatureInvalid { .. } => "SIGNATURE_INVALID",
            Rejection::ClockSkew { .. } => "CLOCK_SKEW",
            Rejection::NotAuthorized(_) => "NOT_AUTHORIZED",
            Rejection::ValidationFailed(_) => "VALIDATION_FAILED",
            Rejection::MessageIdConflict { .. } => "MESSAGE_ID_CONFLICT",
            Rejection::DeclarationClosed { .. } => "DECLARATION_CLOSED",
            Rejection::UnknownDeclaration { .. } => "UNKNOWN_DECLARATION",
            Rejection::UnknownReferral { .. } => "UNKNOWN_REFERRAL",
            Rejection::ReferralNotOpen { .. } => "REFERRAL_NOT_OPEN",
            Rejection::NotReleased { .. } => "NOT_RELEASED",
            Rejection::ReturnPeriodExpired { .. } => "RETURN_PERIOD_EXPIRED",
            Rejection::TypeNotSupported(_) => "TYPE_NOT_SUPPORTED",
        }
    }
}
