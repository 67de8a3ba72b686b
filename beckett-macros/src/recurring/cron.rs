//! The cron expression of `#[recurring]`: checked at compile time and
//! rewritten into the form the `cron` crate reads at run time.
//!
//! Users write crontab: 5 fields, minute first, days of week numbered 0 or
//! 7 for Sunday, 1 for Monday, up to 6 for Saturday. They may also write 6
//! fields with seconds first, or 7 with a year last, or a shorthand such as
//! `@daily`; days of week keep the crontab numbering in every form.
//!
//! The `cron` crate reads 6 or 7 fields, numbers days of week from 1
//! (Sunday) to 7 (Saturday), and runs when both the day of month and the
//! day of week match, where crontab runs when either does. [`normalise`]
//! prepends the seconds to 5 fields, renumbers the day of week into the
//! crate's ordinals, and refuses an expression restricting both days,
//! whose meaning depends on which convention the reader assumes.

use std::str::FromStr;

/// The shorthands the `cron` crate reads, passed through as they are.
const SHORTHANDS: &[&str] = &["@yearly", "@monthly", "@weekly", "@daily", "@hourly"];

/// What a longhand expression looks like, for errors about its fields.
const EXPECTED_FIELDS: &str = "expected 5 fields (minute hour day-of-month month day-of-week), \
                               or 6 or 7 with seconds first and an optional year last";

