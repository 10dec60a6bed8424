//! A loopback HTTP/1.1 proxy in front of a real registry that injects scripted faults:
//! error statuses, dropped connections mid-body, stalls, truncated or corrupted bodies,
//! hostile answers. Requests no rule matches pass through untouched.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// One parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }
}

/// A gate a fault waits on; the test opens it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        let (lock, cvar) = &*self.0;
        if let Ok(mut open) = lock.lock() {
            *open = true;
            cvar.notify_all();
        }
    }

    fn wait(&self) {
        let (lock, cvar) = &*self.0;
        let Ok(mut open) = lock.lock() else { return };
        while !*open {
            match cvar.wait(open) {
                Ok(guard) => open = guard,
                Err(_) => return,
            }
        }
    }
}

pub type Responder = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// What to do with a request a rule matched.
#[derive(Clone)]
pub enum Fault {
    /// Answer this instead of asking the registry.
    Respond(Response),
    /// Answer with whatever the function builds from the request.
    Compute(Responder),
    /// Close the connection after reading this many bytes of the request body.
    DropRequestAfter(usize),
    /// Forward, then close after sending this many bytes of the response body.
    DropResponseAfter(usize),
    /// Forward, send this many bytes of the response body, then go silent (until the proxy ends).
    StallAfter(usize),
    /// Forward, but flip one byte in the middle of the response body.
    Corrupt,
    /// Forward, replacing the response's Content-Type.
    ContentType(String),
    /// Tell the test (through `held`) and wait for the gate before forwarding.
    Hold(Gate),
}

/// A fault for requests matching `method` (or any, if empty) and a path containing `path`,
/// applied `times` times (None: always).
pub struct Rule {
    pub method: &'static str,
    pub path: String,
    pub times: Option<usize>,
    pub fault: Fault,
}

impl Rule {
    pub fn new(method: &'static str, path: &str, times: Option<usize>, fault: Fault) -> Rule {
        Rule {
            method,
            path: path.to_string(),
            times,
            fault,
        }
    }

    fn matches(&self, request: &Request) -> bool {
        (self.method.is_empty() || self.method == request.method)
            && request.path.contains(&self.path)
            && self.times != Some(0)
    }
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    /// Every (method, path) the proxy saw, in order.
    log: Mutex<Vec<(String, String)>>,
    faults_injected: AtomicUsize,
    body_bytes_forwarded: AtomicU64,
    held: Mutex<Option<mpsc::Sender<Request>>>,
}

pub struct FaultProxy {
    pub addr: String,
    shared: Arc<Shared>,
    held: Mutex<mpsc::Receiver<Request>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let (held_tx, held_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            rules: Mutex::new(rules),
            log: Mutex::new(Vec::new()),
            faults_injected: AtomicUsize::new(0),
            body_bytes_forwarded: AtomicU64::new(0),
            held: Mutex::new(Some(held_tx)),
        });
        let accept_shared = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = accept_shared.clone();
                thread::spawn(move || {
                    let _ = serve(client, &shared);
                });
            }
        });
        FaultProxy {
            addr,
            shared,
            held: Mutex::new(held_rx),
        }
    }

    /// Replaces the rules (e.g. none: the registry recovers).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        if let Ok(mut current) = self.shared.rules.lock() {
            *current = rules;
        }
    }

    /// Blocks until a `Hold` fault has caught a request.
    pub fn wait_held(&self) -> Request {
        self.held
            .lock()
            .expect("held lock")
            .recv_timeout(Duration::from_secs(30))
            .expect("no request was held")
    }

    pub fn faults_injected(&self) -> usize {
        self.shared.faults_injected.load(Ordering::SeqCst)
    }

    pub fn body_bytes_forwarded(&self) -> u64 {
        self.shared.body_bytes_forwarded.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

fn take_fault(shared: &Shared, request: &Request) -> Option<Fault> {
    let mut rules = shared.rules.lock().ok()?;
    let rule = rules.iter_mut().find(|r| r.matches(request))?;
    if let Some(times) = rule.times.as_mut() {
        *times -= 1;
    }
    shared.faults_injected.fetch_add(1, Ordering::SeqCst);
    Some(rule.fault.clone())
}

fn serve(client: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let Some(request) = read_head(&mut reader)? else {
            return Ok(());
        };
        let request = parse_request(&request)?;
        if let Ok(mut log) = shared.log.lock() {
            log.push((request.method.clone(), request.path.clone()));
        }
        let fault = take_fault(shared, &request);
        match fault {
            Some(Fault::Respond(response)) => {
                drain_body(&mut reader, &request)?;
                write_response(&mut client, &response, &request)?;
            }
            Some(Fault::Compute(build)) => {
                drain_body(&mut reader, &request)?;
                write_response(&mut client, &build(&request), &request)?;
            }
            Some(Fault::DropRequestAfter(n)) => {
                let mut sink = io::sink();
                copy_exact(&mut reader, &mut sink, n as u64)?;
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Hold(gate)) => {
                if let Ok(held) = shared.held.lock() {
                    if let Some(sender) = held.as_ref() {
                        let _ = sender.send(request.clone());
                    }
                }
                gate.wait();
                forward(&mut reader, &mut client, &request, shared, None)?;
            }
            other => {
                let keep_going = forward(&mut reader, &mut client, &request, shared, other)?;
                if !keep_going {
                    return Ok(());
                }
            }
        }
    }
}

fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn parse_headers(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn parse_request(lines: &[String]) -> io::Result<Request> {
    let mut parts = lines[0].split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other("bad request line"));
    };
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        headers: parse_headers(&lines[1..]),
    })
}

