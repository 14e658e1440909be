"""Helpers of the credential tests: a password to look for, and where it leaked."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SECRET = "Zq7Secret4Pw"



def leaked(text: str) -> list[str]:
    return [s for s in SPELLINGS if s in text] + (["ZZSecret"] if "ZZSecret" in text else [])



def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0] or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{hosts}"))


# Every spelling of SECRET a message could carry: as given, percent-decoded, and its halves.
SPELLINGS = (SECRET, "Zq7Secret", "Secret4Pw", "Zq7%53ecret4Pw")

