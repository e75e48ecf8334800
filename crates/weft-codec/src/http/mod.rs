//! HTTP/1.1: see [`HttpCodec`].

mod request;

pub use request::*;
