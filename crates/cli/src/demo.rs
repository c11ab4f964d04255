//! `serve --demo`: what a newcomer needs to try every journey with one command, seeded
//! into the store (and found again after a restart) and printed at start:
//!
//! - a partner simulator on a free loopback port, registered as the partner "Demo Air"
//!   (rate 1:1), whose members sign in with [`gateways::sim::DEFAULT_MEMBER_PASSWORD`];
//! - a merchant "Demo Cafe" with a till: each start makes the till a new terminal and
//!   prints its id and secret for `mileverse pos` (a secret is shown only when it is made),
//!   after disabling the terminals earlier starts made, so an old secret stops working.
//!
//! - portal users: `demo-cafe` (every store of the brand "Demo Cafe") and `demo-air` (the
//!   partner), with random passwords kept in `DATA/<login>.json` and printed at every start;
//! - an ad campaign of Demo Air's and a gift voucher of Demo Cafe's;
//! - a web shop "TongTong Demo Shop" (brand "TongTong", made once) at `/shop`, which sells
//!   through checkout with a terminal of its own, new at each start like the till's;
//! - operators for the console, one per role (`demo-operator`, `demo-finance`,
//!   `demo-support`, `demo-auditor`), made on the first start with random passwords kept in
//!   `DATA/demo-operators.json` (owner-only) and printed at every start; the console's login
//!   page shows their current authenticator codes.
//!
//! Demo mode prints secrets on stdout: it is for a developer's machine, never for a server
//! others reach.

use std::sync::Arc;

use anyhow::Context as _;

use platform::Platform;
use platform::merchants::{NewMerchant, TERMINALS_PER_MERCHANT_MAX};

/// The demo partner's name.
pub const PARTNER_NAME: &str = "Demo Air";
/// The demo merchant's name and brand.
pub const MERCHANT_NAME: &str = "Demo Cafe";
/// The demo merchant's fee, in basis points.
const MERCHANT_FEE_BPS: u32 = 250;

/// The demo shop's merchant name and brand.
pub const SHOP_NAME: &str = "TongTong Demo Shop";
const SHOP_BRAND: &str = "TongTong";
/// The demo shop's fee, in basis points: about a tenth of a card's ~2 %, the point of
/// paying a shop with MVP.
const SHOP_FEE_BPS: u32 = 20;

/// The roles the demo makes an operator of, each `demo-<role>`.
const OPERATOR_ROLES: [&str; 4] = ["operator", "finance", "support", "auditor"];
/// Where the demo keeps its operators' passwords and authenticator secrets.
const OPERATORS_FILE_NAME: &str = "demo-operators.json";

/// A demo operator's credentials, as kept in the data directory.
#[derive(serde::Serialize, serde::Deserialize)]
struct OperatorCredentials {
    login: String,
    role: String,
    password: String,
    /// Base32, as authenticator apps take it.
    totp_secret: String,
}

/// What the pages of a demo server show: the operators' codes on the console's login
/// page, and the shop.
pub struct DemoPages {
    pub operators: Vec<web::DemoOperator>,
    pub shop: Option<web::DemoShop>,
}

/// Seeds (or finds) the demo partner, merchants and operators, and says how to use them.
/// Answers what the pages of a demo server show.
pub async fn seed(
    platform: &Arc<Platform>,
    operators: &platform::operators::Operators,
    data: &std::path::Path,
    base_url: &str,
) -> anyhow::Result<DemoPages> {
    start_partner(platform).await?;
    start_till(platform, base_url).await?;
    let shop = start_shop(platform, base_url).await?;
    seed_voucher(platform).await?;
    seed_campaign(platform, base_url).await?;
    seed_coins(platform).await?;
    use store::tables::portal_users::PortalScope;
    let brand = PortalScope::Brand(MERCHANT_NAME.into());
    let portal = seed_portal_user(platform, data, "demo-cafe", brand).await?;
    say(&format!(
        "demo merchant portal: {base_url}/merchant; login {}, password {}",
        portal.login, portal.password
    ));
    let partner = PortalScope::Partner(demo_partner_id(platform).await?);
    let portal = seed_portal_user(platform, data, "demo-air", partner).await?;
    say(&format!(
        "demo partner portal: {base_url}/partner; login {}, password {}",
        portal.login, portal.password
    ));
    let credentials = seed_operators(operators, data).await?;
    say(&format!(
        "demo console: {base_url}/console; operators (password, authenticator secret; the \
         login page shows the current code):"
    ));
    let mut demo = Vec::with_capacity(credentials.len());
    for operator in credentials {
        say(&format!(
            "  {} ({}): password {}, secret {}",
            operator.login, operator.role, operator.password, operator.totp_secret
        ));
        let secret = data_encoding::BASE32_NOPAD
            .decode(operator.totp_secret.as_bytes())
            .context("a demo operator's secret is not base32")?;
        demo.push(web::DemoOperator {
            login: operator.login,
            totp_secret: secret,
        });
    }
    Ok(DemoPages {
        operators: demo,
        shop,
    })
}

