//! The retention planner: a pure function from one repository's images, where their
//! commits sit in git, and what is protected, to a keep-or-delete decision per image,
//! each with the rule that decided it.
//!
//! The unit is the digest, not the tag: registries delete by digest, and deleting one
//! removes every tag on it, so one protected tag keeps the whole image.

use std::cmp::Reverse;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::retention::RetentionPolicy;
use crate::domain::Digest;

/// One image (one digest) in the repository being cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub digest: Digest,
    /// Every tag on the digest, signature tags aside; sorted.
    pub tags: Vec<String>,
    /// The image config's `created`: what stands in for push time, which registries do
    /// not report.
    pub created: Option<DateTime<Utc>>,
}

/// Where a tag's commit sits in git.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Place {
    /// Commits between develop's head and this one (0 = the head); `None` off develop.
    pub position: Option<usize>,
    /// Committer time, seconds since the epoch; `None` when the repository lacks the commit.
    /// On develop, the newest time at or below the commit, so times never run backwards
    /// up the branch: the planner then needs no other image to place this one, which is
    /// what makes planning again after a deletion give the same order.
    pub commit_time: Option<i64>,
}

/// What a protection points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An image carrying this tag (here, in the repository being cleaned).
    Tag(String),
    /// The image with this digest.
    Digest(Digest),
}

/// Something that must not be deleted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    pub target: Target,
    pub rule: Rule,
}

/// Why an image is kept or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// An environment's mutable tag points at it in this repository.
    MutableTag { tag: String, environment: String },
    /// An environment runs it: its commit tag is behind that environment's mutable tag.
    Runs { environment: String, tag: String },
    /// The head of an open release or hotfix branch.
    BranchHead { branch: String, tag: String },
    /// Promoted to an environment whose images are retained for `retain`.
    RetainPromoted {
        environment: String,
        /// When the ledger recorded the promotion; `None`: held there with no record
        /// dating it, so kept as if promoted just now.
        #[serde(skip_serializing_if = "Option::is_none")]
        promoted_at: Option<String>,
        retain: String,
    },
    /// A tag the policy does not cover: deleting the digest would delete it too.
    OutsidePolicy {
        tag: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        excluded_by: Option<String>,
    },
    /// Younger than `min_age` (or of unknown age, which could be younger).
    MinAge {
        min_age: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        created: Option<String>,
    },
    /// Among the newest `keep` images.
    Newest { rank: usize, keep: u32 },
    /// Beyond `keep` (if set) but not older than `max_age_days`.
    NotOld {
        rank: usize,
        max_age_days: u32,
        created: String,
    },
    /// `max_age_days` cannot be applied to an image without a created time.
    AgeUnknown { rank: usize, max_age_days: u32 },
    /// Past the newest `keep`.
    BeyondKeep { rank: usize, keep: u32 },
    /// Older than `max_age_days`, with no `keep` set.
    TooOld {
        rank: usize,
        max_age_days: u32,
        created: String,
    },
    /// Past the newest `keep` and older than `max_age_days`.
    BeyondKeepAndTooOld {
        rank: usize,
        keep: u32,
        max_age_days: u32,
        created: String,
    },
    /// A signature whose image is gone (left by an earlier run that stopped midway).
    OrphanSignature { subject: Digest },
}

