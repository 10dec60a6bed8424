//! The service x environment matrix, read cell by cell: in the order the caller wants
//! them (the console asks for the rows on screen first), each cell handed over as soon
//! as it is read, many cells at once with each registry host bounding its own requests
//! (`[copy] requests_per_host`).

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use super::inventory::StatusCell;
use super::Engine;

/// Cells being read at once; the registry hosts' own bounds keep each one's load fair.
const CELLS_IN_FLIGHT: usize = 64;

/// Something told of each cell as it arrives.
pub type CellSink<'a> = &'a (dyn Fn(&StatusCell) + Sync);

impl Engine {
    /// The service x environment matrix. A registry that cannot be read shows as an
    /// error in its cells; the others still answer.
    pub async fn status(&self) -> Vec<StatusCell> {
        self.status_reading(self.fresh).await
    }

    /// `status`, reading every tag live when `fresh`.
    pub async fn status_reading(&self, fresh: bool) -> Vec<StatusCell> {
        self.status_cells(self.matrix_order(), fresh, &|_| {}).await
    }

    /// Every (service, environment) of the configuration, services first, as they are
    /// listed there.
    pub fn matrix_order(&self) -> Vec<(String, String)> {
        self.config
            .services
            .iter()
            .flat_map(|service| {
                self.config
                    .environments
                    .iter()
                    .map(move |env| (service.name.clone(), env.name.clone()))
            })
            .collect()
    }

    /// The cells of `order` (service and environment names; unknown ones are skipped),
    /// started in that order, each given to `sink` when read; then what each
    /// environment's GitOps file pins. Returned in `order`.
    pub async fn status_cells(
        &self,
        order: Vec<(String, String)>,
        fresh: bool,
        sink: CellSink<'_>,
    ) -> Vec<StatusCell> {
        let wanted: Vec<_> = order
            .into_iter()
            .filter_map(|(service, env)| {
                let service = self.config.service(&service).ok()?.clone();
                let env = self.config.environment(&env).ok()?.clone();
                Some((service, env))
            })
            .enumerate()
            .collect();
        let mut cells: Vec<(usize, StatusCell)> = stream::iter(wanted)
            .map(|(position, (service, env))| async move {
                let mut cell = StatusCell {
                    service: service.name.clone(),
                    environment: env.name.clone(),
                    mutable_tag: env.mutable_tag.clone(),
                    digest: None,
                    tags: Vec::new(),
                    image_count: 0,
                    error: None,
                    commit: None,
                    behind: None,
                    drift: Vec::new(),
                    digests: BTreeMap::new(),
                    deployed: None,
                };
                if let Err(e) = self.fill_status(&mut cell, &service, &env, fresh).await {
                    cell.error = Some(e.to_string());
                }
                sink(&cell);
                (position, cell)
            })
            .buffer_unordered(CELLS_IN_FLIGHT)
            .collect()
            .await;
        cells.sort_by_key(|(position, _)| *position);
        let mut cells: Vec<StatusCell> = cells.into_iter().map(|(_, cell)| cell).collect();
        self.save_tag_caches();
        self.attach_deployed(&mut cells).await;
        cells
    }
}
