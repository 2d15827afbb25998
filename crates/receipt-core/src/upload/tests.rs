use super::*;

fn payload() -> Payload {
    Payload { record: b"record bytes".to_vec(), png: vec![7u8; 2048], delivery: Some("email:li.na@example.com".into()) }
}

#[test]
fn an_envelope_opens_only_with_the_platform_key_and_its_own_ids() {
    let key = PlatformKey::generate().unwrap();
    let env = Envelope::seal(&payload(), "T0000001", "T0000001-000001-000042", &key.public_bytes()).unwrap();
    assert_eq!(env.open(&key).unwrap(), payload());
    // Through the wire form too.
    let wire = Envelope::from_bytes(&env.to_bytes()).unwrap();
    assert_eq!(wire.open(&key).unwrap(), payload());

    let other = PlatformKey::generate().unwrap();
    assert_eq!(env.open(&other), Err(UploadError::Open));

    let mut relabelled = env.clone();
    relabelled.terminal_id = "T0000002".into();
    assert_eq!(relabelled.open(&key), Err(UploadError::Open), "terminal id is bound as associated data");
    let mut renamed = env.clone();
    renamed.receipt_id = "T0000001-000001-000043".into();
    assert_eq!(renamed.open(&key), Err(UploadError::Open), "receipt id is bound as associated data");

    for i in [0, env.ciphertext.len() / 2, env.ciphertext.len() - 1] {
        let mut flipped = env.clone();
        flipped.ciphertext[i] ^= 1;
        assert_eq!(flipped.open(&key), Err(UploadError::Open));
    }
    let mut bad_enc = env.clone();
    bad_enc.enc[0] ^= 1;
    assert_eq!(bad_enc.open(&key), Err(UploadError::Open));
}

#[test]
fn two_seals_of_one_receipt_differ() {
    let key = PlatformKey::generate().unwrap();
    let a = Envelope::seal(&payload(), "T1", "R1", &key.public_bytes()).unwrap();
    let b = Envelope::seal(&payload(), "T1", "R1", &key.public_bytes()).unwrap();
    assert_ne!(a.enc, b.enc, "fresh ephemeral key each time");
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn platform_key_round_trips_and_debug_hides_the_secret() {
    let key = PlatformKey::generate().unwrap();
    let again = PlatformKey::from_secret(key.secret_bytes()).unwrap();
    assert_eq!(key.public_bytes(), again.public_bytes());
    let shown = format!("{key:?}");
    assert!(shown.contains("redacted"));
    assert!(!shown.contains(&crate::identity::hex(key.secret_bytes())));
    assert!(matches!(PlatformKey::from_secret(&[1, 2, 3]), Err(UploadError::Key(_))));
}

#[test]
fn malformed_and_oversize_envelopes_are_named() {
    let err = Envelope::from_bytes(b"\xff\x00not cbor").unwrap_err();
    assert!(err.to_string().starts_with("malformed envelope"), "{err}");
    let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    let err = Envelope::from_bytes(&huge).unwrap_err();
    assert!(err.to_string().contains("the limit is"), "{err}");
    let missing = to_bytes(&MapBuilder::new().put(1, text("T1")).build());
    let err = Envelope::from_bytes(&missing).unwrap_err();
    assert!(err.to_string().contains("receipt id"), "{err}");
}

#[test]
fn acknowledgements_verify_only_with_the_platform_key() {
    let (signer, pkcs8) = AckSigner::generate().unwrap();
    let ack = Acknowledgement {
        receipt_id: "T1-000001-000001".into(),
        record_hash: [9; 32],
        sequence: Some(17),
        stored_at_ms: 1_764_000_000_123,
    };
    let signed = signer.sign(&ack);
    assert_eq!(verify_ack(&signed, &signer.public_key()).unwrap(), ack);
    let reloaded = AckSigner::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(reloaded.public_key(), signer.public_key());

    let (other, _) = AckSigner::generate().unwrap();
    assert_eq!(verify_ack(&signed, &other.public_key()), Err(UploadError::AckSignature));

    let forged = other.sign(&ack);
    assert_eq!(verify_ack(&forged, &signer.public_key()), Err(UploadError::AckSignature));

    let mut altered = signed.clone();
    let n = altered.len();
    altered[n - 70] ^= 1; // inside the signed body or signature
    assert!(verify_ack(&altered, &signer.public_key()).is_err());

    let no_seq = Acknowledgement { sequence: None, ..ack };
    assert_eq!(verify_ack(&signer.sign(&no_seq), &signer.public_key()).unwrap(), no_seq);
}

#[test]
fn the_delivery_choice_travels_sealed_and_may_be_absent() {
    let key = PlatformKey::generate().unwrap();
    let with = payload();
    let env = Envelope::seal(&with, "T1", "R1", &key.public_bytes()).unwrap();
    assert_eq!(env.open(&key).unwrap().delivery.as_deref(), Some("email:li.na@example.com"));
    let without = Payload { delivery: None, ..payload() };
    let env = Envelope::seal(&without, "T1", "R1", &key.public_bytes()).unwrap();
    assert_eq!(env.open(&key).unwrap().delivery, None);
}
