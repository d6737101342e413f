//! A small synchronous QMP client over a Unix socket (docs/interop/qmp-spec.rst): read the
//! greeting, send `qmp_capabilities`, then `{"execute": ..., "arguments": ..., "id": N}` and
//! wait for the `return` or `error` carrying the same id, skipping events.
//!
//! Why not a crate: `qapi` generates types for one QEMU schema (the `migrate` arguments differ
//! between 7.2 and 10.0) and is large to build; `qmp` is async-only (tokio). The protocol
//! needed here is five commands of line-delimited JSON, encoded and decoded with serde_json.
//!
//! Every read has a deadline; a line longer than [`MAX_LINE`] is refused (QEMU's answers to
//! these commands are a few hundred bytes).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::process::{check_interrupt, POLL};
use super::QemuError;

/// Longest QMP line accepted.
pub const MAX_LINE: usize = 1 << 20;

/// What went wrong in a QMP exchange.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// QEMU closed the connection (it exited).
    #[error("connection closed by QEMU")]
    Closed,
    /// No answer in time.
    #[error("no answer to {what} in time")]
    Timeout {
        /// The command or the greeting.
        what: String,
    },
    /// QEMU answered with an error.
    #[error("{command}: {class}: {desc}")]
    Command {
        /// The command.
        command: String,
        /// QMP error class (`GenericError` ...).
        class: String,
        /// QEMU's message.
        desc: String,
    },
    /// A line that is not a QMP message.
    #[error("not a QMP message: {0}")]
    Protocol(String),
    /// SIGINT/SIGTERM arrived.
    #[error("interrupted")]
    Interrupted,
}

#[derive(Serialize)]
struct Request<'a> {
    execute: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Value>,
    id: u64,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "QMP")]
    greeting: Option<Value>,
    #[serde(rename = "return")]
    ret: Option<Value>,
    error: Option<ErrorBody>,
    event: Option<String>,
    id: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    class: String,
    #[serde(default)]
    desc: String,
}

/// A QMP connection in command mode.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// The greeting's `QMP` object (`version`, `capabilities`).
    pub greeting: Value,
    /// Names of the events seen so far, in order.
    pub events: Vec<String>,
}

