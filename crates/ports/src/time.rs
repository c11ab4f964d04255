//! Wall-clock helpers: Unix seconds, RFC 3339 text, and Korean calendar days and months
//! (limits reset at midnight KST, UTC+9, the platform's home time zone).

use std::time::{SystemTime, UNIX_EPOCH};

/// Offset of Korea Standard Time from UTC (no daylight saving).
pub const KST_OFFSET_S: u64 = 9 * 3600;
const DAY_S: u64 = 86_400;

/// The latest time the platform takes from outside (9999-12-31T23:59:59Z): every time the
/// platform stores or queries fits a signed 64-bit column.
pub const TIME_S_MAX: u64 = 253_402_300_799;

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// civil-from-days algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 UTC text of Unix seconds, e.g. `2026-11-21T03:04:05Z`.
pub fn rfc3339(unix_s: u64) -> String {
    let (y, m, d) = civil_from_days((unix_s / DAY_S) as i64);
    let rest = unix_s % DAY_S;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The KST calendar day of an instant, as days since 1970-01-01.
pub fn kst_day(unix_s: u64) -> u64 {
    (unix_s + KST_OFFSET_S) / DAY_S
}

/// The Unix second the KST day of an instant began (never before the epoch).
pub fn kst_day_start_s(unix_s: u64) -> u64 {
    (kst_day(unix_s) * DAY_S).saturating_sub(KST_OFFSET_S)
}

/// The KST calendar month of an instant, as `year * 12 + month - 1`.
pub fn kst_month(unix_s: u64) -> i64 {
    let (y, m, _) = civil_from_days(kst_day(unix_s) as i64);
    y * 12 + i64::from(m) - 1
}

/// The Unix second the KST calendar month of an instant began (never before the epoch).
pub fn kst_month_start_s(unix_s: u64) -> u64 {
    let day = kst_day(unix_s);
    let (_, _, day_of_month) = civil_from_days(day as i64);
    let first = day.saturating_sub(u64::from(day_of_month).saturating_sub(1));
    (first * DAY_S).saturating_sub(KST_OFFSET_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_741_445), "2026-11-27T01:04:05Z");
    }

    #[test]
    fn kst_windows_turn_at_midnight_kst() {
        // 2026-11-30T14:59:59Z is 23:59:59 KST on Nov 30; one second later is Dec 1 KST.
        let before = 1_796_050_799;
        assert_eq!(rfc3339(before), "2026-11-30T14:59:59Z");
        assert_eq!(kst_day(before) + 1, kst_day(before + 1));
        assert_eq!(kst_month(before) + 1, kst_month(before + 1));
        assert_eq!(kst_month(before), 2026 * 12 + 10);
        // November KST began at 2026-10-31T15:00:00Z; December at 2026-11-30T15:00:00Z.
        assert_eq!(rfc3339(kst_month_start_s(before)), "2026-10-31T15:00:00Z");
        assert_eq!(
            rfc3339(kst_month_start_s(before + 1)),
            "2026-11-30T15:00:00Z"
        );
        assert_eq!(kst_month(kst_month_start_s(before)), kst_month(before));
        assert_eq!(
            kst_month(kst_month_start_s(before) - 1) + 1,
            kst_month(before)
        );
    }
}
