"""textrnn serve: the API in-process, dynamic batching under concurrency, the options and the connection guards
against a real uvicorn server in a thread, and a real server process end to end."""

import asyncio
import http.client
import json
import math
import re
import signal
import socket
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

from helpers import make_texts  # noqa: E402
from serve_process import (get_text, multi_label_model, onnx_export, parse_response, post_json,  # noqa: E402
                           read_until_closed, running_server, server_in_thread)
from textrnn.cli import main  # noqa: E402
from textrnn.errors import ConfigError  # noqa: E402
from textrnn.explanations import explain  # noqa: E402
from textrnn.inference import classify_text, load  # noqa: E402
from textrnn.serve import ServeSettings, TextResult, create_app, serve  # noqa: E402
from textrnn.serve import docs as serve_docs  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def classifier(trained_run):
    return load(trained_run)


@pytest.fixture(scope="module")
def client(classifier):
    with TestClient(create_app(classifier, ServeSettings(max_inputs=8, max_body_bytes=4096))) as client:
        yield client


def assert_same_result(served, expected):
    """A served answer against classify_text's: the same labels in the same order, scores within TOLERANCE."""
    if isinstance(expected, list):
        assert isinstance(served, list) and len(served) == len(expected)
        for one, other in zip(served, expected):
            assert_same_result(one, other)
        return
    assert served.keys() == expected.keys()
    if "scores" in expected:  # a multi-label model's {"labels", "scores"}
        assert served["labels"] == expected["labels"]
        return assert_same_result(served["scores"], expected["scores"])
    assert served["label"] == expected["label"]
    assert served["score"] == pytest.approx(expected["score"], abs=TOLERANCE)


@pytest.mark.parametrize("body", [
    {"inputs": "a great and charming film"},
    {"inputs": "a dull film", "top_k": 2},
    {"inputs": "fine", "top_k": None},
    {"inputs": ["great", "awful", ""], "top_k": 1},
    {"inputs": ["great", "tedious story"], "top_k": None},
    {"inputs": []},
])
def test_predict_has_classify_texts_shapes(client, classifier, body):
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    assert_same_result(response.json(), classify_text(body["inputs"], classifier, top_k=body.get("top_k", 1)))


def test_response_model_takes_multi_label_results():
    results = TypeAdapter(TextResult | list[TextResult])
    multi = {"labels": ["joy"], "scores": [{"label": "joy", "score": 0.9}, {"label": "anger", "score": 0.1}]}
    assert results.validate_python([multi, multi]) == [results.validate_python(multi)] * 2
    assert results.dump_python(results.validate_python(multi)) == multi


BAD_REQUESTS = [  # body, status, error_type, words the message must hold
    (b'{"inputs": 5}', 422, "validation_error", ["inputs"]),
    (b'{"text": "great"}', 422, "validation_error", ["inputs: Field required", "text"]),
    (b'{"inputs": ["great", 3]}', 422, "validation_error", ["inputs", "1"]),
    (b'{"inputs": "great", "top_k": -1}', 422, "validation_error", ["top_k", "0 or more", "every label"]),
    (b'{"inputs": "great", "top_k": "all"}', 422, "validation_error", ["top_k", '"all"']),
    (b'{"inputs": "great", "top_k": 2.5}', 422, "validation_error", ["top_k", "whole number"]),
    (b'{"inputs": "great", "threshold": 1.5}', 422, "validation_error", ["threshold", "0 to 1", "1.5"]),
    (b'{"inputs": "great", "parameters": {"top_k": -2}}', 422, "validation_error", ["parameters.top_k", "-2"]),
    (b'{"inputs": "great", "top_k": 2, "parameters": {"top_k": 2}}', 422, "validation_error",
     ["top_k", "parameters", "not both"]),
    (b'{"inputs": "great", "parameters": {"function_to_apply": "none"}}', 422, "validation_error",
     ["parameters.function_to_apply"]),
    (b'{"inputs": "\\ud800 great"}', 422, "invalid_input", ["inputs", "lone surrogate"]),
    (b'{"inputs": ["fine", "\\udfff"]}', 422, "invalid_input", ["inputs", "index 1", "lone surrogate"]),
    (b'{"inputs": "caf\xe9"}', 400, "invalid_encoding", ["UTF-8", "0xe9"]),
    (b'{"inputs": "great"', 400, "invalid_json", ["JSON"]),
    (json.dumps({"inputs": ["a"] * 9}).encode(), 413, "too_many_inputs", ["9", "--max-inputs"]),
    (json.dumps({"inputs": "a" * 5000}).encode(), 413, "body_too_large", ["--max-body-bytes"]),
]


