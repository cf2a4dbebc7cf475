//! An agent's spool: the batches it has not yet delivered, in one bounded
//! file, oldest first. Every batch goes through it, so a result is safe on
//! disk before the agent tries the central, and a central away for an hour
//! costs nothing but the wait.
//!
//! The file is a header and then records. The header holds where the oldest
//! live record starts, with its checksum; each record is its length, the
//! CRC-32 of its bytes, and the bytes. Opening the file checks every record
//! from the head on and cuts the file at the first one that is torn or
//! corrupt (a crash mid-append), so what is read is always what was
//! written. When the file would outgrow its bound, the oldest batches are
//! dropped, counted and logged: the newest results are the ones that say
//! what is happening now.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"FLTSPOOL";
/// Magic, the head's offset, the head's CRC.
const HEADER: u64 = 8 + 8 + 4;
/// A record's length and CRC.
const FRAME: u64 = 4 + 4;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool file {path} cannot be used: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a batch of {size} bytes is larger than the whole spool ({limit} bytes)")]
    TooLarge { size: u64, limit: u64 },
}

/// What opening a spool found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Batches waiting to be sent.
    pub batches: usize,
    /// Bytes cut from the end: a record torn or corrupted by a crash.
    pub cut_bytes: u64,
}

#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    /// The most bytes of live records kept.
    limit: u64,
    /// Each live record's offset (of its frame) and length, oldest first.
    records: VecDeque<(u64, u32)>,
    /// Where the next record goes.
    end: u64,
    /// Batches dropped to keep within the limit, since opening.
    dropped: u64,
}

impl Spool {
    /// Opens the spool at `path`, making it (owner-only) if it is not
    /// there, and recovers what it holds.
    pub fn open(path: &Path, limit: u64) -> Result<(Self, Recovered), SpoolError> {
        let io = |source| SpoolError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(io)?;
        let length = file.metadata().map_err(io)?.len();
        let mut spool = Self {
            path: path.to_owned(),
            file,
            limit,
            records: VecDeque::new(),
            end: HEADER,
            dropped: 0,
        };
        if length < HEADER {
            spool.reset().map_err(io)?;
            return Ok((spool, Recovered::default()));
        }
        let head = spool.read_head().map_err(io)?;
        if head.is_none() {
            tracing::warn!(spool = %path.display(), "the spool's header is damaged; reading it from the start");
        }
        let mut at = head.unwrap_or(HEADER).clamp(HEADER, length);
        let mut frame = [0u8; FRAME as usize];
        let mut bytes = Vec::new();
        while at + FRAME <= length {
            spool.file.seek(SeekFrom::Start(at)).map_err(io)?;
            spool.file.read_exact(&mut frame).map_err(io)?;
            let size = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
            if at + FRAME + u64::from(size) > length {
                break;
            }
            bytes.resize(size as usize, 0);
            spool.file.read_exact(&mut bytes).map_err(io)?;
            if crc32fast::hash(&bytes) != crc {
                break;
            }
            spool.records.push_back((at, size));
            at += FRAME + u64::from(size);
        }
        let cut_bytes = length - at;
        if cut_bytes > 0 {
            tracing::warn!(
                spool = %path.display(),
                spool.cut_bytes = cut_bytes,
                "the spool ended in a torn or corrupt record; cut it there"
            );
            spool.file.set_len(at).map_err(io)?;
            spool.file.sync_all().map_err(io)?;
        }
        spool.end = at;
        let recovered = Recovered {
            batches: spool.records.len(),
            cut_bytes,
        };
        Ok((spool, recovered))
    }

