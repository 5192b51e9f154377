//! Keys at rest: everything the engine seals goes
//! through AES-256-GCM under a device key that WebCrypto created
//! non-extractable. IndexedDB stores the `CryptoKey` by structured clone,
//! which keeps it non-extractable, so a copy of the database holds sealed
//! blobs and a key no script can read out.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use zeroize::Zeroizing;

use super::convert::describe;
use super::store::IdbStore;
use crate::engine::ports::{Vault, VaultError};

const DEVICE_KEY: &str = "device-key";
const IV_BYTES: usize = 12;
/// First byte of every sealed value, so the format can change later.
const FORMAT: u8 = 1;

#[derive(Debug)]
pub struct WebCryptoVault {
    subtle: SubtleCrypto,
    key: CryptoKey,
}

fn vault_error(context: &str) -> impl Fn(JsValue) -> VaultError + '_ {
    move |err| VaultError(format!("WebCrypto {context}: {}", describe(&err)))
}

fn set(object: &Object, name: &str, value: &JsValue) {
    // Setting a property on a plain object cannot fail.
    let _ = Reflect::set(object, &JsValue::from_str(name), value);
}

/// `crypto.subtle` in a window and in every kind of worker alike.
fn subtle() -> Result<SubtleCrypto, VaultError> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(vault_error("is unavailable"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .map_err(vault_error("is unavailable"))?;
    if subtle.is_undefined() {
        return Err(VaultError(
            "crypto.subtle is unavailable: Ferry needs a secure context (https or localhost)"
                .into(),
        ));
    }
    Ok(subtle.unchecked_into())
}

impl WebCryptoVault {
    /// The device key of this database, created on first use.
    pub async fn open(store: &IdbStore) -> Result<Self, VaultError> {
        let subtle = subtle()?;
        let stored = store
            .device_value(DEVICE_KEY)
            .await
            .map_err(|e| VaultError(e.0))?;
        let key = match stored {
            Some(key) => key,
            None => {
                let algorithm = Object::new();
                set(&algorithm, "name", &"AES-GCM".into());
                set(&algorithm, "length", &256.into());
                let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
                let promise = subtle
                    .generate_key_with_object(&algorithm, false, &usages)
                    .map_err(vault_error("generateKey"))?;
                let fresh = JsFuture::from(promise)
                    .await
                    .map_err(vault_error("generateKey"))?;
                store
                    .add_device_value(DEVICE_KEY, &fresh)
                    .await
                    .map_err(|e| VaultError(e.0))?
            }
        };
        let key = key
            .dyn_into::<CryptoKey>()
            .map_err(|_| VaultError("the stored device key is not a CryptoKey".into()))?;
        Ok(Self { subtle, key })
    }

    fn params(iv: &[u8]) -> Object {
        let params = Object::new();
        set(&params, "name", &"AES-GCM".into());
        set(&params, "iv", &Uint8Array::from(iv).into());
        params
    }
}

impl Vault for WebCryptoVault {
    async fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let iv = crate::crypto::random_bytes::<IV_BYTES>();
        let promise = self
            .subtle
            .encrypt_with_object_and_u8_array(&Self::params(&iv), &self.key, plaintext)
            .map_err(vault_error("encrypt"))?;
        let sealed = JsFuture::from(promise)
            .await
            .map_err(vault_error("encrypt"))?;
        let mut out = Vec::with_capacity(1 + IV_BYTES + plaintext.len() + 16);
        out.push(FORMAT);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&Uint8Array::new(&sealed).to_vec());
        Ok(out)
    }

    async fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if sealed.len() < 1 + IV_BYTES + 16 || sealed[0] != FORMAT {
            return Err(VaultError("not a value this vault sealed".into()));
        }
        let (iv, body) = sealed[1..].split_at(IV_BYTES);
        let promise = self
            .subtle
            .decrypt_with_object_and_u8_array(&Self::params(iv), &self.key, body)
            .map_err(vault_error("decrypt"))?;
        let plain = JsFuture::from(promise).await.map_err(|_| {
            VaultError("a sealed value failed authentication under the device key".into())
        })?;
        Ok(Zeroizing::new(Uint8Array::new(&plain).to_vec()))
    }
}
