//! From parsed provider files to the compiled [`KnowledgeBase`]: every
//! check that makes a file untrusted-input safe lives here.

use super::schema::{ElementDef, FileDef, Kind, StatusPageDef};
use super::{KnowledgeBase, Limits, LoadError, LoadErrorKind, SourceFile, StatusPage};
use crate::iprange::IpRangeSet;
use crate::provider::ProviderId;
use crate::vocab::{Fault, FaultSide};
use crate::vocab::{Role, StatusFormat};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::net::IpAddr;
use toml::Spanned;

/// Confidence of a page marker that does not state one.
const DEFAULT_PAGE_CONFIDENCE: f64 = 0.9;
/// Confidence of a status rule that does not state one.
const DEFAULT_STATUS_CONFIDENCE: f64 = 0.6;

/// One provider or origin software, compiled.
#[derive(Debug)]
pub(crate) struct Entry {
    pub id: ProviderId,
    pub kind: Kind,
    /// Display name, e.g. "Amazon CloudFront".
    pub name: String,
    pub role: Role,
    pub headers: Vec<HeaderSignal>,
    /// (regex, pattern text) on the `Server` value.
    pub server: Vec<Regex>,
    /// Lowercase, without leading or trailing dot.
    pub cname_suffixes: Vec<String>,
    pub ns_suffixes: Vec<String>,
    pub pages: Vec<PageMarker>,
    pub status_rules: Vec<StatusRule>,
    pub status_page: Option<StatusPage>,
}

#[derive(Debug)]
pub(crate) struct HeaderSignal {
    /// Lowercase.
    pub name: String,
    pub value: Option<Regex>,
    pub role: Role,
}

#[derive(Debug)]
pub(crate) struct PageMarker {
    /// (literal id in the knowledge base's automaton, literal text).
    pub literals: Vec<(usize, String)>,
    pub body_regex: Option<regex::bytes::Regex>,
    /// Literal ids of which at least one must be in the body for
    /// `body_regex` to match (its possible prefixes): without one, the
    /// regex is not run. Empty: always run it.
    pub regex_gates: Vec<usize>,
    pub title: Option<Regex>,
    pub element: Option<ElementDef>,
    pub status: Vec<u16>,
    pub side: FaultSide,
    pub fault: Fault,
    pub priority: i32,
    pub confidence: f64,
    /// How many conditions the marker has; more conditions, more specific.
    pub specificity: usize,
}

#[derive(Debug)]
pub(crate) struct StatusRule {
    pub codes: Vec<u16>,
    pub header: Option<(String, Option<Regex>)>,
    pub empty_body: Option<bool>,
    pub side: FaultSide,
    pub fault: Fault,
    pub confidence: f64,
}

struct Parsed<'a> {
    file: &'a SourceFile,
    def: FileDef,
}

/// Compiles `base` overlaid by `overrides` (an override replaces the base
/// file with the same id).
pub(super) fn compile(
    base: &[SourceFile],
    overrides: &[SourceFile],
    ip_files: &[SourceFile],
    limits: &Limits,
) -> Result<KnowledgeBase, LoadError> {
    if base.len() + overrides.len() > limits.max_files {
        let file = overrides
            .first()
            .or(base.first())
            .map(|f| f.name.clone())
            .unwrap_or_default();
        return Err(LoadError {
            file,
            line: 0,
            kind: LoadErrorKind::TooManyFiles {
                limit: limits.max_files,
            },
        });
    }
    let base = base
        .iter()
        .map(|f| parse(f, limits))
        .collect::<Result<Vec<_>, _>>()?;
    let overrides = overrides
        .iter()
        .map(|f| parse(f, limits))
        .collect::<Result<Vec<_>, _>>()?;
    let overridden: Vec<&str> = overrides
        .iter()
        .map(|p| p.def.id.get_ref().as_str())
        .collect();
    let parsed: Vec<&Parsed> = base
        .iter()
        .filter(|p| !overridden.contains(&p.def.id.get_ref().as_str()))
        .chain(overrides.iter())
        .collect();

    let mut cx = Compiler {
        limits,
        ip_files,
        ids: HashMap::new(),
        suffixes: HashMap::new(),
        servers: HashMap::new(),
        headers: HashMap::new(),
        markers: HashMap::new(),
        prefixes: HashMap::new(),
        literals: Vec::new(),
        literal_ids: HashMap::new(),
        ranges: Vec::new(),
    };
    let mut entries = Vec::new();
    for p in parsed {
        let index = entries.len();
        entries.push(cx.entry(p, index)?);
    }
    let literal_count = cx.literals.len();
    let literals = if cx.literals.is_empty() {
        None
    } else {
        Some(build_automaton(&cx.literals).map_err(|message| LoadError {
            file: String::from("<literals>"),
            line: 0,
            kind: LoadErrorKind::Invalid(message),
        })?)
    };
    let mut element_ids: Vec<String> = entries
        .iter()
        .flat_map(|e: &Entry| e.pages.iter())
        .filter_map(|m| m.element.as_ref().map(|el| el.id.clone()))
        .collect();
    element_ids.sort();
    element_ids.dedup();
    Ok(KnowledgeBase {
        element_ids,
        entries,
        ip: IpRangeSet::new(cx.ranges),
        literals,
        literal_count,
    })
}

