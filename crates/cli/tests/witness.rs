//! Witnesses end to end: a real anvil with the genesis contracts (three authorities,
//! threshold 2), the real server anchoring with `--chain-rpc`, and `mileverse witness
//! --once` processes. Two witnesses co-sign the server's proposal and the anchor holds it;
//! `verify --chain-rpc` agrees. Then the two ways a server can lie: a checkpoint anchored
//! on chain that the log does not produce (a witness reading the chain refuses, `verify`
//! fails), and a block changed in the store under a running server (a fresh witness
//! refuses, naming the block). Refusals exit with code 3 and write their report.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chain::{B256, DevNode, Genesis, PrivateKeySigner, VestingSchedule};
use serde_json::{Value, json};
use support::{ServerProcess, TOKEN, client, mileverse_with};

/// Starts `mileverse serve` with `extra` options and waits for its address, whatever it
/// prints before (the chain line), then keeps draining its stdout.
fn start_server(data: &Path, extra: &[String]) -> ServerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .env("MILEVERSE_BOOTSTRAP_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mileverse serve");
    // Owned by the guard from here on: a failed start still kills and reaps the server.
    let mut server = ServerProcess {
        child,
        base: String::new(),
    };
    let mut reader = BufReader::new(server.child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while server.base.is_empty() {
        line.clear();
        let read = reader.read_line(&mut line).expect("read stdout");
        assert!(read > 0, "the server exited before listening");
        if let Some(base) = line.trim().strip_prefix("mileverse listening on ") {
            server.base = base.to_string();
        }
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    server
}

/// A witness key made by `mileverse chain keygen` (mode 0600), and the address it printed.
fn keygen(path: &Path) -> (PrivateKeySigner, PathBuf) {
    let output = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["chain", "keygen", "--key"])
        .arg(path)
        .output()
        .expect("run chain keygen");
    assert!(output.status.success(), "{}", describe(&output));
    let key = std::fs::read_to_string(path).expect("the key file");
    let signer = chain::signer(key.trim()).expect("a key");
    assert!(
        text(&output.stdout).contains(&format!("address {}", signer.address())),
        "{}",
        describe(&output)
    );
    (signer, path.to_path_buf())
}

