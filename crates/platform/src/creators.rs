//! Creator rewards (issue 15 item 5; MISSION TT-8, TT-13; seed 002 §3.5): content
//! platforms register their creators and contents and report views, comments and ratings
//! per period through a signed API; creators are scored by a documented formula
//! ([`score`]); an operator funds a reward pool per platform and period from the
//! platform's ad revenue and distributes it by score ([`pools`]); members tip creators,
//! 30 % to the platform and 70 % to the creator ([`tips`]). docs/creators.md.
//!
//! - A creator is a member (found by phone when the platform registers them): rewards and
//!   tips land in that member's MVP wallet.
//! - A report is counted once per `report_id` (the same body again answers the first; another
//!   body is a conflict); each of its items gives a content's figures for the period so far,
//!   replacing the figures an earlier report gave. A distributed period takes no more.
//! - Every movement is a ledger transfer: funding `AD_REVENUE` → the pool's account
//!   (`CREATOR_POOL`, never below zero), rewards pool → creators in one linked chain, tips
//!   member → `PLATFORM_FEES` and member → creator, linked. Each has an id derived from its
//!   business (pool and reference, pool and creator, tip), so nothing moves twice.
//!
//! State: `media_platforms`, `creators`, `creator_contents`, `creator_reports`,
//! `creator_metrics`, `creator_pools`, `creator_tips`, `creator_payouts`
//! (`store::tables::creators`); in memory only the claims.

pub mod error;
pub mod pools;
pub mod score;
pub mod tips;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::creators::{
    self as tables, CREATORS_PAGE_MAX, ContentRow, CreatorRow, CreatorWrite, MediaPlatformRow,
    MetricRow, PayoutRow, PoolStatus, ReportRow,
};

use crate::chart;
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::idempotency::Replayable;
use crate::service::Platform;
use error::CreatorError;
use ports::time::now_s;
use score::Metrics;

/// Longest platform, creator name or content title (characters).
pub const NAME_CHARS_MAX: usize = 100;
/// Longest `creator_ref`, `content_ref`, `report_id` or funding reference (visible ASCII).
pub const REFERENCE_BYTES_MAX: usize = 64;
/// Most items in one report (a report and its items are one commit of at most 1,024 rows).
pub const REPORT_ITEMS_MAX: usize = 1_000;
/// Most contents one creator has.
pub const CONTENTS_PER_CREATOR_MAX: u64 = 10_000;
/// Contents a creator's page shows.
pub const CREATOR_CONTENTS_SHOWN: usize = 50;
/// Random bytes of a platform's secret (shown as 64 hex digits).
const SECRET_BYTES: usize = 32;
/// Platforms writing at once, members tipping at once.
const CLAIMS_MAX: usize = 65_536;
const CLAIM_WAIT_MS: u64 = 5_000;

/// The creators context's working set: only claims.
pub struct Creators {
    /// One registration or report per platform at a time: a report reads the period's pool
    /// and its own id under it.
    platforms: Claims<u128>,
    /// One tip per member at a time: the balance and the daily limit are checked exactly.
    tippers: Claims<u128>,
    /// Pool fundings and distributions, one at a time (operators' steps, rare): a pool is
    /// funded or distributed, never both at once.
    pools: tokio::sync::Mutex<()>,
}

impl Default for Creators {
    fn default() -> Self {
        Creators {
            platforms: Claims::new(
                CLAIMS_MAX,
                CLAIM_WAIT_MS,
                ClaimDetails {
                    full: "too many content platforms writing at once; retry",
                    wait: "another request of this content platform is under way",
                },
            ),
            tippers: Claims::new(
                CLAIMS_MAX,
                CLAIM_WAIT_MS,
                ClaimDetails {
                    full: "too many tips at once; retry",
                    wait: "another tip of this member is under way",
                },
            ),
            pools: tokio::sync::Mutex::new(()),
        }
    }
}

/// A new platform's credentials; the secret is never shown again.
#[derive(Clone, Debug)]
pub struct MediaPlatformGrant {
    pub platform_id: u128,
    pub key_id: String,
    pub secret: String,
}

/// A platform's key, its secret opened (for the signature check).
#[derive(Clone, Debug)]
pub struct MediaPlatformKey {
    pub platform_id: u128,
    pub name: String,
    pub secret: Vec<u8>,
}

/// One item of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportItem {
    pub content_ref: String,
    pub metrics: Metrics,
}

