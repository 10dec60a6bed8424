//! Running a deploy or status command: placeholders filled in shell-quoted, output read
//! line by line as it comes, and the whole process group killed on timeout.

use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// Lines of output kept in an outcome; the log saw every line.
pub const OUTPUT_TAIL: usize = 200;

/// After SIGTERM, how long a timed-out command may take to exit before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// After the command exits, how long its output may still take to arrive: a process it
/// left in the background can hold the pipes open indefinitely.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// What a command's placeholders stand for.
#[derive(Debug, Clone)]
pub struct Placeholders {
    pub service: String,
    pub env: String,
    /// `registry/repository@digest`.
    pub image: String,
    pub tag: String,
    pub digest: String,
}

impl Placeholders {
    fn value(&self, placeholder: &str) -> Option<&str> {
        Some(match placeholder {
            "{service}" => &self.service,
            "{env}" => &self.env,
            "{image}" => &self.image,
            "{tag}" => &self.tag,
            "{digest}" => &self.digest,
            _ => return None,
        })
    }

    /// The same values as environment variables, for scripts that prefer them.
    pub fn vars(&self) -> [(&'static str, &str); 5] {
        [
            ("GANTRY_SERVICE", &self.service),
            ("GANTRY_ENV", &self.env),
            ("GANTRY_IMAGE", &self.image),
            ("GANTRY_TAG", &self.tag),
            ("GANTRY_DIGEST", &self.digest),
        ]
    }
}

/// `template` with each placeholder replaced by its value, quoted for `sh` when it holds
/// anything but characters the shell takes literally. Unknown placeholders (the
/// configuration refuses them) stay as written.
pub fn render(template: &str, values: &Placeholders) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut copied = 0;
    for (at, placeholder) in crate::config::deploy::placeholder_positions(template) {
        if let Some(value) = values.value(placeholder) {
            out.push_str(&template[copied..at]);
            out.push_str(&shell_quote(value));
            copied = at + placeholder.len();
        }
    }
    out.push_str(&template[copied..]);
    out
}

/// `value` as one shell word.
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunResult {
    /// `None` when it was killed (timeout, or a signal).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last [`OUTPUT_TAIL`] lines of stdout and stderr, interleaved as they came.
    pub output: Vec<String>,
}

impl RunResult {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// `exit 3`, `timed out after 5 s`, `killed by a signal`.
    pub fn describe(&self, timeout: Duration) -> String {
        match (self.timed_out, self.exit_code) {
            (true, _) => format!(
                "timed out after {} s (the command and its children were killed)",
                timeout.as_secs()
            ),
            (false, Some(code)) => format!("exit {code}"),
            (false, None) => "killed by a signal".into(),
        }
    }
}

/// Runs `command` with `sh -c` in its own process group, sending each output line to
/// `log` as it arrives. On timeout the group gets SIGTERM, then SIGKILL.
pub async fn run(
    command: &str,
    vars: &[(&str, &str)],
    timeout: Duration,
    log: &(dyn Fn(String) + Send + Sync),
) -> std::io::Result<RunResult> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let group = child.id().map(|pid| pid as libc::pid_t);
    // A caller that gives up on us (a cancelled job) drops this future mid-run: the
    // whole group goes then, not only the shell `kill_on_drop` would reach.
    let mut guard = GroupGuard(group);
    let (sender, mut lines) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(forward_lines(out, sender.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(forward_lines(err, sender.clone())));
    }
    drop(sender);

    let mut output: Vec<String> = Vec::new();
    let keep = |line: String, output: &mut Vec<String>| {
        log(line.clone());
        if output.len() == OUTPUT_TAIL {
            output.remove(0);
        }
        output.push(line);
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut open = true;
    let mut timed_out = false;
    let status = loop {
        tokio::select! {
            line = lines.recv(), if open => match line {
                Some(line) => keep(line, &mut output),
                None => open = false,
            },
            status = child.wait() => break Some(status?),
            _ = tokio::time::sleep_until(deadline) => {
                timed_out = true;
                break None;
            }
        }
    };
    let status = match status {
        Some(status) => Some(status),
        None => {
            signal_group(group, libc::SIGTERM);
            let status = match tokio::time::timeout(TERM_GRACE, child.wait()).await {
                Ok(status) => status.ok(),
                Err(_) => {
                    signal_group(group, libc::SIGKILL);
                    child.wait().await.ok()
                }
            };
            // Whatever of the group outlived the shell (it ignored SIGTERM) goes too.
            signal_group(group, libc::SIGKILL);
            status
        }
    };
    let drain_until = tokio::time::Instant::now() + DRAIN_GRACE;
    while open {
        match tokio::time::timeout_at(drain_until, lines.recv()).await {
            Ok(Some(line)) => keep(line, &mut output),
            Ok(None) | Err(_) => open = false,
        }
    }
    for reader in readers {
        reader.abort();
    }
    // Finished on its own: what it left in the background is its business.
    guard.0 = None;
    Ok(RunResult {
        exit_code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        timed_out,
        output,
    })
}

