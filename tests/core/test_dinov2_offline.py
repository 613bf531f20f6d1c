"""Without internet a hub model fails at once, with one clean message (it took ~26 s of Hub retries)."""
import socket
import time

import pytest

pytest.importorskip("transformers")
from balance_core import dinov2  # noqa: E402
from balance_core.errors import EmbedderError  # noqa: E402


def test_offline_mode_fails_at_once_with_a_clean_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: the model is not there
    start = time.monotonic()
    with pytest.raises(EmbedderError) as caught:
        dinov2.load_model("facebook/dinov2-small", dinov2.REVISIONS["facebook/dinov2-small"])
    assert time.monotonic() - start < 10  # the import of transformers included; the Hub is never asked
    message = str(caught.value)
    assert "HF_HUB_OFFLINE is set" in message and "local Hugging Face cache" in message
    assert ".." not in message and "descriptor" in message


def test_a_hub_that_does_not_answer_is_given_up_after_the_quick_check(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    def hang(*_args, **_kwargs):  # a name server that never answers: socket timeouts do not cover the lookup
        time.sleep(30)
        raise OSError("no answer")  # as a lookup that finally gives up

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    reason = dinov2.hub_unreachable(timeout=0.5)
    assert time.monotonic() - start < 2
    assert reason == "huggingface.co cannot be reached (no answer in 0.5 s)"


def test_a_reachable_hub_is_not_called_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        assert dinov2.hub_unreachable(timeout=2) == ""
    finally:
        server.close()


def test_an_error_message_quoted_in_a_sentence_keeps_one_full_stop():
    assert dinov2._clause(OSError("We couldn't connect.\nCheck your connection.")) == (
        "We couldn't connect. Check your connection")
