//! The knowledge-base loader treats provider files as untrusted input:
//! every refusal names the file and line.

use engine::knowledge::{LoadErrorKind, SourceFile};
use engine::{KnowledgeBase, Limits, LoadError, Observation};
use std::path::Path;
use std::sync::Arc;

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
    }
}

fn load(files: &[SourceFile]) -> Result<KnowledgeBase, LoadError> {
    KnowledgeBase::from_sources(files, &[], &Limits::default())
}

const GOOD: &str = r#"id = "example"
name = "Example CDN"
role = "cdn"
source = "test"
server = ['^example$']

[[page]]
body = ["Example CDN error"]
fault_side = "edge"
fault = "edge_error"
"#;

#[test]
fn builtin_set_loads_and_covers_the_required_providers() {
    let kb = KnowledgeBase::builtin().unwrap();
    let ids: Vec<String> = kb.ids().map(|(id, _)| id.to_string()).collect();
    for want in [
        "cloudflare",
        "akamai",
        "fastly",
        "cloudfront",
        "aws",
        "azure-front-door",
        "azure",
        "google",
        "vercel",
        "netlify",
        "fly",
        "heroku",
        "github-pages",
        "bunny",
        "imperva",
        "sucuri",
        "stackpath",
        "keycdn",
        "nginx",
        "apache",
        "iis",
        "haproxy",
        "envoy",
        "varnish",
        "ingress-nginx",
    ] {
        assert!(ids.iter().any(|i| i == want), "missing {want}");
    }
    assert!(kb.ip_range_count() > 300);
    assert_eq!(kb.name_of("cloudfront"), Some("Amazon CloudFront"));
}

#[test]
fn every_file_in_the_providers_directory_is_compiled_in_under_its_own_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("providers");
    let kb = KnowledgeBase::builtin().unwrap();
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stems.sort();
    let mut ids: Vec<String> = kb.ids().map(|(id, _)| id.to_string()).collect();
    ids.sort();
    assert_eq!(stems, ids);
}

#[test]
fn oversized_file_is_refused_with_file_and_line() {
    let big = format!("{GOOD}\n{}", "# padding\n".repeat(10_000));
    let err = load(&[file("big.toml", &big)]).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::TooLarge { .. }), "{err}");
    assert_eq!(err.file, "big.toml");
    let limit_line = big[..Limits::default().max_file_bytes].lines().count();
    assert_eq!(err.line, limit_line);
    assert!(
        err.to_string()
            .starts_with(&format!("big.toml:{limit_line}: ")),
        "{err}"
    );
}

#[test]
fn bad_regex_is_refused_with_file_and_line() {
    let text = GOOD.replace("server = ['^example$']", "server = ['^(example']");
    let err = load(&[file("bad.toml", &text)]).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::BadRegex { .. }), "{err}");
    assert_eq!((err.file.as_str(), err.line), ("bad.toml", 5), "{err}");

    let text = format!("{GOOD}\n[[page]]\nbody_regex = 'a{{99999}}{{99999}}'\nfault_side = \"origin\"\nfault = \"unknown\"\n");
    let err = load(&[file("huge.toml", &text)]).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::BadRegex { .. }), "{err}");
    assert_eq!(err.line, 12, "the [[page]] table's line: {err}");
}

#[test]
fn duplicate_provider_id_names_both_places() {
    let err = load(&[file("a.toml", GOOD), file("b.toml", GOOD)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "b.toml:1: provider id \"example\" already defined at a.toml:1"
    );
}

#[test]
fn conflicting_markers_are_refused() {
    let other = GOOD
        .replace("\"example\"", "\"other\"")
        .replace("'^example$'", "'^other$'")
        .replace("fault_side = \"edge\"", "fault_side = \"origin\"");
    let err = load(&[file("a.toml", GOOD), file("b.toml", &other)]).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Conflict { .. }), "{err}");
    assert_eq!((err.file.as_str(), err.line), ("b.toml", 7), "{err}");
    assert!(err.to_string().contains("a.toml:7"), "{err}");

    // The same marker twice in one file, same meaning: a duplicate.
    let twice = format!("{GOOD}\n[[page]]\nbody = [\"example cdn ERROR\"]\nfault_side = \"edge\"\nfault = \"edge_error\"\n");
    let err = load(&[file("a.toml", &twice)]).unwrap_err();
    assert!(matches!(err.kind, LoadErrorKind::Duplicate { .. }), "{err}");
    assert_eq!(err.line, 12, "{err}");
}

#[test]
fn other_refusals_name_the_line() {
    let cases = [
        (GOOD.replace("role = \"cdn\"", "role = \"cache\""), 3),
        (
            GOOD.replace("fault = \"edge_error\"", "fault = \"oops\""),
            10,
        ),
        (format!("{GOOD}\nunknown_key = 1\n"), 12),
        (GOOD.replace("id = \"example\"", "id = \"Bad Id\""), 1),
        (
            format!("{GOOD}\n[[page]]\nfault_side = \"edge\"\nfault = \"edge_error\"\n"),
            12,
        ),
    ];
    for (text, line) in cases {
        let err = load(&[file("x.toml", &text)]).unwrap_err();
        assert_eq!(err.line, line, "{err}");
        assert!(
            err.to_string().starts_with(&format!("x.toml:{line}: ")),
            "{err}"
        );
    }
}

