//! The world the platform tests share: a ledger and a record store, the platform over them
//! (opened, restarted and crashed as the server would be), and members signed up through
//! the SMS verification. Tests that need more (a scripted partner, gated records, tills and
//! pay codes) build their own world around this one.
//!
//! `World::sqlite` keeps both stores in SQLite files in a temporary directory, with a switch
//! ([`World::fail_ledger_appends`]) that makes the ledger store fail as a dying disk or a
//! crash would. `World::postgres` keeps both in a PostgreSQL schema of their own, and
//! `World::any` picks one: `MILEVERSE_TEST_PLATFORM_BACKEND=postgres` runs the suites on
//! PostgreSQL (`scripts/test.sh` runs them on both). The synchronous PostgreSQL client must
//! not be opened, used or dropped on the tests' runtime, so stores are opened on a thread
//! of their own ([`off_runtime`]).

#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use ledger::types::{Account, AccountBalance, AccountId, Transfer, TransferId};
use platform::chart;
use platform::crypto::DataKeys;
use platform::partners::{LinkProof, ProvenLink};
use platform::{Platform, PlatformConfig, PlatformError, PlatformParts};
use ports::gateway::PartnerGateway;
use ports::sms::DevOutbox;
use store::memory::FaultPoint;
use store::postgres::PostgresStore;
use store::records::{Record, RecordWrite};
use store::sqlite::SqliteStore;
use store::tables::records::RecordRow;
use store::{BlockRecord, BlockWrite, Store, StoreError, StoreMeta};

pub const MASTER_KEY: [u8; 32] = [7; 32];
/// Longest any test waits for something that happens in the background.
pub const WAIT_MAX: Duration = Duration::from_secs(10);
/// Every member's PIN.
pub const PIN: &str = "135790";
/// The tests' own funding account (MVP comes from here into wallets).
pub const FUNDING_ACCOUNT: u128 = 77;

/// Polls `probe` until it gives a value, for at most [`WAIT_MAX`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The member's side of a link, the one way every platform test links: asks for the link,
/// lets `sign_in` play the member's browser at the partner (the authorize URL in; the
/// `code` and `state` of the partner's redirect out), and sends the proof back.
pub async fn link_with_proof<F, Fut>(
    platform: &Platform,
    member_id: u128,
    partner_id: u128,
    member_ref: &str,
    sign_in: F,
) -> Result<ProvenLink, PlatformError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = (String, String)>,
{
    let attempt = platform
        .link_partner(member_id, partner_id, member_ref)
        .await?;
    let (code, state) = sign_in(attempt.authorize_url).await;
    let proof = LinkProof::new(&state, &code)?;
    platform
        .prove_link(member_id, attempt.link_id, &proof)
        .await
}

/// A partner that is never reachable: every call fails as if the partner were down.
pub use ports::gateway::NoPartners as NoPartner;

/// What the ledger store's appends meet (shared by a world and its stores): a fault point
/// for every append, a fault from the n-th append that carries domain rows (record writes)
/// on, and a gate that holds appends with rows while it is closed.
#[derive(Default)]
pub struct LedgerFaults {
    point: Option<FaultPoint>,
    /// Appends with rows seen so far.
    row_appends: u64,
    /// Appends with rows fail from this count on, at this point.
    fail_row_appends_from: Option<(u64, FaultPoint)>,
    gate_closed: bool,
    /// Appends waiting at the closed gate now.
    at_gate: u64,
}

