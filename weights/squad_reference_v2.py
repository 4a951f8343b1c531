#!/usr/bin/env python3
"""Reference scores for SQuAD 2.0 evaluation: the metrics of the official evaluate-v2.0.py,
implemented again here (independently written, same rules), for bertqa's v2 metric code.

Given the dataset, the predictions {id: text} and optionally the "null odds" {id: float}
(--na-prob-file of the official script; here the score_diff of each question), it computes

    exact, f1, total                 over every question that has a prediction
    HasAns_exact, HasAns_f1, HasAns_total   over the questions with a non-empty "answers" list
    NoAns_exact, NoAns_f1, NoAns_total      over the others (is_impossible, answers [])
    best_exact, best_exact_thresh, best_f1, best_f1_thresh   only with null odds

with the official rules, all of which a bit-for-bit reimplementation has to copy:

* normalization is evaluate-v1.1's normalize_answer (weights/squad_reference.py; v2's differs only
  by re.UNICODE, the default for str patterns in Python 3);
* a question "has an answer" iff its "answers" list is non-empty (is_impossible is not read);
* gold texts that normalize to "" are dropped; if none is left, the only gold text is "";
* exact = 1 iff the normalized strings are equal; F1 over normalized tokens (split on whitespace),
  where an empty prediction or an empty gold gives 1 if both are empty and 0 otherwise, then
  precision = same/len(pred), recall = same/len(gold), f1 = (2*precision*recall)/(precision+recall);
  the maximum over gold texts;
* a question missing from the predictions is left out of exact/f1/total; the official script then
  fails with a KeyError in the HasAns/NoAns sums, and so does this one (ValueError);
* thresholding: where null_odds[id] > na_prob_thresh (default 1.0) the question's exact and f1
  become 1.0 if it has no answer and 0.0 if it has one (without null odds every id gets 0.0, so
  nothing changes);
* the sums run in dataset order (f1 values are floats: the order fixes the last bits), each
  average is 100.0 * sum / total;
* best thresholds (find_best_thresh), computed on the scores before thresholding: ids sorted by
  null odds ascending, a stable sort, so ties keep the order of the null-odds file; ids without a
  score skipped; start at count = number of unanswerable questions in the dataset, best = that,
  best_thresh = 0.0; for each id add its score if it has an answer, else -1 if its prediction is
  non-empty, else 0; whenever count > best (strictly), best = count and best_thresh = its null
  odds; best_x = 100.0 * best / (number of scored questions).

Writes tests/fixtures/squad/expected-v2.json from mini-dev-v2.json, mini-preds-v2.json and
mini-null-odds-v2.json (hand-made: two paragraphs of the official dev-v2.0 set with their real
questions, and one made-up paragraph with edge cases; predictions and null odds chosen to cover
every rule above: ties, odds above 1.0, negative odds, an id not in the dataset, gold texts that
normalize to ""). No packages needed.

    python3 weights/squad_reference_v2.py            # rewrite tests/fixtures/squad/expected-v2.json
    python3 weights/squad_reference_v2.py --check    # compare with the committed file instead
    python3 weights/squad_reference_v2.py DATA PREDS [NULL_ODDS]   # print the metrics as JSON
"""
import json
import os
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from squad_reference import normalize_answer  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "squad")
NA_PROB_THRESH = 1.0


def questions(dataset):
    """(id, answers) of every question, in dataset order."""
    return [(qa["id"], qa["answers"]) for article in dataset for p in article["paragraphs"] for qa in p["qas"]]


def answerable(dataset):
    return {qid: len(answers) > 0 for qid, answers in questions(dataset)}


def words(text):
    return normalize_answer(text).split() if text else []


def exact_one(gold, pred):
    return int(normalize_answer(gold) == normalize_answer(pred))


