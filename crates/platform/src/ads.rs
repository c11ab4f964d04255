//! Ads (MV-8; seed 000 §3-2 and §6-4 "AD Manager"): partners and merchants advertise to
//! members in the app; every impression and click is billed as a ledger transfer from the
//! campaign's budget, which the advertiser prepaid.
//!
//! The money: creating a campaign funds its budget account (`chart::ad_budget`, one per
//! campaign, never below zero) from the advertisers' prepayments account
//! (`AD_PREPAYMENTS`: KRW received out of band), transfer code `AD_FUNDING`. A view bills
//! `price_per_impression` from the budget to `AD_REVENUE` (code `AD_IMPRESSION`; the
//! transfer's id is the view's id), a click `price_per_click` (code `AD_CLICK`; its id
//! derives from the view's). The ledger makes each exactly once: a second click of one view
//! finds its transfer and bills nothing. When the budget no longer covers a price the
//! ledger refuses the transfer (`exceeds_credits`) and the same commit marks the campaign
//! `exhausted`: it is never shown again. What a campaign spent is its account's debits.
//!
//! Serving: the best-paid live campaign of the placement (active, in its schedule) whose
//! frequency cap the member has not reached this KST day. One view per member at a time
//! (a claim), so two pages opened at once cannot pass the cap.
//!
//! State: `ad_campaigns`, `ad_views` (`store::tables::ads`); nothing in memory but the
//! claims.

use std::sync::Arc;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};
use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::ads::{self as tables, AdWrite, CampaignRow, ViewRow};

use crate::chart::{self, transfer_code};
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::{kst_day_start_s, now_s};

/// The only placement yet: the member app's home.
pub const PLACEMENT_HOME: &str = "home";
pub const NAME_CHARS_MAX: usize = 100;
pub const HEADLINE_CHARS_MAX: usize = 80;
pub const BODY_CHARS_MAX: usize = 280;
pub const LINK_CHARS_MAX: usize = 500;
/// Largest budget of one campaign (MVP): a billion won.
pub const BUDGET_MVP_MAX: u64 = 1_000_000_000;
/// Largest price of one impression or click (MVP).
pub const PRICE_MVP_MAX: u64 = 100_000;
/// Largest frequency cap (views per member per day).
pub const FREQUENCY_CAP_MAX: u64 = 1_000;
/// Longest schedule (a year).
pub const SCHEDULE_S_MAX: u64 = 366 * 24 * 3600;
pub use ports::time::TIME_S_MAX;
/// Views being served at once (one per member).
const SERVING_CLAIMS_MAX: usize = 65_536;
const SERVING_WAIT_MS: u64 = 5_000;

/// The ads context's claims.
pub struct Ads {
    /// One view being served per member at a time (the frequency cap counts exactly).
    serving: Claims<u128>,
}

impl Default for Ads {
    fn default() -> Self {
        Ads {
            serving: Claims::new(
                SERVING_CLAIMS_MAX,
                SERVING_WAIT_MS,
                ClaimDetails {
                    full: "too many ads being served; retry",
                    wait: "another ad is being served to this member",
                },
            ),
        }
    }
}

/// Who advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advertiser {
    Partner(u128),
    Merchant(u128),
}

/// A new campaign (an operator's act, for an advertiser who prepaid its budget).
#[derive(Clone, Debug)]
pub struct NewCampaign {
    pub advertiser: Advertiser,
    pub name: String,
    pub headline: String,
    pub body: String,
    /// `https://` (or `http://`) only.
    pub link_url: String,
    pub starts_at_s: u64,
    pub ends_at_s: u64,
    pub budget: u64,
    pub price_per_impression: u64,
    pub price_per_click: u64,
    /// Views per member per KST day.
    pub frequency_cap: u64,
}

/// A campaign with its figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignReport {
    pub campaign: CampaignRow,
    pub impressions: u64,
    pub clicks: u64,
    /// MVP billed so far (the budget account's debits).
    pub spent: u64,
    /// MVP left (credits less debits).
    pub remaining: u64,
}

