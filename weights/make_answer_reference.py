"""Reference answers: the run_squad.py rules (see src/features.rs, src/answer.rs; in overlap mode
Hugging Face run_qa's, which drop the max-context rule), written again independently in Python, run on PyTorch logits of the tiny synthetic model (weights/synthetic.py,
seed 0) with Hugging Face's fast tokenizer for tokens and offsets.

Writes tests/fixtures/answers_tiny.json. Needs torch, transformers==4.57.*, numpy:

    python weights/make_answer_reference.py
"""
import json
import math
import os
import sys

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synthetic  # noqa: E402

assert transformers.__version__.startswith("4.57."), transformers.__version__
torch.set_num_threads(2)

DEFAULTS = dict(max_seq_length=384, max_query_length=64, doc_stride=128, stride_mode="step",
                n_best=20, max_answer_length=30, top_k=1)


def load_model():
    c = synthetic.config("tiny")
    model = BertForQuestionAnswering(BertConfig(**{k: v for k, v in c.items() if k != "architectures"}))
    model.config._attn_implementation = "eager"
    sd = {k: torch.from_numpy(v) for k, v in synthetic.state_dict(c, 0).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not [m for m in missing if not m.endswith("position_ids")] and not unexpected
    return model.eval()


def doc_spans(n_doc, max_doc, o):
    step = o["doc_stride"] if o["stride_mode"] == "step" else max_doc - o["doc_stride"]
    assert step > 0
    spans, start = [], 0
    while True:
        length = min(n_doc - start, max_doc)
        spans.append((start, length))
        if start + length >= n_doc:
            break
        start += min(length, step)
    return spans


def is_max_context(spans, cur, pos):
    best_score, best = None, None
    for i, (s, l) in enumerate(spans):
        end = s + l - 1
        if pos < s or pos > end:
            continue
        score = min(pos - s, end - pos) + 0.01 * l
        if best_score is None or score > best_score:
            best_score, best = score, i
    return cur == best


def best_indexes(logits, n):
    return [i for i, _ in sorted(enumerate(logits), key=lambda x: x[1], reverse=True)][:n]


def answer(model, tok, question, context, o):
    q = tok(question, add_special_tokens=False)["input_ids"][: o["max_query_length"]]
    c = tok(context, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = c["input_ids"], c["offset_mapping"]
    max_doc = o["max_seq_length"] - len(q) - 3
    spans = doc_spans(len(ids), max_doc, o)
    prelim = []
    for wi, (s, l) in enumerate(spans):
        seq = [101] + q + [102] + ids[s : s + l] + [102]
        types = [0] * (len(q) + 2) + [1] * (l + 1)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([seq]), token_type_ids=torch.tensor([types]))
        start = out.start_logits[0].tolist()
        end = out.end_logits[0].tolist()
        off = len(q) + 2
        for si in best_indexes(start, o["n_best"]):
            for ei in best_indexes(end, o["n_best"]):
                if not (off <= si < off + l and off <= ei < off + l):
                    continue
                if ei < si or ei - si + 1 > o["max_answer_length"]:
                    continue
                # run_squad's max-context rule in step mode; in overlap mode Hugging Face's
                # run_qa post-processing scores a span in every window holding it.
                if o["stride_mode"] == "step" and not is_max_context(spans, wi, s + si - off):
                    continue
                prelim.append((start[si] + end[ei], s + si - off, s + ei - off))
    prelim.sort(key=lambda p: p[0], reverse=True)
    best, seen = [], set()
    for score, a, b in prelim:
        if len(best) == o["n_best"]:
            break
        if (a, b) in seen:
            continue
        seen.add((a, b))
        best.append((score, a, b))
    if not best:
        return [], len(spans), None
    m = best[0][0]
    exps = [math.exp(s - m) for s, _, _ in best]
    total = sum(exps)
    answers = []
    for (score, a, b), e in list(zip(best, exps))[: o["top_k"]]:
        start_c, end_c = offsets[a][0], offsets[b][1]
        answers.append(dict(text=context[start_c:end_c], start=start_c, end=end_c, score=score, probability=e / total))
    gaps = [best[i][0] - best[i + 1][0] for i in range(min(len(best), o["top_k"] + 1) - 1)]
    return answers, len(spans), min(gaps) if gaps else None


SENTENCES = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in France.",
    "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.",
    "Ada Lovelace wrote the first published algorithm for Charles Babbage's Analytical Engine in 1843.",
    "Zürich's Café Odéon opened in 1911; Einstein and Lenin are said to have drunk coffee there.",
    "東京は日本の首都であり、人口は約1400万人です。",
    "The river is 6,650 km (4,130 mi) long — the longest in Africa.",
    "Emoji such as 👩‍💻 and 🇫🇷 are single graphemes but several code points.",
    "Photosynthesis converts light energy, usually from the Sun, into chemical energy.",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out first.",
    "The mitochondrion is often called the powerhouse of the cell.",
]


def long_context(n, seed):
    rng = np.random.default_rng(seed)
    return " ".join(f"({i}) " + SENTENCES[int(rng.integers(len(SENTENCES)))] for i in range(n))


CASES = [
    ("short", "Who wrote the first published algorithm?", SENTENCES[2], {}),
    ("unicode", "Where did Einstein drink coffee?", " ".join(SENTENCES[3:7]), {"top_k": 3}),
    ("multi_window_default", "When did Apollo 11 land on the Moon?", long_context(60, 1), {"top_k": 5}),
    ("multi_window_small_step", "What are the Normans descended from?", long_context(25, 2),
     {"max_seq_length": 128, "doc_stride": 32, "top_k": 5}),
    ("multi_window_overlap", "What is the longest river in Africa?", long_context(25, 3),
     {"max_seq_length": 96, "doc_stride": 24, "stride_mode": "overlap", "top_k": 4}),
    ("long_question", " ".join(["why"] * 200) + " is the cell's powerhouse?", long_context(8, 4), {"top_k": 2}),
    ("short_answers", "Who stepped out first?", long_context(12, 5),
     {"max_answer_length": 3, "n_best": 7, "top_k": 7, "max_seq_length": 64, "doc_stride": 16}),
]


def main():
    tok = BertTokenizerFast(vocab_file=os.path.join(HERE, "vocab.txt"), do_lower_case=True)
    assert tok.vocab_size == 30522, tok.vocab_size
    model = load_model()
    cases = []
    for name, question, context, opts in CASES:
        o = dict(DEFAULTS, **opts)
        answers, n_windows, gap = answer(model, tok, question, context, o)
        print(f"{name}: {n_windows} windows, top answer {answers[0]['text']!r} ({answers[0]['score']:.5f}), min score gap {gap}")
        cases.append(dict(name=name, question=question, context=context, options=o, windows=n_windows,
                          min_score_gap=gap, answers=answers))
    path = os.path.join(HERE, "..", "tests", "fixtures", "answers_tiny.json")
    with open(path, "w") as f:
        json.dump(dict(generator="weights/make_answer_reference.py", model="synthetic tiny, seed 0",
                       torch=torch.__version__, transformers=transformers.__version__, cases=cases),
                  f, ensure_ascii=False, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
