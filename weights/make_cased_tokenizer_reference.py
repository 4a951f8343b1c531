#!/usr/bin/env python3
"""Writes the cased and mixed-setting BERT tokenization references, golden data for the tokenizer
tests, in the JSONL format of tests/fixtures/tokenizer_reference.jsonl (a header line, then one
object per string: name, text, tokens, ids, char_offsets, byte_offsets, and slow_tokens/slow_ids
where the slow pure-Python BertTokenizer disagrees with the fast one). Each file is one setting:

  file (tests/fixtures/)                           vocabulary               do_lower_case  strip_accents
  tokenizer_cased_reference.jsonl                  weights/vocab-cased.txt  False          None (= False)
  tokenizer_cased_strip_reference.jsonl            weights/vocab-cased.txt  False          True
  tokenizer_lower_keep_accents_reference.jsonl     weights/vocab.txt        True           False

The header line names the file's settings too ("vocab", "vocab_sha256", "do_lower_case",
"strip_accents", and "normalizer": the fast tokenizer's normalizer as tokenizer.json writes it).

The strings are those of weights/make_tokenizer_reference.py (imported, so the two stay the same
corpus) followed by CASING below: title case, capitals, accented and non-Latin capitals, special
case mappings (ß/ẞ, dotted/dotless i, titlecase digraphs, ligatures, Kelvin and Ohm signs, Roman
numerals, mathematical letters, fullwidth letters) and the special-token literals.

Settings: Hugging Face's BertNormalizer (the Rust `tokenizers` library behind BertTokenizerFast)
has two independent switches, `lowercase` and `strip_accents`; strip_accents None means "as
lowercase". All four combinations work in the fast tokenizer built from a vocab file
(BertTokenizerFast(vocab_file, do_lower_case, strip_accents) hands both to the normalizer), and in
the slow BertTokenizer (its BasicTokenizer: lower-cases when do_lower_case, strips accents when
strip_accents, or when strip_accents is None and do_lower_case). So:

  * do_lower_case=True,  strip_accents=None/True: lower-case, NFD, drop Mn — the uncased default
    (tokenizer_reference.jsonl);
  * do_lower_case=True,  strip_accents=False: lower-case only, accents kept, no NFD;
  * do_lower_case=False, strip_accents=None/False: neither — the cased default;
  * do_lower_case=False, strip_accents=True: NFD and drop Mn, case kept.

In every setting the text is first cleaned (controls removed, whitespace made ' ') and CJK
ideographs spaced; special-token strings ([CLS], [SEP], ...) are matched before normalization as
added tokens in the fast tokenizer. The script checks that the fast tokenizer's normalizer carries
the intended switches and that each vocabulary has as many tokens as its file has lines.

Usage (needs only transformers 4.57.x and tokenizers, no torch):
    /work/venv/bin/python weights/make_cased_tokenizer_reference.py

The output is deterministic for a given transformers/tokenizers version.
"""

import hashlib
import json
import os
import sys
import unicodedata

import tokenizers
import transformers
from transformers import BertTokenizer, BertTokenizerFast

