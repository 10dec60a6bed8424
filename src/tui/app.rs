//! The console's state and its transitions: keys and data in, state changes and effects out.
//!
//! Nothing here touches the terminal or the network: `App::on_*` methods change state
//! and return `Effect`s for the event loop to carry out, so every transition can be
//! tested with a fixture state and a few key presses.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::deploy::{DeployMethod, DeployReport};
use crate::domain::{Digest, ImageSelector};
use crate::engine::history::{CommitsView, CutOutcome, StatusReport};
use crate::engine::inventory::EnvironmentImages;
use crate::engine::ledger::AuditView;
use crate::engine::{EngineEvent, EventKind, JobId, Plan, Progress, PromotionRequest};
use crate::git::BranchInfo;
use crate::keys::{Action, Key, KeyChord, Keymap, Screen};
use crate::ledger::approvals::RequestState;
use crate::ledger::Record;
use crate::retention::{PlannedImage, PlannedSignature, RetentionOutcome, RetentionPlan};

/// Data that arrives later, or not at all.
#[derive(Debug, Clone, Default)]
pub enum Loadable<T> {
    #[default]
    Idle,
    Loading,
    Loaded(T),
    Failed(String),
}

impl<T> Loadable<T> {
    pub fn loaded(&self) -> Option<&T> {
        match self {
            Loadable::Loaded(value) => Some(value),
            _ => None,
        }
    }
}

/// Marks `slot` as loading and returns true when it must be (re)loaded: `force`, never
/// asked, or failed last time.
fn start_loading<T>(slot: &mut Loadable<T>, force: bool) -> bool {
    if force || matches!(slot, Loadable::Idle | Loadable::Failed(_)) {
        *slot = Loadable::Loading;
        true
    } else {
        false
    }
}

/// An image's signatures as the Images screen marks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigMark {
    Signed,
    Unsigned,
    Invalid,
}

/// Side effects the event loop carries out; results come back as `DataEvent`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadImages {
        service: String,
        env: String,
    },
    /// Requests waiting for approvals, from the ledger.
    LoadRequests,
    /// The whole ledger, unfiltered, with whether its chain verifies.
    LoadAudit,
    /// Approve a ledger request as the repository's git identity.
    Approve(String),
    /// Signature status of each listed image (nothing comes back if no key is trusted).
    LoadSignatures {
        service: String,
        env: String,
        digests: Vec<Digest>,
    },
    LoadStatus,
    LoadCommits,
    LoadBranches,
    /// A dry run whose plan fills the confirmation dialog.
    PlanPromotion(PromotionRequest),
    StartPromotion {
        job: JobId,
        request: PromotionRequest,
    },
    CancelJob(JobId),
    Rollback {
        service: String,
        env: String,
        to: Digest,
    },
    CutRelease {
        commit: String,
        version: Option<String>,
        force: bool,
    },
    StartHotfix {
        name: String,
    },
    /// The clean-up plan of one service in one environment.
    LoadRetention {
        service: String,
        env: String,
    },
    /// Deploy what `env` runs for `service`; `dry_run` only says what would change.
    Deploy {
        service: String,
        env: String,
        dry_run: bool,
    },
    /// Carry out a plan the user confirmed; the engine re-checks every image first.
    CleanUp {
        job: JobId,
        plan: RetentionPlan,
    },
    Quit,
}

/// Results of effects, delivered to `App::on_data`.
// One message per load, moved once: boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// Requests not carried out yet, oldest first.
    Requests(Result<Vec<RequestRow>, String>),
    /// The ledger's records (in any order: the console shows them newest first).
    Audit(Result<AuditView, String>),
    Approved(Result<String, String>),
    Signature {
        service: String,
        env: String,
        digest: Digest,
        mark: SigMark,
    },
    Images {
        service: String,
        env: String,
        result: Result<EnvironmentImages, String>,
    },
    Status(Result<StatusReport, String>),
    Commits(Result<CommitsView, String>),
    Branches(Result<Vec<BranchInfo>, String>),
    Planned {
        request: PromotionRequest,
        result: Result<Plan, String>,
    },
    RolledBack {
        service: String,
        env: String,
        result: Result<String, String>,
    },
    BranchCut(Result<CutOutcome, String>),
    Retention {
        service: String,
        env: String,
        result: Result<RetentionPlan, String>,
    },
    CleanedUp {
        job: JobId,
        result: Result<RetentionOutcome, String>,
    },
    Deployed {
        service: String,
        env: String,
        dry_run: bool,
        result: Result<DeployReport, String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Done,
    Failed,
    Refused,
    Cancelled,
}

/// A ledger request not carried out yet, as the Promotions screen lists it and the
/// approval dialog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub service: String,
    pub tag: String,
    pub from: String,
    pub to: String,
    pub requester: String,
    /// Who approved it so far, each person once.
    pub approvers: Vec<String>,
    /// `[[environment]] approvals` of the target.
    pub needed: u32,
}

impl RequestRow {
    /// `service:tag`, as the rest of the console names an image.
    pub fn image(&self) -> String {
        format!("{}:{}", self.service, self.tag)
    }

    /// Has the approvals it needs: `gantry execute` carries it out.
    pub fn complete(&self) -> bool {
        self.approvers.len() >= self.needed as usize
    }
}

impl From<&RequestState> for RequestRow {
    fn from(state: &RequestState) -> RequestRow {
        RequestRow {
            id: state.id.clone(),
            service: state.service.clone(),
            tag: state.tag.clone(),
            from: state.from.clone(),
            to: state.to.clone(),
            requester: state.requester.clone(),
            approvers: state
                .approvals
                .approvers
                .iter()
                .map(|a| a.actor.clone())
                .collect(),
            needed: state.approvals.needed,
        }
    }
}

/// One row of the Promotions screen: waiting requests first, then this session's jobs.
#[derive(Debug, Clone, Copy)]
pub enum PromotionRow<'a> {
    Request(&'a RequestRow),
    Job(&'a JobView),
}

/// What a Promotions row is, whatever its position: a reload moves rows, not this.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PromotionKey {
    Request(String),
    Job(JobId),
}

impl PromotionKey {
    fn of(row: PromotionRow) -> PromotionKey {
        match row {
            PromotionRow::Request(request) => PromotionKey::Request(request.id.clone()),
            PromotionRow::Job(job) => PromotionKey::Job(job.id),
        }
    }
}

/// What read-only answers to an approval, from a key or from the palette.
const READONLY_APPROVE: &str = "read-only: approving is disabled";

/// One promotion as the Promotions screen shows it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: JobId,
    pub request: PromotionRequest,
    pub plan: Option<Plan>,
    pub state: JobState,
    pub progress: Option<Progress>,
    /// The engine's summary, or why it failed.
    pub outcome: Option<String>,
    pub started: DateTime<Utc>,
}

impl JobView {
    pub fn label(&self) -> String {
        self.request.selector.to_string()
    }
}

/// Selection and scroll of one list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListView {
    pub selected: usize,
    pub offset: usize,
}

impl ListView {
    /// Keeps `selected` within `len` rows and visible in a window of `height` rows.
    pub fn clamp(&mut self, len: usize, height: usize) {
        if len == 0 {
            *self = ListView::default();
            return;
        }
        self.selected = self.selected.min(len - 1);
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
    }
}

