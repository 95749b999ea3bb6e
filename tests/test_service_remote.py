"""`nst serve --allow-remote` over real HTTPS: a self-signed certificate made at the first
start (0600, kept), its fingerprint printed and pinned by the host kit's client; a client
that pins another fingerprint, speaks plain HTTP or trusts only the system's CAs is refused
before it sends anything."""

from __future__ import annotations

import re
import shutil
import stat

import pytest
import test_service as service_tests

from nst_plugin.hostkit import client
from nst_plugin.hostkit.errors import ServiceError

STYLE = service_tests.STYLE


class RemoteService(service_tests.Service):
    """A real service in remote mode on loopback; its client pins the certificate."""

    def start(self) -> None:
        super().start()
        self.client = client.Client(
            self.info["url"], self.info["token"], fingerprint=self.info["fingerprint"]
        )


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    svc = RemoteService(tmp_path_factory.mktemp("remote"), "--host", "127.0.0.1", "--allow-remote")
    svc.start()
    yield svc
    svc.stop()


def test_https_with_a_pinned_self_signed_certificate(remote):
    info = remote.info
    assert info["url"].startswith("https://127.0.0.1:")
    fingerprint = info["fingerprint"]
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
    tls = remote.root / "config" / "nst-plugin" / "tls"
    for name in ("cert.pem", "key.pem"):
        assert stat.S_IMODE((tls / name).stat().st_mode) == 0o600
    assert fingerprint in remote.output() and info["token"] in remote.output()
    status = remote.nst("serve", "--status")
    assert status.returncode == 0 and fingerprint in status.stdout, status
    c = remote.client
    assert c.health()["ok"] is True
    assert c.engines()["default"] == "vgg19"
    assert "starry_night" in {s["name"] for s in c.styles()}
    # The fingerprint may be typed in any case, with or without colons.
    plain = client.Client(info["url"], info["token"], fingerprint=fingerprint.replace(":", ""))
    assert plain.health()["ok"] is True


def test_a_wrong_fingerprint_plain_http_or_no_pin_is_refused(remote):
    info = remote.info
    lines = remote.log.read_text(encoding="utf-8").count("/v1/engines")
    wrong = "AA:" * 31 + "AA"
    with pytest.raises(ServiceError) as err:
        client.Client(info["url"], info["token"], fingerprint=wrong).engines()
    message = str(err.value)
    assert "fingerprint is not the one in the plug-in's settings" in message
    assert info["token"] not in message and "\n" not in message
    with pytest.raises(ServiceError):  # no pin: the system's CAs do not know it
        client.Client(info["url"], info["token"]).engines()
    with pytest.raises(ServiceError):  # plain HTTP to the HTTPS port
        client.Client(info["url"].replace("https", "http"), info["token"], timeout=5).engines()
    with pytest.raises(ServiceError) as err:
        client.Client(info["url"], info["token"], fingerprint="not-a-fingerprint")
    assert "nst serve --status" in str(err.value)
    assert remote.log.read_text(encoding="utf-8").count("/v1/engines") == lines  # none arrived


def test_the_users_own_certificate_and_key(remote, tmp_path):
    tls = remote.root / "config" / "nst-plugin" / "tls"
    shutil.copy(tls / "cert.pem", tmp_path / "mine.crt")
    shutil.copy(tls / "key.pem", tmp_path / "mine.key")
    own = RemoteService(
        tmp_path / "own",
        "--host",
        "127.0.0.1",
        "--allow-remote",
        "--tls-cert",
        str(tmp_path / "mine.crt"),
        "--tls-key",
        str(tmp_path / "mine.key"),
    )
    own.start()
    try:
        assert own.info["fingerprint"] == remote.info["fingerprint"]
        assert own.client.health()["ok"] is True
        assert not (own.root / "config" / "nst-plugin" / "tls").exists()  # none made
    finally:
        own.stop()
    bad = service_tests.Service(
        tmp_path / "bad", "--allow-remote", "--tls-cert", str(tmp_path / "mine.key")
    )
    out = bad.nst("serve", "--allow-remote", "--tls-cert", str(tmp_path / "mine.key"))
    assert out.returncode == 2 and "--tls-cert" in out.stderr, out
