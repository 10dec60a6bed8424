//! `[environment.deploy]` read and refused with file:line:col.

use super::*;

#[test]
fn urls_and_paths() {
    for url in [
        "https://git.example.com/ops/manifests.git",
        "ssh://git@host/ops.git",
        "git@github.com:ops/manifests.git",
        "file:///srv/manifests.git",
    ] {
        assert!(is_url(url), "{url}");
    }
    for path in ["../manifests", "/srv/manifests.git", "manifests", "dir/a:b"] {
        assert!(!is_url(path), "{path}");
    }
}

#[test]
fn placeholders_skip_shell_parameters() {
    assert_eq!(
        placeholders("deploy {service} ${HOME} ${svc} {env}{tag} {Upper} {}"),
        ["{service}", "{env}", "{tag}"]
    );
}

const BASE: &str = "[[environment]]\nname = \"dev\"\nregistry = \"localhost:5001\"\n\n[[environment]]\nname = \"stage\"\nregistry = \"localhost:5002\"\nfrom = \"dev\"\n[environment.deploy]\n";
const SERVICES: &str = "\n[[service]]\nname = \"app\"\n";

fn parse(deploy: &str) -> Result<crate::config::Config, (usize, usize, String)> {
    let text = format!("{BASE}{deploy}{SERVICES}");
    crate::config::Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).map_err(|e| match e {
        crate::config::ConfigError::Invalid {
            line, col, message, ..
        } => (line, col, message),
        other => (0, 0, other.to_string()),
    })
}

#[test]
fn gitops_settings_resolve_paths_and_defaults() {
    let config = parse("kind = \"gitops\"\nrepository = \"../manifests\"\nfiles.app = { path = \"./stage/k.yaml\", image = \"r/app\" }\n").unwrap();
    let stage = config.environment("stage").unwrap();
    let DeployMethod::GitOps(g) = &stage.deploy.method else {
        panic!("{:?}", stage.deploy)
    };
    assert_eq!(
        g.repository,
        RepoLocation::Path(PathBuf::from("/etc/gantry/../manifests"))
    );
    assert_eq!(g.branch, "main");
    assert_eq!(g.push_attempts, DEFAULT_PUSH_ATTEMPTS);
    assert_eq!(g.files["app"].path, "stage/k.yaml");
    assert_eq!(
        g.files["app"].edit,
        FileEdit::Kustomize {
            image: "r/app".into()
        }
    );
    assert_eq!(
        config.environment("dev").unwrap().deploy,
        DeploySettings::default()
    );
}

#[test]
fn deploy_errors_point_at_the_key() {
    for (deploy, at, words) in [
            ("kind = \"helm\"\n", (10, 8), "not one of gitops, command, none"),
            ("kind = \"command\"\n", (9, 1), "needs `command`"),
            ("kind = \"command\"\ncommand = \"x {imag}\"\n", (11, 11), "unknown placeholder `{imag}`"),
            ("kind = \"command\"\ncommand = \"x\"\nbranch = \"main\"\n", (12, 10), "belongs to kind = \"gitops\""),
            ("kind = \"none\"\nstatus = \"x\"\n", (11, 10), "no effect"),
            ("kind = \"command\"\ncommand = \"x\"\nstatus_timeout_secs = 5\n", (12, 23), "needs deploy.status"),
            ("kind = \"command\"\ncommand = \"x\"\ntimeout_secs = 0\n", (12, 16), "at least 1"),
            ("kind = \"gitops\"\nrepository = \"m\"\nfiles.other = { path = \"a.yaml\", image = \"x\" }\n", (12, 7), "`other` is not a configured service"),
            ("kind = \"gitops\"\nrepository = \"m\"\nfiles.app = { path = \"../a.yaml\", image = \"x\" }\n", (12, 22), "without `..`"),
            ("kind = \"gitops\"\nrepository = \"m\"\nfiles.app = { path = \"a.yaml\" }\n", (12, 13), "says nothing to edit"),
            ("kind = \"gitops\"\nrepository = \"m\"\nfiles.app = { path = \"a.yaml\", image = \"x\", tag = \"t\" }\n", (12, 40), "not both"),
            ("kind = \"gitops\"\nrepository = \"m\"\nfiles.app = { path = \"a.yaml\", tag = \"image..tag\" }\n", (12, 38), "dotted path"),
            ("kind = \"gitops\"\nrepository = \"m\"\nbranch = \"a..b\"\nfiles.app = { path = \"a.yaml\", tag = \"t\" }\n", (12, 10), "not a valid branch name"),
            ("kind = \"gitops\"\nrepository = \"m\"\nauthor = \"bot\"\nfiles.app = { path = \"a.yaml\", tag = \"t\" }\n", (12, 10), "`Name <email>`"),
            ("kind = \"gitops\"\nfiles.app = { path = \"a.yaml\", tag = \"t\" }\n", (9, 1), "needs `repository`"),
            ("kind = \"command\"\ncommand = \"x\"\nstatus = \"y\"\nstatus_fail_codes = [0]\n", (13, 21), "cannot hold 0"),
            ("kind = \"command\"\ncommand = \"x\"\nretries = 2\n", (12, 1), "retries"),
        ] {
            let (line, col, message) = parse(deploy).expect_err(deploy);
            assert!(message.contains(words), "{deploy}: {message}");
            assert_eq!((line, col), at, "{deploy}: {message}");
        }
}

#[test]
fn example_config_documents_both_kinds() {
    let config = crate::config::Config::parse(
        include_str!("../../../config.example.toml"),
        Path::new("/etc/gantry/config.toml"),
    )
    .unwrap();
    let stage = &config.environment("stage").unwrap().deploy;
    let DeployMethod::GitOps(g) = &stage.method else {
        panic!("{stage:?}")
    };
    assert!(matches!(
        g.files["ledger-api"].edit,
        FileEdit::Helm {
            tag: Some(_),
            digest: Some(_)
        }
    ));
    assert!(stage.status.is_some());
    let prod = &config.environment("prod").unwrap().deploy;
    assert!(matches!(prod.method, DeployMethod::Command(_)));
}

#[test]
fn authors() {
    assert_eq!(
        parse_author("Release Bot <bot@example.com>"),
        Some(("Release Bot".into(), "bot@example.com".into()))
    );
    assert_eq!(parse_author("bot@example.com"), None);
    assert_eq!(parse_author("<bot@example.com>"), None);
}
