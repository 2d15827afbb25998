//! The portal's guards as extractors: each role's session (customer, merchant staff, acquirer)
//! with how a visitor without one is answered, and the [`Signed`] viewer with their receipt
//! scope that the shared receipt handlers take.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::staff::{signed_in, viewer};
use super::views::{urlencode, Viewer};
use crate::domain::credentials::Role;
use crate::infra::store::{AccountRow, StoreError};
use crate::web::state::SharedState;
use crate::web::support::{Customer, Door, PageError, ReceiptScope, SignedOut};

/// Staff sign in on one page and start on their role's.
const MERCHANT_DOOR: Door = Door { login: "/staff/login", start: "/merchant/receipts" };
const ACQUIRER_DOOR: Door = Door { login: "/staff/login", start: "/acquirer" };

/// A page: to the login page, coming back here afterwards.
pub(crate) struct ToLogin;
/// A file of staff (image, CSV, bundle): to the login page, then to the role's start page.
pub(crate) struct ToStart;
/// A customer's image: a bare 401, as the pull API answers.
pub(crate) struct Refused;

fn login_redirect(door: Door, next: &str) -> Response {
    Redirect::to(&format!("{}?next={}", door.login, urlencode(next))).into_response()
}

impl SignedOut for ToLogin {
    fn answer(door: Door, here: &str, _: bool) -> Response {
        login_redirect(door, here)
    }
    fn failed(e: StoreError) -> Response {
        PageError::from(e).into_response()
    }
}

impl SignedOut for ToStart {
    fn answer(door: Door, _: &str, _: bool) -> Response {
        login_redirect(door, door.start)
    }
    fn failed(e: StoreError) -> Response {
        PageError::from(e).into_response()
    }
}

impl SignedOut for Refused {
    fn answer(_: Door, _: &str, _: bool) -> Response {
        StatusCode::UNAUTHORIZED.into_response()
    }
    fn failed(e: StoreError) -> Response {
        PageError::from(e).into_response()
    }
}

/// The signed-in staff member whose role `pick` accepts; another role is 403.
async fn staff<E: SignedOut, T>(
    parts: &Parts,
    st: &SharedState,
    door: Door,
    pick: impl FnOnce(&AccountRow) -> Option<T>,
) -> Result<(AccountRow, T), Response> {
    let account = match signed_in(st, &parts.headers).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(E::answer(door, parts.uri.path(), false)),
        Err(e) => return Err(e.into_response()),
    };
    match pick(&account) {
        Some(t) => Ok((account, t)),
        None => Err(StatusCode::FORBIDDEN.into_response()),
    }
}

/// A signed-in merchant user and their merchant id.
pub(crate) struct Merchant<E> {
    pub(crate) account: AccountRow,
    pub(crate) merchant_id: String,
    _signed_out: PhantomData<fn() -> E>,
}

impl<E: SignedOut> FromRequestParts<SharedState> for Merchant<E> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, Response> {
        let pick = |a: &AccountRow| match &a.role {
            Role::Merchant { merchant_id } => Some(merchant_id.clone()),
            Role::Acquirer => None,
        };
        let (account, merchant_id) = staff::<E, _>(parts, st, MERCHANT_DOOR, pick).await?;
        Ok(Merchant { account, merchant_id, _signed_out: PhantomData })
    }
}

/// The signed-in acquirer.
pub(crate) struct Acquirer<E> {
    pub(crate) account: AccountRow,
    _signed_out: PhantomData<fn() -> E>,
}

impl<E: SignedOut> FromRequestParts<SharedState> for Acquirer<E> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, Response> {
        let pick = |a: &AccountRow| matches!(a.role, Role::Acquirer).then_some(());
        let (account, ()) = staff::<E, _>(parts, st, ACQUIRER_DOOR, pick).await?;
        Ok(Acquirer { account, _signed_out: PhantomData })
    }
}

/// Whoever a role's session says is looking: the header's view of them, the receipts they may
/// see, and a name for the log.
pub(crate) struct Signed {
    pub(crate) viewer: Viewer,
    pub(crate) scope: ReceiptScope,
    pub(crate) name: String,
}

impl<E> From<Customer<E>> for Signed {
    fn from(c: Customer<E>) -> Self {
        let phone = c.phone().to_owned();
        Signed { viewer: Viewer::Customer(phone.clone()), scope: ReceiptScope::Phone(phone.clone()), name: phone }
    }
}

impl<E> From<Merchant<E>> for Signed {
    fn from(m: Merchant<E>) -> Self {
        let name = m.account.username.clone();
        Signed { viewer: viewer(&m.account), scope: ReceiptScope::Merchant(m.merchant_id), name }
    }
}

impl<E> From<Acquirer<E>> for Signed {
    fn from(a: Acquirer<E>) -> Self {
        Signed { viewer: viewer(&a.account), scope: ReceiptScope::Any, name: a.account.username }
    }
}
