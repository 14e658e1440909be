"""An S3-compatible repository on this machine: moto's server (PyPI moto[server]) behind stunnel4 with a
certificate for localhost. pgBackRest speaks only TLS to S3, and `moto_server --ssl` closes connections
without a TLS shutdown, which pgBackRest refuses ("unexpected eof while reading"): so plain moto, and
stunnel in front of it. Nothing here reaches the network."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

from kbjuctl.drill import processes
from kbjuctl.errors import OperationFailed


def prepare(cluster) -> None:
    """A self-signed certificate for localhost and stunnel's configuration, in DIR/s3/."""
    folder = cluster.folder / "s3"
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                           "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                           "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OperationFailed(f"openssl could not make the certificate for the S3 stand-in: {done.stderr[-500:]}")
    (folder / "key.pem").chmod(0o600)
    s3 = cluster.s3
    (folder / "stunnel.conf").write_text(
        f"foreground = yes\npid =\n[s3]\naccept = 127.0.0.1:{s3['tls_port']}\nconnect = 127.0.0.1:{s3['port']}\n"
        f"cert = {folder / 'cert.pem'}\nkey = {folder / 'key.pem'}\n")


def start(cluster) -> None:
    from kbjuctl.drill.tools import tool

    folder = cluster.folder / "s3"
    s3 = cluster.s3
    s3["moto_pid"] = processes.spawn([tool("moto_server"), "-H", "127.0.0.1", "-p", str(s3["port"])],
                                     folder / "moto.log", as_server=False)
    s3["stunnel_pid"] = processes.spawn([tool("stunnel4"), str(folder / "stunnel.conf")], folder / "stunnel.log",
                                        as_server=False)
    cluster.save()
    for port, pid, what in ((s3["port"], s3["moto_pid"], "moto_server"), (s3["tls_port"], s3["stunnel_pid"],
                                                                          "stunnel4")):
        try:
            processes.wait_port(port, 30, pid, what)
        except (OSError, TimeoutError) as exc:
            raise OperationFailed(f"{exc}:\n{processes.log_tail(folder / (what.split('_')[0] + '.log'))}") from None
    _create_bucket(s3["port"], s3["bucket"])


def _create_bucket(port: int, bucket: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT")
            with urllib.request.urlopen(request, timeout=5):  # nosec B310  # our own moto on 127.0.0.1
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 409:  # exists: a cluster started again
                return
            if time.monotonic() > deadline:
                raise OperationFailed(f"moto did not create the bucket: HTTP {exc.code}") from None
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def stop(cluster) -> list[str]:
    stopped = []
    for key, name in (("stunnel_pid", "stunnel"), ("moto_pid", "moto")):
        if processes.alive(cluster.s3.get(key)):
            processes.stop_group(cluster.s3[key])
            stopped.append(name)
    return stopped
