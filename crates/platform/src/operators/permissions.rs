//! What an operator may do: permissions, the four roles, and which permissions each role
//! holds. This table is the documented one (docs/operators.md prints it); the server maps
//! each admin route to one permission (`server::access`).

use std::fmt;

/// One thing an identity may do. Names are stable: API keys store them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read ledger accounts and transfers.
    LedgerRead,
    /// Read the full block feed (`GET /v1/ledger/blocks`): every transfer with its accounts.
    /// For witnesses' API keys; the public sees checkpoints and its own proofs only.
    LedgerFeed,
    /// Post raw ledger accounts and transfers. In no role: only the bootstrap identity and
    /// API keys it grants hold it, and production mode turns it off for everyone unless the
    /// operator allows raw writes at start.
    LedgerWrite,
    PartnersRead,
    /// Register partners, change them, add rates.
    PartnersWrite,
    /// Record partners' payments and reconcile.
    PartnersSettle,
    ExchangesRead,
    /// Lift a member's lock and forget the phone's wrong PINs.
    MembersUnlock,
    /// Lock a member (no login, payment or spending) and end its sessions.
    MembersLock,
    MerchantsRead,
    /// Register merchants and terminals, change them.
    MerchantsWrite,
    SettlementsRead,
    /// Run settlements and mark them paid.
    SettlementsWrite,
    /// Download reports (CSV).
    ReportsRead,
    VouchersRead,
    VouchersWrite,
    ConversionsRead,
    ConversionsWrite,
    /// Read the development SMS outbox.
    SmsRead,
    OperatorsRead,
    /// Create operators and change their role or state.
    OperatorsManage,
    AuditRead,
    /// Find a member by phone (through the blind index) and read their summary.
    MembersRead,
    /// Read ad campaigns and their reports.
    AdsRead,
    /// Create ad campaigns (funded from the advertiser's prepayment).
    AdsWrite,
    /// Read escrowed trades' disputes with their text and evidence.
    DisputesRead,
    /// Resolve a dispute: release a trade to its buyer or refund it (moves value).
    DisputesResolve,
    /// Register game companies and record their purchases of TTC.
    GamesWrite,
    /// Read content platforms' creator reward pools.
    CreatorsRead,
    /// Register content platforms; fund creator reward pools from ad revenue and distribute
    /// them (moves value).
    CreatorsWrite,
}

impl Permission {
    /// Every permission, in the order of the documented table.
    pub const ALL: [Permission; 30] = [
        Permission::LedgerRead,
        Permission::LedgerFeed,
        Permission::LedgerWrite,
        Permission::PartnersRead,
        Permission::PartnersWrite,
        Permission::PartnersSettle,
        Permission::ExchangesRead,
        Permission::MembersRead,
        Permission::MembersUnlock,
        Permission::MembersLock,
        Permission::MerchantsRead,
        Permission::MerchantsWrite,
        Permission::SettlementsRead,
        Permission::SettlementsWrite,
        Permission::ReportsRead,
        Permission::VouchersRead,
        Permission::VouchersWrite,
        Permission::ConversionsRead,
        Permission::ConversionsWrite,
        Permission::SmsRead,
        Permission::OperatorsRead,
        Permission::OperatorsManage,
        Permission::AuditRead,
        Permission::AdsRead,
        Permission::AdsWrite,
        Permission::DisputesRead,
        Permission::DisputesResolve,
        Permission::GamesWrite,
        Permission::CreatorsRead,
        Permission::CreatorsWrite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::LedgerRead => "ledger.read",
            Permission::LedgerFeed => "ledger.feed",
            Permission::LedgerWrite => "ledger.write",
            Permission::PartnersRead => "partners.read",
            Permission::PartnersWrite => "partners.write",
            Permission::PartnersSettle => "partners.settle",
            Permission::ExchangesRead => "exchanges.read",
            Permission::MembersRead => "members.read",
            Permission::MembersUnlock => "members.unlock",
            Permission::MembersLock => "members.lock",
            Permission::MerchantsRead => "merchants.read",
            Permission::MerchantsWrite => "merchants.write",
            Permission::SettlementsRead => "settlements.read",
            Permission::SettlementsWrite => "settlements.write",
            Permission::ReportsRead => "reports.read",
            Permission::VouchersRead => "vouchers.read",
            Permission::VouchersWrite => "vouchers.write",
            Permission::ConversionsRead => "conversions.read",
            Permission::ConversionsWrite => "conversions.write",
            Permission::SmsRead => "sms.read",
            Permission::OperatorsRead => "operators.read",
            Permission::OperatorsManage => "operators.manage",
            Permission::AuditRead => "audit.read",
            Permission::AdsRead => "ads.read",
            Permission::AdsWrite => "ads.write",
            Permission::DisputesRead => "disputes.read",
            Permission::DisputesResolve => "disputes.resolve",
            Permission::GamesWrite => "games.write",
            Permission::CreatorsRead => "creators.read",
            Permission::CreatorsWrite => "creators.write",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permissions(u32);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);

