//! Naming and checking release and hotfix branches before they are cut.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::{CommitInfo, GitError, GitRepo};
use crate::config::is_valid_branch_name;

/// A release version, `X.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// The next minor release: 1.4.2 -> 1.5.0.
    pub fn next_minor(self) -> Version {
        Version {
            major: self.major,
            minor: self.minor + 1,
            patch: 0,
        }
    }

    /// The version at the start of `text` (`1.2.0-sha-...`, `1.2`), if there is one.
    /// Two or three numbers; a missing patch counts as 0.
    fn leading(text: &str) -> Option<Version> {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let numbers: Vec<&str> = text[..end].trim_end_matches('.').split('.').collect();
        let parse = |s: &str| s.parse::<u64>().ok();
        match numbers.as_slice() {
            [major, minor] => Some(Version {
                major: parse(major)?,
                minor: parse(minor)?,
                patch: 0,
            }),
            [major, minor, patch] => Some(Version {
                major: parse(major)?,
                minor: parse(minor)?,
                patch: parse(patch)?,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = GitError;

    /// `X.Y.Z`, with an optional leading `v`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('v').unwrap_or(s);
        let parts: Vec<&str> = digits.split('.').collect();
        let number = |p: &str| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        };
        match parts.as_slice() {
            [major, minor, patch] => match (number(major), number(minor), number(patch)) {
                (Some(major), Some(minor), Some(patch)) => Ok(Version {
                    major,
                    minor,
                    patch,
                }),
                _ => Err(GitError::InvalidVersion(s.to_string())),
            },
            _ => Err(GitError::InvalidVersion(s.to_string())),
        }
    }
}

/// A branch about to be cut: checked, named, not yet created.
#[derive(Debug, Clone, Serialize)]
pub struct BranchPlan {
    pub branch: String,
    pub commit: CommitInfo,
    /// The release version, for a release branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// True when the version was suggested rather than given.
    pub version_suggested: bool,
}

/// Fills a release template's placeholders.
pub fn render_release_name(template: &str, version: &Version, commit: &CommitInfo) -> String {
    template
        .replace("{version}", &version.to_string())
        .replace("{short}", &commit.short)
        .replace("{sha}", &commit.sha)
}

impl GitRepo {
    /// The highest release version among release branches (local and remote-tracking),
    /// read where the template puts `{version}`.
    pub fn highest_release_version(&self) -> Result<Option<Version>, GitError> {
        let template = &self.settings.release_template;
        // The literal text before `{version}` when it has no other placeholder; else the
        // prefix, with an optional `v`, as people usually name releases.
        let before = template
            .find("{version}")
            .map(|i| &template[..i])
            .filter(|literal| !literal.contains('{'));
        let prefix = &self.settings.release_prefix;
        let highest = self
            .all_branch_names()?
            .iter()
            .filter_map(|name| match before {
                Some(literal) => name.strip_prefix(literal).and_then(Version::leading),
                None => name
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| Version::leading(rest.strip_prefix('v').unwrap_or(rest))),
            })
            .max();
        Ok(highest)
    }

    /// Checks and names a release branch from `spec` on develop. Refuses a commit that
    /// is not on develop and a name that exists; changes nothing.
    pub fn plan_release(&self, spec: &str, version: Option<&str>) -> Result<BranchPlan, GitError> {
        let commit = self.resolve(spec)?;
        let develop = self.settings.develop.clone();
        if !self.is_on(&commit.sha, &develop)? {
            return Err(GitError::NotOnBranch {
                short: commit.short.clone(),
                subject: commit.subject.clone(),
                branch: develop,
                hint: ": releases are cut from develop, whose images are the ones built".into(),
            });
        }
        let (version, suggested) = match version {
            Some(v) => (v.parse::<Version>()?, false),
            None => {
                let highest = self.highest_release_version()?.unwrap_or(Version {
                    major: 0,
                    minor: 0,
                    patch: 0,
                });
                (highest.next_minor(), true)
            }
        };
        let branch = render_release_name(&self.settings.release_template, &version, &commit);
        self.check_new_branch(&branch)?;
        Ok(BranchPlan {
            branch,
            commit,
            version: Some(version.to_string()),
            version_suggested: suggested,
        })
    }

    /// Checks and names `hotfix/<name>` from main's head, or from `from`, which must be on
    /// main or on a release branch (what production runs). Changes nothing.
    pub fn plan_hotfix(&self, name: &str, from: Option<&str>) -> Result<BranchPlan, GitError> {
        let branch = format!("{}{name}", self.settings.hotfix_prefix);
        if name.is_empty() || !is_valid_branch_name(&branch) {
            return Err(GitError::InvalidBranchName {
                name: branch,
                hint: " (letters, digits, `-`, `_`, `.`, `/`; no spaces, `..`, `~`, `^`, `:`)"
                    .into(),
            });
        }
        let main = self.settings.main.clone();
        let commit = match from {
            None => self.head_of(&main)?,
            Some(spec) => {
                let commit = self.resolve(spec)?;
                if !self.is_on_production_line(&commit.sha)? {
                    return Err(GitError::NotOnBranch {
                        short: commit.short.clone(),
                        subject: commit.subject.clone(),
                        branch: format!("{main} or any {}* branch", self.settings.release_prefix),
                        hint: ": a hotfix starts from what production runs".into(),
                    });
                }
                commit
            }
        };
        self.check_new_branch(&branch)?;
        Ok(BranchPlan {
            branch,
            commit,
            version: None,
            version_suggested: false,
        })
    }

    fn is_on_production_line(&self, sha: &str) -> Result<bool, GitError> {
        if self.branch_head(&self.settings.main).is_ok() && self.is_on(sha, &self.settings.main)? {
            return Ok(true);
        }
        for branch in self.branches()? {
            if branch.kind == super::BranchKind::Release && self.is_on(sha, &branch.name)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn check_new_branch(&self, branch: &str) -> Result<(), GitError> {
        if !is_valid_branch_name(branch) {
            return Err(GitError::InvalidBranchName {
                name: branch.to_string(),
                hint: String::new(),
            });
        }
        if self.branch_exists(branch) {
            return Err(GitError::BranchExists {
                name: branch.to_string(),
                at: self.existing_branch_at(branch),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(
            "1.4.2".parse::<Version>().ok(),
            Some(Version {
                major: 1,
                minor: 4,
                patch: 2
            })
        );
        assert!("v2.0.0".parse::<Version>().is_ok());
        for bad in ["1.4", "1.4.x", "", "1..2", "1.2.3.4", "-1.2.3"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }

    #[test]
    fn leading_version_reads_branch_suffixes() {
        assert_eq!(
            Version::leading("1.12.0-sha-2b2e927").map(|v| v.to_string()),
            Some("1.12.0".into())
        );
        assert_eq!(
            Version::leading("2.3").map(|v| v.to_string()),
            Some("2.3.0".into())
        );
        assert_eq!(Version::leading("next"), None);
        assert_eq!(Version::leading("2024-q1"), None);
    }

    #[test]
    fn next_minor_resets_patch() {
        let v: Version = "1.9.3".parse().expect("version");
        assert_eq!(v.next_minor().to_string(), "1.10.0");
    }

    #[test]
    fn template_fills_every_placeholder() {
        let commit = CommitInfo {
            sha: "2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e".into(),
            short: "2b2e927".into(),
            author: String::new(),
            email: String::new(),
            date: String::new(),
            commit_time: 0,
            subject: String::new(),
            parents: 1,
        };
        let v: Version = "1.2.0".parse().expect("version");
        assert_eq!(
            render_release_name("release/v{version}-sha-{short}", &v, &commit),
            "release/v1.2.0-sha-2b2e927"
        );
        assert_eq!(
            render_release_name("release/{sha}", &v, &commit),
            format!("release/{}", commit.sha)
        );
    }
}