# pydantic's names for the members of a union: "top_k.constrained-int", "top_k.literal['auto']", "inputs.list[str]"
PYDANTIC_INTERNALS = r"constrained-|literal\[|list\[str\]|\.str:|\.int:|Input should be"


@pytest.mark.parametrize("body, status, error_type, words", BAD_REQUESTS)
def test_bad_requests_get_a_json_error_and_the_server_goes_on(client, classifier, body, status, error_type, words):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    answer = response.json()
    assert answer["error_type"] == error_type
    for word in words:
        assert word in answer["error"]
    assert not re.search(PYDANTIC_INTERNALS, answer["error"])
    after = client.post("/predict", json={"inputs": "great"})
    assert after.status_code == 200
    assert_same_result(after.json(), classify_text("great", classifier))


def test_body_size_is_counted_not_taken_from_content_length(client):
    chunks = (b'{"inputs": "' + b"a" * 1000 + b'"' if i == 0 else b" " * 1000 for i in range(6))  # chunked, no length
    response = client.post("/predict", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error_type"] == "body_too_large"
    declared = client.post("/predict", content=b"{}", headers={"content-type": "application/json",
                                                               "content-length": "999999"})
    assert declared.status_code == 413


def test_a_form_body_says_to_send_json(client):
    response = client.post("/predict", content=b'{"inputs": "great"}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422 and "Content-Type: application/json" in response.json()["error"]


def test_unknown_route_and_method_are_json_errors(client):
    assert client.get("/nowhere").json() == {"error": "Not Found", "error_type": "http_error"}
    assert client.get("/predict").status_code == 405


def test_info_health_docs(client, classifier):
    info = client.get("/info").json()
    assert info["labels"] == classifier.labels
    assert info["max_length"] == classifier.tokenizer_config.max_length
    assert info["tokenizer"] == classifier.tokenizer_config.kind
    assert info["model_settings"] == classifier.config["model"]
    assert client.get("/health").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/explain", "/info", "/health", "/metrics"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_explain_answers_what_explain_gives(client, classifier):
    text = "a charming film with a tedious ending"
    served = client.post("/explain", json={"inputs": text, "label": "neg"}).json()
    expected = explain(text, classifier, label="neg")
    assert (served["label"], served["method"], served["text"]) == ("neg", expected["method"], text)
    assert [(t["token"], t["start"], t["end"]) for t in served["tokens"]] == \
        [(t["token"], t["start"], t["end"]) for t in expected["tokens"]]
    assert [t["score"] for t in served["tokens"]] == pytest.approx([t["score"] for t in expected["tokens"]], abs=1e-4)
    unknown = client.post("/explain", json={"inputs": text, "label": "nope"})
    assert unknown.status_code == 422 and unknown.json()["error_type"] == "invalid_input"
    surrogate = client.post("/explain", content=b'{"inputs": "\\ud800"}', headers={"content-type": "application/json"})
    assert surrogate.status_code == 422 and "lone surrogate" in surrogate.json()["error"]


def test_page_is_served_with_nothing_from_outside(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="predicted-label"' in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//""", page.text)


def metric_value(metrics: str, name: str) -> float:
    return float(re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE).group(1))


def test_concurrent_requests_share_passes_and_each_gets_its_own_answer(classifier):
    app = create_app(classifier, ServeSettings(max_batch_size=16, batch_wait_ms=50))
    texts = [text for text, _ in make_texts(48, seed=7)]
    bodies = [{"inputs": text, "top_k": None if i % 3 == 0 else 1} for i, text in enumerate(texts)]
    bodies.append({"inputs": texts[:5], "top_k": 2})

    async def post_all():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://textrnn") as client:
                responses = await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))
                return responses, (await client.get("/metrics")).text

    responses, metrics = asyncio.run(post_all())
    for body, response in zip(bodies, responses):
        assert response.status_code == 200
        assert_same_result(response.json(), classify_text(body["inputs"], classifier, top_k=body["top_k"]))
    passes = metric_value(metrics, "textrnn_batch_size_count")
    assert metric_value(metrics, "textrnn_batch_size_sum") == 48 + 5
    assert passes < len(bodies)  # some passes held several requests
    assert metric_value(metrics, 'textrnn_batch_size_bucket{le="1.0"}') < passes
    assert metric_value(metrics, 'textrnn_requests_total{route="/predict",status="200"}') == len(bodies)


