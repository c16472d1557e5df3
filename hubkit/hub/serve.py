"""Running the local hub: in-process on a thread (:class:`LocalHub`) or as a child process
(:class:`LocalHubProcess`, for tests that kill it and for measuring its memory)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubkit.errors import LocalHubError
from hubkit.hub.faults import FaultSpec, InjectedDrop
from hubkit.hub.validation import HubHTTPError

if TYPE_CHECKING:
    from hubkit.hub.users import Directory

READY_LINE = re.compile(r"serving at (http://\S+)")


def default_data_dir() -> Path:
    """Where ``hubkit hub serve`` and ``hubkit publish`` keep the local hub's data.

    :func:`hubkit.paths.hub_data_dir`: ``$HUBKIT_HOME/hub`` if set, else ``~/.cache/hubkit/hub``.

    Example:
        >>> default_data_dir().name
        'hub'
    """
    from hubkit.paths import hub_data_dir

    return hub_data_dir()


class _DropFilter(logging.Filter):
    """Injected connection drops are on purpose: keep them out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDrop)


def _as_spec(faults: str | FaultSpec | None) -> FaultSpec | None:
    return FaultSpec.parse(faults) if isinstance(faults, str) else faults


class LocalHub:
    """The local hub served by uvicorn on a background thread.

    Args:
        data_dir: where repos and objects live (created if missing; state survives restarts).
        host: interface to bind; loopback unless told otherwise.
        port: 0 picks a free port.
        token: when set, writes need ``Authorization: Bearer <token>``.
        faults: a :class:`FaultSpec` or its string form (see :mod:`hubkit.hub.faults`).
        xet: serve the Xet CAS and steer LFS-sized files to it (``False``: the pre-Xet behaviour).

    Example:
        >>> with LocalHub(tmp_path, token="t") as hub:
        ...     HfApi(endpoint=hub.endpoint, token=hub.token).whoami()["name"]
        'localuser'
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: str | FaultSpec | None = None,
        xet: bool = True,
        users: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.token = token
        self.users = users  # users file (hubkit/hub/users.py); None: data_dir/users.yaml if present
        self.xet = xet
        self._faults = _as_spec(faults)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None

    @property
    def endpoint(self) -> str:
        """``http://HOST:PORT`` (no trailing slash) once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LocalHub:
        """Bind, start serving and return once the server accepts connections."""
        import uvicorn

        from hubkit.hub.app import HubApp, HubConfig
        from hubkit.hub.storage import Store

        try:
            store = Store(self.data_dir)
        except OSError as exc:
            raise LocalHubError(
                f"Cannot use {self.data_dir} as the local hub's data dir: {exc.strerror}.",
                hint="Pass --data with a writable directory.",
            ) from None
        directory = load_users(self.users, self.data_dir)
        self._app = HubApp(store, HubConfig(token=self.token, xet=self.xet, users=directory), self._faults)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it every
        # keep-alive response waited ~40 ms (Nagle holding the body until the client's delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise LocalHubError(
                f"Cannot listen on {self.host}:{self.port}: {exc.strerror}.",
                hint="Pick another --port (0 chooses a free one).",
            ) from None
        self.port = sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_DropFilter())
        config = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"hubkit-hub-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LocalHubError(f"The local hub did not start on {self.endpoint}.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (requests in flight finish first) and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None

    def set_faults(self, faults: str | FaultSpec | None) -> None:
        """Change fault injection while running (``None`` switches it off; the seed restarts)."""
        self._faults = _as_spec(faults)
        if self._app is not None:
            self._app.state.faults.set(self._faults)

    def observe(self, callback: Callable[[str, str], None] | None) -> None:
        """Call ``callback(method, raw_path)`` as each request arrives, before faults and handlers.

        For tests that must act at an exact point of a client's conversation (log the requests, SIGKILL
        the client when its k-th request arrives). It runs on the server's event loop: keep it quick.
        ``None`` stops observing.

        Example:
            >>> seen = []; hub.observe(lambda method, path: seen.append((method, path)))
        """
        if self._app is None:
            raise LocalHubError("observe() needs a started hub.")
        self._app.state.observer = callback

    @property
    def xet_stats(self) -> Any:
        """Byte counters of the Xet CAS since start (:class:`hubkit.hub.xet.cas.XetStats`)."""
        if self._app is None:
            raise LocalHubError("xet_stats needs a started hub.")
        return self._app.state.store.xet.stats

    @property
    def injected_faults(self) -> list[tuple[str, str, str]]:
        """Faults injected so far as ``(kind, method, raw path)``."""
        return list(self._app.state.faults.injected) if self._app is not None else []

    def tamper(
        self, repo_id: str, revision: str, path: str, new_bytes: bytes, *, repo_type: str = "model"
    ) -> Path:
        """Change the stored bytes of a file on purpose (see :meth:`hubkit.hub.storage.Store.tamper`)."""
        return tamper(self.data_dir, repo_id, revision, path, new_bytes, repo_type=repo_type)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tamper(
    data_dir: Path, repo_id: str, revision: str, path: str, new_bytes: bytes, *, repo_type: str = "model"
) -> Path:
    """Overwrite the stored content of ``path`` at ``revision`` in a data dir, keeping all metadata.

    Works for a hub running in another process too. Returns the object file changed.

    Example:
        >>> tamper(hub.data_dir, "localuser/demo", "main", "model.safetensors", b"evil")
    """
    from hubkit.hub.storage import RepoRef, Store

    namespace, _, name = repo_id.partition("/")
    try:
        return Store(Path(data_dir)).tamper(RepoRef(repo_type, namespace, name), revision, path, new_bytes)
    except HubHTTPError as err:
        raise LocalHubError(f"Cannot tamper with {repo_id}@{revision}:{path}: {err.message}") from None


