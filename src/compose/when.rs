//! When a message was written, as the visitor's language writes it: CLDR's patterns and names
//! through ICU4X (`1 Dec, 06:20` in British English, `1 dic, 6:20` in Spanish, `昨日 6:20` in
//! Japanese), in the visitor's time zone, with the zone named once for the whole email.

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, Timelike, Utc};
use fixed_decimal::Decimal;
use icu_datetime::fieldsets::{self, zone};
use icu_datetime::input::{Date, DateTime as IcuDateTime, Time};
use icu_datetime::options::TimePrecision;
use icu_datetime::{DateTimeFormatter, NoCalendarFormatter};
use icu_experimental::relativetime::options::Numeric;
use icu_experimental::relativetime::{RelativeTimeFormatter, RelativeTimeFormatterOptions};
use icu_locale_core::Locale;
use icu_time::zone::{IanaParser, UtcOffset};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The formatters of one locale. Made once per locale and kept: making them reads CLDR's
/// compiled-in data, which costs more than formatting a whole email's times.
struct Formatters {
    /// Month, day and time (`Dec 1, 6:20 AM`): a message from before yesterday.
    date_time: Option<DateTimeFormatter<fieldsets::MDT>>,
    /// Month and day alone, to find the date inside `date_time`'s output and put the
    /// relative day's name in its place (so CLDR's own glue between date and time is kept).
    date: Option<DateTimeFormatter<fieldsets::MD>>,
    /// "today" / "yesterday" in the language (CLDR's relative day names).
    relative: Option<RelativeTimeFormatter>,
    /// The zone's generic name (`Central European Time`).
    zone: Option<NoCalendarFormatter<zone::GenericLong>>,
}

impl Formatters {
    /// The formatters for `locale` (a BCP 47 tag: `en-GB`, `es`, `ja`), falling back to the
    /// language's root data where the region is unknown; `None` where ICU4X has nothing.
    fn new(locale: &str) -> Formatters {
        let locale: Locale = locale.parse().unwrap_or(Locale::UNKNOWN);
        let mut relative = RelativeTimeFormatterOptions::default();
        relative.numeric = Some(Numeric::Auto);
        Formatters {
            date_time: DateTimeFormatter::try_new(
                (&locale).into(),
                fieldsets::MDT::medium().with_time_precision(TimePrecision::Minute),
            )
            .ok(),
            date: DateTimeFormatter::try_new((&locale).into(), fieldsets::MD::medium()).ok(),
            relative: RelativeTimeFormatter::try_new_long_day((&locale).into(), relative).ok(),
            zone: NoCalendarFormatter::try_new((&locale).into(), zone::GenericLong).ok(),
        }
    }

    /// The kept formatters of `locale`, made on first use.
    fn of(locale: &str) -> Arc<Formatters> {
        static KEPT: OnceLock<Mutex<HashMap<String, Arc<Formatters>>>> = OnceLock::new();
        let mut kept = KEPT
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Tags come from visitors: a bounded cache, emptied when full.
        if kept.len() >= 256 && !kept.contains_key(locale) {
            kept.clear();
        }
        kept.entry(locale.to_string())
            .or_insert_with(|| Arc::new(Formatters::new(locale)))
            .clone()
    }
}

/// Writes one email's times: a locale's formatters, the visitor's zone and the email's "now".
pub struct Clock {
    /// The locale's formatters.
    formatters: Arc<Formatters>,
    /// The visitor's zone; times are shown in it.
    tz: chrono_tz::Tz,
    /// When the email is made: "today" is this day in `tz`.
    now: DateTime<Utc>,
}

