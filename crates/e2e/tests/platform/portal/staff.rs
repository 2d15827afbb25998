//! Staff in the portal: password + TOTP sign-in and lockout, merchants confined to their own
//! receipts with search and CSV export, the acquirer's RRN search and retrieval bundle.

use std::io::Read;

use ereceipt_core::digest::sha256;
use ereceipt_platform::domain::credentials::totp_code;

use super::{upload_all, Db, TestPlatform};
use crate::web::{Page, Web};

/// TOTP codes as an authenticator app shows them. A code works once, so after a sign-in the
/// next code is that of a later step (one step ahead is still accepted): no waiting 30 s.
pub struct Authenticator {
    secret: Vec<u8>,
    /// The step of the last code the platform accepted.
    accepted: u64,
    /// The step of the last code handed out.
    shown: u64,
}

impl Authenticator {
    pub fn code(&mut self) -> String {
        let now = chrono::Utc::now().timestamp() as u64 / 30;
        self.shown = (self.accepted + 1).max(now.saturating_sub(1));
        totp_code(&self.secret, self.shown * 30).unwrap()
    }

    /// A code that no step near now has: a fixed guess such as 000000 is the right code once
    /// in about 333,000 runs (three steps are accepted), which CI met.
    pub fn wrong_code(&self) -> String {
        let now = chrono::Utc::now().timestamp() as u64 / 30;
        let near: Vec<String> =
            (now.saturating_sub(3)..=now + 3).map(|step| totp_code(&self.secret, step * 30).unwrap()).collect();
        (0..10u8).map(|d| char::from(b'0' + d).to_string().repeat(6)).find(|c| !near.contains(c)).unwrap()
    }

    /// The last code shown signed someone in.
    pub fn accepted(&mut self) {
        self.accepted = self.shown;
    }
}

