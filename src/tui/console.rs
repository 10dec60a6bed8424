//! The console without its terminal: the app, the engine it drives, and the messages that
//! reach it (keys, mouse, engine reports, loaded data, ticks). `tui::run` feeds it the
//! terminal's events and draws `app` after each batch; tests drive it the same way.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{Event, MouseEventKind};
use ratatui::layout::Rect;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::app::App;
use super::effects::{perform, DataEvent, Effect, Loads};
use super::{input, ui};
use crate::config::keys::{Action, KeyChord};
use crate::config::Config;
use crate::engine::{Engine, EngineError, EngineEvent, JobId, Plan};
use crate::git::fleet::{Depth, FetchJob, FetchQueue, RECENT_COMMITS};

/// What reaches the console, in the order it arrived.
// Messages are moved once through the channel; their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    Term(Event),
    Engine(EngineEvent),
    Data(DataEvent),
    /// A promotion's task ended (with its plan, when it got that far).
    JobDone {
        job: JobId,
        plan: Option<Box<Plan>>,
    },
    /// A second passed.
    Tick,
}

pub struct Console {
    pub app: App,
    engine: Arc<Engine>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    jobs: HashMap<JobId, JoinHandle<()>>,
    /// Loads a newer one replaces (the matrix's).
    loads: Loads,
    /// The terminal's size: what the lists page by and mouse clicks land in.
    area: Rect,
    /// `[ui] refresh_secs`; 0: never reloads by itself.
    refresh_secs: u64,
    since_refresh: u64,
    /// Fetches of service repositories named by URL, in the background; `None` when no
    /// service names one.
    fetches: Option<FetchQueue>,
    /// The branch names each URL is fetched with.
    fetch_jobs: Vec<FetchJob>,
}

impl Console {
    /// The console on `config` in a terminal of `area`, the engine's reports coming in;
    /// nothing is loaded before `start`. Must be called on a tokio runtime.
    pub fn open(
        config: Config,
        readonly: bool,
        now: DateTime<Utc>,
        area: Rect,
    ) -> Result<Console, EngineError> {
        let mut app = App::new(&config, readonly, now);
        let refresh_secs = config.ui.refresh_secs;
        let (engine_tx, mut engine_rx) = mpsc::unbounded_channel();
        let mut engine = Engine::new(config)?;
        engine.subscribe(engine_tx);
        // The console never waits for a fetch: mirrors are read as they are, and fetched
        // in the background.
        engine.fetch_in_background();
        let (tx, rx) = mpsc::unbounded_channel();
        let fetch_jobs = engine.fetch_jobs(&engine.service_repos(), Depth::Full);
        let fetches = (!fetch_jobs.is_empty()).then(|| {
            let mirrors = engine.mirrors();
            app.ctx.repos.learn_fetched(|url| mirrors.fetched_at(url));
            let report_tx = tx.clone();
            FetchQueue::new(
                mirrors,
                engine.config().git.fetch_concurrency,
                move |report| {
                    let _ = report_tx.send(Msg::Data(DataEvent::Fetched(report)));
                },
            )
        });
        let engine_fwd = tx.clone();
        tokio::spawn(async move {
            while let Some(event) = engine_rx.recv().await {
                if engine_fwd.send(Msg::Engine(event)).is_err() {
                    return;
                }
            }
        });
        Ok(Console {
            app,
            engine: Arc::new(engine),
            tx,
            rx,
            jobs: HashMap::new(),
            loads: Loads::default(),
            area,
            refresh_secs,
            since_refresh: 0,
            fetches,
            fetch_jobs,
        })
    }

    /// Loads stopped because a newer one replaced them, since the last call; each
    /// handle ends as cancelled once the load has stopped.
    pub fn take_superseded_loads(&mut self) -> Vec<JoinHandle<()>> {
        self.loads.take_superseded()
    }

    /// Where the terminal's events and ticks go.
    pub fn sender(&self) -> mpsc::UnboundedSender<Msg> {
        self.tx.clone()
    }

    /// Loads what the first screen shows.
    pub fn start(&mut self) {
        self.fit_page();
        let effects = self.app.start();
        self.perform(effects);
    }

