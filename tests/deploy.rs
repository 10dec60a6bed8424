//! The deploy step through the real binary: GitOps bumps of a real manifests repository
//! (kustomization and Helm values with comments and unrelated keys) pushed to a bare
//! remote, hook commands that succeed, fail and hang, status commands, rollbacks and dry
//! runs, against real registries.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::git::{sandbox, TestRepo};
use common::{code, json, pipeline_config, registries, stderr, stdout, Case};
use gantry::sandbox::SeedFormat;

const KUSTOMIZATION: &str = "\
# stage overlay. Edited by the release pipeline: keep comments.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: stage   # the stage namespace
resources:
  - ../../base
images:
  # the service under test
  - name: example.com/SERVICE
    newTag: sha-0000000 # first deploy
    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
  - name: example.com/sidecar   # not ours
    newTag: v1.2.3
commonLabels:
  team: payments
";

const VALUES: &str = "\
# Helm values for stage.
replicaCount: 3
image:
  repository: example.com/SERVICE  # pulled from here
  # gantry sets these two
  tag: \"old-tag\"
  digest: \"\"
  pullPolicy: IfNotPresent
sidecar:
  image:
    tag: v9 # must never change
    digest: sha256:side
resources: {}
";

/// A manifests repository (committed through a working clone) and its bare remote.
struct Manifests {
    work: TestRepo,
    remote: PathBuf,
}

impl Manifests {
    fn new(case: &Case) -> Manifests {
        let work = TestRepo::init(&case.dir.path().join("manifests-work"));
        let service = &case.service;
        std::fs::create_dir_all(work.dir.join("stage/app")).expect("dirs");
        std::fs::write(
            work.dir.join("stage/app/kustomization.yaml"),
            KUSTOMIZATION.replace("SERVICE", service),
        )
        .expect("write");
        std::fs::write(
            work.dir.join("stage/app/values.yaml"),
            VALUES.replace("SERVICE", service),
        )
        .expect("write");
        work.git(&["add", "."]);
        work.git(&["commit", "-q", "-m", "Initial manifests"]);
        let remote = case.dir.path().join("manifests.git");
        work.git(&[
            "clone",
            "-q",
            "--bare",
            work.dir.to_str().expect("utf-8"),
            remote.to_str().expect("utf-8"),
        ]);
        work.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);
        Manifests { work, remote }
    }

    /// git in the bare remote.
    fn remote_git(&self, args: &[&str]) -> String {
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(&self.remote).args(args);
        sandbox(&mut command, &self.remote.with_extension("home"));
        let out = command.output().expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn file(&self, path: &str) -> String {
        self.remote_git(&["show", &format!("main:{path}")])
    }

    fn head(&self) -> String {
        self.remote_git(&["rev-parse", "main"]).trim().to_string()
    }

    /// Someone else pushes an unrelated change to the manifests.
    fn push_unrelated(&self, file: &str) {
        self.work.git(&["fetch", "-q", "origin"]);
        self.work.git(&["reset", "-q", "--hard", "origin/main"]);
        self.work.commit_file(file, "unrelated change");
        self.work.git(&["push", "-q", "origin", "HEAD:main"]);
    }
}

/// dev -> stage -> prod, with `deploy` as stage's `[environment.deploy]` table body.
fn deploy_case(name: &str, deploy: &str) -> Case {
    let case = Case::new(name);
    write_config(&case, deploy);
    case
}

fn write_config(case: &Case, deploy: &str) {
    write_config_with(case, "", deploy);
}

/// `head` goes before everything (a `[git]` table, say).
fn write_config_with(case: &Case, head: &str, deploy: &str) {
    let head = format!("\n{head}\n\n[copy]\nattempts = 2\nbackoff_ms = 20\n");
    let stage = format!("\n[environment.deploy]\n{deploy}");
    let text = pipeline_config(case, &head, ["", &stage, ""]);
    std::fs::write(&case.config, text).expect("write config");
}

fn kustomize_deploy(case: &Case, extra: &str) -> String {
    format!(
        r#"kind = "gitops"
repository = "manifests.git"
branch = "main"
{extra}
[environment.deploy.files.{service}]
path = "stage/app/kustomization.yaml"
image = "example.com/{service}"
"#,
        service = case.service
    )
}

/// gantry with a sandboxed HOME: no personal git identity or configuration.
fn gantry(case: &Case, args: &[&str]) -> Output {
    common::git::gantry_git(case, args)
}

