"""The raw client over HTTP/2 (h2): one stream, flow control credited at the reader's pace,
a graceful GOAWAY that still covers the stream followed to its end."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio

from harness.http.observe import seen_h2

from .h1 import _take
from .observe import _Limits, _recv, _State
from .target import H2_DEFAULT_WINDOW, Target


class GoawaySplitter:
    """Cuts the server's byte stream right after each GOAWAY frame.

    h2 processes every frame of a ``receive_data`` call before returning events, and
    refuses frames after a GOAWAY; fed up to the GOAWAY alone, the client can decide
    (graceful GOAWAY covering our stream) to reopen the state and take the rest.
    """

    GOAWAY = 0x7

    def __init__(self) -> None:
        self._head = b""  # a partial 9-byte frame header
        self._skip = 0  # payload bytes left in the current frame
        self._goaway = False

    def split(self, data: bytes) -> list[bytes]:
        out, start, i, n = [], 0, 0, len(data)
        while i < n:
            if self._skip:
                take = min(self._skip, n - i)
                i += take
                self._skip -= take
            else:
                take = min(9 - len(self._head), n - i)
                self._head += data[i:i + take]
                i += take
                if len(self._head) < 9:
                    break
                self._skip = int.from_bytes(self._head[:3], "big")
                self._goaway = self._head[3] == self.GOAWAY
                self._head = b""
            if self._goaway and not self._skip:
                out.append(data[start:i])
                start, self._goaway = i, False
        if start < n:
            out.append(data[start:])
        return out


def _h2_connection(window: int | None) -> h2.connection.H2Connection:
    h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    values = dict(h.local_settings.items())
    values[h2.settings.SettingCodes.ENABLE_PUSH] = 0
    if window is not None:
        values[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
    # current (not pending) values, so the connection preface carries them
    h.local_settings = h2.settings.Settings(client=True, initial_values=values)
    h.initiate_connection()
    if window is not None and window > H2_DEFAULT_WINDOW:
        h.increment_flow_control_window(window - H2_DEFAULT_WINDOW)  # the connection window
    return h


def _code_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return "unknown"


async def _h2(st: _State, conn, target: Target, headers: list[tuple[str, str]], body: bytes,
              lim: _Limits, window: int | None, nursery: trio.Nursery) -> None:
    h = _h2_connection(window)
    sid = h.get_next_available_stream_id()
    fields = [(":method", "POST"), (":scheme", target.scheme), (":authority", target.authority),
              (":path", target.prefix + "/v1/messages?beta=true"), *headers,
              ("content-length", str(len(body)))]
    h.send_headers(sid, fields, end_stream=not body)
    conn.queue(h.data_to_send())
    credit = trio.Event()  # set when the server grants flow-control window
    box = {"credit": credit}

    async def send_body() -> None:
        pos = 0
        try:
            while pos < len(body):
                n = min(len(body) - pos, h.local_flow_control_window(sid), h.max_outbound_frame_size)
                if n <= 0:
                    box["credit"] = trio.Event()
                    await box["credit"].wait()
                    continue
                h.send_data(sid, body[pos:pos + n], end_stream=pos + n == len(body))
                conn.queue(h.data_to_send())
                pos += n
                await trio.sleep(0)
        except h2.exceptions.H2Error:
            return  # the stream or connection is gone; the reader reports how

    if body:
        nursery.start_soon(send_body)
    splitter = GoawaySplitter()

    while st.end is None:
        data = await _recv(st, conn, lim)
        if data is None:
            return
        if not data:
            if conn.send_error is not None:
                st.fail_with(conn.send_error)
            elif st.goaway is not None:  # the connection closed as the GOAWAY announced
                st.finish("goaway", st.goaway[1] + ", then EOF", h2_code=st.goaway[0])
            else:
                st.finish("eof", "EOF: the server closed the connection (FIN) before our stream ended")
            return
        for piece in splitter.split(data):
            if st.end is not None:
                break
            try:
                events = h.receive_data(piece)
            except h2.exceptions.ProtocolError as exc:
                conn.queue(h.data_to_send())
                st.finish("eof", f"HTTP/2 protocol error: {exc}")
                return
            for event in events:
                _h2_event(st, h, sid, event)
                if isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                    box["credit"].set()
            conn.queue(h.data_to_send())


def _h2_event(st: _State, h, sid: int, event) -> None:
    seen = seen_h2(event, sid)
    if st.end is not None or seen is None:
        return
    if seen.kind == "data":
        st.on_body(seen.data)
        # Credit only what we have read: with pacing, the socket is read slowly, so the
        # server's window refills at our pace.
        try:
            h.acknowledge_received_data(seen.flow, sid)
        except h2.exceptions.H2Error:
            pass
    elif seen.end == "rst_stream":
        st.finish("rst_stream", f"RST_STREAM code {seen.code}", h2_code=seen.code)
    elif seen.end == "goaway":
        code, last = seen.code, seen.last_stream_id
        msg = f"GOAWAY code {code} ({_code_name(code)}), last_stream_id {last}"
        if code == 0 and last is not None and last >= sid and st.goaway is None:
            # A graceful GOAWAY that covers our stream: it may still finish. h2 closes its
            # state machine on any GOAWAY, so reopen it to keep receiving our stream.
            st.goaway = (code, msg)
            h.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        else:
            st.finish("goaway", msg, h2_code=code)
    else:
        _take(st, seen, "")
