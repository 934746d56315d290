"""The tokenizer is lossless, keeps identifiers whole and never merges across a line break."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from grucomplete.model.tokenizer import GPT2_PATTERN, CodeTokenizer, train_tokenizer

CODE_ALPHABET = st.sampled_from(
    list("abcxyz_019 .()[]:=+-*/#'\"\\\t\n\r") + ["é", "😀", "\x00", "ß", "\u2028", "<|endoftext|>"]
)
code_like = st.lists(CODE_ALPHABET, max_size=60).map("".join)


def pieces(tokenizer: CodeTokenizer, text: str) -> list[str]:
    return [text[a:b] for a, b in tokenizer.pre_tokenize(text)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), code_like))
def test_decode_inverts_encode_for_any_text(toy_tokenizer: CodeTokenizer, text: str) -> None:
    assert toy_tokenizer.decode(toy_tokenizer.encode(text)) == text


def test_document_boundary_text_in_a_source_file_stays_text(toy_tokenizer: CodeTokenizer) -> None:
    ids = toy_tokenizer.encode("x = '<|endoftext|>'")
    assert toy_tokenizer.boundary_id not in ids
    assert toy_tokenizer.decode([*ids, toy_tokenizer.boundary_id]) == "x = '<|endoftext|>'"


def test_identifiers_are_single_pre_tokens(toy_tokenizer: CodeTokenizer) -> None:
    assert pieces(toy_tokenizer, "max_len = self._x") == ["max_len", " =", " self", ".", "_x"]
    assert pieces(toy_tokenizer, "if x:\n        return") == [
        "if",
        " x",
        ":",
        "\n        ",
        "return",
    ]


def test_gpt2_pattern_splits_snake_case_which_ours_avoids() -> None:
    gpt2 = train_tokenizer(iter(["max_len"]), vocab_size=300, pattern=GPT2_PATTERN)
    assert pieces(gpt2, "max_len self._x") == ["max", "_", "len", " self", "._", "x"]


@settings(max_examples=300, deadline=None)
@given(code_like, code_like)
def test_tokens_never_cross_the_start_of_a_line_break(
    toy_tokenizer: CodeTokenizer, before: str, after: str
) -> None:
    # The server re-tokenizes from the last line break before an edit; that is only correct if
    # tokenizing the two sides apart gives the same ids as tokenizing the whole.
    before = before.rstrip("\r")  # "\r\n" is one line break: the split point is before "\r"
    after = "\n" + after
    assert toy_tokenizer.encode(before + after) == toy_tokenizer.encode(
        before
    ) + toy_tokenizer.encode(after)


def test_token_bytes_rebuild_multibyte_characters_split_across_tokens(
    toy_tokenizer: CodeTokenizer,
) -> None:
    ids = toy_tokenizer.encode("naïve 😀")
    assert b"".join(toy_tokenizer.token_bytes[i] for i in ids) == "naïve 😀".encode()


def test_lone_surrogates_encode_as_replacement_characters_of_the_same_width(
    toy_tokenizer: CodeTokenizer,
) -> None:
    # Legal in JSON and in a Python str (an editor can send one), not in UTF-8.
    text = "x = '\ud800' + '\udfff'\n"
    ids = toy_tokenizer.encode(text)
    assert toy_tokenizer.decode(ids) == text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")
    assert len(toy_tokenizer.decode_bytes(ids)) == len(text.encode("utf-8", "surrogatepass"))
