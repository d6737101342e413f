//! Record-by-record walk over a migration stream: header, configuration, commands, sections,
//! RAM, EOF and vmdesc (migration/savevm.c `qemu_loadvm_state`, migration/ram.c
//! `ram_load_precopy`, hw/s390x/s390-stattrib.c `cmma_load`, hw/ppc/spapr.c `htab_load`).
//! Decoded data, warnings and progress go to a [`Sink`]; what was seen is kept in a
//! [`Summary`] (used by `--against`).

use super::device::PayloadDecoder;
use super::error::{ErrorKind, Result, StreamError};
use super::input::Input;
use super::json::DiscardValues;
use super::ram::{flags, xbzrle_check, MappedRam, Page, RamBlock};
pub use super::sink::{IterableState, NullSink, Sink, Warning};
use super::vmdesc::{self, Vmdesc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

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
/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 8192;

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

/// An iterable handler other than `ram`, remembered from its START for its PART/END.
struct Iterable {
    key: String,
    /// None for `ram` (its state is [`RamState`]).
    state: Option<IterableState>,
}

/// Walks one stream.
pub struct Decoder<'a> {
    input: Input,
    sink: &'a mut dyn Sink,
    /// The vmdesc, once located.
    pub vmdesc: Option<Vmdesc>,
    vmdesc_searched: bool,
    /// Unused vmdesc device entries per (name, instance id), in vmdesc order: FULL sections
    /// take them in order (duplicate keys exist: 7.2 `slirp` 0/0).
    unused_devices: HashMap<(String, u64), VecDeque<usize>>,
    /// Record-level findings.
    pub summary: Summary,
    ram: RamState,
    page_size: u64,
    page_size_known: bool,
    /// Section id → the iterable handler that START named, for PART/END.
    iterables: HashMap<u32, Iterable>,
    /// Zero-size vmdesc elements still allowed (they cost work but no stream bytes).
    empty_budget: u64,
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
            unused_devices: HashMap::new(),
            summary: Summary::default(),
            ram: RamState::default(),
            page_size: DEFAULT_PAGE_SIZE,
            page_size_known: false,
            iterables: HashMap::new(),
            empty_budget: 1 << 20,
            records: 0,
            lenient: false,
            package_depth: 0,
        }
    }

    /// True when the input supports random access.
    pub fn seekable(&self) -> bool {
        self.input.seekable()
    }

    /// Gives back the input (to reuse it after probing for the vmdesc).
    pub fn into_input(self) -> Input {
        self.input
    }

    /// Gives back the input and the vmdesc found by a probe, for [`Decoder::set_vmdesc`].
    pub fn into_input_and_vmdesc(self) -> (Input, Option<Vmdesc>) {
        (self.input, self.vmdesc)
    }

    /// Uses a vmdesc found by an earlier probe of the same input instead of searching again.
    pub fn set_vmdesc(&mut self, vmdesc: Option<Vmdesc>) {
        self.vmdesc = vmdesc;
        self.vmdesc_searched = true;
        self.install_vmdesc();
    }

    /// Indexes the vmdesc devices by (name, instance id) and takes its page size.
    fn install_vmdesc(&mut self) {
        let Some(d) = &self.vmdesc else {
            return;
        };
        self.unused_devices.clear();
        for (i, dev) in d.devices().iter().enumerate() {
            let name = dev.get("name").and_then(Value::as_str);
            let inst = dev.get("instance_id").and_then(Value::as_u64);
            if let (Some(name), Some(inst)) = (name, inst) {
                self.unused_devices
                    .entry((name.to_string(), inst))
                    .or_default()
                    .push_back(i);
            }
        }
        if let Some(p) = d.page_size() {
            self.page_size = p;
            self.page_size_known = true;
        }
    }

    /// Current read offset.
    pub fn pos(&self) -> u64 {
        self.input.pos()
    }

    /// Locates the vmdesc now (files: scan from the end; pipes: buffer the rest first).
    pub fn find_vmdesc(&mut self) -> Result<Option<&Vmdesc>> {
        if !self.vmdesc_searched {
            self.vmdesc_searched = true;
            self.input.buffer_rest()?;
            self.vmdesc = vmdesc::locate(&mut self.input)?;
            self.install_vmdesc();
        }
        Ok(self.vmdesc.as_ref())
    }

    /// Checks the file header (magic, version) and then locates the vmdesc: what `-d desc`
    /// and `--extract` need before decoding, so that a file that is not a migration stream
    /// is refused even when it happens to end like one.
    pub fn header_and_vmdesc(&mut self) -> Result<Option<&Vmdesc>> {
        if self.input.pos() == 0 {
            self.header()?;
        }
        self.find_vmdesc()
    }

    fn header(&mut self) -> Result<()> {
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
        Ok(())
    }

    /// Decodes the whole stream; the sink's `finish` comes last, also after an error.
    pub fn run(&mut self) -> Result<()> {
        let r = self.run_inner();
        let fin = self.sink.finish();
        r.and(fin)
    }

    fn run_inner(&mut self) -> Result<()> {
        if self.input.pos() == 0 {
            self.header()?;
        }
        // Files: find the vmdesc up front (page size, device layouts); pipes do it lazily.
        if self.input.seekable() {
            self.find_vmdesc()?;
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
        self.records()
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
                    let mut discard = DiscardValues;
                    let mut pd = PayloadDecoder::new(&mut self.input, &mut discard);
                    pd.empty_budget = self.empty_budget;
                    let r = pd.vmsd(&desc);
                    self.empty_budget = pd.empty_budget;
                    r?;
                    self.sink.warning(Warning::ConfigurationSubsection {
                        name: other.to_string(),
                    });
                }
            }
        }
        Ok(cfg)
    }

    fn tick(&mut self) -> Result<()> {
        self.records += 1;
        if self.records % PROGRESS_EVERY == 0 {
            let pos = self.input.pos();
            if !self.sink.progress(pos, self.input.len()) {
                return Err(StreamError::new(pos, ErrorKind::Stopped));
            }
        }
        Ok(())
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
            self.tick()?;
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
                    self.sink.warning(Warning::BytesAfterVmdesc {
                        offset: self.input.pos(),
                    });
                }
                Ok(())
            }
            Some(byte) => {
                self.sink
                    .warning(Warning::ByteAfterEof { offset: at, byte });
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
            self.summary.sections.push(info);
            if idstr == "ram" {
                if version != 4 {
                    return Err(StreamError::unsupported(
                        at,
                        format!("RAM section version {version} (only 4 exists)"),
                    )
                    .in_section(&key));
                }
                self.iterables.insert(
                    section_id,
                    Iterable {
                        key: key.clone(),
                        state: None,
                    },
                );
                self.ram.section_id = Some(section_id);
                self.ram.key = key.clone();
                self.ram_records(true).map_err(|e| e.in_section(&key))?;
            } else {
                let state = match idstr.as_str() {
                    "s390-storage_attributes" if version == 0 => IterableState::StorageAttributes {
                        runs: 0,
                        pages: 0,
                        end_gfn: 0,
                        done: false,
                    },
                    "spapr/htab" if version == 1 => IterableState::HashPageTable {
                        shift: None,
                        chunks: 0,
                        valid: 0,
                        invalid: 0,
                    },
                    "s390-storage_attributes" | "spapr/htab" => {
                        return Err(StreamError::unsupported(
                            at,
                            format!("section '{idstr}' version {version} (QEMU writes and loads only version {})",
                                if idstr == "spapr/htab" { 1 } else { 0 }),
                        )
                        .in_section(&key))
                    }
                    _ => {
                        return Err(StreamError::unsupported(
                            self.input.pos(),
                            format!("iterable section '{idstr}' has no vmdesc entry and its encoding is not known to this reader"),
                        )
                        .in_section(&key))
                    }
                };
                self.sink.iterable_start(&key)?;
                let mut it = Iterable {
                    key: key.clone(),
                    state: Some(state),
                };
                let r = self.iterable_records(&mut it, true);
                self.iterables.insert(section_id, it);
                r.map_err(|e| e.in_section(&key))?;
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
        let Some(desc) = self.vmdesc.as_ref().and_then(|d| d.devices().get(dev)) else {
            return Err(StreamError::invalid(at, "vmdesc device entry vanished"));
        };
        if let Some(v) = desc.get("version").and_then(Value::as_u64) {
            if v != version as u64 {
                self.sink.warning(Warning::SectionVersion {
                    section: key.clone(),
                    stream: version,
                    vmdesc: v,
                });
            }
        }
        let size = desc.get("size").and_then(Value::as_u64);
        let start = self.input.pos();
        self.sink.section_begin(&key)?;
        let mut pd = PayloadDecoder::new(&mut self.input, self.sink.values());
        pd.lenient = self.lenient;
        pd.footer_id = Some(section_id);
        pd.empty_budget = self.empty_budget;
        let r = pd.vmsd(desc);
        self.empty_budget = pd.empty_budget;
        let warnings = std::mem::take(&mut pd.warnings);
        if self.lenient {
            info.subsections = std::mem::take(&mut pd.subsections_seen);
        }
        self.summary.sections.push(info);
        r.map_err(|e| e.in_section(&key))?;
        self.sink.section_end(&key)?;
        for w in warnings {
            self.sink.warning(Warning::Payload {
                section: key.clone(),
                warning: w,
            });
        }
        if let Some(size) = size {
            let used = self.input.pos() - start;
            if used != size {
                self.sink.warning(Warning::SectionSize {
                    section: key.clone(),
                    vmdesc: size,
                    decoded: used,
                });
            }
        }
        self.footer(section_id, &key)
    }

    /// Picks the vmdesc device entry of a FULL section: the first unused entry with its name
    /// and instance id (duplicate pairs are taken in vmdesc order). Constant time per
    /// section, so a stream of many sections stays linear.
    fn match_device(&mut self, idstr: &str, instance: u32) -> Option<usize> {
        self.unused_devices
            .get_mut(&(idstr.to_string(), instance as u64))?
            .pop_front()
    }

    fn section_part_end(&mut self, at: u64, ty: u8) -> Result<()> {
        let section_id = self.input.be32()?;
        let Some(mut it) = self.iterables.remove(&section_id) else {
            return Err(StreamError::invalid(
                at,
                format!("PART/END record for section id {section_id} without a START"),
            ));
        };
        let key = it.key.clone();
        let r = if it.state.is_none() {
            self.ram_records(false).and_then(|()| {
                if ty == rec::END {
                    self.sink.ram_end()
                } else {
                    Ok(())
                }
            })
        } else {
            self.iterable_records(&mut it, false)
                .and_then(|()| match &it.state {
                    Some(state) if ty == rec::END => self.sink.iterable_end(&key, state),
                    _ => Ok(()),
                })
        };
        // An END closes the handler: a later PART/END for its id has no START.
        if ty != rec::END {
            self.iterables.insert(section_id, it);
        }
        r.map_err(|e| e.in_section(&key))?;
        self.footer(section_id, &key)
    }

    /// The payload of one START/PART/END section of an iterable handler other than `ram`.
    fn iterable_records(&mut self, it: &mut Iterable, start: bool) -> Result<()> {
        match &mut it.state {
            Some(state @ IterableState::StorageAttributes { .. }) => self.storage_attributes(state),
            Some(state @ IterableState::HashPageTable { .. }) => self.htab(state, start),
            None => Ok(()),
        }
    }

    /// `s390-storage_attributes` (hw/s390x/s390-stattrib.c `cmma_save`, `cmma_load`): be64
    /// words whose bits below the target page size are flags, up to EOS: MORE = the page
    /// number in the upper bits, be64 count, then one attribute byte per page; DONE after
    /// the final pass; ERROR = the source could not read them (the load fails).
    fn storage_attributes(&mut self, state: &mut IterableState) -> Result<()> {
        const EOS: u64 = 0x01;
        const MORE: u64 = 0x02;
        const ERROR: u64 = 0x04;
        const DONE: u64 = 0x08;
        let IterableState::StorageAttributes {
            runs,
            pages,
            end_gfn,
            done,
        } = state
        else {
            return Ok(());
        };
        let mask = self.page_size - 1;
        loop {
            let at = self.input.pos();
            let word = self.input.be64()?;
            self.tick()?;
            match word & mask {
                EOS => return Ok(()),
                DONE => *done = true,
                MORE => {
                    let gfn = (word & !mask) / self.page_size;
                    let count = self.input.be64()?;
                    let end = gfn.checked_add(count).ok_or_else(|| {
                        StreamError::invalid(at, format!("storage attributes for {count} pages from page 0x{gfn:x} overflow"))
                    })?;
                    self.input.skip(count)?;
                    *runs += 1;
                    *pages += count;
                    *end_gfn = (*end_gfn).max(end);
                }
                ERROR => {
                    return Err(StreamError::invalid(
                        at,
                        "the source reported its storage attributes incomplete (the load fails: 'Storage attributes data is incomplete')",
                    ))
                }
                other => {
                    return Err(StreamError::invalid(
                        at,
                        format!("unexpected storage attribute flags 0x{other:x}"),
                    ))
                }
            }
        }
    }

    /// `spapr/htab` (hw/ppc/spapr.c `htab_save_setup`, `htab_save_iterate`,
    /// `htab_save_complete`, `htab_load`): be32 header: -1 = no hash table (radix guest),
    /// non-zero = log2 of the table size (the START section: nothing follows), 0 = chunks of
    /// (be32 index, be16 valid, be16 invalid, valid × 16 bytes of HPTEs) up to an all-zero
    /// end marker. Each chunk must lie inside the table, as `htab_load` checks.
    fn htab(&mut self, state: &mut IterableState, start: bool) -> Result<()> {
        const HPTE_SIZE: u64 = 16;
        let IterableState::HashPageTable {
            shift,
            chunks,
            valid,
            invalid,
        } = state
        else {
            return Ok(());
        };
        let at = self.input.pos();
        let hdr = self.input.be32()?;
        if hdr == u32::MAX {
            *shift = None;
            return Ok(());
        }
        if hdr != 0 {
            // QEMU reallocates the table to this size (spapr_reallocate_hpt); sane orders
            // lie between 2^18 (256 KiB, the minimum) and 2^46.
            if !(18..=46).contains(&hdr) {
                return Err(StreamError::invalid(
                    at,
                    format!("hash page table order {hdr} (QEMU allocates 2^18 .. 2^46 bytes)"),
                ));
            }
            *shift = Some(hdr);
            return Ok(());
        }
        if start {
            return Err(StreamError::invalid(
                at,
                "hash page table chunks in the START section (QEMU sends the table size first)",
            ));
        }
        let Some(order) = *shift else {
            return Err(StreamError::invalid(
                at,
                "hash page table chunks, but the source announced no hash table",
            ));
        };
        let slots = (1u64 << order) / HPTE_SIZE;
        loop {
            let at = self.input.pos();
            let index = self.input.be32()? as u64;
            let n_valid = self.input.be16()? as u64;
            let n_invalid = self.input.be16()? as u64;
            self.tick()?;
            if index == 0 && n_valid == 0 && n_invalid == 0 {
                return Ok(());
            }
            if index + n_valid + n_invalid > slots {
                return Err(StreamError::invalid(
                    at,
                    format!(
                        "hash page table chunk at index {index} ({n_valid}+{n_invalid} entries) outside the table of {slots} entries (htab_shift {order}); QEMU refuses it ('htab_load() bad index')"
                    ),
                ));
            }
            self.input.skip(n_valid * HPTE_SIZE)?;
            *chunks += 1;
            *valid += n_valid;
            *invalid += n_invalid;
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
            self.tick()?;
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
                    if let Err(why) = xbzrle_check(&delta, self.page_size as usize) {
                        return Err(StreamError::invalid(
                            at,
                            format!("malformed XBZRLE delta for page 0x{addr:x}: {why}"),
                        ));
                    }
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
