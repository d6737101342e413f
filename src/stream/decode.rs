//! Record-by-record walk over a migration stream: header, configuration, commands, sections,
//! RAM, EOF and vmdesc. Decoded data goes to a [`Sink`]; what was seen is kept in a
//! [`Summary`] (used by `--against`).

use super::device::PayloadDecoder;
use super::error::{Result, StreamError};
use super::input::Input;
use super::ram::{flags, MappedRam, Page, RamBlock};
use super::vmdesc::{self, Vmdesc};
use serde_json::Value;

/// Stream magic "QEVM".
pub const MAGIC: u32 = 0x5145_564d;
/// Record type bytes (migration/savevm.h).
pub mod rec {
    /// End of the device sections.
    pub const EOF: u8 = 0x00;
    /// First chunk of an iterable handler.
    pub const START: u8 = 0x01;
    /// Middle chunk of an iterable handler.
    pub const PART: u8 = 0x02;
    /// Last chunk of an iterable handler.
    pub const END: u8 = 0x03;
    /// Complete state of a VMState device.
    pub const FULL: u8 = 0x04;
    /// Subsection inside a VMState payload.
    pub const SUBSECTION: u8 = 0x05;
    /// vmdesc JSON after EOF.
    pub const VMDESC: u8 = 0x06;
    /// Configuration record after the header.
    pub const CONFIGURATION: u8 = 0x07;
    /// Command record.
    pub const COMMAND: u8 = 0x08;
    /// Section footer.
    pub const FOOTER: u8 = 0x7e;
}

/// Names of COMMAND numbers 0..=11 (savevm.c `qemu_vm_cmd`).
pub const COMMAND_NAMES: [&str; 12] = [
    "INVALID",
    "OPEN_RETURN_PATH",
    "PING",
    "POSTCOPY_ADVISE",
    "POSTCOPY_LISTEN",
    "POSTCOPY_RUN",
    "POSTCOPY_RAM_DISCARD",
    "PACKAGED",
    "ENABLE_COLO",
    "POSTCOPY_RESUME",
    "RECV_BITMAP",
    "SWITCHOVER_START",
];

/// Largest PACKAGED payload QEMU accepts (savevm.c `MAX_VM_CMD_PACKAGED_SIZE`).
const MAX_PACKAGED: u64 = 1 << 24;
/// Upper bound on the number of RAM blocks, against endless block lists.
const MAX_BLOCKS: usize = 1 << 16;
/// Largest device state buffered from a pipe to reach the vmdesc.
const MAX_PIPE_TAIL: u64 = 1 << 30;

/// Receives decoded data in stream order.
pub trait Sink {
    /// True if page contents are needed (`--memory`, `--extract`); otherwise pages are skipped.
    fn wants_pages(&self) -> bool {
        false
    }
    /// The RAM block list (START section of `ram`); `key` is `"ram (ID)"`.
    fn ram_start(&mut self, _key: &str, _blocks: &[RamBlock], _page_size: u64) -> Result<()> {
        Ok(())
    }
    /// One page record of block `block` (index into the block list) at block offset `offset`.
    fn ram_page(&mut self, _block: usize, _offset: u64, _page: Page<'_>) -> Result<()> {
        Ok(())
    }
    /// The END section of `ram` has been read.
    fn ram_end(&mut self) -> Result<()> {
        Ok(())
    }
    /// A decoded non-RAM section (`key` is `"IDSTR (ID)"`).
    fn section(&mut self, _key: &str, _value: Value) -> Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing (used by `--against` and `--dump desc` on pipes).
pub struct NullSink;
impl Sink for NullSink {}

/// The configuration record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    /// Machine type name.
    pub machine: String,
    /// `configuration/target-page-bits`, if sent.
    pub target_page_bits: Option<u32>,
    /// `configuration/capabilities`, if sent.
    pub capabilities: Vec<String>,
    /// `configuration/uuid`, if sent.
    pub uuid: Option<[u8; 16]>,
}

