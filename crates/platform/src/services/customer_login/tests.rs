//! Pull codes and held-back login codes against a real SQLite store: the code of a receipt
//! opens that receipt for its number only, wrong codes run into the number's daily cap, and a
//! login code to a number that had its texts this minute is refused with the rate-limit answer.

use std::sync::Arc;

use super::*;
use crate::domain::limits::SendLimits;
use crate::domain::pull_code::pull_code;
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::TlsMode;
use crate::services::delivery::tests::{channels, store_with_receipt};
use crate::services::links::{check_link_token, LinkToken};

const RECEIPT: &str = "T0000501-000001-000001";
const OTHER: &str = "T0000501-000001-000002";
const NUMBER: &str = "+8613800138000";
const KEY: &[u8] = b"test link key";

fn client() -> IpAddr {
    "192.0.2.7".parse().unwrap()
}

fn login(store: &Store) -> CustomerLogin<'_> {
    CustomerLogin { store, otp_key: b"otp key", link_key: KEY, texts: None }
}

fn phone(s: &str) -> PhoneNumber {
    s.parse().unwrap()
}

#[tokio::test]
async fn the_right_code_opens_that_receipt_and_only_through_its_own_link() {
    let (store, _dir, _) = store_with_receipt(("sms", NUMBER)).await;
    let code = pull_code(KEY, RECEIPT, NUMBER);
    let link =
        open_with_pull_code(&login(&store), &phone(NUMBER), RECEIPT, &code.to_lowercase(), client()).await.unwrap();
    let token = link.strip_prefix(&format!("/r/{RECEIPT}?k=")).expect(&link);
    let now = Utc::now().timestamp_millis();
    assert_eq!(check_link_token(KEY, RECEIPT, token, now), LinkToken::Valid);
    assert_eq!(check_link_token(KEY, OTHER, token, now), LinkToken::Invalid, "the link opens no other receipt");
}

#[tokio::test]
async fn the_code_of_one_receipt_opens_no_other_and_not_for_another_number() {
    let (store, _dir, _) = store_with_receipt(("sms", NUMBER)).await;
    let code_a = pull_code(KEY, RECEIPT, NUMBER);
    let refused = open_with_pull_code(&login(&store), &phone(NUMBER), OTHER, &code_a, client()).await.unwrap_err();
    assert_eq!((refused.kind, refused.code), (LoginRefusal::BadCode, "wrong_code"));
    let other_number = "+8613900139000";
    let refused =
        open_with_pull_code(&login(&store), &phone(other_number), RECEIPT, &code_a, client()).await.unwrap_err();
    assert_eq!((refused.kind, refused.code), (LoginRefusal::BadCode, "wrong_code"));
    let refused = open_with_pull_code(&login(&store), &phone(NUMBER), RECEIPT, "K7M2-0", client()).await.unwrap_err();
    assert_eq!(refused.code, "malformed");
}

#[tokio::test]
async fn wrong_pull_codes_count_against_the_numbers_daily_cap() {
    let (store, _dir, _) = store_with_receipt(("sms", NUMBER)).await;
    let right = pull_code(KEY, RECEIPT, NUMBER);
    let wrong = if right == "22222222" { "33333333" } else { "22222222" };
    for i in 0..LOGINS_PER_NUMBER.max {
        let r = open_with_pull_code(&login(&store), &phone(NUMBER), RECEIPT, wrong, client()).await.unwrap_err();
        assert_eq!(r.code, "wrong_code", "try {i}");
    }
    let r = open_with_pull_code(&login(&store), &phone(NUMBER), RECEIPT, &right, client()).await.unwrap_err();
    assert_eq!((r.kind, r.code), (LoginRefusal::Locked, "too_many_tries"), "even the right code waits");
    // The cap is the one SMS code logins count against.
    let r = check_login_code(&login(&store), &phone(NUMBER), "123456", client()).await.unwrap_err();
    assert_eq!(r.code, "too_many_tries");
}

#[tokio::test]
async fn a_login_code_to_a_number_that_had_its_texts_this_minute_is_refused() {
    let (store, dir, _) = store_with_receipt(("sms", NUMBER)).await;
    let mut ch = channels(&settings(25, TlsMode::None), dir.path());
    ch.send_limits = SendLimits::default();
    let texts = CodeTexts::new(Arc::new(ch));
    let now = Utc::now().timestamp_millis();
    // Three receipt texts went to the number, as the delivery worker counts them.
    for _ in 0..3 {
        for (limit, _) in SendLimits::default().limits() {
            assert_eq!(store.count_event(limit, NUMBER, now).await.unwrap(), Counted::Allowed);
        }
    }
    let login = CustomerLogin { store: &store, otp_key: b"otp key", link_key: KEY, texts: Some(&texts) };
    match send_login_code(&login, &phone(NUMBER), client()).await {
        Err(CodeRefused::RateLimited(secs)) => assert!((1..=60).contains(&secs), "{secs}"),
        other => panic!("expected the rate-limit answer, got {other:?}"),
    }
    assert!(send_login_code(&login, &phone("+8613900139000"), client()).await.is_ok(), "another number is not held");
}
