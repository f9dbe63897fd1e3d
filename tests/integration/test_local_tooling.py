"""The local tooling itself: configuration read from template.yaml as Lambda would see it, the
emulator's timeout answer, `make invoke` / `make run`, and no process left behind."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from local import api_gateway, demo, deployment, invoke
from local.deployment import ENV_FILE, TEMPLATE, LocalDeployment
from local.emulator import LambdaEmulator
from local.events import EVENTS_DIR, load_event, s3_put_event
from local.samples import sample_images
from local.template_config import function_config, function_ids, load_template
from tests.integration.buckets import image_size, sample_bytes, upload
from tests.synthetic import encode, scene


def test_function_config_comes_from_the_template_with_env_json_overrides(stack):
    template = load_template(TEMPLATE)
    worker = function_config(template, stack.s3_function)
    defaults = template["Parameters"]

    assert worker.handler == "handler.s3_entry.lambda_handler"
    assert worker.memory_mb == int(defaults["MemorySize"]["Default"])
    assert worker.timeout_s == int(defaults["Timeout"]["Default"])
    assert worker.environment["ENGINE_MODEL"] == defaults["EngineModel"]["Default"]  # a !Ref in Globals
    assert worker.environment["INPUT_BUCKET"].startswith("bg-remover-input-123456789012-us-east-1-")  # !Sub, !Select
    overrides = load_event(ENV_FILE)[stack.s3_function]
    assert stack.configs[stack.s3_function].environment["INPUT_BUCKET"] == overrides["INPUT_BUCKET"]
    assert stack.configs[stack.api_function].timeout_s == 29


def test_conditions_decide_which_functions_exist():
    template = load_template(TEMPLATE)

    assert "ApiFunction" in function_ids(template)
    assert function_ids(template, {"EnableApi": "false"}) == ["RemoverFunction"]


def test_timeout_is_reported_and_the_next_invoke_is_a_fresh_cold_start(stack, input_prefix):
    # The re-init after a timeout counts against the next invoke's time, as in Lambda: 4 s leave room
    # for it (imports, loading the model) on a busy machine; 80 photos take longer than that.
    objects = [upload(stack, f"{input_prefix}slow/{n}.jpg", sample_bytes("astronaut.jpg")) for n in range(80)]
    config = dataclasses.replace(stack.configs[stack.s3_function], timeout_s=4)
    env = {**stack.server.function_environment(), "MIN_REMAINING_MS": "0"}

    with LambdaEmulator(config, stack.task_root, env, stack.python) as emulator:
        slow = emulator.invoke(s3_put_event(objects))
        after = emulator.invoke({"Event": "s3:TestEvent"})

    assert slow.status == 200 and slow.timed_out
    assert slow.function_error["errorType"] == "Sandbox.Timedout"
    assert after.cold and after.payload() == {"results": []}


def test_make_invoke_runs_one_event_and_downloads_the_output(tmp_path: Path, capsys):
    event = EVENTS_DIR / "s3-put.json"

    status = invoke.run(event, None, TEMPLATE, ENV_FILE, tmp_path)

    printed = capsys.readouterr().out
    assert status == 0
    assert "cold start | invoke" in printed and "peak RSS" in printed
    (png,) = tmp_path.rglob("*.png")
    with Image.open(png) as image:
        assert image.mode == "RGBA"


def test_make_invoke_file_pushes_the_users_own_photo_through_the_s3_event(tmp_path: Path, capsys):
    photo = tmp_path / "my photo.png"
    photo.write_bytes(encode(scene(700, 500, seed=3)[0], ".png"))

    status = invoke.run(EVENTS_DIR / "s3-put.json", None, TEMPLATE, ENV_FILE, tmp_path / "out", photo)

    assert status == 0
    assert f"from {photo}" in capsys.readouterr().out
    (png,) = (tmp_path / "out").rglob("*.png")
    with Image.open(png) as cutout:
        assert (cutout.mode, cutout.size) == ("RGBA", (700, 500)), "the user's photo, not a bundled sample"


def test_make_invoke_file_sends_the_users_own_photo_as_the_body_of_an_api_event(tmp_path: Path):
    photo = tmp_path / "mine.jpg"
    photo.write_bytes(encode(scene(1200, 900, seed=4)[0]))
    bundled = image_size(base64.b64decode(load_event(EVENTS_DIR / "api-post.json")["body"]))

    status = invoke.run(EVENTS_DIR / "api-post.json", None, TEMPLATE, ENV_FILE, tmp_path, photo)

    assert status == 0
    with Image.open(tmp_path / "api-response.png") as cutout:
        assert cutout.mode == "RGBA"
        assert cutout.size[0] <= 1200 and bundled[1] < cutout.size[1] <= 900, "cropped from the user's photo"


def make_dry_run(*arguments: str) -> str:
    """What `make -n` would run for `arguments` (with PY=python), as printed."""
    command = [str(shutil.which("make")), "-n", *arguments, "PY=python"]
    return subprocess.run(command, cwd=TEMPLATE.parent, capture_output=True, text=True, check=True).stdout


def test_make_invoke_passes_file_to_local_invoke():
    dry_run = make_dry_run("invoke", "FILE=holiday photo.jpg")

    assert "python -m local.invoke events/s3-put.json --file 'holiday photo.jpg'" in dry_run


def test_make_serve_takes_another_port():
    """Port 3000 is often taken (a web framework's dev server, Grafana), and make serve had no way
    to name another."""
    dry_run = make_dry_run("serve", "PORT=3001")

    assert "python -m local.api_gateway --port 3001" in dry_run


def test_make_serve_on_a_port_in_use_says_so_before_starting_anything(monkeypatch, capsys):
    """It started moto's server and both emulators, then died with a traceback: OSError [Errno 98]
    Address already in use."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local stack was started")

    monkeypatch.setattr(deployment, "LocalDeployment", started)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            api_gateway.main(["--port", str(port)])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"port {port} is in use" in err and "make serve PORT=" in err and "Traceback" not in err


def test_make_invoke_refuses_a_missing_file_before_starting_anything(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        invoke.main(["events/s3-put.json", "--file", str(tmp_path / "nowhere.jpg")])

    assert f"no such file: {tmp_path / 'nowhere.jpg'}" in capsys.readouterr().err


def test_make_invoke_refuses_a_file_for_a_request_that_takes_no_image(tmp_path: Path, capsys):
    photo = tmp_path / "mine.jpg"
    photo.write_bytes(sample_bytes("chelsea.jpg"))

    with pytest.raises(SystemExit):
        invoke.main([str(EVENTS_DIR / "api-page.json"), "--file", str(photo)])

    assert "GET / takes no image" in capsys.readouterr().err


def test_make_run_cuts_out_every_sample(tmp_path: Path, capsys):
    rows = demo.run(tmp_path)

    assert [row.invocation.cold for row in rows] == [True] + [False] * (len(rows) - 1)
    assert {row.label for row in rows[:-1]} == {image.name for image in sample_images()}
    for row in rows:
        with Image.open(row.local_path) as image:
            assert image.mode == "RGBA"
    assert "decode/infer/refine/compose/encode ms" in capsys.readouterr().out


def test_stopping_a_deployment_leaves_no_process_behind():
    with LocalDeployment() as deployment:
        emulator = deployment.emulator(deployment.s3_function)
        emulator.invoke({"Event": "s3:TestEvent"})
        pids = [deployment.server.pid, emulator.pid, *emulator.runtime_pids()]
        assert len(pids) == 3

    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