fn ok(out: &Output) -> &Output {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    out
}

fn seed(case: &Case, commit: &str, seed: u64) -> String {
    case.seed(commit, seed, &[], SeedFormat::Oci)
}

/// What PyYAML, not gantry, reads from a YAML text.
fn yaml_as_json(text: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 with PyYAML (python3-yaml)");
    assert!(
        out.status.success(),
        "PyYAML refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn gone_eventually(pid: i32) -> bool {
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[test]
fn gitops_promotion_edits_only_the_image_lines_pushes_and_rolls_back() {
    let case = deploy_case("gitops-kustomize", "");
    let manifests = Manifests::new(&case);
    write_config(
        &case,
        &kustomize_deploy(&case, "author = \"Release Bot <bot@example.com>\""),
    );
    let first = seed(&case, "1a1a1a1", 401);
    let second = seed(&case, "2b2b2b2", 402);
    let file = "stage/app/kustomization.yaml";
    let original = manifests.file(file);
    let values_before = manifests.file("stage/app/values.yaml");
    let head_before = manifests.head();

    let image = format!("{}:sha-1a1a1a1", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    ok(&out);
    let report = json(&out);
    let deploy = &report[0]["outcome"]["deploy"];
    assert_eq!(deploy["state"], "deployed", "{deploy}");
    assert_eq!(deploy["method"], "gitops");
    assert_eq!(deploy["gitops"]["attempts"], 1);

    // The whole file: only the two image lines of our entry changed.
    let expected = original
        .replace(
            "    newTag: sha-0000000 # first deploy",
            "    newTag: sha-1a1a1a1 # first deploy",
        )
        .replace(
            "    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &format!("    digest: {first}"),
        );
    let after = manifests.file(file);
    assert_eq!(after, expected);
    assert_eq!(manifests.file("stage/app/values.yaml"), values_before);
    // An independent YAML reader agrees: the same document but for our entry's values.
    let mut want = yaml_as_json(&original);
    want["images"][0]["newTag"] = "sha-1a1a1a1".into();
    want["images"][0]["digest"] = first.clone().into();
    assert_eq!(yaml_as_json(&after), want);

    // One commit on top of the old head, by the configured author, saying what and where.
    let head = manifests.head();
    assert_eq!(deploy["gitops"]["commit"], head.as_str());
    assert_eq!(
        manifests
            .remote_git(&["rev-parse", &format!("{head}^")])
            .trim(),
        head_before
    );
    let message = manifests.remote_git(&["log", "-1", "--format=%an <%ae>%n%B", "main"]);
    for words in [
        "Release Bot <bot@example.com>",
        &format!("stage: deploy {} sha-1a1a1a1", case.service),
        &format!("Service: {}", case.service),
        "Environment: stage",
        &format!("Digest: {first}"),
        "Reason: promotion",
        "Ledger: not recorded",
    ] {
        assert!(message.contains(words), "{words} not in {message}");
    }
    assert_eq!(
        manifests
            .remote_git(&["diff", "--stat", &head_before, "main"])
            .lines()
            .count(),
        2,
        "one file changed"
    );

    // Status: promoted and deployed agree.
    let out = gantry(&case, &["status", "--json"]);
    ok(&out);
    let cells = json(&out);
    let cell = cells
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["environment"] == "stage")
        .expect("stage cell");
    assert_eq!(cell["deployed"]["digest"], first.as_str());
    assert_eq!(cell["deployed"]["tag"], "sha-1a1a1a1");
    assert_eq!(cell["deployed"]["in_sync"], true);
    let out = gantry(&case, &["status"]);
    let text = stdout(ok(&out));
    assert!(
        text.contains(" deployed") && !text.contains("NOT DEPLOYED"),
        "{text}"
    );

    // A dry run of the next image shows the exact diff and changes nothing.
    let image2 = format!("{}:sha-2b2b2b2", case.service);
    let out = gantry(&case, &["promote", &image2, "--to", "stage", "--dry-run"]);
    let text = stdout(ok(&out));
    assert!(
        text.contains("-    newTag: sha-1a1a1a1 # first deploy"),
        "{text}"
    );
    assert!(
        text.contains("+    newTag: sha-2b2b2b2 # first deploy"),
        "{text}"
    );
    assert!(text.contains(&format!("+    digest: {second}")), "{text}");
    assert!(!text.contains("commonLabels"), "only the hunk: {text}");
    assert_eq!(manifests.head(), head);

    // Promote it, then roll back: the file pins the first digest again.
    ok(&gantry(&case, &["promote", &image2, "--to", "stage"]));
    assert!(manifests.file(file).contains(&format!("digest: {second}")));
    let out = gantry(
        &case,
        &[
            "rollback",
            &case.service,
            "--env",
            "stage",
            "--to",
            "sha-1a1a1a1",
            "--json",
        ],
    );
    ok(&out);
    let rollback = json(&out);
    assert_eq!(rollback["deploy"]["state"], "deployed", "{rollback}");
    assert_eq!(manifests.file(file), expected);
    let message = manifests.remote_git(&["log", "-1", "--format=%B", "main"]);
    assert!(message.contains("Reason: rollback"), "{message}");

    // Promoted but not deployed: someone pins another digest by hand; status says so.
    manifests.work.git(&["fetch", "-q", "origin"]);
    manifests
        .work
        .git(&["reset", "-q", "--hard", "origin/main"]);
    let by_hand = expected.replace(&first, &second);
    std::fs::write(manifests.work.dir.join(file), &by_hand).expect("write");
    manifests.work.git(&["commit", "-q", "-am", "hand edit"]);
    manifests.work.git(&["push", "-q", "origin", "HEAD:main"]);
    let out = gantry(&case, &["status"]);
    assert!(stdout(&out).contains("NOT DEPLOYED"), "{}", stdout(&out));
}

#[test]
fn gitops_helm_values_paths_change_only_their_scalars() {
    let case = deploy_case("gitops-helm", "");
    let manifests = Manifests::new(&case);
    write_config(
        &case,
        &format!(
            r#"kind = "gitops"
repository = "manifests.git"
[environment.deploy.files.{service}]
path = "stage/app/values.yaml"
tag = "image.tag"
digest = "image.digest"
"#,
            service = case.service
        ),
    );
    let digest = seed(&case, "3c3c3c3", 403);
    let before = manifests.file("stage/app/values.yaml");
    let image = format!("{}:sha-3c3c3c3", case.service);
    ok(&gantry(&case, &["promote", &image, "--to", "stage"]));
    let after = manifests.file("stage/app/values.yaml");
    assert_eq!(
        after,
        before
            .replace("  tag: \"old-tag\"", "  tag: \"sha-3c3c3c3\"")
            .replace("  digest: \"\"", &format!("  digest: \"{digest}\""))
    );
    let mut want = yaml_as_json(&before);
    want["image"]["tag"] = "sha-3c3c3c3".into();
    want["image"]["digest"] = digest.clone().into();
    assert_eq!(yaml_as_json(&after), want);

    // The same image again: nothing to commit, and the outcome says so.
    let head = manifests.head();
    let out = gantry(
        &case,
        &["deploy", &case.service, "--env", "stage", "--json"],
    );
    let report = json(ok(&out));
    assert_eq!(report["outcome"]["state"], "unchanged", "{report}");
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(manifests.head(), head);

    // By a mutable tag: the commit tag on the same digest is what gets pinned.
    let out = gantry(
        &case,
        &[
            "deploy",
            &case.service,
            "--env",
            "stage",
            "--tag",
            "stage",
            "--dry-run",
            "--json",
        ],
    );
    let report = json(ok(&out));
    assert_eq!(report["tag"], "sha-3c3c3c3");
    assert_eq!(report["outcome"]["state"], "planned");
    assert_eq!(report["outcome"]["gitops"]["diff"], "");
}

#[test]
fn gitops_push_goes_on_top_of_what_others_pushed() {
    let case = deploy_case("gitops-race", "");
    let manifests = Manifests::new(&case);
    write_config(&case, &kustomize_deploy(&case, ""));
    seed(&case, "4d4d4d4", 404);
    seed(&case, "5e5e5e5", 405);
    ok(&gantry(
        &case,
        &[
            "promote",
            &format!("{}:sha-4d4d4d4", case.service),
            "--to",
            "stage",
        ],
    ));
    // gantry's cache clone is now behind: another clone pushes in between.
    manifests.push_unrelated("stage/other.txt");
    let theirs = manifests.head();
    let out = gantry(
        &case,
        &[
            "promote",
            &format!("{}:sha-5e5e5e5", case.service),
            "--to",
            "stage",
            "--json",
        ],
    );
    let report = json(ok(&out));
    assert_eq!(report[0]["outcome"]["deploy"]["state"], "deployed");
    assert_eq!(
        manifests.remote_git(&["rev-parse", "main^"]).trim(),
        theirs,
        "gantry's commit sits on top of the other push"
    );
    assert!(manifests
        .file("stage/app/kustomization.yaml")
        .contains("sha-5e5e5e5"));
    assert_eq!(manifests.file("stage/other.txt"), "unrelated change");
}

/// The race itself: a push lands between gantry's fetch and its push. The rejected push
/// is rebuilt on the new head (the edit re-applied) and pushed again.
#[test]
fn gitops_rejected_push_is_rebased_and_retried() {
    use gantry::config::deploy::{FileEdit, FileTarget, GitOps, RepoLocation};
    use gantry::deploy::gitops::Cache;

    let case = Case::new("gitops-race-lib");
    let manifests = Manifests::new(&case);
    let settings = GitOps {
        repository: RepoLocation::Path(manifests.remote.clone()),
        branch: "main".into(),
        files: Default::default(),
        author: Some(("gantry test".into(), "test@example.com".into())),
        push_attempts: 3,
    };
    let target = FileTarget {
        path: "stage/app/kustomization.yaml".into(),
        edit: FileEdit::Kustomize {
            image: format!("example.com/{}", case.service),
        },
    };
    let state = case.dir.path().join("state");
    let cache = Cache::open(&state, &settings).expect("cache");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let mut raced = Vec::new();
    let pushed = cache
        .commit_and_push(
            &target,
            "sha-6f6f6f6",
            &digest,
            "deploy\n",
            &mut |attempt| {
                if attempt == 1 {
                    manifests.push_unrelated("raced.txt");
                    raced.push(manifests.head());
                }
            },
        )
        .expect("pushed after a retry");
    assert_eq!(pushed.attempts, 2);
    assert_eq!(pushed.commit.as_deref(), Some(manifests.head().as_str()));
    assert_eq!(
        manifests.remote_git(&["rev-parse", "main^"]).trim(),
        raced[0]
    );
    assert_eq!(manifests.file("raced.txt"), "unrelated change");
    let text = manifests.file("stage/app/kustomization.yaml");
    assert!(
        text.contains("newTag: sha-6f6f6f6 # first deploy"),
        "{text}"
    );
    assert!(text.contains(&format!("digest: {digest}")), "{text}");
}

#[test]
fn gitops_missing_entry_fails_the_deploy_not_the_promotion() {
    let case = deploy_case("gitops-missing", "");
    let _manifests = Manifests::new(&case);
    write_config(
        &case,
        &kustomize_deploy(&case, "").replace(
            &format!("image = \"example.com/{}\"", case.service),
            "image = \"example.com/nobody\"",
        ),
    );
    let digest = seed(&case, "7a7a7a7", 407);
    let image = format!("{}:sha-7a7a7a7", case.service);
    // A dry run that would fail says so, with the failure's own code: nothing happened.
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--dry-run"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("would fail"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("is promoted"), "{}", stderr(&out));
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let report = json(&out);
    let deploy = &report[0]["outcome"]["deploy"];
    assert_eq!(deploy["state"], "failed");
    assert_eq!(deploy["exit_code"], 2);
    assert!(
        deploy["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no `images:` entry with name: example.com/nobody")),
        "{deploy}"
    );
    assert!(
        stderr(&out).contains("is promoted to stage"),
        "{}",
        stderr(&out)
    );
    assert_eq!(case.digest_at(&registries().stage, "sha-7a7a7a7"), digest);
    // `gantry deploy` alone says the same with exit 2: only a fix of file or config helps.
    let out = gantry(&case, &["deploy", &case.service, "--env", "stage"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

fn hook_case(name: &str, command: &str, extra: &str) -> Case {
    let case = Case::new(name);
    let command = command.replace('\\', "\\\\").replace('"', "\\\"");
    write_config(
        &case,
        &format!("kind = \"command\"\ncommand = \"{command}\"\n{extra}"),
    );
    case
}

#[test]
fn hook_success_streams_its_output_into_the_outcome() {
    let case = hook_case(
        "hook-ok",
        "echo deploying {image} to {env}; echo tag=$GANTRY_TAG >&2",
        "timeout_secs = 30",
    );
    let digest = seed(&case, "8b8b8b8", 408);
    let image = format!("{}:sha-8b8b8b8", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    let report = json(ok(&out));
    let deploy = &report[0]["outcome"]["deploy"];
    assert_eq!(deploy["state"], "deployed", "{deploy}");
    assert_eq!(deploy["command"]["exit_code"], 0);
    let lines: Vec<&str> = deploy["command"]["output"]
        .as_array()
        .expect("output")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    let stage_image = format!("{}/{}@{digest}", registries().stage.addr(), case.service);
    assert!(
        lines.contains(&format!("deploying {stage_image} to stage").as_str()),
        "{lines:?}"
    );
    assert!(lines.contains(&"tag=sha-8b8b8b8"), "{lines:?}");

    // A dry run shows the exact command and runs nothing.
    let out = gantry(
        &case,
        &["deploy", &case.service, "--env", "stage", "--dry-run"],
    );
    let text = stdout(ok(&out));
    assert!(
        text.contains(&format!("echo deploying {stage_image} to stage")),
        "{text}"
    );
}

#[test]
fn hook_failure_keeps_the_image_promoted_and_says_how_to_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("broken");
    std::fs::write(&flag, "").expect("flag");
    let case = hook_case(
        "hook-fail",
        &format!(
            "if [ -e {f} ]; then echo cluster unreachable >&2; exit 3; fi; echo fixed",
            f = flag.display()
        ),
        "",
    );
    let digest = seed(&case, "9c9c9c9", 409);
    let image = format!("{}:sha-9c9c9c9", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cluster unreachable"), "{err}");
    assert!(err.contains("exit 3"), "{err}");
    assert!(
        err.contains(&format!(
            "{}:sha-9c9c9c9 is promoted to stage, but its deploy step failed",
            case.service
        )),
        "{err}"
    );
    let retry = format!(
        "gantry deploy {} --env stage --digest {digest}",
        case.service
    );
    assert!(err.contains(&retry), "{err}");
    // The image is promoted all the same.
    assert_eq!(case.digest_at(&registries().stage, "stage"), digest);

    // Retried once fixed: only the deploy runs.
    std::fs::remove_file(&flag).expect("fix");
    let out = gantry(
        &case,
        &[
            "deploy",
            &case.service,
            "--env",
            "stage",
            "--digest",
            &digest,
        ],
    );
    ok(&out);
    assert!(stderr(&out).contains("fixed"), "streamed: {}", stderr(&out));
    assert!(stdout(&out).contains("deployed"), "{}", stdout(&out));
}

#[test]
fn hook_that_hangs_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let case = hook_case(
        "hook-hang",
        &format!(
            "sleep 600 & echo $! > {p}; echo waiting; wait",
            p = pid_file.display()
        ),
        "timeout_secs = 1",
    );
    seed(&case, "0d0d0d0", 410);
    let image = format!("{}:sha-0d0d0d0", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let report = json(&out);
    let deploy = &report[0]["outcome"]["deploy"];
    assert_eq!(deploy["state"], "failed");
    assert_eq!(deploy["command"]["timed_out"], true);
    assert!(
        deploy["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out after 1 s")),
        "{deploy}"
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        gone_eventually(pid),
        "the hook's sleep {pid} outlived the timeout"
    );
}

#[test]
fn status_command_is_polled_until_success_failure_or_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = dir.path().join("runs");
    // Ready on the third check.
    let ready = format!(
        "echo x >> {c}; [ $(wc -l < {c}) -ge 3 ] && echo rolled out",
        c = counter.display()
    )
    .replace('"', "\\\"");
    let case = hook_case(
        "status-poll",
        "true",
        &format!("status = \"{ready}\"\nstatus_interval_secs = 0\nstatus_timeout_secs = 60"),
    );
    seed(&case, "1e1e1e1", 411);
    let image = format!("{}:sha-1e1e1e1", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    let report = json(ok(&out));
    let rollout = &report[0]["outcome"]["deploy"]["rollout"];
    assert_eq!(rollout["state"], "succeeded", "{rollout}");
    assert_eq!(rollout["runs"], 3);
    assert_eq!(rollout["output"][0], "rolled out");

    // Never ready: the wait ends at its timeout, and the deploy counts as failed.
    write_config(
        &case,
        "kind = \"command\"\ncommand = \"true\"\nstatus = \"echo not yet; exit 1\"\nstatus_interval_secs = 0\nstatus_timeout_secs = 1",
    );
    let out = gantry(
        &case,
        &["deploy", &case.service, "--env", "stage", "--json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["outcome"]["rollout"]["state"], "timed_out");
    assert!(
        report["outcome"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("did not succeed within 1 s")),
        "{report}"
    );

    // An exit code configured as failure stops the wait at once.
    write_config(
        &case,
        "kind = \"command\"\ncommand = \"true\"\nstatus = \"exit 5\"\nstatus_fail_codes = [5]\nstatus_timeout_secs = 60",
    );
    let out = gantry(
        &case,
        &["deploy", &case.service, "--env", "stage", "--json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["outcome"]["rollout"]["state"], "failed");
    assert_eq!(report["outcome"]["rollout"]["runs"], 1);
}

#[test]
fn deploy_config_errors_are_located() {
    let case = deploy_case("deploy-config", "kind = \"gitops\"\nrepository = \"m.git\"\n[environment.deploy.files.nobody]\npath = \"a.yaml\"\nimage = \"x\"\n");
    let out = gantry(&case, &["status"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("gantry.toml:"), "{err}");
    assert!(
        err.contains("`nobody` is not a configured service"),
        "{err}"
    );

    write_config(&case, "kind = \"command\"\ncommand = \"deploy {servce}\"");
    let err = stderr(&gantry(&case, &["status"]));
    assert!(err.contains("unknown placeholder `{servce}`"), "{err}");

    // No deploy step: `gantry deploy` says so.
    write_config(&case, "kind = \"none\"");
    let out = gantry(&case, &["deploy", &case.service, "--env", "stage"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("has no deploy step"),
        "{}",
        stderr(&out)
    );
}

/// The manifests repository given as a path to a checkout with the branch checked out
/// is refused, not pushed into under someone's worktree.
#[test]
fn gitops_refuses_to_push_into_a_checked_out_branch() {
    let case = deploy_case("gitops-checkout", "");
    let manifests = Manifests::new(&case);
    write_config(
        &case,
        &kustomize_deploy(&case, "").replace("manifests.git", "manifests-work"),
    );
    seed(&case, "2f2f2f2", 412);
    let head = manifests.work.sha("HEAD");
    let out = gantry(
        &case,
        &[
            "promote",
            &format!("{}:sha-2f2f2f2", case.service),
            "--to",
            "stage",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has `main` checked out"),
        "{}",
        stderr(&out)
    );
    assert_eq!(manifests.work.sha("HEAD"), head);
}

#[test]
fn deploy_attempts_and_results_are_in_the_ledger() {
    let case = Case::new("deploy-ledger");
    let app = TestRepo::init(&case.dir.path().join("app"));
    app.commit("Initial commit");
    app.git(&["config", "user.email", "ci@example.com"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("broken");
    let hook = format!(
        "if [ -e {f} ]; then exit 9; fi; echo ok",
        f = flag.display()
    );
    write_config_with(
        &case,
        "[git]\npath = \"app\"",
        &format!("kind = \"command\"\ncommand = \"{hook}\""),
    );
    seed(&case, "3a3a3a3", 413);
    let image = format!("{}:sha-3a3a3a3", case.service);
    let out = gantry(&case, &["promote", &image, "--to", "stage", "--json"]);
    let report = json(ok(&out));
    let promotion = report[0]["outcome"]["ledger"]["record"]
        .as_str()
        .expect("promotion recorded")
        .to_string();
    let deploy_record = report[0]["outcome"]["deploy"]["ledger"]["record"]
        .as_str()
        .expect("deploy recorded")
        .to_string();

    std::fs::write(&flag, "").expect("break the hook");
    let out = gantry(
        &case,
        &["deploy", &case.service, "--env", "stage", "--json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));

    let log = app.git(&["log", "--format=%B", "refs/gantry/ledger"]);
    let records: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("record json"))
        .collect();
    let deploys: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["kind"] == "deploy").collect();
    assert_eq!(deploys.len(), 2, "{records:?}");
    // Newest first: the failed retry, then the deploy that followed the promotion.
    assert_eq!(deploys[0]["details"]["result"], "failed");
    assert_eq!(deploys[0]["details"]["exit_code"], 9);
    assert_eq!(deploys[0]["details"]["reason"], "manual");
    assert_eq!(deploys[1]["id"], deploy_record.as_str());
    assert_eq!(deploys[1]["details"]["result"], "deployed");
    assert_eq!(deploys[1]["details"]["follows"], promotion.as_str());
    assert_eq!(deploys[1]["environment"], "stage");
    assert_eq!(deploys[1]["tag"], "sha-3a3a3a3");
}
