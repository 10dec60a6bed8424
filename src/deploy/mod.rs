//! After a promotion: point the environment at the new digest (a GitOps commit or a hook command), then watch the rollout.

pub mod hook;
pub mod settings;
pub mod yaml_edit;
