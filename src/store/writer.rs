//! The store's one writer: it groups submissions into transactions, lets `core::ledger`
//! decide each envelope, and has a [`LedgerBackend`] write the effects.
//!
//! Every submission that arrives while a commit (and its fsync) is under way joins the next
//! transaction, so that durability costs one fsync per group, not per message. Everything a
//! message causes — the envelope, its leaf and the Merkle subtrees it completes (§9), the
//! signed OUTCOME it triggers, the declaration's new state, the delivery to the partner,
//! the indicator index — is written in the same transaction, so a crash can never leave a
//! declaration without its outcome, an outcome without its delivery, or an entry outside
//! the audit log. Only committed transactions advance the log index, so it stays gap-free.
//!
//! What lives here and not in the backend: the order of the log (indices, the Merkle
//! frontier), the per-recipient `seq` counters, the risk index, and the group's answers to
//! "is this message id or LRN taken?" — the same for every database. What lives here and
//! not in `core::ledger`: the clock, fresh ids and signing.

use super::backend::{CaughtUp, Counters, GroupLedger, GroupWrite, LedgerBackend, LogEntry};
use super::fair::FairQueue;
use super::{Direction, Issuer, LogHead, StoreError, Stored};
use crate::core::admission::{Admitted, AdmittedPayload};
use crate::core::envelope::{envelope_digest, seal, Draft};
use crate::core::ledger::{self, Effect, Facts, KnownEnvelope, Route, Verdict};
use crate::core::merkle::{self, Frontier};
use crate::core::rejection::Rejection;
use crate::core::revenue::{self, RevenuePolicy};
use crate::core::risk::{IndicatorRecord, RiskIndex};
use crate::core::sharing::{forwarding_target, indicator_routes};
use crate::core::trust::TrustList;
use crate::proto::v1::{AdvanceDeclaration, Disposition, Header};
use crate::telemetry::{Counter, Telemetry, Timer};
use bytes::Bytes;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Most submissions one transaction takes; bounds the latency a group adds.
const MAX_GROUP: usize = 512;

/// Most submissions of one participant in a group: 64 commit in a few milliseconds, so a
/// quiet partner's Submit never waits behind a flood's 512 (see `fair.rs`); several busy
/// participants together still fill groups up to [`MAX_GROUP`].
const GROUP_SHARE: usize = 64;

/// Most envelopes waiting for which a participant is still *light* (`fair.rs`): it has a
/// Submit or two open, not a stream's window, and a group in progress ends early for it.
const LIGHT: usize = 4;

/// What one job of a group came to, before the commit makes it true.
pub(super) type Decision = Result<Stored, Rejection>;

/// An admitted envelope waiting for the writer.
pub(super) struct AppendJob {
    pub admitted: Admitted,
    /// The trust list the envelope was admitted under: it also decides what is shared with
    /// and forwarded to peers (§8).
    pub trust: Arc<TrustList>,
    /// The revenue policy in force when it was admitted (§11), if the gateway charges.
    pub revenue: Option<Arc<RevenuePolicy>>,
    pub reply: oneshot::Sender<Result<Decision, StoreError>>,
}

/// What the writer keeps between groups; rebuilt from the database after a failed commit.
pub(super) struct WriterState {
    issuer: Issuer,
    country: String,
    next_index: u64,
    declarations: u64,
    /// The indicator table's version as of this writer's last commit or catch-up.
    indicators_version: u64,
    last_seq: HashMap<String, u64>,
    risk: RiskIndex,
    /// The Merkle log's right edge, advanced by every append of the group in progress.
    frontier: Frontier,
    /// Whether the group in progress queued messages for peers.
    outbox_added: bool,
    /// The group's answers to "is this message id / LRN taken?".
    ledger: GroupLedger,
}

