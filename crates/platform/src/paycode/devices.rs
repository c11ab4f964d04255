//! Enrolling a member's device for pay codes, and the codes the server issues or checks
//! for the member's own app.

use std::sync::Arc;

use rand::Rng;
use store::tables::RowRef;
use store::tables::paycodes::{self as tables, DeviceRow, PaycodeWrite};

use super::{
    Device, HANDLE_DRAWS_MAX, HANDLE_SPACE, PaycodeDecline, PaycodeEnrollment, ROUTING_PREFIX,
    SECRET_BYTES, Verdict, WINDOW_STEPS, compose_code, judge, parse_code, parse_handle,
    secret_context,
};
use crate::error::{Entity, PlatformError, invalid};
use crate::members::MemberGate;
use crate::service::Platform;
use crate::totp::{step_end_s, step_of, totp_at_step};

/// Refuses a member who may not pay: unknown, withdrawn or locked.
fn check_member_may_pay(gate: Option<&MemberGate>) -> Result<&MemberGate, PlatformError> {
    let gate = gate.ok_or(PlatformError::NotFound(Entity::Member))?;
    gate.check_may_pay()?;
    Ok(gate)
}

impl Platform {
    /// Enrolls one of the member's registered devices for pay codes: a new 32-byte secret
    /// and the device's handle (kept when the device enrolls again; the old secret stops
    /// working). The secret is returned once and stored only sealed. Enrollments of the
    /// devices the member removed since are dropped in the same commit.
    pub async fn enroll_paycode_device(
        &self,
        member_id: u128,
        device_id: u128,
    ) -> Result<PaycodeEnrollment, PlatformError> {
        let secret: [u8; SECRET_BYTES] = rand::random();
        let _claim = self.paycodes.enrollments.claim(member_id).await?;
        let gate = self.member_gate(member_id).await?;
        let gate = check_member_may_pay(gate.as_ref())?;
        if !gate.has_device(member_id, device_id) {
            return Err(PlatformError::NotFound(Entity::Device));
        }
        let enrolled = self
            .ledger
            .tables(move |read| tables::devices_of(read, member_id))
            .await?;
        let mut changed: Vec<u64> = enrolled
            .iter()
            .filter(|device| !gate.has_device(member_id, device.device_id))
            .map(|device| device.handle)
            .collect();
        let mut writes: Vec<PaycodeWrite> = changed
            .iter()
            .map(|&handle| PaycodeWrite::RemoveDevice(handle))
            .collect();
        let handle = match enrolled.iter().find(|device| device.device_id == device_id) {
            Some(device) => device.handle,
            None => self.draw_handle().await?,
        };
        writes.push(PaycodeWrite::Device(DeviceRow {
            handle,
            member_id,
            device_id,
            secret_sealed: self.keys.seal(&secret, &secret_context(handle)),
            enrolled_at_s: ports::time::now_s(),
        }));
        changed.push(handle);
        let rows = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        // Forgotten before and after: no device read meanwhile outlives the commit.
        self.paycodes.forget(&changed);
        let committed = self.ledger.record(rows).await;
        self.paycodes.forget(&changed);
        committed?;
        Ok(PaycodeEnrollment {
            device_handle: super::handle_text(handle),
            secret: secret.to_vec(),
            routing_prefix: ROUTING_PREFIX,
        })
    }

    /// A random handle no device has, and none of the live window's used codes names.
    async fn draw_handle(&self) -> Result<u64, PlatformError> {
        for _ in 0..HANDLE_DRAWS_MAX {
            let handle = rand::thread_rng().gen_range(0..HANDLE_SPACE);
            if self.paycodes.used().by_handle.contains_key(&handle) {
                continue;
            }
            let taken = self
                .ledger
                .tables(move |read| tables::device(read, handle))
                .await?;
            if taken.is_none() {
                return Ok(handle);
            }
        }
        Err(PlatformError::Unavailable(
            "no free pay code device handle".into(),
        ))
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
        let gate = self.member_gate(member_id).await?;
        let gate = check_member_may_pay(gate.as_ref())?;
        let device = self.member_device(gate, device_handle).await?;
        let now_step = step_of(now_s);
        let step = (now_step..=now_step.saturating_add(WINDOW_STEPS))
            .find(|&step| !self.paycodes.is_used(device.handle, step))
            .ok_or(PlatformError::Paycode(PaycodeDecline::Used))?;
        let code = compose_code(device.handle, totp_at_step(&device.secret, step));
        Ok((code, step_end_s(step.saturating_add(WINDOW_STEPS))))
    }

    /// The member's enrolled device: the handle named (it must be theirs) or the latest.
    async fn member_device(
        &self,
        gate: &MemberGate,
        device_handle: Option<&str>,
    ) -> Result<Device, PlatformError> {
        let member_id = gate.member_id;
        let not_found = PlatformError::NotFound(Entity::PaycodeDevice);
        let usable = |device_id: u128| gate.has_device(member_id, device_id);
        let handle = match device_handle {
            Some(text) => {
                parse_handle(text).ok_or_else(|| invalid("device_handle", "exactly 10 digits"))?
            }
            None => self
                .ledger
                .tables(move |read| tables::devices_of(read, member_id))
                .await?
                .into_iter()
                .filter(|device| usable(device.device_id))
                .max_by_key(|device| (device.enrolled_at_s, device.handle))
                .map(|device| device.handle)
                .ok_or(not_found.clone())?,
        };
        self.paycode_device(handle)
            .await?
            .filter(|device| device.member_id == member_id && usable(device.device_id))
            .ok_or(not_found)
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
        let device = self
            .paycode_device(handle)
            .await?
            .filter(|device| device.member_id == member_id)
            .ok_or(not_found.clone())?;
        if !gate.is_some_and(|gate| gate.has_device(member_id, device.device_id)) {
            return Err(not_found);
        }
        match judge(&device.secret, otp, step_of(now_s)) {
            Verdict::Current(steps)
                if steps
                    .iter()
                    .all(|&step| self.paycodes.is_used(handle, step)) =>
            {
                Err(PlatformError::Paycode(PaycodeDecline::Used))
            }
            Verdict::Current(_) => Ok(()),
            Verdict::Expired => Err(PlatformError::Paycode(PaycodeDecline::Expired)),
            Verdict::Invalid => Err(PlatformError::Paycode(PaycodeDecline::Invalid)),
        }
    }
}
