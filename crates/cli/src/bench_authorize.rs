//! `mileverse bench authorize`: signed VAN authorizations per second through the whole
//! platform.
//!
//! In one process, on loopback: the real HTTP server over SQLite with fsync on (as
//! `bench exchange` runs it), members who earned MVP by an exchange and enrolled pay code
//! devices (not timed), one merchant with one terminal, and `--clients` concurrent HTTP
//! clients that each send `POST /van/v1/authorizations` (one-step sales, signed exactly as
//! a VAN signs) and wait for the answer before the next. Pay codes are single use and each
//! device makes one per 30 s step, so the bench enrolls one device per two authorizations
//! and computes, as the member's app would, the codes of the current and the next step.
//! The last line printed is one JSON object with the figures.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use crate::bench::{HttpOutcome, HttpReport, drive_http, report_http};
use crate::bench_exchange::{
    ADMIN_TOKEN, Running, call, open_platform, set_up_members, start_servers, text,
};

/// Devices a member may register (members::DEVICES_PER_MEMBER_MAX).
const DEVICES_PER_MEMBER: usize = 10;
/// Codes each device gives: the current step's and the next's (both accepted for 30 s).
const CODES_PER_DEVICE: u64 = 2;
/// MVP each member earns before the run, and what one authorization spends.
const MEMBER_FUNDING_MVP: u64 = 500_000;
const AUTHORIZATION_AMOUNT: u64 = 1_000;
/// Members set up at once.
const SETUP_CONCURRENCY: usize = 16;

#[derive(clap::Args, Clone, Debug)]
pub struct AuthorizeBenchArgs {
    #[arg(long, default_value_t = 20_000)]
    authorizations: u64,
    /// Concurrent HTTP clients (tills).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Directory for the SQLite files; a fresh temporary directory by default.
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// A pay code device as the member's app holds it.
#[derive(Clone)]
struct Device {
    routing_prefix: String,
    handle: String,
    secret: Vec<u8>,
}

impl Device {
    fn code_at_step(&self, step: u64) -> String {
        let digits = platform::totp::totp_at_step(&self.secret, step);
        format!(
            "{}{}{}",
            self.routing_prefix,
            self.handle,
            platform::totp::format_code(digits)
        )
    }
}

/// The terminal the clients sign with.
#[derive(Clone)]
struct Till {
    terminal_id: String,
    key_id: String,
    secret: Vec<u8>,
}

pub fn run(args: AuthorizeBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.clients >= 1 && args.authorizations >= 1,
        "need a client and an authorization"
    );
    let devices = args.authorizations.div_ceil(CODES_PER_DEVICE) as usize;
    let members = devices.div_ceil(DEVICES_PER_MEMBER);
    let (directory, _scratch) = crate::bench_exchange::data_directory(args.data.as_deref())?;
    println!(
        "bench authorize: {} authorizations, {} clients, {members} members with {devices} pay code devices, SQLite in {}",
        args.authorizations,
        args.clients,
        directory.display()
    );
    let (ledger, platform, outbox) = open_platform(&directory)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        platform.start().await?;
        let running = Arc::new(start_servers(ledger.clone(), platform.clone(), outbox).await?);
        let till = set_up_merchant(&running).await?;
        let devices = set_up_devices(&running, members, devices).await?;
        drive(&running, &args, &till, &devices).await
    });
    drop(runtime);
    crate::bench_exchange::shut_down(ledger, platform);
    let outcome = outcome?;
    report(&args, &outcome);
    Ok(if outcome.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn set_up_merchant(running: &Running) -> anyhow::Result<Till> {
    let body = json!({"name": "Bench Coffee", "brand": "Bench", "fee_bps": 150});
    let merchant = call(
        running,
        reqwest::Method::POST,
        "/admin/v1/merchants",
        Some(ADMIN_TOKEN),
        body,
    )
    .await?;
    let path = format!(
        "/admin/v1/merchants/{}/terminals",
        text(&merchant, "merchant_id")?
    );
    let terminal = call(
        running,
        reqwest::Method::POST,
        &path,
        Some(ADMIN_TOKEN),
        json!({}),
    )
    .await?;
    Ok(Till {
        terminal_id: text(&terminal, "terminal_id")?,
        key_id: text(&terminal, "key_id")?,
        secret: text(&terminal, "secret")?.into_bytes(),
    })
}

/// Signs up `members` members (funded by an exchange) and enrolls `devices` devices.
async fn set_up_devices(
    running: &Arc<Running>,
    members: usize,
    devices: usize,
) -> anyhow::Result<Vec<Device>> {
    let members_and_links = set_up_members(running, members).await?;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = Vec::new();
    for (index, (token, link_id)) in members_and_links.into_iter().enumerate() {
        let count = DEVICES_PER_MEMBER.min(devices.saturating_sub(index * DEVICES_PER_MEMBER));
        let (running, semaphore) = (running.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await?;
            fund_and_enroll(&running, &token, &link_id, count).await
        }));
    }
    let mut all = Vec::with_capacity(devices);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

