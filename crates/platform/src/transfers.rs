//! P2P transfers (TT-1, TT-6; seed 002 §3.1.3, §3.3): a member sends MVP to another by
//! phone number, with a memo; a member asks for money with a link a friend pays.
//!
//! The money, one commit each, every movement a ledger transfer of code `TRANSFER` whose
//! `user_data_128` is the P2P transfer's id:
//! - to a member: sender's wallet → receiver's wallet (the transfer's id is the P2P id);
//! - to a phone that is not a member's yet: sender's wallet → `P2P_HOLDS` (status `held`,
//!   with a deadline); when someone joins with that phone (or logs in), each held transfer
//!   moves `P2P_HOLDS` → their wallet (`claimed`); at the deadline it moves back to the
//!   sender (`returned`). Those two have ids derived from the P2P id, so each happens once.
//!
//! Limits: at most [`TRANSFER_MVP_MAX`] a transfer and [`DAILY_SENT_MVP_MAX`] sent per KST
//! day (held ones count); the PIN again above the platform's `pin_confirm_above_mvp`; one
//! send per sender at a time (a claim), so two sends at once can pass neither limit.
//! A send is idempotent under its `Idempotency-Key` (`idempotency`).
//!
//! State: `p2p_transfers`, `p2p_requests` (`store::tables::transfers`); in memory only the
//! claims. Memos are sealed like every member's personal data.

pub mod error;

use std::sync::Arc;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use store::tables::RowRef;
use store::tables::transfers::{
    self as tables, RequestRow, RequestStatus, TRANSFERS_PAGE_MAX, TransferRow, TransferStatus,
    TransferWrite,
};

use crate::authorization::derived_transfer_id;
use crate::chart::{self, transfer_code};
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::idempotency::{Replayable, Scope};
use crate::members::MemberStatus;
use crate::service::Platform;
use error::TransferError;
use ports::time::{kst_day_start_s, now_s};

/// Largest transfer (MVP).
pub const TRANSFER_MVP_MAX: u64 = 2_000_000;
/// Most MVP one member sends per KST day.
pub const DAILY_SENT_MVP_MAX: u64 = 5_000_000;
/// Longest memo (characters).
pub const MEMO_CHARS_MAX: usize = 100;
/// How long a transfer to a phone that is not a member's waits before it returns (the
/// default of `PlatformConfig::transfer_hold_s`).
pub const HOLD_S: u64 = 7 * 24 * 3600;
/// How long a money request can be paid.
pub const REQUEST_TTL_S: u64 = 7 * 24 * 3600;
/// Money requests one member makes per KST day.
pub const REQUESTS_PER_DAY_MAX: u64 = 50;
/// Held transfers claimed or returned per commit.
pub const HELD_PER_COMMIT_MAX: usize = 100;
/// Senders sending at once.
const SENDING_CLAIMS_MAX: usize = 65_536;
const SENDING_WAIT_MS: u64 = 5_000;

/// The P2P context's claims.
pub struct Transfers {
    /// One send per sender at a time: the balance and the daily limit are checked exactly.
    senders: Claims<u128>,
    /// One payment per money request at a time: a request is paid once.
    requests: Claims<u128>,
    /// Claims and returns of held transfers, one at a time (they are rare): a held transfer
    /// is either claimed or returned, never both.
    resolving: tokio::sync::Mutex<()>,
    /// What each recent sender sent on a KST day: `(day start, MVP)`. Exact, because a
    /// sender's sends run one at a time (the claim) and each adds to it after its commit;
    /// a miss reads the day's sum from `p2p_transfers`. At most [`SENT_CACHED_MAX`]
    /// senders; when full it is emptied (the next sends read their sums again).
    sent_today: std::sync::Mutex<std::collections::HashMap<u128, (u64, u64)>>,
}

/// Senders whose day's total is kept in memory.
pub const SENT_CACHED_MAX: usize = 131_072;