/// One START or FULL section as seen in the stream.
#[derive(Debug, Clone)]
pub struct SectionInfo {
    /// Offset of the record type byte.
    pub offset: u64,
    /// True for START (iterable handler), false for FULL.
    pub iterable: bool,
    /// Section id.
    pub section_id: u32,
    /// Section idstr.
    pub idstr: String,
    /// Instance id.
    pub instance_id: u32,
    /// Version written by the source.
    pub version: u32,
    /// Index into the vmdesc `devices` array, for decoded FULL sections.
    pub device: Option<usize>,
    /// Subsections really sent (lenient mode only): (depth, vmdesc name, stream name, version).
    pub subsections: Vec<(usize, String, String, u32)>,
}

/// Everything seen at record level.
#[derive(Debug, Default)]
pub struct Summary {
    /// Configuration record, if present.
    pub configuration: Option<Configuration>,
    /// Commands in stream order: (offset, number).
    pub commands: Vec<(u64, u16)>,
    /// START and FULL sections in stream order.
    pub sections: Vec<SectionInfo>,
    /// RAM blocks.
    pub blocks: Vec<RamBlock>,
    /// Offset of the EOF record.
    pub eof: Option<u64>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

/// Page size to use when neither the vmdesc nor the configuration gives one.
const DEFAULT_PAGE_SIZE: u64 = 4096;

/// State of the `ram` handler across its sections.
#[derive(Default)]
struct RamState {
    section_id: Option<u32>,
    key: String,
    current: Option<usize>,
    postcopy_summary: Option<u64>,
    page_buf: Vec<u8>,
}

/// Walks one stream.
pub struct Decoder<'a> {
    input: Input,
    sink: &'a mut dyn Sink,
    /// The vmdesc, once located.
    pub vmdesc: Option<Vmdesc>,
    vmdesc_searched: bool,
    used_devices: Vec<bool>,
    device_cursor: usize,
    /// Record-level findings.
    pub summary: Summary,
    ram: RamState,
    page_size: u64,
    page_size_known: bool,
    /// Section id → (idstr, key) of START sections, for PART/END.
    iterables: Vec<(u32, String, String)>,
    progress: Option<indicatif::ProgressBar>,
    records: u64,
    /// Tolerate subsection names that differ from the vmdesc and record what was sent.
    pub lenient: bool,
    package_depth: u32,
}

impl<'a> Decoder<'a> {
    /// Decoder over `input` sending data to `sink`.
    pub fn new(input: Input, sink: &'a mut dyn Sink) -> Self {
        Decoder {
            input,
            sink,
            vmdesc: None,
            vmdesc_searched: false,
            used_devices: Vec::new(),
            device_cursor: 0,
            summary: Summary::default(),
            ram: RamState::default(),
            page_size: DEFAULT_PAGE_SIZE,
            page_size_known: false,
            iterables: Vec::new(),
            progress: None,
            records: 0,
            lenient: false,
            package_depth: 0,
        }
    }

    /// Shows progress on this bar (caller decides whether stderr is a terminal).
    pub fn set_progress(&mut self, pb: indicatif::ProgressBar) {
        self.progress = Some(pb);
    }

    /// True when the input supports random access.
    pub fn seekable(&self) -> bool {
        self.input.seekable()
    }

    /// Gives back the input (to reuse it after probing for the vmdesc).
    pub fn into_input(self) -> Input {
        self.input
    }

    /// Current read offset.
    pub fn pos(&self) -> u64 {
        self.input.pos()
    }

    /// Locates the vmdesc now (files: scan from the end; pipes: buffer the rest first).
    pub fn find_vmdesc(&mut self) -> Result<Option<&Vmdesc>> {
        if !self.vmdesc_searched {
            self.vmdesc_searched = true;
            self.input.buffer_rest(MAX_PIPE_TAIL)?;
            self.vmdesc = vmdesc::locate(&mut self.input)?;
            if let Some(d) = &self.vmdesc {
                self.used_devices = vec![false; d.devices().len()];
                if let Some(p) = d.page_size() {
                    self.page_size = p;
                    self.page_size_known = true;
                }
            }
        }
        Ok(self.vmdesc.as_ref())
    }

