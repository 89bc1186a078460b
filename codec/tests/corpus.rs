//! The corpus of payloads people really get wrong: each decoded in both modes, the outcome
//! kept as a reviewed snapshot (`snapshots/codec/bad_payloads/`).

mod support;

use tbgw_codec::{Message, Mode, decode};

#[test]
fn every_bad_payload_has_a_reviewed_outcome() {
    let cases = support::load("bad-payloads.txt");
    assert!(
        cases.len() >= 30,
        "the corpus must keep at least 30 payloads, has {}",
        cases.len()
    );
    for case in &cases {
        let strict = decode(case.topic, case.direction, &case.payload, Mode::Strict);
        let thingsboard = decode(case.topic, case.direction, &case.payload, Mode::ThingsBoard);
        let is_bad = strict.is_err()
            || thingsboard.is_err()
            || thingsboard.as_ref().is_ok_and(|d| !d.leniencies.is_empty())
            || matches!(&strict, Ok(d) if d.message.encode().as_bytes() != case.payload)
            || matches!(&strict, Ok(d) if matches!(&d.message, Message::RpcResponse(r) if r.data_is_json_text()));
        assert!(
            is_bad,
            "{}: decodes cleanly in both modes; it does not belong in the bad corpus",
            case.name
        );
        let report = format!(
            "{} {} ({})\nsource: {}\npayload: {}\n\n--- strict\n{}\n--- thingsboard\n{}",
            case.topic,
            case.name,
            case.direction,
            case.source,
            String::from_utf8_lossy(&case.payload),
            support::render_outcome(&strict),
            support::render_outcome(&thingsboard),
        );
        insta::with_settings!({
            snapshot_path => support::snapshot_dir("codec/bad_payloads"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(case.name.as_str(), report);
        });
    }
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    support::assert_no_orphan_snapshots("codec/bad_payloads", &names);
}
