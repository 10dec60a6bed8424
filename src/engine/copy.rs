//! Carrying out a plan: blobs streamed or mounted, then manifests children-first, then tags.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::try_join_all;
use futures_util::Stream;
use sha2::{Digest as _, Sha256};

use super::plan::{BlobAction, BlobStep, Plan, TagAction};
use super::{Counters, Engine, EngineError, Step};
use crate::domain::Digest;
use crate::registry::{RegistryClient, RegistryError, UploadStart};

/// Blobs under this size (config blobs, small layers) upload without a blob slot: their
/// POST and PUT are round trips, not bandwidth, and waiting behind large layers for a
/// slot would only delay the manifests that need them.
const SMALL_BLOB_BYTES: u64 = 1024 * 1024;

pub(crate) async fn execute(
    engine: &Engine,
    plan: &Plan,
    counters: &Arc<Counters>,
) -> Result<(), EngineError> {
    let source = engine.client(&plan.from_env)?;
    let target = engine.client(&plan.to)?;

    counters.set_step(Step::CopyingBlobs);
    let transfers =
        plan.blobs
            .iter()
            .chain(plan.attachments.blobs.iter())
            .filter(|b| matches!(b.action, BlobAction::Copy | BlobAction::Mount))
            .map(|blob| async move {
                let _slot =
                    if blob.size < SMALL_BLOB_BYTES {
                        None
                    } else {
                        Some(
                            engine.blob_slots.acquire().await.map_err(|_| {
                                EngineError::Input("engine is shutting down".into())
                            })?,
                        )
                    };
                transfer_blob(
                    source,
                    &plan.source_repository,
                    target,
                    &plan.target_repository,
                    blob,
                    counters,
                )
                .await?;
                counters.blob_done();
                Ok::<_, EngineError>(())
            });
    try_join_all(transfers).await?;

    counters.set_step(Step::PushingManifests);
    // Children in parallel; the top manifest (last) only once they are all in.
    if let Some((top, children)) = plan.to_push.split_last() {
        try_join_all(children.iter().map(|child| {
            target.put_manifest(&plan.target_repository, child.digest.as_str(), child)
        }))
        .await?;
        target
            .put_manifest(&plan.target_repository, top.digest.as_str(), top)
            .await?;
    }

    // Attachments and signatures before tags: a tagged image always has them.
    super::attachments::apply(
        super::attachments::Side {
            client: target,
            repository: &plan.target_repository,
        },
        &plan.attachments,
    )
    .await?;
    crate::signing::remote::apply(
        source,
        &plan.source_repository,
        target,
        &plan.target_repository,
        &plan.digest,
        &plan.signatures,
    )
    .await?;

    counters.set_step(Step::Tagging);
    // The images of a train reach this point each on its own and write their tags at once,
    // one image's beside another's: no image waits for the slowest of the train. Within
    // an image the order stays: the immutable tag, then the mutable one, so a mutable tag
    // never points at an image whose immutable tag is missing.
    // Another promotion (from another machine, past the local lock) may have written the
    // tags since we planned: check them all (at once) before writing any, so we never
    // half-tag.
    let now = try_join_all(
        plan.tags
            .iter()
            .map(|step| target.head_manifest(&plan.target_repository, &step.tag)),
    )
    .await?;
    for (step, head) in plan.tags.iter().zip(now) {
        let current = head.map(|head| head.digest);
        let as_planned = match (&step.action, &current) {
            (_, Some(now)) if *now == plan.digest => true,
            (TagAction::Create, None) => true,
            (TagAction::Move { from }, Some(now)) => now == from,
            _ => false,
        };
        if !as_planned {
            let now = current.map_or_else(|| "nothing".to_string(), |d| d.to_string());
            return Err(EngineError::Refused(format!(
                "{}:{} changed while this promotion ran (it now points at {now}); another promotion got there first, so no tag was written",
                plan.target, step.tag
            )));
        }
    }
    for step in &plan.tags {
        if step.action == TagAction::Unchanged {
            continue;
        }
        target
            .put_manifest(&plan.target_repository, &step.tag, &plan.top)
            .await?;
    }
    // What was just written is known for sure: the next listing need not ask.
    engine
        .tag_cache(target.host())
        .put_digest(&plan.target_repository, &plan.tag, &plan.digest);
    Ok(())
}

