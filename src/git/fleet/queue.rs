//! Fetches run in the background by a few threads, in the order asked, with what the
//! console shows moved to the front; a URL waiting or being fetched is not queued twice.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Depth, FetchError, Fetched, Mirrors};

/// One mirror to fetch, and what to fetch into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchJob {
    pub url: String,
    pub refspecs: Vec<String>,
    pub depth: Depth,
}

/// A fetch that finished, well or not.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub url: String,
    pub result: Result<Fetched, FetchError>,
}

/// Jobs waiting and URLs being fetched: the queue's state, apart from its threads.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    jobs: VecDeque<FetchJob>,
    running: HashSet<String>,
    closed: bool,
}

impl Waiting {
    /// Queues the jobs whose URL is neither waiting nor running, at the back, or at the
    /// front in their own order when `urgent` (with those already waiting among them).
    /// Returns how many were queued.
    pub(super) fn push(&mut self, jobs: Vec<FetchJob>, urgent: bool) -> usize {
        let mut fresh: Vec<FetchJob> = Vec::new();
        let urls: Vec<String> = jobs.iter().map(|j| j.url.clone()).collect();
        for job in jobs {
            let known = self.running.contains(&job.url)
                || self.jobs.iter().any(|j| j.url == job.url)
                || fresh.iter().any(|j| j.url == job.url);
            if !known {
                fresh.push(job);
            }
        }
        let count = fresh.len();
        self.jobs.extend(fresh);
        if urgent {
            self.prefer(&urls);
        }
        count
    }

    /// Moves the waiting jobs of `urls` to the front, in the order of `urls`.
    pub(super) fn prefer(&mut self, urls: &[String]) {
        for url in urls.iter().rev() {
            if let Some(at) = self.jobs.iter().position(|j| &j.url == url) {
                if let Some(job) = self.jobs.remove(at) {
                    self.jobs.push_front(job);
                }
            }
        }
    }

    /// The next job to run, now counted as running.
    pub(super) fn take(&mut self) -> Option<FetchJob> {
        let job = self.jobs.pop_front()?;
        self.running.insert(job.url.clone());
        Some(job)
    }

    pub(super) fn finish(&mut self, url: &str) {
        self.running.remove(url);
    }

    pub(super) fn urls(&self) -> Vec<&str> {
        self.jobs.iter().map(|j| j.url.as_str()).collect()
    }
}

struct Shared {
    waiting: Mutex<Waiting>,
    wake: Condvar,
    mirrors: Mirrors,
    report: Box<dyn Fn(FetchReport) + Send + Sync>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A worker that panicked mid-fetch left the list as it was: keep using it.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Background fetches, `workers` at a time, on threads of low priority (nice 10): what
/// the user is waiting for (the registries' answers, the screen) comes first when the
/// fetches would take every core. Dropping the queue lets the fetches under way finish
/// (each is reported) and starts no other.
pub struct FetchQueue {
    shared: Arc<Shared>,
}

impl FetchQueue {
    /// Starts the worker threads; `report` is called on them as each fetch ends.
    pub fn new(
        mirrors: Mirrors,
        workers: usize,
        report: impl Fn(FetchReport) + Send + Sync + 'static,
    ) -> FetchQueue {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Waiting::default()),
            wake: Condvar::new(),
            mirrors,
            report: Box::new(report),
        });
        for index in 0..workers.max(1) {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("gantry-fetch-{index}"))
                .spawn(move || {
                    yield_to_foreground();
                    work(&shared)
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start a fetch thread: {e}");
            }
        }
        FetchQueue { shared }
    }

    /// Queues `jobs` (see [`Waiting::push`]); returns how many were new.
    pub fn push(&self, jobs: Vec<FetchJob>, urgent: bool) -> usize {
        let count = self.shared.lock().push(jobs, urgent);
        self.shared.wake.notify_all();
        count
    }

    /// What the user is looking at goes first.
    pub fn prefer(&self, urls: &[String]) {
        self.shared.lock().prefer(urls);
    }

    /// URLs waiting, in the order they will run.
    pub fn waiting(&self) -> Vec<String> {
        self.shared
            .lock()
            .urls()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// Lowers this thread's priority (Linux schedules threads one by one, so the rest of the
/// process keeps its own). Failing to is harmless: the fetches then compete as equals.
fn yield_to_foreground() {
    // SAFETY: gettid and setpriority on this very thread; no memory is shared.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 10);
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut waiting = shared.lock();
            loop {
                if waiting.closed {
                    return;
                }
                if let Some(job) = waiting.take() {
                    break job;
                }
                waiting = shared
                    .wake
                    .wait(waiting)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let result = shared.mirrors.fetch(&job.url, &job.refspecs, job.depth);
        shared.lock().finish(&job.url);
        (shared.report)(FetchReport {
            url: job.url,
            result,
        });
    }
}
