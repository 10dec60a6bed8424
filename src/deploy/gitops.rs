//! The GitOps bump: a bare clone of the manifests repository under the state directory,
//! one commit editing one file on top of the remote branch, pushed; a push that loses a
//! race is rebuilt on the new remote head and tried again.
//!
//! No worktree is involved: the file is read from the fetched commit, edited in memory,
//! and written as a new blob and tree. So a dirty checkout elsewhere never matters, and
//! "rebasing" after a race is re-applying the (idempotent) edit to the new head. Every
//! function here blocks: callers run them in `spawn_blocking`, since git2's `Repository`
//! is not Sync.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};

use git2::{ErrorClass, FetchOptions, FileMode, Oid, PushOptions, RemoteCallbacks, Repository};
use serde::Serialize;

use super::yaml_edit::{self, EditError};
use super::DeployError;
use crate::config::deploy::{FileEdit, FileTarget, GitOps, RepoLocation};
use crate::git::fleet::{lock_exclusive, mirror_path};

/// The remote's name inside the cache clone.
const REMOTE: &str = "origin";

/// What the manifests file says the environment runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pinned {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Per service, what its file pins, or why it cannot be read.
pub type PinnedByService = Vec<(String, Result<Pinned, String>)>;

/// The edit of one file against one commit of the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bump {
    pub repository: String,
    pub branch: String,
    pub file: String,
    /// The remote head the edit was made against.
    pub base: String,
    /// A unified diff of the file; empty when it already said so.
    pub diff: String,
    #[serde(skip)]
    pub before: String,
    #[serde(skip)]
    pub after: String,
}

impl Bump {
    pub fn unchanged(&self) -> bool {
        self.before == self.after
    }
}

/// A bump committed and pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    #[serde(flatten)]
    pub bump: Bump,
    /// The commit pushed; `None` when the file already pinned this image.
    pub commit: Option<String>,
    /// Pushes tried (more than one when another writer won a race).
    pub attempts: u32,
}

/// Sets the image in `text` as `target` says.
pub fn edit(text: &str, target: &FileTarget, tag: &str, digest: &str) -> Result<String, EditError> {
    match &target.edit {
        FileEdit::Kustomize { image } => {
            yaml_edit::set_kustomize_image(text, image, Some(tag), Some(digest))
        }
        FileEdit::Helm {
            tag: tag_path,
            digest: digest_path,
        } => {
            let mut out = text.to_string();
            if let Some(path) = tag_path {
                out = yaml_edit::set_value(&out, path, tag)?;
            }
            if let Some(path) = digest_path {
                out = yaml_edit::set_value(&out, path, digest)?;
            }
            Ok(out)
        }
    }
}

/// What `text` pins for the image `target` names.
pub fn read_pinned(text: &str, target: &FileTarget) -> Result<Pinned, EditError> {
    match &target.edit {
        FileEdit::Kustomize { image } => {
            let entry = yaml_edit::read_kustomize_image(text, image)?;
            Ok(Pinned {
                tag: entry.new_tag,
                digest: entry.digest,
            })
        }
        FileEdit::Helm { tag, digest } => Ok(Pinned {
            tag: match tag {
                Some(path) => yaml_edit::read_value(text, path)?,
                None => None,
            },
            digest: match digest {
                Some(path) => yaml_edit::read_value(text, path)?,
                None => None,
            },
        }),
    }
}

/// The cache clone of one manifests repository, locked for as long as it is open.
pub struct Cache {
    repo: Repository,
    settings: GitOps,
    _lock: File,
}

