//! What every screen and dialog shares: the configured services and environments, which
//! one is chosen, lists and filters, the footer's message, and what an update asks of the
//! app (`Ask`) that only the app can do.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::dialogs::Dialog;
use super::effects::Effect;
use crate::config::keys::{Action, Keymap, Screen};
use crate::config::Config;
use crate::deploy::DeployMethod;
use crate::engine::{JobId, Plan, PromotionRequest};
use crate::registry::failure::HostFailure;

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

    /// `load`, the effect that loads it, when it must be (re)loaded: `force`, never
    /// asked, or failed last time; it is then marked as loading.
    pub fn load(&mut self, force: bool, load: Effect) -> Vec<Effect> {
        if force || matches!(self, Loadable::Idle | Loadable::Failed(_)) {
            *self = Loadable::Loading;
            vec![load]
        } else {
            Vec::new()
        }
    }

    /// Whether it has arrived, or failed to: what a dialog waits for before it closes.
    pub fn settled(&self) -> bool {
        matches!(self, Loadable::Loaded(_) | Loadable::Failed(_))
    }
}

/// A load's result, as the effects deliver it.
impl<T> From<Result<T, String>> for Loadable<T> {
    fn from(result: Result<T, String>) -> Loadable<T> {
        match result {
            Ok(value) => Loadable::Loaded(value),
            Err(reason) => Loadable::Failed(reason),
        }
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

/// Something outward changed: the app marks the views of it stale and reloads the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A promotion of `service` into `env` finished.
    Promoted {
        service: String,
        env: String,
    },
    /// A request was approved (or the approval failed: the list is read again either way).
    Approved,
    RolledBack {
        service: String,
        env: String,
    },
    Deployed,
    /// A clean-up of `service` in `env` ran, to its end or not.
    CleanedUp {
        service: String,
        env: String,
    },
}

/// What a screen or dialog asks of the app during an update; carried out right after it.
// At most a few exist at a time, and only until the update returns.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Ask {
    Open(Dialog),
    /// Close the dialog that asked.
    Close,
    /// Show another screen and load what it shows.
    Show(Screen),
    /// Ask before rolling back `service` in `env`: what it goes back to is known from
    /// this session's promotions and the loaded images.
    Rollback {
        service: String,
        env: String,
    },
    /// Start the promotion a dialog confirmed (with its plan, when it was shown).
    Promote {
        request: PromotionRequest,
        plan: Option<Plan>,
    },
    Reload(Change),
    Quit,
}

pub struct Context {
    pub keymap: Keymap,
    pub readonly: bool,
    pub services: Vec<String>,
    pub environments: Vec<EnvInfo>,
    /// `[tags] prefix`: commit tags are named first wherever an image has several.
    pub tag_prefix: String,
    pub service_idx: usize,
    pub env_idx: usize,
    pub lists: BTreeMap<Screen, ListView>,
    pub filters: BTreeMap<Screen, String>,
    pub message: Option<(Level, String)>,
    /// Environment -> how its registry failed as a whole, as the latest load that read it
    /// found; an environment whose registry answered is not here.
    pub registries: BTreeMap<String, HostFailure>,
    pub now: DateTime<Utc>,
    /// Rows the current list shows; set by the loop from the terminal size.
    pub page: usize,
    next_job: u64,
    asks: Vec<Ask>,
}

impl Context {
    pub fn new(config: &Config, readonly: bool, now: DateTime<Utc>) -> Context {
        Context {
            keymap: config.keymap.clone(),
            readonly: readonly || config.ui.readonly,
            services: config.services.iter().map(|s| s.name.clone()).collect(),
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
            tag_prefix: config.tags.prefix.clone(),
            service_idx: 0,
            env_idx: 0,
            lists: BTreeMap::new(),
            filters: BTreeMap::new(),
            message: None,
            registries: BTreeMap::new(),
            now,
            page: 20,
            // Engine job ids start at 1; the console's own ids live far above them.
            next_job: 1 << 40,
            asks: Vec::new(),
        }
    }

    pub fn service(&self) -> Option<&str> {
        self.services.get(self.service_idx).map(String::as_str)
    }

    pub fn environment(&self) -> Option<&EnvInfo> {
        self.environments.get(self.env_idx)
    }

