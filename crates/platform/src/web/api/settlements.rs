//! `POST /api/v1/terminal/settlements`: a terminal uploads the settlement slip (结算单) of a
//! batch it closed, over mutual TLS; the platform verifies, stores and reconciles it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use ereceipt_core::contract::SettlementStored;
use utoipa::ToSchema;

use super::schemas::{self, ErrorBody};
use super::ApiError;
use crate::infra::tls::ClientCert;
use crate::services::ingest;
use crate::services::settlement::{self, SettlementRefusal};
use crate::web::state::SharedState;

/// Upload a settlement slip
///
/// The PNG of the batch's settlement slip as the terminal composed it: signed and watermarked
/// by the terminal's key under the settlement domain, for the terminal and merchant of the
/// client certificate. The answer is the reconciliation against the receipts the platform
/// holds of that batch; it is run again whenever a late receipt of the batch arrives.
#[utoipa::path(post, path = "/api/v1/terminal/settlements", tag = "terminal",
    security(("terminalCertificate" = [])),
    request_body(description = "the slip's PNG", content((schemas::Binary = "image/png"))),
    responses(
        (status = 201, description = "stored and reconciled", body = SettlementAnswer),
        (status = 200, description = "stored before; reconciled again", body = SettlementAnswer),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "not a POS certificate of this platform, or revoked; a slip of another \
            terminal; a signer not issued here or revoked", body = ErrorBody),
        (status = 409, description = "another slip is stored for this terminal and batch", body = ErrorBody),
        (status = 413, description = "body too large", body = String, content_type = "text/plain"),
        (status = 422, description = "not an authentic settlement slip", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn upload_settlement(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<SettlementStored>), ApiError> {
    let client = ingest::known_terminal(&st.store, client).await?;
    let ca = st.keys.ca.cert_der.clone();
    let png = body.to_vec();
    let verified = tokio::task::spawn_blocking(move || settlement::verify(&ca, &client, &body))
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unverifiable", format!("verifier failed: {e}")))?
        .inspect_err(|e| tracing::warn!(detail = %e, "settlement slip refused"))?;
    let settled = settlement::store(&st.store, verified, png, Utc::now()).await?;
    let status = if settled.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(settled.answer)))
}

impl From<SettlementRefusal> for ApiError {
    fn from(e: SettlementRefusal) -> Self {
        let (status, code) = match &e {
            SettlementRefusal::NotAuthentic(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_authentic"),
            SettlementRefusal::WrongTerminal { .. } => (StatusCode::FORBIDDEN, "wrong_terminal"),
            SettlementRefusal::Signer { .. } => (StatusCode::FORBIDDEN, "signer_refused"),
            SettlementRefusal::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "storage"),
        };
        Self::new(status, code, e.to_string())
    }
}

/// The answer to a settlement slip's upload (`ereceipt_core::contract::SettlementStored`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SettlementAnswer {
    terminal_id: String,
    #[schema(minimum = 1, maximum = 999999)]
    batch: u32,
    /// SHA-256 of the slip's canonical bytes, lowercase hex.
    slip_hash: String,
    reconciliation: ReconciliationView,
}

/// The slip's counts and totals per kind, card brand and currency against the receipts held of
/// the batch, and the receipts the terminal's hash chain shows missing.
#[derive(ToSchema)]
#[schema(as = Reconciliation)]
#[allow(dead_code)]
pub struct ReconciliationView {
    /// No difference and no receipt missing.
    balanced: bool,
    differences: Vec<DifferenceView>,
    missing: Vec<MissingView>,
}

/// A receipt of the batch the platform does not hold, found in the terminal's hash chain.
#[derive(ToSchema)]
#[schema(as = MissingReceipt)]
#[allow(dead_code)]
pub struct MissingView {
    /// Its sequence number in the terminal's chain.
    sequence: u64,
    /// Its id (`TERMINAL-BATCH-SERIAL`), where the neighbours' trace numbers make it certain.
    receipt_id: Option<String>,
    place: MissingPlace,
}

/// `between`: between two held receipts of the batch (certainly one of its receipts);
/// `after_last`: after its last held receipt, one of those the slip counts beyond the held ones.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MissingPlace {
    Between,
    AfterLast,
}

/// One kind, card brand and currency whose count or total differs.
#[derive(ToSchema)]
#[schema(as = ReconciliationDifference)]
#[allow(dead_code)]
pub struct DifferenceView {
    /// `SALE`, `VOID`, `REFUND`, `PRE-AUTH` or `PRE-AUTH COMPLETION`.
    kind: String,
    /// The card brand's code (`unionpay`, `visa`, `mastercard`, `amex`, `jcb`, `discover`,
    /// `diners`, `unknown`).
    brand: String,
    currency: String,
    issue: DifferenceIssue,
    slip_count: u64,
    slip_minor: u64,
    platform_count: u64,
    platform_minor: u64,
    text: String,
}

/// What kind of difference it is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DifferenceIssue {
    MissingReceipts,
    ExtraReceipts,
    TotalDiffers,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ereceipt_core::contract::{Difference, DifferenceIssue as Issue, MissingReceipt, Reconciliation};
    use serde_json::Value;

    use super::*;

    fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
        let schema = &doc["components"]["schemas"][name];
        assert!(schema.is_object(), "no schema {name}");
        schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect()
    }

    fn fields(value: &impl serde::Serialize) -> BTreeSet<String> {
        let Value::Object(m) = serde_json::to_value(value).expect("serialises") else { panic!("not an object") };
        m.keys().cloned().collect()
    }

    /// The served document describes the answer with the fields the contract type serialises.
    #[test]
    fn the_settlement_answer_is_described_as_it_serialises() {
        let admin = crate::web::admin::api().split_for_parts().1;
        let doc = serde_json::to_value(super::super::openapi::document("127.0.0.1:8444", admin)).expect("document");
        let difference = Difference {
            kind: "REFUND".into(),
            brand: "unionpay".into(),
            currency: "CNY".into(),
            issue: Issue::MissingReceipts,
            slip_count: 1,
            slip_minor: 5000,
            platform_count: 0,
            platform_minor: 0,
            text: "REFUND: 1 receipt(s) missing".into(),
        };
        let missing =
            MissingReceipt { sequence: 3, receipt_id: None, place: ereceipt_core::contract::MissingPlace::AfterLast };
        let reconciliation =
            Reconciliation { balanced: false, differences: vec![difference.clone()], missing: vec![missing.clone()] };
        let answer = SettlementStored {
            terminal_id: "T0000001".into(),
            batch: 1,
            slip_hash: "00".repeat(32),
            reconciliation: reconciliation.clone(),
        };
        assert_eq!(properties(&doc, "SettlementAnswer"), fields(&answer));
        assert_eq!(properties(&doc, "Reconciliation"), fields(&reconciliation));
        assert_eq!(properties(&doc, "ReconciliationDifference"), fields(&difference));
        assert_eq!(properties(&doc, "MissingReceipt"), fields(&missing));
        let described: BTreeSet<String> = doc["components"]["schemas"]["DifferenceIssue"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.to_string())
            .collect();
        let real: BTreeSet<String> = [Issue::MissingReceipts, Issue::ExtraReceipts, Issue::TotalDiffers]
            .iter()
            .map(|i| serde_json::to_value(i).expect("serialises").to_string())
            .collect();
        assert_eq!(described, real);
    }
}
