//! The console's state and its routing: keys become actions for the open dialog, the line
//! being typed, the current screen or the app itself; data and engine events go to the
//! screen or dialog that owns what they carry; what those ask of the app (`Ask`) is
//! carried out here.
//!
//! Nothing here touches the terminal or the network: `App::on_*` methods change state
//! and return `Effect`s for the event loop to carry out, so every transition can be
//! tested with a fixture state and a few key presses.

mod events;

use chrono::{DateTime, Utc};

use super::context::{Ask, Context};
use super::dialogs::{HotfixDialog, RollbackDialog};
use super::screens::audit::AuditScreen;
use super::screens::branches::BranchesScreen;
use super::screens::commits::CommitsScreen;
use super::screens::doctor::DoctorScreen;
use super::screens::environments::EnvironmentsScreen;
use super::screens::images::ImagesScreen;
use super::screens::promotions::{JobView, PromotionRow, PromotionsScreen};
use super::screens::promotions::{APPROVE_HERE, READONLY_APPROVE};
use super::screens::retention::RetentionScreen;
// Where the console's tests have always found them.
pub use super::context::{Level, Loadable};
pub use super::dialogs::Dialog;
pub use super::effects::{DataEvent, Effect};
pub use super::prompt::Input;
pub use super::screens::images::SigMark;
pub use super::screens::promotions::{JobState, RequestRow};
pub use super::screens::retention::RetentionRow;
use crate::config::keys::{Action, KeyChord, Screen};
use crate::config::Config;
use crate::engine::inventory::ImageInfo;
use crate::ledger::Record;

pub struct App {
    pub screen: Screen,
    /// Where `Back` returns to.
    history: Vec<Screen>,
    pub ctx: Context,
    pub input: Option<Input>,
    pub dialog: Option<Dialog>,
    pub quit: bool,
    pub images: ImagesScreen,
    pub environments: EnvironmentsScreen,
    pub commits: CommitsScreen,
    pub branches: BranchesScreen,
    pub promotions: PromotionsScreen,
    pub retention: RetentionScreen,
    pub audit: AuditScreen,
    pub doctor: DoctorScreen,
}

impl App {
    pub fn new(config: &Config, readonly: bool, now: DateTime<Utc>) -> App {
        App {
            screen: Screen::Environments,
            history: Vec::new(),
            ctx: Context::new(config, readonly, now),
            input: None,
            dialog: None,
            quit: false,
            images: ImagesScreen::default(),
            environments: EnvironmentsScreen::default(),
            commits: CommitsScreen::default(),
            branches: BranchesScreen::default(),
            promotions: PromotionsScreen::default(),
            retention: RetentionScreen::default(),
            audit: AuditScreen::default(),
            doctor: DoctorScreen::default(),
        }
    }

    /// What to load when the console opens, and every repository named by URL fetched in
    /// the background (in the services' order: the first screen's rows first).
    pub fn start(&mut self) -> Vec<Effect> {
        let mut effects = self.load_screen(true);
        effects.extend(self.fetch(self.ctx.repos.all_urls(), false));
        effects
    }

    /// Queues fetches of `urls` (marked as waiting); nothing when there are none.
    pub(super) fn fetch(&mut self, urls: Vec<String>, urgent: bool) -> Vec<Effect> {
        if urls.is_empty() {
            return Vec::new();
        }
        self.ctx.repos.queued(&urls);
        vec![Effect::Fetch { urls, urgent }]
    }

