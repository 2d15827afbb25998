//! `ereceipt terminal sell | pre-auth | void | refund | complete`: a cashier's operations from
//! the command line, each authorised through the terminal's acquirer link (the `[host]` table
//! of terminal.toml, or the labelled simulator on a test terminal), checked against the
//! terminal's journal first, and recorded as its own signed receipt, like `terminal sale`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use clap::Args;
use ereceipt_core::card::{capture, CardInput};
use ereceipt_core::identity::Signer;
use ereceipt_core::model::{Currency, DeliveryChoice, Money, OperatorId};
use ereceipt_core::signature::Signature;
use ereceipt_terminal::authorisation::{authorise, prepare, Asked, Payment, Refusal};
use ereceipt_terminal::device::Device;
use ereceipt_terminal::outbox::{new_request_id, NewAuthorisation, ReceiptParts};
use ereceipt_terminal::sale::{approved_transaction, record_authorised_sale, ApprovedRequest, Composer};
use ereceipt_terminal::sync::Uploader;

use crate::files::{self, TerminalSettings};

/// What every operation takes besides its own arguments.
#[derive(Args)]
pub struct Presented {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The card as read: a JSON file such as `{"track2": ";6222…=2912…?"}` (test terminals) or
    /// an encrypting reader's output (`{"reader": "magtek", "data": "…"}`). Read once, sent to
    /// the host only, never stored.
    #[arg(long)]
    pub card: PathBuf,
    /// The cardholder's signature (signature pad JSON), as for `terminal sale`.
    #[arg(long)]
    pub signature: PathBuf,
    /// The cashier's operator number (field 63; printed on the slip).
    #[arg(long, default_value = "01")]
    pub operator: String,
    /// The customer's choice: sms:+86…, mms:+86…, email:…, pull:+86….
    #[arg(long, value_name = "CHOICE")]
    pub deliver: Option<String>,
    /// Write the receipt image here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Store only; do not try to upload now.
    #[arg(long)]
    pub offline: bool,
}

/// An amount as typed (`128.50`) in the terminal's currency.
fn money(text: &str, currency: Currency) -> Result<Money> {
    let minor = currency.parse_minor(text).with_context(|| format!("--amount {text}"))?;
    Ok(Money::new(minor, currency)?)
}

/// The operation asked on the command line.
pub enum Wanted {
    Sale { amount: String },
    PreAuth { amount: String },
    Void { voucher: u32 },
    Refund { rrn: String, date: NaiveDate, amount: String },
    Completion { auth_code: String, date: NaiveDate, amount: String },
}

