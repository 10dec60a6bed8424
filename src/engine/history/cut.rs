//! Cutting release and hotfix branches: a release only from a commit whose images were
//! built, pushed when asked and removed again when the push fails.

use futures_util::stream::{self, StreamExt};

use super::{CutOutcome, HistoryError, HEAD_CONCURRENCY};
use crate::config::Environment;
use crate::engine::{Engine, EngineError};
use crate::git::GitError;
use crate::registry::RegistryError;

impl Engine {
    /// The environment images are first pushed to: the first one promoted from nowhere.
    fn first_environment(&self) -> Result<&Environment, HistoryError> {
        let envs = &self.config.environments;
        envs.iter()
            .find(|e| e.from.is_none())
            .or_else(|| envs.first())
            .ok_or_else(|| EngineError::Input("no environment is configured".into()).into())
    }

    /// Cuts a release branch from `commit` on develop, named by the template. Refuses
    /// (exit 3) when no image of the commit exists in the first environment for every
    /// service, unless `force`; pushes when asked, removing the branch again if that fails.
    pub async fn cut_release(
        &self,
        commit: &str,
        version: Option<&str>,
        push: bool,
        force: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let spec = commit.to_string();
        let version = version.map(str::to_string);
        let (plan, mut notes) = self
            .with_git(move |repo| repo.plan_release(&spec, version.as_deref()))
            .await?;

        let env = self.first_environment()?.clone();
        let client = self.client(&env.name)?;
        let tag = self.config.tags.for_commit(&plan.commit.sha);
        let checks: Vec<(String, Result<bool, RegistryError>)> =
            stream::iter(self.config.services.clone())
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
                Err(e) if force => {
                    notes.push(format!("could not check {service} in {}: {e}", env.name));
                    missing.push(service);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !missing.is_empty() {
            let what = format!("no image {tag} in {} for {}", env.name, missing.join(", "));
            if !force {
                return Err(HistoryError::Refused(format!(
                    "{what}: release a commit whose images were built, or pass --force"
                )));
            }
            notes.push(format!("--force: cutting anyway, though there is {what}"));
        }
        let pushed = self
            .create_and_push(&plan.branch, &plan.commit.sha, push)
            .await?;
        Ok(CutOutcome {
            plan,
            missing_images: missing,
            pushed,
            notes,
        })
    }

    /// Starts `hotfix/<name>` from main's head, or from `from` (on main or a release branch).
    pub async fn start_hotfix(
        &self,
        name: &str,
        from: Option<&str>,
        push: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let name = name.to_string();
        let from = from.map(str::to_string);
        let (plan, notes) = self
            .with_git(move |repo| repo.plan_hotfix(&name, from.as_deref()))
            .await?;
        let pushed = self
            .create_and_push(&plan.branch, &plan.commit.sha, push)
            .await?;
        Ok(CutOutcome {
            plan,
            missing_images: Vec::new(),
            pushed,
            notes,
        })
    }

    async fn create_and_push(
        &self,
        branch: &str,
        sha: &str,
        push: bool,
    ) -> Result<Option<String>, HistoryError> {
        let branch = branch.to_string();
        let sha = sha.to_string();
        let remote = self.config.git.remote.clone();
        let (pushed, _) = self
            .with_git(move |repo| {
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
        Ok(pushed)
    }
}