impl Default for Transfers {
    fn default() -> Self {
        let details = ClaimDetails {
            full: "too many transfers being sent; retry",
            wait: "another transfer of this member is being sent",
        };
        Transfers {
            senders: Claims::new(SENDING_CLAIMS_MAX, SENDING_WAIT_MS, details),
            requests: Claims::new(
                SENDING_CLAIMS_MAX,
                SENDING_WAIT_MS,
                ClaimDetails {
                    full: "too many requests being paid; retry",
                    wait: "this money request is being paid",
                },
            ),
            resolving: tokio::sync::Mutex::new(()),
            sent_today: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl Transfers {
    /// What the sender sent on the KST day starting at `day_s`, if known here.
    fn sent_on(&self, sender_id: u128, day_s: u64) -> Option<u64> {
        let cached = self.sent_today.lock().expect("sent lock");
        cached
            .get(&sender_id)
            .filter(|(day, _)| *day == day_s)
            .map(|(_, sent)| *sent)
    }

    /// Keeps the sender's total of the day after a send committed.
    fn note_sent(&self, sender_id: u128, day_s: u64, sent: u64) {
        let mut cached = self.sent_today.lock().expect("sent lock");
        if cached.len() >= SENT_CACHED_MAX && !cached.contains_key(&sender_id) {
            cached.clear();
        }
        cached.insert(sender_id, (day_s, sent));
    }
}

/// Whom a transfer goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// A phone number (any format `members::normalize_phone` takes).
    Phone(String),
    /// The member who made this money request (paying exactly its amount).
    Request(u128),
}

/// A member's send.
#[derive(Clone, Debug)]
pub struct SendRequest {
    pub sender_id: u128,
    pub to: Recipient,
    /// What leaves the sender (`amount` is in its smallest unit).
    pub asset: crate::assets::Asset,
    /// What reaches the receiver: the same asset, or another at the market price less the
    /// spread (a member receiver only).
    pub receive_asset: crate::assets::Asset,
    pub amount: u64,
    pub memo: String,
    pub idempotency_key: Option<String>,
    /// The PIN again, above the platform's `pin_confirm_above_mvp`.
    pub pin: Option<String>,
}

/// A P2P transfer, its memo opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: u128,
    pub sender_id: u128,
    pub receiver_id: Option<u128>,
    pub request_id: Option<u128>,
    pub amount: u64,
    pub memo: String,
    pub status: TransferStatus,
    pub created_at_s: u64,
    pub expires_at_s: Option<u64>,
    pub finished_at_s: Option<u64>,
    pub asset: String,
    pub receive_asset: String,
    pub received_amount: u64,
    /// The receiver's name, masked, when the platform read it anyway (a send); `None`
    /// otherwise ([`Platform::masked_name`] reads it).
    pub receiver_name_masked: Option<String>,
}

/// A money request, its memo opened, with the requester's name masked for the payer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneyRequest {
    pub id: u128,
    pub requester_id: u128,
    pub requester_name_masked: String,
    pub amount: u64,
    pub memo: String,
    pub status: RequestStatus,
    pub transfer_id: Option<u128>,
    pub created_at_s: u64,
    pub expires_at_s: u64,
}

fn memo_context(id: u128) -> Vec<u8> {
    format!("p2p/{id}/memo").into_bytes()
}

fn request_memo_context(id: u128) -> Vec<u8> {
    format!("p2p-request/{id}/memo").into_bytes()
}

/// A memo: at most [`MEMO_CHARS_MAX`] characters, no control characters.
pub fn check_memo(memo: &str) -> Result<(), PlatformError> {
    if memo.chars().count() > MEMO_CHARS_MAX || memo.chars().any(char::is_control) {
        let detail = format!("at most {MEMO_CHARS_MAX} characters, no control characters");
        return Err(invalid("memo", detail));
    }
    Ok(())
}

fn check_amount(amount: u64) -> Result<(), PlatformError> {
    if !(1..=TRANSFER_MVP_MAX).contains(&amount) {
        return Err(invalid("amount", format!("1 to {TRANSFER_MVP_MAX} MVP")));
    }
    Ok(())
}

/// What a send is worth and what it delivers: `(value in MVP, received amount)`, at the
/// current prices; the other asset less the spread (`assets::SPREAD_BPS`), rounded down.
struct Priced {
    value_mvp: u64,
    received_amount: u64,
}

/// The holds account of `asset`: `P2P_HOLDS` for MVP, one per ledger for the others.
pub fn holds_id(asset: crate::assets::Asset) -> AccountId {
    if asset.ledger == chart::LEDGER_MVP {
        return chart::P2P_HOLDS_ACCOUNT;
    }
    let code = u128::from(chart::account_code::P2P_HOLDS);
    AccountId(chart::SYSTEM_ACCOUNT_BASE | (code << 16) | u128::from(asset.ledger))
}

