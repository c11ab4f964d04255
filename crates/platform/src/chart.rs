//! The chart of accounts and the transfer codes (reasons) of the MVP ledger.
//!
//! Every business action becomes ledger transfers whose `code` says why value moved and
//! whose `user_data_128` points back to the business record (exchange id, member id, ...).

use ledger::types::{Account, AccountFlags, AccountId};

/// The ledger (asset) number of MVP. 1 MVP = 1 KRW, amounts are whole MVP.
pub const LEDGER_MVP: u32 = 1;
/// The asset name shown to members.
pub const ASSET_MVP: &str = "MVP";

/// The ledger of the audit log's commitments: amounts are always zero (no asset moves);
/// each transfer carries an audit entry's number and hash (`audit`).
pub const LEDGER_AUDIT: u32 = 2;

/// Account codes.
pub mod account_code {
    /// A member's wallet: credit-normal, may never go below zero.
    pub const MEMBER_WALLET: u16 = 100;
    /// A partner's issuance account: debit-normal (what the partner owes for MVP issued
    /// against its mileage), may never go credit.
    pub const PARTNER_ISSUANCE: u16 = 200;
    /// Partner payments received (KRW, out of band): debited when a partner pays for the MVP
    /// issued against it, crediting its issuance account.
    pub const PARTNER_PAYMENTS: u16 = 300;
    /// The MVC bridge: MVP converted to MVC ends here (held while the MVC release is on
    /// its way, posted once it is confirmed on chain).
    pub const BRIDGE: u16 = 400;
    /// A merchant's payable: credit-normal (what the platform owes the merchant for
    /// payments taken at its tills), may never go below zero.
    pub const MERCHANT_PAYABLE: u16 = 500;
    /// Settlement clearing: net amounts settled to merchants, paid out in KRW.
    pub const SETTLEMENT_CLEARING: u16 = 600;
    /// The platform's fees on merchant payments.
    pub const PLATFORM_FEES: u16 = 700;
    /// Gift vouchers bought and neither redeemed nor cancelled: credit-normal (what their
    /// holders paid), may never go below zero.
    pub const VOUCHERS: u16 = 800;
    /// Withdrawal payouts owed to former members (KRW paid out of band).
    pub const WITHDRAWAL_PAYOUTS: u16 = 900;
    /// The audit log's commitments leave this account (ledger [`super::LEDGER_AUDIT`]).
    pub const AUDIT_ENTRIES: u16 = 1000;
    /// ... and arrive in this one.
    pub const AUDIT_SINK: u16 = 1001;
    /// An ad campaign's budget: credit-normal (what the advertiser prepaid for it, less
    /// what its impressions and clicks cost), may never go below zero.
    pub const AD_BUDGET: u16 = 1100;
    /// Advertisers' prepayments received (KRW, out of band): debited when a campaign's
    /// budget is funded.
    pub const AD_PREPAYMENTS: u16 = 1200;
    /// The platform's ad revenue: billed impressions and clicks.
    pub const AD_REVENUE: u16 = 1300;
    /// P2P transfers held for a phone that is not a member's yet, until claimed or returned.
    pub const P2P_HOLDS: u16 = 1400;
    /// The platform's inventory of an asset (`assets`), one per ledger.
    pub const TREASURY: u16 = 1500;
    /// Where an asset's units come from: its issue, or coins held at the custodian.
    pub const RESERVE: u16 = 1600;
    /// A promotion's budget: credit-normal (what the platform put in, less the bonuses
    /// granted, plus what refunds took back), may never go below zero.
    pub const PROMOTION_BUDGET: u16 = 2000;
    /// The platform's marketing money: debited when a promotion's budget is funded.
    pub const PROMOTION_FUNDING: u16 = 2100;
    /// Escrowed trades' locks (`escrow`), one per ledger: pending while a trade runs, posted
    /// while a dispute waits for an operator; never below zero.
    pub const ESCROW: u16 = 1700;
    /// A game company's TTC for game money and rewards (`escrow::games`), one per company:
    /// funded from the treasury, paid out to members; never below zero.
    pub const GAME_ISSUANCE: u16 = 1800;
    /// A creator reward pool (`creators::pools`), one per content platform and period:
    /// funded from `AD_REVENUE`, paid out to creators by score; never below zero.
    pub const CREATOR_POOL: u16 = 2200;
    /// A prepaid partner's MVP, bought up front (points replacement, `exchange`): its
    /// members' exchanges are paid from it, never below zero.
    pub const PARTNER_PREPAID: u16 = 2400;
}

