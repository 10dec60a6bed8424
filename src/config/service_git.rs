//! Where each service's git history lives: its own repository (`[[service]] git`, a path
//! or a URL) or `[git] path`, read with `[git]`'s branch names unless the service names
//! its own.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::{Config, GitSettings, Service};
use crate::domain::RepoLocation;

/// `[[service]]` keys about git, as written.
#[derive(Debug, Default)]
pub(super) struct RawServiceGit {
    pub(super) git: Option<Spanned<String>>,
    pub(super) develop: Option<Spanned<String>>,
    pub(super) main: Option<Spanned<String>>,
    pub(super) release_prefix: Option<Spanned<String>>,
    pub(super) hotfix_prefix: Option<Spanned<String>>,
}

/// A service's branch names where they differ from `[git]`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchOverrides {
    pub develop: Option<String>,
    pub main: Option<String>,
    pub release_prefix: Option<String>,
    pub hotfix_prefix: Option<String>,
}

impl BranchOverrides {
    /// `[git]` with these names in place of its own; a release prefix of its own also
    /// starts the release template (which must begin with it).
    pub fn apply(&self, git: &GitSettings) -> GitSettings {
        let mut settings = git.clone();
        let pick = |own: &Option<String>, default: &mut String| {
            if let Some(name) = own {
                *default = name.clone();
            }
        };
        pick(&self.develop, &mut settings.develop);
        pick(&self.main, &mut settings.main);
        pick(&self.release_prefix, &mut settings.release_prefix);
        pick(&self.hotfix_prefix, &mut settings.hotfix_prefix);
        if let Some(prefix) = &self.release_prefix {
            if let Some(rest) = git.release_template.strip_prefix(&git.release_prefix) {
                settings.release_template = format!("{prefix}{rest}");
            }
        }
        settings
    }
}

/// One service's repository and the settings that read it.
#[derive(Debug, Clone)]
pub struct ServiceGit {
    /// As configured: the service's `git`, else `[git] path`.
    pub location: RepoLocation,
    /// `[git]` with the service's branch names. `path` is the repository's for a path; for
    /// a URL it is still `[git] path` until the engine points it at the URL's mirror.
    pub settings: GitSettings,
    /// Named by the service itself (`[[service]] git`), not `[git] path`.
    pub own: bool,
}

impl ServiceGit {
    /// Services reading the same repository with the same branch names share one.
    pub fn same_repository(&self, other: &ServiceGit) -> bool {
        self.location == other.location
            && self.settings.develop == other.settings.develop
            && self.settings.main == other.settings.main
            && self.settings.release_prefix == other.settings.release_prefix
            && self.settings.hotfix_prefix == other.settings.hotfix_prefix
    }

    /// Where the configuration says it is, for messages: `[[service]] git` or `[git] path`.
    pub fn configured_by(&self) -> &'static str {
        if self.own {
            "[[service]] git"
        } else {
            "[git] path"
        }
    }
}

impl Config {
    /// `service`'s repository and branch names.
    pub fn service_git(&self, service: &Service) -> ServiceGit {
        let settings = service.branches.apply(&self.git);
        match &service.git {
            Some(location) => {
                let mut settings = settings;
                if let RepoLocation::Path(path) = location {
                    settings.path = path.clone();
                }
                ServiceGit {
                    location: location.clone(),
                    settings,
                    own: true,
                }
            }
            None => ServiceGit {
                location: RepoLocation::Path(self.git.path.clone()),
                settings,
                own: false,
            },
        }
    }

    /// Each repository the services read, with its services in configuration order.
    pub fn repositories(&self) -> Vec<(ServiceGit, Vec<String>)> {
        let mut groups: Vec<(ServiceGit, Vec<String>)> = Vec::new();
        for service in &self.services {
            let git = self.service_git(service);
            match groups.iter_mut().find(|(g, _)| g.same_repository(&git)) {
                Some((_, names)) => names.push(service.name.clone()),
                None => groups.push((git, vec![service.name.clone()])),
            }
        }
        groups
    }

    /// True when some service names a repository of its own.
    pub fn polyrepo(&self) -> bool {
        self.services.iter().any(|s| s.git.is_some())
    }
}

impl RawServiceGit {
    /// The location and branch names, checked as `[git]`'s are; the error's span is the
    /// offending key's.
    pub(super) fn validate(
        &self,
        git: &GitSettings,
        config_dir: Option<&Path>,
    ) -> Result<(Option<RepoLocation>, BranchOverrides), (Range<usize>, String)> {
        let location = match &self.git {
            Some(value) if value.get_ref().trim().is_empty() => {
                return Err((
                    value.span(),
                    "git is empty: say a path or URL of the service's repository, or leave it out to use [git] path".into(),
                ))
            }
            Some(value) => Some(RepoLocation::parse(value.get_ref(), config_dir)),
            None => None,
        };
        let owned = |value: &Option<Spanned<String>>| value.as_ref().map(|v| v.get_ref().clone());
        let overrides = BranchOverrides {
            develop: owned(&self.develop),
            main: owned(&self.main),
            release_prefix: owned(&self.release_prefix),
            hotfix_prefix: owned(&self.hotfix_prefix),
        };
        if let Err(why) = overrides.apply(git).check() {
            let span = [
                &self.develop,
                &self.main,
                &self.release_prefix,
                &self.hotfix_prefix,
            ]
            .into_iter()
            .flatten()
            .find(|value| why.contains(&format!("`{}`", value.get_ref())))
            .or(self.git.as_ref())
            .map(Spanned::span)
            .unwrap_or_default();
            return Err((span, why.replacen("git.", "", 1)));
        }
        Ok((location, overrides))
    }
}

#[cfg(test)]
mod tests;
