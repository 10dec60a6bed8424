//! The planner's rules one by one, then properties over random repositories.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::retention::{RetentionDuration, RetentionPolicy, TagPattern};

fn digest(n: u64) -> Digest {
    Digest::of(&n.to_be_bytes())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn days_ago(days: i64) -> DateTime<Utc> {
    now() - chrono::Duration::days(days)
}

fn image(n: u64, tags: &[&str], created: Option<DateTime<Utc>>) -> Image {
    let mut tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    tags.sort();
    Image {
        digest: digest(n),
        tags,
        created,
    }
}

/// `sha-<n>` at position `n` on develop, its commit an hour older per position.
fn on_develop(positions: &[usize]) -> HashMap<String, Place> {
    positions
        .iter()
        .map(|&p| {
            (
                format!("sha-{p:07}"),
                Place {
                    position: Some(p),
                    commit_time: Some(now().timestamp() - 3_600 * p as i64),
                },
            )
        })
        .collect()
}

fn run(
    policy: &RetentionPolicy,
    images: &[Image],
    places: &HashMap<String, Place>,
    protections: &[Protection],
) -> Vec<Decision> {
    plan(&Input {
        policy,
        now: now(),
        images,
        places,
        protections,
    })
}

fn deleted(decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter(|d| d.delete)
        .map(|d| d.image.tags.join("+"))
        .collect()
}

fn rule_of<'a>(decisions: &'a [Decision], tag: &str) -> &'a Rule {
    &decisions
        .iter()
        .find(|d| d.image.tags.iter().any(|t| t == tag))
        .unwrap_or_else(|| panic!("no decision for {tag}"))
        .rule
}

fn tag(p: usize) -> String {
    format!("sha-{p:07}")
}

/// Images `sha-0000000` (newest on develop) to `sha-<count-1>`, all created long ago and
/// in the opposite order, so only git can have ordered them.
fn develop_images(count: usize) -> (Vec<Image>, HashMap<String, Place>) {
    let positions: Vec<usize> = (0..count).collect();
    let images = positions
        .iter()
        .map(|&p| {
            image(
                p as u64,
                &[&tag(p)],
                Some(days_ago(400) + chrono::Duration::hours(p as i64)),
            )
        })
        .collect();
    (images, on_develop(&positions))
}

#[test]
fn keep_counts_newest_by_position_in_git_not_by_created_time() {
    let (images, places) = develop_images(6);
    let decisions = run(
        &RetentionPolicy::keep_newest(2, "sha-"),
        &images,
        &places,
        &[],
    );
    assert_eq!(
        deleted(&decisions),
        [tag(2), tag(3), tag(4), tag(5)],
        "newest first, oldest deleted"
    );
    assert_eq!(
        rule_of(&decisions, &tag(0)),
        &Rule::Newest { rank: 1, keep: 2 }
    );
    assert_eq!(
        rule_of(&decisions, &tag(1)),
        &Rule::Newest { rank: 2, keep: 2 }
    );
    assert_eq!(
        rule_of(&decisions, &tag(5)),
        &Rule::BeyondKeep { rank: 6, keep: 2 }
    );
}

#[test]
fn unknown_commits_fall_back_to_created_time() {
    let (mut images, places) = develop_images(3);
    // Commits at now, now-1h, now-2h. One unknown image built 30 minutes ago, one a year ago.
    images.push(image(
        100,
        &["sha-fffffff"],
        Some(now() - chrono::Duration::minutes(30)),
    ));
    images.push(image(101, &["sha-eeeeeee"], Some(days_ago(365))));
    images.push(image(102, &["sha-ddddddd"], None));
    let order: Vec<String> = newest_first(&images, &places)
        .into_iter()
        .map(|i| images[i].tags[0].clone())
        .collect();
    assert_eq!(
        order,
        [
            tag(0),
            "sha-fffffff".into(),
            tag(1),
            tag(2),
            "sha-eeeeeee".into(),
            "sha-ddddddd".into()
        ]
    );
}

#[test]
fn a_commit_off_develop_is_placed_by_its_commit_time() {
    let (mut images, mut places) = develop_images(3);
    images.push(image(50, &["sha-a1a1a1a"], Some(days_ago(900))));
    places.insert(
        "sha-a1a1a1a".into(),
        Place {
            position: None,
            commit_time: Some(now().timestamp() - 5_400),
        },
    );
    let order: Vec<String> = newest_first(&images, &places)
        .into_iter()
        .map(|i| images[i].tags[0].clone())
        .collect();
    assert_eq!(order, [tag(0), tag(1), "sha-a1a1a1a".into(), tag(2)]);
}