impl WriterState {
    /// The writer's state as the backend has it on disk.
    pub async fn load<B: LedgerBackend>(
        backend: &mut B,
        issuer: Issuer,
    ) -> Result<Self, StoreError> {
        let loaded = backend.load().await?;
        let risk = risk_index(loaded.indicators)?;
        let country = issuer
            .participant
            .split('/')
            .nth(1)
            .unwrap_or("XX")
            .to_owned();
        Ok(Self {
            issuer,
            country,
            next_index: loaded.log_size,
            declarations: loaded.declarations,
            indicators_version: loaded.indicators_version,
            last_seq: HashMap::new(),
            risk,
            frontier: loaded.frontier,
            outbox_added: false,
            ledger: GroupLedger::default(),
        })
    }

    pub fn head(&self) -> LogHead {
        LogHead {
            size: self.frontier.size(),
            root: self.frontier.root(),
        }
    }

    pub fn log_size(&self) -> u64 {
        self.next_index
    }

    fn counters(&self) -> Counters {
        Counters {
            log_size: self.next_index,
            declarations: self.declarations,
            indicators_version: self.indicators_version,
        }
    }

    /// Takes in what another writer of the same store committed (a replica, §13): the
    /// log's size and edge, the declaration count, the indicators if they changed. The
    /// per-recipient `seq` counters are forgotten and read again when next needed.
    fn catch_up(&mut self, caught: CaughtUp) -> Result<(), StoreError> {
        if let Some(indicators) = caught.indicators {
            self.risk = risk_index(indicators)?;
        }
        self.next_index = caught.counters.log_size;
        self.declarations = caught.counters.declarations;
        self.indicators_version = caught.counters.indicators_version;
        self.frontier = caught.frontier;
        self.last_seq.clear();
        Ok(())
    }
}

/// The risk index of the indicators in force, as stored.
fn risk_index(indicators: Vec<IndicatorRecord>) -> Result<RiskIndex, StoreError> {
    let mut risk = RiskIndex::new();
    for record in indicators {
        risk.upsert(record)?;
    }
    Ok(risk)
}

/// What the writer announces after each commit.
pub(super) struct Published {
    /// The log size, for live Fetch. Shared with the commit listener of a store that other
    /// replicas write too; neither ever moves it back.
    pub size: Arc<watch::Sender<u64>>,
    /// Size and root, for the Audit service (shared likewise).
    pub head: Arc<watch::Sender<LogHead>>,
    /// Bumped when a commit queued messages for peers.
    pub outbox: Arc<watch::Sender<u64>>,
    /// Whether a commit can succeed now: false from a failed commit until the store has
    /// proved it can write again. Health reports NOT_SERVING while it is false.
    pub writable: watch::Sender<bool>,
}

