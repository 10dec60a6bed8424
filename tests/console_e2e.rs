//! The real console in tmux against real registries: open, navigate, promote, watch it
//! finish, check the target with skopeo, quit, and find the terminal restored.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{registries, Case};
use gantry::sandbox::{ImageSpec, SeedFormat};

struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    fn start(cwd: &Path, command: &str) -> Tmux {
        // One tmux server per test: tests of this binary run in parallel.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tmux = Tmux {
            socket: format!(
                "gantry-e2e-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            session: "console",
        };
        let status = Command::new("tmux")
            .args([
                "-L",
                &tmux.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "32",
                "-s",
                tmux.session,
                "-c",
            ])
            .arg(cwd)
            .arg(command)
            .status()
            .expect("tmux is installed (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", self.session])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `text` shows; the bound only stops a broken run, the
    /// test itself waits on what the program draws.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` never showed; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn promote_from_the_console_and_quit_cleanly() {
    let case = Case::new("console-e2e");
    let regs = registries();
    let digest = case.seed("e2e1234", 0x77, &["latest"], SeedFormat::Oci);
    let tmux = Tmux::start(case.dir.path(), &console_command(&case));

    tmux.wait_for("what runs where");
    // The matrix loads in the background, then shows the service's row.
    let screen = tmux.wait_for("sha-e2e1234");
    assert!(screen.contains(&case.service), "{screen}");
    // Images of the service in dev, the one we seeded among them.
    tmux.keys(&["3"]);
    let screen = tmux.wait_for("PLATFORMS");
    assert!(
        screen.contains("sha-e2e1234") && screen.contains("latest"),
        "{screen}"
    );
    tmux.keys(&["p"]);
    let screen = tmux.wait_for("y/enter promote");
    assert!(
        screen.contains("dev → stage") && screen.contains("create"),
        "{screen}"
    );
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("promoted ");
    assert!(screen.contains("done"), "{screen}");
    assert_eq!(case.digest_at(&regs.stage, "sha-e2e1234"), digest);
    assert_eq!(case.digest_at(&regs.stage, "stage"), digest);

    // The matrix reloads and shows the new state.
    tmux.keys(&["4"]);
    tmux.wait_for("what runs where");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("CONSOLE-EXITED 0");
    // The alternate screen is gone: the console's frame no longer shows.
    assert!(
        !screen.contains("1 Commits"),
        "terminal not restored:\n{screen}"
    );
}

/// The command tmux runs: the console on `case`'s config, then its exit code.
fn console_command(case: &Case) -> String {
    let dir = case.dir.path();
    format!(
        "env -u GANTRY_CONFIG XDG_STATE_HOME={state} XDG_CONFIG_HOME={xdg} TERM=xterm-256color {binary} --config {config}; echo CONSOLE-EXITED $?; sleep 60",
        state = dir.join("state").display(),
        xdg = dir.join("no-xdg").display(),
        binary = env!("CARGO_BIN_EXE_gantry"),
        config = case.config.display(),
    )
}

#[test]
fn clean_up_from_the_console_deletes_what_the_plan_showed() {
    let case = Case::new("console-gc");
    let regs = registries();
    // dev keeps one image beyond what is protected; stage is read to learn what it runs.
    std::fs::write(
        &case.config,
        format!(
            r#"
[[environment]]
name = "dev"
registry = "{dev}"
plain_http = true
mutable_tag = "latest"

[environment.retention]
keep = 1

[[environment]]
name = "stage"
registry = "{stage}"
from = "dev"
plain_http = true
mutable_tag = "stage"

[[service]]
name = "{service}"
"#,
            dev = regs.dev.addr(),
            stage = regs.stage.addr(),
            service = case.service,
        ),
    )
    .expect("write config");
    // No git repository: the plan orders images by their created time.
    let seed = |commit: &str, seed: u64, extra: &[&str], created: &str| {
        let mut spec = ImageSpec::small(seed);
        spec.created = created.into();
        case.seed_in(
            regs.dev.addr(),
            &case.service,
            commit,
            seed,
            extra,
            SeedFormat::Oci,
            spec,
        )
    };
    seed("0001aaa", 0x61, &[], "2024-01-01T00:00:00Z");
    seed("0002bbb", 0x62, &[], "2024-02-01T00:00:00Z");
    seed("0003ccc", 0x63, &["latest"], "2024-03-01T00:00:00Z");

    let tmux = Tmux::start(case.dir.path(), &console_command(&case));
    tmux.wait_for("what runs where");
    tmux.keys(&["6"]);
    let screen = tmux.wait_for("1 to delete");
    assert!(screen.contains("sha-0001aaa"), "{screen}");
    assert!(screen.contains("beyond the newest 1"), "{screen}");
    // Nothing is deleted before the question is answered.
    tmux.keys(&["d"]);
    tmux.wait_for("y/enter delete");
    assert_eq!(case.tags_at(&regs.dev, &case.service).len(), 4);
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("1 deleted");
    assert!(screen.contains("garbage"), "{screen}");
    let mut tags = case.tags_at(&regs.dev, &case.service);
    tags.sort();
    assert_eq!(tags, ["latest", "sha-0002bbb", "sha-0003ccc"]);

    // Closing plans again: nothing left to delete.
    tmux.keys(&["Enter"]);
    tmux.wait_for("nothing to delete");
    tmux.keys(&["q"]);
    tmux.wait_for("CONSOLE-EXITED 0");
}

