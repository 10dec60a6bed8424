//! What immutable tags point at, remembered between runs: per registry, the digest of
//! each SHA tag (and, once an image was read whole, its platforms, size and created time).
//!
//! By gantry's own rule a SHA tag never moves, so its digest need not be asked again;
//! mutable tags and tags not in the cache are always read live, and `--fresh` re-reads
//! everything. The engine decides when a cached answer is trusted (see
//! `engine::inventory`); this module only keeps the facts, safely:
//! - one file per registry under the state directory, written whole to a temporary file
//!   and renamed over the old one, so a reader sees the old file or the new one, never a
//!   mix;
//! - the file names its format and registry and ends with the SHA-256 of everything
//!   above it: a torn, foreign or edited file is ignored (and rebuilt by the next save),
//!   never trusted;
//! - saving takes an exclusive lock, reads what another gantry saved meanwhile and
//!   merges this process's changes into it, so two processes never lose each other's
//!   facts (two answers for the same tag: the last writer's stands).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::domain::Digest;

const MAGIC: &str = "gantry-tag-cache 1";
const CHECKSUM_PREFIX: &str = "sha256 ";

/// What a manifest says of itself, read once with the whole image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFacts {
    pub media_type: String,
    pub platforms: Vec<String>,
    pub size: u64,
    pub created: Option<String>,
}

/// One immutable tag's digest, and its image's facts when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFacts {
    pub digest: Digest,
    pub manifest: Option<ManifestFacts>,
}

type Entries = HashMap<String, HashMap<String, TagFacts>>;

/// Changes not saved yet: they are merged into whatever the file holds at save time.
#[derive(Debug, Default)]
struct Pending {
    put: HashMap<(String, String), TagFacts>,
    removed: HashSet<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    /// Read on first use.
    entries: Option<Entries>,
    pending: Pending,
    /// Why the file on disk was not used, once.
    ignored: Option<String>,
}

/// The cache of one registry host.
#[derive(Debug)]
pub struct TagCache {
    registry: String,
    path: PathBuf,
    state: Mutex<State>,
}

impl TagCache {
    /// The cache of `registry` (`host:port`) under `state_dir`; nothing is read yet.
    pub fn open(state_dir: &Path, registry: &str) -> TagCache {
        TagCache {
            registry: registry.to_string(),
            path: cache_path(state_dir, registry),
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_entries<T>(&self, f: impl FnOnce(&mut Entries, &mut Pending) -> T) -> T {
        // A poisoned lock means a panic mid-update of plain maps: the data is still whole.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        if state.entries.is_none() {
            let (entries, ignored) = match read_file(&self.path, &self.registry) {
                Ok(entries) => (entries, None),
                Err(Unusable::Missing) => (Entries::new(), None),
                Err(Unusable::Invalid(why)) => {
                    tracing::warn!(
                        "tag cache {} ignored and rebuilt: {why}",
                        self.path.display()
                    );
                    (Entries::new(), Some(why))
                }
            };
            state.entries = Some(entries);
            state.ignored = ignored;
        }
        let entries = state.entries.get_or_insert_with(Entries::new);
        f(entries, &mut state.pending)
    }

    /// Why the file on disk was ignored, if it was (torn, foreign, edited).
    pub fn ignored(&self) -> Option<String> {
        self.with_entries(|_, _| ());
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ignored
            .clone()
    }

    pub fn get(&self, repository: &str, tag: &str) -> Option<TagFacts> {
        self.with_entries(|entries, _| entries.get(repository)?.get(tag).cloned())
    }

    /// Records `tag`'s digest; manifest facts already known for the same digest stay.
    pub fn put_digest(&self, repository: &str, tag: &str, digest: &Digest) {
        let known = self
            .get(repository, tag)
            .filter(|facts| &facts.digest == digest);
        if known.is_some() {
            return;
        }
        self.put(
            repository,
            tag,
            TagFacts {
                digest: digest.clone(),
                manifest: None,
            },
        );
    }

    pub fn put(&self, repository: &str, tag: &str, facts: TagFacts) {
        if !storable(repository, tag, &facts) {
            return;
        }
        self.with_entries(|entries, pending| {
            let slot = entries.entry(repository.to_string()).or_default();
            if slot.get(tag) == Some(&facts) {
                return;
            }
            slot.insert(tag.to_string(), facts.clone());
            let key = (repository.to_string(), tag.to_string());
            pending.removed.remove(&key);
            pending.put.insert(key, facts);
        });
    }

    /// Forgets the tags of `repository` that are not in `listed` (deleted since).
    pub fn retain_listed(&self, repository: &str, listed: &[String]) {
        self.with_entries(|entries, pending| {
            let Some(tags) = entries.get_mut(repository) else {
                return;
            };
            let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
            let gone: Vec<String> = tags
                .keys()
                .filter(|t| !listed.contains(t.as_str()))
                .cloned()
                .collect();
            for tag in gone {
                tags.remove(&tag);
                let key = (repository.to_string(), tag);
                pending.put.remove(&key);
                pending.removed.insert(key);
            }
        });
    }

    /// Whether changes wait to be saved.
    pub fn is_dirty(&self) -> bool {
        self.with_entries(|_, pending| !pending.put.is_empty() || !pending.removed.is_empty())
    }

    /// Merges this process's changes into the file (under an exclusive lock, so another
    /// gantry saving at the same time loses nothing) and writes it atomically. Nothing
    /// to save: no write at all.
    pub fn save(&self) -> std::io::Result<()> {
        let pending = self.with_entries(|_, pending| std::mem::take(pending));
        if pending.put.is_empty() && pending.removed.is_empty() {
            return Ok(());
        }
        let result = self.merge_into_file(&pending);
        if result.is_err() {
            // Keep the changes for a later save.
            self.with_entries(|_, now| {
                for (key, facts) in pending.put {
                    now.put.entry(key).or_insert(facts);
                }
                now.removed.extend(pending.removed);
            });
        }
        result
    }

    fn merge_into_file(&self, pending: &Pending) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let _lock = FileLock::exclusive(&self.path.with_extension("lock"))?;
        let mut merged = read_file(&self.path, &self.registry).unwrap_or_default();
        for (repository, tag) in &pending.removed {
            if let Some(tags) = merged.get_mut(repository) {
                tags.remove(tag);
            }
        }
        for ((repository, tag), facts) in &pending.put {
            merged
                .entry(repository.clone())
                .or_default()
                .insert(tag.clone(), facts.clone());
        }
        merged.retain(|_, tags| !tags.is_empty());
        let text = render(&self.registry, &merged);
        let temporary = dir.join(format!(
            ".{}.{}.tmp",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("tags"),
            std::process::id()
        ));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.flush()?;
            std::fs::rename(&temporary, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }
}

/// `<state>/tag-cache/<readable host>-<hash>.tags`.
fn cache_path(state_dir: &Path, registry: &str) -> PathBuf {
    state_dir
        .join("tag-cache")
        .join(format!("{}.tags", crate::domain::file_stem(registry, 64)))
}

/// Tab-separated lines cannot hold tabs or line breaks; platforms are comma-joined.
fn storable(repository: &str, tag: &str, facts: &TagFacts) -> bool {
    let plain = |s: &str| !s.is_empty() && !s.contains(['\t', '\n', '\r']);
    plain(repository)
        && plain(tag)
        && facts.manifest.as_ref().is_none_or(|m| {
            plain(&m.media_type)
                && m.created.as_deref().is_none_or(plain)
                && m.platforms.iter().all(|p| plain(p) && !p.contains(','))
        })
}

enum Unusable {
    Missing,
    Invalid(String),
}

fn read_file(path: &Path, registry: &str) -> Result<Entries, Unusable> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(Unusable::Invalid(format!("unreadable: {e}"))),
    };
    parse(&bytes, registry).map_err(Unusable::Invalid)
}

