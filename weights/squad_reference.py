#!/usr/bin/env python3
"""Reference scores for bertqa's SQuAD v1.1 evaluation (src/tools/squad/).

The functions below are those of the official SQuAD v1.1 script, evaluate-v1.1.py
(https://rajpurkar.github.io/SQuAD-explorer/), copied unchanged except that `evaluate`
also returns the unanswered ids instead of printing them. No packages are needed.

    python3 weights/squad_reference.py              # rewrite tests/fixtures/squad/expected.json
    python3 weights/squad_reference.py --check      # compare with the committed file instead
    python3 weights/squad_reference.py --codepoints OUT.jsonl
        # for every code point c, normalize_answer of a few strings built around c, for an
        # exhaustive comparison with the Rust normalization:
        # BERTQA_SQUAD_CODEPOINTS=OUT.jsonl cargo test --release --lib squad -- --ignored
"""
import json
import os
import re
import string
import sys
import unicodedata
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "squad")


# ---- official evaluate-v1.1.py ---------------------------------------------------------
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    unanswered = []
    for article in dataset:
        for paragraph in article['paragraphs']:
            for qa in paragraph['qas']:
                total += 1
                if qa['id'] not in predictions:
                    unanswered.append(qa['id'])
                    continue
                ground_truths = list(map(lambda x: x['text'], qa['answers']))
                prediction = predictions[qa['id']]
                exact_match += metric_max_over_ground_truths(
                    exact_match_score, prediction, ground_truths)
                f1 += metric_max_over_ground_truths(
                    f1_score, prediction, ground_truths)

    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total

    return {'exact_match': exact_match, 'f1': f1}, unanswered
# ---- end of the official functions -----------------------------------------------------


def expected():
    with open(os.path.join(FIXTURES, "mini-dev.json"), encoding="utf-8") as f:
        dataset = json.load(f)["data"]
    with open(os.path.join(FIXTURES, "mini-preds.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    scores, unanswered = evaluate(dataset, predictions)
    per_question = []
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                truths = [a["text"] for a in qa["answers"]]
                row = {"id": qa["id"], "normalized_answers": [normalize_answer(t) for t in truths]}
                if qa["id"] in predictions:
                    p = predictions[qa["id"]]
                    row["normalized_prediction"] = normalize_answer(p)
                    row["exact_match"] = float(metric_max_over_ground_truths(exact_match_score, p, truths))
                    row["f1"] = float(metric_max_over_ground_truths(f1_score, p, truths))
                per_question.append(row)
    return {
        "scores": scores,
        "unanswered": unanswered,
        "questions": per_question,
    }


def codepoints(out_path):
    with open(out_path, "w", encoding="utf-8") as out:
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            inputs = ["the" + c + "an", c + "a" + c, "x" + c + "y", c.upper() + "THE"]
            out.write(json.dumps({"cp": cp, "category": unicodedata.category(c), "in": inputs,
                                  "out": [normalize_answer(s) for s in inputs]}) + "\n")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--codepoints"]:
        codepoints(args[1])
        return
    result = expected()
    text = json.dumps(result, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    path = os.path.join(FIXTURES, "expected.json")
    if args[:1] == ["--check"]:
        with open(path, encoding="utf-8") as f:
            if json.load(f) != result:
                sys.exit(f"{path} is stale; rerun {sys.argv[0]}")
        print(f"{path} is up to date")
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}: {result['scores']}")


if __name__ == "__main__":
    main()
