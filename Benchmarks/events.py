"""Load and measurement for Benchmarks/events.sh: commit to announcement, on loopback.

  events.py HTTP_PORT REDIS_PORT TOKEN AGENTS_FILE RATE SECONDS [ORCHESTRATOR_PORT]

PATCHes the agents in AGENTS_FILE (one "tenant agent_id" per line) round robin at RATE a second
for SECONDS, over keep-alive connections, and notes when each answer came (the change committed
before it). A Redis client PSUBSCRIBEd to every tenant's notifications channel notes when each
agent_updated event arrived. Prints the wait from the answer to the event, p50/p99/max, and how
many changes were announced.

With ORCHESTRATOR_PORT it also plays the orchestrator: a WebSocket server (the service connects
to it) that notes when each agent_updated frame arrived, both against the PATCH's answer and
against the event's own timestamp (its transaction's time, which is the commit's within the
few milliseconds a PATCH takes; to the millisecond, on the same clock).
"""
import base64, datetime, hashlib, http.client, json, socket, struct, sys, threading, time

http_port, redis_port, token, agents_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rate, seconds = float(sys.argv[5]), float(sys.argv[6])
agents = [line.split() for line in open(agents_file) if line.strip()]
answered = {}   # (agent, version) -> when the PATCH answered
arrived = {}    # (agent, version) -> when its event arrived
framed = {}     # (agent, version) -> when the orchestrator's frame arrived
since_commit = []  # frame arrival minus the event's timestamp, in ms
lock = threading.Lock()


def orchestrate(port, ready):
    """A minimal RFC 6455 server: the handshake, then masked frames in; pings answered."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(4)
    while True:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        key = None
        while True:
            line = reader.readline().decode().strip()
            if not line:
                break
            if line.lower().startswith("sec-websocket-key:"):
                key = line.split(":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())

        def send(opcode, payload):
            header = bytes([0x80 | opcode])
            header += bytes([len(payload)]) if len(payload) < 126 else bytes([126]) + struct.pack(">H", len(payload))
            conn.sendall(header + payload)

        try:
            while True:
                b0, b1 = reader.read(2)
                opcode, length = b0 & 0x0F, b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", reader.read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", reader.read(8))[0]
                mask = reader.read(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(reader.read(length)))
                now, wall = time.monotonic(), time.time()
                if opcode == 9:
                    send(10, payload)
                elif opcode == 8:
                    break
                elif opcode == 1:
                    message = json.loads(payload)
                    if "service_token" in message:
                        send(1, b'{"status":"authenticated"}')
                        ready.set()
                    elif message.get("event") == "agent_updated" and "event_id" in message:
                        stamp = datetime.datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
                        committed = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
                        with lock:
                            framed.setdefault((message["data"]["agent_id"], message["data"]["version"]), now)
                            since_commit.append((wall - committed) * 1000)
        except (ValueError, OSError):
            pass
        conn.close()


def listen(ready):
    sock = socket.create_connection(("127.0.0.1", redis_port))
    sock.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$32\r\nagent-management.notifications.*\r\n")
    reader = sock.makefile("rb")

    def read():
        line = reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"*":
            return [read() for _ in range(int(rest))]
        if kind == b"$":
            data = reader.read(int(rest) + 2)[:-2]
            return data
        return rest

    read()  # the subscription's confirmation
    ready.set()
    while True:
        message = read()
        now = time.monotonic()
        if not isinstance(message, list) or message[0] != b"pmessage":
            continue
        event = json.loads(message[3])
        if event["event"] == "agent_updated":
            with lock:
                arrived.setdefault((event["data"]["agent_id"], event["data"]["version"]), now)


def patch(worker, workers):
    conn = http.client.HTTPConnection("127.0.0.1", http_port)
    interval = workers / rate
    start = time.monotonic()
    n = worker
    count = 0
    while time.monotonic() - start < seconds:
        tenant, agent = agents[n % len(agents)]
        n += workers
        body = json.dumps({"description": "change %d" % count})
        conn.request("PATCH", "/v1/agents/" + agent, body=body,
                     headers={"Authorization": "Bearer " + token, "X-Tenant-ID": tenant, "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        now = time.monotonic()
        if response.status == 200:
            with lock:
                answered[(agent, json.loads(data)["version"])] = now
        count += 1
        wait = start + count * interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)


ready = threading.Event()
threading.Thread(target=listen, args=(ready,), daemon=True).start()
ready.wait()
if len(sys.argv) > 7:
    linked = threading.Event()
    threading.Thread(target=orchestrate, args=(int(sys.argv[7]), linked), daemon=True).start()
    if not linked.wait(60):
        sys.exit("the service did not connect to the orchestrator")
workers = 8
threads = [threading.Thread(target=patch, args=(w, workers)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
time.sleep(2)
with lock:
    waits = sorted((arrived[k] - answered[k]) * 1000 for k in answered if k in arrived)
    missing = [k for k in answered if k not in arrived]
if not waits:
    sys.exit("no event arrived")
pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))]
print("%d changes in %.0f s (%.0f/s), %d announced, %d not: answer to event p50 %.1f ms, p99 %.1f ms, max %.1f ms"
      % (len(answered), seconds, len(answered) / seconds, len(waits), len(missing), pick(0.5), pick(0.99), waits[-1]))
if len(sys.argv) > 7:
    with lock:
        frames = sorted((framed[k] - answered[k]) * 1000 for k in answered if k in framed)
        commits = sorted(since_commit)
        unframed = len([k for k in answered if k not in framed])
    if not frames:
        sys.exit("no frame reached the orchestrator")
    q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
    print("orchestrator: %d framed, %d not; answer to frame p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
          "commit (event timestamp) to frame p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(frames), unframed, q(frames, 0.5), q(frames, 0.99), frames[-1], q(commits, 0.5), q(commits, 0.99), commits[-1]))
