//! The rollback dialog: the environment's mutable tag goes back to the image it pointed
//! at before; it names both images and asks first.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content};
use crate::config::keys::KeyChord;
use crate::domain::Digest;
use crate::tui::context::{Ask, Context, Level};
use crate::tui::effects::Effect;
use crate::tui::screens::images::ImagesScreen;
use crate::tui::screens::promotions::PromotionsScreen;
use crate::tui::theme::Theme;

#[derive(Debug, Clone)]
pub struct RollbackDialog {
    pub service: String,
    pub env: String,
    /// The image the mutable tag points at now (its tag and digest), when known.
    pub current: Option<(String, Digest)>,
    /// The image it goes back to.
    pub to: (String, Digest),
}

impl RollbackDialog {
    /// What rolling `service` back in `env` would do, or why it cannot (said in `ctx`).
    /// The last promotion of this session that moved the tag knows where it was; else
    /// the loaded image list does.
    pub fn open(
        service: String,
        env: String,
        promotions: &PromotionsScreen,
        images: &ImagesScreen,
        ctx: &mut Context,
    ) -> Option<RollbackDialog> {
        if ctx.environments.iter().any(|e| e.name == env && e.readonly) {
            ctx.say(
                Level::Warn,
                format!("{env} is read-only: nothing is rolled back there"),
            );
            return None;
        }
        let previous = promotions
            .last_move(&service, &env)
            .or_else(|| images.previous_image(&service, &env));
        let Some((current, to_digest)) = previous else {
            ctx.say(
                Level::Warn,
                format!("no earlier image of {service} in {env} is known: open Images for {env} to load them"),
            );
            return None;
        };
        let to_tag = images
            .tag_of(&service, &env, &to_digest)
            .unwrap_or_else(|| to_digest.short().to_string());
        Some(RollbackDialog {
            service,
            env,
            current: Some(current),
            to: (to_tag, to_digest),
        })
    }

    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        if cancels(chord) {
            ctx.ask(Ask::Close);
        } else if confirms(chord) {
            ctx.ask(Ask::Close);
            ctx.say(Level::Info, "rolling back…");
            return vec![Effect::Rollback {
                service: self.service.clone(),
                env: self.env.clone(),
                to: self.to.1.clone(),
            }];
        }
        Vec::new()
    }

    pub fn content(&self, theme: &Theme) -> Content {
        let RollbackDialog {
            service,
            env,
            current,
            to,
        } = self;
        let mut lines = vec![Line::from(vec![
            Span::styled("roll back ", theme.text),
            Span::styled(service.clone(), theme.accent),
            Span::styled(format!(" in {env}"), theme.text),
        ])];
        if let Some((tag, digest)) = current {
            lines.push(Line::from(format!("now     {tag} {}", digest.short())));
        }
        // Without a known tag the digest stands alone, once.
        let back_to = if to.0 == to.1.short() {
            to.0.clone()
        } else {
            format!("{} {}", to.0, to.1.short())
        };
        lines.push(Line::from(Span::styled(
            format!("back to {back_to}"),
            theme.warn,
        )));
        lines.push(Line::from(Span::styled(
            "only the mutable tag moves; nothing is copied",
            theme.muted,
        )));
        Content {
            title: "Rollback",
            lines,
            keys: "y/enter roll back · esc cancel",
        }
    }
}