/// Transfer codes: the reason a transfer exists. Shown to members as `reason`.
pub mod transfer_code {
    pub const EXCHANGE: u16 = 1;
    pub const PAYMENT: u16 = 2;
    pub const REFUND: u16 = 3;
    pub const TRANSFER: u16 = 4;
    pub const BONUS: u16 = 5;
    pub const WITHDRAWAL: u16 = 6;
    pub const PARTNER_PAYMENT: u16 = 7;
    pub const CONVERSION: u16 = 8;
    pub const SETTLEMENT: u16 = 9;
    pub const FEE: u16 = 10;
    pub const VOUCHER_PURCHASE: u16 = 11;
    pub const VOUCHER_REFUND: u16 = 12;
    /// The commitment of an audit entry (amount zero; see `audit`).
    pub const AUDIT_ENTRY: u16 = 13;
    /// An advertiser's prepayment funding a campaign's budget (`ads`).
    pub const AD_FUNDING: u16 = 14;
    /// A billed impression (`ads`).
    pub const AD_IMPRESSION: u16 = 15;
    /// A billed click (`ads`).
    pub const AD_CLICK: u16 = 16;
    /// A conversion between assets, each leg (`assets`).
    pub const ASSET_CONVERSION: u16 = 17;
    /// Units of an asset put into the treasury: TTC's issue, a custodial deposit.
    pub const ASSET_ISSUE: u16 = 18;
    /// A promotion's cashback on a payment (`promotions`).
    pub const CASHBACK: u16 = 24;
    /// Cashback taken back when its payment is refunded (`promotions`).
    pub const CASHBACK_CLAWBACK: u16 = 25;
    /// The platform's marketing money into a promotion's budget (`promotions`).
    pub const PROMOTION_FUNDING: u16 = 26;
    /// A trade leg locked in escrow (pending), and its post or void (`escrow`).
    pub const ESCROW_LOCK: u16 = 19;
    /// Escrow paying a trade's party: a leg delivered, released or refunded (`escrow`).
    pub const ESCROW_PAYOUT: u16 = 20;
    /// A game company buying TTC from the treasury for its members (`escrow::games`).
    pub const GAME_FUNDING: u16 = 21;
    /// A game company crediting a member game money or a reward (`escrow::games`).
    pub const GAME_CREDIT: u16 = 22;
    /// Ad revenue into a creator reward pool (`creators::pools`).
    pub const CREATOR_POOL_FUNDING: u16 = 27;
    /// A creator's share of a reward pool (`creators::pools`).
    pub const CREATOR_REWARD: u16 = 28;
    /// A member's tip, the creator's share (`creators::tips`).
    pub const TIP: u16 = 29;
    /// A member's tip, the platform's share (`creators::tips`).
    pub const TIP_FEE: u16 = 30;
    /// A prepaid partner buying MVP up front for its members (`partners`).
    pub const PARTNER_PREPAYMENT: u16 = 31;
    /// A promotion's reward on an asset conversion (`promotions`).
    pub const TRADING_REWARD: u16 = 32;
}

/// The transfer code of a member-facing reason name ([`reason_name`]'s inverse).
pub fn reason_code(name: &str) -> Option<u16> {
    (1..=u16::from(u8::MAX))
        .find(|code| reason_name(*code) == name)
        .filter(|_| name != "other")
}

