//! Bringing a database written by an earlier Ferry to this version's
//! record format, and refusing one written by a later Ferry.
//!
//! The database says which format its records are in (`FORMAT_KEY`, one
//! byte in `Table::Meta`). Opening reads it first and then:
//! - the current format: nothing to do;
//! - a later format: refused with `NEWER_DATABASE`, nothing written (an
//!   older Ferry must not rewrite records it cannot read);
//! - no format record: a new database, or one written before the format
//!   record existed, in [`UNMARKED_FORMAT`]; both are taken to hold that
//!   format (a new one has no records to rewrite) and marked;
//! - an earlier format: each migration from it up to the current format
//!   runs in turn, and the format record moves on after each one.
//!
//! A migration rewrites records page by page, each page one short batch.
//! Every record carries its own format byte, so a migration killed halfway
//! resumes where it stopped: records already in the next format are
//! skipped, and the format record moves only once all are rewritten.
//! Records that do not read in their format are left as they are (never
//! dropped); the engine reports them as it always did.

use super::records::{FORMAT_KEY, RECORD_FORMAT, RecordKind};
use crate::store::{Batch, Store, StoreError, Table};

/// The format of a database that has records but no format record: every
/// Ferry before the format record was written stored format 1.
pub const UNMARKED_FORMAT: u8 = 1;

/// One format step: reads a record's body (what follows its format byte)
/// in format `from` and writes it in format `from + 1`; `None` when the
/// body does not read as its kind (the record is then left as it is).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub from: u8,
    pub record: fn(kind: RecordKind, body: &[u8]) -> Option<Vec<u8>>,
}

/// Every migration, oldest first: one from each format since
/// [`UNMARKED_FORMAT`] to the next, up to `RECORD_FORMAT`. A test fails
/// when the format moves without one.
///
/// An array, not a slice, and taken by its length (`open_with`'s `N`):
/// while it is empty, the code that rewrites records is not in the build
/// (about 200 bytes of wasm, gzip), since no database can need it.
pub const MIGRATIONS: [Migration; 0] = [];

/// The tables whose values include codec records; the others hold only
/// index entries (`RecordKind::is_record` is false for all of them).
const RECORD_TABLES: [Table; 2] = [Table::Items, Table::Meta];

/// Records read and rewritten per batch.
const PAGE: usize = 256;

/// Above every key the engine writes (ids are 8 bytes, meta keys start
/// with ASCII).
const END_KEY: [u8; 16] = [0xff; 16];

/// What opening a database must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The database holds the current format.
    Ready,
    /// Only the format record is missing (a new database, or one written
    /// in the current format before the record existed): write it.
    Mark,
    /// The records are in the earlier format `from`: migrate them.
    Migrate { from: u8 },
}

/// Why a database could not be brought to the current format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateError {
    /// A later Ferry wrote this database; it is refused and left unchanged.
    NewerDatabase(String),
    /// The database's format has no migration to the current one, or its
    /// format record is unreadable; it is left unchanged.
    Failed(String),
    Store(StoreError),
}

impl MigrateError {
    /// The stable code the host sees (`FerryError.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NewerDatabase(_) => "NEWER_DATABASE",
            Self::Failed(_) => "MIGRATION_FAILED",
            Self::Store(_) => "STORE_FAILED",
        }
    }
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NewerDatabase(why) | Self::Failed(why) => f.write_str(why),
            Self::Store(err) => f.write_str(&err.0),
        }
    }
}

impl std::error::Error for MigrateError {}

impl From<StoreError> for MigrateError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// What opening did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub plan: Plan,
    /// Records rewritten into a later format.
    pub migrated: u64,
    /// Records left as they were because they did not read in their format.
    pub unreadable: u64,
}

/// What [`open`] will do with this database (no write).
pub async fn plan<S: Store>(store: &S) -> Result<Plan, MigrateError> {
    plan_with(store, RECORD_FORMAT).await
}

/// Brings the database to the current format, or refuses it (see the
/// module's description). Two openers at once are harmless: both write the
/// same bytes, a record already migrated is skipped, and the format record
/// only ever moves forward (compare-and-swap). The web binding still runs
/// migrations under the database's lock, so no run writes while records
/// are being rewritten.
pub async fn open<S: Store>(store: &S) -> Result<Opened, MigrateError> {
    open_with(store, &MIGRATIONS, RECORD_FORMAT).await
}

