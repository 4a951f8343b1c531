"""Deterministic synthetic BERT and DistilBERT weights, bit-identical to bertqa's `src/tools/synthetic.rs`.

    key      = mix(seed XOR fnv1a64(name))
    u[i]     = (mix(key + (i+1)*0x9E3779B97F4A7C15) >> 40) / 2**24       (exact in float32)
    s[i]     = 2*u[i] - 1
    value[i] = 1 + 0.1*s  (*LayerNorm.weight, *layer_norm.weight)
             | 0.1*s      (*.bias)
             | 0.05*s     (everything else)

BERT's LayerNorm tensors end in "LayerNorm.weight"; DistilBERT's embedding norm does too, its
per-layer norms end in "sa_layer_norm.weight" / "output_layer_norm.weight". No BERT name contains
"layer_norm", so adding that suffix changed no BERT value.

All arithmetic on values is float32, as in Rust. Usage as a script writes a Hugging Face model
directory (config.json, model.safetensors, vocab.txt) for BertForQuestionAnswering (default) or
DistilBertForQuestionAnswering (--arch distilbert, presets tiny and base):

    python weights/synthetic.py --preset large --seed 0 --out /tmp/bert-large-synthetic
    python weights/synthetic.py --arch distilbert --preset base --seed 0 --out /tmp/distilbert-base-synthetic
"""
import argparse
import json
import os
import shutil

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
VOCAB_SIZE = 30522
HERE = os.path.dirname(os.path.abspath(__file__))

PRESETS = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}

DISTILBERT_PRESETS = {
    "tiny": dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64),
    "base": dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
}


def config(preset):
    c = dict(PRESETS[preset])
    c.update(
        vocab_size=VOCAB_SIZE,
        hidden_act="gelu",
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        position_embedding_type="absolute",
        model_type="bert",
        architectures=["BertForQuestionAnswering"],
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        pad_token_id=0,
        initializer_range=0.02,
    )
    return c


def config_distilbert(preset):
    """config.json of DistilBertForQuestionAnswering (layer-norm eps is fixed at 1e-12 in the
    transformers code, not a config key)."""
    c = dict(DISTILBERT_PRESETS[preset])
    c.update(
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=512,
        sinusoidal_pos_embds=False,
        activation="gelu",
        model_type="distilbert",
        architectures=["DistilBertForQuestionAnswering"],
        dropout=0.1,
        attention_dropout=0.1,
        qa_dropout=0.1,
        initializer_range=0.02,
        pad_token_id=0,
    )
    return c


def mix_int(z):
    z = ((z ^ (z >> 30)) * M1) & MASK
    z = ((z ^ (z >> 27)) * M2) & MASK
    return z ^ (z >> 31)


def mix_arr(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(M2)
    return z ^ (z >> np.uint64(31))


def fnv1a64(data: bytes):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def tensor_values(seed, name, n):
    key = mix_int((seed ^ fnv1a64(name.encode())) & MASK)
    if name.endswith(("LayerNorm.weight", "layer_norm.weight")):
        offset, scale = np.float32(1.0), np.float32(0.1)
    elif name.endswith(".bias"):
        offset, scale = None, np.float32(0.1)
    else:
        offset, scale = None, np.float32(0.05)
    out = np.empty(n, dtype=np.float32)
    chunk = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, n, chunk):
            i = np.arange(start + 1, min(n, start + chunk) + 1, dtype=np.uint64)
            z = mix_arr(np.uint64(key) + i * np.uint64(GOLDEN))
            u = (z >> np.uint64(40)).astype(np.float32) / np.float32(16777216.0)
            s = np.float32(2.0) * u - np.float32(1.0)
            v = scale * s
            if offset is not None:
                v = offset + v
            out[start : start + len(v)] = v
    return out