/// Kills the process group when dropped, unless disarmed (`.0 = None`).
struct GroupGuard(Option<libc::pid_t>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
    }
}

fn signal_group(group: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(pgid) = group.filter(|p| *p > 0) {
        // SAFETY: killpg only sends a signal; a group that is gone makes it return ESRCH.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

async fn forward_lines(pipe: impl AsyncRead + Unpin, sender: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(pipe);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buffer);
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if sender.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        Placeholders {
            service: "payment-svc".into(),
            env: "stage".into(),
            image: "reg:5000/payment-svc@sha256:abc".into(),
            tag: "sha-2b2e927".into(),
            digest: "sha256:abc".into(),
        }
    }

    #[test]
    fn render_quotes_only_what_needs_it() {
        let mut v = values();
        assert_eq!(
            render("deploy {service} to {env}: {image} ${HOME} ${env}", &v),
            "deploy payment-svc to stage: reg:5000/payment-svc@sha256:abc ${HOME} ${env}"
        );
        v.service = "a b'c; rm -rf /".into();
        assert_eq!(render("x {service}", &v), r"x 'a b'\''c; rm -rf /'");
        v.env = String::new();
        assert_eq!(render("[{env}]", &v), "['']");
    }

    #[tokio::test]
    async fn quoted_values_reach_the_command_intact() {
        let mut v = values();
        v.service = "it's $(touch /nonexistent/x) `x` \"q\"".into();
        let command = render("printf '%s\\n' {service}", &v);
        let result = run(&command, &[], Duration::from_secs(10), &|_| {})
            .await
            .unwrap();
        assert_eq!(result.output, [v.service.clone()]);
        assert!(result.success());
    }

    #[tokio::test]
    async fn output_lines_stream_and_exit_codes_count() {
        let seen = std::sync::Mutex::new(Vec::new());
        let log = |line: String| seen.lock().unwrap().push(line);
        let result = run(
            "echo one; echo two >&2; echo \"$GANTRY_TAG\"; exit 7",
            &values().vars(),
            Duration::from_secs(10),
            &log,
        )
        .await
        .unwrap();
        assert_eq!(result.exit_code, Some(7));
        assert!(!result.success());
        let mut lines = seen.lock().unwrap().clone();
        lines.sort();
        assert_eq!(lines, ["one", "sha-2b2e927", "two"]);
        assert_eq!(result.describe(Duration::from_secs(1)), "exit 7");
    }

    #[tokio::test]
    async fn a_hung_command_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let command = format!(
            "trap '' TERM; sleep 60 & echo $! > {p}; echo started; wait",
            p = pids.display()
        );
        let result = run(&command, &[], Duration::from_secs(1), &|_| {})
            .await
            .unwrap();
        assert!(result.timed_out);
        assert_eq!(result.exit_code, None);
        assert_eq!(result.output, ["started"]);
        let pid: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone_eventually(pid), "the background sleep {pid} survived");
    }

    #[tokio::test]
    async fn a_cancelled_run_kills_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let command = format!("sleep 60 & echo $! > {p}; wait", p = pids.display());
        let (started, wait) = tokio::sync::oneshot::channel::<()>();
        let started = std::sync::Mutex::new(Some(started));
        let run = async {
            let _ = run(&command, &[], Duration::from_secs(60), &|_| {}).await;
        };
        // Cancelled as soon as the pid file exists: the future is dropped mid-run.
        let watcher = async {
            while !pids.exists()
                || std::fs::read_to_string(&pids)
                    .unwrap_or_default()
                    .trim()
                    .is_empty()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Some(s) = started.lock().unwrap().take() {
                let _ = s.send(());
            }
        };
        tokio::select! {
            _ = run => panic!("the command should still be running"),
            _ = async { watcher.await; let _ = wait.await; } => {}
        }
        let pid: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone_eventually(pid),
            "the background sleep {pid} survived the cancel"
        );
    }

    /// Whether `pid` is gone (or a zombie) within a bounded wait: a SIGKILL is delivered
    /// asynchronously, so the check polls rather than assuming it already landed.
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
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}