/// [`open`] with the given migrations and current format (tests prove the
/// mechanism with formats that never shipped).
pub async fn open_with<S: Store, const N: usize>(
    store: &S,
    migrations: &[Migration; N],
    current: u8,
) -> Result<Opened, MigrateError> {
    let mut opened: Option<Opened> = None;
    // Each pass does one step and plans again: another opener moving the
    // format record meanwhile is then simply seen. Bounded, in case it
    // never settles.
    for _ in 0..=usize::from(current) + 2 {
        let (stored, plan) = read_plan(store, current).await?;
        let opened = match &mut opened {
            Some(opened) => opened,
            None => {
                // Every step must exist before the first record is touched.
                if let Plan::Migrate { from } = plan
                    && let Some(missing) =
                        (from..current).find(|f| !migrations.iter().any(|m| m.from == *f))
                {
                    // Formats are printed as u64s: see `records::hash_key`.
                    return Err(MigrateError::Failed(format!(
                        "no migration from record format {} to {}; \
                         nothing was changed",
                        u64::from(missing),
                        u64::from(current)
                    )));
                }
                opened.insert(Opened {
                    plan,
                    migrated: 0,
                    unreadable: 0,
                })
            }
        };
        let next = match plan {
            Plan::Ready => return Ok(*opened),
            Plan::Mark => current,
            Plan::Migrate { from } => {
                let step = migrations.iter().find(|m| m.from == from).ok_or_else(|| {
                    MigrateError::Failed(format!("no migration from {}", u64::from(from)))
                })?;
                let (migrated, unreadable) = run(store, step).await?;
                opened.migrated += migrated;
                opened.unreadable += unreadable;
                from + 1
            }
        };
        // Moves the format record from what was read to `next`, unless
        // another opener moved it first.
        store
            .swap(Table::Meta, FORMAT_KEY, stored.as_deref(), Some(vec![next]))
            .await?;
    }
    Err(MigrateError::Failed(
        "the format record kept changing".into(),
    ))
}

/// The format the database's format record states, if it has one.
pub async fn stored_format<S: Store>(store: &S) -> Result<Option<u8>, MigrateError> {
    let stored = store.get(Table::Meta, FORMAT_KEY).await?;
    format_of(stored.as_deref())
}

fn format_of(stored: Option<&[u8]>) -> Result<Option<u8>, MigrateError> {
    match stored {
        None => Ok(None),
        Some(value) => {
            value.first().copied().map(Some).ok_or_else(|| {
                MigrateError::Failed("empty format record; nothing was changed".into())
            })
        }
    }
}

/// [`plan`] against the given current format.
pub async fn plan_with<S: Store>(store: &S, current: u8) -> Result<Plan, MigrateError> {
    Ok(read_plan(store, current).await?.1)
}

/// The stored format record, and the plan it leads to.
async fn read_plan<S: Store>(
    store: &S,
    current: u8,
) -> Result<(Option<Vec<u8>>, Plan), MigrateError> {
    let stored = store.get(Table::Meta, FORMAT_KEY).await?;
    // No format record: a new database, or one from before the record
    // existed. Both are taken as UNMARKED_FORMAT (a new one has no records
    // for the migrations to rewrite).
    let found = format_of(stored.as_deref())?.unwrap_or(UNMARKED_FORMAT);
    if found > current {
        // As u64s: see `records::hash_key`.
        return Err(MigrateError::NewerDatabase(format!(
            "a later Ferry wrote this database (record format {}, this one reads \
             up to {}); update the app (nothing was changed)",
            u64::from(found),
            u64::from(current)
        )));
    }
    let plan = if found < current {
        Plan::Migrate { from: found }
    } else if stored.is_some() {
        Plan::Ready
    } else {
        Plan::Mark
    };
    Ok((stored, plan))
}

/// Rewrites every record of format `step.from` into the next; returns
/// (rewritten, left unreadable).
async fn run<S: Store>(store: &S, step: &Migration) -> Result<(u64, u64), MigrateError> {
    let next = step.from + 1;
    let (mut migrated, mut unreadable) = (0, 0);
    for table in RECORD_TABLES {
        let mut start = Vec::new();
        loop {
            let page = store.scan(table, &start, &END_KEY, PAGE).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            start.clone_from(last);
            start.push(0);
            let mut batch = Batch::default();
            for (key, value) in &page {
                let Some(kind) = RecordKind::of(table, key).filter(|k| k.is_record()) else {
                    continue;
                };
                match value.split_first() {
                    Some((&format, body)) if format == step.from => {
                        match (step.record)(kind, body) {
                            Some(new_body) => {
                                let mut record = Vec::with_capacity(1 + new_body.len());
                                record.push(next);
                                record.extend_from_slice(&new_body);
                                batch.put(table, key.clone(), record);
                                migrated += 1;
                            }
                            None => unreadable += 1,
                        }
                    }
                    // Rewritten by an earlier attempt that was cut short.
                    Some((&format, _)) if format == next => {}
                    _ => unreadable += 1,
                }
            }
            let full = page.len() == PAGE;
            store.commit(batch).await?;
            if !full {
                break;
            }
        }
    }
    Ok((migrated, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format bump without its migration would strand every database
    /// in the field: there must be one from each earlier format.
    #[test]
    fn every_earlier_format_has_a_migration() {
        let froms: Vec<u8> = MIGRATIONS.iter().map(|m| m.from).collect();
        let needed: Vec<u8> = (UNMARKED_FORMAT..RECORD_FORMAT).collect();
        assert_eq!(froms, needed);
    }

    #[test]
    fn only_the_record_tables_hold_records() {
        for table in Table::ALL {
            let holds = [&b"counters"[..], &[0; 8], b"run\0\0\0\0\0\0\0\0\x01"]
                .iter()
                .any(|key| RecordKind::of(table, key).is_some_and(RecordKind::is_record));
            assert_eq!(holds, RECORD_TABLES.contains(&table), "{table:?}");
        }
    }
}