fn write_key(path: &Path, signer: &PrivateKeySigner) {
    std::fs::write(path, format!("0x{}\n", hex::encode(signer.to_bytes()))).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// The chain side: anvil, the genesis deployed, its deployment file, and the keys.
struct World {
    node: DevNode,
    dir: PathBuf,
    deployment: chain::deploy::DeploymentFile,
    deployment_file: PathBuf,
    platform_key: PathBuf,
    witnesses: Vec<PrivateKeySigner>,
    witness_keys: Vec<PathBuf>,
}

impl World {
    async fn new(dir: &Path) -> World {
        let node = DevNode::start().expect("anvil starts");
        let provider = node.provider(&[]).expect("provider");
        let accounts = node.accounts();
        let (witnesses, witness_keys): (Vec<PrivateKeySigner>, Vec<PathBuf>) = (0..3)
            .map(|i| keygen(&dir.join(format!("witness{i}.key"))))
            .unzip();
        let now = chain::devnode::latest_timestamp(&provider).await.unwrap();
        let schedule = |beneficiary| VestingSchedule {
            beneficiary,
            start: now + 1_000,
            duration: 365 * 86_400,
            cliff: 0,
        };
        let genesis = Genesis {
            admin: accounts[1],
            team: schedule(accounts[6]),
            advisor: schedule(accounts[7]),
            sale: accounts[2],
            partner: accounts[3],
            marketing: accounts[4],
            reserved: accounts[5],
            authorities: witnesses.iter().map(PrivateKeySigner::address).collect(),
            threshold: 2,
            bridge_operator: accounts[0],
        };
        let deployment = genesis.deploy(&provider).await.expect("genesis deploys");
        let chain_id = chain::anchor::chain_id(&provider).await.unwrap();
        let deployment = chain::deploy::DeploymentFile::new(chain_id, &genesis, &deployment);
        let deployment_file = dir.join("deployment.json");
        deployment.write_new(&deployment_file).unwrap();
        let platform_key = dir.join("platform.key");
        write_key(&platform_key, &node.keys()[0]);
        World {
            node,
            dir: dir.to_path_buf(),
            deployment,
            deployment_file,
            platform_key,
            witnesses,
            witness_keys,
        }
    }

    fn serve_options(&self) -> Vec<String> {
        let path = |p: &PathBuf| p.display().to_string();
        vec![
            "--chain-rpc".into(),
            self.node.url(),
            "--chain-key".into(),
            path(&self.platform_key),
            "--chain-deployment".into(),
            path(&self.deployment_file),
            "--anchor-interval-ms".into(),
            "200".into(),
        ]
    }

    fn chain_options(&self) -> Vec<String> {
        vec![
            "--chain-rpc".into(),
            self.node.url(),
            "--chain-deployment".into(),
            self.deployment_file.display().to_string(),
        ]
    }

    /// `mileverse witness --server BASE --key KEY --once --poll-ms 100 EXTRA…`.
    fn witness(&self, base: &str, key: usize, extra: &[String]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mileverse"))
            .args(["witness", "--server", base, "--key"])
            .arg(&self.witness_keys[key])
            .args(["--once", "--poll-ms", "100"])
            .args(extra)
            .env("MILEVERSE_FEED_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .output()
            .expect("run mileverse witness")
    }

    fn verify(&self, data: &Path) -> Output {
        mileverse_with(&["verify"], data, &self.chain_options())
    }

    async fn anchored(&self) -> Vec<chain::anchor::Anchored> {
        let provider = self.node.provider(&[]).unwrap();
        chain::anchor::anchored(&provider, self.deployment.anchor, 0, 100)
            .await
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

async fn post(base: &str, path: &str, body: Value) {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 200, "{path}");
}

async fn get(base: &str, path: &str) -> Value {
    let response = client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.expect("json")
}

/// Rounds of 4 transfers each, one request (one block) per round, from `first_id` on.
async fn transfers(base: &str, first_id: u64, rounds: u64) {
    for round in 0..rounds {
        let transfers: Vec<Value> = (0..4u64)
            .map(|i| {
                json!({"id": (first_id + round * 4 + i).to_string(), "debit_account_id": "1",
                    "credit_account_id": "2", "amount": "7", "ledger": 1, "code": 1})
            })
            .collect();
        post(
            base,
            "/admin/v1/ledger/transfers",
            json!({ "transfers": transfers }),
        )
        .await;
    }
}

/// Polls `GET /v1/ledger/anchor` until `accept` takes the answer.
async fn poll_anchor(base: &str, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let anchor = get(base, "/v1/ledger/anchor").await;
        if accept(&anchor) {
            return anchor;
        }
        assert!(Instant::now() < deadline, "no {what}: {anchor}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server's proposal, once there is one above `after` (a height).
async fn wait_for_proposal(base: &str, after: Option<u64>) -> Value {
    let above = |anchor: &Value| {
        let height = anchor["proposal"]["height"].as_u64();
        height.is_some_and(|height| after.is_none_or(|after| height > after))
    };
    poll_anchor(base, "proposal", above).await["proposal"].clone()
}

/// The latest anchored checkpoint, once it is at `height`.
async fn wait_for_anchored(base: &str, height: u64) -> Value {
    let at = |anchor: &Value| anchor["latest_anchored"]["height"].as_u64() == Some(height);
    poll_anchor(base, "anchoring", at).await["latest_anchored"].clone()
}

fn read_report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written")).unwrap()
}

/// TTC's issue at the first start, the 32 transfers of 8 rounds, and the audit log's
/// intent and outcome commitments for each of the 9 admin calls that made them.
const TREE_SIZE: u64 = 1 + 32 + 2 * 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witnesses_anchor_the_ledger_and_refuse_a_lying_server() {
    let directory = tempfile::tempdir().expect("tempdir");
    let world = World::new(directory.path()).await;
    let data = world.dir.join("data");
    let server = start_server(&data, &world.serve_options());
    let base = server.base.clone();

    // The ledger moves. The server proposes its latest signed checkpoint (the first one
    // may predate the transfers: it stays proposed until anchored); two of three witnesses
    // co-sign each proposal, the threshold, and the anchor holds it, until the anchored
    // checkpoint covers every transfer. Each run starts from the witness's state file.
    let accounts = json!({"accounts": [{"id": "1", "ledger": 1, "code": 1},
        {"id": "2", "ledger": 1, "code": 1}]});
    post(&base, "/admin/v1/ledger/accounts", accounts).await;
    transfers(&base, 1_000, 8).await;
    let mut anchored_heights = Vec::new();
    while anchored_heights.len() < 3 {
        let proposal = wait_for_proposal(&base, anchored_heights.last().copied()).await;
        for key in 0..2 {
            let output = world.witness(&base, key, &[]);
            assert!(
                output.status.success(),
                "witness {key}: {}",
                describe(&output)
            );
            let stderr = text(&output.stderr);
            assert!(stderr.contains("co-signed checkpoint"), "{stderr}");
            let cosigned = format!("co-signed block {}", proposal["height"]);
            assert!(
                text(&output.stdout).contains(&cosigned),
                "{}",
                describe(&output)
            );
        }
        let anchored = wait_for_anchored(&base, proposal["height"].as_u64().unwrap()).await;
        for field in ["height", "tree_size", "root"] {
            assert_eq!(anchored[field], proposal[field], "{field}");
        }
        anchored_heights.push(proposal["height"].as_u64().unwrap());
        if proposal["tree_size"] == TREE_SIZE {
            break;
        }
    }
    assert_eq!(
        get(&base, "/v1/ledger/anchor").await["latest_anchored"]["tree_size"],
        TREE_SIZE,
        "the anchored checkpoint covers every transfer"
    );
    let on_chain = world.anchored().await;
    let heights: Vec<u64> = on_chain.iter().map(|a| a.checkpoint.height).collect();
    assert_eq!(heights, anchored_heights);
    // `/metrics` sees the anchor caught up, and timed the anchoring calls to the node.
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    let value = |prefix: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|value| value.trim().parse::<f64>().expect("a number"))
    };
    assert_eq!(
        value("mileverse_anchoring_lag_transfers "),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        value("mileverse_anchoring_lag_blocks ").is_some(),
        "{metrics}"
    );
    assert!(
        value("mileverse_anchoring_lag_seconds ").is_some(),
        "{metrics}"
    );
    let anchor_calls = metrics.lines().find_map(|line| {
        let rest = line.strip_prefix("mileverse_chain_call_duration_seconds_count{")?;
        let (labels, count) = rest.split_once("} ")?;
        let ours = labels.contains("operation=\"anchor\"") && labels.contains("outcome=\"ok\"");
        ours.then(|| count.trim().parse::<f64>().expect("a number"))
    });
    assert!(
        anchor_calls.is_some_and(|count| count >= on_chain.len() as f64),
        "{metrics}"
    );

    // `verify --chain-rpc` finds the anchored checkpoint in the store's log.
    server.kill();
    let output = world.verify(&data);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        text(&output.stdout).contains(&format!("{} anchored checkpoints match", on_chain.len())),
        "{}",
        describe(&output)
    );

    // The third witness, reading the chain too, agrees with everything so far.
    let server = start_server(&data, &world.serve_options());
    let base = server.base.clone();
    let output = world.witness(&base, 2, &world.chain_options());
    assert!(output.status.success(), "{}", describe(&output));

    // A split view on chain: two authorities anchor a root the log never had (what a
    // server colluding with them could do). The third witness refuses; verify fails.
    transfers(&base, 2_000, 3).await;
    let head = get(&base, "/v1/ledger/checkpoint").await;
    let forged = chain::Checkpoint {
        height: head["block_height"].as_u64().unwrap(),
        tree_size: head["tree_size"].as_u64().unwrap(),
        root: B256::repeat_byte(0x66),
    };
    let signatures = world.witnesses[..2]
        .iter()
        .map(|signer| {
            chain::anchor::sign(
                signer,
                &forged,
                world.deployment.anchor,
                world.deployment.chain_id,
            )
            .unwrap()
        })
        .collect();
    let signers = [world.node.keys()[9].clone()];
    let submitter = chain::connect(&world.node.url(), &signers, &tls::ClientTls::system()).unwrap();
    chain::anchor::submit(&submitter, world.deployment.anchor, &forged, signatures)
        .await
        .expect("the forged checkpoint is anchored");
    let report = world.dir.join("split.json");
    let mut extra = world.chain_options();
    extra.extend(["--report".into(), report.display().to_string()]);
    let output = world.witness(&base, 2, &extra);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        text(&output.stderr).contains("split-view"),
        "{}",
        describe(&output)
    );
    let report = read_report(&report);
    assert_eq!(report["kind"], "split-view");
    assert_eq!(report["height"], forged.height);
    assert_eq!(report["witness"], world.witnesses[2].address().to_string());
    server.kill();
    let output = world.verify(&data);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        text(&output.stdout).contains(&format!("split view at block {}", forged.height)),
        "{}",
        describe(&output)
    );

    // A block changed in the store under the running server: a fresh witness (a new
    // state) replays the feed and refuses at that block, posting nothing.
    let server = start_server(&data, &world.serve_options());
    let database = rusqlite::Connection::open(data.join("ledger.db")).expect("open");
    database.busy_timeout(Duration::from_secs(5)).unwrap();
    let height: u64 = database
        .query_row(
            "SELECT block_height FROM transfers WHERE seq = 10",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap() as u64;
    let forged_amount = 8u128.to_be_bytes().to_vec();
    database
        .execute(
            "UPDATE transfers SET amount = ?1 WHERE seq = 10",
            [forged_amount],
        )
        .expect("tamper");
    drop(database);
    let report = world.dir.join("tampered.json");
    let state = world.dir.join("fresh.state.json");
    let extra = [
        "--state".to_string(),
        state.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ];
    let output = world.witness(&server.base, 2, &extra);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = read_report(&report);
    assert_eq!(report["kind"], "bad-block", "{report}");
    assert_eq!(report["height"], height, "{report}");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        state["last_cosigned"].is_null(),
        "nothing was co-signed: {state}"
    );
    // The witness that co-signed before refuses too.
    let output = world.witness(&server.base, 0, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
}
