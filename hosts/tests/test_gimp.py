"""The GIMP plug-in (hosts/gimp/nst-stylize) in the real GIMP 3.0 against a real `nst serve`.

GIMP runs in the Debian trixie chroot (``.ci/install-editors``), as gimp-console batch mode or
the GUI under Xvfb; the service runs outside it with random weights (tiny images, few
iterations) and is reached over 127.0.0.1. The plug-in is installed with the real
``nst install-host gimp --dest DIR`` where DIR is a private GIMP configuration folder inside
the chroot (``GIMP3_DIRECTORY``), so runs beside other tests never share GIMP's settings.
The first tests need no GIMP: they check the plug-in's pure logic module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN_SRC = REPO / "hosts" / "gimp" / "nst-stylize"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PLUGIN_SRC))

import editors  # noqa: E402
import gimp_screenshot  # noqa: E402
import nst_gimp_logic as logic  # noqa: E402

from nst_plugin import client as nst_client  # noqa: E402

PROCEDURE = "plug-in-nst-stylize"
FAST = '{"iterations": 3}'  # with quality "draft": one scale, three iterations


# ------------------------------------------------------------------ the logic module (no GIMP)


def test_area_is_the_whole_drawable_without_selection():
    assert logic.processing_area(64, 48) == (0, 0, 64, 48)


def test_area_is_the_selection_plus_margin_clamped():
    assert logic.processing_area(200, 100, (50, 40, 10, 10)) == (18, 8, 74, 74)
    assert logic.processing_area(64, 48, (12, 10, 12, 10)) == (0, 0, 56, 48)
    with pytest.raises(logic.UserError, match="selection does not touch"):
        logic.processing_area(64, 48, (0, 0, 0, 0))


def test_options_preset_then_arguments_then_json():
    engines = {"default": "vgg19", "presets": {"draft": {"iterations": 9, "scales": 1}},
               "engines": [{"name": "vgg19", "options": {"properties": {
                   k: {} for k in ("iterations", "scales", "size", "strength",
                                   "preserve_colors", "seed")}}},
                           {"name": "fast", "options": {"properties": {"size": {},
                                                                       "strength": {}}}}]}
    opts = logic.build_options(quality="draft", strength=0.7, size=0, area=(0, 0, 64, 48),
                               preserve_colors=True, extra='{"seed": 1, "iterations": 2}',
                               engines_info=engines)
    assert opts == {"iterations": 2, "scales": 1, "strength": 0.7, "size": 64,
                    "preserve_colors": True, "seed": 1}
    fast = logic.build_options(quality="best", strength=0.5, size=300, area=(0, 0, 64, 48),
                               preserve_colors=False, engine="fast", engines_info=engines)
    assert fast == {"strength": 0.5, "size": 300, "engine": "fast"}  # best's iterations dropped
    local = logic.build_options(quality="good", strength=0.5, size=0, area=(0, 0, 10, 20),
                                preserve_colors=False)
    assert local["iterations"] == logic.LOCAL_PRESETS["good"]["iterations"]
    assert local["size"] == 20


def test_local_presets_match_the_options_module():
    from nst_plugin.options import PRESETS
    assert logic.LOCAL_PRESETS == PRESETS
    assert [q for q, _ in logic.QUALITIES] == list(PRESETS)


@pytest.mark.parametrize("text, words", [("[1]", "JSON object"), ("{oops", "not valid JSON")])
def test_bad_options_json_is_one_sentence(text, words):
    with pytest.raises(logic.UserError, match=words) as info:
        logic.parse_extra_options(text)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def test_style_names_paths_and_non_images(tmp_path):
    assert logic.resolve_style(" starry_night ") == ("name", "starry_night", "starry_night")
    picture = tmp_path / "my painting.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    kind, data, label = logic.resolve_style(str(picture))
    assert (kind, label) == ("file", "my painting") and data.startswith(b"\x89PNG")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for style, words in ((str(text), "is not an image"), (str(tmp_path / "gone.png"),
                                                            "does not exist"), ("", "Choose")):
        with pytest.raises(logic.UserError, match=words):
            logic.resolve_style(style)
    with pytest.raises(logic.UserError, match="choose one of starry_night, wave"):
        logic.check_style_name("nope", [{"name": "wave"}, {"name": "starry_night"}])
    logic.check_style_name("wave", [{"name": "wave"}])


def test_progress_text_and_layer_name():
    event = {"event": "progress", "stage": "optimizing", "step": 40, "total": 200, "eta": 75.2}
    assert logic.progress_text(event) == ("Neural style: optimizing, iteration 40/200, "
                                          "about 1 min 15 s left")
    assert logic.progress_fraction(event) == 0.2
    assert logic.progress_text({"event": "progress", "stage": "preparing", "step": 0,
                                "total": 0}) == "Neural style: preparing"
    assert logic.progress_fraction({"step": 0, "total": 0}) is None
    assert logic.layer_name("starry_night", 0.7) == "Neural Style: starry_night 70%"


def test_plugin_file_stays_small_and_standard_library_only():
    source = (PLUGIN_SRC / "nst-stylize.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) < 400
    imports = set(re.findall(r"^(?:from|import) (\w+)", source, re.M))
    assert imports <= {"os", "sys", "threading", "traceback", "gi", "client",
                       "nst_gimp_logic"}, imports


# ------------------------------------------------------------------ the service and the install


def _nst_command() -> Path | None:
    beside = Path(sys.executable).parent / "nst"
    found = beside if beside.is_file() else shutil.which("nst")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def nst_exe() -> Path:
    nst = _nst_command()
    if nst is None:
        pytest.skip("the nst command is not installed (pip install -e .)")
    for command in (["serve", "--help"], ["install-host", "--help"]):
        done = subprocess.run([str(nst), *command], capture_output=True, timeout=120)
        if done.returncode != 0:
            pytest.skip(f"`nst {' '.join(command)}` does not work yet")
    return nst


@pytest.fixture(scope="session")
def nst_service(nst_exe, tmp_path_factory):
    """A real `nst serve --weights random` outside the chroot, in throwaway folders."""
    base = tmp_path_factory.mktemp("nst-service")
    env = dict(os.environ, NST_SERVICE_FILE=str(base / "service.json"),
               KERAS_HOME=str(base / "keras"), NST_WEIGHTS="random")
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
                "XDG_RUNTIME_DIR"):
        env[var] = str(base / var.lower())
        Path(env[var]).mkdir(mode=0o700)
    log = open(base / "serve.out", "wb")
    proc = subprocess.Popen([str(nst_exe), "serve", "--weights", "random"], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            info = nst_client.read_service_file(env["NST_SERVICE_FILE"])
            if info:
                try:
                    nst_client.Client(info["url"], info.get("token")).health(timeout=2)
                    break
                except nst_client.ServiceError:
                    pass
            time.sleep(0.3)
        else:
            pytest.fail("nst serve did not start: " + (base / "serve.out").read_text()[-2000:])
        yield {"file": Path(env["NST_SERVICE_FILE"]), "info": info,
               "client": nst_client.Client(info["url"], info.get("token"))}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class GimpSetup:
    """The chroot, the private GIMP folder (host and chroot paths), the env for gimp-console."""

    def __init__(self, root: Path, name: str, service_file: Path):
        self.root = root
        self.chroot_dir = f"/tmp/{name}"
        self.dir = root / self.chroot_dir.lstrip("/")
        self.plugin_dir = self.dir / "plug-ins" / "nst-stylize"
        self.service_file = f"/tmp/{name}-service.json"
        shutil.copy(service_file, root / self.service_file.lstrip("/"))
        self.env = {"GIMP3_DIRECTORY": self.chroot_dir, "NST_SERVICE_FILE": self.service_file}
        self.completed: list[str] = []
        self.copied: list[Path] = []

    def copy_in(self, path: Path, suffix: str = "") -> str:
        """Copy a file into the chroot's /tmp; returns its path inside the chroot."""
        inside = f"/tmp/nst-in-{uuid.uuid4().hex[:8]}{suffix or path.suffix}"
        shutil.copy(path, self.root / inside.lstrip("/"))
        self.copied.append(self.root / inside.lstrip("/"))
        return inside

    def batch(self, script: str, env: dict | None = None, timeout: float = 180):
        """Run PRELUDE + script in gimp-console; returns (rc, stdout, stderr, results)."""
        rc, out, err = editors.run_gimp_batch(self.root, PRELUDE + textwrap.dedent(script),
                                              env={**self.env, **(env or {})},
                                              timeout=timeout)
        results = [json.loads(line[len("NST-RESULT "):]) for line in out.splitlines()
                   if line.startswith("NST-RESULT ")]
        assert rc == 0, f"gimp-console failed (exit {rc}):\n{out[-2000:]}\n{err[-4000:]}"
        return rc, out, err, results


