//! A small authoritative DNS server on loopback UDP, speaking the real wire
//! protocol (hickory-proto), with faults that can be switched on per zone:
//! SERVFAIL, NXDOMAIN or silence. Answers carry TTL 0 so a switched fault
//! is seen on the next query. It can listen on several sockets, standing
//! for the vantage's several independent resolvers, each of which can be
//! made to fail alone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, NS};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsFault {
    ServFail,
    NxDomain,
    /// Queries go unanswered.
    Silence,
}

#[derive(Debug, Default)]
struct Zones {
    cnames: HashMap<String, String>,
    /// Successive answers: each query takes the next until one is left.
    addresses: HashMap<String, Vec<Vec<IpAddr>>>,
    ns: HashMap<String, Vec<String>>,
    faults: HashMap<String, DnsFault>,
    /// Per listening socket: a fault of that resolver itself.
    resolver_faults: Vec<Option<DnsFault>>,
    /// Clients whose network is cut: their queries go unanswered.
    cut_off: Vec<IpAddr>,
    queries: u64,
}

/// A running server; dropping the handle does not stop it, `stop` does.
#[derive(Clone, Debug)]
pub struct DnsServer {
    addrs: Vec<SocketAddr>,
    zones: Arc<Mutex<Zones>>,
    stop: CancellationToken,
    /// The task answering queries.
    tasks: TaskTracker,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(1).await
    }

    /// A server answering on `resolvers` sockets, the same zones on each.
    pub async fn start_with(resolvers: usize) -> std::io::Result<Self> {
        let zones = Arc::new(Mutex::new(Zones {
            resolver_faults: vec![None; resolvers.max(1)],
            ..Zones::default()
        }));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut addrs = Vec::new();
        for index in 0..resolvers.max(1) {
            let socket = UdpSocket::bind("127.0.0.1:0").await?;
            addrs.push(socket.local_addr()?);
            tasks.spawn(serve(socket, index, zones.clone(), stop.clone()));
        }
        tasks.close();
        Ok(Self {
            addrs,
            zones,
            stop,
            tasks,
        })
    }

    /// The first socket's address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Every socket's address, one per resolver.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Makes resolver `index` (from 0) fail every query; `None` heals it.
    pub fn set_resolver_fault(&self, index: usize, fault: Option<DnsFault>) {
        self.with(|z| {
            if let Some(slot) = z.resolver_faults.get_mut(index) {
                *slot = fault;
            }
        });
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the server, once stopped, has let go of its socket.
    pub async fn stopped(&self) {
        self.tasks.wait().await;
    }

    fn with<R>(&self, f: impl FnOnce(&mut Zones) -> R) -> R {
        let mut zones = self
            .zones
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut zones)
    }

    pub fn add_cname(&self, name: &str, target: &str) {
        self.with(|z| z.cnames.insert(key(name), key(target)));
    }

    pub fn add_addresses(&self, name: &str, addresses: &[IpAddr]) {
        self.with(|z| z.addresses.insert(key(name), vec![addresses.to_vec()]));
    }

    /// The first query gets `first`, every later one `then` (DNS rebinding).
    pub fn add_rebinding(&self, name: &str, first: &[IpAddr], then: &[IpAddr]) {
        self.with(|z| {
            z.addresses
                .insert(key(name), vec![first.to_vec(), then.to_vec()])
        });
    }

    pub fn add_ns(&self, zone: &str, servers: &[&str]) {
        self.with(|z| {
            z.ns.insert(key(zone), servers.iter().map(|s| key(s)).collect())
        });
    }

    /// Every name equal to or under `zone` (on any step of a CNAME chain)
    /// gets `fault`; `None` heals the zone.
    pub fn set_fault(&self, zone: &str, fault: Option<DnsFault>) {
        self.with(|z| match fault {
            Some(fault) => z.faults.insert(key(zone), fault),
            None => z.faults.remove(&key(zone)),
        });
    }

    /// Queries from these client addresses go unanswered, as if their
    /// network were cut; empty heals them.
    pub fn cut_off(&self, clients: &[IpAddr]) {
        self.with(|z| z.cut_off = clients.to_vec());
    }

    pub fn queries(&self) -> u64 {
        self.with(|z| z.queries)
    }
}