/// Creates a user through the admin API; returns the password and the authenticator.
pub async fn add_user(platform: &TestPlatform, body: serde_json::Value) -> (String, Authenticator) {
    let r = platform.admin_post("/api/v1/admin/users", body).await;
    assert_eq!(r.status(), 201);
    let c: serde_json::Value = r.json().await.unwrap();
    let secret =
        base32::decode(base32::Alphabet::Rfc4648 { padding: false }, c["totp_secret"].as_str().unwrap()).unwrap();
    assert!(c["totp_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    (c["password"].as_str().unwrap().to_owned(), Authenticator { secret, accepted: 0, shown: 0 })
}

pub async fn sign_in(web: &mut Web, user: &str, password: &str, code: &str) -> Page {
    web.get("/staff/login").await;
    web.post("/staff/login", &[("username", user), ("password", password), ("code", code)]).await
}

#[tokio::test]
async fn staff_need_password_and_code_and_failures_make_the_account_wait() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let (password, mut auth) = add_user(
        &platform,
        serde_json::json!({"username": "shop.alice", "role": "merchant", "merchant_id": "104110070110001"}),
    )
    .await;
    let mut web = Web::new(&platform);

    // Right password, wrong code; wrong password, right code; unknown user: the same answer.
    let p = sign_in(&mut web, "shop.alice", &password, &auth.wrong_code()).await;
    assert_eq!(p.status, 401);
    assert!(p.text().contains("Wrong username, password or code"), "{}", p.text());
    let p = sign_in(&mut web, "shop.alice", "not the password", &auth.code()).await;
    assert_eq!(p.status, 401);
    let p = sign_in(&mut web, "nobody", "whatever password", "123456").await;
    assert_eq!(p.status, 401);
    assert!(p.text().contains("Wrong username, password or code"));

    // Right credentials sign in (and the code cannot be replayed).
    let code = auth.code();
    let p = sign_in(&mut web, "shop.alice", &password, &code).await;
    assert_eq!(p.status, 303, "{}", p.text());
    assert_eq!(p.location().as_deref(), Some("/merchant/receipts"));
    auth.accepted();
    assert!(web.set_cookies.iter().any(|c| c.starts_with("__Host-ereceipt_staff=") && c.contains("HttpOnly")));
    // The form token is bound to the session: the token of the sign-in page no longer works.
    let stale = web.csrf.clone();
    assert_eq!(web.post("/staff/logout", &[("csrf", &stale)]).await.status, 403);
    assert_eq!(web.get("/merchant/receipts").await.status, 200);
    let p = web.post("/staff/logout", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(web.get("/merchant/receipts").await.status, 303, "signed out");
    let p = sign_in(&mut web, "shop.alice", &password, &code).await;
    assert_eq!(p.status, 401, "a used code does not work twice");

    // The success cleared the earlier failures; the replay was failure 1. Four more are answered
    // at once; from then on each failure makes the account wait (1 s, 2 s, … up to 15 minutes),
    // and an attempt during the wait — even with the right credentials — is answered exactly as
    // a wrong password, without being looked at.
    for i in 2..=5 {
        let p = sign_in(&mut web, "shop.alice", "wrong password!", "000000").await;
        assert_eq!(p.status, 401, "failure {i}");
    }
    // Another failure, counted here directly with a long wait so that a slow machine cannot
    // outlast it between two requests.
    let store = &platform.state.store;
    let failures = store.account("shop.alice").await.unwrap().unwrap().failures;
    assert_eq!(failures, 5);
    // (The fifth failure's own wait of 1 s must pass first.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        if store.claim_sign_in("shop.alice", failures, now, now + 600_000).await.unwrap() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the account never took the attempt");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let wrong = sign_in(&mut web, "shop.alice", "wrong password!", "000000").await;
    let p = sign_in(&mut web, "shop.alice", &password, &auth.code()).await;
    assert_eq!((p.status, p.text()), (wrong.status, wrong.text()), "waiting: refused like a wrong password");
    assert!(!p.text().contains("locked"), "{}", p.text());

    let users = platform.admin_json("/api/v1/admin/users").await;
    assert_eq!(users["users"][0]["locked"], true, "{users}");
    let r = platform.admin_post("/api/v1/admin/users/shop.alice/unlock", serde_json::json!({})).await;
    assert_eq!(r.status(), 204);
    let p = sign_in(&mut web, "shop.alice", &password, &auth.code()).await;
    assert_eq!(p.status, 303, "unlocked by the administrator: {}", p.text());
}

#[tokio::test]
async fn merchants_see_search_and_export_only_their_own_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut a = platform.terminal_for("T0000801", "104110070110001", "Harbour Books 海港书店").await;
    let mut b = platform.terminal_for("T0000802", "104110070110002", "Noodle Bar 面馆").await;
    let mut a_receipts = Vec::new();
    for _ in 0..3 {
        a_receipts.push(a.sale_to(Some("email:li.na@example.com")).await);
    }
    let b_receipt = b.sale().await;
    upload_all(&mut a).await;
    upload_all(&mut b).await;
    let (password, mut auth) = add_user(
        &platform,
        serde_json::json!({"username": "books", "role": "merchant", "merchant_id": "104110070110001"}),
    )
    .await;
    let mut web = Web::new(&platform);
    assert_eq!(sign_in(&mut web, "books", &password, &auth.code()).await.status, 303);

    let all = web.get("/merchant/receipts").await;
    assert_eq!(all.status, 200);
    let html = all.text();
    for r in &a_receipts {
        assert!(html.contains(&r.record.id.to_string()), "own receipt listed");
    }
    let b_id = b_receipt.record.id.to_string();
    assert!(!html.contains(&b_id), "another merchant's receipt listed");
    assert!(!html.contains("li.na@example.com"), "merchants do not see customers' addresses");

    // Search by RRN, card last 4, serial and amount narrow the list.
    let target = &a_receipts[1];
    let rrn = target.record.transaction.rrn.to_string();
    let p = web.get(&format!("/merchant/receipts?rrn={rrn}")).await;
    assert_eq!(p.text().matches("/merchant/receipts/T0000801-").count(), 1, "{}", p.text());
    assert!(p.text().contains(&target.record.id.to_string()));
    let p = web
        .get(&format!("/merchant/receipts?serial={}", target.record.id.to_string().rsplit('-').next().unwrap()))
        .await;
    assert!(p.text().contains(&target.record.id.to_string()));
    let p = web.get("/merchant/receipts?min=999999999").await;
    assert!(p.text().contains("No receipts."));
    let p = web.get(&format!("/merchant/receipts?rrn={}", b_receipt.record.transaction.rrn)).await;
    assert!(!p.text().contains(&b_id), "another merchant's RRN finds nothing");
    let p = web.get("/merchant/receipts?last4=12a4").await;
    assert_eq!(p.status, 422);
    assert!(p.text().contains("last 4"), "the bad field is named");

    // Direct URLs to another merchant's receipt: not found.
    assert_eq!(web.get(&format!("/merchant/receipts/{b_id}")).await.status, 404);
    assert_eq!(web.get(&format!("/merchant/receipts/{b_id}/png")).await.status, 404);
    let own = web.get(&format!("/merchant/receipts/{}", target.record.id)).await;
    assert_eq!(own.verdict().as_deref(), Some("authentic"));
    assert_eq!(web.get(&format!("/merchant/receipts/{}/png", target.record.id)).await.bytes, target.png);
    // Nor may a merchant use the acquirer's pages.
    assert_eq!(web.get("/acquirer").await.status, 403);
    assert_eq!(web.get(&format!("/acquirer/receipts/{b_id}/bundle.zip")).await.status, 403);

    // CSV export: own receipts only, a header, one row each, amounts as decimals.
    let csv = web.get("/merchant/receipts.csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains("attachment"));
    let text = csv.text();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("receipt_id,time_local,time_utc,terminal_id"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(!text.contains(&b_id));
    let row = rows.iter().find(|r| r.contains(&target.record.id.to_string())).unwrap();
    assert!(row.contains(&format!("\"{}\"", target.record.transaction.amount.decimal())), "{row}");
    assert!(row.contains("\"email\""), "the delivery channel, not the address: {row}");
    let filtered = web.get(&format!("/merchant/receipts.csv?rrn={rrn}")).await.text();
    assert_eq!(filtered.lines().count(), 2, "header + the one match");
}

#[tokio::test]
async fn the_acquirer_finds_a_receipt_by_rrn_and_downloads_the_retrieval_bundle() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal_for("T0000901", "104110070110003", "Tea House 茶馆").await;
    let first = t.sale_to(Some("email:wang.fang@example.com")).await;
    let second = t.sale().await;
    upload_all(&mut t).await;
    let (password, mut auth) = add_user(&platform, serde_json::json!({"username": "bank", "role": "acquirer"})).await;
    let mut web = Web::new(&platform);
    let p = sign_in(&mut web, "bank", &password, &auth.code()).await;
    assert_eq!(p.location().as_deref(), Some("/acquirer"));

    let rrn = first.record.transaction.rrn.to_string();
    let found = web.get(&format!("/acquirer?rrn={rrn}")).await;
    assert_eq!(found.status, 200);
    let id = first.record.id.to_string();
    assert!(found.text().contains(&format!("/acquirer/receipts/{id}")), "{}", found.text());
    assert!(!found.text().contains(&second.record.id.to_string()));
    let detail = web.get(&format!("/acquirer/receipts/{id}")).await;
    assert_eq!(detail.verdict().as_deref(), Some("authentic"));
    assert!(detail.text().contains("wang.fang@example.com"), "the acquirer sees the delivery history in full");
    // Merchant pages are not the acquirer's.
    assert_eq!(web.get("/merchant/receipts").await.status, 403);

    let zip = web.get(&format!("/acquirer/receipts/{id}/bundle.zip")).await;
    assert_eq!(zip.status, 200);
    assert_eq!(zip.headers["content-type"], "application/zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes.clone())).unwrap();
    let mut file = |name: &str| {
        let mut out = Vec::new();
        archive.by_name(&format!("{id}/{name}")).unwrap().read_to_end(&mut out).unwrap();
        out
    };
    let png = file("receipt.png");
    let record = file("record.cbor");
    let signature = String::from_utf8(file("signature.csv")).unwrap();
    let chain: serde_json::Value = serde_json::from_slice(&file("chain.json")).unwrap();
    let deliveries: serde_json::Value = serde_json::from_slice(&file("deliveries.json")).unwrap();
    let verification: serde_json::Value = serde_json::from_slice(&file("verification.json")).unwrap();
    let manifest = String::from_utf8(file("MANIFEST.txt")).unwrap();

    assert_eq!(png, first.png, "the signed image");
    assert_eq!(hex::encode(sha256(&record)), chain["record_sha256"], "the record hashes to the chain's hash");
    assert_eq!(record, ereceipt_core::encoding::encode_record(&first.record));
    assert_eq!(signature.lines().count() - 1, first.record.signature.point_count(), "one row per pen sample");
    assert_eq!(chain["sequence"], 1);
    assert_eq!(chain["first_in_chain"], true);
    assert_eq!(chain["next"][0]["receipt_id"], second.record.id.to_string());
    assert_eq!(chain["next_links_match"][0], true, "{chain}");
    let ack = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        chain["acknowledgement_base64"].as_str().unwrap(),
    )
    .unwrap();
    let ack = ereceipt_core::upload::verify_ack(&ack, &platform.state.keys.ack.public_key()).unwrap();
    assert_eq!(ack.receipt_id, id, "the platform's signed receipt of the upload");
    assert_eq!(deliveries["deliveries"][0]["recipient"], "wang.fang@example.com", "{deliveries}");
    assert_eq!(verification["verdict"], "authentic");
    for name in ["receipt.png", "record.cbor", "signature.csv", "chain.json", "deliveries.json"] {
        let sum = hex::encode(sha256(&file(name)));
        assert!(manifest.contains(&format!("{sum}  {name}")), "{name} in the manifest: {manifest}");
    }
    bundle_signature_checks_with_openssl(&platform, &zip.bytes, &id);
}

/// Finding L13: the manifest was a plain list of sums, so an edited bundle with a recomputed
/// manifest passed. Its signature (`MANIFEST.sig`) is checked here by openssl, independently of
/// the platform's code: the evidence certificate chains to the CA, and its Ed25519 key verifies
/// the manifest; then an edited image with a recomputed manifest fails the project's check.
fn bundle_signature_checks_with_openssl(platform: &TestPlatform, zip: &[u8], id: &str) {
    use std::collections::BTreeMap;
    use std::process::Command;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let name = f.name().strip_prefix(&format!("{id}/")).expect("every file in the receipt's folder").to_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir.path()).args(args).output().expect("the openssl CLI runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::copy(platform.dir.path().join("ca.pem"), dir.path().join("ca.pem")).unwrap();
    std::fs::write(dir.path().join("evidence.txt"), &files["evidence.txt"]).unwrap();
    openssl(&["x509", "-in", "evidence.txt", "-out", "evidence-cert.pem"]);
    openssl(&["verify", "-CAfile", "ca.pem", "-purpose", "any", "evidence-cert.pem"]);
    openssl(&["x509", "-in", "evidence-cert.pem", "-pubkey", "-noout", "-out", "ack-pub.pem"]);
    let sig_text = String::from_utf8(files["MANIFEST.sig"].clone()).unwrap();
    let sig_b64 = sig_text.lines().find_map(|l| l.strip_prefix("signature: ")).expect("a signature line");
    let sig = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig_b64).unwrap();
    std::fs::write(dir.path().join("manifest.sig"), &sig).unwrap();
    let mut message = b"ereceipt retrieval bundle manifest v1\0".to_vec();
    message.extend_from_slice(&files["MANIFEST.txt"]);
    std::fs::write(dir.path().join("message.bin"), &message).unwrap();
    let verified = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "ack-pub.pem",
        "-rawin",
        "-in",
        "message.bin",
        "-sigfile",
        "manifest.sig",
    ]);
    assert!(verified.contains("Signature Verified Successfully"), "{verified}");

    let ca = platform.ca_der();
    assert_eq!(ereceipt_core::bundle::check(&files, &ca).unwrap().acknowledgement.receipt_id, id);
    // The review's attack: another image, and the manifest recomputed to match it.
    let manifest = String::from_utf8(files["MANIFEST.txt"].clone()).unwrap();
    let old_sum = hex::encode(sha256(&files["receipt.png"]));
    files.insert("receipt.png".into(), b"another picture".to_vec());
    let new_sum = hex::encode(sha256(b"another picture"));
    files.insert("MANIFEST.txt".into(), manifest.replace(&old_sum, &new_sum).into_bytes());
    assert_eq!(ereceipt_core::bundle::check(&files, &ca), Err(ereceipt_core::bundle::BundleError::Signature));
}

