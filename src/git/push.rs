//! Pushing a new branch to the configured remote with the usual credentials: ssh-agent
//! for ssh remotes, git's credential helper for https, nothing for a local path.

use std::cell::{Cell, RefCell};

use base64::Engine;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, PushOptions,
    RemoteCallbacks,
};

use super::{GitError, GitRepo};

/// Which credentials one network operation has offered. libgit2 calls back again after
/// each refused credential: each kind is offered once, or a wrong key would loop forever.
#[derive(Default)]
pub(crate) struct CredentialOffers {
    agent: Cell<bool>,
    helper: Cell<bool>,
    default: Cell<bool>,
    /// The ssh server's host key as `<type> SHA256:<fingerprint>`: libgit2's refusal of an
    /// unknown key does not say which key it saw, and the user must check it before trusting.
    host_key: RefCell<Option<String>>,
}

impl CredentialOffers {
    /// `e`'s message, explained where libgit2's own says too little to act on.
    pub(crate) fn explain(&self, e: &git2::Error, url: Option<&str>) -> String {
        if e.class() == ErrorClass::Ssh && e.code() == ErrorCode::Certificate {
            if let Some(text) = url
                .and_then(SshDestination::parse)
                .map(|dest| unknown_host_key(&dest, self.host_key.borrow().as_deref()))
            {
                return text;
            }
        }
        e.message().to_string()
    }
}

/// Where an ssh remote points: enough to name the host and spell out the commands that
/// fix its known_hosts entry.
#[derive(Debug, PartialEq)]
struct SshDestination {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl SshDestination {
    /// `ssh://[user@]host[:port]/path` (also `ssh+git://`, `git+ssh://`) or scp-like
    /// `[user@]host:path`; `None` for anything else.
    fn parse(url: &str) -> Option<SshDestination> {
        let (authority, scp) = match url.split_once("://") {
            Some((scheme, rest)) => {
                if !matches!(scheme, "ssh" | "ssh+git" | "git+ssh") {
                    return None;
                }
                (rest.split('/').next().unwrap_or(rest), false)
            }
            None => {
                let (authority, _) = url.split_once(':')?;
                if authority.contains('/') {
                    return None; // a local path with a colon in it
                }
                (authority, true)
            }
        };
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, rest)) => (Some(user.to_string()), rest),
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else if scp {
            (host_port, None)
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        let port = match port {
            Some(port) => Some(port.parse().ok()?),
            None => None,
        };
        (!host.is_empty()).then(|| SshDestination {
            user,
            host: host.to_string(),
            port,
        })
    }
}

/// Why the push stopped at the host key, and the commands that fix it.
fn unknown_host_key(dest: &SshDestination, key: Option<&str>) -> String {
    let (keyscan, ssh, name) = match dest.port.filter(|&p| p != 22) {
        Some(port) => (
            format!("ssh-keyscan -p {port} {}", dest.host),
            format!("ssh -p {port} "),
            format!("[{}]:{port}", dest.host),
        ),
        None => (
            format!("ssh-keyscan {}", dest.host),
            "ssh ".to_string(),
            dest.host.clone(),
        ),
    };
    let login = match &dest.user {
        Some(user) => format!("{user}@{}", dest.host),
        None => dest.host.clone(),
    };
    let key = key.map(|k| format!(" ({k})")).unwrap_or_default();
    format!(
        "the ssh host key of {name}{key} is not in ~/.ssh/known_hosts, or differs from the one \
         recorded there; if you trust this key, add it with `{keyscan} >> ~/.ssh/known_hosts` \
         (or connect once with `{ssh}{login}`); if known_hosts holds another key for {name}, \
         find out why the server's key changed before replacing it"
    )
}

