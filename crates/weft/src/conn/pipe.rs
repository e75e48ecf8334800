//! The pipelines a reactor's connections run: the server's own type (accepted
//! connections, statically dispatched), a boxed pipeline of any other type (dialled
//! connections), or none (the relay side of a splice, which the pump serves).

use std::any::Any;

use bytes::BytesMut;

use super::{ConnCore, Drive};
use crate::config::Idle;
use crate::error::CloseReason;
use crate::id::TimerId;
use crate::services::ReactorCore;

/// A reactor connection's pipeline.
pub(crate) enum Pipe<P> {
    /// The server's pipeline type: every accepted connection.
    Main(P),
    /// A dialled connection's pipeline, of any type (`Drive` is dyn-compatible: its one
    /// static method, `type_names`, is bound by `Self: Sized`).
    Dialled(Box<dyn Drive>),
    /// The relay side of a splice: no pipeline, the pump moves its bytes.
    Relay,
}

macro_rules! each {
    ($self:ident . $method:ident ( $($arg:expr),* ), $relay:expr) => {
        match $self {
            Pipe::Main(p) => Drive::$method(p, $($arg),*),
            Pipe::Dialled(p) => Drive::$method(&mut **p, $($arg),*),
            Pipe::Relay => $relay,
        }
    };
}

impl<P: Drive> Drive for Pipe<P> {
    fn type_names() -> (&'static str, &'static str) {
        P::type_names()
    }

    #[inline]
    fn active(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        each!(self.active(conn, reactor), ())
    }

    #[inline]
    fn dispatch(
        &mut self,
        buf: &mut BytesMut,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
    ) -> usize {
        each!(self.dispatch(buf, conn, reactor), {
            buf.clear(); // never reached: the pump serves a relay side
            0
        })
    }

    #[inline]
    fn read_complete(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        each!(self.read_complete(conn, reactor), ())
    }

    fn read_closed(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        each!(
            self.read_closed(conn, reactor),
            conn.request_close(CloseReason::PeerClosed)
        )
    }

    #[inline]
    fn writability(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore) {
        each!(self.writability(conn, reactor), {
            let _ = conn.out.take_writability_change();
        })
    }

    fn idle(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, idle: Idle) {
        each!(self.idle(conn, reactor, idle), ())
    }

    fn timer(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, timer: TimerId) {
        each!(self.timer(conn, reactor, timer), ())
    }

    fn continuation(
        &mut self,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
        call: Box<dyn Any + Send>,
    ) {
        each!(self.continuation(conn, reactor, call), drop(call))
    }

    fn inactive(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, reason: CloseReason) {
        each!(self.inactive(conn, reactor, reason), ())
    }
}

/// The pipeline type of a runtime that only dials out ([`Client`](crate::Client)): no
/// connection is ever accepted, so none runs it.
pub(crate) struct NoPipeline;

impl Drive for NoPipeline {
    fn type_names() -> (&'static str, &'static str) {
        ("(none: a client runtime)", "")
    }
    fn active(&mut self, _: &mut ConnCore, _: &mut ReactorCore) {}
    fn dispatch(&mut self, buf: &mut BytesMut, _: &mut ConnCore, _: &mut ReactorCore) -> usize {
        buf.clear();
        0
    }
    fn read_complete(&mut self, _: &mut ConnCore, _: &mut ReactorCore) {}
    fn read_closed(&mut self, conn: &mut ConnCore, _: &mut ReactorCore) {
        conn.request_close(CloseReason::PeerClosed);
    }
    fn writability(&mut self, conn: &mut ConnCore, _: &mut ReactorCore) {
        let _ = conn.out.take_writability_change();
    }
    fn idle(&mut self, _: &mut ConnCore, _: &mut ReactorCore, _: Idle) {}
    fn timer(&mut self, _: &mut ConnCore, _: &mut ReactorCore, _: TimerId) {}
    fn continuation(&mut self, _: &mut ConnCore, _: &mut ReactorCore, _: Box<dyn Any + Send>) {}
    fn inactive(&mut self, _: &mut ConnCore, _: &mut ReactorCore, _: CloseReason) {}
}
