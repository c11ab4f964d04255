//! Game companies (TT-9; seed 002 §3.6): an operator registers a company and hands it an
//! API key; the company credits members game money and rewards, and confirms the delivery
//! of its items sold in escrowed trades.
//!
//! Game money is TTC: the seed replaces games' own money with the TongTong coin (§3.6,
//! "게임머니 등을 … 통통코인으로 대체"), so a member's game money is spendable, tradable and
//! convertible like any TTC. Each company has a `GAME_ISSUANCE` account on TTC's ledger (its
//! id is the company's), funded from the treasury when the company buys TTC from the
//! operator (`GAME_FUNDING`, seed §3.8's "제휴사는 … 통통코인을 구매하고"), never below zero:
//! a company credits only what it bought. A credit moves `GAME_ISSUANCE` → the member's TTC
//! wallet (`GAME_CREDIT`, `user_data_128` = the company, `user_data_32` = 1 game money or
//! 2 reward); its transfer id derives from the company and its `credit_id`, and its row
//! is keyed by them, so a retry credits once.

use std::sync::Arc;

use ledger::types::{Account, AccountFlags, AccountId, CreateTransferResult, Transfer, TransferId};
use store::tables::escrow::{
    self as tables, CreditRow, EscrowWrite, GameRow, TradeRow, TradeStatus,
};

use crate::assets::{AMOUNT_UNITS_MAX, TTC, treasury_id, wallet_id};
use crate::authorization::derived_transfer_id;
use crate::chart::{self, account_code, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::escrow::error::EscrowError;
use crate::service::Platform;
use ports::time::now_s;

/// Longest game company name.
pub const GAME_NAME_CHARS_MAX: usize = 100;
/// Longest `credit_id` and funding reference (visible ASCII).
pub const CREDIT_ID_BYTES_MAX: usize = 64;
/// Random bytes of a company's secret (shown as 64 hex digits).
const SECRET_BYTES: usize = 32;

/// What a company credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditKind {
    GameMoney,
    Reward,
}

impl CreditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditKind::GameMoney => "game_money",
            CreditKind::Reward => "reward",
        }
    }

    pub fn parse(text: &str) -> Option<CreditKind> {
        [CreditKind::GameMoney, CreditKind::Reward]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// The ledger transfer's `user_data_32`.
    fn code(self) -> u32 {
        match self {
            CreditKind::GameMoney => 1,
            CreditKind::Reward => 2,
        }
    }
}

/// A new company's credentials; the secret is never shown again.
#[derive(Clone, Debug)]
pub struct GameGrant {
    pub game_id: u128,
    pub key_id: String,
    pub secret: String,
}

/// A company's TTC in its smallest unit ([`Platform::game_balance`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GameBalance {
    pub bought: u128,
    pub credited: u128,
    pub available: u128,
}

/// A company's key, its secret opened (for the signature check).
#[derive(Clone, Debug)]
pub struct GameKey {
    pub game_id: u128,
    pub name: String,
    pub secret: Vec<u8>,
}

/// A company's credit to a member.
#[derive(Clone, Debug)]
pub struct CreditRequest {
    pub game_id: u128,
    pub member_phone: String,
    pub amount: u64,
    pub kind: CreditKind,
    pub credit_id: String,
}

fn secret_context(game_id: u128) -> Vec<u8> {
    format!("game/{game_id}/secret").into_bytes()
}

/// The company's TTC account (its id is the company's).
pub fn issuance_id(game_id: u128) -> AccountId {
    AccountId(game_id)
}

fn check_reference(field: &'static str, text: &str) -> Result<(), PlatformError> {
    let visible = text.bytes().all(|byte| byte.is_ascii_graphic());
    if text.is_empty() || text.len() > CREDIT_ID_BYTES_MAX || !visible {
        let detail = format!("1 to {CREDIT_ID_BYTES_MAX} visible ASCII characters");
        return Err(invalid(field, detail));
    }
    Ok(())
}

fn check_amount(amount: u64) -> Result<(), PlatformError> {
    if !(1..=AMOUNT_UNITS_MAX).contains(&amount) {
        return Err(invalid("amount", format!("1 to {AMOUNT_UNITS_MAX} units")));
    }
    Ok(())
}

