//! Figures as people read them: "54 of 60 Cloudflare sites (90 %)".
//!
//! Every page, feed, export and citation says a cohort's state with a
//! [`Tally`], so the headline, the provider card and the incident page
//! cannot disagree about what "failing" means or how it rounds. Light
//! enough for the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many of the sites judged were failing for a given reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tally {
    pub failing: u32,
    /// Sites with a fresh, trusted probe.
    pub of: u32,
}

impl Tally {
    pub fn new(failing: u32, of: u32) -> Self {
        Self { failing, of }
    }

    /// The failing share, 0 when nothing was judged.
    pub fn share(self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            f64::from(self.failing) / f64::from(self.of)
        }
    }

    /// The share in whole percent, rounded half up.
    pub fn percent(self) -> u32 {
        if self.of == 0 {
            return 0;
        }
        ((u64::from(self.failing) * 200 + u64::from(self.of)) / (u64::from(self.of) * 2)) as u32
    }

    /// "54 of 60 Cloudflare sites (90 %)"; `noun` is what is counted, in
    /// the plural ("Cloudflare sites").
    pub fn phrase(self, noun: &str) -> String {
        format!(
            "{} of {} {noun} ({} %)",
            self.failing,
            self.of,
            self.percent()
        )
    }

    /// "54 of 60 (90 %)".
    pub fn short(self) -> String {
        format!("{} of {} ({} %)", self.failing, self.of, self.percent())
    }
}

/// One judgement of a cohort, as kept on an incident's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub at: DateTime<Utc>,
    /// The weighted share the correlator's thresholds compare (edge errors
    /// count fully, connection failures in part).
    pub share: f64,
    /// Sites whose failure this provider's role explains, of those judged.
    pub tally: Tally,
}

impl TimelinePoint {
    /// Whether the point has counts (points stored before they were kept
    /// have only the share).
    pub fn counted(&self) -> bool {
        self.tally.of > 0
    }
}

/// Reads the current shape and the older `[time, share]` pairs alike, so
/// an old database's timelines still draw.
impl<'de> Deserialize<'de> for TimelinePoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Point {
                at: DateTime<Utc>,
                share: f64,
                #[serde(default)]
                tally: Tally,
            },
            Pair(DateTime<Utc>, f64),
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Point { at, share, tally } => Self { at, share, tally },
            Stored::Pair(at, share) => Self {
                at,
                share,
                tally: Tally::default(),
            },
        })
    }
}

/// The point with the most failing sites (the earliest of equals): the
/// peak as a count, which is what people quote.
pub fn peak(timeline: &[TimelinePoint]) -> Option<TimelinePoint> {
    timeline
        .iter()
        .copied()
        .filter(TimelinePoint::counted)
        .fold(None, |best: Option<TimelinePoint>, point| match best {
            Some(best)
                if (best.tally.failing, best.tally.percent())
                    >= (point.tally.failing, point.tally.percent()) =>
            {
                Some(best)
            }
            _ => Some(point),
        })
}

/// One rise of an incident's failures above half its peak share, until
/// they fell below it again.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    pub from: DateTime<Utc>,
    /// The first judgement below the threshold; `None` while still above.
    pub until: Option<DateTime<Utc>>,
    /// The wave's own peak (most failing, as [`peak`] picks).
    pub peak: TimelinePoint,
}

/// The waves of a timeline: each rise above half the peak share is one,
/// so a steady outage has one and an intermittent one several.
pub fn waves(timeline: &[TimelinePoint]) -> Vec<Wave> {
    let top = timeline.iter().map(|p| p.share).fold(0.0, f64::max);
    if top <= 0.0 {
        return Vec::new();
    }
    let mut waves: Vec<Wave> = Vec::new();
    let mut current: Option<Wave> = None;
    for point in timeline {
        let above = point.share >= top / 2.0;
        match (&mut current, above) {
            (None, true) => {
                current = Some(Wave {
                    from: point.at,
                    until: None,
                    peak: *point,
                });
            }
            (Some(wave), true) => {
                let higher = if point.counted() {
                    (point.tally.failing, point.tally.percent())
                        > (wave.peak.tally.failing, wave.peak.tally.percent())
                } else {
                    point.share > wave.peak.share
                };
                if higher {
                    wave.peak = *point;
                }
            }
            (Some(wave), false) => {
                wave.until = Some(point.at);
                waves.extend(current.take());
            }
            (None, false) => {}
        }
    }
    waves.extend(current);
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rise_above_half_the_peak_is_a_wave() {
        let at = |minute: i64| {
            DateTime::<Utc>::from_timestamp(1_763_464_800 + minute * 60, 0).unwrap_or_default()
        };
        let point = |minute, failing| TimelinePoint {
            at: at(minute),
            share: f64::from(failing) / 60.0,
            tally: Tally::new(failing, 60),
        };
        let timeline = [
            point(0, 10),
            point(1, 40),
            point(2, 54),
            point(3, 5),
            point(4, 30),
            point(5, 50),
            point(6, 12),
            point(7, 45),
        ];
        let found = waves(&timeline);
        assert_eq!(found.len(), 3);
        assert_eq!((found[0].from, found[0].until), (at(1), Some(at(3))));
        assert_eq!(found[0].peak.tally.failing, 54);
        assert_eq!(found[1].peak.tally.failing, 50);
        assert_eq!((found[2].from, found[2].until), (at(7), None));
        assert!(waves(&[]).is_empty());
    }

    #[test]
    fn a_tally_reads_as_counts_then_a_rounded_percentage() {
        assert_eq!(
            Tally::new(54, 60).phrase("Cloudflare sites"),
            "54 of 60 Cloudflare sites (90 %)"
        );
        assert_eq!(Tally::new(1, 3).percent(), 33);
        assert_eq!(Tally::new(1, 200).percent(), 1, "half up");
        assert_eq!(Tally::new(0, 0).short(), "0 of 0 (0 %)");
        assert_eq!(Tally::new(2, 3).percent(), 67);
    }

    #[test]
    fn old_pairs_and_new_points_both_read() {
        let points: Vec<TimelinePoint> = serde_json::from_str(
            r#"[["2025-11-18T11:20:00Z",0.5],{"at":"2025-11-18T11:20:10Z","share":0.9,"tally":{"failing":54,"of":60}}]"#,
        )
        .expect("timeline");
        assert!(!points[0].counted());
        assert_eq!(points[1].tally, Tally::new(54, 60));
        let again: Vec<TimelinePoint> =
            serde_json::from_str(&serde_json::to_string(&points).expect("json")).expect("reads");
        assert_eq!(again, points);
        assert_eq!(peak(&points).map(|p| p.tally.failing), Some(54));
    }
}
