//! `gantry doctor` against real registries: one with htpasswd auth given a wrong password,
//! an unreachable one, a read-only credential (a token service that grants it pull only),
//! an https one whose CA is not trusted, and a hook not on PATH; then a clean set-up with a
//! git repository and its ledger that passes every check.

mod common;

use std::sync::OnceLock;

use common::git::{gantry_command, TestRepo};
use common::{code, json, pipeline_config, registries, stderr, stdout, Case};
use gantry::sandbox::{
    skopeo_list_tags, LocalRegistry, RegistryOptions, TestCa, TokenIssuer, TokenUsers,
};

const USER: &str = "ci";
const READER: &str = "reader";
// Distinctive, so that finding one in gantry's output means it leaked.
const PASSWORD: &str = "d0ct0r-pw-5e1f2a3b";
const READER_PASSWORD: &str = "r3ader-pw-0c9d8e7f";
const WRONG_PASSWORD: &str = "wr0ng-pw-a1b2c3d4";

struct World {
    basic: LocalRegistry,
    _issuer: TokenIssuer,
    token: LocalRegistry,
    tls: LocalRegistry,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let root = common::process_root("gantry-doctor");
        let basic = LocalRegistry::start_with_basic_auth(&root.join("basic"), USER, PASSWORD)
            .expect("basic-auth registry");
        let mut users = TokenUsers::default();
        users.passwords.insert(USER.into(), PASSWORD.into());
        users
            .passwords
            .insert(READER.into(), READER_PASSWORD.into());
        users.pull_only.insert(READER.into());
        let issuer = TokenIssuer::start(&root.join("issuer"), users).expect("token issuer");
        let token = LocalRegistry::start_with(
            &root.join("token"),
            RegistryOptions {
                token: Some(issuer.auth()),
                ..RegistryOptions::default()
            },
        )
        .expect("token-auth registry");
        let ca = TestCa::generate(&root.join("ca")).expect("test CA");
        let tls = LocalRegistry::start_with(
            &root.join("tls"),
            RegistryOptions {
                tls: Some(ca.server_cert("doctor-tls").expect("server cert")),
                ..RegistryOptions::default()
            },
        )
        .expect("https registry");
        World {
            basic,
            _issuer: issuer,
            token,
            tls,
        }
    })
}

fn environment(name: &str, registry: &str, extra: &str) -> String {
    format!(
        "\n[[environment]]\nname = \"{name}\"\nregistry = \"{registry}\"\nfrom = \"dev\"\nmutable_tag = \"{name}\"\n{extra}\n"
    )
}

/// The check of `scope` named `check` in `doctor --json`'s answer.
fn find<'a>(report: &'a serde_json::Value, scope: &str, check: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["scope"] == scope && c["check"] == check)
        .unwrap_or_else(|| panic!("no {scope}/{check} in {report:#}"))
}

