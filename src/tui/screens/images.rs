//! The Images screen: one service's SHA-tagged images in one environment (`]`/`[` and
//! `e`/`E` choose which), their signatures, and promoting the selected one.

use std::collections::BTreeMap;

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use crate::attestation::attached::Attached;
use crate::config::keys::{Action, Screen};
use crate::domain::{human_bytes, Digest, ImageSelector};
use crate::engine::failures::Problem;
use crate::engine::inventory::{EnvironmentImages, ImageInfo};
use crate::tui::context::{Context, Level, Loadable};
use crate::tui::dialogs::promotion::PromotionDialog;
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    age, filter_span, fitting_columns, kept_columns, placeholder, render_table, split_title,
    title_line, TableSpec,
};

/// An image's signatures as the Images screen marks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigMark {
    Signed,
    Unsigned,
    Invalid,
}

/// (service, environment): what the screen's listings are keyed by.
pub type Place = (String, String);

#[derive(Debug, Default)]
pub struct ImagesScreen {
    /// (service, environment) -> its images.
    pub listings: BTreeMap<Place, Loadable<EnvironmentImages>>,
    /// (service, environment, digest) -> what its signatures say.
    pub signatures: BTreeMap<(String, String, Digest), SigMark>,
    /// (service, environment, digest) -> what it carries, for the detail pane.
    pub attached: BTreeMap<(String, String, Digest), Result<Attached, String>>,
}

impl ImagesScreen {
    /// Loads the chosen service's images in the chosen environment.
    pub fn load(&mut self, force: bool, ctx: &Context) -> Vec<Effect> {
        let (Some(service), Some(env)) = (
            ctx.service().map(str::to_string),
            ctx.environment().map(|e| e.name.clone()),
        ) else {
            return Vec::new();
        };
        self.listings
            .entry((service.clone(), env.clone()))
            .or_default()
            .load(force, Effect::LoadImages { service, env })
    }

    /// The chosen listing's images that match the filter.
    pub fn rows(&self, ctx: &Context) -> Vec<&ImageInfo> {
        let (Some(service), Some(env)) = (ctx.service(), ctx.environment()) else {
            return Vec::new();
        };
        let Some(Loadable::Loaded(listing)) =
            self.listings.get(&(service.to_string(), env.name.clone()))
        else {
            return Vec::new();
        };
        ctx.filtered(Screen::Images, &listing.images, |i| {
            format!("{} {} {}", i.tag, i.digest, i.also_tagged.join(" "))
        })
    }

