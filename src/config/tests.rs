//! Configuration loading: defaults, both registry layouts, and every refusal located at file:line:col.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("gantry.toml"))
}

fn expect_error(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line, col, message, ..
        }) => (line, col, message),
        other => panic!("expected a config error, got {other:?}"),
    }
}

const MINIMAL: &str = r#"
[[environment]]
name = "dev"
registry = "localhost:5001"

[[environment]]
name = "stage"
registry = "localhost:5002"
from = "dev"

[[service]]
name = "payment-svc"
"#;

#[test]
fn minimal_config_gets_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.tags.prefix, "sha-");
    assert_eq!(config.tags.short_len, 7);
    assert_eq!(config.git.develop, "develop");
    assert_eq!(config.environments[1].from.as_deref(), Some("dev"));
    assert_eq!(config.services[0].repository, "payment-svc");
    assert_eq!(config.tags.for_commit("2b2e927f1a3c"), "sha-2b2e927");
}

#[test]
fn shared_layout_prefixes_repository() {
    let config = parse(&MINIMAL.replace(
        "registry = \"localhost:5002\"",
        "registry = \"localhost:5001\"\npath = \"/stage/\"",
    ))
    .unwrap();
    let stage = config.environment("stage").unwrap();
    assert_eq!(
        stage.image_name(&config.services[0]),
        "localhost:5001/stage/payment-svc"
    );
}

#[test]
fn unknown_key_is_located() {
    let text = MINIMAL.replace("from = \"dev\"", "form = \"dev\"");
    let (line, col, message) = expect_error(&text);
    assert_eq!((line, col), (9, 1));
    assert!(message.contains("form"), "{message}");
}

#[test]
fn duplicate_environment_is_located() {
    let text = MINIMAL.replace("name = \"stage\"", "name = \"dev\"");
    let (line, col, message) = expect_error(&text);
    assert_eq!((line, col), (7, 8));
    assert!(message.contains("duplicate environment `dev`"), "{message}");
}

#[test]
fn dangling_from_names_the_value() {
    let text = MINIMAL.replace("from = \"dev\"", "from = \"dve\"");
    let (line, col, message) = expect_error(&text);
    assert_eq!((line, col), (9, 8));
    assert!(
        message.contains("`dve`") && message.contains("dev, stage"),
        "{message}"
    );
}

#[test]
fn cycle_is_refused() {
    let text = MINIMAL.replace(
        "registry = \"localhost:5001\"",
        "registry = \"localhost:5001\"\nfrom = \"stage\"",
    );
    let (_, _, message) = expect_error(&text);
    assert!(message.contains("cycle"), "{message}");
}

#[test]
fn bad_registries_are_refused() {
    for (bad, why) in [
        ("https://localhost:5001", "scheme"),
        ("localhost:5001/dev", "path"),
        ("localhost:99999", "port"),
        ("local host", "host"),
        ("", "empty"),
    ] {
        let text = MINIMAL.replace("localhost:5002", bad);
        let (line, col, message) = expect_error(&text);
        assert_eq!((line, col), (8, 12), "{bad}");
        assert!(message.contains(why) && message.contains(bad), "{message}");
    }
}

#[test]
fn mutable_tag_may_not_look_immutable() {
    let text = MINIMAL.replace(
        "from = \"dev\"",
        "from = \"dev\"\nmutable_tag = \"sha-stage\"",
    );
    let (_, _, message) = expect_error(&text);
    assert!(message.contains("immutable prefix"), "{message}");
}

#[test]
fn syntax_error_is_located() {
    let (line, _, _) = expect_error("[[environment]]\nname = \"dev\nregistry = \"x\"\n");
    assert_eq!(line, 2);
}

