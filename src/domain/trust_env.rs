//! The process environment's trust-root variables (`SSL_CERT_FILE`, `SSL_CERT_DIR`): read
//! by the registry client when it loads roots and changed for a moment by the git adapter
//! while libgit2 starts, so both do it under this one lock.

use std::sync::{Mutex, MutexGuard};

static TRUST_ENV: Mutex<()> = Mutex::new(());

/// Held while the trust-root variables are read or changed.
pub fn lock() -> MutexGuard<'static, ()> {
    // Nothing is guarded but the order of reads and writes: a poisoned lock is still fine.
    TRUST_ENV.lock().unwrap_or_else(|e| e.into_inner())
}
