//! The OpenAPI schemas of bodies whose Rust type lives outside the web edge (the receipt core's
//! contract, the services' results) or is built as a JSON literal in a handler. Each struct here
//! only describes; the unit tests in `super::openapi` hold each one to the real serialisation.

// These types are never built: they exist for their `ToSchema` impls.
#![allow(dead_code)]

use utoipa::ToSchema;

/// `{"error": code, "message": text}`: every refusal of the JSON API (`ereceipt_core::contract::ErrorBody`).
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// A stable code, e.g. `unauthorized`, `not_found`, `conflict`, `rate_limited`.
    error: String,
    /// What was wrong, in words.
    message: String,
}

/// `GET /api/v1/platform` (`ereceipt_core::contract::PlatformInfo`).
#[derive(ToSchema)]
pub struct PlatformInfo {
    /// SHA-256 of the platform CA's DER certificate, lowercase hex (the pin in enrolment tokens).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    ca_fingerprint: String,
    /// The X25519 public key uploads are sealed to (HPKE), hex.
    hpke_public_key: String,
    /// The HPKE suite, e.g. `DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305`.
    hpke_suite: Option<String>,
    /// The Ed25519 key that signs upload acknowledgements, hex.
    ack_public_key: String,
    /// The largest upload body the platform takes.
    max_upload_bytes: Option<u64>,
}

/// `GET /api/v1/terminal/resume` (`ereceipt_core::contract::ResumePoint`): a new enrolment of a
/// terminal id gets a batch no earlier one used, a renewal keeps its batch.
#[derive(ToSchema)]
pub struct ResumePoint {
    /// The batch this enrolment's receipts carry.
    #[schema(minimum = 1, maximum = 999999)]
    batch: u32,
    /// The highest serial the platform holds in `batch`; 0 when it holds none.
    #[schema(maximum = 999999)]
    last_serial: u32,
    /// The last link of the terminal's chain the platform holds; null before its first receipt.
    head: Option<ChainHead>,
}

/// The receipt with the highest sequence number the platform holds for a terminal.
#[derive(ToSchema)]
pub struct ChainHead {
    #[schema(minimum = 1)]
    sequence: u64,
    /// SHA-256 of that receipt's canonical record, lowercase hex: the next receipt's `previous`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    record_hash: String,
}

/// `GET /api/v1/terminal/receipts/{id}` (`ereceipt_core::contract::TerminalReceipt`).
#[derive(ToSchema)]
pub struct TerminalReceipt {
    id: String,
    /// When the platform stored it (RFC 3339).
    #[schema(format = DateTime)]
    received_at: String,
    /// The customer's channel (`sms`, `mms`, `email`, `pull`); null without a delivery choice.
    channel: Option<String>,
    deliveries: Vec<DeliveryProgress>,
}

/// `POST /api/v1/terminal/receipts/{id}/deliveries` (`ereceipt_core::contract::Resend`).
#[derive(ToSchema)]
pub struct Resend {
    /// The new address as a delivery choice: `sms:+8613800138000`, `mms:+86…` or
    /// `email:name@example.com` (a pull receipt is found with a login code instead).
    deliver: String,
}

/// The delivery a resend queued (`ereceipt_core::contract::Resent`).
#[derive(ToSchema)]
pub struct Resent {
    delivery_id: String,
    /// `sms`, `mms` or `email`.
    channel: String,
}

