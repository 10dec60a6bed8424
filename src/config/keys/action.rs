//! What a key can do in the console (`Action`) and where (`Screen`), with the snake_case
//! names `[keys]` uses and the descriptions the help screen shows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything a key can do in the console. Names (snake_case) are what `[keys]` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Back,
    Refresh,
    /// Reload, reading every tag from the registries rather than the tag cache.
    RefreshFresh,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextScreen,
    PrevScreen,
    ShowCommits,
    ShowBranches,
    ShowImages,
    ShowEnvironments,
    ShowPromotions,
    ShowRetention,
    ShowAudit,
    ShowDoctor,
    Filter,
    Palette,
    Select,
    NextService,
    PrevService,
    NextEnvironment,
    PrevEnvironment,
    Promote,
    Rollback,
    CancelJob,
    CutRelease,
    StartHotfix,
    CleanUp,
    Deploy,
    Approve,
    /// Cycle the order of a list's rows (the Environments matrix).
    Sort,
}

impl Action {
    pub const ALL: [Action; 37] = [
        Action::Quit,
        Action::Help,
        Action::Back,
        Action::Refresh,
        Action::RefreshFresh,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::NextScreen,
        Action::PrevScreen,
        Action::ShowCommits,
        Action::ShowBranches,
        Action::ShowImages,
        Action::ShowEnvironments,
        Action::ShowPromotions,
        Action::ShowRetention,
        Action::ShowAudit,
        Action::ShowDoctor,
        Action::Filter,
        Action::Palette,
        Action::Select,
        Action::NextService,
        Action::PrevService,
        Action::NextEnvironment,
        Action::PrevEnvironment,
        Action::Promote,
        Action::Rollback,
        Action::CancelJob,
        Action::CutRelease,
        Action::StartHotfix,
        Action::CleanUp,
        Action::Deploy,
        Action::Approve,
        Action::Sort,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Back => "back",
            Action::Refresh => "refresh",
            Action::RefreshFresh => "refresh_fresh",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::NextScreen => "next_screen",
            Action::PrevScreen => "prev_screen",
            Action::ShowCommits => "show_commits",
            Action::ShowBranches => "show_branches",
            Action::ShowImages => "show_images",
            Action::ShowEnvironments => "show_environments",
            Action::ShowPromotions => "show_promotions",
            Action::ShowRetention => "show_retention",
            Action::ShowAudit => "show_audit",
            Action::ShowDoctor => "show_doctor",
            Action::Filter => "filter",
            Action::Palette => "palette",
            Action::Select => "select",
            Action::NextService => "next_service",
            Action::PrevService => "prev_service",
            Action::NextEnvironment => "next_environment",
            Action::PrevEnvironment => "prev_environment",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::CancelJob => "cancel_job",
            Action::CutRelease => "cut_release",
            Action::StartHotfix => "start_hotfix",
            Action::CleanUp => "clean_up",
            Action::Deploy => "deploy",
            Action::Approve => "approve",
            Action::Sort => "sort",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the help screen and footer say.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help: every key of this screen",
            Action::Back => "back / close",
            Action::Refresh => "reload from the registries",
            Action::RefreshFresh => "reload, every tag re-read",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::NextScreen => "next screen",
            Action::PrevScreen => "previous screen",
            Action::ShowCommits => "commits",
            Action::ShowBranches => "branches",
            Action::ShowImages => "images",
            Action::ShowEnvironments => "environments",
            Action::ShowPromotions => "promotions",
            Action::ShowRetention => "retention: clean-up plans",
            Action::ShowAudit => "audit: the ledger's records",
            Action::ShowDoctor => "doctor: check the set-up",
            Action::Filter => "filter this list",
            Action::Palette => "command palette",
            Action::Select => "open / details",
            Action::NextService => "next service",
            Action::PrevService => "previous service",
            Action::NextEnvironment => "next environment",
            Action::PrevEnvironment => "previous environment",
            Action::Promote => "promote the selected image",
            Action::Rollback => "roll back to the previous digest",
            Action::CancelJob => "cancel the selected promotion",
            Action::CutRelease => "cut a release branch here",
            Action::StartHotfix => "start a hotfix branch",
            Action::CleanUp => "delete what the plan deletes (asks first)",
            Action::Deploy => "deploy what the environment runs (shows the change first)",
            Action::Approve => "approve the selected request (asks first)",
            Action::Sort => "sort rows: as configured, by name, attention first",
        }
    }

    /// Actions that change a registry or a repository: hidden and refused when read-only.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Promote
                | Action::Rollback
                | Action::CancelJob
                | Action::CutRelease
                | Action::StartHotfix
                | Action::CleanUp
                | Action::Deploy
                | Action::Approve
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The console's screens, in tab order. Names key the per-screen `[keys.<screen>]` tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Screen {
    Commits,
    Branches,
    Images,
    Environments,
    Promotions,
    Retention,
    Audit,
    /// `gantry doctor`'s checks; not a tab: `!` or `:doctor` opens it.
    Doctor,
    Help,
}

impl Screen {
    pub const ALL: [Screen; 9] = [
        Screen::Commits,
        Screen::Branches,
        Screen::Images,
        Screen::Environments,
        Screen::Promotions,
        Screen::Retention,
        Screen::Audit,
        Screen::Doctor,
        Screen::Help,
    ];

    /// The screens tab and the number keys cycle through, in order: those `ALL` lists
    /// before the doctor and help, which are apart.
    pub const TABS: &'static [Screen] = Screen::ALL.split_at(7).0;

    pub fn name(self) -> &'static str {
        match self {
            Screen::Commits => "commits",
            Screen::Branches => "branches",
            Screen::Images => "images",
            Screen::Environments => "environments",
            Screen::Promotions => "promotions",
            Screen::Retention => "retention",
            Screen::Audit => "audit",
            Screen::Doctor => "doctor",
            Screen::Help => "help",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Commits => "Commits",
            Screen::Branches => "Branches",
            Screen::Images => "Images",
            Screen::Environments => "Environments",
            Screen::Promotions => "Promotions",
            Screen::Retention => "Retention",
            Screen::Audit => "Audit",
            Screen::Doctor => "Doctor",
            Screen::Help => "Help",
        }
    }

    pub fn from_name(name: &str) -> Option<Screen> {
        Screen::ALL.into_iter().find(|s| s.name() == name)
    }
}
