//! What jobs report: events (started, progress, log, finished, failed) and the progress
//! counters the copy updates, sampled at most every `PROGRESS_INTERVAL` and only on change.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Identifies one job (one image's promotion, one listing) in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub u64);

#[derive(Debug, Clone, Serialize)]
pub struct EngineEvent {
    pub job: JobId,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Started {
        label: String,
    },
    Progress(Progress),
    Log {
        message: String,
    },
    /// A clean-up deleted one image (`service:tags (digest)`): counted by progress displays.
    Deleted {
        image: String,
    },
    Finished {
        summary: String,
    },
    Failed {
        reason: String,
        exit_code: i32,
    },
}

/// Where a promotion is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Resolving,
    Planning,
    CopyingBlobs,
    PushingManifests,
    Tagging,
    /// The environment's deploy step (`crate::deploy`), after the image is promoted.
    Deploying,
    Done,
}

impl Step {
    fn from_u8(value: u8) -> Step {
        match value {
            0 => Step::Resolving,
            1 => Step::Planning,
            2 => Step::CopyingBlobs,
            3 => Step::PushingManifests,
            4 => Step::Tagging,
            5 => Step::Deploying,
            _ => Step::Done,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub step: Step,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub blobs_done: u64,
    pub blobs_total: u64,
}

/// Counters a job updates from many tasks; a reporter samples them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    step: AtomicU8,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    blobs_done: AtomicU64,
    blobs_total: AtomicU64,
}

impl Counters {
    pub(crate) fn set_step(&self, step: Step) {
        self.step.store(step as u8, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back bytes of a failed attempt, so a retry does not count them twice.
    pub(crate) fn sub_bytes(&self, n: u64) {
        self.bytes_done.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn blob_done(&self) {
        self.blobs_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_totals(&self, bytes: u64, blobs: u64) {
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.blobs_total.store(blobs, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Progress {
        Progress {
            step: Step::from_u8(self.step.load(Ordering::Relaxed)),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            blobs_done: self.blobs_done.load(Ordering::Relaxed),
            blobs_total: self.blobs_total.load(Ordering::Relaxed),
        }
    }
}

/// At most this often per job, and only on change.
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
