//! Partners (MV-2, "Store Manager"): registration with dated exchange rates, limits and a
//! credit line; enabling and disabling; members' links to their memberships, which exist
//! only once the partner proved the member owns them (`links`, `proof`), with the live
//! balance read through the partner protocol; and the partner settlement report.
//!
//! Defaults where the operator says nothing: minimum unit 1 mileage, daily limit 1,000,000
//! MVP and monthly limit 10,000,000 MVP per member and partner, credit line
//! 10,000,000,000 MVP. Limits count MVP of exchanges not failed, by KST calendar day and
//! month. A rate change applies from its `effective_from` on and never to the past.

mod legacy;
pub mod links;
pub mod prepaid;
pub mod proof;

pub use links::{
    LINK_ATTEMPT_EXPIRY_S, LinkAttempt, LinkId, PENDING_LINKS_PER_MEMBER_MAX, ProvenLink,
};
pub use proof::{CALLBACK_PATH, LinkProof};

use crate::error::Entity;
use crate::exchange::error::ExchangeError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::chart;

use store::tables::RowRef;
use store::tables::exchanges as tables;
use store::tables::partners::{self as partner_tables, PartnerWrite};

use crate::domain::{ExchangeRow, ExchangeStatus, LinkRow, PartnerRecord, Rate};
use crate::error::{PlatformError, invalid};
use crate::exchange::PartnerFigures;
use crate::service::{Platform, secret_context};
use ports::gateway::{PartnerCallError, PartnerEndpoint, Refusal};
use ports::time::now_s;

pub const DEFAULT_DAILY_LIMIT: u64 = 1_000_000;
pub const DEFAULT_MONTHLY_LIMIT: u64 = 10_000_000;
pub const DEFAULT_CREDIT_LINE: u64 = 10_000_000_000;
pub const PARTNER_NAME_CHARS_MAX: usize = 100;
pub const SECRET_BYTES_MIN: usize = 16;
pub const SECRET_BYTES_MAX: usize = 256;
pub const URL_BYTES_MAX: usize = 2048;
pub const MEMBER_REF_BYTES_MAX: usize = 64;
pub const LINKS_PER_MEMBER_MAX: usize = 50;
pub const RATES_PER_PARTNER_MAX: usize = 1000;
/// Longest a live-balance read waits for a partner before showing "unavailable".
pub const LIVE_BALANCE_WAIT_MS: u64 = 3000;
/// Partners in the catalogue, at most. The catalogue is kept whole in memory with the
/// secrets opened (every exchange reads its partner's rate, limits and endpoint), written
/// through its tables (`store::tables::partners`) and read from them at start.
pub const PARTNERS_MAX: usize = 1_000;

pub use legacy::KIND_PARTNER;
pub(crate) use legacy::legacy_row;

/// The partners and their opened secrets.
#[derive(Default)]
pub(crate) struct Catalogue {
    pub partners: HashMap<u128, PartnerRecord>,
    pub secrets: HashMap<u128, Vec<u8>>,
}

/// The partner catalogue's lock, and one change of it at a time.
#[derive(Default)]
pub struct PartnerCatalogue {
    inner: Mutex<Catalogue>,
    changes: tokio::sync::Mutex<()>,
}

impl PartnerCatalogue {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Catalogue> {
        self.inner.lock().expect("partner catalogue lock")
    }
}

/// Registration of a partner; `None` fields take the defaults above.
#[derive(Clone, Debug, Default)]
pub struct NewPartner {
    pub name: String,
    pub rate_num: u64,
    pub rate_den: u64,
    pub api_base_url: String,
    pub secret: String,
    pub minimum_unit: Option<u64>,
    pub daily_limit: Option<u64>,
    pub monthly_limit: Option<u64>,
    pub credit_line: Option<u64>,
    /// Bought its MVP up front (points replacement, `prepaid`): its members' exchanges are
    /// paid from its prepaid account instead of on credit. Chosen once, at registration.
    pub prepaid: bool,
}

