//! Object keys in use right now: writes in flight in the embedded store,
//! and holds taken by a registration (`POST /files`, from the first HEAD of
//! its objects to its commit) or by the cleanup (while it retires a key).
//!
//! A write to a held key is refused, and a hold is refused while a write to
//! one of its keys is in flight. So a registration never records the size
//! of an object that a write still in flight then replaces, and the cleanup
//! never removes an object a write is bringing back. Writes check the
//! database (registered? retired?) only once they hold their write, so a
//! registration or retirement that commits while a write waits is seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, Clone, Default)]
pub struct KeyLocks(Arc<Mutex<HashMap<String, Users>>>);

#[derive(Debug, Default)]
struct Users {
    writers: u32,
    holders: u32,
}

impl KeyLocks {
    /// A write to `key` starts; `None` while `key` is held.
    pub fn write(&self, key: &str) -> Option<KeyGuard> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let users = map.entry(key.to_owned()).or_default();
        if users.holders > 0 {
            return None;
        }
        users.writers += 1;
        Some(KeyGuard {
            locks: self.clone(),
            keys: vec![key.to_owned()],
            writer: true,
        })
    }

    /// Holds `keys` against writes; `None`, holding nothing, while a write
    /// to one of them is in flight. Holds do not exclude each other.
    pub fn hold(&self, keys: &[&str]) -> Option<KeyGuard> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if keys
            .iter()
            .any(|k| map.get(*k).is_some_and(|u| u.writers > 0))
        {
            return None;
        }
        for key in keys {
            map.entry((*key).to_owned()).or_default().holders += 1;
        }
        Some(KeyGuard {
            locks: self.clone(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            writer: false,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A write or a hold, released when dropped.
#[derive(Debug)]
pub struct KeyGuard {
    locks: KeyLocks,
    keys: Vec<String>,
    writer: bool,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let mut map = self.locks.0.lock().unwrap_or_else(PoisonError::into_inner);
        for key in &self.keys {
            if let Some(users) = map.get_mut(key) {
                if self.writer {
                    users.writers = users.writers.saturating_sub(1);
                } else {
                    users.holders = users.holders.saturating_sub(1);
                }
                if users.writers == 0 && users.holders == 0 {
                    map.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_holds_exclude_each_other_and_leave_nothing_behind() {
        let locks = KeyLocks::default();
        let write = locks.write("1/a").unwrap();
        let other = locks.write("1/a").unwrap();
        assert!(
            locks.hold(&["1/b", "1/a"]).is_none(),
            "a write is in flight"
        );
        assert!(
            locks.write("1/b").is_some(),
            "the refused hold took nothing"
        );
        drop(write);
        assert!(
            locks.hold(&["1/a"]).is_none(),
            "one write is still in flight"
        );
        drop(other);
        let hold = locks.hold(&["1/a", "1/b"]).unwrap();
        let second = locks.hold(&["1/a"]).unwrap();
        assert!(locks.write("1/a").is_none());
        assert!(locks.write("1/b").is_none());
        assert!(locks.write("1/c").is_some());
        drop(hold);
        assert!(locks.write("1/b").is_some());
        assert!(locks.write("1/a").is_none(), "the second hold remains");
        drop(second);
        assert!(locks.write("1/a").is_some());
        assert_eq!(locks.len(), 0);
    }
}
