"""Drives `cdi serve`'s API with Debian's python3-kubernetes client and prints what it saw as JSON.

Usage: conformance.py KUBECONFIG SCENARIO NAMESPACE. Each scenario returns plain facts; the vitest
suite (test/apiserver/conformance.test.ts) asserts on them. A client-side failure exits non-zero.
"""
import base64
import json
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def failure(call):
    """The Kubernetes Status of a refused call, as the client raises it."""
    try:
        call()
    except ApiException as e:
        body = json.loads(e.body) if e.body else {}
        return {"status": e.status, "reason": body.get("reason"), "message": body.get("message"), "kind": body.get("kind")}
    return None


def crud(core, api, ns):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    secret = core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds", labels={"app": "cdi"}),
        string_data={"accessKeyId": "AKIA", "secretKey": "s3cr3t"}))
    read = core.read_namespaced_secret("creds", ns)
    replaced = core.replace_namespaced_secret("creds", ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds", resource_version=read.metadata.resource_version),
        data=read.data, string_data={"secretKey": "rotated"}))
    strategic = core.patch_namespaced_secret("creds", ns, {"stringData": {"region": "eu"}})
    json_patch = core.patch_namespaced_secret("creds", ns, [{"op": "add", "path": "/stringData", "value": {"token": "t"}}])
    merge = api.call_api(f"/api/v1/namespaces/{ns}/secrets/creds", "PATCH",
                         header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
                         body={"stringData": {"region": "us"}, "metadata": {"labels": {"patched": "merge"}}},
                         auth_settings=["BearerToken"], response_type="object", _return_http_data_only=True)
    raw = api.call_api(f"/api/v1/namespaces/{ns}/secrets/creds", "GET", auth_settings=["BearerToken"],
                       response_type="object", _return_http_data_only=True)
    decoded = {k: base64.b64decode(v).decode() for k, v in raw["data"].items()}
    bad_base64 = failure(lambda: core.create_namespaced_secret(ns, {"metadata": {"name": "bad"}, "data": {"k": "not base64!"}}))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="frozen"), data={"a": "1"}, immutable=True))
    immutable_data = failure(lambda: core.patch_namespaced_config_map("frozen", ns, {"data": {"a": "2"}}))
    immutable_flag = failure(lambda: core.patch_namespaced_config_map("frozen", ns, {"immutable": False}))
    relabel = core.patch_namespaced_config_map("frozen", ns, {"metadata": {"labels": {"still": "patchable"}}})
    core.delete_namespaced_secret("creds", ns)
    gone = failure(lambda: core.read_namespaced_secret("creds", ns))
    return {
        "createdData": sorted(secret.data.keys()),
        "createdHasStringData": secret.string_data is not None,
        "replacedSecretKey": base64.b64decode(replaced.data["secretKey"]).decode(),
        "strategicKeys": sorted(strategic.data.keys()),
        "jsonPatchKeys": sorted(json_patch.data.keys()),
        "mergeLabels": merge["metadata"].get("labels"),
        "storedData": decoded,
        "storedHasStringData": "stringData" in raw,
        "type": raw.get("type"),
        "badBase64": bad_base64,
        "badStored": failure(lambda: core.read_namespaced_secret("bad", ns)) is not None,
        "immutableData": immutable_data,
        "immutableFlag": immutable_flag,
        "relabeled": relabel.metadata.labels,
        "deleted": gone,
    }


def selectors(core, api, ns):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    for name, labels in [("a", {"env": "prod", "tier": "gold"}), ("b", {"env": "dev", "tier": "silver"}),
                         ("c", {"env": "test"}), ("d", {"env": "prod"})]:
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels)))

    def names(**kw):
        return [i.metadata.name for i in core.list_namespaced_config_map(ns, **kw).items]

    pages, token = [], None
    while True:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token) if token else core.list_namespaced_config_map(ns, limit=3)
        pages.append([i.metadata.name for i in page.items])
        token = page.metadata._continue
        if not token:
            break
    return {
        "equality": names(label_selector="env=prod"),
        "inequality": names(label_selector="env!=prod"),
        "setIn": names(label_selector="env in (dev,test)"),
        "setNotIn": names(label_selector="env notin (prod),tier"),
        "exists": names(label_selector="tier"),
        "notExists": names(label_selector="!tier"),
        "field": names(field_selector="metadata.name=b"),
        "fieldNot": names(field_selector="metadata.name!=b,metadata.namespace=" + ns),
        "combined": names(label_selector="env=prod", field_selector="metadata.name!=a"),
        "pages": pages,
        "badSelector": failure(lambda: core.list_namespaced_config_map(ns, label_selector="env in prod")),
        "badMatch": failure(lambda: core.list_namespaced_config_map(ns, resource_version_match="Exact")),
    }


def watching(core, api, ns):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    first = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1"), data={"v": "1"}))
    since = first.metadata.resource_version
    core.patch_namespaced_config_map("w1", ns, {"data": {"v": "2"}})
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w2")))
    core.delete_namespaced_config_map("w2", ns)
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=since, timeout_seconds=10):
        seen.append([event["type"], event["object"].metadata.name, (event["object"].data or {}).get("v")])
        if len(seen) == 3:
            w.stop()
    return {"events": seen}


def deleting(core, api, ns):
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def family(owner_name):
        owner = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=owner_name)))
        ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name=owner_name, uid=owner.metadata.uid)
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=owner_name + "-child", owner_references=[ref])))

    def exists(name):
        return failure(lambda: core.read_namespaced_config_map(name, ns)) is None

    family("orphan")
    family("foreground")
    family("background")
    core.delete_namespaced_config_map("orphan", ns, body=client.V1DeleteOptions(propagation_policy="Orphan"))
    # The typed client reads every delete reply as a Status; a Foreground delete answers the object itself.
    foreground = api.call_api(f"/api/v1/namespaces/{ns}/configmaps/foreground", "DELETE", query_params=[("propagationPolicy", "Foreground")],
                              auth_settings=["BearerToken"], response_type="object", _return_http_data_only=True)
    core.delete_namespaced_config_map("background", ns, body=client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=0))
    bad_policy = failure(lambda: core.delete_namespaced_config_map("orphan-child", ns, propagation_policy="Sometime"))
    dry = core.delete_namespaced_config_map("orphan-child", ns, dry_run="All")
    deadline = time.monotonic() + 20
    while any(exists(n) for n in ["orphan", "foreground", "foreground-child", "background", "background-child"]):
        if time.monotonic() > deadline:
            raise TimeoutError("garbage collection did not finish")
        time.sleep(0.05)
    return {
        "foregroundFinalizers": foreground["metadata"].get("finalizers"),
        "badPolicy": bad_policy,
        "dryRunStatus": dry.status,
        "orphanChildOwners": core.read_namespaced_config_map("orphan-child", ns).metadata.owner_references,
    }


def main():
    kubeconfig, scenario, ns = sys.argv[1:4]
    config.load_kube_config(config_file=kubeconfig)
    api = client.ApiClient()
    core = client.CoreV1Api(api)
    result = {"crud": crud, "selectors": selectors, "watch": watching, "delete": deleting}[scenario](core, api, ns)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
