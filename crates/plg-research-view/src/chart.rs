//! A radar ("spider") chart as a standalone SVG 1.1 document: how a school gets its
//! "Scan School als PLG" results back (five elements and seven conditions, scored 1..5).
//!
//! [`SpiderChart::render`] is a pure function of the chart: no I/O, and the same chart always
//! gives the same bytes. Numbers in the output carry at most two decimals.
//!
//! Geometry: axis 0 points to 12 o'clock and the axes follow clockwise at equal angles. A value
//! `v` sits on its axis at `(v - min) / (max - min)` of the outer radius, so the scale minimum is
//! the centre and the maximum is the outer grid polygon. Values outside the scale are drawn at
//! the nearest end of it (the text alternatives keep the real value and say so).
//!
//! A missing value (`None`: suppressed because the group is too small, or no data) is never drawn
//! as if it were a number: the series loses its fill and is drawn as line segments over the runs
//! of consecutive present values, with no vertex and no marker on that axis, and the legend and
//! the `<desc>` name the axes that are "n/a".

use std::f64::consts::PI;
use std::fmt::Write as _;

/// One spoke of the chart, e.g. "E1 Internal professionalisation".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// The text shown outside the chart at the end of the spoke.
    pub label: String,
}

impl Axis {
    /// An axis with this label.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
        }
    }
}

/// How a series' outline is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Line {
    /// A solid line with filled markers: e.g. the current situation.
    #[default]
    Solid,
    /// A dashed line with hollow markers: e.g. the desired situation.
    Dashed,
}

/// One group's scores, one value per axis in axis order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend text, e.g. "Teachers, current (n = 23)".
    pub label: String,
    /// One value per axis; `None` (or a non-finite number) is not shown. A shorter vector counts
    /// as `None` for the remaining axes; values beyond the last axis are ignored.
    pub values: Vec<Option<f64>>,
    /// Solid or dashed outline.
    pub line: Line,
}

impl Series {
    /// A series with this label, values and line style.
    pub fn new(label: impl Into<String>, values: Vec<Option<f64>>, line: Line) -> Self {
        Self {
            label: label.into(),
            values,
            line,
        }
    }
}

/// A radar chart: axes, the series drawn over them, and the value scale.
#[derive(Debug, Clone, PartialEq)]
pub struct SpiderChart {
    /// Shown above the chart and as the document's `<title>`.
    pub title: String,
    /// The spokes, axis 0 at the top, then clockwise.
    pub axes: Vec<Axis>,
    /// Drawn in order; colours follow the order (see [`PALETTE`]).
    pub series: Vec<Series>,
    /// `(min, max)` of the value scale, e.g. [`SpiderChart::SCAN_SCALE`]. An unusable scale
    /// (not finite, or `min >= max`) is replaced by the scan's scale.
    pub scale: (f64, f64),
}

/// Series colours, in order: the Okabe–Ito colour-blind-safe palette, ordered for contrast on
/// white (its yellow last). Series beyond eight reuse the colours from the start.
pub const PALETTE: [&str; 8] = [
    "#0072B2", // blue
    "#D55E00", // vermillion
    "#009E73", // bluish green
    "#CC79A7", // reddish purple
    "#E69F00", // orange
    "#56B4E9", // sky blue
    "#000000", // black
    "#F0E442", // yellow
];

// Layout, in SVG user units (px).
const WIDTH: f64 = 680.0;
const RADIUS: f64 = 170.0;
const TITLE_TOP: f64 = 30.0;
const TITLE_LINE: f64 = 22.0;
const TITLE_WRAP: usize = 56;
const LABEL_GAP: f64 = 14.0;
const LABEL_LINE: f64 = 14.0;
const LABEL_FONT: f64 = 12.0;
const LABEL_WRAP: usize = 20;
const LEGEND_X: f64 = 40.0;
const LEGEND_ROW: f64 = 22.0;
const NOTE_LINE: f64 = 15.0;
const NOTE_WRAP: usize = 95;
const MARKER_R: f64 = 3.5;
const FONT: &str = "Helvetica, Arial, sans-serif";

/// Where things go, derived from the chart (the number of label lines moves the centre down).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    cx: f64,
    cy: f64,
    r: f64,
    legend_top: f64,
}

impl SpiderChart {
    /// The scan's five-point scale: 1 = "not at all applicable" … 5 = "fully applicable".
    pub const SCAN_SCALE: (f64, f64) = (1.0, 5.0);

    /// A chart with no series yet, on the scan's scale.
    pub fn new(title: impl Into<String>, axes: Vec<Axis>) -> Self {
        Self {
            title: title.into(),
            axes,
            series: Vec::new(),
            scale: Self::SCAN_SCALE,
        }
    }

