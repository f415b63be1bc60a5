//! Tables of protocol objects, one line a row, as the list commands and the demo print
//! them: the indicators an administration holds, its outbox. Columns are laid out here
//! once, so that every table aligns, pads and trims alike.

use super::names::{code_name, tlp_name, type_name};
use crate::client::ListedIndicator;
use crate::core::trust::format_ms;
use crate::proto::aedgate::ops::v1::{OutboxEntry, OutboxState};
use crate::proto::v1::Disposition;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Which side of its column a cell keeps to, so that numbers line up by their digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// `rows` in columns as wide as their widest cell (in characters), two spaces apart, each
/// line after `indent`, without trailing spaces and ending in a newline. Cells of the last
/// column are not padded, so that long titles stay on their line.
pub fn columns<const N: usize>(rows: &[[String; N]], align: [Align; N], indent: &str) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for ((cell, width), align) in row.iter().zip(widths).zip(align) {
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}  "),
                Align::Right => write!(line, "{cell:>width$}  "),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The table `aedgate indicator list` prints: one line an indicator, by id, expired ones
/// marked (an analyst renews or revokes those). Columns are as wide as their content, so
/// that the titles stay on the line.
pub fn indicator_table(indicators: &BTreeMap<String, ListedIndicator>, now_ms: i64) -> String {
    let header = ["ID", "V", "ACTION", "TLP", "VALID UNTIL", "ISSUER", "TITLE"].map(String::from);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(indicators.values().map(|listed| {
            let i = &listed.indicator;
            let until = if i.valid_until_ms == 0 {
                "no end date".to_owned()
            } else if crate::core::risk::in_force(i, now_ms) {
                format_ms(i.valid_until_ms)
            } else {
                format!("EXPIRED {}", format_ms(i.valid_until_ms))
            };
            [
                i.indicator_id.clone(),
                i.version.to_string(),
                code_name(i.action),
                tlp_name(i.tlp),
                until,
                listed.issuer.clone(),
                i.title.clone(),
            ]
        }))
        .collect();
    let mut align = [Align::Left; 7];
    align[1] = Align::Right;
    columns(&rows, align, "")
}

/// The table `aedgate outbox list` prints, one line an entry, then what is wrong: a
/// dead letter waits for a person, and the line says since when and why.
pub fn outbox_table(entries: &[OutboxEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<8}  {:<27}  {:<10}  {:>8}  {:<24}  DETAIL",
        "ID", "PEER", "TYPE", "STATE", "ATTEMPTS", "QUEUED"
    );
    for e in entries {
        let state = OutboxState::try_from(e.state).unwrap_or(OutboxState::Unspecified);
        let detail = match state {
            OutboxState::Delivered => match &e.receipt {
                Some(r) => format!(
                    "{} receipt {} at log index {} (verified)",
                    match Disposition::try_from(r.disposition) {
                        Ok(Disposition::Duplicate) => "DUPLICATE",
                        _ => "ACCEPTED",
                    },
                    r.signature
                        .as_ref()
                        .map(|s| s.key_id.as_str())
                        .unwrap_or("-"),
                    r.log_index
                ),
                None => "-".into(),
            },
            OutboxState::Pending if e.last_error.is_empty() => {
                format!("due {}", format_ms(e.next_attempt_ms))
            }
            OutboxState::Pending => format!(
                "next try {}; last error: {}",
                format_ms(e.next_attempt_ms),
                e.last_error
            ),
            _ => format!(
                "since {}; last error: {}",
                format_ms(e.done_at_ms),
                e.last_error
            ),
        };
        let state_name = match state {
            OutboxState::Pending if e.attempts > 0 => "retrying",
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::DeadLettered => "DEAD",
            OutboxState::Unspecified => "?",
        };
        let _ = writeln!(
            out,
            "{:>4}  {:<8}  {:<27}  {:<10}  {:>8}  {:<24}  {detail}",
            e.id,
            e.peer,
            type_name(e.r#type),
            state_name,
            e.attempts,
            format_ms(e.queued_at_ms),
        );
    }
    let count = |s: OutboxState| entries.iter().filter(|e| e.state == s as i32).count() as u64;
    let _ = writeln!(
        out,
        "{} delivered, {} pending, {} dead-lettered",
        count(OutboxState::Delivered),
        count(OutboxState::Pending),
        count(OutboxState::DeadLettered)
    );
    out
}
