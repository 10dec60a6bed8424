//! Retention settings: `[environment.retention]` and `retain_promoted`, validated with the
//! span of the offending value so the configuration error reads `file:line:col`.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::domain::duration::RetentionDuration;
use crate::domain::pattern::TagPattern;

/// An environment's retention policy, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// The newest this many images (among those no other rule protects) are never deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
    /// Images older than this many days are deleted (beyond the newest `keep`, if set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// Tags the policy may delete; an image with any other tag is left alone.
    pub include: Vec<TagPattern>,
    /// Tags the policy never deletes, even when `include` matches them.
    pub exclude: Vec<TagPattern>,
    /// Images younger than this are never deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_age: Option<RetentionDuration>,
}

impl RetentionPolicy {
    /// A policy keeping the newest `keep` images of `prefix*` tags, nothing else set.
    pub fn keep_newest(keep: u32, prefix: &str) -> Self {
        RetentionPolicy {
            keep: Some(keep),
            max_age_days: None,
            include: vec![TagPattern::prefixed(prefix)],
            exclude: Vec::new(),
            min_age: None,
        }
    }

    /// Why `tag` is outside the policy: `None` when the policy may delete it, else the
    /// exclude pattern that protects it (`Some(None)`: no include pattern matches).
    pub fn excludes(&self, tag: &str) -> Option<Option<&TagPattern>> {
        if !self.include.iter().any(|p| p.matches(tag)) {
            return Some(None);
        }
        self.exclude.iter().find(|p| p.matches(tag)).map(Some)
    }

    /// One line for plans and the README's wording: what the policy keeps and deletes.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(keep) = self.keep {
            parts.push(format!("keep = {keep}"));
        }
        if let Some(days) = self.max_age_days {
            parts.push(format!("max_age_days = {days}"));
        }
        if let Some(min_age) = &self.min_age {
            parts.push(format!("min_age = {min_age}"));
        }
        let list = |patterns: &[TagPattern]| {
            patterns
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        parts.push(format!("include = [{}]", list(&self.include)));
        if !self.exclude.is_empty() {
            parts.push(format!("exclude = [{}]", list(&self.exclude)));
        }
        parts.join(", ")
    }
}

/// `[environment.retention]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    #[serde(default)]
    keep: Option<Spanned<u32>>,
    #[serde(default)]
    max_age_days: Option<Spanned<u32>>,
    #[serde(default)]
    include: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    min_age: Option<Spanned<String>>,
}

/// A problem and where it is.
pub type Located = (Range<usize>, String);

