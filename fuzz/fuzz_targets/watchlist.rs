//! Any text, read as a plain, CSV or TOML watchlist, must be parsed or
//! refused whole, never panic. Every site kept obeys the watchlist's rules
//! (an http(s) URL without credentials or fragment, a lowercase host, a
//! bounded printable name, bounded tags, an interval in range), appears
//! once, and passes the same rules again unchanged, as it must when an
//! administrator edits it. Every rejected entry names a line of the text.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use server::watchlist::{
    self, Format, MAX_INTERVAL_S, MAX_NAME_LEN, MAX_TAGS, MAX_TAG_LEN, MAX_URL_LEN, MIN_INTERVAL_S,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Lines as the readers may count them: `\n`, and `\r` for CSV.
    let lines = 1 + text.bytes().filter(|b| matches!(b, b'\n' | b'\r')).count();
    for format in [Format::Plain, Format::Csv, Format::Toml] {
        let Ok(parsed) = watchlist::parse(&text, format) else {
            continue;
        };
        let mut urls = HashSet::new();
        for site in &parsed.sites {
            assert!(
                urls.insert(site.url.as_str()),
                "{format:?}: {} twice",
                site.url
            );
            check_site(site);
            // A percent-encoded path can make the stored URL longer than
            // the limit on what was typed; such a site is checked above
            // but would not pass the length check a second time.
            if site.url.len() <= MAX_URL_LEN {
                let again = watchlist::site(
                    &site.url,
                    Some(&site.name),
                    &site.tags.join(","),
                    Some(site.interval_s),
                );
                assert_eq!(again.as_ref(), Ok(site), "{format:?}: not stable");
            }
        }
        for rejected in &parsed.rejected {
            assert!(
                (1..=lines).contains(&rejected.line),
                "{format:?}: line {} of {lines}",
                rejected.line
            );
            assert!(!rejected.reason.is_empty());
        }
        if format != Format::Toml {
            // One entry per line at most (a quoted CSV field may span lines).
            assert!(parsed.sites.len() + parsed.rejected.len() <= lines);
        }
    }
});

fn check_site(site: &store::NewSite) {
    let url = url::Url::parse(&site.url).expect("a kept URL parses");
    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{url}"
    );
    assert!(url.fragment().is_none(), "{url}");
    // Every byte typed may become three when percent-encoded.
    assert!(site.url.len() <= 3 * MAX_URL_LEN + "https://".len() + 1);
    assert_eq!(url.host_str(), Some(site.host.as_str()));
    assert!(
        !site.host.is_empty() && site.host.len() <= 255,
        "{}",
        site.host
    );
    assert_eq!(site.host, site.host.to_ascii_lowercase());
    assert!(site.name.chars().count() <= MAX_NAME_LEN);
    assert!(!site.name.chars().any(char::is_control), "{:?}", site.name);
    assert!(site.tags.len() <= MAX_TAGS);
    for tag in &site.tags {
        assert!((1..=MAX_TAG_LEN).contains(&tag.len()), "{tag:?}");
        assert!(tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
    }
    assert!((MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&site.interval_s));
}
