//! Running an outside checker (the OpenAI SDK script, the browser tests) from a test: its
//! output read on threads of its own, a time limit, and no process left behind.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process that is killed if the test ends (or panics) while it still runs, so a
/// failed test never leaves a process behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` to its end: its exit status, stdout and stderr. Panics with `what` if it
/// cannot start or runs over `limit` (it is killed then).
pub fn run_to_end(
    mut command: Command,
    limit: Duration,
    what: &str,
) -> (ExitStatus, String, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{what} cannot be started: {error}"));
    let mut running = Running(child);
    // Both pipes on their own threads, so a chatty process never blocks on a full pipe.
    let stdout = drain(running.0.stdout.take());
    let stderr = drain(running.0.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = running.0.kill();
            let _ = running.0.wait();
            panic!(
                "{what} ran over {} s and was killed; stdout so far:\n{}\nstderr so far:\n{}",
                limit.as_secs(),
                collected(&stdout),
                collected(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, collected(&stdout), collected(&stderr))
}

/// Reads a pipe to its end on a thread of its own; the text arrives on the channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        let _ = sender.send(text);
    });
    receiver
}

/// What a pipe held, waiting a little: a process the checker started may still hold the pipe
/// open after the checker is gone, and the test must not hang on it.
fn collected(output: &mpsc::Receiver<String>) -> String {
    output
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| "(output not available: the pipe is still open)".to_owned())
}