#[tokio::test]
async fn one_address_cannot_spray_sign_ins_across_usernames_on_any_process() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut web = Web::new(&platform);
    web.get("/staff/login").await;
    let limit = ereceipt_platform::domain::limits::SIGN_INS_PER_NETWORK.max;
    for i in 0..limit {
        let p = web
            .post(
                "/staff/login",
                &[("username", &format!("user{i}")), ("password", "guess guess guess"), ("code", "123456")],
            )
            .await;
        assert_eq!(p.status, 401, "attempt {i}");
    }
    let p = web
        .post("/staff/login", &[("username", "another"), ("password", "guess guess guess"), ("code", "123456")])
        .await;
    assert_eq!(p.status, 429);
    assert!(p.text().contains("Too many sign-in attempts from this address"), "{}", p.text());

    // A second platform process on the same database counts the same attempts (M5).
    let other = TestPlatform::start_on(
        platform.dir.clone(),
        platform.database_url.clone(),
        "127.0.0.1:0".parse().unwrap(),
        1 << 20,
    )
    .await;
    let mut web = Web::new(&other);
    web.get("/staff/login").await;
    let p = web
        .post("/staff/login", &[("username", "another"), ("password", "guess guess guess"), ("code", "123456")])
        .await;
    assert_eq!(p.status, 429, "the other process let the address go on");
}