/// A name as a stranger may see it: its first and last characters, the rest hidden
/// ("김민수" → "김*수", "Kim" → "K*m", "Al" → "A*").
pub fn mask_name(name: &str) -> String {
    let characters: Vec<char> = name.chars().collect();
    match characters.len() {
        0 => String::new(),
        1 => "*".to_string(),
        2 => format!("{}*", characters[0]),
        n => {
            let hidden = "*".repeat(n - 2);
            format!("{}{hidden}{}", characters[0], characters[n - 1])
        }
    }
}

/// The ledger transfer that moves a held transfer on (`step`: "p2p-claim" or "p2p-return").
/// A held transfer is always of one asset (a send into another asset needs a member).
fn onward_transfer(
    row: &TransferRow,
    step: &str,
    to_member: u128,
) -> Result<Transfer, PlatformError> {
    let asset = crate::assets::asset(&row.asset)?;
    Ok(Transfer {
        id: TransferId(derived_transfer_id(step, row.id, "")),
        debit_account_id: holds_id(asset),
        credit_account_id: crate::assets::wallet_id(to_member, asset),
        amount: u128::from(row.amount),
        user_data_128: row.id,
        ledger: asset.ledger,
        code: transfer_code::TRANSFER,
        ..Transfer::default()
    })
}

/// Where the send is going, once resolved.
struct Destination {
    /// `None`: a phone that is not a member's yet (held).
    receiver: Option<store::tables::members::MemberRow>,
    phone_index: Vec<u8>,
    request: Option<RequestRow>,
}

impl Destination {
    fn receiver_id(&self) -> Option<u128> {
        self.receiver.as_ref().map(|receiver| receiver.id)
    }
}

/// What one read hop answers before a send: where it goes, an earlier send under its key,
/// and what the sender sent today.
struct BeforeSend {
    destination: Destination,
    keyed: Option<TransferRow>,
    /// What the sender sent on the KST day that began at `day_s`.
    sent_today: u64,
    day_s: u64,
}

impl Platform {
    /// Sends MVP to a member by phone (held for a phone that is not a member's yet) or pays
    /// a money request; a known `Idempotency-Key` answers the first send.
    pub async fn send_transfer_once(
        &self,
        request: SendRequest,
    ) -> Result<Replayable<TransferRecord>, PlatformError> {
        if request.amount == 0 {
            return Err(invalid("amount", "above zero"));
        }
        check_memo(&request.memo)?;
        let sender_id = request.sender_id;
        let key = request.idempotency_key.as_deref();
        let _in_flight = self.idempotency.begin(Scope::Transfer, sender_id, key)?;
        let _claim = self.transfers.senders.claim(sender_id).await?;
        let before = self.before_send(&request).await?;
        if let Some(found) = before.keyed {
            let record = self.transfer_record(&found)?;
            let same = found.phone_index == before.destination.phone_index
                && found.amount == request.amount
                && found.asset == request.asset.symbol
                && found.receive_asset == request.receive_asset.symbol
                && record.memo == request.memo;
            return match same {
                true => Ok(Replayable::replayed(record)),
                false => Err(PlatformError::IdempotencyConflict),
            };
        }
        let destination = before.destination;
        let _paying = match &destination.request {
            Some(paid) => Some(self.transfers.requests.claim(paid.id).await?),
            None => None,
        };
        let priced = self.price_send(&request, &destination).await?;
        self.check_sendable(&request, &destination, &priced, before.sent_today)
            .await?;
        let record = self.commit_send(&request, destination, &priced).await?;
        // The sender's first send of a new day (the day turned while it ran) starts it.
        let day_s = kst_day_start_s(record.created_at_s);
        let sent = match day_s == before.day_s {
            true => before.sent_today.saturating_add(priced.value_mvp),
            false => priced.value_mvp,
        };
        self.transfers.note_sent(sender_id, day_s, sent);
        Ok(Replayable::fresh(record))
    }

