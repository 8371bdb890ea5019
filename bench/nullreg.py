#!/usr/bin/env python3
"""A registry that does no work, for bench/registry: what skopeo costs on its own.

Serves one OCI layout read-only (GET /v2/, the manifest under any name and tag, blobs with
sendfile) and accepts pushes by discarding the bytes: no hashing, no disk, no verification.
No registry can push or pull faster than skopeo does against this one, so its times bound
the ratio any server can reach against another.

Usage: nullreg.py LAYOUT_DIR PORT
"""
import hashlib
import http.server
import json
import os
import re
import socketserver
import sys

root, port = sys.argv[1], int(sys.argv[2])
index = json.load(open(f"{root}/index.json"))
MANIFEST = index["manifests"][0]["digest"]
MANIFEST_TYPE = index["manifests"][0]["mediaType"]


def blob_path(digest):
    return f"{root}/blobs/sha256/{digest.split(':', 1)[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def drain(self):
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            got = self.rfile.read(min(left, 1 << 20))
            if not got:
                break
            left -= len(got)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/v2/":
            return self.reply(200, [("Content-Type", "application/json")], b"{}")
        if re.match(r"/v2/.+/manifests/[^/]+$", path):
            body = open(blob_path(MANIFEST), "rb").read()
            return self.reply(200, [("Content-Type", MANIFEST_TYPE), ("Docker-Content-Digest", MANIFEST)], body)
        m = re.match(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$", path)
        # Blobs exist only for pulls: a push (to a repository named push/...) must upload.
        if m and not m.group(1).startswith("push/") and os.path.exists(blob_path(m.group(2))):
            with open(blob_path(m.group(2)), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Docker-Content-Digest", m.group(2))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.flush()
                    self.connection.sendfile(f)
            return
        self.reply(404, [("Content-Type", "application/json")], b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')

    def session(self, code):
        self.drain()
        location = re.sub(r"/uploads/.*$", "/uploads/", self.path.split("?")[0]) + "s"
        self.reply(code, [("Location", location), ("Range", "0-0"), ("Docker-Upload-UUID", "s")])

    def do_POST(self):
        self.session(202)

    def do_PATCH(self):
        self.session(202)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if "/manifests/" in path:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        else:
            digest = re.search(r"digest=([^&]+)", self.path).group(1).replace("%3A", ":")
        self.reply(201, [("Docker-Content-Digest", digest), ("Location", path)])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", port), Handler).serve_forever()
