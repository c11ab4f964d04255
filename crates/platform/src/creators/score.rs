//! The scoring formula and the pool's division (docs/creators.md): pure integer arithmetic,
//! no IO.
//!
//! A content's score in a period, from what its platform reported:
//!
//! ```text
//! counted_comments = min(comments, views)        a comment without a view is not engagement
//! counted_ratings  = min(ratings_count, views)   nor is a rating
//! engagement       = views + 5 × counted_comments + 20 × counted_ratings
//! quality          = ratings_sum × 10 / ratings_count   (the average, in tenths of a star,
//!                    10 to 50; 30, a neutral 3.0, without ratings)
//! score            = min(engagement × quality / 50, CONTENT_SCORE_MAX)   (rounded down)
//! ```
//!
//! A creator's score is the sum of their contents' scores (at most [`CREATOR_SCORE_MAX`]).
//! A pool divides by the largest-remainder (Hamilton) method: each creator gets
//! `floor(pool × score / total)`, and the units left (fewer than the creators) go one each to
//! the largest remainders, ties to the smaller creator id.

/// Largest views, comments, ratings' sum or count of one content in a report.
pub const METRIC_MAX: u64 = 1_000_000_000_000;
/// Weight of a comment, in views.
pub const COMMENT_WEIGHT: u64 = 5;
/// Weight of a rating, in views.
pub const RATING_WEIGHT: u64 = 20;
/// Stars of the best rating (a rating is 1 to 5 stars).
pub const STARS_MAX: u64 = 5;
/// The quality of a content without ratings: 3.0 stars, in tenths.
pub const NEUTRAL_QUALITY_TENTHS: u64 = 30;
/// Largest score of one content in a period: no single content takes a whole pool by
/// inflated figures beyond it.
pub const CONTENT_SCORE_MAX: u64 = 1_000_000_000_000;
/// Largest score of one creator in a period (the sum of their contents' scores, capped).
pub const CREATOR_SCORE_MAX: u64 = 1_000_000_000_000_000_000;

/// One content's figures in a period, as its platform reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub views: u64,
    pub comments: u64,
    /// The sum of the ratings' stars (each 1 to 5).
    pub ratings_sum: u64,
    pub ratings_count: u64,
}

impl Metrics {
    /// Whether the figures can be true: each at most [`METRIC_MAX`], and the ratings' sum
    /// between one and five stars a rating.
    pub fn is_plausible(&self) -> bool {
        let within = [
            self.views,
            self.comments,
            self.ratings_sum,
            self.ratings_count,
        ]
        .iter()
        .all(|figure| *figure <= METRIC_MAX);
        let stars = u128::from(self.ratings_sum);
        let count = u128::from(self.ratings_count);
        within && count <= stars && stars <= count * u128::from(STARS_MAX)
    }

    /// The average rating in tenths of a star (10 to 50), or the neutral 30.
    pub fn quality_tenths(&self) -> u64 {
        match self.ratings_count {
            0 => NEUTRAL_QUALITY_TENTHS,
            count => {
                let tenths = u128::from(self.ratings_sum) * 10 / u128::from(count);
                u64::try_from(tenths).unwrap_or(u64::MAX).clamp(10, 50)
            }
        }
    }

    /// The content's score by the formula above.
    pub fn score(&self) -> u64 {
        let views = u128::from(self.views);
        let comments = u128::from(self.comments.min(self.views));
        let ratings = u128::from(self.ratings_count.min(self.views));
        let engagement =
            views + u128::from(COMMENT_WEIGHT) * comments + u128::from(RATING_WEIGHT) * ratings;
        let score = engagement * u128::from(self.quality_tenths()) / 50;
        u64::try_from(score)
            .unwrap_or(u64::MAX)
            .min(CONTENT_SCORE_MAX)
    }
}

/// A creator's share of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub creator_id: u128,
    pub score: u64,
    pub amount: u64,
}

/// Divides `pool` among `scores` (`(creator_id, score)`, every score above zero, every id
/// once) by the largest-remainder method. The shares sum to `pool` exactly; each is within
/// one unit of `pool × score / total`; a higher score never gets less. Empty when no score.
pub fn divide(pool: u64, scores: &[(u128, u64)]) -> Vec<Share> {
    let total: u128 = scores.iter().map(|(_, score)| u128::from(*score)).sum();
    if total == 0 || scores.is_empty() {
        return Vec::new();
    }
    let pool_units = u128::from(pool);
    // (index, remainder): pool × score < 2^64 × 2^64, no overflow.
    let mut remainders: Vec<(usize, u128)> = Vec::with_capacity(scores.len());
    let mut shares: Vec<Share> = Vec::with_capacity(scores.len());
    for (index, (creator_id, score)) in scores.iter().enumerate() {
        let exact = pool_units * u128::from(*score);
        let floor = u64::try_from(exact / total).expect("a share is at most the pool");
        remainders.push((index, exact % total));
        shares.push(Share {
            creator_id: *creator_id,
            score: *score,
            amount: floor,
        });
    }
    let given: u64 = shares.iter().map(|share| share.amount).sum();
    let left = pool - given;
    assert!(
        usize::try_from(left).is_ok_and(|left| left < scores.len()),
        "fewer units left than creators"
    );
    remainders.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(shares[a.0].creator_id.cmp(&shares[b.0].creator_id))
    });
    for (index, _) in remainders.iter().take(usize::try_from(left).unwrap_or(0)) {
        shares[*index].amount += 1;
    }
    let sum: u64 = shares.iter().map(|share| share.amount).sum();
    assert_eq!(sum, pool, "the shares sum to the pool");
    shares
}

