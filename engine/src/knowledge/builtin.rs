//! The provider files compiled into the binary. A test checks that every
//! file in `engine/providers/` is listed here, so none is forgotten.

use super::SourceFile;

/// (file name, contents) of every builtin provider file.
pub(crate) const PROVIDER_FILES: &[(&str, &str)] = &[
    ("akamai.toml", include_str!("../../providers/akamai.toml")),
    ("apache.toml", include_str!("../../providers/apache.toml")),
    ("aws.toml", include_str!("../../providers/aws.toml")),
    (
        "azure-front-door.toml",
        include_str!("../../providers/azure-front-door.toml"),
    ),
    ("azure.toml", include_str!("../../providers/azure.toml")),
    ("bunny.toml", include_str!("../../providers/bunny.toml")),
    (
        "cloudflare.toml",
        include_str!("../../providers/cloudflare.toml"),
    ),
    (
        "cloudfront.toml",
        include_str!("../../providers/cloudfront.toml"),
    ),
    (
        "domain-parking.toml",
        include_str!("../../providers/domain-parking.toml"),
    ),
    ("envoy.toml", include_str!("../../providers/envoy.toml")),
    ("fastly.toml", include_str!("../../providers/fastly.toml")),
    ("fly.toml", include_str!("../../providers/fly.toml")),
    (
        "github-pages.toml",
        include_str!("../../providers/github-pages.toml"),
    ),
    ("google.toml", include_str!("../../providers/google.toml")),
    ("haproxy.toml", include_str!("../../providers/haproxy.toml")),
    ("heroku.toml", include_str!("../../providers/heroku.toml")),
    ("iis.toml", include_str!("../../providers/iis.toml")),
    ("imperva.toml", include_str!("../../providers/imperva.toml")),
    (
        "ingress-nginx.toml",
        include_str!("../../providers/ingress-nginx.toml"),
    ),
    ("keycdn.toml", include_str!("../../providers/keycdn.toml")),
    ("netlify.toml", include_str!("../../providers/netlify.toml")),
    ("nginx.toml", include_str!("../../providers/nginx.toml")),
    (
        "pantheon.toml",
        include_str!("../../providers/pantheon.toml"),
    ),
    (
        "stackpath.toml",
        include_str!("../../providers/stackpath.toml"),
    ),
    ("sucuri.toml", include_str!("../../providers/sucuri.toml")),
    ("varnish.toml", include_str!("../../providers/varnish.toml")),
    ("vercel.toml", include_str!("../../providers/vercel.toml")),
];

/// (file name, contents) of every builtin IP range snapshot.
pub(crate) const IP_RANGE_FILES: &[(&str, &str)] = &[
    (
        "cloudflare.txt",
        include_str!("../../providers/ipranges/cloudflare.txt"),
    ),
    (
        "cloudfront.txt",
        include_str!("../../providers/ipranges/cloudfront.txt"),
    ),
    (
        "fastly.txt",
        include_str!("../../providers/ipranges/fastly.txt"),
    ),
    (
        "google_cdn.txt",
        include_str!("../../providers/ipranges/google_cdn.txt"),
    ),
    (
        "imperva_incapsula.txt",
        include_str!("../../providers/ipranges/imperva_incapsula.txt"),
    ),
];

pub(super) fn provider_files() -> Vec<SourceFile> {
    PROVIDER_FILES
        .iter()
        .map(|(name, text)| SourceFile {
            name: format!("engine/providers/{name}"),
            text: (*text).to_owned(),
        })
        .collect()
}

pub(super) fn ip_range_files() -> Vec<SourceFile> {
    IP_RANGE_FILES
        .iter()
        .map(|(name, text)| SourceFile {
            name: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}