def test_without_batching_the_answers_are_the_same(classifier):
    with TestClient(create_app(classifier, ServeSettings(batching=False))) as client:
        body = {"inputs": ["great", "a dull film"], "top_k": None}
        assert_same_result(client.post("/predict", json=body).json(), classify_text(body["inputs"], classifier, None))


# ---------------------------------------------------------------- top_k and threshold, flat or in "parameters"

@pytest.fixture(scope="module")
def multi_classifier(tmp_path_factory):
    return load(multi_label_model(tmp_path_factory))


@pytest.mark.parametrize("settings", [ServeSettings(), ServeSettings(batching=False)], ids=["batching", "no-batching"])
def test_top_k_0_means_every_label_as_on_the_command_line(classifier, settings):
    with TestClient(create_app(classifier, settings)) as client:
        for inputs in ("a great film", ["great", "a dull film"]):
            every = classify_text(inputs, classifier, top_k=None)
            for body in ({"inputs": inputs, "top_k": 0}, {"inputs": inputs, "parameters": {"top_k": 0}}):
                response = client.post("/predict", json=body)
                assert response.status_code == 200, response.json()
                assert_same_result(response.json(), every)


@pytest.mark.parametrize("settings", [ServeSettings(), ServeSettings(batching=False)], ids=["batching", "no-batching"])
def test_the_hugging_face_shape_and_a_threshold_answer_as_classify_text(classifier, multi_classifier, settings):
    texts = ["a great and charming film", "a dull film", "the plot"]
    for model in (classifier, multi_classifier):
        probs = model.predict_proba(texts)
        threshold = float(np.sort(probs, axis=None)[probs.size // 2])  # some labels pass it, others not
        with TestClient(create_app(model, settings)) as client:
            for top_k in (1, 2, None):
                expected = classify_text(texts, model, top_k=top_k, threshold=threshold)
                flat = client.post("/predict", json={"inputs": texts, "top_k": top_k, "threshold": threshold})
                nested = client.post("/predict", json={"inputs": texts, "parameters": {"top_k": top_k,
                                                                                       "threshold": threshold}})
                assert flat.status_code == nested.status_code == 200, flat.json()
                assert flat.json() == nested.json()
                assert_same_result(flat.json(), expected)
                for row, answer in zip(probs, flat.json()):  # only labels scoring at least the threshold
                    chosen = answer["labels"] if isinstance(answer, dict) else [one["label"] for one in answer]
                    passing = {label for label, score in zip(model.labels, row) if score >= threshold}
                    assert set(chosen) <= passing and (top_k is not None or set(chosen) == passing)
            plain = client.post("/predict", json={"inputs": texts[0], "parameters": {}})
            assert_same_result(plain.json(), classify_text(texts[0], model))


def test_info_gives_a_multi_label_models_thresholds(client, multi_classifier):
    assert client.get("/info").json()["thresholds"] is None  # single-label: none
    with TestClient(create_app(multi_classifier)) as multi:
        info = multi.get("/info").json()
    assert list(info["thresholds"]) == multi_classifier.labels
    assert list(info["thresholds"].values()) == pytest.approx(multi_classifier.thresholds.tolist(), abs=0)


# ---------------------------------------------------------------- an exported model; pages with nothing from outside

def test_an_exported_model_is_explained_by_occlusion_without_asking(trained_run, classifier, tmp_path_factory):
    onnx = load(onnx_export(tmp_path_factory, trained_run))
    text = "a charming film with a tedious ending"
    with TestClient(create_app(onnx)) as client:
        served = client.post("/explain", json={"inputs": text})
        assert served.status_code == 200, served.json()
        assert served.json()["method"] == "occlusion"
        expected = explain(text, classifier, method="occlusion")  # the PyTorch model's, from the same weights
        assert [t["score"] for t in served.json()["tokens"]] == pytest.approx([t["score"] for t in expected["tokens"]],
                                                                              abs=1e-4)
        refused = client.post("/explain", json={"inputs": text, "method": "integrated_gradients"})
    assert refused.status_code == 422 and refused.json()["error_type"] == "invalid_input"
    assert "method='occlusion' (textrnn explain --method occlusion)" in refused.json()["error"]
    with TestClient(create_app(classifier)) as client:  # a PyTorch model keeps Integrated Gradients
        assert client.post("/explain", json={"inputs": text}).json()["method"] == "integrated_gradients"


# a URL to any host but this server (TestClient's), or an asset with a protocol-relative address
OTHER_HOSTS = re.compile(r"""https?://(?!testserver[/:"'])|(src|href)\s*=\s*["']?//|url\(\s*["']?//""")


@pytest.mark.parametrize("assets", ["fastapi-offline", "none"])
def test_the_docs_and_the_page_ask_for_nothing_from_outside(classifier, monkeypatch, assets):
    if assets == "none":
        monkeypatch.setattr(serve_docs, "offline_assets", lambda: None)
    elif serve_docs.offline_assets() is None:
        pytest.skip("fastapi-offline is not installed")
    with TestClient(create_app(classifier)) as client:
        for path in ("/", "/docs", "/redoc"):
            page = client.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            found = OTHER_HOSTS.search(page.text)
            assert not found, (path, page.text[max(found.start() - 80, 0) : found.end() + 80] if found else "")
            assert "default-src 'self'" in page.headers["content-security-policy"]  # the browser refuses the rest
            if assets == "none" and path != "/":  # the routes, listed from the schema
                for route in ("/predict", "/explain", "/info", "/health", "/metrics"):
                    assert f'<code class="path">{route}</code>' in page.text
                assert "threshold" in page.text and "<script" not in page.text
        if assets == "fastapi-offline":
            for name in serve_docs.ASSETS:
                asset = client.get(f"{serve_docs.ASSETS_URL}/{name}")
                assert asset.status_code == 200 and len(asset.content) > 1000
            assert client.get(f"{serve_docs.ASSETS_URL}/../__init__.py").status_code == 404
            assert client.get(f"{serve_docs.ASSETS_URL}/core.py").status_code == 404


def read_response(sock: socket.socket) -> tuple[int, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read())


def send_headers_and_part(port: int, body: bytes, part: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:part]))
    return sock


