//! The upload protocol, as plain data: requests to build, responses to
//! parse, outcomes to classify, and how a file is cut into parts. No I/O.
#![forbid(unsafe_code)]

pub mod api;
pub mod http;
pub mod json;
pub mod json_write;
pub mod outcome;
pub mod part_plan;

pub use api::Endpoint;
pub use http::{HttpRequest, HttpResponse, Method, TransportError};
pub use outcome::{
    BlockedReason, Failure, ItemErrorCode, OBJECT_SIZE_FETCH_FAILED, Peer, classify,
    classify_registration, classify_transport,
};
pub use part_plan::{Part, PartPlan};