class LocalHubProcess:
    """The local hub in a child process (``python -m hubkit.hub``), ready when entered.

    Args are those of :class:`LocalHub`. The token travels through the environment, never argv.

    Example:
        >>> with LocalHubProcess(tmp_path, token="t") as hub:
        ...     hub.kill()  # SIGKILL, to test crash safety; hub.pid for psutil
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: str | FaultSpec | None = None,
        env: dict[str, str] | None = None,
        xet: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host, self.port, self.token = host, port, token
        self.xet = xet
        self.faults = faults if isinstance(faults, str | None) else _spec_text(faults)
        self.env = env
        self.endpoint = ""
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []  # the server's stdout/stderr lines so far

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = 30) -> LocalHubProcess:
        cmd = [
            sys.executable,
            "-m",
            "hubkit.hub",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
        ]
        if self.faults:
            cmd += ["--faults", self.faults]
        if not self.xet:
            cmd.append("--no-xet")
        env = dict(os.environ if self.env is None else self.env)
        env.pop("HUBKIT_HUB_TOKEN", None)
        if self.token:
            env["HUBKIT_HUB_TOKEN"] = self.token
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        lines = self.output
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = READY_LINE.search(line)
            if match:
                self.endpoint = match.group(1).rstrip("/")
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.kill()
        raise LocalHubError("The local hub process did not start:\n" + "".join(lines[-20:]))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def kill(self) -> None:
        """SIGKILL the server (no cleanup runs: the point of crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Ask the server to shut down (SIGTERM), then kill it if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LocalHubProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _spec_text(spec: FaultSpec | None) -> str | None:
    if spec is None:
        return None
    parts = [
        f"rate={spec.rate}",
        f"seed={spec.seed}",
        f"kinds={'+'.join(spec.kinds)}",
        f"paths={'+'.join(spec.paths)}",
    ]
    if spec.methods:
        parts.append(f"methods={'+'.join(spec.methods)}")
    parts += [f"delay={spec.delay}", f"retry_after={spec.retry_after}"]
    if spec.max_faults is not None:
        parts.append(f"max={spec.max_faults}")
    return ",".join(parts)


def load_users(users: Path | None, data_dir: Path) -> Directory | None:
    """The users file given, else ``users.yaml`` in the data dir, else None (one user).

    Example:
        >>> load_users(None, Path("/tmp/empty-data-dir")) is None
        True
    """
    from hubkit.hub.users import USERS_FILE, Directory, UsersFileError

    path = users if users is not None else Path(data_dir) / USERS_FILE
    if users is None and not path.is_file():
        return None
    try:
        return Directory.from_file(path)
    except UsersFileError as exc:
        raise LocalHubError(str(exc), hint="See docs/local-hub.md, 'Users, orgs and tokens'.") from None


def serve_forever(
    data_dir: Path,
    *,
    host: str,
    port: int,
    token: str | None,
    faults: str | None,
    xet: bool = True,
    users: Path | None = None,
) -> None:
    """Run a hub in the foreground until Ctrl-C/SIGTERM; prints the endpoint (never the token)."""
    import signal

    hub = LocalHub(data_dir, host=host, port=port, token=token, faults=faults, xet=xet, users=users)
    hub.start()
    print(f"hubkit local hub serving at {hub.endpoint} (data: {hub.data_dir})", flush=True)
    if token:
        print("writes need the token given with --token / HUBKIT_HUB_TOKEN", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):
            pass
    hub.stop()