#[test]
fn example_config_parses_and_shows_both_layouts() {
    let text = include_str!("../../config.example.toml");
    let config = Config::parse(text, Path::new("config.example.toml")).unwrap();
    let per_account = config.environment("stage").unwrap();
    let shared = config.environment("qa").unwrap();
    assert!(per_account.path.is_empty());
    assert_eq!(shared.path, "qa");
    assert!(config
        .environments
        .iter()
        .any(|e| e.name != "qa" && e.registry == shared.registry));
    assert_eq!(
        config.service("ledger-api").unwrap().repository,
        "team-money/ledger-api"
    );
    assert_eq!(config.copy.parallel_blobs, 6);
    assert_eq!(config.ui.theme, "dark");
    let gates = &config.environment("prod").unwrap().gates;
    assert!(gates.signature && gates.scan.is_some() && gates.freeze.len() == 2);
    assert_eq!(gates.merged_to.as_deref(), Some("main"));
    assert!(config.environment("perf").unwrap().readonly);
    assert!(!config.environment("qa").unwrap().readonly);
}

#[test]
fn git_defaults_and_relative_path() {
    let config = Config::parse(MINIMAL, Path::new("/etc/gantry/gantry.toml")).unwrap();
    assert_eq!(config.git.path, Path::new("/etc/gantry/."));
    assert_eq!(config.git.release_prefix, "release/");
    assert_eq!(config.git.hotfix_prefix, "hotfix/");
    assert_eq!(
        config.git.release_template,
        "release/v{version}-sha-{short}"
    );
    assert!(config.git.first_parent);
    assert_eq!(config.git.remote, "origin");

    let text = format!("[git]\npath = \"../app\"\n{MINIMAL}");
    let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
    assert_eq!(config.git.path, Path::new("/etc/gantry/../app"));
    let text = format!("[git]\npath = \"/srv/app\"\n{MINIMAL}");
    let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
    assert_eq!(config.git.path, Path::new("/srv/app"));
}

#[test]
fn bad_git_names_are_refused_at_the_git_table() {
    for (line, why) in [
        (
            "release_template = \"release/{tag}\"",
            "unknown placeholder `{tag}`",
        ),
        (
            "release_template = \"rel/v{version}\"",
            "must start with git.release_prefix",
        ),
        ("release_template = \"release/fixed\"", "no placeholder"),
        (
            "release_template = \"release/v{version}..{short}\"",
            "valid branch name",
        ),
        ("release_prefix = \"\"", "cannot start a branch name"),
        ("hotfix_prefix = \"hot fix/\"", "cannot start a branch name"),
        ("develop = \"dev..elop\"", "not a valid branch name"),
        ("remote = \"my remote\"", "not a valid remote name"),
    ] {
        let text = format!("\n[git]\n{line}\n{MINIMAL}");
        let (at, _, message) = expect_error(&text);
        assert_eq!(at, 2, "{line}: {message}");
        assert!(message.contains(why), "{line}: {message}");
    }
    let text = format!(
        "[git]\nrelease_prefix = \"rel-\"\nrelease_template = \"rel-{{version}}\"\n{MINIMAL}"
    );
    assert_eq!(parse(&text).unwrap().git.release_template, "rel-{version}");
}

fn with_stage_keys(keys: &str) -> String {
    MINIMAL.replace("from = \"dev\"", &format!("from = \"dev\"\n{keys}"))
}

#[test]
fn credential_keys_name_where_the_password_lives() {
    let text = with_stage_keys("username = \"ci\"\npassword_env = \"STAGE_PW\"");
    let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
    let stage = config.environment("stage").unwrap();
    assert_eq!(
        stage.login,
        Some(Login {
            username: "ci".into(),
            password: PasswordSource::Env("STAGE_PW".into()),
        })
    );
    assert_eq!(config.environment("dev").unwrap().login, None);

    let text = with_stage_keys(
        "username = \"ci\"\npassword_file = \"secrets/stage\"\nca_file = \"/certs/ca.pem\"",
    );
    let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
    let stage = config.environment("stage").unwrap();
    assert_eq!(
        stage.login.as_ref().map(|l| &l.password),
        Some(&PasswordSource::File(PathBuf::from(
            "/etc/gantry/secrets/stage"
        )))
    );
    assert_eq!(stage.ca_file, Some(PathBuf::from("/certs/ca.pem")));

    let example = Config::parse(
        include_str!("../../config.example.toml"),
        Path::new("/etc/gantry/config.toml"),
    )
    .unwrap();
    let prod = example.environment("prod").unwrap();
    assert_eq!(
        prod.login.as_ref().map(|l| &l.password),
        Some(&PasswordSource::Env("PROD_REGISTRY_PASSWORD".into()))
    );
    assert_eq!(
        prod.ca_file,
        Some(PathBuf::from("/etc/gantry/certs/prod-ca.pem"))
    );
    assert!(!prod.plain_http);
}

