//! Escrowed P2P trades (issue 15 item 3; MISSION TT-9, TT-10; seed 002 §3.6, §3.7): a
//! seller offers an asset or a game item for a price, a buyer takes it, both legs sit
//! locked in escrow, and they move together or not at all.
//!
//! The money (docs/escrow.md draws it), every transfer with `user_data_128` = the trade id
//! and an id derived from it and its step, so a retry after a crash moves nothing twice:
//! - offer of an asset: a pending transfer seller → `ESCROW` of that ledger (code
//!   `ESCROW_LOCK`); an item offer locks nothing (the item is in the game);
//! - take, paid on the platform: a pending transfer buyer → `ESCROW` of the price's ledger;
//! - completion (the buyer confirms receipt, the game company confirms an item's delivery,
//!   or, paid off the platform, the seller confirms the payment arrived): one linked chain
//!   that posts each pending leg and pays it out of `ESCROW` to its receiver (code
//!   `ESCROW_PAYOUT`): both legs or neither;
//! - cancel (the seller, before a take) and expiry (the housekeeping sweep, at the
//!   deadline): each pending leg voided; the ledger's own pending timeout is the backstop
//!   if the sweep never runs;
//! - dispute: each pending leg posted into `ESCROW` (so no timeout can release it), then an
//!   operator's resolution pays each leg out of `ESCROW` to its receiver (release) or back
//!   to whoever put it in (refund), in one linked chain.
//!
//! Every step of one trade runs under the trade's claim, reads the row again and checks the
//! state machine before anything moves; its transfers and the row's new state are one
//! commit. State: `escrow_trades`, `game_companies`, `game_credits`
//! (`store::tables::escrow`); in memory only the claims.

pub mod error;
pub mod games;

mod disputes;
mod sweep;

use std::sync::Arc;

use ledger::types::{Account, AccountFlags, AccountId, CreateTransferResult, Transfer};
use ledger::types::{TransferFlags, TransferId};
use store::tables::escrow::{self as tables, EscrowWrite, TRADES_PAGE_MAX, TradeRow, TradeStatus};

use crate::assets::{AMOUNT_UNITS_MAX, Asset, wallet_id};
use crate::authorization::derived_transfer_id;
use crate::chart::{self, account_code, transfer_code};
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::idempotency::{Replayable, Scope};
use crate::service::{Committing, Platform};
use error::EscrowError;
use ports::time::now_s;

pub use disputes::{DISPUTE_TEXT_CHARS_MAX, EVIDENCE_CHARS_MAX};
pub use sweep::TRADES_PER_SWEEP_MAX;

/// How long an offer stays open, and then how long a taken trade has to complete (the
/// default of `PlatformConfig::escrow_timeout_s`, `serve --escrow-timeout-s`).
pub const ESCROW_TIMEOUT_S: u64 = 24 * 3600;
/// The longest timeout a server accepts (the ledger's pending timeouts are u32 seconds).
pub const ESCROW_TIMEOUT_S_MAX: u64 = 30 * 24 * 3600;
/// How long after a trade's deadline the ledger itself releases a lock the sweep did not
/// void (the server was down): the backstop.
pub const BACKSTOP_GRACE_S: u64 = 24 * 3600;
/// Offers one member has open at once.
pub const OPEN_OFFERS_PER_MEMBER_MAX: u64 = 20;
/// Longest item reference (the game's own id of the item).
pub const ITEM_REF_CHARS_MAX: usize = 64;
/// Longest item name.
pub const ITEM_NAME_CHARS_MAX: usize = 100;
/// Trades whose steps run at once.
const TRADE_CLAIMS_MAX: usize = 65_536;
const TRADE_WAIT_MS: u64 = 5_000;

/// The escrow context's claims: one step per trade at a time, so a trade has one buyer
/// and each of its locks is resolved once.
pub struct Escrow {
    trades: Claims<u128>,
    /// One offer per seller at a time: the cap on open offers holds exactly.
    sellers: Claims<u128>,
    /// One credit per game company at a time: a `credit_id` credits once.
    games: Claims<u128>,
}

