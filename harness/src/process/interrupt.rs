//! Ctrl-C and SIGTERM (what a CI system sends when a job is cancelled) to tbgw itself.
//!
//! The first signal is an [`Interrupt`] every command watches: it stops what runs, cleans up
//! what it created, prints and writes what it found so far and exits 130 (SIGINT) or 143
//! (SIGTERM). A second signal ends tbgw at once: the process groups it started are SIGKILLed
//! and what is left behind is printed, so the user knows what to remove.

use std::sync::Mutex;

use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, waitpgid};
use tokio::sync::watch;

/// Process groups started by tbgw and not yet stopped.
static GROUPS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// How long the exit on a second signal waits for the SIGKILLed groups to be reaped.
const REAP_AFTER_KILL: std::time::Duration = std::time::Duration::from_secs(2);
/// What an immediate exit would leave behind, one line each (a container, devices).
static LEFT_BEHIND: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn register_group(group: Pid) {
    if let Ok(mut groups) = GROUPS.lock() {
        groups.push(group);
    }
}

pub fn unregister_group(group: Pid) {
    if let Ok(mut groups) = GROUPS.lock() {
        groups.retain(|g| *g != group);
    }
}

/// Says what a hard exit would leave behind; the returned key takes it back.
pub fn note_left_behind(line: String) -> usize {
    LEFT_BEHIND.lock().map_or(0, |mut lines| {
        lines.push(line);
        lines.len() - 1
    })
}

pub fn clear_left_behind(key: usize) {
    if let Ok(mut lines) = LEFT_BEHIND.lock()
        && let Some(line) = lines.get_mut(key)
    {
        line.clear();
    }
}

/// The signal that interrupted tbgw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caught {
    Sigint,
    Sigterm,
}

impl Caught {
    pub fn name(self) -> &'static str {
        match self {
            Caught::Sigint => "SIGINT",
            Caught::Sigterm => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process ended by it.
    pub fn exit_code(self) -> u8 {
        match self {
            Caught::Sigint => 130,
            Caught::Sigterm => 143,
        }
    }
}

/// Whether tbgw has been asked to stop; cheap to clone and to ask.
#[derive(Clone, Debug)]
pub struct Interrupt {
    caught: watch::Receiver<Option<Caught>>,
    /// Keeps the channel open for [`Interrupt::never`].
    _never: Option<std::sync::Arc<watch::Sender<Option<Caught>>>>,
}

impl Interrupt {
    /// Listens for SIGINT and SIGTERM from now on (inside a tokio runtime). Without signal
    /// support it never fires, and the signals keep their default action.
    pub fn listen() -> Interrupt {
        let (tell, caught) = watch::channel(None);
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::spawn(async move {
                    let mut first = true;
                    loop {
                        let which = tokio::select! {
                            Some(()) = int.recv() => Caught::Sigint,
                            Some(()) = term.recv() => Caught::Sigterm,
                            else => return,
                        };
                        if first {
                            first = false;
                            eprintln_quiet(&format!(
                                "\ntbgw: {}: stopping and cleaning up; press Ctrl-C again to exit at once",
                                which.name()
                            ));
                            let _ = tell.send(Some(which));
                        } else {
                            exit_now(which);
                        }
                    }
                });
                Interrupt {
                    caught,
                    _never: None,
                }
            }
            _ => Interrupt::never(),
        }
    }

    /// An interrupt that never fires (tests, library use).
    pub fn never() -> Interrupt {
        let (tell, caught) = watch::channel(None);
        Interrupt {
            caught,
            _never: Some(std::sync::Arc::new(tell)),
        }
    }

    pub fn caught(&self) -> Option<Caught> {
        *self.caught.borrow()
    }

    /// Resolves when the first signal arrives (never, for [`Interrupt::never`]).
    pub async fn wait(&self) -> Caught {
        let mut caught = self.caught.clone();
        loop {
            if let Some(c) = *caught.borrow_and_update() {
                return c;
            }
            if caught.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The second signal: kill what tbgw started, say what is left, exit.
fn exit_now(which: Caught) -> ! {
    if let Ok(groups) = GROUPS.lock() {
        for group in groups.iter() {
            let _ = kill_process_group(*group, Signal::KILL);
        }
        // Reap them (tbgw is their subreaper): a zombie left to an init that never reaps
        // would still look like a running process to `kill -0` and `ps`.
        let deadline = std::time::Instant::now() + REAP_AFTER_KILL;
        for group in groups.iter() {
            while std::time::Instant::now() < deadline {
                match waitpgid(*group, WaitOptions::NOHANG) {
                    Ok(Some(_)) => continue,
                    Ok(None) => std::thread::yield_now(),
                    Err(_) => break, // no child of this group is left
                }
            }
        }
    }
    let left: Vec<String> = LEFT_BEHIND
        .lock()
        .map(|l| l.iter().filter(|l| !l.is_empty()).cloned().collect())
        .unwrap_or_default();
    eprintln_quiet(&format!(
        "tbgw: {} again: exiting at once{}",
        which.name(),
        if left.is_empty() {
            ""
        } else {
            "; left behind:"
        }
    ));
    for line in left {
        eprintln_quiet(&format!("  {line}"));
    }
    std::process::exit(i32::from(which.exit_code()));
}

fn eprintln_quiet(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
