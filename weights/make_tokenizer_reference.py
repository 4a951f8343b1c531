#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer_reference.jsonl: Hugging Face's BERT uncased tokenization of a
corpus of awkward strings, the golden reference for tests/tokenizer.rs.

For every string it records what transformers' BertTokenizerFast (the Rust `tokenizers` library)
returns — ids, token strings, offsets in characters and in UTF-8 bytes — and, where it differs,
what the slow pure-Python BertTokenizer returns. Both are built from weights/vocab.txt with
do_lower_case=True and called without special tokens ([CLS]/[SEP]).

Usage (needs only transformers and tokenizers, no torch):
    python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install "transformers==4.57.*"
    /tmp/refvenv/bin/python weights/make_tokenizer_reference.py

A larger, uncommitted random comparison (same JSONL format, fast tokenizer only):
    /tmp/refvenv/bin/python weights/make_tokenizer_reference.py --fuzz 30000 /tmp/tok_fuzz.jsonl
    BERTQA_TOKENIZER_FUZZ=/tmp/tok_fuzz.jsonl cargo test --release --test tokenizer -- --ignored

The output is deterministic for a given transformers/tokenizers version: the random strings come
from a seeded generator.
"""

import json
import os
import random
import sys
import unicodedata

import tokenizers
import transformers
from transformers import BertTokenizer, BertTokenizerFast

assert transformers.__version__.startswith("4.57."), (
    f"pinned to transformers 4.57.x, found {transformers.__version__}"
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "weights", "vocab.txt")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer_reference.jsonl")

# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "Super Bowl 50 was an American football game to determine the champion of the National "
    "Football League (NFL) for the 2015 season.",
    "The American Football Conference (AFC) champion Denver Broncos defeated the National "
    "Football Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title.",
    "Architecturally, the school has a Catholic character. Atop the Main Building's gold dome is "
    "a golden statue of the Virgin Mary.",
    "In 1066, William the Conqueror crossed the Channel; by Christmas he had been crowned king.",
    "Photosynthesis converts light energy into chemical energy, which is stored in glucose.",
    "She said, \"I don't think it's going to rain,\" but she took an umbrella anyway.",
    "Dr. Smith's lab (Room 4.12) opens at 9:30 a.m. on weekdays — except holidays.",
    "What is the capital of France? Paris is the capital and most populous city of France.",
    "Unaffable, unbelievable and uncharacteristically unhelpful remarks were made.",
    "The mitochondria is the powerhouse of the cell.",
    "E = mc^2 relates mass and energy; c ≈ 299,792,458 m/s.",
    "Tokenization isn't trivial: hyphen-ated words, e-mail addresses, and CamelCaseIdentifiers.",
    "Rock 'n' roll, the '90s, rock'n'roll and O'Neill's pub.",
    "Prices rose 3.5% in Q3 2023, to $1,234.56 per unit (≈ €1.130,00).",
    "He was born on 12/05/1990 at 23:59:59 UTC+02:00.",
    "Visit https://www.example.com/path?query=1&lang=en#section or mail info@example.org.",
    "ftp://files.example.net/pub/README.txt and C:\\Program Files\\App\\app.exe",
    "The Beatles' album \"Sgt. Pepper's Lonely Hearts Club Band\" (1967) was released in the UK.",
    "Nikola Tesla (10 July 1856 – 7 January 1943) was a Serbian-American inventor.",
    "The University of Notre Dame du Lac is a Catholic research university in Notre Dame, Indiana.",
    "Beyoncé Giselle Knowles-Carter (born September 4, 1981) is an American singer.",
    "Frédéric Chopin was a Polish composer and virtuoso pianist of the Romantic period.",
    "São Paulo, Zürich, Kraków, Malmö, Ångström, Øresund, Đà Nẵng and Reykjavík.",
    "Naïve café owners' résumés rarely mention the façade of the crème brûlée shop.",
    "Schrödinger's cat, Gödel's theorem, Erdős numbers and Poincaré's conjecture.",
    "The straße in Düsseldorf is ÜBERALL MIT GRÜẞEN versehen.",
    "ИСТАНБУЛ, İstanbul, ıstanbul, ISTANBUL — Turkish dotted and dotless i.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού. ΣΊΣΥΦΟΣ and ΟΔΥΣΣΕΥΣ end with sigma.",
    "Русский текст: Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Український: Ґанок, їжак, європейський.",
    "The year 1984 and the number 3.14159265358979 and 1,000,000 and 1e-10.",
    "Call +1 (555) 123-4567 or 555.123.4567 ext. 89.",
    "Version v2.3.1-beta+build.42 was tagged on 2024-01-15T08:30:00Z.",
    "A long time ago in a galaxy far, far away...",
    "To be, or not to be: that is the question.",
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.",
    "The Amazon rainforest covers much of the Amazon basin of South America. This basin "
    "encompasses 7,000,000 square kilometres (2,700,000 sq mi), of which 5,500,000 square "
    "kilometres (2,100,000 sq mi) are covered by the rainforest.",
    "Oxygen is a chemical element with symbol O and atomic number 8. It is a member of the "
    "chalcogen group on the periodic table and is a highly reactive nonmetal and oxidizing agent.",
]

ACCENTS = [
    "café", "CAFÉ", "cafe\u0301", "CAFE\u0301", "naïve", "na\u0308ive", "résumé", "Ångström",
    "A\u030angstro\u0308m", "piñata", "jalapeño", "crème brûlée", "Øre", "Łódź", "Straße",
    "STRASSE", "ẞ", "ß", "İ", "ı", "i\u0307", "ǅ", "ǈ", "ǋ", "Ǳ", "ﬁ", "ﬂ", "ﬀ", "ﬃ", "ﬆ",
    "ŉ", "ǰ", "ΐ", "ΰ", "ᾳ", "ᾼ", "ῼ", "Ḱ", "ḉ", "ḉ\u0316x", "a\u0301\u0323", "a\u0323\u0301",
    "e\u0301\u0301\u0301", "\u0301", "\u0301\u0301abc", "abc\u0301", "x\u20dd", "a\u0338b",
    "Ω", "\u2126", "\u212a", "\u212b", "K\u212aK", "Å", "Ǻ", "Ṩ", "ṩ", "Ḝ", "Ǖ", "ǖ",
    "Vietnamese: Tiếng Việt có dấu rất nhiều.", "Yoruba: Ẹ kú àárọ̀", "Navajo: Diné bizaad",
    "Lithuanian: ąčęėįšųūž", "Hungarian: őű ŐŰ", "Czech: příliš žluťoučký kůň",
    "Ǆemal", "ǅemal", "Ǉubljana", "\u1e9e\u00df", "\u0130stanbul", "I\u0307stanbul",
    "Zalgo: Z̵̡̢̛̗̘̙̜̝̞̟̠̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌̕̚ͅ͏͓͔͕͖͙͚͐͑͒͗͛ͣͤͥͦͧͨͩͪͫͬͭͮͯ͘͜͟͢͝͞͠͡a̴l̷g̸o",
    "\u0f39\u0301\u0323", "\U0001d165\u0301", "\u302e\u0301", "ᄀ\u302e", "\u1b44\u0301\u0316",
    "a\u1fefb", "a\u1fedb", "a\u037eb", "a\u0387b", "\u1ffd", "a\u2000b\u2001c",
]

CJK_AND_SCRIPTS = [
    "日本語のテキストです。", "東京は日本の首都です", "中华人民共和国成立于1949年。",
    "我爱北京天安门", "漢字とひらがなとカタカナ", "ｶﾀｶﾅ ﾊﾝｶｸ", "ＦＵＬＬＷＩＤＴＨ　ＴＥＸＴ！",
    "１２３４５", "한국어 텍스트입니다.", "안녕하세요, 세계!", "ㄱㄴㄷ ㅏㅑㅓ", "\u1100\u1161\u11a8",
    "العربية لغة جميلة.", "مرحبا بالعالم!", "كَتَبَ الوَلَدُ الدَّرْسَ", "עברית: שָׁלוֹם עוֹלָם",
    "हिन्दी भाषा", "नमस्ते दुनिया।", "বাংলা ভাষা", "தமிழ் மொழி", "ภาษาไทยไม่มีช่องว่าง",
    "ພາສາລາວ", "မြန်မာဘာသာ", "ქართული ენა", "Հայերեն լեզու", "አማርኛ ቋንቋ", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
    "ᠮᠣᠩᠭᠣᠯ", "ꦧꦱꦗꦮ", "𐌰𐌱𐌲", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄", "Ⓒⓘⓡⓒⓛⓔⓓ", "㈱㍿㌀",
    "\u3400\u4dbf", "\U00020000\U0002a6df", "\U0002a700\U0002b73f", "\U0002b740\U0002b81f",
    "a\U0002b820b", "a\U0002b91fb", "a\U0002b920b", "a\U0002ceafb", "a\U0002ceb0b",
    "豈更車", "a\uf900b", "\uf900\ufaff", "\U0002f800\U0002fa1d", "a\U0002fa1fb",
    "\u2e80\u2f00\u31c0", "\u3005\u3006\u3007", "\u30fc\u30fb", "「引用」『二重』【括弧】",
    "中文，标点。？！", "混合English和中文text",
]

EMOJI = [
    "I ❤️ NY", "😀😃😄😁", "a😀b", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "1️⃣", "©️®️™️",
    "🥺 new emoji", "🫠", "🪿🪼", "emoji😀inside", "☺", "♥♦♣♠", "★☆", "✓✔✗✘", "→←↑↓⇒",
    "∀x∈ℝ: x²≥0", "∑∏∫√∞≠≤≥", "½ ¼ ¾ ⅓", "x² y³ z⁴ H₂O", "€ £ ¥ ₹ ₽ ₩ ¢ $", "°C °F ℃ ℉",
    "♪♫ ♯♭", "👩🏿‍💻 and 🧑‍🚀", "\u200d", "a\u200db", "a\u200cb", "\ufe0f", "x\ufe0fy",
]

CONTROLS_AND_SPACES = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t \n \r ", "\u00a0", "\u3000", "\u2003\u2009\u200a",
    "a\u00a0b", "a\u2002b", "a\u2028b", "a\u2029b", "a\u0085b", "a\u000bb", "a\u000cb",
    "a\u001cb\u001db\u001eb\u001fb", "a\u180eb", "a\u200bb", "a\u2060b", "\ufeffBOM at start",
    "a\ufeffb", "a\u0000b", "\u0000", "a\ufffdb", "\ufffd", "a\u0007b", "a\u001bb[31mred",
    "a\u007fb", "a\u0080b\u009fc", "a\u00adb", "soft\u00adhyphen\u00adated", "\u00ad",
    "co\u00adop\u00ader\u00ada\u00adtion", "a\u061cb", "a\u200eb\u200fc", "a\u202ab\u202cc",
    "a\u2066b\u2069c", "a\ue000b", "\uf8ff", "a\U000f0000b", "a\u0378b", "a\U000e0001b",
    "tab\tseparated\tvalues", "line one\nline two\r\nline three", "  leading and trailing  ",
    "multiple     spaces", "a\u1680b", "a\u202fb", "a\u205fb", "\u2028\u2029",
]

SPECIALS = [
    "[SEP]", "[CLS] question [SEP] context [SEP]", "a[SEP]b", "[sep]", "[Sep]", "[SEP ]",
    "[ SEP ]", "[SEP][SEP]", "[[SEP]]", "[MASK]", "The [MASK] sat on the mat.", "[PAD][PAD]",
    "[UNK]", "unknown [UNK] word", "[unused0]", "[unused99]", "[CLS", "CLS]", "[SE\u200bP]",
    "[SEP]é", "é[SEP]", "日[SEP]本", "##", "##ing", "# hashtag #NLP", "[[[]]]", "[]",
    "[MASK][MASK]x[MASK]", " [SEP] ", "\u0301[SEP]\u0301", "[SEP]\u0301",
]

PUNCT_AND_NUMBERS = [
    "Hello, world!", "Wait... what?!", "\"double\" 'single' `back`", "“curly” ‘quotes’ «guillemets» „low“",
    "em—dash en–dash hyphen-minus figure‒dash horizontal―bar minus−sign", "a--b---c", "...",
    "!!!???", "(parens) [brackets] {braces} <angles>", "a/b\\c|d", "#hash @at $dollar %percent",
    "^caret &amp *star _under_ +plus =equals ~tilde", "snake_case_name and kebab-case-name",
    "1.000,50", "3.14", "-42", "+7", "1/2", "10%", "$5", "#1", "2nd 3rd 4th", "1990s",
    "0xDEADBEEF", "192.168.0.1", "::1", "1,234,567.89", "12:30pm", "A1B2C3", "iPhone15Pro",
    "¿Qué? ¡Sí!", "§ 12 ¶ 3", "†‡•…‰′″", "‹›", "⁇⁈⁉", "‽", "a\u2e5db", "a\u2e50b", "a\u061db",
    "a\u166db", "a\u1734b", "a\u0890b", "a\u07fdb", "a\u0897b", "a\u1abfb",
    "·middle·dot·", "a\u00b7b", "a\u2027b", "a\u30fbb", "a\uff0cb", "a\uff01b",
    "don't", "can't won't shouldn't've", "it’s", "y'all", "'quoted'", "rock'n'roll",
    "e-mail", "state-of-the-art", "well‐known", "non‑breaking‑hyphen",
]

LONG_WORDS = [
    "a" * 99, "a" * 100, "a" * 101, "b" * 150, "é" * 100, "é" * 101, "e\u0301" * 60,
    "日" * 120, "ab" * 60, "x" * 100 + " ok", "ok " + "z" * 101 + " ok",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "supercalifragilisticexpialidocious " * 3,
    "".join(chr(ord("a") + i % 26) for i in range(100)) + "\u00ad" * 5,
    "a\u00ad" * 101, "antidisestablishmentarianism" * 4, "http://" + "x" * 120 + ".com",
    "1" * 101, "1234567890" * 10,
]

LONG_TEXTS = [
    " ".join(PROSE),
    "\n".join(PROSE[:12]),
    " ".join(ACCENTS[:60]),
    "".join(CJK_AND_SCRIPTS[:20]),
    " ".join(EMOJI),
]


def random_strings(rng):
    """Seeded random strings: pieces from interesting ranges, plus uniformly random code points."""
    pools = [
        (0x20, 0x7E), (0x00, 0x1F), (0x7F, 0xA0), (0xA1, 0x17F), (0x180, 0x24F), (0x300, 0x36F),
        (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F),
        (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x1E00, 0x1EFF),
        (0x1F00, 0x1FFF), (0x2000, 0x206F), (0x20A0, 0x20FF), (0x2100, 0x214F), (0x2E00, 0x2E7F),
        (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
        (0xFB00, 0xFB4F), (0xFE00, 0xFE2F), (0xFF00, 0xFFEF), (0xFFF0, 0xFFFF),
        (0x1F300, 0x1FAFF), (0x1D400, 0x1D7FF), (0x20000, 0x2FA1F), (0xE0000, 0xE007F),
    ]
    out = []
    # Mixtures of pieces from the pools, with spaces between some.
    for _ in range(120):
        parts = []
        for _ in range(rng.randint(1, 12)):
            lo, hi = rng.choice(pools)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6))))
            if rng.random() < 0.4:
                parts.append(rng.choice([" ", "", "\t", "\u00a0", "\n"]))
        out.append("".join(parts))
    # Uniformly random code points (no surrogates): table differences show up here.
    for _ in range(40):
        chars = []
        while len(chars) < rng.randint(1, 16):
            cp = rng.randint(0, 0x10FFFF) if rng.random() < 0.5 else rng.randint(0, 0x2FFFF)
            if not 0xD800 <= cp <= 0xDFFF:
                chars.append(chr(cp))
        out.append("".join(chars))
    # ASCII soup: letters, digits, punctuation and whitespace.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-()[]{}#@$%&*/\\|_+=<>~^`\t\n"
    for _ in range(30):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    return out


def corpus():
    groups = [
        ("prose", PROSE), ("accents", ACCENTS), ("scripts", CJK_AND_SCRIPTS), ("emoji", EMOJI),
        ("space_control", CONTROLS_AND_SPACES), ("special", SPECIALS),
        ("punct_number", PUNCT_AND_NUMBERS), ("long_word", LONG_WORDS), ("long_text", LONG_TEXTS),
        ("random", random_strings(random.Random(20240607))),
    ]
    seen = set()
    for group, texts in groups:
        for i, text in enumerate(texts):
            if text in seen:
                continue
            seen.add(text)
            yield f"{group}/{i}", text


# ---------------------------------------------------------------------------------------------


def write_reference(path, fast, slow, cases, header):
    """One JSON header line, then one line per (name, text) of `cases`: the fast tokenizer's ids,
    tokens and offsets, and the slow tokenizer's where it differs. Returns (cases, differing)."""
    n = n_diff = 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(header, ensure_ascii=False) + "\n")
        for name, text in cases:
            enc = fast(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = enc["input_ids"]
            char_offsets = [list(o) for o in enc["offset_mapping"]]
            byte_offsets = [
                [len(text[:s].encode("utf-8")), len(text[:e].encode("utf-8"))]
                for s, e in char_offsets
            ]
            slow_tokens = slow.tokenize(text)
            slow_ids = slow.convert_tokens_to_ids(slow_tokens)
            case = {
                "name": name,
                "text": text,
                "tokens": fast.convert_ids_to_tokens(ids),
                "ids": ids,
                "char_offsets": char_offsets,
                "byte_offsets": byte_offsets,
            }
            if slow_ids != ids:
                case["slow_tokens"] = slow_tokens
                case["slow_ids"] = slow_ids
                n_diff += 1
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
            n += 1
    print(f"wrote {n} cases ({n_diff} where slow != fast) to {os.path.relpath(path, ROOT)}",
          file=sys.stderr)
    return n, n_diff


def main():
    fast = BertTokenizerFast(vocab_file=VOCAB, do_lower_case=True)
    slow = BertTokenizer(vocab_file=VOCAB, do_lower_case=True)
    assert fast.vocab_size == 30522, f"fast tokenizer built a {fast.vocab_size}-token vocab"
    assert slow.vocab_size == 30522, f"slow tokenizer built a {slow.vocab_size}-token vocab"
    assert len(fast) == 30522 and len(slow) == 30522

    header = {
        "about": "BERT uncased tokenization reference; see weights/make_tokenizer_reference.py",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "python_unicode": unicodedata.unidata_version,
        "vocab_size": fast.vocab_size,
    }
    write_reference(OUT, fast, slow, corpus(), header)


def fuzz(count, path, seed=1):
    """`count` random strings mixing vocabulary words (some upper-cased), special-token strings,
    near-100-character words and runs from many Unicode ranges, with their fast tokenization."""
    fast = BertTokenizerFast(vocab_file=VOCAB, do_lower_case=True)
    assert fast.vocab_size == 30522, f"fast tokenizer built a {fast.vocab_size}-token vocab"
    rng = random.Random(seed)
    pools = [
        (0x20, 0x7E), (0x20, 0x7E), (0x00, 0x1F), (0x7F, 0xFF), (0x100, 0x24F), (0x300, 0x36F),
        (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0xDFF), (0xE00, 0xEFF),
        (0x1100, 0x11FF), (0x1AB0, 0x1AFF), (0x1DC0, 0x1FFF), (0x2000, 0x2BFF), (0x2C00, 0x2E7F),
        (0x3000, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xABFF), (0xAC00, 0xD7FF),
        (0xF900, 0xFFFF), (0x10000, 0x1FFFF), (0x1F300, 0x1FAFF), (0x20000, 0x2FFFF),
        (0xE0000, 0xE01EF), (0xF0000, 0x10FFFF),
    ]
    specials = ["[SEP]", "[CLS]", "[MASK]", "[PAD]", "[UNK]", "[sep]", "##", "["]
    with open(VOCAB, encoding="utf-8") as f:
        words = f.read().split("\n")
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for i in range(count):
            parts = []
            for _ in range(rng.randint(0, 14)):
                r = rng.random()
                if r < 0.25:
                    w = rng.choice(words)
                    parts.append(w.upper() if rng.random() < 0.3 else w)
                elif r < 0.3:
                    parts.append(rng.choice(specials))
                elif r < 0.32:
                    parts.append("".join(rng.choice("abcdeé") for _ in range(rng.randint(95, 110))))
                else:
                    lo, hi = rng.choice(pools)
                    s = ""
                    while len(s) < rng.randint(1, 6):
                        cp = rng.randint(lo, hi)
                        if not 0xD800 <= cp <= 0xDFFF:
                            s += chr(cp)
                    parts.append(s)
                if rng.random() < 0.4:
                    parts.append(rng.choice([" ", " ", "\t", "\n", "\u00a0", "\u3000", "\u00ad", "\u0301", ""]))
            text = "".join(parts)
            enc = fast(text, add_special_tokens=False, return_offsets_mapping=True)
            char_offsets = [list(o) for o in enc["offset_mapping"]]
            case = {
                "name": f"fuzz/{i}",
                "text": text,
                "tokens": fast.convert_ids_to_tokens(enc["input_ids"]),
                "ids": enc["input_ids"],
                "char_offsets": char_offsets,
                "byte_offsets": [
                    [len(text[:s].encode("utf-8")), len(text[:e].encode("utf-8"))]
                    for s, e in char_offsets
                ],
            }
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"wrote {count} random cases to {path}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fuzz":
        fuzz(int(sys.argv[2]), sys.argv[3])
    else:
        main()
