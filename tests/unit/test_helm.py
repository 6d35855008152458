"""The Helm chart (helm/specstack): lint, render every example values file, validate every manifest against the
Kubernetes schemas, reject bad values with a clear message, and check the wiring that matters (engine flags as
our launchers build them, speculation on/off, the NetworkPolicy, the gateway and load-test configs against
their pydantic schemas, the ServiceMonitor).

No helm binary is needed: helm-python-sdk wraps Helm's Go SDK (lint and render run offline), and
kubernetes-validate carries the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

helm_python = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "specstack"
BAD_VALUES = ROOT / "tests" / "helm"
KUBE_VERSION = "1.30"
RELEASE, NAMESPACE = "rel", "ns"
EXAMPLES = sorted(p.name for p in CHART.glob("values-*.yaml"))
ALL_VALUES = ["values.yaml", *EXAMPLES]  # values.yaml = the chart's defaults


def example(name: str) -> dict[str, Any]:
    return {} if name == "values.yaml" else yaml.safe_load((CHART / name).read_text(encoding="utf-8"))


def with_values(base: dict[str, Any], **dotted: Any) -> dict[str, Any]:
    """A deep copy of `base` with dotted keys set, e.g. with_values({}, **{"engine.type": "vllm"})."""
    out = copy.deepcopy(base)
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


@functools.cache
def _chart() -> Any:
    return helm_python.Chart.load(str(CHART))


@functools.cache
def _render_json(values_json: str) -> tuple[dict[str, Any], ...]:
    rendered = _chart().render(json.loads(values_json), name=RELEASE, namespace=NAMESPACE)
    docs = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["__template"] = template
                docs.append(doc)
    return tuple(docs)


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """All manifests the chart renders with `values`; each carries the template it came from."""
    return copy.deepcopy(list(_render_json(json.dumps(values, sort_keys=True))))


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    hits = find(docs, kind, name)
    assert len(hits) == 1, (
        f"expected one {kind} {name}, got {[d['metadata']['name'] for d in find(docs, kind)]}"
    )
    return hits[0]


def engine_deployments(docs: list[dict]) -> dict[str, dict]:
    """Engine Deployments by pool ("main", "plain")."""
    return {
        d["metadata"]["labels"]["specstack.io/pool"]: d
        for d in find(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "engine"
    }


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def flags(argv: list[str]) -> dict[str, Any]:
    """argv as {--flag: value, or True for a bare flag}; JSON values decoded."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        assert argv[i].startswith("--"), f"stray argument {argv[i]!r} in {argv}"
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value: Any = argv[i + 1]
            if value.startswith("{"):
                value = json.loads(value)
            out[argv[i]] = value
            i += 2
        else:
            out[argv[i]] = True
            i += 1
    return out


