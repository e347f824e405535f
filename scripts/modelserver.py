"""Run an example model server in its own cached virtual environment.

``python scripts/modelserver.py seldon --port 9000`` builds (once) a virtual environment from
``deploy/model/requirements.txt``, trains the iris model into a work folder and serves it with
the ``seldon-core`` microservice (Seldon v1 protocol) until interrupted; ``--model
ChurnClassifier`` serves the churn pipeline (named features, numbers and categories) instead.
``python scripts/modelserver.py mlserver --port 9100`` does the same with MLServer and its
scikit-learn runtime (Open Inference Protocol, V2) from ``deploy/model/mlserver/``, serving both
models (``iris`` and ``churn``). The tests start servers through the same functions, so what a
newcomer runs is what CI tests.
``python scripts/modelserver.py evidently --prepare`` builds the test-only environment in which
the drift tests are cross-checked against Evidently, and ``tritonclient --prepare`` the one the
drop-in tests run tritonclient in (they serve nothing).

Standard library only: it runs before mlgraph's own environment exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "deploy" / "model"
MLSERVER_DIR = MODEL_DIR / "mlserver"
EVIDENTLY_DIR = ROOT / "tests" / "monitoring" / "evidently_env"
TRITONCLIENT_DIR = ROOT / "tests" / "graph" / "routes" / "tritonclient_env"
KINDS = {
    "seldon": MODEL_DIR / "requirements.txt",
    "mlserver": MLSERVER_DIR / "requirements.txt",
    "evidently": EVIDENTLY_DIR / "requirements.txt",
    "tritonclient": TRITONCLIENT_DIR / "requirements.txt",
}
SERVERS = ("seldon", "mlserver")  # the kinds that serve a model; the others are only built
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlgraph"


@dataclass
class ModelServer:
    """A running model server: ``url`` is its HTTP base, ``log`` its combined output, and
    ``files`` the joblib file of each model it serves, by model name."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    files: dict[str, Path] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop the server and every process it started (gunicorn and MLServer fork workers,
        which a signal to the parent alone can leave running)."""
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; make sure no worker outlives it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            return


def cache_dir() -> Path:
    return Path(os.environ.get("MLGRAPH_CACHE_DIR", DEFAULT_CACHE))


def ensure_venv(kind: str) -> Path:
    """The virtual environment for ``kind``, built on first use and keyed by its requirements.

    A lock file makes concurrent callers wait for one build instead of racing.
    """
    requirements = KINDS[kind]
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    target = cache_dir() / "venvs" / f"{kind}-{digest}-py{sys.version_info[0]}{sys.version_info[1]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _build_venv(target, requirements)
    return target


def _build_venv(target: Path, requirements: Path) -> None:
    print(f"building the {target.name} environment (once; cached in {target})", flush=True)
    if target.exists():
        subprocess.run(["rm", "-rf", str(target)], check=True)
    venv.create(target, with_pip=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    (target / ".complete").write_text("ok\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The Seldon model classes in deploy/model/ and the model each one serves.
SELDON_MODELS = {"IrisClassifier": "iris", "ChurnClassifier": "churn"}


def train_model(env: Path, out: Path, model: str = "iris") -> Path:
    """Train an example model (``iris`` or ``churn``) with the server's own scikit-learn and
    write it to ``out``."""
    subprocess.run(
        [str(env / "bin" / "python"), str(MODEL_DIR / "train.py"), str(out), model],
        cwd=MODEL_DIR,
        check=True,
    )
    return out


def predict_labels(
    server: ModelServer, model: str, rows: list[list[object]], names: list[str]
) -> list[str]:
    """What ``model``'s own pipeline predicts for ``rows`` (columns in ``names``' order), run in
    the server's environment on the very file it serves: the labels a caller must get back."""
    script = (
        "import json, sys, joblib\n"
        "from ChurnClassifier import frame_of\n"
        "request = json.load(sys.stdin)\n"
        "model = joblib.load(request['file'])\n"
        "frame = frame_of(request['rows'], request['names'])\n"
        "print(json.dumps([str(label) for label in model.predict(frame)]))\n"
    )
    env_dir = ensure_venv(server.kind)
    request = {"file": str(server.files[model]), "rows": rows, "names": names}
    done = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", script],
        cwd=MODEL_DIR,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    labels: list[str] = json.loads(done.stdout)
    return labels