impl Clock {
    /// The clock of an email in `locale` (a BCP 47 tag), for a visitor in `tz`, made at `now`.
    pub fn new(locale: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Clock {
        Clock {
            formatters: Formatters::of(locale),
            tz,
            now,
        }
    }

    /// A message's time: `yesterday, 6:20 PM` / `today, 06:20` where it fits, else the day and
    /// month with the time; the year is left out (a conversation is days old, not years).
    pub fn time(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.tz).naive_local();
        let today = self.now.with_timezone(&self.tz).date_naive();
        let f = &self.formatters;
        let (Some(date_time), Some(date)) = (&f.date_time, &f.date) else {
            return local.format("%Y-%m-%d %H:%M").to_string();
        };
        let Some(input) = icu_input(local) else {
            return local.format("%Y-%m-%d %H:%M").to_string();
        };
        let full = date_time.format(&input).to_string();
        let days_ago = (today - local.date()).num_days();
        let relative = match (&f.relative, days_ago) {
            (Some(r), 0 | 1) => r.format(Decimal::from(-days_ago)).to_string(),
            _ => return full,
        };
        let day = date.format(&input.date).to_string();
        if full.contains(&day) {
            full.replacen(&day, &relative, 1)
        } else {
            full
        }
    }

    /// The zone's name as the language writes it (`Central European Time`, `hora de Europa
    /// central`), or its IANA name where CLDR has none.
    pub fn zone_name(&self) -> String {
        let iana = self.tz.name();
        let local = self.now.with_timezone(&self.tz);
        let offset = UtcOffset::try_from_seconds(local.offset().fix().local_minus_utc()).ok();
        let (Some(formatter), Some(input)) =
            (&self.formatters.zone, icu_input(local.naive_local()))
        else {
            return iana.to_string();
        };
        let info = IanaParser::new()
            .parse(iana)
            .with_offset(offset)
            .at_date_time(input);
        formatter.format(&info).to_string()
    }
}

/// The same wall-clock time as ICU4X's input (ISO calendar).
fn icu_input(t: NaiveDateTime) -> Option<IcuDateTime<icu_calendar::Iso>> {
    Some(IcuDateTime {
        date: Date::try_new_iso(t.year(), t.month() as u8, t.day() as u8).ok()?,
        time: Time::try_new(t.hour() as u8, t.minute() as u8, 0, 0).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn times_as_each_language_writes_them() {
        let now = utc(2026, 12, 5, 12, 0);
        let table = [
            (
                "en-GB",
                chrono_tz::UTC,
                utc(2026, 12, 1, 6, 20),
                "1 Dec, 06:20",
            ),
            (
                "en",
                chrono_tz::UTC,
                utc(2026, 12, 1, 18, 20),
                "Dec 1, 6:20\u{202f}PM",
            ),
            (
                "es",
                chrono_tz::UTC,
                utc(2026, 12, 1, 6, 20),
                "1 dic, 06:20",
            ),
            (
                "ru",
                chrono_tz::UTC,
                utc(2026, 12, 1, 6, 20),
                "1 дек., 06:20",
            ),
            (
                "en-GB",
                chrono_tz::UTC,
                utc(2026, 12, 5, 6, 20),
                "today, 06:20",
            ),
            (
                "en-GB",
                chrono_tz::UTC,
                utc(2026, 12, 4, 6, 20),
                "yesterday, 06:20",
            ),
            ("es", chrono_tz::UTC, utc(2026, 12, 4, 6, 20), "ayer, 06:20"),
            ("ja", chrono_tz::UTC, utc(2026, 12, 4, 6, 20), "昨日 6:20"),
            // In the visitor's zone: 23:30 UTC is already the next day in Madrid.
            (
                "es",
                chrono_tz::Europe::Madrid,
                utc(2026, 12, 4, 23, 30),
                "hoy, 00:30",
            ),
        ];
        for (locale, tz, at, want) in table {
            assert_eq!(Clock::new(locale, tz, now).time(at), want, "{locale} {at}");
        }
    }

    #[test]
    fn the_zone_is_named_in_the_language() {
        let now = utc(2026, 12, 5, 12, 0);
        let table = [
            ("en", chrono_tz::Europe::Madrid, "Central European Time"),
            ("es", chrono_tz::Europe::Madrid, "hora de Europa central"),
            ("en", chrono_tz::UTC, "Coordinated Universal Time"),
        ];
        for (locale, tz, want) in table {
            assert_eq!(
                Clock::new(locale, tz, now).zone_name(),
                want,
                "{locale} {tz}"
            );
        }
    }
}
