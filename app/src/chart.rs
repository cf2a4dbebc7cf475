//! Time charts drawn as SVG on the server: axes with ticks, bars and lines
//! with markers, hatching for failures and labelled moments, so a chart
//! reads without JavaScript and without telling colours apart. Each chart
//! carries a title and a one-sentence summary for screen readers.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 30.0;

/// Each chart is drawn twice, for a wide screen and for a phone, and the
/// style sheet shows one: on a phone the narrow drawing is shown about at
/// its own size, so its 11-unit labels stay about 11 px.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    width: f64,
    /// Most time ticks.
    ticks: i64,
    /// Moment labels closer than this share of the window share one label.
    moments_apart: i64,
    suffix: &'static str,
}

const WIDE: Layout = Layout {
    width: 720.0,
    ticks: 8,
    moments_apart: 14,
    suffix: "",
};
const NARROW: Layout = Layout {
    width: 320.0,
    ticks: 4,
    moments_apart: 5,
    suffix: "-narrow",
};

/// A bar over `[from, until)` (Unix seconds) reaching `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub from: i64,
    pub until: i64,
    pub value: f64,
    /// What the bar says, for its tooltip.
    pub label: String,
}

/// A vertical line at a moment, with a short label drawn above the plot;
/// or, `official`, a mark of what the provider said, numbered as the
/// timeline's list below the chart, drawn inside the plot.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Moment {
    pub at: i64,
    pub label: String,
    pub official: bool,
}

/// One chart over a time window.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TimeChart {
    /// Unique on the page: names the hatching pattern and the title.
    pub id: String,
    pub title: String,
    /// A sentence with the figures the chart shows.
    pub summary: String,
    pub from: i64,
    pub until: i64,
    pub y_max: f64,
    /// Formats a y value for the axis.
    pub y_unit: YUnit,
    /// Hatched bars (failures).
    pub bars: Vec<Bar>,
    /// Windows without data, drawn dotted.
    pub gaps: Vec<(i64, i64)>,
    /// A line through these points, each with a marker.
    pub line: Vec<(i64, f64)>,
    /// Draw the line as steps (a value holds until the next point).
    pub step: bool,
    pub moments: Vec<Moment>,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum YUnit {
    #[default]
    Percent,
    Millis,
}

impl YUnit {
    fn format(self, value: f64) -> String {
        match self {
            YUnit::Percent => format!("{:.0} %", value * 100.0),
            YUnit::Millis if value >= 1000.0 => format!("{:.1} s", value / 1000.0),
            YUnit::Millis => format!("{value:.0} ms"),
        }
    }
}

/// Where a moment's label at `x` goes: to the right of its line, or to
/// the left when it would run past the plot (about 6.5 units per
/// character at the labels' size).
fn label_anchor(x: f64, label: &str, width: f64) -> (f64, &'static str) {
    let label_width = label.chars().count() as f64 * 6.5;
    if x + label_width > width - RIGHT {
        (x - 3.0, "end")
    } else {
        (x + 3.0, "start")
    }
}

/// Joins official marks closer than `within` seconds into one, labelled
/// with the first and last number: "5–7".
pub fn merge_numbered(moments: Vec<Moment>, within: i64) -> Vec<Moment> {
    let mut merged: Vec<(Moment, String)> = Vec::new();
    for moment in moments {
        match merged.last_mut() {
            Some((first, last)) if moment.at - first.at < within => *last = moment.label,
            _ => {
                let label = moment.label.clone();
                merged.push((moment, label));
            }
        }
    }
    merged
        .into_iter()
        .map(|(mut first, last)| {
            if last != first.label {
                first.label = format!("{}–{last}", first.label);
            }
            first
        })
        .collect()
}

/// Joins moments closer than `within` seconds into one label, so labels
/// drawn at the same place do not overlap: "Onset / Detected".
pub fn merge_close(moments: Vec<Moment>, within: i64) -> Vec<Moment> {
    let mut merged: Vec<Moment> = Vec::new();
    for moment in moments {
        match merged.last_mut() {
            Some(last) if moment.at - last.at < within => {
                last.label = format!("{} / {}", last.label, moment.label);
            }
            _ => merged.push(moment),
        }
    }
    merged
}

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
pub fn nice_ceiling(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= max)
        .unwrap_or(10.0 * power)
}

