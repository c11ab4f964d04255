//! Pay codes (DESIGN.md, "Pay codes"): what a member shows at the till.
//!
//! A code is 20 digits: the 2-digit [`ROUTING_PREFIX`] (so a VAN routes it to Mileverse), a
//! 10-digit device handle (random, unique, not derived from the member id) and the 8-digit
//! TOTP (RFC 6238, HMAC-SHA256, 30 s steps; see `totp`) of the secret enrolled for that
//! device. The app holds the secret and computes codes offline; the server can issue the same
//! code (`POST /v1/paycodes`).
//!
//! Checks, in order: the shape and prefix; a known handle whose device the member still has;
//! fewer than [`GUESSES_PER_WINDOW_MAX`] wrong codes for the handle in the last
//! [`GUESS_WINDOW_S`]; the code of a step within [`WINDOW_STEPS`] of now that was not used
//! yet. A code right for an older step (up to [`EXPIRED_STEPS_MAX`] back) is `Expired`,
//! anything else `Invalid` (and counts as a wrong guess).
//!
//! State: enrolled devices and used codes live in their tables (`store::tables::paycodes`):
//! a device's secret sealed with the data key, and each used (handle, step) written in the
//! commit of the payment that used it, so a restart cannot make a used code good again.
//! Memory keeps bounded working sets only ([`Paycodes`]):
//! - devices read from the table, with their secrets opened ([`DEVICES_CACHED_MAX`]);
//!   forgotten before and after every change of a member's devices;
//! - the used steps of the live window per handle ([`USED_HANDLES_MAX`]): only a step
//!   within [`WINDOW_STEPS`] of now can be accepted, so older ones are dropped; start
//!   reloads the last [`USED_KEPT_S`] from the table (through its time index), and the
//!   table's older rows are purged with a later use's commit;
//!
//! Wrong codes per handle are counted with the abuse limits' counters
//! (`limits::PAYCODE_GUESSES_PER_HANDLE`), which are written to their table every few
//! seconds and reloaded at start: a restart does not hand a guesser a fresh window.

pub mod error;
pub use error::PaycodeDecline;
mod devices;
mod legacy;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use store::tables::RowRef;
use store::tables::paycodes::{self as tables, DeviceRow, PaycodeWrite, UsedRow};

use crate::Platform;
use crate::claims::{ClaimDetails, Claims};
use crate::error::PlatformError;
use crate::limits::{self, GuessGate};
use crate::members::MemberGate;
use crate::totp::{format_code, step_of, totp_at_step};

pub(crate) use legacy::legacy_row;
pub use legacy::{KIND_PAYCODE_DEVICE, KIND_USED_PAYCODE};

/// Mileverse's routing prefix: the first two digits of every pay code.
pub const ROUTING_PREFIX: &str = "91";
pub const CODE_DIGITS: usize = 20;
pub const HANDLE_DIGITS: usize = 10;
/// Length of an enrolled secret (the HMAC-SHA256 block's worth of key RFC 6238 uses).
pub const SECRET_BYTES: usize = 32;
/// Steps either side of the current one in which a code is accepted (clock drift and the
/// time a code takes from screen to scanner): about 90 s in all.
pub const WINDOW_STEPS: u64 = 1;
/// How many steps back a right code is still recognised, to answer `Expired` rather than
/// `Invalid` (a member who waited too long should be told so).
pub const EXPIRED_STEPS_MAX: u64 = 10;
/// Wrong codes per device handle within [`GUESS_WINDOW_S`] before the handle is refused.
pub const GUESSES_PER_WINDOW_MAX: u32 = 5;
pub const GUESS_WINDOW_S: u64 = 300;
/// Random handles drawn before giving up on finding a free one (10^10 handles: a clash
/// is rare, 32 in a row means something is wrong).
const HANDLE_DRAWS_MAX: u32 = 32;
const HANDLE_SPACE: u64 = 10_000_000_000;
/// Devices kept with their opened secrets (a hit saves a table read and an unseal per
/// payment). Past it the cache is emptied and refills as members pay.
pub const DEVICES_CACHED_MAX: usize = 131_072;
/// Handles with a used step in the live window kept in memory (about 90 s of payments).
/// Past it, once handles with no live step are dropped, a payment answers 503.
pub const USED_HANDLES_MAX: usize = 1_000_000;
/// How long used codes stay in the table, and how far back start reloads them: longer
/// than any code is recognised ([`EXPIRED_STEPS_MAX`] steps).
pub const USED_KEPT_S: u64 = 600;
const _: () = assert!(USED_KEPT_S > EXPIRED_STEPS_MAX * crate::totp::STEP_S);
/// Least time between two purges of older used codes (each rides on a use's commit).
pub const USED_PURGE_INTERVAL_S: u64 = 60;
/// Enrollments under way at once (one per member at a time).
pub const ENROLLMENT_CLAIMS_MAX: usize = 4_096;
const ENROLLMENT_WAIT_MS: u64 = 10_000;

