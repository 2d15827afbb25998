//! The portal's pull-code page (P3): a link-free SMS names its receipt and carries a pull code;
//! with the number it went to, the code opens that one receipt (on to the receipt's own link
//! page), never a session over the number's other receipts.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use ereceipt_core::model::PhoneNumber;
use maud::html;
use serde::Deserialize;

use super::views::{csrf_field, layout, notice, Viewer};
use super::{see_other, CsrfForm, Ctx, PageError};
use crate::infra::tls::Peer;
use crate::services::customer_login::open_with_pull_code;
use crate::web::state::SharedState;
use crate::web::support::login_status;

/// What the form had when it comes back with an error.
#[derive(Deserialize, Default)]
pub struct PullCodeForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    receipt_id: String,
    #[serde(default)]
    code: String,
}

fn form(ctx: &Ctx, typed: &PullCodeForm, error: Option<&str>) -> maud::Markup {
    let l = ctx.lang;
    html! {
        (notice("error", error))
        form.stack method="post" action="/pull/receipt" {
            (csrf_field(ctx))
            label { (l.t("Mobile number the SMS went to (with country code)", "接收短信的手机号码（含国家代码）"))
                input type="tel" name="phone" id="phone" required autocomplete="tel" value=(typed.phone) placeholder="+8613800138000";
            }
            label { (l.t("Receipt number (单号 in the SMS)", "单号"))
                input type="text" name="receipt_id" id="receipt_id" required maxlength="64" value=(typed.receipt_id);
            }
            label { (l.t("Pull code (提取码 in the SMS)", "提取码"))
                input type="text" name="code" id="pull_code" required maxlength="12" autocomplete="off" autocapitalize="characters";
            }
            button type="submit" id="open-receipt" { (l.t("Open the receipt", "查看签购单")) }
        }
        p.small { (l.t("The code opens the one receipt its SMS was about. To see all receipts of your number, log in with a code by SMS.",
                        "提取码只能查看对应短信中的这一张签购单。如需查看该号码的全部签购单，请用短信验证码登录。")) }
        p { a href="/pull" { (l.t("Log in with a code by SMS", "短信验证码登录")) } }
    }
}

fn page(ctx: &Ctx, status: StatusCode, typed: &PullCodeForm, error: Option<&str>) -> Response {
    let title = ctx.lang.t("Open a receipt with its pull code", "凭提取码查看签购单");
    ctx.page(status, layout(ctx, &Viewer::Anonymous, title, form(ctx, typed, error)))
}

/// `GET /pull/receipt`: the form.
pub async fn start(ctx: Ctx) -> Response {
    page(&ctx, StatusCode::OK, &PullCodeForm::default(), None)
}

/// `POST /pull/receipt`: checks the code; on to the receipt's link page when right.
pub async fn open(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<PullCodeForm>,
) -> Result<Response, PageError> {
    let ctx = ctx.at("/pull/receipt");
    let l = ctx.lang;
    let phone: PhoneNumber = match f.phone.trim().parse() {
        Ok(p) => p,
        Err(e) => {
            let msg = l.pick((format!("{e}"), format!("手机号码格式不正确（例如 +8613800138000）：{e}")));
            return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, &f, Some(&msg)));
        }
    };
    let client = crate::web::support::client_ip(&st, peer, &headers);
    match open_with_pull_code(&st.customer_login(), &phone, &f.receipt_id, &f.code, client).await {
        Ok(link) => Ok(see_other(&link, [])),
        Err(r) => {
            let msg = l.pick((r.en, r.zh));
            Ok(page(&ctx, login_status(r.kind), &f, Some(&msg)))
        }
    }
}
