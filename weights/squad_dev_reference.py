#!/usr/bin/env python3
"""Reference SQuAD v1.1 dev predictions of a trained extractive-QA BERT, from PyTorch.

Runs a `BertForQuestionAnswering` checkpoint (default: ../shared/models/minilm-squad) over a
SQuAD v1.1 file (default: ../shared/data/squad-v1.1-dev.json) with the model card's settings
(max_seq_length 384, max_query_length 64, doc_stride 128, n_best 20, max_answer_length 30) in
two ways, and scores both with the official evaluate-v1.1 functions (weights/squad_reference.py):

* step  — Google's run_squad.py: the question cut to 64 tokens, window starts 128 tokens apart,
          the max-context rule, span score = start logit + end logit. The rules are those of
          weights/make_answer_reference.py (an independent Python implementation of run_squad's
          write_predictions), reused here; tokens and offsets from Hugging Face's fast tokenizer.
          This is `bertqa eval` (`--stride-mode step`, the default).
* overlap — Hugging Face run_qa.py: windows made by the fast tokenizer itself
          (truncation="only_second", stride=128 shared tokens, return_overflowing_tokens), and
          run_qa's postprocess_qa_predictions (n_best start and end logits per window, spans
          inside the context and at most 30 tokens, score = start + end logit, best over all
          windows; no max-context rule). This is `bertqa eval --stride-mode overlap`.

Writes, into --out (default tests/fixtures/squad), NAME being --name (default minilm):
  NAME_step_predictions.json, NAME_overlap_predictions.json  — {id: text}, the official format
  NAME_reference.json — settings, versions, checksums, EM/F1, windows, timings, and the
                          questions whose best answer wins by less than CLOSE_CALL in score
                          (the near ties that a 1e-4 logit difference could flip).

Needs torch and transformers==4.57.* (not needed by CI). Run with 2 threads, e.g.

    nice -n 15 /work/venv-ref/bin/python weights/squad_dev_reference.py
    nice -n 15 /work/venv-ref/bin/python weights/squad_dev_reference.py --pipeline 1,8,32
        # also times Hugging Face's question-answering pipeline at these batch sizes

The model directory and the dataset may also come from $BERTQA_QA_MODEL and $BERTQA_SQUAD_DEV.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import torch
import transformers
from transformers import BertForQuestionAnswering, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from make_answer_reference import best_indexes, doc_spans, is_max_context  # noqa: E402
from squad_reference import evaluate  # noqa: E402

assert transformers.__version__.startswith("4.57."), transformers.__version__

SETTINGS = dict(max_seq_length=384, max_query_length=64, doc_stride=128, n_best=20,
                max_answer_length=30)
# A best answer that beats the next different text by less than this (start + end logit) is a
# near tie: bertqa's logits agree with PyTorch's within 1e-4 each (tests/common tol), so a score
# sum within 2e-4; 1e-3 keeps every question that could plausibly flip.
CLOSE_CALL = 1e-3


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_dataset(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    paragraphs = []  # (title, context, [(id, question, answers)])
    for article in data:
        for p in article["paragraphs"]:
            qas = [(qa["id"], qa["question"], [a["text"] for a in qa["answers"]]) for qa in p["qas"]]
            paragraphs.append((article["title"], p["context"], qas))
    return data, paragraphs


class Runner:
    """Runs windows through the model in padded batches (padding masked, logits cut back to the
    real length), caching logits by input ids so the two modes share identical windows."""

    def __init__(self, model):
        self.model = model
        self.cache = {}
        self.windows = 0
        self.tokens = 0

    def logits(self, seqs):
        """seqs: list of (input_ids, token_type_ids); returns [(start, end)] as Python lists."""
        todo = [s for s in dict.fromkeys(tuple(ids) + (-1,) + tuple(t) for ids, t in seqs)
                if s not in self.cache]
        if todo:
            rows = []
            for key in todo:
                cut = key.index(-1)
                rows.append((list(key[:cut]), list(key[cut + 1:])))
            n = max(len(r[0]) for r in rows)
            ids = torch.zeros((len(rows), n), dtype=torch.long)
            types = torch.zeros((len(rows), n), dtype=torch.long)
            mask = torch.zeros((len(rows), n), dtype=torch.long)
            for i, (a, t) in enumerate(rows):
                ids[i, : len(a)] = torch.tensor(a)
                types[i, : len(a)] = torch.tensor(t)
                mask[i, : len(a)] = 1
            with torch.inference_mode():
                out = self.model(input_ids=ids, token_type_ids=types, attention_mask=mask)
            for i, key in enumerate(todo):
                L = len(rows[i][0])
                self.cache[key] = (out.start_logits[i, :L].tolist(), out.end_logits[i, :L].tolist())
                self.windows += 1
                self.tokens += L
        return [self.cache[tuple(ids) + (-1,) + tuple(t)] for ids, t in seqs]


def finish(prelim, context, offsets, n_best):
    """Candidates (score, first, last) sorted by score (stable), first n_best distinct spans →
    (text, score, gap to the best candidate with another text)."""
    prelim.sort(key=lambda p: p[0], reverse=True)
    best, seen = [], set()
    for score, a, b in prelim:
        if len(best) == n_best:
            break
        if (a, b) in seen:
            continue
        seen.add((a, b))
        best.append((score, a, b))
    if not best:
        return "", None, None
    texts = [context[offsets[a][0]: offsets[b][1]] for _, a, b in best]
    gap = next((best[0][0] - s for (s, _, _), t in zip(best, texts) if t != texts[0]), None)
    return texts[0], best[0][0], gap


def step_windows(tok, context, qas, o):
    """Google run_squad.py windows for the questions of one paragraph: (the context's token
    offsets, [(qid, question ids, doc spans, [(input_ids, token_type_ids)] one per span)])."""
    c = tok(context, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = c["input_ids"], c["offset_mapping"]
    jobs = []
    for qid, question, _ in qas:
        q = tok(question, add_special_tokens=False)["input_ids"][: o["max_query_length"]]
        max_doc = o["max_seq_length"] - len(q) - 3
        spans = doc_spans(len(ids), max_doc, dict(o, stride_mode="step"))
        seqs = [([101] + q + [102] + ids[s: s + l] + [102], [0] * (len(q) + 2) + [1] * (l + 1))
                for s, l in spans]
        jobs.append((qid, q, spans, seqs))
    return offsets, jobs


def step_candidates(start, end, q, spans, wi, o):
    """run_squad's valid spans of window wi, in its loop order (n_best start indexes, then n_best
    end indexes): [(start index, end index, first context token, last context token)]."""
    s, l = spans[wi]
    off = len(q) + 2
    out = []
    for si in best_indexes(start, o["n_best"]):
        for ei in best_indexes(end, o["n_best"]):
            if not (off <= si < off + l and off <= ei < off + l):
                continue
            if ei < si or ei - si + 1 > o["max_answer_length"]:
                continue
            if not is_max_context(spans, wi, s + si - off):
                continue
            out.append((si, ei, s + si - off, s + ei - off))
    return out


def run_step(runner, tok, paragraphs, o):
    """run_squad.py rules (see weights/make_answer_reference.py), batched per paragraph."""
    preds, gaps, windows = {}, {}, {}
    for _, context, qas in paragraphs:
        offsets, jobs = step_windows(tok, context, qas, o)
        for qid, _, spans, _ in jobs:
            windows[qid] = len(spans)
        logits = runner.logits([s for job in jobs for s in job[3]])
        k = 0
        for qid, q, spans, seqs in jobs:
            prelim = []
            for wi in range(len(spans)):
                start, end = logits[k]
                k += 1
                prelim += [(start[si] + end[ei], a, b) for si, ei, a, b in step_candidates(start, end, q, spans, wi, o)]
            preds[qid], _, gaps[qid] = finish(prelim, context, offsets, o["n_best"])
    return preds, gaps, windows


def overlap_windows(tok, question, context, o):
    """Hugging Face run_qa.py features of one question: the fast tokenizer's overflowing windows,
    [(input_ids, token_type_ids, per token its (start, end) in the context, None outside it)]."""
    enc = tok(question.lstrip(), context, truncation="only_second",
              max_length=o["max_seq_length"], stride=o["doc_stride"],
              return_overflowing_tokens=True, return_offsets_mapping=True)
    feats = []
    for i in range(len(enc["input_ids"])):
        seq_ids = enc.sequence_ids(i)
        offsets = [off if seq_ids[j] == 1 else None for j, off in enumerate(enc["offset_mapping"][i])]
        feats.append((enc["input_ids"][i], enc["token_type_ids"][i], offsets))
    return feats


def overlap_candidates(start_indexes, end_indexes, offsets, o):
    """postprocess_qa_predictions' valid spans of one feature, in its loop order:
    [(start index, end index, first character, end character)]."""
    out = []
    for si in start_indexes:
        for ei in end_indexes:
            if offsets[si] is None or offsets[ei] is None:
                continue
            if ei < si or ei - si + 1 > o["max_answer_length"]:
                continue
            out.append((si, ei, offsets[si][0], offsets[ei][1]))
    return out


def run_overlap(runner, tok, paragraphs, o):
    """Hugging Face run_qa.py: the tokenizer's overflowing windows and postprocess_qa_predictions."""
    preds, gaps, windows = {}, {}, {}
    for _, context, qas in paragraphs:
        jobs = []
        for qid, question, _ in qas:
            feats = overlap_windows(tok, question, context, o)
            jobs.append((qid, feats))
            windows[qid] = len(feats)
        logits = runner.logits([(f[0], f[1]) for _, feats in jobs for f in feats])
        k = 0
        for qid, feats in jobs:
            prelim = []  # (score, char_start, char_end), in feature order then index order
            for _, _, offsets in feats:
                start, end = logits[k]
                k += 1
                cands = overlap_candidates(best_indexes(start, o["n_best"]), best_indexes(end, o["n_best"]), offsets, o)
                prelim += [(start[si] + end[ei], a, b) for si, ei, a, b in cands]
            # run_qa: sorted by score, the first n_best kept (duplicates not merged); best first.
            prelim.sort(key=lambda p: p[0], reverse=True)
            prelim = prelim[: o["n_best"]]
            if not prelim:
                preds[qid], gaps[qid] = "", None
                continue
            texts = [context[a:b] for _, a, b in prelim]
            preds[qid] = texts[0]
            gaps[qid] = next((prelim[0][0] - s for (s, _, _), t in zip(prelim, texts) if t != texts[0]), None)
    return preds, gaps, windows


