//! `aedgate conformance`: the kit a federation runs against a gateway before admitting it,
//! whether that gateway is aedgate or another implementation of PROTOCOL.md.
//!
//! Every check is a small, independent conversation with the target over real mutual TLS,
//! using the test credentials of a profile ([`Profile`]): it crafts the envelopes a
//! misbehaving or unlucky partner would send and compares the gateway's answer with the
//! contract's status and reason code. Checks share nothing but the connections: each uses
//! fresh message ids, LRNs and seller identifiers derived from a per-run id, so that a
//! failure in one cannot make another pass or fail, and any subset can be run alone.
//!
//! Layers: `profile` reads the credentials, `kit` holds the connections and the helpers
//! checks are written with, [`checks`] is the registry, `report` turns results into the
//! text summary, JSON and JUnit XML. Nothing here can alter the target beyond what a
//! partner and an internal risk unit are allowed to do; indicators the kit publishes are
//! TLP RED (never shared), match only the kit's own seller ids, and are revoked afterwards.

pub mod checks;
pub(crate) mod kit;
pub(crate) mod profile;
pub(crate) mod report;

pub use kit::{Case, Kit, KitError, Stop};
pub use profile::{Profile, ProfileError};
pub use report::{CheckResult, Report, Verdict};

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// The longest one check may take before it is failed as hung: ample for the lifecycle
/// checks (a few round trips each), short enough that a stuck gateway does not stall CI.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// What a check's code returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), Stop>> + Send + 'static>>;

/// Where a check's expectation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A rule PROTOCOL.md states.
    Contract,
    /// aedgate's documented choice where the contract is silent (docs/decisions.md):
    /// reported apart, and failing only with `--strict`, because another implementation
    /// may choose differently and still conform.
    Advisory,
}

/// What a check needs from the profile beyond the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// The target administration's internal identity (to publish indicators, read all).
    Internal,
    /// A second partner registered with the target.
    SecondPartner,
    /// A partner in the trust list that is not registered with the target.
    UnregisteredPartner,
    /// The target's revenue policy (§11), to compute the charges and refunds it owes.
    Revenue,
}

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Stable id (`ADM-08`), used by `--only`/`--skip` and in reports.
    pub id: &'static str,
    /// What it shows, in a few words.
    pub name: &'static str,
    /// The contract section it checks.
    pub section: &'static str,
    /// Contract rule or aedgate's choice.
    pub basis: Basis,
    /// Profile entries it cannot run without.
    pub needs: &'static [Need],
    /// The check itself.
    pub run: fn(Case) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

/// Which checks to run: `--only` and `--skip`, by id or by id prefix (`ADM`, `LIFE-0`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only checks matching one of these (all when empty).
    pub only: Vec<String>,
    /// Never run checks matching one of these.
    pub skip: Vec<String>,
}

impl Selection {
    fn matches(pattern: &str, id: &str) -> bool {
        let pattern = pattern.trim();
        !pattern.is_empty()
            && id
                .to_ascii_uppercase()
                .starts_with(&pattern.to_ascii_uppercase())
    }

    /// Whether the check with this id is selected.
    pub fn selects(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| Self::matches(p, id)))
            && !self.skip.iter().any(|p| Self::matches(p, id))
    }

    /// Patterns that select no check at all: almost certainly a typo, which must not turn
    /// into a silently empty (and passing) run.
    pub fn unknown_patterns(&self) -> Vec<String> {
        let all = checks::all();
        self.only
            .iter()
            .chain(&self.skip)
            .filter(|p| !all.iter().any(|c| Self::matches(p, c.id)))
            .cloned()
            .collect()
    }
}

/// Connects to `target` with the profile's credentials and runs the selected checks, one
/// after the other, each under [`CHECK_TIMEOUT`]. `progress` sees each result as it
/// comes, for a live display.
pub async fn run(
    profile: Profile,
    target: &str,
    selection: &Selection,
    progress: impl FnMut(&CheckResult),
) -> Result<Report, kit::KitError> {
    let selected = checks::all()
        .into_iter()
        .filter(|c| selection.selects(c.id))
        .collect();
    run_checks(profile, target, selected, progress).await
}

/// [`run`] with any list of checks (the kit's own tests run checks of their making).
pub async fn run_checks(
    profile: Profile,
    target: &str,
    checks: Vec<Check>,
    mut progress: impl FnMut(&CheckResult),
) -> Result<Report, kit::KitError> {
    let kit = Kit::connect(profile, target).await?;
    let kit = &kit;
    let started = time::OffsetDateTime::now_utc();
    let mut results = Vec::new();
    for check in checks {
        let result = run_one(kit, &check).await;
        progress(&result);
        results.push(result);
    }
    kit.close();
    Ok(Report {
        target: target.to_owned(),
        administration: kit.target.clone(),
        run_id: kit.run_id.clone(),
        started_at: started,
        results,
    })
}

async fn run_one(kit: &std::sync::Arc<Kit>, check: &Check) -> CheckResult {
    let begun = Instant::now();
    let (verdict, reason) = match kit.missing(check.needs) {
        Some(missing) => (Verdict::Skip, missing),
        None => {
            let case = kit.case(check.id);
            let cleanup = case.cleanup_handle();
            // A task of its own, so that even a panic on an answer nobody foresaw is one
            // failed check, not the end of the run.
            let task = tokio::spawn((check.run)(case));
            let abort = task.abort_handle();
            let outcome = tokio::time::timeout(CHECK_TIMEOUT, task).await;
            abort.abort(); // a hung check stops here, before the next one starts
            kit.clean_up(&cleanup).await;
            match outcome {
                Ok(Ok(Ok(()))) => (Verdict::Pass, String::new()),
                Ok(Ok(Err(Stop::Fail(reason)))) => (Verdict::Fail, reason),
                Ok(Ok(Err(Stop::Skip(reason)))) => (Verdict::Skip, reason),
                Ok(Err(join)) => (Verdict::Fail, format!("the check itself failed: {join}")),
                Err(_) => (
                    Verdict::Fail,
                    format!(
                        "no result within {} s (the gateway did not answer)",
                        CHECK_TIMEOUT.as_secs()
                    ),
                ),
            }
        }
    };
    CheckResult {
        id: check.id.to_owned(),
        name: check.name.to_owned(),
        section: check.section.to_owned(),
        basis: check.basis,
        verdict,
        reason,
        millis: u64::try_from(begun.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}