/// A line being typed: a filter or a palette command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Filter { screen: Screen, text: String },
    Palette { text: String },
}

/// A question the user must answer before anything outward happens.
// At most one exists at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Dialog {
    Promotion {
        request: PromotionRequest,
        /// Targets the image can go to; `Tab` cycles them.
        targets: Vec<String>,
        plan: Loadable<Plan>,
    },
    Rollback {
        service: String,
        env: String,
        current: Option<(String, Digest)>,
        to: (String, Digest),
    },
    Release {
        commit: String,
        subject: String,
        version: String,
        force: bool,
        outcome: Loadable<CutOutcome>,
    },
    Hotfix {
        name: String,
        outcome: Loadable<CutOutcome>,
    },
    /// Details of a finished or running promotion.
    Job(JobId),
    /// Deploying what an environment runs: the change first, then its result.
    Deploy {
        service: String,
        env: String,
        plan: Loadable<DeployReport>,
        outcome: Loadable<DeployReport>,
    },
    /// Approving a ledger request: what is approved, asked before anything is recorded.
    Approve(RequestRow),
    /// Deleting what a retention plan deletes: asked, then watched, then reported.
    CleanUp {
        plan: RetentionPlan,
        /// Set once confirmed: the engine's job, whose log lines count the deletions.
        job: Option<JobId>,
        /// The latest thing the run said (`deleted payment-svc:sha-… (…)`).
        last: Option<String>,
        deleted: usize,
        outcome: Loadable<RetentionOutcome>,
    },
}

/// What the Audit screen's filter matches a record against: every column it shows, and
/// the full digest and ids, so a digest or request id pasted from elsewhere finds it.
pub fn audit_text(record: &Record) -> String {
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    format!(
        "{} {} {} {} {} {} {} {} {}",
        record.kind,
        record.actor,
        field(&record.service),
        record.detail("from").unwrap_or_default(),
        field(&record.environment),
        field(&record.tag),
        record
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        record.id,
        record.detail("request").unwrap_or_default(),
    )
}