/// `ereceipt terminal <operation>`. Exit 0: approved and uploaded; 4: approved and queued (or,
/// for a refund, sent and not yet acknowledged: it is sent again); 5: the platform refused the
/// receipt; 3: declined, not sent, or refused by the terminal's own checks (nothing stored).
pub async fn run(wanted: Wanted, p: Presented) -> Result<i32> {
    let dir = p.data_dir.as_path();
    let device = Device::new(dir);
    let settings = TerminalSettings::load(dir)?;
    let signer = Signer::new(&device.identity()?).context("terminal identity")?;
    let mode = signer.certificate().mode;
    let policy = settings.policy(mode, dir)?;
    let authoriser = settings.authoriser(dir)?;
    let info = authoriser.info();
    if info.simulator && !mode.is_test() {
        anyhow::bail!(
            "this is a production terminal and terminal.toml names no acquirer host ([host]): it cannot \
             authorise through the simulator"
        );
    }
    let currency = settings.currency;
    let asked = match &wanted {
        Wanted::Sale { amount } => Asked::Sale { amount: money(amount, currency)? },
        Wanted::PreAuth { amount } => Asked::PreAuth { amount: money(amount, currency)? },
        Wanted::Void { voucher } => Asked::Void { voucher: *voucher },
        Wanted::Refund { rrn, date, amount } => Asked::Refund {
            rrn: rrn.parse().with_context(|| format!("--rrn {rrn}"))?,
            date: *date,
            amount: money(amount, currency)?,
        },
        Wanted::Completion { auth_code, date, amount } => Asked::Completion {
            auth_code: auth_code.parse().with_context(|| format!("--auth-code {auth_code}"))?,
            date: *date,
            amount: money(amount, currency)?,
        },
    };
    let operator: OperatorId = p.operator.parse().with_context(|| format!("--operator {}", p.operator))?;
    let deliver = p
        .deliver
        .as_deref()
        .map(|d| d.parse::<DeliveryChoice>().with_context(|| format!("--deliver {d}")))
        .transpose()?;
    // Everything that can be wrong with the input is found before the host is asked.
    let signature = Signature::from_signature_pad_json(&files::read_text(&p.signature)?)
        .with_context(|| format!("{}", p.signature.display()))?;
    let fonts = files::load_fonts(settings.font.as_deref())?;
    let uploader = Uploader::open(&device).await?;
    uploader.ensure_resume().await.context(
        "the outbox holds no receipts and no resume point (was it lost?); connect to the platform and retry",
    )?;
    let outbox = &uploader.outbox;
    let (operation, amount) = prepare(outbox, &asked).await.context("nothing was sent")?;
    let time = settings.zone(dir)?.local_time(Utc::now())?;
    let input: CardInput = serde_json::from_str(&files::read_text(&p.card)?)
        .map_err(|e| anyhow::anyhow!("{}: not a card: {e}", p.card.display()))?;
    let card = capture(&input, &policy, time.local().date_naive()).with_context(|| format!("{}", p.card.display()))?;
    drop(input);
    let terminal = &signer.certificate().terminal;
    let journalled = NewAuthorisation {
        request_id: new_request_id(),
        amount,
        masked_pan: card.summary.masked_pan.clone(),
        time,
        terminal_id: terminal.terminal_id.clone(),
        merchant_id: terminal.merchant_id.clone(),
        authoriser: info.name.clone(),
        simulated: info.simulator,
        operator: operator.clone(),
        operation: operation.clone(),
    };
    let now = || Utc::now().timestamp_millis();
    // A refund's receipt parts are kept with its journal row before the advice goes out: if the
    // host acknowledges it only later, the terminal still makes its receipt (gap 1 of issue 13).
    let parts = operation.is_advice().then(|| ReceiptParts {
        card: card.summary.clone(),
        signature: signature.clone(),
        delivery: deliver.as_ref().map(ToString::to_string),
    });
    let payment = Payment {
        journalled: &journalled,
        card: &card.summary,
        card_data: &card.authorisation,
        receipt_parts: parts.as_ref(),
    };
    let answer = authorise(outbox, authoriser.as_ref(), payment, now).await;
    let summary = card.summary.clone();
    drop(card); // the card number and tracks are wiped here
    let kind = operation.kind;
    let (approval, trace) = match answer {
        Ok(approved) => approved,
        Err(e @ Refusal::AdvicePending { .. }) => {
            say!("{kind} NOT acknowledged yet: {e}");
            say!(
                "its receipt is made and sent when the host acknowledges it: the terminal UI's background pass \
                 sends the advice again, or run ereceipt terminal authorisations recover --data-dir {}",
                dir.display()
            );
            say!("see ereceipt terminal authorisations --data-dir {}", dir.display());
            return Ok(crate::stored::EXIT_QUEUED);
        }
        Err(Refusal::Declined(ereceipt_terminal::host::AuthorisationError::Declined { code, message, message_zh })) => {
            anyhow::bail!("{kind} declined ({code}): {message} / {message_zh}; nothing was stored")
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("{kind} not approved; nothing was stored"))),
    };
    say!(
        "{kind} approved: auth code {}, RRN {}, voucher {:06}, batch {:06}{}",
        approval.auth_code.as_str(),
        approval.rrn.as_str(),
        trace.trace,
        trace.batch,
        if info.simulator { " (SIMULATED, not authorised)" } else { "" }
    );
    let transaction = approved_transaction(ApprovedRequest {
        operation: &operation,
        amount,
        time,
        trace,
        approval,
        operator,
        card: summary,
        simulated: info.simulator,
    })?;
    let composer = Composer { signer: &signer, fonts: &fonts, width: settings.slip_width };
    let receipt = record_authorised_sale(
        outbox,
        composer,
        transaction,
        signature,
        deliver.as_ref().map(ToString::to_string),
        Some(&journalled.request_id),
    )
    .await?;
    crate::stored::stored(&uploader, &receipt, p.out.as_deref(), p.offline).await
}

/// `--date` of an original: `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    s.parse().map_err(|_| format!("{s:?} is not a date YYYY-MM-DD"))
}
