//! The exchange saga under partner faults and server crashes.
//!
//! A real `mileverse partner-sim` injects timeouts (request dropped unapplied), 5xx before
//! and after applying, late answers (applied, answered after our deadline) and duplicated
//! deliveries, while 2,000 exchanges run from 32 concurrent clients against a real
//! `mileverse serve`, which is killed with SIGKILL twice during the run and restarted on the
//! same data. Clients retry with the same `Idempotency-Key` until they get an answer. Then the
//! partner heals and the test waits until no exchange is unresolved.
//!
//! Afterwards, for every member: the MVP in the wallet equals the mileage the partner
//! debited × 7/10, exactly (mileage is a multiple of 10), the completed exchanges are
//! exactly the partner's debited references, and `mileverse verify` passes.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ServerProcess, SimProcess};

const SECRET: &str = "fault-test-partner-secret-0123";
const EXCHANGES: u64 = 2000;
const CLIENTS: usize = 32;
const MEMBERS: usize = 8;
const KILL_AT: [u64; 2] = [600, 1300];

fn server_args(extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--partner-timeout-ms",
        "300",
        "--resolver-backoff-max-ms",
        "500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    args
}

async fn start_server(data: PathBuf, extra: Vec<String>) -> ServerProcess {
    tokio::task::spawn_blocking(move || ServerProcess::start_with(&data, &server_args(&extra)))
        .await
        .expect("start server")
}

fn faults(on: bool) -> Value {
    if !on {
        return json!({});
    }
    json!({
        "timeout_rate": 0.04, "timeout_ms": 1200,
        "error_rate": 0.04, "error_after_apply_rate": 0.04,
        "late_rate": 0.04, "late_ms": 700,
        "duplicate_rate": 0.05, "seed": 7,
    })
}

async fn send(client: &reqwest::Client, request: reqwest::RequestBuilder) -> (u16, Value) {
    let _ = client;
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Signs up, logs in and links one member; returns (token, link id, member ref).
async fn member(
    client: &reqwest::Client,
    base: &str,
    partner_id: &str,
    index: usize,
) -> (String, String, String) {
    let phone = format!("+8210{:08}", 20_000_000 + index);
    let (_, verification) = send(
        client,
        client
            .post(format!("{base}/v1/verifications"))
            .json(&json!({"phone": phone})),
    )
    .await;
    let outbox_url = format!("{base}/admin/v1/sms-outbox?phone=%2B{}", &phone[1..]);
    let (_, outbox) = send(client, client.get(outbox_url).bearer_auth(support::TOKEN)).await;
    let text = outbox["messages"][0]["text"]
        .as_str()
        .expect("sms")
        .to_string();
    let code = text.rsplit(' ').next().unwrap().to_string();
    let body = json!({"verification_id": verification["verification_id"], "code": code, "name": format!("Fault {index}"), "pin": "246813"});
    let (status, member) = send(
        client,
        client.post(format!("{base}/v1/members")).json(&body),
    )
    .await;
    assert_eq!(status, 201);
    let login = json!({"phone": phone, "pin": "246813", "device_token": member["device_token"]});
    let (_, session) = send(
        client,
        client.post(format!("{base}/v1/sessions")).json(&login),
    )
    .await;
    let token = session["token"].as_str().expect("token").to_string();
    let member_ref = format!("FAULT-{index}");
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    // Faults apply to the exchange's calls, not to the token endpoint: one proof links.
    let proof =
        support::link_with_proof(client, base, &token, partner_id, &member_ref, password).await;
    let status = proof.status().as_u16();
    let link: serde_json::Value = proof.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "cannot link: {link}");
    (
        token,
        link["link_id"].as_str().unwrap().to_string(),
        member_ref,
    )
}

