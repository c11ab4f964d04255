//! A small JSON reader that keeps every number as the text it was written in.
//!
//! The workspace's `serde_json` has neither `arbitrary_precision` nor `raw_value`, so through
//! it a price like `1.234E-5` would pass through an `f64` before we saw it. This reader
//! follows RFC 8259 strictly (what `serde_json` accepts, it accepts; what it refuses, it
//! refuses — the tests below hold the two side by side) and hands numbers over as their
//! source text. Strings are delimited here and unescaped by `serde_json`, which cannot lose
//! anything in a string.

/// Deepest nesting accepted (a ticker answer is two deep).
pub(crate) const DEPTH_MAX: usize = 32;

/// A parsed JSON value; numbers are their source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// The number token exactly as written, e.g. `1.234E-5`.
    Number(&'a str),
    String(String),
    Array(Vec<Value<'a>>),
    /// Members in the order written; duplicate names are kept (the caller decides).
    Object(Vec<(String, Value<'a>)>),
}

impl Value<'_> {
    /// A short name of the value's kind, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Parses one JSON document (surrounding whitespace allowed, nothing else after it).
pub(crate) fn parse(text: &str) -> Result<Value<'_>, String> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at != parser.bytes.len() {
        return Err(parser.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

/// Where the JSON number token starting at `start` ends (exclusive), if one starts there:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub(crate) fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits_from = |mut at: usize| {
        let from = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        (at > from).then_some(at)
    };
    let mut at = start;
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    at = match bytes.get(at) {
        Some(b'0') => at + 1,
        Some(b'1'..=b'9') => digits_from(at)?,
        _ => return None,
    };
    if bytes.get(at) == Some(&b'.') {
        at = digits_from(at + 1)?;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        at = digits_from(at)?;
    }
    Some(at)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return Err(self.error(&format!("expected `{}`", byte as char)));
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("unexpected end of the document")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let end = number_end(self.bytes, self.at)
                    .ok_or_else(|| self.error("malformed number"))?;
                let token = &self.text[self.at..end];
                self.at = end;
                Ok(Value::Number(token))
            }
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, String> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            return Err(self.error("unexpected word"));
        }
        self.at += word.len();
        Ok(value)
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => break,
                // The escape itself is checked by serde_json below; skipping its first
                // character is enough to find the string's end.
                Some(b'\\') => self.at += 2,
                Some(0x00..=0x1f) => return Err(self.error("control character in a string")),
                Some(_) => self.at += 1,
            }
        }
        self.at += 1;
        // Both ends are ASCII quotes, hence character boundaries.
        serde_json::from_str::<String>(&self.text[start..self.at])
            .map_err(|error| format!("bad string at byte {start}: {error}"))
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, String> {
        if depth > DEPTH_MAX {
            return Err(self.error("nested too deep"));
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, String> {
        if depth > DEPTH_MAX {
            return Err(self.error("nested too deep"));
        }
        self.at += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let name = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let value = parse(r#"[{"p": 1.234E-5, "q": -0, "r": 143250000.0, "s": 1e+2}]"#).unwrap();
        let Value::Array(items) = value else {
            panic!("not an array")
        };
        let Value::Object(members) = &items[0] else {
            panic!("not an object")
        };
        let tokens: Vec<_> = members
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        assert_eq!(
            tokens,
            [
                ("p", Value::Number("1.234E-5")),
                ("q", Value::Number("-0")),
                ("r", Value::Number("143250000.0")),
                ("s", Value::Number("1e+2")),
            ]
        );
    }

    #[test]
    fn strings_are_unescaped() {
        assert_eq!(
            parse(r#""KRW-\u0042TC \"x\" \ud83d\ude00 가""#).unwrap(),
            Value::String("KRW-BTC \"x\" 😀 가".to_string())
        );
    }

    /// What serde_json accepts, this reader accepts, and the other way round.
    #[test]
    fn accepts_exactly_what_serde_json_accepts() {
        let documents = [
            "[]",
            "{}",
            " [ 1 , 2 ] ",
            "\n{\"a\":[true,false,null]}\r\n",
            "0",
            "-0",
            "0.5",
            "1e5",
            "1E-5",
            "1.5e+10",
            "\"\"",
            r#""\/\b\f\n\r\t""#,
            r#"{"a":1,"a":2}"#,
            "[[[[[[[[[[]]]]]]]]]]",
            // Refused by both:
            "",
            " ",
            "[",
            "]",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "-",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "0x10",
            "NaN",
            "Infinity",
            "-Infinity",
            "tru",
            "nul",
            "True",
            "\"unterminated",
            "\"bad \\x escape\"",
            "\"bad \\u12 escape\"",
            "\"lone \\ud800 surrogate\"",
            "\"tab\tinside\"",
            "[1] [2]",
            "[1]x",
            "'single'",
            "\u{feff}[]",
        ];
        for document in documents {
            let ours = parse(document).is_ok();
            let theirs = serde_json::from_str::<serde_json::Value>(document).is_ok();
            assert_eq!(ours, theirs, "{document:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(DEPTH_MAX), "]".repeat(DEPTH_MAX));
        assert!(parse(&deep).is_ok());
        let deeper = format!("{}{}", "[".repeat(DEPTH_MAX + 1), "]".repeat(DEPTH_MAX + 1));
        assert!(parse(&deeper).is_err());
    }

    #[test]
    fn number_tokens_end_where_the_grammar_says() {
        let cases = [
            ("1", Some(1)),
            ("12,", Some(2)),
            ("1.5]", Some(3)),
            ("1.5e-3}", Some(6)),
            ("0123", Some(1)),
            ("-", None),
            ("1.", None),
            ("1e", None),
            ("x", None),
        ];
        for (text, end) in cases {
            assert_eq!(number_end(text.as_bytes(), 0), end, "{text:?}");
        }
    }
}
