//! Listeners: TCP on every `bind` address (IPv4 and IPv6; a `-` prefix makes an address
//! optional, `*` is every IPv4 address, `::*` every IPv6 one), and the `unixsocket`. Binding is
//! synchronous so CONFIG SET bind/port can fail atomically; accept loops are local tasks that
//! CONFIG SET replaces without touching connected clients. Admission (maxclients, protected
//! mode) happens here.

use crate::client::ClientHandle;
use crate::conn;
use crate::server::Server;
use crate::{verbose, warning};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, UnixListener};
use tokio::task::JoinHandle;

/// A bound listener, not yet accepting.
pub enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener, String),
}

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

fn bind_one(addr: &str, port: u16, backlog: i32) -> std::io::Result<TcpListener> {
    let host = match addr {
        "*" => "0.0.0.0",
        "::*" => "::",
        other => other,
    };
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad address"))?;
    let sa = SocketAddr::new(ip, port);
    let sock = if ip.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    sock.set_reuseaddr(true)?;
    if ip.is_ipv6() {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own with a valid int option.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                &on as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    sock.bind(sa)?;
    sock.listen(backlog.max(1) as u32)
}

/// One listening endpoint: `tcp:<addr>:<port>` or `unix:<path>`, and whether a failure to
/// bind it is tolerated (a `-` prefix in `bind`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub key: String,
    pub optional: bool,
}

/// The endpoints a configuration asks for.
pub fn endpoints(bind: &[String], port: u16, unixsocket: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if port != 0 {
        let addrs: Vec<String> = if bind.is_empty() {
            vec!["*".into(), "-::*".into()]
        } else {
            bind.to_vec()
        };
        for a in &addrs {
            let (optional, addr) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a.as_str()),
            };
            out.push(Endpoint {
                key: format!("tcp:{addr}:{port}"),
                optional,
            });
        }
    }
    if !unixsocket.is_empty() {
        out.push(Endpoint {
            key: format!("unix:{unixsocket}"),
            optional: false,
        });
    }
    out
}

/// Binds one endpoint.
pub fn bind_endpoint(ep: &Endpoint, backlog: i32, unixperm: u32) -> Result<Bound, String> {
    if let Some(path) = ep.key.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        return match UnixListener::bind(path) {
            Ok(l) => {
                if unixperm != 0 {
                    use std::os::unix::fs::PermissionsExt;
                    let _ =
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(unixperm));
                }
                Ok(Bound::Unix(l, path.to_string()))
            }
            Err(e) => Err(format!("Failed opening Unix socket: {e}")),
        };
    }
    let rest = ep.key.strip_prefix("tcp:").unwrap_or(&ep.key);
    let (addr, port) = rest.rsplit_once(':').unwrap_or((rest, "0"));
    let port: u16 = port.parse().unwrap_or(0);
    bind_one(addr, port, backlog).map(Bound::Tcp).map_err(|e| {
        format!("Warning: Could not create server TCP listening socket {addr}:{port}: {e}")
    })
}

