//! Asking a remote which branches it has without fetching anything (`git ls-remote`):
//! how `gantry doctor` checks a manifests repository or a ledger remote is reachable.

use git2::{Direction, Remote, RemoteCallbacks};

use super::{offer_credentials, CredentialOffers};

/// The branch names (`main`, not `refs/heads/main`) at `url`: a URL git fetches or a
/// local path. Credentials as for pushes: ssh-agent, git's credential helper. The error
/// is libgit2's reason, explained where it says too little.
pub fn remote_branches(url: &str) -> Result<Vec<String>, String> {
    super::tls::before_remote(url);
    let config = git2::Config::open_default().map_err(|e| e.message().to_string())?;
    let offers = CredentialOffers::default();
    let mut callbacks = RemoteCallbacks::new();
    offer_credentials(&mut callbacks, &config, &offers);
    let mut remote = Remote::create_detached(url).map_err(|e| e.message().to_string())?;
    let connection = remote
        .connect_auth(Direction::Fetch, Some(callbacks), None)
        .map_err(|e| offers.explain(&e, Some(url)))?;
    let heads = connection
        .list()
        .map_err(|e| e.message().to_string())?
        .iter()
        .filter_map(|head| head.name().strip_prefix("refs/heads/").map(str::to_string))
        .collect();
    Ok(heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_repository_lists_its_branches_and_a_missing_one_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_bare(dir.path()).expect("init");
        let signature = git2::Signature::now("t", "t@example.com").expect("signature");
        let tree = repo
            .find_tree(
                repo.treebuilder(None)
                    .expect("tree")
                    .write()
                    .expect("write"),
            )
            .expect("find tree");
        repo.commit(
            Some("refs/heads/main"),
            &signature,
            &signature,
            "one",
            &tree,
            &[],
        )
        .expect("commit");
        let url = dir.path().display().to_string();
        assert_eq!(remote_branches(&url).expect("listing"), ["main"]);
        let missing = dir.path().join("nothing-here");
        assert!(remote_branches(&missing.display().to_string()).is_err());
    }
}
