from __future__ import annotations

import ssl

import faust
import pytest

from pipeline.kafka_admin import faust_credentials, security
from pipeline.settings import Settings


def test_plaintext_by_default() -> None:
    s = Settings()
    assert security(s) == {"security_protocol": "PLAINTEXT"} and faust_credentials(s) is None


def test_sasl_options_for_aiokafka_and_faust() -> None:
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="hunter2-XYZ")
    opts = security(s)
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "PLAIN"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("u", "hunter2-XYZ")
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials) and creds.protocol.value == "SASL_SSL"
    assert "hunter2" not in repr(s) and "hunter2" not in repr(creds)


def test_ssl_only() -> None:
    s = Settings(kafka_security_protocol="SSL")
    assert set(security(s)) == {"security_protocol", "ssl_context"}
    assert isinstance(faust_credentials(s), faust.SSLCredentials)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol must be"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "SASL needs kafka_sasl_username and kafka_sasl_password"),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_username": "u",
                "kafka_sasl_password": "p",
                "kafka_sasl_mechanism": "GSSAPI",
            },
            "kafka_sasl_mechanism must be",
        ),
    ],
)
def test_bad_security_settings_are_refused_at_startup(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings.from_env({}, **changes)
