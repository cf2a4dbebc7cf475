//! Classifying a 256 KiB page: the body cap, so the most a probe can cost.
//! Run with `cargo bench -p engine --bench classify`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::{KnowledgeBase, Observation};
use std::hint::black_box;

const PAGE_BYTES: usize = 256 * 1024;

/// A real Cloudflare 524 page (from the labelled fixtures) padded with
/// ordinary markup to the cap, so every marker scan runs over the full size.
fn branded_page() -> Vec<u8> {
    let mut page = include_bytes!("../tests/fixtures/error-pages/cloudflare__524__1.html").to_vec();
    let filler = b"<div class=\"row\"><p>Lorem ipsum dolor sit amet, <a href=\"/x\">consectetur</a> adipiscing elit.</p></div>\n";
    while page.len() < PAGE_BYTES {
        page.extend_from_slice(filler);
    }
    page.truncate(PAGE_BYTES);
    page
}

/// An ordinary page matching nothing: the full scan with no early answer.
fn plain_page() -> Vec<u8> {
    let mut page = b"<!DOCTYPE html><html><head><title>Shop</title></head><body>".to_vec();
    let mut i = 0u32;
    while page.len() < PAGE_BYTES {
        page.extend_from_slice(
            format!(
                "<li id=\"item{i}\" class=\"product\">Item {i} costs {} EUR</li>\n",
                i % 97
            )
            .as_bytes(),
        );
        i += 1;
    }
    page.truncate(PAGE_BYTES);
    page
}

/// A non-ASCII page: multi-byte text exercises the slow paths of the
/// regex engines (Unicode word boundaries) and of UTF-8 decoding.
fn utf8_page() -> Vec<u8> {
    let mut page = b"<!DOCTYPE html><html><head><title>\xe3\x82\xa8\xe3\x83\xa9\xe3\x83\xbc</title></head><body>".to_vec();
    while page.len() < PAGE_BYTES {
        page.extend_from_slice(
            "<p>サーバーが一時的に利用できません。Ошибка сервера — ñandú 🚧</p>\n".as_bytes(),
        );
    }
    page.truncate(PAGE_BYTES);
    page
}

fn bench(c: &mut Criterion) {
    let kb = KnowledgeBase::builtin().expect("builtin knowledge base");
    let mut group = c.benchmark_group("classify_256KiB");
    group.throughput(Throughput::Bytes(PAGE_BYTES as u64));
    for (name, body) in [
        ("cloudflare_524", branded_page()),
        ("no_markers", plain_page()),
        ("utf8_no_markers", utf8_page()),
    ] {
        let obs = Observation {
            status: Some(524),
            headers: vec![
                ("server".into(), "cloudflare".into()),
                ("cf-ray".into(), "8f0e1d2c3b4a5968-SIN".into()),
            ],
            body,
            dns: None,
        };
        group.bench_function(name, |b| b.iter(|| kb.classify(black_box(&obs))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
