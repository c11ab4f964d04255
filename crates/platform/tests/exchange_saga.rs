//! The exchange saga (MV-2, TT-11) end to end through the public platform API, against a
//! scripted in-process partner: a lost answer, a lost request, a refusal, a refused credit,
//! a crash between credit and record, an abandoned request, idempotency, the credit line and
//! limits under concurrency, and a restart while the partner is down.
//!
//! Every case checks both sides of the money: the member's MVP, the partner's mileage and
//! debited references, and the partner's issuance account, whose `debits_posted` must equal
//! the MVP issued for that partner.

mod support;

use platform::error::Entity;
use platform::exchange::ExchangeError;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ledger::types::{
    Account, AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId,
};
use platform::domain::{ExchangeRow, ExchangeStatus};
use platform::exchange::ExchangeRequest;
use platform::partners::NewPartner;
use platform::{PlatformConfig, PlatformError};
use ports::gateway::{
    AuthorizationRequest, BoxFuture, CodeRedemption, DebitOutcome, DebitRequest, DebitStatus,
    PartnerCallError, PartnerEndpoint, PartnerGateway, ProvenMembership, Refusal,
};
use store::memory::MemoryStore;
use support::eventually;

const SECRET: &str = "scripted-partner-secret-0123456789";
const PARTNER_URL: &str = "http://partner.invalid";
/// Every membership at the scripted partner starts with this much mileage.
const START_MILEAGE: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------
// The scripted partner
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Call {
    Balance,
    Debit,
    Cancel,
    Status,
}

/// What the script makes of the next call of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The partner applies the call, but its answer is lost: a timeout.
    ApplyThenTimeout,
    /// The request is lost before the partner: a timeout, nothing applied.
    TimeoutUnapplied,
    /// The partner answers with this HTTP status and applies nothing.
    StatusUnapplied(u16),
}

/// The partner's record of one reference.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Debited {
        member_ref: String,
        mileage: u64,
    },
    /// Cancelled: `reversed` is the mileage given back (0 for a tombstone, a cancel that came
    /// before any debit).
    Cancelled {
        reversed: u64,
    },
}

#[derive(Default)]
struct Books {
    /// (partner key, member ref) → mileage. Memberships open on first use, except refs
    /// starting with `ghost`, which the partner does not know.
    balances: HashMap<(String, String), u64>,
    /// (partner key, reference) → entry.
    references: HashMap<(String, String), Entry>,
}

impl Books {
    fn account(&mut self, partner: &str, member_ref: &str) -> Option<&mut u64> {
        if member_ref.starts_with("ghost") {
            return None;
        }
        Some(
            self.balances
                .entry((partner.to_string(), member_ref.to_string()))
                .or_insert(START_MILEAGE),
        )
    }
}

/// An in-memory partner that keeps the protocol's promises (a reference is debited at most
/// once; a cancel reverses a debit or leaves a tombstone that refuses a later debit) and
/// misbehaves on the network exactly as its script says.
#[derive(Default)]
struct ScriptedPartner {
    books: Mutex<Books>,
    calls: Mutex<HashMap<Call, u64>>,
    scripts: Mutex<HashMap<Call, VecDeque<Fault>>>,
    /// Calls of these kinds answer 503 (once their script is spent): the partner is down.
    down: Mutex<HashSet<Call>>,
    /// Every debit waits this long first, so concurrent requests overlap.
    debit_delay_ms: AtomicU64,
    /// Codes granted at sign-in and not yet redeemed: code → (challenge, redirect URI,
    /// member ref).
    grants: Mutex<HashMap<String, (String, String, String)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ScriptedPartner {
    /// The member signs in at the partner as the authorize URL's `login_hint`: answers the
    /// code and the state the partner's redirect would carry.
    fn sign_in(&self, authorize_url: &str) -> (String, String) {
        let url = reqwest::Url::parse(authorize_url).expect("an authorize URL");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let code = platform::chart::new_id().to_string();
        let grant = (
            query["code_challenge"].clone(),
            query["redirect_uri"].clone(),
            query["login_hint"].clone(),
        );
        lock(&self.grants).insert(code.clone(), grant);
        (code, query["state"].clone())
    }

    fn script(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.scripts).entry(call).or_default().extend(faults);
    }

    fn set_down(&self, calls: &[Call], down: bool) {
        let mut set = lock(&self.down);
        for call in calls {
            if down {
                set.insert(*call);
            } else {
                set.remove(call);
            }
        }
    }

    fn calls(&self, call: Call) -> u64 {
        lock(&self.calls).get(&call).copied().unwrap_or(0)
    }

    fn mileage(&self, partner_id: u128, member_ref: &str) -> u64 {
        lock(&self.books)
            .account(&partner_id.to_string(), member_ref)
            .map_or(0, |balance| *balance)
    }

    fn entry(&self, partner_id: u128, reference: &str) -> Option<Entry> {
        lock(&self.books)
            .references
            .get(&(partner_id.to_string(), reference.to_string()))
            .cloned()
    }

    /// References of this partner that stand debited, sorted.
    fn debited_references(&self, partner_id: u128) -> Vec<String> {
        let key = partner_id.to_string();
        let mut references: Vec<String> = lock(&self.books)
            .references
            .iter()
            .filter(|((partner, _), entry)| {
                *partner == key && matches!(entry, Entry::Debited { .. })
            })
            .map(|((_, reference), _)| reference.clone())
            .collect();
        references.sort();
        references
    }

    /// Debits a reference as if a debit request had arrived (from a build that crashed
    /// before it heard the answer); not counted as a call.
    fn debit_directly(&self, partner_id: u128, member_ref: &str, reference: &str, mileage: u64) {
        let mut books = lock(&self.books);
        let partner = partner_id.to_string();
        let balance = books.account(&partner, member_ref).expect("a known member");
        *balance -= mileage;
        let entry = Entry::Debited {
            member_ref: member_ref.to_string(),
            mileage,
        };
        books
            .references
            .insert((partner, reference.to_string()), entry);
    }

    /// Mileage that stands debited at this partner.
    fn debited_mileage(&self, partner_id: u128) -> u64 {
        let key = partner_id.to_string();
        lock(&self.books)
            .references
            .iter()
            .filter(|((partner, _), _)| *partner == key)
            .map(|(_, entry)| match entry {
                Entry::Debited { mileage, .. } => *mileage,
                Entry::Cancelled { .. } => 0,
            })
            .sum()
    }

    /// Counts the call, checks the caller's credentials and takes the script's next fault.
    fn begin(
        &self,
        call: Call,
        endpoint: &PartnerEndpoint,
    ) -> Result<Option<Fault>, PartnerCallError> {
        *lock(&self.calls).entry(call).or_default() += 1;
        if endpoint.secret != SECRET.as_bytes() || endpoint.api_base_url != PARTNER_URL {
            return Err(PartnerCallError::BadSignature);
        }
        let fault = lock(&self.scripts)
            .get_mut(&call)
            .and_then(VecDeque::pop_front);
        if fault.is_none() && lock(&self.down).contains(&call) {
            return Ok(Some(Fault::StatusUnapplied(503)));
        }
        Ok(fault)
    }

