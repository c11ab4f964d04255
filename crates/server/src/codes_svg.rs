//! Pay codes drawn as SVG for the member's app: a Code 128 barcode (set C, two digits per
//! symbol, so 20 digits make a short barcode any till scanner reads) and a QR code. Both
//! are pure functions of the digits; the drawing is in module units, scaled by `viewBox`.
//! Gift voucher codes (16 digits) are drawn the same way.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// An SVG answer that no cache keeps: a code drawn is a credential.
pub fn svg_response(svg: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "image/svg+xml"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, svg).into_response()
}

/// Bar and space widths (in modules, bar first) of the Code 128 symbols 0 to 105; every
/// symbol is 3 bars and 3 spaces, 11 modules (ISO/IEC 15417).
const CODE128_PATTERNS: [&str; 106] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232",
];
/// The stop symbol: 4 bars and 3 spaces, 13 modules.
const CODE128_STOP: &str = "2331112";
const CODE128_START_C: u8 = 105;
const CODE128_CHECK_MODULUS: u32 = 103;
/// Quiet zone each side: at least 10 modules, as the standard asks.
const QUIET_MODULES: u32 = 10;
const BAR_HEIGHT_MODULES: u32 = 60;
const TEXT_HEIGHT_MODULES: u32 = 14;
/// Pixels per module in the `width`/`height` the SVG asks for (it scales freely).
const PIXELS_PER_MODULE: u32 = 2;
/// Light modules around a QR code (the standard's 4).
const QR_QUIET_MODULES: usize = 4;
const QR_PIXELS_PER_MODULE: usize = 8;
/// Longest text drawn: a pay code is 20 digits; this bounds work on bad input.
pub const DIGITS_MAX: usize = 64;

/// The symbol values of `digits` in Code 128 set C: start C, one value per digit pair,
/// the check symbol, without the stop. `None` unless an even count of ASCII digits.
pub fn code128_values(digits: &str) -> Option<Vec<u8>> {
    let bytes = digits.as_bytes();
    let even = bytes.len().is_multiple_of(2);
    if bytes.is_empty()
        || !even
        || bytes.len() > DIGITS_MAX
        || !bytes.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut values = vec![CODE128_START_C];
    values.extend(
        bytes
            .chunks(2)
            .map(|pair| (pair[0] - b'0') * 10 + (pair[1] - b'0')),
    );
    // The check symbol: the start value plus each symbol value times its position, mod 103.
    let weighted: u32 = values
        .iter()
        .enumerate()
        .map(|(position, &value)| position.max(1) as u32 * u32::from(value))
        .sum();
    values.push((weighted % CODE128_CHECK_MODULUS) as u8);
    Some(values)
}

/// Code 128 (set C) barcode of an even count of digits, with the digits printed below.
pub fn code128_svg(digits: &str) -> Option<String> {
    let values = code128_values(digits)?;
    let mut widths: Vec<u32> = Vec::new();
    for &value in &values {
        widths.extend(
            CODE128_PATTERNS[usize::from(value)]
                .bytes()
                .map(|b| u32::from(b - b'0')),
        );
    }
    widths.extend(CODE128_STOP.bytes().map(|b| u32::from(b - b'0')));
    let total: u32 = widths.iter().sum::<u32>() + 2 * QUIET_MODULES;
    let height = BAR_HEIGHT_MODULES + TEXT_HEIGHT_MODULES;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {total} {height}\" shape-rendering=\"crispEdges\">",
        total * PIXELS_PER_MODULE,
        height * PIXELS_PER_MODULE,
    );
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>");
    let mut x = QUIET_MODULES;
    for (index, &width) in widths.iter().enumerate() {
        // Even positions are bars, odd ones spaces.
        if index % 2 == 0 {
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"0\" width=\"{width}\" height=\"{BAR_HEIGHT_MODULES}\" fill=\"#000\"/>"
            );
        }
        x += width;
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-family=\"monospace\" font-size=\"11\" text-anchor=\"middle\">{}</text></svg>",
        total / 2,
        height - 2,
        grouped(digits),
    );
    Some(svg)
}

/// Digits in groups of four, as people read a card number.
fn grouped(digits: &str) -> String {
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(4)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    groups.join(" ")
}

/// Longest text a QR code is drawn of (a link of the app: a money request's `pay_url`).
pub const QR_TEXT_BYTES_MAX: usize = 256;

