//! The log file sink: appends lines and rotates by size, `alice.log` → `alice.log.1` → … .
//!
//! Why not a crate: the size-rotating crates looked at (`file-rotate`, `rolling-file`;
//! `tracing-appender` only rotates by time) either cannot report a failed open at start-up,
//! let a file grow past its bound before rotating, pull in compression and clock code Alice
//! does not use, or hand a failed rename back as a write error on every line. Alice needs
//! exactly four things, which fit in this module: rotate before the line that would pass the
//! bound (never inside a line), keep the size in memory instead of asking the file system on
//! every line, keep writing to some file when a rename or open fails, and say so once on
//! standard error instead of panicking or going silent.
//!
//! One process writes one file: the size is counted in memory from the file's length at open,
//! so two Alice processes sharing a log file would rotate it at the wrong moments.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// When to rotate, and how many files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line that would take the live file past this many bytes; 0 never rotates.
    pub max_file_bytes: u64,
    /// Files kept, the live one included: `alice.log`, `alice.log.1` … `alice.log.{max_files-1}`.
    /// 1 keeps no history (the live file is emptied when full); 0 is taken as 1.
    pub max_files: u32,
}

impl Rotation {
    /// Append forever, as a file sink without rotation does.
    pub const NEVER: Rotation = Rotation {
        max_file_bytes: 0,
        max_files: 1,
    };
}

/// A file opened for appending that rotates itself at line boundaries; see the module doc.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    file: File,
    /// Bytes in the live file: its length at open plus everything written since.
    size: u64,
    /// The size past which the next line triggers a rotation; raised by `max_file_bytes` after a
    /// failed rotation, so a broken rename is retried once per file's worth of lines, not per line.
    threshold: u64,
    /// Whether the last byte written ended a line, so a rotation now would not split one.
    at_line_start: bool,
    /// Whether a rotation problem has been reported since the last rotation that worked.
    reported: bool,
    report: Box<dyn FnMut(&str) + Send>,
}

impl RotatingFile {
    /// Opens (creating it and its directory when missing) `path` for appending. A file left
    /// without a final newline (a process killed mid-line) gets one, so the next line stands
    /// alone.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut size = file.metadata()?.len();
        if size > 0 && !ends_with_newline(&mut file)? {
            file.write_all(b"\n")?;
            size += 1;
        }
        Ok(RotatingFile {
            path: path.to_path_buf(),
            rotation,
            file,
            size,
            threshold: rotation.max_file_bytes,
            at_line_start: true,
            reported: false,
            report: Box::new(|message| eprintln!("{message}")),
        })
    }

    /// Replaces where rotation problems are reported (standard error by default).
    #[cfg(test)]
    fn with_reporter(mut self, report: impl FnMut(&str) + Send + 'static) -> Self {
        self.report = Box::new(report);
        self
    }

    /// Bytes in the live file as counted in memory.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn should_rotate(&self, incoming: usize) -> bool {
        self.rotation.max_file_bytes > 0
            && self.at_line_start
            && self.size > 0
            && self.size.saturating_add(incoming as u64) > self.threshold
    }

    /// Shifts `.N` to `.N+1` (dropping the oldest), moves the live file to `.1` and opens a new
    /// one. The old handle is kept until the new file is open, so a failure leaves Alice writing
    /// to the file it had (on Unix that may now be `.1`), past the bound, until a later try works.
    fn rotate(&mut self) {
        let kept = self.rotation.max_files.max(1);
        if kept == 1 {
            match self.file.set_len(0) {
                Ok(()) => self.rotated(),
                Err(e) => self.failed(&format!("cannot empty {}: {e}", self.path.display())),
            }
            return;
        }
        let oldest = numbered(&self.path, kept - 1);
        if let Err(e) = std::fs::remove_file(&oldest)
            && e.kind() != io::ErrorKind::NotFound
        {
            self.failed(&format!("cannot remove {}: {e}", oldest.display()));
        }
        for n in (1..kept - 1).rev() {
            if let Err(problem) = rename(&numbered(&self.path, n), &numbered(&self.path, n + 1)) {
                self.failed(&problem);
            }
        }
        if let Err(problem) = rename(&self.path, &numbered(&self.path, 1)) {
            self.failed(&problem);
            return;
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(file) => {
                self.file = file;
                self.rotated();
            }
            Err(e) => self.failed(&format!("cannot open {}: {e}", self.path.display())),
        }
    }

    fn rotated(&mut self) {
        self.size = 0;
        self.threshold = self.rotation.max_file_bytes;
        self.reported = false;
    }

    fn failed(&mut self, problem: &str) {
        self.threshold = self.size.saturating_add(self.rotation.max_file_bytes);
        if !self.reported {
            self.reported = true;
            (self.report)(&format!(
                "alice-log: log rotation failed: {problem}; still writing to the open log file \
                 (further rotation problems are not reported until one works)"
            ));
        }
    }
}

/// Moves `from` to `to`; a missing `from` is nothing to move, not a problem.
fn rename(from: &Path, to: &Path) -> Result<(), String> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(format!(
            "cannot rename {} to {}: {e}",
            from.display(),
            to.display()
        )),
        _ => Ok(()),
    }
}

