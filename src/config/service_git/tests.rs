//! `[[service]] git` and its branch names: resolved against the configuration file,
//! grouped by repository, and refused with file:line:col when they cannot name branches.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::domain::RepoLocation;

const ENVIRONMENTS: &str = r#"
[git]
path = "app"

[[environment]]
name = "dev"
registry = "localhost:5001"
"#;

fn parse(services: &str) -> Result<Config, ConfigError> {
    Config::parse(
        &format!("{ENVIRONMENTS}{services}"),
        Path::new("/etc/gantry/gantry.toml"),
    )
}

fn error(services: &str) -> (usize, usize, String) {
    match parse(services) {
        Err(ConfigError::Invalid {
            line, col, message, ..
        }) => (line, col, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn services_without_git_read_the_git_path_as_before() {
    let config = parse("[[service]]\nname = \"payment-svc\"\n").expect("config");
    assert!(!config.polyrepo());
    let git = config.service_git(&config.services[0]);
    assert!(!git.own);
    assert_eq!(git.configured_by(), "[git] path");
    assert_eq!(
        git.location,
        RepoLocation::Path(PathBuf::from("/etc/gantry/app"))
    );
    assert_eq!(git.settings.develop, "develop");
}

#[test]
fn a_service_names_its_repository_and_branches_of_its_own() {
    let config = parse(
        r#"
[[service]]
name = "payment-svc"
git = "../repos/payment"
develop = "dev"
main = "master"
release_prefix = "rel/"

[[service]]
name = "orders-svc"
git = "git@github.com:shop/orders.git"

[[service]]
name = "orders-worker"
git = "git@github.com:shop/orders.git"

[[service]]
name = "search-svc"
"#,
    )
    .expect("config");
    assert!(config.polyrepo());
    let payment = config.service_git(&config.services[0]);
    assert!(payment.own);
    assert_eq!(
        payment.location,
        RepoLocation::Path(PathBuf::from("/etc/gantry/../repos/payment"))
    );
    assert_eq!(
        payment.settings.path,
        Path::new("/etc/gantry/../repos/payment")
    );
    assert_eq!(
        (
            payment.settings.develop.as_str(),
            payment.settings.main.as_str()
        ),
        ("dev", "master")
    );
    // The release template follows the service's prefix; the hotfix prefix stays [git]'s.
    assert_eq!(
        payment.settings.release_template,
        "rel/v{version}-sha-{short}"
    );
    assert_eq!(payment.settings.hotfix_prefix, "hotfix/");
    let orders = config.service_git(&config.services[1]);
    assert_eq!(
        orders.location,
        RepoLocation::Url("git@github.com:shop/orders.git".into())
    );

    let groups: Vec<Vec<String>> = config
        .repositories()
        .into_iter()
        .map(|(_, services)| services)
        .collect();
    assert_eq!(
        groups,
        [
            vec!["payment-svc".to_string()],
            vec!["orders-svc".into(), "orders-worker".into()],
            vec!["search-svc".into()],
        ]
    );
}

#[test]
fn branch_names_git_would_refuse_are_refused_where_they_are_written() {
    let (line, col, message) = error(
        "[[service]]\nname = \"payment-svc\"\ngit = \"../payment\"\ndevelop = \"two words\"\n",
    );
    assert_eq!((line, col), (11, 11), "{message}");
    assert!(message.contains("service `payment-svc`"), "{message}");
    assert!(message.contains("develop `two words`"), "{message}");

    let (line, _, message) = error("[[service]]\nname = \"payment-svc\"\nhotfix_prefix = \"\"\n");
    assert_eq!(line, 10, "{message}");
    assert!(message.contains("hotfix_prefix"), "{message}");

    let (line, col, message) = error("[[service]]\nname = \"payment-svc\"\ngit = \" \"\n");
    assert_eq!((line, col), (10, 7), "{message}");
    assert!(message.contains("git is empty"), "{message}");
}

#[test]
fn the_ledger_repository_is_resolved_like_the_git_path() {
    let config = Config::parse(
        &format!("{ENVIRONMENTS}\n[ledger]\nrepository = \"../audit\"\n"),
        Path::new("/etc/gantry/gantry.toml"),
    )
    .expect("config");
    assert_eq!(
        config.ledger.repository.as_deref(),
        Some("/etc/gantry/../audit")
    );
    let config = Config::parse(
        &format!("{ENVIRONMENTS}\n[ledger]\nrepository = \"ssh://git@example.com/audit.git\"\n"),
        Path::new("/etc/gantry/gantry.toml"),
    )
    .expect("config");
    assert_eq!(
        config.ledger.repository.as_deref(),
        Some("ssh://git@example.com/audit.git")
    );
    let message = match Config::parse(
        &format!("{ENVIRONMENTS}\n[ledger]\nrepository = \"\"\n"),
        Path::new("/etc/gantry/gantry.toml"),
    ) {
        Err(ConfigError::Invalid { message, .. }) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    assert!(message.contains("ledger.repository is empty"), "{message}");
}
