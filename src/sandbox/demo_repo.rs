//! A small application repository with a realistic branch history, for the demo and tests.
//!
//! develop carries the features; a release branch was cut from an older develop commit
//! and merged to main; a hotfix branch starts from main. Dates and authors are fixed,
//! so the same call always yields the same commit ids.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature, Time};

use super::SandboxError;

/// What was built, for seeding images whose tags match real commits.
#[derive(Debug, Clone)]
pub struct DemoRepo {
    pub path: PathBuf,
    /// develop's commits, oldest first (full ids).
    pub develop: Vec<String>,
    /// The develop commit the release branch was cut from.
    pub released: String,
    pub release_branch: String,
    /// The hotfix branch's own commit.
    pub hotfix: String,
    pub hotfix_branch: String,
}

const SUBJECTS: [&str; 8] = [
    "Add payment retry with idempotency keys",
    "Ledger: round half-even on currency conversion",
    "Bump base image to debian 12.8",
    "Expose /healthz with registry reachability",
    "Checkout: show fees before confirmation",
    "Cache exchange rates for 60 s",
    "Fix race in settlement batch close",
    "Structured logs for every promotion hook",
];

const AUTHORS: [(&str, &str); 3] = [
    ("Ana Lima", "ana@example.com"),
    ("Kofi Mensah", "kofi@example.com"),
    ("Mei Chen", "mei@example.com"),
];

fn git_error(context: &str) -> impl Fn(git2::Error) -> SandboxError + '_ {
    move |e| SandboxError::Invalid(format!("{context}: {e}"))
}

struct Writer<'r> {
    repo: &'r Repository,
    dir: PathBuf,
    /// Seconds since the epoch of the next commit.
    clock: i64,
}

impl Writer<'_> {
    fn commit(
        &mut self,
        branch: &str,
        subject: &str,
        author: usize,
        parents: &[Oid],
        file: &str,
    ) -> Result<Oid, SandboxError> {
        self.clock += 3 * 3600;
        let (name, email) = AUTHORS[author % AUTHORS.len()];
        let sig = Signature::new(name, email, &Time::new(self.clock, 0))
            .map_err(git_error("signature"))?;
        let path = self.dir.join(file);
        let mut content = std::fs::read_to_string(&path).unwrap_or_default();
        content.push_str(subject);
        content.push('\n');
        std::fs::write(&path, content)
            .map_err(SandboxError::io(format!("writing {}", path.display())))?;
        let mut index = self.repo.index().map_err(git_error("index"))?;
        index
            .add_path(Path::new(file))
            .map_err(git_error("index add"))?;
        index.write().map_err(git_error("index write"))?;
        let tree_id = index.write_tree().map_err(git_error("write tree"))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(git_error("find tree"))?;
        let parent_commits = parents
            .iter()
            .map(|p| self.repo.find_commit(*p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(git_error("find parent"))?;
        let parent_refs: Vec<&git2::Commit> = parent_commits.iter().collect();
        let refname = format!("refs/heads/{branch}");
        // Write the commit, then move the branch: a merge's first parent may be another branch.
        let oid = self
            .repo
            .commit(None, &sig, &sig, subject, &tree, &parent_refs)
            .map_err(git_error("commit"))?;
        self.repo
            .reference(&refname, oid, true, subject)
            .map_err(git_error("update branch"))?;
        Ok(oid)
    }
}

/// How one demo repository differs from another: its commits' subjects, its branch
/// names, and when its history starts (so two repositories never share a commit id).
#[derive(Debug, Clone, Copy)]
pub struct DemoHistory<'a> {
    /// At least four: the release is cut from the fourth.
    pub subjects: &'a [&'a str],
    pub develop: &'a str,
    pub main: &'a str,
    /// Seconds after 2026-11-01T00:00:00Z of its first commit.
    pub start: i64,
}

impl Default for DemoHistory<'_> {
    fn default() -> Self {
        DemoHistory {
            subjects: &SUBJECTS,
            develop: "develop",
            main: "main",
            start: 0,
        }
    }
}