/// A platform's report of a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub platform_id: u128,
    pub report_id: String,
    /// A KST month, `YYYY-MM`.
    pub period: String,
    pub items: Vec<ReportItem>,
}

/// A creator as members see them.
#[derive(Clone, Debug)]
pub struct CreatorView {
    pub creator: CreatorRow,
    pub platform_name: String,
    /// The newest contents (at most [`CREATOR_CONTENTS_SHOWN`]); empty in lists.
    pub contents: Vec<ContentRow>,
}

/// A payout with the period of its pool (rewards).
#[derive(Clone, Debug)]
pub struct PayoutView {
    pub payout: PayoutRow,
    pub period: Option<String>,
}

fn secret_context(platform_id: u128) -> Vec<u8> {
    format!("media-platform/{platform_id}/secret").into_bytes()
}

/// 1 to [`REFERENCE_BYTES_MAX`] visible ASCII characters.
pub fn check_reference(field: &'static str, text: &str) -> Result<(), PlatformError> {
    let visible = text.bytes().all(|byte| byte.is_ascii_graphic());
    if text.is_empty() || text.len() > REFERENCE_BYTES_MAX || !visible {
        let detail = format!("1 to {REFERENCE_BYTES_MAX} visible ASCII characters");
        return Err(invalid(field, detail));
    }
    Ok(())
}

/// 1 to [`NAME_CHARS_MAX`] characters, no control characters, not only spaces.
pub fn check_name(field: &'static str, text: &str) -> Result<(), PlatformError> {
    let count = text.chars().count();
    if text.trim().is_empty() || count > NAME_CHARS_MAX || text.chars().any(char::is_control) {
        let detail = format!("1 to {NAME_CHARS_MAX} characters, no control characters");
        return Err(invalid(field, detail));
    }
    Ok(())
}

/// A period: a KST month written `YYYY-MM` (2000-01 to 9999-12).
pub fn check_period(period: &str) -> Result<(), PlatformError> {
    let bytes = period.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = bytes.len() == 7 && bytes[4] == b'-' && digits(0..4) && digits(5..7);
    let month = period.get(5..7).and_then(|m| m.parse::<u8>().ok());
    let year = period.get(0..4).and_then(|y| y.parse::<u16>().ok());
    if !shaped || !matches!(month, Some(1..=12)) || !matches!(year, Some(2000..)) {
        return Err(invalid("period", "a KST month, YYYY-MM (2000-01 or later)"));
    }
    Ok(())
}

impl Report {
    fn check(&self) -> Result<(), PlatformError> {
        check_reference("report_id", &self.report_id)?;
        check_period(&self.period)?;
        if self.items.is_empty() || self.items.len() > REPORT_ITEMS_MAX {
            return Err(invalid("items", format!("1 to {REPORT_ITEMS_MAX} items")));
        }
        let mut seen = HashSet::with_capacity(self.items.len());
        for item in &self.items {
            check_reference("content_ref", &item.content_ref)?;
            if !seen.insert(item.content_ref.as_str()) {
                return Err(invalid("items", "each content_ref at most once"));
            }
            if !item.metrics.is_plausible() {
                let detail = format!(
                    "each figure 0 to {}; ratings_sum 1 to 5 stars a rating",
                    score::METRIC_MAX
                );
                return Err(invalid("items", detail));
            }
        }
        Ok(())
    }

    /// SHA-256 of the canonical body: every field length-prefixed or fixed-width.
    fn body_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let text = |hasher: &mut Sha256, text: &str| {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        };
        text(&mut hasher, &self.period);
        hasher.update((self.items.len() as u64).to_be_bytes());
        for item in &self.items {
            text(&mut hasher, &item.content_ref);
            let m = item.metrics;
            for figure in [m.views, m.comments, m.ratings_sum, m.ratings_count] {
                hasher.update(figure.to_be_bytes());
            }
        }
        hasher.finalize().into()
    }
}

impl Platform {
    /// Registers a content platform with a fresh API key.
    pub async fn register_media_platform(
        &self,
        name: &str,
    ) -> Result<MediaPlatformGrant, PlatformError> {
        check_name("name", name)?;
        let platform_id = chart::new_id();
        let key_id = format!("media_{}", hex::encode(rand::random::<[u8; 12]>()));
        let secret = hex::encode(rand::random::<[u8; SECRET_BYTES]>());
        let row = MediaPlatformRow {
            id: platform_id,
            name: name.trim().to_string(),
            key_id: key_id.clone(),
            secret_sealed: self
                .keys
                .seal(secret.as_bytes(), &secret_context(platform_id)),
            created_at_s: now_s(),
        };
        self.commit_creator_rows(vec![CreatorWrite::Platform(row)])
            .await?;
        Ok(MediaPlatformGrant {
            platform_id,
            key_id,
            secret,
        })
    }