    /// Applies (or not) as the fault says, and answers (or not).
    fn answer<T>(
        fault: Option<Fault>,
        apply: impl FnOnce() -> Result<T, PartnerCallError>,
    ) -> Result<T, PartnerCallError> {
        match fault {
            None => apply(),
            Some(Fault::ApplyThenTimeout) => {
                let _ = apply();
                Err(PartnerCallError::Timeout)
            }
            Some(Fault::TimeoutUnapplied) => Err(PartnerCallError::Timeout),
            Some(Fault::StatusUnapplied(code)) => Err(PartnerCallError::Status(code)),
        }
    }

    fn apply_debit(&self, partner: &str, request: &DebitRequest) -> DebitOutcome {
        let mut books = lock(&self.books);
        let key = (partner.to_string(), request.reference.clone());
        match books.references.get(&key) {
            Some(Entry::Cancelled { .. }) => {
                return DebitOutcome::Refused(Refusal::ReferenceCancelled);
            }
            Some(Entry::Debited {
                member_ref,
                mileage,
            }) => {
                if *member_ref != request.member_ref || *mileage != request.mileage {
                    return DebitOutcome::Refused(Refusal::Other("reference_reused".into()));
                }
                // A repeated delivery: the same answer, no second debit.
                let member_ref = member_ref.clone();
                let balance_after = *books.account(partner, &member_ref).expect("known member");
                return DebitOutcome::Debited { balance_after };
            }
            None => {}
        }
        let Some(balance) = books.account(partner, &request.member_ref) else {
            return DebitOutcome::Refused(Refusal::UnknownMember);
        };
        if *balance < request.mileage {
            // A refusal is not recorded: only a cancel makes the reference dead.
            return DebitOutcome::Refused(Refusal::InsufficientMileage);
        }
        *balance -= request.mileage;
        let balance_after = *balance;
        books.references.insert(
            key,
            Entry::Debited {
                member_ref: request.member_ref.clone(),
                mileage: request.mileage,
            },
        );
        DebitOutcome::Debited { balance_after }
    }

    fn apply_cancel(&self, partner: &str, reference: &str) {
        let mut books = lock(&self.books);
        let key = (partner.to_string(), reference.to_string());
        match books.references.get(&key).cloned() {
            Some(Entry::Cancelled { .. }) => {}
            Some(Entry::Debited {
                member_ref,
                mileage,
            }) => {
                *books.account(partner, &member_ref).expect("known member") += mileage;
                books
                    .references
                    .insert(key, Entry::Cancelled { reversed: mileage });
            }
            None => {
                books
                    .references
                    .insert(key, Entry::Cancelled { reversed: 0 });
            }
        }
    }

    fn apply_status(&self, partner: &str, reference: &str) -> DebitStatus {
        let books = lock(&self.books);
        match books
            .references
            .get(&(partner.to_string(), reference.to_string()))
        {
            None => DebitStatus::NotFound,
            Some(Entry::Cancelled { .. }) => DebitStatus::Cancelled,
            Some(Entry::Debited {
                member_ref,
                mileage,
            }) => DebitStatus::Debited {
                member_ref: member_ref.clone(),
                mileage: *mileage,
            },
        }
    }
}

impl PartnerGateway for ScriptedPartner {
    fn authorize_url(
        &self,
        partner: &PartnerEndpoint,
        request: &AuthorizationRequest,
    ) -> Result<String, PartnerCallError> {
        gateways::partner::authorize_url(partner, request)
    }

    fn redeem_code<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        redemption: &'a CodeRedemption,
    ) -> BoxFuture<'a, Result<ProvenMembership, PartnerCallError>> {
        Box::pin(async move {
            let grant = lock(&self.grants).remove(&redemption.code);
            let refused = PartnerCallError::Refused(Refusal::InvalidGrant);
            let (challenge, redirect_uri, member_ref) = grant.ok_or(refused.clone())?;
            let verified = ports::pkce::verifier_matches(&redemption.code_verifier, &challenge);
            if !verified || redirect_uri != redemption.redirect_uri {
                return Err(refused);
            }
            let mileage = lock(&self.books)
                .account(&partner.partner_key, &member_ref)
                .map(|balance| *balance);
            Ok(ProvenMembership {
                member_ref,
                mileage,
            })
        })
    }

    fn balance<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        member_ref: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>> {
        Box::pin(async move {
            let fault = self.begin(Call::Balance, partner)?;
            Self::answer(fault, || {
                lock(&self.books)
                    .account(&partner.partner_key, member_ref)
                    .map(|balance| *balance)
                    .ok_or(PartnerCallError::Refused(Refusal::UnknownMember))
            })
        })
    }

    fn debit<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        request: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>> {
        Box::pin(async move {
            let delay = self.debit_delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let fault = self.begin(Call::Debit, partner)?;
            Self::answer(
                fault,
                || Ok(self.apply_debit(&partner.partner_key, request)),
            )
        })
    }

    fn cancel<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>> {
        Box::pin(async move {
            let fault = self.begin(Call::Cancel, partner)?;
            Self::answer(fault, || {
                self.apply_cancel(&partner.partner_key, reference);
                Ok(())
            })
        })
    }

    fn status<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>> {
        Box::pin(async move {
            let fault = self.begin(Call::Status, partner)?;
            Self::answer(fault, || {
                Ok(self.apply_status(&partner.partner_key, reference))
            })
        })
    }
}

// ---------------------------------------------------------------------------------------
// The world: ledger, records, partner, SMS outbox and the platform over them
// ---------------------------------------------------------------------------------------

fn config() -> PlatformConfig {
    PlatformConfig {
        resolver_interval_ms: 20,
        resolver_backoff_base_ms: 10,
        resolver_backoff_max_ms: 100,
        ..PlatformConfig::default()
    }
}

/// The shared world on a ledger in memory, with the scripted partner.
struct World {
    base: support::World,
    partner: Arc<ScriptedPartner>,
}

impl Deref for World {
    type Target = support::World;
    fn deref(&self) -> &support::World {
        &self.base
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut support::World {
        &mut self.base
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failing test must not leave the ledger's writer stuck behind a closed gate.
        self.base.open_record_gate();
    }
}

impl World {
    async fn new() -> World {
        let partner = Arc::new(ScriptedPartner::default());
        let store = MemoryStore::new();
        let parts = support::Parts {
            open_store: Box::new(move || Box::new(store.clone())),
            partner: partner.clone(),
            config: config(),
        };
        World {
            base: support::World::new(parts).await,
            partner,
        }
    }

