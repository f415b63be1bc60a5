//! The JSON form of a [`ReturnNotice`] (§12), read by `aedgate return DECLARATION_ID
//! RETURN.json`.
//!
//! A return is reported by the partner's returns desk or its carrier's systems, and kept as
//! the record of what went back; like a declaration it is written and read as JSON, with the
//! proto's field names (so the refusals' field paths, `lines[1].quantity`, apply unchanged)
//! and enums by their short names (`"CONSUMER_RETURN"`, `"POST"`). Reading is strict: an
//! unknown key is an error. It checks the form only; the gateway checks the content.

use serde::{Deserialize, Serialize};

use super::declaration::TransportJson;
use super::{is_zero_u32, read, write, Form, FormatError};
use crate::proto::v1::{ReturnNotice, ReturnReason, ReturnedLine};

/// Reads a return notice from its JSON form.
///
/// # Errors
///
/// [`FormatError::Json`] when the text is not JSON, or JSON of another shape (unknown key,
/// wrong type, unknown reason).
pub fn from_json(text: &str) -> Result<ReturnNotice, FormatError> {
    read::<ReturnJson, _>(Form::ReturnNotice, text.as_bytes())
}

/// Writes a return notice in its JSON form, pretty-printed, with a final newline.
pub fn to_json(notice: &ReturnNotice) -> String {
    write(&ReturnJson::from(notice))
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReturnJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<ReasonJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_transport: Option<TransportJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lines: Vec<LineJson>,
    #[serde(skip_serializing_if = "is_zero")]
    exited_at_ms: i64,
}

/// A line always shows both fields: an item index 0 is the first item, not "absent".
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LineJson {
    item: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    quantity: u32,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ReasonJson {
    Undeliverable,
    RefusedByConsignee,
    ConsumerReturn,
}

json_names!(ReasonJson => ReturnReason { Undeliverable, RefusedByConsignee, ConsumerReturn });

impl From<ReturnJson> for ReturnNotice {
    fn from(r: ReturnJson) -> Self {
        ReturnNotice {
            reason: r.reason.map_or(ReturnReason::Unspecified, Into::into) as i32,
            return_transport: r.return_transport.map(Into::into),
            lines: r
                .lines
                .into_iter()
                .map(|l| ReturnedLine {
                    item: l.item,
                    quantity: l.quantity,
                })
                .collect(),
            exited_at_ms: r.exited_at_ms,
        }
    }
}

impl From<&ReturnNotice> for ReturnJson {
    fn from(r: &ReturnNotice) -> Self {
        ReturnJson {
            reason: ReasonJson::of(r.reason),
            return_transport: r.return_transport.as_ref().map(Into::into),
            lines: r
                .lines
                .iter()
                .map(|l| LineJson {
                    item: l.item,
                    quantity: l.quantity,
                })
                .collect(),
            exited_at_ms: r.exited_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::first_json_block;
    use crate::proto::v1::{Transport, TransportMode};

    const DOC: &str = include_str!("../../docs/return-json.md");

    #[test]
    fn the_documented_example_reads_as_the_notice_it_describes() {
        let notice = from_json(first_json_block(DOC)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(notice.reason, ReturnReason::ConsumerReturn as i32);
        assert_eq!(
            notice.return_transport,
            Some(Transport {
                house_ref: "RET-NL-2026-004417".into(),
                mode: TransportMode::Post as i32,
                carrier_id: "ptr/NL/flyfast".into(),
                ..Transport::default()
            })
        );
        assert_eq!(
            notice.lines,
            vec![ReturnedLine {
                item: 1,
                quantity: 2
            }]
        );
        assert_eq!(notice.exited_at_ms, 1_796_371_200_000);
        assert_eq!(from_json(&to_json(&notice)).ok(), Some(notice));
    }

    #[test]
    fn item_zero_is_written_and_unknown_keys_are_refused() {
        let notice = ReturnNotice {
            lines: vec![ReturnedLine {
                item: 0,
                quantity: 1,
            }],
            ..ReturnNotice::default()
        };
        assert!(to_json(&notice).contains("\"item\": 0"));
        let error = from_json("{\"lines\": [{\"item\": 0, \"qty\": 1}]}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("docs/return-json.md"), "{error}");
        assert!(error.contains("qty"), "{error}");
        assert!(from_json("{\"reason\": \"BROKEN\"}").is_err());
    }
}
