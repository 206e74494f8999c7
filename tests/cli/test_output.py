"""Output helpers: the key filter, the advice text, sizes and durations."""

from __future__ import annotations

import io
import sys
from urllib.parse import quote

from carto_async.cli._output import (
    RedactingStream,
    add_secret,
    format_duration,
    redacted_output,
    strip_html,
)

KEY = "0123456789abcdef-secret"
ODD_KEY = "abc/def+ghi=123"


def test_redacted_output_masks_the_key_in_stdout_and_stderr_and_its_url_encoded_form() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with redacted_output([KEY, ODD_KEY]):
            print(f"key={KEY}")
            print("url?api_key=" + quote(ODD_KEY, safe=""), file=sys.stderr)
    finally:
        sys.stdout, sys.stderr = saved
    assert KEY not in out.getvalue()
    assert out.getvalue() == "key=***\n"
    assert err.getvalue() == "url?api_key=***\n"


def test_a_key_learned_later_is_masked_too_and_forgotten_afterwards() -> None:
    sink = io.StringIO()
    with redacted_output():
        stream = RedactingStream(sink)
        add_secret("late-key-123456")
        stream.write("late-key-123456\n")
    assert sink.getvalue() == "***\n"
    RedactingStream(sink).write("late-key-123456\n")
    assert sink.getvalue().endswith("late-key-123456\n")


def test_short_values_are_not_treated_as_secrets() -> None:
    sink = io.StringIO()
    with redacted_output(["demo"]):
        RedactingStream(sink).write("demo user\n")
    assert sink.getvalue() == "demo user\n"


def test_strip_html_leaves_the_advice_as_one_line_of_text() -> None:
    advice = "Check the <a href='https://carto.com/docs'>docs</a>.<br/>\n   Then &amp; retry."
    assert strip_html(advice) == "Check the docs . Then & retry."
    assert strip_html(None) == ""


def test_format_duration() -> None:
    assert format_duration(None) == "-"
    assert format_duration(0.84) == "0.8s"
    assert format_duration(42.4) == "42s"
    assert format_duration(185) == "3m05s"