/// An ad served to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedAd {
    pub view_id: u128,
    pub campaign_id: u128,
    pub headline: String,
    pub body: String,
    pub link_url: String,
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<String, PlatformError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > chars_max || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("1 to {chars_max} characters")));
    }
    Ok(text.to_string())
}

fn check_link(url: &str) -> Result<String, PlatformError> {
    let url = url.trim();
    let web = url.starts_with("https://") || url.starts_with("http://");
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    if !web || !clean || url.len() > LINK_CHARS_MAX {
        return Err(invalid(
            "link_url",
            format!("an http(s) URL of at most {LINK_CHARS_MAX} bytes"),
        ));
    }
    Ok(url.to_string())
}

fn check_campaign(new: &NewCampaign) -> Result<(), PlatformError> {
    if new.budget == 0 || new.budget > BUDGET_MVP_MAX {
        return Err(invalid("budget", format!("1 to {BUDGET_MVP_MAX} MVP")));
    }
    for (field, price) in [
        ("price_per_impression", new.price_per_impression),
        ("price_per_click", new.price_per_click),
    ] {
        if price > PRICE_MVP_MAX {
            return Err(invalid(field, format!("0 to {PRICE_MVP_MAX} MVP")));
        }
    }
    if new.price_per_impression == 0 && new.price_per_click == 0 {
        return Err(invalid(
            "price_per_click",
            "a price per impression or per click",
        ));
    }
    if new.frequency_cap == 0 || new.frequency_cap > FREQUENCY_CAP_MAX {
        return Err(invalid(
            "frequency_cap",
            format!("1 to {FREQUENCY_CAP_MAX}"),
        ));
    }
    if new.starts_at_s > TIME_S_MAX || new.ends_at_s > TIME_S_MAX {
        return Err(invalid("ends_at", "a time before the year 10000"));
    }
    let length = new.ends_at_s.saturating_sub(new.starts_at_s);
    if length == 0 || length > SCHEDULE_S_MAX {
        return Err(invalid("ends_at", "after starts_at, within a year"));
    }
    Ok(())
}

/// The id of a view's click transfer: derived, so that every click of one view names the
/// same transfer and the ledger bills it once.
pub fn click_transfer_id(view_id: u128) -> u128 {
    let digest = Sha256::new()
        .chain_update(b"mileverse/ad-click/")
        .chain_update(view_id.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // The high bit clear, as every business id's (system accounts have it set).
    u128::from_be_bytes(bytes) & !chart::SYSTEM_ACCOUNT_BASE
}

fn bill(id: u128, campaign_id: u128, amount: u64, code: u16) -> Transfer {
    Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(campaign_id),
        credit_account_id: chart::AD_REVENUE_ACCOUNT,
        amount: u128::from(amount),
        user_data_128: campaign_id,
        ledger: chart::LEDGER_MVP,
        code,
        ..Transfer::default()
    }
}