def test_real_server_end_to_end(trained_run, classifier, tmp_path):
    with running_server(trained_run, "--max-inputs", "4", log_path=tmp_path / "serve.log") as (process, url):
        port = int(url.rsplit(":", 1)[1])
        status, answer = post_json(url + "/predict", {"inputs": ["great film", "awful plot"], "top_k": None})
        assert status == 200
        assert_same_result(answer, classify_text(["great film", "awful plot"], classifier, top_k=None))
        assert post_json(url + "/predict", b'{"inputs": "\xff"}')[0] == 400
        assert post_json(url + "/predict", {"inputs": ["a"] * 5})[0] == 413
        declared = send_headers_and_part(port, b"{}" + b" " * 2_000_000, 0)  # only the headers: a declared size
        assert read_response(declared)[0] == 413
        declared.close()

        # a client that sends half its body and stalls does not hold up another one
        slow_body = json.dumps({"inputs": "a slow but wonderful film"}).encode()
        slow = send_headers_and_part(port, slow_body, 10)
        status, answer = post_json(url + "/predict", {"inputs": "dreadful"})
        assert status == 200 and answer["label"] == classify_text("dreadful", classifier)["label"]
        slow.sendall(slow_body[10:])
        status, answer = read_response(slow)
        assert status == 200
        assert_same_result(answer, classify_text("a slow but wonderful film", classifier))
        slow.close()

        metrics = get_text(url + "/metrics")
        assert metric_value(metrics, 'textrnn_requests_total{route="/predict",status="413"}') == 2


