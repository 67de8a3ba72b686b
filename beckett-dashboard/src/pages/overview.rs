//! The overview: every subscription of every group, and how its streams
//! fare, with what was handled and how long messages waited over the last
//! hour, refreshed live.

use super::{render, Layout, Notice, Page};
use crate::base::Base;
use crate::App;
use askama::Template;
use axum::extract::{Query, State};
use beckett_core::state::{MinuteStats, SubscriptionInfo};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::sync::Arc;

/// The minutes the charts show, the last one still running.
const MINUTES: i64 = 60;

/// How wide a minute's bar is, and the gap after it, in the charts' units.
const BAR: i64 = 8;
const GAP: i64 = 2;

/// How tall the charts' bars may grow.
const HEIGHT: u64 = 100;

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    layout: Layout,
    totals: Totals,
    groups: Vec<Group>,
    hour: Hour,
}

/// The last hour, a bar per minute.
struct Hour {
    minutes: Vec<Minute>,
    /// The most calls (handled and failed) in a minute, which the tallest
    /// bar stands for.
    peak_calls: u64,
    /// The longest wait, which the tallest bar stands for.
    peak_lag: String,
    handled: u64,
    failed: u64,
}

/// One minute of the last hour, added up over every subscription, as bars.
#[derive(Default)]
struct Minute {
    x: i64,
    at: String,
    handled: u64,
    failed: u64,
    max_lag_ms: u64,
    /// Bar heights: handled, failed on top of it, and the longest wait.
    handled_height: u64,
    failed_height: u64,
    lag_height: u64,
}

impl Minute {
    fn lag(&self) -> String {
        seconds(self.max_lag_ms)
    }
}

/// A wait in milliseconds, as people read it.
fn seconds(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        _ => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

/// `part` of `whole` as a height of the charts.
fn height(part: u64, whole: u64) -> u64 {
    match whole {
        0 => 0,
        // Wide, lest counts that big overflow.
        whole => {
            let height = (u128::from(part) * u128::from(HEIGHT)).div_ceil(u128::from(whole));
            u64::try_from(height).unwrap_or(HEIGHT)
        }
    }
}

impl Hour {
    /// The hour to `now` out of what the store kept of it.
    fn of<'a>(kept: impl IntoIterator<Item = &'a MinuteStats>, now: DateTime<Utc>) -> Self {
        let last = now
            .duration_trunc(TimeDelta::minutes(1))
            .expect("minutes divide time");
        let first = last - TimeDelta::minutes(MINUTES - 1);
        let mut minutes: Vec<Minute> = (0..MINUTES)
            .map(|i| Minute {
                x: i * (BAR + GAP),
                at: (first + TimeDelta::minutes(i)).format("%H:%M").to_string(),
                ..Minute::default()
            })
            .collect();
        for m in kept {
            let Ok(i) = usize::try_from((m.minute - first).num_seconds().div_euclid(60)) else {
                continue;
            };
            if let Some(minute) = minutes.get_mut(i) {
                minute.handled = minute.handled.saturating_add(m.handled);
                minute.failed = minute.failed.saturating_add(m.failed);
                minute.max_lag_ms = minute.max_lag_ms.max(m.max_lag_ms);
            }
        }
        let calls = |m: &Minute| m.handled.saturating_add(m.failed);
        let peak_calls = minutes.iter().map(calls).max().unwrap_or(0);
        let peak_lag = minutes.iter().map(|m| m.max_lag_ms).max().unwrap_or(0);
        for m in &mut minutes {
            m.handled_height = height(m.handled, peak_calls);
            m.failed_height = height(calls(m), peak_calls) - m.handled_height;
            m.lag_height = height(m.max_lag_ms, peak_lag);
        }
        Self {
            peak_calls,
            peak_lag: seconds(peak_lag),
            handled: minutes
                .iter()
                .fold(0, |sum, m| m.handled.saturating_add(sum)),
            failed: minutes
                .iter()
                .fold(0, |sum, m| m.failed.saturating_add(sum)),
            minutes,
        }
    }

    /// The charts' width, in their units.
    fn width(&self) -> i64 {
        MINUTES * (BAR + GAP)
    }

    fn bar(&self) -> i64 {
        BAR
    }

    fn top(&self) -> u64 {
        HEIGHT
    }
}

