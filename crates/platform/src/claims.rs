//! Claims: at most one operation per key at a time, within one context.
//!
//! A context that reads a row, decides and commits its change (a member's wrong-PIN count,
//! a member's exchange limits, a partner's reference) claims the row's key first; another
//! operation on the same key waits until the claim goes (at most its context's wait), then
//! reads what the first one committed. The set of claims is bounded: past its maximum a
//! new claim is refused (503), so a flood cannot grow memory.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::PlatformError;

/// The claims of one context on keys `K`.
pub(crate) struct Claims<K> {
    inner: Mutex<Inner<K>>,
    /// Most claims held at once.
    claims_max: usize,
    /// How long a claim waits for another one on its key.
    wait_ms: u64,
    /// What a claim refused at the maximum answers.
    full_detail: &'static str,
    /// What a claim that waited in vain answers.
    wait_detail: &'static str,
}

/// What a context's claims answer when they cannot be had.
pub(crate) struct ClaimDetails {
    /// At the maximum of claims held.
    pub full: &'static str,
    /// After waiting for another claim on the key.
    pub wait: &'static str,
}

struct Inner<K> {
    held: HashSet<K>,
    /// Bumped whenever a claim goes, for claims waiting for one.
    released: watch::Sender<u64>,
}

impl<K: Clone + Eq + Hash> Claims<K> {
    pub(crate) fn new(claims_max: usize, wait_ms: u64, details: ClaimDetails) -> Claims<K> {
        Claims {
            inner: Mutex::new(Inner {
                held: HashSet::new(),
                released: watch::Sender::new(0),
            }),
            claims_max,
            wait_ms,
            full_detail: details.full,
            wait_detail: details.wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        self.inner.lock().expect("claims lock")
    }

    /// Claims `key`, waiting while another holds it.
    pub(crate) async fn claim(&self, key: K) -> Result<Claim<'_, K>, PlatformError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.wait_ms);
        loop {
            let mut released = {
                let mut inner = self.lock();
                if !inner.held.contains(&key) {
                    if inner.held.len() >= self.claims_max {
                        return Err(PlatformError::Unavailable(self.full_detail.into()));
                    }
                    inner.held.insert(key.clone());
                    return Ok(Claim { claims: self, key });
                }
                inner.released.subscribe()
            };
            if tokio::time::timeout_at(deadline, released.changed())
                .await
                .is_err()
            {
                return Err(PlatformError::Unavailable(self.wait_detail.into()));
            }
        }
    }
}

/// A claim, released (and waiters woken) when dropped.
pub(crate) struct Claim<'a, K: Clone + Eq + Hash> {
    claims: &'a Claims<K>,
    key: K,
}

impl<K: Clone + Eq + Hash> Drop for Claim<'_, K> {
    fn drop(&mut self) {
        let mut inner = self.claims.lock();
        inner.held.remove(&self.key);
        inner
            .released
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DETAILS: ClaimDetails = ClaimDetails {
        full: "full",
        wait: "waited",
    };

    #[tokio::test]
    async fn one_claim_per_key_and_none_past_the_maximum() {
        let claims: Claims<u32> = Claims::new(2, 50, DETAILS);
        let first = claims.claim(1).await.unwrap();
        let _other = claims.claim(2).await.unwrap();
        // At the maximum: a third key is refused at once.
        let full = PlatformError::Unavailable("full".into());
        assert_eq!(claims.claim(3).await.err(), Some(full));
        // The same key waits for the first claim, and times out while it is held.
        let waited = PlatformError::Unavailable("waited".into());
        assert_eq!(claims.claim(1).await.err(), Some(waited));
        drop(first);
        let again = claims.claim(1).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn a_waiting_claim_gets_the_key_when_it_goes() {
        let claims: std::sync::Arc<Claims<u32>> =
            std::sync::Arc::new(Claims::new(8, 5_000, DETAILS));
        let first = claims.claim(7).await.unwrap();
        let waiter = {
            let claims = claims.clone();
            tokio::spawn(async move { claims.claim(7).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        waiter.await.unwrap().unwrap();
    }
}