/// The member-facing name of a transfer code.
pub fn reason_name(code: u16) -> &'static str {
    match code {
        transfer_code::EXCHANGE => "exchange",
        transfer_code::PAYMENT => "payment",
        transfer_code::REFUND => "refund",
        transfer_code::TRANSFER => "transfer",
        transfer_code::BONUS => "bonus",
        transfer_code::WITHDRAWAL => "withdrawal",
        transfer_code::PARTNER_PAYMENT => "partner_payment",
        transfer_code::CONVERSION => "conversion",
        transfer_code::SETTLEMENT => "settlement",
        transfer_code::FEE => "fee",
        transfer_code::VOUCHER_PURCHASE => "voucher_purchase",
        transfer_code::VOUCHER_REFUND => "voucher_refund",
        transfer_code::AUDIT_ENTRY => "audit_entry",
        transfer_code::AD_FUNDING => "ad_funding",
        transfer_code::AD_IMPRESSION => "ad_impression",
        transfer_code::AD_CLICK => "ad_click",
        transfer_code::ASSET_CONVERSION => "asset_conversion",
        transfer_code::ASSET_ISSUE => "asset_issue",
        transfer_code::CASHBACK => "cashback",
        transfer_code::CASHBACK_CLAWBACK => "cashback_clawback",
        transfer_code::PROMOTION_FUNDING => "promotion_funding",
        transfer_code::ESCROW_LOCK => "escrow_lock",
        transfer_code::ESCROW_PAYOUT => "escrow_payout",
        transfer_code::GAME_FUNDING => "game_funding",
        transfer_code::GAME_CREDIT => "game_credit",
        transfer_code::CREATOR_POOL_FUNDING => "creator_pool_funding",
        transfer_code::CREATOR_REWARD => "creator_reward",
        transfer_code::TIP => "tip",
        transfer_code::TIP_FEE => "tip_fee",
        transfer_code::PARTNER_PREPAYMENT => "partner_prepayment",
        transfer_code::TRADING_REWARD => "trading_reward",
        _ => "other",
    }
}

/// Fixed ids of the platform's own accounts: high bit set, so they never collide with the
/// random ids of members and partners (which have it clear).
pub const SYSTEM_ACCOUNT_BASE: u128 = 1 << 127;
pub const WITHDRAWAL_PAYOUTS_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::WITHDRAWAL_PAYOUTS as u128);
pub const PARTNER_PAYMENTS_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::PARTNER_PAYMENTS as u128);
pub const BRIDGE_ACCOUNT: AccountId = AccountId(SYSTEM_ACCOUNT_BASE | account_code::BRIDGE as u128);
pub const SETTLEMENT_CLEARING_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::SETTLEMENT_CLEARING as u128);
pub const PLATFORM_FEES_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::PLATFORM_FEES as u128);
pub const VOUCHERS_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::VOUCHERS as u128);
pub const AUDIT_ENTRIES_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::AUDIT_ENTRIES as u128);
pub const AUDIT_SINK_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::AUDIT_SINK as u128);
pub const AD_PREPAYMENTS_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::AD_PREPAYMENTS as u128);
pub const AD_REVENUE_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::AD_REVENUE as u128);
pub const P2P_HOLDS_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::P2P_HOLDS as u128);
pub const PROMOTION_FUNDING_ACCOUNT: AccountId =
    AccountId(SYSTEM_ACCOUNT_BASE | account_code::PROMOTION_FUNDING as u128);

/// Random bits at the bottom of a [`new_id`].
const ID_RANDOM_BITS: u32 = 80;

/// A new id for a business record: the high bit clear, then the milliseconds since the Unix
/// epoch (47 bits, enough until the year 6429), then 80 random bits. Ids that grow with
/// time, as TigerBeetle recommends, land at the right edge of the store's indexes instead of
/// on a random page each; 80 random bits keep them unguessable.
pub fn new_id() -> u128 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let millis = since_epoch.as_millis() & ((1 << (127 - ID_RANDOM_BITS)) - 1);
    let random = rand::random::<u128>() & ((1 << ID_RANDOM_BITS) - 1);
    let id = (millis << ID_RANDOM_BITS) | random;
    debug_assert!(id & SYSTEM_ACCOUNT_BASE == 0);
    // Zero only if the clock reads the epoch and the 80 random bits are all zero.
    id.max(1)
}

pub fn member_wallet(member_id: u128) -> Account {
    Account {
        id: AccountId(member_id),
        ledger: LEDGER_MVP,
        code: account_code::MEMBER_WALLET,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.union(AccountFlags::HISTORY),
        ..Account::default()
    }
}

pub fn merchant_payable(merchant_id: u128) -> Account {
    Account {
        id: AccountId(merchant_id),
        ledger: LEDGER_MVP,
        code: account_code::MERCHANT_PAYABLE,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data_128: merchant_id,
        ..Account::default()
    }
}

/// A campaign's budget account (its id is the campaign's).
pub fn ad_budget(campaign_id: u128) -> Account {
    Account {
        id: AccountId(campaign_id),
        ledger: LEDGER_MVP,
        code: account_code::AD_BUDGET,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data_128: campaign_id,
        ..Account::default()
    }
}

