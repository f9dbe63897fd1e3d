"""`python -m reliability.memory`'s arguments: a name it does not know is a usage error naming it
(and the names there are), before any emulator starts."""

from __future__ import annotations

import pytest

from reliability import memory


@pytest.mark.parametrize(("flag", "name"), [("--inputs", "JPEG XL photo"), ("--options", "sharpen")])
def test_an_unknown_name_is_a_usage_error(flag: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        memory.main([flag, name])

    assert stopped.value.code == 2
    assert f"unknown {flag[2:].rstrip('s')}(s) {name}" in capsys.readouterr().err