/// Why no credential was left to offer, for the server's last refusal.
fn refused(url: &str, username: Option<&str>, offers: &CredentialOffers) -> git2::Error {
    let host = SshDestination::parse(url)
        .map(|d| d.host)
        .or_else(|| http_host(url))
        .unwrap_or_else(|| url.to_string());
    let user = username.unwrap_or("git");
    if offers.agent.get() {
        let message = match std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
            None => format!(
                "no ssh-agent to ask for a key: SSH_AUTH_SOCK is not set (start ssh-agent, \
                 then `ssh-add` the key {host} accepts for `{user}`)"
            ),
            Some(sock) => format!(
                "{host} accepted none of the keys ssh-agent ({}) offered for `{user}`; \
                 `ssh-add -l` lists them, `ssh-add <key>` adds the one the server expects",
                sock.to_string_lossy()
            ),
        };
        return git2::Error::new(ErrorCode::Auth, ErrorClass::Ssh, message);
    }
    if offers.helper.get() {
        return git2::Error::new(
            ErrorCode::Auth,
            ErrorClass::Http,
            format!(
                "{host} refused the username and password git's credential helper gave \
                 for it (check `git config credential.helper` and the stored password)"
            ),
        );
    }
    git2::Error::new(
        ErrorCode::Auth,
        ErrorClass::None,
        "no credentials accepted (tried ssh-agent and git's credential helper)",
    )
}

/// The `host[:port]` of an http(s) URL (without any `user@`): the error naming the URL
/// already, the refusal names the server that refused.
fn http_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_string())
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
        Err(refused(url, username, offers))
    });
    // Only looks: libgit2 still checks ssh host keys against ~/.ssh/known_hosts and TLS
    // certificates against the system's roots.
    callbacks.certificate_check(move |cert, _host| {
        if let Some(key) = cert.as_hostkey() {
            if let Some(hash) = key.hash_sha256() {
                let kind = key.hostkey_type().map(|t| t.name()).unwrap_or("ssh");
                let fingerprint = base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash);
                *offers.host_key.borrow_mut() = Some(format!("{kind} SHA256:{fingerprint}"));
            }
        }
        Ok(CertificateCheckStatus::CertificatePassthrough)
    });
}

impl GitRepo {
    /// Pushes `refs/heads/<branch>` to the same name on `[git] remote`. A remote that
    /// already has the branch rejects the push (never forced).
    pub fn push_branch(&self, branch: &str) -> Result<(), GitError> {
        self.push_refspec(branch, &format!("refs/heads/{branch}:refs/heads/{branch}"))
    }

    /// Deletes `branch` from `[git] remote`: a branch pushed by a cut that could not be
    /// completed (a release train whose next push failed) is taken back.
    pub fn delete_pushed_branch(&self, branch: &str) -> Result<(), GitError> {
        self.push_refspec(branch, &format!(":refs/heads/{branch}"))
    }

    fn push_refspec(&self, branch: &str, refspec: &str) -> Result<(), GitError> {
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
        let url = remote.url().ok().map(str::to_string);

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
            super::tls::before_remote(url.as_deref().unwrap_or_default());
            remote.push(&[refspec], Some(&mut options))
        };
        if let Err(e) = result {
            let network = matches!(
                e.class(),
                ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl
            ) || e.code() == git2::ErrorCode::Auth;
            let rejected = e.code() == git2::ErrorCode::NotFastForward;
            return Err(failure(
                offers.explain(&e, url.as_deref()),
                network,
                rejected,
            ));
        }
        if let Some(reason) = rejection.into_inner() {
            return Err(failure(format!("the remote refused {reason}"), false, true));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SshDestination;

    fn dest(user: Option<&str>, host: &str, port: Option<u16>) -> Option<SshDestination> {
        Some(SshDestination {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    #[test]
    fn ssh_destinations_in_the_forms_git_accepts() {
        let parse = SshDestination::parse;
        assert_eq!(
            parse("ssh://root@127.0.0.1:2222/srv/remote.git"),
            dest(Some("root"), "127.0.0.1", Some(2222))
        );
        assert_eq!(
            parse("ssh://git.example.com/org/app.git"),
            dest(None, "git.example.com", None)
        );
        assert_eq!(
            parse("git+ssh://git@[::1]:22/app.git"),
            dest(Some("git"), "::1", Some(22))
        );
        assert_eq!(
            parse("git@github.com:org/app.git"),
            dest(Some("git"), "github.com", None)
        );
        assert_eq!(parse("https://example.com/app.git"), None);
        assert_eq!(parse("/srv/git/app.git"), None);
        assert_eq!(parse("./with:colon/app.git"), None);
        assert_eq!(parse("ssh://host:notaport/app.git"), None);
    }
}
