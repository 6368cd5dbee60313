"""The example app `make up` deploys: says hello, and which instance answered."""

import os
import socket

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting} from xae! (instance {socket.gethostname()})\n"


@app.get("/healthz")
def healthz() -> str:
    return "ok\n"
