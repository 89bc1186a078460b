//! A command run through `sh -c` in its own process group, so that a signal reaches
//! everything it started; its output kept for the report; stopped the way a terminal and a
//! service manager would (SIGINT, then SIGTERM, then SIGKILL) and judged by the whole group:
//! a wrapper shell that dies while the program it started lives on has not stopped anything.
//!
//! tbgw makes itself a child subreaper, so members orphaned by the shell become its children
//! and are reaped here; without that, a zombie left to a non-reaping PID 1 (common in
//! containers) would keep the group "alive" forever.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{
    Pid, Signal, WaitOptions, kill_process_group, set_child_subreaper, test_kill_process_group,
    waitpgid,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::interrupt;

/// Lines of output kept in memory for the report.
const KEPT_LINES: usize = 400;
/// How often an emptying group is looked at: the kernel has no event for "the last member
/// of a process group is gone".
const GROUP_POLL: Duration = Duration::from_millis(10);
/// How long a SIGKILLed group may take to be gone before tbgw says it could not stop it.
const AFTER_KILL: Duration = Duration::from_secs(5);

/// The shell's exit code for a command it cannot find (126: found but not executable).
pub const COMMAND_NOT_FOUND: i32 = 127;
pub const COMMAND_NOT_EXECUTABLE: i32 = 126;

/// The command's output so far: stdout and stderr interleaved as they arrived.
#[derive(Clone)]
pub struct Output {
    /// The kept lines, with when each arrived.
    lines: Arc<Mutex<VecDeque<(Instant, String)>>>,
    /// Every line, also those no longer kept in memory (`--gateway-log`).
    log: Option<Arc<Mutex<std::fs::File>>>,
    /// How many lines arrived in all (kept or not), to wait on.
    count: watch::Sender<usize>,
    /// How many of the two pipes have reached their end.
    ended: watch::Sender<usize>,
}

impl Output {
    fn new(log: Option<std::fs::File>) -> Output {
        Output {
            lines: Arc::default(),
            log: log.map(|f| Arc::new(Mutex::new(f))),
            count: watch::channel(0).0,
            ended: watch::channel(0).0,
        }
    }

    /// Waits until both pipes are closed (everything printed has been read); false when
    /// `within` passed first (a member of the group still holds them open).
    pub async fn wait_closed(&self, within: Duration) -> bool {
        let mut ended = self.ended.subscribe();
        matches!(
            tokio::time::timeout(within, ended.wait_for(|n| *n >= 2)).await,
            Ok(Ok(_))
        )
    }

    fn push(&self, line: String) {
        if let Some(log) = &self.log
            && let Ok(mut file) = log.lock()
        {
            use std::io::Write;
            let _ = writeln!(file, "{line}");
        }
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back((Instant::now(), line));
        }
        self.count.send_modify(|n| *n += 1);
    }

    /// How many lines have arrived in all.
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        let skip = lines.len().saturating_sub(n);
        lines.into_iter().skip(skip).map(|(_, line)| line).collect()
    }

    /// The lines that arrived after the first `from` (as counted by [`Output::count`]), at
    /// most `max` of them, the last ones; with how many were left out before them.
    pub fn since(&self, from: usize, max: usize) -> (Vec<String>, usize) {
        let (lines, left_out) = self.timed_since(from, max);
        (lines.into_iter().map(|(_, line)| line).collect(), left_out)
    }

    /// [`Output::since`] with when each line arrived.
    pub fn timed_since(&self, from: usize, max: usize) -> (Vec<(Instant, String)>, usize) {
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        let total = self.count();
        let first_kept = total - lines.len();
        let wanted = total.saturating_sub(from);
        let available: Vec<(Instant, String)> = lines
            .into_iter()
            .skip(from.saturating_sub(first_kept))
            .collect();
        let shown = available.len().min(max);
        let skip = available.len() - shown;
        (
            available.into_iter().skip(skip).collect(),
            wanted.saturating_sub(shown),
        )
    }

    /// Waits until `n` lines have arrived in all; false when `within` passed first.
    pub async fn wait_for_lines(&self, n: usize, within: Duration) -> bool {
        let mut count = self.count.subscribe();
        matches!(
            tokio::time::timeout(within, count.wait_for(|c| *c >= n)).await,
            Ok(Ok(_))
        )
    }
}

