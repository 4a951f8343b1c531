#!/usr/bin/env bash
# CI, aarch64 (issue 26): builds bertqa for aarch64-unknown-linux-gnu and runs its tests under
# qemu-aarch64 on an x86-64 Debian 12 machine, with packages from Debian's archive only.
#
# - Rust: Debian 12's rustc-web / cargo-web (bookworm-security) and the matching arm64 std
#   (libstd-rust-web-dev:arm64). rustup's toolchain cannot use Debian's std (E0514), so this job
#   calls /usr/bin/cargo, /usr/bin/rustc and /usr/bin/rustdoc by absolute path; rustup's `cargo`
#   stays first on PATH for the x86 job. No .cargo/config is written: linker and runner are
#   environment variables of this script.
# - Linker gcc-aarch64-linux-gnu (+ libc6-dev-arm64-cross); runner qemu-aarch64 (qemu-user 7.2),
#   also registered with binfmt_misc (flag F) for the tests that re-run their own binary
#   (BERTQA_ISA) or run bin/bertqa.
# - The build is the portability check: every target of the workspace (lib, bin, tests,
#   examples, benches) compiles for aarch64.
# - Kernels crate: all its tests under QEMU_CPU=cortex-a72 (NEON only), neoverse-n1 (+ dotprod:
#   Graviton 2, Ampere Altra) and max,sve256=on (+ i8mm, bf16, SVE 256: like Graviton 3); each
#   runs the NEON, dotprod, i8mm and bf16 kernels its features allow against the references.
# - The bertqa binary under each CPU model answers the README's question in fp32, bf16 and int8,
#   printing the kernels it chose (`-v`).
# - The library: every test file under one CPU model (LIB_CPU), except what LEFT_OUT and SKIP
#   name. Under qemu even the NEON kernels run at well under 1 GFLOP/s, so tests of BERT-base or -large size,
#   and the ones that run hundreds of questions, stay with the x86 job; each is listed with its
#   time under qemu (2-vCPU x86 VM, shared) when this script runs.
#
# Installs packages as root (apt-get; idempotent: nothing is fetched when everything is there).
# Exits non-zero on any failure. Build output: $BERTQA_AARCH64_TARGET_DIR (default
# target/aarch64-debian), apart from the x86 job's target/.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
say() { printf '\n=== aarch64: %s\n' "$*"; }
elapsed() { echo "$((SECONDS - $1)) s"; }

TARGET=aarch64-unknown-linux-gnu
KERNEL_CPUS=("cortex-a72" "neoverse-n1" "max,sve256=on")
# The levels each CPU model must run (BERTQA_REQUIRE_ISA, kernels/tests/gemm.rs): a skipped one
# fails the kernels' run, so a qemu that stopped reporting a feature cannot pass unnoticed.
declare -A REQUIRE_ISA=(
  [cortex-a72]="neon"
  [neoverse-n1]="neon,neondot"
  [max,sve256=on]="neon,neondot,neoni8mm,neonbf16"
)
LIB_CPU="neoverse-n1"
# Test files (tests/*.rs) not run here at all, and single tests skipped (by exact name, in every
# test file of the library), with the reason. Everything else in tests/ runs.
declare -A LEFT_OUT=(
  [memory]="RSS under bursts of requests and a 300 KB context: each test > 400 s under qemu"
)
declare -A SKIP=(
  [large_matches_pytorch]="reference.rs: BERT-large at 384 tokens, 247 GFLOP"
  [large_bf16_matches_pytorch_fp32]="reference.rs: BERT-large at 384 tokens, bf16"
  [large_int8_matches_pytorch_fp32]="reference.rs: BERT-large at 384 tokens, int8 plans"
  [large_int8_matches_pytorch_fp32_on_every_path]="reference.rs: the same, once per int8 path of the CPU"
  [base_matches_pytorch]="reference.rs (BERT-base: 227 s) and distilbert.rs (DistilBERT-base: 120 s)"
  [base_in_bf16_and_int8_matches_pytorch_fp32]="distilbert.rs: DistilBERT-base in bf16 and int8, 291 s"
  [prepared_batch_equals_one_question_at_a_time]="answers.rs: 49 requests x 8 settings, twice: 354 s"
  [dev_slice_equals_pytorch]="squad_real.rs: 1,390 SQuAD questions (> 300 s each, as the next three)"
  [dev_slice_bf16_close_to_fp32]="squad_real.rs: the same slice in bf16"
  [dev_slice_int8_close_to_fp32]="squad_real.rs: the same slice in int8"
  [dev_slice_int8_close_to_fp32_on_every_path]="squad_real.rs: the same, once per int8 path of the CPU"
  [dev_slice_bundled_model_close_to_fp32]="squad_real.rs: the same slice on models/minilm-squad.bqa"
  [dev_v2_slice_equals_pytorch]="squad2_real.rs: a SQuAD 2.0 dev slice through the model"
)