#[tokio::test]
async fn a_large_export_streams_every_match_across_pages() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    platform.register_for("T0000811", "104110070110011", "Big Store 大商场").await;
    platform.register_for("T0000812", "104110070110012", "Other Store").await;
    // Stored directly (the export reads what is stored; making 450 signed receipts is slow).
    // Receipts carry whole seconds.
    let t0 = chrono::Utc::now().timestamp() * 1000;
    for (terminal, merchant, n) in [("T0000811", "104110070110011", 450), ("T0000812", "104110070110012", 5)] {
        for serial in 1..=n {
            let receipt_id = format!("{terminal}-000001-{serial:06}");
            let record = receipt_id.clone().into_bytes();
            let r = ereceipt_platform::infra::store::NewReceipt {
                receipt_id: receipt_id.clone(),
                terminal_id: terminal.into(),
                merchant_id: merchant.into(),
                merchant_name: "Big Store 大商场".into(),
                batch: 1,
                serial,
                sequence: Some(serial),
                previous_hash: None,
                record_hash: sha256(&record),
                record,
                png: Vec::new(),
                delivery: None,
                amount: ereceipt_core::model::Money::new(100 + serial as u64, ereceipt_core::model::Currency::CNY)
                    .unwrap(),
                time: ereceipt_core::model::LocalTime::new(t0 / 1000 - serial, 480).unwrap(),
                rrn: format!("{serial:012}"),
                auth_code: "A1B2C3".into(),
                card_masked: "622202******3446".into(),
                card_last4: "3446".into(),
                card_brand: "UnionPay".into(),
                signer_serial: "00".into(),
                received_at: t0,
                ack: Vec::new(),
                lineage: ereceipt_platform::infra::store::ReceiptLineage::sale(
                    serial,
                    ereceipt_core::model::LocalTime::new(t0 / 1000 - serial, 480).unwrap(),
                ),
            };
            platform.state.store.store_receipt(&r).await.unwrap();
        }
    }
    let (password, mut auth) = add_user(
        &platform,
        serde_json::json!({"username": "big", "role": "merchant", "merchant_id": "104110070110011"}),
    )
    .await;
    let mut web = Web::new(&platform);
    assert_eq!(sign_in(&mut web, "big", &password, &auth.code()).await.status, 303);
    let csv = web.get("/merchant/receipts.csv").await;
    assert_eq!(csv.status, 200);
    let text = csv.text();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 450, "every match, over three pages of 200");
    let mut ids: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 450, "no row twice");
    assert!(ids.first().unwrap().contains("-000001\""), "newest first: {}", ids[0]);
    assert!(ids.last().unwrap().contains("-000450\""), "oldest last");
    assert!(!text.contains("T0000812"), "the other merchant's receipts are not exported");
}

/// M5: twelve bad sign-ins at an existing account and twelve at a missing one give the same
/// answers (status and page), so neither a lock nor its message tells who has an account.
#[tokio::test]
async fn bad_sign_ins_answer_alike_for_existing_and_missing_users() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    add_user(
        &platform,
        serde_json::json!({"username": "shop.alice", "role": "merchant", "merchant_id": "104110070110001"}),
    )
    .await;
    let mut web = Web::new(&platform);
    let mut answers = Vec::new();
    for user in ["shop.alice", "shop.nobody"] {
        let mut these = Vec::new();
        for _ in 0..12 {
            let p = sign_in(&mut web, user, "wrong password!", "000000").await;
            these.push((p.status, p.text().replace(user, "USER")));
        }
        answers.push(these);
    }
    assert!(
        answers[0] == answers[1],
        "existing: {:?}; missing: {:?}",
        answers[0].iter().map(|a| a.0).collect::<Vec<_>>(),
        answers[1].iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(answers[0].iter().all(|a| a.0 == 401), "{:?}", answers[0].iter().map(|a| a.0).collect::<Vec<_>>());
}
