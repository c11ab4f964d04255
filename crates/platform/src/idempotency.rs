//! `Idempotency-Key` as the IETF draft (draft-ietf-httpapi-idempotency-key-header) has it,
//! for the member requests that move value: exchanges, voucher purchases, conversions, P2P
//! transfers.
//!
//! - The key is 1 to [`IDEMPOTENCY_KEY_BYTES_MAX`] bytes of visible ASCII, scoped to the
//!   member and the kind of request; it is stored on the request's own row, whose unique
//!   index (`member_id, idempotency_key`) makes a second row under it impossible.
//! - A retry with the same key and the same body answers the stored result, marked
//!   [`Replayable::replayed`] (HTTP: `Idempotent-Replayed: true`); another body under the
//!   key is [`PlatformError::IdempotencyConflict`] (422).
//! - While the first request under a key is still being processed, a second one is
//!   [`PlatformError::IdempotencyInFlight`] (409) instead of waiting: the client retries.
//!   The keys in flight are the only state here, bounded by [`IN_FLIGHT_KEYS_MAX`].
//! - A key expires [`IDEMPOTENCY_KEY_TTL_S`] after its request: the resolver's housekeeping
//!   clears expired keys from the rows (at most a batch per table per sweep), after which
//!   the key names a new request. The row itself, and its ledger transfers, stay.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::error::{PlatformError, invalid};

/// Longest key accepted.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;
/// How long a key names its request: a day, well beyond any client's retries.
pub const IDEMPOTENCY_KEY_TTL_S: u64 = 24 * 3600;
/// How often the housekeeping clears expired keys.
pub const IDEMPOTENCY_SWEEP_INTERVAL_S: u64 = 60;
/// Most keys in flight at once, all members and kinds together (each is a request being
/// processed, so the server's concurrency bounds it long before this).
pub const IN_FLIGHT_KEYS_MAX: usize = 65_536;

/// The kind of request a key is scoped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Exchange,
    VoucherPurchase,
    Conversion,
    Transfer,
    Trade,
    Tip,
}

/// An answer, and whether it is the stored answer of an earlier request under its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayable<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Replayable<T> {
    pub fn fresh(value: T) -> Replayable<T> {
        Replayable {
            value,
            replayed: false,
        }
    }

    pub fn replayed(value: T) -> Replayable<T> {
        Replayable {
            value,
            replayed: true,
        }
    }
}

/// Checks a key's shape: 1 to [`IDEMPOTENCY_KEY_BYTES_MAX`] bytes of visible ASCII.
pub fn check_key(key: &str) -> Result<(), PlatformError> {
    let visible = key
        .bytes()
        .all(|byte| byte.is_ascii_graphic() || byte == b' ');
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX || !visible {
        let detail = format!("1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes of visible ASCII");
        return Err(invalid("Idempotency-Key", detail));
    }
    Ok(())
}

type InFlightKey = (Scope, u128, String);

/// The keys whose first request is being processed.
#[derive(Debug, Default)]
pub struct InFlight {
    keys: Arc<Mutex<HashSet<InFlightKey>>>,
}

/// Holds a key in flight until dropped (the request answered, failed, or was abandoned).
#[derive(Debug)]
pub struct InFlightGuard {
    keys: Arc<Mutex<HashSet<InFlightKey>>>,
    key: InFlightKey,
}

impl InFlight {
    /// Checks `key` and marks it in flight for `member_id`; `None` without a key.
    pub fn begin(
        &self,
        scope: Scope,
        member_id: u128,
        key: Option<&str>,
    ) -> Result<Option<InFlightGuard>, PlatformError> {
        let Some(key) = key else {
            return Ok(None);
        };
        check_key(key)?;
        let entry = (scope, member_id, key.to_string());
        let mut keys = self.keys.lock().expect("in-flight keys lock");
        if keys.contains(&entry) {
            return Err(PlatformError::IdempotencyInFlight);
        }
        if keys.len() >= IN_FLIGHT_KEYS_MAX {
            return Err(PlatformError::Unavailable(
                "too many requests in flight; retry later".into(),
            ));
        }
        keys.insert(entry.clone());
        Ok(Some(InFlightGuard {
            keys: self.keys.clone(),
            key: entry,
        }))
    }

    /// How many keys are in flight now.
    pub fn len(&self) -> usize {
        self.keys.lock().expect("in-flight keys lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let removed = self
            .keys
            .lock()
            .expect("in-flight keys lock")
            .remove(&self.key);
        debug_assert!(removed, "a key in flight is held by one guard");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_request_under_a_key_in_flight_is_refused_until_the_first_ends() {
        let in_flight = InFlight::default();
        let first = in_flight.begin(Scope::Exchange, 7, Some("k")).unwrap();
        let again = in_flight.begin(Scope::Exchange, 7, Some("k"));
        assert!(matches!(again, Err(PlatformError::IdempotencyInFlight)));
        // Another member, another kind: their own keys.
        assert!(in_flight.begin(Scope::Exchange, 8, Some("k")).is_ok());
        assert!(in_flight.begin(Scope::Conversion, 7, Some("k")).is_ok());
        drop(first);
        assert!(in_flight.begin(Scope::Exchange, 7, Some("k")).is_ok());
        assert!(in_flight.is_empty(), "every guard was dropped");
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(IDEMPOTENCY_KEY_BYTES_MAX)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(IDEMPOTENCY_KEY_BYTES_MAX + 1),
            "tab\there".into(),
            "é".into(),
        ] {
            assert!(check_key(&bad).is_err(), "{bad:?}");
        }
        let in_flight = InFlight::default();
        assert!(in_flight.begin(Scope::Exchange, 1, Some("")).is_err());
        assert!(in_flight.begin(Scope::Exchange, 1, None).unwrap().is_none());
    }

    #[test]
    fn in_flight_keys_are_bounded() {
        let in_flight = InFlight::default();
        let guards: Vec<_> = (0..IN_FLIGHT_KEYS_MAX)
            .map(|n| {
                in_flight
                    .begin(Scope::Exchange, n as u128, Some("k"))
                    .unwrap()
            })
            .collect();
        let over = in_flight.begin(Scope::Exchange, u128::MAX, Some("k"));
        assert!(matches!(over, Err(PlatformError::Unavailable(_))));
        drop(guards);
        assert!(in_flight.is_empty());
    }
}