/// Distinct, round values for a y axis from 0 to at least `max`: steps of
/// 1, 2 or 5 times a power of ten, no finer than the unit shows (1 ms,
/// 1 %), at most five ticks.
pub fn value_ticks(max: f64, unit: YUnit) -> Vec<f64> {
    let finest = match unit {
        YUnit::Percent => 0.01,
        YUnit::Millis => 1.0,
    };
    let max = if max.is_nan() || max <= 0.0 {
        finest
    } else {
        max
    };
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    // Quarters read best on a share (when they stay whole percents).
    let multiples: &[f64] = if unit == YUnit::Percent && power >= 0.1 {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 5.0, 10.0]
    };
    let step = multiples
        .iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= rough)
        .unwrap_or(10.0 * power)
        .max(finest);
    let count = (max / step - 1e-9).ceil().max(1.0) as i64;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// Tick positions (Unix seconds) on round UTC times, at most about eight.
pub fn time_ticks(from: i64, until: i64) -> (i64, Vec<i64>) {
    time_ticks_at_most(from, until, 8)
}

fn time_ticks_at_most(from: i64, until: i64, most: i64) -> (i64, Vec<i64>) {
    const STEPS: [i64; 15] = [
        60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800, 432000,
        604800,
    ];
    let span = (until - from).max(1);
    let step = STEPS
        .into_iter()
        .find(|step| span / step <= most)
        .unwrap_or(2_592_000);
    let first = from.div_euclid(step) * step + if from % step == 0 { 0 } else { step };
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|tick| *tick <= until)
        .collect();
    (step, ticks)
}

fn tick_label(at: i64, step: i64) -> String {
    let Some(time) = DateTime::<Utc>::from_timestamp(at, 0) else {
        return String::new();
    };
    if step >= 86_400 || at % 86_400 == 0 {
        time.format("%-d %b").to_string()
    } else {
        time.format("%H:%M").to_string()
    }
}

