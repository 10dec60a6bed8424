//! The command line's parsing and the exit code several results add up to.

use clap::Parser;

use super::*;

#[test]
fn worst_code_wins() {
    assert_eq!(worst_exit_code([0, 3, 0].into_iter()), 3);
    assert_eq!(worst_exit_code([3, 1].into_iter()), 1);
    assert_eq!(worst_exit_code(std::iter::empty()), 0);
}

#[test]
fn command_line_shapes() {
    let cli = Cli::try_parse_from([
        "gantry", "--config", "g.toml", "promote", "a:sha-1", "b:sha-2", "--to", "stage",
    ])
    .unwrap();
    match cli.command {
        Some(Command::Promote {
            images, to, from, ..
        }) => {
            assert_eq!(images, ["a:sha-1", "b:sha-2"]);
            assert_eq!(to, "stage");
            assert_eq!(from, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(Cli::try_parse_from(["gantry", "promote", "a:sha-1"]).is_err());
}