def f1_one(gold, pred):
    g, p = words(gold), words(pred)
    if not g or not p:
        return int(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    if same == 0:
        return 0
    precision = 1.0 * same / len(p)
    recall = 1.0 * same / len(g)
    return (2 * precision * recall) / (precision + recall)


def golds(answers):
    kept = [a["text"] for a in answers if normalize_answer(a["text"])]
    return kept or [""]


def raw_scores(dataset, preds):
    """({id: exact}, {id: f1}, [ids without prediction]), in dataset order."""
    ex, f1, missing = {}, {}, []
    for qid, answers in questions(dataset):
        if qid not in preds:
            missing.append(qid)
            continue
        g = golds(answers)
        ex[qid] = max(exact_one(t, preds[qid]) for t in g)
        f1[qid] = max(f1_one(t, preds[qid]) for t in g)
    return ex, f1, missing


def thresholded(scores, na_probs, has_ans, thresh):
    return {qid: (float(not has_ans[qid]) if na_probs[qid] > thresh else s) for qid, s in scores.items()}


def averages(ex, f1, ids=None):
    if ids is None:
        ids = list(ex)
    missing = [q for q in ids if q not in ex]
    if missing:
        raise ValueError(f"no prediction for {missing[:5]} (the official script fails here too)")
    n = len(ids)
    return {"exact": 100.0 * sum(ex[q] for q in ids) / n, "f1": 100.0 * sum(f1[q] for q in ids) / n, "total": n}


def best_threshold(preds, scores, na_probs, has_ans):
    count = best = sum(1 for v in has_ans.values() if not v)
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            count += scores[qid]
        elif preds[qid]:
            count += -1
        if count > best:
            best, best_thresh = count, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def evaluate_v2(dataset, preds, na_probs=None, na_prob_thresh=NA_PROB_THRESH):
    """The official metrics dict (same keys, same order); null odds optional as in the script."""
    odds = na_probs if na_probs is not None else {k: 0.0 for k in preds}
    has_ans = answerable(dataset)
    ex_raw, f1_raw, _ = raw_scores(dataset, preds)
    ex = thresholded(ex_raw, odds, has_ans, na_prob_thresh)
    f1 = thresholded(f1_raw, odds, has_ans, na_prob_thresh)
    out = averages(ex, f1)
    for prefix, want in (("HasAns", True), ("NoAns", False)):
        ids = [q for q, v in has_ans.items() if v == want]
        if ids:
            for k, v in averages(ex, f1, ids).items():
                out[f"{prefix}_{k}"] = v
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = best_threshold(preds, ex_raw, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = best_threshold(preds, f1_raw, na_probs, has_ans)
    return out


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def expected():
    dataset = load("mini-dev-v2.json")["data"]
    preds = load("mini-preds-v2.json")
    na_probs = load("mini-null-odds-v2.json")
    has_ans = answerable(dataset)
    ex_raw, f1_raw, missing = raw_scores(dataset, preds)
    ex = thresholded(ex_raw, na_probs, has_ans, NA_PROB_THRESH)
    f1 = thresholded(f1_raw, na_probs, has_ans, NA_PROB_THRESH)
    rows = []
    for qid, answers in questions(dataset):
        row = {"id": qid, "has_answer": has_ans[qid], "gold_normalized": [normalize_answer(t) for t in golds(answers)]}
        if qid in preds:
            row.update(prediction_normalized=normalize_answer(preds[qid]), exact_raw=ex_raw[qid], f1_raw=f1_raw[qid],
                       null_odds=na_probs[qid], exact=ex[qid], f1=f1[qid])
        rows.append(row)
    return {
        "na_prob_thresh": NA_PROB_THRESH,
        "scores": evaluate_v2(dataset, preds, na_probs),
        "scores_without_null_odds": evaluate_v2(dataset, preds),
        "missing": missing,
        "best_threshold_order": sorted(na_probs, key=lambda k: na_probs[k]),
        "questions": rows,
    }


def main():
    args = sys.argv[1:]
    if args and args[0] != "--check":
        with open(args[0], encoding="utf-8") as f:
            dataset = json.load(f)["data"]
        with open(args[1], encoding="utf-8") as f:
            preds = json.load(f)
        na_probs = None
        if len(args) > 2:
            with open(args[2], encoding="utf-8") as f:
                na_probs = json.load(f)
        print(json.dumps(evaluate_v2(dataset, preds, na_probs), indent=2))
        return
    result = expected()
    path = os.path.join(FIXTURES, "expected-v2.json")
    if args == ["--check"]:
        with open(path, encoding="utf-8") as f:
            if json.load(f) != result:
                sys.exit(f"{path} is stale; rerun {sys.argv[0]}")
        print(f"{path} is up to date")
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}: {result['scores']}")


if __name__ == "__main__":
    main()