fn build_automaton(literals: &[String]) -> Result<AhoCorasick, String> {
    // A full DFA: one table lookup per byte. The default for this many
    // patterns is an NFA, slower over a 256 KiB body, and the table stays
    // small (a few hundred short literals).
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(literals)
        .map_err(|e| e.to_string())
}

fn parse<'a>(file: &'a SourceFile, limits: &Limits) -> Result<Parsed<'a>, LoadError> {
    if file.text.len() > limits.max_file_bytes {
        return Err(LoadError {
            file: file.name.clone(),
            line: line_of(&file.text, limits.max_file_bytes),
            kind: LoadErrorKind::TooLarge {
                limit: limits.max_file_bytes,
            },
        });
    }
    let def: FileDef = toml::from_str(&file.text).map_err(|e| LoadError {
        file: file.name.clone(),
        line: e.span().map(|s| line_of(&file.text, s.start)).unwrap_or(0),
        kind: LoadErrorKind::Syntax(e.message().trim().to_owned()),
    })?;
    Ok(Parsed { file, def })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where something was defined, for "already at" messages.
#[derive(Clone)]
struct Origin {
    id: String,
    at: String,
}

/// What a marker or signal means, to tell a duplicate from a conflict.
type Meaning = (String, String, String);

struct Compiler<'a> {
    limits: &'a Limits,
    ip_files: &'a [SourceFile],
    ids: HashMap<String, String>,
    suffixes: HashMap<(bool, String), Origin>,
    servers: HashMap<String, Origin>,
    headers: HashMap<(String, String), Origin>,
    markers: HashMap<String, (Origin, Meaning)>,
    prefixes: HashMap<IpNet, Origin>,
    literals: Vec<String>,
    literal_ids: HashMap<String, usize>,
    ranges: Vec<(IpNet, usize)>,
}

