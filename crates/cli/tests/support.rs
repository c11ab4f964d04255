//! Starting and stopping a real `mileverse serve` child process for tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const TOKEN: &str = "crash-test-token";

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts `mileverse serve` on port 0 over the SQLite store in `data` and waits until it
    /// prints its address.
    pub fn start(data: &Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mileverse"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mileverse serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address line");
        let base = line
            .trim()
            .strip_prefix("mileverse listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the server did not start; it printed {line:?}")
            });
        ServerProcess {
            base: base.to_string(),
            child,
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mileverse <args>` to completion.
pub fn mileverse(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run mileverse")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}
