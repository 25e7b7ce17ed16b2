"""Files and objects behind one interface: local paths, ``s3://``, ``az://``/``abfs://``, ``gs://``.

Built on fsspec (s3fs, adlfs, gcsfs). Credentials come from the environment and the
providers' usual chains (AWS profiles and instance roles, Azure's DefaultAzureCredential,
Google application default credentials), never from the TOML:

- S3: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` if set,
  else botocore's chain; ``AWS_REGION``/``AWS_DEFAULT_REGION``; a source's
  ``endpoint_url`` for S3-compatible stores (MinIO, R2, moto).
- Azure Blob: ``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT_NAME`` with
  ``AZURE_STORAGE_ACCOUNT_KEY``/``AZURE_STORAGE_SAS_TOKEN``, else
  DefaultAzureCredential; ``abfs://container@account.dfs.core.windows.net/path``
  names the account in the URL.
- GCS: application default credentials; ``GOOGLE_CLOUD_PROJECT``.

Listings are never cached between calls: a cycle must see what is there now.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec

from alerter.errors import SourceError, Unavailable

REMOTE = ("s3", "az", "abfs", "abfss", "gs", "gcs")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object: its URL, size and a version stamp (etag, else mtime)."""

    url: str
    size: int
    version: str
    modified: float = 0.0
    """Last modification, epoch seconds (0 when the store does not say)."""

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.version}"


def is_remote(path: str) -> bool:
    return path.split("://", 1)[0].lower() in REMOTE if "://" in path else False


def has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


class ObjectStore:
    """Lists and reads objects of one file system (blocking; run it off the event loop)."""

    def __init__(self, url: str, env: Mapping[str, str], endpoint_url: str | None = None) -> None:
        self.protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        self._account: str | None = None
        self.fs = self._filesystem(url, env, endpoint_url)

    def _filesystem(
        self, url: str, env: Mapping[str, str], endpoint_url: str | None
    ) -> fsspec.AbstractFileSystem:
        kwargs: dict[str, Any] = {"skip_instance_cache": True}
        package = {"s3": "s3fs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}.get(
            self.protocol, "gcsfs"
        )
        if self.protocol == "file":
            return fsspec.filesystem("file")
        if self.protocol == "s3":
            kwargs["use_listings_cache"] = False
            if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
                kwargs["key"] = env["AWS_ACCESS_KEY_ID"]
                kwargs["secret"] = env["AWS_SECRET_ACCESS_KEY"]
                if env.get("AWS_SESSION_TOKEN"):
                    kwargs["token"] = env["AWS_SESSION_TOKEN"]
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            client: dict[str, Any] = {"region_name": region} if region else {}
            if endpoint_url:
                client["endpoint_url"] = endpoint_url
            kwargs["client_kwargs"] = client
        elif self.protocol in ("az", "abfs", "abfss"):
            netloc = url.split("://", 1)[1].split("/", 1)[0]
            if "@" in netloc:
                self._account = netloc.split("@", 1)[1].split(".", 1)[0]
            names = {
                "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
                "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
                "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
                "sas_token": "AZURE_STORAGE_SAS_TOKEN",
            }
            kwargs.update({k: env[v] for k, v in names.items() if env.get(v)})
            if self._account:
                kwargs["account_name"] = self._account
            if endpoint_url:
                kwargs["account_host"] = endpoint_url.split("://", 1)[-1].rstrip("/")
        else:
            if env.get("GOOGLE_CLOUD_PROJECT"):
                kwargs["project"] = env["GOOGLE_CLOUD_PROJECT"]
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
        try:
            return fsspec.filesystem("gs" if self.protocol == "gcs" else self.protocol, **kwargs)
        except ImportError:
            raise SourceError(
                f"{self.protocol}:// paths need the {package} package "
                f"(pip install 'alerter[cloud]')"
            ) from None
        except ValueError as exc:  # e.g. adlfs without an account
            raise Unavailable(f"{self.protocol}://: cannot connect: {exc}") from None

    # -- paths -------------------------------------------------------------------------

    def _strip(self, url: str) -> str:
        if self.protocol == "file":
            return url
        rest = url.split("://", 1)[1]
        if self._account and "@" in rest.split("/", 1)[0]:
            container, _, tail = rest.partition("/")
            rest = container.split("@", 1)[0] + ("/" + tail if tail else "")
        return rest

    def url(self, path: str) -> str:
        """The full URL of a path as the file system lists it."""
        if self.protocol == "file":
            return path
        return f"{self.protocol}://{path.lstrip('/')}"

    def _info(self, path: str, info: Mapping[str, Any]) -> ObjectInfo:
        version = (
            info.get("ETag")
            or info.get("etag")
            or info.get("md5Hash")
            or info.get("LastModified")
            or info.get("last_modified")
            or info.get("updated")
            or info.get("mtime")
            or info.get("generation")
            or ""
        )
        return ObjectInfo(
            self.url(path), int(info.get("size") or 0), str(version).strip('"'), _modified(info)
        )

    # -- listing and reading ---------------------------------------------------------------

    def find(self, root: str) -> list[ObjectInfo]:
        """Every object under ``root`` (recursive), sorted by URL."""
        try:
            self.fs.invalidate_cache()
            found = self.fs.find(self._strip(root).rstrip("/"), detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # botocore/azure errors are not OSErrors
            raise Unavailable(f"cannot list {root}: {_short(exc)}") from None
        return sorted(
            (self._info(p, i) for p, i in found.items() if i.get("type", "file") != "directory"),
            key=lambda o: o.url,
        )

    def glob(self, pattern: str) -> list[ObjectInfo]:
        """Objects matching a glob (``**`` crosses folders), sorted by URL."""
        if self.protocol == "file":
            import glob as globbing

            names = sorted(globbing.glob(pattern, recursive=True))
            out = []
            for name in names:
                path = Path(name)
                if path.is_file():
                    stat = path.stat()
                    out.append(ObjectInfo(name, stat.st_size, str(stat.st_mtime_ns), stat.st_mtime))
            return out
        root = self._strip(pattern)
        base = root.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0].rsplit("/", 1)[0]
        return [
            o
            for o in self.find(self.url(base))
            if fnmatch.fnmatchcase(self._strip(o.url), root)
            or fnmatch.fnmatchcase(self._strip(o.url), root.replace("**/", ""))
        ]

    def read(self, url: str) -> bytes:
        try:
            data = self.fs.cat_file(self._strip(url))
        except FileNotFoundError:
            raise SourceError(f"{url}: not found (deleted while reading?)") from None
        except Exception as exc:  # botocore/azure errors are not OSErrors
            raise Unavailable(f"cannot read {url}: {_short(exc)}") from None
        return bytes(data)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _modified(info: Mapping[str, Any]) -> float:
    for key in ("LastModified", "last_modified", "updated", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0
