//! WordPiece tokenizer (BERT uncased) with offsets into the original text.
