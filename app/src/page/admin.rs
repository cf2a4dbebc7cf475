//! The administrators' pages. Every form posts to a server function that
//! redirects back, so they work without JavaScript.

use chrono::Utc;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::parts::{Time, TimeOrNever, Unavailable};
use crate::admin::{
    load_admin_incident, load_admin_overview, load_admin_watchlist, AdminAddNote, AdminAddSite,
    AdminDeleteNote, AdminImport, AdminLogin, AdminLogout, AdminSetWatched, AdminUpdateSite, Flash,
    WatchedSite,
};
use crate::admin_alerts::{
    load_admin_alerts, AdminAddSubscription, AdminChangeSubscription, AdminReplayDelivery,
    DeliveryLine, SubscriptionChange, SubscriptionLine,
};
use crate::error::{not_found_status, AppError};

/// `/admin/login`.
#[component]
pub fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| match q.get("failed").as_deref() {
            Some("limit") => Some((
                false,
                "Too many attempts from your address. Wait a minute and try again.",
            )),
            Some("wait") => Some((
                false,
                "Too many failed sign-ins for this name. Wait a minute and try again.",
            )),
            Some(_) => Some((
                false,
                "That name and password do not match an administrator.",
            )),
            None => q.get("signed_out").map(|_| (true, "You are signed out.")),
        })
    };
    view! {
        <Title text="Sign in · Faultline"/>
        <h1>"Administration"</h1>
        {move || {
            message()
                .map(|(ok, text)| {
                    view! {
                        <p class=if ok { "notice" } else { "error" } role="status" data-test="login-message">
                            {text}
                        </p>
                    }
                })
        }}
        <form class="stack narrow" method="post" action=AdminLogin::url()>
            <label for="username">"Name"</label>
            <input id="username" name="username" autocomplete="username" required maxlength="64"/>
            <label for="password">"Password"</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"/>
            <button type="submit" data-test="sign-in">"Sign in"</button>
        </form>
        <p class="muted">
            "The first administrator is created on the server: "
            <code>"faultline admin create NAME"</code>"."
        </p>
    }
}

/// The admin pages' own navigation, with sign-out.
#[component]
fn AdminBar(username: String) -> impl IntoView {
    view! {
        <nav class="admin-bar" aria-label="Administration">
            <a href="/admin">"Status"</a>
            <a href="/admin/sites">"Watchlist"</a>
            <a href="/admin/alerts">"Alerts"</a>
            <a href="/admin/tokens">"API tokens"</a>
            <span class="muted">"Signed in as " {username}</span>
            <form method="post" action=AdminLogout::url()>
                <button type="submit" class="link" data-test="sign-out">"Sign out"</button>
            </form>
        </nav>
    }
    .into_any()
}

#[component]
fn FlashNotice(flash: Option<Flash>) -> impl IntoView {
    flash.map(|flash| {
        view! {
            <div class=if flash.ok { "notice" } else { "error" } role="status" data-test="flash">
                <p>{flash.message}</p>
                {(!flash.lines.is_empty())
                    .then(|| {
                        view! {
                            <ul class="skipped">
                                {flash.lines.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                            </ul>
                        }
                    })}
            </div>
        }
    })
}

/// Why an admin page has nothing to show.
#[component]
fn Denied(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorised(_) => view! {
            <p data-test="signed-out">"You are not signed in. " <a href="/admin/login">"Sign in"</a></p>
        }
        .into_any(),
        AppError::NotFound(_) => {
            not_found_status();
            view! { <p>"There is nothing here. " <a href="/admin">"Back to administration"</a></p> }
                .into_any()
        }
        _ => view! { <Unavailable/> }.into_any(),
    }
}

