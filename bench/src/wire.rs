//! Single HTTP/1.1 exchanges written and read byte by byte, so that the
//! harness knows exactly how many bytes a request and its response put on
//! the wire. Used to set up visitors and to measure sizes, never for load.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// No exchange of the harness takes longer unless the server is stuck.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    /// The whole `Cookie` header value, e.g. `token=eyJ...`.
    pub cookie: Option<String>,
    /// An urlencoded form body.
    pub form: Option<Vec<(String, String)>>,
}

impl Request {
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET",
            path: path.to_owned(),
            cookie: None,
            form: None,
        }
    }

    pub fn post(path: &str, form: &[(&str, &str)]) -> Self {
        Self {
            method: "POST",
            path: path.to_owned(),
            cookie: None,
            form: Some(
                form.iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                    .collect(),
            ),
        }
    }

    pub fn with_cookie(mut self, cookie: Option<String>) -> Self {
        self.cookie = cookie;
        self
    }

    /// The request as the load generator sends it: request line, `host`,
    /// `cookie`, and for a form its type and length. A browser adds its own
    /// headers (user agent, accept, ...), the same on both sides.
    fn to_bytes(&self, address: SocketAddr) -> Vec<u8> {
        let body = self.form.as_ref().map(|form| {
            form.iter()
                .map(|(name, value)| format!("{}={}", url_encode(name), url_encode(value)))
                .collect::<Vec<_>>()
                .join("&")
        });
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {address}\r\n",
            self.method, self.path
        );
        if let Some(cookie) = &self.cookie {
            head.push_str(&format!("cookie: {cookie}\r\n"));
        }
        if let Some(body) = &body {
            head.push_str(&format!(
                "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend(body.unwrap_or_default().into_bytes());
        bytes
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub request_bytes: usize,
    /// Status line, headers and body.
    pub response_bytes: usize,
}

impl Response {
    /// The value of the `Set-Cookie` for `name`; `Some("")` when it removes the cookie.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header == "set-cookie")
            .find_map(|(_, value)| cookie_value(value, name))
    }

    /// The whole `Set-Cookie` header line for `name`, as sent.
    pub fn set_cookie_line(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(header, value)| header == "set-cookie" && cookie_value(value, name).is_some())
            .map(|(header, value)| format!("{header}: {value}\r\n"))
            .next()
    }

    /// The username the get_session page shows (`Guest` when logged out).
    pub fn username(&self) -> Option<&str> {
        let start = self.body.find("<h1>Username: ")? + "<h1>Username: ".len();
        let end = self.body[start..].find("</h1>")?;
        Some(&self.body[start..start + end])
    }
}

/// The value of cookie `name` in one `Set-Cookie` header value.
pub fn cookie_value<'a>(set_cookie: &'a str, name: &str) -> Option<&'a str> {
    let pair = set_cookie.split(';').next()?.trim();
    pair.strip_prefix(name)?.strip_prefix('=')
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn exchange(address: SocketAddr, request: Request) -> anyhow::Result<Response> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange_untimed(address, request))
        .await
        .with_context(|| format!("no full answer from {address} within {EXCHANGE_TIMEOUT:?}"))?
}

async fn exchange_untimed(address: SocketAddr, request: Request) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect(address).await?;
    let bytes = request.to_bytes(address);
    exchange_on(&mut stream, &bytes).await
}

/// Sends `request` `count` times, one after the other, on one keep-alive
/// connection, as a browser or a load generator reuses it; fails on the
/// first answer that is not a 200.
pub async fn exchange_repeatedly(
    address: SocketAddr,
    request: &Request,
    count: u64,
) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(address).await?;
    let bytes = request.to_bytes(address);
    for _ in 0..count {
        let response = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange_on(&mut stream, &bytes))
            .await
            .with_context(|| {
                format!("no full answer from {address} within {EXCHANGE_TIMEOUT:?}")
            })??;
        if response.status != 200 {
            bail!("{} answered {}", request.path, response.status);
        }
    }
    Ok(())
}

/// Writes one request on `stream` and reads its whole response.
async fn exchange_on(stream: &mut TcpStream, bytes: &[u8]) -> anyhow::Result<Response> {
    stream.write_all(bytes).await?;
    let mut received = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        let head_end = received
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|position| position + 4);
        if let Some(head_end) = head_end {
            let (status, headers) = parse_head(&received[..head_end])?;
            let length = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map(|(_, value)| value.parse::<usize>())
                .transpose()?
                .context("a response without content-length")?;
            if received.len() >= head_end + length {
                let body = String::from_utf8_lossy(&received[head_end..head_end + length]);
                return Ok(Response {
                    status,
                    body: body.into_owned(),
                    headers,
                    request_bytes: bytes.len(),
                    response_bytes: head_end + length,
                });
            }
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the connection closed before the response was complete");
        }
        received.extend_from_slice(&chunk[..read]);
    }
}

fn parse_head(head: &[u8]) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let head = std::str::from_utf8(head).context("response head is not text")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// application/x-www-form-urlencoded, as a browser encodes a form.
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Logs a new visitor in and returns the `Cookie` header value that the
/// browser would send from then on, e.g. `sessionid=...`.
pub async fn log_in(
    address: SocketAddr,
    path: &str,
    cookie_name: &str,
    username: Option<&str>,
) -> anyhow::Result<(String, Response)> {
    let request = match username {
        Some(username) => Request::post(path, &[("username", username)]),
        None => Request::get(path),
    };
    let response = exchange(address, request).await?;
    if response.status != 200 {
        bail!(
            "login at {path} answered {}: {}",
            response.status,
            response.body
        );
    }
    let value = response
        .set_cookie(cookie_name)
        .filter(|value| !value.is_empty())
        .with_context(|| format!("login at {path} set no {cookie_name} cookie"))?
        .to_owned();
    Ok((format!("{cookie_name}={value}"), response))
}