#[test]
fn develop_order_wins_over_commit_times_that_run_backwards() {
    // A rebase left the head's commit time older than its parent's.
    let images = vec![
        image(0, &[&tag(0)], None),
        image(1, &[&tag(1)], None),
        image(9, &["sha-9999999"], None),
    ];
    let mut places = HashMap::new();
    places.insert(
        tag(0),
        Place {
            position: Some(0),
            commit_time: Some(1_000),
        },
    );
    places.insert(
        tag(1),
        Place {
            position: Some(1),
            commit_time: Some(5_000),
        },
    );
    places.insert(
        "sha-9999999".into(),
        Place {
            position: None,
            commit_time: Some(3_000),
        },
    );
    let order: Vec<String> = newest_first(&images, &places)
        .into_iter()
        .map(|i| images[i].tags[0].clone())
        .collect();
    // The head is raised to its parent's time, so it stays newest and the off-develop
    // commit (between the two raw times) falls below both.
    assert_eq!(order, [tag(0), tag(1), "sha-9999999".into()]);
}

#[test]
fn ties_are_broken_by_digest_the_same_way_every_time() {
    let created = Some(days_ago(10));
    let images = vec![
        image(3, &["sha-ccccccc"], created),
        image(1, &["sha-aaaaaaa"], created),
        image(2, &["sha-bbbbbbb"], created),
    ];
    let places = HashMap::new();
    let first = newest_first(&images, &places);
    let mut reversed = images.clone();
    reversed.reverse();
    let second: Vec<Digest> = newest_first(&reversed, &places)
        .into_iter()
        .map(|i| reversed[i].digest.clone())
        .collect();
    let first: Vec<Digest> = first
        .into_iter()
        .map(|i| images[i].digest.clone())
        .collect();
    assert_eq!(first, second);
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted);
}

#[test]
fn every_protection_keeps_its_image_and_none_uses_up_keep() {
    let (mut images, places) = develop_images(8);
    images[3].tags.push("latest".into());
    images[7].tags.push("sha-0000007-keep".into());
    images[7].tags.sort();
    let protections = vec![
        Protection {
            target: Target::Tag("latest".into()),
            rule: Rule::MutableTag {
                tag: "latest".into(),
                environment: "dev".into(),
            },
        },
        Protection {
            target: Target::Tag(tag(4)),
            rule: Rule::Runs {
                environment: "stage".into(),
                tag: tag(4),
            },
        },
        Protection {
            target: Target::Tag(tag(5)),
            rule: Rule::BranchHead {
                branch: "release/v1.0.0".into(),
                tag: tag(5),
            },
        },
        Protection {
            target: Target::Digest(digest(6)),
            rule: Rule::RetainPromoted {
                environment: "prod".into(),
                promoted_at: Some("2026-01-01T00:00:00Z".into()),
                retain: "7y".into(),
            },
        },
    ];
    let mut policy = RetentionPolicy::keep_newest(2, "sha-");
    policy
        .exclude
        .push(TagPattern::parse("sha-*-keep").unwrap());
    let decisions = run(&policy, &images, &places, &protections);
    assert_eq!(deleted(&decisions), [tag(2)]);
    assert_eq!(
        rule_of(&decisions, &tag(0)),
        &Rule::Newest { rank: 1, keep: 2 }
    );
    assert_eq!(
        rule_of(&decisions, &tag(1)),
        &Rule::Newest { rank: 2, keep: 2 }
    );
    assert_eq!(rule_of(&decisions, "latest").name(), "mutable_tag");
    assert_eq!(rule_of(&decisions, &tag(4)).name(), "runs");
    assert_eq!(rule_of(&decisions, &tag(5)).name(), "branch_head");
    assert_eq!(rule_of(&decisions, &tag(6)).name(), "retain_promoted");
    assert_eq!(
        rule_of(&decisions, &tag(7)),
        &Rule::OutsidePolicy {
            tag: "sha-0000007-keep".into(),
            excluded_by: Some("sha-*-keep".into())
        }
    );
    assert_eq!(
        rule_of(&decisions, &tag(2)),
        &Rule::BeyondKeep { rank: 3, keep: 2 }
    );
}