    /// The state a restart would load: only what reached the store.
    /// Every exchange as its table holds it (what a crash would keep).
    async fn durable_exchanges(&self) -> Vec<ExchangeRow> {
        let mut exchanges = Vec::new();
        for status in ExchangeStatus::ALL {
            let page = self
                .ledger
                .tables(move |read| {
                    store::tables::exchanges::exchanges_page(read, Some(status), None, 1000)
                })
                .await
                .expect("read the exchanges");
            exchanges.extend(page);
        }
        exchanges
    }

    async fn new_partner(&self, change: impl FnOnce(&mut NewPartner)) -> u128 {
        let mut new = NewPartner {
            name: "Scripted Air".into(),
            rate_num: 1,
            rate_den: 2,
            api_base_url: PARTNER_URL.into(),
            secret: SECRET.into(),
            ..NewPartner::default()
        };
        change(&mut new);
        self.platform().create_partner(new).await.expect("partner")
    }

    /// A link proven by the scripted partner.
    async fn link(&self, member_id: u128, partner_id: u128, member_ref: &str) -> u128 {
        let partner = self.partner.clone();
        let sign_in = |url: String| async move { partner.sign_in(&url) };
        let proven =
            support::link_with_proof(self.platform(), member_id, partner_id, member_ref, sign_in)
                .await
                .expect("link");
        let mileage = self.partner.mileage(partner_id, member_ref);
        assert_eq!(proven.mileage, Some(mileage));
        proven.link.id
    }

    async fn exchange(
        &self,
        member_id: u128,
        link_id: u128,
        mileage: u64,
    ) -> Result<ExchangeRow, PlatformError> {
        self.platform()
            .exchange(request(member_id, link_id, mileage, None))
            .await
    }

    /// The exchange once it is final (the resolver finishes it in the background).
    async fn settled(&self, member_id: u128, id: u128) -> ExchangeRow {
        eventually("the exchange to settle", || async {
            let record = self
                .platform()
                .member_exchange(member_id, id)
                .await
                .expect("exchange");
            record.status.is_final().then_some(record)
        })
        .await
    }

    async fn mvp(&self, member_id: u128) -> u64 {
        let balance = self.platform().balance(member_id).await.expect("balance");
        assert_eq!(balance.pending, 0);
        balance.available
    }

    /// Checks the partner's issuance account against the completed exchanges and the
    /// platform's figures: the receivable is exactly the MVP issued, counted once.
    async fn check_issuance(&self, partner_id: u128, expected_mvp: u64) {
        let accounts = self
            .ledger
            .lookup_accounts(vec![AccountId(partner_id)])
            .await
            .expect("lookup");
        let issuance = accounts[0];
        assert_eq!(
            issuance.debits_posted,
            u128::from(expected_mvp),
            "issued MVP"
        );
        assert_eq!(issuance.credits_posted, 0);
        assert_eq!(issuance.debits_pending + issuance.credits_pending, 0);
        let completed: u128 = self
            .platform()
            .exchanges(Some(ExchangeStatus::Completed), 1000)
            .await
            .expect("exchanges")
            .iter()
            .filter(|e| e.partner_id == partner_id)
            .map(|e| u128::from(e.mvp))
            .sum();
        assert_eq!(completed, u128::from(expected_mvp), "completed exchanges");
        let figures = self
            .platform()
            .partner(partner_id)
            .await
            .expect("partner")
            .figures;
        assert_eq!(figures.issued_mvp, u128::from(expected_mvp));
        assert_eq!(figures.reserved_mvp, 0, "nothing left reserved");
    }

    /// The credit transfers of an exchange in the ledger (its id is the exchange id).
    async fn credits(&self, exchange_id: u128) -> Vec<Transfer> {
        self.ledger
            .lookup_transfers(vec![TransferId(exchange_id)])
            .await
            .expect("lookup")
    }

    /// Closes a member's wallet in the ledger: a pending `closing_credit` transfer of 1 MVP
    /// from an account of our own. The wallet then refuses every credit.
    async fn close_wallet(&self, member: u128) {
        let other = platform::chart::new_id();
        let created = self
            .ledger
            .create_accounts(vec![Account {
                id: AccountId(other),
                ledger: 1,
                code: 1,
                ..Account::default()
            }])
            .await
            .expect("account");
        assert!(created[0].is_ok(), "{created:?}");
        let closing = Transfer {
            id: TransferId(platform::chart::new_id()),
            debit_account_id: AccountId(other),
            credit_account_id: AccountId(member),
            amount: 1,
            ledger: 1,
            code: 99,
            flags: TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT,
            ..Transfer::default()
        };
        let closed = self
            .ledger
            .create_transfers(vec![closing])
            .await
            .expect("closing");
        assert_eq!(closed, [CreateTransferResult::Ok]);
    }

    fn endpoint(&self, partner_id: u128) -> PartnerEndpoint {
        PartnerEndpoint {
            partner_key: partner_id.to_string(),
            api_base_url: PARTNER_URL.into(),
            secret: SECRET.as_bytes().to_vec(),
        }
    }
}

fn request(member_id: u128, link_id: u128, mileage: u64, key: Option<&str>) -> ExchangeRequest {
    ExchangeRequest {
        member_id,
        link_id,
        mileage,
        idempotency_key: key.map(str::to_string),
    }
}

/// A member with one linked membership at a fresh partner (rate 1 MVP per 2 mileage).
async fn one_member_world() -> (World, u128, u128, u128) {
    let mut world = World::new().await;
    let member = world.member().await.id;
    let partner = world.new_partner(|_| {}).await;
    let link = world.link(member, partner, "M-1").await;
    (world, member, partner, link)
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// 1. The partner debits but its answer is lost: the request ends `Requested`; the resolver's
///    status query finds the debit and credits once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_whose_answer_was_lost_is_found_by_status_and_credited_once() {
    let (world, member, partner, link) = one_member_world().await;
    world.partner.script(Call::Debit, [Fault::ApplyThenTimeout]);

    let requested = world.exchange(member, link, 1000).await.expect("exchange");
    assert_eq!(requested.status, ExchangeStatus::Requested);
    assert_eq!(requested.mvp, 500);

    let done = world.settled(member, requested.id).await;
    assert_eq!(done.status, ExchangeStatus::Completed);
    assert_eq!(done.failure, None);
    assert_eq!(world.mvp(member).await, 500);
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE - 1000);
    assert_eq!(
        world.partner.debited_references(partner),
        [platform::exchange::reference(requested.id)]
    );
    assert_eq!(world.partner.calls(Call::Debit), 1, "never debited again");
    assert!(world.partner.calls(Call::Status) >= 1);
    assert_eq!(world.partner.calls(Call::Cancel), 0);
    world.check_issuance(partner, 500).await;
    let credits = world.credits(requested.id).await;
    assert_eq!(credits.len(), 1);
    assert_eq!(credits[0].amount, 500);
    assert_eq!(credits[0].credit_account_id, AccountId(member));
}