/// Mounts or streams one blob, retrying the whole transfer on transient failures.
async fn transfer_blob(
    source: &RegistryClient,
    source_repository: &str,
    target: &RegistryClient,
    target_repository: &str,
    blob: &BlobStep,
    counters: &Arc<Counters>,
) -> Result<(), RegistryError> {
    let mount = (blob.action == BlobAction::Mount).then_some((&blob.digest, source_repository));
    target
        .with_retries(|| async {
            let location = match target.start_upload(target_repository, mount).await? {
                UploadStart::Mounted => return Ok(()),
                UploadStart::Session(location) => location,
            };
            let attempt_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let failure = Arc::new(Mutex::new(None));
            let result = async {
                let response = source.get_blob(source_repository, &blob.digest).await?;
                let body = VerifyingStream {
                    inner: Box::pin(response.bytes_stream()),
                    hasher: Some(Sha256::new()),
                    seen: 0,
                    expected_size: blob.size,
                    expected_digest: blob.digest.clone(),
                    counters: counters.clone(),
                    attempt_bytes: attempt_bytes.clone(),
                    failure: failure.clone(),
                    registry: source.host().to_string(),
                    repository: source_repository.to_string(),
                };
                target
                    .put_upload(
                        target_repository,
                        &location,
                        &blob.digest,
                        blob.size,
                        reqwest::Body::wrap_stream(body),
                    )
                    .await
            }
            .await;
            if let Err(err) = result {
                counters.sub_bytes(attempt_bytes.load(std::sync::atomic::Ordering::Relaxed));
                target.cancel_upload(target_repository, &location).await;
                // The source's own fault, found while streaming, explains the failure better
                // than the broken PUT it caused.
                let cause = failure.lock().ok().and_then(|mut f| f.take());
                return Err(cause.unwrap_or(err));
            }
            Ok(())
        })
        .await
}

/// Passes a blob through while hashing and counting it; fails the stream (and so the
/// PUT) if the source sends other bytes than the digest promises.
struct VerifyingStream {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    hasher: Option<Sha256>,
    seen: u64,
    expected_size: u64,
    expected_digest: Digest,
    counters: Arc<Counters>,
    attempt_bytes: Arc<std::sync::atomic::AtomicU64>,
    failure: Arc<Mutex<Option<RegistryError>>>,
    registry: String,
    repository: String,
}

#[derive(Debug, thiserror::Error)]
#[error("source blob failed verification")]
struct SourceBlobError;

impl VerifyingStream {
    fn fail(
        &mut self,
        error: RegistryError,
    ) -> Poll<Option<Result<Bytes, Box<dyn std::error::Error + Send + Sync>>>> {
        self.hasher = None;
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(error);
        }
        Poll::Ready(Some(Err(Box::new(SourceBlobError))))
    }

    fn mismatch(&self, actual: String) -> RegistryError {
        RegistryError::DigestMismatch {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            what: format!("blob {}", self.expected_digest.short()),
            expected: self.expected_digest.to_string(),
            actual,
        }
    }
}

impl Stream for VerifyingStream {
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.hasher.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let len = chunk.len() as u64;
                self.seen += len;
                if self.seen > self.expected_size {
                    let actual = format!("more than {} bytes", self.expected_size);
                    let error = self.mismatch(actual);
                    return self.fail(error);
                }
                if let Some(hasher) = self.hasher.as_mut() {
                    hasher.update(&chunk);
                }
                self.counters.add_bytes(len);
                self.attempt_bytes
                    .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let error = RegistryError::Interrupted {
                    registry: self.registry.clone(),
                    what: format!("blob {}", self.expected_digest.short()),
                    reason: e.to_string(),
                };
                self.fail(error)
            }
            Poll::Ready(None) => {
                let Some(hasher) = self.hasher.take() else {
                    return Poll::Ready(None);
                };
                if self.seen < self.expected_size {
                    // A short body is a dropped connection more often than a lie: retry it.
                    let error = RegistryError::Interrupted {
                        registry: self.registry.clone(),
                        what: format!("blob {}", self.expected_digest.short()),
                        reason: format!(
                            "body ended after {} of {} bytes",
                            self.seen, self.expected_size
                        ),
                    };
                    return self.fail(error);
                }
                let actual = Digest::from_sha256(hasher);
                if actual != self.expected_digest {
                    let error = self.mismatch(actual.to_string());
                    return self.fail(error);
                }
                Poll::Ready(None)
            }
        }
    }
}
