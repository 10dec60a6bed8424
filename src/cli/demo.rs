//! `gantry demo`: a sandbox of local registries, seeded images and a config to try gantry on.

use std::path::PathBuf;

use super::Failure;

pub async fn run(_dir: Option<PathBuf>, _no_wait: bool) -> Result<i32, Failure> {
    Err(Failure { code: 2, message: "demo: not yet".into() })
}
