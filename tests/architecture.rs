//! The architecture as a test: layers without cycles, files one can hold in one's head,
//! and a `//!` line saying what each module is for (docs/architecture.md explains why).
//!
//! Every `src/**/*.rs` is read with comments and string literals blanked out; each path
//! that names a top-level module (`crate::x`, `use crate::{x, y::z}`, `super::` chains
//! that climb to the crate root, `gantry::x` in the binary) is an import of that module.
//! An import must go down the layer order, or sideways where `SIDEWAYS` allows it.
//! Re-exports count like any other path: a lower module that re-exports an upper one
//! depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// Layers, lowest first. A module may import only modules of lower layers, and modules of
/// its own layer only as `SIDEWAYS` allows.
const LAYERS: &[(&str, &[&str])] = &[
    // Plain types and pure functions: digests, selectors, durations, wildcard patterns.
    ("domain", &["domain"]),
    // Reading and checking the configuration into settings: no behaviour of other parts.
    ("config", &["config"]),
    // Outside systems: registries, git repositories, the ledger on its git ref, webhook
    // delivery, and the sandbox's real local registries for tests, the demo and benches.
    (
        "adapters",
        &["registry", "git", "ledger", "webhook", "sandbox"],
    ),
    // Decisions over domain data and adapters: gates, signing, attestations, retention,
    // deploy, notify.
    (
        "policies",
        &[
            "gates",
            "signing",
            "attestation",
            "retention",
            "deploy",
            "notify",
        ],
    ),
    // Orchestration: the only place that combines policies.
    ("engine", &["engine"]),
    // Front ends: the headless commands and the console.
    ("front ends", &["cli", "tui"]),
    // The binary: parses the command line and runs the CLI.
    ("binary", &["main"]),
];

/// Imports allowed within a layer (importer, imported), with the reason.
const SIDEWAYS: &[(&str, &str, &str)] = &[
    (
        "ledger",
        "git",
        "the ledger is stored on a git ref of the application repository",
    ),
    (
        "gates",
        "signing",
        "the signature gate judges what signature checks found",
    ),
    (
        "attestation",
        "signing",
        "attestations are sealed and checked with the cosign keys, and list the `.sig` signatures",
    ),
    (
        "attestation",
        "gates",
        "a vulnerability attestation holds a scanner report the scan gate's parser reads",
    ),
    ("cli", "tui", "`gantry` without a command opens the console"),
];

/// Longest a source file may be; test files (`tests.rs`, or under a `tests` folder) may
/// be longer.
const MAX_LINES: usize = 600;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    from: String,
    to: String,
    /// `path:line` of the path naming `to`.
    at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// An import against the layer order.
    Upward(Import),
    /// A module the layer table does not know.
    Unplaced {
        module: String,
        at: String,
    },
    /// Top-level modules importing each other, with one import per step.
    Cycle(Vec<Import>),
    TooLong {
        file: String,
        lines: usize,
    },
    NoDocLine {
        file: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Upward(i) => write!(
                f,
                "{}: `{}` ({}) imports `{}` ({}), which is not below it",
                i.at,
                i.from,
                layer_name(&i.from).unwrap_or("?"),
                i.to,
                layer_name(&i.to).unwrap_or("?")
            ),
            Problem::Unplaced { module, at } => write!(
                f,
                "{at}: module `{module}` has no place in the layer table of tests/architecture.rs"
            ),
            Problem::Cycle(steps) => {
                let names: Vec<&str> = steps.iter().map(|s| s.from.as_str()).collect();
                write!(f, "import cycle {} -> {}:", names.join(" -> "), names[0])?;
                for step in steps {
                    write!(f, "\n    {} -> {} at {}", step.from, step.to, step.at)?;
                }
                Ok(())
            }
            Problem::TooLong { file, lines } => write!(
                f,
                "{file}: {lines} lines, more than {MAX_LINES}: split it by job (tests may go to a sibling tests.rs)"
            ),
            Problem::NoDocLine { file } => {
                write!(f, "{file}:1: no leading `//!` line saying what the module is for")
            }
        }
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn layer_name(module: &str) -> Option<&'static str> {
    layer_of(module).map(|i| LAYERS[i].0)
}

fn allowed(from: &str, to: &str) -> bool {
    match (layer_of(from), layer_of(to)) {
        (Some(a), Some(b)) if b < a => true,
        (Some(a), Some(b)) if a == b => SIDEWAYS.iter().any(|(x, y, _)| *x == from && *y == to),
        _ => false,
    }
}

