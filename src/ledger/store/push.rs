//! Pushing the ledger ref: through libgit2 to a network remote, or by copying objects
//! and a compare-and-swap to a repository on this machine; a lost race is told apart.

use std::path::Path;

use git2::{ErrorClass, ErrorCode, Oid, PushOptions, Repository};

use super::{RemoteSpec, Store};
use crate::git::CredentialOffers;
pub(super) enum PushError {
    /// The remote's ledger moved since the fetch: fetch, re-chain, retry.
    Race,
    Network(String),
    Rejected(String),
}

fn is_network(e: &git2::Error) -> bool {
    matches!(
        e.class(),
        ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os
    ) || e.code() == ErrorCode::Auth
}

impl Store {
    /// Pushes the ledger ref, which must point at `head`, expecting the remote at `expected`.
    pub(super) fn push(
        &self,
        spec: &RemoteSpec,
        head: Oid,
        expected: Option<Oid>,
    ) -> Result<(), PushError> {
        if let Some(path) = &spec.local {
            return self.push_local(path, head, expected);
        }
        let internal = |e: git2::Error| PushError::Rejected(e.message().to_string());
        let mut remote = self.repo.find_remote(&spec.name).map_err(internal)?;
        let config = self.repo.config().map_err(internal)?;
        let offers = CredentialOffers::default();
        let rejection = std::cell::RefCell::new(None::<String>);
        let result = {
            let mut callbacks = Self::callbacks(&config, &offers);
            callbacks.push_update_reference(|_, status| {
                if let Some(status) = status {
                    *rejection.borrow_mut() = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let refspec = format!("{0}:{0}", self.reference);
            crate::git::tls::before_remote(remote.url().unwrap_or_default());
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        match result {
            Err(e) if e.code() == ErrorCode::NotFastForward => return Err(PushError::Race),
            Err(e) if is_network(&e) => return Err(PushError::Network(e.message().to_string())),
            Err(e) => return Err(PushError::Rejected(e.message().to_string())),
            Ok(()) => {}
        }
        match rejection.into_inner() {
            None => Ok(()),
            Some(status) => {
                let lower = status.to_ascii_lowercase();
                let raced = [
                    "fast-forward",
                    "fetch first",
                    "lock",
                    "stale",
                    "failed to update",
                ]
                .iter()
                .any(|word| lower.contains(word));
                Err(if raced {
                    PushError::Race
                } else {
                    PushError::Rejected(status)
                })
            }
        }
    }

    /// Copies the new records' objects into a repository on this machine, then moves its
    /// ledger ref from `expected` to `head` in one compare-and-swap.
    fn push_local(&self, path: &Path, head: Oid, expected: Option<Oid>) -> Result<(), PushError> {
        let target = Repository::open(path)
            .map_err(|e| PushError::Network(format!("{}: {}", path.display(), e.message())))?;
        let copy = || -> Result<(), git2::Error> {
            let source = self.repo.odb()?;
            let destination = target.odb()?;
            let mut next = Some(head);
            while let Some(oid) = next {
                if destination.exists(oid) {
                    break;
                }
                let commit = self.repo.find_commit(oid)?;
                let tree = self.repo.find_tree(commit.tree_id())?;
                let mut ids = vec![commit.tree_id()];
                tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
                    ids.push(entry.id());
                    git2::TreeWalkResult::Ok
                })?;
                ids.push(oid);
                for id in ids {
                    if !destination.exists(id) {
                        let object = source.read(id)?;
                        destination.write(object.kind(), object.data())?;
                    }
                }
                next = commit.parent_id(0).ok();
            }
            Ok(())
        };
        copy().map_err(|e| PushError::Rejected(e.message().to_string()))?;
        let result = match expected {
            Some(old) => {
                target.reference_matching(&self.reference, head, true, old, "gantry: ledger push")
            }
            None => target.reference(&self.reference, head, false, "gantry: ledger push"),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified
                        | ErrorCode::Exists
                        | ErrorCode::Locked
                        | ErrorCode::NotFound
                ) =>
            {
                Err(PushError::Race)
            }
            Err(e) => Err(PushError::Rejected(e.message().to_string())),
        }
    }
}