def test_sigterm_lets_the_request_in_flight_finish(trained_run, classifier, tmp_path):
    with running_server(trained_run, log_path=tmp_path / "serve.log") as (process, url):
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"inputs": "a charming and moving story"}).encode()
        in_flight = send_headers_and_part(port, body, 5)
        time.sleep(0.5)  # let the server read the headers: the request is now in flight
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # shutting down: no new connections are taken
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                time.sleep(0.1)
            except OSError:
                break
        else:
            pytest.fail("the server still took connections 60 s after SIGTERM")
        assert process.poll() is None  # still up for the request in flight
        in_flight.sendall(body[5:])
        status, answer = read_response(in_flight)
        assert status == 200
        assert_same_result(answer, classify_text("a charming and moving story", classifier))
        in_flight.close()
        process.wait(timeout=60)
        assert process.returncode in (0, -signal.SIGTERM)
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log


# ---------------------------------------------------------------- options: refused before anything slow happens

BAD_OPTIONS = [  # serve()'s keyword arguments, words the one-line error must hold
    ({"port": 99999}, ["--port", "65,535", "99999"]),
    ({"port": -1}, ["--port"]),
    ({"port": 8080.5}, ["--port"]),
    ({"host": ""}, ["--host"]),
    ({"host": "no-such-host.invalid"}, ["--host", "no-such-host.invalid", "resolve"]),
    ({"host": "192.0.2.1"}, ["--host", "not an address of this machine"]),  # TEST-NET-1: never a local address
    ({"threads": 0}, ["--threads"]),
    ({"threads": 100_000}, ["--threads", "256"]),
    ({"settings": ServeSettings(batch_wait_ms=math.nan)}, ["--batch-wait-ms", "finite", "nan"]),
    ({"settings": ServeSettings(batch_wait_ms=math.inf)}, ["--batch-wait-ms", "inf"]),
    ({"settings": ServeSettings(batch_wait_ms=-1)}, ["--batch-wait-ms"]),
    ({"settings": ServeSettings(batch_wait_ms=5000)}, ["--batch-wait-ms", "1000"]),
    ({"settings": ServeSettings(max_batch_size=0)}, ["--max-batch-size"]),
    ({"settings": ServeSettings(max_batch_size=10**9)}, ["--max-batch-size", "4,096"]),
    ({"settings": ServeSettings(max_body_bytes=0)}, ["--max-body-bytes"]),
    ({"settings": ServeSettings(max_inputs=0)}, ["--max-inputs"]),
    ({"settings": ServeSettings(max_inputs=2.5)}, ["--max-inputs", "whole number"]),
    ({"settings": ServeSettings(header_timeout_s=math.inf)}, ["ServeSettings.header_timeout_s"]),
    ({"settings": ServeSettings(max_connections=0)}, ["ServeSettings.max_connections"]),
]