/// The tip's split: `(platform, creator)`, the platform's `floor(amount × 30 / 100)` and the
/// creator the rest (the rounding favours the creator).
pub fn tip_split(amount: u64) -> (u64, u64) {
    let platform = u64::try_from(u128::from(amount) * 30 / 100).expect("at most the amount");
    (platform, amount - platform)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// docs/creators.md, "The worked example", number for number.
    #[test]
    fn scoring_formula_worked_example() {
        let cooking = Metrics {
            views: 1_000,
            comments: 40,
            ratings_sum: 41,
            ratings_count: 9,
        };
        assert_eq!(cooking.quality_tenths(), 45);
        assert_eq!(cooking.score(), 1_242);
        let spam = Metrics {
            views: 500,
            comments: 600,
            ratings_sum: 0,
            ratings_count: 0,
        };
        assert_eq!(spam.quality_tenths(), 30);
        assert_eq!(spam.score(), 1_800);
        let travel = Metrics {
            views: 2_000,
            comments: 10,
            ratings_sum: 20,
            ratings_count: 10,
        };
        assert_eq!(travel.quality_tenths(), 20);
        assert_eq!(travel.score(), 900);
        // Creators: A has the first two contents, B the third; a pool of 10,000 MVP.
        let shares = divide(10_000, &[(1, 1_242 + 1_800), (2, 900)]);
        assert_eq!(
            shares.iter().map(|share| share.amount).collect::<Vec<_>>(),
            [7_717, 2_283]
        );
        // 10,000 × 3,042 / 3,942 = 7,716.89…, 10,000 × 900 / 3,942 = 2,283.10…: one unit
        // left, to A's larger remainder.
    }

    #[test]
    fn figures_are_bounded_and_plausible() {
        let most = Metrics {
            views: METRIC_MAX,
            comments: METRIC_MAX,
            ratings_sum: METRIC_MAX,
            ratings_count: METRIC_MAX / STARS_MAX,
        };
        assert!(most.is_plausible());
        assert_eq!(most.score(), CONTENT_SCORE_MAX);
        let over = Metrics {
            views: METRIC_MAX + 1,
            ..Metrics::default()
        };
        assert!(!over.is_plausible());
        let six_stars = Metrics {
            views: 1,
            ratings_sum: 6,
            ratings_count: 1,
            ..Metrics::default()
        };
        assert!(!six_stars.is_plausible());
        assert_eq!(Metrics::default().score(), 0);
    }

    #[test]
    fn a_tip_is_split_30_70_in_the_creators_favour() {
        assert_eq!(tip_split(10_000), (3_000, 7_000));
        assert_eq!(tip_split(1), (0, 1));
        assert_eq!(tip_split(9), (2, 7));
        assert_eq!(tip_split(u64::MAX).0 + tip_split(u64::MAX).1, u64::MAX);
    }

    #[test]
    fn the_largest_scores_and_the_maximum_pool_divide_exactly() {
        let scores: Vec<(u128, u64)> = (1..=1_000)
            .map(|id| (id, CREATOR_SCORE_MAX - u64::try_from(id).unwrap()))
            .collect();
        let pool = u64::try_from(i64::MAX).unwrap();
        let shares = divide(pool, &scores);
        assert_eq!(shares.iter().map(|s| s.amount).sum::<u64>(), pool);
    }

    /// The naive reference: exact rationals in u128, the remainders ranked by cross
    /// multiplication instead of the shared denominator.
    fn reference(pool: u64, scores: &[(u128, u64)]) -> Vec<u64> {
        let total: u128 = scores.iter().map(|(_, s)| u128::from(*s)).sum();
        let mut floors: Vec<u64> = scores
            .iter()
            .map(|(_, s)| u64::try_from(u128::from(pool) * u128::from(*s) / total).unwrap())
            .collect();
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Fraction part of pool × s / total as (numerator, total): compare numerators.
        let fraction = |i: usize| (u128::from(pool) * u128::from(scores[i].1)) % total;
        order.sort_by(|a, b| {
            fraction(*b)
                .cmp(&fraction(*a))
                .then(scores[*a].0.cmp(&scores[*b].0))
        });
        let left = pool - floors.iter().sum::<u64>();
        for index in order.into_iter().take(usize::try_from(left).unwrap()) {
            floors[index] += 1;
        }
        floors
    }

    fn scores_strategy() -> impl Strategy<Value = Vec<(u128, u64)>> {
        prop::collection::btree_map(1u128..10_000, 1u64..=1_000_000_000_000, 1..60)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn shares_sum_to_the_pool_are_fair_and_monotone(
            pool in 0u64..=1_000_000_000_000_000,
            scores in scores_strategy(),
        ) {
            let shares = divide(pool, &scores);
            let amounts: Vec<u64> = shares.iter().map(|share| share.amount).collect();
            prop_assert_eq!(&amounts, &reference(pool, &scores));
            prop_assert_eq!(amounts.iter().sum::<u64>(), pool);
            let total: u128 = scores.iter().map(|(_, s)| u128::from(*s)).sum();
            for share in &shares {
                // |amount − pool × score / total| < 1, i.e. |amount × total − pool × score| < total.
                let scaled = u128::from(share.amount) * total;
                let exact = u128::from(pool) * u128::from(share.score);
                prop_assert!(scaled.abs_diff(exact) < total);
            }
            for a in &shares {
                for b in &shares {
                    if a.score > b.score {
                        prop_assert!(a.amount >= b.amount);
                    }
                }
            }
        }
    }
}