impl Cache {
    /// Opens (creating it on first use) the bare clone under `state_dir/deploy`, waiting
    /// for another gantry working in it to finish.
    pub fn open(state_dir: &Path, settings: &GitOps) -> Result<Cache, DeployError> {
        if let RepoLocation::Path(path) = &settings.repository {
            if !path.exists() {
                return Err(DeployError::Repository(format!(
                    "{}: no such manifests repository (deploy.repository)",
                    path.display()
                )));
            }
        }
        let dir = state_dir.join("deploy");
        let url = settings.repository.url();
        // `<state>/deploy/<last path component>-<hash of the url>.git`: one cache per repository.
        let path = mirror_path(&dir, &url);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let lock_path = path.with_extension("lock");
        let lock = lock_exclusive(&lock_path).map_err(|e| io_error(&lock_path, e))?;
        crate::git::tls::start_libgit2();
        let repo = match Repository::open_bare(&path) {
            Ok(repo) => repo,
            Err(_) => {
                // A half-made clone (a crash mid-init) is started over: it is only a cache.
                let _ = std::fs::remove_dir_all(&path);
                Repository::init_bare(&path).map_err(git_error("creating the cache clone"))?
            }
        };
        match repo.find_remote(REMOTE) {
            Ok(remote) if remote.url().ok() == Some(url.as_str()) => {}
            Ok(_) => repo
                .remote_set_url(REMOTE, &url)
                .map_err(git_error("setting the cache's remote"))?,
            Err(_) => {
                repo.remote(REMOTE, &url)
                    .map_err(git_error("setting the cache's remote"))?;
            }
        }
        Ok(Cache {
            repo,
            settings: settings.clone(),
            _lock: lock,
        })
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/{REMOTE}/{}", self.settings.branch)
    }

