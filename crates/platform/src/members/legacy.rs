//! Members, sessions and verifications of the older layout (JSON records of the kinds
//! `member`, `session` and `verification`), moved into the members context's tables at the
//! first start of this build and deleted from `records` in the same commits.

use std::sync::Arc;

use serde::Deserialize;
use store::records::Record;
use store::tables::RowRef;
use store::tables::members::{
    DeviceRow, MemberRow, MemberStatus, MemberWrite, SessionRow, VerificationRow,
};

use crate::domain::{DecodeError, decode, hex_32, hex_bytes};

pub(crate) const KIND_MEMBER: &str = "member";
pub(crate) const KIND_VERIFICATION: &str = "verification";
pub(crate) const KIND_SESSION: &str = "session";

#[derive(Deserialize)]
struct LegacyDevice {
    id: u128,
    #[serde(with = "hex_bytes")]
    name_sealed: Vec<u8>,
    platform: String,
    created_at_s: u64,
}

#[derive(Deserialize)]
struct LegacyMember {
    id: u128,
    #[serde(deserialize_with = "hex_32::deserialize")]
    phone_index: [u8; 32],
    #[serde(with = "hex_bytes")]
    phone_sealed: Vec<u8>,
    #[serde(with = "hex_bytes")]
    name_sealed: Vec<u8>,
    pin_hash: String,
    status: MemberStatus,
    // The older layout's `failed_pins` and `locked` are not read: its locks came from
    // wrong PINs, which are delays now (migration 20), so an imported member starts
    // unlocked.
    created_at_s: u64,
    withdrawn_at_s: Option<u64>,
    devices: Vec<LegacyDevice>,
    #[serde(with = "hex_bytes", default)]
    payout_sealed: Vec<u8>,
    payout_amount: u64,
}

#[derive(Deserialize)]
struct LegacyVerification {
    id: u128,
    #[serde(deserialize_with = "hex_32::deserialize")]
    phone_index: [u8; 32],
    #[serde(with = "hex_bytes")]
    phone_sealed: Vec<u8>,
    #[serde(deserialize_with = "hex_32::deserialize")]
    code_hash: [u8; 32],
    created_at_s: u64,
    expires_at_s: u64,
    attempts: u32,
    used: bool,
}

#[derive(Deserialize)]
struct LegacySession {
    #[serde(deserialize_with = "hex_32::deserialize")]
    token_hash: [u8; 32],
    id: u128,
    member_id: u128,
    created_at_s: u64,
    expires_at_s: u64,
}

/// The rows that replace an older record of this context's kinds (a member with its
/// devices; a verification; a session).
pub(crate) fn legacy_rows(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let writes = match record.kind.as_str() {
        KIND_MEMBER => member_writes(decode(record)?),
        KIND_VERIFICATION => vec![verification_write(decode(record)?)],
        KIND_SESSION => vec![session_write(decode(record)?)],
        _ => return Ok(None),
    };
    Ok(Some(
        writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect(),
    ))
}

fn member_writes(member: LegacyMember) -> Vec<MemberWrite> {
    let mut writes = vec![MemberWrite::Member(MemberRow {
        id: member.id,
        phone_index: member.phone_index,
        phone_sealed: member.phone_sealed,
        name_sealed: member.name_sealed,
        pin_hash: member.pin_hash,
        status: member.status,
        locked: false,
        created_at_s: member.created_at_s,
        withdrawn_at_s: member.withdrawn_at_s,
        payout_sealed: member.payout_sealed,
        payout_amount: member.payout_amount,
    })];
    for device in member.devices {
        writes.push(MemberWrite::Device(DeviceRow {
            member_id: member.id,
            id: device.id,
            name_sealed: device.name_sealed,
            platform: device.platform,
            created_at_s: device.created_at_s,
        }));
    }
    writes
}

fn verification_write(verification: LegacyVerification) -> MemberWrite {
    MemberWrite::Verification(VerificationRow {
        id: verification.id,
        phone_index: verification.phone_index,
        phone_sealed: verification.phone_sealed,
        code_hash: verification.code_hash,
        created_at_s: verification.created_at_s,
        expires_at_s: verification.expires_at_s,
        attempts: verification.attempts,
        used: verification.used,
    })
}

fn session_write(session: LegacySession) -> MemberWrite {
    MemberWrite::Session(SessionRow {
        token_hash: session.token_hash,
        id: session.id,
        member_id: session.member_id,
        created_at_s: session.created_at_s,
        expires_at_s: session.expires_at_s,
    })
}