    /// Decodes the whole stream.
    pub fn run(&mut self) -> Result<()> {
        // Files: find the vmdesc up front (page size, device layouts); pipes do it lazily.
        if self.input.seekable() {
            self.find_vmdesc()?;
        }
        let magic = self.input.be32()?;
        if magic != MAGIC {
            return Err(StreamError::invalid(
                0,
                format!(
                    "not a migration stream: magic 0x{magic:08x}, expected 0x{MAGIC:08x} (QEVM)"
                ),
            ));
        }
        let version = self.input.be32()?;
        if version != 3 {
            return Err(StreamError::unsupported(
                4,
                format!("stream version {version} (only version 3 exists; 2 is the obsolete compat format)"),
            ));
        }
        if self.input.peek_u8()? == Some(rec::CONFIGURATION) {
            self.input.u8()?;
            let at = self.input.pos();
            let cfg = self
                .configuration()
                .map_err(|e| e.in_section("configuration"))?;
            if let Some(bits) = cfg.target_page_bits {
                if !(9..=20).contains(&bits) {
                    return Err(StreamError::invalid(at, format!("target page bits {bits}")));
                }
                if !self.page_size_known {
                    self.page_size = 1 << bits;
                    self.page_size_known = true;
                }
            }
            self.summary.configuration = Some(cfg);
        }
        self.records()?;
        if let Some(pb) = &self.progress {
            pb.finish_and_clear();
        }
        Ok(())
    }

    fn capability(&self, name: &str) -> bool {
        self.summary
            .configuration
            .as_ref()
            .is_some_and(|c| c.capabilities.iter().any(|x| x == name))
    }

    fn configuration(&mut self) -> Result<Configuration> {
        let at = self.input.pos();
        let len = self.input.be32()?;
        if len > 1024 {
            return Err(StreamError::invalid(
                at,
                format!("machine name length {len}"),
            ));
        }
        let name = self.input.bytes(len as u64, 1024)?;
        let mut cfg = Configuration {
            machine: String::from_utf8_lossy(&name).into_owned(),
            ..Default::default()
        };
        while self.input.peek_u8()? == Some(rec::SUBSECTION) {
            let at = self.input.pos();
            self.input.u8()?;
            let sub = self.input.counted_string()?;
            let _version = self.input.be32()?;
            match sub.as_str() {
                "configuration/target-page-bits" => cfg.target_page_bits = Some(self.input.be32()?),
                "configuration/capabilities" => {
                    let n = self.input.be32()?;
                    if n > 256 {
                        return Err(StreamError::invalid(at, format!("{n} capabilities")));
                    }
                    for _ in 0..n {
                        cfg.capabilities.push(self.input.counted_string()?);
                    }
                }
                "configuration/uuid" => {
                    let mut u = [0u8; 16];
                    self.input.read_exact(&mut u)?;
                    cfg.uuid = Some(u);
                }
                other => {
                    // Unknown to this reader: decodable only if the vmdesc describes it.
                    let desc = self.vmdesc.as_ref().and_then(|d| {
                        d.json
                            .get("configuration")?
                            .get("subsections")?
                            .as_array()?
                            .iter()
                            .find(|s| s.get("vmsd_name").and_then(Value::as_str) == Some(other))
                            .cloned()
                    });
                    let Some(desc) = desc else {
                        return Err(StreamError::unsupported(
                            at,
                            format!("unknown configuration subsection '{other}'"),
                        ));
                    };
                    PayloadDecoder::new(&mut self.input).vmsd(&desc)?;
                    self.summary
                        .warnings
                        .push(format!("configuration subsection '{other}' skipped"));
                }
            }
        }
        Ok(cfg)
    }

    fn tick(&mut self) {
        self.records += 1;
        if self.records.is_multiple_of(8192) {
            if let Some(pb) = &self.progress {
                pb.set_position(self.input.pos());
            }
        }
    }

