"""Verifies wxauth access tokens with PyJWT (and `cryptography`): an implementation that shares no code with ours.

stdin: {"jwks": {"keys": [...]}, "oct": {"kid": "base64url secret", ...}, "issuer": "...", "audience": "...",
        "tokens": ["...", ...]}
stdout: one JSON object per token, in order: {"valid": true, "claims": {...}, "header": {...}} or
        {"valid": false, "error": "..."}.

Keys are chosen the way a resource server would: by the header's kid, from the JWKS (or, for HS256, from the
shared secrets given as "oct"), with the algorithm taken from the key, never from the token.
"""
import base64
import json
import sys

import jwt


def b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(token, keys, octs, issuer, audience):
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise ValueError("typ is not at+jwt")
    kid = header.get("kid")
    if kid in keys:
        key = keys[kid]
        algorithm = key.algorithm_name
        secret = key.key
    elif kid in octs:
        algorithm = "HS256"
        secret = b64decode(octs[kid])
    else:
        raise ValueError("unknown kid")
    claims = jwt.decode(
        token, secret, algorithms=[algorithm], audience=audience, issuer=issuer, leeway=30,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    return header, claims


def main():
    request = json.load(sys.stdin)
    keys = {}
    for jwk in request.get("jwks", {"keys": []})["keys"]:
        keys[jwk["kid"]] = jwt.PyJWK.from_dict(jwk)
    for token in request["tokens"]:
        try:
            header, claims = verify(token, keys, request.get("oct", {}), request["issuer"], request["audience"])
            print(json.dumps({"valid": True, "header": header, "claims": claims}))
        except Exception as error:  # every refusal is an answer, not a crash
            print(json.dumps({"valid": False, "error": f"{type(error).__name__}: {error}"}))


main()
