//! A link exists only after the partner proved the member owns the membership (OAuth 2.0
//! authorization code with PKCE), against the real partner simulator on a loopback socket
//! through the real HTTP client: nothing here is a stand-in.
//!
//! Every case runs twice: on the ledger in memory (`memory`) and on the backend
//! `MILEVERSE_TEST_PLATFORM_BACKEND` names (`store`: SQLite, or PostgreSQL).

mod support;

use std::sync::Arc;
use std::time::Duration;

use gateways::partner::{HttpPartnerGateway, PartnerClientConfig};
use gateways::sim::browser::{self, BrowserError};
use gateways::sim::{DEFAULT_MEMBER_PASSWORD, SimConfig, SimMember};
use platform::domain::{ExchangeStatus, LinkRow, LinkStatus};
use platform::error::Entity;
use platform::exchange::{ExchangeError, ExchangeRequest};
use platform::partners::{
    LinkAttempt, LinkProof, NewPartner, PENDING_LINKS_PER_MEMBER_MAX, ProvenLink,
};
use platform::{PlatformConfig, PlatformError};
use store::tables::RowRef;
use store::tables::exchanges::ExchangeWrite;
use tokio::sync::oneshot;

const SECRET: &str = "partner-links-shared-secret";
/// Every membership at the simulator starts with this much mileage.
const START_MILEAGE: u64 = 1_000_000;

/// Runs a case on the ledger in memory and on the configured store.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::run(super::Store::Memory, super::$case).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn store() {
                super::run(super::Store::Configured, super::$case).await;
            }
        }
    )*};
}

#[derive(Clone, Copy)]
enum Store {
    Memory,
    Configured,
}

/// The simulator on a loopback port, the platform over a store, one partner registered.
struct World {
    store: Store,
    base: support::World,
    sim_base: String,
    partner_id: u128,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn run<F, Fut>(store: Store, case: F)
where
    F: FnOnce(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let world = World::start(store, PlatformConfig::default()).await;
    tokio::time::timeout(Duration::from_secs(60), case(world))
        .await
        .expect("the case took too long");
}

impl World {
    async fn start(store: Store, config: PlatformConfig) -> World {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let sim = SimConfig::new(SECRET.as_bytes().to_vec());
        tokio::spawn(gateways::sim::serve_sim(listener, sim, None, async {
            let _ = stopped.await;
        }));
        let gateway = Arc::new(HttpPartnerGateway::new(
            PartnerClientConfig::default(),
            &tls::ClientTls::system(),
        ));
        let base = match store {
            Store::Memory => support::World::memory_with(gateway, config).await,
            Store::Configured => support::World::any_with(gateway, config).await,
        };
        let new = NewPartner {
            name: "Sim Air".into(),
            rate_num: 1,
            rate_den: 1,
            api_base_url: sim_base.clone(),
            secret: SECRET.into(),
            ..NewPartner::default()
        };
        let partner_id = base.platform().create_partner(new).await.expect("partner");
        World {
            store,
            base,
            sim_base,
            partner_id,
            http: browser::client(),
            _stop: stop,
        }
    }

    async fn member(&mut self) -> u128 {
        self.base.member().await.id
    }

    async fn attempt(&self, member_id: u128, member_ref: &str) -> LinkAttempt {
        self.base
            .platform()
            .link_partner(member_id, self.partner_id, member_ref)
            .await
            .expect("a link attempt")
    }

    /// The member's browser at the simulator's login: the redirect's code and state.
    async fn sign_in(
        &self,
        authorize_url: &str,
        member_ref: &str,
        password: &str,
    ) -> (String, String) {
        let callback = browser::sign_in(&self.http, authorize_url, member_ref, password)
            .await
            .expect("signed in at the partner");
        (
            callback.code.expect("a code"),
            callback.state.expect("the state"),
        )
    }

    async fn prove(
        &self,
        member_id: u128,
        attempt: &LinkAttempt,
        (code, state): &(String, String),
    ) -> Result<ProvenLink, PlatformError> {
        let proof = LinkProof::new(state, code)?;
        self.base
            .platform()
            .prove_link(member_id, attempt.link_id, &proof)
            .await
    }

    /// The whole dance with the simulator's default password: the shared helper.
    async fn link(&self, member_id: u128, member_ref: &str) -> Result<ProvenLink, PlatformError> {
        let sign_in = |url: String| async move {
            self.sign_in(&url, member_ref, DEFAULT_MEMBER_PASSWORD)
                .await
        };
        let platform = self.base.platform();
        support::link_with_proof(platform, member_id, self.partner_id, member_ref, sign_in).await
    }

    async fn exchange(
        &self,
        member_id: u128,
        link_id: u128,
        mileage: u64,
    ) -> Result<ExchangeStatus, PlatformError> {
        let request = ExchangeRequest {
            member_id,
            link_id,
            mileage,
            idempotency_key: None,
        };
        let record = self.base.platform().exchange(request).await?;
        Ok(record.status)
    }