    /// Record loop; returns at EOF (or at the end of a nested PACKAGED stream).
    fn records(&mut self) -> Result<()> {
        let nested = self.input.limit().is_some();
        loop {
            let at = self.input.pos();
            let Some(ty) = self.input.peek_u8()? else {
                if nested {
                    return Ok(());
                }
                // The stream ends before its EOF record.
                return Err(StreamError::new(
                    at,
                    super::error::ErrorKind::Truncated { needed: 1 },
                ));
            };
            self.input.u8()?;
            self.tick();
            match ty {
                rec::EOF => {
                    if nested {
                        return Ok(());
                    }
                    self.summary.eof = Some(at);
                    return self.after_eof();
                }
                rec::START | rec::FULL => self.section_start_full(at, ty)?,
                rec::PART | rec::END => self.section_part_end(at, ty)?,
                rec::COMMAND => self.command(at)?,
                rec::FOOTER => {
                    let id = self.input.be32()?;
                    return Err(StreamError::invalid(
                        at,
                        format!("section footer (id {id}) without a preceding section"),
                    ));
                }
                other => {
                    return Err(StreamError::invalid(
                        at,
                        format!("unknown record type 0x{other:02x}"),
                    ))
                }
            }
        }
    }

    fn after_eof(&mut self) -> Result<()> {
        let at = self.input.pos();
        match self.input.peek_u8()? {
            None => Ok(()),
            Some(rec::VMDESC) => {
                if let Some(d) = &self.vmdesc {
                    if d.offset != at {
                        return Err(StreamError::invalid(
                            at,
                            format!(
                                "vmdesc marker after EOF, but the vmdesc was found at offset {}",
                                d.offset
                            ),
                        ));
                    }
                    return Ok(());
                }
                if self.input.seekable() && self.vmdesc_searched {
                    return Err(StreamError::invalid(
                        at,
                        "vmdesc marker after EOF, but its length does not end at end of file",
                    ));
                }
                // Pipe without device sections: read it in place.
                self.input.u8()?;
                let n = self.input.be32()? as u64;
                let text = self.input.bytes(n, vmdesc::MAX_VMDESC)?;
                let json: Value = serde_json::from_slice(&text).map_err(|e| {
                    StreamError::invalid(at + 5, format!("vmdesc JSON does not parse: {e}"))
                })?;
                self.vmdesc = Some(Vmdesc { offset: at, json });
                self.vmdesc_searched = true;
                if self.input.peek_u8()?.is_some() {
                    self.summary.warnings.push(format!(
                        "bytes after the vmdesc at offset {}",
                        self.input.pos()
                    ));
                }
                Ok(())
            }
            Some(b) => {
                self.summary.warnings.push(format!(
                    "unexpected byte 0x{b:02x} after the EOF record at offset {at} (ignored)"
                ));
                Ok(())
            }
        }
    }

    fn footer(&mut self, section_id: u32, key: &str) -> Result<()> {
        if self.input.peek_u8()? == Some(rec::FOOTER) {
            let at = self.input.pos();
            self.input.u8()?;
            let id = self.input.be32()?;
            if id != section_id {
                return Err(StreamError::invalid(
                    at,
                    format!("section footer id {id} does not match section id {section_id}"),
                )
                .in_section(key));
            }
        }
        Ok(())
    }