impl Compiler<'_> {
    fn entry(&mut self, p: &Parsed, index: usize) -> Result<Entry, LoadError> {
        let file = p.file;
        let def = &p.def;
        let err = |span: std::ops::Range<usize>, kind: LoadErrorKind| LoadError {
            file: file.name.clone(),
            line: line_of(&file.text, span.start),
            kind,
        };
        let at = |span: std::ops::Range<usize>| {
            format!("{}:{}", file.name, line_of(&file.text, span.start))
        };
        let id_text = def.id.get_ref();
        let id = ProviderId::parse(id_text).ok_or_else(|| {
            err(
                def.id.span(),
                LoadErrorKind::Invalid(format!(
                    "id {id_text:?} must be lowercase letters, digits and '-'"
                )),
            )
        })?;
        if let Some(first) = self.ids.get(id_text) {
            return Err(err(
                def.id.span(),
                LoadErrorKind::DuplicateProvider {
                    id: id_text.clone(),
                    first: first.clone(),
                },
            ));
        }
        self.ids.insert(id_text.clone(), at(def.id.span()));
        let role = match (def.kind, def.role) {
            (_, Some(role)) => role,
            (Kind::Software, None) => Role::Host,
            (Kind::Provider, None) => {
                return Err(err(
                    def.id.span(),
                    LoadErrorKind::Invalid(String::from("a provider needs a role")),
                ))
            }
        };
        if def.source.trim().is_empty() {
            return Err(err(
                def.id.span(),
                LoadErrorKind::Invalid(String::from(
                    "source must name where the signals come from",
                )),
            ));
        }
        let count = def.cname_suffixes.len()
            + def.ns_suffixes.len()
            + def.server.len()
            + def.header.len()
            + def.page.len()
            + def.status_rule.len()
            + def.ip_range_files.len();
        if count > self.limits.max_patterns_per_provider {
            return Err(err(
                def.id.span(),
                LoadErrorKind::TooManyPatterns {
                    id: id_text.clone(),
                    limit: self.limits.max_patterns_per_provider,
                },
            ));
        }
        let origin = |span: std::ops::Range<usize>| Origin {
            id: id_text.clone(),
            at: at(span),
        };

        let mut cname_suffixes = Vec::new();
        let mut ns_suffixes = Vec::new();
        for (is_ns, list) in [(false, &def.cname_suffixes), (true, &def.ns_suffixes)] {
            for s in list {
                let norm = normalize_suffix(s.get_ref()).ok_or_else(|| {
                    err(
                        s.span(),
                        LoadErrorKind::Invalid(format!("bad DNS suffix {:?}", s.get_ref())),
                    )
                })?;
                self.claim_unique(
                    |c| &mut c.suffixes,
                    (is_ns, norm.clone()),
                    origin(s.span()),
                    if is_ns { "NS suffix" } else { "CNAME suffix" },
                    &norm,
                )
                .map_err(|k| err(s.span(), k))?;
                if is_ns {
                    ns_suffixes.push(norm);
                } else {
                    cname_suffixes.push(norm);
                }
            }
        }

        let mut server = Vec::new();
        for s in &def.server {
            let re = self
                .regex(s.get_ref(), true)
                .map_err(|k| err(s.span(), k))?;
            self.claim_unique(
                |c| &mut c.servers,
                s.get_ref().to_ascii_lowercase(),
                origin(s.span()),
                "server pattern",
                s.get_ref(),
            )
            .map_err(|k| err(s.span(), k))?;
            server.push(re);
        }

        let mut headers = Vec::new();
        for h in &def.header {
            let hd = h.get_ref();
            check_source(hd.source.as_deref()).map_err(|k| err(h.span(), k))?;
            let name = header_name(&hd.name).map_err(|k| err(h.span(), k))?;
            let value = match &hd.value {
                Some(v) => Some(self.regex(v, true).map_err(|k| err(h.span(), k))?),
                None => None,
            };
            let key_value = hd.value.clone().unwrap_or_default();
            self.claim_unique(
                |c| &mut c.headers,
                (name.clone(), key_value.to_ascii_lowercase()),
                origin(h.span()),
                "header signal",
                &format!("{name}: {key_value}"),
            )
            .map_err(|k| err(h.span(), k))?;
            headers.push(HeaderSignal {
                name,
                value,
                role: hd.role.unwrap_or(role),
            });
        }

        let mut pages = Vec::new();
        for m in &def.page {
            pages.push(
                self.page(m, &origin(m.span()))
                    .map_err(|k| err(m.span(), k))?,
            );
        }

        let mut status_rules = Vec::new();
        let mut rule_keys: HashMap<String, (String, Meaning)> = HashMap::new();
        for r in &def.status_rule {
            let rd = r.get_ref();
            validate_statuses(&rd.codes).map_err(|k| err(r.span(), k))?;
            check_source(rd.source.as_deref()).map_err(|k| err(r.span(), k))?;
            let header = match &rd.header {
                Some(h) => {
                    let name = header_name(&h.name).map_err(|k| err(r.span(), k))?;
                    let value = match &h.value {
                        Some(v) => Some(self.regex(v, true).map_err(|k| err(r.span(), k))?),
                        None => None,
                    };
                    Some((name, value))
                }
                None => None,
            };
            let confidence = confidence(rd.confidence, DEFAULT_STATUS_CONFIDENCE)
                .map_err(|k| err(r.span(), k))?;
            let mut codes = rd.codes.clone();
            codes.sort_unstable();
            let key = format!(
                "{codes:?} {:?} {:?} {:?}",
                rd.header.as_ref().map(|h| h.name.to_ascii_lowercase()),
                rd.header.as_ref().and_then(|h| h.value.clone()),
                rd.empty_body
            );
            let meaning = (
                String::new(),
                rd.fault_side.to_string(),
                rd.fault.to_string(),
            );
            if let Some((first, first_meaning)) = rule_keys.get(&key) {
                let kind = if *first_meaning == meaning {
                    LoadErrorKind::Duplicate {
                        what: "status rule",
                        value: key,
                        first: first.clone(),
                    }
                } else {
                    LoadErrorKind::Conflict {
                        what: "status rule",
                        value: key,
                        first: first.clone(),
                    }
                };
                return Err(err(r.span(), kind));
            }
            rule_keys.insert(key, (at(r.span()), meaning));
            status_rules.push(StatusRule {
                codes,
                header,
                empty_body: rd.empty_body,
                side: rd.fault_side,
                fault: rd.fault,
                confidence,
            });
        }

        for f in &def.ip_range_files {
            self.ip_file(f, index, id_text)
                .map_err(|e| e.unwrap_or_else(|k| err(f.span(), k)))?;
        }

        let status_page = match &def.status {
            Some(status) => Some(status_page(status.get_ref()).map_err(|k| err(status.span(), k))?),
            None => None,
        };

        Ok(Entry {
            id,
            kind: def.kind,
            name: def.name.clone(),
            role,
            headers,
            server,
            cname_suffixes,
            ns_suffixes,
            pages,
            status_rules,
            status_page,
        })
    }

    /// Records `key` as claimed; a second claim by the same provider is a
    /// duplicate, by another provider a conflict.
    fn claim_unique<K: std::hash::Hash + Eq>(
        &mut self,
        map: impl FnOnce(&mut Self) -> &mut HashMap<K, Origin>,
        key: K,
        origin: Origin,
        what: &'static str,
        shown: &str,
    ) -> Result<(), LoadErrorKind> {
        let map = map(self);
        if let Some(first) = map.get(&key) {
            let value = shown.to_owned();
            return Err(if first.id == origin.id {
                LoadErrorKind::Duplicate {
                    what,
                    value,
                    first: first.at.clone(),
                }
            } else {
                LoadErrorKind::Conflict {
                    what,
                    value,
                    first: format!("{} ({})", first.at, first.id),
                }
            });
        }
        map.insert(key, origin);
        Ok(())
    }

    fn regex(&self, pattern: &str, case_insensitive: bool) -> Result<Regex, LoadErrorKind> {
        self.check_len(pattern)?;
        RegexBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .size_limit(self.limits.regex_size_limit)
            .dfa_size_limit(self.limits.regex_dfa_size_limit)
            .nest_limit(32)
            .build()
            .map_err(|e| LoadErrorKind::BadRegex {
                pattern: pattern.to_owned(),
                message: first_line(&e.to_string()),
            })
    }

    fn bytes_regex(&self, pattern: &str) -> Result<regex::bytes::Regex, LoadErrorKind> {
        self.check_len(pattern)?;
        // ASCII classes and word boundaries: a Unicode `\b` would push the
        // matcher off its DFA onto a slower engine on non-ASCII pages.
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(false)
            .size_limit(self.limits.regex_size_limit)
            .dfa_size_limit(self.limits.regex_dfa_size_limit)
            .nest_limit(32)
            .build()
            .map_err(|e| LoadErrorKind::BadRegex {
                pattern: pattern.to_owned(),
                message: first_line(&e.to_string()),
            })
    }

    /// Literal ids of the prefixes every match of `pattern` starts with,
    /// added to the automaton: one pass finds them for every regex, and a
    /// regex whose prefixes are absent is never run over a large body.
    /// Empty when the prefixes cannot be listed (or are too short to be a
    /// useful gate); a regex anchored at the start is cheap anyway.
    fn gates_of(&mut self, pattern: &str) -> Vec<usize> {
        const MIN_GATE: usize = 3;
        const MAX_GATES: usize = 16;
        let Ok(hir) = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .nest_limit(32)
            .build()
            .parse(pattern)
        else {
            return Vec::new();
        };
        let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
        let Some(prefixes) = seq.literals() else {
            return Vec::new();
        };
        let mut texts = Vec::new();
        for prefix in prefixes {
            match std::str::from_utf8(prefix.as_bytes()) {
                Ok(text) if text.len() >= MIN_GATE && text.is_ascii() => texts.push(text),
                _ => return Vec::new(),
            }
        }
        if texts.is_empty() || texts.len() > MAX_GATES {
            return Vec::new();
        }
        texts
            .into_iter()
            .map(|text| {
                let next = self.literals.len();
                let id = *self
                    .literal_ids
                    .entry(text.to_ascii_lowercase())
                    .or_insert(next);
                if id == next {
                    self.literals.push(text.to_owned());
                }
                id
            })
            .collect()
    }

    fn check_len(&self, pattern: &str) -> Result<(), LoadErrorKind> {
        if pattern.chars().count() > self.limits.max_pattern_len {
            return Err(LoadErrorKind::Invalid(format!(
                "pattern longer than {} characters",
                self.limits.max_pattern_len
            )));
        }
        Ok(())
    }

    fn page(
        &mut self,
        m: &Spanned<super::schema::PageDef>,
        origin: &Origin,
    ) -> Result<PageMarker, LoadErrorKind> {
        let md = m.get_ref();
        if md.body.is_empty()
            && md.body_regex.is_none()
            && md.title.is_none()
            && md.element.is_none()
        {
            return Err(LoadErrorKind::Invalid(String::from(
                "a page marker needs body, body_regex, title or element",
            )));
        }
        validate_statuses(&md.status)?;
        check_source(md.source.as_deref())?;
        let confidence = confidence(md.confidence, DEFAULT_PAGE_CONFIDENCE)?;
        let mut literals = Vec::new();
        for lit in &md.body {
            self.check_len(lit)?;
            if lit.trim().len() < 3 {
                return Err(LoadErrorKind::Invalid(format!(
                    "body literal {lit:?} is too short to mean anything"
                )));
            }
            let key = lit.to_ascii_lowercase();
            let next = self.literals.len();
            let id = *self.literal_ids.entry(key).or_insert(next);
            if id == next {
                self.literals.push(lit.clone());
            }
            literals.push((id, lit.clone()));
        }
        let body_regex = match &md.body_regex {
            Some(r) => Some(self.bytes_regex(r)?),
            None => None,
        };
        let regex_gates = match &md.body_regex {
            Some(r) => self.gates_of(r),
            None => Vec::new(),
        };
        let title = match &md.title {
            Some(r) => Some(self.regex(r, true)?),
            None => None,
        };
        if let Some(el) = &md.element {
            if el.id.trim().is_empty() || el.class.trim().is_empty() {
                return Err(LoadErrorKind::Invalid(String::from(
                    "element needs a non-empty id and class",
                )));
            }
        }
        let mut sorted_lits: Vec<String> = md.body.iter().map(|l| l.to_ascii_lowercase()).collect();
        sorted_lits.sort();
        sorted_lits.dedup();
        let mut status = md.status.clone();
        status.sort_unstable();
        status.dedup();
        let key = format!(
            "body {:?} regex {:?} title {:?} element {:?} status {:?}",
            sorted_lits,
            md.body_regex,
            md.title.as_ref().map(|t| t.to_ascii_lowercase()),
            md.element,
            status
        );
        let meaning = (
            origin.id.clone(),
            md.fault_side.to_string(),
            md.fault.to_string(),
        );
        if let Some((first, first_meaning)) = self.markers.get(&key) {
            let shown = md
                .body
                .first()
                .cloned()
                .or(md.body_regex.clone())
                .or(md.title.clone())
                .unwrap_or_default();
            return Err(if *first_meaning == meaning {
                LoadErrorKind::Duplicate {
                    what: "page marker",
                    value: shown,
                    first: first.at.clone(),
                }
            } else {
                LoadErrorKind::Conflict {
                    what: "page marker",
                    value: shown,
                    first: format!(
                        "{} ({} {}/{})",
                        first.at, first_meaning.0, first_meaning.1, first_meaning.2
                    ),
                }
            });
        }
        self.markers.insert(key, (origin.clone(), meaning));
        let specificity = sorted_lits.len()
            + usize::from(md.body_regex.is_some())
            + usize::from(md.title.is_some())
            + usize::from(md.element.is_some())
            + usize::from(!status.is_empty());
        Ok(PageMarker {
            literals,
            body_regex,
            regex_gates,
            title,
            element: md.element.clone(),
            status,
            side: md.fault_side,
            fault: md.fault,
            priority: md.priority,
            confidence,
            specificity,
        })
    }

    /// Loads one IP range file for provider `index`. Errors inside the range
    /// file name that file and line (`Err(Ok(..))`); errors about the
    /// reference itself are returned as a kind for the caller to place.
    fn ip_file(
        &mut self,
        name: &Spanned<String>,
        index: usize,
        id: &str,
    ) -> Result<(), Result<LoadError, LoadErrorKind>> {
        let n = name.get_ref();
        let plain = !n.is_empty()
            && !n.starts_with('.')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain {
            return Err(Err(LoadErrorKind::Invalid(format!(
                "IP range file {n:?} must be a plain file name"
            ))));
        }
        let Some(file) = self.ip_files.iter().find(|f| &f.name == n) else {
            return Err(Err(LoadErrorKind::Invalid(format!(
                "IP range file {n:?} not found"
            ))));
        };
        let shown = format!("ipranges/{}", file.name);
        if file.text.len() > self.limits.max_ip_file_bytes {
            return Err(Ok(LoadError {
                file: shown,
                line: line_of(&file.text, self.limits.max_ip_file_bytes),
                kind: LoadErrorKind::TooLarge {
                    limit: self.limits.max_ip_file_bytes,
                },
            }));
        }
        let mut count = 0;
        for (i, raw) in file.text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let here = |kind| LoadError {
                file: shown.clone(),
                line: i + 1,
                kind,
            };
            count += 1;
            if count > self.limits.max_ip_ranges_per_file {
                return Err(Ok(here(LoadErrorKind::Invalid(format!(
                    "more than {} prefixes",
                    self.limits.max_ip_ranges_per_file
                )))));
            }
            let net = line
                .parse::<IpNet>()
                .or_else(|_| line.parse::<IpAddr>().map(IpNet::from))
                .map_err(|e| {
                    Ok(here(LoadErrorKind::BadIpRange {
                        text: line.to_owned(),
                        message: e.to_string(),
                    }))
                })?;
            if net != net.trunc() {
                return Err(Ok(here(LoadErrorKind::BadIpRange {
                    text: line.to_owned(),
                    message: String::from("host bits set"),
                })));
            }
            let origin = Origin {
                id: id.to_owned(),
                at: format!("{}:{}", shown, i + 1),
            };
            if let Some(first) = self.prefixes.get(&net) {
                let kind = if first.id == id {
                    LoadErrorKind::Duplicate {
                        what: "IP range",
                        value: net.to_string(),
                        first: first.at.clone(),
                    }
                } else {
                    LoadErrorKind::Conflict {
                        what: "IP range",
                        value: net.to_string(),
                        first: format!("{} ({})", first.at, first.id),
                    }
                };
                return Err(Ok(here(kind)));
            }
            self.prefixes.insert(net, origin);
            self.ranges.push((net, index));
        }
        Ok(())
    }
}

