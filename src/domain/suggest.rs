//! "did you mean `stage`?": the configured name closest to a mistyped one.

/// Names further than this many edits from what was typed are not suggested: past two,
/// the "suggestion" is more often another name altogether than the one meant.
pub const MAX_EDITS: usize = 2;

/// The candidate closest to `typed` within `MAX_EDITS` (a swap of two neighbouring letters
/// counts as one edit), or `None` when none is that close or two are equally close.
/// Case is ignored for the distance, so `Stage` finds `stage`.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed: Vec<char> = typed.to_lowercase().chars().collect();
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for candidate in candidates {
        let lowered: Vec<char> = candidate.to_lowercase().chars().collect();
        let distance = edit_distance(&typed, &lowered);
        if distance > MAX_EDITS {
            continue;
        }
        match best {
            Some((d, name)) if distance == d && name != candidate => tied = true,
            Some((d, _)) if distance >= d => {}
            _ => {
                best = Some((distance, candidate));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied).map(|(_, name)| name)
}

/// `"; did you mean `stage`?"`, or nothing: for the end of an "unknown ..." message.
pub fn did_you_mean<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(typed, candidates) {
        Some(name) if name != typed => format!("; did you mean `{name}`?"),
        _ => String::new(),
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and
/// transpositions of neighbours, each one edit (`stgae` -> `stage` is one).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in rows.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    rows[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVS: [&str; 4] = ["dev", "stage", "prod", "perf"];

    #[test]
    fn a_swap_a_typo_and_a_missing_letter_are_found() {
        assert_eq!(closest("stgae", ENVS), Some("stage"));
        assert_eq!(closest("stag", ENVS), Some("stage"));
        assert_eq!(closest("prdo", ENVS), Some("prod"));
        assert_eq!(closest("Stage", ENVS), Some("stage"));
        assert_eq!(
            closest("payment-scv", ["payment-svc", "ledger-svc"]),
            Some("payment-svc")
        );
    }

    #[test]
    fn nothing_close_or_two_equally_close_suggest_nothing() {
        assert_eq!(closest("production", ENVS), None);
        assert_eq!(closest("qa", ENVS), None);
        // The nearest wins: `per` is one edit from `perf`, two from `dev`.
        assert_eq!(closest("per", ENVS), Some("perf"));
        // `ded` is one edit from both: guessing would be wrong half the time.
        assert_eq!(closest("ded", ["dev", "deb"]), None);
        assert_eq!(closest("anything", std::iter::empty()), None);
    }

    #[test]
    fn the_suffix_reads_as_the_end_of_a_sentence() {
        assert_eq!(did_you_mean("stgae", ENVS), "; did you mean `stage`?");
        assert_eq!(did_you_mean("zzzzzz", ENVS), "");
        assert_eq!(edit_distance(&['a', 'b'], &['b', 'a']), 1);
        assert_eq!(edit_distance(&[], &['x', 'y']), 2);
    }
}