/// A dev -> stage -> prod case whose application repository (and so its ledger) acts as
/// ana@example.com; `stage_extra` goes into stage's table.
fn ledger_case(name: &str, stage_extra: &str) -> (Case, common::git::TestRepo) {
    let case = Case::new(name);
    let config = common::pipeline_config(&case, "[git]\npath = \"repo\"\n", ["", stage_extra, ""]);
    std::fs::write(&case.config, config).expect("write config");
    let repo = common::git::TestRepo::init(&case.dir.path().join("repo"));
    repo.git(&["config", "user.email", "ana@example.com"]);
    (case, repo)
}

#[test]
fn audit_tab_lists_a_promotion_from_the_real_ledger() {
    // The ledger lives in the application repository and names who acted by its email.
    let (case, _repo) = ledger_case("console-audit", "");
    case.seed("a0d17ed", 0x41, &["latest"], SeedFormat::Oci);
    let image = format!("{}:sha-a0d17ed", case.service);
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));

    let tmux = Tmux::start(case.dir.path(), &console_command(&case));
    tmux.wait_for("what runs where");
    tmux.keys(&["7"]);
    let screen = tmux.wait_for("chain intact: 1 record");
    let row = screen
        .lines()
        .find(|l| l.contains("promotion"))
        .unwrap_or_else(|| panic!("no promotion row:\n{screen}"));
    for expected in [
        "ana@example.com",
        &case.service,
        "dev → stage",
        "sha-a0d17ed",
    ] {
        assert!(
            row.contains(expected),
            "{expected:?} not in {row:?}\n{screen}"
        );
    }
    tmux.keys(&["q"]);
    tmux.wait_for("CONSOLE-EXITED 0");
}

#[test]
fn approve_a_waiting_request_from_the_promotions_screen() {
    // Ana asks; the console then runs as Bob (approvals come from the repository's
    // user.email, and never from whoever asked).
    let (case, repo) = ledger_case("console-approve", "approvals = 2\n");
    case.seed("a9b0e11", 0x43, &["latest"], SeedFormat::Oci);
    let image = format!("{}:sha-a9b0e11", case.service);
    let out = case.gantry(&["request", &image, "--to", "stage", "--json"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let id = common::json(&out)["request"]["id"]
        .as_str()
        .expect("request id")
        .to_string();
    repo.git(&["config", "user.email", "bob@example.com"]);

    let tmux = Tmux::start(case.dir.path(), &console_command(&case));
    tmux.wait_for("what runs where");
    tmux.keys(&["5"]);
    let screen = tmux.wait_for("requests: 1 waiting");
    assert!(screen.contains("0/2 approvals"), "{screen}");
    // The request is the first row, selected: `a` asks, naming what it approves.
    tmux.keys(&["a"]);
    let screen = tmux.wait_for("y/enter approve");
    for expected in [
        format!("approve request {id}"),
        image.clone(),
        "dev → stage".to_string(),
        "approvals so far: 0 of 2".to_string(),
    ] {
        assert!(
            screen.contains(&expected),
            "{expected:?} missing:\n{screen}"
        );
    }
    tmux.keys(&["y"]);
    tmux.wait_for(&format!("approved {id}"));
    // The list reloads from the ledger, Bob's approval counted.
    tmux.wait_for("1/2 approvals");

    let out = case.gantry(&["requests", "--json"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let requests = common::json(&out);
    let approvers = &requests[0]["approvals"]["approvers"];
    assert_eq!(approvers[0]["actor"], "bob@example.com", "{requests}");
    assert_eq!(approvers.as_array().map(Vec::len), Some(1), "{requests}");
    tmux.keys(&["q"]);
    tmux.wait_for("CONSOLE-EXITED 0");
}

#[test]
fn console_refuses_to_start_without_a_terminal() {
    let case = Case::new("console-no-tty");
    let out = case.gantry(&[]);
    assert_eq!(common::code(&out), 2);
    assert!(
        common::stderr(&out).contains("needs a terminal"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn doctor_from_the_console_checks_the_real_registries() {
    let case = Case::new("console-doctor");
    let tmux = Tmux::start(case.dir.path(), &console_command(&case));
    tmux.wait_for("what runs where");
    tmux.keys(&["!"]);
    let screen = tmux.wait_for("LEVEL");
    assert!(screen.contains("! Doctor"), "{screen}");
    let dev = registries().dev.addr().to_string();
    let row = screen
        .lines()
        .find(|l| l.contains(&format!("{dev} answers")))
        .unwrap_or_else(|| panic!("no registry check for dev:\n{screen}"));
    assert!(row.starts_with("ok"), "{row}");
    // esc goes back to the matrix.
    tmux.keys(&["Escape"]);
    tmux.wait_for("what runs where");
    tmux.keys(&["q"]);
    tmux.wait_for("CONSOLE-EXITED 0");
}