impl Qmp {
    /// Connects to `socket`, retrying until `deadline` while QEMU creates it; `alive` is asked
    /// between attempts and ends the wait with its error (QEMU exited). Then reads the
    /// greeting and enters command mode.
    pub fn connect(
        socket: &Path,
        deadline: Instant,
        mut alive: impl FnMut() -> Result<(), QemuError>,
        qemu: &str,
    ) -> Result<Qmp, QemuError> {
        let wrap = |source| QemuError::Qmp {
            qemu: qemu.to_owned(),
            source,
        };
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) => {
                    // A terminal's Ctrl-C reaches QEMU too: the interruption, not QEMU's
                    // exit, is what happened.
                    check_interrupt()?;
                    alive()?;
                    if Instant::now() >= deadline {
                        return Err(wrap(QmpError::Io(e)));
                    }
                    std::thread::sleep(POLL);
                }
            }
        };
        let writer = stream.try_clone().map_err(|e| wrap(e.into()))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            greeting: Value::Null,
            events: Vec::new(),
        };
        let greeting = loop {
            let msg = qmp.read_message(deadline, "the greeting").map_err(wrap)?;
            if let Some(g) = msg.greeting {
                break g;
            }
        };
        qmp.greeting = greeting;
        let remaining = deadline.saturating_duration_since(Instant::now());
        qmp.execute(
            "qmp_capabilities",
            None,
            remaining.max(Duration::from_secs(1)),
        )
        .map_err(wrap)?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments` and returns its `return` value; QEMU's `error` answer
    /// is [`QmpError::Command`].
    pub fn execute(
        &mut self,
        command: &str,
        arguments: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Request {
            execute: command,
            arguments,
            id,
        })
        .map_err(|e| QmpError::Protocol(e.to_string()))?;
        line.push(b'\n');
        if let Err(e) = self.writer.write_all(&line) {
            // QEMU exited (after a failed load, or on `quit`) and closed its end.
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    QmpError::Closed
                }
                _ => e.into(),
            });
        }
        let deadline = Instant::now() + timeout;
        loop {
            let msg = self.read_message(deadline, command)?;
            if let Some(event) = msg.event {
                self.events.push(event);
                continue;
            }
            if msg.id.as_ref().and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(err) = msg.error {
                return Err(QmpError::Command {
                    command: command.to_owned(),
                    class: err.class,
                    desc: err.desc,
                });
            }
            return Ok(msg.ret.unwrap_or(Value::Null));
        }
    }

    fn read_message(&mut self, deadline: Instant, what: &str) -> Result<Message, QmpError> {
        let mut line = Vec::new();
        loop {
            if crate::qemu::process::interrupted() {
                return Err(QmpError::Interrupted);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(QmpError::Timeout {
                    what: what.to_owned(),
                });
            }
            // Short slices so that a signal or the deadline is noticed soon.
            let slice = (deadline - now).min(Duration::from_millis(200));
            self.reader.get_ref().set_read_timeout(Some(slice))?;
            let room = (MAX_LINE + 1).saturating_sub(line.len()) as u64;
            match std::io::Read::take(&mut self.reader, room).read_until(b'\n', &mut line) {
                Ok(0) => return Err(QmpError::Closed),
                Ok(_) if line.ends_with(b"\n") => break,
                Ok(_) if line.len() > MAX_LINE => {
                    return Err(QmpError::Protocol(format!(
                        "a line longer than {MAX_LINE} bytes"
                    )))
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(QmpError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
        }
        serde_json::from_slice(&line).map_err(|e| {
            let text = String::from_utf8_lossy(&line);
            QmpError::Protocol(format!(
                "{e}: {}",
                text.trim_end().chars().take(200).collect::<String>()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    /// A scripted QMP server: answers each command with the given line (with `ID` replaced by
    /// the request's id), emitting an event first.
    fn serve(
        listener: UnixListener,
        answers: Vec<&'static str>,
    ) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            w.write_all(
                b"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 10}}, \"capabilities\": []}}\n",
            )
            .unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                let req: Value = serde_json::from_str(&line).unwrap();
                seen.push(req["execute"].as_str().unwrap().to_owned());
                let id = req["id"].to_string();
                w.write_all(b"{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n").unwrap();
                w.write_all(answer.replace("ID", &id).as_bytes()).unwrap();
                w.write_all(b"\n").unwrap();
            }
            seen
        })
    }

    #[test]
    fn commands_events_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = serve(
            listener,
            vec![
                r#"{"return": {}, "id": ID}"#,
                r#"{"return": {"status": "paused", "running": false}, "id": ID}"#,
                r#"{"error": {"class": "GenericError", "desc": "no such thing"}, "id": ID}"#,
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut qmp = Qmp::connect(&sock, deadline, || Ok(()), "test").unwrap();
        assert_eq!(qmp.greeting["version"]["qemu"]["major"], 10);
        let status = qmp
            .execute("query-status", None, Duration::from_secs(5))
            .unwrap();
        assert_eq!(status["status"], "paused");
        let err = qmp
            .execute(
                "migrate",
                Some(&serde_json::json!({"uri": "exec:cat > x"})),
                Duration::from_secs(5),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "migrate: GenericError: no such thing");
        assert_eq!(qmp.events, vec!["STOP", "STOP", "STOP"]);
        assert_eq!(
            server.join().unwrap(),
            vec!["qmp_capabilities", "query-status", "migrate"]
        );
    }

    #[test]
    fn silence_times_out_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(700));
            // The client has given up by now; its end may be closed.
            let _ = s.write_all(b"not json\n");
            std::thread::sleep(Duration::from_millis(300));
        });
        let start = Instant::now();
        let err =
            Qmp::connect(&sock, start + Duration::from_millis(400), || Ok(()), "q").unwrap_err();
        assert!(
            err.to_string().contains("no answer to the greeting"),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        t.join().unwrap();

        let sock2 = dir.path().join("qmp2.sock");
        let listener = UnixListener::bind(&sock2).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"not json\n").unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let err = Qmp::connect(
            &sock2,
            Instant::now() + Duration::from_secs(5),
            || Ok(()),
            "q",
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a QMP message"), "{err}");
        t.join().unwrap();
    }
}
