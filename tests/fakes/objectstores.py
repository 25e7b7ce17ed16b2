"""Object stores on loopback: moto's S3 server (in a thread) and Azurite (a node process).

Both are real servers speaking the wire protocol; alerter reaches them through s3fs and
adlfs exactly as it reaches AWS and Azure, only with another endpoint.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_REGION": "us-east-1",
}

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self):  # boto3 client for test setup
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_REGION"],
        )


@contextlib.contextmanager
def moto_s3() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, a free port, in a thread of this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends live in the process: start every server empty
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    try:
        yield S3Server(endpoint)
    finally:
        server.stop()


@dataclass(frozen=True)
class AzuriteServer:
    endpoint: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};"
        )

    def service(self):  # azure-storage-blob client for test setup
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)


def azurite_command() -> str | None:
    """The azurite-blob executable (global npm install, or tests/node/ as scripts/test-deps
    installs it), if any."""
    found = shutil.which("azurite-blob")
    if found:
        return found
    local = Path(__file__).resolve().parents[1] / "node" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def azurite(workdir: Path) -> Iterator[AzuriteServer]:
    """Azurite's blob service on 127.0.0.1 and a free port, data in ``workdir``."""
    command = azurite_command()
    assert command is not None
    port = _free_port()
    proc = subprocess.Popen(
        [
            command,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # waits on the server's own output, not on a timer
            lines.append(line)
            if "successfully listen" in line:  # "listens" in 3.3x
                break
        else:
            raise RuntimeError("azurite did not start:\n" + "".join(lines))
        # keep draining its output so a full pipe never blocks the server
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        yield AzuriteServer(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain is not None:
            drain.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


__all__ = ["S3_ENV", "AzuriteServer", "S3Server", "azurite", "azurite_command", "moto_s3"]