@pytest.fixture(scope="session")
def gimp(gimp_root, nst_exe, nst_service):
    name = f"nst-gimp-test-{uuid.uuid4().hex[:8]}"
    setup = GimpSetup(gimp_root, name, nst_service["file"])
    try:
        subprocess.run([str(nst_exe), "install-host", "gimp", "--dest", str(setup.dir)],
                       check=True, capture_output=True, timeout=120)
        # install-host copies the files it knows; complete the install with any other file of
        # the plug-in's source folder (test_install_host_copies_every_file reports them).
        for src in PLUGIN_SRC.glob("*.py"):
            if not (setup.plugin_dir / src.name).exists():
                shutil.copy(src, setup.plugin_dir / src.name)
                setup.completed.append(src.name)
        yield setup
    finally:
        shutil.rmtree(setup.dir, ignore_errors=True)
        for path in [gimp_root / setup.service_file.lstrip("/"), *setup.copied]:
            path.unlink(missing_ok=True)


PRELUDE = gimp_screenshot.PRELUDE  # make_image, describe, differs, stylize, report


def test_install_host_copies_every_file(gimp):
    """install-host must copy every file of hosts/gimp/nst-stylize/ (the fixture completed
    the install for the other tests when it did not)."""
    assert os.access(gimp.plugin_dir / "nst-stylize.py", os.X_OK)
    host = json.loads((gimp.plugin_dir / "nst-host.json").read_text())
    assert set(host) >= {"nst", "url", "token"}
    assert (gimp.plugin_dir / "client.py").is_file()
    assert gimp.completed == [], f"nst install-host gimp did not copy {gimp.completed}"