    /// The repositories the current screen shows: fetched again by `ctrl-r`, first in line
    /// when waiting.
    fn shown_urls(&self) -> Vec<String> {
        match self.screen {
            Screen::Environments => {
                let rows = self.environments.rows(&self.ctx);
                let list = self.ctx.list(Screen::Environments);
                let visible: Vec<&str> = rows
                    .into_iter()
                    .skip(list.offset)
                    .take(self.ctx.page.max(1))
                    .collect();
                self.ctx.repos.urls(&visible)
            }
            Screen::Commits | Screen::Branches => match self.ctx.git_service() {
                Some(service) => self.ctx.repos.urls(&[service]),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The screen whose keys the help screen lists: the one it was opened from.
    pub fn help_for(&self) -> Screen {
        if self.screen == Screen::Help {
            self.history.last().copied().unwrap_or(Screen::Environments)
        } else {
            self.screen
        }
    }

    // ---- keys and actions ---------------------------------------------------------

    pub fn on_key(&mut self, chord: KeyChord) -> Vec<Effect> {
        // ctrl-c leaves from anywhere, even a dialog or a half-typed filter.
        if chord == KeyChord::ctrl('c') {
            self.quit = true;
            return vec![Effect::Quit];
        }
        if self.input.is_some() {
            let effects = super::prompt::on_key(&mut self.input, chord, &mut self.ctx);
            return self.settle(effects);
        }
        if let Some(dialog) = self.dialog.as_mut() {
            let effects = dialog.on_key(chord, &mut self.ctx);
            return self.settle(effects);
        }
        match self.ctx.keymap.lookup(self.screen, chord) {
            Some(action) => self.on_action(action),
            None => Vec::new(),
        }
    }

    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        if !self.ctx.allowed(action) {
            let refusal = match action {
                // As the palette's `:approve` says it.
                Action::Approve => READONLY_APPROVE.to_string(),
                _ => format!("read-only: {} is disabled", action.description()),
            };
            self.ctx.say(Level::Warn, refusal);
            return Vec::new();
        }
        self.ctx.message = None;
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
                if !self.ctx.filter(self.screen).is_empty() {
                    self.ctx.filters.remove(&self.screen);
                } else if let Some(previous) = self.history.pop() {
                    self.screen = previous;
                }
                Vec::new()
            }
            Action::Refresh | Action::RefreshFresh => {
                // ctrl-r fetches too: the matrix every repository, visible rows first; a
                // git screen the one it shows, before anything waiting.
                let (urls, urgent) = match self.screen {
                    Screen::Environments => {
                        let mut urls = self.shown_urls();
                        for url in self.ctx.repos.all_urls() {
                            if !urls.contains(&url) {
                                urls.push(url);
                            }
                        }
                        (urls, false)
                    }
                    _ => (self.shown_urls(), true),
                };
                let mut effects = self.load_screen(true);
                if action == Action::RefreshFresh {
                    effects = effects
                        .into_iter()
                        .map(|effect| Effect::Fresh(Box::new(effect)))
                        .collect();
                }
                effects.extend(self.fetch(urls, urgent));
                effects
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.ctx.page as isize)),
            Action::PageDown => self.move_by(self.ctx.page as isize),
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
            Action::ShowDoctor => self.switch(Screen::Doctor),
            Action::Filter => {
                if self.screen != Screen::Help {
                    let text = self.ctx.filter(self.screen).to_string();
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
            Action::NextService | Action::PrevService => {
                self.ctx.cycle_service(action == Action::NextService);
                let mut effects = self.load_screen(false);
                let shown = self.shown_urls();
                if !shown.is_empty() {
                    effects.push(Effect::PreferFetch(shown));
                }
                effects
            }
            // The matrix moves its own column; elsewhere the environment shown changes.
            Action::NextEnvironment | Action::PrevEnvironment
                if self.screen == Screen::Environments =>
            {
                self.update_screen(action)
            }
            Action::NextEnvironment | Action::PrevEnvironment => {
                self.ctx
                    .cycle_environment(action == Action::NextEnvironment);
                self.load_screen(false)
            }
            Action::StartHotfix => {
                self.dialog = Some(Dialog::Hotfix(HotfixDialog::default()));
                Vec::new()
            }
            Action::Select
            | Action::Promote
            | Action::Rollback
            | Action::CancelJob
            | Action::CutRelease
            | Action::CleanUp
            | Action::Deploy
            | Action::Approve
            | Action::Sort => self.update_screen(action),
        }
    }

    /// An action the current screen owns.
    fn update_screen(&mut self, action: Action) -> Vec<Effect> {
        let ctx = &mut self.ctx;
        let effects = match self.screen {
            Screen::Promotions => self.promotions.update(action, ctx),
            // Requests are listed, so approved, on one screen only.
            _ if action == Action::Approve => {
                ctx.say(Level::Warn, APPROVE_HERE);
                Vec::new()
            }
            Screen::Images => self.images.update(action, ctx),
            Screen::Environments => self.environments.update(action, ctx),
            Screen::Commits => self.commits.update(action, ctx),
            Screen::Branches => self.branches.update(action, ctx),
            Screen::Retention => self.retention.update(action, ctx),
            Screen::Audit | Screen::Doctor | Screen::Help => Vec::new(),
        };
        self.settle(effects)
    }

    /// Carries out what the update that returned `effects` asked of the app, in order;
    /// their effects come after the update's own.
    fn settle(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        let mut asks = self.ctx.take_asks();
        while !asks.is_empty() {
            for ask in asks {
                self.carry_out(ask, &mut effects);
            }
            asks = self.ctx.take_asks();
        }
        effects
    }

    fn carry_out(&mut self, ask: Ask, effects: &mut Vec<Effect>) {
        match ask {
            Ask::Open(dialog) => self.dialog = Some(dialog),
            Ask::Close => self.dialog = None,
            Ask::Show(screen) => effects.extend(self.switch(screen)),
            Ask::Rollback { service, env } => {
                let (promotions, images) = (&self.promotions, &self.images);
                if let Some(dialog) =
                    RollbackDialog::open(service, env, promotions, images, &mut self.ctx)
                {
                    self.dialog = Some(Dialog::Rollback(dialog));
                }
            }
            Ask::Promote { request, plan } => {
                self.go(Screen::Promotions);
                effects.extend(self.promotions.start(request, plan, &mut self.ctx));
            }
            Ask::Reload(change) => effects.extend(self.reload_after(change)),
            Ask::Quit => {
                self.quit = true;
                effects.push(Effect::Quit);
            }
        }
    }

    // ---- navigation ---------------------------------------------------------------

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
        match self.screen {
            Screen::Images => self.images.load(force, &self.ctx),
            Screen::Environments => self.environments.load(force),
            Screen::Commits => {
                let mut effects = self.commits.load(force, &self.ctx);
                effects.extend(self.branches.load_labels(force, &self.ctx));
                effects
            }
            Screen::Branches => self.branches.load(force, &self.ctx),
            Screen::Promotions => self.promotions.load(force),
            Screen::Retention => self.retention.load(force, &self.ctx),
            Screen::Audit => self.audit.load(force),
            Screen::Doctor => self.doctor.load(force),
            Screen::Help => Vec::new(),
        }
    }

