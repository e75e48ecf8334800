//! [`MetricsSnapshot::to_prometheus`]: the text exposition format (version 0.0.4) that
//! Prometheus scrapes, every family with its `# HELP` and `# TYPE` lines and a sample per
//! reactor where it has the `reactor` label, present from the first scrape.

use std::fmt::Write;
use std::time::Duration;

use super::{MetricsSnapshot, ReactorMetrics};
use crate::error::{CloseReason, ProxyRejection, TlsFailure};

/// The `Content-Type` of [`MetricsSnapshot::to_prometheus`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }

    /// One family with a sample per reactor.
    fn per_reactor<V: std::fmt::Display>(
        &mut self,
        reactors: &[ReactorMetrics],
        name: &str,
        kind: &str,
        help: &str,
        value: impl Fn(&ReactorMetrics) -> V,
    ) {
        self.family(name, kind, help);
        for (i, r) in reactors.iter().enumerate() {
            self.sample(name, &format!("reactor=\"{i}\""), value(r));
        }
    }
}

impl MetricsSnapshot {
    /// The snapshot in the Prometheus text exposition format, for a `GET /metrics`
    /// (served with `Content-Type: text/plain; version=0.0.4`). The families and what each
    /// means are listed in `docs/observability.md`.
    pub fn to_prometheus(&self) -> String {
        let mut out = Out(String::with_capacity(8 * 1024));
        let r = &self.reactors;
        out.per_reactor(
            r,
            "weft_connections_open",
            "gauge",
            "Connections open now.",
            |m| m.open_connections,
        );
        out.family(
            "weft_connections_accepted_total",
            "counter",
            "Connections accepted since start.",
        );
        out.sample("weft_connections_accepted_total", "", self.accepted);
        out.family(
            "weft_connections_dialled_total",
            "counter",
            "Outbound connections that came up since start.",
        );
        out.sample("weft_connections_dialled_total", "", self.dialled);
        out.family(
            "weft_connect_failures_total",
            "counter",
            "Outbound dials that failed (every target tried) since start.",
        );
        out.sample("weft_connect_failures_total", "", self.connect_failures);
        out.family(
            "weft_connections_closed_total",
            "counter",
            "Connections closed, by why.",
        );
        for reason in CloseReason::ALL {
            out.sample(
                "weft_connections_closed_total",
                &format!("reason=\"{}\"", reason.label()),
                self.closed_for(reason),
            );
        }
        out.family(
            "weft_proxy_headers_total",
            "counter",
            "PROXY protocol headers read (connections whose real client is known).",
        );
        out.sample("weft_proxy_headers_total", "", self.proxy_headers());
        out.family(
            "weft_proxy_header_rejections_total",
            "counter",
            "Connections closed without a reply for their PROXY protocol header, by cause.",
        );
        for cause in ProxyRejection::ALL {
            out.sample(
                "weft_proxy_header_rejections_total",
                &format!("cause=\"{}\"", cause.label()),
                self.proxy_rejected_for(cause),
            );
        }
        out.family(
            "weft_tls_handshakes_total",
            "counter",
            "TLS handshakes completed.",
        );
        out.sample("weft_tls_handshakes_total", "", self.tls_handshakes());
        out.family(
            "weft_tls_handshake_failures_total",
            "counter",
            "TLS handshakes failed (the connection closed before its pipeline ran), by cause.",
        );
        for cause in TlsFailure::ALL {
            out.sample(
                "weft_tls_handshake_failures_total",
                &format!("cause=\"{}\"", cause.label()),
                self.tls_failed_for(cause),
            );
        }
        out.family(
            "weft_received_bytes_total",
            "counter",
            "Bytes read from peers.",
        );
        out.sample("weft_received_bytes_total", "", self.bytes_read);
        out.family(
            "weft_sent_bytes_total",
            "counter",
            "Bytes written to peers.",
        );
        out.sample("weft_sent_bytes_total", "", self.bytes_written);

        out.family(
            "weft_loop_turn_seconds",
            "histogram",
            "How long each loop turn took, from poll returning to the end of the turn.",
        );
        for (i, m) in r.iter().enumerate() {
            for (bound, cumulative) in m.turns.buckets() {
                let le = bound.map_or_else(|| "+Inf".to_string(), |b| format!("{}", secs(b)));
                out.sample(
                    "weft_loop_turn_seconds_bucket",
                    &format!("reactor=\"{i}\",le=\"{le}\""),
                    cumulative,
                );
            }
            let labels = format!("reactor=\"{i}\"");
            out.sample("weft_loop_turn_seconds_sum", &labels, secs(m.turns.sum()));
            out.sample("weft_loop_turn_seconds_count", &labels, m.turns.count());
        }
        out.per_reactor(
            r,
            "weft_loop_busy_seconds_total",
            "counter",
            "Time the reactor spent working (the sum of its turns).",
            |m| secs(m.busy),
        );
        out.per_reactor(
            r,
            "weft_loop_idle_seconds_total",
            "counter",
            "Time the reactor spent waiting in poll.",
            |m| secs(m.idle),
        );
        out.per_reactor(
            r,
            "weft_loop_events_total",
            "counter",
            "Readiness events the reactor handled.",
            |m| m.events,
        );
        out.per_reactor(
            r,
            "weft_stalls_total",
            "counter",
            "Callbacks into user code that ran longer than the stall threshold.",
            |m| m.stalls,
        );
        out.per_reactor(
            r,
            "weft_inbox_depth",
            "gauge",
            "Commands waiting in the reactor's inbox after its last drain.",
            |m| m.inbox_depth,
        );
        out.per_reactor(
            r,
            "weft_inbox_depth_max",
            "gauge",
            "The most commands one drain took from the reactor's inbox.",
            |m| m.inbox_depth_max,
        );
        out.per_reactor(
            r,
            "weft_ready_connections",
            "gauge",
            "Connections on the ready list (budget spent, reading resumed) at its last serve.",
            |m| m.ready_connections,
        );
        out.per_reactor(
            r,
            "weft_timers_armed",
            "gauge",
            "Timers armed in the reactor's wheel.",
            |m| m.timers,
        );
        out.per_reactor(
            r,
            "weft_backpressure_pauses_total",
            "counter",
            "Times a connection stopped reading because its output passed the high watermark.",
            |m| m.backpressure_pauses,
        );
        out.per_reactor(
            r,
            "weft_panics_total",
            "counter",
            "Panics in user code caught by the reactor.",
            |m| m.panics,
        );

        out.family(
            "weft_pool_queue_depth",
            "gauge",
            "Offloaded jobs waiting for a pool thread.",
        );
        out.sample("weft_pool_queue_depth", "", self.pool_queue_depth);
        out.family(
            "weft_pool_jobs_total",
            "counter",
            "Offloaded jobs that ran or were skipped.",
        );
        out.sample("weft_pool_jobs_total", "", self.pool_jobs);
        out.family(
            "weft_pool_job_seconds_total",
            "counter",
            "Time the pool threads spent running jobs.",
        );
        out.sample("weft_pool_job_seconds_total", "", secs(self.pool_job_time));
        out.family(
            "weft_accept_errors_total",
            "counter",
            "Failed accept calls (not counting 'nothing to accept').",
        );
        out.sample("weft_accept_errors_total", "", self.accept_errors);
        out.family(
            "weft_accept_pauses_total",
            "counter",
            "Times accepting paused: out of descriptors, at the connection limit, or waiting for a reactor.",
        );
        out.sample("weft_accept_pauses_total", "", self.accept_pauses);
        out.0
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;

    #[test]
    fn every_family_is_there_from_the_start_with_a_sample_per_reactor() {
        let text = Metrics::new(2).snapshot().to_prometheus();
        for family in [
            "weft_connections_open",
            "weft_connections_accepted_total",
            "weft_connections_closed_total",
            "weft_received_bytes_total",
            "weft_sent_bytes_total",
            "weft_loop_turn_seconds",
            "weft_stalls_total",
            "weft_pool_queue_depth",
        ] {
            assert!(text.contains(&format!("# HELP {family} ")), "{family}");
            assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
        }
        assert!(text.contains("weft_connections_open{reactor=\"1\"} 0\n"));
        assert!(text.contains("weft_stalls_total{reactor=\"0\"} 0\n"));
        assert!(text.contains("weft_loop_turn_seconds_bucket{reactor=\"1\",le=\"+Inf\"} 0\n"));
        assert!(text.contains("weft_connections_closed_total{reason=\"slow_consumer\"} 0\n"));
        assert!(text.contains("weft_connections_closed_total{reason=\"proxy_header\"} 0\n"));
        assert!(text.contains("weft_proxy_headers_total 0\n"));
        for cause in ["missing", "malformed", "timeout", "untrusted"] {
            let sample = format!("weft_proxy_header_rejections_total{{cause=\"{cause}\"}} 0\n");
            assert!(text.contains(&sample), "{cause}");
        }
        assert!(text.ends_with('\n'));
    }
}
