//! Leaderboard periods and their calendar: which day or ISO week a moment
//! falls in, and when that period's board starts afresh.
//!
//! All arithmetic is on UTC days counted from the Unix epoch, with Howard
//! Hinnant's `civil_from_days`/`days_from_civil` algorithms, so there is no
//! time zone database and no clock: the moment is always passed in.

use super::LeaderboardError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Milliseconds in a UTC day (Unix time has no leap seconds).
pub(crate) const MS_PER_DAY: u64 = 86_400_000;

/// Which slice of time a board covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Everything, never reset.
    AllTime,
    /// One UTC day, reset at 00:00 UTC.
    Daily,
    /// One ISO week, reset on Monday at 00:00 UTC.
    Weekly,
}

/// The period a moment falls in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Names this period in storage keys: `all`, `2026-12-31` or `2026-W53`.
    pub id: String,
    /// When the next period begins (Unix ms); `None` for all-time.
    pub resets_at_ms: Option<u64>,
}

impl Period {
    /// Every period, in the order the default configuration lists them.
    pub const ALL: [Period; 3] = [Period::AllTime, Period::Daily, Period::Weekly];

    /// The wire name: `all_time`, `daily` or `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::AllTime => "all_time",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
        }
    }

    /// When the period of this kind containing `now_ms` ends and its board
    /// starts afresh (Unix ms); `None` for all-time.
    pub fn resets_at_ms(self, now_ms: u64) -> Option<u64> {
        self.window(now_ms).resets_at_ms
    }

    /// The period of this kind that contains `now_ms` (Unix ms, UTC).
    pub(crate) fn window(self, now_ms: u64) -> Window {
        let day = (now_ms / MS_PER_DAY) as i64;
        match self {
            Period::AllTime => Window {
                id: "all".to_owned(),
                resets_at_ms: None,
            },
            Period::Daily => {
                let (y, m, d) = civil_from_days(day);
                Window {
                    id: format!("{y:04}-{m:02}-{d:02}"),
                    resets_at_ms: Some((day as u64 + 1) * MS_PER_DAY),
                }
            }
            Period::Weekly => {
                let (year, week, monday) = iso_week(day);
                Window {
                    id: format!("{year:04}-W{week:02}"),
                    // The Monday of a week containing a non-negative day is
                    // at most 3 days before the epoch, so the next one is
                    // after it.
                    resets_at_ms: Some((monday + 7) as u64 * MS_PER_DAY),
                }
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = LeaderboardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| LeaderboardError::UnknownPeriod(s.to_owned()))
    }
}

/// The ISO 8601 week of a day: (ISO year, week 1..=53, the day number of its
/// Monday). A week belongs to the year holding its Thursday, which is why
/// 2026-12-31 is in 2026-W53 and 2027-W01 starts on Monday 2027-01-04.
fn iso_week(day: i64) -> (i64, i64, i64) {
    // 1970-01-01 was a Thursday: with Monday as 0 it is weekday 3.
    let weekday = (day + 3).rem_euclid(7);
    let monday = day - weekday;
    let thursday = monday + 3;
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    (year, week, monday)
}

/// The (year, month, day) of a day number (0 is 1970-01-01), proleptic
/// Gregorian.
pub(crate) fn civil_from_days(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// The day number (0 is 1970-01-01) of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    // Months counted from March, so the leap day ends the year.
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date and time.
    fn at(y: i64, m: u32, d: u32, hh: u64, mm: u64, ss: u64) -> u64 {
        days_from_civil(y, m, d) as u64 * MS_PER_DAY + ((hh * 60 + mm) * 60 + ss) * 1000
    }

    #[test]
    fn civil_dates_round_trip_and_match_known_instants() {
        assert_eq!(at(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(at(2024, 1, 1, 0, 0, 0), 1_704_067_200_000);
        assert_eq!(at(2027, 1, 4, 0, 0, 0), 1_799_020_800_000);
        for day in -1000..200_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn daily_ids_and_resets_follow_utc_midnight() {
        let cases = [
            (
                at(2024, 2, 28, 12, 0, 0),
                "2024-02-28",
                at(2024, 2, 29, 0, 0, 0),
            ),
            (
                at(2024, 2, 29, 23, 59, 59) + 999,
                "2024-02-29",
                at(2024, 3, 1, 0, 0, 0),
            ),
            (
                at(2026, 12, 31, 23, 59, 59),
                "2026-12-31",
                at(2027, 1, 1, 0, 0, 0),
            ),
            (
                at(2027, 1, 1, 0, 0, 0),
                "2027-01-01",
                at(2027, 1, 2, 0, 0, 0),
            ),
        ];
        for (now, id, reset) in cases {
            let w = Period::Daily.window(now);
            assert_eq!(
                (w.id.as_str(), w.resets_at_ms),
                (id, Some(reset)),
                "at {now}"
            );
        }
    }

    #[test]
    fn weekly_ids_are_iso_weeks_starting_monday() {
        let cases = [
            // 2026 began on a Thursday, so it has 53 ISO weeks.
            (
                at(2026, 12, 31, 10, 0, 0),
                "2026-W53",
                at(2027, 1, 4, 0, 0, 0),
            ),
            (
                at(2027, 1, 3, 23, 59, 59),
                "2026-W53",
                at(2027, 1, 4, 0, 0, 0),
            ),
            (
                at(2027, 1, 4, 0, 0, 0),
                "2027-W01",
                at(2027, 1, 11, 0, 0, 0),
            ),
            (
                at(2026, 12, 28, 0, 0, 0),
                "2026-W53",
                at(2027, 1, 4, 0, 0, 0),
            ),
            (
                at(2026, 12, 27, 23, 59, 59),
                "2026-W52",
                at(2026, 12, 28, 0, 0, 0),
            ),
            // A Monday in December that opens week 1 of the next year.
            (
                at(2024, 12, 30, 0, 0, 0),
                "2025-W01",
                at(2025, 1, 6, 0, 0, 0),
            ),
            (
                at(2024, 12, 29, 23, 0, 0),
                "2024-W52",
                at(2024, 12, 30, 0, 0, 0),
            ),
            // A January Sunday still in the previous year's last week.
            (
                at(2021, 1, 3, 12, 0, 0),
                "2020-W53",
                at(2021, 1, 4, 0, 0, 0),
            ),
            (at(2024, 1, 1, 0, 0, 0), "2024-W01", at(2024, 1, 8, 0, 0, 0)),
            (0, "1970-W01", at(1970, 1, 5, 0, 0, 0)),
        ];
        for (now, id, reset) in cases {
            let w = Period::Weekly.window(now);
            assert_eq!(
                (w.id.as_str(), w.resets_at_ms),
                (id, Some(reset)),
                "at {now}"
            );
        }
    }

    #[test]
    fn all_time_never_resets() {
        let w = Period::AllTime.window(at(2030, 6, 1, 0, 0, 0));
        assert_eq!((w.id.as_str(), w.resets_at_ms), ("all", None));
    }

    #[test]
    fn periods_parse_and_print_their_wire_names() {
        for p in Period::ALL {
            assert_eq!(p.as_str().parse::<Period>().expect("parses"), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        assert!(matches!(
            "monthly".parse::<Period>(),
            Err(LeaderboardError::UnknownPeriod(p)) if p == "monthly"
        ));
    }
}
