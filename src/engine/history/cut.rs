//! Cutting release and hotfix branches in a service's repository: a release only from a
//! commit whose images were built, pushed when asked (always, for a repository gantry
//! keeps as a mirror) and removed again when the push fails; a release train cuts one
//! branch in each of several repositories, or none.

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{CutOutcome, HistoryError, HEAD_CONCURRENCY};
use crate::config::Environment;
use crate::engine::repos::ServiceRepo;
use crate::engine::{Engine, EngineError};
use crate::git::{BranchPlan, GitError, Version};
use crate::registry::RegistryError;

/// One service's part of a release train: the commit its release is cut from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainStop {
    pub service: String,
    pub commit: String,
}

/// One branch of a train, cut in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct TrainCut {
    pub service: String,
    /// The repository as configured: a path or URL.
    pub repository: String,
    #[serde(flatten)]
    pub outcome: CutOutcome,
}

/// `gantry release cut SERVICE:COMMIT...`: the same version cut in every repository.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub version: String,
    pub cuts: Vec<TrainCut>,
    pub notes: Vec<String>,
}

/// A planned cut: checked, named, with the images it found missing.
struct Planned {
    stop: TrainStop,
    repo: ServiceRepo,
    plan: BranchPlan,
    missing: Vec<String>,
    notes: Vec<String>,
}

impl Engine {
    /// The environment images are first pushed to: the first one promoted from nowhere.
    fn first_environment(&self) -> Result<&Environment, HistoryError> {
        let envs = &self.config.environments;
        envs.iter()
            .find(|e| e.from.is_none())
            .or_else(|| envs.first())
            .ok_or_else(|| EngineError::Input("no environment is configured".into()).into())
    }

    /// The repository a command names with `--service`, else the default one.
    fn named_repo(&self, service: Option<&str>) -> Result<ServiceRepo, HistoryError> {
        Ok(match service {
            Some(service) => self.service_repo(service)?,
            None => self.default_repo()?,
        })
    }

    /// Cuts a release branch from `commit` on develop of `service`'s repository (the
    /// default one when `None`), named by the template. Refuses (exit 3) when an image of
    /// the commit is missing from the first environment for a service built from that
    /// repository, unless `force`; pushes when asked (a mirror's always), removing the
    /// branch again if that fails.
    pub async fn cut_release(
        &self,
        service: Option<&str>,
        commit: &str,
        version: Option<&str>,
        push: bool,
        force: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let repo = self.named_repo(service)?;
        let stop = TrainStop {
            service: service.unwrap_or_default().to_string(),
            commit: commit.to_string(),
        };
        let mut planned = self.plan_cut(stop, repo, version).await?;
        if !planned.missing.is_empty() {
            let what = self.missing_images(&planned)?;
            if !force {
                return Err(HistoryError::Refused(format!(
                    "{what}: release a commit whose images were built, or pass --force"
                )));
            }
            planned
                .notes
                .push(format!("--force: cutting anyway, though there is {what}"));
        }
        let (pushed, note) = self
            .create_and_push(
                &planned.repo,
                &planned.plan.branch,
                &planned.plan.commit.sha,
                push,
            )
            .await?;
        planned.notes.extend(note);
        Ok(CutOutcome {
            plan: planned.plan,
            missing_images: planned.missing,
            pushed,
            notes: planned.notes,
        })
    }