enum BodyKind {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn body_kind(headers: &[(String, String)], is_response: bool) -> BodyKind {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        BodyKind::Chunked
    } else if let Some(len) = get("content-length").and_then(|v| v.parse().ok()) {
        BodyKind::Length(len)
    } else if is_response {
        BodyKind::UntilClose
    } else {
        BodyKind::None
    }
}

fn drain_body(reader: &mut impl BufRead, request: &Request) -> io::Result<()> {
    let mut sink = io::sink();
    relay_body(
        reader,
        &mut sink,
        body_kind(&request.headers, false),
        u64::MAX,
        |_| {},
    )?;
    Ok(())
}

/// Copies a body, at most `limit` bytes of payload; returns the payload bytes copied.
fn relay_body(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
    kind: BodyKind,
    limit: u64,
    mut on_chunk: impl FnMut(&mut [u8]),
) -> io::Result<u64> {
    match kind {
        BodyKind::None => Ok(0),
        BodyKind::Length(len) => copy_limited(reader, writer, len.min(limit), &mut on_chunk),
        BodyKind::UntilClose => copy_limited(reader, writer, limit, &mut on_chunk),
        BodyKind::Chunked => {
            let mut total = 0;
            loop {
                let mut size_line = String::new();
                reader.read_line(&mut size_line)?;
                let size =
                    u64::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                        .map_err(|_| io::Error::other("bad chunk size"))?;
                writer.write_all(size_line.as_bytes())?;
                if size == 0 {
                    let mut end = String::new();
                    reader.read_line(&mut end)?;
                    writer.write_all(end.as_bytes())?;
                    return Ok(total);
                }
                if total + size > limit {
                    let n = copy_limited(reader, writer, limit - total, &mut on_chunk)?;
                    return Ok(total + n);
                }
                total += copy_limited(reader, writer, size, &mut on_chunk)?;
                let mut crlf = [0u8; 2];
                reader.read_exact(&mut crlf)?;
                writer.write_all(&crlf)?;
            }
        }
    }
}

fn copy_limited(
    reader: &mut impl Read,
    writer: &mut impl Write,
    limit: u64,
    on_chunk: &mut impl FnMut(&mut [u8]),
) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0;
    while copied < limit {
        let want = (limit - copied).min(buf.len() as u64) as usize;
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        on_chunk(&mut buf[..n]);
        writer.write_all(&buf[..n])?;
        copied += n as u64;
    }
    Ok(copied)
}

fn copy_exact(reader: &mut impl Read, writer: &mut impl Write, n: u64) -> io::Result<u64> {
    copy_limited(reader, writer, n, &mut |_| {})
}

fn write_response(
    client: &mut TcpStream,
    response: &Response,
    request: &Request,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} Fault\r\nContent-Length: {}\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        client.write_all(&response.body)?;
    }
    client.flush()
}

/// Sends the request to the registry and relays the answer, applying a response fault.
/// Returns false when the connection must end.
fn forward(
    reader: &mut BufReader<TcpStream>,
    client: &mut TcpStream,
    request: &Request,
    shared: &Shared,
    fault: Option<Fault>,
) -> io::Result<bool> {
    let upstream = TcpStream::connect(&shared.upstream)?;
    let mut upstream_writer = upstream.try_clone()?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        // Host is kept: the registry builds upload Locations from it, and they must
        // lead back through the proxy.
        if !name.eq_ignore_ascii_case("connection") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream_writer.write_all(head.as_bytes())?;
    let sent = relay_body(
        reader,
        &mut upstream_writer,
        body_kind(&request.headers, false),
        u64::MAX,
        |_| {},
    )?;
    shared
        .body_bytes_forwarded
        .fetch_add(sent, Ordering::SeqCst);
    upstream_writer.flush()?;

    let mut upstream_reader = BufReader::new(upstream);
    let Some(lines) = read_head(&mut upstream_reader)? else {
        return Ok(false);
    };
    let status: u16 = lines[0]
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let mut headers = parse_headers(&lines[1..]);
    if let Some(Fault::ContentType(content_type)) = &fault {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        headers.push(("Content-Type".into(), content_type.clone()));
    }
    let no_body =
        request.method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    let kind = if no_body {
        BodyKind::None
    } else {
        body_kind(&headers, true)
    };
    let mut out = format!("{}\r\n", lines[0]);
    for (name, value) in &headers {
        if !name.eq_ignore_ascii_case("connection") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let until_close = matches!(kind, BodyKind::UntilClose);
    if until_close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes())?;

    let (limit, after) = match &fault {
        Some(Fault::DropResponseAfter(n)) => (*n as u64, After::Drop),
        Some(Fault::StallAfter(n)) => (*n as u64, After::Stall),
        _ => (u64::MAX, After::Continue),
    };
    let corrupt = matches!(fault, Some(Fault::Corrupt));
    let mut seen = 0u64;
    let copied = relay_body(&mut upstream_reader, client, kind, limit, |chunk| {
        if corrupt && seen == 0 && !chunk.is_empty() {
            let middle = chunk.len() / 2;
            chunk[middle] ^= 0x01;
        }
        seen += chunk.len() as u64;
    })?;
    shared
        .body_bytes_forwarded
        .fetch_add(copied, Ordering::SeqCst);
    client.flush()?;
    match after {
        After::Drop => {
            let _ = client.shutdown(Shutdown::Both);
            Ok(false)
        }
        After::Stall => {
            // Silent but open: the client must give up on its own.
            thread::sleep(Duration::from_secs(600));
            Ok(false)
        }
        After::Continue => Ok(!until_close),
    }
}

enum After {
    Continue,
    Drop,
    Stall,
}

/// Used by hostile-registry tests to make a header value on demand.
pub fn request_header(request: &Request, name: &str) -> Option<String> {
    request.header(name).map(str::to_string)
}