type LedgerFault = Arc<(Mutex<LedgerFaults>, std::sync::Condvar)>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A ledger store whose appends fail while its world says so: before writing (the
/// transaction is lost) or after (the blocks are durable, the acknowledgement is lost).
struct FaultyStore {
    inner: Box<dyn Store>,
    fault: LedgerFault,
}

impl FaultyStore {
    /// The fault this append meets, after waiting at a closed gate if it carries rows.
    fn fault_for(&self, rows: &[store::tables::RowRef]) -> Option<FaultPoint> {
        let (faults, wake) = &*self.fault;
        let mut faults = lock(faults);
        if rows.is_empty() {
            return faults.point;
        }
        while faults.gate_closed {
            faults.at_gate += 1;
            faults = wake.wait(faults).unwrap_or_else(|p| p.into_inner());
            faults.at_gate -= 1;
        }
        faults.row_appends += 1;
        if let Some((from, point)) = faults.fail_row_appends_from
            && faults.row_appends >= from
        {
            return Some(point);
        }
        faults.point
    }
}

impl Store for FaultyStore {
    fn init(&mut self, meta: &StoreMeta) -> Result<StoreMeta, StoreError> {
        self.inner.init(meta)
    }

    fn meta(&mut self) -> Result<Option<StoreMeta>, StoreError> {
        self.inner.meta()
    }

    fn append_with_rows(
        &mut self,
        writes: &[BlockWrite],
        rows: &[store::tables::RowRef],
    ) -> Result<(), StoreError> {
        match self.fault_for(rows) {
            None => self.inner.append_with_rows(writes, rows),
            Some(FaultPoint::BeforeWrite) => Err(StoreError::Injected("append failed")),
            Some(FaultPoint::AfterWrite) => {
                self.inner.append_with_rows(writes, rows)?;
                Err(StoreError::Injected("append written, then failed"))
            }
        }
    }

    fn tables(&mut self) -> Result<store::tables::TableRead<'_>, StoreError> {
        self.inner.tables()
    }

    fn block_count(&mut self) -> Result<u64, StoreError> {
        self.inner.block_count()
    }

    fn read_blocks(
        &mut self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, StoreError> {
        self.inner.read_blocks(from_height, limit)
    }

    fn accounts(&mut self) -> Result<Vec<ledger::types::Account>, StoreError> {
        self.inner.accounts()
    }

    fn account_history(&mut self, id: AccountId) -> Result<Vec<AccountBalance>, StoreError> {
        self.inner.account_history(id)
    }

    // Reads beside the writer go to the real store: only appends fail here.
    fn reader(&self) -> Result<Box<dyn Store>, StoreError> {
        self.inner.reader()
    }

    fn lookup_transfers(
        &mut self,
        ids: &[ledger::types::TransferId],
    ) -> Result<Vec<ledger::engine::StoredTransfer>, StoreError> {
        self.inner.lookup_transfers(ids)
    }

    fn transfers_by_leaf(
        &mut self,
        from: u64,
        to: u64,
    ) -> Result<Vec<ledger::types::Transfer>, StoreError> {
        self.inner.transfers_by_leaf(from, to)
    }

    fn merkle_node(&mut self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.inner.merkle_node(level, index)
    }

    fn transfers_at(
        &mut self,
        timestamps: &[u64],
    ) -> Result<Vec<ledger::types::Transfer>, StoreError> {
        self.inner.transfers_at(timestamps)
    }

    fn write_snapshot(&mut self, snapshot: &store::SnapshotRecord) -> Result<(), StoreError> {
        self.inner.write_snapshot(snapshot)
    }

    fn latest_snapshot(&mut self) -> Result<Option<store::SnapshotRecord>, StoreError> {
        self.inner.latest_snapshot()
    }

    fn snapshot_headers(&mut self) -> Result<Vec<store::SnapshotRecord>, StoreError> {
        self.inner.snapshot_headers()
    }

    fn lookup_failed(
        &mut self,
        ids: &[ledger::types::TransferId],
    ) -> Result<Vec<ledger::types::TransferId>, StoreError> {
        self.inner.lookup_failed(ids)
    }

    fn failed_transfers(
        &mut self,
        from_height: u64,
        to_height: u64,
    ) -> Result<Vec<(u64, ledger::engine::FailedTransfer)>, StoreError> {
        self.inner.failed_transfers(from_height, to_height)
    }
}

type OpenStore = Box<dyn Fn() -> Box<dyn Store> + Send + Sync>;

/// What a world is made of: how to open (and after a crash, reopen) its stores, the
/// partner gateway and the platform's configuration.
pub struct Parts {
    pub open_store: OpenStore,
    pub partner: Arc<dyn PartnerGateway>,
    pub config: PlatformConfig,
}

pub struct World {
    pub ledger: Arc<LedgerService>,
    pub outbox: Arc<DevOutbox>,
    platform: Option<Arc<Platform>>,
    parts: Parts,
    fault: LedgerFault,
    phones: u32,
    directory: Option<tempfile::TempDir>,
    /// The PostgreSQL schema of a [`World::postgres`] world, dropped with it.
    schema: Option<Schema>,
}

/// A PostgreSQL schema dropped when the world is.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        off_runtime(move || drop_schema(&url, &name));
    }
}

fn drop_schema(url: &str, name: &str) {
    let tls = tls::test_pki::test_database_tls().postgres();
    if let Ok(mut client) = ::postgres::Client::connect(url, tls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}

/// Runs `work` on a thread of its own, outside any async runtime, and returns its value.
pub fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("off-runtime work"))
}

