//! MVP → MVC conversion end to end: a real anvil, the genesis contracts deployed with
//! `mileverse chain deploy`, the real server (`serve --demo --chain-rpc`), a member who
//! earns MVP by an exchange, proves a wallet made by `mileverse wallet`, and converts.
//! The RPC goes through a TCP proxy the test can cut, so the node "fails" mid-conversion
//! without losing the chain's state; the server is also killed while a conversion waits.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chain::{Address, DevNode, U256};
use serde_json::{Value, json};
use support::{ServerProcess, TOKEN, client, mileverse};

const WEI_PER_MVC: u128 = 1_000_000_000_000_000_000;
const PIN: &str = "482915";

// ---------------------------------------------------------------------------------------
// A TCP proxy in front of the node, which the test can cut (every connection dropped and
// new ones refused) and restore.

struct Proxy {
    url: String,
    up: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let up = Arc::new(AtomicBool::new(true));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (up_flag, tracked) = (up.clone(), streams.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                if !up_flag.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let Ok(outbound) = TcpStream::connect(&upstream) else {
                    continue;
                };
                relay(inbound, outbound, &tracked);
            }
        });
        Proxy { url, up, streams }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for stream in self.streams.lock().expect("streams").drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

fn relay(inbound: TcpStream, outbound: TcpStream, tracked: &Mutex<Vec<TcpStream>>) {
    let mut streams = tracked.lock().expect("streams");
    for stream in [&inbound, &outbound] {
        streams.push(stream.try_clone().expect("clone"));
    }
    drop(streams);
    for (mut from, mut to) in [
        (
            inbound.try_clone().expect("clone"),
            outbound.try_clone().expect("clone"),
        ),
        (outbound, inbound),
    ] {
        std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            while let Ok(read) = from.read(&mut buffer) {
                if read == 0 || to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}

// ---------------------------------------------------------------------------------------
// Chain setup

struct Chain {
    node: DevNode,
    key_file: std::path::PathBuf,
    deployment_file: std::path::PathBuf,
}

fn write_key(path: &Path, signer: &chain::PrivateKeySigner) {
    std::fs::write(path, format!("0x{}\n", hex::encode(signer.to_bytes()))).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

fn deploy(dir: &Path) -> Chain {
    let node = DevNode::start().expect("start anvil");
    let key_file = dir.join("platform.key");
    write_key(&key_file, &node.keys()[0]);
    let deployment_file = dir.join("deployment.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["chain", "deploy", "--rpc", &node.url(), "--key"])
        .arg(&key_file)
        .arg("--out")
        .arg(&deployment_file)
        .output()
        .expect("run chain deploy");
    assert!(output.status.success(), "deploy: {output:?}");
    Chain {
        node,
        key_file,
        deployment_file,
    }
}

impl Chain {
    fn deployment(&self) -> chain::deploy::DeploymentFile {
        chain::deploy::DeploymentFile::read(&self.deployment_file).expect("deployment")
    }

    async fn mvc_balance(&self, holder: Address) -> u128 {
        let provider = self.node.provider(&[]).expect("provider");
        let token = chain::contracts::MVC::new(self.deployment().token, &provider);
        let balance: U256 = token.balanceOf(holder).call().await.expect("balanceOf");
        balance.to::<u128>()
    }

    fn serve_options(&self, rpc_url: &str) -> Vec<String> {
        vec![
            "--demo".into(),
            "--chain-rpc".into(),
            rpc_url.into(),
            "--chain-key".into(),
            self.key_file.display().to_string(),
            "--chain-deployment".into(),
            self.deployment_file.display().to_string(),
            "--resolver-backoff-max-ms".into(),
            "500".into(),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// HTTP helpers

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self
            .call(reqwest::Method::GET, path, token, None, None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body), None)
            .await
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// Signs up and logs in a member, links Demo Air and exchanges `mileage` (rate 1:1).
/// A member with `mileage` exchanged into MVP: its session token and device token.
async fn member_with_mvp(api: &Api, phone: &str, mileage: u64) -> (String, String) {
    let (status, body) = api
        .post("/v1/verifications", "", json!({"phone": phone}))
        .await;
    assert_eq!(status, 201, "{body}");
    let verification_id = text(&body["verification_id"]);
    let outbox = api
        .get(&format!("/admin/v1/sms-outbox?phone={phone}"), TOKEN)
        .await;
    let sms = text(&outbox["messages"][0]["text"]);
    let code = sms.rsplit(' ').next().expect("code").to_string();
    let body =
        json!({"verification_id": verification_id, "code": code, "name": "Minji", "pin": PIN});
    let (status, body) = api.post("/v1/members", "", body).await;
    assert_eq!(status, 201, "{body}");
    let device_token = text(&body["device_token"]);
    let login = json!({"phone": phone, "pin": PIN, "device_token": device_token});
    let (status, body) = api.post("/v1/sessions", "", login).await;
    assert_eq!(status, 201, "{body}");
    let token = text(&body["token"]);
    let partners = api.get("/v1/partners", &token).await;
    let partner_id = text(&partners["partners"][0]["partner_id"]);
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    let member_ref = format!("M-{phone}");
    let proof = support::link_with_proof(
        &api.http,
        &api.base,
        &token,
        &partner_id,
        &member_ref,
        password,
    )
    .await;
    let status = proof.status().as_u16();
    let body: Value = proof.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "{body}");
    let exchange = json!({"link_id": text(&body["link_id"]), "mileage": mileage});
    let (status, body) = api.post("/v1/exchanges", &token, exchange).await;
    assert_eq!(
        (status, text(&body["status"])),
        (200, "completed".into()),
        "{body}"
    );
    (token, device_token)
}

async fn balance(api: &Api, token: &str) -> (u64, u64) {
    let body = api.get("/v1/me/balances", token).await;
    let line = &body["balances"][0];
    let number = |field: &str| line[field].as_u64().unwrap_or_else(|| panic!("{body}"));
    (number("available"), number("pending"))
}

/// Makes a device wallet with `mileverse wallet new`, and proves it to the server.
async fn prove_wallet(api: &Api, token: &str, dir: &Path) -> Address {
    let file = dir.join("wallet");
    let output = mileverse_cli(&["wallet", "new", "--file", &file.display().to_string()]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let address_text = stdout
        .lines()
        .find_map(|line| line.strip_prefix("address: "))
        .expect("address line")
        .to_string();
    let address: Address = address_text.parse().expect("address");
    let template = api.get("/v1/me/wallet-addresses", token).await;
    assert_eq!(template["address"], Value::Null, "{template}");
    let path = format!("/v1/me/wallet-addresses?address={address_text}");
    let message = text(&api.get(&path, token).await["message"]);
    let expected =
        text(&template["message_template"]).replace("{address}", &format!("{address:#x}"));
    assert_eq!(message, expected);
    // A signature by another key is refused, and registers nothing.
    let other = dir.join("other-wallet");
    mileverse_cli(&["wallet", "new", "--file", &other.display().to_string()]);
    let forged = sign(&other, &message);
    let body = json!({"address": address_text, "signature": forged});
    let (status, problem) = api.post("/v1/me/wallet-addresses", token, body).await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        text(&problem["type"]).ends_with("bad-signature"),
        "{problem}"
    );
    let body = json!({"address": address_text, "signature": sign(&file, &message)});
    let (status, body) = api.post("/v1/me/wallet-addresses", token, body).await;
    assert_eq!(status, 201, "{body}");
    address
}

fn mileverse_cli(args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(args)
        .output()
        .expect("run mileverse");
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

fn sign(wallet: &Path, message: &str) -> String {
    let output = mileverse_cli(&[
        "wallet",
        "sign",
        "--file",
        &wallet.display().to_string(),
        message,
    ]);
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

async fn convert(api: &Api, token: &str, mvp: u64, key: &str) -> (u16, Value) {
    api.call(
        reqwest::Method::POST,
        "/v1/conversions",
        token,
        Some(json!({"mvp": mvp})),
        Some(key),
    )
    .await
}

/// Polls a conversion until it is final (at most 60 s).
async fn finished(api: &Api, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = api.get(&format!("/v1/conversions/{id}"), token).await;
        if body["status"] != "requested" {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "conversion {id} never finished: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_end_to_end_survives_node_and_server_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let chain = deploy(dir.path());
    let bridge = chain.deployment().bridge;
    let funding = chain.mvc_balance(bridge).await;
    assert!(
        funding >= 1_000 * WEI_PER_MVC,
        "the bridge is funded: {funding}"
    );
    let proxy = Proxy::start(&chain.node.url());
    let mut server = ServerProcess::start_with(&data, &chain.serve_options(&proxy.url));
    let mut api = Api {
        base: server.base.clone(),
        http: client(),
    };
    let (token, device_token) = member_with_mvp(&api, "010-5555-0101", 50_000).await;
    let address = prove_wallet(&api, &token, dir.path()).await;

    // 1,000 MVP at the default 10 MVP per MVC: 100 MVC, once, however often it is asked.
    let (status, first) = convert(&api, &token, 1_000, "convert-1").await;
    assert_eq!(
        (status, text(&first["status"])),
        (200, "completed".into()),
        "{first}"
    );
    assert_eq!(text(&first["mvc_wei"]), (100 * WEI_PER_MVC).to_string());
    assert!(text(&first["tx_hash"]).starts_with("0x"), "{first}");
    let (_, again) = convert(&api, &token, 1_000, "convert-1").await;
    assert_eq!(again["conversion_id"], first["conversion_id"]);
    let (status, conflict) = convert(&api, &token, 999, "convert-1").await;
    assert_eq!(status, 422, "{conflict}");
    assert_eq!(chain.mvc_balance(address).await, 100 * WEI_PER_MVC);
    assert_eq!(balance(&api, &token).await, (49_000, 0));
    let transactions = api.get("/v1/me/transactions", &token).await;
    assert_eq!(
        transactions["transactions"][0]["reason"], "conversion",
        "{transactions}"
    );
    // The member's own list holds it (and another member's holds nothing of it).
    let mine = api.get("/v1/me/conversions?limit=1", &token).await;
    assert_eq!(
        mine["conversions"][0]["conversion_id"], first["conversion_id"],
        "{mine}"
    );
    assert_eq!(
        mine["next_cursor"].as_str().map(str::is_empty),
        Some(false),
        "{mine}"
    );
    let cursor = text(&mine["next_cursor"]);
    let rest = api
        .get(&format!("/v1/me/conversions?cursor={cursor}"), &token)
        .await;
    assert_eq!(rest["conversions"], json!([]), "{rest}");
    let (other, _) = member_with_mvp(&api, "010-5555-0102", 1_000).await;
    let theirs = api.get("/v1/me/conversions", &other).await;
    assert_eq!(theirs["conversions"], json!([]), "{theirs}");

    // Refusals move nothing, on either side.
    let (status, problem) = convert(&api, &token, 5, "too-small").await;
    assert_eq!(status, 400, "{problem}");
    let (status, problem) = convert(&api, &token, 60_000, "too-much").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        text(&problem["type"]).ends_with("insufficient-balance"),
        "{problem}"
    );
    assert_eq!(balance(&api, &token).await, (49_000, 0));
    assert_eq!(chain.mvc_balance(address).await, 100 * WEI_PER_MVC);

    // The node fails while a conversion is asked for: it waits, held, and the server dies.
    proxy.set_up(false);
    let (status, waiting) = convert(&api, &token, 2_000, "convert-2").await;
    assert_eq!(
        (status, text(&waiting["status"])),
        (202, "requested".into()),
        "{waiting}"
    );
    assert_eq!(balance(&api, &token).await, (47_000, 2_000));
    let waiting_id = text(&waiting["conversion_id"]);
    server.kill();
    proxy.set_up(true);
    server = ServerProcess::start_with(&data, &chain.serve_options(&proxy.url));
    api.base = server.base.clone();
    let token = {
        let (status, body) = api
            .post(
                "/v1/sessions",
                "",
                json!({"phone": "010-5555-0101", "pin": PIN, "device_token": device_token}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        text(&body["token"])
    };
    let done = finished(&api, &token, &waiting_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(chain.mvc_balance(address).await, 300 * WEI_PER_MVC);
    assert_eq!(balance(&api, &token).await, (47_000, 0));

    // The node fails and comes back while the server runs: the resolver finishes it.
    proxy.set_up(false);
    let (status, waiting) = convert(&api, &token, 500, "convert-3").await;
    assert_eq!(status, 202, "{waiting}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let still = api
        .get(
            &format!("/v1/conversions/{}", text(&waiting["conversion_id"])),
            &token,
        )
        .await;
    assert_eq!(still["status"], "requested", "{still}");
    proxy.set_up(true);
    let done = finished(&api, &token, &text(&waiting["conversion_id"])).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(chain.mvc_balance(address).await, 350 * WEI_PER_MVC);
    assert_eq!(balance(&api, &token).await, (46_500, 0));

    // The economy view adds it all up, on both sides.
    let economy = api.get("/v1/token-economy", "").await;
    assert_eq!(economy["mvp"]["converted"], "3500", "{economy}");
    // The member's 46,500 and the other member's 1,000.
    assert_eq!(economy["mvp"]["outstanding"], "47500", "{economy}");
    assert_eq!(economy["conversions"]["completed"], 3, "{economy}");
    assert_eq!(economy["conversions"]["failed"], 1, "{economy}");
    let released = (350 * WEI_PER_MVC).to_string();
    assert_eq!(economy["mvc"]["released_wei"], released, "{economy}");
    let bridge_left = (funding - 350 * WEI_PER_MVC).to_string();
    assert_eq!(
        economy["mvc"]["bridge_balance_wei"], bridge_left,
        "{economy}"
    );
    let report = mileverse_cli(&["economy", "--server", &api.base]);
    let report = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(report.contains("MVP converted to MVC"), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("MVP converted") && l.ends_with(" 3500")),
        "{report}"
    );
    server.kill();
    let verified = mileverse(&["verify"], &data);
    assert!(verified.status.success(), "verify: {verified:?}");
}
