//! The chart of accounts and the transfer codes (reasons) of the MVP ledger.
//!
//! Every business action becomes ledger transfers whose `code` says why value moved and
//! whose `user_data_128` points back to the business record (exchange id, member id, ...).

use ledger::types::{Account, AccountFlags, AccountId};

/// The ledger (asset) number of MVP. 1 MVP = 1 KRW, amounts are whole MVP.
pub const LEDGER_MVP: u32 = 1;
/// The asset name shown to members.
pub const ASSET_MVP: &str = "MVP";

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

/// A random id for a business record (high bit clear).
pub fn new_id() -> u128 {
    loop {
        let id = rand::random::<u128>() & !SYSTEM_ACCOUNT_BASE;
        if id != 0 {
            return id;
        }
    }
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
    ]
}