def time_pipeline(model, tok, paragraphs, batch_sizes, limit):
    """Hugging Face's question-answering pipeline (its own windows and post-processing) over the
    first `limit` questions at each batch size; returns [{batch_size, seconds, questions}]."""
    from transformers import pipeline
    qa = pipeline("question-answering", model=model, tokenizer=tok, device=-1)
    items = [dict(question=q, context=c) for _, c, qas in paragraphs for _, q, _ in qas][:limit]
    ids = [qid for _, _, qas in paragraphs for qid, _, _ in qas][:limit]
    results = []
    for bs in batch_sizes:
        t = time.perf_counter()
        out = qa(items, batch_size=bs, max_seq_len=SETTINGS["max_seq_length"],
                 doc_stride=SETTINGS["doc_stride"], max_question_len=SETTINGS["max_query_length"],
                 max_answer_len=SETTINGS["max_answer_length"], top_k=1)
        secs = time.perf_counter() - t
        preds = {qid: (a["answer"] if isinstance(a, dict) else a[0]["answer"]) for qid, a in zip(ids, out)}
        results.append(dict(batch_size=bs, seconds=secs, questions=len(items),
                            questions_per_s=len(items) / secs, predictions=preds))
        print(f"pipeline batch_size {bs}: {len(items)} questions in {secs:.1f} s "
              f"({len(items) / secs:.1f} questions/s)", flush=True)
    return results


