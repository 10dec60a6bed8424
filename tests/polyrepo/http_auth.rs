//! A service repository named by an http:// URL behind basic auth (`git http-backend`):
//! its mirror is fetched with the password git's credential helper gives, as a push is;
//! a wrong password is refused once (not offered again in a loop), named as such, and a
//! mirror fetched before is still read, with its age said.

use super::*;
use common::git::HttpRemote;

#[test]
fn a_repository_behind_basic_auth_is_mirrored_with_git_credential_helper() {
    let fleet = Fleet::new("poly-http-auth", "");
    let root = fleet.case.dir.path();
    let served = root.join("served");
    std::fs::create_dir_all(&served).expect("dir");
    fleet.pay_work.git(&[
        "clone",
        "-q",
        "--bare",
        fleet.pay_remote.to_str().expect("utf-8"),
        served.join("pay.git").to_str().expect("utf-8"),
    ]);
    let server = HttpRemote::start(&served, "gantry", "s3cret");
    let url = format!("http://127.0.0.1:{}/pay.git", server.port);
    // The server, named once beside the URL the message already gives.
    let refusal = format!(
        "127.0.0.1:{} refused the username and password git's credential helper gave",
        server.port
    );
    fleet.edit_config(
        &format!("git = \"file://{}\"", fleet.pay_remote.display()),
        &format!("git = \"{url}\""),
    );
    // git's own `store` helper in the user's global configuration: gantry runs with HOME
    // in the case directory, where libgit2 reads it (and git, named by GIT_CONFIG_GLOBAL).
    let store = root.join("credentials");
    let gitconfig = root.join(".gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            store.display()
        ),
    )
    .expect("write gitconfig");
    let password = |word: &str| {
        std::fs::write(
            &store,
            format!("http://gantry:{word}@127.0.0.1:{}\n", server.port),
        )
        .expect("write credentials");
    };
    let gantry = |args: &[&str]| {
        common::git::gantry_command(root, &fleet.case.config, args)
            .env("GIT_CONFIG_GLOBAL", &gitconfig)
            .output()
            .expect("run gantry")
    };
    let pay = fleet.pay.clone();

    // A wrong password and no mirror yet: refused once, the repository and why named.
    password("wrong");
    let out = gantry(&["commits", "--service", &pay]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains(&pay) && err.contains(&url), "{err}");
    assert!(err.contains("cannot be fetched"), "{err}");
    assert!(err.contains(&refusal), "{err}");
    let refused = server.refused();
    assert!(
        (1..=3).contains(&refused),
        "{refused} refused requests: the credential must be offered once, not in a loop"
    );
    assert!(fleet.mirrors().is_empty(), "{:?}", fleet.mirrors());

    // The right one: `gantry fetch` clones the mirror, commits lists pay's history.
    password("s3cret");
    let refused_before = server.refused();
    let out = gantry(&["fetch"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{pay}  {url}  cloned")),
        "{}",
        stdout(&out)
    );
    // The first request went without a password, as git's do; the helper answered.
    assert!(
        server.refused() > refused_before,
        "never asked for a password"
    );
    assert_eq!(fleet.mirrors().len(), 1);
    let out = gantry(&["commits", "--service", &pay, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        subjects(&json(&out)),
        [
            "Pay: faster refunds",
            "Pay: retry declines",
            "Pay: add card checks",
            "Pay: initial commit"
        ]
    );

    // Wrong again, the mirror there: fetch fails naming the refusal, offered once; a
    // command still reads the mirror and says how old it is.
    password("wrong");
    let refused_before = server.refused();
    let out = gantry(&["fetch"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    let line = text
        .lines()
        .find(|l| l.starts_with(&pay))
        .unwrap_or_default();
    assert!(line.contains(&url) && line.contains("failed"), "{text}");
    assert!(line.contains(&refusal), "{text}");
    let refused = server.refused() - refused_before;
    assert!(
        (1..=3).contains(&refused),
        "{refused} refused requests: the credential must be offered once, not in a loop"
    );
    let out = gantry(&["commits", "--service", &pay, "--json"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(subjects(&json(&out))[0], "Pay: faster refunds");
    // Not "unreachable": the server answered, and refused the password.
    assert!(
        err.contains(&format!("{pay}: {url} cannot be fetched ({refusal}")),
        "{err}"
    );
    assert!(err.contains("): read from the copy fetched "), "{err}");
    assert!(err.contains(" ago"), "{err}");
}
