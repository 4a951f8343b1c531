#!/usr/bin/env python3
"""bertqa side by side with the engines users would pick instead, on the same CPU threads.

Engines (batch 1, fp32 unless marked):
  bertqa            `bertqa --threads T bench --model DIR --seq S --iters K --json` (a subprocess)
  pytorch           transformers BertForQuestionAnswering, torch.set_num_threads(T), inference_mode
  onnxruntime       the exported ONNX, ORT_ENABLE_ALL, T intra-op threads, 1 inter-op, sequential
  onnxruntime-bert-opt  the same after onnxruntime.transformers.optimizer.optimize_model(
                    model_type="bert") (fused Attention, SkipLayerNorm, BiasGelu: ORT's BERT recipe),
                    same session options
  openvino          the same ONNX, CPU, PERFORMANCE_HINT=LATENCY, INFERENCE_PRECISION_HINT=f32,
                    INFERENCE_NUM_THREADS=T, ENABLE_CPU_PINNING=true (its default, set explicitly)
  candle            benches/peers/candle (a subprocess, like bertqa), if its binary was built
  lower precision (compare with each other, not with fp32):
  bertqa-bf16       as bertqa with --precision bf16 (bf16 GEMMs, converted at load)
  bertqa-int8       as bertqa with --precision int8 (its default plan, quantized at load)
  pytorch-bf16      as pytorch under torch.autocast("cpu", dtype=torch.bfloat16)
  openvino-bf16     as openvino with INFERENCE_PRECISION_HINT=bf16
  onnxruntime-int8  onnxruntime.quantization.quantize_dynamic (int8 weights, dynamic uint8
                    activations) of the BERT-optimised ONNX, same session options

Method. The in-process engines are loaded once; the two subprocess engines (bertqa, candle) are
started once per round and seq length, and their model load is not timed. Then R rounds; in a
round, for each seq length, every engine in turn (the order rotates from round to round) runs W
untimed warm-up forwards and then K timed forwards back to back, and a short pause separates
engines so that one engine's spinning worker threads do not bleed into the next. Machine drift
therefore hits all engines alike. The statistics are over all R·K timed forwards of an engine:
median and p90 by nearest rank (as `bertqa bench` computes them). bertqa's per-round invocation
(`bench --iters K`) runs exactly one warm-up of its own and reports min/median/p90 of its K
forwards; for K ≤ 3 those three numbers are its K samples exactly, which is why K is at most 3.
GFLOP/s uses `bertqa bench`'s FLOP count, L·(2·s·(4·H² + 2·H·I) + 4·s²·H) + 4·s·H, for every engine.

Token ids are the ones `bertqa bench` times ([CLS], a 16-token question, [SEP], context, [SEP];
mask all ones), so every engine sees the same input. Accuracy: max |Δlogit| of each engine's start
and end logits against PyTorch fp32 on those ids (bertqa through `bertqa logits`).

Writes --out (JSON) and prints a markdown table. `benches/peers/run.sh` sets everything up.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

QA_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
QA_OUTPUTS = ["start_logits", "end_logits"]
FP32_PEERS = ["pytorch", "onnxruntime", "onnxruntime-bert-opt", "openvino", "candle"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face BERT QA directory")
    ap.add_argument("--bertqa", required=True, help="path of the bertqa binary")
    ap.add_argument("--candle", default=None, help="path of the candle peer binary (skipped if absent)")
    ap.add_argument("--workdir", default="target/peers", help="ONNX files and input files go here")
    ap.add_argument("--out", default="target/peers/results.json")
    ap.add_argument("--seqs", default="384,128")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=3, help="timed forwards per engine per round (≤ 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards per engine per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.25, help="seconds between engines")
    ap.add_argument("--no-lowp", action="store_true", help="skip the bf16 / int8 rows")
    ap.add_argument("--pin-bertqa", action="store_true",
                    help="run bertqa with --pin-threads (OpenVINO pins its threads by default)")
    ap.add_argument("--only", default=None, help="comma-separated engine names to run (bertqa always runs)")
    ap.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy",
                    help="torch.onnx.export path: TorchScript (legacy, default) or torch.export (dynamo)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="stop after the round that would let the next one end past this many seconds of timing")
    ap.add_argument("--prepare-only", action="store_true", help="write the ONNX files and stop")
    ap.add_argument("--step", choices=["export", "optimize", "quantize"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not 1 <= a.iters <= 3:
        ap.error("--iters must be 1, 2 or 3 (bertqa's per-round samples are exact only then)")
    return a


ARGS = parse_args()
T = ARGS.threads
# Before any runtime is imported: OpenMP (torch) and rayon (candle) read these at start-up.
os.environ["OMP_NUM_THREADS"] = str(T)
os.environ["MKL_NUM_THREADS"] = str(T)

import numpy as np  # noqa: E402


def bench_ids(seq):
    """The token ids `bertqa bench` uses (src/main.rs), batch 1."""
    ids = [1000 + (i * 7919) % 20000 for i in range(seq)]
    ids[0], ids[seq - 1] = 101, 102
    q = min(17, seq - 1)
    ids[q] = 102
    types = [int(i > q) for i in range(seq)]
    return ids, types


def forward_flop(seq):
    """`bertqa bench`'s FLOP count for one sequence (multiply-add = 2)."""
    with open(os.path.join(ARGS.model, "config.json")) as f:
        c = json.load(f)
    h, i, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    return L * (2 * seq * (4 * h * h + 2 * h * i) + 4 * seq * seq * h) + 4 * seq * h