/// What ended the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    /// Every member had exited before tbgw asked it to stop.
    Itself,
    Sigint,
    Sigterm,
    Sigkill,
    /// Members still alive after SIGKILL (stuck in the kernel, or outside tbgw's reach).
    NotStopped,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Itself => "exited by itself",
            EndedBy::Sigint => "SIGINT",
            EndedBy::Sigterm => "SIGTERM",
            EndedBy::Sigkill => "SIGKILL",
            EndedBy::NotStopped => "nothing: still running after SIGKILL",
        }
    }
}

/// How the group ended.
#[derive(Clone, Debug)]
pub struct Stopped {
    pub by: EndedBy,
    /// The shell's exit status (the group's leader).
    pub status: Option<ExitStatus>,
    pub took: Duration,
}

pub struct ProcessGroup {
    child: Child,
    /// The group's id: the shell's pid.
    group: Option<Pid>,
    leader_status: Option<ExitStatus>,
    pub command: String,
    pub output: Output,
}

impl ProcessGroup {
    /// Starts `sh -c command` in a new process group with `env` added to its environment;
    /// with `log`, every output line is also appended to that file.
    pub fn start(
        command: &str,
        env: &[(&str, String)],
        log: Option<std::fs::File>,
    ) -> Result<ProcessGroup, String> {
        // Orphaned members of the group become tbgw's children, to be reaped in `stop`.
        let _ = set_child_subreaper(Some(rustix::process::getpid()));
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (key, value) in env {
            shell.env(key, value);
        }
        let mut child = shell
            .spawn()
            .map_err(|e| format!("cannot start `{command}` through sh: {e}"))?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        if let Some(group) = group {
            interrupt::register_group(group);
        }
        let output = Output::new(log);
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(keep_lines(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(keep_lines(stderr, output.clone()));
        }
        Ok(ProcessGroup {
            child,
            group,
            leader_status: None,
            command: command.to_owned(),
            output,
        })
    }

    /// Waits until the shell ends by itself (cancel-safe).
    pub async fn wait_exit(&mut self) -> Option<ExitStatus> {
        if self.leader_status.is_none() {
            self.leader_status = self.child.wait().await.ok();
        }
        self.leader_status
    }

    /// The shell's exit status if it has already ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.leader_status.is_none() {
            self.leader_status = self.child.try_wait().ok().flatten();
        }
        self.leader_status
    }

    /// Whether any member of the group is still alive (zombies of tbgw's are reaped first).
    pub fn group_alive(&mut self) -> bool {
        let Some(group) = self.group else {
            return self.exited().is_none();
        };
        // The leader is reaped through tokio, which owns it; only then the orphans.
        if self.exited().is_some() {
            while let Ok(Some(_)) = waitpgid(group, WaitOptions::NOHANG) {}
        }
        test_kill_process_group(group).is_ok()
    }

    /// Stops the whole group: SIGINT; SIGTERM after `grace`; SIGKILL after another `grace`.
    /// Returns when no member is left (or SIGKILL could not end them), never before.
    pub async fn stop(&mut self, grace: Duration) -> Stopped {
        let started = Instant::now();
        if !self.group_alive() {
            return self.stopped(EndedBy::Itself, started);
        }
        for (signal, by) in [
            (Signal::INT, EndedBy::Sigint),
            (Signal::TERM, EndedBy::Sigterm),
        ] {
            self.signal(signal);
            if self.wait_group_empty(grace).await {
                return self.stopped(by, started);
            }
        }
        self.signal(Signal::KILL);
        let _ = self.child.start_kill();
        let by = if self.wait_group_empty(AFTER_KILL).await {
            EndedBy::Sigkill
        } else {
            EndedBy::NotStopped
        };
        self.stopped(by, started)
    }

    fn signal(&self, signal: Signal) {
        if let Some(group) = self.group {
            let _ = kill_process_group(group, signal);
        }
    }

    async fn wait_group_empty(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if !self.group_alive() {
                if let Some(group) = self.group {
                    interrupt::unregister_group(group);
                }
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // The leader's exit is an event; the rest of the group's is not.
            let _ = tokio::time::timeout(GROUP_POLL, self.wait_exit()).await;
        }
    }

    fn stopped(&mut self, by: EndedBy, started: Instant) -> Stopped {
        Stopped {
            by,
            status: self.exited(),
            took: started.elapsed(),
        }
    }
}

