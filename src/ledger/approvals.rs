//! Requests and approvals read from the ledger's records: who asked for what, who
//! approved it, whether it ran. Pure functions over records; no git, no registry.
//!
//! An approval binds to a service, an exact digest and a target environment. Approvals
//! count once per person, and never the person who requested that promotion.

use serde::Serialize;

use super::{Record, RecordKind, MIN_ID_PREFIX};
use crate::domain::Digest;

/// Who approved, when, in which record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approver {
    pub actor: String,
    pub at: String,
    pub record: String,
}

/// The approvals a promotion of `service@digest` into `environment` has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalState {
    pub service: String,
    pub digest: Digest,
    pub environment: String,
    /// `[[environment]] approvals` of the target.
    pub needed: u32,
    /// Distinct people, first approval of each, in ledger order.
    pub approvers: Vec<Approver>,
    /// Whoever requested this promotion: their own approvals never count.
    pub requesters: Vec<String>,
    /// Requests of this promotion, oldest first.
    pub requests: Vec<String>,
}

impl ApprovalState {
    pub fn complete(&self) -> bool {
        self.approvers.len() >= self.needed as usize
    }

    /// Why a promotion is refused and what would satisfy the rule, or `None` when complete.
    pub fn shortfall(&self, image: &str, from: &str) -> Option<String> {
        if self.complete() {
            return None;
        }
        let has = if self.approvers.is_empty() {
            "has none".to_string()
        } else {
            format!(
                "has {} ({})",
                self.approvers.len(),
                self.approvers
                    .iter()
                    .map(|a| a.actor.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let next = match self.requests.last() {
            Some(id) => format!(
                "request {id} waits for {} more: others run `gantry approve {id}`",
                self.needed as usize - self.approvers.len()
            ),
            None => format!(
                "run `gantry request {image} --to {} --from {from}`, then others `gantry approve <id>`",
                self.environment
            ),
        };
        Some(format!(
            "{} into {} needs {} approval{} of {}@{}; {has}; {next}",
            self.service,
            self.environment,
            self.needed,
            if self.needed == 1 { "" } else { "s" },
            self.service,
            self.digest,
        ))
    }
}

/// Counts the approvals of `service@digest` into `environment` in `records`.
pub fn approvals_for(
    records: &[Record],
    service: &str,
    digest: &Digest,
    environment: &str,
    needed: u32,
) -> ApprovalState {
    let about = |r: &&Record| {
        r.service.as_deref() == Some(service)
            && r.digest.as_ref() == Some(digest)
            && r.environment.as_deref() == Some(environment)
    };
    let requests: Vec<&Record> = records
        .iter()
        .filter(about)
        .filter(|r| r.kind == RecordKind::Request)
        .collect();
    let requesters: Vec<String> = unique(requests.iter().map(|r| r.actor.clone()));
    let mut approvers: Vec<Approver> = Vec::new();
    for record in records
        .iter()
        .filter(about)
        .filter(|r| r.kind == RecordKind::Approval)
    {
        if requesters.contains(&record.actor) || approvers.iter().any(|a| a.actor == record.actor) {
            continue;
        }
        approvers.push(Approver {
            actor: record.actor.clone(),
            at: record.at.clone(),
            record: record.id.clone(),
        });
    }
    ApprovalState {
        service: service.to_string(),
        digest: digest.clone(),
        environment: environment.to_string(),
        needed,
        approvers,
        requesters,
        requests: requests.iter().map(|r| r.id.clone()).collect(),
    }
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Fewer approvals than the target needs.
    Waiting,
    /// Approved, not promoted yet: `gantry execute` runs it.
    Approved,
    /// A promotion of the same image into the same environment was recorded after it.
    Executed,
}

/// A request with its approvals.
#[derive(Debug, Clone, Serialize)]
pub struct RequestState {
    pub id: String,
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub from: String,
    pub to: String,
    pub requester: String,
    pub at: String,
    pub status: RequestStatus,
    pub approvals: ApprovalState,
    /// The promotion record that carried it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
}

/// Every request in `records`, oldest first; `needed` gives an environment's approvals.
pub fn requests(records: &[Record], needed: impl Fn(&str) -> u32) -> Vec<RequestState> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == RecordKind::Request)
        .filter_map(|(index, request)| {
            let service = request.service.clone()?;
            let digest = request.digest.clone()?;
            let to = request.environment.clone()?;
            let approvals = approvals_for(records, &service, &digest, &to, needed(&to));
            let promotion = records[index + 1..].iter().find(|r| {
                r.kind == RecordKind::Promotion
                    && r.service.as_ref() == Some(&service)
                    && r.digest.as_ref() == Some(&digest)
                    && r.environment.as_ref() == Some(&to)
            });
            let status = match (promotion, approvals.complete()) {
                (Some(_), _) => RequestStatus::Executed,
                (None, true) => RequestStatus::Approved,
                (None, false) => RequestStatus::Waiting,
            };
            Some(RequestState {
                id: request.id.clone(),
                service,
                tag: request.tag.clone().unwrap_or_default(),
                digest,
                from: request.detail("from").unwrap_or_default().to_string(),
                to,
                requester: request.actor.clone(),
                at: request.at.clone(),
                status,
                approvals,
                promotion: promotion.map(|p| p.id.clone()),
            })
        })
        .collect()
}

/// Why an id names no single request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindError {
    TooShort,
    Unknown,
    /// Another kind of record has this id.
    NotARequest(RecordKind),
    Ambiguous(Vec<String>),
}

