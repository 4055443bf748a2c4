"""The HTTP core shared by the lab's origin, edge and clients (socket-free where it can be):

    exchange.py   one request/response as the fault primitives see it (Exchange, Until, ...)
    transport.py  a server connection's bytes: plain TCP, or TLS over MemoryBIO
    http1.py      the HTTP/1.1 server driver (h11) -> Exchanges
    http2.py      the HTTP/2 server driver (h2, h2c and TLS/ALPN) -> Exchanges
    observe.py    reading a response (h11 / h2 events in, what they show out)

The origin (harness/origin: the mock API and its fault plans) and the built-in edge
(harness/edge: a relay) both serve through these drivers.
"""
