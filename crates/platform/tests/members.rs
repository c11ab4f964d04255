//! The members context on its tables: members, devices, sessions and verifications of the
//! older layout (JSON records) move into the tables at the first start and keep working;
//! concurrent wrong PINs are each counted.

mod support;

use platform::PlatformError;
use platform::crypto::{self, DataKeys};
use platform::members::MemberError;
use store::records::{Record, RecordWrite};
use support::World;

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
    // The wrong-PIN count came along: two before, so three more lock.
    for remaining in [2, 1] {
        let refused = platform.log_in(phone, "999990").await.unwrap_err();
        assert_eq!(
            refused,
            PlatformError::Member(MemberError::WrongPin {
                remaining: Some(remaining)
            })
        );
    }
    assert_eq!(
        platform.log_in(phone, "999990").await.unwrap_err(),
        PlatformError::Member(MemberError::Locked)
    );
    // The lock ended the imported session.
    assert!(platform.authenticate(&token).await.is_err());
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
    assert!(view.locked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_pins_are_each_counted() {
    let mut world = World::any().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let phone = member.phone.clone();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..platform::members::PIN_FAILURES_MAX {
        let platform = platform.clone();
        let phone = phone.clone();
        attempts.spawn(async move { platform.log_in(&phone, "999990").await });
    }
    let mut locked = 0;
    while let Some(outcome) = attempts.join_next().await {
        match outcome.unwrap() {
            Err(PlatformError::Member(MemberError::Locked)) => locked += 1,
            Err(PlatformError::Member(MemberError::WrongPin { .. })) => {}
            other => panic!("a wrong PIN answered {other:?}"),
        }
    }
    // Each of the five was counted: the fifth locked the member, once.
    assert_eq!(locked, 1);
    let view = platform.member(member.id).await.unwrap();
    assert!(view.locked);
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