/// 2. The debit never reaches the partner: the resolver finds nothing, cancels the reference
///    (a tombstone) and fails the exchange; the late debit is then refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_lost_before_the_partner_is_cancelled_and_fails() {
    let (world, member, partner, link) = one_member_world().await;
    world.partner.script(Call::Debit, [Fault::TimeoutUnapplied]);

    let requested = world.exchange(member, link, 1000).await.expect("exchange");
    assert_eq!(requested.status, ExchangeStatus::Requested);

    let done = world.settled(member, requested.id).await;
    assert_eq!(done.status, ExchangeStatus::Failed);
    assert_eq!(done.failure.as_deref(), Some("partner_unreachable"));
    let reference = platform::exchange::reference(requested.id);
    assert_eq!(
        world.partner.entry(partner, &reference),
        Some(Entry::Cancelled { reversed: 0 }),
        "a tombstone"
    );
    assert_eq!(world.partner.calls(Call::Cancel), 1);

    // The lost debit arrives late: the partner refuses it.
    let late = DebitRequest {
        reference: reference.clone(),
        member_ref: "M-1".into(),
        mileage: 1000,
    };
    let answer = world
        .partner
        .debit(&world.endpoint(partner), &late)
        .await
        .expect("an answer");
    assert_eq!(answer, DebitOutcome::Refused(Refusal::ReferenceCancelled));

    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE);
    assert!(world.partner.debited_references(partner).is_empty());
    assert_eq!(world.mvp(member).await, 0);
    world.check_issuance(partner, 0).await;
    assert!(world.credits(requested.id).await.is_empty());
}

/// 3. A definitive refusal: the member sees the error at once, the reference is dead at the
///    partner, and nothing moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_mileage_fails_at_once_and_kills_the_reference() {
    let (world, member, partner, link) = one_member_world().await;

    let refused = world.exchange(member, link, START_MILEAGE + 2).await;
    let Err(PlatformError::Exchange(ExchangeError::InsufficientMileage { exchange_id })) = refused
    else {
        panic!("expected InsufficientMileage, got {refused:?}");
    };
    let record = world
        .platform()
        .member_exchange(member, exchange_id)
        .await
        .expect("exchange");
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert_eq!(record.failure.as_deref(), Some("insufficient_mileage"));
    assert_eq!(
        world
            .partner
            .entry(partner, &platform::exchange::reference(record.id)),
        Some(Entry::Cancelled { reversed: 0 }),
        "the refused reference was cancelled"
    );
    assert_eq!(world.partner.calls(Call::Debit), 1);
    assert_eq!(
        world.partner.calls(Call::Status),
        0,
        "nothing left to resolve"
    );
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE);
    assert!(world.partner.debited_references(partner).is_empty());
    assert_eq!(world.mvp(member).await, 0);
    world.check_issuance(partner, 0).await;
    assert!(world.credits(exchange_id).await.is_empty());
}

/// 3b. The partner refuses, and the cancel that kills the reference fails at first: the
///     member still gets the refusal at once, and the resolver retries the cancel until the
///     reference is dead at the partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reference_is_cancelled_even_when_the_first_cancel_fails() {
    let (world, member, partner, link) = one_member_world().await;
    world.partner.script(
        Call::Cancel,
        [Fault::StatusUnapplied(503), Fault::TimeoutUnapplied],
    );

    let refused = world.exchange(member, link, START_MILEAGE + 2).await;
    let Err(PlatformError::Exchange(ExchangeError::InsufficientMileage { exchange_id })) = refused
    else {
        panic!("expected InsufficientMileage, got {refused:?}");
    };
    let record = world
        .platform()
        .member_exchange(member, exchange_id)
        .await
        .expect("exchange");
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert!(record.cancel_pending, "the cancel is owed");
    let reference = platform::exchange::reference(record.id);
    eventually("the owed cancel", || async {
        let dead =
            world.partner.entry(partner, &reference) == Some(Entry::Cancelled { reversed: 0 });
        let record = world
            .platform()
            .member_exchange(member, exchange_id)
            .await
            .ok()?;
        (dead && !record.cancel_pending).then_some(())
    })
    .await;
    assert_eq!(world.partner.calls(Call::Cancel), 3);
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE);
    assert_eq!(world.mvp(member).await, 0);
    world.check_issuance(partner, 0).await;
}

/// 4. The partner debits but the ledger refuses the credit (the wallet is closed): the
///    platform gives the mileage back and the exchange is `Reversed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credit_is_reversed_at_the_partner() {
    let (world, member, partner, link) = one_member_world().await;
    world.close_wallet(member).await;

    let reversed = world.exchange(member, link, 1000).await.expect("exchange");
    assert_eq!(reversed.status, ExchangeStatus::Reversed);
    assert_eq!(
        reversed.failure.as_deref(),
        Some("credit_refused:credit_account_already_closed")
    );
    assert_eq!(
        world
            .partner
            .entry(partner, &platform::exchange::reference(reversed.id)),
        Some(Entry::Cancelled { reversed: 1000 })
    );
    assert_eq!(
        world.partner.mileage(partner, "M-1"),
        START_MILEAGE,
        "restored"
    );
    assert!(world.partner.debited_references(partner).is_empty());
    assert_eq!(world.partner.calls(Call::Debit), 1);
    assert_eq!(world.partner.calls(Call::Cancel), 1);
    assert_eq!(world.mvp(member).await, 0);
    world.check_issuance(partner, 0).await;
    assert!(world.credits(reversed.id).await.is_empty());
}

/// 5. The platform crashes (its store dies) after the partner debited and before the
///    credit's commit, which holds the credit and the `Completed` record together: after a
///    restart neither is there, the resolver finds the debit by a status query, and the
///    member is credited once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_credit_completes_once_after_restart() {
    let (mut world, member, partner, link) = one_member_world().await;
    // Everything so far is durable: the next append with records writes the `Requested`
    // record, the one after it (the credit with the `Completed` record) fails, and so does
    // every later one.
    let applied = world.record_appends();
    world.fail_record_appends_from(applied + 2);

    let answer = world.exchange(member, link, 1000).await;
    assert!(
        matches!(answer, Err(PlatformError::Unavailable(_))),
        "an outcome that is not durable must not be acknowledged: {answer:?}"
    );
    assert!(world.platform().failure().is_some(), "fail-stop");
    let durable = world.durable_exchanges().await;
    assert_eq!(durable.len(), 1);
    let exchange = durable[0].clone();
    assert_eq!(exchange.status, ExchangeStatus::Requested);
    assert_eq!(world.partner.calls(Call::Debit), 1);

    world.crash().await;
    assert!(
        world.credits(exchange.id).await.is_empty(),
        "no half-done credit"
    );
    world.open().await;
    assert_eq!(world.platform().failure(), None);

    let done = world.settled(member, exchange.id).await;
    assert_eq!(done.status, ExchangeStatus::Completed);
    assert!(
        world.partner.calls(Call::Status) >= 1,
        "resolved by a status query"
    );
    assert_eq!(world.partner.calls(Call::Debit), 1, "never debited again");
    assert_eq!(world.partner.calls(Call::Cancel), 0);
    assert_eq!(world.mvp(member).await, 500, "credited once");
    assert_eq!(world.credits(exchange.id).await.len(), 1);
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE - 1000);
    assert_eq!(
        world.partner.debited_references(partner),
        [platform::exchange::reference(exchange.id)]
    );
    world.check_issuance(partner, 500).await;
    let durable = world.durable_exchanges().await;
    assert_eq!(durable.len(), 1);
    assert_eq!(durable[0].status, ExchangeStatus::Completed);
}