/// QR code of `text` (medium error correction), one path of dark modules.
pub fn qr_svg(text: &str) -> Option<String> {
    if text.is_empty() || text.len() > QR_TEXT_BYTES_MAX {
        return None;
    }
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    let size = width + 2 * QR_QUIET_MODULES;
    let pixels = size * QR_PIXELS_PER_MODULE;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{pixels}\" height=\"{pixels}\" \
         viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">"
    );
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"");
    for (index, color) in code.to_colors().into_iter().enumerate() {
        if color == qrcode::Color::Dark {
            let x = index % width + QR_QUIET_MODULES;
            let y = index / width + QR_QUIET_MODULES;
            let _ = write!(svg, "M{x} {y}h1v1h-1z");
        }
    }
    svg.push_str("\"/></svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the bars of a drawn barcode back into element widths (bar, space, bar, ...).
    fn widths_of(svg: &str) -> Vec<u32> {
        let mut bars: Vec<(u32, u32)> = Vec::new();
        for part in svg.split("<rect ").skip(1) {
            if !part.contains("fill=\"#000\"") {
                continue;
            }
            let part = format!(" {part}");
            let number = |name: &str| -> u32 {
                let start = part.find(&format!(" {name}=\"")).expect("attribute") + name.len() + 3;
                let rest = &part[start..];
                rest[..rest.find('"').expect("quote")]
                    .parse()
                    .expect("a number")
            };
            bars.push((number("x"), number("width")));
        }
        let mut widths = Vec::new();
        for (index, &(x, width)) in bars.iter().enumerate() {
            if index > 0 {
                let (previous_x, previous_width) = bars[index - 1];
                widths.push(x - previous_x - previous_width);
            }
            widths.push(width);
        }
        widths
    }

    fn value_of(widths: &[u32]) -> u8 {
        let text: String = widths.iter().map(|w| char::from(b'0' + *w as u8)).collect();
        let value = CODE128_PATTERNS.iter().position(|pattern| *pattern == text);
        value.expect("a Code 128 symbol") as u8
    }

    #[test]
    fn every_symbol_is_three_bars_and_three_spaces_of_eleven_modules() {
        let mut seen = std::collections::BTreeSet::new();
        for pattern in CODE128_PATTERNS {
            assert_eq!(pattern.len(), 6);
            let modules: u32 = pattern.bytes().map(|b| u32::from(b - b'0')).sum();
            assert_eq!(modules, 11, "{pattern}");
            assert!(seen.insert(pattern), "{pattern} twice");
        }
        assert_eq!(CODE128_PATTERNS[0], "212222");
        assert_eq!(CODE128_PATTERNS[usize::from(CODE128_START_C)], "211232");
        let stop: u32 = CODE128_STOP.bytes().map(|b| u32::from(b - b'0')).sum();
        assert_eq!(stop, 13);
    }

    #[test]
    fn a_pay_code_barcode_reads_back_with_the_right_check_symbol() {
        let code = "91012345678912345678";
        let svg = code128_svg(code).expect("a barcode");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"));
        let widths = widths_of(&svg);
        // Start C, 10 digit pairs, check symbol (6 elements each), stop (7 elements).
        assert_eq!(widths.len(), 12 * 6 + 7);
        let values: Vec<u8> = widths[..72].chunks(6).map(value_of).collect();
        assert_eq!(values[0], 105, "start C");
        let pairs: Vec<u32> = code
            .as_bytes()
            .chunks(2)
            .map(|pair| u32::from(pair[0] - b'0') * 10 + u32::from(pair[1] - b'0'))
            .collect();
        let read: Vec<u32> = values[1..11].iter().map(|&v| u32::from(v)).collect();
        assert_eq!(read, pairs);
        // The standard rule, computed here independently of the encoder.
        let sum: u32 = 105 + pairs.iter().zip(1u32..).map(|(v, i)| v * i).sum::<u32>();
        assert_eq!(u32::from(values[11]), sum % 103);
        let stop: String = widths[72..].iter().map(|w| w.to_string()).collect();
        assert_eq!(stop, CODE128_STOP);
    }

    #[test]
    fn bad_input_draws_nothing() {
        assert_eq!(code128_svg(""), None);
        assert_eq!(code128_svg("123"), None, "set C takes digit pairs");
        assert_eq!(code128_svg("12a4"), None);
        assert_eq!(code128_svg(&"1".repeat(DIGITS_MAX + 2)), None);
        assert!(
            code128_svg(&"1".repeat(DIGITS_MAX)).is_some(),
            "at the maximum"
        );
        assert_eq!(qr_svg(""), None);
        assert_eq!(qr_svg(&"1".repeat(QR_TEXT_BYTES_MAX + 1)), None);
        assert!(
            qr_svg(&"h".repeat(QR_TEXT_BYTES_MAX)).is_some(),
            "at the maximum"
        );
    }

    #[test]
    fn the_qr_code_is_well_formed_svg() {
        let svg = qr_svg("91012345678912345678").expect("a QR code");
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        // 20 digits fit a version 1 symbol: 21 modules plus the quiet zone.
        assert!(svg.contains("viewBox=\"0 0 29 29\""), "{}", &svg[..200]);
        assert!(svg.matches("h1v1h-1z").count() > 100);
    }
}
