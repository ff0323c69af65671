#!/usr/bin/env python3
"""A minimal SigV4 client for the AWS simulator (and in principle for AWS itself), used by
the demo and the tests to act as an identity, e.g. account A's admin applying a fix:

  python3 scripts/awssim/client.py [--region R] [--endpoint URL] ecr SetRepositoryPolicy \
      '{"registryId": "632000001762", "repositoryName": "...", "policyText": "..."}'

Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the
region from --region, AWS_REGION or AWS_DEFAULT_REGION; the endpoint from --endpoint or
AWS_ENDPOINT_URL. Prints the JSON answer and exits 0; on an AWS error prints
"__type: message" to stderr and exits 1; on a usage or connection problem exits 2.
Standard library only; it shares the signing code with the simulator (sigv4.py).
"""

import argparse
import http.client
import json
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402

JSON_TARGETS = {"ecr": "AmazonEC2ContainerRegistry_V20150921",
                "organizations": "AWSOrganizationsV20161128"}


def _xml_to_obj(elem):
    children = list(elem)
    if not children:
        return elem.text or ""
    out = {}
    for c in children:
        tag = c.tag.split("}", 1)[-1]
        val = _xml_to_obj(c)
        if tag == "member":
            out.setdefault("_list", []).append(val)
        else:
            out[tag] = val
    return out.get("_list", out) if set(out) == {"_list"} else out


def build_request(service, operation, params, region, endpoint, creds, epoch=None):
    """(body, signed headers) of one API call, signed with creds {key, secret, token}."""
    url = urllib.parse.urlsplit(endpoint)
    if service in JSON_TARGETS:
        body = json.dumps(params).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": "%s.%s" % (JSON_TARGETS[service], operation)}
    elif service == "sts":
        form = {"Action": operation, "Version": "2011-06-15"}
        form.update({k: str(v) for k, v in params.items()})
        body = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    else:
        raise ValueError("unknown service %r (ecr, organizations, sts)" % service)
    headers["Host"] = url.netloc
    signed = sigv4.sign("POST", endpoint.rstrip("/") + "/", headers, body, creds["key"],
                        creds["secret"], region, service, creds.get("token"), epoch)
    return body, signed


def send_raw(endpoint, body, headers, timeout_s=30):
    """POST / with exactly these headers; returns (status, header dict lower-cased, body)."""
    url = urllib.parse.urlsplit(endpoint)
    conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(url.hostname, url.port, timeout=timeout_s)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def parse_answer(service, operation, status, data):
    """(parsed body, error) where error is (code, message) or None."""
    if service == "sts":
        obj = _xml_to_obj(ET.fromstring(data))
        if status >= 300:
            err = obj.get("Error", {}) if isinstance(obj, dict) else {}
            return obj, (err.get("Code", "Unknown"), err.get("Message", ""))
        result = obj.get(operation + "Result", obj) if isinstance(obj, dict) else obj
        return result, None
    obj = json.loads(data.decode() or "{}")
    if status >= 300:
        code = obj.get("__type", "Unknown").split("#")[-1]
        return obj, (code, obj.get("message", obj.get("Message", "")))
    return obj, None


def call(service, operation, params, region, endpoint, creds, timeout_s=30):
    """(status, parsed_body, error) where error is (code, message) or None."""
    body, headers = build_request(service, operation, params, region, endpoint, creds)
    status, _, data = send_raw(endpoint, body, headers, timeout_s)
    obj, err = parse_answer(service, operation, status, data)
    return status, obj, err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds")
    ap.add_argument("service", choices=sorted(list(JSON_TARGETS) + ["sts"]))
    ap.add_argument("operation")
    ap.add_argument("params", nargs="?", default="{}", help="request members as JSON")
    args = ap.parse_args(argv)
    if not args.region or not args.endpoint:
        print("client.py: need --region/AWS_REGION and --endpoint/AWS_ENDPOINT_URL", file=sys.stderr)
        return 2
    creds = {"key": os.environ.get("AWS_ACCESS_KEY_ID"),
             "secret": os.environ.get("AWS_SECRET_ACCESS_KEY"),
             "token": os.environ.get("AWS_SESSION_TOKEN")}
    if not creds["key"] or not creds["secret"]:
        print("client.py: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", file=sys.stderr)
        return 2
    try:
        params = json.loads(args.params)
    except ValueError as e:
        print("client.py: params are not JSON: %s" % e, file=sys.stderr)
        return 2
    try:
        _, obj, err = call(args.service, args.operation, params, args.region, args.endpoint,
                           creds, args.timeout)
    except (OSError, http.client.HTTPException, ValueError, ET.ParseError) as e:
        print("client.py: %s" % e, file=sys.stderr)
        return 2
    if err:
        print("%s: %s" % err, file=sys.stderr)
        return 1
    print(json.dumps(obj, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
