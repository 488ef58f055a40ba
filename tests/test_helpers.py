"""imdb_edge.helpers.require: the optional import every export reader and check uses."""
from __future__ import annotations

import json

import pytest

from imdb_edge.helpers import require


def test_require_returns_the_module():
    assert require("json", "Reading JSON") is json


def test_a_missing_module_names_what_needs_it_and_the_extra_to_install():
    with pytest.raises(ImportError) as raised:
        require("imdb_edge_no_such_module.sub", "Reading ONNX files", extra="export")
    assert str(raised.value) == ("Reading ONNX files requires imdb_edge_no_such_module. You can "
                                 'install it via pip install "imdb-edge[export]"')
    assert isinstance(raised.value.__cause__, ImportError)


def test_without_an_extra_the_package_itself_is_suggested():
    with pytest.raises(ImportError, match=r"requires no-such-dist\. You can install it via "
                                          r"pip install no-such-dist$"):
        require("imdb_edge_no_such_module", "The check", package="no-such-dist")


def test_one_line_cuts_at_a_word_boundary():
    from imdb_edge.helpers import one_line

    words = " ".join(f"word{i}" for i in range(100))
    cut = one_line(ValueError(words + "\n\tend"), limit=50)
    assert len(cut) <= 54 and cut.endswith(" ...") and "\n" not in cut
    assert all(w in words.split() for w in cut[:-4].split())
    assert one_line(ValueError("short\nmessage")) == "short message"
    assert one_line(KeyError()) == "KeyError"
