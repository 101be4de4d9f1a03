//! Plain inline SVG for `report.html`: linear and log-style scales, axes with
//! ticks, polylines, markers, rectangles and a legend.
//!
//! Invariants: every piece of text placed in the SVG goes through [`esc`];
//! numbers are written with at most two decimals, so the same input gives
//! byte-identical output; a plot's size depends on the points it is given,
//! never on the data's range, so callers bound the points (see
//! `html.rs`, which aggregates long series per minute). No script, no
//! external reference: the SVG is meant to be inlined into one HTML file.

use std::fmt::Write;

/// Escapes text for HTML and SVG, in text and in attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an SVG attribute: two decimals, without trailing zeros.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_owned()
    }
}

/// Maps a domain `[d0, d1]` onto a range `[r0, r1]` (pixels) linearly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    /// A scale whose domain is never empty: `d1` is at least `d0 + min_span`.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64, min_span: f64) -> Scale {
        let d0 = if d0.is_finite() { d0 } else { 0.0 };
        let d1 = if d1.is_finite() { d1 } else { d0 };
        Scale {
            d0,
            d1: d1.max(d0 + min_span),
            r0,
            r1,
        }
    }

    pub fn at(&self, v: f64) -> f64 {
        let t = (v - self.d0) / (self.d1 - self.d0);
        self.r0 + t.clamp(-0.05, 1.05) * (self.r1 - self.r0)
    }

    /// About `n` round tick values inside the domain (1, 2 or 5 × 10^k apart).
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        let span = self.d1 - self.d0;
        if span <= 0.0 || !span.is_finite() {
            return vec![self.d0];
        }
        let raw = span / n.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| span / s <= n as f64)
            .unwrap_or(10.0 * mag);
        let mut out = Vec::new();
        let mut v = (self.d0 / step).ceil() * step;
        while v <= self.d1 + step * 1e-9 && out.len() <= 4 * n {
            out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
            v += step;
        }
        out
    }
}

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

impl Stroke {
    fn class(self) -> &'static str {
        match self {
            Stroke::Solid => "",
            Stroke::Dashed => " dashed",
            Stroke::Dotted => " dotted",
        }
    }
}

/// One line of a plot.
#[derive(Clone, Debug)]
pub struct Line {
    pub label: String,
    /// A CSS colour.
    pub color: String,
    pub stroke: Stroke,
    /// On the right-hand axis.
    pub right: bool,
    pub points: Vec<(f64, f64)>,
}

/// A vertical marker (an event) at an x value.
#[derive(Clone, Debug)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// An axis: its title and how its tick values are written.
#[derive(Clone, Debug)]
pub struct Axis {
    pub title: String,
    pub scale: Scale,
    /// Custom ticks `(value, label)`; `None`: round values from the scale.
    pub ticks: Option<Vec<(f64, String)>>,
    pub unit: String,
}

impl Axis {
    fn tick_list(&self) -> Vec<(f64, String)> {
        match &self.ticks {
            Some(t) => t.clone(),
            None => self
                .scale
                .ticks(5)
                .into_iter()
                .map(|v| (v, format!("{}{}", short(v), self.unit)))
                .collect(),
        }
    }
}

/// A tick value, short: `1.5`, `120`, `12k`.
pub fn short(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{}k", num(v / 1000.0))
    } else {
        num(v)
    }
}

/// The drawing area of a plot, inside its margins.
pub const WIDTH: f64 = 760.0;
pub const HEIGHT: f64 = 260.0;
pub const LEFT: f64 = 62.0;
pub const RIGHT: f64 = 62.0;
pub const TOP: f64 = 24.0;
pub const BOTTOM: f64 = 44.0;

/// The x range of the drawing area, in pixels.
pub fn x_range() -> (f64, f64) {
    (LEFT, WIDTH - RIGHT)
}

/// The y range of the drawing area, in pixels (bottom first).
pub fn y_range() -> (f64, f64) {
    (HEIGHT - BOTTOM, TOP)
}

/// A chart being drawn: an `<svg>` element as text.
pub struct Chart {
    out: String,
    legend: Vec<(String, String, Stroke)>,
}