/// Prices of the custodial coins (when no feed set them) and some of each in the
/// treasury, so that a member can convert MVP into any asset.
async fn seed_coins(platform: &Arc<Platform>) -> anyhow::Result<()> {
    use platform::assets::{BTC, ETH, USDT};
    let priced = platform.prices().await?;
    let demo = [
        (BTC, "143250000", 100_000_000u64),
        (ETH, "5200000", 10_000_000_000),
        (USDT, "1450", 1_000_000_000),
    ];
    for (asset, price, inventory) in demo {
        if !priced.iter().any(|price| price.asset == asset) {
            let price = ports::prices::Decimal::parse(price).context("a demo price")?;
            platform.set_price(asset, price, "operator").await?;
        }
        let reference = format!("demo-{}", asset.symbol.to_ascii_lowercase());
        platform
            .deposit_to_treasury(asset, inventory, &reference)
            .await?;
    }
    say("demo coins: TTC at 100 KRW, BTC, ETH and USDT priced and in the treasury");
    Ok(())
}

/// The demo partner's id (made by [`start_partner`]).
async fn demo_partner_id(platform: &Arc<Platform>) -> anyhow::Result<u128> {
    platform
        .partners()
        .await?
        .into_iter()
        .find(|view| view.record.name == PARTNER_NAME)
        .map(|view| view.record.id)
        .context("the demo partner exists")
}

/// The demo partner's ad campaign in the member app (made once).
async fn seed_campaign(platform: &Arc<Platform>, base_url: &str) -> anyhow::Result<()> {
    const NAME: &str = "Demo Air: miles into MVP";
    let campaigns = platform.campaign_reports(None, 50).await?;
    if campaigns.iter().any(|report| report.campaign.name == NAME) {
        return Ok(());
    }
    let partner_id = demo_partner_id(platform).await?;
    let now = ports::time::now_s();
    let new = platform::ads::NewCampaign {
        advertiser: platform::ads::Advertiser::Partner(partner_id),
        name: NAME.into(),
        headline: "Fly with Demo Air".into(),
        body: "Link your Demo Air membership and turn your miles into MVP you can spend.".into(),
        link_url: format!("{base_url}/app/links"),
        starts_at_s: now,
        ends_at_s: now + 365 * 24 * 3600,
        budget: 100_000,
        price_per_impression: 1,
        price_per_click: 50,
        frequency_cap: 3,
    };
    let campaign = platform.create_campaign(new).await?;
    say(&format!(
        "demo ad campaign \"{NAME}\" {}: 100,000 MVP budget, 1 MVP a view, 50 a click",
        campaign.id
    ));
    Ok(())
}

/// A gift voucher of the demo merchant's in the catalogue (made once).
async fn seed_voucher(platform: &Arc<Platform>) -> anyhow::Result<()> {
    const NAME: &str = "Americano";
    let products = platform.products(false).await?;
    if products
        .iter()
        .any(|product| product.brand == MERCHANT_NAME && product.name == NAME)
    {
        return Ok(());
    }
    let new = platform::vouchers::NewProduct {
        brand: MERCHANT_NAME.into(),
        name: NAME.into(),
        face_value: 4_500,
        price: 4_300,
        validity_days: None,
    };
    platform.create_product(new).await?;
    Ok(())
}

/// A demo portal user's login and password, as kept in the data directory.
#[derive(serde::Serialize, serde::Deserialize)]
struct PortalCredentials {
    login: String,
    password: String,
}

/// A demo portal user (`login`, seeing `scope`): read from `DATA/<login>.json`, or made now
/// and written there.
async fn seed_portal_user(
    platform: &Arc<Platform>,
    data: &std::path::Path,
    login: &str,
    scope: store::tables::portal_users::PortalScope,
) -> anyhow::Result<PortalCredentials> {
    let path = data.join(format!("{login}.json"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text)
            .with_context(|| format!("{} does not parse", path.display()));
    }
    let password = format!("demo-{}", hex::encode(rand::random::<[u8; 8]>()));
    let new = platform::portal::NewPortalUser {
        login: login.into(),
        display_name: format!("{login} staff"),
        scope,
        password: password.clone(),
    };
    platform.create_portal_user(new).await?;
    let credentials = PortalCredentials {
        login: login.into(),
        password,
    };
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    Ok(credentials)
}