@pytest.mark.parametrize("options, words", BAD_OPTIONS)
def test_serve_refuses_a_bad_option_naming_its_flag_before_loading(tmp_path, options, words):
    with pytest.raises(ConfigError) as refused:  # a missing model directory: the option must be refused first
        serve(tmp_path / "no-model", **options)
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_the_command_line_prints_a_bad_flag_as_one_line_and_exits_2(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "no-model"), "--batch-wait-ms", "nan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch-wait-ms" in err and "Traceback" not in err


@pytest.mark.parametrize("wait", [math.nan, math.inf])
def test_create_app_refuses_a_wait_that_would_hang_every_batch(classifier, wait):
    with pytest.raises(ConfigError, match="--batch-wait-ms"):
        create_app(classifier, ServeSettings(batch_wait_ms=wait))


def test_a_port_in_use_fails_in_one_line_before_the_model_loads(trained_run, monkeypatch, capsys):
    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the port was bound")

    monkeypatch.setattr("textrnn.serve.app.load", must_not_load)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        assert main(["serve", str(trained_run), "--port", str(port)]) == 2
    assert time.monotonic() - started < 5
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"--port {port}" in err and "already in use" in err


# ---------------------------------------------------------------- HEAD, and errors in the JSON contract

def test_head_works_wherever_get_does(client):
    for path in ("/", "/health", "/info", "/metrics", "/openapi.json", "/docs"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.content == b""
    assert client.head("/predict").status_code == 405  # as GET /predict is
    assert client.head("/nowhere").status_code == 404


def test_an_unexpected_failure_is_a_json_500_and_the_worker_goes_on(classifier, monkeypatch):
    real = classifier.probabilities
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a broken pass")
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "probabilities", fails_once)
    with TestClient(create_app(classifier), raise_server_exceptions=False) as client:
        failed = client.post("/predict", json={"inputs": "great"})
        assert failed.status_code == 500 and failed.json()["error_type"] == "internal_error"
        assert client.post("/predict", json={"inputs": "great"}).status_code == 200
        assert client.get("/health").status_code == 200


def test_a_stopped_batcher_is_unhealthy_and_predict_answers_503_not_never(classifier):
    app = create_app(classifier)

    async def after_the_worker_stops():
        async with app.router.lifespan_context(app):
            app.state.batcher.worker.cancel()
            await asyncio.sleep(0)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://textrnn") as client:
                return await asyncio.wait_for(asyncio.gather(client.get("/health"),
                                                             client.post("/predict", json={"inputs": "great"})), 2)

    health, predict = asyncio.run(after_the_worker_stops())
    assert health.status_code == predict.status_code == 503
    assert predict.json()["error_type"] == "unavailable"


# ---------------------------------------------------------------- every batcher setting answers, promptly

BATCHER_SETTINGS = {
    "wait-0": ServeSettings(batch_wait_ms=0),
    "wait-2": ServeSettings(batch_wait_ms=2),
    "wait-250": ServeSettings(batch_wait_ms=250),
    "wait-1000-the-most": ServeSettings(batch_wait_ms=1000, max_batch_size=64),
    "one-text-a-pass": ServeSettings(max_batch_size=1, batch_wait_ms=50),
    "no-batching": ServeSettings(batching=False),
}


@pytest.mark.parametrize("settings", BATCHER_SETTINGS.values(), ids=BATCHER_SETTINGS.keys())
def test_three_concurrent_requests_are_answered_within_2s_under_every_batcher_setting(classifier, settings):
    app = create_app(classifier, settings)
    bodies = [{"inputs": "a great film"}, {"inputs": ["dull", "fine"], "top_k": None}, {"inputs": "tedious"}]

    async def timed(client, body):
        started = time.perf_counter()
        response = await asyncio.wait_for(client.post("/predict", json=body), 2.0)  # a hang fails, not waits
        return response, time.perf_counter() - started

    async def two_rounds():  # the second starts after a pass that held several requests: the wait then applies
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://textrnn") as client:
                return [await asyncio.gather(*(timed(client, body) for body in bodies)) for _ in range(2)]

    for answers in asyncio.run(two_rounds()):
        for body, (response, seconds) in zip(bodies, answers):
            assert response.status_code == 200 and seconds < 2.0
            assert_same_result(response.json(), classify_text(body["inputs"], classifier, top_k=body.get("top_k", 1)))


