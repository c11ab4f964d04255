//! Members' links to their memberships at partners (MV-2; seed 000 §6-5 step 1: the
//! member authenticates at the partner first). A link exists only after the partner proved
//! that the member owns the membership:
//!
//! ```text
//!  POST link ──► pending_proof (state hash, sealed verifier, expiry) ──► the member signs
//!                 in at the partner ──► proof {state, code} ──► the partner redeems the
//!                 code with the verifier ──► active (the partner's canonical ref)
//!  links made before proofs existed ──► unproven (exchange nothing; prove again)
//! ```
//!
//! - An attempt asks the partner nothing (asking would tell anyone whether a membership
//!   exists and what it holds); it sends the member to the partner's login with a random
//!   `state` and a PKCE challenge, and keeps only the state's hash and the sealed verifier,
//!   for [`crate::PlatformConfig::link_attempt_expiry_s`]. At most
//!   [`PENDING_LINKS_PER_MEMBER_MAX`] attempts of a member wait at once.
//! - The proof is the member's own request (session-authenticated): a code obtained by
//!   someone else's browser cannot be attached to this member's attempt without this
//!   member's session and this attempt's state, so neither a forged callback (CSRF) nor a
//!   swapped login links a membership to the wrong member.
//! - The partner is the authority on the ref: the link holds the canonical ref the partner
//!   answered, whatever the member typed, and one active link per (partner, canonical ref)
//!   exists, so `ABC` and `abc` are one membership when the partner says so.
//! - An attempt ends at its first proof, right or wrong (state single use); a partner that
//!   cannot be reached leaves it waiting, so the member can try again.
//!
//! One link change per member at a time (attempt, proof, unlink: the member's links claim),
//! and one per partner's canonical ref (its reference claim), in that order.

use std::sync::Arc;
use std::time::Duration;

use ports::gateway::{AuthorizationRequest, CodeRedemption, PartnerCallError};
use ports::time::now_s;
use store::tables::RowRef;
use store::tables::exchanges::{self as tables, ExchangeWrite, LinkStatus};

use super::proof::{AttemptSecrets, LinkProof, redirect_uri, verifier_context};
use super::{
    LINKS_PER_MEMBER_MAX, LIVE_BALANCE_WAIT_MS, LinkView, check_member_ref, join_all, partner_error,
};
use crate::chart;
use crate::domain::LinkRow;
use crate::error::{Entity, PlatformError, invalid};
use crate::exchange::Claimed;
use crate::exchange::error::ExchangeError;
use crate::members::error::MemberError;
use crate::service::Platform;

/// How long an attempt waits for its proof by default (the member signs in at the partner
/// in the meantime).
pub const LINK_ATTEMPT_EXPIRY_S: u64 = 600;
/// Attempts of one member waiting for their proof at once, at most.
pub const PENDING_LINKS_PER_MEMBER_MAX: usize = 5;

/// A link's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkId(pub u128);

/// A new attempt: where to send the member, and until when it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkAttempt {
    pub link_id: LinkId,
    pub partner_id: u128,
    /// The partner's authorization URL with this attempt's state and challenge.
    pub authorize_url: String,
    pub expires_at_s: u64,
}

/// A proven link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenLink {
    /// Active, with the partner's canonical ref.
    pub link: LinkRow,
    /// The ref the member typed (it differs from the link's when the partner's canonical
    /// form, or the membership the member signed in as, differs).
    pub requested_member_ref: String,
    /// The membership's mileage, when the partner said.
    pub mileage: Option<u64>,
}

/// What a proof found at the partner, before the link is committed.
struct Redeemed {
    attempt: LinkRow,
    canonical_ref: String,
    mileage: Option<u64>,
}