/// The expression as the `cron` crate reads it, or every mistake found in
/// it, each a complete message quoting the expression.
pub fn normalise(expression: &str) -> Result<String, Vec<String>> {
    let trimmed = expression.trim();
    if trimmed.is_empty() {
        return Err(vec![format!(
            "the cron expression is empty; {EXPECTED_FIELDS}"
        )]);
    }
    if trimmed.starts_with('@') {
        return shorthand(trimmed);
    }
    let written: Vec<&str> = trimmed.split_whitespace().collect();
    let kinds: &[Field] = match written.len() {
        5 => &Field::CRONTAB,
        6 | 7 => &Field::ALL[..written.len()],
        count => {
            return Err(vec![format!(
                "the cron expression `{trimmed}` has {count} field{}; {EXPECTED_FIELDS}",
                if count == 1 { "" } else { "s" }
            )])
        }
    };
    let fields: Vec<(Field, &str)> = kinds.iter().copied().zip(written).collect();
    let invalid = |problem: String| format!("invalid cron expression `{trimmed}`: {problem}");

    let mut errors = Vec::new();
    let mut normalised = Vec::with_capacity(7);
    if kinds.len() == 5 {
        normalised.push("0".to_owned());
    }
    for &(field, text) in &fields {
        let converted = if field == Field::DayOfWeek {
            day_of_week(text)
        } else {
            check_field(field, text).map(|()| text.to_owned())
        };
        match converted {
            Ok(converted) => normalised.push(converted),
            Err(problem) => errors.push(invalid(describe(field, text, &problem))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let text_of = |kind: Field| fields.iter().find(|(field, _)| *field == kind).map(|f| f.1);
    if let (Some(day), Some(weekday)) = (text_of(Field::DayOfMonth), text_of(Field::DayOfWeek)) {
        if !unrestricted(day) && !unrestricted(weekday) {
            return Err(vec![invalid(format!(
                "it restricts both the day of month (`{day}`) and the day of week \
                 (`{weekday}`); crontab runs such a schedule when either matches, beckett \
                 only when both do, so restrict only one of them and write `*` for the other"
            ))]);
        }
    }

    let normalised = normalised.join(" ");
    let schedule = ::cron::Schedule::from_str(&normalised)
        .map_err(|error| vec![invalid(error.to_string())])?;
    if !fires(&schedule) {
        return Err(vec![format!(
            "the cron expression `{trimmed}` never fires: no date and time matches all its fields"
        )]);
    }
    Ok(normalised)
}

/// `@daily` and the like, as they are; an unknown one is an error.
fn shorthand(trimmed: &str) -> Result<String, Vec<String>> {
    if SHORTHANDS.contains(&trimmed) {
        return Ok(trimmed.to_owned());
    }
    Err(vec![format!(
        "unknown cron shorthand `{trimmed}`; expected one of {}, or {EXPECTED_FIELDS}",
        SHORTHANDS.join(", ")
    )])
}

/// Whether a day field leaves the day unrestricted.
fn unrestricted(text: &str) -> bool {
    matches!(text, "*" | "?")
}

/// Whether `schedule` has any occurrence from 1970 on (the `cron` crate
/// knows no earlier year).
fn fires(schedule: &::cron::Schedule) -> bool {
    let before_1970 = chrono::DateTime::from_timestamp(-1, 0).unwrap_or_default();
    schedule.after(&before_1970).next().is_some()
}

/// Checks one field other than the day of week with the `cron` crate, the
/// other fields left unrestricted; when the crate refuses it, says why as
/// precisely as the field's own syntax allows.
fn check_field(field: Field, text: &str) -> Result<(), Problem> {
    let mut probe = ["*"; 7];
    probe[field as usize] = text;
    if ::cron::Schedule::from_str(&probe.join(" ")).is_ok() {
        return Ok(());
    }
    // The crate's own message can mislead ("Minutes must be less than 59"
    // for 61), so the field is read again here to name the mistake.
    Err(items(field, text).err().unwrap_or(Problem::Unreadable))
}

/// A crontab day-of-week field as the `cron` crate's ordinals: `*` and `?`
/// as they are, anything else as the sorted list of the days it selects.
fn day_of_week(text: &str) -> Result<String, Problem> {
    if unrestricted(text) {
        return Ok(text.to_owned());
    }
    let mut days = [false; 7];
    for item in items(Field::DayOfWeek, text)? {
        let (start, end) = match item.base {
            Base::Every => (0, 6),
            Base::Value(day) if item.step.is_some() => (day, day.max(6)),
            Base::Value(day) => (day, day),
            Base::Range(start, end) => (start, end),
        };
        let step = item.step.unwrap_or(1) as usize;
        for day in (start..=end).step_by(step) {
            // Crontab's 7 is Sunday, as is 0.
            days[day as usize % 7] = true;
        }
    }
    // Crontab numbers Sunday 0; the `cron` crate numbers it 1.
    let ordinals: Vec<String> = (0..7)
        .filter(|&day| days[day])
        .map(|day| (day + 1).to_string())
        .collect();
    Ok(ordinals.join(","))
}

/// A field of a longhand expression, numbered by its place in the `cron`
/// crate's 7 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl Field {
    /// The fields of 6 or 7 field expressions, in order.
    const ALL: [Self; 7] = [
        Self::Second,
        Self::Minute,
        Self::Hour,
        Self::DayOfMonth,
        Self::Month,
        Self::DayOfWeek,
        Self::Year,
    ];

    /// The fields of a crontab expression, in order.
    const CRONTAB: [Self; 5] = [
        Self::Minute,
        Self::Hour,
        Self::DayOfMonth,
        Self::Month,
        Self::DayOfWeek,
    ];

    /// The field's name in messages.
    fn name(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
            Self::Year => "year",
        }
    }

    /// The values the field takes, in words.
    fn range(self) -> &'static str {
        match self {
            Self::Second => "seconds are 0-59",
            Self::Minute => "minutes are 0-59",
            Self::Hour => "hours are 0-23",
            Self::DayOfMonth => "days of month are 1-31",
            Self::Month => "months are 1-12 or JAN-DEC",
            Self::DayOfWeek => "days of week are 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT",
            Self::Year => "years are 1970-2100",
        }
    }

    /// The smallest and largest value the field takes.
    fn bounds(self) -> (u32, u32) {
        match self {
            Self::Second | Self::Minute => (0, 59),
            Self::Hour => (0, 23),
            Self::DayOfMonth => (1, 31),
            Self::Month => (1, 12),
            Self::DayOfWeek => (0, 7),
            Self::Year => (1970, 2100),
        }
    }

    /// The largest step the `cron` crate takes in the field.
    fn max_step(self) -> u32 {
        self.bounds().1
    }

    /// The value a name stands for, in the fields that take names: the
    /// names the `cron` crate reads, in any case, days numbered as in
    /// crontab.
    fn named(self, name: &str) -> Option<u32> {
        let names: &[(&[&str], u32)] = match self {
            Self::Month => &[
                (&["jan", "january"], 1),
                (&["feb", "february"], 2),
                (&["mar", "march"], 3),
                (&["apr", "april"], 4),
                (&["may"], 5),
                (&["jun", "june"], 6),
                (&["jul", "july"], 7),
                (&["aug", "august"], 8),
                (&["sep", "september"], 9),
                (&["oct", "october"], 10),
                (&["nov", "november"], 11),
                (&["dec", "december"], 12),
            ],
            Self::DayOfWeek => &[
                (&["sun", "sunday"], 0),
                (&["mon", "monday"], 1),
                (&["tue", "tues", "tuesday"], 2),
                (&["wed", "wednesday"], 3),
                (&["thu", "thurs", "thursday"], 4),
                (&["fri", "friday"], 5),
                (&["sat", "saturday"], 6),
            ],
            _ => return None,
        };
        let name = name.to_ascii_lowercase();
        names
            .iter()
            .find(|(spellings, _)| spellings.contains(&name.as_str()))
            .map(|&(_, value)| value)
    }

    /// Whether the field takes names at all.
    fn has_names(self) -> bool {
        matches!(self, Self::Month | Self::DayOfWeek)
    }

    /// Whether `?` (any) is allowed, as in the `cron` crate.
    fn allows_any(self) -> bool {
        matches!(self, Self::DayOfMonth | Self::DayOfWeek)
    }
}