/// `text` with comments, string, byte-string and char literals replaced by spaces
/// (newlines kept, so offsets and line numbers stay), lifetimes left alone.
fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (b[i] == b'r' || (b[i] == b'b' && rest.get(1) == Some(&b'r')))
            && (i == 0 || !ident(b[i - 1]))
            && {
                let start = if b[i] == b'b' { i + 2 } else { i + 1 };
                let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
                b.get(start + hashes) == Some(&b'"')
            }
        {
            let start = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = start + hashes + 1;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| body + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{1F600}', '"'); otherwise a lifetime or label.
            let end = if rest.get(1) == Some(&b'\\') {
                // Past the escaped character, so '\'' and '\\' end where they should.
                rest.get(3..)
                    .and_then(|r| r.iter().position(|&c| c == b'\''))
                    .map(|p| i + 3 + p + 1)
            } else {
                let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + len) == Some(&b'\'')).then_some(i + 1 + len + 1)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The module path of a file under src: `engine/retention/execute.rs` -> engine,
/// retention, execute; `config/mod.rs` -> config; `lib.rs` -> the root.
fn module_path(file: &str) -> Vec<String> {
    let trimmed = file.strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads an identifier at `i` (after spaces); returns it and the index after it.
fn ident_at(text: &str, i: usize) -> Option<(&str, usize)> {
    let start = i + text[i..].len() - text[i..].trim_start().len();
    let len = text[start..]
        .find(|c: char| !is_ident(c))
        .unwrap_or(text.len() - start);
    (len > 0).then(|| (&text[start..start + len], start + len))
}

/// Skips spaces and `::` at `i`, if `::` is there.
fn path_sep(text: &str, i: usize) -> Option<usize> {
    let start = i + text[i..].len() - text[i..].trim_start().len();
    text[start..].starts_with("::").then_some(start + 2)
}

/// The first segments of a `{a, b::c, d::{e}}` group starting at `i` (at the `{`).
fn group_heads(text: &str, i: usize) -> Vec<(String, usize)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut j = i;
    for (k, c) in text[i..].char_indices() {
        let at = i + k;
        if at < j {
            continue;
        }
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && depth == 1 && is_ident(c) => {
                if let Some((name, end)) = ident_at(text, at) {
                    heads.push((name.to_string(), at));
                    j = end;
                }
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// The top-level modules `file` names (with their byte offsets) in `text`.
fn imports_of(file: &str, text: &str, top_level: &BTreeSet<String>) -> Vec<(String, usize)> {
    let code = blank_comments_and_strings(text);
    let own = module_path(file);
    let mut found = Vec::new();
    // Inline `mod name {` blocks change what `super` means inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let c = bytes[i];
        let word_start = c.is_ascii_alphabetic() && (i == 0 || !is_ident(bytes[i - 1] as char));
        if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
        } else if word_start {
            let (word, end) = ident_at(&code, i).unwrap_or(("", i + 1));
            if i > 0 && bytes[i - 1] == b'$' {
                i = end;
                continue;
            }
            match word {
                "mod" => {
                    if let Some((name, after)) = ident_at(&code, end) {
                        if code[after..].trim_start().starts_with('{') {
                            inline.push((name.to_string(), depth));
                        }
                    }
                }
                "crate" => {
                    if let Some(next) = path_sep(&code, end) {
                        found.extend(heads_after(&code, next));
                    }
                }
                "gantry" if own == ["main"] => {
                    if let Some(next) = path_sep(&code, end) {
                        found.extend(heads_after(&code, next));
                    }
                }
                "super" if i < 2 || &code[i - 2..i] != "::" => {
                    // Climb: each `super` leaves one module; at the root, what follows
                    // names a top-level module.
                    let mut module: Vec<String> = own.clone();
                    module.extend(inline.iter().map(|(n, _)| n.clone()));
                    let mut at = end;
                    loop {
                        module.pop();
                        let Some(next) = path_sep(&code, at) else {
                            break;
                        };
                        if module.is_empty() {
                            found.extend(heads_after(&code, next));
                            break;
                        }
                        match ident_at(&code, next) {
                            Some(("super", after)) => at = after,
                            _ => break,
                        }
                    }
                }
                _ => {}
            }
            i = end;
            continue;
        }
        i += 1;
    }
    found.retain(|(name, _)| top_level.contains(name));
    found
}

/// What follows `crate::` at `i`: one name, or a group's first names.
fn heads_after(code: &str, i: usize) -> Vec<(String, usize)> {
    let start = i + code[i..].len() - code[i..].trim_start().len();
    if code[start..].starts_with('{') {
        group_heads(code, start)
    } else {
        ident_at(code, start)
            .map(|(name, _)| vec![(name.to_string(), start)])
            .unwrap_or_default()
    }
}

/// The top-level module a file belongs to (`main` for the binary), or `None` for lib.rs.
fn owner(file: &str) -> Option<String> {
    module_path(file).into_iter().next()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn is_test_file(file: &str) -> bool {
    file.ends_with("/tests.rs") || file == "tests.rs" || file.split('/').any(|p| p == "tests")
}

/// Every problem in `files` (path under src, text).
fn check(files: &[(String, String)]) -> Vec<Problem> {
    let top_level: BTreeSet<String> = files.iter().filter_map(|(f, _)| owner(f)).collect();
    let mut problems = Vec::new();
    let mut imports: Vec<Import> = Vec::new();
    for (file, text) in files {
        let lines = text.lines().count();
        if lines > MAX_LINES && !is_test_file(file) {
            problems.push(Problem::TooLong {
                file: format!("src/{file}"),
                lines,
            });
        }
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(Problem::NoDocLine {
                file: format!("src/{file}"),
            });
        }
        let Some(from) = owner(file) else { continue };
        for (to, offset) in imports_of(file, text, &top_level) {
            if to != from {
                imports.push(Import {
                    from: from.clone(),
                    to,
                    at: format!("src/{file}:{}", line_of(text, offset)),
                });
            }
        }
    }
    imports.sort();
    let mut unplaced = BTreeSet::new();
    for import in &imports {
        for module in [&import.from, &import.to] {
            if layer_of(module).is_none() && unplaced.insert(module.clone()) {
                problems.push(Problem::Unplaced {
                    module: module.clone(),
                    at: import.at.clone(),
                });
            }
        }
        if layer_of(&import.from).is_some()
            && layer_of(&import.to).is_some()
            && !allowed(&import.from, &import.to)
        {
            problems.push(Problem::Upward(import.clone()));
        }
    }
    problems.extend(cycles(&imports).into_iter().map(Problem::Cycle));
    problems
}

/// One cycle per strongly connected group of top-level modules, as the imports that
/// close it.
fn cycles(imports: &[Import]) -> Vec<Vec<Import>> {
    let mut edges: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for import in imports {
        edges
            .entry(import.from.as_str())
            .or_default()
            .entry(import.to.as_str())
            .or_insert(import);
    }
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for next in edges.get(m.as_str()).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.to_string()) {
                    todo.push(next.to_string());
                }
            }
        }
        seen
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for &start in edges.keys() {
        if done.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // Shortest way back to `start`, by breadth-first search.
        let mut previous: BTreeMap<&str, &Import> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(m) = queue.pop_front() {
            for (&next, &import) in edges.get(m).into_iter().flatten() {
                if next == start {
                    previous.insert(start, import);
                    break 'search;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, import);
                    queue.push_back(next);
                }
            }
        }
        let mut steps = Vec::new();
        let mut at = start;
        while let Some(import) = previous.get(at) {
            steps.push((*import).clone());
            at = import.from.as_str();
            if at == start {
                break;
            }
        }
        steps.reverse();
        let group = reach(start);
        done.extend(group.into_iter().filter(|m| reach(m).contains(start)));
        done.insert(start.to_string());
        found.push(steps);
    }
    found
}

