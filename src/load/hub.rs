//! Finding the model in the Hugging Face cache (and, with the `download` feature, putting it
//! there).
//!
//! The cache is laid out as `huggingface_hub` lays it out:
//!
//! ```text
//! $HF_HUB_CACHE                      (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
//! └── models--google-bert--bert-large-uncased-whole-word-masking-finetuned-squad
//!     ├── refs/main                  a commit hash, e.g. 0f1c3a…
//!     ├── snapshots/0f1c3a…/         the files of that commit, usually symlinks into blobs/
//!     │   ├── config.json
//!     │   ├── model.safetensors
//!     │   └── vocab.txt
//!     └── blobs/                     the file contents, named by their hash
//! ```
//!
//! A snapshot is usable when `config.json`, `model.safetensors` and `vocab.txt` all resolve to
//! files (a symlink whose blob is missing does not count). Only the snapshot named by
//! `refs/main` is considered, as `huggingface_hub` does for revision `main`.
//!
//! The environment is read in one place, [`HubEnv::from_process`]; everything else takes a
//! [`HubEnv`] or a path, so it can be tested without touching the process environment.
//!
//! When no model is named and BERT-large is not to be had, [`default_model`] offers the small
//! QA model bundled with bertqa ([`bundled_model`]: MiniLM fine-tuned on SQuAD v1.1, int8, in
//! `models/`), and says so in its answer ([`DefaultModel::Bundled`]): nothing falls back
//! silently. [`resolve_default_model`] is BERT-large or an error.

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The model this crate is made for, under its current hub id.
pub const DEFAULT_REPO_ID: &str =
    "google-bert/bert-large-uncased-whole-word-masking-finetuned-squad";

/// The same model under its legacy, un-prefixed id (older caches hold it under this name).
pub const LEGACY_REPO_ID: &str = "bert-large-uncased-whole-word-masking-finetuned-squad";

/// The files a snapshot must hold to be loaded by [`crate::QaModel::load`].
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "vocab.txt"];

/// The environment variables that decide where the cache is and whether the network may be
/// used, as `huggingface_hub` reads them. Empty values count as unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubEnv {
    /// `HF_HUB_CACHE`: the cache directory itself.
    pub hf_hub_cache: Option<OsString>,
    /// `HUGGINGFACE_HUB_CACHE`: the legacy name of `HF_HUB_CACHE`, read when that is unset.
    pub huggingface_hub_cache: Option<OsString>,
    /// `HF_HOME`: the cache is `$HF_HOME/hub`.
    pub hf_home: Option<OsString>,
    /// `XDG_CACHE_HOME`: without `HF_HOME`, the cache is `$XDG_CACHE_HOME/huggingface/hub`.
    pub xdg_cache_home: Option<OsString>,
    /// The home directory (`HOME`, or `USERPROFILE` on Windows): `~/.cache/huggingface/hub`
    /// otherwise, and what a leading `~` in the variables above expands to.
    pub home: Option<PathBuf>,
    /// `HF_HUB_OFFLINE`: `1`, `ON`, `YES` or `TRUE` (any case) forbid downloads.
    pub hf_hub_offline: Option<OsString>,
}

impl HubEnv {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        HubEnv {
            hf_hub_cache: var("HF_HUB_CACHE"),
            huggingface_hub_cache: var("HUGGINGFACE_HUB_CACHE"),
            hf_home: var("HF_HOME"),
            xdg_cache_home: var("XDG_CACHE_HOME"),
            home: var("HOME")
                .or_else(|| var("USERPROFILE"))
                .map(PathBuf::from),
            hf_hub_offline: var("HF_HUB_OFFLINE"),
        }
    }

    /// The hub cache directory: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub` (relative to the current directory if there is no home).
    pub fn cache_dir(&self) -> PathBuf {
        fn set(v: &Option<OsString>) -> Option<&OsStr> {
            v.as_deref().filter(|v| !v.is_empty())
        }
        let home = self.home.as_deref();
        if let Some(dir) = set(&self.hf_hub_cache).or(set(&self.huggingface_hub_cache)) {
            return expand_tilde(dir, home);
        }
        if let Some(hf_home) = set(&self.hf_home) {
            return expand_tilde(hf_home, home).join("hub");
        }
        let xdg_cache = match set(&self.xdg_cache_home) {
            Some(xdg) => expand_tilde(xdg, home),
            None => home.unwrap_or(Path::new("")).join(".cache"),
        };
        xdg_cache.join("huggingface").join("hub")
    }

    /// Whether `HF_HUB_OFFLINE` forbids downloads.
    pub fn offline(&self) -> bool {
        self.hf_hub_offline.as_deref().is_some_and(|v| {
            let v = v.to_string_lossy();
            ["1", "ON", "YES", "TRUE"]
                .iter()
                .any(|t| v.trim().eq_ignore_ascii_case(t))
        })
    }
}

