//! The command line's shape: every subcommand and flag, as clap parses them and `--help`
//! shows them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::{git_commands, ledger_commands, signing_commands};

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about = "Promote the exact image you built through your environments"
)]
pub struct Cli {
    /// Configuration file (else $GANTRY_CONFIG, ./gantry.toml, $XDG_CONFIG_HOME/gantry/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Console: hide and refuse everything that changes a registry or a repository
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Every registry error in full, not one line per registry
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Read every tag from the registries, not from the tag cache (and refresh the cache)
    #[arg(long, global = true)]
    pub fresh: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy images to an environment, keeping their digest, then tag them there
    Promote {
        /// service:sha-2b2e927 (tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Print the plan and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Promote through a freeze window; the reason is recorded in the ledger
        #[arg(long, value_name = "REASON")]
        override_freeze: Option<String>,
        /// Machine-readable output on stdout
        #[arg(long)]
        json: bool,
    },
    /// Why a promotion would pass or be refused: every gate of the target, and what would satisfy it
    Why {
        /// service:sha-2b2e927, service:2b2e927 or service@sha256:<hex>
        image: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// SHA-tagged images of a service, per environment
    Images {
        service: String,
        /// Only this environment
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The service x environment matrix
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Commits of a branch (develop by default), each with its images per environment
    Commits {
        /// The service whose repository to list (default: [git] path's)
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// Branch to list (default: [git] develop)
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// How many commits, newest first
        #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// develop, main, release and hotfix branches: heads, ahead/behind develop and main
    Branches {
        /// The service whose repository to read (default: [git] path's)
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Fetch the services' repositories named by URL into their mirrors (all by default)
    Fetch {
        /// Only this service's repository (repeatable)
        #[arg(long, value_name = "NAME")]
        service: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The commits promoting SERVICE from one environment to another would bring
    Diff {
        service: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Release branches
    Release {
        #[command(subcommand)]
        command: git_commands::ReleaseCommand,
    },
    /// Hotfix branches
    Hotfix {
        #[command(subcommand)]
        command: git_commands::HotfixCommand,
    },
    /// Clean up old images by each environment's retention policy, never what is deployed
    Gc {
        /// Only this environment (default: every environment with a retention policy)
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Only this service
        #[arg(long, value_name = "S")]
        service: Option<String>,
        /// Delete what the plan says (default: print the plan, change nothing)
        #[arg(long)]
        execute: bool,
        #[arg(long)]
        json: bool,
    },
    /// A sandbox: local registries with images and a config, to try gantry on
    Demo {
        /// Where to build it (default: a new temporary directory)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Build the sandbox, print how to use it, and exit without serving (registries stop)
        #[arg(long, hide = true)]
        no_wait: bool,
        /// Keep the registries up and print commands instead of opening the console
        #[arg(long)]
        no_tui: bool,
        /// One repository per service (two behind file:// URLs, one read in place) and the
        /// ledger in a repository of its own
        #[arg(long)]
        polyrepo: bool,
    },
    /// Cosign-compatible signing keys
    Keys {
        #[command(subcommand)]
        command: signing_commands::KeysCommand,
    },
    /// Print or save the SBOM attached to an image (a referrer, a buildx attestation or
    /// cosign's .sbom tag): SPDX first unless --format says otherwise
    Sbom {
        /// service:sha-2b2e927 (any tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(value_name = "IMAGE")]
        image: String,
        /// The environment to read it in (default: the first one)
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// spdx or cyclonedx
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Write it here instead of printing it
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check an image's cosign signatures in an environment and, where the environment
    /// has attest = true, its promotion attestation (exit 3: unsigned, invalid or unattested)
    Verify {
        /// service:sha-2b2e927 (any tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(value_name = "IMAGE")]
        image: String,
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Trust this public key (PEM) instead of the configured ones
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Ask for a promotion that needs approvals: records the image's digest now
    Request {
        /// service:sha-2b2e927 (tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(value_name = "IMAGE")]
        image: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request, as git's user.email (never your own request, once per person)
    Approve {
        /// The request's id (or at least its first 6 digits)
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Requests waiting for approvals or for `gantry execute`
    Requests {
        /// Include requests already carried out
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Promote every approved request not carried out yet (what a CI job runs)
    Execute {
        /// Print what would be promoted and change nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The ledger: who requested, approved, promoted and rolled back what, and when
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        command: Option<ledger_commands::AuditCommand>,
        /// Only this service's records
        #[arg(long, value_name = "S")]
        service: Option<String>,
        /// Only records about this environment (as target or source)
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Only this kind (request, approval, promotion, rollback...)
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run only the deploy step (GitOps bump or hook) for what ENV runs, or a given image
    Deploy {
        service: String,
        /// The environment to deploy
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Deploy this digest (it must be in ENV) instead of what ENV's mutable tag points at
        #[arg(long, value_name = "D", conflicts_with = "tag")]
        digest: Option<String>,
        /// Deploy the image with this tag in ENV
        #[arg(long, value_name = "T")]
        tag: Option<String>,
        /// Show the exact file diff or command and change nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration end to end: registries, TLS, credentials, push rights, git, ledger, keys, hooks
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// A shell completion script (completes environments, services and tags from the config)
    Completions {
        #[arg(value_enum)]
        shell: super::complete::Shell,
    },
    /// The manual page (roff) on stdout: `gantry man | man -l -`
    Man,
    /// Point an environment's mutable tag back at an image it already holds
    Rollback {
        service: String,
        /// The environment to roll back
        #[arg(long, value_name = "ENV")]
        env: String,
        /// The image to go back to: its tag (sha-2b2e927) or digest (sha256:...)
        #[arg(long, value_name = "REF")]
        to: String,
        #[arg(long)]
        json: bool,
    },
}
