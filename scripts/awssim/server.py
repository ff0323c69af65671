#!/usr/bin/env python3
"""awssim: a local AWS simulator for ecrdiag's tests. One loopback HTTP port serves STS,
ECR, Organizations, the ECR registry (/v2/, chosen by Host header) and the S3 layer bucket,
with SigV4 verification, IAM policy evaluation, fault injection and a JSON-lines log.
With --tls-cert/--tls-key the port speaks HTTPS instead (testca.py makes the certificates).

  python3 scripts/awssim/server.py --scenario fixtures/scenarios/seed.json \
      [--port 0] [--log FILE] [--fault JSON]... [--tls-cert FILE --tls-key FILE]

prints "READY <port>" once listening and stops cleanly on SIGTERM or SIGINT. Python 3
standard library only; the scenario format is in scripts/awssim/README.md.
"""

import argparse
import base64
import email.utils
import json
import os
import re
import select
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import awsapi  # noqa: E402
import metadata  # noqa: E402
import registry_v2  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import sigv4  # noqa: E402
import simstate  # noqa: E402
import testca  # noqa: E402
from awsapi import AwsError  # noqa: E402
from registry_v2 import Response  # noqa: E402

MAX_BODY_BYTES = 1 << 20       # bounded request bodies; ECR policies are 10 KB at most
SOCKET_TIMEOUT_S = 30          # a stalled client cannot hold a thread for ever
MAX_HANG_S = 600               # even a "hang" fault ends, so every thread exits
SKEW_LIMIT_S = 15 * 60         # SigV4 requests must be within 15 minutes of the server clock

# Authentication failures per protocol: (code, HTTP status). JSON services (Coral) answer
# 400, STS (query) 403; sources are next to the messages in awsapi.py and below.
AUTH_ERRORS = {
    # JSON: MissingAuthenticationTokenException 400; STS: 403 (AWS common errors pages).
    "missing": {"json": ("MissingAuthenticationTokenException", 400),
                "query": ("MissingAuthenticationToken", 403)},
    "incomplete": {"json": ("IncompleteSignatureException", 400),
                   "query": ("IncompleteSignature", 400)},
    # aws/aws-sdk-php#1114: ECR UnrecognizedClientException is a 400;
    # QT-DevOps/DevOpsIssues#989 and the brief: STS InvalidClientTokenId is a 403.
    "invalid_token": {"json": ("UnrecognizedClientException", 400),
                      "query": ("InvalidClientTokenId", 403)},
    # salesforce/multicloudj#608: JSON services ExpiredTokenException 400;
    # aws/aws-sdk-java-v2#1649, jenkinsci/ec2-plugin#1008: STS ExpiredToken 403.
    "expired_token": {"json": ("ExpiredTokenException", 400), "query": ("ExpiredToken", 403)},
    # upmc-enterprises/registry-creds#24 (ECR InvalidSignatureException, status code 400);
    # aws/aws-cli#6676, QT-DevOps/DevOpsIssues#989 (STS SignatureDoesNotMatch, 403).
    "bad_signature": {"json": ("InvalidSignatureException", 400),
                      "query": ("SignatureDoesNotMatch", 403)},
}

SERVICE_SCOPE = {"ecr": "ecr", "organizations": "organizations", "sts": "sts"}

# The layer bucket addressed virtual-hosted style, as ECR's pre-signed URLs name it
# (prod-REGION-starport-layer-bucket.s3.REGION.amazonaws.com: see testca.layer_host), with or
# without the port; the path is then the object key.
LAYER_HOST_RX = re.compile(r"^(?P<bucket>prod-(?P<region>[a-z0-9-]+)-starport-layer-bucket)"
                           r"\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?(?::\d+)?$", re.I)


def layer_bucket(host):
    """The layer bucket a virtual-hosted Host header names, or None."""
    m = LAYER_HOST_RX.match((host or "").strip())
    return m.group("bucket").lower() if m else None


def tls_context(cert_file, key_file):
    """The server side of HTTPS: TLS 1.2 and later, HTTP/1.1 over ALPN. The SNI a client sent
    is kept on its socket (awssim_sni) for the log."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])

    def on_sni(sock, server_name, _ctx):
        sock.awssim_sni = server_name
        return None

    ctx.sni_callback = on_sni
    return ctx


def _close_tls(conn):
    """Send close_notify without waiting for the client's (it may be gone), then close."""
    try:
        conn.settimeout(0.0)
        conn.unwrap()
    except (OSError, ValueError):
        pass
    try:
        conn.shutdown(socket.SHUT_WR)
    except (OSError, ValueError):
        pass
    conn.close()


