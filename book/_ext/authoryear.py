"""Author-year labels for the bibliography, matching the author-year citations in the text.

The pages cite with ``{cite}`` and ``bibtex_reference_style: author_year`` ("Vorndran and Roeck, 2024"),
but pybtex's default ``alpha`` labels would list the same entry as "[VR24]", so a reader could not match a
citation to its entry at a glance. This extension registers a pybtex formatting style ``authoryear``
(entries sorted by author, year, title) whose labels read like the citations: "Vorndran and Roeck, 2024",
"Sohn et al., 2020", with "a", "b" appended to the year when two entries would share a label.
Enabled through ``sphinx: local_extensions`` and ``bibtex_default_style: authoryear`` in ``_config.yml``.
"""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year(entry) -> str:
    """``"Last, Year"``, ``"Last and Other, Year"`` or ``"Last et al., Year"`` for one pybtex entry."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if names and names[-1].lower() == "others":  # BibTeX's "and others"
        names = names[:-1] + ["", ""]  # forces "et al." below
    if not names:
        who = entry.fields.get("key") or entry.fields.get("title", "Anonymous")
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels like the in-text citations; duplicates get a letter after the year (2024a, 2024b)."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + chr(ord("a") + seen[label] - 1)
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entry format, sorted by author and year, with author-year labels."""

    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
