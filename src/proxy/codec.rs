//! Content-Encoding, both ways, as push-based codecs.
//!
//! The maskers are push-bytes / emit-bytes state machines; so are these codecs: the sync,
//! streaming `Write` implementations of flate2, brotli and zstd, which decode or encode
//! whatever is written into an in-memory buffer. No `AsyncRead` adapters are needed, and
//! the body adapter stays one loop: decode → mask → encode, per upstream chunk.
//!
//! A decompression bomb cannot grow memory without bound: [`Decoder::push`] feeds the
//! decoder at most [`DECODE_SLICE`] compressed bytes at a time and hands each piece of
//! output to the caller before going on.
use std::io::Write;

/// Compressed bytes fed to a decoder at once (bounds the output of one step).
pub const DECODE_SLICE: usize = 1024;

/// A content coding veil can decode and encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    /// Parses a `Content-Encoding` value. `None`: unknown, or several codings stacked.
    pub fn parse(value: &str) -> Option<Coding> {
        let v = value.trim().to_ascii_lowercase();
        Some(match v.as_str() {
            "" | "identity" => Coding::Identity,
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Br,
            "zstd" => Coding::Zstd,
            _ => return None,
        })
    }

    /// The coding of a body from all its `Content-Encoding` lines together (a client
    /// applies every one: `gzip` on two lines is two layers), `identity` and empty entries
    /// ignored. `None`: more than one layer, or one veil cannot decode.
    pub fn of_headers(headers: &http::HeaderMap) -> Option<Coding> {
        let mut found = None;
        for line in headers.get_all(http::header::CONTENT_ENCODING) {
            for t in line.to_str().ok()?.split(',') {
                match Coding::parse(t)? {
                    Coding::Identity => {}
                    c if found.is_none() => found = Some(c),
                    _ => return None,
                }
            }
        }
        Some(found.unwrap_or(Coding::Identity))
    }

    pub fn name(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// Whether an `Accept-Encoding` value accepts this coding (q > 0).
    pub fn accepted_by(self, accept_encoding: &str) -> bool {
        if self == Coding::Identity {
            return true;
        }
        accept_encoding.split(',').any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (name.eq_ignore_ascii_case(self.name()) || name == "*") && !q_zero
        })
    }
}

