//! The response body adapter: the one place where a synchronous masker meets `Poll`.
//!
//! Per upstream chunk: decode (Content-Encoding) → mask → encode, and yield what came out.
//! Nothing is buffered beyond what the codecs and the masker hold (both bounded). Any
//! failure (the upstream resets, a codec or masker error) yields an error frame: hyper then
//! aborts the response (HTTP/1: the connection closes without the terminating chunk;
//! HTTP/2: RST_STREAM), so a client never takes a cut body for a whole one, and nothing
//! unmasked was sent before.
use super::codec::{CodecError, Decoder, Encoder};
use super::tally::ContactTally;
use crate::engine::vocab::counts::MatchCounts;
use crate::engine::{MaskError, Masker};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

/// Why a streamed response was aborted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("upstream body: {0}")]
    Upstream(#[from] hyper::Error),
    #[error("masking: {0}")]
    Mask(#[from] MaskError),
    #[error("content coding: {0}")]
    Codec(#[from] CodecError),
    #[error("the upstream sent nothing for {0:?}")]
    Stalled(Duration),
}

impl BodyError {
    /// The `veil_blocked_total` reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            BodyError::Upstream(_) => "upstream_error",
            BodyError::Mask(e) => e.reason(),
            BodyError::Codec(_) => "bad_encoding",
            BodyError::Stalled(_) => "upstream_stalled",
        }
    }
}

/// What happened to one masked response, reported once when it ends (or is dropped).
#[derive(Debug, Default)]
pub struct Outcome {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub masking: Duration,
    pub counts: MatchCounts,
    /// `None`: completed; otherwise the reason it was aborted.
    pub aborted: Option<&'static str>,
    pub completed: bool,
    /// The distinct contacts the output showed (ids, when tallied).
    pub contacts: Vec<u64>,
}

type OnEnd = Box<dyn FnOnce(Outcome) + Send>;

