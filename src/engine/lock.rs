//! Cross-process promotion locks: one gantry at a time writes a service's repository in an environment.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Held while a promotion writes to its target; released when dropped or when the
/// process dies (the kernel drops `flock` locks with the file descriptor).
#[derive(Debug)]
pub struct PromotionLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{target} is being promoted by another gantry ({holder}); nothing changed")]
    Busy { target: String, holder: String },
    #[error("cannot lock {}: {reason}", .path.display())]
    Io { path: PathBuf, reason: String },
}

/// Where gantry keeps state: `$XDG_STATE_HOME/gantry`, else `~/.local/state/gantry`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("gantry")
}

/// Takes the lock for `target` (`host/repository`) without waiting; `holder` says who
/// we are to whoever finds it taken.
pub fn acquire(state_dir: &Path, target: &str, holder: &str) -> Result<PromotionLock, LockError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("{}.lock", crate::domain::file_stem(target, 80)));
    let io_error = |e: std::io::Error| LockError::Io {
        path: path.clone(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(io_error)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    // SAFETY: flock on a descriptor we own; no memory is shared with the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut holder_text = String::new();
            let _ = file.read_to_string(&mut holder_text);
            let holder_text = holder_text.trim();
            return Err(LockError::Busy {
                target: target.to_string(),
                holder: if holder_text.is_empty() {
                    "unknown holder".into()
                } else {
                    holder_text.to_string()
                },
            });
        }
        return Err(io_error(err));
    }
    // Best effort: the note only explains the lock to the next comer.
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = write!(file, "{holder}");
    let _ = file.flush();
    Ok(PromotionLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_told_who_has_it_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "reg:5000/stage/svc", "pid 1, svc:sha-1").unwrap();
        match acquire(dir.path(), "reg:5000/stage/svc", "pid 2") {
            Err(LockError::Busy { holder, .. }) => assert_eq!(holder, "pid 1, svc:sha-1"),
            other => panic!("expected busy, got {other:?}"),
        }
        // Other targets are independent.
        assert!(acquire(dir.path(), "reg:5000/stage/other", "pid 2").is_ok());
        drop(first);
        assert!(acquire(dir.path(), "reg:5000/stage/svc", "pid 2").is_ok());
    }
}