    /// Adds a series (builder style).
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// The complete standalone SVG document.
    pub fn render(&self) -> String {
        let lay = self.layout();
        let (lo, hi) = self.effective_scale();
        let n = self.axes.len();
        let notes: Vec<Vec<String>> = self.series.iter().map(|s| self.notes(s)).collect();
        let legend_height: f64 = notes
            .iter()
            .map(|lines| LEGEND_ROW + lines.len() as f64 * NOTE_LINE)
            .sum();
        let height = lay.legend_top + legend_height + 16.0;

        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="{FONT}">"#,
            w = num(WIDTH),
            h = num(height),
        );
        let _ = writeln!(out, r#"<title>{}</title>"#, esc(&self.title));
        let _ = writeln!(out, r#"<desc>{}</desc>"#, esc(&self.description()));
        let _ = writeln!(
            out,
            r##"<rect x="0" y="0" width="{}" height="{}" fill="#FFFFFF"/>"##,
            num(WIDTH),
            num(height)
        );
        let _ = write!(
            out,
            r##"<text class="chart-title" x="{}" y="{}" text-anchor="middle" font-size="18" font-weight="bold" fill="#000000">"##,
            num(WIDTH / 2.0),
            num(TITLE_TOP + 2.0)
        );
        tspans(
            &mut out,
            WIDTH / 2.0,
            TITLE_LINE,
            &wrap(&self.title, TITLE_WRAP),
        );
        out.push_str("</text>\n");

        self.render_grid(&mut out, &lay, lo, hi);
        self.render_axis_labels(&mut out, &lay);
        if n == 0 {
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#444444">No axes to show.</text>"##,
                num(lay.cx),
                num(lay.cy)
            );
        }
        for (k, s) in self.series.iter().enumerate() {
            self.render_series(&mut out, &lay, k, s);
        }
        self.render_legend(&mut out, &lay, &notes);
        out.push_str("</svg>\n");
        out
    }

    /// The scale actually used: the given one if usable, else the scan's.
    fn effective_scale(&self) -> (f64, f64) {
        let (lo, hi) = self.scale;
        if lo.is_finite() && hi.is_finite() && lo < hi {
            (lo, hi)
        } else {
            Self::SCAN_SCALE
        }
    }

    fn layout(&self) -> Layout {
        let max_lines = self
            .axes
            .iter()
            .map(|a| wrap(&a.label, LABEL_WRAP).len())
            .max()
            .unwrap_or(1) as f64;
        let label_band = LABEL_GAP + max_lines * LABEL_LINE + 6.0;
        let title_band = TITLE_TOP + wrap(&self.title, TITLE_WRAP).len() as f64 * TITLE_LINE;
        let cy = title_band + label_band + RADIUS;
        Layout {
            cx: WIDTH / 2.0,
            cy,
            r: RADIUS,
            legend_top: cy + RADIUS + label_band + 10.0,
        }
    }

    /// The angle of axis `i`, in radians clockwise from 12 o'clock.
    fn angle(&self, i: usize) -> f64 {
        2.0 * PI * i as f64 / self.axes.len().max(1) as f64
    }

    /// The distance from the centre, as a fraction of the outer radius, of `value` (clamped).
    fn fraction(&self, value: f64) -> f64 {
        let (lo, hi) = self.effective_scale();
        (value.clamp(lo, hi) - lo) / (hi - lo)
    }

    /// The point at `fraction` of the outer radius on axis `i`.
    fn at(&self, lay: &Layout, i: usize, fraction: f64) -> (f64, f64) {
        let a = self.angle(i);
        let d = lay.r * fraction;
        (lay.cx + d * a.sin(), lay.cy - d * a.cos())
    }

    /// The grid levels: every whole number on a scale of at most ten steps, else ten equal steps.
    fn levels(lo: f64, hi: f64) -> Vec<f64> {
        if hi - lo <= 10.0 && lo.fract() == 0.0 && hi.fract() == 0.0 {
            let steps = (hi - lo) as usize;
            (0..=steps).map(|k| lo + k as f64).collect()
        } else {
            (0..=10).map(|k| lo + (hi - lo) * k as f64 / 10.0).collect()
        }
    }