def start_seldon(
    workdir: Path,
    *,
    port: int | None = None,
    version: str = "v1",
    threads: int = 1,
    model_class: str = "IrisClassifier",
) -> ModelServer:
    """Start the seldon-core microservice serving ``model_class`` (a class in deploy/model/:
    ``IrisClassifier`` or ``ChurnClassifier``) and wait until it answers.

    With ``threads`` above 1 gunicorn runs its threaded worker, which keeps connections alive;
    its default sync worker closes every connection after one response.
    """
    env_dir = ensure_venv("seldon")
    model = SELDON_MODELS[model_class]
    model_file = train_model(env_dir, workdir / f"{model}.joblib", model)
    port = port or free_port()
    log = workdir / f"seldon-{port}.log"
    command = [
        str(env_dir / "bin" / "seldon-core-microservice"),
        model_class,
        "--service-type", "MODEL",
        "--http-port", str(port),
        "--grpc-port", str(free_port()),
        "--metrics-port", str(free_port()),
        "--workers", "1",
        "--threads", str(threads),
        "--log-level", "WARNING",
    ]  # fmt: skip
    environment = {**os.environ, "MODEL_FILE": str(model_file), "MODEL_VERSION": version}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=MODEL_DIR,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches the workers
        )
    server = ModelServer(
        "seldon", f"http://127.0.0.1:{port}", process, log, files={model: model_file}
    )
    wait_ready(server, server.url + "/health/ping")
    return server


# The models MLServer serves: iris from deploy/model/mlserver/model-settings.json, churn from
# deploy/model/mlserver/churn/model-settings.json.
MLSERVER_MODELS = {"iris": MLSERVER_DIR, "churn": MLSERVER_DIR / "churn"}


def start_mlserver(workdir: Path, *, port: int | None = None, version: str = "v1") -> ModelServer:
    """Start MLServer serving the iris model as ``iris`` and the churn pipeline as ``churn``
    (both as version ``version``) and wait for them.

    The model folders are built in ``workdir`` from ``deploy/model/mlserver/``: the settings
    files as they are, plus this run's ports (all free ones unless ``port`` is given), loopback
    only, and the models trained by the MLServer environment's own scikit-learn.
    """
    env_dir = ensure_venv("mlserver")
    repository = workdir / "mlserver-models"
    files: dict[str, Path] = {}
    for name, source in MLSERVER_MODELS.items():
        model_dir = repository / name
        model_dir.mkdir(parents=True, exist_ok=True)
        model_settings = json.loads((source / "model-settings.json").read_text())
        model_settings["parameters"]["version"] = version
        model_file = model_dir / Path(model_settings["parameters"]["uri"]).name
        files[name] = train_model(env_dir, model_file, name)
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    port = port or free_port()
    # settings.json values win over MLSERVER_* environment variables, so these ports hold
    # whatever the caller's environment says.
    settings = json.loads((MLSERVER_DIR / "settings.json").read_text())
    settings.update(
        host="127.0.0.1", http_port=port, grpc_port=free_port(), metrics_port=free_port()
    )
    (repository / "settings.json").write_text(json.dumps(settings, indent=2))
    log = workdir / f"mlserver-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(env_dir / "bin" / "mlserver"), "start", str(repository)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ModelServer("mlserver", f"http://127.0.0.1:{port}", process, log, files=files)
    # The models' own readiness: /v2/health/ready is also true while no model has loaded at all.
    for name in MLSERVER_MODELS:
        wait_ready(server, f"{server.url}/v2/models/{name}/ready")
    return server


def wait_ready(server: ModelServer, url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.3)
    except BaseException:
        # Interrupted while waiting (Ctrl-C, SIGTERM): nobody else holds the process to stop it.
        server.stop()
        raise
    server.stop()
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.kind} model server did not become ready at {url}:\n{tail}")


@contextlib.contextmanager
def running(
    kind: str, workdir: Path, *, port: int | None = None, model_class: str = "IrisClassifier"
) -> Iterator[ModelServer]:
    if kind == "seldon":
        server = start_seldon(workdir, port=port, model_class=model_class)
    else:
        server = start_mlserver(workdir, port=port)
    try:
        yield server
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--model",
        choices=sorted(SELDON_MODELS),
        default="IrisClassifier",
        help="seldon: the model class to serve (mlserver serves both models)",
    )
    parser.add_argument("--prepare", action="store_true", help="only build the environment")
    args = parser.parse_args()
    if args.prepare:
        print(ensure_venv(args.kind))
        return 0
    if args.kind not in SERVERS:
        parser.error(f"{args.kind} serves nothing; build its environment with --prepare")
    # `kill` (as scripts/run-dev.sh does on exit) must stop the server too, not orphan it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with (
        tempfile.TemporaryDirectory(prefix="mlgraph-model-") as tmp,
        running(args.kind, Path(tmp), port=args.port, model_class=args.model) as server,
    ):
        print(f"{args.kind} model server ready at {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
