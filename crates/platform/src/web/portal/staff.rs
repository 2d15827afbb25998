//! Staff sign-in pages (merchant users and the acquirer): username, Argon2id password and a TOTP
//! code on one form, checked by `services::staff_login`; one answer for every refusal.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::views::{csrf_field, layout, notice, Viewer};
use super::{see_other, session_subject, CsrfForm, Ctx, Lang, PageError};
use crate::domain::credentials::Role;
use crate::domain::limits::{network_of, SIGN_INS_PER_NETWORK};
use crate::infra::store::{AccountRow, Counted};
use crate::infra::tls::Peer;
use crate::services::staff_login::{sign_in, SignIn};
use crate::web::state::SharedState;

use crate::web::support::session::STAFF as KIND;
use crate::web::support::{NoFields, STAFF_COOKIE};

/// The signed-in staff member, if any (a disabled account is signed out at once).
pub(crate) async fn signed_in(st: &SharedState, headers: &HeaderMap) -> Result<Option<AccountRow>, PageError> {
    let Some(username) = session_subject(st, headers, STAFF_COOKIE, KIND).await? else { return Ok(None) };
    Ok(st.store.account(&username).await?.filter(|a| a.disabled_at.is_none()))
}

/// Where a role starts.
fn home_of(role: &Role) -> &'static str {
    match role {
        Role::Merchant { .. } => "/merchant/receipts",
        Role::Acquirer => "/acquirer",
    }
}

/// The header's view of a staff member.
pub(crate) fn viewer(a: &AccountRow) -> Viewer {
    Viewer::Staff(a.username.clone(), a.role.name())
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

fn form(ctx: &Ctx, next: &str, username: &str, error: Option<&str>) -> maud::Markup {
    let l = ctx.lang;
    html! {
        (notice("error", error))
        form.stack method="post" action="/staff/login" {
            (csrf_field(ctx))
            input type="hidden" name="next" value=(next);
            label { (l.t("Username", "用户名"))
                input type="text" name="username" id="username" required autocomplete="username" autocapitalize="none" value=(username);
            }
            label { (l.t("Password", "密码"))
                input type="password" name="password" id="password" required autocomplete="current-password";
            }
            label { (l.t("Authenticator code", "动态口令"))
                input type="text" name="code" id="totp" required inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code";
            }
            button type="submit" id="sign-in" { (l.t("Sign in", "登录")) }
        }
    }
}

/// `GET /staff/login`.
pub async fn login_form(
    State(st): State<SharedState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    if let Some(a) = signed_in(&st, &headers).await? {
        return Ok(Redirect::to(home_of(&a.role)).into_response());
    }
    let next = crate::web::support::safe_next(q.next.as_deref(), "");
    let title = ctx.lang.t("Staff sign-in", "员工登录");
    Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, title, form(&ctx, &next, "", None))))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /staff/login`. Counted per network first (shared by every process); then every
/// refusal is one answer ([`crate::services::staff_login::sign_in`]).
pub async fn login(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let next = crate::web::support::safe_next(Some(&f.next), "");
    let title = l.t("Staff sign-in", "员工登录");
    let now = Utc::now();
    let client = crate::web::support::client_ip(&st, peer, &headers);
    let network = network_of(client);
    if let Counted::Limited { retry_after_ms } =
        st.store.count_event(SIGN_INS_PER_NETWORK, &network, now.timestamp_millis()).await?
    {
        let secs = (retry_after_ms + 999) / 1000;
        let msg = match l {
            Lang::En => format!("Too many sign-in attempts from this address; try again in {secs} s."),
            Lang::Zh => format!("此地址登录尝试过多，请 {secs} 秒后再试。"),
        };
        let body = form(&ctx, &next, f.username.trim(), Some(&msg));
        let mut r = ctx.page(StatusCode::TOO_MANY_REQUESTS, layout(&ctx, &Viewer::Anonymous, title, body));
        crate::web::support::retry_after(&mut r, secs);
        return Ok(r);
    }
    let login = SignIn { store: &st.store, totp_key: &st.keys.totp_key, gate: &st.password_gate };
    match sign_in(&login, &f.username, &f.password, &f.code, now).await? {
        Some(account) => {
            let session = super::new_session(&st, STAFF_COOKIE, KIND, &account.username, &headers).await?;
            let to = if next.is_empty() { home_of(&account.role).to_owned() } else { next };
            Ok(see_other(&to, [session]))
        }
        None => {
            let msg = l.t("Wrong username, password or code.", "用户名、密码或动态口令错误。");
            let body = form(&ctx, &next, f.username.trim(), Some(msg));
            Ok(ctx.page(StatusCode::UNAUTHORIZED, layout(&ctx, &Viewer::Anonymous, title, body)))
        }
    }
}

/// `POST /staff/logout`.
pub async fn logout(
    State(st): State<SharedState>,
    headers: HeaderMap,
    _: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let gone = super::end_session(&st, STAFF_COOKIE, &headers).await?;
    Ok(see_other("/staff/login", gone))
}