/// Counts over every subscription.
#[derive(Default)]
struct Totals {
    subscriptions: usize,
    paused: usize,
    lagging: u64,
    retrying: u64,
    failed: u64,
    reserved: u64,
}

/// A group and its subscriptions.
struct Group {
    name: String,
    subscriptions: Vec<Row>,
}

/// A subscription, and what it did in the last hour.
struct Row {
    info: SubscriptionInfo,
    hour: Hour,
}

/// Shows the overview.
pub async fn show(State(app): State<Arc<App>>, base: Base, Query(notice): Query<Notice>) -> Page {
    let listed = app.subscriptions.list(None).await?;
    let now = Utc::now();
    let kept = app
        .storage
        .engine()
        .minutes(now - TimeDelta::minutes(MINUTES))
        .await?;
    let mut totals = Totals::default();
    let mut groups: Vec<Group> = Vec::new();
    for s in listed {
        totals.subscriptions += 1;
        totals.paused += usize::from(s.paused);
        totals.lagging += s.lagging;
        totals.retrying += s.retrying;
        totals.failed += s.failed;
        totals.reserved += s.reserved;
        let its = kept
            .iter()
            .filter(|m| m.group == s.group && m.subscription == s.name);
        let row = Row {
            hour: Hour::of(its, now),
            info: s,
        };
        match groups.last_mut() {
            Some(group) if group.name == row.info.group => group.subscriptions.push(row),
            _ => groups.push(Group {
                name: row.info.group.clone(),
                subscriptions: vec![row],
            }),
        }
    }
    render(&Overview {
        layout: Layout::new(&base, "Overview", "overview").with(&app, notice.notice),
        totals,
        groups,
        hour: Hour::of(&kept, now),
    })
}

#[cfg(test)]
mod tests {
    use super::{Hour, MINUTES};
    use beckett_core::state::MinuteStats;
    use chrono::{TimeDelta, TimeZone, Utc};

    #[test]
    fn the_hour_adds_up_subscriptions_by_minute_and_scales_to_the_peak() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 30, 40).unwrap();
        let kept = |subscription: &str, ago: i64, handled, failed, max_lag_ms| MinuteStats {
            group: "G".into(),
            subscription: subscription.into(),
            minute: Utc.with_ymd_and_hms(2026, 12, 3, 10, 30, 0).unwrap() - TimeDelta::minutes(ago),
            handled,
            failed,
            max_lag_ms,
        };
        let hour = Hour::of(
            &[
                kept("a", 0, 30, 10, 200),
                kept("b", 0, 10, 0, 1_500),
                kept("a", 59, 20, 0, 100),
                kept("a", 60, 99, 99, 99_999),
            ],
            now,
        );
        assert_eq!(hour.minutes.len(), MINUTES as usize);
        let (first, last) = (&hour.minutes[0], &hour.minutes[59]);
        assert_eq!(
            (first.at.as_str(), first.handled, first.handled_height),
            ("09:31", 20, 40)
        );
        assert_eq!(
            (last.at.as_str(), last.handled, last.failed),
            ("10:30", 40, 10)
        );
        assert_eq!(
            (last.handled_height, last.failed_height, last.lag_height),
            (80, 20, 100)
        );
        assert_eq!((hour.peak_calls, hour.peak_lag.as_str()), (50, "1.5 s"));
        assert_eq!((hour.handled, hour.failed), (60, 10));
    }

    #[test]
    fn counts_too_big_to_add_saturate() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 30, 40).unwrap();
        let huge = |subscription: &str| MinuteStats {
            group: "G".into(),
            subscription: subscription.into(),
            minute: Utc.with_ymd_and_hms(2026, 12, 3, 10, 30, 0).unwrap(),
            handled: u64::MAX,
            failed: u64::MAX,
            max_lag_ms: u64::MAX,
        };
        let hour = Hour::of(&[huge("a"), huge("b")], now);
        let last = &hour.minutes[59];
        assert_eq!((last.handled, last.failed), (u64::MAX, u64::MAX));
        assert_eq!((last.handled_height, last.failed_height), (100, 0));
        assert_eq!((hour.handled, hour.peak_calls), (u64::MAX, u64::MAX));
    }
}
