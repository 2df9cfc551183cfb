//! Temporary files for the streaming HAR writer: a [`Spill`] is an append-only scratch file that
//! hands out `(offset, len)` ranges and copies them back out later; [`Slots`] is a file of
//! fixed-size `u64` slots indexed by entry number; [`Runs`] is a list of rendered JSON items kept
//! in the spill in runs of at most [`RUN_BYTES`]. Both live next to the output (not in a
//! possibly memory-backed `/tmp`), are unlinked right after creation on Unix, and are removed on
//! drop elsewhere, so a crash leaves nothing behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes buffered before a write to the file.
const WRITE_BUFFER: usize = 1 << 20;
/// Chunk size when copying a range back out.
const COPY_CHUNK: usize = 64 << 10;

/// A byte range in a [`Spill`].
pub type Range = (u64, u64);

/// Largest run of rendered messages or records an open entry keeps in memory.
pub const RUN_BYTES: usize = 32 << 10;

/// Creates a fresh scratch file in `dir`, named after `stem`.
fn scratch(dir: &Path, stem: &str, tag: &str) -> io::Result<(File, PathBuf)> {
    static N: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!(
        ".{stem}.{tag}-{}-{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        // It holds what the export holds: readable by its owner only, never through a link.
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = opts.open(&path)?;
    #[cfg(unix)]
    {
        // The open handle keeps the data; nothing is left behind even if the process dies.
        let _ = std::fs::remove_file(&path);
    }
    Ok((file, path))
}

/// An append-only scratch file.
pub struct Spill {
    file: File,
    path: PathBuf,
    /// Bytes already in the file.
    flushed: u64,
    buf: Vec<u8>,
}

impl Spill {
    /// Creates the scratch file in `dir`.
    pub fn create(dir: &Path, stem: &str) -> io::Result<Spill> {
        let (file, path) = scratch(dir, stem, "spill")?;
        Ok(Spill {
            file,
            path,
            flushed: 0,
            buf: Vec::with_capacity(WRITE_BUFFER),
        })
    }

    /// Total bytes written.
    pub fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends bytes; returns where they are.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<Range> {
        let at = self.len();
        if self.buf.len() + bytes.len() > WRITE_BUFFER {
            self.flush()?;
        }
        if bytes.len() >= WRITE_BUFFER {
            self.file.seek(SeekFrom::Start(self.flushed))?;
            self.file.write_all(bytes)?;
            self.flushed += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok((at, bytes.len() as u64))
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.seek(SeekFrom::Start(self.flushed))?;
            self.file.write_all(&self.buf)?;
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Copies a range to `out`.
    pub fn copy_to(&mut self, (off, len): Range, out: &mut dyn Write) -> io::Result<()> {
        if off + len > self.flushed {
            self.flush()?;
        }
        self.file.seek(SeekFrom::Start(off))?;
        let mut left = len;
        let mut chunk = vec![0u8; COPY_CHUNK.min(len as usize)];
        while left > 0 {
            let n = COPY_CHUNK.min(left as usize);
            self.file.read_exact(&mut chunk[..n])?;
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Reads a (small) range into memory.
    pub fn read(&mut self, range: Range) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(range.1 as usize);
        self.copy_to(range, &mut v)?;
        Ok(v)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if !cfg!(unix) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file of `u64` slots: slot `k` at byte `8k`; unwritten slots read as 0.
pub struct Slots {
    file: File,
    path: PathBuf,
    count: u64,
}

impl Slots {
    /// Creates the slot file in `dir`.
    pub fn create(dir: &Path, stem: &str) -> io::Result<Slots> {
        let (file, path) = scratch(dir, stem, "slots")?;
        Ok(Slots {
            file,
            path,
            count: 0,
        })
    }

    /// Sets slot `k`.
    pub fn set(&mut self, k: u64, value: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(k * 8))?;
        self.file.write_all(&value.to_le_bytes())?;
        self.count = self.count.max(k + 1);
        Ok(())
    }

    /// Number of slots (one past the highest set).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Reads every slot in order, calling `f` with each value.
    pub fn for_each(&mut self, mut f: impl FnMut(u64) -> io::Result<()>) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut r = io::BufReader::with_capacity(64 << 10, &mut self.file);
        let mut b = [0u8; 8];
        for _ in 0..self.count {
            match r.read_exact(&mut b) {
                Ok(()) => f(u64::from_le_bytes(b))?,
                // A hole at the end of the file (never written): zero.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => f(0)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        if !cfg!(unix) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Rendered items (comma-separated JSON values) of one list, partly in the spill.
#[derive(Default)]
pub struct Runs {
    buf: Vec<u8>,
    runs: Vec<Range>,
    /// Items pushed.
    pub count: u64,
}

impl Runs {
    /// Appends one item (a comma goes before all but the first).
    pub fn push(&mut self, spill: &mut Spill, item: &[u8]) -> io::Result<()> {
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.count += 1;
        if item.len() >= RUN_BYTES {
            self.flush(spill)?;
            self.runs.push(spill.append(item)?);
            return Ok(());
        }
        self.buf.extend_from_slice(item);
        if self.buf.len() >= RUN_BYTES {
            self.flush(spill)?;
        }
        Ok(())
    }

    /// Moves the buffered items to the spill.
    pub fn flush(&mut self, spill: &mut Spill) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.runs.push(spill.append(&self.buf)?);
            self.buf.clear();
            if self.buf.capacity() > 2 * RUN_BYTES {
                self.buf.shrink_to(RUN_BYTES);
            }
        }
        Ok(())
    }

    /// The ranges of all items, in order.
    pub fn into_ranges(mut self, spill: &mut Spill) -> io::Result<Vec<Range>> {
        self.flush(spill)?;
        Ok(self.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_back() {
        let dir = std::env::temp_dir();
        let mut s = Spill::create(&dir, "spilltest").expect("spill");
        let a = s.append(b"hello").expect("a");
        let big = vec![7u8; WRITE_BUFFER + 3];
        let b = s.append(&big).expect("b");
        let c = s.append(b"world").expect("c");
        assert_eq!(s.read(c).expect("c"), b"world");
        assert_eq!(s.read(a).expect("a"), b"hello");
        assert_eq!(s.read(b).expect("b"), big);
        let mut slots = Slots::create(&dir, "spilltest").expect("slots");
        slots.set(2, 9).expect("set");
        slots.set(0, 4).expect("set");
        let mut seen = Vec::new();
        slots
            .for_each(|v| {
                seen.push(v);
                Ok(())
            })
            .expect("read");
        assert_eq!(seen, vec![4, 0, 9]);
    }
}