impl Drop for ProcessGroup {
    /// A group dropped without `stop` (a panic, an early return) is killed, not orphaned.
    fn drop(&mut self) {
        if let Some(group) = self.group
            && test_kill_process_group(group).is_ok()
        {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

async fn keep_lines(stream: impl AsyncRead + Unpin, output: Output) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => output.push(line),
            Ok(None) => break,
            // Not UTF-8: keep going with what can be read.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
            Err(_) => break,
        }
    }
    output.ended.send_modify(|n| *n += 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(command: &str) -> ProcessGroup {
        ProcessGroup::start(command, &[("TBGW_TEST", "T0K".to_owned())], None).unwrap()
    }

    #[tokio::test]
    async fn the_environment_is_passed_and_output_is_kept() {
        let mut gw = start("echo \"$TBGW_TEST\"; echo oops >&2");
        assert!(gw.wait_exit().await.unwrap().success());
        // The readers may still be draining the pipes after the exit.
        assert!(gw.output.wait_for_lines(2, Duration::from_secs(5)).await);
        let mut lines = gw.output.last(10);
        lines.sort();
        assert_eq!(lines, ["T0K", "oops"]);
    }

    #[tokio::test]
    async fn output_since_a_mark_counts_what_it_leaves_out() {
        let mut gw = start("for i in 1 2 3 4 5; do echo line$i; done");
        gw.wait_exit().await;
        assert!(gw.output.wait_for_lines(5, Duration::from_secs(5)).await);
        assert_eq!(
            gw.output.since(1, 2),
            (vec!["line4".into(), "line5".into()], 2)
        );
        assert_eq!(gw.output.since(5, 2), (vec![], 0));
    }

    #[tokio::test]
    async fn a_group_ignoring_sigint_and_sigterm_is_killed() {
        let mut gw = start("trap '' INT TERM; echo armed; while :; do sleep 0.05; done");
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        let stopped = gw.stop(Duration::from_millis(200)).await;
        assert_eq!(stopped.by, EndedBy::Sigkill);
        assert!(!gw.group_alive());
    }

    #[tokio::test]
    async fn sigint_reaches_the_children_of_the_shell() {
        // The outer shell waits for a child process: only a signal to the whole group stops
        // it at once. The child prints once it runs with default signal handling (a signal
        // between fork and exec could find SIGINT still ignored by the waiting shell).
        let mut gw = start("sh -c 'echo started; exec sleep 30'; echo never");
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        let stopped = gw.stop(Duration::from_secs(5)).await;
        assert_eq!(
            stopped.by,
            EndedBy::Sigint,
            "{stopped:?} {:?}",
            gw.output.last(5)
        );
    }

    /// The bug: the wrapper shell died on SIGTERM, the report said "stopped by SIGTERM" and
    /// the program that trapped SIGTERM lived on, orphaned.
    #[tokio::test]
    async fn stop_is_not_reported_while_a_member_that_traps_sigterm_lives_on() {
        let mut gw =
            start("sh -c 'trap \"\" INT TERM; echo armed; while :; do sleep 0.05; done' & wait");
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        let stopped = gw.stop(Duration::from_millis(300)).await;
        assert_eq!(stopped.by, EndedBy::Sigkill, "{stopped:?}");
        assert!(!gw.group_alive(), "a member of the group is still alive");
    }

    /// The same with the group's leader gone long before the stop: the orphan is found.
    #[tokio::test]
    async fn an_orphan_left_by_an_exited_shell_is_still_stopped() {
        let mut gw = start("(trap '' INT; echo armed; exec sleep 30) &");
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        gw.wait_exit().await;
        assert!(
            gw.group_alive(),
            "the orphan must count as the group being alive"
        );
        let stopped = gw.stop(Duration::from_millis(300)).await;
        assert_eq!(stopped.by, EndedBy::Sigterm, "{stopped:?}");
        assert!(!gw.group_alive());
    }

    #[tokio::test]
    async fn a_group_that_ended_by_itself_is_reported_so() {
        let mut gw = start("exit 3");
        gw.wait_exit().await;
        let stopped = gw.stop(Duration::from_millis(100)).await;
        assert_eq!(stopped.by, EndedBy::Itself);
        assert_eq!(stopped.status.and_then(|s| s.code()), Some(3));
    }
}
