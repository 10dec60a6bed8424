//! libgit2 without its TLS start-up cost for local work. Built with https (for pushes
//! through git's credential helper), libgit2 sets up OpenSSL in its global start-up and
//! loads the system's whole CA bundle there: about 27 ms of every command that opens a
//! repository, though only a push or fetch over https ever needs it. So libgit2 starts
//! with an empty bundle, and the bundle is loaded into its TLS context just before the
//! first https remote is contacted.

use std::path::PathBuf;
use std::sync::{Once, OnceLock};

/// Where the trust roots were when libgit2 started without them.
static ROOTS: OnceLock<(Option<PathBuf>, Option<PathBuf>)> = OnceLock::new();

/// Starts libgit2 (once per process) without loading a CA bundle. Every entry point
/// that opens a repository calls this first; one that does not only pays the old cost.
pub fn start_libgit2() {
    static START: Once = Once::new();
    START.call_once(|| {
        let _env = crate::domain::trust_env::lock();
        let probed = openssl_probe::probe();
        let saved = std::env::var_os("SSL_CERT_FILE");
        // OpenSSL reads the bundle named here at libgit2's start-up: nothing.
        std::env::set_var("SSL_CERT_FILE", "/dev/null");
        // Any libgit2 option runs its global start-up first; this one is the default.
        git2::opts::strict_hash_verification(true);
        match saved {
            Some(value) => std::env::set_var("SSL_CERT_FILE", value),
            None => std::env::remove_var("SSL_CERT_FILE"),
        }
        let _ = ROOTS.set((probed.cert_file, probed.cert_dir));
    });
}

/// Before libgit2 contacts `url`: an https remote gets the trust roots libgit2 started
/// without (loaded once per process).
pub fn before_remote(url: &str) {
    start_libgit2();
    if !url.trim().to_ascii_lowercase().starts_with("https://") {
        return;
    }
    static LOADED: Once = Once::new();
    LOADED.call_once(|| {
        let Some((file, dir)) = ROOTS.get() else {
            return;
        };
        // SAFETY: libgit2 is started (above); the call only hands OpenSSL paths to load.
        unsafe {
            if let Some(file) = file {
                if let Err(e) = git2::opts::set_ssl_cert_file(file.as_path()) {
                    tracing::warn!("loading {} for https: {e}", file.display());
                }
            }
            if let Some(dir) = dir {
                if let Err(e) = git2::opts::set_ssl_cert_dir(dir.as_path()) {
                    tracing::warn!("using {} for https: {e}", dir.display());
                }
            }
        }
    });
}
