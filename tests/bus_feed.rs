//! `peregrine feed` against the built-in simulator and a real nats-server (JetStream): every
//! normalized event on its subject, numbered per subject without gaps, captured by the
//! stream, and book snapshots answered on request that match the book the bus carried.

mod nats_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use peregrine::feed::run_feed_node;
use peregrine_engine::config::Config;
use peregrine_exchanges::bus::assemble::stream_of;
use peregrine_exchanges::bus::{BusEvent, Kind, Payload, Subjects};
use rust_decimal::Decimal;
use tokio::sync::watch;

fn config(names: &nats_support::TestNames, encoding: &str) -> Config {
    let text = format!(
        r#"
[engine]
progress_interval_s = 0
[sim]
enabled = true
seed = 11
md_interval_ms = 5
[venue]
name = "binance"
ws_url = "ws://127.0.0.1:1"
rest_url = "http://127.0.0.1:1"
[[instruments]]
symbol = "BTC-USDT"
tick_size = "0.01"
lot_size = "0.00001"
sim_start_price = "60000"
[risk]
max_order_notional = "150"
max_position = "0.004"
[sink]
url = "sqlite://unused.db"
[bus]
url = "{url}"
prefix = "{prefix}"
stream = "{stream}"
storage = "memory"
max_age_s = 600
encoding = "{encoding}"
"#,
        url = nats_support::server_url(),
        prefix = names.prefix,
        stream = names.stream,
    );
    Config::parse(&text, Path::new("bus_feed.toml")).expect("valid test config")
}

