"""The deployment files, checked offline: both Dockerfiles and the Kubernetes overlays.

Each overlay is rendered with ``kubectl kustomize`` (a missing kubectl fails the run, it is
never skipped). Every built-in object is validated against the official Kubernetes JSON schemas
that kubernetes-validate bundles, in strict mode so an unknown field fails, for the oldest and
the newest Kubernetes we support; the custom resources (SeldonDeployment, Model,
ServiceMonitor) against the schemas in deploy/k8s/schemas. The tests then check what a schema
cannot: probe paths, users, ports, where the database URL comes from, what each image runs.
Docker itself is not needed: the Dockerfiles are read with dockerfile-parse.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import io
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from sqlalchemy import exc, text
from sqlalchemy.engine import make_url

import db
from graph.settings import Settings
from scripts.modelserver import KINDS, free_port
from tests.utils.pgbouncer import interleave_transactions, run_pgbouncer

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes these manifests support, and the newest kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.29", "1.37")
CUSTOM_SCHEMAS = {
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): "seldondeployment-machinelearning-v1",
    ("mlops.seldon.io/v1alpha1", "Model"): "model-mlops-v1alpha1",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1",
}
API_PORT = 8000
DATABASE_SECRET = {"name": "mlgraph-database", "key": "url"}

Manifest = dict[str, Any]


# --- rendering -------------------------------------------------------------------------------


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not on PATH. It renders the kustomize overlays for these tests; install "
            "it (our machines and CI have /usr/bin/kubectl).",
            pytrace=False,
        )
    return path


@functools.cache
def render(directory: str) -> tuple[Manifest, ...]:
    """The objects ``kubectl kustomize deploy/k8s/<directory>`` prints (shared: don't mutate)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}", pytrace=False)
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(overlay: str) -> tuple[Manifest, ...]:
    return render(f"overlays/{overlay}")


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def key(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def env_var(container: Manifest, name: str) -> Manifest | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_number(port: int | str, container: Manifest) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"container {container['name']} has no port named {port!r}"
    return int(named[0])


# --- schemas ---------------------------------------------------------------------------------


@functools.cache
def custom_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def official_errors(manifest: Manifest, version: str) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(p) for p in error.path)
        return [f"{key(manifest)} at {where or '<root>'}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{key(manifest)}: {error.message}"]
    return []


def custom_errors(manifest: Manifest) -> list[str]:
    name = CUSTOM_SCHEMAS[(manifest["apiVersion"], manifest["kind"])]
    return [
        f"{key(manifest)} at {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in custom_validator(name).iter_errors(manifest)
    ]


def seldon_pods(sdep: Manifest) -> list[Manifest]:
    """The core/v1 PodSpecs inside a SeldonDeployment, wrapped as Pods for the official schema."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{sdep['metadata']['name']}-{predictor['name']}-{i}"},
            "spec": component["spec"],
        }
        for predictor in sdep["spec"]["predictors"]
        for i, component in enumerate(predictor.get("componentSpecs", []))
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_objects_match_the_official_schemas(
    manifests: tuple[Manifest, ...], version: str
) -> None:
    errors: list[str] = []
    builtin = [m for m in manifests if (m["apiVersion"], m["kind"]) not in CUSTOM_SCHEMAS]
    for manifest in builtin:
        errors += official_errors(manifest, version)
    for sdep in of_kind(manifests, "SeldonDeployment"):
        for pod in seldon_pods(sdep):
            errors += official_errors(pod, version)
    assert not errors, "\n".join(errors)
    kinds = {m["kind"] for m in builtin}
    assert {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget", "CronJob"} <= kinds


@pytest.mark.parametrize("directory", [*(f"overlays/{o}" for o in OVERLAYS), "seldon-v2"])
def test_custom_resources_match_their_schemas(directory: str) -> None:
    manifests = render(directory)
    custom = [m for m in manifests if (m["apiVersion"], m["kind"]) in CUSTOM_SCHEMAS]
    assert custom, f"{directory} renders no custom resource"
    errors = [error for manifest in custom for error in custom_errors(manifest)]
    assert not errors, "\n".join(errors)


def test_custom_schemas_reject_misspelt_fields() -> None:
    sdep = copy.deepcopy(one(render("overlays/prod"), "SeldonDeployment", "iris"))
    sdep["spec"]["predictors"][0]["replica"] = 2
    model = copy.deepcopy(one(render("seldon-v2"), "Model", "iris"))
    model["spec"]["storageURI"] = model["spec"].pop("storageUri")
    monitor = copy.deepcopy(one(render("overlays/prod"), "ServiceMonitor", "mlgraph"))
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    for broken in (sdep, model, monitor):
        assert custom_errors(broken), f"the schema accepted a broken {key(broken)}"


# --- the API Deployment and the migration Job ------------------------------------------------


def test_api_containers_are_probed_and_locked_down(manifests: tuple[Manifest, ...]) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == ["mlgraph", "mlgraph-pgbouncer"]
    for deployment in [one(manifests, "Deployment", "mlgraph")]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["terminationGracePeriodSeconds"] == 30
        for container in pod["containers"]:
            name = f"{key(deployment)} container {container['name']}"
            liveness = container["livenessProbe"]["httpGet"]
            readiness = container["readinessProbe"]["httpGet"]
            assert liveness["path"] == "/healthz", name
            assert readiness["path"] == "/readyz", name
            assert port_number(liveness["port"], container) == API_PORT, name
            assert port_number(readiness["port"], container) == API_PORT, name
            assert_locked_down(container, name)
            assert set(container["resources"]["requests"]) >= {"cpu", "memory"}, name
            assert set(container["resources"]["limits"]) >= {"cpu", "memory"}, name
            # The image's CMD serves; nothing here may turn the API into a migration.
            assert "migrate" not in container.get("command", []) + container.get("args", [])
            assert_pre_stop_sleeps_within_grace(container, pod["terminationGracePeriodSeconds"])


def assert_locked_down(container: Manifest, name: str) -> None:
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True, name
    assert security["readOnlyRootFilesystem"] is True, name
    assert security["allowPrivilegeEscalation"] is False, name
    assert "ALL" in security["capabilities"]["drop"], name


def assert_pre_stop_sleeps_within_grace(container: Manifest, grace: int) -> None:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    # Time left after the sleep for uvicorn to finish in-flight requests before SIGKILL.
    assert 0 < int(command[1]) <= grace - 10


def test_migration_job_runs_mlgraph_migrate(manifests: tuple[Manifest, ...]) -> None:
    job = one(manifests, "Job", "mlgraph-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["mlgraph", "migrate"]
    assert_locked_down(container, key(job))
    api = one(manifests, "Deployment", "mlgraph")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == api["image"], "the Job must migrate with the image it deploys"


def assert_runs_like_the_api(
    manifests: tuple[Manifest, ...], cronjob: Manifest, command: list[str]
) -> dict[str, Any]:
    """A CronJob's one container runs ``command`` once, locked down, in the API's image with
    the API's environment and the database URL from the Secret; returns that container."""
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == command
    assert_locked_down(container, key(cronjob))
    api = one(manifests, "Deployment", "mlgraph")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == api["image"]
    assert container["envFrom"] == api["envFrom"]
    url = env_var(container, "MLGRAPH_DATABASE_URL")
    assert url is not None
    assert url["valueFrom"] == {"secretKeyRef": DATABASE_SECRET}
    result: dict[str, Any] = container
    return result


def test_drift_cronjob_runs_check_drift(manifests: tuple[Manifest, ...]) -> None:
    cronjob = one(manifests, "CronJob", "mlgraph-check-drift")
    spec = cronjob["spec"]
    minute, *rest = spec["schedule"].split()
    assert minute.isdigit()
    assert rest == ["*", "*", "*", "*"], "hourly"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = assert_runs_like_the_api(manifests, cronjob, ["mlgraph", "check-drift"])
    read = env_var(container, "MLGRAPH_DATABASE_READ_URL")
    assert read is not None
    assert read["valueFrom"] == secret_ref("read-url", optional=True)
    webhook = env_var(container, "MLGRAPH_DRIFT_WEBHOOK_URL")
    assert webhook is not None
    assert "value" not in webhook, "webhook URLs carry tokens: from a Secret only"
    # An alert (1), too little data (2) or a failed webhook (3) must not rerun the check.
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": container["name"],
        "operator": "In",
        "values": [1, 2, 3],
    }