/// 5b. The credit's commit is durable but its acknowledgement is lost (the store fails
///     after writing): after the restart the exchange is `Completed` as committed, credited
///     once, and never reversed at the partner, even though the wallet was closed since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_committed_before_a_crash_stays_completed_even_if_the_wallet_closed_since() {
    let (mut world, member, partner, link) = one_member_world().await;
    let applied = world.record_appends();
    world.fail_record_appends_from_at(applied + 2, store::memory::FaultPoint::AfterWrite);
    let answer = world.exchange(member, link, 1000).await;
    assert!(
        matches!(answer, Err(PlatformError::Unavailable(_))),
        "{answer:?}"
    );
    let exchange = world
        .durable_exchanges()
        .await
        .into_iter()
        .next()
        .expect("exchange");
    assert_eq!(exchange.status, ExchangeStatus::Completed);
    world.crash().await;
    world.close_wallet(member).await;
    world.open().await;
    let done = world.settled(member, exchange.id).await;
    assert_eq!(done.status, ExchangeStatus::Completed, "{done:?}");
    assert_eq!(world.partner.calls(Call::Cancel), 0, "never reversed");
    assert_eq!(world.partner.calls(Call::Status), 0, "nothing to resolve");
    assert_eq!(
        world.partner.debited_references(partner),
        [platform::exchange::reference(exchange.id)]
    );
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE - 1000);
    assert_eq!(world.mvp(member).await, 500);
    assert_eq!(world.credits(exchange.id).await.len(), 1);
    world.check_issuance(partner, 500).await;
}

/// 6. The same Idempotency-Key and body, sequentially and by 10 concurrent requests, make
///    one exchange and one debit: one answer is fresh, the others are the stored answer
///    (replayed) or, while the first is in flight, `IdempotencyInFlight`; the same key
///    with another body is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_one_exchange() {
    let (world, member, partner, link) = one_member_world().await;
    // Slow debits keep the first request in flight while the others arrive.
    world.partner.debit_delay_ms.store(100, Ordering::Relaxed);
    let platform = world.platform().clone();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let platform = platform.clone();
            tokio::spawn(async move {
                platform
                    .exchange_once(request(member, link, 1000, Some("key-1")))
                    .await
            })
        })
        .collect();
    let (mut ids, mut fresh) = (HashSet::new(), 0);
    for task in tasks {
        let answered = match task.await.expect("task") {
            Err(PlatformError::IdempotencyInFlight) => continue,
            answer => answer.expect("exchange"),
        };
        let record = answered.value;
        assert!(
            matches!(
                record.status,
                ExchangeStatus::Requested | ExchangeStatus::Completed
            ),
            "{record:?} partner calls {:?}",
            lock(&world.partner.calls)
        );
        fresh += usize::from(!answered.replayed);
        ids.insert(record.id);
    }
    assert_eq!(
        (ids.len(), fresh),
        (1, 1),
        "one exchange, answered fresh once"
    );
    let id = *ids.iter().next().expect("id");
    let done = world.settled(member, id).await;
    assert_eq!(done.status, ExchangeStatus::Completed);

    let again = platform
        .exchange_once(request(member, link, 1000, Some("key-1")))
        .await
        .expect("repeat");
    assert!(again.replayed, "a retry answers the stored exchange");
    let again = again.value;
    assert_eq!((again.id, again.status), (id, ExchangeStatus::Completed));
    let conflict = platform
        .exchange(request(member, link, 2000, Some("key-1")))
        .await;
    assert_eq!(conflict, Err(PlatformError::IdempotencyConflict));

    assert_eq!(platform.exchanges(None, 100).await.expect("list").len(), 1);
    assert_eq!(world.partner.calls(Call::Debit), 1, "one debit");
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE - 1000);
    assert_eq!(world.partner.debited_references(partner).len(), 1);
    assert_eq!(world.mvp(member).await, 500);
    world.check_issuance(partner, 500).await;
}

/// 6b. While the first request under a key waits for the partner, a second one under the
///     same key is refused at once (409 on the wire) rather than queued; once the key
///     expires it names a new exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_flight_is_refused_and_an_expired_key_names_a_new_exchange() {
    let (world, member, _partner, link) = one_member_world().await;
    world.partner.debit_delay_ms.store(2_000, Ordering::Relaxed);
    let platform = world.platform().clone();
    let first = {
        let platform = platform.clone();
        tokio::spawn(async move {
            platform
                .exchange_once(request(member, link, 1000, Some("key-2")))
                .await
        })
    };
    // The first request is in flight once its row exists: it then waits for the debit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while platform.exchanges(None, 10).await.expect("list").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the exchange never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = platform
        .exchange_once(request(member, link, 1000, Some("key-2")))
        .await;
    assert_eq!(second, Err(PlatformError::IdempotencyInFlight));
    let first = first.await.expect("task").expect("first exchange");
    assert!(!first.replayed);
    world.partner.debit_delay_ms.store(0, Ordering::Relaxed);
    world.settled(member, first.value.id).await;

    // Not expired yet: a sweep of keys older than a day leaves it.
    platform.expire_idempotency_keys().await.expect("sweep");
    let retry = platform
        .exchange_once(request(member, link, 1000, Some("key-2")))
        .await
        .expect("retry");
    assert!(retry.replayed);
    assert_eq!(retry.value.id, first.value.id);
    // Aged past its time to live, the key is cleared and names a new exchange.
    let later_s = ports::time::now_s() + platform::idempotency::IDEMPOTENCY_KEY_TTL_S + 1;
    let aged = later_s - platform::idempotency::IDEMPOTENCY_KEY_TTL_S;
    platform
        .expire_idempotency_keys_before(aged)
        .await
        .expect("sweep");
    let new = platform
        .exchange_once(request(member, link, 1000, Some("key-2")))
        .await
        .expect("a new exchange");
    assert!(!new.replayed);
    assert_ne!(new.value.id, first.value.id);
}