/// `~` or `~/…` relative to `home`; anything else as it is (as Python's `expanduser`).
fn expand_tilde(value: &OsStr, home: Option<&Path>) -> PathBuf {
    let path = Path::new(value);
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// [`HubEnv::cache_dir`] with just the three variables that matter most: `HF_HUB_CACHE`,
/// `HF_HOME` and the home directory.
pub fn cache_dir_from(
    hf_hub_cache: Option<&OsStr>,
    hf_home: Option<&OsStr>,
    home: Option<&Path>,
) -> PathBuf {
    HubEnv {
        hf_hub_cache: hf_hub_cache.map(OsStr::to_os_string),
        hf_home: hf_home.map(OsStr::to_os_string),
        home: home.map(Path::to_path_buf),
        ..HubEnv::default()
    }
    .cache_dir()
}

/// The hub cache directory of this process's environment ([`HubEnv::cache_dir`]).
pub fn cache_dir() -> PathBuf {
    HubEnv::from_process().cache_dir()
}

/// The cache folder of a model repository: `models--{org}--{name}` (`/` becomes `--`).
pub fn repo_folder_name(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

/// The snapshot directory of `repo_id`'s `main` revision in the cache directory `cache`, if
/// `refs/main` names a snapshot holding all of [`REQUIRED_FILES`].
pub fn find_cached_in(cache: &Path, repo_id: &str) -> Option<PathBuf> {
    let repo = cache.join(repo_folder_name(repo_id));
    let commit = std::fs::read_to_string(repo.join("refs").join("main")).ok()?;
    let commit = commit.trim();
    // A commit hash is one path component; refuse anything that could leave `snapshots/`.
    if commit.is_empty() || commit == "." || commit == ".." || commit.contains(['/', '\\']) {
        return None;
    }
    let snapshot = repo.join("snapshots").join(commit);
    // `is_file` follows symlinks: a link whose blob is missing is not a file.
    REQUIRED_FILES
        .iter()
        .all(|f| snapshot.join(f).is_file())
        .then_some(snapshot)
}

/// [`find_cached_in`] the cache directory of this process's environment ([`cache_dir`]).
pub fn find_cached(repo_id: &str) -> Option<PathBuf> {
    find_cached_in(&cache_dir(), repo_id)
}

/// The shell commands that download the model by hand and use it.
pub fn manual_download_hint() -> String {
    format!(
        "huggingface-cli download {DEFAULT_REPO_ID} {} --local-dir bert-large-squad \
         and then pass --model bert-large-squad",
        REQUIRED_FILES.join(" ")
    )
}

/// The default model's directory: the cached snapshot of [`DEFAULT_REPO_ID`] (or of
/// [`LEGACY_REPO_ID`]) in [`cache_dir`]; when neither is cached and `offline` is false, the
/// `download` feature fetches the three files into the cache, with a progress bar on stderr.
/// Callers usually pass `HubEnv::from_process().offline()` (`HF_HUB_OFFLINE`).
///
/// # Errors
/// [`Error::Io`] (kind `NotFound`) naming the cache folder and the manual download command
/// when the model is not cached and cannot be downloaded (offline, or built without the
/// `download` feature); [`Error::Io`] when a download fails.
pub fn resolve_default_model(offline: bool) -> Result<PathBuf> {
    resolve_default_model_in(&cache_dir(), offline)
}

/// [`resolve_default_model`] with an explicit cache directory.
///
/// # Errors
/// As [`resolve_default_model`].
pub fn resolve_default_model_in(cache: &Path, offline: bool) -> Result<PathBuf> {
    for repo_id in [DEFAULT_REPO_ID, LEGACY_REPO_ID] {
        if let Some(dir) = find_cached_in(cache, repo_id) {
            return Ok(dir);
        }
    }
    if offline {
        return Err(not_cached(
            cache,
            "offline (HF_HUB_OFFLINE, or the caller asked for no download), so not downloading",
        ));
    }
    #[cfg(feature = "download")]
    {
        download(cache, DEFAULT_REPO_ID)
    }
    #[cfg(not(feature = "download"))]
    {
        Err(not_cached(
            cache,
            "this build cannot download it (build with `--features download`)",
        ))
    }
}

/// The file name of the bundled small QA model.
pub const BUNDLED_MODEL_FILE: &str = "minilm-squad.bqa";

/// The environment variable naming the bundled model's file, where it is not beside the
/// binary or in the source tree the binary was built from.
pub const BUNDLED_MODEL_ENV: &str = "BERTQA_BUNDLED_MODEL";

/// What the bundled model is, for the line that says it answered.
pub const BUNDLED_MODEL_DESCRIPTION: &str = "minilm-squad (MiniLM-L6 fine-tuned on SQuAD v1.1, \
     int8; F1 69.5 on SQuAD v1.1 dev, BERT-large's is 93.2)";

/// Where [`bundled_model`] looks, in order: `$BERTQA_BUNDLED_MODEL`; beside the executable
/// (`DIR/minilm-squad.bqa`, `DIR/../share/bertqa/minilm-squad.bqa`, as an install or the
/// container image lays it out); the `models/` folder of the source tree this crate was built
/// from (`cargo run` in a clone).
pub fn bundled_model_candidates(env: Option<&OsStr>, exe: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(v));
    }
    if let Some(dir) = exe.and_then(Path::parent) {
        out.push(dir.join(BUNDLED_MODEL_FILE));
        out.push(dir.join("../share/bertqa").join(BUNDLED_MODEL_FILE));
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(BUNDLED_MODEL_FILE),
    );
    out
}

