use proptest::prelude::*;

use super::*;

/// Binance `newClientOrderId`: `^[\.A-Z\:/a-z0-9_-]{1,36}$`.
fn binance_ok(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

/// OKX `clOrdId`: letters and digits, 1 to 32 characters.
fn okx_ok(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[test]
fn ids_of_runs_before_the_persisted_identity_still_parse() {
    // The old scheme: run = wall-clock second as u32, `pg{run:x}-{seq}`.
    for (text, run, seq) in [
        ("pg6560abcd-17", 0x6560_abcd_u64, 17),
        ("pgffffffff-4294967295", 0xffff_ffff, u32::MAX),
        ("pga-1", 0xa, 1),
        ("pg0-0", 0, 0),
    ] {
        let id: ClientOrderId = text.parse().unwrap();
        assert_eq!(id, ClientOrderId { run, seq }, "{text}");
        assert_eq!(id.to_string(), text);
    }
}

#[test]
fn a_new_run_id_renders_within_the_venues_limits() {
    let id = ClientOrderId {
        run: u64::MAX,
        seq: u32::MAX,
    };
    let s = id.to_string();
    assert_eq!(s, "pgffffffffffffffff-4294967295");
    assert!(binance_ok(&s) && s.len() == 29);
    let a = id.alphanumeric().to_string();
    assert_eq!(a, "pgffffffffffffffff4294967295");
    assert!(okx_ok(&a) && a.len() == 28);
}

#[test]
fn strings_that_are_not_exactly_ours_are_refused() {
    for s in [
        "",
        "pg",
        "pg-1",
        "pg1-",
        "pg01-2",
        "pg1-02",
        "pg+1-2",
        "pg1-+2",
        "pgA-1",
        "pg1-x",
        "pg1-2-3",
        "pg10000000000000000-1",
        "pg1-4294967296",
        "x_pg1-2",
        "web_abc123",
        "and_7f3c2",
    ] {
        assert!(s.parse::<ClientOrderId>().is_err(), "{s:?} parsed");
    }
    for s in [
        "pg",
        "pg0000000000000001",
        "pg000000000000000g1",
        "pg000000000000000101",
        "pgé000000000000001",
    ] {
        assert!(
            ClientOrderId::parse_alphanumeric(s).is_err(),
            "{s:?} parsed"
        );
    }
}

proptest! {
    #[test]
    fn render_and_parse_round_trip(run in any::<u64>(), seq in any::<u32>()) {
        let id = ClientOrderId { run, seq };
        let s = id.to_string();
        prop_assert!(binance_ok(&s), "{}", s);
        prop_assert_eq!(s.parse::<ClientOrderId>(), Ok(id));
        let a = id.alphanumeric().to_string();
        prop_assert!(okx_ok(&a), "{}", a);
        prop_assert_eq!(ClientOrderId::parse_alphanumeric(&a), Ok(id));
    }

    #[test]
    fn parsing_is_canonical(s in "pg[0-9a-f]{1,17}-[0-9]{1,11}") {
        // Whatever parses renders back to the same text: one string per id.
        if let Ok(id) = s.parse::<ClientOrderId>() {
            prop_assert_eq!(id.to_string(), s);
        }
    }
}

#[test]
fn triggers_fire_on_the_side_they_protect() {
    use rust_decimal_macros::dec;
    let feed = |mut t: Trigger, side: Side, prices: &[Decimal]| -> Option<usize> {
        prices.iter().position(|p| t.on_trade(side, *p))
    };
    let stop = Trigger::Stop { price: dec!(95) };
    assert_eq!(
        feed(stop, Side::Sell, &[dec!(99), dec!(95.01), dec!(95)]),
        Some(2)
    );
    assert_eq!(feed(stop, Side::Buy, &[dec!(94), dec!(95)]), Some(1));
    let tp = Trigger::TakeProfit { price: dec!(110) };
    assert_eq!(feed(tp, Side::Sell, &[dec!(109.99), dec!(110)]), Some(1));
    assert_eq!(feed(tp, Side::Buy, &[dec!(111), dec!(110)]), Some(1));
    let by_amount = Trigger::Trailing {
        offset: dec!(2),
        percent: false,
        extreme: None,
    };
    // Sell: high 105, fires at 103 or below; buy: low 95, fires at 97 or above.
    assert_eq!(
        feed(
            by_amount,
            Side::Sell,
            &[dec!(100), dec!(105), dec!(103.01), dec!(103)]
        ),
        Some(3)
    );
    assert_eq!(
        feed(
            by_amount,
            Side::Buy,
            &[dec!(100), dec!(95), dec!(96.99), dec!(97)]
        ),
        Some(3)
    );
    let pct = Trigger::Trailing {
        offset: dec!(10),
        percent: true,
        extreme: None,
    };
    assert_eq!(
        feed(pct, Side::Sell, &[dec!(200), dec!(180.01), dec!(180)]),
        Some(2)
    );
}