async fn serve(socket: UdpSocket, index: usize, zones: Arc<Mutex<Zones>>, stop: CancellationToken) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let (len, peer) = tokio::select! {
            () = stop.cancelled() => return,
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                // A client that went away (an ICMP "port unreachable" for
                // an earlier answer): nothing to answer.
                Err(_) => continue,
            },
        };
        let Some(request) = buffer
            .get(..len)
            .and_then(|bytes| Message::from_vec(bytes).ok())
        else {
            continue;
        };
        let response = {
            let mut zones = zones
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if zones.cut_off.contains(&peer.ip()) {
                continue;
            }
            match zones.resolver_faults.get(index).copied().flatten() {
                Some(fault) => resolver_failure(&request, fault),
                None => answer(&mut zones, &request),
            }
        };
        if let Some(bytes) = response.and_then(|message| message.to_vec().ok()) {
            // A lost answer is what resolvers time out and retry on, as
            // on the real network.
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

/// What a failing resolver says to any query: nothing, or SERVFAIL.
fn resolver_failure(request: &Message, fault: DnsFault) -> Option<Message> {
    if fault == DnsFault::Silence {
        return None;
    }
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.response_code = match fault {
        DnsFault::NxDomain => ResponseCode::NXDomain,
        _ => ResponseCode::ServFail,
    };
    if let Some(query) = request.queries.first() {
        response.add_query(query.clone());
    }
    Some(response)
}

fn fault_for(zones: &Zones, name: &str) -> Option<DnsFault> {
    zones.faults.iter().find_map(|(zone, fault)| {
        // The empty zone is the root: every name.
        (zone.is_empty() || name == zone || name.ends_with(&format!(".{zone}"))).then_some(*fault)
    })
}

fn answer(zones: &mut Zones, request: &Message) -> Option<Message> {
    zones.queries += 1;
    let query = request.queries.first()?.clone();
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_query(query.clone());

    let mut name = key(&query.name().to_ascii());
    let mut owner = query.name().clone();
    for _ in 0..16 {
        match fault_for(zones, &name) {
            Some(DnsFault::Silence) => return None,
            Some(DnsFault::ServFail) => {
                response.metadata.response_code = ResponseCode::ServFail;
                return Some(response);
            }
            Some(DnsFault::NxDomain) => {
                response.metadata.response_code = ResponseCode::NXDomain;
                return Some(response);
            }
            None => {}
        }
        if query.query_type() == RecordType::CNAME {
            if let Some(target) = zones.cnames.get(&name) {
                let target = Name::from_str(&format!("{target}.")).ok()?;
                response.add_answer(Record::from_rdata(owner, 0, RData::CNAME(CNAME(target))));
                return Some(response);
            }
        }
        if query.query_type() == RecordType::NS {
            if let Some(servers) = zones.ns.get(&name) {
                for server in servers {
                    let target = Name::from_str(&format!("{server}.")).ok()?;
                    response.add_answer(Record::from_rdata(
                        owner.clone(),
                        0,
                        RData::NS(NS(target)),
                    ));
                }
                return Some(response);
            }
        }
        if let Some(target) = zones.cnames.get(&name).cloned() {
            let target_name = Name::from_str(&format!("{target}.")).ok()?;
            response.add_answer(Record::from_rdata(
                owner.clone(),
                0,
                RData::CNAME(CNAME(target_name.clone())),
            ));
            owner = target_name;
            name = target;
            continue;
        }
        if let Some(answers) = zones.addresses.get_mut(&name) {
            // Rebinding sequences advance on A queries only, so the A and
            // AAAA halves of one lookup see the same step.
            let advance = answers.len() > 1 && query.query_type() == RecordType::A;
            let current = if advance {
                answers.remove(0)
            } else {
                answers.first().cloned().unwrap_or_default()
            };
            for ip in current {
                let data = match (ip, query.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(v6)),
                    _ => continue,
                };
                response.add_answer(Record::from_rdata(owner.clone(), 0, data));
            }
            return Some(response);
        }
        response.metadata.response_code = ResponseCode::NXDomain;
        return Some(response);
    }
    response.metadata.response_code = ResponseCode::ServFail;
    Some(response)
}
