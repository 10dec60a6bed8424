//! The approval dialog: everything a ledger request is about, asked before the approval
//! is recorded, so nobody approves a different image by a mistyped id.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content};
use crate::config::keys::KeyChord;
use crate::tui::context::{Ask, Context, Level};
use crate::tui::effects::Effect;
use crate::tui::screens::promotions::RequestRow;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

pub fn on_key(request: &RequestRow, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
    if cancels(chord) {
        ctx.ask(Ask::Close);
    } else if confirms(chord) {
        let id = request.id.clone();
        ctx.ask(Ask::Close);
        ctx.say(Level::Info, format!("approving {id}…"));
        return vec![Effect::Approve(id)];
    }
    Vec::new()
}

/// The request, its image and route, who asked for it and who approved it so far.
pub fn content(request: &RequestRow, theme: &Theme) -> Content {
    let mut lines = vec![
        Line::from(vec![
            Span::styled("approve request ", theme.text),
            Span::styled(request.id.clone(), theme.accent),
        ]),
        Line::from(vec![
            Span::styled(request.image(), theme.accent),
            Span::styled(format!("  {} → {}", request.from, request.to), theme.text),
        ]),
        styled_line(format!("requested by {}", request.requester), theme.text),
    ];
    let so_far = format!(
        "approvals so far: {} of {}",
        request.approvers.len(),
        request.needed
    );
    lines.push(if request.approvers.is_empty() {
        styled_line(so_far, theme.warn)
    } else {
        styled_line(
            format!("{so_far} ({})", request.approvers.join(", ")),
            theme.warn,
        )
    });
    lines.push(styled_line(
        "recorded in the ledger as this repository's git user.email; it cannot be taken back",
        theme.muted,
    ));
    Content {
        title: "Approve",
        lines,
        keys: "y/enter approve · esc cancel",
    }
}