/// `/admin`: the state of the probes' inputs and recent changes.
#[component]
pub fn AdminHome() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_admin_overview());
    view! {
        <Title text="Administration · Faultline"/>
        <h1>"Administration"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => {
                            let knowledge = page.knowledge.clone();
                            let now = Utc::now();
                            view! {
                                <AdminBar username=page.username.clone()/>
                                <FlashNotice flash=page.flash.clone()/>
                                <section aria-labelledby="watch-h">
                                    <h2 id="watch-h">"Watchlist"</h2>
                                    <p data-test="admin-counts">
                                        {format!(
                                            "{} sites watched, {} probed, {} failing now; {} removed.",
                                            page.watched,
                                            page.probed,
                                            page.failing,
                                            page.removed,
                                        )}
                                        " "
                                        <a href="/admin/sites">"Manage the watchlist"</a>
                                    </p>
                                </section>
                                <section aria-labelledby="vantage-h">
                                    <h2 id="vantage-h">"Own-network guard"</h2>
                                    {match page.vantage_now.clone() {
                                        Some(event) => view! {
                                            <p class="error" data-test="vantage-now">
                                                {format!("Our vantage point is {} since ", event.state)}
                                                <Time at=event.started_at long=true/>
                                                ": " {event.detail}
                                                ". Probes in this time are marked suspect and count for no outage."
                                            </p>
                                        }
                                        .into_any(),
                                        None => view! {
                                            <p data-test="vantage-now">"Our vantage point is online: the canaries answer."</p>
                                        }
                                        .into_any(),
                                    }}
                                    <VantageTable events=page.vantage_recent.clone()/>
                                </section>
                                <section aria-labelledby="kb-h">
                                    <h2 id="kb-h">"Provider knowledge base"</h2>
                                    <dl class="facts" data-test="knowledge">
                                        <dt>"In force"</dt>
                                        <dd>{knowledge.source.clone()}</dd>
                                        <dt>"Providers"</dt>
                                        <dd>{knowledge.providers}</dd>
                                        <dt>"Loaded"</dt>
                                        <dd><Time at=knowledge.loaded_at long=true/></dd>
                                        <dt>"Rejected loads"</dt>
                                        <dd>{knowledge.failed_loads}</dd>
                                    </dl>
                                    {knowledge
                                        .last_error
                                        .clone()
                                        .map(|error| {
                                            view! {
                                                <p class="error" data-test="knowledge-error">
                                                    "The last change to the provider files was rejected; the set above stays in force: "
                                                    <code>{error}</code>
                                                </p>
                                            }
                                        })}
                                </section>
                                <section aria-labelledby="status-pages-h">
                                    <h2 id="status-pages-h">"Providers' status pages"</h2>
                                    <StatusPagesTable pages=page.status_pages.clone()/>
                                </section>
                                <section aria-labelledby="incidents-h">
                                    <h2 id="incidents-h">"Incidents"</h2>
                                    <IncidentNotesTable incidents=page.incidents.clone() now/>
                                </section>
                                <section aria-labelledby="audit-h">
                                    <h2 id="audit-h">"Recent changes"</h2>
                                    <AuditTable page=page/>
                                </section>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <Denied error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn VantageTable(events: Vec<crate::admin::VantageLine>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="muted">"No own-network events in the last 7 days."</p> }
            .into_any();
    }
    view! {
        <div class="scroll">
            <table class="data" data-test="vantage-events">
                <caption>"The last 7 days"</caption>
                <thead>
                    <tr>
                        <th scope="col">"State"</th>
                        <th scope="col">"From (UTC)"</th>
                        <th scope="col">"Until"</th>
                        <th scope="col">"Why"</th>
                    </tr>
                </thead>
                <tbody>
                    {events
                        .into_iter()
                        .map(|e| {
                            view! {
                                <tr>
                                    <td>{e.state.plain()}</td>
                                    <td><Time at=e.started_at/></td>
                                    <td>
                                        {match e.ended_at {
                                            Some(at) => view! { <Time at/> }.into_any(),
                                            None => view! { "now" }.into_any(),
                                        }}
                                    </td>
                                    <td>{e.detail}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Each provider's status document: read, or failing and since when.
#[component]
fn StatusPagesTable(pages: Vec<crate::admin::StatusPageLine>) -> impl IntoView {
    if pages.is_empty() {
        return view! {
            <p class="muted" data-test="status-pages">
                "No provider status page has been polled yet (the poller runs with the monitor)."
            </p>
        }
        .into_any();
    }
    let failing = pages.iter().filter(|p| p.error.is_some()).count();
    view! {
        <p data-test="status-pages-summary">
            {match failing {
                0 => format!("All {} status documents were read at their last poll.", pages.len()),
                n => format!(
                    "{n} of {} status documents failed at their last poll; what they said before is kept.",
                    pages.len(),
                ),
            }}
        </p>
        <div class="scroll">
            <table class="data" data-test="status-pages">
                <thead>
                    <tr>
                        <th scope="col">"Provider"</th>
                        <th scope="col">"Document"</th>
                        <th scope="col">"Last poll (UTC)"</th>
                        <th scope="col">"Last read (UTC)"</th>
                        <th scope="col">"State"</th>
                    </tr>
                </thead>
                <tbody>
                    {pages
                        .into_iter()
                        .map(|p| {
                            let state = match &p.error {
                                Some(error) => view! {
                                    <span class="error">{format!("failing: {error}")}</span>
                                }
                                .into_any(),
                                None => view! { "read" }.into_any(),
                            };
                            view! {
                                <tr data-provider=p.provider.clone()>
                                    <td><a href=format!("/provider/{}", p.provider)>{p.provider_name}</a></td>
                                    <td class="cite"><code>{p.url}</code></td>
                                    <td><TimeOrNever at=p.checked_at/></td>
                                    <td><TimeOrNever at=p.ok_at/></td>
                                    <td>{state}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn IncidentNotesTable(
    incidents: Vec<crate::incident::IncidentSummary>,
    now: chrono::DateTime<Utc>,
) -> impl IntoView {
    if incidents.is_empty() {
        return view! { <p class="muted">"No provider incidents yet."</p> }.into_any();
    }
    view! {
        <div class="scroll">
            <table class="data" data-test="admin-incidents">
                <thead>
                    <tr>
                        <th scope="col">"Incident"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Onset (UTC)"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col">"Notes"</th>
                    </tr>
                </thead>
                <tbody>
                    {incidents
                        .into_iter()
                        .map(|i| {
                            view! {
                                <tr>
                                    <td><a href=format!("/incident/{}", i.id)>{i.title()}</a></td>
                                    <td>{i.phase.plain()}</td>
                                    <td><Time at=i.onset_at/></td>
                                    <td>{i.duration(now)}</td>
                                    <td>
                                        <a href=format!("/admin/incident/{}", i.id) data-test="annotate">
                                            "Add a note"
                                        </a>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn AuditTable(page: crate::admin::AdminOverview) -> impl IntoView {
    if page.audit.is_empty() {
        return view! { <p class="muted">"No changes yet."</p> }.into_any();
    }
    view! {
        <div class="scroll">
            <table class="data" data-test="audit">
                <thead>
                    <tr>
                        <th scope="col">"When (UTC)"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"Detail"</th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .audit
                        .into_iter()
                        .map(|a| {
                            view! {
                                <tr>
                                    <td><Time at=a.at/></td>
                                    <td>{a.username}</td>
                                    <td>{a.action}</td>
                                    <td>{a.detail}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// `/admin/sites`: add, import, edit, remove; filter by tag or text.
#[component]
pub fn AdminSites() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_admin_watchlist());
    let query = use_query_map();
    view! {
        <Title text="Watchlist · Faultline"/>
        <h1>"Watchlist"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => {
                            let (tag, text) = query
                                .with_untracked(|q| (
                                    q.get("tag").unwrap_or_default(),
                                    q.get("q").unwrap_or_default().to_lowercase(),
                                ));
                            let shown: Vec<WatchedSite> = page
                                .sites
                                .iter()
                                .filter(|s| tag.is_empty() || s.tags.contains(&tag))
                                .filter(|s| {
                                    text.is_empty() || s.host.contains(&text)
                                        || s.name.to_lowercase().contains(&text)
                                })
                                .cloned()
                                .collect();
                            let watched = page.sites.iter().filter(|s| s.watched).count();
                            view! {
                                <AdminBar username=page.username.clone()/>
                                <FlashNotice flash=page.flash.clone()/>
                                <div class="admin-forms">
                                    <AddSiteForm/>
                                    <ImportForm/>
                                </div>
                                <h2>{format!("{watched} site{} watched", if watched == 1 { "" } else { "s" })}</h2>
                                <form class="filter" method="get" action="/admin/sites">
                                    <label for="q">"Find"</label>
                                    <input id="q" name="q" value=text.clone() placeholder="host or name"/>
                                    <label for="tag">"Tag"</label>
                                    <select id="tag" name="tag">
                                        <option value="" selected=tag.is_empty()>"any"</option>
                                        {page
                                            .tags
                                            .iter()
                                            .map(|t| {
                                                view! { <option value=t.clone() selected=*t == tag>{t.clone()}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                    <button type="submit">"Filter"</button>
                                </form>
                                <SitesTable sites=shown/>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <Denied error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn AddSiteForm() -> impl IntoView {
    view! {
        <form class="stack" method="post" action=AdminAddSite::url() data-test="add-site">
            <h2>"Add a site"</h2>
            <label for="add-url">"Domain or URL"</label>
            <input id="add-url" name="url" required maxlength="2048" placeholder="example.com"/>
            <label for="add-name">"Name (optional)"</label>
            <input id="add-name" name="name" maxlength="100"/>
            <label for="add-tags">"Tags (optional, comma-separated)"</label>
            <input id="add-tags" name="tags" maxlength="200" placeholder="shop, eu"/>
            <label for="add-interval">"Probe every (seconds, or 5m, 1h; default 60)"</label>
            <input id="add-interval" name="interval_s" maxlength="10" placeholder="60"/>
            <button type="submit">"Add"</button>
        </form>
    }
    .into_any()
}

#[component]
fn ImportForm() -> impl IntoView {
    view! {
        <form class="stack" method="post" action=AdminImport::url() data-test="import">
            <h2>"Import a watchlist"</h2>
            <label for="import-text">"Paste the file: one domain or URL per line, CSV (url,name,tags,interval_s) or TOML ([[site]] tables)"</label>
            <textarea id="import-text" name="text" rows="6" required></textarea>
            <label for="import-format">"Format"</label>
            <select id="import-format" name="format">
                <option value="plain" selected>"plain list"</option>
                <option value="csv">"CSV"</option>
                <option value="toml">"TOML"</option>
            </select>
            <button type="submit">"Import"</button>
        </form>
    }
    .into_any()
}

#[component]
fn SitesTable(sites: Vec<WatchedSite>) -> impl IntoView {
    view! {
        <div class="scroll">
            <table class="data" data-test="watchlist">
                <thead>
                    <tr>
                        <th scope="col">"Site"</th>
                        <th scope="col">"Now"</th>
                        <th scope="col">"Tags"</th>
                        <th scope="col">"Every"</th>
                        <th scope="col">"Change"</th>
                    </tr>
                </thead>
                <tbody>
                    {sites.into_iter().map(|site| view! { <SiteRow site/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn SiteRow(site: WatchedSite) -> impl IntoView {
    let state = match (site.watched, site.ok) {
        (false, _) => "removed",
        (true, None) => "not probed yet",
        (true, Some(true)) => "up",
        (true, Some(false)) => "failing",
    };
    let id = site.id.to_string();
    let toggle_label = if site.watched {
        "Remove"
    } else {
        "Watch again"
    };
    view! {
        <tr class:removed=!site.watched data-host=site.host.clone()>
            <td>
                <a href=format!("/site/{}", site.host)>{site.name.clone()}</a>
                <br/>
                <small class="muted">{site.url.clone()}</small>
            </td>
            <td>{state}</td>
            <td>{site.tags.join(", ")}</td>
            <td class="num">{crate::words::duration(site.interval_s)}</td>
            <td>
                <details>
                    <summary>"Edit"</summary>
                    <form class="stack" method="post" action=AdminUpdateSite::url()>
                        <input type="hidden" name="id" value=id.clone()/>
                        <label>"Name" <input name="name" value=site.name.clone() maxlength="100"/></label>
                        <label>"Tags" <input name="tags" value=site.tags.join(", ") maxlength="200"/></label>
                        <label>
                            "Every (s)" <input name="interval_s" value=site.interval_s.to_string() maxlength="10"/>
                        </label>
                        <button type="submit">"Save"</button>
                    </form>
                </details>
                <form method="post" action=AdminSetWatched::url()>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="watched" value=(!site.watched).to_string()/>
                    <button type="submit" class="link" data-test="toggle-watch">{toggle_label}</button>
                </form>
            </td>
        </tr>
    }
    .into_any()
}

/// `/admin/alerts`: subscriptions and their endpoints' health, dead
/// deliveries to replay, and the delivery log.
#[component]
pub fn AdminAlerts() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_admin_alerts());
    view! {
        <Title text="Alerts · Faultline"/>
        <h1>"Alerts"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => view! {
                            <AdminBar username=page.username.clone()/>
                            <FlashNotice flash=page.flash.clone()/>
                            <div class="admin-forms"><AddSubscriptionForm/></div>
                            <h2>{format!("{} subscriptions", page.subscriptions.len())}</h2>
                            <p class="muted">"Made here, from the command line (" <code>"faultline alerts add-webhook"</code> ", " <code>"add-email"</code> ") or by visitors from the public pages."</p>
                            <SubscriptionsTable subscriptions=page.subscriptions.clone()/>
                            <h2>{format!("Dead deliveries: {}", page.dead.len())}</h2>
                            <p class="muted">"Every attempt failed. Replay one once its endpoint answers again: it starts over from its first attempt, with the same message id."</p>
                            <DeliveriesTable lines=page.dead.clone() replay=true test="dead"/>
                            <h2>"Delivery log"</h2>
                            <DeliveriesTable lines=page.log.clone() replay=false test="deliveries"/>
                        }
                        .into_any(),
                        Err(error) => view! { <Denied error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn AddSubscriptionForm() -> impl IntoView {
    let formats = engine::AlertFormat::ALL
        .iter()
        .filter(|format| **format != engine::AlertFormat::Unknown)
        .map(|format| view! { <option value=format.as_str()>{format.plain()}</option> })
        .collect_view();
    view! {
        <form class="stack" method="post" action=AdminAddSubscription::url() data-test="add-subscription">
            <h2>"Add a subscription"</h2>
            <label for="sub-channel">"Send alerts by"</label>
            <select id="sub-channel" name="channel">
                <option value="webhook" selected>"webhook"</option>
                <option value="email">"email (confirmed by the address first)"</option>
            </select>
            <label for="sub-target">"Webhook URL or email address"</label>
            <input id="sub-target" name="target" required maxlength="2048"/>
            <label for="sub-format">"Webhook kind"</label>
            <select id="sub-format" name="format">{formats}</select>
            <label for="sub-follows">"Follows: provider:ID, site:HOST, tag:TAG or all"</label>
            <input id="sub-follows" name="follows" required maxlength="2000" placeholder="provider:cloudflare site:shop.example"/>
            <label class="choice"><input type="checkbox" name="early" value="on"/>" Early warnings too (suspected outages)"</label>
            <label for="sub-remind">"Remind every N hours while an outage stays confirmed (0: never)"</label>
            <input id="sub-remind" name="remind_hours" type="number" min="0" max="168" value="0"/>
            <button type="submit">"Add"</button>
        </form>
    }
    .into_any()
}

#[component]
fn SubscriptionsTable(subscriptions: Vec<SubscriptionLine>) -> impl IntoView {
    let change = |id: i64, change: SubscriptionChange, label: &'static str| {
        view! {
            <form class="inline" method="post" action=AdminChangeSubscription::url()>
                <input type="hidden" name="id" value=id.to_string()/>
                <input type="hidden" name="change" value=change.key()/>
                <button type="submit" class="link" data-test=format!("{}-{id}", change.key())>{label}</button>
            </form>
        }
    };
    view! {
        <div class="scroll">
            <table class="data" data-test="subscriptions">
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col">"To"</th>
                        <th scope="col">"Follows"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Health"</th>
                        <th scope="col">"Deliveries"</th>
                        <th scope="col">"Change"</th>
                    </tr>
                </thead>
                <tbody>
                    {subscriptions
                        .into_iter()
                        .map(|s| {
                            let health = match (s.failing_since, s.last_delivered_at) {
                                (Some(since), _) => view! { "failing since " <Time at=since/> }.into_any(),
                                (None, Some(last)) => view! { "last delivered " <Time at=last/> }.into_any(),
                                (None, None) => view! { "nothing delivered yet" }.into_any(),
                            };
                            let events: Vec<&str> = s.events.iter().map(|e| e.plain()).collect();
                            let kind = match s.channel {
                                engine::AlertChannel::Email => "email".to_owned(),
                                _ => s.format.plain().to_owned(),
                            };
                            view! {
                                <tr data-subscription=s.id.to_string()>
                                    <td class="num">{s.id}</td>
                                    <td>
                                        <code>{s.target.clone()}</code>
                                        <br/>
                                        <small class="muted">
                                            {kind} ", by " {s.created_by.clone()}
                                            {s.owner.clone().map(|owner| format!(", owned by {owner}"))}
                                        </small>
                                    </td>
                                    <td>{s.follows.clone()} <br/> <small class="muted">{events.join(", ")}</small></td>
                                    <td>{s.state.clone()}</td>
                                    <td>{health}</td>
                                    <td class="num">{format!("{} delivered, {} waiting, {} dead", s.delivered, s.pending, s.dead)}</td>
                                    <td>
                                        {change(s.id, SubscriptionChange::Test, "Send a test alert")}
                                        {if s.stopped {
                                            change(s.id, SubscriptionChange::Start, "Start again").into_any()
                                        } else {
                                            change(s.id, SubscriptionChange::Stop, "Stop").into_any()
                                        }}
                                        {change(s.id, SubscriptionChange::Remove, "Remove")}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn DeliveriesTable(lines: Vec<DeliveryLine>, replay: bool, test: &'static str) -> impl IntoView {
    view! {
        <div class="scroll">
            <table class="data" data-test=test>
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col">"Alert"</th>
                        <th scope="col">"To"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last answer"</th>
                        <th scope="col">"Last attempt"</th>
                        {replay.then(|| view! { <th scope="col">"Replay"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {lines
                        .into_iter()
                        .map(|line| {
                            let answer = match (line.last_status, &line.last_error) {
                                (Some(status), None) => status.to_string(),
                                (Some(status), Some(error)) => format!("{status}: {error}"),
                                (None, Some(error)) => error.clone(),
                                (None, None) => "—".to_owned(),
                            };
                            view! {
                                <tr>
                                    <td class="num">{line.id}</td>
                                    <td>
                                        {line.event.plain()}
                                        {line.incident_id.map(|id| view! { " " <a href=format!("/incident/{id}")>{format!("incident {id}")}</a> })}
                                    </td>
                                    <td><code>{line.target.clone()}</code></td>
                                    <td>{line.state.plain()}</td>
                                    <td class="num">{line.attempts}</td>
                                    <td>{answer}</td>
                                    <td>
                                        {line.last_attempt_at.map(|at| view! { <Time at/> })}
                                        {line.last_ms.map(|ms| format!(" in {ms} ms"))}
                                    </td>
                                    {replay.then(|| view! {
                                        <td>
                                            <form method="post" action=AdminReplayDelivery::url()>
                                                <input type="hidden" name="id" value=line.id.to_string()/>
                                                <button type="submit" class="link" data-test=format!("replay-{}", line.id)>"Replay"</button>
                                            </form>
                                        </td>
                                    })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// `/admin/incident/:id`: the notes on an incident's timeline.
#[component]
pub fn AdminIncidentNotes() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || {
            params
                .read()
                .get("id")
                .and_then(|id| id.parse::<i64>().ok())
                .unwrap_or(0)
        },
        load_admin_incident,
    );
    view! {
        <Title text="Incident notes · Faultline"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => {
                            let id = page.incident.id;
                            view! {
                                <AdminBar username=page.username.clone()/>
                                <h1>{format!("Notes: {}", page.incident.title())}</h1>
                                <p>
                                    <a href=format!("/incident/{id}")>"The public incident page"</a>
                                    " shows these notes on its timeline."
                                </p>
                                <FlashNotice flash=page.flash.clone()/>
                                <ul class="notes" data-test="notes">
                                    {page
                                        .notes
                                        .into_iter()
                                        .map(|note| {
                                            view! {
                                                <li>
                                                    <Time at=note.at long=true/>
                                                    ": " {note.text}
                                                    {note.url.map(|url| {
                                                        let text = url.clone();
                                                        view! { " " <a href=url rel="nofollow noopener">{text}</a> }
                                                    })}
                                                    <small class="muted">{format!(" ({})", note.author)}</small>
                                                    <form class="inline" method="post" action=AdminDeleteNote::url()>
                                                        <input type="hidden" name="incident" value=id.to_string()/>
                                                        <input type="hidden" name="note" value=note.id.to_string()/>
                                                        <button type="submit" class="link">"Delete"</button>
                                                    </form>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                                <form class="stack" method="post" action=AdminAddNote::url() data-test="add-note">
                                    <h2>"Add a note"</h2>
                                    <input type="hidden" name="incident" value=id.to_string()/>
                                    <label for="note-at">"When (UTC, e.g. 2025-11-18 11:48; empty: now)"</label>
                                    <input id="note-at" name="at" maxlength="40"/>
                                    <label for="note-text">"Note"</label>
                                    <textarea id="note-text" name="text" rows="3" required
                                        maxlength=crate::admin::MAX_NOTE_CHARS.to_string()></textarea>
                                    <label for="note-url">"Link (optional: an official statement)"</label>
                                    <input id="note-url" name="url" type="url" maxlength="2000"/>
                                    <button type="submit">"Add the note"</button>
                                </form>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <Denied error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// `/admin/tokens`: API tokens, made (shown once), listed with their last
/// use, and revoked.
#[component]
pub fn AdminTokens() -> impl IntoView {
    use crate::admin_tokens::{load_admin_tokens, AdminCreateToken, AdminRevokeToken};
    let data = Resource::new(|| (), |_| load_admin_tokens());
    view! {
        <Title text="API tokens · Faultline"/>
        <h1>"API tokens"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Ok(page) => view! {
                            <AdminBar username=page.username.clone()/>
                            <FlashNotice flash=page.flash.clone()/>
                            <div class="admin-forms">
                                <form class="stack" method="post" action=AdminCreateToken::url() data-test="create-token">
                                    <h2>"Make a token"</h2>
                                    <label for="token-name">"What it is for"</label>
                                    <input id="token-name" name="name" required maxlength="100" placeholder="newsroom dashboard"/>
                                    <label for="token-scope">"It may"</label>
                                    <select id="token-scope" name="scope">
                                        <option value="read" selected>"read, with a budget of its own"</option>
                                        <option value="write">"read and change the watchlist and notes"</option>
                                    </select>
                                    <button type="submit">"Make"</button>
                                </form>
                            </div>
                            <h2>{format!("{} tokens", page.tokens.len())}</h2>
                            <p class="muted">"A token is shown once, when it is made; only its hash is kept. Also from the command line: " <code>"faultline tokens create NAME --scope write"</code> ". The API is described at " <a href="/api">"/api"</a> "."</p>
                            <div class="scroll">
                                <table class="data" data-test="tokens">
                                    <thead>
                                        <tr>
                                            <th scope="col">"#"</th>
                                            <th scope="col">"Name"</th>
                                            <th scope="col">"May"</th>
                                            <th scope="col">"Made"</th>
                                            <th scope="col">"Last used"</th>
                                            <th scope="col">"State"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.tokens.clone().into_iter().map(|t| {
                                            let state = match t.revoked_at {
                                                Some(at) => view! { "revoked " <Time at/> }.into_any(),
                                                None => view! {
                                                    <form class="inline" method="post" action=AdminRevokeToken::url()>
                                                        <input type="hidden" name="id" value=t.id.to_string()/>
                                                        <button type="submit" class="link" data-test=format!("revoke-{}", t.id)>"Revoke"</button>
                                                    </form>
                                                }.into_any(),
                                            };
                                            let used = view! { <TimeOrNever at=t.last_used_at/> };
                                            view! {
                                                <tr data-token=t.id.to_string()>
                                                    <td class="num">{t.id}</td>
                                                    <td>{t.name.clone()}</td>
                                                    <td>{t.scope.clone()}</td>
                                                    <td><Time at=t.created_at/> <br/> <small class="muted">"by " {t.created_by.clone()}</small></td>
                                                    <td>{used}</td>
                                                    <td>{state}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }
                        .into_any(),
                        Err(error) => view! { <Denied error/> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