class RequestTooLarge(Exception):
    pass


# ---- faults ----

class Faults:
    """The scenario's and the command line's fault list, with per-fault hit counters."""

    def __init__(self, specs):
        self.specs = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise ValueError("fault %d is not a JSON object" % i)
            kinds = [k for k in ("error", "delay_ms", "hang", "status") if k in spec]
            if not kinds:
                raise ValueError("fault %d has none of error, status, delay_ms, hang" % i)
            self.specs.append(dict(spec))
        self.hits = [0] * len(self.specs)
        self.lock = threading.Lock()

    def match(self, service, action, path, principal_names):
        """The first fault that matches and still has uses left, or None."""
        with self.lock:
            for i, f in enumerate(self.specs):
                if f.get("service") and f["service"] != service:
                    continue
                if f.get("action") and f["action"] != action:
                    continue
                if f.get("path_prefix") and not path.startswith(f["path_prefix"]):
                    continue
                if f.get("principal") and f["principal"] not in principal_names:
                    continue
                times = f.get("times")
                if times is not None and self.hits[i] >= int(times):
                    continue
                self.hits[i] += 1
                return f
        return None


def fault_error(service, fault):
    """The AwsError (or registry Response) a fault's error/status stands for, per protocol.

    Throttling differs by protocol: ECR ThrottlingException 400 (aws/amazon-ecs-agent#498),
    STS Throttling 400 (pcorliss/ruby_route_53#27 shows the query-protocol form),
    Organizations TooManyRequestsException, registry 429 TOOMANYREQUESTS "Rate exceeded"
    (ECR common-errors page, mitogen-hq/mitogen#790).
    """
    code = fault.get("error")
    status = int(fault.get("status", 500 if code in ("ServerException", "InternalFailure") else 400))
    throttle = code in ("ThrottlingException", "Throttling", "TooManyRequestsException", "throttle")
    if service == "registry":
        if throttle:
            return registry_v2.dist_error(fault.get("status", 429), "TOOMANYREQUESTS",
                                          fault.get("message", awsapi.MSG_RATE_EXCEEDED))
        return registry_v2.dist_error(status, code or "UNKNOWN",
                                      fault.get("message", "awssim: injected fault"))
    if service == "s3":
        return registry_v2._s3_error(status, code or "InternalError",
                                     fault.get("message", "We encountered an internal error. Please try again."))
    if throttle:
        code = {"sts": "Throttling", "organizations": "TooManyRequestsException"}.get(
            service, "ThrottlingException")
        return AwsError(code, fault.get("message", awsapi.MSG_RATE_EXCEEDED), int(fault.get("status", 400)))
    if code in ("ServerException", "InternalFailure", "ServiceException") or (code is None and status >= 500):
        code = {"sts": "InternalFailure", "organizations": "ServiceException"}.get(service, "ServerException")
        return AwsError(code, fault.get("message", "An internal error has occurred."), status)
    return AwsError(code or "InternalFailure", fault.get("message", "awssim: injected fault"), status)


# ---- the HTTP side ----

