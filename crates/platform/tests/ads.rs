//! Ads through the platform's API on a real store (SQLite files, or PostgreSQL with
//! `MILEVERSE_TEST_PLATFORM_BACKEND=postgres`): a view bills its impression once, a click
//! once however often and however concurrently it comes, the frequency cap holds per
//! member and day, a campaign whose budget no longer covers a view stops, and every MVP
//! billed is a ledger transfer from the budget the advertiser prepaid.

mod support;

use ledger::types::AccountId;
use platform::PlatformError;
use platform::ads::{Advertiser, NewCampaign};
use platform::chart;
use platform::error::Entity;
use platform::merchants::NewMerchant;
use ports::time::now_s;
use support::World;

fn campaign(merchant_id: u128) -> NewCampaign {
    let now = now_s();
    NewCampaign {
        advertiser: Advertiser::Merchant(merchant_id),
        name: "Blue Cup launch".into(),
        headline: "Blue Cup opens in Seongsu".into(),
        body: "A free size-up with MVP this week.".into(),
        link_url: "https://bluecup.example/seongsu".into(),
        starts_at_s: now.saturating_sub(60),
        ends_at_s: now + 3600,
        budget: 120,
        price_per_impression: 10,
        price_per_click: 50,
        frequency_cap: 3,
    }
}

async fn advertiser(world: &World) -> u128 {
    let new = NewMerchant {
        name: "Blue Cup Seongsu".into(),
        brand: "Blue Cup".into(),
        fee_bps: 250,
    };
    world.platform().create_merchant(new).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_clicks_are_billed_once_within_the_cap_and_the_budget() {
    let mut world = World::any().await;
    let merchant_id = advertiser(&world).await;
    let alice = world.member().await;
    let bob = world.member().await;
    let platform = world.platform().clone();
    let campaign = platform
        .create_campaign(campaign(merchant_id))
        .await
        .unwrap();
    let report = platform.campaign_report(campaign.id).await.unwrap();
    assert_eq!((report.spent, report.remaining), (0, 120));

    let first = platform
        .serve_ad(alice.id, "home")
        .await
        .unwrap()
        .expect("an ad");
    assert_eq!(first.campaign_id, campaign.id);
    // A click reported many times at once is billed once.
    let clicks: Vec<_> = (0..8)
        .map(|_| {
            let platform = platform.clone();
            tokio::spawn(async move { platform.click_ad(alice.id, first.view_id).await })
        })
        .collect();
    for click in clicks {
        assert_eq!(
            click.await.unwrap().unwrap(),
            "https://bluecup.example/seongsu"
        );
    }
    platform.click_ad(alice.id, first.view_id).await.unwrap();
    let report = platform.campaign_report(campaign.id).await.unwrap();
    assert_eq!(
        (report.impressions, report.clicks, report.spent),
        (1, 1, 60)
    );
    // Another member's view is nobody else's to click.
    let unseen = platform.click_ad(bob.id, first.view_id).await.unwrap_err();
    assert!(
        matches!(unseen, PlatformError::NotFound(Entity::AdView)),
        "{unseen:?}"
    );

    // The cap: three views a day for Alice, then none.
    for _ in 0..2 {
        assert!(platform.serve_ad(alice.id, "home").await.unwrap().is_some());
    }
    assert_eq!(platform.serve_ad(alice.id, "home").await.unwrap(), None);
    let report = platform.campaign_report(campaign.id).await.unwrap();
    assert_eq!(
        (report.impressions, report.spent, report.remaining),
        (3, 80, 40)
    );

    // 40 MVP left no longer covers a view and its click (50): the campaign stops.
    assert_eq!(platform.serve_ad(bob.id, "home").await.unwrap(), None);
    let report = platform.campaign_report(campaign.id).await.unwrap();
    assert_eq!(report.campaign.status, "exhausted");
    assert_eq!((report.impressions, report.spent), (3, 80));

    // Every MVP billed is a ledger transfer from the prepaid budget to the revenue.
    let accounts = world
        .ledger
        .lookup_accounts(vec![
            AccountId(campaign.id),
            chart::AD_PREPAYMENTS_ACCOUNT,
            chart::AD_REVENUE_ACCOUNT,
        ])
        .await
        .unwrap();
    assert_eq!(
        (accounts[0].credits_posted, accounts[0].debits_posted),
        (120, 80)
    );
    assert_eq!(accounts[1].debits_posted, 120);
    assert_eq!(accounts[2].credits_posted, 80);

    // A restart changes nothing: the views, clicks and status are in the store.
    drop(platform);
    world.restart().await;
    let report = world.platform().campaign_report(campaign.id).await.unwrap();
    assert_eq!(
        (report.impressions, report.clicks, report.spent),
        (3, 1, 80)
    );
    assert_eq!(
        world.platform().serve_ad(bob.id, "home").await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_campaigns_are_refused_and_fund_nothing() {
    let world = World::any().await;
    let merchant_id = advertiser(&world).await;
    let platform = world.platform();
    let good = campaign(merchant_id);
    let cases: Vec<(&str, NewCampaign)> = vec![
        (
            "budget",
            NewCampaign {
                budget: 0,
                ..good.clone()
            },
        ),
        (
            "budget",
            NewCampaign {
                budget: platform::ads::BUDGET_MVP_MAX + 1,
                ..good.clone()
            },
        ),
        (
            "price_per_click",
            NewCampaign {
                price_per_impression: 0,
                price_per_click: 0,
                ..good.clone()
            },
        ),
        (
            "link_url",
            NewCampaign {
                link_url: "javascript:alert(1)".into(),
                ..good.clone()
            },
        ),
        (
            "link_url",
            NewCampaign {
                link_url: "https://a.example/\"><b>".into(),
                ..good.clone()
            },
        ),
        (
            "ends_at",
            NewCampaign {
                ends_at_s: good.starts_at_s,
                ..good.clone()
            },
        ),
        (
            "frequency_cap",
            NewCampaign {
                frequency_cap: 0,
                ..good.clone()
            },
        ),
        // Past every column's range: refused here, never a row the writer would refuse.
        (
            "ends_at",
            NewCampaign {
                starts_at_s: u64::MAX - 10,
                ends_at_s: u64::MAX,
                ..good.clone()
            },
        ),
        (
            "headline",
            NewCampaign {
                headline: " ".into(),
                ..good.clone()
            },
        ),
    ];
    for (field, new) in cases {
        match platform.create_campaign(new).await {
            Err(PlatformError::Invalid { field: refused, .. }) => assert_eq!(refused, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let unknown = NewCampaign {
        advertiser: Advertiser::Merchant(12345),
        ..good.clone()
    };
    let error = platform.create_campaign(unknown).await.unwrap_err();
    assert!(
        matches!(error, PlatformError::NotFound(Entity::Merchant)),
        "{error:?}"
    );
    let partner = NewCampaign {
        advertiser: Advertiser::Partner(12345),
        ..good
    };
    let error = platform.create_campaign(partner).await.unwrap_err();
    assert!(
        matches!(error, PlatformError::NotFound(Entity::Partner)),
        "{error:?}"
    );
    assert!(
        platform
            .campaign_reports(None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    let prepayments = world
        .ledger
        .lookup_accounts(vec![chart::AD_PREPAYMENTS_ACCOUNT])
        .await
        .unwrap();
    assert_eq!(prepayments[0].debits_posted, 0);
}
