//! The customer's pages (P3): ask for a code by SMS, log in with it, list, view, download and
//! verify every receipt sent to that number (the receipt pages are `portal::receipts`, shared
//! with the other roles); and the public "check a receipt" upload.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use ereceipt_core::model::PhoneNumber;
use maud::html;
use serde::Deserialize;

use super::guards::ToLogin;
use super::views::{self, csrf_field, layout, notice, DeliveryDetail, DetailPage, DownloadQuery, Viewer};
use super::{check_post, see_other, session_subject, CsrfForm, Ctx, Lang, PageError};
use crate::infra::tls::Peer;
use crate::services::customer_login::{check_login_code, send_login_code, CodeRefused};
use crate::services::links::{check_link_token, LinkToken};
use crate::web::state::SharedState;
use crate::web::support::session::CUSTOMER as KIND;
use crate::web::support::{login_status, Customer, NoFields, CUSTOMER_COOKIE};

/// Largest image the public verification page takes.
pub(crate) const MAX_VERIFY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

fn phone_form(ctx: &Ctx, next: &str, phone: &str, error: Option<&str>) -> maud::Markup {
    let l = ctx.lang;
    html! {
        (notice("error", error))
        form.stack method="post" action="/pull/code" {
            (csrf_field(ctx))
            input type="hidden" name="next" value=(next);
            label { (l.t("Mobile number (with country code)", "手机号码（含国家代码）"))
                input type="tel" name="phone" id="phone" required autocomplete="tel" value=(phone) placeholder="+8613800138000";
            }
            button type="submit" id="send-code" { (l.t("Text me a code", "获取短信验证码")) }
        }
        p.small { (l.t("We text a six-digit code, valid for 10 minutes, to numbers that have receipts.",
                        "若该号码有签购单，我们将发送六位验证码，10 分钟内有效。")) }
        p { a href="/pull/receipt" id="pull-code-link" { (l.t("Have a pull code (提取码) from a receipt SMS?", "已有签购单短信中的提取码？")) } }
    }
}

fn code_form(ctx: &Ctx, next: &str, phone: &str, error: Option<&str>) -> maud::Markup {
    let l = ctx.lang;
    html! {
        @if error.is_none() {
            (notice("info", Some(l.t("If receipts were sent to this number, a code is on its way.",
                                     "若该号码有签购单，验证码已发送。"))))
        }
        (notice("error", error))
        form.stack method="post" action="/pull/login" {
            (csrf_field(ctx))
            input type="hidden" name="next" value=(next);
            input type="hidden" name="phone" value=(phone);
            p { (l.t("Code sent to ", "验证码已发送至 ")) strong { (phone) } }
            label { (l.t("Six-digit code", "六位验证码"))
                input type="text" name="code" id="code" required inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code";
            }
            button type="submit" id="login" { (l.t("Log in", "登录")) }
        }
        p { a href={ "/pull?next=" (views::urlencode(next)) } { (l.t("Use another number or get a new code", "更换号码或重新获取验证码")) } }
    }
}

/// `GET /pull`: the phone form, or the receipts when already logged in.
pub async fn start(
    State(st): State<SharedState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = crate::web::support::safe_next(q.next.as_deref(), "/pull/receipts");
    if session_subject(&st, &headers, CUSTOMER_COOKIE, KIND).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let title = ctx.lang.t("My receipts", "我的签购单");
    Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, title, phone_form(&ctx, &next, "", None))))
}

#[derive(Deserialize)]
pub struct CodeForm {
    phone: String,
    #[serde(default)]
    next: String,
}

/// The phone form again, naming what is wrong with the number typed.
fn phone_refused(ctx: &Ctx, next: &str, typed: &str, error: &str) -> Response {
    let body = phone_form(ctx, next, typed, Some(error));
    let title = ctx.lang.t("My receipts", "我的签购单");
    ctx.page(StatusCode::UNPROCESSABLE_ENTITY, layout(ctx, &Viewer::Anonymous, title, body))
}

fn parse_phone(l: Lang, s: &str) -> Result<PhoneNumber, String> {
    s.trim().parse::<PhoneNumber>().map_err(|e| match l {
        Lang::En => e.to_string(),
        Lang::Zh => format!("手机号码格式不正确（例如 +8613800138000）：{e}"),
    })
}

