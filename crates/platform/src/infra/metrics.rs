//! Prometheus metrics: receipts ingested, refused by reason, uploads in flight (the ingest
//! queue), ingest latency, enrolments. Served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// The platform's metrics; cheap to clone (shared counters).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    pub ingested: Counter,
    pub duplicates: Counter,
    pub refused: Family<ReasonLabel, Counter>,
    pub in_flight: Gauge,
    pub latency: Histogram,
    pub enrolments: Counter,
    pub deliveries_pending: Gauge,
    /// Receipts purged under retention by this process.
    pub receipts_purged: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ereceipt");
        let ingested = Counter::default();
        let duplicates = Counter::default();
        let refused = Family::<ReasonLabel, Counter>::default();
        let in_flight = Gauge::default();
        let latency = Histogram::new([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]);
        let enrolments = Counter::default();
        let deliveries_pending = Gauge::default();
        let receipts_purged = Counter::default();
        registry.register("receipts_ingested", "Receipts stored for the first time", ingested.clone());
        registry.register(
            "receipts_duplicate",
            "Uploads of a receipt already stored (acknowledged again)",
            duplicates.clone(),
        );
        registry.register("uploads_refused", "Uploads refused, by reason", refused.clone());
        registry.register(
            "uploads_in_flight",
            "Uploads being opened, verified or stored now (the ingest queue)",
            in_flight.clone(),
        );
        registry.register("ingest_latency_seconds", "Time from request to acknowledgement", latency.clone());
        registry.register("enrolments", "Terminal certificates issued", enrolments.clone());
        registry.register(
            "deliveries_pending",
            "Deliveries queued or being sent (the delivery queue depth, all processes)",
            deliveries_pending.clone(),
        );
        registry.register(
            "receipts_purged",
            "Receipts purged under retention (with their deliveries) by this process",
            receipts_purged.clone(),
        );
        Self {
            registry: std::sync::Arc::new(registry),
            ingested,
            duplicates,
            refused,
            in_flight,
            latency,
            enrolments,
            deliveries_pending,
            receipts_purged,
        }
    }

    pub fn refuse(&self, reason: &str) {
        self.refused.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
