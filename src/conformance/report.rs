//! A run's results in the three forms their readers need: a summary for the person at
//! the terminal, JSON for the federation's tooling, JUnit XML for CI dashboards.

use super::Basis;
use serde::Serialize;

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The gateway followed the rule.
    Pass,
    /// It did not.
    Fail,
    /// The check could not run with this profile.
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Check id.
    pub id: String,
    /// Check name.
    pub name: String,
    /// Contract section.
    pub section: String,
    /// Contract rule or aedgate's documented choice.
    pub basis: Basis,
    /// Pass, fail or skip.
    pub verdict: Verdict,
    /// Why it failed or was skipped (empty on pass).
    pub reason: String,
    /// How long it took.
    pub millis: u64,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `host:port` tested.
    pub target: String,
    /// The administration the profile names.
    pub administration: String,
    /// Prefix of the LRNs and ids this run used (to find its traces in the target's log).
    pub run_id: String,
    /// When the run started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    /// Results in check order.
    pub results: Vec<CheckResult>,
}

impl Report {
    fn count(&self, verdict: Verdict, basis: Basis) -> usize {
        self.results
            .iter()
            .filter(|r| r.verdict == verdict && r.basis == basis)
            .count()
    }

    /// Whether the run failed: a contract check failed, or (with `strict`) an advisory one.
    pub fn failed(&self, strict: bool) -> bool {
        self.results
            .iter()
            .any(|r| r.verdict == Verdict::Fail && (strict || r.basis == Basis::Contract))
    }

    /// The closing lines of the summary.
    pub fn totals(&self) -> String {
        let passed =
            self.count(Verdict::Pass, Basis::Contract) + self.count(Verdict::Pass, Basis::Advisory);
        let skipped =
            self.count(Verdict::Skip, Basis::Contract) + self.count(Verdict::Skip, Basis::Advisory);
        format!(
            "{} checks: {passed} passed, {} failed, {} advisory failed, {skipped} skipped (run {} against {} at {})",
            self.results.len(),
            self.count(Verdict::Fail, Basis::Contract),
            self.count(Verdict::Fail, Basis::Advisory),
            self.run_id,
            self.administration,
            self.target
        )
    }

    /// The JSON document `--json` writes.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The JUnit XML document `--junit` writes: one suite per contract section prefix
    /// (ADM, RCPT, ...), one test case per check; skipped checks are `<skipped>`, advisory
    /// failures are failures of type `advisory`.
    pub fn junit_xml(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new("aedgate conformance");
        let mut suites: Vec<TestSuite> = Vec::new();
        for result in &self.results {
            let group = result.id.split('-').next().unwrap_or("checks").to_owned();
            if suites.last().map(|s| s.name.as_str()) != Some(group.as_str()) {
                suites.push(TestSuite::new(group.clone()));
            }
            let mut status = match result.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(result.reason.clone());
                    status.set_type(match result.basis {
                        Basis::Contract => "contract",
                        Basis::Advisory => "advisory",
                    });
                    status
                }
                Verdict::Skip => TestCaseStatus::skipped(),
            };
            if result.verdict == Verdict::Skip {
                status.set_message(result.reason.clone());
            }
            let mut case = TestCase::new(format!("{} {}", result.id, result.name), status);
            case.set_classname(format!("aedgate.conformance.{group}"));
            case.set_time(std::time::Duration::from_millis(result.millis));
            if let Some(suite) = suites.last_mut() {
                suite.add_test_case(case);
            }
        }
        report.add_test_suites(suites);
        report.to_string()
    }
}

/// One line of the summary, as printed while the run goes.
pub fn line(result: &CheckResult) -> String {
    let verdict = match (result.verdict, result.basis) {
        (Verdict::Pass, _) => "pass",
        (Verdict::Fail, Basis::Contract) => "FAIL",
        (Verdict::Fail, Basis::Advisory) => "fail (advisory)",
        (Verdict::Skip, _) => "skip",
    };
    let mut text = format!(
        "{:<8} {:<5} {:<64} {verdict}",
        result.id, result.section, result.name
    );
    if !result.reason.is_empty() {
        text.push_str("\n         ");
        text.push_str(&result.reason);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, verdict: Verdict, basis: Basis) -> CheckResult {
        CheckResult {
            id: id.into(),
            name: "a check".into(),
            section: "§3".into(),
            basis,
            verdict,
            reason: if verdict == Verdict::Pass {
                String::new()
            } else {
                "answered <OK> & \"accepted\"".into()
            },
            millis: 3,
        }
    }

    fn report(results: Vec<CheckResult>) -> Report {
        Report {
            target: "127.0.0.1:7443".into(),
            administration: "adm/NL".into(),
            run_id: "0123abcd".into(),
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            results,
        }
    }

    #[test]
    fn only_contract_failures_fail_a_run_unless_strict() {
        let advisory = report(vec![
            result("ADM-01", Verdict::Pass, Basis::Contract),
            result("ADM-05", Verdict::Fail, Basis::Advisory),
            result("FETCH-04", Verdict::Skip, Basis::Contract),
        ]);
        assert!(!advisory.failed(false));
        assert!(advisory.failed(true));
        let contract = report(vec![result("ADM-01", Verdict::Fail, Basis::Contract)]);
        assert!(contract.failed(false));
        assert!(advisory
            .totals()
            .starts_with("3 checks: 1 passed, 0 failed, 1 advisory failed, 1 skipped"));
    }

    #[test]
    fn junit_groups_by_prefix_and_escapes_reasons() {
        let xml = report(vec![
            result("ADM-01", Verdict::Pass, Basis::Contract),
            result("ADM-02", Verdict::Fail, Basis::Contract),
            result("RCPT-01", Verdict::Skip, Basis::Contract),
        ])
        .junit_xml()
        .expect("xml");
        assert!(xml.contains("<testsuite name=\"ADM\" tests=\"2\""), "{xml}");
        assert!(
            xml.contains("<testsuite name=\"RCPT\" tests=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("&lt;OK&gt; &amp; &quot;accepted&quot;"),
            "{xml}"
        );
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(xml.contains("type=\"contract\""), "{xml}");
    }

    #[test]
    fn json_names_every_field() {
        let json: serde_json::Value = serde_json::from_str(
            &report(vec![result("ADM-02", Verdict::Fail, Basis::Advisory)]).json(),
        )
        .expect("json");
        let first = &json["results"][0];
        assert_eq!(first["id"], "ADM-02");
        assert_eq!(first["verdict"], "fail");
        assert_eq!(first["basis"], "advisory");
        assert_eq!(json["started_at"], "1970-01-01T00:00:00Z");
    }
}
