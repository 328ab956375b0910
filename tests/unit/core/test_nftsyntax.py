"""Quoted nft strings: one function, refusing what nft cannot carry unchanged."""

import pytest

from multiwan.core.nftsyntax import COMMENT_MAX_BYTES, nft_comment, nft_string


def test_plain_text_is_quoted() -> None:
    assert nft_string("eth1") == '"eth1"'
    assert nft_comment("lan stays local") == 'comment "lan stays local"'


@pytest.mark.parametrize(
    "text", ['x" drop', "x\nchain evil { }", "x\rz", "nul\0", "tab\t", "del\x7f", "", "é" * 128]
)
def test_text_that_would_change_the_script_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="nft strings"):
        nft_string(text)
    with pytest.raises(ValueError, match="nft strings"):
        nft_comment(text)


def test_comment_limit_counts_bytes() -> None:
    assert nft_comment("x" * COMMENT_MAX_BYTES)
    with pytest.raises(ValueError, match="1-128 bytes"):
        nft_comment("é" * 65)