/// One delivery of a receipt, as its terminal sees it (no recipient).
#[derive(ToSchema)]
pub struct DeliveryProgress {
    channel: String,
    state: DeliveryState,
    attempts: i64,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Where a delivery is (`ereceipt_core::contract::DeliveryState`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
}

/// `POST /api/v1/verify`: the fields of `ereceipt verify --json` plus `platform`
/// (`services::verification::OnlineVerification`).
#[derive(ToSchema)]
pub struct Verification {
    verdict: Verdict,
    /// The watermark's feature value (255 when none could be read).
    feature: u8,
    /// At or above it, the watermark is intact.
    threshold: u8,
    /// Regions of the image that differ from what was signed.
    regions: Vec<Region>,
    /// The signed receipt data, when it could be read.
    #[schema(value_type = Option<Object>)]
    receipt: Option<serde_json::Value>,
    /// The signing terminal's certificate, when there was one.
    #[schema(value_type = Option<Object>)]
    signer: Option<serde_json::Value>,
    /// Why the verdict is what it is.
    reason: String,
    /// Whose clock the signer's expiry and revocation were judged by.
    time_basis: TimeBasis,
    /// The instant they were judged at (RFC 3339), when there was a signer to judge.
    judged_at: Option<String>,
    /// What the verdict does not cover, or facts that qualify it.
    warnings: Vec<String>,
    /// Only from the platform's `/api/v1/verify`.
    platform: PlatformRecord,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Verdict {
    Authentic,
    Tampered,
    Unverifiable,
    Unconfirmed,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TimeBasis {
    TerminalClaim,
    PlatformEvidence,
}

/// A pixel rectangle.
#[derive(ToSchema)]
pub struct Region {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

/// What the platform knows of the submitted receipt.
#[derive(ToSchema)]
pub struct PlatformRecord {
    /// The platform stored a receipt with this id and this record hash.
    holds: bool,
    /// When it stored it (RFC 3339), if it holds it.
    stored_at: Option<String>,
    /// Whether the file shows exactly the stored original's pixels; null when not held.
    faithful_copy: Option<bool>,
    /// The same in words.
    note: String,
}

/// A terminal as an operator registers it (`services::terminals::Registration`).
#[derive(ToSchema)]
pub struct Registration {
    #[schema(example = "T0000001")]
    terminal_id: String,
    #[schema(example = "104110070110001")]
    merchant_id: String,
    merchant_name: String,
    #[schema(example = "1 Quay St; geo:22.28,114.16")]
    location: String,
    /// A test terminal may read clear test-card tracks and sell with the simulated acquirer; a
    /// production terminal's receipts with either are refused at upload. Written into the
    /// terminal's certificates; cannot be changed later.
    #[schema(default = "production")]
    mode: Option<TerminalMode>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TerminalMode {
    Production,
    Test,
}

/// A single-use enrolment token (`services::terminals::IssuedToken`).
#[derive(ToSchema)]
pub struct IssuedToken {
    terminal_id: String,
    /// `ert1.SECRET.CA-FINGERPRINT`, single use.
    token: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `GET /api/v1/admin/terminals`.
#[derive(ToSchema)]
pub struct TerminalList {
    terminals: Vec<TerminalRow>,
}

/// One registered terminal.
#[derive(ToSchema)]
pub struct TerminalRow {
    terminal_id: String,
    merchant_id: String,
    merchant_name: String,
    location: String,
    /// Unix ms.
    created_at: i64,
    /// Unix ms; null while not revoked.
    revoked_at: Option<i64>,
    revoke_reason: Option<String>,
    mode: String,
}

/// `POST /api/v1/admin/terminals/{id}/revoke`.
#[derive(ToSchema)]
pub struct Revoked {
    terminal_id: String,
    certificates_revoked: u64,
}

/// A hash-chain report (`services::chain::ChainReport`).
#[derive(ToSchema)]
pub struct ChainReport {
    receipts: u64,
    /// Highest sequence number seen.
    last_sequence: Option<i64>,
    /// Missing sequence numbers, as inclusive ranges `[first, last]`.
    gaps: Vec<(i64, i64)>,
    /// Sequence numbers claimed by more than one receipt, with those receipts: `[sequence, [ids]]`.
    #[schema(value_type = Vec<Vec<Value>>)]
    duplicates: Vec<serde_json::Value>,
    /// Receipts whose `previous` is not the hash of the stored receipt before them.
    broken_links: Vec<String>,
    /// Receipts that arrived after a receipt with a higher sequence number.
    out_of_order: Vec<String>,
    /// Receipts without a chain link.
    unchained: u64,
    /// The batches of the chained receipts, in order of their first sequence number.
    batches: Vec<BatchSpan>,
    /// The chain's start purged under retention, if it was.
    purged: Option<PurgedPrefix>,
}

#[derive(ToSchema)]
pub struct BatchSpan {
    batch: u32,
    first_sequence: i64,
    last_sequence: i64,
    receipts: u64,
    /// The receipt at `first_sequence`: where this batch took over the chain.
    first_receipt: String,
}

#[derive(ToSchema)]
pub struct PurgedPrefix {
    through_sequence: i64,
    last_purged: String,
    receipts_purged: i64,
    /// Unix ms.
    purged_at: i64,
    verified_from: Option<String>,
}

/// `GET /api/v1/admin/refusals`: refused uploads the terminal parks (conflicts, test features).
#[derive(ToSchema)]
pub struct RefusalList {
    refusals: Vec<RefusalRow>,
}

#[derive(ToSchema)]
pub struct RefusalRow {
    /// Unix ms.
    at: i64,
    terminal_id: String,
    receipt_id: String,
    reason: String,
}

/// `GET /api/v1/admin/purges`: the latest retention purge runs, newest first.
#[derive(ToSchema)]
pub struct PurgeList {
    purges: Vec<PurgeRun>,
}

/// What one purge run deleted (times in Unix ms).
#[derive(ToSchema)]
pub struct PurgeRun {
    started_at: i64,
    finished_at: i64,
    /// Receipts sold and received before this instant were due.
    cutoff: i64,
    receipts: u64,
    deliveries: u64,
    delivery_events: u64,
    login_codes: u64,
    sessions: u64,
    refusals: u64,
    /// Receipts that were due but are on hold, so kept.
    held_kept: u64,
}

/// A legal hold: the receipt is never purged while held.
#[derive(ToSchema)]
pub struct HoldView {
    receipt_id: String,
    /// The acquirer's username, or `admin-api`.
    held_by: String,
    reason: String,
    /// Unix ms.
    held_at: i64,
}

/// A portal user as an operator creates one (`services::staff::NewUser`).
#[derive(ToSchema)]
pub struct NewUser {
    #[schema(pattern = "^[a-z0-9._-]{3,64}$")]
    username: String,
    role: StaffRole,
    /// Required for merchant users, absent for the acquirer.
    merchant_id: Option<String>,
    /// Omit to have one generated.
    #[schema(min_length = 12)]
    password: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum StaffRole {
    Merchant,
    Acquirer,
}

/// What a new user needs, shown once (`services::staff::Credentials`).
#[derive(ToSchema)]
pub struct Credentials {
    username: String,
    role: String,
    merchant_id: Option<String>,
    /// The generated password (null when the operator chose one).
    password: Option<String>,
    /// Base32, for typing into an authenticator app.
    totp_secret: String,
    /// The same as an `otpauth://totp/…` URI (for a QR code).
    totp_uri: String,
}

/// `GET /api/v1/admin/users`.
#[derive(ToSchema)]
pub struct UserList {
    users: Vec<UserRow>,
}

/// A portal user with its lock state; no secrets (`services::staff::describe`).
#[derive(ToSchema)]
pub struct UserRow {
    username: String,
    role: String,
    merchant_id: Option<String>,
    locked: bool,
    /// Unix ms, while locked.
    locked_until: Option<i64>,
    failed_logins: i64,
    disabled: bool,
}

/// A one-time enrolment link for a reset user (`services::staff_enrolment::EnrolmentLink`):
/// no secret of the user's is in it.
#[derive(ToSchema)]
pub struct EnrolmentLink {
    username: String,
    /// Open in a browser: `PORTAL/staff/enrol?token=…`, valid 24 h.
    enrolment_url: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `GET /api/v1/admin/audit`: the newest audit records of the admin listener.
#[derive(ToSchema)]
pub struct AuditList {
    /// Operator, action, target, time, outcome and client address of each request.
    #[schema(value_type = Vec<Object>)]
    audit: Vec<serde_json::Value>,
}

/// `GET /api/v1/receipts`: a page, newest first.
#[derive(ToSchema)]
pub struct ReceiptPage {
    items: Vec<ReceiptView>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// `GET /api/v1/receipts/{id}`: the receipt with its delivery choice and every delivery.
#[derive(ToSchema)]
pub struct ReceiptDetail {
    #[serde(flatten)]
    receipt: ReceiptView,
    /// The delivery choice as the customer made it, e.g. `sms:+8613800138000`; null if none.
    delivery: Option<String>,
    deliveries: Vec<Delivery>,
}

/// One delivery with its history, for the query API.
#[derive(ToSchema)]
pub struct Delivery {
    channel: String,
    recipient: String,
    state: DeliveryState,
    attempts: i64,
    /// The peer's id for it (message id), once sent.
    peer_id: Option<String>,
    /// The peer's last answer.
    last_answer: Option<String>,
    history: Vec<DeliveryEvent>,
}

#[derive(ToSchema)]
pub struct DeliveryEvent {
    /// RFC 3339.
    at: String,
    /// The step: a state, or a report the peer sent.
    state: String,
    answer: String,
}

/// `GET /api/v1/pull/receipts`.
#[derive(ToSchema)]
pub struct PullReceipts {
    items: Vec<ReceiptView>,
}

/// `POST /api/v1/pull/code`: the same answer whether the number has receipts or not.
#[derive(ToSchema)]
pub struct CodeSent {
    message: String,
}

/// `POST /api/v1/pull/login`.
#[derive(ToSchema)]
pub struct LoggedIn {
    phone: String,
}

/// `POST /api/v1/pull/receipt`: the one receipt a pull code opens.
#[derive(ToSchema)]
pub struct PullOpened {
    #[schema(example = "T0000501-000001-000001")]
    receipt_id: String,
    /// The receipt's page, as a message's link: `/r/ID?k=TOKEN`.
    #[schema(example = "/r/T0000501-000001-000001?k=AQBPx2yHk3sGmZk1d0aF")]
    link: String,
    /// Its image: `/r/ID/png?k=TOKEN`.
    #[schema(example = "/r/T0000501-000001-000001/png?k=AQBPx2yHk3sGmZk1d0aF")]
    image: String,
}

/// The bytes of the media type named beside it (an image, CBOR, a CRL).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(Vec<u8>);

/// One receipt as the API shows it.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Receipt)]
pub(crate) struct ReceiptView {
    /// `TERMINAL-BATCH-SERIAL`.
    id: String,
    terminal_id: String,
    merchant_id: String,
    merchant_name: String,
    batch: i64,
    serial: i64,
    amount_minor: i64,
    currency: String,
    /// Local time of the sale with the terminal's offset.
    time: String,
    rrn: String,
    auth_code: String,
    card: String,
    card_brand: String,
    /// The receipt's place in its terminal's hash chain; null for an unchained receipt.
    sequence: Option<i64>,
    /// SHA-256 of the canonical record, hex.
    record_hash: String,
    /// When the platform stored it (RFC 3339).
    received_at: String,
    /// Path of its image.
    image: String,
    /// Path of its canonical CBOR record.
    record: String,
}

impl From<crate::infra::store::StoredReceipt> for ReceiptView {
    fn from(r: crate::infra::store::StoredReceipt) -> Self {
        Self {
            image: format!("/api/v1/receipts/{}/image", r.receipt_id),
            record: format!("/api/v1/receipts/{}/record", r.receipt_id),
            time: r.time.rfc3339(),
            received_at: crate::web::support::json::rfc3339(r.received_at, 0),
            record_hash: hex::encode(r.record_hash),
            id: r.receipt_id,
            terminal_id: r.terminal_id,
            merchant_id: r.merchant_id,
            merchant_name: r.merchant_name,
            batch: r.batch,
            serial: r.serial,
            amount_minor: i64::try_from(r.amount.minor()).unwrap_or(i64::MAX),
            currency: r.amount.currency().code().to_owned(),
            rrn: r.rrn,
            auth_code: r.auth_code,
            card: r.card_masked,
            card_brand: r.card_brand,
            sequence: r.sequence,
        }
    }
}
