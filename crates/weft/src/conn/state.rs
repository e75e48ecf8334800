//! A connection's lifecycle as types: the close progression ([`Phase`]) and, independent of
//! it, the reading axis ([`Reading`]). The diagram in the module docs of `conn` is this
//! table:
//!
//! | transition (the diagram's words) | from | to | where |
//! |---|---|---|---|
//! | close requested (`close()`, decode error, panic, timeout, limit, shutdown) | ACTIVE | CLOSING | [`Phase::request_close`] |
//! | output drained: FIN sent | CLOSING | LINGERING | [`Phase::fin_sent`] |
//! | output drained, the peer's EOF already seen | CLOSING | CLOSED | [`Phase::finish`] |
//! | the peer's EOF (or reset) while lingering | LINGERING | CLOSED | [`Phase::finish`] |
//! | reset, write error, `abort()`, close deadline | any | CLOSED | [`Phase::finish`] |
//!
//! READ-CLOSED is not a phase: it is ACTIVE with [`Reading::peer_eof`] set, so a half-closed
//! connection keeps every power of an active one except reading.

use crate::error::CloseReason;

/// Where a connection is in its close. Moves only forward; the first reason given sticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// ACTIVE (READ-CLOSED too): reading, dispatching, writing.
    Active,
    /// CLOSING: no more reading or dispatching; owed output is being flushed.
    Closing(CloseReason),
    /// LINGERING: our FIN is out; input is read and discarded until the peer's EOF, so that
    /// unread input cannot turn our close into a reset that destroys owed replies.
    Lingering(CloseReason),
    /// CLOSED: to be removed by the reactor, with the final reason.
    Closed(CloseReason),
}

impl Phase {
    /// ACTIVE → CLOSING ("close requested"). Nothing once a close has begun.
    pub(crate) fn request_close(&mut self, reason: CloseReason) {
        if *self == Phase::Active {
            *self = Phase::Closing(reason);
        }
    }

    /// CLOSING → LINGERING ("output drained: FIN sent").
    pub(crate) fn fin_sent(&mut self) {
        if let Phase::Closing(reason) = *self {
            *self = Phase::Lingering(reason);
        }
    }

    /// Any → CLOSED with `reason`, unless already closed (the first final reason sticks).
    pub(crate) fn finish(&mut self, reason: CloseReason) {
        if !self.is_closed() {
            *self = Phase::Closed(reason);
        }
    }

    /// CLOSING or LINGERING → CLOSED with the reason the close began with (the peer's EOF,
    /// or a reset after our FIN, ends a close that was already under way).
    pub(crate) fn finish_close(&mut self) {
        if let Some(reason) = self.closing_reason() {
            *self = Phase::Closed(reason);
        }
    }

    #[inline]
    pub(crate) fn is_active(self) -> bool {
        matches!(self, Phase::Active)
    }

    #[inline]
    pub(crate) fn is_lingering(self) -> bool {
        matches!(self, Phase::Lingering(_))
    }

    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        matches!(self, Phase::Closed(_))
    }

    /// Why the close under way began (CLOSING or LINGERING).
    #[inline]
    pub(crate) fn closing_reason(self) -> Option<CloseReason> {
        match self {
            Phase::Closing(reason) | Phase::Lingering(reason) => Some(reason),
            Phase::Active | Phase::Closed(_) => None,
        }
    }

    /// The final reason, once CLOSED.
    #[inline]
    pub(crate) fn closed_reason(self) -> Option<CloseReason> {
        match self {
            Phase::Closed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// The reading axis: whether weft may read from the socket and dispatch to the pipeline
/// (the close phase aside).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reading {
    /// Paused by the handler (`Context::pause_read`).
    pub(crate) user_paused: bool,
    /// Paused because queued output is above the high watermark.
    pub(crate) backpressure_paused: bool,
    /// Paused because this connection's writes or broadcasts found another reactor's inbox
    /// congested (see "Congestion" in `inbox.rs`), until a `Resume`.
    pub(crate) congestion_paused: bool,
    /// Paused by a coupling: this connection is spliced and its peer cannot take more now
    /// (or its splice is being set up). See `link.rs`.
    pub(crate) coupled_paused: bool,
    /// The peer closed its sending side (a read returned 0): READ-CLOSED.
    pub(crate) peer_eof: bool,
    /// `poll` reported a hang-up or error: the end of the stream (or a reset) waits behind
    /// the data, so a short read does not mean "drained" and reading goes on to the end.
    pub(crate) hangup_seen: bool,
    /// `on_read_closed` was delivered.
    pub(crate) read_closed_delivered: bool,
}

impl Reading {
    /// Neither pause holds.
    #[inline]
    pub(crate) fn unpaused(&self) -> bool {
        // `|`, not `||`: four loads and no branches (this runs several times per event).
        !(self.user_paused
            | self.backpressure_paused
            | self.congestion_paused
            | self.coupled_paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_moves_forward_and_the_first_reason_sticks() {
        let mut phase = Phase::Active;
        phase.request_close(CloseReason::Closed);
        phase.request_close(CloseReason::DecodeError);
        assert_eq!(phase, Phase::Closing(CloseReason::Closed));
        phase.fin_sent();
        assert_eq!(phase, Phase::Lingering(CloseReason::Closed));
        phase.request_close(CloseReason::Shutdown);
        phase.finish_close();
        assert_eq!(phase.closed_reason(), Some(CloseReason::Closed));
        phase.finish(CloseReason::Reset);
        assert_eq!(phase.closed_reason(), Some(CloseReason::Closed));
    }

    #[test]
    fn an_abort_closes_from_any_phase() {
        let mut phase = Phase::Active;
        phase.finish(CloseReason::Aborted);
        assert_eq!(phase.closed_reason(), Some(CloseReason::Aborted));
        let mut phase = Phase::Active;
        phase.fin_sent();
        assert!(phase.is_active(), "no FIN before a close was requested");
        phase.finish_close();
        assert!(phase.is_active(), "nothing to finish before a close");
    }
}
