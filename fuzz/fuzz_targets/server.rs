//! The reference server's request parsing: the first byte picks a JSON
//! body (`POST /files`, `POST /collections`, `POST /files/trash`, the
//! admin bodies) or the query string, the second whether the server runs
//! `--strict`; the rest is the body or query. Each is bound and checked as
//! its handler does before the database; every refusal is an HTTP error
//! status, never a panic.
#![no_main]

use ferry_server::fuzz_api::{self, Body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let strict = flags & 1 == 1;
    let result = match Body::ALL.get(usize::from(*route % 7)) {
        Some(&body) => fuzz_api::body(body, rest, i64::from(*flags >> 1), strict),
        None if route % 7 == 5 => fuzz_api::query(&String::from_utf8_lossy(rest), strict),
        None => {
            let _ = fuzz_api::object_key(&String::from_utf8_lossy(rest));
            Ok(())
        }
    };
    if let Err(status) = result {
        assert!((400..600).contains(&status), "status {status}");
    }
});