/// One item of a field's comma-separated list.
struct Item {
    base: Base,
    /// `/step`.
    step: Option<u32>,
}

/// What an item selects before its step.
enum Base {
    /// `*` or `?`.
    Every,
    /// One value; with a step, the values from it to the field's end.
    Value(u32),
    /// `start-end`, both included.
    Range(u32, u32),
}

/// What is wrong with a field.
#[derive(Debug, PartialEq)]
enum Problem {
    /// `1,,2`.
    EmptyItem,
    /// A value outside the field's bounds, as written.
    OutOfRange(String),
    /// `start-end` with `start` after `end`.
    Descending { item: String, start: u32, end: u32 },
    /// A step of zero, or larger than the field allows, as written.
    Step(String),
    /// A name that is not a month or day of week.
    UnknownName(String),
    /// `?` in a field other than the days.
    Any,
    /// Anything else.
    Unreadable,
}

/// The items of a field, or its first mistake.
fn items(field: Field, text: &str) -> Result<Vec<Item>, Problem> {
    text.split(',')
        .map(|item| parse_item(field, item))
        .collect()
}

/// `*`, `?`, a value or a range `a-b`, each optionally followed by `/step`.
fn parse_item(field: Field, item: &str) -> Result<Item, Problem> {
    if item.is_empty() {
        return Err(Problem::EmptyItem);
    }
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(field, step)?)),
        None => (item, None),
    };
    let base = match base {
        "*" => Base::Every,
        "?" if field.allows_any() => Base::Every,
        "?" => return Err(Problem::Any),
        _ => match base.split_once('-') {
            Some((start, end)) => {
                let (start, end) = (value(field, start)?, value(field, end)?);
                if start > end {
                    return Err(Problem::Descending {
                        item: base.to_owned(),
                        start,
                        end,
                    });
                }
                Base::Range(start, end)
            }
            None => Base::Value(value(field, base)?),
        },
    };
    Ok(Item { base, step })
}

/// A value written as a number or, where the field takes them, a name.
fn value(field: Field, text: &str) -> Result<u32, Problem> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let (min, max) = field.bounds();
        return text
            .parse()
            .ok()
            .filter(|value| (min..=max).contains(value))
            .ok_or_else(|| Problem::OutOfRange(text.to_owned()));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) && field.has_names() {
        return field
            .named(text)
            .ok_or_else(|| Problem::UnknownName(text.to_owned()));
    }
    Err(Problem::Unreadable)
}

/// The number after `/`, from 1 to the field's largest step.
fn parse_step(field: Field, text: &str) -> Result<u32, Problem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::Unreadable);
    }
    text.parse()
        .ok()
        .filter(|step| (1..=field.max_step()).contains(step))
        .ok_or_else(|| Problem::Step(text.to_owned()))
}

