//! The commands of auditors and witnesses (PROTOCOL.md §9, docs/auditing.md): prove a
//! receipt in the gateway's signed log, watch the log only ever grow, and recompute a
//! stored log offline.
//!
//! An audit has three endings, and they must not be confused: the evidence holds
//! ([`Verdict::Positive`]), it does not ([`Verdict::Negative`], with the reason on
//! stdout), or the gateway could not be asked at all ([`CliError`]), which is no verdict
//! on the log.

use super::exit::{CliError, Verdict};
use super::shared::{connect, not_of_form, read_bytes, write_file};
use crate::client::ClientError;
use crate::core::trust::format_ms;
use crate::proto::v1::SignedTreeHead;
use crate::render::{describe_head, describe_refusal, or_dash, plural};
use crate::store::{audit_store_at, ExpectedHead, LogVerdict, StoreAudit, HEAD_FILE};
use clap::Args;
use std::path::{Path, PathBuf};

command_group! {
    /// Check the gateway's verifiable audit log (PROTOCOL.md §9): receipts, tree heads and
    /// stored data. See docs/auditing.md.
    Audit: AuditCommand {
        VerifyReceipt(VerifyReceipt),
        Watch(Watch),
        VerifyStore(VerifyStore),
    }
}

/// Prove that a receipt's message is in the gateway's log: checks the receipt's
/// signature, fetches a signed tree head and an inclusion proof, and verifies both
/// against the trust list. Exit status 1 when any check fails.
#[derive(Debug, Args)]
pub(super) struct VerifyReceipt {
    /// Client configuration (TOML) of any participant that may connect to the gateway
    /// that issued the receipt.
    #[arg(long)]
    config: PathBuf,
    /// The receipt: JSON (as written by `submit --receipt-out`) or protobuf bytes.
    receipt: PathBuf,
    /// Also write the verified tree head to this file (JSON), e.g. to start `audit
    /// watch` from it or to give `verify-store --head`.
    #[arg(long, value_name = "FILE")]
    save_head: Option<PathBuf>,
}

impl VerifyReceipt {
    async fn run(self) -> Result<Verdict, CliError> {
        let path = &self.receipt;
        let receipt =
            crate::formats::audit::read_receipt(&read_bytes(path)?).map_err(not_of_form(path))?;
        let (participant, trust_version) = connect(&self.config).await?;
        let head = match participant.prove_receipt(&receipt).await {
            Ok(head) => head,
            Err(error) => return audit_failure(error),
        };
        println!(
            "VERIFIED: message {} is entry {} of {}'s log\n  receipt          signed by {}, received at {}\n  {}\n  inclusion proof  verified; head signature verified against trust list v{trust_version}",
            receipt.message_id,
            receipt.log_index,
            receipt.receiver,
            receipt.signature.as_ref().map(|s| s.key_id.as_str()).unwrap_or("-"),
            format_ms(receipt.received_at_ms),
            describe_head(&head),
        );
        if let Some(path) = &self.save_head {
            write_file(path, &crate::formats::audit::tree_head_to_json(&head))?;
            println!("  head written to {}", path.display());
        }
        Ok(Verdict::Positive)
    }
}

/// Witness the gateway's log: fetch its signed tree head, prove it consistent with the
/// last head seen (kept in the state file), and remember it. Exit status 1, and the
/// state file left as it was, when the log was rolled back, forked or rewritten.
#[derive(Debug, Args)]
pub(super) struct Watch {
    /// Client configuration (TOML) of any participant that may connect to the gateway.
    #[arg(long)]
    config: PathBuf,
    /// Where the last verified head is kept (JSON); created on the first run.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Seconds between checks.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Check once and exit (for cron jobs and scripts).
    #[arg(long)]
    once: bool,
}

