//! The stored-record codec, as a database read back (a damaged one, or one
//! written by another Ferry) hands it over.
//!
//! `table: u8, key_len: u8, key, value`: the value is read as the kind its
//! table and key name (as migrations and the engine read it); and, whatever
//! the key, as every record type. Whatever decodes must encode and decode
//! again to the same bytes.
#![no_main]

use std::fmt::Debug;

use ferry_fuzz::Input;
use ferry_sync::codec::Record;
use ferry_sync::protocol::BlockedReason;
use ferry_sync::protocol::api::{MultipartUrls, SealedMetadata, UploadUrl};
use ferry_sync::queue::item::{ItemError, NewItem, Step};
use ferry_sync::queue::records::{FreshRange, RecordKind, decode, encode, id_from_runnable_key};
use ferry_sync::queue::{Counters, Item};
use ferry_sync::scheduler::{Deferred, Lease, LiveRun, RunReport, Throughput};
use ferry_sync::store::Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let table = Table::ALL[usize::from(input.u8() % 4)];
    let key_len = usize::from(input.u8() % 32);
    let key = input.take(key_len);
    let value = input.rest();

    let _ = id_from_runnable_key(key);
    if let Some(kind) = RecordKind::of(table, key) {
        if kind.is_record() {
            match kind {
                RecordKind::Item => check::<Item>(value),
                RecordKind::Counters => check::<Counters>(value),
                RecordKind::NextItemId | RecordKind::NextRun => check::<u64>(value),
                RecordKind::Blocked => check::<BlockedReason>(value),
                RecordKind::DiffCursor => check::<i64>(value),
                RecordKind::Throughput => check::<Throughput>(value),
                RecordKind::Lease => check::<Lease>(value),
                RecordKind::Run => check::<RunReport>(value),
                RecordKind::LiveRun => check::<LiveRun>(value),
                RecordKind::Deferred => check::<Deferred>(value),
                RecordKind::FreshRange => check::<FreshRange>(value),
                RecordKind::RunnableEntry
                | RecordKind::HashEntry
                | RecordKind::CollectionKey
                | RecordKind::Format => unreachable!("not a codec record: {kind:?}"),
            }
        }
    }

    check::<Item>(value);
    check::<NewItem>(value);
    check::<Step>(value);
    check::<ItemError>(value);
    check::<Counters>(value);
    check::<BlockedReason>(value);
    check::<Throughput>(value);
    check::<Lease>(value);
    check::<RunReport>(value);
    check::<LiveRun>(value);
    check::<Deferred>(value);
    check::<UploadUrl>(value);
    check::<MultipartUrls>(value);
    check::<SealedMetadata>(value);
    check::<Vec<String>>(value);
    check::<Option<[u8; 24]>>(value);
    check::<f64>(value);
});

/// A record that decodes re-encodes to bytes that decode to the same
/// record (compared as bytes: floats may be NaN).
fn check<T: Record + Debug>(value: &[u8]) {
    if let Ok(record) = decode::<T>(value) {
        let bytes = encode(&record);
        let again = decode::<T>(&bytes).expect("a record Ferry wrote reads back");
        assert_eq!(encode(&again), bytes, "{record:?}");
    }
}
