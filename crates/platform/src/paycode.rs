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
//! Secrets are sealed at rest with the data key; a used (handle, step) is stored as a
//! [`KIND_USED_PAYCODE`] record, so a restart cannot make a used code good again. Guess
//! counters live in memory only: a restart forgets them, which at most gives an attacker
//! another [`GUESSES_PER_WINDOW_MAX`] tries at a 1 in 10^8 chance each.

use crate::error::Entity;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rand::Rng;
use serde::{Deserialize, Serialize};
use store::records::{Record, RecordWrite};

use crate::Platform;
use crate::domain::{self, DecodeError, State};
use crate::error::{PlatformError, invalid};
use crate::members::MemberGate;
use crate::totp::{format_code, step_end_s, step_of, totp_at_step};

pub const KIND_PAYCODE_DEVICE: &str = "paycode_device";
pub const KIND_USED_PAYCODE: &str = "used_paycode";

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
pub const GUESSES_PER_WINDOW_MAX: usize = 5;
pub const GUESS_WINDOW_S: u64 = 300;
/// Random handles drawn before giving up on finding a free one (10^10 handles: a clash
/// is rare, 32 in a row means something is wrong).
const HANDLE_DRAWS_MAX: u32 = 32;
const HANDLE_SPACE: u64 = 10_000_000_000;

/// Why a pay code was not accepted (each is a VAN decline reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaycodeDecline {
    /// Not 20 digits, an unknown routing prefix or device handle, or a wrong code.
    #[error("the pay code is not valid")]
    Invalid,
    /// A code that was right in a time step that is over.
    #[error("the pay code expired; show a new one")]
    Expired,
    /// The code was already used.
    #[error("the pay code was already used; show a new one")]
    Used,
    /// Too many wrong codes for this device handle lately.
    #[error("too many wrong pay codes for this device; try again in a few minutes")]
    TooManyGuesses,
}

impl PaycodeDecline {
    /// A stable reason code (for VAN declines and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            PaycodeDecline::Invalid => "invalid_code",
            PaycodeDecline::Expired => "expired_code",
            PaycodeDecline::Used => "used_code",
            PaycodeDecline::TooManyGuesses => "too_many_guesses",
        }
    }
}

/// A device enrolled for pay codes. Key: the handle's 10 digits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaycodeDeviceRecord {
    pub handle: String,
    pub member_id: u128,
    /// The member's device (`MemberRecord.devices`) the secret was given to.
    pub device_id: u128,
    #[serde(with = "hex")]
    pub secret_sealed: Vec<u8>,
    pub enrolled_at_s: u64,
}

/// A (handle, step) whose code was used. Key: `<handle>/<step>`.
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

struct PaycodeDevice {
    record: PaycodeDeviceRecord,
    /// The opened secret, once needed (the data key is not at hand when records load).
    secret: Option<Vec<u8>>,
}

/// Pay code devices, used codes and guess counters.
#[derive(Default)]
pub struct PaycodeState {
    devices: HashMap<u64, PaycodeDevice>,
    /// (member, device) → handle; ordered so a member's handles are one range.
    handle_by_device: BTreeMap<(u128, u128), u64>,
    /// Handle → steps whose code was used (only the window's, once pruned).
    used: HashMap<u64, BTreeSet<u64>>,
    /// Handle → times of recent wrong codes, oldest first; memory only.
    guesses: HashMap<u64, VecDeque<u64>>,
}

