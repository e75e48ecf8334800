//! Pipelines driven without sockets through the embedded pipeline: framing at every split
//! point, errors, panics, watermarks, timers on a virtual clock, offload; several
//! connections on one embedded reactor (groups, broadcasts, handles); codec pairs and the
//! end-of-stream rule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft::codec::line::Terminator;
use weft::codec::{LengthFieldCodec, LengthPrepender, LineCodec};
use weft::testing::{EmbeddedPipeline, EmbeddedReactor};
use weft::{
    Bytes, CloseReason, ConnectionId, Context, Error, Group, Handler, Idle, IdleTimeouts, Pipeline,
    Server, SimplePipeline, Stage, TimerId, WriteWatermarks,
};

struct Echo;

impl Handler for Echo {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        if line == b"panic\n" {
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
        ctx.write(b"idle\n");
    }
}

fn echo(max: usize) -> EmbeddedPipeline<LineCodec, weft::Identity<LineCodec>, Echo> {
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
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.timer = Some(ctx.schedule_repeating(Duration::from_secs(1)));
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _line: &[u8]) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_timer(t);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId) {
        self.ticks += 1;
        ctx.write(format!("tick {}\n", self.ticks).as_bytes());
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
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        let line = line.to_vec(); // the job runs after this call: it takes a copy
        ctx.offload(
            move || line.len() - 1,
            |_h, ctx, len| ctx.write(format!("{len}\n").as_bytes()),
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
    type In<'a> = &'a [u8];
    type Fwd<'a> = u64;

    fn on_message<'m, H: Handler>(
        &mut self,
        ctx: &mut Context<'_, H>,
        line: Self::In<'m>,
    ) -> Option<Self::Fwd<'m>> {
        match std::str::from_utf8(line).ok()?.trim().parse() {
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
    type In<'a> = u64;
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, n: u64) {
        self.0 += n;
        ctx.write(format!("sum {}\n", self.0).as_bytes());
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

/// A chat room in miniature: every connection joins one group; a line goes to everyone
/// else; joins and leaves are announced.
struct Room {
    members: Group,
    nicks: Mutex<HashMap<ConnectionId, String>>,
}

struct Chat {
    room: Arc<Room>,
    nick: String,
}

impl Handler for Chat {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_active(&mut self, ctx: &mut Context<'_, Self>) {
        self.nick = format!("guest{}", ctx.id().as_u64());
        self.room
            .nicks
            .lock()
            .unwrap()
            .insert(ctx.id(), self.nick.clone());
        ctx.write(format!("* you are {}\n", self.nick).as_bytes());
        ctx.join_group(&self.room.members);
        let joined = Bytes::from(format!("* {} joined\n", self.nick));
        self.room.members.broadcast_except(joined, ctx.id());
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, line: &[u8]) {
        match line {
            b"/quit" => {
                ctx.write(b"* bye\n");
                ctx.close();
            }
            b"/who" => {
                let mut nicks: Vec<String> =
                    self.room.nicks.lock().unwrap().values().cloned().collect();
                nicks.sort();
                ctx.write(format!("* online: {}\n", nicks.join(" ")).as_bytes());
            }
            text => {
                let text = String::from_utf8_lossy(text);
                let message = Bytes::from(format!("{}: {text}\n", self.nick));
                self.room.members.broadcast_except(message, ctx.id());
            }
        }
    }

    fn on_inactive(&mut self, ctx: &mut Context<'_, Self>, _reason: CloseReason) {
        self.room.nicks.lock().unwrap().remove(&ctx.id());
        let left = Bytes::from(format!("* {} left\n", self.nick));
        self.room.members.broadcast(left);
    }
}

/// The alias spares spelling the empty stage.
fn chat(room: &Arc<Room>) -> SimplePipeline<LineCodec, Chat> {
    Pipeline::new(
        LineCodec::new(64).terminator(Terminator::Strip),
        Chat {
            room: room.clone(),
            nick: String::new(),
        },
    )
}

#[test]
fn three_clients_chat_through_one_embedded_reactor() {
    let room = Arc::new(Room {
        members: Group::new(),
        nicks: Mutex::new(HashMap::new()),
    });
    let mut reactor = EmbeddedReactor::new();
    let a = reactor.add(chat(&room));
    let b = reactor.add(chat(&room));
    let c = reactor.add(chat(&room));
    assert_eq!(reactor.ids(), [a, b, c]);
    assert!(a != b && b != c && a != c, "distinct ids");
    assert_eq!(room.members.len(), 3);
    assert_eq!(
        reactor.take_written(a),
        &b"* you are guest1\n* guest2 joined\n* guest3 joined\n"[..]
    );
    assert_eq!(
        reactor.take_written(b),
        &b"* you are guest2\n* guest3 joined\n"[..]
    );
    assert_eq!(reactor.take_written(c), &b"* you are guest3\n"[..]);

    // A message reaches everyone but its sender, in the order sent.
    reactor.push(b, b"hello\nhow are you?\n");
    assert_eq!(
        reactor.take_written(a),
        &b"guest2: hello\nguest2: how are you?\n"[..]
    );
    assert_eq!(
        reactor.take_written(c),
        &b"guest2: hello\nguest2: how are you?\n"[..]
    );
    assert_eq!(reactor.take_written(b), &b""[..]);

    reactor.push(c, b"/who\n");
    assert_eq!(
        reactor.take_written(c),
        &b"* online: guest1 guest2 guest3\n"[..]
    );

    // Handles from the group reach their connections from outside any handler too.
    for handle in room.members.handles() {
        if handle.id() == a {
            handle.write(Bytes::from_static(b"* notice\n")).unwrap();
        }
    }
    reactor.run_offloaded(); // runs what the handle posted
    assert_eq!(reactor.take_written(a), &b"* notice\n"[..]);

    // `/quit`: the sender gets its bye and, once it answers our FIN, the others its leave.
    reactor.push(a, b"/quit\n");
    assert_eq!(reactor.take_written(a), &b"* bye\n"[..]);
    assert!(reactor.fin_sent(a));
    reactor.push_eof(a);
    assert_eq!(reactor.close_reason(a), Some(CloseReason::Closed));
    assert_eq!(room.members.len(), 2);
    assert_eq!(reactor.take_written(b), &b"* guest1 left\n"[..]);
    assert_eq!(reactor.take_written(c), &b"* guest1 left\n"[..]);
    assert_eq!(reactor.open_connections(), 2);

    // A client that goes away mid-line: the partial line is dropped, the others told.
    reactor.push(b, b"unfinish");
    reactor.push_eof(b);
    assert!(reactor.is_closed(b));
    assert_eq!(reactor.take_written(c), &b"* guest2 left\n"[..]);
    assert!(
        room.members.handles().iter().all(|h| h.id() == c),
        "only c is left"
    );
}

/// Counts frames, and remembers the decode errors it was told of.
#[derive(Default)]
struct Frames {
    errors: Arc<Mutex<Vec<String>>>,
}

impl Handler for Frames {
    type In<'a> = &'a [u8];
    type Out<'a> = &'a [u8];

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, frame: &[u8]) {
        ctx.write(frame);
    }

    fn on_decode_error(&mut self, _ctx: &mut Context<'_, Self>, error: &Error) {
        assert_eq!(
            error.to_string(),
            "decode error",
            "the cause is the source's"
        );
        let cause = std::error::Error::source(error).map(ToString::to_string);
        self.errors.lock().unwrap().push(format!(
            "truncated={} {}",
            error.is_truncated(),
            cause.unwrap_or_default()
        ));
    }
}

#[test]
fn a_decoder_and_an_encoder_pair_up_as_a_codec() {
    let decoder = LengthFieldCodec::builder(64)
        .length_field_width(2)
        .initial_bytes_to_strip(2)
        .build()
        .unwrap();
    let codec = (decoder, LengthPrepender::new(2).unwrap());
    let mut pipe = EmbeddedPipeline::new(Pipeline::new(codec, Frames::default()));
    pipe.push(b"\x00\x03one\x00\x03tw");
    pipe.push(b"o");
    assert_eq!(pipe.take_written(), &b"\x00\x03one\x00\x03two"[..]);
}

#[test]
fn a_truncated_last_frame_is_reported_at_end_of_stream_then_the_connection_closes() {
    let decoder = LengthFieldCodec::builder(64)
        .length_field_width(1)
        .initial_bytes_to_strip(1)
        .build()
        .unwrap();
    let handler = Frames::default();
    let errors = handler.errors.clone();
    let codec = (decoder, LengthPrepender::new(1).unwrap());
    let mut pipe = EmbeddedPipeline::new(Pipeline::new(codec, handler));
    pipe.push(b"\x02ok\x05abc");
    assert!(errors.lock().unwrap().is_empty(), "still arriving");
    pipe.push_eof();
    assert_eq!(
        *errors.lock().unwrap(),
        ["truncated=true truncated frame: bytes remaining on stream"]
    );
    assert_eq!(pipe.take_written(), &b"\x02ok"[..]);
    // The end of stream then goes on as usual: not a failure of the connection.
    assert_eq!(pipe.close_reason(), Some(CloseReason::PeerClosed));

    // A stream that ends between frames reports nothing.
    let handler = Frames::default();
    let errors = handler.errors.clone();
    let decoder = LengthFieldCodec::builder(64).build().unwrap();
    let mut pipe = EmbeddedPipeline::new(Pipeline::new(
        (decoder, LengthPrepender::new(4).unwrap()),
        handler,
    ));
    pipe.push(b"\x00\x00\x00\x01x");
    pipe.push_eof();
    assert!(errors.lock().unwrap().is_empty());
    assert_eq!(pipe.close_reason(), Some(CloseReason::PeerClosed));
}

#[test]
fn embedded_settings_are_checked_as_bind_checks_them() {
    let result = std::panic::catch_unwind(|| {
        EmbeddedPipeline::with_config(
            Server::builder().pool_queue(0),
            Pipeline::new(LineCodec::new(64), Echo),
        )
    });
    let panic = result.unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("pool_queue"), "{message}");
}
