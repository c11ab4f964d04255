//! `mileverse pos`: a point-of-sale client that talks to the VAN API (`/van/v1`) exactly as
//! a VAN does (docs/payments.md): every request is signed with the terminal's secret,
//! `X-Mileverse-Key` / `X-Mileverse-Timestamp` / `X-Mileverse-Signature` over
//! `timestamp "\n" METHOD "\n" path "\n" body`, the path with its query. An integrator points it at a running server
//! to try authorizations, captures, cancels and status queries by hand or from a script.
//!
//! Prints the server's JSON answer. Exit code: 0 approved or done, 2 declined, 1 any error
//! (an HTTP problem is printed as is).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct PosArgs {
    /// Base URL of the Mileverse server (http:// or https://).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[command(flatten)]
    tls: crate::options::ClientTlsOptions,
    /// The terminal id (from `POST /admin/v1/merchants/{id}/terminals`).
    #[arg(long)]
    terminal: String,
    /// The terminal's key id (sent as X-Mileverse-Key); defaults to the terminal id.
    #[arg(long)]
    key_id: Option<String>,
    /// The terminal's signing secret.
    #[arg(long, env = "MILEVERSE_TERMINAL_SECRET", hide_env_values = true)]
    secret: String,
    /// Deadline of the request.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    action: PosAction,
}

#[derive(clap::Subcommand)]
pub enum PosAction {
    /// Authorize a payment with a member's pay code or a gift voucher code (a one-step sale
    /// unless --hold; vouchers are always one step).
    Authorize {
        /// The code the till scanned: a 20-digit pay code or a 16-digit gift voucher code.
        #[arg(long)]
        code: String,
        /// Amount in MVP (= KRW).
        #[arg(long)]
        amount: u64,
        /// The VAN's transaction id (idempotency key); a random one if not given.
        #[arg(long)]
        van_tx_id: Option<String>,
        /// Only hold the amount; capture later.
        #[arg(long)]
        hold: bool,
        /// Approve what the balance covers; the rest is paid otherwise at the till.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Capture a held authorization (the rest is released).
    Capture {
        #[arg(long)]
        authorization: String,
        #[arg(long)]
        amount: u64,
    },
    /// Cancel: void before capture, refund (partly, with --amount) after.
    Cancel {
        #[arg(long)]
        authorization: String,
        #[arg(long)]
        amount: Option<u64>,
        /// This cancel's own transaction id (idempotency key); random if not given.
        #[arg(long)]
        van_tx_id: Option<String>,
    },
    /// Undo whatever a VAN transaction id did (after a timeout, when the answer was lost).
    NetworkCancel {
        #[arg(long)]
        van_tx_id: String,
    },
    /// What the server knows about a VAN transaction id.
    Status {
        #[arg(long)]
        van_tx_id: String,
    },
    /// Any request signed with the terminal's key, e.g. checkout's:
    /// `call POST /checkout/v1/intents --body '{"order_id": …}'` (docs/checkout.md).
    Call {
        /// GET, POST or PUT.
        method: String,
        /// The path with its query, as signed.
        path: String,
        /// The JSON body.
        #[arg(long)]
        body: Option<String>,
        /// Sent as `Idempotency-Key` (a checkout refund's own id).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

/// A terminal's credentials and where to send.
struct Terminal {
    server: String,
    terminal_id: String,
    key_id: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

pub fn run(args: PosArgs) -> anyhow::Result<ExitCode> {
    let terminal = Terminal {
        server: args.server.trim_end_matches('/').to_string(),
        key_id: args.key_id.unwrap_or_else(|| args.terminal.clone()),
        terminal_id: args.terminal,
        secret: args.secret.into_bytes(),
        client: args
            .tls
            .client_tls()?
            .reqwest_builder()
            .timeout(Duration::from_millis(args.timeout_ms))
            .build()?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, answer) = runtime.block_on(act(&terminal, args.action))?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(exit_code(status, &answer))
}

fn exit_code(status: u16, answer: &Value) -> ExitCode {
    if !(200..300).contains(&status) {
        ExitCode::FAILURE
    } else if answer["result"] == "declined" {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn random_tx_id() -> String {
    format!("pos-{:016x}", rand::random::<u64>())
}

async fn act(terminal: &Terminal, action: PosAction) -> anyhow::Result<(u16, Value)> {
    let terminal_id = terminal.terminal_id.clone();
    match action {
        PosAction::Authorize {
            code,
            amount,
            van_tx_id,
            hold,
            allow_partial,
        } => {
            let body = json!({
                "terminal_id": terminal_id, "pay_code": code, "amount": amount,
                "van_tx_id": van_tx_id.unwrap_or_else(random_tx_id),
                "capture": !hold, "allow_partial": allow_partial,
            });
            terminal
                .send("POST", "/van/v1/authorizations", Some(body))
                .await
        }
        PosAction::Capture {
            authorization,
            amount,
        } => {
            let path = format!("/van/v1/authorizations/{authorization}/capture");
            let body = json!({"amount": amount});
            terminal.send("POST", &path, Some(body)).await
        }
        PosAction::Cancel {
            authorization,
            amount,
            van_tx_id,
        } => {
            let path = format!("/van/v1/authorizations/{authorization}/cancel");
            let mut body = json!({"van_tx_id": van_tx_id.unwrap_or_else(random_tx_id)});
            if let Some(amount) = amount {
                body["amount"] = json!(amount);
            }
            terminal.send("POST", &path, Some(body)).await
        }
        PosAction::NetworkCancel { van_tx_id } => {
            let body = json!({"terminal_id": terminal_id, "van_tx_id": van_tx_id});
            terminal
                .send("POST", "/van/v1/network-cancels", Some(body))
                .await
        }
        PosAction::Status { van_tx_id } => {
            let path = format!("/van/v1/transactions/{van_tx_id}?terminal_id={terminal_id}");
            terminal.send("GET", &path, None).await
        }
        PosAction::Call {
            method,
            path,
            body,
            idempotency_key,
        } => {
            let body = body
                .map(|text| serde_json::from_str::<Value>(&text))
                .transpose()
                .context("--body must be JSON")?;
            let method = method.to_ascii_uppercase();
            let sent = terminal.send_keyed(&method, &path, body, idempotency_key.as_deref());
            sent.await
        }
    }
}

impl Terminal {
    /// Sends one signed request; returns the status and the JSON answer.
    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.send_keyed(method, path_and_query, body, None).await
    }

    /// [`Terminal::send`] with an `Idempotency-Key`.
    async fn send_keyed(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let timestamp_s = ports::time::now_s();
        // The signed path is the request target as sent, query included (docs/payments.md).
        let signature = ports::signing::van_signature(
            &self.secret,
            timestamp_s,
            method,
            path_and_query,
            body.as_bytes(),
        );
        let url = format!("{}{path_and_query}", self.server);
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut request = self
            .client
            .request(method, &url)
            .header("X-Mileverse-Key", &self.key_id)
            .header("X-Mileverse-Timestamp", timestamp_s.to_string())
            .header("X-Mileverse-Signature", signature);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, answer))
    }
}
