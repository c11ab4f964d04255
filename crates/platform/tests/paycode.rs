//! Pay codes (DESIGN.md "Pay codes", docs/paycodes.md) through the public platform API, on a
//! real ledger and record store (SQLite files): the RFC 6238 vectors, the ±1 step window,
//! single use across a restart, expiry, wrong-guess limits, enrollment and issued codes.
//! Time is driven through the `now_s` arguments: nothing sleeps.

mod support;

use platform::error::Entity;
use platform::members::MemberError;
use support::World;

use platform::PlatformError;
use platform::paycode::{
    self, EXPIRED_STEPS_MAX, GUESS_WINDOW_S, GUESSES_PER_WINDOW_MAX, PaycodeDecline,
    ROUTING_PREFIX, WINDOW_STEPS,
};
use platform::totp::{self, STEP_S, step_of, totp, totp_at_step};

/// A fixed "now", 10 s into a step, far from the epoch.
const NOW_S: u64 = 1_800_000_000 - 1_800_000_000 % STEP_S + 10;

/// RFC 6238 Appendix B, the SHA-256 rows: (Unix seconds, 8-digit code).
const RFC_6238_SHA256: [(u64, u32); 6] = [
    (59, 46_119_246),
    (1_111_111_109, 68_084_774),
    (1_111_111_111, 67_062_674),
    (1_234_567_890, 91_819_424),
    (2_000_000_000, 90_698_825),
    (20_000_000_000, 77_737_706),
];
/// The RFC's SHA-256 seed: 32 ASCII bytes.
const RFC_SECRET: &[u8] = b"12345678901234567890123456789012";

#[test]
fn totp_matches_the_rfc_6238_sha256_vectors() {
    for (unix_s, expected) in RFC_6238_SHA256 {
        assert_eq!(totp(RFC_SECRET, unix_s), expected, "T = {unix_s}");
        assert_eq!(totp::format_code(expected).len(), 8);
    }
}

/// Pay code helpers on the shared world (SQLite files, no partner: none is needed here).
impl World {
    /// A member with one registered device enrolled for pay codes: (member, device,
    /// handle, secret).
    async fn payer(&mut self) -> (u128, u128, String, Vec<u8>) {
        let member = self.member().await;
        let enrolled = self.enrolled_device(member.id).await;
        (
            member.id,
            enrolled.device_id,
            enrolled.handle,
            enrolled.secret,
        )
    }

    async fn accept(&self, code: &str, now_s: u64) -> Result<u128, PlatformError> {
        self.platform().accept_paycode(code, now_s).await
    }

    /// The stored used codes (read from their table, not from the platform's memory).
    async fn used_records(&self) -> usize {
        let page_max = store::tables::paycodes::USED_PAGE_MAX;
        let used = self
            .ledger
            .tables(move |read| store::tables::paycodes::used_since(read, 0, None, page_max))
            .await
            .unwrap();
        used.len()
    }
}

/// The code the app computes offline for `handle` at `unix_s`.
fn app_code(handle: &str, secret: &[u8], unix_s: u64) -> String {
    format!(
        "{ROUTING_PREFIX}{handle}{}",
        totp::format_code(totp(secret, unix_s))
    )
}

