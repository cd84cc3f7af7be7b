//! A TCP relay on a port of its own, in front of a real store: it forwards
//! until told to hang (accept, and never answer), and can be pointed at
//! another upstream. It holds its port for its whole life, so a store can
//! be killed and started again on any port while the server under test
//! keeps the one address it was given.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex, MutexGuard},
    thread,
};

#[derive(Debug)]
pub struct StoreProxy {
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    upstream: SocketAddr,
    hanging: bool,
    closed: bool,
    /// Every socket either side of the relay, to cut when it closes.
    sockets: Vec<TcpStream>,
}

impl StoreProxy {
    /// Listens on 127.0.0.1:0 and relays every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                upstream,
                hanging: false,
                closed: false,
                sockets: Vec::new(),
            }),
        });
        thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if shared.state().closed {
                        return;
                    }
                    relay(&shared, client);
                }
            }
        });
        Self { address, shared }
    }

    /// A relay to the server `store_url` names (a Redis or PostgreSQL
    /// URL), and the same URL pointing at the relay instead.
    pub fn in_front_of(store_url: &str) -> (Self, String) {
        let mut url = url::Url::parse(store_url).unwrap();
        let upstream = url.socket_addrs(|| None).unwrap()[0];
        let proxy = Self::start(upstream);
        url.set_ip_host(proxy.address.ip()).unwrap();
        url.set_port(Some(proxy.address.port())).unwrap();
        (proxy, url.into())
    }

    /// The address as a `host:port` for a store URL.
    pub fn host_port(&self) -> String {
        self.address.to_string()
    }

    /// From now on nothing gets through, either way, on connections old or
    /// new; nothing is closed either. A store that hangs.
    pub fn hang(&self) {
        self.shared.state().hanging = true;
    }

    /// New connections go to `upstream`.
    pub fn point_at(&self, upstream: SocketAddr) {
        self.shared.state().upstream = upstream;
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

/// Connects `client` to the upstream and copies both ways; if the upstream
/// is down, closes the client as a refused connection would.
fn relay(shared: &Arc<Shared>, client: TcpStream) {
    let mut state = shared.state();
    if state.hanging {
        state.sockets.push(client);
        return;
    }
    let Ok(upstream) = TcpStream::connect(state.upstream) else {
        return;
    };
    for socket in [&client, &upstream] {
        state.sockets.push(socket.try_clone().unwrap());
    }
    drop(state);
    for (from, to) in [
        (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
        (upstream, client),
    ] {
        let shared = Arc::clone(shared);
        thread::spawn(move || copy(&shared, from, to));
    }
}

fn copy(shared: &Shared, mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if shared.state().hanging {
            // Swallow everything from now on, and keep the sockets open.
            while from.read(&mut buffer).is_ok_and(|read| read > 0) {}
            return;
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    if !shared.state().hanging {
        let _ = to.shutdown(Shutdown::Both);
    }
}

impl Drop for StoreProxy {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.closed = true;
        for socket in state.sockets.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        drop(state);
        // Wakes the accepting thread so that it sees `closed` and ends.
        let _ = TcpStream::connect(self.address);
    }
}