#[test]
fn each_problem_is_one_line_saying_what_to_do() {
    let w = world();
    let case = Case::new("doctor-problems");
    let plain = "plain_http = true";
    let mut config = pipeline_config(&case, "", ["", "", ""]);
    config.push_str(&environment(
        "wrongpw",
        w.basic.addr(),
        &format!("{plain}\nusername = \"{USER}\"\npassword_env = \"WRONG_PW\""),
    ));
    config.push_str(&environment(
        "goodpw",
        w.basic.addr(),
        &format!("{plain}\nusername = \"{USER}\"\npassword_env = \"GOOD_PW\""),
    ));
    config.push_str(&environment(
        "unset",
        w.basic.addr(),
        &format!("{plain}\nusername = \"{USER}\"\npassword_env = \"NOT_SET_ANYWHERE\""),
    ));
    config.push_str(&environment(
        "down",
        &format!("127.0.0.1:{}", registries().closed_port),
        plain,
    ));
    config.push_str(&environment(
        "readonly",
        w.token.addr(),
        &format!("{plain}\nusername = \"{READER}\"\npassword_env = \"READER_PW\""),
    ));
    config.push_str(&environment(
        "writer",
        w.token.addr(),
        &format!("{plain}\nusername = \"{USER}\"\npassword_env = \"GOOD_PW\""),
    ));
    config.push_str(&environment("untrusted", w.tls.addr(), ""));
    config.push_str(&environment(
        "hooked",
        registries().prod.addr(),
        &format!("{plain}\npath = \"hooked\"\n[environment.deploy]\nkind = \"command\"\ncommand = \"gantry-no-such-kubectl set image {{image}}\"\nstatus = \"sh -c true\""),
    ));
    std::fs::write(&case.config, config).expect("write config");

    let run = |args: &[&str]| {
        gantry_command(case.dir.path(), &case.config, args)
            .env("WRONG_PW", WRONG_PASSWORD)
            .env("GOOD_PW", PASSWORD)
            .env("READER_PW", READER_PASSWORD)
            .env_remove("NOT_SET_ANYWHERE")
            .output()
            .expect("run gantry")
    };
    let out = run(&["doctor", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    let level = |scope: &str, check: &str| find(&report, scope, check)["level"].clone();
    let message = |scope: &str, check: &str| {
        find(&report, scope, check)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let fix = |scope: &str, check: &str| {
        find(&report, scope, check)["fix"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // The shared open registries pass, push rights included where gantry promotes.
    assert_eq!(level("dev", "registry"), "ok");
    assert_eq!(level("stage", "push"), "ok", "{}", message("stage", "push"));
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| !(c["scope"] == "dev" && c["check"] == "push")),
        "nothing is promoted into dev"
    );

    // Wrong password: found in the configuration, refused by the registry.
    assert_eq!(level("wrongpw", "credentials"), "ok");
    assert!(message("wrongpw", "credentials").contains("password from $WRONG_PW"));
    assert_eq!(level("wrongpw", "access"), "error");
    assert!(
        message("wrongpw", "access").contains("401: credentials refused"),
        "{}",
        message("wrongpw", "access")
    );
    assert!(fix("wrongpw", "access").contains("$WRONG_PW"));
    // The right one: accepted, and push rights checked.
    assert_eq!(
        level("goodpw", "access"),
        "ok",
        "{}",
        message("goodpw", "access")
    );
    assert_eq!(
        level("goodpw", "push"),
        "ok",
        "{}",
        message("goodpw", "push")
    );
    assert_eq!(level("unset", "credentials"), "error");
    assert!(fix("unset", "credentials").contains("export NOT_SET_ANYWHERE"));

    assert_eq!(level("down", "registry"), "error");
    assert!(message("down", "registry").contains("connection refused"));

    // A pull-only token: reads pass, the upload is refused, and no tag was written anywhere.
    assert_eq!(
        level("readonly", "access"),
        "ok",
        "{}",
        message("readonly", "access")
    );
    assert_eq!(
        level("readonly", "push"),
        "error",
        "{}",
        message("readonly", "push")
    );
    assert!(message("readonly", "push").contains("no push rights"));
    assert!(message("readonly", "push").contains("`reader`"));
    assert_eq!(
        level("writer", "push"),
        "ok",
        "{}",
        message("writer", "push")
    );
    let tags = skopeo_list_tags(
        &format!("{}/{}", w.token.addr(), case.service),
        Some((USER, PASSWORD)),
    )
    .unwrap_or_default();
    assert!(tags.is_empty(), "doctor wrote {tags:?}");

    assert_eq!(level("untrusted", "tls"), "error");
    assert!(
        message("untrusted", "tls").contains("unknown CA"),
        "{}",
        message("untrusted", "tls")
    );
    assert!(fix("untrusted", "tls").contains("ca_file"));

    assert_eq!(level("hooked", "hook"), "error");
    assert!(message("hooked", "hook").contains("gantry-no-such-kubectl"));
    assert_eq!(level("hooked", "status"), "ok");

    // The text form: one line per check, the fix after the arrow; no secret anywhere.
    let text = run(&["doctor"]);
    assert_eq!(code(&text), 1);
    let lines = stdout(&text);
    assert!(
        lines.lines().any(|l| l.starts_with("error")
            && l.contains("wrongpw")
            && l.contains("-> check the password")),
        "{lines}"
    );
    assert_eq!(
        lines.lines().count(),
        report["checks"].as_array().map_or(0, |c| c.len()) + 1,
        "{lines}"
    );
    for secret in [PASSWORD, READER_PASSWORD, WRONG_PASSWORD] {
        for output in [&out, &text] {
            assert!(!stdout(output).contains(secret) && !stderr(output).contains(secret));
        }
    }
}

#[test]
fn a_clean_set_up_passes_every_check() {
    let case = Case::new("doctor-clean");
    let repo = TestRepo::init(&case.dir.path().join("app"));
    repo.git(&["config", "user.email", "ana@example.com"]);
    repo.commit("Initial commit");
    repo.checkout_new("develop", "main");
    let head = "[git]\npath = \"app\"\n[ledger]\nremote = \"\"\n";
    std::fs::write(&case.config, pipeline_config(&case, head, ["", "", ""])).expect("write");
    let out = gantry_command(case.dir.path(), &case.config, &["doctor"])
        .output()
        .expect("run gantry");
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(
        text.lines()
            .all(|l| l.starts_with("ok") || l == "all checks passed"),
        "{text}"
    );
    assert!(text.contains("ana@example.com"), "{text}");
    assert!(
        text.contains("refs/gantry/ledger: 0 record(s), the chain verifies"),
        "{text}"
    );
    assert!(text.contains("develop at"), "{text}");
}