fn normalize_suffix(s: &str) -> Option<String> {
    let n = s
        .trim()
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ok = n.len() >= 3
        && n.len() <= 253
        && n.contains('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !n.contains("..");
    ok.then_some(n)
}

fn header_name(name: &str) -> Result<String, LoadErrorKind> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(LoadErrorKind::Invalid(format!("bad header name {name:?}")))
    }
}

/// A `source` may be left out (the file's own applies) but not blank.
/// Longest status URL accepted.
const MAX_STATUS_URL: usize = 512;

/// A provider's status page: two https URLs and a named source.
fn status_page(def: &StatusPageDef) -> Result<StatusPage, LoadErrorKind> {
    check_source(Some(&def.source))?;
    if def.format == StatusFormat::Unknown {
        return Err(LoadErrorKind::Invalid(String::from(
            "status format must be statuspage, feed or google_cloud",
        )));
    }
    for url in [&def.url, &def.page] {
        let host = url.strip_prefix("https://").unwrap_or_default();
        let host = host.split(['/', '?', '#']).next().unwrap_or_default();
        if url.len() > MAX_STATUS_URL
            || host.is_empty()
            || host.contains('@')
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(LoadErrorKind::Invalid(format!(
                "status URL {url:?} must be an https URL with a host, at most {MAX_STATUS_URL} characters"
            )));
        }
    }
    Ok(StatusPage {
        url: def.url.clone(),
        format: def.format,
        page: def.page.clone(),
    })
}

fn check_source(source: Option<&str>) -> Result<(), LoadErrorKind> {
    match source {
        Some(s) if s.trim().is_empty() => Err(LoadErrorKind::Invalid(String::from(
            "source is empty; name where the signal comes from or leave it out",
        ))),
        _ => Ok(()),
    }
}

fn validate_statuses(codes: &[u16]) -> Result<(), LoadErrorKind> {
    match codes.iter().find(|c| !(100..=999).contains(*c)) {
        Some(c) => Err(LoadErrorKind::Invalid(format!("status {c} out of range"))),
        None => Ok(()),
    }
}

fn confidence(value: Option<f64>, default: f64) -> Result<f64, LoadErrorKind> {
    match value {
        None => Ok(default),
        Some(c) if (0.0..=1.0).contains(&c) => Ok(c),
        Some(c) => Err(LoadErrorKind::Invalid(format!(
            "confidence {c} is outside 0..1"
        ))),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}
