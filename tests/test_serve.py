"""textrnn serve: the API in-process, dynamic batching under concurrency, and a real server process end to end."""

import asyncio
import http.client
import json
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
from serve_process import get_text, post_json, running_server  # noqa: E402
from textrnn.explain import explain  # noqa: E402
from textrnn.inference import classify_text, load  # noqa: E402
from textrnn.serve import ServeSettings, TextResult, create_app  # noqa: E402

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
    (b'{"inputs": "great", "top_k": 0}', 422, "validation_error", ["top_k"]),
    (b'{"inputs": "great", "top_k": "all"}', 422, "validation_error", ["top_k"]),
    (b'{"inputs": "\\ud800 great"}', 422, "invalid_input", ["inputs", "lone surrogate"]),
    (b'{"inputs": ["fine", "\\udfff"]}', 422, "invalid_input", ["inputs", "index 1", "lone surrogate"]),
    (b'{"inputs": "caf\xe9"}', 400, "invalid_encoding", ["UTF-8", "0xe9"]),
    (b'{"inputs": "great"', 400, "invalid_json", ["JSON"]),
    (json.dumps({"inputs": ["a"] * 9}).encode(), 413, "too_many_inputs", ["9", "--max-inputs"]),
    (json.dumps({"inputs": "a" * 5000}).encode(), 413, "body_too_large", ["--max-body-bytes"]),
]


@pytest.mark.parametrize("body, status, error_type, words", BAD_REQUESTS)
def test_bad_requests_get_a_json_error_and_the_server_goes_on(client, classifier, body, status, error_type, words):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    answer = response.json()
    assert answer["error_type"] == error_type
    for word in words:
        assert word in answer["error"]
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
