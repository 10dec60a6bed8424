//! The interactive console: terminal setup, and the loop that feeds the terminal's events
//! to the console (`console::Console`) and draws it.
//!
//! One task reads the terminal, the engine reports on its channel, effects run as
//! tasks that report back; the loop drains everything pending, then draws once.

pub mod app;
pub mod chrome;
pub mod console;
pub mod context;
pub mod dialogs;
pub mod effects;
pub mod input;
pub mod prompt;
pub mod registries;
pub mod repos;
pub mod screens;
pub mod theme;
pub mod ui;
pub mod widgets;

use std::io::Stdout;
use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::config::Config;
use crate::engine::EngineError;
use console::{Console, Msg};
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

/// Opens the console on `config` and runs until the user quits; then, with the terminal
/// restored, gives notifications still being sent a bounded time to go out.
pub async fn run(config: Config, readonly: bool) -> Result<(), TuiError> {
    let base = config
        .source
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let theme = Theme::load(&config.ui.theme, &base, Theme::colour_wanted())?;
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let area = ratatui::layout::Rect::new(0, 0, size.0, size.1);
    let mut console = Console::open(config, readonly, chrono::Utc::now(), area)?;

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

    let input_tx = console.sender();
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            if input_tx.send(Msg::Term(event)).is_err() {
                return;
            }
        }
    });
    let tick_tx = console.sender();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if tick_tx.send(Msg::Tick).is_err() {
                return;
            }
        }
    });

    console.start();
    let result = loop {
        if let Err(e) = terminal.draw(|frame| ui::render(frame, &console.app, &theme)) {
            break Err(e.into());
        }
        if !console.handle_next().await {
            break Ok(());
        }
    };
    drop(terminal);
    drop(guard);
    console.close().await;
    result
}

/// Keeps the type visible to callers that hold a terminal (tests drive `App` directly).
pub type ConsoleTerminal = Terminal<CrosstermBackend<Stdout>>;