impl Platform {
    /// Starts a link: an attempt waiting for the partner's proof, and the URL where the
    /// member signs in at the partner. Nothing is linked yet, and the partner is not asked.
    pub async fn link_partner(
        &self,
        member_id: u128,
        partner_id: u128,
        member_ref: &str,
    ) -> Result<LinkAttempt, PlatformError> {
        check_member_ref(member_ref)?;
        let endpoint = self.enabled_endpoint(partner_id)?;
        let _claim = self.exchanges.claim(Claimed::Links(member_id)).await?;
        let now = now_s();
        let links = self.links_of(member_id).await?;
        // Attempts that ended unproven go now, so they count against nothing.
        let (expired, live): (Vec<LinkRow>, Vec<LinkRow>) = links
            .into_iter()
            .partition(|link| attempt_expired(link, now));
        let pending = live
            .iter()
            .filter(|link| link.status == LinkStatus::PendingProof);
        if pending.count() >= PENDING_LINKS_PER_MEMBER_MAX {
            let pending_max = PENDING_LINKS_PER_MEMBER_MAX;
            return Err(ExchangeError::TooManyLinkAttempts { pending_max }.into());
        }
        check_links_room(&live)?;
        let secrets = AttemptSecrets::new();
        let link_id = chart::new_id();
        let request = AuthorizationRequest {
            redirect_uri: redirect_uri(&self.config.public_url),
            state: secrets.state.clone(),
            code_challenge: secrets.challenge.clone(),
            login_hint: member_ref.to_string(),
        };
        let authorize_url = self
            .partner_gateway
            .authorize_url(&endpoint, &request)
            .map_err(partner_error)?;
        let expires_at_s = now.saturating_add(self.config.link_attempt_expiry_s);
        let verifier = self
            .keys
            .seal(secrets.verifier.as_bytes(), &verifier_context(link_id));
        let attempt = LinkRow {
            id: link_id,
            member_id,
            partner_id,
            member_ref: member_ref.to_string(),
            created_at_s: now,
            removed: false,
            status: LinkStatus::PendingProof,
            state_hash: Some(secrets.state_hash.to_vec()),
            verifier_sealed: Some(verifier),
            expires_at_s: Some(expires_at_s),
            proven_at_s: None,
        };
        let mut rows: Vec<LinkRow> = expired.into_iter().map(ended).collect();
        rows.push(attempt);
        self.commit_links(rows).await?;
        Ok(LinkAttempt {
            link_id: LinkId(link_id),
            partner_id,
            authorize_url,
            expires_at_s,
        })
    }

