"""asyncio imported without ssl (assay.deferssl): ssl stays out until used, and asyncio's
TLS still works, whichever way the first use comes. Each check runs in a fresh interpreter
(what is imported is the point)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certs import self_signed
from tests.conftest import run_python

python = run_python


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and its key (PEM files)."""
    made = self_signed(tmp_path_factory.mktemp("tls"), "localhost", dns_names=("localhost",))
    return made.cert, made.key


def test_asyncio_comes_in_without_ssl() -> None:
    out = python(
        """
        import sys
        from assay.deferssl import import_asyncio
        import_asyncio()
        import asyncio
        print("asyncio" in sys.modules, "ssl" in sys.modules, "_ssl" in sys.modules)
        print(asyncio.run(asyncio.sleep(0, "ran")))
        """
    )
    assert out.split() == ["True", "False", "False", "ran"]


def test_what_imports_ssl_meanwhile_gets_the_real_module() -> None:
    out = python(
        """
        import sys
        from assay.deferssl import import_asyncio
        import_asyncio()
        import ssl
        import asyncio.sslproto
        print(type(ssl.create_default_context()).__name__, ssl is sys.modules["ssl"])
        # asyncio's stand-in still answers, with the real module's objects
        print(asyncio.sslproto.ssl.SSLContext is ssl.SSLContext)
        """
    )
    assert out.split() == ["SSLContext", "True", "True"]


# Each first use of TLS through asyncio: a context asyncio makes itself (ssl=True), one the
# caller made with the real module imported after asyncio, and start_tls on a plain stream.
TLS_ROUNDTRIP = """
    import sys
    from assay.deferssl import import_asyncio
    import_asyncio()
    import asyncio
    assert "ssl" not in sys.modules
    cert, key, how = sys.argv[1:]

    async def main():
        import ssl
        server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_side.load_cert_chain(cert, key)

        async def echo(reader, writer):
            if how == "start_tls":
                await writer.start_tls(server_side)
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        tls = None if how == "start_tls" else server_side
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
        if how == "ssl=True":
            # (the default context: the test's certificate is added to what it trusts)
            import asyncio.sslproto as sslproto
            made = sslproto._create_transport_context
            def trusting(server_side, server_hostname):
                context = made(server_side, server_hostname)
                context.load_verify_locations(cert)
                return context
            sslproto._create_transport_context = trusting
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=True, server_hostname="localhost"
            )
        else:
            client_side = ssl.create_default_context(cafile=cert)
            if how == "context":
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=client_side, server_hostname="localhost"
                )
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await writer.start_tls(client_side, server_hostname="localhost")
        writer.write(b"over tls\\n")
        await writer.drain()
        print((await reader.readline()).decode().strip())
        print(writer.get_extra_info("ssl_object") is not None)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["ssl=True", "context", "start_tls"])
def test_tls_through_asyncio_still_works(certificate: tuple[Path, Path], how: str) -> None:
    cert, key = certificate
    out = python(TLS_ROUNDTRIP, str(cert), str(key), how)
    assert out.split() == ["OVER", "TLS", "True"]


def test_ssl_already_in_is_left_as_it_is() -> None:
    out = python(
        """
        import sys, ssl
        from assay.deferssl import import_asyncio
        import_asyncio()
        import asyncio.base_events, asyncio.sslproto
        print(asyncio.base_events.ssl is ssl, asyncio.sslproto.ssl is ssl)
        print(hasattr(asyncio.sslproto, "SSLAgainErrors"))
        """
    )
    assert out.split() == ["True", "True", "True"]


def test_another_thread_running_gets_the_plain_import() -> None:
    # While asyncio is imported, ssl is marked missing: a thread importing it then would
    # fail. With a thread running, the import is the plain one.
    out = python(
        """
        import sys, threading
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        from assay.deferssl import import_asyncio
        import_asyncio()
        stop.set()
        worker.join()
        import asyncio.base_events
        print("ssl" in sys.modules, asyncio.base_events.ssl is sys.modules.get("ssl"))
        """
    )
    assert out.split() == ["True", "True"]


def test_a_lone_run_does_not_load_ssl(assay_cli, write):
    # The test file is loaded in the run's process, after asyncio: what it sees is what
    # the run has imported by then.
    write(
        "test_lone.py",
        """
        import sys
        from pathlib import Path

        import assay

        Path("seen").write_text(" ".join(str(m in sys.modules) for m in ("asyncio", "ssl")))


        class Lone(assay.Test):
            command = "true"
        """,
    )
    result = assay_cli("run", "test_lone.py")
    assert result.code == 0, result.stderr
    assert (result.cwd / "seen").read_text() == "True False"


def test_a_python_without_ssl_gets_no_stand_in() -> None:
    # A Python built without OpenSSL has ssl.py but no _ssl: asyncio must then see no ssl
    # (its own checks say so), not a stand-in that fails at its first use. find_spec is
    # made to say "no _ssl"; this Python does have it, so the plain import brings it in.
    out = python(
        """
        import sys, importlib.util
        found = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "_ssl" else found(name, *a)
        from assay.deferssl import import_asyncio
        import_asyncio()
        import asyncio.base_events, asyncio.sslproto
        real = sys.modules["ssl"]
        print(asyncio.base_events.ssl is real, asyncio.sslproto.ssl is real)
        """
    )
    assert out.split() == ["True", "True"]