    /// Cuts one release branch per stop, each in its service's repository from its own
    /// commit, all with the same version (`version`, else the next minor after the highest
    /// release of any of them). Every cut is checked first: if any one is refused (not on
    /// develop, the branch exists, images missing without `force`) or fails, nothing is
    /// created anywhere and every reason is said. A push that fails midway takes back the
    /// branches already cut.
    pub async fn cut_train(
        &self,
        stops: &[TrainStop],
        version: Option<&str>,
        push: bool,
        force: bool,
    ) -> Result<TrainOutcome, HistoryError> {
        let mut repos = Vec::new();
        for stop in stops {
            let repo = self.service_repo(&stop.service)?;
            if let Some((other, _)) = repos
                .iter()
                .find(|(_, r): &&(String, ServiceRepo)| r.location() == repo.location())
            {
                return Err(EngineError::Input(format!(
                    "{other} and {} are built from the same repository ({}): name it once",
                    stop.service,
                    repo.location()
                ))
                .into());
            }
            repos.push((stop.service.clone(), repo));
        }
        if repos.is_empty() {
            return Err(
                EngineError::Input("a release train needs SERVICE:COMMIT stops".into()).into(),
            );
        }

        // The version first, so every branch of the train carries the same one.
        let version = match version {
            Some(v) => v.parse::<Version>()?,
            None => self.train_version(&repos).await?,
        }
        .to_string();

        let plans: Vec<Result<Planned, HistoryError>> = stream::iter(stops.iter().zip(repos))
            .map(|(stop, (_, repo))| self.plan_cut(stop.clone(), repo, Some(&version)))
            .buffered(4)
            .collect()
            .await;
        let mut planned = Vec::new();
        let mut refusals = Vec::new();
        let mut code = 3;
        for (stop, plan) in stops.iter().zip(plans) {
            match plan {
                Ok(plan) if plan.missing.is_empty() || force => planned.push(plan),
                Ok(plan) => refusals.push(self.missing_images(&plan)?),
                Err(e) => {
                    if e.exit_code() != 3 {
                        code = e.exit_code();
                    }
                    refusals.push(format!("{}: {e}", stop.service));
                }
            }
        }
        if !refusals.is_empty() {
            let message = format!(
                "release train refused, nothing was cut: {}{}",
                refusals.join("; "),
                if force {
                    ""
                } else {
                    " (--force cuts despite missing images)"
                }
            );
            return Err(match code {
                3 => HistoryError::Refused(message),
                _ => EngineError::Input(message).into(),
            });
        }

        let mut cuts: Vec<TrainCut> = Vec::new();
        for mut plan in planned {
            if !plan.missing.is_empty() {
                let what = self.missing_images(&plan)?;
                plan.notes
                    .push(format!("--force: cutting anyway, though there is {what}"));
            }
            match self
                .create_and_push(&plan.repo, &plan.plan.branch, &plan.plan.commit.sha, push)
                .await
            {
                Ok((pushed, note)) => {
                    plan.notes.extend(note);
                    cuts.push(TrainCut {
                        service: plan.stop.service,
                        repository: plan.repo.location(),
                        outcome: CutOutcome {
                            plan: plan.plan,
                            missing_images: plan.missing,
                            pushed,
                            notes: plan.notes,
                        },
                    });
                }
                Err(e) => {
                    let undone = self.take_back(&cuts).await;
                    return Err(EngineError::Input(format!(
                        "release train stopped at {}: {e}; {undone}",
                        plan.stop.service
                    ))
                    .into());
                }
            }
        }
        Ok(TrainOutcome {
            version,
            cuts,
            notes: Vec::new(),
        })
    }

    /// The next minor release after the highest of any repository of the train.
    async fn train_version(
        &self,
        repos: &[(String, ServiceRepo)],
    ) -> Result<Version, HistoryError> {
        let mut highest: Option<Version> = None;
        for (_, repo) in repos {
            let (found, _) = self
                .with_repo(repo, |repo| repo.highest_release_version())
                .await?;
            highest = highest.max(found);
        }
        Ok(highest
            .unwrap_or(Version {
                major: 0,
                minor: 0,
                patch: 0,
            })
            .next_minor())
    }

    /// Checks and names one cut, and looks for its images in the first environment: one
    /// per service built from the repository.
    async fn plan_cut(
        &self,
        stop: TrainStop,
        repo: ServiceRepo,
        version: Option<&str>,
    ) -> Result<Planned, HistoryError> {
        let spec = stop.commit.clone();
        let version = version.map(str::to_string);
        let (plan, mut notes) = self
            .with_repo(&repo, move |repo| {
                repo.plan_release(&spec, version.as_deref())
            })
            .await?;

        let env = self.first_environment()?.clone();
        let client = self.client(&env.name)?;
        let tag = self.config.tags.for_commit(&plan.commit.sha);
        let services = repo.configured(&self.config);
        let checks: Vec<(String, Result<bool, RegistryError>)> = stream::iter(services)
            .map(|service| {
                let repository = env.repository(&service);
                let tag = tag.clone();
                async move {
                    let found = client
                        .head_manifest(&repository, &tag)
                        .await
                        .map(|h| h.is_some());
                    (service.name, found)
                }
            })
            .buffered(HEAD_CONCURRENCY)
            .collect()
            .await;
        let mut missing = Vec::new();
        for (service, found) in checks {
            match found {
                Ok(true) => {}
                Ok(false) => missing.push(service),
                Err(e) => {
                    notes.push(format!("could not check {service} in {}: {e}", env.name));
                    missing.push(service);
                }
            }
        }
        Ok(Planned {
            stop,
            repo,
            plan,
            missing,
            notes,
        })
    }

