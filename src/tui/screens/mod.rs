//! The console's screens. Each owns the state it shows, answers the actions it owns with
//! `Effect`s (asking the app, through the context, for what only the app does), and
//! draws itself as a pure function of that state and the shared context.

pub mod audit;
pub mod branches;
pub mod commits;
pub mod doctor;
pub mod environments;
pub mod help;
pub mod images;
pub mod matrix_cells;
pub mod promotion_rows;
pub mod promotions;
pub mod retention;
