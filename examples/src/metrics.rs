//! A metrics endpoint: `GET /metrics` answered with a server's live counters in the
//! Prometheus text format, over weft's own HTTP codec, on a listener of its own (so its
//! connections never count in the figures of the server it reports on).

use weft::codec::{HttpCodec, HttpLimits, HttpRequest, HttpResponse};
use weft::{Context, Error, Handler, MetricsHandle, Pipeline, Server, PROMETHEUS_CONTENT_TYPE};

/// One connection of the metrics endpoint.
#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    metrics: MetricsHandle,
}

impl MetricsEndpoint {
    /// An endpoint reporting `metrics`.
    pub fn new(metrics: MetricsHandle) -> Self {
        MetricsEndpoint { metrics }
    }
}

impl Handler for MetricsEndpoint {
    type In<'a> = HttpRequest;
    type Out<'a> = HttpResponse;

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, request: HttpRequest) {
        let path = request.target().split(|&b| b == b'?').next().unwrap_or(&[]);
        let method = &request.method()[..];
        let response = match (method, path) {
            (b"GET" | b"HEAD", b"/metrics") => HttpResponse::new(200)
                .with_header("Content-Type", PROMETHEUS_CONTENT_TYPE)
                .with_body(self.metrics.snapshot().to_prometheus()),
            (_, b"/metrics") => HttpResponse::new(405)
                .with_header("Allow", "GET, HEAD")
                .with_body("method not allowed\n"),
            _ => HttpResponse::new(404).with_body("not found: try /metrics\n"),
        };
        let response = if method == b"HEAD" {
            response.for_head_request()
        } else {
            response
        };
        let keep_alive = request.keep_alive();
        ctx.write(if keep_alive {
            response
        } else {
            response.with_header("Connection", "close")
        });
        if !keep_alive {
            ctx.close();
        }
    }

    fn on_decode_error(&mut self, ctx: &mut Context<'_, Self>, _error: &Error) {
        ctx.write(
            HttpResponse::new(400)
                .with_header("Connection", "close")
                .with_body("bad request\n"),
        );
    }
}

/// Starts the endpoint on `addr` (one reactor, no watchdog of its own) reporting `metrics`.
pub fn serve(metrics: MetricsHandle, addr: std::net::SocketAddr) -> Result<Server, Error> {
    Server::builder()
        .addr(addr)
        .reactors(1)
        .pool_threads(1)
        .stall_threshold(None)
        .pipeline(move || {
            Pipeline::new(
                HttpCodec::new(HttpLimits::default()),
                MetricsEndpoint::new(metrics.clone()),
            )
        })
        .bind()
}