impl Platform {
    /// Creates a campaign and funds its budget from the advertiser's prepayment, in one
    /// commit.
    pub async fn create_campaign(&self, new: NewCampaign) -> Result<CampaignRow, PlatformError> {
        check_campaign(&new)?;
        let (kind, advertiser_id) = match new.advertiser {
            Advertiser::Partner(id) => {
                if !self.catalogue.lock().partners.contains_key(&id) {
                    return Err(PlatformError::NotFound(Entity::Partner));
                }
                ("partner", id)
            }
            Advertiser::Merchant(id) => {
                self.merchant(id).await?;
                ("merchant", id)
            }
        };
        let row = CampaignRow {
            id: chart::new_id(),
            advertiser_kind: kind.to_string(),
            advertiser_id,
            name: check_text("name", &new.name, NAME_CHARS_MAX)?,
            headline: check_text("headline", &new.headline, HEADLINE_CHARS_MAX)?,
            body: check_text("body", &new.body, BODY_CHARS_MAX)?,
            link_url: check_link(&new.link_url)?,
            placement: PLACEMENT_HOME.to_string(),
            starts_at_s: new.starts_at_s,
            ends_at_s: new.ends_at_s,
            budget: new.budget,
            price_per_impression: new.price_per_impression,
            price_per_click: new.price_per_click,
            frequency_cap: new.frequency_cap,
            status: "active".to_string(),
            created_at_s: now_s(),
        };
        let results = self
            .ledger
            .create_accounts(vec![chart::ad_budget(row.id)])
            .await?;
        if !results[0].is_ok() {
            let detail = format!("budget account not created: {}", results[0].as_str());
            return Err(PlatformError::Unavailable(detail));
        }
        let funding = Transfer {
            id: TransferId(row.id),
            debit_account_id: chart::AD_PREPAYMENTS_ACCOUNT,
            credit_account_id: AccountId(row.id),
            amount: u128::from(row.budget),
            user_data_128: row.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::AD_FUNDING,
            ..Transfer::default()
        };
        let campaign = row.clone();
        let committing = self.enqueue_commit(vec![funding], move |outcome| {
            let funded = matches!(
                outcome.results[0],
                CreateTransferResult::Ok | CreateTransferResult::Exists
            );
            let rows: Vec<RowRef> = if funded {
                vec![Arc::new(AdWrite::Campaign(campaign))]
            } else {
                Vec::new()
            };
            (rows, funded)
        })?;
        if !committing.done().await? {
            return Err(PlatformError::Unavailable(
                "the budget could not be funded".into(),
            ));
        }
        Ok(row)
    }

    /// Serves the member an ad of `placement`, billing its impression; `None` when no
    /// campaign may be shown to them now.
    pub async fn serve_ad(
        &self,
        member_id: u128,
        placement: &str,
    ) -> Result<Option<ServedAd>, PlatformError> {
        if placement != PLACEMENT_HOME {
            return Err(invalid("placement", "home"));
        }
        let _claim = self.ads.serving.claim(member_id).await?;
        let now = now_s();
        let day_start_s = kst_day_start_s(now);
        let placement = placement.to_string();
        let candidates = self
            .ledger
            .tables(move |read| {
                let mut open = Vec::new();
                for campaign in tables::live_campaigns(read, &placement, now)? {
                    let seen = tables::views_since(read, member_id, campaign.id, day_start_s)?;
                    if seen < campaign.frequency_cap {
                        open.push(campaign);
                    }
                }
                Ok(open)
            })
            .await?;
        for campaign in candidates {
            if let Some(served) = self.bill_view(member_id, campaign, now).await? {
                return Ok(Some(served));
            }
        }
        Ok(None)
    }

    /// One view of `campaign`: its impression billed and its row written in one commit, or
    /// the campaign marked exhausted when its budget no longer covers a view and a click.
    async fn bill_view(
        &self,
        member_id: u128,
        campaign: CampaignRow,
        now: u64,
    ) -> Result<Option<ServedAd>, PlatformError> {
        let view_id = chart::new_id();
        let remaining = self.campaign_remaining(campaign.id).await?;
        let floor = campaign.price_per_impression.max(campaign.price_per_click);
        if remaining < floor {
            self.commit_ads(vec![AdWrite::Exhausted(campaign.id)])
                .await?;
            return Ok(None);
        }
        let transfers = if campaign.price_per_impression > 0 {
            let amount = campaign.price_per_impression;
            vec![bill(
                view_id,
                campaign.id,
                amount,
                transfer_code::AD_IMPRESSION,
            )]
        } else {
            Vec::new()
        };
        let view = ViewRow {
            view_id,
            campaign_id: campaign.id,
            member_id,
            served_at_s: now,
            clicked: false,
        };
        let campaign_id = campaign.id;
        let committing = self.enqueue_commit(transfers, move |outcome| {
            let billed = outcome.results.iter().all(|result| result.is_ok());
            let write = if billed {
                AdWrite::View(view)
            } else {
                AdWrite::Exhausted(campaign_id)
            };
            (vec![Arc::new(write) as RowRef], billed)
        })?;
        if !committing.done().await? {
            return Ok(None);
        }
        Ok(Some(ServedAd {
            view_id,
            campaign_id: campaign.id,
            headline: campaign.headline,
            body: campaign.body,
            link_url: campaign.link_url,
        }))
    }

