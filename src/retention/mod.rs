//! Retention: clean-up plans that know what is deployed.
//!
//! Per environment, a policy (`[environment.retention]`) says how many images to keep and
//! how old they may get; gantry adds what no registry's own retention knows: what every
//! environment's mutable tag points at and runs, the heads of open release and hotfix
//! branches, what the ledger says was promoted to an environment that keeps its images
//! for years (`retain_promoted`), and images too young to judge. The pieces:
//!
//! - [`policy`]: the settings, validated with file:line:col;
//! - [`plan`]: a pure function from images, git places and protections to decisions;
//! - this module: reading the registries, git and the ledger into the planner's input;
//! - [`execute`]: deleting by digest (registries refuse deletion by tag), with the
//!   image's signatures, re-checking each image first, recording each deletion.

pub mod execute;
pub mod plan;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::config::{Environment, Service};
use crate::domain::{is_commit_id, Digest};
use crate::engine::{Engine, EngineError};
use crate::git::{GitError, GitRepo, Lookup};
use crate::ledger::{LedgerError, RecordKind};
use crate::registry::manifest::{self, ImageConfig, Parsed};
use crate::registry::{RegistryClient, RegistryError};

pub use execute::{DeletedImage, ExecutionFailure, FailureKind, RetentionOutcome, SkippedImage};
pub use plan::{Decision, Image, Place, Protection, Rule, Target};
pub use policy::{RetentionDuration, RetentionPolicy, TagPattern};

/// Requests in flight at once while reading a repository.
const CONCURRENCY: usize = 8;

/// Suffixes of the tags cosign hangs on an image (`sha256-<hex>.sig` and the like).
const ATTACHMENTS: [&str; 3] = ["sig", "att", "sbom"];

/// How to get the space back, said after every run that deleted something.
pub const RECLAIM_HINT: &str = "Deleting manifests frees no disk space by itself: the registry's garbage collection removes the blobs no manifest references any more.
  Distribution (docker-registry): stop it or set storage.maintenance.readonly.enabled: true, then run
    docker-registry garbage-collect /etc/docker/registry/config.yml
  (upstream binary: registry garbage-collect <config>), and restart it writable.
  Harbor: Administration > Garbage Collection (run now or on a schedule). ECR, Artifact Registry, GHCR: the registry reclaims space itself.";

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Git(#[from] GitError),
    /// An environment retains promoted images and the ledger that dates promotions
    /// cannot be read: what it protects is unknown, so nothing is planned.
    #[error("{context}: {source}")]
    Ledger {
        context: String,
        #[source]
        source: Box<LedgerError>,
    },
    /// Another environment's registry could not be read: what it runs is unknown.
    #[error("{0}")]
    Unreadable(String),
    /// Bad input: an environment without a policy, say.
    #[error("{0}")]
    Input(String),
    /// Refused before anything was deleted (a read-only environment, a busy lock).
    #[error("refused: {0}")]
    Refused(String),
}

impl RetentionError {
    /// 1 registry or network, 2 invalid input or configuration, 3 refused.
    pub fn exit_code(&self) -> i32 {
        match self {
            RetentionError::Engine(e) => e.exit_code(),
            RetentionError::Git(e) => e.exit_code(),
            RetentionError::Ledger { source, .. } => match source.as_ref() {
                LedgerError::Tampered(_) => 3,
                other => other.exit_code(),
            },
            RetentionError::Unreadable(_) => 1,
            RetentionError::Input(_) => 2,
            RetentionError::Refused(_) => 3,
        }
    }
}

impl From<RegistryError> for RetentionError {
    fn from(e: RegistryError) -> Self {
        RetentionError::Engine(e.into())
    }
}

/// One image in a plan, with the rule that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedImage {
    pub digest: Digest,
    /// Every tag on the digest: deleting it deletes them all.
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// cosign signatures (and attestations) hanging on it, deleted with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// Platform manifests of an index that no kept image shares: deleted with it, or the
    /// registry's garbage collection would keep their layers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    pub decision: Rule,
    /// The decision in words.
    pub reason: String,
    /// Other protections that hold too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Rule>,
}