impl Rule {
    /// The rule in words, as the plan prints it.
    pub fn describe(&self) -> String {
        match self {
            Rule::MutableTag { tag, environment } => {
                format!("`{tag}` ({environment}'s mutable tag) points at it")
            }
            Rule::Runs { environment, tag } => format!("{environment} runs it ({tag})"),
            Rule::BranchHead { branch, tag } => format!("head of {branch} ({tag})"),
            Rule::RetainPromoted {
                environment,
                promoted_at: Some(at),
                retain,
            } => format!("promoted to {environment} at {at}, retained {retain}"),
            Rule::RetainPromoted {
                environment,
                promoted_at: None,
                retain,
            } => format!(
                "held in {environment}, retained {retain} (no ledger record dates its promotion)"
            ),
            Rule::OutsidePolicy {
                tag,
                excluded_by: Some(pattern),
            } => format!("`{tag}` is excluded by \"{pattern}\""),
            Rule::OutsidePolicy {
                tag,
                excluded_by: None,
            } => format!("`{tag}` is not matched by include"),
            Rule::MinAge {
                min_age,
                created: Some(created),
            } => format!("younger than min_age {min_age} (created {created})"),
            Rule::MinAge {
                min_age,
                created: None,
            } => format!("no created time, so it may be younger than min_age {min_age}"),
            Rule::Newest { rank, keep } => format!("#{rank} of the newest {keep}"),
            Rule::NotOld {
                rank,
                max_age_days,
                created,
            } => format!("#{rank}, not older than {max_age_days} days (created {created})"),
            Rule::AgeUnknown { rank, max_age_days } => format!(
                "#{rank}, no created time: cannot tell it is older than {max_age_days} days"
            ),
            Rule::BeyondKeep { rank, keep } => format!("#{rank}, beyond the newest {keep}"),
            Rule::TooOld {
                rank,
                max_age_days,
                created,
            } => format!("#{rank}, older than {max_age_days} days (created {created})"),
            Rule::BeyondKeepAndTooOld {
                rank,
                keep,
                max_age_days,
                created,
            } => format!(
                "#{rank}, beyond the newest {keep} and older than {max_age_days} days (created {created})"
            ),
            Rule::OrphanSignature { subject } => {
                format!("signature of {subject}, which is gone")
            }
        }
    }

    /// The rule's name as `--json` has it.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::MutableTag { .. } => "mutable_tag",
            Rule::Runs { .. } => "runs",
            Rule::BranchHead { .. } => "branch_head",
            Rule::RetainPromoted { .. } => "retain_promoted",
            Rule::OutsidePolicy { .. } => "outside_policy",
            Rule::MinAge { .. } => "min_age",
            Rule::Newest { .. } => "newest",
            Rule::NotOld { .. } => "not_old",
            Rule::AgeUnknown { .. } => "age_unknown",
            Rule::BeyondKeep { .. } => "beyond_keep",
            Rule::TooOld { .. } => "too_old",
            Rule::BeyondKeepAndTooOld { .. } => "beyond_keep_and_too_old",
            Rule::OrphanSignature { .. } => "orphan_signature",
        }
    }

    /// Protections hold whatever the policy says; the others come from the policy.
    pub fn is_protection(&self) -> bool {
        matches!(
            self,
            Rule::MutableTag { .. }
                | Rule::Runs { .. }
                | Rule::BranchHead { .. }
                | Rule::RetainPromoted { .. }
                | Rule::OutsidePolicy { .. }
                | Rule::MinAge { .. }
        )
    }
}

/// What the planner decided for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub image: Image,
    pub delete: bool,
    /// The rule that decided.
    pub rule: Rule,
    /// Other protections that hold as well.
    pub also: Vec<Rule>,
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub policy: &'a RetentionPolicy,
    pub now: DateTime<Utc>,
    pub images: &'a [Image],
    /// Tag -> where its commit sits; tags missing here have no known commit.
    pub places: &'a HashMap<String, Place>,
    /// In the order they should be named: the first that holds is the deciding rule.
    pub protections: &'a [Protection],
}

/// RFC 3339 to the second, as plans print times.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Decides every image, newest first.
pub fn plan(input: &Input<'_>) -> Vec<Decision> {
    let policy = input.policy;
    let mut rank = 0;
    newest_first(input.images, input.places)
        .into_iter()
        .map(|i| {
            let image = &input.images[i];
            let mut held = protections_of(input, image);
            if !held.is_empty() {
                let rule = held.remove(0);
                return Decision {
                    image: image.clone(),
                    delete: false,
                    rule,
                    also: held,
                };
            }
            rank += 1;
            let created = image.created.as_ref().map(format_time);
            let old = |days: u32| {
                image.created.map(|c| {
                    input.now.signed_duration_since(c) > chrono::Duration::days(days.into())
                })
            };
            let (delete, rule) = match (policy.keep, policy.max_age_days) {
                (Some(keep), _) if rank <= keep as usize => (false, Rule::Newest { rank, keep }),
                (Some(keep), None) => (true, Rule::BeyondKeep { rank, keep }),
                (keep, Some(max_age_days)) => match (old(max_age_days), created) {
                    (Some(true), Some(created)) => (
                        true,
                        match keep {
                            Some(keep) => Rule::BeyondKeepAndTooOld {
                                rank,
                                keep,
                                max_age_days,
                                created,
                            },
                            None => Rule::TooOld {
                                rank,
                                max_age_days,
                                created,
                            },
                        },
                    ),
                    (Some(_), Some(created)) => (
                        false,
                        Rule::NotOld {
                            rank,
                            max_age_days,
                            created,
                        },
                    ),
                    _ => (false, Rule::AgeUnknown { rank, max_age_days }),
                },
                // Validation refuses a policy with neither; keeping everything is the safe reading.
                (None, None) => (
                    false,
                    Rule::Newest {
                        rank,
                        keep: u32::MAX,
                    },
                ),
            };
            Decision {
                image: image.clone(),
                delete,
                rule,
                also: Vec::new(),
            }
        })
        .collect()
}

