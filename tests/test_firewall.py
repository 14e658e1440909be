"""deploy/firewall/nftables.conf: nftables itself checks it (`nft -c`, nothing applied), and what it
lets in is HTTPS, HTTP (for ACME) and SSH from the admin addresses only, everything else dropped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "deploy" / "firewall" / "nftables.conf"
NFT = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)


@pytest.mark.skipif(NFT is None, reason="nft missing (Debian package nftables): ./scripts/system-deps.sh")
def test_nftables_accepts_the_ruleset():
    done = subprocess.run([NFT, "-c", "-f", str(CONF)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert done.returncode == 0, done.stderr


def test_only_https_acme_and_admin_ssh_come_in():
    text = CONF.read_text()
    assert "policy drop;" in text and "flush ruleset" not in text  # Docker's chains stay
    ports = re.findall(r"tcp dport (\d+)(.*) accept", text)
    assert {port for port, _ in ports} == {"22", "80", "443"}
    assert all("saddr $ADMIN" in condition for port, condition in ports if port == "22")