/// The bundled small QA model's file, if one of [`bundled_model_candidates`] is a file.
pub fn bundled_model() -> Option<PathBuf> {
    let env = std::env::var_os(BUNDLED_MODEL_ENV);
    let exe = std::env::current_exe().ok();
    bundled_model_candidates(env.as_deref(), exe.as_deref())
        .into_iter()
        .find(|p| p.is_file())
}

/// The model to use when the caller names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultModel {
    /// The model card's BERT-large, from the Hugging Face cache.
    BertLarge(PathBuf),
    /// The bundled small model, because BERT-large is not at hand (`why`: the reason, with
    /// how to get it).
    Bundled {
        /// Its packed-weights file.
        path: PathBuf,
        /// Why BERT-large was not used, and how to get it.
        why: String,
    },
}

impl DefaultModel {
    /// The model's path (a directory or a packed file), for `QaModel::load`.
    pub fn path(&self) -> &Path {
        match self {
            DefaultModel::BertLarge(p) | DefaultModel::Bundled { path: p, .. } => p,
        }
    }

    /// One line for a person: which model answers and, for the bundled one, how to get
    /// BERT-large.
    pub fn note(&self) -> String {
        match self {
            DefaultModel::BertLarge(p) => {
                format!("answering with {LEGACY_REPO_ID} ({})", p.display())
            }
            DefaultModel::Bundled { path, .. } => format!(
                "answering with the bundled small model {BUNDLED_MODEL_DESCRIPTION} ({}), as \
                 {LEGACY_REPO_ID} is not in the Hugging Face cache; for BERT-large: {}",
                path.display(),
                manual_download_hint()
            ),
        }
    }
}

/// The default model: BERT-large as [`resolve_default_model`] finds (or downloads) it;
/// where it cannot, the bundled small model ([`bundled_model`]) — a choice this returns
/// openly, for the caller to tell its user ([`DefaultModel::note`]).
///
/// # Errors
/// [`resolve_default_model`]'s error when BERT-large is not at hand and no bundled model is
/// found either.
pub fn default_model(offline: bool) -> Result<DefaultModel> {
    choose_default(resolve_default_model(offline), bundled_model)
}