    /// The chosen listing, when it could not be read, with its error.
    pub fn problems(&self, ctx: &Context) -> Vec<Problem> {
        let (Some(service), Some(env)) = (ctx.service(), ctx.environment()) else {
            return Vec::new();
        };
        match self.listings.get(&(service.to_string(), env.name.clone())) {
            Some(Loadable::Failed(error)) => vec![Problem::new(service, &env.name, error.clone())],
            _ => Vec::new(),
        }
    }

    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        if action != Action::Promote {
            return Vec::new();
        }
        let Some(image) = self
            .rows(ctx)
            .get(ctx.selected(Screen::Images))
            .map(|i| i.tag.clone())
        else {
            ctx.say(Level::Warn, "no image selected");
            return Vec::new();
        };
        let (Some(service), Some(env)) = (ctx.service(), ctx.environment()) else {
            return Vec::new();
        };
        let selector = ImageSelector::Tag {
            service: service.to_string(),
            tag: image,
        };
        let from = env.name.clone();
        PromotionDialog::open_from(selector, from, ctx)
    }

    /// A listing arrived: asks for the signatures of what it lists.
    pub fn on_listing(
        &mut self,
        service: String,
        env: String,
        result: Result<EnvironmentImages, String>,
    ) -> Vec<Effect> {
        let digests: Vec<Digest> = match &result {
            Ok(listing) => listing.images.iter().map(|i| i.digest.clone()).collect(),
            Err(_) => Vec::new(),
        };
        self.listings
            .insert((service.clone(), env.clone()), result.into());
        if digests.is_empty() {
            return Vec::new();
        }
        vec![
            Effect::LoadAttached {
                service: service.clone(),
                env: env.clone(),
                digests: digests.clone(),
            },
            Effect::LoadSignatures {
                service,
                env,
                digests,
            },
        ]
    }

    pub fn on_signature(&mut self, service: String, env: String, digest: Digest, mark: SigMark) {
        self.signatures.insert((service, env, digest), mark);
    }

    /// What `service` in `env` holds changed: read again next time it is shown.
    pub fn forget(&mut self, place: &Place) {
        self.listings.remove(place);
    }

    /// From the loaded image list: the current image and the one before it (by creation).
    pub fn previous_image(&self, service: &str, env: &str) -> Option<((String, Digest), Digest)> {
        let listing = self
            .listings
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
    pub fn tag_of(&self, service: &str, env: &str, digest: &Digest) -> Option<String> {
        let find = |listing: &EnvironmentImages| {
            listing
                .images
                .iter()
                .find(|i| &i.digest == digest)
                .map(|i| i.tag.clone())
        };
        let own = self
            .listings
            .get(&(service.to_string(), env.to_string()))
            .and_then(Loadable::loaded)
            .and_then(find);
        own.or_else(|| {
            self.listings
                .iter()
                .filter(|((s, _), _)| s == service)
                .find_map(|(_, l)| l.loaded().and_then(find))
        })
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 2);
        let service = ctx.service().unwrap_or("-").to_string();
        let env = ctx
            .environment()
            .map(|e| e.name.clone())
            .unwrap_or_else(|| "-".into());
        let key = (service.clone(), env.clone());
        let loadable = self.listings.get(&key).cloned().unwrap_or_default();
        let repository = loadable
            .loaded()
            .map(|l| l.repository.clone())
            .unwrap_or_default();
        let mut parts = vec![
            Span::styled("service ", theme.muted),
            Span::styled(format!("‹ {service} ›"), theme.accent),
            Span::styled("   environment ", theme.muted),
            Span::styled(format!("‹ {env} ›"), theme.accent),
            Span::styled(format!("   {repository}"), theme.muted),
        ];
        parts.extend(filter_span(ctx, theme, Screen::Images));
        frame.render_widget(title_line(theme, parts), title);
        if let Some(p) = placeholder(&loadable, &format!("images of {service} in {env}"), theme) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let now = ctx.now;
        let selected = rows.get(ctx.selected(Screen::Images)).and_then(|i| {
            self.attached
                .get(&(service.clone(), env.clone(), i.digest.clone()))
        });
        // The selected image's attachments below the table, once they are read.
        let rest = match selected {
            Some(attached) if rest.height > 12 => {
                let [table, pane] = ratatui::layout::Layout::vertical([
                    ratatui::layout::Constraint::Min(4),
                    ratatui::layout::Constraint::Length(DETAIL_LINES),
                ])
                .areas(rest);
                frame.render_widget(detail_pane(attached, now, theme), pane);
                table
            }
            _ => rest,
        };
        // Narrow terminals drop platforms, then size, then the digest; the tag always stays.
        let tag_width = rows
            .iter()
            .map(|i| i.tag.chars().count())
            .max()
            .unwrap_or(0)
            .max(3) as u16;
        let columns = [
            ("TAG", tag_width, 0),
            ("DIGEST", 19, 3),
            ("PLATFORMS", 23, 5),
            ("AGE", 6, 1),
            ("SIZE", 8, 4),
            ("SIG", 3, 6),
            ("TAGS", 6, 2),
        ];
        let kept = fitting_columns(rest.width, &columns);
        let (header, widths) = kept_columns(&kept, &columns);
        let list = ctx.list(Screen::Images);
        let empty = "no SHA-tagged images here";
        let spec = TableSpec::rows(header, widths, rows.len(), list, empty);
        render_table(frame, theme, rest, spec, |i| {
            let image = rows[i];
            let cell = |c: usize| match c {
                0 => Cell::from(image.tag.clone()),
                1 => Cell::from(Span::styled(image.digest.short().to_string(), theme.muted)),
                2 => Cell::from(image.platforms.join(",")),
                3 => Cell::from(age(image.created.as_deref(), now)),
                4 => Cell::from(human_bytes(image.size)),
                5 => {
                    let key = (service.clone(), env.clone(), image.digest.clone());
                    match self.signatures.get(&key) {
                        Some(SigMark::Signed) => Cell::from(Span::styled("✓", theme.ok)),
                        Some(SigMark::Invalid) => Cell::from(Span::styled("✗", theme.error)),
                        Some(SigMark::Unsigned) => Cell::from(Span::styled("-", theme.muted)),
                        None => Cell::from(""),
                    }
                }
                _ => Cell::from(Span::styled(image.also_tagged.join(","), theme.ok)),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        });
    }
}

/// Lines of the detail pane: a rule, then SBOM, attestations, signatures, scan.
const DETAIL_LINES: u16 = 5;

/// The selected image's attachments, or why they could not be read.
fn detail_pane<'a>(
    attached: &Result<Attached, String>,
    now: chrono::DateTime<chrono::Utc>,
    theme: &Theme,
) -> ratatui::widgets::Paragraph<'a> {
    use ratatui::text::Line;
    let mut lines = vec![Line::from(Span::styled("─ attached ─", theme.muted))];
    match attached {
        Ok(attached) => {
            for (label, text) in attached.lines(now) {
                lines.push(Line::from(vec![
                    Span::styled(format!("{label:<9}"), theme.muted),
                    Span::raw(text),
                ]));
            }
        }
        Err(error) => lines.push(Line::from(Span::styled(error.clone(), theme.error))),
    }
    ratatui::widgets::Paragraph::new(lines)
}
