#!/usr/bin/env python3
# bench_tui_stream.py PORTFILE TOKENS RATE: a paced stand-in for the Anthropic API,
# for the TUI benchmark: every POST /v1/messages streams TOKENS text deltas at RATE a
# second (the real fake, tests/fake-anthropic, sends as fast as it can).
import http.server, json, sys, time

tokens, rate = int(sys.argv[2]), float(sys.argv[3])

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        def ev(name, data):
            self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
            self.wfile.flush()
        ev("message_start", {"type": "message_start", "message": {"id": "msg_b", "type": "message",
           "role": "assistant", "model": "m", "content": [], "stop_reason": None,
           "usage": {"input_tokens": 10, "output_tokens": 1}}})
        ev("content_block_start", {"type": "content_block_start", "index": 0,
           "content_block": {"type": "text", "text": ""}})
        for i in range(tokens):
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "word%d " % i + ("\n\n" if i % 40 == 39 else "")}})
            time.sleep(1.0 / rate)
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
           "usage": {"output_tokens": tokens}})
        ev("message_stop", {"type": "message_stop"})
        self.close_connection = True

s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.server_address[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