#[test]
fn a_digest_with_one_protected_tag_among_several_is_kept() {
    let (mut images, places) = develop_images(4);
    // The oldest image also carries the commit tag stage runs.
    images[3].tags = vec![tag(3), "sha-abcdef0".into()];
    let protections = vec![Protection {
        target: Target::Tag("sha-abcdef0".into()),
        rule: Rule::Runs {
            environment: "stage".into(),
            tag: "sha-abcdef0".into(),
        },
    }];
    let decisions = run(
        &RetentionPolicy::keep_newest(1, "sha-"),
        &images,
        &places,
        &protections,
    );
    assert_eq!(deleted(&decisions), [tag(1), tag(2)]);
    assert_eq!(rule_of(&decisions, &tag(3)).name(), "runs");
}

#[test]
fn a_tag_outside_include_protects_its_digest() {
    let (mut images, places) = develop_images(3);
    images[2].tags.push("v1.2.0".into());
    let decisions = run(
        &RetentionPolicy::keep_newest(1, "sha-"),
        &images,
        &places,
        &[],
    );
    assert_eq!(deleted(&decisions), [tag(1)]);
    assert_eq!(
        rule_of(&decisions, "v1.2.0"),
        &Rule::OutsidePolicy {
            tag: "v1.2.0".into(),
            excluded_by: None
        }
    );
}

#[test]
fn min_age_protects_young_and_undated_images() {
    let images = vec![
        image(
            1,
            &["sha-1111111"],
            Some(now() - chrono::Duration::hours(3)),
        ),
        image(2, &["sha-2222222"], None),
        image(3, &["sha-3333333"], Some(days_ago(2))),
        image(4, &["sha-4444444"], Some(days_ago(3))),
    ];
    let mut policy = RetentionPolicy::keep_newest(0, "sha-");
    policy.min_age = Some(RetentionDuration::parse("24h").unwrap());
    let decisions = run(&policy, &images, &HashMap::new(), &[]);
    assert_eq!(deleted(&decisions), ["sha-3333333", "sha-4444444"]);
    assert_eq!(
        rule_of(&decisions, "sha-1111111"),
        &Rule::MinAge {
            min_age: "24h".into(),
            created: Some("2026-06-01T09:00:00Z".into())
        }
    );
    assert_eq!(
        rule_of(&decisions, "sha-2222222"),
        &Rule::MinAge {
            min_age: "24h".into(),
            created: None
        }
    );
}

#[test]
fn max_age_alone_deletes_what_is_older() {
    let images = vec![
        image(1, &["sha-1111111"], Some(days_ago(10))),
        image(2, &["sha-2222222"], Some(days_ago(31))),
        image(3, &["sha-3333333"], None),
    ];
    let policy = RetentionPolicy {
        keep: None,
        max_age_days: Some(30),
        ..RetentionPolicy::keep_newest(0, "sha-")
    };
    let decisions = run(&policy, &images, &HashMap::new(), &[]);
    assert_eq!(deleted(&decisions), ["sha-2222222"]);
    assert_eq!(rule_of(&decisions, "sha-1111111").name(), "not_old");
    assert_eq!(
        rule_of(&decisions, "sha-2222222"),
        &Rule::TooOld {
            rank: 2,
            max_age_days: 30,
            created: "2026-05-01T12:00:00Z".into()
        }
    );
    assert_eq!(rule_of(&decisions, "sha-3333333").name(), "age_unknown");
}

#[test]
fn with_keep_and_max_age_an_image_goes_when_beyond_keep_and_old() {
    let images = vec![
        image(1, &["sha-1111111"], Some(days_ago(100))),
        image(2, &["sha-2222222"], Some(days_ago(5))),
        image(3, &["sha-3333333"], Some(days_ago(4))),
        image(4, &["sha-4444444"], Some(days_ago(200))),
    ];
    // Without git, by created time: 3, 2, 1, 4. The newest two stay whatever their age.
    let policy = RetentionPolicy {
        max_age_days: Some(90),
        ..RetentionPolicy::keep_newest(1, "sha-")
    };
    let decisions = run(&policy, &images, &HashMap::new(), &[]);
    assert_eq!(deleted(&decisions), ["sha-1111111", "sha-4444444"]);
    assert_eq!(rule_of(&decisions, "sha-3333333").name(), "newest");
    assert_eq!(rule_of(&decisions, "sha-2222222").name(), "not_old");
    assert_eq!(
        rule_of(&decisions, "sha-4444444").name(),
        "beyond_keep_and_too_old"
    );
}