impl Platform {
    /// Registers a game company with its TTC account and a fresh API key.
    pub async fn register_game(&self, name: &str) -> Result<GameGrant, PlatformError> {
        super::check_text("name", name, GAME_NAME_CHARS_MAX)?;
        let game_id = chart::new_id();
        let account = Account {
            id: issuance_id(game_id),
            ledger: TTC.ledger,
            code: account_code::GAME_ISSUANCE,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            user_data_128: game_id,
            ..Account::default()
        };
        let created = self.ledger.create_accounts(vec![account]).await?;
        if created[0].as_str() != "ok" {
            let code = created[0].as_str();
            return Err(PlatformError::Unavailable(format!("game account: {code}")));
        }
        let row = GameRow {
            id: game_id,
            name: name.to_string(),
            key_id: String::new(),
            secret_sealed: Vec::new(),
            created_at_s: now_s(),
        };
        self.write_game_key(row).await
    }

    /// Gives a company a new API key: the old one stops working as soon as this answers
    /// (every signed request reads the key from the table). Of two rotations at once, the
    /// later write's key is the one.
    pub async fn rotate_game_key(&self, game_id: u128) -> Result<GameGrant, PlatformError> {
        let row = self.game_row(game_id).await?;
        self.write_game_key(row).await
    }

    /// Writes the company with a fresh key id and secret; answers them (the secret is
    /// never shown again).
    async fn write_game_key(&self, mut row: GameRow) -> Result<GameGrant, PlatformError> {
        let key_id = format!("game_{}", hex::encode(rand::random::<[u8; 12]>()));
        let secret = hex::encode(rand::random::<[u8; SECRET_BYTES]>());
        row.key_id = key_id.clone();
        row.secret_sealed = self.keys.seal(secret.as_bytes(), &secret_context(row.id));
        let game_id = row.id;
        self.ledger
            .record(vec![Arc::new(EscrowWrite::Game(row))])
            .await?;
        Ok(GameGrant {
            game_id,
            key_id,
            secret,
        })
    }

    /// A company's TTC, from its account: what it bought, what it credited to members, and
    /// what it has left.
    pub async fn game_balance(&self, game_id: u128) -> Result<GameBalance, PlatformError> {
        self.game_row(game_id).await?;
        let accounts = self
            .ledger
            .lookup_accounts(vec![issuance_id(game_id)])
            .await?;
        let account = accounts
            .first()
            .ok_or(PlatformError::NotFound(Entity::Game))?;
        let spent = account.debits_posted + account.debits_pending;
        assert!(
            spent <= account.credits_posted,
            "a game account is never below zero"
        );
        Ok(GameBalance {
            bought: account.credits_posted,
            credited: account.debits_posted,
            available: account.credits_posted - spent,
        })
    }

    pub(crate) async fn game_row(&self, game_id: u128) -> Result<GameRow, PlatformError> {
        let found = self
            .ledger
            .tables(move |read| tables::game(read, game_id))
            .await?;
        found.ok_or(PlatformError::NotFound(Entity::Game))
    }

    /// The company behind an API key id, with its secret (`None`: no such key).
    pub async fn game_key(&self, key_id: &str) -> Result<Option<GameKey>, PlatformError> {
        let key_id = key_id.to_string();
        let found = self
            .ledger
            .tables(move |read| tables::game_by_key(read, &key_id))
            .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let secret = self
            .keys
            .open(&row.secret_sealed, &secret_context(row.id))
            .map_err(|_| PlatformError::Unavailable("a game secret does not open".into()))?;
        Ok(Some(GameKey {
            game_id: row.id,
            name: row.name,
            secret,
        }))
    }