fn render(registry: &str, entries: &Entries) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (repository, tags) in entries {
        for (tag, facts) in tags {
            let mut line = format!("{repository}\t{tag}\t{}", facts.digest);
            if let Some(m) = &facts.manifest {
                line.push_str(&format!(
                    "\t{}\t{}\t{}\t{}",
                    m.media_type,
                    m.size,
                    m.created.as_deref().unwrap_or("-"),
                    if m.platforms.is_empty() {
                        "-".to_string()
                    } else {
                        m.platforms.join(",")
                    }
                ));
            }
            lines.push(line);
        }
    }
    // Sorted, so equal caches are equal files.
    lines.sort();
    let mut text = format!("{MAGIC}\nregistry {registry}\n");
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let checksum = hex::encode(Sha256::digest(text.as_bytes()));
    text.push_str(&format!("{CHECKSUM_PREFIX}{checksum}\n"));
    text
}

fn parse(bytes: &[u8], registry: &str) -> Result<Entries, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or("too short")?;
    let (body, last) = text.split_at(body_end);
    let claimed = last
        .trim_end()
        .strip_prefix(CHECKSUM_PREFIX)
        .ok_or("no checksum line (torn?)")?;
    if hex::encode(Sha256::digest(body.as_bytes())) != claimed {
        return Err("checksum does not match (torn or edited)".into());
    }
    let mut lines = body.lines();
    if lines.next() != Some(MAGIC) {
        return Err("not a gantry tag cache of this version".into());
    }
    let header = format!("registry {registry}");
    if lines.next() != Some(header.as_str()) {
        return Err(format!("not the cache of {registry}"));
    }
    let mut entries = Entries::new();
    for (n, line) in lines.enumerate() {
        let bad = |what: &str| format!("line {}: {what}", n + 3);
        let fields: Vec<&str> = line.split('\t').collect();
        let (repository, tag, digest) = match fields.as_slice() {
            [r, t, d] | [r, t, d, _, _, _, _] => (*r, *t, *d),
            _ => return Err(bad("wrong number of fields")),
        };
        let digest = digest.parse::<Digest>().map_err(|_| bad("not a digest"))?;
        let manifest = match fields.as_slice() {
            [_, _, _, media_type, size, created, platforms] => Some(ManifestFacts {
                media_type: media_type.to_string(),
                size: size.parse().map_err(|_| bad("size is not a number"))?,
                created: (*created != "-").then(|| created.to_string()),
                platforms: if *platforms == "-" {
                    Vec::new()
                } else {
                    platforms.split(',').map(str::to_string).collect()
                },
            }),
            _ => None,
        };
        entries
            .entry(repository.to_string())
            .or_default()
            .insert(tag.to_string(), TagFacts { digest, manifest });
    }
    Ok(entries)
}

/// An exclusive `flock` held until dropped (or the process dies).
struct FileLock {
    _file: File,
}

impl FileLock {
    fn exclusive(path: &Path) -> std::io::Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is shared with the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests;
