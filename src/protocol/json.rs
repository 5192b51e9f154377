//! A small JSON reader for the server's answers and the encrypted metadata.
//!
//! Ferry reads a handful of fixed shapes; serde_json's derived visitors for
//! them were a fifth of the wasm binary, and its float code more. This reads
//! any JSON into a tree, keeps numbers as their text (the API sends only
//! integers, read with [`Json::as_i64`]), and refuses anything malformed or
//! nested deeper than [`MAX_DEPTH`].

use std::fmt;

/// Deeper nesting than any answer Ferry reads; a hostile body cannot recurse
/// the stack away.
pub const MAX_DEPTH: usize = 32;

/// More members in one object than any answer or metadata Ferry reads has
/// (tens): a repeated name is looked for among the earlier ones, so a
/// hostile object of 50,000 members would cost billions of comparisons.
pub const MAX_MEMBERS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written, validated against JSON's grammar.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated name keeps its last value, as
    /// `JSON.parse` does.
    Object(Vec<(String, Json)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

impl Json {
    pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
        let mut reader = Reader { bytes, at: 0 };
        let value = reader.value(0)?;
        reader.skip_space();
        if reader.at != bytes.len() {
            return Err(reader.error("data after the value"));
        }
        Ok(value)
    }

    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A whole number that fits `i64`; `1.0` and `1e3` are not read as one.
    /// Its digits go through the `u64` parser the item ids use (the text
    /// is JSON's grammar: no sign but a leading `-`): an `i64` parser of
    /// its own was 300 bytes of wasm.
    pub fn as_i64(&self) -> Option<i64> {
        let Json::Number(text) = self else {
            return None;
        };
        match text.strip_prefix('-') {
            Some(digits) => 0i64.checked_sub_unsigned(digits.parse().ok()?),
            None => i64::try_from(text.parse::<u64>().ok()?).ok(),
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(text) => text.parse().ok(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, what: &'static str) -> JsonError {
        JsonError {
            offset: self.at,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), JsonError> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn word(&mut self, word: &'static str, value: Json) -> Result<Json, JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.at += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let name = self.string()?;
            self.expect(b':', "expected `:`")?;
            let value = self.value(depth + 1)?;
            let full = members.len() == MAX_MEMBERS;
            match members.iter_mut().find(|(n, _)| *n == name) {
                Some(member) => member.1 = value,
                None if full => {
                    return Err(self.error("an object with too many members"));
                }
                None => members.push((name, value)),
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let leading_zero = self.peek() == Some(b'0');
        match self.digits() {
            0 => return Err(self.error("expected a digit")),
            n if leading_zero && n > 1 => return Err(self.error("leading zero")),
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit"));
            }
        }
        // Only ASCII digits and signs were consumed.
        let text = String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned();
        Ok(Json::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("unexpected end"))?;
        let mut value = 0;
        for &d in digits {
            let nibble = char::from(d)
                .to_digit(16)
                .ok_or_else(|| self.error("bad \\u escape"))?;
            value = value * 16 + nibble;
        }
        self.at += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(escape) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.at += 1;
                    let simple = match escape {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let c = self.unicode_escape()?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("bad escape")),
                    };
                    out.push(simple);
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in a string"))
    }

    /// After `\u`: one code point, joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if !self.bytes[self.at..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return Err(self.error("lone surrogate"));
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("lone surrogate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Json, JsonError> {
        Json::parse(text.as_bytes())
    }

    #[test]
    fn reads_nested_values_and_escapes() {
        let value = parse(
            r#" {"a": [1, -2, 3.5e-1, true, false, null], "s": "q\"\\\/\n\u00e9\ud83d\ude00", "o": {}} "#,
        )
        .unwrap();
        let a = value.get("a").and_then(Json::as_array).unwrap();
        assert_eq!(a[0].as_i64(), Some(1));
        assert_eq!(a[1].as_i64(), Some(-2));
        assert_eq!(a[2], Json::Number("3.5e-1".into()));
        assert_eq!(a[2].as_i64(), None);
        assert_eq!(a[3].as_bool(), Some(true));
        assert_eq!(a[5], Json::Null);
        assert_eq!(value.get("s").and_then(Json::as_str), Some("q\"\\/\né😀"));
        assert_eq!(value.get("o"), Some(&Json::Object(Vec::new())));
        assert_eq!(value.get("missing"), None);
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "01",
            "-",
            "1.",
            "1e",
            "\"abc",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"tab\there\"",
            "tru",
            "nul",
            "{} {}",
            "[1] x",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(&deep).unwrap_err().what, "nested too deeply");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn refuses_an_object_of_too_many_members_at_once() {
        let object = |n: usize| {
            let members: Vec<String> = (0..n).map(|i| format!("\"m{i}\":{i}")).collect();
            format!("{{{}}}", members.join(","))
        };
        assert!(parse(&object(MAX_MEMBERS)).is_ok());
        // 50,000 members: refused at the first past the limit.
        let wide = object(50_000);
        let err = parse(&wide).unwrap_err();
        assert_eq!(err.what, "an object with too many members");
        assert!(err.offset < wide.len() / 40, "refused at {}", err.offset);
    }

    #[test]
    fn last_of_a_repeated_name_wins_and_big_numbers_do_not_fit() {
        let value = parse(r#"{"id": 1, "id": 2, "big": 99999999999999999999}"#).unwrap();
        assert_eq!(value.get("id").and_then(Json::as_i64), Some(2));
        assert_eq!(value.get("big").and_then(Json::as_i64), None);
    }

    // proptest is a native-only dev-dependency (see Cargo.toml).
    #[cfg(not(target_arch = "wasm32"))]
    mod agrees_with_serde_json {
        use proptest::prelude::*;

        use super::super::Json;

        fn to_serde(value: &Json) -> serde_json::Value {
            match value {
                Json::Null => serde_json::Value::Null,
                Json::Bool(b) => (*b).into(),
                Json::Number(n) => serde_json::from_str(n).unwrap(),
                Json::String(s) => s.as_str().into(),
                Json::Array(items) => items.iter().map(to_serde).collect(),
                Json::Object(members) => members
                    .iter()
                    .map(|(k, v)| (k.clone(), to_serde(v)))
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
            }
        }

        fn any_json() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(Into::into),
                any::<i64>().prop_map(Into::into),
                any::<String>().prop_map(Into::into),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Into::into),
                    prop::collection::btree_map(any::<String>(), inner, 0..6)
                        .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()) }),
                ]
            })
        }

        proptest! {
            #[test]
            fn on_what_serde_json_writes(value in any_json(), pretty in any::<bool>()) {
                let text = if pretty {
                    serde_json::to_string_pretty(&value).unwrap()
                } else {
                    serde_json::to_string(&value).unwrap()
                };
                let read = Json::parse(text.as_bytes()).unwrap();
                prop_assert_eq!(to_serde(&read), value);
            }

            #[test]
            fn on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let ours = Json::parse(&bytes).map(|v| to_serde(&v)).ok();
                let theirs = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
                prop_assert_eq!(ours, theirs);
            }
        }
    }
}
