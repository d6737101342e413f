//! The contract of `vmstate_check::stream::sink::Sink`, as written on the trait: order of the
//! calls, `finish` exactly once and last (also after an error), `false` from `progress`
//! stopping the decoder, warnings as typed values.

mod stream_support;

use serde_json::json;
use stream_support::*;
use vmstate_check::stream::decode::{Decoder, IterableState, Sink, Warning};
use vmstate_check::stream::error::{ErrorKind, Result};
use vmstate_check::stream::input::Input;
use vmstate_check::stream::json::ValueWriter;
use vmstate_check::stream::ram::{Page, RamBlock};

/// Records every call as one line.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    stop_at_progress: bool,
}

impl ValueWriter for Recorder {
    fn key(&mut self, k: &str) -> std::io::Result<()> {
        self.calls.push(format!("key {k}"));
        Ok(())
    }
    fn begin_object(&mut self) -> std::io::Result<()> {
        self.calls.push("{".into());
        Ok(())
    }
    fn end_object(&mut self) -> std::io::Result<()> {
        self.calls.push("}".into());
        Ok(())
    }
    fn begin_array(&mut self) -> std::io::Result<()> {
        self.calls.push("[".into());
        Ok(())
    }
    fn end_array(&mut self) -> std::io::Result<()> {
        self.calls.push("]".into());
        Ok(())
    }
    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.calls.push(format!("string {s}"));
        Ok(())
    }
    fn bool(&mut self, b: bool) -> std::io::Result<()> {
        self.calls.push(format!("bool {b}"));
        Ok(())
    }
    fn begin_hex(&mut self) -> std::io::Result<()> {
        self.calls.push("hex<".into());
        Ok(())
    }
    fn hex(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.calls.push(format!("hex {bytes:?}"));
        Ok(())
    }
    fn end_hex(&mut self) -> std::io::Result<()> {
        self.calls.push(">hex".into());
        Ok(())
    }
}

impl Sink for Recorder {
    fn wants_pages(&self) -> bool {
        true
    }
    fn ram_start(&mut self, key: &str, blocks: &[RamBlock], page_size: u64) -> Result<()> {
        self.calls
            .push(format!("ram_start {key} {} {page_size}", blocks.len()));
        Ok(())
    }
    fn ram_page(&mut self, block: usize, offset: u64, page: Page<'_>) -> Result<()> {
        let kind = match page {
            Page::Fill(b) => format!("fill {b}"),
            Page::Data(d) => format!("data {}", d[0]),
            Page::Xbzrle(_) => "xbzrle".into(),
        };
        self.calls
            .push(format!("ram_page {block} 0x{offset:x} {kind}"));
        Ok(())
    }
    fn ram_end(&mut self) -> Result<()> {
        self.calls.push("ram_end".into());
        Ok(())
    }
    fn iterable_start(&mut self, key: &str) -> Result<()> {
        self.calls.push(format!("iterable_start {key}"));
        Ok(())
    }
    fn iterable_end(&mut self, key: &str, state: &IterableState) -> Result<()> {
        self.calls.push(format!("iterable_end {key} {state:?}"));
        Ok(())
    }
    fn section_begin(&mut self, key: &str) -> Result<()> {
        self.calls.push(format!("section_begin {key}"));
        Ok(())
    }
    fn values(&mut self) -> &mut dyn ValueWriter {
        self
    }
    fn section_end(&mut self, key: &str) -> Result<()> {
        self.calls.push(format!("section_end {key}"));
        Ok(())
    }
    fn warning(&mut self, w: Warning) {
        self.calls.push(format!("warning {w}"));
    }
    fn progress(&mut self, offset: u64, _total: Option<u64>) -> bool {
        self.calls.push(format!("progress {offset}"));
        !self.stop_at_progress
    }
    fn finish(&mut self) -> Result<()> {
        self.calls.push("finish".into());
        Ok(())
    }
}

fn sample() -> Vec<u8> {
    StreamBuilder::new()
        .ram_start(1, &[("pc.ram", 0x2000)])
        .ram_pages(
            1,
            true,
            &[Rec::Zero("pc.ram", 0), Rec::Page("pc.ram", 0x1000, 7)],
        )
        .full(
            2,
            "dev",
            0,
            &[1, 0, 5],
            json!([{"name": "on", "type": "bool", "size": 1},
                   {"name": "v", "type": "uint16", "size": 2}]),
        )
        .finish(true)
}

#[test]
fn calls_come_in_stream_order_and_finish_last() {
    let mut rec = Recorder::default();
    Decoder::new(Input::from_bytes(sample()), &mut rec)
        .run()
        .unwrap();
    assert_eq!(
        rec.calls,
        [
            "ram_start ram (1) 1 4096",
            "ram_page 0 0x0 fill 0",
            "ram_page 0 0x1000 data 7",
            "ram_end",
            "section_begin dev (2)",
            "{",
            "key on",
            "bool true",
            "key v",
            "string 0x0005",
            "}",
            "section_end dev (2)",
            "finish",
        ]
    );
}

#[test]
fn finish_comes_once_after_an_error_and_section_end_does_not() {
    // A NULL-pointer field whose byte is not the 0x30 marker: an error inside the payload.
    let s = StreamBuilder::new()
        .full(
            2,
            "dev",
            0,
            &[1, 0x31],
            json!([{"name": "on", "type": "bool", "size": 1},
                                              {"name": "p", "type": "nullptr", "size": 1}]),
        )
        .finish(true);
    let mut rec = Recorder::default();
    let r = Decoder::new(Input::from_bytes(s), &mut rec).run();
    assert!(r.is_err());
    assert_eq!(rec.calls.last().map(String::as_str), Some("finish"));
    assert_eq!(rec.calls.iter().filter(|c| *c == "finish").count(), 1);
    assert!(
        !rec.calls.iter().any(|c| c.starts_with("section_end")),
        "{:?}",
        rec.calls
    );
}

#[test]
fn false_from_progress_stops_the_decoder() {
    // Enough records for a progress report (every 8192).
    let recs: Vec<Rec> = (0..9000u64)
        .map(|i| Rec::Zero("pc.ram", i * 4096))
        .collect();
    let s = StreamBuilder::new()
        .ram_start(1, &[("pc.ram", 9000 * 4096)])
        .ram_pages(1, true, &recs)
        .finish(true);
    let mut rec = Recorder {
        stop_at_progress: true,
        ..Default::default()
    };
    let e = Decoder::new(Input::from_bytes(s), &mut rec)
        .run()
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Stopped), "{e}");
    let pages = rec
        .calls
        .iter()
        .filter(|c| c.starts_with("ram_page"))
        .count();
    assert!(pages < 9000, "{pages}");
    assert_eq!(rec.calls.last().map(String::as_str), Some("finish"));
}

#[test]
fn warnings_are_typed_and_name_their_section() {
    let s = StreamBuilder::new()
        .full(
            3,
            "dev",
            0,
            &[1],
            json!([{"name": "a", "type": "uint8", "size": 1}]),
        )
        .finish(true);
    // The vmdesc says version 1, the builder writes version 1: patch the header to 2.
    let mut s = s;
    let at = 8 + 1 + 4 + 1 + 3 + 4 + 3;
    s[at] = 2;
    let mut rec = Recorder::default();
    Decoder::new(Input::from_bytes(s), &mut rec).run().unwrap();
    assert!(
        rec.calls
            .iter()
            .any(|c| c == "warning section 'dev (3)': stream version 2, vmdesc version 1"),
        "{:?}",
        rec.calls
    );
}
