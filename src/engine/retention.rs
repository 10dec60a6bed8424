//! Retention as the engine runs it: plans for every service and environment (reading the
//! registries, git and the ledger into `crate::retention::plan`'s input) and, in
//! [`execute`], carrying a plan out.

mod execute;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{Engine, EngineError};
use crate::config::{Environment, Service};
use crate::domain::Digest;
use crate::ledger::{LedgerError, RecordKind};
use crate::registry::{RegistryClient, RegistryError};
use crate::retention::listing::{describe, read_listing, ImageFacts, Listing, CONCURRENCY};
use crate::retention::places::{self, GitFacts};
use crate::retention::{
    plan, Decision, Image, PlanResult, PlannedImage, PlannedSignature, Protection, RetentionError,
    RetentionPlan, Rule, Target,
};

impl From<EngineError> for RetentionError {
    fn from(e: EngineError) -> Self {
        RetentionError::Step {
            message: e.to_string(),
            exit_code: e.exit_code(),
        }
    }
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
            .git_facts(service, by_digest.values().flatten().cloned().collect())
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

    /// What `service`'s repository says about `tags`: their places on its develop and the
    /// heads of its open branches. A repository that cannot be read is said in the notes:
    /// images are then ordered by created time and no branch head can be protected.
    async fn git_facts(
        &self,
        service: &Service,
        tags: Vec<String>,
    ) -> Result<GitFacts, RetentionError> {
        let config = self.config();
        let prefix = config.tags.prefix.clone();
        let repo = self.service_repo(&service.name)?;
        let mut notes = match self.ready(&repo, true).await {
            Ok(notes) => notes,
            Err(problem) => {
                return Ok(GitFacts {
                    notes: vec![format!(
                        "{}: images are ordered by their created time, and release and hotfix heads cannot be protected",
                        problem.short()
                    )],
                    ..GitFacts::default()
                })
            }
        };
        let settings = repo.git.settings.clone();
        let configured_by = repo.git.configured_by();
        let short_len = config.tags.short_len;
        let cache_dir = super::lock::state_dir().join("git");
        let mut facts = tokio::task::spawn_blocking(move || {
            places::git_facts(
                &settings,
                configured_by,
                short_len,
                &prefix,
                cache_dir,
                &tags,
            )
        })
        .await
        .map_err(|e| RetentionError::Input(format!("git task failed: {e}")))??;
        notes.extend(super::repos::mirror_notes(
            &repo,
            std::mem::take(&mut facts.notes),
            facts.shallow,
        ));
        facts.notes = notes;
        Ok(facts)
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