impl Watch {
    async fn run(self) -> Result<Verdict, CliError> {
        let Self {
            config,
            state,
            interval,
            once,
        } = self;
        let (participant, _) = connect(&config).await?;
        let mut last = if state.exists() {
            Some(read_head_file(&state)?)
        } else {
            None
        };
        loop {
            // A head that fails to extend the last one is kept, signed, next to the state
            // file: with the state it is the evidence of a fork or rollback.
            let mut conflicting = None;
            let step = async {
                let (head, _) = participant.tree_head().await?;
                if let Some(earlier) = &last {
                    conflicting = Some(head.clone());
                    participant.check_extends(earlier, &head).await?;
                }
                Ok::<_, ClientError>(head)
            }
            .await;
            match step {
                Ok(head) => {
                    let growth = match &last {
                        None => "first head seen".to_owned(),
                        Some(earlier) => format!(
                            "consistent with the last head (+{})",
                            plural(
                                head.tree_size.saturating_sub(earlier.tree_size),
                                "entry",
                                "entries"
                            )
                        ),
                    };
                    println!("OK: {}; {growth}", describe_head(&head));
                    write_file(&state, &crate::formats::audit::tree_head_to_json(&head))?;
                    last = Some(head);
                }
                Err(error) => match classify(error) {
                    Ok(problem) => {
                        println!("ALERT: the log of {} does not hold up", participant.gateway);
                        if let Some(earlier) = &last {
                            println!("  head in {}: {}", state.display(), describe_head(earlier));
                        }
                        if let Some(head) = conflicting {
                            let path = state.with_extension("conflict.json");
                            write_file(&path, &crate::formats::audit::tree_head_to_json(&head))?;
                            println!(
                                "  new head, kept in {}: {}",
                                path.display(),
                                describe_head(&head)
                            );
                        }
                        println!("NOT VERIFIED: {problem}");
                        return Ok(Verdict::Negative);
                    }
                    Err(unreachable) if once => return Err(unreachable.into()),
                    Err(unreachable) => {
                        tracing::warn!(
                            "cannot check the log now ({unreachable}); retrying in {interval} s"
                        );
                    }
                },
            }
            if once {
                return Ok(Verdict::Positive);
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval.max(1))).await;
        }
    }
}

/// Recompute the whole log from a gateway's data folder, offline and read-only, check it
/// against the tree head the gateway kept there and every stored signature against the
/// trust lists it kept there, and name the first entry that does not match. Exit status 1
/// on any mismatch.
#[derive(Debug, Args)]
pub(super) struct VerifyStore {
    /// The gateway's `data_dir`.
    data_dir: PathBuf,
    /// The shared PostgreSQL database (the gateway's `[store] url`), for a replica: its
    /// log is read from there, its kept head and trust lists from `data_dir`.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// A signed tree head (JSON, e.g. a `watch` state file) whose root the stored log
    /// must give at its size; repeatable. Catches a rewrite that is consistent in
    /// itself.
    #[arg(long, value_name = "FILE")]
    head: Vec<PathBuf>,
    /// A trust list (JSON) to check signatures with besides the lists kept in the data
    /// folder; repeatable. Needed only for entries stored before the gateway kept its
    /// lists, signed with keys no later list has.
    #[arg(long, value_name = "FILE")]
    trust_list: Vec<PathBuf>,
}

