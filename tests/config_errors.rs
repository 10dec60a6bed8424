//! Malformed configurations are refused by the binary with file:line:col and the offending value.

mod common;

use common::{code, gantry_in, stderr};

/// (file, expected location, words the message must contain)
const CASES: &[(&str, &str, &[&str])] = &[
    ("unknown-key.toml", "4:1", &["plain_htp"]),
    (
        "duplicate-environment.toml",
        "6:8",
        &["duplicate environment `dev`"],
    ),
    ("dangling-from.toml", "8:8", &["`qa`", "dev, stage"]),
    ("cycle.toml", ":8", &["cycle"]),
    (
        "bad-registry.toml",
        "3:12",
        &["https://localhost:5001", "scheme"],
    ),
    ("syntax-error.toml", "2:", &[]),
    ("wrong-type.toml", "4:14", &["bool"]),
    (
        "both-passwords.toml",
        "6:17",
        &["both password_env and password_file"],
    ),
    (
        "plain-http-with-ca.toml",
        "5:14",
        &["plain_http = true and ca_file"],
    ),
    (
        "duplicate-service.toml",
        "9:8",
        &["duplicate service `payment-svc`"],
    ),
];

#[test]
fn invalid_configs_are_located_and_explained() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs");
    for (file, location, words) in CASES {
        let path = dir.join(file);
        // Run from a scratch directory: gantry's state must not land in the source tree.
        let scratch = tempfile::tempdir().expect("tempdir");
        let out = gantry_in(
            scratch.path(),
            &["--config", path.to_str().expect("utf-8"), "status"],
        );
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{file}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!("{file}:")) && first.contains(location),
            "{file}: expected {file}:{location} in {first:?}"
        );
        for word in *words {
            assert!(err.contains(word), "{file}: expected {word:?} in {err:?}");
        }
    }
}

#[test]
fn config_is_found_through_env_then_cwd_then_xdg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let valid = "[[environment]]\nname = \"dev\"\nregistry = \"127.0.0.1:1\"\nplain_http = true\n";
    let broken = "[[environment]]\nname = \"dev\"\nbogus = 1\n";

    // Nothing anywhere: the error lists where it looked.
    let out = gantry_in(dir.path(), &["status"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no configuration found"),
        "{}",
        stderr(&out)
    );

    // XDG is used when nothing closer exists (a broken one proves which file was read).
    let xdg = dir.path().join("no-xdg").join("gantry");
    std::fs::create_dir_all(&xdg).expect("mkdir");
    std::fs::write(xdg.join("config.toml"), broken).expect("write");
    let out = gantry_in(dir.path(), &["status"]);
    assert!(stderr(&out).contains("config.toml:3:1"), "{}", stderr(&out));

    // ./gantry.toml wins over XDG.
    std::fs::write(dir.path().join("gantry.toml"), valid).expect("write");
    let out = gantry_in(dir.path(), &["status"]);
    assert!(
        !stderr(&out).contains("config.toml:3:1"),
        "{}",
        stderr(&out)
    );

    // $GANTRY_CONFIG wins over ./gantry.toml, and --config over everything.
    let env_file = dir.path().join("env.toml");
    std::fs::write(&env_file, broken).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("status")
        .current_dir(dir.path())
        .env("GANTRY_CONFIG", &env_file)
        .env("XDG_CONFIG_HOME", dir.path().join("no-xdg"))
        .output()
        .expect("run");
    assert!(stderr(&out).contains("env.toml:3:1"), "{}", stderr(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["--config", "gantry.toml", "status"])
        .current_dir(dir.path())
        .env("GANTRY_CONFIG", &env_file)
        .output()
        .expect("run");
    assert!(!stderr(&out).contains("env.toml"), "{}", stderr(&out));
}
