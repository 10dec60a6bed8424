//! Name grammars the configuration checks: git branch and ref names, registry hosts,
//! repositories, environment and service names, environment variables.

/// git's rules for a branch name (`git check-ref-format --branch`).
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-') && is_valid_ref_path(name)
}

/// git's reference-name rules (`git check-ref-format`) for what follows `refs/heads/`.
/// Written out rather than asked of libgit2: its first call initialises OpenSSL, a cost
/// every command would pay just to read the configuration.
pub(crate) fn is_valid_ref_path(name: &str) -> bool {
    !name.is_empty()
        && name != "@"
        && !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with('.')
        && name
            .bytes()
            .all(|b| b >= 0x20 && b != 0x7f && !b" ~^:?*[\\".contains(&b))
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

pub(crate) fn is_valid_env_var(name: &str) -> bool {
    !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The distribution spec's repository grammar: path components of
/// `[a-z0-9]+([._-][a-z0-9]+)*` separated by `/`.
pub fn is_valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric()
                && component
                    .as_bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

/// `host[:port]` with no scheme or path, as registries are named in image references.
pub(crate) fn check_registry(registry: &str) -> Result<(), &'static str> {
    if registry.is_empty() {
        return Err("is empty");
    }
    if registry.contains("://") {
        return Err("must not carry a scheme: write host[:port] and set plain_http for http");
    }
    if registry.contains('/') {
        return Err("must be host[:port] with no path: put the repository prefix in `path`");
    }
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (registry, None),
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err("has an invalid port"),
        }
    }
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if host_ok {
        Ok(())
    } else {
        Err("is not a valid host name")
    }
}
