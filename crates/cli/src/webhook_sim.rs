//! `mileverse webhook-sim`: a merchant's webhook receiver that checks every delivery's
//! signature and keeps what arrived (`GET /sim/v1/deliveries`), for demos and tests of
//! checkout's webhooks. Its `/sim/v1` control surface is unsigned: keep it on loopback.

use std::io::Write;
use std::process::ExitCode;

use gateways::webhook::sim::{WebhookReceiver, serve_receiver};

#[derive(clap::Args, Debug)]
pub struct WebhookSimArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:9292")]
    listen: String,
    /// The endpoint's signing secret (`whsec_…`, shown when the endpoint was set); also
    /// settable later with `PUT /sim/v1/secret`.
    #[arg(long, env = "MILEVERSE_WEBHOOK_SECRET", default_value = "")]
    secret: String,
}

pub fn run(args: WebhookSimArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let address = listener.local_addr()?;
        // The address line is what a supervisor (or a test) waits for.
        let mut out = std::io::stdout();
        writeln!(out, "webhook receiver listening on http://{address}")?;
        out.flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_receiver(listener, WebhookReceiver::new(&args.secret), shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
