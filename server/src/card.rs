//! An incident's share card: the 1200×630 picture that link previews
//! (Open Graph, Twitter cards) show beside a shared incident page. Drawn
//! as SVG from the same snapshot as the page, rasterised to PNG on the
//! server, so a preview needs nothing but the image request.
//!
//! Text uses the machine's fonts; on a machine without any the card still
//! renders its chart, without words.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use app::incident::IncidentSummary;
use app::words;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use engine::figures::TimelinePoint;
use resvg::{tiny_skia, usvg};

use crate::export::{ExportError, ExportState};
use crate::markup::escape;

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 630.0;
/// Cards kept rendered, by (incident, snapshot version).
const KEPT: usize = 64;

/// A card's PNG by (incident, snapshot version).
type Drawn = HashMap<(i64, u64), Arc<Vec<u8>>>;

/// Rendered cards: a card changes only with the snapshot.
#[derive(Clone, Debug, Default)]
pub struct Cards {
    kept: Arc<Mutex<Drawn>>,
}

impl Cards {
    fn get(&self, key: (i64, u64)) -> Option<Arc<Vec<u8>>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(&key).cloned()
    }

    fn keep(&self, key: (i64, u64), png: Arc<Vec<u8>>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= KEPT {
            // Older snapshots first: their cards are the stale ones.
            kept.retain(|(_, version), _| *version >= key.1);
            if kept.len() >= KEPT {
                kept.clear();
            }
        }
        kept.insert(key, png);
    }
}

/// `GET /incidents/{id}/card.png`.
pub async fn incident_card(
    State(state): State<ExportState>,
    State(cards): State<Cards>,
    Path(id): Path<String>,
) -> Result<Response, ExportError> {
    let id = id.parse::<i64>().map_err(|_| ExportError::NotFound)?;
    let snapshot = state.status.snapshot();
    let key = (id, snapshot.version);
    let png = match cards.get(key) {
        Some(png) => png,
        None => {
            let incident = state
                .store
                .incident(id)
                .await?
                .ok_or(ExportError::NotFound)?;
            let incident = app::incident::as_of_snapshot(incident, &snapshot);
            let timeline: Vec<TimelinePoint> =
                serde_json::from_str(&incident.timeline).unwrap_or_default();
            let summary = state.named(|| IncidentSummary::from_store(incident, None));
            let svg = card_svg(&summary, &timeline);
            let png = tokio::task::spawn_blocking(move || rasterise(&svg))
                .await
                .map_err(|e| ExportError::Write(e.to_string()))??;
            let png = Arc::new(png);
            cards.keep(key, Arc::clone(&png));
            png
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        png.as_ref().clone(),
    )
        .into_response())
}

/// The card as SVG: title and date, the peak in words, and the share of
/// the provider's sites failing over the incident.
pub fn card_svg(incident: &IncidentSummary, timeline: &[TimelinePoint]) -> String {
    let name = incident.provider_name.clone().unwrap_or_default();
    let title = format!(
        "{}, {}",
        incident.title(),
        incident.onset_at.format("%-d %b %Y")
    );
    let peak = engine::figures::peak(timeline);
    let figure = match (peak, incident.peak_share) {
        (Some(point), _) => format!(
            "Peak: {} at {}",
            point.tally.phrase(&format!("watched {name} sites")),
            point.at.format("%H:%M UTC")
        ),
        (None, Some(share)) => format!("Peak: {} of watched {name} sites", words::percent(share)),
        (None, None) => String::new(),
    };
    let span = match incident.resolved_at {
        Some(end) => format!(
            "{} to {} UTC ({})",
            incident.onset_at.format("%H:%M"),
            end.format("%H:%M"),
            words::duration((end - incident.onset_at).num_seconds())
        ),
        None => format!(
            "Since {} UTC, {}",
            incident.onset_at.format("%H:%M"),
            incident.phase.plain()
        ),
    };

    let (left, right, top, bottom) = (60.0, WIDTH - 60.0, 300.0, HEIGHT - 70.0);
    let start = incident.onset_at.timestamp() - 300;
    let end = incident
        .resolved_at
        .map(|at| at.timestamp())
        .or(timeline.last().map(|p| p.at.timestamp()))
        .unwrap_or(start + 600)
        .max(start + 600)
        + 300;
    let x = |at: i64| left + (right - left) * (at - start) as f64 / (end - start) as f64;
    let y = |share: f64| bottom - (bottom - top) * share.clamp(0.0, 1.0);
    let mut path = format!("M{:.1},{:.1}", x(start), y(0.0));
    let mut last_share = 0.0;
    for point in timeline {
        let at = x(point.at.timestamp().clamp(start, end));
        path.push_str(&format!(
            " L{at:.1},{:.1} L{at:.1},{:.1}",
            y(last_share),
            y(point.share)
        ));
        last_share = point.share;
    }
    path.push_str(&format!(
        " L{:.1},{:.1} L{:.1},{:.1} Z",
        x(end),
        y(last_share),
        x(end),
        y(0.0)
    ));
    let at_label = |at: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(at, 0)
            .map(|at| at.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">
<rect width="100%" height="100%" fill="#fbfbfc"/>
<rect width="14" height="100%" fill="#b4361b"/>
<g font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" fill="#1b1f24">
<text x="60" y="78" font-size="28" font-weight="bold" fill="#b4361b">Faultline</text>
<text x="60" y="150" font-size="{title_size:.0}" font-weight="bold">{title}</text>
<text x="60" y="205" font-size="30">{figure}</text>
<text x="60" y="250" font-size="26" fill="#5b6470">{span}</text>
<line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="#e6e9ed" stroke-width="2"/>
<line x1="{left}" y1="{mid:.1}" x2="{right}" y2="{mid:.1}" stroke="#e6e9ed" stroke-width="2"/>
<path d="{path}" fill="#b4361b" fill-opacity="0.25" stroke="#b4361b" stroke-width="3"/>
<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#5b6470" stroke-width="2"/>
<text x="{left}" y="{label_y}" font-size="22" fill="#5b6470">{from_label}</text>
<text x="{right}" y="{label_y}" font-size="22" fill="#5b6470" text-anchor="end">{until_label}</text>
<text x="{right}" y="{top_label:.1}" font-size="22" fill="#5b6470" text-anchor="end">100 % of sites</text>
</g>
</svg>"##,
        // Bold sans letters average about two thirds of the size wide.
        title_size = (1080.0 / (title.chars().count() as f64 * 0.66)).clamp(28.0, 48.0),
        title = escape(&title),
        figure = escape(&figure),
        span = escape(&span),
        mid = y(0.5),
        label_y = bottom + 34.0,
        top_label = top - 10.0,
        from_label = at_label(start),
        until_label = at_label(end),
    )
}

/// The machine's fonts, read once.
static FONTS: LazyLock<Arc<usvg::fontdb::Database>> = LazyLock::new(|| {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_system_fonts();
    Arc::new(fonts)
});

fn rasterise(svg: &str) -> Result<Vec<u8>, ExportError> {
    let failed = |what: &str| ExportError::Write(format!("cannot draw the card: {what}"));
    let options = usvg::Options {
        fontdb: Arc::clone(&FONTS),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| failed(&e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(WIDTH as u32, HEIGHT as u32)
        .ok_or_else(|| failed("no memory for the picture"))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| failed(&e.to_string()))
}