    fn section_start_full(&mut self, at: u64, ty: u8) -> Result<()> {
        let section_id = self.input.be32()?;
        let idstr = self.input.counted_string()?;
        let instance_id = self.input.be32()?;
        let version = self.input.be32()?;
        let key = format!("{idstr} ({section_id})");
        let mut info = SectionInfo {
            offset: at,
            iterable: ty == rec::START,
            section_id,
            idstr: idstr.clone(),
            instance_id,
            version,
            device: None,
            subsections: Vec::new(),
        };
        if ty == rec::START {
            self.iterables
                .push((section_id, idstr.clone(), key.clone()));
            self.summary.sections.push(info);
            if idstr == "ram" {
                if version != 4 {
                    return Err(StreamError::unsupported(
                        at,
                        format!("RAM section version {version} (only 4 exists)"),
                    )
                    .in_section(&key));
                }
                self.ram.section_id = Some(section_id);
                self.ram.key = key.clone();
                self.ram_records(true).map_err(|e| e.in_section(&key))?;
            } else {
                self.other_iterable(&idstr, &key, true)?;
            }
            return self.footer(section_id, &key);
        }
        // FULL: a VMState (or old-style) device, decodable only with its vmdesc entry.
        if self.find_vmdesc()?.is_none() {
            self.summary.sections.push(info);
            return Err(StreamError::unsupported(
                at,
                "the stream has no vmdesc (suppress-vmdesc, postcopy or aborted source), so device sections cannot be decoded",
            )
            .in_section(&key));
        }
        let dev = self.match_device(&idstr, instance_id);
        info.device = dev;
        let Some(dev) = dev else {
            self.summary.sections.push(info);
            return Err(StreamError::invalid(
                at,
                format!("section '{idstr}' instance {instance_id} is not described in the vmdesc"),
            )
            .in_section(&key));
        };
        let desc = self
            .vmdesc
            .as_ref()
            .and_then(|d| d.devices().get(dev))
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(v) = desc.get("version").and_then(Value::as_u64) {
            if v != version as u64 {
                self.summary.warnings.push(format!(
                    "section '{key}': stream version {version}, vmdesc version {v}"
                ));
            }
        }
        let start = self.input.pos();
        let mut pd = PayloadDecoder::new(&mut self.input);
        pd.lenient = self.lenient;
        let r = pd.vmsd(&desc);
        let warnings = std::mem::take(&mut pd.warnings);
        if self.lenient {
            info.subsections = std::mem::take(&mut pd.subsections_seen);
        }
        self.summary.warnings.extend(warnings);
        self.summary.sections.push(info);
        let obj = r.map_err(|e| e.in_section(&key))?;
        if let Some(size) = desc.get("size").and_then(Value::as_u64) {
            let used = self.input.pos() - start;
            if used != size {
                self.summary.warnings.push(format!(
                    "section '{key}': vmdesc size {size}, decoded {used} bytes"
                ));
            }
        }
        self.sink.section(&key, Value::Object(obj))?;
        self.footer(section_id, &key)
    }

    /// Picks the vmdesc device entry of a FULL section: the next unused entry if it matches
    /// (duplicate idstr/instance pairs are matched in order), else the first unused match.
    fn match_device(&mut self, idstr: &str, instance: u32) -> Option<usize> {
        let devices = self.vmdesc.as_ref()?.devices();
        let matches = |d: &Value| {
            d.get("name").and_then(Value::as_str) == Some(idstr)
                && d.get("instance_id").and_then(Value::as_u64) == Some(instance as u64)
        };
        let pick = if self.device_cursor < devices.len()
            && !self.used_devices[self.device_cursor]
            && matches(&devices[self.device_cursor])
        {
            Some(self.device_cursor)
        } else {
            (0..devices.len()).find(|&i| !self.used_devices[i] && matches(&devices[i]))
        };
        if let Some(i) = pick {
            self.used_devices[i] = true;
            self.device_cursor = i + 1;
        }
        pick
    }

    fn section_part_end(&mut self, at: u64, ty: u8) -> Result<()> {
        let section_id = self.input.be32()?;
        let Some((_, idstr, key)) = self
            .iterables
            .iter()
            .find(|(id, _, _)| *id == section_id)
            .cloned()
        else {
            return Err(StreamError::invalid(
                at,
                format!("PART/END record for section id {section_id} without a START"),
            ));
        };
        if idstr == "ram" {
            self.ram_records(false).map_err(|e| e.in_section(&key))?;
            if ty == rec::END {
                self.sink.ram_end()?;
            }
        } else {
            self.other_iterable(&idstr, &key, false)?;
        }
        self.footer(section_id, &key)
    }

    fn other_iterable(&mut self, idstr: &str, key: &str, start: bool) -> Result<()> {
        if idstr == "spapr/htab" {
            self.htab().map_err(|e| e.in_section(key))?;
            if start {
                // No vmdesc entry describes it; upstream prints an empty string too.
                self.sink.section(key, Value::String(String::new()))?;
                self.summary.warnings.push(format!(
                    "section '{key}' (hash page table) skipped by its framing"
                ));
            }
            return Ok(());
        }
        Err(StreamError::unsupported(
            self.input.pos(),
            format!("iterable section '{idstr}' has no vmdesc entry and its encoding is not known to this reader"),
        )
        .in_section(key))
    }