async fn fund_and_enroll(
    running: &Running,
    token: &str,
    link_id: &str,
    count: usize,
) -> anyhow::Result<Vec<Device>> {
    let body = json!({"link_id": link_id, "mileage": MEMBER_FUNDING_MVP});
    call(
        running,
        reqwest::Method::POST,
        "/v1/exchanges",
        Some(token),
        body,
    )
    .await?;
    let mut devices = Vec::with_capacity(count);
    for index in 0..count {
        let body = json!({"name": format!("till test phone {index}"), "platform": "android"});
        let device = call(
            running,
            reqwest::Method::POST,
            "/v1/me/devices",
            Some(token),
            body,
        )
        .await?;
        let body = json!({"device_id": text(&device, "device_id")?});
        let enrolled = call(
            running,
            reqwest::Method::POST,
            "/v1/me/paycode-devices",
            Some(token),
            body,
        )
        .await?;
        devices.push(Device {
            routing_prefix: text(&enrolled, "routing_prefix")?,
            handle: text(&enrolled, "device_handle")?,
            secret: base32_decode(&text(&enrolled, "secret")?)
                .context("the enrolment secret is not base32")?,
        });
    }
    Ok(devices)
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for character in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|a| *a == character.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}

async fn drive(
    running: &Running,
    args: &AuthorizeBenchArgs,
    till: &Till,
    devices: &[Device],
) -> anyhow::Result<HttpOutcome> {
    let first_step = platform::totp::step_of(ports::time::now_s());
    let devices = Arc::new(devices.to_vec());
    let (client, base, till) = (running.client.clone(), running.base.clone(), till.clone());
    drive_http(args.clients, args.authorizations, move |_, number| {
        let (client, base, till) = (client.clone(), base.clone(), till.clone());
        let device = &devices[(number / CODES_PER_DEVICE) as usize];
        let code = device.code_at_step(first_step + number % CODES_PER_DEVICE);
        async move { authorize(&client, &base, &till, &code, number).await }
    })
    .await
}

/// One signed one-step sale; whether it was approved.
async fn authorize(
    client: &reqwest::Client,
    base: &str,
    till: &Till,
    code: &str,
    number: u64,
) -> bool {
    const PATH: &str = "/van/v1/authorizations";
    let body = json!({
        "terminal_id": till.terminal_id, "pay_code": code,
        "amount": AUTHORIZATION_AMOUNT, "van_tx_id": format!("bench-{number}"),
    })
    .to_string();
    let timestamp_s = ports::time::now_s();
    let signature =
        ports::signing::van_signature(&till.secret, timestamp_s, "POST", PATH, body.as_bytes());
    let response = client
        .post(format!("{base}{PATH}"))
        .header("X-Mileverse-Key", &till.key_id)
        .header("X-Mileverse-Timestamp", timestamp_s.to_string())
        .header("X-Mileverse-Signature", signature)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => {
            let ok = response.status().is_success();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            ok && answer["result"] == "approved"
        }
        Err(_) => false,
    }
}

fn report(args: &AuthorizeBenchArgs, outcome: &HttpOutcome) {
    let report = HttpReport {
        bench: "authorize",
        noun: "authorization",
        calls: args.authorizations,
        clients: args.clients,
        extra: &[],
        failed_as: "declined",
        failed_means: "were not approved",
    };
    report_http(&report, outcome);
}

#[cfg(test)]
mod tests {
    use super::base32_decode;

    #[test]
    fn base32_decodes_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("MY", "f"),
            ("MZXQ", "fo"),
            ("MZXW6", "foo"),
            ("MZXW6YQ", "foob"),
            ("MZXW6YTB", "fooba"),
            ("MZXW6YTBOI", "foobar"),
            ("MZXW6YTBOI======", "foobar"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                base32_decode(text).as_deref(),
                Some(expected.as_bytes()),
                "{text}"
            );
        }
        assert_eq!(base32_decode("MZ1W"), None);
    }
}
