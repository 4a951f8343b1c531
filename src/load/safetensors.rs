//! Zero-copy safetensors reading on a memory map, and a small writer.
//!
//! Format: an 8-byte little-endian header length N, N bytes of JSON header
//! (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
//! then the data section; offsets are relative to the data section's start.
//!
//! Everything in the header is validated before any tensor is touched: header length against the
//! file size (capped at 100 MB as the reference implementation does), JSON shape, duplicate names,
//! dtype names, shape × dtype size against the byte range (overflow-safe), ranges inside the data
//! section, and that the ranges tile the data section exactly (no overlap, no gap).
//!
//! F32 tensors whose bytes are 4-aligned in the file are borrowed straight out of the map; a
//! misaligned F32 tensor, and F16/BF16 tensors (converted), are copied.
#![allow(unsafe_code)] // The memory map is the one place outside the kernels that needs `unsafe`.

use crate::error::{Error, Result};
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest header accepted, as in the `safetensors` reference implementation.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Element types a safetensors file may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E4M3,
    F8E5M2,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "BOOL" => Dtype::Bool,
            "U8" => Dtype::U8,
            "I8" => Dtype::I8,
            "F8_E4M3" => Dtype::F8E4M3,
            "F8_E5M2" => Dtype::F8E5M2,
            "I16" => Dtype::I16,
            "U16" => Dtype::U16,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I32" => Dtype::I32,
            "U32" => Dtype::U32,
            "F32" => Dtype::F32,
            "F64" => Dtype::F64,
            "I64" => Dtype::I64,
            "U64" => Dtype::U64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E4M3 | Dtype::F8E5M2 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// The name the header uses.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }
}

/// Where a tensor's f32 values live.
enum Storage {
    /// Borrowed from the memory map: `bytes` is a 4-aligned byte range of the map.
    Mapped { map: Arc<Mmap>, bytes: Range<usize> },
    /// Owned copy (misaligned or converted tensors, synthetic weights).
    Owned(Vec<f32>),
}

/// An f32 tensor: shape plus values, either borrowed from a memory-mapped file or owned.
/// Cloning is cheap (the values are shared).
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    storage: Arc<Storage>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl Tensor {
    /// An owned tensor.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`.
    pub fn from_vec(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor shape/data mismatch"
        );
        Tensor {
            shape,
            storage: Arc::new(Storage::Owned(data)),
        }
    }

    /// A tensor of no values (shape `[0]`), a placeholder until the real one is loaded.
    pub(crate) fn empty() -> Self {
        Tensor::from_vec(vec![0], Vec::new())
    }

    /// Dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        match &*self.storage {
            // Alignment and length were checked when the tensor was made, so this cannot fail.
            Storage::Mapped { map, bytes } => bytemuck::cast_slice(&map[bytes.clone()]),
            Storage::Owned(v) => v,
        }
    }

    /// This tensor with its values copied out of the memory map, if they were in one (so that
    /// the map can be released).
    pub fn to_owned_values(&self) -> Tensor {
        if self.is_mapped() {
            Tensor::from_vec(self.shape.clone(), self.data().to_vec())
        } else {
            self.clone()
        }
    }

    /// Whether the values are borrowed from a memory map (no copy was made).
    pub fn is_mapped(&self) -> bool {
        matches!(&*self.storage, Storage::Mapped { .. })
    }
}

impl AsRef<[f32]> for Tensor {
    fn as_ref(&self) -> &[f32] {
        self.data()
    }
}

/// Header entry of one tensor, validated.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Byte range within the data section.
    pub data_offsets: (usize, usize),
}

