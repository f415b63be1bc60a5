//! How a command ends, and the one place where that becomes an exit status.
//!
//! Operators and scripts read exactly two things from `aedgate`: the exit status and, on
//! failure, one line on stderr. The statuses mean: 0 success; 1 when the command ran but the
//! answer is no (the gateway refused the message, a delivered envelope failed its signature
//! check, audit evidence did not hold, a dead letter waits, a conformance check failed),
//! or the runtime could not start; 2 for usage, configuration, file and connection errors.
//! Commands return a [`Verdict`] or a [`CliError`] and never pick a number themselves, so
//! that the table above stays true.

use crate::bench::BenchError;
use crate::client::ClientError;
use crate::config::ConfigError;
use crate::conformance::kit::KitError;
use crate::conformance::ProfileError;
use crate::formats::FormatError;
use crate::pki::PkiError;
use crate::server::ServerError;
use crate::store::StoreError;
use std::path::PathBuf;
use std::process::ExitCode;

/// How a command that ran to its end came out. A refusal is not an error of the command:
/// it printed what the gateway said, and the status tells a script that the answer was no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Done as asked; everything checked held.
    Positive,
    /// Done, but the answer is no: refused, not verified, or waiting for a person.
    Negative,
}

impl Verdict {
    /// [`Verdict::Negative`] when `negative` holds, for commands that count what failed.
    pub(crate) fn negative_if(negative: bool) -> Self {
        if negative {
            Self::Negative
        } else {
            Self::Positive
        }
    }

    /// Negative when either is: a submission accepted but answered by a message that fails
    /// its signature check is not a success.
    pub(crate) fn and(self, verified: bool) -> Self {
        Self::negative_if(self == Self::Negative || !verified)
    }
}

/// Why a command could not do what it was asked. The message is the line printed after
/// `aedgate: error: `; the variant decides the exit status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Arguments that parse but make no sense (an unknown role, a malformed --agreement, a
    /// check name that names nothing).
    #[error("{0}")]
    Usage(String),
    /// A file named on the command line cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but is not of its form (declaration, indicator, receipt, head).
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        source: FormatError,
    },
    /// A tree head file whose root is not a SHA-256 hash, so it names no tree.
    #[error("{}: root_hash is not 32 bytes", path.display())]
    HeadRoot {
        /// The file.
        path: PathBuf,
    },
    /// A federation spec (`pki init --spec`) that is not TOML of the spec's form.
    #[error("{}: {}", path.display(), source.message())]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: toml::de::Error,
    },
    /// The gateway refused the Fetch the command reads from.
    #[error("fetch refused: {0}")]
    FetchRefused(ClientError),
    /// The Fetch stream broke off; the command says where to resume.
    #[error("fetch stream ended after seq {last}: {error}; resume with --after {last}")]
    FetchEnded {
        /// The last seq printed.
        last: u64,
        /// Why the stream ended.
        error: ClientError,
    },
    /// No outcome delivered to this participant carries the referral to answer.
    #[error("no outcome delivered to {participant} carries referral {referral_id:?}; `aedgate fetch` lists them")]
    NoSuchReferral {
        /// Who asked.
        participant: String,
        /// The referral id given.
        referral_id: String,
    },
    /// Only an administration's internal participants read its log; a partner's list would
    /// be wrongly empty.
    #[error("{0} is not an internal participant: only an administration's internal participants (e.g. adm-NL-risk-unit.client.toml) can list indicators")]
    NotInternal(String),
    /// A part of aedgate that the command drives failed, and says why in its own words.
    #[error(transparent)]
    Part(#[from] PartError),
    /// The JUnit report could not be made.
    #[error("cannot write JUnit XML: {0}")]
    Junit(quick_junit::SerializeError),
    /// The demo stopped: what went wrong.
    #[error("{0}")]
    Demo(String),
    /// The async runtime could not start, so nothing was tried.
    #[error("cannot start runtime: {0}")]
    Runtime(std::io::Error),
}

/// Declares [`PartError`] and the conversions into [`CliError`] that let `?` pass a part's
/// error up unchanged.
macro_rules! part_errors {
    ($($(#[$doc:meta])* $variant:ident($error:ty),)+) => {
        /// The error types of the parts of aedgate the commands drive, kept whole. Each is
        /// printed as it is, because each already names what went wrong, and each ends the
        /// command with exit status 2, because none of them is a refusal.
        #[derive(Debug, thiserror::Error)]
        pub(crate) enum PartError {
            $($(#[$doc])* #[error(transparent)] $variant(#[from] $error),)+
        }

        $(impl From<$error> for CliError {
            fn from(error: $error) -> Self {
                Self::Part(PartError::$variant(error))
            }
        })+
    };
}

part_errors! {
    /// A gateway or client configuration cannot be loaded.
    Config(ConfigError),
    /// The gateway could not be reached, or refused a call the command cannot go on without.
    Client(ClientError),
    /// The gateway could not run.
    Server(ServerError),
    /// A store could not be opened or read.
    Store(StoreError),
    /// The development PKI could not be made or written.
    Pki(PkiError),
    /// The benchmark could not run or its results could not be written.
    Bench(BenchError),
    /// The conformance profile cannot be loaded.
    Profile(ProfileError),
    /// The conformance run could not start.
    Kit(KitError),
}

impl CliError {
    /// The exit status: 1 when the runtime could not start, 2 for everything else (usage,
    /// configuration, files, connections), which a script must not read as a refusal.
    fn exit_status(&self) -> u8 {
        match self {
            Self::Runtime(_) => 1,
            _ => 2,
        }
    }
}

/// The one mapping from how a command ended to the process's exit status; errors get their
/// line on stderr here.
pub(crate) fn exit_code(result: Result<Verdict, CliError>) -> ExitCode {
    match result {
        Ok(Verdict::Positive) => ExitCode::SUCCESS,
        Ok(Verdict::Negative) => ExitCode::from(1),
        Err(error) => {
            eprintln!("aedgate: error: {error}");
            ExitCode::from(error.exit_status())
        }
    }
}