fn declined(decline: PaycodeDecline) -> Result<u128, PlatformError> {
    Err(PlatformError::Paycode(decline))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_good_one_step_either_side_and_only_once() {
    let mut world = World::any().await;
    let (member_id, _, handle, secret) = world.payer().await;
    assert_eq!(handle.len(), 10);
    assert!(handle.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(secret.len(), 32);
    // The codes of the previous, current and next steps are all good, each once.
    for offset in [-(STEP_S as i64), 0, STEP_S as i64] {
        let shown_at_s = NOW_S.checked_add_signed(offset).unwrap();
        let code = app_code(&handle, &secret, shown_at_s);
        assert_eq!(code.len(), 20);
        assert_eq!(
            world.accept(&code, NOW_S).await,
            Ok(member_id),
            "offset {offset}"
        );
        assert_eq!(
            world.accept(&code, NOW_S).await,
            declined(PaycodeDecline::Used),
            "used twice (offset {offset})"
        );
    }
    // Two steps ahead is beyond the window: not a code yet.
    let future = app_code(&handle, &secret, NOW_S + 2 * STEP_S);
    assert_eq!(
        world.accept(&future, NOW_S).await,
        declined(PaycodeDecline::Invalid)
    );
    assert_eq!(WINDOW_STEPS, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_code_is_expired_and_an_older_one_invalid() {
    let mut world = World::any().await;
    let (_, _, handle, secret) = world.payer().await;
    // Shown two steps ago: just out of the window.
    let stale = app_code(&handle, &secret, NOW_S - 2 * STEP_S);
    assert_eq!(
        world.accept(&stale, NOW_S).await,
        declined(PaycodeDecline::Expired)
    );
    // At the edge of recognition, then past it.
    let oldest = app_code(&handle, &secret, NOW_S - EXPIRED_STEPS_MAX * STEP_S);
    assert_eq!(
        world.accept(&oldest, NOW_S).await,
        declined(PaycodeDecline::Expired)
    );
    let ancient = app_code(&handle, &secret, NOW_S - (EXPIRED_STEPS_MAX + 1) * STEP_S);
    assert_eq!(
        world.accept(&ancient, NOW_S).await,
        declined(PaycodeDecline::Invalid)
    );
    // A good code held until its window passed.
    let code = app_code(&handle, &secret, NOW_S);
    assert_eq!(
        world.accept(&code, NOW_S + 2 * STEP_S).await,
        declined(PaycodeDecline::Expired)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_codes_are_invalid() {
    let mut world = World::any().await;
    let (_, _, handle, secret) = world.payer().await;
    let good = app_code(&handle, &secret, NOW_S);
    let wrong_otp = format!(
        "{}{:08}",
        &good[..12],
        (totp(&secret, NOW_S) + 1) % 100_000_000
    );
    let other_prefix = format!("12{}", &good[2..]);
    let unknown_handle = {
        let other = (handle.parse::<u64>().unwrap() + 1) % 10_000_000_000;
        app_code(&paycode::handle_text(other), &secret, NOW_S)
    };
    let cases = [
        "".to_string(),
        good[..19].to_string(),
        format!("{good}0"),
        good.replace('9', "x"),
        "９１".to_string() + &good[2..],
        wrong_otp,
        other_prefix,
        unknown_handle,
    ];
    for code in &cases {
        assert_eq!(
            world.accept(code, NOW_S).await,
            declined(PaycodeDecline::Invalid),
            "{code:?}"
        );
    }
    assert!(
        world.accept(&good, NOW_S).await.is_ok(),
        "the right code still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_lock_the_handle_until_the_window_passes() {
    let mut world = World::any().await;
    let (member_id, _, handle, secret) = world.payer().await;
    let right = totp(&secret, NOW_S);
    let wrong = |n: u32| format!("{ROUTING_PREFIX}{handle}{:08}", (right + n) % 100_000_000);
    // One below the maximum: the right code still goes through.
    for n in 1..GUESSES_PER_WINDOW_MAX {
        assert_eq!(
            world.accept(&wrong(n), NOW_S).await,
            declined(PaycodeDecline::Invalid)
        );
    }
    let first = app_code(&handle, &secret, NOW_S - STEP_S);
    assert_eq!(world.accept(&first, NOW_S).await, Ok(member_id));
    // At the maximum: even the right code is refused.
    assert_eq!(
        world.accept(&wrong(99), NOW_S).await,
        declined(PaycodeDecline::Invalid)
    );
    let code = app_code(&handle, &secret, NOW_S);
    let refused = declined(PaycodeDecline::TooManyGuesses);
    assert_eq!(world.accept(&code, NOW_S).await, refused);
    let just_before = NOW_S + GUESS_WINDOW_S - 1;
    let later = app_code(&handle, &secret, just_before);
    assert_eq!(world.accept(&later, just_before).await, refused);
    // Once the window passed since the wrong codes, the handle works again.
    let after = NOW_S + GUESS_WINDOW_S;
    let fresh = app_code(&handle, &secret, after);
    assert_eq!(world.accept(&fresh, after).await, Ok(member_id));
    // The limit is per handle: another member's device is not affected.
    let (other_member, _, other_handle, other_secret) = world.payer().await;
    for n in 0..GUESSES_PER_WINDOW_MAX {
        let _ = world.accept(&wrong(n + 10), after).await;
    }
    let theirs = app_code(&other_handle, &other_secret, after);
    assert_eq!(world.accept(&theirs, after).await, Ok(other_member));
}

/// Wrong guesses are counted durably: a restart does not give a guesser a fresh window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_survive_a_restart() {
    let mut world = World::any().await;
    let (_member_id, _, handle, secret) = world.payer().await;
    let right = totp(&secret, NOW_S);
    for n in 1..=GUESSES_PER_WINDOW_MAX {
        let wrong = format!("{ROUTING_PREFIX}{handle}{:08}", (right + n) % 100_000_000);
        assert_eq!(
            world.accept(&wrong, NOW_S).await,
            declined(PaycodeDecline::Invalid)
        );
    }
    world.restart().await;
    let code = app_code(&handle, &secret, NOW_S);
    assert_eq!(
        world.accept(&code, NOW_S).await,
        declined(PaycodeDecline::TooManyGuesses)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_used_codes_used_and_old_uses_are_pruned() {
    let mut world = World::any().await;
    let (member_id, _, handle, secret) = world.payer().await;
    let code = app_code(&handle, &secret, NOW_S);
    assert_eq!(world.accept(&code, NOW_S).await, Ok(member_id));
    assert_eq!(world.used_records().await, 1);
    world.restart().await;
    assert_eq!(
        world.accept(&code, NOW_S).await,
        declined(PaycodeDecline::Used)
    );
    assert_eq!(
        world.accept(&code, NOW_S + STEP_S).await,
        declined(PaycodeDecline::Used),
        "still in the window a step later"
    );
    // The enrollment came back from disk too: the sealed secret opens.
    let next = app_code(&handle, &secret, NOW_S + STEP_S);
    assert_eq!(world.accept(&next, NOW_S + STEP_S).await, Ok(member_id));
    // A use long after drops the records no window can reach any more.
    let much_later = NOW_S + 100 * STEP_S;
    let late = app_code(&handle, &secret, much_later);
    assert_eq!(world.accept(&late, much_later).await, Ok(member_id));
    assert_eq!(world.used_records().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_needs_the_members_own_active_device() {
    let mut world = World::any().await;
    let (member_id, device_id, handle, secret) = world.payer().await;
    let platform = world.platform().clone();
    let other_member = world.member().await.id;
    assert_eq!(
        platform
            .enroll_paycode_device(other_member, device_id)
            .await,
        Err(PlatformError::NotFound(Entity::Device)),
        "another member's device"
    );
    assert_eq!(
        platform.enroll_paycode_device(u128::MAX, device_id).await,
        Err(PlatformError::NotFound(Entity::Member))
    );
    // Enrolling again keeps the handle and replaces the secret: old codes stop working.
    let again = platform
        .enroll_paycode_device(member_id, device_id)
        .await
        .expect("enroll again");
    assert_eq!(again.device_handle, handle);
    assert_ne!(again.secret, secret);
    assert_eq!(again.routing_prefix, ROUTING_PREFIX);
    let stale = app_code(&handle, &secret, NOW_S);
    assert_eq!(
        world.accept(&stale, NOW_S).await,
        declined(PaycodeDecline::Invalid)
    );
    let code = app_code(&handle, &again.secret, NOW_S);
    assert_eq!(world.accept(&code, NOW_S).await, Ok(member_id));
    // A second device gets its own handle, not derived from the member.
    let second = world.device(member_id).await;
    let other = platform
        .enroll_paycode_device(member_id, second)
        .await
        .expect("enroll a second device");
    assert_ne!(other.device_handle, handle);
    assert!(!member_id.to_string().contains(&other.device_handle));
    // A removed device's codes stop working.
    platform
        .remove_device(member_id, second)
        .await
        .expect("remove");
    let removed = app_code(&other.device_handle, &other.secret, NOW_S);
    assert_eq!(
        world.accept(&removed, NOW_S).await,
        declined(PaycodeDecline::Invalid)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_or_withdrawn_member_gets_no_codes() {
    let mut world = World::any().await;
    let member = world.member().await;
    let enrolled = world.enrolled_device(member.id).await;
    let (member_id, device_id, handle) = (member.id, enrolled.device_id, enrolled.handle);
    let platform = world.platform().clone();
    platform.lock_member(member_id).await.expect("lock");
    assert_eq!(
        platform.issue_paycode(member_id, Some(&handle)).await,
        Err(PlatformError::Member(MemberError::Locked))
    );
    assert_eq!(
        platform.enroll_paycode_device(member_id, device_id).await,
        Err(PlatformError::Member(MemberError::Locked))
    );
    platform.unlock_member(member_id).await.expect("unlock");
    assert!(platform.issue_paycode(member_id, None).await.is_ok());
    platform
        .withdraw(member_id, None, None)
        .await
        .expect("withdraw");
    assert_eq!(
        platform.issue_paycode(member_id, None).await,
        Err(PlatformError::Member(MemberError::Withdrawn))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issued_codes_are_the_apps_codes_and_skip_a_used_step() {
    let mut world = World::any().await;
    let (member_id, _, handle, secret) = world.payer().await;
    let platform = world.platform().clone();
    let (code, expires_at_s) = platform
        .issue_paycode_at(member_id, None, NOW_S)
        .await
        .expect("issue");
    assert_eq!(code, app_code(&handle, &secret, NOW_S));
    // Good to the end of the next step.
    assert_eq!(expires_at_s, (step_of(NOW_S) + 2) * STEP_S);
    assert_eq!(world.accept(&code, NOW_S).await, Ok(member_id));
    // Paying again within the step: the next step's code, which the window accepts now.
    let (second, second_expiry) = platform
        .issue_paycode_at(member_id, Some(&handle), NOW_S)
        .await
        .expect("issue again");
    assert_eq!(second, app_code(&handle, &secret, NOW_S + STEP_S));
    assert_eq!(second_expiry, expires_at_s + STEP_S);
    assert_eq!(world.accept(&second, NOW_S).await, Ok(member_id));
    assert_eq!(
        platform.issue_paycode_at(member_id, None, NOW_S).await,
        Err(PlatformError::Paycode(PaycodeDecline::Used)),
        "both codes the window allows are spent"
    );
    // Someone else's handle is not found; a malformed one is invalid.
    let other_member = world.member().await.id;
    assert_eq!(
        platform.issue_paycode(other_member, Some(&handle)).await,
        Err(PlatformError::NotFound(Entity::PaycodeDevice))
    );
    assert_eq!(
        platform.issue_paycode(other_member, None).await,
        Err(PlatformError::NotFound(Entity::PaycodeDevice))
    );
    assert!(matches!(
        platform.issue_paycode(member_id, Some("12345")).await,
        Err(PlatformError::Invalid {
            field: "device_handle",
            ..
        })
    ));
    // Only the owner may see a code drawn.
    let shown = app_code(&handle, &secret, NOW_S + 2 * STEP_S);
    let later = NOW_S + 2 * STEP_S;
    assert_eq!(
        platform.check_own_paycode(member_id, &shown, later).await,
        Ok(())
    );
    assert_eq!(
        platform
            .check_own_paycode(other_member, &shown, later)
            .await,
        Err(PlatformError::NotFound(Entity::Paycode))
    );
    assert_eq!(
        platform.check_own_paycode(member_id, &code, later).await,
        Err(PlatformError::Paycode(PaycodeDecline::Expired))
    );
}

#[test]
fn totp_at_step_is_totp_of_any_second_in_the_step() {
    let step = step_of(NOW_S);
    for second in [step * STEP_S, step * STEP_S + STEP_S - 1] {
        assert_eq!(totp(RFC_SECRET, second), totp_at_step(RFC_SECRET, step));
    }
}

/// A database of the older layout (a device and a used code as JSON records) has them
/// moved into their tables at the next start: the code stays used, the device pays on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_code_records_of_the_older_layout_move_into_their_tables() {
    use std::sync::Arc;
    use store::records::{Record, RecordWrite};
    use store::tables::paycodes::{self as tables, PaycodeWrite};

    let mut world = World::any().await;
    let (member_id, device_id, handle, secret) = world.payer().await;
    let handle_number: u64 = handle.parse().unwrap();
    let row = world
        .ledger
        .tables(move |read| tables::device(read, handle_number))
        .await
        .unwrap()
        .expect("the device's row");
    // Back to the older layout: the row out, its record and a used code's record in.
    let remove: store::tables::RowRef = Arc::new(PaycodeWrite::RemoveDevice(handle_number));
    world.ledger.record(vec![remove]).await.unwrap();
    let device = paycode::PaycodeDeviceRecord {
        handle: handle.clone(),
        member_id,
        device_id,
        secret_sealed: row.secret_sealed,
        enrolled_at_s: row.enrolled_at_s,
    };
    let used = paycode::UsedPaycodeRecord {
        handle: handle.clone(),
        step: step_of(NOW_S),
        member_id,
        used_at_s: NOW_S,
    };
    let record = |kind: &str, key: String, value: Vec<u8>| {
        RecordWrite::Put(Record {
            kind: kind.into(),
            key: key.into_bytes(),
            value,
        })
    };
    world
        .write_records(vec![
            record(
                paycode::KIND_PAYCODE_DEVICE,
                handle.clone(),
                serde_json::to_vec(&device).unwrap(),
            ),
            record(
                paycode::KIND_USED_PAYCODE,
                format!("{handle}/{}", used.step),
                serde_json::to_vec(&used).unwrap(),
            ),
        ])
        .await;
    world.restart().await;
    let code = app_code(&handle, &secret, NOW_S);
    assert_eq!(
        world.accept(&code, NOW_S).await,
        declined(PaycodeDecline::Used)
    );
    let next = app_code(&handle, &secret, NOW_S + STEP_S);
    assert_eq!(world.accept(&next, NOW_S + STEP_S).await, Ok(member_id));
    assert_eq!(world.used_records().await, 2);
    let left = world.stored_records().await;
    assert!(
        left.iter().all(|r| !r.kind.contains("paycode")),
        "no pay code record is left"
    );
}
