//! Dialogs: a question the user must answer before anything outward happens, or what an
//! outward action did. At most one is open; it takes every key until it closes. Each
//! owns its state and its keys, and says what it shows (`Content`); this module routes
//! keys to the open one and draws it in a box.

pub mod approve;
pub mod cleanup;
pub mod deploy;
pub mod hotfix;
pub mod job;
pub mod promotion;
pub mod release;
pub mod rollback;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::context::Context;
use super::effects::Effect;
use super::screens::promotions::{JobView, RequestRow};
use super::theme::Theme;
use super::widgets::{centered, wrapped_rows};
use crate::config::keys::{Key, KeyChord};
use crate::engine::JobId;
pub use cleanup::CleanUpDialog;
pub use deploy::DeployDialog;
pub use hotfix::HotfixDialog;
pub use promotion::PromotionDialog;
pub use release::ReleaseDialog;
pub use rollback::RollbackDialog;

// At most one exists at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Dialog {
    Promotion(PromotionDialog),
    Rollback(RollbackDialog),
    Release(ReleaseDialog),
    Hotfix(HotfixDialog),
    /// Details of a finished or running promotion.
    Job(JobId),
    Deploy(DeployDialog),
    /// Approving a ledger request: what is approved, asked before anything is recorded.
    Approve(RequestRow),
    CleanUp(CleanUpDialog),
}

/// What a dialog shows: a title, its lines, and the keys it takes (on the bottom border).
pub struct Content {
    pub title: &'static str,
    pub lines: Vec<Line<'static>>,
    pub keys: &'static str,
}

/// `y` or enter.
pub fn confirms(chord: KeyChord) -> bool {
    matches!(chord.key, Key::Enter) || chord == KeyChord::plain(Key::Char('y'))
}

/// `n` or esc.
pub fn cancels(chord: KeyChord) -> bool {
    matches!(chord.key, Key::Esc) || chord == KeyChord::plain(Key::Char('n'))
}

impl Dialog {
    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        match self {
            Dialog::Promotion(dialog) => dialog.on_key(chord, ctx),
            Dialog::Rollback(dialog) => dialog.on_key(chord, ctx),
            Dialog::Release(dialog) => dialog.on_key(chord, ctx),
            Dialog::Hotfix(dialog) => dialog.on_key(chord, ctx),
            Dialog::Job(_) => job::on_key(chord, ctx),
            Dialog::Deploy(dialog) => dialog.on_key(chord, ctx),
            Dialog::Approve(request) => approve::on_key(request, chord, ctx),
            Dialog::CleanUp(dialog) => dialog.on_key(chord, ctx),
        }
    }

    /// Draws the dialog over the screen; `jobs` are the promotions a job dialog shows.
    pub fn render(&self, frame: &mut Frame, ctx: &Context, jobs: &[JobView], theme: &Theme) {
        let content = match self {
            Dialog::Promotion(dialog) => dialog.content(theme),
            Dialog::Rollback(dialog) => dialog.content(theme),
            Dialog::Release(dialog) => dialog.content(theme),
            Dialog::Hotfix(dialog) => dialog.content(theme),
            Dialog::Job(id) => match job::content(*id, jobs, theme) {
                Some(content) => content,
                None => return,
            },
            Dialog::Deploy(dialog) => dialog.content(theme),
            Dialog::Approve(request) => approve::content(request, theme),
            Dialog::CleanUp(dialog) => dialog.content(&ctx.tag_prefix, theme),
        };
        render_box(frame, content, theme);
    }
}

fn render_box(frame: &mut Frame, content: Content, theme: &Theme) {
    let Content { title, lines, keys } = content;
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(96);
    // Wrapped rows, so a long refusal is not cut; the header and footer stay visible.
    let inner = width.saturating_sub(2) as usize;
    let rows: usize = lines.iter().map(|l| wrapped_rows(l, inner)).sum();
    let height = u16::try_from(rows)
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    // The keys sit on the bottom border: they show however little room there is.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title))
        .title_bottom(Span::styled(format!(" {keys} "), theme.muted));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .style(Style::default()),
        rect,
    );
}