def test_registered_in_the_pdb(gimp):
    _, _, _, (found,) = gimp.batch('''
        proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-stylize")
        report(args=[p.name for p in proc.get_arguments()],
               aux=[p.name for p in proc.get_aux_arguments()],
               label=proc.get_menu_label(), menus=proc.get_menu_paths(),
               types=proc.get_image_types())
    ''')
    assert found["args"] == ["run-mode", "image", "drawables", "style", "strength", "size",
                             "quality", "preserve-colors", "engine", "options"]
    assert found["label"] == "Neural Style Transfer..."
    assert found["menus"] == ["<Image>/Filters/Artistic"]
    assert found["types"] == "RGB*, GRAY*"
    # The PDB does not hand the sensitivity mask back to plug-ins; GIMP keeps it in pluginrc
    # after the image types: 1 = GIMP_PROCEDURE_SENSITIVE_DRAWABLE (one drawable selected).
    pluginrc = (gimp.dir / "pluginrc").read_text(encoding="utf-8", errors="replace")
    block = pluginrc[pluginrc.index('(proc-def "plug-in-nst-stylize"'):]
    assert re.search(r'"RGB\*, GRAY\*"\s+1\s', block)


def test_stylize_adds_one_layer_in_one_undo_group(gimp):
    _, _, err, (run,) = gimp.batch(f'''
        image, layer = make_image()
        before = describe(image)
        status, message = stylize(image, layer, style="starry_night", quality="draft",
                                  options={FAST!r})
        new = image.get_layers()[0]
        report(status=status, message=message, before=before, after=describe(image),
               differs=differs(new, layer), undo=image.undo_is_enabled())
    ''')
    assert run["status"] == "success", run["message"]
    before, after = run["before"], run["after"]
    assert len(after) == len(before) + 1 and after[1:] == before  # source untouched, below
    new = after[0]
    assert new["name"] == "Neural Style: starry_night 50%"
    assert new["size"] == [64, 48] and new["offsets"] == [0, 0] and new["mask"] is None
    assert run["differs"] > 0.2  # really stylized, not a copy
    assert run["undo"]
    # An undo group left open would make GIMP close it with this warning when the plug-in ends.
    assert "inconsistent state" not in err


def test_style_file_size_and_grey_image(gimp):
    style = gimp.copy_in(REPO / "nst_plugin" / "examples" / "wave.jpg")
    _, _, _, runs = gimp.batch(f'''
        image, layer = make_image(grey=True)
        status, message = stylize(image, layer, style="{style}", strength=0.8, size=32,
                                  quality="draft", options={FAST!r})
        report(status=status, message=message, after=describe(image))
    ''')
    (run,) = runs
    assert run["status"] == "success", run["message"]
    new, source = run["after"]
    label = Path(style).stem
    assert new["name"] == f"Neural Style: {label} 80%"
    assert new["size"] == [64, 48] and new["grey"]  # stylized at 32 px, scaled to the layer
    assert new["sha"] != source["sha"]


