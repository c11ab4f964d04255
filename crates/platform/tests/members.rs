//! The members context on its tables: members, devices, sessions and verifications of the
//! older layout (JSON records) move into the tables at the first start and keep working;
//! concurrent wrong PINs are each counted; delays, device proofs, the PIN asked again, and
//! operators' locks.

mod support;

use platform::PlatformError;
use platform::crypto::{self, DataKeys};
use platform::members::{DeviceProof, LogIn, MemberError, PIN_DELAYS};
use store::records::{Record, RecordWrite};
use support::{World, member_login};

/// A member record as the older layout stored it (JSON; ids as plain numbers, which
/// `serde_json::json!` cannot hold above 2^64).
fn legacy_member_json(id: u128, phone_index: [u8; 32], pin_hash: &str, device: u128) -> Vec<u8> {
    format!(
        r#"{{"id":{id},"phone_index":"{}","phone_sealed":"","name_sealed":"",
        "pin_hash":"{pin_hash}","status":"active","failed_pins":2,"locked":false,
        "created_at_s":1700000000,"withdrawn_at_s":null,
        "devices":[{{"id":{device},"name_sealed":"","platform":"android","created_at_s":1700000100}}],
        "payout_amount":0}}"#,
        hex::encode(phone_index)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_the_older_layout_move_into_their_tables_at_start() {
    let mut world = World::any().await;
    let keys = DataKeys::from_master(&support::MASTER_KEY);
    let member_id = 0x0123_4567_89ab_cdef_u128 << 32;
    let device_id = 77u128;
    let phone = "+821055501234";
    let phone_index = keys.blind_index(b"phone", phone.as_bytes());
    let pin_hash = crypto::hash_pin("135790").unwrap();
    let (token, token_hash) = crypto::new_token();
    let now = ports::time::now_s();
    let session = format!(
        r#"{{"token_hash":"{}","id":5,"member_id":{member_id},"created_at_s":{now},"expires_at_s":{}}}"#,
        hex::encode(token_hash),
        now + 3600
    );
    let records = vec![
        Record {
            kind: "member".into(),
            key: member_id.to_be_bytes().to_vec(),
            value: legacy_member_json(member_id, phone_index, &pin_hash, device_id),
        },
        Record {
            kind: "session".into(),
            key: token_hash.to_vec(),
            value: session.into_bytes(),
        },
    ];
    world
        .write_records(records.into_iter().map(RecordWrite::Put).collect())
        .await;
    world.restart().await;

    let platform = world.platform().clone();
    assert_eq!(platform.authenticate(&token).await.unwrap(), member_id);
    let view = platform.member(member_id).await.unwrap();
    assert_eq!(view.devices.len(), 1);
    assert_eq!(view.devices[0].id, device_id);
    assert_eq!(view.devices[0].platform, "android");
    // The older layout's locks came from wrong PINs, which are delays now: the member
    // comes in unlocked, and (no device of the older layout proved itself by SMS) a login
    // needs the SMS once.
    assert!(!view.locked);
    let login = LogIn {
        phone: phone.to_string(),
        pin: "135790".to_string(),
        device: DeviceProof::None,
    };
    assert_eq!(
        platform.log_in(login).await.unwrap_err(),
        PlatformError::Member(MemberError::DeviceUnverified)
    );
    // The records are gone from `records`: a second start imports nothing again.
    let kinds: Vec<String> = world
        .stored_records()
        .await
        .into_iter()
        .map(|record| record.kind)
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|kind| kind == "member" || kind == "session"),
        "{kinds:?}"
    );
    drop(platform);
    world.restart().await;
    let view = world.platform().member(member_id).await.unwrap();
    assert_eq!(view.devices.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_pins_are_each_counted() {
    let mut world = World::any().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let free = PIN_DELAYS.failures_free;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..free + 2 {
        let platform = platform.clone();
        let login = member_login(&member, "999990");
        attempts.spawn(async move { platform.log_in(login).await });
    }
    let (mut wrong, mut delayed) = (0, 0);
    while let Some(outcome) = attempts.join_next().await {
        match outcome.unwrap() {
            Err(PlatformError::Member(MemberError::WrongPin)) => wrong += 1,
            Err(PlatformError::Member(MemberError::LoginDelayed { retry_after_s })) => {
                // The first wait, less a second that may have passed since the failure.
                let base_s = PIN_DELAYS.delay_base_s;
                assert!(
                    (base_s - 1..=base_s).contains(&retry_after_s),
                    "{retry_after_s}"
                );
                delayed += 1;
            }
            other => panic!("a wrong PIN answered {other:?}"),
        }
    }
    // One login per phone at a time: the free ones were each checked and counted, and every
    // try after them waits; no wrong PIN slipped past the count.
    assert_eq!((wrong, delayed), (free, 2));
    // The right PIN waits too; an SMS proof waives the wait (the owner is never locked out).
    assert!(matches!(
        platform.log_in(member_login(&member, support::PIN)).await,
        Err(PlatformError::Member(MemberError::LoginDelayed { .. }))
    ));
    let by_sms = world
        .sms_login(&member, support::PIN)
        .await
        .expect("an SMS login");
    assert!(by_sms.device_token.is_some());
    assert!(
        platform
            .log_in(member_login(&member, "999990"))
            .await
            .is_err()
    );
    platform
        .log_in(member_login(&member, support::PIN))
        .await
        .expect("the count starts again after a right PIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_phone_answers_as_a_member_does() {
    let mut world = World::any().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let stranger = support::Member {
        id: 1,
        phone: "+821099990000".to_string(),
        device_token: member.device_token.clone(),
    };
    // No device proof: the same refusal before any PIN is checked.
    for phone in [&member.phone, &stranger.phone] {
        let login = LogIn {
            phone: phone.clone(),
            pin: "999990".to_string(),
            device: DeviceProof::None,
        };
        assert_eq!(
            platform.log_in(login).await.unwrap_err(),
            PlatformError::Member(MemberError::DeviceUnverified)
        );
    }
    // A member's device token proves nothing for another phone.
    assert_eq!(
        platform
            .log_in(member_login(&stranger, support::PIN))
            .await
            .unwrap_err(),
        PlatformError::Member(MemberError::DeviceUnverified)
    );
    // With an SMS code, wrong PINs for a member and for a stranger are counted and delayed
    // alike.
    for who in [&member, &stranger] {
        let mut answers = Vec::new();
        for _ in 0..PIN_DELAYS.failures_free + 1 {
            answers.push(world.sms_login(who, "999990").await.unwrap_err());
        }
        let wrong = PlatformError::Member(MemberError::WrongPin);
        assert_eq!(
            answers,
            vec![wrong; answers.len()],
            "SMS proofs waive the wait"
        );
        let answer = platform.log_in(member_login(&member, "999990")).await;
        if who.id == member.id {
            assert!(matches!(
                answer,
                Err(PlatformError::Member(MemberError::LoginDelayed { .. }))
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pin_is_asked_again_above_the_threshold() {
    let mut world = World::any().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let above = platform.config.pin_confirm_above_mvp;
    let at = u128::from(above);
    platform
        .confirm_spend(member.id, at, None)
        .await
        .expect("at the threshold the session is enough");
    assert_eq!(
        platform.confirm_spend(member.id, at + 1, None).await,
        Err(PlatformError::Member(MemberError::PinRequired {
            above_mvp: above
        }))
    );
    assert_eq!(
        platform
            .confirm_spend(member.id, at + 1, Some("999990"))
            .await,
        Err(PlatformError::Member(MemberError::WrongPin))
    );
    platform
        .confirm_spend(member.id, at + 1, Some(support::PIN))
        .await
        .expect("the right PIN");
    // Wrong PINs asked again count towards the login's delays.
    for _ in 0..PIN_DELAYS.failures_free {
        let _ = platform
            .confirm_spend(member.id, at + 1, Some("999990"))
            .await;
    }
    assert!(matches!(
        platform
            .confirm_spend(member.id, at + 1, Some(support::PIN))
            .await,
        Err(PlatformError::Member(MemberError::LoginDelayed { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_operator_locks_and_the_lock_ends_sessions() {
    let mut world = World::any().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let grant = platform
        .log_in(member_login(&member, support::PIN))
        .await
        .unwrap();
    platform.lock_member(member.id).await.unwrap();
    assert!(platform.authenticate(&grant.token).await.is_err());
    // Locked: a wrong PIN answers as ever; only the right one learns of the lock.
    assert_eq!(
        platform
            .log_in(member_login(&member, "999990"))
            .await
            .unwrap_err(),
        PlatformError::Member(MemberError::WrongPin)
    );
    assert_eq!(
        platform
            .log_in(member_login(&member, support::PIN))
            .await
            .unwrap_err(),
        PlatformError::Member(MemberError::Locked)
    );
    platform.unlock_member(member.id).await.unwrap();
    platform
        .log_in(member_login(&member, support::PIN))
        .await
        .expect("unlocked");
}

/// More records of the older layout than one request's rows hold (each member with the
/// most devices): the import splits them over several commits and moves every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_larger_than_one_request_moves_every_member() {
    let mut world = World::any().await;
    let members = 200u128;
    let devices = platform::members::DEVICES_PER_MEMBER_MAX as u128;
    let mut records = Vec::new();
    for index in 0..members {
        let id = (0xabcd_u128 << 64) | index;
        let mut phone_index = [0u8; 32];
        phone_index[..16].copy_from_slice(&id.to_be_bytes());
        let device_list: Vec<String> = (0..devices)
            .map(|device| {
                format!(
                    r#"{{"id":{},"name_sealed":"","platform":"ios","created_at_s":{device}}}"#,
                    id + (device << 32)
                )
            })
            .collect();
        let json = format!(
            r#"{{"id":{id},"phone_index":"{}","phone_sealed":"","name_sealed":"",
            "pin_hash":"x","status":"active","failed_pins":0,"locked":false,
            "created_at_s":1700000000,"withdrawn_at_s":null,"devices":[{}],"payout_amount":0}}"#,
            hex::encode(phone_index),
            device_list.join(",")
        );
        records.push(RecordWrite::Put(Record {
            kind: "member".into(),
            key: id.to_be_bytes().to_vec(),
            value: json.into_bytes(),
        }));
    }
    // More rows than one request carries: the split is exercised.
    let rows = members * (devices + 2);
    assert!(rows > journal::sequencer::ROWS_PER_REQUEST_MAX as u128);
    world.write_records(records).await;
    world.restart().await;
    for index in [0, members / 2, members - 1] {
        let id = (0xabcd_u128 << 64) | index;
        let view = world.platform().member(id).await.unwrap();
        assert_eq!(view.devices.len() as u128, devices);
    }
    assert!(
        world
            .stored_records()
            .await
            .iter()
            .all(|r| r.kind != "member")
    );
}

/// Found by Schemathesis: conversion terms past the tables' signed 64-bit columns stopped
/// the ledger (fail-stop on the row's write). They are refused as bad input, nothing is
/// written, and the ledger keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_terms_out_of_bounds_are_refused_before_anything_is_written() {
    use platform::conversion::ConversionSettings;
    let world = World::any().await;
    let platform = world.platform();
    let before = platform.conversion_settings();
    let huge = [
        ConversionSettings {
            mvp_per_mvc: u64::MAX,
            ..before
        },
        ConversionSettings {
            daily_limit_mvp: u64::MAX,
            ..before
        },
        ConversionSettings {
            minimum_mvp: u64::MAX,
            ..before
        },
    ];
    for settings in huge {
        let refused = platform.set_conversion_settings(settings).await;
        assert!(
            matches!(refused, Err(PlatformError::Invalid { .. })),
            "{settings:?}: {refused:?}"
        );
    }
    assert_eq!(platform.conversion_settings(), before);
    assert!(platform.failure().is_none(), "the ledger runs on");
    let within = ConversionSettings {
        mvp_per_mvc: platform::conversion::MVP_PER_MVC_MAX,
        daily_limit_mvp: platform::conversion::DAILY_LIMIT_MVP_MAX,
        ..before
    };
    assert_eq!(platform.set_conversion_settings(within).await, Ok(within));
}
