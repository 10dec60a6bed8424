//! What the ledger made of an action (recorded, pushed, off, or a warning): the action
//! itself stands either way, so this is reported beside it, never as its failure.

use serde::Serialize;

use super::store::Appended;
use super::LedgerError;

/// What the ledger made of a promotion or rollback. The action itself stands either way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerNote {
    /// The record written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The remote the record was pushed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_to: Option<String>,
    /// Why the ledger is off, when it is: nothing was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
    /// What went wrong recording or sharing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl LedgerNote {
    pub fn from_append(result: Result<Option<Appended>, LedgerError>) -> LedgerNote {
        LedgerNote::from_append_as(result, "not recorded in the ledger")
    }

    /// As `from_append`, with `unrecorded` saying what was not recorded when appending failed.
    pub(crate) fn from_append_as(
        result: Result<Option<Appended>, LedgerError>,
        unrecorded: &str,
    ) -> LedgerNote {
        match result {
            Ok(None) => LedgerNote::default(),
            Ok(Some(appended)) => LedgerNote {
                record: Some(appended.record.id),
                pushed_to: appended.pushed_to,
                off: None,
                warning: appended.warning,
            },
            Err(LedgerError::Off(reason)) => LedgerNote {
                off: Some(reason),
                ..LedgerNote::default()
            },
            Err(e) => LedgerNote {
                warning: Some(format!("{unrecorded}: {e}")),
                ..LedgerNote::default()
            },
        }
    }
}
