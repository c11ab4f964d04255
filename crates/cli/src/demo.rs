//! `serve --demo`: what a newcomer needs to try every journey with one command, seeded
//! into the store (and found again after a restart) and printed at start:
//!
//! - a partner simulator on a free loopback port, registered as the partner "Demo Air"
//!   (rate 1:1), whose members sign in with [`gateways::sim::DEFAULT_MEMBER_PASSWORD`];
//! - a merchant "Demo Cafe" with a till: each start makes the till a new terminal and
//!   prints its id and secret for `mileverse pos` (a secret is shown only when it is made),
//!   after disabling the terminals earlier starts made, so an old secret stops working.
//!
//! Demo mode prints secrets on stdout: it is for a developer's machine, never for a server
//! others reach.

use std::sync::Arc;

use platform::Platform;
use platform::merchants::{NewMerchant, TERMINALS_PER_MERCHANT_MAX};

/// The demo partner's name.
pub const PARTNER_NAME: &str = "Demo Air";
/// The demo merchant's name and brand.
pub const MERCHANT_NAME: &str = "Demo Cafe";
/// The demo merchant's fee, in basis points.
const MERCHANT_FEE_BPS: u32 = 250;

/// Seeds (or finds) the demo partner and merchant, and says how to use them.
pub async fn seed(platform: &Arc<Platform>, base_url: &str) -> anyhow::Result<()> {
    start_partner(platform).await?;
    start_till(platform, base_url).await?;
    Ok(())
}

/// Prints a line for people. Not `println!`: a supervisor that read only the address line
/// may have closed stdout, and a panic on a closed pipe must not take the server down.
pub fn say(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stdout(), format!("{line}\n").as_bytes());
}

/// A partner simulator on a free loopback port, registered (or re-pointed, after a
/// restart) as the partner "Demo Air".
async fn start_partner(platform: &Arc<Platform>) -> anyhow::Result<()> {
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = gateways::sim::SimConfig::new(secret.clone().into_bytes());
    // Plain HTTP: the demo partner is on loopback, in this process.
    tokio::spawn(gateways::sim::serve_sim(
        listener,
        config,
        None,
        std::future::pending(),
    ));
    let existing = platform
        .partners()
        .await?
        .into_iter()
        .find(|view| view.record.name == PARTNER_NAME);
    let partner_id = match existing {
        Some(view) => {
            let change = platform::partners::PartnerChange {
                api_base_url: Some(url.clone()),
                secret: Some(secret),
                enabled: Some(true),
                ..Default::default()
            };
            platform.change_partner(view.record.id, change).await?;
            view.record.id
        }
        None => {
            let new = platform::partners::NewPartner {
                name: PARTNER_NAME.into(),
                rate_num: 1,
                rate_den: 1,
                api_base_url: url.clone(),
                secret,
                ..Default::default()
            };
            platform.create_partner(new).await?
        }
    };
    let password = gateways::sim::DEFAULT_MEMBER_PASSWORD;
    say(&format!(
        "demo partner \"{PARTNER_NAME}\" {partner_id} simulated at {url}; its members sign in \
         with the password {password}"
    ));
    Ok(())
}

/// The demo merchant (made once) and a till with a fresh secret (each start).
async fn start_till(platform: &Arc<Platform>, base_url: &str) -> anyhow::Result<()> {
    let existing = platform
        .merchants()
        .await?
        .into_iter()
        .find(|merchant| merchant.name == MERCHANT_NAME);
    let merchant_id = match existing {
        Some(merchant) => merchant.id,
        None => {
            let new = NewMerchant {
                name: MERCHANT_NAME.into(),
                brand: MERCHANT_NAME.into(),
                fee_bps: MERCHANT_FEE_BPS,
            };
            platform.create_merchant(new).await?
        }
    };
    let terminals = platform.terminals(merchant_id).await?;
    for terminal in terminals.iter().filter(|terminal| terminal.enabled) {
        platform
            .set_terminal_enabled(merchant_id, terminal.id, false)
            .await?;
    }
    if terminals.len() >= TERMINALS_PER_MERCHANT_MAX {
        say(&format!(
            "demo merchant \"{MERCHANT_NAME}\" {merchant_id} has {TERMINALS_PER_MERCHANT_MAX} \
             terminals, its most: make a till with POST /admin/v1/merchants/{merchant_id}/terminals \
             after removing one, or start on a new --data directory"
        ));
        return Ok(());
    }
    let till = platform.create_terminal(merchant_id).await?;
    say(&format!(
        "demo merchant \"{MERCHANT_NAME}\" {merchant_id}: its till is terminal {} with the \
         secret {} (mileverse pos --terminal {} --secret {} ...)",
        till.terminal_id, till.secret, till.terminal_id, till.secret
    ));
    // The fragment never reaches a server: the till page keeps it in the tab.
    say(&format!(
        "demo till page: {base_url}/till#terminal={}&secret={}",
        till.terminal_id, till.secret
    ));
    Ok(())
}