impl crate::QaModel {
    /// The default model ([`default_model`]: BERT-large from the Hugging Face cache, else the
    /// bundled small model), loaded with `options`; returns which one it is, for the caller to
    /// tell its user ([`DefaultModel::note`]). Never downloads when `offline`.
    ///
    /// # Errors
    /// As [`default_model`] and [`crate::QaModel::load_with`].
    pub fn load_default(
        offline: bool,
        options: &crate::LoadOptions,
    ) -> Result<(crate::QaModel, DefaultModel)> {
        let which = default_model(offline)?;
        let model = crate::QaModel::load_with(which.path(), options)?;
        Ok((model, which))
    }
}

/// BERT-large if `bert_large` found it, else the bundled model if `bundled` finds one, else
/// BERT-large's error.
fn choose_default(
    bert_large: Result<PathBuf>,
    bundled: impl FnOnce() -> Option<PathBuf>,
) -> Result<DefaultModel> {
    match bert_large {
        Ok(dir) => Ok(DefaultModel::BertLarge(dir)),
        Err(e) => match bundled() {
            Some(path) => Ok(DefaultModel::Bundled {
                path,
                why: e.to_string(),
            }),
            None => Err(e),
        },
    }
}

/// The error for a model that is neither cached nor downloadable.
fn not_cached(cache: &Path, why: &str) -> Error {
    Error::io(
        cache.join(repo_folder_name(DEFAULT_REPO_ID)),
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no --model given and {LEGACY_REPO_ID} is not in the Hugging Face cache \
                 (no refs/main naming a snapshot with {}); {why}. Download it: {}",
                REQUIRED_FILES.join(", "),
                manual_download_hint()
            ),
        ),
    )
}

/// Downloads [`REQUIRED_FILES`] of `repo_id` (revision `main`) into the hub cache `cache`,
/// laid out as `huggingface_hub` does, showing a progress bar on stderr, and returns the
/// snapshot directory. Files already cached are not fetched again; an interrupted download
/// resumes (up to 3 retries). Honours `HF_ENDPOINT`, and the token in `HF_TOKEN`, else in
/// `$HF_HOME/token`.
///
/// # Errors
/// [`Error::Io`] if the hub cannot be reached or a file cannot be fetched or stored.
#[cfg(feature = "download")]
pub fn download(cache: &Path, repo_id: &str) -> Result<PathBuf> {
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env().with_progress(true);
    if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
        builder = builder.with_token(Some(token));
    }
    download_with(builder, cache, repo_id)
}