#[test]
fn credential_keys_are_checked() {
    for (keys, at, words) in [
        (
            "username = \"ci\"\npassword_env = \"A\"\npassword_file = \"f\"",
            (12, 17),
            "both password_env and password_file",
        ),
        (
            "username = \"ci\"",
            (10, 12),
            "no password_env or password_file",
        ),
        ("password_env = \"A\"", (10, 16), "no username"),
        (
            "username = \"ci\"\npassword_env = \"hunter2 x\"",
            (11, 16),
            "not an environment variable name",
        ),
    ] {
        let (line, col, message) = expect_error(&with_stage_keys(keys));
        assert!(message.contains(words), "{keys}: {message}");
        assert_eq!((line, col), at, "{keys}: {message}");
    }
    let text = MINIMAL.replace(
        "registry = \"localhost:5002\"",
        "registry = \"localhost:5002\"\nplain_http = true\nca_file = \"ca.pem\"",
    );
    let (line, col, message) = expect_error(&text);
    assert!(
        message.contains("plain_http = true and ca_file"),
        "{message}"
    );
    assert_eq!((line, col), (10, 11));
}

#[test]
fn branch_names_follow_git() {
    for good in [
        "develop",
        "release/v1.2.0-sha-2b2e927",
        "hotfix/x_y",
        "a.b/c",
    ] {
        assert!(is_valid_branch_name(good), "{good}");
    }
    for bad in [
        "",
        "@",
        "-x",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "a/",
        "/a",
        "a//b",
        ".a",
        "a/.b",
        "a.lock",
        "a/b.lock/c",
        "a.",
        "a@{1}",
        "tab\there",
    ] {
        assert!(!is_valid_branch_name(bad), "{bad:?}");
    }
}

#[test]
fn repository_grammar() {
    assert!(is_valid_repository("team/payment-svc"));
    assert!(!is_valid_repository("Payment"));
    assert!(!is_valid_repository("a//b"));
    assert!(!is_valid_repository("-a"));
}

#[test]
fn keys_rebind_globally_and_per_screen() {
    use super::keys::{Action, Key, KeyChord, Screen};
    let text = format!(
            "{MINIMAL}\n[ui]\ntheme = \"light\"\n\n[keys]\nquit = [\"Q\", \"ctrl-q\"]\n\n[keys.images]\npromote = \"P\"\n"
        );
    let config = parse(&text).unwrap();
    assert_eq!(config.ui.theme, "light");
    let keymap = &config.keymap;
    let q = |c| KeyChord::plain(Key::Char(c));
    assert_eq!(keymap.lookup(Screen::Images, q('Q')), Some(Action::Quit));
    assert_eq!(keymap.lookup(Screen::Images, q('q')), None);
    assert_eq!(keymap.lookup(Screen::Images, q('P')), Some(Action::Promote));
    assert_eq!(keymap.lookup(Screen::Images, q('p')), None);
}

#[test]
fn bad_keys_are_located() {
    let (line, col, message) = expect_error(&format!("{MINIMAL}\n[keys]\nquitt = \"q\"\n"));
    assert_eq!((line, col), (15, 1));
    assert!(message.contains("unknown action `quitt`"), "{message}");
    let (line, _, message) = expect_error(&format!("{MINIMAL}\n[keys]\nquit = \"ctrl-\"\n"));
    assert_eq!(line, 15);
    assert!(message.contains("`ctrl-` is not a key"), "{message}");
    let (_, _, message) = expect_error(&format!("{MINIMAL}\n[keys.imagez]\nquit = \"q\"\n"));
    assert!(message.contains("unknown screen `imagez`"), "{message}");
}
