//! Hand-written inline SVG charts: lines over time with event marks, and timelines of
//! lanes. Pure functions from data to markup; every text from the database is escaped.
//!
//! Each chart is a `<figure data-chart=ID>`; each drawn series carries `data-series`, so a
//! browser (or a test) can count what was drawn.

use std::fmt::Write;

use super::data::{Event, Lane, Line, Window};
use super::scale::{self, Unit};

const WIDTH: f64 = 760.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 42.0;
const PLOT_HEIGHT: f64 = 170.0;
const LANE_HEIGHT: f64 = 22.0;
/// Lane labels longer than this are cut (the full text is in the tooltip).
const LANE_LABEL_CHARS: usize = 11;

/// Line colours, distinguishable for common colour blindness (Okabe–Ito plus two).
const PALETTE: [&str; 10] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
    "#8c564b", "#7f7f7f",
];

/// Text for HTML and SVG: `& < > " '` escaped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// What a line chart is about.
pub struct LineChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub unit: Unit,
    /// Fixed top of the y axis (100 for percentages); else the data's maximum.
    pub y_max: Option<f64>,
}

struct Frame {
    window: Window,
    plot_height: f64,
}

impl Frame {
    fn x(&self, t: i64) -> f64 {
        let span = (self.window.to - self.window.from).max(1) as f64;
        LEFT + (t - self.window.from) as f64 / span * (WIDTH - LEFT - RIGHT)
    }
    fn height(&self) -> f64 {
        TOP + self.plot_height + BOTTOM
    }
    /// Time grid, tick labels and the axis caption.
    fn time_axis(&self, svg: &mut String) {
        let w = self.window;
        let (ticks, step) = scale::time_ticks(w.from, w.to, 6);
        let bottom = TOP + self.plot_height;
        // a label centred on the right edge would be cut in half
        let last_x = WIDTH - RIGHT - 24.0;
        for t in ticks.into_iter().filter(|t| self.x(*t) <= last_x) {
            let x = self.x(t);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{bottom}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 14.0,
                esc(&scale::time_label(t, step, w.to - w.from))
            );
        }
        let _ = write!(
            svg,
            r#"<text class="caption" x="{:.1}" y="{:.1}" text-anchor="middle">time (UTC)</text>"#,
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            self.height() - 6.0
        );
    }
}

fn open_figure(out: &mut String, id: &str, title: &str, height: f64, drawn: usize) {
    let _ = write!(
        out,
        r#"<figure class="chart" data-chart="{id}" data-drawn="{drawn}"><figcaption>{title}</figcaption><svg viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{title}">"#,
        id = esc(id),
        title = esc(title),
    );
}

/// A line chart over `window`, one polyline per line (broken where data is missing), with
/// `events` as vertical red marks.
pub fn line_chart(spec: &LineChart, window: Window, lines: &[Line], events: &[Event]) -> String {
    let frame = Frame {
        window,
        plot_height: PLOT_HEIGHT,
    };
    let data_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let ticks = scale::value_ticks(spec.y_max.unwrap_or(data_max), spec.unit, 4);
    let top_value = ticks
        .last()
        .map(|t| t.0)
        .unwrap_or(1.0)
        .max(f64::MIN_POSITIVE);
    let bottom = TOP + PLOT_HEIGHT;
    let y = |v: f64| bottom - (v.clamp(0.0, top_value) / top_value) * PLOT_HEIGHT;
    let drawn = lines.iter().filter(|l| !l.points.is_empty()).count();

    let mut out = String::new();
    open_figure(&mut out, spec.id, spec.title, frame.height(), drawn);
    for (v, label) in &ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yv:.1}" y2="{yv:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(*v) + 4.0,
            esc(label),
            yv = y(*v),
        );
    }
    let _ = write!(
        out,
        r#"<text class="caption" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + PLOT_HEIGHT / 2.0,
        spec.unit.caption()
    );
    frame.time_axis(&mut out);
    let half_bucket = window.bucket_secs / 2;
    for (i, line) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let dash = if line.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<g data-series="{}" stroke="{colour}" fill="{colour}"{dash}>"#,
            esc(&line.label)
        );
        for run in contiguous_runs(&line.points, window.bucket_secs) {
            if let [(t, v)] = run {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5"/>"#,
                    frame.x(t + half_bucket),
                    y(*v)
                );
                continue;
            }
            out.push_str(r#"<polyline fill="none" stroke-width="1.6" points=""#);
            for (t, v) in run {
                let _ = write!(out, "{:.1},{:.1} ", frame.x(t + half_bucket), y(*v));
            }
            out.push_str(r#""/>"#);
        }
        out.push_str("</g>");
    }
    for event in events {
        let x = frame.x(event.time + half_bucket);
        let _ = write!(
            out,
            r#"<line class="event" data-event="" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{bottom}"><title>{}</title></line>"#,
            esc(&event.text)
        );
    }
    out.push_str("</svg>");
    legend(&mut out, lines, !events.is_empty());
    if drawn == 0 {
        out.push_str(r#"<p class="empty">no data in this window</p>"#);
    }
    out.push_str("</figure>");
    out
}