def pick(sorted_ms, q):
    return sorted_ms[int(round((len(sorted_ms) - 1) * q))]


def log(msg):
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- engines
class InProcess:
    """An engine whose forward is a Python callable: run(seq) -> (start, end) numpy [1, seq]."""

    subprocess = False

    def __init__(self, name, precision, run):
        self.name, self.precision, self._run = name, precision, run

    def time_round(self, seq, iters, warmup):
        for _ in range(warmup):
            self._run(seq)
        out = []
        for _ in range(iters):
            t = time.perf_counter()
            self._run(seq)
            out.append((time.perf_counter() - t) * 1e3)
        return out

    def logits(self, seq):
        s, e = self._run(seq)
        return np.asarray(s, dtype=np.float64).reshape(-1), np.asarray(e, dtype=np.float64).reshape(-1)


class Bertqa:
    subprocess = True

    def __init__(self, binary, model, inputs, precision="fp32"):
        self.binary, self.model, self.inputs = binary, model, inputs
        self.precision = precision
        self.name = "bertqa" if precision == "fp32" else f"bertqa-{precision}"
        self.info = {}

    def _base(self):
        # --pin-bertqa: one worker per core, as OpenVINO's default ENABLE_CPU_PINNING does.
        pin = ["--pin-threads"] if ARGS.pin_bertqa else []
        return [self.binary, "--threads", str(T), "--precision", self.precision] + pin

    def time_round(self, seq, iters, warmup):
        # `bertqa bench` always runs one warm-up forward of its own.
        cmd = self._base() + ["bench", "--model", self.model, "--seq", str(seq),
                              "--iters", str(iters), "--json"]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        # "execution": how the last round used its threads (busy shares, context switches,
        # team sections and parks per forward: docs/performance.md).
        self.info = {k: r.get(k) for k in ("isa", "kernels", "threads", "load_s", "execution")}
        samples = {1: [r["median_ms"]], 2: [r["min_ms"], r["p90_ms"]],
                   3: [r["min_ms"], r["median_ms"], r["p90_ms"]]}[iters]
        return samples

    def logits(self, seq):
        cmd = self._base() + ["logits", "--model", self.model, "--input", self.inputs[seq]]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        return np.array(r["start_logits"][0], dtype=np.float64), np.array(r["end_logits"][0], dtype=np.float64)


class Candle:
    subprocess = True
    name, precision = "candle", "fp32"

    def __init__(self, binary, model, inputs):
        self.binary, self.model, self.inputs = binary, model, inputs
        self.env = dict(os.environ, RAYON_NUM_THREADS=str(T), CANDLE_NUM_THREADS=str(T))
        self.info = {}

    def _call(self, seq, iters, warmup, logits=False):
        cmd = [self.binary, "--model", self.model, "--input", self.inputs[seq], "--iters", str(iters),
               "--warmup", str(warmup)] + (["--logits"] if logits else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=self.env).stdout)
        self.info = {k: r.get(k) for k in ("threads", "avx512", "load_s")}
        return r

    def time_round(self, seq, iters, warmup):
        return self._call(seq, iters, warmup)["samples_ms"]

    def logits(self, seq):
        r = self._call(seq, 0, 0, logits=True)
        return np.array(r["start_logits"][0], dtype=np.float64), np.array(r["end_logits"][0], dtype=np.float64)