    /// The company buys `amount` TTC from the treasury, once per `reference`; answers the
    /// transfer's id.
    pub async fn fund_game(
        &self,
        game_id: u128,
        amount: u64,
        reference: &str,
    ) -> Result<u128, PlatformError> {
        check_amount(amount)?;
        check_reference("reference", reference)?;
        self.game_row(game_id).await?;
        let id = derived_transfer_id("game-funding", game_id, reference);
        let funding = Transfer {
            id: TransferId(id),
            debit_account_id: treasury_id(TTC),
            credit_account_id: issuance_id(game_id),
            amount: u128::from(amount),
            user_data_128: game_id,
            ledger: TTC.ledger,
            code: transfer_code::GAME_FUNDING,
            ..Transfer::default()
        };
        match self.ledger.create_transfers(vec![funding]).await?[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(id),
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
                Err(crate::assets::error::AssetError::TreasuryShort.into())
            }
            CreateTransferResult::ExistsWithDifferentAmount => {
                Err(invalid("reference", "used for another amount"))
            }
            other => Err(PlatformError::Unavailable(format!(
                "funding: {}",
                other.as_str()
            ))),
        }
    }

    /// Credits a member game money or a reward from the company's TTC, once per
    /// `credit_id` (the same again answers the first credit; another body under it is a
    /// conflict).
    pub async fn credit_member(
        &self,
        request: CreditRequest,
    ) -> Result<crate::idempotency::Replayable<CreditRow>, PlatformError> {
        use crate::idempotency::Replayable;
        check_amount(request.amount)?;
        check_reference("credit_id", &request.credit_id)?;
        let phone = crate::members::normalize_phone(&request.member_phone)?;
        let phone_index = self.keys.blind_index(b"phone", phone.as_bytes());
        let member = self.active_member_by_phone(phone_index).await?;
        let member = member.ok_or(PlatformError::NotFound(Entity::Member))?;
        let game_id = request.game_id;
        let _claim = self.escrow.games.claim(game_id).await?;
        let credit_id = request.credit_id.clone();
        let found = self
            .ledger
            .tables(move |read| tables::credit(read, game_id, &credit_id))
            .await?;
        let row = CreditRow {
            game_id,
            credit_id: request.credit_id.clone(),
            member_id: member.id,
            amount: request.amount,
            kind: request.kind.as_str().to_string(),
            created_at_s: now_s(),
        };
        if let Some(found) = found {
            let same = (found.member_id, found.amount, found.kind.as_str())
                == (row.member_id, row.amount, row.kind.as_str());
            return match same {
                true => Ok(Replayable::replayed(found)),
                false => Err(EscrowError::CreditConflict.into()),
            };
        }
        self.open_wallet(member.id, TTC).await?;
        let credit = Transfer {
            id: TransferId(derived_transfer_id("game-credit", game_id, &row.credit_id)),
            debit_account_id: issuance_id(game_id),
            credit_account_id: wallet_id(member.id, TTC),
            amount: u128::from(row.amount),
            user_data_128: game_id,
            user_data_32: request.kind.code(),
            ledger: TTC.ledger,
            code: transfer_code::GAME_CREDIT,
            ..Transfer::default()
        };
        let written = row.clone();
        let committing =
            self.enqueue_commit(vec![credit], move |outcome| match outcome.results[0] {
                CreateTransferResult::Ok | CreateTransferResult::Exists => {
                    let write = Arc::new(EscrowWrite::Credit(written)) as store::tables::RowRef;
                    (vec![write], Ok(()))
                }
                _ => (Vec::new(), Err(EscrowError::GameFundsShort)),
            })?;
        committing.done().await??;
        Ok(Replayable::fresh(row))
    }

    /// The company says it delivered the item of a taken trade: the trade completes (both
    /// legs, as when the buyer confirms).
    pub async fn confirm_delivery(
        &self,
        game_id: u128,
        trade_id: u128,
    ) -> Result<TradeRow, PlatformError> {
        let _claim = self.escrow.trades.claim(trade_id).await?;
        let trade = self.trade_row(trade_id).await?;
        if trade.item.as_ref().map(|item| item.0) != Some(game_id) {
            return Err(EscrowError::NotTheGamesItem.into());
        }
        if trade.status != TradeStatus::Taken || trade.deadline_s <= now_s() {
            return Err(super::state(&trade, "deliver"));
        }
        self.complete(trade).await
    }
}
