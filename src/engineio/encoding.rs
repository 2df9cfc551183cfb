//! `Content-Encoding` for polling bodies: consumes a compressed body and its header value,
//! emits the decoded bytes. engine.io compresses polling responses above 1 KiB when the client
//! sends `Accept-Encoding` (`httpCompression`), so the proxy must undo it on its copy.
//!
//! Supported: `gzip` / `x-gzip` (multi-member too), `deflate` (zlib-wrapped as the HTTP spec
//! says, with a fallback to raw DEFLATE, which some servers send) and `identity`. A list such
//! as `deflate, gzip` is undone right to left. The output is capped at `max` bytes, so a
//! decompression bomb costs at most that much memory.

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::io::Read;

/// Decodes `body` according to a `Content-Encoding` header value, producing at most `max`
/// bytes.
pub fn decode_content_encoding(encoding: &str, body: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let codings: Vec<String> = encoding
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    let mut data = body.to_vec();
    for coding in codings.iter().rev() {
        data = match coding.as_str() {
            "identity" => data,
            "gzip" | "x-gzip" => inflate(MultiGzDecoder::new(data.as_slice()), max)
                .map_err(|e| format!("gzip body: {e}"))?,
            "deflate" => match inflate(ZlibDecoder::new(data.as_slice()), max) {
                Ok(v) => v,
                Err(zlib_err) if !zlib_err.starts_with("decoded body exceeds") => {
                    inflate(DeflateDecoder::new(data.as_slice()), max)
                        .map_err(|e| format!("deflate body: {zlib_err} (as zlib), {e} (as raw)"))?
                }
                Err(e) => return Err(format!("deflate body: {e}")),
            },
            other => return Err(format!("unsupported content-encoding {other:?}")),
        };
        if data.len() > max {
            return Err(format!("decoded body exceeds {max} bytes"));
        }
    }
    Ok(data)
}

fn inflate(reader: impl Read, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > max {
        return Err(format!("decoded body exceeds {max} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_deflate_raw_identity() {
        let body = b"96:0{\"sid\":\"x\"}".repeat(50);
        assert_eq!(
            decode_content_encoding("gzip", &gz(&body), 1 << 20).unwrap(),
            body
        );
        assert_eq!(
            decode_content_encoding("X-GZIP", &gz(&body), 1 << 20).unwrap(),
            body
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&body).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            decode_content_encoding("deflate", &z, 1 << 20).unwrap(),
            body
        );
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        r.write_all(&body).unwrap();
        let r = r.finish().unwrap();
        assert_eq!(
            decode_content_encoding("deflate", &r, 1 << 20).unwrap(),
            body
        );
        assert_eq!(
            decode_content_encoding("identity", &body, 1 << 20).unwrap(),
            body
        );
        assert_eq!(decode_content_encoding("", &body, 1 << 20).unwrap(), body);
        // Applied right to left: gzip was applied last.
        assert_eq!(
            decode_content_encoding("deflate, gzip", &gz(&z), 1 << 20).unwrap(),
            body
        );
    }

    #[test]
    fn caps_and_errors() {
        let body = vec![b'a'; 10_000];
        let e = decode_content_encoding("gzip", &gz(&body), 100).unwrap_err();
        assert!(e.contains("exceeds 100 bytes"), "{e}");
        assert_eq!(
            decode_content_encoding("gzip", &gz(&body), 10_000).unwrap(),
            body
        );
        let e = decode_content_encoding("identity", &body, 10).unwrap_err();
        assert!(e.contains("exceeds"), "{e}");
        let e = decode_content_encoding("br", b"x", 10).unwrap_err();
        assert_eq!(e, "unsupported content-encoding \"br\"");
        assert!(decode_content_encoding("gzip", b"not gzip", 100).is_err());
        let g = gz(&body);
        for cut in 0..g.len() {
            let _ = decode_content_encoding("gzip", &g[..cut], 100_000);
            let _ = decode_content_encoding("deflate", &g[..cut], 100_000);
        }
    }
}