def test_maintain_cronjob_runs_maintain_daily(manifests: tuple[Manifest, ...]) -> None:
    cronjob = one(manifests, "CronJob", "mlgraph-maintain")
    spec = cronjob["spec"]
    minute, hour, *rest = spec["schedule"].split()
    assert minute.isdigit()
    assert hour.isdigit()
    assert rest == ["*", "*", "*"], "daily"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    drift = one(manifests, "CronJob", "mlgraph-check-drift")
    assert (
        pod["securityContext"]
        == drift["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"]
    )
    assert_runs_like_the_api(manifests, cronjob, ["mlgraph", "maintain"])


def secret_ref(entry: str, *, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": DATABASE_SECRET["name"], "key": entry}
    return {"secretKeyRef": {**ref, "optional": True} if optional else ref}


def test_database_urls_come_only_from_the_secret(manifests: tuple[Manifest, ...]) -> None:
    api = one(manifests, "Deployment", "mlgraph")["spec"]["template"]["spec"]["containers"][0]
    migrate = one(manifests, "Job", "mlgraph-migrate")["spec"]["template"]["spec"]
    urls = {
        # Through PgBouncer; LISTEN on the primary itself; the replica only if there is one.
        ("Deployment/mlgraph", "MLGRAPH_DATABASE_URL"): secret_ref("url"),
        ("Deployment/mlgraph", "MLGRAPH_LISTEN_DATABASE_URL"): secret_ref("direct-url"),
        ("Deployment/mlgraph", "MLGRAPH_DATABASE_READ_URL"): secret_ref("read-url", optional=True),
        # Migrations may need a session of their own: never through transaction pooling.
        ("Job/mlgraph-migrate", "MLGRAPH_DATABASE_URL"): secret_ref("direct-url"),
    }
    containers = {"Deployment/mlgraph": api, "Job/mlgraph-migrate": migrate["containers"][0]}
    for (where, name), expected in urls.items():
        variable = env_var(containers[where], name)
        assert variable is not None, f"{where} has no {name}"
        assert "value" not in variable
        assert variable["valueFrom"] == expected, f"{where} {name}"
    pooler = one(manifests, "Deployment", "mlgraph-pgbouncer")["spec"]["template"]["spec"]
    assert not any(c.get("env") or c.get("envFrom") for c in pooler["containers"])
    for config in of_kind(manifests, "ConfigMap"):
        for name, value in config.get("data", {}).items():
            assert not ("DATABASE" in name and name.endswith("_URL")), f"{key(config)}: {name}"
            assert "postgresql+asyncpg" not in value, f"{key(config)}: {name}"
            assert "sqlite" not in value, f"{key(config)}: {name}"


def test_config_map_keys_are_real_settings(manifests: tuple[Manifest, ...]) -> None:
    """Settings ignores unknown variables, so a misspelt key would silently do nothing."""
    data = one(manifests, "ConfigMap", "mlgraph-config")["data"]
    for name in data:
        assert name.startswith("MLGRAPH_"), name
        assert name.removeprefix("MLGRAPH_").lower() in Settings.model_fields, name
    api = one(manifests, "Deployment", "mlgraph")["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "mlgraph-config"}} in api["envFrom"]


def settings_of(manifests: tuple[Manifest, ...], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What mlgraph reads in a pod: the image's ENV, then the ConfigMap on top."""
    for name in list(os.environ):
        if name.startswith("MLGRAPH_"):
            monkeypatch.delenv(name)
    for name, value in {**root_image().envs, **config_data(manifests)}.items():
        if name.startswith("MLGRAPH_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", "postgresql+asyncpg://u:p@postgres/mlgraph")
    return Settings()


def config_data(manifests: tuple[Manifest, ...]) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap", "mlgraph-config")["data"]
    return data


def test_model_url_reaches_the_seldon_executor(
    manifests: tuple[Manifest, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    sdep = one(manifests, "SeldonDeployment", "iris")
    (predictor,) = sdep["spec"]["predictors"]
    settings = settings_of(manifests, monkeypatch)
    # The v1 operator's executor Service: <deployment>-<predictor>, port 8000; it answers
    # /ready, not the microservice's /health/ping.
    assert settings.model_url == f"http://{sdep['metadata']['name']}-{predictor['name']}:8000"
    assert settings.model_health_path == "/ready"
    assert sdep["spec"]["protocol"] == "seldon"
    # The executor routes the graph to the container of the same name.
    containers = [c["name"] for c in predictor["componentSpecs"][0]["spec"]["containers"]]
    assert predictor["graph"]["name"] in containers


# --- Service, autoscaling, disruption budget, monitoring -------------------------------------


def test_service_maps_80_to_the_api_port(manifests: tuple[Manifest, ...]) -> None:
    service = one(manifests, "Service", "mlgraph")
    deployment = one(manifests, "Deployment", "mlgraph")
    template = deployment["spec"]["template"]
    assert selects(service["spec"]["selector"], template["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port_number(port["targetPort"], template["spec"]["containers"][0]) == API_PORT


def test_selectors_point_at_the_api_pods(manifests: tuple[Manifest, ...]) -> None:
    deployment = one(manifests, "Deployment", "mlgraph")
    api_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], api_labels)
    pdb = one(manifests, "PodDisruptionBudget", "mlgraph")
    assert selects(pdb["spec"]["selector"]["matchLabels"], api_labels)
    job_labels = one(manifests, "Job", "mlgraph-migrate")["spec"]["template"]["metadata"]
    assert not selects(deployment["spec"]["selector"]["matchLabels"], job_labels["labels"])
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", "mlgraph")
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_service_monitor_scrapes_metrics_on_the_service_port(
    manifests: tuple[Manifest, ...],
) -> None:
    monitor = one(manifests, "ServiceMonitor", "mlgraph")
    service = one(manifests, "Service", "mlgraph")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


# --- PgBouncer --------------------------------------------------------------------------------


def pgbouncer_ini(manifests: tuple[Manifest, ...]) -> str:
    """The pgbouncer.ini of the ConfigMap the PgBouncer pods mount (its name has a hash)."""
    pod = one(manifests, "Deployment", "mlgraph-pgbouncer")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    ini: str = one(manifests, "ConfigMap", volume["configMap"]["name"])["data"]["pgbouncer.ini"]
    return ini


def ini_settings(ini: str) -> dict[str, str]:
    """The [pgbouncer] section's settings (PgBouncer's own syntax: ``;`` starts a comment)."""
    section, found = "", {}
    for line in ini.splitlines():
        line = line.strip()
        if not line or line.startswith((";", "#", "%")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "pgbouncer":
            name, _, value = line.partition("=")
            found[name.strip()] = value.strip()
    return found


def test_pgbouncer_pools_transactions_behind_its_service(manifests: tuple[Manifest, ...]) -> None:
    deployment = one(manifests, "Deployment", "mlgraph-pgbouncer")
    template = deployment["spec"]["template"]
    pod = template["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert_locked_down(container, key(deployment))
    assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
    settings = ini_settings(pgbouncer_ini(manifests))
    assert settings["pool_mode"] == "transaction"
    assert settings["unix_socket_dir"] == ""  # nothing to write on the read-only root
    listen = int(settings["listen_port"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert port_number(container[probe]["tcpSocket"]["port"], container) == listen
    # Files it reads come from the mounted Secret; the ConfigMap holds no password.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (secret,) = [v for v in pod["volumes"] if "secret" in v]
    assert secret["secret"]["secretName"] == "mlgraph-pgbouncer"
    assert settings["auth_file"] == f"{mounts[secret['name']]}/userlist.txt"
    assert f"%include {mounts[secret['name']]}/databases.ini" in pgbouncer_ini(manifests)
    # The safe shutdown (SIGINT) after the endpoints are gone, within the grace period.
    stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert stop[:2] == ["/bin/sh", "-c"]
    assert stop[2].endswith("kill -INT 1")
    assert int(stop[2].split()[1].rstrip(";")) <= pod["terminationGracePeriodSeconds"] - 10

    service = one(manifests, "Service", "mlgraph-pgbouncer")
    assert selects(service["spec"]["selector"], template["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert port_number(port["targetPort"], container) == listen
    api_service = one(manifests, "Service", "mlgraph")
    assert not selects(api_service["spec"]["selector"], template["metadata"]["labels"])
    pdb = one(manifests, "PodDisruptionBudget", "mlgraph-pgbouncer")
    assert selects(pdb["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    assert pdb["spec"]["maxUnavailable"] == 1


async def test_the_shipped_pgbouncer_ini_pools_transactions_in_a_real_pgbouncer(
    postgres_databases: Callable[[], str], tmp_path: Path
) -> None:
    """deploy/k8s/base/pgbouncer.ini as rendered, with only its paths and port made local, run
    by the real PgBouncer: SCRAM logins against its userlist, and transaction pooling (the
    statement cache breaks through it, MLGRAPH_DATABASE_STATEMENT_CACHE=false works)."""
    upstream = make_url(await asyncio.to_thread(postgres_databases))
    port = free_port()
    ini = pgbouncer_ini(render("overlays/prod"))
    ini = ini.replace("/etc/pgbouncer/secret", str(tmp_path))
    ini = ini.replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    ini = ini.replace("listen_port = 6432", f"listen_port = {port}")
    (tmp_path / "pgbouncer.ini").write_text(ini)
    (tmp_path / "databases.ini").write_text(
        f"[databases]\nmlgraph = host={upstream.host} port={upstream.port or 5432} "
        f"dbname={upstream.database}\n"
    )
    user = upstream.username or "postgres"
    (tmp_path / "userlist.txt").write_text(f'"{user}" "pooled-secret"\n')
    url = f"postgresql+asyncpg://{user}:pooled-secret@127.0.0.1:{port}/mlgraph"
    wrong = f"postgresql+asyncpg://{user}:wrong@127.0.0.1:{port}/mlgraph"

    with run_pgbouncer(tmp_path / "pgbouncer.ini", port, user=user):
        engine = db.make_engine(url, statement_cache=False)
        cached = db.make_engine(url)
        refused = db.make_engine(wrong, statement_cache=False)
        try:
            await interleave_transactions(engine)
            async with engine.connect() as connection:
                database = await connection.scalar(text("SELECT current_database()"))
            with pytest.raises(exc.DBAPIError, match="prepared statement"):
                await interleave_transactions(cached)
            with pytest.raises(exc.DBAPIError, match="authentication failed"):
                async with refused.connect():
                    pass
        finally:
            for each in (engine, cached, refused):
                await each.dispose()
    assert database == upstream.database


def test_pgbouncer_image_is_debians_package_run_as_the_pods_user() -> None:
    parser = parse(ROOT / "deploy" / "pgbouncer" / "Dockerfile")
    (stage,) = stages(parser)
    # Debian 12's package, PgBouncer 1.18: the build .ci/run installs and the tests run.
    assert parser.parent_images == ["debian:12-slim"]
    (install,) = values(stage, "RUN")
    assert "apt-get install -y --no-install-recommends pgbouncer" in install
    user = final_user(parser)
    assert user.isdigit()
    assert int(user) != 0
    for overlay in OVERLAYS:
        manifests = render(f"overlays/{overlay}")
        pod = one(manifests, "Deployment", "mlgraph-pgbouncer")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(user)
        config = next(v["name"] for v in pod["volumes"] if "configMap" in v)
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == config]
        assert json.loads(parser.cmd) == [
            "/usr/sbin/pgbouncer",
            f"{mount['mountPath']}/pgbouncer.ini",
        ]
        listen = ini_settings(pgbouncer_ini(manifests))["listen_port"]
        assert values(stage, "EXPOSE") == [listen]


# --- the overlays ----------------------------------------------------------------------------


def test_prod_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = render("overlays/prod")
    settings = settings_of(manifests, monkeypatch)
    assert settings.graphiql is False
    assert settings.environment == "production"
    assert one(manifests, "Deployment", "mlgraph")["spec"]["replicas"] == 3
    hpa = one(manifests, "HorizontalPodAutoscaler", "mlgraph")
    assert hpa["spec"]["minReplicas"] == 3 < hpa["spec"]["maxReplicas"]
    assert one(manifests, "PodDisruptionBudget", "mlgraph")["spec"]["maxUnavailable"] == 1
    # The database Secrets come from the cluster's secret manager, never from this repo.
    assert of_kind(manifests, "Secret") == []
    for image in images(manifests):
        name, _, tag = image.rpartition(":")
        pinned = "@sha256:" in image or (bool(name) and "/" not in tag)
        assert pinned, f"prod image {image} has no tag"
        assert tag not in {"latest", "dev"}, f"prod image {image} has a moving tag"


def test_dev_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = render("overlays/dev")
    settings = settings_of(manifests, monkeypatch)
    assert settings.graphiql is True
    assert one(manifests, "Deployment", "mlgraph")["spec"]["replicas"] == 1
    assert of_kind(manifests, "HorizontalPodAutoscaler") == []
    secret = one(manifests, "Secret", "mlgraph-database")["stringData"]
    # SQLite is one file in one pod: the API pods and the Job must share PostgreSQL.
    assert secret["url"].startswith("postgresql+asyncpg://")
    assert settings.database_statement_cache is False
    # `url` goes through the PgBouncer Service; `direct-url` to the primary PgBouncer uses.
    pooled, direct = make_url(secret["url"]), make_url(secret["direct-url"])
    service = one(manifests, "Service", "mlgraph-pgbouncer")
    assert (pooled.host, pooled.port) == (service["metadata"]["name"], 6432)
    assert service["spec"]["ports"][0]["port"] == 6432
    pgbouncer = one(manifests, "Secret", "mlgraph-pgbouncer")["stringData"]
    assert (
        f"host={direct.host} port={direct.port} dbname={direct.database}"
        in pgbouncer["databases.ini"]
    )
    assert f'"{pooled.username}" "{pooled.password}"' in pgbouncer["userlist.txt"]
    assert pooled.database in pgbouncer["databases.ini"]


def images(manifests: tuple[Manifest, ...]) -> list[str]:
    found: list[str] = []
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "Job"}:
            pods = [manifest["spec"]["template"]["spec"]]
        elif manifest["kind"] == "CronJob":
            pods = [manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
        elif manifest["kind"] == "SeldonDeployment":
            pods = [pod["spec"] for pod in seldon_pods(manifest)]
        else:
            continue
        found += [c["image"] for pod in pods for c in pod["containers"]]
    assert found
    return found


# --- Dockerfiles -----------------------------------------------------------------------------


def parse(path: Path) -> DockerfileParser:
    # From a copy in memory: the parser never writes to the real file.
    return DockerfileParser(fileobj=io.BytesIO(path.read_bytes()))


@functools.cache
def root_image() -> DockerfileParser:
    return parse(ROOT / "Dockerfile")


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    """The instructions of each build stage, comments dropped, in order."""
    found: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found and instruction["instruction"] != "COMMENT":
            found[-1].append(instruction)
    return found


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == instruction]


def final_user(parser: DockerfileParser) -> str:
    users = values(stages(parser)[-1], "USER")
    assert users, "the final stage sets no USER, so it runs as root"
    return users[-1].split(":")[0]


def copies(stage: list[dict[str, Any]], context: Path) -> dict[Path, PurePosixPath]:
    """Each build-context source a stage COPYs, mapped to where it lands in the image."""
    workdir = PurePosixPath("/")
    landed: dict[Path, PurePosixPath] = {}
    for instruction in stage:
        if instruction["instruction"] == "WORKDIR":
            workdir = workdir / instruction["value"]
        if instruction["instruction"] != "COPY":
            continue
        words = shlex.split(instruction["value"])
        if any(w.startswith("--from=") for w in words):
            continue
        *sources, destination = [w for w in words if not w.startswith("--")]
        target = workdir / destination
        for source in sources:
            path = context / source.rstrip("/")
            # Docker copies a directory's contents into the destination, and a file into a
            # destination ending in "/" under its own name.
            into_dir = destination.endswith("/") and not path.is_dir()
            landed[path] = target / path.name if into_dir else target
    return landed


def test_root_image_is_multi_stage_and_ships_no_compiler() -> None:
    parser = root_image()
    builder, final = stages(parser)[0], stages(parser)[-1]
    assert parser.is_multistage
    assert parser.parent_images[-1] == "python:3.11-slim"
    assert values(builder, "FROM")[0].endswith(" AS builder")
    assert "--from=builder /opt/venv /opt/venv" in values(final, "COPY")
    for run in values(final, "RUN"):
        assert not any(word in run for word in ("apt-get", "gcc", "build-essential")), run


def test_root_image_runs_the_api_as_the_pods_user() -> None:
    parser = root_image()
    user = final_user(parser)
    assert user.isdigit(), "use a numeric uid, which runAsNonRoot can check"
    assert int(user) != 0
    for overlay in OVERLAYS:
        pod = one(render(f"overlays/{overlay}"), "Deployment", "mlgraph")["spec"]["template"]
        assert pod["spec"]["securityContext"]["runAsUser"] == int(user)
    assert parser.envs["MLGRAPH_HOST"] == "0.0.0.0"
    assert int(parser.envs["MLGRAPH_PORT"]) == API_PORT
    assert values(stages(parser)[-1], "EXPOSE") == [str(API_PORT)]


def test_root_image_serves_checks_health_and_never_migrates() -> None:
    parser = root_image()
    final = stages(parser)[-1]
    assert json.loads(parser.cmd) == ["mlgraph", "serve"]
    assert values(final, "ENTRYPOINT") == []
    for value in values(final, "CMD") + values(final, "ENTRYPOINT"):
        assert "migrate" not in value
    (healthcheck,) = values(final, "HEALTHCHECK")
    assert "urllib.request" in healthcheck
    assert "/healthz" in healthcheck
    assert "curl" not in healthcheck  # python:3.11-slim has neither
    assert "wget" not in healthcheck


def test_root_image_keeps_migrations_next_to_the_package() -> None:
    """graph/migrations.py finds <parent of graph/>/alembic; the image must keep that layout."""
    parser = root_image()
    builder, final = stages(parser)[0], stages(parser)[-1]
    landed = copies(final, ROOT)
    assert landed[ROOT / "alembic"] == landed[ROOT / "graph"].parent / "alembic"
    assert ROOT / "alembic.ini" in landed
    # The project is installed from the pyproject.toml copied there (the one the tests install
    # with `pip install -e '.[dev]'`), editable, at the path the final stage puts graph/ in: so
    # `graph` is imported from /app, not from site-packages.
    app = landed[ROOT / "graph"].parent
    assert copies(builder, ROOT)[ROOT / "pyproject.toml"] == app / "pyproject.toml"
    assert landed[ROOT / "pyproject.toml"] == app / "pyproject.toml"
    assert any(f'pip install -e "{app}' in run for run in values(builder, "RUN"))
    # With the tracing extra, so OTEL_* variables on a pod switch tracing on.
    assert "ARG MLGRAPH_EXTRAS=tracing" in (ROOT / "Dockerfile").read_text()


def test_root_image_context_holds_every_copied_file() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split("\n")
    assert "*" in ignore, ".dockerignore should exclude everything not listed"
    for stage in stages(root_image()):
        for source in copies(stage, ROOT):
            assert source.exists(), f"COPY {source.relative_to(ROOT)}: no such file"
            relative = source.relative_to(ROOT).as_posix()
            assert f"!{relative}" in ignore or f"!{relative}/" in ignore, relative


def test_model_image_installs_the_tested_requirements() -> None:
    context = ROOT / "deploy" / "model"
    parser = parse(context / "Dockerfile")
    (stage,) = stages(parser)
    assert parser.parent_images == ["python:3.11-slim"]
    landed = copies(stage, context)
    installs = [run for run in values(stage, "RUN") if "pip install" in run]
    assert installs == ["pip install -r requirements.txt"]
    workdir = values(stage, "WORKDIR")[-1]
    (requirements,) = [
        src for src, dest in landed.items() if dest == PurePosixPath(workdir) / "requirements.txt"
    ]
    # scripts/modelserver.py builds the tests' model server from this same file.
    assert requirements == KINDS["seldon"]
    for source in landed:
        assert source.exists(), source


def test_model_image_serves_the_iris_class_as_non_root() -> None:
    parser = parse(ROOT / "deploy" / "model" / "Dockerfile")
    user = final_user(parser)
    assert user.isdigit()
    assert int(user) != 0
    assert json.loads(parser.cmd) == [
        "seldon-core-microservice",
        "IrisClassifier",
        "--service-type",
        "MODEL",
    ]
    (exposed,) = values(stages(parser)[-1], "EXPOSE")
    ports = {name: int(value) for name, value in parser.envs.items() if name.endswith("_PORT")}
    # http, grpc and metrics: the ports the Seldon v1 operator gives a graph's first container.
    assert ports == {
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": 9000,
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": 9500,
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": 6000,
    }
    assert sorted(int(p) for p in exposed.split()) == sorted(ports.values())
