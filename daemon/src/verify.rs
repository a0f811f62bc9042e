//! Request-signature verification shared by every signed route: signers' keys
//! cached in memory, and signatures of concurrent requests verified in one
//! batch (decisions/0021).
//!
//! Batching needs no thread of its own. A request puts its signature in the
//! pending set and yields once to the runtime, so that the other requests the
//! worker has ready get as far; the first one to run again verifies everything
//! pending in one multiscalar multiplication and sends each request its own
//! result. When a batch fails, every member is verified on its own, so one bad
//! signature refuses only its own request. Alone, a request verifies its
//! signature by itself after one yield. Draining, verifying and answering
//! happen in one synchronous step, so a cancelled request never strands
//! another one's result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use web4_core::crypto::{CryptoError, verify_each};
use web4_core::{LctId, PublicKey, Signature};

/// Cap on cached keys; the cache is emptied when it is reached (a key costs
/// one indexed read and a point decompression to load again).
const MAX_CACHED_KEYS: usize = 65_536;

/// Most signatures verified in one batch (larger batches gain little per
/// signature and hold the worker longer).
const MAX_BATCH: usize = 256;

struct Job {
    msg: Vec<u8>,
    sig: Signature,
    pk: PublicKey,
    reply: oneshot::Sender<Result<(), CryptoError>>,
}

/// The answer to a verification was lost: the request that drained it
/// panicked before answering (an internal error, not a bad signature).
#[derive(Debug)]
pub struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the batch holding this signature was not verified")
    }
}

/// Batches of pending request signatures and the signer-key cache.
pub struct Verifier {
    pending: Mutex<Vec<Job>>,
    keys: Mutex<HashMap<LctId, PublicKey>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Verifier {
    /// A verifier that reports batch sizes and per-signature time to `metrics`.
    pub fn new(metrics: Arc<crate::metrics::Metrics>) -> Self {
        Verifier { pending: Mutex::default(), keys: Mutex::default(), metrics }
    }

    /// The cached key of a registered LCT. An LCT's id is derived from its key
    /// and its row is never deleted or re-keyed, so a cached entry never goes
    /// stale; only keys that were found are cached.
    pub fn cached_key(&self, id: &LctId) -> Option<PublicKey> {
        lock(&self.keys).get(id).copied()
    }

    /// Remember a registered LCT's key.
    pub fn remember_key(&self, id: &LctId, pk: PublicKey) {
        let mut keys = lock(&self.keys);
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(id.clone(), pk);
    }

    /// Verify `sig` over `msg` with `pk`, batched with whatever other requests
    /// are verifying at the same time. Same result as `pk.verify(msg, sig)`.
    pub async fn verify(&self, msg: Vec<u8>, sig: Signature, pk: PublicKey) -> Result<Result<(), CryptoError>, Lost> {
        let mut results = self.verify_all(vec![(msg, sig, pk)]).await?;
        results.pop().ok_or(Lost)
    }

    /// Verify several signatures of one request together: they join the
    /// pending set at once, so they share a batch (and one yield) instead of
    /// waiting for each other. One result per item, in order; each is the
    /// same as `pk.verify(msg, sig)`.
    pub async fn verify_all(
        &self,
        items: Vec<(Vec<u8>, Signature, PublicKey)>,
    ) -> Result<Vec<Result<(), CryptoError>>, Lost> {
        let mut results = Vec::with_capacity(items.len());
        {
            let mut pending = lock(&self.pending);
            for (msg, sig, pk) in items {
                let (reply, result) = oneshot::channel();
                pending.push(Job { msg, sig, pk, reply });
                results.push(result);
            }
        }
        tokio::task::yield_now().await;
        self.run_pending();
        // Our jobs were answered either just now or by another request's
        // drain, which runs to its end without awaiting; a dropped sender
        // means that drain panicked.
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            out.push(r.await.map_err(|_| Lost)?);
        }
        Ok(out)
    }

