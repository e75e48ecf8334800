//! RESP2: see [`RespCodec`].

mod request;

pub use request::*;
