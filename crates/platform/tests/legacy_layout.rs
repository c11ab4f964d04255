//! Conversions and anchoring of the older layout (JSON records): at the first start of
//! this version each record moves into its table (the row and the record's deletion in one
//! commit) and is read from there; no record of those kinds is left.

mod support;

use platform::anchoring::{KIND_ANCHORING, KIND_COSIGNATURE};
use platform::conversion::{
    ConversionSettings, ConversionStatus, KIND_CONVERSION, KIND_CONVERSION_SETTINGS,
    KIND_WALLET_ADDRESS,
};
use store::records::{Record, RecordWrite};
use store::tables::anchoring as anchoring_tables;
use support::World;

fn put(kind: &str, key: Vec<u8>, value: String) -> RecordWrite {
    RecordWrite::Put(Record {
        kind: kind.into(),
        key,
        value: value.into_bytes(),
    })
}

/// The records as the older layout wrote them (ids as plain JSON numbers).
fn legacy_records(member_id: u128, conversion_id: u128) -> Vec<RecordWrite> {
    let address = "11".repeat(20);
    let root = "ab".repeat(32);
    vec![
        put(
            KIND_WALLET_ADDRESS,
            member_id.to_be_bytes().to_vec(),
            format!(
                r#"{{"member_id":{member_id},"address":"{address}","proved_at_s":1700000000}}"#
            ),
        ),
        put(
            KIND_CONVERSION,
            conversion_id.to_be_bytes().to_vec(),
            format!(
                r#"{{"id":{conversion_id},"member_id":{member_id},"address":"{address}",
                "mvp":500,"mvc_wei":50000000000000000000,"mvp_per_mvc":10,
                "status":"completed","failure":null,"idempotency_key":"k-1",
                "created_at_s":1700000100,"finished_at_s":1700000200}}"#
            ),
        ),
        put(
            KIND_CONVERSION_SETTINGS,
            b"settings".to_vec(),
            r#"{"mvp_per_mvc":20,"minimum_mvp":50,"daily_limit_mvp":9000,"enabled":false}"#.into(),
        ),
        put(
            KIND_COSIGNATURE,
            vec![1],
            format!(
                r#"{{"height":7,"tree_size":40,"root":"{root}","signer":"{}",
                "signature":"{}","received_at_s":1700000300}}"#,
                "22".repeat(20),
                "33".repeat(65)
            ),
        ),
        put(
            KIND_ANCHORING,
            0u64.to_be_bytes().to_vec(),
            format!(
                r#"{{"index":0,"height":5,"tree_size":30,"root":"{root}",
                "anchored_at_s":1700000400,"tx_hash":null,"block_number":null,"gas_used":null}}"#
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversions_and_anchorings_of_the_older_layout_move_into_their_tables() {
    let mut world = World::any().await;
    let member_id = world.member().await.id;
    let conversion_id = 0x0abc_u128 << 80;
    world
        .write_records(legacy_records(member_id, conversion_id))
        .await;
    world.restart().await;
    let platform = world.platform();
    let address = platform.wallet_address(member_id).await.unwrap().unwrap();
    assert_eq!(address.address, [0x11; 20]);
    let conversion = platform.conversion(member_id, conversion_id).await.unwrap();
    assert_eq!(conversion.status, ConversionStatus::Completed);
    assert_eq!(conversion.mvc_wei, 50 * 10u128.pow(18));
    assert_eq!(conversion.tx_hash, None, "absent in the older record");
    assert_eq!(
        platform.conversion_settings(),
        ConversionSettings {
            mvp_per_mvc: 20,
            minimum_mvp: 50,
            daily_limit_mvp: 9_000,
            enabled: false,
        },
        "the settings are read back at start"
    );
    let (latest, cosignatures) = world
        .ledger
        .tables(|read| {
            let latest = anchoring_tables::latest_anchoring(read)?;
            let cosignatures = anchoring_tables::cosignatures(read, 7, 40, [0xab; 32])?;
            Ok((latest, cosignatures))
        })
        .await
        .unwrap();
    assert_eq!(latest.map(|row| (row.index, row.height)), Some((0, 5)));
    assert_eq!(cosignatures.len(), 1);
    assert_eq!(cosignatures[0].signature, [0x33; 65]);
    let left = world.stored_records().await;
    let kinds = [
        KIND_WALLET_ADDRESS,
        KIND_CONVERSION,
        KIND_CONVERSION_SETTINGS,
        KIND_COSIGNATURE,
        KIND_ANCHORING,
    ];
    assert!(left.iter().all(|r| !kinds.contains(&r.kind.as_str())));
    // A second start finds nothing more to move and reads the same.
    world.restart().await;
    let again = world.platform().conversion(member_id, conversion_id).await;
    assert_eq!(again.unwrap(), conversion);
}

