//! [`Drive`]: the events a connection delivers to its pipeline, defined here where they are
//! delivered and implemented by `pipeline` for every `Pipeline` whose parts fit together.

use std::any::Any;

use bytes::BytesMut;

use super::ConnCore;
use crate::config::Idle;
use crate::error::CloseReason;
use crate::id::TimerId;
use crate::services::ReactorCore;

/// The events a connection delivers to its pipeline. The reactor is generic over it, so
/// every call is static.
pub(crate) trait Drive: 'static {
    /// The Rust type names of the handler and of the stages, for stall reports.
    fn type_names() -> (&'static str, &'static str)
    where
        Self: Sized;

    fn active(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore);
    /// Decodes and delivers frames from `buf` for as long as the connection may dispatch.
    /// Returns how many messages were decoded.
    fn dispatch(
        &mut self,
        buf: &mut BytesMut,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
    ) -> usize;
    fn read_complete(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore);
    fn read_closed(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore);
    /// Delivers pending writability notices (and applies the automatic read pause).
    fn writability(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore);
    fn idle(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, idle: Idle);
    fn timer(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, timer: TimerId);
    fn continuation(
        &mut self,
        conn: &mut ConnCore,
        reactor: &mut ReactorCore,
        call: Box<dyn Any + Send>,
    );
    fn inactive(&mut self, conn: &mut ConnCore, reactor: &mut ReactorCore, reason: CloseReason);
}