pub fn partner_issuance(partner_id: u128) -> Account {
    Account {
        id: AccountId(partner_id),
        ledger: LEDGER_MVP,
        code: account_code::PARTNER_ISSUANCE,
        flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
        user_data_128: partner_id,
        ..Account::default()
    }
}

/// The id of a prepaid partner's account: derived from the partner's, with the high bit set
/// like the platform's own accounts (a partner's random id has it clear).
pub fn partner_prepaid_id(partner_id: u128) -> AccountId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"mileverse/partner-prepaid/")
        .chain_update(partner_id.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    AccountId(u128::from_be_bytes(bytes) | SYSTEM_ACCOUNT_BASE)
}

/// A prepaid partner's account: credited with what it bought, debited by its members'
/// exchanges (first as pending reservations), never below zero.
pub fn partner_prepaid(partner_id: u128) -> Account {
    Account {
        id: partner_prepaid_id(partner_id),
        ledger: LEDGER_MVP,
        code: account_code::PARTNER_PREPAID,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data_128: partner_id,
        ..Account::default()
    }
}

/// A promotion's budget account (its id is the promotion's).
pub fn promotion_budget(promotion_id: u128) -> Account {
    Account {
        id: AccountId(promotion_id),
        ledger: LEDGER_MVP,
        code: account_code::PROMOTION_BUDGET,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data_128: promotion_id,
        ..Account::default()
    }
}

/// A creator reward pool's account (its id is the pool's).
pub fn creator_pool(pool_id: u128) -> Account {
    Account {
        id: AccountId(pool_id),
        ledger: LEDGER_MVP,
        code: account_code::CREATOR_POOL,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        user_data_128: pool_id,
        ..Account::default()
    }
}

/// The platform's marketing money, made with the first promotion (idempotently).
pub fn promotion_funding() -> Account {
    Account {
        id: PROMOTION_FUNDING_ACCOUNT,
        ledger: LEDGER_MVP,
        code: account_code::PROMOTION_FUNDING,
        flags: AccountFlags::empty(),
        ..Account::default()
    }
}

/// The audit log's two accounts, created when the log opens (idempotently).
pub fn audit_accounts() -> Vec<Account> {
    [
        (AUDIT_ENTRIES_ACCOUNT, account_code::AUDIT_ENTRIES),
        (AUDIT_SINK_ACCOUNT, account_code::AUDIT_SINK),
    ]
    .into_iter()
    .map(|(id, code)| Account {
        id,
        ledger: LEDGER_AUDIT,
        code,
        flags: AccountFlags::empty(),
        ..Account::default()
    })
    .collect()
}

/// The platform's own accounts, created at start (idempotently).
pub fn system_accounts() -> Vec<Account> {
    vec![
        Account {
            id: WITHDRAWAL_PAYOUTS_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::WITHDRAWAL_PAYOUTS,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
        Account {
            id: PARTNER_PAYMENTS_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::PARTNER_PAYMENTS,
            flags: AccountFlags::empty(),
            ..Account::default()
        },
        Account {
            id: BRIDGE_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::BRIDGE,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
        Account {
            id: SETTLEMENT_CLEARING_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::SETTLEMENT_CLEARING,
            flags: AccountFlags::empty(),
            ..Account::default()
        },
        Account {
            id: PLATFORM_FEES_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::PLATFORM_FEES,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
        Account {
            id: VOUCHERS_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::VOUCHERS,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
        Account {
            id: P2P_HOLDS_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::P2P_HOLDS,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
        Account {
            id: AD_PREPAYMENTS_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::AD_PREPAYMENTS,
            flags: AccountFlags::empty(),
            ..Account::default()
        },
        Account {
            id: AD_REVENUE_ACCOUNT,
            ledger: LEDGER_MVP,
            code: account_code::AD_REVENUE,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        },
    ]
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn new_ids_grow_with_time_keep_the_high_bit_clear_and_differ() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<u128> = (0..1000).map(|_| new_id()).collect();
        assert!(
            ids.iter()
                .all(|id| *id > first && id & SYSTEM_ACCOUNT_BASE == 0)
        );
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        let now_millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(now_millis - (ids[999] >> ID_RANDOM_BITS) < 1_000);
    }
}
