"""What `imlib table` prints fits TABLE_WIDTH columns: wide tables are split into blocks of whole columns,
the columns under one top-level header (a dataset's paper and reproduced values) stay together, and every
block repeats the row names."""
import pandas as pd

from imlib import cli


def _wide():
    cols = pd.MultiIndex.from_tuples([(f"dataset {d} · metric", part) for d in "ABC"
                                      for part in ("paper", f"this project: synthetic-stand-in-{d} †, smoke")])
    index = pd.Index(["Labeled Only (LDT)", "Model Ensemble (ME)", "IM"], name="method")
    return pd.DataFrame([["67.1", "63.8 (n=1) †"] * 3] * 3, index=index, columns=cols)


def test_wide_table_split_at_group_boundaries(capsys):
    df = _wide()
    assert max(map(len, df.to_string().splitlines())) > cli.TABLE_WIDTH  # the case that needs splitting
    blocks = cli.fit_columns(df)
    assert [sorted({c[0] for c in b.columns}) for b in blocks] == [["dataset A · metric"], ["dataset B · metric"],
                                                                  ["dataset C · metric"]]
    cli.print_table(df)
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= cli.TABLE_WIDTH
    assert out.count("Model Ensemble (ME)") == 3  # the row names in every block


def test_narrow_table_is_one_block_and_keys_replace_the_range_index(capsys):
    df = pd.DataFrame({"method": ["IM", "LDT"], "split": ["1/8", "1/8"], "gain": [1.5, 0.0]})
    assert len(cli.fit_columns(df)) == 1
    cli.print_table(df, keys=["method", "split"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["gain"] and lines[2].split()[:2] == ["IM", "1/8"]  # no 0..N index


def test_flat_columns_split_greedily():
    df = pd.DataFrame({f"a rather long column name {i}": ["x" * 30] for i in range(6)})
    blocks = cli.fit_columns(df, width=80)
    assert [len(b.columns) for b in blocks] == [2, 2, 2]
    assert all(max(map(len, b.to_string().splitlines())) <= 80 for b in blocks)


def test_say_wraps_prose(capsys):
    cli.say("\n" + "word " * 60, width=50)
    out = capsys.readouterr().out
    assert out.startswith("\n") and max(map(len, out.splitlines())) <= 50