def main():
    default_model = os.environ.get("BERTQA_QA_MODEL", os.path.join(ROOT, "..", "shared", "models", "minilm-squad"))
    default_data = os.environ.get("BERTQA_SQUAD_DEV", os.path.join(ROOT, "..", "shared", "data", "squad-v1.1-dev.json"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=default_model)
    ap.add_argument("--data", default=default_data)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "squad"))
    ap.add_argument("--name", default="minilm", help="prefix of the files written (NAME_step_predictions.json...)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-paragraphs", type=int, default=None, help="only the first N paragraphs (a quick try)")
    ap.add_argument("--pipeline", default="", help="also time the HF pipeline at these batch sizes, e.g. 1,8,32")
    ap.add_argument("--pipeline-only", action="store_true", help="only time the pipeline")
    ap.add_argument("--pipeline-limit", type=int, default=None, help="questions for the pipeline timing (default all)")
    ap.add_argument("--pipeline-out", default=os.path.join(ROOT, "target", "squad_pipeline.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tok = BertTokenizerFast(vocab_file=os.path.join(args.model, "vocab.txt"), do_lower_case=True)
    assert tok.vocab_size == 30522, tok.vocab_size
    model = BertForQuestionAnswering.from_pretrained(args.model, attn_implementation="eager").eval()
    data, paragraphs = load_dataset(args.data)
    if args.limit_paragraphs:
        paragraphs = paragraphs[: args.limit_paragraphs]
    n_questions = sum(len(p[2]) for p in paragraphs)
    # Score exactly the questions that were run (all of them unless --limit-paragraphs).
    kept = {qid for _, _, qas in paragraphs for qid, _, _ in qas}
    scored = [dict(a, paragraphs=[dict(p, qas=[qa for qa in p["qas"] if qa["id"] in kept]) for p in a["paragraphs"]])
              for a in data]

    if args.pipeline:
        sizes = [int(b) for b in args.pipeline.split(",")]
        results = time_pipeline(model, tok, paragraphs, sizes, args.pipeline_limit or n_questions)
        for r in results:
            scores, _ = evaluate(scored, r["predictions"]) if r["questions"] == n_questions else (None, None)
            r["scores"] = scores
            del r["predictions"]
        os.makedirs(os.path.dirname(args.pipeline_out), exist_ok=True)
        with open(args.pipeline_out, "w") as f:
            json.dump(dict(torch=torch.__version__, transformers=transformers.__version__,
                           threads=args.threads, runs=results), f, indent=1)
        print("wrote", args.pipeline_out)
        if args.pipeline_only:
            return

    o = dict(SETTINGS)
    runner = Runner(model)
    report = dict(generator="weights/squad_dev_reference.py", model=os.path.basename(os.path.normpath(args.model)),
                  model_sha256=sha256(os.path.join(args.model, "model.safetensors")),
                  data=os.path.basename(args.data), data_sha256=sha256(args.data),
                  torch=torch.__version__, transformers=transformers.__version__, threads=args.threads,
                  settings=o, questions=n_questions, close_call=CLOSE_CALL, modes={})
    for mode, fn in [("step", run_step), ("overlap", run_overlap)]:
        w0, t0, s0 = runner.windows, runner.tokens, time.perf_counter()
        preds, gaps, windows = fn(runner, tok, paragraphs, o)
        secs = time.perf_counter() - s0
        scores, unanswered = evaluate(scored, preds)
        assert not unanswered
        close = {qid: g for qid, g in gaps.items() if g is not None and g < CLOSE_CALL}
        report["modes"][mode] = dict(
            exact_match=scores["exact_match"], f1=scores["f1"], windows=sum(windows.values()),
            multi_window=sorted(q for q, n in windows.items() if n > 1),
            new_windows=runner.windows - w0, new_tokens=runner.tokens - t0, seconds=secs,
            questions_per_s=n_questions / secs, no_answer=sorted(q for q, p in preds.items() if p == ""),
            close_calls=dict(sorted(close.items())))
        print(f"{mode}: EM {scores['exact_match']:.4f} F1 {scores['f1']:.4f}; {runner.windows - w0} windows run "
              f"({runner.tokens - t0} tokens) in {secs:.1f} s = {n_questions / secs:.1f} questions/s; "
              f"{len(close)} close calls (< {CLOSE_CALL})", flush=True)
        os.makedirs(args.out, exist_ok=True)
        write_json(os.path.join(args.out, f"{args.name}_{mode}_predictions.json"), preds, indent=0)
    write_json(os.path.join(args.out, f"{args.name}_reference.json"), report, indent=1)
    print("wrote", args.out)


def write_json(path, obj, indent):
    """`obj` as UTF-8 JSON with a final newline, as every fixture of this script is written."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


if __name__ == "__main__":
    main()