fn decode_error(record: &Record, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        kind: record.kind.clone(),
        key: hex::encode(&record.key),
        reason: reason.into(),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(record: &Record) -> Result<T, DecodeError> {
    serde_json::from_slice(&record.value).map_err(|error| decode_error(record, error.to_string()))
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

fn used_key(handle: u64, step: u64) -> Vec<u8> {
    format!("{}/{step}", handle_text(handle)).into_bytes()
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

impl PaycodeState {
    /// Loads one stored record of the kinds above.
    pub fn load(&mut self, record: &Record) -> Result<(), DecodeError> {
        match record.kind.as_str() {
            KIND_PAYCODE_DEVICE => {
                let device: PaycodeDeviceRecord = decode(record)?;
                parse_handle(&device.handle)
                    .ok_or_else(|| decode_error(record, "the handle is not 10 digits"))?;
                self.insert_device(device, None);
            }
            KIND_USED_PAYCODE => {
                let used: UsedPaycodeRecord = decode(record)?;
                let handle = parse_handle(&used.handle)
                    .ok_or_else(|| decode_error(record, "the handle is not 10 digits"))?;
                self.used.entry(handle).or_default().insert(used.step);
            }
            other => {
                return Err(decode_error(
                    record,
                    format!("not a pay code kind: {other}"),
                ));
            }
        }
        Ok(())
    }

    fn insert_device(&mut self, record: PaycodeDeviceRecord, secret: Option<Vec<u8>>) {
        let Some(handle) = parse_handle(&record.handle) else {
            return;
        };
        self.handle_by_device
            .insert((record.member_id, record.device_id), handle);
        self.devices
            .insert(handle, PaycodeDevice { record, secret });
    }

    fn remove_device(&mut self, handle: u64) {
        if let Some(device) = self.devices.remove(&handle) {
            let key = (device.record.member_id, device.record.device_id);
            self.handle_by_device.remove(&key);
        }
        self.guesses.remove(&handle);
    }

    /// The member's enrolled handles with their device ids.
    fn handles_of(&self, member_id: u128) -> Vec<(u128, u64)> {
        self.handle_by_device
            .range((member_id, 0)..=(member_id, u128::MAX))
            .map(|(&(_, device_id), &handle)| (device_id, handle))
            .collect()
    }

    /// The member whose device holds `handle`, if it is enrolled.
    pub fn member_of(&self, handle: u64) -> Option<u128> {
        self.devices
            .get(&handle)
            .map(|device| device.record.member_id)
    }

    /// Whether `step` of `handle` was used.
    pub fn is_used(&self, handle: u64, step: u64) -> bool {
        self.used
            .get(&handle)
            .is_some_and(|steps| steps.contains(&step))
    }

    /// Refuses a handle with too many recent wrong codes; forgets those out of the window.
    fn check_guesses(&mut self, handle: u64, now_s: u64) -> Result<(), PaycodeDecline> {
        let Some(times) = self.guesses.get_mut(&handle) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|&at_s| at_s.saturating_add(GUESS_WINDOW_S) <= now_s)
        {
            times.pop_front();
        }
        if times.is_empty() {
            self.guesses.remove(&handle);
        } else if times.len() >= GUESSES_PER_WINDOW_MAX {
            return Err(PaycodeDecline::TooManyGuesses);
        }
        Ok(())
    }

    fn record_guess(&mut self, handle: u64, now_s: u64) {
        self.guesses.entry(handle).or_default().push_back(now_s);
    }

    /// Marks `step` used and drops the handle's used steps that no window can reach any
    /// more (a code of step s is accepted until step s + WINDOW_STEPS).
    fn mark_used(
        &mut self,
        handle: u64,
        step: u64,
        member_id: u128,
        now_s: u64,
    ) -> Vec<RecordWrite> {
        let oldest_live = step_of(now_s).saturating_sub(WINDOW_STEPS);
        let steps = self.used.entry(handle).or_default();
        let stale: Vec<u64> = steps.range(..oldest_live).copied().collect();
        let mut writes = Vec::with_capacity(stale.len() + 1);
        for old in stale {
            steps.remove(&old);
            writes.push(domain::delete(KIND_USED_PAYCODE, &used_key(handle, old)));
        }
        steps.insert(step);
        let record = UsedPaycodeRecord {
            handle: handle_text(handle),
            step,
            member_id,
            used_at_s: now_s,
        };
        writes.push(domain::put(
            KIND_USED_PAYCODE,
            &used_key(handle, step),
            &record,
        ));
        writes
    }
}

/// Refuses a member who may not pay: unknown, withdrawn or locked.
fn check_member_may_pay(gate: Option<&MemberGate>) -> Result<&MemberGate, PlatformError> {
    let gate = gate.ok_or(PlatformError::NotFound(Entity::Member))?;
    gate.check_may_pay()?;
    Ok(gate)
}

/// Whether the member still has the device (a removed device's codes stop working).
fn has_device(gate: Option<&MemberGate>, member_id: u128, device_id: u128) -> bool {
    gate.is_some_and(|gate| gate.has_device(member_id, device_id))
}

fn draw_handle(paycodes: &PaycodeState) -> Result<u64, PlatformError> {
    let mut rng = rand::thread_rng();
    for _ in 0..HANDLE_DRAWS_MAX {
        let handle = rng.gen_range(0..HANDLE_SPACE);
        if !paycodes.devices.contains_key(&handle) && !paycodes.used.contains_key(&handle) {
            return Ok(handle);
        }
    }
    Err(PlatformError::Unavailable(
        "no free pay code device handle".into(),
    ))
}

impl Platform {
    /// The opened secret of an enrolled handle (opened once, then kept in memory).
    fn paycode_secret<'a>(&self, paycodes: &'a mut PaycodeState, handle: u64) -> Option<&'a [u8]> {
        let device = paycodes.devices.get_mut(&handle)?;
        if device.secret.is_none() {
            let opened = self
                .keys
                .open(&device.record.secret_sealed, &secret_context(handle));
            match opened {
                Ok(secret) => device.secret = Some(secret),
                Err(error) => {
                    tracing::error!(%error, "a pay code secret does not open");
                    return None;
                }
            }
        }
        device.secret.as_deref()
    }

    /// Checks a pay code presented at a till and marks it used. On success: the member and
    /// the writes that record the use (to be queued with the authorization's own, under the
    /// same state lock).
    pub(crate) fn redeem_paycode(
        &self,
        state: &mut State,
        code: &str,
        now_s: u64,
        gate: Option<&MemberGate>,
    ) -> Result<(u128, Vec<RecordWrite>), PaycodeDecline> {
        let (handle, otp) = parse_code(code).ok_or(PaycodeDecline::Invalid)?;
        let device = state
            .paycodes
            .devices
            .get(&handle)
            .ok_or(PaycodeDecline::Invalid)?;
        let (member_id, device_id) = (device.record.member_id, device.record.device_id);
        if !has_device(gate, member_id, device_id) {
            return Err(PaycodeDecline::Invalid);
        }
        let paycodes = &mut state.paycodes;
        // Before the code is looked at: once refused, even the right code is refused, so
        // guessing gains nothing until the window passes.
        paycodes.check_guesses(handle, now_s)?;
        let secret = self
            .paycode_secret(paycodes, handle)
            .ok_or(PaycodeDecline::Invalid)?;
        match judge(secret, otp, step_of(now_s)) {
            Verdict::Current(steps) => {
                let step = steps
                    .into_iter()
                    .find(|&step| !paycodes.is_used(handle, step))
                    .ok_or(PaycodeDecline::Used)?;
                Ok((
                    member_id,
                    paycodes.mark_used(handle, step, member_id, now_s),
                ))
            }
            Verdict::Expired => Err(PaycodeDecline::Expired),
            Verdict::Invalid => {
                paycodes.record_guess(handle, now_s);
                Err(PaycodeDecline::Invalid)
            }
        }
    }

    /// `Platform::redeem_paycode` on its own: checks the code, marks it used and waits
    /// until the use is durable. For callers with no writes of their own to go with it.
    pub async fn accept_paycode(&self, code: &str, now_s: u64) -> Result<u128, PlatformError> {
        let gate = self.paycode_gate(code).await?;
        let (sequence, member_id) = {
            let mut state = self.lock();
            let (member_id, writes) = self
                .redeem_paycode(&mut state, code, now_s, gate.as_ref())
                .map_err(PlatformError::Paycode)?;
            (self.queue(writes)?, member_id)
        };
        self.durable(sequence).await?;
        Ok(member_id)
    }

    /// Enrolls one of the member's registered devices for pay codes: a new 32-byte secret
    /// and the device's handle (kept when the device enrolls again; the old secret stops
    /// working). The secret is returned once and stored only sealed.
    pub async fn enroll_paycode_device(
        &self,
        member_id: u128,
        device_id: u128,
    ) -> Result<PaycodeEnrollment, PlatformError> {
        let secret: [u8; SECRET_BYTES] = rand::random();
        let gate = self.member_gate(member_id).await?;
        let (sequence, handle) = {
            let mut state = self.lock();
            let gate = check_member_may_pay(gate.as_ref())?;
            if !gate.has_device(member_id, device_id) {
                return Err(PlatformError::NotFound(Entity::Device));
            }
            let mut writes = Self::forget_removed_devices(&mut state, gate);
            let handle = match state.paycodes.handle_by_device.get(&(member_id, device_id)) {
                Some(&handle) => handle,
                None => draw_handle(&state.paycodes)?,
            };
            let record = PaycodeDeviceRecord {
                handle: handle_text(handle),
                member_id,
                device_id,
                secret_sealed: self.keys.seal(&secret, &secret_context(handle)),
                enrolled_at_s: ports::time::now_s(),
            };
            writes.push(domain::put(
                KIND_PAYCODE_DEVICE,
                record.handle.as_bytes(),
                &record,
            ));
            state.paycodes.insert_device(record, Some(secret.to_vec()));
            (self.queue(writes)?, handle)
        };
        self.durable(sequence).await?;
        Ok(PaycodeEnrollment {
            device_handle: handle_text(handle),
            secret: secret.to_vec(),
            routing_prefix: ROUTING_PREFIX,
        })
    }

    /// Drops the enrollments of devices the member removed since (their records too).
    fn forget_removed_devices(state: &mut State, gate: &MemberGate) -> Vec<RecordWrite> {
        let member_id = gate.member_id;
        let gone: Vec<u64> = state
            .paycodes
            .handles_of(member_id)
            .into_iter()
            .filter(|&(device_id, _)| !gate.has_device(member_id, device_id))
            .map(|(_, handle)| handle)
            .collect();
        gone.into_iter()
            .map(|handle| {
                state.paycodes.remove_device(handle);
                domain::delete(KIND_PAYCODE_DEVICE, handle_text(handle).as_bytes())
            })
            .collect()
    }

    /// A server-issued code for the member's device (`None`: the latest enrolled one) and
    /// when it stops being accepted (Unix seconds).
    pub async fn issue_paycode(
        &self,
        member_id: u128,
        device_handle: Option<&str>,
    ) -> Result<(String, u64), PlatformError> {
        self.issue_paycode_at(member_id, device_handle, ports::time::now_s())
            .await
    }

    /// [`Platform::issue_paycode`] at a given time. The code of the current step, or of the
    /// next one when the current one was used already (a member paying twice within 30 s):
    /// a code the till would refuse is no use.
    pub async fn issue_paycode_at(
        &self,
        member_id: u128,
        device_handle: Option<&str>,
        now_s: u64,
    ) -> Result<(String, u64), PlatformError> {
        self.settle_reads().await?;
        let gate = self.member_gate(member_id).await?;
        let gate = check_member_may_pay(gate.as_ref())?;
        let mut state = self.lock();
        let handle = Self::member_handle(&state, gate, device_handle)?;
        let now_step = step_of(now_s);
        let step = (now_step..=now_step.saturating_add(WINDOW_STEPS))
            .find(|&step| !state.paycodes.is_used(handle, step))
            .ok_or(PlatformError::Paycode(PaycodeDecline::Used))?;
        let secret = self
            .paycode_secret(&mut state.paycodes, handle)
            .ok_or_else(|| PlatformError::Unavailable("a pay code secret does not open".into()))?;
        let code = compose_code(handle, totp_at_step(secret, step));
        Ok((code, step_end_s(step.saturating_add(WINDOW_STEPS))))
    }

    /// The member's enrolled handle: the one named (it must be theirs) or the latest.
    fn member_handle(
        state: &State,
        gate: &MemberGate,
        device_handle: Option<&str>,
    ) -> Result<u64, PlatformError> {
        let member_id = gate.member_id;
        let not_found = PlatformError::NotFound(Entity::PaycodeDevice);
        let usable = |device_id: u128| gate.has_device(member_id, device_id);
        match device_handle {
            Some(text) => {
                let handle = parse_handle(text)
                    .ok_or_else(|| invalid("device_handle", "exactly 10 digits"))?;
                let device = state
                    .paycodes
                    .devices
                    .get(&handle)
                    .ok_or(not_found.clone())?;
                let record = &device.record;
                if record.member_id != member_id || !usable(record.device_id) {
                    return Err(not_found);
                }
                Ok(handle)
            }
            None => state
                .paycodes
                .handles_of(member_id)
                .into_iter()
                .filter(|&(device_id, _)| usable(device_id))
                .max_by_key(|&(_, handle)| {
                    (state.paycodes.devices[&handle].record.enrolled_at_s, handle)
                })
                .map(|(_, handle)| handle)
                .ok_or(not_found),
        }
    }

    /// Checks that `code` is the member's own and good right now (for rendering it as a
    /// barcode): another member's code, or one that is not a code, is not found.
    pub async fn check_own_paycode(
        &self,
        member_id: u128,
        code: &str,
        now_s: u64,
    ) -> Result<(), PlatformError> {
        let not_found = PlatformError::NotFound(Entity::Paycode);
        let (handle, otp) = parse_code(code).ok_or(not_found.clone())?;
        let gate = self.member_gate(member_id).await?;
        let mut state = self.lock();
        let device_id = match state.paycodes.devices.get(&handle) {
            Some(device) if device.record.member_id == member_id => device.record.device_id,
            _ => return Err(not_found),
        };
        if !has_device(gate.as_ref(), member_id, device_id) {
            return Err(not_found);
        }
        let secret = self
            .paycode_secret(&mut state.paycodes, handle)
            .ok_or(not_found)?;
        match judge(secret, otp, step_of(now_s)) {
            Verdict::Current(steps)
                if steps
                    .iter()
                    .all(|&step| state.paycodes.is_used(handle, step)) =>
            {
                Err(PlatformError::Paycode(PaycodeDecline::Used))
            }
            Verdict::Current(_) => Ok(()),
            Verdict::Expired => Err(PlatformError::Paycode(PaycodeDecline::Expired)),
            Verdict::Invalid => Err(PlatformError::Paycode(PaycodeDecline::Invalid)),
        }
    }
}

impl Platform {
    /// The gate of the member a pay code's device handle names (none for a code that names
    /// no enrolled device), read before the code is checked under the lock.
    pub(crate) async fn paycode_gate(
        &self,
        code: &str,
    ) -> Result<Option<MemberGate>, PlatformError> {
        let member_id = self.lock().paycode_member(code);
        match member_id {
            Some(member_id) => self.member_gate(member_id).await,
            None => Ok(None),
        }
    }
}

impl State {
    /// The member a pay code's device handle names, without checking the code.
    pub(crate) fn paycode_member(&self, code: &str) -> Option<u128> {
        let (handle, _) = parse_code(code)?;
        Some(self.paycodes.devices.get(&handle)?.record.member_id)
    }
}