/// One exchange, retried with the same key until the server answers (it may be down).
async fn exchange(
    client: &reqwest::Client,
    base: &RwLock<String>,
    token: &str,
    link_id: &str,
    key: &str,
    mileage: u64,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("{}/v1/exchanges", base.read().unwrap());
        let sent = client
            .post(url)
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"link_id": link_id, "mileage": mileage}))
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if let Ok(body) = response.json::<Value>().await
                && status != 503
            {
                assert!(
                    status == 200 || status == 202,
                    "unexpected answer {status}: {body}"
                );
                return body;
            }
        }
        assert!(Instant::now() < deadline, "no answer for {key} within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(extra: Vec<String>) {
    let directory = tempfile::tempdir().expect("tempdir");
    let data = directory.path().to_path_buf();
    let sim = tokio::task::spawn_blocking(|| SimProcess::start(SECRET))
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = start_server(data.clone(), extra.clone()).await;
    let base = Arc::new(RwLock::new(server.base.clone()));
    let partner = json!({
        "name": "Faulty Air", "rate_num": 7, "rate_den": 10, "minimum_unit": 10,
        "api_base_url": sim.base, "secret": SECRET,
        "daily_limit": 1_000_000_000u64, "monthly_limit": 1_000_000_000u64,
    });
    let (status, partner) = send(
        &client,
        client
            .post(format!("{}/admin/v1/partners", server.base))
            .bearer_auth(support::TOKEN)
            .json(&partner),
    )
    .await;
    assert_eq!(status, 201, "{partner}");
    let partner_id = partner["partner_id"].as_str().unwrap().to_string();
    let faults_url = format!("{}/sim/v1/faults", sim.base);
    let (status, _) = send(&client, client.put(&faults_url).json(&faults(true))).await;
    assert_eq!(status, 200);
    let mut members = Vec::new();
    for index in 0..MEMBERS {
        members.push(member(&client, &server.base, &partner_id, index).await);
    }
    let members = Arc::new(members);

    // The run: CLIENTS workers take exchange numbers; a monitor kills and restarts the server.
    let next = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..CLIENTS {
        let (next, answered, members, base, client) = (
            next.clone(),
            answered.clone(),
            members.clone(),
            base.clone(),
            client.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number >= EXCHANGES {
                    return answers;
                }
                let (token, link_id, _) = &members[number as usize % MEMBERS];
                let mileage = 10 * (1 + number % 50);
                let key = format!("fault-{number}");
                let answer = exchange(&client, &base, token, link_id, &key, mileage).await;
                answered.fetch_add(1, Ordering::Relaxed);
                answers.push((number, answer));
            }
        }));
    }
    for kill_at in KILL_AT {
        while answered.load(Ordering::Relaxed) < kill_at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(server); // SIGKILL, then wait.
        server = start_server(data.clone(), extra.clone()).await;
        *base.write().unwrap() = server.base.clone();
    }
    let mut answers: Vec<(u64, Value)> = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    assert_eq!(answers.len() as u64, EXCHANGES);

    // Heal the partner; every exchange must reach a final state.
    let (status, _) = send(&client, client.put(&faults_url).json(&faults(false))).await;
    assert_eq!(status, 200);
    let base_now = server.base.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let (_, list) = send(
            &client,
            client
                .get(format!(
                    "{base_now}/admin/v1/exchanges?status=requested&limit=1"
                ))
                .bearer_auth(support::TOKEN),
        )
        .await;
        if list["counts"]["requested"] == 0 {
            break list["counts"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "exchanges still unresolved: {}",
            list["counts"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("exchange outcomes after faults and two kills: {counts}");
    let total: u64 = ["completed", "failed", "reversed"]
        .iter()
        .map(|s| counts[s].as_u64().unwrap())
        .sum();
    assert_eq!(
        total, EXCHANGES,
        "one exchange per Idempotency-Key: {counts}"
    );
    assert!(
        counts["completed"].as_u64().unwrap() > EXCHANGES / 2,
        "{counts}"
    );
    assert!(
        counts["failed"].as_u64().unwrap() > 0,
        "faults must have failed some: {counts}"
    );
    check_books(&client, &base_now, &sim.base, &members, &answers).await;

    drop(server);
    let mut verify = vec![
        "verify".to_string(),
        "--data".to_string(),
        data.display().to_string(),
    ];
    verify.extend(extra.iter().cloned());
    let output = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(&verify)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Member by member: wallet MVP = partner-debited mileage × 7/10, and the completed
/// exchanges are exactly the debits the partner holds.
async fn check_books(
    client: &reqwest::Client,
    base: &str,
    sim: &str,
    members: &[(String, String, String)],
    answers: &[(u64, Value)],
) {
    let (_, csv) = {
        let response = client
            .get(format!("{base}/admin/v1/reports/exchanges.csv"))
            .bearer_auth(support::TOKEN)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    let mut completed: HashMap<String, (u64, u64)> = HashMap::new();
    let mut completed_references = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (reference, member_ref, mileage, mvp) = (
            fields[1],
            fields[4],
            fields[5].parse::<u64>().unwrap(),
            fields[8].parse::<u64>().unwrap(),
        );
        assert_eq!(mvp * 10, mileage * 7, "mvp of {reference}");
        let entry = completed.entry(member_ref.to_string()).or_default();
        entry.0 += mileage;
        entry.1 += mvp;
        completed_references.insert(reference.to_string(), mileage);
    }
    let (_, debits) = send(client, client.get(format!("{sim}/sim/v1/debits"))).await;
    let partner_debited: BTreeMap<String, u64> = debits["debits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "debited")
        .map(|d| {
            (
                d["reference"].as_str().unwrap().to_string(),
                d["mileage"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        partner_debited, completed_references,
        "the partner's debits are exactly our completed exchanges"
    );
    for (token, _, member_ref) in members {
        let (_, at_partner) = send(
            client,
            client.get(format!("{sim}/sim/v1/members/{member_ref}")),
        )
        .await;
        let debited = at_partner["debited_total"].as_u64().unwrap();
        assert_eq!(
            at_partner["mileage"].as_u64().unwrap() + debited,
            1_000_000,
            "{at_partner}"
        );
        let (_, balances) = send(
            client,
            client
                .get(format!("{base}/v1/me/balances"))
                .bearer_auth(token),
        )
        .await;
        let mvp = balances["balances"][0]["available"].as_u64().unwrap();
        assert_eq!(
            mvp * 10,
            debited * 7,
            "{member_ref}: MVP credited = mileage debited × 7/10"
        );
        assert_eq!(
            completed.get(member_ref).copied().unwrap_or_default(),
            (debited, mvp)
        );
    }
    // What a client was told "completed" stays completed.
    for (number, answer) in answers {
        if answer["status"] == "completed" {
            let reference = answer["reference"].as_str().unwrap();
            assert!(
                completed_references.contains_key(reference),
                "exchange {number} was acknowledged completed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_survive_partner_faults_and_server_kills_on_sqlite() {
    run(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_survive_partner_faults_and_server_kills_on_postgres() {
    let options = tokio::task::spawn_blocking(|| support::postgres_options("exchange_faults"))
        .await
        .unwrap();
    run(options).await;
}