fn legend(out: &mut String, lines: &[Line], with_events: bool) {
    out.push_str(r#"<ul class="legend">"#);
    for (i, line) in lines.iter().enumerate() {
        let style = if line.dashed { "dashed" } else { "solid" };
        let _ = write!(
            out,
            r#"<li><span class="swatch {style}" style="border-color:{}"></span>{}</li>"#,
            PALETTE[i % PALETTE.len()],
            esc(&line.label)
        );
    }
    if with_events {
        out.push_str(r#"<li><span class="swatch event"></span>threshold exceeded</li>"#);
    }
    out.push_str("</ul>");
}

/// Splits time-ordered points where the gap is more than three times the usual spacing
/// (or the bucket width, whichever is larger): missing data shows as a gap, not a slope.
fn contiguous_runs(points: &[(i64, f64)], bucket_secs: i64) -> Vec<&[(i64, f64)]> {
    let limit = 3 * usual_spacing(points).max(bucket_secs);
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0 - points[i - 1].0 > limit {
            runs.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        runs.push(&points[start..]);
    }
    runs
}

/// The median time between neighbouring points (0 for fewer than two).
fn usual_spacing(points: &[(i64, f64)]) -> i64 {
    let mut gaps: Vec<i64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(0)
}

/// How a lane cell is coloured and described, from its lane and its share (0–1).
pub type CellStyle = fn(&Lane, f64) -> (&'static str, String);

/// Good/bad lanes (up, regex match): green when every run in the bucket was good, red when
/// none was, amber in between.
pub fn good_bad_style(_: &Lane, share: f64) -> (&'static str, String) {
    let colour = if share >= 1.0 {
        "#009e73"
    } else if share <= 0.0 {
        "#d55e00"
    } else {
        "#e69f00"
    };
    (colour, format!("{:.0} % of runs", share * 100.0))
}

/// Status-code lanes: coloured by the code's class, present where any run had the code.
pub fn status_code_style(lane: &Lane, share: f64) -> (&'static str, String) {
    let colour = match lane.label.as_bytes().first() {
        Some(b'2') => "#009e73",
        Some(b'3') => "#0072b2",
        Some(b'4') => "#e69f00",
        _ => "#d55e00",
    };
    (colour, format!("{:.0} % of runs", share * 100.0))
}

/// A timeline: one row per lane, one block per run of buckets with the same colour.
pub fn lane_chart(
    id: &str,
    title: &str,
    window: Window,
    lanes: &[Lane],
    style: CellStyle,
) -> String {
    let plot_height = (lanes.len().max(1) as f64) * LANE_HEIGHT;
    let frame = Frame {
        window,
        plot_height,
    };
    let drawn = lanes.iter().filter(|l| !l.cells.is_empty()).count();
    let mut out = String::new();
    open_figure(&mut out, id, title, frame.height(), drawn);
    frame.time_axis(&mut out);
    let w = window.bucket_secs;
    for (i, lane) in lanes.iter().enumerate() {
        let top = TOP + i as f64 * LANE_HEIGHT + 3.0;
        let label: String = lane.label.chars().take(LANE_LABEL_CHARS).collect();
        let cut = if label.len() < lane.label.len() {
            "…"
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}{cut}<title>{}</title></text><rect class="lane" x="{LEFT}" y="{top:.1}" width="{:.1}" height="{:.1}"/><g data-series="{}">"#,
            LEFT - 6.0,
            top + LANE_HEIGHT / 2.0 + 1.0,
            esc(&label),
            esc(&lane.label),
            WIDTH - LEFT - RIGHT,
            LANE_HEIGHT - 6.0,
            esc(&lane.label),
        );
        // A cell lasts until the next one when runs are sparser than buckets (runs every
        // minute, 30 s buckets), so a steady check is one block, not stripes.
        let reach = usual_spacing(&lane.cells).max(w);
        let cell_end = |k: usize| {
            let start = lane.cells[k].0;
            match lane.cells.get(k + 1) {
                Some((next, _)) if *next - start <= reach => *next,
                _ => start + w,
            }
        };
        let mut i = 0;
        while i < lane.cells.len() {
            let (start, share) = lane.cells[i];
            let (colour, text) = style(lane, share);
            let mut end = cell_end(i);
            let mut j = i + 1;
            while j < lane.cells.len()
                && lane.cells[j].0 == end
                && style(lane, lane.cells[j].1).0 == colour
            {
                end = cell_end(j);
                j += 1;
            }
            let (x0, x1) = (frame.x(start), frame.x(end));
            let _ = write!(
                out,
                r#"<rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}–{}: {}</title></rect>"#,
                (x1 - x0).max(1.0),
                LANE_HEIGHT - 6.0,
                scale::time_label(start, 1, 0),
                scale::time_label(end, 1, 0),
                esc(&text),
            );
            i = j;
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    if drawn == 0 {
        out.push_str(r#"<p class="empty">no data in this window</p>"#);
    }
    out.push_str("</figure>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        from: 1_700_000_000,
        to: 1_700_000_600,
        bucket_secs: 60,
    };

    fn line(label: &str, points: &[(i64, f64)]) -> Line {
        Line {
            points: points.to_vec(),
            ..Line::new(label)
        }
    }

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(esc("a\u{0}b"), "a\u{fffd}b");
    }

    #[test]
    fn a_line_is_one_polyline_per_contiguous_run() {
        let t = W.from;
        let l = line(
            "user",
            &[(t, 1.0), (t + 60, 2.0), (t + 120, 3.0), (t + 480, 4.0)],
        );
        let spec = LineChart {
            id: "cpu:h",
            title: "CPU",
            unit: Unit::Percent,
            y_max: Some(100.0),
        };
        let svg = line_chart(&spec, W, &[l], &[]);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "the lone point after the gap"
        );
        assert!(svg.contains(r#"data-chart="cpu:h" data-drawn="1""#));
        assert!(svg.contains("time (UTC)"));
        assert!(svg.contains(">100 %<"));
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn hostile_labels_and_events_are_escaped() {
        let spec = LineChart {
            id: "net:<h>",
            title: "Bandwidth <b>",
            unit: Unit::BytesPerSecond,
            y_max: None,
        };
        let events = [Event {
            time: W.from,
            text: "</title><script>alert(1)</script>".into(),
        }];
        let svg = line_chart(&spec, W, &[line("<img src=x>", &[(W.from, 5.0)])], &events);
        assert!(!svg.contains("<script") && !svg.contains("<img") && !svg.contains("<h>"));
        assert!(svg.contains("data-event"));
        assert!(svg.contains("threshold exceeded"));
    }

    #[test]
    fn empty_charts_say_so() {
        let spec = LineChart {
            id: "m",
            title: "Memory",
            unit: Unit::Bytes,
            y_max: None,
        };
        let svg = line_chart(&spec, W, &[], &[]);
        assert!(svg.contains(r#"data-drawn="0""#) && svg.contains("no data in this window"));
    }

    #[test]
    fn lanes_merge_neighbouring_buckets_of_one_colour() {
        let t = W.from;
        let lane = Lane {
            label: "up".into(),
            cells: vec![
                (t, 1.0),
                (t + 60, 1.0),
                (t + 120, 0.0),
                (t + 180, 0.5),
                (t + 300, 1.0),
            ],
        };
        let svg = lane_chart("up:x", "Up", W, &[lane], good_bad_style);
        // green 2 buckets, red, amber, then green again after a bucket without data
        assert_eq!(svg.matches("fill=\"#009e73\"").count(), 2);
        assert_eq!(svg.matches("fill=\"#d55e00\"").count(), 1);
        assert_eq!(svg.matches("fill=\"#e69f00\"").count(), 1);
    }

    #[test]
    fn sparse_runs_make_one_block_not_stripes() {
        let t = W.from;
        let cells = (0..5).map(|i| (t + 120 * i, 1.0)).collect();
        let lane = Lane {
            label: "up".into(),
            cells,
        };
        let svg = lane_chart("up:x", "Up", W, &[lane], good_bad_style);
        assert_eq!(svg.matches("fill=\"#009e73\"").count(), 1);
    }

    #[test]
    fn status_lanes_are_coloured_by_class() {
        let lane = |code: &str| Lane {
            label: code.into(),
            cells: vec![(W.from, 0.5)],
        };
        let svg = lane_chart(
            "s",
            "Status",
            W,
            &[lane("200"), lane("503")],
            status_code_style,
        );
        assert!(svg.contains("#009e73") && svg.contains("#d55e00"));
        assert!(svg.contains(r#"data-drawn="2""#));
    }
}
