//! One list per enum and per set of codes: the Rust definition
//! (`unit_enum_record!`'s `ALL`, serde's wire names, `code_list!`'s `ALL` and
//! `name()`) is the source. The TypeScript unions the package declares
//! (`src/web/ferry.rs`, `src/web/error.rs`), the README's error tables and
//! the codes the plain-JS entry points throw must name exactly the same
//! values, so a variant or code added, renamed or removed on one side fails
//! here.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_sync::crypto::CryptoError;
use ferry_sync::engine::ErrorCode;
use ferry_sync::engine::ports::StoreError;
use ferry_sync::protocol::{BlockedReason, ItemErrorCode};
use ferry_sync::queue::migrate::MigrateError;
use ferry_sync::queue::{FileType, PublicState};
use ferry_sync::scheduler::{FindingCode, StopReason, Trigger};
use serde::Serialize;

/// The files whose TypeScript sections declare the package's unions.
const DECLARATIONS: &[&str] = &["src/web/ferry.rs", "src/web/error.rs"];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The string literals of `export type <name> = "a" | "b" …;` in the
/// package's TypeScript declarations.
fn ts_union(name: &str) -> Vec<String> {
    let head = format!("export type {name} =");
    let text = DECLARATIONS
        .iter()
        .map(|path| read(path))
        .find(|text| text.contains(&head))
        .unwrap_or_else(|| panic!("no TypeScript union {name}"));
    let body = &text[text.find(&head).unwrap()..];
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

/// `names`, sorted, after checking none is there twice.
fn set(mut names: Vec<String>, what: &str) -> Vec<String> {
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "{what} names a code twice: {names:?}");
    names
}

/// The names of a `code_list!`'s codes, as a set.
macro_rules! listed {
    ($list:ident) => {
        set(
            $list::ALL.iter().map(|c| c.name().to_owned()).collect(),
            stringify!($list),
        )
    };
}

fn error_codes() -> Vec<String> {
    listed!(ErrorCode)
}

fn item_error_codes() -> Vec<String> {
    listed!(ItemErrorCode)
}

fn finding_codes() -> Vec<String> {
    listed!(FindingCode)
}

/// The codes in the first column of the tables under `heading` in the
/// README, up to the next heading: each a whole code in backticks, so a
/// row for codes that are not Ferry's own (`HTTP_<status>`) names none.
fn readme_codes(heading: &str) -> Vec<String> {
    let readme = read("README.md");
    let mut lines = readme.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "README.md has no {heading:?}");
    let mut in_code = false;
    let mut codes = Vec::new();
    for line in lines {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        if line.starts_with('#') {
            break;
        }
        let Some(first) = line.strip_prefix('|').and_then(|row| row.split('|').next()) else {
            continue;
        };
        codes.extend(
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|code| {
                    code.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .map(str::to_owned),
        );
    }
    codes
}

#[test]
fn typescript_unions_name_exactly_the_rust_variants() {
    assert_eq!(ts_union("ItemState"), wire_names(PublicState::ALL));
    assert_eq!(ts_union("BlockedReason"), wire_names(BlockedReason::ALL));
    assert_eq!(ts_union("FileTypeName"), wire_names(FileType::ALL));
    assert_eq!(ts_union("StopReason"), wire_names(StopReason::ALL));
    assert_eq!(ts_union("Trigger"), wire_names(Trigger::ALL));
}

#[test]
fn typescript_code_unions_name_exactly_the_rust_codes() {
    assert_eq!(
        set(ts_union("FerryErrorCode"), "FerryErrorCode"),
        error_codes()
    );
    assert_eq!(
        set(ts_union("ItemErrorCode"), "ItemErrorCode"),
        item_error_codes()
    );
    assert_eq!(set(ts_union("FindingCode"), "FindingCode"), finding_codes());
}

#[test]
fn the_readme_tables_explain_exactly_the_rust_codes() {
    assert_eq!(
        set(readme_codes("## Errors"), "README's Errors"),
        error_codes()
    );
    assert_eq!(
        set(readme_codes("### Item errors"), "README's Item errors"),
        item_error_codes()
    );
    assert_eq!(
        set(readme_codes("### Findings"), "README's Findings"),
        finding_codes()
    );
}

/// The plain-JS entry points throw `FerryError`s of their own; their codes
/// must be in the list too.
#[test]
fn the_js_entry_points_throw_only_listed_codes() {
    let listed = error_codes();
    let mut thrown = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/js")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for throw in text.split("new FerryError(").skip(1) {
            let code = throw.split(['\'', '"']).nth(1).unwrap();
            assert!(
                listed.iter().any(|c| c == code),
                "{} throws {code}, which is not in ErrorCode",
                path.display()
            );
            thrown += 1;
        }
    }
    assert!(thrown > 0, "the entry points throw FerryErrors");
}

/// Crypto errors and migration errors name their codes themselves (they
/// sit below the engine); what reaches JS is the listed code they map to,
/// and it must be the one they name.
#[test]
fn lower_layers_name_the_listed_codes() {
    let crypto = [
        CryptoError::BadKeyLength { got: 1 },
        CryptoError::BadHeader { got: 1 },
        CryptoError::BadNonceLength {
            expected: 24,
            got: 1,
        },
        CryptoError::DecryptFailed,
        CryptoError::Truncated,
        CryptoError::TrailingData,
        CryptoError::BadChunkLength { got: 1 },
        CryptoError::BadChunkSize { got: 1 },
        CryptoError::StreamFinished,
        CryptoError::BadCheckpoint("x"),
        CryptoError::CheckpointMismatch,
        CryptoError::BadBase64,
    ];
    for err in &crypto {
        assert_eq!(ErrorCode::from(err).name(), err.code(), "{err:?}");
    }
    let migrate = [
        MigrateError::NewerDatabase("x".into()),
        MigrateError::Failed("x".into()),
        MigrateError::Store(StoreError("x".into())),
    ];
    for err in &migrate {
        assert_eq!(ErrorCode::from(err).name(), err.code(), "{err:?}");
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
