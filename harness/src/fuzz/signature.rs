//! What a crash looks like in a gateway's output: the innermost frame and the exception of the
//! last Python traceback, Java stack trace or Rust panic. Two findings with the same
//! signature are one bug; without a trace, the symptom is the signature.

use regex::Regex;
use std::sync::LazyLock;

/// Where a gateway broke, read from what it printed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Crash {
    /// `KeyError`, `java.lang.NullPointerException`, `panic`.
    pub exception: String,
    /// The exception's message (first line), for the report; not part of the identity.
    pub message: String,
    /// The innermost frame: `tb_gateway_mqtt.py:312 in _on_message`.
    pub frame: String,
}

impl Crash {
    /// The identity: exception and innermost frame (messages hold values that vary).
    pub fn key(&self) -> String {
        format!("{} at {}", self.exception, self.frame)
    }
}

static PY_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*File "([^"]+)", line (\d+), in (\S+)"#).expect("a fixed, valid pattern")
});
static PY_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault|Iteration))(?::\s?(.*))?$")
        .expect("a fixed, valid pattern")
});
static JAVA_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:Exception in thread .*? |^)((?:[a-z_][\w]*\.)+[A-Z]\w*(?:Exception|Error))(?::\s?(.*))?$")
        .expect("a fixed, valid pattern")
});
static JAVA_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+at ([\w$.<>]+)\(([^):]+)(?::(\d+))?\)").expect("a fixed, valid pattern")
});
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^thread '.*'(?: \(\d+\))? panicked at ([^:]+):(\d+):\d+:?(?:\s*(.*))?$")
        .expect("a fixed, valid pattern")
});

/// The last crash in `lines`, if they hold one.
pub fn crash_in(lines: &[String]) -> Option<Crash> {
    // The last trace wins: an earlier one may have been caught and logged.
    let python = python_crash(lines);
    let java = java_crash(lines);
    let rust = rust_panic(lines);
    [python, java, rust]
        .into_iter()
        .flatten()
        .max_by_key(|(at, _)| *at)
        .map(|(_, crash)| crash)
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// (line index of the trace's end, crash) of the last Python traceback.
fn python_crash(lines: &[String]) -> Option<(usize, Crash)> {
    let start = lines
        .iter()
        .rposition(|l| l.trim_end().ends_with("Traceback (most recent call last):"))?;
    let mut frame = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if let Some(c) = PY_FRAME.captures(line) {
            frame = Some(format!("{}:{} in {}", basename(&c[1]), &c[2], &c[3]));
            continue;
        }
        // The source line under a frame, and `^^^^` markers, are indented.
        if line.starts_with(' ') || line.trim().is_empty() {
            continue;
        }
        let text = line.trim();
        if let Some(c) = PY_EXCEPTION.captures(text) {
            return Some((
                i,
                Crash {
                    exception: c[1].to_owned(),
                    message: c.get(2).map_or("", |m| m.as_str()).to_owned(),
                    frame: frame.unwrap_or_else(|| "?".to_owned()),
                },
            ));
        }
    }
    None
}

fn java_crash(lines: &[String]) -> Option<(usize, Crash)> {
    let start = (0..lines.len()).rev().find(|&i| {
        JAVA_EXCEPTION.is_match(lines[i].trim_end())
            && lines
                .get(i + 1)
                .is_some_and(|next| JAVA_FRAME.is_match(next))
    })?;
    let c = JAVA_EXCEPTION.captures(lines[start].trim_end())?;
    let frame = lines.get(start + 1).and_then(|l| JAVA_FRAME.captures(l))?;
    Some((
        start,
        Crash {
            exception: c[1].to_owned(),
            message: c.get(2).map_or("", |m| m.as_str()).to_owned(),
            frame: format!(
                "{}:{} in {}",
                &frame[2],
                frame.get(3).map_or("?", |m| m.as_str()),
                &frame[1]
            ),
        },
    ))
}

fn rust_panic(lines: &[String]) -> Option<(usize, Crash)> {
    let at = lines.iter().rposition(|l| RUST_PANIC.is_match(l))?;
    let c = RUST_PANIC.captures(&lines[at])?;
    let message = match c.get(3).map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(inline) => inline.to_owned(),
        None => lines.get(at + 1).cloned().unwrap_or_default(),
    };
    Some((
        at,
        Crash {
            exception: "panic".to_owned(),
            message,
            frame: format!("{}:{}", basename(&c[1]), &c[2]),
        },
    ))
}

