//! What tbgw prints, and how: lines that survive a closed pipe (`tbgw list | head -2` stops
//! quietly, `tbgw serve | grep -m1 ready` keeps serving), verdict colours on a terminal
//! (`--color`, `NO_COLOR`), `--quiet` / `--verbose`, and the terminal's width.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use anstyle::{AnsiColor, Style};

use crate::scenario::outcome::Verdict;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
/// The console report goes to standard error while a report (`--json -`) takes stdout.
static CONSOLE_TO_STDERR: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);
static LEVEL: AtomicU8 = AtomicU8::new(Level::Normal as u8);

/// Writes one line of the console report to standard output; a closed pipe is remembered
/// and later lines dropped.
pub fn line(text: &str) {
    console(text, true);
}

/// Writes console text without a newline.
pub fn text(text: &str) {
    console(text, false);
}

fn console(text: &str, newline: bool) {
    if CONSOLE_TO_STDERR.load(Ordering::Relaxed) {
        write_to(&mut std::io::stderr().lock(), &STDERR_CLOSED, text, newline);
    } else {
        write_to(&mut std::io::stdout().lock(), &STDOUT_CLOSED, text, newline);
    }
}

/// Sends the console report to standard error from now on.
pub fn console_to_stderr() {
    CONSOLE_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Writes a report's text to standard output itself (`--json -`).
pub fn report_to_stdout(text: &str) {
    write_to(&mut std::io::stdout().lock(), &STDOUT_CLOSED, text, false);
}

/// Writes one line to standard error, the same way.
pub fn err_line(text: &str) {
    write_to(&mut std::io::stderr().lock(), &STDERR_CLOSED, text, true);
}

/// Whether standard output has been closed by its reader.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn write_to(out: &mut impl Write, closed: &AtomicBool, text: &str, newline: bool) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if written.is_err() {
        // EPIPE or a full disk: nobody reads what follows, and the work goes on.
        closed.store(true, Ordering::Relaxed);
    }
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::line("") };
    ($($arg:tt)*) => { $crate::output::line(&format!($($arg)*)) };
}

/// `print!` that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::text(&format!($($arg)*)) };
}

/// `eprintln!` that survives a closed pipe.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err_line(&format!($($arg)*)) };
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// How much is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Failures and the summary only.
    Quiet = 0,
    Normal = 1,
    /// Also the wire of every failure in full and each case's transcript.
    Verbose = 2,
}

pub fn configure(color: ColorChoice, level: Level) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let on = colour_wanted(color, no_color, std::io::stdout().is_terminal());
    COLOR.store(on, Ordering::Relaxed);
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// `--color` wins; `auto` colours a terminal unless `NO_COLOR` is set (no-color.org).
fn colour_wanted(choice: ColorChoice, no_color: bool, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color,
    }
}

pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Quiet,
        2 => Level::Verbose,
        _ => Level::Normal,
    }
}

/// A verdict's word, coloured when colour is on (the word itself always says it).
pub fn verdict(verdict: Verdict, padded_to: usize) -> String {
    let word = format!("{:<padded_to$}", verdict.as_str());
    if !COLOR.load(Ordering::Relaxed) {
        return word;
    }
    let color = match verdict {
        Verdict::Pass => AnsiColor::Green,
        Verdict::NonStrict | Verdict::Xfail | Verdict::Skip => AnsiColor::Yellow,
        Verdict::Fail | Verdict::Xpass => AnsiColor::Red,
        Verdict::Error => AnsiColor::Magenta,
    };
    let style = Style::new().fg_color(Some(color.into())).bold();
    format!("{}{word}{}", style.render(), style.render_reset())
}

/// Standard output's width when it is a terminal.
pub fn width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
        .filter(|c| *c >= 40)
}

/// `line` cut to `width` characters with an ellipsis.
pub fn fit(line: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if line.chars().count() > w => {
            format!(
                "{}…",
                line.chars().take(w.saturating_sub(1)).collect::<String>()
            )
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_color_then_no_color_then_the_terminal() {
        use ColorChoice::*;
        for (choice, no_color, terminal, wanted) in [
            (Auto, false, true, true),
            (Auto, true, true, false),
            (Auto, false, false, false),
            (Always, true, false, true),
            (Never, false, true, false),
        ] {
            assert_eq!(
                colour_wanted(choice, no_color, terminal),
                wanted,
                "{choice:?} NO_COLOR={no_color} terminal={terminal}"
            );
        }
    }

    /// The bug: `tbgw list | head -2` panicked with a backtrace on the closed pipe.
    #[test]
    fn writing_to_a_closed_pipe_marks_it_closed_instead_of_panicking() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let closed = AtomicBool::new(false);
        write_to(&mut Closed, &closed, "a line", true);
        assert!(closed.load(Ordering::Relaxed));
        write_to(&mut Closed, &closed, "another", true);
    }

    #[test]
    fn fitting_cuts_long_lines_with_an_ellipsis() {
        assert_eq!(fit("abcdef", Some(4)), "abc…");
        assert_eq!(fit("abc", Some(4)), "abc");
        assert_eq!(fit("abcdef", None), "abcdef");
    }
}