# ---------------------------------------------------------------------------------------------
say "packages"
t=$SECONDS
SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
# libc6:arm64 and libgcc-s1:arm64 (dependencies of the arm64 std anyway) are what the test
# binaries run on: /lib/ld-linux-aarch64.so.1 and its libc, one glibc build.
PKGS=(rustc-web cargo-web libstd-rust-web-dev:arm64 libc6:arm64 libgcc-s1:arm64
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # rustc-web 1.96 is in Debian 12's security pocket; add it only if no source names it.
  # (Lists read into variables first: `grep -q` closing a pipe early would fail it, pipefail.)
  suites=$(apt-get indextargets --format '$(RELEASE)')
  if ! grep -qx bookworm-security <<<"$suites"; then
    echo "adding bookworm-security: /etc/apt/sources.list.d/bertqa-bookworm-security.sources"
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian-security' \
      'Suites: bookworm-security' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
      "${SUDO[@]}" tee /etc/apt/sources.list.d/bertqa-bookworm-security.sources >/dev/null
  fi
  foreign=$(dpkg --print-foreign-architectures)
  if ! grep -qx arm64 <<<"$foreign"; then
    "${SUDO[@]}" dpkg --add-architecture arm64
  fi
  "${SUDO[@]}" apt-get update -qq
  # No version pinned: the security pocket replaces it, and apt keeps amd64 and arm64 equal.
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${PKGS[@]}" >/dev/null
else
  echo "all installed: ${PKGS[*]}"
fi
v_host=$(dpkg-query -W -f='${Version}' rustc-web)
v_std=$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:arm64)
if [ "$v_host" != "$v_std" ]; then
  echo "rustc-web $v_host but libstd-rust-web-dev:arm64 $v_std: they must match (E0514)" >&2
  exit 1
fi

# binfmt_misc: a test that re-runs its own binary (or runs bin/bertqa) execs an aarch64 ELF
# directly; the kernel hands it to qemu-aarch64. F: the interpreter is opened now, so it works
# in any mount namespace. QEMU_CPU reaches it through the environment.
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/register" ]; then
  "${SUDO[@]}" mount -t binfmt_misc binfmt_misc "$BINFMT"
fi
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
  # ELF64, little-endian, executable or shared object (e_type 2/3), e_machine 183 (AArch64).
  printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:F' |
    "${SUDO[@]}" tee "$BINFMT/register" >/dev/null
fi
echo "binfmt_misc qemu-aarch64: $(tr '\n' ' ' <"$BINFMT/qemu-aarch64")"
echo "packages and binfmt: $(elapsed $t)"

# ---------------------------------------------------------------------------------------------
# Debian's toolchain, by absolute path (rustup's proxies in ~/.cargo/bin stay first on PATH).
CARGO=/usr/bin/cargo
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=/usr/bin/aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=/usr/bin/qemu-aarch64
# No QEMU_LD_PREFIX=/usr/aarch64-linux-gnu: with it qemu takes the cross ld.so (libc6-arm64-cross,
# glibc 2.36-8cross1) from there, which then loads libc.so.6 of libc6:arm64 (2.36-9+deb12uN)
# from /lib/aarch64-linux-gnu, and the first pthread_create of the mixed pair loops forever.
# (BERTQA_REQUIRE_ISA: .ci/run's is the x86 CPU's; each aarch64 run below sets its own.)
unset QEMU_LD_PREFIX RUSTUP_TOOLCHAIN RUSTFLAGS BERTQA_REQUIRE_ISA
export CARGO_TARGET_DIR="${BERTQA_AARCH64_TARGET_DIR:-$PWD/target/aarch64-debian}"
export CARGO_TERM_COLOR=never
"$CARGO" --version
"$RUSTC" --version
echo "cargo on PATH (the x86 job's): $(command -v cargo)"

# What the tests read: the real MiniLM weights (real_weights.rs; .ci/run has fetched them
# already), the trained QA model and the SQuAD dev sets in ../shared.
weights/fetch_minilm.sh
export BERTQA_QA_MODEL="$PWD/../shared/models/minilm-squad"
export BERTQA_SQUAD_DEV="$PWD/../shared/data/squad-v1.1-dev.json"
export BERTQA_SQUAD2_DEV="$PWD/../shared/data/squad-v2.0-dev.json"