/// Binds every endpoint of a configuration (startup). Optional endpoints that fail are skipped.
pub fn bind_all(
    bind: &[String],
    port: u16,
    backlog: i32,
    unixsocket: &str,
    unixperm: u32,
) -> Result<Vec<(Endpoint, Bound)>, String> {
    let mut out = Vec::new();
    for ep in endpoints(bind, port, unixsocket) {
        match bind_endpoint(&ep, backlog, unixperm) {
            Ok(b) => out.push((ep, b)),
            Err(e) if ep.optional => verbose!("Skipping optional {}: {e}", ep.key),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A running accept loop.
pub struct Active {
    pub ep: Endpoint,
    pub fd: i32,
    pub task: JoinHandle<()>,
}

impl Active {
    /// Stops accepting at once: shutdown(2) makes the listening socket refuse new connections
    /// synchronously; the task is aborted and drops the socket.
    pub fn close(self) {
        // SAFETY: shutdown on our own listening fd; the task still owns (and later closes) it.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
        self.task.abort();
        if let Some(path) = self.ep.key.strip_prefix("unix:") {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn set_keepalive(fd: i32, secs: i64) {
    if secs <= 0 {
        return;
    }
    let on: libc::c_int = 1;
    let idle = secs as libc::c_int;
    let intvl = ((secs / 3).max(1)) as libc::c_int;
    let cnt: libc::c_int = 3;
    let sz = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt with int options on a socket we own.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &on as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            &idle as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            &intvl as *const _ as *const libc::c_void,
            sz,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            &cnt as *const _ as *const libc::c_void,
            sz,
        );
    }
}

/// Admission control and registration. None = refused (the reason was written best-effort).
fn admit(
    s: &mut Server,
    fd: i32,
    addr: String,
    laddr: String,
    local: bool,
    unix: bool,
    try_write: &dyn Fn(&[u8]),
) -> Option<Rc<ClientHandle>> {
    if s.clients.len() >= s.settings.maxclients {
        try_write(b"-ERR max number of clients reached\r\n");
        s.stats.rejected_connections += 1;
        return None;
    }
    if s.settings.protected_mode && s.acl.default.u.borrow().nopass && !local {
        try_write(DENIED.as_bytes());
        s.stats.rejected_connections += 1;
        return None;
    }
    let id = s.next_client_id;
    s.next_client_id += 1;
    s.stats.total_connections_received += 1;
    let h = Rc::new(ClientHandle::new(id, fd, addr, laddr, unix));
    s.clients.insert(id, h.clone());
    Some(h)
}

/// Starts the accept loop of every bound listener.
pub fn start(srv: &Rc<RefCell<Server>>, bound: Vec<(Endpoint, Bound)>) -> Vec<Active> {
    bound
        .into_iter()
        .map(|(ep, b)| {
            let srv = srv.clone();
            let (fd, task) = match b {
                Bound::Tcp(l) => (l.as_raw_fd(), tokio::task::spawn_local(accept_tcp(srv, l))),
                Bound::Unix(l, path) => (
                    l.as_raw_fd(),
                    tokio::task::spawn_local(accept_unix(srv, l, path)),
                ),
            };
            Active { ep, fd, task }
        })
        .collect()
}

/// Hands an accepted socket (already non-blocking) to its connection task.
fn spawn_conn(
    srv: &Rc<RefCell<Server>>,
    fd: std::io::Result<std::os::fd::OwnedFd>,
    h: Rc<ClientHandle>,
) {
    match fd.and_then(crate::sock::ClientSocket::new) {
        Ok(sock) => {
            tokio::task::spawn_local(conn::serve(srv.clone(), sock, h));
        }
        Err(e) => {
            warning!("Registering client connection: {e}");
            srv.borrow_mut().clients.remove(&h.id);
        }
    }
}

async fn accept_tcp(srv: Rc<RefCell<Server>>, l: TcpListener) {
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                warning!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let fd = sock.as_raw_fd();
        set_keepalive(fd, srv.borrow().settings.tcp_keepalive);
        let laddr = sock.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
        let local = peer.ip().is_loopback();
        let w = |b: &[u8]| {
            let _ = sock.try_write(b);
        };
        let admitted = admit(
            &mut srv.borrow_mut(),
            fd,
            fmt_addr(&peer),
            laddr,
            local,
            false,
            &w,
        );
        if let Some(h) = admitted {
            verbose!("Accepted {}", h.addr);
            spawn_conn(&srv, sock.into_std().map(std::os::fd::OwnedFd::from), h);
        }
    }
}

async fn accept_unix(srv: Rc<RefCell<Server>>, l: UnixListener, path: String) {
    loop {
        let (sock, _) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                warning!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let fd = sock.as_raw_fd();
        let w = |b: &[u8]| {
            let _ = sock.try_write(b);
        };
        let addr = format!("{path}:0");
        let admitted = admit(
            &mut srv.borrow_mut(),
            fd,
            addr,
            path.clone(),
            true,
            true,
            &w,
        );
        if let Some(h) = admitted {
            verbose!("Accepted connection to {path}");
            spawn_conn(&srv, sock.into_std().map(std::os::fd::OwnedFd::from), h);
        }
    }
}

/// `ip:port` as Redis prints it (IPv6 without brackets).
pub fn fmt_addr(a: &SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

/// While a script is busy the accept loops cannot run: the busy hook accepts new connections
/// itself (as Redis's event loop does while a script runs), registers them, and serves them
/// with the other clients (`-BUSY`, SCRIPT KILL...). Their connection tasks start when the
/// script ends (`start_accepted_while_busy`).
pub fn accept_while_busy(s: &mut Server) {
    let fds = crate::listener_fds();
    for (lfd, unix_path) in fds {
        loop {
            // SAFETY: accept4 on our listening fd; the new fd is owned right below.
            let fd = unsafe {
                libc::accept4(
                    lfd,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                break;
            }
            // SAFETY: accept4 returned a new fd that nothing else owns.
            let owned =
                unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let (addr, laddr, local) = match &unix_path {
                Some(path) => (format!("{path}:0"), path.clone(), true),
                None => {
                    // A view of the socket `owned` keeps (never closed through this one).
                    // SAFETY: fd is open for as long as `owned` lives, which outlives `t`.
                    let t = std::mem::ManuallyDrop::new(unsafe {
                        <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd)
                    });
                    let _ = t.set_nodelay(true);
                    let peer = t.peer_addr().ok();
                    let laddr = t.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                    set_keepalive(fd, s.settings.tcp_keepalive);
                    (
                        peer.map(|p| fmt_addr(&p)).unwrap_or_default(),
                        laddr,
                        peer.is_some_and(|p| p.ip().is_loopback()),
                    )
                }
            };
            let w = |b: &[u8]| {
                // SAFETY: a best-effort write of a refusal on the socket we own.
                unsafe {
                    libc::send(
                        fd,
                        b.as_ptr() as *const libc::c_void,
                        b.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    );
                }
            };
            if let Some(h) = admit(s, fd, addr, laddr, local, unix_path.is_some(), &w) {
                verbose!("Accepted {} while a script is busy", h.addr);
                s.accepted_while_busy.push((owned, h));
            }
        }
    }
}

/// Starts the connection tasks of the clients accepted while a script was busy.
pub fn start_accepted_while_busy(s: &mut Server) {
    if s.accepted_while_busy.is_empty() {
        return;
    }
    let Some(srv) = crate::server_rc() else {
        return;
    };
    for (fd, h) in std::mem::take(&mut s.accepted_while_busy) {
        match crate::sock::ClientSocket::new(fd) {
            Ok(sock) => {
                tokio::task::spawn_local(conn::serve(srv.clone(), sock, h));
            }
            Err(e) => {
                warning!("Registering client connection: {e}");
                s.clients.remove(&h.id);
            }
        }
    }
}
