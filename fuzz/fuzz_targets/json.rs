//! The JSON reader every server answer and every decrypted metadata goes
//! through. Nothing may panic, nesting is bounded, and what it reads is
//! walked through every accessor.
#![no_main]

use ferry_sync::protocol::json::{Json, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Json::parse(data) {
        Ok(value) => assert!(walk(&value) <= MAX_DEPTH + 1),
        Err(e) => {
            assert!(e.offset <= data.len(), "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
});

/// Visits every value through the accessors; returns the depth.
fn walk(value: &Json) -> usize {
    let _ = (
        value.as_str(),
        value.as_bool(),
        value.as_i64(),
        value.as_u64(),
    );
    match value {
        Json::Number(text) => {
            assert!(!text.is_empty());
            1
        }
        Json::Array(items) => {
            assert_eq!(value.as_array().map(<[Json]>::len), Some(items.len()));
            1 + items.iter().map(walk).max().unwrap_or(0)
        }
        Json::Object(members) => {
            let mut depth = 0;
            for (name, member) in members {
                // Lookup by name finds a member of that name.
                assert!(value.get(name).is_some());
                depth = depth.max(walk(member));
            }
            1 + depth
        }
        _ => 1,
    }
}