/// Every protection that holds for `image`, the deciding one first.
fn protections_of(input: &Input<'_>, image: &Image) -> Vec<Rule> {
    let mut held: Vec<Rule> = input
        .protections
        .iter()
        .filter(|p| match &p.target {
            Target::Tag(tag) => image.tags.iter().any(|t| t == tag),
            Target::Digest(digest) => *digest == image.digest,
        })
        .map(|p| p.rule.clone())
        .collect();
    // The same rule reached through a tag and through the digest is said once.
    let mut unique: Vec<Rule> = Vec::with_capacity(held.len());
    for rule in held.drain(..) {
        if !unique.contains(&rule) {
            unique.push(rule);
        }
    }
    let mut held = unique;
    for tag in &image.tags {
        if let Some(excluded_by) = input.policy.excludes(tag) {
            held.push(Rule::OutsidePolicy {
                tag: tag.clone(),
                excluded_by: excluded_by.map(|p| p.to_string()),
            });
        }
    }
    if let Some(min_age) = &input.policy.min_age {
        let young = match image.created {
            Some(created) => input.now.signed_duration_since(created) < min_age.as_chrono(),
            None => true,
        };
        if young {
            held.push(Rule::MinAge {
                min_age: min_age.to_string(),
                created: image.created.as_ref().map(format_time),
            });
        }
    }
    held
}

/// How new an image is; greater is newer. Commits on develop compare by position;
/// everything else by time. To keep one total order even when given times that run
/// backwards up develop, a commit's time is raised to the newest time below it among
/// the images given (a no-op for the times the engine passes, already raised by git).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Newness {
    time: i64,
    on_develop: bool,
    closeness: Reverse<usize>,
}

/// Indexes of `images`, newest first; ties are broken by digest, so the order is total
/// and the same on every run.
pub fn newest_first(images: &[Image], places: &HashMap<String, Place>) -> Vec<usize> {
    // Positions on develop, oldest first, with their times made monotone.
    let mut positioned: Vec<(usize, i64)> = images
        .iter()
        .flat_map(|image| image.tags.iter())
        .filter_map(|tag| {
            let place = places.get(tag)?;
            Some((place.position?, place.commit_time.unwrap_or(i64::MIN)))
        })
        .collect();
    positioned.sort_by_key(|(position, _)| Reverse(*position));
    let mut raised: HashMap<usize, i64> = HashMap::new();
    let mut floor = i64::MIN;
    for (position, time) in positioned {
        floor = floor.max(time);
        raised.insert(position, floor);
    }
    let newness = |image: &Image| -> Newness {
        let by_created = Newness {
            time: image.created.map_or(i64::MIN, |c| c.timestamp()),
            on_develop: false,
            closeness: Reverse(usize::MAX),
        };
        image
            .tags
            .iter()
            .filter_map(|tag| {
                let place = places.get(tag)?;
                match place.position {
                    Some(position) => Some(Newness {
                        time: raised.get(&position).copied().unwrap_or(i64::MIN),
                        on_develop: true,
                        closeness: Reverse(position),
                    }),
                    None => place.commit_time.map(|time| Newness {
                        time,
                        on_develop: false,
                        closeness: Reverse(usize::MAX),
                    }),
                }
            })
            .max()
            .unwrap_or(by_created)
    };
    let keys: Vec<Newness> = images.iter().map(newness).collect();
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by(|&a, &b| {
        keys[b]
            .cmp(&keys[a])
            .then_with(|| images[a].digest.cmp(&images[b].digest))
    });
    order
}

#[cfg(test)]
mod tests;