    fn missing_images(&self, planned: &Planned) -> Result<String, HistoryError> {
        Ok(format!(
            "no image {} in {} for {}",
            self.config.tags.for_commit(&planned.plan.commit.sha),
            self.first_environment()?.name,
            planned.missing.join(", ")
        ))
    }

    /// Removes the branches of a train cut before a failure: from the remote where they
    /// were pushed, then from the repository. Says what was taken back and what was not.
    async fn take_back(&self, cuts: &[TrainCut]) -> String {
        if cuts.is_empty() {
            return "nothing had been cut".into();
        }
        let mut said = Vec::new();
        for cut in cuts {
            let branch = cut.outcome.plan.branch.clone();
            let pushed = cut.outcome.pushed.is_some();
            let Ok(repo) = self.service_repo(&cut.service) else {
                continue;
            };
            let undo = branch.clone();
            let result = self
                .with_repo(&repo, move |repo| {
                    if pushed {
                        repo.delete_pushed_branch(&undo)?;
                    }
                    repo.delete_branch(&undo)
                })
                .await;
            said.push(match result {
                Ok(_) => format!("{} {branch} removed again", cut.service),
                Err(e) => format!("{} {branch} could NOT be removed ({e})", cut.service),
            });
        }
        said.join("; ")
    }

    /// Starts `hotfix/<name>` in `service`'s repository (the default one when `None`) from
    /// main's head, or from `from` (on main or a release branch).
    pub async fn start_hotfix(
        &self,
        service: Option<&str>,
        name: &str,
        from: Option<&str>,
        push: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let repo = self.named_repo(service)?;
        let name = name.to_string();
        let from = from.map(str::to_string);
        let (plan, mut notes) = self
            .with_repo(&repo, move |repo| repo.plan_hotfix(&name, from.as_deref()))
            .await?;
        let (pushed, note) = self
            .create_and_push(&repo, &plan.branch, &plan.commit.sha, push)
            .await?;
        notes.extend(note);
        Ok(CutOutcome {
            plan,
            missing_images: Vec::new(),
            pushed,
            notes,
        })
    }

    /// Creates the branch and pushes it when asked, or always for a mirror (a branch only
    /// in gantry's copy would help nobody). A failed push removes the branch again.
    async fn create_and_push(
        &self,
        repo: &ServiceRepo,
        branch: &str,
        sha: &str,
        push: bool,
    ) -> Result<(Option<String>, Option<String>), HistoryError> {
        let branch = branch.to_string();
        let sha = sha.to_string();
        let (push, note, remote) = match &repo.url {
            Some(url) => (
                true,
                (!push).then(|| format!("{url} is kept as a mirror: the branch is pushed there")),
                url.clone(),
            ),
            None => (push, None, repo.git.settings.remote.clone()),
        };
        let (pushed, _) = self
            .with_repo(repo, move |repo| {
                repo.create_branch(&branch, &sha)?;
                if !push {
                    return Ok(None);
                }
                match repo.push_branch(&branch) {
                    Ok(()) => Ok(Some(remote)),
                    Err(e) => {
                        // Nothing changed: the local branch goes too, so a retry starts clean.
                        let cleanup = repo.delete_branch(&branch);
                        Err(match (e, cleanup) {
                            (
                                GitError::Push {
                                    remote,
                                    branch,
                                    reason,
                                    network,
                                    rejected,
                                },
                                Ok(()),
                            ) => GitError::Push {
                                remote,
                                branch,
                                reason: format!("{reason}; the local branch was removed again"),
                                network,
                                rejected,
                            },
                            (e, _) => e,
                        })
                    }
                }
            })
            .await?;
        Ok((pushed, note))
    }
}
