//! Credentials and transport through the real binary: basic auth (configured password,
//! Docker config, credential helpers), bearer tokens from a token service, identity tokens,
//! https with a private CA, and a sweep proving no secret ever shows up in what gantry writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine as _;
use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::{
    skopeo_digest, LocalRegistry, RegistryOptions, SeedFormat, TestCa, TokenIssuer, TokenUsers,
};

const USER: &str = "ci";
// Distinctive, so that finding one anywhere in gantry's output means it leaked.
const BASIC_PASSWORD: &str = "bAsIc-pw-4b1d9e0a";
const TOKEN_PASSWORD: &str = "t0kEn-pw-77a0c2f1";
const IDENTITY_TOKEN: &str = "iDent1ty-rt-9c51f0b3";
const WRONG_PASSWORD: &str = "wR0ng-pw-e3d2c1b0";
const SECRETS: [&str; 4] = [
    BASIC_PASSWORD,
    TOKEN_PASSWORD,
    IDENTITY_TOKEN,
    WRONG_PASSWORD,
];

/// Registries that want credentials, shared by the tests of this binary.
struct World {
    /// htpasswd basic auth, plain HTTP.
    basic: LocalRegistry,
    issuer: TokenIssuer,
    /// Token auth against `issuer`, plain HTTP.
    token: LocalRegistry,
    ca: TestCa,
    /// https with a certificate from `ca`, basic auth.
    tls: LocalRegistry,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let root = common::process_root("gantry-creds");
        let basic = LocalRegistry::start_with_basic_auth(&root.join("basic"), USER, BASIC_PASSWORD)
            .expect("basic-auth registry");
        let mut users = TokenUsers::default();
        users
            .passwords
            .insert(USER.to_string(), TOKEN_PASSWORD.to_string());
        users
            .refresh_tokens
            .insert(IDENTITY_TOKEN.to_string(), USER.to_string());
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
                basic: Some((USER.to_string(), BASIC_PASSWORD.to_string())),
                tls: Some(ca.server_cert("tls-registry").expect("server cert")),
                token: None,
                ..RegistryOptions::default()
            },
        )
        .expect("https registry");
        World {
            basic,
            issuer,
            token,
            ca,
            tls,
        }
    })
}

/// A case whose gantry runs with its own HOME, state and temp dirs (so everything it writes
/// can be searched) and inputs (secret files, Docker config, helpers) kept apart.
struct AuthCase {
    case: Case,
    home: PathBuf,
    inputs: PathBuf,
}

impl AuthCase {
    fn new(name: &str) -> AuthCase {
        let case = Case::new(name);
        let home = case.dir.path().join("home");
        let inputs = case.dir.path().join("inputs");
        for dir in [&home, &inputs, &home.join("tmp")] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        AuthCase { case, home, inputs }
    }

    /// Appends an environment promoted from dev; `extra` is more TOML for it.
    fn add_env(&self, name: &str, registry: &str, extra: &str) {
        let mut text = std::fs::read_to_string(&self.case.config).expect("read config");
        text.push_str(&format!(
            "\n[[environment]]\nname = \"{name}\"\nregistry = \"{registry}\"\nfrom = \"dev\"\nmutable_tag = \"{name}\"\n{extra}\n"
        ));
        std::fs::write(&self.case.config, text).expect("write config");
    }

    /// Writes `inputs/docker/config.json`; returns the directory for DOCKER_CONFIG.
    fn docker_config(&self, value: serde_json::Value) -> PathBuf {
        let dir = self.inputs.join("docker");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("config.json"), value.to_string()).expect("write docker config");
        dir
    }

    /// Runs gantry with only the variables given (plus PATH, with `inputs/bin` first).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut all = vec!["--config", self.case.config.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        let path = format!(
            "{}:{}",
            self.inputs.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
        command
            .args(&all)
            .current_dir(&self.home)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env("TMPDIR", self.home.join("tmp"));
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run gantry")
    }

    fn promote(&self, to: &str, commit: &str, env: &[(&str, &str)]) -> Output {
        let image = format!("{}:sha-{commit}", self.case.service);
        self.run(&["promote", &image, "--to", to], env)
    }

    /// Writes an executable `inputs/bin/docker-credential-<name>` that logs each call to
    /// `inputs/<name>.log` and knows one host's credentials.
    fn helper(&self, name: &str, host: &str, user: &str, secret: &str) -> PathBuf {
        let bin = self.inputs.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let log = self.inputs.join(format!("{name}.log"));
        let script = format!(
            r#"#!/bin/sh
server=$(cat)
echo "$1 $server" >> '{log}'
if [ "$1" = get ] && [ "$server" = '{host}' ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server"
  exit 0
fi
echo "credentials not found in native keychain"
exit 1
"#,
            log = log.display()
        );
        let path = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).expect("write helper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        log
    }
}