    async fn links(&self, member_id: u128) -> Vec<LinkRow> {
        let views = self.base.platform().links(member_id).await.expect("links");
        views.into_iter().map(|view| view.link).collect()
    }

    async fn sim_member(&self, member_ref: &str) -> SimMember {
        let url = format!("{}/sim/v1/members/{member_ref}", self.sim_base);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn set_password(&self, member_ref: &str, password: &str) {
        let url = format!("{}/sim/v1/members/{member_ref}/password", self.sim_base);
        let body = serde_json::json!({ "password": password });
        let answer = self.http.put(url).json(&body).send().await.unwrap();
        assert!(answer.status().is_success());
    }

    async fn mvp(&self, member_id: u128) -> u64 {
        self.base
            .platform()
            .balance(member_id)
            .await
            .unwrap()
            .available
    }
}

fn refused(error: ExchangeError) -> Result<ProvenLink, PlatformError> {
    Err(PlatformError::Exchange(error))
}

fn state_of(attempt: &LinkAttempt) -> String {
    let url = reqwest::Url::parse(&attempt.authorize_url).unwrap();
    let state = url.query_pairs().find(|(name, _)| name == "state");
    state.expect("a state").1.into_owned()
}

on_both_stores!(
    a_made_up_or_someone_elses_ref_links_nothing_without_the_partners_proof,
    the_partners_proof_links_and_the_link_exchanges,
    a_wrong_state_ends_the_attempt_and_links_nothing,
    a_code_of_another_attempt_fails_its_verifier,
    a_used_code_or_state_is_refused,
    an_expired_attempt_links_nothing,
    another_members_attempt_is_unknown,
    refs_are_compared_in_the_partners_canonical_form,
    the_partner_links_the_membership_the_member_signed_in_as,
    pending_and_unproven_links_exchange_nothing_until_proven,
    attempts_are_bounded_and_unlinkable,
);

/// The defect: `POST /v1/me/partner-links` with anyone's ref used to link it at once, and
/// its mileage became the caller's MVP. Now the POST links nothing; without the owner's
/// password there is no code, and a made-up code is refused.
async fn a_made_up_or_someone_elses_ref_links_nothing_without_the_partners_proof(mut world: World) {
    let attacker = world.member().await;
    world.set_password("VICTIM-1", "the-victims-own").await;
    let attempt = world.attempt(attacker, "VICTIM-1").await;
    let exchange = world.exchange(attacker, attempt.link_id.0, 200_000).await;
    assert_eq!(
        exchange,
        Err(PlatformError::Exchange(ExchangeError::LinkNotProven))
    );
    // The simulator's default password is not the victim's: no code comes back.
    let guess = browser::sign_in(
        &world.http,
        &attempt.authorize_url,
        "VICTIM-1",
        DEFAULT_MEMBER_PASSWORD,
    )
    .await;
    assert!(
        matches!(guess, Err(BrowserError::NoRedirect { status, .. }) if status == 401),
        "{guess:?}"
    );
    let made_up = (String::from("made-up-code"), state_of(&attempt));
    assert_eq!(
        world.prove(attacker, &attempt, &made_up).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    assert!(world.links(attacker).await.is_empty(), "nothing linked");
    let victim = world.sim_member("VICTIM-1").await;
    assert_eq!((victim.mileage, victim.debited_total), (START_MILEAGE, 0));
    assert_eq!(world.mvp(attacker).await, 0);
    // The owner, who knows the password, links it.
    let owner = world.member().await;
    let attempt = world.attempt(owner, "VICTIM-1").await;
    let signed_in = world
        .sign_in(&attempt.authorize_url, "VICTIM-1", "the-victims-own")
        .await;
    let proven = world
        .prove(owner, &attempt, &signed_in)
        .await
        .expect("the owner's proof");
    assert_eq!(proven.link.status, LinkStatus::Active);
}

async fn the_partners_proof_links_and_the_link_exchanges(mut world: World) {
    let member = world.member().await;
    let attempt = world.attempt(member, "SKY-1").await;
    let pending = world.links(member).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, LinkStatus::PendingProof);
    assert_eq!(pending[0].expires_at_s, Some(attempt.expires_at_s));
    let signed_in = world
        .sign_in(&attempt.authorize_url, "SKY-1", DEFAULT_MEMBER_PASSWORD)
        .await;
    let proven = world
        .prove(member, &attempt, &signed_in)
        .await
        .expect("proven");
    assert_eq!(proven.link.id, attempt.link_id.0);
    assert_eq!(proven.link.status, LinkStatus::Active);
    assert_eq!(proven.link.member_ref, "SKY-1");
    assert_eq!(proven.mileage, Some(START_MILEAGE));
    assert_eq!(proven.link.state_hash, None, "the proof's secrets are gone");
    let status = world.exchange(member, proven.link.id, 200_000).await;
    assert_eq!(status, Ok(ExchangeStatus::Completed));
    assert_eq!(world.mvp(member).await, 200_000);
    assert_eq!(
        world.sim_member("SKY-1").await.mileage,
        START_MILEAGE - 200_000
    );
}

async fn a_wrong_state_ends_the_attempt_and_links_nothing(mut world: World) {
    let member = world.member().await;
    let attempt = world.attempt(member, "SKY-2").await;
    let (code, state) = world
        .sign_in(&attempt.authorize_url, "SKY-2", DEFAULT_MEMBER_PASSWORD)
        .await;
    let wrong = (code.clone(), format!("{state}x"));
    assert_eq!(
        world.prove(member, &attempt, &wrong).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    // The state was single use: the right one is too late, and the code was never sent.
    assert_eq!(
        world.prove(member, &attempt, &(code, state)).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    assert!(world.links(member).await.is_empty());
    assert_eq!(world.sim_member("SKY-2").await.debited_total, 0);
}

/// A code the partner bound to another attempt's challenge fails this attempt's verifier
/// (RFC 7636 §4.6): the partner refuses it, and nothing links.
async fn a_code_of_another_attempt_fails_its_verifier(mut world: World) {
    let member = world.member().await;
    let first = world.attempt(member, "SKY-3").await;
    let second = world.attempt(member, "SKY-3").await;
    let (code, _) = world
        .sign_in(&first.authorize_url, "SKY-3", DEFAULT_MEMBER_PASSWORD)
        .await;
    let crossed = (code, state_of(&second));
    assert_eq!(
        world.prove(member, &second, &crossed).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    let links = world.links(member).await;
    assert_eq!(
        links.iter().map(|link| link.status).collect::<Vec<_>>(),
        [LinkStatus::PendingProof]
    );
    assert_eq!(
        links[0].id, first.link_id.0,
        "only the untouched attempt waits"
    );
}

async fn a_used_code_or_state_is_refused(mut world: World) {
    let member = world.member().await;
    let attempt = world.attempt(member, "SKY-4").await;
    let signed_in = world
        .sign_in(&attempt.authorize_url, "SKY-4", DEFAULT_MEMBER_PASSWORD)
        .await;
    world
        .prove(member, &attempt, &signed_in)
        .await
        .expect("proven");
    // The same proof again: its state was used.
    assert_eq!(
        world.prove(member, &attempt, &signed_in).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    // The used code with a fresh attempt's state: the partner refuses a code twice.
    let again = world.attempt(member, "SKY-4").await;
    let reused = (signed_in.0.clone(), state_of(&again));
    assert_eq!(
        world.prove(member, &again, &reused).await,
        refused(ExchangeError::LinkProofInvalid)
    );
    let links = world.links(member).await;
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].id, links[0].status),
        (attempt.link_id.0, LinkStatus::Active)
    );
}

async fn an_expired_attempt_links_nothing(world: World) {
    let store = world.store;
    drop(world);
    let config = PlatformConfig {
        link_attempt_expiry_s: 1,
        ..PlatformConfig::default()
    };
    let mut world = World::start(store, config).await;
    let member = world.member().await;
    let attempt = world.attempt(member, "SKY-5").await;
    let signed_in = world
        .sign_in(&attempt.authorize_url, "SKY-5", DEFAULT_MEMBER_PASSWORD)
        .await;
    while ports::time::now_s() < attempt.expires_at_s {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        world.prove(member, &attempt, &signed_in).await,
        refused(ExchangeError::LinkProofExpired)
    );
    assert!(world.links(member).await.is_empty());
    assert_eq!(
        world.prove(member, &attempt, &signed_in).await,
        refused(ExchangeError::LinkProofInvalid)
    );
}

async fn another_members_attempt_is_unknown(mut world: World) {
    let owner = world.member().await;
    let other = world.member().await;
    let attempt = world.attempt(owner, "SKY-6").await;
    let signed_in = world
        .sign_in(&attempt.authorize_url, "SKY-6", DEFAULT_MEMBER_PASSWORD)
        .await;
    let stolen = world.prove(other, &attempt, &signed_in).await;
    assert_eq!(stolen, Err(PlatformError::NotFound(Entity::Link)));
    assert!(world.links(other).await.is_empty());
    // The owner's attempt was not touched.
    let proven = world
        .prove(owner, &attempt, &signed_in)
        .await
        .expect("the owner's proof");
    assert_eq!(proven.link.member_id, owner);
}

/// The owner of `abc` proves as `ABC` (the simulator's canonical form); a second member
/// proving the same membership, however typed, is refused.
async fn refs_are_compared_in_the_partners_canonical_form(mut world: World) {
    let owner = world.member().await;
    let proven = world.link(owner, "abc").await.expect("proven");
    assert_eq!(proven.link.member_ref, "ABC");
    assert_eq!(proven.requested_member_ref, "abc");
    let second = world.member().await;
    assert_eq!(
        world.link(second, "ABC").await,
        refused(ExchangeError::LinkedElsewhere)
    );
    assert_eq!(
        world.link(second, "aBc").await,
        refused(ExchangeError::LinkedElsewhere)
    );
    assert!(world.links(second).await.is_empty());
    // The owner proving it again keeps the one link.
    let again = world.link(owner, "Abc").await.expect("proven again");
    assert_eq!(again.link.id, proven.link.id);
    assert_eq!(world.links(owner).await.len(), 1);
}

/// The partner is the authority: a member who typed one ref and signed in as another gets
/// the membership they signed in as, and is told so.
async fn the_partner_links_the_membership_the_member_signed_in_as(mut world: World) {
    let member = world.member().await;
    let attempt = world.attempt(member, "TYPED-1").await;
    let signed_in = world
        .sign_in(&attempt.authorize_url, "real-2", DEFAULT_MEMBER_PASSWORD)
        .await;
    let proven = world
        .prove(member, &attempt, &signed_in)
        .await
        .expect("proven");
    assert_eq!(proven.link.member_ref, "REAL-2");
    assert_eq!(proven.requested_member_ref, "TYPED-1");
}

/// A link waiting for its proof and a link made before proofs existed exchange nothing;
/// proving the older one again replaces it with an active link.
async fn pending_and_unproven_links_exchange_nothing_until_proven(mut world: World) {
    let member = world.member().await;
    let attempt = world.attempt(member, "OLD-1").await;
    let pending = world.exchange(member, attempt.link_id.0, 1_000).await;
    assert_eq!(
        pending,
        Err(PlatformError::Exchange(ExchangeError::LinkNotProven))
    );
    world
        .base
        .platform()
        .unlink_partner(member, attempt.link_id.0)
        .await
        .expect("unlink");
    let unproven = LinkRow {
        id: platform::chart::new_id(),
        member_id: member,
        partner_id: world.partner_id,
        member_ref: "OLD-1".into(),
        created_at_s: ports::time::now_s(),
        removed: false,
        status: LinkStatus::Unproven,
        state_hash: None,
        verifier_sealed: None,
        expires_at_s: None,
        proven_at_s: None,
    };
    let row: RowRef = Arc::new(ExchangeWrite::Link(unproven.clone()));
    world
        .base
        .ledger
        .record(vec![row])
        .await
        .expect("an older link");
    let refused_exchange = world.exchange(member, unproven.id, 1_000).await;
    assert_eq!(
        refused_exchange,
        Err(PlatformError::Exchange(ExchangeError::LinkNotProven))
    );
    assert_eq!(world.sim_member("OLD-1").await.debited_total, 0);
    let proven = world.link(member, "OLD-1").await.expect("proven again");
    let links = world.links(member).await;
    assert_eq!(
        links.iter().map(|link| link.id).collect::<Vec<_>>(),
        [proven.link.id]
    );
    assert_eq!(
        world.exchange(member, proven.link.id, 1_000).await,
        Ok(ExchangeStatus::Completed)
    );
}

async fn attempts_are_bounded_and_unlinkable(mut world: World) {
    let member = world.member().await;
    let mut attempts = Vec::new();
    for n in 0..PENDING_LINKS_PER_MEMBER_MAX {
        attempts.push(world.attempt(member, &format!("MANY-{n}")).await);
    }
    let platform = world.base.platform();
    let over = platform
        .link_partner(member, world.partner_id, "MANY-X")
        .await;
    let pending_max = PENDING_LINKS_PER_MEMBER_MAX;
    assert_eq!(
        over,
        Err(PlatformError::Exchange(
            ExchangeError::TooManyLinkAttempts { pending_max }
        ))
    );
    // Unlinking an attempt frees its place; an active link unlinks too.
    platform
        .unlink_partner(member, attempts[0].link_id.0)
        .await
        .expect("unlink an attempt");
    let proven = world.link(member, "MANY-X").await.expect("proven");
    platform
        .unlink_partner(member, proven.link.id)
        .await
        .expect("unlink an active link");
    let left: Vec<LinkStatus> = world
        .links(member)
        .await
        .iter()
        .map(|link| link.status)
        .collect();
    assert_eq!(
        left,
        vec![LinkStatus::PendingProof; PENDING_LINKS_PER_MEMBER_MAX - 1]
    );
    assert_eq!(
        world.exchange(member, proven.link.id, 1_000).await,
        Err(PlatformError::NotFound(Entity::Link))
    );
}