/// `POST /pull/code`: texts a code, then shows the code form.
pub async fn send_code(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let ctx = ctx.at("/pull");
    let l = ctx.lang;
    let title = l.t("My receipts", "我的签购单");
    let next = crate::web::support::safe_next(Some(&f.next), "/pull/receipts");
    let phone = match parse_phone(l, &f.phone) {
        Ok(p) => p,
        Err(e) => return Ok(phone_refused(&ctx, &next, &f.phone, &e)),
    };
    let client = crate::web::support::client_ip(&st, peer, &headers);
    match send_login_code(&st.customer_login(), &phone, client).await {
        Ok(()) => {
            let body = code_form(&ctx, &next, phone.as_str(), None);
            Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, title, body)))
        }
        Err(e) => {
            let status = match e {
                CodeRefused::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let body = phone_form(&ctx, &next, phone.as_str(), Some(&l.pick(e.text())));
            Ok(ctx.page(status, layout(&ctx, &Viewer::Anonymous, title, body)))
        }
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    phone: String,
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /pull/login`: checks the code; on success a fresh session and on to the receipts.
pub async fn login(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    CsrfForm(f): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let ctx = ctx.at("/pull");
    let l = ctx.lang;
    let title = l.t("My receipts", "我的签购单");
    let next = crate::web::support::safe_next(Some(&f.next), "/pull/receipts");
    let phone = match parse_phone(l, &f.phone) {
        Ok(p) => p,
        Err(e) => return Ok(phone_refused(&ctx, &next, &f.phone, &e)),
    };
    let client = crate::web::support::client_ip(&st, peer, &headers);
    if let Err(r) = check_login_code(&st.customer_login(), &phone, &f.code, client).await {
        let msg = l.pick((r.en, r.zh));
        let body = code_form(&ctx, &next, phone.as_str(), Some(&msg));
        return Ok(ctx.page(login_status(r.kind), layout(&ctx, &Viewer::Anonymous, title, body)));
    }
    let session = super::new_session(&st, CUSTOMER_COOKIE, KIND, phone.as_str(), &headers).await?;
    Ok(see_other(&next, [session]))
}

/// `POST /pull/logout`.
pub async fn logout(
    State(st): State<SharedState>,
    headers: HeaderMap,
    _: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    let gone = super::end_session(&st, CUSTOMER_COOKIE, &headers).await?;
    Ok(see_other("/pull", gone))
}

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    k: Option<String>,
}

/// `GET /r/{id}?k=TOKEN`: the link in messages. With the receipt's token: that receipt, verified,
/// for whoever holds the message (the customer it was sent to, whatever the channel). Without a
/// valid token: the customer's own receipt after the code login.
pub async fn short_link(
    State(st): State<SharedState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let own_page = format!("/pull/receipts/{}", views::urlencode(&id));
    let Some(token) = q.k.as_deref() else { return Ok(Redirect::to(&own_page).into_response()) };
    let ctx = ctx.at(&format!("/r/{}?k={token}", views::urlencode(&id)));
    let now = Utc::now().timestamp_millis();
    let stored = match check_link_token(&st.keys.link_key, &id, token, now) {
        LinkToken::Valid => st.store.receipt(&id).await?,
        // An expired link still leads to the receipt, through the code login.
        LinkToken::Expired => return Ok(Redirect::to(&own_page).into_response()),
        LinkToken::Invalid => None,
    };
    let Some(r) = stored else { return Ok(views::not_found(&ctx, &Viewer::Anonymous)) };
    let l = ctx.lang;
    let more = html! {
        p { a href={ "/pull?next=" (views::urlencode(&own_page)) } { (l.t("All receipts sent to my phone", "查看发送到我手机的全部签购单")) } }
    };
    let page = DetailPage {
        ctx: &ctx,
        viewer: &Viewer::Anonymous,
        image_url: format!("/r/{}/png?k={token}", views::urlencode(&id)),
        detail: DeliveryDetail::StateOnly,
        extra: more,
        title: &r.merchant_name,
    };
    views::detail_page(&st, &r, page).await
}

/// `GET /r/{id}/png?k=TOKEN[&download=1][&format=pdf]`: the image behind a message's link.
pub async fn short_link_image(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, PageError> {
    let now = Utc::now().timestamp_millis();
    let ok = q.k.as_deref().is_some_and(|k| check_link_token(&st.keys.link_key, &id, k, now) == LinkToken::Valid);
    if !ok {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    views::stored_image(&st, &id, &q).await
}

/// `GET /pull/receipts`.
pub async fn list(who: Customer<ToLogin>, State(st): State<SharedState>, ctx: Ctx) -> Result<Response, PageError> {
    let phone = who.phone().to_owned();
    let items = st.store.receipts_for_phone(&phone).await?;
    let body =
        views::receipt_table(ctx.lang, &items, |r| format!("/pull/receipts/{}", views::urlencode(&r.receipt_id)));
    let title = ctx.lang.t("My receipts", "我的签购单");
    Ok(ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Customer(phone), title, body)))
}

fn verify_page(ctx: &Ctx, viewer: &Viewer, status: StatusCode, result: maud::Markup) -> Response {
    let l = ctx.lang;
    let body = html! {
        (result)
        form.stack method="post" action="/verify" enctype="multipart/form-data" {
            (csrf_field(ctx))
            label { (l.t("Receipt image (PNG or JPEG)", "签购单图片（PNG 或 JPEG）"))
                input type="file" name="image" id="image" accept="image/png,image/jpeg" required;
            }
            button type="submit" id="verify" { (l.t("Check", "验证")) }
        }
        p.small { (l.t("The image is checked against this platform's certificate authority and revocation list; it is not stored.",
                        "图片将依据本平台的证书机构和吊销列表验证，不会被保存。")) }
    };
    ctx.page(status, layout(ctx, viewer, l.t("Check a receipt", "验证签购单"), body))
}

/// `GET /verify`: upload an image to check it.
pub async fn verify_form(ctx: Ctx) -> Response {
    verify_page(&ctx, &Viewer::Anonymous, StatusCode::OK, html! {})
}

/// `POST /verify`: the verdict on the uploaded image.
pub async fn verify_upload(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    ctx: Ctx,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let client = crate::web::support::client_ip(&st, peer, &headers);
    let limit = crate::domain::limits::VERIFIES_PER_NETWORK;
    if let Some(secs) = crate::web::support::network_limited(&st, limit, client).await? {
        let text = match l {
            Lang::En => format!("Too many checks from this address; try again in {secs} s."),
            Lang::Zh => format!("此地址验证次数过多，请 {secs} 秒后再试。"),
        };
        return Ok(verify_page(&ctx, &Viewer::Anonymous, StatusCode::TOO_MANY_REQUESTS, notice("error", Some(&text))));
    }
    let (mut csrf, mut image) = (String::new(), None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(b) if name == "csrf" => csrf = String::from_utf8_lossy(&b).into_owned(),
                    Ok(b) if name == "image" => image = Some(b.to_vec()),
                    Ok(_) => {}
                    Err(e) => return Ok(upload_error(&ctx, l, e.status(), &e.body_text())),
                }
            }
            Ok(None) => break,
            Err(e) => return Ok(upload_error(&ctx, l, e.status(), &e.body_text())),
        }
    }
    check_post(&st, &headers, &csrf)?;
    let Some(image) = image.filter(|i| !i.is_empty()) else {
        return Ok(upload_error(
            &ctx,
            l,
            StatusCode::UNPROCESSABLE_ENTITY,
            l.t("choose an image file", "请选择图片文件"),
        ));
    };
    let _permit = match st.verify_gate.try_enter(client) {
        Ok(p) => p,
        Err(busy) => {
            let text = match (l, busy) {
                (Lang::En, _) => format!("{busy}; try again in a second."),
                (Lang::Zh, crate::services::verification::gate::Busy::Client(_)) => {
                    "此地址正在进行的验证过多，请稍后再试。".to_owned()
                }
                (Lang::Zh, crate::services::verification::gate::Busy::Platform(_)) => {
                    "平台正忙于验证，请稍后再试。".to_owned()
                }
            };
            let status = crate::web::support::busy_status(&busy);
            let mut page = verify_page(&ctx, &Viewer::Anonymous, status, notice("error", Some(&text)));
            crate::web::support::retry_after(&mut page, 1);
            return Ok(page);
        }
    };
    // The picture needs the image once more; it is drawn in memory and sent in the page.
    let online = crate::services::verification::verify(&st.store, &st.keys.ca.cert_der, image.clone()).await?;
    let v = &online.verification;
    let picture = super::picture::data_url(image, v).await;
    let result = html! {
        (views::verdict(l, v))
        (views::platform_record(l, &online.platform))
        @if let Some(r) = &v.receipt {
            dl {
                dt { (l.t("Merchant", "商户")) } dd { (r.merchant_name) }
                dt { (l.t("Amount", "金额")) } dd { (summary_amount(r)) }
                dt { (l.t("Time", "时间")) } dd { (summary_time(r)) }
                dt { (l.t("Terminal", "终端")) } dd { (r.terminal_id) }
                dt { "RRN" } dd { (r.rrn) }
            }
        }
        @if let Some(url) = &picture { (views::verdict_picture(l, url)) }
    };
    let mut page = verify_page(&ctx, &Viewer::Anonymous, StatusCode::OK, result);
    if picture.is_some() {
        super::picture::allow_picture(&mut page);
    }
    Ok(page)
}

fn upload_error(ctx: &Ctx, l: Lang, status: StatusCode, what: &str) -> Response {
    let text = format!(
        "{}{what} ({} {} MiB)",
        l.t("The upload was refused: ", "上传被拒绝："),
        l.t("largest image:", "图片上限"),
        MAX_VERIFY_BYTES / (1024 * 1024)
    );
    verify_page(ctx, &Viewer::Anonymous, status, notice("error", Some(&text)))
}

/// The amount of a checked receipt as the portal writes amounts (the summary keeps it in parts,
/// as `ereceipt verify --json` prints it).
/// The signed time as the portal writes times (the terminal's wall clock and offset); the
/// summary carries it as RFC 3339.
fn summary_time(r: &ereceipt_core::verify::ReceiptSummary) -> String {
    r.time.parse().map_or_else(|_| r.time.clone(), views::local_time)
}

fn summary_amount(r: &ereceipt_core::verify::ReceiptSummary) -> String {
    let money = r.currency.parse().ok().and_then(|c| ereceipt_core::model::Money::new(r.amount_minor, c).ok());
    money.map_or_else(|| format!("{} {}", r.amount_minor, r.currency), views::money)
}