impl TimeChart {
    fn x(&self, at: i64, width: f64) -> f64 {
        let span = (self.until - self.from).max(1) as f64;
        // A span read back reversed (an end stored before its start) must
        // still draw, not fail the page.
        LEFT + (at - self.from).clamp(0, (self.until - self.from).max(0)) as f64 / span
            * (width - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        let max = if self.y_max > 0.0 { self.y_max } else { 1.0 };
        let plot = HEIGHT - TOP - BOTTOM;
        TOP + plot - (value / max).clamp(0.0, 1.0) * plot
    }

    fn line_path(&self, width: f64) -> String {
        let mut path = String::new();
        let mut previous: Option<f64> = None;
        for (at, value) in &self.line {
            let (x, y) = (self.x(*at, width), self.y(*value));
            match previous {
                None => path.push_str(&format!("M{x:.1},{y:.1}")),
                Some(_) if self.step => path.push_str(&format!("H{x:.1}V{y:.1}")),
                Some(_) => path.push_str(&format!("L{x:.1},{y:.1}")),
            }
            previous = Some(y);
        }
        path
    }
}

/// Renders a chart as a figure: the SVG (wide and narrow) and its summary
/// as a caption.
#[component]
pub fn Chart(chart: TimeChart) -> impl IntoView {
    let mut chart = chart;
    // The axis ends on a round tick, so every tick is distinct and round.
    let y_ticks = value_ticks(chart.y_max, chart.y_unit);
    chart.y_max = y_ticks.last().copied().unwrap_or(chart.y_max);
    view! {
        <figure class="chart" data-test=format!("chart-{}", chart.id)>
            {plot(&chart, &y_ticks, WIDE)}
            {plot(&chart, &y_ticks, NARROW)}
            <figcaption><strong>{chart.title.clone()}</strong>" " {chart.summary.clone()}</figcaption>
        </figure>
    }
    .into_any()
}

/// One drawing of `chart` at `layout`'s width.
fn plot(chart: &TimeChart, y_ticks: &[f64], layout: Layout) -> AnyView {
    let width = layout.width;
    let id = format!("{}{}", chart.id, layout.suffix);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let hatch_id = format!("{id}-hatch");
    let dots_id = format!("{id}-dots");
    let (step, ticks) = time_ticks_at_most(chart.from, chart.until, layout.ticks);
    let plot_bottom = HEIGHT - BOTTOM;
    let markers = chart.line.len() <= 200;

    let x_axis = ticks
        .iter()
        .map(|tick| {
            let x = chart.x(*tick, width);
            // Labels at the edges hang inwards rather than off the drawing.
            let anchor = if x + 18.0 > width {
                "end"
            } else if x - 18.0 < 0.0 {
                "start"
            } else {
                "middle"
            };
            view! {
                <line class="grid" x1=x x2=x y1=TOP y2=plot_bottom/>
                <text class="tick" x=x y=plot_bottom + 16.0 text-anchor=anchor>{tick_label(*tick, step)}</text>
            }
        })
        .collect_view();
    let y_axis = y_ticks
        .iter()
        .map(|value| {
            let y = chart.y(*value);
            view! {
                <line class="grid" x1=LEFT x2=width - RIGHT y1=y y2=y/>
                <text class="tick" x=LEFT - 6.0 y=y + 4.0 text-anchor="end">{chart.y_unit.format(*value)}</text>
            }
        })
        .collect_view();
    let gaps = chart
        .gaps
        .iter()
        .map(|(from, until)| {
            let x = chart.x(*from, width);
            let gap_width = (chart.x(*until, width) - x).max(0.5);
            view! {
                <rect class="gap" x=x y=TOP width=gap_width height=plot_bottom - TOP fill=format!("url(#{dots_id})")>
                    <title>"No probes"</title>
                </rect>
            }
        })
        .collect_view();
    let bars = chart
        .bars
        .iter()
        .filter(|bar| bar.value > 0.0)
        .map(|bar| {
            let x = chart.x(bar.from, width);
            let bar_width = (chart.x(bar.until, width) - x).max(1.0);
            let y = chart.y(bar.value);
            view! {
                <rect class="bar" x=x y=y width=bar_width height=(plot_bottom - y).max(1.0) fill=format!("url(#{hatch_id})")>
                    <title>{bar.label.clone()}</title>
                </rect>
            }
        })
        .collect_view();
    let line = (!chart.line.is_empty()).then(|| {
        let points = markers.then(|| {
            chart
                .line
                .iter()
                .map(|(at, value)| {
                    let label = format!(
                        "{}: {}",
                        DateTime::<Utc>::from_timestamp(*at, 0)
                            .map(|t| t.format("%H:%M UTC, %-d %b %Y").to_string())
                            .unwrap_or_default(),
                        chart.y_unit.format(*value)
                    );
                    view! {
                        <circle class="marker" cx=chart.x(*at, width) cy=chart.y(*value) r="2.5">
                            <title>{label}</title>
                        </circle>
                    }
                })
                .collect_view()
        });
        view! {
            <path class="series" d=chart.line_path(width)/>
            {points}
        }
    });
    let within = (chart.until - chart.from) / layout.moments_apart;
    let (official, measured): (Vec<Moment>, Vec<Moment>) = chart
        .moments
        .iter()
        .cloned()
        .partition(|moment| moment.official);
    let marks = merge_numbered(official, within / 2)
        .into_iter()
        .map(|moment| {
            let x = chart.x(moment.at, width);
            let (label_x, anchor) = label_anchor(x, &moment.label, width);
            view! {
                <g class="moment official">
                    <line x1=x x2=x y1=TOP y2=plot_bottom/>
                    <text x=label_x y=plot_bottom - 6.0 text-anchor=anchor>{moment.label}</text>
                </g>
            }
        })
        .collect_view();
    let moments = merge_close(measured, within)
        .into_iter()
        .enumerate()
        .map(|(i, moment)| {
            let x = chart.x(moment.at, width);
            // Two rows of labels so neighbours do not overlap.
            let y = if i % 2 == 0 { 12.0 } else { 26.0 };
            let (label_x, anchor) = label_anchor(x, &moment.label, width);
            view! {
                <g class="moment">
                    <line x1=x x2=x y1=y + 2.0 y2=plot_bottom/>
                    <text x=label_x y=y text-anchor=anchor>{moment.label}</text>
                </g>
            }
        })
        .collect_view();

    view! {
        <svg
            class=if layout == WIDE { "wide" } else { "narrow" }
            viewBox=format!("0 0 {width} {HEIGHT}")
            role="img"
            aria-labelledby=format!("{title_id} {desc_id}")
            preserveAspectRatio="xMidYMid meet"
        >
            <title id=title_id.clone()>{chart.title.clone()}</title>
            <desc id=desc_id.clone()>{chart.summary.clone()}</desc>
            <defs>
                <pattern id=hatch_id.clone() width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                    <rect class="hatch-bg" width="6" height="6"/>
                    <line class="hatch" x1="0" y1="0" x2="0" y2="6"/>
                </pattern>
                <pattern id=dots_id.clone() width="6" height="6" patternUnits="userSpaceOnUse">
                    <circle class="dot" cx="3" cy="3" r="0.9"/>
                </pattern>
            </defs>
            {y_axis}
            {x_axis}
            {gaps}
            {bars}
            {line}
            <line class="axis" x1=LEFT x2=width - RIGHT y1=plot_bottom y2=plot_bottom/>
            <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=plot_bottom/>
            {moments}
            {marks}
        </svg>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reversed_span_draws_at_the_left_edge() {
        let chart = TimeChart {
            id: "c".to_owned(),
            title: String::new(),
            summary: String::new(),
            from: 1_000,
            until: 500,
            y_max: 1.0,
            y_unit: YUnit::Percent,
            bars: Vec::new(),
            gaps: Vec::new(),
            line: vec![(700, 0.5)],
            step: false,
            moments: Vec::new(),
        };
        assert_eq!(chart.x(700, 600.0), LEFT);
    }

    #[test]
    fn close_moments_share_one_label() {
        let moment = |at, label: &str| Moment {
            at,
            label: label.to_owned(),
            official: false,
        };
        let merged = merge_close(
            vec![
                moment(0, "Onset"),
                moment(20, "Detected"),
                moment(500, "Resolved"),
            ],
            60,
        );
        assert_eq!(
            merged,
            [moment(0, "Onset / Detected"), moment(500, "Resolved")]
        );
    }

    #[test]
    fn close_official_marks_share_one_numbered_label() {
        let mark = |at, label: &str| Moment {
            at,
            label: label.to_owned(),
            official: true,
        };
        let merged = merge_numbered(
            vec![mark(0, "5"), mark(20, "6"), mark(40, "7"), mark(500, "8")],
            60,
        );
        assert_eq!(merged, [mark(0, "5–7"), mark(500, "8")]);
    }

    #[test]
    fn value_ticks_are_distinct_and_round() {
        assert_eq!(value_ticks(2.0, YUnit::Millis), [0.0, 1.0, 2.0]);
        assert_eq!(value_ticks(130.0, YUnit::Millis), [0.0, 50.0, 100.0, 150.0]);
        assert_eq!(
            value_ticks(1.0, YUnit::Percent),
            [0.0, 0.25, 0.5, 0.75, 1.0]
        );
        assert_eq!(value_ticks(0.0, YUnit::Percent), [0.0, 0.01]);
        for max in [1.0, 3.0, 7.0, 19.0, 480.0, 2500.0] {
            let labels: Vec<String> = value_ticks(max, YUnit::Millis)
                .into_iter()
                .map(|v| YUnit::Millis.format(v))
                .collect();
            let mut distinct = labels.clone();
            distinct.dedup();
            assert_eq!(labels, distinct, "max {max}");
            assert!(labels.len() <= 6, "{labels:?}");
        }
    }

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(0.87), 1.0);
    }

    #[test]
    fn ticks_fall_on_round_times_and_stay_few() {
        let day = 86_400;
        let from = 1_763_460_000; // 2025-11-18T10:00:00Z
        let (step, ticks) = time_ticks(from, from + day);
        assert_eq!(step, 10_800);
        assert!(ticks.len() <= 9 && ticks.len() >= 7);
        assert!(ticks.iter().all(|t| t % step == 0 && *t >= from));
        assert_eq!(tick_label(ticks[0], step), "12:00");
        let (step, ticks) = time_ticks(from, from + 30 * day);
        assert_eq!(step, 432_000);
        assert_eq!(tick_label(ticks[0], step).split(' ').count(), 2);
    }

    #[test]
    fn step_lines_hold_their_value_until_the_next_point() {
        let chart = TimeChart {
            from: 0,
            until: 100,
            y_max: 1.0,
            line: vec![(0, 0.0), (50, 1.0)],
            step: true,
            ..TimeChart::default()
        };
        let path = chart.line_path(WIDE.width);
        assert!(path.starts_with("M56.0,210.0H382.0"), "{path}");
        assert!(path.ends_with("V34.0"), "{path}");
    }
}
