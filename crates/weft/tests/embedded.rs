//! Pipelines driven without sockets through the embedded pipeline: framing at every split
//! point, errors, panics, watermarks, timers on a virtual clock, offload.

use std::time::Duration;

use weft::codec::LineCodec;
use weft::testing::EmbeddedPipeline;
use weft::{
    Bytes, CloseReason, Context, Error, Handler, Idle, IdleTimeouts, Pipeline, Server, Stage,
    TimerId, WriteWatermarks,
};

struct Echo;

impl Handler for Echo {
    type In = Bytes;
    type Out = Bytes;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
        if &line[..] == b"panic\n" {
            panic!("asked to");
        }
        ctx.write(line);
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, error: &Error) {
        if error.is_frame_too_long() {
            ctx.write_bytes(Bytes::from_static(b"ERR line too long\n"));
        }
    }

    fn on_idle(&mut self, ctx: &mut Context<'_, Self>, _idle: Idle) {
        ctx.write(Bytes::from_static(b"idle\n"));
    }
}

fn echo(max: usize) -> EmbeddedPipeline<LineCodec, weft::Identity<Bytes>, Echo> {
    EmbeddedPipeline::new(Pipeline::new(LineCodec::new(max), Echo))
}

#[test]
fn every_split_point_gives_the_same_replies() {
    let input = b"one\n\ntwo \r\0\xff\nthree\npartial";
    for a in 0..=input.len() {
        for b in a..=input.len() {
            let mut pipe = echo(64);
            pipe.push(&input[..a]);
            pipe.push(&input[a..b]);
            pipe.push(&input[b..]);
            assert_eq!(
                pipe.take_written(),
                &b"one\n\ntwo \r\0\xff\nthree\n"[..],
                "split at {a}, {b}"
            );
        }
    }
}

#[test]
fn half_close_flushes_then_closes_and_drops_the_partial_line() {
    let mut pipe = echo(64);
    pipe.push(b"a\nb\npart");
    pipe.push_eof();
    assert_eq!(pipe.take_written(), &b"a\nb\n"[..]);
    assert_eq!(pipe.close_reason(), Some(CloseReason::PeerClosed));
}

#[test]
fn an_oversize_line_is_answered_then_the_connection_lingers_and_closes() {
    let mut pipe = echo(4);
    pipe.push(b"ok\ntoolong");
    assert_eq!(pipe.take_written(), &b"ok\nERR line too long\n"[..]);
    assert!(pipe.fin_sent());
    assert!(!pipe.is_closed(), "lingering until the peer's EOF");
    pipe.push(b"more input is read and dropped");
    assert_eq!(pipe.take_written(), &b""[..]);
    pipe.push_eof();
    assert_eq!(pipe.close_reason(), Some(CloseReason::DecodeError));
}

#[test]
fn a_peer_that_never_closes_is_dropped_after_the_linger_time() {
    let mut pipe = echo(4);
    pipe.push(b"toolong");
    assert!(pipe.fin_sent());
    pipe.advance(Duration::from_secs(3));
    assert_eq!(pipe.close_reason(), Some(CloseReason::DecodeError));
}

#[test]
fn a_panic_closes_the_connection_after_flushing_what_was_owed() {
    let mut pipe = echo(64);
    pipe.push(b"before\npanic\nafter\n");
    assert_eq!(pipe.take_written(), &b"before\n"[..]);
    pipe.push_eof();
    assert_eq!(pipe.close_reason(), Some(CloseReason::HandlerPanic));
}

#[test]
fn an_unread_peer_flips_writability_pauses_reading_and_loses_nothing() {
    let config = Server::builder().write_watermarks(WriteWatermarks::new(40, 100).unwrap());
    let mut pipe = EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Echo));
    pipe.set_peer_reading(false);
    let line = b"0123456789012345678\n"; // 20 bytes
    let mut sent = Vec::new();
    for _ in 0..50 {
        pipe.push(line);
        sent.extend_from_slice(line);
        assert!(
            pipe.pending_bytes() <= 100 + line.len(),
            "{}",
            pipe.pending_bytes()
        );
    }
    assert!(!pipe.is_writable());
    assert!(pipe.take_written().is_empty());
    pipe.set_peer_reading(true);
    assert_eq!(pipe.take_written(), &sent[..]);
    assert!(pipe.is_writable());
}