/// A device enrolled for pay codes, as the older layout's record held it (the handle's 10
/// digits as text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaycodeDeviceRecord {
    pub handle: String,
    pub member_id: u128,
    /// The member's device the secret was given to.
    pub device_id: u128,
    #[serde(with = "hex")]
    pub secret_sealed: Vec<u8>,
    pub enrolled_at_s: u64,
}

/// A used (handle, step), as the older layout's record held it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedPaycodeRecord {
    pub handle: String,
    pub step: u64,
    pub member_id: u128,
    pub used_at_s: u64,
}

/// What the app stores at enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaycodeEnrollment {
    pub device_handle: String,
    pub secret: Vec<u8>,
    pub routing_prefix: &'static str,
}

/// An enrolled device with its secret opened.
#[derive(Clone)]
pub(crate) struct Device {
    pub handle: u64,
    pub member_id: u128,
    pub device_id: u128,
    secret: Arc<[u8]>,
}

/// Devices read from the table, and a generation every change of devices bumps (so no
/// device read before a change is kept after it).
#[derive(Default)]
struct DeviceCache {
    devices: HashMap<u64, Device>,
    generation: u64,
}

/// The used steps of the live window per handle, and when the table was last purged.
struct UsedWindow {
    by_handle: HashMap<u64, BTreeSet<u64>>,
    /// [`USED_HANDLES_MAX`], but for tests.
    handles_max: usize,
    purged_at_s: u64,
}

impl UsedWindow {
    fn new(handles_max: usize) -> UsedWindow {
        UsedWindow {
            by_handle: HashMap::new(),
            handles_max,
            purged_at_s: 0,
        }
    }

    fn is_used(&self, handle: u64, step: u64) -> bool {
        self.by_handle
            .get(&handle)
            .is_some_and(|steps| steps.contains(&step))
    }

    /// Whether one more handle fits, once the handles with no live step are dropped.
    fn has_room(&mut self, handle: u64, now_s: u64) -> bool {
        if self.by_handle.len() < self.handles_max || self.by_handle.contains_key(&handle) {
            return true;
        }
        let oldest_live = step_of(now_s).saturating_sub(WINDOW_STEPS);
        self.by_handle
            .retain(|_, steps| steps.last().is_some_and(|&last| last >= oldest_live));
        self.by_handle.len() < self.handles_max
    }

    /// Marks `step` used, dropping the handle's steps no window can reach any more (a code
    /// of step s is accepted until step s + WINDOW_STEPS).
    fn mark(&mut self, handle: u64, step: u64, now_s: u64) {
        let oldest_live = step_of(now_s).saturating_sub(WINDOW_STEPS);
        let steps = self.by_handle.entry(handle).or_default();
        steps.retain(|&old| old >= oldest_live);
        steps.insert(step);
    }

