//! One list per enum: the Rust definition (`unit_enum_record!`'s `ALL`,
//! serde's wire names) is the source, and the TypeScript unions the package
//! declares (`src/web/ferry.rs`) must name exactly the same values, so a
//! variant added, renamed or removed on one side fails here.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_sync::protocol::BlockedReason;
use ferry_sync::queue::{FileType, PublicState};
use ferry_sync::scheduler::{StopReason, Trigger};
use serde::Serialize;

/// The string literals of `export type <name> = "a" | "b" …;` in the
/// package's TypeScript declarations.
fn ts_union(name: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/ferry.rs");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find(&format!("export type {name} ="))
        .unwrap_or_else(|| panic!("no TypeScript union {name}"));
    let body = &text[start..];
    let body = &body[..body.find(';').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn wire_names<T: Serialize>(all: &[T]) -> Vec<String> {
    all.iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn typescript_unions_name_exactly_the_rust_variants() {
    assert_eq!(ts_union("ItemState"), wire_names(PublicState::ALL));
    assert_eq!(ts_union("BlockedReason"), wire_names(BlockedReason::ALL));
    assert_eq!(ts_union("FileTypeName"), wire_names(FileType::ALL));
    assert_eq!(ts_union("StopReason"), wire_names(StopReason::ALL));
    assert_eq!(ts_union("Trigger"), wire_names(Trigger::ALL));
}

/// The item error codes the engine sets on restarts are declared.
#[test]
fn restart_codes_are_in_the_item_error_union() {
    let declared = ts_union("ItemErrorCode");
    for code in [
        ferry_sync::protocol::URL_EXPIRED,
        ferry_sync::protocol::UPLOAD_LOST,
        ferry_sync::protocol::UPLOAD_REJECTED,
    ] {
        assert!(
            declared.iter().any(|d| d == code),
            "{code} is not in ItemErrorCode"
        );
    }
}

#[test]
fn wire_names_and_parsed_names_agree() {
    for trigger in Trigger::ALL {
        let name = wire_names(&[*trigger]).remove(0);
        assert_eq!(trigger.name(), name);
        assert_eq!(Trigger::parse(&name), Some(*trigger));
    }
}