/// Merchants, terminals and settlement runs of the older layout move into their tables; a
/// till signs with the moved terminal's secret (its seal opens after the move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_terminals_and_runs_of_the_older_layout_move_into_their_tables() {
    use platform::merchants::{KIND_MERCHANT, KIND_TERMINAL};
    use platform::settlement::{KIND_SETTLEMENT, SettlementStatus};

    let mut world = World::any().await;
    let keys = platform::crypto::DataKeys::from_master(&support::MASTER_KEY);
    let (merchant_id, terminal_id, run_id) =
        (0x0111_u128 << 80, 0x0222_u128 << 80, 0x0333_u128 << 80);
    let key_id = "ab".repeat(16);
    let sealed = keys.seal(
        b"the-secret",
        format!("terminal/{terminal_id}/secret").as_bytes(),
    );
    world
        .write_records(vec![
            put(
                KIND_MERCHANT,
                merchant_id.to_be_bytes().to_vec(),
                format!(
                    r#"{{"id":{merchant_id},"name":"Seongsu","brand":"Blue Cup","fee_bps":250,
                    "enabled":true,"created_at_s":1700000000}}"#
                ),
            ),
            put(
                KIND_TERMINAL,
                terminal_id.to_be_bytes().to_vec(),
                format!(
                    r#"{{"id":{terminal_id},"merchant_id":{merchant_id},"key_id":"{key_id}",
                    "secret_sealed":"{}","enabled":true,"created_at_s":1700000001}}"#,
                    hex::encode(&sealed)
                ),
            ),
            put(
                KIND_SETTLEMENT,
                run_id.to_be_bytes().to_vec(),
                format!(
                    r#"{{"id":{run_id},"until_s":1700000500,"status":"settled",
                    "lines":[{{"merchant_id":{merchant_id},"captured":10000,"refunded":0,
                    "gross":10000,"fee_bps":250,"fee":250,"net":9750}}],
                    "created_at_s":1700000600,"paid_at_s":null}}"#
                ),
            ),
        ])
        .await;
    world.restart().await;
    let platform = world.platform();
    let merchant = platform.merchant(merchant_id).await.unwrap();
    assert_eq!(
        (merchant.brand.as_str(), merchant.fee_bps),
        ("Blue Cup", 250)
    );
    let terminal = platform.terminal_key(&key_id).await.unwrap().unwrap();
    assert_eq!(terminal.terminal_id, terminal_id);
    assert_eq!(terminal.secret, b"the-secret");
    let terminals = platform.terminals(merchant_id).await.unwrap();
    assert_eq!(terminals.len(), 1);
    let runs = platform.settlements().await.unwrap();
    let run = runs.iter().find(|run| run.id == run_id).expect("the run");
    assert_eq!(run.status, SettlementStatus::Settled);
    assert_eq!(run.lines[0].net, 9_750);
    let paid = platform.settlement_paid(run_id).await.unwrap();
    assert_eq!(paid.status, SettlementStatus::Paid);
    let left = world.stored_records().await;
    let kinds = [KIND_MERCHANT, KIND_TERMINAL, KIND_SETTLEMENT];
    assert!(left.iter().all(|r| !kinds.contains(&r.kind.as_str())));
}

/// A partner of the older layout (its rates inside the record) moves into `partners` and
/// `partner_rates`; its sealed secret opens at start, and a second start reads the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_of_the_older_layout_move_into_their_tables() {
    use platform::partners::KIND_PARTNER;

    let mut world = World::any().await;
    let keys = platform::crypto::DataKeys::from_master(&support::MASTER_KEY);
    let partner_id = 0x0444_u128 << 80;
    let sealed = keys.seal(
        b"a-partner-secret-of-32-bytes-abc",
        format!("partner/{partner_id}/secret").as_bytes(),
    );
    world
        .write_records(vec![put(
            KIND_PARTNER,
            partner_id.to_be_bytes().to_vec(),
            format!(
                r#"{{"id":{partner_id},"name":"Sky Miles","api_base_url":"http://127.0.0.1:9",
                "secret_sealed":"{}","rates":[{{"effective_from_s":0,"num":1,"den":1}},
                {{"effective_from_s":1700000000,"num":3,"den":2}}],"minimum_unit":10,
                "daily_limit":1000000,"monthly_limit":10000000,"credit_line":10000000000,
                "enabled":true,"created_at_s":1}}"#,
                hex::encode(&sealed)
            ),
        )])
        .await;
    world.restart().await;
    let view = world.platform().partner(partner_id).await.unwrap();
    assert_eq!(view.record.name, "Sky Miles");
    assert_eq!(view.record.rates.len(), 2);
    let rate = view.record.rate_at(1_800_000_000).unwrap();
    assert_eq!((rate.num, rate.den), (3, 2));
    assert_eq!(
        world.platform().partner_secret(partner_id),
        Some(b"a-partner-secret-of-32-bytes-abc".to_vec())
    );
    let left = world.stored_records().await;
    assert!(left.iter().all(|r| r.kind != KIND_PARTNER));
    world.restart().await;
    let again = world.platform().partner(partner_id).await.unwrap();
    assert_eq!(again.record, view.record);
}
