//! The library's one error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in bertqa, with the context a user needs to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or mapping a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A weights file is not valid safetensors (or not what its header claims).
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `config.json` is unreadable or describes an unsupported or inconsistent model.
    Config {
        /// What is wrong.
        message: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    MissingTensor {
        /// Its name (without the `bert.` prefix).
        name: String,
    },
    /// The checkpoint holds a tensor this model does not know.
    UnexpectedTensor {
        /// Its name as stored.
        name: String,
    },
    /// A tensor's shape differs from what the config implies.
    Shape {
        /// The tensor.
        name: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape in the file.
        got: Vec<usize>,
    },
    /// A precision or instruction set this build or CPU cannot run.
    Unsupported {
        /// What is missing and what to use instead.
        message: String,
    },
    /// A tensor holds a dtype bertqa cannot use.
    Dtype {
        /// The tensor.
        name: String,
        /// Its dtype as written in the header.
        dtype: String,
    },
    /// A tensor holds NaN or infinity.
    NonFinite {
        /// The tensor.
        name: String,
        /// Index of the first non-finite value.
        index: usize,
    },
    /// `vocab.txt` is unreadable or lacks a required token.
    Vocab {
        /// What is wrong.
        message: String,
    },
    /// A model directory's tokenizer files (`tokenizer_config.json`, `tokenizer.json`,
    /// `special_tokens_map.json`) are unreadable, contradict each other, ask for a tokenizer
    /// bertqa does not run, or are missing where the vocabulary needs them.
    TokenizerSettings {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `do_lower_case` or `normalizer.lowercase` (`(file)` for the whole
        /// file).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The caller's input (ids, masks, text, options) is invalid.
    Input {
        /// Why, in a form a program can act on (a service's HTTP status, say).
        kind: InputError,
        /// What is wrong.
        message: String,
    },
    /// A file given as a SQuAD dataset (v1.1 or 2.0) is not one (not UTF-8, not JSON, not
    /// shaped like `{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
    /// "answers": [{"text"}]}]}]}]}`, or a question's `is_impossible` contradicts its answers).
    Dataset {
        /// The file (or the origin given to `Dataset::from_json`).
        origin: String,
        /// The first bad field as a path, e.g. `data[0].paragraphs[3].qas[1].question`;
        /// `None` when the text is not UTF-8 or not JSON at all.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
}

/// Why an [`Error::Input`] refused the caller's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputError {
    /// The question is empty, whitespace only, or has no tokens.
    EmptyQuestion,
    /// The context is empty, whitespace only, or has no tokens.
    EmptyContext,
    /// Longer than the model or a limit takes: a sequence over `max_position_embeddings`, a
    /// context that needs more than `max_windows` windows.
    TooLong,
    /// Text that is not UTF-8.
    NotUtf8,
    /// Options that contradict each other or the model (`max_seq_length`, `doc_stride`,
    /// `n_best`, a null-score threshold that is not a number, …).
    Options,
    /// Token ids, masks or types the model cannot take: an empty sequence, an id outside the
    /// vocabulary, fields of different lengths, a mask value other than 0 or 1.
    Sequence,
    /// The model has no question-answering head (`qa_outputs`): it is a plain encoder.
    NoQaHead,
    /// A dataset, predictions or null-odds file (the SQuAD tools) that does not fit the task.
    Data,
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, message } => {
                write!(
                    f,
                    "{}: not a valid safetensors file: {message}",
                    path.display()
                )
            }
            Error::Config { message } => write!(f, "invalid model config: {message}"),
            Error::MissingTensor { name } => write!(f, "checkpoint lacks tensor `{name}`"),
            Error::UnexpectedTensor { name } => {
                write!(f, "checkpoint holds unexpected tensor `{name}`")
            }
            Error::Shape {
                name,
                expected,
                got,
            } => write!(
                f,
                "tensor `{name}` has shape {got:?}, the config implies {expected:?}"
            ),
            Error::Dtype { name, dtype } => write!(
                f,
                "tensor `{name}` has dtype {dtype}; bertqa reads F32, F16 and BF16"
            ),
            Error::NonFinite { name, index } => {
                write!(f, "tensor `{name}` holds NaN or infinity at index {index}")
            }
            Error::Vocab { message } => write!(f, "invalid vocabulary: {message}"),
            Error::TokenizerSettings {
                path,
                field,
                message,
            } => write!(f, "{}: {field}: {message}", path.display()),
            Error::Input { message, .. } => write!(f, "invalid input: {message}"),
            Error::Unsupported { message } => write!(f, "unsupported: {message}"),
            Error::Dataset {
                origin,
                field: Some(field),
                message,
            } => write!(f, "{origin}: not a SQuAD dataset: {field}: {message}"),
            Error::Dataset {
                origin,
                field: None,
                message,
            } => write!(f, "{origin}: not a SQuAD dataset: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn input(kind: InputError, message: impl Into<String>) -> Self {
        Error::Input {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }
}