class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when a client opens dozens of connections
    # at once (ecrdiag asks every region in parallel), and each drop costs a 1 s retransmit.
    request_queue_size = 128

    def __init__(self, addr, state, faults, log_path, tls=None):
        super().__init__(addr, Handler)
        self.state = state
        self.faults = faults
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.stopping = threading.Event()
        self.imds = metadata.Imds()
        self.tls = tls  # an ssl.SSLContext for HTTPS, else None

    def finish_request(self, request, client_address):
        """With TLS, the handshake runs here, in the connection's own thread, so a client that
        stalls it holds up no one else; a failed handshake is logged as service "tls"."""
        if self.tls is None:
            return super().finish_request(request, client_address)
        t_start = time.time()
        request.settimeout(SOCKET_TIMEOUT_S)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError, ValueError) as e:
            self.log_record({"t_start": t_start, "t_end": time.time(), "service": "tls",
                             "action": "handshake", "method": None, "host": None, "path": None,
                             "status": None, "principal": None, "request_id": None,
                             "error_code": getattr(e, "reason", None) or type(e).__name__})
            return None
        try:
            return super().finish_request(conn, client_address)
        finally:
            _close_tls(conn)

    def log_record(self, rec):
        if not self.log_path:
            return
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, the body then waits for the
    # client's delayed ACK (~40 ms a request), which would distort every measured duration.
    disable_nagle_algorithm = True
    timeout = SOCKET_TIMEOUT_S

    def version_string(self):
        return "awssim"

    def date_time_string(self, timestamp=None):
        # The Date header follows the simulated clock, so clients that correct their clock
        # from it see the skew the scenario set.
        return email.utils.formatdate(self.server.state.now() if timestamp is None else timestamp,
                                      usegmt=True)

    def log_message(self, fmt, *args):
        pass  # the JSON-lines log replaces the default stderr access log

    def do_GET(self):
        self._dispatch()

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- plumbing --

    def _raw_target(self):
        # http.server decodes the request line as Latin-1; undo that for UTF-8 paths.
        target = self.path
        try:
            target = target.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        path, _, query = target.partition("?")
        return path, query

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = bytearray()
            while True:
                line = self.rfile.readline(256)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise RequestTooLarge()
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                if len(data) + size > MAX_BODY_BYTES:
                    raise RequestTooLarge()
                data += self.rfile.read(size)
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise RequestTooLarge()
        if n < 0 or n > MAX_BODY_BYTES:
            raise RequestTooLarge()
        return self.rfile.read(n) if n else b""

    def _send(self, resp, request_id=None):
        self.send_response(resp.status)
        names = {k.lower() for k, _ in resp.headers}
        for k, v in resp.headers:
            self.send_header(k, v)
        if request_id and "x-amzn-requestid" not in names:
            self.send_header("x-amzn-RequestId", request_id)
        length = resp.content_length if (self.command == "HEAD" and resp.content_length is not None) \
            else len(resp.body)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    def _hang(self):
        """Answer nothing until the client closes the connection (or the server stops)."""
        deadline = time.time() + MAX_HANG_S
        sock = self.connection
        tls = isinstance(sock, ssl.SSLSocket)
        if tls:
            sock.settimeout(0.2)
        while not self.server.stopping.is_set() and time.time() < deadline:
            try:
                if tls:
                    # TLS sockets cannot peek; reading is harmless, the connection closes after.
                    if sock.recv(4096) == b"":
                        break
                    continue
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        break
                    # More bytes from the client are left unread; do not spin on them.
                    self.server.stopping.wait(0.2)
            except socket.timeout:
                continue
            except (OSError, ValueError):
                break
        self.close_connection = True

    # -- dispatch --

    def _dispatch(self):
        t_start = time.time()
        path, query = self._raw_target()
        rec = {"t_start": t_start, "method": self.command, "host": self.headers.get("Host"),
               "path": path, "service": None, "action": None, "principal": None,
               "status": None, "error_code": None}
        if isinstance(self.connection, ssl.SSLSocket):
            rec["sni"] = getattr(self.connection, "awssim_sni", None)
        request_id = awsapi.new_request_id()
        resp = None
        try:
            try:
                body = self._read_body()
            except RequestTooLarge:
                self.close_connection = True
                body = None
            except (socket.timeout, ConnectionError):
                # The client promised more body than it sent; nobody is left to answer.
                self.close_connection = True
                rec["error_code"] = "client_timeout"
                rec["t_end"] = time.time()
                self.server.log_record(rec)
                return
            bucket = layer_bucket(self.headers.get("Host"))
            container = metadata.container_spec(self.server.state, path) if bucket is None else None
            if bucket is not None:
                # Virtual-hosted layer URL: rebuilt path-style, which the signature covers. A
                # path that already names the bucket is taken as path-style (lenient, unlike S3).
                if not path.startswith("/%s/" % bucket):
                    path = "/" + bucket + path
                resp = self._layer(path, query, body, rec)
            elif container is not None:
                resp = self._metadata("container", "GetCredentials", path, rec,
                                      lambda: metadata.handle_container(
                                          self.server.state, container, self.command, self.headers))
            elif path.startswith("/latest/"):
                action = "PutToken" if path == metadata.IMDS_TOKEN_PATH else (
                    "GetCredentials" if path.startswith(metadata.IMDS_CREDS_PREFIX) and
                    path != metadata.IMDS_CREDS_PREFIX else "GetRoleName"
                    if path == metadata.IMDS_CREDS_PREFIX else "GetMetadata")
                resp = self._metadata("imds", action, path, rec,
                                      lambda: self.server.imds.handle(
                                          self.server.state, self.command, path, self.headers))
            elif path == metadata.SSO_PATH:
                resp = self._metadata("sso", "GetRoleCredentials", path, rec,
                                      lambda: metadata.handle_sso(
                                          self.server.state, self.command, query, self.headers))
            elif path == "/v2" or path.startswith("/v2/"):
                resp = self._registry(path, query, body, rec)
            elif registry_v2.LAYER_RX.match(path) or path.startswith("/prod-"):
                resp = self._layer(path, query, body, rec)
            else:
                resp = self._api(path, query, body, rec, request_id)
        except Exception:  # the simulator must answer, not die, whatever comes in
            traceback.print_exc(file=sys.stderr)
            resp = Response(500, json.dumps({"__type": "ServerException",
                                             "message": "awssim internal error"}),
                            "application/x-amz-json-1.1", error_code="ServerException")
        try:
            if resp == "hang":
                rec["error_code"] = "hang"
                self._hang()
            else:
                rec["status"] = resp.status
                rec["error_code"] = resp.error_code
                if resp.principal and not rec.get("principal"):
                    rec["principal"] = resp.principal
                if resp.authz:
                    rec["authz"] = resp.authz
                self._send(resp, request_id)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        finally:
            rec["t_end"] = time.time()
            rec["request_id"] = request_id
            self.server.log_record(rec)

    def _apply_fault(self, service, action, path, names, rec):
        fault = self.server.faults.match(service, action, path, names)
        if fault is None:
            return None
        rec["fault"] = fault
        if fault.get("delay_ms"):
            self.server.stopping.wait(float(fault["delay_ms"]) / 1000.0)
        if fault.get("hang"):
            return "hang"
        if "error" in fault or "status" in fault:
            return fault_error(service, fault)
        return None

    def _metadata(self, service, action, path, rec, handle):
        """IMDS, container credentials and the SSO portal: faults, then the handler."""
        rec["service"] = service
        rec["action"] = action
        injected = self._apply_fault(service, action, path, set(), rec)
        if injected == "hang" or isinstance(injected, Response):
            return injected
        if isinstance(injected, AwsError):
            return Response(injected.status, json.dumps({"message": injected.message}),
                            "application/json", error_code=injected.code)
        return handle()

    def _registry(self, path, query, body, rec):
        state = self.server.state
        rec["service"] = "registry"
        rec["action"] = path
        if body is None:
            return registry_v2.dist_error(413, "SIZE_INVALID", "request body too large")
        # Faults match before authentication, on the token's principal when there is one.
        names = self._registry_principal_names(rec)
        injected = self._apply_fault("registry", path, path, names, rec)
        if injected == "hang":
            return injected
        if isinstance(injected, Response):
            return injected
        return registry_v2.handle(state, self.command, path, query, self.headers,
                                  self.client_address[0])

    def _registry_principal_names(self, rec):
        state = self.server.state
        auth = self.headers.get("Authorization") or ""
        try:
            cred = base64.b64decode(auth.split(" ", 1)[1]).decode()
            tok = state.lookup_token(cred.partition(":")[2])
        except Exception:
            tok = None
        if tok is None:
            return set()
        ident = state.scenario.identities.get(tok.identity_name)
        rec["principal"] = ident.arn if ident else None
        return {ident.name, ident.arn, ident.role_arn} - {None} if ident else set()

    def _layer(self, path, query, body, rec):
        rec["service"] = "s3"
        rec["action"] = {"GET": "GetObject", "HEAD": "HeadObject"}.get(self.command, self.command)
        injected = self._apply_fault("s3", rec["action"], path, set(), rec)
        if injected == "hang" or isinstance(injected, Response):
            return injected
        return registry_v2.handle_layer(self.server.state, self.command, path, query, self.headers)

    def _api(self, path, query, body, rec, request_id):
        state = self.server.state
        target = self.headers.get("X-Amz-Target")
        params = {}
        if target:
            prefix, _, op = target.partition(".")
            service = {awsapi.ECR_TARGET: "ecr", awsapi.ORGS_TARGET: "organizations"}.get(prefix)
            protocol = "json"
        else:
            service, protocol = "sts", "query"
            form = query
            ctype = (self.headers.get("Content-Type") or "").lower()
            if body and (not ctype or "x-www-form-urlencoded" in ctype):
                form = (form + "&" if form else "") + body.decode("utf-8", "replace")
            params = dict(urllib.parse.parse_qsl(form, keep_blank_values=True))
            op = params.get("Action")
        rec["service"] = service or "unknown"
        rec["action"] = op

        def err(e):
            return self._api_error(service or "ecr", protocol, e, request_id)

        if body is None:
            return err(AwsError("RequestEntityTooLargeException",
                                "Request body exceeds %d bytes" % MAX_BODY_BYTES, 413))
        if service is None:
            return err(AwsError("UnknownOperationException", "", 400))

        # Identify the caller (without trusting it yet) so faults can match on principal.
        auth_value = self.headers.get("Authorization")
        auth = None
        ident = None
        if auth_value:
            try:
                auth = sigv4.parse_authorization(auth_value)
                rec["access_key"] = auth["access_key"]  # an id, not a secret: helps read failures
                ident = state.scenario.by_key.get(auth["access_key"])
            except sigv4.AuthHeaderError:
                auth = None
        names = {ident.name, ident.arn, ident.role_arn} - {None} if ident else set()
        injected = self._apply_fault(service, op, path, names, rec)
        if injected == "hang":
            return injected
        if isinstance(injected, AwsError):
            return err(injected)

        unsigned = protocol == "query" and op in awsapi.STS_UNSIGNED_OPS and not auth_value
        if not unsigned:
            failure = self._authenticate(service, protocol, path, query, body, auth_value, auth,
                                         ident)
            if failure:
                return err(failure)
            rec["principal"] = ident.arn

        if protocol == "query":
            if not op:
                return err(AwsError("MissingAction", "Missing Action", 400))
            handler = awsapi.STS_OPS.get(op)
            if handler is None:
                return err(AwsError("InvalidAction", "Could not find operation %s for version %s"
                                    % (op, params.get("Version", "NO_VERSION_SPECIFIED")), 400))
        else:
            handler = (awsapi.ECR_OPS if service == "ecr" else awsapi.ORGS_OPS).get(op)
            if handler is None:
                return err(AwsError("UnknownOperationException", "", 400))
            try:
                params = json.loads(body.decode("utf-8")) if body.strip() else {}
            except ValueError:
                return err(AwsError("SerializationException",
                                    "Start of structure or map found where not expected.", 400))
        region = auth["region"] if auth else state.scenario.default_region
        call = awsapi.Call(state, ident, region, self.client_address[0], request_id)
        try:
            if service == "ecr":
                awsapi.validate_ecr_input(op, params)
            result = handler(call, params)
        except AwsError as e:
            resp = err(e)
            resp.authz = call.authz
            return resp
        if call.issued is not None:
            rec["issued"] = call.issued.arn  # the session's ARN, never its keys
        if protocol == "query":
            resp = Response(200, awsapi.sts_result_body(op, result, request_id), "text/xml")
        else:
            resp = Response(200, json.dumps(result), "application/x-amz-json-1.1")
        resp.authz = call.authz
        return resp

    def _authenticate(self, service, protocol, path, query, body, auth_value, auth, ident):
        """None if the request is properly signed by a live identity, else the AwsError."""
        def fail(kind, message):
            code, status = AUTH_ERRORS[kind][protocol]
            return AwsError(code, message, status)

        if not auth_value:
            return fail("missing", "Missing Authentication Token" if protocol == "json"
                        else "Request is missing Authentication Token")
        if auth is None:
            try:
                sigv4.parse_authorization(auth_value)
            except sigv4.AuthHeaderError as e:
                return fail("incomplete", str(e))
            return fail("incomplete", "Authorization header is not a SigV4 header")
        if auth["service"] != SERVICE_SCOPE[service]:
            return fail("bad_signature", "Credential should be scoped to correct service: '%s'. "
                        % SERVICE_SCOPE[service])
        if ident is None:
            return fail("invalid_token", awsapi.MSG_INVALID_TOKEN)
        if not self.server.state.scenario.region_enabled(ident.account, auth["region"]):
            # An opt-in region the account has not enabled does not know its keys: ECR (JSON)
            # UnrecognizedClientException 400, STS InvalidClientTokenId 403, the same text
            # (epsagon/clear-lambda-storage#9 for ap-east-1, remotion-dev/
            # github-unwrapped-2022#34 for STS in eu-south-1, brefphp/extra-php-extensions#384).
            return fail("invalid_token", awsapi.MSG_INVALID_TOKEN)
        token = self.headers.get("X-Amz-Security-Token")
        if (ident.session_token or None) != (token or None):
            return fail("invalid_token", awsapi.MSG_INVALID_TOKEN)
        state = self.server.state
        now = state.now()
        if ident.expires is not None and now >= ident.expires:
            return fail("expired_token", awsapi.MSG_EXPIRED_TOKEN)
        pairs = list(self.headers.items())
        amz_date = sigv4.request_amz_date(pairs)
        t_req = sigv4.parse_amz_date(amz_date) if amz_date else None
        if t_req is None:
            return fail("incomplete", "Authorization header requires existence of either a "
                        "'X-Amz-Date' or a 'Date' header. Authorization=%s" % auth_value)
        # Text: upmc-enterprises/registry-creds#24 (ECR), aws/aws-cli#6676 (STS) for the
        # past; QT-DevOps/DevOpsIssues#989 for the future ("Signature not yet current").
        if t_req < now - SKEW_LIMIT_S:
            return fail("bad_signature", "Signature expired: %s is now earlier than %s (%s - 15 min.)"
                        % (amz_date, sigv4.format_amz_date(now - SKEW_LIMIT_S),
                           sigv4.format_amz_date(now)))
        if t_req > now + SKEW_LIMIT_S:
            return fail("bad_signature", "Signature not yet current: %s is still later than %s "
                        "(%s + 15 min.)" % (amz_date, sigv4.format_amz_date(now + SKEW_LIMIT_S),
                                            sigv4.format_amz_date(now)))
        if auth["date"] != amz_date[:8]:
            return fail("bad_signature", "Date in Credential scope does not match YYYYMMDD from "
                        "ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'."
                        % (auth["date"], amz_date[:8], amz_date))
        ok, _ = sigv4.verify(self.command, path, query, pairs, body, auth, ident.secret_access_key)
        if not ok:
            return fail("bad_signature", awsapi.MSG_BAD_SIGNATURE)
        return None

    def _api_error(self, service, protocol, e, request_id):
        if protocol == "query":
            resp = Response(e.status, awsapi.sts_error_body(e, request_id), "text/xml")
        else:
            resp = Response(e.status, awsapi.json_error_body(service, e),
                            "application/x-amz-json-1.1")
        resp.error_code = e.code
        return resp


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Local AWS simulator (STS, ECR, Organizations, "
                                 "ECR registry) for ecrdiag tests.")
    ap.add_argument("--scenario", required=True, help="scenario JSON file")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--secrets-log", metavar="FILE",
                    help="append every secret made up at run time (registry passwords, STS "
                         "session keys, IMDS tokens) as JSON lines, for leak tests")
    ap.add_argument("--fault", action="append", default=[], metavar="JSON",
                    help="fault to inject, appended to the scenario's faults (repeatable)")
    ap.add_argument("--tls-cert", metavar="FILE",
                    help="serve HTTPS with this PEM certificate (chain); needs --tls-key")
    ap.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        scen = scenario_mod.load(args.scenario)
    except scenario_mod.ScenarioError as e:
        print("awssim: %s" % e, file=sys.stderr)
        return 2
    specs = list(scen.faults)
    for text in args.fault:
        try:
            specs.append(json.loads(text))
        except ValueError as e:
            print("awssim: --fault %r is not JSON: %s" % (text, e), file=sys.stderr)
            return 2
    try:
        faults = Faults(specs)
    except ValueError as e:
        print("awssim: %s" % e, file=sys.stderr)
        return 2
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        print("awssim: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls_cert:
        try:
            tls = tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            print("awssim: cannot load --tls-cert/--tls-key: %s" % e, file=sys.stderr)
            return 2
    state = simstate.SimState(scen)
    state.secrets_log = args.secrets_log
    try:
        server = SimServer((args.host, args.port), state, faults, args.log, tls)
    except OSError as e:
        print("awssim: cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 2
    port = server.server_address[1]
    state.base_url = "%s://%s:%d" % ("https" if tls else "http", args.host, port)
    if tls:
        # Layer URLs (GetDownloadUrlForLayer, the registry's 307) name the bucket's own host,
        # https://BUCKET.s3.REGION.amazonaws.com:PORT/KEY?...; the query, signature included,
        # is the path-style one, which _dispatch rebuilds from the Host.
        state.layer_host_url = lambda region: "https://%s:%d" % (testca.layer_host(region), port)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               name="awssim-serve")
    serving.start()
    print("READY %d" % port, flush=True)
    try:
        while not stop.wait(0.1):
            if not serving.is_alive():
                break
    finally:
        server.stopping.set()
        server.shutdown()
        serving.join(5)
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
