"""Sign-in through an OpenID Connect provider: authorization code with PKCE (Authlib).

The provider proves who the person is; the registry says which reviewer that is: the
configured claim (``[inbox.oidc] claim``, e.g. ``email``) must name exactly one reviewer (by
e-mail, or by id for any other claim). Anyone else is refused. State, nonce and the PKCE
verifier are kept per browser session, server-side, and used once.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sluice.app.inbox.desk import Refused
from sluice.config import Settings
from sluice.reviewers import load_registry

TIMEOUT = 10.0


class OidcSignIn:
    """One configured identity provider."""

    def __init__(self, settings: Settings) -> None:
        oidc = settings.inbox.oidc
        assert oidc.issuer and oidc.client_id
        self.settings = settings
        self.issuer = oidc.issuer.rstrip("/")
        self.client_id = oidc.client_id
        self.client_secret = oidc.client_secret
        self.claim = oidc.claim
        self.scope = oidc.scope
        self.redirect_uri = settings.inbox.public_url.rstrip("/") + "/oidc/callback"
        self._metadata: dict[str, Any] | None = None
        # session id -> (state, nonce, code verifier); each used once.
        self._pending: dict[str, tuple[str, str, str]] = {}

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                answer = await http.get(f"{self.issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                self._metadata = answer.json()
        return self._metadata

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=TIMEOUT,
        )

    async def authorization_url(self, session_id: str) -> str:
        """Where to send the browser; remembers state, nonce and verifier for the session."""
        meta = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        self._pending[session_id] = (state, nonce, verifier)
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                code_challenge=create_s256_code_challenge(verifier),
            )
        return str(url)

    async def reviewer_from_callback(self, session_id: str, params: dict[str, str]) -> str:
        """The reviewer the provider's answer proves, or ``Refused``."""
        pending = self._pending.pop(session_id, None)
        if pending is None:
            raise Refused("no sign-in was started from this browser; start again")
        state, nonce, verifier = pending
        if "error" in params:
            raise Refused(f"the identity provider refused: {params['error'][:80]}")
        if not secrets.compare_digest(params.get("state", ""), state):
            raise Refused("the sign-in answer does not belong to this sign-in (state)")
        meta = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    code=params.get("code", ""),
                    code_verifier=verifier,
                    grant_type="authorization_code",
                )
            except Exception as err:  # the provider's answer is input: any failure refuses
                raise Refused(f"the code could not be exchanged ({type(err).__name__})") from None
        claims = await self._id_claims(token.get("id_token", ""), meta)
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Refused("the ID token was not issued for this sign-in (nonce)")
        return self._reviewer(claims)

    async def _id_claims(self, id_token: str, meta: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            keys = KeySet.import_key_set((await http.get(meta["jwks_uri"])).json())
        rules = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": meta.get("issuer", self.issuer)},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            nonce={"essential": True},
        )
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "EdDSA", "PS256"])
            rules.validate(token.claims)
        except (JoseError, ValueError) as err:
            raise Refused(f"the ID token does not hold ({type(err).__name__})") from None
        return dict(token.claims)

    def _reviewer(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.claim)
        if not isinstance(value, str) or not value:
            raise Refused(f"the identity provider did not say {self.claim}")
        registry = load_registry(self.settings.reviewer_registry_file)
        if self.claim == "email":
            if claims.get("email_verified") is False:
                raise Refused("the identity provider has not verified this e-mail address")
            found = [r.id for r in registry.reviewers.values() if r.email.lower() == value.lower()]
        else:
            found = [r.id for r in registry.reviewers.values() if r.id == value]
        if len(found) != 1:
            raise Refused(f"{value[:120]} is not a reviewer here")
        return found[0]