#[test]
fn every_other_protection_is_listed_too() {
    let images = vec![image(1, &["latest", "sha-1111111"], Some(days_ago(1)))];
    let protections = vec![
        Protection {
            target: Target::Tag("latest".into()),
            rule: Rule::MutableTag {
                tag: "latest".into(),
                environment: "dev".into(),
            },
        },
        Protection {
            target: Target::Digest(digest(1)),
            rule: Rule::Runs {
                environment: "prod".into(),
                tag: "sha-1111111".into(),
            },
        },
        // The same rule again, reached through the tag: said once.
        Protection {
            target: Target::Tag("sha-1111111".into()),
            rule: Rule::Runs {
                environment: "prod".into(),
                tag: "sha-1111111".into(),
            },
        },
    ];
    let decisions = run(
        &RetentionPolicy::keep_newest(0, "sha-"),
        &images,
        &HashMap::new(),
        &protections,
    );
    assert_eq!(decisions[0].rule.name(), "mutable_tag");
    let also: Vec<&str> = decisions[0].also.iter().map(Rule::name).collect();
    assert_eq!(also, ["runs", "outside_policy"]);
}

#[test]
fn rules_read_as_sentences() {
    let rule = Rule::RetainPromoted {
        environment: "prod".into(),
        promoted_at: None,
        retain: "7y".into(),
    };
    assert!(rule.describe().contains("held in prod, retained 7y"));
    assert_eq!(
        Rule::BeyondKeep { rank: 23, keep: 20 }.describe(),
        "#23, beyond the newest 20"
    );
    let json = serde_json::to_value(Rule::Newest { rank: 1, keep: 5 }).unwrap();
    assert_eq!(json["rule"], "newest");
    assert_eq!(json["rank"], 1);
}

// Properties over random repositories.

#[derive(Debug, Clone)]
struct World {
    images: Vec<Image>,
    places: HashMap<String, Place>,
    protections: Vec<Protection>,
    policy: RetentionPolicy,
}

const EXTRA_TAGS: [&str; 4] = ["latest", "stage", "v1.0.0", "sha-x-keep"];

fn world() -> impl Strategy<Value = World> {
    let image = (
        prop::option::of(0i64..400),
        prop::option::of(0usize..60),
        prop::option::of(0i64..2_000),
        prop::collection::vec(0usize..EXTRA_TAGS.len(), 0..2),
        0u8..4,
    );
    (
        prop::collection::vec(image, 0..30),
        prop::option::of(0u32..8),
        prop::option::of(1u32..300),
        prop::option::of(0u64..72),
        any::<bool>(),
        prop::collection::vec((0usize..40, any::<bool>()), 0..6),
    )
        .prop_map(
            |(specs, keep, max_age_days, min_age_hours, exclude, protected)| {
                let mut images = Vec::new();
                let mut places = HashMap::new();
                let mut used_positions = HashSet::new();
                for (i, (age_days, position, commit_hours, extras, known)) in
                    specs.into_iter().enumerate()
                {
                    let tag = format!("sha-{i:07x}");
                    let mut tags = vec![tag.clone()];
                    for extra in extras {
                        let extra = EXTRA_TAGS[extra].to_string();
                        // A tag names one digest.
                        if !images.iter().any(|im: &Image| im.tags.contains(&extra))
                            && !tags.contains(&extra)
                        {
                            tags.push(extra);
                        }
                    }
                    tags.sort();
                    // Some commits are on develop, some off it, some unknown. On develop,
                    // times never run backwards up the branch, as the engine passes them.
                    let position = position.filter(|p| known != 0 && used_positions.insert(*p));
                    if known != 0 {
                        let commit_time = match position {
                            Some(p) => Some(now().timestamp() - 3_600 * p as i64),
                            None => commit_hours.map(|h| now().timestamp() - h * 3_600),
                        };
                        places.insert(
                            tag,
                            Place {
                                position,
                                commit_time,
                            },
                        );
                    }
                    images.push(Image {
                        digest: digest(i as u64),
                        tags,
                        created: age_days.map(days_ago),
                    });
                }
                let protections = protected
                    .into_iter()
                    .filter(|(i, _)| *i < images.len())
                    .map(|(i, by_digest)| Protection {
                        target: if by_digest {
                            Target::Digest(images[i].digest.clone())
                        } else {
                            Target::Tag(images[i].tags[0].clone())
                        },
                        rule: Rule::Runs {
                            environment: "prod".into(),
                            tag: images[i].tags[0].clone(),
                        },
                    })
                    .collect();
                let mut policy = RetentionPolicy::keep_newest(0, "sha-");
                policy.keep = keep;
                policy.max_age_days = max_age_days;
                if keep.is_none() && max_age_days.is_none() {
                    policy.keep = Some(3);
                }
                policy.min_age =
                    min_age_hours.map(|h| RetentionDuration::parse(&format!("{h}h")).unwrap());
                if exclude {
                    policy
                        .exclude
                        .push(TagPattern::parse("sha-*-keep").unwrap());
                }
                World {
                    images,
                    places,
                    protections,
                    policy,
                }
            },
        )
}