    pub fn list(&self, screen: Screen) -> ListView {
        self.lists.get(&screen).copied().unwrap_or_default()
    }

    pub fn selected(&self, screen: Screen) -> usize {
        self.list(screen).selected
    }

    pub fn filter(&self, screen: Screen) -> &str {
        self.filters.get(&screen).map(String::as_str).unwrap_or("")
    }

    /// Whether `text` passes `screen`'s filter (case-insensitive, anywhere in it).
    pub fn matches(&self, screen: Screen, text: &str) -> bool {
        let filter = self.filter(screen);
        filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
    }

    /// Those of `items` that pass `screen`'s filter, each matched on what `text` says of it.
    pub fn filtered<'a, T: 'a>(
        &self,
        screen: Screen,
        items: impl IntoIterator<Item = &'a T>,
        text: impl Fn(&T) -> String,
    ) -> Vec<&'a T> {
        items
            .into_iter()
            .filter(|item| self.matches(screen, &text(item)))
            .collect()
    }

    /// Whether `action` may be offered: read-only hides everything that writes.
    pub fn allowed(&self, action: Action) -> bool {
        !(self.readonly && action.mutates())
    }

    /// What a load learnt of the registries it read: the failure of each that failed as a
    /// whole, `None` for each that answered.
    pub fn learn_registries(&mut self, read: Vec<(String, Option<HostFailure>)>) {
        for (env, failure) in read {
            match failure {
                Some(failure) => self.registries.insert(env, failure),
                None => self.registries.remove(&env),
            };
        }
    }

    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some((level, text.into()));
    }

    /// Keeps `screen`'s selection within its `len` rows and on the page.
    pub fn clamp(&mut self, screen: Screen, len: usize) {
        let page = self.page;
        self.lists.entry(screen).or_default().clamp(len, page);
    }

    /// Moves `screen`'s selection by `delta` within its `len` rows.
    pub fn move_selection(&mut self, screen: Screen, delta: isize, len: usize) {
        let list = self.lists.entry(screen).or_default();
        list.selected = (list.selected as isize)
            .saturating_add(delta)
            .clamp(0, len.saturating_sub(1) as isize) as usize;
        self.clamp(screen, len);
    }

    /// Selects `row` of `screen`'s `len` rows, if there is one (a mouse click).
    pub fn select_row(&mut self, screen: Screen, row: usize, len: usize) {
        if row < len {
            self.lists.entry(screen).or_default().selected = row;
            self.clamp(screen, len);
        }
    }

    /// The next service, or the previous one, round.
    pub fn cycle_service(&mut self, forward: bool) {
        if self.services.is_empty() {
            return;
        }
        let n = self.services.len();
        self.service_idx = if forward {
            (self.service_idx + 1) % n
        } else {
            (self.service_idx + n - 1) % n
        };
        self.forget_selection();
    }

    /// The next environment, or the previous one, round.
    pub fn cycle_environment(&mut self, forward: bool) {
        let n = self.environments.len().max(1);
        self.env_idx = if forward {
            (self.env_idx + 1) % n
        } else {
            (self.env_idx + n - 1) % n
        };
        self.forget_selection();
    }

    /// Another service or environment is chosen: the lists that show one start at the top.
    pub fn forget_selection(&mut self) {
        self.lists.remove(&Screen::Images);
        self.lists.remove(&Screen::Retention);
    }

    /// Environments promoted from `env` that gantry may write to.
    pub fn targets_from(&self, env: &str) -> Vec<String> {
        self.environments
            .iter()
            .filter(|e| e.from.as_deref() == Some(env) && !e.readonly)
            .map(|e| e.name.clone())
            .collect()
    }

    /// The first key bound to `action` on `screen`, as messages name it (`a`), or its `:` form.
    pub fn key_name(&self, screen: Screen, action: Action) -> String {
        self.keymap
            .bindings_for(screen)
            .into_iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map_or_else(
                || format!("the {} action", action.name()),
                |k| k.to_string(),
            )
    }

    /// A job id of the console's own (a promotion or a clean-up it starts).
    pub fn new_job(&mut self) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        id
    }

    pub fn ask(&mut self, ask: Ask) {
        self.asks.push(ask);
    }

    pub(crate) fn take_asks(&mut self) -> Vec<Ask> {
        std::mem::take(&mut self.asks)
    }
}
