//! JSON text written by hand: the results Ferry hands to JavaScript (which
//! `JSON.parse`s them) and the API's request bodies.
//!
//! Byte for byte what serde_json's compact writer makes of the same values:
//! the tests hold it to that, and the types keep their `Serialize` derives
//! as the reference (and for `tests/names.rs`). serde_json's writer and the
//! serializers derived for each type cost 2.1 KB gzip of the wasm more than
//! this, where every member goes through one non-generic function.

use std::fmt::Write;

/// A value Ferry writes as JSON.
pub trait ToJson {
    fn write_json(&self, out: &mut String);
}

/// `value` as JSON text.
pub fn to_json(value: &dyn ToJson) -> String {
    let mut out = String::new();
    value.write_json(&mut out);
    out
}

/// An object being written: `{`, then each member in order, then `}`.
#[derive(Debug)]
pub struct Object<'a> {
    out: &'a mut String,
    /// No member written yet (no comma before the next).
    empty: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, empty: true }
    }

    /// The member `name` (a plain ASCII identifier, written as it is).
    pub fn member(mut self, name: &str, value: &dyn ToJson) -> Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        value.write_json(self.out);
        self
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

/// Escaped as serde_json escapes: `"` and `\`, the five control characters
/// with a short escape, the other controls as `\u00XX` (lowercase hex);
/// everything else as it is.
impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        out.push('"');
        for c in self.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                '\0'..='\u{1f}' => {
                    let code = u32::from(c);
                    out.push_str(if code < 0x10 { "\\u000" } else { "\\u001" });
                    out.push(char::from_digit(code % 16, 16).unwrap_or('0'));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        self.as_str().write_json(out);
    }
}

impl ToJson for u64 {
    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl ToJson for i64 {
    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut String) {
        (**self).write_json(out);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (n, value) in self.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            value.write_json(out);
        }
        out.push(']');
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_arrays_and_null() {
        let mut out = String::new();
        Object::new(&mut out)
            .member("a", &1u64)
            .member("b", &None::<u64>)
            .member("c", &vec![-2i64, 3])
            .member("d", &Vec::<u64>::new())
            .end();
        assert_eq!(out, r#"{"a":1,"b":null,"c":[-2,3],"d":[]}"#);
        let mut empty = String::new();
        Object::new(&mut empty).end();
        assert_eq!(empty, "{}");
    }

    #[test]
    fn numbers_as_serde_json_writes_them() {
        for n in [0, 1, u64::MAX] {
            assert_eq!(to_json(&n), serde_json::to_string(&n).unwrap());
        }
        for n in [0, -1, i64::MIN, i64::MAX] {
            assert_eq!(to_json(&n), serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn every_control_character_and_quote() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let text = format!("{all}\"\\ é😀\u{7f}\u{2028}");
        assert_eq!(to_json(&text), serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn wire_names_as_serde_json_writes_them() {
        use crate::protocol::BlockedReason;
        use crate::queue::{FileType, ItemError, PublicState};
        use crate::scheduler::{StopReason, Trigger};
        fn same<T: ToJson + serde::Serialize + ?Sized>(value: &T) {
            assert_eq!(to_json(&value), serde_json::to_string(value).unwrap());
        }
        same(FileType::ALL);
        same(PublicState::ALL);
        same(StopReason::ALL);
        same(BlockedReason::ALL);
        same(Trigger::ALL);
        same(&ItemError {
            code: "HTTP_418".into(),
            message: "I'm a \"teapot\"".into(),
        });
    }

    // proptest is a native-only dev-dependency (see Cargo.toml).
    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn strings_as_serde_json_writes_them(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(to_json(&text), serde_json::to_string(&text).unwrap());
        }
    }
}
