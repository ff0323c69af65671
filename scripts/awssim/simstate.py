"""The simulator's run-time state shared by the API and registry front ends: the shifted
clock, issued registry tokens, repository lookup and the one authorisation entry point.

It ties the scenario model to the policy evaluator; it knows nothing of HTTP or of any
wire format, so both awsapi.py and registry_v2.py call it the same way.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time

import iampolicy
import scenario as scenario_mod

# What a V1 registry policy applies to (registry-permissions.html), lower-cased for matching.
V1_REGISTRY_ACTIONS = {"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"}


class Token:
    """What an ECR registry password stands for: who, which region, until when."""

    def __init__(self, identity_name, region, expires_at):
        self.identity_name = identity_name
        self.region = region
        self.expires_at = expires_at


class SimState:
    def __init__(self, scen):
        self.scenario = scen
        self.lock = threading.RLock()
        self.tokens = {}
        # Signs the pre-signed-looking layer URLs, so a tampered URL is refused as S3 would.
        self.url_secret = secrets.token_bytes(32)
        self.base_url = None  # http://127.0.0.1:PORT, set once the server listens
        self.secrets_log = None  # --secrets-log: where issued secrets go, for leak tests
        self.account_settings = {}  # (account, region, name) -> value set by PutAccountSetting

    def note_secret(self, kind, value):
        """Records a secret the simulator made up at run time (a registry password, an STS
        session's keys, an IMDS token) so a test can look for it in a client's output."""
        if not self.secrets_log or not value:
            return
        with self.lock:
            with open(self.secrets_log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"kind": kind, "value": value}) + "\n")

    def now(self):
        """Simulated time: the machine clock shifted by the scenario's clock_offset_s."""
        return time.time() + self.scenario.clock_offset_s

    # ---- registry tokens ----

    def issue_token(self, ident, region):
        """A new opaque registry password for ident in region; returns (password, expires_at).

        Real passwords are a base64 JSON envelope of about 2 KB; mimic the size and shape so
        clients size their buffers for the real thing.
        """
        expires_at = self.now() + self.scenario.token_ttl_s
        envelope = {
            "payload": base64.b64encode(secrets.token_bytes(1024)).decode(),
            "datakey": base64.b64encode(secrets.token_bytes(256)).decode(),
            "version": "2",
            "type": "DATA_KEY",
            "expiration": int(expires_at),
        }
        password = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
        with self.lock:
            self.tokens[password] = Token(ident.name, region, expires_at)
        self.note_secret("registry_password", password)
        return password, expires_at

    def lookup_token(self, password):
        with self.lock:
            return self.tokens.get(password)

    # ---- repositories ----

    def find_repo(self, account, region, name):
        with self.lock:
            return self.scenario.repositories.get((account, region, name))

    def repos_in(self, account, region):
        with self.lock:
            return sorted((r for (a, g, _), r in self.scenario.repositories.items()
                           if a == account and g == region), key=lambda r: r.name)

    @staticmethod
    def repo_arn(account, region, name):
        return "arn:%s:ecr:%s:%s:repository/%s" % (scenario_mod.partition_for(region), region,
                                                    account, name)

    # ---- authorisation ----

    def endpoint_for(self, ident, channel):
        """The VPC endpoint ident's request on channel ("ecr.api", "ecr.dkr") passes through,
        or None (STS and Organizations requests never do here)."""
        vid = getattr(ident, "via_vpc_endpoint", None)
        if not vid or channel is None:
            return None
        ep = self.scenario.vpc_endpoints.get(vid)
        return ep if ep is not None and channel in ep.services else None

    def authorize(self, ident, action, resource, resource_account=None, region=None,
                  repo=None, source_ip=None, resource_policy_applies=True, channel=None):
        """Evaluate action on resource for ident; returns an iampolicy.Decision.

        resource_account None means an action without a resource type (only the identity
        side, SCPs and the endpoint policy count). A repository that does not exist has no
        repository policy, which is why a missing cross-account repository is refused exactly
        like a missing grant: AWS does not reveal which. channel is the ECR endpoint the
        request came to ("ecr.api" for the API, "ecr.dkr" for the registry), which decides
        whether the identity's VPC endpoint (and its policy) is on the path.
        """
        scen = self.scenario
        principal = scen.principal(ident)
        ip = ident.source_ip or scen.source_ip or source_ip
        endpoint = self.endpoint_for(ident, channel)
        if endpoint is not None:
            ip = None  # no aws:SourceIp through a VPC endpoint (iam-evaluation.md section 4)
        ctx = iampolicy.base_context(principal, resource_account, ip, self.now(), region)
        if endpoint is not None:
            ctx["aws:SourceVpce"] = endpoint.id
            ctx["aws:SourceVpc"] = endpoint.vpc_id
            ctx["aws:VpcSourceIp"] = ident.vpc_source_ip
        if resource_account and scen.org and scen.org.contains(resource_account):
            ctx["aws:ResourceOrgID"] = scen.org.id
        if repo is not None:
            for k, v in repo.tags.items():
                ctx["aws:ResourceTag/" + k] = v
                ctx["ecr:ResourceTag/" + k] = v
        req = iampolicy.Request(principal, action, resource, ctx)
        rp = None
        grants = []
        if resource_account is not None:
            with self.lock:
                rp = repo.policy_doc() if repo is not None else None
                text = scen.registry_policies.get((resource_account, region))
                scope = scen.registry_scope(resource_account, region)
            # V2 applies the registry policy to every request on the registry's repositories;
            # V1 only to replication, pull through cache import and repository creation
            # (registry-permissions.html, iam-evaluation.md 8.4).
            if text and (scope == "V2" or action.lower() in V1_REGISTRY_ACTIONS):
                try:
                    grants.append(json.loads(text))
                except ValueError:
                    pass
        d = iampolicy.decide(req, ident.policies, ident.boundary, ident.session_policy,
                                scen.scp_levels(ident.account), rp, resource_account, (),
                                resource_policy_applies,
                                rcp_levels=scen.rcp_levels(resource_account),
                                endpoint_policy=endpoint.policy if endpoint else None,
                                registry_grant_docs=grants)
        # AWS names the policy type in an AccessDenied text within one account or one
        # organization only; across organizations the text can be bare (IAM user guide,
        # troubleshoot_access-denied; AWS Security Blog "Enhanced access denied error messages
        # with policy ARNs": "same-account and same-organization scenarios").
        org = scen.org
        d.context_shown = (resource_account is None or resource_account == ident.account or
                           bool(org and org.contains(ident.account) and
                                org.contains(resource_account)))
        # Since 2025 an explicit deny by an SCP or RCP also names the policy's ARN, within the
        # same account or organization (the same blog post).
        if d.context_shown and d.explicit and d.policy_type in (iampolicy.SCP, iampolicy.RCP):
            scp = d.policy_type == iampolicy.SCP
            levels = scen.scp_levels(ident.account) if scp else scen.rcp_levels(resource_account)
            for doc in (doc for level in levels or () for doc in level):
                if iampolicy.evaluate_policy(doc, req).deny:
                    d.policy_arn = org.policy_arn(doc, scp)
                    break
        return d

    # ---- pull through cache ----

    def create_repository(self, account, region, name, created_at=None):
        """A new, empty repository (what a pull through cache creates on first pull); returns
        the one that exists if another request created it first."""
        with self.lock:
            key = (account, region, name)
            repo = self.scenario.repositories.get(key)
            if repo is None:
                repo = scenario_mod.Repository("%s/%s/%s" % key, {}, self.scenario)
                repo.created_at = self.now() if created_at is None else created_at
                self.scenario.repositories[key] = repo
            return repo

    def import_image(self, repo, tag, manifest):
        with self.lock:
            repo.add_image(tag, manifest, self.now())

    # ---- pre-signed layer URLs ----

    def layer_signature(self, path, amz_date, expires):
        msg = ("%s\n%s\n%s" % (path, amz_date, expires)).encode()
        return hmac.new(self.url_secret, msg, hashlib.sha256).hexdigest()
