"""Tokens from an identity provider, signed by PyJWT as Keycloak signs them: RS256, ES256 and EdDSA
keys published as a JWKS by a loopback HTTP server and picked by `kid`, roles in
`realm_access.roles` and the tenant in a claim of its own. Every key type is accepted beside the
HS256 secret; `alg: none` and an HS256 token keyed with the public key are refused; a key rotated
in works on its first token; a key rotated out is refused after the next refresh; a burst of
unknown kids costs at most one fetch; a provider that is down at start leaves the file's keys
working, and its own keys work once it answers."""

import hashlib
import hmac
import json
import os
import tempfile
import threading
import time
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from ams import Service, eventually, free_port

ROLES_CLAIM = "realm_access.roles"
TENANT_CLAIM = "organization.tenant"


class Key:
    """A key pair of the provider: its public half as a JWK, and tokens signed with it."""

    def __init__(self, alg: str, kid: str, publish_alg: bool = True):
        if alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.alg = alg
        self.kid = kid
        self.jwk.update({"kid": kid, "use": "sig"})
        if publish_alg:
            self.jwk["alg"] = alg

    def token(self, tenant="acme", roles=("editor",), kid=None, alg=None) -> str:
        now = int(time.time())
        claims = {
            "sub": f"kc-{self.kid}", "iat": now, "exp": now + 600, "azp": "ams-console", "typ": "Bearer",
            "scope": "openid profile",
            "realm_access": {"roles": ["offline_access", *roles, "default-roles-ams"]},
        }
        if tenant:
            claims["organization"] = {"tenant": tenant}
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers={"kid": kid or self.kid})


def encryption_key() -> dict:
    """Keycloak publishes an RSA-OAEP key for encryption beside its signing keys."""
    jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), as_dict=True)
    jwk.update({"kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"})
    return jwk


