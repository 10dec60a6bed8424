//! The Environments matrix's cells as they arrive: kept by service and environment for
//! the rows on screen to find theirs at once, taken only from the load that is running
//! (a load it replaced may still have cells on the way), and what rows are sorted by.

use std::collections::HashMap;

use crate::engine::inventory::StatusCell;

/// What the matrix's rows are sorted by (`s` cycles through them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowOrder {
    /// As the configuration lists the services.
    #[default]
    Configuration,
    /// By service name.
    Name,
    /// What needs a look first: unreadable cells, rebuilt tags, images not deployed,
    /// most commits behind; rows not read yet last.
    Attention,
}

impl RowOrder {
    pub fn next(self) -> RowOrder {
        match self {
            RowOrder::Configuration => RowOrder::Name,
            RowOrder::Name => RowOrder::Attention,
            RowOrder::Attention => RowOrder::Configuration,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RowOrder::Configuration => "as configured",
            RowOrder::Name => "by name",
            RowOrder::Attention => "needing attention first",
        }
    }
}

#[derive(Debug, Default)]
pub struct MatrixCells {
    /// The load whose cells are taken.
    pub load: u64,
    /// How many cells that load reads.
    pub expected: usize,
    by_service: HashMap<String, HashMap<String, StatusCell>>,
    count: usize,
}

impl MatrixCells {
    pub fn begin(&mut self, load: u64, expected: usize) {
        self.clear();
        self.load = load;
        self.expected = expected;
    }

    pub fn clear(&mut self) {
        self.by_service.clear();
        self.count = 0;
    }

    /// A cell of load `load`; one of another load is dropped.
    pub fn take(&mut self, load: u64, cell: StatusCell) {
        if load == self.load {
            self.insert(cell);
        }
    }

    fn insert(&mut self, cell: StatusCell) {
        let envs = self.by_service.entry(cell.service.clone()).or_default();
        if envs.insert(cell.environment.clone(), cell).is_none() {
            self.count += 1;
        }
    }

    /// Every cell of a whole report, which replaces what was there.
    pub fn replace(&mut self, cells: &[StatusCell]) {
        self.clear();
        for cell in cells {
            self.insert(cell.clone());
        }
        self.expected = self.count;
    }

    pub fn get(&self, service: &str, env: &str) -> Option<&StatusCell> {
        self.by_service.get(service)?.get(env)
    }

    /// The cells of these services, to be changed in place.
    pub fn of_services_mut<'a>(
        &'a mut self,
        services: &'a [String],
    ) -> impl Iterator<Item = &'a mut StatusCell> {
        self.by_service
            .iter_mut()
            .filter(move |(service, _)| services.contains(service))
            .flat_map(|(_, envs)| envs.values_mut())
    }

    pub fn all(&self) -> impl Iterator<Item = &StatusCell> {
        self.by_service.values().flat_map(|envs| envs.values())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How much a row needs a look, for `RowOrder::Attention`: higher first.
    pub fn attention(&self, service: &str, envs: &[&str]) -> (u8, usize) {
        let Some(cells) = self.by_service.get(service) else {
            return (0, 0);
        };
        let mut worst = 1;
        let mut behind = 0;
        for env in envs {
            let Some(cell) = cells.get(*env) else {
                continue;
            };
            let undeployed = cell
                .deployed
                .as_ref()
                .is_some_and(|d| d.in_sync == Some(false));
            let level = if cell.error.is_some() {
                5
            } else if !cell.drift.is_empty() {
                4
            } else if undeployed {
                3
            } else if cell.behind.as_ref().is_some_and(|b| b.commits > 0) {
                2
            } else {
                1
            };
            worst = worst.max(level);
            behind += cell.behind.as_ref().map_or(0, |b| b.commits);
        }
        (worst, behind)
    }
}
