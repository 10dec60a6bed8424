//! A loopback proxy in front of a real registry that answers the first connections with
//! scripted faults, then passes traffic through untouched.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the proxy does with one incoming connection.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Reads the request, answers with this status and headers, closes.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Reads the request and closes without a word.
    Drop,
    /// Forwards to the registry.
    Pass,
}

pub struct FaultProxy {
    pub addr: String,
    /// Connections seen so far.
    pub connections: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Connection `i` gets `script[i]`; connections past the script get `then`.
    pub fn start(upstream: &str, script: Vec<Fault>, then: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let upstream = upstream.to_string();
        let script = Arc::new(Mutex::new(script.into_iter()));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let fault = script
                    .lock()
                    .ok()
                    .and_then(|mut s| s.next())
                    .unwrap_or_else(|| then.clone());
                let upstream = upstream.clone();
                thread::spawn(move || handle(client, fault, &upstream));
            }
        });
        FaultProxy { addr, connections }
    }
}

fn read_request_head(client: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && seen.len() < 64 * 1024 {
        match client.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => return,
        }
    }
}

fn handle(mut client: TcpStream, fault: Fault, upstream: &str) {
    match fault {
        Fault::Respond { status, headers } => {
            read_request_head(&mut client);
            let mut response =
                format!("HTTP/1.1 {status} Fault\r\nContent-Length: 0\r\nConnection: close\r\n");
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            let _ = client.write_all(response.as_bytes());
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Drop => {
            read_request_head(&mut client);
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Pass => {
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let (Ok(mut client_read), Ok(mut server_write)) =
                (client.try_clone(), server.try_clone())
            else {
                return;
            };
            let mut server_read = server;
            let upload = thread::spawn(move || {
                let _ = std::io::copy(&mut client_read, &mut server_write);
                let _ = server_write.shutdown(Shutdown::Write);
            });
            let _ = std::io::copy(&mut server_read, &mut client);
            let _ = client.shutdown(Shutdown::Write);
            let _ = upload.join();
        }
    }
}