class Provider:
    """A JWKS on loopback, as Keycloak serves `/realms/<realm>/protocol/openid-connect/certs`,
    counting the fetches. `start` may come late: until then the port refuses connections."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.fetches = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/realms/ams/protocol/openid-connect/certs"
        self.server = None

    def publish(self, keys):
        with self.lock:
            self.keys = list(keys)

    def start(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with provider.lock:
                    provider.fetches += 1
                    body = json.dumps({"keys": [k if isinstance(k, dict) else k.jwk for k in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def settings(provider=None, **more) -> dict:
    env = {"AMS_JWT_ROLES_CLAIM": ROLES_CLAIM, "AMS_JWT_TENANT_CLAIM": TENANT_CLAIM}
    if provider:
        env["AMS_JWT_JWKS_URL"] = provider.url
    env.update(more)
    return env


def logged(ams, text: bytes) -> bool:
    with open(ams.log_path, "rb") as log:
        return text in log.read()


def answer(ams, token, method="GET", path="/v1/agents", body=None):
    response = ams.request(method, path, body, token=token)
    code = response.json().get("error", {}).get("code") if response.status >= 400 else None
    return response.status, code


class IdentityProviderTokens(unittest.TestCase):
    def setUp(self):
        self.rsa = Key("RS256", "rsa-1")
        # Published without `alg`: the key's type implies ES256.
        self.ec = Key("ES256", "ec-1", publish_alg=False)
        self.ed = Key("EdDSA", "ed-1")
        # Published without `alg` (as Entra does): RS256, and not whatever a token says.
        self.bare = Key("RS256", "rsa-bare", publish_alg=False)
        self.provider = Provider([self.rsa, self.ec, self.ed, self.bare, encryption_key()]).start()
        self.addCleanup(self.provider.stop)

    def test_every_key_type_is_accepted_and_the_algorithm_comes_from_the_key(self):
        with Service("jwks", settings(self.provider)) as ams:
            # The first fetch, at start; until it is in, these kids would be unknown.
            eventually(lambda: logged(ams, b"identity provider keys loaded"))
            # A valid PS256 signature by the key published without `alg`, before any other token
            # of that key: the key's type says RS256, whatever the first token says.
            self.assertEqual(answer(ams, self.bare.token(alg="PS256")), (401, "AMS-202"))
            for key in (self.rsa, self.ec, self.ed, self.bare):
                self.assertEqual(answer(ams, key.token()), (200, None), key.kid)
            # Roles come from realm_access.roles, the tenant from organization.tenant.
            agent = {"name": "kc", "llm_config": {"model": "gpt-4o-mini"}}
            self.assertEqual(answer(ams, self.rsa.token(roles=("editor",)), "POST", "/v1/agents", agent)[0], 201)
            self.assertEqual(answer(ams, self.ec.token(roles=("viewer",)), "POST", "/v1/agents", agent), (403, "AMS-204"))
            self.assertEqual(answer(ams, self.ed.token(tenant=None)), (401, "AMS-202"))
            listed = ams.request("GET", "/v1/agents", token=self.ed.token(roles=("viewer",))).json()
            self.assertEqual([a["name"] for a in listed["items"]], ["kc"])
            # The service's own HS256 tokens keep working beside the provider's.
            self.assertEqual(answer(ams, ams.token("acme", ["viewer"])), (200, None))

            now = int(time.time())
            claims = {"sub": "mallory", "exp": now + 600, "realm_access": {"roles": ["admin"]}, "organization": {"tenant": "acme"}}
            unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": self.rsa.kid})
            self.assertEqual(answer(ams, unsigned), (401, "AMS-202"))
            # HS256 keyed with the RSA public key, which anyone can fetch. PyJWT refuses to make one,
            # so it is made by hand.
            public_pem = self.rsa.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            header = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.rsa.kid}).encode())
            payload = base64url_encode(json.dumps(claims).encode())
            signature = base64url_encode(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
            confused = (header + b"." + payload + b"." + signature).decode()
            self.assertEqual(answer(ams, confused), (401, "AMS-202"))
            # An ES256 signature naming the RS256 key.
            relabelled = self.ec.token(kid=self.rsa.kid)
            self.assertEqual(answer(ams, relabelled), (401, "AMS-202"))
            self.assertEqual(answer(ams, self.bare.token(alg="PS256")), (401, "AMS-202"))

            # A key rotated in works on its first token: its unknown kid fetched the JWKS at once.
            rotated = Key("RS256", "rsa-2")
            before = self.provider.fetches
            self.provider.publish([self.rsa, self.ec, self.ed, self.bare, rotated])
            self.assertEqual(answer(ams, rotated.token()), (200, None))
            self.assertEqual(self.provider.fetches, before + 1)

            # A burst of unknown kids, once the 5 s since that fetch have passed: one fetch at most.
            time.sleep(5.2)
            before = self.provider.fetches
            started = time.monotonic()
            tokens = [self.rsa.token(kid=f"unknown-{uuid.uuid4()}") for _ in range(20)]
            with ThreadPoolExecutor(max_workers=20) as pool:
                answers = list(pool.map(lambda token: answer(ams, token), tokens))
            self.assertLess(time.monotonic() - started, 5)
            self.assertEqual(answers, [(401, "AMS-202")] * 20)
            self.assertLessEqual(self.provider.fetches - before, 1)

    def test_a_key_rotated_out_is_refused_after_the_next_refresh(self):
        with Service("jwks_rotation", settings(self.provider, AMS_JWT_JWKS_REFRESH="1s")) as ams:
            eventually(lambda: logged(ams, b"identity provider keys loaded"))
            token = self.rsa.token()
            # Twice: the second answer comes from the verified-token cache.
            self.assertEqual(answer(ams, token), (200, None))
            self.assertEqual(answer(ams, token), (200, None))
            self.provider.publish([self.ec, self.ed])
            eventually(lambda: answer(ams, token) == (401, "AMS-202"), timeout=10)
            self.assertEqual(answer(ams, self.ec.token()), (200, None))

    def test_a_provider_down_at_start_leaves_the_file_keys_working_until_it_answers(self):
        self.provider.stop()
        local = Key("ES256", "local-1")
        late = Provider([self.rsa])
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump({"keys": [local.jwk]}, file)
        self.addCleanup(os.unlink, file.name)
        self.addCleanup(late.stop)
        with Service("jwks_down", settings(late, AMS_JWT_JWKS_FILE=file.name)) as ams:
            self.assertEqual(answer(ams, local.token()), (200, None))
            self.assertEqual(answer(ams, self.rsa.token()), (401, "AMS-202"))
            eventually(lambda: logged(ams, b"identity provider keys could not be read"))
            late.start()
            eventually(lambda: answer(ams, self.rsa.token()) == (200, None), timeout=20, interval=0.5)
            self.assertEqual(answer(ams, local.token()), (200, None))


if __name__ == "__main__":
    unittest.main()
