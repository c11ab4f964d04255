//! Creator rewards through the platform's API on a real store (SQLite files, or PostgreSQL
//! with `MILEVERSE_TEST_PLATFORM_BACKEND=postgres`): a distribution at its maximum of
//! creators pays the 1,000 highest scores in one linked chain and leaves the pool at zero;
//! a creator's contents at their maximum; reports racing a distribution are counted before
//! it or refused.

mod support;

use ledger::types::{AccountId, Transfer, TransferId};
use platform::PlatformError;
use platform::chart;
use platform::creators::error::CreatorError;
use platform::creators::pools::CREATORS_PER_DISTRIBUTION_MAX;
use platform::creators::score::Metrics;
use platform::creators::{CONTENTS_PER_CREATOR_MAX, REPORT_ITEMS_MAX, Report, ReportItem};
use support::{FUNDING_ACCOUNT, World};

/// Books `amount` MVP of ad revenue (what billed impressions would have earned).
async fn ad_revenue(world: &World, amount: u64) {
    let transfer = Transfer {
        id: TransferId(chart::new_id()),
        debit_account_id: AccountId(FUNDING_ACCOUNT),
        credit_account_id: chart::AD_REVENUE_ACCOUNT,
        amount: u128::from(amount),
        ledger: chart::LEDGER_MVP,
        code: chart::transfer_code::AD_IMPRESSION,
        ..Transfer::default()
    };
    let results = world.ledger.create_transfers(vec![transfer]).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

/// Item `index` of a report: 5 views more per index, so every score differs (3 more).
fn item(index: usize) -> ReportItem {
    ReportItem {
        content_ref: format!("c-{index}"),
        metrics: Metrics {
            views: 1_000 + 5 * u64::try_from(index).unwrap(),
            ..Metrics::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distribution_at_its_maximum_pays_the_highest_scores_once() {
    let mut world = World::with_funding().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let grant = platform.register_media_platform("TongTube").await.unwrap();
    let creators = CREATORS_PER_DISTRIBUTION_MAX + 1;
    // One member may stand behind several creators of a platform (a studio's channels).
    for index in 0..creators {
        let reference = format!("creator-{index}");
        platform
            .put_creator(grant.platform_id, &reference, &member.phone, "Channel")
            .await
            .unwrap();
        let content = format!("c-{index}");
        platform
            .put_content(grant.platform_id, &content, &reference, "Episode 1")
            .await
            .unwrap();
    }
    let items: Vec<ReportItem> = (0..creators).map(item).collect();
    for (number, chunk) in items.chunks(REPORT_ITEMS_MAX).enumerate() {
        let report = Report {
            platform_id: grant.platform_id,
            report_id: format!("r-{number}"),
            period: "2026-12".into(),
            items: chunk.to_vec(),
        };
        assert!(!platform.report_metrics(report).await.unwrap().replayed);
    }
    ad_revenue(&world, 1_000_003).await;
    let pool = platform
        .fund_creator_pool(grant.platform_id, "2026-12", 1_000_003, "ads-2026-12")
        .await
        .unwrap();
    let paid = platform
        .distribute_creator_pool(pool.pool.id)
        .await
        .unwrap();
    assert!(paid.paid_now);
    assert_eq!(paid.payouts.len(), CREATORS_PER_DISTRIBUTION_MAX);
    assert_eq!(paid.report.remaining_mvp, 0);
    let total: u64 = paid.payouts.iter().map(|payout| payout.amount).sum();
    assert_eq!(total, 1_000_003, "the pool to the unit");
    let balances = platform.balance(member.id).await.unwrap();
    assert_eq!(balances.available, 1_000_003);
    // The lowest score (creator-0, 1,000 views) is the one left out.
    let first = platform
        .creator_payouts(grant.platform_id, "creator-0", None, 10)
        .await
        .unwrap();
    assert!(first.is_empty());
    let again = platform
        .distribute_creator_pool(pool.pool.id)
        .await
        .unwrap();
    assert!(!again.paid_now);
    assert_eq!(again.payouts, paid.payouts);
    assert_eq!(
        platform.balance(member.id).await.unwrap().available,
        1_000_003
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_holds_at_most_contents_per_creator_max_contents() {
    let config = platform::PlatformConfig::default();
    let mut world = World::memory_with(std::sync::Arc::new(support::NoPartner), config).await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let grant = platform.register_media_platform("TongTube").await.unwrap();
    platform
        .put_creator(grant.platform_id, "prolific", &member.phone, "Prolific")
        .await
        .unwrap();
    for index in 0..CONTENTS_PER_CREATOR_MAX {
        let content = format!("c-{index}");
        platform
            .put_content(grant.platform_id, &content, "prolific", "Episode")
            .await
            .unwrap();
    }
    let refused = platform
        .put_content(grant.platform_id, "one-more", "prolific", "Episode")
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        PlatformError::Creator(CreatorError::TooManyContents(CONTENTS_PER_CREATOR_MAX))
    );
    // A known content is retitled, not counted again.
    platform
        .put_content(grant.platform_id, "c-0", "prolific", "Episode 0")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_members_creator_gets_no_share_and_no_tip() {
    let mut world = World::with_funding().await;
    let (stays, leaves, fan) = (
        world.member().await,
        world.member().await,
        world.member().await,
    );
    world.fund(fan.id, 1_000).await;
    let platform = world.platform().clone();
    let grant = platform.register_media_platform("TongTube").await.unwrap();
    for (reference, member) in [("stays", &stays), ("leaves", &leaves)] {
        platform
            .put_creator(grant.platform_id, reference, &member.phone, "Channel")
            .await
            .unwrap();
        let content = format!("{reference}-1");
        platform
            .put_content(grant.platform_id, &content, reference, "Episode 1")
            .await
            .unwrap();
    }
    let report = Report {
        platform_id: grant.platform_id,
        report_id: "r-1".into(),
        period: "2026-12".into(),
        items: vec![item(0), item(1)]
            .into_iter()
            .zip(["stays-1", "leaves-1"])
            .map(|(item, content)| ReportItem {
                content_ref: content.into(),
                ..item
            })
            .collect(),
    };
    platform.report_metrics(report).await.unwrap();
    let leaving = platform.creators_page(None, None, 10).await.unwrap();
    let leaving = leaving
        .iter()
        .find(|view| view.creator.creator_ref == "leaves")
        .unwrap()
        .creator
        .id;
    platform.withdraw(leaves.id, None, None).await.unwrap();
    ad_revenue(&world, 999).await;
    let pool = platform
        .fund_creator_pool(grant.platform_id, "2026-12", 999, "ads")
        .await
        .unwrap();
    let paid = platform
        .distribute_creator_pool(pool.pool.id)
        .await
        .unwrap();
    assert_eq!(paid.payouts.len(), 1);
    assert_eq!(
        paid.payouts[0].amount, 999,
        "the whole pool to the one who can receive"
    );
    assert_eq!(platform.balance(stays.id).await.unwrap().available, 999);
    let tip = platform::creators::tips::TipRequest {
        member_id: fan.id,
        creator_id: leaving,
        amount: 10,
        memo: String::new(),
        idempotency_key: None,
        pin: None,
    };
    assert_eq!(
        platform.tip_creator(tip).await.unwrap_err(),
        PlatformError::Creator(CreatorError::CreatorUnavailable)
    );
}

/// A report of `views` for content `c-<index>` under `report_id`.
fn views_report(platform_id: u128, report_id: &str, index: usize, views: u64) -> Report {
    Report {
        platform_id,
        report_id: report_id.to_string(),
        period: "2026-12".into(),
        items: vec![ReportItem {
            content_ref: format!("c-{index}"),
            metrics: Metrics {
                views,
                ..Metrics::default()
            },
        }],
    }
}

/// Reports racing a distribution: each is counted before the distribution reads the scores
/// or refused as `creator-period-closed`, never counted after it. So the payouts are the
/// division of the scores the tables hold once the race is over, and a later report is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_racing_a_distribution_are_counted_before_it_or_refused() {
    let mut world = World::with_funding().await;
    let member = world.member().await;
    let platform = world.platform().clone();
    let grant = platform.register_media_platform("TongTube").await.unwrap();
    let platform_id = grant.platform_id;
    for index in 0..2 {
        let reference = format!("creator-{index}");
        platform
            .put_creator(platform_id, &reference, &member.phone, "Channel")
            .await
            .unwrap();
        let content = format!("c-{index}");
        platform
            .put_content(platform_id, &content, &reference, "Episode 1")
            .await
            .unwrap();
        let report = views_report(platform_id, &format!("base-{index}"), index, 1_000);
        platform.report_metrics(report).await.unwrap();
    }
    ad_revenue(&world, 10_000).await;
    let pool = platform
        .fund_creator_pool(platform_id, "2026-12", 10_000, "ads-2026-12")
        .await
        .unwrap();

    // 16 reports that each move creator-0's views, and the distribution among them.
    let mut reports = Vec::new();
    for number in 0..16_u64 {
        let platform = platform.clone();
        let report = views_report(platform_id, &format!("r-{number}"), 0, 1_100 + 97 * number);
        reports.push(tokio::spawn(async move {
            platform.report_metrics(report).await
        }));
    }
    let distributing = {
        let platform = platform.clone();
        let pool_id = pool.pool.id;
        tokio::spawn(async move { platform.distribute_creator_pool(pool_id).await })
    };
    let mut counted = 0;
    for report in reports {
        match report.await.unwrap() {
            Ok(_) => counted += 1,
            Err(PlatformError::Creator(CreatorError::PeriodClosed)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let paid = distributing.await.unwrap().unwrap();
    assert!(paid.paid_now);

    let scores = world
        .ledger
        .tables(move |read| {
            store::tables::creators::period_scores(read, platform_id, "2026-12", 10)
        })
        .await
        .unwrap();
    let expected: Vec<(u128, u64)> = platform::creators::score::divide(10_000, &scores)
        .into_iter()
        .map(|share| (share.creator_id, share.amount))
        .collect();
    let mut payouts: Vec<(u128, u64)> = paid
        .payouts
        .iter()
        .map(|payout| (payout.creator_id, payout.amount))
        .collect();
    let mut expected = expected;
    payouts.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        payouts, expected,
        "paid by the scores held after the race ({counted} of 16 reports counted)"
    );
    let late = views_report(platform_id, "late", 0, 5_000);
    assert_eq!(
        platform.report_metrics(late).await.map(|_| ()),
        Err(PlatformError::Creator(CreatorError::PeriodClosed))
    );
}