# ---------------------------------------------------------------- the connection guards, on a real uvicorn server

GUARDED = ServeSettings(header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=0.5, max_connections=40,
                        max_header_bytes=4096)


@pytest.fixture(scope="module")
def guarded_port(classifier):
    with server_in_thread(create_app(classifier, GUARDED), GUARDED) as port:
        yield port


def connect(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def exchange(port: int, data: bytes) -> tuple[int, dict, bytes]:
    with connect(port, data) as sock:
        return parse_response(read_until_closed(sock))


def get_health(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def test_stalled_connections_are_cut_off_and_others_still_answered(guarded_port):
    stalls = {"silent": b"", "blank lines": b"\r\n\r", "half a request line": b"GET /hea",
              "half the headers": b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-"}
    started = time.monotonic()
    stalled = [(kind, connect(guarded_port, data)) for kind, data in stalls.items() for _ in range(6)]
    try:
        assert get_health(guarded_port) == 200  # answered while 24 connections stall
        for kind, sock in stalled:
            status_line = read_until_closed(sock)  # socket.timeout (10 s) if the server held it open
            if kind == "silent":
                assert status_line == b""  # nothing was asked: closed without an answer
            else:
                status, headers, body = parse_response(status_line)
                assert status == 408 and json.loads(body)["error_type"] == "header_timeout"
                assert headers["content-type"] == "application/json"
        assert time.monotonic() - started < 5  # each was cut off at its 0.5 s deadline, give or take a busy machine
    finally:
        for _, sock in stalled:
            sock.close()
    assert get_health(guarded_port) == 200


def test_a_stalled_body_gets_a_json_408(guarded_port):
    status, _, body = exchange(guarded_port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                             b"\r\nContent-Length: 40\r\n\r\n{\"inputs\": ")
    assert status == 408 and json.loads(body)["error_type"] == "body_timeout"


def test_headers_over_the_cap_get_a_json_431(guarded_port):
    status, _, body = exchange(guarded_port, b"GET /health HTTP/1.1\r\nX-Padding: " + b"a" * 5000)
    assert status == 431 and json.loads(body)["error_type"] == "headers_too_large"


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\x00\r\nHost: x\r\n\r\n",
    b"THIS IS NOT HTTP\r\n\r\n",
    b"GET / HTTP/1.1\r\nA header without a colon\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
])
def test_malformed_http_gets_the_json_error_contract(guarded_port, request_bytes):
    status, headers, body = exchange(guarded_port, request_bytes)
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error_type"] == "invalid_http"
    assert get_health(guarded_port) == 200


def test_a_body_broken_after_its_headers_closes_the_connection_without_an_answer(guarded_port):
    # the request is already with the app, whose answer could be under way: a 400 written now might cut into it
    with connect(guarded_port, b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"not-hex\r\n") as sock:
        raw = read_until_closed(sock)
    assert raw == b""
    assert get_health(guarded_port) == 200


def test_head_on_the_real_server_sends_headers_and_no_body(guarded_port):
    status, headers, body = exchange(guarded_port, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_past_max_connections_a_request_gets_a_json_503_at_once(classifier):
    settings = ServeSettings(max_connections=3, header_timeout_s=30)
    with server_in_thread(create_app(classifier, settings), settings) as port:
        idle = [connect(port) for _ in range(3)]
        try:
            time.sleep(0.2)  # let the server accept them
            status, headers, body = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 503 and json.loads(body)["error_type"] == "overloaded" and headers["retry-after"] == "1"
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert get_health(port) == 200