/// A change to a partner; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct PartnerChange {
    pub name: Option<String>,
    pub api_base_url: Option<String>,
    pub secret: Option<String>,
    pub minimum_unit: Option<u64>,
    pub daily_limit: Option<u64>,
    pub monthly_limit: Option<u64>,
    pub credit_line: Option<u64>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerView {
    pub record: PartnerRecord,
    pub figures: PartnerFigures,
    /// A prepaid partner's MVP (`None` for a partner on credit).
    pub prepaid: Option<prepaid::PrepaidBalance>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkView {
    pub link: LinkRow,
    pub partner_name: String,
    /// Live mileage at the partner (active links only), or why it is unknown.
    pub balance: Result<u64, String>,
}

/// One partner's line of the settlement report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerSettlementLine {
    pub partner_id: u128,
    pub partner_name: String,
    pub exchanges: u64,
    pub mileage: u128,
    pub mvp: u128,
}

/// Result of reconciling our exchanges with the partner's record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// The id it is kept under (`Platform::reconciliations`).
    pub id: u128,
    pub at_s: u64,
    pub checked: u64,
    pub matched: u64,
    pub mismatches: Vec<(u128, String, String)>,
    pub unreachable: u64,
}

/// Most exchanges one reconciliation call checks.
pub const RECONCILIATION_EXCHANGES_MAX: usize = 10_000;

pub fn check_member_ref(text: &str) -> Result<(), PlatformError> {
    let ok = !text.is_empty()
        && text.len() <= MEMBER_REF_BYTES_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid("partner_member_ref", "1 to 64 of A-Z a-z 0-9 - _"))
    }
}

/// Largest numerator or denominator of a rate (a rate's parts are stored as signed 64-bit
/// integers, and no real rate needs more digits).
pub const RATE_PART_MAX: u64 = 1_000_000_000_000;

fn check_rate(num: u64, den: u64) -> Result<(), PlatformError> {
    if num == 0 || den == 0 {
        return Err(invalid("rate", "rate_num and rate_den must be at least 1"));
    }
    if num > RATE_PART_MAX || den > RATE_PART_MAX {
        return Err(invalid(
            "rate",
            format!("rate_num and rate_den at most {RATE_PART_MAX}"),
        ));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), PlatformError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= URL_BYTES_MAX
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(invalid("api_base_url", "an http:// or https:// URL"))
    }
}