/// How to write the values from `start` round to `end`, for a range
/// written backwards.
fn wrapped(field: Field, start: u32, end: u32) -> String {
    let range = |from: u32, to: u32| {
        if from == to {
            from.to_string()
        } else {
            format!("{from}-{to}")
        }
    };
    if field == Field::DayOfWeek {
        // Sunday is 7 as well as 0, so a range may run on to it.
        return if end == 0 {
            format!("Sunday is 7 as well as 0, so write `{}`", range(start, 7))
        } else {
            format!(
                "to run on past Sunday, write `{},{}` (7 is Sunday, as is 0)",
                range(start, 7),
                range(1, end)
            )
        };
    }
    let (min, max) = field.bounds();
    format!(
        "to wrap around, write two ranges: `{},{}`",
        range(start, max),
        range(min, end)
    )
}

/// "the minute field `61` is out of range: minutes are 0-59".
fn describe(field: Field, text: &str, problem: &Problem) -> String {
    let subject = format!("the {} field `{text}`", field.name());
    let range = field.range();
    // When the mistake is the whole field, say so; else quote the part.
    let about = |written: &str, predicate: &str| {
        if written == text {
            format!("{subject} {predicate}")
        } else {
            format!("{subject} has `{written}`, which {predicate}")
        }
    };
    match problem {
        Problem::EmptyItem => format!("{subject} has an empty item between commas"),
        Problem::OutOfRange(value) => format!("{}: {range}", about(value, "is out of range")),
        Problem::Descending { item, start, end } => {
            let hint = wrapped(field, *start, *end);
            format!("{}; {hint}", about(item, "is a range that runs backwards"))
        }
        Problem::Step(step) => format!(
            "{subject} has the step `/{step}`; steps are 1-{}",
            field.max_step()
        ),
        Problem::UnknownName(name) => {
            let kind = if field == Field::Month {
                "is not a month"
            } else {
                "is not a day of week"
            };
            format!("{}: {range}", about(name, kind))
        }
        Problem::Any => format!(
            "{subject} is not valid: `?` is allowed only in the day-of-month and day-of-week \
             fields; write `*`"
        ),
        Problem::Unreadable => format!(
            "{subject} is not valid: {range}; a field is `*`, a value, a range like `1-5`, a \
             step like `*/15` or `1-5/2`, or a list of these like `1,15`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Utc, Weekday};

    /// The normalised expression, which must be accepted.
    fn ok(expression: &str) -> String {
        normalise(expression)
            .unwrap_or_else(|errors| panic!("{expression:?} was refused: {errors:?}"))
    }

    /// The one error `expression` gives.
    fn error(expression: &str) -> String {
        match normalise(expression) {
            Ok(normalised) => panic!("{expression:?} was accepted as {normalised:?}"),
            Err(errors) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                errors.into_iter().next().unwrap_or_default()
            }
        }
    }

    fn fires_at(expression: &str, (y, mo, d, h, mi): (i32, u32, u32, u32, u32)) -> bool {
        let schedule = ::cron::Schedule::from_str(&ok(expression)).expect("the crate reads it");
        let at = Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        schedule.includes(at)
    }

    #[test]
    fn weekdays_are_monday_to_friday() {
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        assert_eq!(monday.weekday(), Weekday::Mon);
        assert_eq!(ok("0 9 * * 1-5"), "0 0 9 * * 2,3,4,5,6");
        assert!(fires_at("0 9 * * 1-5", (2026, 11, 23, 9, 0)));
        assert!(fires_at("0 9 * * 1-5", (2026, 11, 27, 9, 0)));
        assert!(!fires_at("0 9 * * 1-5", (2026, 11, 28, 9, 0)));
        assert!(!fires_at("0 9 * * 1-5", (2026, 11, 29, 9, 0)));
        assert!(!fires_at("0 9 * * 1-5", (2026, 11, 23, 10, 0)));
    }

    #[test]
    fn sunday_is_0_and_7() {
        assert_eq!(ok("* * * * 0"), "0 * * * * 1");
        assert_eq!(ok("* * * * 7"), "0 * * * * 1");
        assert!(fires_at("30 12 * * 0", (2026, 11, 29, 12, 30)));
        assert!(fires_at("30 12 * * 7", (2026, 11, 29, 12, 30)));
        assert!(!fires_at("30 12 * * 7", (2026, 11, 28, 12, 30)));
        assert_eq!(ok("* * * * 0-7"), "0 * * * * 1,2,3,4,5,6,7");
        assert_eq!(ok("* * * * 5-7"), "0 * * * * 1,6,7");
    }

    #[test]
    fn steps_in_day_of_week() {
        // Sunday, Tuesday, Thursday, Saturday.
        assert_eq!(ok("* * * * */2"), "0 * * * * 1,3,5,7");
        assert_eq!(ok("* * * * 1/2"), "0 * * * * 2,4,6");
        assert_eq!(ok("* * * * 1-5/2"), "0 * * * * 2,4,6");
        assert_eq!(ok("* * * * MON-FRI/2"), "0 * * * * 2,4,6");
        assert_eq!(ok("* * * * ?/3"), "0 * * * * 1,4,7");
    }

    #[test]
    fn day_names_in_any_case() {
        assert_eq!(ok("0 9 * * MON-FRI"), ok("0 9 * * 1-5"));
        assert_eq!(ok("0 9 * * mon-fri"), ok("0 9 * * 1-5"));
        assert_eq!(ok("0 9 * * Sun,Saturday"), "0 0 9 * * 1,7");
        assert_eq!(ok("0 9 * * tues,thurs,WEDNESDAY"), "0 0 9 * * 3,4,5");
        assert_eq!(ok("0 9 * * SAT,SUN,6"), "0 0 9 * * 1,7");
        assert!(fires_at("0 9 * * SUN", (2026, 11, 29, 9, 0)));
    }

    #[test]
    fn unrestricted_day_of_week_kept() {
        assert_eq!(ok("*/15 * * * *"), "0 */15 * * * *");
        assert_eq!(ok("0 0 1 * ?"), "0 0 0 1 * ?");
        assert_eq!(ok("0 0 ? * 1"), "0 0 0 ? * 2");
    }

    #[test]
    fn six_and_seven_fields_pass_through() {
        assert_eq!(ok("15 30 9 * * *"), "15 30 9 * * *");
        assert_eq!(ok("15 30 9 * * MON-FRI"), "15 30 9 * * 2,3,4,5,6");
        assert_eq!(ok("0 0 12 1 JAN * 2030"), "0 0 12 1 JAN * 2030");
        assert_eq!(
            ok("  0   0 12 * *  *  2030-2031 "),
            "0 0 12 * * * 2030-2031"
        );
        assert!(fires_at("0 30 9 * * 1", (2026, 11, 23, 9, 30)));
    }

    #[test]
    fn shorthands_pass_through() {
        for shorthand in SHORTHANDS {
            assert_eq!(ok(shorthand), *shorthand);
        }
        assert_eq!(ok("  @hourly "), "@hourly");
        // `@weekly` is Sunday at midnight, as in crontab.
        assert!(fires_at("@weekly", (2026, 11, 29, 0, 0)));
    }

    #[test]
    fn wrong_field_counts() {
        assert_eq!(
            error("* * * *"),
            "the cron expression `* * * *` has 4 fields; expected 5 fields (minute hour \
             day-of-month month day-of-week), or 6 or 7 with seconds first and an optional year \
             last"
        );
        assert!(error("* * * * * * * *").contains("has 8 fields"));
        assert!(error("daily").contains("has 1 field;"));
        assert!(error("  ").starts_with("the cron expression is empty"));
    }

    #[test]
    fn unknown_shorthand() {
        assert!(error("@reboot")
            .starts_with("unknown cron shorthand `@reboot`; expected one of @yearly"));
        assert!(error("@daily 5").contains("unknown cron shorthand"));
    }

    #[test]
    fn out_of_range_names_field_and_range() {
        assert_eq!(
            error("61 9 * * *"),
            "invalid cron expression `61 9 * * *`: the minute field `61` is out of range: \
             minutes are 0-59"
        );
        // 5 fields start with the minute, 6 with the second.
        assert!(error("0 61 * * *").contains("the hour field `61` is out of range: hours are 0-23"));
        assert!(error("0 61 * * * *").contains("the minute field `61` is out of range"));
        assert!(error("5,61 * * * *")
            .contains("the minute field `5,61` has `61`, which is out of range"));
        assert!(error("60 * * * * *")
            .contains("the second field `60` is out of range: seconds are 0-59"));
        assert!(error("0 24 * * *").contains("hour field `24` is out of range: hours are 0-23"));
        assert!(error("0 0 0 * *")
            .contains("day-of-month field `0` is out of range: days of month are 1-31"));
        assert!(error("0 0 * 13 *")
            .contains("month field `13` is out of range: months are 1-12 or JAN-DEC"));
        assert!(error("0 0 0 * * * 2101")
            .contains("year field `2101` is out of range: years are 1970-2100"));
        assert!(error("0 0 * * * * 1969").contains("years are 1970-2100"));
        assert!(error("0 99999999999 * * *").contains("`99999999999` is out of range"));
    }

    #[test]
    fn other_field_mistakes() {
        assert!(error("30-10 * * * *").contains(
            "the minute field `30-10` is a range that runs backwards; to wrap around, write two \
             ranges: `30-59,0-10`"
        ));
        assert!(error("59-0 * * * *").contains("write two ranges: `59,0`"));
        assert!(error("0 22-2 * * *").contains("write two ranges: `22-23,0-2`"));
        assert!(error("*/0 * * * *")
            .contains("the minute field `*/0` has the step `/0`; steps are 1-59"));
        assert!(error("* */24 * * *").contains("has the step `/24`; steps are 1-23"));
        assert!(error("0 0 * FOO *")
            .contains("the month field `FOO` is not a month: months are 1-12 or JAN-DEC"));
        assert!(error("0 0 * JAN-FOO *")
            .contains("the month field `JAN-FOO` has `FOO`, which is not a month"));
        assert!(error("? * * * *")
            .contains("`?` is allowed only in the day-of-month and day-of-week fields"));
        assert!(error("1,,2 * * * *")
            .contains("the minute field `1,,2` has an empty item between commas"));
        assert!(error("x * * * *")
            .contains("the minute field `x` is not valid: minutes are 0-59; a field is `*`"));
        assert!(error("0 MON * * *").contains("the hour field `MON` is not valid: hours are 0-23"));
    }

    #[test]
    fn every_bad_field_reported() {
        let errors = normalise("61 25 * * 9").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("minute field"));
        assert!(errors[1].contains("hour field"));
        assert!(errors[2].contains("day-of-week field"));
    }

    #[test]
    fn bad_day_of_week() {
        assert_eq!(
            error("0 9 * * 8"),
            "invalid cron expression `0 9 * * 8`: the day-of-week field `8` is out of range: \
             days of week are 0-7 (0 and 7 are Sunday, 1 is Monday) or SUN-SAT"
        );
        assert!(error("0 9 * * 5-2").contains(
            "the day-of-week field `5-2` is a range that runs backwards; to run on past Sunday, \
             write `5-7,1-2` (7 is Sunday, as is 0)"
        ));
        assert!(error("0 9 * * 5-1").contains("write `5-7,1`"));
        assert!(error("0 9 * * 6-0").contains(
            "the day-of-week field `6-0` is a range that runs backwards; Sunday is 7 as well as \
             0, so write `6-7`"
        ));
        assert!(error("0 9 * * SAT-SUN").contains("so write `6-7`"));
        assert!(
            error("0 9 * * FUNDAY").contains("the day-of-week field `FUNDAY` is not a day of week")
        );
        assert!(error("0 9 * * MON,FUNDAY")
            .contains("has `FUNDAY`, which is not a day of week: days of week are 0-7"));
        assert!(error("0 9 * * */8").contains("has the step `/8`; steps are 1-7"));
        assert!(error("0 9 * * 1#2").contains("the day-of-week field `1#2` is not valid"));
    }

    #[test]
    fn both_days_refused() {
        let message = error("0 0 1 * MON");
        assert!(message.starts_with(
            "invalid cron expression `0 0 1 * MON`: it restricts both the day of month (`1`) \
             and the day of week (`MON`)"
        ));
        assert!(message.contains("restrict only one of them"));
        assert!(error("0 0 0 1-7 * */2").contains("restricts both"));
        // Unrestricted in either place is fine.
        ok("0 0 1 * *");
        ok("0 0 * * 1");
        ok("0 0 0 ? * 1");
        ok("0 0 0 1 * ?");
    }

    #[test]
    fn never_fires() {
        assert_eq!(
            error("0 0 31 2 *"),
            "the cron expression `0 0 31 2 *` never fires: no date and time matches all its \
             fields"
        );
        assert!(error("0 0 0 30 FEB * 2030").contains("never fires"));
        ok("0 0 29 2 *");
        ok("0 0 0 1 1 * 1970");
    }
}