    /// Finishes an attempt with the member's proof: the partner redeems the code with the
    /// attempt's verifier and answers the membership the member signed in as, which
    /// becomes the member's active link. A refused proof ends the attempt; nothing links.
    pub async fn prove_link(
        &self,
        member_id: u128,
        link_id: LinkId,
        proof: &LinkProof,
    ) -> Result<ProvenLink, PlatformError> {
        let _claim = self.exchanges.claim(Claimed::Links(member_id)).await?;
        let attempt = self
            .own_link(member_id, link_id.0)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Link))?;
        if attempt.removed {
            // An attempt ended by an earlier proof, right or wrong, or unlinked.
            return Err(ExchangeError::LinkProofInvalid.into());
        }
        let redeemed = self.redeem_proof(attempt, proof).await?;
        let reference =
            Claimed::Reference(redeemed.attempt.partner_id, redeemed.canonical_ref.clone());
        let _reference = self.exchanges.claim(reference).await?;
        self.activate(member_id, redeemed).await
    }

    /// Checks the attempt and the proof's state, and has the partner redeem the code. Every
    /// definitive refusal ends the attempt before it answers.
    async fn redeem_proof(
        &self,
        attempt: LinkRow,
        proof: &LinkProof,
    ) -> Result<Redeemed, PlatformError> {
        if attempt.status != LinkStatus::PendingProof {
            // Proven already (its state is used) or made before proofs: not an attempt.
            return Err(ExchangeError::LinkProofInvalid.into());
        }
        if attempt_expired(&attempt, now_s()) {
            return self
                .end_attempt(attempt, ExchangeError::LinkProofExpired)
                .await;
        }
        let state_matches = attempt
            .state_hash
            .as_deref()
            .is_some_and(|hash| proof.state_matches(hash));
        if !state_matches {
            return self
                .end_attempt(attempt, ExchangeError::LinkProofInvalid)
                .await;
        }
        let endpoint = self.enabled_endpoint(attempt.partner_id)?;
        let sealed = attempt.verifier_sealed.as_deref().unwrap_or_default();
        let verifier = self
            .keys
            .open_string(sealed, &verifier_context(attempt.id))
            .map_err(|_| PlatformError::Unavailable("a link's verifier does not open".into()))?;
        let redemption = CodeRedemption {
            code: proof.code().to_string(),
            redirect_uri: redirect_uri(&self.config.public_url),
            code_verifier: verifier,
        };
        let proven = match self
            .partner_gateway
            .redeem_code(&endpoint, &redemption)
            .await
        {
            Ok(proven) => proven,
            Err(PartnerCallError::Refused(refusal)) => {
                tracing::info!(
                    link = attempt.id,
                    ?refusal,
                    "the partner refused a link's proof"
                );
                return self
                    .end_attempt(attempt, ExchangeError::LinkProofInvalid)
                    .await;
            }
            // Unknown: the attempt waits; the member may try again.
            Err(other) => return Err(partner_error(other)),
        };
        if check_member_ref(&proven.member_ref).is_err() {
            let detail = "the partner answered a member ref that breaks the protocol's rule";
            return Err(partner_error(PartnerCallError::Protocol(detail.into())));
        }
        Ok(Redeemed {
            attempt,
            canonical_ref: proven.member_ref,
            mileage: proven.mileage,
        })
    }

    /// Makes a redeemed attempt the member's active link of the canonical ref, unless
    /// another member holds it; the member's unproven links and other attempts of that ref
    /// go in the same commit. The caller holds the member's and the ref's claims.
    async fn activate(
        &self,
        member_id: u128,
        redeemed: Redeemed,
    ) -> Result<ProvenLink, PlatformError> {
        let Redeemed {
            attempt,
            canonical_ref,
            mileage,
        } = redeemed;
        let requested_member_ref = attempt.member_ref.clone();
        let (partner_id, canonical) = (attempt.partner_id, canonical_ref.clone());
        let holder = self
            .ledger
            .tables(move |read| tables::active_link_by_ref(read, partner_id, &canonical))
            .await?;
        match holder {
            Some(holder) if holder.member_id != member_id => {
                return self
                    .end_attempt(attempt, ExchangeError::LinkedElsewhere)
                    .await;
            }
            Some(mine) => {
                // Proven again: the link the member has stands; the attempt ends.
                self.commit_links(vec![ended(attempt)]).await?;
                let link = mine;
                return Ok(ProvenLink {
                    link,
                    requested_member_ref,
                    mileage,
                });
            }
            None => {}
        }
        let links = self.links_of(member_id).await?;
        let (superseded, kept): (Vec<LinkRow>, Vec<LinkRow>) = links
            .into_iter()
            .filter(|link| link.id != attempt.id)
            .partition(|link| {
                link.partner_id == partner_id
                    && link.status != LinkStatus::Active
                    && (link.member_ref == canonical_ref || link.member_ref == requested_member_ref)
            });
        if let Err(error) = check_links_room(&kept) {
            self.commit_links(vec![ended(attempt)]).await?;
            return Err(error);
        }
        let link = LinkRow {
            member_ref: canonical_ref,
            status: LinkStatus::Active,
            state_hash: None,
            verifier_sealed: None,
            expires_at_s: None,
            proven_at_s: Some(now_s()),
            ..attempt
        };
        let mut rows: Vec<LinkRow> = superseded.into_iter().map(ended).collect();
        rows.push(link.clone());
        self.commit_links(rows).await?;
        Ok(ProvenLink {
            link,
            requested_member_ref,
            mileage,
        })
    }

    /// Ends an attempt (removed, its secrets gone) and answers `error`.
    async fn end_attempt<T>(
        &self,
        attempt: LinkRow,
        error: ExchangeError,
    ) -> Result<T, PlatformError> {
        self.commit_links(vec![ended(attempt)]).await?;
        Err(error.into())
    }

    /// The partner's endpoint, if it exists and is enabled.
    fn enabled_endpoint(
        &self,
        partner_id: u128,
    ) -> Result<ports::gateway::PartnerEndpoint, PlatformError> {
        let enabled = self
            .catalogue
            .lock()
            .partners
            .get(&partner_id)
            .map(|partner| partner.enabled);
        match enabled {
            None => return Err(PlatformError::NotFound(Entity::Partner)),
            Some(false) => return Err(PlatformError::Exchange(ExchangeError::PartnerDisabled)),
            Some(true) => {}
        }
        self.endpoint(partner_id)
            .ok_or(PlatformError::NotFound(Entity::Partner))
    }

    /// The member's links not removed, of every status.
    async fn links_of(&self, member_id: u128) -> Result<Vec<LinkRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::links_of(read, member_id))
            .await?)
    }

    /// The member's link with this id, if it is theirs (removed or not).
    async fn own_link(
        &self,
        member_id: u128,
        link_id: u128,
    ) -> Result<Option<LinkRow>, PlatformError> {
        let link = self
            .ledger
            .tables(move |read| tables::link(read, link_id))
            .await?;
        Ok(link.filter(|link| link.member_id == member_id))
    }

    /// Writes links in one commit and waits until it is durable.
    async fn commit_links(&self, links: Vec<LinkRow>) -> Result<(), PlatformError> {
        let rows: Vec<RowRef> = links
            .into_iter()
            .map(|link| Arc::new(ExchangeWrite::Link(link)) as RowRef)
            .collect();
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }

    /// The member's links: active ones with live balances (asked of the partners
    /// concurrently), attempts still waiting for their proof, and unproven ones.
    pub async fn links(&self, member_id: u128) -> Result<Vec<LinkView>, PlatformError> {
        let now = now_s();
        let links = self.links_of(member_id).await?;
        let reads = links
            .into_iter()
            .filter(|link| !attempt_expired(link, now))
            .map(|link| self.link_view(link));
        Ok(join_all(reads).await)
    }

    async fn link_view(&self, link: LinkRow) -> LinkView {
        let partner_name = self
            .catalogue
            .lock()
            .partners
            .get(&link.partner_id)
            .map(|partner| partner.name.clone())
            .unwrap_or_default();
        let balance = match (link.status, self.endpoint(link.partner_id)) {
            // Only a proven membership is the member's to read.
            (LinkStatus::PendingProof | LinkStatus::Unproven, _) => {
                Err("the partner has not proven this link".to_string())
            }
            (LinkStatus::Active, None) => Err("unknown partner".to_string()),
            (LinkStatus::Active, Some(endpoint)) => {
                let wait = Duration::from_millis(LIVE_BALANCE_WAIT_MS);
                let read = self.partner_gateway.balance(&endpoint, &link.member_ref);
                match tokio::time::timeout(wait, read).await {
                    Ok(Ok(balance)) => Ok(balance),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("the partner did not answer in time".to_string()),
                }
            }
        };
        LinkView {
            link,
            partner_name,
            balance,
        }
    }

    /// Unlinks: an active or unproven link, or an attempt (refused while an exchange on the
    /// link is unresolved).
    pub async fn unlink_partner(
        &self,
        member_id: u128,
        link_id: u128,
    ) -> Result<(), PlatformError> {
        let _claim = self.exchanges.claim(Claimed::Links(member_id)).await?;
        let link = self
            .own_link(member_id, link_id)
            .await?
            .filter(|link| !link.removed)
            .ok_or(PlatformError::NotFound(Entity::Link))?;
        let reference = Claimed::Reference(link.partner_id, link.member_ref.clone());
        let _reference = self.exchanges.claim(reference).await?;
        let busy = self
            .exchanges
            .lock()
            .open
            .values()
            .any(|tracked| tracked.record.link_id == link_id);
        if busy {
            return Err(PlatformError::Member(MemberError::ExchangeInProgress));
        }
        self.commit_links(vec![ended(link)]).await
    }
}

/// Whether `link` is an attempt past its expiry.
fn attempt_expired(link: &LinkRow, now_s: u64) -> bool {
    link.status == LinkStatus::PendingProof && link.expires_at_s.is_none_or(|end| now_s >= end)
}

/// The link removed, with the secrets of its proof gone.
fn ended(link: LinkRow) -> LinkRow {
    LinkRow {
        removed: true,
        state_hash: None,
        verifier_sealed: None,
        ..link
    }
}

/// Refuses a new link when the member's active and unproven links are at the maximum.
fn check_links_room(links: &[LinkRow]) -> Result<(), PlatformError> {
    let held = links
        .iter()
        .filter(|link| link.status != LinkStatus::PendingProof)
        .count();
    if held >= LINKS_PER_MEMBER_MAX {
        let detail = format!("at most {LINKS_PER_MEMBER_MAX} links");
        return Err(invalid("partner_id", detail));
    }
    Ok(())
}
