//! UTC days and calendar months from milliseconds since the epoch (the budget periods). Hand-written
//! (Howard Hinnant's `civil_from_days` / `days_from_civil`): a few lines of integer arithmetic, where
//! a date crate would add a time-zone database to the Worker.

const DAY_MS: u64 = 86_400_000;

/// Days since 1970-01-01 (UTC).
pub fn day(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}

/// The start of the next UTC day, in ms.
pub fn next_day_ms(now_ms: u64) -> u64 {
    (day(now_ms) + 1).saturating_mul(DAY_MS)
}

/// (year, month 1-12) of a day number.
fn civil(days: u64) -> (u64, u64) {
    let (y, m, _) = civil_date(days);
    (y, m)
}

/// (year, month 1-12, day 1-31) of a day number.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, doy - (153 * mp + 2) / 5 + 1)
}

/// `2026-01-02T00:00:00Z`.
pub fn iso(ms: u64) -> String {
    let (y, m, d) = civil_date(day(ms));
    let secs = (ms % DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The day number of the first day of (year, month).
fn first_day(year: u64, month: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// `year * 12 + month - 1` (UTC).
pub fn month(now_ms: u64) -> u64 {
    let (y, m) = civil(day(now_ms));
    y * 12 + m - 1
}

/// The start of the next UTC calendar month, in ms.
pub fn next_month_ms(now_ms: u64) -> u64 {
    let (y, m) = civil(day(now_ms));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    first_day(y, m).saturating_mul(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months() {
        let jan1_2026 = 1_767_225_600_000;
        assert_eq!(civil(day(jan1_2026)), (2026, 1));
        assert_eq!(next_day_ms(jan1_2026), jan1_2026 + DAY_MS);
        assert_eq!(next_day_ms(jan1_2026 + DAY_MS - 1), jan1_2026 + DAY_MS);
        assert_eq!(next_month_ms(jan1_2026), jan1_2026 + 31 * DAY_MS);
        // 2028 is a leap year: February has 29 days.
        let feb1_2028 = 1_832_976_000_000;
        assert_eq!(civil(day(feb1_2028)), (2028, 2));
        assert_eq!(next_month_ms(feb1_2028), feb1_2028 + 29 * DAY_MS);
        // December rolls into the next year.
        let dec15_2026 = 1_797_292_800_000;
        assert_eq!(civil(day(dec15_2026)), (2026, 12));
        assert_eq!(next_month_ms(dec15_2026), 1_798_761_600_000);
        assert_eq!(month(dec15_2026) + 1, month(1_798_761_600_000));
        assert_eq!(civil(0), (1970, 1));
        assert_eq!(iso(jan1_2026), "2026-01-01T00:00:00Z");
        assert_eq!(iso(1_797_336_245_000), "2026-12-15T12:04:05Z");
        assert_eq!(iso(feb1_2028 + 28 * DAY_MS), "2028-02-29T00:00:00Z");
        // Every first day maps back to its month.
        for y in [1970, 1999, 2000, 2024, 2100] {
            for m in 1..=12 {
                assert_eq!(civil(first_day(y, m)), (y, m));
            }
        }
    }
}
