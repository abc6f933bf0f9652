"""Load and measurement for Benchmarks/events.sh: commit to announcement, on loopback.

  events.py HTTP_PORT REDIS_PORT TOKEN AGENTS_FILE RATE SECONDS ORCHESTRATOR_PORT PSQL_URL

PATCHes the agents in AGENTS_FILE (one "tenant agent_id" per line) round robin at RATE a second
for SECONDS, over keep-alive connections. Two receivers, each a process of its own (so that the
load's threads never hold them back), note when each agent_updated event arrived: a Redis client
PSUBSCRIBEd to every tenant's notifications channel, and a stand-in orchestrator (a minimal RFC
6455 server the service connects to, answering the handshake and pings). Afterwards the commit
time of each change is read from Postgres (`track_commit_timestamp`, the commit of the version row
the PATCH wrote), and the waits from commit to frame and to Redis are printed, p50/p99/max, with
the wait from the PATCH's answer for comparison. Every time is the machine's wall clock.
"""
import base64, hashlib, http.client, json, multiprocessing, socket, struct, subprocess, sys, threading, time


def orchestrate(port, ready, out):
    """The stand-in orchestrator: puts (agent, version, when its agent_updated frame arrived) on `out`."""
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
                data = reader.read(length)
                # Unmasked as one big integer: a byte at a time in Python would make this stand-in,
                # not the service, the slow part of what is measured.
                key = (mask * (length // 4 + 1))[:length]
                payload = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big") if length else b""
                now = time.time()
                if opcode == 9:
                    send(10, payload)
                elif opcode == 8:
                    break
                elif opcode == 1:
                    if payload.startswith(b'{"channel"'):
                        continue
                    message = json.loads(payload)
                    if "service_token" in message:
                        send(1, b'{"status":"authenticated"}')
                        ready.set()
                    elif message.get("event") == "agent_updated" and "event_id" in message:
                        out.put((message["data"]["agent_id"], message["data"]["version"], now))
        except (ValueError, OSError):
            pass
        conn.close()


def listen(redis_port, ready, out):
    """The Redis subscriber: puts (agent, version, when its agent_updated message arrived) on `out`."""
    sock = socket.create_connection(("127.0.0.1", redis_port))
    sock.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$32\r\nagent-management.notifications.*\r\n")
    reader = sock.makefile("rb")

    def read():
        line = reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"*":
            return [read() for _ in range(int(rest))]
        if kind == b"$":
            return reader.read(int(rest) + 2)[:-2]
        return rest

    read()  # the subscription's confirmation
    ready.set()
    while True:
        message = read()
        now = time.time()
        if not isinstance(message, list) or message[0] != b"pmessage":
            continue
        event = json.loads(message[3])
        if event["event"] == "agent_updated":
            out.put((event["data"]["agent_id"], event["data"]["version"], now))


def drain(queue):
    """(agent, version) -> the first arrival put on `queue`."""
    first = {}
    while True:
        try:
            agent, version, at = queue.get(timeout=1)
        except Exception:
            return first
        first.setdefault((agent, version), at)


def patch(worker, workers, answered, lock):
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
        now = time.time()
        if response.status == 200:
            with lock:
                answered[(agent, json.loads(data)["version"])] = now
        count += 1
        wait = start + count * interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def commits(psql_url):
    """(agent, version) -> the commit time of the version row its change wrote."""
    out = subprocess.run(["psql", psql_url, "-At", "-F", " ", "-c",
                          "SELECT agent_id, version, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM agent_versions WHERE version > 1"],
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for row in out.splitlines():
        agent, version, at = row.split(" ")
        if at:
            result[(agent, int(version))] = float(at)
    return result


def summary(name, waits):
    waits = sorted(waits)
    if not waits:
        return "%s: none" % name
    q = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))]
    return "%s p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (name, q(0.5), q(0.99), waits[-1])


if __name__ == "__main__":
    http_port, redis_port, token, agents_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rate, seconds = float(sys.argv[5]), float(sys.argv[6])
    orchestrator_port, psql_url = int(sys.argv[7]), sys.argv[8]
    agents = [line.split() for line in open(agents_file) if line.strip()]

    redis_ready, linked = multiprocessing.Event(), multiprocessing.Event()
    redis_results, frame_results = multiprocessing.Queue(), multiprocessing.Queue()
    receivers = [multiprocessing.Process(target=listen, args=(redis_port, redis_ready, redis_results), daemon=True),
                 multiprocessing.Process(target=orchestrate, args=(orchestrator_port, linked, frame_results), daemon=True)]
    for p in receivers:
        p.start()
    if not redis_ready.wait(30):
        sys.exit("could not subscribe to Redis")
    if not linked.wait(60):
        sys.exit("the service did not connect to the orchestrator")

    answered, lock = {}, threading.Lock()
    workers = 8
    threads = [threading.Thread(target=patch, args=(w, workers, answered, lock)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(2)
    arrived, framed = drain(redis_results), drain(frame_results)
    for p in receivers:
        p.terminate()
    committed = commits(psql_url)

    keys = [k for k in answered if k in committed]
    print("%d changes in %.0f s (%.0f/s); %d framed to the orchestrator, %d announced on Redis, %d missing from either"
          % (len(answered), seconds, len(answered) / seconds, len([k for k in answered if k in framed]),
             len([k for k in answered if k in arrived]), len([k for k in answered if k not in framed or k not in arrived])))
    print(summary("commit to orchestrator frame:", [(framed[k] - committed[k]) * 1000 for k in keys if k in framed]))
    print(summary("commit to Redis event:       ", [(arrived[k] - committed[k]) * 1000 for k in keys if k in arrived]))
    print(summary("answer to orchestrator frame:", [(framed[k] - answered[k]) * 1000 for k in answered if k in framed]))
    print(summary("commit to answer:            ", [(answered[k] - committed[k]) * 1000 for k in keys]))
