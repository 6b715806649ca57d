"""The API page and the bibliography: every module documented, author-year labels as the text cites."""
from __future__ import annotations

import importlib.util
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import imlib

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_has_a_heading_and_an_automodule_on_the_api_page():
    page = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", page, re.M))
    headed = set(re.findall(r"^### `(\S+)`$", page, re.M))
    packages = {n for _, n, is_pkg in pkgutil.walk_packages(imlib.__path__, "imlib.") if is_pkg}
    modules = {n for _, n, _ in pkgutil.walk_packages(imlib.__path__, "imlib.")} - packages - {"imlib.__main__"}
    # a package is documented through its modules; one that is documented itself is fine too
    assert modules - documented == set(), "modules missing from book/api.md"
    assert documented - headed == set(), "every automodule gets its own heading"
    assert documented <= modules | packages, "book/api.md names a module that does not exist"


@pytest.fixture(scope="module")
def authoryear():
    pytest.importorskip("pybtex")
    spec = importlib.util.spec_from_file_location("authoryear", ROOT / "book" / "_ext" / "authoryear.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["authoryear"] = module
    spec.loader.exec_module(module)
    return module


def _entry(authors: str, year: str = "2024"):
    from pybtex.database import Entry, Person

    return Entry("article", fields={"year": year, "title": "T"},
                 persons={"author": [Person(a) for a in authors.split(" and ")]})


def test_labels_read_like_the_author_year_citations(authoryear):
    assert authoryear.author_year(_entry("Vorndran, Michael and Roeck, Bernhard")) == "Vorndran and Roeck, 2024"
    assert authoryear.author_year(_entry("Sohn, K. and Berthelot, D. and Li, C.", "2020")) == "Sohn et al., 2020"
    assert authoryear.author_year(_entry("Than, Thuan and others", "2025")) == "Than et al., 2025"
    assert authoryear.author_year(_entry("Ronneberger, Olaf", "2015")) == "Ronneberger, 2015"
    assert authoryear.author_year(_entry("van der Walt, Stefan", "2011")) == "van der Walt, 2011"


def test_equal_labels_get_a_letter_after_the_year(authoryear):
    entries = [_entry("Zhao, A. and Yang, B. and Long, C."), _entry("Zhao, D. and Wang, E. and Ding, F."),
               _entry("Zhao, G.", "2023")]
    labels = list(authoryear.AuthorYearLabels().format_labels(entries))
    assert labels == ["Zhao et al., 2024a", "Zhao et al., 2024b", "Zhao, 2023"]


def test_the_bibliography_uses_the_author_year_style():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"^\s+bibtex_default_style: authoryear$", config, re.M)
    assert re.search(r"^\s+authoryear: book/_ext\b", config, re.M)
