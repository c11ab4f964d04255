//! Charts drawn on the server as SVG: no chart library, no script, the figures in the
//! markup (a screen reader reads the table beside each chart; the SVG has a title).

use std::fmt::Write as _;

/// Bars shown at most (the rest would not be readable on a phone).
pub const BARS_MAX: usize = 12;
const BAR_HEIGHT: u32 = 22;
const GAP: u32 = 8;
const LABEL_WIDTH: u32 = 140;
const BAR_WIDTH_MAX: u32 = 260;
const WIDTH: u32 = LABEL_WIDTH + BAR_WIDTH_MAX + 90;

/// `text` with the five characters XML gives meaning escaped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A horizontal bar chart of `bars` (label, value), the longest bar the largest value.
pub fn bars(title: &str, bars: &[(String, u128)]) -> String {
    let bars = &bars[..bars.len().min(BARS_MAX)];
    let rows = u32::try_from(bars.len())
        .expect("at most BARS_MAX bars")
        .max(1);
    let height = rows * (BAR_HEIGHT + GAP) + GAP;
    let largest = bars
        .iter()
        .map(|(_, value)| *value)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-label=\"{title}\" class=\"chart\"><title>{title}</title>",
        title = escape(title)
    );
    for (index, (label, value)) in bars.iter().enumerate() {
        let index = u32::try_from(index).expect("at most BARS_MAX bars");
        let y = GAP + index * (BAR_HEIGHT + GAP);
        // Scaled in u128: a value times the width never overflows it for money in MVP.
        let width = value.saturating_mul(u128::from(BAR_WIDTH_MAX)) / largest;
        let width = u32::try_from(width).unwrap_or(BAR_WIDTH_MAX).max(1);
        let text_y = y + BAR_HEIGHT / 2 + 5;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{text_y}\" font-size=\"13\" fill=\"#14202b\">{label}</text>\
             <rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{width}\" height=\"{BAR_HEIGHT}\" \
             rx=\"3\" fill=\"#0b4f8a\"/>\
             <text x=\"{}\" y=\"{text_y}\" font-size=\"13\" fill=\"#14202b\">{}</text>",
            LABEL_WIDTH + width + 6,
            crate::pages::grouped(*value),
            label = escape(&truncated(label)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Columns shown at most (a quarter of days and one).
pub const COLUMNS_MAX: usize = 93;
const COLUMNS_WIDTH: u32 = 560;
const COLUMNS_HEIGHT: u32 = 160;
const AXIS_HEIGHT: u32 = 20;
const VALUE_WIDTH: u32 = 70;

/// A column chart of a series over time (`points`: label, value), the tallest column the
/// largest value; every `label_every`-th label is written under the axis.
pub fn columns(title: &str, points: &[(String, u128)], label_every: usize) -> String {
    let points = &points[..points.len().min(COLUMNS_MAX)];
    let count = u32::try_from(points.len().max(1)).expect("at most COLUMNS_MAX columns");
    let step = (COLUMNS_WIDTH - VALUE_WIDTH) / count;
    let largest = points.iter().map(|(_, value)| *value).max().unwrap_or(0);
    let scale = largest.max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {COLUMNS_WIDTH} {}\" \
         role=\"img\" aria-label=\"{title}\" class=\"chart\"><title>{title}</title>\
         <text x=\"0\" y=\"14\" font-size=\"12\" fill=\"#14202b\">{}</text>\
         <line x1=\"{VALUE_WIDTH}\" y1=\"{COLUMNS_HEIGHT}\" x2=\"{COLUMNS_WIDTH}\" \
         y2=\"{COLUMNS_HEIGHT}\" stroke=\"#5b6b79\"/>",
        COLUMNS_HEIGHT + AXIS_HEIGHT,
        crate::pages::grouped(largest),
        title = escape(title)
    );
    for (index, (label, value)) in points.iter().enumerate() {
        let x = VALUE_WIDTH + u32::try_from(index).expect("at most COLUMNS_MAX") * step;
        let height = value.saturating_mul(u128::from(COLUMNS_HEIGHT - 20)) / scale;
        let height = u32::try_from(height).unwrap_or(COLUMNS_HEIGHT);
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{height}\" fill=\"#0b4f8a\">\
             <title>{}: {}</title></rect>",
            COLUMNS_HEIGHT - height,
            step.saturating_sub(2).max(1),
            escape(label),
            crate::pages::grouped(*value),
        );
        if label_every > 0 && index % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x}\" y=\"{}\" font-size=\"11\" fill=\"#14202b\">{}</text>",
                COLUMNS_HEIGHT + 15,
                escape(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A label cut to what fits beside the bars.
fn truncated(label: &str) -> String {
    const CHARS_MAX: usize = 18;
    if label.chars().count() <= CHARS_MAX {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(CHARS_MAX - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale_to_the_largest() {
        let svg = bars(
            "MVP <issued>",
            &[
                ("A&B <script>".into(), 100),
                ("C".into(), 50),
                ("Z".into(), 0),
            ],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("A&amp;B &lt;script&gt;"));
        assert!(svg.contains("aria-label=\"MVP &lt;issued&gt;\""));
        assert!(svg.contains(&format!("width=\"{BAR_WIDTH_MAX}\"")));
        assert!(svg.contains(&format!("width=\"{}\"", BAR_WIDTH_MAX / 2)));
        // A zero still shows a sliver, so the row is seen.
        assert!(svg.contains("width=\"1\""));
    }

    #[test]
    fn columns_scale_to_the_largest_label_every_nth_and_escape() {
        let points: Vec<(String, u128)> = (0..10u128)
            .map(|day| (format!("12-{day:02} <b>"), day * 10))
            .collect();
        let svg = columns("MVP <per> day", &points, 5);
        assert_eq!(svg.matches("<rect").count(), 10);
        // The largest (90) is the full height; zero is no height.
        assert!(svg.contains(&format!("height=\"{}\"", COLUMNS_HEIGHT - 20)));
        assert!(svg.contains("height=\"0\""));
        // Labels 0 and 5 under the axis (and in every column's title).
        assert_eq!(svg.matches("font-size=\"11\"").count(), 2);
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("MVP &lt;per&gt; day"));
        let many: Vec<(String, u128)> = (0..200).map(|i| (i.to_string(), u128::MAX)).collect();
        assert_eq!(
            columns("many", &many, 0).matches("<rect").count(),
            COLUMNS_MAX
        );
    }

    #[test]
    fn at_most_the_limit_of_bars_and_no_overflow() {
        let many: Vec<(String, u128)> = (0..=BARS_MAX as u128)
            .map(|value| (value.to_string(), u128::MAX - value))
            .collect();
        let svg = bars("many", &many);
        assert_eq!(svg.matches("<rect").count(), BARS_MAX);
        assert_eq!(bars("none", &[]).matches("<rect").count(), 0);
    }
}