# ------------------------------------------------------------------------------------- set-up
def onnx_stamp(exporter):
    import importlib.metadata as md

    src = os.path.join(ARGS.model, "model.safetensors")
    st = os.stat(src)
    return {"src": os.path.abspath(src), "size": st.st_size, "mtime": st.st_mtime, "exporter": exporter,
            "torch": md.version("torch")}


def onnx_cached(path):
    try:
        with open(path + ".stamp.json") as f:
            return os.path.exists(path) and json.load(f) == onnx_stamp(ARGS.exporter)
    except FileNotFoundError:
        return False


def step_export(path):
    """ONNX with dynamic batch and sequence axes, opset 17 (18 with the dynamo exporter), exported
    from the eager-attention module (the classic pattern ORT's and OpenVINO's attention fusions
    match; same weights and maths as the sdpa module that the pytorch row times)."""
    import onnx
    import onnxruntime as ort
    import torch
    from transformers import BertForQuestionAnswering

    model = BertForQuestionAnswering.from_pretrained(ARGS.model, attn_implementation="eager").eval()
    log(f"exporting ONNX ({ARGS.exporter}) to {path}")
    ids, types = bench_ids(16)
    args = (torch.tensor([ids]), torch.ones(1, 16, dtype=torch.long), torch.tensor([types]))
    names = dict(input_names=QA_INPUTS, output_names=QA_OUTPUTS, opset_version=17)
    if ARGS.exporter == "legacy":
        axes = {n: {0: "batch", 1: "sequence"} for n in QA_INPUTS + QA_OUTPUTS}
        torch.onnx.export(model, args, path, dynamo=False, dynamic_axes=axes, **names)
    else:
        b, s = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("sequence", min=2, max=512)
        shapes = {"input_ids": {0: b, 1: s}, "attention_mask": {0: b, 1: s}, "token_type_ids": {0: b, 1: s}}
        # opset 17 down-conversion of this exporter's output breaks Split (num_outputs): use 18.
        names["opset_version"] = 18
        prog = torch.onnx.export(model, args, dynamo=True, dynamic_shapes=shapes, **names)
        prog.save(path)
    del model
    info = check_onnx(onnx, path)
    # What ORT_ENABLE_ALL makes of it (operator counts of the session's optimised graph).
    saved = path + ".ort-session.tmp.onnx"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = saved
    so.log_severity_level = 3
    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    info["ort_enable_all_ops"] = op_counts(onnx, saved)
    os.remove(saved)
    with open(path + ".info.json", "w") as f:
        json.dump(info, f)
    with open(path + ".stamp.json", "w") as f:
        json.dump(onnx_stamp(ARGS.exporter), f)


def op_counts(onnx, path):
    ops = {}
    for n in onnx.load(path, load_external_data=False).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return dict(sorted(ops.items(), key=lambda kv: -kv[1]))


def check_onnx(onnx, path):
    m = onnx.load(path, load_external_data=False)
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    ins = [i.name for i in m.graph.input]
    outs = [o.name for o in m.graph.output]
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
    assert opset >= 17, opset
    assert sorted(ins) == sorted(QA_INPUTS) and outs == QA_OUTPUTS, (ins, outs)
    assert all(isinstance(d[0], str) and isinstance(d[1], str) for d in dims.values()), dims
    return {"opset": opset, "inputs": dims, "outputs": outs}


def newer(out, src):
    return os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src)


