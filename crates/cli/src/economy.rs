//! `mileverse economy --server URL`: the token economy report (MV-11), read from a running
//! server's `GET /v1/token-economy` and printed for people (or as JSON with `--json`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

#[derive(clap::Args)]
pub struct EconomyArgs {
    /// Base URL of the Mileverse server (http:// or https://).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[command(flatten)]
    tls: crate::options::ClientTlsOptions,
    /// Print the server's JSON as is.
    #[arg(long)]
    json: bool,
}

/// Deadline of the report request.
const REQUEST_TIMEOUT_MS: u64 = 30_000;

pub fn run(args: EconomyArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(fetch(&args.server, &args.tls.client_tls()?))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

async fn fetch(server: &str, tls: &tls::ClientTls) -> anyhow::Result<Value> {
    let client = tls
        .reqwest_builder()
        .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
        .build()?;
    let url = format!("{}/v1/token-economy", server.trim_end_matches('/'));
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.context("the answer is not JSON")?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

/// Whole MVC with 18 decimals, from a decimal string of wei (exact: no floats).
pub fn mvc_text(wei: &str) -> String {
    let digits = wei.trim_start_matches('0');
    let padded = format!("{digits:0>19}");
    let (whole, fraction) = padded.split_at(padded.len() - 18);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// The report as aligned lines.
pub fn render(report: &Value) -> String {
    let mvp = &report["mvp"];
    let mark = &report["mark"];
    let conversions = &report["conversions"];
    let reached_bps = mark["reached_bps"].as_u64().unwrap_or(0);
    let mut lines = vec![
        ("MVP issued", text(&mvp["issued"])),
        ("MVP outstanding (members)", text(&mvp["outstanding"])),
        ("MVP converted to MVC", text(&mvp["converted"])),
        ("MVP held by open conversions", text(&mvp["converting"])),
        (
            "MVP mark (30,000,000,000) reached",
            format!("{}.{:02}%", reached_bps / 100, reached_bps % 100),
        ),
        (
            "conversions completed / failed / open",
            format!(
                "{} / {} / {}",
                text(&conversions["completed"]),
                text(&conversions["failed"]),
                text(&conversions["open"])
            ),
        ),
        (
            "MVC released for conversions",
            mvc_text(&text(&conversions["mvc_wei"])),
        ),
    ];
    let mvc = &report["mvc"];
    if mvc.is_object() {
        for (label, field) in [
            ("MVC total supply", "total_supply_wei"),
            ("MVC circulating", "circulating_wei"),
            ("MVC in the conversion bridge", "bridge_balance_wei"),
            ("MVC rewards claimed", "rewards_claimed_wei"),
        ] {
            lines.push((label, mvc_text(&text(&mvc[field]))));
        }
        lines.push(("reward quarters funded", text(&mvc["reward_quarters"])));
    } else {
        let reason = report["chain_error"]
            .as_str()
            .unwrap_or("no chain configured");
        lines.push(("MVC figures", format!("unavailable ({reason})")));
    }
    let width = lines
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    lines
        .iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mvc_text;

    #[test]
    fn mvc_text_is_exact() {
        let cases = [
            ("0", "0"),
            ("1", "0.000000000000000001"),
            ("1000000000000000000", "1"),
            ("1500000000000000000", "1.5"),
            ("4500000000000000000000000", "4500000"),
            ("3000000000000000000000000000", "3000000000"),
            ("123456789012345678901", "123.456789012345678901"),
        ];
        for (wei, expected) in cases {
            assert_eq!(mvc_text(wei), expected, "{wei}");
        }
    }
}