fn source_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(&root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("read source");
                files.push((rel, text));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_source_keeps_its_layers_sizes_and_doc_lines() {
    let files = source_files();
    assert!(files.len() > 50, "src not found: {} files", files.len());
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "{} architecture problem(s) (see docs/architecture.md):\n{}",
        problems.len(),
        problems
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let files = source_files();
    let modules: BTreeSet<String> = files.iter().filter_map(|(f, _)| owner(f)).collect();
    let missing: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
    for (from, to, _) in SIDEWAYS {
        assert_eq!(
            layer_of(from),
            layer_of(to),
            "{from} -> {to} is not sideways"
        );
        assert!(
            !SIDEWAYS.iter().any(|(a, b, _)| a == to && b == from),
            "{from} <-> {to} both ways"
        );
    }
}

// The checker on small samples: each rule can fail, and says where.

fn sample(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect()
}

fn problems_of(files: &[(&str, &str)]) -> Vec<String> {
    check(&sample(files))
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn an_upward_import_is_named_with_its_line() {
    let problems = problems_of(&[
        ("domain.rs", "//! Types.\n"),
        (
            "config/mod.rs",
            "//! Config.\nuse crate::domain::Digest;\n\nuse crate::gates::GatesConfig;\n",
        ),
        ("gates/mod.rs", "//! Gates.\nuse crate::config::Config;\n"),
    ]);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("src/config/mod.rs:4: `config` (config) imports `gates` (policies)"),
        "{problems:#?}"
    );
    assert!(problems[1].starts_with("import cycle config -> gates -> config:"));
    assert!(problems[1].contains("gates -> config at src/gates/mod.rs:2"));
}

#[test]
fn groups_expressions_reexports_and_super_chains_count() {
    let top = ["domain", "engine", "ledger", "git"]
        .map(String::from)
        .into_iter()
        .collect();
    let text = "//! x\nuse crate::{domain::Digest, engine::{Engine, Plan}};\npub use crate::git::Repo;\nfn f() { let e = crate::engine::lock::state_dir(); }\nfn g() -> super::super::super::engine::Plan { todo!() }\n";
    let found: Vec<String> = imports_of("ledger/store/x.rs", text, &top)
        .into_iter()
        .map(|(m, at)| format!("{m}:{}", line_of(text, at)))
        .collect();
    assert_eq!(
        found,
        ["domain:2", "engine:2", "git:3", "engine:4", "engine:5"],
        "{found:?}"
    );
    // `super` inside the module's own folder stays inside it.
    assert!(imports_of("ledger/store/x.rs", "use super::git;\n", &top).is_empty());
    // Inside an inline `mod tests`, one more `super` is needed to leave the file's module.
    let inline = "mod tests {\n    use super::super::git;\n}\nuse super::engine;\n";
    let found: Vec<String> = imports_of("ledger/mod.rs", inline, &top)
        .into_iter()
        .map(|(m, at)| format!("{m}:{}", line_of(inline, at)))
        .collect();
    assert_eq!(found, ["git:2", "engine:4"]);
}

#[test]
fn comments_and_strings_are_not_imports() {
    let top = ["engine"].map(String::from).into_iter().collect();
    let text = "//! Mentions crate::engine in a doc.\n// crate::engine\n/* crate::engine /* nested */ crate::engine */\nconst A: &str = \"crate::engine\";\nconst B: &str = r#\"crate::engine \"quoted\"\"#;\nconst C: char = '\"';\nfn f<'a>(x: &'a str) -> &'a str { x }\nmacro_rules! m { () => { $crate::engine::x() } }\n";
    assert_eq!(imports_of("gates/mod.rs", text, &top), []);
    // After all that, a real path is still found, on the right line.
    let text = format!("{text}use crate::engine::Engine;\n");
    let found = imports_of("gates/mod.rs", &text, &top);
    assert_eq!(found.len(), 1);
    assert_eq!(line_of(&text, found[0].1), 9);
}

#[test]
fn sideways_imports_follow_the_table() {
    let problems = problems_of(&[
        ("git/mod.rs", "//! Git.\n"),
        ("ledger/mod.rs", "//! Ledger.\nuse crate::git::Repo;\n"),
        ("registry/mod.rs", "//! Registry.\nuse crate::git::Repo;\n"),
    ]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0]
        .starts_with("src/registry/mod.rs:2: `registry` (adapters) imports `git` (adapters)"));
}

#[test]
fn long_files_and_missing_doc_lines_are_named() {
    let long = format!("//! Long.\n{}", "fn f() {}\n".repeat(MAX_LINES));
    let problems = problems_of(&[
        ("engine/mod.rs", &long),
        ("engine/tests.rs", &long),
        ("engine/plan/tests/big.rs", &long),
        ("engine/plan.rs", "\nuse crate::domain::Digest;\n"),
        ("domain.rs", "//! Types.\n"),
    ]);
    assert_eq!(
        problems,
        [
            format!("src/engine/mod.rs: {} lines, more than {MAX_LINES}: split it by job (tests may go to a sibling tests.rs)", MAX_LINES + 1),
            "src/engine/plan.rs:1: no leading `//!` line saying what the module is for".to_string(),
        ]
    );
}

#[test]
fn an_unknown_module_must_be_placed() {
    let problems = problems_of(&[
        ("domain.rs", "//! Types.\n"),
        ("extras/mod.rs", "//! New.\nuse crate::domain::Digest;\n"),
    ]);
    assert_eq!(
        problems,
        ["src/extras/mod.rs:2: module `extras` has no place in the layer table of tests/architecture.rs"]
    );
}
