import socket

import pytest


@pytest.fixture
def tcp_pair():
    """tcp_pair(topo, client="client", server="server") -> (client_sock, server_conn)."""
    socks = []

    def make(topo, client="client", server="server", port=9100, before_connect=None):
        srv = topo[server].socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((topo[server].address, port))
        srv.listen(4)
        cli = topo[client].socket(socket.AF_INET, socket.SOCK_STREAM)
        if before_connect:
            before_connect(cli)
        cli.settimeout(10)
        cli.connect((topo[server].address, port))
        conn, _ = srv.accept()
        socks.extend([srv, cli, conn])
        return cli, conn

    yield make
    for s in socks:
        s.close()
