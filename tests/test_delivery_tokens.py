"""Statement tokens and their secret (environment, or a generated 0600 file for the embedded demo)."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from finefinance_platform.delivery.tokens import TokenError, issue_token, statement_secret, verify_token
from finefinance_platform.settings import SettingsError, load_settings

SECRET = "s" * 40


def test_secret_from_the_environment_wins(tmp_path):
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_STATEMENT_SECRET": SECRET})
    assert statement_secret(settings) == SECRET
    assert not (tmp_path / "statement_secret").exists()


def test_a_short_secret_is_refused(tmp_path):
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_STATEMENT_SECRET": "short"})
    with pytest.raises(SettingsError, match="FINEFINANCE_STATEMENT_SECRET is too short"):
        statement_secret(settings)


def test_without_one_a_private_secret_is_generated_once(tmp_path):
    settings = load_settings({"FINEFINANCE_HOME": str(tmp_path)})
    first = statement_secret(settings)
    path = tmp_path / "statement_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert statement_secret(settings) == first  # `token` and `serve` agree
    path.write_text("oops\n")
    with pytest.raises(SettingsError, match="holds no usable secret"):
        statement_secret(settings)


def test_round_trip_and_expiry():
    now = dt.datetime.now(dt.UTC)
    assert verify_token(issue_token("cust-1", SECRET), SECRET) == "cust-1"
    with pytest.raises(TokenError, match="expired"):
        verify_token(issue_token("cust-1", SECRET, dt.timedelta(minutes=1), now=now - dt.timedelta(minutes=2)), SECRET)
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(issue_token("cust-1", SECRET), "t" * 40)
    with pytest.raises(SettingsError, match="must be positive"):
        issue_token("cust-1", SECRET, dt.timedelta(0))
