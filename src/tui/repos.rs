//! The service repositories as the console knows them: which services read which one,
//! and for those named by URL, how their background fetch stands (when last fetched,
//! waiting for a fetch, failed). Screens show it; the loop's fetch queue feeds it.

use crate::config::Config;
use crate::domain::{human_age, RepoLocation};
use crate::git::fleet::FetchReport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchState {
    /// A path, read where it is: nothing to fetch.
    InPlace,
    /// A URL whose mirror was fetched at this time (seconds since the epoch), or never.
    Fetched(Option<i64>),
    /// Queued or being fetched; the last fetch that worked, if any.
    Waiting(Option<i64>),
    /// The last fetch failed; the one before that worked, if any.
    Failed { reason: String, last: Option<i64> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoEntry {
    /// As configured: the path or URL, as the engine's answers name it.
    pub location: String,
    pub url: Option<String>,
    pub services: Vec<String>,
    pub fetch: FetchState,
    /// Its mirror holds the recent history only (cloned so; the rest is being fetched).
    pub recent_only: bool,
}

impl RepoEntry {
    /// When its mirror last worked, if it is one that ever did.
    pub fn fetched_at(&self) -> Option<i64> {
        match &self.fetch {
            FetchState::InPlace => None,
            FetchState::Fetched(at) | FetchState::Waiting(at) => *at,
            FetchState::Failed { last, .. } => *last,
        }
    }

    /// Its fetch in a few characters, for a column: `3m` ago, `…` being fetched, `✗`
    /// failed, `-` never fetched; `*` after the age while only its recent history is
    /// there. Empty for a path.
    pub fn mark(&self, now: i64) -> String {
        let star = if self.recent_only { "*" } else { "" };
        match &self.fetch {
            FetchState::InPlace => String::new(),
            FetchState::Waiting(Some(at)) => format!("{}{star}", human_age(now - at)),
            FetchState::Waiting(None) => "…".into(),
            FetchState::Failed { .. } => "✗".into(),
            FetchState::Fetched(Some(at)) => format!("{}{star}", human_age(now - at)),
            FetchState::Fetched(None) => "-".into(),
        }
    }

    /// Its fetch in words, for a title or a detail line.
    pub fn describe(&self, now: i64) -> String {
        let ago = |at: &Option<i64>| {
            at.map(|at| format!("fetched {} ago", human_age(now - at)))
                .unwrap_or_else(|| "never fetched".into())
        };
        match &self.fetch {
            FetchState::InPlace => format!("{} (read in place)", self.location),
            FetchState::Fetched(at) if self.recent_only => format!(
                "{} ({}, its newest commits only, the rest to come)",
                self.location,
                ago(at)
            ),
            FetchState::Fetched(at) => format!("{} ({})", self.location, ago(at)),
            FetchState::Waiting(at) => format!("{} ({}, fetching…)", self.location, ago(at)),
            FetchState::Failed { reason, last } => format!(
                "{} (fetch failed: {reason}; {})",
                self.location,
                match last {
                    Some(_) => format!("showing the copy {}", ago(last)),
                    None => "nothing fetched yet".into(),
                }
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Repos {
    entries: Vec<RepoEntry>,
    /// Some service names a repository of its own: git screens follow the chosen service.
    pub polyrepo: bool,
}

impl Repos {
    pub fn new(config: &Config) -> Repos {
        let entries = config
            .repositories()
            .into_iter()
            .map(|(git, services)| {
                let url = match &git.location {
                    RepoLocation::Url(url) => Some(url.clone()),
                    RepoLocation::Path(_) => None,
                };
                RepoEntry {
                    recent_only: false,
                    location: git.location.to_string(),
                    fetch: match url {
                        Some(_) => FetchState::Fetched(None),
                        None => FetchState::InPlace,
                    },
                    url,
                    services,
                }
            })
            .collect();
        Repos {
            entries,
            polyrepo: config.polyrepo(),
        }
    }

    /// Fills in when each mirror was last fetched (before this console).
    pub fn learn_fetched(&mut self, fetched_at: impl Fn(&str) -> Option<i64>) {
        for entry in &mut self.entries {
            if let (Some(url), FetchState::Fetched(None)) = (&entry.url, &entry.fetch) {
                entry.fetch = FetchState::Fetched(fetched_at(url));
            }
        }
    }

    pub fn of(&self, service: &str) -> Option<&RepoEntry> {
        self.entries
            .iter()
            .find(|e| e.services.iter().any(|s| s == service))
    }

    /// The services reading the repository at `url`.
    pub fn services_of(&self, url: &str) -> Vec<String> {
        self.entries
            .iter()
            .find(|e| e.url.as_deref() == Some(url))
            .map(|e| e.services.clone())
            .unwrap_or_default()
    }

    /// Every URL, in the services' order: visible rows first.
    pub fn all_urls(&self) -> Vec<String> {
        self.entries.iter().filter_map(|e| e.url.clone()).collect()
    }

    /// The URLs `services` read, in their order, each once.
    pub fn urls(&self, services: &[&str]) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for service in services {
            if let Some(url) = self.of(service).and_then(|e| e.url.clone()) {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
        urls
    }

    /// These URLs are queued for a fetch.
    pub fn queued(&mut self, urls: &[String]) {
        for entry in &mut self.entries {
            if entry.url.as_ref().is_some_and(|u| urls.contains(u)) {
                entry.fetch = FetchState::Waiting(entry.fetched_at());
            }
        }
    }

    /// A fetch ended; returns the entry it was for.
    pub fn on_fetched(&mut self, report: &FetchReport) -> Option<&RepoEntry> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.url.as_deref() == Some(report.url.as_str()))?;
        if let Ok(fetched) = &report.result {
            entry.recent_only = fetched.shallow;
        }
        entry.fetch = match &report.result {
            Ok(fetched) => FetchState::Fetched(Some(fetched.at)),
            Err(e) => FetchState::Failed {
                reason: e.reason.clone(),
                last: entry.fetched_at(),
            },
        };
        Some(entry)
    }

    /// How the mirrors stand, when there are any: `repositories: 180 of 200 fetched,
    /// 20 fetching, 150 completing their history, 1 failed`.
    pub fn summary(&self) -> Option<String> {
        let mirrors: Vec<&RepoEntry> = self.entries.iter().filter(|e| e.url.is_some()).collect();
        if mirrors.is_empty() {
            return None;
        }
        let count = |f: &dyn Fn(&RepoEntry) -> bool| mirrors.iter().filter(|e| f(e)).count();
        let fetched = count(&|e| e.fetched_at().is_some());
        let fetching = count(&|e| matches!(e.fetch, FetchState::Waiting(None)));
        let completing = count(&|e| e.recent_only);
        let failed = count(&|e| matches!(e.fetch, FetchState::Failed { .. }));
        let mut text = format!("repositories: {fetched} of {} fetched", mirrors.len());
        for (n, what) in [
            (fetching, "fetching"),
            (completing, "completing their history"),
            (failed, "failed"),
        ] {
            if n > 0 {
                text.push_str(&format!(", {n} {what}"));
            }
        }
        Some(text)
    }
}