    /// The platform behind an API key id, with its secret (`None`: no such key).
    pub async fn media_platform_key(
        &self,
        key_id: &str,
    ) -> Result<Option<MediaPlatformKey>, PlatformError> {
        let key_id = key_id.to_string();
        let found = self
            .ledger
            .tables(move |read| tables::media_platform_by_key(read, &key_id))
            .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let secret = self
            .keys
            .open(&row.secret_sealed, &secret_context(row.id))
            .map_err(|_| PlatformError::Unavailable("a platform secret does not open".into()))?;
        Ok(Some(MediaPlatformKey {
            platform_id: row.id,
            name: row.name,
            secret,
        }))
    }

    /// The content platforms, the newest first (at most `CREATORS_PAGE_MAX`).
    pub async fn media_platforms(&self) -> Result<Vec<MediaPlatformRow>, PlatformError> {
        let rows = self
            .ledger
            .tables(|read| tables::recent_media_platforms(read, CREATORS_PAGE_MAX))
            .await?;
        Ok(rows)
    }

    pub(crate) async fn media_platform_row(
        &self,
        platform_id: u128,
    ) -> Result<MediaPlatformRow, PlatformError> {
        self.ledger
            .tables(move |read| tables::media_platform(read, platform_id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::MediaPlatform))
    }

    /// Registers (or renames) the platform's creator `creator_ref`: the member with this
    /// phone. Answers the creator.
    pub async fn put_creator(
        &self,
        platform_id: u128,
        creator_ref: &str,
        phone: &str,
        name: &str,
    ) -> Result<CreatorRow, PlatformError> {
        check_reference("creator_ref", creator_ref)?;
        check_name("name", name)?;
        let phone = crate::members::normalize_phone(phone)?;
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let member = self.active_member_by_phone(phone_index).await?;
        let member = member.ok_or(CreatorError::NotAMember)?;
        if member.status != crate::members::MemberStatus::Active {
            return Err(CreatorError::NotAMember.into());
        }
        let _claim = self.creators.platforms.claim(platform_id).await?;
        let reference = creator_ref.to_string();
        let found = self
            .ledger
            .tables(move |read| tables::creator_by_ref(read, platform_id, &reference))
            .await?;
        let row = match found {
            Some(found) if found.member_id != member.id => {
                return Err(CreatorError::CreatorConflict.into());
            }
            Some(found) if found.name == name.trim() => return Ok(found),
            Some(found) => CreatorRow {
                name: name.trim().to_string(),
                ..found
            },
            None => CreatorRow {
                id: chart::new_id(),
                platform_id,
                creator_ref: creator_ref.to_string(),
                member_id: member.id,
                name: name.trim().to_string(),
                created_at_s: now_s(),
            },
        };
        self.commit_creator_rows(vec![CreatorWrite::Creator(row.clone())])
            .await?;
        Ok(row)
    }

    /// Registers (or retitles) the platform's content `content_ref` of `creator_ref`.
    pub async fn put_content(
        &self,
        platform_id: u128,
        content_ref: &str,
        creator_ref: &str,
        title: &str,
    ) -> Result<ContentRow, PlatformError> {
        check_reference("content_ref", content_ref)?;
        check_reference("creator_ref", creator_ref)?;
        check_name("title", title)?;
        let _claim = self.creators.platforms.claim(platform_id).await?;
        let (content, creator) = (content_ref.to_string(), creator_ref.to_string());
        let (found, creator, contents) = self
            .ledger
            .tables(move |read| {
                let found = tables::content(read, platform_id, &content)?;
                let creator = tables::creator_by_ref(read, platform_id, &creator)?;
                let contents = match &creator {
                    Some(creator) => tables::content_count(read, creator.id)?,
                    None => 0,
                };
                Ok((found, creator, contents))
            })
            .await?;
        let creator = creator.ok_or(PlatformError::NotFound(Entity::Creator))?;
        let row = match found {
            Some(found) if found.creator_id != creator.id => {
                return Err(CreatorError::ContentConflict.into());
            }
            Some(found) if found.title == title.trim() => return Ok(found),
            Some(found) => ContentRow {
                title: title.trim().to_string(),
                ..found
            },
            None if contents >= CONTENTS_PER_CREATOR_MAX => {
                return Err(CreatorError::TooManyContents(CONTENTS_PER_CREATOR_MAX).into());
            }
            None => ContentRow {
                platform_id,
                content_ref: content_ref.to_string(),
                creator_id: creator.id,
                title: title.trim().to_string(),
                created_at_s: now_s(),
            },
        };
        self.commit_creator_rows(vec![CreatorWrite::Content(row.clone())])
            .await?;
        Ok(row)
    }

