//! A reset staff member's enrolment page (`/staff/enrol?token=…`, the link an administrator
//! passed on): they choose a new password, and the page shows their new authenticator secret,
//! to them alone and once. The link works once and for 24 hours.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::views::{csrf_field, layout, notice, Viewer};
use super::{CsrfForm, Ctx, PageError};
use crate::domain::credentials::AccountError;
use crate::services::staff_enrolment::{self, EnrolmentError};
use crate::web::state::SharedState;

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct EnrolForm {
    token: String,
    password: String,
    confirm: String,
}

fn title(ctx: &Ctx) -> &'static str {
    ctx.lang.t("Set up your sign-in", "设置登录凭据")
}

fn form(ctx: &Ctx, token: &str, username: &str, error: Option<&str>) -> maud::Markup {
    let l = ctx.lang;
    html! {
        (notice("error", error))
        p { (l.t("New credentials for", "新凭据：")) " " strong { (username) } }
        form.stack method="post" action="/staff/enrol" {
            (csrf_field(ctx))
            input type="hidden" name="token" value=(token);
            label { (l.t("New password (at least 12 characters)", "新密码（至少 12 个字符）"))
                input type="password" name="password" id="password" required minlength="12" autocomplete="new-password";
            }
            label { (l.t("The same again", "再次输入"))
                input type="password" name="confirm" id="confirm" required minlength="12" autocomplete="new-password";
            }
            button type="submit" id="enrol" { (l.t("Set password", "设置密码")) }
        }
    }
}

fn not_valid(ctx: &Ctx) -> Response {
    let l = ctx.lang;
    let msg = l.t(
        "This link is not valid: it was used, it expired or it never existed. Ask your administrator for a new one.",
        "此链接无效：已使用、已过期或不存在。请向管理员索取新链接。",
    );
    ctx.page(StatusCode::GONE, layout(ctx, &Viewer::Anonymous, title(ctx), notice("error", Some(msg))))
}

/// `GET /staff/enrol?token=…`.
pub async fn enrol_form(
    State(st): State<SharedState>,
    ctx: Ctx,
    Query(q): Query<LinkQuery>,
) -> Result<Response, PageError> {
    match staff_enrolment::holder(&st.store, &q.token, Utc::now()).await {
        Ok(username) => {
            let body = form(&ctx, &q.token, &username, None);
            Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, title(&ctx), body)))
        }
        Err(EnrolmentError::Store(e)) => Err(e.into()),
        Err(_) => Ok(not_valid(&ctx)),
    }
}

/// `POST /staff/enrol`: sets the password, shows the new TOTP secret once.
pub async fn enrol(
    State(st): State<SharedState>,
    ctx: Ctx,
    CsrfForm(f): CsrfForm<EnrolForm>,
) -> Result<Response, PageError> {
    let ctx = ctx.at("/staff/enrol");
    let l = ctx.lang;
    let username = match staff_enrolment::holder(&st.store, &f.token, Utc::now()).await {
        Ok(u) => u,
        Err(EnrolmentError::Store(e)) => return Err(e.into()),
        Err(_) => return Ok(not_valid(&ctx)),
    };
    if f.password != f.confirm {
        let body = form(&ctx, &f.token, &username, Some(l.t("The two passwords differ.", "两次输入的密码不一致。")));
        return Ok(ctx.page(StatusCode::BAD_REQUEST, layout(&ctx, &Viewer::Anonymous, title(&ctx), body)));
    }
    match staff_enrolment::enrol(&st.store, &st.keys, &f.token, f.password, Utc::now()).await {
        Ok(auth) => {
            tracing::info!(username = %auth.username, "staff member set new credentials with an enrolment link");
            let body = html! {
                p { (l.t("Your password is set. Add this secret to your authenticator app now: it is shown only this once.",
                         "密码已设置。请立即将此密钥添加到身份验证器应用：它只显示这一次。")) }
                p { (l.t("Secret", "密钥")) ": " code id="totp-secret" { (auth.totp_secret) } }
                p { (l.t("Or as a link", "或链接")) ": " code id="totp-uri" { (auth.totp_uri) } }
                p { a href="/staff/login" { (l.t("Sign in", "登录")) } }
            };
            Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, title(&ctx), body)))
        }
        Err(EnrolmentError::Account(AccountError::WeakPassword)) => {
            let msg = l.t("The password must have at least 12 characters.", "密码至少需要 12 个字符。");
            let body = form(&ctx, &f.token, &username, Some(msg));
            Ok(ctx.page(StatusCode::BAD_REQUEST, layout(&ctx, &Viewer::Anonymous, title(&ctx), body)))
        }
        Err(EnrolmentError::NotValid) => Ok(not_valid(&ctx)),
        Err(EnrolmentError::Store(e)) => Err(e.into()),
        Err(EnrolmentError::Account(e)) => {
            tracing::error!(error = %e, "staff enrolment failed");
            Err(PageError::Internal("staff enrolment"))
        }
    }
}