assert transformers.__version__.startswith("4.57."), (
    f"pinned to transformers 4.57.x, found {transformers.__version__}"
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_tokenizer_reference as base  # noqa: E402

ROOT = base.ROOT
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CASED_VOCAB = os.path.join(ROOT, "weights", "vocab-cased.txt")
UNCASED_VOCAB = base.VOCAB

CASING = [
    # Title case, capitals, mixed case
    "The Quick Brown Fox Jumps Over The Lazy Dog",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "tHE qUICK bROWN fOX",
    "The UNITED NATIONS General Assembly met in New York City.",
    "McDonald, MacArthur, O'Neil, O’Brien, DiCaprio and van der Waals",
    "\"iPhone\", eBay, iOS, macOS, YouTube, PayPal, JavaScript, LaTeX, PostgreSQL",
    "NASA, UNESCO, NATO, U.S.A., U.K., Ph.D., e.g., i.e., A.M./P.M.",
    "CamelCaseIdentifier snake_Case_Name SCREAMING_SNAKE_CASE kebab-Case-Name",
    "aBcDeFgHiJkLmNoPqRsTuVwXyZ AbCdEfGhIjKlMnOpQrStUvWxYz",
    "Denver Broncos DENVER BRONCOS denver broncos DeNvEr BrOnCoS",
    "I", "A", "a I", "IT'S", "It's", "it'S",
    # Accented Latin capitals
    "ÉCOLE NORMALE SUPÉRIEURE", "École", "école", "Ångström", "ÅNGSTRÖM", "ångström",
    "Øresund", "ØRESUND", "øresund", "ÇA VA? ÇA VA.", "ÀÉÎÕÜ àéîõü", "Ñandú ÑANDÚ",
    "ŁÓDŹ Łódź", "ČEŠTINA Čeština", "ĐẠI HỌC Đại học", "ǺǻǼǽǾǿ",
    # Greek and Cyrillic capitals (final sigma), Armenian, Georgian Mtavruli
    "ΣΊΣΥΦΟΣ", "Σίσυφος", "σίσυφος", "ΟΔΥΣΣΕΥΣ Ὀδυσσεύς", "ΆΈΉΊΌΎΏ ΪΫ", "ΐΰ ΐ ΰ",
    "МОСКВА", "Москва", "москва", "ЁЖИК Ёжик", "ЇЖАК ҐАНОК", "ԱՅՍՕՐ Այսօր", "ᲥᲐᲠᲗᲣᲚᲘ ქართული",
    # German sharp s
    "STRASSE Straße straße", "ß", "ẞ", "GROẞ groß Groß", "ßẞßẞ", "Maßstab MASSSTAB",
    # Turkish and Azeri dotted/dotless i, Lithuanian dot above
    "İstanbul", "ISTANBUL", "istanbul", "ıstanbul", "İı Iı İi Ii", "DİYARBAKIR Diyarbakır",
    "i\u0307", "I\u0307", "Lithuanian: i\u0307\u0300 I\u0300 Ì Į\u0307 į\u0307\u0301",
    "ĮĖJIMAS Įėjimas", "AZƏRBAYCAN Azərbaycan",
    # Titlecase digraphs and other special case mappings
    "ǅ ǈ ǋ ǲ", "Ǆ ǆ Ǉ ǉ Ǌ ǌ Ǳ ǳ", "ǅemal Ǆemal ǆemal", "ǈubljana Ǉubljana", "ǋego",
    "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ", "ﬁnance ﬂower", "ǰ ŉ ẖ ẗ ẘ ẙ ẚ",
    "\u212a", "\u212aelvin 273\u212a", "\u2126", "10 \u2126 resistor", "\u212b", "Ωmega ω",
    "Ⅻ", "Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ Ⅵ Ⅶ Ⅷ Ⅸ Ⅹ Ⅺ Ⅻ Ⅼ Ⅽ Ⅾ Ⅿ", "ⅰ ⅱ ⅲ ⅻ", "Chapter Ⅻ", "Ⓐⓑ ⓐⒷ",
    "𝐀𝐁𝐂 𝐚𝐛𝐜", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝕯𝖔𝖚𝖇𝖑𝖊 𝙼𝚘𝚗𝚘", "𝓐𝓑𝓒", "ℌℑℜℭ ℍℕℙℚℝℤ",
    # Combining marks on capitals and small letters
    "e\u0301", "E\u0301", "A\u030a", "A\u030angstro\u0308m", "E\u0301COLE", "O\u0308resund",
    "C\u0327A", "\u0301A", "Z\u030c\u030c",
    # Fullwidth and other width forms
    "Ａ", "ＡＢＣ ａｂｃ", "ＦＵＬＬＷＩＤＴＨ Ｔｅｘｔ", "Ｈｅｌｌｏ，Ｗｏｒｌｄ！",
    # Capitals from other scripts with case
    "ⰀⰁ ⰰⰱ", "ႠႡ ⴀⴁ", "ᏣᎳᎩ ꮳꮃꭹ", "𐐀𐐁 𐐨𐐩", "Ꙁꙁ Ꙃ",
    # Special-token literals among cased text
    "[CLS] Who wrote It? [SEP] Ada Lovelace wrote It. [SEP]",
    "[CLS]The[SEP]End[SEP]", "[cls] [Cls] [CLS]", "[SEP]Ölfeld", "Ölfeld[SEP]",
    "[MASK] Paris [MASK]", "[UNK] Unknown [unk]", "[PAD][PAD] Pad", "É[SEP]É", "[SEP]\u0301A",
]


def settings_header(fast, vocab, do_lower_case, strip_accents):
    norm = json.loads(fast.backend_tokenizer.to_str())["normalizer"]
    assert norm["type"] == "BertNormalizer", norm
    assert norm["lowercase"] == do_lower_case, norm
    assert norm["strip_accents"] == strip_accents, norm
    with open(vocab, "rb") as f:
        data = f.read()
    lines = data.decode("utf-8").count("\n")
    assert fast.vocab_size == lines, f"{vocab}: {lines} lines but a {fast.vocab_size}-token vocab"
    return {
        "about": "BERT tokenization reference, one setting per file; see "
                 "weights/make_cased_tokenizer_reference.py",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "python_unicode": unicodedata.unidata_version,
        "vocab_size": fast.vocab_size,
        "vocab": os.path.relpath(vocab, ROOT),
        "vocab_sha256": hashlib.sha256(data).hexdigest(),
        "do_lower_case": do_lower_case,
        "strip_accents": strip_accents,
        "normalizer": norm,
    }


def cases():
    seen = set()
    out = []
    for name, text in base.corpus():
        seen.add(text)
        out.append((name, text))
    for i, text in enumerate(CASING):
        if text not in seen:
            seen.add(text)
            out.append((f"casing/{i}", text))
    return out


def main():
    corpus = cases()
    n_casing = sum(1 for name, _ in corpus if name.startswith("casing/"))
    assert n_casing >= 40, n_casing
    runs = [
        ("tokenizer_cased_reference.jsonl", CASED_VOCAB, False, None),
        ("tokenizer_cased_strip_reference.jsonl", CASED_VOCAB, False, True),
        ("tokenizer_lower_keep_accents_reference.jsonl", UNCASED_VOCAB, True, False),
    ]
    for name, vocab, lower, strip in runs:
        fast = BertTokenizerFast(vocab_file=vocab, do_lower_case=lower, strip_accents=strip)
        slow = BertTokenizer(vocab_file=vocab, do_lower_case=lower, strip_accents=strip)
        assert slow.basic_tokenizer.do_lower_case == lower
        assert slow.basic_tokenizer.strip_accents == strip
        assert len(fast) == fast.vocab_size == slow.vocab_size == len(slow)
        header = settings_header(fast, vocab, lower, strip)
        base.write_reference(os.path.join(FIXTURES, name), fast, slow, corpus, header)
    print(f"{len(corpus)} strings, {n_casing} of them casing stress strings", file=sys.stderr)


if __name__ == "__main__":
    main()