    fn render_grid(&self, out: &mut String, lay: &Layout, lo: f64, hi: f64) {
        let n = self.axes.len();
        let levels = Self::levels(lo, hi);
        out.push_str(r#"<g class="grid" fill="none">"#);
        out.push('\n');
        for &level in &levels {
            let f = (level - lo) / (hi - lo);
            if f <= 0.0 || n == 0 {
                continue;
            }
            let outer = f >= 1.0;
            let stroke = if outer { "#888888" } else { "#CCCCCC" };
            let width = if outer { "1.5" } else { "1" };
            if n >= 3 {
                let pts = points((0..n).map(|i| self.at(lay, i, f)));
                let _ = writeln!(
                    out,
                    r#"<polygon class="ring level-{}" points="{pts}" stroke="{stroke}" stroke-width="{width}"/>"#,
                    num(level)
                );
            } else {
                let _ = writeln!(
                    out,
                    r#"<circle class="ring level-{}" cx="{}" cy="{}" r="{}" stroke="{stroke}" stroke-width="{width}"/>"#,
                    num(level),
                    num(lay.cx),
                    num(lay.cy),
                    num(lay.r * f)
                );
            }
        }
        for i in 0..n {
            let (x, y) = self.at(lay, i, 1.0);
            let _ = writeln!(
                out,
                r##"<line class="spoke" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#BBBBBB" stroke-width="1"/>"##,
                num(lay.cx),
                num(lay.cy),
                num(x),
                num(y)
            );
        }
        out.push_str("</g>\n");
        // Step labels just left of the top spoke, so they read as a ruler; each on a white halo
        // (drawn first: SVG 1.1 has no paint-order) so lines crossing it don't hide it.
        out.push_str(r##"<g class="steps" font-size="10" fill="#555555" text-anchor="end">"##);
        out.push('\n');
        for &level in &levels {
            let f = (level - lo) / (hi - lo);
            let (x, y) = (num(lay.cx - 7.0), num(lay.cy - lay.r * f + 3.5));
            let label = num(level);
            let _ = writeln!(
                out,
                r##"<text class="step-halo" x="{x}" y="{y}" stroke="#FFFFFF" stroke-width="3" stroke-linejoin="round">{label}</text>"##
            );
            let _ = writeln!(out, r#"<text class="step" x="{x}" y="{y}">{label}</text>"#);
        }
        out.push_str("</g>\n");
    }

    fn render_axis_labels(&self, out: &mut String, lay: &Layout) {
        out.push_str(&format!(
            r##"<g class="axis-labels" font-size="{}" fill="#000000">"##,
            num(LABEL_FONT)
        ));
        out.push('\n');
        for (i, axis) in self.axes.iter().enumerate() {
            let a = self.angle(i);
            let (s, c) = (a.sin(), a.cos());
            let x = lay.cx + (lay.r + LABEL_GAP) * s;
            let y = lay.cy - (lay.r + LABEL_GAP) * c;
            // Left of the chart: text ends at the anchor; right: starts there; top/bottom: centred.
            let anchor = if s > 0.1 {
                "start"
            } else if s < -0.1 {
                "end"
            } else {
                "middle"
            };
            let lines = wrap(&axis.label, LABEL_WRAP);
            let extra = (lines.len() - 1) as f64 * LABEL_LINE / 2.0;
            // Above the centre the block grows upwards, below it downwards, at the sides it is
            // centred on the spoke's end.
            let first = y + 4.0 - extra - c * (extra + 8.0);
            let _ = write!(
                out,
                r#"<text class="axis-label axis-{i}" x="{}" y="{}" text-anchor="{anchor}">"#,
                num(x),
                num(first)
            );
            tspans(out, x, LABEL_LINE, &lines);
            out.push_str("</text>\n");
        }
        out.push_str("</g>\n");
    }

    /// The value shown on axis `i`, if any.
    fn value(series: &Series, i: usize) -> Option<f64> {
        series
            .values
            .get(i)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
    }

    fn render_series(&self, out: &mut String, lay: &Layout, k: usize, s: &Series) {
        let n = self.axes.len();
        let colour = PALETTE[k % PALETTE.len()];
        let dash = match s.line {
            Line::Solid => String::new(),
            Line::Dashed => r#" stroke-dasharray="6 4""#.to_string(),
        };
        let fill_opacity = match s.line {
            Line::Solid => "0.18",
            Line::Dashed => "0.06",
        };
        let present: Vec<Option<(f64, f64)>> = (0..n)
            .map(|i| Self::value(s, i).map(|v| self.at(lay, i, self.fraction(v))))
            .collect();
        let _ = writeln!(
            out,
            r#"<g class="series" id="series-{k}" stroke="{colour}">"#
        );
        let _ = writeln!(out, "<title>{}</title>", esc(&s.label));
        let complete = n > 0 && present.iter().all(Option::is_some);
        if complete && n >= 3 {
            let pts = points(present.iter().flatten().copied());
            let _ = writeln!(
                out,
                r#"<polygon class="area" points="{pts}" fill="{colour}" fill-opacity="{fill_opacity}" stroke-width="2" stroke-linejoin="round"{dash}/>"#
            );
        } else {
            for run in runs(&present) {
                if run.len() >= 2 {
                    let pts = points(run.iter().map(|&i| present[i].unwrap_or((0.0, 0.0))));
                    let _ = writeln!(
                        out,
                        r#"<polyline class="segment" points="{pts}" fill="none" stroke-width="2" stroke-linejoin="round"{dash}/>"#
                    );
                }
            }
        }
        let marker_fill = match s.line {
            Line::Solid => colour,
            Line::Dashed => "#FFFFFF",
        };
        for (i, p) in present.iter().enumerate() {
            let (Some((x, y)), Some(v)) = (p, Self::value(s, i)) else {
                continue;
            };
            let _ = writeln!(
                out,
                r#"<circle class="marker axis-{i}" cx="{}" cy="{}" r="{}" fill="{marker_fill}" stroke-width="1.5"><title>{}</title></circle>"#,
                num(*x),
                num(*y),
                num(MARKER_R),
                esc(&format!(
                    "{}, {}: {}",
                    s.label,
                    self.axes[i].label,
                    self.value_text(v)
                ))
            );
        }
        out.push_str("</g>\n");
    }

    /// A value as text, saying where it is drawn if it lies outside the scale.
    fn value_text(&self, v: f64) -> String {
        let (lo, hi) = self.effective_scale();
        let shown = v.clamp(lo, hi);
        if shown == v {
            num(v)
        } else {
            format!("{} (outside the scale, drawn at {})", num(v), num(shown))
        }
    }

    /// The legend's note lines under a series: which axes are n/a, which values were clamped.
    fn notes(&self, s: &Series) -> Vec<String> {
        let n = self.axes.len();
        let (lo, hi) = self.effective_scale();
        let missing: Vec<&str> = (0..n)
            .filter(|&i| Self::value(s, i).is_none())
            .map(|i| self.axes[i].label.as_str())
            .collect();
        let clamped: Vec<String> = (0..n)
            .filter_map(|i| Self::value(s, i).map(|v| (i, v)))
            .filter(|&(_, v)| v < lo || v > hi)
            .map(|(i, v)| format!("{} = {}", self.axes[i].label, num(v)))
            .collect();
        let mut text = Vec::new();
        if n > 0 && missing.len() == n {
            text.push("n/a on every axis (suppressed or no data): nothing drawn".to_string());
        } else if !missing.is_empty() {
            text.push(format!(
                "n/a (suppressed or no data), not drawn: {}",
                missing.join("; ")
            ));
        }
        if !clamped.is_empty() {
            text.push(format!(
                "outside the scale {}–{}, drawn at its edge: {}",
                num(lo),
                num(hi),
                clamped.join("; ")
            ));
        }
        text.iter().flat_map(|t| wrap(t, NOTE_WRAP)).collect()
    }

    fn render_legend(&self, out: &mut String, lay: &Layout, notes: &[Vec<String>]) {
        out.push_str(r##"<g class="legend" font-size="12" fill="#000000">"##);
        out.push('\n');
        let mut y = lay.legend_top;
        for (k, (s, note)) in self.series.iter().zip(notes).enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let dash = match s.line {
                Line::Solid => "",
                Line::Dashed => r#" stroke-dasharray="6 4""#,
            };
            let marker_fill = match s.line {
                Line::Solid => colour,
                Line::Dashed => "#FFFFFF",
            };
            let mid = y + 7.0;
            let _ = writeln!(
                out,
                r#"<g class="legend-entry series-{k}"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="2"{dash}/><circle cx="{}" cy="{}" r="{}" fill="{marker_fill}" stroke="{colour}" stroke-width="1.5"/><text x="{}" y="{}">{}</text>"#,
                num(LEGEND_X),
                num(mid),
                num(LEGEND_X + 28.0),
                num(mid),
                num(LEGEND_X + 14.0),
                num(mid),
                num(MARKER_R),
                num(LEGEND_X + 36.0),
                num(mid + 4.0),
                esc(&s.label)
            );
            y += LEGEND_ROW;
            for line in note {
                let _ = writeln!(
                    out,
                    r##"<text class="legend-note" x="{}" y="{}" font-size="11" font-style="italic" fill="#444444">{}</text>"##,
                    num(LEGEND_X + 36.0),
                    num(y + 4.0),
                    esc(line)
                );
                y += NOTE_LINE;
            }
            out.push_str("</g>\n");
        }
        out.push_str("</g>\n");
    }

    /// The text alternative: what the chart shows, every value written out.
    fn description(&self) -> String {
        let (lo, hi) = self.effective_scale();
        let mut d = format!(
            "Radar chart with {} axes, clockwise from the top: {}. Scale {} to {}, the centre is {}.",
            self.axes.len(),
            self.axes
                .iter()
                .map(|a| a.label.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            num(lo),
            num(hi),
            num(lo)
        );
        for s in &self.series {
            let style = match s.line {
                Line::Solid => "solid",
                Line::Dashed => "dashed",
            };
            let values: Vec<String> = self
                .axes
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let v = Self::value(s, i).map_or_else(
                        || "n/a (suppressed or no data)".to_string(),
                        |v| self.value_text(v),
                    );
                    format!("{}: {v}", a.label)
                })
                .collect();
            let _ = write!(d, " Series {} ({style}): {}.", s.label, values.join("; "));
        }
        d
    }
}

/// The runs of consecutive present values, in axis order, going round the circle: a run may
/// wrap from the last axis to the first. Only called when some value is missing (or there are
/// fewer than three axes); with none missing it is one run in axis order.
fn runs(present: &[Option<(f64, f64)>]) -> Vec<Vec<usize>> {
    let n = present.len();
    let Some(gap) = present.iter().position(Option::is_none) else {
        return vec![(0..n).collect()];
    };
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for step in 1..=n {
        let i = (gap + step) % n;
        if present[i].is_some() {
            run.push(i);
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Lines of text as `<tspan>`s at `x`, each `line_height` below the one before.
fn tspans(out: &mut String, x: f64, line_height: f64, lines: &[String]) {
    for (j, line) in lines.iter().enumerate() {
        if j == 0 {
            let _ = write!(out, r#"<tspan x="{}">{}</tspan>"#, num(x), esc(line));
        } else {
            let _ = write!(
                out,
                r#"<tspan x="{}" dy="{}">{}</tspan>"#,
                num(x),
                num(line_height),
                esc(line)
            );
        }
    }
}

/// `x,y x,y …` for a `points` attribute.
fn points(pts: impl Iterator<Item = (f64, f64)>) -> String {
    pts.map(|(x, y)| format!("{},{}", num(x), num(y)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number with at most two decimals and no trailing zeros; never "-0". Non-finite numbers
/// (which the renderer never produces) are written as 0 so the document stays valid.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_string();
    }
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Text for XML content and attribute values: the five special characters escaped, and the
/// characters XML 1.0 does not allow dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Greedy word wrap to lines of at most `width` characters (a longer word gets its own line).
/// Always at least one line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn four_axis(values: Vec<Option<f64>>) -> SpiderChart {
        SpiderChart::new(
            "Four",
            ["A", "B", "C", "D"].into_iter().map(Axis::new).collect(),
        )
        .with_series(Series::new("S", values, Line::Solid))
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"))
    }

    fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
        node.attribute("class")
            .is_some_and(|c| c.split_whitespace().any(|w| w == class))
    }

    fn coord(node: &roxmltree::Node<'_, '_>, name: &str) -> f64 {
        node.attribute(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The `(axis, cx, cy)` of every marker of series `k`.
    fn markers(doc: &roxmltree::Document<'_>, k: usize) -> Vec<(usize, f64, f64)> {
        let group = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(&format!("series-{k}")))
            .expect("series group");
        group
            .descendants()
            .filter(|n| n.has_tag_name("circle") && has_class(n, "marker"))
            .map(|n| {
                let axis = n
                    .attribute("class")
                    .and_then(|c| c.split_whitespace().find_map(|w| w.strip_prefix("axis-")))
                    .and_then(|a| a.parse().ok())
                    .expect("axis class");
                (axis, coord(&n, "cx"), coord(&n, "cy"))
            })
            .collect()
    }

    fn parse_points(s: &str) -> Vec<(f64, f64)> {
        s.split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
            .collect()
    }

    /// The points of the series' shapes with this tag (polygon/polyline), one list per shape.
    fn shapes(doc: &roxmltree::Document<'_>, k: usize, tag: &str) -> Vec<Vec<(f64, f64)>> {
        let group = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(&format!("series-{k}")))
            .expect("series group");
        group
            .descendants()
            .filter(|n| n.has_tag_name(tag))
            .map(|n| parse_points(n.attribute("points").expect("points")))
            .collect()
    }

    fn outer_ring(doc: &roxmltree::Document<'_>) -> Vec<(f64, f64)> {
        let ring = doc
            .descendants()
            .find(|n| n.has_tag_name("polygon") && has_class(n, "level-5"))
            .expect("outer ring");
        parse_points(ring.attribute("points").expect("points"))
    }

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 0.006 && (a.1 - b.1).abs() < 0.006
    }

    // One-line labels: centre (340, 256) = (WIDTH / 2, (30 + 22) + (14 + 14 + 6) + RADIUS).
    const CX: f64 = 340.0;
    const CY: f64 = 256.0;
    const TOP: (f64, f64) = (CX, CY - RADIUS);
    const RIGHT: (f64, f64) = (CX + RADIUS, CY);
    const BOTTOM: (f64, f64) = (CX, CY + RADIUS);
    const LEFT: (f64, f64) = (CX - RADIUS, CY);

    #[test]
    fn chart_document_is_svg_with_title_desc_grid_and_legend() {
        let chart = four_axis(vec![Some(3.0); 4]);
        let svg = chart.render();
        let doc = parse(&svg);
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        assert_eq!(root.attribute("version"), Some("1.1"));
        let vb: Vec<f64> = root
            .attribute("viewBox")
            .expect("viewBox")
            .split_whitespace()
            .map(|v| v.parse().expect("number"))
            .collect();
        assert_eq!(vb[..2], [0.0, 0.0]);
        assert_eq!(
            root.attribute("width").map(str::parse::<f64>),
            Some(Ok(vb[2]))
        );
        assert_eq!(
            root.attribute("height").map(str::parse::<f64>),
            Some(Ok(vb[3]))
        );
        let first: Vec<_> = root.children().filter(|n| n.is_element()).take(2).collect();
        assert_eq!(first[0].tag_name().name(), "title");
        assert_eq!(first[0].text(), Some("Four"));
        assert_eq!(first[1].tag_name().name(), "desc");
        // Four rings for 2..5 (1 is the centre), four spokes, five step labels, one legend entry.
        let rings = doc.descendants().filter(|n| has_class(n, "ring")).count();
        assert_eq!(rings, 4);
        assert_eq!(
            doc.descendants().filter(|n| has_class(n, "spoke")).count(),
            4
        );
        let steps = doc
            .descendants()
            .find(|n| has_class(n, "steps"))
            .expect("steps");
        let step_texts: Vec<_> = steps
            .children()
            .filter(|n| has_class(n, "step"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(step_texts, ["1", "2", "3", "4", "5"]);
        assert_eq!(
            doc.descendants()
                .filter(|n| has_class(n, "legend-entry"))
                .count(),
            1
        );
        // Every element drawn lies inside the view box.
        for n in doc.descendants().filter(|n| n.is_element()) {
            for (x, y) in [("x", "y"), ("cx", "cy"), ("x1", "y1"), ("x2", "y2")] {
                if let (Some(x), Some(y)) = (n.attribute(x), n.attribute(y)) {
                    let (x, y): (f64, f64) = (x.parse().expect("x"), y.parse().expect("y"));
                    assert!(
                        (0.0..=vb[2]).contains(&x) && (0.0..=vb[3]).contains(&y),
                        "{x},{y}"
                    );
                }
            }
        }
    }

    #[test]
    fn chart_max_values_sit_on_the_outer_ring_top_right_bottom_left() {
        let svg = four_axis(vec![Some(5.0); 4]).render();
        let doc = parse(&svg);
        let ring = outer_ring(&doc);
        assert_eq!(ring.len(), 4);
        let expected = [TOP, RIGHT, BOTTOM, LEFT];
        for (got, want) in ring.iter().zip(expected) {
            assert!(close(*got, want), "ring {got:?} != {want:?}");
        }
        let m = markers(&doc, 0);
        assert_eq!(m.len(), 4);
        for (axis, x, y) in m {
            assert!(close((x, y), expected[axis]), "marker {axis}: {x},{y}");
            assert!(close((x, y), ring[axis]), "marker {axis} off the ring");
        }
        let polygon = &shapes(&doc, 0, "polygon")[0];
        assert_eq!(polygon, &ring);
    }

    #[test]
    fn chart_min_value_sits_at_the_centre_and_mid_value_halfway() {
        let svg = four_axis(vec![Some(1.0), Some(3.0), Some(1.0), Some(4.0)]).render();
        let doc = parse(&svg);
        let m = markers(&doc, 0);
        assert!(close((m[0].1, m[0].2), (CX, CY)));
        assert!(close((m[1].1, m[1].2), (CX + RADIUS / 2.0, CY)));
        assert!(close((m[2].1, m[2].2), (CX, CY)));
        assert!(close((m[3].1, m[3].2), (CX - RADIUS * 0.75, CY)));
    }

    #[test]
    fn chart_axis_zero_is_at_the_top_and_axes_go_clockwise() {
        // Five axes, value only on one axis at a time: its marker's angle from 12 o'clock.
        let axes: Vec<Axis> = (0..5).map(|i| Axis::new(format!("Axis {i}"))).collect();
        for i in 0..5 {
            let mut values = vec![Some(1.0); 5];
            values[i] = Some(5.0);
            let chart = SpiderChart::new("t", axes.clone()).with_series(Series::new(
                "s",
                values,
                Line::Solid,
            ));
            let svg = chart.render();
            let doc = parse(&svg);
            let (axis, x, y) = markers(&doc, 0)[i];
            assert_eq!(axis, i);
            // Clockwise on screen (y grows downwards): atan2(dx, -dy) from the top.
            let angle = (x - CX).atan2(CY - y).rem_euclid(2.0 * PI);
            let want = 2.0 * PI * i as f64 / 5.0;
            assert!((angle - want).abs() < 1e-3, "axis {i}: {angle} != {want}");
        }
        // With four axes, axis 1 is to the right (3 o'clock), not the left.
        let svg = four_axis(vec![Some(1.0), Some(5.0), Some(1.0), Some(1.0)]).render();
        let doc = parse(&svg);
        let m = markers(&doc, 0);
        assert!(close((m[1].1, m[1].2), RIGHT));
        // The axis labels follow: the top one centred above, the right one starting at the right.
        let label = |i: usize| {
            doc.descendants()
                .find(|n| has_class(n, "axis-label") && has_class(n, &format!("axis-{i}")))
                .expect("label")
        };
        assert_eq!(label(0).attribute("text-anchor"), Some("middle"));
        assert!(coord(&label(0), "y") < TOP.1);
        assert_eq!(label(1).attribute("text-anchor"), Some("start"));
        assert!(coord(&label(1), "x") > RIGHT.0);
        assert_eq!(label(2).attribute("text-anchor"), Some("middle"));
        assert!(coord(&label(2), "y") > BOTTOM.1);
        assert_eq!(label(3).attribute("text-anchor"), Some("end"));
        assert!(coord(&label(3), "x") < LEFT.0);
    }

    #[test]
    fn chart_missing_values_give_no_vertex_and_break_the_outline() {
        let chart = SpiderChart::new("gaps", (0..6).map(|i| Axis::new(format!("X{i}"))).collect())
            .with_series(Series::new(
                "partial",
                // Axis 1 and 4 missing: runs 2-3 and 5-0 (wrapping round), no closed polygon.
                vec![Some(5.0), None, Some(4.0), Some(3.0), None, Some(2.0)],
                Line::Solid,
            ));
        let svg = chart.render();
        let doc = parse(&svg);
        let axes: Vec<usize> = markers(&doc, 0).iter().map(|m| m.0).collect();
        assert_eq!(axes, [0, 2, 3, 5]);
        assert!(shapes(&doc, 0, "polygon").is_empty(), "no filled polygon");
        let lines = shapes(&doc, 0, "polyline");
        assert_eq!(lines.len(), 2);
        let lay = chart.layout();
        let p = |i: usize, v: f64| chart.at(&lay, i, chart.fraction(v));
        assert!(close(lines[0][0], p(2, 4.0)) && close(lines[0][1], p(3, 3.0)));
        assert!(close(lines[1][0], p(5, 2.0)) && close(lines[1][1], p(0, 5.0)));
        for l in &lines {
            assert_eq!(l.len(), 2);
            // Nothing is drawn at the centre, where a 1 (or a pretended 0) would be.
            assert!(l.iter().all(|pt| !close(*pt, (CX, CY))));
        }
        let group = doc
            .descendants()
            .find(|n| has_class(n, "series"))
            .expect("g");
        assert!(
            group
                .descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .all(|n| n.attribute("fill") == Some("none"))
        );
        // The legend and the description say which axes are n/a.
        let note: Vec<_> = doc
            .descendants()
            .filter(|n| has_class(n, "legend-note"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(note, ["n/a (suppressed or no data), not drawn: X1; X4"]);
        let desc = doc
            .descendants()
            .find(|n| n.has_tag_name("desc"))
            .and_then(|n| n.text());
        assert!(
            desc.expect("desc")
                .contains("X1: n/a (suppressed or no data); X2: 4;")
        );
    }

    #[test]
    fn chart_isolated_values_and_short_vectors_are_markers_only() {
        // Alternating gaps: no two present values are neighbours, so no line at all; a values
        // vector shorter than the axes counts as missing for the rest.
        let svg = four_axis(vec![Some(2.0), None, Some(4.0)]).render();
        let doc = parse(&svg);
        assert_eq!(markers(&doc, 0).len(), 2);
        assert!(shapes(&doc, 0, "polyline").is_empty());
        assert!(shapes(&doc, 0, "polygon").is_empty());
        // A NaN is not a value either, and an all-missing series draws nothing but says so.
        let svg = four_axis(vec![Some(f64::NAN), None, None, None]).render();
        let doc = parse(&svg);
        assert!(markers(&doc, 0).is_empty());
        assert!(
            doc.descendants()
                .any(|n| n.text()
                    == Some("n/a on every axis (suppressed or no data): nothing drawn"))
        );
    }

    #[test]
    fn chart_escapes_text_everywhere() {
        let nasty = r#"<&>"' b"#;
        let chart = SpiderChart::new(
            nasty,
            vec![Axis::new(nasty), Axis::new("b"), Axis::new("c")],
        )
        .with_series(Series::new(
            nasty,
            vec![Some(2.0), None, Some(3.0)],
            Line::Dashed,
        ));
        let svg = chart.render();
        assert!(svg.contains("&lt;&amp;&gt;&quot;&apos; b"));
        assert!(!svg.contains(nasty));
        let doc = parse(&svg);
        let title = doc
            .root_element()
            .first_element_child()
            .and_then(|n| n.text());
        assert_eq!(title, Some(nasty));
        // The visible title, the axis label, the legend: each reads back as the original.
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                n.descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert!(
            texts.iter().filter(|t| t.as_str() == nasty).count() >= 3,
            "{texts:?}"
        );
        assert_eq!(esc("a<b&c>d\"e'f"), "a&lt;b&amp;c&gt;d&quot;e&apos;f");
        // Characters XML cannot carry are dropped, so the document still parses.
        let bad = SpiderChart::new("bell\u{7}", vec![Axis::new("nul\u{0}")]);
        assert!(roxmltree::Document::parse(&bad.render()).is_ok());
    }

    #[test]
    fn chart_output_is_deterministic() {
        let make = || {
            SpiderChart::new(
                "Scan",
                ["E1", "E2", "E3", "E4", "E5", "C1", "C2"]
                    .into_iter()
                    .map(Axis::new)
                    .collect(),
            )
            .with_series(Series::new("now", vec![Some(3.256_78); 7], Line::Solid))
            .with_series(Series::new(
                "wish",
                vec![Some(4.5), Some(4.2), None, Some(4.0)],
                Line::Dashed,
            ))
        };
        let a = make().render();
        assert_eq!(a, make().render());
        assert_eq!(a, make().render());
        // Distinct palette colours for the two series, the second dashed.
        let doc = parse(&a);
        let s0 = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("series-0"))
            .expect("s0");
        let s1 = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("series-1"))
            .expect("s1");
        assert_eq!(s0.attribute("stroke"), Some(PALETTE[0]));
        assert_eq!(s1.attribute("stroke"), Some(PALETTE[1]));
        assert!(
            s1.descendants()
                .any(|n| n.attribute("stroke-dasharray").is_some())
        );
        assert!(
            !s0.descendants()
                .any(|n| n.attribute("stroke-dasharray").is_some())
        );
    }

    #[test]
    fn chart_numbers_have_at_most_two_decimals() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(1.234_567), "1.23");
        assert_eq!(num(1.235_1), "1.24");
        assert_eq!(num(99.999), "100");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(-1.5), "-1.5");
        assert_eq!(num(0.1 + 0.2), "0.3");
        assert_eq!(num(f64::NAN), "0");
        // In the document: every number in a coordinate attribute has at most two decimals.
        let chart = SpiderChart::new("n", (0..7).map(|i| Axis::new(format!("{i}"))).collect())
            .with_series(Series::new("s", vec![Some(3.333_333); 7], Line::Solid));
        let svg = chart.render();
        let doc = parse(&svg);
        for n in doc.descendants().filter(|n| n.is_element()) {
            for a in n.attributes() {
                if matches!(
                    a.name(),
                    "x" | "y" | "cx" | "cy" | "x1" | "y1" | "x2" | "y2" | "points" | "viewBox"
                ) {
                    for number in a.value().split([' ', ',']) {
                        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
                        assert!(decimals <= 2, "{}={}", a.name(), a.value());
                    }
                }
            }
        }
        assert!(
            svg.contains("s, 0: 3.33"),
            "marker tooltip rounds the value too"
        );
    }

    #[test]
    fn chart_clamps_out_of_range_values_and_says_so() {
        let svg = four_axis(vec![Some(7.0), Some(-2.0), Some(5.0), Some(0.5)]).render();
        let doc = parse(&svg);
        let m = markers(&doc, 0);
        assert!(close((m[0].1, m[0].2), TOP), "7 drawn at 5");
        assert!(close((m[1].1, m[1].2), (CX, CY)), "-2 drawn at 1");
        assert!(close((m[2].1, m[2].2), BOTTOM));
        assert!(close((m[3].1, m[3].2), (CX, CY)), "0.5 drawn at 1");
        assert!(svg.contains("A: 7 (outside the scale, drawn at 5)"));
        assert!(svg.contains("outside the scale 1–5, drawn at its edge: A = 7; B = -2; D = 0.5"));
    }

    #[test]
    fn chart_other_scales_and_bad_scales() {
        // A 0..10 scale: 5 is halfway; rings for every whole number 1..10.
        let mut chart = four_axis(vec![Some(5.0), Some(10.0), Some(0.0), Some(2.5)]);
        chart.scale = (0.0, 10.0);
        let svg = chart.render();
        let doc = parse(&svg);
        let m = markers(&doc, 0);
        assert!(close((m[0].1, m[0].2), (CX, CY - RADIUS / 2.0)));
        assert!(close((m[1].1, m[1].2), RIGHT));
        assert_eq!(
            doc.descendants().filter(|n| has_class(n, "ring")).count(),
            10
        );
        // An unusable scale falls back to 1..5 rather than dividing by zero.
        chart.scale = (3.0, 3.0);
        let svg = chart.render();
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(outer_ring(&parse(&svg)), [TOP, RIGHT, BOTTOM, LEFT]);
    }

    #[test]
    fn chart_degenerate_axis_counts_still_render() {
        for n in 0..3 {
            let axes = (0..n).map(|i| Axis::new(format!("a{i}"))).collect();
            let chart = SpiderChart::new("few", axes).with_series(Series::new(
                "s",
                vec![Some(4.0); n],
                Line::Solid,
            ));
            let svg = chart.render();
            let doc = parse(&svg);
            assert_eq!(markers(&doc, 0).len(), n);
        }
    }

    #[test]
    fn chart_long_labels_wrap_and_move_the_chart_down() {
        assert_eq!(
            wrap("C4 Leadership from team leaders", 20),
            ["C4 Leadership from", "team leaders"]
        );
        assert_eq!(wrap("", 20), [""]);
        assert_eq!(
            wrap("supercalifragilisticexpialidocious x", 20),
            ["supercalifragilisticexpialidocious", "x"]
        );
        let chart = SpiderChart::new(
            "scan",
            vec![
                Axis::new("E1 Internal professionalisation opportunities"),
                Axis::new("b"),
                Axis::new("c"),
            ],
        );
        let svg = chart.render();
        let doc = parse(&svg);
        let label = doc
            .descendants()
            .find(|n| has_class(n, "axis-0"))
            .expect("label");
        assert_eq!(
            label.children().filter(|n| n.has_tag_name("tspan")).count(),
            3
        );
        // The whole label block stays above the outer ring and below the title.
        let lay = chart.layout();
        let first_baseline = coord(&label, "y");
        assert!(first_baseline > 40.0);
        assert!(first_baseline + 2.0 * LABEL_LINE < lay.cy - lay.r);
    }
}
