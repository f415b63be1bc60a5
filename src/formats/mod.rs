//! The files people write and read: declarations and risk indicators written by hand or
//! exported from other systems, receipts and signed tree heads kept as evidence.
//!
//! The wire carries protobuf, but people keep, review and diff text, so each of these has a
//! JSON form with the proto's field names and strict reading (an unknown key is an error).
//! The forms differ in what they check; they share what a person who gave a command the
//! wrong file needs: one error type that says which form was expected, whether the text was
//! JSON at all, and where the mistake is.

/// Ties a JSON enum (written by its short name) to the proto enum it stands for: every
/// JSON name is the proto variant of the same name, and the proto numbers without a JSON
/// name (`..._UNSPECIFIED`, numbers outside the contract, values that are no choice in
/// this form) are written as absent. Declared once here so that the forms cannot drift
/// apart in how they treat unnamed numbers.
macro_rules! json_names {
    ($json:ident => $proto:ident { $($variant:ident),+ $(,)? }) => {
        impl From<$json> for $proto {
            fn from(name: $json) -> Self {
                match name {
                    $($json::$variant => $proto::$variant,)+
                }
            }
        }

        impl $json {
            /// The name of a wire number, or `None` for a number without one here.
            fn of(value: i32) -> Option<Self> {
                match $proto::try_from(value).ok()? {
                    $($proto::$variant => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

pub mod audit;
pub mod declaration;
pub mod indicator;
pub mod return_notice;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::error::Category;

/// Which form a file was read as. It is part of every error, because the same mistake
/// (an unknown key, say) means something else in a declaration than in a receipt, and the
/// message names the documentation of the form that was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// An advance declaration (docs/declaration-json.md).
    Declaration,
    /// A risk indicator (docs/indicator-json.md).
    Indicator,
    /// A return notice (docs/return-json.md).
    ReturnNotice,
    /// A receipt or signed tree head kept as evidence (docs/auditing.md).
    Evidence,
}

/// Why a file is not of the form it was read as. One type for every form, because every
/// caller reports it alike: the file, the reason, and for JSON the line and column.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The text is not JSON of the form. serde_json's own classification
    /// ([`FormatError::category`]) tells text that is not JSON at all (`Syntax`, `Eof`) from
    /// JSON of another shape (`Data`: an unknown or missing key, a value of the wrong type,
    /// an unknown enum name), which the message words differently.
    #[error("{}", json_message(*.form, .error))]
    Json {
        /// The form expected.
        form: Form,
        /// serde_json's error, with its position.
        error: serde_json::Error,
    },
    /// The file is neither JSON nor the protobuf encoding of the message (evidence files
    /// may hold either).
    #[error("neither JSON nor a protobuf message: {0}")]
    Protobuf(prost::DecodeError),
    /// The file is empty (or only whitespace); protobuf would read that as an all-default
    /// message, which is never what was saved.
    #[error("the file is empty")]
    Empty,
}

impl FormatError {
    /// serde_json's classification of a JSON error, `None` when the file was not read as
    /// JSON: callers that treat a typo differently from a misunderstanding of the form
    /// match on this.
    pub fn category(&self) -> Option<Category> {
        match self {
            Self::Json { error, .. } => Some(error.classify()),
            Self::Protobuf(_) | Self::Empty => None,
        }
    }

    /// The 1-based line of the error, so that an editor can jump to it; 0 when it has no
    /// position (not JSON).
    pub fn line(&self) -> usize {
        match self {
            Self::Json { error, .. } => error.line(),
            Self::Protobuf(_) | Self::Empty => 0,
        }
    }

    /// The 1-based column of the error; 0 when it has no position (not JSON).
    pub fn column(&self) -> usize {
        match self {
            Self::Json { error, .. } => error.column(),
            Self::Protobuf(_) | Self::Empty => 0,
        }
    }
}

/// The message of a JSON error: what was expected, then serde_json's words and position.
fn json_message(form: Form, error: &serde_json::Error) -> String {
    let (not_json, other_shape) = match form {
        Form::Declaration => (
            "declaration is not well-formed JSON",
            "declaration JSON does not match the format of docs/declaration-json.md",
        ),
        Form::Indicator => (
            "indicator is not well-formed JSON",
            "indicator JSON does not match the format of docs/indicator-json.md",
        ),
        Form::ReturnNotice => (
            "return notice is not well-formed JSON",
            "return notice JSON does not match the format of docs/return-json.md",
        ),
        Form::Evidence => (
            "not well-formed JSON",
            "JSON does not have the form of an aedgate receipt or tree head",
        ),
    };
    match error.classify() {
        Category::Data => format!("{other_shape}: {error}"),
        Category::Syntax | Category::Eof | Category::Io => format!("{not_json}: {error}"),
    }
}

/// Reads the JSON form `J` of a `form` and converts it. Every check is made while reading,
/// where serde_json knows the position, so the conversion itself cannot fail.
pub(crate) fn read<J, T>(form: Form, bytes: &[u8]) -> Result<T, FormatError>
where
    J: DeserializeOwned + Into<T>,
{
    serde_json::from_slice::<J>(bytes)
        .map(Into::into)
        .map_err(|error| FormatError::Json { form, error })
}

/// Writes a JSON form pretty-printed with a final newline. Serialising these plain structs
/// cannot fail; the fallback only keeps the function total.
pub(crate) fn write<J: Serialize>(json: &J) -> String {
    let mut text = serde_json::to_string_pretty(json)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}

/// The first ```` ```json ```` block of a format's documentation, whose example the tests
/// read, so that the documentation cannot drift from the form.
#[cfg(test)]
pub(crate) fn first_json_block(doc: &str) -> &str {
    let start = doc
        .find("```json\n")
        .map_or(doc.len(), |i| i + "```json\n".len());
    let end = doc[start..].find("```").map_or(doc.len(), |i| start + i);
    &doc[start..end]
}

/// For `skip_serializing_if`: proto3 leaves a zero count out, and so do the forms.
pub(crate) fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}
