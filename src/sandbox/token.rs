//! A token service for a docker-registry in token-auth mode: checks basic credentials (or an
//! OAuth2 refresh token) and issues JWTs the registry verifies against its `rootcertbundle`.
//!
//! It is a small HTTP/1.1 server on a std thread (one request per connection), signing with
//! the `openssl` CLI (RS256, the certificate in the `x5c` header), so gantry's bearer-token
//! path is exercised against the real Distribution verifier rather than a stub.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::tls::{openssl, openssl_with_input, path_str};
use super::SandboxError;

/// The `service` the registry announces and the token's `aud`.
pub const TOKEN_SERVICE: &str = "gantry-sandbox-registry";
/// The token's `iss`, which the registry must be configured to trust.
pub const TOKEN_ISSUER: &str = "gantry-sandbox-issuer";

/// How a registry is told to trust an issuer (Distribution's `auth: token:` section).
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub rootcertbundle: PathBuf,
}

/// Who may get tokens: users with passwords, and refresh tokens standing for a user.
#[derive(Debug, Clone, Default)]
pub struct TokenUsers {
    pub passwords: HashMap<String, String>,
    pub refresh_tokens: HashMap<String, String>,
    /// Users whose tokens only ever grant `pull`, whatever they ask for: read-only
    /// credentials, as a registry's robot accounts for readers are.
    pub pull_only: std::collections::HashSet<String>,
}

struct State {
    users: TokenUsers,
    key: PathBuf,
    cert_der_b64: String,
    issued: AtomicUsize,
    refused: AtomicUsize,
    stop: AtomicBool,
}

