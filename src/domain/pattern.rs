//! Wildcard patterns (`*` any run, `?` one character) for tags and branch names, matched without backtracking blow-ups.

use std::fmt;

use serde::Serialize;

use super::is_valid_tag;

/// A tag pattern: `*` matches any run of characters, `?` exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TagPattern(String);

impl TagPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty tag pattern".into());
        }
        // With the wildcards replaced, what is left must be able to appear in a tag.
        let sample = text.replace(['*', '?'], "a");
        if !is_valid_tag(&sample) {
            return Err(format!(
                "`{text}` cannot match any tag (tags are letters, digits, `_`, `.`, `-`; `*` and `?` are wildcards)"
            ));
        }
        Ok(TagPattern(text.to_string()))
    }

    /// Every tag starting with `prefix` (a tag prefix is valid by construction).
    pub fn prefixed(prefix: &str) -> Self {
        TagPattern(format!("{prefix}*"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, tag: &str) -> bool {
        glob(self.0.as_bytes(), tag.as_bytes())
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative wildcard matching with one backtrack point: linear in practice, never
/// exponential on patterns like `*a*a*a*b`.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `text` (a branch name, a tag) matches the wildcard `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_shell_globs() {
        let matches = |pattern: &str, tag: &str| TagPattern::parse(pattern).unwrap().matches(tag);
        assert!(matches("sha-*", "sha-2b2e927"));
        assert!(!matches("sha-*", "latest"));
        assert!(matches("sha-*-keep", "sha-2b2e927-keep"));
        assert!(!matches("sha-*-keep", "sha-2b2e927"));
        assert!(matches("sha-???????", "sha-2b2e927"));
        assert!(!matches("sha-???????", "sha-2b2e9271"));
        assert!(matches("*", "anything"));
        assert!(matches("*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!matches("*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(matches("v1.*", "v1.2.0"));
        assert!(TagPattern::parse("").is_err());
        assert!(TagPattern::parse("sha/*").is_err());
    }
}
