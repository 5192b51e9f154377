use core::fmt;

/// An engine operation that could not be carried out at all (as opposed to
/// an item failing, which is recorded on the item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    pub code: &'static str,
    pub message: String,
}

impl EngineError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn bad_item(index: usize, why: impl fmt::Display) -> Self {
        Self::new("BAD_ITEM", format!("item {index} of the batch: {why}"))
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<super::ports::StoreError> for EngineError {
    fn from(err: super::ports::StoreError) -> Self {
        Self::new("STORE_FAILED", err.0)
    }
}

impl From<super::ports::VaultError> for EngineError {
    fn from(err: super::ports::VaultError) -> Self {
        Self::new("VAULT_FAILED", err.0)
    }
}

impl From<crate::crypto::CryptoError> for EngineError {
    fn from(err: crate::crypto::CryptoError) -> Self {
        Self::new(err.code(), err.to_string())
    }
}