    /// Verify every pending signature (in batches of at most `MAX_BATCH`) and
    /// answer each request.
    fn run_pending(&self) {
        loop {
            let jobs: Vec<Job> = {
                let mut pending = lock(&self.pending);
                let n = pending.len().min(MAX_BATCH);
                pending.drain(..n).collect()
            };
            if jobs.is_empty() {
                return;
            }
            let started = std::time::Instant::now();
            let items: Vec<(&[u8], &Signature, &PublicKey)> =
                jobs.iter().map(|j| (j.msg.as_slice(), &j.sig, &j.pk)).collect();
            let results = verify_each(&items);
            let each = started.elapsed().as_secs_f64() / jobs.len() as f64;
            for _ in 0..jobs.len() {
                self.metrics.signature_verification.observe(each);
            }
            self.metrics.signature_batch_size.observe(jobs.len() as f64);
            for (job, r) in jobs.into_iter().zip(results) {
                // The request may have gone (timeout, client disconnect).
                let _ = job.reply.send(r);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use web4_core::SecretKey;

    fn job(seed: u8, forge: bool) -> (Vec<u8>, Signature, PublicKey) {
        let sk = SecretKey::from_seed(&[seed; 32]);
        let msg = vec![seed; 40];
        let sig = sk.sign(&msg);
        let msg = if forge { vec![seed ^ 1; 40] } else { msg };
        (msg, sig, sk.public_key())
    }

    /// A sample's value in the rendered metrics.
    fn metric(metrics: &crate::metrics::Metrics, sample: &str) -> f64 {
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .and_then(|n| n.trim().parse().ok())
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_batches_and_each_gets_its_own_result() {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let v = Arc::new(Verifier::new(metrics.clone()));
        let tasks: Vec<_> = (0..200u8)
            .map(|i| {
                let v = v.clone();
                tokio::spawn(async move {
                    let (m, s, p) = job(i, i % 7 == 3);
                    (i, v.verify(m, s, p).await.unwrap())
                })
            })
            .collect();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r.is_ok(), i % 7 != 3, "request {i}");
        }
        assert!(lock(&v.pending).is_empty());
        let batches = metric(&metrics, "web4_signature_batch_size_count");
        assert!(batches < 200.0, "200 concurrent requests were verified in {batches} batches");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_s_signatures_share_a_batch_and_keep_their_order() {
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let v = Arc::new(Verifier::new(metrics.clone()));
        let tasks: Vec<_> = (0..40u8)
            .map(|i| {
                let v = v.clone();
                tokio::spawn(async move {
                    // Three signatures per request; the middle one is forged in every fifth.
                    let items =
                        vec![job(i, false), job(i.wrapping_add(100), i % 5 == 2), job(i.wrapping_add(200), false)];
                    (i, v.verify_all(items).await.unwrap())
                })
            })
            .collect();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            let ok: Vec<bool> = r.iter().map(Result::is_ok).collect();
            assert_eq!(ok, vec![true, i % 5 != 2, true], "request {i}");
        }
        assert!(lock(&v.pending).is_empty());
        // No batch held fewer than one request's three signatures.
        let ones = metric(&metrics, "web4_signature_batch_size_bucket{le=\"2.0\"}");
        assert_eq!(ones, 0.0, "a request's signatures were split across batches");
    }

    #[tokio::test]
    async fn a_cancelled_request_does_not_strand_the_next_one() {
        let v = Verifier::new(Arc::new(crate::metrics::Metrics::new()));
        let (m, s, p) = job(1, false);
        // Pushed, then dropped at the yield: its job stays pending.
        let mut first = Box::pin(v.verify(m, s, p));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(first.as_mut(), &mut cx).is_pending());
        drop(first);
        let (m, s, p) = job(2, false);
        assert!(v.verify(m, s, p).await.unwrap().is_ok());
        assert!(lock(&v.pending).is_empty());
    }

    #[test]
    fn the_key_cache_is_bounded() {
        let v = Verifier::new(Arc::new(crate::metrics::Metrics::new()));
        let pk = SecretKey::from_seed(&[1; 32]).public_key();
        for i in 0..MAX_CACHED_KEYS + 10 {
            v.remember_key(&LctId::parse(&format!("lct:web4:k{i}")).unwrap(), pk);
        }
        assert!(lock(&v.keys).len() <= MAX_CACHED_KEYS);
        assert_eq!(v.cached_key(&LctId::parse(&format!("lct:web4:k{}", MAX_CACHED_KEYS + 9)).unwrap()), Some(pk));
    }
}
