//! The pickle codec against bytes CPython wrote (`tests/django/cache_vectors.py` at the workspace root)
//! and against hostile input.

use serde_json::{json, Value};

use super::*;

const VECTORS: &str = include_str!("../../../tests/data/django_pickle_vectors.json");

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vector file is JSON")
}

#[test]
fn decodes_every_json_like_value_python_pickled() {
    let all = vectors();
    let mut checked = 0;
    for vector in all["pickle"].as_array().expect("list") {
        let name = vector["name"].as_str().expect("name");
        let bytes = hex(vector["pickle"].as_str().expect("hex"));
        match vector.get("error").and_then(Value::as_str) {
            None => {
                let decoded = from_pickle(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(decoded, vector["json"], "{name}");
            }
            Some(kind) => {
                let err = from_pickle(&bytes).expect_err(name);
                let matches = match kind {
                    "not_json_like" => matches!(err, PickleError::NotJsonLike(_)),
                    "integer_too_large" => err == PickleError::IntegerTooLarge,
                    other => panic!("unknown error kind {other}"),
                };
                assert!(matches, "{name}: {err:?}");
            }
        }
        checked += 1;
    }
    assert!(checked > 150, "{checked}");
}

#[test]
fn encodes_the_bytes_python_writes_at_protocol_5() {
    let all = vectors();
    let mut checked = 0;
    for vector in all["pickle"].as_array().expect("list") {
        if vector["identical"] != json!(true) {
            continue;
        }
        let name = vector["name"].as_str().expect("name");
        let expected = hex(vector["pickle"].as_str().expect("hex"));
        let ours = to_pickle(&vector["json"]).expect(name);
        if ours != expected {
            let at = ours
                .iter()
                .zip(&expected)
                .take_while(|(a, b)| a == b)
                .count();
            panic!(
                "{name}: differs at byte {at} (ours {} bytes, Python {} bytes): ours {:02x?}, Python {:02x?}",
                ours.len(),
                expected.len(),
                &ours[at.saturating_sub(4)..(at + 12).min(ours.len())],
                &expected[at.saturating_sub(4)..(at + 12).min(expected.len())],
            );
        }
        checked += 1;
    }
    assert!(checked >= 45, "{checked}");
}

#[test]
fn every_truncation_of_a_valid_pickle_is_an_error_not_a_panic() {
    let pickle =
        to_pickle(&json!({"a": [1, 2.5, "x", null, true], "b": {"c": -70000}})).expect("encodes");
    for len in 0..pickle.len() {
        assert!(from_pickle(&pickle[..len]).is_err(), "{len}");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Every single-byte mutation of a real pickle: decoding ends in a value or an error.
    let pickle = to_pickle(&json!([{"k": "v"}, [1, 2, 3], "text", 1.5])).expect("encodes");
    for at in 0..pickle.len() {
        for byte in 0..=255u8 {
            let mut mutated = pickle.clone();
            mutated[at] = byte;
            let _ = from_pickle(&mutated);
        }
    }
}

#[test]
fn python_objects_are_refused_without_running_anything() {
    // pickle.dumps(os.system) style payload: GLOBAL 'os system', a string, TUPLE1, REDUCE.
    let payload = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
    let err = from_pickle(payload).expect_err("a global");
    assert_eq!(
        err,
        PickleError::NotJsonLike("a Python object (os.system)".to_owned())
    );
    // Protocol 4 STACK_GLOBAL.
    let payload = b"\x80\x04\x8c\x02os\x8c\x06system\x93.";
    let err = from_pickle(payload).expect_err("a global");
    assert_eq!(
        err,
        PickleError::NotJsonLike("a Python object (os.system)".to_owned())
    );
}

#[test]
fn a_billion_laughs_hits_the_budget() {
    // l0 = ["x" * 1000]; each level is [l, l, l, l, l, l, l, l] of the previous one, by memo reference.
    let mut pickle = vec![0x80, 5, b']', 0x94, b'X'];
    pickle.extend_from_slice(&1000u32.to_le_bytes());
    pickle.extend_from_slice(&[b'x'; 1000]);
    pickle.push(b'a');
    for level in 0..30u32 {
        pickle.extend_from_slice(&[b']', 0x94, b'(']);
        for _ in 0..8 {
            pickle.push(b'j');
            pickle.extend_from_slice(&level.to_le_bytes());
        }
        pickle.push(b'e');
    }
    pickle.push(b'.');
    assert_eq!(
        from_pickle(&pickle),
        Err(PickleError::TooLarge("work budget"))
    );
}

#[test]
fn a_list_containing_itself_is_refused() {
    // l = []; l.append(l)
    let pickle = b"\x80\x05]\x94h\x00a.";
    assert_eq!(from_pickle(pickle), Err(PickleError::TooLarge("nesting")));
}

#[test]
fn huge_declared_lengths_are_truncation_not_allocation() {
    let pickle = b"\x80\x05\x8d\xff\xff\xff\xff\xff\xff\xff\x7f";
    assert_eq!(from_pickle(pickle), Err(PickleError::Truncated));
    let pickle = b"\x80\x05\x8b\xff\xff\xff\x7f";
    assert!(from_pickle(pickle).is_err());
}

#[test]
fn newer_protocols_are_refused() {
    assert_eq!(
        from_pickle(b"\x80\x06N."),
        Err(PickleError::UnsupportedProtocol(6))
    );
}

mod round_trip {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::super::*;

    fn json_like() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
            (250usize..70_000).prop_map(|n| Value::String("q".repeat(n))),
        ];
        leaf.prop_recursive(4, 256, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
                prop::collection::vec((".{0,8}", inner), 0..12)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn what_we_write_we_read_back(value in json_like()) {
            let pickle = to_pickle(&value).expect("encodes");
            prop_assert_eq!(from_pickle(&pickle).expect("decodes"), value);
        }
    }
}