    /// Counts a report once per `report_id`: the same body again answers the first, another
    /// body is [`CreatorError::ReportConflict`].
    pub async fn report_metrics(
        &self,
        report: Report,
    ) -> Result<Replayable<ReportRow>, PlatformError> {
        report.check()?;
        let platform_id = report.platform_id;
        let body_hash = report.body_hash();
        let _claim = self.creators.platforms.claim(platform_id).await?;
        let (report_id, period) = (report.report_id.clone(), report.period.clone());
        let refs: Vec<String> = report
            .items
            .iter()
            .map(|item| item.content_ref.clone())
            .collect();
        let (found, pool, contents) = self
            .ledger
            .tables(move |read| {
                let found = tables::report(read, platform_id, &report_id)?;
                let pool = tables::pool_of_period(read, platform_id, &period)?;
                let mut contents = HashMap::with_capacity(refs.len());
                for content_ref in refs {
                    if let Some(row) = tables::content(read, platform_id, &content_ref)? {
                        contents.insert(content_ref, row.creator_id);
                    }
                }
                Ok((found, pool, contents))
            })
            .await?;
        if let Some(found) = found {
            return match found.body_hash == body_hash {
                true => Ok(Replayable::replayed(found)),
                false => Err(CreatorError::ReportConflict.into()),
            };
        }
        if pool.is_some_and(|pool| pool.status == PoolStatus::Distributed) {
            return Err(CreatorError::PeriodClosed.into());
        }
        let row = ReportRow {
            platform_id,
            report_id: report.report_id.clone(),
            period: report.period.clone(),
            body_hash,
            items: u64::try_from(report.items.len()).expect("at most REPORT_ITEMS_MAX"),
            created_at_s: now_s(),
        };
        let mut writes = vec![CreatorWrite::Report(row.clone())];
        for item in &report.items {
            let creator_id = *contents
                .get(&item.content_ref)
                .ok_or(PlatformError::NotFound(Entity::Content))?;
            writes.push(CreatorWrite::Metric(metric_row(&report, item, creator_id)));
        }
        self.commit_creator_rows(writes).await?;
        Ok(Replayable::fresh(row))
    }

    /// Creators by name (`search`: names containing it), after the cursor `(name, id)`.
    pub async fn creators_page(
        &self,
        search: Option<String>,
        after: Option<(String, u128)>,
        limit: usize,
    ) -> Result<Vec<CreatorView>, PlatformError> {
        let views = self
            .ledger
            .tables(move |read| {
                let after = after.as_ref().map(|(name, id)| (name.as_str(), *id));
                let rows = tables::creators_page(read, search.as_deref(), after, limit)?;
                let mut names: HashMap<u128, String> = HashMap::new();
                let mut views = Vec::with_capacity(rows.len());
                for creator in rows {
                    let platform_name = platform_name(read, &mut names, creator.platform_id)?;
                    views.push(CreatorView {
                        creator,
                        platform_name,
                        contents: Vec::new(),
                    });
                }
                Ok(views)
            })
            .await?;
        Ok(views)
    }