    /// One read hop: the receiver (by phone, or the money request's requester), the send
    /// under the request's key, and what the sender sent this KST day.
    async fn before_send(&self, request: &SendRequest) -> Result<BeforeSend, PlatformError> {
        let (phone_index, request_id) = match &request.to {
            Recipient::Phone(phone) => {
                let phone = crate::members::normalize_phone(phone)?;
                let index = self.keys.blind_index(b"phone", phone.as_bytes());
                (Some(index), None)
            }
            Recipient::Request(id) => (None, Some(*id)),
        };
        let sender_id = request.sender_id;
        let key = request.idempotency_key.clone();
        let today_s = kst_day_start_s(now_s());
        let cached = self.transfers.sent_on(sender_id, today_s);
        let (receiver, paid, keyed, sent_today) = self
            .ledger
            .tables(move |read| {
                use store::tables::members as member_tables;
                let (receiver, paid) = match (phone_index, request_id) {
                    (Some(index), _) => (member_tables::member_by_phone(read, &index)?, None),
                    (None, Some(id)) => match tables::request(read, id)? {
                        Some(paid) => (member_tables::member(read, paid.requester_id)?, Some(paid)),
                        None => (None, None),
                    },
                    (None, None) => (None, None),
                };
                let keyed = match &key {
                    Some(key) => tables::transfer_by_key(read, sender_id, key)?,
                    None => None,
                };
                let sent_today = match cached {
                    Some(sent) => sent,
                    None => tables::sent_since(read, sender_id, today_s)?,
                };
                Ok((receiver, paid, keyed, sent_today))
            })
            .await?;
        let destination = match phone_index {
            Some(index) => Destination {
                receiver,
                phone_index: index.to_vec(),
                request: None,
            },
            None => {
                let paid = paid.ok_or(PlatformError::NotFound(Entity::MoneyRequest))?;
                let requester = receiver.ok_or(PlatformError::NotFound(Entity::Member))?;
                Destination {
                    phone_index: requester.phone_index.to_vec(),
                    receiver: Some(requester),
                    request: Some(paid),
                }
            }
        };
        if let Some(receiver) = &destination.receiver
            && receiver.status != MemberStatus::Active
        {
            return Err(TransferError::ReceiverUnavailable.into());
        }
        Ok(BeforeSend {
            destination,
            keyed,
            sent_today,
            day_s: today_s,
        })
    }

    /// What the send is worth in MVP and what it delivers, at the current prices (an MVP
    /// send reads no price).
    async fn price_send(
        &self,
        request: &SendRequest,
        destination: &Destination,
    ) -> Result<Priced, PlatformError> {
        use crate::assets::{MVP, SPREAD_BPS, converted_amount};
        let (asset, receive) = (request.asset, request.receive_asset);
        if asset != receive && destination.receiver.is_none() {
            return Err(TransferError::CrossAssetNeedsMember.into());
        }
        if destination.request.is_some() && (asset != MVP || receive != MVP) {
            return Err(invalid("asset", "a money request is paid in MVP"));
        }
        if asset == MVP && receive == MVP {
            let amount = request.amount;
            return Ok(Priced {
                value_mvp: amount,
                received_amount: amount,
            });
        }
        let prices = self.fresh_prices().await?;
        let price_of = |wanted: crate::assets::Asset| {
            let found = prices.iter().find(|price| price.asset == wanted);
            found
                .map(|price| price.krw_per_unit)
                .ok_or(crate::assets::error::AssetError::NoPrice(wanted.symbol))
        };
        let asset_price = price_of(asset)?;
        let too_large = || invalid("amount", "too large to send");
        let value_mvp = converted_amount(
            request.amount,
            (asset, asset_price),
            (MVP, price_of(MVP)?),
            0,
        )
        .ok_or_else(too_large)?;
        let received_amount = match asset == receive {
            true => request.amount,
            false => converted_amount(
                request.amount,
                (asset, asset_price),
                (receive, price_of(receive)?),
                SPREAD_BPS,
            )
            .ok_or_else(too_large)?,
        };
        if received_amount == 0 {
            return Err(crate::assets::error::AssetError::TooSmall.into());
        }
        Ok(Priced {
            value_mvp,
            received_amount,
        })
    }