/// `path` with `.n` appended: where the `n`-th older file of `path` lives.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl Write for RotatingFile {
    /// Rotates first when `buf` would take the file past the bound and the file ends at a line
    /// break; a caller that writes whole lines (as the NDJSON layer does) never sees one split.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.should_rotate(buf.len()) {
            self.rotate();
        }
        let written = self.file.write(buf)?;
        self.size = self.size.saturating_add(written as u64);
        if let Some(last) = buf[..written].last() {
            self.at_line_start = *last == b'\n';
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    let mut last = [0_u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::{Arc, Mutex};

    fn rotation(max_file_bytes: u64, max_files: u32) -> Rotation {
        Rotation {
            max_file_bytes,
            max_files,
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// A line of exactly `len` bytes, newline included, numbered so order can be checked.
    fn line(n: usize, len: usize) -> Vec<u8> {
        let mut text = format!("{n:04}").into_bytes();
        text.resize(len - 1, b'x');
        text.push(b'\n');
        text
    }

    #[test]
    fn rotates_before_the_line_that_would_pass_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        let mut file = RotatingFile::open(&path, rotation(100, 3)).unwrap();
        for n in 0..4 {
            file.write_all(&line(n, 25)).unwrap();
        }
        assert_eq!(file.size(), 100, "exactly at the bound is still in bounds");
        assert!(!numbered(&path, 1).exists());
        file.write_all(&line(4, 25)).unwrap();
        assert_eq!(read(&numbered(&path, 1)).lines().count(), 4);
        assert_eq!(read(&path), String::from_utf8(line(4, 25)).unwrap());
        assert_eq!(file.size(), 25);
    }

    #[test]
    fn keeps_max_files_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        let mut file = RotatingFile::open(&path, rotation(50, 3)).unwrap();
        // Two 25-byte lines per file: lines 0-1, 2-3, 4-5, 6-7, 8-9 → five files' worth.
        for n in 0..10 {
            file.write_all(&line(n, 25)).unwrap();
        }
        assert!(
            !numbered(&path, 3).exists(),
            "only alice.log, .1 and .2 are kept"
        );
        let first = |p: &Path| read(p).lines().next().unwrap()[..4].to_owned();
        assert_eq!(first(&path), "0008");
        assert_eq!(first(&numbered(&path, 1)), "0006");
        assert_eq!(first(&numbered(&path, 2)), "0004");
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 3);
    }

    #[test]
    fn never_splits_a_line_even_when_written_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        let mut file = RotatingFile::open(&path, rotation(256, 10)).unwrap();
        for n in 0..40 {
            // A line in three writes: rotation may only happen before the first piece.
            file.write_all(format!("{{\"n\":{n},").as_bytes()).unwrap();
            file.write_all(b"\"pad\":\"0123456789\"").unwrap();
            file.write_all(b"}\n").unwrap();
        }
        let mut seen = Vec::new();
        for index in (0..10).rev() {
            let p = if index == 0 {
                path.clone()
            } else {
                numbered(&path, index)
            };
            if !p.exists() {
                continue;
            }
            let text = read(&p);
            assert!(text.ends_with('\n'), "{} ends mid-line", p.display());
            for l in text.lines() {
                assert!(l.starts_with("{\"n\":") && l.ends_with('}'), "split: {l}");
                seen.push(l.to_owned());
            }
        }
        assert!(
            numbered(&path, 2).exists(),
            "the test rotated more than once"
        );
        assert_eq!(seen.len(), 40, "no line lost");
    }

    #[test]
    fn a_line_larger_than_the_bound_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        let mut file = RotatingFile::open(&path, rotation(30, 3)).unwrap();
        file.write_all(&line(0, 10)).unwrap();
        file.write_all(&line(1, 80)).unwrap();
        file.write_all(&line(2, 10)).unwrap();
        assert_eq!(read(&numbered(&path, 2)).len(), 10);
        assert_eq!(read(&numbered(&path, 1)).len(), 80);
        assert_eq!(read(&path).len(), 10);
    }

    #[test]
    fn appending_to_an_existing_file_counts_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        std::fs::write(&path, line(0, 90)).unwrap();
        let mut file = RotatingFile::open(&path, rotation(100, 2)).unwrap();
        assert_eq!(file.size(), 90);
        file.write_all(&line(1, 20)).unwrap();
        assert_eq!(read(&numbered(&path, 1)).len(), 90, "the old content moved");
        assert_eq!(read(&path).len(), 20);
    }

    #[test]
    fn a_torn_last_line_is_closed_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        std::fs::write(&path, "{\"half\":").unwrap();
        let mut file = RotatingFile::open(&path, Rotation::NEVER).unwrap();
        file.write_all(b"{\"whole\":true}\n").unwrap();
        assert_eq!(read(&path), "{\"half\":\n{\"whole\":true}\n");
    }

    #[test]
    fn zero_bytes_never_rotates_and_one_file_empties_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("never.log");
        let mut file = RotatingFile::open(&path, rotation(0, 5)).unwrap();
        for n in 0..20 {
            file.write_all(&line(n, 25)).unwrap();
        }
        assert_eq!(read(&path).len(), 500);
        assert!(!numbered(&path, 1).exists());

        let path = dir.path().join("single.log");
        let mut file = RotatingFile::open(&path, rotation(50, 1)).unwrap();
        for n in 0..5 {
            file.write_all(&line(n, 25)).unwrap();
        }
        assert_eq!(read(&path), String::from_utf8(line(4, 25)).unwrap());
        assert!(!numbered(&path, 1).exists());
    }

    #[test]
    fn a_failed_rotation_keeps_writing_and_reports_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        // A non-empty directory where alice.log.1 should go: neither removable as a file nor
        // a target for renaming a file onto (root can do neither, unlike a read-only directory).
        std::fs::create_dir_all(numbered(&path, 1).join("blocker")).unwrap();
        let reports = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&reports);
        let mut file = RotatingFile::open(&path, rotation(50, 2))
            .unwrap()
            .with_reporter(move |m| sink.lock().unwrap().push(m.to_owned()));
        for n in 0..20 {
            file.write_all(&line(n, 25)).unwrap();
        }
        assert_eq!(read(&path).lines().count(), 20, "every line still written");
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("alice.log.1"), "{}", reports[0]);
    }
}
