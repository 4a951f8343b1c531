#!/usr/bin/env python3
"""Reference SQuAD 2.0 dev predictions, with null answers, of a trained extractive-QA BERT.

Runs a `BertForQuestionAnswering` checkpoint (default: ../shared/models/minilm-squad, or
$BERTQA_QA_MODEL) over a SQuAD 2.0 file (default: ../shared/data/squad-v2.0-dev.json, or
$BERTQA_SQUAD_V2_DEV) with the settings of weights/squad_dev_reference.py (max_seq_length 384,
max_query_length 64, doc_stride 128, n_best 20, max_answer_length 30), whose windows, model runner
and span rules it imports, in the same two modes, adding the SQuAD 2.0 null answer:

* null score of a question = the minimum over its windows of start_logit[0] + end_logit[0]
  (index 0 is [CLS]; the first window wins a tie);
* best non-null answer = the best span of the v1 rules of that mode;
* score_diff = null_score - start_logit(best) - end_logit(best), evaluated left to right;
* prediction "" if score_diff > null_score_diff_threshold (0.0), else the best span's text.

step — Google's run_squad.py write_predictions with version_2_with_negative: the spans of
    squad_dev_reference.run_step (max-context rule, best_indexes = a stable sort, so equal logits
    keep the lower index first), candidates sorted by start + end logit with a stable sort; all
    arithmetic on Python floats (float64) of the float32 logits, as run_squad does. The null
    candidate and the n-best list change nothing about which span is the best non-null one (it is
    the first candidate in sorted order), so they are not built.
    Where a question has no valid span at all, run_squad would fail (best_non_null_entry is None);
    we do what transformers' squad_metrics.compute_predictions_logits (its port of run_squad)
    does there: an "empty" entry with start and end logit 0.0 is the best non-null, so
    score_diff = null_score and the prediction is "" if null_score > 0 and else the text "empty".

overlap — Hugging Face's run_qa.py with examples/pytorch/question-answering/utils_qa.py
    postprocess_qa_predictions(version_2_with_negative=True, null_score_diff_threshold=0.0),
    followed exactly:
      - per feature, in feature order: the null score start[0] + end[0]; it replaces the kept
        minimum only when strictly smaller (so the first feature wins ties); then the top n_best
        start and end indexes are np.argsort(logits)[-1:-n_best-1:-1] (numpy's default sort, which
        is not stable: on equal logits the order is numpy's), start loop outside, end loop inside,
        spans whose tokens are outside the context, reversed or longer than 30 tokens skipped;
      - the minimum null prediction (offsets (0, 0)) is appended after all spans; the list is
        sorted by score, descending, with Python's stable sort (equal scores keep their order:
        features first to last, then start rank, then end rank; the null after every span of
        equal score) and cut to n_best; duplicates of one text (the same span seen in two
        windows) are NOT merged; if no prediction with offsets (0, 0) is left, the null one is
        appended at the end;
      - texts are context[start_char:end_char]; the null's text is "";
      - if the list is empty or holds only one prediction whose text is "" (no valid span), a
        placeholder {"text": "empty", start_logit 0.0, end_logit 0.0, score 0.0} is inserted in
        front; the best non-null is the first prediction whose text is not "" (so the placeholder,
        when there is one: score_diff = null_score, and the prediction is "empty" unless
        null_score > 0);
      - run_qa's logits are float32 numpy arrays, so every sum and difference is float32
        arithmetic (score = start + end rounded to float32; score_diff = (null - start) - end,
        each step rounded to float32); null odds are float(score_diff).
    Differences from step: windows from the tokenizer (overlapping by 128 tokens) rather than
    128-token steps; no max-context rule; float32 instead of float64 sums; numpy's argsort instead
    of a stable sort. One difference from run_qa itself, as in squad_dev_reference.py: run_qa pads
    every feature to 384 tokens by default (--pad_to_max_length) and the padding positions' logits
    then take part in the argsort; here only the real tokens have logits (run_qa with
    --pad_to_max_length False and one feature per batch).
    The report lists the questions whose outcome would change with a stable sort instead of
    numpy's, or with float64 arithmetic instead of float32 (both empty means a reimplementation
    need not copy those two details to match this file).

Scores with weights/squad_reference_v2.py (the official evaluate-v2.0 metrics), the null odds
file being the score_diff of each question (na_prob_thresh 1.0, the official default).

Writes, into --out (default tests/fixtures/squad), NAME being --name (default minilm):
  NAME_v2_step_predictions.json, NAME_v2_overlap_predictions.json   {id: text}, "" = no answer
  NAME_v2_step_null_odds.json, NAME_v2_overlap_null_odds.json       {id: score_diff}
  NAME_v2_reference.json — settings, versions, checksums, metrics per mode, windows, timings, and
      the close calls: questions whose |score_diff| < CLOSE_CALL (null-vs-span decision) or whose
      best span beats the next span with another text by less than CLOSE_CALL.

Needs torch and transformers==4.57.* (not needed by CI). Run with 2 threads, e.g.

    nice -n 15 /work/venv/bin/python weights/squad_v2_reference.py
    nice -n 15 /work/venv/bin/python weights/squad_v2_reference.py --limit-paragraphs 20 --out /tmp/v2-try
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import transformers
from transformers import BertForQuestionAnswering, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from make_answer_reference import best_indexes  # noqa: E402
from squad_dev_reference import (CLOSE_CALL, SETTINGS, Runner, load_dataset, overlap_candidates, write_json,  # noqa: E402
                                 overlap_windows, sha256, step_candidates, step_windows)
from squad_reference_v2 import NA_PROB_THRESH, evaluate_v2  # noqa: E402

assert transformers.__version__.startswith("4.57."), transformers.__version__

NULL_SCORE_DIFF_THRESHOLD = 0.0


def margin(cands, text_of):
    """Best score minus the best score of another text; cands sorted best first, (score, key...)."""
    if not cands:
        return None
    first = text_of(cands[0])
    return next((float(cands[0][0] - c[0]) for c in cands if text_of(c) != first), None)


def run_step(runner, tok, paragraphs, o):
    out = dict(preds={}, odds={}, margins={}, windows={}, empty=[])
    for _, context, qas in paragraphs:
        offsets, jobs = step_windows(tok, context, qas, o)
        logits = runner.logits([s for job in jobs for s in job[3]])
        k = 0
        for qid, q, spans, _ in jobs:
            out["windows"][qid] = len(spans)
            null = None  # (score, start logit, end logit) of the window with the smallest null score
            prelim = []  # (score, first token, last token, start logit, end logit)
            for wi in range(len(spans)):
                start, end = logits[k]
                k += 1
                if null is None or start[0] + end[0] < null[0]:
                    null = (start[0] + end[0], start[0], end[0])
                prelim += [(start[si] + end[ei], a, b, start[si], end[ei])
                           for si, ei, a, b in step_candidates(start, end, q, spans, wi, o)]
            prelim.sort(key=lambda p: p[0], reverse=True)
            text_of = lambda p: context[offsets[p[1]][0]: offsets[p[2]][1]]  # noqa: E731
            if prelim:
                best_text, best_start, best_end = text_of(prelim[0]), prelim[0][3], prelim[0][4]
            else:
                best_text, best_start, best_end = "empty", 0.0, 0.0
                out["empty"].append(qid)
            diff = null[0] - best_start - best_end
            out["odds"][qid] = diff
            out["preds"][qid] = "" if diff > NULL_SCORE_DIFF_THRESHOLD else best_text
            out["margins"][qid] = margin(prelim, text_of)
    return out


def postprocess_run_qa(feature_logits, context, o, dtype=np.float32, stable=False):
    """utils_qa.postprocess_qa_predictions for one example (version_2_with_negative=True):
    feature_logits = [(start logits, end logits, offsets)] in feature order.
    Returns (prediction, score_diff, margin, placeholder used)."""
    n = o["n_best"]
    min_null = None
    prelim = []  # (score, char start, char end, start logit, end logit)
    for start, end, offsets in feature_logits:
        start = np.asarray(start, dtype=dtype)
        end = np.asarray(end, dtype=dtype)
        null_score = start[0] + end[0]
        if min_null is None or min_null[0] > null_score:
            min_null = (null_score, 0, 0, start[0], end[0])
        if stable:
            top_s, top_e = best_indexes(start.tolist(), n), best_indexes(end.tolist(), n)
        else:
            top_s = np.argsort(start)[-1: -n - 1: -1].tolist()
            top_e = np.argsort(end)[-1: -n - 1: -1].tolist()
        prelim += [(start[si] + end[ei], a, b, start[si], end[ei])
                   for si, ei, a, b in overlap_candidates(top_s, top_e, offsets, o)]
    spans = sorted(prelim, key=lambda p: p[0], reverse=True)
    prelim.append(min_null)
    null_score = min_null[0]
    best = sorted(prelim, key=lambda p: p[0], reverse=True)[:n]
    if not any((p[1], p[2]) == (0, 0) for p in best):
        best.append(min_null)
    texts = [context[p[1]: p[2]] for p in best]
    placeholder = len(best) == 0 or (len(best) == 1 and texts[0] == "")
    if placeholder:
        best.insert(0, (0.0, None, None, 0.0, 0.0))
        texts.insert(0, "empty")
    i = 0
    while texts[i] == "":
        i += 1
    diff = null_score - best[i][3] - best[i][4]
    pred = "" if diff > NULL_SCORE_DIFF_THRESHOLD else texts[i]
    return pred, float(diff), margin(spans, lambda p: context[p[1]: p[2]]), placeholder


def run_overlap(runner, tok, paragraphs, o):
    out = dict(preds={}, odds={}, margins={}, windows={}, empty=[], argsort_sensitive=[],
               float32_sensitive=[])
    for _, context, qas in paragraphs:
        jobs = [(qid, overlap_windows(tok, question, context, o)) for qid, question, _ in qas]
        logits = runner.logits([(f[0], f[1]) for _, feats in jobs for f in feats])
        k = 0
        for qid, feats in jobs:
            out["windows"][qid] = len(feats)
            fl = []
            for _, _, offsets in feats:
                start, end = logits[k]
                k += 1
                fl.append((start, end, offsets))
            pred, diff, m, placeholder = postprocess_run_qa(fl, context, o)
            out["preds"][qid], out["odds"][qid], out["margins"][qid] = pred, diff, m
            if placeholder:
                out["empty"].append(qid)
            if postprocess_run_qa(fl, context, o, stable=True)[:2] != (pred, diff):
                out["argsort_sensitive"].append(qid)
            alt_pred, alt_diff, _, _ = postprocess_run_qa(fl, context, o, dtype=np.float64)
            if alt_pred != pred or (alt_diff > NULL_SCORE_DIFF_THRESHOLD) != (diff > NULL_SCORE_DIFF_THRESHOLD):
                out["float32_sensitive"].append(qid)
    return out


def main():
    default_model = os.environ.get("BERTQA_QA_MODEL", os.path.join(ROOT, "..", "shared", "models", "minilm-squad"))
    default_data = os.environ.get("BERTQA_SQUAD_V2_DEV",
                                  os.path.join(ROOT, "..", "shared", "data", "squad-v2.0-dev.json"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=default_model)
    ap.add_argument("--data", default=default_data)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "squad"))
    ap.add_argument("--name", default="minilm", help="prefix of the files written (NAME_v2_step_predictions.json...)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-paragraphs", type=int, default=None, help="only the first N paragraphs (a quick try)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tok = BertTokenizerFast(vocab_file=os.path.join(args.model, "vocab.txt"), do_lower_case=True)
    assert tok.vocab_size == 30522, tok.vocab_size
    model = BertForQuestionAnswering.from_pretrained(args.model, attn_implementation="eager").eval()
    data, paragraphs = load_dataset(args.data)
    if args.limit_paragraphs:
        paragraphs = paragraphs[: args.limit_paragraphs]
    kept = {qid for _, _, qas in paragraphs for qid, _, _ in qas}
    scored = [dict(a, paragraphs=[dict(p, qas=[qa for qa in p["qas"] if qa["id"] in kept]) for p in a["paragraphs"]])
              for a in data]
    n_questions = len(kept)
    n_answerable = sum(1 for _, _, qas in paragraphs for _, _, answers in qas if answers)

    o = dict(SETTINGS)
    runner = Runner(model)
    report = dict(generator="weights/squad_v2_reference.py", model=os.path.basename(os.path.normpath(args.model)),
                  model_sha256=sha256(os.path.join(args.model, "model.safetensors")),
                  data=os.path.basename(args.data), data_sha256=sha256(args.data),
                  torch=torch.__version__, transformers=transformers.__version__, numpy=np.__version__,
                  threads=args.threads,
                  settings=dict(o, null_score_diff_threshold=NULL_SCORE_DIFF_THRESHOLD, na_prob_thresh=NA_PROB_THRESH),
                  questions=n_questions, answerable=n_answerable, unanswerable=n_questions - n_answerable,
                  close_call=CLOSE_CALL, modes={})
    os.makedirs(args.out, exist_ok=True)
    for mode, fn in [("step", run_step), ("overlap", run_overlap)]:
        w0, t0, s0 = runner.windows, runner.tokens, time.perf_counter()
        r = fn(runner, tok, paragraphs, o)
        secs = time.perf_counter() - s0
        assert set(r["preds"]) == kept
        metrics = evaluate_v2(scored, r["preds"], r["odds"])
        close = {}
        for qid in sorted(kept):
            d, m = r["odds"][qid], r["margins"][qid]
            if abs(d) < CLOSE_CALL or (m is not None and m < CLOSE_CALL):
                close[qid] = dict(score_diff=d, margin=m)
        entry = dict(
            metrics=metrics, metrics_without_null_odds=evaluate_v2(scored, r["preds"]),
            windows=sum(r["windows"].values()),
            multi_window=sorted(q for q, n in r["windows"].items() if n > 1),
            new_windows=runner.windows - w0, new_tokens=runner.tokens - t0, seconds=secs,
            questions_per_s=n_questions / secs,
            predicted_null=sum(1 for p in r["preds"].values() if p == ""),
            no_valid_span=r["empty"], close_calls=close)
        for key in ("argsort_sensitive", "float32_sensitive"):
            if key in r:
                entry[key] = r[key]
        report["modes"][mode] = entry
        print(f"{mode}: exact {metrics['exact']:.4f} f1 {metrics['f1']:.4f} (HasAns {metrics['HasAns_f1']:.2f}, "
              f"NoAns {metrics['NoAns_f1']:.2f}; best_f1 {metrics['best_f1']:.4f} at {metrics['best_f1_thresh']:.4f}); "
              f"{entry['predicted_null']} null; {runner.windows - w0} windows run ({runner.tokens - t0} tokens) "
              f"in {secs:.1f} s = {n_questions / secs:.1f} questions/s; {len(close)} close calls", flush=True)
        for kind, obj in (("predictions", r["preds"]), ("null_odds", r["odds"])):
            write_json(os.path.join(args.out, f"{args.name}_v2_{mode}_{kind}.json"), obj, indent=0)
    write_json(os.path.join(args.out, f"{args.name}_v2_reference.json"), report, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