/// The demo operators: read from the data directory, or made now and written there.
async fn seed_operators(
    operators: &platform::operators::Operators,
    data: &std::path::Path,
) -> anyhow::Result<Vec<OperatorCredentials>> {
    let path = data.join(OPERATORS_FILE_NAME);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).context("DATA/demo-operators.json does not parse");
    }
    // The bootstrap identity, in process: the demo has no token to present.
    let actor = platform::operators::Actor {
        identity: platform::operators::Identity::Bootstrap,
        permissions: platform::operators::Permissions::all(),
    };
    let mut credentials = Vec::with_capacity(OPERATOR_ROLES.len());
    for role in OPERATOR_ROLES {
        let password = format!("demo-{}", hex::encode(rand::random::<[u8; 8]>()));
        let new = platform::operators::NewOperator {
            login: format!("demo-{role}"),
            display_name: format!("Demo {role}"),
            role: role.to_string(),
            password: password.clone(),
        };
        let grant = operators.create_operator(&actor, new).await?;
        credentials.push(OperatorCredentials {
            login: grant.operator.login,
            role: role.to_string(),
            password,
            totp_secret: grant.totp_secret,
        });
    }
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    Ok(credentials)
}

/// Writes `bytes` to a new file only its owner may read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
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

/// The merchant named `new.name` (made once, found again at later starts).
async fn merchant_named(platform: &Arc<Platform>, new: NewMerchant) -> anyhow::Result<u128> {
    let existing = platform
        .merchants()
        .await?
        .into_iter()
        .find(|merchant| merchant.name == new.name);
    Ok(match existing {
        Some(merchant) => merchant.id,
        None => platform.create_merchant(new).await?,
    })
}

/// A new terminal of `merchant_id`, after disabling the ones earlier starts made (so an
/// old secret stops working); none when the merchant has as many terminals as it may.
async fn fresh_terminal(
    platform: &Arc<Platform>,
    merchant_id: u128,
    name: &str,
) -> anyhow::Result<Option<platform::merchants::TerminalGrant>> {
    let terminals = platform.terminals(merchant_id).await?;
    for terminal in terminals.iter().filter(|terminal| terminal.enabled) {
        platform
            .set_terminal_enabled(merchant_id, terminal.id, false)
            .await?;
    }
    if terminals.len() >= TERMINALS_PER_MERCHANT_MAX {
        say(&format!(
            "demo merchant \"{name}\" {merchant_id} has {TERMINALS_PER_MERCHANT_MAX} \
             terminals, its most: make one with POST /admin/v1/merchants/{merchant_id}/terminals \
             after removing one, or start on a new --data directory"
        ));
        return Ok(None);
    }
    Ok(Some(platform.create_terminal(merchant_id).await?))
}

/// The demo shop's merchant (made once) and its terminal (fresh each start), which the
/// shop's pages sign with.
async fn start_shop(
    platform: &Arc<Platform>,
    base_url: &str,
) -> anyhow::Result<Option<web::DemoShop>> {
    let new = NewMerchant {
        name: SHOP_NAME.into(),
        brand: SHOP_BRAND.into(),
        fee_bps: SHOP_FEE_BPS,
    };
    let merchant_id = merchant_named(platform, new).await?;
    let Some(terminal) = fresh_terminal(platform, merchant_id, SHOP_NAME).await? else {
        return Ok(None);
    };
    say(&format!(
        "demo shop \"{SHOP_NAME}\" {merchant_id}: {base_url}/shop (terminal {})",
        terminal.terminal_id
    ));
    Ok(Some(web::DemoShop {
        terminal_id: terminal.terminal_id,
        key_id: terminal.key_id,
        secret: terminal.secret,
        // The API's own public URL: it answers `pay_url` under it, and the member's browser
        // comes back to the shop there.
        public_url: platform.config.public_url.trim_end_matches('/').to_string(),
    }))
}

/// The demo merchant (made once) and a till with a fresh secret (each start).
async fn start_till(platform: &Arc<Platform>, base_url: &str) -> anyhow::Result<()> {
    let new = NewMerchant {
        name: MERCHANT_NAME.into(),
        brand: MERCHANT_NAME.into(),
        fee_bps: MERCHANT_FEE_BPS,
    };
    let merchant_id = merchant_named(platform, new).await?;
    let Some(till) = fresh_terminal(platform, merchant_id, MERCHANT_NAME).await? else {
        return Ok(());
    };
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