def step_quantize(path, out):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log(f"quantize_dynamic (int8 weights) to {out}")
    # The fused graph's com.microsoft operators defeat ONNX shape inference: say float is the default.
    quantize_dynamic(path, out, weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": 1})


def step_optimize(path, out):
    """ORT's BERT graph fusions (onnxruntime.transformers.optimizer)."""
    from onnxruntime.transformers.optimizer import optimize_model

    with open(os.path.join(ARGS.model, "config.json")) as f:
        cfg = json.load(f)
    log(f"onnxruntime.transformers.optimizer to {out}")
    m = optimize_model(path, model_type="bert", num_heads=cfg["num_attention_heads"],
                       hidden_size=cfg["hidden_size"])
    fused = {k: v for k, v in m.get_fused_operator_statistics().items() if v}
    m.save_model_to_file(out)
    with open(out + ".fused.json", "w") as f:
        json.dump(fused, f)


def versions():
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for p in ["torch", "transformers", "onnx", "onnxruntime", "openvino", "numpy", "safetensors"]:
        try:
            v[p] = md.version(p)
        except md.PackageNotFoundError:
            v[p] = None
    v["candle-core"] = None
    lock = os.path.join(os.path.dirname(os.path.abspath(__file__)), "candle", "Cargo.lock")
    if os.path.exists(lock):
        txt = open(lock).read().split("[[package]]")
        for block in txt:
            if 'name = "candle-core"' in block:
                v["candle-core"] = block.split('version = "')[1].split('"')[0]
    for key, cmd in [("rustc", ["rustc", "--version"]), ("bertqa_git", ["git", "rev-parse", "--short", "HEAD"])]:
        try:
            v[key] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:  # noqa: BLE001 - best effort
            v[key] = None
    return v


def machine():
    model = None
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    load = os.getloadavg()
    return {"cpu": model, "cpus_online": os.cpu_count(), "threads_used": T, "kernel": platform.release(),
            "loadavg_at_start": [round(x, 2) for x in load]}


# ---------------------------------------------------------------------------------------- main
def main():
    seqs = [int(s) for s in ARGS.seqs.split(",")]
    only = set(ARGS.only.split(",")) if ARGS.only else None
    want = lambda name: only is None or name in only  # noqa: E731
    os.makedirs(ARGS.workdir, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    mach = machine()
    log(f"machine: {mach}")

    inputs, feeds = {}, {}
    for s in seqs:
        ids, types = bench_ids(s)
        p = os.path.join(ARGS.workdir, f"input-seq{s}.json")
        with open(p, "w") as f:
            json.dump({"input_ids": [ids], "token_type_ids": [types]}, f)
        inputs[s] = p
        feeds[s] = {"input_ids": np.array([ids], dtype=np.int64),
                    "attention_mask": np.ones((1, s), dtype=np.int64),
                    "token_type_ids": np.array([types], dtype=np.int64)}

    # ONNX preparation, each step in a child process (cached): BERT-large export, graph
    # optimisation and quantisation each hold several copies of the weights for a while.
    tag = os.path.basename(os.path.normpath(ARGS.model))
    onnx_path = os.path.join(ARGS.workdir, f"{tag}-{ARGS.exporter}.onnx")
    opt_path = onnx_path[: -len(".onnx")] + ".bert-opt.onnx"
    int8_path = onnx_path[: -len(".onnx")] + ".bert-opt.int8.onnx"
    lowp = not ARGS.no_lowp
    need_onnx = any(want(n) for n in ["onnxruntime", "onnxruntime-bert-opt", "openvino"]) or (
        lowp and (want("openvino-bf16") or want("onnxruntime-int8")))
    need_opt = want("onnxruntime-bert-opt") or (lowp and want("onnxruntime-int8"))
    notes, onnx_info = {}, None

    def run_step(step):
        cmd = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:] + ["--step", step]
        subprocess.run(cmd, check=True)

    if need_onnx:
        if not onnx_cached(onnx_path):
            run_step("export")
        else:
            log(f"reusing {onnx_path}")
        with open(onnx_path + ".info.json") as f:
            onnx_info = json.load(f)
        log(f"ONNX: opset {onnx_info['opset']}, inputs {onnx_info['inputs']}")
    if need_opt:
        if not newer(opt_path, onnx_path):
            run_step("optimize")
        with open(opt_path + ".fused.json") as f:
            notes["onnxruntime-bert-opt"] = {"fused_ops": json.load(f)}
    if lowp and want("onnxruntime-int8") and not newer(int8_path, opt_path):
        run_step("quantize")
    if ARGS.prepare_only:
        return

    import torch

    torch.set_num_threads(T)
    torch.set_num_interop_threads(1)
    from transformers import BertForQuestionAnswering

    tmodel = BertForQuestionAnswering.from_pretrained(ARGS.model).eval()  # default attention (sdpa)
    tfeeds = {s: {k: torch.from_numpy(v) for k, v in f.items()} for s, f in feeds.items()}

    def torch_run(seq):
        with torch.inference_mode():
            o = tmodel(**tfeeds[seq])
        return o.start_logits.numpy(), o.end_logits.numpy()

    engines = [Bertqa(ARGS.bertqa, ARGS.model, inputs)]
    notes["pytorch"] = {"attn_implementation": tmodel.config._attn_implementation,
                        "threads": torch.get_num_threads()}
    if want("pytorch"):
        engines.append(InProcess("pytorch", "fp32", torch_run))
    ref = {s: InProcess("ref", "fp32", torch_run).logits(s) for s in seqs}

    def ort_engine(name, precision, path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = T
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        t = time.perf_counter()
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        notes.setdefault(name, {}).update(session_s=round(time.perf_counter() - t, 2),
                                          providers=sess.get_providers())

        def run(seq):
            return sess.run(QA_OUTPUTS, feeds[seq])

        return InProcess(name, precision, run)

    def ov_engine(name, precision, hint):
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        core = ov.Core()
        # Both set explicitly: OpenVINO on a bf16-capable CPU defaults to bf16, and pins its
        # threads to cores (its default, kept).
        cfg = {hints.performance_mode: hints.PerformanceMode.LATENCY,
               hints.inference_precision: hint,
               hints.enable_cpu_pinning: True,
               props.inference_num_threads: T}
        t = time.perf_counter()
        compiled = core.compile_model(core.read_model(onnx_path), "CPU", cfg)
        req = compiled.create_infer_request()
        notes[name] = {"compile_s": round(time.perf_counter() - t, 2),
                       "inference_precision": str(compiled.get_property(hints.inference_precision)),
                       "num_threads": compiled.get_property(props.inference_num_threads),
                       "cpu_pinning": compiled.get_property(hints.enable_cpu_pinning)}
        outs = [compiled.output(n) for n in QA_OUTPUTS]

        def run(seq):
            r = req.infer(feeds[seq])
            return r[outs[0]], r[outs[1]]

        return InProcess(name, precision, run)

    if want("onnxruntime"):
        engines.append(ort_engine("onnxruntime", "fp32", onnx_path))
        notes["onnxruntime"]["ort_enable_all_ops"] = onnx_info.get("ort_enable_all_ops")
    if want("onnxruntime-bert-opt"):
        engines.append(ort_engine("onnxruntime-bert-opt", "fp32", opt_path))
    if want("openvino"):
        import openvino as ov

        engines.append(ov_engine("openvino", "fp32", ov.Type.f32))
    if ARGS.candle and os.path.exists(ARGS.candle) and want("candle"):
        engines.append(Candle(ARGS.candle, ARGS.model, inputs))
    elif want("candle"):
        notes["candle"] = f"skipped: no binary at {ARGS.candle}"
        log(notes["candle"])
    if not ARGS.no_lowp:
        if want("bertqa-bf16"):
            engines.append(Bertqa(ARGS.bertqa, ARGS.model, inputs, "bf16"))
        if want("bertqa-int8"):
            engines.append(Bertqa(ARGS.bertqa, ARGS.model, inputs, "int8"))
        if want("pytorch-bf16"):
            def torch_bf16_run(seq):
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                    o = tmodel(**tfeeds[seq])
                return o.start_logits.float().numpy(), o.end_logits.float().numpy()

            engines.append(InProcess("pytorch-bf16", "bf16", torch_bf16_run))
        if want("openvino-bf16"):
            import openvino as ov

            engines.append(ov_engine("openvino-bf16", "bf16", ov.Type.bf16))
        if want("onnxruntime-int8"):
            engines.append(ort_engine("onnxruntime-int8", "int8", int8_path))
    log(f"engines loaded; peak RSS {peak_rss_gib():.1f} GiB")

    # Accuracy first (also a check that each engine runs at all).
    dlogit = {}
    for e in engines:
        for s in seqs:
            st, en = e.logits(s)
            d = max(float(np.max(np.abs(st - ref[s][0].reshape(-1)))), float(np.max(np.abs(en - ref[s][1].reshape(-1)))))
            dlogit[(e.name, s)] = d
            log(f"{e.name:17s} seq {s}: max |Δlogit| vs pytorch = {d:.3g}")
    ref_scale = {s: float(max(np.max(np.abs(ref[s][0])), np.max(np.abs(ref[s][1])))) for s in seqs}

    samples = {(e.name, s): [] for e in engines for s in seqs}
    t_all = time.perf_counter()
    rounds_done = 0
    for r in range(ARGS.rounds):
        order = engines[r % len(engines):] + engines[: r % len(engines)]
        for s in seqs:
            for e in order:
                samples[(e.name, s)] += e.time_round(s, ARGS.iters, ARGS.warmup)
                time.sleep(ARGS.pause)
        el = time.perf_counter() - t_all
        rounds_done = r + 1
        log(f"round {r + 1}/{ARGS.rounds} done ({el:.0f} s); load {os.getloadavg()[0]:.2f}")
        if ARGS.budget_s and r + 1 < ARGS.rounds and el * (r + 2) / (r + 1) > ARGS.budget_s:
            log(f"stopping after {r + 1} rounds: another would pass --budget-s {ARGS.budget_s:.0f}")
            break
    mach["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    rows = []
    for s in seqs:
        bq = sorted(samples[("bertqa", s)])
        bq_med = pick(bq, 0.5)
        for e in engines:
            ms = sorted(samples[(e.name, s)])
            med = pick(ms, 0.5)
            rows.append({"engine": e.name, "precision": e.precision, "seq": s, "batch": 1,
                         "median_ms": round(med, 2), "p90_ms": round(pick(ms, 0.9), 2), "min_ms": round(ms[0], 2),
                         "gflops": round(forward_flop(s) / (med * 1e-3) / 1e9, 1),
                         "ratio_to_bertqa": round(med / bq_med, 3),
                         "max_abs_dlogit_vs_pytorch": dlogit[(e.name, s)],
                         "samples_ms": [round(x, 3) for x in samples[(e.name, s)]]})
    summary = {}
    for s in seqs:
        fp32 = [r for r in rows if r["seq"] == s and r["engine"] in FP32_PEERS]
        if fp32:
            best = min(fp32, key=lambda r: r["median_ms"])
            bq = next(r for r in rows if r["seq"] == s and r["engine"] == "bertqa")
            summary[str(s)] = {"fastest_fp32_peer": best["engine"],
                               "bertqa_over_fastest_fp32_peer": round(bq["median_ms"] / best["median_ms"], 3),
                               "target": 0.91}
    result = {
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - t_all, 1),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "machine": mach, "versions": versions(),
        "method": {"rounds": rounds_done, "rounds_asked": ARGS.rounds, "timed_per_round": ARGS.iters,
                   "warmup_per_round": ARGS.warmup, "pause_s": ARGS.pause, "threads": T, "batch": 1, "seqs": seqs,
                   "exporter": ARGS.exporter, "bertqa_pinned": ARGS.pin_bertqa,
                   "onnx": {k: v for k, v in (onnx_info or {}).items() if k != "ort_enable_all_ops"}, "stat": "median/p90 by nearest rank over rounds x timed_per_round"},
        "reference_max_abs_logit": ref_scale,
        "engine_notes": notes | {"bertqa": getattr(engines[0], "info", {})},
        "summary": summary,
        "results": rows,
    }
    for e in engines:
        if e.name == "candle":
            result["engine_notes"]["candle"] = e.info
    os.makedirs(os.path.dirname(os.path.abspath(ARGS.out)), exist_ok=True)
    with open(ARGS.out, "w") as f:
        json.dump(result, f, indent=1)
    log(f"wrote {ARGS.out}")

    print(f"Batch 1, {T} threads, {rounds_done} rounds × {ARGS.iters} timed forwards per engine "
          f"(round-robin); CPU: {mach['cpu']}; load avg {mach['loadavg_at_start'][0]} → {mach['loadavg_at_end'][0]}.\n")
    print("| engine | precision | seq | median ms | p90 ms | GFLOP/s | ÷ bertqa median | max \\|Δlogit\\| vs PyTorch |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = r["engine"] if r["precision"] == "fp32" else f"{r['engine']} *(for the record)*"
        d = r["max_abs_dlogit_vs_pytorch"]
        print(f"| {name} | {r['precision']} | {r['seq']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['gflops']:.0f} | "
              f"{r['ratio_to_bertqa']:.2f}× | {'0 (reference)' if r['engine'] == 'pytorch' else f'{d:.1e}'} |")
    print()
    for s, v in summary.items():
        print(f"seq {s}: bertqa / fastest fp32 peer ({v['fastest_fp32_peer']}) = "
              f"{v['bertqa_over_fastest_fp32_peer']:.2f} (target ≤ {v['target']})")
    print(f"reference logit scale (max |logit|, PyTorch): {ref_scale}")


def peak_rss_gib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    if ARGS.step:
        tag = os.path.basename(os.path.normpath(ARGS.model))
        base = os.path.join(ARGS.workdir, f"{tag}-{ARGS.exporter}")
        if ARGS.step == "export":
            step_export(base + ".onnx")
        elif ARGS.step == "optimize":
            step_optimize(base + ".onnx", base + ".bert-opt.onnx")
        else:
            step_quantize(base + ".bert-opt.onnx", base + ".bert-opt.int8.onnx")
        log(f"step {ARGS.step} done; peak RSS {peak_rss_gib():.1f} GiB")
    else:
        main()