    /// Row count of `screen`'s list, after filtering.
    pub fn row_count(&self, screen: Screen) -> usize {
        let ctx = &self.ctx;
        match screen {
            Screen::Images => self.images.rows(ctx).len(),
            Screen::Environments => self.environments.rows(ctx).len(),
            Screen::Commits => self.commits.rows(ctx).len(),
            Screen::Branches => self.branches.rows(ctx).len(),
            Screen::Promotions => self.promotions.rows(ctx).len(),
            Screen::Retention => self.retention.rows(ctx).len(),
            Screen::Audit => self.audit.rows(ctx).len(),
            Screen::Doctor => self.doctor.rows(ctx).len(),
            Screen::Help => 0,
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        let len = self.row_count(self.screen);
        self.ctx.move_selection(self.screen, delta, len);
        // Scrolling the matrix brings the rows now shown to the front of the fetches.
        if self.screen == Screen::Environments && self.ctx.repos.polyrepo {
            let shown = self.shown_urls();
            if !shown.is_empty() {
                return vec![Effect::PreferFetch(shown)];
            }
        }
        Vec::new()
    }

    /// Selects row `row` of the current list (a mouse click).
    pub fn click_row(&mut self, row: usize) {
        let len = self.row_count(self.screen);
        self.ctx.select_row(self.screen, row, len);
    }

    /// Keeps the current screen's selection within its rows.
    fn clamp_current(&mut self) {
        let len = self.row_count(self.screen);
        self.ctx.clamp(self.screen, len);
    }

    // ---- the rows the tests and the footer ask about ---------------------------------

    pub fn service_rows(&self) -> Vec<&str> {
        self.environments.rows(&self.ctx)
    }

    pub fn image_rows(&self) -> Vec<&ImageInfo> {
        self.images.rows(&self.ctx)
    }

    pub fn retention_rows(&self) -> Vec<RetentionRow<'_>> {
        self.retention.rows(&self.ctx)
    }

    pub fn audit_rows(&self) -> Vec<&Record> {
        self.audit.rows(&self.ctx)
    }

    pub fn request_rows(&self) -> Vec<&RequestRow> {
        self.promotions.request_rows(&self.ctx)
    }

    pub fn job_rows(&self) -> Vec<&JobView> {
        self.promotions.job_rows(&self.ctx)
    }

    pub fn promotion_rows(&self) -> Vec<PromotionRow<'_>> {
        self.promotions.rows(&self.ctx)
    }

    pub fn selected_request(&self) -> Option<&RequestRow> {
        self.promotions.selected_request(&self.ctx)
    }

    /// One line per registry that failed as a whole, for the registries the current
    /// screen read: they stand in for the errors of the cells they left unread.
    pub fn registry_lines(&self) -> Vec<String> {
        let ctx = &self.ctx;
        let problems = match self.screen {
            Screen::Environments => self.environments.problems(ctx),
            Screen::Commits => self.commits.problems(),
            Screen::Images => self.images.problems(ctx),
            _ => return Vec::new(),
        };
        super::registries::lines(&problems, ctx)
    }

    /// Whether the current selection takes `action`: the footer offers only what applies
    /// to the selected row (the help screen still lists every key).
    pub fn applies(&self, action: Action) -> bool {
        if self.screen != Screen::Promotions {
            return action != Action::Approve;
        }
        self.promotions.applies(action, &self.ctx)
    }
}
