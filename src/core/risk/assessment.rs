//! Which of a declaration's matches decides its outcome (§8): the most severe, ties by the
//! smallest `indicator_id`, passing over referrals already satisfied, so that every replica
//! and every re-run issues the same outcome.
//!
//! It is kept apart from the index, which only finds the indicators that could match: what
//! decides an outcome lives here, in one place, so that whatever else comes to weigh on an
//! outcome sits beside it rather than inside the index's storage.

use std::cmp::Reverse;
use std::collections::HashSet;

use super::index::{IndicatorRecord, RiskIndex, Slot};
use super::matching::{in_force_until, Pointer, Prepared};
use crate::proto::v1::{AdvanceDeclaration, OutcomeCode};

/// One indicator that matches a declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Match<'a> {
    /// The matching indicator.
    pub record: &'a IndicatorRecord,
    /// Its action (`Unspecified` when the action is not a known code).
    pub code: OutcomeCode,
    /// Proto field path of the data in question, e.g. `items[1].description` (see the
    /// module documentation for how it is chosen).
    pub pointer: String,
}

impl RiskIndex {
    /// Every indicator in force at `now_ms` whose criteria match the declaration, found
    /// through the index (never a scan of all indicators), most severe first, ties by
    /// ascending `indicator_id`: the order in which [`RiskIndex::assess`] would pick them.
    pub fn matches(&self, declaration: &AdvanceDeclaration, now_ms: i64) -> Vec<Match<'_>> {
        let prepared = Prepared::new(declaration);
        let candidates = self.candidates(&prepared);
        let found = candidates.into_iter().filter_map(|slot| self.slot(slot));
        collect_matches(found, &prepared, now_ms)
    }

    /// The same result as [`RiskIndex::matches`], by verifying every indicator held.
    ///
    /// It exists as the reference the index is tested and benchmarked against; a gateway
    /// must never call it on the request path, since its cost grows with the index.
    pub fn matches_by_scan(&self, declaration: &AdvanceDeclaration, now_ms: i64) -> Vec<Match<'_>> {
        let prepared = Prepared::new(declaration);
        collect_matches(self.entries(), &prepared, now_ms)
    }

    /// The most severe match in force at `now_ms` whose id is not in `exclude`, ties by the
    /// smallest `indicator_id`; `None` means `ASSESSMENT_COMPLETE`.
    ///
    /// `exclude` holds the indicators whose referral has been satisfied (an answered RFI, a
    /// screening found `CLEAR`), so that re-assessment issues the next most severe match
    /// (§8). Matches whose action is `ASSESSMENT_COMPLETE` or not a known code (invalid
    /// indicators) are skipped, since they cannot change the outcome.
    pub fn assess(
        &self,
        declaration: &AdvanceDeclaration,
        now_ms: i64,
        exclude: &HashSet<String>,
    ) -> Option<Match<'_>> {
        let prepared = Prepared::new(declaration);
        let candidates = self.ranked_candidates(&prepared);
        // Most severe first; within one rank, the smallest id that matches wins, so a rank's
        // candidates are all considered before a less severe rank is looked at.
        for group in candidates.chunk_by(|a, b| a.0 == b.0) {
            if group.first().is_none_or(|&(Reverse(rank), _)| rank == 0) {
                break;
            }
            let mut best: Option<(&Slot, Pointer)> = None;
            for &(_, slot) in group {
                let Some(entry) = self.slot(slot) else {
                    continue;
                };
                if !in_force_until(entry.valid_until_ms, now_ms) {
                    continue;
                }
                let id = &entry.record.indicator.indicator_id;
                if (!exclude.is_empty() && exclude.contains(id))
                    || best.is_some_and(|(b, _)| b.record.indicator.indicator_id <= *id)
                {
                    continue;
                }
                if let Some(pointer) = entry.evaluate(&prepared) {
                    best = Some((entry, pointer));
                }
            }
            if let Some((entry, pointer)) = best {
                return Some(entry.to_match(pointer));
            }
        }
        None
    }
}

/// Verifies `entries` and returns the matches in assessment order.
fn collect_matches<'a>(
    entries: impl Iterator<Item = &'a Slot>,
    prepared: &Prepared<'_>,
    now_ms: i64,
) -> Vec<Match<'a>> {
    let mut out: Vec<Match<'a>> = entries
        .filter(|entry| in_force_until(entry.valid_until_ms, now_ms))
        .filter_map(|entry| {
            entry
                .evaluate(prepared)
                .map(|pointer| entry.to_match(pointer))
        })
        .collect();
    out.sort_by(|a, b| {
        (Reverse(severity(a.code)), &a.record.indicator.indicator_id)
            .cmp(&(Reverse(severity(b.code)), &b.record.indicator.indicator_id))
    });
    out
}

