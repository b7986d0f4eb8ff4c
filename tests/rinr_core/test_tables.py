"""The shared table formatters: markdown for reports, aligned plain text for terminals."""

import math

import pytest

from rinr_core.tables import MISSING, format_cell, markdown_table, text_table


@pytest.mark.parametrize(("value", "digits", "text"), [
    (None, 2, MISSING), (math.nan, 2, MISSING), (True, 2, "yes"), (False, 2, "no"),
    (7, 3, "7"), (1.23456, 3, "1.235"), (99.6, 0, "100"), ("as is", 2, "as is"),
])
def test_cells_are_formatted_by_type(value, digits, text):
    assert format_cell(value, digits) == text


def test_markdown_table_aligns_label_left_and_numbers_right_by_default():
    # Execute
    table = markdown_table(["name", "bytes", "dB"], [["a|b", 1200, 31.256], ["c", None, math.nan]])

    # Assert
    assert table.splitlines() == [
        "| name | bytes | dB |",
        "| --- | ---: | ---: |",
        "| a\\|b | 1200 | 31.26 |",
        f"| c | {MISSING} | {MISSING} |",
    ]


def test_markdown_table_takes_alignment_and_decimals_per_column():
    # Execute
    table = markdown_table(["n", "mode", "bpp", "dB"], [[2, "qre", 0.51234, 30.0]],
                           align=["r", "l", "r", "r"], digits=[0, 0, 3, 1])

    # Assert
    assert table.splitlines()[1:] == ["| ---: | --- | ---: | ---: |", "| 2 | qre | 0.512 | 30.0 |"]


@pytest.mark.parametrize("options", [{"align": ["l"]}, {"align": ["l", "c"]}, {"digits": [1]}])
def test_markdown_table_refuses_options_that_do_not_match_the_columns(options):
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [["x", 1]], **options)


def test_a_row_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        text_table(["a", "b", "c"], [["x", 1]])


def test_text_table_pads_columns_to_their_longest_cell():
    # Execute
    table = text_table(["codec", "MB"], [["jpeg", 12.5], ["residual-inr", 0.25]])

    # Assert
    assert table.splitlines() == ["codec           MB", "jpeg         12.50", "residual-inr  0.25"]


def test_text_table_keeps_least_widths_and_widens_past_them():
    # Execute
    table = text_table(["codec", "placement", "s"], [["jpeg", "edge", 1.0], ["rapid", "serverless", 12345.0]],
                       align=["l", "l", "r"], widths=[8, 6, 5], digits=1)

    # Assert
    assert table.splitlines() == [
        "codec    placement        s",
        "jpeg     edge           1.0",
        "rapid    serverless 12345.0",
    ]


def test_text_table_leaves_no_trailing_spaces_and_takes_a_gap():
    # Execute
    table = text_table(["a", "long title"], [["x", "y"]], align=["r", "l"], gap=" | ")

    # Assert
    assert table.splitlines() == ["a | long title", "x | y"]
