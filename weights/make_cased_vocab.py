#!/usr/bin/env python3
"""Builds weights/vocab-cased.txt: a cased WordPiece vocabulary for the cased-tokenizer tests.

This is NOT Google's bert-base-cased vocabulary (28,996 tokens). That file could not be found in
any package of the registries this project reaches (PyPI, npm, Debian); see
weights/README-cased-vocab.md for what was looked at. So a cased vocabulary of the same size is
trained here instead, on SQuAD text that the project already has in ../shared/data:

  * every context and question of squad-v1.1-train-sample.json, then
  * every context of squad-v1.1-dev.json.

The text is normalized and split as Hugging Face's cased BERT does it, by the `tokenizers`
library itself: BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
lowercase=False), then BertPreTokenizer (whitespace and punctuation).

The training is what `tokenizers`' WordPieceTrainer does (a BPE trainer whose word-inner symbols
carry the "##" prefix), written out here because that trainer is not deterministic: its alphabet
and its choice between pairs of equal count follow Rust HashMap order, which is seeded per run,
and two trainings on this corpus in one process gave vocabularies differing in up to 34 tokens
(with or without min_frequency). Here, with the same rules:

  * a word w of count n starts as the symbols w[0], ##w[1], ##w[2], ...;
  * the initial vocabulary is the special tokens, then every character that starts a word, then
    every "##" + character, each group in code point order;
  * repeatedly the most frequent adjacent pair (a, b) (count = sum of the word counts, an
    occurrence counted once per position) is merged into a + b without b's "##", every
    non-overlapping occurrence, left to right in each word; ties go to the smaller (a, b) in
    code point order; the merged token is appended to the vocabulary (if new);
  * until the vocabulary has 28,996 tokens (or no pair is left).

The special tokens come first: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 (unlike Google's files,
where they sit at 0 and 100-103: code must look special tokens up by name, never by a fixed id).

The vocabulary is only a test fixture for casing behaviour: which words it splits where is of no
importance, only that Hugging Face's tokenizer and bertqa's agree on it. The output is
deterministic; --check compares a fresh training with the committed file.

Usage (needs tokenizers, which transformers 4.57.x brings; that version is asserted):
    nice -n 15 /work/venv/bin/python weights/make_cased_vocab.py          # rewrite weights/vocab-cased.txt
    nice -n 15 /work/venv/bin/python weights/make_cased_vocab.py --check  # compare with the committed file
"""
import hashlib
import heapq
import json
import os
import sys
from collections import Counter, defaultdict

import tokenizers
import transformers
from tokenizers import normalizers, pre_tokenizers

assert transformers.__version__.startswith("4.57."), (
    f"pinned to transformers 4.57.x, found {transformers.__version__}"
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("BERTQA_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
OUT = os.path.join(ROOT, "weights", "vocab-cased.txt")
VOCAB_SIZE = 28996
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"


def corpus():
    texts = []
    with open(os.path.join(DATA, "squad-v1.1-train-sample.json"), encoding="utf-8") as f:
        for article in json.load(f)["data"]:
            for p in article["paragraphs"]:
                texts.append(p["context"])
                texts.extend(qa["question"] for qa in p["qas"])
    with open(os.path.join(DATA, "squad-v1.1-dev.json"), encoding="utf-8") as f:
        for article in json.load(f)["data"]:
            texts.extend(p["context"] for p in article["paragraphs"])
    return texts


def word_counts(texts):
    norm = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre = pre_tokenizers.BertPreTokenizer()
    counts = Counter()
    for text in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(text)):
            counts[w] += 1
    return counts


def train(counts, vocab_size=VOCAB_SIZE):
    words = sorted(counts)  # a fixed order, so that everything below is reproducible
    freq = [counts[w] for w in words]
    syms = [[w[0]] + [PREFIX + c for c in w[1:]] for w in words]
    vocab = list(SPECIALS)
    vocab += sorted({w[0] for w in words} - set(vocab))
    vocab += sorted({s for ws in syms for s in ws[1:]} - set(vocab))
    known = set(vocab)

    pair_count = defaultdict(int)
    where = defaultdict(set)  # pair -> indexes of the words that had it (possibly stale)
    for i, ws in enumerate(syms):
        for pair in zip(ws, ws[1:]):
            pair_count[pair] += freq[i]
            where[pair].add(i)
    heap = [(-c, pair) for pair, c in pair_count.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg <= 0:
            break
        a, b = pair
        new = a + (b[len(PREFIX):] if b.startswith(PREFIX) else b)
        if new not in known:
            known.add(new)
            vocab.append(new)
        changed = set()
        for i in sorted(where.pop(pair)):
            ws = syms[i]
            if len(ws) < 2:
                continue
            out, j, hit = [], 0, False
            while j < len(ws):
                if j + 1 < len(ws) and ws[j] == a and ws[j + 1] == b:
                    out.append(new)
                    j += 2
                    hit = True
                else:
                    out.append(ws[j])
                    j += 1
            if not hit:
                continue
            for p in zip(ws, ws[1:]):
                pair_count[p] -= freq[i]
                changed.add(p)
            for p in zip(out, out[1:]):
                pair_count[p] += freq[i]
                where[p].add(i)
                changed.add(p)
            syms[i] = out
        pair_count.pop(pair, None)
        for p in changed:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_count.pop(p, None)
    return "".join(t + "\n" for t in vocab)


def main():
    texts = corpus()
    text = train(word_counts(texts))
    n = text.count("\n")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if sys.argv[1:] == ["--check"]:
        with open(OUT, encoding="utf-8", newline="") as f:
            if f.read() != text:
                sys.exit(f"{OUT} differs from a fresh training; rerun {sys.argv[0]}")
        print(f"{os.path.relpath(OUT, ROOT)} is up to date ({n} tokens, sha256 {digest})")
        return
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {n} tokens from {len(texts)} texts, "
          f"tokenizers {tokenizers.__version__}, sha256 {digest}")


if __name__ == "__main__":
    main()