fn plan_world(world: &World) -> Vec<Decision> {
    run(
        &world.policy,
        &world.images,
        &world.places,
        &world.protections,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn nothing_protected_is_ever_deleted(world in world()) {
        let decisions = plan_world(&world);
        prop_assert_eq!(decisions.len(), world.images.len());
        for decision in decisions.iter().filter(|d| d.delete) {
            let image = &decision.image;
            for protection in &world.protections {
                let hit = match &protection.target {
                    Target::Tag(tag) => image.tags.contains(tag),
                    Target::Digest(digest) => *digest == image.digest,
                };
                prop_assert!(!hit, "{:?} deleted though protected", image.tags);
            }
            for tag in &image.tags {
                prop_assert!(world.policy.excludes(tag).is_none(), "{} is outside the policy", tag);
            }
            if let Some(min_age) = &world.policy.min_age {
                let created = image.created.expect("an undated image is never deleted under min_age");
                prop_assert!(now().signed_duration_since(created) >= min_age.as_chrono());
            }
            prop_assert!(!decision.rule.is_protection());
        }
    }

    #[test]
    fn keep_keeps_exactly_n_of_the_unprotected(world in world()) {
        let mut world = world;
        world.policy.max_age_days = None;
        let keep = world.policy.keep.unwrap_or(3) as usize;
        world.policy.keep = Some(keep as u32);
        let decisions = plan_world(&world);
        let unprotected = decisions.iter().filter(|d| !d.rule.is_protection()).count();
        let newest = decisions.iter().filter(|d| matches!(d.rule, Rule::Newest { .. })).count();
        let deleted = decisions.iter().filter(|d| d.delete).count();
        prop_assert_eq!(newest, keep.min(unprotected));
        prop_assert_eq!(deleted, unprotected.saturating_sub(keep));
        // Nothing deleted is newer than something kept for being among the newest.
        let last_kept = decisions.iter().rposition(|d| matches!(d.rule, Rule::Newest { .. }));
        let first_deleted = decisions.iter().position(|d| d.delete);
        if let (Some(kept), Some(deleted)) = (last_kept, first_deleted) {
            prop_assert!(kept < deleted);
        }
    }

    #[test]
    fn planning_the_result_again_deletes_nothing_more(world in world()) {
        let decisions = plan_world(&world);
        let gone: HashSet<&Digest> = decisions.iter().filter(|d| d.delete).map(|d| &d.image.digest).collect();
        let mut after = world.clone();
        after.images.retain(|i| !gone.contains(&i.digest));
        let again = plan_world(&after);
        let deleted: Vec<&Vec<String>> = again.iter().filter(|d| d.delete).map(|d| &d.image.tags).collect();
        prop_assert!(deleted.is_empty(), "second pass deletes {:?}", deleted);
    }

    #[test]
    fn the_order_is_total_and_independent_of_input_order(world in world(), seed in any::<u64>()) {
        let first: Vec<Digest> = newest_first(&world.images, &world.places)
            .into_iter()
            .map(|i| world.images[i].digest.clone())
            .collect();
        let mut shuffled = world.images.clone();
        // A cheap deterministic shuffle.
        let len = shuffled.len();
        if len > 1 {
            for i in 0..len {
                let j = (seed.wrapping_mul(i as u64 + 1).wrapping_add(7) % len as u64) as usize;
                shuffled.swap(i, j);
            }
        }
        let second: Vec<Digest> = newest_first(&shuffled, &world.places)
            .into_iter()
            .map(|i| shuffled[i].digest.clone())
            .collect();
        prop_assert_eq!(first, second);
    }
}