    /// A purge of the table's older rows, if one is due at `now_s`.
    fn purge_due(&mut self, now_s: u64) -> Option<PaycodeWrite> {
        if now_s < self.purged_at_s.saturating_add(USED_PURGE_INTERVAL_S) {
            return None;
        }
        self.purged_at_s = now_s;
        Some(PaycodeWrite::PurgeUsed {
            before_s: now_s.saturating_sub(USED_KEPT_S),
        })
    }
}

/// The pay codes' working set: cached devices, the live window's used steps, and the
/// enrollments under way. (Wrong guesses are counted with the rate limits.)
pub struct Paycodes {
    devices: Mutex<DeviceCache>,
    used: Mutex<UsedWindow>,
    /// One enrollment per member at a time.
    enrollments: Claims<u128>,
}

impl Default for Paycodes {
    fn default() -> Self {
        Paycodes {
            devices: Mutex::new(DeviceCache::default()),
            used: Mutex::new(UsedWindow::new(USED_HANDLES_MAX)),
            enrollments: Claims::new(
                ENROLLMENT_CLAIMS_MAX,
                ENROLLMENT_WAIT_MS,
                ClaimDetails {
                    full: "too many enrollments under way; retry",
                    wait: "another enrollment of this member is under way; retry",
                },
            ),
        }
    }
}

impl Paycodes {
    fn devices(&self) -> MutexGuard<'_, DeviceCache> {
        self.devices.lock().expect("pay code devices lock")
    }

    fn used(&self) -> MutexGuard<'_, UsedWindow> {
        self.used.lock().expect("used pay codes lock")
    }

    /// Forgets cached devices (a member's devices change).
    fn forget(&self, handles: &[u64]) {
        let mut cache = self.devices();
        cache.generation = cache.generation.wrapping_add(1);
        for handle in handles {
            cache.devices.remove(handle);
        }
    }

    /// Keeps a device read from the table, unless devices changed since it was read.
    fn keep(&self, device: &Device, generation: u64) {
        let mut cache = self.devices();
        if cache.generation != generation {
            return;
        }
        if cache.devices.len() >= DEVICES_CACHED_MAX {
            cache.devices.clear();
        }
        cache.devices.insert(device.handle, device.clone());
    }

    /// Whether the step is used (in the live window).
    fn is_used(&self, handle: u64, step: u64) -> bool {
        self.used().is_used(handle, step)
    }

    /// Whether the live window has room for a use of `handle`.
    pub(crate) fn has_room(&self, handle: u64, now_s: u64) -> bool {
        self.used().has_room(handle, now_s)
    }

    /// Checks a presented code of `device` and marks its step used. On success: the rows
    /// that record the use (to be committed with the payment's).
    pub(crate) fn redeem(
        &self,
        device: &Device,
        otp: u32,
        now_s: u64,
        guesses: &GuessGate<'_>,
    ) -> Result<Vec<RowRef>, PaycodeDecline> {
        let handle = device.handle;
        // Before the code is looked at: once refused, even the right code is refused, so
        // guessing gains nothing until the window passes.
        if !guesses.left(now_s) {
            return Err(PaycodeDecline::TooManyGuesses);
        }
        let steps = match judge(&device.secret, otp, step_of(now_s)) {
            Verdict::Current(steps) => steps,
            Verdict::Expired => return Err(PaycodeDecline::Expired),
            Verdict::Invalid => {
                guesses.record(now_s);
                return Err(PaycodeDecline::Invalid);
            }
        };
        let mut used = self.used();
        let step = steps
            .into_iter()
            .find(|&step| !used.is_used(handle, step))
            .ok_or(PaycodeDecline::Used)?;
        used.mark(handle, step, now_s);
        let mut writes = vec![PaycodeWrite::Used(UsedRow {
            handle,
            step,
            member_id: device.member_id,
            used_at_s: now_s,
        })];
        writes.extend(used.purge_due(now_s));
        Ok(writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect())
    }
}

