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
    /// What a refused or timed-out claim answers.
    busy_detail: &'static str,
}

struct Inner<K> {
    held: HashSet<K>,
    /// Bumped whenever a claim goes, for claims waiting for one.
    released: watch::Sender<u64>,
}

impl<K: Clone + Eq + Hash> Claims<K> {
    pub(crate) fn new(claims_max: usize, wait_ms: u64, busy_detail: &'static str) -> Claims<K> {
        Claims {
            inner: Mutex::new(Inner {
                held: HashSet::new(),
                released: watch::Sender::new(0),
            }),
            claims_max,
            wait_ms,
            busy_detail,
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
                        return Err(self.busy());
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
                return Err(self.busy());
            }
        }
    }

    fn busy(&self) -> PlatformError {
        PlatformError::Unavailable(self.busy_detail.into())
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

    #[tokio::test]
    async fn one_claim_per_key_and_none_past_the_maximum() {
        let claims: Claims<u32> = Claims::new(2, 50, "busy");
        let first = claims.claim(1).await.unwrap();
        let _other = claims.claim(2).await.unwrap();
        // At the maximum: a third key is refused at once.
        assert!(claims.claim(3).await.is_err());
        // The same key waits for the first claim, and times out while it is held.
        assert!(claims.claim(1).await.is_err());
        drop(first);
        let again = claims.claim(1).await;
        assert!(again.is_ok());
    }

    #[tokio::test]
    async fn a_waiting_claim_gets_the_key_when_it_goes() {
        let claims: std::sync::Arc<Claims<u32>> =
            std::sync::Arc::new(Claims::new(8, 5_000, "busy"));
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
