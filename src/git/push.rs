//! Pushing a new branch to the configured remote with the usual credentials: ssh-agent
//! for ssh remotes, git's credential helper for https, nothing for a local path.

use std::cell::{Cell, RefCell};

use git2::{Cred, CredentialType, ErrorClass, PushOptions, RemoteCallbacks};

use super::{GitError, GitRepo};

/// Which credentials one network operation has offered. libgit2 calls back again after
/// each refused credential: each kind is offered once, or a wrong key would loop forever.
#[derive(Default)]
pub(crate) struct CredentialOffers {
    agent: Cell<bool>,
    helper: Cell<bool>,
    default: Cell<bool>,
}

/// Answers libgit2's credential requests the way git does: ssh-agent for ssh remotes,
/// git's credential helper for https, nothing for a local path.
pub(crate) fn offer_credentials<'a>(
    callbacks: &mut RemoteCallbacks<'a>,
    config: &'a git2::Config,
    offers: &'a CredentialOffers,
) {
    callbacks.credentials(move |url, username, allowed| {
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::SSH_KEY) && !offers.agent.replace(true) {
            return Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !offers.helper.replace(true) {
            return Cred::credential_helper(config, url, username);
        }
        if allowed.contains(CredentialType::DEFAULT) && !offers.default.replace(true) {
            return Cred::default();
        }
        Err(git2::Error::from_str(
            "no credentials accepted (tried ssh-agent and git's credential helper)",
        ))
    });
}

impl GitRepo {
    /// Pushes `refs/heads/<branch>` to the same name on `[git] remote`. A remote that
    /// already has the branch rejects the push (never forced).
    pub fn push_branch(&self, branch: &str) -> Result<(), GitError> {
        let remote_name = self.settings.remote.clone();
        let failure = |reason: String, network: bool, rejected: bool| GitError::Push {
            remote: remote_name.clone(),
            branch: branch.to_string(),
            reason,
            network,
            rejected,
        };
        let mut remote = self.repo.find_remote(&remote_name).map_err(|e| {
            failure(
                format!(
                    "{} (add it with `git remote add`, or set [git] remote)",
                    e.message()
                ),
                false,
                false,
            )
        })?;
        let config = self
            .repo
            .config()
            .map_err(|e| failure(e.message().to_string(), false, false))?;

        let offers = CredentialOffers::default();
        let rejection: RefCell<Option<String>> = RefCell::new(None);
        let result = {
            let mut callbacks = RemoteCallbacks::new();
            offer_credentials(&mut callbacks, &config, &offers);
            callbacks.push_update_reference(|reference, status| {
                if let Some(status) = status {
                    *rejection.borrow_mut() = Some(format!("{reference}: {status}"));
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        if let Err(e) = result {
            let network = matches!(
                e.class(),
                ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl
            ) || e.code() == git2::ErrorCode::Auth;
            let rejected = e.code() == git2::ErrorCode::NotFastForward;
            return Err(failure(e.message().to_string(), network, rejected));
        }
        if let Some(reason) = rejection.into_inner() {
            return Err(failure(format!("the remote refused {reason}"), false, true));
        }
        Ok(())
    }
}