/// Validates one environment's retention keys. `prefix` is the immutable tag prefix, the
/// default `include`.
pub fn validate(
    env: &str,
    raw: Option<&Spanned<RawRetention>>,
    retain_promoted: Option<&Spanned<String>>,
    prefix: &str,
) -> Result<(Option<RetentionPolicy>, Option<RetentionDuration>), Located> {
    let retain = match retain_promoted {
        Some(value) => Some(RetentionDuration::parse(value.get_ref()).map_err(|why| {
            (
                value.span(),
                format!("environment `{env}`: retain_promoted {why}"),
            )
        })?),
        None => None,
    };
    let Some(raw) = raw else {
        return Ok((None, retain));
    };
    let section = raw.span();
    let raw = raw.get_ref();
    if raw.keep.is_none() && raw.max_age_days.is_none() {
        return Err((
            section,
            format!("environment `{env}`: [environment.retention] needs keep = N or max_age_days = D (or both); without either it deletes nothing"),
        ));
    }
    if let Some(days) = raw.max_age_days.as_ref().filter(|d| *d.get_ref() == 0) {
        return Err((
            days.span(),
            format!(
                "environment `{env}`: max_age_days = 0 would make every image old; use at least 1"
            ),
        ));
    }
    let patterns = |values: &[Spanned<String>], key: &str| -> Result<Vec<TagPattern>, Located> {
        values
            .iter()
            .map(|v| {
                TagPattern::parse(v.get_ref()).map_err(|why| {
                    (
                        v.span(),
                        format!("environment `{env}`: retention.{key}: {why}"),
                    )
                })
            })
            .collect()
    };
    let include = match &raw.include {
        Some(include) if include.get_ref().is_empty() => {
            return Err((
                include.span(),
                format!("environment `{env}`: retention.include is empty, so nothing could ever be deleted; leave it out for [\"{prefix}*\"]"),
            ))
        }
        Some(include) => patterns(include.get_ref(), "include")?,
        None => vec![TagPattern::prefixed(prefix)],
    };
    let exclude = patterns(&raw.exclude, "exclude")?;
    let min_age = match &raw.min_age {
        Some(value) => Some(RetentionDuration::parse(value.get_ref()).map_err(|why| {
            (
                value.span(),
                format!("environment `{env}`: retention.min_age {why}"),
            )
        })?),
        None => None,
    };
    Ok((
        Some(RetentionPolicy {
            keep: raw.keep.as_ref().map(|k| *k.get_ref()),
            max_age_days: raw.max_age_days.as_ref().map(|d| *d.get_ref()),
            include,
            exclude,
            min_age,
        }),
        retain,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_wins_over_include() {
        let mut policy = RetentionPolicy::keep_newest(3, "sha-");
        policy
            .exclude
            .push(TagPattern::parse("sha-*-keep").unwrap());
        assert_eq!(policy.excludes("sha-1234567"), None);
        assert_eq!(policy.excludes("latest"), Some(None));
        assert_eq!(
            policy
                .excludes("sha-1234567-keep")
                .flatten()
                .map(|p| p.as_str()),
            Some("sha-*-keep")
        );
    }

    fn parse(environment_extra: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "[[environment]]\nname = \"dev\"\nregistry = \"localhost:5000\"\n{environment_extra}\n[[service]]\nname = \"svc\"\n"
        );
        crate::config::Config::parse(&text, std::path::Path::new("g.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_configuration_reads_a_full_policy() {
        let config = parse(
            "retain_promoted = \"7y\"\n[environment.retention]\nkeep = 20\nmax_age_days = 90\ninclude = [\"sha-*\"]\nexclude = [\"sha-*-keep\"]\nmin_age = \"24h\"\n",
        )
        .unwrap();
        let env = &config.environments[0];
        let policy = env.retention.as_ref().unwrap();
        assert_eq!(policy.keep, Some(20));
        assert_eq!(policy.max_age_days, Some(90));
        assert_eq!(policy.exclude[0].as_str(), "sha-*-keep");
        assert_eq!(policy.min_age.as_ref().unwrap().seconds, 86_400);
        assert_eq!(env.retain_promoted.as_ref().unwrap().text, "7y");
        assert_eq!(
            policy.summary(),
            "keep = 20, max_age_days = 90, min_age = 24h, include = [\"sha-*\"], exclude = [\"sha-*-keep\"]"
        );
    }

    #[test]
    fn include_defaults_to_the_commit_tags_and_no_section_means_no_policy() {
        let config = parse("[environment.retention]\nkeep = 3\n").unwrap();
        let policy = config.environments[0].retention.as_ref().unwrap();
        assert_eq!(policy.include, [TagPattern::prefixed("sha-")]);
        assert!(parse("").unwrap().environments[0].retention.is_none());
    }

    #[test]
    fn bad_retention_keys_are_located() {
        let cases: [(&str, &str, &str); 7] = [
            (
                "retain_promoted = \"7 years\"\n",
                "g.toml:4:19",
                "unknown unit `years`",
            ),
            (
                "[environment.retention]\nkeep = 3\nmin_age = \"soon\"\n",
                "g.toml:6:11",
                "retention.min_age",
            ),
            (
                "[environment.retention]\nkeep = 3\nexclude = [\"sha/*\"]\n",
                "g.toml:6:12",
                "cannot match any tag",
            ),
            (
                "[environment.retention]\nkeep = 3\ninclude = []\n",
                "g.toml:6:11",
                "include is empty",
            ),
            (
                "[environment.retention]\nmin_age = \"1h\"\n",
                "g.toml:4:1",
                "needs keep = N or max_age_days",
            ),
            (
                "[environment.retention]\nmax_age_days = 0\n",
                "g.toml:5:16",
                "max_age_days = 0",
            ),
            ("[environment.retention]\nkeep = -1\n", "g.toml:5:8", ""),
        ];
        for (extra, location, words) in cases {
            let error = parse(extra).unwrap_err();
            assert!(error.starts_with(location), "{extra:?}: {error}");
            assert!(error.contains(words), "{extra:?}: {error}");
        }
        let unknown = parse("[environment.retention]\nkeep = 3\nkeep_days = 3\n").unwrap_err();
        assert!(unknown.contains("keep_days"), "{unknown}");
    }
}