/// How often a writer whose commits failed tries to write again. A full disk frees up,
/// or an I/O fault clears, without anyone telling the gateway; one small write a second
/// notices soon enough for a partner's retry and costs nothing while the store is fine.
const RECOVERY_PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) async fn writer_task<B: LedgerBackend>(
    mut backend: B,
    mut jobs: mpsc::Receiver<AppendJob>,
    state: WriterState,
    telemetry: Arc<Telemetry>,
    published: Published,
) {
    let issuer = state.issuer.clone();
    // `None` while the store refuses writes: the in-memory state may include a rolled-back
    // group and is rebuilt from disk once a write succeeds again.
    let mut state = Some(state);
    // What has arrived and waits for a group, by sender: groups take senders in turn.
    let mut waiting = FairQueue::default();
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        let Some(current) = state.as_mut() else {
            match recover(&mut backend, &issuer).await {
                Ok(fresh) => {
                    tracing::info!("the store accepts writes again");
                    state = Some(fresh);
                    published.writable.send_replace(true);
                }
                Err(error) => {
                    tracing::debug!(%error, "the store still refuses writes");
                    waiting.drain_all(&mut group);
                    refuse(&mut group, &error);
                    if !refuse_until_next_probe(&mut jobs, &error).await {
                        return;
                    }
                }
            }
            continue;
        };
        if waiting.is_empty() {
            let Some(first) = jobs.recv().await else {
                return;
            };
            waiting.push(first, sender_of);
        }
        queue_arrivals(&mut jobs, &mut waiting);
        // Light participants (a Submit or two open) first and alone; else everyone in turn.
        if !waiting.take_light(LIGHT, MAX_GROUP, &mut group) {
            waiting.take(MAX_GROUP, GROUP_SHARE, &mut group);
        }
        let mut serving: Vec<String> = Vec::new();
        for job in &group {
            if !serving.iter().any(|sender| sender == sender_of(job)) {
                serving.push(sender_of(job).to_owned());
            }
        }
        // Between two decisions: has a light participant outside this group arrived? Then
        // the group commits what it has decided, and the rest waits for the next but one.
        let mut light_arrived = || {
            queue_arrivals(&mut jobs, &mut waiting);
            waiting.light_waiting(LIGHT, &serving)
        };
        let started = std::time::Instant::now();
        match commit_group(&mut backend, &group, current, &mut light_arrived).await {
            Ok((decisions, head)) => {
                // The jobs the group ended before go back to the head of their line.
                let undecided = group.split_off(decisions.len());
                waiting.put_back(undecided.into_iter(), sender_of);
                telemetry.count(Counter::Commits, "");
                telemetry.time(Timer::GroupCommit, started.elapsed());
                publish_head(&published.head, head);
                if std::mem::take(&mut current.outbox_added) {
                    published.outbox.send_modify(|n| *n += 1);
                }
                publish_size(&published.size, current.next_index);
                for (job, decision) in group.drain(..).zip(decisions) {
                    // A caller that went away still had its envelope stored; a resend gets
                    // DUPLICATE with the same log index.
                    let _ = job.reply.send(Ok(decision));
                }
            }
            Err(error) => {
                tracing::error!(%error, "group commit failed; {} submission(s) not acknowledged", group.len());
                telemetry.count(Counter::CommitFailures, "");
                published.writable.send_replace(false);
                refuse(&mut group, &error);
                // In-memory state (indices, counters, indicator index) may include the
                // rolled-back group: it is rebuilt from disk once the store can write.
                state = None;
            }
        }
    }
}

/// Publishes a longer log. With replicas the writer and the commit listener both publish,
/// in either order: a size never goes back.
pub(super) fn publish_size(size: &watch::Sender<u64>, new: u64) {
    publish_if_longer(size, new, |size| *size);
}

/// Publishes a longer log's head (see [`publish_size`]).
pub(super) fn publish_head(head: &watch::Sender<LogHead>, new: LogHead) {
    publish_if_longer(head, new, |head| head.size);
}

fn publish_if_longer<T>(sender: &watch::Sender<T>, new: T, size: impl Fn(&T) -> u64) {
    sender.send_if_modified(|current| {
        let longer = size(&new) > size(current);
        if longer {
            *current = new;
        }
        longer
    });
}

/// Everything that has arrived meanwhile joins the line, up to the channel's depth at a
/// time (the per-participant limits bound how much can be in flight at all).
fn queue_arrivals(jobs: &mut mpsc::Receiver<AppendJob>, waiting: &mut FairQueue<AppendJob>) {
    for _ in 0..super::QUEUE_DEPTH {
        match jobs.try_recv() {
            Ok(job) => waiting.push(job, sender_of),
            Err(_) => break,
        }
    }
}

/// Who sent a job: the key of its turn in the group commit.
fn sender_of(job: &AppendJob) -> &str {
    &job.admitted.header.sender
}

/// Answers every job of `jobs` with the commit's failure.
fn refuse(jobs: &mut Vec<AppendJob>, error: &StoreError) {
    let cause = error.to_string();
    for job in jobs.drain(..) {
        let _ = job.reply.send(Err(StoreError::CommitFailed(cause.clone())));
    }
}

/// Makes the backend usable after a failed commit and rebuilds the writer's state from
/// what is on disk.
async fn recover<B: LedgerBackend>(
    backend: &mut B,
    issuer: &Issuer,
) -> Result<WriterState, StoreError> {
    backend.recover().await?;
    WriterState::load(backend, issuer.clone()).await
}