    /// A key, as if it came from the terminal.
    pub fn press(&mut self, chord: KeyChord) {
        let effects = self.app.on_key(chord);
        self.perform(effects);
        self.fit_page();
    }

    /// Waits for the next message, takes every other one pending, and carries out what
    /// they ask. False once the user quit, or when nothing can arrive any more.
    pub async fn handle_next(&mut self) -> bool {
        let Some(first) = self.rx.recv().await else {
            return false;
        };
        let mut pending = vec![first];
        while let Ok(more) = self.rx.try_recv() {
            pending.push(more);
        }
        for msg in pending {
            let effects = self.on_msg(msg);
            self.perform(effects);
        }
        self.fit_page();
        !self.app.quit
    }

    /// The console is closing: promotions still running are stopped, and notifications
    /// still being sent get at most `engine::notify::FLUSH_AT_EXIT`, as after a headless
    /// command. How many were abandoned.
    pub async fn close(mut self) -> usize {
        for (_, job) in self.jobs {
            job.abort();
        }
        self.loads.stop_all();
        self.engine.flush_notifications().await
    }

    fn on_msg(&mut self, msg: Msg) -> Vec<Effect> {
        let app = &mut self.app;
        match msg {
            Msg::Term(Event::Key(key)) => match input::chord(&key) {
                Some(chord) => app.on_key(chord),
                None => Vec::new(),
            },
            Msg::Term(Event::Mouse(mouse)) => match mouse.kind {
                MouseEventKind::ScrollDown => app.on_action(Action::Down),
                MouseEventKind::ScrollUp => app.on_action(Action::Up),
                MouseEventKind::Down(_) => {
                    let body = ui::areas_of(app, self.area).body;
                    let top = body.y + ui::list_top(app.screen);
                    if mouse.row >= top && mouse.row < body.y + body.height {
                        let offset = app.ctx.list(app.screen).offset;
                        app.click_row(offset + (mouse.row - top) as usize);
                    }
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Msg::Term(Event::Resize(width, height)) => {
                self.area = Rect::new(0, 0, width, height);
                Vec::new()
            }
            Msg::Term(_) => Vec::new(),
            Msg::Engine(event) => app.on_engine(event),
            Msg::Data(data) => app.on_data(data),
            Msg::JobDone { job, plan } => {
                self.jobs.remove(&job);
                if let Some(plan) = plan {
                    app.on_plan_for_job(job, *plan);
                }
                Vec::new()
            }
            Msg::Tick => {
                app.on_tick(Utc::now());
                self.since_refresh += 1;
                if self.refresh_secs > 0 && self.since_refresh >= self.refresh_secs {
                    self.since_refresh = 0;
                    app.on_action(Action::Refresh)
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn perform(&mut self, mut effects: Vec<Effect>) {
        // Fetches go to the queue this loop owns; the rest become tasks.
        effects.retain(|effect| match effect {
            Effect::Fetch { urls, urgent } => {
                if let Some(queue) = &self.fetches {
                    // In the order asked: the rows shown first. A repository never fetched
                    // is cloned with its recent history first (the matrix needs no more,
                    // and the fleet is readable sooner); the app then asks for the rest.
                    let mirrors = self.engine.mirrors();
                    let jobs = urls
                        .iter()
                        .filter_map(|url| self.fetch_jobs.iter().find(|j| &j.url == url))
                        .map(|job| FetchJob {
                            depth: match mirrors.fetched_at(&job.url) {
                                None => Depth::Recent(RECENT_COMMITS),
                                Some(_) => Depth::Full,
                            },
                            ..job.clone()
                        })
                        .collect();
                    queue.push(jobs, *urgent);
                }
                false
            }
            Effect::PreferFetch(urls) => {
                if let Some(queue) = &self.fetches {
                    queue.prefer(urls);
                }
                false
            }
            _ => true,
        });
        perform(
            effects,
            &self.engine,
            &self.tx,
            &mut self.jobs,
            &mut self.loads,
            &mut self.app,
        );
    }

    /// Sizes the current list's page to what the terminal shows of it.
    fn fit_page(&mut self) {
        self.app.ctx.page = ui::page_of(&self.app, self.area);
    }
}