/// The rank of an outcome: `DO_NOT_LOAD` 4 > `REQUEST_FOR_SCREENING` 3 > `CONTROL_ON_ARRIVAL`
/// 2 > `REQUEST_FOR_INFORMATION` 1 > `ASSESSMENT_COMPLETE` 0; unspecified 0.
///
/// A rank, because §8 orders the actions differently from their enum numbers
/// (`CONTROL_ON_ARRIVAL` = 5 is less severe than `DO_NOT_LOAD` = 4): stopping goods before
/// loading beats inspecting them on arrival.
pub fn severity(code: OutcomeCode) -> u8 {
    match code {
        OutcomeCode::DoNotLoad => 4,
        OutcomeCode::RequestForScreening => 3,
        OutcomeCode::ControlOnArrival => 2,
        OutcomeCode::RequestForInformation => 1,
        OutcomeCode::AssessmentComplete | OutcomeCode::Unspecified => 0,
    }
}

/// An indicator's action as an outcome code, `Unspecified` for a number that is no known code,
/// so that an invalid indicator ranks 0 ([`severity`]) and never decides an outcome.
pub(super) fn outcome_code(action: i32) -> OutcomeCode {
    OutcomeCode::try_from(action).unwrap_or(OutcomeCode::Unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::fixtures::*;

    #[test]
    fn severity_orders_all_five_codes() {
        let order = [
            OutcomeCode::DoNotLoad,
            OutcomeCode::RequestForScreening,
            OutcomeCode::ControlOnArrival,
            OutcomeCode::RequestForInformation,
            OutcomeCode::AssessmentComplete,
        ];
        for pair in order.windows(2) {
            assert!(severity(pair[0]) > severity(pair[1]), "{pair:?}");
        }
        assert_eq!(severity(OutcomeCode::DoNotLoad), 4);
        assert_eq!(severity(OutcomeCode::AssessmentComplete), 0);
        assert_eq!(severity(OutcomeCode::Unspecified), 0);
    }

    #[test]
    fn assess_picks_the_most_severe_and_exclusions_step_down() {
        // Ids in reverse order of severity, so that the tie-break cannot explain the result.
        let index = index_of([
            record("A", OutcomeCode::AssessmentComplete, origin(&["CN"])),
            record("B", OutcomeCode::RequestForInformation, origin(&["CN"])),
            record("C", OutcomeCode::ControlOnArrival, origin(&["CN"])),
            record("D", OutcomeCode::RequestForScreening, origin(&["CN"])),
            record("E", OutcomeCode::DoNotLoad, origin(&["CN"])),
        ]);
        let d = declaration();
        let mut exclude = HashSet::new();
        for (id, code) in [
            ("E", OutcomeCode::DoNotLoad),
            ("D", OutcomeCode::RequestForScreening),
            ("C", OutcomeCode::ControlOnArrival),
            ("B", OutcomeCode::RequestForInformation),
        ] {
            let best = index
                .assess(&d, NOW, &exclude)
                .map(|m| (m.record.indicator.indicator_id.clone(), m.code));
            assert_eq!(best, Some((id.to_owned(), code)));
            exclude.insert(id.to_owned());
        }
        assert_eq!(index.assess(&d, NOW, &exclude), None, "ASSESSMENT_COMPLETE");
        let all: Vec<_> = index
            .matches(&d, NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(all, ["E", "D", "C", "B", "A"]);
    }

    #[test]
    fn ties_go_to_the_smallest_indicator_id() {
        let index = index_of([
            record("NL-0002", OutcomeCode::DoNotLoad, origin(&["CN"])),
            record("NL-0010", OutcomeCode::DoNotLoad, hs(&["6404"])),
            record(
                "NL-0001",
                OutcomeCode::DoNotLoad,
                sellers(&["SHOPCO-S-004417"]),
            ),
            record("NL-0000", OutcomeCode::RequestForScreening, origin(&["CN"])),
        ]);
        let best = index.assess(&declaration(), NOW, &HashSet::new());
        assert_eq!(
            best.map(|m| (m.record.indicator.indicator_id.clone(), m.pointer)),
            Some(("NL-0001".to_owned(), "seller.identifier".to_owned()))
        );
    }

    #[test]
    fn excluded_indicators_are_skipped() {
        let index = index_of([
            record("S-1", OutcomeCode::RequestForScreening, hs(&["64"])),
            record("S-2", OutcomeCode::RequestForScreening, hs(&["85"])),
        ]);
        let d = declaration();
        let exclude: HashSet<String> = ["S-1".to_owned()].into();
        let best = index.assess(&d, NOW, &exclude);
        assert_eq!(
            best.map(|m| (m.record.indicator.indicator_id.clone(), m.pointer)),
            Some(("S-2".to_owned(), "items[1].hs_code".to_owned()))
        );
        let both: HashSet<String> = ["S-1".to_owned(), "S-2".to_owned(), "other".to_owned()].into();
        assert_eq!(index.assess(&d, NOW, &both), None);
    }
}