/// While the store refuses writes, answers every submission at once with why, until it is
/// time to try writing again. False when no one can submit any more (the store closed).
async fn refuse_until_next_probe(jobs: &mut mpsc::Receiver<AppendJob>, error: &StoreError) -> bool {
    let probe = tokio::time::sleep(RECOVERY_PROBE_INTERVAL);
    tokio::pin!(probe);
    let cause = error.to_string();
    loop {
        tokio::select! {
            _ = &mut probe => return true,
            job = jobs.recv() => match job {
                Some(job) => {
                    let _ = job.reply.send(Err(StoreError::CommitFailed(cause.clone())));
                }
                None => return false,
            },
        }
    }
}

/// Decides and commits one group; returns the decisions of its first jobs, in order, and
/// the log's new head. Before each job after the first it asks `end_early`; once that says
/// yes, the group commits what it has decided and the rest is left undecided (their
/// prefetched facts are dropped with the group's).
async fn commit_group<B: LedgerBackend>(
    backend: &mut B,
    group: &[AppendJob],
    state: &mut WriterState,
    end_early: &mut impl FnMut() -> bool,
) -> Result<(Vec<Decision>, LogHead), StoreError> {
    let now = crate::clock::now_ms();
    let mut tx = backend.begin().await?;
    let message_ids: Vec<&str> = group
        .iter()
        .map(|job| job.admitted.header.message_id.as_str())
        .collect();
    let lrns: Vec<(&str, &str)> = group
        .iter()
        .filter_map(|job| match &job.admitted.payload {
            AdmittedPayload::Declaration(declaration) => Some((
                job.admitted.header.sender.as_str(),
                declaration.lrn.as_str(),
            )),
            _ => None,
        })
        .collect();
    // Another replica may have committed since this writer's last group: the log's lock is
    // held now, so what it reads stays true until this group commits.
    let (caught, ledger) = tx.prefetch(&state.counters(), &message_ids, &lrns).await?;
    if let Some(caught) = caught {
        state.catch_up(caught)?;
    }
    state.ledger = ledger;
    // R5's index for the group's new charged declarations, in one lookup; each job's key is
    // computed once, here, and handed on to its decision.
    let mut since = now;
    let job_keys: Vec<Option<i64>> = group
        .iter()
        .map(|job| {
            new_charged(state, job).map(|(policy, declaration)| {
                since = since.min(now.saturating_sub(policy.splitting_window_ms()));
                revenue::splitting_key(declaration)
            })
        })
        .collect();
    let mut parcel_keys: Vec<i64> = job_keys.iter().flatten().copied().collect();
    if !parcel_keys.is_empty() {
        parcel_keys.sort_unstable();
        parcel_keys.dedup();
        state.ledger.parcels = tx.parcels_since(&parcel_keys, since).await?;
    }
    let mut decisions = Vec::with_capacity(group.len());
    for (job, new_key) in group.iter().zip(job_keys) {
        if !decisions.is_empty() && end_early() {
            break;
        }
        decisions.push(process(&mut tx, state, job, new_key, now).await?);
    }
    state.ledger = GroupLedger::default();
    // The head is computed once: announced with the commit, published after it.
    let head = state.head();
    state.indicators_version = tx
        .commit(state.counters(), &head.root)
        .await?
        .indicators_version;
    Ok((decisions, head))
}

/// Decides one admitted envelope inside the group's transaction: fetches the facts its
/// kind reads, lets `core::ledger` decide, and writes the effects. A refusal is decided
/// before anything is written for it, so a refused envelope leaves no trace.
async fn process<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    job: &AppendJob,
    new_key: Option<i64>,
    now: i64,
) -> Result<Decision, StoreError> {
    let admitted = &job.admitted;
    let policy = job.revenue.as_deref();
    let facts = facts_for(tx, state, admitted, &job.trust, policy, new_key, now).await?;
    let context = ledger::Context {
        now_ms: now,
        administration: &state.issuer.participant,
        country: &state.country,
        declarations_filed: state.declarations,
        risk: &state.risk,
        revenue: policy,
    };
    let mut fresh_id = || uuid::Uuid::now_v7().hyphenated().to_string();
    match ledger::decide(&context, facts, admitted, &mut fresh_id) {
        Verdict::Refuse(rejection) => Ok(Err(rejection)),
        Verdict::Duplicate(known) => Ok(Ok(Stored {
            disposition: Disposition::Duplicate,
            received_at_ms: known.received_at_ms,
            log_index: known.log_index,
        })),
        Verdict::Accept(effects) => {
            let log_index = apply(tx, state, admitted, effects, now).await?;
            Ok(Ok(Stored {
                disposition: Disposition::Accepted,
                received_at_ms: now,
                log_index,
            }))
        }
    }
}