fn digest_with_creds(registry: &LocalRegistry, service: &str, tag: &str, password: &str) -> String {
    skopeo_digest(
        &format!("{}/{service}:{tag}", registry.addr()),
        Some((USER, password)),
    )
    .expect("skopeo inspect with credentials")
}

fn basic_env(password_key: &str) -> String {
    format!("plain_http = true\nusername = \"{USER}\"\n{password_key}\n")
}

#[test]
fn basic_auth_with_password_env() {
    let w = world();
    let t = AuthCase::new("basic-env");
    let digest = t.case.seed("1a1a1a1", 101, &[], SeedFormat::Oci);
    t.add_env(
        "secure",
        w.basic.addr(),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    let out = t.promote("secure", "1a1a1a1", &[("GANTRY_TEST_PW", BASIC_PASSWORD)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "sha-1a1a1a1", BASIC_PASSWORD),
        digest
    );
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "secure", BASIC_PASSWORD),
        digest
    );

    // The variable named but not set: exit 2, naming it.
    let out = t.promote("secure", "1a1a1a1", &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("password_env `GANTRY_TEST_PW` is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn basic_auth_with_password_file_relative_to_the_config() {
    let w = world();
    let t = AuthCase::new("basic-file");
    let digest = t.case.seed("2b2b2b2", 102, &[], SeedFormat::Oci);
    // Relative to the config file's directory, not to gantry's working directory (home/).
    std::fs::create_dir_all(t.case.dir.path().join("secrets")).expect("mkdir");
    std::fs::write(
        t.case.dir.path().join("secrets/basic"),
        format!("{BASIC_PASSWORD}\n"),
    )
    .expect("write secret");
    t.add_env(
        "secure",
        w.basic.addr(),
        &basic_env("password_file = \"secrets/basic\""),
    );
    let out = t.promote("secure", "2b2b2b2", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "sha-2b2b2b2", BASIC_PASSWORD),
        digest
    );

    // An unreadable file is named, with exit 2.
    std::fs::remove_file(t.case.dir.path().join("secrets/basic")).expect("rm");
    let out = t.promote("secure", "2b2b2b2", &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("password_file") && stderr(&out).contains("secrets/basic"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_config_auths_entry() {
    let w = world();
    let t = AuthCase::new("docker-auths");
    let digest = t.case.seed("3c3c3c3", 103, &[], SeedFormat::Oci);
    t.add_env("secure", w.basic.addr(), "plain_http = true");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{BASIC_PASSWORD}"));
    // Keyed the way `docker login http://host:port` writes it: scheme and all.
    let docker = t.docker_config(serde_json::json!({
        "auths": { format!("http://{}/v1/", w.basic.addr()): { "auth": auth } }
    }));
    let docker = docker.to_str().expect("utf-8");
    let out = t.promote("secure", "3c3c3c3", &[("DOCKER_CONFIG", docker)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "sha-3c3c3c3", BASIC_PASSWORD),
        digest
    );

    // Without it the registry refuses, and gantry says what to do.
    let out = t.promote("secure", "3c3c3c3", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not authorized") && stderr(&out).contains("none are configured"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_config_that_is_not_json_is_named() {
    let w = world();
    let t = AuthCase::new("docker-broken");
    t.case.seed("4d4d4d4", 104, &[], SeedFormat::Oci);
    t.add_env("secure", w.basic.addr(), "plain_http = true");
    let dir = t.inputs.join("docker");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("config.json"),
        format!("{{\"auths\": {{\"x\": {{\"auth\": \"{BASIC_PASSWORD}\"}}"),
    )
    .expect("write");
    let out = t.promote(
        "secure",
        "4d4d4d4",
        &[("DOCKER_CONFIG", dir.to_str().expect("utf-8"))],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("docker/config.json") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(!err.contains(BASIC_PASSWORD), "{err}");
}

#[test]
fn credential_helper_runs_only_for_the_registry_that_asks() {
    let w = world();
    let t = AuthCase::new("cred-helper");
    let digest = t.case.seed("5e5e5e5", 105, &[], SeedFormat::Oci);
    t.add_env("secure", w.basic.addr(), "plain_http = true");
    t.add_env("tokened", w.token.addr(), "plain_http = true");
    let log = t.helper("test", w.basic.addr(), USER, BASIC_PASSWORD);
    let docker = t.docker_config(serde_json::json!({
        "credHelpers": {
            w.basic.addr(): "test",
            w.token.addr(): "test",
            registries().dev.addr(): "test",
        }
    }));
    let out = t.promote(
        "secure",
        "5e5e5e5",
        &[("DOCKER_CONFIG", docker.to_str().expect("utf-8"))],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "sha-5e5e5e5", BASIC_PASSWORD),
        digest
    );
    // Once, for the target: dev never challenged, the token registry was never touched.
    let calls = std::fs::read_to_string(&log).expect("helper log");
    assert_eq!(calls, format!("get {}\n", w.basic.addr()));
}

#[test]
fn creds_store_and_its_not_found_answer() {
    let w = world();
    let t = AuthCase::new("creds-store");
    let digest = t.case.seed("6f6f6f6", 106, &[], SeedFormat::Oci);
    t.add_env("secure", w.basic.addr(), "plain_http = true");
    t.add_env("tokened", w.token.addr(), "plain_http = true");
    t.helper("teststore", w.basic.addr(), USER, BASIC_PASSWORD);
    let docker = t.docker_config(serde_json::json!({
        "credsStore": "teststore",
        // Docker keeps the host here too; the store's answer is the one that counts.
        "auths": { w.basic.addr(): {} }
    }));
    let docker = docker.to_str().expect("utf-8");
    let out = t.promote("secure", "6f6f6f6", &[("DOCKER_CONFIG", docker)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.basic, &t.case.service, "sha-6f6f6f6", BASIC_PASSWORD),
        digest
    );

    // The store knows nothing about the token registry: anonymous, then refused.
    let out = t.promote("tokened", "6f6f6f6", &[("DOCKER_CONFIG", docker)]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not authorized"), "{}", stderr(&out));
}

#[test]
fn wrong_password_is_refused_without_echoing_it() {
    let w = world();
    let t = AuthCase::new("wrong-password");
    t.case.seed("7a7a7a7", 107, &[], SeedFormat::Oci);
    t.add_env(
        "secure",
        w.basic.addr(),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    t.add_env(
        "tokened",
        w.token.addr(),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    for target in ["secure", "tokened"] {
        let out = t.promote(target, "7a7a7a7", &[("GANTRY_TEST_PW", WRONG_PASSWORD)]);
        assert_eq!(code(&out), 1, "{target}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("not authorized"), "{target}: {all}");
        assert!(!all.contains(WRONG_PASSWORD), "{target}: {all}");
    }
}

#[test]
fn bearer_token_registry_end_to_end() {
    let w = world();
    let t = AuthCase::new("bearer");
    let digest = t.case.seed("8b8b8b8", 108, &["latest"], SeedFormat::Oci);
    t.add_env(
        "tokened",
        w.token.addr(),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    let issued_before = w.issuer.issued();
    let image = format!("{}:sha-8b8b8b8", t.case.service);
    let out = t.run(
        &["promote", &image, "--to", "tokened", "--json"],
        &[("GANTRY_TEST_PW", TOKEN_PASSWORD)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)[0]["outcome"]["plan"]["digest"], digest.as_str());
    assert!(w.issuer.issued() > issued_before, "no token was issued");
    // skopeo fetches its own token from the same service.
    assert_eq!(
        digest_with_creds(&w.token, &t.case.service, "sha-8b8b8b8", TOKEN_PASSWORD),
        digest
    );
    assert_eq!(
        digest_with_creds(&w.token, &t.case.service, "tokened", TOKEN_PASSWORD),
        digest
    );

    // Promoting again reads the target through tokens too, and finds nothing to do.
    let out = t.run(
        &["promote", &image, "--to", "tokened", "--json"],
        &[("GANTRY_TEST_PW", TOKEN_PASSWORD)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)[0]["outcome"]["plan"]["manifests"][0]["action"],
        "present"
    );
}

#[test]
fn identity_token_is_traded_at_the_token_service() {
    let w = world();
    let t = AuthCase::new("identity-token");
    let digest = t.case.seed("9c9c9c9", 109, &[], SeedFormat::Oci);
    t.add_env("tokened", w.token.addr(), "plain_http = true");
    t.add_env("secure", w.basic.addr(), "plain_http = true");
    let docker = t.docker_config(serde_json::json!({
        "auths": {
            w.token.addr(): { "auth": "", "identitytoken": IDENTITY_TOKEN },
            w.basic.addr(): { "identitytoken": IDENTITY_TOKEN },
        }
    }));
    let docker = docker.to_str().expect("utf-8");
    let out = t.promote("tokened", "9c9c9c9", &[("DOCKER_CONFIG", docker)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.token, &t.case.service, "sha-9c9c9c9", TOKEN_PASSWORD),
        digest
    );

    // A credential helper says "identity token" with the user name `<token>`.
    t.helper("idhelper", w.token.addr(), "<token>", IDENTITY_TOKEN);
    let helper_config = t.inputs.join("docker-helper");
    std::fs::create_dir_all(&helper_config).expect("mkdir");
    std::fs::write(
        helper_config.join("config.json"),
        serde_json::json!({ "credHelpers": { w.token.addr(): "idhelper" } }).to_string(),
    )
    .expect("write");
    let out = t.run(
        &["images", &t.case.service, "--env", "tokened", "--json"],
        &[("DOCKER_CONFIG", helper_config.to_str().expect("utf-8"))],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("sha-9c9c9c9"), "{}", stdout(&out));

    // A basic-auth registry has nowhere to trade it: said plainly.
    let out = t.promote("secure", "9c9c9c9", &[("DOCKER_CONFIG", docker)]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("identity token") && err.contains("unsupported"),
        "{err}"
    );
    assert!(!err.contains(IDENTITY_TOKEN), "{err}");
}

fn tls_env(ca_file: Option<&Path>) -> String {
    let mut extra = format!("username = \"{USER}\"\npassword_env = \"GANTRY_TEST_PW\"\n");
    if let Some(ca) = ca_file {
        extra.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    extra
}

#[test]
fn https_registry_with_a_private_ca() {
    let w = world();
    let t = AuthCase::new("tls-ca");
    let digest = t.case.seed("0d0d0d0", 110, &[], SeedFormat::Oci);
    t.add_env("trusted", w.tls.addr(), &tls_env(Some(&w.ca.cert_path())));
    t.add_env("untrusted", w.tls.addr(), &tls_env(None));
    let pw = [("GANTRY_TEST_PW", BASIC_PASSWORD)];

    let out = t.promote("trusted", "0d0d0d0", &pw);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        digest_with_creds(&w.tls, &t.case.service, "sha-0d0d0d0", BASIC_PASSWORD),
        digest
    );

    let out = t.run(&["images", &t.case.service, "--env", "untrusted"], &pw);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    // One line for the registry, in plain words; the full error with --verbose.
    assert!(
        err.contains("TLS: unknown CA") && err.contains("ca_file"),
        "{err}"
    );
    let out = t.run(
        &["images", &t.case.service, "--env", "untrusted", "--verbose"],
        &pw,
    );
    assert!(
        stderr(&out).contains("TLS certificate not trusted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn https_is_the_default() {
    let t = AuthCase::new("https-default");
    t.case.seed("1e1e1e1", 111, &[], SeedFormat::Oci);
    // A plain-HTTP registry, without plain_http: gantry speaks TLS to it and says why it fails.
    t.add_env("notls", registries().stage.addr(), "");
    let out = t.promote("notls", "1e1e1e1", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("plain_http = true"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ca_file_that_is_not_a_certificate_is_named() {
    let w = world();
    let t = AuthCase::new("bad-ca");
    t.case.seed("2f2f2f2", 112, &[], SeedFormat::Oci);
    let bogus = t.inputs.join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").expect("write");
    t.add_env("trusted", w.tls.addr(), &tls_env(Some(&bogus)));
    let out = t.promote("trusted", "2f2f2f2", &[("GANTRY_TEST_PW", BASIC_PASSWORD)]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bogus.pem") && stderr(&out).contains("no PEM certificate"),
        "{}",
        stderr(&out)
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_secret_appears_in_anything_gantry_writes() {
    let w = world();
    let regs = registries();
    let t = AuthCase::new("leak-sweep");
    t.case.seed("3a3a3a3", 113, &[], SeedFormat::Oci);
    t.add_env(
        "secure",
        w.basic.addr(),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    t.add_env(
        "tokened",
        w.token.addr(),
        &basic_env("password_env = \"GANTRY_TEST_TOKEN_PW\""),
    );
    t.add_env("trusted", w.tls.addr(), &tls_env(Some(&w.ca.cert_path())));
    t.add_env("untrusted", w.tls.addr(), &tls_env(None));
    t.add_env(
        "gone",
        &format!("127.0.0.1:{}", regs.closed_port),
        &basic_env("password_env = \"GANTRY_TEST_PW\""),
    );
    // Docker config for the environments without their own settings.
    let docker = t.docker_config(serde_json::json!({
        "auths": { regs.stage.addr(): { "identitytoken": IDENTITY_TOKEN } }
    }));
    let docker = docker.to_str().expect("utf-8");
    let good = [
        ("GANTRY_TEST_PW", BASIC_PASSWORD),
        ("GANTRY_TEST_TOKEN_PW", TOKEN_PASSWORD),
        ("DOCKER_CONFIG", docker),
    ];
    let bad = [
        ("GANTRY_TEST_PW", WRONG_PASSWORD),
        ("GANTRY_TEST_TOKEN_PW", WRONG_PASSWORD),
        ("DOCKER_CONFIG", docker),
    ];
    let image = format!("{}:sha-3a3a3a3", t.case.service);
    let unknown = format!("{}:sha-0000000", t.case.service);
    type Run<'a> = (&'a str, Vec<&'a str>, &'a [(&'a str, &'a str)]);
    let runs: Vec<Run> = vec![
        ("success", vec!["promote", &image, "--to", "secure"], &good),
        (
            "json",
            vec!["promote", &image, "--to", "tokened", "--json"],
            &good,
        ),
        (
            "dry-run",
            vec!["promote", &image, "--to", "trusted", "--dry-run"],
            &good,
        ),
        (
            "unknown tag",
            vec!["promote", &unknown, "--to", "secure"],
            &good,
        ),
        (
            "wrong password",
            vec!["promote", &image, "--to", "secure"],
            &bad,
        ),
        (
            "wrong token password",
            vec!["promote", &image, "--to", "tokened", "--json"],
            &bad,
        ),
        (
            "untrusted",
            vec!["promote", &image, "--to", "untrusted"],
            &good,
        ),
        (
            "unreachable",
            vec!["promote", &image, "--to", "gone"],
            &good,
        ),
        ("status", vec!["status", "--json"], &good),
        ("status, wrong", vec!["status"], &bad),
        ("images", vec!["images", &t.case.service, "--json"], &good),
    ];
    let mut outcomes = Vec::new();
    let mut written = String::new();
    for (label, args, env) in &runs {
        let out = t.run(args, env);
        outcomes.push((label, code(&out)));
        written.push_str(&format!(
            "--- {label}\n{}\n{}\n",
            stdout(&out),
            stderr(&out)
        ));
    }
    // The sweep only means something if the runs went where they were meant to.
    let codes: Vec<i32> = outcomes.iter().map(|(_, c)| *c).collect();
    assert_eq!(
        codes[..8],
        [0, 0, 0, 2, 1, 1, 1, 1],
        "{outcomes:?}\n{written}"
    );

    for file in files_under(&t.home) {
        let bytes = std::fs::read(&file).expect("read what gantry wrote");
        written.push_str(&format!(
            "--- file {}\n{}\n",
            file.display(),
            String::from_utf8_lossy(&bytes)
        ));
    }
    // Shown with --nocapture: what a person would read in each case.
    println!("{written}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in SECRETS {
        for form in [
            secret.to_string(),
            b64(&format!("{USER}:{secret}")),
            b64(secret),
        ] {
            assert!(
                !written.contains(&form),
                "secret {secret:?} (as {form:?}) leaked:\n{written}"
            );
        }
    }
}

#[test]
fn bearer_token_registry_shared_layout_mount() {
    let w = world();
    let t = AuthCase::new("bearer-mount");
    let digest = t.case.seed("4b4b4b4", 114, &[], SeedFormat::Oci);
    let creds = basic_env("password_env = \"GANTRY_TEST_PW\"");
    t.add_env("tok-a", w.token.addr(), &format!("path = \"a\"\n{creds}"));
    t.add_env("tok-b", w.token.addr(), &format!("path = \"b\"\n{creds}"));
    let pw = [("GANTRY_TEST_PW", TOKEN_PASSWORD)];
    let out = t.promote("tok-a", "4b4b4b4", &pw);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let image = format!("{}:sha-4b4b4b4", t.case.service);
    let out = t.run(
        &[
            "promote", &image, "--from", "tok-a", "--to", "tok-b", "--json",
        ],
        &pw,
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // Same registry: every blob is mounted, which needs a token that also grants pull on
    // the source repository (else Distribution answers the mount with 401).
    let blobs = json(&out)[0]["outcome"]["plan"]["blobs"].clone();
    let actions: Vec<&str> = blobs
        .as_array()
        .expect("blobs")
        .iter()
        .map(|b| b["action"].as_str().unwrap_or_default())
        .collect();
    assert!(
        !actions.is_empty() && actions.iter().all(|a| *a == "mount"),
        "{actions:?}"
    );
    assert_eq!(
        skopeo_digest(
            &format!("{}/b/{}:sha-4b4b4b4", w.token.addr(), t.case.service),
            Some((USER, TOKEN_PASSWORD)),
        )
        .expect("skopeo"),
        digest
    );
}