/// [`download`] with a configured client (tests point it at a local endpoint).
#[cfg(feature = "download")]
fn download_with(
    builder: hf_hub::api::sync::ApiBuilder,
    cache: &Path,
    repo_id: &str,
) -> Result<PathBuf> {
    let failed = |what: String| {
        Error::io(
            cache.join(repo_folder_name(repo_id)),
            std::io::Error::other(what),
        )
    };
    let api = builder
        .with_cache_dir(cache.to_path_buf())
        .with_retries(3)
        .build()
        .map_err(|e| failed(format!("cannot set up the Hugging Face hub client: {e}")))?;
    let repo = api.model(repo_id.to_string());
    eprintln!(
        "downloading {repo_id} ({}) into {}",
        REQUIRED_FILES.join(", "),
        cache.display()
    );
    for file in REQUIRED_FILES {
        repo.get(file).map_err(|e| {
            failed(format!(
                "downloading {file} failed: {e}. Download it by hand: {}",
                manual_download_hint()
            ))
        })?;
    }
    find_cached_in(cache, repo_id)
        .ok_or_else(|| failed("the download finished but left no complete snapshot".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bertqa-hub-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Lays out `repo_id` in `cache` as `huggingface_hub` does: blobs/, snapshots/HASH/ with
    /// symlinks (`../../blobs/…`) to them, and refs/main holding HASH (if `with_ref`).
    fn fake_repo(cache: &Path, repo_id: &str, files: &[&str], with_ref: bool) -> PathBuf {
        let repo = cache.join(repo_folder_name(repo_id));
        let snapshot = repo.join("snapshots").join(HASH);
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::create_dir_all(&snapshot).unwrap();
        for (i, f) in files.iter().enumerate() {
            let blob = format!("{i:040x}");
            fs::write(repo.join("blobs").join(&blob), f.as_bytes()).unwrap();
            link(&Path::new("../../blobs").join(&blob), &snapshot.join(f));
        }
        if with_ref {
            fs::create_dir_all(repo.join("refs")).unwrap();
            fs::write(repo.join("refs").join("main"), HASH).unwrap();
        }
        snapshot
    }

    #[cfg(unix)]
    fn link(target: &Path, at: &Path) {
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    #[cfg(not(unix))]
    fn link(target: &Path, at: &Path) {
        fs::copy(at.parent().unwrap().join(target), at).unwrap();
    }

    #[test]
    fn cache_dir_precedence() {
        let home = Path::new("/home/ada");
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            cache_dir_from(None, None, Some(home)),
            Path::new("/home/ada/.cache/huggingface/hub")
        );
        assert_eq!(
            cache_dir_from(None, os("/data/hf"), Some(home)),
            Path::new("/data/hf/hub")
        );
        assert_eq!(
            cache_dir_from(os("/fast/cache"), os("/data/hf"), Some(home)),
            Path::new("/fast/cache")
        );
        assert_eq!(
            cache_dir_from(None, os("~/hf"), Some(home)),
            Path::new("/home/ada/hf/hub")
        );
        // Empty values count as unset.
        assert_eq!(
            cache_dir_from(os(""), os(""), Some(home)),
            Path::new("/home/ada/.cache/huggingface/hub")
        );
        let env = HubEnv {
            xdg_cache_home: Some("/xdg".into()),
            home: Some(home.into()),
            ..HubEnv::default()
        };
        assert_eq!(env.cache_dir(), Path::new("/xdg/huggingface/hub"));
        let env = HubEnv {
            huggingface_hub_cache: Some("/legacy".into()),
            hf_home: Some("/data/hf".into()),
            ..env
        };
        assert_eq!(env.cache_dir(), Path::new("/legacy"));
        let env = HubEnv {
            hf_hub_cache: Some("/new".into()),
            ..env
        };
        assert_eq!(env.cache_dir(), Path::new("/new"));
    }

    #[test]
    fn offline_values() {
        let offline = |v: Option<&str>| {
            HubEnv {
                hf_hub_offline: v.map(OsString::from),
                ..HubEnv::default()
            }
            .offline()
        };
        assert!(!offline(None));
        for v in ["0", "", "false", "no"] {
            assert!(!offline(Some(v)), "{v:?}");
        }
        for v in ["1", "true", "TRUE", "yes", "On"] {
            assert!(offline(Some(v)), "{v:?}");
        }
    }

    #[test]
    fn finds_snapshot_through_hf_home_and_hf_hub_cache() {
        let root = temp_dir("env");
        let hf_home = root.join("hf-home");
        let hub_cache = root.join("hub-cache");
        // The model sits in $HF_HOME/hub only.
        let snapshot = fake_repo(&hf_home.join("hub"), DEFAULT_REPO_ID, &REQUIRED_FILES, true);
        let via_home = cache_dir_from(None, Some(hf_home.as_os_str()), None);
        assert_eq!(
            find_cached_in(&via_home, DEFAULT_REPO_ID),
            Some(snapshot.clone())
        );
        assert_eq!(resolve_default_model_in(&via_home, true).unwrap(), snapshot);
        // HF_HUB_CACHE wins over HF_HOME: the model is not found there.
        let via_cache =
            cache_dir_from(Some(hub_cache.as_os_str()), Some(hf_home.as_os_str()), None);
        assert_eq!(via_cache, hub_cache);
        assert_eq!(find_cached_in(&via_cache, DEFAULT_REPO_ID), None);
        // ... until it is.
        let snapshot2 = fake_repo(&hub_cache, DEFAULT_REPO_ID, &REQUIRED_FILES, true);
        assert_eq!(
            resolve_default_model_in(&via_cache, true).unwrap(),
            snapshot2
        );
        // The files read through the symlinks.
        let config = fs::read_to_string(snapshot2.join("config.json")).unwrap();
        assert_eq!(config, "config.json");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn legacy_repo_id_is_accepted() {
        let cache = temp_dir("legacy");
        let snapshot = fake_repo(&cache, LEGACY_REPO_ID, &REQUIRED_FILES, true);
        assert!(cache
            .join("models--bert-large-uncased-whole-word-masking-finetuned-squad")
            .is_dir());
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        assert_eq!(resolve_default_model_in(&cache, true).unwrap(), snapshot);
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn missing_refs_main_is_not_found() {
        let cache = temp_dir("noref");
        fake_repo(&cache, DEFAULT_REPO_ID, &REQUIRED_FILES, false);
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        // refs/main naming a snapshot that does not exist.
        let refs = cache.join(repo_folder_name(DEFAULT_REPO_ID)).join("refs");
        fs::create_dir_all(&refs).unwrap();
        fs::write(
            refs.join("main"),
            "ffffffffffffffffffffffffffffffffffffffff\n",
        )
        .unwrap();
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        // A trailing newline is fine; a path is not.
        fs::write(refs.join("main"), format!("{HASH}\n")).unwrap();
        assert!(find_cached_in(&cache, DEFAULT_REPO_ID).is_some());
        fs::write(refs.join("main"), format!("../snapshots/{HASH}")).unwrap();
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn incomplete_snapshot_is_not_found() {
        let cache = temp_dir("incomplete");
        let snapshot = fake_repo(&cache, DEFAULT_REPO_ID, &["config.json", "vocab.txt"], true);
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        // A symlink whose blob is missing (an interrupted download) does not count either.
        link(
            Path::new("../../blobs/not-downloaded"),
            &snapshot.join("model.safetensors"),
        );
        assert_eq!(find_cached_in(&cache, DEFAULT_REPO_ID), None);
        let err = resolve_default_model_in(&cache, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("offline"), "{msg}");
        assert!(msg.contains(&manual_download_hint()), "{msg}");
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        fs::remove_dir_all(&cache).unwrap();
    }

    #[cfg(not(feature = "download"))]
    #[test]
    fn without_download_feature_the_error_says_how() {
        let cache = temp_dir("nodownload");
        let msg = resolve_default_model_in(&cache, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("--features download"), "{msg}");
        assert!(
            msg.contains("huggingface-cli download google-bert/"),
            "{msg}"
        );
        assert!(msg.contains("--model bert-large-squad"), "{msg}");
        fs::remove_dir_all(&cache).unwrap();
    }

    /// A one-thread stand-in for the hub's `resolve` endpoint on 127.0.0.1: answers
    /// `GET /{repo}/resolve/main/{file}` (with `Range: bytes=a-` or `a-b`) as the hub does,
    /// with `x-repo-commit`, `etag` and `content-range`; 404 for anything else.
    #[cfg(feature = "download")]
    fn mock_hub(repo_id: &'static str, files: Vec<(&'static str, Vec<u8>)>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut path, mut range) = (String::new(), None);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let l = line.trim_end().to_string();
                    line.clear();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(rest) = l.strip_prefix("GET ") {
                        path = rest.split(' ').next().unwrap().to_string();
                    } else if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("range") {
                            range = v.trim().strip_prefix("bytes=").map(str::to_string);
                        }
                    }
                }
                let prefix = format!("/{repo_id}/resolve/main/");
                let file = path
                    .strip_prefix(&prefix)
                    .and_then(|f| files.iter().find(|(name, _)| *name == f));
                let mut out = stream;
                let Some((name, data)) = file else {
                    let _ = out.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    continue;
                };
                let (a, b) = match range.as_deref().and_then(|r| r.split_once('-')) {
                    Some((a, b)) => (
                        a.parse::<usize>().unwrap(),
                        b.parse::<usize>()
                            .map_or(data.len() - 1, |b| b.min(data.len() - 1)),
                    ),
                    None => (0, data.len() - 1),
                };
                let body = &data[a..=b];
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nx-repo-commit: {HASH}\r\n\
                     etag: \"etag-{name}\"\r\ncontent-range: bytes {a}-{b}/{}\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    data.len(),
                    body.len()
                );
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(body);
            }
        });
        format!("http://{addr}")
    }

    #[cfg(feature = "download")]
    #[test]
    fn download_lays_out_the_cache_as_the_hub_does() {
        let cache = temp_dir("download");
        let files: Vec<(&str, Vec<u8>)> = REQUIRED_FILES
            .iter()
            .map(|f| (*f, format!("contents of {f}").repeat(1000).into_bytes()))
            .collect();
        let endpoint = mock_hub(DEFAULT_REPO_ID, files.clone());
        let api = hf_hub::api::sync::ApiBuilder::new()
            .with_endpoint(endpoint.clone())
            .with_token(None)
            .with_progress(false);
        let snapshot = download_with(api, &cache, DEFAULT_REPO_ID).unwrap();
        assert_eq!(
            find_cached_in(&cache, DEFAULT_REPO_ID),
            Some(snapshot.clone())
        );
        assert_eq!(
            snapshot,
            cache
                .join(repo_folder_name(DEFAULT_REPO_ID))
                .join("snapshots")
                .join(HASH)
        );
        for (name, data) in &files {
            assert_eq!(&fs::read(snapshot.join(name)).unwrap(), data, "{name}");
            // As the hub lays it out: snapshots/<hash>/<file> links into blobs/.
            #[cfg(unix)]
            assert!(fs::symlink_metadata(snapshot.join(name))
                .unwrap()
                .file_type()
                .is_symlink());
        }
        // The offline lookup now finds it.
        assert_eq!(resolve_default_model_in(&cache, true).unwrap(), snapshot);
        // A repository the endpoint does not have fails with the manual command.
        let api = hf_hub::api::sync::ApiBuilder::new()
            .with_endpoint(endpoint)
            .with_token(None)
            .with_progress(false);
        let msg = download_with(api, &cache, "org/missing")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("downloading config.json failed"), "{msg}");
        assert!(msg.contains(&manual_download_hint()), "{msg}");
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn repo_folder_names() {
        assert_eq!(
            repo_folder_name(DEFAULT_REPO_ID),
            "models--google-bert--bert-large-uncased-whole-word-masking-finetuned-squad"
        );
        assert_eq!(repo_folder_name("gpt2"), "models--gpt2");
    }

    #[test]
    fn bundled_model_is_looked_for_in_order() {
        let exe = Path::new("/opt/bertqa/bin/bertqa");
        let c = bundled_model_candidates(Some(OsStr::new("/m/x.bqa")), Some(exe));
        assert_eq!(c[0], Path::new("/m/x.bqa"));
        assert_eq!(c[1], Path::new("/opt/bertqa/bin/minilm-squad.bqa"));
        assert_eq!(
            c[2],
            Path::new("/opt/bertqa/bin/../share/bertqa/minilm-squad.bqa")
        );
        assert!(c[3].ends_with("models/minilm-squad.bqa"));
        // An empty variable counts as unset.
        assert_eq!(
            bundled_model_candidates(Some(OsStr::new("")), None).len(),
            1
        );
        let note = DefaultModel::Bundled {
            path: "/m/x.bqa".into(),
            why: "not cached".into(),
        }
        .note();
        assert!(note.contains("bundled small model") && note.contains("huggingface-cli"));
        // BERT-large first; the bundled model only in its absence; neither: BERT-large's error.
        let large = choose_default(Ok("/hf/large".into()), || Some("/b".into())).unwrap();
        assert_eq!(large, DefaultModel::BertLarge("/hf/large".into()));
        let missing = || Err(not_cached(Path::new("/hf"), "offline"));
        let small = choose_default(missing(), || Some("/b".into())).unwrap();
        assert!(matches!(small, DefaultModel::Bundled { ref why, .. } if why.contains("offline")));
        let err = choose_default(missing(), || None).unwrap_err();
        assert!(err.to_string().contains("huggingface-cli download"));
    }
}
