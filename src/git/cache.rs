//! A cache of a branch's first-parent chain, so placing image tags deep in a long history
//! costs one file read instead of reading every commit again.
//!
//! The chain below a commit never changes (commits are immutable), so a cached chain
//! stays right as long as the branch head reaches the cached head; a moved head only adds
//! the commits above it. A rewritten branch never meets the cached head: the walk then
//! goes to the end and the cache is written anew. Shallow clones are never cached, since
//! unshallowing would extend the chain below.

use std::io::Write;
use std::path::{Path, PathBuf};

use git2::Oid;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"GNTFP01\n";
const OID_LEN: usize = 20;

/// Where the chain of `reference` in the repository at `git_dir` is kept under `dir`.
pub(super) fn path(dir: &Path, git_dir: &Path, reference: &str) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(git_dir.as_os_str().as_encoded_bytes());
    hasher.update([0]);
    hasher.update(reference.as_bytes());
    dir.join(format!("{}.chain", &hex::encode(hasher.finalize())[..32]))
}

/// The cached chain, newest first; `None` if absent or unreadable (a cache is never an error).
pub(super) fn load(path: &Path) -> Option<Vec<Oid>> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    if body.is_empty() || body.len() % OID_LEN != 0 {
        return None;
    }
    body.chunks_exact(OID_LEN)
        .map(|raw| Oid::from_bytes(raw).ok())
        .collect()
}

/// Writes the chain atomically (a reader sees the old file or the new one); failures are
/// ignored, since the next run simply walks again.
pub(super) fn store(path: &Path, chain: &[Oid]) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        file.write_all(MAGIC)?;
        for oid in chain {
            file.write_all(oid.as_bytes())?;
        }
        file.flush()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_round_trip_and_bad_files_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = path(dir.path(), Path::new("/repo/.git"), "refs/heads/develop");
        assert_ne!(
            file,
            path(dir.path(), Path::new("/repo/.git"), "refs/heads/main")
        );
        let chain: Vec<Oid> = (1u8..=3)
            .map(|i| Oid::from_bytes(&[i; 20]).expect("oid"))
            .collect();
        store(&file, &chain);
        assert_eq!(load(&file), Some(chain));

        std::fs::write(&file, b"GNTFP01\nshort").expect("write");
        assert_eq!(load(&file), None);
        std::fs::write(&file, b"something else entirely").expect("write");
        assert_eq!(load(&file), None);
        assert_eq!(load(&dir.path().join("missing")), None);
    }
}