impl PlannedImage {
    /// The commit tags first, as people name an image.
    pub fn label(&self, prefix: &str) -> String {
        let mut tags: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        tags.sort_by_key(|t| (!t.starts_with(prefix), *t));
        tags.join(" ")
    }
}

/// A signature whose image is gone: an earlier run stopped between the two deletions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedSignature {
    pub tag: String,
    pub digest: Digest,
    pub subject: Digest,
    pub decision: Rule,
}

/// What a clean-up of one service in one environment would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionPlan {
    pub service: String,
    pub environment: String,
    /// `host/repository`.
    pub repository: String,
    pub policy: RetentionPolicy,
    pub planned_at: String,
    /// Newest first; carried out oldest first.
    pub delete: Vec<PlannedImage>,
    /// Newest first.
    pub keep: Vec<PlannedImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphan_signatures: Vec<PlannedSignature>,
    /// What the plan could not know, and what it assumed instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RetentionPlan {
    pub fn is_noop(&self) -> bool {
        self.delete.is_empty() && self.orphan_signatures.is_empty()
    }

    /// `payment-svc in dev: 3 to delete (2 signature(s)), 31 kept`, for confirmations and logs.
    pub fn summary(&self) -> String {
        format!(
            "{} in {}: {}",
            self.service,
            self.environment,
            self.counts()
        )
    }

    /// `3 to delete (2 signature(s)), 31 kept`: the summary where the place is already said.
    pub fn counts(&self) -> String {
        let signatures: usize = self
            .delete
            .iter()
            .map(|i| i.signatures.len())
            .sum::<usize>()
            + self.orphan_signatures.len();
        let mut text = format!("{} to delete", self.delete.len());
        if signatures > 0 {
            text.push_str(&format!(" ({signatures} signature(s))"));
        }
        text.push_str(&format!(", {} kept", self.keep.len()));
        text
    }
}

/// A plan, or why there is none, for one service in one environment.
#[derive(Debug, Serialize)]
pub struct PlanResult {
    pub service: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<RetentionPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exit_code: i32,
}

/// One environment's repository of the service: every tag and its digest.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub(crate) env: Environment,
    pub(crate) repository: String,
    /// Tag -> digest, signature tags aside.
    pub(crate) digests: BTreeMap<String, Digest>,
    /// Signature (and attestation) tags: subject digest -> tags.
    pub(crate) attachments: BTreeMap<Digest, Vec<String>>,
}

impl Listing {
    pub(crate) fn by_digest(&self) -> BTreeMap<Digest, Vec<String>> {
        let mut by_digest: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for (tag, digest) in &self.digests {
            by_digest
                .entry(digest.clone())
                .or_default()
                .push(tag.clone());
        }
        by_digest
    }
}

/// The subject of a cosign attachment tag: `sha256-<hex>.sig` -> `sha256:<hex>`.
pub fn attachment_subject(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    if !ATTACHMENTS.contains(&suffix) {
        return None;
    }
    format!("sha256:{hex}").parse().ok()
}

/// The attachment tags cosign would use for `digest`.
pub fn attachment_tags(digest: &Digest) -> Vec<String> {
    ATTACHMENTS
        .iter()
        .map(|suffix| format!("sha256-{}.{suffix}", digest.hex()))
        .collect()
}