/// One row of the Retention screen.
#[derive(Debug, Clone, Copy)]
pub enum RetentionRow<'a> {
    Delete(&'a PlannedImage),
    /// A signature left behind by an earlier run that stopped between two deletions.
    Orphan(&'a PlannedSignature),
    Keep(&'a PlannedImage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// An environment as the console needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInfo {
    pub name: String,
    pub from: Option<String>,
    /// `readonly = true` in the configuration: nothing is written here.
    pub readonly: bool,
    /// Has an `[environment.retention]` policy, so the Retention screen can plan it.
    pub retention: bool,
    /// Has an `[environment.deploy]` step (GitOps or a command).
    pub deploys: bool,
}

pub struct App {
    pub screen: Screen,
    /// Where `Back` returns to.
    history: Vec<Screen>,
    pub keymap: Keymap,
    pub readonly: bool,
    pub services: Vec<String>,
    pub environments: Vec<EnvInfo>,
    /// `[tags] prefix`: commit tags are named first wherever an image has several.
    pub tag_prefix: String,
    pub service_idx: usize,
    pub env_idx: usize,
    pub images: BTreeMap<(String, String), Loadable<EnvironmentImages>>,
    /// (service, environment, digest) -> what its signatures say.
    pub signatures: BTreeMap<(String, String, Digest), SigMark>,
    /// Requests waiting for approvals or execution (the Promotions screen lists them).
    pub requests: Loadable<Vec<RequestRow>>,
    /// The ledger as the Audit screen shows it: records newest first.
    pub audit: Loadable<AuditView>,
    pub status: Loadable<StatusReport>,
    pub commits: Loadable<CommitsView>,
    pub branches: Loadable<Vec<BranchInfo>>,
    /// (service, environment) -> its clean-up plan.
    pub retention: BTreeMap<(String, String), Loadable<RetentionPlan>>,
    pub jobs: Vec<JobView>,
    pub lists: BTreeMap<Screen, ListView>,
    /// Environments-screen column.
    pub env_column: usize,
    pub filters: BTreeMap<Screen, String>,
    pub input: Option<Input>,
    pub dialog: Option<Dialog>,
    pub message: Option<(Level, String)>,
    pub now: DateTime<Utc>,
    /// Rows the current list shows; set by the loop from the terminal size.
    pub page: usize,
    next_job: u64,
    pub quit: bool,
}

impl App {
    pub fn new(config: &Config, readonly: bool, now: DateTime<Utc>) -> App {
        App {
            screen: Screen::Environments,
            history: Vec::new(),
            keymap: config.keymap.clone(),
            readonly: readonly || config.ui.readonly,
            services: config.services.iter().map(|s| s.name.clone()).collect(),
            tag_prefix: config.tags.prefix.clone(),
            environments: config
                .environments
                .iter()
                .map(|e| EnvInfo {
                    name: e.name.clone(),
                    from: e.from.clone(),
                    readonly: e.readonly,
                    retention: e.retention.is_some(),
                    deploys: e.deploy.method != DeployMethod::None,
                })
                .collect(),
            service_idx: 0,
            env_idx: 0,
            images: BTreeMap::new(),
            signatures: BTreeMap::new(),
            requests: Loadable::Idle,
            audit: Loadable::Idle,
            status: Loadable::Idle,
            commits: Loadable::Idle,
            branches: Loadable::Idle,
            retention: BTreeMap::new(),
            jobs: Vec::new(),
            lists: BTreeMap::new(),
            env_column: 0,
            filters: BTreeMap::new(),
            input: None,
            dialog: None,
            message: None,
            now,
            page: 20,
            // Engine job ids start at 1; the console's own ids live far above them.
            next_job: 1 << 40,
            quit: false,
        }
    }

    /// What to load when the console opens.
    pub fn start(&mut self) -> Vec<Effect> {
        self.load_screen(true)
    }

    pub fn service(&self) -> Option<&str> {
        self.services.get(self.service_idx).map(String::as_str)
    }

    pub fn environment(&self) -> Option<&EnvInfo> {
        self.environments.get(self.env_idx)
    }

    /// The screen whose keys the help screen lists: the one it was opened from.
    pub fn help_for(&self) -> Screen {
        if self.screen == Screen::Help {
            self.history.last().copied().unwrap_or(Screen::Environments)
        } else {
            self.screen
        }
    }

    pub fn list(&self, screen: Screen) -> ListView {
        self.lists.get(&screen).copied().unwrap_or_default()
    }

    pub fn filter(&self, screen: Screen) -> &str {
        self.filters.get(&screen).map(String::as_str).unwrap_or("")
    }

    /// Whether `action` may be offered: read-only hides everything that writes.
    pub fn allowed(&self, action: Action) -> bool {
        !(self.readonly && action.mutates())
    }

    fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some((level, text.into()));
    }

    // ---- input ------------------------------------------------------------------

    pub fn on_key(&mut self, chord: KeyChord) -> Vec<Effect> {
        // ctrl-c leaves from anywhere, even a dialog or a half-typed filter.
        if chord == KeyChord::ctrl('c') {
            self.quit = true;
            return vec![Effect::Quit];
        }
        if self.input.is_some() {
            return self.on_input_key(chord);
        }
        if self.dialog.is_some() {
            return self.on_dialog_key(chord);
        }
        match self.keymap.lookup(self.screen, chord) {
            Some(action) => self.on_action(action),
            None => Vec::new(),
        }
    }

    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        if !self.allowed(action) {
            let refusal = match action {
                // As the palette's `:approve` says it.
                Action::Approve => READONLY_APPROVE.to_string(),
                _ => format!("read-only: {} is disabled", action.description()),
            };
            self.say(Level::Warn, refusal);
            return Vec::new();
        }
        self.message = None;
        match action {
            Action::Quit => {
                self.quit = true;
                vec![Effect::Quit]
            }
            Action::Help => {
                if self.screen != Screen::Help {
                    self.go(Screen::Help);
                }
                Vec::new()
            }
            Action::Back => {
                if !self.filter(self.screen).is_empty() {
                    self.filters.remove(&self.screen);
                } else if let Some(previous) = self.history.pop() {
                    self.screen = previous;
                }
                Vec::new()
            }
            Action::Refresh => self.load_screen(true),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page as isize)),
            Action::PageDown => self.move_by(self.page as isize),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::NextScreen | Action::PrevScreen => {
                let tabs = &Screen::TABS;
                let current = tabs.iter().position(|s| *s == self.screen).unwrap_or(0);
                let next = if action == Action::NextScreen {
                    (current + 1) % tabs.len()
                } else {
                    (current + tabs.len() - 1) % tabs.len()
                };
                self.switch(tabs[next])
            }
            Action::ShowCommits => self.switch(Screen::Commits),
            Action::ShowBranches => self.switch(Screen::Branches),
            Action::ShowImages => self.switch(Screen::Images),
            Action::ShowEnvironments => self.switch(Screen::Environments),
            Action::ShowPromotions => self.switch(Screen::Promotions),
            Action::ShowRetention => self.switch(Screen::Retention),
            Action::ShowAudit => self.switch(Screen::Audit),
            Action::Filter => {
                if self.screen != Screen::Help {
                    let text = self.filter(self.screen).to_string();
                    self.input = Some(Input::Filter {
                        screen: self.screen,
                        text,
                    });
                }
                Vec::new()
            }
            Action::Palette => {
                self.input = Some(Input::Palette {
                    text: String::new(),
                });
                Vec::new()
            }
            Action::Select => self.select(),
            Action::NextService | Action::PrevService => {
                if !self.services.is_empty() {
                    let n = self.services.len();
                    self.service_idx = if action == Action::NextService {
                        (self.service_idx + 1) % n
                    } else {
                        (self.service_idx + n - 1) % n
                    };
                    self.forget_selection();
                }
                self.load_screen(false)
            }
            Action::NextEnvironment | Action::PrevEnvironment => {
                let n = self.environments.len().max(1);
                let forward = action == Action::NextEnvironment;
                if self.screen == Screen::Environments {
                    self.env_column = if forward {
                        (self.env_column + 1) % n
                    } else {
                        (self.env_column + n - 1) % n
                    };
                    return Vec::new();
                }
                self.env_idx = if forward {
                    (self.env_idx + 1) % n
                } else {
                    (self.env_idx + n - 1) % n
                };
                self.forget_selection();
                self.load_screen(false)
            }
            Action::Promote => self.begin_promotion(),
            Action::Rollback => self.begin_rollback(),
            Action::CancelJob => self.cancel_selected_job(),
            Action::CutRelease => self.begin_release(),
            Action::CleanUp => self.begin_cleanup(),
            Action::Deploy => self.begin_deploy(),
            Action::Approve => self.begin_approval(),
            Action::StartHotfix => {
                self.dialog = Some(Dialog::Hotfix {
                    name: String::new(),
                    outcome: Loadable::Idle,
                });
                Vec::new()
            }
        }
    }

    fn on_input_key(&mut self, chord: KeyChord) -> Vec<Effect> {
        let Some(input) = self.input.as_mut() else {
            return Vec::new();
        };
        let text = match input {
            Input::Filter { text, .. } | Input::Palette { text } => text,
        };
        match chord.key {
            Key::Esc => {
                if let Some(Input::Filter { screen, .. }) = &self.input {
                    self.filters.remove(screen);
                }
                self.input = None;
            }
            Key::Enter => {
                let input = self.input.take();
                if let Some(Input::Palette { text }) = input {
                    return self.run_palette(text.trim());
                }
            }
            Key::Backspace => {
                text.pop();
            }
            Key::Char(c) if !chord.ctrl && !chord.alt => text.push(c),
            _ => {}
        }
        // Filters apply as they are typed.
        if let Some(Input::Filter { screen, text }) = &self.input {
            let (screen, text) = (*screen, text.clone());
            if text.is_empty() {
                self.filters.remove(&screen);
            } else {
                self.filters.insert(screen, text);
            }
            self.lists.entry(screen).or_default().selected = 0;
        }
        Vec::new()
    }

    fn run_palette(&mut self, command: &str) -> Vec<Effect> {
        let (word, rest) = command.split_once(' ').unwrap_or((command, ""));
        let rest = rest.trim();
        if word.is_empty() {
            return Vec::new();
        }
        if let Some(screen) = Screen::ALL.into_iter().find(|s| s.name().starts_with(word)) {
            if rest.is_empty() {
                return self.switch(screen);
            }
        }
        match word {
            "q" | "quit" => {
                self.quit = true;
                vec![Effect::Quit]
            }
            // As the headless command is called.
            "gc" => self.switch(Screen::Retention),
            "approve" | "a" => {
                if self.readonly {
                    self.say(Level::Warn, READONLY_APPROVE);
                    return Vec::new();
                }
                if rest.is_empty() {
                    self.say(
                        Level::Warn,
                        "approve which request? `:approve ID` (the Promotions screen lists them)",
                    );
                    return Vec::new();
                }
                self.say(Level::Info, format!("approving {rest}…"));
                vec![Effect::Approve(rest.to_string())]
            }
            "service" | "svc" | "s" => match self.services.iter().position(|s| s.starts_with(rest))
            {
                Some(i) if !rest.is_empty() => {
                    self.service_idx = i;
                    self.forget_selection();
                    self.switch(Screen::Images)
                }
                _ => {
                    self.say(
                        Level::Warn,
                        format!(
                            "no service `{rest}` (configured: {})",
                            self.services.join(", ")
                        ),
                    );
                    Vec::new()
                }
            },
            "env" | "environment" | "e" => match self
                .environments
                .iter()
                .position(|e| e.name.starts_with(rest))
            {
                Some(i) if !rest.is_empty() => {
                    self.env_idx = i;
                    self.forget_selection();
                    self.switch(Screen::Images)
                }
                _ => {
                    let names: Vec<_> = self.environments.iter().map(|e| e.name.as_str()).collect();
                    self.say(
                        Level::Warn,
                        format!("no environment `{rest}` (configured: {})", names.join(", ")),
                    );
                    Vec::new()
                }
            },
            _ => {
                self.say(
                    Level::Warn,
                    format!("unknown command `{word}`: try a screen name, `service NAME`, `env NAME` or `quit`"),
                );
                Vec::new()
            }
        }
    }

    fn on_dialog_key(&mut self, chord: KeyChord) -> Vec<Effect> {
        let Some(dialog) = self.dialog.as_mut() else {
            return Vec::new();
        };
        let confirm = matches!(chord.key, Key::Enter) || chord == KeyChord::plain(Key::Char('y'));
        let cancel = matches!(chord.key, Key::Esc) || chord == KeyChord::plain(Key::Char('n'));
        match dialog {
            Dialog::Promotion {
                request,
                targets,
                plan,
            } => {
                if cancel {
                    self.dialog = None;
                } else if chord.key == Key::Tab && targets.len() > 1 {
                    let i = targets.iter().position(|t| *t == request.to).unwrap_or(0);
                    request.to = targets[(i + 1) % targets.len()].clone();
                    *plan = Loadable::Loading;
                    return vec![Effect::PlanPromotion(request.clone())];
                } else if confirm {
                    // A plan a rule refused is shown, never carried out.
                    if matches!(plan, Loadable::Loaded(p) if p.refusal.is_none()) {
                        let request = request.clone();
                        let planned = plan.loaded().cloned();
                        self.dialog = None;
                        return self.start_job(request, planned);
                    }
                }
            }
            Dialog::Rollback {
                service, env, to, ..
            } => {
                if cancel {
                    self.dialog = None;
                } else if confirm {
                    let effect = Effect::Rollback {
                        service: service.clone(),
                        env: env.clone(),
                        to: to.1.clone(),
                    };
                    self.dialog = None;
                    self.say(Level::Info, "rolling back…");
                    return vec![effect];
                }
            }
            Dialog::Release {
                commit,
                version,
                force,
                outcome,
                ..
            } => {
                if matches!(outcome, Loadable::Loaded(_) | Loadable::Failed(_))
                    && (confirm || cancel)
                {
                    let reload = matches!(outcome, Loadable::Loaded(_));
                    self.dialog = None;
                    return if reload {
                        vec![Effect::LoadCommits, Effect::LoadBranches]
                    } else {
                        Vec::new()
                    };
                }
                match chord.key {
                    Key::Esc => self.dialog = None,
                    // Once: a second enter while cutting must not cut again.
                    Key::Enter if matches!(outcome, Loadable::Idle) => {
                        *outcome = Loadable::Loading;
                        return vec![Effect::CutRelease {
                            commit: commit.clone(),
                            version: (!version.is_empty()).then(|| version.clone()),
                            force: *force,
                        }];
                    }
                    Key::Backspace => {
                        version.pop();
                    }
                    Key::Tab => *force = !*force,
                    Key::Char(c) if c.is_ascii_digit() || c == '.' => version.push(c),
                    _ => {}
                }
            }
            Dialog::Hotfix { name, outcome } => {
                if matches!(outcome, Loadable::Loaded(_) | Loadable::Failed(_))
                    && (confirm || cancel)
                {
                    let reload = matches!(outcome, Loadable::Loaded(_));
                    self.dialog = None;
                    return if reload {
                        vec![Effect::LoadBranches]
                    } else {
                        Vec::new()
                    };
                }
                match chord.key {
                    Key::Esc => self.dialog = None,
                    Key::Enter if !name.is_empty() && matches!(outcome, Loadable::Idle) => {
                        *outcome = Loadable::Loading;
                        return vec![Effect::StartHotfix { name: name.clone() }];
                    }
                    Key::Backspace => {
                        name.pop();
                    }
                    Key::Char(c) if c.is_ascii_alphanumeric() || "-_.".contains(c) => name.push(c),
                    _ => {}
                }
            }
            Dialog::Job(_) => {
                if cancel || confirm {
                    self.dialog = None;
                }
            }
            Dialog::Approve(request) => {
                if cancel {
                    self.dialog = None;
                } else if confirm {
                    let id = request.id.clone();
                    self.dialog = None;
                    self.say(Level::Info, format!("approving {id}…"));
                    return vec![Effect::Approve(id)];
                }
            }
            Dialog::Deploy {
                service,
                env,
                plan,
                outcome,
            } => match outcome {
                Loadable::Idle if confirm => {
                    // Only a change that was shown, and that would not fail, is carried out.
                    if matches!(plan, Loadable::Loaded(p) if !p.outcome.failed()) {
                        *outcome = Loadable::Loading;
                        return vec![Effect::Deploy {
                            service: service.clone(),
                            env: env.clone(),
                            dry_run: false,
                        }];
                    }
                }
                Loadable::Idle if cancel => self.dialog = None,
                // A deploy that started runs to its end (a half-pushed commit helps nobody).
                Loadable::Loading | Loadable::Idle => {}
                Loadable::Loaded(_) | Loadable::Failed(_) if confirm || cancel => {
                    self.dialog = None;
                    self.status = Loadable::Idle;
                    self.audit = Loadable::Idle;
                    return self.load_screen(false);
                }
                Loadable::Loaded(_) | Loadable::Failed(_) => {}
            },
            Dialog::CleanUp {
                plan, job, outcome, ..
            } => match outcome {
                Loadable::Idle if confirm => {
                    let id = JobId(self.next_job);
                    self.next_job += 1;
                    *job = Some(id);
                    *outcome = Loadable::Loading;
                    return vec![Effect::CleanUp {
                        job: id,
                        plan: plan.clone(),
                    }];
                }
                Loadable::Idle if cancel => self.dialog = None,
                // Deleting cannot be taken back halfway; the dialog stays until it is done.
                Loadable::Loading | Loadable::Idle => {}
                Loadable::Loaded(_) | Loadable::Failed(_) if confirm || cancel => {
                    let key = (plan.service.clone(), plan.environment.clone());
                    self.dialog = None;
                    // The registry changed: every view of it is stale.
                    self.images.remove(&key);
                    self.retention.remove(&key);
                    self.status = Loadable::Idle;
                    self.commits = Loadable::Idle;
                    self.audit = Loadable::Idle;
                    return self.load_screen(false);
                }
                Loadable::Loaded(_) | Loadable::Failed(_) => {}
            },
        }
        Vec::new()
    }

    // ---- navigation -------------------------------------------------------------

    fn go(&mut self, screen: Screen) {
        if self.screen != screen {
            self.history.push(self.screen);
            if self.history.len() > 32 {
                self.history.remove(0);
            }
            self.screen = screen;
        }
    }

    fn switch(&mut self, screen: Screen) -> Vec<Effect> {
        self.go(screen);
        self.load_screen(false)
    }

    /// Loads what the current screen shows; `force` reloads what is already there.
    fn load_screen(&mut self, force: bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        match self.screen {
            Screen::Images => {
                if let (Some(service), Some(env)) = (
                    self.service().map(str::to_string),
                    self.environment().map(|e| e.name.clone()),
                ) {
                    let entry = self
                        .images
                        .entry((service.clone(), env.clone()))
                        .or_default();
                    if start_loading(entry, force) {
                        effects.push(Effect::LoadImages { service, env });
                    }
                }
            }
            Screen::Environments => {
                if start_loading(&mut self.status, force) {
                    effects.push(Effect::LoadStatus);
                }
            }
            Screen::Commits => {
                if start_loading(&mut self.commits, force) {
                    effects.push(Effect::LoadCommits);
                }
                // Branch heads label the commits they point at; a failed load is
                // retried on the Branches screen, not on every visit here.
                if force || matches!(self.branches, Loadable::Idle) {
                    self.branches = Loadable::Loading;
                    effects.push(Effect::LoadBranches);
                }
            }
            Screen::Branches => {
                if start_loading(&mut self.branches, force) {
                    effects.push(Effect::LoadBranches);
                }
            }
            Screen::Promotions => {
                if start_loading(&mut self.requests, force) {
                    effects.push(Effect::LoadRequests);
                }
            }
            Screen::Retention => {
                if let (Some(service), Some(env)) = (
                    self.service().map(str::to_string),
                    self.environment()
                        .filter(|e| e.retention)
                        .map(|e| e.name.clone()),
                ) {
                    let entry = self
                        .retention
                        .entry((service.clone(), env.clone()))
                        .or_default();
                    if start_loading(entry, force) {
                        effects.push(Effect::LoadRetention { service, env });
                    }
                }
            }
            Screen::Audit => {
                if start_loading(&mut self.audit, force) {
                    effects.push(Effect::LoadAudit);
                }
            }
            Screen::Help => {}
        }
        effects
    }

    /// Row count of the current screen's list, after filtering.
    pub fn row_count(&self, screen: Screen) -> usize {
        match screen {
            Screen::Images => self.image_rows().len(),
            Screen::Environments => self.service_rows().len(),
            Screen::Commits => self.commit_rows().len(),
            Screen::Branches => self.branch_rows().len(),
            Screen::Promotions => self.promotion_rows().len(),
            Screen::Retention => self.retention_rows().len(),
            Screen::Audit => self.audit_rows().len(),
            Screen::Help => 0,
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        let screen = self.screen;
        let len = self.row_count(screen);
        let page = self.page;
        let list = self.lists.entry(screen).or_default();
        list.selected = (list.selected as isize)
            .saturating_add(delta)
            .clamp(0, len.saturating_sub(1) as isize) as usize;
        list.clamp(len, page);
        Vec::new()
    }

    /// Selects row `row` of the current list (a mouse click).
    pub fn click_row(&mut self, row: usize) {
        let len = self.row_count(self.screen);
        if row < len {
            let page = self.page;
            let list = self.lists.entry(self.screen).or_default();
            list.selected = row;
            list.clamp(len, page);
        }
    }

    /// Another service or environment is chosen: the lists that show one start at the top.
    fn forget_selection(&mut self) {
        self.lists.remove(&Screen::Images);
        self.lists.remove(&Screen::Retention);
    }

    /// The Environments matrix's selected cell: its service and environment.
    fn selected_cell(&self) -> Option<(String, EnvInfo)> {
        let service = self
            .service_rows()
            .get(self.selected(Screen::Environments))?
            .to_string();
        let env = self.environments.get(self.env_column)?.clone();
        Some((service, env))
    }

    fn selected(&self, screen: Screen) -> usize {
        self.list(screen).selected
    }

    fn select(&mut self) -> Vec<Effect> {
        match self.screen {
            Screen::Promotions => {
                match self.selected_promotion() {
                    Some(PromotionRow::Job(job)) => self.dialog = Some(Dialog::Job(job.id)),
                    Some(PromotionRow::Request(request)) => {
                        let text = format!(
                            "request {}: {} approves it (asks first)",
                            request.id,
                            self.key_name(Action::Approve)
                        );
                        self.say(Level::Info, text);
                    }
                    None => {}
                }
                Vec::new()
            }
            Screen::Environments => {
                // Drill into the selected cell's images.
                let Some(service) = self
                    .service_rows()
                    .get(self.selected(Screen::Environments))
                    .map(|s| s.to_string())
                else {
                    return Vec::new();
                };
                self.service_idx = self
                    .services
                    .iter()
                    .position(|s| *s == service)
                    .unwrap_or(0);
                self.env_idx = self
                    .env_column
                    .min(self.environments.len().saturating_sub(1));
                self.forget_selection();
                self.switch(Screen::Images)
            }
            Screen::Branches => self.switch(Screen::Commits),
            _ => Vec::new(),
        }
    }

    // ---- rows (filtered views the renderer and the actions share) -----------------

    fn matches(&self, screen: Screen, text: &str) -> bool {
        let filter = self.filter(screen);
        filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
    }

    /// The Environments screen's rows: services, filtered by name.
    pub fn service_rows(&self) -> Vec<&str> {
        self.services
            .iter()
            .filter(|s| self.matches(Screen::Environments, s))
            .map(String::as_str)
            .collect()
    }

    pub fn image_rows(&self) -> Vec<&crate::engine::inventory::ImageInfo> {
        let (Some(service), Some(env)) = (self.service(), self.environment()) else {
            return Vec::new();
        };
        match self.images.get(&(service.to_string(), env.name.clone())) {
            Some(Loadable::Loaded(listing)) => listing
                .images
                .iter()
                .filter(|i| {
                    self.matches(
                        Screen::Images,
                        &format!("{} {} {}", i.tag, i.digest, i.also_tagged.join(" ")),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn commit_rows(&self) -> Vec<&crate::engine::history::CommitRow> {
        match &self.commits {
            Loadable::Loaded(view) => view
                .commits
                .iter()
                .filter(|c| {
                    self.matches(
                        Screen::Commits,
                        &format!("{} {} {}", c.commit.sha, c.commit.author, c.commit.subject),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn branch_rows(&self) -> Vec<&BranchInfo> {
        match &self.branches {
            Loadable::Loaded(branches) => branches
                .iter()
                .filter(|b| {
                    self.matches(Screen::Branches, &format!("{} {}", b.name, b.head.subject))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The current service's plan in the current environment, if one is loaded or loading.
    pub fn retention_plan(&self) -> Option<&Loadable<RetentionPlan>> {
        let (service, env) = (self.service()?, self.environment()?);
        self.retention.get(&(service.to_string(), env.name.clone()))
    }

    /// What goes first, then signatures left by an earlier run, then what stays, each
    /// newest first: the rows a user must check before confirming come first.
    pub fn retention_rows(&self) -> Vec<RetentionRow<'_>> {
        let Some(Loadable::Loaded(plan)) = self.retention_plan() else {
            return Vec::new();
        };
        let image_text =
            |i: &PlannedImage| format!("{} {} {}", i.tags.join(" "), i.digest, i.reason);
        plan.delete
            .iter()
            .map(RetentionRow::Delete)
            .chain(plan.orphan_signatures.iter().map(RetentionRow::Orphan))
            .chain(plan.keep.iter().map(RetentionRow::Keep))
            .filter(|row| {
                let text = match row {
                    RetentionRow::Delete(i) => format!("delete {}", image_text(i)),
                    RetentionRow::Orphan(s) => format!("delete {} {}", s.tag, s.digest),
                    RetentionRow::Keep(i) => format!("keep {}", image_text(i)),
                };
                self.matches(Screen::Retention, &text)
            })
            .collect()
    }

    /// The ledger's records, newest first, that match the Audit screen's filter.
    pub fn audit_rows(&self) -> Vec<&Record> {
        let Loadable::Loaded(view) = &self.audit else {
            return Vec::new();
        };
        view.records
            .iter()
            .filter(|r| self.matches(Screen::Audit, &audit_text(r)))
            .collect()
    }

    /// Requests not carried out yet, oldest first, that match the Promotions filter.
    pub fn request_rows(&self) -> Vec<&RequestRow> {
        let Loadable::Loaded(requests) = &self.requests else {
            return Vec::new();
        };
        requests
            .iter()
            .filter(|r| {
                self.matches(
                    Screen::Promotions,
                    &format!("{} {} {} {} {}", r.id, r.image(), r.from, r.to, r.requester),
                )
            })
            .collect()
    }

    /// The Promotions screen's rows: what waits for someone's approval comes first.
    pub fn promotion_rows(&self) -> Vec<PromotionRow<'_>> {
        self.request_rows()
            .into_iter()
            .map(PromotionRow::Request)
            .chain(self.job_rows().into_iter().map(PromotionRow::Job))
            .collect()
    }

    pub fn selected_promotion(&self) -> Option<PromotionRow<'_>> {
        self.promotion_rows()
            .get(self.selected(Screen::Promotions))
            .copied()
    }

    pub fn selected_request(&self) -> Option<&RequestRow> {
        match self.selected_promotion()? {
            PromotionRow::Request(request) => Some(request),
            PromotionRow::Job(_) => None,
        }
    }

    fn selected_job(&self) -> Option<&JobView> {
        match self.selected_promotion()? {
            PromotionRow::Job(job) => Some(job),
            PromotionRow::Request(_) => None,
        }
    }

    /// Whether the current selection takes `action`: the footer offers only what applies
    /// to the selected row (the help screen still lists every key).
    pub fn applies(&self, action: Action) -> bool {
        if self.screen != Screen::Promotions {
            return action != Action::Approve;
        }
        match action {
            Action::Approve => self.selected_request().is_some(),
            Action::CancelJob | Action::Rollback => self.selected_request().is_none(),
            _ => true,
        }
    }

    /// The first key bound to `action` here, as messages name it (`a`), or its `:` form.
    pub fn key_name(&self, action: Action) -> String {
        self.keymap
            .bindings_for(self.screen)
            .into_iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map_or_else(
                || format!("the {} action", action.name()),
                |k| k.to_string(),
            )
    }

    /// Newest first.
    pub fn job_rows(&self) -> Vec<&JobView> {
        self.jobs
            .iter()
            .rev()
            .filter(|j| {
                self.matches(
                    Screen::Promotions,
                    &format!("{} {} {}", j.label(), j.request.from, j.request.to),
                )
            })
            .collect()
    }

    // ---- promotions -------------------------------------------------------------

    fn targets_from(&self, env: &str) -> Vec<String> {
        self.environments
            .iter()
            .filter(|e| e.from.as_deref() == Some(env) && !e.readonly)
            .map(|e| e.name.clone())
            .collect()
    }

    fn begin_promotion(&mut self) -> Vec<Effect> {
        let (selector, from) = match self.screen {
            Screen::Images => {
                let Some(image) = self
                    .image_rows()
                    .get(self.selected(Screen::Images))
                    .map(|i| i.tag.clone())
                else {
                    self.say(Level::Warn, "no image selected");
                    return Vec::new();
                };
                let (Some(service), Some(env)) = (self.service(), self.environment()) else {
                    return Vec::new();
                };
                (
                    ImageSelector::Tag {
                        service: service.to_string(),
                        tag: image,
                    },
                    env.name.clone(),
                )
            }
            Screen::Commits => {
                let Some(row) = self
                    .commit_rows()
                    .get(self.selected(Screen::Commits))
                    .copied()
                else {
                    self.say(Level::Warn, "no commit selected");
                    return Vec::new();
                };
                let Some(service) = self.service().map(str::to_string) else {
                    return Vec::new();
                };
                // From the last environment (in promotion order) that has this commit's image.
                let first = self
                    .environments
                    .first()
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                let from = self
                    .environments
                    .iter()
                    .rev()
                    .find(|e| {
                        row.images.iter().any(|b| {
                            b.service == service && b.environment == e.name && b.digest.is_some()
                        })
                    })
                    .map(|e| e.name.clone())
                    .unwrap_or(first);
                (
                    ImageSelector::Commit {
                        service,
                        sha: row.commit.sha.clone(),
                    },
                    from,
                )
            }
            Screen::Environments => {
                // Promote what `from` runs into the selected environment.
                let Some((service, target)) = self.selected_cell() else {
                    return Vec::new();
                };
                if target.readonly {
                    self.say(
                        Level::Warn,
                        format!("{} is read-only: nothing is promoted into it", target.name),
                    );
                    return Vec::new();
                }
                let Some(from) = target.from.clone() else {
                    self.say(
                        Level::Warn,
                        format!("{} is promoted from nowhere (no `from`)", target.name),
                    );
                    return Vec::new();
                };
                let Some(running) = self.running_tag(&service, &from) else {
                    self.say(
                        Level::Warn,
                        format!("{from} runs no known image of {service}"),
                    );
                    return Vec::new();
                };
                let request = PromotionRequest {
                    selector: ImageSelector::Tag {
                        service,
                        tag: running,
                    },
                    from,
                    to: target.name.clone(),
                };
                return self.open_promotion(request, vec![target.name]);
            }
            _ => return Vec::new(),
        };
        let targets = self.targets_from(&from);
        let Some(to) = targets.first().cloned() else {
            self.say(
                Level::Warn,
                format!("no environment is promoted from {from}"),
            );
            return Vec::new();
        };
        self.open_promotion(PromotionRequest { selector, from, to }, targets)
    }

    fn open_promotion(&mut self, request: PromotionRequest, targets: Vec<String>) -> Vec<Effect> {
        self.dialog = Some(Dialog::Promotion {
            request: request.clone(),
            targets,
            plan: Loadable::Loading,
        });
        vec![Effect::PlanPromotion(request)]
    }

    /// The immutable tag `env` runs for `service`, from the status matrix.
    pub fn running_tag(&self, service: &str, env: &str) -> Option<String> {
        let report = self.status.loaded()?;
        report
            .cells
            .iter()
            .find(|c| c.service == service && c.environment == env)
            .and_then(|c| c.tags.first().cloned())
    }

    fn start_job(&mut self, request: PromotionRequest, plan: Option<Plan>) -> Vec<Effect> {
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.jobs.push(JobView {
            id,
            request: request.clone(),
            plan,
            state: JobState::Running,
            progress: None,
            outcome: None,
            started: self.now,
        });
        self.go(Screen::Promotions);
        // The new job is the first job row, under the waiting requests.
        let first_job = ListView {
            selected: self.request_rows().len(),
            offset: 0,
        };
        self.lists.insert(Screen::Promotions, first_job);
        vec![Effect::StartPromotion { job: id, request }]
    }

    fn cancel_selected_job(&mut self) -> Vec<Effect> {
        if self.screen != Screen::Promotions {
            return Vec::new();
        }
        if let Some(request) = self.selected_request() {
            let text = format!(
                "request {} is not a running promotion: {} approves it",
                request.id,
                self.key_name(Action::Approve)
            );
            self.say(Level::Info, text);
            return Vec::new();
        }
        match self.selected_job().map(|j| (j.id, j.state)) {
            Some((id, JobState::Running)) => vec![Effect::CancelJob(id)],
            Some(_) => {
                self.say(Level::Info, "that promotion is not running");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Rollback: the mutable tag goes back to the image it pointed at before.
    fn begin_rollback(&mut self) -> Vec<Effect> {
        let (service, env) = match self.screen {
            Screen::Environments => {
                let Some((service, env)) = self.selected_cell() else {
                    return Vec::new();
                };
                (service, env.name)
            }
            Screen::Promotions => {
                if let Some(request) = self.selected_request() {
                    let text = format!(
                        "request {} was never promoted: nothing to roll back",
                        request.id
                    );
                    self.say(Level::Info, text);
                    return Vec::new();
                }
                let Some(job) = self.selected_job() else {
                    return Vec::new();
                };
                (
                    job.request.selector.service().to_string(),
                    job.request.to.clone(),
                )
            }
            _ => return Vec::new(),
        };
        if self
            .environments
            .iter()
            .any(|e| e.name == env && e.readonly)
        {
            self.say(
                Level::Warn,
                format!("{env} is read-only: nothing is rolled back there"),
            );
            return Vec::new();
        }
        // The last promotion of this session that moved the tag knows where it was.
        let moved = self.jobs.iter().rev().find_map(|j| {
            let plan = j.plan.as_ref()?;
            (j.state == JobState::Done && plan.service == service && plan.to == env).then(|| {
                plan.tags.iter().find_map(|t| match &t.action {
                    crate::engine::TagAction::Move { from } => Some((
                        t.tag.clone(),
                        from.clone(),
                        plan.tag.clone(),
                        plan.digest.clone(),
                    )),
                    _ => None,
                })
            })?
        });
        let previous = moved
            .map(|(_, from, tag, digest)| ((tag, digest), from))
            .or_else(|| self.previous_image(&service, &env));
        match previous {
            Some((current, to_digest)) => {
                let to_tag = self.tag_of(&service, &env, &to_digest).unwrap_or_else(|| to_digest.short().to_string());
                self.dialog = Some(Dialog::Rollback {
                    service,
                    env,
                    current: Some(current),
                    to: (to_tag, to_digest),
                });
            }
            None => self.say(
                Level::Warn,
                format!("no earlier image of {service} in {env} is known: open Images for {env} to load them"),
            ),
        }
        Vec::new()
    }

    /// From the loaded image list: the current image and the one before it (by creation).
    fn previous_image(&self, service: &str, env: &str) -> Option<((String, Digest), Digest)> {
        let listing = self
            .images
            .get(&(service.to_string(), env.to_string()))?
            .loaded()?;
        let mutable = listing
            .images
            .iter()
            .position(|i| !i.also_tagged.is_empty())?;
        let current = &listing.images[mutable];
        let before = listing
            .images
            .iter()
            .skip(mutable + 1)
            .find(|i| i.digest != current.digest)?;
        Some((
            (current.tag.clone(), current.digest.clone()),
            before.digest.clone(),
        ))
    }

    /// The immutable tag of `digest`: from `env`'s listing, else any environment's (a
    /// promotion copies the digest unchanged, so its tag is the same everywhere).
    fn tag_of(&self, service: &str, env: &str, digest: &Digest) -> Option<String> {
        let find = |listing: &EnvironmentImages| {
            listing
                .images
                .iter()
                .find(|i| &i.digest == digest)
                .map(|i| i.tag.clone())
        };
        let own = self
            .images
            .get(&(service.to_string(), env.to_string()))
            .and_then(Loadable::loaded)
            .and_then(find);
        own.or_else(|| {
            self.images
                .iter()
                .filter(|((s, _), _)| s == service)
                .find_map(|(_, l)| l.loaded().and_then(find))
        })
    }

    /// Shows what deploying the selected cell's image would change, then asks.
    fn begin_deploy(&mut self) -> Vec<Effect> {
        if self.screen != Screen::Environments {
            return Vec::new();
        }
        let Some((service, env)) = self.selected_cell() else {
            return Vec::new();
        };
        if env.readonly {
            self.say(
                Level::Warn,
                format!("{} is read-only: nothing is deployed there", env.name),
            );
            return Vec::new();
        }
        if !env.deploys {
            self.say(
                Level::Warn,
                format!(
                    "{} has no [environment.deploy] step: promoting is all gantry does there",
                    env.name
                ),
            );
            return Vec::new();
        }
        self.dialog = Some(Dialog::Deploy {
            service: service.clone(),
            env: env.name.clone(),
            plan: Loadable::Loading,
            outcome: Loadable::Idle,
        });
        vec![Effect::Deploy {
            service,
            env: env.name,
            dry_run: true,
        }]
    }

    /// Shows exactly which request is approved, then asks: the ledger keeps approvals forever.
    fn begin_approval(&mut self) -> Vec<Effect> {
        if self.screen != Screen::Promotions {
            self.say(
                Level::Warn,
                "requests are approved on the Promotions screen, where they are listed",
            );
            return Vec::new();
        }
        if let Some(request) = self.selected_request().cloned() {
            self.dialog = Some(Dialog::Approve(request));
            return Vec::new();
        }
        let why = match &self.requests {
            Loadable::Idle | Loadable::Loading => {
                "the waiting requests are still loading (ctrl-r reloads)".to_string()
            }
            Loadable::Failed(reason) => format!("cannot list the waiting requests: {reason}"),
            Loadable::Loaded(_) if self.request_rows().is_empty() => {
                if self.filter(Screen::Promotions).is_empty() {
                    "no request waits for approval (`gantry request` asks for one)".to_string()
                } else {
                    "no waiting request matches the filter (esc clears it)".to_string()
                }
            }
            Loadable::Loaded(_) => {
                "select a request (the rows above the promotions) to approve it".to_string()
            }
        };
        self.say(Level::Warn, why);
        Vec::new()
    }

    /// Asks before deleting what the loaded plan deletes.
    fn begin_cleanup(&mut self) -> Vec<Effect> {
        if self.screen != Screen::Retention {
            return Vec::new();
        }
        let Some(env) = self.environment().cloned() else {
            return Vec::new();
        };
        if env.readonly {
            self.say(
                Level::Warn,
                format!("{} is read-only: gantry deletes nothing there", env.name),
            );
            return Vec::new();
        }
        match self.retention_plan() {
            Some(Loadable::Loaded(plan)) if plan.is_noop() => {
                let text = format!("nothing to delete: {}", plan.summary());
                self.say(Level::Info, text);
            }
            Some(Loadable::Loaded(plan)) => {
                self.dialog = Some(Dialog::CleanUp {
                    plan: plan.clone(),
                    job: None,
                    last: None,
                    deleted: 0,
                    outcome: Loadable::Idle,
                });
            }
            _ => self.say(
                Level::Warn,
                "no plan yet: wait for it to load (ctrl-r reloads)",
            ),
        }
        Vec::new()
    }

    fn begin_release(&mut self) -> Vec<Effect> {
        if self.screen != Screen::Commits {
            return Vec::new();
        }
        let Some(row) = self
            .commit_rows()
            .get(self.selected(Screen::Commits))
            .copied()
        else {
            self.say(Level::Warn, "no commit selected");
            return Vec::new();
        };
        self.dialog = Some(Dialog::Release {
            commit: row.commit.sha.clone(),
            subject: row.commit.subject.clone(),
            version: String::new(),
            force: false,
            outcome: Loadable::Idle,
        });
        Vec::new()
    }

    // ---- data and engine events ---------------------------------------------------

    pub fn on_data(&mut self, event: DataEvent) -> Vec<Effect> {
        match event {
            DataEvent::Images {
                service,
                env,
                result,
            } => {
                let digests: Vec<Digest> = match &result {
                    Ok(listing) => listing.images.iter().map(|i| i.digest.clone()).collect(),
                    Err(_) => Vec::new(),
                };
                self.images.insert(
                    (service.clone(), env.clone()),
                    match result {
                        Ok(listing) => Loadable::Loaded(listing),
                        Err(e) => Loadable::Failed(e),
                    },
                );
                if !digests.is_empty() {
                    let len = self.row_count(self.screen);
                    let page = self.page;
                    self.lists.entry(self.screen).or_default().clamp(len, page);
                    return vec![Effect::LoadSignatures {
                        service,
                        env,
                        digests,
                    }];
                }
            }
            DataEvent::Requests(result) => {
                // Requests come first in the list: the selected row stays selected
                // however many arrived or went above it.
                let selected = self.selected_promotion().map(PromotionKey::of);
                self.requests = match result {
                    Ok(rows) => Loadable::Loaded(rows),
                    Err(e) => Loadable::Failed(e),
                };
                let found = selected.and_then(|wanted| {
                    self.promotion_rows()
                        .into_iter()
                        .position(|row| PromotionKey::of(row) == wanted)
                });
                if let Some(index) = found {
                    let (len, page) = (self.row_count(Screen::Promotions), self.page);
                    let list = self.lists.entry(Screen::Promotions).or_default();
                    list.selected = index;
                    list.clamp(len, page);
                }
            }
            DataEvent::Audit(result) => {
                self.audit = match result {
                    Ok(mut view) => {
                        // Sequence numbers order the chain whatever order the store read it in.
                        view.records.sort_by_key(|r| std::cmp::Reverse(r.seq));
                        Loadable::Loaded(view)
                    }
                    Err(e) => Loadable::Failed(e),
                };
            }
            DataEvent::Approved(result) => {
                match result {
                    Ok(summary) => self.say(Level::Info, summary),
                    Err(e) => self.say(Level::Error, e),
                }
                self.requests = Loadable::Idle;
                self.audit = Loadable::Idle;
                return self.load_screen(false);
            }
            DataEvent::Signature {
                service,
                env,
                digest,
                mark,
            } => {
                self.signatures.insert((service, env, digest), mark);
            }
            DataEvent::Status(result) => {
                self.status = match result {
                    Ok(report) => Loadable::Loaded(report),
                    Err(e) => Loadable::Failed(e),
                }
            }
            DataEvent::Commits(result) => {
                self.commits = match result {
                    Ok(view) => Loadable::Loaded(view),
                    Err(e) => Loadable::Failed(e),
                }
            }
            DataEvent::Branches(result) => {
                self.branches = match result {
                    Ok(branches) => Loadable::Loaded(branches),
                    Err(e) => Loadable::Failed(e),
                }
            }
            DataEvent::Planned { request, result } => {
                if let Some(Dialog::Promotion {
                    request: current,
                    plan,
                    ..
                }) = self.dialog.as_mut()
                {
                    if *current == request {
                        *plan = match result {
                            Ok(p) => Loadable::Loaded(p),
                            Err(e) => Loadable::Failed(e),
                        };
                    }
                }
            }
            DataEvent::RolledBack {
                service,
                env,
                result,
            } => {
                match result {
                    Ok(summary) => self.say(Level::Info, summary),
                    Err(e) => self.say(Level::Error, e),
                }
                self.images.remove(&(service, env));
                self.status = Loadable::Idle;
                self.audit = Loadable::Idle;
                return self.load_screen(false);
            }
            DataEvent::Retention {
                service,
                env,
                result,
            } => {
                let current = self.service() == Some(service.as_str())
                    && self.environment().map(|e| e.name.as_str()) == Some(env.as_str());
                if let (true, Ok(plan)) = (current && self.screen == Screen::Retention, &result) {
                    // What the plan could not know matters before anyone confirms it.
                    if !plan.notes.is_empty() {
                        self.say(Level::Warn, format!("note: {}", plan.notes.join("; ")));
                    }
                }
                self.retention.insert(
                    (service, env),
                    match result {
                        Ok(plan) => Loadable::Loaded(plan),
                        Err(e) => Loadable::Failed(e),
                    },
                );
            }
            DataEvent::Deployed {
                service,
                env,
                dry_run,
                result,
            } => {
                if let Some(Dialog::Deploy {
                    service: s,
                    env: e,
                    plan,
                    outcome,
                }) = self.dialog.as_mut()
                {
                    if *s == service && *e == env {
                        let target = if dry_run { plan } else { outcome };
                        *target = match result {
                            Ok(report) => Loadable::Loaded(report),
                            Err(e) => Loadable::Failed(e),
                        };
                    }
                }
            }
            DataEvent::CleanedUp { job, result } => {
                if let Some(Dialog::CleanUp {
                    job: Some(current),
                    outcome,
                    ..
                }) = self.dialog.as_mut()
                {
                    if *current == job {
                        *outcome = match result {
                            Ok(o) => Loadable::Loaded(o),
                            Err(e) => Loadable::Failed(e),
                        };
                    }
                }
            }
            DataEvent::BranchCut(result) => match self.dialog.as_mut() {
                Some(Dialog::Release { outcome, .. }) | Some(Dialog::Hotfix { outcome, .. }) => {
                    *outcome = match result {
                        Ok(o) => Loadable::Loaded(o),
                        Err(e) => Loadable::Failed(e),
                    };
                }
                _ => {}
            },
        }
        let len = self.row_count(self.screen);
        let page = self.page;
        self.lists.entry(self.screen).or_default().clamp(len, page);
        Vec::new()
    }

    pub fn on_engine(&mut self, event: EngineEvent) -> Vec<Effect> {
        if let Some(Dialog::CleanUp {
            job: Some(current),
            last,
            deleted,
            ..
        }) = self.dialog.as_mut()
        {
            if *current == event.job {
                match event.kind {
                    EventKind::Deleted { image } => {
                        *deleted += 1;
                        *last = Some(format!("deleted {image}"));
                    }
                    EventKind::Log { message } => *last = Some(message),
                    _ => {}
                }
                return Vec::new();
            }
        }
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == event.job) else {
            return Vec::new();
        };
        match event.kind {
            EventKind::Started { .. } | EventKind::Log { .. } | EventKind::Deleted { .. } => {}
            EventKind::Progress(progress) => job.progress = Some(progress),
            EventKind::Finished { summary } => {
                job.state = JobState::Done;
                job.outcome = Some(summary);
                let key = (
                    job.request.selector.service().to_string(),
                    job.request.to.clone(),
                );
                // What the target holds changed: reload it next time it is shown.
                self.images.remove(&key);
                self.status = Loadable::Idle;
                self.commits = Loadable::Idle;
                // The promotion was recorded in the ledger.
                self.audit = Loadable::Idle;
                return self.load_screen(false);
            }
            EventKind::Failed { reason, exit_code } => {
                job.state = if exit_code == 3 {
                    JobState::Refused
                } else {
                    JobState::Failed
                };
                job.outcome = Some(reason);
            }
        }
        Vec::new()
    }

    /// The loop cancelled `job`'s task.
    pub fn on_cancelled(&mut self, job: JobId) {
        if let Some(view) = self
            .jobs
            .iter_mut()
            .find(|j| j.id == job && j.state == JobState::Running)
        {
            view.state = JobState::Cancelled;
            view.outcome = Some(
                "cancelled; no tag was written unless the promotion had reached tagging".into(),
            );
        }
    }

    pub fn on_plan_for_job(&mut self, job: JobId, plan: Plan) {
        if let Some(view) = self.jobs.iter_mut().find(|j| j.id == job) {
            view.plan = Some(plan);
        }
    }

    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }
}