fn check_secret(secret: &str) -> Result<(), PlatformError> {
    if !(SECRET_BYTES_MIN..=SECRET_BYTES_MAX).contains(&secret.len()) {
        return Err(invalid(
            "secret",
            format!("{SECRET_BYTES_MIN} to {SECRET_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

fn check_partner_name(name: &str) -> Result<String, PlatformError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > PARTNER_NAME_CHARS_MAX {
        return Err(invalid(
            "name",
            format!("1 to {PARTNER_NAME_CHARS_MAX} characters"),
        ));
    }
    Ok(name.to_string())
}

/// Largest partner limit or credit line (mileage or MVP): far above any partner's, and below
/// 2^63, so that every value a row holds fits its column.
pub const PARTNER_LIMIT_MAX: u64 = 1_000_000_000_000_000;

fn check_positive(field: &'static str, value: Option<u64>) -> Result<(), PlatformError> {
    match value {
        Some(0) => Err(invalid(field, "must be at least 1")),
        _ => check_at_most(field, value),
    }
}

fn check_at_most(field: &'static str, value: Option<u64>) -> Result<(), PlatformError> {
    match value {
        Some(value) if value > PARTNER_LIMIT_MAX => {
            Err(invalid(field, format!("at most {PARTNER_LIMIT_MAX}")))
        }
        _ => Ok(()),
    }
}

impl Platform {
    /// Registers a partner and its issuance account; returns the partner id.
    pub async fn create_partner(&self, new: NewPartner) -> Result<u128, PlatformError> {
        let name = check_partner_name(&new.name)?;
        check_rate(new.rate_num, new.rate_den)?;
        check_url(&new.api_base_url)?;
        check_secret(&new.secret)?;
        check_positive("minimum_unit", new.minimum_unit)?;
        check_positive("daily_limit", new.daily_limit)?;
        check_positive("monthly_limit", new.monthly_limit)?;
        check_at_most("credit_line", new.credit_line)?;
        let partner_id = chart::new_id();
        let mut accounts = vec![chart::partner_issuance(partner_id)];
        if new.prepaid {
            accounts.push(chart::partner_prepaid(partner_id));
        }
        let results = self.ledger.create_accounts(accounts).await?;
        if let Some(refused) = results.iter().find(|result| !result.is_ok()) {
            return Err(PlatformError::Unavailable(format!(
                "partner accounts not created: {}",
                refused.as_str()
            )));
        }
        let now = now_s();
        let record = PartnerRecord {
            id: partner_id,
            name,
            api_base_url: new.api_base_url.trim_end_matches('/').to_string(),
            secret_sealed: self
                .keys
                .seal(new.secret.as_bytes(), &secret_context(partner_id)),
            rates: vec![Rate {
                effective_from_s: now,
                num: new.rate_num,
                den: new.rate_den,
            }],
            minimum_unit: new.minimum_unit.unwrap_or(1),
            daily_limit: new.daily_limit.unwrap_or(DEFAULT_DAILY_LIMIT),
            monthly_limit: new.monthly_limit.unwrap_or(DEFAULT_MONTHLY_LIMIT),
            credit_line: new.credit_line.unwrap_or(DEFAULT_CREDIT_LINE),
            enabled: true,
            created_at_s: now,
            prepaid: new.prepaid,
        };
        let _change = self.catalogue.changes.lock().await;
        if self.catalogue.lock().partners.len() >= PARTNERS_MAX {
            let detail = format!("the catalogue holds at most {PARTNERS_MAX} partners");
            return Err(invalid("partners", detail));
        }
        self.write_partner(&record).await?;
        let mut catalogue = self.catalogue.lock();
        catalogue
            .secrets
            .insert(partner_id, new.secret.into_bytes());
        catalogue.partners.insert(partner_id, record);
        Ok(partner_id)
    }

    pub async fn change_partner(
        &self,
        partner_id: u128,
        change: PartnerChange,
    ) -> Result<PartnerView, PlatformError> {
        let name = change.name.as_deref().map(check_partner_name).transpose()?;
        if let Some(url) = &change.api_base_url {
            check_url(url)?;
        }
        if let Some(secret) = &change.secret {
            check_secret(secret)?;
        }
        check_positive("minimum_unit", change.minimum_unit)?;
        check_positive("daily_limit", change.daily_limit)?;
        check_positive("monthly_limit", change.monthly_limit)?;
        check_at_most("credit_line", change.credit_line)?;
        let secret = change.secret.clone().map(String::into_bytes);
        self.change_partner_record(partner_id, secret, |platform, partner| {
            if let Some(name) = name {
                partner.name = name;
            }
            if let Some(url) = change.api_base_url {
                partner.api_base_url = url.trim_end_matches('/').to_string();
            }
            if let Some(secret) = &change.secret {
                let context = secret_context(partner_id);
                partner.secret_sealed = platform.keys.seal(secret.as_bytes(), &context);
            }
            partner.minimum_unit = change.minimum_unit.unwrap_or(partner.minimum_unit);
            partner.daily_limit = change.daily_limit.unwrap_or(partner.daily_limit);
            partner.monthly_limit = change.monthly_limit.unwrap_or(partner.monthly_limit);
            partner.credit_line = change.credit_line.unwrap_or(partner.credit_line);
            partner.enabled = change.enabled.unwrap_or(partner.enabled);
            Ok(())
        })
        .await
    }

    /// Applies `change` to a partner record under the lock, stores it and waits until it is
    /// durable; returns the partner's view. A `change` that refuses must change nothing.
    async fn change_partner_record(
        &self,
        partner_id: u128,
        new_secret: Option<Vec<u8>>,
        change: impl FnOnce(&Platform, &mut PartnerRecord) -> Result<(), PlatformError>,
    ) -> Result<PartnerView, PlatformError> {
        let _change = self.catalogue.changes.lock().await;
        let mut partner = self
            .catalogue
            .lock()
            .partners
            .get(&partner_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        change(self, &mut partner)?;
        self.write_partner(&partner).await?;
        let figures = self.exchanges.figures(partner_id);
        {
            let mut catalogue = self.catalogue.lock();
            // Kept with the record it was written with, so memory and disk agree on the
            // secret.
            if let Some(secret) = new_secret {
                catalogue.secrets.insert(partner_id, secret);
            }
            catalogue.partners.insert(partner_id, partner.clone());
        }
        let mut views = [PartnerView {
            record: partner,
            figures,
            prepaid: None,
        }];
        self.prepaid_balances(&mut views).await?;
        let [view] = views;
        Ok(view)
    }

    /// Adds a rate that applies from `effective_from_s` (now if `None`; never the past).
    pub async fn add_rate(
        &self,
        partner_id: u128,
        num: u64,
        den: u64,
        effective_from_s: Option<u64>,
    ) -> Result<PartnerView, PlatformError> {
        check_rate(num, den)?;
        let now = now_s();
        let from = effective_from_s.unwrap_or(now);
        if from < now {
            return Err(invalid("effective_from", "must not be in the past"));
        }
        self.change_partner_record(partner_id, None, |_, partner| {
            if partner.rates.len() >= RATES_PER_PARTNER_MAX {
                let detail = format!("at most {RATES_PER_PARTNER_MAX} rates");
                return Err(invalid("rate", detail));
            }
            // A rate scheduled at or after `from` is replaced: the newest instruction wins.
            partner.rates.retain(|rate| rate.effective_from_s < from);
            partner.rates.push(Rate {
                effective_from_s: from,
                num,
                den,
            });
            Ok(())
        })
        .await
    }

    /// Writes the partner (with its rates) and waits until it is durable.
    async fn write_partner(&self, partner: &PartnerRecord) -> Result<(), PlatformError> {
        let row: RowRef = Arc::new(PartnerWrite::Partner(partner.clone()));
        Ok(self.ledger.record(vec![row]).await?)
    }

    /// At start: the catalogue from its tables, each secret opened (a wrong data key is
    /// refused here, before any exchange).
    pub(crate) async fn load_partner_catalogue(&self) -> Result<(), PlatformError> {
        let mut after = None;
        loop {
            let page = self
                .ledger
                .tables(move |read| {
                    partner_tables::partners_page(read, after, partner_tables::PARTNERS_PAGE_MAX)
                })
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.id);
            let mut catalogue = self.catalogue.lock();
            for partner in page {
                let secret = self
                    .keys
                    .open(&partner.secret_sealed, &secret_context(partner.id))
                    .map_err(|_| {
                        PlatformError::Unavailable(format!(
                            "partner {}'s secret does not open with this data key",
                            partner.id
                        ))
                    })?;
                catalogue.secrets.insert(partner.id, secret);
                catalogue.partners.insert(partner.id, partner);
            }
        }
    }

    pub async fn partner(&self, partner_id: u128) -> Result<PartnerView, PlatformError> {
        let record = self
            .catalogue
            .lock()
            .partners
            .get(&partner_id)
            .ok_or(PlatformError::NotFound(Entity::Partner))?
            .clone();
        let figures = self.exchanges.figures(partner_id);
        let mut views = [PartnerView {
            record,
            figures,
            prepaid: None,
        }];
        self.prepaid_balances(&mut views).await?;
        let [view] = views;
        Ok(view)
    }

    /// Every partner, oldest first.
    pub async fn partners(&self) -> Result<Vec<PartnerView>, PlatformError> {
        let mut views: Vec<PartnerView> = self
            .catalogue
            .lock()
            .partners
            .values()
            .map(|record| PartnerView {
                record: record.clone(),
                figures: self.exchanges.figures(record.id),
                prepaid: None,
            })
            .collect();
        views.sort_by_key(|view| (view.record.created_at_s, view.record.id));
        self.prepaid_balances(&mut views).await?;
        Ok(views)
    }

    pub(crate) fn endpoint(&self, partner_id: u128) -> Option<PartnerEndpoint> {
        let catalogue = self.catalogue.lock();
        let partner = catalogue.partners.get(&partner_id)?;
        Some(PartnerEndpoint {
            partner_key: partner_id.to_string(),
            api_base_url: partner.api_base_url.clone(),
            secret: catalogue.secrets.get(&partner_id)?.clone(),
        })
    }

    /// Completed exchanges finished in `[from_s, to_s)`, optionally of one partner, in
    /// finishing order: the lines of the partner settlement CSV.
    pub async fn completed_exchanges(
        &self,
        from_s: u64,
        to_s: u64,
        partner_id: Option<u128>,
    ) -> Result<Vec<(ExchangeRow, String)>, PlatformError> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .ledger
                .tables(move |read| {
                    tables::completed_page(
                        read,
                        from_s,
                        to_s,
                        partner_id,
                        after,
                        tables::EXCHANGES_PAGE_MAX,
                    )
                })
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some((last.finished_at_s.unwrap_or(0), last.id));
            rows.extend(page);
        }
        let state = self.catalogue.lock();
        Ok(rows
            .into_iter()
            .map(|row| {
                let name = state.partners.get(&row.partner_id).map(|p| p.name.clone());
                (row, name.unwrap_or_default())
            })
            .collect())
    }

    /// What each partner owes for MVP issued in `[from_s, to_s)`.
    pub async fn partner_settlement(
        &self,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<PartnerSettlementLine>, PlatformError> {
        let exchanges = self.completed_exchanges(from_s, to_s, None).await?;
        let mut lines: Vec<PartnerSettlementLine> = Vec::new();
        for (exchange, name) in exchanges {
            let position = match lines
                .iter()
                .position(|l| l.partner_id == exchange.partner_id)
            {
                Some(position) => position,
                None => {
                    lines.push(PartnerSettlementLine {
                        partner_id: exchange.partner_id,
                        partner_name: name,
                        exchanges: 0,
                        mileage: 0,
                        mvp: 0,
                    });
                    lines.len() - 1
                }
            };
            let line = &mut lines[position];
            line.exchanges += 1;
            line.mileage += u128::from(exchange.mileage);
            line.mvp += u128::from(exchange.mvp);
        }
        lines.sort_by(|a, b| {
            a.partner_name
                .cmp(&b.partner_name)
                .then(a.partner_id.cmp(&b.partner_id))
        });
        Ok(lines)
    }

    /// Compares our final exchanges of a partner created in `[from_s, to_s)` with the
    /// partner's record, through the protocol's status query.
    pub async fn reconcile_partner(
        &self,
        partner_id: u128,
        from_s: u64,
        to_s: u64,
    ) -> Result<Reconciliation, PlatformError> {
        let endpoint = self
            .endpoint(partner_id)
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        let mut exchanges = Vec::new();
        let mut after = None;
        while exchanges.len() < RECONCILIATION_EXCHANGES_MAX {
            let limit =
                (RECONCILIATION_EXCHANGES_MAX - exchanges.len()).min(tables::EXCHANGES_PAGE_MAX);
            let page = self
                .ledger
                .tables(move |read| {
                    tables::partner_final_page(read, partner_id, from_s, to_s, after, limit)
                })
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some((last.created_at_s, last.id));
            exchanges.extend(page);
        }
        let mut report = Reconciliation::default();
        for exchange in &exchanges {
            report.checked += 1;
            let theirs = match self
                .partner_gateway
                .status(&endpoint, &crate::exchange::reference(exchange.id))
                .await
            {
                Ok(status) => status,
                Err(_) => {
                    report.unreachable += 1;
                    continue;
                }
            };
            let ours = exchange.status;
            let agrees = match (&theirs, ours) {
                (
                    ports::gateway::DebitStatus::Debited { mileage, .. },
                    ExchangeStatus::Completed,
                ) => *mileage == exchange.mileage,
                (ports::gateway::DebitStatus::Debited { .. }, _) => false,
                (_, ExchangeStatus::Completed) => false,
                _ => true,
            };
            if agrees {
                report.matched += 1;
            } else {
                report.mismatches.push((
                    exchange.id,
                    ours.as_str().to_string(),
                    format!("{theirs:?}"),
                ));
            }
        }
        let kept = store::tables::health::ReconciliationRow {
            id: crate::chart::new_id(),
            partner_id,
            from_s,
            to_s,
            at_s: ports::time::now_s(),
            checked: report.checked,
            matched: report.matched,
            unreachable: report.unreachable,
            mismatch_count: u64::try_from(report.mismatches.len()).unwrap_or(u64::MAX),
            mismatches: report.mismatches.clone(),
        };
        report.id = kept.id;
        report.at_s = kept.at_s;
        self.record_reconciliation(kept).await?;
        Ok(report)
    }
}

/// Runs futures concurrently and collects their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    // Poll all at once: each read has its own timeout, so the slowest bounds the wait.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(output) => {
                        *result = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(
        results
            .into_iter()
            .map(|r| r.expect("every future finished")),
    );
    outputs
}

/// A failed partner call as a platform error.
pub(crate) fn partner_error(error: PartnerCallError) -> PlatformError {
    match error {
        PartnerCallError::Refused(Refusal::UnknownMember) => {
            PlatformError::Exchange(ExchangeError::UnknownPartnerMember)
        }
        PartnerCallError::Refused(Refusal::InsufficientMileage) => {
            PlatformError::Exchange(ExchangeError::PartnerRefused {
                reason: "insufficient_mileage".into(),
                exchange_id: None,
            })
        }
        PartnerCallError::Refused(other) => {
            PlatformError::Exchange(ExchangeError::PartnerRefused {
                reason: format!("{other:?}"),
                exchange_id: None,
            })
        }
        other => PlatformError::Exchange(ExchangeError::PartnerUnavailable(other.to_string())),
    }
}

impl Platform {
    /// The shared secret of an enabled-or-not partner, for checking its signed requests.
    pub fn partner_secret(&self, partner_id: u128) -> Option<Vec<u8>> {
        self.catalogue.lock().secrets.get(&partner_id).cloned()
    }

    /// One of this partner's exchanges, by the reference the partner was sent.
    pub async fn partner_exchange(
        &self,
        partner_id: u128,
        reference: &str,
    ) -> Result<ExchangeRow, PlatformError> {
        let id = u128::from_str_radix(reference, 16)
            .map_err(|_| PlatformError::NotFound(Entity::Exchange))?;
        let record = self
            .ledger
            .tables(move |read| tables::exchange(read, id))
            .await?;
        record
            .filter(|e| e.partner_id == partner_id && crate::exchange::reference(e.id) == reference)
            .ok_or(PlatformError::NotFound(Entity::Exchange))
    }
}

/// Longest partner payment reference (the bank's transaction reference), in bytes.
pub const PAYMENT_REFERENCE_BYTES_MAX: usize = 64;

/// The ledger transfer id of a partner payment: derived from the partner and the payment's
/// reference, so recording the same payment twice moves value once.
pub fn partner_payment_transfer_id(partner_id: u128, reference: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/partner-payment/");
    hasher.update(partner_id.to_be_bytes());
    hasher.update(reference.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

impl Platform {
    /// Records that a partner paid `amount` MVP worth of KRW for MVP issued against it
    /// (reference: the bank's transaction reference). The partner's issuance account is
    /// credited from the partner-payments account, which frees its credit line. A payment
    /// above what the partner owes is refused; the same reference again moves nothing.
    pub async fn record_partner_payment(
        &self,
        partner_id: u128,
        reference: &str,
        amount: u64,
    ) -> Result<PartnerView, PlatformError> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > PAYMENT_REFERENCE_BYTES_MAX {
            return Err(invalid("reference", "1 to 64 bytes"));
        }
        if amount == 0 {
            return Err(invalid("amount", "must be at least 1"));
        }
        if !self.catalogue.lock().partners.contains_key(&partner_id) {
            return Err(PlatformError::NotFound(Entity::Partner));
        }
        let transfer = ledger::types::Transfer {
            id: ledger::types::TransferId(partner_payment_transfer_id(partner_id, reference)),
            debit_account_id: chart::PARTNER_PAYMENTS_ACCOUNT,
            credit_account_id: ledger::types::AccountId(partner_id),
            amount: u128::from(amount),
            user_data_128: partner_id,
            ledger: chart::LEDGER_MVP,
            code: chart::transfer_code::PARTNER_PAYMENT,
            ..ledger::types::Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await?;
        use ledger::types::CreateTransferResult as R;
        match results[0] {
            R::Ok => {
                let mut working = self.exchanges.lock();
                working.figures.entry(partner_id).or_default().paid_mvp += u128::from(amount);
            }
            R::Exists => {}
            R::ExistsWithDifferentAmount => return Err(PlatformError::IdempotencyConflict),
            R::ExceedsDebits => {
                return Err(invalid("amount", "more than the partner owes"));
            }
            // The ledger remembers a refused transfer id (found by Schemathesis: this was a
            // 503): the reference names a payment that was refused, so it cannot be used
            // again.
            R::IdAlreadyFailed => {
                let detail = "a payment under this reference was refused; use a new reference";
                return Err(invalid("reference", detail));
            }
            other => {
                return Err(PlatformError::Unavailable(format!(
                    "partner payment refused: {}",
                    other.as_str()
                )));
            }
        }
        self.partner(partner_id).await
    }

    /// Reads what each partner was issued and paid from its issuance account (at start):
    /// only exchange credits debit it, and only partner payments credit it.
    pub(crate) async fn load_partner_payments(&self) -> Result<(), PlatformError> {
        let ids: Vec<u128> = self.catalogue.lock().partners.keys().copied().collect();
        for chunk in ids.chunks(journal::sequencer::BATCH_EVENTS_MAX) {
            let accounts = self
                .ledger
                .lookup_accounts(
                    chunk
                        .iter()
                        .map(|id| ledger::types::AccountId(*id))
                        .collect(),
                )
                .await?;
            let mut working = self.exchanges.lock();
            for account in accounts {
                let figures = working.figures.entry(account.id.0).or_default();
                figures.paid_mvp = account.credits_posted;
                figures.issued_mvp = account.debits_posted;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_at_their_maximum() {
        assert!(check_positive("daily_limit", Some(PARTNER_LIMIT_MAX)).is_ok());
        assert!(check_positive("daily_limit", Some(PARTNER_LIMIT_MAX + 1)).is_err());
        assert!(check_positive("daily_limit", Some(u64::MAX)).is_err());
        assert!(check_positive("daily_limit", Some(0)).is_err());
        assert!(check_positive("daily_limit", None).is_ok());
        assert!(check_at_most("credit_line", Some(0)).is_ok());
        assert!(check_at_most("credit_line", Some(PARTNER_LIMIT_MAX + 1)).is_err());
    }
}