# The library's selection: every test file but LEFT_OUT, every test but SKIP.
lib_sel=(-p bertqa --lib)
files=()
for f in tests/*.rs; do
  b=$(basename "$f" .rs)
  if [ -z "${LEFT_OUT[$b]+x}" ]; then
    lib_sel+=(--test "$b")
    files+=("$b")
  fi
done
lib_filter=(--exact)
for name in "${!SKIP[@]}"; do lib_filter+=(--skip "$name"); done

say "build (release) and check (every target of the workspace)"
t=$SECONDS
# Built with exactly the package selections the runs below use: selecting one package unifies
# its dependencies' features differently than the whole workspace, and a different selection
# would recompile half the tree before the tests run.
"$CARGO" test --locked --release --target "$TARGET" -p bertqa-kernels --no-run
"$CARGO" test --locked --release --target "$TARGET" "${lib_sel[@]}" --no-run
# The rest (benches, examples, the binary's unit tests) is checked, not built.
"$CARGO" check --locked --target "$TARGET" --workspace --all-targets
echo "build: $(elapsed $t)"
# binfmt check: the aarch64 bertqa binary run directly, as the CLI tests run it.
QEMU_CPU=cortex-a72 "$CARGO_TARGET_DIR/$TARGET/release/bertqa" --version

# Sums the "test result:" lines of a cargo test log: "P passed, F failed, I ignored".
summary() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1);
         if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) g += $(i-1) } }
       END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$1"
}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
results=()
run_tests() { # title cpu required-levels cargo-test-args...
  local title=$1 cpu=$2 require=$3 t=$SECONDS
  shift 3
  say "$title under QEMU_CPU=$cpu${require:+ (BERTQA_REQUIRE_ISA=$require)}"
  BERTQA_REQUIRE_ISA=$require QEMU_CPU=$cpu "$CARGO" test --locked --release --target "$TARGET" "$@" 2>&1 | tee "$LOG"
  results+=("$(printf '%-40s %-15s %s; %s' "$title" "$cpu" "$(summary "$LOG")" "$(elapsed $t)")")
}

for cpu in "${KERNEL_CPUS[@]}"; do
  run_tests "bertqa-kernels: all (unit, tests/, doc)" "$cpu" "${REQUIRE_ISA[$cpu]}" -p bertqa-kernels
done

# Each CPU model runs its own kernels in every precision, and never an instruction it lacks
# (issue 26): the README's question on the trained QA model in fp32, bf16 and int8, under each
# CPU model, with the kernels `-v` names; each must answer 1843, as on x86.
say "the kernels each CPU model runs (bertqa -v ask, README's question)"
t=$SECONDS
BIN="$CARGO_TARGET_DIR/$TARGET/release/bertqa"
QUESTION="In what year did Ada Lovelace publish her translation?"
if [ -d "$BERTQA_QA_MODEL" ]; then
  models=("fp32:$BERTQA_QA_MODEL" "bf16:$BERTQA_QA_MODEL" "int8:models/minilm-squad.bqa")
else
  echo "SKIPPED fp32 and bf16: no $BERTQA_QA_MODEL (../shared); the bundled int8 model only"
  models=("int8:models/minilm-squad.bqa")
fi
for cpu in "${KERNEL_CPUS[@]}"; do
  for pm in "${models[@]}"; do
    p=${pm%%:*} model=${pm#*:}
    rc=0
    out=$(QEMU_CPU=$cpu "$BIN" -v --precision "$p" ask --model "$model" --question "$QUESTION" \
      --context-file examples/context.txt 2>&1) || rc=$?
    # The load line's last parenthesis: "… in 0.09 s (… int8 GEMM on K (8-bit weights, …), … kernels)".
    kernels=$(grep -o ' s (.* kernels)$' <<<"$out" | tail -1 | cut -c4- || true)
    answer=$(grep -v '^bertqa: ' <<<"$out" | head -1 || true)
    printf '%-15s %-5s %-6s %s\n' "$cpu" "$p" "$answer" "$kernels"
    if [ "$rc" != 0 ] || [ "$answer" != 1843 ]; then
      echo "$out" >&2
      echo "QEMU_CPU=$cpu --precision $p: exit status $rc, answered '$answer', not 1843" >&2
      exit 1
    fi
  done
done
results+=("$(printf '%-40s %-15s %s; %s' "README question, every CPU model" "all" "${#KERNEL_CPUS[@]} x ${#models[@]} answered 1843" "$(elapsed $t)")")

run_tests "bertqa: unit + ${#files[@]} of $(ls tests/*.rs | wc -l) test files" "$LIB_CPU" "" \
  "${lib_sel[@]}" -- "${lib_filter[@]}"

say "summary ($TARGET under qemu-aarch64)"
printf '%s\n' "${results[@]}"
echo "library test files run: ${files[*]}"
echo "left to the x86 job:"
for b in "${!LEFT_OUT[@]}"; do echo "  tests/$b.rs (whole file): ${LEFT_OUT[$b]}"; done
for name in $(printf '%s\n' "${!SKIP[@]}" | sort); do echo "  $name: ${SKIP[$name]}"; done
echo "  the library's doc tests; examples/serve (not in the workspace)"
echo "aarch64 job: $(elapsed $t_start)"