    /// `spapr/htab` (hw/ppc/spapr.c `htab_save_*`): be32 header: -1 = no hash table,
    /// non-zero = the table's shift (first section), 0 = chunks of (be32 index, be16 valid,
    /// be16 invalid, valid × 16 bytes of HPTEs) up to an all-zero end marker.
    fn htab(&mut self) -> Result<()> {
        let hdr = self.input.be32()?;
        if hdr != 0 {
            return Ok(());
        }
        loop {
            let index = self.input.be32()?;
            let n_valid = self.input.be16()? as u64;
            let n_invalid = self.input.be16()?;
            if index == 0 && n_valid == 0 && n_invalid == 0 {
                return Ok(());
            }
            self.input.skip(n_valid * 16)?;
        }
    }

    fn command(&mut self, at: u64) -> Result<()> {
        let cmd = self.input.be16()?;
        let len = self.input.be16()? as u64;
        self.summary.commands.push((at, cmd));
        let name = COMMAND_NAMES.get(cmd as usize).copied().unwrap_or("?");
        let data = self.input.bytes(len, 0xffff)?;
        let bad_len = |want: &str| {
            StreamError::invalid(
                at,
                format!("command {name} with {len} data bytes, expected {want}"),
            )
        };
        match cmd {
            1 | 4 | 5 | 8 | 9 | 11 => {
                if len != 0 {
                    return Err(bad_len("0"));
                }
            }
            2 => {
                if len != 4 {
                    return Err(bad_len("4"));
                }
            }
            3 => {
                if len == 16 {
                    let summary = u64::from_be_bytes(data[0..8].try_into().unwrap_or([0; 8]));
                    let tps = u64::from_be_bytes(data[8..16].try_into().unwrap_or([0; 8]));
                    self.ram.postcopy_summary = Some(summary);
                    if !self.page_size_known
                        && tps.is_power_of_two()
                        && (512..=1 << 20).contains(&tps)
                    {
                        self.page_size = tps;
                        self.page_size_known = true;
                    }
                } else if len != 0 {
                    return Err(bad_len("0 or 16"));
                }
            }
            6 | 10 => {}
            7 => {
                if len != 4 {
                    return Err(bad_len("4"));
                }
                let n = u32::from_be_bytes(data[0..4].try_into().unwrap_or([0; 4])) as u64;
                if n > MAX_PACKAGED {
                    return Err(StreamError::invalid(
                        at,
                        format!("PACKAGED length {n} exceeds 16 MiB"),
                    ));
                }
                let start = self.input.pos();
                let end = start + n;
                if self.input.limit().is_some_and(|outer| end > outer) {
                    return Err(StreamError::invalid(
                        at,
                        "PACKAGED stream runs past the end of its enclosing package",
                    ));
                }
                // QEMU never nests packages; a few levels are tolerated, not a stack overflow.
                if self.package_depth >= 4 {
                    return Err(StreamError::invalid(
                        at,
                        "PACKAGED streams nested too deeply",
                    ));
                }
                self.package_depth += 1;
                let prev = self.input.push_limit(end);
                let r = self.records();
                self.input.pop_limit(prev);
                self.package_depth -= 1;
                r.map_err(|e| e.in_section("PACKAGED"))?;
                let pos = self.input.pos();
                if pos < end {
                    self.input.skip(end - pos)?;
                }
            }
            _ => {
                return Err(StreamError::invalid(at, format!("unknown command {cmd}")));
            }
        }
        Ok(())
    }

