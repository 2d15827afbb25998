//! What both web edges share: cookies, language, CSRF, sessions (and their extractors), receipt
//! scopes, page errors and busy answers, the client's address.

pub(crate) mod client;
pub(crate) mod cookies;
pub(crate) mod csrf;
pub(crate) mod error;
pub(crate) mod json;
pub(crate) mod lang;
pub(crate) mod scope;
pub(crate) mod session;

pub(crate) use client::{client_ip, network_limited};
pub(crate) use cookies::{cookie, cookie_header, CSRF_COOKIE, CUSTOMER_COOKIE, STAFF_COOKIE};
pub(crate) use csrf::{check_post, csrf_token, origin_is_this_site, session_cookies, CsrfForm, NoFields};
pub(crate) use error::{busy_status, login_status, retry_after, PageError};
pub(crate) use lang::Lang;
pub(crate) use scope::ReceiptScope;
pub(crate) use session::{end_session, new_session, safe_next, see_other, session_subject, Customer, Door, SignedOut};
