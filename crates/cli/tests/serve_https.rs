//! `mileverse serve --tls-cert --tls-key` and `partner-sim` with the same options, as an
//! operator runs them: HTTPS on the printed https:// address, a certificate replaced on
//! disk served at once after SIGHUP, and refusals of a half or broken configuration.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{ServerProcess, SimProcess, mileverse_with};
use tls::ClientTls;
use tls::test_pki::TestCa;

struct Files {
    directory: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    /// A loopback certificate from `ca` in a fresh directory.
    fn new(ca: &TestCa) -> Files {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (cert, key) = (
            directory.path().join("tls.pem"),
            directory.path().join("tls.key"),
        );
        ca.loopback_leaf().write(&cert, &key);
        Files {
            directory,
            cert,
            key,
        }
    }

    fn options(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// `ca`'s certificate, written next to the server's.
    fn ca_file(&self, ca: &TestCa, name: &str) -> PathBuf {
        let path = self.directory.path().join(name);
        ca.write_cert(&path);
        path
    }
}

/// `GET base + path`'s status with a fresh client trusting the system's roots and `ca_file`
/// (no cached TLS session, which would skip the certificate: every call is a handshake).
fn status(base: &str, path: &str, ca_file: Option<&Path>) -> Option<u16> {
    let client = ClientTls::new(ca_file)
        .expect("client TLS")
        .reqwest_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = client.get(format!("{base}{path}")).send().await.ok()?;
        Some(response.status().as_u16())
    })
}

#[test]
fn serve_speaks_https_and_rereads_its_certificate_on_sighup() {
    let (ca_a, ca_b) = (TestCa::new("serve CA A"), TestCa::new("serve CA B"));
    let files = Files::new(&ca_a);
    let data = tempfile::tempdir().expect("data directory");
    let server = ServerProcess::start_with(data.path(), &files.options());
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let (a, b) = (files.ca_file(&ca_a, "a.pem"), files.ca_file(&ca_b, "b.pem"));
    let (trusts_a, trusts_b) = (Some(a.as_path()), Some(b.as_path()));
    assert_eq!(status(&server.base, "/healthz", trusts_a), Some(200));
    assert_eq!(status(&server.base, "/healthz", trusts_b), None);

    ca_b.loopback_leaf().write(&files.cert, &files.key);
    // SAFETY: signalling our own child process by its id.
    let sent = unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(sent, 0, "SIGHUP");
    // Well before the 10 s of the periodic check: the signal did it.
    let started = Instant::now();
    while status(&server.base, "/healthz", trusts_b) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new certificate is not served after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status(&server.base, "/healthz", trusts_a), None);
}

#[test]
fn partner_sim_speaks_https_with_the_same_options() {
    let ca = TestCa::new("partner-sim CA");
    let files = Files::new(&ca);
    let sim = SimProcess::start_with("sim-secret", &files.options());
    assert!(sim.base.starts_with("https://127.0.0.1:"), "{}", sim.base);
    let trusting = files.ca_file(&ca, "ca.pem");
    assert_eq!(
        status(&sim.base, "/sim/v1/stats", Some(&trusting)),
        Some(200)
    );
    assert_eq!(status(&sim.base, "/sim/v1/stats", None), None);
}

fn refused(data: &Path, extra: &[String]) -> String {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend(extra.iter().map(String::as_str));
    let output = mileverse_with(&args, data, &[]);
    assert!(!output.status.success(), "serve started with {extra:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_certificate_without_its_key_or_a_broken_one_is_refused_at_start() {
    let files = Files::new(&TestCa::new("refusals CA"));
    let data = tempfile::tempdir().expect("data directory");
    let cert = files.cert.display().to_string();
    let stderr = refused(data.path(), &["--tls-cert".into(), cert.clone()]);
    assert!(stderr.contains("--tls-key"), "{stderr}");

    let broken = files.directory.path().join("broken.pem");
    std::fs::write(&broken, "not a certificate").expect("write");
    let broken = broken.display().to_string();
    let stderr = refused(
        data.path(),
        &[
            "--tls-cert".into(),
            broken.clone(),
            "--tls-key".into(),
            files.key.display().to_string(),
        ],
    );
    assert!(
        stderr.contains(&broken),
        "the error names the file: {stderr}"
    );

    let missing_ca = files
        .directory
        .path()
        .join("absent-ca.pem")
        .display()
        .to_string();
    let stderr = refused(data.path(), &["--ca-file".into(), missing_ca.clone()]);
    assert!(
        stderr.contains(&missing_ca),
        "the error names the file: {stderr}"
    );
}