/// Reads what the decision of `admitted` needs: the duplicate and LRN answers from the
/// group's prefetch, routing from the trust list, the rest from the backend.
async fn facts_for<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    admitted: &Admitted,
    trust: &TrustList,
    policy: Option<&RevenuePolicy>,
    new_key: Option<i64>,
    now: i64,
) -> Result<Facts, StoreError> {
    let header = &admitted.header;
    let own = state.issuer.participant.as_str();
    let mut facts = Facts {
        same_id: state.ledger.envelope(&header.message_id).cloned(),
        ..Facts::default()
    };
    match &admitted.payload {
        AdmittedPayload::Declaration(declaration) => {
            facts.lrn_owner = state
                .ledger
                .lrn_owner(&header.sender, &declaration.lrn)
                .cloned();
            facts.declaration_id_taken = state.ledger.declaration_exists(&header.message_id);
            facts.forward_to = forwarding_target(trust, own, declaration);
            if let (Some(policy), Some(key)) = (charging(state, policy, declaration), new_key) {
                facts.parcel_key = Some(key);
                facts.others_value = new_parcel_others(tx, state, policy, key, now).await?;
            }
        }
        AdmittedPayload::ForwardedDeclaration(forwarded) => {
            let original = &forwarded.header;
            facts.forwarded_on_file = tx
                .declaration_on_file(
                    &original.message_id,
                    &original.sender,
                    &forwarded.declaration.lrn,
                )
                .await?;
            if let (Some(policy), Some(key)) =
                (charging(state, policy, &forwarded.declaration), new_key)
            {
                facts.parcel_key = Some(key);
                facts.others_value = new_parcel_others(tx, state, policy, key, now).await?;
            }
        }
        AdmittedPayload::Amendment(declaration) => {
            facts.declaration = tx
                .declaration(&header.correlation_id, &header.sender)
                .await?;
            if let Some(policy) = charging(state, policy, declaration) {
                let key = revenue::splitting_key(declaration);
                facts.parcel_key = Some(key);
                facts.others_value = tx
                    .others_value(&header.correlation_id, key, policy.splitting_window_ms())
                    .await?;
            }
        }
        AdmittedPayload::Invalidation(_) | AdmittedPayload::ReturnNotice(_) => {
            facts.declaration = tx
                .declaration(&header.correlation_id, &header.sender)
                .await?;
        }
        AdmittedPayload::ReferralResponse(response) => {
            facts.referral = tx.referral(&response.referral_id).await?;
            if let Some(referral) = &facts.referral {
                facts.declaration = tx
                    .declaration(&referral.declaration_id, &header.sender)
                    .await?;
            }
            if let Some(record) = &facts.declaration {
                if let Some(policy) = charging(state, policy, &record.data) {
                    facts.others_value = tx
                        .others_value(
                            &record.id,
                            revenue::splitting_key(&record.data),
                            policy.splitting_window_ms(),
                        )
                        .await?;
                }
            }
        }
        AdmittedPayload::RiskIndicator(indicator) => {
            if ledger::issuing_administration(&header.sender) == own {
                facts.share_with = indicator_routes(trust, own, indicator);
                facts.routes = tx.routes(&indicator.indicator_id).await?;
            }
        }
        AdmittedPayload::RiskIndicatorRevocation(revocation) => {
            if ledger::issuing_administration(&header.sender) == own {
                facts.routes = tx.routes(&revocation.indicator_id).await?;
            }
        }
    }
    Ok(facts)
}

