"""Load and measurement for Benchmarks/events.sh: commit to announcement, on loopback.

  events.py HTTP_PORT REDIS_PORT TOKEN AGENTS_FILE RATE SECONDS

PATCHes the agents in AGENTS_FILE (one "tenant agent_id" per line) round robin at RATE a second
for SECONDS, over keep-alive connections, and notes when each answer came (the change committed
before it). A Redis client PSUBSCRIBEd to every tenant's notifications channel notes when each
agent_updated event arrived. Prints the wait from the answer to the event, p50/p99/max, and how
many changes were announced.
"""
import http.client, json, socket, sys, threading, time

http_port, redis_port, token, agents_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rate, seconds = float(sys.argv[5]), float(sys.argv[6])
agents = [line.split() for line in open(agents_file) if line.strip()]
answered = {}   # (agent, version) -> when the PATCH answered
arrived = {}    # (agent, version) -> when its event arrived
lock = threading.Lock()


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
