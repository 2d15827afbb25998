//! Staff sign-in (merchant users and the acquirer): username, Argon2id password and a TOTP code
//! on one form; ten failures lock the account for thirty minutes; the same answer for an unknown
//! user as for a wrong password.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use maud::html;
use serde::Deserialize;

use super::views::{csrf_field, instant, layout, notice, Viewer};
use super::{see_other, session_subject, CsrfForm, Ctx, Lang, PageError};
use crate::domain::credentials::{self, Role};
use crate::infra::store::AccountRow;
use crate::infra::tls::Peer;
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

/// Why a sign-in failed, as the visitor is told.
enum Refused {
    /// Wrong username, password or code (never says which).
    Wrong,
    /// Locked until this instant (Unix ms).
    Locked(i64),
}

/// Checks the credentials; counts a failure against a known account.
async fn authenticate(st: &SharedState, f: &LoginForm) -> Result<Result<AccountRow, Refused>, PageError> {
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let username = f.username.trim().to_ascii_lowercase();
    let account = st.store.account(&username).await?;
    let Some(account) = account.filter(|a| a.disabled_at.is_none()) else {
        // Spend the same time as for a real account, so timing does not tell who exists.
        let password = f.password.clone();
        let _ = tokio::task::spawn_blocking(move || credentials::verify_password(credentials::dummy_hash(), &password))
            .await;
        return Ok(Err(Refused::Wrong));
    };
    if account.locked_until > now_ms {
        return Ok(Err(Refused::Locked(account.locked_until)));
    }
    let (phc, password) = (account.password_hash.clone(), f.password.clone());
    let password_ok =
        tokio::task::spawn_blocking(move || credentials::verify_password(&phc, &password)).await.unwrap_or(false);
    let secret = credentials::open_secret(&st.keys.otp_key, &account.username, &account.totp_sealed);
    let step = match secret {
        Ok(secret) => credentials::check_totp(
            &secret,
            f.code.trim(),
            u64::try_from(now.timestamp()).unwrap_or(0),
            account.totp_last_step,
        )
        .unwrap_or(None),
        Err(e) => {
            tracing::error!(username = %account.username, error = %e, "cannot open the TOTP secret");
            None
        }
    };
    if let (true, Some(step)) = (password_ok, step) {
        if st.store.login_succeeded(&account.username, step, now_ms).await? {
            return Ok(Ok(account));
        }
    }
    let locked_until = st.store.login_failed(&account.username, now_ms).await?;
    tracing::warn!(username = %account.username, locked = locked_until > 0, "staff sign-in failed");
    Ok(Err(if locked_until > 0 { Refused::Locked(locked_until) } else { Refused::Wrong }))
}

/// `POST /staff/login`.
pub async fn login(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let next = crate::web::support::safe_next(Some(&f.next), "");
    if let Err(secs) = st.sign_in_limit.check(peer.ip(), std::time::Instant::now()) {
        let msg = match l {
            Lang::En => format!("Too many sign-in attempts from this address; try again in {secs} s."),
            Lang::Zh => format!("此地址登录尝试过多，请 {secs} 秒后再试。"),
        };
        let body = form(&ctx, &next, f.username.trim(), Some(&msg));
        return Ok(ctx.page(
            StatusCode::TOO_MANY_REQUESTS,
            layout(&ctx, &Viewer::Anonymous, l.t("Staff sign-in", "员工登录"), body),
        ));
    }
    match authenticate(&st, &f).await? {
        Ok(account) => {
            let session = super::new_session(&st, STAFF_COOKIE, KIND, &account.username, &headers).await?;
            let to = if next.is_empty() { home_of(&account.role).to_owned() } else { next };
            Ok(see_other(&to, [session]))
        }
        Err(refused) => {
            let (status, msg) = match refused {
                Refused::Wrong => (
                    StatusCode::UNAUTHORIZED,
                    l.t("Wrong username, password or code.", "用户名、密码或动态口令错误。").to_owned(),
                ),
                Refused::Locked(until) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    match l {
                        Lang::En => {
                            format!("Too many failed sign-ins: the account is locked until {}.", instant(until))
                        }
                        Lang::Zh => format!("登录失败次数过多，账户已锁定至 {}。", instant(until)),
                    },
                ),
            };
            let title = l.t("Staff sign-in", "员工登录");
            let body = form(&ctx, &next, f.username.trim(), Some(&msg));
            Ok(ctx.page(status, layout(&ctx, &Viewer::Anonymous, title, body)))
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
