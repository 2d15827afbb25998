//! The acquirer's legal hold on a disputed receipt (retention, security review L6): the receipt
//! page shows whether it is held, with a form to place or release the hold; the retention purge
//! never takes a held receipt. Thin over `services::retention`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::guards::{Acquirer, ToStart};
use super::staff::viewer;
use super::views::{csrf_field, instant, layout, notice, urlencode};
use super::{CsrfForm, Ctx, PageError};
use crate::services::retention::{self, HoldError};
use crate::web::state::SharedState;
use crate::web::support::NoFields;

/// The hold section of the acquirer's receipt page at `path`.
pub(crate) async fn section(st: &SharedState, ctx: &Ctx, path: &str, receipt_id: &str) -> Result<Markup, PageError> {
    let l = ctx.lang;
    let hold = st.store.hold_of(receipt_id).await?;
    Ok(html! {
        section id="hold" {
            h2 { (l.t("Legal hold", "争议保全")) }
            @match &hold {
                Some(h) => {
                    p id="hold-state" { strong { (l.t("On hold", "已保全")) } ": " (h.reason) " — " (h.held_by) ", " (instant(h.held_at)) }
                    p.small { (l.t("Kept past its retention period until the hold is released.", "保全期间不会因保存期届满而删除。")) }
                    form method="post" action={ (path) "/release" } {
                        (csrf_field(ctx))
                        button type="submit" id="release-hold" { (l.t("Release the hold", "解除保全")) }
                    }
                }
                None => {
                    p.small id="hold-state" { (l.t("Not held: deleted when its retention period ends.", "未保全：保存期届满后删除。")) }
                    form.stack method="post" action={ (path) "/hold" } {
                        (csrf_field(ctx))
                        label { (l.t("Dispute or case reference", "争议或案件编号"))
                            input type="text" name="reason" id="hold-reason" required maxlength="200";
                        }
                        button type="submit" id="place-hold" { (l.t("Put on hold", "保全")) }
                    }
                }
            }
        }
    })
}

#[derive(Deserialize)]
pub struct HoldForm {
    reason: String,
}

fn receipt_path(id: &str) -> String {
    format!("/acquirer/receipts/{}", urlencode(id))
}

/// `POST /acquirer/receipts/{id}/hold`.
pub async fn place(
    who: Acquirer<ToStart>,
    State(st): State<SharedState>,
    ctx: Ctx,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<HoldForm>,
) -> Result<Response, PageError> {
    let by = who.account.username.clone();
    match retention::hold(&st.store, &id, &by, &f.reason, Utc::now().timestamp_millis()).await {
        Ok(_) => Ok(Redirect::to(&receipt_path(&id)).into_response()),
        Err(e) => refused(&ctx, &who, &id, e),
    }
}

/// `POST /acquirer/receipts/{id}/release`.
pub async fn release(
    who: Acquirer<ToStart>,
    State(st): State<SharedState>,
    ctx: Ctx,
    Path(id): Path<String>,
    _: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    match retention::release(&st.store, &id, &who.account.username).await {
        Ok(()) => Ok(Redirect::to(&receipt_path(&id)).into_response()),
        Err(e) => refused(&ctx, &who, &id, e),
    }
}

/// The page for a hold that could not be placed or released.
fn refused(ctx: &Ctx, who: &Acquirer<ToStart>, id: &str, e: HoldError) -> Result<Response, PageError> {
    let l = ctx.lang;
    let (status, text) = match e {
        HoldError::Store(s) => return Err(s.into()),
        HoldError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            l.t("There is no such receipt, or it is not held.", "没有这张签购单，或它未被保全。"),
        ),
        _ => (
            StatusCode::UNPROCESSABLE_ENTITY,
            l.t(
                "Give the dispute or case reference (1 to 200 characters).",
                "请填写争议或案件编号（1 至 200 个字符）。",
            ),
        ),
    };
    let body = html! {
        (notice("error", Some(text)))
        p { a href=(receipt_path(id)) { (l.t("Back to the receipt", "返回签购单")) } }
    };
    Ok(ctx.page(status, layout(ctx, &viewer(&who.account), l.t("Legal hold", "争议保全"), body)))
}
