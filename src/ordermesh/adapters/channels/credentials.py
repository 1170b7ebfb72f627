"""Channel credentials sealed at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived
from ORDERMESH_SECRET_KEY with HKDF-SHA256, so the secret key itself never touches the data and
other uses of it (sessions) get unrelated keys."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"ordermesh/channel-credentials/v1"


class CredentialsUnreadable(Exception):
    """Sealed credentials that this secret key cannot open (the key changed, or tampering)."""


class CredentialBox:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("a secret key is needed to seal channel credentials")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secrets: Mapping[str, str]) -> str:
        return self._fernet.encrypt(orjson.dumps(dict(secrets))).decode("ascii")

    def open(self, sealed: str) -> dict[str, str]:
        try:
            return dict(orjson.loads(self._fernet.decrypt(sealed.encode("ascii"))))
        except (InvalidToken, ValueError) as exc:
            raise CredentialsUnreadable(
                "the stored channel credentials cannot be decrypted with this "
                "ORDERMESH_SECRET_KEY; enter them again or restore the previous key"
            ) from exc
