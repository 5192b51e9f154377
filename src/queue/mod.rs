//! The upload queue's records: items, their steps, and how they are stored.
#![forbid(unsafe_code)]

pub mod item;
pub mod migrate;
pub mod records;

pub use item::{FileType, Item, ItemError, ItemId, NewItem, PublicState, Step};
pub use records::Counters;