    pub fn all() -> Permissions {
        Permissions::of(&Permission::ALL)
    }

    pub fn of(permissions: &[Permission]) -> Permissions {
        Permissions(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn is_subset_of(self, other: Permissions) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn without(self, permission: Permission) -> Permissions {
        Permissions(self.0 & !permission.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }

    /// The names, separated by single spaces (how `api_keys` stores them).
    pub fn names(self) -> String {
        self.iter()
            .map(Permission::name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses names separated by whitespace; `None` names the first unknown one.
    pub fn parse_names(text: &str) -> Result<Permissions, String> {
        let mut permissions = Vec::new();
        for name in text.split_whitespace() {
            permissions.push(Permission::parse(name).ok_or_else(|| name.to_string())?);
        }
        Ok(Permissions::of(&permissions))
    }
}

/// An operator's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs the platform: partners, merchants, vouchers, members' unlocks, operators.
    Operator,
    /// Money: partners' payments, settlements, reports.
    Finance,
    /// Members' problems: unlocks, the SMS outbox, reading what members see.
    Support,
    /// Reads everything, changes nothing; reads the audit log.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Finance, Role::Support, Role::Auditor];

    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Finance => "finance",
            Role::Support => "support",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    /// The role's permissions: the documented table.
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        match self {
            Role::Operator => Permissions::of(&[
                LedgerRead,
                LedgerFeed,
                PartnersRead,
                PartnersWrite,
                ExchangesRead,
                MembersRead,
                MembersUnlock,
                MembersLock,
                MerchantsRead,
                MerchantsWrite,
                SettlementsRead,
                ReportsRead,
                VouchersRead,
                VouchersWrite,
                ConversionsRead,
                ConversionsWrite,
                SmsRead,
                OperatorsRead,
                OperatorsManage,
                AuditRead,
                AdsRead,
                AdsWrite,
                DisputesRead,
                DisputesResolve,
                GamesWrite,
                CreatorsRead,
                CreatorsWrite,
            ]),
            Role::Finance => Permissions::of(&[
                LedgerRead,
                PartnersRead,
                PartnersSettle,
                ExchangesRead,
                MerchantsRead,
                SettlementsRead,
                SettlementsWrite,
                ReportsRead,
                VouchersRead,
                ConversionsRead,
                AdsRead,
                DisputesRead,
                CreatorsRead,
                CreatorsWrite,
            ]),
            Role::Support => Permissions::of(&[
                PartnersRead,
                ExchangesRead,
                MembersRead,
                MembersUnlock,
                MembersLock,
                MerchantsRead,
                VouchersRead,
                SmsRead,
                DisputesRead,
                CreatorsRead,
            ]),
            Role::Auditor => Permissions::of(&[
                LedgerRead,
                LedgerFeed,
                PartnersRead,
                ExchangesRead,
                MembersRead,
                MerchantsRead,
                SettlementsRead,
                ReportsRead,
                VouchersRead,
                ConversionsRead,
                OperatorsRead,
                AuditRead,
                AdsRead,
                DisputesRead,
                CreatorsRead,
            ]),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.name()), Some(permission));
        }
        let all = Permissions::all();
        assert_eq!(Permissions::parse_names(&all.names()), Ok(all));
        assert_eq!(all.iter().count(), Permission::ALL.len());
        assert_eq!(
            Permissions::parse_names("ledger.read nope"),
            Err("nope".into())
        );
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
    }

    #[test]
    fn no_role_writes_the_raw_ledger_and_only_auditors_and_operators_read_the_trail() {
        for role in Role::ALL {
            assert!(
                !role.permissions().contains(Permission::LedgerWrite),
                "{role}"
            );
        }
        let readers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|role| role.permissions().contains(Permission::AuditRead))
            .collect();
        assert_eq!(readers, [Role::Operator, Role::Auditor]);
        // The auditor changes nothing: it holds no permission but reads (the block feed is
        // a read of the whole log).
        for permission in Role::Auditor.permissions().iter() {
            let name = permission.name();
            assert!(
                name.ends_with(".read") || name == "ledger.feed",
                "{permission}"
            );
        }
    }
}
