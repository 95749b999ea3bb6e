"""Tests for nst_plugin.hotfolder and `nst watch`: real watchdog observers (inotify and polling)
on temporary folders.

The watcher's logic runs with the fake engine (tests/fake_engine.py); one test runs the real
VGG19 engine on tiny images; the stress test kills a watcher process with SIGKILL mid-job.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from nst_plugin import Settings
from nst_plugin.cli.stylize import EXAMPLES
from nst_plugin.cli.watch import main, nst_register_commands
from nst_plugin.fsutil import move, move_free, numbered
from nst_plugin.hotfolder import WatchConfig, Watcher
from nst_plugin.hotfolder.inbox import WORK_DIR, is_job_name
from nst_plugin.hotfolder.record import CommitRecord
from nst_plugin.hotfolder.status import Console
from nst_plugin.hotfolder.workarea import WorkArea

TESTS = Path(__file__).parent
OBSERVERS = ["inotify", "polling"]


# --------------------------------------------------------------------------- helpers


def png(path: Path, colour=(200, 40, 40), size=(20, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "PNG")
    return path


def png_bytes(colour, size=(20, 16), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def tree(root: Path) -> list[str]:
    """Every file and folder under root, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def styles(tmp_path) -> Path:
    folder = tmp_path / "styles"
    png(folder / "wave.png", (20, 60, 200), (16, 16))
    png(folder / "dots.jpg", (250, 250, 20), (16, 16))
    return folder


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def config(inbox: Path, styles: Path, observer: str = "inotify", **kw) -> WatchConfig:
    kw.setdefault("style", "wave")
    kw.setdefault("settle", 0.2)
    return WatchConfig(
        inbox=inbox,
        styles_dir=styles,
        engine="fake",
        polling=observer == "polling",
        poll_interval=0.1,
        rescan=3600,
        **kw,
    )


class Running:
    """A Watcher in a thread; `stop()` returns its exit code."""

    def __init__(self, cfg: WatchConfig) -> None:
        self.log = io.StringIO()
        self.watcher = Watcher(cfg, out=self.log, err=io.StringIO())
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.watcher.ready.is_set() or self.code is not None, what="watcher start")

    def _run(self) -> None:
        self.code = self.watcher.run()

    def stop(self) -> int | None:
        self.watcher.stop()
        self.thread.join(15)
        return self.code

    def lines(self) -> list[str]:
        return self.log.getvalue().splitlines()


@pytest.fixture
def watchers():
    started: list[Running] = []

    def start(cfg: WatchConfig) -> Running:
        started.append(Running(cfg))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def jobs_run(fake) -> list:
    """The settings of every job the fake engine ran, leaving out the watcher's warm-up."""
    return [settings for *_, settings in fake.calls if settings.size != 16]


def run_once(cfg: WatchConfig) -> tuple[int, list[str]]:
    log = io.StringIO()
    cfg.once = True
    code = Watcher(cfg, out=log, err=io.StringIO()).run()
    return code, log.getvalue().splitlines()


# --------------------------------------------------------------------------- small parts


def test_which_names_become_jobs():
    for name in ["photo.jpg", "IMG 1.PNG", "scan.tiff", "notes.txt"]:
        assert is_job_name(name), name
    for name in [
        ".photo.jpg",
        "photo.jpg.part",
        "a.tmp",
        "b.crdownload",
        "c.jpg~",
        "photo.jpg.json",
        "photo.jpg.error.txt",
        "Thumbs.db",
        "desktop.ini",
        "x.PARTIAL",
    ]:
        assert not is_job_name(name), name


def test_numbered_names():
    names = [p.name for _, p in zip(range(3), numbered(Path("out/photo-wave.png")))]
    assert names == ["photo-wave.png", "photo-wave-2.png", "photo-wave-3.png"]