/// A body whose next piece must come within `limit`: an upstream that sends its head and a
/// few bytes and then nothing gets the client a cut body (hyper aborts it), never a hang.
pub struct IdleLimit<B> {
    inner: B,
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

/// What an [`IdleLimit`] body fails with.
#[derive(Debug)]
pub enum IdleError<E> {
    Inner(E),
    Stalled(Duration),
}

impl<E: std::fmt::Display> std::fmt::Display for IdleError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdleError::Inner(e) => e.fmt(f),
            IdleError::Stalled(d) => write!(f, "the upstream sent nothing for {d:?}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for IdleError<E> {}

impl<B> IdleLimit<B> {
    pub fn new(inner: B, limit: Duration) -> IdleLimit<B> {
        IdleLimit {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<B: Body + Unpin> Body for IdleLimit<B> {
    type Data = B::Data;
    type Error = IdleError<B::Error>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|r| r.map_err(IdleError::Inner)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(IdleError::Stalled(this.limit)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body masked on the fly.
pub struct MaskedBody {
    inner: IdleLimit<Incoming>,
    decoder: Decoder,
    masker: Box<dyn Masker + Send>,
    encoder: Option<Encoder>,
    masked: Vec<u8>,
    encoded: Vec<u8>,
    done: bool,
    outcome: Outcome,
    on_end: Option<OnEnd>,
    /// Counts the contacts of the output, for a collection budget.
    tally: Option<ContactTally>,
}

impl MaskedBody {
    /// `idle`: the longest wait for the next piece of the upstream body.
    pub fn new(
        inner: Incoming,
        idle: Duration,
        decoder: Decoder,
        masker: Box<dyn Masker + Send>,
        encoder: Encoder,
        on_end: OnEnd,
    ) -> Self {
        MaskedBody {
            tally: None,
            inner: IdleLimit::new(inner, idle),
            decoder,
            masker,
            encoder: Some(encoder),
            masked: Vec::new(),
            encoded: Vec::new(),
            done: false,
            outcome: Outcome::default(),
            on_end: Some(on_end),
        }
    }

    /// Tallies the contacts of the masked output (see [`Outcome::contacts`]).
    pub fn with_tally(mut self, tally: ContactTally) -> Self {
        self.tally = Some(tally);
        self
    }

    /// Decodes `data` (or, with `None`, ends the decoder) and pushes the plain bytes into
    /// the masker. The first masker error stops the feeding and is the one reported.
    fn decode_into_masker(&mut self, data: Option<&[u8]>) -> Result<(), BodyError> {
        let masker = &mut self.masker;
        let masked = &mut self.masked;
        let mut mask_err = None;
        let mut sink = |plain: &[u8]| {
            if mask_err.is_none() {
                if let Err(e) = masker.push(plain, masked) {
                    mask_err = Some(e);
                }
            }
            Ok(())
        };
        match data {
            Some(d) => self.decoder.push(d, &mut sink)?,
            None => self.decoder.finish(&mut sink)?,
        }
        match mask_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn process(&mut self, data: &[u8]) -> Result<(), BodyError> {
        let start = Instant::now();
        // Masked output is about as long as its input (a token is longer than its value).
        self.masked.reserve(data.len() + data.len() / 4);
        self.decode_into_masker(Some(data))?;
        self.outcome.masking += start.elapsed();
        self.outcome.bytes_out += self.masked.len() as u64;
        if let Some(t) = &mut self.tally {
            t.feed(&self.masked);
        }
        let enc = self.encoder.as_mut().expect("encoder lives until the end");
        if enc.is_identity() && self.encoded.is_empty() {
            // Nothing to encode: the masked bytes become the frame as they are.
            std::mem::swap(&mut self.masked, &mut self.encoded);
            return Ok(());
        }
        enc.write(&self.masked)?;
        self.masked.clear();
        enc.flush_into(&mut self.encoded)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), BodyError> {
        let start = Instant::now();
        self.decode_into_masker(None)?;
        self.masker.finish(&mut self.masked)?;
        self.outcome.masking += start.elapsed();
        self.outcome.bytes_out += self.masked.len() as u64;
        if let Some(t) = &mut self.tally {
            t.feed(&self.masked);
            t.finish();
        }
        let mut enc = self.encoder.take().expect("finish runs once");
        enc.write(&self.masked)?;
        self.masked.clear();
        enc.finish_into(&mut self.encoded)?;
        Ok(())
    }

    fn report(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            let mut outcome = std::mem::take(&mut self.outcome);
            if let Some(c) = self.masker.counts() {
                outcome.counts = c.clone();
            }
            if let Some(t) = &mut self.tally {
                outcome.contacts = t.take_ids();
            }
            on_end(outcome);
        }
    }

    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.done = true;
        self.outcome.aborted = Some(e.reason());
        self.report();
        Poll::Ready(Some(Err(e)))
    }

    fn take_encoded(&mut self) -> Option<Frame<Bytes>> {
        if self.encoded.is_empty() {
            None
        } else {
            Some(Frame::data(Bytes::from(std::mem::take(&mut self.encoded))))
        }
    }
}

impl Drop for MaskedBody {
    fn drop(&mut self) {
        if self.on_end.is_some() && !self.outcome.completed && self.outcome.aborted.is_none() {
            self.outcome.aborted = Some("client_gone");
        }
        self.report();
    }
}

impl Body for MaskedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // Trailers are dropped: they could carry what the body may not.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.outcome.bytes_in += data.len() as u64;
                    if let Err(e) = this.process(&data) {
                        return this.fail(e);
                    }
                    if let Some(f) = this.take_encoded() {
                        return Poll::Ready(Some(Ok(f)));
                    }
                }
                Some(Err(IdleError::Inner(e))) => return this.fail(BodyError::Upstream(e)),
                Some(Err(IdleError::Stalled(d))) => return this.fail(BodyError::Stalled(d)),
                None => {
                    if let Err(e) = this.finish() {
                        return this.fail(e);
                    }
                    this.done = true;
                    this.outcome.completed = true;
                    this.report();
                    if let Some(f) = this.take_encoded() {
                        return Poll::Ready(Some(Ok(f)));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