impl Default for Escrow {
    fn default() -> Self {
        Escrow {
            trades: Claims::new(
                TRADE_CLAIMS_MAX,
                TRADE_WAIT_MS,
                ClaimDetails {
                    full: "too many trades changing at once; retry",
                    wait: "another step of this trade is under way",
                },
            ),
            sellers: Claims::new(
                TRADE_CLAIMS_MAX,
                TRADE_WAIT_MS,
                ClaimDetails {
                    full: "too many offers at once; retry",
                    wait: "another offer of this member is under way",
                },
            ),
            games: Claims::new(
                TRADE_CLAIMS_MAX,
                TRADE_WAIT_MS,
                ClaimDetails {
                    full: "too many game credits at once; retry",
                    wait: "another credit of this game company is under way",
                },
            ),
        }
    }
}

/// What a seller offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goods {
    /// An amount of an asset, in its smallest unit (locked at the offer).
    Asset(Asset, u64),
    /// A game item, delivered in the game: `(game_id, item_ref, item_name)`.
    Item(u128, String, String),
}

/// A member's offer.
#[derive(Clone, Debug)]
pub struct OfferRequest {
    pub seller_id: u128,
    pub goods: Goods,
    pub price_asset: Asset,
    pub price: u64,
    /// Paid through the platform (`true`) or outside it, confirmed by the seller.
    pub on_platform: bool,
    pub idempotency_key: Option<String>,
}

/// A trade, with its dispute opened for those who may read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeView {
    pub trade: TradeRow,
    /// `(text, evidence)` of the dispute.
    pub dispute: Option<(String, String)>,
}

/// A step a member asks of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Take,
    Confirm,
    Cancel,
}

/// The escrow account of a ledger (never below zero).
pub fn escrow_id(ledger: u32) -> AccountId {
    let code = u128::from(account_code::ESCROW);
    AccountId(chart::SYSTEM_ACCOUNT_BASE | (code << 16) | u128::from(ledger))
}

/// The escrow accounts of every asset's ledger, created at start with the assets'.
pub fn escrow_accounts() -> Vec<Account> {
    crate::assets::ASSETS
        .into_iter()
        .map(|asset| Account {
            id: escrow_id(asset.ledger),
            ledger: asset.ledger,
            code: account_code::ESCROW,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        })
        .collect()
}

/// One leg of a trade: what moves from whom to whom.
#[derive(Clone, Copy, Debug)]
struct Leg {
    /// "asset" or "price": names the leg's transfer ids.
    name: &'static str,
    asset: Asset,
    amount: u64,
    from: u128,
    to: u128,
    /// The ledger's backstop: seconds until it releases the lock by itself.
    timeout_s: u64,
    /// What tells this lock from an earlier attempt's: a refused lock spends its id
    /// (`id_already_failed`), so the price's lock names its buyer and the take's second.
    attempt: (u128, u64),
}

impl Leg {
    fn id(&self, trade_id: u128, step: &str) -> TransferId {
        let (member, second) = self.attempt;
        TransferId(derived_transfer_id(
            &format!("escrow-{}-{step}", self.name),
            trade_id,
            &format!("{member}/{second}"),
        ))
    }

    fn base(&self, trade_id: u128) -> Transfer {
        Transfer {
            debit_account_id: wallet_id(self.from, self.asset),
            credit_account_id: escrow_id(self.asset.ledger),
            amount: u128::from(self.amount),
            user_data_128: trade_id,
            ledger: self.asset.ledger,
            code: transfer_code::ESCROW_LOCK,
            ..Transfer::default()
        }
    }

    fn lock(&self, trade_id: u128) -> Transfer {
        let timeout = u32::try_from(self.timeout_s).expect("the timeout is bounded at start");
        Transfer {
            id: self.id(trade_id, "lock"),
            flags: TransferFlags::PENDING,
            timeout,
            ..self.base(trade_id)
        }
    }

    fn resolve(&self, trade_id: u128, post: bool) -> Transfer {
        let (step, flags) = match post {
            true => ("post", TransferFlags::POST_PENDING_TRANSFER),
            false => ("void", TransferFlags::VOID_PENDING_TRANSFER),
        };
        Transfer {
            id: self.id(trade_id, step),
            pending_id: self.id(trade_id, "lock"),
            flags,
            ..self.base(trade_id)
        }
    }