/// A safetensors file, memory-mapped and validated.
pub struct SafeTensors {
    path: PathBuf,
    map: Arc<Mmap>,
    data_start: usize,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl fmt::Debug for SafeTensors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafeTensors")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl SafeTensors {
    /// Maps `path` read-only and validates its header.
    ///
    /// The file must not be truncated or rewritten while the returned value (or any tensor
    /// borrowed from it) is alive: the OS would deliver SIGBUS on access to vanished pages.
    /// Replace weight files by writing a new file and renaming it over the old one, which leaves
    /// existing maps intact.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened or mapped, [`Error::Format`] if its header is
    /// invalid.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only and private to this process. Its contents are only
        // undefined if another process truncates or rewrites the file while it is mapped, which
        // the documentation above forbids; every byte is validated before use regardless.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (data_start, tensors, metadata) =
            parse_header(&map).map_err(|message| Error::Format {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(SafeTensors {
            path: path.to_path_buf(),
            map: Arc::new(map),
            data_start,
            tensors,
            metadata,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's `__metadata__` (string → string), empty if absent.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Every tensor's header entry, by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }

    /// Address range of the whole map, for checking that borrowed tensors point into it.
    pub fn mapped_address_range(&self) -> Range<usize> {
        let start = self.map.as_ptr() as usize;
        start..start + self.map.len()
    }

    /// The tensor `name` as f32: borrowed from the map if it is F32 and 4-aligned, else copied
    /// (and converted from F16/BF16).
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if absent, [`Error::Dtype`] for dtypes other than F32/F16/BF16.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        let start = self.data_start + info.data_offsets.0;
        let end = self.data_start + info.data_offsets.1;
        let bytes = &self.map[start..end];
        let storage = match info.dtype {
            Dtype::F32 if cfg!(target_endian = "little") && start.is_multiple_of(4) => {
                Storage::Mapped {
                    map: Arc::clone(&self.map),
                    bytes: start..end,
                }
            }
            Dtype::F32 => Storage::Owned(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Dtype::F16 => Storage::Owned(
                bytes
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Dtype::BF16 => Storage::Owned(
                bytes
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            other => {
                return Err(Error::Dtype {
                    name: name.to_string(),
                    dtype: other.name().into(),
                })
            }
        };
        Ok(Tensor {
            shape: info.shape.clone(),
            storage: Arc::new(storage),
        })
    }
}

/// The raw values of a tensor of a 1- or 2-byte integer dtype (BF16 bit patterns, I8), borrowed
/// from the memory map when aligned (else copied). Cloning is cheap.
#[derive(Clone)]
pub struct RawTensor<T: bytemuck::Pod> {
    shape: Vec<usize>,
    storage: Arc<RawStorage<T>>,
}

/// The bf16 bit patterns of a BF16 tensor.
pub type Bf16Tensor = RawTensor<u16>;

/// The values of an I8 tensor (int8 panels of a packed file).
pub type I8Tensor = RawTensor<i8>;

enum RawStorage<T> {
    Mapped { map: Arc<Mmap>, bytes: Range<usize> },
    Owned(Vec<T>),
}

impl<T: bytemuck::Pod> RawTensor<T> {
    /// An owned tensor.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`.
    pub fn from_vec(shape: Vec<usize>, data: Vec<T>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor shape/data mismatch"
        );
        RawTensor {
            shape,
            storage: Arc::new(RawStorage::Owned(data)),
        }
    }

    /// This tensor with its values copied out of the memory map, if they were in one.
    pub fn to_owned_values(&self) -> Self {
        if self.is_mapped() {
            RawTensor::from_vec(self.shape.clone(), self.data().to_vec())
        } else {
            self.clone()
        }
    }

    /// Dimensions, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[T] {
        match &*self.storage {
            // Alignment and length were checked when the tensor was made, so this cannot fail.
            RawStorage::Mapped { map, bytes } => bytemuck::cast_slice(&map[bytes.clone()]),
            RawStorage::Owned(v) => v,
        }
    }

    /// Whether the values are borrowed from a memory map.
    pub fn is_mapped(&self) -> bool {
        matches!(&*self.storage, RawStorage::Mapped { .. })
    }
}

impl<T: bytemuck::Pod> AsRef<[T]> for RawTensor<T> {
    fn as_ref(&self) -> &[T] {
        self.data()
    }
}

impl<T: bytemuck::Pod> fmt::Debug for RawTensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawTensor")
            .field("shape", &self.shape)
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl SafeTensors {
    /// The BF16 tensor `name` as raw bf16 bits, borrowed from the map when 2-aligned.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if absent, [`Error::Dtype`] if it is not BF16.
    pub fn tensor_bf16(&self, name: &str) -> Result<Bf16Tensor> {
        self.tensor_raw(name, Dtype::BF16, |b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// The I8 tensor `name`, borrowed from the map.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if absent, [`Error::Dtype`] if it is not I8.
    pub fn tensor_i8(&self, name: &str) -> Result<I8Tensor> {
        self.tensor_raw(name, Dtype::I8, |b| b[0] as i8)
    }

    /// The tensor `name` of `dtype` as raw `T` values (`decode` reads one little-endian value
    /// where the bytes cannot be borrowed).
    fn tensor_raw<T: bytemuck::Pod>(
        &self,
        name: &str,
        dtype: Dtype,
        decode: fn(&[u8]) -> T,
    ) -> Result<RawTensor<T>> {
        let info = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        if info.dtype != dtype {
            return Err(Error::Dtype {
                name: name.to_string(),
                dtype: info.dtype.name().into(),
            });
        }
        let size = std::mem::size_of::<T>();
        debug_assert_eq!(size, dtype.size());
        let start = self.data_start + info.data_offsets.0;
        let end = self.data_start + info.data_offsets.1;
        let storage = if cfg!(target_endian = "little") && start.is_multiple_of(size) {
            RawStorage::Mapped {
                map: Arc::clone(&self.map),
                bytes: start..end,
            }
        } else {
            RawStorage::Owned(
                self.map[start..end]
                    .chunks_exact(size)
                    .map(decode)
                    .collect(),
            )
        };
        Ok(RawTensor {
            shape: info.shape.clone(),
            storage: Arc::new(storage),
        })
    }
}

/// One header entry as written; unknown fields are an error.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// The header's top-level object, keeping duplicates visible (serde_json's maps drop them).
struct RawHeader(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for RawHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawHeader, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(RawHeader(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// A validated header: the data section's start, the tensors, the `__metadata__`.
pub type Header = (
    usize,
    BTreeMap<String, TensorInfo>,
    BTreeMap<String, String>,
);

/// Validates the header of a whole safetensors file (all of its bytes); returns the data
/// section's start, the tensors and the metadata.
///
/// # Errors
/// A message saying what is wrong (the text of [`Error::Format`]).
pub fn parse_header(file: &[u8]) -> std::result::Result<Header, String> {
    if file.len() < 8 {
        return Err(format!(
            "file is {} bytes, too short for the 8-byte header length",
            file.len()
        ));
    }
    let n = u64::from_le_bytes(file[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER_LEN {
        return Err(format!(
            "header length {n} exceeds the {MAX_HEADER_LEN}-byte limit"
        ));
    }
    let n = n as usize;
    if 8 + n > file.len() {
        return Err(format!(
            "header length {n} runs past the end of the {}-byte file",
            file.len()
        ));
    }
    let header =
        std::str::from_utf8(&file[8..8 + n]).map_err(|e| format!("header is not UTF-8: {e}"))?;
    let raw: RawHeader =
        serde_json::from_str(header).map_err(|e| format!("header is not a JSON object: {e}"))?;
    let data_start = 8 + n;
    let data_len = file.len() - data_start;
    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, value) in raw.0 {
        if name == "__metadata__" {
            let ok = value
                .as_object()
                .is_some_and(|m| m.values().all(|v| v.is_string()));
            if !ok {
                return Err("__metadata__ must map strings to strings".into());
            }
            for (k, v) in value.as_object().expect("checked") {
                metadata.insert(k.clone(), v.as_str().expect("checked").to_string());
            }
            continue;
        }
        let info: RawInfo = serde_json::from_value(value)
            .map_err(|e| format!("entry for tensor `{name}` is malformed: {e}"))?;
        let dtype = Dtype::parse(&info.dtype)
            .ok_or_else(|| format!("tensor `{name}` has unknown dtype {:?}", info.dtype))?;
        let (begin, end) = info.data_offsets;
        if end < begin {
            return Err(format!(
                "tensor `{name}` has data_offsets [{begin}, {end}] that end before they begin"
            ));
        }
        if end > data_len {
            return Err(format!(
                "tensor `{name}` has data_offsets [{begin}, {end}] beyond the {data_len}-byte data section"
            ));
        }
        let bytes = info
            .shape
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor `{name}` has a shape whose size overflows"))?;
        if bytes != end - begin {
            return Err(format!(
                "tensor `{name}`: shape {:?} of {} needs {bytes} bytes but data_offsets span {}",
                info.shape,
                dtype.name(),
                end - begin
            ));
        }
        let entry = TensorInfo {
            dtype,
            shape: info.shape,
            data_offsets: (begin, end),
        };
        if tensors.insert(name.clone(), entry).is_some() {
            return Err(format!("tensor `{name}` appears twice in the header"));
        }
    }
    // The byte ranges must tile the data section: sorted, each starting where the last ended.
    let mut ranges: Vec<(&String, (usize, usize))> =
        tensors.iter().map(|(k, v)| (k, v.data_offsets)).collect();
    ranges.sort_by_key(|&(_, r)| r);
    let mut expected = 0;
    for (name, (begin, end)) in ranges {
        if begin < expected {
            return Err(format!("tensor `{name}` overlaps the tensor before it"));
        }
        if begin > expected {
            return Err(format!(
                "gap in the data section before tensor `{name}` (bytes {expected}..{begin})"
            ));
        }
        expected = end;
    }
    if expected != data_len {
        return Err(format!(
            "data section is {data_len} bytes but the tensors cover {expected}"
        ));
    }
    Ok((data_start, tensors, metadata))
}

/// Writes tensors (as F32) in safetensors format to `w`, the header padded to 8 bytes so every
/// tensor is 4-aligned in the file.
///
/// # Errors
/// Whatever `w` returns.
pub fn write_to<W: std::io::Write>(w: W, tensors: &[(String, Tensor)]) -> std::io::Result<()> {
    write_to_with(w, tensors, &BTreeMap::new(), 8)
}

/// As [`write_to`], with `__metadata__` and the data section starting at a multiple of `align`
/// bytes (a power of two ≥ 8), so that tensors whose sizes are multiples of `align` and that come
/// first stay `align`-aligned in the file.
///
/// # Errors
/// Whatever `w` returns.
pub fn write_to_with<W: std::io::Write>(
    w: W,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
    align: usize,
) -> std::io::Result<()> {
    let views: Vec<(&str, &[usize], View)> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape(), View::F32(t.data())))
        .collect();
    write_views(w, &views, metadata, align)
}

/// Borrowed values of one tensor to write.
#[derive(Clone, Copy, Debug)]
pub enum View<'a> {
    /// Written as F32.
    F32(&'a [f32]),
    /// bf16 bit patterns, written as BF16.
    Bf16(&'a [u16]),
    /// Written as I8.
    I8(&'a [i8]),
}

impl View<'_> {
    fn dtype(&self) -> &'static str {
        match self {
            View::F32(_) => "F32",
            View::Bf16(_) => "BF16",
            View::I8(_) => "I8",
        }
    }

    /// Values (elements, not bytes).
    pub(crate) fn len(&self) -> usize {
        match self {
            View::F32(d) => d.len(),
            View::Bf16(d) => d.len(),
            View::I8(d) => d.len(),
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            View::F32(d) => d.len() * 4,
            View::Bf16(d) => d.len() * 2,
            View::I8(d) => d.len(),
        }
    }
}

/// As [`write_to_with`], for borrowed `(name, shape, values)` views.
///
/// # Errors
/// Whatever `w` returns.
pub fn write_views<W: std::io::Write>(
    mut w: W,
    tensors: &[(&str, &[usize], View)],
    metadata: &BTreeMap<String, String>,
    align: usize,
) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let len = data.byte_len();
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": data.dtype(), "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))?;
    while (8 + json.len()) % align.max(8) != 0 {
        json.push(b' ');
    }
    w.write_all(&(json.len() as u64).to_le_bytes())?;
    w.write_all(&json)?;
    for (_, _, data) in tensors {
        match data {
            View::F32(d) if cfg!(target_endian = "little") => {
                w.write_all(bytemuck::cast_slice(d))?
            }
            View::Bf16(d) if cfg!(target_endian = "little") => {
                w.write_all(bytemuck::cast_slice(d))?
            }
            View::F32(d) => {
                for v in *d {
                    w.write_all(&v.to_le_bytes())?;
                }
            }
            View::Bf16(d) => {
                for v in *d {
                    w.write_all(&v.to_le_bytes())?;
                }
            }
            View::I8(d) => w.write_all(bytemuck::cast_slice(d))?,
        }
    }
    w.flush()
}

/// Writes tensors to a safetensors file at `path`; see [`write_to`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    write_to(std::io::BufWriter::new(f), tensors).map_err(|e| Error::io(path, e))
}