/// Reads every tag of `service` in `env` and what it points at.
pub(crate) async fn read_listing(
    client: &RegistryClient,
    env: &Environment,
    service: &Service,
) -> Result<Listing, RegistryError> {
    let repository = env.repository(service);
    let tags = client.list_tags(&repository).await?;
    let mut attachments: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    let mut plain = Vec::new();
    for tag in tags {
        match attachment_subject(&tag) {
            Some(subject) => attachments.entry(subject).or_default().push(tag),
            None => plain.push(tag),
        }
    }
    let repository_ref = &repository;
    let heads: Vec<(String, Option<Digest>)> = stream::iter(plain)
        .map(|tag| async move {
            let head = client.head_manifest(repository_ref, &tag).await?;
            Ok::<_, RegistryError>((tag, head.map(|h| h.digest)))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    for tags in attachments.values_mut() {
        tags.sort();
    }
    Ok(Listing {
        env: env.clone(),
        repository,
        // A tag deleted between the listing and its HEAD is simply not there.
        digests: heads
            .into_iter()
            .filter_map(|(tag, digest)| digest.map(|d| (tag, d)))
            .collect(),
        attachments,
    })
}

/// An image's created time and, for an index, its platform manifests.
pub(crate) type ImageFacts = (Option<DateTime<Utc>>, Vec<Digest>);

/// What [`ImageFacts`] says of one image; `None` when the manifest vanished since it was
/// listed.
/// The created time is read only when `want_created` (a config blob, and for an index its
/// first platform's manifest: two requests saved per image when git orders it).
pub(crate) async fn describe(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    want_created: bool,
) -> Result<Option<ImageFacts>, RegistryError> {
    let top = match client.get_manifest(repository, digest.as_str()).await {
        Ok(top) => top,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    // A manifest gantry cannot parse still gets a decision; only its age is unknown.
    let (config, children) = match manifest::parse(&top.media_type, &top.bytes) {
        Ok(Parsed::Image(parts)) => (Some(parts.config.digest), Vec::new()),
        Ok(Parsed::Index(children)) => {
            let children: Vec<Digest> = children
                .into_iter()
                .filter(|c| crate::domain::media::is_manifest(&c.media_type))
                .map(|c| c.digest)
                .collect();
            let config = match children.first().filter(|_| want_created) {
                Some(first) => match client.get_manifest(repository, first.as_str()).await {
                    Ok(raw) => match manifest::parse(&raw.media_type, &raw.bytes) {
                        Ok(Parsed::Image(parts)) => Some(parts.config.digest),
                        _ => None,
                    },
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            (config, children)
        }
        Err(_) => (None, Vec::new()),
    };
    let created = match config.filter(|_| want_created) {
        Some(config) => match client.get_blob_bytes(repository, &config).await {
            Ok(bytes) => serde_json::from_slice::<ImageConfig>(&bytes)
                .ok()
                .and_then(|c| c.created)
                .and_then(|c| DateTime::parse_from_rfc3339(&c).ok())
                .map(|c| c.with_timezone(&Utc)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(Some((created, children)))
}

/// What git says about the tags of the repository being cleaned.
#[derive(Debug, Default)]
struct GitFacts {
    places: HashMap<String, Place>,
    /// (branch, head sha) of every open release and hotfix branch.
    heads: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Engine {
    /// Plans for every environment with a retention policy (or `env` alone) and every
    /// service (or `service` alone). Each service's environments are read once.
    pub async fn retention_plans(
        &self,
        env: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<PlanResult>, RetentionError> {
        let config = self.config();
        let envs: Vec<&Environment> = match env {
            Some(name) => {
                let env = config.environment(name).map_err(EngineError::from)?;
                if env.retention.is_none() {
                    return Err(RetentionError::Input(format!(
                        "environment `{name}` has no [environment.retention] policy in {}",
                        config.source.display()
                    )));
                }
                vec![env]
            }
            None => config
                .environments
                .iter()
                .filter(|e| e.retention.is_some())
                .collect(),
        };
        if envs.is_empty() {
            return Err(RetentionError::Input(format!(
                "no environment in {} has an [environment.retention] policy: nothing to clean up",
                config.source.display()
            )));
        }
        let services: Vec<&Service> = match service {
            Some(name) => vec![config.service(name).map_err(EngineError::from)?],
            None => config.services.iter().collect(),
        };
        let env_names: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
        let per_service = join_all(
            services
                .iter()
                .map(|service| self.plans_for_service(service, &env_names)),
        )
        .await;
        Ok(per_service.into_iter().flatten().collect())
    }

    /// The plan for one service in one environment (which must have a policy).
    pub async fn retention_plan(
        &self,
        env: &str,
        service: &str,
    ) -> Result<RetentionPlan, RetentionError> {
        let config = self.config();
        let environment = config.environment(env).map_err(EngineError::from)?;
        if environment.retention.is_none() {
            return Err(RetentionError::Input(format!(
                "environment `{env}` has no [environment.retention] policy in {}",
                config.source.display()
            )));
        }
        let service = config.service(service).map_err(EngineError::from)?;
        let context = self.retention_context(service).await?;
        self.plan_in(service, env, &context).await
    }

    async fn plans_for_service(&self, service: &Service, envs: &[String]) -> Vec<PlanResult> {
        let failed = |env: &str, e: &RetentionError| PlanResult {
            service: service.name.clone(),
            environment: env.to_string(),
            plan: None,
            error: Some(e.to_string()),
            exit_code: e.exit_code(),
        };
        let context = match self.retention_context(service).await {
            Ok(context) => context,
            Err(e) => return envs.iter().map(|env| failed(env, &e)).collect(),
        };
        let mut results = Vec::new();
        for env in envs {
            results.push(match self.plan_in(service, env, &context).await {
                Ok(plan) => PlanResult {
                    service: service.name.clone(),
                    environment: env.clone(),
                    plan: Some(plan),
                    error: None,
                    exit_code: 0,
                },
                Err(e) => failed(env, &e),
            });
        }
        results
    }

    /// Every environment's listing of `service`, and the ledger's dated promotions into
    /// environments that retain them: what protects images wherever they are cleaned.
    async fn retention_context(&self, service: &Service) -> Result<Context, RetentionError> {
        let config = self.config();
        let listings = join_all(config.environments.iter().map(|env| async move {
            let client = self.client(&env.name)?;
            read_listing(client, env, service)
                .await
                .map_err(|e| (env.name.clone(), e))
                .map_err(|(env, e)| {
                    RetentionError::Unreadable(format!(
                        "cannot read {} in {env}: {e}; nothing is deleted while what {env} holds and runs is unknown",
                        service.name
                    ))
                })
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<Listing>, RetentionError>>()?;

        let mut notes = Vec::new();
        let retaining: Vec<&Environment> = config
            .environments
            .iter()
            .filter(|e| e.retain_promoted.is_some())
            .collect();
        let mut promotions: Vec<(String, Digest, DateTime<Utc>)> = Vec::new();
        if !retaining.is_empty() {
            let names = retaining
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            match self.ledger_snapshot().await {
                Ok(snapshot) => {
                    if let Some(problem) = snapshot.problem {
                        return Err(RetentionError::Ledger {
                            context: format!("the ledger fails verification, and {names} retain promoted images by it"),
                            source: Box::new(LedgerError::Tampered(problem)),
                        });
                    }
                    for record in snapshot.records {
                        if !matches!(record.kind, RecordKind::Promotion | RecordKind::Rollback) {
                            continue;
                        }
                        let (Some(env), Some(digest)) = (record.environment, record.digest) else {
                            continue;
                        };
                        if let Ok(at) = DateTime::parse_from_rfc3339(&record.at) {
                            promotions.push((env, digest, at.with_timezone(&Utc)));
                        }
                    }
                }
                Err(LedgerError::Off(reason)) => notes.push(format!(
                    "the ledger is off ({reason}): every image held in {names} is retained as if promoted just now"
                )),
                Err(source) => {
                    return Err(RetentionError::Ledger {
                        context: format!(
                            "cannot read the ledger, and {names} retain promoted images by it"
                        ),
                        source: Box::new(source),
                    })
                }
            }
        }
        for env in &config.environments {
            if env.mutable_tag.is_none() {
                notes.push(format!(
                    "{} has no mutable_tag, so what it runs is unknown: only its other protections hold",
                    env.name
                ));
            }
        }
        Ok(Context {
            listings,
            promotions,
            notes,
        })
    }

    async fn plan_in(
        &self,
        service: &Service,
        env_name: &str,
        context: &Context,
    ) -> Result<RetentionPlan, RetentionError> {
        let config = self.config();
        let env = config.environment(env_name).map_err(EngineError::from)?;
        let policy = env.retention.clone().ok_or_else(|| {
            RetentionError::Input(format!("environment `{env_name}` has no retention policy"))
        })?;
        let listing = context
            .listings
            .iter()
            .find(|l| l.env.name == env.name)
            .ok_or_else(|| RetentionError::Input(format!("{env_name} was not read")))?;
        let client = self.client(&env.name)?;
        let now = Utc::now();
        let mut notes = context.notes.clone();

        // Each image once, with its created time and platform manifests.
        // Git first: an image git orders needs no created time unless the policy has ages.
        let by_digest = listing.by_digest();
        let git = self
            .git_facts(by_digest.values().flatten().cloned().collect())
            .await?;
        notes.extend(git.notes);
        let ages = policy.max_age_days.is_some() || policy.min_age.is_some();
        let repository = &listing.repository;
        let places = &git.places;
        let described: Vec<(Digest, Vec<String>, Option<ImageFacts>)> = stream::iter(by_digest)
            .map(|(digest, tags)| async move {
                let want_created = ages || !tags.iter().any(|t| places.contains_key(t));
                let facts = describe(client, repository, &digest, want_created).await?;
                Ok::<_, RegistryError>((digest, tags, facts))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut images = Vec::new();
        let mut children: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for (digest, mut tags, facts) in described {
            let Some((created, kids)) = facts else {
                continue;
            };
            tags.sort();
            children.insert(digest.clone(), kids);
            images.push(Image {
                digest,
                tags,
                created,
            });
        }

        let protections = self.protections(listing, context, &git.heads, now);
        let decisions = plan::plan(&plan::Input {
            policy: &policy,
            now,
            images: &images,
            places: &git.places,
            protections: &protections,
        });

        // A platform manifest shared with a kept image, or tagged itself, stays.
        let shared: HashSet<&Digest> = decisions
            .iter()
            .filter(|d| !d.delete)
            .flat_map(|d| children.get(&d.image.digest).into_iter().flatten())
            .chain(listing.digests.values())
            .collect();
        let planned = |decision: &Decision| PlannedImage {
            digest: decision.image.digest.clone(),
            tags: decision.image.tags.clone(),
            created: decision.image.created.as_ref().map(plan::format_time),
            signatures: listing
                .attachments
                .get(&decision.image.digest)
                .cloned()
                .unwrap_or_default(),
            children: if decision.delete {
                children
                    .get(&decision.image.digest)
                    .into_iter()
                    .flatten()
                    .filter(|c| !shared.contains(c))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
            decision: decision.rule.clone(),
            reason: decision.rule.describe(),
            also: decision.also.clone(),
        };
        let delete: Vec<PlannedImage> =
            decisions.iter().filter(|d| d.delete).map(planned).collect();
        let keep: Vec<PlannedImage> = decisions
            .iter()
            .filter(|d| !d.delete)
            .map(planned)
            .collect();
        let orphan_signatures = self
            .orphan_signatures(client, listing, &images, &children)
            .await?;
        Ok(RetentionPlan {
            service: service.name.clone(),
            environment: env.name.clone(),
            repository: env.image_name(service),
            policy,
            planned_at: plan::format_time(&now),
            delete,
            keep,
            orphan_signatures,
            notes,
        })
    }

    /// Everything that must stay in `env`'s repository, in the order rules are named.
    fn protections(
        &self,
        listing: &Listing,
        context: &Context,
        heads: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Vec<Protection> {
        let config = self.config();
        let tags = &config.tags;
        let mut protections = Vec::new();
        // Mutable tags in this repository: deleting their digest would delete them.
        let mut seen = HashSet::new();
        for other in &config.environments {
            let Some(mutable) = &other.mutable_tag else {
                continue;
            };
            if listing.digests.contains_key(mutable) && seen.insert(mutable.clone()) {
                protections.push(Protection {
                    target: Target::Tag(mutable.clone()),
                    rule: Rule::MutableTag {
                        tag: mutable.clone(),
                        environment: other.name.clone(),
                    },
                });
            }
        }
        // What each environment runs: its commit tag here, and its digest here.
        for other in &context.listings {
            let Some(running) = other
                .env
                .mutable_tag
                .as_ref()
                .and_then(|m| other.digests.get(m))
            else {
                continue;
            };
            for (tag, digest) in &other.digests {
                if digest != running || !tags.is_immutable(tag) {
                    continue;
                }
                let rule = Rule::Runs {
                    environment: other.env.name.clone(),
                    tag: tag.clone(),
                };
                protections.push(Protection {
                    target: Target::Tag(tag.clone()),
                    rule: rule.clone(),
                });
                protections.push(Protection {
                    target: Target::Digest(digest.clone()),
                    rule,
                });
            }
        }
        for (branch, sha) in heads {
            let tag = tags.for_commit(sha);
            protections.push(Protection {
                target: Target::Tag(tag.clone()),
                rule: Rule::BranchHead {
                    branch: branch.clone(),
                    tag,
                },
            });
        }
        // Promotions into environments that retain them, dated by the ledger; images
        // held there with no record dating them are kept as if promoted just now.
        for retaining in &config.environments {
            let Some(retain) = &retaining.retain_promoted else {
                continue;
            };
            let mut newest: BTreeMap<&Digest, DateTime<Utc>> = BTreeMap::new();
            for (to, digest, at) in &context.promotions {
                if *to == retaining.name {
                    let entry = newest.entry(digest).or_insert(*at);
                    *entry = (*entry).max(*at);
                }
            }
            for (digest, at) in &newest {
                if now.signed_duration_since(*at) <= retain.as_chrono() {
                    protections.push(Protection {
                        target: Target::Digest((*digest).clone()),
                        rule: Rule::RetainPromoted {
                            environment: retaining.name.clone(),
                            promoted_at: Some(plan::format_time(at)),
                            retain: retain.to_string(),
                        },
                    });
                }
            }
            let held: BTreeSet<&Digest> = context
                .listings
                .iter()
                .filter(|l| l.env.name == retaining.name)
                .flat_map(|l| l.digests.values())
                .collect();
            for digest in held {
                if !newest.contains_key(digest) {
                    protections.push(Protection {
                        target: Target::Digest(digest.clone()),
                        rule: Rule::RetainPromoted {
                            environment: retaining.name.clone(),
                            promoted_at: None,
                            retain: retain.to_string(),
                        },
                    });
                }
            }
        }
        protections
    }

    /// Places of the commit tags among `tags`, and the heads of open release and
    /// hotfix branches. No repository at `[git] path`: order by created time, and say
    /// that branch heads could not be protected.
    async fn git_facts(&self, tags: Vec<String>) -> Result<GitFacts, RetentionError> {
        let config = self.config();
        let prefix = config.tags.prefix.clone();
        let mut by_hex: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tag in &tags {
            if let Some(hex) = tag.strip_prefix(&prefix) {
                if is_commit_id(hex) {
                    by_hex
                        .entry(hex.to_ascii_lowercase())
                        .or_default()
                        .push(tag.clone());
                }
            }
        }
        let settings = config.git.clone();
        let short_len = config.tags.short_len;
        let cache_dir = crate::engine::lock::state_dir().join("git");
        tokio::task::spawn_blocking(move || {
            let repo = match GitRepo::open(&settings, short_len) {
                Ok(repo) => repo.with_cache_dir(cache_dir),
                Err(GitError::NotARepository { path, .. }) => {
                    return Ok(GitFacts {
                        notes: vec![format!(
                            "{} is not a git repository: images are ordered by their created time, and release and hotfix heads cannot be protected (set [git] path)",
                            path.display()
                        )],
                        ..GitFacts::default()
                    })
                }
                Err(e) => return Err(RetentionError::Git(e)),
            };
            let hexes: Vec<String> = by_hex.keys().cloned().collect();
            let mut facts = GitFacts::default();
            let lookups = match repo.locate(&settings.develop, &hexes) {
                Ok(lookups) => lookups,
                Err(GitError::BranchNotFound { .. }) => {
                    facts.notes.push(format!(
                        "no {} branch: images are ordered by their commits' times",
                        settings.develop
                    ));
                    hexes.iter().map(|h| repo.lookup(h)).collect()
                }
                Err(e) => return Err(RetentionError::Git(e)),
            };
            let deepest = lookups
                .iter()
                .filter_map(|l| match l {
                    Lookup::Commit { position, .. } => *position,
                    _ => None,
                })
                .max();
            let raised = match deepest {
                Some(deepest) => raised_times(&settings, &repo.head_of(&settings.develop)?.sha, deepest)?,
                None => Vec::new(),
            };
            for (hex, lookup) in hexes.iter().zip(lookups) {
                if let Lookup::Commit { commit, position } = lookup {
                    let time = position
                        .and_then(|p| raised.get(p).copied())
                        .unwrap_or(commit.commit_time);
                    for tag in by_hex.get(hex).into_iter().flatten() {
                        facts.places.insert(
                            tag.clone(),
                            Place {
                                position,
                                commit_time: Some(time),
                            },
                        );
                    }
                }
            }
            facts.heads = branch_heads(&settings)?;
            facts.notes.extend(repo.notes());
            Ok(facts)
        })
        .await
        .map_err(|e| RetentionError::Input(format!("git task failed: {e}")))?
    }

    /// `.sig` tags whose image is no longer in the repository (by tag or by digest).
    async fn orphan_signatures(
        &self,
        client: &RegistryClient,
        listing: &Listing,
        images: &[Image],
        children: &HashMap<Digest, Vec<Digest>>,
    ) -> Result<Vec<PlannedSignature>, RetentionError> {
        let present: HashSet<&Digest> = images
            .iter()
            .map(|i| &i.digest)
            .chain(children.values().flatten())
            .collect();
        let mut orphans = Vec::new();
        for (subject, tags) in &listing.attachments {
            if present.contains(subject) {
                continue;
            }
            // An untagged manifest (a platform of an index, say) may still be signed.
            if client
                .head_manifest(&listing.repository, subject.as_str())
                .await?
                .is_some()
            {
                continue;
            }
            for tag in tags {
                if let Some(head) = client.head_manifest(&listing.repository, tag).await? {
                    orphans.push(PlannedSignature {
                        tag: tag.clone(),
                        digest: head.digest,
                        subject: subject.clone(),
                        decision: Rule::OrphanSignature {
                            subject: subject.clone(),
                        },
                    });
                }
            }
        }
        Ok(orphans)
    }
}

/// Read once per service and shared by every environment cleaned.
struct Context {
    listings: Vec<Listing>,
    /// (environment, digest, when) of every promotion and rollback the ledger holds.
    promotions: Vec<(String, Digest, DateTime<Utc>)>,
    notes: Vec<String>,
}

/// For each position on develop down to `deepest`, the newest committer time at or below
/// it: the commit times of develop made to never run backwards up the branch. Computed
/// from the history, not from the images present, so a plan made after some images are
/// deleted orders the rest exactly as before (a rebase or a skewed clock otherwise lets
/// one old commit's time reorder everything above it). The walk is the one that placed
/// the tags: first parents when configured, libgit2's default order.
fn raised_times(
    settings: &crate::config::GitSettings,
    head: &str,
    deepest: usize,
) -> Result<Vec<i64>, RetentionError> {
    let git_error = |e: git2::Error| {
        RetentionError::Git(GitError::Git {
            context: format!("reading commit times on {}", settings.develop),
            message: e.message().to_string(),
        })
    };
    let repo = git2::Repository::open_ext(
        &settings.path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(git_error)?;
    let mut walk = repo.revwalk().map_err(git_error)?;
    if settings.first_parent {
        walk.simplify_first_parent().map_err(git_error)?;
    }
    walk.push(git2::Oid::from_str(head).map_err(git_error)?)
        .map_err(git_error)?;
    let mut times = Vec::with_capacity(deepest + 1);
    for oid in walk.take(deepest + 1) {
        let commit = repo
            .find_commit(oid.map_err(git_error)?)
            .map_err(git_error)?;
        times.push(commit.time().seconds());
    }
    let mut floor = i64::MIN;
    for time in times.iter_mut().rev() {
        floor = floor.max(*time);
        *time = floor;
    }
    Ok(times)
}

/// Heads of release and hotfix branches, local and remote-tracking (a CI clone has only
/// the latter); a branch present both ways is named once, by its local head.
fn branch_heads(
    settings: &crate::config::GitSettings,
) -> Result<Vec<(String, String)>, RetentionError> {
    let git_error = |e: git2::Error| {
        RetentionError::Git(GitError::Git {
            context: "listing release and hotfix branches".into(),
            message: e.message().to_string(),
        })
    };
    let repo = git2::Repository::open_ext(
        &settings.path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(git_error)?;
    let mut heads: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for branch in repo.branches(None).map_err(git_error)? {
        let (branch, kind) = branch.map_err(git_error)?;
        let Ok(Some(name)) = branch.name() else {
            continue;
        };
        let (name, local) = match kind {
            git2::BranchType::Local => (name.to_string(), true),
            git2::BranchType::Remote => match name.split_once('/') {
                Some((_, rest)) if rest != "HEAD" => (rest.to_string(), false),
                _ => continue,
            },
        };
        if !name.starts_with(&settings.release_prefix) && !name.starts_with(&settings.hotfix_prefix)
        {
            continue;
        }
        let Ok(commit) = branch.get().peel_to_commit() else {
            continue;
        };
        let sha = commit.id().to_string();
        match heads.get(&name) {
            Some((true, _)) => {}
            _ => {
                heads.insert(name, (local, sha));
            }
        }
    }
    Ok(heads
        .into_iter()
        .map(|(name, (_, sha))| (name, sha))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_tags_name_their_subject() {
        let digest = Digest::of(b"image");
        for tag in attachment_tags(&digest) {
            assert_eq!(attachment_subject(&tag), Some(digest.clone()), "{tag}");
        }
        assert_eq!(attachment_subject("sha-2b2e927"), None);
        assert_eq!(
            attachment_subject(&format!("sha256-{}.txt", digest.hex())),
            None
        );
        assert_eq!(attachment_subject("sha256-abc.sig"), None);
    }

    /// A develop whose committer times run backwards, as after a rebase or on a skewed clock.
    #[test]
    fn develop_times_never_run_backwards_up_the_branch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = |args: &[&str], time: i64| {
            let when = format!("@{} +0000", 1_700_000_000 + time);
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "Ada")
                .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
                .env("GIT_COMMITTER_NAME", "Ada")
                .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
                .env("GIT_AUTHOR_DATE", &when)
                .env("GIT_COMMITTER_DATE", &when)
                .output()
                .expect("run git");
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["init", "-q", "-b", "develop"], 0);
        for (subject, time) in [("one", 1_000), ("two", 5_000), ("three", 3_000)] {
            git(&["commit", "-q", "--allow-empty", "-m", subject], time);
        }
        let head = git(&["rev-parse", "HEAD"], 0);
        let settings = crate::config::GitSettings {
            path: dir.path().to_path_buf(),
            ..Default::default()
        };
        // Newest first: three (3000) is raised to two's 5000; one stays 1000.
        assert_eq!(
            raised_times(&settings, &head, 2).expect("times"),
            [1_700_005_000, 1_700_005_000, 1_700_001_000]
        );
        // Asked deeper than the history goes: what there is.
        assert_eq!(raised_times(&settings, &head, 10).expect("times").len(), 3);
    }
}