/// 7. Credit line and limits are reserved under the exchange context (its lock, and one
///    request per member reading its usage, queued ones included): 25 concurrent exchanges
///    against a credit line of 10 of them pass exactly 10; a daily limit of 3 passes 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credit_line_and_the_daily_limit_hold_under_concurrency() {
    let mut world = World::new().await;
    let members = [
        world.member().await.id,
        world.member().await.id,
        world.member().await.id,
    ];
    let lined = world
        .new_partner(|p| {
            p.name = "Lined Air".into();
            p.rate_num = 1;
            p.rate_den = 1;
            p.credit_line = Some(1000);
        })
        .await;
    let mut links = Vec::new();
    for (n, member) in members.iter().enumerate() {
        links.push(world.link(*member, lined, &format!("M-{n}")).await);
    }
    world.partner.debit_delay_ms.store(20, Ordering::Relaxed);
    let platform = world.platform().clone();
    let tasks: Vec<_> = (0..25)
        .map(|n| {
            let platform = platform.clone();
            let (member, link) = (members[n % 3], links[n % 3]);
            tokio::spawn(async move { platform.exchange(request(member, link, 100, None)).await })
        })
        .collect();
    let (mut completed, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(record) => {
                assert_eq!(record.status, ExchangeStatus::Completed);
                completed += 1;
            }
            Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((completed, refused), (10, 15));
    assert_eq!(
        world.partner.calls(Call::Debit),
        10,
        "refused ones never reach the partner"
    );
    assert_eq!(world.partner.debited_mileage(lined), 1000);
    assert_eq!(world.partner.debited_references(lined).len(), 10);
    let mut held = 0;
    for member in members {
        held += world.mvp(member).await;
    }
    assert_eq!(held, 1000);
    world.check_issuance(lined, 1000).await;
    assert_eq!(
        world.exchange(members[0], links[0], 100).await,
        Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded))
    );

    // A daily limit of 300 MVP per member: of 4 concurrent exchanges of 100, one is refused.
    let limited = world
        .new_partner(|p| {
            p.name = "Limited Air".into();
            p.rate_num = 1;
            p.rate_den = 1;
            p.daily_limit = Some(300);
        })
        .await;
    let link = world.link(members[0], limited, "L-0").await;
    let debits_before = world.partner.calls(Call::Debit);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let platform = platform.clone();
            tokio::spawn(async move {
                platform
                    .exchange(request(members[0], link, 100, None))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let passed = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(passed, 3, "{outcomes:?}");
    let over = PlatformError::Exchange(ExchangeError::LimitExceeded {
        period: "daily",
        limit: 300,
        used: 300,
    });
    assert!(outcomes.contains(&Err(over.clone())), "{outcomes:?}");
    assert_eq!(world.exchange(members[0], link, 100).await, Err(over));
    assert_eq!(world.partner.calls(Call::Debit) - debits_before, 3);
    assert_eq!(world.partner.debited_mileage(limited), 300);
    assert_eq!(world.partner.mileage(limited, "L-0"), START_MILEAGE - 300);
    world.check_issuance(limited, 300).await;
    world.check_issuance(lined, 1000).await;
}

/// 8. Exchanges left `Requested` while the partner is down survive a restart and all resolve
///    once the partner answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_exchanges_survive_a_restart_while_the_partner_is_down() {
    let (mut world, member, partner, link) = one_member_world().await;
    world.partner.set_down(&[Call::Status, Call::Cancel], true);
    world.partner.script(
        Call::Debit,
        [
            Fault::ApplyThenTimeout,
            Fault::TimeoutUnapplied,
            Fault::StatusUnapplied(503),
            Fault::ApplyThenTimeout,
        ],
    );
    let mut requested = Vec::new();
    for _ in 0..4 {
        let record = world.exchange(member, link, 1000).await.expect("exchange");
        assert_eq!(record.status, ExchangeStatus::Requested);
        requested.push(record);
    }
    // The resolver keeps asking and keeps getting 503.
    eventually("status queries while the partner is down", || async {
        (world.partner.calls(Call::Status) >= 8).then_some(())
    })
    .await;
    let open = world
        .platform()
        .exchanges(Some(ExchangeStatus::Requested), 100)
        .await
        .expect("list");
    assert_eq!(open.len(), 4);

    world.restart().await;
    // Still down for a while after the restart, then a few more 503s before it heals.
    let asked = world.partner.calls(Call::Status);
    eventually("status queries after the restart", || async {
        (world.partner.calls(Call::Status) >= asked + 4).then_some(())
    })
    .await;
    world
        .partner
        .script(Call::Status, [Fault::StatusUnapplied(503); 3]);
    world.partner.script(
        Call::Cancel,
        [Fault::StatusUnapplied(503), Fault::TimeoutUnapplied],
    );
    world.partner.set_down(&[Call::Status, Call::Cancel], false);

    let mut completed = 0;
    for record in &requested {
        let done = world.settled(member, record.id).await;
        let entry = world
            .partner
            .entry(partner, &platform::exchange::reference(record.id));
        match done.status {
            ExchangeStatus::Completed => {
                completed += 1;
                assert!(matches!(entry, Some(Entry::Debited { .. })));
            }
            ExchangeStatus::Failed => {
                assert_eq!(done.failure.as_deref(), Some("partner_unreachable"));
                assert_eq!(entry, Some(Entry::Cancelled { reversed: 0 }));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(completed, 2, "the two applied debits complete");
    let open = world
        .platform()
        .exchanges(Some(ExchangeStatus::Requested), 100)
        .await
        .expect("list");
    assert!(open.is_empty(), "nothing remains requested");
    assert!(
        world
            .durable_exchanges()
            .await
            .iter()
            .all(|e| e.status.is_final())
    );
    assert_eq!(world.partner.calls(Call::Debit), 4, "never debited again");
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE - 2000);
    assert_eq!(world.partner.debited_references(partner).len(), 2);
    assert_eq!(world.mvp(member).await, 1000);
    world.check_issuance(partner, 1000).await;
}

/// 9. A request abandoned while its `Requested` record is being written (the client hung
///    up) must not leave the exchange claimed forever: the resolver still finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_request_is_still_resolved() {
    let (world, member, partner, link) = one_member_world().await;
    world.close_record_gate();
    let platform = world.platform().clone();
    let task =
        tokio::spawn(async move { platform.exchange(request(member, link, 1000, None)).await });
    // The exchange is reserved in memory; its row waits behind the gate.
    eventually("the exchange to begin", || async {
        (world.appends_at_gate() == 1).then_some(())
    })
    .await;
    task.abort();
    let aborted = task.await;
    assert!(
        aborted.is_err_and(|e| e.is_cancelled()),
        "dropped while waiting"
    );
    world.open_record_gate();

    // The row was never acknowledged: it shows once the writer has committed it.
    let id = eventually("the exchange's row", || async {
        let list = world.platform().exchanges(None, 10).await.expect("list");
        assert!(list.len() <= 1, "{list:?}");
        list.first().map(|exchange| exchange.id)
    })
    .await;
    let done = world.settled(member, id).await;
    assert_eq!(done.status, ExchangeStatus::Failed);
    assert_eq!(done.failure.as_deref(), Some("partner_unreachable"));
    assert_eq!(
        world.partner.calls(Call::Debit),
        0,
        "the debit was never sent"
    );
    assert_eq!(
        world
            .partner
            .entry(partner, &platform::exchange::reference(done.id)),
        Some(Entry::Cancelled { reversed: 0 })
    );
    assert_eq!(world.partner.mileage(partner, "M-1"), START_MILEAGE);
    assert_eq!(world.mvp(member).await, 0);
    world.check_issuance(partner, 0).await;
}

/// Partner payments free the credit line: recorded once per bank reference, never above what
/// the partner owes, and read back from the ledger after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_payments_free_the_credit_line_exactly_once() {
    let mut world = World::new().await;
    let member = world.member().await.id;
    let lined = world
        .new_partner(|p| {
            p.name = "Paying Air".into();
            p.rate_num = 1;
            p.rate_den = 1;
            p.credit_line = Some(1000);
        })
        .await;
    let link = world.link(member, lined, "M-9").await;
    for _ in 0..10 {
        world
            .exchange(member, link, 100)
            .await
            .expect("within the line");
    }
    let full = world.exchange(member, link, 100).await;
    assert!(
        matches!(
            full,
            Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded))
        ),
        "{full:?}"
    );

    let platform = world.platform().clone();
    let too_much = platform.record_partner_payment(lined, "BANK-0", 1001).await;
    assert!(
        matches!(
            too_much,
            Err(PlatformError::Invalid {
                field: "amount",
                ..
            })
        ),
        "{too_much:?}"
    );
    // The refused reference stays refused, even for an amount that would fit: a bad
    // input, not an outage.
    let again = platform.record_partner_payment(lined, "BANK-0", 1).await;
    assert!(
        matches!(
            again,
            Err(PlatformError::Invalid {
                field: "reference",
                ..
            })
        ),
        "{again:?}"
    );
    let paid = platform
        .record_partner_payment(lined, "BANK-1", 600)
        .await
        .unwrap();
    assert_eq!(
        (paid.figures.paid_mvp, paid.figures.outstanding_mvp()),
        (600, 400)
    );
    let again = platform
        .record_partner_payment(lined, "BANK-1", 600)
        .await
        .unwrap();
    assert_eq!(
        again.figures.paid_mvp, 600,
        "the same payment moves value once"
    );
    let conflict = platform.record_partner_payment(lined, "BANK-1", 601).await;
    assert!(
        matches!(conflict, Err(PlatformError::IdempotencyConflict)),
        "{conflict:?}"
    );
    assert!(matches!(
        platform.record_partner_payment(lined, "", 1).await,
        Err(PlatformError::Invalid {
            field: "reference",
            ..
        })
    ));
    assert!(matches!(
        platform.record_partner_payment(7, "BANK-2", 1).await,
        Err(PlatformError::NotFound(Entity::Partner))
    ));
    let issuance = platform
        .ledger
        .lookup_accounts(vec![ledger::types::AccountId(lined)])
        .await
        .unwrap();
    assert_eq!(issuance[0].debits_posted - issuance[0].credits_posted, 400);

    // 600 freed: six more exchanges of 100 fit, the seventh does not.
    for _ in 0..6 {
        world
            .exchange(member, link, 100)
            .await
            .expect("freed by the payment");
    }
    let full = world.exchange(member, link, 100).await;
    assert!(
        matches!(
            full,
            Err(PlatformError::Exchange(ExchangeError::CreditLineExceeded))
        ),
        "{full:?}"
    );

    drop(platform); // The restart waits for every handle on the old platform.
    world.restart().await;
    let view = world.platform().partner(lined).await.unwrap();
    assert_eq!(
        (view.figures.paid_mvp, view.figures.outstanding_mvp()),
        (600, 1000)
    );
}