/// The policy a declaration is charged under here, if any ([`ledger::charging_policy`]).
fn charging<'p>(
    state: &WriterState,
    policy: Option<&'p RevenuePolicy>,
    declaration: &AdvanceDeclaration,
) -> Option<&'p RevenuePolicy> {
    ledger::charging_policy(policy, &state.country, declaration)
}

/// A job that files a new declaration charged here, with its policy.
fn new_charged<'j>(
    state: &WriterState,
    job: &'j AppendJob,
) -> Option<(&'j RevenuePolicy, &'j AdvanceDeclaration)> {
    let declaration = match &job.admitted.payload {
        AdmittedPayload::Declaration(declaration) => declaration,
        AdmittedPayload::ForwardedDeclaration(forwarded) => &forwarded.declaration,
        _ => return None,
    };
    charging(state, job.revenue.as_deref(), declaration).map(|policy| (policy, declaration))
}

/// R5's sum for a declaration filed now under splitting key `key`: the counting parcels of
/// its buyer and seller within the window, from the group's index (loaded at the group's
/// start, or now if this key was not loaded far enough back).
async fn new_parcel_others<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    policy: &RevenuePolicy,
    key: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let since = now.saturating_sub(policy.splitting_window_ms());
    let loaded = state
        .ledger
        .parcels
        .get(&key)
        .is_some_and(|window| window.since_ms <= since);
    if !loaded {
        let found = tx.parcels_since(&[key], since).await?;
        state.ledger.parcels.extend(found);
    }
    Ok(state.ledger.parcels.get(&key).map_or(0, |window| {
        window
            .values
            .iter()
            .filter(|(received_at, _)| *received_at >= since)
            .fold(0_i64, |sum, (_, value)| sum.saturating_add(*value))
    }))
}

/// Writes an accepted envelope's effects, in order, and brings the writer's in-memory
/// state along. Returns the accepted envelope's log index.
async fn apply<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    admitted: &Admitted,
    effects: Vec<Effect>,
    now: i64,
) -> Result<u64, StoreError> {
    let mut accepted_at = None;
    for effect in effects {
        match effect {
            Effect::LogAccepted => {
                accepted_at = Some(append_to_log(
                    tx,
                    state,
                    Direction::Accepted,
                    &admitted.header,
                    &admitted.digest,
                    admitted.raw.clone(),
                    now,
                ));
            }
            Effect::FileDeclaration(record) => {
                state.declarations += 1;
                state.ledger.add_declaration(
                    record.sender.clone(),
                    record.lrn.clone(),
                    record.id.clone(),
                );
                tx.file_declaration(&record);
            }
            Effect::UpdateDeclaration(record) => tx.update_declaration(&record).await?,
            Effect::OpenReferral(referral) => tx.open_referral(&referral),
            Effect::CloseReferral {
                referral_id,
                status,
            } => tx.close_referral(&referral_id, status).await?,
            Effect::Issue(issue) => {
                let log_index = issue_envelope(tx, state, &issue, now);
                match issue.route {
                    Route::Fetch => {
                        let last = match state.last_seq.get(&issue.recipient) {
                            Some(seq) => *seq,
                            None => tx.last_seq(&issue.recipient).await?,
                        };
                        let seq = last + 1;
                        tx.deliver(&issue.recipient, seq, log_index);
                        state.last_seq.insert(issue.recipient.clone(), seq);
                    }
                    Route::Outbox => {
                        tx.queue_for_peer(&issue, log_index, now).await?;
                        state.outbox_added = true;
                    }
                }
            }
            Effect::PutIndicator { record, message_id } => {
                tx.put_indicator(&record, &message_id).await?;
                state.risk.upsert(record)?;
            }
            Effect::RevokeIndicator { indicator_id } => {
                tx.revoke_indicator(&indicator_id).await?;
                state.risk.remove(&indicator_id);
            }
            Effect::AddRoute { indicator_id, peer } => tx.add_route(&indicator_id, &peer).await?,
            Effect::RemoveRoute { indicator_id, peer } => {
                tx.remove_route(&indicator_id, &peer).await?
            }
            Effect::ClearRoutes { indicator_id } => tx.clear_routes(&indicator_id).await?,
            Effect::TrackParcel(parcel) => {
                tx.track_parcel(&parcel, now);
                if let Some(window) = state.ledger.parcels.get_mut(&parcel.key) {
                    if parcel.counts {
                        window.values.push((now, parcel.value));
                    }
                }
            }
            Effect::UpdateParcel(parcel) => {
                tx.update_parcel(&parcel).await?;
                // The entry may have moved between keys or stopped counting: what the
                // group loaded is reloaded on demand.
                state.ledger.parcels.clear();
            }
        }
    }
    accepted_at.ok_or(StoreError::Ledger(
        "an accepted envelope's effects did not log it",
    ))
}

