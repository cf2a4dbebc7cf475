//! The `faultline` binary as a user runs it.

use std::process::Command;

fn faultline(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_describes_every_serve_option() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = faultline(&["serve", "--help"], dir.path());
    assert_eq!(code, 0);
    for option in [
        "--config",
        "--listen",
        "--database",
        "--site-root",
        "--log-format",
        "--log-level",
    ] {
        assert!(stdout.contains(option), "{option} missing from:\n{stdout}");
    }
}

#[test]
fn a_malformed_config_is_one_line_naming_the_key_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("faultline.toml"),
        "listen = \"not-an-address\"\n",
    )
    .unwrap();
    let (code, _, stderr) = faultline(&["serve"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("listen"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unwritable_database_path_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    let (code, _, stderr) = faultline(&["serve", "--database", "blocker/faultline.db"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("blocker"), "{stderr}");
}

#[test]
fn a_database_that_does_not_open_is_a_failure_not_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notes.db"),
        "plain text where an SQLite database should be, long enough for a header\n".repeat(8),
    )
    .unwrap();
    for args in [
        &["serve", "--database", "notes.db", "--listen", "127.0.0.1:0"][..],
        &["sites", "list", "--database", "notes.db"][..],
    ] {
        let (code, _, stderr) = faultline(args, dir.path());
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("failed to open the database") && stderr.contains("notes.db"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn sites_import_reports_bad_lines_and_keeps_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("list.txt"),
        "example.com\nnot a url at all\nhttps://shop.example.org/ Shop\n",
    )
    .unwrap();
    let (code, stdout, stderr) = faultline(
        &["sites", "import", "list.txt", "--database", "f.db"],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("list.txt:2:"), "{stderr}");
    assert!(stdout.contains("imported 2 new sites"), "{stdout}");
    let (_, listed, _) = faultline(&["sites", "list", "--database", "f.db"], dir.path());
    assert!(
        listed.contains("https://example.com/") && listed.contains("Shop"),
        "{listed}"
    );
}

#[test]
fn simulate_prints_the_report_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/negative-origin-522.toml");
    let (code, stdout, stderr) = faultline(
        &["simulate", "--json", scenario.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["scenario"], "negative-origin-522");
    assert!(report["probes"].as_i64().unwrap() > 6_000, "{report}");
    let incidents = report["incidents"].as_array().unwrap();
    assert!(incidents.iter().all(|i| i["kind"] == "site"), "{report}");
    assert!(
        incidents
            .iter()
            .any(|i| i["site"] == "shop.example.test" && i["explained_by"].is_null()),
        "{report}"
    );
}

#[test]
fn a_broken_scenario_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "name = \"x\"\nstart = \"2025-01-01T00:00:00Z\"\nduration = \"1h\"\n[[sites]]\ngroup = \"a\"\ncdn = \"nope\"\n").unwrap();
    let (code, _, stderr) = faultline(&["simulate", "bad.toml"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 4") && stderr.contains("nope"),
        "{stderr}"
    );
}

fn engine_fixture(relative: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/fixtures")
        .join(relative)
        .display()
        .to_string()
}

#[test]
fn classify_tells_an_origin_522_from_an_edge_500() {
    let dir = tempfile::tempdir().unwrap();
    let origin = engine_fixture("raw/cloudflare__522__1.http");
    let edge = engine_fixture("error-pages/cloudflare__500__1.html");
    let (code, stdout, stderr) = faultline(&["classify", &origin, &edge], dir.path());
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["file"], origin.as_str());
    assert_eq!(lines[0]["provider"], "cloudflare");
    assert_eq!(lines[0]["fault_side"], "origin");
    assert_eq!(lines[0]["fault"], "origin_timeout");
    assert_eq!(lines[0]["status"], 522);
    assert!(lines[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().contains("522")));
    assert_eq!(lines[1]["provider"], "cloudflare");
    assert_eq!(lines[1]["fault_side"], "edge");
    assert_eq!(lines[1]["fault"], "edge_error");
    assert!(lines[1]["confidence"].as_f64().unwrap() > 0.5);
}

#[test]
fn classify_reads_stdin_and_dns_facts() {
    let dir = tempfile::tempdir().unwrap();
    let dns = dir.path().join("dns.json");
    std::fs::write(&dns, r#"{"cname": ["shop.example.com.edgekey.net"]}"#).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["classify", "--dns", dns.to_str().unwrap(), "-"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\n\r\n<html><body>Service Unavailable</body></html>")
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["file"], "-");
    assert_eq!(line["status"], 503);
    let providers = line["providers"].as_array().unwrap();
    assert!(
        providers.iter().any(|p| p["provider"] == "akamai"),
        "{line}"
    );
}

