//! `[[notify]]` against real local HTTP receivers (a small server in this file records
//! every request): the right payload per event and kind, no secret in any of it, and a
//! receiver that is down or never answers changes nothing for the promotion.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use common::git::{gantry_command, TestRepo};
use common::{code, json, pipeline_config, registries, stderr, stdout, Case};
use gantry::sandbox::SeedFormat;

/// One POST a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    body: serde_json::Value,
    raw: String,
}

/// How a receiver answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    /// Accepts connections and never answers.
    Hang,
    /// 503 to the first request, as a receiver restarting would, then 200.
    FailFirst,
}

/// A webhook receiver on a loopback port: records each request and answers it as told.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<usize>>,
}

impl Receiver {
    fn start(hang: bool) -> Receiver {
        Receiver::answering(if hang { Answer::Hang } else { Answer::Ok })
    }

    fn answering(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (record, count) = (got.clone(), connections.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let seen = {
                    let mut count = count.lock().expect("count");
                    *count += 1;
                    *count
                };
                if answer == Answer::Hang {
                    // Kept open and silent: the sender must give up on its own.
                    held.push(stream);
                    continue;
                }
                let status = if answer == Answer::FailFirst && seen == 1 {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                let mut stream = stream;
                if let Some(received) = read_request(&mut stream) {
                    // Recorded before the answer: a sender that has its answer finds
                    // what it sent here.
                    record.lock().expect("record").push(received);
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes());
                }
            }
        });
        Receiver {
            port,
            got,
            connections,
        }
    }

    fn url(&self, token: &str) -> String {
        format!("http://127.0.0.1:{}/hook/{token}", self.port)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().expect("record").clone()
    }

    fn events(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|r| {
                r.body["event"]
                    .as_str()
                    .or_else(|| r.body["text"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    fn event(&self, name: &str) -> serde_json::Value {
        self.got()
            .into_iter()
            .find(|r| r.body["event"] == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.events()))
            .body
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let raw = String::from_utf8_lossy(&body).into_owned();
    Some(Received {
        path,
        content_type,
        body: serde_json::from_str(&raw).unwrap_or_default(),
        raw,
    })
}

const JSON_TOKEN: &str = "J50N-t0ken-1f2e3d4c";
const SLACK_TOKEN: &str = "SL4CK-t0ken-9a8b7c6d";
const DOWN_TOKEN: &str = "D0WN-t0ken-5e6f7a8b";
const HANG_TOKEN: &str = "H4NG-t0ken-0b1c2d3e";

fn notify_entry(name: &str, kind: &str, url: &str, filters: &str) -> String {
    format!("\n[[notify]]\nname = \"{name}\"\nkind = \"{kind}\"\n{url}\n{filters}\n")
}

struct World {
    case: Case,
    repo: TestRepo,
    json: Receiver,
    slack: Receiver,
    hang: Receiver,
}

impl World {
    /// Runs gantry as `email`, with every receiver's URL in its variable.
    fn run(&self, email: &str, args: &[&str]) -> Output {
        self.repo.git(&["config", "user.email", email]);
        gantry_command(self.case.dir.path(), &self.case.config, args)
            .env("JSON_HOOK", self.json.url(JSON_TOKEN))
            .env("HANG_HOOK", self.hang.url(HANG_TOKEN))
            .env(
                "DOWN_HOOK",
                format!(
                    "http://127.0.0.1:{}/hook/{DOWN_TOKEN}",
                    registries().closed_port
                ),
            )
            .output()
            .expect("run gantry")
    }
}

/// dev -> stage (frozen, with a deploy hook that fails) -> prod (one approval), a git
/// repository for the ledger, and receivers: JSON for everything, Slack for prod's
/// requests and approvals (its URL in a file), one down and one that hangs.
fn world(name: &str) -> World {
    let case = Case::new(name);
    let repo = TestRepo::init(&case.dir.path().join("app"));
    repo.git(&["config", "user.email", "ana@example.com"]);
    repo.commit("Initial commit");
    let (json, slack, hang) = (
        Receiver::start(false),
        Receiver::start(false),
        Receiver::start(true),
    );
    std::fs::write(
        case.dir.path().join("slack-url"),
        format!("{}\n", slack.url(SLACK_TOKEN)),
    )
    .expect("write url file");
    let stage = "[environment.gates]\nfreeze = [{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], reason = \"always\" }]\n[environment.deploy]\nkind = \"command\"\ncommand = \"exit 3\"";
    let mut config = pipeline_config(
        &case,
        "[git]\npath = \"app\"\n[ledger]\nremote = \"\"\n",
        ["", stage, "approvals = 1"],
    );
    config.push_str(&notify_entry(
        "everything",
        "json",
        "url_env = \"JSON_HOOK\"",
        "",
    ));
    config.push_str(&notify_entry(
        "prod-approvals",
        "slack",
        "url_file = \"slack-url\"",
        "events = [\"request_waiting\", \"approved\"]\nenvironments = [\"prod\"]",
    ));
    config.push_str(&notify_entry("down", "json", "url_env = \"DOWN_HOOK\"", ""));
    config.push_str(&notify_entry(
        "hanging",
        "slack",
        "url_env = \"HANG_HOOK\"",
        "",
    ));
    std::fs::write(&case.config, config).expect("write config");
    World {
        case,
        repo,
        json,
        slack,
        hang,
    }
}

fn no_secret_in(world: &World, outputs: &[&Output]) {
    let log = std::fs::read_to_string(world.case.dir.path().join("state/gantry/gantry.log"))
        .unwrap_or_default();
    for token in [JSON_TOKEN, SLACK_TOKEN, DOWN_TOKEN, HANG_TOKEN] {
        for received in world.json.got().iter().chain(world.slack.got().iter()) {
            assert!(!received.raw.contains(token), "{token} in {}", received.raw);
        }
        for output in outputs {
            assert!(!stdout(output).contains(token) && !stderr(output).contains(token));
        }
        assert!(!log.contains(token), "{token} in the log");
    }
    assert!(
        log.contains("notification to down"),
        "failures are logged: {log}"
    );
}

#[test]
fn each_event_reaches_the_receivers_that_want_it() {
    let w = world("notify-events");
    let digest = w.case.seed("a0e1f2d", 0x61, &[], SeedFormat::Oci);
    let image = format!("{}:sha-a0e1f2d", w.case.service);

    // Through the freeze, into a deploy hook that fails: three events of one promotion.
    let promoted = w.run(
        "oncall@example.com",
        &[
            "promote",
            &image,
            "--to",
            "stage",
            "--override-freeze",
            "sev1 payments down",
        ],
    );
    assert_eq!(code(&promoted), 4, "{}", stderr(&promoted));
    let override_used = w.json.event("freeze_override");
    assert_eq!(override_used["reason"], "sev1 payments down");
    assert_eq!(override_used["environment"], "stage");
    let finished = w.json.event("promotion_finished");
    assert_eq!(finished["service"], w.case.service.as_str());
    assert_eq!(finished["from"], "dev");
    assert_eq!(finished["environment"], "stage");
    assert_eq!(finished["tag"], "sha-a0e1f2d");
    assert_eq!(finished["digest"], digest.as_str());
    assert_eq!(finished["source"], "gantry");
    let deploy = w.json.event("deploy_failed");
    assert!(
        deploy["reason"].as_str().unwrap_or_default().contains("3"),
        "{deploy}"
    );
    let received = &w.json.got()[0];
    assert_eq!(received.path, format!("/hook/{JSON_TOKEN}"));
    assert_eq!(received.content_type, "application/json");

    let failed = w.run(
        "oncall@example.com",
        &[
            "promote",
            &format!("{}:sha-dead0be", w.case.service),
            "--to",
            "stage",
            "--override-freeze",
            "x",
        ],
    );
    assert_eq!(code(&failed), 2, "{}", stderr(&failed));
    let failure = w.json.event("promotion_failed");
    assert!(
        failure["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("sha-dead0be"),
        "{failure}"
    );

    // A request into prod, then its approval: the Slack entry wants exactly these two.
    let requested = w.run(
        "ana@example.com",
        &[
            "request", &image, "--to", "prod", "--from", "stage", "--json",
        ],
    );
    assert_eq!(code(&requested), 0, "{}", stderr(&requested));
    let id = json(&requested)["request"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let waiting = w.json.event("request_waiting");
    assert_eq!(waiting["request"], id.as_str());
    assert_eq!(waiting["actor"], "ana@example.com");
    assert_eq!(
        waiting["approvals"],
        serde_json::json!({ "have": 0, "need": 1 })
    );
    let approved = w.run("kofi@example.com", &["approve", &id]);
    assert_eq!(code(&approved), 0, "{}", stderr(&approved));
    assert_eq!(w.json.event("approved")["actor"], "kofi@example.com");

    let slack = w.slack.events();
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(
        slack[0].contains("waits for approval") && slack[0].contains("by ana@example.com"),
        "{slack:?}"
    );
    assert!(
        slack[1].contains("approved by kofi@example.com") && slack[1].contains("1/1 approvals"),
        "{slack:?}"
    );
    assert!(w
        .slack
        .got()
        .iter()
        .all(|r| r.body.as_object().is_some_and(|o| o.len() == 1)));
    assert!(
        *w.hang.connections.lock().expect("count") > 0,
        "the hanging receiver was tried"
    );
    no_secret_in(&w, &[&promoted, &failed, &requested, &approved]);
}

#[test]
fn a_receiver_that_is_down_or_hangs_changes_nothing_for_the_promotion() {
    let w = world("notify-down");
    // Only the dead receivers, so nothing else can explain what the command did.
    let text = std::fs::read_to_string(&w.case.config).expect("read");
    let cut = text
        .find("\n[[notify]]\nname = \"everything\"")
        .expect("notify entries");
    let mut config = text[..cut].replace(
        "[environment.gates]\nfreeze = [{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], reason = \"always\" }]\n[environment.deploy]\nkind = \"command\"\ncommand = \"exit 3\"",
        "",
    );
    config.push_str(&notify_entry("down", "json", "url_env = \"DOWN_HOOK\"", ""));
    config.push_str(&notify_entry(
        "hanging",
        "slack",
        "url_env = \"HANG_HOOK\"",
        "",
    ));
    std::fs::write(&w.case.config, config).expect("write config");
    let digest = w.case.seed("b1c2d3e", 0x62, &[], SeedFormat::Oci);
    let out = w.run(
        "ci@example.com",
        &[
            "promote",
            &format!("{}:sha-b1c2d3e", w.case.service),
            "--to",
            "stage",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(w.case.digest_at(&registries().stage, "sha-b1c2d3e"), digest);
    let audit = w.run("ci@example.com", &["audit", "--json"]);
    let records = json(&audit)["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "promotion" && r["digest"] == digest.as_str()),
        "{records:?}"
    );
    assert!(
        *w.hang.connections.lock().expect("count") > 0,
        "the hanging receiver was tried"
    );
    assert!(
        stderr(&out).is_empty() || !stderr(&out).contains("notification"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_webhook_url_in_the_file_is_refused_where_it_stands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("gantry.toml");
    let base = "[[environment]]\nname = \"dev\"\nregistry = \"127.0.0.1:1\"\nplain_http = true\n";
    let cases = [
        (
            "[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.example/T0K3N\"\n",
            "8:7",
            "never goes in the configuration",
        ),
        (
            "[[notify]]\nkind = \"json\"\nurl_env = \"HOOK\"\nevents = [\"aproved\"]\n",
            "9:11",
            "did you mean `approved`?",
        ),
        (
            "[[notify]]\nkind = \"json\"\nurl_env = \"HOOK\"\nenvironments = [\"dve\"]\n",
            "9:17",
            "did you mean `dev`?",
        ),
        (
            "[[notify]]\nkind = \"teams\"\nurl_env = \"HOOK\"\n",
            "7:8",
            "known: slack, json",
        ),
    ];
    for (notify, location, words) in cases {
        std::fs::write(&config, format!("{base}\n{notify}")).expect("write");
        let out = common::gantry_in(dir.path(), &["--config", path(&config), "status"]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("gantry.toml:{location}:")) && err.contains(words),
            "{location} {words}: {err}"
        );
        assert!(!err.contains("T0K3N"), "{err}");
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// An approval made in the console is announced even when the console is closed right
/// after: its receiver turns the first attempt away (503), so the message is still under
/// way when `q` is pressed, and the console waits for it (at most FLUSH_AT_EXIT) on
/// closing, as a headless command does on exiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_in_the_console_is_announced_when_it_closes() {
    use gantry::config::keys::{Key, KeyChord};
    use gantry::tui::console::Console;

    let case = Case::new("notify-console");
    let repo = TestRepo::init(&case.dir.path().join("app"));
    repo.git(&["config", "user.email", "ana@example.com"]);
    repo.commit("Initial commit");
    let receiver = Receiver::answering(Answer::FailFirst);
    std::fs::write(case.dir.path().join("hook-url"), receiver.url(JSON_TOKEN))
        .expect("write url file");
    let mut config = pipeline_config(
        &case,
        "[git]\npath = \"app\"\n[ledger]\nremote = \"\"\n",
        ["", "approvals = 1", ""],
    );
    config.push_str(&notify_entry(
        "approvals",
        "json",
        "url_file = \"hook-url\"",
        "events = [\"approved\"]",
    ));
    std::fs::write(&case.config, config).expect("write config");
    case.seed("c0ffee1", 0x63, &["latest"], SeedFormat::Oci);
    let image = format!("{}:sha-c0ffee1", case.service);
    let requested = gantry_command(
        case.dir.path(),
        &case.config,
        &["request", &image, "--to", "stage", "--json"],
    )
    .output()
    .expect("run gantry");
    assert_eq!(code(&requested), 0, "{}", stderr(&requested));
    let id = json(&requested)["request"]["id"]
        .as_str()
        .expect("request id")
        .to_string();
    assert!(
        receiver.got().is_empty(),
        "only approvals go to this receiver"
    );

    // Bob approves in the console, through its palette, then quits at once.
    repo.git(&["config", "user.email", "bob@example.com"]);
    let config = gantry::config::Config::load(&case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 120, 30);
    let mut console =
        Console::open(config, false, chrono::Utc::now(), area).expect("console opens");
    for c in format!(":approve {id}").chars() {
        console.press(KeyChord::plain(Key::Char(c)));
    }
    console.press(KeyChord::plain(Key::Enter));
    let approved = format!("approved {id}");
    while !console
        .app
        .ctx
        .message
        .as_ref()
        .is_some_and(|(_, text)| text.starts_with(&approved) || text.contains("refused"))
    {
        assert!(console.handle_next().await, "the console quit");
    }
    let said = console.app.ctx.message.clone().map(|(_, text)| text);
    assert!(
        said.as_deref().is_some_and(|t| t.starts_with(&approved)),
        "{said:?}"
    );
    console.press(KeyChord::plain(Key::Char('q')));
    assert!(console.app.quit);
    assert_eq!(console.close().await, 0, "nothing abandoned");

    let got = receiver.got();
    assert_eq!(got.len(), 2, "the 503, then the delivery: {got:?}");
    let approval = &got[1].body;
    assert_eq!(approval["event"], "approved");
    assert_eq!(approval["actor"], "bob@example.com");
    assert_eq!(approval["request"], id.as_str());
    assert!(!got[1].raw.contains(JSON_TOKEN));
}