    /// Every check before value moves: the sender may pay, the request is open with this
    /// amount, not to oneself, the value within a transfer's maximum, the PIN, the daily
    /// limit (all in MVP value).
    async fn check_sendable(
        &self,
        request: &SendRequest,
        destination: &Destination,
        priced: &Priced,
        sent_today: u64,
    ) -> Result<(), PlatformError> {
        let sender_id = request.sender_id;
        let gate = self.member_gate(sender_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        if destination.receiver_id() == Some(sender_id) {
            return Err(TransferError::ToSelf.into());
        }
        if let Some(paid) = &destination.request {
            check_payable(paid, request.amount)?;
        }
        check_amount(priced.value_mvp.max(1))?;
        self.confirm_spend(
            sender_id,
            u128::from(priced.value_mvp),
            request.pin.as_deref(),
        )
        .await?;
        let remaining_mvp = DAILY_SENT_MVP_MAX.saturating_sub(sent_today);
        if priced.value_mvp > remaining_mvp {
            return Err(TransferError::DailyLimit { remaining_mvp }.into());
        }
        Ok(())
    }

    /// One commit: the ledger transfers and the row (and the request, paid), or nothing
    /// when the balance (or, into another asset, the treasury) does not cover it.
    async fn commit_send(
        &self,
        request: &SendRequest,
        destination: Destination,
        priced: &Priced,
    ) -> Result<TransferRecord, PlatformError> {
        let id = chart::new_id();
        let now = now_s();
        let receiver_id = destination.receiver_id();
        let held = receiver_id.is_none();
        let receiver_name_masked = match &destination.receiver {
            Some(receiver) => Some(self.masked_name_of(receiver)?),
            None => None,
        };
        if let Some(receiver_id) = receiver_id {
            self.open_wallet(receiver_id, request.receive_asset).await?;
        }
        let row = TransferRow {
            id,
            sender_id: request.sender_id,
            receiver_id,
            phone_index: destination.phone_index,
            request_id: destination.request.as_ref().map(|paid| paid.id),
            amount: request.amount,
            memo_sealed: self.seal_memo(&request.memo, memo_context(id)),
            status: if held {
                TransferStatus::Held
            } else {
                TransferStatus::Completed
            },
            idempotency_key: request.idempotency_key.clone(),
            created_at_s: now,
            expires_at_s: held.then_some(now + self.config.transfer_hold_s),
            finished_at_s: (!held).then_some(now),
            asset: request.asset.symbol.to_string(),
            receive_asset: request.receive_asset.symbol.to_string(),
            received_amount: priced.received_amount,
            value_mvp: priced.value_mvp,
        };
        let transfers = send_transfers(&row, request)?;
        let mut writes = vec![TransferWrite::Transfer(row.clone())];
        if let Some(paid) = destination.request {
            writes.push(TransferWrite::Request(RequestRow {
                status: RequestStatus::Paid,
                transfer_id: Some(id),
                ..paid
            }));
        }
        let committing = self.members.unless_withdrawing(request.sender_id, || {
            self.enqueue_commit(transfers, move |outcome| {
                let refused = outcome.results.iter().position(|result| !result.is_ok());
                match refused {
                    None => (rows_of(writes), Ok(())),
                    Some(0) if outcome.results[0] == CreateTransferResult::ExceedsCredits => {
                        (Vec::new(), Err(TransferError::InsufficientBalance))
                    }
                    Some(1) if outcome.results[1] == CreateTransferResult::ExceedsCredits => {
                        (Vec::new(), Err(TransferError::TreasuryShort))
                    }
                    Some(index) => {
                        let result = outcome.results[index];
                        tracing::error!(transfer = id, %result, "a P2P send refused");
                        (Vec::new(), Err(TransferError::InsufficientBalance))
                    }
                }
            })
        })?;
        committing.done().await??;
        Ok(TransferRecord {
            receiver_name_masked,
            ..self.transfer_record(&row)?
        })
    }

    fn seal_memo(&self, memo: &str, context: Vec<u8>) -> Vec<u8> {
        if memo.is_empty() {
            return Vec::new();
        }
        self.keys.seal(memo.as_bytes(), &context)
    }

    fn open_memo(&self, sealed: &[u8], context: Vec<u8>) -> Result<String, PlatformError> {
        if sealed.is_empty() {
            return Ok(String::new());
        }
        self.keys
            .open_string(sealed, &context)
            .map_err(|error| PlatformError::Unavailable(error.to_string()))
    }

    fn transfer_record(&self, row: &TransferRow) -> Result<TransferRecord, PlatformError> {
        Ok(TransferRecord {
            id: row.id,
            sender_id: row.sender_id,
            receiver_id: row.receiver_id,
            request_id: row.request_id,
            amount: row.amount,
            memo: self.open_memo(&row.memo_sealed, memo_context(row.id))?,
            status: row.status,
            created_at_s: row.created_at_s,
            expires_at_s: row.expires_at_s,
            finished_at_s: row.finished_at_s,
            asset: row.asset.clone(),
            receive_asset: row.receive_asset.clone(),
            received_amount: row.received_amount,
            receiver_name_masked: None,
        })
    }

    /// A member's name as another member sees it ([`mask_name`]); one read.
    pub async fn masked_name(&self, member_id: u128) -> Result<String, PlatformError> {
        let member = self.member_row(member_id).await?;
        let member = member.ok_or(PlatformError::NotFound(Entity::Member))?;
        self.masked_name_of(&member)
    }

    fn masked_name_of(
        &self,
        member: &store::tables::members::MemberRow,
    ) -> Result<String, PlatformError> {
        let name = self
            .keys
            .open_string(
                &member.name_sealed,
                &crate::members::member_context(member.id, "name"),
            )
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        Ok(mask_name(&name))
    }

    /// A transfer the member sent or received (anyone else: not found).
    pub async fn p2p_transfer(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<TransferRecord, PlatformError> {
        let row = self
            .ledger
            .tables(move |read| tables::transfer(read, id))
            .await?
            .filter(|row| row.sender_id == member_id || row.receiver_id == Some(member_id))
            .ok_or(PlatformError::NotFound(Entity::P2pTransfer))?;
        self.transfer_record(&row)
    }

    /// The member's transfers, sent and received, newest first.
    pub async fn member_p2p_transfers(
        &self,
        member_id: u128,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<TransferRecord>, PlatformError> {
        let limit = limit.clamp(1, TRANSFERS_PAGE_MAX);
        let rows = self
            .ledger
            .tables(move |read| tables::member_transfers_page(read, member_id, before, limit))
            .await?;
        rows.iter().map(|row| self.transfer_record(row)).collect()
    }

    /// The masked name of the member with this phone, for the sender to check before
    /// sending (`None`: no member has it; a send is then held for the phone).
    pub async fn recipient_name(&self, phone: &str) -> Result<Option<String>, PlatformError> {
        let phone = crate::members::normalize_phone(phone)?;
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let Some(member) = self.active_member_by_phone(phone_index).await? else {
            return Ok(None);
        };
        Ok(Some(self.masked_name_of(&member)?))
    }
}

/// A send's ledger transfers: in one asset, the sender's wallet to the receiver's (or the
/// asset's holds); into another, linked through the treasuries (both or neither).
fn send_transfers(
    row: &TransferRow,
    request: &SendRequest,
) -> Result<Vec<Transfer>, PlatformError> {
    use crate::assets::{treasury_id, wallet_id};
    let (asset, receive) = (request.asset, request.receive_asset);
    let sender = wallet_id(row.sender_id, asset);
    let first = |credit: AccountId, flags: TransferFlags| Transfer {
        id: TransferId(row.id),
        debit_account_id: sender,
        credit_account_id: credit,
        amount: u128::from(row.amount),
        user_data_128: row.id,
        ledger: asset.ledger,
        code: transfer_code::TRANSFER,
        flags,
        ..Transfer::default()
    };
    let Some(receiver_id) = row.receiver_id else {
        assert_eq!(asset, receive, "a held send is of one asset");
        return Ok(vec![first(holds_id(asset), TransferFlags::empty())]);
    };
    if asset == receive {
        return Ok(vec![first(
            wallet_id(receiver_id, asset),
            TransferFlags::empty(),
        )]);
    }
    let delivered = Transfer {
        id: TransferId(derived_transfer_id("p2p-out", row.id, "")),
        debit_account_id: treasury_id(receive),
        credit_account_id: wallet_id(receiver_id, receive),
        amount: u128::from(row.received_amount),
        user_data_128: row.id,
        ledger: receive.ledger,
        code: transfer_code::TRANSFER,
        ..Transfer::default()
    };
    Ok(vec![
        first(treasury_id(asset), TransferFlags::LINKED),
        delivered,
    ])
}

fn rows_of(writes: Vec<TransferWrite>) -> Vec<RowRef> {
    writes
        .into_iter()
        .map(|write| Arc::new(write) as RowRef)
        .collect()
}

/// A money request may be paid now with `amount`.
fn check_payable(request: &RequestRow, amount: u64) -> Result<(), PlatformError> {
    match request.status {
        RequestStatus::Paid => return Err(TransferError::RequestClosed("paid already").into()),
        RequestStatus::Cancelled => return Err(TransferError::RequestClosed("cancelled").into()),
        RequestStatus::Open => {}
    }
    if request.expires_at_s <= now_s() {
        return Err(TransferError::RequestClosed("expired").into());
    }
    if amount != request.amount {
        let amount_mvp = request.amount;
        return Err(TransferError::RequestAmount { amount_mvp }.into());
    }
    Ok(())
}

mod held;
mod requests;