/// Builds the repository in `dir` (which must not hold one yet).
pub fn build_demo_repo(dir: &Path) -> Result<DemoRepo, SandboxError> {
    build_history(dir, DemoHistory::default())
}

/// Builds a repository with `history`'s subjects and branch names in `dir`.
pub fn build_history(dir: &Path, history: DemoHistory<'_>) -> Result<DemoRepo, SandboxError> {
    if history.subjects.len() < 4 {
        return Err(SandboxError::Invalid(
            "a demo history needs at least four commits".into(),
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(SandboxError::io(format!("creating {}", dir.display())))?;
    let repo = Repository::init(dir).map_err(git_error("git init"))?;
    let mut writer = Writer {
        repo: &repo,
        dir: dir.to_path_buf(),
        // 2026-11-01T00:00:00Z
        clock: 1_793_491_200 + history.start,
    };
    let main = history.main;
    let root = writer.commit(main, "Initial commit", 0, &[], "README.md")?;
    repo.reference(
        &format!("refs/heads/{}", history.develop),
        root,
        true,
        "develop from main",
    )
    .map_err(git_error("develop"))?;
    let mut develop = Vec::new();
    let mut head = root;
    for (i, subject) in history.subjects.iter().enumerate() {
        head = writer.commit(history.develop, subject, i, &[head], "CHANGELOG")?;
        develop.push(head);
    }
    // Release cut from the fourth develop commit, merged to main.
    let released = develop[3];
    let short = &released.to_string()[..7];
    let release_branch = format!("release/v1.0.0-sha-{short}");
    repo.reference(
        &format!("refs/heads/{release_branch}"),
        released,
        true,
        "cut release",
    )
    .map_err(git_error("release branch"))?;
    let merged = writer.commit(
        main,
        &format!("Merge {release_branch}"),
        2,
        &[root, released],
        "RELEASES",
    )?;
    let hotfix_branch = "hotfix/settlement-timeout".to_string();
    repo.reference(
        &format!("refs/heads/{hotfix_branch}"),
        merged,
        true,
        "start hotfix",
    )
    .map_err(git_error("hotfix branch"))?;
    let hotfix = writer.commit(
        &hotfix_branch,
        "Hotfix: raise settlement timeout to 30 s",
        1,
        &[merged],
        "HOTFIX",
    )?;
    repo.set_head(&format!("refs/heads/{}", history.develop))
        .map_err(git_error("HEAD"))?;
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .map_err(git_error("checkout"))?;
    Ok(DemoRepo {
        path: dir.to_path_buf(),
        develop: develop.iter().map(|o| o.to_string()).collect(),
        released: released.to_string(),
        release_branch,
        hotfix: hotfix.to_string(),
        hotfix_branch,
    })
}

/// A bare copy of the repository at `source` with all its branches, at `dir`: a remote
/// to fetch from, as a git server holds one.
pub fn bare_copy(source: &Path, dir: &Path) -> Result<(), SandboxError> {
    let bare = Repository::init_bare(dir).map_err(git_error("git init --bare"))?;
    let mut remote = bare
        .remote_anonymous(&source.display().to_string())
        .map_err(git_error("remote"))?;
    remote
        .fetch(&["+refs/heads/*:refs/heads/*"], None, None)
        .map_err(git_error("fetch"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_deterministic_and_shaped_like_a_release_flow() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let first = build_demo_repo(a.path()).unwrap();
        let second = build_demo_repo(b.path()).unwrap();
        assert_eq!(first.develop, second.develop);
        assert_eq!(first.develop.len(), 8);
        let repo = Repository::open(a.path()).unwrap();
        let main = repo
            .revparse_single("main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(main.parent_count(), 2);
        assert_eq!(main.parent_id(1).unwrap().to_string(), first.released);
        let hotfix = repo
            .revparse_single(&first.hotfix_branch)
            .unwrap()
            .peel_to_commit()
            .unwrap();
        assert_eq!(hotfix.id().to_string(), first.hotfix);
        assert_eq!(hotfix.parent_id(0).unwrap(), main.id());
        assert!(repo.revparse_single(&first.release_branch).is_ok());
        assert_eq!(repo.head().unwrap().shorthand().ok(), Some("develop"));
    }
}