    /// Fetches the branch; returns the remote head.
    pub fn fetch(&self) -> Result<Oid, DeployError> {
        let branch = &self.settings.branch;
        let config = self
            .repo
            .config()
            .map_err(git_error("reading git configuration"))?;
        let offers = crate::git::CredentialOffers::default();
        let mut callbacks = RemoteCallbacks::new();
        crate::git::offer_credentials(&mut callbacks, &config, &offers);
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks);
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(git_error("opening the cache's remote"))?;
        let refspec = format!("+refs/heads/{branch}:{}", self.tracking_ref());
        crate::git::tls::before_remote(remote.url().unwrap_or_default());
        remote
            .fetch(&[refspec.as_str()], Some(&mut options), None)
            .map_err(|e| self.transport_error("fetch", e))?;
        let head = self.repo.refname_to_id(&self.tracking_ref()).map_err(|_| {
            DeployError::Repository(format!(
                "no branch `{branch}` in {} (deploy.branch)",
                self.settings.repository
            ))
        })?;
        Ok(head)
    }

    fn transport_error(&self, what: &str, e: git2::Error) -> DeployError {
        let network = matches!(
            e.class(),
            ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl
        ) || e.code() == git2::ErrorCode::Auth;
        let message = format!("{what} of {}: {}", self.settings.repository, e.message());
        if network {
            DeployError::Network(message)
        } else {
            DeployError::Repository(message)
        }
    }

    /// The file at `commit`, with its mode (kept on the new blob).
    fn file_at(&self, commit: Oid, file: &str) -> Result<(String, FileMode), DeployError> {
        let tree = self
            .repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(git_error("reading the branch head"))?;
        let missing = || {
            DeployError::Repository(format!(
                "no file `{file}` on {} of {} (deploy.files)",
                self.settings.branch, self.settings.repository
            ))
        };
        let entry = tree.get_path(Path::new(file)).map_err(|_| missing())?;
        let blob = entry
            .to_object(&self.repo)
            .and_then(|o| o.peel_to_blob())
            .map_err(|_| missing())?;
        let text = String::from_utf8(blob.content().to_vec()).map_err(|_| {
            DeployError::Repository(format!("`{file}` is not UTF-8 text: not a YAML file"))
        })?;
        let mode = match entry.filemode() {
            0o100755 => FileMode::BlobExecutable,
            _ => FileMode::Blob,
        };
        Ok((text, mode))
    }

    /// The edit `target` makes at `base`, not committed.
    fn bump_at(
        &self,
        base: Oid,
        target: &FileTarget,
        tag: &str,
        digest: &str,
    ) -> Result<(Bump, FileMode), DeployError> {
        let (before, mode) = self.file_at(base, &target.path)?;
        let after = edit(&before, target, tag, digest).map_err(|error| DeployError::Edit {
            file: target.path.clone(),
            repository: self.settings.repository.to_string(),
            error,
        })?;
        let diff = unified_diff(&target.path, &before, &after);
        Ok((
            Bump {
                repository: self.settings.repository.to_string(),
                branch: self.settings.branch.clone(),
                file: target.path.clone(),
                base: base.to_string(),
                diff,
                before,
                after,
            },
            mode,
        ))
    }

    /// What the bump would change at the remote head, without committing.
    pub fn preview(
        &self,
        target: &FileTarget,
        tag: &str,
        digest: &str,
    ) -> Result<Bump, DeployError> {
        let head = self.fetch()?;
        Ok(self.bump_at(head, target, tag, digest)?.0)
    }

    /// What each service's file pins at the remote head (fetched first). A file that
    /// cannot be read is that service's error, not the whole answer's.
    pub fn read_all(&self) -> Result<(String, PinnedByService), DeployError> {
        let head = self.fetch()?;
        let pinned = self
            .settings
            .files
            .iter()
            .map(|(service, target)| {
                let read = self
                    .file_at(head, &target.path)
                    .map_err(|e| e.to_string())
                    .and_then(|(text, _)| {
                        read_pinned(&text, target).map_err(|e| format!("{}: {e}", target.path))
                    });
                (service.clone(), read)
            })
            .collect();
        Ok((head.to_string(), pinned))
    }

    /// Commits the bump on top of the remote branch and pushes it. A rejected push (someone
    /// else pushed since the fetch) fetches again and re-applies the edit to the new head,
    /// up to `push_attempts` times. `before_push` runs before each push (tests use it to
    /// race a concurrent writer).
    pub fn commit_and_push(
        &self,
        target: &FileTarget,
        tag: &str,
        digest: &str,
        message: &str,
        before_push: &mut dyn FnMut(u32),
    ) -> Result<Pushed, DeployError> {
        self.refuse_checked_out_remote()?;
        let signature = self.signature()?;
        let branch_ref = format!("refs/heads/{}", self.settings.branch);
        let mut last_rejection = String::new();
        for attempt in 1..=self.settings.push_attempts {
            let head = self.fetch()?;
            let (bump, mode) = self.bump_at(head, target, tag, digest)?;
            if bump.unchanged() {
                return Ok(Pushed {
                    bump,
                    commit: None,
                    attempts: attempt - 1,
                });
            }
            let blob = self
                .repo
                .blob(bump.after.as_bytes())
                .map_err(git_error("writing the edited file"))?;
            let parent = self
                .repo
                .find_commit(head)
                .map_err(git_error("reading the branch head"))?;
            let base_tree = parent
                .tree()
                .map_err(git_error("reading the branch head"))?;
            let tree_id = git2::build::TreeUpdateBuilder::new()
                .upsert(target.path.as_str(), blob, mode)
                .create_updated(&self.repo, &base_tree)
                .map_err(git_error("building the new tree"))?;
            let tree = self
                .repo
                .find_tree(tree_id)
                .map_err(git_error("building the new tree"))?;
            let commit = self
                .repo
                .commit(None, &signature, &signature, message, &tree, &[&parent])
                .map_err(git_error("committing the edit"))?;
            self.repo
                .reference(&branch_ref, commit, true, "gantry deploy")
                .map_err(git_error("updating the cache's branch"))?;
            before_push(attempt);
            match self.push(&branch_ref)? {
                None => {
                    // The remote has it: the tracking ref follows, so a read needs no fetch.
                    let _ = self.repo.reference(
                        &self.tracking_ref(),
                        commit,
                        true,
                        "gantry deploy pushed",
                    );
                    return Ok(Pushed {
                        bump,
                        commit: Some(commit.to_string()),
                        attempts: attempt,
                    });
                }
                Some(rejection) => last_rejection = rejection,
            }
        }
        Err(DeployError::Rejected(format!(
            "{} rejected the push of {} {} times (last: {last_rejection}); another writer keeps winning, or the branch is protected",
            self.settings.repository, self.settings.branch, self.settings.push_attempts
        )))
    }

    /// `None` when pushed; `Some(why)` when the remote refused it (a race, most often).
    fn push(&self, branch_ref: &str) -> Result<Option<String>, DeployError> {
        let config = self
            .repo
            .config()
            .map_err(git_error("reading git configuration"))?;
        let offers = crate::git::CredentialOffers::default();
        let rejection: RefCell<Option<String>> = RefCell::new(None);
        let mut remote = self
            .repo
            .find_remote(REMOTE)
            .map_err(git_error("opening the cache's remote"))?;
        let result = {
            let mut callbacks = RemoteCallbacks::new();
            crate::git::offer_credentials(&mut callbacks, &config, &offers);
            callbacks.push_update_reference(|reference, status| {
                if let Some(status) = status {
                    *rejection.borrow_mut() = Some(format!("{reference}: {status}"));
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let refspec = format!("{branch_ref}:{branch_ref}");
            crate::git::tls::before_remote(remote.url().unwrap_or_default());
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        match result {
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                Ok(Some(e.message().to_string()))
            }
            Err(e) => Err(self.transport_error("push", e)),
            Ok(()) => Ok(rejection.into_inner()),
        }
    }

    /// A non-bare repository given by path with the branch checked out would have its
    /// branch moved under its worktree (git itself refuses such pushes by default).
    fn refuse_checked_out_remote(&self) -> Result<(), DeployError> {
        let RepoLocation::Path(path) = &self.settings.repository else {
            return Ok(());
        };
        crate::git::tls::start_libgit2();
        let Ok(target) = Repository::open(path) else {
            return Ok(());
        };
        if target.is_bare() {
            return Ok(());
        }
        let checked_out = target
            .head()
            .ok()
            .and_then(|h| h.name().ok().map(str::to_string))
            == Some(format!("refs/heads/{}", self.settings.branch));
        if checked_out {
            return Err(DeployError::Repository(format!(
                "{} has `{}` checked out: gantry will not move a branch under someone's worktree. Point deploy.repository at the repository it pushes to (its remote), or check out another branch there",
                path.display(),
                self.settings.branch
            )));
        }
        Ok(())
    }

    /// `[deploy] author`, else the git identity, else `gantry`.
    fn signature(&self) -> Result<git2::Signature<'static>, DeployError> {
        if let Some((name, email)) = &self.settings.author {
            return git2::Signature::now(name, email).map_err(git_error("deploy.author"));
        }
        if let Ok(signature) = self.repo.signature() {
            return Ok(signature);
        }
        git2::Signature::now("gantry", "gantry@localhost").map_err(git_error("the commit author"))
    }
}

/// A unified diff of one file, as `git diff` prints it.
pub fn unified_diff(file: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    let old = PathBuf::from(file);
    let mut options = git2::DiffOptions::new();
    options.context_lines(2);
    git2::Patch::from_buffers(
        before.as_bytes(),
        Some(&old),
        after.as_bytes(),
        Some(&old),
        Some(&mut options),
    )
    .and_then(|mut patch| patch.to_buf())
    .map(|buf| String::from_utf8_lossy(&buf).into_owned())
    .unwrap_or_else(|e| format!("(no diff: {})\n", e.message()))
}

fn git_error(context: &'static str) -> impl Fn(git2::Error) -> DeployError {
    move |e| DeployError::Repository(format!("{context}: {}", e.message()))
}

fn io_error(path: &Path, e: std::io::Error) -> DeployError {
    DeployError::Repository(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_changed_lines_with_context() {
        let before = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n";
        let after = before.replace("d: 4", "d: 40");
        let diff = unified_diff("x.yaml", before, &after);
        assert!(diff.contains("--- a/x.yaml\n+++ b/x.yaml\n"), "{diff}");
        assert!(diff.contains("\n-d: 4\n+d: 40\n"), "{diff}");
        assert!(
            !diff.lines().any(|l| l == " a: 1"),
            "two lines of context: {diff}"
        );
        assert_eq!(unified_diff("x.yaml", before, before), "");
    }
}
