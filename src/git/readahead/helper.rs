//! The read-ahead's second thread: reads the spans it is asked for, one at a time, and
//! sends back their commits; it ends when its queue is closed.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{read_span, HeadInflater, PackFiles, SpanCommits};

pub(super) struct Request {
    pub(super) pack: usize,
    pub(super) span: u32,
    pub(super) files: Arc<PackFiles>,
}

pub(super) struct Answer {
    pub(super) pack: usize,
    pub(super) span: u32,
    pub(super) commits: SpanCommits,
}

pub(super) struct Helper {
    pub(super) requests: Option<Sender<Request>>,
    pub(super) answers: Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
}

impl Helper {
    pub(super) fn start() -> Option<Helper> {
        let (requests, inbox) = channel::<Request>();
        let (outbox, answers) = channel();
        let thread = std::thread::Builder::new()
            .name("gantry-pack-read-ahead".into())
            .spawn(move || {
                let mut inflater = HeadInflater::new();
                let mut buf = Vec::new();
                while let Ok(request) = inbox.recv() {
                    let commits = read_span(&request.files, request.span, &mut inflater, &mut buf);
                    let answer = Answer {
                        pack: request.pack,
                        span: request.span,
                        commits,
                    };
                    if outbox.send(answer).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Helper {
            requests: Some(requests),
            answers,
            thread: Some(thread),
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the span it is on.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