#[test]
fn too_many_patterns_and_files() {
    let limits = Limits {
        max_patterns_per_provider: 1,
        ..Limits::default()
    };
    let text = GOOD.replace("server = ['^example$']", "server = ['^a$', '^b$']");
    let err = KnowledgeBase::from_sources(&[file("x.toml", &text)], &[], &limits).unwrap_err();
    assert!(
        matches!(err.kind, LoadErrorKind::TooManyPatterns { .. }),
        "{err}"
    );
    let limits = Limits {
        max_files: 1,
        ..Limits::default()
    };
    let err =
        KnowledgeBase::from_sources(&[file("a.toml", GOOD), file("b.toml", GOOD)], &[], &limits)
            .unwrap_err();
    assert!(
        matches!(err.kind, LoadErrorKind::TooManyFiles { .. }),
        "{err}"
    );
}

#[test]
fn ip_range_files_are_validated_line_by_line() {
    let text = GOOD.replace("server =", "ip_range_files = [\"r.txt\"]\nserver =");
    let ranges = file("r.txt", "# comment\n10.0.0.0/8\n10.0.0.1/8\n");
    let err = KnowledgeBase::from_sources(&[file("x.toml", &text)], &[ranges], &Limits::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ipranges/r.txt:3: bad IP range \"10.0.0.1/8\": host bits set"
    );
    let err =
        KnowledgeBase::from_sources(&[file("x.toml", &text)], &[], &Limits::default()).unwrap_err();
    assert_eq!(err.line, 5, "{err}");
}

#[test]
fn overrides_replace_builtin_providers_and_add_new_ones() {
    // Replace Cloudflare wholesale with a file that only knows its Server header.
    let cloudflare = "id = \"cloudflare\"\nname = \"Cloudflare\"\nrole = \"cdn\"\nsource = \"test\"\nserver = ['^cloudflare$']\n";
    let kb = KnowledgeBase::overlay(
        &[
            file("example.toml", GOOD),
            file("cloudflare.toml", cloudflare),
        ],
        &[],
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(kb.name_of("example"), Some("Example CDN"));
    assert!(kb.name_of("fastly").is_some());

    let page = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/error-pages/cloudflare__521__1.html"),
    )
    .unwrap();
    let c = kb.classify(&Observation::from_body(page));
    assert_eq!(
        c.provider, None,
        "the override dropped Cloudflare's page markers"
    );
    let c = kb.classify(&Observation::from_body("<p>Example CDN error</p>"));
    assert_eq!(c.provider.unwrap().as_str(), "example");
}

#[test]
fn a_refused_overlay_leaves_the_caller_with_the_last_good_set() {
    let mut current = Arc::new(
        KnowledgeBase::overlay(&[file("example.toml", GOOD)], &[], &Limits::default()).unwrap(),
    );
    let broken = file("example.toml", &GOOD.replace("'^example$'", "'('"));
    match KnowledgeBase::overlay(&[broken], &[], &Limits::default()) {
        Ok(kb) => current = Arc::new(kb),
        Err(e) => assert!(e.to_string().contains("example.toml:5: bad regex"), "{e}"),
    }
    assert_eq!(current.name_of("example"), Some("Example CDN"));
}

#[test]
fn status_pages_are_read_from_provider_files_and_checked() {
    let builtin = KnowledgeBase::builtin().unwrap();
    let pages: Vec<_> = builtin
        .status_pages()
        .map(|(id, page)| (id.as_str().to_owned(), page.format))
        .collect();
    for (id, format) in [
        ("cloudflare", engine::vocab::StatusFormat::Statuspage),
        ("google", engine::vocab::StatusFormat::GoogleCloud),
        ("aws", engine::vocab::StatusFormat::Feed),
        ("azure", engine::vocab::StatusFormat::Feed),
        ("akamai", engine::vocab::StatusFormat::Feed),
        ("github-pages", engine::vocab::StatusFormat::Statuspage),
        ("vercel", engine::vocab::StatusFormat::Statuspage),
        ("netlify", engine::vocab::StatusFormat::Statuspage),
        ("fly", engine::vocab::StatusFormat::Statuspage),
        ("imperva", engine::vocab::StatusFormat::Feed),
        ("pantheon", engine::vocab::StatusFormat::Feed),
    ] {
        assert!(pages.contains(&(id.to_owned(), format)), "{id}: {pages:?}");
    }
    let with = |status: &str| {
        load(&[file(
            "x.toml",
            &format!(
                "id = \"x\"\nname = \"X\"\nrole = \"cdn\"\nsource = \"s\"\n\n[status]\n{status}\n"
            ),
        )])
    };
    let good = with(
        "url = \"https://status.x.example/api/v2/incidents.json\"\nformat = \"statuspage\"\npage = \"https://status.x.example/\"\nsource = \"s\"",
    );
    assert_eq!(good.unwrap().status_pages().count(), 1);
    for (bad, says) in [
        (
            "url = \"http://status.x.example/\"\nformat = \"statuspage\"\npage = \"https://status.x.example/\"\nsource = \"s\"",
            "must be an https URL",
        ),
        (
            "url = \"https://user@status.x.example/\"\nformat = \"feed\"\npage = \"https://status.x.example/\"\nsource = \"s\"",
            "must be an https URL",
        ),
        (
            "url = \"https://status.x.example/\"\nformat = \"html\"\npage = \"https://status.x.example/\"\nsource = \"s\"",
            "html",
        ),
        (
            "url = \"https://status.x.example/\"\nformat = \"feed\"\npage = \"https://status.x.example/\"\nsource = \" \"",
            "source is empty",
        ),
    ] {
        let error = with(bad).unwrap_err().to_string();
        assert!(error.contains(says), "{bad}: {error}");
        assert!(error.starts_with("x.toml:6") || error.starts_with("x.toml:8"), "{error}");
    }
}