/// 12. Upgrading from the older layout: a link and an exchange left `requested` as JSON
///     records (the partner debited, the answer never came) move into their tables at the
///     first start; the resolver finds the debit and credits once; the records are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_exchanges_of_the_older_layout_move_into_their_tables_and_finish() {
    let (mut world, member, partner, _) = one_member_world().await;
    let link_id = platform::chart::new_id();
    let exchange_id = platform::chart::new_id();
    let now = ports::time::now_s();
    let link = format!(
        r#"{{"id":{link_id},"member_id":{member},"partner_id":{partner},"member_ref":"M-2",
        "created_at_s":{now},"removed":false}}"#
    );
    let exchange = format!(
        r#"{{"id":{exchange_id},"member_id":{member},"partner_id":{partner},"link_id":{link_id},
        "member_ref":"M-2","mileage":1000,"mvp":500,
        "rate":{{"effective_from_s":{now},"num":1,"den":2}},"status":"requested",
        "failure":null,"idempotency_key":"old-key","created_at_s":{now},
        "finished_at_s":null}}"#
    );
    // The partner debited the old exchange's reference; its answer was lost in the crash.
    let reference = format!("{exchange_id:032x}");
    world
        .partner
        .debit_directly(partner, "M-2", &reference, 1000);
    let records = vec![
        store::records::Record {
            kind: "link".into(),
            key: link_id.to_be_bytes().to_vec(),
            value: link.into_bytes(),
        },
        store::records::Record {
            kind: "exchange".into(),
            key: exchange_id.to_be_bytes().to_vec(),
            value: exchange.into_bytes(),
        },
    ];
    world
        .write_records(
            records
                .into_iter()
                .map(store::records::RecordWrite::Put)
                .collect(),
        )
        .await;
    world.restart().await;

    let done = world.settled(member, exchange_id).await;
    assert_eq!(done.status, ExchangeStatus::Completed);
    assert_eq!(world.credits(exchange_id).await.len(), 1);
    assert_eq!(world.partner.calls(Call::Debit), 0, "never debited again");
    assert_eq!(world.mvp(member).await, 500);
    let links = world.platform().links(member).await.expect("links");
    let old_link = links.iter().find(|view| view.link.id == link_id);
    let old_link = old_link.expect("the older layout's link");
    // Made without the partner's proof: it exchanges nothing until proven again.
    assert_eq!(old_link.link.status, platform::domain::LinkStatus::Unproven);
    let refused = world.exchange(member, link_id, 1000).await;
    assert_eq!(
        refused,
        Err(PlatformError::Exchange(ExchangeError::LinkNotProven))
    );
    // The key came along: the same request again answers the same exchange.
    let again = world
        .platform()
        .exchange(request(member, link_id, 1000, Some("old-key")))
        .await
        .expect("the old key");
    assert_eq!(again.id, exchange_id);
    let kinds: Vec<String> = world
        .stored_records()
        .await
        .into_iter()
        .map(|record| record.kind)
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|kind| kind == "link" || kind == "exchange"),
        "{kinds:?}"
    );
}

