//! A signing HTTP client for the node's API.

use crate::keystore::random_bytes;
use anyhow::{Context, anyhow};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use web4_core::signing::canonical_request;
use web4_core::{ErrorCode, LctId, SecretKey};

/// An error answered by the node.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub code: Option<ErrorCode>,
    pub message: String,
    pub body: Value,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(
                f,
                "error: {} (HTTP {}): {}\n  {}: {}",
                c.as_str(),
                self.status,
                self.message,
                c.title(),
                c.hint()
            ),
            None => write!(f, "error: HTTP {}: {}", self.status, self.message),
        }
    }
}
impl std::error::Error for Failure {}

/// Headers of a signed request.
pub struct SignedHeaders {
    pub authorization: String,
    pub signature: String,
    pub nonce: String,
    pub timestamp: String,
}

/// Sign `method path body`, to a node of `society`, as the LCT of `key` at
/// the current time.
pub fn sign_headers(
    key: &SecretKey,
    society: &LctId,
    method: &str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<SignedHeaders> {
    let signer = LctId::from_public_key(&key.public_key());
    let nonce = data_encoding::BASE64URL_NOPAD.encode(&random_bytes::<18>()?);
    let ts = crate::services::system_clock();
    let canon = canonical_request(society, method, path, body, &nonce, ts, &signer);
    Ok(SignedHeaders {
        authorization: format!("Bearer {signer}"),
        signature: key.sign(canon.as_bytes()).to_string(),
        nonce,
        timestamp: ts.to_string(),
    })
}

impl SignedHeaders {
    /// Add these headers (and the JSON content type) to a request.
    pub fn apply(self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header("content-type", "application/json")
            .header("authorization", self.authorization)
            .header("x-signature", self.signature)
            .header("x-nonce", self.nonce)
            .header("x-timestamp", self.timestamp)
    }
}

/// The society a node at `base` serves (`GET /ready`), which every signed
/// request to it names (docs/api.md §7).
pub async fn society_of(http: &reqwest::Client, base: &str) -> anyhow::Result<LctId> {
    let url = format!("{}/ready", base.trim_end_matches('/'));
    let v: Value = http.get(&url).send().await.with_context(|| format!("cannot reach {url}"))?.json().await?;
    let id = v["society"].as_str().ok_or_else(|| anyhow!("{url} names no society"))?;
    LctId::parse(id).map_err(|e| anyhow!("{url}: society: {e}"))
}

/// Client of one node.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// The node's society, asked once (`society_of`).
    society: std::sync::Arc<tokio::sync::OnceCell<LctId>>,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8000`).
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .context("building HTTP client")?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), http, society: Default::default() })
    }

    async fn finish(resp: reqwest::Response) -> anyhow::Result<Value> {
        let status = resp.status().as_u16();
        let text = resp.text().await.context("reading response")?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|_| anyhow!("HTTP {status}: not JSON: {}", text.chars().take(200).collect::<String>()))?;
        if body["success"].as_bool() == Some(true) {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().and_then(ErrorCode::parse);
        let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
        Err(Failure { status, code, message, body }.into())
    }

    /// Unsigned GET.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        Self::finish(resp).await
    }

    /// Signed POST of a JSON body.
    pub async fn post<T: Serialize>(&self, key: &SecretKey, path: &str, body: &T) -> anyhow::Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        self.post_raw(key, path, bytes).await
    }

    /// The society of the node (asked once).
    pub async fn society(&self) -> anyhow::Result<LctId> {
        self.society.get_or_try_init(|| society_of(&self.http, &self.base)).await.cloned()
    }

    /// Signed DELETE with an empty body.
    pub async fn delete(&self, key: &SecretKey, path: &str) -> anyhow::Result<Value> {
        let h = sign_headers(key, &self.society().await?, "DELETE", path, &[])?;
        let resp = h
            .apply(self.http.delete(format!("{}{path}", self.base)))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        Self::finish(resp).await
    }

    /// Signed POST of raw bytes.
    pub async fn post_raw(&self, key: &SecretKey, path: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let h = sign_headers(key, &self.society().await?, "POST", path, &bytes)?;
        let resp = h
            .apply(self.http.post(format!("{}{path}", self.base)))
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        Self::finish(resp).await
    }
}