def test_selection_is_processed_with_a_margin_and_becomes_the_mask(gimp):
    _, _, _, (run,) = gimp.batch(f'''
        image, layer = make_image(80, 60, layer_size=(64, 48), offsets=(8, 6))
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 16, 12, 10)
        status, message = stylize(image, layer, style="wave", quality="draft",
                                  options={FAST!r})
        report(status=status, message=message, after=describe(image))
    ''')
    assert run["status"] == "success", run["message"]
    new, source = run["after"]
    # Selection (20,16) 12x10 in the image = (12,10) in the layer; plus 32 px, clamped.
    assert new["offsets"] == [8, 6] and new["size"] == [56, 48]
    assert new["mask"] == {"on": 120, "x": [12, 23], "y": [10, 19]}
    assert source["mask"] is None


def test_errors_leave_the_image_as_it_was(gimp, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("this is not a picture")
    bad = gimp.copy_in(notes)
    _, _, err, runs = gimp.batch(f'''
        for style, options in (("{bad}", "{{}}"), ("no_such_style", "{{}}"),
                               ("wave", "[1, 2]"), ("wave", '{{"size": 1}}')):
            image, layer = make_image()
            image.select_rectangle(Gimp.ChannelOps.REPLACE, 4, 4, 10, 10)
            before = describe(image)
            status, message = stylize(image, layer, style=style, quality="draft",
                                      options=options)
            report(status=status, message=message, same=describe(image) == before)
    ''')
    assert len(runs) == 4
    for run in runs:
        assert run["status"] == "execution-error" and run["same"], run
        message = run["message"]
        assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert "is not an image" in runs[0]["message"]
    assert "no style named 'no_such_style'" in runs[1]["message"]
    assert "JSON object" in runs[2]["message"]
    assert "size" in runs[3]["message"].lower()  # the service's own sentence about the bad option
    assert "inconsistent state" not in err


def test_no_service_is_an_error_status_with_one_sentence(gimp):
    _, _, _, (run,) = gimp.batch(f'''
        image, layer = make_image()
        before = describe(image)
        status, message = stylize(image, layer, style="wave", options={FAST!r})
        report(status=status, message=message, same=describe(image) == before,
               layers=len(image.get_layers()))
    ''', env={"NST_SERVICE_FILE": "/tmp/nst-no-such-service.json"})
    assert run["status"] == "execution-error"
    assert run["same"] and run["layers"] == 1
    message = run["message"]
    assert "\n" not in message and message.endswith(".") and "nst" in message
    # The installed nst command lives outside the chroot, so starting it fails too.
    assert "cannot be started" in message or "not running" in message


def _plugin_pids(root: Path) -> list[int]:
    def is_plugin(pid: int) -> bool:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"nst-stylize.py" in f.read()
    return [pid for pid in editors.processes_in_root(root) if is_plugin(pid)]


def _jobs(service: dict) -> list[dict]:
    """GET /v1/jobs (the client has no method for the list)."""
    info = service["info"]
    request = urllib.request.Request(info["url"] + "/v1/jobs", headers={
        "Authorization": "Bearer " + info["token"], "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["jobs"]


def test_killed_plugin_gets_its_job_cancelled(gimp, nst_service):
    """What GIMP does when the user cancels the progress: kill the plug-in process."""
    service = nst_service["client"]
    known = {j["id"] for j in _jobs(nst_service)}
    box = {}

    def run():
        box["result"] = gimp.batch('''
            image, layer = make_image()
            status, message = stylize(image, layer, style="wave", quality="best",
                                      options='{"iterations": 100000}')
            report(status=status, message=message, layers=len(image.get_layers()))
        ''')

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        running = None
        while time.monotonic() < deadline and running is None and thread.is_alive():
            jobs = _jobs(nst_service)
            running = next((j for j in jobs if j["id"] not in known
                            and j["state"] == "running" and j.get("step")), None)
            time.sleep(0.2)
        assert running, "the plug-in's job never started running"
        pids = _plugin_pids(gimp.root)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    finally:
        thread.join(180)
    _, out, _, (run,) = box["result"]
    assert run["status"] != "success" and run["layers"] == 1
    assert f"nst-stylize: job {running['id']}" in out  # the id the plug-in printed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = service.status(running["id"])["state"]
        if state != "running":
            break
        time.sleep(0.2)
    assert state == "cancelled"


# ------------------------------------------------------------------ docs/GIMP.md's examples

GIMP_MD = REPO / "docs" / "GIMP.md"


def test_console_snippet_from_the_docs(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(image = Gimp.get_images.*?)```", text, re.S).group(1)
    snippet = snippet.replace("'{\"seed\": 1}'", "'{\"seed\": 1, \"iterations\": 3}'")  # quick
    script = ("image, layer = make_image()\nimage.set_selected_layers([layer])\n" + snippet
              + "report(status=result.index(0).value_nick, layers=describe(image))\n")
    _, _, _, (run,) = gimp.batch(script)
    assert run["status"] == "success"
    assert [l["name"] for l in run["layers"]] == ["Neural Style: starry_night 70%", "photo"]


def test_batch_one_liner_from_the_docs(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.startswith("gimp-console -idf"))
    work = f"/tmp/nst-oneliner-{uuid.uuid4().hex[:8]}"
    host = gimp.root / work.lstrip("/")
    host.mkdir()
    try:
        subprocess.run(["convert", str(REPO / "nst_plugin/examples/wave.jpg"), "-resize",
                        "64x", str(host / "photo.jpg")], check=True, timeout=60)
        argv = gimp_screenshot.chroot_argv(gimp.root, gimp.env,
                                           ["sh", "-c", f"cd {work} && {line}"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                              start_new_session=True)
        assert done.returncode == 0, done.stderr[-3000:]
        width, _ = editors.png_size(host / "photo-styled.png")
        assert width == 64  # the whole photo, stylized and flattened
    finally:
        shutil.rmtree(host, ignore_errors=True)


# ------------------------------------------------------------------ the GUI under Xvfb


def test_one_ctrl_z_removes_the_new_layer(gimp):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    outcome = gimp_screenshot.undo_in_gui(gimp.root, gimp.chroot_dir, gimp.env)
    assert outcome["after_run"]["status"] == "success", outcome
    assert outcome["after_run"]["layers"] == ["Neural Style: wave 50%", "photo"]
    assert outcome["after_undo"]["layers"] == ["photo"]
    assert outcome["after_undo"]["sha"] == outcome["after_run"]["sha"]  # source untouched


def test_dialog_opens_with_the_last_values_and_ok_runs(gimp):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    last = {"style": "wave", "strength": 0.3, "quality": "draft", "options": FAST}
    outcome = gimp_screenshot.interactive_run(gimp.root, gimp.chroot_dir, gimp.env, last)
    assert outcome["status"] == "success", outcome
    assert outcome["layers"] == ["Neural Style: wave 30%", "photo"]  # the remembered values
    # GIMP saved this run's values for the next one.
    assert '(style "wave")' in outcome["last"]
    assert re.search(r"\(strength 0\.(3|29999)", outcome["last"])


def test_cancel_in_the_status_bar_cancels_the_job(gimp, nst_service):
    """The user's cancel: GIMP kills the plug-in, the service cancels its job."""
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    known = {j["id"] for j in _jobs(nst_service)}
    seen = []

    def cancel_when_running(press_cancel):
        deadline = time.monotonic() + 120
        while not seen and time.monotonic() < deadline:
            seen.extend(j for j in _jobs(nst_service) if j["id"] not in known
                        and j["state"] == "running" and j.get("step"))
            time.sleep(0.2)
        assert seen, "the plug-in's job never started running"
        press_cancel()

    last = {"style": "wave", "quality": "draft", "options": '{"iterations": 100000}'}
    outcome = gimp_screenshot.interactive_run(gimp.root, gimp.chroot_dir, gimp.env, last,
                                              cancel_when_running)
    assert outcome["status"] != "success" and outcome["layers"] == ["photo"]
    service = nst_service["client"]
    deadline = time.monotonic() + 30
    while service.status(seen[0]["id"])["state"] == "running":
        assert time.monotonic() < deadline, "the job still runs after the plug-in ended"
        time.sleep(0.2)
    assert service.status(seen[0]["id"])["state"] == "cancelled"


def test_dialog_screenshot(gimp, tmp_path):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    shot = Path(os.environ.get("NST_EDITOR_SHOTS", tmp_path)) / "gimp-dialog.png"
    found = gimp_screenshot.dialog_screenshot(gimp.root, gimp.chroot_dir, gimp.env, shot)
    assert found["dialog"], "the Neural Style Transfer dialog did not open"
    assert shot.stat().st_size < 500_000
    assert editors.png_size(shot) == gimp_screenshot.SCREEN
