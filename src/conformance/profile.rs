//! The conformance profile: the test credentials a federation issues to run the kit against
//! one administration's gateway, named by a `conformance.toml` in the profile folder.
//!
//! The credentials themselves are ordinary client configurations (as `aedgate pki init`
//! writes them: TLS identity, signing key, trust list), so the kit connects exactly as a
//! real partner or risk unit would. `aedgate pki init` writes a `conformance.toml` for the
//! first administration of the federation it makes.

use crate::config::ClientConfig;
use crate::core::revenue::RevenuePolicy;
use std::path::{Path, PathBuf};

/// The file name the kit looks for in the profile folder.
pub const PROFILE_FILE: &str = "conformance.toml";

/// Why a profile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The profile file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The profile file is not valid.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A client configuration the profile names could not be loaded.
    #[error("{role} ({path}): {source}")]
    Client {
        /// Which credential.
        role: &'static str,
        /// Its file.
        path: PathBuf,
        /// The cause.
        source: crate::config::ConfigError,
    },
    /// The revenue policy the profile names could not be loaded.
    // The source names the file already.
    #[error("revenue_policy: {source}")]
    RevenuePolicy {
        /// The policy file.
        path: PathBuf,
        /// The cause.
        source: crate::config::ConfigError,
    },
}

/// `conformance.toml`, as written.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The administration whose gateway is tested (`adm/NL`).
    pub target: String,
    /// Client configuration of a partner registered with the target.
    pub partner: PathBuf,
    /// Client configuration of one of the target's internal participants (publishes the
    /// kit's risk indicators; may read everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<PathBuf>,
    /// A second partner registered with the target (isolation checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_partner: Option<PathBuf>,
    /// A partner in the trust list that is *not* registered with the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered_partner: Option<PathBuf>,
    /// The target's payload limit (§3: 1 MiB unless configured otherwise).
    #[serde(default = "default_payload_limit")]
    pub max_payload_bytes: usize,
    /// The target's revenue policy (§11), the same file its gateway loads, with the IOSS
    /// registry it names beside it. The kit computes every amount it expects from it, so
    /// the revenue and return checks hold for any policy; absent means the target charges
    /// nothing, and those checks are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_policy: Option<PathBuf>,
}

fn default_payload_limit() -> usize {
    1024 * 1024
}

/// A loaded profile: each credential as a client configuration addressed to the target.
#[derive(Debug)]
pub struct Profile {
    /// The administration tested.
    pub target: String,
    /// The partner.
    pub partner: ClientConfig,
    /// The internal participant, if the profile has one.
    pub internal: Option<ClientConfig>,
    /// The second partner, if any.
    pub second_partner: Option<ClientConfig>,
    /// The unregistered partner, if any.
    pub unregistered_partner: Option<ClientConfig>,
    /// The target's payload limit.
    pub max_payload_bytes: usize,
    /// The target's revenue policy, if the profile names one.
    pub revenue: Option<RevenuePolicy>,
}

impl Profile {
    /// Reads `dir/conformance.toml`, every client configuration it names and the revenue
    /// policy if it names one (all relative to `dir`). Each client configuration is
    /// re-addressed to the target administration: a partner registered with several
    /// administrations has one configuration, naming the first.
    pub fn load(dir: &Path) -> Result<Self, ProfileError> {
        let path = dir.join(PROFILE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Read {
            path: path.clone(),
            source,
        })?;
        let file: ProfileFile = toml::from_str(&text).map_err(|e| ProfileError::Invalid {
            path: path.clone(),
            reason: e.message().to_owned(),
        })?;
        if !crate::core::ids::is_participant_id(&file.target) || !file.target.starts_with("adm/") {
            return Err(ProfileError::Invalid {
                path,
                reason: format!("target {:?} is not an administration id", file.target),
            });
        }
        let load =
            |role: &'static str, name: &Path| -> Result<ClientConfig, ProfileError> {
                let path = dir.join(name);
                let mut config = ClientConfig::load(&path)
                    .map_err(|source| ProfileError::Client { role, path, source })?;
                config.gateway = file.target.clone();
                Ok(config)
            };
        let optional = |role: &'static str, name: &Option<PathBuf>| {
            name.as_deref().map(|n| load(role, n)).transpose()
        };
        Ok(Self {
            target: file.target.clone(),
            partner: load("partner", &file.partner)?,
            internal: optional("internal", &file.internal)?,
            second_partner: optional("second_partner", &file.second_partner)?,
            unregistered_partner: optional("unregistered_partner", &file.unregistered_partner)?,
            max_payload_bytes: file.max_payload_bytes,
            revenue: file
                .revenue_policy
                .as_deref()
                .map(|name| {
                    let path = dir.join(name);
                    crate::config::load_revenue_policy(&path)
                        .map_err(|source| ProfileError::RevenuePolicy { path, source })
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{generate, PkiSpec};

    fn written(spec: PkiSpec) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        generate(spec)
            .expect("generate")
            .write(dir.path(), false)
            .expect("write");
        dir
    }

    #[test]
    fn pki_init_names_the_revenue_policy_and_the_profile_loads_it_with_its_registry() {
        let dir = written(PkiSpec::standard());
        let text = std::fs::read_to_string(dir.path().join(PROFILE_FILE)).expect("profile");
        assert!(
            text.contains("revenue_policy = \"adm-NL.revenue.toml\""),
            "{text}"
        );
        let policy = Profile::load(dir.path())
            .expect("profile")
            .revenue
            .expect("a policy");
        assert_eq!(policy.currency, "EUR");
        assert!(policy.ioss_registry.contains("IM5280001234"));
    }

    #[test]
    fn without_revenue_the_profile_names_no_policy() {
        let dir = written(PkiSpec {
            revenue: false,
            ..PkiSpec::standard()
        });
        let text = std::fs::read_to_string(dir.path().join(PROFILE_FILE)).expect("profile");
        assert!(!text.contains("revenue_policy"), "{text}");
        assert!(Profile::load(dir.path())
            .expect("profile")
            .revenue
            .is_none());
    }

    #[test]
    fn a_named_policy_that_cannot_be_loaded_refuses_the_profile() {
        let dir = written(PkiSpec::standard());
        std::fs::remove_file(dir.path().join("adm-NL.revenue.toml")).expect("remove");
        let error = Profile::load(dir.path()).expect_err("a missing policy");
        assert!(
            matches!(error, ProfileError::RevenuePolicy { .. }),
            "{error}"
        );
        let line = error.to_string();
        assert!(
            line.contains("revenue_policy") && line.contains("adm-NL.revenue.toml"),
            "{line}"
        );
    }
}