/// A member signed up through the SMS verification.
pub struct Member {
    pub id: u128,
    pub phone: String,
    /// The token of the device that signed up (trusted for logins).
    pub device_token: String,
}

/// A login of `member` from its sign-up device.
pub fn member_login(member: &Member, pin: &str) -> platform::members::LogIn {
    platform::members::LogIn {
        phone: member.phone.clone(),
        pin: pin.to_string(),
        device: platform::members::DeviceProof::Token(member.device_token.clone()),
    }
}

/// A device enrolled for pay codes: the app's handle and secret.
pub struct Enrolled {
    pub device_id: u128,
    pub handle: String,
    pub secret: Vec<u8>,
}

impl World {
    /// Both stores in SQLite files in a fresh temporary directory; no partner.
    pub async fn sqlite() -> World {
        World::sqlite_with(Arc::new(NoPartner), PlatformConfig::default()).await
    }

    /// Both stores in SQLite files in a fresh temporary directory, with this partner
    /// gateway and configuration.
    pub async fn sqlite_with(partner: Arc<dyn PartnerGateway>, config: PlatformConfig) -> World {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let ledger_path = directory.path().join("ledger.db");
        let parts = Parts {
            open_store: Box::new(move || {
                Box::new(SqliteStore::open(&ledger_path).expect("ledger store"))
            }),
            partner,
            config,
        };
        let mut world = World::new(parts).await;
        world.directory = Some(directory);
        world
    }

    /// A world on the backend `MILEVERSE_TEST_PLATFORM_BACKEND` names (`sqlite`, the
    /// default, or `postgres`).
    pub async fn any() -> World {
        World::any_with(Arc::new(NoPartner), PlatformConfig::default()).await
    }

    /// [`World::any`] with this partner gateway and configuration.
    pub async fn any_with(partner: Arc<dyn PartnerGateway>, config: PlatformConfig) -> World {
        match std::env::var("MILEVERSE_TEST_PLATFORM_BACKEND").as_deref() {
            Ok("postgres") => World::postgres_with(partner, config).await,
            Ok("sqlite") | Err(_) => World::sqlite_with(partner, config).await,
            Ok(other) => panic!("MILEVERSE_TEST_PLATFORM_BACKEND={other}: sqlite or postgres"),
        }
    }

    /// The ledger in memory, with this partner gateway and configuration.
    pub async fn memory_with(partner: Arc<dyn PartnerGateway>, config: PlatformConfig) -> World {
        let store = store::memory::MemoryStore::new();
        let parts = Parts {
            open_store: Box::new(move || Box::new(store.clone())),
            partner,
            config,
        };
        World::new(parts).await
    }

    /// Both stores in a fresh PostgreSQL schema (`MILEVERSE_TEST_DATABASE_URL`); no partner.
    pub async fn postgres() -> World {
        World::postgres_with(Arc::new(NoPartner), PlatformConfig::default()).await
    }

    /// [`World::postgres`] with this partner gateway and configuration.
    pub async fn postgres_with(partner: Arc<dyn PartnerGateway>, config: PlatformConfig) -> World {
        static WORLDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let url = std::env::var("MILEVERSE_TEST_DATABASE_URL")
            .expect("MILEVERSE_TEST_DATABASE_URL: run `eval \"$(bash scripts/pg.sh env)\"`");
        let number = WORLDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("world_{}_{number}", std::process::id());
        off_runtime(|| drop_schema(&url, &name));
        let (store_url, store_schema) = (url.clone(), name.clone());
        let parts = Parts {
            open_store: Box::new(move || {
                let tls = tls::test_pki::test_database_tls().postgres();
                let store = PostgresStore::connect_schema(&store_url, &store_schema, &tls);
                Box::new(store.expect("ledger store"))
            }),
            partner,
            config,
        };
        let mut world = World::new(parts).await;
        world.schema = Some(Schema { url, name });
        world
    }

    /// The records the ledger's database holds (what a restart would load).
    pub async fn stored_records(&self) -> Vec<Record> {
        // No durability barrier: this also reads the store of a ledger that stopped.
        let ledger = self.ledger.clone();
        let records = off_runtime(move || ledger.tables_blocking(store::tables::records::load));
        records.expect("load the records")
    }

    /// Writes records straight into the ledger's database, as the platform never would.
    pub async fn write_records(&self, writes: Vec<RecordWrite>) {
        let rows = writes
            .into_iter()
            .map(|write| Arc::new(RecordRow(write)) as store::tables::RowRef)
            .collect();
        self.ledger.record(rows).await.expect("write the records");
    }

