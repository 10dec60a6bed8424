//! The branch a mistyped name most likely meant, for "no branch" errors.

use super::GitRepo;

impl GitRepo {
    /// `"; did you mean `develop`?"` when a local or remote-tracking branch is within two
    /// edits of `name`, else nothing.
    pub(crate) fn branch_suggestion(&self, name: &str) -> String {
        let Ok(branches) = self.repo.branches(None) else {
            return String::new();
        };
        let remote_prefix = format!("{}/", self.settings.remote);
        let names: Vec<String> = branches
            .flatten()
            .filter_map(|(branch, _)| branch.name().ok().flatten().map(str::to_string))
            .map(|n| match n.strip_prefix(&remote_prefix) {
                Some(short) => short.to_string(),
                None => n,
            })
            .collect();
        crate::domain::suggest::did_you_mean(name, names.iter().map(String::as_str))
    }
}
