//! The branches gantry names (develop, main, release and hotfix ones): their heads, their
//! counts against develop and main, and creating or deleting one as a reference only.

use git2::{BranchType, ErrorCode, Oid};

use super::{BranchInfo, BranchKind, CommitInfo, GitError, GitRepo};

impl GitRepo {
    /// The head of `name`: the local branch, else `<remote>/<name>` (as in a CI clone).
    /// Returns the reference read and the commit.
    pub(super) fn branch_head(&self, name: &str) -> Result<(String, Oid), GitError> {
        let candidates = [
            format!("refs/heads/{name}"),
            format!("refs/remotes/{}/{name}", self.settings.remote),
        ];
        for reference in &candidates {
            match self.repo.find_reference(reference) {
                Ok(found) => {
                    let commit = found
                        .peel_to_commit()
                        .map_err(GitError::git(format!("reading {reference}")))?;
                    return Ok((reference.clone(), commit.id()));
                }
                Err(e) if e.code() == ErrorCode::NotFound => continue,
                Err(e) => return Err(GitError::git(format!("reading {reference}"))(e)),
            }
        }
        Err(GitError::BranchNotFound {
            name: name.to_string(),
            repo: self.settings.path.clone(),
            hint: self.missing_branch_hint(name),
        })
    }

    fn missing_branch_hint(&self, name: &str) -> String {
        let mut hint = format!(" (nor {}/{name})", self.settings.remote);
        if self.repo.head_detached().unwrap_or(false) {
            if let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) {
                hint.push_str(&format!(
                    "; HEAD is detached at {}, and gantry reads branches by name: fetch or create `{name}`",
                    self.info(&head).short
                ));
            }
        } else {
            hint.push_str(&format!(
                "; create or fetch it, or name your branch in [git] {}",
                if name == self.settings.main {
                    "main"
                } else {
                    "develop"
                }
            ));
        }
        hint.push_str(&self.branch_suggestion(name));
        hint
    }

    /// The head commit of a branch (local, else remote-tracking).
    pub fn head_of(&self, branch: &str) -> Result<CommitInfo, GitError> {
        let (_, oid) = self.branch_head(branch)?;
        Ok(self.info(&self.commit(oid)?))
    }

    /// True when `commit` is `branch`'s head or one of its ancestors.
    pub fn is_on(&self, commit: &str, branch: &str) -> Result<bool, GitError> {
        let (_, head) = self.branch_head(branch)?;
        let commit = self.oid(commit)?;
        Ok(commit == head
            || self
                .repo
                .graph_descendant_of(head, commit)
                .map_err(GitError::git(format!(
                    "checking whether {commit} is on {branch}"
                )))?)
    }

    /// develop, main, and every release and hotfix branch, with ahead/behind counts.
    /// Local branches; remote-tracking ones only stand in for a missing develop or main.
    pub fn branches(&self) -> Result<Vec<BranchInfo>, GitError> {
        let develop = self.branch_head(&self.settings.develop).ok();
        let main = self.branch_head(&self.settings.main).ok();
        let mut named: Vec<(String, BranchKind, Oid)> = Vec::new();
        if let Some((_, oid)) = &develop {
            named.push((self.settings.develop.clone(), BranchKind::Develop, *oid));
        }
        if let Some((_, oid)) = &main {
            named.push((self.settings.main.clone(), BranchKind::Main, *oid));
        }
        let mut others = Vec::new();
        let branches = self
            .repo
            .branches(Some(BranchType::Local))
            .map_err(GitError::git("listing branches"))?;
        for branch in branches {
            let (branch, _) = branch.map_err(GitError::git("listing branches"))?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            let kind = if name.starts_with(&self.settings.release_prefix) {
                BranchKind::Release
            } else if name.starts_with(&self.settings.hotfix_prefix) {
                BranchKind::Hotfix
            } else {
                continue;
            };
            let Ok(commit) = branch.get().peel_to_commit() else {
                continue;
            };
            others.push((name.to_string(), kind, commit.id()));
        }
        // Releases, then hotfixes, each by name.
        others.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        named.extend(others);
        let counts = |oid: Oid,
                      base: Option<(String, Oid)>|
         -> Result<(Option<usize>, Option<usize>), GitError> {
            match base {
                Some((_, base)) => {
                    let (ahead, behind) = self
                        .repo
                        .graph_ahead_behind(oid, base)
                        .map_err(GitError::git("counting commits ahead and behind"))?;
                    Ok((Some(ahead), Some(behind)))
                }
                None => Ok((None, None)),
            }
        };
        named
            .into_iter()
            .map(|(name, kind, oid)| {
                let (ahead_of_develop, behind_develop) = counts(oid, develop.clone())?;
                let (ahead_of_main, behind_main) = counts(oid, main.clone())?;
                Ok(BranchInfo {
                    name,
                    kind,
                    head: self.info(&self.commit(oid)?),
                    ahead_of_develop,
                    behind_develop,
                    ahead_of_main,
                    behind_main,
                })
            })
            .collect()
    }

    /// Names of every branch, local and remote-tracking (remote name stripped).
    pub(super) fn all_branch_names(&self) -> Result<Vec<String>, GitError> {
        let mut names = Vec::new();
        let branches = self
            .repo
            .branches(None)
            .map_err(GitError::git("listing branches"))?;
        for branch in branches {
            let (branch, kind) = branch.map_err(GitError::git("listing branches"))?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            let name = match kind {
                BranchType::Local => name.to_string(),
                BranchType::Remote => match name.split_once('/') {
                    Some((_, rest)) => rest.to_string(),
                    None => continue,
                },
            };
            names.push(name);
        }
        Ok(names)
    }

    /// Creates `refs/heads/<name>` at `sha`. Never moves HEAD and never touches the
    /// worktree or the index, so a dirty checkout or a detached HEAD is left as it was.
    pub fn create_branch(&self, name: &str, sha: &str) -> Result<(), GitError> {
        let oid = self.oid(sha)?;
        let commit = self.commit(oid)?;
        match self.repo.branch(name, &commit, false) {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::Exists => Err(GitError::BranchExists {
                name: name.to_string(),
                at: self.existing_branch_at(name),
            }),
            Err(e) => Err(GitError::git(format!("creating branch `{name}`"))(e)),
        }
    }

    pub(super) fn existing_branch_at(&self, name: &str) -> String {
        self.repo
            .find_branch(name, BranchType::Local)
            .ok()
            .and_then(|b| b.get().peel_to_commit().ok())
            .map(|c| {
                let info = self.info(&c);
                format!("{} {}", info.short, info.subject)
            })
            .unwrap_or_else(|| "?".into())
    }

    /// Deletes a branch gantry just created (after a failed push), so nothing is left changed.
    pub fn delete_branch(&self, name: &str) -> Result<(), GitError> {
        let mut branch = self
            .repo
            .find_branch(name, BranchType::Local)
            .map_err(GitError::git(format!("finding branch `{name}`")))?;
        branch
            .delete()
            .map_err(GitError::git(format!("deleting branch `{name}`")))
    }

    pub(super) fn branch_exists(&self, name: &str) -> bool {
        self.repo.find_branch(name, BranchType::Local).is_ok()
    }
}