impl VerifyStore {
    async fn run(self) -> Result<Verdict, CliError> {
        let mut heads = Vec::new();
        for path in &self.head {
            let head = read_head_file(path)?;
            let root = crate::core::merkle::Hash::try_from(&head.root_hash[..])
                .map_err(|_| CliError::HeadRoot { path: path.clone() })?;
            heads.push(ExpectedHead {
                size: head.tree_size,
                root,
            });
        }
        let mut trust_lists = Vec::new();
        for path in &self.trust_list {
            let list = crate::core::trust::TrustList::read_kept(&read_bytes(path)?)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            trust_lists.push((path.display().to_string(), list));
        }
        let data_dir = &self.data_dir;
        let audit = StoreAudit { heads, trust_lists };
        let report = audit_store_at(data_dir, self.store.as_deref(), audit).await?;
        match report.verdict {
            LogVerdict::Intact {
                size,
                root,
                heads_confirmed,
            } => {
                println!(
                    "VERIFIED: {} recomputed from {}; root {}",
                    plural(size, "entry", "entries"),
                    data_dir.display(),
                    hex::encode(root)
                );
                match report.kept_head {
                    Some(size) => println!(
                        "  holds the head of size {size} the gateway signed and kept in {HEAD_FILE}"
                    ),
                    None => println!(
                        "  no head kept in {HEAD_FILE} (a store from before heads were kept)"
                    ),
                }
                for size in heads_confirmed {
                    println!("  matches the signed head of size {size}");
                }
                let versions: Vec<String> = report
                    .trust_lists
                    .iter()
                    .map(|(_, version)| format!("v{version}"))
                    .collect();
                println!(
                    "  {} verified with the trust lists kept and given ({})",
                    plural(report.signatures, "signature", "signatures"),
                    if versions.is_empty() {
                        "none".to_owned()
                    } else {
                        versions.join(", ")
                    }
                );
                Ok(Verdict::Positive)
            }
            LogVerdict::NotKeptHead { problem } => {
                println!(
                    "MISMATCH: the store does not hold the tree head its gateway signed and kept in {HEAD_FILE}: {problem}"
                );
                Ok(Verdict::Negative)
            }
            LogVerdict::EntryMismatch {
                log_index,
                message_id,
                problem,
            } => {
                println!(
                    "MISMATCH at entry {log_index} (message id {}): {problem}",
                    or_dash(&message_id)
                );
                Ok(Verdict::Negative)
            }
            LogVerdict::HeadMismatch { size, recomputed } => {
                match recomputed {
                    Some(root) => println!(
                        "MISMATCH: the stored log's first {} give root {}, not the signed head's: the log was rewritten",
                        plural(size, "entry", "entries"),
                        hex::encode(root)
                    ),
                    None => println!(
                        "MISMATCH: a signed head covers {} but the store holds fewer: entries were removed",
                        plural(size, "entry", "entries")
                    ),
                }
                Ok(Verdict::Negative)
            }
        }
    }
}

/// A signed tree head file (JSON or protobuf), as `watch` keeps and `verify-receipt`
/// saves it.
fn read_head_file(path: &Path) -> Result<SignedTreeHead, CliError> {
    crate::formats::audit::read_tree_head(&read_bytes(path)?).map_err(not_of_form(path))
}

/// [`Verdict::Negative`] with the reason when the gateway's evidence does not hold, an
/// error when it could not be asked (unreachable, overloaded, not allowed): that is no
/// verdict on the log.
fn audit_failure(error: ClientError) -> Result<Verdict, CliError> {
    match classify(error) {
        Ok(problem) => {
            println!("NOT VERIFIED: {problem}");
            Ok(Verdict::Negative)
        }
        Err(unreachable) => Err(unreachable.into()),
    }
}

/// Splits audit failures into evidence that does not hold (`Ok`, the reason) and failures
/// to ask (`Err`). A gateway that cannot produce a proof for its own receipt or head (a
/// range or data-loss refusal) has failed to back its evidence; an unreachable one has not
/// said anything.
fn classify(error: ClientError) -> Result<String, ClientError> {
    match error {
        ClientError::Audit(problem) => Ok(problem.to_string()),
        ClientError::BadReceipt(problem) => Ok(format!("receipt: {problem}")),
        ClientError::Refused(status)
            if matches!(
                status.code(),
                tonic::Code::InvalidArgument | tonic::Code::OutOfRange | tonic::Code::DataLoss
            ) =>
        {
            Ok(describe_refusal(&status))
        }
        other => Err(other),
    }
}