    /// Opens the ledger and a started platform over `parts`.
    pub async fn new(parts: Parts) -> World {
        let fault = LedgerFault::default();
        let mut world = World {
            ledger: open_ledger(&parts, &fault),
            outbox: Arc::new(DevOutbox::new()),
            platform: None,
            parts,
            fault,
            phones: 0,
            directory: None,
            schema: None,
        };
        world.open().await;
        world
    }

    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_ref().map(|directory| directory.path())
    }

    /// Opens and starts a platform on the world's ledger and records.
    pub async fn open(&mut self) {
        self.open_with(None).await;
    }

    /// Stops the platform and opens it again with a record store of the older layout to
    /// import from.
    pub async fn restart_with_legacy(&mut self, legacy: Box<dyn store::records::RecordStore>) {
        self.stop().await;
        self.open_with(Some(legacy)).await;
    }

    async fn open_with(&mut self, legacy_records: Option<Box<dyn store::records::RecordStore>>) {
        assert!(self.platform.is_none(), "a platform is running");
        let parts = PlatformParts {
            legacy_records,
            keys: DataKeys::from_master(&MASTER_KEY),
            partner_gateway: self.parts.partner.clone(),
            sms: self.outbox.clone(),
            chain: None,
            price_feed: None,
            webhooks: std::sync::Arc::new(gateways::webhook::HttpWebhookSender::new(
                &tls::ClientTls::system(),
                gateways::webhook::DELIVERY_TIMEOUT_MS,
            )),
        };
        let config = self.parts.config.clone();
        // Blocking: it reads the records from the ledger's database.
        let ledger = self.ledger.clone();
        let platform = off_runtime(move || Platform::open(config, ledger, parts).expect("open"));
        platform.start().await.expect("start");
        self.platform = Some(platform);
    }

    pub fn platform(&self) -> &Arc<Platform> {
        self.platform.as_ref().expect("a running platform")
    }

    /// Stops the platform (the ledger keeps running), waits until nothing of it is left
    /// (its background jobs hold it too), and opens a new one on the same records:
    /// everything it knows comes from the stores.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.open().await;
    }

    /// As if the process died after a fault stopped the ledger (which then writes nothing
    /// more): the platform stops, the faults are gone (a new process on a healthy disk), and
    /// the ledger and the platform open again from what their stores hold.
    pub async fn crash_and_reopen(&mut self) {
        self.crash().await;
        self.open().await;
    }

    /// The first half of [`World::crash_and_reopen`]: the platform stops and the ledger
    /// opens again from its store; no platform runs until [`World::open`].
    pub async fn crash(&mut self) {
        assert!(
            self.ledger.failure().is_some(),
            "crash a stopped ledger only"
        );
        self.stop().await;
        *lock(&self.fault.0) = LedgerFaults::default();
        self.fault.1.notify_all();
        let old = std::mem::replace(&mut self.ledger, open_ledger(&self.parts, &self.fault));
        if let Ok(old) = Arc::try_unwrap(old) {
            old.shutdown();
        }
    }

    async fn stop(&mut self) {
        let old = self.platform.take().expect("a running platform");
        // A stopped ledger (a crash) writes nothing: the counters go with the process.
        if self.ledger.failure().is_none() {
            old.close().await.expect("a clean stop");
        }
        let gone = Arc::downgrade(&old);
        drop(old);
        eventually("the old platform to stop", || async {
            (gone.strong_count() == 0).then_some(())
        })
        .await;
    }

    /// From now on every append of the ledger store fails at `point` (the ledger stops:
    /// it is fail-stop), until [`World::crash_and_reopen`].
    pub fn fail_ledger_appends(&self, point: FaultPoint) {
        lock(&self.fault.0).point = Some(point);
    }

    /// From now on the `n`-th append with record rows (counted from the world's start) and
    /// every later one fails before writing; the ledger stops (fail-stop).
    pub fn fail_record_appends_from(&self, n: u64) {
        self.fail_record_appends_from_at(n, FaultPoint::BeforeWrite);
    }

    /// Like [`World::fail_record_appends_from`], failing at `point` (after the write: the
    /// append is durable, its acknowledgement lost).
    pub fn fail_record_appends_from_at(&self, n: u64, point: FaultPoint) {
        lock(&self.fault.0).fail_row_appends_from = Some((n, point));
    }

    /// Appends with record rows seen so far.
    pub fn record_appends(&self) -> u64 {
        lock(&self.fault.0).row_appends
    }

    /// Holds every append with record rows until [`World::open_record_gate`].
    pub fn close_record_gate(&self) {
        lock(&self.fault.0).gate_closed = true;
    }

    /// Appends with record rows waiting at the closed gate now.
    pub fn appends_at_gate(&self) -> u64 {
        lock(&self.fault.0).at_gate
    }

    pub fn open_record_gate(&self) {
        lock(&self.fault.0).gate_closed = false;
        self.fault.1.notify_all();
    }

    /// A [`World::any`] world with the tests' funding account.
    pub async fn with_funding() -> World {
        World::with_funding_config(PlatformConfig::default()).await
    }

    /// [`World::with_funding`] with this configuration.
    pub async fn with_funding_config(config: PlatformConfig) -> World {
        let world = World::any_with(Arc::new(NoPartner), config).await;
        let funding = Account {
            id: AccountId(FUNDING_ACCOUNT),
            ledger: chart::LEDGER_MVP,
            code: 999,
            ..Account::default()
        };
        let results = world.ledger.create_accounts(vec![funding]).await.unwrap();
        assert!(results[0].is_ok());
        world
    }

    /// Credits `amount` MVP to a member from the funding account (a bonus).
    pub async fn fund(&self, member_id: u128, amount: u64) {
        let transfer = Transfer {
            id: TransferId(chart::new_id()),
            debit_account_id: AccountId(FUNDING_ACCOUNT),
            credit_account_id: AccountId(member_id),
            amount: u128::from(amount),
            ledger: chart::LEDGER_MVP,
            code: chart::transfer_code::BONUS,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await.unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
    }

    /// Signs up a member through the SMS verification.
    pub async fn member(&mut self) -> Member {
        self.phones += 1;
        let phone = format!("+82105555{:04}", self.phones);
        let platform = self.platform();
        let verification = platform
            .request_verification(&phone)
            .await
            .expect("verification");
        let messages = self.outbox.messages(Some(&phone));
        let code = messages[0]
            .text
            .strip_prefix("[Mileverse] verification code ")
            .expect("a verification text");
        assert_eq!(code.len(), 6);
        let grant = platform
            .sign_up(verification, code, "Kim Tester", PIN)
            .await
            .expect("sign up");
        Member {
            id: grant.member_id,
            phone,
            device_token: grant.device_token,
        }
    }

    /// A login of `member` proving a new device by an SMS code sent now.
    pub async fn sms_login(
        &self,
        member: &Member,
        pin: &str,
    ) -> Result<platform::members::SessionGrant, platform::PlatformError> {
        let platform = self.platform();
        let verification_id = platform.request_verification(&member.phone).await?;
        let messages = self.outbox.messages(Some(&member.phone));
        let code = messages
            .first()
            .expect("a text (newest first)")
            .text
            .strip_prefix("[Mileverse] verification code ")
            .expect("a verification text")
            .to_string();
        let login = platform::members::LogIn {
            phone: member.phone.clone(),
            pin: pin.to_string(),
            device: platform::members::DeviceProof::Sms {
                verification_id,
                code,
            },
        };
        platform.log_in(login).await
    }

    /// Registers a device of `member_id` and enrolls it for pay codes.
    pub async fn enrolled_device(&self, member_id: u128) -> Enrolled {
        let device_id = self.device(member_id).await;
        let enrollment = self
            .platform()
            .enroll_paycode_device(member_id, device_id)
            .await
            .expect("enroll");
        Enrolled {
            device_id,
            handle: enrollment.device_handle,
            secret: enrollment.secret,
        }
    }

    pub async fn device(&self, member_id: u128) -> u128 {
        self.platform()
            .register_device(member_id, "Phone", "android")
            .await
            .expect("register a device")
            .id
    }
}

/// Opens the ledger on the world's store, through its fault switch. Blocking only on
/// opening the store: a small file or memory here.
fn open_ledger(parts: &Parts, fault: &LedgerFault) -> Arc<LedgerService> {
    let open_store = &parts.open_store;
    off_runtime(move || {
        let store = FaultyStore {
            inner: open_store(),
            fault: fault.clone(),
        };
        let ledger = LedgerService::open(
            Box::new(store),
            OperatorKey::from_seed([9; 32]),
            LedgerConfig::default(),
        )
        .expect("open the ledger");
        Arc::new(ledger)
    })
}