/// Why a body could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
#[error("{coding} stream: {source}")]
pub struct CodecError {
    pub coding: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// A streaming decoder.
pub enum Decoder {
    Identity,
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    /// `deflate` before its first two bytes: zlib (RFC 1950, what the name means) or raw
    /// deflate (RFC 1951, what some servers send and every browser accepts).
    DeflateUnsniffed(Vec<u8>),
    Deflate(Box<flate2::write::ZlibDecoder<Vec<u8>>>),
    RawDeflate(Box<flate2::write::DeflateDecoder<Vec<u8>>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl Decoder {
    pub fn new(coding: Coding) -> Result<Decoder, CodecError> {
        Ok(match coding {
            Coding::Identity => Decoder::Identity,
            Coding::Gzip => Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new()))),
            Coding::Deflate => Decoder::DeflateUnsniffed(Vec::with_capacity(2)),
            Coding::Br => Decoder::Br(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096))),
            Coding::Zstd => Decoder::Zstd(Box::new(
                zstd::stream::write::Decoder::new(Vec::new()).map_err(|source| CodecError {
                    coding: "zstd",
                    source,
                })?,
            )),
        })
    }

    fn coding(&self) -> &'static str {
        match self {
            Decoder::Identity => "identity",
            Decoder::Gzip(_) => "gzip",
            Decoder::DeflateUnsniffed(_) | Decoder::Deflate(_) | Decoder::RawDeflate(_) => {
                "deflate"
            }
            Decoder::Br(_) => "br",
            Decoder::Zstd(_) => "zstd",
        }
    }

    fn buffer(&mut self) -> &mut Vec<u8> {
        match self {
            Decoder::Identity => unreachable!("identity has no buffer"),
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::DeflateUnsniffed(b) => b,
            Decoder::Deflate(d) => d.get_mut(),
            Decoder::RawDeflate(d) => d.get_mut(),
            Decoder::Br(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        }
    }

    fn write(&mut self, input: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Identity | Decoder::DeflateUnsniffed(_) => Ok(()),
            Decoder::Gzip(d) => d.write_all(input),
            Decoder::Deflate(d) => d.write_all(input),
            Decoder::RawDeflate(d) => d.write_all(input),
            Decoder::Br(d) => d.write_all(input),
            Decoder::Zstd(d) => d.write_all(input),
        }
    }

    /// Decodes `input`, handing the output to `sink` in bounded pieces.
    pub fn push(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        if let Decoder::Identity = self {
            return sink(input);
        }
        if let Decoder::DeflateUnsniffed(head) = self {
            let take = input.len().min(2 - head.len());
            head.extend_from_slice(&input[..take]);
            let rest = &input[take..];
            if head.len() < 2 {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.sniff_deflate(&head);
            self.push(&head, sink)?;
            return self.push(rest, sink);
        }
        let coding = self.coding();
        for piece in input.chunks(DECODE_SLICE) {
            self.write(piece)
                .map_err(|source| CodecError { coding, source })?;
            let out = std::mem::take(self.buffer());
            if !out.is_empty() {
                sink(&out)?;
            }
            let mut out = out;
            out.clear();
            *self.buffer() = out;
        }
        Ok(())
    }

    /// Picks zlib or raw deflate by the first two bytes: a zlib header is `CMF FLG` with
    /// compression method 8 and `CMF·256 + FLG` a multiple of 31.
    fn sniff_deflate(&mut self, head: &[u8]) {
        let zlib = head.len() >= 2
            && head[0] & 0x0f == 8
            && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
        *self = if zlib {
            Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(Vec::new())))
        } else {
            Decoder::RawDeflate(Box::new(flate2::write::DeflateDecoder::new(Vec::new())))
        };
    }

    /// Ends the stream; a truncated stream is an error.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        if let Decoder::DeflateUnsniffed(head) = self {
            // Under two bytes: zlib's decoder says what is wrong with it.
            let head = std::mem::take(head);
            *self = Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(Vec::new())));
            self.push(&head, sink)?;
        }
        let coding = self.coding();
        let err = |source| CodecError { coding, source };
        match self {
            Decoder::Identity | Decoder::DeflateUnsniffed(_) => return Ok(()),
            Decoder::Gzip(d) => d.try_finish().map_err(err)?,
            Decoder::Deflate(d) => d.try_finish().map_err(err)?,
            Decoder::RawDeflate(d) => d.try_finish().map_err(err)?,
            Decoder::Br(d) => d.close().map_err(err)?,
            Decoder::Zstd(d) => {
                d.flush().map_err(err)?;
            }
        }
        let out = std::mem::take(self.buffer());
        if !out.is_empty() {
            sink(&out)?;
        }
        Ok(())
    }
}