/// The request whose id is `id` or starts with it (at least [`MIN_ID_PREFIX`] digits).
pub fn find_request<'r>(records: &'r [Record], id: &str) -> Result<&'r Record, FindError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < MIN_ID_PREFIX {
        return Err(FindError::TooShort);
    }
    let matching: Vec<&Record> = records.iter().filter(|r| r.id.starts_with(&id)).collect();
    let requests: Vec<&Record> = matching
        .iter()
        .copied()
        .filter(|r| r.kind == RecordKind::Request)
        .collect();
    match (requests.as_slice(), matching.first()) {
        ([one], _) => Ok(one),
        ([], Some(other)) => Err(FindError::NotARequest(other.kind.clone())),
        ([], None) => Err(FindError::Unknown),
        (many, _) => Err(FindError::Ambiguous(
            many.iter().map(|r| r.id.clone()).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::NewRecord;

    fn record(kind: RecordKind, actor: &str, digest: &Digest, request: Option<&str>) -> Record {
        let details = match request {
            Some(id) => serde_json::json!({ "request": id }),
            None => serde_json::json!({ "from": "stage" }),
        };
        Record::new(
            NewRecord {
                kind,
                service: Some("svc".into()),
                environment: Some("prod".into()),
                digest: Some(digest.clone()),
                tag: Some("sha-1234567".into()),
                details,
            },
            actor,
            &format!("2026-01-01T00:00:00.{:06}Z", actor.len()),
            1,
            None,
        )
    }

    #[test]
    fn distinct_people_count_and_the_requester_never_does() {
        let d = Digest::of(b"image");
        let request = record(RecordKind::Request, "ana@x", &d, None);
        let id = request.id.clone();
        let records = vec![
            request,
            record(RecordKind::Approval, "ana@x", &d, Some(&id)),
            record(RecordKind::Approval, "bob@x", &d, Some(&id)),
            record(RecordKind::Approval, "bob@x", &d, Some(&id)),
        ];
        let state = approvals_for(&records, "svc", &d, "prod", 2);
        assert_eq!(state.approvers.len(), 1);
        assert!(!state.complete());
        let why = state.shortfall("svc:sha-1234567", "stage").unwrap();
        assert!(
            why.contains("needs 2 approvals") && why.contains("has 1 (bob@x)"),
            "{why}"
        );
        assert!(why.contains(&format!("gantry approve {id}")), "{why}");

        let mut more = records.clone();
        more.push(record(RecordKind::Approval, "cy@x", &d, Some(&id)));
        assert!(approvals_for(&more, "svc", &d, "prod", 2).complete());
        // Another digest or environment is another promotion.
        assert!(
            approvals_for(&more, "svc", &Digest::of(b"other"), "prod", 1)
                .approvers
                .is_empty()
        );
        assert!(approvals_for(&more, "svc", &d, "stage", 1)
            .approvers
            .is_empty());
    }

    #[test]
    fn requests_move_from_waiting_to_executed() {
        let d = Digest::of(b"image");
        let request = record(RecordKind::Request, "ana@x", &d, None);
        let id = request.id.clone();
        let mut records = vec![
            request,
            record(RecordKind::Approval, "bob@x", &d, Some(&id)),
        ];
        assert_eq!(requests(&records, |_| 2)[0].status, RequestStatus::Waiting);
        assert_eq!(requests(&records, |_| 1)[0].status, RequestStatus::Approved);
        records.push(record(RecordKind::Promotion, "ci@x", &d, None));
        let states = requests(&records, |_| 1);
        assert_eq!(states[0].status, RequestStatus::Executed);
        assert_eq!(states[0].from, "stage");
    }

    #[test]
    fn ids_are_found_by_prefix() {
        let d = Digest::of(b"image");
        let request = record(RecordKind::Request, "ana@x", &d, None);
        let approval = record(RecordKind::Approval, "bob@x", &d, Some(&request.id));
        let records = vec![request.clone(), approval.clone()];
        assert_eq!(
            find_request(&records, &request.id[..8]).unwrap().id,
            request.id
        );
        assert_eq!(find_request(&records, "abc"), Err(FindError::TooShort));
        assert_eq!(
            find_request(&records, &approval.id),
            Err(FindError::NotARequest(RecordKind::Approval))
        );
        assert_eq!(
            find_request(&records, "ffffffffffff"),
            Err(FindError::Unknown)
        );
    }
}