/// What a prepaid partner's account holds: (bought, handed out, reserved, available).
async fn prepaid_figures(world: &World, partner_id: u128) -> (u128, u128, u128, u128) {
    let view = world.platform().partner(partner_id).await.expect("partner");
    let balance = view.prepaid.expect("a prepaid partner has a balance");
    (
        balance.bought_mvp,
        balance.handed_out_mvp,
        balance.reserved_mvp,
        balance.available_mvp,
    )
}

/// A prepaid partner's issuance account never moves: nothing is issued on credit.
async fn issuance_untouched(world: &World, partner_id: u128) {
    let accounts = world
        .ledger
        .lookup_accounts(vec![AccountId(partner_id)])
        .await
        .expect("lookup");
    let issuance = accounts[0];
    assert_eq!(issuance.debits_posted + issuance.debits_pending, 0);
    assert_eq!(issuance.credits_posted + issuance.credits_pending, 0);
    let figures = world
        .platform()
        .partner(partner_id)
        .await
        .expect("partner")
        .figures;
    assert_eq!((figures.issued_mvp, figures.reserved_mvp), (0, 0));
}

/// 10. Points replacement (TT-11): a prepaid partner's exchanges are reserved on its prepaid
///     account before the partner is asked, so 25 concurrent exchanges against 1,000 MVP
///     bought pass exactly 10 and the refused ones never reach the partner; a refusal at the
///     partner gives its reservation back; nothing is issued on credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepaid_partner_at_its_limit_hands_out_exactly_what_it_bought() {
    let mut world = World::new().await;
    let members = [
        world.member().await.id,
        world.member().await.id,
        world.member().await.id,
    ];
    let prepaid = world
        .new_partner(|p| {
            p.name = "Prepaid Air".into();
            p.rate_num = 1;
            p.rate_den = 1;
            p.daily_limit = Some(10_000_000);
            p.monthly_limit = Some(10_000_000);
            p.prepaid = true;
        })
        .await;
    let mut links = Vec::new();
    for (n, member) in members.iter().enumerate() {
        links.push(world.link(*member, prepaid, &format!("M-{n}")).await);
    }
    let platform = world.platform().clone();
    let exceeded = Err(PlatformError::Exchange(ExchangeError::PrepaidExceeded));
    // Nothing bought yet: refused before the partner hears of it.
    assert_eq!(world.exchange(members[0], links[0], 100).await, exceeded);
    assert_eq!(prepaid_figures(&world, prepaid).await, (0, 0, 0, 0));
    for _ in 0..2 {
        platform
            .record_partner_prepayment(prepaid, "BANK-1", 1000)
            .await
            .expect("prepayment");
    }
    assert_eq!(prepaid_figures(&world, prepaid).await, (1000, 0, 0, 1000));

    world.partner.debit_delay_ms.store(20, Ordering::Relaxed);
    let tasks: Vec<_> = (0..25)
        .map(|n| {
            let platform = platform.clone();
            let (member, link) = (members[n % 3], links[n % 3]);
            tokio::spawn(async move { platform.exchange(request(member, link, 100, None)).await })
        })
        .collect();
    let (mut completed, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(record) => {
                assert_eq!(record.status, ExchangeStatus::Completed);
                completed += 1;
            }
            Err(PlatformError::Exchange(ExchangeError::PrepaidExceeded)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((completed, refused), (10, 15));
    assert_eq!(
        world.partner.calls(Call::Debit),
        10,
        "refused ones never reach the partner"
    );
    assert_eq!(world.partner.debited_mileage(prepaid), 1000);
    let mut held = 0;
    for member in members {
        held += world.mvp(member).await;
    }
    assert_eq!(held, 1000);
    assert_eq!(prepaid_figures(&world, prepaid).await, (1000, 1000, 0, 0));
    issuance_untouched(&world, prepaid).await;
    assert_eq!(
        platform.quote_exchange(members[0], links[0], 1).await,
        Err(PlatformError::Exchange(ExchangeError::PrepaidExceeded))
    );

    // More bought; the partner refuses an exchange beyond the member's mileage: its
    // reservation goes back with the failure.
    platform
        .record_partner_prepayment(prepaid, "BANK-2", 2_000_000)
        .await
        .expect("prepayment");
    let refused = world
        .exchange(members[2], links[2], START_MILEAGE + 1)
        .await;
    assert!(
        matches!(
            refused,
            Err(PlatformError::Exchange(
                ExchangeError::InsufficientMileage { .. }
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(
        prepaid_figures(&world, prepaid).await,
        (2_001_000, 1000, 0, 2_000_000)
    );
    // A partner on credit has no prepaid account to buy into.
    let on_credit = world.new_partner(|p| p.name = "Credit Air".into()).await;
    let refused = platform
        .record_partner_prepayment(on_credit, "BANK-3", 10)
        .await;
    assert!(
        matches!(refused, Err(PlatformError::Invalid { .. })),
        "{refused:?}"
    );
    issuance_untouched(&world, prepaid).await;
}

/// 10b. A crash after the partner debited and before the credit's commit: the prepaid
///      reservation, durable with the `requested` row, stays pending across the restart, and
///      the resolver posts it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepaid_reservation_survives_a_crash_and_is_posted_once() {
    let mut world = World::new().await;
    let member = world.member().await.id;
    let prepaid = world.new_partner(|p| p.prepaid = true).await;
    let link = world.link(member, prepaid, "M-1").await;
    world
        .platform()
        .record_partner_prepayment(prepaid, "BANK-1", 800)
        .await
        .expect("prepayment");
    // The `requested` row with the reservation commits; the credit's commit fails.
    let applied = world.record_appends();
    world.fail_record_appends_from(applied + 2);
    let answer = world.exchange(member, link, 1000).await;
    assert!(
        matches!(answer, Err(PlatformError::Unavailable(_))),
        "{answer:?}"
    );
    world.crash().await;
    world.open().await;

    let exchange = world.durable_exchanges().await[0].clone();
    let done = world.settled(member, exchange.id).await;
    assert_eq!(done.status, ExchangeStatus::Completed);
    assert_eq!(world.partner.calls(Call::Debit), 1, "never debited again");
    assert_eq!(world.mvp(member).await, 500, "credited once");
    assert_eq!(prepaid_figures(&world, prepaid).await, (800, 500, 0, 300));
    issuance_untouched(&world, prepaid).await;
}