/// A consumer's book: levels per side.
#[derive(Clone, Debug, Default, PartialEq)]
struct Book {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Book {
    fn apply(&mut self, bids: &[[Decimal; 2]], asks: &[[Decimal; 2]]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for [p, q] in levels {
                if q.is_zero() {
                    side.remove(p);
                } else {
                    side.insert(*p, *q);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_node_publishes_numbered_events_to_jetstream_and_answers_snapshots() {
    let Some(client) = nats_support::client().await else {
        return;
    };
    let names = nats_support::names("feed");
    nats_support::drop_stream(&client, &names.stream).await;
    let subjects = Subjects::new(&names.prefix).unwrap();
    let mut sub = client.subscribe(subjects.md_all()).await.unwrap();
    client.flush().await.unwrap();

    let (stop_tx, stop_rx) = watch::channel(false);
    let node = tokio::spawn(run_feed_node(config(&names, "binary"), stop_rx));

    // Follow the bus: sequences per stream, the book after every book event.
    let mut last: HashMap<(String, usize), u64> = HashMap::new();
    let mut kinds: HashMap<Kind, u64> = HashMap::new();
    let mut book = Book::default();
    let mut synced = false;
    let mut book_at: BTreeMap<u64, Book> = BTreeMap::new();
    let mut received = 0u64;
    let mut snapshot_reply = None;
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(4);
    loop {
        let msg = tokio::select! {
            m = sub.next() => m.expect("subscription open"),
            _ = tokio::time::sleep_until(deadline) => break,
        };
        received += 1;
        let (venue, symbol, kind) = subjects.parse_md(msg.subject.as_str()).expect("subject");
        assert_eq!((venue, symbol), ("binance", "BTC-USDT"));
        let ev = BusEvent::decode(&msg.payload).expect("binary event");
        assert_eq!(ev.payload.kind(), kind, "kind matches the subject");
        assert!(ev.pub_ts_ns > 0);
        *kinds.entry(kind).or_default() += 1;
        let key = (symbol.to_string(), stream_of(kind));
        let prev = last.insert(key, ev.seq).unwrap_or(0);
        assert_eq!(ev.seq, prev + 1, "{kind:?}: no gap, no repeat");
        match &ev.payload {
            Payload::BookSnapshot(l) => {
                book = Book::default();
                book.apply(&l.bids, &l.asks);
                synced = true;
            }
            Payload::BookDelta(l) => book.apply(&l.bids, &l.asks),
            _ => {}
        }
        if synced && matches!(kind, Kind::BookDelta | Kind::BookSnapshot) {
            book_at.insert(ev.seq, book.clone());
        }
        // Once the book has moved a while, ask the feed node for a snapshot.
        if snapshot_reply.is_none() && book_at.len() >= 20 {
            let reply = client
                .request(subjects.snapshot_request("binance", "BTC-USDT"), "".into())
                .await
                .expect("snapshot reply");
            snapshot_reply = Some(BusEvent::decode(&reply.payload).expect("snapshot event"));
        }
    }
    let _ = stop_tx.send(true);
    let out = node.await.unwrap().expect("feed node");
    // What the publisher queued after the deadline.
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        received += 1;
        let (_, symbol, kind) = subjects.parse_md(msg.subject.as_str()).unwrap();
        let ev = BusEvent::decode(&msg.payload).unwrap();
        let prev = last
            .insert((symbol.to_string(), stream_of(kind)), ev.seq)
            .unwrap_or(0);
        assert_eq!(ev.seq, prev + 1);
    }

    for k in [
        Kind::Trade,
        Kind::Quote,
        Kind::BookSnapshot,
        Kind::BookDelta,
    ] {
        assert!(
            kinds.get(&k).copied().unwrap_or(0) > 0,
            "{k:?} published: {kinds:?}"
        );
    }
    assert_eq!(received, out.messages, "every published message arrived");
    assert_eq!(out.assemble.incomplete, 0);

    // The snapshot is the book the bus carried up to its sequence, level by level.
    let snap = snapshot_reply.expect("a snapshot was requested");
    let Payload::BookSnapshot(levels) = &snap.payload else {
        panic!("snapshot reply {snap:?}");
    };
    let mut from_reply = Book::default();
    from_reply.apply(&levels.bids, &levels.asks);
    assert!(!from_reply.bids.is_empty() && !from_reply.asks.is_empty());
    assert_eq!(
        book_at.get(&snap.seq),
        Some(&from_reply),
        "snapshot at book seq {} matches the bus's book",
        snap.seq
    );
    // Best first on both sides.
    assert!(levels.bids.windows(2).all(|w| w[0][0] > w[1][0]));
    assert!(levels.asks.windows(2).all(|w| w[0][0] < w[1][0]));
    assert_eq!(out.snapshots_served, 1);

    // JetStream captured every message; each subject's last one is the last we saw.
    let js = async_nats::jetstream::new(client.clone());
    let mut stream = js.get_stream(&names.stream).await.expect("stream created");
    let info = stream.info().await.unwrap().clone();
    assert_eq!(info.config.subjects, vec![subjects.md_all()]);
    assert_eq!(info.config.max_age, Duration::from_secs(600));
    assert_eq!(info.state.messages, out.messages);
    for k in [Kind::Trade, Kind::BookDelta] {
        let stored = stream
            .get_last_raw_message_by_subject(&subjects.md("binance", "BTC-USDT", k))
            .await
            .expect("last message of the subject");
        let ev = BusEvent::decode(&stored.payload).unwrap();
        let want = last[&("BTC-USDT".to_string(), stream_of(k))];
        if k == Kind::Trade {
            assert_eq!(ev.seq, want);
        } else {
            // The book stream's last may be a snapshot on the other subject.
            assert!(ev.seq <= want);
        }
    }
    nats_support::drop_stream(&client, &names.stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_node_in_json_publishes_interchange_objects() {
    let Some(client) = nats_support::client().await else {
        return;
    };
    let names = nats_support::names("feedjson");
    nats_support::drop_stream(&client, &names.stream).await;
    let subjects = Subjects::new(&names.prefix).unwrap();
    let mut sub = client
        .subscribe(subjects.md("binance", "BTC-USDT", Kind::Trade))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let node = tokio::spawn(run_feed_node(config(&names, "json"), stop_rx));
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a trade within 10 s")
        .unwrap();
    let _ = stop_tx.send(true);
    node.await.unwrap().expect("feed node");
    let v: serde_json::Value = serde_json::from_slice(&msg.payload).expect("JSON");
    assert_eq!(v["kind"], "trade");
    assert_eq!(v["venue"], "binance");
    assert_eq!(v["symbol"], "BTC-USDT");
    assert_eq!(v["bus_seq"], 1);
    assert!(v["price"].is_string(), "money as strings: {v}");
    let ev = BusEvent::decode(&msg.payload).unwrap();
    assert!(matches!(ev.payload, Payload::Trade(_)));
    nats_support::drop_stream(&client, &names.stream).await;
}
