//! The interactive console: terminal setup, the event loop, and carrying out effects.
//!
//! One task reads the terminal, the engine reports on its channel, effects run as
//! tasks that report back; the loop drains everything pending, then draws once.

pub mod app;
pub mod chrome;
pub mod context;
pub mod dialogs;
pub mod effects;
pub mod input;
pub mod prompt;
pub mod screens;
pub mod theme;
pub mod ui;
pub mod widgets;

use std::collections::HashMap;
use std::io::Stdout;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event, EventStream, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::engine::{Engine, EngineError, EngineEvent, JobId};
use app::App;
use effects::{perform, DataEvent};
use theme::Theme;

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Theme(#[from] theme::ThemeError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

// Messages are moved once through the channel; their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Term(Event),
    Engine(EngineEvent),
    Data(DataEvent),
    JobDone {
        job: JobId,
        plan: Option<Box<crate::engine::Plan>>,
    },
    Tick,
}

/// Restores the terminal when dropped, whatever ends the console.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        LeaveAlternateScreen,
        DisableMouseCapture,
        crossterm::cursor::Show
    );
}

/// Opens the console on `config` and runs until the user quits.
pub async fn run(config: Config, readonly: bool) -> Result<(), TuiError> {
    let base = config
        .source
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let theme = Theme::load(&config.ui.theme, &base, Theme::colour_wanted())?;
    let refresh = config.ui.refresh_secs;
    let mut app = App::new(&config, readonly, chrono::Utc::now());
    let (engine_tx, mut engine_rx) = mpsc::unbounded_channel();
    let mut engine = Engine::new(config)?;
    engine.subscribe(engine_tx);
    let engine = Arc::new(engine);

    // A panic must not leave the terminal raw: restore first, then report.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous_hook(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let input_tx = tx.clone();
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            if input_tx.send(Msg::Term(event)).is_err() {
                return;
            }
        }
    });
    let engine_fwd = tx.clone();
    tokio::spawn(async move {
        while let Some(event) = engine_rx.recv().await {
            if engine_fwd.send(Msg::Engine(event)).is_err() {
                return;
            }
        }
    });
    let tick_tx = tx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if tick_tx.send(Msg::Tick).is_err() {
                return;
            }
        }
    });

    let mut jobs: HashMap<JobId, JoinHandle<()>> = HashMap::new();
    let mut since_refresh = 0u64;
    let size = terminal.size()?;
    app.ctx.page = ui::page_rows(app.screen, ui::areas(size.into()).body);
    let effects = app.start();
    perform(effects, &engine, &tx, &mut jobs, &mut app);

    let result = loop {
        if let Err(e) = terminal.draw(|frame| ui::render(frame, &app, &theme)) {
            break Err(e.into());
        }
        let Some(first) = rx.recv().await else {
            break Ok(());
        };
        let mut pending = vec![first];
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        for msg in pending {
            let effects = match msg {
                Msg::Term(Event::Key(key)) => match input::chord(&key) {
                    Some(chord) => app.on_key(chord),
                    None => Vec::new(),
                },
                Msg::Term(Event::Mouse(mouse)) => {
                    let body = ui::areas(terminal.size()?.into()).body;
                    match mouse.kind {
                        MouseEventKind::ScrollDown => app.on_action(crate::keys::Action::Down),
                        MouseEventKind::ScrollUp => app.on_action(crate::keys::Action::Up),
                        MouseEventKind::Down(_) => {
                            let top = body.y + ui::list_top(app.screen);
                            if mouse.row >= top && mouse.row < body.y + body.height {
                                let offset = app.ctx.list(app.screen).offset;
                                app.click_row(offset + (mouse.row - top) as usize);
                            }
                            Vec::new()
                        }
                        _ => Vec::new(),
                    }
                }
                Msg::Term(Event::Resize(width, height)) => {
                    let area = ratatui::layout::Rect::new(0, 0, width, height);
                    app.ctx.page = ui::page_rows(app.screen, ui::areas(area).body);
                    Vec::new()
                }
                Msg::Term(_) => Vec::new(),
                Msg::Engine(event) => app.on_engine(event),
                Msg::Data(data) => app.on_data(data),
                Msg::JobDone { job, plan } => {
                    jobs.remove(&job);
                    if let Some(plan) = plan {
                        app.on_plan_for_job(job, *plan);
                    }
                    Vec::new()
                }
                Msg::Tick => {
                    app.on_tick(chrono::Utc::now());
                    since_refresh += 1;
                    if refresh > 0 && since_refresh >= refresh {
                        since_refresh = 0;
                        app.on_action(crate::keys::Action::Refresh)
                    } else {
                        Vec::new()
                    }
                }
            };
            perform(effects, &engine, &tx, &mut jobs, &mut app);
        }
        let size = terminal.size()?;
        app.ctx.page = ui::page_rows(app.screen, ui::areas(size.into()).body);
        if app.quit {
            break Ok(());
        }
    };
    for (_, job) in jobs {
        job.abort();
    }
    drop(terminal);
    drop(guard);
    result
}

/// Keeps the type visible to callers that hold a terminal (tests drive `App` directly).
pub type ConsoleTerminal = Terminal<CrosstermBackend<Stdout>>;