/// A streaming encoder; [`Encoder::flush_into`] emits what is encoded so far, so a
/// streamed response reaches the client progressively.
pub enum Encoder {
    Identity(Vec<u8>),
    Gzip(Box<flate2::write::GzEncoder<Vec<u8>>>),
    Deflate(Box<flate2::write::ZlibEncoder<Vec<u8>>>),
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl Encoder {
    pub fn new(coding: Coding) -> Result<Encoder, CodecError> {
        let fast = flate2::Compression::fast();
        Ok(match coding {
            Coding::Identity => Encoder::Identity(Vec::new()),
            Coding::Gzip => {
                Encoder::Gzip(Box::new(flate2::write::GzEncoder::new(Vec::new(), fast)))
            }
            Coding::Deflate => {
                Encoder::Deflate(Box::new(flate2::write::ZlibEncoder::new(Vec::new(), fast)))
            }
            Coding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                4,
                22,
            ))),
            Coding::Zstd => Encoder::Zstd(Box::new(
                zstd::stream::write::Encoder::new(Vec::new(), 3).map_err(|source| CodecError {
                    coding: "zstd",
                    source,
                })?,
            )),
        })
    }

    /// The identity coding: what is written comes out unchanged.
    pub fn is_identity(&self) -> bool {
        matches!(self, Encoder::Identity(_))
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), CodecError> {
        let r = match self {
            Encoder::Identity(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Deflate(e) => e.write_all(data),
            Encoder::Br(e) => e.write_all(data),
            Encoder::Zstd(e) => e.write_all(data),
        };
        r.map_err(|source| CodecError {
            coding: "encoder",
            source,
        })
    }

    /// Flushes and moves the encoded bytes so far into `out`.
    pub fn flush_into(&mut self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let err = |source| CodecError {
            coding: "encoder",
            source,
        };
        let buf = match self {
            Encoder::Identity(v) => v,
            Encoder::Gzip(e) => {
                e.flush().map_err(err)?;
                e.get_mut()
            }
            Encoder::Deflate(e) => {
                e.flush().map_err(err)?;
                e.get_mut()
            }
            Encoder::Br(e) => {
                e.flush().map_err(err)?;
                e.get_mut()
            }
            Encoder::Zstd(e) => {
                e.flush().map_err(err)?;
                e.get_mut()
            }
        };
        out.append(buf);
        Ok(())
    }

    /// Ends the stream and moves the rest into `out`.
    pub fn finish_into(self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let err = |source| CodecError {
            coding: "encoder",
            source,
        };
        let mut rest = match self {
            Encoder::Identity(v) => v,
            Encoder::Gzip(e) => e.finish().map_err(err)?,
            Encoder::Deflate(e) => e.finish().map_err(err)?,
            Encoder::Br(mut e) => {
                e.flush().map_err(err)?;
                e.into_inner()
            }
            Encoder::Zstd(e) => e.finish().map_err(err)?,
        };
        out.append(&mut rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut enc = Encoder::new(coding).unwrap();
        let mut compressed = Vec::new();
        for c in data.chunks(1000) {
            enc.write(c).unwrap();
            enc.flush_into(&mut compressed).unwrap();
        }
        enc.finish_into(&mut compressed).unwrap();
        let mut dec = Decoder::new(coding).unwrap();
        let mut plain = Vec::new();
        for c in compressed.chunks(7) {
            dec.push(c, &mut |b| {
                plain.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        }
        dec.finish(&mut |b| {
            plain.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        plain
    }

    #[test]
    fn every_coding_round_trips_in_small_pieces() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{i},").into_bytes())
            .collect();
        for c in [
            Coding::Identity,
            Coding::Gzip,
            Coding::Deflate,
            Coding::Br,
            Coding::Zstd,
        ] {
            assert_eq!(roundtrip(c, &data), data, "{c:?}");
        }
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'x'; 10_000]).unwrap();
        let full = enc.finish().unwrap();
        let mut dec = Decoder::new(Coding::Gzip).unwrap();
        dec.push(&full[..full.len() - 6], &mut |_| Ok(())).unwrap();
        assert!(dec.finish(&mut |_| Ok(())).is_err());
    }

    fn decode_all(coding: Coding, compressed: &[u8], piece: usize) -> Result<Vec<u8>, CodecError> {
        let mut dec = Decoder::new(coding)?;
        let mut plain = Vec::new();
        for c in compressed.chunks(piece.max(1)) {
            dec.push(c, &mut |b| {
                plain.extend_from_slice(b);
                Ok(())
            })?;
        }
        dec.finish(&mut |b| {
            plain.extend_from_slice(b);
            Ok(())
        })?;
        Ok(plain)
    }

    #[test]
    fn deflate_is_zlib_or_raw_as_browsers_read_it() {
        let data = b"{\"phone_number\":\"+5511987654321\"}".repeat(200);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        let raw = raw.finish().unwrap();
        for piece in [1, 2, 3, 7, 4096] {
            assert_eq!(
                decode_all(Coding::Deflate, &zlib, piece).unwrap(),
                data,
                "{piece}"
            );
            assert_eq!(
                decode_all(Coding::Deflate, &raw, piece).unwrap(),
                data,
                "{piece}"
            );
        }
        assert!(decode_all(Coding::Deflate, &zlib[..zlib.len() - 3], 5).is_err());
        assert!(decode_all(Coding::Deflate, &[0x78], 1).is_err());
    }

    #[test]
    fn content_encoding_lines_are_read_together() {
        let of = |lines: &[&str]| {
            let mut h = http::HeaderMap::new();
            for l in lines {
                h.append(http::header::CONTENT_ENCODING, l.parse().unwrap());
            }
            Coding::of_headers(&h)
        };
        assert_eq!(of(&[]), Some(Coding::Identity));
        assert_eq!(of(&["gzip"]), Some(Coding::Gzip));
        assert_eq!(of(&["", "gzip"]), Some(Coding::Gzip));
        assert_eq!(of(&["identity", "gzip"]), Some(Coding::Gzip));
        assert_eq!(of(&["gzip", "gzip"]), None);
        assert_eq!(of(&["gzip", "br"]), None);
        assert_eq!(of(&["gzip, identity"]), Some(Coding::Gzip));
        assert_eq!(of(&["compress"]), None);
    }

    #[test]
    fn accept_encoding_parsing() {
        assert!(Coding::Gzip.accepted_by("gzip, deflate, br"));
        assert!(!Coding::Gzip.accepted_by("br;q=1, gzip;q=0"));
        assert!(Coding::Zstd.accepted_by("*"));
        assert!(!Coding::Br.accepted_by("gzip"));
        assert_eq!(Coding::parse("gzip, br"), None);
        assert_eq!(Coding::parse("x-compress"), None);
    }
}
