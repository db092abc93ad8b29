"""Accounts and credentials shared by SIP digest, the ACD and the dashboards."""

from identity._hashing import hash_password, sip_ha1, verify_password

__all__ = ["hash_password", "sip_ha1", "verify_password"]
