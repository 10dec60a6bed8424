//! The services' repositories: each one there and a git repository, a URL's mirror
//! fetched (and how long ago), develop and main present. Many healthy repositories are
//! said in one line, so a fleet's report stays readable.

use futures_util::stream::{self, StreamExt};

use super::{Check, Level};
use crate::domain::human_age;
use crate::engine::repos::ServiceRepo;
use crate::engine::Engine;
use crate::git::GitError;

/// Repositories listed one by one when all is well; past this, one line counts them.
const LISTED: usize = 5;

pub(super) async fn git(engine: &Engine) -> Vec<Check> {
    let repos = engine.service_repos();
    let count = repos.len();
    let checked: Vec<Vec<Check>> = stream::iter(repos)
        .map(|repo| async move { check(engine, &repo).await })
        .buffered(4)
        .collect()
        .await;
    if count <= LISTED {
        return checked.into_iter().flatten().collect();
    }
    let (healthy, troubled): (Vec<Vec<Check>>, Vec<Vec<Check>>) = checked
        .into_iter()
        .partition(|checks| checks.iter().all(|c| c.level == Level::Ok));
    let mut checks = vec![Check::ok(
        "git",
        "repository",
        format!(
            "{} of {count} service repositories there, with develop and main",
            healthy.len()
        ),
    )];
    checks.extend(troubled.into_iter().flatten());
    checks
}

async fn check(engine: &Engine, repo: &ServiceRepo) -> Vec<Check> {
    let scope = if repo.git.own {
        format!("git {}", repo.names())
    } else {
        "git".to_string()
    };
    let mut checks = Vec::new();
    if let Some(url) = &repo.url {
        match engine.mirrors().fetched_at(url) {
            None => {
                return vec![Check::warning(
                    &scope,
                    "repository",
                    format!("{url}: not fetched yet"),
                    "`gantry fetch` clones it (the console fetches it in the background)",
                )]
            }
            Some(at) => checks.push(Check::ok(
                &scope,
                "repository",
                format!(
                    "{url} (fetched {} ago)",
                    human_age(chrono::Utc::now().timestamp() - at)
                ),
            )),
        }
    }
    let settings = repo.git.settings.clone();
    let heads = engine
        .with_repo_as_fetched(repo, move |git| {
            Ok([&settings.develop, &settings.main]
                .into_iter()
                .map(|branch| (branch.clone(), git.head_of(branch)))
                .collect::<Vec<_>>())
        })
        .await;
    let heads = match heads {
        Ok((heads, _)) => heads,
        Err(crate::engine::history::HistoryError::Git(e @ GitError::NotARepository { .. })) => {
            return vec![Check::warning(
                &scope,
                "repository",
                e.to_string(),
                "commits, release branches, approvals and the ledger need the application repository: set [git] path",
            )]
        }
        Err(e) => {
            return vec![Check::error(
                &scope,
                "repository",
                e.to_string(),
                format!("fix {}", repo.git.configured_by()),
            )]
        }
    };
    if repo.url.is_none() {
        checks.push(Check::ok(&scope, "repository", repo.location()));
    }
    for (branch, head) in heads {
        checks.push(match head {
            Ok(head) => Check::ok(
                &scope,
                "branch",
                format!("{branch} at {} \"{}\"", head.short, head.subject),
            ),
            Err(e) => Check::warning(
                &scope,
                "branch",
                e.to_string(),
                "fetch the branch, or name yours in [git] develop / main",
            ),
        });
    }
    checks
}
