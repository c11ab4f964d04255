//! `mileverse ticker-sim`: an exchange's public ticker (Upbit's REST format) with prices you
//! set, for demos and tests of `serve --price-feed-url`. Its `/sim/v1` control surface is
//! unsigned: keep it on loopback.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use gateways::ticker::sim::{SimPrices, serve_ticker_sim};

#[derive(clap::Args, Debug)]
pub struct TickerSimArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:9191")]
    listen: String,
    /// A market's price in KRW, `SYMBOL=PRICE` (a JSON number, e.g. `BTC=143250000`);
    /// repeat for more. Change them while it runs with `PUT /sim/v1/prices/{symbol}`.
    #[arg(long = "price", value_name = "SYMBOL=PRICE")]
    prices: Vec<String>,
}

pub fn run(args: TickerSimArgs) -> anyhow::Result<ExitCode> {
    let pairs: Vec<(&str, &str)> = args
        .prices
        .iter()
        .map(|pair| pair.split_once('=').context("--price SYMBOL=PRICE"))
        .collect::<anyhow::Result<_>>()?;
    let prices = SimPrices::from_pairs(pairs).map_err(|error| anyhow::anyhow!("{error}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        let address = listener.local_addr()?;
        // The address line is what a supervisor (or a test) waits for.
        let mut out = std::io::stdout();
        writeln!(out, "ticker simulator listening on http://{address}")?;
        out.flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_ticker_sim(listener, prices, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
