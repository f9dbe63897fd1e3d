"""API_AUTH (template.yaml's ApiAuth) is read once, checked, and tells the page to ask for a key."""

from __future__ import annotations

import pytest

from handler.settings import HandlerSettings, SettingsError


def test_api_auth_defaults_to_iam_and_takes_api_key() -> None:
    assert HandlerSettings.from_env({}).api_auth == "IAM"
    assert HandlerSettings.from_env({"API_AUTH": "API_KEY"}).api_auth == "API_KEY"


def test_an_unknown_api_auth_fails_the_cold_start() -> None:
    with pytest.raises(SettingsError, match="API_AUTH"):
        HandlerSettings.from_env({"API_AUTH": "NONE"})