    /// A creator with their platform's name and newest contents.
    pub async fn creator_view(&self, creator_id: u128) -> Result<CreatorView, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| {
                let Some(creator) = tables::creator(read, creator_id)? else {
                    return Ok(None);
                };
                let platform = tables::media_platform(read, creator.platform_id)?;
                let contents = tables::contents_of(read, creator_id, CREATOR_CONTENTS_SHOWN)?;
                Ok(Some(CreatorView {
                    platform_name: platform.map(|p| p.name).unwrap_or_default(),
                    creator,
                    contents,
                }))
            })
            .await?;
        found.ok_or(PlatformError::NotFound(Entity::Creator))
    }

    /// The platform's creator's payouts (rewards and tips), newest first, before the cursor
    /// `(created_at_s, transfer_id)`, at most `limit` (capped at `CREATORS_PAGE_MAX`).
    pub async fn creator_payouts(
        &self,
        platform_id: u128,
        creator_ref: &str,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<PayoutView>, PlatformError> {
        check_reference("creator_ref", creator_ref)?;
        let reference = creator_ref.to_string();
        let found = self
            .ledger
            .tables(move |read| {
                let Some(creator) = tables::creator_by_ref(read, platform_id, &reference)? else {
                    return Ok(None);
                };
                let limit = limit.min(CREATORS_PAGE_MAX);
                let rows = tables::payouts_page(read, creator.id, before, limit)?;
                let mut periods: HashMap<u128, String> = HashMap::new();
                let mut views = Vec::with_capacity(rows.len());
                for payout in rows {
                    let period = match payout.pool_id {
                        Some(pool_id) => Some(pool_period(read, &mut periods, pool_id)?),
                        None => None,
                    };
                    views.push(PayoutView { payout, period });
                }
                Ok(Some(views))
            })
            .await?;
        found.ok_or(PlatformError::NotFound(Entity::Creator))
    }

    pub(crate) async fn commit_creator_rows(
        &self,
        writes: Vec<CreatorWrite>,
    ) -> Result<(), PlatformError> {
        let rows: Vec<RowRef> = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }
}

/// A platform's name, read once per list.
fn platform_name(
    read: &mut store::tables::TableRead<'_>,
    names: &mut HashMap<u128, String>,
    platform_id: u128,
) -> Result<String, store::StoreError> {
    if let Some(name) = names.get(&platform_id) {
        return Ok(name.clone());
    }
    let platform = tables::media_platform(read, platform_id)?;
    let name = platform.map(|p| p.name).unwrap_or_default();
    names.insert(platform_id, name.clone());
    Ok(name)
}

/// A pool's period, read once per page.
fn pool_period(
    read: &mut store::tables::TableRead<'_>,
    periods: &mut HashMap<u128, String>,
    pool_id: u128,
) -> Result<String, store::StoreError> {
    if let Some(period) = periods.get(&pool_id) {
        return Ok(period.clone());
    }
    let period = tables::pool(read, pool_id)?
        .map(|p| p.period)
        .unwrap_or_default();
    periods.insert(pool_id, period.clone());
    Ok(period)
}

fn metric_row(report: &Report, item: &ReportItem, creator_id: u128) -> MetricRow {
    let metrics = item.metrics;
    MetricRow {
        platform_id: report.platform_id,
        period: report.period.clone(),
        content_ref: item.content_ref.clone(),
        creator_id,
        views: metrics.views,
        comments: metrics.comments,
        ratings_sum: metrics.ratings_sum,
        ratings_count: metrics.ratings_count,
        score: metrics.score(),
        report_id: report.report_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_kst_months() {
        for good in ["2026-12", "2000-01", "9999-12"] {
            assert!(check_period(good).is_ok(), "{good}");
        }
        for bad in [
            "2026-13",
            "2026-00",
            "1999-12",
            "2026-1",
            "2026/12",
            "２０２６-12",
            "",
        ] {
            assert!(check_period(bad).is_err(), "{bad}");
        }
    }

    fn item(index: usize) -> ReportItem {
        ReportItem {
            content_ref: format!("c-{index}"),
            metrics: Metrics {
                views: score::METRIC_MAX,
                comments: 1,
                ratings_sum: 5,
                ratings_count: 1,
            },
        }
    }

    #[test]
    fn a_report_holds_at_most_report_items_max_items() {
        let mut report = Report {
            platform_id: 1,
            report_id: "r".repeat(REFERENCE_BYTES_MAX),
            period: "2026-12".into(),
            items: (0..REPORT_ITEMS_MAX).map(item).collect(),
        };
        assert!(report.check().is_ok());
        report.items.push(item(REPORT_ITEMS_MAX));
        assert!(report.check().is_err());
        report.items.truncate(2);
        report.items[1].content_ref = "c-0".into();
        assert!(report.check().is_err(), "a content twice");
        report.report_id.push('r');
        assert!(report.check().is_err(), "the id too long");
    }

    #[test]
    fn the_body_hash_tells_bodies_apart() {
        let report = Report {
            platform_id: 1,
            report_id: "r-1".into(),
            period: "2026-12".into(),
            items: vec![item(0)],
        };
        let mut other = report.clone();
        other.items[0].metrics.views -= 1;
        assert_ne!(report.body_hash(), other.body_hash());
        assert_eq!(report.body_hash(), report.clone().body_hash());
    }
}
