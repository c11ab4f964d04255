//! `serve --demo` (issue 14, the first run): the demo merchant's till is printed at start
//! and signs VAN requests the server accepts; a restart prints a new till and the old
//! secret stops working.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to print its demo lines.
const START_TIMEOUT_S: u64 = 60;

struct Demo {
    child: Child,
    base: String,
    terminal: String,
    secret: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve --demo` on `data`: its address and its till, read from what it prints.
fn start(data: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--demo", "--data"])
        .arg(data)
        .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", support::TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mileverse");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_S);
    let (mut base, mut till) = (None, None);
    for line in lines {
        assert!(Instant::now() < deadline, "serve --demo took too long");
        let line = line.expect("a line");
        if let Some(address) = line.strip_prefix("mileverse listening on ") {
            base = Some(address.to_string());
        }
        if line.starts_with("demo merchant") {
            till = Some(line);
            break;
        }
    }
    let till = till.expect("the demo merchant's line");
    let word_after = |word: &str| {
        let rest = till.split(word).nth(1).expect(word);
        rest.split_whitespace().next().expect(word).to_string()
    };
    Demo {
        child,
        base: base.expect("the address line"),
        terminal: word_after("its till is terminal "),
        secret: word_after(" with the secret "),
    }
}

/// `mileverse pos … status` of an unknown transaction: the problem type the server answered.
fn status_problem(base: &str, terminal: &str, secret: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args([
            "pos",
            "--server",
            base,
            "--terminal",
            terminal,
            "--secret",
            secret,
        ])
        .args(["status", "--van-tx-id", "no-such-sale"])
        .output()
        .expect("run pos");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let answer: serde_json::Value = serde_json::from_str(&text).expect("a JSON answer");
    answer["type"].as_str().expect("a problem").to_string()
}

#[test]
fn the_demo_till_signs_for_its_merchant_and_a_restart_replaces_it() {
    let directory = tempfile::tempdir().expect("tempdir");
    let data = directory.path().join("data");
    let first = start(&data);
    // Signed by the printed secret: the signature passes, and the sale is unknown.
    let unknown = "urn:mileverse:problem:unknown-transaction";
    assert_eq!(
        status_problem(&first.base, &first.terminal, &first.secret),
        unknown
    );
    let wrong = format!("00{}", &first.secret[2..]);
    assert_eq!(
        status_problem(&first.base, &first.terminal, &wrong),
        "urn:mileverse:problem:bad-signature"
    );
    let (old_terminal, old_secret) = (first.terminal.clone(), first.secret.clone());
    drop(first);

    let second = start(&data);
    assert_ne!(second.terminal, old_terminal, "a new till each start");
    assert_eq!(
        status_problem(&second.base, &second.terminal, &second.secret),
        unknown
    );
    let old = status_problem(&second.base, &old_terminal, &old_secret);
    assert_ne!(old, unknown, "the earlier start's till is disabled: {old}");
}
