"""An OpenAI-compatible chat endpoint that answers by copying: the first sentence of the first numbered
evidence item in its prompt (``rag_fed.answers.prompts``), cited ``[1]``, then that of the second, cited
``[2]``. It streams a word every 20 ms, as a model would.

It stands in for a strong model: a copy passes the support check, so a site under ``answer`` egress
sends its own checked answer (and no passage text), which the chat then shows under that site's
citation, and the gateway's grounded lead arrives sentence by sentence before the evidence. Served from
a thread of the test process; the services call it over loopback.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["copying_model"]

_ITEM = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\n\nQuestion:|\Z)", re.S | re.M)
WORD_DELAY_S = 0.02


def copied_answer(prompt: str) -> str:
    sentences = []
    for number, text in _ITEM.findall(prompt)[:2]:
        first = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))[0].rstrip(".")
        sentences.append(f"{first} [{number}].")
    return " ".join(sentences) or "The evidence does not say."


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        prompt = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
        reply = copied_answer(prompt if isinstance(prompt, str) else "")
        base = {"id": "copy-1", "created": int(time.time()), "model": request.get("model", "copy")}
        if not request.get("stream"):
            body = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            }
            self._send(json.dumps(body).encode(), "application/json")
            return
        events = [{"role": "assistant", "content": ""}, *({"content": word} for word in re.findall(r"\S+\s*", reply))]
        chunk = {**base, "object": "chat.completion.chunk"}
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for delta in events:
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            self.wfile.write(f"data: {json.dumps({**chunk, 'choices': [choice]})}\n\n".encode())
            self.wfile.flush()
            time.sleep(WORD_DELAY_S)
        last = {"index": 0, "delta": {}, "finish_reason": "stop"}
        self.wfile.write(f"data: {json.dumps({**chunk, 'choices': [last]})}\n\ndata: [DONE]\n\n".encode())

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def copying_model() -> Iterator[str]:
    """Serve the copying model on a free loopback port; yields its ``/v1`` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
