//! `mileverse partner-sim`: a partner speaking the partner protocol (docs/partner-protocol.md),
//! in memory, with injectable faults and a login page for the ownership step, for tests,
//! demos and load runs. Its `/sim/v1` control
//! surface is unsigned: keep it on loopback.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use gateways::sim::{
    CODE_EXPIRY_S, DEFAULT_INITIAL_MILEAGE, DEFAULT_MEMBER_PASSWORD, Faults, SimConfig,
};

#[derive(clap::Args, Debug)]
pub struct PartnerSimArgs {
    /// Address to listen on; port 0 picks a free port (printed at start). The control surface
    /// (`/sim/v1`) is unsigned: keep this on loopback.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// Shared HMAC secret (its UTF-8 bytes are the key).
    #[arg(long, env = "MILEVERSE_PARTNER_SECRET", hide_env_values = true)]
    secret: String,
    /// Mileage of every member the first time it is seen.
    #[arg(long, default_value_t = DEFAULT_INITIAL_MILEAGE)]
    initial_mileage: u64,
    /// Every member's password at the login page (`/oauth/authorize`) until the control
    /// surface gives it one of its own.
    #[arg(
        long,
        env = "MILEVERSE_SIM_MEMBER_PASSWORD",
        default_value = DEFAULT_MEMBER_PASSWORD,
        hide_env_values = true
    )]
    member_password: String,
    /// How long an authorization code can be redeemed.
    #[arg(long, default_value_t = CODE_EXPIRY_S)]
    code_expiry_s: u64,
    /// Share of calls held for --timeout-ms, then dropped without being applied.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    timeout_rate: f64,
    #[arg(long, default_value_t = Faults::default().timeout_ms)]
    timeout_ms: u64,
    /// Share of calls answered 503 without being applied.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Share of calls applied, then answered 500.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_after_apply_rate: f64,
    /// Share of calls applied, then answered only after --late-ms.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    late_rate: f64,
    #[arg(long, default_value_t = Faults::default().late_ms)]
    late_ms: u64,
    /// Share of calls delivered twice internally (the second result is the answer).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    duplicate_rate: f64,
    /// Delay every answer by this many milliseconds (the call is processed first).
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Seed of the fault generator: the same seed and request order give the same faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// HTTPS with --tls-cert and --tls-key (e.g. a partner behind a private CA, which the
    /// platform then trusts with --ca-file).
    #[command(flatten)]
    tls: crate::options::ServerTlsOptions,
}

/// A rate: a number in [0, 1].
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("must be a number between 0 and 1, not {text:?}")),
    }
}

pub fn run(args: PartnerSimArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.secret.is_empty(), "--secret must not be empty");
    let faults = Faults {
        timeout_rate: args.timeout_rate,
        timeout_ms: args.timeout_ms,
        error_rate: args.error_rate,
        error_after_apply_rate: args.error_after_apply_rate,
        late_rate: args.late_rate,
        late_ms: args.late_ms,
        duplicate_rate: args.duplicate_rate,
        slow_ms: args.slow_ms,
        seed: args.seed,
    };
    faults
        .validate()
        .map_err(|error| anyhow::anyhow!("invalid fault rates: {error}"))?;
    anyhow::ensure!(
        !args.member_password.is_empty(),
        "--member-password must not be empty"
    );
    let config = SimConfig {
        secret: args.secret.into_bytes(),
        initial_mileage: args.initial_mileage,
        faults,
        member_password: args.member_password,
        code_expiry_s: args.code_expiry_s,
    };
    let tls = args.tls.server_tls()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            tracing::warn!(
                %address,
                "partner-sim listens beyond loopback: its /sim/v1 control surface is unsigned"
            );
        }
        let mut stdout = std::io::stdout();
        let scheme = crate::options::scheme(tls.as_ref());
        writeln!(stdout, "partner-sim listening on {scheme}://{address}")?;
        stdout.flush()?;
        // Not `?`: a supervisor that read only the address line may have closed stdout.
        let _ = writeln!(
            stdout,
            "members sign in at {scheme}://{address}/oauth/authorize with the password set by \
             --member-password (default {DEFAULT_MEMBER_PASSWORD})"
        );
        let _ = stdout.flush();
        gateways::sim::serve_sim(listener, config, tls, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(error) => {
                    tracing::warn!(%error, "cannot handle SIGTERM; stop with Ctrl-C");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("partner-sim shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_must_be_between_0_and_1() {
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert_eq!(parse_rate("1"), Ok(1.0));
        assert!(parse_rate("1.01").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("lots").is_err());
    }
}