    /// Appends a batch and makes it durable, dropping the oldest batches if
    /// the spool would outgrow its limit. Returns how many were dropped.
    pub fn push(&mut self, batch: &[u8]) -> Result<usize, SpoolError> {
        let size = FRAME + batch.len() as u64;
        let Ok(length) = u32::try_from(batch.len()) else {
            return Err(SpoolError::TooLarge {
                size,
                limit: self.limit,
            });
        };
        if size > self.limit {
            return Err(SpoolError::TooLarge {
                size,
                limit: self.limit,
            });
        }
        let mut dropped = 0;
        while self.live_bytes() + size > self.limit {
            if self.records.pop_front().is_none() {
                break;
            }
            dropped += 1;
        }
        if dropped > 0 {
            self.dropped += dropped as u64;
            tracing::warn!(
                spool.dropped_batches = dropped,
                spool.dropped_since_start = self.dropped,
                "the spool is full; dropped its oldest batches"
            );
            self.write_head().map_err(|source| self.io(source))?;
        }
        // The consumed part of the file is given back once it is as large
        // as the live part may be.
        if self.consumed() >= self.limit {
            self.compact().map_err(|source| self.io(source))?;
        }
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(batch).to_le_bytes());
        record.extend_from_slice(batch);
        let at = self.end;
        let written = (|| {
            self.file.seek(SeekFrom::Start(at))?;
            self.file.write_all(&record)?;
            self.file.sync_data()
        })();
        written.map_err(|source| self.io(source))?;
        self.records.push_back((at, length));
        self.end = at + size;
        Ok(dropped)
    }

    /// The oldest batch, if any.
    pub fn oldest(&mut self) -> Result<Option<Vec<u8>>, SpoolError> {
        let Some(&(at, length)) = self.records.front() else {
            return Ok(None);
        };
        let mut batch = vec![0u8; length as usize];
        let read = (|| {
            self.file.seek(SeekFrom::Start(at + FRAME))?;
            self.file.read_exact(&mut batch)
        })();
        read.map_err(|source| self.io(source))?;
        Ok(Some(batch))
    }

    /// Forgets the oldest batch: it was delivered (or refused for good).
    pub fn pop(&mut self) -> Result<(), SpoolError> {
        if self.records.pop_front().is_none() {
            return Ok(());
        }
        if self.records.is_empty() {
            self.reset().map_err(|source| self.io(source))
        } else {
            self.write_head().map_err(|source| self.io(source))
        }
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Batches dropped to keep within the limit since opening.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The file's length now.
    pub fn file_bytes(&self) -> u64 {
        self.end
    }

    fn live_bytes(&self) -> u64 {
        self.records.front().map_or(0, |&(at, _)| self.end - at)
    }

    fn consumed(&self) -> u64 {
        self.records.front().map_or(self.end, |&(at, _)| at) - HEADER
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The head's offset, if the header is whole.
    fn read_head(&mut self) -> std::io::Result<Option<u64>> {
        let mut header = [0u8; HEADER as usize];
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_exact(&mut header)?;
        let mut head = [0u8; 8];
        head.copy_from_slice(&header[8..16]);
        let crc = u32::from_le_bytes([header[16], header[17], header[18], header[19]]);
        Ok((&header[..8] == MAGIC && crc32fast::hash(&head) == crc)
            .then(|| u64::from_le_bytes(head)))
    }

    /// Writes where the oldest live record starts. A header torn by a
    /// crash fails its checksum, and the spool is read from the start:
    /// batches sent again, which the central recognises.
    fn write_head(&mut self) -> std::io::Result<()> {
        let head = self.records.front().map_or(self.end, |&(at, _)| at);
        let mut header = Vec::with_capacity(HEADER as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&head.to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&head.to_le_bytes()).to_le_bytes());
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header)?;
        self.file.sync_data()
    }

    /// Empties the file: nothing is waiting.
    fn reset(&mut self) -> std::io::Result<()> {
        self.records.clear();
        self.end = HEADER;
        self.file.set_len(HEADER)?;
        self.write_head()
    }

    /// Moves the live records to the front of a new file, which replaces
    /// the old one whole (a crash leaves one or the other).
    fn compact(&mut self) -> std::io::Result<()> {
        let Some(&(from, _)) = self.records.front() else {
            return self.reset();
        };
        let mut live = vec![0u8; (self.end - from) as usize];
        self.file.seek(SeekFrom::Start(from))?;
        self.file.read_exact(&mut live)?;
        let fresh_path = self.path.with_extension("compacting");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut fresh = options.open(&fresh_path)?;
        let mut header = Vec::with_capacity(HEADER as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&HEADER.to_le_bytes());
        header.extend_from_slice(&crc32fast::hash(&HEADER.to_le_bytes()).to_le_bytes());
        fresh.write_all(&header)?;
        fresh.write_all(&live)?;
        fresh.sync_all()?;
        std::fs::rename(&fresh_path, &self.path)?;
        self.file = fresh;
        let shift = from - HEADER;
        for record in &mut self.records {
            record.0 -= shift;
        }
        self.end -= shift;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u32, size: usize) -> Vec<u8> {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.resize(size, (n % 251) as u8);
        bytes
    }

    #[test]
    fn batches_come_back_oldest_first_across_a_restart() {
        let dir = tempfile::tempdir().expect("directory");
        let path = dir.path().join("spool");
        let (mut spool, recovered) = Spool::open(&path, 1 << 20).expect("open");
        assert_eq!(recovered, Recovered::default());
        for n in 0..5 {
            assert_eq!(spool.push(&batch(n, 100)).expect("push"), 0);
        }
        assert_eq!(spool.oldest().expect("read"), Some(batch(0, 100)));
        spool.pop().expect("pop");
        drop(spool);

        let (mut spool, recovered) = Spool::open(&path, 1 << 20).expect("reopen");
        assert_eq!(recovered.batches, 4);
        for n in 1..5 {
            assert_eq!(spool.oldest().expect("read"), Some(batch(n, 100)));
            spool.pop().expect("pop");
        }
        assert_eq!(spool.oldest().expect("read"), None);
        assert_eq!(spool.file_bytes(), HEADER, "an empty spool is a header");
    }

    #[test]
    fn a_torn_tail_is_cut_and_everything_before_it_kept() {
        let dir = tempfile::tempdir().expect("directory");
        let path = dir.path().join("spool");
        let (mut spool, _) = Spool::open(&path, 1 << 20).expect("open");
        for n in 0..3 {
            spool.push(&batch(n, 64)).expect("push");
        }
        let whole = spool.file_bytes();
        drop(spool);
        // A crash in the middle of the third record's bytes.
        let file = OpenOptions::new().write(true).open(&path).expect("file");
        file.set_len(whole - 10).expect("tear");
        drop(file);

        let (mut spool, recovered) = Spool::open(&path, 1 << 20).expect("reopen");
        assert_eq!(recovered.batches, 2);
        assert_eq!(recovered.cut_bytes, FRAME + 64 - 10);
        spool.push(&batch(9, 64)).expect("push after the cut");
        let mut seen = Vec::new();
        while let Some(bytes) = spool.oldest().expect("read") {
            seen.push(bytes);
            spool.pop().expect("pop");
        }
        assert_eq!(seen, [batch(0, 64), batch(1, 64), batch(9, 64)]);
    }

    #[test]
    fn a_corrupt_record_ends_what_is_trusted() {
        let dir = tempfile::tempdir().expect("directory");
        let path = dir.path().join("spool");
        let (mut spool, _) = Spool::open(&path, 1 << 20).expect("open");
        for n in 0..3 {
            spool.push(&batch(n, 64)).expect("push");
        }
        drop(spool);
        // One flipped byte inside the second batch.
        let mut bytes = std::fs::read(&path).expect("read");
        let second = (HEADER + FRAME + 64 + FRAME + 10) as usize;
        bytes[second] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");

        let (mut spool, recovered) = Spool::open(&path, 1 << 20).expect("reopen");
        assert_eq!(recovered.batches, 1);
        assert_eq!(spool.oldest().expect("read"), Some(batch(0, 64)));
    }

    #[test]
    fn a_full_spool_drops_its_oldest_and_stays_within_bounds() {
        let dir = tempfile::tempdir().expect("directory");
        let path = dir.path().join("spool");
        let limit = 10 * (FRAME + 100);
        let (mut spool, _) = Spool::open(&path, limit).expect("open");
        let mut dropped = 0;
        for n in 0..1_000 {
            dropped += spool.push(&batch(n, 100)).expect("push");
            assert!(
                spool.file_bytes() <= HEADER + 2 * limit,
                "{}",
                spool.file_bytes()
            );
        }
        assert_eq!(spool.len(), 10);
        assert_eq!(dropped, 990);
        assert_eq!(spool.dropped(), 990);
        assert_eq!(spool.oldest().expect("read"), Some(batch(990, 100)));
        drop(spool);
        let (mut spool, recovered) = Spool::open(&path, limit).expect("reopen");
        assert_eq!((recovered.batches, recovered.cut_bytes), (10, 0));
        assert_eq!(spool.oldest().expect("read"), Some(batch(990, 100)));
        assert!(matches!(
            spool.push(&batch(0, limit as usize)),
            Err(SpoolError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_damaged_header_means_reading_from_the_start() {
        let dir = tempfile::tempdir().expect("directory");
        let path = dir.path().join("spool");
        let (mut spool, _) = Spool::open(&path, 1 << 20).expect("open");
        for n in 0..3 {
            spool.push(&batch(n, 32)).expect("push");
        }
        spool.pop().expect("pop");
        drop(spool);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[9] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let (mut spool, recovered) = Spool::open(&path, 1 << 20).expect("reopen");
        // The delivered batch comes back: sent again, known by its key.
        assert_eq!(recovered.batches, 3);
        assert_eq!(spool.oldest().expect("read"), Some(batch(0, 32)));
    }
}