    fn block_of(&mut self, at: u64, fl: u64) -> Result<usize> {
        if fl & flags::CONTINUE != 0 {
            return self.ram.current.ok_or_else(|| {
                StreamError::invalid(at, "RAM CONTINUE flag before any block was named")
            });
        }
        let name = self.input.counted_string()?;
        let idx = self
            .summary
            .blocks
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| StreamError::invalid(at, format!("unknown RAM block '{name}'")))?;
        self.ram.current = Some(idx);
        Ok(idx)
    }

    fn check_page(&self, at: u64, block: usize, offset: u64) -> Result<()> {
        let b = &self.summary.blocks[block];
        if offset
            .checked_add(self.page_size)
            .is_none_or(|e| e > b.used_length)
        {
            return Err(StreamError::invalid(
                at,
                format!(
                    "RAM offset 0x{offset:x} outside block '{}' (0x{:x} bytes)",
                    b.name, b.used_length
                ),
            ));
        }
        Ok(())
    }

    /// Reads RAM records up to and including EOS.
    fn ram_records(&mut self, start: bool) -> Result<()> {
        let mask = self.page_size - 1;
        let wants = self.sink.wants_pages();
        loop {
            let at = self.input.pos();
            let word = self.input.be64()?;
            self.tick();
            let fl = word & mask;
            let addr = word & !mask;
            match fl & !flags::CONTINUE {
                flags::MEM_SIZE => {
                    if !start || !self.summary.blocks.is_empty() {
                        return Err(StreamError::invalid(at, "second RAM block list"));
                    }
                    self.block_list(addr)?;
                    let key = self.ram.key.clone();
                    self.sink
                        .ram_start(&key, &self.summary.blocks, self.page_size)?;
                    self.mapped_ram_pages()?;
                }
                flags::ZERO => {
                    let b = self.block_of(at, fl)?;
                    let fill = self.input.u8()?;
                    self.check_page(at, b, addr)?;
                    self.sink.ram_page(b, addr, Page::Fill(fill))?;
                }
                flags::PAGE => {
                    let b = self.block_of(at, fl)?;
                    self.check_page(at, b, addr)?;
                    if wants {
                        let mut buf = std::mem::take(&mut self.ram.page_buf);
                        buf.resize(self.page_size as usize, 0);
                        let r = self.input.read_exact(&mut buf);
                        let r = r.and_then(|_| self.sink.ram_page(b, addr, Page::Data(&buf)));
                        self.ram.page_buf = buf;
                        r?;
                    } else {
                        self.input.skip(self.page_size)?;
                    }
                }
                flags::XBZRLE => {
                    let b = self.block_of(at, fl)?;
                    self.check_page(at, b, addr)?;
                    let enc = self.input.u8()?;
                    if enc != 1 {
                        return Err(StreamError::invalid(
                            at,
                            format!("XBZRLE encoding flag {enc}, expected 1"),
                        ));
                    }
                    let n = self.input.be16()? as u64;
                    if n > self.page_size {
                        return Err(StreamError::invalid(
                            at,
                            format!("XBZRLE delta of {n} bytes exceeds the page size"),
                        ));
                    }
                    let delta = self.input.bytes(n, self.page_size)?;
                    self.sink.ram_page(b, addr, Page::Xbzrle(&delta))?;
                }
                flags::COMPRESS_PAGE => {
                    let b = self.block_of(at, fl)?;
                    self.check_page(at, b, addr)?;
                    let n = self.input.be32()? as u64;
                    // zlib's compressBound for one page, generously rounded.
                    let max = self.page_size * 2 + 64;
                    let data = self.input.bytes(n, max)?;
                    let mut page = Vec::with_capacity(self.page_size as usize);
                    let mut z = flate2::read::ZlibDecoder::new(&data[..]);
                    use std::io::Read;
                    let ok = (&mut z)
                        .take(self.page_size + 1)
                        .read_to_end(&mut page)
                        .is_ok();
                    if !ok || page.len() as u64 != self.page_size {
                        return Err(StreamError::invalid(
                            at,
                            "compressed RAM page does not inflate to one page",
                        ));
                    }
                    self.sink.ram_page(b, addr, Page::Data(&page))?;
                }
                flags::EOS => return Ok(()),
                flags::MULTIFD_FLUSH => {}
                flags::HOOK => {
                    return Err(StreamError::unsupported(at, "RAM hook record (RDMA)"));
                }
                flags::FULL => {
                    return Err(StreamError::unsupported(at, "obsolete RAM FULL record"));
                }
                other => {
                    return Err(StreamError::invalid(
                        at,
                        format!("invalid RAM record flags 0x{other:x}"),
                    ));
                }
            }
        }
    }

    fn block_list(&mut self, total: u64) -> Result<()> {
        let ignore_shared = self.capability("x-ignore-shared");
        let mapped = self.capability("mapped-ram");
        // Host page size: the smallest size in the postcopy page-size summary.
        let postcopy = self.ram.postcopy_summary;
        let host_page = postcopy.map(|s| {
            if s == 0 {
                0
            } else {
                1u64 << s.trailing_zeros()
            }
        });
        let mut sum: u64 = 0;
        while sum < total {
            let at = self.input.pos();
            if self.summary.blocks.len() >= MAX_BLOCKS {
                return Err(StreamError::invalid(at, "too many RAM blocks"));
            }
            let name = self.input.counted_string()?;
            let used = self.input.be64()?;
            let mut block = RamBlock {
                name,
                used_length: used,
                page_size: None,
                addr: None,
                mapped: None,
            };
            if let (Some(summary), Some(host)) = (postcopy, host_page) {
                // A block page size is sent only for blocks whose page size differs from the
                // host's; the stream does not flag it, so look for a plausible value.
                if summary.count_ones() > 1
                    && self.input.peek_u8()? == Some(0)
                    && self.input.seekable()
                {
                    let mut b = [0u8; 8];
                    self.input.read_at(self.input.pos(), &mut b)?;
                    let v = u64::from_be_bytes(b);
                    if v != host && v.is_power_of_two() && summary & v != 0 {
                        self.input.skip(8)?;
                        block.page_size = Some(v);
                    }
                }
            }
            if ignore_shared {
                block.addr = Some(self.input.be64()?);
            }
            if mapped {
                let version = self.input.be32()?;
                let page_size = self.input.be64()?;
                let bitmap_offset = self.input.be64()?;
                let pages_offset = self.input.be64()?;
                if version != 1 {
                    return Err(StreamError::unsupported(
                        at,
                        format!("mapped-ram header version {version}"),
                    ));
                }
                if page_size != self.page_size {
                    return Err(StreamError::invalid(
                        at,
                        format!(
                            "mapped-ram page size {page_size}, stream page size {}",
                            self.page_size
                        ),
                    ));
                }
                let next = pages_offset
                    .checked_add(used)
                    .ok_or_else(|| StreamError::invalid(at, "mapped-ram offsets overflow"))?;
                block.mapped = Some(MappedRam {
                    version,
                    page_size,
                    bitmap_offset,
                    pages_offset,
                });
                // The stream goes on after this block's page area.
                if !self.input.seekable() {
                    return Err(StreamError::unsupported(
                        at,
                        "mapped-ram streams need random access; pass a file, not a pipe",
                    ));
                }
                self.input.seek_to(next)?;
            }
            sum = sum
                .checked_add(used)
                .filter(|s| *s <= total)
                .ok_or_else(|| {
                    StreamError::invalid(
                        at,
                        format!(
                            "RAM block '{}' makes the blocks larger than the total 0x{total:x}",
                            block.name
                        ),
                    )
                })?;
            self.summary.blocks.push(block);
        }
        Ok(())
    }

    /// mapped-ram: every page of every block, from the bitmap (unset = zero page).
    fn mapped_ram_pages(&mut self) -> Result<()> {
        if !self.sink.wants_pages() || self.summary.blocks.iter().all(|b| b.mapped.is_none()) {
            return Ok(());
        }
        let back = self.input.pos();
        let ps = self.page_size;
        let mut page = vec![0u8; ps as usize];
        let mut bits = vec![0u8; 64 * 1024];
        for bi in 0..self.summary.blocks.len() {
            let Some(m) = self.summary.blocks[bi].mapped.clone() else {
                continue;
            };
            let npages = self.summary.blocks[bi].used_length / ps;
            let mut p = 0u64;
            while p < npages {
                // One chunk of the bitmap (little-endian words: bit i = page i on x86).
                let chunk_pages = (npages - p).min(bits.len() as u64 * 8);
                let nbytes = chunk_pages.div_ceil(64) * 8;
                let at = m.bitmap_offset.saturating_add(p / 8);
                self.input.seek_to(at)?;
                self.input
                    .read_exact(&mut bits[..nbytes as usize])
                    .map_err(|e| e.at_path("mapped-ram bitmap"))?;
                for i in 0..chunk_pages {
                    let set = bits[(i / 8) as usize] & (1 << (i % 8)) != 0;
                    let off = (p + i) * ps;
                    if set {
                        self.input.seek_to(m.pages_offset.saturating_add(off))?;
                        self.input.read_exact(&mut page)?;
                        self.sink.ram_page(bi, off, Page::Data(&page))?;
                    } else {
                        self.sink.ram_page(bi, off, Page::Fill(0))?;
                    }
                }
                p += chunk_pages;
            }
        }
        self.input.seek_to(back)
    }
}