/// A line of output with what varies from run to run (numbers, ids, quoted values, times)
/// blanked: two lines of one kind read the same. The corpus counts these as behaviour.
pub fn shape_of_line(line: &str) -> String {
    static VARYING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#""[^"]*"|'[^']*'|0x[0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|\d+(?:[.:,]\d+)*"#,
        )
        .expect("a fixed, valid pattern")
    });
    // What follows a brace or a bracket is the message's content, not the line's kind.
    let kind = line.split(['{', '[']).next().unwrap_or(line);
    let cut: String = kind.chars().take(80).collect();
    VARYING.replace_all(&cut, "_").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_python_traceback_gives_its_innermost_frame_and_exception() {
        let output = lines(
            r#"2026-12-04 INFO connected
Exception in thread Thread-1 (_thread_main):
Traceback (most recent call last):
  File "/usr/lib/python3.13/threading.py", line 1041, in _bootstrap_inner
    self.run()
  File "/venv/lib/python3.13/site-packages/tb_gateway_mqtt.py", line 212, in _on_message
    device = content["device"]
             ~~~~~~~^^^^^^^^^^
TypeError: unhashable type: 'list'
"#,
        );
        let crash = crash_in(&output).unwrap();
        assert_eq!(crash.exception, "TypeError");
        assert_eq!(crash.frame, "tb_gateway_mqtt.py:212 in _on_message");
        assert_eq!(crash.message, "unhashable type: 'list'");
        assert_eq!(
            crash.key(),
            "TypeError at tb_gateway_mqtt.py:212 in _on_message"
        );
    }

    #[test]
    fn the_last_trace_wins_and_dotted_exceptions_are_read() {
        let output = lines(
            r#"Traceback (most recent call last):
  File "a.py", line 1, in f
KeyError: 'x'
handled, going on
Traceback (most recent call last):
  File "b.py", line 9, in g
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"#,
        );
        let crash = crash_in(&output).unwrap();
        assert_eq!(crash.exception, "json.decoder.JSONDecodeError");
        assert_eq!(crash.frame, "b.py:9 in g");
    }

    #[test]
    fn a_rust_panic_and_a_java_stack_trace_are_read() {
        let rust = lines(
            "thread 'main' panicked at harness/examples/fragile_gateway.rs:88:13:\nthe device is not a string",
        );
        let crash = crash_in(&rust).unwrap();
        assert_eq!(crash.key(), "panic at fragile_gateway.rs:88");
        assert_eq!(crash.message, "the device is not a string");
        // Rust 1.92 and later print the thread's id too.
        let rust = lines(
            "thread 'main' (13345) panicked at src/main.rs:213:13:
boom",
        );
        assert_eq!(crash_in(&rust).unwrap().key(), "panic at main.rs:213");
        let java = lines(
            "Exception in thread \"main\" java.lang.IllegalStateException: Not a JSON Object\n\tat com.google.gson.JsonElement.getAsJsonObject(JsonElement.java:90)\n\tat my.Gateway.onRpc(Gateway.java:41)",
        );
        let crash = crash_in(&java).unwrap();
        assert_eq!(crash.exception, "java.lang.IllegalStateException");
        assert_eq!(
            crash.frame,
            "JsonElement.java:90 in com.google.gson.JsonElement.getAsJsonObject"
        );
    }

    #[test]
    fn output_without_a_trace_has_no_crash() {
        assert_eq!(crash_in(&lines("connected\nerror: bad message\n")), None);
        assert_eq!(crash_in(&[]), None);
    }

    #[test]
    fn line_shapes_blank_what_varies() {
        assert_eq!(
            shape_of_line("RPC 12 for \"Sensor A\" answered in 3.5 ms"),
            shape_of_line("RPC 7 for \"Sensor B\" answered in 12 ms")
        );
        assert_ne!(
            shape_of_line("ignored: not an RPC"),
            shape_of_line("RPC answered")
        );
    }
}