    /// A click on the member's own view: billed once whatever the number of clicks (the
    /// click's transfer id derives from the view's). Answers where the ad leads.
    pub async fn click_ad(&self, member_id: u128, view_id: u128) -> Result<String, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| {
                let Some(view) = tables::view(read, view_id)? else {
                    return Ok(None);
                };
                let campaign = tables::campaign(read, view.campaign_id)?;
                Ok(campaign.map(|campaign| (view, campaign)))
            })
            .await?;
        let (view, campaign) = found
            .filter(|(view, _)| view.member_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::AdView))?;
        if view.clicked || campaign.price_per_click == 0 {
            if !view.clicked {
                self.commit_ads(vec![AdWrite::Clicked(view_id)]).await?;
            }
            return Ok(campaign.link_url);
        }
        let click = bill(
            click_transfer_id(view_id),
            campaign.id,
            campaign.price_per_click,
            transfer_code::AD_CLICK,
        );
        let campaign_id = campaign.id;
        let committing = self.enqueue_commit(vec![click], move |outcome| {
            let mut writes: Vec<RowRef> = vec![Arc::new(AdWrite::Clicked(view_id))];
            if outcome.results[0] == CreateTransferResult::ExceedsCredits {
                writes.push(Arc::new(AdWrite::Exhausted(campaign_id)));
            }
            (writes, ())
        })?;
        committing.done().await?;
        Ok(campaign.link_url)
    }

    /// A campaign's budget account: (funded, spent), in MVP.
    async fn campaign_budget(&self, campaign_id: u128) -> Result<(u128, u128), PlatformError> {
        let accounts = self
            .ledger
            .lookup_accounts(vec![AccountId(campaign_id)])
            .await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::Campaign))?;
        // Nothing is ever held on a budget: views and clicks post at once.
        debug_assert_eq!(account.debits_pending, 0);
        // The account's own flag keeps debits within credits.
        debug_assert!(account.debits_posted <= account.credits_posted);
        Ok((account.credits_posted, account.debits_posted))
    }

    /// MVP left in a campaign's budget.
    async fn campaign_remaining(&self, campaign_id: u128) -> Result<u64, PlatformError> {
        let (funded, spent) = self.campaign_budget(campaign_id).await?;
        Ok(u64::try_from(funded - spent).unwrap_or(u64::MAX))
    }

    /// A campaign with its views, clicks and spending.
    pub async fn campaign_report(
        &self,
        campaign_id: u128,
    ) -> Result<CampaignReport, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| {
                let Some(campaign) = tables::campaign(read, campaign_id)? else {
                    return Ok(None);
                };
                let counts = tables::campaign_counts(read, campaign_id)?;
                Ok(Some((campaign, counts)))
            })
            .await?;
        let (campaign, (impressions, clicks)) =
            found.ok_or(PlatformError::NotFound(Entity::Campaign))?;
        let (funded, spent) = self.campaign_budget(campaign_id).await?;
        // Funded once, by the commit that wrote the campaign's row.
        assert_eq!(
            funded,
            u128::from(campaign.budget),
            "campaign {campaign_id:x} funded once"
        );
        let spent = u64::try_from(spent).expect("spent is within the budget, a u64");
        Ok(CampaignReport {
            remaining: campaign.budget - spent,
            campaign,
            impressions,
            clicks,
            spent,
        })
    }

    /// The newest campaigns with their figures, before `before` (a campaign id).
    pub async fn campaign_reports(
        &self,
        before: Option<u128>,
        limit: usize,
    ) -> Result<Vec<CampaignReport>, PlatformError> {
        let page = self
            .ledger
            .tables(move |read| tables::campaigns_page(read, before, limit))
            .await?;
        let mut reports = Vec::with_capacity(page.len());
        for campaign in page {
            reports.push(self.campaign_report(campaign.id).await?);
        }
        Ok(reports)
    }

    async fn commit_ads(&self, writes: Vec<AdWrite>) -> Result<(), PlatformError> {
        let rows = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.ledger.record(rows).await?;
        Ok(())
    }
}
