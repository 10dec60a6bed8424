//! Where a git repository lives: a directory on this machine, or a URL git fetches from.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RepoLocation {
    /// A repository on disk (absolute once resolved), bare or not, read where it is.
    Path(PathBuf),
    /// Anything git fetches: ssh, https, git, file URLs, `user@host:path`.
    Url(String),
}

impl RepoLocation {
    /// A value from a configuration file: a URL as it is; a path relative to `base` (the
    /// configuration file's directory) unless absolute.
    pub fn parse(value: &str, base: Option<&Path>) -> RepoLocation {
        let value = value.trim();
        if is_url(value) {
            return RepoLocation::Url(value.to_string());
        }
        let path = PathBuf::from(value);
        RepoLocation::Path(match base {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        })
    }

    /// How git2 is told where the repository is.
    pub fn url(&self) -> String {
        match self {
            RepoLocation::Path(path) => path.display().to_string(),
            RepoLocation::Url(url) => url.clone(),
        }
    }
}

impl fmt::Display for RepoLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// The directory a URL names when it is on this machine (a `file://` URL or a path,
/// relative to `base`); `None` for anything fetched over a network.
pub fn local_dir(url: &str, base: &Path) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    if url.is_empty() || is_url(url) {
        return None;
    }
    // `host:path` (scp-like ssh without a user) has its colon before any slash.
    if let Some(colon) = url.find(':') {
        if !url[..colon].contains('/') {
            return None;
        }
    }
    let path = Path::new(url);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

/// `scheme://...`, or scp-like `user@host:path`; a plain `dir:with:colons` is a path.
pub fn is_url(value: &str) -> bool {
    if value.contains("://") {
        return true;
    }
    match value.split_once(':') {
        Some((before, _)) => before.contains('@') && !before.contains('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_as_written_and_paths_follow_the_configuration() {
        let base = Path::new("/etc/gantry");
        for url in [
            "file:///srv/git/payment.git",
            "ssh://git@example.com/org/payment.git",
            "git@github.com:org/payment.git",
            "https://example.com/payment",
        ] {
            assert_eq!(
                RepoLocation::parse(url, Some(base)),
                RepoLocation::Url(url.into())
            );
        }
        assert_eq!(
            RepoLocation::parse("../repos/payment", Some(base)),
            RepoLocation::Path(PathBuf::from("/etc/gantry/../repos/payment"))
        );
        assert_eq!(
            RepoLocation::parse("/srv/payment", Some(base)),
            RepoLocation::Path(PathBuf::from("/srv/payment"))
        );
        assert_eq!(
            RepoLocation::parse("dir:with/colon", None),
            RepoLocation::Path(PathBuf::from("dir:with/colon"))
        );
        for path in ["../manifests", "/srv/manifests.git", "manifests", "dir/a:b"] {
            assert!(!is_url(path), "{path}");
        }
    }

    #[test]
    fn local_directories_are_told_from_network_urls() {
        let base = Path::new("/repo");
        assert_eq!(
            local_dir("file:///srv/a.git", base),
            Some(PathBuf::from("/srv/a.git"))
        );
        assert_eq!(
            local_dir("/srv/a.git", base),
            Some(PathBuf::from("/srv/a.git"))
        );
        assert_eq!(
            local_dir("../a.git", base),
            Some(PathBuf::from("/repo/../a.git"))
        );
        for remote in [
            "git@github.com:org/a.git",
            "host:org/a.git",
            "ssh://host/a.git",
            "https://host/a.git",
            "git://127.0.0.1:9418/a.git",
            "",
        ] {
            assert_eq!(local_dir(remote, base), None, "{remote}");
        }
    }
}