/// The running token service; stopped on drop.
pub struct TokenIssuer {
    addr: String,
    cert: PathBuf,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TokenIssuer {
    /// Generates a signing key and certificate under `dir`, then serves on a free port.
    pub fn start(dir: &Path, users: TokenUsers) -> Result<TokenIssuer, SandboxError> {
        std::fs::create_dir_all(dir)
            .map_err(SandboxError::io(format!("creating {}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(SandboxError::io(format!("resolving {}", dir.display())))?;
        let key = dir.join("token-signing.key");
        let cert = dir.join("token-signing.crt");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gantry sandbox token issuer",
            "-keyout",
            path_str(&key)?,
            "-out",
            path_str(&cert)?,
        ])?;
        let pem = std::fs::read_to_string(&cert)
            .map_err(SandboxError::io(format!("reading {}", cert.display())))?;
        // The base64 between the PEM armour lines is the DER, as x5c wants it.
        let cert_der_b64: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(SandboxError::io("binding the token service"))?;
        let addr = listener
            .local_addr()
            .map_err(SandboxError::io("reading the token service's address"))?
            .to_string();
        let state = Arc::new(State {
            users,
            key,
            cert_der_b64,
            issued: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let serving = state.clone();
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = serving.clone();
                thread::spawn(move || handle(stream, &state));
            }
        });
        Ok(TokenIssuer {
            addr,
            cert,
            state,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/token`
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The registry-side settings that make it trust this issuer.
    pub fn auth(&self) -> TokenAuth {
        TokenAuth {
            realm: self.realm(),
            service: TOKEN_SERVICE.to_string(),
            issuer: TOKEN_ISSUER.to_string(),
            rootcertbundle: self.cert.clone(),
        }
    }

    /// Tokens handed out so far.
    pub fn issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Requests refused (bad or missing credentials) so far.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    query: HashMap<String, Vec<String>>,
    authorization: Option<String>,
    body: Vec<u8>,
}

fn handle(mut stream: TcpStream, state: &State) {
    let timeout = Some(Duration::from_secs(10));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let (status, body) = match read_request(&mut stream) {
        Some(request) => respond(&request, state),
        None => (400, error_body("BAD_REQUEST", "unreadable request")),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let mut authorization = None;
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        }
    }
    if length > 64 * 1024 {
        return None;
    }
    let mut body = buffer[header_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path != "/token" {
        return Some(Request {
            method: "NOT_FOUND".into(),
            query: HashMap::new(),
            authorization,
            body,
        });
    }
    Some(Request {
        method,
        query: parse_form(query),
        authorization,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `a=1&b=2&b=3` with `+` and `%XX` decoded; repeated keys keep every value.
fn parse_form(text: &str) -> HashMap<String, Vec<String>> {
    let mut form: HashMap<String, Vec<String>> = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        form.entry(decode(key)).or_default().push(decode(value));
    }
    form
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "errors": [{ "code": code, "message": message }] }).to_string()
}

fn respond(request: &Request, state: &State) -> (u16, String) {
    let (subject, scopes) = match request.method.as_str() {
        // Docker's token flow: basic credentials, scopes in the query.
        "GET" => {
            let Some(user) = basic_user(request.authorization.as_deref(), &state.users) else {
                state.refused.fetch_add(1, Ordering::SeqCst);
                return (
                    401,
                    error_body("UNAUTHORIZED", "invalid username or password"),
                );
            };
            (
                user,
                request.query.get("scope").cloned().unwrap_or_default(),
            )
        }
        // OAuth2: a refresh token (Docker's identity token) or a password grant.
        "POST" => {
            let form = parse_form(&String::from_utf8_lossy(&request.body));
            let one = |key: &str| form.get(key).and_then(|v| v.first()).cloned();
            let user = match one("grant_type").as_deref() {
                Some("refresh_token") => one("refresh_token")
                    .and_then(|token| state.users.refresh_tokens.get(&token).cloned()),
                Some("password") => match (one("username"), one("password")) {
                    (Some(user), Some(password))
                        if state.users.passwords.get(&user) == Some(&password) =>
                    {
                        Some(user)
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(user) = user else {
                state.refused.fetch_add(1, Ordering::SeqCst);
                return (401, error_body("UNAUTHORIZED", "invalid grant"));
            };
            let scopes = one("scope")
                .map(|s| s.split(' ').map(str::to_string).collect())
                .unwrap_or_default();
            (user, scopes)
        }
        "NOT_FOUND" => return (404, error_body("NOT_FOUND", "no such endpoint")),
        _ => return (400, error_body("UNSUPPORTED", "method not allowed")),
    };
    match sign(state, &subject, &scopes) {
        Ok(token) => {
            state.issued.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": 300,
            });
            (200, body.to_string())
        }
        Err(e) => (500, error_body("INTERNAL", &e.to_string())),
    }
}

fn basic_user(header: Option<&str>, users: &TokenUsers) -> Option<String> {
    let encoded = header?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (users.passwords.get(user).map(String::as_str) == Some(password)).then(|| user.to_string())
}

/// `repository:name:pull,push` scopes become Distribution's `access` claim; everything a
/// known user asks for is granted, except that a pull-only user gets `pull` at most.
fn access(scopes: &[String], pull_only: bool) -> Vec<serde_json::Value> {
    scopes
        .iter()
        .flat_map(|scope| scope.split(' '))
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            (kind == "repository").then(|| {
                serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions
                        .split(',')
                        .filter(|a| !a.is_empty() && (!pull_only || *a == "pull"))
                        .collect::<Vec<_>>(),
                })
            })
        })
        .collect()
}

fn sign(state: &State, subject: &str, scopes: &[String]) -> Result<String, SandboxError> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "RS256",
        "x5c": [state.cert_der_b64],
    });
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": subject,
        "aud": TOKEN_SERVICE,
        "exp": now + 300,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("{:016x}", rand::random::<u64>()),
        "access": access(scopes, state.users.pull_only.contains(subject)),
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    // For an RSA key, `openssl dgst -sign` prints the bare PKCS#1 v1.5 signature: RS256.
    let signature = openssl_with_input(
        &["dgst", "-sha256", "-sign", path_str(&state.key)?],
        Some(signing_input.as_bytes()),
    )?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}