/// Signs an envelope the ledger decided to issue, as this administration and dated now,
/// and appends it to the log as issued; returns its log index.
fn issue_envelope<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    issue: &ledger::Issue,
    now: i64,
) -> u64 {
    let envelope = seal(
        Draft {
            message_id: issue.message_id.clone(),
            sender: state.issuer.participant.clone(),
            recipient: issue.recipient.clone(),
            message_type: issue.message_type as i32,
            created_at_ms: now,
            correlation_id: issue.correlation_id.clone(),
            payload: issue.payload.clone(),
        },
        &state.issuer.signer.key,
        &state.issuer.signer.key_id,
    );
    let header = envelope.header.clone().unwrap_or_default();
    let digest = envelope_digest(&header);
    append_to_log(
        tx,
        state,
        Direction::Issued,
        &header,
        &digest,
        Bytes::from(envelope.encode_to_vec()),
        now,
    )
}

fn append_to_log<G: GroupWrite>(
    tx: &mut G,
    state: &mut WriterState,
    direction: Direction,
    header: &Header,
    digest: &[u8],
    raw: Bytes,
    now: i64,
) -> u64 {
    let log_index = state.next_index;
    // §9: the entry's leaf joins the Merkle log in the same transaction, so the log and the
    // data can never disagree after a crash.
    let leaf = match direction {
        Direction::Accepted => merkle::accepted_leaf(digest, now),
        Direction::Issued => merkle::issued_leaf(digest, header.created_at_ms),
    };
    let subtrees = state.frontier.push(merkle::leaf_hash(&leaf));
    state.ledger.add_envelope(
        header.message_id.clone(),
        KnownEnvelope {
            digest: digest.to_vec(),
            received_at_ms: now,
            log_index,
        },
    );
    tx.log(LogEntry {
        log_index,
        message_id: header.message_id.clone(),
        direction: direction as u8,
        sender: header.sender.clone(),
        recipient: header.recipient.clone(),
        msg_type: header.r#type,
        correlation_id: header.correlation_id.clone(),
        created_at_ms: header.created_at_ms,
        received_at_ms: now,
        digest: digest.to_vec(),
        envelope: raw,
        subtrees,
    });
    state.next_index += 1;
    log_index
}

/// The group's duplicate and LRN checks: answered from what the backend's prefetch found
/// at the start of the group, plus everything the group itself adds, so that the checks
/// stay exact within the group without a query per envelope. Nothing here outlives the
/// group.
impl GroupLedger {
    /// The stored (or earlier in this group) envelope with this message id.
    fn envelope(&self, message_id: &str) -> Option<&KnownEnvelope> {
        self.envelopes.get(message_id)
    }

    /// Whether a declaration with this id is on file (filed here or forwarded here).
    fn declaration_exists(&self, id: &str) -> bool {
        self.declaration_ids.contains(id)
    }

    /// The declaration `sender` filed under `lrn`, if any.
    fn lrn_owner(&self, sender: &str, lrn: &str) -> Option<&String> {
        self.lrns.get(&(sender.to_owned(), lrn.to_owned()))
    }

    /// Records an envelope the group appends.
    fn add_envelope(&mut self, message_id: String, known: KnownEnvelope) {
        self.envelopes.insert(message_id, known);
    }

    /// Records a declaration the group files.
    fn add_declaration(&mut self, sender: String, lrn: String, message_id: String) {
        self.declaration_ids.insert(message_id.clone());
        self.lrns.insert((sender, lrn), message_id);
    }
}