def tensor_shapes(c):
    h, i = c["hidden_size"], c["intermediate_size"]
    shapes = [
        ("bert.embeddings.word_embeddings.weight", (c["vocab_size"], h)),
        ("bert.embeddings.position_embeddings.weight", (c["max_position_embeddings"], h)),
        ("bert.embeddings.token_type_embeddings.weight", (c["type_vocab_size"], h)),
        ("bert.embeddings.LayerNorm.weight", (h,)),
        ("bert.embeddings.LayerNorm.bias", (h,)),
    ]
    for l in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        shapes += [
            (p + "attention.self.query.weight", (h, h)),
            (p + "attention.self.query.bias", (h,)),
            (p + "attention.self.key.weight", (h, h)),
            (p + "attention.self.key.bias", (h,)),
            (p + "attention.self.value.weight", (h, h)),
            (p + "attention.self.value.bias", (h,)),
            (p + "attention.output.dense.weight", (h, h)),
            (p + "attention.output.dense.bias", (h,)),
            (p + "attention.output.LayerNorm.weight", (h,)),
            (p + "attention.output.LayerNorm.bias", (h,)),
            (p + "intermediate.dense.weight", (i, h)),
            (p + "intermediate.dense.bias", (i,)),
            (p + "output.dense.weight", (h, i)),
            (p + "output.dense.bias", (h,)),
            (p + "output.LayerNorm.weight", (h,)),
            (p + "output.LayerNorm.bias", (h,)),
        ]
    shapes += [("qa_outputs.weight", (2, h)), ("qa_outputs.bias", (2,))]
    return shapes


def tensor_shapes_distilbert(c):
    """Every tensor of DistilBertForQuestionAnswering, in its checkpoint order."""
    d, f = c["dim"], c["hidden_dim"]
    shapes = [
        ("distilbert.embeddings.word_embeddings.weight", (c["vocab_size"], d)),
        ("distilbert.embeddings.position_embeddings.weight", (c["max_position_embeddings"], d)),
        ("distilbert.embeddings.LayerNorm.weight", (d,)),
        ("distilbert.embeddings.LayerNorm.bias", (d,)),
    ]
    for l in range(c["n_layers"]):
        p = f"distilbert.transformer.layer.{l}."
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            shapes += [(p + f"attention.{lin}.weight", (d, d)), (p + f"attention.{lin}.bias", (d,))]
        shapes += [
            (p + "sa_layer_norm.weight", (d,)),
            (p + "sa_layer_norm.bias", (d,)),
            (p + "ffn.lin1.weight", (f, d)),
            (p + "ffn.lin1.bias", (f,)),
            (p + "ffn.lin2.weight", (d, f)),
            (p + "ffn.lin2.bias", (d,)),
            (p + "output_layer_norm.weight", (d,)),
            (p + "output_layer_norm.bias", (d,)),
        ]
    shapes += [("qa_outputs.weight", (2, d)), ("qa_outputs.bias", (2,))]
    return shapes


def shapes_for(c):
    """The tensor list of the architecture that config `c` describes (its model_type)."""
    return tensor_shapes_distilbert(c) if c["model_type"] == "distilbert" else tensor_shapes(c)


def state_dict(c, seed):
    """name -> float32 numpy array, for BertForQuestionAnswering or DistilBertForQuestionAnswering
    (by c["model_type"])."""
    return {
        name: tensor_values(seed, name, int(np.prod(shape))).reshape(shape)
        for name, shape in shapes_for(c)
    }


def write_model_dir(preset, seed, out, arch="bert"):
    from safetensors.numpy import save_file

    os.makedirs(out, exist_ok=True)
    c = config_distilbert(preset) if arch == "distilbert" else config(preset)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    save_file(state_dict(c, seed), os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(HERE, "vocab.txt"), os.path.join(out, "vocab.txt"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["bert", "distilbert"], default="bert")
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.arch == "distilbert" and a.preset not in DISTILBERT_PRESETS:
        ap.error(f"--arch distilbert has presets {sorted(DISTILBERT_PRESETS)}")
    write_model_dir(a.preset, a.seed, a.out, a.arch)
    print(f"wrote {a.out}")
