//! Shell completions and the man page through the real binary: bash runs the script
//! `gantry completions bash` writes and completes services, environments and commit tags
//! from a configuration and its repository; fish and zsh ask the same binary; the man
//! page renders and lists the commands.

mod common;

use std::path::Path;
use std::process::Command;

use common::git::TestRepo;
use common::{code, stdout};

const CONFIG: &str = r#"
[git]
path = "app"

[[environment]]
name = "dev"
registry = "127.0.0.1:1"
plain_http = true

[[environment]]
name = "stage"
registry = "127.0.0.1:1"
from = "dev"
plain_http = true

[[environment]]
name = "staging-eu"
registry = "127.0.0.1:1"
from = "stage"
plain_http = true

[[service]]
name = "payment-svc"

[[service]]
name = "ledger-svc"
"#;

fn gantry(dir: &Path, args: &[&str]) -> Command {
    let mut command = common::command_in(dir, args);
    common::git::sandbox(&mut command, dir);
    command
}

/// What bash offers for `words` (the last one being completed), with the script sourced
/// and gantry on PATH, run in `dir` (where `gantry.toml` is found).
fn bash_complete(dir: &Path, script: &Path, words: &[&str]) -> Vec<String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_gantry"))
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_clap_complete_gantry gantry '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = gantry(dir, &[])
        .env(
            "PATH",
            format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env_clear_program("bash")
        .arg("-c")
        .arg(program)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

trait ProgramSwap {
    fn env_clear_program(&mut self, program: &str) -> Command;
}

impl ProgramSwap for Command {
    /// The same environment and directory, another program.
    fn env_clear_program(&mut self, program: &str) -> Command {
        let mut other = Command::new(program);
        for (key, value) in self.get_envs() {
            match value {
                Some(value) => other.env(key, value),
                None => other.env_remove(key),
            };
        }
        if let Some(dir) = self.get_current_dir() {
            other.current_dir(dir);
        }
        other
    }
}

#[test]
fn bash_completes_names_and_tags_from_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gantry.toml"), CONFIG).expect("write config");
    let repo = TestRepo::init(&dir.path().join("app"));
    repo.commit("Initial commit");
    repo.checkout_new("develop", "main");
    let newest = repo.commit("Add retries");

    let out = gantry(dir.path(), &["completions", "bash"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 0);
    let script = dir.path().join("gantry.bash");
    std::fs::write(&script, stdout(&out)).expect("write script");

    // An empty word also offers the options: the values come first.
    let offered = bash_complete(dir.path(), &script, &["gantry", "images", ""]);
    assert_eq!(offered[..2], ["payment-svc", "ledger-svc"], "{offered:?}");
    assert!(
        offered[2..].iter().all(|w| w.starts_with("--")),
        "{offered:?}"
    );
    assert_eq!(
        bash_complete(dir.path(), &script, &["gantry", "images", "pay"]),
        ["payment-svc"]
    );
    assert_eq!(
        bash_complete(
            dir.path(),
            &script,
            &["gantry", "promote", "x", "--to", "sta"]
        ),
        ["stage", "staging-eu"]
    );
    assert_eq!(
        bash_complete(
            dir.path(),
            &script,
            &["gantry", "diff", "payment-svc", "--from", "d"]
        ),
        ["dev"]
    );
    // Images: the service first, then its commit tags from develop, newest first.
    assert_eq!(
        bash_complete(dir.path(), &script, &["gantry", "promote", "led"]),
        ["ledger-svc:"]
    );
    let tags = bash_complete(dir.path(), &script, &["gantry", "promote", "ledger-svc:"]);
    assert_eq!(
        tags.first(),
        Some(&format!("ledger-svc:sha-{}", &newest[..7])),
        "{tags:?}"
    );
    assert_eq!(tags.len(), 2, "{tags:?}");
    // Subcommands come from clap itself.
    assert!(bash_complete(dir.path(), &script, &["gantry", "doc"]).contains(&"doctor".to_string()));

    // Another configuration named on the command line is the one completed from.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, CONFIG.replace("ledger-svc", "billing-svc")).expect("write");
    assert_eq!(
        bash_complete(
            dir.path(),
            &script,
            &[
                "gantry",
                "--config",
                other.to_str().expect("utf-8"),
                "images",
                "b"
            ]
        ),
        ["billing-svc"]
    );
}

#[test]
fn fish_and_zsh_scripts_ask_the_same_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gantry.toml"), CONFIG).expect("write config");
    for (shell, marker) in [
        ("fish", "complete --keep-order"),
        ("zsh", "#compdef gantry"),
    ] {
        let out = gantry(dir.path(), &["completions", shell])
            .output()
            .expect("run");
        assert_eq!(code(&out), 0);
        assert!(stdout(&out).contains(marker), "{shell}: {}", stdout(&out));
        // What the script runs when the user presses tab.
        let asked = gantry(dir.path(), &["--", "gantry", "rollback", "l"])
            .env("COMPLETE", shell)
            // zsh's script passes the position of the word being completed.
            .env("_CLAP_COMPLETE_INDEX", "2")
            .output()
            .expect("run");
        assert_eq!(code(&asked), 0, "{}", common::stderr(&asked));
        assert!(
            stdout(&asked).contains("ledger-svc"),
            "{shell}: {}",
            stdout(&asked)
        );
        assert!(
            !stdout(&asked).contains("payment-svc"),
            "{shell}: {}",
            stdout(&asked)
        );
    }
}

#[test]
fn the_man_page_renders_and_lists_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gantry(dir.path(), &["man"]).output().expect("run");
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") && page.contains(".TH gantry 1"),
        "{page}"
    );
    for command in [
        "promote",
        "status",
        "doctor",
        "completions",
        "gc",
        "audit",
        "verbose",
    ] {
        assert!(
            page.contains(command),
            "{command} missing from the man page"
        );
    }
    let file = dir.path().join("gantry.1");
    std::fs::write(&file, &page).expect("write");
    let Ok(rendered) = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    else {
        return; // no man(1) here: the roff was checked above
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("NAME") && text.contains("gantry - Promote"),
        "{text}"
    );
    assert!(text.contains("doctor"), "{text}");
}
