//! Which registry failed as a whole during a command, by environment: what listings group
//! their errors by.

use super::{Engine, EngineError};
use crate::registry::failure::HostFailure;

impl Engine {
    /// The whole-registry failure (unreachable, TLS, credentials, 5xx) the last request to
    /// `env`'s registry ended with, or that building its client met (an unreadable
    /// ca_file). `None` when it answered, or failed only for one image.
    pub fn host_failure(&self, env: &str) -> Option<HostFailure> {
        match self.client(env) {
            Ok(client) => client.last_failure(),
            Err(EngineError::Registry(e)) => e.host_failure(),
            Err(_) => None,
        }
    }
}