def engine_flags(values: dict[str, Any], pool: str = "main") -> dict[str, Any]:
    return flags(container(engine_deployments(render(values))[pool])["args"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def schema_error(values: dict[str, Any]) -> str:
    with pytest.raises(helm_python.HelmValuesError) as err:
        _chart().render(values, name=RELEASE, namespace=NAMESPACE)
    return str(err.value)


# --- lint, render, Kubernetes schemas ------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert {"values-gpu-prod.yaml", "values-cpu-demo.yaml"} <= set(EXAMPLES)


@pytest.mark.parametrize("values_file", ALL_VALUES)
def test_lint_is_clean(values_file: str) -> None:
    report = helm_python.lint(str(CHART), example(values_file), strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 = warning, 3 = error
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("values_file", ALL_VALUES)
def test_every_manifest_validates_against_kubernetes(values_file: str) -> None:
    docs = render(example(values_file))
    assert find(docs, "Deployment"), "nothing rendered"
    for doc in docs:
        template = doc.pop("__template")
        where = f"{values_file}: {template}: {doc['kind']} {doc['metadata'].get('name')}"
        assert doc["metadata"]["namespace"] == NAMESPACE, where
        assert len(doc["metadata"]["name"]) <= 63, where
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema in kubernetes-validate; its structure is checked below
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{where}: {getattr(e, 'message', e)} at {list(getattr(e, 'absolute_path', []))}")


@pytest.mark.parametrize(
    "values",
    [
        {"engine": {"type": "vllm"}, "speculation": {"enabled": False}, "plainPool": {"enabled": True}},
        {"modelStorage": {"type": "pvc", "download": {"enabled": True, "targetUrl": "s3://b/t/", "draftUrl": "s3://b/d/",
                                                       "endpointUrl": "http://minio:9000", "credentialsSecret": "s3"}},
         "engine": {"gpus": 2}, "gateway": {"autoscaling": {"enabled": True}, "apiKeys": {"existingSecret": "k", "fileKey": "keys.yaml"}},
         "serviceMonitor": {"enabled": True}, "loadtest": {"enabled": True, "mode": "job"}, "plainPool": {"enabled": True}},
    ],
    ids=["vllm-gpu-spec-off", "download-tp2-everything-on"],
)  # fmt: skip
def test_other_settings_validate(values: dict[str, Any]) -> None:
    for doc in render(values):
        doc.pop("__template")
        if not doc["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


# --- the values schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_file", "message"),
    [
        ("bad-missing-model-path.yaml", "at '/model': missing property 'path'"),
        ("bad-negative-replicas.yaml", "at '/engine/replicas': minimum: got -1, want 0"),
        ("bad-unknown-engine.yaml", "at '/engine/type': value must be one of 'sglang', 'vllm'"),
    ],
)
def test_bad_values_files_are_rejected_by_the_schema(bad_file: str, message: str) -> None:
    values = yaml.safe_load((BAD_VALUES / bad_file).read_text(encoding="utf-8"))
    err = schema_error(values)
    assert "don't meet the specifications of the schema" in err and message in err, err
    report = helm_python.lint(str(CHART), values, strict=True)
    assert any(message in e for e in report["errors"]), report


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        ({"model.path": ""}, "at '/model/path': minLength: got 0, want 1"),
        ({"model.path": "models/target"}, "at '/model/path': 'models/target' does not match pattern '^/'"),
        ({"plainPool.replicas": -2}, "at '/plainPool/replicas': minimum: got -2, want 0"),
        ({"gateway.replicas": -1}, "at '/gateway/replicas': minimum: got -1, want 0"),
        ({"engine.gpus": 0}, "at '/engine/gpus': minimum: got 0, want 1"),  # SGLang needs GPUs
        ({"model.draftPath": ""}, "at '/model/draftPath': minLength: got 0, want 1"),  # speculation is on
        ({"speculation.numDraftTokens": 0}, "at '/speculation/numDraftTokens': minimum: got 0, want 1"),
        ({"speculation.sglang.eagleTopk": 4}, "at '/speculation/sglang': missing property 'numDraftTokens'"),
        ({"loadtest.enabled": True}, "at '/plainPool/enabled': value must be true"),
        ({"modelStorage.type": "nfs"}, "at '/modelStorage/type': value must be one of 'pvc', 'emptyDir', 'hostPath'"),
        ({"modelStorage.type": "emptyDir"}, "at '/modelStorage/download/enabled': value must be true"),
        ({"gateway.apiKeys.keys": {"a": "short"}}, "at '/gateway/apiKeys/keys/a': minLength: got 5, want 8"),
        ({"engine.replica": 2}, "additional properties 'replica' not allowed"),
    ],
)  # fmt: skip
def test_schema_messages(dotted: dict[str, Any], message: str) -> None:
    err = schema_error(with_values({}, **dotted))
    assert message in err, err


def test_schema_allows_turning_the_draft_off_without_a_path() -> None:
    values = with_values({}, **{"speculation.enabled": False, "model.draftPath": ""})
    assert "--speculative-algorithm" not in engine_flags(values)


# --- engine flags ---------------------------------------------------------------------------------------------


def test_sglang_eagle3_flags_from_values() -> None:
    values = example("values-gpu-prod.yaml")
    f = engine_flags(values)
    assert f["--speculative-algorithm"] == "EAGLE3"
    assert f["--speculative-draft-model-path"] == values["model"]["draftPath"]
    assert (f["--speculative-num-steps"], f["--speculative-eagle-topk"], f["--speculative-num-draft-tokens"]) == (
        "3", "1", "4")  # fmt: skip
    assert f["--enable-metrics"] is True
    assert f["--tool-call-parser"] == "qwen25"
    assert f["--mem-fraction-static"] == "0.85"
    assert f["--model-path"] == values["model"]["path"]
    assert f["--served-model-name"] == values["model"]["servedName"]

    tree = engine_flags(
        with_values(values, **{"speculation.sglang": {"numSteps": 5, "eagleTopk": 8, "numDraftTokens": 32}})
    )
    assert (tree["--speculative-num-steps"], tree["--speculative-eagle-topk"], tree["--speculative-num-draft-tokens"]) == (
        "5", "8", "32")  # fmt: skip


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_speculation_switch_changes_only_the_draft_flags(engine: str) -> None:
    base = with_values({}, **{"engine.type": engine})
    on = engine_flags(with_values(base, **{"speculation.enabled": True}))
    off = engine_flags(with_values(base, **{"speculation.enabled": False}))
    spec_flags = {
        "sglang": {"--speculative-algorithm", "--speculative-draft-model-path", "--speculative-num-steps",
                   "--speculative-eagle-topk", "--speculative-num-draft-tokens"},
        "vllm": {"--speculative-config", "--per-request-spec-decode-metrics"},
    }[engine]  # fmt: skip
    assert set(on) - set(off) == spec_flags
    assert {k: v for k, v in on.items() if k not in spec_flags} == off


def test_vllm_flags() -> None:
    values = with_values({}, **{"engine.type": "vllm", "speculation.numDraftTokens": 4})
    docs = render(values)
    main = container(engine_deployments(docs)["main"])
    assert main["command"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert main["image"].startswith("vllm/vllm-openai:")
    f = flags(main["args"])
    assert f["--speculative-config"] == {
        "method": "eagle3",
        "model": "/models/draft",
        "num_speculative_tokens": 4,
    }
    assert f["--per-request-spec-decode-metrics"] == "summary"
    assert f["--enable-auto-tool-choice"] is True and f["--tool-call-parser"] == "hermes"
    assert f["--gpu-memory-utilization"] == "0.9"
    # The image's own entrypoint instead of the module.
    own = container(engine_deployments(render(with_values(values, **{"engine.vllm.command": []})))["main"])
    assert "command" not in own and own["args"] == main["args"]


def test_plain_pool_serves_the_target_without_the_draft() -> None:
    for values_file in EXAMPLES:
        pools = engine_deployments(render(example(values_file)))
        assert set(pools) == {"main", "plain"}, values_file
        plain, main = flags(container(pools["plain"])["args"]), flags(container(pools["main"])["args"])
        assert not any(k.startswith(("--speculative", "--per-request-spec")) for k in plain), values_file
        assert plain["--served-model-name"] == main["--served-model-name"]
        assert pools["plain"]["spec"]["template"]["metadata"]["labels"]["specstack.io/speculative"] == "false"


def _launcher_argv(values: dict[str, Any], speculative: bool) -> list[str]:
    """What serving/engines builds for the same settings (`specstack serve engine`), minus `python -m MODULE`."""
    engines = pytest.importorskip("serving.engines.config")
    v = render_values(values)
    e = v["engine"]
    cfg = engines.EngineConfig(
        engine=e["type"], model=v["model"]["path"], draft=v["model"]["draftPath"], speculative=speculative,
        num_draft_tokens=v["speculation"]["numDraftTokens"], served_model_name=v["model"]["servedName"] or None,
        host="0.0.0.0", port=e["port"], dtype=e["dtype"], max_model_len=e["maxModelLen"], max_num_seqs=e["maxNumSeqs"],
        seed=e["seed"], enforce_eager=e["vllm"]["enforceEager"], gpu_memory_utilization=e["vllm"]["gpuMemoryUtilization"],
        access_log=e["vllm"]["accessLog"], sglang={"mem_fraction_static": e["sglang"]["memFractionStatic"]},
    )  # fmt: skip
    device = "cuda" if e["gpus"] > 0 else "cpu"
    if e["type"] == "sglang":
        from serving.engines.sglang import sglang_command

        cmd = sglang_command(cfg, device=device, python="python3")
    else:
        from serving.engines.vllm import vllm_command

        cmd = vllm_command(cfg, device=device, python="python3")
    assert cmd.argv[1] == "-m"
    return cmd.argv[3:]


def render_values(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's defaults with `values` merged over them (Helm's coalescing, for plain dicts)."""

    def merge(base: dict, top: dict) -> dict:
        out = copy.deepcopy(base)
        for k, v in top.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")), values)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"engine": {"type": "vllm"}},
        {"engine": {"type": "vllm", "gpus": 0, "maxModelLen": 2048}, "speculation": {"numDraftTokens": 4}},
        {"engine": {"type": "vllm", "vllm": {"enforceEager": True, "accessLog": True}}},
        {"engine": {"maxModelLen": None}, "model": {"servedName": "qwen"}},
    ],
    ids=["sglang", "vllm-gpu", "vllm-cpu", "vllm-eager-log", "sglang-no-len"],
)
@pytest.mark.parametrize("speculative", [True, False], ids=["spec", "plain"])
def test_engine_args_match_our_launchers(values: dict[str, Any], speculative: bool) -> None:
    values = with_values(values, **{"speculation.enabled": speculative})
    chart = engine_flags(values)
    assert chart == flags(_launcher_argv(values, speculative))


def test_engine_pod_gpu_shm_probes_and_models() -> None:
    prod = example("values-gpu-prod.yaml")
    docs = render(prod)
    main = engine_deployments(docs)["main"]
    pod = main["spec"]["template"]["spec"]
    c = container(main)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
    probes = {p: c[p] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert all(p["httpGet"] == {"path": "/health", "port": "http"} for p in probes.values())
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 20 * 60  # long model loads
    assert main["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    # The models come from the object store through an init container, into the shared volume.
    init = pod["initContainers"][0]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["TARGET_URL"] == prod["modelStorage"]["download"]["targetUrl"]
    assert env["DRAFT_DIR"] == prod["model"]["draftPath"]
    assert init["envFrom"] == [{"secretRef": {"name": "specstack-s3"}}]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in c["volumeMounts"]
    # The plain pool does not pull the draft.
    plain_init = engine_deployments(docs)["plain"]["spec"]["template"]["spec"]["initContainers"][0]
    assert {e["name"]: e.get("value") for e in plain_init["env"]}["DRAFT_URL"] == ""

    demo = engine_deployments(render(example("values-cpu-demo.yaml")))["main"]
    c = container(demo)
    assert "nvidia.com/gpu" not in str(c.get("resources", {}))
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert demo["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] == "/specstack-demo"
    # The default: the models from a PVC the chart creates.
    default = render({})
    claim = one(default, "PersistentVolumeClaim", "rel-specstack-models")
    pod = engine_deployments(default)["main"]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "initContainers" not in pod


# --- gateway --------------------------------------------------------------------------------------------------


def _service_url(docs: list[dict], pool: str) -> str:
    svc = [
        d for d in find(docs, "Service")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "engine"
        and d["metadata"]["labels"]["specstack.io/pool"] == pool
    ]  # fmt: skip
    assert len(svc) == 1
    port = svc[0]["spec"]["ports"][0]["port"]
    return f"http://{svc[0]['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{port}"


def _pods_url(docs: list[dict], pool: str) -> str:
    """The gateway's dns+ upstream for a pool: its headless Service, selecting the same pods as the pool's Service."""
    svc = [d for d in find(docs, "Service") if d["metadata"]["labels"].get("app.kubernetes.io/component") == "engine-pods"
           and d["metadata"]["labels"]["specstack.io/pool"] == pool]  # fmt: skip
    assert len(svc) == 1 and svc[0]["spec"]["clusterIP"] == "None"
    service = [
        d
        for d in find(docs, "Service")
        if d["metadata"]["name"] == svc[0]["metadata"]["name"].removesuffix("-pods")
    ]
    assert svc[0]["spec"]["selector"] == service[0]["spec"]["selector"]
    port = svc[0]["spec"]["ports"][0]["port"]
    return f"dns+http://{svc[0]['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{port}"


def _gateway_run_config(docs: list[dict], tmp_path: Path) -> Any:
    """The ConfigMap's gateway.yaml, validated as `specstack serve gateway --config` does: a run config whose only
    section is `gateway:`, checked by the gateway's own GatewayConfig (specstack.config.RunConfig composes the same
    model; importing it pulls in transformers, which this test does not need)."""
    gateway_config = pytest.importorskip("serving.gateway.config")
    from specstack.configbase import read_yaml, validate

    cm = one(docs, "ConfigMap", "rel-specstack-gateway")
    path = tmp_path / "gateway.yaml"
    path.write_text(cm["data"]["gateway.yaml"], encoding="utf-8")
    data = read_yaml(path)
    assert set(data) == {"gateway"}
    return validate(gateway_config.GatewayConfig, data["gateway"], str(path))


@pytest.mark.parametrize("values_file", ALL_VALUES)
def test_gateway_config_validates_and_points_at_the_engines(values_file: str, tmp_path: Path) -> None:
    values = example(values_file)
    docs = render(values)
    cfg = _gateway_run_config(docs, tmp_path)
    deployment = one(docs, "Deployment", "rel-specstack-gateway")
    c = container(deployment)
    assert c["args"] == ["serve", "gateway", "--config", "/etc/specstack/gateway/gateway.yaml"]
    assert cfg.host == "0.0.0.0" and cfg.port == c["ports"][0]["containerPort"]
    (_name, route), *rest = cfg.models.items()
    assert rest == []
    assert route.speculative == [_pods_url(docs, "main")]  # each engine pod, found through DNS
    assert route.plain == ([_pods_url(docs, "plain")] if values.get("plainPool", {}).get("enabled") else [])
    assert (
        route.upstream_model
        == flags(container(engine_deployments(docs)["main"])["args"])["--served-model-name"]
    )
    assert route.spec_inflight_threshold == values.get("gateway", {}).get("specInflightThreshold")
    # Probes on the gateway's own endpoints; non-root; config changes roll the pods.
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]
    assert cfg.drain_timeout_s < pod["terminationGracePeriodSeconds"]


def test_gateway_config_overrides_and_speculation_off(tmp_path: Path) -> None:
    prod = example("values-gpu-prod.yaml")
    cfg = _gateway_run_config(render(prod), tmp_path)
    assert cfg.timeouts.first_byte_s == prod["gateway"]["config"]["timeouts"]["first_byte_s"]
    assert cfg.default_limits.requests_per_second == 20

    off = render(with_values(prod, **{"speculation.enabled": False, "loadtest.enabled": False,
                                      "gateway.routeToPods": False}))  # fmt: skip
    route = next(iter(_gateway_run_config(off, tmp_path).models.values()))
    assert route.speculative == [] and route.plain == [_service_url(off, "main"), _service_url(off, "plain")]
    assert route.spec_inflight_threshold is None  # nothing to balance between
    assert not [d for d in find(off, "Service") if d["spec"].get("clusterIP") == "None"]

    shared = render(with_values(prod, **{"gateway.sharedLimitsRedisUrl": "redis://redis.infra:6379/0"}))
    cfg = _gateway_run_config(shared, tmp_path)
    assert cfg.shared_limits is not None and cfg.shared_limits.redis_url == "redis://redis.infra:6379/0"
    assert _gateway_run_config(render(prod), tmp_path).shared_limits is None


def test_gateway_keys_replicas_hpa_pdb(tmp_path: Path) -> None:
    prod = render(example("values-gpu-prod.yaml"))
    gw = one(prod, "Deployment", "rel-specstack-gateway")
    assert "replicas" not in gw["spec"]  # the HPA owns it
    hpa = one(prod, "HorizontalPodAutoscaler", "rel-specstack-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rel-specstack-gateway",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    pdb = one(prod, "PodDisruptionBudget", "rel-specstack-gateway")
    assert pdb["spec"]["minAvailable"] == 2 and "maxUnavailable" not in pdb["spec"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], gw["spec"]["template"]["metadata"]["labels"])
    env = {e["name"]: e for e in container(gw)["env"]}
    ref = env["SPECSTACK_GATEWAY_API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "specstack-gateway-keys" and ref["key"] == "api-keys"
    assert find(prod, "Secret") == []  # an existing Secret: the chart never holds production keys

    demo = render(example("values-cpu-demo.yaml"))
    secret = one(demo, "Secret", "rel-specstack-gateway-keys")
    pairs = secret["stringData"]["api-keys"]
    from serving.gateway.auth import parse_keys_env
    from serving.gateway.config import RateLimits

    assert sorted(k.name for k in parse_keys_env(pairs, RateLimits())) == ["demo", "loadtest"]
    assert one(demo, "Deployment", "rel-specstack-gateway")["spec"]["replicas"] == 1

    # A keys file from the Secret: mounted, and named in the config.
    docs = render(with_values({}, **{"gateway.apiKeys": {"existingSecret": "keys", "fileKey": "keys.yaml"}}))
    gw = one(docs, "Deployment", "rel-specstack-gateway")
    assert {"name": "keys", "mountPath": "/etc/specstack/keys", "readOnly": True} in container(gw)[
        "volumeMounts"
    ]
    assert str(_gateway_run_config(docs, tmp_path).api_keys_file) == "/etc/specstack/keys/keys.yaml"


# --- network policy, service monitor, load test ---------------------------------------------------------------


def _pod_labels(docs: list[dict]) -> dict[str, dict[str, str]]:
    out = {}
    for d in find(docs, "Deployment") + find(docs, "Job"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        out[d["metadata"]["name"]] = labels
    return out


@pytest.mark.parametrize("values_file", ALL_VALUES)
def test_network_policy_lets_only_the_gateway_reach_the_engines(values_file: str) -> None:
    values = example(values_file)
    docs = render(values)
    (policy,) = find(docs, "NetworkPolicy")
    spec = policy["spec"]
    pods = _pod_labels(docs)
    engines = {n for n, labels in pods.items() if labels.get("app.kubernetes.io/component") == "engine"}
    selected = {n for n, labels in pods.items() if selects(spec["podSelector"]["matchLabels"], labels)}
    assert selected == engines and len(engines) >= 1
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    pod_peers = [p["podSelector"]["matchLabels"] for p in rule["from"] if set(p) == {"podSelector"}]
    allowed = {n for n, labels in pods.items() if any(selects(sel, labels) for sel in pod_peers)}
    expected = {"rel-specstack-gateway"}
    if values.get("loadtest", {}).get("enabled"):
        expected |= {n for n in pods if "loadtest" in n}  # the Job measures the pools directly
    assert allowed == expected
    others = [p for p in rule["from"] if set(p) != {"podSelector"}]
    assert others == values.get("networkPolicy", {}).get("extraEngineIngressFrom", [])
    # The named port exists on every engine container.
    for name in engines:
        d = one(docs, "Deployment", name)
        assert container(d)["ports"][0]["name"] == "http"


def test_metrics_token_reaches_the_gateway_and_the_service_monitor(tmp_path: Path) -> None:
    prod = example("values-gpu-prod.yaml")
    docs = render(with_values(prod, **{"gateway.metricsToken.existingSecret": "scrape-token"}))
    assert _gateway_run_config(docs, tmp_path).metrics_token_env == "SPECSTACK_METRICS_TOKEN"
    env = {e["name"]: e for e in container(one(docs, "Deployment", "rel-specstack-gateway"))["env"]}
    assert env["SPECSTACK_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "scrape-token",
        "key": "token",
    }
    (sm,) = find(docs, "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "scrape-token", "key": "token"},
    }
    plain = render(prod)  # no secret: /metrics open, nothing sent
    assert _gateway_run_config(plain, tmp_path).metrics_token_env is None
    assert "authorization" not in find(plain, "ServiceMonitor")[0]["spec"]["endpoints"][0]


def test_service_monitor_structure() -> None:
    docs = render(example("values-gpu-prod.yaml"))
    (sm,) = find(docs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = sm["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (expr,) = spec["selector"]["matchExpressions"]
    assert expr["key"] == "app.kubernetes.io/component" and expr["operator"] == "In"
    scraped = [
        s for s in find(docs, "Service")
        if selects(spec["selector"]["matchLabels"], s["metadata"]["labels"])
        and s["metadata"]["labels"]["app.kubernetes.io/component"] in expr["values"]
    ]  # fmt: skip
    assert sorted(s["metadata"]["name"] for s in scraped) == [
        "rel-specstack-engine", "rel-specstack-engine-plain", "rel-specstack-gateway"]  # fmt: skip
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "scheme", "interval", "scrapeTimeout", "relabelings"}
        assert endpoint["path"] == "/metrics"
        assert all(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in scraped)
        for r in endpoint["relabelings"]:
            assert set(r) <= {"sourceLabels", "targetLabel", "action", "regex", "replacement", "separator"}
    assert find(render({}), "ServiceMonitor") == []  # optional


@pytest.mark.parametrize("values_file", EXAMPLES)
def test_load_test_job(values_file: str) -> None:
    values = example(values_file)
    docs = render(values)
    (job,) = find(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (cm,) = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].endswith("-loadtest")]
    assert cm["metadata"]["annotations"]["helm.sh/hook"] == "test"
    loadtest_config = pytest.importorskip("loadtest.config")
    lt = loadtest_config.LoadtestConfig.model_validate(
        yaml.safe_load(cm["data"]["loadtest.yaml"])["loadtest"]
    )
    assert lt.fixed_rate is not None and lt.fixed_rate.rate == 12.0
    assert not lt.sweep.enabled and not lt.capacity.enabled
    assert lt.spec_url == _service_url(docs, "main") and lt.plain_url == _service_url(docs, "plain")
    gw_svc = one(docs, "Service", "rel-specstack-gateway")
    assert lt.gateway is not None
    assert (
        lt.gateway.url
        == f"http://rel-specstack-gateway.{NAMESPACE}.svc.cluster.local:{gw_svc['spec']['ports'][0]['port']}"
    )
    compile(cm["data"]["run.py"], "run.py", "exec")
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"] == ["python", "/etc/specstack/loadtest/run.py"]
    assert pod["restartPolicy"] == "Never"
    assert any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in pod["volumes"])
    # The dataset path is inside one of the Job's mounts.
    mounts = [m["mountPath"] for m in c["volumeMounts"]]
    assert any(lt.dataset.startswith(m + "/") for m in mounts), (lt.dataset, mounts)
    key = {e["name"]: e for e in c["env"]}["SPECSTACK_LOADTEST_API_KEY"]["valueFrom"]["secretKeyRef"]
    secrets = {s["metadata"]["name"]: s for s in find(docs, "Secret")}
    if key["name"] in secrets:  # the chart's own Secret holds the key it points at
        assert key["key"] in secrets[key["name"]]["stringData"]
    # As a plain Job (one per revision) instead of a `helm test` hook.
    plain = render(with_values(values, **{"loadtest.mode": "job"}))
    (job,) = find(plain, "Job")
    assert "annotations" not in job["metadata"] and job["metadata"]["name"].endswith("-loadtest-1")
    assert find(render({}), "Job") == []


def test_engine_flags_exist_in_the_engines() -> None:
    """Flags only the chart adds (tensor parallelism) included: SGLang 0.5.14's flag set, vLLM 0.32's parser."""
    data = json.loads(
        (ROOT / "tests" / "data" / "sglang_server_args_0.5.14.json").read_text(encoding="utf-8")
    )
    tree = {"numSteps": 5, "eagleTopk": 8, "numDraftTokens": 32}
    sglang = engine_flags(with_values({}, **{"engine.gpus": 2, "speculation.sglang": tree}))
    assert sglang.pop("--tp-size") == "2"  # SGLang's ServerArgs.tp_size; not in the extracted flag subset
    assert set(sglang) <= set(data["flags"]), set(sglang) - set(data["flags"])
    assert sglang["--speculative-algorithm"] in data["speculative_algorithms"]["names"]
    assert sglang["--tool-call-parser"] in data["tool_call_parsers"]["names"]

    pytest.importorskip("vllm")
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    known = {opt for action in parser._actions for opt in action.option_strings}
    for gpus in (0, 2):
        values = with_values(
            {}, **{"engine.type": "vllm", "engine.gpus": gpus, "engine.vllm.enforceEager": True}
        )
        argv = container(engine_deployments(render(values))["main"])["args"]
        assert {a for a in argv if a.startswith("--")} <= known
        args = parser.parse_args(argv)
        validate_parsed_serve_args(args)
        assert args.tensor_parallel_size == max(gpus, 1)
        assert args.speculative_config["num_speculative_tokens"] == 3