#[test]
fn idle_events_follow_the_virtual_clock() {
    let config = Server::builder().idle_timeouts(IdleTimeouts {
        read: Some(Duration::from_secs(10)),
        ..IdleTimeouts::default()
    });
    let mut pipe = EmbeddedPipeline::with_config(config, Pipeline::new(LineCodec::new(64), Echo));
    pipe.advance(Duration::from_secs(9));
    assert!(pipe.take_written().is_empty());
    pipe.push(b"x\n"); // activity moves the idle deadline
    pipe.advance(Duration::from_secs(9));
    assert_eq!(pipe.take_written(), &b"x\n"[..]);
    pipe.advance(Duration::from_secs(2));
    assert_eq!(pipe.take_written(), &b"idle\n"[..]);
    pipe.advance(Duration::from_secs(25)); // and again after each further period
    assert_eq!(pipe.take_written(), &b"idle\nidle\n"[..]);
}

/// Numbers each tick of a repeating timer; "stop" cancels it.
#[derive(Default)]
struct Ticker {
    timer: Option<TimerId>,
    ticks: u32,
}

impl Handler for Ticker {
    type In = Bytes;
    type Out = Bytes;

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.timer = Some(ctx.schedule_repeating(Duration::from_secs(1)));
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _line: Bytes) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_timer(t);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId) {
        self.ticks += 1;
        ctx.write(Bytes::from(format!("tick {}\n", self.ticks)));
    }
}

#[test]
fn repeating_timers_tick_on_the_virtual_clock_until_cancelled() {
    let mut pipe = EmbeddedPipeline::new(Pipeline::new(LineCodec::new(64), Ticker::default()));
    pipe.advance(Duration::from_millis(3500));
    assert_eq!(pipe.take_written(), &b"tick 1\ntick 2\ntick 3\n"[..]);
    pipe.push(b"stop\n");
    pipe.advance(Duration::from_secs(60));
    assert!(pipe.take_written().is_empty());
}

/// Offloads each line's length computation.
struct Measure;

impl Handler for Measure {
    type In = Bytes;
    type Out = Bytes;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: Bytes) {
        ctx.offload(
            move || line.len() - 1,
            |_h, ctx, len| ctx.write(Bytes::from(format!("{len}\n"))),
        )
        .unwrap();
    }
}

#[test]
fn offloaded_jobs_run_and_continue_on_the_connection() {
    let mut pipe = EmbeddedPipeline::new(Pipeline::new(LineCodec::new(64), Measure));
    pipe.push(b"four\nsixsix\n");
    assert!(
        pipe.take_written().is_empty(),
        "nothing before the jobs run"
    );
    assert_eq!(pipe.run_offloaded(), 2);
    assert_eq!(pipe.take_written(), &b"4\n6\n"[..]);
}

/// Turns lines into numbers, dropping what does not parse.
struct ParseNumber;

impl Stage for ParseNumber {
    type In = Bytes;
    type Fwd = u64;

    fn on_message<H: Handler>(&mut self, ctx: &mut Context<'_, H>, line: Bytes) -> Option<u64> {
        match std::str::from_utf8(&line).ok()?.trim().parse() {
            Ok(n) => Some(n),
            Err(_) => {
                ctx.write_bytes(Bytes::from_static(b"not a number\n"));
                None
            }
        }
    }
}

/// Keeps a running sum.
#[derive(Default)]
struct Sum(u64);

impl Handler for Sum {
    type In = u64;
    type Out = Bytes;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, n: u64) {
        self.0 += n;
        ctx.write(Bytes::from(format!("sum {}\n", self.0)));
    }
}

#[test]
fn stages_transform_and_filter_between_decoder_and_handler() {
    let pipeline = Pipeline::builder(LineCodec::new(64))
        .stage(ParseNumber)
        .handler(Sum::default());
    let mut pipe = EmbeddedPipeline::new(pipeline);
    pipe.push(b"2\nx\n40\n");
    assert_eq!(pipe.take_written(), &b"sum 2\nnot a number\nsum 42\n"[..]);
}