impl Chart {
    /// A chart titled for screen readers with `title`.
    pub fn new(title: &str) -> Chart {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="plot" viewBox="0 0 {} {}" role="img"><title>{}</title>"#,
            num(WIDTH),
            num(HEIGHT),
            esc(title)
        );
        Chart {
            out,
            legend: Vec::new(),
        }
    }

    /// Grid lines, ticks and titles of the x and left y axes (and the right one).
    pub fn axes(&mut self, x: &Axis, y: &Axis, y2: Option<&Axis>) {
        let (x0, x1) = x_range();
        let (y0, y1) = y_range();
        for (v, label) in y.tick_list() {
            let py = y.scale.at(v);
            let _ = write!(
                self.out,
                r#"<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
                num(x0),
                num(py),
                num(x1),
                num(py),
                num(x0 - 6.0),
                num(py + 4.0),
                esc(&label)
            );
        }
        for (v, label) in x.tick_list() {
            let px = x.scale.at(v);
            let _ = write!(
                self.out,
                r#"<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                num(px),
                num(y0),
                num(px),
                num(y1),
                num(px),
                num(y0 + 16.0),
                esc(&label)
            );
        }
        if let Some(y2) = y2 {
            for (v, label) in y2.tick_list() {
                let py = y2.scale.at(v);
                let _ = write!(
                    self.out,
                    r#"<text class="tick right" x="{}" y="{}">{}</text>"#,
                    num(x1 + 6.0),
                    num(py + 4.0),
                    esc(&label)
                );
            }
            let _ = write!(
                self.out,
                r#"<text class="axis" transform="translate({} {}) rotate(90)" text-anchor="middle">{}</text>"#,
                num(WIDTH - 8.0),
                num((y0 + y1) / 2.0),
                esc(&y2.title)
            );
        }
        let _ = write!(
            self.out,
            r#"<rect class="frame" x="{}" y="{}" width="{}" height="{}"/><text class="axis" x="{}" y="{}" text-anchor="middle">{}</text><text class="axis" transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            num(x0),
            num(y1),
            num(x1 - x0),
            num(y0 - y1),
            num((x0 + x1) / 2.0),
            num(HEIGHT - 6.0),
            esc(&x.title),
            num((y0 + y1) / 2.0),
            esc(&y.title)
        );
    }

    /// A polyline (and dots when it has few points, so one point shows).
    pub fn line(&mut self, line: &Line, x: &Scale, y: &Scale) {
        if line.points.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, (vx, vy)) in line.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { " L" },
                num(x.at(*vx)),
                num(y.at(*vy))
            );
        }
        let _ = write!(
            self.out,
            r#"<path class="line{}" d="{}" stroke="{}"/>"#,
            line.stroke.class(),
            d,
            esc(&line.color)
        );
        if line.points.len() <= 60 {
            for (vx, vy) in &line.points {
                let _ = write!(
                    self.out,
                    r#"<circle cx="{}" cy="{}" r="2.5" fill="{}"/>"#,
                    num(x.at(*vx)),
                    num(y.at(*vy)),
                    esc(&line.color)
                );
            }
        }
        self.legend
            .push((line.label.clone(), line.color.clone(), line.stroke));
    }

    /// Vertical markers with their labels.
    pub fn markers(&mut self, markers: &[Marker], x: &Scale) {
        let (y0, y1) = y_range();
        for (i, m) in markers.iter().enumerate() {
            let px = x.at(m.x);
            let _ = write!(
                self.out,
                r#"<line class="marker" x1="{}" y1="{}" x2="{}" y2="{}"/><text class="marker-label" x="{}" y="{}">{}</text>"#,
                num(px),
                num(y0),
                num(px),
                num(y1),
                num(px + 3.0),
                num(y1 + 10.0 + 11.0 * (i % 3) as f64),
                esc(&m.label)
            );
        }
    }

    /// A filled rectangle between two corners (in data units).
    pub fn rect(
        &mut self,
        x: &Scale,
        y: &Scale,
        (xa, ya): (f64, f64),
        (xb, yb): (f64, f64),
        color: &str,
        tip: &str,
    ) {
        let (px0, px1) = (x.at(xa).min(x.at(xb)), x.at(xa).max(x.at(xb)));
        let (py0, py1) = (y.at(ya).min(y.at(yb)), y.at(ya).max(y.at(yb)));
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>"#,
            num(px0),
            num(py0),
            num((px1 - px0).max(0.5)),
            num(py1 - py0),
            esc(color),
            esc(tip)
        );
    }

    /// Adds a legend entry without drawing a line (for bars).
    pub fn legend(&mut self, label: &str, color: &str) {
        self.legend
            .push((label.to_owned(), color.to_owned(), Stroke::Solid));
    }

    /// The finished `<svg>`, legend on top.
    pub fn finish(mut self) -> String {
        let mut x = LEFT;
        for (label, color, stroke) in &self.legend {
            let _ = write!(
                self.out,
                r#"<line class="line{}" x1="{}" y1="12" x2="{}" y2="12" stroke="{}"/><text class="legend" x="{}" y="16">{}</text>"#,
                stroke.class(),
                num(x),
                num(x + 16.0),
                esc(color),
                num(x + 20.0),
                esc(label)
            );
            x += 28.0 + 6.5 * label.chars().count() as f64;
        }
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let mut c = Chart::new("<b>");
        c.legend("</svg><script>", "red\"");
        let svg = c.finish();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
    }

    #[test]
    fn a_scale_over_one_value_still_has_a_span_and_round_ticks() {
        let s = Scale::new(0.0, 0.0, 0.0, 100.0, 1.0);
        assert_eq!(s.at(0.0), 0.0);
        assert_eq!(s.at(1.0), 100.0);
        let t = Scale::new(0.0, 7200.0, 0.0, 1.0, 1.0).ticks(5);
        assert_eq!(t, vec![0.0, 2000.0, 4000.0, 6000.0]);
    }

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.256), "1.26");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }
}