/// The handle of 10 ASCII digits, if that is what `text` is.
pub fn parse_handle(text: &str) -> Option<u64> {
    if text.len() != HANDLE_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub fn handle_text(handle: u64) -> String {
    format!("{handle:0width$}", width = HANDLE_DIGITS)
}

/// Splits a 20-digit code with Mileverse's prefix into (handle, TOTP).
pub fn parse_code(code: &str) -> Option<(u64, u32)> {
    if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = code.strip_prefix(ROUTING_PREFIX)?;
    let (handle, otp) = rest.split_at(HANDLE_DIGITS);
    Some((handle.parse().ok()?, otp.parse().ok()?))
}

/// The 20-digit code of `handle` with the TOTP `otp`.
pub fn compose_code(handle: u64, otp: u32) -> String {
    format!(
        "{ROUTING_PREFIX}{}{}",
        handle_text(handle),
        format_code(otp)
    )
}

/// Associated data of a device's sealed secret.
fn secret_context(handle: u64) -> Vec<u8> {
    format!("paycode_device/{}/secret", handle_text(handle)).into_bytes()
}

/// Where a presented code matches.
enum Verdict {
    /// Steps within the window whose code it is (almost always one).
    Current(Vec<u64>),
    Expired,
    Invalid,
}

fn judge(secret: &[u8], otp: u32, now_step: u64) -> Verdict {
    let first = now_step.saturating_sub(WINDOW_STEPS);
    let last = now_step.saturating_add(WINDOW_STEPS);
    let matches: Vec<u64> = (first..=last)
        .filter(|&step| totp_at_step(secret, step) == otp)
        .collect();
    if !matches.is_empty() {
        return Verdict::Current(matches);
    }
    let oldest = now_step.saturating_sub(EXPIRED_STEPS_MAX);
    if (oldest..first).any(|step| totp_at_step(secret, step) == otp) {
        return Verdict::Expired;
    }
    Verdict::Invalid
}

impl Platform {
    /// The enrolled device of `handle`, with its secret opened: from the cache, or read
    /// from the table and kept. `None` for a handle no device has (or whose secret does not
    /// open with this data key, which is logged).
    pub(crate) async fn paycode_device(
        &self,
        handle: u64,
    ) -> Result<Option<Device>, PlatformError> {
        let generation = {
            let cache = self.paycodes.devices();
            if let Some(device) = cache.devices.get(&handle) {
                return Ok(Some(device.clone()));
            }
            cache.generation
        };
        let row = self
            .ledger
            .tables(move |read| tables::device(read, handle))
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let Some(device) = self.opened_device(row) else {
            return Ok(None);
        };
        self.paycodes.keep(&device, generation);
        Ok(Some(device))
    }

    fn opened_device(&self, row: DeviceRow) -> Option<Device> {
        let opened = self
            .keys
            .open(&row.secret_sealed, &secret_context(row.handle));
        match opened {
            Ok(secret) => Some(Device {
                handle: row.handle,
                member_id: row.member_id,
                device_id: row.device_id,
                secret: secret.into(),
            }),
            Err(error) => {
                tracing::error!(%error, handle = row.handle, "a pay code secret does not open");
                None
            }
        }
    }

    /// The device a presented pay code names and its member's gate, read before the code
    /// is checked under the lock (none for a code that names no enrolled device).
    pub(crate) async fn presented_paycode(
        &self,
        code: &str,
    ) -> Result<Option<(Device, Option<MemberGate>)>, PlatformError> {
        let Some((handle, _)) = parse_code(code) else {
            return Ok(None);
        };
        let Some(device) = self.paycode_device(handle).await? else {
            return Ok(None);
        };
        let gate = self.member_gate(device.member_id).await?;
        Ok(Some((device, gate)))
    }

    /// Checks a pay code presented at a till against its `device` (read before) and marks
    /// it used. On success: the member and the rows that record the use (to be committed
    /// with the authorization's own).
    pub(crate) fn redeem_paycode(
        &self,
        code: &str,
        device: Option<&Device>,
        now_s: u64,
        gate: Option<&MemberGate>,
    ) -> Result<(u128, Vec<RowRef>), PaycodeDecline> {
        let (handle, otp) = parse_code(code).ok_or(PaycodeDecline::Invalid)?;
        let device = device
            .filter(|device| device.handle == handle)
            .ok_or(PaycodeDecline::Invalid)?;
        if !gate.is_some_and(|gate| gate.has_device(device.member_id, device.device_id)) {
            return Err(PaycodeDecline::Invalid);
        }
        let guesses = self.guess_gate(limits::PAYCODE_GUESSES_PER_HANDLE, &handle.to_be_bytes());
        let rows = self.paycodes.redeem(device, otp, now_s, &guesses)?;
        Ok((device.member_id, rows))
    }

    /// `Platform::redeem_paycode` on its own: checks the code, marks it used and waits
    /// until the use is durable. For callers with no rows of their own to go with it.
    pub async fn accept_paycode(&self, code: &str, now_s: u64) -> Result<u128, PlatformError> {
        let presented = self.presented_paycode(code).await?;
        let (device, gate) = match &presented {
            Some((device, gate)) => (Some(device), gate.as_ref()),
            None => (None, None),
        };
        let (member_id, rows) = self
            .redeem_paycode(code, device, now_s, gate)
            .map_err(PlatformError::Paycode)?;
        self.ledger.record(rows).await?;
        Ok(member_id)
    }

    /// At start: the used codes of the last [`USED_KEPT_S`], from the table's time index.
    pub(crate) async fn load_used_paycodes(&self) -> Result<(), PlatformError> {
        let since_s = ports::time::now_s().saturating_sub(USED_KEPT_S);
        let mut after = None;
        loop {
            let page = self
                .ledger
                .tables(move |read| tables::used_since(read, since_s, after, tables::USED_PAGE_MAX))
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some((last.used_at_s, last.handle, last.step));
            let mut used = self.paycodes.used();
            for row in &page {
                used.by_handle
                    .entry(row.handle)
                    .or_default()
                    .insert(row.step);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp::STEP_S;

    const NOW_S: u64 = 1_800_000_000;

    #[test]
    fn the_used_window_keeps_live_steps_and_stops_at_its_maximum() {
        let handles_max = 64;
        let mut window = UsedWindow::new(handles_max);
        let now_step = step_of(NOW_S);
        for handle in 0..handles_max as u64 {
            assert!(window.has_room(handle, NOW_S));
            window.mark(handle, now_step, NOW_S);
        }
        assert!(window.is_used(7, now_step));
        assert!(!window.is_used(7, now_step + 1));
        // Full of live steps: a new handle waits, a handle already kept goes on.
        assert!(!window.has_room(handles_max as u64, NOW_S));
        assert!(window.has_room(3, NOW_S));
        window.mark(3, now_step + 1, NOW_S);
        assert!(window.is_used(3, now_step) && window.is_used(3, now_step + 1));
        // Once the window moved past those steps, they are dropped and room is made.
        let later_s = NOW_S + (WINDOW_STEPS + 2) * STEP_S;
        assert!(window.has_room(handles_max as u64, later_s));
        assert!(window.by_handle.is_empty(), "no live step is left");
        // A handle's own old steps go when it is marked again.
        window.mark(9, now_step, NOW_S);
        window.mark(9, step_of(later_s), later_s);
        assert_eq!(window.by_handle[&9].len(), 1);
    }

    #[test]
    fn old_used_codes_are_purged_at_most_once_per_interval() {
        let mut window = UsedWindow::new(8);
        let first = window.purge_due(NOW_S);
        assert_eq!(
            first,
            Some(PaycodeWrite::PurgeUsed {
                before_s: NOW_S - USED_KEPT_S
            })
        );
        assert_eq!(window.purge_due(NOW_S + USED_PURGE_INTERVAL_S - 1), None);
        assert!(window.purge_due(NOW_S + USED_PURGE_INTERVAL_S).is_some());
    }
}