    /// Escrow pays the leg to its receiver (`to_receiver`) or back to whoever put it in.
    fn payout(&self, trade_id: u128, to_receiver: bool) -> Transfer {
        let (step, member) = match to_receiver {
            true => ("out", self.to),
            false => ("back", self.from),
        };
        Transfer {
            id: self.id(trade_id, step),
            debit_account_id: escrow_id(self.asset.ledger),
            credit_account_id: wallet_id(member, self.asset),
            amount: u128::from(self.amount),
            user_data_128: trade_id,
            ledger: self.asset.ledger,
            code: transfer_code::ESCROW_PAYOUT,
            ..Transfer::default()
        }
    }
}

/// Flags every transfer but the last `LINKED`: the chain moves whole or not at all.
fn linked(mut transfers: Vec<Transfer>) -> Vec<Transfer> {
    let last = transfers.len().saturating_sub(1);
    for transfer in &mut transfers[..last] {
        transfer.flags = transfer.flags.union(TransferFlags::LINKED);
    }
    transfers
}

/// A step moved what it had to: each result `ok`, or `exists` (a retry).
fn all_moved(results: &[CreateTransferResult]) -> bool {
    results.iter().all(|result| {
        matches!(
            result,
            CreateTransferResult::Ok | CreateTransferResult::Exists
        )
    })
}

/// Why a lock was refused: the balance (or, for a take retried within its second after
/// such a refusal, the lock's spent id); anything else is a bug, logged.
fn balance_refusal(results: &[CreateTransferResult]) -> PlatformError {
    let balance = |result: &CreateTransferResult| {
        matches!(
            result,
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed
        )
    };
    if results.iter().any(balance) {
        return EscrowError::InsufficientBalance.into();
    }
    tracing::error!(?results, "a trade's lock was refused");
    PlatformError::Unavailable("the trade's lock was refused; retry".into())
}

