//! Which branches hold a commit: for the branch gate.

use git2::BranchType;

use super::{GitError, GitRepo};
use crate::domain::pattern::glob_match;

impl GitRepo {
    /// Local branches matching any of `patterns` whose history includes `commit`.
    pub fn branches_containing(
        &self,
        commit: &str,
        patterns: &[String],
    ) -> Result<Vec<String>, GitError> {
        let target = self.oid(commit)?;
        let mut found = Vec::new();
        let branches = self
            .repo
            .branches(Some(BranchType::Local))
            .map_err(GitError::git("listing branches"))?;
        for branch in branches {
            let (branch, _) = branch.map_err(GitError::git("reading a branch"))?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            if !patterns.iter().any(|p| glob_match(p, name)) {
                continue;
            }
            let Some(head) = branch.get().target() else {
                continue;
            };
            let holds = head == target
                || self
                    .repo
                    .graph_descendant_of(head, target)
                    .map_err(GitError::git("walking a branch"))?;
            if holds {
                found.push(name.to_string());
            }
        }
        found.sort();
        Ok(found)
    }
}