#[test]
fn classify_reports_unreadable_files_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let page = engine_fixture("error-pages/nginx__502__1.html");
    let (code, stdout, stderr) = faultline(&["classify", "missing.html", &page], dir.path());
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.html"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(lines[0]["error"].as_str().is_some(), "{stdout}");
    assert_eq!(lines[1]["fault_side"], "origin");
    assert_eq!(lines[1]["provider"], serde_json::Value::Null);

    let bad_dns = dir.path().join("dns.json");
    std::fs::write(&bad_dns, "{\"cnames\": []}").unwrap();
    let (code, _, stderr) = faultline(
        &["classify", "--dns", bad_dns.to_str().unwrap(), &page],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("cnames"), "{stderr}");
}

/// Serves published range lists on loopback, as the providers do online.
async fn range_server() -> std::net::SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/ips-v4",
            get(|| async { "198.51.100.0/24\n173.245.48.0/20\n" }),
        )
        .route("/ips-v6", get(|| async { "2606:4700::/32\n" }))
        .route(
            "/aws.json",
            get(|| async {
                r#"{"prefixes": [{"ip_prefix": "203.0.113.0/24", "service": "CLOUDFRONT"},
                                 {"ip_prefix": "192.0.2.0/24", "service": "EC2"}],
                    "ipv6_prefixes": []}"#
            }),
        )
        .route("/garbage", get(|| async { "this is not a prefix\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_ranges_attribute_addresses_and_a_bad_source_keeps_the_old_file() {
    let addr = range_server().await;
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("providers");
    let sources = dir.path().join("sources.toml");
    std::fs::write(
        &sources,
        format!(
            r#"
[[source]]
file = "cloudflare.txt"
urls = ["http://{addr}/ips-v4", "http://{addr}/ips-v6"]
format = "lines"

[[source]]
file = "cloudfront.txt"
urls = ["http://{addr}/aws.json"]
format = "json"
keys = ["ip_prefix", "ipv6_prefix"]
where = {{ service = "CLOUDFRONT" }}
"#
        ),
    )
    .unwrap();
    let run = |args: Vec<String>| {
        let cwd = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            faultline(&args, &cwd)
        })
    };
    let overrides_arg = overrides.display().to_string();
    let (code, stdout, stderr) = run(vec![
        "providers".into(),
        "refresh-ranges".into(),
        overrides_arg.clone(),
        "--sources".into(),
        sources.display().to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("cloudflare.txt: 3 prefixes"), "{stdout}");
    assert!(stdout.contains("cloudfront.txt: 1 prefixes"), "{stdout}");
    let cloudfront = std::fs::read_to_string(overrides.join("ipranges/cloudfront.txt")).unwrap();
    assert!(cloudfront.contains("203.0.113.0/24") && !cloudfront.contains("192.0.2.0/24"));

    // An address only the refreshed list knows is now attributed.
    let dns = dir.path().join("dns.json");
    std::fs::write(&dns, r#"{"addresses": ["198.51.100.7"]}"#).unwrap();
    let page = dir.path().join("page.http");
    std::fs::write(&page, "HTTP/1.1 200 OK\r\n\r\nhello").unwrap();
    let classify = |providers: Option<&str>| {
        let mut args = vec![
            "classify".to_owned(),
            "--dns".into(),
            dns.display().to_string(),
        ];
        if let Some(p) = providers {
            args.extend(["--providers".to_owned(), p.to_owned()]);
        }
        args.push(page.display().to_string());
        run(args)
    };
    let (_, with, _) = classify(Some(&overrides_arg)).await.unwrap();
    assert!(with.contains(r#""provider":"cloudflare""#), "{with}");
    let (_, without, _) = classify(None).await.unwrap();
    assert!(!without.contains(r#""provider":"cloudflare""#), "{without}");

    // A source that serves garbage fails alone and leaves its file.
    std::fs::write(
        &sources,
        format!("[[source]]\nfile = \"cloudflare.txt\"\nurls = [\"http://{addr}/garbage\"]\nformat = \"lines\"\n"),
    )
    .unwrap();
    let (code, _, stderr) = run(vec![
        "providers".into(),
        "refresh-ranges".into(),
        overrides_arg.clone(),
        "--sources".into(),
        sources.display().to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("kept the previous file") && stderr.contains("line 1"),
        "{stderr}"
    );
    let kept = std::fs::read_to_string(overrides.join("ipranges/cloudflare.txt")).unwrap();
    assert!(kept.contains("198.51.100.0/24"));

    let (code, stdout, _) = run(vec!["providers".into(), "check".into(), overrides_arg])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("valid"), "{stdout}");
}

#[test]
fn providers_check_names_the_bad_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "id = \"mine\"\nname = \"Mine\"\nrole = \"cdn\"\nsource = \"test\"\nserver = ['(']\n",
    )
    .unwrap();
    let (code, _, stderr) = faultline(
        &["providers", "check", dir.path().to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("mine.toml"), "{stderr}");
}

#[test]
fn a_demo_never_writes_into_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("faultline.db");
    std::fs::write(&existing, b"not to be touched").unwrap();
    let (code, _, stderr) = faultline(
        &[
            "demo",
            "--database",
            existing.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"not to be touched");
}

#[test]
fn a_token_is_shown_once_listed_by_name_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("faultline.db");
    let database = database.to_str().unwrap();
    let (code, token, said) = faultline(
        &[
            "tokens",
            "create",
            "newsroom",
            "--scope",
            "write",
            "--database",
            database,
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{said}");
    let token = token.trim();
    assert!(token.starts_with("flt_") && token.len() > 40, "{token}");
    assert!(said.contains("Shown once"), "{said}");

    let (code, listed, _) = faultline(&["tokens", "list", "--database", database], dir.path());
    assert_eq!(code, 0);
    assert!(listed.contains("newsroom\twrite\tused -\tlive"), "{listed}");
    assert!(!listed.contains(token), "a listing never shows the token");

    let (code, _, _) = faultline(
        &["tokens", "revoke", "1", "--database", database],
        dir.path(),
    );
    assert_eq!(code, 0);
    let (_, listed, _) = faultline(&["tokens", "list", "--database", database], dir.path());
    assert!(listed.contains("revoked"), "{listed}");
    let (code, _, said) = faultline(
        &["tokens", "revoke", "1", "--database", database],
        dir.path(),
    );
    assert_eq!(code, 2, "{said}");
    let (code, _, _) = faultline(
        &["tokens", "create", "", "--database", database],
        dir.path(),
    );
    assert_eq!(code, 2);
}

#[test]
fn an_agent_is_registered_with_a_token_shown_once_and_revoked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("faultline.db");
    let database = database.to_str().unwrap();
    let add = |name: &str, region: &str| {
        faultline(
            &[
                "agent",
                "add",
                name,
                "--region",
                region,
                "--database",
                database,
            ],
            dir.path(),
        )
    };
    let (code, token, said) = add("paris-1", "eu-west");
    assert_eq!(code, 0, "{said}");
    let token = token.trim();
    assert!(token.starts_with("flt_") && token.len() > 40, "{token}");
    assert!(
        said.contains("paris-1 in eu-west") && said.contains("shown once"),
        "{said}"
    );

    // The store keeps the hash, by which the central will know the agent.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let found = runtime.block_on(async {
        let store = store::Store::open(std::path::Path::new(database))
            .await
            .unwrap();
        let found = store
            .agent_by_token(&app::admin_tokens::token_hash(token))
            .await
            .unwrap();
        store.close().await;
        found
    });
    let found = found.expect("the agent is found by its token's hash");
    assert_eq!(
        (found.name.as_str(), found.region.as_str()),
        ("paris-1", "eu-west")
    );

    let (code, _, said) = add("paris-1", "us-east");
    assert_eq!(code, 2, "a name is taken once: {said}");
    assert!(said.contains("exists already"), "{said}");
    for (name, region) in [
        ("paris 1", "eu-west"),
        ("tokyo-1", "EU West"),
        ("tokyo-1", ""),
    ] {
        let (code, token, said) = add(name, region);
        assert_eq!((code, token.as_str()), (2, ""), "{name} {region}: {said}");
    }

    let list = || faultline(&["agent", "list", "--database", database], dir.path());
    let (code, listed, _) = list();
    assert_eq!(code, 0);
    assert_eq!(
        listed, "paris-1\teu-west\tseen never\tnetwork unknown\tlive\n",
        "no results yet: its network is unknown"
    );
    assert!(!listed.contains(token), "a listing never shows the token");

    let revoke = || {
        faultline(
            &["agent", "revoke", "paris-1", "--database", database],
            dir.path(),
        )
    };
    assert_eq!(revoke().0, 0);
    let (_, listed, _) = list();
    assert!(listed.contains("\trevoked "), "{listed}");
    let (code, _, said) = revoke();
    assert_eq!(code, 2, "{said}");
    let (code, listed, _) = faultline(
        &["agent", "list", "--json", "--database", database],
        dir.path(),
    );
    assert_eq!(code, 0);
    let agent: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(agent["region"], "eu-west");
    assert_eq!(agent["network"], "unknown");
    assert!(agent["revoked_at"].is_string(), "{agent}");
}