fn state(trade: &TradeRow, step: &'static str) -> PlatformError {
    let status = trade.status.as_str();
    EscrowError::State { status, step }.into()
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<(), PlatformError> {
    let count = text.chars().count();
    if count == 0 || count > chars_max || text.chars().any(char::is_control) {
        let detail = format!("1 to {chars_max} characters, no control characters");
        return Err(invalid(field, detail));
    }
    Ok(())
}

fn check_units(field: &'static str, amount: u64) -> Result<(), PlatformError> {
    if !(1..=AMOUNT_UNITS_MAX).contains(&amount) {
        return Err(invalid(field, format!("1 to {AMOUNT_UNITS_MAX} units")));
    }
    Ok(())
}

fn rows(writes: Vec<EscrowWrite>) -> Vec<store::tables::RowRef> {
    writes
        .into_iter()
        .map(|write| Arc::new(write) as store::tables::RowRef)
        .collect()
}

impl Platform {
    /// The trade's legs that are locked now: the asset (an asset offer) and the price (a
    /// taken trade paid on the platform).
    fn legs(&self, trade: &TradeRow) -> Result<Vec<Leg>, PlatformError> {
        let timeout_s = self.config.escrow_timeout_s;
        let mut legs = Vec::with_capacity(2);
        let receiver = trade.buyer_id.unwrap_or(trade.seller_id);
        if let Some((symbol, amount)) = &trade.asset {
            legs.push(Leg {
                name: "asset",
                asset: crate::assets::asset(symbol)?,
                amount: *amount,
                from: trade.seller_id,
                to: receiver,
                // Open for a timeout, then taken for another at most.
                timeout_s: 2 * timeout_s + BACKSTOP_GRACE_S,
                // A new offer has a new id: its lock is the trade's only attempt.
                attempt: (0, 0),
            });
        }
        if let (Some(buyer_id), true) = (trade.buyer_id, trade.on_platform) {
            legs.push(Leg {
                name: "price",
                asset: crate::assets::asset(&trade.price_asset)?,
                amount: trade.price,
                from: buyer_id,
                to: trade.seller_id,
                timeout_s: timeout_s + BACKSTOP_GRACE_S,
                attempt: (buyer_id, trade.taken_at_s.unwrap_or_default()),
            });
        }
        Ok(legs)
    }

    /// Queues one commit: `transfers` and, when every one moved (`accept` says which
    /// results count), the trade's new row; else the refusal `refused` makes.
    fn enqueue_trade(
        &self,
        transfers: Vec<Transfer>,
        row: TradeRow,
        accept: fn(&[CreateTransferResult]) -> bool,
        refused: fn(&[CreateTransferResult]) -> PlatformError,
    ) -> Result<Committing<Result<(), PlatformError>>, PlatformError> {
        self.enqueue_commit(transfers, move |outcome| match accept(outcome.results) {
            true => (rows(vec![EscrowWrite::Trade(Box::new(row))]), Ok(())),
            false => (Vec::new(), Err(refused(outcome.results))),
        })
    }

    /// [`Self::enqueue_trade`], answered once durable: the row, or the refusal.
    async fn commit_trade(
        &self,
        transfers: Vec<Transfer>,
        row: TradeRow,
        accept: fn(&[CreateTransferResult]) -> bool,
        refused: fn(&[CreateTransferResult]) -> PlatformError,
    ) -> Result<TradeRow, PlatformError> {
        let committing = self.enqueue_trade(transfers, row.clone(), accept, refused)?;
        committing.done().await??;
        Ok(row)
    }

    /// [`Self::commit_trade`] of a step that debits `member_id`'s wallet: queued only while
    /// the member is not being withdrawn.
    async fn commit_debit(
        &self,
        member_id: u128,
        transfers: Vec<Transfer>,
        row: TradeRow,
    ) -> Result<TradeRow, PlatformError> {
        let committing = self.members.unless_withdrawing(member_id, || {
            self.enqueue_trade(transfers, row.clone(), all_moved, balance_refusal)
        })?;
        committing.done().await??;
        Ok(row)
    }

    /// Offers an asset (locked now) or a game item for a price; a known `Idempotency-Key`
    /// answers the first offer.
    pub async fn offer_trade(
        &self,
        request: OfferRequest,
    ) -> Result<Replayable<TradeRow>, PlatformError> {
        self.check_offer(&request).await?;
        let seller_id = request.seller_id;
        let key = request.idempotency_key.clone();
        let _in_flight = self
            .idempotency
            .begin(Scope::Trade, seller_id, key.as_deref())?;
        let _claim = self.escrow.sellers.claim(seller_id).await?;
        let (keyed, open) = self
            .ledger
            .tables(move |read| {
                let keyed = match &key {
                    Some(key) => tables::trade_by_key(read, seller_id, key)?,
                    None => None,
                };
                Ok((keyed, tables::open_offers_of(read, seller_id)?))
            })
            .await?;
        let row = offer_row(&request, now_s(), self.config.escrow_timeout_s);
        if let Some(found) = keyed {
            let same = found.asset == row.asset
                && found.item == row.item
                && (found.price_asset.as_str(), found.price)
                    == (row.price_asset.as_str(), row.price)
                && found.on_platform == row.on_platform;
            return match same {
                true => Ok(Replayable::replayed(found)),
                false => Err(PlatformError::IdempotencyConflict),
            };
        }
        if open >= OPEN_OFFERS_PER_MEMBER_MAX {
            return Err(EscrowError::TooManyOffers(OPEN_OFFERS_PER_MEMBER_MAX).into());
        }
        let transfers: Vec<Transfer> = self
            .legs(&row)?
            .iter()
            .map(|leg| leg.lock(row.id))
            .collect();
        let row = self.commit_debit(seller_id, transfers, row).await?;
        Ok(Replayable::fresh(row))
    }

    /// The checks of an offer before anything moves: the fields' bounds, the seller may
    /// pay, the game exists.
    async fn check_offer(&self, request: &OfferRequest) -> Result<(), PlatformError> {
        check_units("price", request.price)?;
        match &request.goods {
            Goods::Asset(asset, amount) => {
                check_units("amount", *amount)?;
                if *asset == request.price_asset {
                    return Err(invalid("price_asset", "another asset than the one offered"));
                }
            }
            Goods::Item(game_id, item_ref, item_name) => {
                check_text("item_ref", item_ref, ITEM_REF_CHARS_MAX)?;
                check_text("item_name", item_name, ITEM_NAME_CHARS_MAX)?;
                if !request.on_platform {
                    let detail = "an item trade is paid on the platform (nothing to escrow else)";
                    return Err(invalid("settlement", detail));
                }
                self.game_row(*game_id).await?;
            }
        }
        let gate = self.member_gate(request.seller_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        if let Goods::Asset(asset, _) = request.goods {
            self.open_wallet(request.seller_id, asset).await?;
        }
        self.open_wallet(request.seller_id, request.price_asset)
            .await
    }

    /// A trade as `member_id` sees it: any open offer; otherwise only its parties' (the
    /// dispute's text to them too).
    pub async fn trade_for(&self, member_id: u128, id: u128) -> Result<TradeView, PlatformError> {
        let trade = self.trade_row(id).await?;
        let party = trade.seller_id == member_id || trade.buyer_id == Some(member_id);
        if !party && trade.status != TradeStatus::Open {
            return Err(PlatformError::NotFound(Entity::Trade));
        }
        self.trade_view(trade, party)
    }

    pub(crate) async fn trade_row(&self, id: u128) -> Result<TradeRow, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| tables::trade(read, id))
            .await?;
        found.ok_or(PlatformError::NotFound(Entity::Trade))
    }

    fn trade_view(&self, trade: TradeRow, with_dispute: bool) -> Result<TradeView, PlatformError> {
        let dispute = match (&trade.dispute_sealed, with_dispute) {
            (Some(sealed), true) => Some(self.open_dispute_text(trade.id, sealed)?),
            _ => None,
        };
        Ok(TradeView { trade, dispute })
    }

    /// Open offers to browse, newest first (`mine`: the member's own trades instead, in
    /// every state or in `status`).
    pub async fn trades_page(
        &self,
        member_id: u128,
        mine: bool,
        status: Option<TradeStatus>,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<TradeView>, PlatformError> {
        let limit = limit.clamp(1, TRADES_PAGE_MAX);
        if !mine && status.is_some_and(|status| status != TradeStatus::Open) {
            return Err(invalid(
                "status",
                "browsing lists open offers; add mine=true",
            ));
        }
        let found = self
            .ledger
            .tables(move |read| match mine {
                true => tables::member_trades_page(read, member_id, status, before, limit),
                false => tables::open_trades_page(read, before, limit),
            })
            .await?;
        found
            .into_iter()
            .map(|trade| self.trade_view(trade, mine))
            .collect()
    }

    /// A member's step of a trade: take it, confirm it, cancel it.
    pub async fn trade_step(
        &self,
        member_id: u128,
        id: u128,
        step: Step,
    ) -> Result<TradeView, PlatformError> {
        let _claim = self.escrow.trades.claim(id).await?;
        let trade = self.trade_row(id).await?;
        let party = trade.seller_id == member_id || trade.buyer_id == Some(member_id);
        // A stranger learns only that an offer it may have seen open is not open any more.
        if !party && trade.status != TradeStatus::Open {
            return Err(match step {
                Step::Take => state(&trade, "take"),
                Step::Confirm | Step::Cancel => PlatformError::NotFound(Entity::Trade),
            });
        }
        let changed = match step {
            Step::Take => self.take_offer(member_id, trade).await?,
            Step::Confirm => self.confirm_trade(member_id, trade).await?,
            Step::Cancel => self.cancel_offer(member_id, trade).await?,
        };
        self.trade_view(changed, true)
    }

    /// The buyer takes an open offer; paid on the platform, the price is locked now.
    async fn take_offer(&self, buyer_id: u128, trade: TradeRow) -> Result<TradeRow, PlatformError> {
        let now = now_s();
        if trade.status != TradeStatus::Open || trade.deadline_s <= now {
            return Err(state(&trade, "take"));
        }
        if trade.seller_id == buyer_id {
            return Err(EscrowError::OwnOffer.into());
        }
        let gate = self.member_gate(buyer_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        let price_asset = crate::assets::asset(&trade.price_asset)?;
        self.open_wallet(buyer_id, price_asset).await?;
        if let Some((symbol, _)) = &trade.asset {
            self.open_wallet(buyer_id, crate::assets::asset(symbol)?)
                .await?;
        }
        let taken = TradeRow {
            buyer_id: Some(buyer_id),
            status: TradeStatus::Taken,
            taken_at_s: Some(now),
            deadline_s: now + self.config.escrow_timeout_s,
            ..trade
        };
        let transfers: Vec<Transfer> = self
            .legs(&taken)?
            .iter()
            .filter(|leg| leg.name == "price")
            .map(|leg| leg.lock(taken.id))
            .collect();
        self.commit_debit(buyer_id, transfers, taken).await
    }

    /// Completes a taken trade: the buyer (paid on the platform) says it arrived, or the
    /// seller (paid outside) says the payment did.
    async fn confirm_trade(
        &self,
        member_id: u128,
        trade: TradeRow,
    ) -> Result<TradeRow, PlatformError> {
        if trade.status != TradeStatus::Taken || trade.deadline_s <= now_s() {
            return Err(state(&trade, "confirm"));
        }
        let (confirmer, role) = match trade.on_platform {
            true => (trade.buyer_id, "buyer"),
            false => (Some(trade.seller_id), "seller"),
        };
        if confirmer != Some(member_id) {
            return Err(EscrowError::WrongParty(role).into());
        }
        self.complete(trade).await
    }

    /// One linked chain: each leg posted and paid to its receiver; both or neither.
    pub(crate) async fn complete(&self, trade: TradeRow) -> Result<TradeRow, PlatformError> {
        let mut transfers = Vec::new();
        for leg in self.legs(&trade)? {
            transfers.push(leg.resolve(trade.id, true));
            transfers.push(leg.payout(trade.id, true));
        }
        let completed = TradeRow {
            status: TradeStatus::Completed,
            finished_at_s: Some(now_s()),
            ..trade
        };
        let id = completed.id;
        self.commit_trade(linked(transfers), completed, all_moved, move |results| {
            tracing::error!(?results, "a trade's completion was refused");
            PlatformError::Unavailable("the trade could not complete; retry".into())
        })
        .await
        .inspect_err(|error| tracing::warn!(trade = id, %error, "completion refused"))
    }

    /// The seller withdraws an open offer: its lock voided.
    async fn cancel_offer(
        &self,
        member_id: u128,
        trade: TradeRow,
    ) -> Result<TradeRow, PlatformError> {
        if trade.status != TradeStatus::Open {
            return Err(state(&trade, "cancel"));
        }
        if trade.seller_id != member_id {
            return Err(EscrowError::WrongParty("seller").into());
        }
        self.void_trade(trade, TradeStatus::Cancelled).await
    }

    /// Voids each lock of an open or taken trade and marks it `status` (cancelled or
    /// expired). A lock the ledger released already (its backstop timeout) counts as voided.
    pub(crate) async fn void_trade(
        &self,
        trade: TradeRow,
        status: TradeStatus,
    ) -> Result<TradeRow, PlatformError> {
        let transfers: Vec<Transfer> = self
            .legs(&trade)?
            .iter()
            .map(|leg| leg.resolve(trade.id, false))
            .collect();
        let voided = TradeRow {
            status,
            finished_at_s: Some(now_s()),
            ..trade
        };
        let accept = |results: &[CreateTransferResult]| {
            results.iter().all(|result| {
                matches!(
                    result,
                    CreateTransferResult::Ok
                        | CreateTransferResult::Exists
                        | CreateTransferResult::PendingTransferExpired
                        | CreateTransferResult::PendingTransferAlreadyVoided
                )
            })
        };
        self.commit_trade(transfers, voided, accept, |results| {
            tracing::error!(?results, "a trade's locks could not be voided");
            PlatformError::Unavailable("the trade's locks could not be voided".into())
        })
        .await
    }
}

/// The row of a new offer.
fn offer_row(request: &OfferRequest, now: u64, timeout_s: u64) -> TradeRow {
    let (asset, item) = match &request.goods {
        Goods::Asset(asset, amount) => (Some((asset.symbol.to_string(), *amount)), None),
        Goods::Item(game, reference, name) => {
            (None, Some((*game, reference.clone(), name.clone())))
        }
    };
    TradeRow {
        id: chart::new_id(),
        seller_id: request.seller_id,
        buyer_id: None,
        asset,
        item,
        price_asset: request.price_asset.symbol.to_string(),
        price: request.price,
        on_platform: request.on_platform,
        status: TradeStatus::Open,
        idempotency_key: request.idempotency_key.clone(),
        created_at_s: now,
        taken_at_s: None,
        deadline_s: now + timeout_s,
        finished_at_s: None,
        dispute_by: None,
        dispute_sealed: None,
        disputed_at_s: None,
        resolution: None,
        resolved_by: None,
        resolved_at_s: None,
    }
}