def test_move_never_replaces_and_completes_a_half_done_move(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    with pytest.raises(FileExistsError):
        move(a, b)
    assert move_free(a, b) == tmp_path / "b-2"
    assert b.read_text() == "b" and not a.exists()
    os.link(b, a)  # a crash between link and unlink leaves both names
    move(a, b)
    assert not a.exists() and b.read_text() == "b"


def test_commit_record_round_trip_and_the_old_format(tmp_path):
    record = CommitRecord(
        "wave/photo.png",
        "wave",
        want=tmp_path / "out/photo-wave.png",
        output=tmp_path / "out/photo-wave-2.png",
    )
    assert record.published and not record.failed
    record.write(tmp_path)
    assert CommitRecord.read(tmp_path) == record
    assert json.loads((tmp_path / ".nst-job.json").read_text()) == {
        "file": "wave/photo.png",
        "style": "wave",
        "want": str(tmp_path / "out/photo-wave.png"),
        "output": str(tmp_path / "out/photo-wave-2.png"),
    }  # no keys for empty fields
    old = {
        "file": "bad.png",
        "style": "-",
        "error": "bad.png.json is not valid JSON.",
        "dest": str(tmp_path / "failed/bad.png"),
    }  # as the single-module watcher wrote it
    (tmp_path / ".nst-job.json").write_text(json.dumps(old))
    read = CommitRecord.read(tmp_path)
    assert read == CommitRecord(
        "bad.png", "-", error=old["error"], dest=tmp_path / "failed/bad.png"
    )
    assert read.failed and not read.published and json.loads(read.to_json()) == old
    for text in ("{", "[1]", '{"style": "wave"}'):  # unreadable: as if there were none
        (tmp_path / ".nst-job.json").write_text(text)
        assert CommitRecord.read(tmp_path) is None
    CommitRecord.remove(tmp_path)
    assert CommitRecord.read(tmp_path) is None and not list(tmp_path.iterdir())


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_only_on_a_terminal(tmp_path):
    out, err = io.StringIO(), FakeTerminal()
    console = Console(out, err, tmp_path)
    console.idle(3, 1, 0)
    console.status("photo.png: optimizing 1/2 eta 3s (2 waiting)", force=True)
    console.log("done", "photo.png", "wave", 1.25, "-> out/photo-wave.png")
    console.say("a message")
    console.close()
    assert out.getvalue().endswith(" done    photo.png  style=wave  1.2s  -> out/photo-wave.png\n")
    drawn = err.getvalue()
    assert f"watching {tmp_path.name}: 3 waiting, 1 done, 0 failed" in drawn
    assert (
        drawn.count("photo.png: optimizing 1/2 eta 3s (2 waiting)") == 3
    )  # after the log and message
    assert "\x1b[2Ka message\n" in drawn  # the line is blanked before a message
    assert drawn.endswith("\x1b[2K") and "\x1b[?25h" in drawn  # gone at the end, cursor shown

    plain = io.StringIO()
    console = Console(io.StringIO(), plain, tmp_path)
    console.status("photo.png: optimizing", force=True)
    console.say("a message")
    console.close()
    assert plain.getvalue() == "a message\n"


def test_a_watcher_on_a_terminal_logs_as_without_one(fake, inbox, styles):
    png(inbox / "photo.png")
    cfg, log, err = config(inbox, styles), io.StringIO(), FakeTerminal()
    cfg.once = True
    assert Watcher(cfg, out=log, err=err).run() == 0
    assert log.getvalue().count("\n") == 1 and " done    photo.png  style=wave" in log.getvalue()
    assert "nst watch: once:" in err.getvalue() and "watching inbox: 1 waiting" in err.getvalue()


# --------------------------------------------------------------------------- watching


@pytest.mark.parametrize("observer", OBSERVERS)
def test_backlog_then_new_files(fake, watchers, inbox, styles, tmp_path, observer):
    png(inbox / "backlog.png", (10, 200, 10))
    running = watchers(config(inbox, styles, observer))
    wait_for(lambda: (inbox / "done/backlog.png").exists(), what="the backlog")

    png(inbox / "dropped.png")  # a new file
    png(tmp_path / "elsewhere.png", (1, 2, 3))
    os.rename(tmp_path / "elsewhere.png", inbox / "moved.png")  # moved in: counts as new
    png(inbox / "download.png.part")  # temporary names wait for their rename
    png(inbox / ".hidden.png")
    png(inbox / "later.png~")
    wait_for(
        lambda: (inbox / "done/moved.png").exists() and (inbox / "done/dropped.png").exists(),
        what="new files",
    )
    time.sleep(0.4)
    assert (inbox / "download.png.part").exists() and (inbox / "later.png~").exists()
    os.rename(inbox / "download.png.part", inbox / "download.png")
    wait_for(lambda: (inbox / "done/download.png").exists(), what="the renamed download")

    assert running.stop() == 0
    assert files(inbox / "out") == [
        "backlog-wave.png",
        "download-wave.png",
        "dropped-wave.png",
        "moved-wave.png",
    ]
    assert sorted(os.listdir(inbox)) == [".hidden.png", "done", "later.png~", "out"]
    with Image.open(inbox / "out/moved-wave.png") as result:
        assert result.getpixel((0, 0)) == (1, 2, 3)  # the fake engine returns the content
    lines = running.lines()
    assert len(lines) == 4 and all(" done " in line and "style=wave" in line for line in lines)
    assert any(line.endswith("-> out/moved-wave.png") for line in lines)


@pytest.mark.parametrize("observer", OBSERVERS)
def test_a_slowly_written_file_is_taken_only_when_complete(fake, watchers, inbox, styles, observer):
    watchers(config(inbox, styles, observer, settle=0.5))
    data = png_bytes((90, 90, 90), (64, 64))
    with open(inbox / "slow.png", "wb") as fh:
        for i in range(0, len(data), len(data) // 4 + 1):
            fh.write(data[i : i + len(data) // 4 + 1])
            fh.flush()
            time.sleep(0.25)
    wait_for(lambda: (inbox / "done/slow.png").exists(), what="the slow file")
    assert (inbox / "done/slow.png").read_bytes() == data
    assert not (inbox / "failed").exists()


def test_a_sidecar_being_written_is_waited_for(fake, watchers, inbox, styles):
    watchers(config(inbox, styles, settle=0.4))
    png(inbox / "photo.png")
    time.sleep(0.3)
    (inbox / "photo.png.json").write_text('{"size": 48}')
    wait_for(lambda: (inbox / "done/photo.png.json").exists(), what="photo with sidecar")
    assert jobs_run(fake)[-1].size == 48


def test_results_and_originals_never_overwrite(fake, inbox, styles):
    png(inbox / "out/photo-wave.png", (1, 1, 1))
    png(inbox / "done/photo.png", (2, 2, 2))
    png(inbox / "photo.png", (3, 3, 3))
    code, lines = run_once(config(inbox, styles))
    assert code == 0
    assert files(inbox) == [
        "done/photo-2.png",
        "done/photo.png",
        "out/photo-wave-2.png",
        "out/photo-wave.png",
    ]
    with (
        Image.open(inbox / "out/photo-wave.png") as old,
        Image.open(inbox / "done/photo.png") as done,
    ):
        assert old.getpixel((0, 0)) == (1, 1, 1) and done.getpixel((0, 0)) == (2, 2, 2)
    assert lines[0].endswith("-> out/photo-wave-2.png")


def test_failures_go_to_failed_with_one_sentence_each(fake, inbox, styles):
    (inbox / "empty.jpg").write_bytes(b"")
    (inbox / "notes.txt").write_text("not an image")
    (inbox / "cut.png").write_bytes(png_bytes((5, 5, 5), (64, 64))[:80])
    sidecars = {
        "badjson.png": "{size: 32",
        "unknown.png": '{"sharpness": 0.5}',
        "badvalue.png": '{"iterations": 0}',
        "nostyle.png": '{"style": "nonesuch"}',
        "notobject.png": "[1, 2]",
    }
    for name, text in sidecars.items():
        png(inbox / name)
        (inbox / f"{name}.json").write_text(text)
    code, lines = run_once(config(inbox, styles))
    assert code == 1
    names = ["cut.png", "empty.jpg", "notes.txt", *sidecars]
    expected = sorted(
        [f"failed/{n}" for n in names]
        + [f"failed/{n}.error.txt" for n in names]
        + [f"failed/{n}.json" for n in sidecars]
    )
    assert files(inbox) == expected
    errors = {n: (inbox / "failed" / f"{n}.error.txt").read_text() for n in names}
    for text in errors.values():
        assert text.count("\n") == 1 and text.rstrip().endswith("."), text
        assert WORK_DIR not in text, text
    assert "empty.jpg is not an image Pillow can read (the file is empty)" in errors["empty.jpg"]
    assert errors["notes.txt"].startswith("notes.txt is not an image")
    assert errors["cut.png"].startswith("cut.png is not an image")
    assert errors["badjson.png"].startswith("badjson.png.json is not valid JSON")
    assert errors["unknown.png"].startswith("unknown.png.json: unknown option 'sharpness'")
    assert errors["badvalue.png"].startswith(
        "unknown.png.json".replace("unknown", "badvalue") + ": iterations"
    )
    assert "'nonesuch' is neither a file nor a style in" in errors["nostyle.png"]
    assert "must hold a JSON object" in errors["notobject.png"]
    assert len(lines) == len(names) and all(" failed " in line for line in lines)


def test_styles_from_sidecars_and_subfolders(fake, inbox, styles):
    png(inbox / "plain.png")
    png(inbox / "sized.png")
    (inbox / "sized.png.json").write_text(
        '{"size": 32, "style": "dots", "content-weight": 2, "strength": 0.8}'
    )
    png(inbox / "dots" / "in-folder.png")
    png(inbox / "pathstyle.png")
    (inbox / "pathstyle.png.json").write_text(json.dumps({"style": str(styles / "wave.png")}))
    png(inbox / "unknown-folder" / "ignored.png")
    code, _ = run_once(config(inbox, styles))
    assert code == 0
    assert files(inbox / "out") == [
        "in-folder-dots.png",
        "pathstyle-wave.png",
        "plain-wave.png",
        "sized-dots.png",
    ]
    assert files(inbox / "done") == [
        "dots/in-folder.png",
        "pathstyle.png",
        "pathstyle.png.json",
        "plain.png",
        "sized.png",
        "sized.png.json",
    ]
    sized = [s for s in jobs_run(fake) if s.size == 32]
    assert len(sized) == 1 and (sized[0].content_weight, sized[0].strength) == (2, 0.8)
    assert (inbox / "unknown-folder" / "ignored.png").exists()


def test_setup_errors_exit_2(fake, inbox, styles, tmp_path):
    assert run_once(config(inbox, styles, style="nonesuch"))[0] == 2
    assert run_once(config(inbox, styles, out=inbox))[0] == 2
    assert run_once(config(tmp_path / "missing", styles))[0] == 2
    assert run_once(config(inbox, styles, name="{stem}.gif"))[0] == 2
    png(inbox / "photo.png")
    cfg = config(inbox, styles)
    cfg.engine = "nonesuch"  # the engine loads before any file is taken
    assert run_once(cfg)[0] == 2
    assert files(inbox) == ["photo.png"]


def test_two_watchers_never_take_the_same_file(fake_engine, inbox, styles):
    fake = fake_engine(delay=0.002)
    first, second = Running(config(inbox, styles)), Running(config(inbox, styles, "polling"))
    try:
        for i in range(40):
            png(inbox / f"p{i:02d}.png", (i, i, i))
        wait_for(lambda: len(files(inbox / "done")) == 40, what="40 files")
    finally:
        codes = first.stop(), second.stop()
    assert codes == (0, 0)
    assert first.watcher.done + second.watcher.done == 40
    assert len(jobs_run(fake)) == 40
    assert len(files(inbox / "out")) == 40
    assert sorted(os.listdir(inbox)) == ["done", "out"]


def test_stop_puts_the_running_job_back(fake_engine, watchers, inbox, styles):
    fake_engine(slow_width=77)
    running = watchers(config(inbox, styles))
    png(inbox / "big.png", size=(77, 10))
    (inbox / "big.png.json").write_text('{"size": 64}')
    wait_for(lambda: list((inbox / WORK_DIR).glob("*/big.png")), what="the claim")
    time.sleep(0.1)
    assert running.stop() == 0
    assert files(inbox) == ["big.png", "big.png.json"]  # back, work area gone
    assert "stopped big.png" in running.lines()[-1] and "put back" in running.lines()[-1]


def test_stop_with_a_checkpoint_keeps_the_job_for_the_next_start(fake_engine, inbox, styles):
    slow = fake_engine(slow_width=77)
    cfg = config(inbox, styles)
    cfg.settings = Settings(checkpoint_every=1)
    running = Running(cfg)
    png(inbox / "big.png", size=(77, 10))
    wait_for(
        lambda: list((inbox / WORK_DIR).glob("*/.nst-result.png.nst-checkpoint.npz")),
        what="a checkpoint",
    )
    assert running.stop() == 0
    assert "checkpointed" in running.lines()[-1]
    left = files(inbox / WORK_DIR)  # the watcher has gone: its lock file with it
    assert [Path(f).name for f in left] == [".nst-result.png.nst-checkpoint.npz", "big.png"]

    code, _ = run_once(config(inbox, styles))
    assert code == 0 and len(slow.resumed) == 1
    assert files(inbox) == ["done/big.png", "out/big-wave.png"]


# --------------------------------------------------------------------------- crash recovery


def dead_folder(inbox: Path, name="otherhost.999.abc", *, lock: str | None = None) -> Path:
    """A work folder as a crashed watcher leaves it (its lock file gone or free)."""
    folder = inbox / WORK_DIR / name
    folder.mkdir(parents=True)
    if lock is not None:
        (inbox / WORK_DIR / f"{name}.lock").write_text(lock)
    return folder


def test_a_dead_watchers_claim_is_processed_once(fake, inbox, styles):
    folder = dead_folder(inbox, lock="thishost 1\n")
    png(folder / "photo.png", (7, 7, 7))
    (inbox / "photo.png.json").write_text('{"size": 40}')  # crashed between the two renames
    png(folder / "dots" / "sub.png")
    old = time.time() - 3600
    os.utime(inbox / WORK_DIR / "otherhost.999.abc.lock", (old, old))  # another host, long silent
    code, lines = run_once(config(inbox, styles))
    assert code == 0
    assert files(inbox) == [
        "done/dots/sub.png",
        "done/photo.png",
        "done/photo.png.json",
        "out/photo-wave.png",
        "out/sub-dots.png",
    ]
    assert sorted(s.size for s in jobs_run(fake)) == [40, 512]
    assert len(lines) == 2


def test_a_crash_after_publishing_makes_no_second_output(fake, inbox, styles):
    folder = dead_folder(inbox)
    png(folder / "photo.png")
    staged = png(folder / ".nst-result.png", (9, 9, 9))
    (inbox / "out").mkdir()
    os.link(staged, inbox / "out/photo-wave.png")  # the crash came between link and unlink
    record = {
        "file": "photo.png",
        "style": "wave",
        "want": str(inbox / "out/photo-wave.png"),
        "output": str(inbox / "out/photo-wave.png"),
    }
    (folder / ".nst-job.json").write_text(json.dumps(record))
    code, lines = run_once(config(inbox, styles))
    assert code == 0 and not jobs_run(fake)  # nothing computed again
    assert files(inbox) == ["done/photo.png", "out/photo-wave.png"]
    assert lines[0].endswith("-> out/photo-wave.png")


def test_a_crash_before_publishing_publishes_the_staged_result(fake, inbox, styles):
    folder = dead_folder(inbox)
    png(folder / "photo.png")
    png(folder / ".nst-result.png", (9, 9, 9))
    png(folder / ".x.png.1234.tmp")  # a half-written temporary file of ours
    code, _ = run_once(config(inbox, styles))
    assert code == 0 and not jobs_run(fake)
    assert files(inbox) == ["done/photo.png", "out/photo-wave.png"]


def test_a_crash_while_moving_a_failed_file_finishes_the_move(fake, inbox, styles):
    folder = dead_folder(inbox)
    (inbox / "failed").mkdir()
    (inbox / "failed/bad.png").write_text("x")  # moved already; its sidecar was not
    (folder / "bad.png.json").write_text("{")
    record = {
        "file": "bad.png",
        "style": "-",
        "error": "bad.png.json is not valid JSON.",
        "dest": str(inbox / "failed/bad.png"),
    }
    (folder / ".nst-job.json").write_text(json.dumps(record))
    code, _ = run_once(config(inbox, styles))
    assert code == 1
    assert files(inbox) == ["failed/bad.png", "failed/bad.png.json"]


def test_a_live_watchers_claim_is_left_alone(fake, inbox, styles):
    folder = dead_folder(inbox, "thishost.1.live")
    png(folder / "busy.png")
    lock = inbox / WORK_DIR / "thishost.1.live.lock"
    lock.write_text("anyhost 1\n")
    with open(lock) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert run_once(config(inbox, styles))[0] == 0
    (inbox / WORK_DIR / "other.2.x").mkdir()
    (inbox / WORK_DIR / "other.2.x.lock").write_text("otherhost 2\n")  # fresh heartbeat
    assert run_once(config(inbox, styles))[0] == 0
    assert (folder / "busy.png").exists() and (inbox / WORK_DIR / "other.2.x").is_dir()
    assert not jobs_run(fake)


def test_without_file_locks_the_pid_and_heartbeat_decide(fake, inbox, styles, monkeypatch):
    def no_locks(fd, op):
        raise OSError(37, "No locks available")  # ENOLCK, as on some network shares

    monkeypatch.setattr(fcntl, "flock", no_locks)
    host = WorkArea(inbox).host
    alive, dead = (
        dead_folder(inbox, "a.1.x", lock=f"{host} {os.getpid()}\n"),
        dead_folder(inbox, "b.2.x"),
    )
    (inbox / WORK_DIR / "b.2.x.lock").write_text(f"{host} 999999999\n")
    png(alive / "mine.png")
    png(dead / "orphan.png")
    assert run_once(config(inbox, styles))[0] == 0
    assert files(inbox / "done") == ["orphan.png"]
    assert (alive / "mine.png").exists()


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="nst")
    nst_register_commands(top.add_subparsers(dest="command"))
    return top


def test_cli_handler(fake, inbox, styles, capsys):
    png(inbox / "photo.png")
    args = parser().parse_args(
        [
            "watch",
            str(inbox),
            "--style",
            str(styles / "wave.png"),
            "--engine",
            "fake",
            "--once",
            "--settle",
            "0.1",
            "--size",
            "64",
            "--out",
            str(inbox / "results"),
        ]
    )
    assert args.run(args) == 0
    assert files(inbox) == ["done/photo.png", "results/photo-wave.png"]
    assert jobs_run(fake)[-1].size == 64
    assert "done    photo.png  style=wave" in capsys.readouterr().out
    assert main([str(inbox), "--style", "wave", "--size", "1"]) == 2
    assert main([str(inbox)]) == 2
    assert "--style" in capsys.readouterr().err


def test_real_engine_on_the_example_images(inbox, monkeypatch, capsys):
    """`nst watch` with --weights random --size 64 --iterations 5: one output per image."""
    from nst_plugin.vgg19 import network, transfer

    builds = []
    real_build = network.build
    monkeypatch.setattr(transfer, "_networks", {})
    monkeypatch.setattr(network, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    for image in ("wave.jpg", "starry_night.jpg"):
        (inbox / image).write_bytes((EXAMPLES / image).read_bytes())
    code = main(
        [
            str(inbox),
            "--style",
            str(EXAMPLES / "starry_night.jpg"),
            "--once",
            "--settle",
            "0.1",
            "--weights",
            "random",
            "--size",
            "64",
            "--iterations",
            "5",
        ]
    )
    assert code == 0, capsys.readouterr()
    assert files(inbox) == [
        "done/starry_night.jpg",
        "done/wave.jpg",
        "out/starry_night-starry_night.png",
        "out/wave-starry_night.png",
    ]
    with Image.open(inbox / "out/wave-starry_night.png") as result:
        assert max(result.size) == 64
    assert len(builds) == 1  # the engine is built once per watcher, not per file


# --------------------------------------------------------------------------- stress


WATCH_SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
from fake_engine import FakeEngine
from nst_plugin.plugins import get_plugin_manager
slow_width = 77 if os.environ.get("SLOW") else None
get_plugin_manager().register(FakeEngine(delay=0.003, slow_width=slow_width))
from nst_plugin.cli.watch import main
sys.exit(main(sys.argv[1:]))
"""


def start_watch(script: Path, args: list[str], slow: bool = False) -> subprocess.Popen:
    env = {**os.environ, "SLOW": "1" if slow else ""}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_started(proc: subprocess.Popen) -> None:
    line = proc.stderr.readline()
    assert line.startswith("nst watch:"), line + proc.stderr.read()


class Dropper:
    """Drops 200 files the ways people and programs do; knows where each one must end."""

    def __init__(self, inbox: Path, seed: int = 7) -> None:
        self.inbox = inbox
        self.rng = random.Random(seed)
        self.expect: dict[str, tuple[str, bool]] = {}  # rel -> ("done" | "failed", has sidecar)
        self.threads: list[threading.Thread] = []

    def plan(self) -> list:
        work = [lambda: self.normal("img000.png", (77, 12))]  # the slow job the kill lands in
        for i in range(1, 200):
            name = f"img{i:03d}.png" if i % 3 else f"img{i:03d}.jpg"
            kind = i % 10
            if kind in (0, 1, 2, 3):
                work.append(lambda n=name, i=i: self.normal(n, colour=(i, 3 * i % 256, 40)))
            elif kind == 4:
                work.append(lambda n=name, i=i: self.in_chunks(n, colour=(i, 9, 9)))
            elif kind == 5:
                work.append(lambda n=name, i=i: self.renamed(n, i))
            elif kind == 6:
                work.append(lambda n=name, i=i: self.bad(n, i))
            elif kind == 7:
                work.append(lambda n=name, i=i: self.with_sidecar(n, i))
            elif kind == 8:
                work.append(lambda n=f"wave/{name}", i=i: self.normal(n, colour=(i, 1, 1)))
            else:
                work.append(lambda n=name, i=i: self.in_chunks(n, colour=(i, 2, 2), chunks=2))
        return work

    def image(self, name, colour, size=(20, 14)) -> bytes:
        return png_bytes(colour, size, "JPEG" if name.endswith(".jpg") else "PNG")

    def normal(self, rel, size=(20, 14), colour=(1, 2, 3)):
        (self.inbox / rel).write_bytes(self.image(rel, colour, size))
        self.expect[rel] = ("done", False)

    def in_chunks(self, rel, colour, chunks=4):
        self.expect[rel] = ("done", False)

        def write():
            data = self.image(rel, colour)
            step = len(data) // chunks + 1
            with open(self.inbox / rel, "wb") as fh:
                for i in range(0, len(data), step):
                    fh.write(data[i : i + step])
                    fh.flush()
                    time.sleep(0.15)

        self.threads.append(threading.Thread(target=write))
        self.threads[-1].start()

    def renamed(self, rel, i):
        temp = [f"{rel}.part", f"{rel}.tmp", f"{rel}.crdownload", f"{rel}~", f".{rel}"][i // 10 % 5]
        (self.inbox / temp).write_bytes(self.image(rel, (i, 5, 5)))
        self.expect[rel] = ("done", False)

        def finish():
            time.sleep(self.rng.uniform(0.3, 1.0))
            os.rename(self.inbox / temp, self.inbox / rel)

        self.threads.append(threading.Thread(target=finish))
        self.threads[-1].start()

    def bad(self, rel, i):
        data = [b"", b"this is not an image", png_bytes((1, 1, 1), (64, 64))[:100]][i // 10 % 3]
        (self.inbox / rel).write_bytes(data)
        self.expect[rel] = ("failed", False)

    def with_sidecar(self, rel, i):
        good, text = [
            (True, '{"size": 32, "strength": 0.7}'),
            (False, "{broken"),
            (False, '{"sharpness": 1}'),
            (True, '{"style": "dots"}'),
            (False, '{"style": "nonesuch"}'),
        ][i // 10 % 5]
        (self.inbox / f"{rel}.json").write_text(text)
        (self.inbox / rel).write_bytes(self.image(rel, (i, 7, 7)))
        self.expect[rel] = ("done" if good else "failed", True)

    def join(self):
        for thread in self.threads:
            thread.join()


def settled(inbox: Path, expect: dict) -> bool:
    return all((inbox / where / rel).exists() for rel, (where, _) in expect.items())


def check_final_state(inbox: Path, expect: dict) -> None:
    """Every dropped file in done/ or failed/ exactly once, one output each, nothing else."""
    wanted = {"out", "done", "failed", "wave", "wave/.keep"}
    for rel, (where, sidecar) in expect.items():
        wanted.add(f"{where}/{rel}")
        wanted.add(f"{where}/wave")
        if sidecar:
            wanted.add(f"{where}/{rel}.json")
        if where == "failed":
            wanted.add(f"failed/{rel}.error.txt")
            text = (inbox / "failed" / f"{rel}.error.txt").read_text()
            assert text.count("\n") == 1 and text.strip().endswith("."), text
    done = [rel for rel, (where, _) in expect.items() if where == "done"]
    outputs = files(inbox / "out")
    for rel in done:
        stem = Path(rel).stem
        mine = [o for o in outputs if o.startswith(stem + "-")]
        assert len(mine) == 1, (rel, mine)
        wanted.add(f"out/{mine[0]}")
        with (
            Image.open(inbox / "done" / rel) as original,
            Image.open(inbox / "out" / mine[0]) as result,
        ):
            assert result.convert("RGB").tobytes() == original.convert("RGB").tobytes(), rel
    assert len(outputs) == len(done)
    assert set(tree(inbox)) <= wanted and set(tree(inbox)) >= wanted - {"wave/.keep", "failed/wave"}


@pytest.mark.parametrize("observer", OBSERVERS)
def test_stress_200_files_and_a_sigkill(inbox, styles, tmp_path, observer):
    script = tmp_path / "watch.py"
    script.write_text(WATCH_SCRIPT.format(tests=str(TESTS)))
    (inbox / "wave").mkdir()
    (inbox / "wave" / ".keep").write_text("")  # hidden: never a job
    args = [
        str(inbox),
        "--style",
        "wave",
        "--styles-dir",
        str(styles),
        "--engine",
        "fake",
        "--settle",
        "0.5",
    ]
    if observer == "polling":
        args += ["--polling", "--poll-interval", "0.2"]

    first = start_watch(script, args, slow=True)
    wait_started(first)
    dropper = Dropper(inbox)
    work = dropper.plan()
    work[0]()  # the slow file first: the watcher will be in the middle of it
    wait_for(lambda: list((inbox / WORK_DIR).glob("*/img000.png")), what="the slow job")
    feeder = threading.Thread(target=lambda: [(w(), time.sleep(0.01)) for w in work[1:]])
    feeder.start()
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)  # in the middle of a job, while files keep arriving
    first.wait(10)
    assert list((inbox / WORK_DIR).glob("*/img000.png")), "the kill should leave the claim behind"

    second = start_watch(script, args)
    third = start_watch(script, args)  # two watchers on one folder after the restart
    feeder.join()
    dropper.join()
    try:
        wait_for(lambda: settled(inbox, dropper.expect), timeout=90, what="all 200 files")
    finally:
        for proc in (second, third):
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc in (second, third)]
    logs = [proc.stdout.read() + proc.stderr.read() for proc in (second, third)]
    assert codes == [0, 0], logs
    assert len(dropper.expect) == 200
    check_final_state(inbox, dropper.expect)
    lines = "".join(logs).count(" done ") + "".join(logs).count(" failed ")
    assert lines >= 150  # the first watcher logged the rest


def test_sigint_puts_the_running_job_back(inbox, styles, tmp_path):
    script = tmp_path / "watch.py"
    script.write_text(WATCH_SCRIPT.format(tests=str(TESTS)))
    proc = start_watch(
        script,
        [
            str(inbox),
            "--style",
            "wave",
            "--styles-dir",
            str(styles),
            "--engine",
            "fake",
            "--settle",
            "0.2",
        ],
        slow=True,
    )
    wait_started(proc)
    png(inbox / "big.png", size=(77, 10))
    wait_for(lambda: list((inbox / WORK_DIR).glob("*/big.png")), what="the claim")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert files(inbox) == ["big.png"]
    assert "put back into the inbox" in proc.stdout.read()
