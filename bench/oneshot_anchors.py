"""The anchors of the one-shot benchmark: the least a Python script can do to
send one message over wss with a client certificate and print the reply.

    python bench/oneshot_anchors.py KIND URL CA CERT KEY PASSWORD MESSAGE

KIND is `trio-websocket` (trio + trio-websocket), `trio-wsproto` (trio's TLS
stream driving wsproto inline, what a wsproto-driven connection class would
import) or `websockets` (python-websockets' sync client: no asyncio import).
Each imports only what it needs, inside its function, so the process pays for
nothing else; bench/bench_oneshot.py times them against `wsctl send`.
"""

import sys


def trio_websocket_send(url, ca, cert, key, password, message):
    import ssl

    import trio
    import trio_websocket

    async def main():
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key, password=password)
        async with trio_websocket.open_websocket_url(url, ssl_context=ctx) as ws:
            await ws.send_message(message)
            print(await ws.get_message())

    trio.run(main)


def trio_wsproto_send(url, ca, cert, key, password, message):
    import ssl
    from urllib.parse import urlsplit

    import trio
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    async def main():
        parts = urlsplit(url)
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key, password=password)
        stream = await trio.open_ssl_over_tcp_stream(parts.hostname, parts.port, ssl_context=ctx)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=parts.netloc, target=parts.path or "/")))
        sent = False
        while True:
            ws.receive_data(await stream.receive_some(65536) or None)
            for event in ws.events():
                if isinstance(event, AcceptConnection) and not sent:
                    await stream.send_all(ws.send(TextMessage(data=message)))
                    sent = True
                elif isinstance(event, TextMessage):
                    print(event.data)
                    await stream.send_all(ws.send(CloseConnection(code=1000)))
                elif isinstance(event, CloseConnection):
                    await stream.aclose()
                    return

    trio.run(main)


def websockets_send(url, ca, cert, key, password, message):
    import ssl

    from websockets.sync.client import connect

    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key, password=password)
    with connect(url, ssl=ctx) as ws:
        ws.send(message)
        print(ws.recv())


KINDS = {"trio-websocket": trio_websocket_send, "trio-wsproto": trio_wsproto_send, "websockets": websockets_send}

if __name__ == "__main__":
    KINDS[sys.argv[1]](*sys.argv[2:8])
